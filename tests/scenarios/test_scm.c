/*
 * test_scm.c: SCM's privacy policy (policies/scm.yaml, seed 000) kept by the real server over
 * HTTPS, from 2026-01-01 through the end of its subscription and the seven years its account data
 * outlives it. The tests are chapters of one story on one server and one tenant; each moves the
 * clock forward and checks the promises due by then. Each also runs alone: its set-up replays the
 * chapters before it on a fresh server (sc.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "custos.h"
#include "sc.h"
#include "th.h"

#define T "/v1/tenants/%s"

static sc C;
static sc_tenant A;
static sc_tenant B; /* a second SCM customer: erasure subject to legal retention (P-DSR-4) */
static char ada[SRV_ID], bob[SRV_ID]; /* adults */
static char contact[SRV_ID], account[SRV_ID], usage[SRV_ID], log_a[SRV_ID], log_b[SRV_ID],
    billing[SRV_ID];
static char hold[SRV_ID];
static int64_t END;

static void put(const char *purpose, const char *collection, const char *subject, const char *data,
                char id[SRV_ID])
{
    sc_put(&C, &A, purpose, collection, subject, data, id);
}

/* A PUT .../policy body: built-in policy id with its first `from` replaced by `to`, as YAML
 * (caller frees). */
static char *policy_body(const char *id, const char *from, const char *to)
{
    size_t len = 0, n;
    const char *text = cu_policy_builtin(id, &len), *at = strstr(text, from);
    char *yaml, *body;
    cJSON *o = cJSON_CreateObject();

    assert_non_null(at);
    n = len + strlen(to) + 1;
    yaml = calloc(1, n);
    assert_non_null(yaml);
    snprintf(yaml, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    cJSON_AddStringToObject(o, "yaml", yaml);
    body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(yaml);
    return body;
}

/* Seven simulated years of requests and sweeps: the server's log holds no value. */
static void ending(int all)
{
    static const char *const values[] = {"ada@example.org", "192.0.2.7", "192.0.2.8",
                                         "litigation 2026-17", "INV-1", "2010-01-02"};

    if (all)
        assert_true(th_file_contains(C.s.log, "\"route\":\"/v1/sweep\"", 19));
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (th_file_contains(C.s.log, values[i], strlen(values[i])))
            fail_msg("%s is in the server's log", values[i]);
}

/* P-AGE-1: "The Service is not directed to individuals under 16." */
static void test_P_AGE_1_scm_refuses_a_subject_aged_15(void **state)
{
    (void)state;
    /* 15 years and 364 days old on 2026-01-01. */
    sc_want(&C, 422, "under_age", A.key, "support",
            "{\"external_id\":\"teen\",\"birth_date\":\"2010-01-02\"}", NULL, "POST", T "/subjects",
            A.id);
    /* Sixteen that very day: welcome. */
    sc_want(&C, 201, NULL, A.key, "support",
            "{\"external_id\":\"ada\",\"email\":\"ada@example.org\",\"birth_date\":\"2010-01-01\"}",
            ada, "POST", T "/subjects", A.id);
    sc_want(&C, 201, NULL, A.key, "support", "{\"external_id\":\"bob\"}", bob, "POST",
            T "/subjects", A.id);
}

/* P-CON-1: every purpose is the policy's, with its legal basis, and covers what it touches. */
static void test_P_CON_1_scm_purposes_come_from_the_policy(void **state)
{
    (void)state;
    sc_want(&C, 400, "unknown_purpose", A.key, "marketing", "{\"external_id\":\"x\"}", NULL, "POST",
            T "/subjects", A.id);
    put("provide_service", "contacts", ada, "{\"name\":\"Ada\",\"email\":\"ada@example.org\"}",
        contact);
    put("provide_service", "accounts", ada, "{\"name\":\"Ada\",\"company\":\"Acme\"}", account);
    put("security", "usage_events", ada,
        "{\"feature\":\"reports\",\"page\":\"/r\",\"ip_address\":\"192.0.2.7\"}", usage);
    put("security", "access_logs", ada, "{\"path\":\"/login\",\"ip_address\":\"192.0.2.7\"}",
        log_a);
    put("security", "access_logs", bob, "{\"path\":\"/home\",\"ip_address\":\"192.0.2.8\"}", log_b);
    put("payments", "billing_records", ada, "{\"invoice_number\":\"INV-1\",\"amount\":120}",
        billing);
    /* Support covers account, customer data and communications, not billing. */
    sc_want(&C, 403, "purpose_not_allowed", A.key, "support", NULL, NULL, "GET", T "/records/%s",
            A.id, billing);
    sc_want(&C, 200, NULL, A.key, "legal_compliance", NULL, NULL, "GET", T "/records/%s", A.id,
            billing);
    /* A collection the policy does not declare has no category, so no retention: refused. */
    sc_want(&C, 400, "invalid", A.key, "support", "{\"data\":{\"x\":1}}", NULL, "POST",
            T "/collections/scratch/records", A.id);
    /* P-ENC-3: "We do not store full credit card numbers." */
    sc_want(&C, 422, "forbidden_field", A.key, "payments",
            "{\"data\":{\"card_number\":\"4111111111111111\"}}", NULL, "POST",
            T "/collections/billing_records/records", A.id);
}

/* P-CON-1, P-CON-2, P-DSR-6: "With your consent: When you explicitly direct us to share
 * information." No consent, no sharing; the ledger records each grant and withdrawal with
 * time, source and policy version; Global Privacy Control opts out of sharing. */
static void test_P_CON_2_scm_sharing_needs_consent_in_the_ledger(void **state)
{
    srv_resp r;

    (void)state;
    sc_want(&C, 403, "consent_required", A.key, "shared_on_request", NULL, NULL, "GET",
            T "/records/%s", A.id, contact);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"shared_on_request\",\"action\":\"grant\",\"source\":\"web-form\"}",
            NULL, "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "shared_on_request", NULL, NULL, "GET", T "/records/%s", A.id,
            contact);
    /* Sec-GPC: 1 is an opt-out of sale and sharing, whatever the ledger says. */
    sc_gpc_get(&C, &A, "shared_on_request", contact, 403, "opted_out");
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"shared_on_request\",\"action\":\"withdraw\",\"source\":\"email\"}",
            NULL, "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 403, "consent_required", A.key, "shared_on_request", NULL, NULL, "GET",
            T "/records/%s", A.id, contact);
    /* Consent applies to consent-based purposes only. */
    sc_want(&C, 400, "invalid", A.key, NULL, "{\"purpose\":\"support\",\"action\":\"grant\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ada);
    sc_call(&C, 200, A.key, "legal_compliance", NULL, &r, "GET", T "/subjects/%s/consents", A.id,
            ada);
    assert_non_null(strstr(r.body, "\"action\":\"grant\",\"at\":\"2026-01-01T00:00:00Z\","
                                   "\"source\":\"web-form\",\"policy_version\":\"2026-04-13\""));
    assert_non_null(strstr(r.body, "\"action\":\"withdraw\""));
    assert_null(strstr(r.body, "ada@example.org"));
    srv_resp_free(&r);
}

/* P-DSR-6: an objection stops a legitimate-interest purpose (SCM's security monitoring). */
static void test_P_DSR_6_scm_objection_stops_legitimate_interest(void **state)
{
    (void)state;
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, usage);
    sc_want(&C, 201, NULL, A.key, NULL, "{\"purpose\":\"security\",\"action\":\"object\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 403, "objected", A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id,
            usage);
    /* Other purposes go on; the objection is lifted by the subject. */
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, contact);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"security\",\"action\":\"withdraw_objection\"}", NULL, "POST",
            T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, usage);
}

/* P-DSR-5: a restricted subject's data is kept but refused for every purpose but legal
 * obligations and the subject's own access. */
static void test_P_DSR_5_scm_restriction_keeps_data_unprocessed(void **state)
{
    char req[SRV_ID];

    (void)state;
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":true}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ada);
    sc_want(&C, 403, "restricted", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            contact);
    sc_want(&C, 403, "restricted", A.key, "provide_service", "{\"data\":{\"name\":\"Ada L.\"}}",
            NULL, "PUT", T "/records/%s", A.id, contact);
    sc_want(&C, 200, NULL, A.key, "legal_compliance", NULL, NULL, "GET", T "/records/%s", A.id,
            account);
    /* The subject's own access, through its request (P-DSR-1, issue 10). */
    sc_request_open(&C, &A, "access", ada, req);
    sc_want(&C, 200, NULL, A.key, NULL, NULL, NULL, "GET", T "/requests/%s/records/%s", A.id, req,
            contact);
    sc_want(&C, 200, NULL, A.key, NULL, NULL, NULL, "GET", T "/requests/%s/subject", A.id, req);
    sc_want(&C, 200, NULL, A.key, NULL, "{}", NULL, "POST", T "/requests/%s/complete", A.id, req);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":false}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, contact);
}

/* P-RET-5: a legal hold on Bob, placed now, will keep his log entry past its 12 months. */
static void test_P_RET_5_scm_hold_is_placed_with_a_sealed_reason(void **state)
{
    char body[128];
    srv_resp r;

    (void)state;
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"reason\":\"litigation 2026-17\"}", bob);
    sc_want(&C, 201, NULL, A.key, NULL, body, hold, "POST", T "/holds", A.id);
    sc_want(&C, 400, "missing_field", A.key, NULL, "{\"subject_id\":\"1\"}", NULL, "POST",
            T "/holds", A.id);
    sc_call(&C, 200, A.key, "legal_compliance", NULL, &r, "GET", T "/holds", A.id);
    assert_non_null(strstr(r.body, "\"scope\":\"subject\",\"reason\":\"litigation 2026-17\""));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "hold.place"), 1);
    /* At rest the reason is sealed: no file of the database holds it in clear. */
    assert_false(sc_at_rest(&C, "litigation 2026-17"));
}

static void test_P_RET_4_scm_logs_kept_12_months(void **state)
{
    sc_sweep_counts n;

    (void)state;
    /* 12 months minus a day: everything is still there. */
    sc_at(&C, sc_date(2026, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.records_anonymized, 0);
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, log_a);
    /* 12 months plus a day: the log entry is gone. */
    sc_at(&C, sc_date(2027, 1, 2));
    sc_sweep(&C, &n);
    assert_true(n.records_deleted >= 1);
    sc_want(&C, 404, "not_found", A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
    /* The contact (customer data, kept for the subscription) and billing stay. */
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, contact);
    sc_want(&C, 200, NULL, A.key, "legal_compliance", NULL, NULL, "GET", T "/records/%s", A.id,
            billing);
    assert_true(sc_audit_count(&C, &A, "record.expire") >= 1);
}

/* P-RET-6: "We use aggregate, anonymized data for this purpose": usage data is anonymized
 * after 12 months, not deleted: its plain fields stay, the IP address and the subject go. */
static void test_P_RET_6_scm_usage_is_anonymized_after_12_months(void **state)
{
    srv_resp r;

    (void)state;
    sc_call(&C, 200, A.key, "analytics", NULL, &r, "GET", T "/records/%s", A.id, usage);
    assert_non_null(strstr(r.body, "\"feature\":\"reports\""));
    assert_null(strstr(r.body, "192.0.2.7"));
    assert_null(strstr(r.body, "subject_id"));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "record.anonymize"), 1);
    /* No longer the subject's: it is not in Ada's records. */
    sc_call(&C, 200, A.key, "support", NULL, &r, "GET", T "/subjects/%s/records", A.id, ada);
    assert_null(strstr(r.body, usage));
    srv_resp_free(&r);
}

/* P-RET-5: the held log entry outlived its retention; the held subject cannot be erased;
 * released, the next sweep deletes the entry and erasure works. */
static void test_P_RET_5_scm_hold_stops_deletion_until_released(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, log_b);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_held, 1);
    assert_int_equal(n.records_deleted, 0);
    sc_want(&C, 409, "legal_hold", A.key, "support", NULL, NULL, "DELETE", T "/subjects/%s", A.id,
            bob);
    sc_want(&C, 409, "legal_hold", A.key, "security", NULL, NULL, "DELETE", T "/records/%s", A.id,
            log_b);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"reason\":\"case closed\"}", NULL, "POST",
            T "/holds/%s/release", A.id, hold);
    sc_want(&C, 404, "not_found", A.key, NULL, "{\"reason\":\"case closed\"}", NULL, "POST",
            T "/holds/%s/release", A.id, hold);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 0);
    sc_want(&C, 404, "not_found", A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id,
            log_b);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "DELETE", T "/subjects/%s", A.id, bob);
    /* (hold.place, a year old, has left the log with the rest of 2026: logs keep 12 months.) */
    assert_int_equal(sc_audit_count(&C, &A, "hold.release"), 1);
}

/* P-AGE-2: a subject found to be under age is erased at once. */
static void test_P_AGE_2_scm_subject_found_under_age_is_erased(void **state)
{
    char cara[SRV_ID], rec[SRV_ID];
    srv_resp r;

    (void)state;
    sc_want(&C, 201, NULL, A.key, "support", "{\"external_id\":\"cara\"}", cara, "POST",
            T "/subjects", A.id);
    put("provide_service", "contacts", cara, "{\"name\":\"Cara\"}", rec);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "POST", T "/subjects/%s/under-age", A.id, cara);
    assert_non_null(strstr(r.body, "\"erased\":true"));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/subjects/%s", A.id,
            cara);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, rec);
    assert_int_equal(sc_audit_count(&C, &A, "subject.under_age"), 1);
}

/* P-DSR-4, P-RET-4 (issue 10): DELETE .../subjects/{id} is erasure subject to legal retention
 * (docs/api.md): "We retain account and billing information for as long as required by
 * applicable tax and accounting regulations." The customer data goes at once, the account
 * record stays for legal_compliance alone, and the answer is the signed erasure certificate:
 * what was erased and kept, why and until when (7 years from a subscription's end still to
 * come: null), signed with the vault's key, without a personal value. */
static void test_P_DSR_4_scm_erasure_keeps_what_the_law_keeps_and_certifies(void **state)
{
    char dora[SRV_ID], con[SRV_ID], acc[SRV_ID], pk[80];
    const char *at;
    srv_resp r, k;

    (void)state;
    sc_want(&C, 201, NULL, B.key, "support",
            "{\"external_id\":\"dora\",\"email\":\"dora@example.org\"}", dora, "POST",
            T "/subjects", B.id);
    sc_put(&C, &B, "provide_service", "contacts", dora,
           "{\"name\":\"Dora\",\"email\":\"dora@example.org\"}", con);
    sc_put(&C, &B, "provide_service", "accounts", dora, "{\"name\":\"Dora\",\"company\":\"Acme\"}",
           acc);
    sc_call(&C, 200, B.key, "support", NULL, &r, "DELETE", T "/subjects/%s", B.id, dora);
    assert_non_null(strstr(r.body, "\"erased\":true"));
    assert_non_null(strstr(r.body, "\"type\":\"custos.erasure_certificate/1\""));
    assert_non_null(strstr(r.body, "\"collection\":\"contacts\",\"category\":\"customer_data\""));
    assert_non_null(strstr(r.body, "\"collection\":\"accounts\",\"category\":\"account\""));
    assert_non_null(strstr(r.body, "\"purpose\":\"legal_compliance\",\"basis\":\"legal_obligation\""));
    assert_non_null(strstr(r.body, "\"until\":null"));
    assert_non_null(strstr(r.body, acc));
    assert_null(strstr(r.body, "dora@example.org"));
    assert_null(strstr(r.body, "Dora"));
    /* Signed with the vault's audit signing key, the one its checkpoints publish. */
    sc_call(&C, 200, B.key, NULL, NULL, &k, "GET", T "/audit/checkpoints", B.id);
    at = strstr(k.body, "\"public_key\":\"");
    assert_non_null(at);
    snprintf(pk, sizeof(pk), "%.64s", at + 14);
    assert_non_null(strstr(r.body, pk));
    srv_resp_free(&k);
    srv_resp_free(&r);
    /* The contact is gone at once, and its email is found by no search; the account answers
     * legal_compliance only. */
    sc_want(&C, 404, "not_found", B.key, "provide_service", NULL, NULL, "GET", T "/records/%s",
            B.id, con);
    sc_call(&C, 200, B.key, "provide_service",
            "{\"field\":\"email\",\"value\":\"dora@example.org\"}", &r, "POST",
            T "/collections/contacts/records/search", B.id);
    assert_null(strstr(r.body, con));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", B.key, "support", NULL, NULL, "GET", T "/records/%s", B.id, acc);
    sc_want(&C, 200, NULL, B.key, "legal_compliance", NULL, NULL, "GET", T "/records/%s", B.id,
            acc);
    sc_want(&C, 404, "not_found", B.key, "support", NULL, NULL, "GET", T "/subjects/%s", B.id,
            dora);
    assert_int_equal(sc_audit_count(&C, &B, "subject.retain"), 1);
}

/* P-RET-2: "We retain Customer Data for the duration of your subscription plus 90 days to
 * allow for data export." Terminated, the data is read-only and exportable on day 89. */
static void test_P_RET_2_scm_terminated_tenant_exports_on_day_89(void **state)
{
    srv_resp r;

    (void)state;
    END = C.now;
    sc_want(&C, 403, "forbidden", A.key, NULL, NULL, NULL, "POST", T "/terminate", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "POST", T "/terminate", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, "\"export_until\":\"2027-04-02T00:00:00Z\""));
    srv_resp_free(&r);
    sc_want(&C, 409, "conflict", C.s.operator_key, NULL, NULL, NULL, "POST", T "/terminate", A.id);
    sc_want(&C, 409, "tenant_terminated", A.key, "provide_service",
            "{\"data\":{\"name\":\"late\"}}", NULL, "POST", T "/collections/contacts/records",
            A.id);
    sc_at(&C, END + 89 * SC_DAY);
    {
        sc_sweep_counts n;
        sc_sweep(&C, &n);
        assert_int_equal(n.tenants_purged, 0);
    }
    /* The export states its own purpose: it hands over everything (P-DSR-2). */
    sc_want(&C, 403, "purpose_not_allowed", A.key, "provide_service", NULL, NULL, "GET",
            T "/export", A.id);
    sc_want(&C, 403, "forbidden", C.s.operator_key, "support", NULL, NULL, "GET", T "/export",
            A.id);
    sc_call(&C, 200, A.key, "export", NULL, &r, "GET", T "/export", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, contact));
    assert_non_null(strstr(r.body, "\"email\":\"ada@example.org\""));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "tenant.export"), 1);
}

/* P-RET-2: after day 90 the tenant is purged: its keys, users and customer data are gone; what
 * the policy keeps longer (account data, 7 years after the subscription, for tax law; billing
 * records, 7 years) stays out of every tenant's reach, and goes on time. */
static void test_P_RET_2_scm_purged_after_day_90(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    sc_at(&C, END + 90 * SC_DAY + SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 1);
    assert_int_equal(n.tenants_shredded, 0);
    sc_want(&C, 401, "unauthenticated", A.key, "export", NULL, NULL, "GET", T "/export", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "GET", T, A.id);
    assert_non_null(strstr(r.body, "\"state\":\"purged\""));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", C.s.operator_key, "support", NULL, NULL, "GET", T "/export",
            A.id);
    /* What the law keeps is kept but restricted (P-DSR-4): staff reach it, for a legal
     * obligation only; support (a contract purpose) finds nothing any more. */
    sc_want(&C, 200, NULL, C.s.operator_key, "legal_disclosure", NULL, NULL, "GET", T "/records/%s",
            A.id, account);
    sc_want(&C, 404, "not_found", C.s.operator_key, "support", NULL, NULL, "GET", T "/records/%s",
            A.id, account);
    sc_call(&C, 200, C.s.operator_key, "legal_disclosure",
            "{\"field\":\"invoice_number\",\"value\":\"INV-1\"}", &r, "POST",
            T "/collections/billing_records/records/search", A.id);
    assert_non_null(strstr(r.body, billing));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", C.s.operator_key, "legal_disclosure", NULL, NULL, "GET",
            T "/records/%s", A.id, contact);
    assert_int_equal(sc_rows(&C, &A, "api_keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "users"), 0);
    assert_int_equal(sc_rows(&C, &A, "consents"), 0);
    /* Only the account record and the billing record remain. */
    assert_int_equal(sc_rows(&C, &A, "records"), 2);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);

    /* Billing records: 7 years from their creation (2026-01-01). */
    sc_at(&C, sc_date(2033, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.tenants_shredded, 0);
    assert_int_equal(sc_rows(&C, &A, "records"), 1);
    assert_true(sc_rows(&C, &A, "keys") > 0);

    /* Account data: 7 years from the end of the subscription. Then nothing is retained: the
     * keys are destroyed and every row goes but the audit entries that say so. */
    sc_at(&C, END + 7 * 366 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.tenants_shredded, 1);
    assert_int_equal(sc_rows(&C, &A, "records"), 0);
    assert_int_equal(sc_rows(&C, &A, "subjects"), 0);
    assert_int_equal(sc_rows(&C, &A, "keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "blind_index"), 0);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.shred"), 1);
    /* P-RET-4: the purged tenant's own log kept its 12 months too: no read of its data (nor the
     * address it came from) outlives them; the platform's log keeps that it was shredded. */
    assert_int_equal(sc_audit_count_db(&C, &A, "record.read"), 0);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_shredded, 0);
}

/* P-NOT-1: "We will notify you of material changes at least 30 days in advance via email or
 * through the Service."
 * A customer's new version adds a purpose: it is scheduled, the old version governs on day 29,
 * the new one on day 30; the sweep notes it in force. */
static void test_P_NOT_1_scm_new_version_waits_30_days(void **state)
{
    char *body = policy_body("scm", "\npurposes:\n",
                             "\npurposes:\n  newsletter:\n    data_use: "
                             "marketing.communications.email\n    basis: consent\n"
                             "    categories: [account]\n");
    int64_t t0 = END + 7 * 366 * SC_DAY + SC_DAY;
    sc_sweep_counts n;
    sc_tenant N;
    srv_resp r;

    (void)state;
    sc_at(&C, t0);
    sc_tenant_new(&C, "SCM customer, later", "scm", &N);
    sc_call(&C, 200, N.key, NULL, body, &r, "PUT", T "/policy", N.id);
    assert_non_null(strstr(r.body, "\"version\":2"));
    assert_non_null(strstr(r.body, "\"in_force\":false"));
    assert_non_null(strstr(r.body, "\"version_in_force\":1"));
    srv_resp_free(&r);
    sc_call(&C, 200, N.key, NULL, NULL, &r, "GET", T "/policy/pending", N.id);
    assert_non_null(strstr(r.body, "\"material\":true"));
    assert_non_null(strstr(r.body, "purpose newsletter added"));
    srv_resp_free(&r);
    /* A second version while one is pending is refused. */
    sc_want(&C, 409, NULL, N.key, NULL, body, NULL, "PUT", T "/policy", N.id);
    /* Day 29: the old version governs every request. */
    sc_at(&C, t0 + 29 * SC_DAY);
    sc_want(&C, 400, "unknown_purpose", N.key, "newsletter", "{\"external_id\":\"x\"}", NULL,
            "POST", T "/subjects", N.id);
    sc_call(&C, 200, N.key, NULL, NULL, &r, "GET", T "/policy", N.id);
    assert_non_null(strstr(r.body, "\"version_in_force\":1"));
    /* P-CON-5: the promises the policy in force makes. */
    assert_non_null(strstr(r.body, "\"never\":[\"sale\",\"advertising\",\"cross_customer\"]"));
    srv_resp_free(&r);
    /* Day 30: the new one. */
    sc_at(&C, t0 + 30 * SC_DAY);
    sc_want(&C, 201, NULL, N.key, "newsletter", "{\"external_id\":\"x\"}", NULL, "POST",
            T "/subjects", N.id);
    sc_call(&C, 200, N.key, NULL, NULL, &r, "GET", T "/policy", N.id);
    assert_non_null(strstr(r.body, "\"version_in_force\":2"));
    assert_non_null(strstr(r.body, "\"pending\":null"));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", N.key, NULL, NULL, NULL, "GET", T "/policy/pending", N.id);
    sc_sweep(&C, &n);
    assert_int_equal(sc_audit_count(&C, &N, "policy.schedule"), 1);
    assert_int_equal(sc_audit_count(&C, &N, "policy.in_force"), 1);
    free(body);
}

/* P-NOT-1: a pending version is withdrawn and never takes effect. */
static void test_P_NOT_1_scm_pending_version_is_withdrawn(void **state)
{
    char *body = policy_body("scm", "minimum_age: 16", "minimum_age: 14");
    int64_t t0 = END + 7 * 366 * SC_DAY + 40 * SC_DAY;
    time_t born = (time_t)(t0 + 31 * SC_DAY - 15 * 366 * SC_DAY); /* 15 on the day checked */
    char subj[128], day[16];
    struct tm tm;
    sc_tenant N;
    srv_resp r;

    (void)state;
    gmtime_r(&born, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    snprintf(subj, sizeof(subj), "{\"external_id\":\"teen\",\"birth_date\":\"%s\"}", day);
    sc_at(&C, t0);
    sc_tenant_new(&C, "SCM customer, withdrawn", "scm", &N);
    sc_want(&C, 404, "not_found", N.key, NULL, NULL, NULL, "DELETE", T "/policy/pending", N.id);
    sc_want(&C, 200, NULL, N.key, NULL, body, NULL, "PUT", T "/policy", N.id);
    sc_call(&C, 200, N.key, NULL, NULL, &r, "DELETE", T "/policy/pending", N.id);
    assert_non_null(strstr(r.body, "\"withdrawn\":2"));
    srv_resp_free(&r);
    sc_at(&C, t0 + 31 * SC_DAY);
    /* Version 1's minimum age of 16 still holds: a 15-year-old is refused. */
    sc_want(&C, 422, "under_age", N.key, "support", subj, NULL, "POST", T "/subjects", N.id);
    assert_int_equal(sc_audit_count(&C, &N, "policy.withdraw"), 1);
    free(body);
}

/* P-DSR-7: SCM: a subject's request acknowledged within 5 business days and answered within 30
 * days. Filed on Thursday 2026-01-01: five business days end on Thursday 2026-01-08, thirty days on
 * 2026-01-31. */
static void test_P_DSR_7_scm_subject_request_flow_and_deadlines(void **state)
{
    (void)state;
    sc_request_story(&C, &A, "ada", contact, "2026-01-08T23:59:59Z", "2026-01-31T23:59:59Z", 0);
}

/* P-BAK-1, P-BAK-2, P-RET-3: backups made by the server, kept no longer than the policy's
 * 30-day backup window, and a restore from before an erasure keeps the subject erased. */
static void test_P_BAK_2_scm_erased_subject_stays_erased_after_a_restore(void **state)
{
    (void)state;
    sc_backup_erase_restore(&C, &A, "support", 30);
}

/* n subjects of tenant t, each with one ticket of status (priority "normal"). */
static void tickets(const sc_tenant *t, const char *status, int n, char last[SRV_ID])
{
    static unsigned next;
    char body[128];

    for (int i = 0; i < n; i++) {
        char sub[SRV_ID];
        snprintf(body, sizeof(body), "{\"external_id\":\"requester-%u\"}", ++next);
        sc_want(&C, 201, NULL, t->key, "support", body, sub, "POST", T "/subjects", t->id);
        snprintf(body, sizeof(body),
                 "{\"subject\":\"printer %u jams\",\"status\":\"%s\",\"priority\":\"normal\"}",
                 next, status);
        sc_put(&C, t, "support", "tickets", sub, body, last);
    }
}

/* P-ANA-1: "We use aggregate, anonymized data for this purpose." An analyst of a new SCM
 * customer counts tickets by status: the 4 escalated tickets' requesters are fewer than the
 * policy's 10, so that group is suppressed, and the smallest other with it, so the total shown
 * gives neither away. The analyst reads no ticket, and cannot group by the ticket's subject
 * line (personal); the query is audited by its shape. */
static void test_P_ANA_1_scm_analyst_gets_aggregates_with_a_small_group_suppressed(void **state)
{
    int64_t t0 = END + 7 * 366 * SC_DAY + 80 * SC_DAY;
    char analyst[128], ticket[SRV_ID];
    sc_tenant N;
    srv_resp r;

    (void)state;
    sc_at(&C, t0);
    sc_tenant_new(&C, "SCM customer, analytics", "scm", &N);
    sc_call(&C, 201, N.key, NULL, "{\"name\":\"reports\",\"role\":\"analyst\"}", &r, "POST",
            T "/api-keys", N.id);
    assert_int_equal(srv_json_str(r.body, "secret", analyst, sizeof(analyst)), 0);
    srv_resp_free(&r);
    tickets(&N, "open", 12, ticket);
    tickets(&N, "closed", 11, ticket);
    tickets(&N, "escalated", 4, ticket);
    /* P-CON-1: a purpose that covers tickets (customer data): "analytics" covers usage data
     * only (policies/scm.yaml), "provide_service" is "to operate, maintain, and improve". */
    sc_want(&C, 403, "purpose_not_allowed", analyst, "analytics",
            "{\"measures\":[{\"op\":\"count\"}]}", NULL, "POST",
            T "/collections/tickets/aggregate", N.id);
    sc_call(&C, 200, analyst, "provide_service",
            "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"status\"]}", &r, "POST",
            T "/collections/tickets/aggregate", N.id);
    assert_non_null(strstr(r.body, "\"min_group_size\":10"));
    assert_non_null(strstr(r.body, "{\"key\":[\"open\"],\"values\":[12]}"));
    assert_null(strstr(r.body, "escalated"));
    assert_null(strstr(r.body, "closed"));
    assert_non_null(strstr(r.body, "\"suppressed\":2"));
    assert_non_null(strstr(r.body, "\"total\":{\"values\":[27]}"));
    assert_null(strstr(r.body, "printer"));
    srv_resp_free(&r);
    sc_want(&C, 400, "field_not_aggregable", analyst, "provide_service",
            "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"subject\"]}", NULL, "POST",
            T "/collections/tickets/aggregate", N.id);
    sc_want(&C, 403, "forbidden", analyst, "support", NULL, NULL, "GET", T "/records/%s", N.id,
            ticket);
    assert_int_equal(sc_audit_count(&C, &N, "analytics.aggregate"), 1);
    assert_int_equal(sc_audit_count(&C, &N, "analytics.group_by"), 1);
}

int main(int argc, char **argv)
{
    static const sc_story story = {
        .title = "scenario: SCM (policies/scm.yaml)",
        .policy = "scm",
        .c = &C,
        .tenants = {&A, &B},
        .names = {"SCM customer", "SCM second customer"},
        .ending = ending,
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AGE_1_scm_refuses_a_subject_aged_15),
        cmocka_unit_test(test_P_BAK_2_scm_erased_subject_stays_erased_after_a_restore),
        cmocka_unit_test(test_P_CON_1_scm_purposes_come_from_the_policy),
        cmocka_unit_test(test_P_CON_2_scm_sharing_needs_consent_in_the_ledger),
        cmocka_unit_test(test_P_DSR_6_scm_objection_stops_legitimate_interest),
        cmocka_unit_test(test_P_DSR_5_scm_restriction_keeps_data_unprocessed),
        cmocka_unit_test(test_P_DSR_7_scm_subject_request_flow_and_deadlines),
        cmocka_unit_test(test_P_RET_5_scm_hold_is_placed_with_a_sealed_reason),
        cmocka_unit_test(test_P_RET_4_scm_logs_kept_12_months),
        cmocka_unit_test(test_P_RET_6_scm_usage_is_anonymized_after_12_months),
        cmocka_unit_test(test_P_RET_5_scm_hold_stops_deletion_until_released),
        cmocka_unit_test(test_P_AGE_2_scm_subject_found_under_age_is_erased),
        cmocka_unit_test(test_P_DSR_4_scm_erasure_keeps_what_the_law_keeps_and_certifies),
        cmocka_unit_test(test_P_RET_2_scm_terminated_tenant_exports_on_day_89),
        cmocka_unit_test(test_P_RET_2_scm_purged_after_day_90),
        cmocka_unit_test(test_P_NOT_1_scm_new_version_waits_30_days),
        cmocka_unit_test(test_P_NOT_1_scm_pending_version_is_withdrawn),
        cmocka_unit_test(test_P_ANA_1_scm_analyst_gets_aggregates_with_a_small_group_suppressed),
    };

    return sc_story_run(&story, tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
