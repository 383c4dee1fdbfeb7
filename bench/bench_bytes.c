/*
 * bench_bytes.c: bytes the vault writes to its files per durable write and per audited read,
 * under concurrent callers that group-commit (issue 17, item 2: fewer bytes per write).
 *
 * T threads each put N records (bench_core's document: one sensitive field, sealed and
 * blind-indexed, under a subject key), then each reads N of them back, audited. For each phase
 * it prints the operations per second, the requests per group commit, the bytes this
 * process handed to the kernel for writing (/proc/self/io wchar: the WAL frames, the
 * checkpoints into the database file) per operation, and the store's mean transaction time
 * with the count of slow transactions (a checkpoint inside a commit makes one). Bytes are what the
 * changes to the schema and the checkpoint move; they depend far less on a noisy machine than the
 * rates do.
 *
 * usage: bench_bytes [T [N]]   (default 8 threads, 500 operations each)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "custos.h"

static const char doc[] = "{\"name\":\"Ada Lovelace\",\"title\":\"Analyst\",\"dept\":\"Engines\","
                          "\"ssn\":\"123-45-6789\",\"notes\":\"Prefers email; met at the 1843 "
                          "conference about the analytical engine and its notes on Bernoulli "
                          "numbers.\",\"city\":\"London\",\"country\":\"GB\"}";

typedef struct worker {
    cu_vault *v;
    cu_id tenant, subject;
    int n, get;
    cu_id *ids;
    int failed;
} worker;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes this process has asked the kernel to write so far (/proc/self/io wchar). */
static long long written(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long n = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "wchar: %lld", &n) == 1)
            break;
    fclose(f);
    return n;
}

static void *work(void *p)
{
    worker *w = p;
    cu_err err = {0};

    for (int i = 0; i < w->n && !w->failed; i++) {
        if (w->get) {
            cu_record r;
            w->failed = cu_record_get(w->v, NULL, w->tenant, w->ids[i], &r, &err) != CU_OK;
            cu_record_cleanup(&r);
        } else
            w->failed = cu_record_put(w->v, NULL, w->tenant, "employees", w->subject, doc,
                                      strlen(doc), &w->ids[i], &err) != CU_OK;
    }
    if (w->failed)
        fprintf(stderr, "bench_bytes: %s\n", err.msg);
    return NULL;
}

/* Transactions slower than cu_commit_bounds[SLOW_BUCKET] between two snapshots: where a
 * checkpoint inside a commit shows. */
#define SLOW_BUCKET (CU_COMMIT_BUCKETS - 3)

static uint64_t slow(const cu_commit_stats *a, const cu_commit_stats *b)
{
    uint64_t n = 0;

    for (int i = SLOW_BUCKET + 1; i <= CU_COMMIT_BUCKETS; i++)
        n += b->bucket[i] - a->bucket[i];
    return n;
}

/* Runs one phase on every worker; prints its rate, group size and bytes per operation. */
static int phase(const char *name, cu_vault *v, worker *w, int threads, int get)
{
    pthread_t th[64];
    cu_commit_stats a, b;
    long long w0, w1;
    double t0, secs;
    int ops = 0, failed = 0;

    cu_vault_commit_stats(v, &a);
    w0 = written();
    t0 = now();
    for (int i = 0; i < threads; i++) {
        w[i].get = get;
        if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
            return -1;
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failed |= w[i].failed;
        ops += w[i].n;
    }
    secs = now() - t0;
    w1 = written();
    cu_vault_commit_stats(v, &b);
    printf("%-24s %6.0f ops/s %4.1f per group %6.0f bytes/op  txn %5.2f ms, %llu of %llu over "
           "%g ms\n",
           name, ops / secs,
           b.groups > a.groups ? (double)(b.requests - a.requests) / (double)(b.groups - a.groups)
                               : 0.0,
           (double)(w1 - w0) / ops,
           b.count > a.count ? (b.seconds - a.seconds) * 1e3 / (double)(b.count - a.count) : 0.0,
           (unsigned long long)slow(&a, &b), (unsigned long long)(b.count - a.count),
           cu_commit_bounds[SLOW_BUCKET] * 1e3);
    return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 8, n = argc > 2 ? atoi(argv[2]) : 500, rc = 0;
    char dir[] = "/tmp/custos-bench-bytes-XXXXXX", data[600], cmd[700];
    cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 0}};
    cu_subject_in in = {.external_id = "bench-1", .email = "ada@example.com"};
    cu_vault_opts o = {0};
    worker w[64];
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_tenant t;
    cu_id s;

    if (threads < 1 || threads > 64 || n < 1 || n > 1000000 || mkdtemp(dir) == NULL)
        return 2;
    snprintf(data, sizeof(data), "%s/data", dir);
    o.data_dir = data;
    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &v, &err) != CU_OK ||
        cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "bench"}, &t, &err) != CU_OK ||
        cu_subject_create(v, NULL, t.id, &in, &s, &err) != CU_OK ||
        cu_collection_define(v, NULL, t.id, "employees", defs, 1, &err) != CU_OK) {
        fprintf(stderr, "bench_bytes: setup: %s\n", err.msg);
        return 1;
    }
    printf("custos bytes per operation: %d threads x %d, doc %zu bytes\n", threads, n, strlen(doc));
    for (int i = 0; i < threads; i++) {
        w[i] = (worker){.v = v, .tenant = t.id, .subject = s, .n = n};
        if ((w[i].ids = calloc((size_t)n, sizeof(cu_id))) == NULL)
            return 1;
    }
    if (phase("cu_record_put, durable", v, w, threads, 0) != 0 ||
        phase("cu_record_get, audited", v, w, threads, 1) != 0)
        rc = 1;
    for (int i = 0; i < threads; i++)
        free(w[i].ids);
    cu_vault_close(v);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? rc : 1;
}
