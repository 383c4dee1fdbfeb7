/*
 * test_http_request.c: data-subject requests over HTTPS against the real server (docs/dsr.md,
 * api_request.c): the purpose subject_access refused as a header (P-DSR-1, the bypass of issue
 * 10), filing that tells nothing about the subject, the flow of a request through its states
 * (P-DSR-7), the controller's decision in processor mode (P-DSR-8), a right carried out at
 * completion (P-DSR-5) and the per-tenant counts of /metrics. The core's rules in detail:
 * tests/test_request.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "srv.h"
#include "th.h"

typedef struct ten {
    char id[SRV_ID];
    char owner[128], admin[128], agent[128];
    char ada[SRV_ID], contact[SRV_ID];
} ten;

static srv S;
static ten A; /* SCM's policy: a controller */
static ten P; /* Optymyze's: a processor */

static void call(long want, const char *code, const char *key, const char *purpose,
                 const char *body, char id[SRV_ID], srv_resp *keep, const char *method,
                 const char *fmt, ...) __attribute__((format(printf, 9, 10)));
static void call(long want, const char *code, const char *key, const char *purpose,
                 const char *body, char id[SRV_ID], srv_resp *keep, const char *method,
                 const char *fmt, ...)
{
    char path[256];
    srv_resp r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    assert_int_equal(srv_call(&S, method, path, key, purpose, body, &r), 0);
    if (r.status != want)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r.status, want, r.body);
    if (code != NULL)
        srv_assert_err(&r, want, code);
    if (id != NULL && srv_json_str(r.body, "id", id, SRV_ID) != 0)
        fail_msg("%s %s: no id in %s", method, path, r.body);
    if (keep != NULL)
        *keep = r;
    else
        srv_resp_free(&r);
}

static void key_of(ten *t, const char *role, char out[128])
{
    char body[128];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\"}", role, role);
    call(201, NULL, t->owner, NULL, body, NULL, &r, "POST", "/v1/tenants/%s/api-keys", t->id);
    assert_int_equal(srv_json_str(r.body, "secret", out, 128), 0);
    srv_resp_free(&r);
}

static void tenant(ten *t, const char *policy, const char *collection, const char *purpose)
{
    char body[256];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"policy\":\"%s\"}", policy, policy);
    call(201, NULL, S.operator_key, NULL, body, t->id, &r, "POST", "/v1/tenants");
    assert_int_equal(srv_json_str(r.body, "secret", t->owner, sizeof(t->owner)), 0);
    srv_resp_free(&r);
    key_of(t, "admin", t->admin);
    key_of(t, "agent", t->agent);
    call(201, NULL, t->agent, purpose, "{\"external_id\":\"ada\",\"email\":\"ada@example.org\"}",
         t->ada, NULL, "POST", "/v1/tenants/%s/subjects", t->id);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Ada\"}}", t->ada);
    call(201, NULL, t->agent, purpose, body, t->contact, NULL, "POST",
         "/v1/tenants/%s/collections/%s/records", t->id, collection);
}

static int setup(void **state)
{
    (void)state;
    srv_start(&S, NULL);
    tenant(&A, "scm", "contacts", "provide_service");
    tenant(&P, "optymyze", "employees", "provide_service");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* Files a subject's request of type through the agent; the answer in *r. */
static void subject_files(const ten *t, const char *type, const char *ext, srv_resp *r)
{
    char body[128];

    snprintf(body, sizeof(body), "{\"type\":\"%s\",\"external_id\":\"%s\"}", type, ext);
    call(201, NULL, t->agent, NULL, body, NULL, r, "POST", "/v1/tenants/%s/requests", t->id);
}

/* Issue 10's bypass: a key with data_read stating subject_access read anything. */
static void test_P_DSR_1_agent_stating_subject_access_is_refused(void **state)
{
    (void)state;
    call(403, "request_required", A.agent, "subject_access", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/records/%s", A.id, A.contact);
    call(403, "request_required", A.agent, "subject_access", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/subjects/%s", A.id, A.ada);
    call(403, "request_required", A.owner, "subject_access", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/subjects/%s/records", A.id, A.ada);
    /* Platform staff keep the answer they had: the purpose is not theirs to state. */
    call(403, "forbidden", S.operator_key, "subject_access", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/records/%s", A.id, A.contact);
    /* The agent's own purposes are untouched. */
    call(200, NULL, A.agent, "provide_service", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/records/%s", A.id, A.contact);
}

/* Replaces the value of the string member name in json by one X (ids vary in length). */
static void mask(char *json, const char *name)
{
    char needle[64];
    char *p, *e;

    snprintf(needle, sizeof(needle), "\"%s\":\"", name);
    assert_non_null(p = strstr(json, needle));
    p += strlen(needle);
    assert_non_null(e = strchr(p, '"'));
    *p = 'X';
    memmove(p + 1, e, strlen(e) + 1);
}

/* Item 8: filing answers byte for byte alike for a known and an unknown subject, but for the
 * request's id and its token. */
static void test_filing_is_the_same_for_known_and_unknown_subjects(void **state)
{
    srv_resp k, u;

    (void)state;
    subject_files(&A, "access", "ada", &k);
    subject_files(&A, "access", "nobody-at-all", &u);
    assert_non_null(strstr(k.body, "\"token\":\""));
    mask(k.body, "id");
    mask(u.body, "id");
    mask(k.body, "token");
    mask(u.body, "token");
    assert_string_equal(k.body, u.body);
    srv_resp_free(&k);
    srv_resp_free(&u);
}

static void test_P_DSR_7_a_subject_request_through_its_states(void **state)
{
    char id[SRV_ID], token[80], body[160];
    srv_resp r;

    (void)state;
    subject_files(&A, "access", "ada", &r);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    assert_int_equal(srv_json_str(r.body, "token", token, sizeof(token)), 0);
    srv_resp_free(&r);
    /* Nothing of the subject before verification. */
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s", A.id, id);
    assert_non_null(strstr(r.body, "\"subject_id\":null"));
    assert_null(strstr(r.body, A.ada));
    srv_resp_free(&r);
    call(409, "conflict", A.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
    call(401, "unauthenticated", A.agent, NULL, "{\"token\":\"00\"}", NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/verify", A.id, id);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    call(200, NULL, A.agent, NULL, body, NULL, &r, "POST", "/v1/tenants/%s/requests/%s/verify",
         A.id, id);
    assert_non_null(strstr(r.body, A.ada));
    assert_non_null(strstr(r.body, "\"state\":\"verified\""));
    srv_resp_free(&r);
    call(409, "conflict", A.agent, NULL, body, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/verify", A.id, id);
    /* Under the request only once acknowledged. */
    call(403, "purpose_not_allowed", A.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests/%s/records/%s", A.id, id, A.contact);
    /* The key that filed and verified (the service relaying the token) cannot open the
     * subject's data itself: acknowledging is an administrator's step. */
    call(403, "forbidden", A.agent, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
    call(403, "purpose_not_allowed", A.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests/%s/records/%s", A.id, id, A.contact);
    call(200, NULL, A.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s/records/%s",
         A.id, id, A.contact);
    assert_non_null(strstr(r.body, "Ada"));
    srv_resp_free(&r);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s/subject",
         A.id, id);
    assert_non_null(strstr(r.body, "ada@example.org"));
    srv_resp_free(&r);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s/records",
         A.id, id);
    assert_non_null(strstr(r.body, A.contact));
    srv_resp_free(&r);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s/consents",
         A.id, id);
    assert_non_null(strstr(r.body, "\"ledger\":["));
    srv_resp_free(&r);
    /* An access request writes nothing. */
    call(403, "purpose_not_allowed", A.agent, NULL, "{\"data\":{\"name\":\"A\"}}", NULL, NULL,
         "PUT", "/v1/tenants/%s/requests/%s/records/%s", A.id, id, A.contact);
    /* Extension and completion are the administrators'. */
    call(403, "forbidden", A.agent, NULL, "{\"by\":\"30d\",\"reason\":\"complex\"}", NULL, NULL,
         "POST", "/v1/tenants/%s/requests/%s/extend", A.id, id);
    call(400, "invalid", A.admin, NULL, "{\"by\":\"90d\",\"reason\":\"complex\"}", NULL, NULL,
         "POST", "/v1/tenants/%s/requests/%s/extend", A.id, id);
    call(200, NULL, A.admin, NULL, "{\"by\":\"30d\",\"reason\":\"complex\"}", NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/extend", A.id, id);
    call(403, "forbidden", A.agent, NULL, "{}", NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/complete", A.id, id);
    call(200, NULL, A.admin, NULL, "{}", NULL, &r, "POST", "/v1/tenants/%s/requests/%s/complete",
         A.id, id);
    assert_non_null(strstr(r.body, "\"state\":\"completed\""));
    srv_resp_free(&r);
    /* Closed, it reaches nothing. */
    call(403, "purpose_not_allowed", A.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests/%s/records/%s", A.id, id, A.contact);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests?filter=open",
         A.id);
    assert_null(strstr(r.body, id));
    srv_resp_free(&r);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests", A.id);
    assert_non_null(strstr(r.body, id));
    srv_resp_free(&r);
    call(400, "invalid_field", A.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests?filter=late", A.id);
    /* Another tenant's request is a request that does not exist (P-ISO-1). */
    call(404, "not_found", P.agent, NULL, NULL, NULL, NULL, "GET", "/v1/tenants/%s/requests/%s",
         P.id, id);
}

static void test_P_DSR_5_restriction_request_takes_effect_at_once(void **state)
{
    char id[SRV_ID], body[128];

    (void)state;
    snprintf(body, sizeof(body),
             "{\"type\":\"restrict\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", A.ada);
    /* Filing as an administrator needs data_erase. */
    call(403, "forbidden", A.agent, NULL, body, NULL, NULL, "POST", "/v1/tenants/%s/requests",
         A.id);
    call(201, NULL, A.admin, NULL, body, id, NULL, "POST", "/v1/tenants/%s/requests", A.id);
    call(200, NULL, A.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
    call(200, NULL, A.admin, NULL, "{}", NULL, NULL, "POST", "/v1/tenants/%s/requests/%s/complete",
         A.id, id);
    call(403, "restricted", A.agent, "provide_service", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/records/%s", A.id, A.contact);
    snprintf(body, sizeof(body),
             "{\"type\":\"unrestrict\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", A.ada);
    call(201, NULL, A.admin, NULL, body, id, NULL, "POST", "/v1/tenants/%s/requests", A.id);
    call(200, NULL, A.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
    call(200, NULL, A.admin, NULL, "{}", NULL, NULL, "POST", "/v1/tenants/%s/requests/%s/complete",
         A.id, id);
    call(200, NULL, A.agent, "provide_service", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/records/%s", A.id, A.contact);
}

/* P-DSR-1, P-DSR-2: an access request's answer, streamed: the subject's data as JSON, and as
 * RFC 4180 CSV files in a zip; refused before acknowledgement and once completed. P-DSR-4: an
 * erase request's completion answers the signed erasure certificate. Runs last: ada goes. */
static void test_P_DSR_1_P_DSR_2_P_DSR_4_answers_over_https(void **state)
{
    char id[SRV_ID], body[128];
    srv_resp r;

    (void)state;
    snprintf(body, sizeof(body),
             "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", A.ada);
    call(201, NULL, A.admin, NULL, body, id, NULL, "POST", "/v1/tenants/%s/requests", A.id);
    call(409, "conflict", A.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests/%s/export?format=json", A.id, id);
    call(200, NULL, A.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
    call(400, NULL, A.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests/%s/export?format=xml", A.id, id);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET",
         "/v1/tenants/%s/requests/%s/export?format=json", A.id, id);
    assert_non_null(strstr(r.body, "\"records\""));
    assert_non_null(strstr(r.body, A.contact)); /* the contact's id, among ada's records */
    srv_resp_free(&r);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET",
         "/v1/tenants/%s/requests/%s/export?format=csv", A.id, id);
    assert_string_equal(r.content_type, "application/zip");
    assert_true(r.len > 4 && memcmp(r.body, "PK\x03\x04", 4) == 0);
    srv_resp_free(&r);
    call(200, NULL, A.admin, NULL, "{}", NULL, NULL, "POST", "/v1/tenants/%s/requests/%s/complete",
         A.id, id);
    call(409, "conflict", A.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests/%s/export?format=json", A.id, id);
    /* Erasure under its request: the certificate comes with the completed request. */
    snprintf(body, sizeof(body),
             "{\"type\":\"erase\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", A.ada);
    call(201, NULL, A.admin, NULL, body, id, NULL, "POST", "/v1/tenants/%s/requests", A.id);
    call(200, NULL, A.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
    call(200, NULL, A.admin, NULL, "{}", NULL, &r, "POST", "/v1/tenants/%s/requests/%s/complete",
         A.id, id);
    assert_non_null(strstr(r.body, "\"state\":\"completed\""));
    assert_non_null(strstr(r.body, "\"certificate\":{"));
    assert_non_null(strstr(r.body, "\"signature\""));
    srv_resp_free(&r);
    call(404, NULL, A.agent, "provide_service", NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/records/%s", A.id, A.contact);
}

/* The certificate member of a request's JSON, up to the member after it, copied into out. */
static void certificate_of(const char *body, char *out, size_t cap)
{
    const char *a = strstr(body, "\"certificate\":"),
               *b = a ? strstr(a, ",\"scrub_pending\"") : NULL;

    if (a == NULL || b == NULL || (size_t)(b - a) >= cap)
        fail_msg("no certificate in %s", body);
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
}

/* Files an administrator's request of type for subject, acknowledges it; its id in id. */
static void admin_request(const char *type, const char *subject, char id[SRV_ID])
{
    char body[160];

    snprintf(body, sizeof(body), "{\"type\":\"%s\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}",
             type, subject);
    call(201, NULL, A.admin, NULL, body, id, NULL, "POST", "/v1/tenants/%s/requests", A.id);
    call(200, NULL, A.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", A.id, id);
}

/* Issue 10: the erasure's certificate is stored with it, so reading the erase request gives
 * the same certificate as its completion did (P-DSR-4); and a later access request of the
 * erased subject shows only what SCM's policy keeps (the billing record for legal compliance)
 * and the erasure; a subject whose erasure kept nothing is not found (P-DSR-1, P-RET-4). */
static void test_P_DSR_4_P_RET_4_certificate_read_again_and_kept_records_answered(void **state)
{
    char grace[SRV_ID], hedy[SRV_ID], id[SRV_ID], body[256], c1[16384], c2[16384];
    srv_resp r;

    (void)state;
    call(201, NULL, A.agent, "provide_service", "{\"external_id\":\"grace\"}", grace, NULL, "POST",
         "/v1/tenants/%s/subjects", A.id);
    snprintf(body, sizeof(body),
             "{\"subject_id\":\"%s\",\"data\":{\"invoice_number\":\"INV-H-1\",\"amount\":\"7\"}}",
             grace);
    call(201, NULL, A.agent, "payments", body, NULL, NULL, "POST",
         "/v1/tenants/%s/collections/billing_records/records", A.id);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Grace H\"}}", grace);
    call(201, NULL, A.agent, "provide_service", body, NULL, NULL, "POST",
         "/v1/tenants/%s/collections/contacts/records", A.id);
    admin_request("erase", grace, id);
    call(200, NULL, A.admin, NULL, "{}", NULL, &r, "POST", "/v1/tenants/%s/requests/%s/complete",
         A.id, id);
    certificate_of(r.body, c1, sizeof(c1));
    srv_resp_free(&r);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s", A.id, id);
    certificate_of(r.body, c2, sizeof(c2));
    assert_string_equal(c1, c2);
    /* The scrub is the erasure thread's, just after the answer: done within moments. */
    for (int i = 0; i < 100 && strstr(r.body, "\"scrub_pending\":false") == NULL; i++) {
        srv_resp_free(&r);
        usleep(100 * 1000);
        call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s", A.id,
             id);
    }
    assert_non_null(strstr(r.body, "\"scrub_pending\":false"));
    srv_resp_free(&r);
    /* The later access request: the kept billing record and the erasure, nothing else. */
    admin_request("access", grace, id);
    call(200, NULL, A.agent, NULL, NULL, NULL, &r, "GET",
         "/v1/tenants/%s/requests/%s/export?format=json", A.id, id);
    assert_non_null(strstr(r.body, "INV-H-1"));
    assert_non_null(strstr(r.body, "\"basis\":\"legal_obligation\""));
    assert_non_null(strstr(r.body, "\"erasure\":{"));
    assert_null(strstr(r.body, "Grace H"));
    assert_null(strstr(r.body, "\"grace\""));
    srv_resp_free(&r);
    /* Nothing kept: the subject is not found, as before. */
    call(201, NULL, A.agent, "provide_service", "{\"external_id\":\"hedy\"}", hedy, NULL, "POST",
         "/v1/tenants/%s/subjects", A.id);
    admin_request("erase", hedy, id);
    call(200, NULL, A.admin, NULL, "{}", NULL, NULL, "POST", "/v1/tenants/%s/requests/%s/complete",
         A.id, id);
    snprintf(body, sizeof(body),
             "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", hedy);
    call(404, NULL, A.admin, NULL, body, NULL, NULL, "POST", "/v1/tenants/%s/requests", A.id);
}

static void test_P_DSR_8_processor_request_waits_for_the_controller(void **state)
{
    char id[SRV_ID], token[80], body[160];
    srv_resp r;

    (void)state;
    subject_files(&P, "access", "ada", &r);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    assert_int_equal(srv_json_str(r.body, "token", token, sizeof(token)), 0);
    srv_resp_free(&r);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    call(200, NULL, P.agent, NULL, body, NULL, &r, "POST", "/v1/tenants/%s/requests/%s/verify",
         P.id, id);
    assert_non_null(strstr(r.body, "\"decision\":\"pending\""));
    srv_resp_free(&r);
    call(409, "conflict", P.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", P.id, id);
    call(403, "forbidden", P.agent, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/approve", P.id, id);
    call(200, NULL, P.admin, NULL, NULL, NULL, NULL, "POST", "/v1/tenants/%s/requests/%s/approve",
         P.id, id);
    call(200, NULL, P.admin, NULL, NULL, NULL, NULL, "POST",
         "/v1/tenants/%s/requests/%s/acknowledge", P.id, id);
    /* Approved and acknowledged, the answer goes out (P-DSR-1). */
    call(200, NULL, P.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests/%s/export?format=json", P.id, id);
    /* A rejection by the controller, with a reason code. */
    subject_files(&P, "erase", "ada", &r);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    srv_resp_free(&r);
    call(200, NULL, P.admin, NULL, "{\"reason\":\"employment_law\"}", NULL, &r, "POST",
         "/v1/tenants/%s/requests/%s/reject", P.id, id);
    assert_non_null(strstr(r.body, "\"decision\":\"rejected\""));
    assert_non_null(strstr(r.body, "\"state\":\"rejected\""));
    srv_resp_free(&r);
}

static void test_P_DSR_7_metrics_count_requests_per_tenant(void **state)
{
    char line[128];
    srv_resp r;

    (void)state;
    call(200, NULL, S.operator_key, NULL, NULL, NULL, &r, "GET", "/metrics");
    snprintf(line, sizeof(line), "custos_dsr_requests_overdue{tenant=\"%s\"} 0\n", A.id);
    assert_non_null(strstr(r.body, line));
    snprintf(line, sizeof(line), "custos_dsr_requests_due_soon{tenant=\"%s\"} ", P.id);
    assert_non_null(strstr(r.body, line));
    /* P-DSR-4: no erasure's scrub is owed (none is held back by an export). */
    assert_non_null(strstr(r.body, "\ncustos_erasure_scrub_pending 0\n"));
    srv_resp_free(&r);
}

/* The key of request q in the queue's order: open first, the next due date, then the id. */
static void queue_key(const cJSON *q, int *closed, char due[32], unsigned long long *id)
{
    const cJSON *ack = cJSON_GetObjectItem(q, "acknowledged_at");
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(
        q, cJSON_IsString(ack) ? "answer_due" : "acknowledge_due"));

    *closed = !cJSON_IsTrue(cJSON_GetObjectItem(q, "open"));
    snprintf(due, 32, "%s", d ? d : "");
    *id = strtoull(cJSON_GetStringValue(cJSON_GetObjectItem(q, "id")), NULL, 10);
}

/* Issue 15 item 5: GET .../requests?limit=N pages the queue on the server in its order
 * (open first, by the next due date, then id) with the answer's "next" as the cursor, on
 * either store; filters page the same way; without limit the old answer stays. */
/* Where request id's own member is in body: the id alone could also match inside a time. */
static const char *id_at(const char *body, const char *id)
{
    char want[SRV_ID + 16];

    snprintf(want, sizeof(want), "\"id\":\"%s\"", id);
    return strstr(body, want);
}

static void test_P_DSR_7_the_queue_pages_on_the_server(void **state)
{
    char ids[9][SRV_ID], body[160], path[256], next[96] = "";
    int seen[9] = {0}, pages = 0, total = 0, prev_closed = -1;
    char prev_due[32] = "";
    unsigned long long prev_id = 0;
    srv_resp r;

    (void)state;
    /* Nine requests: three acknowledged (answer due later), two of those completed
     * (closed: last), the others waiting to be acknowledged. */
    for (int i = 0; i < 9; i++) {
        snprintf(body, sizeof(body),
                 "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", P.ada);
        call(201, NULL, P.admin, NULL, body, ids[i], NULL, "POST", "/v1/tenants/%s/requests",
             P.id);
    }
    for (int i = 0; i < 3; i++)
        call(200, NULL, P.admin, NULL, NULL, NULL, NULL, "POST",
             "/v1/tenants/%s/requests/%s/acknowledge", P.id, ids[i * 3]);
    for (int i = 1; i < 3; i++)
        call(200, NULL, P.admin, NULL, "{}", NULL, NULL, "POST",
             "/v1/tenants/%s/requests/%s/complete", P.id, ids[i * 3]);
    do {
        cJSON *doc, *q;
        snprintf(path, sizeof(path), "/v1/tenants/%s/requests?limit=2%s%s", P.id,
                 next[0] ? "&after=" : "", next);
        call(200, NULL, P.agent, NULL, NULL, NULL, &r, "GET", "%s", path);
        doc = cJSON_Parse(r.body);
        assert_non_null(doc);
        assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "requests")) <= 2);
        cJSON_ArrayForEach(q, cJSON_GetObjectItem(doc, "requests"))
        {
            int closed;
            char due[32];
            unsigned long long id;
            queue_key(q, &closed, due, &id);
            /* Strictly after the row before, in (closed, due, id). */
            assert_true(closed > prev_closed ||
                        (closed == prev_closed && (strcmp(due, prev_due) > 0 ||
                                                   (strcmp(due, prev_due) == 0 && id > prev_id))));
            prev_closed = closed;
            snprintf(prev_due, sizeof(prev_due), "%s", due);
            prev_id = id;
            for (int i = 0; i < 9; i++)
                if (strtoull(ids[i], NULL, 10) == id)
                    seen[i]++;
            total++;
        }
        next[0] = '\0';
        if (cJSON_IsString(cJSON_GetObjectItem(doc, "next")))
            snprintf(next, sizeof(next), "%s", cJSON_GetObjectItem(doc, "next")->valuestring);
        else
            assert_true(cJSON_IsNull(cJSON_GetObjectItem(doc, "next")));
        cJSON_Delete(doc);
        srv_resp_free(&r);
        assert_true(++pages < 50);
    } while (next[0] != '\0');
    /* Every one of the nine exactly once (and P's earlier requests), the closed two last. */
    for (int i = 0; i < 9; i++)
        assert_int_equal(seen[i], 1);
    assert_true(total >= 9);
    assert_int_equal(prev_closed, 1);
    /* A filter pages the same way: open ones only, seven of the nine. */
    call(200, NULL, P.agent, NULL, NULL, NULL, &r, "GET",
         "/v1/tenants/%s/requests?filter=open&limit=500", P.id);
    assert_null(id_at(r.body, ids[3]));
    assert_null(id_at(r.body, ids[6]));
    assert_non_null(id_at(r.body, ids[0]));
    assert_non_null(strstr(r.body, "\"next\":null"));
    srv_resp_free(&r);
    /* Without limit or after: the old answer, oldest first, no "next". */
    call(200, NULL, P.agent, NULL, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests", P.id);
    assert_null(strstr(r.body, "\"next\""));
    /* Oldest first: by the filing time (ids break ties, and ids are not in filing order). */
    {
        cJSON *all = cJSON_Parse(r.body), *one;
        char prev[32] = "";

        assert_non_null(all);
        cJSON_ArrayForEach(one, cJSON_GetObjectItem(all, "requests"))
        {
            const char *at = cJSON_GetStringValue(cJSON_GetObjectItem(one, "filed_at"));
            assert_non_null(at);
            assert_true(strcmp(at, prev) >= 0);
            snprintf(prev, sizeof(prev), "%s", at);
        }
        cJSON_Delete(all);
    }
    for (int i = 0; i < 9; i++)
        assert_non_null(id_at(r.body, ids[i]));
    srv_resp_free(&r);
    call(400, "invalid_field", P.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests?limit=0", P.id);
    /* A cursor whose id is past the 63 bits ids have (INT64_MAX + 1). */
    call(400, "invalid_field", P.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests?limit=5&after=0.1796306127.9223372036854775808", P.id);
    call(400, "invalid_field", P.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests?limit=501", P.id);
    call(400, "invalid_field", P.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests?after=2.1.1", P.id);
    call(400, "invalid_field", P.agent, NULL, NULL, NULL, NULL, "GET",
         "/v1/tenants/%s/requests?after=0.x.1", P.id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_DSR_1_agent_stating_subject_access_is_refused),
        cmocka_unit_test(test_filing_is_the_same_for_known_and_unknown_subjects),
        cmocka_unit_test(test_P_DSR_7_a_subject_request_through_its_states),
        cmocka_unit_test(test_P_DSR_5_restriction_request_takes_effect_at_once),
        cmocka_unit_test(test_P_DSR_8_processor_request_waits_for_the_controller),
        cmocka_unit_test(test_P_DSR_7_metrics_count_requests_per_tenant),
        cmocka_unit_test(test_P_DSR_4_P_RET_4_certificate_read_again_and_kept_records_answered),
        cmocka_unit_test(test_P_DSR_1_P_DSR_2_P_DSR_4_answers_over_https),
        cmocka_unit_test(test_P_DSR_7_the_queue_pages_on_the_server),
    };

    return cmocka_run_group_tests_name("data-subject requests over HTTPS", tests, setup, teardown);
}
