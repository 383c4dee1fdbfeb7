/*
 * test_http_export.c: GET /v1/tenants/{tenant}/export streamed over the real server
 * (P-DSR-1, P-DSR-2, P-RET-2; src/core/export.c, server.c's streamed responses).
 *
 * The answer is chunked and made as the client reads it; a client that leaves midway costs
 * the server nothing (the ASan build's leak check runs when the server stops: srv_stop wants
 * exit 0); an export that fails midway ends as a broken transfer, never a short document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "srv.h"
#include "th.h"

#define BIG_RECORDS 24
#define BIG_BYTES (400 * 1024)

static srv_world *W;

typedef struct got {
    char *p;
    size_t n, cap;
    size_t stop_after; /* 0: take everything; else refuse the data once this much came */
    int chunked;
    int content_length;
} got;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    got *g = arg;
    size_t n = size * nmemb;

    if (g->stop_after > 0 && g->n >= g->stop_after)
        return 0; /* the client leaves: curl closes the connection */
    if (g->n + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 65536;
        char *np;
        while (cap < g->n + n + 1)
            cap *= 2;
        if ((np = realloc(g->p, cap)) == NULL)
            return 0;
        g->p = np;
        g->cap = cap;
    }
    memcpy(g->p + g->n, ptr, n);
    g->n += n;
    g->p[g->n] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    got *g = arg;
    size_t n = size * nmemb;

    if (n >= 26 && strncasecmp(ptr, "Transfer-Encoding: chunked", 26) == 0)
        g->chunked = 1;
    if (n >= 15 && strncasecmp(ptr, "Content-Length:", 15) == 0)
        g->content_length = 1;
    return n;
}

/* GET the export of t from s into g; returns curl's code, *status the answer's status. */
static int get_export(const srv *s, const srv_tenant *t, got *g, long *status)
{
    char path[128], auth[200];
    struct curl_slist *h = NULL;
    CURL *c;
    int rc;

    snprintf(path, sizeof(path), "/v1/tenants/%s/export", t->id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->key[CU_ROLE_OWNER]);
    c = srv_curl(s, path);
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, "Custos-Purpose: export");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
    rc = (int)curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

static void healthy(const srv *s)
{
    srv_resp r;

    assert_int_equal(srv_call(s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

/* Tenant a gets BIG_RECORDS records of about BIG_BYTES each: an export of about 10 MB, far more
 * than the sockets between the two ends hold. */
static int setup(void **state)
{
    char path[128], *body = malloc(BIG_BYTES + 256);
    size_t at;

    W = srv_world_new("export", NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", W->a.id);
    for (int i = 0; i < BIG_RECORDS; i++) {
        at = (size_t)snprintf(body, 256,
                              "{\"subject_id\":\"%s\",\"data\":{\"note\":\"n%d\",\"text\":\"",
                              W->a.subject, i);
        memset(body + at, 'a' + i % 26, BIG_BYTES);
        memcpy(body + at + BIG_BYTES, "\"}}", 4);
        srv_call_ok(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], "support", body, 201, NULL);
    }
    free(body);
    *state = W;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    srv_world_free(W); /* asserts the server exits 0: no leak, no crash */
    W = NULL;
    return 0;
}

/* P-DSR-2, P-RET-2: the export arrives chunked (no Content-Length: it is made as it is read)
 * and whole: every record of the subject, with its document. */
static void test_P_DSR_2_http_export_is_chunked_and_whole(void **state)
{
    got g = {0};
    long status;
    cJSON *doc, *subjects, *recs;
    (void)state;

    assert_int_equal(get_export(&W->s, &W->a, &g, &status), 0);
    assert_int_equal(status, 200);
    assert_true(g.chunked);
    assert_false(g.content_length);
    assert_true(g.n > (size_t)BIG_RECORDS * BIG_BYTES);
    assert_non_null(doc = cJSON_ParseWithLength(g.p, g.n));
    subjects = cJSON_GetObjectItemCaseSensitive(doc, "subjects");
    assert_int_equal(cJSON_GetArraySize(subjects), 1);
    recs = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(subjects, 0), "records");
    assert_int_equal(cJSON_GetArraySize(recs), BIG_RECORDS + 1); /* and srv_tenant_make's note */
    assert_non_null(strstr(g.p, W->a.note));
    cJSON_Delete(doc);
    free(g.p);
}

/* A client that leaves midway: the server frees the export (the leak check at its stop) and
 * goes on serving, exports included. */
static void test_P_DSR_2_client_leaving_midway_costs_nothing(void **state)
{
    long status;
    (void)state;

    for (int i = 0; i < 3; i++) {
        got g = {.stop_after = (size_t)(i + 1) * 64 * 1024};
        assert_int_equal(get_export(&W->s, &W->a, &g, &status), CURLE_WRITE_ERROR);
        assert_int_equal(status, 200);
        assert_true(g.n < (size_t)BIG_RECORDS * BIG_BYTES);
        free(g.p);
    }
    healthy(&W->s);
    {
        got g = {0};
        assert_int_equal(get_export(&W->s, &W->a, &g, &status), 0);
        assert_int_equal(status, 200);
        free(g.p);
    }
}

/* P-DSR-1, P-DSR-2: an export that fails midway (CUSTOS_FAULT=export.step fails each step
 * after its first bytes) ends without the chunked body's last chunk: the client sees a broken
 * transfer, and what it holds does not parse; never a valid-looking short document. */
static void test_P_DSR_1_http_export_failing_midway_is_a_broken_transfer(void **state)
{
    static const char *const fault[] = {"CUSTOS_FAULT=export.step", NULL};
    srv s;
    srv_tenant t;
    got g = {0};
    long status;
    int rc;
    (void)state;

    srv_start_env(&s, NULL, fault);
    srv_tenant_make(&s, "cut", &t);
    rc = get_export(&s, &t, &g, &status);
    assert_true(rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR);
    assert_int_equal(status, 200);
    assert_true(g.n > 0); /* the head went out */
    assert_null(cJSON_ParseWithLength(g.p, g.n));
    free(g.p);
    healthy(&s);
    assert_int_equal(srv_stop(&s, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_DSR_2_http_export_is_chunked_and_whole),
        cmocka_unit_test(test_P_DSR_2_client_leaving_midway_costs_nothing),
        cmocka_unit_test(test_P_DSR_1_http_export_failing_midway_is_a_broken_transfer),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
