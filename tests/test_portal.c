/*
 * test_portal.c: the browser pages over the real HTTPS server (docs/portal.md): every embedded
 * file is served under /portal/ with its bytes, its Content-Type, its ETag and the security
 * headers; a second read with the ETag is a 304; nothing but GET and HEAD, nothing outside the
 * table; and the same CSP and Referrer-Policy on the JSON API's answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portal.h"
#include "srv.h"
#include "th.h"

#define CSP                                                                                    \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

static srv S;

typedef struct hdrs {
    char csp[512], referrer[64], nosniff[64], type[128], etag[64], cache[64];
} hdrs;

/* Copies one header's value (trimmed) into out if the line is that header. */
static void take(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t k = strlen(name), v;

    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return;
    line += k + 1;
    n -= k + 1;
    while (n > 0 && *line == ' ')
        line++, n--;
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        n--;
    v = n < cap - 1 ? n : cap - 1;
    memcpy(out, line, v);
    out[v] = '\0';
}

static size_t on_hdr(char *b, size_t sz, size_t n, void *arg)
{
    hdrs *h = arg;
    size_t len = sz * n;

    take(b, len, "Content-Security-Policy", h->csp, sizeof(h->csp));
    take(b, len, "Referrer-Policy", h->referrer, sizeof(h->referrer));
    take(b, len, "X-Content-Type-Options", h->nosniff, sizeof(h->nosniff));
    take(b, len, "Content-Type", h->type, sizeof(h->type));
    take(b, len, "ETag", h->etag, sizeof(h->etag));
    take(b, len, "Cache-Control", h->cache, sizeof(h->cache));
    return len;
}

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_body(char *b, size_t sz, size_t n, void *arg)
{
    buf *o = arg;
    char *p = realloc(o->p, o->n + sz * n + 1);

    assert_non_null(p);
    memcpy(p + o->n, b, sz * n);
    o->p = p;
    o->n += sz * n;
    p[o->n] = '\0';
    return sz * n;
}

/* One request with its headers collected; returns the status. extra: one header or NULL. */
static long get(const char *method, const char *path, const char *extra, hdrs *h, buf *b)
{
    CURL *c = srv_curl(&S, path);
    struct curl_slist *l = extra ? curl_slist_append(NULL, extra) : NULL;
    long status = 0;

    memset(h, 0, sizeof(*h));
    *b = (buf){NULL, 0};
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* "/portal/../x" reaches the server */
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (l != NULL)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(l);
    curl_easy_cleanup(c);
    return status;
}

static void assert_guarded(const hdrs *h)
{
    assert_string_equal(h->csp, CSP);
    assert_string_equal(h->referrer, "no-referrer");
    assert_string_equal(h->nosniff, "nosniff");
}

static int setup(void **state)
{
    (void)state;
    srv_start(&S, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

static void test_every_asset_served_with_its_type_etag_and_csp(void **state)
{
    char path[256];
    hdrs h;
    buf b;

    (void)state;
    assert_true(portal_nassets >= 4);
    for (size_t i = 0; i < portal_nassets; i++) {
        const portal_asset *a = &portal_assets[i];
        snprintf(path, sizeof(path), "/portal/%s", a->name);
        assert_int_equal(get("GET", path, NULL, &h, &b), 200);
        assert_guarded(&h);
        assert_string_equal(h.type, a->type);
        assert_string_equal(h.etag, a->etag);
        assert_string_equal(h.cache, "no-cache");
        assert_int_equal(b.n, a->len);
        assert_memory_equal(b.p, a->data, a->len);
        /* No inline script or style: the CSP would block it, so none may be needed. */
        if (strstr(a->name, ".html") != NULL) {
            assert_null(strstr(b.p, "<script>"));
            assert_null(strstr(b.p, "<style"));
            assert_null(strstr(b.p, " style="));
            assert_null(strstr(b.p, " onclick="));
        }
        free(b.p);
        assert_int_equal(get("HEAD", path, NULL, &h, &b), 200);
        assert_guarded(&h);
        free(b.p);
    }
}

static void test_root_is_the_index_and_etag_revalidates(void **state)
{
    char inm[128];
    hdrs h;
    buf b;

    (void)state;
    assert_int_equal(get("GET", "/portal/", NULL, &h, &b), 200);
    assert_string_equal(h.type, "text/html; charset=utf-8");
    assert_non_null(strstr(b.p, "<!doctype html>"));
    free(b.p);
    assert_int_equal(get("GET", "/portal", NULL, &h, &b), 200);
    free(b.p);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", h.etag);
    assert_int_equal(get("GET", "/portal/index.html", inm, &h, &b), 304);
    assert_int_equal(b.n, 0);
    assert_guarded(&h);
    free(b.p);
    /* A changed file has another ETag: the old one gets the full answer. */
    assert_int_equal(get("GET", "/portal/index.html", "If-None-Match: \"0000\"", &h, &b), 200);
    assert_true(b.n > 0);
    free(b.p);
}

static void test_only_get_and_only_the_table(void **state)
{
    static const char *const missing[] = {"/portal/nope.html", "/portal/../v1/tenants",
                                          "/portal/%2e%2e/healthz", "/portal/x/console.js", "/portal/console.js/",
                                          "/portalx"};
    hdrs h;
    buf b;

    (void)state;
    assert_int_equal(get("POST", "/portal/console.html", NULL, &h, &b), 405);
    assert_guarded(&h);
    free(b.p);
    assert_int_equal(get("DELETE", "/portal/", NULL, &h, &b), 405);
    free(b.p);
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        assert_int_equal(get("GET", missing[i], NULL, &h, &b), 404);
        assert_guarded(&h);
        assert_string_equal(h.type, "application/json");
        free(b.p);
    }
}

static void test_json_answers_carry_the_same_guards(void **state)
{
    hdrs h;
    buf b;

    (void)state;
    assert_int_equal(get("GET", "/healthz", NULL, &h, &b), 200);
    assert_guarded(&h);
    assert_string_equal(h.cache, "no-store");
    assert_string_equal(h.etag, "");
    free(b.p);
    assert_int_equal(get("GET", "/v1/tenants", NULL, &h, &b), 401);
    assert_guarded(&h);
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_asset_served_with_its_type_etag_and_csp),
        cmocka_unit_test(test_root_is_the_index_and_etag_revalidates),
        cmocka_unit_test(test_only_get_and_only_the_table),
        cmocka_unit_test(test_json_answers_carry_the_same_guards),
    };

    return cmocka_run_group_tests_name("the portal's files over HTTPS", tests, setup, teardown);
}
