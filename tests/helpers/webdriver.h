/*
 * webdriver.h: a small W3C WebDriver client for the browser tests (docs/portal.md): Debian's
 * chromedriver, started on a free loopback port and stopped by pid, driving headless Chromium
 * over its HTTP protocol with libcurl and cJSON. Every call fails the test on an error answer.
 */
#ifndef CU_WEBDRIVER_H
#define CU_WEBDRIVER_H

#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct wd {
    pid_t pid;        /* chromedriver */
    char base[64];    /* http://127.0.0.1:PORT */
    char session[80]; /* the session id */
    char log[300];    /* chromedriver's own log file */
} wd;

#define WD_EID 96 /* an element reference */

/* 1 if chromium and chromedriver are installed (`make deps`). */
int wd_available(void);
/* Starts chromedriver and a new headless session (acceptInsecureCerts: the test server's
 * certificate is self-signed) with a window of width x height. */
void wd_start(wd *w, int width, int height);
/* Ends the session (closing the browser) and stops chromedriver by pid. */
void wd_stop(wd *w);

/* The session as a new one starts (for a binary that runs several groups in one browser): a
 * new tab in place of the old (an empty sessionStorage), no cookie of any site, about:blank,
 * a window of width x height, the console's entries so far dropped. */
void wd_fresh(wd *w, int width, int height);
/* Clears everything the browser keeps for origin ("https://127.0.0.1:PORT"): localStorage,
 * cookies, caches (DevTools' Storage.clearDataForOrigin, "all"); no page of it need be open. */
void wd_forget_origin(wd *w, const char *origin);
void wd_get(wd *w, const char *url);
void wd_window(wd *w, int width, int height);
/* The first element matching the CSS selector: 0 with its reference in eid, or -1 if none. */
int wd_find(wd *w, const char *css, char eid[WD_EID]);
/* The element with focus. */
void wd_active(wd *w, char eid[WD_EID]);
void wd_click(wd *w, const char *eid);
/* Empties an input. */
void wd_clear(wd *w, const char *eid);
/* Types text into the element (WebDriver key codes too, e.g. WD_TAB). */
void wd_keys(wd *w, const char *eid, const char *text);
/* Types text (UTF-8; WebDriver key codes too) into whatever element has focus, as a person
 * at the keyboard would (the W3C actions API): no element reference, no click. */
void wd_type(wd *w, const char *text);
/* The element's rendered text, or an attribute / DOM property of it; caller frees. */
char *wd_text(wd *w, const char *eid);
char *wd_attr(wd *w, const char *eid, const char *name);
/* Runs script (a function body; `return` gives the value) in the page: its value, owned by the
 * caller (cJSON_Delete). */
cJSON *wd_exec(wd *w, const char *script);
/* The same for a script that answers later: it calls its last argument (the callback) with
 * its value, e.g. after a fetch. */
cJSON *wd_exec_async(wd *w, const char *script);
/* Saves a PNG of the window at path. */
void wd_screenshot(wd *w, const char *path);
/* The browser console's entries since the last call (an array of {level, message, ...}). */
cJSON *wd_console(wd *w);
/* A wait of ms milliseconds, polled every 20 ms: wd_poll_begin, then after each check that
 * fails, wd_poll_again, which sleeps and answers 0 once the wait is over. It is over when both
 * ms have passed and ms / 50 polls were made: never sooner than the 50 ms polls these waits
 * made before (whose length grew with each check's own time), nor later. */
typedef struct wd_poll {
    struct timespec t0;
    int ms, polls;
} wd_poll;
void wd_poll_begin(wd_poll *p, int ms);
int wd_poll_again(wd_poll *p);
/* Waits up to ms for the CSS selector to match a displayed element; 0 if it did. */
int wd_wait_visible(wd *w, const char *css, int ms);

#define WD_TAB "\xee\x80\x84"   /* U+E004 */
#define WD_ENTER "\xee\x80\x87" /* U+E007 */

#endif
