/*
 * policy_version_int.h: a tenant's policy versions over time (policy_version.c), for the
 * policy cache, the binding in tenant.c and the purpose check.
 *
 * P-NOT-1: a version takes effect at its stored effective_at. Which version is in force is a
 * function of the stored versions and the clock's now, computed wherever it is needed, so
 * every server sharing a database switches at the same time without a timer of its own.
 */
#ifndef CU_POLICY_VERSION_INT_H
#define CU_POLICY_VERSION_INT_H

#include "core_int.h"
#include "policy.h"

/* The state of list[0..n) (oldest first) at now: in force and pending. */
void cu_policy_versions_state(const cu_store_policy_version *list, size_t n, int64_t now,
                              cu_policy_state *st);

/* What binding nw at now does (P-NOT-1, P-NOT-2): when it takes effect, and the purposes whose
 * consents it renews. CU_ERR_CONFLICT while a version is pending. */
typedef struct cu_policy_schedule {
    int64_t effective_at;
    int material;
    char fresh[CU_POLICY_FRESH_MAX];
    /* P-NOT-3: 1 at each index of nw's recipients that the version in force does not list */
    unsigned char added[CU_POLICY_MAX_SUBPROCESSORS];
    size_t n_added;
} cu_policy_schedule;

cu_rc cu_policy_schedule_for(cu_vault *v, cu_id tenant, const cu_policy *nw, int64_t now,
                             cu_policy_schedule *out, cu_err *err);

/* The webhook events of binding version nw at now as sc says (docs/webhooks.md), for the
 * binding's batch, into ev[0..*n): with notice "policy.version_scheduled", else
 * "policy.version_in_force" (the sweep notes a scheduled one's later, with its own event);
 * "consent.fresh_needed" if it renews consents; "policy.recipient_added" if it lists recipients
 * the version in force does not (P-NOT-3). Release each with cu_store_op_cleanup, also on
 * failure. */
#define CU_POLICY_BIND_EVENTS 3
cu_rc cu_policy_bind_events(cu_id tenant, unsigned version, const cu_policy *nw, int64_t now,
                            const cu_policy_schedule *sc, cu_store_op ev[CU_POLICY_BIND_EVENTS],
                            size_t *n, cu_err *err);

/* P-NOT-2: fills p->fresh_since (p's arena) from the versions in force at now; p is version
 * `version` of list. */
cu_rc cu_policy_fresh_fill(cu_policy *p, unsigned version, const cu_store_policy_version *list,
                           size_t n, int64_t now, cu_err *err);

/* 1 if purpose name is in a version's fresh list (comma-separated, or "*": every purpose). */
int cu_policy_fresh_lists(const char *list, const char *name);
/* P-NOT-2: when consents to purpose pu of p must have been given from, 0 if any counts. */
int64_t cu_policy_fresh_since(const cu_policy *p, const cu_policy_purpose *pu);

#endif
