/*
 * store_incident.h: the rows of breach incidents (P-BRE-1, docs/incidents.md), included by
 * store.h for its op union and reads. Ids, names, times and counts only, never a personal
 * value: an incident's evidence is the set of (tenant, subject) ids the suspected scope reached
 * in the audit log, frozen when the incident is opened.
 */
#ifndef CU_STORE_INCIDENT_H
#define CU_STORE_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

#define CU_INCIDENT_TEXT_MAX 96 /* a principal, a source or a collection name, with its NUL */
#define CU_INCIDENT_REF_MAX 65  /* a notice's reference, with its NUL */

/* An incident: tenant_id 0 is the platform's (opened by the operator over every tenant). */
typedef struct cu_store_incident {
    cu_id id;
    cu_id tenant_id;
    char opened_by[48]; /* the opener's audit actor */
    int64_t opened_at;  /* unix seconds */
    int64_t known_at;   /* when the breach became known: the deadlines run from here */
    int64_t from_ms;    /* the window, inclusive, unix milliseconds as the audit log's at */
    int64_t to_ms;
    /* The suspected scope; zero or "" members are not part of it. */
    cu_id scope_key;    /* an API key id: actors key:<id> and operator:key:<id> */
    cu_id scope_tenant; /* only this tenant's log (a tenant's incident: its own) */
    char scope_principal[CU_INCIDENT_TEXT_MAX]; /* an audit actor, exactly ("user:42") */
    char scope_source[CU_INCIDENT_TEXT_MAX];    /* a client address, as the log's source */
    char scope_collection[CU_INCIDENT_TEXT_MAX];
    /* Deadlines after known_at, in hours (docs/incidents.md for the defaults). */
    int64_t authority_hours, tenants_hours, subjects_hours;
    uint8_t evidence[32]; /* SHA-256 of the affected set (incident.c), also in the audit log */
    uint64_t tenants, subjects; /* sizes of the affected set */
    int64_t revoked_at;         /* when the suspected key was revoked from it, 0: not */
} cu_store_incident;

/* One member of an incident's affected set: a tenant's subject (subject_id 0: the tenant
 * itself, for what the scope reached there that names no subject) and how often it was read
 * and changed in the window, first and last time (unix milliseconds). */
typedef struct cu_store_incident_hit {
    cu_id tenant_id;
    cu_id subject_id;
    uint64_t reads, writes;
    int64_t first_ms, last_ms;
} cu_store_incident_hit;

/* Notice kinds (cu_store_incident_notice.kind). */
#define CU_INCIDENT_NOTICE_AUTHORITY 1 /* the supervisory authority (GDPR Art. 33) */
#define CU_INCIDENT_NOTICE_TENANT 2    /* a tenant, the controller (Art. 33(2)) */
#define CU_INCIDENT_NOTICE_SUBJECTS 3  /* a tenant's affected subjects (Art. 34) */

/* A notice sent, as recorded (to whom, when, the sender's reference). */
typedef struct cu_store_incident_notice {
    cu_id incident_id;
    uint32_t seq; /* 1, 2, ... within the incident (set by the store) */
    int kind;
    cu_id tenant_id; /* TENANT, SUBJECTS: which tenant; AUTHORITY: 0 */
    int64_t at;
    char reference[CU_INCIDENT_REF_MAX];
    char actor[48];
} cu_store_incident_notice;

/* An audit entry as an incident reads it: with the subject the store keeps beside it. */
typedef struct cu_store_audit_touch {
    cu_id tenant_id;
    uint64_t seq;
    int64_t at;
    const char *actor, *action, *object, *source; /* valid during the callback only */
    cu_id subject_id;
} cu_store_audit_touch;

/* The store ops of incidents (cu_store_op.u.incident, .incident_notice), each in its batch's
 * transaction:
 *   CU_OP_INCIDENT_PUT      inserts inc and its affected set (hits, borrowed); CU_ERR_EXISTS if
 *                           the id is taken. The set is never changed after (P-BRE-1: frozen
 *                           evidence).
 *   CU_OP_INCIDENT_NOTICE   appends a notice sent, its seq one past the incident's last;
 *                           CU_ERR_NOT_FOUND if no such incident.
 *   CU_OP_INCIDENT_REVOKED  notes the suspected key's revocation (inc.id, inc.revoked_at), once;
 *                           CU_ERR_NOT_FOUND if no such incident or noted already. */
typedef struct cu_store_incident_put {
    cu_store_incident inc;
    const cu_store_incident_hit *hits; /* borrowed */
    size_t nhits;
} cu_store_incident_put;

struct cu_store;

/* The reads of incidents, a backend's table (cu_store_ops.incident; NULL: none, the wrappers
 * answer CU_ERR_UNSUPPORTED). */
typedef struct cu_store_incident_ops {
    /* The tenant's incidents and the platform's (tenant 0) whose affected set holds the tenant,
     * or with all every incident, newest first; caller frees *out. */
    cu_rc (*list)(struct cu_store *s, cu_id tenant, int all, cu_store_incident **out, size_t *n,
                  cu_err *err);
    /* One incident with its affected set (by tenant, subject) and notices (by seq);
     * CU_ERR_NOT_FOUND if none. Caller frees *hits and *notices. */
    cu_rc (*get)(struct cu_store *s, cu_id id, cu_store_incident *out, cu_store_incident_hit **hits,
                 size_t *nhits, cu_store_incident_notice **notices, size_t *nnotices, cu_err *err);
    /* Calls fn for each of the tenant's audit entries with from_ms <= at <= to_ms, by seq, with
     * the subject stored beside it, until fn returns non-zero. */
    cu_rc (*audit_touches)(struct cu_store *s, cu_id tenant, int64_t from_ms, int64_t to_ms,
                           int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg,
                           cu_err *err);
} cu_store_incident_ops;

/* Thin wrappers: cu_store_incident_x(s, ...) is s->ops->incident->x(s, ...). */
cu_rc cu_store_incident_list(struct cu_store *s, cu_id tenant, int all, cu_store_incident **out,
                             size_t *n, cu_err *err);
cu_rc cu_store_incident_get(struct cu_store *s, cu_id id, cu_store_incident *out,
                            cu_store_incident_hit **hits, size_t *nhits,
                            cu_store_incident_notice **notices, size_t *nnotices, cu_err *err);
cu_rc cu_store_audit_touches(struct cu_store *s, cu_id tenant, int64_t from_ms, int64_t to_ms,
                             int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg,
                             cu_err *err);

#endif
