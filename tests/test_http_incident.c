/*
 * test_http_incident.c: breach incidents over the real server (P-BRE-1, docs/incidents.md):
 * a tenant's admin opens one on its own tenant and finds exactly the subject a key read; it
 * can neither open, list nor read another tenant's (404, as a missing id: P-ISO-1), and roles
 * without the keys permission are refused; the operator sees every incident and opens them on
 * any tenant or over all of them (each tenant then sees its own part only); a notice meets the
 * authority's deadline; the suspected key is revoked from the incident and refused from the
 * next request on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    (void)state;
    W = srv_world_new("inc-alpha", "inc-bravo");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_world_free(W);
    return 0;
}

static long status_of(const char *method, const char *path, const char *key, const char *body,
                      srv_resp *keep)
{
    srv_resp r;
    long st;

    assert_int_equal(srv_call(&W->s, method, path, key, "support", body, &r), 0);
    st = r.status;
    if (keep != NULL)
        *keep = r;
    else
        srv_resp_free(&r);
    return st;
}

/* The agent key of tenant a reads its subject: the leak. */
static void leak(void)
{
    char path[160];

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", W->a.id, W->a.subject);
    assert_int_equal(status_of("GET", path, W->a.key[CU_ROLE_AGENT], NULL, NULL), 200);
}

static void open_a(char id[SRV_ID])
{
    char path[160], body[256];

    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents", W->a.id);
    snprintf(body, sizeof(body), "{\"from\":\"2020-01-01\",\"api_key\":\"%s\"}",
             W->a.key_id[CU_ROLE_AGENT]);
    srv_call_ok(&W->s, "POST", path, W->a.key[CU_ROLE_ADMIN], NULL, body, 201, id);
}

static void test_P_BRE_1_admin_finds_the_subject_the_key_read(void **state)
{
    char id[SRV_ID], path[200];
    srv_resp r;

    (void)state;
    leak();
    open_a(id);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s/report", W->a.id, id);
    assert_int_equal(status_of("GET", path, W->a.key[CU_ROLE_ADMIN], NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"subjects_affected\":1"));
    assert_non_null(strstr(r.body, W->a.subject));
    assert_null(strstr(r.body, W->a.subject_email)); /* ids only */
    assert_non_null(strstr(r.body, "\"intact\":true"));
    assert_non_null(strstr(r.body, "\"notice\":\"authority\""));
    assert_non_null(strstr(r.body, "\"state\":\"pending\""));
    assert_non_null(strstr(r.body, "\"event\":\"first_access\""));
    srv_resp_free(&r);
}

/* P-ISO-1: tenant b's path is one that does not exist for a's admin, and a's incident is one
 * that does not exist for b's; roles without keys are refused. */
static void test_P_BRE_1_admin_of_a_cannot_see_or_open_on_b(void **state)
{
    char id[SRV_ID], path[200];
    const char *body = "{\"from\":\"2020-01-01\",\"source\":\"127.0.0.1\"}";

    (void)state;
    open_a(id);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents", W->b.id);
    assert_int_equal(status_of("POST", path, W->a.key[CU_ROLE_ADMIN], body, NULL), 404);
    assert_int_equal(status_of("GET", path, W->a.key[CU_ROLE_ADMIN], NULL, NULL), 404);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s", W->b.id, id);
    assert_int_equal(status_of("GET", path, W->b.key[CU_ROLE_ADMIN], NULL, NULL), 404);
    assert_int_equal(status_of("GET", path, W->a.key[CU_ROLE_ADMIN], NULL, NULL), 404);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s/revoke", W->b.id, id);
    assert_int_equal(status_of("POST", path, W->b.key[CU_ROLE_ADMIN], NULL, NULL), 404);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents", W->a.id);
    assert_int_equal(status_of("POST", path, W->a.key[CU_ROLE_AGENT], body, NULL), 403);
    assert_int_equal(status_of("GET", path, W->a.key[CU_ROLE_AUDITOR], NULL, NULL), 403);
    assert_int_equal(status_of("POST", "/v1/incidents", W->a.key[CU_ROLE_OWNER], body, NULL), 403);
    /* A tenant's incident names no other tenant. */
    char other[160];
    snprintf(other, sizeof(other), "{\"from\":\"2020-01-01\",\"tenant\":\"%s\"}", W->b.id);
    assert_int_equal(status_of("POST", path, W->a.key[CU_ROLE_ADMIN], other, NULL), 400);
}

/* The operator reads every tenant's incidents and opens one on any tenant. */
static void test_P_BRE_1_operator_sees_and_opens_on_any_tenant(void **state)
{
    char id[SRV_ID], mine[SRV_ID], path[200], body[200];
    srv_resp r;

    (void)state;
    open_a(id);
    snprintf(path, sizeof(path), "/v1/incidents/%s", id);
    assert_int_equal(status_of("GET", path, W->s.operator_key, NULL, NULL), 200);
    snprintf(body, sizeof(body),
             "{\"from\":\"2020-01-01\",\"tenant\":\"%s\",\"source\":\"127.0.0.1\"}", W->b.id);
    srv_call_ok(&W->s, "POST", "/v1/incidents", W->s.operator_key, NULL, body, 201, mine);
    assert_int_equal(status_of("GET", "/v1/incidents", W->s.operator_key, NULL, &r), 200);
    assert_non_null(strstr(r.body, id));
    assert_non_null(strstr(r.body, mine));
    srv_resp_free(&r);
    /* b's admin sees the operator's incident on b; a's does not. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s", W->b.id, mine);
    assert_int_equal(status_of("GET", path, W->b.key[CU_ROLE_ADMIN], NULL, NULL), 200);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s", W->a.id, mine);
    assert_int_equal(status_of("GET", path, W->a.key[CU_ROLE_ADMIN], NULL, NULL), 404);
    /* The operator's incident over every tenant (all from 127.0.0.1 here): each tenant sees it
     * cut to its own part, never the other's subjects; it cannot revoke from it. */
    srv_call_ok(&W->s, "POST", "/v1/incidents", W->s.operator_key, NULL,
                "{\"from\":\"2020-01-01\",\"source\":\"127.0.0.1\"}", 201, mine);
    snprintf(path, sizeof(path), "/v1/incidents/%s/report", mine);
    assert_int_equal(status_of("GET", path, W->s.operator_key, NULL, &r), 200);
    assert_non_null(strstr(r.body, W->a.subject));
    assert_non_null(strstr(r.body, W->b.subject));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s/report", W->b.id, mine);
    assert_int_equal(status_of("GET", path, W->b.key[CU_ROLE_ADMIN], NULL, &r), 200);
    assert_non_null(strstr(r.body, W->b.subject));
    assert_null(strstr(r.body, W->a.subject));
    assert_null(strstr(r.body, W->a.id));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s/revoke", W->b.id, mine);
    assert_int_equal(status_of("POST", path, W->b.key[CU_ROLE_ADMIN], NULL, NULL), 403);
    /* Not on the tenant routes: those need keys, which staff do not hold. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents", W->a.id);
    assert_int_equal(status_of("GET", path, W->s.operator_key, NULL, NULL), 403);
}

/* A notice meets the authority's deadline; the revocation cuts the key off at once. */
static void test_P_BRE_1_notice_and_revoke_from_the_incident(void **state)
{
    char id[SRV_ID], path[200], subj[200];
    srv_resp r;

    (void)state;
    leak();
    open_a(id);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s/notices", W->a.id, id);
    assert_int_equal(status_of("POST", path, W->a.key[CU_ROLE_ADMIN],
                               "{\"notice\":\"authority\",\"reference\":\"DPA-2027/42\"}", &r),
                     201);
    assert_non_null(strstr(r.body, "\"state\":\"met\""));
    assert_non_null(strstr(r.body, "DPA-2027/42"));
    srv_resp_free(&r);
    assert_int_equal(status_of("POST", path, W->a.key[CU_ROLE_ADMIN],
                               "{\"notice\":\"press\",\"reference\":\"x\"}", NULL),
                     400);
    snprintf(path, sizeof(path), "/v1/tenants/%s/incidents/%s/revoke", W->a.id, id);
    assert_int_equal(status_of("POST", path, W->a.key[CU_ROLE_ADMIN], NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"event\":\"key_revoked\""));
    srv_resp_free(&r);
    assert_int_equal(status_of("POST", path, W->a.key[CU_ROLE_ADMIN], NULL, NULL), 409);
    snprintf(subj, sizeof(subj), "/v1/tenants/%s/subjects/%s", W->a.id, W->a.subject);
    assert_int_equal(status_of("GET", subj, W->a.key[CU_ROLE_AGENT], NULL, NULL), 401);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_BRE_1_admin_finds_the_subject_the_key_read),
        cmocka_unit_test(test_P_BRE_1_admin_of_a_cannot_see_or_open_on_b),
        cmocka_unit_test(test_P_BRE_1_operator_sees_and_opens_on_any_tenant),
        cmocka_unit_test(test_P_BRE_1_notice_and_revoke_from_the_incident),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
