/*
 * test_portal_link.c: the data subject's privacy center over the real HTTPS server
 * (custos_portal.h, docs/portal.md): the signed portal link and its exchange for a strict
 * session cookie; one answer for every bad link (forged, foreign, of an erased subject,
 * expired); a subject session that reaches its own subject's portal routes alone; consents
 * changed through the ledger, which the API then applies; a request filed, acknowledged by an
 * administrator and its export downloaded by the subject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "custos_portal.h"
#include "srv.h"
#include "th.h"

static srv S;
static char T[SRV_ID], TKEY[128];   /* "Acme", on the seed policy scm */
static char U[SRV_ID], UKEY[128];   /* "Umbrella", on scm too */
static char ADA[SRV_ID], BOB[SRV_ID]; /* subjects of Acme */
static char UMA[SRV_ID];            /* a subject of Umbrella */

static void tenant(const char *name, char id[SRV_ID], char key[128])
{
    char body[128];
    srv_resp r;
    cJSON *o;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"policy\":\"scm\"}", name);
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL, body, &r), 0);
    assert_int_equal(r.status, 201);
    o = cJSON_Parse(r.body);
    snprintf(id, SRV_ID, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    snprintf(key, 128, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "owner_api_key"),
                                                      "secret")));
    cJSON_Delete(o);
    srv_resp_free(&r);
}

static void subject(const char *t, const char *key, const char *ext, char id[SRV_ID])
{
    char path[96], body[160];

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t);
    snprintf(body, sizeof(body), "{\"external_id\":\"%s\",\"email\":\"%s@example.org\"}", ext,
             ext);
    srv_call_ok(&S, "POST", path, key, "provide_service", body, 201, id);
}

static int setup(void **state)
{
    (void)state;
    srv_start(&S, NULL);
    tenant("Acme", T, TKEY);
    tenant("Umbrella", U, UKEY);
    subject(T, TKEY, "ada", ADA);
    subject(T, TKEY, "bob", BOB);
    subject(U, UKEY, "uma", UMA);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* A portal link's token for subject s of tenant t, issued with key. */
static void link_of(const char *t, const char *key, const char *s, char token[CU_PORTAL_TOKEN_MAX])
{
    char path[128], url[256];
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/portal-links", t, s);
    assert_int_equal(srv_call(&S, "POST", path, key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "url", url, sizeof(url)), 0);
    assert_int_equal(strncmp(url, "/portal/center.html#", 20), 0);
    snprintf(token, CU_PORTAL_TOKEN_MAX, "%.95s", url + 20);
    srv_resp_free(&r);
}

/* Exchanges token; the answer in r (the caller frees it). */
static void exchange(const char *token, srv_resp *r)
{
    char body[160];

    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    assert_int_equal(srv_call(&S, "POST", "/v1/portal/session", NULL, NULL, body, r), 0);
}

/* A session cookie ("custos_portal=...") for subject s of tenant t. */
static void session_of(const char *t, const char *key, const char *s, char cookie[128])
{
    char token[CU_PORTAL_TOKEN_MAX];
    srv_resp r;

    link_of(t, key, s, token);
    exchange(token, &r);
    assert_int_equal(r.status, 200);
    snprintf(cookie, 128, "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
    assert_int_equal(strncmp(cookie, "custos_portal=", 14), 0);
    srv_resp_free(&r);
}

static long call(const char *method, const char *path, const char *auth, const char *purpose,
                 const char *body, srv_resp *r)
{
    assert_int_equal(srv_call(&S, method, path, auth, purpose, body, r), 0);
    return r->status;
}

static void test_link_exchanges_for_a_strict_subject_cookie(void **state)
{
    char token[CU_PORTAL_TOKEN_MAX], cookie[128], path[160];
    srv_resp r;

    (void)state;
    link_of(T, TKEY, ADA, token);
    exchange(token, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.set_cookies, 1);
    assert_int_equal(strncmp(r.set_cookie, "custos_portal=", 14), 0);
    assert_non_null(strstr(r.set_cookie, "; HttpOnly"));
    assert_non_null(strstr(r.set_cookie, "; Secure"));
    assert_non_null(strstr(r.set_cookie, "; SameSite=Strict"));
    assert_non_null(strstr(r.set_cookie, "; Max-Age=1800"));
    /* Sent with this subject's portal routes alone, never the rest of the API or the console. */
    snprintf(path, sizeof(path), "; Path=/v1/tenants/%s/portal/subjects/%s;", T, ADA);
    assert_non_null(strstr(r.set_cookie, path));
    assert_non_null(strstr(r.body, ADA));
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
    srv_resp_free(&r);
    /* Neither the link's token nor the session's is in the server's log. */
    assert_false(th_file_contains(S.log, token, strlen(token)));
    assert_false(th_file_contains(S.log, cookie + 14, strlen(cookie + 14)));

    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s", T, ADA);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"name\":\"Acme\""));
    assert_non_null(strstr(r.body, "\"purposes\""));       /* the policy in force */
    assert_non_null(strstr(r.body, "\"pending\":null")); /* none pending */
    srv_resp_free(&r);
    /* The server's access log names the principal as what it is: a subject, not a user. */
    {
        char want[96];
        snprintf(want, sizeof(want), "\"principal\":\"subject:%s\"", ADA);
        for (int i = 0; i < 50 && !th_file_contains(S.log, want, strlen(want)); i++)
            usleep(20000);
        assert_true(th_file_contains(S.log, want, strlen(want)));
        snprintf(want, sizeof(want), "\"principal\":\"user:%s\"", ADA);
        assert_false(th_file_contains(S.log, want, strlen(want)));
    }
    /* A stale console session beside it does not hide it on a portal route (each cookie is read
     * where it belongs), and the portal cookie is not read on another route. */
    {
        char both[256];
        snprintf(both, sizeof(both), "custos_session=stale; %s", cookie);
        assert_int_equal(call("GET", path, both, NULL, NULL, &r), 200);
        srv_resp_free(&r);
        snprintf(both, sizeof(both), "/v1/tenants/%s", T);
        assert_int_equal(call("GET", both, cookie, NULL, NULL, &r), 401);
        srv_resp_free(&r);
    }
    /* Signing out clears the cookie at its own path, which the page names. */
    snprintf(path, sizeof(path), "/v1/portal/session?tenant_id=%s&subject_id=%s", T, ADA);
    assert_int_equal(call("DELETE", path, NULL, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.set_cookie, "custos_portal=; "));
    assert_non_null(strstr(r.set_cookie, "Max-Age=0"));
    snprintf(path, sizeof(path), "; Path=/v1/tenants/%s/portal/subjects/%s;", T, ADA);
    assert_non_null(strstr(r.set_cookie, path));
    srv_resp_free(&r);
    assert_int_equal(call("DELETE", "/v1/portal/session?tenant_id=1", NULL, NULL, NULL, &r), 400);
    srv_resp_free(&r);
    /* Opening and closing a session are the server's own page's: without its Origin, or from
     * another site, refused (no other site swaps a visitor's session for one it chose). */
    {
        char body[160];
        const char *none[] = {"Content-Type: application/json", NULL};
        const char *other[] = {"Content-Type: application/json",
                               "Origin: https://attacker.example", NULL};
        snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
        assert_int_equal(
            srv_call_h(&S, "POST", "/v1/portal/session", none, body, strlen(body), &r), 0);
        srv_assert_err(&r, 403, "origin_not_allowed");
        srv_resp_free(&r);
        assert_int_equal(
            srv_call_h(&S, "POST", "/v1/portal/session", other, body, strlen(body), &r), 0);
        srv_assert_err(&r, 403, "origin_not_allowed");
        srv_resp_free(&r);
        assert_int_equal(srv_call_h(&S, "DELETE", "/v1/portal/session", other, NULL, 0, &r), 0);
        srv_assert_err(&r, 403, "origin_not_allowed");
        srv_resp_free(&r);
    }
}

/* Every bad link gets exactly the answer of any other: nothing tells a subject that exists. */
static void test_bad_links_answer_alike(void **state)
{
    char good[CU_PORTAL_TOKEN_MAX], forged[CU_PORTAL_TOKEN_MAX], gone[CU_PORTAL_TOKEN_MAX];
    char cookie[128], path[160], carol[SRV_ID];
    const char *bad[5];
    srv_resp ref, r;

    (void)state;
    link_of(T, TKEY, ADA, good);
    snprintf(forged, sizeof(forged), "%s", good);
    forged[30] = forged[30] == 'A' ? 'B' : 'A'; /* a bit of the subject's id changed */
    /* A subject erased after its link was issued (and its session opened). */
    subject(T, TKEY, "carol", carol);
    link_of(T, TKEY, carol, gone);
    session_of(T, TKEY, carol, cookie);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T, carol);
    srv_call_ok(&S, "DELETE", path, TKEY, "provide_service", NULL, 200, NULL);
    /* Its erasure ended its session too. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s", T, carol);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 401);
    srv_resp_free(&r);
    session_of(T, TKEY, BOB, cookie);
    bad[0] = forged;
    bad[1] = gone;
    bad[2] = cookie + 14; /* a session's token is no link */
    bad[3] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    bad[4] = "not a token at all";
    exchange("Zm9yZ2Vk", &ref);
    assert_int_equal(ref.status, 404);
    assert_int_equal(ref.set_cookies, 0);
    for (size_t i = 0; i < 5; i++) {
        exchange(bad[i], &r);
        if (r.status != ref.status || strcmp(r.body, ref.body) != 0 || r.set_cookies != 0)
            fail_msg("bad link %zu: %ld %s, another answers %ld %s", i, r.status, r.body,
                     ref.status, ref.body);
        srv_resp_free(&r);
    }
    srv_resp_free(&ref);
    /* A forged session cookie is no session. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s", T, ADA);
    snprintf(cookie, sizeof(cookie), "custos_portal=%s", forged);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 401);
    srv_resp_free(&r);
    /* Nor is a link (unused and valid) presented as the cookie: the kinds are MACed. */
    snprintf(cookie, sizeof(cookie), "custos_portal=%s", good);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 401);
    srv_resp_free(&r);
}

/* The subject's session reaches its own subject's portal routes alone. */
static void test_subject_session_reaches_only_its_own_routes(void **state)
{
    char cookie[128], path[192], other[192];
    srv_resp r, r2;

    (void)state;
    session_of(T, TKEY, ADA, cookie);
    /* Another subject of the same tenant, another tenant's subject, an id that exists nowhere:
     * one answer, 404. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/consents", T, BOB);
    snprintf(other, sizeof(other), "/v1/tenants/%s/portal/subjects/%s/consents", U, UMA);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 404);
    assert_int_equal(call("GET", other, cookie, NULL, NULL, &r2), 404);
    assert_string_equal(r.body, r2.body);
    srv_resp_free(&r);
    srv_resp_free(&r2);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/123456789/requests", T);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 404);
    srv_resp_free(&r);
    /* The API's own routes, its own subject's included: the subject's cookie is not even read
     * there (a portal route reads it alone; its Path keeps the browser from sending it). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T, ADA);
    assert_int_equal(call("GET", path, cookie, "provide_service", NULL, &r), 401);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/portal-links", T, ADA);
    assert_int_equal(call("POST", path, cookie, NULL, NULL, &r), 401);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s", T);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 401);
    srv_resp_free(&r);
    assert_int_equal(call("GET", "/v1/tenants", cookie, NULL, NULL, &r), 401);
    srv_resp_free(&r);
    /* And no key or user reaches the portal routes: they are the subject's. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s", T, ADA);
    assert_int_equal(call("GET", path, TKEY, NULL, NULL, &r), 403);
    srv_resp_free(&r);
    assert_int_equal(call("GET", path, S.operator_key, NULL, NULL, &r), 403);
    srv_resp_free(&r);
}

/* The newest audit entry of T's log with action (and object, if given) names actor. */
static void audit_expect(const char *action, const char *object, const char *actor)
{
    char path[256];
    cJSON *o, *e, *last = NULL;
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/audit?action=%s", T, action);
    assert_int_equal(call("GET", path, TKEY, NULL, NULL, &r), 200);
    o = cJSON_Parse(r.body);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "entries"))
    {
        if (object == NULL ||
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "object")), object) == 0)
            last = e;
    }
    if (last == NULL)
        fail_msg("no %s entry for %s in %s", action, object ? object : "any object", r.body);
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(last, "actor")), actor) != 0)
        fail_msg("%s: actor %s, expected %s", action,
                 cJSON_GetStringValue(cJSON_GetObjectItem(last, "actor")), actor);
    cJSON_Delete(o);
    srv_resp_free(&r);
}

/* Withdrawn from the page, refused by the API: the ledger's own path, the subject's audit. */
static void test_consent_withdrawn_by_the_subject_is_applied(void **state)
{
    char cookie[128], path[192], sub[160];
    const char *hs[3];
    char ch[160];
    srv_resp r;
    cJSON *o, *p;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", T, BOB);
    srv_call_ok(&S, "POST", path, TKEY, NULL, "{\"purpose\":\"shared_on_request\",\"action\":\"grant\"}",
                201, NULL);
    snprintf(sub, sizeof(sub), "/v1/tenants/%s/subjects/%s", T, BOB);
    assert_int_equal(call("GET", sub, TKEY, "shared_on_request", NULL, &r), 200);
    srv_resp_free(&r);

    session_of(T, TKEY, BOB, cookie);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/consents", T, BOB);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    o = cJSON_Parse(r.body);
    p = NULL;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(o, "purposes"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(p, "purpose")), "shared_on_request"))
            continue;
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "basis")), "consent");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "stance")), "granted");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "can_change")));
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(p, "withdrawing")),
                               "Withdrawing"));
        break;
    }
    assert_non_null(p);
    cJSON_Delete(o);
    srv_resp_free(&r);

    /* Without the page's Origin, a cookie's change is refused (CSRF). */
    snprintf(ch, sizeof(ch), "Cookie: %s", cookie);
    hs[0] = ch;
    hs[1] = "Content-Type: application/json";
    hs[2] = NULL;
    {
        static const char body[] = "{\"purpose\":\"shared_on_request\",\"action\":\"withdraw\"}";
        assert_int_equal(srv_call_h(&S, "POST", path, hs, body, sizeof(body) - 1, &r), 0);
        srv_assert_err(&r, 403, "origin_not_allowed");
        srv_resp_free(&r);
    }
    /* A contract purpose cannot be withdrawn; a consent one can. */
    assert_int_equal(call("POST", path, cookie, NULL,
                          "{\"purpose\":\"provide_service\",\"action\":\"withdraw\"}", &r),
                     400);
    srv_resp_free(&r);
    assert_int_equal(call("POST", path, cookie, NULL,
                          "{\"purpose\":\"shared_on_request\",\"action\":\"withdraw\"}", &r),
                     201);
    srv_resp_free(&r);
    assert_int_equal(call("GET", sub, TKEY, "shared_on_request", NULL, &r), 403);
    srv_resp_free(&r);
    /* P-AUD-1: the actor of each step, read from the entry's own field (the objects name the
     * subject too): the link is the key's, the session the subject's with the link's issuer
     * in its object, the withdrawal the subject's. */
    snprintf(ch, sizeof(ch), "key:%.*s", (int)strcspn(TKEY + 4, "_"), TKEY + 4);
    snprintf(sub, sizeof(sub), "subject:%s", BOB);
    audit_expect("portal.link", sub, ch);
    snprintf(path, sizeof(path), "subject:%s:by:%.64s", BOB, ch);
    audit_expect("portal.session", path, sub);
    audit_expect("consent.record", NULL, sub);
}

/* An export filed from the portal, acknowledged by the tenant, downloaded by the subject; the
 * request is the subject's alone. */
static void test_subject_files_an_export_and_downloads_it(void **state)
{
    char cookie[128], bob[128], path[192], id[SRV_ID];
    srv_resp r;

    (void)state;
    session_of(T, TKEY, ADA, cookie);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/requests", T, ADA);
    assert_int_equal(call("POST", path, cookie, NULL, "{\"type\":\"export\"}", &r), 201);
    assert_null(strstr(r.body, "token")); /* verified by the session: no token to relay */
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    srv_resp_free(&r);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, id));
    assert_non_null(strstr(r.body, "\"state\":\"verified\""));
    srv_resp_free(&r);

    /* Not ready before the tenant acknowledges it. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/requests/%s/export", T, ADA,
             id);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 409);
    srv_resp_free(&r);
    {
        char ack[160];
        snprintf(ack, sizeof(ack), "/v1/tenants/%s/requests/%s/acknowledge", T, id);
        srv_call_ok(&S, "POST", ack, TKEY, NULL, NULL, 200, NULL);
    }
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "ada@example.org"));
    srv_resp_free(&r);

    /* Bob's session, on his own path, with Ada's request: not found. */
    session_of(T, TKEY, BOB, bob);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/requests/%s/export", T, BOB,
             id);
    assert_int_equal(call("GET", path, bob, NULL, NULL, &r), 404);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/requests", T, BOB);
    assert_int_equal(call("GET", path, bob, NULL, NULL, &r), 200);
    assert_null(strstr(r.body, id));
    srv_resp_free(&r);
}

/* A restricted subject (P-DSR-5) still reaches its own center: it reads its policy and
 * consents and asks for the restriction to be lifted (review-portal2 12: the gap). */
static void test_restricted_subject_uses_its_center(void **state)
{
    char carl[SRV_ID], cookie[128], path[160];
    srv_resp r;

    (void)state;
    subject(T, TKEY, "carl", carl);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/restriction", T, carl);
    srv_call_ok(&S, "PUT", path, TKEY, NULL, "{\"restricted\":true}", 200, NULL);
    session_of(T, TKEY, carl, cookie);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s", T, carl);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/consents", T, carl);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/requests", T, carl);
    assert_int_equal(call("POST", path, cookie, NULL, "{\"type\":\"unrestrict\"}", &r), 201);
    srv_resp_free(&r);
}

/* A second open request of one kind from the center is refused with a code of its own (409
 * request_open), naming the open one: one session cannot flood the officer's queue. */
static void test_second_open_request_of_a_kind_is_refused(void **state)
{
    char cookie[128], path[160], id[SRV_ID];
    srv_resp r;

    (void)state;
    session_of(T, TKEY, BOB, cookie);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/requests", T, BOB);
    assert_int_equal(call("POST", path, cookie, NULL, "{\"type\":\"restrict\"}", &r), 201);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    srv_resp_free(&r);
    assert_int_equal(call("POST", path, cookie, NULL, "{\"type\":\"restrict\"}", &r), 409);
    assert_non_null(strstr(r.body, "\"code\":\"request_open\""));
    assert_non_null(strstr(r.body, id));
    srv_resp_free(&r);
}

/* P-DSR-8: where the tenant is a processor, a request the subject files from its center waits
 * for the controller like any subject's request: verified, but not to be acknowledged before
 * the controller approves it. */
static void test_processor_mode_request_waits_for_the_controller(void **state)
{
    char cm[SRV_ID], cmkey[128], cara[SRV_ID], cookie[128], path[192], id[SRV_ID];
    srv_resp r;

    (void)state;
    {
        srv_resp t;
        cJSON *o;
        assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
                                  "{\"name\":\"Maps\",\"policy\":\"customermaps\"}", &t),
                         0);
        assert_int_equal(t.status, 201);
        o = cJSON_Parse(t.body);
        snprintf(cm, sizeof(cm), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
        snprintf(cmkey, sizeof(cmkey), "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(o, "owner_api_key"), "secret")));
        cJSON_Delete(o);
        srv_resp_free(&t);
    }
    subject(cm, cmkey, "cara", cara);
    session_of(cm, cmkey, cara, cookie);
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s/requests", cm, cara);
    assert_int_equal(call("POST", path, cookie, NULL, "{\"type\":\"erase\"}", &r), 201);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    srv_resp_free(&r);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"decision\":\"pending\""));
    assert_non_null(strstr(r.body, "\"filed_by\":\"subject\""));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/acknowledge", cm, id);
    assert_int_equal(call("POST", path, cmkey, NULL, NULL, &r), 409);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/approve", cm, id);
    srv_call_ok(&S, "POST", path, cmkey, NULL, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/acknowledge", cm, id);
    srv_call_ok(&S, "POST", path, cmkey, NULL, NULL, 200, NULL);
}

/* P-DSR-8: in processor mode an objection from a card is the subject's request, as one filed
 * from the form is: 202, an object request naming the purpose waits for the controller, the
 * ledger is untouched until the request is approved, acknowledged and completed. A grant or
 * any change for a controller tenant stays a ledger write (201, test above). */
static void test_processor_mode_card_files_a_request(void **state)
{
    char cm[SRV_ID], cmkey[128], cid[SRV_ID], cookie[128], path[192], base[160], id[SRV_ID];
    srv_resp r;

    (void)state;
    {
        srv_resp t;
        cJSON *o;
        assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
                                  "{\"name\":\"Maps2\",\"policy\":\"customermaps\"}", &t),
                         0);
        assert_int_equal(t.status, 201);
        o = cJSON_Parse(t.body);
        snprintf(cm, sizeof(cm), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
        snprintf(cmkey, sizeof(cmkey), "%s",
                 cJSON_GetStringValue(cJSON_GetObjectItem(
                     cJSON_GetObjectItem(o, "owner_api_key"), "secret")));
        cJSON_Delete(o);
        srv_resp_free(&t);
    }
    subject(cm, cmkey, "cid", cid);
    session_of(cm, cmkey, cid, cookie);
    snprintf(base, sizeof(base), "/v1/tenants/%s/portal/subjects/%s", cm, cid);
    snprintf(path, sizeof(path), "%s/consents", base);
    assert_int_equal(call("POST", path, cookie, NULL,
                          "{\"purpose\":\"security_monitoring\",\"action\":\"object\"}", &r),
                     202);
    assert_non_null(strstr(r.body, "\"routed\":true"));
    assert_int_equal(srv_json_str(strstr(r.body, "\"request\""), "id", id, sizeof(id)), 0);
    srv_resp_free(&r);
    /* Nothing in the ledger yet: the controller decides first. */
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    assert_null(strstr(r.body, "\"objected\""));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "%s/requests", base);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"type\":\"object\""));
    assert_non_null(strstr(r.body, "\"decision\":\"pending\""));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/acknowledge", cm, id);
    assert_int_equal(call("POST", path, cmkey, NULL, NULL, &r), 409);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/approve", cm, id);
    srv_call_ok(&S, "POST", path, cmkey, NULL, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/acknowledge", cm, id);
    srv_call_ok(&S, "POST", path, cmkey, NULL, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/complete", cm, id);
    srv_call_ok(&S, "POST", path, cmkey, NULL, "{}", 200, NULL);
    snprintf(path, sizeof(path), "%s/consents", base);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"objected\""));
    srv_resp_free(&r);
    /* Withdrawing the objection asks no right against the controller: the ledger, at once. */
    assert_int_equal(
        call("POST", path, cookie, NULL,
             "{\"purpose\":\"security_monitoring\",\"action\":\"withdraw_objection\"}", &r),
        201);
    assert_non_null(strstr(r.body, "\"routed\":false"));
    srv_resp_free(&r);
}

/* A link past its time answers what a forged one does. Restarts the server: last. */
static void test_expired_link_answers_as_a_forged_one(void **state)
{
    char token[CU_PORTAL_TOKEN_MAX], now[64], cookie[128], path[160];
    const char *env[] = {now, NULL};
    srv_resp ref, r;

    (void)state;
    link_of(T, TKEY, ADA, token);
    session_of(T, TKEY, ADA, cookie);
    exchange("Zm9yZ2Vk", &ref);
    snprintf(now, sizeof(now), "CUSTOS_NOW=%lld",
             (long long)time(NULL) + CU_PORTAL_SESSION_TTL + 60);
    assert_int_equal(srv_stop(&S, 0), 0);
    srv_restart(&S, NULL, env);
    exchange(token, &r);
    assert_int_equal(r.status, ref.status);
    assert_string_equal(r.body, ref.body);
    srv_resp_free(&r);
    srv_resp_free(&ref);
    /* The session is over too. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/portal/subjects/%s", T, ADA);
    assert_int_equal(call("GET", path, cookie, NULL, NULL, &r), 401);
    srv_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_exchanges_for_a_strict_subject_cookie),
        cmocka_unit_test(test_bad_links_answer_alike),
        cmocka_unit_test(test_subject_session_reaches_only_its_own_routes),
        cmocka_unit_test(test_consent_withdrawn_by_the_subject_is_applied),
        cmocka_unit_test(test_subject_files_an_export_and_downloads_it),
        cmocka_unit_test(test_second_open_request_of_a_kind_is_refused),
        cmocka_unit_test(test_restricted_subject_uses_its_center),
        cmocka_unit_test(test_processor_mode_request_waits_for_the_controller),
        cmocka_unit_test(test_processor_mode_card_files_a_request),
        cmocka_unit_test(test_expired_link_answers_as_a_forged_one), /* restarts: last */
    };

    return cmocka_run_group_tests_name("the subject's portal link and session", tests, setup,
                                       teardown);
}
