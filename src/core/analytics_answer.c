/*
 * analytics_answer.c: the answer of an aggregate query as JSON, and the Laplace noise of noise
 * mode (P-ANA-1; docs/analytics.md).
 *
 *   {"collection","min_group_size","measures":[..],"group_by":[..],
 *    "groups":[{"key":[..],"values":[..]}],"suppressed":n,"total":{"values":[..]}|null,
 *    "noise":{"epsilon":e}}
 *
 * Values are in the order of the measures: a count, a sum, a mean (null without a number) or a
 * histogram's bins (null for a suppressed bin). Suppressed groups are not listed at all.
 * Noise mode: epsilon is split evenly between the measures (they compose); a subject gives one
 * record only (the scan's rule), so a count or a bin moves by 1 and a sum by `bound` at most
 * when one subject comes or goes: Laplace of scale 1/e and bound/e; a mean is a noisy sum over
 * a noisy count, each with half of its share. Counts are rounded and never below 0.
 */
#include <stdint.h>
#include <string.h>

#include "analytics_int.h"
#include "crypto.h"
#include "util.h"

/* ln(x) for x > 0 without libm: x = m * 2^e with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)). */
static double ln(double x)
{
    uint64_t bits;
    int e;
    double m, z, z2, term, sum = 0;

    memcpy(&bits, &x, sizeof(bits));
    e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    memcpy(&m, &bits, sizeof(m));
    z = (m - 1) / (m + 1); /* at most 1/3 */
    z2 = z * z;
    term = z;
    for (int k = 1; k < 60; k += 2) {
        sum += term / k;
        term *= z2;
    }
    return 2 * sum + e * 0.69314718055994530942;
}

double cu_ana_laplace(double b)
{
    uint64_t r;
    double u;

    do {
        cu_random(&r, sizeof(r));
        u = (double)(r >> 11) / 9007199254740992.0; /* [0, 1) in steps of 2^-53 */
    } while (u == 0.0);
    u -= 0.5; /* (-0.5, 0.5) */
    return u < 0 ? b * ln(1 + 2 * u) : -b * ln(1 - 2 * u);
}

double cu_ana_share(const ana_query *q)
{
    return q->epsilon > 0 ? q->epsilon / (double)(q->nm + 1) : 0;
}

static double count_of(uint64_t n, double scale)
{
    double x = (double)n;

    if (scale > 0) {
        x += cu_ana_laplace(scale);
        x = x < 0 ? 0 : (double)(int64_t)(x + 0.5);
    }
    return x;
}

static cJSON *histogram(const ana_group *g, const ana_measure *m, double scale)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t b = 0; a != NULL && b <= m->nedges; b++) {
        const ana_bin *bin = &g->bins[m->bin0 + b];
        cJSON *x = bin->c.suppressed ? cJSON_CreateNull()
                                     : cJSON_CreateNumber(count_of(bin->count, scale));
        if (!cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* One measure's value of a released group. */
static cJSON *value(const ana_group *g, const ana_query *q, size_t i)
{
    const ana_measure *m = &q->m[i];
    double e = cu_ana_share(q);
    double sum = g->sum[i], n = (double)g->n[i];

    if (m->op != ANA_COUNT && g->mc[i].suppressed)
        return cJSON_CreateNull(); /* P-ANA-1: too few subjects gave it a number */
    switch (m->op) {
    case ANA_COUNT:
        return cJSON_CreateNumber(count_of(g->records, e > 0 ? 1 / e : 0));
    case ANA_HISTOGRAM:
        return histogram(g, m, e > 0 ? 1 / e : 0);
    case ANA_SUM:
        return cJSON_CreateNumber(e > 0 ? sum + cu_ana_laplace(q->bound / e) : sum);
    case ANA_MEAN:
        if (e > 0) {
            sum += cu_ana_laplace(2 * q->bound / e);
            n = count_of(g->n[i], 2 / e);
        }
        return n >= 1 ? cJSON_CreateNumber(sum / n) : cJSON_CreateNull();
    }
    return NULL;
}

static cJSON *values(const ana_group *g, const ana_query *q)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a != NULL && i < q->nm; i++)
        if (!cJSON_AddItemToArray(a, value(g, q, i))) {
            cJSON_Delete(a);
            return NULL;
        }
    return a;
}

static cJSON *measures(const ana_query *q)
{
    static const char *const names[] = {"count", "sum", "mean", "histogram"};
    cJSON *a = cJSON_CreateArray();
    int bad = a == NULL;

    for (size_t i = 0; !bad && i < q->nm; i++) {
        cJSON *o = cJSON_CreateObject();
        bad = !cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "op", names[q->m[i].op]);
        if (!bad && q->m[i].field[0])
            bad = !cJSON_AddStringToObject(o, "field", q->m[i].field);
        if (!bad && q->m[i].op == ANA_HISTOGRAM)
            bad = !cJSON_AddItemToObject(
                o, "buckets", cJSON_CreateDoubleArray(q->m[i].edges, (int)q->m[i].nedges));
    }
    if (bad)
        cJSON_Delete(a);
    return bad ? NULL : a;
}

/* The key of the group of values that are not scalars: {"other":true}. */
static cJSON *other(void)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && !cJSON_AddTrueToObject(o, "other")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *group(const ana_group *g, const ana_query *q)
{
    cJSON *o = cJSON_CreateObject(), *key = cJSON_AddArrayToObject(o, "key");
    int bad = key == NULL;

    for (size_t d = 0; !bad && d < q->ng; d++)
        bad = !cJSON_AddItemToArray(key, g->null[d] == ANA_KEY_OTHER ? other()
                                         : g->null[d]                ? cJSON_CreateNull()
                                                                     : cJSON_CreateString(g->key[d]));
    if (bad || !cJSON_AddItemToObject(o, "values", values(g, q))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int add_groups(cJSON *root, const ana_table *t, const ana_query *q)
{
    cJSON *by = cJSON_AddArrayToObject(root, "group_by"),
          *gs = cJSON_AddArrayToObject(root, "groups");

    if (by == NULL || gs == NULL)
        return -1;
    for (size_t d = 0; d < q->ng; d++)
        if (!cJSON_AddItemToArray(by, cJSON_CreateString(q->group_by[d])))
            return -1;
    for (size_t i = 0; i < t->n; i++)
        if (!t->g[i].c.suppressed && !cJSON_AddItemToArray(gs, group(&t->g[i], q)))
            return -1;
    return 0;
}

cJSON *cu_ana_answer(const ana_table *t, const ana_query *q, const char *collection)
{
    cJSON *root = cJSON_CreateObject(), *total = NULL, *noise;
    int bad = root == NULL;

    bad = bad || !cJSON_AddStringToObject(root, "collection", collection) ||
          !cJSON_AddNumberToObject(root, "min_group_size", (double)t->min_group) ||
          !cJSON_AddItemToObject(root, "measures", measures(q)) || add_groups(root, t, q) != 0;
    /* Noise mode: how many groups were held back is an exact figure of the data: not given. */
    if (!bad && !(q->epsilon > 0))
        bad = !cJSON_AddNumberToObject(root, "suppressed", (double)t->suppressed);
    if (!bad && t->total_released) {
        total = cJSON_CreateObject();
        bad = !cJSON_AddItemToObject(root, "total", total) ||
              !cJSON_AddItemToObject(total, "values", values(&t->total, q));
    } else if (!bad) {
        bad = !cJSON_AddNullToObject(root, "total");
    }
    if (!bad && q->epsilon > 0) {
        noise = cJSON_AddObjectToObject(root, "noise");
        bad = noise == NULL || !cJSON_AddNumberToObject(noise, "epsilon", q->epsilon);
    }
    if (bad) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
