/*
 * analytics.c: aggregate analytics over a tenant's records (P-ANA-1, P-ISO-2;
 * docs/analytics.md): the scan, the audit entry and the privacy budget.
 *
 * The scan reads the tenant's subjects by id in pages and each one's records of the collection
 * in pages (the export's reads), opens their documents (never a sensitive field: no query can
 * name one) with the subject's key, unwrapped once per subject, and feeds each matching
 * document to the table (analytics_table.c); a document is wiped as
 * soon as it is counted, so memory holds a page of sealed records and the groups, never the
 * collection. Only the tenant's own keys open anything (P-ISO-2, P-ISO-3): the tenant comes
 * from the caller, checked by the preamble, and every read is keyed by it. A restricted
 * subject's records are left out (P-DSR-5: kept, not processed), and so is a subject whose
 * erasure is under way (its key is gone).
 *
 * Invariants:
 *   - P-AUD-3: the query's entries are committed, with its epsilon spent, before the answer is
 *     returned; they hold its shape (collection, measures, fields grouped by, fields and
 *     operators filtered on, epsilon), never a filter value or a figure of the answer. A
 *     refused query is on record as well ("analytics.refused", its code and the shape as far
 *     as it parsed), nothing spent.
 *   - Noise mode: a subject gives its first matching record only, so one subject moves one
 *     group by one record (analytics_answer.c scales the noise by that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_int.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "record_int.h"
#include "util.h"

#define SCAN_IDS 256                 /* subject ids per store read */
#define SCAN_ROWS 256                /* records per store read */
#define SCAN_BYTES ((size_t)4 << 20) /* a page of records ends past this many bytes */
#define BUDGET_MAX (1000 * (int64_t)CU_ANALYTICS_MICRO) /* a tenant's total epsilon, at most */
#define AUDIT_MAX                                                                                  \
    (2 + CU_ANALYTICS_MEASURES_MAX + CU_ANALYTICS_GROUP_BY_MAX + CU_ANALYTICS_WHERE_MAX)

const char *cu_analytics_refusal_code(cu_analytics_refusal r)
{
    static const char *const codes[] = {
        [CU_ANALYTICS_OK] = NULL,
        [CU_ANALYTICS_BAD_QUERY] = "invalid_query",
        [CU_ANALYTICS_FIELD_REFUSED] = "field_not_aggregable",
        [CU_ANALYTICS_TOO_MANY_GROUPS] = "too_many_groups",
        [CU_ANALYTICS_BUDGET_UNSET] = "privacy_budget_unset",
        [CU_ANALYTICS_BUDGET_SPENT] = "privacy_budget_spent",
        [CU_ANALYTICS_EXACT_NEEDS_NOISE] = "exact_needs_noise",
        [CU_ANALYTICS_NOISE_REQUIRED] = "noise_required",
    };

    return (unsigned)r < CU_ARRAY_LEN(codes) ? codes[r] : NULL;
}

typedef struct scan {
    cu_vault *v;
    const cu_ctx *ctx;
    cu_gate gate; /* the preamble's: the purpose checks of each subject */
    cu_id tenant;
    const char *collection;
    const ana_query *q;
    ana_table *t;
    cu_analytics_refusal *why;
} scan;

/* One opened record: counted if it matches. *taken: it matched. Only its document is opened
 * (review 11): a query can never name a sensitive field, so their plaintext is never made. */
static cu_rc feed(scan *s, const cu_key *key, const cu_store_record *row, int *taken, cu_err *err)
{
    cJSON *doc = NULL;
    cu_rc rc;

    *taken = 0;
    if ((rc = cu_record_open_doc(key, row, &doc, err)) != CU_OK)
        return rc;
    if (cu_ana_match(s->q, doc)) {
        *taken = 1;
        rc = cu_ana_add(s->t, s->q, doc, row->subject_id, s->why, err);
    }
    cu_json_delete_wiped(doc);
    return rc;
}

/* A page of the subject's records; *more: a page may follow. Noise mode stops at the first
 * record that matches (*done). */
static cu_rc subject_page(scan *s, const cu_key *key, cu_id subject, int64_t *after_created,
                          cu_id *after, int *more, int *done, cu_err *err)
{
    cu_store_record *rows = NULL;
    size_t n = 0, bytes = 0;
    cu_rc rc =
        cu_store_record_page_in(s->v->store, s->tenant, subject, s->collection, *after_created,
                                *after, SCAN_ROWS, SCAN_BYTES, &rows, &n, err);

    for (size_t i = 0; rc == CU_OK && i < n && !*done; i++) {
        int taken = 0;
        bytes += rows[i].doc.len; /* as the store counts them against its cap */
        for (size_t k = 0; k < rows[i].nfields; k++)
            bytes += rows[i].fields[k].ct.len;
        rc = feed(s, key, &rows[i], &taken, err);
        *done = taken && s->q->epsilon > 0;
    }
    if (n > 0) {
        *after_created = rows[n - 1].created_at;
        *after = rows[n - 1].cursor;
    }
    *more = n == SCAN_ROWS || bytes >= SCAN_BYTES;
    for (size_t i = 0; i < n; i++)
        cu_store_record_cleanup(&rows[i]);
    free(rows);
    return rc;
}

/* P-CON-1, P-DSR-6: the request's purpose for this subject's data, as a record read checks it
 * (purpose.c): a subject who withdrew consent to it, or objected to it, is left out. */
static cu_rc subject_purpose(scan *s, cu_id subject, cu_err *err)
{
    return cu_gate_purpose(s->v, s->ctx, &s->gate, subject, s->collection, 0, err);
}

/* A subject left out is no error: the scan goes on with a clean err. */
static cu_rc left_out(cu_err *err)
{
    memset(err, 0, sizeof(*err));
    return CU_OK;
}

static cu_rc scan_subject(scan *s, cu_id subject, cu_err *err)
{
    int restricted = 0, more = 1, done = 0;
    int64_t last = 0, after_created = 0;
    cu_id after = 0;
    cu_key key;
    cu_rc rc = cu_store_subject_state(s->v->store, s->tenant, subject, &restricted, &last, err);

    if (rc == CU_ERR_NOT_FOUND || (rc == CU_OK && restricted))
        return CU_OK; /* gone meanwhile, or P-DSR-5: not processed */
    if (rc != CU_OK)
        return rc;
    if ((rc = subject_purpose(s, subject, err)) != CU_OK)
        return rc == CU_ERR_CONSENT_REQUIRED || rc == CU_ERR_OBJECTED || rc == CU_ERR_RESTRICTED
                   ? left_out(err)
                   : rc;
    rc = cu_keys_child(s->v, s->tenant, CU_KEY_SUBJECT, subject, &key, err);
    if (rc == CU_ERR_NOT_FOUND || rc == CU_ERR_KEY)
        return CU_OK; /* its erasure is under way */
    while (rc == CU_OK && more && !done)
        rc = subject_page(s, &key, subject, &after_created, &after, &more, &done, err);
    cu_key_wipe(&key);
    return rc;
}

static cu_rc scan_all(scan *s, cu_err *err)
{
    cu_id after = 0, *ids = NULL;
    size_t n = SCAN_IDS;
    cu_rc rc = CU_OK;

    while (rc == CU_OK && n == SCAN_IDS) {
        if ((rc = cu_store_subject_ids(s->v->store, s->tenant, after, SCAN_IDS, &ids, &n, err)) !=
            CU_OK)
            break;
        for (size_t i = 0; rc == CU_OK && i < n; i++)
            rc = scan_subject(s, ids[i], err);
        if (n > 0)
            after = ids[n - 1];
        free(ids);
        ids = NULL;
    }
    return rc;
}

/* --- audit and budget ---------------------------------------------------------------------- */

/* The query's shape as audit entries, appended after the head entry the caller wrote at
 * a[0] (*n is 1): one per measure, field grouped by and condition, each object well within
 * its 96 bytes (names are at most 80); *n gets their number. Only what parsed is there: a
 * refused query's shape stops where the refusal came, and a field name appears only once the
 * schema let it be aggregated, so a refused entry never holds more than an answered one would
 * (never a filter value). */
static void shape(cu_audit_in *a, size_t *n, cu_id tenant, const ana_query *q)
{
    static const char *const ops[] = {"count", "sum", "mean", "histogram"};
    static const char *const cmps[] = {"eq", "ne", "lt", "le", "gt", "ge", "in"};
    size_t k = *n;

    for (size_t i = 0; i < q->nm; i++)
        cu_audit_in_set(&a[k++], tenant, "analytics.measure", "%s%s%s", ops[q->m[i].op],
                        q->m[i].field[0] ? ":" : "", q->m[i].field);
    for (size_t i = 0; i < q->ng; i++)
        cu_audit_in_set(&a[k++], tenant, "analytics.group_by", "field:%s", q->group_by[i]);
    for (size_t i = 0; i < q->nw; i++)
        cu_audit_in_set(&a[k++], tenant, "analytics.where", "%s:%s", cmps[q->w[i].cmp],
                        q->w[i].field);
    if (q->epsilon > 0)
        cu_audit_in_set(&a[k++], tenant, "analytics.noise", "epsilon:%.6f", q->epsilon);
    *n = k;
}

/* Epsilon in millionths, rounded up: a spend is never charged less than asked. The caller
 * bounds epsilon first (finite, at most 1000), so the cast is in range. */
static int64_t micro(double epsilon)
{
    double x = epsilon * CU_ANALYTICS_MICRO;
    int64_t m = (int64_t)x;

    return (double)m < x ? m + 1 : m;
}

/* Noise mode: a budget must be set and hold the query's epsilon (checked again, atomically,
 * by the spend at the commit). */
static cu_rc budget_check(cu_vault *v, cu_id tenant, double epsilon, cu_analytics_refusal *why,
                          cu_err *err)
{
    cu_store_analytics_budget b;
    cu_rc rc = cu_store_analytics_budget_get(v->store, tenant, &b, err);

    if (rc == CU_ERR_NOT_FOUND || (rc == CU_OK && b.total == 0)) {
        *why = CU_ANALYTICS_BUDGET_UNSET;
        return cu_err_set(err, CU_ERR_FORBIDDEN,
                          "noise needs a privacy budget: the tenant's"
                          " owner sets one");
    }
    if (rc == CU_OK && b.spent + micro(epsilon) > b.total) {
        *why = CU_ANALYTICS_BUDGET_SPENT;
        return cu_err_set(err, CU_ERR_FORBIDDEN,
                          "the privacy budget is spent: %.6f of %.6f left, %.6f asked",
                          (double)(b.total - b.spent) / CU_ANALYTICS_MICRO,
                          (double)b.total / CU_ANALYTICS_MICRO, epsilon);
    }
    return rc;
}

/* P-ANA-1 (review 3): an exact query, unless the tenant's owner requires noise. A budget that
 * cannot be read refuses the query (fail closed). */
static cu_rc exact_allowed(cu_vault *v, cu_id tenant, cu_analytics_refusal *why, cu_err *err)
{
    cu_store_analytics_budget b;
    cu_err e = {0};
    cu_rc rc = cu_store_analytics_budget_get(v->store, tenant, &b, &e);

    if (rc == CU_ERR_NOT_FOUND)
        return CU_OK;
    if (rc != CU_OK) {
        *err = e;
        return rc;
    }
    if (b.noise_required) {
        *why = CU_ANALYTICS_NOISE_REQUIRED;
        return cu_err_set(err, CU_ERR_FORBIDDEN,
                          "the tenant's owner requires noise: add \"noise\" to the query");
    }
    return CU_OK;
}

/* P-AUD-3: the shape on record, and the epsilon spent, in one commit. */
static cu_rc record_query(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                          const ana_query *q, cu_analytics_refusal *why, cu_err *err)
{
    cu_audit_in a[AUDIT_MAX];
    cu_store_op op;
    size_t na = 1;
    cu_rc rc;

    cu_audit_in_set(&a[0], tenant, "analytics.aggregate", "collection:%s", collection);
    shape(a, &na, tenant, q);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_ANALYTICS_SPEND;
    op.u.analytics_budget.tenant_id = tenant;
    op.u.analytics_budget.spent = micro(q->epsilon);
    op.u.analytics_budget.updated_at = cu_clock_now();
    rc = cu_commit(v, ctx, &op, q->epsilon > 0, a, na, err);
    if (rc == CU_ERR_CONFLICT) { /* another query spent it meanwhile */
        *why = CU_ANALYTICS_BUDGET_SPENT;
        return cu_err_set(err, CU_ERR_FORBIDDEN, "the privacy budget is spent");
    }
    return rc;
}

/* The stable code of a refusal: the analytics one, or the purpose gate's (P-CON-1: the
 * purpose unknown, not covering the collection, opted out by GPC); NULL for anything else (a
 * store error, a tenant that is gone: no refusal to record). */
static const char *refusal_code(cu_rc rc, cu_analytics_refusal why)
{
    if (why != CU_ANALYTICS_OK)
        return cu_analytics_refusal_code(why);
    if (rc == CU_ERR_UNKNOWN_PURPOSE || rc == CU_ERR_PURPOSE_DENIED || rc == CU_ERR_OPTED_OUT)
        return cu_rc_name(rc);
    return NULL;
}

/* What a refused query's entry records as its purpose (P-AUD-4, review finding 3): the one the
 * caller stated if the tenant's policy declares it (or it is subject_access, a name of
 * Custos's own), else ANA_PURPOSE_UNDECLARED. An undeclared purpose is the caller's free text
 * (any [a-z0-9_.]{1,64}, "jane.doe.1985"), refused as unknown_purpose, or let through only
 * because the tenant has no policy to check it against; it must not sit in the append-only log
 * any more than a refused field's name does. The code (unknown_purpose) says what happened. A
 * policy that cannot be read records the marker too. */
#define ANA_PURPOSE_UNDECLARED "(undeclared)"

static const char *refusal_purpose(cu_vault *v, cu_id tenant, const char *purpose, cu_rc rc)
{
    const cu_policy *p = NULL;
    cu_err e = {0};
    int declared;

    if (purpose == NULL || strcmp(purpose, CU_PURPOSE_SUBJECT_ACCESS) == 0)
        return purpose;
    if (rc == CU_ERR_UNKNOWN_PURPOSE)
        return ANA_PURPOSE_UNDECLARED;
    declared = cu_policy_for(v, tenant, &p, NULL, &e) == CU_OK &&
               cu_policy_purpose_get(p, purpose) != NULL;
    cu_policy_release(v, p);
    return declared ? purpose : ANA_PURPOSE_UNDECLARED;
}

/* P-AUD-1 (review 9): a refused query is on record too, by its refusal code and its shape as
 * far as it parsed ("analytics.refused", "<code>:collection:<name>", then the entries an
 * answered query has), so probes of fields that may not be aggregated, exact queries where
 * noise is required and budget refusals leave a trace. Nothing is spent. The refusal stands
 * once recorded; if it cannot be recorded, that error is returned instead (no answer either
 * way). */
static cu_rc record_refusal(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                            const ana_query *q, cu_rc rc, cu_analytics_refusal *why, cu_err *err)
{
    const char *code = refusal_code(rc, *why);
    cu_audit_in a[AUDIT_MAX];
    size_t na = 1;
    cu_ctx rec;
    cu_err e = {0};
    cu_rc arc;

    if (code == NULL)
        return rc;
    cu_audit_in_set(&a[0], tenant, "analytics.refused", "%s:collection:%s", code, collection);
    shape(a, &na, tenant, q);
    if (ctx != NULL) { /* the caller's, with a purpose fit for the log */
        rec = *ctx;
        rec.purpose = refusal_purpose(v, tenant, ctx->purpose, rc);
        ctx = &rec;
    }
    if ((arc = cu_commit(v, ctx, NULL, 0, a, na, &e)) == CU_OK)
        return rc;
    *why = CU_ANALYTICS_OK;
    *err = e;
    return arc;
}

/* P-ANA-1: the policy's min_group_size, or the default for a tenant without a policy. Any
 * other error refuses the query: a store hiccup must not lower a tenant's threshold. */
static cu_rc min_group(cu_vault *v, cu_id tenant, uint64_t *out, cu_err *err)
{
    const cu_policy *p = NULL;
    unsigned k = 0;
    cu_err e = {0};
    cu_rc rc = cu_policy_for(v, tenant, &p, NULL, &e);

    /* Tests fail the read here (review 8): the query must be refused, not run at 10. */
    if (rc == CU_OK && CU_FAULT("analytics.policy_read"))
        rc = cu_err_set(&e, CU_ERR_STORE, "analytics: injected policy read failure");
    if (rc == CU_OK)
        k = cu_policy_analytics_min_group(p);
    cu_policy_release(v, p);
    if (rc != CU_OK && rc != CU_ERR_NOT_FOUND) {
        *err = e;
        return rc;
    }
    *out = k >= 2 ? k : CU_ANALYTICS_MIN_GROUP_DEFAULT;
    return CU_OK;
}

static cu_rc run(scan *s, const cu_ctx *ctx, char **result, cu_err *err)
{
    ana_table t;
    cJSON *answer;
    uint64_t k = 0;
    cu_rc rc;

    if ((rc = min_group(s->v, s->tenant, &k, err)) != CU_OK ||
        (rc = cu_ana_table_init(&t, s->q, k, err)) != CU_OK)
        return rc;
    s->t = &t;
    if ((rc = scan_all(s, err)) == CU_OK) {
        cu_ana_suppress(&t, s->q);
        rc = record_query(s->v, ctx, s->tenant, s->collection, s->q, s->why, err);
    }
    if (rc == CU_OK) {
        answer = cu_ana_answer(&t, s->q, s->collection);
        *result = answer ? cu_json_print(answer) : NULL;
        cJSON_Delete(answer);
        if (*result == NULL)
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory while answering");
    }
    cu_ana_table_cleanup(&t);
    return rc;
}

cu_rc cu_analytics_query(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                         const char *query, size_t len, char **result, cu_analytics_refusal *why,
                         cu_err *err)
{
    ana_query q;
    scan s = {.v = v, .ctx = ctx, .tenant = tenant, .collection = collection, .q = &q, .why = why};
    cu_rc rc;

    memset(&q, 0, sizeof(q)); /* a refusal before the parse records an empty shape */
    *result = NULL;
    *why = CU_ANALYTICS_OK;
    if (ctx != NULL && (ctx->flags & CU_CTX_OPERATOR))
        return cu_err_set(err, CU_ERR_FORBIDDEN, "platform staff do not aggregate a tenant's data");
    if (!cu_collection_name_ok(collection))
        return cu_err_set(err, CU_ERR_INVALID, "invalid collection name");
    /* Review 11: every query, answered or refused, takes one of the tenant's allowance first,
     * so a flood does no scan and writes no audit entry once it is spent (429, not recorded). */
    if ((rc = cu_ana_rate_take(v, ctx, tenant, err)) != CU_OK)
        return rc;
    /* P-CON-1: the request's purpose must be declared and cover the collection's category
     * (the route requires it, as data reads do); each subject is then checked in the scan. */
    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_READ,
                                       .purpose = CU_PURPOSE_READ,
                                       .collection = collection},
                          &s.gate, err)) != CU_OK ||
        (rc = cu_ana_parse(v, tenant, collection, query, len, &q, why, err)) != CU_OK)
        return record_refusal(v, ctx, tenant, collection, &q, rc, why, err);
    rc = q.epsilon > 0 ? budget_check(v, tenant, q.epsilon, why, err)
                       : exact_allowed(v, tenant, why, err);
    if (rc == CU_OK)
        rc = run(&s, ctx, result, err);
    cu_ana_query_cleanup(&q);
    return rc != CU_OK ? record_refusal(v, ctx, tenant, collection, &q, rc, why, err) : rc;
}

cu_rc cu_analytics_budget_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, double *total,
                              double *spent, cu_err *err)
{
    cu_store_analytics_budget b;
    cu_rc rc;

    *total = *spent = 0;
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ}, NULL,
                          err)) != CU_OK)
        return rc;
    rc = cu_store_analytics_budget_get(v->store, tenant, &b, err);
    if (rc == CU_ERR_NOT_FOUND)
        return CU_OK;
    *total = (double)b.total / CU_ANALYTICS_MICRO;
    *spent = (double)b.spent / CU_ANALYTICS_MICRO;
    return rc;
}

cu_rc cu_analytics_noise_required(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int *required,
                                  cu_err *err)
{
    cu_store_analytics_budget b;
    cu_rc rc;

    *required = 0;
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ}, NULL,
                          err)) != CU_OK)
        return rc;
    rc = cu_store_analytics_budget_get(v->store, tenant, &b, err);
    if (rc == CU_ERR_NOT_FOUND)
        return CU_OK;
    *required = b.noise_required;
    return rc;
}

cu_rc cu_analytics_budget_set(cu_vault *v, const cu_ctx *ctx, cu_id tenant, double total,
                              cu_err *err)
{
    return cu_analytics_budget_set_noise(v, ctx, tenant, total, -1, err);
}

cu_rc cu_analytics_budget_set_noise(cu_vault *v, const cu_ctx *ctx, cu_id tenant, double total,
                                    int noise_required, cu_err *err)
{
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    /* checked before micro(): an out-of-range double cast to int64_t is undefined */
    if (!(total >= 0 && total <= (double)BUDGET_MAX / CU_ANALYTICS_MICRO))
        return cu_err_set(err, CU_ERR_INVALID, "a privacy budget is an epsilon from 0 to 1000");
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE}, NULL,
                          err)) != CU_OK)
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_ANALYTICS_BUDGET;
    op.u.analytics_budget.tenant_id = tenant;
    op.u.analytics_budget.total = micro(total);
    op.u.analytics_budget.updated_at = cu_clock_now();
    op.u.analytics_budget.noise_required = noise_required < 0 ? -1 : noise_required != 0;
    cu_audit_in_set(&a, tenant, "analytics.budget", "epsilon:%.6f%s", total,
                    noise_required < 0 ? "" : noise_required ? ",noise:required" : ",noise:optional");
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}
