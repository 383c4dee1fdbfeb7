/*
 * bench_pg_apply.c: apply() of the PostgreSQL backend in pipeline mode (every statement of a
 * batch sent, then one sync) against one round trip per statement (CUSTOS_PG_PIPELINE=0), in
 * one run, batch size by batch size, the two modes alternating.
 *
 * usage: bench_pg_apply URL SECONDS
 * A batch is what a group commit of the vault sends for one tenant: an AUDIT_HEAD_CHECK, then
 * N audit entries chained onto the head (each entry ~200 bytes with its canonical encoding).
 * Each (batch size, mode) runs SECONDS seconds on a tenant of its own; one line each:
 *   RESULT batch=N mode=pipeline|plain entries_per_s=E batches_per_s=B ms_per_batch=M
 * bench/pg_apply.sh starts a PostgreSQL server for it (fsync on) and stops it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends batches of n entries to tenant's chain for secs seconds; entries per second. */
static int run(cu_store *s, cu_id tenant, int n, double secs, double *eps, double *bps)
{
    cu_store_op *ops = calloc((size_t)n + 1, sizeof(*ops));
    uint8_t head[32] = {0};
    uint64_t seq = 0;
    long batches = 0;
    double t0 = now(), t;
    cu_err err = {0};

    if (ops == NULL)
        return -1;
    do {
        ops[0].type = CU_OP_AUDIT_HEAD_CHECK;
        ops[0].u.audit_head.tenant_id = tenant;
        ops[0].u.audit_head.seq = seq;
        memcpy(ops[0].u.audit_head.hash, head, 32);
        for (int i = 1; i <= n; i++) {
            cu_audit_entry *e = &ops[i].u.audit;
            memset(&ops[i], 0, sizeof(ops[i]));
            ops[i].type = CU_OP_AUDIT_APPEND;
            e->tenant_id = tenant;
            e->seq = seq + (uint64_t)i;
            e->at = 1700000000000LL + (int64_t)e->seq;
            snprintf(e->actor, sizeof(e->actor), "key:%d", 1234567);
            snprintf(e->action, sizeof(e->action), "record.create");
            snprintf(e->object, sizeof(e->object), "record:%llu", (unsigned long long)e->seq);
            snprintf(e->purpose, sizeof(e->purpose), "support");
            snprintf(e->request_id, sizeof(e->request_id), "%032llx",
                     (unsigned long long)e->seq);
            snprintf(e->outcome, sizeof(e->outcome), "ok");
            memcpy(e->prev, i == 1 ? head : ops[i - 1].u.audit.hash, 32);
            memset(e->hash, (int)(e->seq & 0xff), 32);
            memcpy(e->hash, &e->seq, sizeof(e->seq));
            e->has_digest = 1;
        }
        if (cu_store_apply(s, ops, (size_t)n + 1, &err) != CU_OK) {
            fprintf(stderr, "bench_pg_apply: %s\n", err.msg);
            free(ops);
            return -1;
        }
        seq += (uint64_t)n;
        memcpy(head, ops[n].u.audit.hash, 32);
        batches++;
    } while ((t = now() - t0) < secs);
    *eps = (double)batches * n / t;
    *bps = (double)batches / t;
    free(ops);
    return 0;
}

int main(int argc, char **argv)
{
    static const int sizes[] = {1, 8, 64, 256};
    cu_store *modes[2] = {NULL, NULL}; /* plain, pipeline */
    const char *names[2] = {"plain", "pipeline"};
    cu_err err = {0};
    double secs;
    cu_id tenant = 1;

    if (argc != 3 || (secs = atof(argv[2])) <= 0) {
        fprintf(stderr, "usage: bench_pg_apply URL SECONDS\n");
        return 2;
    }
    setenv("CUSTOS_PG_PIPELINE", "0", 1);
    if (cu_store_open(argv[1], &modes[0], &err) != CU_OK) {
        fprintf(stderr, "bench_pg_apply: %s\n", err.msg);
        return 1;
    }
    unsetenv("CUSTOS_PG_PIPELINE");
    if (cu_store_open(argv[1], &modes[1], &err) != CU_OK) {
        fprintf(stderr, "bench_pg_apply: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (int m = 0; m < 2; m++) {
            double eps = 0, bps = 0;
            if (run(modes[m], tenant++, sizes[i], secs, &eps, &bps) != 0)
                return 1;
            printf("RESULT batch=%d mode=%s entries_per_s=%.0f batches_per_s=%.0f"
                   " ms_per_batch=%.3f\n",
                   sizes[i], names[m], eps, bps, 1000.0 / bps);
            fflush(stdout);
        }
    cu_store_close(modes[0]);
    cu_store_close(modes[1]);
    return 0;
}
