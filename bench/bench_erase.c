/*
 * bench_erase.c: what erasing a subject costs the caller, by the number of its records
 * (issue 17, item 5: "unreadable in under 5 ms at any size; the rows deleted in the
 * background").
 *
 * For each size N, a subject gets N records of 225 bytes with one sealed, blind-indexed field:
 * one written by cu_record_put, the others copied from it by SQL (new ids, same ciphertext), as
 * the erasure sees them; then the WAL is checkpointed, so each erasure starts from the same
 * state. Two ways, REPS times each, each time a fresh subject in the same vault:
 *   inline      cu_subject_erase without the vault's erasure thread: it returns once the key is
 *               gone and every row deleted (what the API answered after before issue 17);
 *   background  with the erasure thread (cu_vault_erase_start, as `custos serve` runs): the
 *               answer, then the time until the thread has deleted the last row.
 * Baseline: one durable commit of one row in bare SQLite (WAL, synchronous=FULL), the median
 * of 200 in the same run, since the machine is shared and noisy.
 *
 * Built against a tree without the erasure thread (no CU_ERASE_BATCH), it measures inline only:
 * the "before" figures of the same sizes.
 *
 * Erasure subject to legal retention (issue 10, item 4): the tenant has SCM's policy; the N
 * records are contacts (customer data: erased), and each subject has KEPT billing records more
 * (kept 7 years for legal compliance: sealed again under the retained key in the erasure's own
 * transaction). The answer may grow with KEPT, not with N.
 *
 * usage: bench_erase [N ...]   (default 10 1000 10000 100000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "custos.h"

#define REPS 5
#define BASE_COMMITS 200
#define KEPT 3
#define COLL "contacts"

static const char doc[] = "{\"name\":\"Ada Lovelace\",\"title\":\"Analyst\",\"company\":\"Engines\","
                          "\"email\":\"ada@example.com\",\"notes\":\"Prefers email; met at the "
                          "1843 conference about the analytical engine and its notes on Bernoulli "
                          "numbers. London, GB\"}";
static const char bill[] = "{\"billing_address\":\"12 St James's Square, London\","
                           "\"payment_method\":\"invoice\",\"invoice_number\":\"INV-1843\","
                           "\"amount\":\"1843.00\"}";

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const cu_err *err)
{
    fprintf(stderr, "bench_erase: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* The median seconds of one durable one-row commit in bare SQLite, in dir. */
static double sqlite_commit(const char *dir)
{
    char path[600];
    unsigned char blob[420];
    double t[BASE_COMMITS];
    sqlite3_stmt *ins;
    sqlite3 *db;

    snprintf(path, sizeof(path), "%s/baseline.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open", NULL);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE t(id INTEGER PRIMARY KEY, doc BLOB)",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO t(doc) VALUES(?)", -1, &ins, NULL);
    memset(blob, 0xab, sizeof(blob));
    for (int i = 0; i < BASE_COMMITS; i++) {
        double t0 = now();
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        sqlite3_bind_blob(ins, 1, blob, sizeof(blob), SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("sqlite insert", NULL);
        sqlite3_reset(ins);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        t[i] = now() - t0;
    }
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return median(t, BASE_COMMITS);
}

static void sql(sqlite3 *db, const char *text)
{
    char *msg = NULL;

    if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "bench_erase: sql: %s\n", msg ? msg : "?");
        exit(1);
    }
}

/* Whether the records are keyed by an internal key, their public ids its permutation (schema
 * 27, issue 17: the column keyed), so that this file also measures trees before schema 14
 * (copy_id); trees of schemas 14 to 26 it does not (their copies fail with an SQL error). */
static int keyed_by_rid(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rid = 0;

    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM pragma_table_info('records')"
                           " WHERE name = 'keyed'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        rid = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rid;
}

/* The copies of a record to its n - 1 copies (k), with its fields and blind index entries, on
 * a tree whose records are keyed by an internal key (schema 27 and later: the record put
 * through the vault is keyed = 1, found by its rid). The copies are rows of the older kind
 * (keyed = 0, ids id + i in records_by_id): which kind a row is does not change what its
 * erasure does. Every row is found by an index: the record by its rid (%2$lld), the copies by
 * (tenant_id, record_id) with keyed = 0, which the partial index needs stated. A join on
 * record_id alone walked the table for each copy, so that 100,000 records took hours. */
static const char copy_rid[] =
    "BEGIN;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
    " INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version,"
    " created_at, updated_at, doc, anonymized, version, keyed) SELECT tenant_id,"
    " record_id + i, collection, subject_id, key_version, created_at + i, updated_at,"
    " doc, anonymized, version, 0 FROM records, k WHERE rid = %2$lld;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
    " INSERT INTO record_fields(rid, field, ct) SELECT c.rid, f.field, f.ct"
    " FROM records o JOIN record_fields f ON f.rid = o.rid, k JOIN records c"
    " ON c.tenant_id = o.tenant_id AND c.record_id = o.record_id + i"
    " WHERE o.rid = %2$lld AND c.keyed = 0;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
    " INSERT INTO blind_index SELECT b.tenant_id, b.scope, b.digest, b.owner_id + i, b.uniq,"
    " c.rid FROM blind_index b, k JOIN records c ON c.tenant_id = b.tenant_id"
    " AND c.record_id = b.owner_id + i WHERE b.rid = %2$lld AND c.keyed = 0;"
    "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);";

/* The same on a tree before schema 14: every row found by its public id (%2$lld). */
static const char copy_id[] =
    "BEGIN;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
    " INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version,"
    " created_at, updated_at, doc, anonymized, version) SELECT tenant_id,"
    " record_id + i, collection, subject_id, key_version, created_at + i, updated_at,"
    " doc, anonymized, version FROM records, k WHERE record_id = %2$lld;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
    " INSERT INTO record_fields SELECT tenant_id, record_id + i, field, ct"
    " FROM record_fields, k WHERE record_id = %2$lld;"
    "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
    " INSERT INTO blind_index SELECT tenant_id, scope, digest, owner_id + i, uniq"
    " FROM blind_index, k WHERE owner_id = %2$lld;"
    "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);";

/* The rid of the record with public id r. */
static long long rid_of(sqlite3 *db, cu_id tenant, cu_id r)
{
    sqlite3_stmt *st = NULL;
    long long rid = -1;

    if (sqlite3_prepare_v2(db, "SELECT rid FROM records WHERE tenant_id = ? AND record_id = ?",
                           -1, &st, NULL) != SQLITE_OK)
        die("sqlite prepare", NULL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)tenant);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r);
    if (sqlite3_step(st) == SQLITE_ROW)
        rid = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rid < 0)
        die("the record put is not in the database", NULL);
    return rid;
}

/* A subject with n records: one put through the vault, n - 1 copies of it by SQL. */
static cu_id subject_with(cu_vault *v, cu_id tenant, sqlite3 *db, int n, int serial)
{
    char ext[32], text[2048];
    cu_subject_in in = {.external_id = ext, .email = "ada@example.com"};
    cu_err err = {0};
    cu_id s, r;

    snprintf(ext, sizeof(ext), "bench-%d", serial);
    if (cu_subject_create(v, NULL, tenant, &in, &s, &err) != CU_OK ||
        cu_record_put(v, NULL, tenant, COLL, s, doc, strlen(doc), &r, &err) != CU_OK)
        die("setup", &err);
    for (int k = 0; k < KEPT; k++) {
        cu_id b;
        if (cu_record_put(v, NULL, tenant, "billing_records", s, bill, strlen(bill), &b, &err) !=
            CU_OK)
            die("setup", &err);
    }
    if (n < 2)
        return s;
    if (keyed_by_rid(db))
        snprintf(text, sizeof(text), copy_rid, n - 1, rid_of(db, tenant, r));
    else
        snprintf(text, sizeof(text), copy_id, n - 1, (long long)r);
    sql(db, text);
    return s;
}

/* Whether s's erasure is still queued: its queue entry goes with its last rows (one probe, so
 * that the polling costs the eraser nothing), or else whether it has records at all. */
static long long pending(sqlite3 *db, cu_id s)
{
    sqlite3_stmt *st;
    long long n = -1;

#ifdef CU_ERASE_BATCH
    /* Marked kept once only the kept records are left (P-RET-4). */
    sqlite3_prepare_v2(db, "SELECT count(*) FROM erasures WHERE subject_id = ? AND kept = 0", -1,
                       &st, NULL);
#else
    sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM records WHERE subject_id = ?)", -1, &st,
                       NULL);
#endif
    sqlite3_bind_int64(st, 1, (sqlite3_int64)s);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static long long records_of(sqlite3 *db, cu_id s)
{
    sqlite3_stmt *st;
    long long n = -1;

    sqlite3_prepare_v2(db, "SELECT count(*) FROM records WHERE subject_id = ?", -1, &st, NULL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)s);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Times erasures of subjects with n records: the answer (answer[i]) and, with the erasure
 * thread, until the rows are gone (gone[i]). */
static void run(cu_vault *v, cu_id tenant, sqlite3 *db, int n, int background, double *answer,
                double *gone)
{
    static int serial;
    cu_err err = {0};

    for (int i = 0; i < REPS; i++) {
        cu_id s = subject_with(v, tenant, db, n, ++serial);
        double t0 = now();
        if (cu_subject_erase(v, NULL, tenant, s, &err) != CU_OK)
            die("erase", &err);
        answer[i] = now() - t0;
        gone[i] = answer[i];
        if (!background)
            continue;
        while (pending(db, s) > 0)
            usleep(500);
        gone[i] = now() - t0;
        if (records_of(db, s) != KEPT)
            die("records left after the erasure, or kept ones gone", NULL);
    }
}

static void report(int n, const char *how, double *answer, double *gone, double base)
{
    double a = median(answer, REPS), g = median(gone, REPS);

    printf("%7d records  %-10s  answer %9.2f ms (%6.1f commits)  rows gone %9.2f ms\n", n, how,
           a * 1e3, a / base, g * 1e3);
}

int main(int argc, char **argv)
{
    static const int defaults[] = {10, 1000, 10000, 100000};
    char dir[] = "/tmp/custos-bench-erase-XXXXXX", data[600], path[700], cmd[800];
    double answer[REPS], gone[REPS], base;
    int nsizes = argc > 1 ? argc - 1 : 4;
    cu_vault_opts o = {0};
    cu_vault *v = NULL;
    cu_err err = {0};
    sqlite3 *db = NULL;
    cu_tenant t;

    if (mkdtemp(dir) == NULL)
        return 1;
    base = sqlite_commit(dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    o.data_dir = data;
    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &v, &err) != CU_OK)
        die("vault", &err);
    if (cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "bench", .policy_builtin = "scm"}, &t,
                         &err) != CU_OK)
        die("setup", &err);
    snprintf(path, sizeof(path), "%s/custos.db", data);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("sqlite open", NULL);
    sqlite3_busy_timeout(db, 10000);
    printf("custos erase benchmark: %d erasures per figure (median), %d kept records each; bare "
           "SQLite durable commit %.2f ms (median of %d)\n",
           REPS, KEPT, base * 1e3, BASE_COMMITS);
    for (int k = 0; k < nsizes; k++) {
        int n = argc > 1 ? atoi(argv[k + 1]) : defaults[k];
        if (n < 1)
            n = 1;
        run(v, t.id, db, n, 0, answer, gone);
        report(n, "inline", answer, gone, base);
#ifdef CU_ERASE_BATCH
        /* The erasure thread, started and stopped around each size. */
        cu_vault_close(v);
        if (cu_vault_open(&o, &v, &err) != CU_OK || cu_vault_erase_start(v, &err) != CU_OK)
            die("vault", &err);
        run(v, t.id, db, n, 1, answer, gone);
        report(n, "background", answer, gone, base);
        cu_vault_close(v);
        if (cu_vault_open(&o, &v, &err) != CU_OK)
            die("vault", &err);
#endif
    }
    sqlite3_close(db);
    cu_vault_close(v);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
