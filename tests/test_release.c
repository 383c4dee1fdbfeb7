/*
 * test_release.c: the clock as release builds compile it. The Makefile links this binary with
 * src/util/util.c built without CU_TEST_CLOCK (the one define that makes the clock settable
 * from outside), ahead of the test library: what it shows holds for ./custos.
 */
#include <stdlib.h>
#include <time.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_build_ignores_custos_now),
        cmocka_unit_test(test_release_build_refuses_sweep_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
