/*
 * bench_audit.c: the audit log at scale, measured against baselines of the same run.
 *
 * Builds one tenant's log of N entries (default 1,000,000) through the real write path: T
 * threads call cu_commit with CU_AUDIT_PER_COMMIT entries each and no other operation, so
 * group commit chains, signs a checkpoint every CU_AUDIT_CHECKPOINT_EVERY entries and commits
 * them in big transactions. Then times cu_audit_verify over the whole log.
 *
 * Baselines, same run, same machine:
 *  - SHA-256 (cu_sha256, the chain's hash) of the same bytes: every entry's stored canonical
 *    encoding, read into memory first and hashed one by one: the cost of the hashing alone;
 *  - a bare SQLite scan of the same rows (every column, ORDER BY seq) on a second connection:
 *    the cost of reading them.
 * verify does both on each core (it checks every column, and hashes), so on one core its rate
 * sits below both; on n cores it may pass them. Its CPU time (user and system, all threads) is
 * printed too, as entries per CPU-second: on a machine shared with other work the wall-clock
 * rate depends on how many cores verify gets, the CPU time much less.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* The process's CPU time so far, user and system, every thread. */
static double cpu_now(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The first three figures of /proc/loadavg and a newline: the machine is shared. */
static const char *loadavg(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;

    if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
        snprintf(buf, cap, "unknown\n");
    else
        snprintf(buf, cap, "%.2f %.2f %.2f\n", a, b, c);
    if (f)
        fclose(f);
    return buf;
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

/* SHA-256 (cu_sha256) of the log's own bytes: every entry's stored canonical encoding, read
 * into memory first, hashed one by one. */
static double sha_baseline(const char *data, cu_id tenant, long *n)
{
    static volatile uint8_t sink; /* keeps the loop */
    char path[700];
    sqlite3 *db;
    sqlite3_stmt *st;
    uint8_t *all = NULL, out[32];
    size_t *len = NULL, cap = 0, used = 0;
    long cnt = 0, lcap = 0;
    double t0;

    snprintf(path, sizeof(path), "%s/custos.db", data);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT canon FROM audit_log WHERE tenant_id = ? ORDER BY seq", -1,
                           &st, NULL) != SQLITE_OK)
        die("sqlite read of the encodings", NULL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)tenant);
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t l = (size_t)sqlite3_column_bytes(st, 0);
        if (used + l > cap) {
            cap = (cap + l) * 2;
            if ((all = realloc(all, cap)) == NULL)
                die("out of memory", NULL);
        }
        if (cnt == lcap) {
            lcap = lcap * 2 + 1024;
            if ((len = realloc(len, (size_t)lcap * sizeof(*len))) == NULL)
                die("out of memory", NULL);
        }
        if (l > 0)
            memcpy(all + used, sqlite3_column_blob(st, 0), l);
        used += l;
        len[cnt++] = l;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    t0 = now();
    used = 0;
    for (long i = 0; i < cnt; i++) {
        cu_sha256(all + used, len[i], out);
        used += len[i];
        sink ^= out[0];
    }
    t0 = now() - t0;
    free(all);
    free(len);
    *n = cnt;
    return cnt > 0 ? (double)cnt / t0 : 0;
}

/* The mean length of the tenant's encodings. */
static double enc_bytes(const char *data, cu_id tenant)
{
    char path[700];
    sqlite3 *db;
    sqlite3_stmt *st;
    double avg = 0;

    snprintf(path, sizeof(path), "%s/custos.db", data);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT avg(length(canon)) FROM audit_log WHERE tenant_id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        die("sqlite", NULL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)tenant);
    if (sqlite3_step(st) == SQLITE_ROW)
        avg = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return avg;
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
    long n = argc > 1 ? atol(argv[1]) : 1000000, rows = 0, hashed = 0;
    const char *keep = getenv("BENCH_AUDIT_DIR");
    char dir[] = "/tmp/custos-bench-audit-XXXXXX", data[600], cmd[700], load[128];
    cu_vault_opts o = {0};
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_audit_report rep;
    cu_tenant *ts = NULL;
    size_t nts = 0;
    cu_id tenant;
    struct stat st;
    double t0, c0, verify, cpu, sha, scan;

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
    printf("custos audit benchmark: %ld entries, %d writer threads, %ld CPUs, load average %s", n,
           THREADS, sysconf(_SC_NPROCESSORS_ONLN), loadavg(load, sizeof(load)));
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
    c0 = cpu_now();
    if (cu_audit_verify(v, NULL, tenant, &rep, &err) != CU_OK || !rep.ok)
        die("verify", rep.ok ? &err : NULL);
    verify = now() - t0;
    cpu = cpu_now() - c0;
    if (getenv("BENCH_AUDIT_VERIFY_ONLY") != NULL) {
        printf("%-40s %12.0f entries/s  %.2f s; CPU %.2f s, %.0f entries per CPU-second\n",
               "cu_audit_verify", (double)rep.entries / verify, verify, cpu,
               (double)rep.entries / cpu);
        cu_vault_close(v);
        return 0;
    }
    sha = sha_baseline(data, tenant, &hashed);
    scan = scan_baseline(data, tenant, &rows);

    printf("%-40s %12.0f entries/s  (baseline, %ld encodings, %.0f bytes each)\n",
           "SHA-256 of the entries' encodings", sha, hashed, enc_bytes(data, tenant));
    printf("%-40s %12.0f rows/s     (baseline, %ld rows)\n", "bare SQLite scan of the rows", scan,
           rows);
    printf("%-40s %12.0f entries/s  %.2f s, %llu entries, %llu checkpoints\n", "cu_audit_verify",
           (double)rep.entries / verify, verify, (unsigned long long)rep.entries,
           (unsigned long long)rep.checkpoints);
    printf("%-40s %12.0f entries per CPU-second (%.2f CPU s, user and system, every thread)\n",
           "cu_audit_verify, CPU time", (double)rep.entries / cpu, cpu);
    printf("%-40s %s", "load average after", loadavg(load, sizeof(load)));
    printf("%-40s %12.2f x SHA-256, %.2f x scan; target 2,000,000 entries/s: %s\n", "ratio",
           (double)rep.entries / verify / sha, (double)rep.entries / verify / scan,
           (double)rep.entries / verify >= 2e6 ? "met" : "missed");
    cu_vault_close(v);
    if (keep != NULL && *keep != '\0')
        return 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
