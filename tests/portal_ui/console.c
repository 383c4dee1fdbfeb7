/*
 * console.c: the admin console's pages beyond sign-in, in a real browser (docs/portal.md): headless
 * Chromium driven by chromedriver (tests/helpers/webdriver.c) against the real HTTPS server the
 * binary shares among its groups (a group of test_portal_ui, tests/portal_ui/ui.h: the browser is
 * the binary's too).
 *
 * The queue's actions on a processor tenant (Optymyze, P-DSR-8): an officer approves a routed
 * erasure, acknowledges and completes it from the page, and the subject's data is gone when read
 * through the API; an agent sees none of these buttons and gets 403 calling the route anyway;
 * extend and reject take a reason code from a form. Screenshots go to $CUSTOS_SCREENSHOTS (default
 * build/test/screenshots; docs/portal/ for docs/portal.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "portal_ui.h"
#include "srv.h"
#include "th.h"
#include "ui.h"

static srv *S; /* the shared server (ui.h) */
typedef struct ten {
    char id[SRV_ID], key[128], agent_key[128], email[64], password[64];
} ten;
static ten P;  /* Optymyze, a processor: a subject's request waits for the controller */
static ten PA; /* an agent user of P */
static ten PU; /* an auditor user of P */
static ten E;  /* a tenant without a policy, for a hostile policy name */
static ten PD; /* an admin user of P */
static char ada[SRV_ID], ada_record[SRV_ID], erase_req[SRV_ID], access_req[SRV_ID];
static wd *W;

/* --- the server's side, through the API ------------------------------------------------ */

static void user(const ten *t, ten *u, const char *email, const char *role)
{
    char path[128], body[256];

    if (u != t)
        *u = *t;
    snprintf(u->email, sizeof(u->email), "%s", email);
    snprintf(u->password, sizeof(u->password), "pw of %s, long enough", email);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", t->id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}",
             u->email, u->password, role);
    srv_call_ok(S, "POST", path, t->key, NULL, body, 201, NULL);
}

/* A tenant named name on a built-in policy, its owner key, an agent key and an owner user. */
static void tenant(ten *t, const char *name, const char *policy, const char *email)
{
    char body[256], path[128];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"name\":\"%s\"%s%s%s}", name, policy ? ",\"policy\":\"" : "",
             policy ? policy : "", policy ? "\"" : "");
    assert_int_equal(srv_call(S, "POST", "/v1/tenants", S->operator_key, NULL, body, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", t->id, sizeof(t->id)), 0);
    assert_int_equal(srv_json_str(r.body, "secret", t->key, sizeof(t->key)), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", t->id);
    assert_int_equal(srv_call(S, "POST", path, t->key, NULL,
                              "{\"name\":\"backend\",\"role\":\"agent\"}", &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "secret", t->agent_key, sizeof(t->agent_key)), 0);
    srv_resp_free(&r);
    user(t, t, email, "owner");
}

/* A subject's own request of type, filed through the tenant's service and verified with its
 * token: in processor mode it then waits for the controller's decision (P-DSR-8). */
static void subject_request(const char *type, const char *ext, char id[SRV_ID])
{
    char path[128], body[160], token[80];
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", P.id);
    snprintf(body, sizeof(body), "{\"type\":\"%s\",\"external_id\":\"%s\"}", type, ext);
    assert_int_equal(srv_call(S, "POST", path, P.agent_key, NULL, body, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", id, SRV_ID), 0);
    assert_int_equal(srv_json_str(r.body, "token", token, sizeof(token)), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/verify", P.id, id);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    srv_call_ok(S, "POST", path, P.agent_key, NULL, body, 200, NULL);
}

/* The status of GET /v1/tenants/{P}/{what}[/{id}] through the API with key. */
static long api_status(const char *key, const char *purpose, const char *what, const char *id)
{
    char path[160];
    srv_resp r;
    long st;

    snprintf(path, sizeof(path), "/v1/tenants/%s/%s%s%s", P.id, what, id[0] ? "/" : "", id);
    assert_int_equal(srv_call(S, "GET", path, key, purpose, NULL, &r), 0);
    st = r.status;
    srv_resp_free(&r);
    return st;
}

static int setup(void **state)
{
    char path[128], body[256];

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    S = ui_server();
    tenant(&P, "Optymyze customer", "optymyze", "officer@customer.example");
    user(&P, &PA, "agent@customer.example", "agent");
    user(&P, &PU, "auditor@customer.example", "auditor");
    tenant(&E, "No policy yet", NULL, "owner@nopolicy.example");
    user(&P, &PD, "admin@customer.example", "admin");
    /* Ada, with a record: what the routed erasure must remove. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", P.id);
    srv_call_ok(S, "POST", path, P.agent_key, "provide_service",
                "{\"external_id\":\"ada\",\"email\":\"ada@example.org\"}", 201, ada);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/employees/records", P.id);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Ada\"}}", ada);
    srv_call_ok(S, "POST", path, P.agent_key, "provide_service", body, 201, ada_record);
    subject_request("erase", "ada", erase_req);
    /* An administrator's own request: the controller's decision, it does not wait. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", P.id);
    snprintf(body, sizeof(body), "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}",
             ada);
    srv_call_ok(S, "POST", path, P.key, NULL, body, 201, access_req);
    pui_bind(W, S->base);
    return 0;
}

/* --- the browser's side ----------------------------------------------------------------- */

/* Signs u in and waits for the page its role lands on. */
static void sign_in(const ten *u, const char *lands_on)
{
    pui_sign_in(u->id, u->email, u->password, lands_on);
}

/* The row of request id in the queue, as a CSS selector. */
static const char *row_of(const char *id)
{
    static char css[128];

    snprintf(css, sizeof(css), "#queue tbody tr[data-id=\"%s\"]", id);
    return css;
}

static const char *in_row(const char *id, const char *what)
{
    static char css[192];

    snprintf(css, sizeof(css), "#queue tbody tr[data-id=\"%s\"] %s", id, what);
    return css;
}

/* The status of a fetch the page makes with its own cookie, past its buttons. */
static int page_post(const char *path)
{
    char script[512];
    cJSON *v;
    int st;

    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('%s', {method: 'POST', "
             "credentials: 'same-origin'}).then(function (r) { done(r.status); });",
             path);
    v = wd_exec_async(W, script);
    st = (int)cJSON_GetNumberValue(v);
    cJSON_Delete(v);
    return st;
}

/* P-DSR-8 in the browser: an agent sees the queue but no decision, and the API refuses the
 * approval its page makes anyway. */
static void test_agent_sees_no_decision_and_gets_403(void **state)
{
    char path[160];

    (void)state;
    pui_open_console();
    sign_in(&PA, "#queue-view");
    pui_wait_count("#queue tbody tr", 2);
    assert_int_equal(pui_count("#queue tbody button"), 0);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/approve", P.id, erase_req);
    assert_int_equal(page_post(path), 403);
    cJSON_Delete(wd_console(W)); /* the refused call's 403, logged by the browser: expected */
    /* Still waiting for the controller. */
    assert_int_equal(api_status(P.key, NULL, "requests", erase_req), 200);
    pui_sign_out();
}

/* Issue 15 item 4: an officer approves a routed erasure, acknowledges and completes it, and
 * the subject's data is gone. */
static void test_officer_approves_a_routed_erasure_and_the_data_is_gone(void **state)
{
    (void)state;
    assert_int_equal(api_status(P.key, "provide_service", "subjects", ada), 200);
    pui_open_console();
    sign_in(&P, "#queue-view");
    pui_wait_count("#queue tbody tr", 2);
    pui_wait_text(row_of(erase_req), "awaiting the controller");
    /* Pending the controller's decision: no acknowledging yet (409 in the API). */
    assert_int_equal(pui_count(in_row(erase_req, "button.ack")), 0);
    pui_shot("console-routed-erasure");
    pui_click(in_row(erase_req, "button.approve"));
    pui_wait_count(in_row(erase_req, "button.ack"), 1);
    pui_wait_text("#status", "approved");
    pui_click(in_row(erase_req, "button.ack"));
    pui_wait_count(in_row(erase_req, "button.complete"), 1);
    pui_click(in_row(erase_req, "button.complete"));
    pui_wait_text("#status", "erased");
    pui_wait_text(row_of(erase_req), "completed");
    assert_int_equal(pui_count(in_row(erase_req, "button")), 0);
    pui_shot("console-erasure-completed");
    pui_console_clean();
    pui_sign_out();
    /* P-DSR-4: read through the API, the subject and its record are gone. */
    assert_int_equal(api_status(P.key, "provide_service", "subjects", ada), 404);
    assert_int_equal(api_status(P.key, "provide_service", "records", ada_record),
                     404);
}

/* Extend and reject take a reason code from the form below the queue; a reason in free text
 * is refused on the page (the API would refuse it too: no free text is stored). */
static void test_extend_and_reject_with_a_reason(void **state)
{
    char *s;

    (void)state;
    pui_open_console();
    sign_in(&P, "#queue-view");
    pui_wait_count(in_row(access_req, "button.ack"), 1);
    pui_click(in_row(access_req, "button.ack"));
    pui_wait_count(in_row(access_req, "button.extend"), 1);
    pui_click(in_row(access_req, "button.extend"));
    assert_int_equal(wd_wait_visible(W, "#reason-form", 5000), 0);
    s = pui_text("#reason-title");
    assert_non_null(strstr(s, access_req));
    free(s);
    pui_fill("#extend-by", "30d");
    pui_fill("#reason", "complex");
    pui_shot("console-extend");
    pui_click("#reason-go");
    pui_wait_text(row_of(access_req), "extended");
    pui_wait_text("#status", "extended");
    assert_int_equal(pui_count("#reason-form:not([hidden])"), 0);
    /* Extended once: no second extension offered. */
    assert_int_equal(pui_count(in_row(access_req, "button.extend")), 0);
    pui_click(in_row(access_req, "button.reject"));
    assert_int_equal(wd_wait_visible(W, "#reason-form", 5000), 0);
    assert_int_equal(pui_count("#extend-fields:not([hidden])"), 0);
    pui_fill("#reason", "Ada asked twice");
    pui_click("#reason-go");
    pui_wait_text("#status", "reason is a code");
    pui_fill("#reason", "duplicate");
    pui_click("#reason-go");
    pui_wait_text(row_of(access_req), "rejected");
    assert_int_equal(pui_count(in_row(access_req, "button")), 0);
    pui_console_clean();
    pui_sign_out();
}

/* A name that would run script or make an element if a page ever put it in as HTML. */
#define EVIL "<script>alert(1)</script>\"><img src=x onerror=alert(2)>"

/* Alerts noted rather than shown; the page's elements made from values counted after. */
static void trap_alerts(void)
{
    cJSON_Delete(wd_exec(W, "window.__alerts = 0; window.alert = function () { "
                            "window.__alerts++; };"));
}

static void assert_inert(void)
{
    cJSON *v = wd_exec(W, "return [window.__alerts, document.images.length, "
                          "document.querySelectorAll('main script, td *:not(button)').length];");

    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0)), 0);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1)), 0);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 2)), 0);
    cJSON_Delete(v);
}

/* The numbers of the first column of a table's rows, as seen now. */
static void first_last_seq(const char *table, long *first, long *last, int *n)
{
    char script[256];
    cJSON *v;

    snprintf(script, sizeof(script),
             "var r = document.querySelectorAll('#%s tbody tr'); return r.length ? "
             "[r.length, +r[0].cells[0].textContent, +r[r.length - 1].cells[0].textContent] "
             ": [0, 0, 0];",
             table);
    v = wd_exec(W, script);
    *n = (int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0));
    *first = (long)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1));
    *last = (long)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 2));
    cJSON_Delete(v);
}

/* How many rows of the audit table have column col (0-based) other than want. */
static int audit_rows_not(int col, const char *want)
{
    char script[320];
    cJSON *v;
    int n;

    snprintf(script, sizeof(script),
             "var bad = 0; document.querySelectorAll('#audit tbody tr').forEach(function (r) { "
             "if (r.cells[%d].textContent !== '%s') bad++; }); return bad;",
             col, want);
    v = wd_exec(W, script);
    n = (int)cJSON_GetNumberValue(v);
    cJSON_Delete(v);
    return n;
}

/* Waits up to 5 s for the audit table to hold rows, each with want in column col. */
static void wait_all(int col, const char *want)
{
    wd_poll p;

    wd_poll_begin(&p, 5000);
    while ((pui_count("#audit tbody tr") == 0 || audit_rows_not(col, want)) && wd_poll_again(&p))
        ;
    if (pui_count("#audit tbody tr") == 0 || audit_rows_not(col, want) != 0)
        fail_msg("audit rows whose column %d is not %s: %d", col, want, audit_rows_not(col, want));
}

/* Filters the audit log on field alone (the other filters emptied). */
static void audit_only(const char *field, const char *value)
{
    static const char *const f[] = {"#audit-from",    "#audit-to",      "#audit-actor",
                                    "#audit-action",  "#audit-subject", "#audit-purpose"};

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        pui_fill(f[i], strcmp(f[i], field) == 0 ? value : "");
    pui_click("#audit-go");
}

/* The audit log page: the server filters (action, subject) and pages (after/limit, 50 a
 * page); Verify shows the chain intact; a hostile filter value stays text. */
static void test_audit_log_filters_pages_and_verifies(void **state)
{
    char path[160], body[160], grace[SRV_ID], rec[SRV_ID], obj[64], day[16], *s;
    long first, last, first2, last2;
    int n, n2;

    (void)state;
    /* Grace and 60 reads of her record: more than one page of record.read entries. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", P.id);
    srv_call_ok(S, "POST", path, P.agent_key, "provide_service", "{\"external_id\":\"grace\"}",
                201, grace);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/employees/records", P.id);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Grace\"}}", grace);
    srv_call_ok(S, "POST", path, P.agent_key, "provide_service", body, 201, rec);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", P.id, rec);
    for (int i = 0; i < 60; i++)
        srv_call_ok(S, "GET", path, P.agent_key, "provide_service", NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", P.id, grace);
    srv_call_ok(S, "GET", path, P.agent_key, "provide_service", NULL, 200, NULL);

    pui_open_console();
    trap_alerts();
    sign_in(&P, "#queue-view");
    pui_click("#nav button[data-view=audit-view]");
    assert_int_equal(wd_wait_visible(W, "#audit-view", 5000), 0);
    pui_wait_count("#audit tbody tr", 50);
    pui_fill("#audit-action", "record.read");
    pui_click("#audit-go");
    wait_all(3, "record.read");
    first_last_seq("audit", &first, &last, &n);
    assert_int_equal(n, 50);
    /* The next page, from the server's cursor: the other 10 reads, later in the chain. */
    pui_click("#audit-next");
    for (int i = 0; i < 100; i++) {
        first_last_seq("audit", &first2, &last2, &n2);
        if (first2 > last)
            break;
        usleep(50000);
    }
    assert_true(first2 > last);
    assert_int_equal(n2, 10);
    assert_int_equal(audit_rows_not(3, "record.read"), 0);
    pui_shot("console-audit-page-2");
    pui_click("#audit-prev");
    for (int i = 0; i < 100; i++) {
        first_last_seq("audit", &first2, &last2, &n2);
        if (first2 == first)
            break;
        usleep(50000);
    }
    assert_int_equal(first2, first);
    assert_int_equal(last2, last);
    /* The subject filter: only entries on Grace herself. */
    audit_only("#audit-subject", grace);
    snprintf(obj, sizeof(obj), "subject:%s", grace);
    wait_all(4, obj);
    /* Time: nothing from tomorrow on; everything up to today, a bare date counting whole. */
    {
        time_t now = time(NULL) + 86400;
        struct tm tm;
        strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&now, &tm));
        audit_only("#audit-from", day);
        assert_int_equal(wd_wait_visible(W, "#audit-empty", 5000), 0);
        now -= 86400;
        strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&now, &tm));
        audit_only("#audit-to", day);
        pui_wait_count("#audit tbody tr", 50);
    }
    /* Actor and purpose: the agent key's reads of Grace's record, and only those. */
    s = pui_text("#audit tbody tr:nth-child(50) td:nth-child(3)");
    audit_only("#audit-actor", s);
    wait_all(2, s);
    free(s);
    audit_only("#audit-purpose", "provide_service");
    wait_all(5, "provide_service");
    /* Verify: the chain's result in words. */
    pui_click("#audit-verify");
    pui_wait_text("#audit-verdict", "Chain intact");
    pui_shot("console-audit-verified");
    /* A hostile filter value: the API refuses it (400, its message shown as text), and the
     * rows that no longer match go. */
    audit_only("#audit-actor", EVIL);
    pui_wait_count("#audit tbody tr", 0);
    pui_wait_count("#status.error", 1);
    assert_inert();
    cJSON_Delete(wd_console(W)); /* the refused call's 400, logged by the browser: expected */
    pui_sign_out();
}

/* An auditor holds `audit` but not `data_read`: it lands on the audit log with no Requests
 * page; an agent has no Audit log page and gets 403 reading the log anyway. */
static void test_audit_page_follows_the_role(void **state)
{
    char script[320];
    cJSON *v;

    (void)state;
    pui_open_console();
    sign_in(&PU, "#audit-view");
    assert_int_equal(pui_count("#nav button[data-view=queue-view]:not([hidden])"), 0);
    pui_wait_count("#audit tbody tr", 50);
    pui_console_clean();
    pui_sign_out();
    sign_in(&PA, "#queue-view");
    assert_int_equal(pui_count("#nav button[data-view=audit-view]:not([hidden])"), 0);
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/audit', "
             "{credentials: 'same-origin'}).then(function (r) { done(r.status); });",
             P.id);
    v = wd_exec_async(W, script);
    assert_int_equal((int)cJSON_GetNumberValue(v), 403);
    cJSON_Delete(v);
    cJSON_Delete(wd_console(W));
    pui_sign_out();
}

/* A file's text; caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    s = calloc(1, (size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return s;
}

/* Binds yaml as the tenant's next policy version with key (PUT .../policy). */
static void bind_policy(const char *tenant_id, const char *key, const char *yaml)
{
    char path[128];
    cJSON *o = cJSON_CreateObject();
    char *body;

    cJSON_AddStringToObject(o, "yaml", yaml);
    body = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/policy", tenant_id);
    srv_call_ok(S, "PUT", path, key, NULL, body, 200, NULL);
    free(body);
    cJSON_Delete(o);
}

/* Optymyze's policy with text inserted after the first `after`. */
static char *optymyze_with(const char *after, const char *text)
{
    char *y = slurp("policies/optymyze.yaml"), *at = strstr(y, after), *s;
    size_t n = strlen(y) + strlen(text) + 1;

    assert_non_null(at);
    at += strlen(after);
    s = calloc(1, n);
    assert_non_null(s);
    snprintf(s, n, "%.*s%s%s", (int)(at - y), y, text, at);
    free(y);
    return s;
}

/* P-NOT-1 on the policy page: the version in force, then a material change bound by the owner
 * waits 30 days: the page shows it pending with its effective time and its diff; the owner
 * withdraws it from the page. */
static void test_policy_in_force_and_pending_with_its_diff(void **state)
{
    char *y, *s;

    (void)state;
    pui_open_console();
    sign_in(&P, "#queue-view");
    pui_click("#nav button[data-view=policy-view]");
    assert_int_equal(wd_wait_visible(W, "#policy-view", 5000), 0);
    pui_wait_text("#policy-facts", "Optymyze SPM Cloud");
    pui_wait_text("#policy-facts", "processor");
    pui_wait_text("#policy-purposes tbody", "provide_service");
    assert_int_equal(pui_count("#policy-pending:not([hidden])"), 0);
    /* A new purpose: material, scheduled for the end of the notice period. */
    y = optymyze_with("\npurposes:\n", "  training:\n    data_use: essential.service.operations\n"
                                        "    basis: contract\n    categories: [client_users]\n");
    bind_policy(P.id, P.key, y);
    free(y);
    pui_click("#nav button[data-view=queue-view]");
    assert_int_equal(wd_wait_visible(W, "#queue-view", 5000), 0);
    pui_click("#nav button[data-view=policy-view]");
    assert_int_equal(wd_wait_visible(W, "#policy-pending", 5000), 0);
    s = pui_text("#policy-pending-facts");
    assert_non_null(strstr(s, "Takes effect"));
    assert_non_null(strstr(s, "yes: it waits"));
    free(s);
    pui_wait_text("#policy-diff tbody", "training");
    pui_wait_text("#policy-diff tbody", "material");
    cJSON_Delete(wd_exec(W, "document.getElementById('policy-pending').scrollIntoView();"));
    pui_shot("console-policy-pending");
    pui_click("#policy-withdraw");
    pui_wait_text("#status", "withdrawn");
    pui_wait_count("#policy-pending:not([hidden])", 0);
    pui_console_clean();
    pui_sign_out();
}

/* A tenant with no policy reads so; a policy whose name holds markup shows it as text. */
static void test_policy_none_then_a_hostile_name_renders_as_text(void **state)
{
    char *y, *s;

    (void)state;
    pui_open_console();
    trap_alerts();
    sign_in(&E, "#queue-view");
    pui_click("#nav button[data-view=policy-view]");
    assert_int_equal(wd_wait_visible(W, "#policy-none", 5000), 0);
    cJSON_Delete(wd_console(W)); /* GET .../policy: 404, logged by the browser: expected */
    y = optymyze_with("\nname: ", "\"<script>alert(1)</script>\\\"><img src=x onerror=alert(2)>\" # ");
    bind_policy(E.id, E.key, y);
    free(y);
    pui_click("#nav button[data-view=queue-view]");
    assert_int_equal(wd_wait_visible(W, "#queue-view", 5000), 0);
    pui_click("#nav button[data-view=policy-view]");
    assert_int_equal(wd_wait_visible(W, "#policy-facts", 5000), 0);
    pui_wait_text("#policy-facts", "onerror");
    s = pui_text("#policy-facts dd");
    assert_string_equal(s, EVIL);
    free(s);
    assert_int_equal(pui_count("#policy-facts *:not(dt):not(dd)"), 0);
    assert_inert();
    pui_console_clean();
    pui_sign_out();
}

/* The data-id of the row of table whose first cell reads name; caller frees. */
static char *row_id(const char *table, const char *name)
{
    char script[320];
    cJSON *v;
    char *s;

    snprintf(script, sizeof(script),
             "var id = ''; document.querySelectorAll('#%s tbody tr').forEach(function (r) { "
             "if (r.cells[0].textContent === '%s') id = r.dataset.id; }); return id;",
             table, name);
    v = wd_exec(W, script);
    s = strdup(cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");
    cJSON_Delete(v);
    return s;
}

static void open_access(void)
{
    pui_click("#nav button[data-view=access-view]");
    assert_int_equal(wd_wait_visible(W, "#access-view", 5000), 0);
}

/* Clicks a two-step button: the first click arms it, the second acts. */
static void click_twice(const char *css)
{
    char script[256];
    cJSON *v;

    pui_click(css);
    pui_wait_text(css, "Confirm");
    /* A screen reader hears the armed state too. */
    snprintf(script, sizeof(script), "return document.querySelector('%s').getAttribute("
             "'aria-label');", css);
    v = wd_exec(W, script);
    assert_non_null(strstr(cJSON_GetStringValue(v), "Confirm: "));
    cJSON_Delete(v);
    pui_click(css);
}

/* P-ACC-3 in the console: the owner makes an API key and sees its secret once (in no storage,
 * gone when the page is left), the key works, then revokes it and it no longer does; makes a
 * user who signs in, then deletes it. A hostile key name renders as text. */
static void test_owner_makes_and_revokes_keys_and_users(void **state)
{
    char path[128], css[160], secret[256], *s, *id;
    ten nu;
    cJSON *v;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", P.id);
    srv_call_ok(S, "POST", path, P.key, NULL,
                "{\"name\":\"<script>alert(1)</script>\\\"><img src=x onerror=alert(2)>\","
                "\"role\":\"analyst\"}",
                201, NULL);
    pui_open_console();
    trap_alerts();
    sign_in(&P, "#queue-view");
    open_access();
    pui_wait_count("#users tbody tr", 4); /* owner, agent, auditor and admin of P */
    pui_wait_count("#keys tbody tr", 3);  /* the first owner key, the backend's, the hostile one */
    s = row_id("keys", EVIL);
    assert_true(s[0] != '\0');
    free(s);
    assert_inert();
    /* A key for the CRM: its secret once. */
    pui_fill("#key-name", "crm");
    cJSON_Delete(wd_exec(W, "document.getElementById('key-role').value = 'agent';"));
    pui_click("#key-go");
    assert_int_equal(wd_wait_visible(W, "#key-secret", 5000), 0);
    s = pui_text("#key-secret-value");
    assert_true(strlen(s) > 20 && strlen(s) < sizeof(secret));
    snprintf(secret, sizeof(secret), "%s", s);
    free(s);
    pui_wait_count("#keys tbody tr", 4);
    /* The form comes back to agent, never to the widest role. */
    v = wd_exec(W, "return document.getElementById('key-role').value;");
    assert_string_equal(cJSON_GetStringValue(v), "agent");
    cJSON_Delete(v);
    pui_shot("console-key-secret");
    assert_int_equal(api_status(secret, NULL, "requests", ""), 200);
    v = wd_exec(W, "return JSON.stringify(sessionStorage) + JSON.stringify(localStorage);");
    assert_null(strstr(cJSON_GetStringValue(v), secret));
    cJSON_Delete(v);
    /* Leaving the page forgets it. */
    pui_click("#nav button[data-view=policy-view]");
    assert_int_equal(wd_wait_visible(W, "#policy-view", 5000), 0);
    open_access();
    assert_int_equal(pui_count("#key-secret:not([hidden])"), 0);
    s = pui_text("#key-secret-value");
    assert_string_equal(s, "");
    free(s);
    /* Revoked from the page: the secret no longer opens anything. */
    id = row_id("keys", "crm");
    snprintf(css, sizeof(css), "#keys tbody tr[data-id=\"%s\"] button.revoke", id);
    click_twice(css);
    snprintf(css, sizeof(css), "#keys tbody tr[data-id=\"%s\"]", id);
    pui_wait_text(css, "revoked");
    free(id);
    assert_int_equal(api_status(secret, NULL, "requests", ""), 401);
    /* A new analyst user, who signs in (and lands on the one page an analyst has here). */
    nu = P;
    snprintf(nu.email, sizeof(nu.email), "new.analyst@customer.example");
    snprintf(nu.password, sizeof(nu.password), "a long first password");
    pui_fill("#user-email", nu.email);
    pui_fill("#user-password", nu.password);
    cJSON_Delete(wd_exec(W, "document.getElementById('user-role').value = 'analyst';"));
    pui_click("#user-go");
    pui_wait_count("#users tbody tr", 5);
    pui_wait_text("#status", "created as analyst");
    pui_shot("console-users-keys");
    pui_console_clean();
    pui_sign_out();
    sign_in(&nu, "#policy-view");
    /* Policy and Your account: the two pages of `self`, an analyst's only permission here. */
    assert_int_equal(pui_count("#nav button:not([hidden])"), 2);
    assert_int_equal(pui_count("#nav button[data-view=account-view]:not([hidden])"), 1);
    pui_sign_out();
    sign_in(&P, "#queue-view");
    open_access();
    id = row_id("users", nu.email);
    snprintf(css, sizeof(css), "#users tbody tr[data-id=\"%s\"] button.delete", id);
    free(id);
    click_twice(css);
    pui_wait_count("#users tbody tr", 4);
    pui_wait_text("#status", "deleted");
    pui_console_clean();
    pui_sign_out();
}

/* P-ACC-1: an admin is offered only the roles it may grant and no delete on an owner or an
 * auditor; an agent has no such page and gets 403 listing users anyway. */
static void test_admin_grants_less_agent_has_no_page(void **state)
{
    char script[320], *id, css[160];
    cJSON *v;

    (void)state;
    pui_open_console();
    sign_in(&PD, "#queue-view");
    open_access();
    pui_wait_count("#users tbody tr", 4);
    v = wd_exec(W, "return Array.prototype.map.call(document.getElementById('user-role')"
                   ".options, function (o) { return o.value; }).join(',');");
    assert_string_equal(cJSON_GetStringValue(v), "admin,agent,analyst");
    cJSON_Delete(v);
    id = row_id("users", P.email);
    snprintf(css, sizeof(css), "#users tbody tr[data-id=\"%s\"] button", id);
    free(id);
    assert_int_equal(pui_count(css), 0);
    id = row_id("users", PU.email);
    snprintf(css, sizeof(css), "#users tbody tr[data-id=\"%s\"] button", id);
    free(id);
    assert_int_equal(pui_count(css), 0);
    id = row_id("users", PA.email);
    snprintf(css, sizeof(css), "#users tbody tr[data-id=\"%s\"] button.delete", id);
    free(id);
    assert_int_equal(pui_count(css), 1);
    pui_console_clean();
    pui_sign_out();
    sign_in(&PA, "#queue-view");
    assert_int_equal(pui_count("#nav button[data-view=access-view]:not([hidden])"), 0);
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/users', "
             "{credentials: 'same-origin'}).then(function (r) { done(r.status); });",
             P.id);
    v = wd_exec_async(W, script);
    assert_int_equal((int)cJSON_GetNumberValue(v), 403);
    cJSON_Delete(v);
    cJSON_Delete(wd_console(W));
    pui_sign_out();
}

/* The id of the element with focus, else its class, else its text ("" for the body); caller
 * frees. Not pui_focused: an element with neither id nor class must not read as the body. */
static char *focused(void)
{
    cJSON *v = wd_exec(W, "var e = document.activeElement; return e === document.body ? '' : "
                          "e.id || e.className || e.textContent;");
    char *s = strdup(cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");

    cJSON_Delete(v);
    return s;
}

/* The queue's actions from the keyboard: Enter on Reject… moves the focus to the reason,
 * Enter there rejects, and the focus lands on a button again, not on the page's body. */
static void test_reject_from_the_keyboard(void **state)
{
    char path[128], body[160], id[SRV_ID], hedy[SRV_ID], script[192], *s;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", P.id);
    srv_call_ok(S, "POST", path, P.agent_key, "provide_service", "{\"external_id\":\"hedy\"}",
                201, hedy);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", P.id);
    snprintf(body, sizeof(body),
             "{\"type\":\"export\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", hedy);
    srv_call_ok(S, "POST", path, P.key, NULL, body, 201, id);
    pui_open_console();
    sign_in(&P, "#queue-view");
    pui_wait_count(in_row(id, "button.reject"), 1);
    /* A form left open does not outlive the session. */
    pui_click(in_row(id, "button.reject"));
    assert_int_equal(wd_wait_visible(W, "#reason-form", 5000), 0);
    pui_sign_out();
    sign_in(&P, "#queue-view");
    assert_int_equal(pui_count("#reason-form:not([hidden])"), 0);
    pui_wait_count(in_row(id, "button.reject"), 1);
    snprintf(script, sizeof(script), "document.querySelector('%s').focus();",
             in_row(id, "button.reject"));
    cJSON_Delete(wd_exec(W, script));
    wd_type(W, WD_ENTER);
    assert_int_equal(wd_wait_visible(W, "#reason-form", 5000), 0);
    s = focused();
    assert_string_equal(s, "reason");
    free(s);
    wd_type(W, "duplicate");
    wd_type(W, WD_ENTER);
    pui_wait_text(row_of(id), "rejected");
    pui_wait_count("#reason-form:not([hidden])", 0);
    s = focused();
    assert_true(strcmp(s, "") != 0);
    free(s);
    pui_console_clean();
    pui_sign_out();
}

/* Neither the page nor any table's box scrolls sideways (a phone stacks the rows). */
static void assert_no_horizontal_scroll(const char *page)
{
    cJSON *v = wd_exec(W, "var d = document.documentElement, m = d.scrollWidth - d.clientWidth;"
                          " document.querySelectorAll('.scroll').forEach(function (q) { if "
                          "(q.offsetParent) m = Math.max(m, q.scrollWidth - q.clientWidth); });"
                          " return m;");

    if (cJSON_GetNumberValue(v) > 0)
        fail_msg("%s scrolls sideways by %g px", page, cJSON_GetNumberValue(v));
    cJSON_Delete(v);
}

/* Every page at a phone's 360 pixels, with its data in. */
static void test_phone_width_every_page(void **state)
{
    static const char *const pages[] = {"queue-view", "audit-view", "policy-view", "access-view"};
    char css[96];

    (void)state;
    wd_window(W, 360, 740);
    pui_open_console();
    sign_in(&P, "#queue-view");
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        snprintf(css, sizeof(css), "#nav button[data-view=%s]", pages[i]);
        pui_click(css);
        snprintf(css, sizeof(css), "#%s", pages[i]);
        assert_int_equal(wd_wait_visible(W, css, 5000), 0);
        assert_no_horizontal_scroll(pages[i]);
        if (strcmp(pages[i], "audit-view") == 0)
            pui_shot("console-phone-audit");
    }
    pui_console_clean();
    pui_sign_out();
    wd_window(W, 1280, 900);
}

int ui_group_console(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_sees_no_decision_and_gets_403),
        cmocka_unit_test(test_officer_approves_a_routed_erasure_and_the_data_is_gone),
        cmocka_unit_test(test_extend_and_reject_with_a_reason),
        cmocka_unit_test(test_audit_log_filters_pages_and_verifies),
        cmocka_unit_test(test_audit_page_follows_the_role),
        cmocka_unit_test(test_policy_in_force_and_pending_with_its_diff),
        cmocka_unit_test(test_policy_none_then_a_hostile_name_renders_as_text),
        cmocka_unit_test(test_owner_makes_and_revokes_keys_and_users),
        cmocka_unit_test(test_admin_grants_less_agent_has_no_page),
        cmocka_unit_test(test_reject_from_the_keyboard),
        cmocka_unit_test(test_phone_width_every_page),
    };

    return cmocka_run_group_tests_name("the console's pages in a browser", tests, setup,
                                       NULL);
}
