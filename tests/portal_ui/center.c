/*
 * center.c: the data subject's privacy center in a real browser (docs/portal.md): headless Chromium
 * driven over W3C WebDriver (tests/helpers/webdriver.c) against the real HTTPS server of its own,
 * started here on a free loopback port and stopped by pid (a group of test_portal_ui,
 * tests/portal_ui/ui.h: the browser is the binary's).
 *
 * A subject opens the center from the link the tenant's service asked for, sees the tenant and its
 * policy, withdraws a consent (and the API then refuses that purpose), files an export and
 * downloads it once the tenant acknowledged it; a tenant whose name holds markup renders it as
 * text; a forged link shows exactly the page an expired one does; the page works from the keyboard
 * alone and has no sideways scroll at phone width; no page writes an error to the console.
 * Screenshots go to $CUSTOS_SCREENSHOTS (default build/test/screenshots; docs/portal/ for the
 * pictures of docs/portal.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "custos_portal.h"
#include "portal_ui.h"
#include "srv.h"
#include "th.h"
#include "ui.h"

/* A name that would run script or make an element if a page ever put it in as HTML. */
#define EVIL "<script>alert(1)</script>\"><img src=x onerror=alert(2)>"
#define EVIL_JSON "<script>alert(1)</script>\\\"><img src=x onerror=alert(2)>"

static srv S;
typedef struct ten {
    char id[SRV_ID], key[128], subject[SRV_ID];
} ten;
static ten T; /* "Acme", on the seed policy scm; its subject ada consented to sharing */
static ten E; /* named EVIL, on scm too */
static wd *W;

/* A tenant named name_json on the seed policy scm, and a subject of it named ext. */
static void tenant(ten *t, const char *name_json, const char *ext)
{
    char body[512], path[128];
    srv_resp r;
    cJSON *o;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"policy\":\"scm\"}", name_json);
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL, body, &r), 0);
    assert_int_equal(r.status, 201);
    o = cJSON_Parse(r.body);
    snprintf(t->id, sizeof(t->id), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")));
    snprintf(t->key, sizeof(t->key), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "owner_api_key"),
                                                      "secret")));
    cJSON_Delete(o);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t->id);
    snprintf(body, sizeof(body), "{\"external_id\":\"%s\",\"email\":\"%s@example.org\"}", ext,
             ext);
    srv_call_ok(&S, "POST", path, t->key, "provide_service", body, 201, t->subject);
}

/* Binds to t a version of SCM with a new consent purpose: a material change, so it waits out
 * the 30 days' notice as the pending version (P-NOT-1). */
static void pending_version(const ten *t)
{
    size_t len = 0;
    const char *scm = cu_policy_builtin("scm", &len);
    char *yaml, *at, *body, path[96];
    cJSON *o;

    assert_non_null(scm);
    yaml = calloc(1, len + 256);
    assert_non_null(yaml);
    at = strstr(scm, "\npurposes:\n");
    assert_non_null(at);
    snprintf(yaml, len + 256, "%.*s\npurposes:\n  newsletter:\n    data_use: "
             "marketing.communications.email\n    basis: consent\n    categories: [account]\n%.*s",
             (int)(at - scm), scm, (int)(len - (size_t)(at - scm) - 12), at + 12);
    at = strstr(yaml, "version: \"2026-04-13\"");
    assert_non_null(at);
    memcpy(at + 10, "2026-12-01", 10);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "yaml", yaml);
    body = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/policy", t->id);
    srv_call_ok(&S, "PUT", path, t->key, NULL, body, 200, NULL);
    free(body);
    cJSON_Delete(o);
    free(yaml);
}

static int setup(void **state)
{
    char path[160];

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    srv_start(&S, NULL);
    tenant(&T, "Acme", "ada");
    tenant(&E, EVIL_JSON, "eve");
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/consents", T.id, T.subject);
    srv_call_ok(&S, "POST", path, T.key, NULL,
                "{\"purpose\":\"shared_on_request\",\"action\":\"grant\"}", 201, NULL);
    pending_version(&T);
    pui_bind(W, S.base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* A link's path for t's subject ("/portal/center.html#<token>"), asked by t's service. */
static void link_of(const ten *t, char url[256])
{
    char path[160];
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/portal-links", t->id, t->subject);
    assert_int_equal(srv_call(&S, "POST", path, t->key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "url", url, 256), 0);
    srv_resp_free(&r);
}

/* Opens path (a link's, or the page's alone) and waits for the page to settle. */
static void open_page(const char *path)
{
    wd_poll p;

    pui_open(path);
    wd_poll_begin(&p, 10000);
    while (pui_count("body[data-ready]") == 0 && wd_poll_again(&p))
        ;
    assert_int_equal(pui_count("body[data-ready]"), 1);
}

/* Opens the center from a fresh link of t's subject. */
static void open_center(const ten *t)
{
    char link[256];

    link_of(t, link);
    open_page(link);
    assert_int_equal(wd_wait_visible(W, "#center-view", 5000), 0);
}

static void test_subject_opens_the_center_from_a_link(void **state)
{
    cJSON *v;
    char *s;

    (void)state;
    open_center(&T);
    s = pui_seen("#tenant-name");
    assert_string_equal(s, "Acme");
    free(s);
    s = pui_seen("#policy-line");
    assert_non_null(strstr(s, "SCM"));
    free(s);
    /* The pending version: its date and what changes. */
    assert_int_equal(wd_wait_visible(W, "#pending", 1000), 0);
    s = pui_seen("#pending");
    assert_non_null(strstr(s, "It takes effect on 20"));
    assert_non_null(strstr(s, "newsletter"));
    free(s);
    /* The token left the address bar (and so history) before anything else. */
    v = wd_exec(W, "return location.hash;");
    assert_string_equal(cJSON_GetStringValue(v), "");
    cJSON_Delete(v);
    /* Every purpose of the policy, with its basis; the consent one shows the subject's choice
     * and what withdrawing means. */
    assert_int_equal(pui_count("#consents li"), 10);
    s = pui_seen("#purpose-shared_on_request");
    assert_non_null(strstr(s, "Only with your consent"));
    assert_non_null(strstr(s, "You consented"));
    assert_non_null(strstr(s, "Withdrawing stops"));
    free(s);
    s = pui_seen("#purpose-provide_service");
    assert_non_null(strstr(s, "Needed to provide the service"));
    free(s);
    assert_int_equal(pui_count("#purpose-provide_service button"), 0);
    pui_shot("center");
    pui_console_clean();
}

static void test_subject_withdraws_a_consent_and_the_api_refuses_it(void **state)
{
    char path[160];
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T.id, T.subject);
    assert_int_equal(srv_call(&S, "GET", path, T.key, "shared_on_request", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    open_center(&T);
    pui_click("#purpose-shared_on_request button[data-action=withdraw]");
    pui_wait_seen("#purpose-shared_on_request", "You withdrew consent", 5000);
    assert_int_equal(pui_count("#purpose-shared_on_request button[data-action=grant]"), 1);
    cJSON_Delete(wd_exec(W, "document.getElementById('purpose-shared_on_request')"
                            ".scrollIntoView();"));
    pui_shot("center-withdrawn");
    pui_console_clean();
    /* The tenant's own key is now refused that purpose for this subject. */
    assert_int_equal(srv_call(&S, "GET", path, T.key, "shared_on_request", NULL, &r), 0);
    assert_int_equal(r.status, 403);
    srv_resp_free(&r);
}

static void test_subject_files_an_export_and_downloads_it(void **state)
{
    char script[640], path[160], id[SRV_ID];
    cJSON *v;
    char *s;

    (void)state;
    open_center(&T);
    cJSON_Delete(wd_exec(W, "document.getElementById('request-type').value = 'export';"));
    pui_click("#request-send");
    pui_wait_seen("#requests tbody", "export", 5000);
    s = pui_seen("#requests tbody tr");
    assert_non_null(strstr(s, "verified"));
    assert_non_null(strstr(s, "Not ready yet"));
    free(s);
    v = wd_exec(W, "return document.querySelector('#requests tbody td').textContent;");
    snprintf(id, sizeof(id), "%s", cJSON_GetStringValue(v));
    cJSON_Delete(v);
    /* The tenant acknowledges it; the subject comes back to the page (its session goes on). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests/%s/acknowledge", T.id, id);
    srv_call_ok(&S, "POST", path, T.key, NULL, NULL, 200, NULL);
    open_page("/portal/center.html");
    assert_int_equal(wd_wait_visible(W, "#center-view", 5000), 0);
    assert_int_equal(pui_count("#requests button.download"), 1);
    assert_int_equal(pui_count("#requests button.download-csv"), 1);
    pui_click("#requests button.download-csv");
    pui_wait_seen("#status", "Your data was downloaded.", 5000);
    cJSON_Delete(wd_exec(W, "document.getElementById('status').textContent = '';"));
    pui_click("#requests button.download");
    pui_wait_seen("#status", "Your data was downloaded.", 5000);
    cJSON_Delete(wd_exec(W, "document.getElementById('requests-title').scrollIntoView();"));
    pui_shot("center-export");
    /* What the button saved is the subject's data: the same call, read by the test. */
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/portal/subjects/"
             "%s/requests/%s/export', {credentials: 'same-origin'}).then(function (r) { "
             "return r.text(); }).then(done);",
             T.id, T.subject, id);
    v = wd_exec_async(W, script);
    assert_non_null(strstr(cJSON_GetStringValue(v), "ada@example.org"));
    cJSON_Delete(v);
    /* The CSV answer is a zip archive. */
    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('/v1/tenants/%s/portal/subjects/"
             "%s/requests/%s/export?format=csv', {credentials: 'same-origin'}).then(function (r) "
             "{ return r.arrayBuffer(); }).then(function (b) { var u = new Uint8Array(b); "
             "done(String.fromCharCode(u[0], u[1])); });",
             T.id, T.subject, id);
    v = wd_exec_async(W, script);
    assert_string_equal(cJSON_GetStringValue(v), "PK");
    cJSON_Delete(v);
    pui_console_clean();
}

static void test_hostile_tenant_name_renders_as_text(void **state)
{
    cJSON *v;
    char *s;

    (void)state;
    open_center(&E);
    s = pui_seen("#tenant-name");
    assert_string_equal(s, EVIL);
    free(s);
    v = wd_exec(W, "var n = document.getElementById('tenant-name'); return [window.__alerts || "
                   "0, n.children.length, document.images.length, document.scripts.length];");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 0)), 0); /* no alert */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 1)), 0); /* no element */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 2)), 0); /* no <img> */
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(v, 3)), 1); /* center.js */
    cJSON_Delete(v);
    pui_shot("center-hostile-name");
    pui_console_clean();
}

/* Tab goes skip link, sign out, each purpose's button, the request's type and its button, in
 * reading order; Enter sends the request; every control has one label. */
static void test_keyboard_alone_files_a_request_in_reading_order(void **state)
{
    int before, changes;
    wd_poll p;
    cJSON *v;

    (void)state;
    open_center(&T);
    before = pui_count("#requests tbody tr");
    changes = pui_count("#consents button.change");
    assert_int_equal(changes, 3); /* analytics, security (objections), shared_on_request */
    wd_type(W, WD_TAB);
    pui_expect_focus("skip");
    wd_type(W, WD_TAB);
    pui_expect_focus("signout");
    for (int i = 0; i < changes; i++) {
        wd_type(W, WD_TAB);
        pui_expect_focus("change");
    }
    wd_type(W, WD_TAB);
    pui_expect_focus("request-type");
    wd_type(W, WD_TAB);
    pui_expect_focus("request-send");
    wd_type(W, WD_ENTER);
    wd_poll_begin(&p, 5000);
    while (pui_count("#requests tbody tr") == before && wd_poll_again(&p))
        ;
    assert_int_equal(pui_count("#requests tbody tr"), before + 1);
    v = wd_exec(W, "var bad = 0; document.querySelectorAll('input, select').forEach(function "
                   "(i) { if (!i.labels || i.labels.length !== 1 || "
                   "!i.labels[0].textContent.trim()) bad++; }); return bad;");
    assert_int_equal((int)cJSON_GetNumberValue(v), 0);
    cJSON_Delete(v);
    pui_console_clean();
}

/* The skip link is the page's own fragment, not a link's token: Enter on it leaves the center
 * as it was (the session kept, nothing exchanged) and puts the focus in main; a reload of the
 * page with that fragment still shows the center. */
static void test_skip_link_keeps_the_center_and_focuses_main(void **state)
{
    cJSON *v;

    (void)state;
    open_center(&T);
    wd_type(W, WD_TAB);
    pui_expect_focus("skip");
    wd_type(W, WD_ENTER);
    usleep(500000); /* time for an exchange and its 404, were one sent */
    assert_int_equal(pui_count("body[data-ready]"), 1);
    assert_int_equal(wd_wait_visible(W, "#center-view", 1000), 0);
    v = wd_exec(W, "return [location.hash, document.getElementById('closed-view').hidden, "
                   "document.getElementById('main').contains(document.activeElement), "
                   "sessionStorage.getItem('custos.center') !== null];");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(v, 0)), "#main");
    assert_true(cJSON_IsTrue(cJSON_GetArrayItem(v, 1)));
    assert_true(cJSON_IsTrue(cJSON_GetArrayItem(v, 2)));
    assert_true(cJSON_IsTrue(cJSON_GetArrayItem(v, 3)));
    cJSON_Delete(v);
    open_page("/portal/center.html#main");
    assert_int_equal(wd_wait_visible(W, "#center-view", 5000), 0);
    pui_console_clean();
}

/* A failure on the way (here the network, by a fetch that fails) is not a bad link: the page
 * offers to try again with the token it kept, and the retry opens the center; the session's
 * end is shown; Sign out says so, not that the link is bad (review-portal2 9). */
static void test_failed_exchange_retries_and_sign_out_says_so(void **state)
{
    char link[256], script[384];
    char *s;

    (void)state;
    open_center(&T);
    s = pui_seen("#session-end");
    assert_non_null(strstr(s, "This session ends at"));
    free(s);
    link_of(&T, link);
    snprintf(script, sizeof(script),
             "window.__fetch = window.fetch; window.fetch = function () { return "
             "Promise.reject(new TypeError('offline')); }; location.hash = '%s';",
             strchr(link, '#') + 1);
    cJSON_Delete(wd_exec(W, script));
    assert_int_equal(wd_wait_visible(W, "#retry-view", 5000), 0);
    assert_int_equal(pui_count("#closed-view:not([hidden])"), 0);
    cJSON_Delete(wd_exec(W, "window.fetch = window.__fetch;"));
    pui_click("#retry");
    assert_int_equal(wd_wait_visible(W, "#center-view", 5000), 0);
    pui_wait_seen("#tenant-name", "Acme", 5000);
    assert_int_equal(pui_count("#retry-view:not([hidden])"), 0);
    pui_click("#signout");
    assert_int_equal(wd_wait_visible(W, "#closed-view", 5000), 0);
    pui_wait_seen("#closed-title", "You signed out", 5000);
    pui_console_clean();
}

static void test_phone_width_has_no_horizontal_scroll(void **state)
{
    cJSON *v;

    (void)state;
    wd_window(W, 360, 740);
    open_center(&T);
    v = wd_exec(W, "return window.innerWidth;");
    assert_true(cJSON_GetNumberValue(v) <= 400);
    cJSON_Delete(v);
    pui_no_sideways_scroll(".scroll");
    pui_shot("center-phone");
    open_center(&E);
    pui_no_sideways_scroll(".scroll");
    pui_console_clean();
    wd_window(W, 1280, 900);
}

/* The text of the closed page and which parts show, for comparing two pages; caller frees. */
static char *closed_page(void)
{
    cJSON *v = wd_exec(W, "return [document.getElementById('main').innerText, "
                          "document.getElementById('closed-view').hidden, "
                          "document.getElementById('center-view').hidden, "
                          "document.getElementById('tenant-name').textContent].join('|');");
    char *s = strdup(cJSON_GetStringValue(v));

    cJSON_Delete(v);
    return s;
}

/* A forged link and an expired one show one page: nothing tells them apart, nor says whether
 * the subject exists. Restarts the server on a later clock: last. */
static void test_forged_link_shows_the_same_page_as_an_expired_one(void **state)
{
    char link[256], forged[256], now[64];
    const char *env[] = {now, NULL};
    char *a, *b;

    (void)state;
    link_of(&T, link);
    snprintf(forged, sizeof(forged), "%s", link);
    forged[40] = forged[40] == 'A' ? 'B' : 'A';
    open_page(forged);
    assert_int_equal(wd_wait_visible(W, "#closed-view", 5000), 0);
    a = closed_page();
    pui_shot("center-closed");
    cJSON_Delete(wd_console(W)); /* the refused exchange's 404, logged by the browser: expected */
    snprintf(now, sizeof(now), "CUSTOS_NOW=%lld", (long long)time(NULL) + CU_PORTAL_LINK_TTL + 60);
    assert_int_equal(srv_stop(&S, 0), 0);
    srv_restart(&S, NULL, env);
    pui_bind(W, S.base);
    open_page(link);
    assert_int_equal(wd_wait_visible(W, "#closed-view", 5000), 0);
    b = closed_page();
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "This link cannot be used"));
    free(a);
    free(b);
    cJSON_Delete(wd_console(W));
}

int ui_group_center(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_opens_the_center_from_a_link),
        cmocka_unit_test(test_subject_withdraws_a_consent_and_the_api_refuses_it),
        cmocka_unit_test(test_subject_files_an_export_and_downloads_it),
        cmocka_unit_test(test_hostile_tenant_name_renders_as_text),
        cmocka_unit_test(test_keyboard_alone_files_a_request_in_reading_order),
        cmocka_unit_test(test_skip_link_keeps_the_center_and_focuses_main),
        cmocka_unit_test(test_failed_exchange_retries_and_sign_out_says_so),
        cmocka_unit_test(test_phone_width_has_no_horizontal_scroll),
        cmocka_unit_test(test_forged_link_shows_the_same_page_as_an_expired_one), /* last */
    };

    return cmocka_run_group_tests_name("the privacy center in a browser", tests, setup,
                                       teardown);
}
