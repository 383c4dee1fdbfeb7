/*
 * sso.c: the OpenID Connect relying party (custos_sso.h, docs/sso.md, P-ACC-5).
 *
 * Discovery documents and JWKS are cached per issuer (CACHE_MAX issuers, CU_SSO_CACHE_TTL
 * seconds) under one mutex; fetching happens outside it, so a slow provider holds up no other
 * tenant's login. A token whose kid the cached JWKS lacks fetches the JWKS once more (the
 * provider rotated its key) and is verified again; it is refused if the kid is still unknown.
 * Nothing here logs or returns a claim value; the secrets of a login (state, nonce, verifier)
 * are the caller's to keep and wipe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "custos_sso.h"
#include "jose.h"
#include "json.h"
#include "util.h"

#define CACHE_MAX 16
#define DISCOVERY_PATH "/.well-known/openid-configuration"

typedef struct meta {
    char issuer[CU_SSO_URL_MAX];
    char auth_ep[CU_SSO_URL_MAX];
    char token_ep[CU_SSO_URL_MAX];
    char jwks_uri[CU_SSO_URL_MAX];
    char *jwks;    /* the key set's text, owned */
    int iss_param; /* authorization_response_iss_parameter_supported (RFC 9207 3) */
    int64_t fetched_at;
} meta;

/* Review finding 6: a provider that is slow or down must not hold every server thread. At
 * most one fetch per issuer is in flight (the others wait for its outcome, single-flight), a
 * failure is remembered for CU_SSO_FAIL_TTL seconds (no fetch until then), and a refetch for
 * an unknown kid happens at most once per CU_SSO_REFETCH_MIN seconds per issuer. */
typedef struct issuer_state {
    char issuer[CU_SSO_URL_MAX];
    int in_flight;
    int64_t failed_at; /* 0: no failure remembered */
    int64_t refetched_at;
} issuer_state;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
/* Review finding 6: provider fetches run on the server's request threads, so at most
 * g_fetch_cap of them at once in the process (with g_lock); past it a login answers 503 at once
 * rather than holding one more thread for up to the fetch's 10 s. */
static int g_fetch_cap = CU_SSO_FETCH_CAP, g_fetching;

void cu_sso_fetch_cap_set(int n)
{
    pthread_mutex_lock(&g_lock);
    g_fetch_cap = n > 0 ? n : CU_SSO_FETCH_CAP;
    pthread_mutex_unlock(&g_lock);
}
static pthread_cond_t g_done = PTHREAD_COND_INITIALIZER;
static meta g_cache[CACHE_MAX];
static issuer_state g_issuers[CACHE_MAX];

void cu_sso_cache_clear(void)
{
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < CACHE_MAX; i++) {
        free(g_cache[i].jwks);
        memset(&g_cache[i], 0, sizeof(g_cache[i]));
        if (!g_issuers[i].in_flight)
            memset(&g_issuers[i], 0, sizeof(g_issuers[i]));
    }
    pthread_mutex_unlock(&g_lock);
}

/* The state of issuer, made if there is none (an idle slot reused, the oldest failure first);
 * NULL if every slot has a fetch in flight. Called with g_lock held. */
static issuer_state *issuer_of(const char *issuer)
{
    issuer_state *free_slot = NULL;

    for (int i = 0; i < CACHE_MAX; i++) {
        issuer_state *s = &g_issuers[i];
        if (strcmp(s->issuer, issuer) == 0)
            return s;
        if (!s->in_flight &&
            (free_slot == NULL || s->issuer[0] == '\0' ||
             (free_slot->issuer[0] != '\0' && s->failed_at < free_slot->failed_at)))
            free_slot = s;
    }
    if (free_slot != NULL) {
        memset(free_slot, 0, sizeof(*free_slot));
        cu_strlcpy(free_slot->issuer, issuer, sizeof(free_slot->issuer));
    }
    return free_slot;
}

/* 1 if u, past its scheme, has a host and no control character, space, fragment or userinfo
 * (review finding 14: a discovery document's endpoint becomes a Location header and a URL
 * curl opens). */
static int url_clean(const char *u)
{
    const char *auth = strstr(u, "://") + 3;
    size_t host = strcspn(auth, "/?");

    if (host == 0 || memchr(auth, '@', host) != NULL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '#' || *p == '\\')
            return 0;
    return 1;
}

/* An endpoint Custos may call: https, or in test builds plain http to loopback (the test's own
 * provider), as webhooks allow (webhook_addr.c). */
static int url_ok(const char *u)
{
    if (strncmp(u, "https://", 8) == 0)
        return url_clean(u);
#ifdef CU_FAULT_INJECTION
    if (strncmp(u, "http://127.0.0.1:", 17) == 0)
        return url_clean(u);
#endif
    return 0;
}

/* GETs or POSTs through fetch and parses a JSON object answer with status 200. */
static cu_rc fetch_json(cu_sso_fetch_fn fetch, void *arg, const char *url, const char *form,
                        const char *user, const char *pass, cJSON **out, long *status, cu_err *err)
{
    char *body = NULL;
    cu_rc rc;

    *out = NULL;
    if (!url_ok(url))
        return cu_err_set(err, CU_ERR_INVALID, "the provider's endpoint is not https");
    pthread_mutex_lock(&g_lock);
    if (g_fetching >= g_fetch_cap) {
        pthread_mutex_unlock(&g_lock);
        return cu_err_set(err, CU_ERR_UNAVAILABLE, "too many identity provider fetches at once");
    }
    g_fetching++;
    pthread_mutex_unlock(&g_lock);
    rc = fetch(arg, url, form, user, pass, &body, status, err);
    pthread_mutex_lock(&g_lock);
    g_fetching--;
    pthread_mutex_unlock(&g_lock);
    if (rc == CU_OK && cu_json_parse(body, strlen(body), out, NULL, err) != CU_OK)
        rc = cu_err_set(err, CU_ERR_IO, "the provider answered with no JSON (HTTP %ld)", *status);
    if (rc == CU_OK && !cJSON_IsObject(*out))
        rc = cu_err_set(err, CU_ERR_IO, "the provider answered with no JSON object");
    if (rc != CU_OK) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    free(body);
    return rc;
}

static int copy_str(const cJSON *o, const char *name, char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(v) && cu_strlcpy(out, v->valuestring, n) == 0 && url_ok(out);
}

/* Fetches the issuer's JWKS into m->jwks. */
static cu_rc fetch_jwks(cu_sso_fetch_fn fetch, void *arg, meta *m, cu_err *err)
{
    cJSON *j = NULL;
    long status = 0;
    cu_rc rc = fetch_json(fetch, arg, m->jwks_uri, NULL, NULL, NULL, &j, &status, err);

    if (rc == CU_OK && (status != 200 || !cJSON_IsArray(cJSON_GetObjectItem(j, "keys"))))
        rc = cu_err_set(err, CU_ERR_IO, "the provider's JWKS is not a key set (HTTP %ld)", status);
    free(m->jwks);
    m->jwks = NULL;
    if (rc == CU_OK && (m->jwks = cu_json_print(j)) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    /* A set with a private key in it is not kept (jose.h); its keys' members are checked again,
     * each before libcjose sees it, when a token is verified. */
    if (rc == CU_OK && cu_jose_jwks_check(m->jwks, strlen(m->jwks), err) != CU_OK)
        rc = cu_err_set(err, CU_ERR_IO, "the provider's JWKS holds a private key");
    if (rc != CU_OK) {
        free(m->jwks);
        m->jwks = NULL;
    }
    cJSON_Delete(j);
    return rc;
}

/* Fetches discovery and the JWKS of issuer into *m (OpenID Connect Discovery 1.0, 4). */
static cu_rc discover(const char *issuer, cu_sso_fetch_fn fetch, void *arg, meta *m, cu_err *err)
{
    char url[CU_SSO_URL_MAX + sizeof(DISCOVERY_PATH)];
    size_t n = strlen(issuer);
    cJSON *d = NULL;
    long status = 0;
    cu_rc rc;

    memset(m, 0, sizeof(*m));
    if (n == 0 || n >= CU_SSO_URL_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "the issuer is not a URL");
    snprintf(url, sizeof(url), "%.*s%s", (int)(issuer[n - 1] == '/' ? n - 1 : n), issuer,
             DISCOVERY_PATH);
    if ((rc = fetch_json(fetch, arg, url, NULL, NULL, NULL, &d, &status, err)) != CU_OK)
        return rc;
    /* 4.3: the document's issuer is exactly the one configured, or it is not this provider's. */
    if (status != 200 || !copy_str(d, "issuer", m->issuer, sizeof(m->issuer)) ||
        strcmp(m->issuer, issuer) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "the discovery document is not the issuer's (HTTP %ld)",
                        status);
    else if (!copy_str(d, "authorization_endpoint", m->auth_ep, sizeof(m->auth_ep)) ||
             !copy_str(d, "token_endpoint", m->token_ep, sizeof(m->token_ep)) ||
             !copy_str(d, "jwks_uri", m->jwks_uri, sizeof(m->jwks_uri)))
        rc = cu_err_set(err, CU_ERR_IO, "the discovery document lacks an https endpoint");
    m->iss_param = cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(d, "authorization_response_iss_parameter_supported"));
    cJSON_Delete(d);
    if (rc == CU_OK)
        rc = fetch_jwks(fetch, arg, m, err);
    m->fetched_at = cu_clock_now();
    return rc;
}

/* Copies the cached entry of issuer into *out (its jwks duplicated); 1 if a fresh one was
 * found. Called with g_lock held. */
static int cache_get(const char *issuer, meta *out)
{
    int64_t now = cu_clock_now();

    for (int i = 0; i < CACHE_MAX; i++) {
        meta *m = &g_cache[i];
        if (m->jwks == NULL || strcmp(m->issuer, issuer) != 0)
            continue;
        if (now - m->fetched_at >= CU_SSO_CACHE_TTL || now < m->fetched_at)
            return 0;
        *out = *m;
        out->jwks = strdup(m->jwks);
        return out->jwks != NULL;
    }
    return 0;
}

/* Keeps a copy of *m, replacing the issuer's entry, else an empty or the oldest one. */
static void cache_put(const meta *m)
{
    meta *slot = &g_cache[0];
    char *copy = strdup(m->jwks);

    if (copy == NULL)
        return;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < CACHE_MAX; i++) {
        if (g_cache[i].jwks == NULL || strcmp(g_cache[i].issuer, m->issuer) == 0) {
            slot = &g_cache[i];
            break;
        }
        if (g_cache[i].fetched_at < slot->fetched_at)
            slot = &g_cache[i];
    }
    free(slot->jwks);
    *slot = *m;
    slot->jwks = copy;
    pthread_mutex_unlock(&g_lock);
}

/* Waits (g_lock held) while another thread fetches s's issuer; then whether the cache or the
 * remembered failure answers: 1 with rc set, or 0 to fetch (s->in_flight then set). */
static int await_or_claim(issuer_state *s, const char *issuer, int refresh, meta *m, cu_rc *rc,
                          cu_err *err)
{
    int64_t now;

    while (s->in_flight)
        pthread_cond_wait(&g_done, &g_lock);
    now = cu_clock_now();
    if (refresh && now - s->refetched_at < CU_SSO_REFETCH_MIN && now >= s->refetched_at)
        refresh = 0; /* a rotation was looked for a moment ago: the cache is the answer */
    if (!refresh && cache_get(issuer, m)) {
        *rc = CU_OK;
        return 1;
    }
    if (s->failed_at != 0 && now - s->failed_at < CU_SSO_FAIL_TTL && now >= s->failed_at) {
        *rc = cu_err_set(err, CU_ERR_IO, "the identity provider failed moments ago");
        return 1;
    }
    s->in_flight = 1;
    if (refresh)
        s->refetched_at = now;
    return 0;
}

/* The issuer's metadata and keys, from the cache or fetched (one fetch per issuer at a time);
 * refresh fetches unless one did within CU_SSO_REFETCH_MIN. The caller frees m->jwks. */
static cu_rc metadata(const char *issuer, cu_sso_fetch_fn fetch, void *arg, int refresh, meta *m,
                      cu_err *err)
{
    issuer_state *s;
    cu_rc rc = CU_OK;

    pthread_mutex_lock(&g_lock);
    if ((s = issuer_of(issuer)) == NULL) {
        pthread_mutex_unlock(&g_lock);
        return cu_err_set(err, CU_ERR_IO, "too many identity providers are being fetched");
    }
    if (await_or_claim(s, issuer, refresh, m, &rc, err)) {
        pthread_mutex_unlock(&g_lock);
        return rc;
    }
    pthread_mutex_unlock(&g_lock);
    rc = discover(issuer, fetch, arg, m, err);
    if (rc == CU_OK)
        cache_put(m);
    pthread_mutex_lock(&g_lock);
    s->in_flight = 0;
    if (rc != CU_ERR_UNAVAILABLE) /* the cap's refusal is no failure of the provider's */
        s->failed_at = rc == CU_OK ? 0 : cu_clock_now();
    pthread_cond_broadcast(&g_done);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* Turns standard base64 in s into base64url without padding, in place. */
static void to_b64url(char *s)
{
    for (; *s; s++) {
        if (*s == '+')
            *s = '-';
        else if (*s == '/')
            *s = '_';
        else if (*s == '=') {
            *s = '\0';
            break;
        }
    }
}

/* n random bytes as base64url without padding (RFC 7636 4.1: 32 bytes give 43 characters). */
static cu_rc random_b64url(char out[CU_SSO_RANDOM_MAX])
{
    uint8_t raw[32];
    cu_rc rc;

    cu_random(raw, sizeof(raw));
    rc = cu_b64_encode(raw, sizeof(raw), out, CU_SSO_RANDOM_MAX);
    cu_wipe(raw, sizeof(raw));
    to_b64url(out);
    return rc;
}

/* Appends name=value (value percent-encoded: all but RFC 3986's unreserved) to b; 0 if it
 * does not fit. */
static int add_param(char *b, size_t cap, const char *sep, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(b);
    int n = snprintf(b + len, cap - len, "%s%s=", sep, name);

    if (n < 0 || (size_t)n >= cap - len)
        return 0;
    len += (size_t)n;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (len + (plain ? 1 : 3) >= cap)
            return 0;
        if (plain) {
            b[len++] = (char)*p;
        } else {
            b[len++] = '%';
            b[len++] = hex[*p >> 4];
            b[len++] = hex[*p & 15];
        }
        b[len] = '\0';
    }
    return 1;
}

/* RFC 7636 4.2: BASE64URL(SHA256(verifier)). */
static cu_rc challenge(const char *verifier, char out[CU_SSO_RANDOM_MAX])
{
    uint8_t h[CU_HASHBYTES];
    cu_rc rc;

    cu_sha256((const uint8_t *)verifier, strlen(verifier), h);
    rc = cu_b64_encode(h, sizeof(h), out, CU_SSO_RANDOM_MAX);
    to_b64url(out);
    return rc;
}

cu_rc cu_sso_begin(const cu_sso_idp *idp, cu_sso_fetch_fn fetch, void *arg, cu_sso_pending *p,
                   char *url, size_t cap, cu_err *err)
{
    char chal[CU_SSO_RANDOM_MAX];
    meta m;
    int ok;
    cu_rc rc;

    memset(p, 0, sizeof(*p));
    url[0] = '\0';
    if ((rc = metadata(idp->issuer, fetch, arg, 0, &m, err)) != CU_OK)
        return rc;
    free(m.jwks);
    if (random_b64url(p->state) != CU_OK || random_b64url(p->nonce) != CU_OK ||
        random_b64url(p->verifier) != CU_OK || challenge(p->verifier, chal) != CU_OK)
        return cu_err_set(err, CU_ERR_LIMIT, "could not make the login's random values");
    ok = cu_strlcpy(url, m.auth_ep, cap) == 0 &&
         add_param(url, cap, strchr(m.auth_ep, '?') ? "&" : "?", "response_type", "code") &&
         add_param(url, cap, "&", "scope", "openid email") &&
         add_param(url, cap, "&", "client_id", idp->client_id) &&
         add_param(url, cap, "&", "redirect_uri", idp->redirect_uri) &&
         add_param(url, cap, "&", "state", p->state) &&
         add_param(url, cap, "&", "nonce", p->nonce) &&
         add_param(url, cap, "&", "code_challenge", chal) &&
         add_param(url, cap, "&", "code_challenge_method", "S256");
    if (!ok) {
        cu_wipe(p, sizeof(*p));
        url[0] = '\0';
        return cu_err_set(err, CU_ERR_LIMIT, "the authorization URL does not fit");
    }
    return CU_OK;
}

/* Posts the code to the token endpoint; *id_token (caller frees) on a 200 with one. */
static cu_rc token_request(const cu_sso_idp *idp, cu_sso_fetch_fn fetch, void *arg, const meta *m,
                           const char *code, const cu_sso_pending *p, char **id_token,
                           const char **why, cu_err *err)
{
    char form[4096] = "";
    const cJSON *t;
    cJSON *j = NULL;
    long status = 0;
    cu_rc rc;

    *id_token = NULL;
    if (!add_param(form, sizeof(form), "", "grant_type", "authorization_code") ||
        !add_param(form, sizeof(form), "&", "code", code) ||
        !add_param(form, sizeof(form), "&", "redirect_uri", idp->redirect_uri) ||
        !add_param(form, sizeof(form), "&", "code_verifier", p->verifier))
        return cu_err_set(err, CU_ERR_LIMIT, "the token request does not fit");
    rc = fetch_json(fetch, arg, m->token_ep, form, idp->client_id, idp->client_secret, &j, &status,
                    err);
    cu_wipe(form, sizeof(form));
    if (rc != CU_OK && status >= 400 && status < 500) {
        *why = "token_request"; /* the provider refused the code (used, expired, not ours) */
        rc = cu_err_set(err, CU_ERR_AUTH, "the provider refused the code (HTTP %ld)", status);
    }
    if (rc != CU_OK)
        goto out;
    t = cJSON_GetObjectItemCaseSensitive(j, "id_token");
    if (status != 200 || !cJSON_IsString(t)) {
        *why = "token_request";
        rc = cu_err_set(err, status >= 500 ? CU_ERR_IO : CU_ERR_AUTH,
                        "the provider gave no ID token (HTTP %ld)", status);
    } else if ((*id_token = strdup(t->valuestring)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
out:
    cJSON_Delete(j);
    return rc;
}

cu_rc cu_sso_finish(const cu_sso_idp *idp, cu_sso_fetch_fn fetch, void *arg, const char *code,
                    const cu_sso_pending *p, cu_sso_identity *who, const char **why, cu_err *err)
{
    cu_jose_expect x = {.issuer = idp->issuer, .client_id = idp->client_id, .nonce = p->nonce};
    cu_jose_reason r = CU_JOSE_OK;
    cu_jose_claims c;
    char *tok = NULL;
    meta m = {0};
    cu_rc rc;

    memset(who, 0, sizeof(*who));
    *why = "provider";
    if (code == NULL || code[0] == '\0') {
        *why = "no_code";
        return cu_err_set(err, CU_ERR_AUTH, "the provider sent no code");
    }
    if ((rc = metadata(idp->issuer, fetch, arg, 0, &m, err)) != CU_OK)
        goto out;
    /* Mix-up defence (RFC 9207 2.4, review finding 2): an iss in the authorization response
     * must be this login's issuer, and one the provider promises must be there, before the code
     * goes anywhere. */
    if (idp->response_iss != NULL ? strcmp(idp->response_iss, idp->issuer) != 0 : m.iss_param) {
        *why = "issuer_param";
        rc = cu_err_set(err, CU_ERR_AUTH, "the authorization response names another issuer");
        goto out;
    }
    if ((rc = token_request(idp, fetch, arg, &m, code, p, &tok, why, err)) != CU_OK)
        goto out;
    x.now = cu_clock_now();
    rc = cu_jose_verify_id_token(tok, m.jwks, strlen(m.jwks), &x, &c, &r, err);
    if (rc == CU_ERR_AUTH && r == CU_JOSE_UNKNOWN_KID) {
        /* The provider rotated its key since the JWKS was cached: fetch it once more. */
        free(m.jwks);
        m.jwks = NULL;
        if ((rc = metadata(idp->issuer, fetch, arg, 1, &m, err)) == CU_OK)
            rc = cu_jose_verify_id_token(tok, m.jwks, strlen(m.jwks), &x, &c, &r, err);
    }
    if (rc == CU_ERR_AUTH)
        *why = cu_jose_reason_name(r);
    if (rc == CU_OK) {
        *why = "ok";
        memcpy(who->sub, c.sub, sizeof(who->sub));
        memcpy(who->email, c.email, sizeof(who->email));
        who->email_verified = c.email_verified;
        cu_wipe(&c, sizeof(c));
    }
out:
    if (tok != NULL) {
        cu_wipe(tok, strlen(tok));
        free(tok);
    }
    free(m.jwks);
    return rc;
}
