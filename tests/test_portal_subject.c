/*
 * test_portal_subject.c: the admin console's subject page in a real browser (docs/portal.md,
 * issue 15 item 3): headless Chromium driven over W3C WebDriver (tests/helpers/webdriver.c)
 * against the real HTTPS server, both started here on free loopback ports and stopped by pid.
 *
 * An owner looks a subject up by its external id, stating a purpose: the page shows its records
 * with every value hidden (none is even fetched), its consent ledger, its requests and who
 * accessed it; revealing a record reads it with that purpose, which the audit log then names; a
 * legal hold is placed and lifted from the page, and the erasure it stops is refused meanwhile.
 * An agent sees no hold controls (the API refuses them anyway) and is told it does not read the
 * audit log. A hostile value renders as text; at phone width nothing scrolls sideways; no page
 * writes an error to the console. Screenshots go to $CUSTOS_SCREENSHOTS (default
 * build/test/screenshots; docs/portal/ for the pictures of docs/portal.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "srv.h"
#include "th.h"
#include "webdriver.h"

/* A value that would run script or make an element if the page ever put it in as HTML. */
#define EVIL "<img src=x onerror=alert(1)>"

static srv S;
typedef struct who {
    char email[64], password[64];
} who;
static char T[SRV_ID], KEY[128], ADA[SRV_ID], REC[SRV_ID], REQ[SRV_ID];
static who OWNER, AGENT;
static wd W;

static void user(who *u, const char *email, const char *role)
{
    char path[128], body[256];

    snprintf(u->email, sizeof(u->email), "%s", email);
    snprintf(u->password, sizeof(u->password), "pw of %s, long enough", email);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", T);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}",
             u->email, u->password, role);
    srv_call_ok(&S, "POST", path, KEY, NULL, body, 201, NULL);
}

static int setup(void **state)
{
    char path[160], body[256];
    srv_resp r;
    cJSON *o;

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if (!wd_available()) {
        print_error("chromium and chromedriver are needed: run make deps\n");
        return -1;
    }
    srv_start(&S, NULL);
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
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
    srv_call_ok(&S, "POST", path, KEY, "provide_service",
                "{\"external_id\":\"ada-42\",\"email\":\"ada@example.org\"}", 201, ADA);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/contacts/records", T);
    snprintf(body, sizeof(body),
             "{\"subject_id\":\"%s\",\"data\":{\"name\":\"Ada Lovelace\",\"notes\":\"%s\","
             "\"company\":\"Engines Ltd\"}}",
             ADA, EVIL);
    srv_call_ok(&S, "POST", path, KEY, "provide_service", body, 201, REC);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", T, ADA);
    srv_call_ok(&S, "POST", path, KEY, NULL,
                "{\"purpose\":\"shared_on_request\",\"action\":\"grant\"}", 201, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", T);
    snprintf(body, sizeof(body),
             "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", ADA);
    srv_call_ok(&S, "POST", path, KEY, NULL, body, 201, REQ);
    wd_start(&W, 1280, 900);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    wd_stop(&W);
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

static void shot(const char *name)
{
    const char *dir = getenv("CUSTOS_SCREENSHOTS");
    char path[512];

    if (dir == NULL || dir[0] == '\0') {
        dir = "build/test/screenshots";
        mkdir("build/test", 0755);
        mkdir(dir, 0755);
    }
    snprintf(path, sizeof(path), "%s/%s.png", dir, name);
    wd_screenshot(&W, path);
}

/* Fails on any error the page wrote to the browser console since the last look. */
static void assert_console_clean(void)
{
    cJSON *log = wd_console(&W), *e;

    cJSON_ArrayForEach(e, log)
    {
        const char *level = cJSON_GetStringValue(cJSON_GetObjectItem(e, "level"));
        if (level != NULL && strcmp(level, "SEVERE") == 0)
            fail_msg("browser console: %s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")));
    }
    cJSON_Delete(log);
}

static int count(const char *css)
{
    char script[256];
    cJSON *v;
    int n;

    snprintf(script, sizeof(script), "return document.querySelectorAll('%s').length;", css);
    v = wd_exec(&W, script);
    n = (int)cJSON_GetNumberValue(v);
    cJSON_Delete(v);
    return n;
}

/* The rendered text of the element at css, read in one script; "" if none. Caller frees. */
static char *text_of(const char *css)
{
    char script[256];
    cJSON *v;
    char *s;

    snprintf(script, sizeof(script),
             "var e = document.querySelector('%s'); return e ? e.innerText : '';", css);
    v = wd_exec(&W, script);
    s = strdup(cJSON_IsString(v) ? cJSON_GetStringValue(v) : "");
    cJSON_Delete(v);
    return s;
}

/* Waits up to 10 s for the element at css to hold want in its text. */
static void wait_text(const char *css, const char *want)
{
    char *s = NULL;

    for (int i = 0; i < 200; i++) {
        free(s);
        s = text_of(css);
        if (strstr(s, want) != NULL)
            break;
        usleep(50000);
    }
    if (strstr(s, want) == NULL) {
        char *st = text_of("#status");
        fail_msg("%s reads \"%s\", not \"%s\" (status: %s)", css, s, want, st);
    }
    free(s);
}

static void click(const char *css)
{
    char eid[WD_EID];

    assert_int_equal(wd_find(&W, css, eid), 0);
    wd_click(&W, eid);
}

static void fill(const char *css, const char *text)
{
    char eid[WD_EID];

    assert_int_equal(wd_find(&W, css, eid), 0);
    wd_clear(&W, eid);
    wd_keys(&W, eid, text);
}

static void sign_in(const who *u)
{
    char url[128];

    snprintf(url, sizeof(url), "%s/portal/console.html", S.base);
    wd_get(&W, url);
    cJSON_Delete(wd_exec(&W, "sessionStorage.clear();"));
    wd_get(&W, url);
    assert_int_equal(wd_wait_visible(&W, "#login", 5000), 0);
    fill("#tenant", T);
    fill("#email", u->email);
    fill("#password", u->password);
    click("#signin");
    assert_int_equal(wd_wait_visible(&W, "#nav button[data-view=subject-view]", 10000), 0);
    click("#nav button[data-view=subject-view]");
    assert_int_equal(wd_wait_visible(&W, "#subject-view", 10000), 0);
    /* The purposes come from the policy in force, read once the form is first used. */
    click("#subject-q");
    for (int i = 0; i < 200 && count("#subject-purpose option") == 0; i++)
        usleep(50000);
    if (count("#subject-purpose option") == 0) {
        char *st = text_of("#status");
        cJSON *v = wd_exec(&W, "return document.activeElement.id;");
        fail_msg("no purpose to choose (status: %s, focus: %s)", st, cJSON_GetStringValue(v));
    }
}

static void sign_out(void)
{
    click("#logout");
    assert_int_equal(wd_wait_visible(&W, "#login", 5000), 0);
}

/* Looks ada up by its external id, for support. */
static void look_up(void)
{
    cJSON_Delete(wd_exec(&W, "document.getElementById('subject-by').value = 'external_id';"
                             "document.getElementById('subject-purpose').value = 'support';"));
    fill("#subject-q", "ada-42");
    click("#subject-go");
    assert_int_equal(wd_wait_visible(&W, "#subject-found", 10000), 0);
    wait_text("#status", "looked up for support");
}

/* The audit entries of T's log with object and action, as the API answers them. */
static int audit_count(const char *object, const char *action, const char *purpose)
{
    char path[256];
    srv_resp r;
    cJSON *o, *e;
    int n = 0;

    snprintf(path, sizeof(path), "/v1/tenants/%s/audit?object=%s&action=%s", T, object, action);
    assert_int_equal(srv_call(&S, "GET", path, KEY, NULL, NULL, &r), 0);
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
    s = text_of("#subject-heading");
    assert_non_null(strstr(s, ADA));
    free(s);
    /* The record is listed, its values hidden: not in the page, not even fetched. */
    assert_int_equal(count("#subject-records li"), 1);
    s = text_of("#subject-records");
    assert_non_null(strstr(s, REC));
    assert_non_null(strstr(s, "Values hidden"));
    free(s);
    v = wd_exec(&W, "return document.body.innerHTML.indexOf('Lovelace') < 0 && "
                    "document.body.innerHTML.indexOf('ada@example.org') < 0;");
    assert_true(cJSON_IsTrue(v));
    cJSON_Delete(v);
    snprintf(object, sizeof(object), "record:%s", REC);
    assert_int_equal(audit_count(object, "record.read", NULL), 0);
    /* The consent ledger, the request, who accessed it (the look-up's own reads among them). */
    wait_text("#subject-consents tbody", "shared_on_request");
    wait_text("#subject-consents tbody", "grant");
    wait_text("#subject-requests tbody", REQ);
    wait_text("#subject-requests tbody", "access");
    wait_text("#subject-audit tbody", "consent.list");
    /* The consent's own entry, on "subject:<id>:grant:...": found by the object's prefix. */
    wait_text("#subject-audit tbody", "consent.record");
    snprintf(object, sizeof(object), "subject:%s:grant:", ADA);
    wait_text("#subject-audit tbody", object);
    s = text_of("#subject-audit tbody");
    assert_non_null(strstr(s, "support"));
    free(s);
    assert_int_equal(count("#hold-form:not([hidden])"), 1);
    cJSON_Delete(wd_exec(&W, "document.getElementById('subject-heading').scrollIntoView();"));
    shot("console-subject");
    assert_console_clean();
}

static void test_reveal_reads_with_the_purpose_and_is_audited(void **state)
{
    char css[64], object[64], *s;
    cJSON *v;

    (void)state;
    snprintf(css, sizeof(css), "#record-%s", REC);
    snprintf(object, sizeof(object), "record:%s", REC);
    click("#subject-records button.reveal");
    wait_text(css, "Lovelace");
    s = text_of(css);
    assert_non_null(strstr(s, "contacts"));
    assert_non_null(strstr(s, "Engines Ltd"));
    assert_non_null(strstr(s, EVIL)); /* as text */
    free(s);
    /* The hostile value made no element. */
    v = wd_exec(&W, "return [document.images.length, "
                    "document.querySelectorAll('#subject-records img').length];");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0)), 0);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1)), 0);
    cJSON_Delete(v);
    /* The API's own read, audited with the stated purpose, by the signed-in user. */
    assert_int_equal(audit_count(object, "record.read", "support"), 1);
    wait_text("#subject-audit tbody", "record.read");
    click("#subject-reveal-profile");
    wait_text("#subject-profile", "ada@example.org");
    cJSON_Delete(wd_exec(&W, "document.getElementById('subject-heading').scrollIntoView();"));
    shot("console-subject-revealed");
    assert_console_clean();
}

static void test_owner_places_and_lifts_a_legal_hold(void **state)
{
    char path[160];
    srv_resp r;

    (void)state;
    click("#hold-place"); /* no reason: refused by the page, nothing sent */
    wait_text("#status", "with a reason");
    fill("#hold-reason", "litigation 2026-17");
    click("#hold-place");
    wait_text("#subject-holds tbody", "litigation 2026-17");
    wait_text("#subject-holds tbody", "in force");
    /* The hold stops the erasure (P-RET-5). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T, ADA);
    assert_int_equal(srv_call(&S, "DELETE", path, KEY, "support", NULL, &r), 0);
    assert_int_equal(r.status, 409);
    srv_resp_free(&r);
    cJSON_Delete(wd_exec(&W, "document.getElementById('subject-holds').scrollIntoView();"));
    shot("console-subject-hold");
    fill("#hold-reason", "settled");
    click("#subject-holds button.lift");
    wait_text("#subject-holds tbody", "lifted");
    assert_int_equal(count("#subject-holds button.lift"), 0);
    wait_text("#subject-audit tbody", "hold.");
    assert_console_clean();
    sign_out();
    /* Signed out, the page keeps nothing of the subject. */
    assert_int_equal(count("#subject-view:not([hidden])"), 0);
    assert_int_equal(count("#subject-found:not([hidden])"), 0);
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
    assert_int_equal(count("#hold-form:not([hidden])"), 0);
    assert_int_equal(count("#subject-holds button.lift"), 0);
    wait_text("#subject-audit-none", "does not read the audit log");
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/holds', "
             "{method: 'POST', credentials: 'same-origin', headers: {'Content-Type': "
             "'application/json'}, body: JSON.stringify({subject_id: '%s', reason: 'x'})})"
             ".then(function (r) { done(r.status); });",
             T, ADA);
    v = wd_exec_async(&W, script);
    assert_int_equal((int)cJSON_GetNumberValue(v), 403);
    cJSON_Delete(v);
    /* The page does not ask for the log for an agent; asked anyway, the API refuses it. */
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/audit', "
             "{credentials: 'same-origin'}).then(function (r) { done(r.status); });",
             T);
    v = wd_exec_async(&W, script);
    assert_int_equal((int)cJSON_GetNumberValue(v), 403);
    cJSON_Delete(v);
    cJSON_Delete(wd_console(&W)); /* the refused calls' 403s, logged by the browser: expected */
    sign_out();
}

/* The id of the element with focus; caller frees. */
static char *focused(void)
{
    cJSON *v = wd_exec(&W, "return document.activeElement.id;");
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
    cJSON_Delete(wd_exec(&W, "document.querySelector('#nav button[data-view=subject-view]')"
                            ".focus();"));
    wd_type(&W, WD_ENTER);
    for (int i = 0; i < 40; i++) {
        char *s = focused();
        int there = strcmp(s, "subject-view") == 0;
        free(s);
        if (there)
            break;
        usleep(50000);
    }
    expect_focus("subject-view");
    wd_type(&W, WD_TAB);
    expect_focus("subject-by");
    wd_type(&W, WD_TAB);
    expect_focus("subject-q");
    wd_type(&W, ADA);
    wd_type(&W, WD_TAB);
    expect_focus("subject-purpose");
    wd_type(&W, WD_TAB);
    expect_focus("subject-go");
    wd_type(&W, WD_ENTER);
    assert_int_equal(wd_wait_visible(&W, "#subject-found", 10000), 0);
    wait_text("#subject-heading", ADA);
    wd_type(&W, WD_TAB);
    expect_focus("subject-reveal-profile");
    v = wd_exec(&W, "var bad = 0; document.querySelectorAll('#subject-view input, #subject-view "
                    "select').forEach(function (i) { if (!i.labels || i.labels.length !== 1 || "
                    "!i.labels[0].textContent.trim()) bad++; }); return bad;");
    assert_int_equal((int)cJSON_GetNumberValue(v), 0);
    cJSON_Delete(v);
    assert_console_clean();
    sign_out();
}

static void test_phone_width_has_no_horizontal_scroll(void **state)
{
    cJSON *v;

    (void)state;
    wd_window(&W, 360, 740);
    sign_in(&OWNER);
    look_up();
    wait_text("#subject-audit tbody", "support");
    cJSON_Delete(wd_exec(&W, "document.getElementById('subject-heading').scrollIntoView();"));
    v = wd_exec(&W, "var d = document.documentElement, m = 0; document.querySelectorAll("
                    "'#subject-view .scroll').forEach(function (q) { m = Math.max(m, "
                    "q.scrollWidth - q.clientWidth); }); return [window.innerWidth, "
                    "Math.max(d.scrollWidth - d.clientWidth, m)];");
    assert_true(cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0)) <= 400);
    assert_true(cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1)) <= 0);
    cJSON_Delete(v);
    shot("console-subject-phone");
    assert_console_clean();
    sign_out();
    wd_window(&W, 1280, 900);
}

int main(void)
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
                                       teardown);
}
