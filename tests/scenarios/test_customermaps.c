/*
 * test_customermaps.c: Customer Maps's privacy policy (policies/customermaps.yaml, seed 003) kept
 * by the real server over HTTPS, from 2026-01-01 through a year of service, the end of the
 * subscription and the 30 days after it. The tests are chapters of one story on one server and one
 * tenant (B, another enterprise, only for isolation); each moves the clock forward and checks the
 * promises due by then. Each also runs alone: its set-up replays the chapters before it on a fresh
 * server (sc.h).
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
static sc_tenant A, B;
static char ada[SRV_ID], bob[SRV_ID];
static char user_ada[SRV_ID], invoice[SRV_ID], shipping[SRV_ID], log_a[SRV_ID], log_b[SRV_ID],
    diag[SRV_ID];
static char log_hold[SRV_ID];
static char actor[64]; /* "operator:key:<id>", as the tenant's log names platform staff */
static int64_t END;

static void put(const char *purpose, const char *collection, const char *subject, const char *data,
                char id[SRV_ID])
{
    sc_put(&C, &A, purpose, collection, subject, data, id);
}

/* P-AGE-1: minimum age 16 (seed silent; the policy's choice). */
static void test_P_AGE_1_customermaps_refuses_a_subject_aged_15(void **state)
{
    (void)state;
    /* 15 years and 364 days old on 2026-01-01. */
    sc_want(&C, 422, "under_age", A.key, "account_management",
            "{\"external_id\":\"teen\",\"birth_date\":\"2010-01-02\"}", NULL, "POST", T "/subjects",
            A.id);
    /* Sixteen that very day: welcome. */
    sc_want(&C, 201, NULL, A.key, "account_management",
            "{\"external_id\":\"ada\",\"email\":\"ada@acme.example\",\"birth_date\":"
            "\"2010-01-01\"}",
            ada, "POST", T "/subjects", A.id);
    sc_want(&C, 201, NULL, A.key, "account_management", "{\"external_id\":\"bob\"}", bob, "POST",
            T "/subjects", A.id);
}

/* P-CON-1: "We use collected information to: Provide, maintain, and improve the Services,
 * Manage accounts [...], Monitor security [...], Perform troubleshooting [...], Comply with
 * legal and regulatory requirements": those purposes only, each for its data. */
static void test_P_CON_1_customermaps_purposes_come_from_the_policy(void **state)
{
    (void)state;
    /* "We do not use data collected through the Services for advertising purposes." */
    sc_want(&C, 400, "unknown_purpose", A.key, "advertising", "{\"external_id\":\"x\"}", NULL,
            "POST", T "/subjects", A.id);
    put("account_management", "users", ada,
        "{\"name\":\"Ada\",\"work_email\":\"ada@acme.example\",\"role\":\"buyer\"}", user_ada);
    put("provide_service", "invoices", ada,
        "{\"invoice_number\":\"INV-7\",\"amount\":990,\"contact_email\":\"ap@acme.example\"}",
        invoice);
    put("provide_service", "shipping_records", bob,
        "{\"tracking_number\":\"TRK-1\",\"recipient_name\":\"Bob\"}", shipping);
    put("security_monitoring", "audit_logs", ada,
        "{\"actor\":\"ada\",\"action\":\"login\",\"ip_address\":\"192.0.2.7\"}", log_a);
    put("troubleshooting", "audit_logs", bob,
        "{\"actor\":\"bob\",\"action\":\"export\",\"ip_address\":\"192.0.2.8\"}", log_b);
    put("troubleshooting", "diagnostics", NULL, "{\"metric\":\"p99_ms\",\"value\":\"41\"}", diag);
    /* Each purpose covers its categories only. */
    sc_want(&C, 403, "purpose_not_allowed", A.key, "account_management", NULL, NULL, "GET",
            T "/records/%s", A.id, invoice);
    sc_want(&C, 403, "purpose_not_allowed", A.key, "security_monitoring", NULL, NULL, "GET",
            T "/records/%s", A.id, invoice);
    sc_want(&C, 403, "purpose_not_allowed", A.key, "provide_service", NULL, NULL, "GET",
            T "/records/%s", A.id, log_a);
    sc_want(&C, 200, NULL, A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
    sc_want(&C, 200, NULL, A.key, "provide_service", NULL, NULL, "GET", T "/records/%s", A.id,
            invoice);
    /* A collection the policy does not declare has no category, so no retention: refused. */
    sc_want(&C, 400, "invalid", A.key, "provide_service", "{\"data\":{\"x\":1}}", NULL, "POST",
            T "/collections/calendars/records", A.id);
    /* No purpose rests on consent: there is nothing to grant. */
    sc_want(&C, 400, "invalid", A.key, NULL,
            "{\"purpose\":\"provide_service\",\"action\":\"grant\"}", NULL, "POST",
            T "/subjects/%s/consents", A.id, ada);
    /* Security monitoring rests on legitimate interest: an objection stops it (P-DSR-6). */
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"security_monitoring\",\"action\":\"object\"}", NULL, "POST",
            T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 403, "objected", A.key, "security_monitoring", NULL, NULL, "GET", T "/records/%s",
            A.id, log_a);
    sc_want(&C, 200, NULL, A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"purpose\":\"security_monitoring\",\"action\":\"withdraw_objection\"}", NULL, "POST",
            T "/subjects/%s/consents", A.id, ada);
    sc_want(&C, 200, NULL, A.key, "security_monitoring", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
}

/* P-ACC-4: "Monitor security, prevent misuse, and investigate incidents" and "Perform
 * troubleshooting and root-cause analysis using tenant-isolated data": platform staff reach a
 * customer's data for the policy's operator purposes only, and never write it. */
static void test_P_ACC_4_customermaps_staff_only_for_listed_purposes(void **state)
{
    (void)state;
    sc_want(&C, 403, "forbidden", C.s.operator_key, "provide_service", NULL, NULL, "GET",
            T "/records/%s", A.id, invoice);
    sc_want(&C, 403, "forbidden", C.s.operator_key, "legal_disclosure", NULL, NULL, "GET",
            T "/records/%s", A.id, invoice);
    sc_want(&C, 403, "forbidden", C.s.operator_key, "subject_access", NULL, NULL, "GET",
            T "/records/%s", A.id, invoice);
    sc_want(&C, 400, "unknown_purpose", C.s.operator_key, "advertising", NULL, NULL, "GET",
            T "/records/%s", A.id, invoice);
    sc_want(&C, 403, "forbidden", C.s.operator_key, "support",
            "{\"data\":{\"invoice_number\":\"INV-8\"}}", NULL, "POST",
            T "/collections/invoices/records", A.id);
    /* Listed purposes, each still bound to its categories. */
    sc_want(&C, 200, NULL, C.s.operator_key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            invoice);
    sc_want(&C, 200, NULL, C.s.operator_key, "troubleshooting", NULL, NULL, "GET", T "/records/%s",
            A.id, diag);
    sc_want(&C, 403, "purpose_not_allowed", C.s.operator_key, "troubleshooting", NULL, NULL, "GET",
            T "/records/%s", A.id, user_ada);
}

/* P-AUD-5, P-ACC-4: every access by platform staff is in the customer's own audit log. */
static void test_P_AUD_5_customermaps_staff_access_shown_to_the_tenant(void **state)
{
    char want[256];
    srv_resp r;

    (void)state;
    sc_call(&C, 200, A.key, NULL, NULL, &r, "GET", T "/audit?actor=%s&limit=1000", A.id, actor);
    snprintf(want, sizeof(want),
             "\"actor\":\"%s\",\"action\":\"record.read\",\"object\":\"record:%s\","
             "\"purpose\":\"support\"",
             actor, invoice);
    assert_non_null(strstr(r.body, want));
    snprintf(want, sizeof(want),
             "\"actor\":\"%s\",\"action\":\"record.read\",\"object\":\"record:%s\","
             "\"purpose\":\"troubleshooting\"",
             actor, diag);
    assert_non_null(strstr(r.body, want));
    /* Filtered to staff: the tenant's own reads are not in this answer. */
    assert_null(strstr(r.body, "\"purpose\":\"provide_service\""));
    srv_resp_free(&r);
    /* Staff cannot read (or tidy) the tenant's log themselves. */
    sc_want(&C, 403, "forbidden", C.s.operator_key, NULL, NULL, NULL, "GET", T "/audit", A.id);
}

/* P-ISO-1: "Data from one enterprise customer is never shared with another." */
static void test_P_ISO_1_customermaps_other_tenant_sees_nothing(void **state)
{
    char other[SRV_ID];
    srv_resp r;
    const char *find = "{\"field\":\"contact_email\",\"value\":\"ap@acme.example\"}";

    (void)state;
    sc_want(&C, 201, NULL, B.key, "provide_service",
            "{\"data\":{\"invoice_number\":\"G-1\",\"amount\":5}}", other, "POST",
            T "/collections/invoices/records", B.id);
    /* A's paths, and A's ids under B's own path, do not exist for B. */
    sc_want(&C, 404, "not_found", B.key, "provide_service", NULL, NULL, "GET", T "/records/%s",
            A.id, invoice);
    sc_want(&C, 404, "not_found", B.key, "provide_service", NULL, NULL, "GET", T "/records/%s",
            B.id, invoice);
    sc_want(&C, 404, "not_found", B.key, "provide_service", "{\"data\":{\"amount\":1}}", NULL,
            "PUT", T "/records/%s", B.id, invoice);
    sc_want(&C, 404, "not_found", B.key, "provide_service", NULL, NULL, "DELETE", T "/records/%s",
            B.id, invoice);
    sc_want(&C, 404, "not_found", B.key, "account_management", NULL, NULL, "GET", T "/subjects/%s",
            B.id, ada);
    sc_want(&C, 404, "not_found", B.key, NULL, NULL, NULL, "GET", T "/audit", A.id);
    sc_want(&C, 404, "not_found", A.key, "provide_service", NULL, NULL, "GET", T "/records/%s",
            A.id, other);
    /* Nor can B find A's data by value: the blind index is A's. */
    sc_call(&C, 200, A.key, "provide_service", find, &r, "POST",
            T "/collections/invoices/records/search", A.id);
    assert_non_null(strstr(r.body, invoice));
    srv_resp_free(&r);
    sc_call(&C, 200, B.key, "provide_service", find, &r, "POST",
            T "/collections/invoices/records/search", B.id);
    assert_non_null(strstr(r.body, "\"ids\":[]"));
    srv_resp_free(&r);
    sc_call(&C, 200, B.key, "export", NULL, &r, "GET", T "/export", B.id);
    assert_non_null(strstr(r.body, other));
    assert_null(strstr(r.body, invoice));
    srv_resp_free(&r);
}

/* P-ISO-2: "Audit logs, usage activity [...] This data is stored in a tenant-isolated manner."
 * B's log holds B's entries only: none of A's objects, none of the staff's reads of A. */
static void test_P_ISO_2_customermaps_audit_log_is_tenant_isolated(void **state)
{
    char mine[64];
    srv_resp r;

    (void)state;
    sc_call(&C, 200, B.key, NULL, NULL, &r, "GET", T "/audit?limit=1000", B.id);
    snprintf(mine, sizeof(mine), "\"tenant_id\":\"%s\"", B.id);
    assert_non_null(strstr(r.body, mine));
    snprintf(mine, sizeof(mine), "\"tenant_id\":\"%s\"", A.id);
    assert_null(strstr(r.body, mine));
    assert_null(strstr(r.body, invoice));
    assert_null(strstr(r.body, diag));
    assert_null(strstr(r.body, ada));
    srv_resp_free(&r);
    sc_call(&C, 200, B.key, NULL, NULL, &r, "GET", T "/audit?actor=%s&limit=1000", B.id, actor);
    assert_null(strstr(r.body, "record.read"));
    srv_resp_free(&r);
}

/* P-DSR-4, P-RET-5: "Customer data [...] may be deleted upon request", "subject to legal
 * obligations": a held subject cannot be erased; released, it can. */
static void test_P_DSR_4_customermaps_erasure_on_request_unless_held(void **state)
{
    char cara[SRV_ID], rec[SRV_ID], hold[SRV_ID], body[128];

    (void)state;
    sc_want(&C, 201, NULL, A.key, "account_management", "{\"external_id\":\"cara\"}", cara, "POST",
            T "/subjects", A.id);
    put("provide_service", "purchase_orders", cara, "{\"po_number\":\"PO-3\"}", rec);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"reason\":\"customs audit\"}", cara);
    sc_want(&C, 201, NULL, A.key, NULL, body, hold, "POST", T "/holds", A.id);
    sc_want(&C, 409, "legal_hold", A.key, "support", NULL, NULL, "DELETE", T "/subjects/%s", A.id,
            cara);
    sc_want(&C, 409, "legal_hold", A.key, "provide_service", NULL, NULL, "DELETE", T "/records/%s",
            A.id, rec);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"reason\":\"case closed\"}", NULL, "POST",
            T "/holds/%s/release", A.id, hold);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "DELETE", T "/subjects/%s", A.id, cara);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, rec);
    sc_want(&C, 404, "not_found", A.key, "support", NULL, NULL, "GET", T "/subjects/%s", A.id,
            cara);
}

/* P-AGE-2: a subject later found to be under 16 is erased at once. */
static void test_P_AGE_2_customermaps_subject_found_under_age_is_erased(void **state)
{
    char dan[SRV_ID], rec[SRV_ID];
    srv_resp r;

    (void)state;
    sc_want(&C, 201, NULL, A.key, "account_management", "{\"external_id\":\"dan\"}", dan, "POST",
            T "/subjects", A.id);
    put("account_management", "users", dan, "{\"name\":\"Dan\"}", rec);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "POST", T "/subjects/%s/under-age", A.id, dan);
    assert_non_null(strstr(r.body, "\"erased\":true"));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", A.key, "account_management", NULL, NULL, "GET", T "/records/%s",
            A.id, rec);
    assert_int_equal(sc_audit_count(&C, &A, "subject.under_age"), 1);
}

/* P-BRE-1: a support key leaks. On day D it reads Bob (before the breach is dated); in the hour
 * after it reads Ada, while the owner's own key reads Bob; later it reads Bob again. The owner
 * opens an incident for that hour and that key: the audit log gives exactly Ada, frozen with
 * its hash; the authority's notice is due 72 hours after the breach became known, pending
 * then, overdue at 73 hours; the key is revoked from the incident and refused at once. */
static void test_P_BRE_1_customermaps_leaked_key_incident_finds_exactly_what_it_read(void **state)
{
    char key[128], key_id[SRV_ID], inc[SRV_ID], body[256], due[64];
    int64_t d = sc_date(2026, 6, 1);
    srv_resp r;

    (void)state;
    sc_at(&C, d);
    sc_call(&C, 201, A.key, NULL, "{\"name\":\"support desk\",\"role\":\"agent\"}", &r, "POST",
            T "/api-keys", A.id);
    assert_int_equal(srv_json_str(r.body, "secret", key, sizeof(key)), 0);
    assert_int_equal(srv_json_str(r.body, "id", key_id, sizeof(key_id)), 0);
    srv_resp_free(&r);
    sc_want(&C, 200, NULL, key, "account_management", NULL, NULL, "GET", T "/subjects/%s", A.id,
            bob);
    sc_at(&C, d + 3600);
    sc_want(&C, 200, NULL, key, "account_management", NULL, NULL, "GET", T "/subjects/%s", A.id,
            ada);
    sc_want(&C, 200, NULL, A.key, "account_management", NULL, NULL, "GET", T "/subjects/%s", A.id,
            bob);
    sc_at(&C, d + 7200);
    sc_want(&C, 200, NULL, key, "account_management", NULL, NULL, "GET", T "/subjects/%s", A.id,
            bob);
    /* Known now (d + 2 h): the breach is dated to the hour after d. */
    snprintf(body, sizeof(body), "{\"from\":\"%lld\",\"to\":\"%lld\",\"api_key\":\"%s\"}",
             (long long)(d + 3600) * 1000, (long long)(d + 3600 + 3599) * 1000, key_id);
    sc_want(&C, 201, NULL, A.key, NULL, body, inc, "POST", T "/incidents", A.id);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "GET", T "/incidents/%s/report", A.id, inc);
    assert_non_null(strstr(r.body, "\"subjects_affected\":1"));
    assert_non_null(strstr(r.body, ada));
    assert_null(strstr(r.body, bob));
    assert_non_null(strstr(r.body, "\"intact\":true"));
    assert_non_null(strstr(r.body, "\"notice\":\"authority\",\"due_at\":\"2026-06-04T02:00:00Z\","
                                   "\"state\":\"pending\""));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "incident.open"), 1);
    /* 73 hours after it became known, nothing told the authority: overdue. */
    sc_at(&C, d + 7200 + 73 * 3600);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "GET", T "/incidents/%s", A.id, inc);
    snprintf(due, sizeof(due), "\"notice\":\"authority\",\"due_at\":\"2026-06-04T02:00:00Z\"");
    assert_non_null(strstr(r.body, due));
    assert_non_null(strstr(r.body, "\"state\":\"overdue\""));
    srv_resp_free(&r);
    /* B neither sees it nor opens one on A. */
    sc_want(&C, 404, "not_found", B.key, NULL, NULL, NULL, "GET", T "/incidents/%s", B.id, inc);
    sc_want(&C, 404, "not_found", B.key, NULL, body, NULL, "POST", T "/incidents", A.id);
    /* One action revokes the key; the next request with it is refused. */
    sc_want(&C, 200, NULL, A.key, NULL, NULL, NULL, "POST", T "/incidents/%s/revoke", A.id, inc);
    sc_want(&C, 401, "unauthenticated", key, "account_management", NULL, NULL, "GET",
            T "/subjects/%s", A.id, ada);
}

/* P-RET-1: "Security logs and system metrics are retained for the duration of the active
 * account": a year on, the account still active, the sweep deletes nothing. */
static void test_P_RET_1_customermaps_logs_kept_while_the_account_is_active(void **state)
{
    sc_sweep_counts n;
    char body[128];

    (void)state;
    sc_at(&C, sc_date(2026, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.records_anonymized, 0);
    sc_want(&C, 200, NULL, A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
    sc_want(&C, 200, NULL, A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s", A.id,
            diag);
    sc_want(&C, 200, NULL, A.key, "provide_service", NULL, NULL, "GET", T "/records/%s", A.id,
            invoice);
    /* "subject to legal obligations": Bob's log entry is held past the account's end. */
    snprintf(body, sizeof(body), "{\"record_id\":\"%s\",\"reason\":\"incident 2026-12\"}", log_b);
    sc_want(&C, 201, NULL, A.key, NULL, body, log_hold, "POST", T "/holds", A.id);
}

/* P-AUD-5, P-RET-1: the audit log is an operational log, kept for the duration of the active
 * account: a sweep of the active account leaves the staff's reads of January in it. */
static void test_P_AUD_5_customermaps_staff_access_stays_while_active(void **state)
{
    char want[160];
    srv_resp r;
    int found;

    (void)state;
    sc_call(&C, 200, A.key, NULL, NULL, &r, "GET", T "/audit?actor=%s&limit=1000", A.id, actor);
    snprintf(want, sizeof(want), "\"action\":\"record.read\",\"object\":\"record:%s\"", invoice);
    found = strstr(r.body, want) != NULL;
    srv_resp_free(&r);
    assert_true(found);
}

/* P-RET-2, P-RET-1: the subscription ends: read-only, exportable for 30 days (seed silent);
 * logs are kept 0 days after it ("the duration of the active account"): this sweep deletes
 * them, but the one under a legal hold (P-RET-5). */
static void test_P_RET_2_customermaps_terminated_logs_go_at_once(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    sc_at(&C, sc_date(2027, 1, 1));
    END = C.now;
    sc_want(&C, 403, "forbidden", A.key, NULL, NULL, NULL, "POST", T "/terminate", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "POST", T "/terminate", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, "\"export_until\":\"2027-01-31T00:00:00Z\""));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "tenant.terminate"), 1);
    sc_want(&C, 409, "tenant_terminated", A.key, "provide_service",
            "{\"data\":{\"invoice_number\":\"late\"}}", NULL, "POST",
            T "/collections/invoices/records", A.id);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 0);
    assert_int_equal(n.records_deleted, 2);
    assert_int_equal(n.records_held, 1);
    sc_want(&C, 404, "not_found", A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s",
            A.id, log_a);
    sc_want(&C, 404, "not_found", A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s",
            A.id, diag);
    sc_want(&C, 200, NULL, A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s", A.id,
            log_b);
    assert_int_equal(sc_audit_count(&C, &A, "record.expire"), 2);
}

/* P-RET-2, P-DSR-4: day 29 after the request: customer data and user accounts are all there
 * and exportable; the hold released, the held log entry goes at the next sweep. */
static void test_P_RET_2_customermaps_exports_on_day_29(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    sc_at(&C, END + 29 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 0);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.records_held, 1);
    sc_call(&C, 200, A.key, "export", NULL, &r, "GET", T "/export", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, invoice));
    assert_non_null(strstr(r.body, shipping));
    assert_non_null(strstr(r.body, user_ada));
    assert_non_null(strstr(r.body, "\"work_email\":\"ada@acme.example\""));
    assert_null(strstr(r.body, log_a));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "tenant.export"), 1);
    sc_want(&C, 200, NULL, A.key, "account_management", NULL, NULL, "GET", T "/records/%s", A.id,
            user_ada);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"reason\":\"case closed\"}", NULL, "POST",
            T "/holds/%s/release", A.id, log_hold);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 0);
    sc_want(&C, 404, "not_found", A.key, "troubleshooting", NULL, NULL, "GET", T "/records/%s",
            A.id, log_b);
}

/* P-RET-2, P-RET-1: day 31: the export window (30 days) is over and so is the retention of
 * customer data (30 days from the request) and user accounts (30 days from the end): the
 * tenant is purged, and with nothing retained its keys are destroyed and its rows deleted. */
static void test_P_RET_2_customermaps_purged_and_shredded_on_day_31(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    sc_at(&C, END + 31 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 1);
    assert_int_equal(n.records_deleted, 3); /* invoice, shipping record, Ada's user account */
    assert_int_equal(n.tenants_shredded, 1);
    sc_want(&C, 401, "unauthenticated", A.key, "export", NULL, NULL, "GET", T "/export", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "GET", T, A.id);
    assert_non_null(strstr(r.body, "\"state\":\"purged\""));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", C.s.operator_key, "support", NULL, NULL, "GET", T "/records/%s",
            A.id, invoice);
    assert_int_equal(sc_rows(&C, &A, "api_keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "users"), 0);
    assert_int_equal(sc_rows(&C, &A, "consents"), 0);
    assert_int_equal(sc_rows(&C, &A, "records"), 0);
    assert_int_equal(sc_rows(&C, &A, "subjects"), 0);
    assert_int_equal(sc_rows(&C, &A, "keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "blind_index"), 0);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.shred"), 1);
    /* The other enterprise is untouched (P-ISO-1). */
    assert_true(sc_rows(&C, &B, "records") == 1);
    sc_want(&C, 200, NULL, B.key, "export", NULL, NULL, "GET", T "/export", B.id);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_shredded, 0);
}

/* The operator key's id (its secret is cuk_<id>_<hex>), as the tenant's log names staff. */
static void begun(void)
{
    const char *k = C.s.operator_key + 4, *us = strchr(k, '_');

    assert_non_null(us);
    snprintf(actor, sizeof(actor), "operator:key:%.*s", (int)(us - k), k);
}

/* P-DSR-7, P-DSR-8: Customer Maps is a processor: the request is routed to the client, whose
 * administrator approves it; the client's deadlines. Filed on Thursday 2026-01-01: five business
 * days end on Thursday 2026-01-08, thirty days on 2026-01-31. */
static void test_P_DSR_8_customermaps_request_routed_to_the_client(void **state)
{
    (void)state;
    sc_request_story(&C, &A, "ada", user_ada, "2026-01-08T23:59:59Z", "2026-01-31T23:59:59Z", 1);
}

/* P-BAK-1, P-BAK-2, P-RET-3: backups made by the server, kept no longer than the policy's
 * 30-day backup window, and a restore from before an erasure keeps the subject erased. */
static void test_P_BAK_2_customermaps_erased_subject_stays_erased_after_a_restore(void **state)
{
    (void)state;
    sc_backup_erase_restore(&C, &A, "account_management", 30);
}

int main(int argc, char **argv)
{
    static const sc_story story = {
        .title = "scenario: Customer Maps (policies/customermaps.yaml)",
        .policy = "customermaps",
        .c = &C,
        .tenants = {&A, &B},
        .names = {"Acme Logistics", "Globex Freight"},
        .begun = begun,
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AGE_1_customermaps_refuses_a_subject_aged_15),
        cmocka_unit_test(test_P_BAK_2_customermaps_erased_subject_stays_erased_after_a_restore),
        cmocka_unit_test(test_P_CON_1_customermaps_purposes_come_from_the_policy),
        cmocka_unit_test(test_P_ACC_4_customermaps_staff_only_for_listed_purposes),
        cmocka_unit_test(test_P_AUD_5_customermaps_staff_access_shown_to_the_tenant),
        cmocka_unit_test(test_P_ISO_1_customermaps_other_tenant_sees_nothing),
        cmocka_unit_test(test_P_ISO_2_customermaps_audit_log_is_tenant_isolated),
        cmocka_unit_test(test_P_DSR_8_customermaps_request_routed_to_the_client),
        cmocka_unit_test(test_P_DSR_4_customermaps_erasure_on_request_unless_held),
        cmocka_unit_test(test_P_AGE_2_customermaps_subject_found_under_age_is_erased),
        cmocka_unit_test(test_P_BRE_1_customermaps_leaked_key_incident_finds_exactly_what_it_read),
        cmocka_unit_test(test_P_RET_1_customermaps_logs_kept_while_the_account_is_active),
        cmocka_unit_test(test_P_AUD_5_customermaps_staff_access_stays_while_active),
        cmocka_unit_test(test_P_RET_2_customermaps_terminated_logs_go_at_once),
        cmocka_unit_test(test_P_RET_2_customermaps_exports_on_day_29),
        cmocka_unit_test(test_P_RET_2_customermaps_purged_and_shredded_on_day_31),
    };

    return sc_story_run(&story, tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
