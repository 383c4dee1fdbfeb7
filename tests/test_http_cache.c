/*
 * test_http_cache.c: the caches of verified API keys and unwrapped keys through the real
 * server (issue 17, item 3): a key used, hence cached, and then revoked is refused on its very
 * next request (P-ACC-3); a subject read, hence its key cached, and then erased is not found on
 * the very next read (P-DSR-4); /metrics counts each cache's hits, misses, evictions and size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    W = srv_world_new("cachea", NULL);
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

/* The value of the metric line that starts with name (e.g. custos_cache_hits_total{...}). */
static unsigned long long metric(const char *name)
{
    char needle[160];
    const char *p;
    srv_resp r;
    unsigned long long x = 0;

    assert_int_equal(srv_call(&W->s, "GET", "/metrics", W->s.operator_key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    snprintf(needle, sizeof(needle), "\n%s ", name);
    p = strstr(r.body, needle);
    if (p == NULL)
        fail_msg("no %s in /metrics", name);
    x = strtoull(p + strlen(needle), NULL, 10);
    srv_resp_free(&r);
    return x;
}

static long get_status(const char *path, const char *key, const char *purpose)
{
    srv_resp r;
    long status;

    assert_int_equal(srv_call(&W->s, "GET", path, key, purpose, NULL, &r), 0);
    status = r.status;
    srv_resp_free(&r);
    return status;
}

static void test_P_ACC_3_revoked_key_is_refused_on_its_very_next_request(void **state)
{
    char path[256], secret[128], id[SRV_ID], rpath[256];
    unsigned long long hits;
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], NULL,
                              "{\"name\":\"cached\",\"role\":\"agent\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "secret", secret, sizeof(secret)), 0);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    srv_resp_free(&r);

    snprintf(rpath, sizeof(rpath), "/v1/tenants/%s/records/%s", W->a.id, W->a.record);
    assert_int_equal(get_status(rpath, secret, "support"), 200); /* checked, cached */
    hits = metric("custos_cache_hits_total{cache=\"apikeys\"}");
    for (int i = 0; i < 3; i++)
        assert_int_equal(get_status(rpath, secret, "support"), 200);
    assert_true(metric("custos_cache_hits_total{cache=\"apikeys\"}") >= hits + 3);

    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys/%s", W->a.id, id);
    assert_int_equal(srv_call(&W->s, "DELETE", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", rpath, secret, "support", NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    assert_true(metric("custos_cache_forgotten_total{cache=\"apikeys\"}") >= 1);
}

static void test_P_DSR_4_erased_subject_is_gone_on_the_very_next_read(void **state)
{
    char path[256], rpath[256], spath[256], sid[SRV_ID], rid[SRV_ID], body[256];
    const char *owner = W->a.key[CU_ROLE_OWNER];
    unsigned long long hits;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", W->a.id);
    srv_call_ok(&W->s, "POST", path, owner, "support", "{\"external_id\":\"ext-erase-me\"}", 201,
                sid);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", W->a.id);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"to forget\"}}", sid);
    srv_call_ok(&W->s, "POST", path, owner, "support", body, 201, rid);

    snprintf(rpath, sizeof(rpath), "/v1/tenants/%s/records/%s", W->a.id, rid);
    snprintf(spath, sizeof(spath), "/v1/tenants/%s/subjects/%s", W->a.id, sid);
    assert_int_equal(get_status(rpath, owner, "support"), 200);
    hits = metric("custos_cache_hits_total{cache=\"keys\"}");
    assert_int_equal(get_status(rpath, owner, "support"), 200); /* the subject key, cached */
    assert_int_equal(get_status(spath, owner, "support"), 200);
    assert_true(metric("custos_cache_hits_total{cache=\"keys\"}") >= hits + 2);

    srv_call_ok(&W->s, "DELETE", spath, owner, "dsr", NULL, 200, NULL);
    assert_int_equal(get_status(rpath, owner, "support"), 404);
    assert_int_equal(get_status(spath, owner, "support"), 404);
    /* The tenant's other subject is still read. */
    snprintf(rpath, sizeof(rpath), "/v1/tenants/%s/records/%s", W->a.id, W->a.record);
    assert_int_equal(get_status(rpath, owner, "support"), 200);
}

static void test_metrics_count_each_cache(void **state)
{
    static const char *const series[] = {"hits_total",    "misses_total",    "evictions_total",
                                         "expired_total", "forgotten_total", "entries",
                                         "capacity"};
    char name[128];

    (void)state;
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
        snprintf(name, sizeof(name), "custos_cache_%s{cache=\"apikeys\"}", series[i]);
        (void)metric(name);
        snprintf(name, sizeof(name), "custos_cache_%s{cache=\"keys\"}", series[i]);
        (void)metric(name);
    }
    assert_int_equal(metric("custos_cache_capacity{cache=\"apikeys\"}"), 4096);
    assert_true(metric("custos_cache_entries{cache=\"keys\"}") > 0);
    assert_true(metric("custos_cache_misses_total{cache=\"keys\"}") > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_ACC_3_revoked_key_is_refused_on_its_very_next_request),
        cmocka_unit_test(test_P_DSR_4_erased_subject_is_gone_on_the_very_next_read),
        cmocka_unit_test(test_metrics_count_each_cache),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
