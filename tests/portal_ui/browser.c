/*
 * browser.c: the admin console in a real browser (docs/portal.md): headless Chromium from Debian's
 * chromium package, driven by chromedriver over W3C WebDriver (tests/helpers/webdriver.c), against
 * the real HTTPS server of its own, started here on a free loopback port and stopped by pid (a
 * group of test_portal_ui, tests/portal_ui/ui.h: the browser is the binary's).
 *
 * A user signs in and sees the tenant's name and its requests queue; a tenant whose name holds
 * markup renders it as text (no element made, no script run); the whole sign-in works from the
 * keyboard alone, in reading order; a phone-width window has no horizontal scroll; and no page
 * writes an error to the browser console. Screenshots go to $CUSTOS_SCREENSHOTS (default
 * build/test/screenshots; docs/portal/ for the pictures of docs/portal.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "portal_ui.h"
#include "srv.h"
#include "th.h"
#include "ui.h"

/* A name that would run script or make an element if a page ever put it in as HTML. */
#define EVIL "<script>alert(1)</script>\"><img src=x onerror=alert(2)>"
#define EVIL_JSON "<script>alert(1)</script>\\\"><img src=x onerror=alert(2)>"

static srv S;
typedef struct ten {
    char id[SRV_ID], key[128], email[64], password[64];
} ten;
static ten T; /* "Acme", on the seed policy scm: its requests have deadlines */
static ten E; /* named EVIL, without a policy */
static ten A; /* an agent user of T: no data_erase */
static wd *W;

/* A user of tenant t with role, made with t's owner key: its email and password in u. */
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
    srv_call_ok(&S, "POST", path, t->key, NULL, body, 201, NULL);
}

/* A tenant named name_json (JSON-escaped), on policy (or none), with an owner user. */
static void tenant(ten *t, const char *name_json, const char *policy, const char *email)
{
    char body[512];
    srv_resp r;
    cJSON *o;

    snprintf(body, sizeof(body), "{\"name\":\"%s\"%s%s%s}", name_json,
             policy ? ",\"policy\":\"" : "", policy ? policy : "", policy ? "\"" : "");
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL, body, &r), 0);
    assert_int_equal(r.status, 201);
    o = cJSON_Parse(r.body);
    snprintf(t->id, sizeof(t->id), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    snprintf(t->key, sizeof(t->key), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "owner_api_key"),
                                                      "secret")));
    cJSON_Delete(o);
    srv_resp_free(&r);
    user(t, t, email, "owner");
}

static int setup(void **state)
{
    char path[128], body[128], subject[SRV_ID];

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    srv_start(&S, NULL);
    tenant(&T, "Acme", "scm", "officer@acme.example");
    tenant(&E, EVIL_JSON, NULL, "evil@example.org");
    user(&T, &A, "agent@acme.example", "agent");
    /* One request in the queue: an access request an administrator filed for a subject. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T.id);
    srv_call_ok(&S, "POST", path, T.key, "provide_service",
                "{\"external_id\":\"ada\",\"email\":\"ada@example.org\"}", 201, subject);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", T.id);
    snprintf(body, sizeof(body), "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}",
             subject);
    srv_call_ok(&S, "POST", path, T.key, NULL, body, 201, NULL);
    pui_bind(W, S.base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* A user of a tenant of this file signs in and lands on the queue. */
static void sign_in(const ten *u)
{
    pui_sign_in(u->id, u->email, u->password, "#queue-view");
}

static void test_sign_in_shows_the_tenant_and_its_queue(void **state)
{
    char *s;

    (void)state;
    pui_open_console();
    pui_shot("console-login");
    pui_console_clean();
    sign_in(&T);
    s = pui_seen("#tenant-name");
    assert_string_equal(s, "Acme");
    free(s);
    assert_int_equal(pui_count("#queue tbody tr"), 1);
    s = pui_seen("#queue tbody tr");
    assert_non_null(strstr(s, "access"));
    free(s);
    pui_shot("console-queue");
    pui_console_clean();
    pui_sign_out();
}

/* Single sign-on's return (docs/sso.md): the callback sends the browser to
 * console.html#sso=<tenant>.<role> with the session cookie set; the page signs in from it and
 * takes the fragment out of the address bar. Here the cookie is a password login's (the SSO
 * flow itself is test_sso's, against the real provider). The button without an organisation
 * id says what is missing and goes nowhere. */
static void test_single_sign_on_return_opens_the_console(void **state)
{
    char url[160], *s;
    cJSON *v;

    (void)state;
    pui_open_console();
    pui_fill("#tenant", "");
    pui_click("#sso-signin");
    s = pui_seen("#status");
    assert_non_null(strstr(s, "organisation id"));
    free(s);
    sign_in(&T);
    /* A fresh load, as from the callback: the tab remembers nothing of the sign-in. */
    pui_open("/portal/console.html");
    cJSON_Delete(wd_exec(W, "sessionStorage.clear();"));
    snprintf(url, sizeof(url), "/portal/console.html#sso=%s.owner", T.id);
    pui_open(url);
    assert_int_equal(wd_wait_visible(W, "#queue-view", 10000), 0);
    s = pui_seen("#tenant-name");
    assert_string_equal(s, "Acme");
    free(s);
    v = wd_exec(W, "return [location.hash, sessionStorage.getItem('custos.tenant')];");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(v, 0)), "");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(v, 1)), T.id);
    cJSON_Delete(v);
    pui_console_clean();
    pui_sign_out();
}

static void test_hostile_tenant_name_renders_as_text(void **state)
{
    cJSON *v;
    char *s;

    (void)state;
    pui_open_console();
    /* An alert would be noted here rather than block the browser. */
    cJSON_Delete(wd_exec(W, "window.__alerts = 0; window.alert = function () { "
                            "window.__alerts++; };"));
    sign_in(&E);
    s = pui_seen("#tenant-name");
    assert_string_equal(s, EVIL);
    free(s);
    /* The last: scripts that are not the server's own files of /portal/, or hold inline text. */
    v = wd_exec(W, "var n = document.getElementById('tenant-name'); return [window.__alerts, "
                   "n.children.length, document.images.length, Array.prototype.filter.call("
                   "document.scripts, function (s) { return (s.getAttribute('src') || '')"
                   ".indexOf('/portal/console') !== 0 || s.text; }).length];");
    assert_true(cJSON_IsArray(v));
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0)), 0); /* no alert */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1)), 0); /* no element */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 2)), 0); /* no <img> */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 3)), 0); /* ours only */
    cJSON_Delete(v);
    pui_shot("console-hostile-name");
    pui_console_clean();
    pui_sign_out();
}

static void test_keyboard_alone_signs_in_in_reading_order(void **state)
{
    cJSON *v;

    (void)state;
    pui_open_console();
    wd_type(W, WD_TAB);
    pui_expect_focus("skip");
    wd_type(W, WD_TAB);
    pui_expect_focus("tenant");
    wd_type(W, T.id);
    wd_type(W, WD_TAB);
    pui_expect_focus("email");
    wd_type(W, T.email);
    wd_type(W, WD_TAB);
    pui_expect_focus("password");
    wd_type(W, T.password);
    wd_type(W, WD_TAB);
    pui_expect_focus("totp");
    wd_type(W, WD_TAB);
    pui_expect_focus("signin");
    wd_type(W, WD_ENTER);
    assert_int_equal(wd_wait_visible(W, "#queue-view", 10000), 0);
    /* Every input has a label that names it. */
    v = wd_exec(W, "var bad = 0; document.querySelectorAll('input').forEach(function (i) { "
                   "if (!i.labels || i.labels.length !== 1 || !i.labels[0].textContent.trim()) "
                   "bad++; }); return bad;");
    assert_int_equal((int)cJSON_GetNumberValue(v), 0);
    cJSON_Delete(v);
    pui_console_clean();
    pui_sign_out();
}

/* The permission decides the button, and the API decides the call: an agent (no data_erase)
 * sees no Acknowledge button and gets 403 when its page calls the route anyway; an owner
 * acknowledges from the page, a state change that passes the Origin check. */
static void test_agent_sees_no_button_and_gets_403_owner_acknowledges(void **state)
{
    char script[512], *s;
    cJSON *v;

    (void)state;
    pui_open_console();
    sign_in(&A);
    assert_int_equal(pui_count("#queue tbody tr"), 1);
    assert_int_equal(pui_count("button.ack"), 0);
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/requests', "
             "{credentials: 'same-origin'}).then(function (r) { return r.json(); }).then("
             "function (d) { return fetch('/v1/tenants/%s/requests/' + d.requests[0].id + "
             "'/acknowledge', {method: 'POST', credentials: 'same-origin'}); }).then("
             "function (r) { done(r.status); });",
             A.id, A.id);
    v = wd_exec_async(W, script);
    assert_int_equal((int)cJSON_GetNumberValue(v), 403);
    cJSON_Delete(v);
    cJSON_Delete(wd_console(W)); /* the refused call's 403, logged by the browser itself: expected */
    pui_sign_out();
    sign_in(&T);
    assert_int_equal(pui_count("button.ack"), 1);
    pui_click("button.ack");
    pui_wait_count("button.ack", 0);
    s = pui_seen("#queue tbody tr");
    assert_non_null(strstr(s, "acknowledged"));
    free(s);
    s = pui_seen("#status");
    assert_non_null(strstr(s, "acknowledged"));
    free(s);
    pui_shot("console-acknowledged");
    pui_console_clean();
    pui_sign_out();
}

static void test_phone_width_has_no_horizontal_scroll(void **state)
{
    cJSON *v;

    (void)state;
    wd_window(W, 360, 740);
    pui_open_console();
    v = wd_exec(W, "return window.innerWidth;");
    assert_true(cJSON_GetNumberValue(v) <= 400); /* the window did become narrow */
    cJSON_Delete(v);
    /* Neither the page nor the queue's own box scrolls sideways (a phone stacks the rows). */
    pui_no_sideways_scroll(".scroll");
    pui_shot("console-phone-login");
    sign_in(&E);
    pui_no_sideways_scroll(".scroll");
    pui_sign_out();
    sign_in(&T);
    pui_no_sideways_scroll(".scroll");
    pui_shot("console-phone-queue");
    pui_console_clean();
    pui_sign_out();
    wd_window(W, 1280, 900);
}

/* The server again on the test clock (CUSTOS_NOW), at day: same vault, a new port. */
static void server_at(const char *day)
{
    char now[64];
    const char *env[] = {now, NULL};

    snprintf(now, sizeof(now), "CUSTOS_NOW=%s", day);
    assert_int_equal(srv_stop(&S, 0), 0);
    srv_restart(&S, NULL, env);
    pui_bind(W, S.base);
}

/* The acknowledged request (answer due 30 days after filing, so in the first days of 2027 for a
 * request filed this month) shows "Due soon" within three days of its date, "Overdue" past it,
 * each row marked in words as well as colour. Runs after the acknowledgement above. */
static void test_due_soon_and_overdue_are_marked(void **state)
{
    cJSON *v;
    char *due, *s, day[16];

    (void)state;
    pui_open_console();
    sign_in(&T);
    v = wd_exec(W, "return document.querySelector('#queue tbody td[data-label=Due]')"
                   ".textContent;");
    due = strdup(cJSON_GetStringValue(v));
    cJSON_Delete(v);
    assert_int_equal(strlen(due), 10);
    pui_sign_out();
    /* The day before the due date: due soon. */
    {
        struct tm tm = {0};
        time_t t;
        assert_int_equal(sscanf(due, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t = timegm(&tm) - 86400;
        strftime(day, sizeof(day), "%Y-%m-%d", gmtime_r(&t, &tm));
    }
    server_at(day);
    pui_open_console();
    sign_in(&T);
    s = pui_seen("#queue tbody tr");
    assert_non_null(strstr(s, "Due soon"));
    free(s);
    assert_int_equal(pui_count("#queue tr.due-soon"), 1);
    pui_shot("console-due-soon");
    pui_sign_out();
    server_at("2031-01-01");
    pui_open_console();
    sign_in(&T);
    s = pui_seen("#queue tbody tr");
    assert_non_null(strstr(s, "Overdue"));
    free(s);
    assert_int_equal(pui_count("#queue tr.overdue"), 1);
    pui_shot("console-overdue");
    pui_console_clean();
    pui_sign_out();
    free(due);
}

int ui_group_browser(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_in_shows_the_tenant_and_its_queue),
        cmocka_unit_test(test_hostile_tenant_name_renders_as_text),
        cmocka_unit_test(test_single_sign_on_return_opens_the_console),
        cmocka_unit_test(test_keyboard_alone_signs_in_in_reading_order),
        cmocka_unit_test(test_agent_sees_no_button_and_gets_403_owner_acknowledges),
        cmocka_unit_test(test_phone_width_has_no_horizontal_scroll),
        cmocka_unit_test(test_due_soon_and_overdue_are_marked), /* restarts the server: last */
    };

    return cmocka_run_group_tests_name("the console in a browser", tests, setup, teardown);
}
