/*
 * ui.h: the groups of test_portal_ui, the browser tests (docs/testing.md, "The browser"): one
 * binary, one chromedriver and headless Chromium for all of them, and one server for the
 * groups that need none of their own. Each group is a file of this folder, its tests and its
 * setup and teardown as one cmocka group; tests/test_portal_ui.c runs them in turn.
 *
 * A group's setup calls ui_browser() once, first: the session then starts as a new one would,
 * signed out of everything, nothing kept for any server bound before (portal_ui.h, pui_forget:
 * localStorage, cookies, caches; webdriver.h, wd_fresh: a new tab, no cookie at all). A group
 * whose server must differ from the shared one (a restart on the test clock, platform-wide steps
 * such as the sweep) starts and stops its own; the others take ui_server() and leave it running
 * (and may serve pages of their own beside it, as cookie_banner serves a site's).
 */
#ifndef CU_PORTAL_UI_GROUPS_H
#define CU_PORTAL_UI_GROUPS_H

#include "srv.h"
#include "webdriver.h"

/* The browser session, started by the first call, made fresh by each later one (1280 x 900,
 * no cookie, an empty tab); NULL, with the reason printed, if chromium or chromedriver is
 * missing (the browser is not optional: the group then fails). Owned by the binary. */
wd *ui_browser(void);
/* The shared server, started by the first call. Owned by the binary: groups do not stop or
 * restart it. */
srv *ui_server(void);

/* One per file: runs the group, returns its number of failed tests. */
int ui_group_browser(void);
int ui_group_console(void);
int ui_group_operator(void);
int ui_group_subject(void);
int ui_group_center(void);
int ui_group_rectify(void);
int ui_group_account(void);
int ui_group_cookie_banner(void);

#endif
