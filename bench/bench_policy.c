/*
 * bench_policy.c: what enforcing a tenant's privacy policy costs per request, measured in one
 * run against a tenant without a policy in the same vault.
 *
 * Two tenants hold the same subjects and the same records in collection "contacts", with the
 * same field classes (SCM's: email and phone indexed): the baseline tenant has no policy, the
 * other is bound to the built-in SCM policy (cu_policy_builtin, cu_tenant_set_policy), where
 * contacts is customer_data. Timed op by op and interleaved, so that both tenants see the same
 * machine at the same moment:
 *  - cu_record_get, purpose "support" (basis contract): with the policy, the purpose lookup,
 *    its coverage of the collection's category, and the subject's row (restriction);
 *  - cu_record_get, purpose "shared_on_request" (basis consent) after a grant: the same plus
 *    the subject's newest ledger entry for that purpose;
 *  - cu_record_put, purpose "support": with the policy, the collection and purpose checks.
 * Each durable op's store transaction time (cu_vault_commit_stats: the audit commit and the
 * write, fsync included) is split from the rest, and its median is reported next to the mean.
 * Every one of these commits its audit entry (fsync) before it returns, so the purpose check
 * alone, cu_purpose_check(), is timed too, in tight loops, against the same call on the tenant
 * without a policy (a cached lookup that finds no policy and returns), with cu_record_read (the
 * read without its check and without its audit commit) for scale; and once more as a request
 * meets it, one call right after each commit (of an untimed baseline read).
 *
 * Then the sweep, on a third SCM tenant with D billing records (kept 7 years from creation)
 * and D/3 contacts (kept while the tenant lives), the clock moved by cu_clock_set: pass 1 past
 * the audit log's 12 months (the logs pruned, no record due), pass 2 past 7 years (the D
 * billing records deleted, each in its own audited commit), pass 3 with nothing due (the scan).
 *
 * Figures are medians over rounds of per-round means; ratios are per round, then the median.
 *
 * usage: bench_policy [N]    N reads per variant per round (default 600), N/2 writes
 *   BENCH_POLICY_ROUNDS=R    rounds (default 9)
 *   BENCH_POLICY_SWEEP=D     billing records the sweep deletes (default 3000)
 *   BENCH_POLICY_CHECK_ONLY=S  only cu_purpose_check on the SCM tenant ("support") for S
 *                            seconds, for profiles (perf record, valgrind --tool=callgrind
 *                            --toggle-collect=cu_purpose_check); with
 *   BENCH_POLICY_CHECK_CONSENT=1  the consent purpose instead
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record_int.h" /* cu_record_read: a read without its check and audit entry */
#include "custos.h"
#include "util.h" /* cu_clock_set: the sweep's clock */

#define SUBJECTS 64
#define PER_SUBJECT 2
#define RECORDS (SUBJECTS * PER_SUBJECT)
#define MAX_ROUNDS 31
#define CHECK_BLOCK 2000 /* calls per timed block of the micro loops */
#define CHECK_BLOCKS 5   /* blocks per variant per round */
#define DAY 86400

enum {
    GET_BASE,
    GET_SUPPORT,
    GET_CONSENT,
    PUT_BASE,
    PUT_POLICY,
    CHECK_BASE,
    CHECK_SUPPORT,
    CHECK_CONSENT,
    READ_NOCOMMIT,
    CHECK_SUPPORT_COLD,
    CHECK_CONSENT_COLD,
    NVAR
};

static const char *const var_name[NVAR] = {
    [GET_BASE] = "cu_record_get, no policy (baseline)",
    [GET_SUPPORT] = "cu_record_get, SCM, \"support\"",
    [GET_CONSENT] = "cu_record_get, SCM, consent purpose",
    [PUT_BASE] = "cu_record_put, no policy (baseline)",
    [PUT_POLICY] = "cu_record_put, SCM, \"support\"",
    [CHECK_BASE] = "cu_purpose_check, no policy (baseline)",
    [CHECK_SUPPORT] = "cu_purpose_check, SCM, \"support\"",
    [CHECK_CONSENT] = "cu_purpose_check, SCM, consent purpose",
    [READ_NOCOMMIT] = "cu_record_read, SCM (no check, no audit)",
    [CHECK_SUPPORT_COLD] = "cu_purpose_check \"support\", after commit",
    [CHECK_CONSENT_COLD] = "cu_purpose_check consent, after commit",
};

/* Each variant's baseline (itself for a baseline). */
static const int var_base[NVAR] = {
    [GET_BASE] = GET_BASE,        [GET_SUPPORT] = GET_BASE,     [GET_CONSENT] = GET_BASE,
    [PUT_BASE] = PUT_BASE,        [PUT_POLICY] = PUT_BASE,      [CHECK_BASE] = CHECK_BASE,
    [CHECK_SUPPORT] = CHECK_BASE, [CHECK_CONSENT] = CHECK_BASE, [READ_NOCOMMIT] = -1,
    [CHECK_SUPPORT_COLD] = -1,    [CHECK_CONSENT_COLD] = -1,
};

typedef struct world {
    cu_vault *v;
    cu_id base, scm;
    cu_id base_subj[SUBJECTS], scm_subj[SUBJECTS];
    cu_id base_rec[RECORDS], scm_rec[RECORDS];
    long scm_records; /* the SCM tenant's records, for the sweep's scan */
} world;

static const char *const doc =
    "{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"phone\":\"+44 20 7946 0958\","
    "\"company\":\"Analytical Engines Ltd\",\"title\":\"Analyst\",\"notes\":\"Prefers email; met "
    "at the 1843 conference about the analytical engine and its notes on Bernoulli numbers.\"}";

static const char *const billing_doc =
    "{\"billing_address\":\"12 St James's Square, London SW1Y 4JH\",\"payment_method\":\"card\","
    "\"card_last4\":\"4242\",\"invoice_number\":\"INV-2026-000123\",\"amount\":\"120.00\"}";

/* Contexts as the API builds them: a key, a purpose, a source and a request id. */
static const cu_ctx ctx_support = {.actor = "key:1234567890123456789",
                                   .purpose = "support",
                                   .source = "203.0.113.7",
                                   .request_id = "0123456789abcdef0123456789abcdef"};
static const cu_ctx ctx_consent = {.actor = "key:1234567890123456789",
                                   .purpose = "shared_on_request",
                                   .source = "203.0.113.7",
                                   .request_id = "0123456789abcdef0123456789abcdef"};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const cu_err *err)
{
    fprintf(stderr, "bench_policy: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(const double *xs, int n)
{
    double s[MAX_ROUNDS];

    memcpy(s, xs, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static cu_id setup_tenant(world *w, const char *name, int policy, cu_id *subj, cu_id *rec)
{
    cu_err err = {0};
    cu_tenant t;
    cu_policy *p = NULL;
    const cu_policy_collection *c;
    size_t len = 0;
    const char *text = cu_policy_builtin("scm", &len);

    if (text == NULL || cu_policy_parse(text, len, "scm", &p, &err) != CU_OK)
        die("the built-in SCM policy", &err);
    if (cu_tenant_create(w->v, NULL, &(cu_tenant_opts){.name = name}, &t, &err) != CU_OK)
        die("tenant", &err);
    if (policy) {
        if (cu_tenant_set_policy(w->v, NULL, t.id, text, len, "scm", NULL, &err) != CU_OK)
            die("set policy", &err);
    } else {
        /* The same field classes as SCM's contacts, without the policy. */
        c = cu_policy_collection_get(p, "contacts");
        if (c == NULL || cu_collection_define(w->v, NULL, t.id, "contacts", c->fields, c->n_fields,
                                              &err) != CU_OK)
            die("collection", &err);
    }
    cu_policy_free(p);
    for (int i = 0; i < SUBJECTS; i++) {
        char ext[32];
        cu_subject_in in = {.external_id = ext, .email = "ada@example.com"};
        snprintf(ext, sizeof(ext), "crm-%d", i);
        if (cu_subject_create(w->v, &ctx_support, t.id, &in, &subj[i], &err) != CU_OK)
            die("subject", &err);
        for (int j = 0; j < PER_SUBJECT; j++)
            if (cu_record_put(w->v, &ctx_support, t.id, "contacts", subj[i], doc, strlen(doc),
                              &rec[i * PER_SUBJECT + j], &err) != CU_OK)
                die("record", &err);
        if (policy && cu_consent_record(w->v, &ctx_support, t.id, subj[i], "shared_on_request",
                                        CU_CONSENT_GRANT, "web", &err) != CU_OK)
            die("consent", &err);
    }
    return t.id;
}

/* One durable operation of variant k on record i (or subject i for a put). */
static void durable_op(world *w, int k, int i)
{
    cu_err err = {0};
    cu_record r;
    cu_id id;
    cu_rc rc;

    switch (k) {
    case GET_BASE:
        rc = cu_record_get(w->v, &ctx_support, w->base, w->base_rec[i], &r, &err);
        break;
    case GET_SUPPORT:
        rc = cu_record_get(w->v, &ctx_support, w->scm, w->scm_rec[i], &r, &err);
        break;
    case GET_CONSENT:
        rc = cu_record_get(w->v, &ctx_consent, w->scm, w->scm_rec[i], &r, &err);
        break;
    case PUT_BASE:
        rc = cu_record_put(w->v, &ctx_support, w->base, "contacts", w->base_subj[i % SUBJECTS], doc,
                           strlen(doc), &id, &err);
        break;
    default:
        rc = cu_record_put(w->v, &ctx_support, w->scm, "contacts", w->scm_subj[i % SUBJECTS], doc,
                           strlen(doc), &id, &err);
        w->scm_records++;
        break;
    }
    if (rc != CU_OK)
        die(var_name[k], &err);
    if (k <= GET_CONSENT)
        cu_record_cleanup(&r);
}

/* CHECK_BLOCK calls of micro variant k; returns seconds. */
static double micro_block(world *w, int k, int start)
{
    cu_err err = {0};
    cu_rc rc = CU_OK;
    double t0 = now();

    for (int n = 0; n < CHECK_BLOCK && rc == CU_OK; n++) {
        int i = (start + n) % SUBJECTS;
        cu_record r;
        switch (k) {
        case CHECK_BASE:
            rc = cu_purpose_check(w->v, &ctx_support, w->base, w->base_subj[i], "contacts", &err);
            break;
        case CHECK_SUPPORT:
            rc = cu_purpose_check(w->v, &ctx_support, w->scm, w->scm_subj[i], "contacts", &err);
            break;
        case CHECK_CONSENT:
            rc = cu_purpose_check(w->v, &ctx_consent, w->scm, w->scm_subj[i], "contacts", &err);
            break;
        default:
            if ((rc = cu_record_read(w->v, w->scm, w->scm_rec[(start + n) % RECORDS], &r, &err)) ==
                CU_OK)
                cu_record_cleanup(&r);
            break;
        }
    }
    if (rc != CU_OK)
        die(var_name[k], &err);
    return now() - t0;
}

/* Times one durable op of variant k; adds its store transaction time (the audit commit and
 * the write, fsync included) to txn. */
static double timed_op(world *w, int k, int i, double *txn)
{
    cu_commit_stats a, b;
    double t0;

    cu_vault_commit_stats(w->v, &a);
    t0 = now();
    durable_op(w, k, i);
    t0 = now() - t0;
    cu_vault_commit_stats(w->v, &b);
    *txn += b.seconds - a.seconds;
    return t0;
}

/* Sorts xs in place and returns its median. */
static double median_sort(double *xs, int n)
{
    qsort(xs, (size_t)n, sizeof(*xs), cmp_double);
    return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

/* One round: every variant, interleaved. us[k] gets the round's mean microseconds per op;
 * for the durable variants, p50[k] the median op and txn[k] the mean part spent in store
 * transactions (the audit commit and the write, fsync included). */
static void round_run(world *w, int reads, int r, double us[NVAR], double p50[NVAR],
                      double txn[NVAR])
{
    double sum[NVAR] = {0}, *lat[PUT_POLICY + 1];
    int cnt[NVAR] = {0};

    for (int k = 0; k <= PUT_POLICY; k++)
        if ((lat[k] = malloc((size_t)reads * sizeof(double))) == NULL)
            die("out of memory", NULL);
    memset(txn, 0, NVAR * sizeof(*txn));
    memset(p50, 0, NVAR * sizeof(*p50));
    for (int i = 0; i < reads; i++)
        for (int j = 0; j < 3; j++) {
            int k = GET_BASE + (i + j + r) % 3; /* rotate the order within each triple */
            lat[k][cnt[k]] = timed_op(w, k, (i * 7 + r) % RECORDS, &txn[k]);
            sum[k] += lat[k][cnt[k]++];
        }
    for (int i = 0; i < reads / 2; i++)
        for (int j = 0; j < 2; j++) {
            int k = PUT_BASE + (i + j + r) % 2;
            lat[k][cnt[k]] = timed_op(w, k, i + r, &txn[k]);
            sum[k] += lat[k][cnt[k]++];
        }
    /* The check as a request meets it: right after a commit (a baseline read's, untimed), on
     * caches the fsync and the writer have cooled. Apart from the comparison above, which it
     * would disturb (it warms a reader connection). */
    for (int i = 0; i < reads / 2; i++) {
        int c = (i + r) % 2 ? CHECK_CONSENT_COLD : CHECK_SUPPORT_COLD;
        cu_err err = {0};
        double t0;
        durable_op(w, GET_BASE, (i * 7 + r) % RECORDS);
        t0 = now();
        if (cu_purpose_check(w->v, c == CHECK_SUPPORT_COLD ? &ctx_support : &ctx_consent, w->scm,
                             w->scm_subj[(i * 5 + r) % SUBJECTS], "contacts", &err) != CU_OK)
            die(var_name[c], &err);
        sum[c] += now() - t0;
        cnt[c]++;
    }
    for (int blk = 0; blk < CHECK_BLOCKS; blk++)
        for (int j = 0; j < 4; j++) {
            int k = CHECK_BASE + (blk + j + r) % 4;
            sum[k] += micro_block(w, k, blk * 17 + r);
            cnt[k] += CHECK_BLOCK;
        }
    for (int k = 0; k < NVAR; k++) {
        us[k] = sum[k] / cnt[k] * 1e6;
        txn[k] = txn[k] / cnt[k] * 1e6;
        if (k <= PUT_POLICY) {
            p50[k] = median_sort(lat[k], cnt[k]) * 1e6;
            free(lat[k]);
        }
    }
}

static void check_only(world *w, double secs, int k)
{
    double t0 = now(), t;
    long calls = 0;

    do {
        micro_block(w, k, (int)calls);
        calls += CHECK_BLOCK;
    } while ((t = now() - t0) < secs);
    printf("%-42s %9.2f us/call  (%ld calls in %.1f s)\n", var_name[k], t / (double)calls * 1e6,
           calls, t);
}

/* The sweep on a third SCM tenant: due billing records (7 years), due / 3 contacts kept. */
static void sweep_bench(world *w, int due)
{
    const cu_ctx sweeper = {.actor = "sweeper", .purpose = "retention", .flags = CU_CTX_LOCAL};
    const cu_ctx pay = {.actor = "key:1234567890123456789", .purpose = "payments"};
    int64_t t0 = (int64_t)time(NULL);
    const char *text;
    size_t len = 0;
    cu_err err = {0};
    cu_tenant t;
    cu_sweep_report rep[3];
    double secs[3], s0, put;
    cu_id subj[SUBJECTS], id;
    int kept = due / 3;

    text = cu_policy_builtin("scm", &len);
    if (cu_tenant_create(w->v, NULL, &(cu_tenant_opts){.name = "sweep"}, &t, &err) != CU_OK ||
        cu_tenant_set_policy(w->v, NULL, t.id, text, len, "scm", NULL, &err) != CU_OK)
        die("sweep tenant", &err);
    for (int i = 0; i < SUBJECTS; i++) {
        char ext[32];
        cu_subject_in in = {.external_id = ext};
        snprintf(ext, sizeof(ext), "sweep-%d", i);
        if (cu_subject_create(w->v, &ctx_support, t.id, &in, &subj[i], &err) != CU_OK)
            die("sweep subject", &err);
    }
    s0 = now();
    for (int i = 0; i < due; i++)
        if (cu_record_put(w->v, &pay, t.id, "billing_records", subj[i % SUBJECTS], billing_doc,
                          strlen(billing_doc), &id, &err) != CU_OK)
            die("billing record", &err);
    put = (now() - s0) / due;
    for (int i = 0; i < kept; i++)
        if (cu_record_put(w->v, &ctx_support, t.id, "contacts", subj[i % SUBJECTS], doc,
                          strlen(doc), &id, &err) != CU_OK)
            die("contact", &err);
    /* 1: past the audit log's 12 months, before any record's retention; 2: past billing's
     * 7 years (at most 7 * 365 + 2 days); 3: the same instant, nothing left due. */
    for (int pass = 0; pass < 3; pass++) {
        cu_clock_set(t0 + (pass == 0 ? 400 : 7 * 365 + 10) * (int64_t)DAY);
        s0 = now();
        if (cu_sweep(w->v, &sweeper, &rep[pass], &err) != CU_OK)
            die("sweep", &err);
        secs[pass] = now() - s0;
    }
    cu_clock_set(0);
    if (rep[1].records_deleted != (uint64_t)due || rep[0].records_deleted != 0 ||
        rep[2].records_deleted != 0)
        die("sweep: unexpected deletions", NULL);
    printf("\nsweep: %d billing records due (7 years from creation), %d contacts kept; the SCM "
           "tenant's %ld contacts kept too (the baseline tenant has no policy: not swept)\n",
           due, kept, w->scm_records);
    printf("  (cu_record_put of the billing records while building: %.0f us/op)\n", put * 1e6);
    printf("%-42s %9.3f s   %zu tenants' audit logs pruned (the longest through entry %llu), "
           "no record due\n",
           "pass 1, +400 d: audit logs pruned", secs[0], rep[0].audit_tenants_pruned,
           (unsigned long long)rep[0].audit_pruned_through_max);
    printf("%-42s %9.3f s   %llu deleted: %.0f records/s, %.0f us per deletion, "
           "%.2f x a put\n",
           "pass 2, +7 y: billing records deleted", secs[1],
           (unsigned long long)rep[1].records_deleted, (double)due / secs[1], secs[1] / due * 1e6,
           secs[1] / due / put);
    printf("%-42s %9.3f s   nothing due: %ld records and %d subjects scanned, %.2f us each\n",
           "pass 3, nothing due (the scan)", secs[2], kept + w->scm_records, 2 * SUBJECTS,
           secs[2] / (double)(kept + w->scm_records + 2 * SUBJECTS) * 1e6);
}

int main(int argc, char **argv)
{
    int reads = argc > 1 ? atoi(argv[1]) : 600, rounds = 9, due = 3000;
    const char *e;
    char dir[] = "/tmp/custos-bench-policy-XXXXXX", data[600], cmd[700];
    cu_vault_opts o = {0};
    cu_err err = {0};
    world *w = calloc(1, sizeof(*w));
    double us[MAX_ROUNDS][NVAR], p50[MAX_ROUNDS][NVAR], txn[MAX_ROUNDS][NVAR];
    double col[MAX_ROUNDS], t0;

    if ((e = getenv("BENCH_POLICY_ROUNDS")) != NULL)
        rounds = atoi(e);
    if ((e = getenv("BENCH_POLICY_SWEEP")) != NULL)
        due = atoi(e);
    rounds = rounds < 1 ? 1 : rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
    reads = reads < 10 ? 10 : reads;
    due = due < 10 ? 10 : due;
    if (w == NULL || mkdtemp(dir) == NULL)
        return 1;
    snprintf(data, sizeof(data), "%s/data", dir);
    o.data_dir = data;
    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &w->v, &err) != CU_OK)
        die("vault", &err);
    t0 = now();
    w->base = setup_tenant(w, "baseline", 0, w->base_subj, w->base_rec);
    w->scm = setup_tenant(w, "scm", 1, w->scm_subj, w->scm_rec);
    w->scm_records = RECORDS;
    if ((e = getenv("BENCH_POLICY_CHECK_ONLY")) != NULL) {
        const char *c = getenv("BENCH_POLICY_CHECK_CONSENT");
        check_only(w, atof(e), c != NULL && *c == '1' ? CHECK_CONSENT : CHECK_SUPPORT);
        goto done;
    }
    printf("custos policy benchmark: %d rounds of %d reads per variant, %d writes per variant, "
           "%d x %d purpose checks; %d subjects x %d contacts per tenant, doc %zu bytes "
           "(setup %.1f s)\n",
           rounds, reads, reads / 2, CHECK_BLOCKS, CHECK_BLOCK, SUBJECTS, PER_SUBJECT, strlen(doc),
           now() - t0);
    for (int r = 0; r < rounds; r++)
        round_run(w, reads, r, us[r], p50[r], txn[r]);

    printf("\n%-40s %9s %8s  %-27s %s\n", "operation (median of rounds)", "ops/s", "us/op",
           "time ratio (min..max)", "p50 us, ratio | store txn us, rest us, rest ratio");
    for (int k = 0; k < NVAR; k++) {
        double lo = 1e300, hi = 0, m, mus;
        char ratio[64] = "";
        for (int r = 0; r < rounds; r++) {
            col[r] = var_base[k] >= 0 ? us[r][k] / us[r][var_base[k]] : 0;
            lo = col[r] < lo ? col[r] : lo;
            hi = col[r] > hi ? col[r] : hi;
        }
        m = median(col, rounds);
        for (int r = 0; r < rounds; r++)
            col[r] = us[r][k];
        mus = median(col, rounds);
        if (var_base[k] == k)
            snprintf(ratio, sizeof(ratio), "1 (baseline)");
        else if (var_base[k] >= 0)
            snprintf(ratio, sizeof(ratio), "%.3f (%.3f..%.3f)", m, lo, hi);
        printf("%-40s %9.0f %8.2f  %-27s", var_name[k], 1e6 / mus, mus, ratio);
        if (k <= PUT_POLICY) {
            int b0 = var_base[k];
            double lp, rp, t, rest, rr;
            for (int r = 0; r < rounds; r++)
                col[r] = p50[r][k];
            lp = median(col, rounds);
            for (int r = 0; r < rounds; r++)
                col[r] = p50[r][k] / p50[r][b0];
            rp = median(col, rounds);
            for (int r = 0; r < rounds; r++)
                col[r] = txn[r][k];
            t = median(col, rounds);
            for (int r = 0; r < rounds; r++)
                col[r] = us[r][k] - txn[r][k];
            rest = median(col, rounds);
            for (int r = 0; r < rounds; r++)
                col[r] = (us[r][k] - txn[r][k]) / (us[r][b0] - txn[r][b0]);
            rr = median(col, rounds);
            printf(" %6.1f, %5.3f | %6.1f, %5.1f, %5.3f", lp, rp, t, rest, rr);
        }
        printf("\n");
    }
    /* The check's share: what it adds to a read, as measured alone (net of the baseline). */
    for (int c = 0; c < 2; c++) {
        int k = c ? CHECK_CONSENT : CHECK_SUPPORT, g = c ? GET_CONSENT : GET_SUPPORT;
        int cold = c ? CHECK_CONSENT_COLD : CHECK_SUPPORT_COLD;
        double net, of_get, of_read, in_situ;
        for (int r = 0; r < rounds; r++)
            col[r] = us[r][k] - us[r][CHECK_BASE];
        net = median(col, rounds);
        for (int r = 0; r < rounds; r++)
            col[r] = (us[r][k] - us[r][CHECK_BASE]) / us[r][g];
        of_get = median(col, rounds);
        for (int r = 0; r < rounds; r++)
            col[r] = (us[r][k] - us[r][CHECK_BASE]) / us[r][READ_NOCOMMIT];
        of_read = median(col, rounds);
        for (int r = 0; r < rounds; r++)
            col[r] = us[r][cold];
        in_situ = median(col, rounds);
        printf("%s%-34s %5.2f us net in the loop = %4.1f%% of its audited read, %3.0f%% of "
               "cu_record_read; %5.2f us right after a commit\n",
               c ? "" : "\n", c ? "purpose check, consent purpose" : "purpose check, \"support\"",
               net, of_get * 100, of_read * 100, in_situ);
    }
    for (int r = 0; r < rounds; r++)
        col[r] = txn[r][GET_BASE] / us[r][GET_BASE];
    printf("%-34s %.0f%% of a baseline read is its store transaction (the audit commit)\n", "",
           median(col, rounds) * 100);

    sweep_bench(w, due);
done:
    cu_vault_close(w->v);
    free(w);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
