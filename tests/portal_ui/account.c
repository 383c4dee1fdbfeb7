/*
 * account.c: a user sets up two-factor sign-in from the admin console's account page (P-ACC-2;
 * issue 15 item 3: password plus TOTP), in headless Chromium driven by chromedriver against the
 * real HTTPS server the binary shares among its groups (a group of test_portal_ui,
 * tests/portal_ui/ui.h: the browser is the binary's too).
 *
 * An agent user opens "Your account": a wrong password is refused with the API's words and no key
 * is shown; its password shows the key, a wrong code does not turn it on, the app's code does, and
 * the key is gone from the page. Signing in again then asks for a code, and the next code from the
 * same key signs in. Screenshots go to $CUSTOS_SCREENSHOTS (default build/test/screenshots).
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
static wd *W;
static char T[SRV_ID];
static const char *const EMAIL = "agent@acme.example", *const PASSWORD = "pw of the agent, long";

static int setup(void **state)
{
    char key[128];

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    S = ui_server();
    srv_tenant_user(S, "Acme", "scm", EMAIL, PASSWORD, "agent", T, key);
    pui_bind(W, S->base);
    return 0;
}

/* RFC 4648 base32, spaces skipped (the page groups the key by four). */
static int base32_decode(const char *s, uint8_t *out, size_t cap)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned buf = 0, bits = 0;
    size_t n = 0;

    for (; *s; s++) {
        const char *p = *s == ' ' ? NULL : strchr(a, *s);
        if (*s == ' ')
            continue;
        if (p == NULL)
            return -1;
        buf = (buf << 5) | (unsigned)(p - a);
        bits += 5;
        if (bits >= 8) {
            if (n == cap)
                return -1;
            out[n++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    return (int)n;
}

static void test_P_ACC_2_user_sets_up_totp_and_then_signs_in_with_a_code(void **state)
{
    char code[11], wrong[11], *s;
    uint8_t key[64];
    int klen;

    (void)state;
    pui_open_console();
    pui_sign_in(T, EMAIL, PASSWORD, "#queue-view");
    pui_click("#nav button[data-view=account-view]");
    assert_int_equal(wd_wait_visible(W, "#totp-form", 5000), 0);
    /* A wrong password: the API's refusal, no key. */
    pui_fill("#totp-password", "not the password");
    pui_click("#totp-start");
    pui_wait_text("#status", "password is not valid");
    assert_int_equal(pui_count("#totp-confirm-form:not([hidden])"), 0);
    cJSON_Delete(wd_console(W)); /* the refused call's 401, logged by the browser: expected */
    pui_fill("#totp-password", PASSWORD);
    pui_click("#totp-start");
    assert_int_equal(wd_wait_visible(W, "#totp-confirm-form", 5000), 0);
    s = pui_text("#totp-secret");
    klen = base32_decode(s, key, sizeof(key));
    free(s);
    assert_int_equal(klen, 20);
    {
        cJSON *v = wd_exec(W, "return document.getElementById('totp-password').value;");
        assert_string_equal(cJSON_GetStringValue(v), ""); /* the password not kept in the page */
        cJSON_Delete(v);
    }
    pui_shot("console-account-totp");
    /* Another page at this step: the key and its link leave the page; back, a new setup. */
    pui_click("#nav button[data-view=policy-view]");
    assert_int_equal(wd_wait_visible(W, "#policy-view", 5000), 0);
    {
        cJSON *v = wd_exec(W, "return document.getElementById('totp-secret').textContent + "
                              "(document.getElementById('totp-uri').getAttribute('href') || "
                              "'');");
        assert_string_equal(cJSON_GetStringValue(v), "");
        cJSON_Delete(v);
    }
    pui_click("#nav button[data-view=account-view]");
    assert_int_equal(wd_wait_visible(W, "#totp-form", 5000), 0);
    assert_int_equal(pui_count("#totp-confirm-form:not([hidden])"), 0);
    pui_fill("#totp-password", PASSWORD);
    pui_click("#totp-start");
    assert_int_equal(wd_wait_visible(W, "#totp-confirm-form", 5000), 0);
    s = pui_text("#totp-secret");
    klen = base32_decode(s, key, sizeof(key)); /* the new setup's key */
    free(s);
    assert_int_equal(klen, 20);
    /* A wrong code leaves it off; the app's code turns it on and wipes the key. */
    assert_int_equal(cu_totp(key, (size_t)klen, (int64_t)time(NULL), 6, code), CU_OK);
    snprintf(wrong, sizeof(wrong), "%06d", (int)((strtol(code, NULL, 10) + 1) % 1000000));
    pui_fill("#totp-code", wrong);
    pui_click("#totp-confirm");
    pui_wait_text("#status", "not valid");
    cJSON_Delete(wd_console(W)); /* its 401: expected */
    pui_fill("#totp-code", code);
    pui_click("#totp-confirm");
    pui_wait_text("#status", "Two-factor sign-in is on");
    assert_int_equal(pui_count("#totp-confirm-form:not([hidden])"), 0);
    s = pui_text("#totp-secret");
    assert_string_equal(s, "");
    free(s);
    pui_console_clean();
    pui_sign_out();
    /* The password alone no longer signs in; the next code of the same key does (the one
     * used to confirm counts as used, P-ACC-2). */
    pui_fill("#tenant", T);
    pui_fill("#email", EMAIL);
    pui_fill("#password", PASSWORD);
    pui_click("#signin");
    pui_wait_text("#status", "TOTP");
    assert_int_equal(pui_count("#login-view:not([hidden])"), 1);
    cJSON_Delete(wd_console(W)); /* its 401: expected */
    assert_int_equal(cu_totp(key, (size_t)klen, (int64_t)time(NULL) + 30, 6, code), CU_OK);
    pui_fill("#password", PASSWORD);
    pui_fill("#totp", code);
    pui_click("#signin");
    assert_int_equal(wd_wait_visible(W, "#queue-view", 10000), 0);
    pui_console_clean();
    pui_sign_out();
}

int ui_group_account(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_ACC_2_user_sets_up_totp_and_then_signs_in_with_a_code),
    };

    return cmocka_run_group_tests_name("two-factor from the console", tests, setup, NULL);
}
