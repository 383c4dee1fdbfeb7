/*
 * bench_export.c: a tenant's export (P-DSR-2) of about 111,000 records, in the core.
 *
 * Builds a vault (once: BENCH_EXPORT_DIR keeps it, and a second run there measures again
 * without building) with one tenant, the `employees` collection (ssn sensitive), N / 100
 * subjects of 90 records each (the 225-byte document of bench_core) and the rest as the
 * tenant's own records, written by 32 threads through cu_record_put (group commit). Then it
 * exports the tenant three times and prints, for each, records/s, MB of JSON and this
 * process's VmRSS and VmHWM after it. Writes the tenant id and its owner key to DIR/tenant and
 * DIR/owner_key, for bench/export.sh to serve the same vault. BENCH_EXPORT_BUILD_ONLY=1 stops
 * after building. Built against the library of an older commit with -DBENCH_EXPORT_OLD, it
 * exports with cu_tenant_export (the whole document in memory), the "before" of bench/README.md.
 *
 * usage: bench_export [N]   (default 111000)
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "custos.h"

#define THREADS 32
#define PER_SUBJECT 90

static const char DOC[] =
    "{\"name\":\"Ada Lovelace\",\"title\":\"Analyst\",\"dept\":\"Engines\",\"ssn\":\"123-45-6789\","
    "\"notes\":\"Prefers email; met at the 1843 conference about the analytical engine and its "
    "notes on Bernoulli numbers.\",\"city\":\"London\",\"country\":\"GB\"}";

typedef struct job {
    cu_vault *v;
    cu_id tenant;
    cu_id *subjects; /* record i belongs to subjects[i / PER_SUBJECT], or 0 past nsubjects */
    size_t nsubjects;
    long n;
    long next; /* the next record to write, taken under lock */
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
    fprintf(stderr, "bench_export: %s: %s\n", what, err ? err->msg : "failed");
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

    for (;;) {
        long i;
        size_t s;
        cu_id id;
        pthread_mutex_lock(&j->lock);
        i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n)
            return NULL;
        s = (size_t)i / PER_SUBJECT;
        if (cu_record_put(j->v, NULL, j->tenant, "employees", s < j->nsubjects ? j->subjects[s] : 0,
                          DOC, strlen(DOC), &id, &err) != CU_OK)
            die("put", &err);
    }
}

static void build(cu_vault *v, const char *dir, long n)
{
    cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 0}};
    char secret[CU_APIKEY_SECRET_MAX], path[600], ext[32];
    pthread_t th[THREADS];
    cu_err err = {0};
    cu_tenant t;
    job j = {.v = v, .n = n, .lock = PTHREAD_MUTEX_INITIALIZER};
    double t0 = now();
    FILE *f;

    if (cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "bench", .owner_secret = secret}, &t,
                         &err) != CU_OK ||
        cu_collection_define(v, NULL, t.id, "employees", defs, 1, &err) != CU_OK)
        die("setup", &err);
    j.tenant = t.id;
    j.nsubjects = (size_t)(n / 100);
    j.subjects = calloc(j.nsubjects + 1, sizeof(cu_id));
    for (size_t i = 0; i < j.nsubjects; i++) {
        cu_subject_in in = {.external_id = ext, .email = "ada@example.com"};
        snprintf(ext, sizeof(ext), "bench-%zu", i);
        if (cu_subject_create(v, NULL, t.id, &in, &j.subjects[i], &err) != CU_OK)
            die("subject", &err);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, writer, &j);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    free(j.subjects);
    snprintf(path, sizeof(path), "%s/tenant", dir);
    if ((f = fopen(path, "w")) == NULL)
        die("tenant file", NULL);
    fprintf(f, "%llu\n", (unsigned long long)t.id);
    fclose(f);
    snprintf(path, sizeof(path), "%s/owner_key", dir);
    if ((f = fopen(path, "w")) == NULL)
        die("key file", NULL);
    fprintf(f, "%s\n", secret);
    fclose(f);
    printf("built %ld records (%zu subjects of %d, the rest the tenant's own) in %.1f s\n", n,
           (size_t)(n / 100), PER_SUBJECT, now() - t0);
}

static cu_id read_tenant(const char *dir)
{
    char path[600];
    unsigned long long id = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tenant", dir);
    if ((f = fopen(path, "r")) == NULL || fscanf(f, "%llu", &id) != 1)
        die("no tenant file in BENCH_EXPORT_DIR", NULL);
    fclose(f);
    return (cu_id)id;
}

#ifndef BENCH_EXPORT_OLD
static int count(void *arg, const char *data, size_t n)
{
    (void)data;
    *(size_t *)arg += n;
    return 0;
}
#endif

/* One export: its bytes. */
static size_t export_once(cu_vault *v, cu_id tenant)
{
    cu_ctx ctx = {.actor = "bench", .purpose = CU_PURPOSE_EXPORT};
    cu_err err = {0};
    size_t bytes = 0;
#ifdef BENCH_EXPORT_OLD
    char *json = NULL;

    if (cu_tenant_export(v, &ctx, tenant, &json, &bytes, &err) != CU_OK)
        die("export", &err);
    cu_str_wipe(json);
    free(json);
#else
    if (cu_tenant_export_write(v, &ctx, tenant, count, &bytes, &err) != CU_OK)
        die("export", &err);
#endif
    return bytes;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 111000;
    const char *keep = getenv("BENCH_EXPORT_DIR"), *only = getenv("BENCH_EXPORT_BUILD_ONLY");
    char dir[] = "/tmp/custos-bench-export-XXXXXX", data[600], tenant_file[600], cmd[700];
    const char *root = keep;
    cu_vault_opts o = {0};
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_id tenant;

    if (root == NULL && (root = mkdtemp(dir)) == NULL)
        return 1;
    snprintf(data, sizeof(data), "%s/data", root);
    snprintf(tenant_file, sizeof(tenant_file), "%s/tenant", root);
    o.data_dir = data;
    if (access(tenant_file, R_OK) != 0) {
        if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &v, &err) != CU_OK)
            die("vault", &err);
        build(v, root, n);
    } else if (cu_vault_open(&o, &v, &err) != CU_OK) {
        die("vault", &err);
    }
    tenant = read_tenant(root);
    if (only == NULL || strcmp(only, "1") != 0) {
        printf("export of tenant %llu, idle VmRSS %.1f MB\n", (unsigned long long)tenant,
               status_mb("VmRSS:"));
        for (int i = 0; i < 3; i++) {
            double t0 = now(), c0 = cpu(), secs, csecs;
            size_t bytes = export_once(v, tenant);
            secs = now() - t0;
            csecs = cpu() - c0;
            printf("export %d: %.2f s, %.0f records/s (%.0f per CPU second), %.1f MB, VmRSS %.1f "
                   "MB, VmHWM %.1f MB\n",
                   i + 1, secs, (double)n / secs, (double)n / csecs, (double)bytes / 1e6,
                   status_mb("VmRSS:"), status_mb("VmHWM:"));
        }
    }
    cu_vault_close(v);
    if (keep != NULL)
        return 0;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}
