/*
 * test_unsubscribe.c: one-click unsubscribe over HTTPS against the real server (P-CON-4,
 * RFC 8058; docs/consent.md, api_consent.c, src/core/unsubscribe.c), on the ERP Smart Cloud
 * policy (marketing: consent; transactional_email: contract, a service notice).
 *
 * An agent issues a link for the marketing purpose; a GET shows a page and changes nothing;
 * the one-click POST, with no credential, withdraws the consent in the ledger (source
 * unsubscribe), after which a marketing read and write are refused and a service-notice read
 * still works. Service purposes get no link; a tampered, truncated or foreign token is 404
 * with the one body; the POST needs the RFC 8058 body; a new policy version in force kills the
 * link (410 link_expired). Audited without personal values. On ScaleMule's policy, where
 * marketing is legitimate interest, the same POST records an objection instead.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "th.h"

#include <cjson/cJSON.h>

static srv S;
static char T[SRV_ID], owner[128], agent[128], analyst[128];

static void key_of(const char *role, char out[128])
{
    char body[128], path[96];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\"}", role, role);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", T);
    assert_int_equal(srv_call(&S, "POST", path, owner, NULL, body, &r), 0);
    assert_int_equal(r.status, 201);
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
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* A subject with an account record who consented to marketing: its ids. */
static void customer(const char *ext, char subject[SRV_ID], char record[SRV_ID])
{
    char path[128], body[256];

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T);
    snprintf(body, sizeof(body), "{\"external_id\":\"%s\"}", ext);
    srv_call_ok(&S, "POST", path, agent, "provide_service", body, 201, subject);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/accounts/records", T);
    snprintf(
        body, sizeof(body),
        "{\"subject_id\":\"%s\",\"data\":{\"full_name\":\"Ada %s\",\"email\":\"%s@example.com\"}}",
        subject, ext, ext);
    srv_call_ok(&S, "POST", path, agent, "provide_service", body, 201, record);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", T, subject);
    srv_call_ok(&S, "POST", path, agent, NULL,
                "{\"purpose\":\"marketing\",\"action\":\"grant\",\"source\":\"web-form\"}", 201,
                NULL);
}

/* Issues a link for subject and purpose; 201 gives its path in url. */
static void link_for(const char *key, const char *subject, const char *purpose, long want,
                     const char *code, char url[256])
{
    char path[128], body[128];
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/unsubscribe-links", T, subject);
    snprintf(body, sizeof(body), "{\"purpose\":\"%s\"}", purpose);
    assert_int_equal(srv_call(&S, "POST", path, key, NULL, body, &r), 0);
    if (r.status != want)
        fail_msg("link for %s: %ld, want %ld: %s", purpose, r.status, want, r.body);
    if (code != NULL)
        srv_assert_err(&r, want, code);
    if (url != NULL) {
        assert_int_equal(srv_json_str(r.body, "url", url, 256), 0);
        assert_non_null(strstr(r.body, "\"list_unsubscribe_post\":\"List-Unsubscribe=One-Click\""));
    }
    srv_resp_free(&r);
}

/* The one-click POST as a mail client sends it (RFC 8058), no credential: the status. */
static long one_click(const char *url, const char *body, const char *type, srv_resp *keep)
{
    char ct[96];
    const char *h[] = {ct, NULL};
    srv_resp r;
    long st;

    snprintf(ct, sizeof(ct), "Content-Type: %s", type);
    assert_int_equal(srv_call_h(&S, "POST", url, h, body, strlen(body), &r), 0);
    st = r.status;
    if (keep != NULL)
        *keep = r;
    else
        srv_resp_free(&r);
    return st;
}

static long get_page(const char *url, srv_resp *keep)
{
    srv_resp r;
    long st;

    assert_int_equal(srv_call(&S, "GET", url, NULL, NULL, NULL, &r), 0);
    st = r.status;
    if (keep != NULL)
        *keep = r;
    else
        srv_resp_free(&r);
    return st;
}

/* A read of record under purpose: the status. */
static long read_as(const char *record, const char *purpose)
{
    char path[128];
    srv_resp r;
    long st;

    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", T, record);
    assert_int_equal(srv_call(&S, "GET", path, agent, purpose, NULL, &r), 0);
    st = r.status;
    srv_resp_free(&r);
    return st;
}

/* The audit entries of the tenant (newest first), parsed; the caller deletes them. */
static cJSON *audit_entries(void)
{
    char path[128];
    srv_resp r;
    cJSON *o;

    snprintf(path, sizeof(path), "/v1/tenants/%s/audit?limit=100", T);
    assert_int_equal(srv_call(&S, "GET", path, owner, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    o = cJSON_Parse(r.body);
    srv_resp_free(&r);
    assert_non_null(o);
    return o;
}

static const char *jstr(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    return s ? s : "";
}

/* P-AUD-4: the entry the link wrote for subject holds no client address. The address the
 * server records for this test's client is read off the agent's unsubscribe.link entry (so the
 * check does not assume 127.0.0.1), and must appear nowhere in the link's entry. */
static void expect_no_address(const char *subject)
{
    cJSON *o = audit_entries(), *e;
    char object[96], *dump;
    const char *addr = NULL;
    int seen = 0;

    snprintf(object, sizeof(object), "subject:%s:marketing", subject);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "entries"))
    {
        if (strcmp(jstr(e, "action"), "unsubscribe.link") == 0 &&
            strcmp(jstr(e, "object"), object) == 0)
            addr = jstr(e, "source");
    }
    assert_non_null(addr);
    assert_true(addr[0] != '\0'); /* the agent's call does record its address */
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "entries"))
    {
        if (strcmp(jstr(e, "actor"), "unsubscribe-link") != 0)
            continue;
        seen++;
        dump = cJSON_PrintUnformatted(e);
        if (jstr(e, "source")[0] != '\0' || strstr(dump, addr) != NULL)
            fail_msg("P-AUD-4: the link's entry holds the address %s: %s", addr, dump);
        free(dump);
    }
    assert_true(seen > 0);
    cJSON_Delete(o);
}

#define FORM "application/x-www-form-urlencoded"

/* P-CON-4: one POST unsubscribes from marketing, and service notices still go out; a GET
 * before it changed nothing. */
static void test_P_CON_4_one_click_leaves_service_notices(void **state)
{
    char subject[SRV_ID], record[SRV_ID], url[256], path[128], body[256];
    srv_resp r;

    (void)state;
    customer("ada", subject, record);
    assert_int_equal(read_as(record, "marketing"), 200);
    link_for(agent, subject, "marketing", 201, NULL, url);
    assert_int_equal(strncmp(url, "/v1/unsubscribe/", 16), 0);
    /* P-CON-4: a GET (a mail scanner following the link) shows a page, and unsubscribes no one. */
    assert_int_equal(get_page(url, &r), 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "<form method=\"post\">"));
    assert_non_null(strstr(r.body, "name=\"List-Unsubscribe\" value=\"One-Click\""));
    assert_non_null(strstr(r.body, "marketing"));
    srv_resp_free(&r);
    assert_int_equal(read_as(record, "marketing"), 200);
    /* The one-click POST, no credential. */
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, &r), 200);
    assert_non_null(strstr(r.body, "Unsubscribed"));
    srv_resp_free(&r);
    assert_int_equal(read_as(record, "marketing"), 403);
    assert_int_equal(read_as(record, "transactional_email"), 200);
    /* A marketing write is refused too; a service one is not. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", T, record);
    snprintf(body, sizeof(body),
             "{\"data\":{\"full_name\":\"Ada L\",\"email\":\"ada@example.com\"}}");
    assert_int_equal(srv_call(&S, "PUT", path, agent, "marketing", body, &r), 0);
    srv_assert_err(&r, 403, "consent_required");
    srv_resp_free(&r);
    srv_call_ok(&S, "PUT", path, agent, "transactional_email", body, 200, NULL);
    /* P-CON-2: the ledger says so, from the unsubscribe link, under the version in force. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", T, subject);
    assert_int_equal(srv_call(&S, "GET", path, agent, "support", NULL, &r), 0);
    assert_non_null(strstr(r.body, "\"action\":\"withdraw\""));
    assert_non_null(strstr(r.body, "\"source\":\"unsubscribe\""));
    srv_resp_free(&r);
    /* A second click (a client that retries) is fine, and idempotent: the same answer, and no
     * new ledger or audit entry (the newest entry already says it). */
    {
        char sql[160];
        int ledger, log;
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM consents WHERE subject_id = %s AND purpose = 'marketing'",
                 subject);
        ledger = th_sql_int(S.data, sql);
        log = th_sql_int(S.data, "SELECT count(*) FROM audit_log");
        assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, &r), 200);
        assert_non_null(strstr(r.body, "Unsubscribed"));
        srv_resp_free(&r);
        assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, NULL), 200);
        assert_int_equal(th_sql_int(S.data, sql), ledger);
        assert_int_equal(th_sql_int(S.data, "SELECT count(*) FROM audit_log"), log);
    }
    /* Audited without personal values: the address appears in no entry. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit?limit=50", T);
    assert_int_equal(srv_call(&S, "GET", path, owner, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "unsubscribe.link"));
    assert_null(strstr(r.body, "ada@example.com"));
    srv_resp_free(&r);
}

/* P-CON-4, P-DSR-6: on a policy where marketing is legitimate interest (ScaleMule's: "You may
 * opt out of receiving promotional communications ... by following the unsubscribe
 * instructions"), the one-click POST records an objection, not a withdrawal: the ledger shows
 * `object` from the link, marketing is 403 objected for that subject, an administrative notice
 * still goes out, and a second POST writes nothing. */
static void test_P_CON_4_one_click_objects_to_legitimate_interest_marketing(void **state)
{
    char t[SRV_ID], own[128], ag[128], subject[SRV_ID], record[SRV_ID], url[256], path[160];
    char sql[200];
    int ledger, log;
    srv_resp r;

    (void)state;
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
                              "{\"name\":\"scalemule\",\"policy\":\"scalemule\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", t, sizeof(t)), 0);
    assert_int_equal(srv_json_str(r.body, "secret", own, sizeof(own)), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", t);
    assert_int_equal(
        srv_call(&S, "POST", path, own, NULL, "{\"name\":\"a\",\"role\":\"agent\"}", &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "secret", ag, sizeof(ag)), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t);
    srv_call_ok(&S, "POST", path, ag, "provide_service", "{\"external_id\":\"dev-1\"}", 201,
                subject);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/accounts/records", t);
    {
        char body[200];
        snprintf(body, sizeof(body),
                 "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Ada\",\"email\":\"ada@sm.example\","
                 "\"organization\":\"Acme\"}}",
                 subject);
        srv_call_ok(&S, "POST", path, ag, "provide_service", body, 201, record);
    }
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, record);
    srv_call_ok(&S, "GET", path, ag, "marketing", NULL, 200, NULL); /* opt-out: on until then */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/unsubscribe-links", t, subject);
    assert_int_equal(srv_call(&S, "POST", path, ag, NULL, "{\"purpose\":\"marketing\"}", &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "url", url, sizeof(url)), 0);
    srv_resp_free(&r);
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, &r), 200);
    assert_non_null(strstr(r.body, "Unsubscribed"));
    srv_resp_free(&r);
    /* The ledger: one objection, from the link; no withdrawal (there was no consent). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", t, subject);
    assert_int_equal(srv_call(&S, "GET", path, ag, "support", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    if (strstr(r.body, "\"action\":\"object\"") == NULL ||
        strstr(r.body, "\"source\":\"unsubscribe\"") == NULL ||
        strstr(r.body, "\"action\":\"withdraw\"") != NULL)
        fail_msg("want one objection from the link: %s", r.body);
    srv_resp_free(&r);
    /* Marketing is refused for the objection; an administrative notice is not. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, record);
    assert_int_equal(srv_call(&S, "GET", path, ag, "marketing", NULL, &r), 0);
    srv_assert_err(&r, 403, "objected");
    srv_resp_free(&r);
    srv_call_ok(&S, "GET", path, ag, "admin_notices", NULL, 200, NULL);
    /* A second POST: the same answer, no new ledger or audit entry. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM consents WHERE subject_id = %s AND purpose = 'marketing'",
             subject);
    ledger = th_sql_int(S.data, sql);
    assert_int_equal(ledger, 1);
    log = th_sql_int(S.data, "SELECT count(*) FROM audit_log");
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, &r), 200);
    assert_non_null(strstr(r.body, "Unsubscribed"));
    srv_resp_free(&r);
    assert_int_equal(th_sql_int(S.data, sql), ledger);
    assert_int_equal(th_sql_int(S.data, "SELECT count(*) FROM audit_log"), log);
}

/* P-AUD-4: the one-click caller is the data subject; the audit entry of the unsubscribe holds
 * no client address (its source is empty), while the agent's entries keep theirs. */
static void test_P_AUD_4_unsubscribe_entry_holds_no_address(void **state)
{
    char subject[SRV_ID], record[SRV_ID], url[256];

    (void)state;
    customer("abe", subject, record);
    link_for(agent, subject, "marketing", 201, NULL, url);
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, NULL), 200);
    expect_no_address(subject);
}

/* P-CON-4: only marketing can be left; a service notice has no link. */
static void test_P_CON_4_service_purposes_get_no_link(void **state)
{
    char subject[SRV_ID], record[SRV_ID];

    (void)state;
    customer("bob", subject, record);
    link_for(agent, subject, "transactional_email", 400, "invalid", NULL);
    link_for(agent, subject, "provide_service", 400, "invalid", NULL);
    link_for(agent, subject, "no_such_purpose", 400, "unknown_purpose", NULL);
    link_for(analyst, subject, "marketing", 403, "forbidden", NULL);
    link_for(agent, "12345", "marketing", 404, "not_found", NULL);
}

/* A token altered anywhere, cut short, or not one at all: 404 with the one body, never which
 * part was wrong; and nothing recorded. */
static void test_P_CON_4_tampered_token_is_not_found(void **state)
{
    char subject[SRV_ID], record[SRV_ID], url[256], bad[256];
    const size_t positions[] = {16, 20, 30, 40};
    srv_resp r;

    (void)state;
    customer("cyd", subject, record);
    link_for(agent, subject, "marketing", 201, NULL, url);
    for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
        snprintf(bad, sizeof(bad), "%s", url);
        bad[positions[i]] = bad[positions[i]] == 'A' ? 'B' : 'A';
        assert_int_equal(one_click(bad, "List-Unsubscribe=One-Click", FORM, &r), 404);
        srv_assert_err(&r, 404, "not_found");
        assert_non_null(strstr(r.body, "\"message\":\"not found\""));
        srv_resp_free(&r);
    }
    /* The MAC's last character. */
    snprintf(bad, sizeof(bad), "%s", url);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(get_page(bad, NULL), 404);
    snprintf(bad, sizeof(bad), "%.*s", (int)strlen(url) - 8, url);
    assert_int_equal(get_page(bad, NULL), 404);
    assert_int_equal(get_page("/v1/unsubscribe/AAAA", NULL), 404);
    assert_int_equal(get_page("/v1/unsubscribe/not+base64", NULL), 404);
    /* None of them unsubscribed. */
    assert_int_equal(read_as(record, "marketing"), 200);
}

/* RFC 8058: the POST carries List-Unsubscribe=One-Click; anything else is 400 and changes
 * nothing. The multipart form of it works. */
static void test_P_CON_4_post_needs_the_one_click_body(void **state)
{
    char subject[SRV_ID], record[SRV_ID], url[256];
    static const char multipart[] =
        "--xyz\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
        "One-Click\r\n--xyz--\r\n";
    /* The name in one part, One-Click in another. */
    static const char multipart_other[] =
        "--xyz\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
        "No\r\n--xyz\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nOne-Click\r\n"
        "--xyz--\r\n";
    srv_resp r;

    (void)state;
    customer("dee", subject, record);
    link_for(agent, subject, "marketing", 201, NULL, url);
    assert_int_equal(one_click(url, "", FORM, &r), 400);
    srv_assert_err(&r, 400, "one_click_required");
    srv_resp_free(&r);
    assert_int_equal(one_click(url, "{\"unsubscribe\":true}", "application/json", NULL), 400);
    /* The exact field, under an RFC 8058 content type only (review 6). */
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", "application/json", NULL), 400);
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", "text/plain", NULL), 400);
    assert_int_equal(one_click(url, "{\"x\":\"List-Unsubscribe=One-Click\"}", FORM, NULL), 400);
    assert_int_equal(one_click(url, "xList-Unsubscribe=One-Clicky", FORM, NULL), 400);
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Clicky", FORM, NULL), 400);
    assert_int_equal(one_click(url, multipart_other, "multipart/form-data; boundary=xyz", NULL),
                     400);
    assert_int_equal(read_as(record, "marketing"), 200);
    assert_int_equal(one_click(url, multipart, "multipart/form-data; boundary=xyz", NULL), 200);
    assert_int_equal(read_as(record, "marketing"), 403);
}

/* The page carries a CSP that lets it post to itself only. */
static size_t on_hdr(char *p, size_t size, size_t nitems, void *arg)
{
    char *h = arg;
    size_t n = size * nitems, have = strlen(h);

    if (have + n < 4096) {
        memcpy(h + have, p, n);
        h[have + n] = '\0';
    }
    return n;
}

static size_t on_skip(char *p, size_t size, size_t nitems, void *arg)
{
    (void)p;
    (void)arg;
    return size * nitems;
}

static void test_P_CON_4_page_has_a_strict_csp(void **state)
{
    char subject[SRV_ID], record[SRV_ID], url[256];
    static char h[4096];
    CURL *c;

    (void)state;
    customer("eve", subject, record);
    link_for(agent, subject, "marketing", 201, NULL, url);
    c = srv_curl(&S, url);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_skip);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    assert_non_null(strstr(h, "Content-Security-Policy: default-src 'none'; form-action 'self'"));
}

/* A tenant key rotation (P-ENC-5) replaces the tenant key, not the index key the link key
 * comes from: a link in a message sent before it still works. */
static void test_P_CON_4_link_survives_a_tenant_key_rotation(void **state)
{
    char subject[SRV_ID], record[SRV_ID], url[256], path[96];

    (void)state;
    customer("gus", subject, record);
    link_for(agent, subject, "marketing", 201, NULL, url);
    snprintf(path, sizeof(path), "/v1/tenants/%s/keys/rotate", T);
    srv_call_ok(&S, "POST", path, owner, NULL, NULL, 200, NULL);
    assert_int_equal(get_page(url, NULL), 200);
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, NULL), 200);
    assert_int_equal(read_as(record, "marketing"), 403);
}

/* P-CON-4: the link dies when the policy version it was issued under is replaced: 410
 * link_expired, on GET and POST, and nothing recorded. */
static void test_P_CON_4_link_expires_with_the_policy_version(void **state)
{
    char subject[SRV_ID], record[SRV_ID], url[256], path[96];
    size_t len = 0;
    const char *text = cu_policy_builtin("erpsmartcloud", &len);
    char *yaml, *at, *body;
    cJSON *o;
    srv_resp r;

    (void)state;
    customer("fay", subject, record);
    link_for(agent, subject, "marketing", 201, NULL, url);
    /* Version 1.1, the same rules: not material, in force at once. */
    assert_non_null(text);
    yaml = strndup(text, len);
    assert_non_null(at = strstr(yaml, "version: \"1.0\""));
    at[12] = '1'; /* "1.1" */
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "yaml", yaml);
    body = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/policy", T);
    srv_call_ok(&S, "PUT", path, owner, NULL, body, 200, NULL);
    free(body);
    cJSON_Delete(o);
    free(yaml);
    assert_int_equal(get_page(url, &r), 410);
    srv_assert_err(&r, 410, "link_expired");
    srv_resp_free(&r);
    /* A browser (Accept: text/html) gets a small page, under the page's CSP (review 5). */
    {
        const char *h[] = {"Accept: text/html,application/xhtml+xml;q=0.9", NULL};
        assert_int_equal(srv_call_h(&S, "GET", url, h, NULL, 0, &r), 0);
        assert_int_equal(r.status, 410);
        assert_string_equal(r.content_type, "text/html; charset=utf-8");
        assert_non_null(strstr(r.body, "Link expired"));
        assert_null(strstr(r.body, "<form"));
        srv_resp_free(&r);
    }
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, &r), 410);
    srv_assert_err(&r, 410, "link_expired");
    srv_resp_free(&r);
    assert_int_equal(read_as(record, "marketing"), 200);
    /* A link issued now works. */
    link_for(agent, subject, "marketing", 201, NULL, url);
    assert_int_equal(one_click(url, "List-Unsubscribe=One-Click", FORM, NULL), 200);
    assert_int_equal(read_as(record, "marketing"), 403);
}

/* Review 9: a tenant whose subscription ended cannot issue links (409 tenant_terminated, as
 * its other writes), since the one-click POST could never be honoured. */
static void test_P_CON_4_terminated_tenant_issues_no_link(void **state)
{
    char t2[SRV_ID], key2[128], subject[SRV_ID], path[128], body[64];
    srv_resp r;

    (void)state;
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
                              "{\"name\":\"erp ended\",\"policy\":\"erpsmartcloud\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", t2, sizeof(t2)), 0);
    assert_int_equal(srv_json_str(r.body, "secret", key2, sizeof(key2)), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t2);
    srv_call_ok(&S, "POST", path, key2, "provide_service", "{\"external_id\":\"end\"}", 201,
                subject);
    snprintf(path, sizeof(path), "/v1/tenants/%s/terminate", t2);
    srv_call_ok(&S, "POST", path, S.operator_key, NULL, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/unsubscribe-links", t2, subject);
    snprintf(body, sizeof(body), "{\"purpose\":\"marketing\"}");
    assert_int_equal(srv_call(&S, "POST", path, key2, NULL, body, &r), 0);
    srv_assert_err(&r, 409, "tenant_terminated");
    srv_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_CON_4_one_click_leaves_service_notices),
        cmocka_unit_test(test_P_CON_4_one_click_objects_to_legitimate_interest_marketing),
        cmocka_unit_test(test_P_AUD_4_unsubscribe_entry_holds_no_address),
        cmocka_unit_test(test_P_CON_4_service_purposes_get_no_link),
        cmocka_unit_test(test_P_CON_4_tampered_token_is_not_found),
        cmocka_unit_test(test_P_CON_4_post_needs_the_one_click_body),
        cmocka_unit_test(test_P_CON_4_page_has_a_strict_csp),
        cmocka_unit_test(test_P_CON_4_link_survives_a_tenant_key_rotation),
        cmocka_unit_test(test_P_CON_4_link_expires_with_the_policy_version),
        cmocka_unit_test(test_P_CON_4_terminated_tenant_issues_no_link),
    };

    return cmocka_run_group_tests_name("one-click unsubscribe over HTTPS (P-CON-4)", tests, setup,
                                       teardown);
}
