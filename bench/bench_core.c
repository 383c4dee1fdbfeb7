/*
 * bench_core.c: the vault core's cost over the bare store, measured in one run.
 *
 * Baselines: raw SQLite with the same settings (WAL, synchronous=FULL), one INSERT per durable
 * transaction of a blob the size of a sealed record, and one SELECT by primary key. Against
 * them: cu_record_put (parse, classify, seal under a subject key, one sensitive field with a
 * blind index, one transaction) and cu_record_get (unwrap keys, open, merge, print). Results are
 * ratios to the baseline of the same run, since the machines are noisy.
 *
 * Then one request's reads in one read scope (issue 17, item 3): two threads open records
 * (cu_record_read: the preamble's tenant read, the record and its fields, keys from the cache)
 * while a third commits writes, each read bracketed by cu_vault_read_begin/end or not, in
 * interleaved turns; the ratio scoped/unscoped.
 *
 * usage: bench_core [N]   (default 2000 writes, 20000 reads)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "custos.h"
#include "record_int.h" /* cu_record_read: a record's reads without the audit's commit */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const cu_err *err)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void report(const char *name, int n, double secs, double base_rate)
{
    double rate = n / secs;

    if (base_rate > 0)
        printf("%-34s %9.0f ops/s  %7.1f us/op  ratio to baseline %.2f\n", name, rate,
               secs / n * 1e6, rate / base_rate);
    else
        printf("%-34s %9.0f ops/s  %7.1f us/op  (baseline)\n", name, rate, secs / n * 1e6);
}

static double sqlite_baseline(const char *dir, int writes, int reads, double *read_rate)
{
    char path[512];
    sqlite3 *db;
    sqlite3_stmt *ins, *sel;
    unsigned char blob[420];
    double t0, wsecs, rsecs;

    snprintf(path, sizeof(path), "%s/baseline.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open", NULL);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE t(tenant_id INTEGER, id INTEGER, doc BLOB,"
                     " PRIMARY KEY(tenant_id, id)) WITHOUT ROWID",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO t VALUES(1, ?, ?)", -1, &ins, NULL);
    sqlite3_prepare_v2(db, "SELECT doc FROM t WHERE tenant_id = 1 AND id = ?", -1, &sel, NULL);
    memset(blob, 0xab, sizeof(blob));
    t0 = now();
    for (int i = 0; i < writes; i++) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_bind_int64(ins, 1, i + 1);
        sqlite3_bind_blob(ins, 2, blob, sizeof(blob), SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("sqlite insert", NULL);
        sqlite3_reset(ins);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    wsecs = now() - t0;
    t0 = now();
    for (int i = 0; i < reads; i++) {
        sqlite3_bind_int64(sel, 1, i % writes + 1);
        if (sqlite3_step(sel) != SQLITE_ROW)
            die("sqlite select", NULL);
        sqlite3_reset(sel);
    }
    rsecs = now() - t0;
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    sqlite3_close(db);
    *read_rate = reads / rsecs;
    report("sqlite insert, 1 commit each", writes, wsecs, 0);
    report("sqlite select by key", reads, rsecs, 0);
    return writes / wsecs;
}

typedef struct scoped {
    cu_vault *v;
    cu_id tenant, subject, *ids;
    int nids;
    atomic_int stop, scope; /* scope: bracket each read in a read scope */
    atomic_long reads;
    const char *doc;
} scoped;

static void *scoped_reader(void *arg)
{
    scoped *b = arg;
    cu_err err = {0};

    for (unsigned i = 0; !atomic_load(&b->stop); i++) {
        cu_record r;
        int sc = atomic_load(&b->scope);
        if (sc)
            cu_vault_read_begin(b->v);
        if (cu_record_read(b->v, b->tenant, b->ids[i % (unsigned)b->nids], &r, &err) != CU_OK)
            die("read", &err);
        if (sc)
            cu_vault_read_end(b->v);
        cu_record_cleanup(&r);
        atomic_fetch_add(&b->reads, 1);
    }
    return NULL;
}

static void *scoped_writer(void *arg)
{
    scoped *b = arg;
    cu_err err = {0};
    cu_id id;

    while (!atomic_load(&b->stop))
        if (cu_record_put(b->v, NULL, b->tenant, "employees", b->subject, b->doc, strlen(b->doc),
                          &id, &err) != CU_OK)
            die("put", &err);
    return NULL;
}

/* Reads with and without a scope per read, in 8 interleaved turns of 0.5 s, commits going on. */
static void read_scope_bench(scoped *b)
{
    pthread_t rd[2], wr;
    double t[2] = {0};
    long n[2] = {0};

    pthread_create(&wr, NULL, scoped_writer, b);
    for (int i = 0; i < 2; i++)
        pthread_create(&rd[i], NULL, scoped_reader, b);
    for (int turn = 0; turn < 16; turn++) {
        int sc = turn % 2;
        long r0;
        double t0;
        atomic_store(&b->scope, sc);
        usleep(20000); /* the readers' current reads finish in the new mode */
        r0 = atomic_load(&b->reads);
        t0 = now();
        usleep(500000);
        n[sc] += atomic_load(&b->reads) - r0;
        t[sc] += now() - t0;
    }
    atomic_store(&b->stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    pthread_join(wr, NULL);
    report("record reads, each its own reads", (int)n[0], t[0], 0);
    report("record reads, one read scope each", (int)n[1], t[1], n[0] / t[0]);
}

int main(int argc, char **argv)
{
    int writes = argc > 1 ? atoi(argv[1]) : 2000, reads = writes * 10;
    char dir[] = "/tmp/custos-bench-XXXXXX", data[600], cmd[700];
    const char *doc = "{\"name\":\"Ada Lovelace\",\"title\":\"Analyst\",\"dept\":\"Engines\","
                      "\"ssn\":\"123-45-6789\",\"notes\":\"Prefers email; met at the 1843 "
                      "conference about the analytical engine and its notes on Bernoulli "
                      "numbers.\",\"city\":\"London\",\"country\":\"GB\"}";
    cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 0}};
    cu_subject_in in = {.external_id = "bench-1", .email = "ada@example.com"};
    cu_vault_opts o = {0};
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_tenant t;
    cu_id s, *ids;
    double base_w, base_r, t0, secs;

    if (writes < 10)
        writes = 10, reads = 100;
    if (mkdtemp(dir) == NULL)
        return 1;
    printf("custos core benchmark: %d durable writes, %d reads, doc %zu bytes\n", writes, reads,
           strlen(doc));
    base_w = sqlite_baseline(dir, writes, reads, &base_r);

    snprintf(data, sizeof(data), "%s/data", dir);
    o.data_dir = data;
    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &v, &err) != CU_OK)
        die("vault", &err);
    if (cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "bench"}, &t, &err) != CU_OK ||
        cu_subject_create(v, NULL, t.id, &in, &s, &err) != CU_OK ||
        cu_collection_define(v, NULL, t.id, "employees", defs, 1, &err) != CU_OK)
        die("setup", &err);
    ids = calloc((size_t)writes, sizeof(*ids));
    t0 = now();
    for (int i = 0; i < writes; i++)
        if (cu_record_put(v, NULL, t.id, "employees", s, doc, strlen(doc), &ids[i], &err) != CU_OK)
            die("put", &err);
    secs = now() - t0;
    report("cu_record_put (sealed, indexed)", writes, secs, base_w);
    t0 = now();
    for (int i = 0; i < reads; i++) {
        cu_record r;
        if (cu_record_get(v, NULL, t.id, ids[i % writes], &r, &err) != CU_OK)
            die("get", &err);
        cu_record_cleanup(&r);
    }
    secs = now() - t0;
    report("cu_record_get (opened, merged)", reads, secs, base_r);
    read_scope_bench(&(scoped){.v = v, .tenant = t.id, .subject = s, .ids = ids, .nids = writes,
                               .doc = doc});
    free(ids);
    cu_vault_close(v);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
