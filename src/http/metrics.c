/*
 * metrics.c: counters for GET /metrics in the Prometheus text format: requests by route and
 * status, a latency histogram, errors by code, the store's commits, and the caches of secrets
 * (hits, misses, evictions, size). Lock-free atomics; routes are the table's patterns, never raw
 * paths, so no id or value reaches a label.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define MAX_ROUTES HTTP_METRICS_MAX_ROUTES

static const unsigned statuses[] = {200, 201, 400, 401, 403, 404, 405, 409, 410,
                                    413, 415, 422, 429, 499, 500, 501, 503};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
static const char *const codes[] = {
    "invalid",        "not_found",       "already_exists",  "forbidden_field",
    "integrity",      "key_unavailable", "io",              "store",
    "unsupported",    "conflict",        "too_large",       "unauthenticated",
    "forbidden",      "rate_limited",    "mfa_required",    "unavailable",
    "out_of_memory",  "malformed_json",  "unknown_field",   "missing_field",
    "invalid_field",  "purpose_required", "unsupported_media_type", "method_not_allowed",
    "internal",       "unknown_purpose", "purpose_not_allowed", "consent_required",
    "objected",       "restricted",      "opted_out",       "under_age",
    "legal_hold",     "tenant_terminated", "insecure_permissions", "invalid_policy",
    "request_required", "recipient_not_listed",
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

/* Row MAX_ROUTES holds requests that matched no route. */
static atomic_ulong requests[MAX_ROUTES + 1][NSTATUS + 1];
static atomic_ulong latency[NBUCKETS + 1];
static atomic_ulong latency_count;
static _Atomic double latency_sum;
static atomic_ulong errors[NCODES + 1];

_Static_assert(MAX_ROUTES >= 40, "room for the route table");

void http_metrics_observe(const http_req *r, double seconds)
{
    size_t ri = r->route ? (size_t)(r->route - http_routes) : MAX_ROUTES;
    size_t si, bi, ci;
    double old;

    if (ri > MAX_ROUTES)
        ri = MAX_ROUTES;
    for (si = 0; si < NSTATUS && statuses[si] != r->status; si++)
        ;
    atomic_fetch_add(&requests[ri][si], 1);
    for (bi = 0; bi < NBUCKETS && seconds > buckets[bi]; bi++)
        ;
    atomic_fetch_add(&latency[bi], 1);
    atomic_fetch_add(&latency_count, 1);
    old = atomic_load(&latency_sum);
    while (!atomic_compare_exchange_weak(&latency_sum, &old, old + seconds))
        ;
    if (r->err_code != NULL) {
        for (ci = 0; ci < NCODES && strcmp(codes[ci], r->err_code) != 0; ci++)
            ;
        atomic_fetch_add(&errors[ci], 1);
    }
}

/* The text being rendered: a growing buffer and whether anything failed (out of memory). */
typedef struct mbuf {
    char *b;
    size_t len, cap;
    int failed;
} mbuf;

/* Appends formatted text to m; on failure marks m failed and leaves the text as it was. */
static void out(mbuf *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(mbuf *m, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(m->b + m->len, m->cap - m->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            m->failed = 1;
            return;
        }
        if ((size_t)n < m->cap - m->len) {
            m->len += (size_t)n;
            return;
        }
        char *nb = realloc(m->b, m->cap * 2 + (size_t)n);
        if (nb == NULL) {
            m->failed = 1;
            return;
        }
        m->b = nb;
        m->cap = m->cap * 2 + (size_t)n;
    }
}

/* custos_http_requests_total by route (the table's pattern) and status. */
static void render_requests(mbuf *m)
{
    out(m, "# HELP custos_http_requests_total HTTP requests by route and "
           "status.\n# TYPE custos_http_requests_total counter\n");
    for (size_t ri = 0; ri <= MAX_ROUTES; ri++) {
        const char *route, *method;
        if (ri >= http_nroutes && ri != MAX_ROUTES)
            continue;
        route = ri < MAX_ROUTES ? http_routes[ri].metric : "unmatched";
        method = ri < MAX_ROUTES ? http_routes[ri].method : "";
        for (size_t si = 0; si <= NSTATUS; si++) {
            unsigned long c = atomic_load(&requests[ri][si]);
            if (c == 0)
                continue;
            if (si < NSTATUS)
                out(m,
                    "custos_http_requests_total{method=\"%s\",route=\"%s\","
                    "status=\"%u\"} %lu\n",
                    method, route, statuses[si], c);
            else
                out(m,
                    "custos_http_requests_total{method=\"%s\",route=\"%s\","
                    "status=\"other\"} %lu\n",
                    method, route, c);
        }
    }
}

/* The latency histogram and the errors by code. */
static void render_latency_errors(mbuf *m)
{
    unsigned long cum = 0;

    out(m, "# HELP custos_http_request_duration_seconds Time to answer.\n"
           "# TYPE custos_http_request_duration_seconds histogram\n");
    for (size_t bi = 0; bi < NBUCKETS; bi++) {
        cum += atomic_load(&latency[bi]);
        out(m, "custos_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n", buckets[bi], cum);
    }
    cum += atomic_load(&latency[NBUCKETS]);
    out(m,
        "custos_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
        "custos_http_request_duration_seconds_sum %.6f\n"
        "custos_http_request_duration_seconds_count %lu\n",
        cum, atomic_load(&latency_sum), atomic_load(&latency_count));
    out(m, "# HELP custos_http_errors_total Error answers by code.\n"
           "# TYPE custos_http_errors_total counter\n");
    for (size_t ci = 0; ci <= NCODES; ci++) {
        unsigned long c = atomic_load(&errors[ci]);
        if (c != 0)
            out(m, "custos_http_errors_total{code=\"%s\"} %lu\n", ci < NCODES ? codes[ci] : "other",
                c);
    }
}

/* The store's commit histogram and the group commit counters. */
static void render_commits(mbuf *m, cu_vault *v)
{
    cu_commit_stats cs;
    unsigned long cum = 0;

    cu_vault_commit_stats(v, &cs);
    out(m, "# HELP custos_store_commit_duration_seconds Store transactions, "
           "fsync included.\n"
           "# TYPE custos_store_commit_duration_seconds histogram\n");
    for (size_t bi = 0; bi < CU_COMMIT_BUCKETS; bi++) {
        cum += (unsigned long)cs.bucket[bi];
        out(m, "custos_store_commit_duration_seconds_bucket{le=\"%g\"} %lu\n", cu_commit_bounds[bi],
            cum);
    }
    cum += (unsigned long)cs.bucket[CU_COMMIT_BUCKETS];
    out(m,
        "custos_store_commit_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
        "custos_store_commit_duration_seconds_sum %.6f\n"
        "custos_store_commit_duration_seconds_count %lu\n",
        cum, cs.seconds, (unsigned long)cs.count);
    out(m,
        "# HELP custos_commit_groups_total Group commits (one transaction each).\n"
        "# TYPE custos_commit_groups_total counter\ncustos_commit_groups_total %lu\n"
        "# HELP custos_commit_requests_total Requests carried by group commits.\n"
        "# TYPE custos_commit_requests_total counter\ncustos_commit_requests_total %lu\n"
        "# HELP custos_http_requests_waiting Requests suspended, waiting for their group "
        "commit.\n# TYPE custos_http_requests_waiting gauge\ncustos_http_requests_waiting %d\n",
        (unsigned long)cs.groups, (unsigned long)cs.requests, http_pending_suspended());
}

/* Key epochs (P-RET-3): the master version in force and the retired ones the key file keeps. */
static void render_keys(mbuf *m, cu_vault *v)
{
    unsigned current = 0, retained = 0;

    cu_key_ring_stats(v, &current, &retained);
    out(m,
        "# HELP custos_master_key_version The master key version in force.\n"
        "# TYPE custos_master_key_version gauge\ncustos_master_key_version %u\n"
        "# HELP custos_master_key_retained_versions Retired master key versions the key file "
        "keeps until the backup window has passed.\n"
        "# TYPE custos_master_key_retained_versions gauge\n"
        "custos_master_key_retained_versions %u\n",
        current, retained);
}

/* The caches of verified API keys and unwrapped keys: lookups, drops and size, per cache. */
static void render_caches(mbuf *m, cu_vault *v)
{
    static const char *const names[] = {"apikeys", "keys"};
    static const struct {
        const char *name, *type, *help;
        size_t off;
    } series[] = {
        {"hits_total", "counter", "Lookups answered from the cache.",
         offsetof(cu_cache_stats, hits)},
        {"misses_total", "counter", "Lookups the cache could not answer.",
         offsetof(cu_cache_stats, misses)},
        {"evictions_total", "counter", "Entries dropped to make room.",
         offsetof(cu_cache_stats, evictions)},
        {"expired_total", "counter", "Entries dropped for being older than the TTL.",
         offsetof(cu_cache_stats, expired)},
        {"forgotten_total", "counter",
         "Entries dropped because what they held changed (revoked, rotated, erased).",
         offsetof(cu_cache_stats, forgotten)},
        {"entries", "gauge", "Entries held.", offsetof(cu_cache_stats, size)},
        {"capacity", "gauge", "Entries the cache may hold (0: off).",
         offsetof(cu_cache_stats, capacity)},
    };
    cu_cache_stats st[2];

    cu_vault_cache_stats(v, CU_CACHE_APIKEYS, &st[0]);
    cu_vault_cache_stats(v, CU_CACHE_KEYS, &st[1]);
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        out(m, "# HELP custos_cache_%s %s\n# TYPE custos_cache_%s %s\n", series[i].name,
            series[i].help, series[i].name, series[i].type);
        for (size_t c = 0; c < 2; c++) {
            uint64_t x;
            memcpy(&x, (const char *)&st[c] + series[i].off, sizeof(x));
            out(m, "custos_cache_%s{cache=\"%s\"} %llu\n", series[i].name, names[c],
                (unsigned long long)x);
        }
    }
}

/* P-DSR-7: each tenant's open data-subject requests due soon and overdue (counts only). */
static void render_dsr(mbuf *m, cu_vault *v)
{
    cu_tenant *list = NULL;
    size_t n = 0;
    cu_err e = {0};

    if (cu_tenant_list(v, NULL, &list, &n, &e) != CU_OK)
        return;
    out(m, "# HELP custos_dsr_requests_overdue Open data-subject requests past their due date.\n"
           "# TYPE custos_dsr_requests_overdue gauge\n"
           "# HELP custos_dsr_requests_due_soon Open data-subject requests due within 3 days.\n"
           "# TYPE custos_dsr_requests_due_soon gauge\n");
    /* P-DSR-4: 1 while an erasure's scrub (its truncating checkpoint) is owed (docs/dsr.md). */
    out(m,
        "# HELP custos_erasure_scrub_pending Whether an erasure's truncating checkpoint is owed.\n"
        "# TYPE custos_erasure_scrub_pending gauge\ncustos_erasure_scrub_pending %d\n",
        cu_vault_scrub_pending(v));
    for (size_t i = 0; i < n; i++) {
        char id[CU_ID_STRLEN];
        size_t open = 0, soon = 0, over = 0;
        /* Only tenants with open requests: a tenant's id is a label only where it has some. */
        if (cu_request_counts(v, list[i].id, &open, &soon, &over, &e) != CU_OK || open == 0)
            continue;
        cu_id_format(list[i].id, id);
        out(m,
            "custos_dsr_requests_overdue{tenant=\"%s\"} %zu\n"
            "custos_dsr_requests_due_soon{tenant=\"%s\"} %zu\n",
            id, over, id, soon);
    }
    free(list);
}

/* P-BAK-1: the backups this process made and verified (cu_backup_stats). */
static void render_backups(mbuf *m)
{
    cu_backup_stats b;

    cu_backup_stats_get(&b);
    out(m,
        "# HELP custos_backup_last_success_timestamp Unix time of the last backup made, 0 none.\n"
        "# TYPE custos_backup_last_success_timestamp gauge\n"
        "custos_backup_last_success_timestamp %lld\n"
        "# HELP custos_backup_last_verified_timestamp Unix time of the last backup verified "
        "by a trial restore, 0 none.\n"
        "# TYPE custos_backup_last_verified_timestamp gauge\n"
        "custos_backup_last_verified_timestamp %lld\n"
        "# HELP custos_backup_count Backups in the backup directory.\n"
        "# TYPE custos_backup_count gauge\ncustos_backup_count %llu\n"
        "# HELP custos_backup_bytes Bytes of the backups in the backup directory.\n"
        "# TYPE custos_backup_bytes gauge\ncustos_backup_bytes %llu\n"
        "# HELP custos_backup_failures_total Backups or verifies that failed.\n"
        "# TYPE custos_backup_failures_total counter\ncustos_backup_failures_total %llu\n",
        (long long)b.last_success, (long long)b.last_verified, (unsigned long long)b.count,
        (unsigned long long)b.bytes, (unsigned long long)b.failures);
}

char *http_metrics_render(cu_vault *v, size_t *len)
{
    mbuf m = {.b = malloc(16384), .cap = 16384};

    if (m.b == NULL)
        return NULL;
    m.b[0] = '\0';
    render_requests(&m);
    render_latency_errors(&m);
    render_commits(&m, v);
    render_caches(&m, v);
    render_keys(&m, v);
    render_dsr(&m, v);
    render_backups(&m);
    if (m.failed) {
        free(m.b);
        return NULL;
    }
    *len = m.len;
    return m.b;
}
