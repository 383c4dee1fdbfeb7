/*
 * bench_audit.c: the audit log at scale, measured against baselines of the same run.
 *
 * Builds one tenant's log of N entries (default 1,000,000) through the real write path: T
 * threads call cu_commit with CU_AUDIT_PER_COMMIT entries each and no other operation, so
 * group commit chains, signs a checkpoint every CU_AUDIT_CHECKPOINT_EVERY entries and commits
 * them in big transactions. Then times cu_audit_verify over the whole log.
 *
 * Baselines, same run, same machine:
 *  - SHA-256 (cu_sha256, the chain's hash) of N distinct 200-byte buffers: the cost of the
 *    hashing alone, about the size of one entry's canonical encoding;
 *  - a bare SQLite scan of the same rows (every column, ORDER BY seq) on a second connection:
 *    the cost of reading them.
 * verify does both plus the per-entry copy and compare, so its rate sits below both.
 *
 * usage: bench_audit [N]
 *   BENCH_AUDIT_DIR=DIR  keep the vault in DIR (made if missing) and, when DIR already holds
 *                        one, skip the build and measure again: for perf, e.g.
 *                        BENCH_AUDIT_DIR=/tmp/ba perf record -g build/bench/bench_audit
 *   BENCH_AUDIT_VERIFY_ONLY=1  skip the baselines (a profile of verify alone)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "core_int.h" /* cu_commit, cu_audit_in: the write path below the record API */
#include "custos.h"

#define THREADS 64 /* a group holds at most one request per waiting thread */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const cu_err *err)
{
    fprintf(stderr, "bench_audit: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

typedef struct job {
    cu_vault *v;
    cu_id tenant;
    long commits;
    cu_err err;
    int failed;
} job;

/* A realistic entry: a keyed actor, a purpose, a source address and a request id. */
static void *fill(void *p)
{
    job *j = p;
    char rid[33];
    cu_ctx ctx = {.actor = "key:1234567890123456789",
                  .purpose = "support",
                  .source = "203.0.113.7",
                  .request_id = rid};
    cu_audit_in a[CU_AUDIT_PER_COMMIT];

    for (long c = 0; c < j->commits && !j->failed; c++) {
        cu_request_id(rid);
        for (int i = 0; i < CU_AUDIT_PER_COMMIT; i++)
            cu_audit_in_set(&a[i], j->tenant, "record.read", "record:%llu",
                            (unsigned long long)cu_random_id());
        if (cu_commit(j->v, &ctx, NULL, 0, a, CU_AUDIT_PER_COMMIT, &j->err) != CU_OK)
            j->failed = 1;
    }
    return NULL;
}

static double sha_baseline(long n)
{
    enum { LEN = 200, BATCH = 4096 };
    static volatile uint8_t sink; /* keeps the loop */
    uint8_t *bufs = malloc((size_t)BATCH * LEN), out[32];
    double t0;

    if (bufs == NULL)
        die("out of memory", NULL);
    cu_random(bufs, (size_t)BATCH * LEN);
    t0 = now();
    for (long i = 0; i < n; i++) {
        uint8_t *b = bufs + (size_t)(i % BATCH) * LEN;
        b[0] = (uint8_t)i; /* distinct inputs */
        b[1] = (uint8_t)(i >> 8);
        cu_sha256(b, LEN, out);
        sink ^= out[0];
    }
    t0 = now() - t0;
    free(bufs);
    return (double)n / t0;
}

static double scan_baseline(const char *data, cu_id tenant, long *rows)
{
    char path[700];
    sqlite3 *db;
    sqlite3_stmt *st;
    double t0;
    long n = 0, sum = 0;

    snprintf(path, sizeof(path), "%s/custos.db", data);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT tenant_id, seq, at, actor, action, object, purpose, source,"
                           " request_id, outcome, prev, hash FROM audit_log WHERE tenant_id = ?"
                           " AND seq >= 0 ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        die("sqlite scan", NULL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)tenant);
    t0 = now();
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 3; c < 12; c++)
            sum += sqlite3_column_bytes(st, c);
        n++;
    }
    t0 = now() - t0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    *rows = n;
    return sum > 0 ? (double)n / t0 : 0;
}

/* Builds the log in a new vault at data; returns the tenant. */
static cu_id build_log(const char *data, long n)
{
    cu_vault_opts o = {.data_dir = data};
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_tenant t;
    cu_commit_stats cs;
    pthread_t th[THREADS];
    job jobs[THREADS];
    double t0, build;

    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &v, &err) != CU_OK)
        die("vault", &err);
    if (cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "bench"}, &t, &err) != CU_OK)
        die("tenant", &err);
    t0 = now();
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (job){.v = v, .tenant = t.id, .commits = n / CU_AUDIT_PER_COMMIT / THREADS};
        if (pthread_create(&th[i], NULL, fill, &jobs[i]) != 0)
            die("thread", NULL);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].failed)
            die("commit", &jobs[i].err);
    }
    build = now() - t0;
    cu_vault_commit_stats(v, &cs);
    printf("%-40s %12.0f entries/s  (%llu requests in %llu group commits, %.1f per group)\n",
           "build the log through cu_commit", (double)n / build, (unsigned long long)cs.requests,
           (unsigned long long)cs.groups,
           cs.groups ? (double)cs.requests / (double)cs.groups : 0.0);
    cu_vault_close(v);
    return t.id;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000, rows = 0;
    const char *keep = getenv("BENCH_AUDIT_DIR");
    char dir[] = "/tmp/custos-bench-audit-XXXXXX", data[600], cmd[700];
    cu_vault_opts o = {0};
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_audit_report rep;
    cu_tenant *ts = NULL;
    size_t nts = 0;
    cu_id tenant;
    struct stat st;
    double t0, verify, sha, scan;

    if (n < 10000)
        n = 10000;
    if (keep != NULL && *keep != '\0') {
        mkdir(keep, 0700);
        snprintf(data, sizeof(data), "%s/data", keep);
    } else {
        if (mkdtemp(dir) == NULL)
            return 1;
        snprintf(data, sizeof(data), "%s/data", dir);
    }
    printf("custos audit benchmark: %ld entries, %d writer threads\n", n, THREADS);
    if (keep == NULL || *keep == '\0' || stat(data, &st) != 0)
        build_log(data, n);
    o.data_dir = data;
    if (cu_vault_open(&o, &v, &err) != CU_OK)
        die("vault", &err);
    if (cu_tenant_list(v, NULL, &ts, &nts, &err) != CU_OK || nts != 1)
        die("tenant", &err);
    tenant = ts[0].id;
    free(ts);

    /* Verify twice; the first run also warms the page cache like the scan after it. */
    if (cu_audit_verify(v, NULL, tenant, &rep, &err) != CU_OK || !rep.ok)
        die("verify", rep.ok ? &err : NULL);
    t0 = now();
    if (cu_audit_verify(v, NULL, tenant, &rep, &err) != CU_OK || !rep.ok)
        die("verify", rep.ok ? &err : NULL);
    verify = now() - t0;
    if (getenv("BENCH_AUDIT_VERIFY_ONLY") != NULL) {
        printf("%-40s %12.0f entries/s  %.2f s\n", "cu_audit_verify", (double)rep.entries / verify,
               verify);
        cu_vault_close(v);
        return 0;
    }
    sha = sha_baseline((long)rep.entries);
    scan = scan_baseline(data, tenant, &rows);

    printf("%-40s %12.0f entries/s  (baseline)\n", "SHA-256 of 200-byte buffers", sha);
    printf("%-40s %12.0f rows/s     (baseline, %ld rows)\n", "bare SQLite scan of the rows", scan,
           rows);
    printf("%-40s %12.0f entries/s  %.2f s, %llu entries, %llu checkpoints\n", "cu_audit_verify",
           (double)rep.entries / verify, verify, (unsigned long long)rep.entries,
           (unsigned long long)rep.checkpoints);
    printf("%-40s %12.2f x SHA-256, %.2f x scan; target 2,000,000 entries/s: %s\n", "ratio",
           (double)rep.entries / verify / sha, (double)rep.entries / verify / scan,
           (double)rep.entries / verify >= 2e6 ? "met" : "missed");
    cu_vault_close(v);
    if (keep != NULL && *keep != '\0')
        return 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
