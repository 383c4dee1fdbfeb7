/*
 * test_http_analytics.c: aggregate analytics against the real server (P-ANA-1, P-ISO-2,
 * P-ACC-1; docs/analytics.md). An analyst key gets aggregates with the small group suppressed
 * and cannot read a record (403); an agent, whose role lacks the aggregate permission, is
 * refused; an analyst of one tenant cannot aggregate another's (its tenant answers as missing,
 * P-ISO-1); a field that is not plain is refused with its stable code; the audit entries hold
 * the query's shape and not the value filtered on; the owner sets the privacy budget, which
 * noisy queries spend until it is refused. Tenants without a policy: min_group_size 10.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "th.h"

static srv_world *W;

#define OWNER(t) ((t)->key[CU_ROLE_OWNER])
#define ANALYST(t) ((t)->key[CU_ROLE_ANALYST])
#define AGENT(t) ((t)->key[CU_ROLE_AGENT])

static srv_resp call(long want, const char *key, const char *method, const char *body,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static srv_resp call(long want, const char *key, const char *method, const char *body,
                     const char *fmt, ...)
{
    char path[256];
    srv_resp r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    /* P-CON-1: an aggregate states its purpose, as a data read does */
    assert_int_equal(srv_call(&W->s, method, path, key,
                              strstr(path, "/aggregate") ? "analytics" : NULL, body, &r),
                     0);
    if (r.status != want)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r.status, want, r.body);
    return r;
}

/* n subjects of tenant t, each with one order in region. */
static void orders(srv_tenant *t, const char *region, int n)
{
    static unsigned next;
    char path[128], body[256], sub[SRV_ID];

    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t->id);
        snprintf(body, sizeof(body), "{\"external_id\":\"buyer-%u\"}", ++next);
        srv_call_ok(&W->s, "POST", path, OWNER(t), "support", body, 201, sub);
        snprintf(path, sizeof(path), "/v1/tenants/%s/collections/orders/records", t->id);
        snprintf(body, sizeof(body),
                 "{\"subject_id\":\"%s\",\"data\":{\"region\":\"%s\",\"amount\":40,"
                 "\"email\":\"buyer%u@example.org\"}}",
                 sub, region, next);
        srv_call_ok(&W->s, "POST", path, OWNER(t), "support", body, 201, NULL);
    }
}

static int group_setup(void **state)
{
    char path[128];

    W = srv_world_new("shop-a", "shop-b");
    for (int k = 0; k < 2; k++) {
        srv_tenant *t = k ? &W->b : &W->a;
        snprintf(path, sizeof(path), "/v1/tenants/%s/collections/orders", t->id);
        srv_call_ok(&W->s, "PUT", path, OWNER(t), NULL,
                    "{\"fields\":{\"region\":{\"class\":\"plain\"},\"amount\":{\"class\":"
                    "\"plain\"},\"email\":{\"class\":\"personal\",\"indexed\":true}}}",
                    200, NULL);
    }
    orders(&W->a, "east", 12);
    orders(&W->a, "north", 11);
    orders(&W->a, "south", 3);
    orders(&W->b, "east", 15);
    *state = W;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_world_free(W);
    W = NULL;
    return 0;
}

#define BY_REGION "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"region\"]}"

/* P-ANA-1: the analyst's answer lists "east" alone: "south" (3 subjects) is suppressed and
 * "north" with it, so the total minus "east" gives the two together, never "south". */
static void test_P_ANA_1_analyst_aggregates_with_the_small_group_suppressed(void **state)
{
    srv_resp r = call(200, ANALYST(&W->a), "POST", BY_REGION,
                      "/v1/tenants/%s/collections/orders/aggregate", W->a.id);

    (void)state;
    assert_non_null(strstr(r.body, "{\"key\":[\"east\"],\"values\":[12]}"));
    assert_null(strstr(r.body, "south"));
    assert_null(strstr(r.body, "north"));
    assert_non_null(strstr(r.body, "\"suppressed\":2"));
    assert_non_null(strstr(r.body, "\"total\":{\"values\":[26]}"));
    srv_resp_free(&r);
    /* the owner and the admin hold the permission too */
    r = call(200, OWNER(&W->a), "POST", BY_REGION, "/v1/tenants/%s/collections/orders/aggregate",
             W->a.id);
    srv_resp_free(&r);
}

/* P-ACC-1: an analyst reads no record, and an agent (no aggregate permission) aggregates
 * nothing. */
static void test_P_ACC_1_analyst_reads_no_record_and_agent_cannot_aggregate(void **state)
{
    srv_resp r;

    (void)state;
    {
        char path[128];
        snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", W->a.id, W->a.record);
        assert_int_equal(srv_call(&W->s, "GET", path, ANALYST(&W->a), "support", NULL, &r), 0);
        srv_assert_err(&r, 403, "forbidden");
        srv_resp_free(&r);
    }
    r = call(403, AGENT(&W->a), "POST", BY_REGION, "/v1/tenants/%s/collections/orders/aggregate",
             W->a.id);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
}

/* P-ISO-2: tenant a's analyst cannot aggregate tenant b (its tenant is not found, as any
 * foreign id); b's analyst gets b's figures alone. */
static void test_P_ISO_2_an_analyst_cannot_aggregate_another_tenant(void **state)
{
    srv_resp r = call(404, ANALYST(&W->a), "POST", BY_REGION,
                      "/v1/tenants/%s/collections/orders/aggregate", W->b.id);

    (void)state;
    srv_assert_err(&r, 404, "not_found");
    srv_resp_free(&r);
    r = call(200, ANALYST(&W->b), "POST", BY_REGION, "/v1/tenants/%s/collections/orders/aggregate",
             W->b.id);
    assert_non_null(strstr(r.body, "{\"key\":[\"east\"],\"values\":[15]}"));
    srv_resp_free(&r);
}

/* P-ANA-1: a personal, indexed field cannot be grouped: 400 field_not_aggregable. */
static void test_P_ANA_1_a_personal_field_is_refused_with_its_code(void **state)
{
    srv_resp r = call(400, ANALYST(&W->a), "POST",
                      "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"email\"]}",
                      "/v1/tenants/%s/collections/orders/aggregate", W->a.id);

    (void)state;
    srv_assert_err(&r, 400, "field_not_aggregable");
    srv_resp_free(&r);
    r = call(400, ANALYST(&W->a), "POST", "{\"measures\":[]}",
             "/v1/tenants/%s/collections/orders/aggregate", W->a.id);
    srv_assert_err(&r, 400, "invalid_query");
    srv_resp_free(&r);
}

/* P-ANA-1: the owner sets the budget (an analyst cannot); a noisy query spends it, and the one
 * after that finds it spent: 403 privacy_budget_spent. */
static void test_P_ANA_1_owner_sets_the_budget_and_noise_spends_it(void **state)
{
    const char *q = "{\"measures\":[{\"op\":\"count\"}],\"noise\":{\"epsilon\":0.5}}";
    srv_resp r;

    (void)state;
    r = call(403, ANALYST(&W->a), "POST", q, "/v1/tenants/%s/collections/orders/aggregate",
             W->a.id);
    srv_assert_err(&r, 403, "privacy_budget_unset");
    srv_resp_free(&r);
    r = call(403, ANALYST(&W->a), "PUT", "{\"epsilon\":5}", "/v1/tenants/%s/analytics/budget",
             W->a.id);
    srv_resp_free(&r);
    r = call(200, OWNER(&W->a), "PUT", "{\"epsilon\":0.5}", "/v1/tenants/%s/analytics/budget",
             W->a.id);
    srv_resp_free(&r);
    r = call(200, ANALYST(&W->a), "POST", q, "/v1/tenants/%s/collections/orders/aggregate",
             W->a.id);
    assert_non_null(strstr(r.body, "\"noise\":{\"epsilon\":0.5}"));
    srv_resp_free(&r);
    r = call(403, ANALYST(&W->a), "POST", q, "/v1/tenants/%s/collections/orders/aggregate",
             W->a.id);
    srv_assert_err(&r, 403, "privacy_budget_spent");
    srv_resp_free(&r);
    r = call(200, ANALYST(&W->a), "GET", NULL, "/v1/tenants/%s/analytics/budget", W->a.id);
    assert_non_null(strstr(r.body, "\"remaining\":0"));
    assert_non_null(strstr(r.body, "\"noise_required\":false"));
    srv_resp_free(&r);
}

/* P-ANA-1 (review 3): the owner requires noise with the budget: an exact query is 403
 * noise_required; lifted again, it answers. Tenant b (its own budget). */
static void test_P_ANA_1_owner_requires_noise(void **state)
{
    srv_resp r;

    (void)state;
    r = call(400, OWNER(&W->b), "PUT", "{\"epsilon\":1,\"noise_required\":1}",
             "/v1/tenants/%s/analytics/budget", W->b.id);
    srv_assert_err(&r, 400, "invalid_field");
    srv_resp_free(&r);
    r = call(200, OWNER(&W->b), "PUT", "{\"epsilon\":1,\"noise_required\":true}",
             "/v1/tenants/%s/analytics/budget", W->b.id);
    assert_non_null(strstr(r.body, "\"noise_required\":true"));
    srv_resp_free(&r);
    r = call(403, ANALYST(&W->b), "POST", BY_REGION, "/v1/tenants/%s/collections/orders/aggregate",
             W->b.id);
    srv_assert_err(&r, 403, "noise_required");
    srv_resp_free(&r);
    r = call(200, OWNER(&W->b), "PUT", "{\"epsilon\":1,\"noise_required\":false}",
             "/v1/tenants/%s/analytics/budget", W->b.id);
    srv_resp_free(&r);
    r = call(200, ANALYST(&W->b), "POST", BY_REGION, "/v1/tenants/%s/collections/orders/aggregate",
             W->b.id);
    srv_resp_free(&r);
}

/* P-AUD-1, P-ANA-1: the audit log has the query's shape, not the value filtered on. A filter
 * needs noise (exact_needs_noise without it: review 2); runs after the budget test, and raises
 * the budget it spent. */
static void test_P_ANA_1_audit_entry_has_no_values(void **state)
{
#define AUDIT_Q                                                                                    \
    "{\"measures\":[{\"op\":\"sum\",\"field\":\"amount\"}],"                                     \
    "\"where\":[{\"field\":\"region\",\"op\":\"in\",\"value\":[\"north\",\"westward-secret\"]}]"
    const char *exact = AUDIT_Q "}";
    const char *noisy = AUDIT_Q ",\"noise\":{\"epsilon\":0.5,\"bound\":1000}}";
    srv_resp r;

    (void)state;
    r = call(400, ANALYST(&W->a), "POST", exact, "/v1/tenants/%s/collections/orders/aggregate",
             W->a.id);
    srv_assert_err(&r, 400, "exact_needs_noise");
    srv_resp_free(&r);
    r = call(200, OWNER(&W->a), "PUT", "{\"epsilon\":5}", "/v1/tenants/%s/analytics/budget",
             W->a.id);
    srv_resp_free(&r);
    r = call(200, ANALYST(&W->a), "POST", noisy, "/v1/tenants/%s/collections/orders/aggregate",
             W->a.id);
    srv_resp_free(&r);
    r = call(200, OWNER(&W->a), "GET", NULL, "/v1/tenants/%s/audit?limit=1000", W->a.id);
    assert_non_null(strstr(r.body, "analytics.where"));
    assert_non_null(strstr(r.body, "in:region"));
    assert_non_null(strstr(r.body, "sum:amount"));
    assert_null(strstr(r.body, "westward-secret"));
    srv_resp_free(&r);
}

/* P-CON-1 (review 7): the aggregate route requires a purpose, as data reads do. */
static void test_P_ANA_1_aggregate_needs_a_purpose(void **state)
{
    char path[128];
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/orders/aggregate", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, ANALYST(&W->a), NULL, BY_REGION, &r), 0);
    srv_assert_err(&r, 400, "purpose_required");
    srv_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_ANA_1_analyst_aggregates_with_the_small_group_suppressed),
        cmocka_unit_test(test_P_ACC_1_analyst_reads_no_record_and_agent_cannot_aggregate),
        cmocka_unit_test(test_P_ISO_2_an_analyst_cannot_aggregate_another_tenant),
        cmocka_unit_test(test_P_ANA_1_a_personal_field_is_refused_with_its_code),
        cmocka_unit_test(test_P_ANA_1_owner_sets_the_budget_and_noise_spends_it),
        cmocka_unit_test(test_P_ANA_1_audit_entry_has_no_values),
        cmocka_unit_test(test_P_ANA_1_aggregate_needs_a_purpose),
        cmocka_unit_test(test_P_ANA_1_owner_requires_noise),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests_name("aggregate analytics over HTTP (P-ANA-1, P-ISO-2)", tests,
                                     group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
