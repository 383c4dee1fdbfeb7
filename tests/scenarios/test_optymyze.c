/*
 * test_optymyze.c: Optymyze SPM Cloud's privacy policy (policies/optymyze.yaml, seed 004) kept by
 * the real server over HTTPS, from 2026-01-01 through the end of a client's contract, its 30-day
 * export window, the purge and the shredding. The tests are chapters of one story on one server
 * and one tenant (a client); each moves the clock forward and checks the promises due by then.
 * Each also runs alone: its set-up replays the chapters before it on a fresh server (sc.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <curl/curl.h>

#include "oidc.h"
#include "sc.h"
#include "th.h"

#define T "/v1/tenants/%s"

static sc C;
static sc_tenant A;
static char ann[SRV_ID], bob[SRV_ID];
static char emp_a[SRV_ID], emp_b[SRV_ID], comp_a[SRV_ID], cuser[SRV_ID], case_a[SRV_ID],
    log_a[SRV_ID], log_b[SRV_ID];
static char hold[SRV_ID];
static int64_t END;

static void put(const char *purpose, const char *collection, const char *subject, const char *data,
                char id[SRV_ID])
{
    sc_put(&C, &A, purpose, collection, subject, data, id);
}

/* Searches collection's field for value by exact match; the answer must be exactly the one id
 * want, or no id at all when want is NULL. */
static void search(const char *collection, const char *field, const char *value, const char *want)
{
    char body[256], expect[64];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"field\":\"%s\",\"value\":\"%s\"}", field, value);
    sc_call(&C, 200, A.key, "support", body, &r, "POST", T "/collections/%s/records/search", A.id,
            collection);
    if (want)
        snprintf(expect, sizeof(expect), "{\"ids\":[\"%s\"]}", want);
    else
        snprintf(expect, sizeof(expect), "{\"ids\":[]}");
    assert_string_equal(r.body, expect);
    srv_resp_free(&r);
}

static int at_rest(const char *s)
{
    return sc_at_rest(&C, s);
}

/* P-AGE-1: minimum_age 16 (seed silent; "the GDPR's default age of digital consent"). */
static void test_P_AGE_1_optymyze_refuses_a_subject_aged_15(void **state)
{
    (void)state;
    /* 15 years and 364 days old on 2026-01-01. */
    sc_want(&C, 422, "under_age", A.key, "provide_service",
            "{\"external_id\":\"teen\",\"birth_date\":\"2010-01-02\"}", NULL, "POST", T "/subjects",
            A.id);
    /* Sixteen that very day: accepted. */
    sc_want(&C, 201, NULL, A.key, "provide_service",
            "{\"external_id\":\"ann\",\"birth_date\":\"2010-01-01\"}", ann, "POST", T "/subjects",
            A.id);
    sc_want(&C, 201, NULL, A.key, "provide_service", "{\"external_id\":\"bob\"}", bob, "POST",
            T "/subjects", A.id);
}

/* P-CON-1: "Optymyze makes no independent use of such information outside of what is needed
 * to provide the contracted Services to the client." Only the policy's purposes, each for the
 * categories it names; all are contract or legal obligation, so nothing to consent or object to. */
static void test_P_CON_1_optymyze_purposes_come_from_the_policy(void **state)
{
    (void)state;
    sc_want(&C, 400, "unknown_purpose", A.key, "marketing", "{\"external_id\":\"x\"}", NULL, "POST",
            T "/subjects", A.id);
    put("provide_service", "employees", ann,
        "{\"name\":\"Ann Lee\",\"address\":\"1 Seaport Dr\",\"ssn\":\"123-45-6789\","
        "\"tax_id\":\"TX-55-0001\",\"employee_id\":\"E-1001\",\"email\":\"ann@client.example\"}",
        emp_a);
    put("provide_service", "employees", bob,
        "{\"name\":\"Bob Roe\",\"ssn\":\"987-65-4321\",\"tax_id\":\"TX-55-0002\","
        "\"employee_id\":\"E-1002\"}",
        emp_b);
    put("implementation", "compensation", ann,
        "{\"employee_id\":\"E-1001\",\"salary\":187654,\"quota\":500000,\"commission\":12000}",
        comp_a);
    put("provide_service", "client_users", bob,
        "{\"name\":\"Bob Roe\",\"email\":\"bob@client.example\",\"username\":\"broe\"}", cuser);
    put("support", "support_cases", ann,
        "{\"email\":\"ann@client.example\",\"subject\":\"Commission\",\"description\":\"Q3\"}",
        case_a);
    put("monitoring", "operations_logs", ann,
        "{\"ip_address\":\"198.51.100.7\",\"event\":\"login\",\"duration_ms\":12}", log_a);
    put("monitoring", "operations_logs", bob,
        "{\"ip_address\":\"198.51.100.8\",\"event\":\"login\",\"duration_ms\":9}", log_b);
    /* Each purpose covers only its categories. */
    sc_want(&C, 403, "purpose_not_allowed", A.key, "provide_service",
            "{\"data\":{\"event\":\"x\"}}", NULL, "POST", T "/collections/operations_logs/records",
            A.id);
    sc_want(&C, 403, "purpose_not_allowed", A.key, "provide_service", NULL, NULL, "GET",
            T "/records/%s", A.id, case_a);
    sc_want(&C, 403, "purpose_not_allowed", A.key, "monitoring", NULL, NULL, "GET", T "/records/%s",
            A.id, cuser);
    sc_want(&C, 200, NULL, A.key, "investigation", NULL, NULL, "GET", T "/records/%s", A.id,
            case_a);
    /* A collection the policy does not declare has no category, so no retention. */
    sc_want(&C, 400, "invalid", A.key, "support", "{\"data\":{\"x\":1}}", NULL, "POST",
            T "/collections/scratch/records", A.id);
    /* Contract purposes need no consent, and cannot be objected to. */
    sc_want(&C, 400, "invalid", A.key, NULL, "{\"purpose\":\"support\",\"action\":\"grant\"}", NULL,
            "POST", T "/subjects/%s/consents", A.id, ann);
    sc_want(&C, 400, "invalid", A.key, NULL, "{\"purpose\":\"monitoring\",\"action\":\"object\"}",
            NULL, "POST", T "/subjects/%s/consents", A.id, ann);
}

/* P-ENC-6: "social security numbers, tax identification numbers ... salary data": sealed on
 * their own, found only by exact value, never in clear at rest. */
static void test_P_ENC_6_optymyze_ssn_and_salary_found_by_exact_value_only(void **state)
{
    srv_resp r;

    (void)state;
    search("employees", "ssn", "123-45-6789", emp_a);
    search("employees", "ssn", "987-65-4321", emp_b);
    search("employees", "ssn", "123456789", NULL);
    search("employees", "ssn", "123-45", NULL);
    search("employees", "ssn", "123-45-6788", NULL);
    search("employees", "tax_id", "TX-55-0001", emp_a);
    search("employees", "tax_id", "TX-55-000", NULL);
    search("compensation", "salary", "187654", comp_a);
    search("compensation", "salary", "18765", NULL);
    search("compensation", "salary", "187655", NULL);
    /* A personal field that is not indexed is not searchable at all. */
    sc_want(&C, 400, "invalid", A.key, "support", "{\"field\":\"name\",\"value\":\"Ann Lee\"}",
            NULL, "POST", T "/collections/employees/records/search", A.id);
    /* Read for a purpose, the values come back whole. */
    sc_call(&C, 200, A.key, "support", NULL, &r, "GET", T "/records/%s", A.id, emp_a);
    assert_non_null(strstr(r.body, "\"ssn\":\"123-45-6789\""));
    assert_non_null(strstr(r.body, "\"tax_id\":\"TX-55-0001\""));
    srv_resp_free(&r);
    sc_call(&C, 200, A.key, "support", NULL, &r, "GET", T "/records/%s", A.id, comp_a);
    assert_non_null(strstr(r.body, "\"salary\":187654"));
    srv_resp_free(&r);
    /* At rest, no file of the database holds one of them in clear. */
    assert_int_equal(at_rest("123-45-6789"), 0);
    assert_int_equal(at_rest("987-65-4321"), 0);
    assert_int_equal(at_rest("TX-55-0001"), 0);
    assert_int_equal(at_rest("187654"), 0);
    assert_int_equal(at_rest("Ann Lee"), 0);
}

/* P-ACC-4, P-AUD-5: "Personally identifiable information may be accessed ... By Optymyze
 * personnel to fulfill the requirements of the Services ..., to investigate issues ..., to
 * monitor system performance ..., to validate that patches ... function properly, ... to
 * comply with legal requirements and judgments." Only these, each shown to the client. */
static void test_P_ACC_4_optymyze_staff_only_for_listed_purposes_and_audited(void **state)
{
    static const char *const listed[] = {"support", "investigation", "monitoring",
                                         "patch_validation", "legal"};
    const char *op = C.s.operator_key;
    char op_id[SRV_ID], needle[256];
    size_t n = strcspn(op + 4, "_");
    srv_resp r;

    (void)state;
    assert_true(n < SRV_ID);
    snprintf(op_id, sizeof(op_id), "%.*s", (int)n, op + 4);
    for (size_t i = 0; i < 5; i++)
        sc_want(&C, 200, NULL, op, listed[i], NULL, NULL, "GET", T "/records/%s", A.id, emp_a);
    /* The policy's other purposes, the subject's own access and misspellings: refused. */
    sc_want(&C, 403, "forbidden", op, "provide_service", NULL, NULL, "GET", T "/records/%s", A.id,
            emp_a);
    sc_want(&C, 403, "forbidden", op, "implementation", NULL, NULL, "GET", T "/records/%s", A.id,
            comp_a);
    sc_want(&C, 403, "forbidden", op, "subject_access", NULL, NULL, "GET", T "/records/%s", A.id,
            emp_a);
    sc_want(&C, 400, "unknown_purpose", op, "patchvalidation", NULL, NULL, "GET", T "/records/%s",
            A.id, emp_a);
    sc_want(&C, 400, "purpose_required", op, "patch-validation", NULL, NULL, "GET", T "/records/%s",
            A.id, emp_a);
    /* Staff read; they do not write. */
    sc_want(&C, 403, "forbidden", op, "support", "{\"data\":{\"name\":\"x\"}}", NULL, "POST",
            T "/collections/employees/records", A.id);
    /* The client's owner sees each access, by purpose; staff cannot read that log. */
    sc_want(&C, 403, "forbidden", op, NULL, NULL, NULL, "GET", T "/audit", A.id);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "GET", T "/audit?actor=operator:key:%s&limit=1000",
            A.id, op_id);
    for (size_t i = 0; i < 5; i++) {
        const char *p;
        snprintf(needle, sizeof(needle),
                 "\"actor\":\"operator:key:%s\",\"action\":\"record.read\","
                 "\"object\":\"record:%s\",\"purpose\":\"%s\"",
                 op_id, emp_a, listed[i]);
        assert_non_null(p = strstr(r.body, needle));
        assert_null(strstr(p + 1, needle));
    }
    assert_null(strstr(r.body, "\"purpose\":\"provide_service\""));
    assert_null(strstr(r.body, "\"purpose\":\"implementation\""));
    srv_resp_free(&r);
}

/* P-DSR-5: a restricted employee's data is kept, reached only for "legal requirements and
 * judgments" and the subject's own access. */
static void test_P_DSR_5_optymyze_restriction_leaves_only_legal(void **state)
{
    char req[SRV_ID];

    (void)state;
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":true}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ann);
    sc_want(&C, 403, "restricted", A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id,
            emp_a);
    sc_want(&C, 403, "restricted", A.key, "provide_service", "{\"data\":{\"name\":\"Ann L.\"}}",
            NULL, "PUT", T "/records/%s", A.id, emp_a);
    sc_want(&C, 200, NULL, A.key, "legal", NULL, NULL, "GET", T "/records/%s", A.id, comp_a);
    /* The subject's own access, through its request (P-DSR-1, issue 10). */
    sc_request_open(&C, &A, "access", ann, req);
    sc_want(&C, 200, NULL, A.key, NULL, NULL, NULL, "GET", T "/requests/%s/records/%s", A.id, req,
            emp_a);
    sc_want(&C, 200, NULL, A.key, NULL, "{}", NULL, "POST", T "/requests/%s/complete", A.id, req);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"restricted\":false}", NULL, "PUT",
            T "/subjects/%s/restriction", A.id, ann);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, emp_a);
}

/* P-SHR-1: "consulting partners under contract for some services such as implementations":
 * the client discloses Ann's employee record to them for implementation, which the policy
 * lists; an unlisted recipient, and the partner for support cases it is not listed for, get
 * 403 recipient_not_listed and nothing is recorded. The disclosure is audited by id and is in
 * Ann's access report as a recipient. */
static void test_P_SHR_1_optymyze_discloses_only_to_listed_partners(void **state)
{
    char body[512], id[SRV_ID], req[SRV_ID];
    srv_resp r;

    (void)state;
    snprintf(body, sizeof(body),
             "{\"recipient\":\"consulting partners (not named in the seed)\","
             "\"purpose\":\"implementation\",\"records\":[\"%s\"],\"reference\":\"SOW-7\"}",
             emp_a);
    sc_want(&C, 201, NULL, A.key, NULL, body, id, "POST", T "/disclosures", A.id);
    snprintf(body, sizeof(body),
             "{\"recipient\":\"Acme Analytics\",\"purpose\":\"implementation\","
             "\"records\":[\"%s\"]}",
             emp_a);
    sc_want(&C, 403, "recipient_not_listed", A.key, NULL, body, NULL, "POST", T "/disclosures",
            A.id);
    snprintf(body, sizeof(body),
             "{\"recipient\":\"consulting partners (not named in the seed)\","
             "\"purpose\":\"implementation\",\"records\":[\"%s\"]}",
             case_a);
    sc_want(&C, 403, "recipient_not_listed", A.key, NULL, body, NULL, "POST", T "/disclosures",
            A.id);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "GET", T "/disclosures?subject_id=%s", A.id, ann);
    assert_non_null(strstr(r.body, id));
    assert_null(strstr(r.body, "Acme"));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "disclosure.add"), 1);
    /* Ann's access report names the partner as a recipient of her data. */
    sc_request_open(&C, &A, "access", ann, req);
    sc_call(&C, 200, A.key, NULL, NULL, &r, "GET", T "/requests/%s/export?format=json", A.id, req);
    assert_non_null(strstr(r.body, "\"recipient\":\"consulting partners (not named in the "
                                   "seed)\",\"kind\":\"partner\""));
    srv_resp_free(&r);
    sc_want(&C, 200, NULL, A.key, NULL, "{}", NULL, "POST", T "/requests/%s/complete", A.id, req);
}

/* P-RET-5: a legal hold on Bob ("to comply with legal requirements and judgments"). */
static void test_P_RET_5_optymyze_hold_is_placed(void **state)
{
    char body[128];

    (void)state;
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"reason\":\"judgment 2026-04\"}", bob);
    sc_want(&C, 201, NULL, A.key, NULL, body, hold, "POST", T "/holds", A.id);
    assert_int_equal(sc_audit_count(&C, &A, "hold.place"), 1);
    assert_int_equal(at_rest("judgment 2026-04"), 0);
}

/* P-RET-4: operations logs ("to monitor system performance, test systems") kept 12 months. */
static void test_P_RET_4_optymyze_operations_logs_kept_12_months(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_at(&C, sc_date(2026, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.records_held, 0);
    sc_want(&C, 200, NULL, A.key, "monitoring", NULL, NULL, "GET", T "/records/%s", A.id, log_a);
    sc_at(&C, sc_date(2027, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 1);
    sc_want(&C, 404, "not_found", A.key, "monitoring", NULL, NULL, "GET", T "/records/%s", A.id,
            log_a);
    assert_int_equal(sc_audit_count(&C, &A, "record.expire"), 1);
    /* Employee data lives as long as the contract; support cases 24 months. */
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, emp_a);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, comp_a);
    sc_want(&C, 200, NULL, A.key, "support", NULL, NULL, "GET", T "/records/%s", A.id, case_a);
}

/* P-RET-5: the held log entry outlived its 12 months; released, the next sweep deletes it. */
static void test_P_RET_5_optymyze_hold_stops_deletion_until_released(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_want(&C, 200, NULL, A.key, "monitoring", NULL, NULL, "GET", T "/records/%s", A.id, log_b);
    sc_want(&C, 409, "legal_hold", A.key, "legal", NULL, NULL, "DELETE", T "/subjects/%s", A.id,
            bob);
    sc_want(&C, 409, "legal_hold", A.key, "monitoring", NULL, NULL, "DELETE", T "/records/%s", A.id,
            log_b);
    sc_want(&C, 200, NULL, A.key, NULL, "{\"reason\":\"case closed\"}", NULL, "POST",
            T "/holds/%s/release", A.id, hold);
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.records_held, 0);
    sc_want(&C, 404, "not_found", A.key, "monitoring", NULL, NULL, "GET", T "/records/%s", A.id,
            log_b);
    assert_int_equal(sc_audit_count(&C, &A, "hold.release"), 1);
}

/* P-RET-2: termination.export_window 30d ("in accordance with the terms of the relevant
 * agreement"; seed silent on the length). Terminated, the data is read-only and exportable on
 * day 29, and the 30-day categories are all still there. */
static void test_P_RET_2_optymyze_terminated_tenant_exports_on_day_29(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    END = sc_date(2027, 6, 1);
    sc_at(&C, END);
    sc_want(&C, 201, NULL, A.key, NULL,
            "{\"email\":\"admin@client.example\",\"password\":\"correct horse battery 42\","
            "\"role\":\"agent\"}",
            NULL, "POST", T "/users", A.id);
    sc_want(&C, 403, "forbidden", A.key, NULL, NULL, NULL, "POST", T "/terminate", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "POST", T "/terminate", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, "\"export_until\":\"2027-07-01T00:00:00Z\""));
    srv_resp_free(&r);
    sc_want(&C, 409, "tenant_terminated", A.key, "provide_service",
            "{\"data\":{\"name\":\"late\"}}", NULL, "POST", T "/collections/employees/records",
            A.id);
    sc_at(&C, END + 29 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 0);
    assert_int_equal(n.records_deleted, 0);
    sc_call(&C, 200, A.key, "export", NULL, &r, "GET", T "/export", A.id);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    assert_non_null(strstr(r.body, "\"ssn\":\"123-45-6789\""));
    assert_non_null(strstr(r.body, "\"salary\":187654"));
    assert_non_null(strstr(r.body, cuser));
    assert_non_null(strstr(r.body, case_a));
    srv_resp_free(&r);
    assert_int_equal(sc_audit_count(&C, &A, "tenant.export"), 1);
    assert_int_equal(sc_rows(&C, &A, "users"), 1);
    assert_int_equal(sc_rows(&C, &A, "records"), 5);
}

/* P-RET-2, P-RET-1: on day 31 the client is purged, its employee, compensation and user data
 * (30 days after the contract) deleted; its support case (24 months) stays out of reach. */
static void test_P_RET_2_optymyze_purged_after_day_30(void **state)
{
    sc_sweep_counts n;
    srv_resp r;

    (void)state;
    sc_at(&C, END + 31 * SC_DAY);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_purged, 1);
    assert_int_equal(n.records_deleted, 4);
    assert_int_equal(n.tenants_shredded, 0);
    sc_want(&C, 401, "unauthenticated", A.key, "export", NULL, NULL, "GET", T "/export", A.id);
    sc_call(&C, 200, C.s.operator_key, NULL, NULL, &r, "GET", T, A.id);
    assert_non_null(strstr(r.body, "\"state\":\"purged\""));
    srv_resp_free(&r);
    sc_want(&C, 404, "not_found", C.s.operator_key, "support", NULL, NULL, "GET", T "/export",
            A.id);
    assert_int_equal(sc_rows(&C, &A, "api_keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "users"), 0);
    assert_int_equal(sc_rows(&C, &A, "consents"), 0);
    assert_int_equal(sc_rows(&C, &A, "records"), 1);
    assert_int_equal(sc_rows(&C, &A, "subjects"), 1);
    assert_true(sc_rows(&C, &A, "keys") > 0);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);
}

/* P-RET-1, P-RET-2: support cases kept 24 months from creation; then nothing is retained, so
 * the client's keys are destroyed and every row goes but the audit entries that say so. */
static void test_P_RET_1_optymyze_support_cases_24_months_then_shredded(void **state)
{
    sc_sweep_counts n;

    (void)state;
    sc_at(&C, sc_date(2027, 12, 31));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 0);
    assert_int_equal(n.tenants_shredded, 0);
    assert_int_equal(sc_rows(&C, &A, "records"), 1);
    sc_at(&C, sc_date(2028, 1, 2));
    sc_sweep(&C, &n);
    assert_int_equal(n.records_deleted, 1);
    assert_int_equal(n.tenants_shredded, 1);
    assert_int_equal(sc_rows(&C, &A, "records"), 0);
    assert_int_equal(sc_rows(&C, &A, "subjects"), 0);
    assert_int_equal(sc_rows(&C, &A, "keys"), 0);
    assert_int_equal(sc_rows(&C, &A, "blind_index"), 0);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.shred"), 1);
    assert_int_equal(sc_platform_count(&C, &A, "tenant.purge"), 1);
    assert_int_equal(at_rest("123-45-6789"), 0);
    sc_sweep(&C, &n);
    assert_int_equal(n.tenants_shredded, 0);
}

/* P-DSR-7, P-DSR-8: Optymyze is a processor: the request is routed to the client, whose
 * administrator approves it; the client's deadlines. Filed on Thursday 2026-01-01: five business
 * days end on Thursday 2026-01-08, thirty days on 2026-01-31. */
static void test_P_DSR_8_optymyze_request_routed_to_the_client(void **state)
{
    (void)state;
    sc_request_story(&C, &A, "ann", emp_a, "2026-01-08T23:59:59Z", "2026-01-31T23:59:59Z", 1);
}

/* P-ACC-5, a chapter of issue 14: in 2028 a new client signs its users in through its own
 * identity provider (a real OpenID provider, tests/oidc, its clock at the story's date), as
 * Optymyze's policy offers ("the client's providing access through its own user management via
 * a single sign-on authentication solution"): the client requires it, so its users' passwords
 * no longer open a session; a user's first login creates it with the role the client chose. */
static size_t sso_drop(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

/* Keeps the Set-Cookie header's "name=value" (the SSO login's binding) into arg (256 bytes). */
static size_t sso_cookie(char *d, size_t s, size_t n, void *arg)
{
    if (s * n > 12 && strncasecmp(d, "Set-Cookie: ", 12) == 0)
        snprintf(arg, 256, "%.*s", (int)strcspn(d + 12, ";\r\n"), d + 12);
    return s * n;
}

static void test_P_ACC_5_optymyze_client_signs_in_through_its_own_provider(void **state)
{
    static sc_tenant B;
    char path[2048], loc[2048], cb[128], body[1024], cookie[256], binding[256] = "";
    CURL *c;
    char *l = NULL;
    long status = 0;
    srv_resp r;
    oidc idp;

    (void)state;
    sc_at(&C, sc_date(2028, 2, 1));
    sc_tenant_new(&C, "Optymyze client two", "optymyze", &B);
    oidc_start(&idp, 0, "opt1", "RS256", C.now);
    oidc_callback_of(B.id, cb);
    snprintf(body, sizeof(body),
             "{\"issuer\":\"%s\",\"client_id\":\"custos\",\"client_secret\":"
             "\"custos-secret-0123456789abcdef\",\"redirect_uri\":\"%s\","
             "\"domains\":[\"client-two.example\"],\"role\":\"agent\",\"require_sso\":true}",
             idp.issuer, cb);
    sc_want(&C, 200, NULL, B.key, NULL, body, NULL, "PUT", T "/sso", B.id);
    /* A user with a password: require_sso refuses it. */
    sc_want(&C, 201, NULL, B.key, NULL,
            "{\"email\":\"pat@client-two.example\",\"password\":\"a long password 2028\","
            "\"role\":\"auditor\"}",
            NULL, "POST", T "/users", B.id);
    sc_want(&C, 403, "forbidden", NULL, NULL,
            "{\"email\":\"pat@client-two.example\",\"password\":\"a long password 2028\"}", NULL,
            "POST", T "/login", B.id);
    /* The provider's login: a session, for a user made with the client's role. */
    oidc_set_email(&idp, "quinn@client-two.example");
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso/login", B.id);
    c = srv_curl(&C.s, path);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sso_drop);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sso_cookie);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, (void *)binding);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &l);
    assert_int_equal(status, 302);
    assert_non_null(l);
    snprintf(loc, sizeof(loc), "%s", l);
    curl_easy_cleanup(c);
    oidc_browse_callback(loc, path);
    /* The browser that started the login gives back its binding cookie. */
    assert_int_equal(srv_call(&C.s, "GET", path, binding, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"role\":\"agent\""));
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s", B.id);
    assert_int_equal(srv_call(&C.s, "GET", path, cookie, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    oidc_stop(&idp);
    assert_int_equal(sc_audit_count(&C, &B, "sso.login"), 1);
    assert_int_equal(sc_audit_count(&C, &B, "sso.configure"), 1);
    assert_int_equal(at_rest("custos-secret-0123456789abcdef"), 0); /* sealed */
}

int main(int argc, char **argv)
{
    static const sc_story story = {
        .title = "scenario: Optymyze (policies/optymyze.yaml)",
        .policy = "optymyze",
        .c = &C,
        .tenants = {&A},
        .names = {"Optymyze client"},
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AGE_1_optymyze_refuses_a_subject_aged_15),
        cmocka_unit_test(test_P_CON_1_optymyze_purposes_come_from_the_policy),
        cmocka_unit_test(test_P_ENC_6_optymyze_ssn_and_salary_found_by_exact_value_only),
        cmocka_unit_test(test_P_ACC_4_optymyze_staff_only_for_listed_purposes_and_audited),
        cmocka_unit_test(test_P_DSR_5_optymyze_restriction_leaves_only_legal),
        cmocka_unit_test(test_P_DSR_8_optymyze_request_routed_to_the_client),
        cmocka_unit_test(test_P_SHR_1_optymyze_discloses_only_to_listed_partners),
        cmocka_unit_test(test_P_RET_5_optymyze_hold_is_placed),
        cmocka_unit_test(test_P_RET_4_optymyze_operations_logs_kept_12_months),
        cmocka_unit_test(test_P_RET_5_optymyze_hold_stops_deletion_until_released),
        cmocka_unit_test(test_P_RET_2_optymyze_terminated_tenant_exports_on_day_29),
        cmocka_unit_test(test_P_RET_2_optymyze_purged_after_day_30),
        cmocka_unit_test(test_P_RET_1_optymyze_support_cases_24_months_then_shredded),
        cmocka_unit_test(test_P_ACC_5_optymyze_client_signs_in_through_its_own_provider),
    };

    return sc_story_run(&story, tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
}
