/*
 * rectify.c: completing a rectify request from the admin console (P-DSR-3, issue 15 item 3: a
 * privacy officer does the whole job from the browser), in headless Chromium driven by chromedriver
 * against the real HTTPS server the binary shares among its groups (a group of test_portal_ui,
 * tests/portal_ui/ui.h: the browser is the binary's too).
 *
 * The queue's filter (all, open, due soon, overdue) asks the server. Complete on a rectify request
 * opens the form with the profile's fields instead of a reason; a value the API refuses leaves the
 * request open and the form up, with the API's words; the corrected email and birth date then land
 * on the subject (read back through the API), the fields left empty keep their values, and no
 * corrected value stays in the page. Screenshots go to $CUSTOS_SCREENSHOTS (default
 * build/test/screenshots).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portal_ui.h"
#include "srv.h"
#include "th.h"
#include "ui.h"

static srv *S; /* the shared server (ui.h) */
static wd *W;
static char T[SRV_ID], key[128], ada[SRV_ID], rectify_req[SRV_ID];
static const char *const EMAIL = "officer@acme.example", *const PASSWORD = "pw of the officer, long";

static int setup(void **state)
{
    char path[128], body[256];

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    S = ui_server();
    srv_tenant_user(S, "Acme", "scm", EMAIL, PASSWORD, "owner", T, key);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", T);
    srv_call_ok(S, "POST", path, key, "provide_service",
                "{\"external_id\":\"ada\",\"email\":\"ada.old@example.org\","
                "\"phone\":\"+44 20 7946 0000\"}",
                201, ada);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", T);
    snprintf(body, sizeof(body),
             "{\"type\":\"rectify\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}", ada);
    srv_call_ok(S, "POST", path, key, NULL, body, 201, rectify_req);
    pui_bind(W, S->base);
    return 0;
}

static const char *in_row(const char *what)
{
    static char css[192];

    snprintf(css, sizeof(css), "#queue tbody tr[data-id=\"%s\"] %s", rectify_req, what);
    return css;
}

/* The subject as the API reads it: member name of GET .../subjects/{ada}, into out. */
static void subject_member(const char *name, char *out, size_t cap)
{
    char path[128];
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", T, ada);
    assert_int_equal(srv_call(S, "GET", path, key, "provide_service", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(srv_json_str(r.body, name, out, cap), 0);
    srv_resp_free(&r);
}

static void test_P_DSR_3_officer_completes_a_rectify_request_with_the_corrected_profile(
    void **state)
{
    char v[64], *s;
    cJSON *left;

    (void)state;
    pui_open_console();
    pui_sign_in(T, EMAIL, PASSWORD, "#queue-view");
    /* The queue's filter, on the server: open shows it, overdue (not yet due) does not. */
    pui_click("#queue-filter option[value=overdue]");
    pui_wait_count("#queue tbody tr", 0);
    pui_wait_text("#queue-empty", "No requests match");
    pui_click("#queue-filter option[value=open]");
    pui_wait_count(in_row("button.ack"), 1);
    pui_click(in_row("button.ack"));
    pui_wait_count(in_row("button.complete"), 1);
    pui_click(in_row("button.complete"));
    /* The profile's fields, no reason code. */
    assert_int_equal(wd_wait_visible(W, "#rectify-fields", 5000), 0);
    assert_int_equal(pui_count("#reason-fields:not([hidden])"), 0);
    assert_int_equal(pui_count("#extend-fields:not([hidden])"), 0);
    s = pui_text("#reason-title");
    assert_non_null(strstr(s, "Complete request"));
    assert_non_null(strstr(s, rectify_req));
    free(s);
    /* A birth date the API refuses: the request stays open, the form up, the API's words. */
    pui_fill("#fix-email", "ada.new@example.org");
    pui_fill("#fix-birth", "10/12/1815");
    pui_click("#reason-go");
    pui_wait_text("#status", "birth");
    assert_int_equal(pui_count("#reason-form:not([hidden])"), 1);
    pui_wait_text(in_row(""), "acknowledged");
    cJSON_Delete(wd_console(W)); /* the refused call's 400, logged by the browser: expected */
    subject_member("email", v, sizeof(v));
    assert_string_equal(v, "ada.old@example.org");
    /* Another page and back: the form closed, the typed values gone from the page. */
    pui_click("#nav button[data-view=policy-view]");
    assert_int_equal(wd_wait_visible(W, "#policy-view", 5000), 0);
    left = wd_exec(W, "return document.getElementById('fix-email').value;");
    assert_string_equal(cJSON_GetStringValue(left), "");
    cJSON_Delete(left);
    pui_click("#nav button[data-view=queue-view]");
    assert_int_equal(wd_wait_visible(W, "#queue-view", 5000), 0);
    assert_int_equal(pui_count("#reason-form:not([hidden])"), 0);
    pui_wait_count(in_row("button.complete"), 1);
    pui_click(in_row("button.complete"));
    assert_int_equal(wd_wait_visible(W, "#rectify-fields", 5000), 0);
    pui_fill("#fix-email", "ada.new@example.org");
    pui_fill("#fix-birth", "1990-12-10");
    pui_shot("console-rectify");
    pui_click("#reason-go");
    pui_wait_text("#status", "completed");
    assert_int_equal(pui_count("#reason-form:not([hidden])"), 0);
    /* Completed: no longer open, listed under all requests with no step left. */
    pui_wait_count("#queue tbody tr", 0);
    pui_click("#queue-filter option[value=all]");
    pui_wait_text(in_row(""), "completed");
    assert_int_equal(pui_count(in_row("button")), 0);
    /* No corrected value stays in the page. */
    left = wd_exec(W, "return ['fix-email', 'fix-phone', 'fix-birth', 'fix-external'].map("
                      "function (i) { return document.getElementById(i).value; }).join('');");
    assert_string_equal(cJSON_GetStringValue(left), "");
    cJSON_Delete(left);
    pui_console_clean();
    pui_sign_out();
    /* Through the API: the two corrected, the rest as they were. */
    subject_member("email", v, sizeof(v));
    assert_string_equal(v, "ada.new@example.org");
    subject_member("birth_date", v, sizeof(v));
    assert_string_equal(v, "1990-12-10");
    subject_member("phone", v, sizeof(v));
    assert_string_equal(v, "+44 20 7946 0000");
    subject_member("external_id", v, sizeof(v));
    assert_string_equal(v, "ada");
}

int ui_group_rectify(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_P_DSR_3_officer_completes_a_rectify_request_with_the_corrected_profile),
    };

    return cmocka_run_group_tests_name("rectify from the console", tests, setup, NULL);
}
