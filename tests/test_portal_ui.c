/*
 * test_portal_ui.c: the browser tests (docs/portal.md, docs/testing.md "The browser"): the
 * admin console, the operator's console, the privacy center and the cookie banner on a site's
 * page (docs/consent.md) in headless Chromium from Debian's chromium package, driven by
 * chromedriver over W3C WebDriver (tests/helpers/webdriver.c), against the real HTTPS server,
 * all started here on free loopback ports and stopped by pid.
 *
 * One binary and one browser for every group (tests/portal_ui/, ui.h): starting Chromium and
 * a server for each group cost more than many of their tests. Each group starts signed out,
 * with no cookie and an empty tab; groups share one server unless theirs must differ. To add
 * a group: a file tests/portal_ui/NAME.c (the Makefile takes every file there) whose
 * ui_group_NAME() runs it, declared in ui.h, and a line in GROUPS below. Screenshots go to
 * $CUSTOS_SCREENSHOTS (default build/test/screenshots; docs/portal/ for docs/portal.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portal_ui.h"
#include "th.h"
#include "portal_ui/ui.h"

static wd W;
static int browser_up;
static srv S;
static int server_up;

wd *ui_browser(void)
{
    if (!wd_available()) {
        print_error("chromium and chromedriver are needed: run make deps\n");
        return NULL;
    }
    if (!browser_up) {
        wd_start(&W, 1280, 900);
        browser_up = 1;
    } else {
        pui_forget(); /* the last groups' servers' localStorage: no tab of them is needed */
        wd_fresh(&W, 1280, 900);
    }
    return &W;
}

srv *ui_server(void)
{
    if (!server_up) {
        srv_start(&S, NULL);
        server_up = 1;
    }
    return &S;
}

/* Every group, in the order they run. */
static const struct {
    const char *name;
    int (*run)(void);
} GROUPS[] = {
    {"browser", ui_group_browser},   {"console", ui_group_console},
    {"operator", ui_group_operator}, {"subject", ui_group_subject},
    {"center", ui_group_center},     {"rectify", ui_group_rectify},
    {"account", ui_group_account},   {"cookie_banner", ui_group_cookie_banner},
};

/* 1 if group name is to run: every group when no name is given on the command line. */
static int chosen(const char *name, int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return argc < 2;
}

/* `test_portal_ui [GROUP...]`: the groups named (browser, console, ...), else all of them. */
int main(int argc, char **argv)
{
    int failed = 0, ran = 0;

    for (size_t i = 0; i < sizeof(GROUPS) / sizeof(GROUPS[0]); i++) {
        if (!chosen(GROUPS[i].name, argc, argv))
            continue;
        failed += GROUPS[i].run();
        ran++;
    }
    if (browser_up)
        wd_stop(&W);
    if (server_up && srv_stop(&S, 1) != 0) {
        print_error("the shared server did not exit with status 0\n");
        failed++;
    }
    if (ran == 0) {
        print_error("no such group: %s\n", argv[1]);
        failed++;
    }
    return failed != 0;
}
