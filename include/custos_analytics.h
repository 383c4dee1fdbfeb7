/*
 * custos_analytics.h: the core's aggregate analytics (P-ANA-1, P-ISO-2; docs/analytics.md).
 *
 * An analyst asks for counts, sums, means and histograms over a collection's plain fields,
 * grouped by up to two of them and filtered by simple conditions, and gets aggregates only:
 * a group of fewer distinct subjects than the policy's min_group_size is suppressed, and so is
 * whatever would let a suppressed group be recovered by subtraction (complementary
 * suppression). Only fields the collection declares plain and not indexed may be named: a
 * personal, sensitive or blind-indexed field, or the subject's id, is refused. An optional
 * noise mode adds Laplace noise and spends the tenant's privacy budget (epsilon), which the
 * owner sets. Every query is audited with its shape, never a filter value or an answer.
 */
#ifndef CUSTOS_ANALYTICS_H
#define CUSTOS_ANALYTICS_H

#include "custos.h"

#define CU_ANALYTICS_MEASURES_MAX 8   /* measures in one query */
#define CU_ANALYTICS_GROUP_BY_MAX 2   /* fields grouped by */
#define CU_ANALYTICS_WHERE_MAX 8      /* conditions (all must hold) */
#define CU_ANALYTICS_BUCKETS_MAX 16   /* a histogram's bucket edges */
#define CU_ANALYTICS_IN_MAX 32        /* values of an "in" condition */
#define CU_ANALYTICS_GROUPS_MAX 4096  /* groups one query may make */
#define CU_ANALYTICS_FIELD_MAX 80     /* a field name's bytes */
#define CU_ANALYTICS_KEY_MAX 128      /* a group key's bytes (a longer value is refused) */
#define CU_ANALYTICS_EPSILON_MAX 10.0 /* epsilon of one query, and a budget's total at most 1000   \
                                       */
#define CU_ANALYTICS_MIN_GROUP_DEFAULT 10 /* a tenant whose policy names no min_group_size */

/* Why a query was refused, each with a stable code (cu_analytics_refusal_code). */
typedef enum cu_analytics_refusal {
    CU_ANALYTICS_OK = 0,
    CU_ANALYTICS_BAD_QUERY,       /* "invalid_query": malformed body (400) */
    CU_ANALYTICS_FIELD_REFUSED,   /* "field_not_aggregable": not a plain field (400) */
    CU_ANALYTICS_TOO_MANY_GROUPS, /* "too_many_groups": over CU_ANALYTICS_GROUPS_MAX (400) */
    CU_ANALYTICS_BUDGET_UNSET,    /* "privacy_budget_unset": noise asked, no budget (403) */
    CU_ANALYTICS_BUDGET_SPENT,    /* "privacy_budget_spent": epsilon over what is left (403) */
    /* "exact_needs_noise": "where" or a histogram without noise (400): two exact answers with
     * different filters or bucket edges subtract to one person (docs/analytics.md) */
    CU_ANALYTICS_EXACT_NEEDS_NOISE,
    /* "noise_required": an exact query where the tenant's owner requires noise (403) */
    CU_ANALYTICS_NOISE_REQUIRED,
} cu_analytics_refusal;

/* The stable code of a refusal ("invalid_query", ...); NULL for CU_ANALYTICS_OK. */
const char *cu_analytics_refusal_code(cu_analytics_refusal r);

/* Runs the query (a JSON object, docs/analytics.md) over the tenant's records of collection and
 * gives the answer as JSON text in *result (caller frees). The query is audited, with its
 * noise's epsilon spent, in one commit before the answer is returned. On a refusal returns
 * CU_ERR_INVALID or CU_ERR_FORBIDDEN with *why set (CU_ANALYTICS_OK for any other error). */
cu_rc cu_analytics_query(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                         const char *query, size_t len, char **result, cu_analytics_refusal *why,
                         cu_err *err);

/* The tenant's privacy budget: its total epsilon and what queries spent of it (0 and 0 if the
 * owner never set one). */
cu_rc cu_analytics_budget_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, double *total,
                              double *spent, cu_err *err);
/* Sets the tenant's total epsilon (0 to 1000); what was spent stays spent. Audited. */
cu_rc cu_analytics_budget_set(cu_vault *v, const cu_ctx *ctx, cu_id tenant, double total,
                              cu_err *err);
/* The same, and whether every exact query of the tenant is refused (P-ANA-1: noise only):
 * noise_required 1 on, 0 off, -1 keeps what is set (off for a first budget). */
cu_rc cu_analytics_budget_set_noise(cu_vault *v, const cu_ctx *ctx, cu_id tenant, double total,
                                    int noise_required, cu_err *err);
/* Whether the tenant requires noise (0 without a budget). */
cu_rc cu_analytics_noise_required(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int *required,
                                  cu_err *err);

#endif
