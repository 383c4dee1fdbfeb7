/*
 * analytics_int.h: what the three files of aggregate analytics share (P-ANA-1;
 * docs/analytics.md): the parsed query (analytics_query.c), the table of groups it fills and
 * suppresses (analytics_table.c), and the scan, audit and budget (analytics.c) that drive them.
 *
 * A group counts its DISTINCT subjects by the scan's order: records come subject by subject, so
 * a group meets a new subject exactly when its last subject differs. Cells (groups, and the
 * bins of a histogram) share one header, so one suppression rule serves both.
 */
#ifndef CU_ANALYTICS_INT_H
#define CU_ANALYTICS_INT_H

#include "core_int.h"
#include "custos_analytics.h"
#include "json.h"

typedef enum { ANA_COUNT, ANA_SUM, ANA_MEAN, ANA_HISTOGRAM } ana_op;
typedef enum { ANA_EQ, ANA_NE, ANA_LT, ANA_LE, ANA_GT, ANA_GE, ANA_IN } ana_cmp;

typedef struct ana_measure {
    ana_op op;
    char field[CU_ANALYTICS_FIELD_MAX + 1]; /* "" for a count of records */
    double edges[CU_ANALYTICS_BUCKETS_MAX]; /* histogram: ascending; nedges + 1 bins */
    size_t nedges;
    size_t bin0; /* its first bin in a group's bins */
} ana_measure;

typedef struct ana_where {
    char field[CU_ANALYTICS_FIELD_MAX + 1];
    ana_cmp cmp;
    const cJSON *value; /* borrowed from the query's tree */
} ana_where;

typedef struct ana_query {
    cJSON *root; /* the parsed body (owned) */
    ana_measure m[CU_ANALYTICS_MEASURES_MAX];
    size_t nm;
    char group_by[CU_ANALYTICS_GROUP_BY_MAX][CU_ANALYTICS_FIELD_MAX + 1];
    size_t ng;
    ana_where w[CU_ANALYTICS_WHERE_MAX];
    size_t nw;
    double epsilon; /* noise mode's epsilon, 0: exact answers */
    double bound;   /* noise mode: sums and means clip each value to [-bound, bound] */
    size_t nbins;   /* the bins of every histogram */
} ana_query;

/* What suppression looks at, first in a group and in a bin. */
typedef struct ana_cell {
    uint64_t subjects; /* distinct */
    cu_id last;        /* the last subject counted */
    int suppressed;
} ana_cell;

typedef struct ana_bin {
    ana_cell c;
    uint64_t count; /* records */
} ana_bin;

#define ANA_KEY_OTHER 2 /* a group key that is an object, an array or over-long text */

typedef struct ana_group {
    ana_cell c;
    char key[CU_ANALYTICS_GROUP_BY_MAX][CU_ANALYTICS_KEY_MAX];
    int null[CU_ANALYTICS_GROUP_BY_MAX]; /* 1: missing or null; ANA_KEY_OTHER: not a scalar */
    uint64_t records;
    double sum[CU_ANALYTICS_MEASURES_MAX];
    uint64_t n[CU_ANALYTICS_MEASURES_MAX]; /* numbers summed */
    /* P-ANA-1: the distinct subjects that gave a number to each sum, mean or histogram; a
     * measure of fewer than min_group_size of them is suppressed (null), however large its
     * group. */
    ana_cell mc[CU_ANALYTICS_MEASURES_MAX];
    ana_bin *bins;                         /* q->nbins */
} ana_group;

typedef struct ana_table {
    ana_group *g; /* the groups, in order of first sight */
    size_t n, cap;
    uint32_t *slot; /* hash of the keys: index + 1, 0 empty */
    size_t nslot;
    ana_group total; /* every record that matched */
    uint64_t min_group;
    int total_released;
    size_t suppressed;
} ana_table;

/* analytics_query.c: parses and checks the body against the collection's field classes;
 * CU_ERR_INVALID with *why on a refusal. Release with cu_ana_query_cleanup. */
cu_rc cu_ana_parse(cu_vault *v, cu_id tenant, const char *collection, const char *text, size_t len,
                   ana_query *q, cu_analytics_refusal *why, cu_err *err);
void cu_ana_query_cleanup(ana_query *q);
/* 1 if the document satisfies every condition of q. */
int cu_ana_match(const ana_query *q, const cJSON *doc);
/* A scalar as a group key: text, a number as %.17g, true/false; *null for missing or null.
 * -1 for an object, an array or text of CU_ANALYTICS_KEY_MAX bytes or more. */
int cu_ana_key(const cJSON *v, char out[CU_ANALYTICS_KEY_MAX], int *null);

/* analytics_table.c */
cu_rc cu_ana_table_init(ana_table *t, const ana_query *q, uint64_t min_group, cu_err *err);
void cu_ana_table_cleanup(ana_table *t);
/* Counts a matching record of subject into its group and the total. */
cu_rc cu_ana_add(ana_table *t, const ana_query *q, const cJSON *doc, cu_id subject,
                 cu_analytics_refusal *why, cu_err *err);
/* P-ANA-1: marks what is suppressed (primary, then complementary) and whether the total may be
 * released. */
void cu_ana_suppress(ana_table *t, const ana_query *q);
/* The answer (docs/analytics.md), noise added to what is released in noise mode. NULL: out of
 * memory. */
cJSON *cu_ana_answer(const ana_table *t, const ana_query *q, const char *collection);
/* Noise mode: epsilon is split in nm + 1 shares, one per measure and one for the release
 * decision of groups and the total (analytics_table.c). */
double cu_ana_share(const ana_query *q);
/* A sample of the Laplace distribution of scale b (mean 0), from the vault's random source. */
double cu_ana_laplace(double b);

#endif
