/*
 * test_erase_legal.c: erasure subject to legal retention (P-DSR-4, P-RET-4, issue 10 item 4).
 *
 * Under SCM's policy (policies/scm.yaml) billing records are kept 7 years for legal
 * compliance: erasing a subject keeps its billing record, readable only for a purpose of legal
 * obligation, and deletes it at its date; everything else (its contacts, its profile, their
 * index entries) is unreadable at once and deleted. The answer is a signed erasure certificate.
 * A legal hold (P-RET-5) still refuses the erasure, and an erasure cut short by a crash finishes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_int.h" /* v->store: the certificate as stored */
#include "json.h"
#include "policy.h"
#include "retain_int.h"
#include "th.h"

/* 2027-01-01T00:00:00Z: the test clock at the records' creation. */
#define T0 1798761600LL
#define DAY 86400LL

typedef struct fx {
    char dir[256];
    char data[256];
    cu_vault *v;
    cu_id t, s;
    cu_id billing, contact, account, log;
} fx;

static const cu_ctx ctx_support = {.actor = "test", .purpose = "support"};
static const cu_ctx ctx_legal = {.actor = "test", .purpose = "legal_compliance"};
static const cu_ctx ctx_payments = {.actor = "test", .purpose = "payments"};
static const cu_ctx ctx_service = {.actor = "test", .purpose = "provide_service"};

static cu_id put(fx *f, const char *purpose, const char *coll, const char *doc)
{
    cu_ctx ctx = {.actor = "test", .purpose = purpose};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_record_put(f->v, &ctx, f->t, coll, f->s, doc, strlen(doc), &id, &err) != CU_OK)
        fail_msg("put %s: %s", coll, err.msg);
    return id;
}

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_subject_in in = {.external_id = "ada-1", .email = "ada.lovelace@example.org"};
    cu_tenant t;
    cu_err err = {0};

    cu_clock_set(T0);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL,
                                      &(cu_tenant_opts){.name = "SCM", .policy_builtin = "scm"}, &t,
                                      &err),
                     CU_OK);
    f->t = t.id;
    assert_int_equal(cu_subject_create(f->v, &ctx_support, f->t, &in, &f->s, &err), CU_OK);
    f->billing =
        put(f, "payments", "billing_records",
            "{\"billing_address\":\"1 Analytical Row\",\"payment_method\":\"visa\","
            "\"card_last4\":\"4242\",\"invoice_number\":\"INV-2027-1\",\"amount\":\"99\"}");
    f->contact = put(f, "provide_service", "contacts",
                     "{\"name\":\"Ada Lovelace\",\"email\":\"ada.lovelace@example.org\"}");
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

/* A query of subject id: every %llu in the query text (one argument, positional). */
#define sql_int(f, fmt, id) sql_int_((f), (snprintf(sqlbuf, sizeof(sqlbuf), fmt, (id)), sqlbuf))
static char sqlbuf[512];

static long long sql_int_(fx *f, const char *sql)
{
    return th_sql_int(f->data, sql);
}

/* Reads record id with ctx; returns the rc, and 1 in *has if the document holds needle. */
static cu_rc read_as(fx *f, const cu_ctx *ctx, cu_id id, const char *needle, int *has)
{
    cu_record r;
    cu_err err = {0};
    cu_rc rc = cu_record_get(f->v, ctx, f->t, id, &r, &err);

    *has = rc == CU_OK && needle != NULL && strstr(r.json, needle) != NULL;
    if (rc == CU_OK)
        cu_record_cleanup(&r);
    return rc;
}

static char *erase(fx *f)
{
    char *cert = NULL;
    cu_err err = {0};

    if (cu_subject_erase_certified(f->v, &ctx_support, f->t, f->s, &cert, &err) != CU_OK)
        fail_msg("erase: %s", err.msg);
    assert_non_null(cert);
    return cert;
}

/* P-RET-4, the rule (docs/policy.md): SCM keeps account, billing and logs for a legal duty
 * (legal_compliance: essential.legal_obligation), not customer data, which legal_disclosure
 * (a duty to disclose on demand, not to keep) covers too. */
static void test_P_RET_4_scm_legal_duty_keeps_account_billing_and_logs(void **state)
{
    static const struct {
        const char *category;
        int kept;
    } want[] = {{"account", 1},        {"billing", 1}, {"customer_data", 0}, {"workshop", 0},
                {"communications", 0}, {"usage", 0},   {"logs", 1}};
    size_t len = 0;
    const char *text = cu_policy_builtin("scm", &len);
    cu_policy *p = NULL;
    cu_err err = {0};

    (void)state;
    assert_non_null(text);
    assert_int_equal(cu_policy_parse(text, len, "scm", &p, &err), CU_OK);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const cu_policy_purpose *pu =
            cu_retain_duty(p, cu_policy_category_get(p, want[i].category));
        assert_int_equal(pu != NULL, want[i].kept);
        if (pu != NULL)
            assert_string_equal(pu->name, "legal_compliance");
    }
    assert_false(cu_retain_is_duty(cu_policy_purpose_get(p, "legal_disclosure")));
    assert_false(cu_retain_is_duty(cu_policy_purpose_get(p, "payments")));
    cu_policy_free(p);
}

/* P-DSR-4, P-RET-4: the billing record survives the erasure, readable for legal_compliance
 * only; the contact is unreadable at once; the erased email is found by no index. */
static void test_P_DSR_4_P_RET_4_scm_billing_survives_erasure_for_legal_compliance(void **state)
{
    fx *f = *state;
    cu_id *ids = NULL;
    cu_err err = {0};
    size_t n = 0;
    char *cert;
    int has = 0;

    f->account = put(f, "provide_service", "accounts",
                     "{\"name\":\"Ada Lovelace\",\"email\":\"ada.lovelace@example.org\"}");
    assert_int_equal(read_as(f, &ctx_service, f->contact, "Ada", &has), CU_OK);
    cert = erase(f);
    /* From the answer: everything not kept is unreadable and unfound. */
    assert_int_equal(read_as(f, &ctx_service, f->contact, NULL, &has), CU_ERR_NOT_FOUND);
    assert_int_equal(read_as(f, &ctx_payments, f->billing, NULL, &has), CU_ERR_NOT_FOUND);
    assert_int_equal(read_as(f, &ctx_support, f->account, NULL, &has), CU_ERR_NOT_FOUND);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, "INV-2027-1", &has), CU_OK);
    assert_true(has);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, "1 Analytical Row", &has), CU_OK);
    assert_true(has); /* its personal fields too: sealed again, not dropped */
    assert_int_equal(read_as(f, &ctx_legal, f->account, "Ada Lovelace", &has), CU_OK);
    assert_true(has);
    /* A purpose of legal obligation may not reach what its categories do not cover. */
    assert_int_equal(read_as(f, &ctx_legal, f->contact, NULL, &has), CU_ERR_NOT_FOUND);
    /* Blind indexes: the profile's and the records' (kept ones' too: kept, not searchable). */
    assert_int_equal(cu_subject_find(f->v, &ctx_support, f->t, CU_SUBJECT_BY_EMAIL,
                                     "ada.lovelace@example.org", &ids, &n, &err),
                     CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(cu_record_find(f->v, &ctx_service, f->t, "contacts", "email",
                                    "ada.lovelace@example.org", &ids, &n, &err),
                     CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(cu_record_find(f->v, &ctx_legal, f->t, "billing_records", "invoice_number",
                                    "INV-2027-1", &ids, &n, &err),
                     CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    /* In the database: the subject key is gone, the retained key is there, the kept records
     * are marked and the rest deleted; no index entry of the subject or its records is left. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM keys WHERE kind = 4 AND owner_id = %llu",
                             (unsigned long long)f->s),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM keys WHERE kind = 5 AND owner_id = %llu",
                             (unsigned long long)f->s),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM records WHERE subject_id = %llu",
                             (unsigned long long)f->s),
                     2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM retained_records WHERE subject_id = %llu",
                             (unsigned long long)f->s),
                     2);
    assert_int_equal(sql_int(f,
                             "SELECT count(*) FROM blind_index WHERE owner_id = %1$llu"
                             " OR owner_id IN (SELECT record_id FROM records"
                             " WHERE subject_id = %1$llu)",
                             (unsigned long long)f->s),
                     0);
    assert_int_equal(
        sql_int(f, "SELECT kept FROM erasures WHERE subject_id = %llu", (unsigned long long)f->s),
        1);
    /* P-AUD-2: the kept records' new ciphertexts are on record (verify --deep holds). */
    {
        cu_audit_verify_opts o = {.deep = 1};
        cu_audit_report rep;
        assert_int_equal(cu_audit_verify_with(f->v, NULL, f->t, &o, &rep, &err), CU_OK);
        assert_int_equal(rep.ok, 1);
        assert_true(rep.records >= 2);
    }
    free(cert);
}

/* P-DSR-4: the certificate says what was erased and kept, why and until when, without a
 * personal value, and verifies with the vault's key; altered, it does not. */
static void test_P_DSR_4_certificate_verifies_and_a_tampered_one_does_not(void **state)
{
    fx *f = *state;
    char *cert = erase(f), *bad, *at;
    uint8_t pk[32], other[32];
    cu_err err = {0};

    assert_non_null(strstr(cert, "\"billing_records\""));
    assert_non_null(strstr(cert, "\"legal_compliance\""));
    assert_non_null(strstr(cert, "\"legal_obligation\""));
    assert_non_null(strstr(cert, "\"until\":\t\"2034-01-01T00:00:00Z\""));
    assert_non_null(strstr(cert, "\"contacts\""));
    assert_null(strstr(cert, "ada.lovelace"));
    assert_null(strstr(cert, "Analytical"));
    assert_null(strstr(cert, "Ada"));
    cu_audit_public_key(f->v, pk);
    assert_int_equal(cu_erasure_certificate_verify(cert, strlen(cert), pk, &err), CU_OK);
    /* Another key's verification fails. */
    memcpy(other, pk, 32);
    other[0] ^= 1;
    assert_int_equal(cu_erasure_certificate_verify(cert, strlen(cert), other, &err), CU_ERR_CRYPTO);
    /* One year more kept: altered, refused. */
    bad = strdup(cert);
    at = strstr(bad, "2034-01-01");
    assert_non_null(at);
    at[3] = '5';
    assert_int_equal(cu_erasure_certificate_verify(bad, strlen(bad), pk, &err), CU_ERR_CRYPTO);
    free(bad);
    /* Not a certificate at all. */
    assert_int_equal(cu_erasure_certificate_verify("{}", 2, pk, &err), CU_ERR_INVALID);
    free(cert);
}

/* P-DSR-4: the certificate counts what went exactly up to CU_ERASE_COUNT_MAX per collection,
 * and beyond says "at least" that many, so the answer does not grow with the subject. */
static void test_P_DSR_4_certificate_counts_are_bounded(void **state)
{
    fx *f = *state;
    char *cert;

    for (int i = 0; i < CU_ERASE_COUNT_MAX + 4; i++)
        put(f, "provide_service", "deals", "{\"title\":\"t\",\"stage\":\"won\"}");
    cert = erase(f);
    assert_non_null(strstr(cert,
                           "\"collection\":\t\"deals\",\n\t\t\t\t\"category\":\t\"customer_"
                           "data\",\n\t\t\t\t\"records\":\t1000,\n\t\t\t\t\"at_least\":\ttrue"));
    /* Below the bound, exact and without the mark. */
    assert_non_null(strstr(cert,
                           "\"collection\":\t\"contacts\",\n\t\t\t\t\"category\":\t\"customer_"
                           "data\",\n\t\t\t\t\"records\":\t1\n"));
    free(cert);
}

/* P-RET-4: the kept billing record keeps its own date (7 years from its creation): the sweep
 * leaves it before and shreds it on the day; then the subject, its retained key and its queue
 * entry go too, on record. */
static void test_P_RET_4_sweep_shreds_the_kept_record_at_its_date(void **state)
{
    fx *f = *state;
    cu_sweep_report rep;
    cu_err err = {0};
    char *cert = erase(f);
    int has;

    free(cert);
    cu_clock_set(T0 + (7 * 365 + 1) * DAY - DAY); /* 2033-12-31 */
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, "INV-2027-1", &has), CU_OK);
    cu_clock_set(T0 + (7 * 365 + 2) * DAY); /* 2034-01-01 and a day */
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_true(rep.records_deleted >= 1);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, NULL, &has), CU_ERR_NOT_FOUND);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM records WHERE subject_id = %llu",
                             (unsigned long long)f->s),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM keys WHERE kind = 5 AND owner_id = %llu",
                             (unsigned long long)f->s),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM erasures WHERE subject_id = %llu",
                             (unsigned long long)f->s),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM subjects WHERE subject_id = %llu",
                             (unsigned long long)f->s),
                     0);
    assert_int_equal(sql_int(f,
                             "SELECT count(*) FROM audit_log WHERE action = 'subject.retained_end'"
                             " AND object = 'subject:%llu'",
                             (unsigned long long)f->s),
                     1);
}

/* P-RET-5: a held subject behaves as before: its erasure is refused, nothing is kept or
 * sealed again, and no certificate is given. */
static void test_P_RET_5_held_subject_is_not_erased(void **state)
{
    fx *f = *state;
    static char unchanged[] = "unchanged";
    char *cert = unchanged;
    cu_err err = {0};
    cu_id hold = 0;
    int has;

    assert_int_equal(cu_hold_place(f->v, NULL, f->t, f->s, 0, "litigation", &hold, &err), CU_OK);
    assert_int_equal(cu_subject_erase_certified(f->v, &ctx_support, f->t, f->s, &cert, &err),
                     CU_ERR_LEGAL_HOLD);
    assert_null(cert);
    assert_int_equal(read_as(f, &ctx_service, f->contact, "Ada", &has), CU_OK);
    assert_true(has);
    assert_int_equal(read_as(f, &ctx_payments, f->billing, "INV", &has), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM retained_records"), 0);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM keys WHERE kind = 5"), 0);
}

typedef struct crash_arg {
    const char *data;
    cu_id t, s;
} crash_arg;

static void child_erase(void *arg)
{
    crash_arg *a = arg;
    cu_vault *v = th_reopen(a->data);
    cu_err err = {0};

    if (cu_subject_erase(v, &ctx_support, a->t, a->s, &err) != CU_OK)
        _exit(4);
    cu_vault_close(v);
}

/* P-DSR-4, P-RET-4: an erasure cut short after its transaction (the rows not yet deleted)
 * has kept what it keeps; the next worker deletes the rest and leaves the kept records. */
static void test_P_DSR_4_restart_midway_finishes_and_keeps(void **state)
{
    fx *f = *state;
    crash_arg a = {.data = f->data, .t = f->t, .s = f->s};
    cu_erase_report rep;
    cu_err err = {0};
    int has;

    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(th_crash_at("erase.key_destroyed", child_erase, &a), 70);
    f->v = th_reopen(f->data);
    /* Cut between the key and the rows: the contact's row is there, unreadable. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM records WHERE subject_id = %llu",
                             (unsigned long long)f->s),
                     2);
    assert_int_equal(read_as(f, &ctx_service, f->contact, NULL, &has), CU_ERR_NOT_FOUND);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, "INV-2027-1", &has), CU_OK);
    assert_int_equal(cu_erase_pending(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM records WHERE subject_id = %llu",
                             (unsigned long long)f->s),
                     1);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, "INV-2027-1", &has), CU_OK);
    assert_true(has);
    /* Nothing left to do until the kept records go: a second pass does nothing. */
    assert_int_equal(cu_erase_pending(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.subjects, 0);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM audit_log"
                                         " WHERE action = 'subject.erase_rows'"),
                     1);
}

/* The whole answer of request r's export in format fmt ("json" or "csv"), NUL-terminated; *len
 * its length. */
static char *export_all(fx *f, cu_id r, const char *fmt, size_t *len)
{
    cu_subject_export *x = NULL;
    cu_err err = {0};
    size_t n = 0, cap = 1 << 20, got;
    char *all = calloc(1, cap + 1);

    assert_int_equal(cu_request_export_open(f->v, NULL, f->t, r, fmt, &x, &err), CU_OK);
    while (cu_subject_export_read(x, all + n, cap - n, &got, &err) == CU_OK && got > 0)
        n += got;
    assert_int_equal(err.code, CU_OK);
    cu_subject_export_free(x);
    *len = n;
    return all;
}

static int has_bytes(const char *b, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b + i, needle, k) == 0)
            return 1;
    return 0;
}

/* Issue 10 item 4, P-DSR-1, P-RET-4: after an erasure under legal retention, an access request
 * filed by an administrator by the subject's id shows exactly what is kept (the billing record,
 * opened, with its category, legal basis and deletion date) and the erasure (its certificate),
 * nothing else: no profile, no external id, no erased record. A subject whose erasure kept
 * nothing is not found, as before. */
static void test_P_DSR_1_P_RET_4_later_access_shows_only_what_was_kept(void **state)
{
    fx *f = *state;
    cu_request_in in = {.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_ADMIN, .subject = f->s};
    cu_subject_in other = {.external_id = "bob-1"};
    cu_request_filed out;
    cu_err err = {0};
    cu_id bob;
    size_t len = 0;
    char *cert = erase(f), *doc, *zip;
    const char *keep[] = {"INV-2027-1",
                          "1 Analytical Row",
                          "\"billing_records\"",
                          "\"category\":\"billing\"",
                          "\"basis\":\"legal_obligation\"",
                          "\"purpose\":\"legal_compliance\"",
                          "\"delete_at\":\"2034-01-01",
                          "custos.erasure_certificate/1",
                          "\"erased\":true"};
    const char *gone[] = {"Ada Lovelace", "ada.lovelace@example.org",
                          "ada-1",        "\"held\"",
                          "\"requests\"", "\"accesses\"",
                          "\"records\":{"};

    assert_int_equal(cu_request_file(f->v, NULL, f->t, &in, &out, &err), CU_OK);
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, out.id, &err), CU_OK);
    doc = export_all(f, out.id, "json", &len);
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (strstr(doc, keep[i]) == NULL)
            fail_msg("the kept answer lacks %s: %s", keep[i], doc);
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        if (strstr(doc, gone[i]) != NULL)
            fail_msg("the kept answer shows %s", gone[i]);
    /* The erasure in it is the certificate stored with it, verbatim. */
    {
        cJSON *o = NULL, *c = NULL;
        assert_int_equal(cu_json_parse(doc, len, &o, NULL, &err), CU_OK);
        assert_int_equal(cu_json_parse(cert, strlen(cert), &c, NULL, &err), CU_OK);
        assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(o, "erasure"), c, 1));
        cJSON_Delete(o);
        cJSON_Delete(c);
    }
    free(doc);
    /* The zip: kept.csv and the certificate, its central directory written. */
    zip = export_all(f, out.id, "csv", &len);
    assert_true(len > 22 && memcmp(zip, "PK", 2) == 0);
    assert_true(has_bytes(zip, len, "kept.csv"));
    assert_true(has_bytes(zip, len, "erasure_certificate.json"));
    free(zip);
    /* Only access and export: the erasure is done, nothing else applies to it. */
    in.type = CU_REQ_RESTRICT;
    assert_int_equal(cu_request_file(f->v, NULL, f->t, &in, &out, &err), CU_ERR_NOT_FOUND);
    /* A subject whose erasure kept nothing: not found. */
    assert_int_equal(cu_subject_create(f->v, &ctx_support, f->t, &other, &bob, &err), CU_OK);
    assert_int_equal(cu_subject_erase(f->v, &ctx_support, f->t, bob, &err), CU_OK);
    in.type = CU_REQ_ACCESS;
    in.subject = bob;
    assert_int_equal(cu_request_file(f->v, NULL, f->t, &in, &out, &err), CU_ERR_NOT_FOUND);
    free(cert);
}

/* P-AGE-2 (the decision in docs/dsr.md): a subject found under age is erased keeping nothing,
 * not even what a legal duty would keep for a customer; its erasure's stored certificate counts
 * what went (both collections) and keeps nothing. */
static void test_P_AGE_2_under_age_erasure_keeps_nothing_and_is_certified(void **state)
{
    fx *f = *state;
    cu_err err = {0};
    char *cert = NULL;
    int erased = 0, has = 0;

    assert_int_equal(cu_subject_mark_under_age(f->v, &ctx_support, f->t, f->s, &erased, &err),
                     CU_OK);
    assert_true(erased);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, NULL, &has), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_erasure_certificate(f->v->store, f->t, f->s, &cert, &err), CU_OK);
    {
        cJSON *o = NULL;
        assert_int_equal(cu_json_parse(cert, strlen(cert), &o, NULL, &err), CU_OK);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "kept")), 0);
        cJSON_Delete(o);
    }
    assert_non_null(strstr(cert, "\"billing_records\""));
    assert_non_null(strstr(cert, "\"contacts\""));
    free(cert);
}

/* The hook's state: the fixture, and the record it wrote between the plan and the commit. */
static fx *hook_fx;
static cu_id hook_billing;
static int hook_calls;

/* Between the erasure's plan and its commit (the first time only): a billing record of the
 * subject written, as a concurrent request would. */
static void write_between(cu_vault *v, cu_id tenant, cu_id subject)
{
    (void)v;
    (void)tenant;
    (void)subject;
    if (hook_calls++ == 0)
        hook_billing = put(hook_fx, "payments", "billing_records",
                           "{\"invoice_number\":\"INV-LATE\",\"amount\":\"5\"}");
}

/* P-RET-4, issue 10: a record written in a kept collection between the erasure's plan and its
 * commit does not escape the plan (it would not be sealed again, and its key destroyed would
 * lose it): the plan's guard refuses the stale plan, the erasure plans again and keeps it.
 * Without the guard, the late billing record is unreadable for legal_compliance too. */
static void test_P_RET_4_record_written_between_plan_and_commit_is_kept(void **state)
{
    fx *f = *state;
    char *cert;
    int has = 0;

    hook_fx = f;
    hook_calls = 0;
    cu_erase_plan_hook = write_between;
    cert = erase(f);
    cu_erase_plan_hook = NULL;
    assert_int_equal(hook_calls, 2); /* planned twice: the first plan went stale */
    assert_int_equal(read_as(f, &ctx_legal, hook_billing, "INV-LATE", &has), CU_OK);
    assert_true(has);
    assert_int_equal(read_as(f, &ctx_legal, f->billing, "INV-2027-1", &has), CU_OK);
    assert_true(has);
    /* The certificate names it among the kept records. */
    {
        char id[CU_ID_STRLEN];
        cu_id_format(hook_billing, id);
        assert_non_null(strstr(cert, id));
    }
    free(cert);
}

/* P-BAK-2, P-RET-4: a restore from before the erasure replays it as the live vault made it:
 * the billing record a legal duty keeps is kept (readable for legal_compliance only), the
 * rest goes (fails with the replay erasing everything: the billing record would be gone). */
static void test_P_BAK_2_P_RET_4_restore_replays_the_erasure_keeping_what_was_kept(void **state)
{
    fx *f = *state;
    char bdir[400], manifest[512], target[400];
    cu_restore_opts o = {.keys_dir = f->data, .backup = manifest, .target = target};
    cu_restore_report rep;
    cu_backup_info b;
    cu_record r;
    cu_err err = {0};
    cu_vault *live = f->v;

    snprintf(bdir, sizeof(bdir), "%s/backups", f->dir);
    snprintf(target, sizeof(target), "%s/restored", f->dir);
    o.store = th_store_new(target); /* PostgreSQL: into a fresh database (th_reopen's) */
    assert_int_equal(cu_backup_create(f->v, NULL, bdir, NULL, NULL, &b, &err), CU_OK);
    free(erase(f));
    snprintf(manifest, sizeof(manifest), "%s/%s.manifest", bdir, b.id);
    if (cu_backup_restore(&o, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_true(rep.replayed >= 1);
    f->v = th_reopen(target);
    assert_int_equal(cu_record_get(f->v, &ctx_legal, f->t, f->billing, &r, &err), CU_OK);
    assert_non_null(strstr(r.json, "INV-2027-1"));
    cu_record_cleanup(&r);
    assert_int_equal(cu_record_get(f->v, &ctx_payments, f->t, f->billing, &r, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_record_get(f->v, &ctx_service, f->t, f->contact, &r, &err),
                     CU_ERR_NOT_FOUND);
    cu_vault_close(f->v);
    f->v = live;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_RET_4_scm_legal_duty_keeps_account_billing_and_logs),
        T(test_P_DSR_4_P_RET_4_scm_billing_survives_erasure_for_legal_compliance),
        T(test_P_DSR_4_certificate_verifies_and_a_tampered_one_does_not),
        T(test_P_DSR_4_certificate_counts_are_bounded),
        T(test_P_RET_4_sweep_shreds_the_kept_record_at_its_date),
        T(test_P_RET_5_held_subject_is_not_erased),
        T(test_P_DSR_4_restart_midway_finishes_and_keeps),
        T(test_P_RET_4_record_written_between_plan_and_commit_is_kept),
        T(test_P_DSR_1_P_RET_4_later_access_shows_only_what_was_kept),
        T(test_P_AGE_2_under_age_erasure_keeps_nothing_and_is_certified),
        T(test_P_BAK_2_P_RET_4_restore_replays_the_erasure_keeping_what_was_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
