/*
 * analytics_table.c: the groups of an aggregate query, their suppression and the answer
 * (P-ANA-1; docs/analytics.md, "Suppression" and "Noise").
 *
 * Groups are found by a hash of their keys (open addressing, at most CU_ANALYTICS_GROUPS_MAX
 * of them); the total is one more group every matching record goes into. Suppression works on
 * cells (a group, or one bin of a histogram) by their distinct subjects:
 *   1. primary: a cell of fewer subjects than min_group_size is suppressed;
 *   2. complementary: in every set of cells whose sum is known or released (all the groups,
 *      with the total; each row and each column of a two-field grouping, whose sums a query
 *      grouped by one field gives; the bins of one histogram in one group, which sum to the
 *      group), suppressed cells are either none, or all, or at least two holding at least
 *      min_group_size subjects together; else the smallest released cell of the set is
 *      suppressed too, and every set is checked again until none changes.
 * So no released figure minus other released figures isolates a suppressed cell, nor a
 * remainder of fewer than min_group_size subjects.
 */
#include <stdlib.h>
#include <string.h>

#include "analytics_int.h"
#include "crypto.h"
#include "util.h"

static cu_rc nomem(cu_err *err)
{
    return cu_err_set(err, CU_ERR_NOMEM, "out of memory while aggregating");
}

cu_rc cu_ana_table_init(ana_table *t, const ana_query *q, uint64_t min_group, cu_err *err)
{
    memset(t, 0, sizeof(*t));
    t->min_group = min_group;
    t->nslot = 2 * CU_ANALYTICS_GROUPS_MAX;
    t->slot = calloc(t->nslot, sizeof(*t->slot));
    if (q->nbins > 0)
        t->total.bins = calloc(q->nbins, sizeof(ana_bin));
    if (t->slot == NULL || (q->nbins > 0 && t->total.bins == NULL)) {
        cu_ana_table_cleanup(t);
        return nomem(err);
    }
    return CU_OK;
}

void cu_ana_table_cleanup(ana_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->g[i].bins);
    free(t->g);
    free(t->slot);
    free(t->total.bins);
    memset(t, 0, sizeof(*t));
}

static uint64_t key_hash(const char key[][CU_ANALYTICS_KEY_MAX], const int *null, size_t ng)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t i = 0; i < ng; i++) {
        for (const char *p = key[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ (unsigned)(null[i] + 1)) * 1099511628211ull;
    }
    return h;
}

static int same_key(const ana_group *g, const char key[][CU_ANALYTICS_KEY_MAX], const int *null,
                    size_t ng)
{
    for (size_t i = 0; i < ng; i++)
        if (g->null[i] != null[i] || strcmp(g->key[i], key[i]) != 0)
            return 0;
    return 1;
}

/* The group of key, made if new; NULL with *why set past CU_ANALYTICS_GROUPS_MAX. */
static cu_rc group_of(ana_table *t, const ana_query *q, const char key[][CU_ANALYTICS_KEY_MAX],
                      const int *null, ana_group **out, cu_analytics_refusal *why, cu_err *err)
{
    size_t s = (size_t)(key_hash(key, null, q->ng) % t->nslot);
    ana_group *g;

    while (t->slot[s] != 0 && !same_key(&t->g[t->slot[s] - 1], key, null, q->ng))
        s = (s + 1) % t->nslot;
    if (t->slot[s] != 0) {
        *out = &t->g[t->slot[s] - 1];
        return CU_OK;
    }
    if (t->n == CU_ANALYTICS_GROUPS_MAX) {
        *why = CU_ANALYTICS_TOO_MANY_GROUPS;
        return cu_err_set(err, CU_ERR_INVALID, "the grouping makes more than %d groups",
                          CU_ANALYTICS_GROUPS_MAX);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        ana_group *ng = realloc(t->g, cap * sizeof(*ng));
        if (ng == NULL)
            return nomem(err);
        t->g = ng;
        t->cap = cap;
    }
    g = &t->g[t->n];
    memset(g, 0, sizeof(*g));
    if (q->nbins > 0 && (g->bins = calloc(q->nbins, sizeof(ana_bin))) == NULL)
        return nomem(err);
    memcpy(g->key, key, q->ng * sizeof(key[0]));
    memcpy(g->null, null, q->ng * sizeof(null[0]));
    t->slot[s] = (uint32_t)++t->n;
    *out = g;
    return CU_OK;
}

static void count_subject(ana_cell *c, cu_id subject)
{
    if (c->last != subject) {
        c->subjects++;
        c->last = subject;
    }
}

/* The bin of x among a histogram's edges: 0 below the first, i for [e[i-1], e[i]). */
static size_t bin_of(const ana_measure *m, double x)
{
    size_t i = 0;

    while (i < m->nedges && x >= m->edges[i])
        i++;
    return i;
}

static void accumulate(ana_group *g, const ana_query *q, const cJSON *doc, cu_id subject)
{
    count_subject(&g->c, subject);
    g->records++;
    for (size_t i = 0; i < q->nm; i++) {
        const ana_measure *m = &q->m[i];
        const cJSON *v = m->field[0] ? cJSON_GetObjectItemCaseSensitive(doc, m->field) : NULL;
        double x;
        if (m->op == ANA_COUNT || !cJSON_IsNumber(v))
            continue; /* sums, means and histograms of numbers only */
        x = v->valuedouble;
        if (m->op == ANA_HISTOGRAM) {
            ana_bin *b = &g->bins[m->bin0 + bin_of(m, x)];
            count_subject(&b->c, subject);
            b->count++;
            continue;
        }
        if (q->epsilon > 0) /* noise mode: each value within the bound the noise assumes */
            x = x > q->bound ? q->bound : x < -q->bound ? -q->bound : x;
        g->sum[i] += x;
        g->n[i]++;
    }
}

cu_rc cu_ana_add(ana_table *t, const ana_query *q, const cJSON *doc, cu_id subject,
                 cu_analytics_refusal *why, cu_err *err)
{
    char key[CU_ANALYTICS_GROUP_BY_MAX][CU_ANALYTICS_KEY_MAX];
    int null[CU_ANALYTICS_GROUP_BY_MAX] = {0};
    ana_group *g = NULL;
    cu_rc rc;

    for (size_t i = 0; i < q->ng; i++)
        if (cu_ana_key(cJSON_GetObjectItemCaseSensitive(doc, q->group_by[i]), key[i], &null[i]) !=
            0)
            return CU_OK; /* not a scalar: in no group, nor in the total */
    if (q->ng > 0) {
        if ((rc = group_of(t, q, (const char(*)[CU_ANALYTICS_KEY_MAX])key, null, &g, why, err)) !=
            CU_OK)
            return rc;
        accumulate(g, q, doc, subject);
    }
    accumulate(&t->total, q, doc, subject);
    return CU_OK;
}

/* --- suppression --------------------------------------------------------------------------- */

/* One set of cells whose sum is known (see the top). 1 if it suppressed one more. */
static int complete(ana_cell **c, size_t n, uint64_t k)
{
    size_t nsup = 0, pick = n;
    uint64_t sum = 0;

    for (size_t i = 0; i < n; i++)
        if (c[i]->suppressed) {
            nsup++;
            sum += c[i]->subjects;
        } else if (pick == n || c[i]->subjects < c[pick]->subjects) {
            pick = i;
        }
    if (nsup == 0 || nsup == n || (nsup >= 2 && sum >= k))
        return 0;
    c[pick]->suppressed = 1;
    return 1;
}

static int primary(ana_cell *c, uint64_t k)
{
    c->suppressed = c->subjects < k;
    return c->suppressed;
}

/* Dimension d's keys compared (null last). */
static int key_cmp(const ana_group *x, const ana_group *y, size_t d)
{
    return x->null[d] != y->null[d] ? x->null[d] - y->null[d] : strcmp(x->key[d], y->key[d]);
}

/* Groups by their keys, first field first: the answer's order, and each row a run. */
static int by_rows(const void *a, const void *b)
{
    const ana_group *x = a, *y = b;
    int c = key_cmp(x, y, 0);

    return c != 0 ? c : key_cmp(x, y, 1);
}

/* Pointers to groups by the second field first: each column a run. */
static int by_columns(const void *a, const void *b)
{
    const ana_group *x = *(ana_group *const *)a, *y = *(ana_group *const *)b;
    int c = key_cmp(x, y, 1);

    return c != 0 ? c : key_cmp(x, y, 0);
}

/* Each run of g[0..n) sharing key d as one set. */
static int complete_runs(ana_group **g, size_t n, size_t d, uint64_t k, ana_cell **cells)
{
    int changed = 0;

    for (size_t i = 0, j; i < n; i = j) {
        size_t m = 0;
        for (j = i; j < n && key_cmp(g[j], g[i], d) == 0; j++)
            cells[m++] = &g[j]->c;
        changed |= complete(cells, m, k);
    }
    return changed;
}

/* The groups: primary, then complementary over all of them and, for two fields, each row and
 * column, until nothing changes (each pass suppresses one more group, so it ends). */
static void suppress_groups(ana_table *t, const ana_query *q, ana_group **rows, ana_group **cols,
                            ana_cell **cells)
{
    int changed = 1;

    for (size_t i = 0; i < t->n; i++) {
        primary(&t->g[i].c, t->min_group);
        rows[i] = cols[i] = &t->g[i];
    }
    if (q->ng == 2 && t->n > 1)
        qsort(cols, t->n, sizeof(*cols), by_columns);
    while (changed) {
        for (size_t i = 0; i < t->n; i++)
            cells[i] = &t->g[i].c;
        changed = complete(cells, t->n, t->min_group);
        if (q->ng == 2)
            changed |= complete_runs(rows, t->n, 0, t->min_group, cells) |
                       complete_runs(cols, t->n, 1, t->min_group, cells);
    }
}

/* A released group's histograms: each one's bins as a set that sums to the group. */
static void suppress_bins(ana_group *g, const ana_query *q, uint64_t k)
{
    ana_cell *cells[CU_ANALYTICS_BUCKETS_MAX + 1];

    for (size_t i = 0; i < q->nm; i++) {
        const ana_measure *m = &q->m[i];
        size_t nb = m->nedges + 1;
        if (m->op != ANA_HISTOGRAM)
            continue;
        for (size_t b = 0; b < nb; b++) {
            primary(&g->bins[m->bin0 + b].c, k);
            cells[b] = &g->bins[m->bin0 + b].c;
        }
        while (complete(cells, nb, k))
            ;
    }
}

void cu_ana_suppress(ana_table *t, const ana_query *q)
{
    size_t n = t->n ? t->n : 1;
    ana_cell **cells = calloc(n, sizeof(*cells));
    ana_group **rows = calloc(n, sizeof(*rows)), **cols = calloc(n, sizeof(*cols));

    /* The hash is done with: the groups in key order, for the answer and the rows. */
    free(t->slot);
    t->slot = NULL;
    if (t->n > 1)
        qsort(t->g, t->n, sizeof(*t->g), by_rows);
    t->total_released = 0;
    if (cells == NULL || rows == NULL || cols == NULL) {
        /* Out of memory: nothing is released rather than something unchecked. */
        for (size_t i = 0; i < t->n; i++)
            t->g[i].c.suppressed = 1;
    } else {
        suppress_groups(t, q, rows, cols, cells);
        /* The total: of min_group_size subjects at least; with groups, the sets above keep it
         * from isolating a suppressed group. In noise mode with groups it would cost the
         * budget again: not given. */
        t->total_released = t->total.c.subjects >= t->min_group && !(q->epsilon > 0 && q->ng);
    }
    t->suppressed = 0;
    for (size_t i = 0; i < t->n; i++) {
        t->suppressed += t->g[i].c.suppressed;
        if (!t->g[i].c.suppressed)
            suppress_bins(&t->g[i], q, t->min_group);
    }
    if (t->total_released)
        suppress_bins(&t->total, q, t->min_group);
    free(cells);
    free(rows);
    free(cols);
}
