/*
 * portal_ui.c: the browser tests' page steps (portal_ui.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "portal_ui.h"

static wd *W;
static char base[128];
/* Every server base bound since the last pui_forget (a restart binds a new port). */
static char seen[16][128];
static int nseen;

void pui_bind(wd *w, const char *url)
{
    W = w;
    snprintf(base, sizeof(base), "%s", url);
    for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i], url) == 0)
            return;
    assert_true(nseen < (int)(sizeof(seen) / sizeof(seen[0])));
    snprintf(seen[nseen++], sizeof(seen[0]), "%s", url);
}

void pui_forget(void)
{
    for (int i = 0; i < nseen; i++)
        wd_forget_origin(W, seen[i]);
    nseen = 0;
}

void pui_open_console(void)
{
    char url[192];
    cJSON *v;

    /* The tab's sessionStorage of the server emptied from its static start page (the same
     * origin; it runs no script and calls no route): the console then loads once, afresh. */
    snprintf(url, sizeof(url), "%s/portal/index.html", base);
    wd_get(W, url);
    cJSON_Delete(wd_exec(W, "sessionStorage.clear();"));
    snprintf(url, sizeof(url), "%s/portal/console.html", base);
    wd_get(W, url);
    v = wd_exec(W, "return sessionStorage.length;");
    assert_int_equal((int)cJSON_GetNumberValue(v), 0);
    cJSON_Delete(v);
    assert_int_equal(wd_wait_visible(W, "#login", 5000), 0);
}

void pui_open(const char *path)
{
    char url[512];

    snprintf(url, sizeof(url), "%s%s", base, path);
    wd_get(W, "about:blank");
    wd_get(W, url);
}

void pui_fill(const char *css, const char *text)
{
    char eid[WD_EID];

    if (wd_find(W, css, eid) != 0)
        fail_msg("no element %s", css);
    wd_clear(W, eid);
    if (text[0] != '\0')
        wd_keys(W, eid, text);
}

void pui_click(const char *css)
{
    char eid[WD_EID];

    if (wd_find(W, css, eid) != 0)
        fail_msg("no element %s", css);
    wd_click(W, eid);
}

int pui_count(const char *css)
{
    char script[320];
    cJSON *v;
    int n;

    snprintf(script, sizeof(script), "return document.querySelectorAll('%s').length;", css);
    v = wd_exec(W, script);
    n = (int)cJSON_GetNumberValue(v);
    cJSON_Delete(v);
    return n;
}

void pui_wait_count(const char *css, int want)
{
    wd_poll p;

    wd_poll_begin(&p, 5000);
    while (pui_count(css) != want && wd_poll_again(&p))
        ;
    if (pui_count(css) != want) {
        char *st = pui_text("#status");
        cJSON *log = wd_console(W);
        char *l = cJSON_PrintUnformatted(log);
        char said[256], logged[1024];
        snprintf(said, sizeof(said), "%s", st);
        snprintf(logged, sizeof(logged), "%s", l ? l : "");
        free(st);
        free(l);
        cJSON_Delete(log);
        fail_msg("%s: %d elements, want %d (the page's status: \"%s\", console %s)", css,
                 pui_count(css), want, said, logged);
    }
}

/* The text of the first element matching css, read in one script (a table the page redraws
 * cannot go stale between finding and reading): its textContent, or rendered, its innerText;
 * "" if none, *found (when asked) saying whether there was one. Caller frees. */
static char *read_text(const char *css, int rendered, int *found)
{
    char script[384];
    cJSON *v;
    char *s;

    snprintf(script, sizeof(script),
             "var e = document.querySelector('%s'); return e ? e.%s : null;", css,
             rendered ? "innerText" : "textContent");
    v = wd_exec(W, script);
    if (found != NULL)
        *found = cJSON_IsString(v);
    s = strdup(cJSON_IsString(v) ? cJSON_GetStringValue(v) : "");
    cJSON_Delete(v);
    assert_non_null(s);
    return s;
}

char *pui_text(const char *css)
{
    return read_text(css, 0, NULL);
}

char *pui_seen(const char *css)
{
    int found;
    char *s = read_text(css, 1, &found);

    if (!found) {
        free(s);
        fail_msg("no element %s", css);
    }
    return s;
}

/* Polls up to ms (wd_poll) for the text of css to hold needle. */
static void wait_text(const char *css, const char *needle, int rendered, int ms)
{
    char *s = NULL;
    wd_poll p;

    wd_poll_begin(&p, ms);
    do {
        free(s);
        s = read_text(css, rendered, NULL);
        if (strstr(s, needle) != NULL)
            break;
    } while (wd_poll_again(&p));
    if (strstr(s, needle) == NULL) {
        char got[512];
        char *st = pui_text("#status");
        char said[256];
        snprintf(got, sizeof(got), "%s", s);
        snprintf(said, sizeof(said), "%s", st);
        free(s);
        free(st);
        fail_msg("%s reads \"%s\", not \"%s\" (the page's status: \"%s\")", css, got, needle,
                 said);
    }
    free(s);
}

void pui_wait_text(const char *css, const char *needle)
{
    wait_text(css, needle, 0, 5000);
}

void pui_wait_seen(const char *css, const char *needle, int ms)
{
    wait_text(css, needle, 1, ms);
}

void pui_sign_in(const char *tenant, const char *email, const char *password,
                 const char *lands_on)
{
    pui_fill("#tenant", tenant);
    pui_fill("#email", email);
    pui_fill("#password", password);
    pui_click("#signin");
    if (wd_wait_visible(W, lands_on, 10000) != 0) {
        char *st = pui_text("#status");
        fail_msg("sign-in of %s did not reach %s: \"%s\"", email, lands_on, st);
    }
}

void pui_sign_out(void)
{
    pui_click("#logout");
    assert_int_equal(wd_wait_visible(W, "#login", 5000), 0);
}

char *pui_focused(void)
{
    cJSON *v = wd_exec(W, "var e = document.activeElement; return e.id || e.className;");
    char *s = strdup(cJSON_GetStringValue(v) ? cJSON_GetStringValue(v) : "");

    cJSON_Delete(v);
    assert_non_null(s);
    return s;
}

void pui_expect_focus(const char *want)
{
    char *s = pui_focused();
    int ok = strcmp(s, want) == 0;

    if (!ok)
        print_error("focus on \"%s\", expected \"%s\"\n", s, want);
    free(s);
    assert_true(ok);
}

void pui_no_sideways_scroll(const char *box)
{
    char script[320];
    cJSON *v;

    snprintf(script, sizeof(script),
             "var d = document.documentElement, q = document.querySelector('%s'); return "
             "Math.max(d.scrollWidth - d.clientWidth, q.offsetParent ? q.scrollWidth - "
             "q.clientWidth : 0);",
             box);
    v = wd_exec(W, script);
    assert_true(cJSON_GetNumberValue(v) <= 0);
    cJSON_Delete(v);
}

void pui_shot(const char *name)
{
    const char *dir = getenv("CUSTOS_SCREENSHOTS");
    char path[512];

    if (dir == NULL || dir[0] == '\0') {
        dir = "build/test/screenshots";
        mkdir("build/test", 0755);
        mkdir(dir, 0755);
    }
    snprintf(path, sizeof(path), "%s/%s.png", dir, name);
    wd_screenshot(W, path);
}

void pui_console_clean(void)
{
    cJSON *log = wd_console(W), *e;

    cJSON_ArrayForEach(e, log)
    {
        const char *level = cJSON_GetStringValue(cJSON_GetObjectItem(e, "level"));
        if (level != NULL && strcmp(level, "SEVERE") == 0)
            fail_msg("browser console: %s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")));
    }
    cJSON_Delete(log);
}
