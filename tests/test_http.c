/*
 * test_http.c: the HTTPS server as a client sees it: TLS 1.3 only with HSTS and keep-alive
 * (P-ENC-4), every class of error with its status and stable code, request ids in answers and
 * in the access log, body limits, no personal value in the access log, metrics, and a graceful
 * stop that lets a request in flight finish.
 *
 * The first group shares one server and one tenant; the body limit and the stop get servers of
 * their own.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    W = srv_world_new("acme", NULL);
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

static size_t discard(char *d, size_t sz, size_t nm, void *u)
{
    (void)d;
    (void)u;
    return sz * nm;
}

/* --- P-ENC-4 ----------------------------------------------------------------------------- */

static void test_P_ENC_4_tls12_is_refused(void **state)
{
    CURL *c = srv_curl(&W->s, "/healthz");
    long status = 0;

    (void)state;
    curl_easy_setopt(c, CURLOPT_SSLVERSION,
                     (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    assert_int_equal(curl_easy_perform(c), CURLE_SSL_CONNECT_ERROR);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 0);
    curl_easy_cleanup(c);
}

/* No TLS at all gets no HTTP answer either. */
static void test_P_ENC_4_plain_http_is_refused(void **state)
{
    char url[128];
    CURL *c = curl_easy_init();
    long status = 0;

    (void)state;
    snprintf(url, sizeof(url), "http://%s/healthz", W->s.base + strlen("https://"));
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    assert_int_not_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 0);
    curl_easy_cleanup(c);
}

/* A client that offers TLS 1.2 and 1.3 gets 1.3, with HSTS on every answer, errors too. */
static void test_P_ENC_4_tls13_works_with_hsts(void **state)
{
    CURL *c = srv_curl(&W->s, "/healthz");
    srv_resp r;
    long status = 0;

    (void)state;
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    curl_easy_cleanup(c);

    assert_int_equal(srv_call(&W->s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.hsts, "max-age=63072000; includeSubDomains");
    assert_string_equal(r.content_type, "application/json");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", "/v1/nowhere", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.hsts, "max-age=63072000; includeSubDomains");
    srv_resp_free(&r);
}

static void test_P_ENC_4_keep_alive_reuses_the_connection(void **state)
{
    CURL *c = srv_curl(&W->s, "/healthz");
    long conns = -1, status = 0;

    (void)state;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
    assert_int_equal(conns, 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
        assert_int_equal(status, 200);
        assert_int_equal(conns, 0);
    }
    /* An error answer does not cost the connection either. */
    {
        char url[128];
        snprintf(url, sizeof(url), "%s/v1/tenants", W->s.base);
        curl_easy_setopt(c, CURLOPT_URL, url);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &conns);
        assert_int_equal(status, 401);
        assert_int_equal(conns, 0);
    }
    curl_easy_cleanup(c);
}

/* --- errors ------------------------------------------------------------------------------ */

typedef struct err_case {
    const char *name;
    const char *method, *path; /* %T: tenant A's id, %S: its subject */
    const char *auth;          /* "op", "owner", a key, "Scheme value" or NULL */
    const char *purpose;
    const char *ctype; /* Content-Type; NULL: application/json when there is a body */
    const char *body;
    long status;
    const char *code;
    const char *says; /* in the message, or NULL */
} err_case;

static const err_case err_cases[] = {
    {"malformed JSON", "POST", "/v1/tenants", "op", NULL, NULL, "{\"name\": }", 400,
     "malformed_json", "byte 9"},
    {"not an object", "POST", "/v1/tenants", "op", NULL, NULL, "[1]", 400, "malformed_json",
     "object"},
    {"duplicate key", "POST", "/v1/tenants", "op", NULL, NULL, "{\"name\":\"a\",\"name\":\"b\"}",
     400, "malformed_json", "byte 12"},
    {"data after the value", "POST", "/v1/tenants", "op", NULL, NULL, "{\"name\":\"x\"} x", 400,
     "malformed_json", "byte 13"},
    {"nesting too deep", "POST", "/v1/tenants", "op", NULL, NULL,
     "{\"name\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[",
     400, "malformed_json", "deep"},
    {"unknown field", "POST", "/v1/tenants", "op", NULL, NULL,
     "{\"name\":\"x\",\"colour\":\"red\"}", 400, "unknown_field", "\"colour\""},
    {"mistyped field", "POST", "/v1/tenants", "op", NULL, NULL, "{\"name\":7}", 400,
     "invalid_field", "\"name\""},
    {"missing field", "POST", "/v1/tenants", "op", NULL, NULL, "{}", 400, "missing_field",
     "\"name\""},
    {"mistyped id", "POST", "/v1/tenants/%T/collections/notes/records", "owner", "support", NULL,
     "{\"subject_id\":\"12x\",\"data\":{}}", 400, "invalid_field", "\"subject_id\""},
    {"wrong content type", "POST", "/v1/tenants", "op", NULL, "text/plain", "{\"name\":\"x\"}", 415,
     "unsupported_media_type", NULL},
    {"no content type", "POST", "/v1/tenants", "op", NULL, "", "{\"name\":\"x\"}", 415,
     "unsupported_media_type", NULL},
    {"no body", "POST", "/v1/tenants", "op", NULL, NULL, NULL, 415, "unsupported_media_type", NULL},
    {"missing credential", "GET", "/v1/tenants", NULL, NULL, NULL, NULL, 401, "unauthenticated",
     NULL},
    {"unknown key", "GET", "/v1/tenants", "cuk_1_0000", NULL, NULL, NULL, 401, "unauthenticated",
     NULL},
    {"not a bearer", "GET", "/v1/tenants", "Basic b3A6b3A=", NULL, NULL, NULL, 401,
     "unauthenticated", NULL},
    {"unknown route", "GET", "/v1/nowhere", "op", NULL, NULL, NULL, 404, "not_found", NULL},
    {"id that cannot exist", "GET", "/v1/tenants/0", "op", NULL, NULL, NULL, 404, "not_found",
     NULL},
    {"wrong method", "PATCH", "/v1/tenants", "op", NULL, NULL, NULL, 405, "method_not_allowed",
     "PATCH"},
    {"missing purpose", "GET", "/v1/tenants/%T/subjects/%S", "owner", NULL, NULL, NULL, 400,
     "purpose_required", "Custos-Purpose"},
    {"malformed purpose", "GET", "/v1/tenants/%T/subjects/%S", "owner", "Sup port", NULL, NULL, 400,
     "purpose_required", NULL},
    {"card number field", "POST", "/v1/tenants/%T/collections/notes/records", "owner", "support",
     NULL, "{\"data\":{\"card_number\":\"4111 1111 1111 1111\"}}", 422, "forbidden_field",
     "card_number"},
    {"card number value", "POST", "/v1/tenants/%T/collections/notes/records", "owner", "support",
     NULL, "{\"data\":{\"note\":\"pay with 4111111111111111\"}}", 422, "forbidden_field", NULL},
    {"duplicate external id", "POST", "/v1/tenants/%T/subjects", "owner", "support", NULL,
     "{\"external_id\":\"ext-acme\"}", 409, "already_exists", NULL},
    {"invalid collection name", "PUT", "/v1/tenants/%T/collections/Bad-Name", "owner", NULL, NULL,
     "{\"fields\":{}}", 404, "not_found", NULL},
};

static void expand(const char *tmpl, char *out, size_t cap)
{
    size_t n = 0;

    for (; *tmpl && n + 1 < cap; tmpl++) {
        if (tmpl[0] == '%' && (tmpl[1] == 'T' || tmpl[1] == 'S')) {
            n += (size_t)snprintf(out + n, cap - n, "%s", tmpl[1] == 'T' ? W->a.id : W->a.subject);
            tmpl++;
        } else {
            out[n++] = *tmpl;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

/* Every error class: its status, its stable code in {"error":{"code","message"}}, a message
 * that names the culprit, an X-Request-Id, and that id in the access log. */
static void test_every_error_has_its_status_code_and_request_id(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const err_case *e = &err_cases[i];
        char path[256], ah[256], ch[128], ph[128], code[64], msg[256];
        const char *hs[5];
        int n = 0;
        srv_resp r;

        expand(e->path, path, sizeof(path));
        if (e->auth != NULL) {
            const char *k = strcmp(e->auth, "op") == 0      ? W->s.operator_key
                            : strcmp(e->auth, "owner") == 0 ? W->a.key[CU_ROLE_OWNER]
                                                            : e->auth;
            /* A value with a space is a whole Authorization header value. */
            snprintf(ah, sizeof(ah), "Authorization: %s%s", strchr(k, ' ') ? "" : "Bearer ", k);
            hs[n++] = ah;
        }
        if (e->purpose != NULL) {
            snprintf(ph, sizeof(ph), "Custos-Purpose: %s", e->purpose);
            hs[n++] = ph;
        }
        if (e->ctype != NULL || e->body != NULL) {
            snprintf(ch, sizeof(ch), "Content-Type:%s%s", e->ctype && !*e->ctype ? "" : " ",
                     e->ctype ? e->ctype : "application/json");
            hs[n++] = ch;
        }
        hs[n] = NULL;
        assert_int_equal(
            srv_call_h(&W->s, e->method, path, hs, e->body, e->body ? strlen(e->body) : 0, &r), 0);
        if (r.status != e->status || srv_err(r.body, code, msg) != 0 ||
            strcmp(code, e->code) != 0 || (e->says && strstr(msg, e->says) == NULL))
            fail_msg("%s: expected %ld %s naming %s, got %ld %s", e->name, e->status, e->code,
                     e->says ? e->says : "-", r.status, r.body);
        if (e->status == 405 && (strstr(r.allow, "GET") == NULL || strstr(r.allow, "POST") == NULL))
            fail_msg("%s: Allow is \"%s\"", e->name, r.allow);
        assert_int_equal(strlen(r.request_id), 32);
        assert_string_equal(r.hsts, "max-age=63072000; includeSubDomains");
        if (!srv_log_wait(&W->s, r.request_id, 3000))
            fail_msg("%s: request id %s is not in the access log", e->name, r.request_id);
        srv_resp_free(&r);
    }
}

/* Successful answers carry a fresh request id too, and the log line has the route pattern. */
static void test_request_ids_are_fresh_and_logged(void **state)
{
    char seen[3][64], line[128];
    srv_resp r;

    (void)state;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(srv_call(&W->s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(strlen(r.request_id), 32);
        assert_int_equal(strspn(r.request_id, "0123456789abcdef"), 32);
        snprintf(seen[i], sizeof(seen[i]), "%s", r.request_id);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
        snprintf(line, sizeof(line),
                 "\"request_id\":\"%s\",\"method\":\"GET\",\"route\":\"/healthz\","
                 "\"status\":200",
                 r.request_id);
        assert_true(srv_log_wait(&W->s, line, 3000));
        srv_resp_free(&r);
    }
}

/* RFC 7235: the authentication scheme is case-insensitive. */
static void test_bearer_scheme_is_case_insensitive(void **state)
{
    static const char *const schemes[] = {"Bearer", "bearer", "BEARER"};
    char ah[200];
    const char *hs[] = {ah, NULL};
    srv_resp r;

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        snprintf(ah, sizeof(ah), "Authorization: %s %s", schemes[i], W->s.operator_key);
        assert_int_equal(srv_call_h(&W->s, "GET", "/v1/tenants", hs, NULL, 0, &r), 0);
        if (r.status != 200)
            fail_msg("scheme %s: %ld %s", schemes[i], r.status, r.body);
        srv_resp_free(&r);
    }
}

/* A body of n bytes: a tenant creation padded with spaces, valid JSON at every size. */
static char *padded_tenant(size_t n)
{
    static const char head[] = "{\"name\":\"padded\"";
    char *b = malloc(n + 1);

    assert_non_null(b);
    assert_true(n > sizeof(head));
    memcpy(b, head, sizeof(head) - 1);
    memset(b + sizeof(head) - 1, ' ', n - sizeof(head));
    b[n - 1] = '}';
    b[n] = '\0';
    return b;
}

static long post_tenant(const srv *s, const char *body, size_t n, srv_resp *r)
{
    char ah[200];
    const char *hs[] = {ah, "Content-Type: application/json", NULL};
    int rc;

    snprintf(ah, sizeof(ah), "Authorization: Bearer %s", s->operator_key);
    rc = srv_call_h(s, "POST", "/v1/tenants", hs, body, n, r);
    if (rc != 0)
        fail_msg("curl error %d on a %zu-byte body", rc, n);
    return r->status;
}

/* The default limit is 1 MiB: 1.1 MiB is refused, just under 1 MiB is fine. */
static void test_body_over_default_limit_is_413(void **state)
{
    size_t big = 1024 * 1024 + 100 * 1024, ok = 1024 * 1024 - 16;
    char *b = padded_tenant(big);
    srv_resp r;

    (void)state;
    assert_int_equal(post_tenant(&W->s, b, big, &r), 413);
    srv_assert_err(&r, 413, "too_large");
    srv_resp_free(&r);
    free(b);
    b = padded_tenant(ok);
    assert_int_equal(post_tenant(&W->s, b, ok, &r), 201);
    srv_resp_free(&r);
    free(b);
}

/* --- no personal value in the access log (P-AUD-4) ---------------------------------------- */

static void test_no_personal_value_in_the_access_log(void **state)
{
    static const char *const values[] = {
        "jane.roe.4471@example.net",
        "+44 20 7946 0958",
        "442079460958",
        "078-05-1120",
        "1971-07-14",
        "ext-jr-4471",
        "S3cret pass-phrase 4471",
        "roe.admin.4471@example.net",
        "Jane Roe 4471",
        "99 Secret Lane",
        "078051120",
    };
    char path[256], body[512], subject[SRV_ID], record[SRV_ID], user[SRV_ID];
    const char *T = W->a.id, *K = W->a.key[CU_ROLE_OWNER];
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T);
    srv_call_ok(&W->s, "POST", path, K, "support",
                "{\"external_id\":\"ext-jr-4471\",\"email\":\"jane.roe.4471@example.net\","
                "\"phone\":\"+44 20 7946 0958\",\"birth_date\":\"1971-07-14\"}",
                201, subject);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/staff", T);
    srv_call_ok(&W->s, "PUT", path, K, NULL,
                "{\"fields\":{\"ssn\":{\"class\":\"sensitive\"},\"name\":{\"class\":\"personal\","
                "\"indexed\":true},\"address\":{\"class\":\"personal\"}}}",
                200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/staff/records", T);
    snprintf(body, sizeof(body),
             "{\"subject_id\":\"%s\",\"data\":{\"ssn\":\"078-05-1120\",\"name\":\"Jane Roe "
             "4471\",\"email\":\"jane.roe.4471@example.net\",\"phone\":\"+44 20 7946 0958\"}}",
             subject);
    srv_call_ok(&W->s, "POST", path, K, "support", body, 201, record);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", T, record);
    srv_call_ok(&W->s, "PUT", path, K, "support",
                "{\"data\":{\"ssn\":\"078-05-1120\",\"address\":\"99 Secret Lane\"}}", 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/search", T);
    srv_call_ok(&W->s, "POST", path, K, "support", "{\"email\":\"jane.roe.4471@example.net\"}", 200,
                NULL);
    srv_call_ok(&W->s, "POST", path, K, "support", "{\"phone\":\"+44 20 7946 0958\"}", 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/staff/records/search", T);
    srv_call_ok(&W->s, "POST", path, K, "support", "{\"field\":\"ssn\",\"value\":\"078-05-1120\"}",
                200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", T);
    srv_call_ok(&W->s, "POST", path, K, NULL,
                "{\"email\":\"roe.admin.4471@example.net\",\"password\":\"S3cret pass-phrase "
                "4471\",\"role\":\"admin\"}",
                201, user);
    snprintf(path, sizeof(path), "/v1/tenants/%s/login", T);
    srv_call_ok(&W->s, "POST", path, NULL, NULL,
                "{\"email\":\"roe.admin.4471@example.net\",\"password\":\"S3cret pass-phrase "
                "4471\"}",
                200, NULL);
    srv_call_ok(&W->s, "POST", path, NULL, NULL,
                "{\"email\":\"roe.admin.4471@example.net\",\"password\":\"078-05-1120\"}", 401,
                NULL);
    /* Refused writes do not log what they refused either. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T);
    srv_call_ok(&W->s, "POST", path, K, "support",
                "{\"external_id\":\"ext-jr-4471\",\"email\":\"jane.roe.4471@example.net\"}", 409,
                NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T);
    srv_call_ok(&W->s, "POST", path, K, "support",
                "{\"external_id\":\"x\",\"email\":\"jane.roe.4471@example.net\",\"colour\":1}", 400,
                NULL);
    /* Reads return the values to the caller, not to the log. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T, subject);
    assert_int_equal(srv_call(&W->s, "GET", path, K, "support", NULL, &r), 0);
    assert_non_null(strstr(r.body, "jane.roe.4471@example.net"));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", T, record);
    assert_int_equal(srv_call(&W->s, "GET", path, K, "support", NULL, &r), 0);
    assert_non_null(strstr(r.body, "99 Secret Lane"));
    assert_true(srv_log_wait(&W->s, r.request_id, 3000));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T, subject);
    srv_call_ok(&W->s, "DELETE", path, K, "support", NULL, 200, NULL);

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (th_file_contains(W->s.log, values[i], strlen(values[i])))
            fail_msg("the access log holds \"%s\"", values[i]);
}

/* --- metrics ----------------------------------------------------------------------------- */

static void test_metrics_are_prometheus_text(void **state)
{
    srv_resp r;
    const char *p;
    unsigned long prev = 0, v, count = 0;
    int buckets = 0;

    (void)state;
    assert_int_equal(srv_call(&W->s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", "/metrics", W->s.operator_key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4");
    assert_non_null(strstr(r.body, "# TYPE custos_http_requests_total counter\n"));
    assert_non_null(strstr(r.body, "custos_http_requests_total{method=\"GET\",route=\"/healthz\","
                                   "status=\"200\"} "));
    assert_non_null(strstr(r.body, "custos_http_requests_total{method=\"\",route=\"unmatched\","
                                   "status=\"404\"} "));
    assert_non_null(strstr(r.body, "# TYPE custos_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(r.body, "custos_http_request_duration_seconds_sum "));
    assert_non_null(strstr(r.body, "custos_http_errors_total{code=\"not_found\"} "));
    /* No id or value reaches a label. */
    assert_null(strstr(r.body, W->a.id));
    /* The buckets are cumulative and end in the count. */
    for (p = r.body; (p = strstr(p, "custos_http_request_duration_seconds_bucket{le=\"")) != NULL;
         p++) {
        const char *sp = strchr(p, ' ');
        assert_non_null(sp);
        v = strtoul(sp + 1, NULL, 10);
        assert_true(v >= prev);
        prev = v;
        buckets++;
        if (strncmp(p + 48, "+Inf\"}", 6) == 0)
            count = v;
    }
    assert_true(buckets >= 2);
    p = strstr(r.body, "custos_http_request_duration_seconds_count ");
    assert_non_null(p);
    assert_int_equal(strtoul(p + 43, NULL, 10), count);
    assert_true(count >= 2);
    srv_resp_free(&r);
    /* Only the operator reads them. */
    assert_int_equal(srv_call(&W->s, "GET", "/metrics", W->a.key[CU_ROLE_OWNER], NULL, NULL, &r),
                     0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", "/metrics", NULL, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
}

/* --- a server with --max-body 1024 ------------------------------------------------------- */

typedef struct trickle {
    const char *data;
    size_t len, sent, step;
    unsigned delay_us;
    atomic_int started;
    size_t pause_at;  /* if not 0: once this much is sent, wait for released */
    atomic_int paused, released;
} trickle;

/* Feeds data step bytes at a time, delay_us apart (holding at pause_at until released). */
static size_t trickle_read(char *buf, size_t sz, size_t nm, void *u)
{
    trickle *t = u;
    size_t n = sz * nm;

    if (t->pause_at != 0 && t->sent >= t->pause_at && !atomic_load(&t->released)) {
        atomic_store(&t->paused, 1);
        while (!atomic_load(&t->released))
            usleep(1000);
    }
    if (t->sent > 0 && t->delay_us)
        usleep(t->delay_us);
    if (n > t->step)
        n = t->step;
    if (n > t->len - t->sent)
        n = t->len - t->sent;
    memcpy(buf, t->data + t->sent, n);
    t->sent += n;
    atomic_store(&t->started, 1);
    return n;
}

typedef struct upload {
    const srv *s;
    trickle t;
    int chunked;
    int expect; /* Expect: 100-continue: no body before the server has taken the request */
    int rc;
    long status;
    char *body;
} upload;

static size_t keep(char *d, size_t sz, size_t nm, void *u)
{
    upload *up = u;
    size_t old = up->body ? strlen(up->body) : 0, n = sz * nm;
    char *nb = realloc(up->body, old + n + 1);

    if (nb == NULL)
        return 0;
    memcpy(nb + old, d, n);
    nb[old + n] = '\0';
    up->body = nb;
    return n;
}

/* POSTs a tenant creation from a trickle; chunked without a Content-Length if asked. */
static void *upload_run(void *arg)
{
    upload *up = arg;
    CURL *c = srv_curl(up->s, "/v1/tenants");
    struct curl_slist *h = NULL;
    char ah[200];

    snprintf(ah, sizeof(ah), "Authorization: Bearer %s", up->s->operator_key);
    h = curl_slist_append(h, ah);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, up->expect ? "Expect: 100-continue" : "Expect:");
    if (up->expect)
        curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 60000L);
    if (up->chunked)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, trickle_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &up->t);
    if (!up->chunked)
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up->t.len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, up);
    up->rc = (int)curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &up->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return NULL;
}

static void test_body_over_max_body_is_413(void **state)
{
    const char *const extra[] = {"--max-body", "1024", NULL};
    srv s;
    srv_resp r;
    char *b;
    upload up;

    (void)state;
    srv_start(&s, extra);
    b = padded_tenant(1025);
    assert_int_equal(post_tenant(&s, b, 1025, &r), 413);
    srv_assert_err(&r, 413, "too_large");
    assert_non_null(strstr(r.body, "1024"));
    assert_true(srv_log_wait(&s, r.request_id, 3000));
    srv_resp_free(&r);
    free(b);
    b = padded_tenant(4096);
    assert_int_equal(post_tenant(&s, b, 4096, &r), 413);
    srv_resp_free(&r);
    /* Without a Content-Length the limit holds as the body arrives. */
    memset(&up, 0, sizeof(up));
    up.s = &s;
    up.chunked = 1;
    up.t.data = b;
    up.t.len = 4096;
    up.t.step = 512;
    upload_run(&up);
    if (up.rc != 0 || up.status != 413)
        fail_msg("chunked 4096 bytes: curl %d, %ld %s", up.rc, up.status, up.body);
    free(up.body);
    free(b);
    /* Up to the limit is fine. */
    b = padded_tenant(1024);
    assert_int_equal(post_tenant(&s, b, 1024, &r), 201);
    srv_resp_free(&r);
    free(b);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* --- graceful stop ----------------------------------------------------------------------- */

/* While the server drains after SIGTERM, a new connection is refused rather than left hanging:
 * once the signal is handled (tried until then, each try bounded by 3 s), none can be made. */
static void wait_refused(const srv *s)
{
    for (int i = 0;; i++) {
        CURL *c = srv_curl(s, "/healthz");
        CURLcode rc;
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 3L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        rc = curl_easy_perform(c);
        curl_easy_cleanup(c);
        if (rc == CURLE_COULDNT_CONNECT)
            return;
        if (rc == CURLE_OPERATION_TIMEDOUT || i >= 3000)
            fail_msg("a new connection while stopping got curl %d, not a refusal", (int)rc);
        usleep(10000);
    }
}

/* A request that begins after SIGTERM, on a connection kept alive from before, is answered 503
 * unavailable: the stop waits for the work it knows of and starts none (server.c), while the
 * request in flight still finishes. */
static void test_sigterm_answers_a_request_begun_after_it_503(void **state)
{
    size_t len = 64 * 1024;
    char *b = padded_tenant(len);
    long status = 0;
    pthread_t th;
    upload up;
    CURL *k;
    srv s;
    int i;

    (void)state;
    srv_start(&s, NULL);
    k = srv_curl(&s, "/healthz");
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, discard);
    assert_int_equal(curl_easy_perform(k), CURLE_OK); /* its connection stays open */
    memset(&up, 0, sizeof(up));
    up.s = &s;
    up.t.data = b;
    up.t.len = len;
    up.t.step = 16 * 1024;
    up.t.pause_at = len / 4;
    up.expect = 1;
    assert_int_equal(pthread_create(&th, NULL, upload_run, &up), 0);
    for (i = 0; i < 3000 && !atomic_load(&up.t.paused); i++)
        usleep(10000);
    assert_true(atomic_load(&up.t.paused));
    assert_int_equal(kill(s.pid, SIGTERM), 0);
    wait_refused(&s); /* the signal is handled */
    /* The kept-alive connection's next request began after the stop. */
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(k), CURLE_OK);
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 503);
    curl_easy_cleanup(k);
    atomic_store(&up.t.released, 1);
    assert_int_equal(srv_stop(&s, 0), 0);
    pthread_join(th, NULL);
    if (up.rc != 0 || up.status != 201)
        fail_msg("the request in flight got curl %d, %ld %s", up.rc, up.status,
                 up.body ? up.body : "");
    free(up.body);
    free(b);
}

/* SIGTERM while an upload is half way: the server stops accepting, lets the request finish
 * (201, not a reset), and exits 0. */
static void test_sigterm_lets_the_request_in_flight_finish(void **state)
{
    size_t len = 512 * 1024;
    char *b = padded_tenant(len);
    pthread_t th;
    upload up;
    srv s;
    int i;

    (void)state;
    srv_start(&s, NULL);
    memset(&up, 0, sizeof(up));
    up.s = &s;
    up.t.data = b;
    up.t.len = len;
    up.t.step = 16 * 1024;
    up.t.pause_at = len / 4; /* a quarter sent, the rest held back until the signal is in */
    up.expect = 1;           /* so the server has taken the request before any body is sent */
    assert_int_equal(pthread_create(&th, NULL, upload_run, &up), 0);
    /* Waiting, not timing: a generous bound (30 s) only against a hang. */
    for (i = 0; i < 3000 && !atomic_load(&up.t.paused); i++)
        usleep(10000);
    assert_true(atomic_load(&up.t.paused));
    assert_int_equal(up.t.sent, len / 4);
    assert_int_equal(kill(s.pid, SIGTERM), 0);
    wait_refused(&s);
    assert_int_equal(up.t.sent, len / 4);
    atomic_store(&up.t.released, 1);
    assert_int_equal(srv_stop(&s, 0), 0);
    pthread_join(th, NULL);
    if (up.rc != 0 || up.status != 201)
        fail_msg("the request in flight got curl %d, %ld %s", up.rc, up.status,
                 up.body ? up.body : "");
    assert_int_equal(up.t.sent, len);
    {
        const char *line = "\"route\":\"/v1/tenants\",\"status\":201";
        assert_true(th_file_contains(s.log, line, strlen(line)));
    }
    free(up.body);
    free(b);
    th_rmrf(s.dir);
}

/* A stopped server accepts nothing more. */
static void test_sigterm_on_an_idle_server_exits_0(void **state)
{
    srv s;
    srv_resp r;
    char base[64];

    (void)state;
    srv_start(&s, NULL);
    assert_int_equal(srv_call(&s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
    srv_resp_free(&r);
    snprintf(base, sizeof(base), "%s", s.base);
    assert_int_equal(srv_stop(&s, 0), 0);
    snprintf(s.base, sizeof(s.base), "%s", base);
    assert_int_not_equal(srv_call(&s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
    srv_resp_free(&r);
    th_rmrf(s.dir);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_P_ENC_4_tls12_is_refused),
        cmocka_unit_test(test_P_ENC_4_plain_http_is_refused),
        cmocka_unit_test(test_P_ENC_4_tls13_works_with_hsts),
        cmocka_unit_test(test_P_ENC_4_keep_alive_reuses_the_connection),
        cmocka_unit_test(test_every_error_has_its_status_code_and_request_id),
        cmocka_unit_test(test_request_ids_are_fresh_and_logged),
        cmocka_unit_test(test_bearer_scheme_is_case_insensitive),
        cmocka_unit_test(test_body_over_default_limit_is_413),
        cmocka_unit_test(test_no_personal_value_in_the_access_log),
        cmocka_unit_test(test_metrics_are_prometheus_text),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_body_over_max_body_is_413),
        cmocka_unit_test(test_sigterm_lets_the_request_in_flight_finish),
        cmocka_unit_test(test_sigterm_answers_a_request_begun_after_it_503),
        cmocka_unit_test(test_sigterm_on_an_idle_server_exits_0),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests_name("http, shared server", shared, group_setup, group_teardown);
    rc |= cmocka_run_group_tests_name("http, own servers", own, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
