/*
 * test_http_disclosure.c: disclosures over HTTPS against the real server (P-SHR-1, P-NOT-3;
 * docs/api.md "Disclosures", api_disclosure.c): a disclosure to the partner Optymyze's policy
 * lists is 201 and listed, per subject too; an unlisted recipient, a purpose or category it is
 * not listed for is 403 recipient_not_listed and leaves nothing; an agent may not disclose; bad
 * bodies and queries are 400. The notice before a new recipient (P-NOT-3) is the core's, on
 * the settable clock. The core's rules in detail: tests/test_disclosure.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "th.h"

#define PARTNER "consulting partners (not named in the seed)"

static srv S;
static char T[SRV_ID], owner[128], admin[128], agent[128], ada[SRV_ID], emp[SRV_ID];

static void call(long want, const char *code, const char *key, const char *purpose,
                 const char *body, char id[SRV_ID], srv_resp *keep, const char *method,
                 const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static void call(long want, const char *code, const char *key, const char *purpose,
                 const char *body, char id[SRV_ID], srv_resp *keep, const char *method,
                 const char *fmt, ...)
{
    char path[256];
    srv_resp r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    assert_int_equal(srv_call(&S, method, path, key, purpose, body, &r), 0);
    if (r.status != want)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r.status, want, r.body);
    if (code != NULL)
        srv_assert_err(&r, want, code);
    if (id != NULL && srv_json_str(r.body, "id", id, SRV_ID) != 0)
        fail_msg("%s %s: no id in %s", method, path, r.body);
    if (keep != NULL)
        *keep = r;
    else
        srv_resp_free(&r);
}

static void key_of(const char *role, char out[128])
{
    char body[128];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\"}", role, role);
    call(201, NULL, owner, NULL, body, NULL, &r, "POST", "/v1/tenants/%s/api-keys", T);
    assert_int_equal(srv_json_str(r.body, "secret", out, 128), 0);
    srv_resp_free(&r);
}

static int setup(void **state)
{
    char body[256];
    srv_resp r;

    (void)state;
    srv_start(&S, NULL);
    call(201, NULL, S.operator_key, NULL, "{\"name\":\"client\",\"policy\":\"optymyze\"}", T, &r,
         "POST", "/v1/tenants");
    assert_int_equal(srv_json_str(r.body, "secret", owner, sizeof(owner)), 0);
    srv_resp_free(&r);
    key_of("admin", admin);
    key_of("agent", agent);
    call(201, NULL, agent, "provide_service", "{\"external_id\":\"emp-1\"}", ada, NULL, "POST",
         "/v1/tenants/%s/subjects", T);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Ada\"}}", ada);
    call(201, NULL, agent, "provide_service", body, emp, NULL, "POST",
         "/v1/tenants/%s/collections/employees/records", T);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* The number of disclosure rows GET answers (of one subject with query). */
static int count(const char *query)
{
    srv_resp r;
    int n = 0;

    call(200, NULL, admin, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/disclosures%s", T, query);
    for (const char *at = r.body; (at = strstr(at, "\"recipient\":")) != NULL; at++)
        n++;
    srv_resp_free(&r);
    return n;
}

/* P-SHR-1: a listed partner for its purpose and category: 201, then listed for the subject
 * with the policy's names and kind. */
static void test_P_SHR_1_a_listed_partner_is_disclosed_to(void **state)
{
    char body[512], id[SRV_ID], q[64];
    int before = count("");
    srv_resp r;

    (void)state;
    snprintf(body, sizeof(body),
             "{\"recipient\":\"" PARTNER "\",\"purpose\":\"implementation\","
             "\"subjects\":[\"%s\"],\"categories\":[\"employee_records\"],"
             "\"reference\":\"SOW-17\"}",
             ada);
    call(201, NULL, admin, NULL, body, id, NULL, "POST", "/v1/tenants/%s/disclosures", T);
    snprintf(body, sizeof(body),
             "{\"recipient\":\"" PARTNER "\",\"purpose\":\"implementation\",\"records\":[\"%s\"]}",
             emp);
    call(201, NULL, owner, NULL, body, NULL, NULL, "POST", "/v1/tenants/%s/disclosures", T);
    assert_int_equal(count(""), before + 2);
    snprintf(q, sizeof(q), "?subject_id=%s&limit=1", ada);
    call(200, NULL, admin, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/disclosures%s", T, q);
    assert_non_null(strstr(r.body, "\"recipient_kind\":\"partner\""));
    assert_non_null(strstr(r.body, "\"categories\":[\"employee_records\"]"));
    srv_resp_free(&r);
    assert_int_equal(count("?subject_id=12345"), 0);
}

/* P-SHR-1: an unlisted recipient, or the partner for another purpose or category: 403
 * recipient_not_listed, nothing recorded. */
static void test_P_SHR_1_an_unlisted_recipient_is_403(void **state)
{
    static const char *const bad[][3] = {
        {"Acme Data Brokers", "implementation", "employee_records"},
        {PARTNER, "support", "employee_records"},
        {PARTNER, "implementation", "client_users"},
    };
    int before = count("");
    char body[512];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"recipient\":\"%s\",\"purpose\":\"%s\",\"subjects\":[\"%s\"],"
                 "\"categories\":[\"%s\"]}",
                 bad[i][0], bad[i][1], ada, bad[i][2]);
        call(403, "recipient_not_listed", admin, NULL, body, NULL, NULL, "POST",
             "/v1/tenants/%s/disclosures", T);
    }
    assert_int_equal(count(""), before);
}

/* Roles (docs/permissions.md): an agent lists but may not disclose; input is checked. */
static void test_disclosure_roles_and_input(void **state)
{
    char body[512];

    (void)state;
    snprintf(body, sizeof(body),
             "{\"recipient\":\"" PARTNER "\",\"purpose\":\"implementation\","
             "\"subjects\":[\"%s\"],\"categories\":[\"employee_records\"]}",
             ada);
    call(403, "forbidden", agent, NULL, body, NULL, NULL, "POST", "/v1/tenants/%s/disclosures", T);
    call(200, NULL, agent, NULL, NULL, NULL, NULL, "GET", "/v1/tenants/%s/disclosures", T);
    call(400, "invalid_field", admin, NULL,
         "{\"recipient\":\"x\",\"purpose\":\"implementation\",\"subjects\":\"1\"}", NULL, NULL,
         "POST", "/v1/tenants/%s/disclosures", T);
    call(400, "invalid_field", admin, NULL,
         "{\"recipient\":\"x\",\"purpose\":\"implementation\",\"subjects\":[12]}", NULL, NULL,
         "POST", "/v1/tenants/%s/disclosures", T);
    call(400, "missing_field", admin, NULL, "{\"purpose\":\"implementation\"}", NULL, NULL, "POST",
         "/v1/tenants/%s/disclosures", T);
    snprintf(body, sizeof(body),
             "{\"recipient\":\"" PARTNER "\",\"purpose\":\"implementation\","
             "\"subjects\":[\"%s\"],\"categories\":[\"employee_records\"],"
             "\"reference\":\"Ada Lovelace 1\"}",
             ada);
    call(400, "invalid", admin, NULL, body, NULL, NULL, "POST", "/v1/tenants/%s/disclosures", T);
    /* A reference is a case number's shape: a name without a space is refused too. */
    snprintf(body, sizeof(body),
             "{\"recipient\":\"" PARTNER "\",\"purpose\":\"implementation\","
             "\"subjects\":[\"%s\"],\"categories\":[\"employee_records\"],"
             "\"reference\":\"AdaLovelace\"}",
             ada);
    call(400, "invalid", admin, NULL, body, NULL, NULL, "POST", "/v1/tenants/%s/disclosures", T);
    call(400, "unknown_field", admin, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/disclosures?who=me", T);
    call(400, "invalid_field", admin, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/disclosures?limit=0", T);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_SHR_1_a_listed_partner_is_disclosed_to),
        cmocka_unit_test(test_P_SHR_1_an_unlisted_recipient_is_403),
        cmocka_unit_test(test_disclosure_roles_and_input),
    };

    return cmocka_run_group_tests_name("disclosures over HTTPS (P-SHR-1)", tests, setup, teardown);
}
