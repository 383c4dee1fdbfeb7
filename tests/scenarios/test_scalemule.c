/*
 * test_scalemule.c: ScaleMule's privacy policy (policies/scalemule.yaml, seed 001) kept by the
 * real server over HTTPS, from 2026-01-01 through the end of its subscription (2029-01-03) and the
 * seven years its billing records are kept. The tests are chapters of one story on one server and
 * one tenant; each moves the clock forward and checks the promises due by then. Each also runs
 * alone: its set-up replays the chapters before it on a fresh server (sc.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sc.h"
#include "th.h"

#define T "/v1/tenants/%s"

static sc C;
static sc_tenant A;
static char ada[SRV_ID], bob[SRV_ID];
static char account[SRV_ID], end_user[SRV_ID], billing[SRV_ID], usage[SRV_ID], log_a[SRV_ID],
    log_b[SRV_ID], support1[SRV_ID], support2[SRV_ID], api_key[SRV_ID];
static char hold[SRV_ID];
static int64_t END;

static void put(const char *purpose, const char *collection, const char *subject, const char *data,
                char id[SRV_ID])
{
    sc_put(&C, &A, purpose, collection, subject, data, id);
}

static void gpc_get(const char *purpose, const char *record, long status, const char *code)
{
    sc_gpc_get(&C, &A, purpose, record, status, code);
}

/* P-AGE-1: "Our Services are not directed to children under 16." */
static void test_P_AGE_1_scalemule_refuses_a_subject_aged_15(void **state)
{
    (void)state;
    /* 15 years and 364 days old on 2026-01-01. */
    sc_want(&C, 422, "under_age", A.key, "provide_service",
            "{\"external_id\":\"teen\",\"birth_date\":\"2010-01-02\"}", NULL, "POST", T "/subjects",
            A.id);
    /* Sixteen that very day: welcome. */
    sc_want(&C, 201, NULL, A.key, "provide_service",
            "{\"external_id\":\"ada\",\"birth_date\":\"2010-01-01\"}", ada, "POST", T "/subjects",
            A.id);
    sc_want(&C, 201, NULL, A.key, "provide_service", "{\"external_id\":\"bob\"}", bob, "POST",
            T "/subjects", A.id);
}

/* P-CON-1: "We process your personal data based on: (i) your consent, (ii) performance of a
 * contract with you, (iii) our legitimate interests, or (iv) compliance with legal
 * obligations." Every purpose is the policy's and covers only its categories. P-ENC-3: card
 * numbers and API secrets never enter a record. */
static void test_P_CON_1_scalemule_purposes_come_from_the_policy(void **state)
{
    (void)state;
    sc_want(&C, 400, "unknown_purpose", A.key, "advertising", "{\"external_id\":\"x\"}", NULL,
            "POST", T "/subjects", A.id);
    put("provide_service", "accounts", ada,
        "{\"name\":\"Ada\",\"email\":\"ada@example.org\",\"organization\":\"Acme\"}", account);
    put("provide_service", "end_users", ada,
        "{\"email\":\"ada@acme.example\",\"name\":\"Ada L.\",\"profile\":\"beta\"}", end_user);
    put("transactions", "billing_records", ada,
        "{\"billing_address\":\"1 Main St\",\"transaction_id\":\"TX-1\",\"amount\":49}", billing);
    put("usage_analytics", "usage_events", ada,
        "{\"endpoint\":\"/v1/db\",\"feature\":\"storage\",\"latency_ms\":12,"
        "\"device_id\":\"dev-77\"}",
        usage);
    put("security", "request_logs", ada,
        "{\"ip_address\":\"192.0.2.7\",\"browser\":\"Firefox\",\"os\":\"Linux\"}", log_a);
    put("security", "request_logs", bob, "{\"ip_address\":\"192.0.2.8\",\"browser\":\"Edge\"}",
        log_b);
    put("support", "support_messages", ada,
        "{\"email\":\"ada@example.org\",\"subject\":\"Quota\",\"body\":\"Raise it\"}", support1);
    put("provide_service", "api_keys", ada, "{\"key_name\":\"ci\",\"key_prefix\":\"sm_ab\"}",
        api_key);
    /* Marketing reaches account data, never billing; billing is for transactions and the law. */
    sc_want(&C, 403, "purpose_not_allowed", A.key, "marketing", NULL, NULL, "GET", T "/records/%s",
            A.id, billing);
    sc_want(&C, 403, "purpose_not_allowed", A.key, "usage_analytics", NULL, NULL, "GET",
            T "/records/%s", A.id, end_user);
    sc_want(&C, 200, NULL, A.key, "legal_compliance", NULL, NULL, "GET", T "/records/%s", A.id,
            billing);
    /* A collection the policy does not declare has no category, so no retention: refused. */
    sc_want(&C, 400, "invalid", A.key, "provide_service", "{\"data\":{\"x\":1}}", NULL, "POST",
            T "/collections/scratch/records", A.id);
    sc_want(&C, 422, "forbidden_field", A.key, "transactions",
            "{\"data\":{\"card_number\":\"4111111111111111\"}}", NULL, "POST",
            T "/collections/billing_records/records", A.id);
    sc_want(&C, 422, "forbidden_field", A.key, "provide_service",
            "{\"data\":{\"secret\":\"sm_secret\"}}", NULL, "POST",
            T "/collections/api_keys/records", A.id);
}

/* P-ENC-6: an email address is found by its exact value through a blind index, and is nowhere
 * in clear at rest. */
static void test_P_ENC_6_scalemule_email_found_by_exact_value_only(void **state)
{
    srv_resp r;

    (void)state;
    sc_call(&C, 200, A.key, "provide_service",
            "{\"field\":\"email\",\"value\":\"ada@example.org\"}", &r, "POST",
            T "/collections/accounts/records/search", A.id);
    assert_non_null(strstr(r.body, account));
    srv_resp_free(&r);
    sc_call(&C, 200, A.key, "provide_service", "{\"field\":\"email\",\"value\":\"ada@example\"}",
            &r, "POST", T "/collections/accounts/records/search", A.id);
    assert_null(strstr(r.body, account));
    srv_resp_free(&r);
    sc_want(&C, 400, "invalid", A.key, "provide_service", "{\"field\":\"name\",\"value\":\"Ada\"}",
            NULL, "POST", T "/collections/accounts/records/search", A.id);
    {
        char db[400], wal[420];
        snprintf(db, sizeof(db), "%s/custos.db", C.s.data);
        snprintf(wal, sizeof(wal), "%s-wal", db);
        assert_int_equal(th_file_contains(db, "ada@example.org", 15), 0);
        assert_int_equal(th_file_contains(wal, "ada@example.org", 15), 0);
    }
}

/* P-CON-2, P-SHR-1: "We may share your information with third parties when you have given us
 * explicit consent to do so." The ledger records each grant and withdrawal; Global Privacy
 * Control opts out of sharing, but not of disclosures the law requires. */
static void test_P_CON_2_scalemule_sharing_needs_consent_in_the_ledger(void **state)
{
    srv_resp r;

    (void)state;
    sc_want(&C, 403, "consent_required", A.key, "shared_with_consent", NULL, NULL, "GET",
            T "/records/%s", A.id, account);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"shared_with_consent\",\"action\":\"grant\",\"source\":\"console\"}",
            NULL, "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "shared_with_consent", NULL, NULL, "GET", T "/records/%s", A.id,
            account);
    gpc_get("shared_with_consent", account, 403, "opted_out");
    gpc_get("legal_disclosure", account, 200, NULL);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"shared_with_consent\",\"action\":\"withdraw\",\"source\":\"email\"}",
            NULL, "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 403, "consent_required", A.key, "shared_with_consent", NULL, NULL, "GET",
            T "/records/%s", A.id, account);
    sc_call(&C, 200, A.key, "legal_compliance", NULL, &r, "GET", T "/subjects/%s/consents", A.id,
            ada);
    assert_non_null(strstr(r.body, "\"action\":\"grant\",\"at\":\"2026-01-01T00:00:00Z\","
                                   "\"source\":\"console\",\"policy_version\":\"2025-12-15\""));
    assert_non_null(strstr(r.body, "\"action\":\"withdraw\""));
    srv_resp_free(&r);
}

/* P-DSR-6, P-CON-4: "You may opt out of receiving promotional communications from us ... Even
 * if you opt out, we may still send you non-promotional communications, such as security
 * alerts and administrative messages." Marketing is legitimate interest: an objection stops
 * it, and administrative notices go on. */
static void test_P_DSR_6_scalemule_objection_stops_marketing(void **state)
{
    (void)state;
    sc_want(&C, 200, NULL, A.key, "marketing", NULL, NULL, "GET", T "/records/%s", A.id, account);
    /* Opt-out, not opt-in: there is no consent to grant. */
    sc_want(&C, 400, "invalid", A.key, NULL, "{\"purpose\":\"marketing\",\"action\":\"grant\"}",
            NULL, "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"object\",\"source\":\"unsubscribe\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 403, "objected", A.key, "marketing", NULL, NULL, "GET", T "/records/%s", A.id,
            account);
    sc_want(&C, 200, NULL, A.key, "admin_notices", NULL, NULL, "GET", T "/records/%s", A.id,
            account);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"withdraw_objection\"}", NULL, "POST",
            T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "marketing", NULL, NULL, "GET", T "/records/%s", A.id, account);
}

/* P-DSR-5: "Right to restrict processing": kept, refused for all but legal obligations and the
 * subject's own access. */
static void test_P_DSR_5_scalemule_restriction_keeps_data_unprocessed(void **state)
{
    char req[SRV_ID];

    (void)state;
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":true}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ada);
    sc_want(&C, 403, "restricted", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            end_user);
    sc_want(&C, 403, "restricted", A.key, "provide_service", "{\"data\":{\"name\":\"Ada X\"}}",
            NULL, "PUT", T "/records/%s", A.id, end_user);
    sc_want(&C, 200, NULL, A.key, "legal_compliance", NULL, NULL, "GET", T "/records/%s", A.id,
            billing);
    /* The subject's own access, through its request (P-DSR-1, issue 10). */
    sc_request_open(&C, &A, "access", ada, req);
    sc_want(&C, 200, NULL, A.key, NULL, NULL, NULL, "GET", T "/requests/%s/records/%s", A.id, req,
            end_user);
    sc_want(&C, 200, NULL, A.key, NULL, "{}", NULL, "POST", T "/requests/%s/complete", A.id, req);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":false}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, end_user);
}

/* P-RET-4: logs ("IP address, browser type, operating system, referring URLs, and timestamps")
 * are kept 12 months, and so is the audit log. P-RET-6: usage data is intact until then. */
static void test_P_RET_4_scalemule_logs_kept_12_months(void **state)
{
    sc_sweep_counts n;
    char body[128];
    srv_resp r;

    (void)state;
    /* P-RET-5: a legal hold on Bob, placed now, will keep his entry past its 12 months. */
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"reason\":\"dispute 2026-3\"}", bob);
    sc_want(&C, 201, NULL, A.key, NULL, body, hold, "POST", T "/holds", A.id);
    /* 12 months minus a day: everything is still there. */
    sc_at(&C, sc_date(2026, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.records_anonymized, 0);
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, log_a);
    sc_call(&C, 200, A.key, "usage_analytics", NULL, &r, "GET", T "/records/%s", A.id, usage);
    assert_non_null(strstr(r.body, "\"device_id\":\"dev-77\""));
    assert_non_null(strstr(r.body, ada));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "hold.place"), 1);
    /* 12 months plus a day: Ada's log entry is gone, Bob's is held, usage is anonymized. */
    sc_at(&C, sc_date(2027, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 1);
    assert_int_equal(n.records_anonymized, 1);
    sc_want(&C, 404, "not_found", A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
    assert_int_equal(sc_audit_count(&C, &A, "record.expire"), 1);
    /* The audit entries of 2026-01-01 have left the log with the rest of that day. */
    assert_int_equal(sc_audit_count(&C, &A, "hold.place"), 0);
}

/* P-RET-6: "Monitor and analyze usage patterns and trends": usage data is anonymized after 12
 * months, not deleted: endpoint, feature and latency stay; the device id and the subject go. */
static void test_P_RET_6_scalemule_usage_is_anonymized_after_12_months(void **state)
{
    srv_resp r;

    (void)state;
    sc_call(&C, 200, A.key, "usage_analytics", NULL, &r, "GET", T "/records/%s", A.id, usage);
    assert_non_null(strstr(r.body, "\"endpoint\":\"/v1/db\""));
    assert_non_null(strstr(r.body, "\"feature\":\"storage\""));
    assert_non_null(strstr(r.body, "\"latency_ms\":12"));
    assert_null(strstr(r.body, "dev-77"));
    assert_null(strstr(r.body, "subject_id"));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "record.anonymize"), 1);
    sc_call(&C, 200, A.key, "support", NULL, &r, "GET", T "/subjects/%s/records", A.id, ada);
    assert_null(strstr(r.body, usage));
    assert_non_null(strstr(r.body, end_user));
    srv_resp_free(&r);
}

/* P-RET-5: the held entry outlived its retention; Bob cannot be erased; released, the next
 * sweep deletes it and erasure works. */
static void test_P_RET_5_scalemule_hold_stops_deletion_until_released(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, log_b);
    sc_want(&C, 409, "legal_hold", A.key, "provide_service", NULL, NULL, "DELETE", T "/subjects/%s",
            A.id, bob);
    sc_want(&C, 409, "legal_hold", A.key, "security", NULL, NULL, "DELETE", T "/records/%s", A.id,
            log_b);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"reason\":\"case closed\"}", NULL, "POST",
            T "/holds/%s/release", A.id, hold);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 0);
    sc_want(&C, 404, "not_found", A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id,
            log_b);
    sc_want(&C, 200, NULL, A.key, "provide_service", NULL, NULL, "DELETE", T "/subjects/%s", A.id,
            bob);
    assert_int_equal(sc_audit_count(&C, &A, "hold.release"), 1);
}

/* P-AGE-2: "If we discover that a child under 16 has provided us with personal information, we
 * will delete such information promptly." */
static void test_P_AGE_2_scalemule_subject_found_under_age_is_erased(void **state)
{
    char cara[SRV_ID], rec[SRV_ID];
    srv_resp r;

    (void)state;
    sc_want(&C, 201, NULL, A.key, "provide_service", "{\"external_id\":\"cara\"}", cara, "POST",
            T "/subjects", A.id);
    put("provide_service", "end_users", cara, "{\"name\":\"Cara\"}", rec);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "POST", T "/subjects/%s/under-age", A.id, cara);
    assert_non_null(strstr(r.body, "\"erased\":true"));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", A.key, "provide_service", NULL, NULL, "GET", T "/subjects/%s",
            A.id, cara);
    sc_want(&C, 404, "not_found", A.key, "provide_service", NULL, NULL, "GET", T "/records/%s",
            A.id, rec);
    assert_int_equal(sc_audit_count(&C, &A, "subject.under_age"), 1);
}

/* P-RET-1: support messages are kept 24 months after the subject's last activity: Ada writes
 * again on 2027-01-02, so her 2026 message outlives its 24 months from creation. */
static void test_P_RET_1_scalemule_support_kept_24_months_after_last_activity(void **state)
{
    sc_sweep_counts n;

    (void)state;
    put("support", "support_messages", ada, "{\"subject\":\"Export\",\"body\":\"How?\"}", support2);
    sc_at(&C, sc_date(2028, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, support1);
    sc_at(&C, sc_date(2029, 1, 1));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, support1);
    sc_at(&C, sc_date(2029, 1, 3));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 2);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            support1);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            support2);
}

/* P-RET-2: "Upon termination of your account, we will delete or anonymize Customer Data within
 * 90 days." Terminated, the data is read-only and exportable on day 89; credentials go at once
 * ("API keys and authentication credentials": kept 0 days after the subscription). */
static void test_P_RET_2_scalemule_terminated_tenant_exports_on_day_89(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    END = C.now;
    sc_want(&C, 403, "forbidden", A.key, NULL, NULL, NULL, "POST", T "/terminate", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "POST", T "/terminate", A.id);
    assert_non_null(strstr(r.body, "\"export_until\":\"2029-04-03T00:00:00Z\""));
    srv_resp_free(&r);
    sc_want(&C, 409, "tenant_terminated", A.key, "provide_service",
            "{\"data\":{\"name\":\"late\"}}", NULL, "POST", T "/collections/end_users/records",
            A.id);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    sc_want(&C, 404, "not_found", A.key, "provide_service", NULL, NULL, "GET", T "/records/%s",
            A.id, api_key);
    /* Day 89: customer data still intact, nothing anonymized or purged yet. */
    sc_at(&C, END + 89 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 0);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.records_anonymized, 0);
    sc_call(&C, 200, A.key, "provide_service", NULL, &r, "GET", T "/records/%s", A.id, end_user);
    assert_non_null(strstr(r.body, "\"email\":\"ada@acme.example\""));
    assert_non_null(strstr(r.body, ada));
    srv_resp_free(&r);
    sc_call(&C, 200, A.key, "export", NULL, &r, "GET", T "/export", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, end_user));
    assert_non_null(strstr(r.body, account));
    assert_non_null(strstr(r.body, "\"feature\":\"storage\""));
    assert_null(strstr(r.body, api_key));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "tenant.export"), 1);
}

/* P-RET-2, P-RET-4: after day 90 the tenant is purged: keys, users, consents and customer data
 * go; billing records ("as necessary to comply with our legal obligations") stay 7 years from
 * their creation, then nothing is retained and the tenant is shredded. */
static void test_P_RET_2_scalemule_purged_after_day_90(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_at(&C, END + 91 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 1);
    assert_int_equal(n.tenants_shredded, 0);
    /* The account, the customer data and the anonymized usage record. */
    assert_int_equal(n.records_deleted, 3);
    sc_want(&C, 401, "unauthenticated", A.key, "export", NULL, NULL, "GET", T "/export", A.id);
    assert_int_equal(sc_rows(&C, &A, "api_keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "users"), 0);
    assert_int_equal(sc_rows(&C, &A, "consents"), 0);
    assert_int_equal(sc_rows(&C, &A, "records"), 1);
    assert_int_equal(sc_rows(&C, &A, "subjects"), 1);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);

    /* Billing: 7 years from 2026-01-01, a day before and a day after. */
    sc_at(&C, sc_date(2032, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(sc_rows(&C, &A, "records"), 1);
    assert_true(sc_rows(&C, &A, "keys") > 0);
    sc_at(&C, sc_date(2033, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.tenants_shredded, 1);
    assert_int_equal(sc_rows(&C, &A, "records"), 0);
    assert_int_equal(sc_rows(&C, &A, "subjects"), 0);
    assert_int_equal(sc_rows(&C, &A, "keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "blind_index"), 0);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.shred"), 1);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);
}

/* P-DSR-7: ScaleMule: answered within 30 days (acknowledged within 5 business days). Filed on
 * Thursday 2026-01-01: five business days end on Thursday 2026-01-08, thirty days on 2026-01-31. */
static void test_P_DSR_7_scalemule_subject_request_flow_and_deadlines(void **state)
{
    (void)state;
    sc_request_story(&C, &A, "ada", end_user, "2026-01-08T23:59:59Z", "2026-01-31T23:59:59Z", 0);
}

/* P-BAK-1, P-BAK-2, P-RET-3: backups made by the server, kept no longer than the policy's
 * 30-day backup window, and a restore from before an erasure keeps the subject erased. */
static void test_P_BAK_2_scalemule_erased_subject_stays_erased_after_a_restore(void **state)
{
    (void)state;
    sc_backup_erase_restore(&C, &A, "provide_service", 30);
}

int main(int argc, char **argv)
{
    static const sc_story story = {
        .title = "scenario: ScaleMule (policies/scalemule.yaml)",
        .policy = "scalemule",
        .c = &C,
        .tenants = {&A},
        .names = {"ScaleMule customer"},
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AGE_1_scalemule_refuses_a_subject_aged_15),
        cmocka_unit_test(test_P_BAK_2_scalemule_erased_subject_stays_erased_after_a_restore),
        cmocka_unit_test(test_P_CON_1_scalemule_purposes_come_from_the_policy),
        cmocka_unit_test(test_P_ENC_6_scalemule_email_found_by_exact_value_only),
        cmocka_unit_test(test_P_CON_2_scalemule_sharing_needs_consent_in_the_ledger),
        cmocka_unit_test(test_P_DSR_6_scalemule_objection_stops_marketing),
        cmocka_unit_test(test_P_DSR_5_scalemule_restriction_keeps_data_unprocessed),
        cmocka_unit_test(test_P_DSR_7_scalemule_subject_request_flow_and_deadlines),
        cmocka_unit_test(test_P_RET_4_scalemule_logs_kept_12_months),
        cmocka_unit_test(test_P_RET_6_scalemule_usage_is_anonymized_after_12_months),
        cmocka_unit_test(test_P_RET_5_scalemule_hold_stops_deletion_until_released),
        cmocka_unit_test(test_P_AGE_2_scalemule_subject_found_under_age_is_erased),
        cmocka_unit_test(test_P_RET_1_scalemule_support_kept_24_months_after_last_activity),
        cmocka_unit_test(test_P_RET_2_scalemule_terminated_tenant_exports_on_day_89),
        cmocka_unit_test(test_P_RET_2_scalemule_purged_after_day_90),
    };

    return sc_story_run(&story, tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
