/*
 * test_erpsmartcloud.c: ERP Smart Cloud's privacy policy (policies/erpsmartcloud.yaml, seed 002)
 * kept by the real server over HTTPS, from 2026-01-01 through the end of its subscription
 * (2028-07-02) and the seven years its billing records are kept. The tests are chapters of one
 * story on one server and one tenant; each moves the clock forward and checks the promises due by
 * then. Each also runs alone: its set-up replays the chapters before it on a fresh server (sc.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "custos.h"
#include "sc.h"
#include "th.h"

#define T "/v1/tenants/%s"

static sc C;
static sc_tenant A;
static char ada[SRV_ID], bob[SRV_ID];
static char account[SRV_ID], order[SRV_ID], invoice[SRV_ID], usage[SRV_ID], log_a[SRV_ID],
    log_b[SRV_ID], ticket_a[SRV_ID], ticket_b[SRV_ID];
static int64_t END;

static void put(const char *purpose, const char *collection, const char *subject, const char *data,
                char id[SRV_ID])
{
    sc_put(&C, &A, purpose, collection, subject, data, id);
}

static void gpc_get(const char *purpose, const char *record, long want, const char *code)
{
    sc_gpc_get(&C, &A, purpose, record, want, code);
}

/* Whether record is still a row of the database (for a purged tenant no key reaches). */
static long row_of(const char *record)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM records WHERE tenant_id = %s AND record_id = %s", A.id, record);
    return (long)th_sql_int(C.s.data, sql);
}

/* P-AGE-1: "not directed at individuals under the age of 18." */
static void test_P_AGE_1_erp_refuses_a_subject_aged_17(void **state)
{
    (void)state;
    /* 17 years and 364 days old on 2026-01-01. */
    sc_want(&C, 422, "under_age", A.key, "account_management",
            "{\"external_id\":\"teen\",\"birth_date\":\"2008-01-02\"}", NULL, "POST", T "/subjects",
            A.id);
    /* Eighteen that very day: welcome. */
    sc_want(&C, 201, NULL, A.key, "account_management",
            "{\"external_id\":\"ada\",\"birth_date\":\"2008-01-01\"}", ada, "POST", T "/subjects",
            A.id);
    sc_want(&C, 201, NULL, A.key, "account_management", "{\"external_id\":\"bob\"}", bob, "POST",
            T "/subjects", A.id);
}

/* P-CON-1: "We process your personal data based on the following legal bases: (a) performance
 * of a contract with you; (b) our legitimate business interests; (c) your consent where
 * explicitly requested; and (d) compliance with legal obligations." Every purpose is the
 * policy's and covers only its categories. */
static void test_P_CON_1_erp_purposes_come_from_the_policy(void **state)
{
    (void)state;
    sc_want(&C, 400, "unknown_purpose", A.key, "advertising", "{\"external_id\":\"x\"}", NULL,
            "POST", T "/subjects", A.id);
    put("account_management", "accounts", ada,
        "{\"full_name\":\"Ada\",\"email\":\"ada@example.org\",\"company\":\"Acme\"}", account);
    put("marketplace_sync", "orders", ada,
        "{\"marketplace\":\"Temu\",\"order_number\":\"TM-1\",\"buyer_name\":\"Ada\"}", order);
    put("billing", "invoices", ada, "{\"invoice_number\":\"INV-1\",\"amount\":99}", invoice);
    put("service_improvement", "usage_events", ada,
        "{\"feature\":\"reports\",\"session_seconds\":60,\"device_id\":\"dev-7\"}", usage);
    put("security", "access_logs", ada, "{\"path\":\"/login\",\"ip_address\":\"192.0.2.7\"}",
        log_a);
    put("security", "access_logs", bob, "{\"path\":\"/home\",\"ip_address\":\"192.0.2.8\"}", log_b);
    put("support", "support_tickets", ada, "{\"subject\":\"sync\",\"body\":\"help\"}", ticket_a);
    put("support", "support_tickets", bob, "{\"subject\":\"login\",\"body\":\"help\"}", ticket_b);
    /* Marketplace sync covers business data only; support does not cover billing. */
    sc_want(&C, 403, "purpose_not_allowed", A.key, "marketplace_sync", NULL, NULL, "GET",
            T "/records/%s", A.id, account);
    sc_want(&C, 403, "purpose_not_allowed", A.key, "support", NULL, NULL, "GET", T "/records/%s",
            A.id, invoice);
    /* A collection the policy does not declare has no category, so no retention: refused. */
    sc_want(&C, 400, "invalid", A.key, "provide_service", "{\"data\":{\"x\":1}}", NULL, "POST",
            T "/collections/scratch/records", A.id);
    /* P-ENC-3: "password (stored in hashed form)"; "we do not store raw card numbers". */
    sc_want(&C, 422, "forbidden_field", A.key, "account_management",
            "{\"data\":{\"password\":\"hunter2\"}}", NULL, "POST",
            T "/collections/accounts/records", A.id);
    sc_want(&C, 422, "forbidden_field", A.key, "billing",
            "{\"data\":{\"card_number\":\"4111111111111111\"}}", NULL, "POST",
            T "/collections/invoices/records", A.id);
}

/* P-ENC-6: "AES-256 encryption for sensitive data at rest": an indexed email is found by its
 * exact value only (keyed blind index), never by a part of it. */
static void test_P_ENC_6_erp_email_found_by_exact_value_only(void **state)
{
    srv_resp r;

    (void)state;
    sc_call(&C, 200, A.key, "account_management",
            "{\"field\":\"email\",\"value\":\"ada@example.org\"}", &r, "POST",
            T "/collections/accounts/records/search", A.id);
    assert_non_null(strstr(r.body, account));
    srv_resp_free(&r);
    sc_call(&C, 200, A.key, "account_management", "{\"field\":\"email\",\"value\":\"ada@\"}", &r,
            "POST", T "/collections/accounts/records/search", A.id);
    assert_non_null(strstr(r.body, "\"ids\":[]"));
    srv_resp_free(&r);
}

/* P-CON-1, P-CON-2, P-DSR-6: "Where required by law, we will obtain your consent before sending
 * marketing communications." and "We may share information for any other purpose with your
 * explicit consent." No consent, no marketing; withdrawn, none again; Global Privacy Control
 * opts out of sharing, but not of disclosures the law requires. */
static void test_P_CON_1_erp_marketing_and_sharing_need_consent(void **state)
{
    srv_resp r;

    (void)state;
    /* Contract purposes need no consent. */
    sc_want(&C, 200, NULL, A.key, "transactional_email", NULL, NULL, "GET", T "/records/%s", A.id,
            account);
    sc_want(&C, 403, "consent_required", A.key, "marketing", NULL, NULL, "GET", T "/records/%s",
            A.id, account);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"grant\",\"source\":\"signup-form\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "marketing", NULL, NULL, "GET", T "/records/%s", A.id, account);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"withdraw\",\"source\":\"unsubscribe\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 403, "consent_required", A.key, "marketing", NULL, NULL, "GET", T "/records/%s",
            A.id, account);
    /* Sharing with consent, unless the request carries Sec-GPC: 1. */
    sc_want(&C, 403, "consent_required", A.key, "shared_with_consent", NULL, NULL, "GET",
            T "/records/%s", A.id, order);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"shared_with_consent\",\"action\":\"grant\",\"source\":\"web\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "shared_with_consent", NULL, NULL, "GET", T "/records/%s", A.id,
            order);
    gpc_get("shared_with_consent", order, 403, "opted_out");
    gpc_get("legal_disclosure", order, 200, NULL);
    /* Only consent-based purposes are granted. */
    sc_want(&C, 400, "invalid", A.key, NULL, "{\"purpose\":\"billing\",\"action\":\"grant\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ada);
    sc_call(&C, 200, A.key, "legal_compliance", NULL, &r, "GET", T "/subjects/%s/consents", A.id,
            ada);
    assert_non_null(strstr(r.body, "\"purpose\":\"marketing\",\"action\":\"grant\",\"at\":"
                                   "\"2026-01-01T00:00:00Z\",\"source\":\"signup-form\","
                                   "\"policy_version\":\"1.0\""));
    assert_non_null(strstr(r.body, "\"action\":\"withdraw\""));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "consent.record"), 3);
}

/* P-DSR-6: "Objection: Object to processing of your personal data based on legitimate
 * interests." An objection stops that purpose, and only that one, until withdrawn. */
static void test_P_DSR_6_erp_objection_stops_legitimate_interest(void **state)
{
    (void)state;
    sc_want(&C, 200, NULL, A.key, "service_improvement", NULL, NULL, "GET", T "/records/%s", A.id,
            usage);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"service_improvement\",\"action\":\"object\"}", NULL, "POST",
            T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 403, "objected", A.key, "service_improvement", NULL, NULL, "GET", T "/records/%s",
            A.id, usage);
    sc_want(&C, 200, NULL, A.key, "analytics", NULL, NULL, "GET", T "/records/%s", A.id, usage);
    /* Contract purposes cannot be objected to. */
    sc_want(&C, 400, "invalid", A.key, NULL, "{\"purpose\":\"billing\",\"action\":\"object\"}",
            NULL, "POST", T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"service_improvement\",\"action\":\"withdraw_objection\"}", NULL, "POST",
            T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "service_improvement", NULL, NULL, "GET", T "/records/%s", A.id,
            usage);
    assert_int_equal(sc_audit_count(&C, &A, "objection.record"), 2);
}

/* P-DSR-5: "Restriction: Request restriction of processing in certain circumstances." */
static void test_P_DSR_5_erp_restriction_keeps_data_unprocessed(void **state)
{
    char req[SRV_ID];

    (void)state;
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":true}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ada);
    sc_want(&C, 403, "restricted", A.key, "provide_service", NULL, NULL, "GET", T "/records/%s",
            A.id, order);
    sc_want(&C, 200, NULL, A.key, "legal_compliance", NULL, NULL, "GET", T "/records/%s", A.id,
            invoice);
    /* The subject's own access, through its request (P-DSR-1, issue 10). */
    sc_request_open(&C, &A, "access", ada, req);
    sc_want(&C, 200, NULL, A.key, NULL, NULL, NULL, "GET", T "/requests/%s/records/%s", A.id, req,
            order);
    sc_want(&C, 200, NULL, A.key, NULL, "{}", NULL, "POST", T "/requests/%s/complete", A.id, req);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":false}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ada);
}

/* P-RET-1: a write to Ada's data on 2026-07-01 is her last activity. */
static void test_P_RET_1_erp_ada_is_active_in_july(void **state)
{
    (void)state;
    sc_at(&C, sc_date(2026, 7, 1));
    sc_want(&C, 200, NULL, A.key, "account_management",
            "{\"data\":{\"full_name\":\"Ada\",\"email\":\"ada@example.org\",\"company\":\"Acme "
            "Ltd\"}}",
            NULL, "PUT", T "/records/%s", A.id, account);
}

/* P-RET-4: "Log and security data may be retained for up to 12 months for security and
 * compliance purposes." P-RET-5: "subject to legal retention requirements": Bob's log entry,
 * held, outlives them until released. */
static void test_P_RET_4_erp_logs_kept_12_months(void **state)
{
    sc_sweep_counts n;
    char body[128], hold[SRV_ID];

    (void)state;
    sc_at(&C, sc_date(2026, 12, 31));
    snprintf(body, sizeof(body), "{\"record_id\":\"%s\",\"reason\":\"subpoena 2026-3\"}", log_b);
    sc_want(&C, 201, NULL, A.key, NULL, body, hold, "POST", T "/holds", A.id);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.records_anonymized, 0);
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, log_a);
    sc_at(&C, sc_date(2027, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 1);
    sc_want(&C, 404, "not_found", A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
    assert_int_equal(sc_audit_count(&C, &A, "record.expire"), 1);
    /* Bob's held entry stays, and cannot be deleted by hand, until the hold is released. */
    sc_want(&C, 200, NULL, A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id, log_b);
    sc_want(&C, 409, "legal_hold", A.key, "security", NULL, NULL, "DELETE", T "/records/%s", A.id,
            log_b);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"reason\":\"case closed\"}", NULL, "POST",
            T "/holds/%s/release", A.id, hold);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 0);
    sc_want(&C, 404, "not_found", A.key, "security", NULL, NULL, "GET", T "/records/%s", A.id,
            log_b);
}

/* P-RET-6: "We use anonymized or aggregated data for this purpose.": usage data is anonymized
 * after 12 months: its plain fields stay, the device id and the subject go. */
static void test_P_RET_6_erp_usage_is_anonymized_after_12_months(void **state)
{
    srv_resp r;

    (void)state;
    sc_call(&C, 200, A.key, "analytics", NULL, &r, "GET", T "/records/%s", A.id, usage);
    assert_non_null(strstr(r.body, "\"feature\":\"reports\""));
    assert_non_null(strstr(r.body, "\"session_seconds\":60"));
    assert_null(strstr(r.body, "dev-7"));
    assert_null(strstr(r.body, "subject_id"));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "record.anonymize"), 1);
}

/* P-RET-1: communications (seed silent) are deleted 24 months after the subject's last
 * activity: Bob's ticket on 2028-01-01, Ada's, whose data was written on 2026-07-01, not until
 * 2028-07-01. */
static void test_P_RET_1_erp_tickets_kept_24_months_after_last_activity(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_at(&C, sc_date(2027, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, ticket_b);
    sc_at(&C, sc_date(2028, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            ticket_b);
    /* Ada's ticket, as old, survives: her newer activity moved its clock. */
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, ticket_a);
    sc_at(&C, sc_date(2028, 6, 30));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, ticket_a);
    sc_at(&C, sc_date(2028, 7, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            ticket_a);
    assert_int_equal(sc_audit_count(&C, &A, "record.expire"), 2);
}

/* P-AGE-2: "If we become aware that we have inadvertently collected personal information from
 * a child under 18, we will take steps to delete that information promptly." */
static void test_P_AGE_2_erp_subject_found_under_age_is_erased(void **state)
{
    char cara[SRV_ID], rec[SRV_ID];
    srv_resp r;

    (void)state;
    sc_want(&C, 201, NULL, A.key, "account_management", "{\"external_id\":\"cara\"}", cara, "POST",
            T "/subjects", A.id);
    put("account_management", "accounts", cara, "{\"full_name\":\"Cara\"}", rec);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "POST", T "/subjects/%s/under-age", A.id, cara);
    assert_non_null(strstr(r.body, "\"erased\":true"));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", A.key, "account_management", NULL, NULL, "GET", T "/subjects/%s",
            A.id, cara);
    sc_want(&C, 404, "not_found", A.key, "account_management", NULL, NULL, "GET", T "/records/%s",
            A.id, rec);
    assert_int_equal(sc_audit_count(&C, &A, "subject.under_age"), 1);
}

/* P-RET-2: "Upon termination, you may export your data within 30 days." Terminated on
 * 2028-07-02, the data is read-only and exportable on day 29. */
static void test_P_RET_2_erp_terminated_tenant_exports_on_day_29(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    END = C.now;
    sc_want(&C, 403, "forbidden", A.key, NULL, NULL, NULL, "POST", T "/terminate", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "POST", T "/terminate", A.id);
    assert_non_null(strstr(r.body, "\"export_until\":\"2028-08-01T00:00:00Z\""));
    srv_resp_free(&r);
    sc_want(&C, 409, "tenant_terminated", A.key, "marketplace_sync",
            "{\"data\":{\"order_number\":\"late\"}}", NULL, "POST", T "/collections/orders/records",
            A.id);
    sc_at(&C, END + 29 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 0);
    assert_int_equal(n.records_deleted, 0);
    sc_call(&C, 200, A.key, "export", NULL, &r, "GET", T "/export", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, "\"order_number\":\"TM-1\""));
    assert_non_null(strstr(r.body, "\"company\":\"Acme Ltd\""));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "tenant.export"), 1);
}

/* P-RET-2: after day 30 the tenant is purged and its business data deleted; "Account data is
 * retained ... for up to 90 days after account termination": kept to day 90, out of reach. */
static void test_P_RET_2_erp_purged_after_day_30_account_data_kept_90_days(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_at(&C, END + 31 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 1);
    assert_int_equal(n.tenants_shredded, 0);
    sc_want(&C, 401, "unauthenticated", A.key, "export", NULL, NULL, "GET", T "/export", A.id);
    assert_int_equal(sc_rows(&C, &A, "api_keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "users"), 0);
    assert_int_equal(sc_rows(&C, &A, "consents"), 0);
    /* Orders and the anonymized usage are gone; the account and the invoice stay. */
    assert_int_equal(row_of(account), 1);
    assert_int_equal(row_of(invoice), 1);
    assert_int_equal(sc_rows(&C, &A, "records"), 2);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);
    sc_at(&C, END + 89 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(row_of(account), 1);
    sc_at(&C, END + 91 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.tenants_shredded, 0);
    assert_int_equal(row_of(account), 0);
    assert_int_equal(row_of(invoice), 1);
}

/* P-RET-4: "Financial and billing records are retained for 7 years as required by applicable
 * accounting and tax laws.": 7 years from the invoice's creation (2026-01-01), past the purge;
 * then nothing is retained and the tenant is shredded. */
static void test_P_RET_4_erp_billing_kept_7_years_then_shredded(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_at(&C, sc_date(2032, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.tenants_shredded, 0);
    assert_int_equal(row_of(invoice), 1);
    assert_true(sc_rows(&C, &A, "keys") > 0);
    sc_at(&C, sc_date(2033, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.tenants_shredded, 1);
    assert_int_equal(sc_rows(&C, &A, "records"), 0);
    assert_int_equal(sc_rows(&C, &A, "subjects"), 0);
    assert_int_equal(sc_rows(&C, &A, "keys"), 0);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.shred"), 1);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_shredded, 0);
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

/* P-NOT-1, P-NOT-2: "When we make material changes, we will: Notify registered users ... at
 * least 14 days before the changes take effect; Where required by law, obtain your consent before
 * implementing changes." Marketing now reaches business data: the version waits 14 days, the
 * subjects who consented before are listed to consent again, and from day 14 their old consent
 * no longer counts; a consent given again does. */
static void test_P_NOT_2_erp_changed_marketing_needs_fresh_consent_after_14_days(void **state)
{
    char *body = policy_body("erpsmartcloud",
                             "    data_use: marketing.communications.email\n"
                             "    basis: consent\n    categories: [account]\n",
                             "    data_use: marketing.communications.email\n"
                             "    basis: consent\n    categories: [account, business]\n");
    int64_t t0 = sc_date(2033, 2, 1);
    char ada2[SRV_ID], acct[SRV_ID];
    sc_tenant N;
    srv_resp r;

    (void)state;
    sc_at(&C, t0);
    sc_tenant_new(&C, "ERP seller, later", "erpsmartcloud", &N);
    sc_want(&C, 201, NULL, N.key, "provide_service",
            "{\"external_id\":\"ada\",\"birth_date\":\"1990-01-01\"}", ada2, "POST", T "/subjects",
            N.id);
    sc_put(&C, &N, "provide_service", "accounts", ada2, "{\"company\":\"Acme\"}", acct);
    sc_want(&C, 201, NULL, N.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"grant\",\"source\":\"signup-form\"}", NULL,
            "POST", T "/subjects/%s/consents", N.id, ada2);
    sc_at(&C, t0 + SC_DAY);
    sc_call(&C, 200, N.key, NULL, body, &r, "PUT", T "/policy", N.id);
    assert_non_null(strstr(r.body, "\"in_force\":false"));
    assert_non_null(strstr(r.body, "\"fresh_consent\":[\"marketing\"]"));
    srv_resp_free(&r);
    sc_call(&C, 200, N.key, NULL, NULL, &r, "GET", T "/policy/fresh-consent", N.id);
    assert_non_null(strstr(r.body, ada2));
    assert_non_null(strstr(r.body, "\"stops_counting_at\":\"2033-02-16T00:00:00Z\""));
    srv_resp_free(&r);
    /* Day 13: the old terms and the consent given under them hold. */
    sc_at(&C, t0 + 14 * SC_DAY);
    sc_want(&C, 200, NULL, N.key, "marketing", NULL, NULL, "GET", T "/records/%s", N.id, acct);
    /* Day 14: the new terms; the old consent no longer counts. */
    sc_at(&C, t0 + 15 * SC_DAY);
    sc_want(&C, 403, "consent_required", N.key, "marketing", NULL, NULL, "GET", T "/records/%s",
            N.id, acct);
    sc_want(&C, 201, NULL, N.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"grant\",\"source\":\"email\"}", NULL,
            "POST", T "/subjects/%s/consents", N.id, ada2);
    sc_want(&C, 200, NULL, N.key, "marketing", NULL, NULL, "GET", T "/records/%s", N.id, acct);
    sc_call(&C, 200, N.key, NULL, NULL, &r, "GET", T "/policy/fresh-consent", N.id);
    assert_non_null(strstr(r.body, "\"subjects\":[]"));
    srv_resp_free(&r);
    free(body);
}

/* P-DSR-7: ERP Smart Cloud: acknowledged within 5 business days, answered within 30. Filed on
 * Thursday 2026-01-01: five business days end on Thursday 2026-01-08, thirty days on 2026-01-31. */
static void test_P_DSR_7_erp_subject_request_flow_and_deadlines(void **state)
{
    (void)state;
    sc_request_story(&C, &A, "ada", order, "2026-01-08T23:59:59Z", "2026-01-31T23:59:59Z", 0);
}

/* --- cookies and unsubscribe (issue 14: P-CON-3, P-CON-4) --------------------------------- */

static sc_tenant W; /* the seller's web shop, from 2033-03-01 */
static char carl[SRV_ID], carl_acct[SRV_ID], carl_link[256];

/* The answer's "allowed" array of a cookie check of visitor (with Sec-GPC: 1 if gpc). */
static void cookies_allowed(const char *visitor, int gpc, const char *want)
{
    char auth[200], path[160];
    const char *h[] = {auth, gpc ? "Sec-GPC: 1" : NULL, NULL};
    srv_resp r;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", W.key);
    snprintf(path, sizeof(path), "/v1/tenants/%s/cookies/check?visitor=%s", W.id, visitor);
    assert_int_equal(srv_call_h(&C.s, "GET", path, h, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    if (strstr(r.body, want) == NULL)
        fail_msg("cookies of %s%s: %s, want %s", visitor, gpc ? " (GPC)" : "", r.body, want);
    srv_resp_free(&r);
}

/* P-CON-3: "Essential cookies: Required for the Service to function ... You cannot opt out of
 * these." "You can control non-essential cookies through ... our cookie consent banner." "We do
 * not use advertising cookies." A visitor's banner choice opens analytics; advertising cannot
 * be granted; Global Privacy Control turns the consent categories off again. */
static void test_P_CON_3_erp_cookie_choices_and_gpc(void **state)
{
    const char *v = "erp-visitor-0000000001";
    srv_resp r;

    (void)state;
    sc_at(&C, sc_date(2033, 3, 1));
    sc_tenant_new(&C, "ERP web shop", "erpsmartcloud", &W);
    cookies_allowed(v, 0, "\"allowed\":[\"essential\"],");
    sc_want(&C, 201, NULL, W.key, NULL,
            "{\"visitor\":\"erp-visitor-0000000001\",\"categories\":{\"analytics\":true,"
            "\"preference\":false},\"source\":\"banner\"}",
            NULL, "POST", T "/cookies/choices", W.id);
    cookies_allowed(v, 0, "\"allowed\":[\"essential\",\"analytics\"],");
    cookies_allowed(v, 1, "\"allowed\":[\"essential\"],");
    sc_want(&C, 400, "cookie_never", W.key, NULL,
            "{\"visitor\":\"erp-visitor-0000000001\",\"categories\":{\"advertising\":true}}", NULL,
            "POST", T "/cookies/choices", W.id);
    cookies_allowed(v, 0, "\"allowed\":[\"essential\",\"analytics\"],");
    /* The banner script, to anyone, with the rules and no key. */
    sc_call(&C, 200, NULL, NULL, NULL, &r, "GET", T "/cookies/banner.js", W.id);
    assert_non_null(strstr(r.body, "\"advertising\":\"never\""));
    assert_null(strstr(r.body, W.key));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &W, "cookies.choose"), 1);
}

/* The one-click POST of RFC 8058 to a link's path, no credential: the status. */
static long erp_one_click(const char *url)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    static const char body[] = "List-Unsubscribe=One-Click";
    srv_resp r;
    long st;

    assert_int_equal(srv_call_h(&C.s, "POST", url, h, body, sizeof(body) - 1, &r), 0);
    st = r.status;
    srv_resp_free(&r);
    return st;
}

/* P-CON-4: "You may also unsubscribe from marketing emails at any time using the unsubscribe
 * link in any such email." and "Sending product updates, security alerts, and transactional
 * emails." Carl leaves marketing in one click; his transactional email still goes out. */
static void test_P_CON_4_erp_one_click_unsubscribe_keeps_service_notices(void **state)
{
    srv_resp r;

    (void)state;
    sc_want(&C, 201, NULL, W.key, "provide_service",
            "{\"external_id\":\"carl\",\"birth_date\":\"1980-05-05\"}", carl, "POST",
            T "/subjects", W.id);
    sc_put(&C, &W, "provide_service", "accounts", carl, "{\"company\":\"Carl's Parts\"}",
           carl_acct);
    sc_want(&C, 201, NULL, W.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"grant\",\"source\":\"signup-form\"}", NULL,
            "POST", T "/subjects/%s/consents", W.id, carl);
    sc_want(&C, 200, NULL, W.key, "marketing", NULL, NULL, "GET", T "/records/%s", W.id,
            carl_acct);
    sc_want(&C, 400, "invalid", W.key, NULL, "{\"purpose\":\"transactional_email\"}", NULL,
            "POST", T "/subjects/%s/unsubscribe-links", W.id, carl);
    sc_call(&C, 201, W.key, NULL, "{\"purpose\":\"marketing\"}", &r, "POST",
            T "/subjects/%s/unsubscribe-links", W.id, carl);
    assert_int_equal(srv_json_str(r.body, "url", carl_link, sizeof(carl_link)), 0);
    srv_resp_free(&r);
    /* A mail scanner's GET changes nothing. */
    sc_call(&C, 200, NULL, NULL, NULL, &r, "GET", "%s", carl_link);
    srv_resp_free(&r);
    sc_want(&C, 200, NULL, W.key, "marketing", NULL, NULL, "GET", T "/records/%s", W.id,
            carl_acct);
    assert_int_equal(erp_one_click(carl_link), 200);
    sc_want(&C, 403, "consent_required", W.key, "marketing", NULL, NULL, "GET", T "/records/%s",
            W.id, carl_acct);
    sc_want(&C, 200, NULL, W.key, "transactional_email", NULL, NULL, "GET", T "/records/%s", W.id,
            carl_acct);
    /* He signs up again: a new link for the new consent. */
    sc_want(&C, 201, NULL, W.key, NULL,
            "{\"purpose\":\"marketing\",\"action\":\"grant\",\"source\":\"web-form\"}", NULL,
            "POST", T "/subjects/%s/consents", W.id, carl);
    sc_call(&C, 201, W.key, NULL, "{\"purpose\":\"marketing\"}", &r, "POST",
            T "/subjects/%s/unsubscribe-links", W.id, carl);
    assert_int_equal(srv_json_str(r.body, "url", carl_link, sizeof(carl_link)), 0);
    srv_resp_free(&r);
}

/* P-CON-4 with P-NOT-1: a link names the terms it was sent under. A new version (marketing
 * widened, 14 days' notice) leaves it working while pending, and kills it (410) the day the
 * version takes effect. */
static void test_P_CON_4_erp_link_dies_with_the_next_policy_version(void **state)
{
    char *body = policy_body("erpsmartcloud",
                             "    data_use: marketing.communications.email\n"
                             "    basis: consent\n    categories: [account]\n",
                             "    data_use: marketing.communications.email\n"
                             "    basis: consent\n    categories: [account, business]\n");
    int64_t t0 = sc_date(2033, 3, 2);
    srv_resp r;

    (void)state;
    sc_at(&C, t0);
    sc_call(&C, 200, W.key, NULL, body, &r, "PUT", T "/policy", W.id);
    assert_non_null(strstr(r.body, "\"in_force\":false"));
    srv_resp_free(&r);
    free(body);
    sc_at(&C, t0 + 13 * SC_DAY);
    sc_call(&C, 200, NULL, NULL, NULL, &r, "GET", "%s", carl_link);
    srv_resp_free(&r);
    sc_at(&C, t0 + 15 * SC_DAY);
    sc_want(&C, 410, "link_expired", NULL, NULL, NULL, NULL, "GET", "%s", carl_link);
    assert_int_equal(erp_one_click(carl_link), 410);
}

int main(int argc, char **argv)
{
    static const sc_story story = {
        .title = "scenario: ERP Smart Cloud (policies/erpsmartcloud.yaml)",
        .policy = "erpsmartcloud",
        .c = &C,
        .tenants = {&A},
        .names = {"ERP seller"},
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AGE_1_erp_refuses_a_subject_aged_17),
        cmocka_unit_test(test_P_CON_1_erp_purposes_come_from_the_policy),
        cmocka_unit_test(test_P_ENC_6_erp_email_found_by_exact_value_only),
        cmocka_unit_test(test_P_CON_1_erp_marketing_and_sharing_need_consent),
        cmocka_unit_test(test_P_DSR_6_erp_objection_stops_legitimate_interest),
        cmocka_unit_test(test_P_DSR_5_erp_restriction_keeps_data_unprocessed),
        cmocka_unit_test(test_P_DSR_7_erp_subject_request_flow_and_deadlines),
        cmocka_unit_test(test_P_RET_1_erp_ada_is_active_in_july),
        cmocka_unit_test(test_P_RET_4_erp_logs_kept_12_months),
        cmocka_unit_test(test_P_RET_6_erp_usage_is_anonymized_after_12_months),
        cmocka_unit_test(test_P_RET_1_erp_tickets_kept_24_months_after_last_activity),
        cmocka_unit_test(test_P_AGE_2_erp_subject_found_under_age_is_erased),
        cmocka_unit_test(test_P_RET_2_erp_terminated_tenant_exports_on_day_29),
        cmocka_unit_test(test_P_RET_2_erp_purged_after_day_30_account_data_kept_90_days),
        cmocka_unit_test(test_P_RET_4_erp_billing_kept_7_years_then_shredded),
        cmocka_unit_test(test_P_NOT_2_erp_changed_marketing_needs_fresh_consent_after_14_days),
        cmocka_unit_test(test_P_CON_3_erp_cookie_choices_and_gpc),
        cmocka_unit_test(test_P_CON_4_erp_one_click_unsubscribe_keeps_service_notices),
        cmocka_unit_test(test_P_CON_4_erp_link_dies_with_the_next_policy_version),
    };

    return sc_story_run(&story, tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
