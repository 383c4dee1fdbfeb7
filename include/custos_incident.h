/*
 * custos_incident.h: the core's breach incidents (P-BRE-1, docs/incidents.md).
 *
 * An operator (over any tenants) or a tenant's admin (over its own) opens an incident with a
 * time window and a suspected scope: an API key, a principal, a source address, a tenant, a
 * collection. The core reads the audit log of each tenant in scope for that window and
 * computes the affected set: every tenant and subject whose data the scope read or changed,
 * ids only. The set is stored with the incident and never changed (the evidence); its SHA-256
 * goes into the audit log in the same transaction, so a changed set no longer matches. The
 * deadlines run from when the breach became known: the supervisory authority within 72 hours
 * (GDPR Art. 33(1)), tenants and subjects "without undue delay" (Art. 33(2), 34), each
 * configurable per incident. Each notice sent is recorded and audited; the suspected key is
 * revoked from the incident in one action.
 *
 * as_tenant below is the caller's view: 0 for the operator (every incident), else the
 * tenant whose admin acts (its own incidents only; another's is CU_ERR_NOT_FOUND, P-ISO-1).
 */
#ifndef CUSTOS_INCIDENT_H
#define CUSTOS_INCIDENT_H

#include "custos.h"
#include "store_incident.h"

/* Default deadlines, hours after the breach became known (docs/incidents.md). */
#define CU_INCIDENT_AUTHORITY_HOURS 72 /* GDPR Art. 33(1) */
#define CU_INCIDENT_TENANTS_HOURS 24   /* "without undue delay" (Art. 33(2)): Custos's default */
#define CU_INCIDENT_SUBJECTS_HOURS 72  /* "without undue delay" (Art. 34): Custos's default */
#define CU_INCIDENT_HOURS_MAX (24 * 365)
/* incident.notice_due is added this long before a deadline not met yet (and once it passed). */
#define CU_INCIDENT_DUE_SOON (12 * 3600)

typedef struct cu_incident_in {
    cu_id tenant;           /* the operator's: the incident's tenant and scope (0: every tenant) */
    int64_t from, to;       /* the window, unix seconds, inclusive; to 0: now */
    int64_t known_at;       /* when the breach became known; 0: now */
    cu_id api_key;          /* the suspected key (0: none) */
    const char *principal;  /* an audit actor, as the log names it ("user:42"); NULL: none */
    const char *source;     /* a client address, as the log's source; NULL: none */
    const char *collection; /* NULL: none */
    int64_t authority_hours, tenants_hours, subjects_hours; /* 0: the defaults above */
} cu_incident_in;

/* An incident with its affected set and notices (cu_incident_get). */
typedef struct cu_incident {
    cu_store_incident inc;
    cu_store_incident_hit *hits; /* by tenant, then subject (subject 0: the tenant itself) */
    size_t nhits;
    cu_store_incident_notice *notices; /* by seq */
    size_t nnotices;
    int evidence_intact; /* 1 if the stored set still hashes to inc.evidence */
} cu_incident;

/* One deadline as it stands at now. */
typedef struct cu_incident_deadline {
    int kind;          /* CU_INCIDENT_NOTICE_* */
    int64_t due;       /* unix seconds */
    int64_t met_at;    /* when the last notice it needs was sent; 0: not yet */
    const char *state; /* "met", "late", "pending", "overdue", or "none" (no one to tell) */
} cu_incident_deadline;

/* Opens an incident and freezes its affected set; *id gets its id. CU_ERR_INVALID for a window
 * or a scope that is not one (no member given, to before from, a deadline out of range). */
cu_rc cu_incident_open(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, const cu_incident_in *in,
                       cu_id *id, cu_err *err);
/* The incidents as_tenant sees, newest first. Caller frees *out. */
cu_rc cu_incident_list(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_store_incident **out,
                       size_t *n, cu_err *err);
/* One incident; release with cu_incident_cleanup. */
cu_rc cu_incident_get(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_id id, cu_incident *out,
                      cu_err *err);
void cu_incident_cleanup(cu_incident *i);
/* The three deadlines of i (authority, tenants, subjects) at now. */
void cu_incident_deadlines(const cu_incident *i, int64_t now, cu_incident_deadline out[3]);
/* Records a notice sent: kind, the tenant told (TENANT, SUBJECTS; one of the affected set),
 * when (0: now; never in the future), and the sender's reference (1 to 64 of A-Z a-z 0-9 . _ -
 * : /, no personal value). */
cu_rc cu_incident_notice(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_id id, int kind,
                         cu_id tenant, int64_t at, const char *reference, cu_err *err);
/* Revokes the incident's suspected API key (cu_apikey_revoke) and notes it on the incident.
 * CU_ERR_INVALID if its scope names no key; CU_ERR_EXISTS if revoked from it already. */
cu_rc cu_incident_revoke(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_id id, cu_err *err);
/* The sweep's: adds incident.notice_due for each deadline not met that is due within
 * CU_INCIDENT_DUE_SOON or past, once per incident, deadline and due time. */
cu_rc cu_incident_events(cu_vault *v, int64_t now, size_t *added, cu_err *err);
/* "authority", "tenant", "subjects"; NULL for another kind. And back (0: unknown). */
const char *cu_incident_kind_name(int kind);
int cu_incident_kind_parse(const char *s);

#endif
