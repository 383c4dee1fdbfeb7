/*
 * analytics_query.c: an aggregate query's body, parsed and checked (P-ANA-1; docs/analytics.md).
 *
 *   {"measures":[{"op":"count"|"sum"|"mean"|"histogram","field":..,"buckets":[..]}],
 *    "group_by":[up to 2 fields], "where":[{"field","op","value"}],
 *    "noise":{"epsilon":0.5,"bound":1000}}
 *
 * Every field named must be one the collection declares plain and not indexed: a personal
 * field (the class of every undeclared one), a sensitive or a blind-indexed one, or a name of
 * the subject's identity, is refused with CU_ANALYTICS_FIELD_REFUSED, so no query can group,
 * filter or measure a value that identifies or describes a person directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "analytics_int.h"
#include "schema_int.h"
#include "util.h"

/* Names that carry a subject's identity whatever a collection declares. */
static const char *const identity_names[] = {"id", "subject_id", "external_id"};

/* Sets *why and err (CU_ERR_INVALID, the message formatted). */
static cu_rc refuse(cu_analytics_refusal *why, cu_analytics_refusal r, cu_err *err, const char *fmt,
                    ...) CU_PRINTF(4, 5);
static cu_rc refuse(cu_analytics_refusal *why, cu_analytics_refusal r, cu_err *err, const char *fmt,
                    ...)
{
    va_list ap;

    *why = r;
    if (err != NULL) {
        err->code = CU_ERR_INVALID;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return CU_ERR_INVALID;
}

/* The field name of item (a string) into out, if the schema lets it be aggregated. */
static cu_rc field_ok(const cu_schema *s, const cJSON *item, char *out, cu_analytics_refusal *why,
                      cu_err *err)
{
    int indexed = 0;

    if (!cJSON_IsString(item) || item->valuestring[0] == '\0' ||
        strlen(item->valuestring) > CU_ANALYTICS_FIELD_MAX)
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err, "a field must be a name of 1 to 80 bytes");
    for (size_t i = 0; i < CU_ARRAY_LEN(identity_names); i++)
        if (strcmp(item->valuestring, identity_names[i]) == 0)
            return refuse(why, CU_ANALYTICS_FIELD_REFUSED, err,
                          "a subject's identity cannot be aggregated");
    /* P-ANA-1: plain and not indexed only (undeclared fields are personal). */
    if (cu_schema_class(s, item->valuestring, &indexed) != CU_FIELD_PLAIN || indexed)
        return refuse(why, CU_ANALYTICS_FIELD_REFUSED, err,
                      "field \"%s\" is not a plain field: it cannot be grouped, filtered or"
                      " measured",
                      item->valuestring);
    cu_strlcpy(out, item->valuestring, CU_ANALYTICS_FIELD_MAX + 1);
    return CU_OK;
}

static int op_parse(const char *s, ana_op *op)
{
    static const char *const names[] = {"count", "sum", "mean", "histogram"};

    for (size_t i = 0; s != NULL && i < CU_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *op = (ana_op)i;
            return 0;
        }
    return -1;
}

static int cmp_parse(const char *s, ana_cmp *c)
{
    static const char *const names[] = {"eq", "ne", "lt", "le", "gt", "ge", "in"};

    for (size_t i = 0; s != NULL && i < CU_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i]) == 0) {
            *c = (ana_cmp)i;
            return 0;
        }
    return -1;
}

/* A histogram's edges: 1 to CU_ANALYTICS_BUCKETS_MAX numbers, strictly ascending. */
static cu_rc buckets(const cJSON *a, ana_measure *m, cu_analytics_refusal *why, cu_err *err)
{
    const cJSON *x;

    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 ||
        cJSON_GetArraySize(a) > CU_ANALYTICS_BUCKETS_MAX)
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                      "a histogram needs \"buckets\": 1 to 16 ascending numbers");
    cJSON_ArrayForEach(x, a)
    {
        if (!cJSON_IsNumber(x) || (m->nedges > 0 && x->valuedouble <= m->edges[m->nedges - 1]))
            return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                          "a histogram's buckets must be ascending numbers");
        m->edges[m->nedges++] = x->valuedouble;
    }
    return CU_OK;
}

/* Review 14: an object of the query holds its known members only, as the top level does (a
 * typo such as "bucket" or "epsilon " is refused, never silently ignored). */
static cu_rc members_ok(const cJSON *o, const char *const *names, size_t n,
                        cu_analytics_refusal *why, cu_err *err)
{
    const cJSON *x;

    if (!cJSON_IsObject(o))
        return CU_OK; /* the caller refuses it with its own message */
    cJSON_ArrayForEach(x, o)
    {
        size_t i = 0;
        while (i < n && strcmp(x->string, names[i]) != 0)
            i++;
        if (i == n)
            return refuse(why, CU_ANALYTICS_BAD_QUERY, err, "unknown member \"%.64s\"", x->string);
    }
    return CU_OK;
}

static cu_rc measure(const cu_schema *s, const cJSON *o, ana_query *q, cu_analytics_refusal *why,
                     cu_err *err)
{
    static const char *const names[] = {"op", "field", "buckets"};
    ana_measure *m = &q->m[q->nm];
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(o, "field");
    cu_rc rc;

    if ((rc = members_ok(o, names, CU_ARRAY_LEN(names), why, err)) != CU_OK)
        return rc;
    if (!cJSON_IsObject(o) || op_parse(cJSON_GetStringValue(op), &m->op) != 0)
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                      "a measure is {\"op\":\"count\"|\"sum\"|\"mean\"|\"histogram\",\"field\"}");
    if (m->op == ANA_COUNT && field == NULL) {
        q->nm++;
        return CU_OK;
    }
    if ((rc = field_ok(s, field, m->field, why, err)) != CU_OK)
        return rc;
    if (m->op == ANA_HISTOGRAM) {
        if ((rc = buckets(cJSON_GetObjectItemCaseSensitive(o, "buckets"), m, why, err)) != CU_OK)
            return rc;
        m->bin0 = q->nbins;
        q->nbins += m->nedges + 1;
    }
    q->nm++;
    return CU_OK;
}

/* A condition's value: a number for the orderings, a scalar for eq and ne, an array of up to
 * CU_ANALYTICS_IN_MAX scalars for in. */
static int value_ok(ana_cmp c, const cJSON *v)
{
    const cJSON *x;

    if (c == ANA_IN) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
            cJSON_GetArraySize(v) > CU_ANALYTICS_IN_MAX)
            return 0;
        cJSON_ArrayForEach(x, v) if (cJSON_IsArray(x) || cJSON_IsObject(x)) return 0;
        return 1;
    }
    if (c != ANA_EQ && c != ANA_NE)
        return cJSON_IsNumber(v);
    return v != NULL && !cJSON_IsArray(v) && !cJSON_IsObject(v);
}

static cu_rc condition(const cu_schema *s, const cJSON *o, ana_query *q, cu_analytics_refusal *why,
                       cu_err *err)
{
    static const char *const names[] = {"field", "op", "value"};
    ana_where *w = &q->w[q->nw];
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
    cu_rc rc;

    if ((rc = members_ok(o, names, CU_ARRAY_LEN(names), why, err)) != CU_OK)
        return rc;
    if (!cJSON_IsObject(o) || cmp_parse(cJSON_GetStringValue(op), &w->cmp) != 0)
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                      "a condition is {\"field\",\"op\":\"eq|ne|lt|le|gt|ge|in\",\"value\"}");
    if ((rc = field_ok(s, cJSON_GetObjectItemCaseSensitive(o, "field"), w->field, why, err)) !=
        CU_OK)
        return rc;
    w->value = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!value_ok(w->cmp, w->value))
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                      "a condition's value: a number for lt le gt ge, a scalar for eq ne, an"
                      " array of up to 32 scalars for in");
    q->nw++;
    return CU_OK;
}

/* "noise": {"epsilon": (0, CU_ANALYTICS_EPSILON_MAX], "bound": > 0, needed by sums and means}. */
static cu_rc noise(const cJSON *o, ana_query *q, cu_analytics_refusal *why, cu_err *err)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epsilon");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bound");
    static const char *const names[] = {"epsilon", "bound"};

    if (o == NULL)
        return CU_OK;
    if (members_ok(o, names, CU_ARRAY_LEN(names), why, err) != CU_OK)
        return CU_ERR_INVALID;
    if (!cJSON_IsObject(o) || !cJSON_IsNumber(e) || !(e->valuedouble >= 1e-6) ||
        e->valuedouble > CU_ANALYTICS_EPSILON_MAX)
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                      "\"noise\" is {\"epsilon\": a number above 0 and at most 10}");
    q->epsilon = e->valuedouble;
    if (b != NULL && (!cJSON_IsNumber(b) || !(b->valuedouble > 0)))
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err, "\"bound\" must be a number above 0");
    q->bound = b != NULL ? b->valuedouble : 0;
    for (size_t i = 0; i < q->nm; i++)
        if ((q->m[i].op == ANA_SUM || q->m[i].op == ANA_MEAN) && q->bound == 0)
            return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                          "a noisy sum or mean needs \"bound\": each value is clipped to it");
    return CU_OK;
}

/* Each member of array (or none) through fn, at most max of them. */
static cu_rc each(const cu_schema *s, const cJSON *a, size_t max, ana_query *q,
                  cu_rc (*fn)(const cu_schema *, const cJSON *, ana_query *, cu_analytics_refusal *,
                              cu_err *),
                  cu_analytics_refusal *why, cu_err *err)
{
    const cJSON *x;
    cu_rc rc;

    if (a == NULL)
        return CU_OK;
    if (!cJSON_IsArray(a) || (size_t)cJSON_GetArraySize(a) > max)
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err,
                      "\"measures\" holds 1 to 8, \"where\" up to 8, \"group_by\" up to 2");
    cJSON_ArrayForEach(x, a) if ((rc = fn(s, x, q, why, err)) != CU_OK) return rc;
    return CU_OK;
}

static cu_rc group_field(const cu_schema *s, const cJSON *x, ana_query *q,
                         cu_analytics_refusal *why, cu_err *err)
{
    cu_rc rc = field_ok(s, x, q->group_by[q->ng], why, err);

    for (size_t i = 0; rc == CU_OK && i < q->ng; i++)
        if (strcmp(q->group_by[i], q->group_by[q->ng]) == 0)
            return refuse(why, CU_ANALYTICS_BAD_QUERY, err, "a field is grouped by twice");
    q->ng += rc == CU_OK;
    return rc;
}

/* P-ANA-1 (review 2): an exact answer is over fixed partitions only. Filters and bucket edges
 * are the analyst's to choose, so two exact answers (where amount < 5000 and < 5001; buckets
 * [1000] and [1001]; title ne "x" and ne "their title") subtract to one person however
 * suppression treats each answer alone. Noise mode keeps them: the noise covers the difference. */
static cu_rc exact_ok(const ana_query *q, cu_analytics_refusal *why, cu_err *err)
{
    if (q->epsilon > 0)
        return CU_OK;
    if (q->nw > 0)
        return refuse(why, CU_ANALYTICS_EXACT_NEEDS_NOISE, err,
                      "\"where\" needs noise: exact answers filtered two ways subtract to one "
                      "person");
    for (size_t i = 0; i < q->nm; i++)
        if (q->m[i].op == ANA_HISTOGRAM)
            return refuse(why, CU_ANALYTICS_EXACT_NEEDS_NOISE, err,
                          "a histogram needs noise: exact bins with two sets of edges subtract "
                          "to one person");
    return CU_OK;
}

static cu_rc parse_tree(const cu_schema *s, ana_query *q, cu_analytics_refusal *why, cu_err *err)
{
    static const char *const keys[] = {"measures", "group_by", "where", "noise"};
    const cJSON *root = q->root, *x;
    cu_rc rc;

    if (!cJSON_IsObject(root))
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err, "the query must be a JSON object");
    cJSON_ArrayForEach(x, root)
    {
        size_t i = 0;
        while (i < CU_ARRAY_LEN(keys) && strcmp(x->string, keys[i]) != 0)
            i++;
        if (i == CU_ARRAY_LEN(keys))
            return refuse(why, CU_ANALYTICS_BAD_QUERY, err, "unknown member \"%s\"", x->string);
    }
    x = cJSON_GetObjectItemCaseSensitive(root, "measures");
    if (cJSON_GetArraySize(x) < 1)
        return refuse(why, CU_ANALYTICS_BAD_QUERY, err, "\"measures\" needs 1 to 8 measures");
    if ((rc = each(s, x, CU_ANALYTICS_MEASURES_MAX, q, measure, why, err)) != CU_OK ||
        (rc = each(s, cJSON_GetObjectItemCaseSensitive(root, "group_by"), CU_ANALYTICS_GROUP_BY_MAX,
                   q, group_field, why, err)) != CU_OK ||
        (rc = each(s, cJSON_GetObjectItemCaseSensitive(root, "where"), CU_ANALYTICS_WHERE_MAX, q,
                   condition, why, err)) != CU_OK)
        return rc;
    if ((rc = noise(cJSON_GetObjectItemCaseSensitive(root, "noise"), q, why, err)) != CU_OK)
        return rc;
    return exact_ok(q, why, err);
}

cu_rc cu_ana_parse(cu_vault *v, cu_id tenant, const char *collection, const char *text, size_t len,
                   ana_query *q, cu_analytics_refusal *why, cu_err *err)
{
    cu_schema *s = NULL;
    cu_rc rc;

    memset(q, 0, sizeof(*q));
    if ((rc = cu_json_parse(text, len, &q->root, NULL, err)) != CU_OK) {
        *why = CU_ANALYTICS_BAD_QUERY;
        return rc == CU_ERR_NOMEM ? rc : CU_ERR_INVALID;
    }
    if ((rc = cu_schema_load(v, tenant, collection, &s, err)) == CU_OK)
        rc = parse_tree(s, q, why, err);
    cu_schema_free(s);
    if (rc != CU_OK)
        cu_ana_query_cleanup(q);
    return rc;
}

void cu_ana_query_cleanup(ana_query *q)
{
    cJSON_Delete(q->root);
    q->root = NULL;
}

/* --- matching ------------------------------------------------------------------------------ */

static int scalar_eq(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsBool(a) && cJSON_IsBool(b))
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    return cJSON_IsNull(a) && cJSON_IsNull(b);
}

/* A missing field satisfies no condition, ne included. */
static int holds(const ana_where *w, const cJSON *v)
{
    const cJSON *x;

    if (v == NULL)
        return 0;
    switch (w->cmp) {
    case ANA_EQ:
        return scalar_eq(v, w->value);
    case ANA_NE:
        return !scalar_eq(v, w->value);
    case ANA_IN:
        cJSON_ArrayForEach(x, w->value) if (scalar_eq(v, x)) return 1;
        return 0;
    default:
        break;
    }
    if (!cJSON_IsNumber(v))
        return 0;
    switch (w->cmp) {
    case ANA_LT:
        return v->valuedouble < w->value->valuedouble;
    case ANA_LE:
        return v->valuedouble <= w->value->valuedouble;
    case ANA_GT:
        return v->valuedouble > w->value->valuedouble;
    default:
        return v->valuedouble >= w->value->valuedouble;
    }
}

int cu_ana_match(const ana_query *q, const cJSON *doc)
{
    for (size_t i = 0; i < q->nw; i++)
        if (!holds(&q->w[i], cJSON_GetObjectItemCaseSensitive(doc, q->w[i].field)))
            return 0;
    return 1;
}

int cu_ana_key(const cJSON *v, char out[CU_ANALYTICS_KEY_MAX], int *null)
{
    *null = 0;
    out[0] = '\0';
    if (v == NULL || cJSON_IsNull(v)) {
        *null = 1;
        return 0;
    }
    if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) >= CU_ANALYTICS_KEY_MAX)
            return -1;
        cu_strlcpy(out, v->valuestring, CU_ANALYTICS_KEY_MAX);
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        snprintf(out, CU_ANALYTICS_KEY_MAX, "%.17g", v->valuedouble);
        return 0;
    }
    if (cJSON_IsBool(v)) {
        cu_strlcpy(out, cJSON_IsTrue(v) ? "true" : "false", CU_ANALYTICS_KEY_MAX);
        return 0;
    }
    return -1;
}
