/*
 * store_analytics.h: a tenant's privacy budget for noisy aggregates (P-ANA-1, docs/analytics.md;
 * SQLite migration 24, PostgreSQL 8), included by store.h for its op union and read. Numbers
 * only, never a personal value: epsilon is kept in millionths, so both backends add integers.
 *
 * The ops, each in its batch's transaction (the spend beside the query's audit entry, so a
 * query is either spent and audited or neither):
 *   CU_OP_ANALYTICS_BUDGET  sets the tenant's total (creates the row, spent 0; a later set keeps
 *                           what was spent).
 *   CU_OP_ANALYTICS_SPEND   adds `spend` to what the tenant spent only while the sum stays within
 *                           its total; CU_ERR_CONFLICT if it would not (or no budget is set).
 */
#ifndef CU_STORE_ANALYTICS_H
#define CU_STORE_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

#define CU_ANALYTICS_MICRO 1000000 /* epsilon 1.0 is 1000000 millionths */

typedef struct cu_store_analytics_budget {
    cu_id tenant_id;
    int64_t total;      /* millionths of epsilon the tenant may spend */
    int64_t spent;      /* read: spent so far; ANALYTICS_SPEND: the amount to spend */
    int64_t updated_at; /* unix seconds */
    /* P-ANA-1: every exact query of the tenant is refused (noise only). ANALYTICS_BUDGET: 1 on,
     * 0 off, -1 keeps what is stored (0 for a new row). */
    int noise_required;
} cu_store_analytics_budget;

struct cu_store;

/* The read, a backend's table (cu_store_ops.analytics; NULL: none, CU_ERR_UNSUPPORTED). */
typedef struct cu_store_analytics_ops {
    /* The tenant's budget; CU_ERR_NOT_FOUND if the owner never set one. */
    cu_rc (*budget_get)(struct cu_store *s, cu_id tenant, cu_store_analytics_budget *out,
                        cu_err *err);
} cu_store_analytics_ops;

/* s->ops->analytics->budget_get(s, ...), or CU_ERR_UNSUPPORTED without the table. */
cu_rc cu_store_analytics_budget_get(struct cu_store *s, cu_id tenant,
                                    cu_store_analytics_budget *out, cu_err *err);

#endif
