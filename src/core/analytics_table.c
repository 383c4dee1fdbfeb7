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
 *      group), suppressed cells are either none, or all, or at least two of which one holds
 *      at least min_group_size subjects (review 6: distinct people, not a sum); else the smallest released cell of the set is
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
    if (t->g != NULL) /* the keys are values of the records, those of suppressed groups too */
        cu_wipe(t->g, t->cap * sizeof(*t->g));
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
        ana_group *ng = malloc(cap * sizeof(*ng));
        if (ng == NULL)
            return nomem(err);
        if (t->g != NULL) { /* not realloc: the old copy of the keys is wiped */
            memcpy(ng, t->g, t->n * sizeof(*ng));
            cu_wipe(t->g, t->cap * sizeof(*t->g));
            free(t->g);
        }
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
        count_subject(&g->mc[i], subject);
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

    /* Not a plain scalar (an object, an array, over-long text): the group "other" of its own,
     * suppressed like any other, never left out: a grouped answer and the ungrouped total count
     * the same records, so one minus the other isolates no one (P-ANA-1, review 2). */
    for (size_t i = 0; i < q->ng; i++)
        if (cu_ana_key(cJSON_GetObjectItemCaseSensitive(doc, q->group_by[i]), key[i], &null[i]) !=
            0) {
            key[i][0] = '\0';
            null[i] = ANA_KEY_OTHER;
        }
    rc = q->ng > 0 ? group_of(t, q, (const char(*)[CU_ANALYTICS_KEY_MAX])key, null, &g, why, err)
                   : CU_OK;
    cu_wipe(key, sizeof(key));
    if (rc != CU_OK)
        return rc;
    if (g != NULL)
        accumulate(g, q, doc, subject);
    accumulate(&t->total, q, doc, subject);
    return CU_OK;
}

/* --- suppression --------------------------------------------------------------------------- */

/* One set of cells whose sum is known (see the top). 1 if it suppressed one more.
 * Review 6: a subject with records in two cells is counted in each, so adding the suppressed
 * cells' subjects could count one person twice (two cells of the same 6 people pass as 12).
 * The remainder's distinct subjects are at least those of its largest cell: one suppressed
 * cell of min_group_size subjects or more is required, a conservative bound that needs no set
 * of ids. */
static int complete(ana_cell **c, size_t n, uint64_t k)
{
    size_t nsup = 0, pick = n;
    uint64_t most = 0;

    for (size_t i = 0; i < n; i++)
        if (c[i]->suppressed) {
            nsup++;
            most = c[i]->subjects > most ? c[i]->subjects : most;
        } else if (pick == n || c[i]->subjects < c[pick]->subjects) {
            pick = i;
        }
    if (nsup == 0 || nsup == n || (nsup >= 2 && most >= k))
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

/* The cell suppression looks at: the group (m < 0), or its measure m's contributors. */
static ana_cell *cell_of(ana_group *g, int m)
{
    return m < 0 ? &g->c : &g->mc[m];
}

/* Each run of g[0..n) sharing key d as one set. */
static int complete_runs(ana_group **g, size_t n, size_t d, uint64_t k, ana_cell **cells, int m)
{
    int changed = 0;

    for (size_t i = 0, j; i < n; i = j) {
        size_t c = 0;
        for (j = i; j < n && key_cmp(g[j], g[i], d) == 0; j++)
            cells[c++] = cell_of(g[j], m);
        changed |= complete(cells, c, k);
    }
    return changed;
}

/* The groups (m < 0), or measure m of every group: primary, then complementary over all of
 * them and, for two fields, each row and column, until nothing changes (each pass suppresses
 * one more cell, so it ends). A measure is suppressed in every suppressed group, and in a
 * group where fewer than min_group_size subjects gave it a number (P-ANA-1): its value there
 * would be theirs, however many the group holds. */
static void suppress_set(ana_table *t, const ana_query *q, ana_group **rows, ana_group **cols,
                         ana_cell **cells, int m)
{
    int changed = 1;

    for (size_t i = 0; i < t->n; i++)
        if (primary(cell_of(&t->g[i], m), t->min_group) == 0 && m >= 0)
            t->g[i].mc[m].suppressed = t->g[i].c.suppressed;
    while (changed) {
        for (size_t i = 0; i < t->n; i++)
            cells[i] = cell_of(&t->g[i], m);
        changed = complete(cells, t->n, t->min_group);
        if (q->ng == 2)
            changed |= complete_runs(rows, t->n, 0, t->min_group, cells, m) |
                       complete_runs(cols, t->n, 1, t->min_group, cells, m);
    }
}

static void suppress_groups(ana_table *t, const ana_query *q, ana_group **rows, ana_group **cols,
                            ana_cell **cells)
{
    for (size_t i = 0; i < t->n; i++)
        rows[i] = cols[i] = &t->g[i];
    if (q->ng == 2 && t->n > 1)
        qsort(cols, t->n, sizeof(*cols), by_columns);
    suppress_set(t, q, rows, cols, cells, -1);
    for (size_t m = 0; m < q->nm; m++)
        if (q->m[m].op != ANA_COUNT)
            suppress_set(t, q, rows, cols, cells, (int)m);
}

/* A released group's histograms: each one's bins as a set that sums to the group. */
static void suppress_bins(ana_group *g, const ana_query *q, uint64_t k)
{
    ana_cell *cells[CU_ANALYTICS_BUCKETS_MAX + 1];

    for (size_t i = 0; i < q->nm; i++) {
        const ana_measure *m = &q->m[i];
        size_t nb = m->nedges + 1;
        if (m->op != ANA_HISTOGRAM || g->mc[i].suppressed)
            continue;
        for (size_t b = 0; b < nb; b++) {
            primary(&g->bins[m->bin0 + b].c, k);
            cells[b] = &g->bins[m->bin0 + b].c;
        }
        while (complete(cells, nb, k))
            ;
    }
}

/* ln(1 / (2 delta)) for delta = 1e-6: a group or total under min_group_size is released with
 * probability at most delta in noise mode. */
#define ANA_LN_HALF_DELTA 13.122363377404328

/* Noise mode (P-ANA-1, review 4): whether a group or the total is released is decided on its
 * subject count plus Laplace noise of the decision's own share of epsilon (one subject gives
 * one record, so it moves one group's count by 1), against min_group_size raised by tau, so a
 * cell under the threshold passes with probability at most delta: an (epsilon, delta) release,
 * not an exact oracle. No complementary step: released figures are noisy, their differences
 * too. */
static void noisy_primary(ana_cell *c, const ana_query *q, uint64_t k)
{
    double b = 1 / cu_ana_share(q);

    c->suppressed = (double)c->subjects + cu_ana_laplace(b) < (double)k + b * ANA_LN_HALF_DELTA;
}

static void suppress_noisy(ana_table *t, const ana_query *q)
{
    for (size_t i = 0; i < t->n; i++) {
        noisy_primary(&t->g[i].c, q, t->min_group);
        for (size_t m = 0; m < q->nm; m++)
            if (q->m[m].op != ANA_COUNT && !primary(&t->g[i].mc[m], t->min_group))
                t->g[i].mc[m].suppressed = t->g[i].c.suppressed;
    }
    if (q->ng == 0) {
        noisy_primary(&t->total.c, q, t->min_group);
        t->total_released = !t->total.c.suppressed;
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
    if (q->epsilon > 0) {
        suppress_noisy(t, q);
    } else if (cells == NULL || rows == NULL || cols == NULL) {
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
    for (size_t m = 0; m < q->nm; m++)
        primary(&t->total.mc[m], t->min_group);
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
