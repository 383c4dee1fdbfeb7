/*
 * cookie_banner.c: the cookie banner script (GET .../cookies/banner.js, P-CON-3;
 * docs/consent.md, src/http/api_consent.c) in a real browser, against the real HTTPS server the
 * binary shares among its groups (a group of test_portal_ui, tests/portal_ui/ui.h: the browser is
 * the binary's too).
 *
 * The page that includes the script is the SaaS's own site, which this group serves itself on a
 * free loopback port (libmicrohttpd, plain HTTP on 127.0.0.1), under a strict CSP (script-src
 * 'self' and the Custos server, no 'unsafe-inline'). The site keeps its visitor id in its own
 * cookie and has the relay endpoint the script's data-endpoint names: GET relays to the check,
 * POST to the choice, with the site's agent key and the visitor id, and Sec-GPC as the browser
 * sent it. Chromium sends no Sec-GPC by itself, so the relay adds `Sec-GPC: 1` for visitors whose
 * id begins with "gpc-", as the site would forward it from a browser with GPC on. The script
 * itself comes from the real Custos server over HTTPS (its self-signed certificate accepted by
 * the session, acceptInsecureCerts).
 *
 * The tenant's policy is ERP Smart Cloud's (analytics and preference: consent; advertising:
 * never; GPC turns analytics off) with a further consent category, functional, and a further
 * never one, social_media. Asserted in the browser, each answer read back through Custos' own
 * check: the banner appears for a visitor who has not chosen, offering exactly the consent
 * categories (never advertising nor social media); "Reject all", "Accept all" and "Save my
 * choice" record what was clicked; the custos:cookies event carries the answer; a reload shows
 * no banner; with GPC the categories the policy's cookies.gpc turns off are not offered; and the
 * site reopens the banner (a data-custos-cookies-open element, or a custos:cookies-open event)
 * with the current choices checked, to withdraw one. The ledger's counts are the group's own
 * tenant's, on the shared server.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "portal_ui.h"
#include "srv.h"
#include "th.h"
#include "ui.h"

static srv *S; /* the shared server (ui.h) */
static wd *W;
static char T[SRV_ID], agent[128];
static struct MHD_Daemon *site;
static char site_base[64];

#define RELAY "/privacy/cookies"
#define VISITOR_COOKIE "site_visitor"

/* The site's own script: it notes every custos:cookies event (the site would load its
 * analytics on it). A file of the site, so the page needs no inline script. */
static const char site_js[] =
    "window.__events = [];\n"
    "document.addEventListener('custos:cookies', function (e) { window.__events.push(e.detail); "
    "});\n";

/* --- the SaaS's site: its page, its script and its relay endpoint ---------------------------- */

typedef struct upload {
    char buf[4096];
    size_t len;
} upload;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, const char *cookie, const char *csp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                             MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    /* The test binary links libcustos, whose server.c wraps MHD_queue_response: an answer
     * without X-Request-Id is taken for one of libmicrohttpd's own errors and replaced. */
    MHD_add_response_header(r, "X-Request-Id", "site");
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (cookie != NULL)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    if (csp != NULL)
        MHD_add_response_header(r, "Content-Security-Policy", csp);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* The page: ?v=ID makes ID the visitor (the site's first-party cookie); without it the cookie
 * the browser holds is kept, as on a reload. */
static enum MHD_Result page(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "v");
    char html[1024], cookie[160], csp[256];

    snprintf(html, sizeof(html),
             "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>ERP Smart Cloud</title></head><body><h1>ERP Smart Cloud</h1>"
             "<p><a href=\"#\" id=\"cookie-settings\" data-custos-cookies-open>Cookie settings</a>"
             "</p><script src=\"/site.js\"></script>"
             "<script src=\"%s/v1/tenants/%s/cookies/banner.js\" data-endpoint=\"" RELAY
             "\"></script></body></html>",
             S->base, T);
    snprintf(cookie, sizeof(cookie), VISITOR_COOKIE "=%s; Path=/; HttpOnly; SameSite=Lax",
             v ? v : "");
    snprintf(csp, sizeof(csp),
             "default-src 'none'; script-src 'self' %s; connect-src 'self'; img-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             S->base);
    return reply(c, 200, "text/html; charset=utf-8", html, v ? cookie : NULL, csp);
}

/* The relay, as a site's backend does it (docs/consent.md): the check or the choice at Custos
 * with the site's key and the visitor id from its cookie, Sec-GPC passed through (and added for
 * a gpc- visitor); Custos' status and answer passed back. */
static enum MHD_Result relay(struct MHD_Connection *c, const char *method, const upload *u)
{
    const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, VISITOR_COOKIE);
    const char *gpc_in = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-GPC");
    char auth[200], visitor[128], path[128], *body = NULL;
    const char *h[5];
    srv_resp r;
    enum MHD_Result ret;
    int n = 0;

    if (v == NULL || v[0] == '\0')
        return reply(c, 400, "application/json", "{\"error\":\"no visitor\"}", NULL, NULL);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", agent);
    h[n++] = auth;
    if ((gpc_in != NULL && strcmp(gpc_in, "1") == 0) || strncmp(v, "gpc-", 4) == 0)
        h[n++] = "Sec-GPC: 1";
    if (strcmp(method, "GET") == 0) {
        snprintf(visitor, sizeof(visitor), "Custos-Visitor: %s", v);
        h[n++] = visitor;
        snprintf(path, sizeof(path), "/v1/tenants/%s/cookies/check", T);
    } else {
        cJSON *o = cJSON_ParseWithLength(u->buf, u->len);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            return reply(c, 400, "application/json", "{\"error\":\"no JSON\"}", NULL, NULL);
        }
        cJSON_AddStringToObject(o, "visitor", v);
        body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        h[n++] = "Content-Type: application/json";
        snprintf(path, sizeof(path), "/v1/tenants/%s/cookies/choices", T);
    }
    h[n] = NULL;
    if (srv_call_h(S, method, path, h, body, body ? strlen(body) : 0, &r) != 0 || r.status == 0)
        ret = reply(c, 502, "application/json", "{\"error\":\"custos\"}", NULL, NULL);
    else
        ret = reply(c, (unsigned)r.status, "application/json", r.body, NULL, NULL);
    srv_resp_free(&r);
    free(body);
    return ret;
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con)
{
    upload *u = *con;

    (void)cls;
    (void)version;
    if (u == NULL) {
        *con = calloc(1, sizeof(upload));
        return *con ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        size_t take = *size < sizeof(u->buf) - u->len ? *size : sizeof(u->buf) - u->len;
        memcpy(u->buf + u->len, data, take);
        u->len += take;
        *size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/page") == 0 && strcmp(method, "GET") == 0)
        return page(c);
    if (strcmp(url, "/site.js") == 0 && strcmp(method, "GET") == 0)
        return reply(c, 200, "text/javascript; charset=utf-8", site_js, NULL, NULL);
    if (strcmp(url, RELAY) == 0 && (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0))
        return relay(c, method, u);
    if (strcmp(url, "/favicon.ico") == 0)
        return reply(c, 204, "image/x-icon", "", NULL, NULL);
    return reply(c, 404, "text/plain", "not found", NULL, NULL);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*con);
    *con = NULL;
}

static void site_start(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    site = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, on_req, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_END);
    assert_non_null(site);
    snprintf(site_base, sizeof(site_base), "http://127.0.0.1:%u",
             (unsigned)MHD_get_daemon_info(site, MHD_DAEMON_INFO_BIND_PORT)->port);
}

/* --- setup: a tenant on ERP Smart Cloud's policy with two further categories ------------------ */

static void bind_policy(const char *owner)
{
    static const char gpc[] = "  gpc: [analytics, advertising]\n";
    size_t len = 0;
    const char *text = cu_policy_builtin("erpsmartcloud", &len), *at;
    char path[96], *yaml, *body;
    cJSON *o;

    assert_non_null(text);
    at = strstr(text, gpc);
    assert_non_null(at);
    yaml = malloc(len + 128);
    assert_non_null(yaml);
    snprintf(yaml, len + 128, "%.*s  functional: consent\n  social_media: never\n%s",
             (int)(at - text), text, at);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "yaml", yaml);
    body = cJSON_PrintUnformatted(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/policy", T);
    srv_call_ok(S, "PUT", path, owner, NULL, body, 200, NULL);
    free(body);
    cJSON_Delete(o);
    free(yaml);
}

static int setup(void **state)
{
    char owner[128], path[96];
    srv_resp r;

    (void)state;
    /* Like PostgreSQL, the browser is not optional (docs/testing.md): missing, the group fails. */
    if ((W = ui_browser()) == NULL)
        return -1;
    S = ui_server();
    assert_int_equal(
        srv_call(S, "POST", "/v1/tenants", S->operator_key, NULL, "{\"name\":\"erp site\"}", &r),
        0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", T, sizeof(T)), 0);
    assert_int_equal(srv_json_str(r.body, "secret", owner, sizeof(owner)), 0);
    srv_resp_free(&r);
    bind_policy(owner);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", T);
    assert_int_equal(
        srv_call(S, "POST", path, owner, NULL, "{\"name\":\"site\",\"role\":\"agent\"}", &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "secret", agent, sizeof(agent)), 0);
    srv_resp_free(&r);
    site_start();
    pui_bind(W, site_base);
    return 0;
}

/* The site stops; the browser and the shared server are the binary's. */
static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(site);
    site = NULL;
    return 0;
}

/* --- steps ------------------------------------------------------------------------------------ */

/* A string the page's script returns; caller frees. */
static char *page_str(const char *script)
{
    cJSON *v = wd_exec(W, script);
    char *s = strdup(cJSON_IsString(v) ? cJSON_GetStringValue(v) : "(not a string)");

    cJSON_Delete(v);
    return s;
}

/* Waits up to 5 s (wd_poll) for the page's custos:cookies events to number at least n; their
 * number then. */
static int wait_events(int n)
{
    wd_poll p;
    int got;

    wd_poll_begin(&p, 5000);
    do {
        cJSON *v = wd_exec(W, "return window.__events ? window.__events.length : 0;");
        got = (int)cJSON_GetNumberValue(v);
        cJSON_Delete(v);
    } while (got < n && wd_poll_again(&p));
    return got;
}

/* The site's page for visitor (NULL: the visitor the browser's cookie names), waiting for the
 * script's first custos:cookies event (its check answered). */
static void visit(const char *visitor)
{
    char path[128];

    snprintf(path, sizeof(path), visitor ? "/page?v=%s" : "/page", visitor ? visitor : "");
    pui_open(path);
    if (wait_events(1) < 1) {
        cJSON *log = wd_console(W);
        char *l = cJSON_PrintUnformatted(log), said[1024];
        snprintf(said, sizeof(said), "%s", l ? l : "");
        free(l);
        cJSON_Delete(log);
        l = page_str("return location.href + ' ' + typeof window.__events + ' ' + "
                     "document.documentElement.outerHTML.slice(0, 300);");
        fail_msg("no custos:cookies event on the page of %s (console %s; page %s)",
                 visitor ? visitor : "(cookie)", said, l);
    }
}

#define EXPECT_PAGE(script, want)                                                                  \
    do {                                                                                           \
        char *got_ = page_str(script);                                                             \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("%s: \"%s\", want \"%s\"", script, got_, want);                               \
        free(got_);                                                                                \
    } while (0)

/* The banner's offered categories, as its labels read, joined by |. */
#define OFFERED                                                                                    \
    "return Array.prototype.map.call(document.querySelectorAll('.custos-banner label'), "          \
    "function (l) { return l.textContent.trim(); }).join('|');"
/* Which of its boxes are checked, 1 or 0 each. */
#define CHECKED                                                                                    \
    "return Array.prototype.map.call(document.querySelectorAll('.custos-banner input'), "          \
    "function (i) { return i.checked ? '1' : '0'; }).join('');"
/* The newest custos:cookies event's allowed, as JSON. */
#define LAST_EVENT "return JSON.stringify(window.__events[window.__events.length - 1].allowed);"

/* Clicks the banner's button n (1 Accept all, 2 Reject all, 3 Save my choice), named so. */
static void press(int n, const char *name)
{
    char css[64], *text;

    snprintf(css, sizeof(css), ".custos-banner button:nth-of-type(%d)", n);
    text = pui_seen(css);
    assert_string_equal(text, name);
    free(text);
    pui_click(css);
}

/* Presses a button and waits for the banner to go and the event of the answer to come. */
static void choose(int n, const char *name)
{
    int before = wait_events(0);

    press(n, name);
    pui_wait_count(".custos-banner", 0);
    assert_true(wait_events(before + 1) > before);
}

/* What Custos' own check says of visitor, without GPC: "allowed" and "chosen" must read so. */
static void custos_says(const char *visitor, const char *allowed, int chosen)
{
    char path[96], vh[96], auth[200], want[256];
    const char *h[] = {auth, vh, NULL};
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/cookies/check", T);
    snprintf(vh, sizeof(vh), "Custos-Visitor: %s", visitor);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", agent);
    assert_int_equal(srv_call_h(S, "GET", path, h, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "\"allowed\":%s", allowed);
    if (strstr(r.body, want) == NULL ||
        strstr(r.body, chosen ? "\"chosen\":true" : "\"chosen\":false") == NULL)
        fail_msg("visitor %s: %s, want allowed %s, chosen %d", visitor, r.body, allowed, chosen);
    srv_resp_free(&r);
}

#define ALL "[\"essential\",\"analytics\",\"preference\",\"functional\"]"
#define ESSENTIAL "[\"essential\"]"
#define OFFER_ALL "analytics cookies|preference cookies|functional cookies"

/* --- tests ------------------------------------------------------------------------------------ */

/* P-CON-3: a new visitor sees the banner, offering the consent categories only (advertising
 * and social_media, never, are not offered); "Reject all" removes it and records refusals; the
 * event carries the answer; a reload shows no banner. Under the page's strict CSP, with no
 * error in the browser's console. */
static void test_P_CON_3_banner_for_a_new_visitor_reject_all_and_reload(void **state)
{
    const char *v = "v-browser-reject-0001";

    (void)state;
    custos_says(v, ESSENTIAL, 0);
    visit(v);
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    EXPECT_PAGE(OFFERED, OFFER_ALL);
    EXPECT_PAGE(CHECKED, "000");
    EXPECT_PAGE(LAST_EVENT, ESSENTIAL);
    pui_shot("cookie-banner");
    choose(2, "Reject all");
    EXPECT_PAGE(LAST_EVENT, ESSENTIAL);
    custos_says(v, ESSENTIAL, 1);
    /* The reload (the visitor from the site's cookie): checked, and no banner. */
    visit(NULL);
    EXPECT_PAGE("return JSON.stringify([window.__events.length, window.__events[0].chosen]);",
                "[1,true]");
    usleep(300000);
    assert_int_equal(pui_count(".custos-banner"), 0);
    pui_console_clean();
}

/* P-CON-3: "Accept all" grants every offered category; "Save my choice" grants what is
 * ticked and refuses the rest; each as Custos then answers, and as the event said. */
static void test_P_CON_3_accept_all_and_save_my_choice_record_what_was_clicked(void **state)
{
    const char *a = "v-browser-accept-0001", *s = "v-browser-save-000001";

    (void)state;
    visit(a);
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    choose(1, "Accept all");
    EXPECT_PAGE(LAST_EVENT, ALL);
    custos_says(a, ALL, 1);
    visit(s);
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    pui_click(".custos-banner label:nth-of-type(2) input"); /* preference */
    EXPECT_PAGE(CHECKED, "010");
    choose(3, "Save my choice");
    EXPECT_PAGE(LAST_EVENT, "[\"essential\",\"preference\"]");
    custos_says(s, "[\"essential\",\"preference\"]", 1);
    pui_console_clean();
}

/* P-CON-3: with Global Privacy Control (the relay sends Sec-GPC: 1 for this visitor) the
 * categories the policy's cookies.gpc turns off (analytics) are not offered, and "Accept all"
 * grants only what was offered. */
static void test_P_CON_3_gpc_leaves_out_what_the_policy_turns_off(void **state)
{
    const char *v = "gpc-browser-visitor01";

    (void)state;
    visit(v);
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    EXPECT_PAGE("return String(window.__events[0].gpc);", "true");
    EXPECT_PAGE(OFFERED, "preference cookies|functional cookies");
    choose(1, "Accept all");
    EXPECT_PAGE(LAST_EVENT, "[\"essential\",\"preference\",\"functional\"]");
    /* Checked without GPC: analytics was never granted. */
    custos_says(v, "[\"essential\",\"preference\",\"functional\"]", 1);
    pui_console_clean();
}

/* Issue 14 audit, GDPR Art. 7(3): the site reopens the banner with an element carrying
 * data-custos-cookies-open (no script of its own); it shows the current choices checked, and
 * unticking analytics withdraws it: Custos records the withdrawal (source settings) and the
 * event carries the narrower answer. */
static void test_P_CON_3_banner_reopens_to_withdraw(void **state)
{
    const char *v = "v-browser-reopen-0001";
    char sql[256];

    (void)state;
    visit(v);
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    choose(1, "Accept all");
    custos_says(v, ALL, 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM consents WHERE tenant_id = %s AND purpose = "
             "'cookies.analytics' AND source = 'settings'",
             T);
    assert_int_equal(th_sql_int(S->data, sql), 0);
    pui_click("#cookie-settings");
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    EXPECT_PAGE(OFFERED, OFFER_ALL);
    EXPECT_PAGE(CHECKED, "111");
    pui_shot("cookie-banner-reopened");
    pui_click(".custos-banner label:nth-of-type(1) input"); /* analytics off */
    choose(3, "Save my choice");
    EXPECT_PAGE(LAST_EVENT, "[\"essential\",\"preference\",\"functional\"]");
    custos_says(v, "[\"essential\",\"preference\",\"functional\"]", 1);
    /* The ledger: analytics withdrawn (action 2) from the reopened banner. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM consents WHERE tenant_id = %s AND purpose = "
             "'cookies.analytics' AND action = 2 AND source = 'settings'",
             T);
    assert_int_equal(th_sql_int(S->data, sql), 1);
    pui_console_clean();
}

/* The same by the custos:cookies-open event, after a refusal: nothing checked, and a grant
 * from it counts. */
static void test_P_CON_3_banner_reopens_on_the_event(void **state)
{
    const char *v = "v-browser-event-00001";

    (void)state;
    visit(v);
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    choose(2, "Reject all");
    custos_says(v, ESSENTIAL, 1);
    cJSON_Delete(wd_exec(W, "document.dispatchEvent(new CustomEvent('custos:cookies-open'));"));
    assert_int_equal(wd_wait_visible(W, ".custos-banner", 5000), 0);
    EXPECT_PAGE(CHECKED, "000");
    choose(1, "Accept all");
    custos_says(v, ALL, 1);
    pui_console_clean();
}

int ui_group_cookie_banner(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_CON_3_banner_for_a_new_visitor_reject_all_and_reload),
        cmocka_unit_test(test_P_CON_3_accept_all_and_save_my_choice_record_what_was_clicked),
        cmocka_unit_test(test_P_CON_3_gpc_leaves_out_what_the_policy_turns_off),
        cmocka_unit_test(test_P_CON_3_banner_reopens_to_withdraw),
        cmocka_unit_test(test_P_CON_3_banner_reopens_on_the_event),
    };

    return cmocka_run_group_tests_name("the cookie banner in a browser (P-CON-3)", tests, setup,
                                       teardown);
}
