/*
 * sso_fetch.c: the libcurl transport of single sign-on (sso_fetch.h, docs/sso.md, P-ACC-5).
 *
 * One request per call, on its own easy handle: https only (plain http in test builds, whose
 * provider listens on loopback), TLS peer and host verified against the system's CAs (in test
 * builds CUSTOS_SSO_CA_FILE may name a test CA instead; release builds ignore it), no redirect
 * followed, no proxy, a connect and a total timeout, and the answer cut off past
 * CU_SSO_BODY_MAX bytes. Neither the body nor the client secret is ever logged.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

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

/* The transfer's options: what to call, how, and within which limits. */
static void setup(CURL *c, const char *url, const char *form, const char *user, const char *pass,
                  sink *s)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
#ifdef CU_FAULT_INJECTION
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    if (getenv("CUSTOS_SSO_CA_FILE") != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, getenv("CUSTOS_SSO_CA_FILE"));
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
#endif
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
    if (user != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    }
}

cu_rc http_sso_fetch(void *arg, const char *url, const char *form, const char *user,
                     const char *pass, char **body, long *status, cu_err *err)
{
    CURL *c = curl_easy_init();
    sink s = {0};
    CURLcode cc;
    cu_rc rc = CU_OK;

    (void)arg;
    *body = NULL;
    *status = 0;
    if (c == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    setup(c, url, form, user, pass, &s);
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
    if (rc != CU_OK) {
        free(s.p);
        return rc;
    }
    *body = s.p;
    return CU_OK;
}
