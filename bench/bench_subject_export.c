/*
 * bench_subject_export.c: one subject's export (P-DSR-1, P-DSR-2; issue 10, item 11) of
 * 100,000 records, in the core, against a bare SQLite scan of the same rows in the same run.
 *
 * Builds a vault (once: BENCH_SX_DIR keeps it, and a second run there measures again without
 * building) with one tenant under the scm policy and one subject whose N records (the 225-byte
 * document of bench_core, its personal fields sealed) are split over two collections, written
 * by 32 threads through cu_record_put (group commit). Then it runs itself again (exec), so the
 * measuring process never held the build's memory, and there: scans the same rows with bare
 * SQLite (the records and their sealed fields, in the export's order: the floor of any export,
 * no decryption), then exports the subject three times as JSON and once as a CSV zip, each
 * into a counting sink, printing records/s, MB/s, and this process's VmRSS and VmHWM (peak).
 * Goals (bench/README.md): at least 100,000 records/s, peak RSS under 64 MB.
 *
 * usage: bench_subject_export [N]   (default 100000)
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "custos.h"

#define THREADS 32

static const char DOC[] =
    "{\"name\":\"Ada Lovelace\",\"title\":\"Analyst\",\"company\":\"Engines\",\"email\":"
    "\"ada@example.com\",\"notes\":\"Prefers email; met at the 1843 conference about the "
    "analytical engine and its notes on Bernoulli numbers.\",\"phone\":\"+44 20 7946 0000\"}";

typedef struct job {
    cu_vault *v;
    cu_id tenant, subject;
    long n, next; /* next: the next record to write, taken under lock */
    pthread_mutex_t lock;
} job;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user and system) of this process so far. */
static double cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, const cu_err *err)
{
    fprintf(stderr, "bench_subject_export: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* This process's VmRSS or VmHWM in MB. */
static double status_mb(const char *field)
{
    char line[256];
    double kb = 0;
    FILE *f = fopen("/proc/self/status", "r");

    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0)
            kb = strtod(line + strlen(field) + 1, NULL);
    if (f != NULL)
        fclose(f);
    return kb / 1024;
}

static void *writer(void *arg)
{
    job *j = arg;
    cu_err err = {0};
    cu_id id;

    for (;;) {
        long i;
        pthread_mutex_lock(&j->lock);
        i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n)
            return NULL;
        if (cu_record_put(j->v, NULL, j->tenant, i % 4 ? "contacts" : "tickets", j->subject, DOC,
                          strlen(DOC), &id, &err) != CU_OK)
            die("put", &err);
    }
}

static void build(const char *root, const char *data, long n)
{
    cu_subject_in in = {.external_id = "bench", .email = "ada@example.com"};
    cu_vault_opts o = {.data_dir = data};
    pthread_t th[THREADS];
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_tenant t;
    job j = {.n = n, .lock = PTHREAD_MUTEX_INITIALIZER};
    char path[600];
    double t0 = now();
    FILE *f;

    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &v, &err) != CU_OK)
        die("vault", &err);
    if (cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "bench", .policy_builtin = "scm"}, &t,
                         &err) != CU_OK ||
        cu_subject_create(v, NULL, t.id, &in, &j.subject, &err) != CU_OK)
        die("setup", &err);
    j.v = v;
    j.tenant = t.id;
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, writer, &j);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cu_vault_close(v);
    snprintf(path, sizeof(path), "%s/subject", root);
    if ((f = fopen(path, "w")) == NULL)
        die("subject file", NULL);
    fprintf(f, "%llu %llu %ld\n", (unsigned long long)t.id, (unsigned long long)j.subject, n);
    fclose(f);
    printf("built %ld records of one subject in %.1f s\n", n, now() - t0);
}

/* The floor: the same rows (records and their sealed fields) in the export's order, read by
 * bare SQLite, nothing opened. Returns the bytes read; *rows the rows. */
static size_t bare_scan(const char *data, cu_id tenant, cu_id subject, long *rows)
{
    static const char sql[] = "SELECT r.record_id, r.collection, r.created_at, r.updated_at, r.doc,"
                              " (SELECT sum(length(f.ct)) FROM record_fields f"
                              "  WHERE f.rid = r.rid)" /* schema 14: fields by the record's rid */
                              " FROM records r WHERE r.tenant_id = ? AND r.subject_id = ?"
                              " ORDER BY r.collection, r.created_at, r.record_id";
    char path[700];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t bytes = 0;

    *rows = 0;
    snprintf(path, sizeof(path), "%s/custos.db", data);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die("bare scan", NULL);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)tenant);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)subject);
    while (sqlite3_step(st) == SQLITE_ROW) {
        bytes += (size_t)sqlite3_column_bytes(st, 4) + (size_t)sqlite3_column_int64(st, 5);
        (void)sqlite3_column_blob(st, 4);
        (*rows)++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return bytes;
}

/* One export into a counting sink: its bytes. */
static size_t export_once(cu_vault *v, cu_id tenant, cu_id subject, cu_subject_export_format fmt)
{
    cu_request_in in = {.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_ADMIN, .subject = subject};
    cu_request_filed filed = {0};
    static char buf[65536];
    cu_subject_export *x = NULL;
    cu_err err = {0};
    size_t bytes = 0, n = 0;

    /* The export answers an access request (docs/dsr.md): filed by an administrator and
     * acknowledged, outside the measured part but for the request's own check at the open. */
    if (cu_request_file(v, NULL, tenant, &in, &filed, &err) != CU_OK ||
        cu_request_acknowledge(v, NULL, tenant, filed.id, &err) != CU_OK ||
        cu_request_export_open(v, NULL, tenant, filed.id,
                               fmt == CU_SUBJECT_EXPORT_JSON ? "json" : "csv", &x, &err) != CU_OK)
        die("export", &err);
    while (cu_subject_export_read(x, buf, sizeof(buf), &n, &err) == CU_OK && n > 0)
        bytes += n;
    if (err.code != CU_OK)
        die("export", &err);
    cu_subject_export_free(x);
    return bytes;
}

static void measure(const char *root, const char *data)
{
    unsigned long long tenant = 0, subject = 0;
    cu_vault_opts o = {.data_dir = data};
    cu_vault *v = NULL;
    cu_err err = {0};
    char path[600];
    long n = 0, rows = 0;
    double t0, c0, secs, bare;
    size_t bytes;
    FILE *f;

    snprintf(path, sizeof(path), "%s/subject", root);
    if ((f = fopen(path, "r")) == NULL || fscanf(f, "%llu %llu %ld", &tenant, &subject, &n) != 3)
        die("no subject file", NULL);
    fclose(f);
    t0 = now();
    c0 = cpu();
    bytes = bare_scan(data, (cu_id)tenant, (cu_id)subject, &rows);
    secs = bare = now() - t0;
    printf("bare SQLite scan: %ld rows in %.3f s, %.0f rows/s (%.0f per CPU second), %.1f MB "
           "sealed, VmHWM %.1f MB\n",
           rows, secs, (double)rows / secs, (double)rows / (cpu() - c0), (double)bytes / 1e6,
           status_mb("VmHWM:"));
    if (cu_vault_open(&o, &v, &err) != CU_OK)
        die("vault", &err);
    printf("vault open: VmRSS %.1f MB\n", status_mb("VmRSS:"));
    for (int i = 0; i < 4; i++) {
        cu_subject_export_format fmt = i < 3 ? CU_SUBJECT_EXPORT_JSON : CU_SUBJECT_EXPORT_CSV_ZIP;
        t0 = now();
        c0 = cpu();
        bytes = export_once(v, (cu_id)tenant, (cu_id)subject, fmt);
        secs = now() - t0;
        printf("export %s: %.3f s, %.0f records/s (%.0f per CPU second; %.2fx the bare scan's "
               "time), %.1f MB, %.1f MB/s, VmRSS %.1f MB, VmHWM %.1f MB\n",
               i < 3 ? "json" : "csv zip", secs, (double)n / secs, (double)n / (cpu() - c0),
               secs / bare, (double)bytes / 1e6, (double)bytes / 1e6 / secs, status_mb("VmRSS:"),
               status_mb("VmHWM:"));
    }
    cu_vault_close(v);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    const char *keep = getenv("BENCH_SX_DIR"), *phase = getenv("BENCH_SX_PHASE");
    char dir[] = "/tmp/custos-bench-sx-XXXXXX", data[600], subject_file[600], cmd[700];
    const char *root = keep ? keep : getenv("BENCH_SX_ROOT");
    int rc;

    if (phase != NULL && strcmp(phase, "measure") == 0 && root != NULL) {
        snprintf(data, sizeof(data), "%s/data", root);
        measure(root, data);
        return 0;
    }
    if (root == NULL && (root = mkdtemp(dir)) == NULL)
        return 1;
    snprintf(data, sizeof(data), "%s/data", root);
    snprintf(subject_file, sizeof(subject_file), "%s/subject", root);
    if (access(subject_file, R_OK) != 0)
        build(root, data, n);
    /* A fresh process measures: its peak RSS is the export's, not the build's. */
    snprintf(cmd, sizeof(cmd), "BENCH_SX_PHASE=measure BENCH_SX_ROOT='%s' '%s'", root, argv[0]);
    rc = system(cmd);
    if (keep == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            rc = 1;
    }
    return rc == 0 ? 0 : 1;
}
