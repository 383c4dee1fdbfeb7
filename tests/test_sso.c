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
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "custos_sso.h"
#include "jose.h"
#include "sso_fetch.h"
#include "util.h"

#define REDIRECT "http://127.0.0.1:9/v1/sso/callback"
#define TTL 600

static pid_t g_pid;
static FILE *g_out; /* the provider's stdout, open while it runs (it logs notices there) */
static int g_port;
static char g_issuer[64];
static int g_jwks_fetches;

/* Counts JWKS fetches, then fetches. */
static cu_rc counting_fetch(void *arg, const char *url, const char *form, const char *user,
                            const char *pass, char **body, long *status, cu_err *err)
{
    if (strstr(url, "/jwks") != NULL)
        g_jwks_fetches++;
    return http_sso_fetch(arg, url, form, user, pass, body, status, err);
}

/* Starts the provider on port (0: any) with a fresh key kid of alg; sets g_port, g_issuer. */
static void provider_start(int port, const char *kid, const char *alg)
{
    char ports[16], ttl[16], line[64] = "";
    int fd[2];

    snprintf(ports, sizeof(ports), "%d", port);
    snprintf(ttl, sizeof(ttl), "%d", TTL);
    assert_int_equal(pipe(fd), 0);
    g_pid = fork();
    assert_true(g_pid >= 0);
    if (g_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execlp("node", "node", "tests/oidc/provider.js", ports, kid, alg, ttl, REDIRECT,
               (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    g_out = fdopen(fd[0], "r");
    if (fgets(line, sizeof(line), g_out) == NULL || sscanf(line, "port %d", &g_port) != 1)
        fail_msg("the provider did not start: run `make deps` (npm ci in tests/oidc)");
    snprintf(g_issuer, sizeof(g_issuer), "http://127.0.0.1:%d", g_port);
}

static void provider_stop(void)
{
    if (g_pid > 0) {
        kill(g_pid, SIGTERM);
        waitpid(g_pid, NULL, 0);
        g_pid = 0;
    }
    if (g_out != NULL)
        fclose(g_out);
    g_out = NULL;
}

static size_t drop(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

/* Reads query parameter name of url into out. */
static void query_param(const char *url, const char *name, char *out, size_t cap)
{
    char key[64];
    const char *p;
    size_t n = 0;

    snprintf(key, sizeof(key), "%s=", name);
    p = strstr(url, key);
    assert_non_null(p);
    p += strlen(key);
    while (p[n] && p[n] != '&' && n + 1 < cap)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Plays the browser: follows redirects from url until one goes to REDIRECT; its code and state
 * into code and state. The provider's cookies stay in the handle. */
static void browse(const char *url, char code[256], char state[CU_SSO_RANDOM_MAX])
{
    CURL *c = curl_easy_init();
    char *next = strdup(url);

    curl_easy_setopt(c, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    for (int hop = 0; hop < 10; hop++) {
        char *loc = NULL;
        curl_easy_setopt(c, CURLOPT_URL, next);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        assert_non_null(loc);
        free(next);
        next = strdup(loc);
        if (strncmp(next, REDIRECT "?", strlen(REDIRECT) + 1) == 0) {
            query_param(next, "code", code, 256);
            query_param(next, "state", state, CU_SSO_RANDOM_MAX);
            free(next);
            curl_easy_cleanup(c);
            return;
        }
    }
    fail_msg("the provider never redirected to the callback");
}

static void set_email(const char *email)
{
    char url[128];
    char *body = NULL;
    long status = 0;
    cu_err e = {0};

    snprintf(url, sizeof(url), "%s/_test/email?e=%s", g_issuer, email);
    assert_int_equal(http_sso_fetch(NULL, url, NULL, NULL, NULL, &body, &status, &e), CU_OK);
    free(body);
}

static cu_sso_idp idp_of(const char *client)
{
    static char secret[2][64];
    int i = strcmp(client, "custos") != 0;

    snprintf(secret[i], sizeof(secret[i]), "%s-secret-0123456789abcdef", client);
    return (cu_sso_idp){.issuer = g_issuer,
                        .client_id = client,
                        .client_secret = secret[i],
                        .redirect_uri = REDIRECT};
}

/* A login up to the code: begin, then the browser. */
static void login_code(const cu_sso_idp *idp, cu_sso_pending *p, char code[256])
{
    char url[2048], state[CU_SSO_RANDOM_MAX];
    cu_err e = {0};

    assert_int_equal(cu_sso_begin(idp, counting_fetch, NULL, p, url, sizeof(url), &e), CU_OK);
    assert_non_null(strstr(url, "code_challenge_method=S256"));
    assert_int_equal(strncmp(url, g_issuer, strlen(g_issuer)), 0);
    browse(url, code, state);
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
    set_email("ana@acme.example");
    login_code(&idp, &p, code);
    assert_int_equal(finish(&idp, code, &p, &who, &why), CU_OK);
    assert_string_equal(why, "ok");
    assert_string_equal(who.email, "ana@acme.example");
    assert_int_equal(who.email_verified, 1);
    assert_int_equal(finish(&idp, code, &p, &who, &why), CU_ERR_AUTH);
    assert_string_equal(why, "token_request");
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
    cu_jose_expect x = {.issuer = g_issuer, .client_id = "custos"};
    cu_jose_reason r;
    cu_jose_claims c;
    long status = 0;
    cu_err e = {0};

    (void)state;
    login_code(&bad, &p, code);
    snprintf(form, sizeof(form),
             "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s", code,
             REDIRECT, p.verifier);
    snprintf(jwks_url, sizeof(jwks_url), "%s/token", g_issuer);
    assert_int_equal(http_sso_fetch(NULL, jwks_url, form, bad.client_id, bad.client_secret,
                                    &body, &status, &e),
                     CU_OK);
    assert_int_equal(status, 200);
    tok = strstr(body, "\"id_token\":\"");
    assert_non_null(tok);
    tok += strlen("\"id_token\":\"");
    *strchr(tok, '"') = '\0';
    snprintf(jwks_url, sizeof(jwks_url), "%s/jwks", g_issuer);
    assert_int_equal(http_sso_fetch(NULL, jwks_url, NULL, NULL, NULL, &jwks, &status, &e), CU_OK);
    x.nonce = p.nonce;
    x.now = cu_clock_now();
    assert_int_equal(cu_jose_verify_id_token(tok, jwks, strlen(jwks), &x, &c, &r, &e),
                     CU_ERR_AUTH);
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
    cu_clock_set(now + TTL + CU_JOSE_LEEWAY + 5);
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
        provider_stop();
        provider_start(g_port, algs[i][0], algs[i][1]);
        idp = idp_of("custos");
        set_email("bo@acme.example");
        g_jwks_fetches = 0;
        login_code(&idp, &p, code); /* discovery from the cache: no fetch */
        assert_int_equal(g_jwks_fetches, 0);
        assert_int_equal(finish(&idp, code, &p, &who, &why), CU_OK);
        assert_string_equal(who.email, "bo@acme.example");
        assert_int_equal(g_jwks_fetches, 1); /* the unknown kid fetched the JWKS once */
        login_code(&idp, &p, code);
        assert_int_equal(finish(&idp, code, &p, &who, &why), CU_OK);
        assert_int_equal(g_jwks_fetches, 1); /* and the new key is cached */
    }
}

static int setup(void **state)
{
    (void)state;
    provider_start(0, "k1", "RS256");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    provider_stop();
    cu_sso_cache_clear();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_login_and_code_replay), cmocka_unit_test(test_nonce_mismatch),
        cmocka_unit_test(test_wrong_audience), cmocka_unit_test(test_expired),
        cmocka_unit_test(test_rotation_and_es256),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("sso", tests, setup, teardown);
}
