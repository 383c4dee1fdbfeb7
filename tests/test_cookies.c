/*
 * test_cookies.c: cookie consent over HTTPS against the real server (P-CON-3, P-CON-2;
 * docs/consent.md, api_consent.c, src/core/cookies.c), on the ERP Smart Cloud policy
 * (essential: always, analytics and preference: consent, advertising: never).
 *
 * A new visitor may have essential cookies only; a choice opens exactly the categories it
 * grants, and a later refusal closes them; advertising can never be granted (400
 * cookie_never, nothing recorded); Sec-GPC on the check or on the choice turns the consent
 * categories off; a known subject's choices are entries of its consent ledger with version and
 * source; the visitor id itself is never stored; the banner script is served without a
 * credential, as JavaScript under a CSP, and holds no key.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "srv.h"
#include "th.h"

#include <cjson/cJSON.h>

static srv S;
static char T[SRV_ID], owner[128], agent[128], analyst[128], ada[SRV_ID];

static void call_h(long want, const char *code, const char *key, int gpc, const char *body,
                   srv_resp *keep, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static void call_h(long want, const char *code, const char *key, int gpc, const char *body,
                   srv_resp *keep, const char *method, const char *fmt, ...)
{
    char path[512], auth[200];
    const char *h[4];
    srv_resp r;
    va_list ap;
    int n = 0;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    if (key != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        h[n++] = auth;
    }
    if (gpc)
        h[n++] = "Sec-GPC: 1";
    if (body != NULL)
        h[n++] = "Content-Type: application/json";
    h[n] = NULL;
    assert_int_equal(srv_call_h(&S, method, path, h, body, body ? strlen(body) : 0, &r), 0);
    if (r.status != want)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r.status, want, r.body);
    if (code != NULL)
        srv_assert_err(&r, want, code);
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
    call_h(201, NULL, owner, 0, body, &r, "POST", "/v1/tenants/%s/api-keys", T);
    assert_int_equal(srv_json_str(r.body, "secret", out, 128), 0);
    srv_resp_free(&r);
}

static int setup(void **state)
{
    srv_resp r;

    (void)state;
    srv_start(&S, NULL);
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
                              "{\"name\":\"erp\",\"policy\":\"erpsmartcloud\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", T, sizeof(T)), 0);
    assert_int_equal(srv_json_str(r.body, "secret", owner, sizeof(owner)), 0);
    srv_resp_free(&r);
    key_of("agent", agent);
    key_of("analyst", analyst);
    {
        char path[96];
        snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T);
        srv_call_ok(&S, "POST", path, agent, "provide_service", "{\"external_id\":\"ada-1\"}", 201,
                    ada);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* Records a visitor's choice (body members after "visitor"), expecting want. */
static void choose(long want, const char *code, int gpc, const char *visitor, const char *cats,
                   srv_resp *keep)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"visitor\":\"%s\",\"categories\":%s}", visitor, cats);
    call_h(want, code, agent, gpc, body, keep, "POST", "/v1/tenants/%s/cookies/choices", T);
}

/* The "allowed" array of a check of visitor, as its JSON text, into out. */
static void allowed(const char *visitor, int gpc, char *out, size_t cap)
{
    srv_resp r;
    const char *a, *e;

    call_h(200, NULL, agent, gpc, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?visitor=%s", T,
           visitor);
    a = strstr(r.body, "\"allowed\":");
    assert_non_null(a);
    e = strchr(a, ']');
    assert_non_null(e);
    snprintf(out, cap, "%.*s", (int)(e + 1 - a - 10), a + 10);
    srv_resp_free(&r);
}

#define ALLOWED(visitor, gpc, want)                                                                \
    do {                                                                                           \
        char got_[128];                                                                            \
        allowed(visitor, gpc, got_, sizeof(got_));                                                 \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("visitor %s%s: allowed %s, want %s", visitor, gpc ? " (GPC)" : "", got_,      \
                     want);                                                                        \
    } while (0)

/* P-CON-3: essential always; analytics and preference only once granted, and no longer once
 * refused; the answer says whether the visitor chose under the version in force. */
static void test_P_CON_3_consent_categories_only_with_consent(void **state)
{
    const char *v = "v-aaaaaaaaaaaaaaaa1";
    srv_resp r;

    (void)state;
    ALLOWED(v, 0, "[\"essential\"]");
    call_h(200, NULL, agent, 0, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?visitor=%s", T, v);
    assert_non_null(strstr(r.body, "\"chosen\":false"));
    assert_non_null(strstr(r.body, "\"policy_version\":\"1.0\""));
    assert_non_null(strstr(r.body, "\"advertising\":\"never\""));
    srv_resp_free(&r);
    choose(201, NULL, 0, v, "{\"analytics\":true,\"preference\":false}", &r);
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\",\"analytics\"]"));
    assert_non_null(strstr(r.body, "\"chosen\":true"));
    srv_resp_free(&r);
    ALLOWED(v, 0, "[\"essential\",\"analytics\"]");
    choose(201, NULL, 0, v, "{\"preference\":true}", NULL);
    ALLOWED(v, 0, "[\"essential\",\"analytics\",\"preference\"]");
    choose(201, NULL, 0, v, "{\"analytics\":false}", NULL);
    ALLOWED(v, 0, "[\"essential\",\"preference\"]");
    /* Another visitor is untouched. */
    ALLOWED("v-bbbbbbbbbbbbbbbb1", 0, "[\"essential\"]");
}

/* P-CON-3: a category the policy says never is never granted: 400 cookie_never, and the
 * choice leaves nothing (the visitor has still not chosen). Refusing it is fine. */
static void test_P_CON_3_advertising_can_never_be_granted(void **state)
{
    const char *v = "v-cccccccccccccccc1";
    srv_resp r;

    (void)state;
    choose(400, "cookie_never", 0, v, "{\"analytics\":true,\"advertising\":true}", NULL);
    call_h(200, NULL, agent, 0, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?visitor=%s", T, v);
    assert_non_null(strstr(r.body, "\"chosen\":false"));
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\"]"));
    srv_resp_free(&r);
    choose(201, NULL, 0, v, "{\"advertising\":false}", NULL);
    ALLOWED(v, 0, "[\"essential\"]");
    /* Essential cookies are the policy's, no choice. */
    choose(400, "invalid", 0, v, "{\"essential\":false}", NULL);
}

/* P-CON-3 with Global Privacy Control: Sec-GPC: 1 turns off what the policy says it does. ERP
 * Smart Cloud's cookies.gpc names analytics (its data goes to the analytics sub-processor) and
 * advertising, not preference (the site's own): on the check, analytics goes off and
 * preference stays; on the choice, a grant of analytics is recorded as refused (source gpc). */
static void test_P_CON_3_gpc_turns_off_what_the_policy_says(void **state)
{
    const char *v = "v-dddddddddddddddd1";
    srv_resp r;

    (void)state;
    choose(201, NULL, 0, v, "{\"analytics\":true,\"preference\":true}", NULL);
    ALLOWED(v, 0, "[\"essential\",\"analytics\",\"preference\"]");
    ALLOWED(v, 1, "[\"essential\",\"preference\"]");
    call_h(200, NULL, agent, 1, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?visitor=%s", T, v);
    assert_non_null(strstr(r.body, "\"gpc\":true"));
    assert_non_null(strstr(r.body, "\"gpc_off\":[\"analytics\"]"));
    srv_resp_free(&r);
    /* A choice under GPC: the grant of analytics is recorded as refused, and stays so without
     * GPC; preference, which GPC leaves alone, is granted as asked. */
    choose(201, NULL, 1, v, "{\"analytics\":true,\"preference\":false}", NULL);
    choose(201, NULL, 1, v, "{\"preference\":true}", &r);
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\",\"preference\"]"));
    srv_resp_free(&r);
    ALLOWED(v, 0, "[\"essential\",\"preference\"]");
}

/* The ERP Smart Cloud policy's text with the line was replaced by line (caller frees). */
static char *erp_text_with(const char *was, const char *line)
{
    size_t len = 0, cap, head;
    const char *text = cu_policy_builtin("erpsmartcloud", &len), *at;
    char *yaml;

    assert_non_null(text);
    at = strstr(text, was);
    assert_non_null(at);
    head = (size_t)(at - text);
    cap = len + strlen(line) + 1;
    yaml = malloc(cap);
    assert_non_null(yaml);
    snprintf(yaml, cap, "%.*s%s%s", (int)head, text, line, at + strlen(was));
    return yaml;
}

#define ERP_GPC "  gpc: [analytics, advertising]\n"

/* The ERP Smart Cloud policy with its cookies.gpc line replaced by line ("" drops it): the
 * loader's rc, the policy in *out on success (caller frees). */
static cu_rc erp_with_gpc(const char *line, cu_policy **out, cu_err *err)
{
    char *yaml = erp_text_with(ERP_GPC, line);
    cu_rc rc;

    *out = NULL;
    rc = cu_policy_parse(yaml, strlen(yaml), "erp.yaml", out, err);
    free(yaml);
    return rc;
}

/* P-CON-3: what GPC turns off is the policy's to say (cookies.gpc), checked by the loader, so
 * by `custos policy check`: a list of cookie categories, none twice, never essential; an empty
 * list turns nothing off; without it, every category but essential (the default). */
static void test_P_CON_3_policy_says_what_gpc_turns_off(void **state)
{
    static const char *const bad[] = {
        "  gpc: [essential]\n",        "  gpc: [tracking]\n", "  gpc: [analytics, analytics]\n",
        "  gpc: analytics\n",          "  gpc: {analytics: true}\n",
    };
    cu_policy *p = NULL;
    cu_err err = {0};

    (void)state;
    assert_int_equal(erp_with_gpc(ERP_GPC, &p, &err), CU_OK);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_ANALYTICS), 1);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_PREFERENCE), 0);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_ADVERTISING), 1);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_ESSENTIAL), 0);
    cu_policy_free(p);
    assert_int_equal(erp_with_gpc("", &p, &err), CU_OK); /* the default */
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_ANALYTICS), 1);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_PREFERENCE), 1);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_ESSENTIAL), 0);
    cu_policy_free(p);
    assert_int_equal(erp_with_gpc("  gpc: []\n", &p, &err), CU_OK);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_ANALYTICS), 0);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_PREFERENCE), 0);
    cu_policy_free(p);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (erp_with_gpc(bad[i], &p, &err) != CU_ERR_INVALID)
            fail_msg("accepted: %s", bad[i]);
        assert_null(p);
        if (strstr(err.msg, "cookies.gpc") == NULL)
            fail_msg("%s: %s", bad[i], err.msg);
    }
}

/* P-CON-2, P-CON-3: a known subject's choice is in its consent ledger, with the policy version
 * and the source; a visitor's id is stored nowhere (the ledger holds a pseudonymous id). */
static void test_P_CON_3_choices_are_ledger_entries(void **state)
{
    const char *v = "v-secretvisitor42x";
    char body[256];
    srv_resp r;

    (void)state;
    snprintf(body, sizeof(body),
             "{\"subject_id\":\"%s\",\"categories\":{\"analytics\":true},\"source\":\"settings\"}",
             ada);
    call_h(201, NULL, agent, 0, body, NULL, "POST", "/v1/tenants/%s/cookies/choices", T);
    call_h(200, NULL, agent, 0, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?subject_id=%s", T,
           ada);
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\",\"analytics\"]"));
    srv_resp_free(&r);
    {
        char path[128];
        snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", T, ada);
        assert_int_equal(srv_call(&S, "GET", path, agent, "support", NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"purpose\":\"cookies.analytics\""));
        assert_non_null(strstr(r.body, "\"source\":\"settings\""));
        /* The label, and the store's number of the version it was made under. */
        assert_non_null(strstr(r.body, "\"policy_version\":\"1.0#"));
        srv_resp_free(&r);
    }
    choose(201, NULL, 0, v, "{\"analytics\":true}", NULL);
    {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM consents WHERE purpose LIKE '%%%s%%' OR source LIKE "
                 "'%%%s%%' OR policy_version LIKE '%%%s%%'",
                 v, v, v);
        assert_int_equal(th_sql_int(S.data, sql), 0);
        assert_true(th_sql_int(S.data, "SELECT count(*) FROM consents WHERE purpose = "
                                       "'cookies.analytics'") >= 2);
    }
    if (S.store[0] == '\0') { /* SQLite: nor in the database files themselves */
        char db[400], wal[420];
        snprintf(db, sizeof(db), "%s/custos.db", S.data);
        snprintf(wal, sizeof(wal), "%s-wal", db);
        assert_false(th_file_contains(db, v, strlen(v)));
        assert_false(th_file_contains(wal, v, strlen(v)));
    }
}

/* P-ISO-1: the same visitor id on another tenant's site is another visitor: the pseudonymous
 * ledger id is derived with the tenant, and a key of one tenant never reaches the other's. */
static void test_P_CON_3_visitor_ids_are_per_tenant(void **state)
{
    const char *v = "v-shared-across-sites1";
    char t2[SRV_ID], owner2[128], path[160];
    srv_resp r;

    (void)state;
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
                              "{\"name\":\"erp two\",\"policy\":\"erpsmartcloud\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", t2, sizeof(t2)), 0);
    assert_int_equal(srv_json_str(r.body, "secret", owner2, sizeof(owner2)), 0);
    srv_resp_free(&r);
    choose(201, NULL, 0, v, "{\"analytics\":true}", NULL);
    ALLOWED(v, 0, "[\"essential\",\"analytics\"]");
    snprintf(path, sizeof(path), "/v1/tenants/%s/cookies/check?visitor=%s", t2, v);
    assert_int_equal(srv_call(&S, "GET", path, owner2, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\"]"));
    assert_non_null(strstr(r.body, "\"chosen\":false"));
    srv_resp_free(&r);
    /* Tenant one's key on tenant two's path: as if it did not exist. */
    call_h(404, "not_found", agent, 0, NULL, NULL, "GET", "/v1/tenants/%s/cookies/check?visitor=%s",
           t2, v);
}

/* Who may call, and what is refused before anything is recorded. */
static void test_P_CON_3_roles_and_input(void **state)
{
    char body[256];

    (void)state;
    call_h(403, "forbidden", analyst, 0,
           "{\"visitor\":\"v-eeeeeeeeeeeeeeee1\",\"categories\":{\"analytics\":true}}", NULL,
           "POST", "/v1/tenants/%s/cookies/choices", T);
    call_h(403, "forbidden", analyst, 0, NULL, NULL, "GET",
           "/v1/tenants/%s/cookies/check?visitor=v-eeeeeeeeeeeeeeee1", T);
    /* Platform staff have no business with a visitor's cookies (P-ACC-4). */
    call_h(403, "forbidden", S.operator_key, 0, NULL, NULL, "GET",
           "/v1/tenants/%s/cookies/check?visitor=v-eeeeeeeeeeeeeeee1", T);
    call_h(401, "unauthenticated", NULL, 0, NULL, NULL, "GET",
           "/v1/tenants/%s/cookies/check?visitor=v-eeeeeeeeeeeeeeee1", T);
    choose(400, "invalid", 0, "short", "{\"analytics\":true}", NULL);
    choose(400, "invalid", 0, "v-eeeeeeeeeeeeeeee1", "{}", NULL);
    choose(400, "invalid_field", 0, "v-eeeeeeeeeeeeeeee1", "{\"tracking\":true}", NULL);
    choose(400, "invalid_field", 0, "v-eeeeeeeeeeeeeeee1", "{\"analytics\":1}", NULL);
    snprintf(body, sizeof(body),
             "{\"visitor\":\"v-eeeeeeeeeeeeeeee1\",\"subject_id\":\"%s\","
             "\"categories\":{\"analytics\":true}}",
             ada);
    call_h(400, "invalid", agent, 0, body, NULL, "POST", "/v1/tenants/%s/cookies/choices", T);
    call_h(400, "invalid", agent, 0,
           "{\"visitor\":\"v-eeeeeeeeeeeeeeee1\",\"categories\":{\"analytics\":true},"
           "\"source\":\"ada@example.com\"}",
           NULL, "POST", "/v1/tenants/%s/cookies/choices", T);
    call_h(400, "invalid", agent, 0, NULL, NULL, "GET", "/v1/tenants/%s/cookies/check", T);
    call_h(404, "not_found", agent, 0,
           "{\"subject_id\":\"12345\",\"categories\":{\"analytics\":true}}", NULL, "POST",
           "/v1/tenants/%s/cookies/choices", T);
}

/* Headers of one GET, all of them, into a buffer. */
typedef struct hbuf {
    char text[4096];
    size_t n;
} hbuf;

static size_t on_hdr(char *p, size_t size, size_t nitems, void *arg)
{
    hbuf *h = arg;
    size_t n = size * nitems;

    if (h->n + n < sizeof(h->text)) {
        memcpy(h->text + h->n, p, n);
        h->n += n;
        h->text[h->n] = '\0';
    }
    return n;
}

static size_t on_data(char *p, size_t size, size_t nitems, void *arg)
{
    hbuf *b = arg;
    size_t n = size * nitems;

    if (b->n + n < sizeof(b->text)) {
        memcpy(b->text + b->n, p, n);
        b->n += n;
        b->text[b->n] = '\0';
    }
    return n;
}

/* P-CON-3: the banner script is served to anyone (a browser, no key), as JavaScript with
 * nosniff and a CSP, with the policy's rules in it and no secret nor any eval. */
static void test_P_CON_3_banner_js_is_plain_and_holds_no_secret(void **state)
{
    char path[128];
    static hbuf h, b;
    long status = 0;
    CURL *c;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/cookies/banner.js", T);
    c = srv_curl(&S, path);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    assert_int_equal(status, 200);
    assert_non_null(strstr(h.text, "Content-Type: text/javascript; charset=utf-8\r\n"));
    assert_non_null(strstr(h.text, "X-Content-Type-Options: nosniff"));
    /* Cacheable a short while with an ETag; the server's one CSP header, as on every answer
     * (it does nothing on a script, and costs nothing). */
    assert_non_null(strstr(h.text, "Cache-Control: public, max-age=300\r\n"));
    assert_non_null(strstr(h.text, "ETag: \"b"));
    assert_non_null(strstr(h.text, "Content-Security-Policy"));
    assert_null(strstr(strstr(h.text, "Content-Security-Policy") + 1, "Content-Security-Policy"));
    assert_non_null(strstr(b.text, "\"analytics\":\"consent\""));
    assert_non_null(strstr(b.text, "\"advertising\":\"never\""));
    assert_non_null(strstr(b.text, "data-endpoint"));
    assert_null(strstr(b.text, owner));
    assert_null(strstr(b.text, agent));
    assert_null(strstr(b.text, "Bearer"));
    assert_null(strstr(b.text, "Authorization"));
    assert_null(strstr(b.text, "eval("));
    assert_null(strstr(b.text, "Function("));
    assert_null(strstr(b.text, "innerHTML"));
    assert_null(strstr(b.text, "http://"));
    assert_null(strstr(b.text, "https://"));
    /* Revalidation with the ETag: 304, no body. */
    {
        char etag[64], inm[96];
        const char *e = strstr(h.text, "ETag: "), *hd[] = {inm, NULL};
        srv_resp r;
        assert_non_null(e);
        snprintf(etag, sizeof(etag), "%.*s", (int)strcspn(e + 6, "\r\n"), e + 6);
        snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
        assert_int_equal(srv_call_h(&S, "GET", path, hd, NULL, 0, &r), 0);
        assert_int_equal(r.status, 304);
        srv_resp_free(&r);
    }
    /* A tenant that does not exist has no script. */
    call_h(404, "not_found", NULL, 0, NULL, NULL, "GET", "/v1/tenants/12345/cookies/banner.js");
}

/* P-CON-3 (review 3): a repeated identical choice writes nothing new (the newest entry per
 * category already says it) and answers the same; a changed one is recorded. */
static void test_P_CON_3_repeated_choice_writes_nothing(void **state)
{
    const char *v = "v-repeatedchoice01";
    srv_resp r;
    int ledger, log;

    (void)state;
    choose(201, NULL, 0, v, "{\"analytics\":true,\"preference\":false}", NULL);
    ledger = th_sql_int(S.data, "SELECT count(*) FROM consents");
    log = th_sql_int(S.data, "SELECT count(*) FROM audit_log");
    for (int i = 0; i < 3; i++) {
        choose(201, NULL, 0, v, "{\"analytics\":true,\"preference\":false}", &r);
        assert_non_null(strstr(r.body, "\"allowed\":[\"essential\",\"analytics\"]"));
        assert_non_null(strstr(r.body, "\"chosen\":true"));
        srv_resp_free(&r);
    }
    assert_int_equal(th_sql_int(S.data, "SELECT count(*) FROM consents"), ledger);
    assert_int_equal(th_sql_int(S.data, "SELECT count(*) FROM audit_log"), log);
    /* Half the same, half changed: only the change is written. */
    choose(201, NULL, 0, v, "{\"analytics\":true,\"preference\":true}", NULL);
    assert_int_equal(th_sql_int(S.data, "SELECT count(*) FROM consents"), ledger + 1);
    ALLOWED(v, 0, "[\"essential\",\"analytics\",\"preference\"]");
}

/* The pseudonym an unkeyed hash gave a visitor before the review (SHA-256 over a label, the
 * tenant and the visitor id): what anyone with the database could compute from a guess. */
static long long unkeyed_pseudonym(const char *tenant, const char *visitor)
{
    uint8_t buf[16 + 8 + 64], h[CU_HASHBYTES];
    size_t n = strlen(visitor);
    unsigned long long t = strtoull(tenant, NULL, 10), id = 0;

    memcpy(buf, "custos-visitor\0\0", 16);
    for (int i = 0; i < 8; i++)
        buf[16 + i] = (uint8_t)(t >> (56 - 8 * i));
    memcpy(buf + 24, visitor, n);
    cu_sha256(buf, 24 + n, h);
    for (int i = 0; i < 8; i++)
        id = id << 8 | h[i];
    id &= 0x7fffffffffffffffULL;
    return (long long)(id ? id : 1);
}

/* P-CON-3 (review 4): the visitor's pseudonym is keyed (a blind index under the tenant's index
 * key), so a guessed visitor id cannot be tested against the database without the key; and the
 * check takes the visitor id in the Custos-Visitor header (kept out of proxies' URL logs). */
static void test_P_CON_3_visitor_pseudonym_is_keyed(void **state)
{
    const char *v = "aaaaaaaaaaaaaaaa";
    char sql[200], hdr[96], auth[200];
    const char *h[3] = {auth, hdr, NULL};
    srv_resp r;

    (void)state;
    choose(201, NULL, 0, v, "{\"analytics\":true}", NULL);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM consents WHERE subject_id = %lld",
             unkeyed_pseudonym(T, v));
    assert_int_equal(th_sql_int(S.data, sql), 0);
    /* The header form answers as the query form does. */
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", agent);
    snprintf(hdr, sizeof(hdr), "Custos-Visitor: %s", v);
    snprintf(sql, sizeof(sql), "/v1/tenants/%s/cookies/check", T);
    assert_int_equal(srv_call_h(&S, "GET", sql, h, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\",\"analytics\"]"));
    srv_resp_free(&r);
    ALLOWED(v, 0, "[\"essential\",\"analytics\"]");
    /* Both at once is ambiguous. */
    snprintf(sql, sizeof(sql), "/v1/tenants/%s/cookies/check?visitor=%s", T, v);
    assert_int_equal(srv_call_h(&S, "GET", sql, h, NULL, 0, &r), 0);
    srv_assert_err(&r, 400, "invalid_field");
    srv_resp_free(&r);
}

/* Review 6: a choice "from gpc" can only refuse (GPC is an opt-out signal); a check naming a
 * subject that does not exist is 404, as other subject routes. */
static void test_P_CON_3_gpc_source_only_refuses_and_unknown_subject(void **state)
{
    const char *v = "v-gpcsourcevisit01";

    (void)state;
    choose(400, "invalid", 0, v,
           "{\"analytics\":true},\"source\":\"gpc\"", NULL);
    choose(201, NULL, 0, v, "{\"analytics\":false},\"source\":\"gpc\"", NULL);
    call_h(404, "not_found", agent, 0, NULL, NULL, "GET",
           "/v1/tenants/%s/cookies/check?subject_id=12345", T);
}

/* Binds the ERP Smart Cloud policy again, reworded (a comment added) under the same
 * `version: "1.0"` label. */
static void rebind_same_label(void)
{
    size_t len = 0;
    const char *text = cu_policy_builtin("erpsmartcloud", &len);
    char path[96], *yaml, *body;
    cJSON *o;

    assert_non_null(text);
    yaml = malloc(len + 64);
    assert_non_null(yaml);
    snprintf(yaml, len + 64, "%.*s\n# reworded, same label\n", (int)len, text);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "yaml", yaml);
    body = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/policy", T);
    srv_call_ok(&S, "PUT", path, owner, NULL, body, 200, NULL);
    free(body);
    cJSON_Delete(o);
    free(yaml);
}

/* P-CON-3: a choice is current by the stored version in force, not by the policy's free-text
 * label: a changed policy bound under the same label asks again (chosen false, the grant no
 * longer counts). Runs last: it changes the tenant's policy. */
static void test_P_CON_3_same_label_new_version_asks_again(void **state)
{
    const char *v = "v-relabelledvisit1";
    srv_resp r;

    (void)state;
    choose(201, NULL, 0, v, "{\"analytics\":true}", NULL);
    ALLOWED(v, 0, "[\"essential\",\"analytics\"]");
    rebind_same_label();
    call_h(200, NULL, agent, 0, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?visitor=%s", T, v);
    assert_non_null(strstr(r.body, "\"policy_version\":\"1.0\""));
    assert_non_null(strstr(r.body, "\"chosen\":false"));
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\"]"));
    srv_resp_free(&r);
    /* Choosing again under it counts. */
    choose(201, NULL, 0, v, "{\"analytics\":true}", NULL);
    ALLOWED(v, 0, "[\"essential\",\"analytics\"]");
}

/* P-CON-3, issue 14 ("analytics, preference and any other only as the policy allows"): a
 * policy may name further cookie categories, consent or never, under [a-z][a-z0-9_]* names of
 * under 24 bytes, at most 8, never a name meaning advertising, and its gpc list may name
 * them; `custos policy check` (this loader) refuses anything else. */
static void test_P_CON_3_policy_names_further_categories(void **state)
{
    static const char *const bad[] = {
        "  functional: always\n",   /* only essential is always */
        "  tracking: consent\n",    /* means advertising */
        "  Functional: consent\n",  /* the name grammar */
        "  a_very_long_category_name_x: consent\n",
        "  c1: consent\n  c2: consent\n  c3: consent\n  c4: consent\n  c5: consent\n"
        "  c6: consent\n  c7: consent\n  c8: consent\n  c9: consent\n",
        "  functional: consent\n  gpc: [analytics, social]\n",
    };
    cu_policy *p = NULL;
    cu_err err = {0};

    (void)state;
    assert_int_equal(erp_with_gpc("  functional: consent\n  social_media: never\n"
                                  "  gpc: [analytics, functional]\n",
                                  &p, &err),
                     CU_OK);
    assert_int_equal(cu_policy_cookie_count(p), CU_COOKIE__COUNT + 2);
    assert_string_equal(cu_policy_cookie_name(p, CU_COOKIE__COUNT), "functional");
    assert_string_equal(cu_policy_cookie_name(p, CU_COOKIE__COUNT + 1), "social_media");
    assert_null(cu_policy_cookie_name(p, CU_COOKIE__COUNT + 2));
    assert_int_equal(cu_policy_cookie(p, (cu_cookie_category)CU_COOKIE__COUNT),
                     CU_COOKIE_WITH_CONSENT);
    assert_int_equal(cu_policy_cookie(p, (cu_cookie_category)(CU_COOKIE__COUNT + 1)),
                     CU_COOKIE_NEVER);
    assert_int_equal(cu_policy_cookie_gpc(p, (cu_cookie_category)CU_COOKIE__COUNT), 1);
    assert_int_equal(cu_policy_cookie_gpc(p, CU_COOKIE_ADVERTISING), 0);
    cu_policy_free(p);
    /* eight more are fine */
    assert_int_equal(erp_with_gpc("  c1: consent\n  c2: consent\n  c3: consent\n  c4: consent\n"
                                  "  c5: consent\n  c6: consent\n  c7: consent\n  c8: never\n",
                                  &p, &err),
                     CU_OK);
    assert_int_equal(cu_policy_cookie_count(p), CU_COOKIE_MAX);
    cu_policy_free(p);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        if (erp_with_gpc(bad[i], &p, &err) != CU_ERR_INVALID)
            fail_msg("accepted: %s", bad[i]);
        assert_null(p);
        if (strstr(err.msg, "erp.yaml:") == NULL || strstr(err.msg, "cookies") == NULL)
            fail_msg("%s: %s", bad[i], err.msg);
    }
}

/* P-CON-3 (review finding 2): a further category may not take a name that means advertising,
 * however it is spelled: one containing advert, market, target or track anywhere, or with a
 * word (letters between `_` and digits) ad, ads, adtech, behavioral, behavioural, profiling or
 * sponsored. An exact list let every name of the review through. Names that merely contain
 * the letters "ad" in another word are still categories. */
static void test_P_CON_3_no_further_category_means_advertising(void **state)
{
    static const char *const bad[] = {
        /* the review's, each accepted before */
        "ad_personalization", "advertising_partners", "adverts", "targeted_ads", "third_party_ads",
        "retargeting", "remarketing",
        /* the rule's other arms */
        "ads", "ads2", "tracker", "cross_site_tracking", "email_marketing", "marketplace_ads",
        "adtech", "behavioural", "behavioral_data", "profiling", "sponsored_content",
        "personalised_ad"};
    static const char *const good[] = {"functional", "social_media", "headless", "read_later",
                                       "video_embeds", "load_balancer", "address_autofill"};
    char line[64];
    cu_policy *p = NULL;
    cu_err err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        snprintf(line, sizeof(line), "  %s: consent\n", bad[i]);
        if (erp_with_gpc(line, &p, &err) != CU_ERR_INVALID)
            fail_msg("accepted: %s", bad[i]);
        assert_null(p);
        if (strstr(err.msg, "is no cookie category of its own") == NULL)
            fail_msg("%s: %s", bad[i], err.msg);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(line, sizeof(line), "  %s: consent\n", good[i]);
        if (erp_with_gpc(line, &p, &err) != CU_OK)
            fail_msg("refused: %s: %s", good[i], err.msg);
        assert_string_equal(cu_policy_cookie_name(p, CU_COOKIE__COUNT), good[i]);
        cu_policy_free(p);
    }
}

/* The same over HTTPS: the tenant binds a policy naming functional (consent, turned off by
 * GPC) and social_media (never): the check lists them, a choice opens functional, a grant of
 * social_media is cookie_never, a category the policy does not name is invalid_field, GPC
 * turns functional off, and the banner script and the policy carry them. Runs last: it
 * changes the tenant's policy. */
static void test_P_CON_3_further_categories_are_chosen_as_the_policy_allows(void **state)
{
    const char *v = "v-furthercategory1";
    char *yaml = erp_text_with(ERP_GPC, "  functional: consent\n  social_media: never\n"
                                        "  gpc: [analytics, advertising, functional]\n");
    char path[96], *body;
    cJSON *o = cJSON_CreateObject();
    srv_resp r;

    (void)state;
    cJSON_AddStringToObject(o, "yaml", yaml);
    body = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/policy", T);
    assert_int_equal(srv_call(&S, "PUT", path, owner, NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    /* A further consent category widens what the site may set: material (P-NOT-1), so the
     * version waits for ERP's 14 days' notice; the server is restarted past them. */
    assert_non_null(strstr(r.body, "\"pending\""));
    srv_resp_free(&r);
    free(body);
    cJSON_Delete(o);
    free(yaml);
    {
        const char *env[] = {"CUSTOS_NOW=2031-01-01", NULL};
        assert_int_equal(srv_stop(&S, 0), 0);
        srv_restart(&S, NULL, env);
    }

    call_h(200, NULL, agent, 0, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?visitor=%s", T, v);
    assert_non_null(strstr(r.body, "\"functional\":\"consent\",\"social_media\":\"never\""));
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\"]"));
    srv_resp_free(&r);
    choose(201, NULL, 0, v, "{\"functional\":true,\"preference\":true}", &r);
    assert_non_null(strstr(r.body, "\"allowed\":[\"essential\",\"preference\",\"functional\"]"));
    srv_resp_free(&r);
    choose(400, "cookie_never", 0, v, "{\"social_media\":true}", NULL);
    choose(201, NULL, 0, v, "{\"social_media\":false}", NULL);
    choose(400, "invalid_field", 0, v, "{\"functional\":false,\"chat\":true}", NULL);
    ALLOWED(v, 0, "[\"essential\",\"preference\",\"functional\"]");
    ALLOWED(v, 1, "[\"essential\",\"preference\"]");
    call_h(200, NULL, agent, 1, NULL, &r, "GET", "/v1/tenants/%s/cookies/check?visitor=%s", T, v);
    assert_non_null(strstr(r.body, "\"gpc_off\":[\"analytics\",\"functional\"]"));
    srv_resp_free(&r);
    call_h(200, NULL, NULL, 0, NULL, &r, "GET", "/v1/tenants/%s/cookies/banner.js", T);
    assert_non_null(strstr(r.body, "\"functional\":\"consent\""));
    assert_non_null(strstr(r.body, "gpc_off"));
    srv_resp_free(&r);
    call_h(200, NULL, owner, 0, NULL, &r, "GET", "/v1/tenants/%s/policy", T);
    assert_non_null(strstr(r.body, "\"social_media\":\"never\""));
    srv_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_CON_3_consent_categories_only_with_consent),
        cmocka_unit_test(test_P_CON_3_advertising_can_never_be_granted),
        cmocka_unit_test(test_P_CON_3_gpc_turns_off_what_the_policy_says),
        cmocka_unit_test(test_P_CON_3_policy_says_what_gpc_turns_off),
        cmocka_unit_test(test_P_CON_3_choices_are_ledger_entries),
        cmocka_unit_test(test_P_CON_3_visitor_ids_are_per_tenant),
        cmocka_unit_test(test_P_CON_3_roles_and_input),
        cmocka_unit_test(test_P_CON_3_banner_js_is_plain_and_holds_no_secret),
        cmocka_unit_test(test_P_CON_3_repeated_choice_writes_nothing),
        cmocka_unit_test(test_P_CON_3_visitor_pseudonym_is_keyed),
        cmocka_unit_test(test_P_CON_3_gpc_source_only_refuses_and_unknown_subject),
        cmocka_unit_test(test_P_CON_3_same_label_new_version_asks_again),
        cmocka_unit_test(test_P_CON_3_policy_names_further_categories),
        cmocka_unit_test(test_P_CON_3_no_further_category_means_advertising),
        cmocka_unit_test(test_P_CON_3_further_categories_are_chosen_as_the_policy_allows),
    };

    return cmocka_run_group_tests_name("cookie consent over HTTPS (P-CON-3)", tests, setup,
                                       teardown);
}
