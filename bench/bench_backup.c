/*
 * bench_backup.c: backup and restore throughput against a plain copy of the same database
 * (issue 11, item 8; docs/backup.md, RPO and RTO).
 *
 * A vault gets N records (default 100000, 225-byte documents, one subject per 1000 records, one
 * sealed blind-indexed field each) through cu_record_put_async; it is closed and opened again
 * so the WAL is in the database file. Then, REPS times each, in the same run:
 *   copy     read custos.db and write it to a new file, fsync'ed (what `cp` of the data
 *            directory costs: the baseline);
 *   backup   cu_backup_create: snapshot (VACUUM INTO), encrypt, sign, journal copied;
 *   verify   cu_backup_verify: decrypt into a temporary directory, every chain verified,
 *            subjects read back;
 *   restore  cu_backup_restore into a new directory (the journal replayed: nothing to do).
 * Each as MB/s of the database's size, the median of REPS, and the ratio to the copy.
 *
 * With CUSTOS_STORE=postgresql://... (an empty database) the vault lives there: the backup is
 * pg_backup.c's snapshot, the size the snapshot's (db_bytes), no copy is timed (run the SQLite
 * one beside it for the baseline), the restores go into directories, and with
 * CUSTOS_RESTORE_STORE=postgresql://... (another empty database) one more restore goes into it.
 *
 * usage: bench_backup [N]
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "custos.h"

#define REPS 3
#define INFLIGHT 2048

static const char doc[] = "{\"name\":\"Ada Lovelace\",\"title\":\"Analyst\",\"company\":\"Engines\","
                          "\"email\":\"ada@example.com\",\"notes\":\"Prefers email; met at the "
                          "1843 conference about the analytical engine and its notes on Bernoulli "
                          "numbers. London, GB\",\"ssn\":\"123-45-6789\"}";

static atomic_long pending, failed;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const cu_err *err)
{
    fprintf(stderr, "bench_backup: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void done(void *arg, cu_async_result *res)
{
    (void)arg;
    if (res->rc != CU_OK)
        atomic_fetch_add(&failed, 1);
    atomic_fetch_sub(&pending, 1);
}

static void fill(cu_vault *v, cu_id t, long n)
{
    static const cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 1},
                                        {"name", CU_FIELD_PERSONAL, 0}};
    cu_err err = {0};
    cu_id s = 0;

    if (cu_collection_define(v, NULL, t, "people", defs, 2, &err) != CU_OK)
        die("collection", &err);
    for (long i = 0; i < n; i++) {
        if (i % 1000 == 0) {
            char ext[32];
            snprintf(ext, sizeof(ext), "s%ld", i);
            cu_subject_in in = {.external_id = ext, .email = "someone@example.com"};
            while (atomic_load(&pending) > 0)
                usleep(100);
            if (cu_subject_create(v, NULL, t, &in, &s, &err) != CU_OK)
                die("subject", &err);
        }
        while (atomic_load(&pending) >= INFLIGHT)
            usleep(50);
        atomic_fetch_add(&pending, 1);
        if (cu_record_put_async(v, NULL, t, "people", s, doc, strlen(doc), done, NULL, &err) !=
            CU_OK)
            die("put", &err);
    }
    while (atomic_load(&pending) > 0)
        usleep(100);
    if (atomic_load(&failed) > 0)
        die("puts failed", NULL);
}

static double copy_file(const char *from, const char *to)
{
    static char buf[1 << 20];
    double t0 = now();
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ssize_t n;

    if (in < 0 || out < 0)
        die("copy open", NULL);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            die("copy write", NULL);
    fsync(out);
    close(in);
    close(out);
    unlink(to);
    return now() - t0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *t)
{
    qsort(t, REPS, sizeof(*t), cmp);
    return t[REPS / 2];
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    char dir[] = "/tmp/bench_backup.XXXXXX", data[300], bdir[300], db[400], cp[400];
    cu_ctx ctx = {.actor = "bench", .purpose = "administration", .flags = CU_CTX_LOCAL};
    double tc[REPS], tb[REPS], tv[REPS], tr[REPS], t0;
    cu_vault_opts o = {0};
    cu_backup_info b;
    cu_restore_report rep;
    cu_vault *v = NULL;
    cu_tenant t;
    cu_err err = {0};
    struct stat st;

    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(bdir, sizeof(bdir), "%s/backups", dir);
    snprintf(db, sizeof(db), "%s/custos.db", data);
    snprintf(cp, sizeof(cp), "%s/copy.db", dir);
    o.data_dir = data;
    o.store = getenv("CUSTOS_STORE");
    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &v, &err) != CU_OK)
        die("vault", &err);
    if (cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Bench"}, &t, &err) != CU_OK)
        die("tenant", &err);
    t0 = now();
    fill(v, t.id, n);
    fprintf(stderr, "filled %ld records in %.1f s\n", n, now() - t0);
    cu_vault_close(v);
    if (cu_vault_open(&o, &v, &err) != CU_OK)
        die("reopen", &err);
    double mb = stat(db, &st) == 0 ? (double)st.st_size / 1e6 : 0;
    for (int i = 0; i < REPS; i++) {
        char manifest[600], target[400];
        tc[i] = o.store ? 0 : copy_file(db, cp);
        t0 = now();
        if (cu_backup_create(v, &ctx, bdir, NULL, NULL, &b, &err) != CU_OK)
            die("backup", &err);
        tb[i] = now() - t0;
        if (o.store)
            mb = (double)b.db_bytes / 1e6;
        snprintf(manifest, sizeof(manifest), "%s/%s.manifest", bdir, b.id);
        cu_restore_opts ro = {.keys_dir = data, .backup = manifest, .target = target};
        snprintf(target, sizeof(target), "%s/restored%d", dir, i);
        t0 = now();
        if (cu_backup_verify(&ro, &rep, &err) != CU_OK)
            die("verify", &err);
        tv[i] = now() - t0;
        t0 = now();
        if (cu_backup_restore(&ro, &rep, &err) != CU_OK)
            die("restore", &err);
        tr[i] = now() - t0;
    }
    if (o.store && getenv("CUSTOS_RESTORE_STORE")) {
        char manifest[600], target[400];
        snprintf(manifest, sizeof(manifest), "%s/%s.manifest", bdir, b.id);
        snprintf(target, sizeof(target), "%s/restored-pg", dir);
        cu_restore_opts ro = {.keys_dir = data, .backup = manifest, .target = target,
                              .store = getenv("CUSTOS_RESTORE_STORE")};
        t0 = now();
        if (cu_backup_restore(&ro, &rep, &err) != CU_OK)
            die("restore into PostgreSQL", &err);
        printf("restore into PostgreSQL (once) %.3f s\n", now() - t0);
    }
    double c = median(tc), bk = median(tb), vf = median(tv), rs = median(tr);
    printf("records %ld, database %.1f MB, backup file %.1f MB (median of %d)\n", n, mb,
           (double)b.bytes / 1e6, REPS);
    if (o.store) { /* no file to copy: compare with the SQLite run beside it */
        printf("backup   %7.3f s %8.1f MB/s\n", bk, mb / bk);
        printf("verify   %7.3f s %8.1f MB/s\n", vf, mb / vf);
        printf("restore  %7.3f s %8.1f MB/s (into a directory)\n", rs, mb / rs);
    } else {
        printf("copy     %7.3f s %8.1f MB/s  1.00x\n", c, mb / c);
        printf("backup   %7.3f s %8.1f MB/s  %.2fx the copy's time\n", bk, mb / bk, bk / c);
        printf("verify   %7.3f s %8.1f MB/s  %.2fx\n", vf, mb / vf, vf / c);
        printf("restore  %7.3f s %8.1f MB/s  %.2fx\n", rs, mb / rs, rs / c);
    }
    cu_vault_close(v);
    char rm[400];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    return system(rm) == 0 ? 0 : 1;
}
