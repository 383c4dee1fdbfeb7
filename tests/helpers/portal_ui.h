/*
 * portal_ui.h: the browser tests' page steps (docs/portal.md, docs/testing.md "The browser"),
 * over one WebDriver session (webdriver.h) and one server's base URL, bound once with
 * pui_bind: open a page, fill and click by CSS selector, read and wait for text and counts,
 * sign in and out of the console, screenshots, and a console free of errors. Each step fails
 * the test when the page does not get there within 5 s (a sign-in 10 s; a wait given a time,
 * that time).
 */
#ifndef CU_PORTAL_UI_H
#define CU_PORTAL_UI_H

#include "webdriver.h"

/* The session and server every step below uses. */
void pui_bind(wd *w, const char *base);
/* Clears what the browser keeps (localStorage, cookies, caches) for every base bound so far,
 * and forgets them: for a binary whose groups share one browser (tests/portal_ui/ui.h). */
void pui_forget(void);
/* The console at base/portal/console.html, this tab's sessionStorage empty, sign-in shown. */
void pui_open_console(void);
/* base followed by path (a page, with a query or fragment), loaded afresh: about:blank
 * first, so a path that differs from the last only in its fragment is a new page load. */
void pui_open(const char *path);
void pui_fill(const char *css, const char *text); /* cleared first; "" leaves it empty */
void pui_click(const char *css);
int pui_count(const char *css);
void pui_wait_count(const char *css, int want);
/* The text of the first element matching css (its textContent, hidden parts too), "" if none.
 * Caller frees. */
char *pui_text(const char *css);
void pui_wait_text(const char *css, const char *needle);
/* The rendered text of the first element matching css (its innerText: what shows, as shown);
 * fails the test if there is none. Caller frees. */
char *pui_seen(const char *css);
/* Waits up to ms for the rendered text of css to hold needle (no element reads as ""). */
void pui_wait_seen(const char *css, const char *needle, int ms);
/* Signs in to tenant as email and waits for the view the role lands on. */
void pui_sign_in(const char *tenant, const char *email, const char *password,
                 const char *lands_on);
void pui_sign_out(void);
/* The id of the element with focus, else its class ("" if neither). Caller frees. */
char *pui_focused(void);
/* Fails, saying where the focus is, unless pui_focused() reads want. */
void pui_expect_focus(const char *want);
/* Neither the page nor the first element matching box, when shown, scrolls sideways. */
void pui_no_sideways_scroll(const char *box);
/* A PNG in $CUSTOS_SCREENSHOTS (default build/test/screenshots). */
void pui_shot(const char *name);
/* No SEVERE entry in the browser's console since the last read. */
void pui_console_clean(void);

#endif
