/*
 * test_release.c: the clock as release builds compile it. The Makefile links this binary with
 * src/util/util.c built without CU_TEST_CLOCK (the one define that makes the clock settable
 * from outside), ahead of the test library: what it shows holds for ./custos. Likewise
 * src/core/webhook_addr.c built without CU_FAULT_INJECTION: the webhook address check.
 */
#include <stdlib.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "custos_webhook.h"
#include "th.h"
#include "util.h"

/* CUSTOS_NOW would freeze sessions, lockouts and audit times in production: ignored. */
static void test_release_build_ignores_custos_now(void **state)
{
    int64_t now;

    (void)state;
    assert_int_equal(setenv("CUSTOS_NOW", "2030-01-01", 1), 0);
    now = cu_clock_now();
    assert_true(now >= (int64_t)time(NULL) - 5 && now <= (int64_t)time(NULL) + 5);
    assert_int_equal(cu_clock_is_set(), 0);
    assert_int_equal(setenv("CUSTOS_NOW", "1893456000", 1), 0);
    assert_true(cu_clock_now() < 1893456000LL - 86400);
    assert_int_equal(unsetenv("CUSTOS_NOW"), 0);
}

/* `custos sweep --now` goes through cu_clock_set_text: refused by a release build. */
static void test_release_build_refuses_sweep_now(void **state)
{
    (void)state;
    assert_int_equal(cu_clock_set_text("2030-01-01"), -1);
    assert_int_equal(cu_clock_is_set(), 0);
}

/* SSRF: a release build sends no webhook to loopback, the tests' allowance notwithstanding,
 * whether the URL names the address or a name that resolves to it. */
static void test_release_build_refuses_webhooks_to_loopback(void **state)
{
    uint8_t a4[4], a6[16];
    char pin[600];
    cu_err err = {0};

    (void)state;
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", a4), 1);
    assert_int_equal(inet_pton(AF_INET6, "::1", a6), 1);
    assert_int_equal(cu_webhook_addr_allowed(AF_INET, a4), 0);
    assert_int_equal(cu_webhook_addr_allowed(AF_INET6, a6), 0);
    assert_int_equal(cu_webhook_url_resolve("http://127.0.0.1:9/h", pin, sizeof(pin), &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_webhook_url_resolve("https://localhost/h", pin, sizeof(pin), &err),
                     CU_ERR_INVALID);
    assert_int_equal(inet_pton(AF_INET, "93.184.216.34", a4), 1);
    assert_int_equal(cu_webhook_addr_allowed(AF_INET, a4), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_build_ignores_custos_now),
        cmocka_unit_test(test_release_build_refuses_sweep_now),
        cmocka_unit_test(test_release_build_refuses_webhooks_to_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
