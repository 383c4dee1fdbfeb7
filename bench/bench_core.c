/*
 * bench_core.c: the vault core's cost over the bare store, measured in one run.
 *
 * Baselines: raw SQLite with the same settings (WAL, synchronous=FULL), one INSERT per durable
 * transaction of a blob the size of a sealed record, and one SELECT by primary key. Against
 * them: cu_record_put (parse, classify, seal under a subject key, one sensitive field with a
 * blind index, one transaction) and cu_record_get (unwrap keys, open, merge, print). Results are
 * ratios to the baseline of the same run, since the machines are noisy.
 *
 * usage: bench_core [N]   (default 2000 writes, 20000 reads)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "custos.h"

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
    free(ids);
    cu_vault_close(v);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
