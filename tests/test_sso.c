/*
 * test_sso.c: the OpenID Connect flow (src/core/sso.c, src/http/sso_fetch.c, P-ACC-5) against a
 * REAL provider: the oidc-provider npm package (tests/oidc/provider.js, installed by
 * `make deps`), started here by node on a free loopback port and stopped by its pid. The test
 * plays the browser with libcurl: it follows the provider's redirects (its login and consent
 * steps sign in the account the test named) up to Custos's redirect URI, and hands the code to
 * cu_sso_finish as the callback would.
 *
 * Cases: a good login with RS256 and with ES256; a replayed code refused by the provider; a
 * nonce other than the token's refused; a real token issued to another client (wrong audience)
 * refused; a token past its exp (Custos's clock moved on) refused; a rotated signing key (the
 * provider restarted with a new kid) picked up by one refetch of the JWKS.
 *
 * Then the same through the real server (`custos serve`, group sso_http): a tenant's provider
 * configured over the API (its secret never answered), GET .../sso/login's 302 to the provider,
 * the callback opening a session that works; a replayed state, an email of a domain the tenant
 * did not name refused; require_sso refusing the password login; each outcome in the audit log
 * with no email in it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "custos_sso.h"
#include "jose.h"
#include "oidc.h"
#include "srv.h"
#include "th.h"
#include "sso_fetch.h"
#include "util.h"

static oidc g_idp;
static int g_jwks_fetches, g_fetches;

/* Counts fetches (JWKS ones apart), then fetches. */
static cu_rc counting_fetch(void *arg, const char *url, const char *form, const char *user,
                            const char *pass, char **body, long *status, cu_err *err)
{
    g_fetches++;
    if (strstr(url, "/jwks") != NULL)
        g_jwks_fetches++;
    return http_sso_fetch(arg, url, form, user, pass, body, status, err);
}

static size_t drop(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

static cu_sso_idp idp_of(const char *client)
{
    static char secret[2][64];
    int i = strcmp(client, "custos") != 0;

    snprintf(secret[i], sizeof(secret[i]), "%s-secret-0123456789abcdef", client);
    return (cu_sso_idp){.issuer = g_idp.issuer,
                        .client_id = client,
                        .client_secret = secret[i],
                        .redirect_uri = OIDC_REDIRECT_PREFIX "1/sso/callback",
                        .response_iss = g_idp.issuer};
}

/* A login up to the code: begin, then the browser. */
static void login_code(const cu_sso_idp *idp, cu_sso_pending *p, char code[256])
{
    char url[2048], state[CU_SSO_RANDOM_MAX];
    cu_err e = {0};

    assert_int_equal(cu_sso_begin(idp, counting_fetch, NULL, p, url, sizeof(url), &e), CU_OK);
    assert_non_null(strstr(url, "code_challenge_method=S256"));
    assert_int_equal(strncmp(url, g_idp.issuer, strlen(g_idp.issuer)), 0);
    oidc_browse(url, code, state);
    assert_string_equal(state, p->state); /* the state comes back as sent */
}

static cu_rc finish(const cu_sso_idp *idp, const char *code, const cu_sso_pending *p,
                    cu_sso_identity *who, const char **why)
{
    cu_err e = {0};

    return cu_sso_finish(idp, counting_fetch, NULL, code, p, who, why, &e);
}

/* P-ACC-5: a good login gives the provider's account; the same code twice is refused. */
static void test_good_login_and_code_replay(void **state)
{
    cu_sso_idp idp = idp_of("custos");
    cu_sso_pending p;
    cu_sso_identity who;
    const char *why = NULL;
    char code[256];

    (void)state;
    oidc_set_email(&g_idp, "ana@acme.example");
    login_code(&idp, &p, code);
    assert_int_equal(finish(&idp, code, &p, &who, &why), CU_OK);
    assert_string_equal(why, "ok");
    assert_string_equal(who.email, "ana@acme.example");
    assert_int_equal(who.email_verified, 1);
    assert_int_equal(finish(&idp, code, &p, &who, &why), CU_ERR_AUTH);
    assert_string_equal(why, "token_request");
}

/* RFC 6749 2.3.1 (review finding 13): a client id with ":" and a secret with "%", "+", ":",
 * "/" and a space work, form-encoded in HTTP Basic. */
static void test_basic_auth_form_encoded(void **state)
{
    cu_sso_idp idp = idp_of("custos");
    cu_sso_pending p;
    cu_sso_identity who;
    const char *why = NULL;
    char code[256];

    (void)state;
    idp.client_id = "odd:client";
    idp.client_secret = "p%ss+w:rd/ 0123456789";
    login_code(&idp, &p, code);
    assert_int_equal(finish(&idp, code, &p, &who, &why), CU_OK);
}

/* Review finding 5 (SSRF): every fetch resolves the provider's host and refuses an address a
 * webhook may not be sent to; the test provider is on loopback, refused once the test build's
 * exception is off. Nothing was fetched: the cache was empty. */
static void test_private_provider_address_refused(void **state)
{
    cu_sso_idp idp = idp_of("custos");
    cu_sso_pending p;
    char url[2048], disc[128], *body = NULL;
    long status = 0;
    cu_err e = {0};

    (void)state;
    cu_sso_cache_clear();
    setenv("CUSTOS_FAULT", "webhook.strict_addresses", 1);
    assert_int_equal(cu_sso_begin(&idp, counting_fetch, NULL, &p, url, sizeof(url), &e), CU_ERR_IO);
    snprintf(disc, sizeof(disc), "%s/.well-known/openid-configuration", g_idp.issuer);
    assert_int_equal(http_sso_fetch(NULL, disc, NULL, NULL, NULL, &body, &status, &e), CU_ERR_IO);
    assert_non_null(strstr(e.msg, "not allowed"));
    assert_null(body);
    unsetenv("CUSTOS_FAULT");
    /* Review finding 6: the failure is remembered for CU_SSO_FAIL_TTL seconds: no fetch. */
    g_fetches = 0;
    assert_int_equal(cu_sso_begin(&idp, counting_fetch, NULL, &p, url, sizeof(url), &e), CU_ERR_IO);
    assert_int_equal(g_fetches, 0);
    cu_clock_set(cu_clock_now() + CU_SSO_FAIL_TTL + 1);
    assert_int_equal(cu_sso_begin(&idp, counting_fetch, NULL, &p, url, sizeof(url), &e), CU_OK);
    assert_int_equal(g_fetches, 2); /* discovery and JWKS */
    cu_clock_set(0);
}

/* A real token whose nonce is not the one this login sent (a replayed or injected token). */
static void test_nonce_mismatch(void **state)
{
    cu_sso_idp idp = idp_of("custos");
    cu_sso_pending p1, p2;
    cu_sso_identity who;
    const char *why = NULL;
    char code[256], url[2048];
    cu_err e = {0};

    (void)state;
    login_code(&idp, &p1, code);
    assert_int_equal(cu_sso_begin(&idp, counting_fetch, NULL, &p2, url, sizeof(url), &e), CU_OK);
    memcpy(p1.nonce, p2.nonce, sizeof(p1.nonce));
    assert_int_equal(finish(&idp, code, &p1, &who, &why), CU_ERR_AUTH);
    assert_string_equal(why, "nonce");
}

/* A real ID token the provider issued to another client ("intruder") is refused by Custos's
 * audience check (the provider binds a code to its client, so the token is taken directly). */
static void test_wrong_audience(void **state)
{
    cu_sso_idp bad = idp_of("intruder");
    cu_sso_pending p;
    char code[256], form[1024], jwks_url[128], *body = NULL, *jwks = NULL, *tok;
    cu_jose_expect x = {.issuer = g_idp.issuer, .client_id = "custos"};
    cu_jose_reason r;
    cu_jose_claims c;
    long status = 0;
    cu_err e = {0};

    (void)state;
    login_code(&bad, &p, code);
    snprintf(form, sizeof(form),
             "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s", code,
             bad.redirect_uri, p.verifier);
    snprintf(jwks_url, sizeof(jwks_url), "%s/token", g_idp.issuer);
    assert_int_equal(
        http_sso_fetch(NULL, jwks_url, form, bad.client_id, bad.client_secret, &body, &status, &e),
        CU_OK);
    assert_int_equal(status, 200);
    tok = strstr(body, "\"id_token\":\"");
    assert_non_null(tok);
    tok += strlen("\"id_token\":\"");
    *strchr(tok, '"') = '\0';
    snprintf(jwks_url, sizeof(jwks_url), "%s/jwks", g_idp.issuer);
    assert_int_equal(http_sso_fetch(NULL, jwks_url, NULL, NULL, NULL, &jwks, &status, &e), CU_OK);
    x.nonce = p.nonce;
    x.now = cu_clock_now();
    assert_int_equal(cu_jose_verify_id_token(tok, jwks, strlen(jwks), &x, &c, &r, &e), CU_ERR_AUTH);
    assert_int_equal(r, CU_JOSE_AUDIENCE);
    free(body);
    free(jwks);
}

/* A real token checked after its exp (the provider's TTL, plus the leeway) is refused. */
static void test_expired(void **state)
{
    cu_sso_idp idp = idp_of("custos");
    cu_sso_pending p;
    cu_sso_identity who;
    const char *why = NULL;
    char code[256];
    int64_t now = cu_clock_now();

    (void)state;
    login_code(&idp, &p, code);
    cu_clock_set(now + OIDC_TTL + CU_JOSE_LEEWAY + 5);
    assert_int_equal(finish(&idp, code, &p, &who, &why), CU_ERR_AUTH);
    cu_clock_set(0);
    assert_string_equal(why, "expired");
}

/* The provider rotates its key (restarts with a new kid): the cached JWKS lacks it, one
 * refetch finds it, and the login succeeds; then ES256 the same way. */
static void test_rotation_and_es256(void **state)
{
    static const char *const algs[2][2] = {{"k2", "RS256"}, {"e1", "ES256"}};
    cu_sso_idp idp;
    cu_sso_pending p;
    cu_sso_identity who;
    const char *why = NULL;
    char code[256];

    (void)state;
    for (int i = 0; i < 2; i++) {
        oidc_stop(&g_idp);
        oidc_start(&g_idp, g_idp.port, algs[i][0], algs[i][1], 0);
        idp = idp_of("custos");
        oidc_set_email(&g_idp, "bo@acme.example");
        g_jwks_fetches = 0;
        if (i > 0) {
            /* Review finding 6: an unknown kid refetches at most once a minute per issuer. */
            login_code(&idp, &p, code);
            assert_int_equal(finish(&idp, code, &p, &who, &why), CU_ERR_AUTH);
            assert_string_equal(why, "unknown_kid");
            assert_int_equal(g_jwks_fetches, 0);
            cu_clock_set(cu_clock_now() + CU_SSO_REFETCH_MIN + 1); /* the real clock till now */
        }
        login_code(&idp, &p, code); /* discovery from the cache: no fetch */
        assert_int_equal(g_jwks_fetches, 0);
        assert_int_equal(finish(&idp, code, &p, &who, &why), CU_OK);
        assert_string_equal(who.email, "bo@acme.example");
        assert_int_equal(g_jwks_fetches, 1); /* the unknown kid fetched the JWKS once */
        login_code(&idp, &p, code);
        assert_int_equal(finish(&idp, code, &p, &who, &why), CU_OK);
        assert_int_equal(g_jwks_fetches, 1); /* and the new key is cached */
    }
    cu_clock_set(0);
}

static srv_world *W;

/* Keeps the Set-Cookie header's "name=value" into the buffer at arg (256 bytes). */
static size_t keep_cookie(char *d, size_t s, size_t n, void *arg)
{
    char *out = arg;

    if (s * n > 12 && strncasecmp(d, "Set-Cookie: ", 12) == 0)
        snprintf(out, 256, "%.*s", (int)strcspn(d + 12, ";\r\n"), d + 12);
    return s * n;
}

/* The Set-Cookie of the last get_location ("__Host-custos_sso=..."): the login's binding. */
static char g_binding[256];

/* GET path on the server without following: the status and the Location into loc. */
static long get_location(const char *path, char *loc, size_t cap)
{
    CURL *c = srv_curl(&W->s, path);
    char *l = NULL;
    long status = 0;

    g_binding[0] = '\0';
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep_cookie);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, (void *)g_binding);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &l);
    loc[0] = '\0';
    if (l != NULL)
        snprintf(loc, cap, "%s", l);
    curl_easy_cleanup(c);
    return status;
}

/* PUT tenant t's provider (client "custos", or "intruder") with require_sso as given. */
static void configure_as(const srv_tenant *t, const char *client, int require_sso)
{
    char path[128], body[1024], cb[128];

    snprintf(path, sizeof(path), "/v1/tenants/%s/sso", t->id);
    oidc_callback_of(t->id, cb);
    snprintf(body, sizeof(body),
             "{\"issuer\":\"%s\",\"client_id\":\"%s\","
             "\"client_secret\":\"%s-secret-0123456789abcdef\",\"redirect_uri\":\"%s\","
             "\"domains\":[\"acme.example\"],\"role\":\"agent\",\"require_sso\":%s}",
             g_idp.issuer, client, client, cb, require_sso ? "true" : "false");
    srv_call_ok(&W->s, "PUT", path, t->key[CU_ROLE_OWNER], NULL, body, 200, NULL);
}

static void configure(int require_sso)
{
    configure_as(&W->a, "custos", require_sso);
}

/* Tenant t's login as email, up to the provider's redirect back: the callback's path and
 * query as the provider sent them (code, state, iss); the browser's binding cookie in
 * binding. */
static void login_to_callback(const srv_tenant *t, const char *email, char cb[2048],
                              char binding[256])
{
    char path[128], loc[2048];

    oidc_set_email(&g_idp, email);
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso/login", t->id);
    assert_int_equal(get_location(path, loc, sizeof(loc)), 302);
    assert_int_equal(strncmp(loc, g_idp.issuer, strlen(g_idp.issuer)), 0);
    assert_non_null(strstr(loc, "code_challenge_method=S256"));
    assert_int_equal(strncmp(g_binding, "__Host-custos_sso=", 18), 0);
    snprintf(binding, 256, "%s", g_binding);
    oidc_browse_callback(loc, cb);
}

/* A whole login through the server as email: the callback's answer into r, its path in cb. */
static void server_login(const char *email, char cb[2048], srv_resp *r)
{
    char binding[256];

    login_to_callback(&W->a, email, cb, binding);
    assert_int_equal(srv_call(&W->s, "GET", cb, binding, NULL, NULL, r), 0);
}

/* P-ACC-5: the configuration answers without its secret; a login through the server opens a
 * session that works; the same state again is refused. */
static void test_P_ACC_5_login_through_the_server(void **state)
{
    char cb[2048], path[2048], cookie[256], binding[256];
    srv_resp r;

    (void)state;
    configure(0);
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "secret"));
    assert_non_null(strstr(r.body, "\"role\":\"agent\""));
    srv_resp_free(&r);

    login_to_callback(&W->a, "sso.ana@acme.example", cb, binding);
    assert_int_equal(srv_call(&W->s, "GET", cb, binding, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.set_cookie, "custos_session="));
    assert_non_null(strstr(r.body, "\"role\":\"agent\""));
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, cookie, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200); /* the session is a session */
    srv_resp_free(&r);

    /* The state is single use: the same redirect again is refused. */
    assert_int_equal(srv_call(&W->s, "GET", cb, binding, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
}

/* The custos_session Set-Cookie among an answer's headers. */
static size_t keep_session(char *d, size_t s, size_t n, void *arg)
{
    if (s * n > 27 && strncasecmp(d, "Set-Cookie: custos_session=", 27) == 0)
        snprintf((char *)arg, 256, "%.*s", (int)strcspn(d + 12, ";\r\n"), d + 12);
    return s * n;
}

/* P-ACC-5, issue 15: a browser's callback (it asks for HTML) goes on to the console with the
 * session cookie set and the tenant and role in the fragment; the session works. */
static void test_P_ACC_5_browser_goes_on_to_the_console(void **state)
{
    char cb[2048], binding[256], hdr[300], want[128], cookie[256] = "", path[128];
    struct curl_slist *h = NULL;
    char *loc = NULL;
    long status = 0;
    srv_resp r;
    CURL *c;

    (void)state;
    configure(0);
    login_to_callback(&W->a, "sso.bea@acme.example", cb, binding);
    c = srv_curl(&W->s, cb);
    snprintf(hdr, sizeof(hdr), "Cookie: %s", binding);
    h = curl_slist_append(h, hdr);
    h = curl_slist_append(h, "Accept: text/html,application/xhtml+xml");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, keep_session);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, (void *)cookie);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 303);
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
    assert_non_null(loc);
    snprintf(want, sizeof(want), "/portal/console.html#sso=%s.agent", W->a.id);
    assert_non_null(strstr(loc, want));
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    assert_int_equal(strncmp(cookie, "custos_session=", 15), 0);
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, cookie, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

/* An email of a domain the tenant did not name is refused, though the provider vouched. */
static void test_P_ACC_5_domain_not_allowed(void **state)
{
    char cb[2048];
    srv_resp r;

    (void)state;
    server_login("eve@evil.example", cb, &r);
    srv_assert_err(&r, 401, "unauthenticated");
    assert_int_equal(r.set_cookies, 0);
    srv_resp_free(&r);
}

/* require_sso: the tenant's users may no longer log in with a password; SSO still works. */
static void test_P_ACC_5_require_sso_bars_passwords(void **state)
{
    char cb[2048], path[128], body[256];
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/login", W->a.id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", W->a.email,
             W->a.password);
    assert_int_equal(srv_call(&W->s, "POST", path, NULL, NULL, body, &r), 0);
    assert_int_equal(r.status, 200); /* before: the password works */
    srv_resp_free(&r);
    configure(1);
    assert_int_equal(srv_call(&W->s, "POST", path, NULL, NULL, body, &r), 0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    server_login("sso.ana@acme.example", cb, &r);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    configure(0);
}

/* Review finding 2 (mix-up): a state is taken only at its own tenant's callback. Tenant B's
 * login (another client at the provider, as a hostile tenant's could be) brought to A's
 * callback is refused before any code is sent anywhere, and is left whole: B's own callback
 * still completes it with the same code. */
static void test_P_ACC_5_state_only_at_its_tenants_callback(void **state)
{
    char cb[2048], other[2300], binding[256];
    srv_resp r;

    (void)state;
    configure_as(&W->b, "intruder", 0);
    login_to_callback(&W->b, "sso.ben@acme.example", cb, binding);
    assert_non_null(strchr(cb, '?'));
    snprintf(other, sizeof(other), "/v1/tenants/%s/sso/callback%s", W->a.id, strchr(cb, '?'));
    assert_int_equal(srv_call(&W->s, "GET", other, binding, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", cb, binding, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

/* Review finding 4 (login CSRF): a login is good only with the browser that started it. The
 * callback without the binding cookie, or with another browser's, is refused and leaves the
 * login usable: the browser that holds the cookie then completes it, and the cookie is
 * cleared. */
static void test_P_ACC_5_state_bound_to_the_browser(void **state)
{
    char cb[2048], binding[256];
    srv_resp r;

    (void)state;
    login_to_callback(&W->a, "desk@acme.example", cb, binding);
    assert_int_equal(srv_call(&W->s, "GET", cb, NULL, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    assert_int_equal(r.set_cookies, 0);
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", cb,
                              "__Host-custos_sso=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL,
                              NULL, &r),
                     0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", cb, binding, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.set_cookies, 2); /* the session, and the binding cleared */
    srv_resp_free(&r);
}

/* cb without its iss parameter (which the provider sent: RFC 9207), then extra appended. */
static void without_iss(const char *cb, const char *extra, char out[2300])
{
    const char *q = strchr(cb, '?');
    size_t len;
    int had = 0;

    assert_non_null(q);
    len = (size_t)snprintf(out, 2300, "%.*s", (int)(q - cb), cb);
    for (const char *p = q + 1; *p; p += strcspn(p, "&"), p += *p == '&') {
        size_t n = strcspn(p, "&");
        if (strncmp(p, "iss=", 4) == 0) {
            had = 1;
            continue;
        }
        len += (size_t)snprintf(out + len, 2300 - len, "%c%.*s",
                                len == (size_t)(q - cb) ? '?' : '&', (int)n, p);
    }
    assert_true(had);
    snprintf(out + len, 2300 - len, "%s", extra);
}

/* RFC 9207 (review finding 2): iss, when the provider sends it, must be the login's issuer,
 * and one the provider promises must be there. Parameters Custos does not take are ignored
 * (Google adds scope, authuser, hd, prompt: review finding 8); code and state once each. */
static void test_P_ACC_5_iss_checked_extra_parameters_ignored(void **state)
{
    char cb[2048], path[2300], binding[256];
    srv_resp r;

    (void)state;
    login_to_callback(&W->a, "sso.ana@acme.example", cb, binding);
    without_iss(cb, "&iss=https%3A%2F%2Fidp.evil.example", path);
    assert_int_equal(srv_call(&W->s, "GET", path, binding, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    login_to_callback(&W->a, "sso.ana@acme.example", cb, binding);
    without_iss(cb, "", path);
    assert_int_equal(srv_call(&W->s, "GET", path, binding, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    login_to_callback(&W->a, "sso.ana@acme.example", cb, binding);
    snprintf(path, sizeof(path), "%s&state=again", cb);
    assert_int_equal(srv_call(&W->s, "GET", path, binding, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "%s&scope=openid%%20email&authuser=0&hd=acme.example&prompt=none",
             cb);
    assert_int_equal(srv_call(&W->s, "GET", path, binding, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

/* Link user id to sub with caller's key: the status. */
static long link_user(const char *key, const char *id, const char *sub, const char *method)
{
    char path[160], body[256];
    srv_resp r;
    long st;

    snprintf(path, sizeof(path), "/v1/tenants/%s/sso/links/%s", W->a.id, id);
    snprintf(body, sizeof(body), "{\"sub\":\"%s\"}", sub);
    assert_int_equal(srv_call(&W->s, method, path, key, NULL, sub != NULL ? body : NULL, &r), 0);
    st = r.status;
    srv_resp_free(&r);
    return st;
}

static long login_status(const char *email)
{
    char cb[2048];
    srv_resp r;
    long st;

    server_login(email, cb, &r);
    st = r.status;
    if (st != 200)
        assert_int_equal(r.set_cookies, 0);
    srv_resp_free(&r);
    return st;
}

/* Review finding 3: a user is the provider's identity (issuer, sub) only by a link: an
 * existing password user is never entered by a verified email alone (an admin pointing the
 * tenant at a provider he runs could name anyone's email), whatever its role. The owner or an
 * admin links it by an explicit act (the owner alone links owners and admins); an identity is
 * one user's; a link dropped refuses again; a change of issuer drops every link. */
static void test_P_ACC_5_linked_by_sub_not_by_email(void **state)
{
    const char *admin = W->a.key[CU_ROLE_ADMIN], *owner = W->a.key[CU_ROLE_OWNER];
    char path[128], boss[SRV_ID], desk[SRV_ID], body[1024], cb[128];

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", W->a.id);
    srv_call_ok(&W->s, "POST", path, owner, NULL,
                "{\"email\":\"boss@acme.example\",\"password\":\"a long password of hers\","
                "\"role\":\"owner\"}",
                201, boss);
    srv_call_ok(&W->s, "POST", path, owner, NULL,
                "{\"email\":\"desk@acme.example\",\"password\":\"a long password of his\","
                "\"role\":\"agent\"}",
                201, desk);
    assert_int_equal(login_status("boss@acme.example"), 401);
    assert_int_equal(login_status("desk@acme.example"), 401); /* of the configured role too */

    assert_int_equal(link_user(admin, boss, "boss@acme.example", "PUT"), 403);    /* owner only */
    assert_int_equal(link_user(admin, desk, "sso.ana@acme.example", "PUT"), 409); /* ana's */
    assert_int_equal(link_user(admin, desk, "desk@acme.example", "PUT"), 200);
    assert_int_equal(login_status("desk@acme.example"), 200);
    assert_int_equal(link_user(admin, desk, NULL, "DELETE"), 200);
    assert_int_equal(login_status("desk@acme.example"), 401);
    assert_int_equal(link_user(admin, desk, NULL, "DELETE"), 404);
    assert_int_equal(link_user(owner, desk, "desk@acme.example", "PUT"), 200);

    /* Another issuer and back: every link is gone, the one SSO made (ana) and desk's. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso", W->a.id);
    oidc_callback_of(W->a.id, cb);
    snprintf(body, sizeof(body),
             "{\"issuer\":\"http://127.0.0.1:9/other\",\"client_id\":\"custos\","
             "\"client_secret\":\"x\",\"redirect_uri\":\"%s\",\"domains\":[\"acme.example\"],"
             "\"role\":\"agent\"}",
             cb);
    srv_call_ok(&W->s, "PUT", path, owner, NULL, body, 200, NULL);
    configure(0);
    assert_int_equal(login_status("desk@acme.example"), 401);
    assert_int_equal(login_status("sso.ana@acme.example"), 401);
    /* Linked again by the owner, for the tests after. */
    assert_int_equal(link_user(owner, desk, "desk@acme.example", "PUT"), 200);
    assert_int_equal(login_status("desk@acme.example"), 200);
}

/* Review finding 7: only the owner turns require_sso on, or changes a configuration that has
 * it on; an admin may set one without it. */
static void test_P_ACC_5_require_sso_is_the_owners(void **state)
{
    char path[128], body[1024], cb[128];
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso", W->a.id);
    oidc_callback_of(W->a.id, cb);
    for (int on = 1; on >= 0; on--) {
        snprintf(body, sizeof(body),
                 "{\"issuer\":\"%s\",\"client_id\":\"custos\",\"client_secret\":"
                 "\"custos-secret-0123456789abcdef\",\"redirect_uri\":\"%s\",\"domains\":"
                 "[\"acme.example\"],\"role\":\"agent\",\"require_sso\":%s}",
                 g_idp.issuer, cb, on ? "true" : "false");
        assert_int_equal(srv_call(&W->s, "PUT", path, W->a.key[CU_ROLE_ADMIN], NULL, body, &r), 0);
        if (on)
            srv_assert_err(&r, 403, "forbidden");
        else
            assert_int_equal(r.status, 200);
        srv_resp_free(&r);
    }
    configure(1); /* the owner may */
    assert_int_equal(srv_call(&W->s, "PUT", path, W->a.key[CU_ROLE_ADMIN], NULL, body, &r), 0);
    srv_assert_err(&r, 403, "forbidden"); /* and an admin may no longer touch it */
    srv_resp_free(&r);
    configure(0);
}

/* P-AUD-4: every outcome is in the tenant's audit log, with reasons and ids, no email. */
static void test_P_ACC_5_logins_audited(void **state)
{
    char path[128];
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "sso.configure"));
    assert_non_null(strstr(r.body, "sso.login"));
    assert_non_null(strstr(r.body, "reason:domain"));
    assert_non_null(strstr(r.body, "reason:issuer_param"));
    assert_non_null(strstr(r.body, "reason:unlinked"));
    assert_non_null(strstr(r.body, "sso.link"));
    assert_non_null(strstr(r.body, "sso.unlink"));
    assert_non_null(strstr(r.body, "reason:binding"));
    assert_null(strstr(r.body, "sso.start")); /* strangers' starts are not in the log */
    assert_null(strstr(r.body, "acme.example"));
    assert_null(strstr(r.body, "evil.example"));
    /* A state no longer stored is refused in the log of the tenant whose callback it came to. */
    assert_non_null(strstr(r.body, "reason:state"));
    srv_resp_free(&r);
}

/* P-ACC-6: starting logins needs no credential, so it counts against the source's login rate:
 * a flood from one address is refused with Retry-After before any fetch or write. Single
 * sign-on's budget is its own (review finding 9): the password login made with the tenant does
 * not spend it, and its 429 leaves the password login working. On a server of its own with a
 * low limit (the shared one's are raised). */
static void test_P_ACC_6_sso_login_starts_are_rate_limited(void **state)
{
    static const char *const extra[] = {"--login-per-source", "6", NULL};
    char path[128], body[1024], cb[128];
    srv_tenant t;
    long last = 0;
    srv_resp r;
    srv s;
    int i;

    (void)state;
    srv_start(&s, extra);
    srv_tenant_make(&s, "ssorate", &t); /* one login of the six */
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso", t.id);
    oidc_callback_of(t.id, cb);
    snprintf(body, sizeof(body),
             "{\"issuer\":\"%s\",\"client_id\":\"custos\",\"client_secret\":\"x\","
             "\"redirect_uri\":\"%s\",\"domains\":[\"acme.example\"],\"role\":\"agent\"}",
             g_idp.issuer, cb);
    srv_call_ok(&s, "PUT", path, t.key[CU_ROLE_OWNER], NULL, body, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso/login", t.id);
    for (i = 0; i < 10 && last != 429; i++) {
        assert_int_equal(srv_call(&s, "GET", path, NULL, NULL, NULL, &r), 0);
        last = r.status;
        assert_true(last == 302 || last == 429);
        if (last == 429)
            assert_true(strtol(r.retry_after, NULL, 10) > 0);
        srv_resp_free(&r);
    }
    assert_int_equal(last, 429);
    assert_int_equal(i, 7); /* six starts, the seventh refused */
    snprintf(path, sizeof(path), "/v1/tenants/%s/login", t.id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", t.email, t.password);
    assert_int_equal(srv_call(&s, "POST", path, NULL, NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* A provider that answers discovery and an empty key set, for the vault group (no login is
 * finished there: the store's rows are what it looks at). */
static cu_rc stub_fetch(void *arg, const char *url, const char *form, const char *user,
                        const char *pass, char **body, long *status, cu_err *err)
{
    (void)arg;
    (void)form;
    (void)user;
    (void)pass;
    (void)err;
    *status = 200;
    *body =
        strdup(strstr(url, "/jwks") != NULL
                   ? "{\"keys\":[]}"
                   : "{\"issuer\":\"https://idp.example\",\"authorization_endpoint\":"
                     "\"https://idp.example/auth\",\"token_endpoint\":"
                     "\"https://idp.example/token\",\"jwks_uri\":\"https://idp.example/jwks\"}");
    return *body != NULL ? CU_OK : CU_ERR_NOMEM;
}

static const char *g_auth_ep;

/* A discovery document whose authorization endpoint is g_auth_ep. */
static cu_rc dirty_fetch(void *arg, const char *url, const char *form, const char *user,
                         const char *pass, char **body, long *status, cu_err *err)
{
    char doc[512];

    if (strstr(url, "/jwks") != NULL)
        return stub_fetch(arg, url, form, user, pass, body, status, err);
    snprintf(doc, sizeof(doc),
             "{\"issuer\":\"https://idp.example\",\"authorization_endpoint\":\"%s\","
             "\"token_endpoint\":\"https://idp.example/token\","
             "\"jwks_uri\":\"https://idp.example/jwks\"}",
             g_auth_ep);
    *status = 200;
    *body = strdup(doc);
    return *body != NULL ? CU_OK : CU_ERR_NOMEM;
}

/* Review finding 14: an endpoint with a fragment, a space, a control character or userinfo
 * is no endpoint (it would become a Location header and a URL curl opens). */
static void test_dirty_endpoints_refused(void **state)
{
    static const char *const dirty[] = {"https://idp.example/auth#frag", "https://idp.example/a b",
                                        "https://idp.example/a\\r\\nX: y",
                                        "https://user:pw@idp.example/auth", "https:///auth"};
    cu_sso_idp idp = {.issuer = "https://idp.example",
                      .client_id = "custos",
                      .redirect_uri = "https://custos.example/v1/tenants/1/sso/callback"};
    cu_sso_pending p;
    char url[2048];
    cu_err e = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(dirty) / sizeof(dirty[0]); i++) {
        cu_sso_cache_clear();
        g_auth_ep = dirty[i];
        if (cu_sso_begin(&idp, dirty_fetch, NULL, &p, url, sizeof(url), &e) != CU_ERR_IO)
            fail_msg("%s was taken", dirty[i]);
    }
    cu_sso_cache_clear();
    g_auth_ep = "https://idp.example/auth?x=1";
    assert_int_equal(cu_sso_begin(&idp, dirty_fetch, NULL, &p, url, sizeof(url), &e), CU_OK);
    cu_sso_cache_clear();
}

static int g_slow_calls;

/* stub_fetch after a quarter of a second: a slow provider. */
static cu_rc slow_fetch(void *arg, const char *url, const char *form, const char *user,
                        const char *pass, char **body, long *status, cu_err *err)
{
    __atomic_add_fetch(&g_slow_calls, 1, __ATOMIC_SEQ_CST);
    usleep(250000);
    return stub_fetch(arg, url, form, user, pass, body, status, err);
}

static void *begin_slow(void *out)
{
    cu_sso_idp idp = {.issuer = "https://idp.example",
                      .client_id = "custos",
                      .redirect_uri = "https://custos.example/v1/tenants/1/sso/callback"};
    cu_sso_pending p;
    char url[2048];
    cu_err e = {0};

    *(cu_rc *)out = cu_sso_begin(&idp, slow_fetch, NULL, &p, url, sizeof(url), &e);
    return NULL;
}

/* Review finding 6: four logins starting at once on a slow provider fetch its discovery
 * document and JWKS once, not four times (single-flight per issuer); each gets its answer. */
static void test_one_fetch_in_flight_per_issuer(void **state)
{
    pthread_t t[4];
    cu_rc rc[4];

    (void)state;
    cu_sso_cache_clear();
    g_slow_calls = 0;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, begin_slow, &rc[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(rc[i], CU_OK);
    }
    assert_int_equal(g_slow_calls, 2);
    cu_sso_cache_clear();
}

/* The discovery document and keys of a second provider, https://idp2.example. */
static cu_rc idp2_fetch(void *arg, const char *url, const char *form, const char *user,
                        const char *pass, char **body, long *status, cu_err *err)
{
    if (strstr(url, "/jwks") != NULL)
        return stub_fetch(arg, url, form, user, pass, body, status, err);
    (void)err;
    *status = 200;
    *body = strdup("{\"issuer\":\"https://idp2.example\",\"authorization_endpoint\":"
                   "\"https://idp2.example/auth\",\"token_endpoint\":"
                   "\"https://idp2.example/token\",\"jwks_uri\":\"https://idp2.example/jwks\"}");
    return *body != NULL ? CU_OK : CU_ERR_NOMEM;
}

/* Review finding 6: provider fetches at once are capped in the process; one past the cap (a
 * login at another provider while a slow one is fetched) is refused at once as unavailable
 * (503), not queued on a request thread, and is not remembered as the provider's failure. */
static void test_fetch_cap_refuses_at_once(void **state)
{
    cu_sso_idp idp2 = {.issuer = "https://idp2.example",
                       .client_id = "custos",
                       .redirect_uri = "https://custos.example/v1/tenants/1/sso/callback"};
    cu_sso_pending p;
    char url[2048];
    cu_err e = {0};
    pthread_t t;
    cu_rc rc = CU_ERR_IO;

    (void)state;
    cu_sso_cache_clear();
    cu_sso_fetch_cap_set(1);
    g_slow_calls = 0;
    assert_int_equal(pthread_create(&t, NULL, begin_slow, &rc), 0);
    while (__atomic_load_n(&g_slow_calls, __ATOMIC_SEQ_CST) == 0)
        usleep(5000);
    assert_int_equal(cu_sso_begin(&idp2, idp2_fetch, NULL, &p, url, sizeof(url), &e),
                     CU_ERR_UNAVAILABLE);
    pthread_join(t, NULL);
    assert_int_equal(rc, CU_OK);
    assert_int_equal(cu_sso_begin(&idp2, idp2_fetch, NULL, &p, url, sizeof(url), &e), CU_OK);
    cu_sso_fetch_cap_set(0);
    cu_sso_cache_clear();
}

static long rows_of(const char *data, const char *table, cu_id tenant)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE tenant_id = %llu", table,
             (unsigned long long)tenant);
    return (long)th_sql_int(data, sql);
}

/* c's redirect URI: tenant's callback on a made-up origin. */
static void callback_for(cu_sso_config *c, cu_id tenant)
{
    char id[CU_ID_STRLEN];

    cu_id_format(tenant, id);
    snprintf(c->redirect_uri, sizeof(c->redirect_uri),
             "https://custos.example/v1/tenants/%s/sso/callback", id);
}

/* P-RET-2: the tenant's end takes its provider (with the sealed secret), its logins in flight
 * and its users' links, on both backends. Review finding 15: a login's nonce is stored sealed. */
static void test_P_RET_2_tenant_end_takes_its_sso(void **state)
{
    cu_sso_config c = {.issuer = "https://idp.example",
                       .client_id = "custos",
                       .domains = "acme.example",
                       .role = CU_ROLE_AGENT};
    char dir[256], data[256], url[2048], bind[CU_SSO_RANDOM_MAX], nonce[64], db[300], wal[300];
    cu_sweep_report rep;
    cu_err err = {0};
    int64_t until = 0;
    int required = 1;
    cu_id uid = 0, gone = 0;
    cu_tenant t;
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    assert_int_equal(
        cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Gone", .policy_builtin = "optymyze"},
                         &t, &err),
        CU_OK);
    callback_for(&c, t.id);
    assert_int_equal(cu_sso_config_put(v, NULL, t.id, &c, "the client secret", &err), CU_OK);
    assert_int_equal(cu_sso_required(v, t.id, &required, &err), CU_OK);
    assert_int_equal(required, 0);
    assert_int_equal(
        cu_sso_login_start(v, NULL, t.id, stub_fetch, NULL, url, sizeof(url), bind, NULL, &err),
        CU_OK);
    assert_int_equal(cu_user_create(v, NULL, t.id, "linked@acme.example", "a long password of hers",
                                    CU_ROLE_AGENT, &uid, &err),
                     CU_OK);
    assert_int_equal(cu_sso_link(v, NULL, CU_ROLE_OWNER, t.id, uid, "her-sub", &err), CU_OK);
    /* A user's deletion takes its link (no stale link left to a user that is gone). */
    assert_int_equal(cu_user_create(v, NULL, t.id, "gone@acme.example", "a long password of his",
                                    CU_ROLE_AGENT, &gone, &err),
                     CU_OK);
    assert_int_equal(cu_sso_link(v, NULL, CU_ROLE_OWNER, t.id, gone, "his-sub", &err), CU_OK);
    assert_int_equal(rows_of(data, "sso_links", t.id), 2);
    assert_int_equal(cu_user_delete(v, NULL, t.id, gone, &err), CU_OK);
    assert_int_equal(rows_of(data, "sso_configs", t.id), 1);
    assert_int_equal(rows_of(data, "sso_logins", t.id), 1);
    assert_int_equal(rows_of(data, "sso_links", t.id), 1);
    /* Review finding 15: the login's nonce (and verifier beside it) is not at rest in clear. */
    assert_non_null(strstr(url, "nonce="));
    snprintf(nonce, sizeof(nonce), "%.*s", (int)strcspn(strstr(url, "nonce=") + 6, "&"),
             strstr(url, "nonce=") + 6);
    assert_int_equal(strlen(nonce), 43);
    snprintf(db, sizeof(db), "%s/custos.db", data);
    snprintf(wal, sizeof(wal), "%s/custos.db-wal", data);
    assert_int_equal(th_file_contains(db, nonce, strlen(nonce)), 0);
    assert_int_equal(th_file_contains(wal, nonce, strlen(nonce)), 0);
    assert_int_equal(cu_tenant_terminate(v, NULL, t.id, &until, &err), CU_OK);
    cu_clock_set(until + 86400);
    assert_int_equal(cu_sweep(v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.tenants_purged, 1);
    assert_int_equal(rows_of(data, "sso_configs", t.id), 0);
    assert_int_equal(rows_of(data, "sso_logins", t.id), 0);
    assert_int_equal(rows_of(data, "sso_links", t.id), 0);
    cu_clock_set(0);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* Review finding 9: refused callbacks back off their source (in single sign-on's budget), as
 * wrong passwords do: past four times the free failures, the next attempt from that address
 * waits, though its rate is far from spent; another address is not held. */
static void test_P_ACC_6_failed_callbacks_back_off(void **state)
{
    cu_sso_config c = {.issuer = "https://idp.example",
                       .client_id = "custos",
                       .domains = "acme.example",
                       .role = CU_ROLE_AGENT};
    cu_ctx guess = {.source = "203.0.113.9"}, other = {.source = "198.51.100.7"};
    char dir[256], data[256], token[CU_SESSION_TOKEN_MAX];
    unsigned retry = 0;
    cu_principal who;
    cu_err err = {0};
    cu_tenant t;
    cu_vault *v;
    cu_rc rc = CU_OK;
    int n;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_auth_limits_set(v, &(cu_auth_limits){.source_per_min = 1000, .free_failures = 1});
    assert_int_equal(
        cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Guess", .policy_builtin = "optymyze"},
                         &t, &err),
        CU_OK);
    callback_for(&c, t.id);
    assert_int_equal(cu_sso_config_put(v, NULL, t.id, &c, "the client secret", &err), CU_OK);
    for (n = 0; n < 50; n++) {
        rc = cu_sso_login_finish(v, &guess, t.id, "a-guessed-state", "a-guessed-binding", "code",
                                 NULL, stub_fetch, NULL, token, &who, &retry, &err);
        if (rc != CU_ERR_AUTH)
            break;
    }
    assert_int_equal(rc, CU_ERR_RATE_LIMITED);
    assert_true(n >= 4 && n <= 5); /* 4 free failures (a source: 4 x 1), then the wait */
    assert_true(retry > 0);
    assert_int_equal(cu_sso_login_finish(v, &other, t.id, "a-guessed-state", "a-guessed-binding",
                                         "code", NULL, stub_fetch, NULL, token, &who, &retry, &err),
                     CU_ERR_AUTH);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* Review finding 10: a tenant's logins in flight are bounded: past the cap a start answers
 * rate limited (429, Retry-After) with no row written; another tenant's starts go on. */
static void test_P_ACC_6_logins_in_flight_capped(void **state)
{
    cu_sso_config c = {.issuer = "https://idp.example",
                       .client_id = "custos",
                       .domains = "acme.example",
                       .role = CU_ROLE_AGENT};
    char dir[256], data[256], url[2048], bind[CU_SSO_RANDOM_MAX];
    unsigned retry = 0;
    cu_sweep_report rep;
    cu_err err = {0};
    cu_tenant t[2];
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_auth_limits_set(v, &(cu_auth_limits){.source_per_min = 1000});
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cu_tenant_create(v, NULL,
                                          &(cu_tenant_opts){.name = i ? "Calm" : "Busy",
                                                            .policy_builtin = "optymyze"},
                                          &t[i], &err),
                         CU_OK);
        callback_for(&c, t[i].id);
        assert_int_equal(cu_sso_config_put(v, NULL, t[i].id, &c, "the client secret", &err), CU_OK);
    }
    cu_sso_logins_max_set(3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cu_sso_login_start(v, NULL, t[0].id, stub_fetch, NULL, url, sizeof(url),
                                            bind, &retry, &err),
                         CU_OK);
    assert_int_equal(cu_sso_login_start(v, NULL, t[0].id, stub_fetch, NULL, url, sizeof(url), bind,
                                        &retry, &err),
                     CU_ERR_RATE_LIMITED);
    assert_int_equal(retry, 60);
    assert_string_equal(url, "");
    assert_int_equal(rows_of(data, "sso_logins", t[0].id), 3);
    assert_int_equal(cu_sso_login_start(v, NULL, t[1].id, stub_fetch, NULL, url, sizeof(url), bind,
                                        &retry, &err),
                     CU_OK);
    /* Issue 12: a start prunes its own tenant's expired logins only (each of its statements
     * names the tenant, docs/scaling.md); the sweeper prunes every tenant's. */
    cu_clock_set(cu_clock_now() + CU_SSO_LOGIN_TTL + 1);
    assert_int_equal(cu_sso_login_start(v, NULL, t[1].id, stub_fetch, NULL, url, sizeof(url), bind,
                                        &retry, &err),
                     CU_OK);
    assert_int_equal(rows_of(data, "sso_logins", t[0].id), 3);
    assert_int_equal(rows_of(data, "sso_logins", t[1].id), 1);
    assert_int_equal(cu_sweep(v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rows_of(data, "sso_logins", t[0].id), 0);
    assert_int_equal(rows_of(data, "sso_logins", t[1].id), 1);
    cu_clock_set(0);
    cu_sso_logins_max_set(0);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* Decodes RFC 4648 base32 (no padding) up to '&'; returns the byte count. */
static size_t b32_decode(const char *s, uint8_t *out, size_t cap)
{
    unsigned buf = 0, bits = 0;
    size_t n = 0;

    for (; *s && *s != '&'; s++) {
        const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", *p = strchr(abc, *s);
        assert_non_null(p);
        buf = (buf << 5) | (unsigned)(p - abc);
        bits += 5;
        if (bits >= 8) {
            assert_true(n < cap);
            out[n++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    return n;
}

#define PW "a long password of theirs"

/* A login of email with PW and TOTP code (NULL: none) on tenant: its outcome. */
static cu_rc pw_login(cu_vault *v, cu_id tenant, const char *email, const char *code,
                      char token[CU_SESSION_TOKEN_MAX])
{
    cu_principal who;
    cu_err err = {0};

    return cu_user_login(v, NULL, tenant, email, PW, code, token, &who, NULL, &err);
}

/* Review finding 7: turning require_sso on ends the tenant's sessions (the password sessions
 * opened before would outlive it), audited; and the break-glass: the owner still signs in with
 * password AND TOTP (audited sso.break_glass), no one else, and the owner not without TOTP. */
static void test_P_ACC_5_require_sso_ends_sessions_break_glass(void **state)
{
    cu_sso_config c = {.issuer = "https://idp.example",
                       .client_id = "custos",
                       .domains = "acme.example",
                       .role = CU_ROLE_AGENT};
    char dir[256], data[256], uri[CU_TOTP_URI_MAX], code[11], tok_a[CU_SESSION_TOKEN_MAX],
        tok_o[CU_SESSION_TOKEN_MAX];
    int64_t t0 = (int64_t)time(NULL);
    uint8_t secret[20];
    cu_principal who;
    cu_err err = {0};
    cu_id owner = 0, agent = 0;
    cu_tenant t;
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_clock_set(t0);
    assert_int_equal(
        cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Glass", .policy_builtin = "optymyze"},
                         &t, &err),
        CU_OK);
    assert_int_equal(
        cu_user_create(v, NULL, t.id, "own@acme.example", PW, CU_ROLE_OWNER, &owner, &err), CU_OK);
    assert_int_equal(
        cu_user_create(v, NULL, t.id, "agt@acme.example", PW, CU_ROLE_AGENT, &agent, &err), CU_OK);
    assert_int_equal(cu_user_totp_enroll(v, NULL, t.id, owner, PW, NULL, uri, NULL, &err), CU_OK);
    assert_non_null(strstr(uri, "?secret="));
    assert_int_equal(b32_decode(strstr(uri, "?secret=") + 8, secret, 20), 20);
    assert_int_equal(cu_totp(secret, 20, t0, 6, code), CU_OK);
    assert_int_equal(cu_user_totp_confirm(v, NULL, t.id, owner, code, NULL, &err), CU_OK);
    assert_int_equal(pw_login(v, t.id, "agt@acme.example", NULL, tok_a), CU_OK);
    cu_clock_set(t0 + 30);
    assert_int_equal(cu_totp(secret, 20, t0 + 30, 6, code), CU_OK);
    assert_int_equal(pw_login(v, t.id, "own@acme.example", code, tok_o), CU_OK);

    callback_for(&c, t.id);
    c.require_sso = 1;
    assert_int_equal(cu_sso_config_put(v, NULL, t.id, &c, "the client secret", &err), CU_OK);
    /* Both password sessions are over. */
    assert_int_equal(cu_auth_session(v, tok_a, &who, &err), CU_ERR_AUTH);
    assert_int_equal(cu_auth_session(v, tok_o, &who, &err), CU_ERR_AUTH);
    assert_int_equal(th_sql_int(data, "SELECT count(*) FROM audit_log"
                                      " WHERE action = 'sso.sessions_end'"),
                     1);
    /* Passwords are refused, with a code or without, but the owner's with TOTP. */
    cu_clock_set(t0 + 60);
    assert_int_equal(pw_login(v, t.id, "agt@acme.example", NULL, tok_a), CU_ERR_FORBIDDEN);
    assert_int_equal(pw_login(v, t.id, "agt@acme.example", "123456", tok_a), CU_ERR_FORBIDDEN);
    assert_int_equal(pw_login(v, t.id, "own@acme.example", NULL, tok_o), CU_ERR_FORBIDDEN);
    assert_int_equal(cu_totp(secret, 20, t0 + 60, 6, code), CU_OK);
    assert_int_equal(pw_login(v, t.id, "own@acme.example", code, tok_o), CU_OK);
    assert_int_equal(cu_auth_session(v, tok_o, &who, &err), CU_OK);
    assert_int_equal(who.id, owner);
    assert_int_equal(th_sql_int(data, "SELECT count(*) FROM audit_log"
                                      " WHERE action = 'sso.break_glass'"),
                     1);
    /* Set again with require_sso still on: the break-glass session lives. */
    assert_int_equal(cu_sso_config_put(v, NULL, t.id, &c, "the client secret", &err), CU_OK);
    assert_int_equal(cu_auth_session(v, tok_o, &who, &err), CU_OK);
    cu_clock_set(0);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* P-ENC-5: a data key rotation seals the client secret again under the newest version, so the
 * older one can be destroyed and the secret still opens (a callback gets as far as the token
 * request, which the stub answers without a token: "token_request", not a key error). */
static void test_P_ENC_5_rotation_reseals_the_sso_secret(void **state)
{
    cu_sso_config c = {.issuer = "https://idp.example",
                       .client_id = "custos",
                       .domains = "acme.example",
                       .role = CU_ROLE_AGENT};
    char dir[256], data[256], url[2048], st[CU_SSO_RANDOM_MAX], tok[CU_SESSION_TOKEN_MAX], *p;
    char bind[CU_SSO_RANDOM_MAX];
    cu_reencrypt_report rep;
    cu_principal who;
    cu_err err = {0};
    unsigned nv = 0;
    long before;
    cu_tenant t;
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    assert_int_equal(cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Rotating"}, &t, &err),
                     CU_OK);
    callback_for(&c, t.id);
    assert_int_equal(cu_sso_config_put(v, NULL, t.id, &c, "the client secret", &err), CU_OK);
    snprintf(url, sizeof(url), "SELECT key_version FROM sso_configs WHERE tenant_id = %llu",
             (unsigned long long)t.id);
    before = (long)th_sql_int(data, url);
    assert_int_equal(cu_key_rotate_data(v, NULL, t.id, &nv, &err), CU_OK);
    memset(&rep, 0, sizeof(rep));
    assert_int_equal(cu_key_reencrypt(v, NULL, t.id, &rep, &err), CU_OK);
    assert_int_equal(rep.remaining, 0);
    assert_true(rep.destroyed >= 1);
    assert_int_equal(th_sql_int(data, url), (long long)rep.version);
    assert_true((long)rep.version != before);
    assert_int_equal(
        cu_sso_login_start(v, NULL, t.id, stub_fetch, NULL, url, sizeof(url), bind, NULL, &err),
        CU_OK);
    p = strstr(url, "state=");
    assert_non_null(p);
    snprintf(st, sizeof(st), "%.*s", (int)strcspn(p + 6, "&"), p + 6);
    assert_int_equal(cu_sso_login_finish(v, NULL, t.id, st, bind, "a-code", NULL, stub_fetch, NULL,
                                         tok, &who, NULL, &err),
                     CU_ERR_AUTH);
    assert_non_null(strstr(err.msg, "token_request"));
    cu_vault_close(v);
    th_rmrf(dir);
}

static int setup(void **state)
{
    (void)state;
    oidc_start(&g_idp, 0, "k1", "RS256", 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    oidc_stop(&g_idp);
    cu_sso_cache_clear();
    return 0;
}

static int setup_http(void **state)
{
    (void)state;
    oidc_start(&g_idp, 0, "h1", "ES256", 0);
    W = srv_world_new("ssoco", "ssoother");
    return 0;
}

static int teardown_http(void **state)
{
    (void)state;
    srv_world_free(W);
    oidc_stop(&g_idp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_login_and_code_replay),
        cmocka_unit_test(test_nonce_mismatch),
        cmocka_unit_test(test_wrong_audience),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_rotation_and_es256),
        cmocka_unit_test(test_basic_auth_form_encoded),
        cmocka_unit_test(test_private_provider_address_refused),
    };
    const struct CMUnitTest http[] = {
        cmocka_unit_test(test_P_ACC_5_login_through_the_server),
        cmocka_unit_test(test_P_ACC_5_browser_goes_on_to_the_console),
        cmocka_unit_test(test_P_ACC_5_domain_not_allowed),
        cmocka_unit_test(test_P_ACC_5_require_sso_bars_passwords),
        cmocka_unit_test(test_P_ACC_5_state_only_at_its_tenants_callback),
        cmocka_unit_test(test_P_ACC_5_iss_checked_extra_parameters_ignored),
        cmocka_unit_test(test_P_ACC_5_linked_by_sub_not_by_email),
        cmocka_unit_test(test_P_ACC_5_state_bound_to_the_browser),
        cmocka_unit_test(test_P_ACC_5_require_sso_is_the_owners),
        cmocka_unit_test(test_P_ACC_5_logins_audited),
        cmocka_unit_test(test_P_ACC_6_sso_login_starts_are_rate_limited),
    };
    const struct CMUnitTest vault[] = {
        cmocka_unit_test(test_P_RET_2_tenant_end_takes_its_sso),
        cmocka_unit_test(test_P_ENC_5_rotation_reseals_the_sso_secret),
        cmocka_unit_test(test_P_ACC_5_require_sso_ends_sessions_break_glass),
        cmocka_unit_test(test_P_ACC_6_failed_callbacks_back_off),
        cmocka_unit_test(test_P_ACC_6_logins_in_flight_capped),
        cmocka_unit_test(test_one_fetch_in_flight_per_issuer),
        cmocka_unit_test(test_fetch_cap_refuses_at_once),
        cmocka_unit_test(test_dirty_endpoints_refused),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    rc = cmocka_run_group_tests_name("sso", tests, setup, teardown);
    rc |= cmocka_run_group_tests_name("sso_http", http, setup_http, teardown_http);
    return rc | cmocka_run_group_tests_name("sso_vault", vault, NULL, NULL);
}
