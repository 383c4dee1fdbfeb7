/*
 * api_consent.c: cookie consent (P-CON-3) and one-click unsubscribe (P-CON-4) over HTTPS
 * (docs/consent.md, docs/api.md).
 *
 * The site's backend records choices and asks what it may set with a tenant API key holding
 * data_write (both routes); the banner script it includes holds no secret and talks to that
 * backend, never to Custos. The unsubscribe routes need no credential: the token is one. A GET
 * on a link only shows a page whose button POSTs (mail scanners follow links); the POST, as
 * RFC 8058 sends it (form content type, exact field), unsubscribes, once: a repeat writes
 * nothing. Its caller is the data subject, so no client address reaches the audit log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "custos_consent.h"
#include "http_int.h"
#include "repr.h"
#include "util.h"

#define UNSUB_PREFIX "/v1/unsubscribe/"

/* The banner's answer pages and script: nothing loads from anywhere, forms post to self. */
static const char csp_page[] =
    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/* banner_js's own revision, in its ETag beside the policy version: bump it when the script
 * changes, so a browser's copy from an older Custos is not kept. */
#define BANNER_REVISION 4

static const char *rule_name(cu_cookie_rule r)
{
    return r == CU_COOKIE_ALWAYS ? "always" : r == CU_COOKIE_WITH_CONSENT ? "consent" : "never";
}

static cJSON *rules_json(const cu_cookie_answer *a)
{
    cJSON *o = cJSON_CreateObject();

    for (size_t i = 0; i < a->n; i++)
        cJSON_AddStringToObject(o, a->name[i], rule_name(a->rule[i]));
    return o;
}

static cJSON *answer_json(const cu_cookie_answer *a)
{
    cJSON *o = cJSON_CreateObject(), *allowed = cJSON_AddArrayToObject(o, "allowed"), *gpc_off;

    for (size_t i = 0; i < a->n; i++)
        if (a->allowed[i])
            cJSON_AddItemToArray(allowed, cJSON_CreateString(a->name[i]));
    cJSON_AddItemToObject(o, "rules", rules_json(a));
    cJSON_AddBoolToObject(o, "chosen", a->chosen);
    cJSON_AddBoolToObject(o, "gpc", a->gpc);
    /* What Sec-GPC turns off under this policy (its cookies.gpc), whether or not it came. */
    gpc_off = cJSON_AddArrayToObject(o, "gpc_off");
    for (size_t i = 0; i < a->n; i++)
        if (a->gpc_off[i] && a->rule[i] == CU_COOKIE_WITH_CONSENT)
            cJSON_AddItemToArray(gpc_off, cJSON_CreateString(a->name[i]));
    cJSON_AddStringToObject(o, "policy_version", a->policy_version);
    return o;
}

/* Reads "categories": {name: bool, ...} into c (names borrowed from the request's tree;
 * whether the policy has them is the core's to say); answers 400 and returns -1 on a bad
 * member. */
static int categories_of(http_req *r, cu_cookie_choice *c)
{
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(r->json, "categories"), *m;

    cJSON_ArrayForEach(m, cats)
    {
        if (!cJSON_IsBool(m) || c->npicks == CU_COOKIE_MAX) {
            http_error(r, 400, "invalid_field",
                       "categories: \"%.32s\" must be a cookie category of the policy, with true "
                       "or false (at most %d)",
                       m->string, CU_COOKIE_MAX);
            return -1;
        }
        c->picks[c->npicks].category = m->string;
        c->picks[c->npicks++].granted = cJSON_IsTrue(m);
    }
    return 0;
}

void api_cookie_choose(http_req *r)
{
    static const http_field f[] = {{"visitor", F_STRING, 0},
                                   {"subject_id", F_ID, 0},
                                   {"categories", F_OBJECT, 1},
                                   {"source", F_STRING, 0}};
    cu_cookie_choice c = {0};
    cu_cookie_answer a;
    cu_err e = {0};

    if (http_check_body(r, f, CU_ARRAY_LEN(f)) != 0 || categories_of(r, &c) != 0)
        return;
    c.visitor = http_str(r, "visitor");
    c.subject = http_id(r, "subject_id");
    c.source = http_str(r, "source");
    if (cu_cookie_choose(r->v, &r->ctx, r->tenant, &c, &a, &e) != CU_OK) {
        /* P-CON-3: its own stable code, so a site can tell a forbidden category apart. */
        if (a.never)
            return http_error(r, 400, "cookie_never", "%s", e.msg);
        if (a.unknown)
            return http_error(r, 400, "invalid_field", "%s", e.msg);
        return http_fail(r, &e);
    }
    http_json(r, 201, answer_json(&a));
}

void api_cookie_check(http_req *r)
{
    static const char *const q[] = {"visitor", "subject_id"};
    const char *visitor, *subject;
    cu_cookie_answer a;
    cu_id sid = 0;
    cu_err e = {0};

    if (http_check_query(r, q, 2) != 0)
        return;
    /* The visitor id in the Custos-Visitor header is preferred: proxies and load balancers in
     * front of Custos log full URLs, query included, but not header values. The query stays
     * accepted; naming it in both is ambiguous (400). */
    visitor = http_header(r, "Custos-Visitor");
    if (visitor != NULL && http_query(r, "visitor") != NULL)
        return http_error(r, 400, "invalid_field",
                          "name the visitor in the Custos-Visitor header or the query, not both");
    if (visitor == NULL)
        visitor = http_query(r, "visitor");
    subject = http_query(r, "subject_id");
    if (subject != NULL && cu_id_parse(subject, &sid) != CU_OK)
        return http_error(r, 400, "invalid_field", "query parameter \"subject_id\" is no id");
    if (cu_cookie_check(r->v, &r->ctx, r->tenant, visitor, sid, &a, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 200, answer_json(&a));
}

/* The banner (docs/consent.md): RULES and VERSION come from the policy in force. The page
 * gives it data-endpoint, a route of the site's own backend that relays GET (the check) and
 * POST (the choice) to Custos with the site's key and the visitor id, and Sec-GPC as it came.
 * It builds its DOM with textContent only, styles through the CSSOM, and evaluates nothing, so
 * it runs under a strict CSP (script-src naming this server, no 'unsafe-inline'). */
static const char banner_js[] =
    "/* Custos cookie banner (docs/consent.md). No secret: it talks to data-endpoint, the\n"
    " * site's own backend, which relays to Custos with its key. */\n"
    "(function () {\n"
    "  \"use strict\";\n"
    "  var RULES = %s, VERSION = %s;\n"
    "  var me = document.currentScript, endpoint = me && me.getAttribute(\"data-endpoint\");\n"
    "  var shown = null;\n"
    "  if (!endpoint) return;\n"
    "  function apply(answer) {\n"
    "    document.dispatchEvent(new CustomEvent(\"custos:cookies\", {detail: answer}));\n"
    "  }\n"
    "  function send(method, body) {\n"
    "    var o = {method: method, credentials: \"same-origin\", headers: {}};\n"
    "    if (body) {\n"
    "      o.headers[\"Content-Type\"] = \"application/json\";\n"
    "      o.body = JSON.stringify(body);\n"
    "    }\n"
    "    return fetch(endpoint, o).then(function (r) {\n"
    "      if (!r.ok) throw new Error(\"consent endpoint answered \" + r.status);\n"
    "      return r.json();\n"
    "    });\n"
    "  }\n"
    "  function el(tag, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (text) e.textContent = text;\n"
    "    return e;\n"
    "  }\n"
    "  /* The categories to ask about: those needing consent, less what Global Privacy Control\n"
    "   * turns off under the policy when the browser sends it (the answer's gpc_off). */\n"
    "  function askable(a) {\n"
    "    return Object.keys(RULES).filter(function (c) {\n"
    "      return RULES[c] === \"consent\" && !(a.gpc && (a.gpc_off || []).indexOf(c) >= 0);\n"
    "    });\n"
    "  }\n"
    "  /* Reopened (again), it shows the current choices checked and records as settings. */\n"
    "  function banner(a, again) {\n"
    "    var box = el(\"div\"), boxes = {};\n"
    "    box.setAttribute(\"role\", \"dialog\");\n"
    "    box.setAttribute(\"aria-label\", \"Cookie choices\");\n"
    "    box.className = \"custos-banner\";\n"
    "    box.style.position = \"fixed\"; box.style.bottom = \"0\"; box.style.left = \"0\";\n"
    "    box.style.right = \"0\"; box.style.padding = \"1em\"; box.style.background = \"#fff\";\n"
    "    box.style.borderTop = \"1px solid #888\"; box.style.zIndex = \"2147483647\";\n"
    "    box.appendChild(el(\"p\", \"This site sets essential cookies. May it also set:\"));\n"
    "    askable(a).forEach(function (c) {\n"
    "      var l = el(\"label\"), i = el(\"input\");\n"
    "      i.type = \"checkbox\";\n"
    "      i.checked = (a.allowed || []).indexOf(c) >= 0;\n"
    "      boxes[c] = i;\n"
    "      l.appendChild(i);\n"
    "      l.appendChild(document.createTextNode(\" \" + c.replace(/_/g, \" \") + \" cookies \"));\n"
    "      box.appendChild(l);\n"
    "    });\n"
    "    function choose(all) {\n"
    "      var cats = {};\n"
    "      Object.keys(boxes).forEach(function (c) {\n"
    "        cats[c] = all === null ? boxes[c].checked : all;\n"
    "      });\n"
    "      send(\"POST\", {categories: cats, source: again ? \"settings\" : \"banner\"})\n"
    "        .then(function (now) {\n"
    "          box.remove();\n"
    "          shown = null;\n"
    "          apply(now);\n"
    "        });\n"
    "    }\n"
    "    /* Refusing is as easy as accepting: same buttons, same place. */\n"
    "    [[\"Accept all\", true], [\"Reject all\", false], [\"Save my choice\", null]]\n"
    "      .forEach(function (b) {\n"
    "        var btn = el(\"button\", b[0]);\n"
    "        btn.type = \"button\";\n"
    "        btn.addEventListener(\"click\", function () { choose(b[1]); });\n"
    "        box.appendChild(btn);\n"
    "      });\n"
    "    document.body.appendChild(box);\n"
    "    shown = box;\n"
    "    if (again) box.querySelector(\"input, button\").focus();\n"
    "  }\n"
    "  function fits(a) { return askable(a).length && a.policy_version === VERSION; }\n"
    "  /* The site reopens it (to change or withdraw a choice) with no script of its own: an\n"
    "   * element with data-custos-cookies-open, or a custos:cookies-open event on document. */\n"
    "  function open() {\n"
    "    if (shown) return;\n"
    "    send(\"GET\").then(function (a) { if (!shown && fits(a)) banner(a, true); });\n"
    "  }\n"
    "  document.addEventListener(\"custos:cookies-open\", open);\n"
    "  document.addEventListener(\"click\", function (e) {\n"
    "    var t = e.target;\n"
    "    t = t && t.closest && t.closest(\"[data-custos-cookies-open]\");\n"
    "    if (!t) return;\n"
    "    e.preventDefault();\n"
    "    open();\n"
    "  });\n"
    "  send(\"GET\").then(function (a) {\n"
    "    apply(a);\n"
    "    if (!a.chosen && !shown && fits(a)) banner(a, false);\n"
    "  });\n"
    "})();\n";

void api_cookie_banner(http_req *r)
{
    cu_cookie_answer a;
    cu_err e = {0};
    cJSON *rules, *version;
    char *rs, *vs;
    size_t n;

    if (cu_cookie_rules(r->v, r->tenant, &a, &e) != CU_OK) {
        /* P-ISO-1: no credential came, so a tenant without a policy answers as none does. */
        if (e.code == CU_ERR_CONFLICT)
            e.code = CU_ERR_NOT_FOUND;
        return http_fail(r, &e);
    }
    /* Loaded on every page view of the tenant's site: cacheable a short while, revalidated by
     * the stored version number (the script changes with nothing else). No CSP header: it
     * governs documents, not a script. */
    snprintf(r->etag, sizeof(r->etag), "\"b%d-%s\"", BANNER_REVISION,
             strrchr(a.policy_stamp, '#') ? strrchr(a.policy_stamp, '#') + 1 : "0");
    r->cache_control = "public, max-age=300";
    {
        const char *inm = http_header(r, "If-None-Match");
        if (inm != NULL && strcmp(inm, r->etag) == 0) {
            free(r->resp);
            if ((r->resp = malloc(1)) == NULL)
                return http_error(r, 503, "out_of_memory", "out of memory");
            r->resp_len = 0;
            r->status = 304;
            r->content_type = "text/javascript; charset=utf-8";
            return;
        }
    }
    rules = rules_json(&a);
    version = cJSON_CreateString(a.policy_version);
    rs = cJSON_PrintUnformatted(rules);
    vs = cJSON_PrintUnformatted(version);
    cJSON_Delete(rules);
    cJSON_Delete(version);
    n = sizeof(banner_js) + (rs ? strlen(rs) : 0) + (vs ? strlen(vs) : 0);
    free(r->resp);
    if (rs == NULL || vs == NULL || (r->resp = malloc(n)) == NULL) {
        r->resp = NULL;
        free(rs);
        free(vs);
        return http_error(r, 503, "out_of_memory", "out of memory");
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    r->resp_len = (size_t)snprintf(r->resp, n, banner_js, rs, vs);
#pragma GCC diagnostic pop
    free(rs);
    free(vs);
    r->status = 200;
    r->content_type = "text/javascript; charset=utf-8";
}

/* --- one-click unsubscribe ----------------------------------------------------------------- */

void api_unsubscribe_link(http_req *r)
{
    static const http_field f[] = {{"purpose", F_STRING, 1}};
    char token[CU_UNSUB_TOKEN_MAX], url[sizeof(UNSUB_PREFIX) + CU_UNSUB_TOKEN_MAX];
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 1) != 0)
        return;
    if (cu_unsubscribe_link(r->v, &r->ctx, r->tenant, r->ids[1], http_str(r, "purpose"), token,
                            &e) != CU_OK)
        return http_fail(r, &e);
    snprintf(url, sizeof(url), UNSUB_PREFIX "%s", token);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "subject_id", r->ids[1]);
    cJSON_AddStringToObject(o, "purpose", http_str(r, "purpose"));
    cJSON_AddStringToObject(o, "url", url);
    /* RFC 8058: the two headers a message carries, with this server's base URL before url. */
    cJSON_AddStringToObject(o, "list_unsubscribe_post", "List-Unsubscribe=One-Click");
    http_json(r, 201, o);
}

/* A tiny page: text/html with a CSP that forbids everything but posting to itself. */
static void page(http_req *r, unsigned status, const char *title, const char *text, int form)
{
    static const char fmt[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"robots\" content=\"noindex\"><title>%s</title></head><body>"
        "<h1>%s</h1><p>%s</p>%s</body></html>\n";
    static const char button[] =
        "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>";
    int n = snprintf(NULL, 0, fmt, title, title, text, form ? button : "");

    free(r->resp);
    if (n < 0 || (r->resp = malloc((size_t)n + 1)) == NULL) {
        r->resp = NULL;
        return http_error(r, 503, "out_of_memory", "out of memory");
    }
    snprintf(r->resp, (size_t)n + 1, fmt, title, title, text, form ? button : "");
    r->resp_len = (size_t)n;
    r->status = status;
    r->content_type = "text/html; charset=utf-8";
    r->csp = csp_page;
}

/* Answers a token's refusal: 410 link_expired, or 404 (any flaw, P-ISO-1). A person whose
 * browser asks for HTML gets a small page for the 410 (the 200 was one too); a mail client or
 * API caller, JSON. */
static void unsub_fail(http_req *r, const cu_unsubscribe_info *info, const cu_err *e)
{
    const char *accept = http_header(r, "Accept");

    if (info->expired && accept != NULL && strstr(accept, "text/html") != NULL)
        return page(r, 410, "Link expired",
                    "This unsubscribe link was issued under privacy terms that have since been "
                    "replaced. Use the link in a newer message, or reply to the sender to stop "
                    "these messages.",
                    0);
    if (info->expired)
        return http_error(r, 410, "link_expired",
                          "this unsubscribe link was issued under a policy version that was "
                          "replaced; use the link in a newer message");
    http_fail(r, e);
}

void api_unsubscribe_page(http_req *r)
{
    const char *token = r->path + sizeof(UNSUB_PREFIX) - 1;
    cu_unsubscribe_info info;
    char text[160];
    cu_err e = {0};

    /* P-CON-4: a GET never unsubscribes; it shows a button that POSTs. */
    if (cu_unsubscribe_peek(r->v, token, &info, &e) != CU_OK)
        return unsub_fail(r, &info, &e);
    /* The policy's purpose name; anything but [A-Za-z0-9_.-] shown as _, never as markup. */
    for (char *p = info.purpose; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            *p = '_';
    snprintf(text, sizeof(text),
             "Stop receiving messages for \"%s\"? Service notices about your account will "
             "still be sent.",
             info.purpose);
    page(r, 200, "Unsubscribe", text, 1);
}

/* The offset of needle in b[from..n), or -1 (the body need not be NUL-terminated). */
static long body_find(const char *b, size_t n, size_t from, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = from; b != NULL && i + k <= n; i++)
        if (memcmp(b + i, needle, k) == 0)
            return (long)i;
    return -1;
}

/* 1 if the Content-Type header names type (case-insensitive), parameters allowed after it. */
static int type_is(const http_req *r, const char *type)
{
    const char *ct = http_header(r, "Content-Type");
    size_t k = strlen(type);

    return ct != NULL && strncasecmp(ct, type, k) == 0 &&
           (ct[k] == '\0' || ct[k] == ';' || ct[k] == ' ');
}

/* url-encoded: one of the &-separated pairs is exactly List-Unsubscribe=One-Click. */
static int one_click_form(const char *b, size_t n)
{
    static const char pair[] = "List-Unsubscribe=One-Click";
    size_t k = sizeof(pair) - 1;

    for (size_t i = 0; b != NULL && i <= n;) {
        const char *amp = memchr(b + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - b) : n;
        if (end - i == k && memcmp(b + i, pair, k) == 0)
            return 1;
        i = end + 1;
    }
    return 0;
}

/* multipart: a part whose Content-Disposition line names exactly List-Unsubscribe, with no
 * other header after it, and whose value is exactly One-Click. */
static int one_click_multipart(const char *b, size_t n)
{
    static const char name[] = "Content-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                               "One-Click\r\n--";

    return body_find(b, n, 0, name) >= 0;
}

/* RFC 8058 3.1: the body is List-Unsubscribe=One-Click, as application/x-www-form-urlencoded or
 * multipart/form-data; anything else (another type, the text inside another field) is not it. */
static int one_click(const http_req *r)
{
    if (type_is(r, "application/x-www-form-urlencoded"))
        return one_click_form(r->body, r->body_len);
    if (type_is(r, "multipart/form-data"))
        return one_click_multipart(r->body, r->body_len);
    return 0;
}

void api_unsubscribe_post(http_req *r)
{
    const char *token = r->path + sizeof(UNSUB_PREFIX) - 1;
    cu_unsubscribe_info info;
    cu_err e = {0};

    if (!one_click(r))
        return http_error(r, 400, "one_click_required",
                          "the body must be List-Unsubscribe=One-Click (RFC 8058)");
    r->ctx.actor = "unsubscribe-link";
    /* P-AUD-4: the caller here is the data subject (or their mail client), so its address is
     * personal data the append-only log would keep past erasure: the entry records none. */
    r->ctx.source = "";
    if (cu_unsubscribe(r->v, &r->ctx, token, &info, &e) != CU_OK)
        return unsub_fail(r, &info, &e);
    page(r, 200, "Unsubscribed",
         "You will no longer receive these messages. Service notices about your account will "
         "still be sent.",
         0);
}
