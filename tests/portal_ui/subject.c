/*
 * subject.c: the admin console's subject page in a real browser (docs/portal.md, issue 15 item 3):
 * headless Chromium driven over W3C WebDriver (tests/helpers/webdriver.c) against the real HTTPS
 * server the binary shares among its groups (a group of test_portal_ui, tests/portal_ui/ui.h: the
 * browser is the binary's too).
 *
 * An owner looks a subject up by its external id, stating a purpose: the page shows its records
 * with every value hidden (none is even fetched), its consent ledger, its requests and who accessed
 * it; revealing a record reads it with that purpose, which the audit log then names; a legal hold
 * is placed and lifted from the page, and the erasure it stops is refused meanwhile. An agent sees
 * no hold controls (the API refuses them anyway) and is told it does not read the audit log. A
 * hostile value renders as text; at phone width nothing scrolls sideways; no page writes an error
 * to the console. Screenshots go to $CUSTOS_SCREENSHOTS (default build/test/screenshots;
 * docs/portal/ for the pictures of docs/portal.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portal_ui.h"
#include "srv.h"
#include "th.h"
#include "ui.h"

/* A value that would run script or make an element if the page ever put it in as HTML. */
#define EVIL "<img src=x onerror=alert(1)>"

static srv *S; /* the shared server (ui.h) */
typedef struct who {
    char email[64], password[64];
} who;
static char T[SRV_ID], KEY[128], ADA[SRV_ID], REC[SRV_ID], REQ[SRV_ID];
static who OWNER, AGENT;
static wd *W;

static void user(who *u, const char *email, const char *role)
{
    char path[128], body[256];

    snprintf(u->email, sizeof(u->email), "%s", email);
    snprintf(u->password, sizeof(u->password), "pw of %s, long enough", email);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", T);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}",
             u->email, u->password, role);
    srv_call_ok(S, "POST", path, KEY, NULL, body, 201, NULL);
}

static int setup(void **state)
{
    char path[160], body[256];
    srv_resp r;
    cJSON *o;

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    S = ui_server();
    assert_int_equal(srv_call(S, "POST", "/v1/tenants", S->operator_key, NULL,
                              "{\"name\":\"Acme\",\"policy\":\"scm\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    o = cJSON_Parse(r.body);
    snprintf(T, sizeof(T), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    snprintf(KEY, sizeof(KEY), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "owner_api_key"),
                                                      "secret")));
    cJSON_Delete(o);
    srv_resp_free(&r);
    user(&OWNER, "officer@acme.example", "owner");
    user(&AGENT, "agent@acme.example", "agent");
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T);
    srv_call_ok(S, "POST", path, KEY, "provide_service",
                "{\"external_id\":\"ada-42\",\"email\":\"ada@example.org\"}", 201, ADA);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/contacts/records", T);
    snprintf(body, sizeof(body),
             "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Ada Lovelace\",\"notes\":\"%s\","
             "\"company\":\"Engines Ltd\"}}",
             ADA, EVIL);
    srv_call_ok(S, "POST", path, KEY, "provide_service", body, 201, REC);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", T, ADA);
    srv_call_ok(S, "POST", path, KEY, NULL,
                "{\"purpose\":\"shared_on_request\",\"action\":\"grant\"}", 201, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", T);
    snprintf(body, sizeof(body),
             "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", ADA);
    srv_call_ok(S, "POST", path, KEY, NULL, body, 201, REQ);
    pui_bind(W, S->base);
    return 0;
}

/* This page's waits read the rendered text and allow 10 s (the console's other pages, 5). */
static void wait_seen(const char *css, const char *want)
{
    pui_wait_seen(css, want, 10000);
}

/* Signs u in and opens the subject page, its purposes loaded. */
static void sign_in(const who *u)
{
    wd_poll p;

    pui_open_console();
    pui_sign_in(T, u->email, u->password, "#nav button[data-view=subject-view]");
    pui_click("#nav button[data-view=subject-view]");
    assert_int_equal(wd_wait_visible(W, "#subject-view", 10000), 0);
    /* The purposes come from the policy in force, read once the form is first used. */
    pui_click("#subject-q");
    wd_poll_begin(&p, 10000);
    while (pui_count("#subject-purpose option") == 0 && wd_poll_again(&p))
        ;
    if (pui_count("#subject-purpose option") == 0) {
        char *st = pui_seen("#status");
        cJSON *v = wd_exec(W, "return document.activeElement.id;");
        fail_msg("no purpose to choose (status: %s, focus: %s)", st, cJSON_GetStringValue(v));
    }
}

/* Looks ada up by its external id, for support. */
static void look_up(void)
{
    cJSON_Delete(wd_exec(W, "document.getElementById('subject-by').value = 'external_id';"
                            "document.getElementById('subject-purpose').value = 'support';"));
    pui_fill("#subject-q", "ada-42");
    pui_click("#subject-go");
    assert_int_equal(wd_wait_visible(W, "#subject-found", 10000), 0);
    wait_seen("#status", "looked up for support");
}

/* The audit entries of T's log with object and action, as the API answers them. */
static int audit_count(const char *object, const char *action, const char *purpose)
{
    char path[256];
    srv_resp r;
    cJSON *o, *e;
    int n = 0;

    snprintf(path, sizeof(path), "/v1/tenants/%s/audit?object=%s&action=%s", T, object, action);
    assert_int_equal(srv_call(S, "GET", path, KEY, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    o = cJSON_Parse(r.body);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(o, "entries"))
    {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(e, "purpose"));
        const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(e, "actor"));
        n += (purpose == NULL || strcmp(p, purpose) == 0) && strncmp(a, "user:", 5) == 0;
    }
    cJSON_Delete(o);
    srv_resp_free(&r);
    return n;
}

static void test_owner_looks_a_subject_up_with_values_hidden(void **state)
{
    char object[64], *s;
    cJSON *v;

    (void)state;
    sign_in(&OWNER);
    look_up();
    s = pui_seen("#subject-heading");
    assert_non_null(strstr(s, ADA));
    free(s);
    /* The record is listed, its values hidden: not in the page, not even fetched. */
    assert_int_equal(pui_count("#subject-records li"), 1);
    s = pui_seen("#subject-records");
    assert_non_null(strstr(s, REC));
    assert_non_null(strstr(s, "Values hidden"));
    free(s);
    v = wd_exec(W, "return document.body.innerHTML.indexOf('Lovelace') < 0 && "
                   "document.body.innerHTML.indexOf('ada@example.org') < 0;");
    assert_true(cJSON_IsTrue(v));
    cJSON_Delete(v);
    snprintf(object, sizeof(object), "record:%s", REC);
    assert_int_equal(audit_count(object, "record.read", NULL), 0);
    /* The consent ledger, the request, who accessed it (the look-up's own reads among them). */
    wait_seen("#subject-consents tbody", "shared_on_request");
    wait_seen("#subject-consents tbody", "grant");
    wait_seen("#subject-requests tbody", REQ);
    wait_seen("#subject-requests tbody", "access");
    wait_seen("#subject-audit tbody", "consent.list");
    /* The consent's own entry, on "subject:<id>:grant:...": the subject index has it. */
    wait_seen("#subject-audit tbody", "consent.record");
    snprintf(object, sizeof(object), "subject:%s:grant:", ADA);
    wait_seen("#subject-audit tbody", object);
    s = pui_seen("#subject-audit tbody");
    assert_non_null(strstr(s, "support"));
    free(s);
    assert_int_equal(pui_count("#hold-form:not([hidden])"), 1);
    cJSON_Delete(wd_exec(W, "document.getElementById('subject-heading').scrollIntoView();"));
    pui_shot("console-subject");
    pui_console_clean();
}

static void test_reveal_reads_with_the_purpose_and_is_audited(void **state)
{
    char css[64], object[64], *s;
    cJSON *v;

    (void)state;
    snprintf(css, sizeof(css), "#record-%s", REC);
    snprintf(object, sizeof(object), "record:%s", REC);
    pui_click("#subject-records button.reveal");
    wait_seen(css, "Lovelace");
    s = pui_seen(css);
    assert_non_null(strstr(s, "contacts"));
    assert_non_null(strstr(s, "Engines Ltd"));
    assert_non_null(strstr(s, EVIL)); /* as text */
    free(s);
    /* The hostile value made no element. */
    v = wd_exec(W, "return [document.images.length, "
                   "document.querySelectorAll('#subject-records img').length];");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0)), 0);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1)), 0);
    cJSON_Delete(v);
    /* The API's own read, audited with the stated purpose, by the signed-in user. */
    assert_int_equal(audit_count(object, "record.read", "support"), 1);
    wait_seen("#subject-audit tbody", "record.read");
    pui_click("#subject-reveal-profile");
    wait_seen("#subject-profile", "ada@example.org");
    cJSON_Delete(wd_exec(W, "document.getElementById('subject-heading').scrollIntoView();"));
    pui_shot("console-subject-revealed");
    pui_console_clean();
}

static void test_owner_places_and_lifts_a_legal_hold(void **state)
{
    char path[160];
    srv_resp r;

    (void)state;
    pui_click("#hold-place"); /* no reason: refused by the page, nothing sent */
    wait_seen("#status", "with a reason");
    pui_fill("#hold-reason", "litigation 2026-17");
    pui_click("#hold-place");
    wait_seen("#subject-holds tbody", "litigation 2026-17");
    wait_seen("#subject-holds tbody", "in force");
    /* The hold stops the erasure (P-RET-5). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T, ADA);
    assert_int_equal(srv_call(S, "DELETE", path, KEY, "support", NULL, &r), 0);
    assert_int_equal(r.status, 409);
    srv_resp_free(&r);
    cJSON_Delete(wd_exec(W, "document.getElementById('subject-holds').scrollIntoView();"));
    pui_shot("console-subject-hold");
    pui_fill("#hold-reason", "settled");
    pui_click("#subject-holds button.lift");
    wait_seen("#subject-holds tbody", "lifted");
    assert_int_equal(pui_count("#subject-holds button.lift"), 0);
    /* Not in "Who accessed it": hold entries carry no subject, so the subject's own export,
     * which reads the same index, does not disclose a legal hold (src/core/hold.c). */
    pui_console_clean();
    pui_sign_out();
    /* Signed out, the page keeps nothing of the subject. */
    assert_int_equal(pui_count("#subject-view:not([hidden])"), 0);
    assert_int_equal(pui_count("#subject-found:not([hidden])"), 0);
}

/* An agent (data_read and data_write, no data_erase, no audit): no hold controls, and the
 * same call made from its page anyway is refused by the API; the accesses say it does not
 * read the log. */
static void test_agent_sees_no_hold_controls(void **state)
{
    char script[512];
    cJSON *v;

    (void)state;
    sign_in(&AGENT);
    look_up();
    assert_int_equal(pui_count("#hold-form:not([hidden])"), 0);
    assert_int_equal(pui_count("#subject-holds button.lift"), 0);
    wait_seen("#subject-audit-none", "does not read the audit log");
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/holds', "
             "{method: 'POST', credentials: 'same-origin', headers: {'Content-Type': "
             "'application/json'}, body: JSON.stringify({subject_id: '%s', reason: 'x'})})"
             ".then(function (r) { done(r.status); });",
             T, ADA);
    v = wd_exec_async(W, script);
    assert_int_equal((int)cJSON_GetNumberValue(v), 403);
    cJSON_Delete(v);
    /* The page does not ask for the log for an agent; asked anyway, the API refuses it. */
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/audit', "
             "{credentials: 'same-origin'}).then(function (r) { done(r.status); });",
             T);
    v = wd_exec_async(W, script);
    assert_int_equal((int)cJSON_GetNumberValue(v), 403);
    cJSON_Delete(v);
    cJSON_Delete(wd_console(W)); /* the refused calls' 403s, logged by the browser: expected */
    pui_sign_out();
}

/* The id of the element with focus; caller frees. The id alone, where pui_focused falls back
 * to the class: every stop of this page's keyboard path has an id. */
static char *focused(void)
{
    cJSON *v = wd_exec(W, "return document.activeElement.id;");
    char *s = strdup(cJSON_IsString(v) ? cJSON_GetStringValue(v) : "");

    cJSON_Delete(v);
    return s;
}

static void expect_focus(const char *want)
{
    char *s = focused();
    int ok = strcmp(s, want) == 0;

    if (!ok)
        print_error("focus on \"%s\", expected \"%s\"\n", s, want);
    free(s);
    assert_true(ok);
}

/* The look-up from the keyboard alone: the nav button leads to the section, Tab goes find-by,
 * subject, purpose, button in that order, Enter looks up, Tab reaches Reveal; every input and
 * select of the section has one label with text. */
static void test_keyboard_alone_looks_a_subject_up(void **state)
{
    cJSON *v;

    (void)state;
    sign_in(&OWNER);
    cJSON_Delete(wd_exec(W, "document.querySelector('#nav button[data-view=subject-view]')"
                           ".focus();"));
    wd_type(W, WD_ENTER);
    for (int i = 0; i < 40; i++) {
        char *s = focused();
        int there = strcmp(s, "subject-view") == 0;
        free(s);
        if (there)
            break;
        usleep(50000);
    }
    expect_focus("subject-view");
    wd_type(W, WD_TAB);
    expect_focus("subject-by");
    wd_type(W, WD_TAB);
    expect_focus("subject-q");
    wd_type(W, ADA);
    wd_type(W, WD_TAB);
    expect_focus("subject-purpose");
    wd_type(W, WD_TAB);
    expect_focus("subject-go");
    wd_type(W, WD_ENTER);
    assert_int_equal(wd_wait_visible(W, "#subject-found", 10000), 0);
    wait_seen("#subject-heading", ADA);
    wd_type(W, WD_TAB);
    expect_focus("subject-reveal-profile");
    v = wd_exec(W, "var bad = 0; document.querySelectorAll('#subject-view input, #subject-view "
                   "select').forEach(function (i) { if (!i.labels || i.labels.length !== 1 || "
                   "!i.labels[0].textContent.trim()) bad++; }); return bad;");
    assert_int_equal((int)cJSON_GetNumberValue(v), 0);
    cJSON_Delete(v);
    pui_console_clean();
    pui_sign_out();
}

static void test_phone_width_has_no_horizontal_scroll(void **state)
{
    cJSON *v;

    (void)state;
    wd_window(W, 360, 740);
    sign_in(&OWNER);
    look_up();
    wait_seen("#subject-audit tbody", "support");
    cJSON_Delete(wd_exec(W, "document.getElementById('subject-heading').scrollIntoView();"));
    v = wd_exec(W, "var d = document.documentElement, m = 0; document.querySelectorAll("
                   "'#subject-view .scroll').forEach(function (q) { m = Math.max(m, "
                   "q.scrollWidth - q.clientWidth); }); return [window.innerWidth, "
                   "Math.max(d.scrollWidth - d.clientWidth, m)];");
    assert_true(cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0)) <= 400);
    assert_true(cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1)) <= 0);
    cJSON_Delete(v);
    pui_shot("console-subject-phone");
    pui_console_clean();
    pui_sign_out();
    wd_window(W, 1280, 900);
}

int ui_group_subject(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_looks_a_subject_up_with_values_hidden),
        cmocka_unit_test(test_reveal_reads_with_the_purpose_and_is_audited),
        cmocka_unit_test(test_owner_places_and_lifts_a_legal_hold),
        cmocka_unit_test(test_agent_sees_no_hold_controls),
        cmocka_unit_test(test_keyboard_alone_looks_a_subject_up),
        cmocka_unit_test(test_phone_width_has_no_horizontal_scroll),
    };

    return cmocka_run_group_tests_name("the console's subject page in a browser", tests, setup,
                                       NULL);
}
