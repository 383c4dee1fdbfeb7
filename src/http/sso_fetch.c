/*
 * sso_fetch.c: the libcurl transport of single sign-on (sso_fetch.h, docs/sso.md, P-ACC-5).
 *
 * One request per call, on its own easy handle: https only (plain http in test builds, whose
 * provider listens on loopback), TLS peer and host verified against the system's CAs (in test
 * builds CUSTOS_SSO_CA_FILE may name a test CA instead; release builds ignore it), no redirect
 * followed, no proxy, a connect and a total timeout, and the answer cut off past
 * CU_SSO_BODY_MAX bytes. Neither the body nor the client secret is ever logged.
 *
 * Server-side request forgery (review finding 5): the issuer, and every endpoint its discovery
 * document names, are set by a tenant. Each URL's host is resolved and every address checked
 * as a webhook's are (cu_webhook_url_resolve: no private, loopback, link-local or reserved
 * address; loopback only in test builds), curl is pinned to those addresses (CURLOPT_RESOLVE),
 * and its socket callback refuses any other, whatever resolved it.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "custos_webhook.h"
#include "sso_fetch.h"
#include "util.h"

#define CONNECT_MS 3000L
#define TOTAL_MS 10000L

typedef struct sink {
    char *p;
    size_t len;
    int over;
} sink;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t add = size * n;
    char *np;

    if (s->len + add > CU_SSO_BODY_MAX) {
        s->over = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if ((np = realloc(s->p, s->len + add + 1)) == NULL)
        return 0;
    s->p = np;
    memcpy(s->p + s->len, data, add);
    s->len += add;
    s->p[s->len] = '\0';
    return add;
}

/* The last line of the SSRF check, as for webhooks (webhook_send.c): a socket only to an
 * allowed address. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    const void *addr = NULL;

    (void)arg;
    (void)purpose;
    if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
        addr = &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
        addr = &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
    if (addr == NULL || !cu_webhook_addr_allowed(a->family, addr))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

/* RFC 6749 2.3.1: client_secret_basic's id and secret are form-urlencoded before they are
 * joined with ":" (a secret with "%", "+" or ":" works, an id with ":" too). */
static int basic_auth(CURL *c, const char *user, const char *pass)
{
    char *u = curl_easy_escape(c, user, 0), *p = curl_easy_escape(c, pass, 0);
    int ok = u != NULL && p != NULL &&
             curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_USERNAME, u) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_PASSWORD, p) == CURLE_OK;

    if (p != NULL)
        cu_str_wipe(p);
    curl_free(u);
    curl_free(p);
    return ok;
}

/* The transfer's options: what to call, how, and within which limits; 0 if one was refused. */
static int setup(CURL *c, const char *url, const char *form, const char *user, const char *pass,
                 struct curl_slist *pins, sink *s)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
#ifdef CU_FAULT_INJECTION
    if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http") != CURLE_OK)
        return 0;
    if (getenv("CUSTOS_SSO_CA_FILE") != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, getenv("CUSTOS_SSO_CA_FILE"));
#else
    if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK)
        return 0;
#endif
    if (curl_easy_setopt(c, CURLOPT_RESOLVE, pins) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK)
        return 0;
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TOTAL_MS);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Custos-SSO/1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    if (form != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    return user == NULL || basic_auth(c, user, pass);
}

/* Resolves and checks url's host into *pins (NULL for an address in the URL). */
static cu_rc pin_host(const char *url, struct curl_slist **pins, cu_err *err)
{
    char pin[600];
    cu_rc rc = cu_webhook_url_resolve(url, pin, sizeof(pin), err);

    *pins = NULL;
    if (rc == CU_ERR_INVALID)
        return cu_err_set(err, CU_ERR_IO, "the identity provider's address is not allowed");
    if (rc != CU_OK)
        return cu_err_set(err, CU_ERR_IO, "could not resolve the identity provider");
    if (pin[0] != '\0' && (*pins = curl_slist_append(NULL, pin)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return CU_OK;
}

cu_rc http_sso_fetch(void *arg, const char *url, const char *form, const char *user,
                     const char *pass, char **body, long *status, cu_err *err)
{
    CURL *c;
    struct curl_slist *pins = NULL;
    sink s = {0};
    CURLcode cc;
    cu_rc rc = CU_OK;

    (void)arg;
    *body = NULL;
    *status = 0;
    if ((rc = pin_host(url, &pins, err)) != CU_OK)
        return rc;
    if ((c = curl_easy_init()) == NULL) {
        curl_slist_free_all(pins);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    if (!setup(c, url, form, user, pass, pins, &s)) {
        curl_easy_cleanup(c);
        curl_slist_free_all(pins);
        return cu_err_set(err, CU_ERR_IO, "the transport refused an option");
    }
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (s.over)
        rc = cu_err_set(err, CU_ERR_LIMIT, "the provider's answer is over %d bytes",
                        CU_SSO_BODY_MAX);
    else if (cc != CURLE_OK)
        rc = cu_err_set(err, CU_ERR_IO, "could not reach the identity provider: %s",
                        curl_easy_strerror(cc));
    else if (s.p == NULL && (s.p = strdup("")) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    curl_easy_cleanup(c);
    curl_slist_free_all(pins);
    if (rc != CU_OK) {
        free(s.p);
        return rc;
    }
    *body = s.p;
    return CU_OK;
}
