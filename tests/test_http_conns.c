/*
 * test_http_conns.c: what a connection holds (issue 17, item 7; bench/conns.sh measures it).
 * Each connection's memory is bounded by libmicrohttpd's pool (src/http/server.c, CONN_MEMORY):
 * headers that fit are served, larger ones answered 431, and bodies and answers far larger than
 * the pool pass through it, on one kept-alive connection too. The session cookie, looked up
 * once per request for both the body limit and the login (src/http/router.c), still works
 * among many other cookies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    W = srv_world_new("conns", NULL);
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

/* A header line "Name: vvv..." whose value is n bytes of c. Caller frees. */
static char *padded_header(const char *name, size_t n, char c)
{
    size_t hl = strlen(name);
    char *h = malloc(hl + 2 + n + 1);

    assert_non_null(h);
    memcpy(h, name, hl);
    memcpy(h + hl, ": ", 2);
    memset(h + hl + 2, c, n);
    h[hl + 2 + n] = '\0';
    return h;
}

/* Headers of 12 KiB (an API client with a large header, a browser with many cookies) fit in a
 * connection's memory and are served. */
static void test_headers_of_12_KiB_are_served(void **state)
{
    char ah[200], path[128], *pad = padded_header("X-Pad", 12 * 1024, 'p');
    const char *hs[] = {ah, pad, NULL};
    srv_resp r;

    (void)state;
    snprintf(ah, sizeof(ah), "Authorization: Bearer %s", W->a.key[CU_ROLE_OWNER]);
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call_h(&W->s, "GET", path, hs, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    free(pad);
}

/* Headers beyond the connection's memory get the documented JSON 431, not a dropped
 * connection, and the server goes on serving. */
static void test_headers_over_the_connection_memory_are_431(void **state)
{
    char *pad = padded_header("X-Pad", 24 * 1024, 'q');
    const char *hs[] = {pad, NULL};
    srv_resp r;

    (void)state;
    assert_int_equal(srv_call_h(&W->s, "GET", "/healthz", hs, NULL, 0, &r), 0);
    srv_assert_err(&r, 431, "headers_too_large");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    free(pad);
}

/* The session cookie among 5 KiB of other cookies (libmicrohttpd keeps the Cookie header and
 * its parsed copy, so cookies of about 7 KiB fit): the body limit sees the credential (a 20 KiB
 * body is over the 8 KiB taken without one) and the login takes the same cookie. */
static void test_a_session_cookie_among_many_cookies_authenticates_a_large_body(void **state)
{
    size_t pad = 5 * 1024, doc = 20 * 1024;
    char *cookie = malloc(pad + 400), *body = malloc(doc + 200), origin[128], path[160];
    const char *hs[] = {cookie, origin, "Content-Type: application/json", "Custos-Purpose: support",
                        NULL};
    char id[SRV_ID];
    srv_resp r;
    size_t n, cn;

    (void)state;
    assert_non_null(cookie);
    assert_non_null(body);
    cn = (size_t)snprintf(cookie, 64, "Cookie: theme=dark; tracking=");
    memset(cookie + cn, 't', pad);
    snprintf(cookie + cn + pad, 300, "; %s; lang=en", W->a.session);
    snprintf(origin, sizeof(origin), "Origin: %s", W->s.base);
    n = (size_t)snprintf(body, 200, "{\"subject_id\":\"%s\",\"data\":{\"text\":\"", W->a.subject);
    memset(body + n, 'd', doc);
    n += doc;
    n += (size_t)snprintf(body + n, 8, "\"}}");
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", W->a.id);
    assert_int_equal(srv_call_h(&W->s, "POST", path, hs, body, n, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", W->a.id, id);
    assert_int_equal(srv_call_h(&W->s, "GET", path, hs, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.len > doc);
    srv_resp_free(&r);
    /* Without the session cookie, the same body is over the anonymous limit. */
    snprintf(cookie + cn + pad, 300, "; lang=en");
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", W->a.id);
    assert_int_equal(srv_call_h(&W->s, "POST", path, hs, body, n, &r), 0);
    srv_assert_err(&r, 413, "too_large");
    srv_resp_free(&r);
    free(cookie);
    free(body);
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_body(char *d, size_t sz, size_t nm, void *u)
{
    sink *s = u;
    char *np = realloc(s->p, s->n + sz * nm + 1);

    assert_non_null(np);
    memcpy(np + s->n, d, sz * nm);
    s->n += sz * nm;
    np[s->n] = '\0';
    s->p = np;
    return sz * nm;
}

/* One transfer on c (kept alive between calls); returns the status, the answer in *out. */
static long transfer(CURL *c, const srv *s, const char *method, const char *path,
                     struct curl_slist *h, const char *body, size_t len, sink *out)
{
    char url[512];
    long status = 0;

    snprintf(url, sizeof(url), "%s%s", s->base, path);
    out->p = NULL;
    out->n = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* A document of 900 KB, 55 times the connection's memory, goes in as one request body and
 * comes back whole as one answer, both on the same kept-alive connection, which then serves a
 * small request as well. */
static void test_a_900_KB_record_goes_in_and_comes_back_whole_on_one_connection(void **state)
{
    size_t doc = 900 * 1000, n;
    char *body = malloc(doc + 200), path[160], ah[200], id[SRV_ID];
    CURL *c = srv_curl(&W->s, "/healthz");
    struct curl_slist *h = NULL;
    long connects = -1;
    sink out;

    (void)state;
    assert_non_null(body);
    snprintf(ah, sizeof(ah), "Authorization: Bearer %s", W->a.key[CU_ROLE_OWNER]);
    h = curl_slist_append(h, ah);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Custos-Purpose: support");
    h = curl_slist_append(h, "Expect:");
    n = (size_t)snprintf(body, 200, "{\"subject_id\":\"%s\",\"data\":{\"text\":\"", W->a.subject);
    for (size_t i = 0; i < doc; i++)
        body[n + i] = (char)('a' + i % 26);
    n += doc;
    n += (size_t)snprintf(body + n, 8, "\"}}");
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", W->a.id);
    assert_int_equal(transfer(c, &W->s, "POST", path, h, body, n, &out), 201);
    assert_int_equal(srv_json_str(out.p, "id", id, sizeof(id)), 0);
    free(out.p);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", W->a.id, id);
    assert_int_equal(transfer(c, &W->s, "GET", path, h, NULL, 0, &out), 200);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0); /* the same connection as the POST */
    assert_true(out.n > doc);
    body[n - 3] = '\0'; /* the document's text, without the closing "}} */
    assert_non_null(strstr(out.p, body + n - 3 - doc));
    free(out.p);
    assert_int_equal(transfer(c, &W->s, "GET", "/healthz", h, NULL, 0, &out), 200);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0);
    free(out.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_of_12_KiB_are_served),
        cmocka_unit_test(test_headers_over_the_connection_memory_are_431),
        cmocka_unit_test(test_a_session_cookie_among_many_cookies_authenticates_a_large_body),
        cmocka_unit_test(test_a_900_KB_record_goes_in_and_comes_back_whole_on_one_connection),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
