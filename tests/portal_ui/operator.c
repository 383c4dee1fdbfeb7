/*
 * operator.c: the operator's console (docs/portal.md, "The operator's console"): the operator's API
 * key exchanged once for a short-lived session cookie (POST /v1/operator/session), then the tenants
 * page: list, create, terminate, the sweep. In a real browser (headless Chromium through
 * chromedriver, tests/helpers/webdriver.c) against the real HTTPS server of its own, started here
 * on a free loopback port and stopped by pid (a group of test_portal_ui, tests/portal_ui/ui.h: the
 * browser is the binary's); the session's own rules through the API first. And the console's other
 * last piece: the requests queue paged on the server (issue 15 item 5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portal_ui.h"
#include "srv.h"
#include "th.h"
#include "ui.h"

static srv S;
static struct {
    char id[SRV_ID], boot_key[128];
} A; /* a tenant made through the API, with its owner key */
static char owner_email[] = "owner@a.example", owner_pw[] = "owner's password, long enough";
static wd *W;

/* The session cookie ("custos_session=...") POST /v1/operator/session answers key. */
static long open_session(const char *key, char *cookie, size_t cap)
{
    srv_resp r;
    long st;

    assert_int_equal(srv_call(&S, "POST", "/v1/operator/session", key, NULL, NULL, &r), 0);
    st = r.status;
    if (cookie != NULL) {
        snprintf(cookie, cap, "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
        if (st == 200) {
            assert_non_null(strstr(r.set_cookie, "HttpOnly"));
            assert_non_null(strstr(r.set_cookie, "Secure"));
            assert_non_null(strstr(r.set_cookie, "SameSite=Strict"));
            assert_non_null(strstr(r.set_cookie, "Max-Age=1800"));
            assert_non_null(strstr(r.body, "\"role\":\"operator\""));
        }
    }
    srv_resp_free(&r);
    return st;
}

static long status_of(const char *method, const char *path, const char *auth)
{
    srv_resp r;
    long st;

    assert_int_equal(srv_call(&S, method, path, auth, NULL, NULL, &r), 0);
    st = r.status;
    srv_resp_free(&r);
    return st;
}

static int setup(void **state)
{
    char path[128], body[256];
    srv_resp r;

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    srv_start(&S, NULL);
    assert_int_equal(srv_call(&S, "POST", "/v1/tenants", S.operator_key, NULL,
                              "{\"name\":\"Acme Ltd\",\"policy\":\"scm\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", A.id, sizeof(A.id)), 0);
    assert_int_equal(srv_json_str(r.body, "secret", A.boot_key, sizeof(A.boot_key)), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", A.id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"owner\"}",
             owner_email, owner_pw);
    srv_call_ok(&S, "POST", path, A.boot_key, NULL, body, 201, NULL);
    pui_bind(W, S.base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(srv_stop(&S, 1), 0);
    return 0;
}

/* --- the session, through the API -------------------------------------------------------- */

/* The operator key buys a cookie that acts as the key (HttpOnly, Secure, SameSite=Strict,
 * 30 minutes); the cookie cannot buy another (no renewal past its end); a tenant's key gets
 * none; a changed token is refused; opening one is on the platform's log. */
static void test_operator_session_through_the_api(void **state)
{
    char cookie[160], bad[160], path[160];
    srv_resp r;

    (void)state;
    assert_int_equal(open_session(S.operator_key, cookie, sizeof(cookie)), 200);
    assert_non_null(strstr(cookie, "custos_session=cuo_"));
    assert_int_equal(status_of("GET", "/v1/tenants", cookie), 200);
    /* Only the key opens a session: the cookie alone is refused, so none outlives its end. */
    assert_int_equal(status_of("POST", "/v1/operator/session", cookie), 403);
    /* Nor the cookie with an Authorization header of another scheme: such a header is a
     * refused credential (401), never a reason to fall back to the cookie (review-merged2 1). */
    {
        const char *h[] = {NULL, "Authorization: Basic eA==", NULL, NULL};
        char ck[200], origin[160];
        snprintf(ck, sizeof(ck), "Cookie: %s", cookie);
        snprintf(origin, sizeof(origin), "Origin: %s", S.base);
        h[0] = ck;
        h[2] = origin;
        assert_int_equal(srv_call_h(&S, "POST", "/v1/operator/session", h, NULL, 0, &r), 0);
        assert_int_equal(r.status, 401);
        srv_resp_free(&r);
        assert_int_equal(srv_call_h(&S, "GET", "/v1/tenants", h, NULL, 0, &r), 0);
        assert_int_equal(r.status, 401);
        srv_resp_free(&r);
    }
    /* A tenant's owner key is not platform staff. */
    assert_int_equal(open_session(A.boot_key, NULL, 0), 403);
    /* One hex digit of the MAC changed, or of the expiry: refused. */
    snprintf(bad, sizeof(bad), "%s", cookie);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    assert_int_equal(status_of("GET", "/v1/tenants", bad), 401);
    snprintf(bad, sizeof(bad), "%s", cookie);
    {
        char *exp = strstr(bad, "cuo_") + 4 + 16 + 7;
        *exp = *exp == '0' ? '1' : '0';
    }
    assert_int_equal(status_of("GET", "/v1/tenants", bad), 401);
    /* The same permission checks as the key: no tenant data without a listed purpose. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", A.id);
    assert_int_equal(status_of("GET", path, cookie), 403);
    /* P-AUD-1: on the platform's log, by the key. */
    assert_int_equal(
        srv_call(&S, "GET", "/v1/audit?action=operator.session", S.operator_key, NULL, NULL, &r),
        0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"actor\":\"operator:key:"));
    srv_resp_free(&r);
}

/* --- the browser's side ------------------------------------------------------------------ */

static void operator_sign_in(const char *key)
{
    pui_fill("#op-key", key);
    pui_click("#op-signin");
    if (wd_wait_visible(W, "#tenants-view", 10000) != 0) {
        char *st = pui_text("#status");
        fail_msg("the operator's sign-in did not reach the tenants page: \"%s\"", st);
    }
}

/* The status of a fetch the page makes with its own cookie. */
static int page_fetch(const char *method, const char *path)
{
    char script[512];
    cJSON *v;
    int st;

    snprintf(script, sizeof(script),
             "var done = arguments[arguments.length - 1]; fetch('%s', {method: '%s', "
             "credentials: 'same-origin'}).then(function (r) { done(r.status); });",
             path, method);
    v = wd_exec_async(W, script);
    st = (int)cJSON_GetNumberValue(v);
    cJSON_Delete(v);
    return st;
}

/* 1 if the page holds s anywhere a script could read it back: storage, script-visible
 * cookies, its markup, any input's value. */
static int page_holds(const char *s)
{
    char script[700];
    cJSON *v;
    int held;

    snprintf(script, sizeof(script),
             "var s = '%s', vals = '';"
             "document.querySelectorAll('input').forEach(function (i) { vals += i.value; });"
             "return (JSON.stringify(sessionStorage) + JSON.stringify(localStorage) +"
             " document.cookie + document.documentElement.outerHTML + vals).indexOf(s) >= 0;",
             s);
    v = wd_exec(W, script);
    held = cJSON_IsTrue(v);
    cJSON_Delete(v);
    return held;
}

/* The operator signs in with its key, which the page then holds nowhere; the cookie is
 * HttpOnly; only the Tenants page is offered; signing out ends the page's access. */
static void test_operator_signs_in_and_the_key_is_not_kept(void **state)
{
    char css[96], url[128];

    (void)state;
    pui_open_console();
    operator_sign_in(S.operator_key);
    pui_wait_text("#tenant-name", "Platform operator");
    snprintf(css, sizeof(css), "#tenants tbody tr[data-id=\"%s\"]", A.id);
    pui_wait_count(css, 1);
    pui_wait_text(css, "Acme Ltd");
    pui_wait_text(css, "active");
    assert_int_equal(page_holds(S.operator_key), 0);
    assert_int_equal(page_holds("custos_session"), 0);
    assert_int_equal(pui_count("#nav button:not([hidden])"), 1);
    assert_int_equal(pui_count("#nav button[data-view=tenants-view]:not([hidden])"), 1);
    /* The cookie acts as the key; it cannot open another session. */
    assert_int_equal(page_fetch("GET", "/v1/tenants"), 200);
    assert_int_equal(page_fetch("POST", "/v1/operator/session"), 403);
    cJSON_Delete(wd_console(W)); /* the refused call's 403: expected */
    pui_shot("console-tenants");
    /* A reload keeps the session (the cookie), with no key typed again. */
    snprintf(url, sizeof(url), "%s/portal/console.html", S.base);
    wd_get(W, url);
    assert_int_equal(wd_wait_visible(W, "#tenants-view", 10000), 0);
    pui_wait_count(css, 1);
    pui_sign_out();
    assert_int_equal(page_fetch("GET", "/v1/tenants"), 401);
    cJSON_Delete(wd_console(W));
    /* Signed out, a reload stays on sign-in. */
    wd_get(W, url);
    assert_int_equal(wd_wait_visible(W, "#login", 5000), 0);
    assert_int_equal(pui_count("#tenants-view:not([hidden])"), 0);
}

/* Create a tenant with a hostile name (inert text), its owner key shown once and working;
 * terminate it after a confirmation; the sweep runs after one; each through the API's routes,
 * on the platform's log as the operator's key. */
static void test_create_terminate_and_sweep(void **state)
{
    char *secret, css[128], id[SRV_ID] = "", path[160];
    srv_resp r;
    cJSON *v;

    (void)state;
    pui_open_console();
    operator_sign_in(S.operator_key);
    pui_fill("#tenant-new-name", "<script>alert(1)</script>\"><img src=x onerror=alert(2)>");
    cJSON_Delete(wd_exec(W, "document.getElementById('tenant-new-policy').value = 'scm';"
                            " return 0;"));
    pui_click("#tenant-go");
    assert_int_equal(wd_wait_visible(W, "#tenant-secret", 5000), 0);
    pui_wait_text("#status", "created");
    secret = pui_text("#tenant-secret-value");
    assert_non_null(strstr(secret, "cuk_"));
    /* The owner key works, and names the new tenant. */
    v = wd_exec(W, "return document.querySelector('#status').textContent.match(/id (\\d+)/)[1];");
    snprintf(id, sizeof(id), "%s", cJSON_GetStringValue(v));
    cJSON_Delete(v);
    snprintf(path, sizeof(path), "/v1/tenants/%s", id);
    assert_int_equal(status_of("GET", path, secret), 200);
    free(secret);
    /* The hostile name is text: no element was made of it, no alert ran. */
    snprintf(css, sizeof(css), "#tenants tbody tr[data-id=\"%s\"]", id);
    pui_wait_text(css, "<script>alert(1)</script>");
    assert_int_equal(pui_count("#tenants img"), 0);
    assert_int_equal(pui_count("#tenants script"), 0);
    pui_shot("console-tenant-created");
    /* The secret leaves the page with the page. */
    pui_click("#nav button[data-view=tenants-view]");
    pui_wait_count("#tenant-secret[hidden]", 1);
    assert_int_equal(page_holds("cuk_"), 0);
    /* Terminate: the first click only arms the button. */
    snprintf(css, sizeof(css), "#tenants tbody tr[data-id=\"%s\"] button.terminate", id);
    pui_click(css);
    pui_wait_text(css, "Confirm");
    assert_int_equal(status_of("GET", path, S.operator_key), 200);
    assert_non_null(strstr((secret = pui_text("#tenants tbody")), "active"));
    free(secret);
    pui_shot("console-tenant-terminate-armed");
    pui_click(css);
    snprintf(css, sizeof(css), "#tenants tbody tr[data-id=\"%s\"] td.state", id);
    pui_wait_text(css, "terminated");
    pui_wait_text("#status", "export open until");
    assert_int_equal(srv_call(&S, "GET", path, S.operator_key, NULL, NULL, &r), 0);
    assert_non_null(strstr(r.body, "\"state\":\"terminated\""));
    srv_resp_free(&r);
    snprintf(css, sizeof(css), "#tenants tbody tr[data-id=\"%s\"] button", id);
    assert_int_equal(pui_count(css), 0);
    /* The sweep, confirmed. */
    pui_click("#sweep-slot button");
    pui_wait_text("#sweep-slot button", "Confirm");
    pui_click("#sweep-slot button");
    pui_wait_text("#sweep-result", "Sweep done:");
    pui_wait_text("#sweep-result", "tenants purged");
    pui_shot("console-tenant-terminated");
    pui_console_clean();
    pui_sign_out();
    /* Audited as the operator's key, as from any client. */
    snprintf(path, sizeof(path), "/v1/audit?action=tenant.create&object=tenant:%s", id);
    assert_int_equal(srv_call(&S, "GET", path, S.operator_key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"actor\":\"operator:key:"));
    srv_resp_free(&r);
}

/* A tenant's owner has no Tenants page and gets 403 from the routes anyway; its key typed
 * into the operator's form opens nothing; a malformed key is refused on the page. */
static void test_tenant_owner_has_no_tenants_page(void **state)
{
    (void)state;
    pui_open_console();
    pui_fill("#op-key", "not a key");
    pui_click("#op-signin");
    pui_wait_text("#status", "An API key reads");
    assert_int_equal(page_holds("not a key"), 0);
    pui_fill("#op-key", A.boot_key);
    pui_click("#op-signin");
    pui_wait_text("#status", "may not");
    assert_int_equal(pui_count("#login-view:not([hidden])"), 1);
    assert_int_equal(page_holds(A.boot_key), 0);
    cJSON_Delete(wd_console(W)); /* the refused call's 403: expected */
    pui_sign_in(A.id, owner_email, owner_pw, "#queue-view");
    assert_int_equal(pui_count("#nav button[data-view=tenants-view]:not([hidden])"), 0);
    assert_int_equal(page_fetch("GET", "/v1/tenants"), 403);
    assert_int_equal(page_fetch("POST", "/v1/operator/session"), 403);
    cJSON_Delete(wd_console(W));
    pui_sign_out();
}

/* Issue 15 item 5: 55 requests, the queue shows 50, Next the other 5 (the server's next
 * page, after the cursor), Previous the first 50 again. */
static void test_queue_pages_on_the_server(void **state)
{
    char path[128], body[160], subject[SRV_ID], *page;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", A.id);
    srv_call_ok(&S, "POST", path, A.boot_key, "provide_service",
                "{\"external_id\":\"queue\",\"email\":\"queue@example.org\"}", 201, subject);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", A.id);
    snprintf(body, sizeof(body),
             "{\"type\":\"access\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", subject);
    for (int i = 0; i < 55; i++)
        srv_call_ok(&S, "POST", path, A.boot_key, NULL, body, 201, NULL);
    pui_open_console();
    pui_sign_in(A.id, owner_email, owner_pw, "#queue-view");
    pui_wait_count("#queue tbody tr", 50);
    pui_wait_text("#queue-page", "Page 1");
    assert_int_equal(pui_count("#queue-prev:disabled"), 1);
    page = pui_text("#queue tbody");
    pui_click("#queue-next");
    pui_wait_count("#queue tbody tr", 5);
    pui_wait_text("#queue-page", "Page 2");
    assert_int_equal(pui_count("#queue-next:disabled"), 1);
    pui_shot("console-queue-page-2");
    pui_click("#queue-prev");
    pui_wait_count("#queue tbody tr", 50);
    pui_wait_text("#queue tbody", page); /* the same first page */
    free(page);
    pui_console_clean();
    pui_sign_out();
}

int ui_group_operator(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operator_session_through_the_api),
        cmocka_unit_test(test_operator_signs_in_and_the_key_is_not_kept),
        cmocka_unit_test(test_create_terminate_and_sweep),
        cmocka_unit_test(test_tenant_owner_has_no_tenants_page),
        cmocka_unit_test(test_queue_pages_on_the_server),
    };

    return cmocka_run_group_tests_name("the operator's console in a browser", tests, setup,
                                       teardown);
}
