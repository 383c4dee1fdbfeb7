/*
 * test_docs.c: the API documents against the code. docs/openapi.yaml and the route table of
 * docs/permissions.md must list exactly the routes of http_routes[] (src/http/router.c), each
 * with its method and permission, and no route that does not exist; the roles named for a
 * route are those cu_role_can() gives its permission; the error codes documented in
 * docs/openapi.yaml and docs/api.md are every stable code, each with the status the server
 * answers (http_status_of). Run from the repository root.
 *
 * Path parameters: http_routes[] writes {tenant}, {id} and {name}; docs/openapi.yaml names
 * them after what they identify:
 *
 *   {tenant}                        -> {tenant_id}
 *   {name}                          -> {collection}
 *   {id} after /subjects            -> {subject_id}
 *   {id} after /records             -> {record_id}
 *   {id} after /api-keys            -> {key_id}
 *   {id} after /users               -> {user_id}
 *   {id} after /requests            -> {request_id}
 *
 * A route with an {id} after any other segment fails the test until this mapping (id_names
 * below) and the documents name it. docs/permissions.md keeps the router's own spelling.
 *
 * docs/openapi.yaml must also parse as YAML (libyaml): a client generator reads it whole. It
 * is read line by line here, so it keeps a fixed layout: under `paths:`, a path
 * is a key indented by two spaces, a method a key indented by four, and inside an operation
 * (indented by six) `x-custos-permission: NAME`, `requestBody:`, `security: []` and a
 * reference to '#/components/parameters/Purpose' say what the route's permission and flags
 * R_BODY, R_NOAUTH and R_PURPOSE say.
 *
 * docs/audit.md documents the audit log well enough for a tenant to verify it without Custos:
 * its table of actions must name exactly the actions src/core writes (the string literals of
 * every cu_audit_in_set() call), and its worked examples must verify: the entry's hash
 * recomputed by cu_audit_hash(), the checkpoint's signature checked over the message the
 * document describes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core_int.h"
#include "http_int.h"

#define OPENAPI "docs/openapi.yaml"
#define PERMISSIONS "docs/permissions.md"
#define API_MD "docs/api.md"
#define AUDIT_MD "docs/audit.md"
#define CORE_DIR "src/core"
#define MAX_ACTIONS 128
#define MAX_OPS 128

/* The names docs/permissions.md and x-custos-permission give each cu_perm; 0 is none. */
static const char *const perm_names[CU_PERM_PORTAL + 1] = {
    [0] = "none",
    [CU_PERM_TENANTS] = "tenants",
    [CU_PERM_DATA_READ] = "data_read",
    [CU_PERM_DATA_WRITE] = "data_write",
    [CU_PERM_DATA_ERASE] = "data_erase",
    [CU_PERM_SCHEMA] = "schema",
    [CU_PERM_USERS] = "users",
    [CU_PERM_KEYS] = "keys",
    [CU_PERM_AUDIT] = "audit",
    [CU_PERM_AGGREGATE] = "aggregate",
    [CU_PERM_SELF] = "self",
    [CU_PERM_POLICY] = "policy",
    [CU_PERM_PORTAL] = "portal",
};

/* The OpenAPI name of an {id} parameter, by the segment before it. */
static const struct {
    const char *after;
    const char *param;
} id_names[] = {
    {"subjects", "{subject_id}"},
    {"records", "{record_id}"},
    {"api-keys", "{key_id}"},
    {"users", "{user_id}"},
    {"links", "{user_id}"}, /* sso/links/{id}: a user's link (docs/sso.md) */
    {"holds", "{hold_id}"},
    {"requests", "{request_id}"},
    {"webhooks", "{endpoint_id}"},
    {"events", "{event_id}"},
    {"incidents", "{incident_id}"},
};

/* The HTTP layer's own error codes and their statuses (router.c, server.c). */
static const struct {
    const char *code;
    unsigned status;
} http_codes[] = {
    {"malformed_json", 400},     {"unknown_field", 400},    {"missing_field", 400},
    {"invalid_field", 400},      {"purpose_required", 400}, {"unsupported_media_type", 415},
    {"method_not_allowed", 405}, {"internal", 500},         {"invalid_policy", 400},
    {"json_too_complex", 400},   {"body_not_allowed", 400}, {"too_many_parameters", 400},
    {"bad_request", 400},        {"uri_too_long", 414},     {"headers_too_large", 431},
    {"http_version_not_supported", 505},
    {"origin_not_allowed", 403},
    {"request_required", 403},
    /* api_consent.c (P-CON-3, P-CON-4). */
    {"cookie_never", 400},       {"link_expired", 410},     {"one_click_required", 400},
};

static const char *perm_name(cu_perm p)
{
    const char *n = (unsigned)p <= CU_PERM_PORTAL ? perm_names[p] : NULL;

    if (n == NULL)
        fail_msg("permission %d has no documented name: add it to perm_names and the docs", (int)p);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        fail_msg("cannot open %s (run the tests from the repository root)", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Writes the OpenAPI spelling of a route pattern into out. */
static void to_openapi(const char *pattern, char *out, size_t cap)
{
    char prev[64] = "";
    size_t len = 0;

    out[0] = '\0';
    for (const char *p = pattern; *p == '/';) {
        const char *e = strchr(p + 1, '/');
        size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1);
        char seg[64];
        const char *w = seg;

        assert_true(n < sizeof(seg));
        memcpy(seg, p + 1, n);
        seg[n] = '\0';
        if (strcmp(seg, "{tenant}") == 0) {
            w = "{tenant_id}";
        } else if (strcmp(seg, "{name}") == 0) {
            w = "{collection}";
        } else if (strcmp(seg, "{token}") == 0) {
            w = "{token}"; /* an unsubscribe token (api_consent.c) */
        } else if (strcmp(seg, "{id}") == 0) {
            w = NULL;
            for (size_t i = 0; i < sizeof(id_names) / sizeof(id_names[0]); i++)
                if (strcmp(prev, id_names[i].after) == 0)
                    w = id_names[i].param;
            if (w == NULL)
                fail_msg("route %s: no OpenAPI name for {id} after /%s; extend id_names", pattern,
                         prev);
        } else if (seg[0] == '{') {
            fail_msg("route %s: unknown parameter %s", pattern, seg);
        }
        len += (size_t)snprintf(out + len, cap - len, "/%s", w);
        assert_true(len < cap);
        memcpy(prev, seg, n + 1);
        p += n + 1;
    }
}

/* --- docs/openapi.yaml -------------------------------------------------------------------- */

typedef struct op {
    char method[8];
    char path[256];
    char perm[32];
    int body, noauth, purpose;
    int line;
} op;

static size_t indent_of(const char *line)
{
    size_t n = 0;

    while (line[n] == ' ')
        n++;
    return n;
}

/* Reads the operations under `paths:`. */
static size_t openapi_ops(char *text, op *ops, size_t cap)
{
    static const char *const methods[] = {"get",   "put",  "post",    "delete",
                                          "patch", "head", "options", "trace"};
    char path[256] = "";
    op *cur = NULL;
    size_t n = 0;
    int in_paths = 0, lineno = 0;

    for (char *line = text, *next; line != NULL && *line; line = next) {
        size_t ind;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        if (strcmp(line, "paths:") == 0) {
            in_paths = 1;
            continue;
        }
        if (!in_paths || line[0] == '\0' || line[0] == '#')
            continue;
        ind = indent_of(line);
        if (ind == 0) {
            in_paths = 0; /* the next top-level key */
            continue;
        }
        if (ind == 2 && line[2] == '/') {
            char *colon = strrchr(line, ':');
            assert_non_null(colon);
            *colon = '\0';
            snprintf(path, sizeof(path), "%s", line + 2);
            cur = NULL;
        } else if (ind == 4) {
            cur = NULL;
            for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
                size_t ml = strlen(methods[m]);
                if (strncmp(line + 4, methods[m], ml) == 0 && line[4 + ml] == ':') {
                    assert_true(n < cap);
                    cur = &ops[n++];
                    memset(cur, 0, sizeof(*cur));
                    for (size_t i = 0; i < ml; i++)
                        cur->method[i] = (char)toupper((unsigned char)methods[m][i]);
                    snprintf(cur->path, sizeof(cur->path), "%s", path);
                    cur->line = lineno;
                }
            }
        } else if (cur != NULL && ind >= 6) {
            if (ind == 6 && strncmp(line + 6, "x-custos-permission:", 20) == 0)
                sscanf(line + 26, " %31s", cur->perm);
            else if (ind == 6 && strncmp(line + 6, "requestBody:", 12) == 0)
                cur->body = 1;
            else if (ind == 6 && strcmp(line + 6, "security: []") == 0)
                cur->noauth = 1;
            else if (strstr(line, "'#/components/parameters/Purpose'") != NULL)
                cur->purpose = 1;
        }
    }
    return n;
}

static void test_openapi_lists_every_route(void **state)
{
    char *text = slurp(OPENAPI);
    op ops[MAX_OPS];
    size_t n = openapi_ops(text, ops, MAX_OPS);

    (void)state;
    for (size_t i = 0; i < http_nroutes; i++) {
        const http_route *rt = &http_routes[i];
        char path[256];
        const op *o = NULL;

        to_openapi(rt->pattern, path, sizeof(path));
        for (size_t j = 0; j < n; j++)
            if (strcmp(ops[j].method, rt->method) == 0 && strcmp(ops[j].path, path) == 0)
                o = &ops[j];
        if (o == NULL)
            fail_msg(OPENAPI " lacks %s %s (route %s)", rt->method, path, rt->pattern);
        if (strcmp(o->perm, perm_name(rt->perm)) != 0)
            fail_msg(OPENAPI ":%d: %s %s: x-custos-permission \"%s\", the route needs \"%s\"",
                     o->line, rt->method, path, o->perm, perm_name(rt->perm));
        /* A form body (R_FORM, RFC 8058) is a request body too. */
        if (o->body != !!(rt->flags & (R_BODY | R_FORM)))
            fail_msg(OPENAPI ":%d: %s %s: requestBody %s, the route %s a body", o->line, rt->method,
                     path, o->body ? "given" : "missing",
                     rt->flags & (R_BODY | R_FORM) ? "requires" : "takes no");
        if (o->noauth != !!(rt->flags & R_NOAUTH))
            fail_msg(OPENAPI ":%d: %s %s: `security: []` must be there exactly when the route "
                             "needs no credential",
                     o->line, rt->method, path);
        if (o->purpose != !!(rt->flags & R_PURPOSE))
            fail_msg(OPENAPI ":%d: %s %s: the Custos-Purpose parameter must be there exactly "
                             "when the route needs a purpose",
                     o->line, rt->method, path);
    }
    free(text);
}

static void test_openapi_lists_no_stale_route(void **state)
{
    char *text = slurp(OPENAPI);
    op ops[MAX_OPS];
    size_t n = openapi_ops(text, ops, MAX_OPS);

    (void)state;
    assert_true(n > 0);
    for (size_t j = 0; j < n; j++) {
        int found = 0;
        for (size_t k = 0; k < j; k++)
            if (strcmp(ops[k].method, ops[j].method) == 0 && strcmp(ops[k].path, ops[j].path) == 0)
                fail_msg(OPENAPI ":%d: %s %s twice", ops[j].line, ops[j].method, ops[j].path);
        for (size_t i = 0; i < http_nroutes && !found; i++) {
            char path[256];
            to_openapi(http_routes[i].pattern, path, sizeof(path));
            found =
                strcmp(http_routes[i].method, ops[j].method) == 0 && strcmp(path, ops[j].path) == 0;
        }
        if (!found)
            fail_msg(OPENAPI ":%d: %s %s is no route of http_routes[]", ops[j].line, ops[j].method,
                     ops[j].path);
    }
    free(text);
}

/* --- docs/permissions.md ------------------------------------------------------------------ */

typedef struct row {
    char method[16];
    char path[256];
    char perm[32];
    char roles[256];
    char notes[512]; /* the last cell */
    int line;
} row;

/* Copies cell text without the spaces around it and without backticks. */
static void cell(const char *s, size_t n, char *out, size_t cap)
{
    size_t j = 0;

    while (n > 0 && *s == ' ')
        s++, n--;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        if (s[i] != '`')
            out[j++] = s[i];
    out[j] = '\0';
}

/* Reads the table rows whose first cell is an HTTP method. */
static size_t permission_rows(char *text, row *rows, size_t cap)
{
    size_t n = 0;
    int lineno = 0;

    for (char *line = text, *next; line != NULL && *line; line = next) {
        const char *c[5];
        size_t k = 0;
        row r;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        if (line[0] != '|')
            continue;
        for (const char *p = line; *p && k < 5; p++)
            if (*p == '|')
                c[k++] = p + 1;
        if (k < 5)
            continue;
        memset(&r, 0, sizeof(r));
        cell(c[0], (size_t)(c[1] - c[0] - 1), r.method, sizeof(r.method));
        if (strcmp(r.method, "GET") != 0 && strcmp(r.method, "POST") != 0 &&
            strcmp(r.method, "PUT") != 0 && strcmp(r.method, "DELETE") != 0 &&
            strcmp(r.method, "PATCH") != 0)
            continue;
        cell(c[1], (size_t)(c[2] - c[1] - 1), r.path, sizeof(r.path));
        cell(c[2], (size_t)(c[3] - c[2] - 1), r.perm, sizeof(r.perm));
        cell(c[3], (size_t)(c[4] - c[3] - 1), r.roles, sizeof(r.roles));
        {
            const char *end = strrchr(c[4], '|');
            cell(c[4], end != NULL && end >= c[4] ? (size_t)(end - c[4]) : strlen(c[4]), r.notes,
                 sizeof(r.notes));
        }
        r.line = lineno;
        assert_true(n < cap);
        rows[n++] = r;
    }
    return n;
}

/* 1 if word appears in s as a whole word. */
static int has_word(const char *s, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = strstr(s, word); p != NULL; p = strstr(p + 1, word)) {
        int before = p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (before && after)
            return 1;
    }
    return 0;
}

static void test_permissions_md_lists_every_route(void **state)
{
    char *text = slurp(PERMISSIONS);
    row rows[MAX_OPS];
    size_t n = permission_rows(text, rows, MAX_OPS);

    (void)state;
    for (size_t i = 0; i < http_nroutes; i++) {
        const http_route *rt = &http_routes[i];
        const row *r = NULL;
        for (size_t j = 0; j < n; j++)
            if (strcmp(rows[j].method, rt->method) == 0 && strcmp(rows[j].path, rt->pattern) == 0)
                r = &rows[j];
        if (r == NULL)
            fail_msg(PERMISSIONS " has no row for %s %s", rt->method, rt->pattern);
        if (strcmp(r->perm, perm_name(rt->perm)) != 0)
            fail_msg(PERMISSIONS ":%d: %s %s: permission \"%s\", the route needs \"%s\"", r->line,
                     rt->method, rt->pattern, r->perm, perm_name(rt->perm));
        /* A route that asks Custos-Purpose is not noted as needing none (issue 14 audit). */
        if ((rt->flags & R_PURPOSE) && strstr(r->notes, "no purpose") != NULL)
            fail_msg(PERMISSIONS ":%d: %s %s: noted \"no purpose\", but the route needs one",
                     r->line, rt->method, rt->pattern);
        if (rt->perm == 0)
            continue;
        /* The roles column names exactly the roles cu_role_can() lets through. */
        for (cu_role role = CU_ROLE_OWNER; role <= CU_ROLE_OPERATOR; role++) {
            const char *name = cu_role_name(role);
            int can = cu_role_can(role, rt->perm), named = has_word(r->roles, name);
            if (can != named)
                fail_msg(PERMISSIONS ":%d: %s %s: role %s %s the permission %s but is %s", r->line,
                         rt->method, rt->pattern, name, can ? "holds" : "lacks",
                         perm_name(rt->perm), named ? "named" : "not named");
        }
    }
    free(text);
}

static void test_permissions_md_lists_no_stale_route(void **state)
{
    char *text = slurp(PERMISSIONS);
    row rows[MAX_OPS];
    size_t n = permission_rows(text, rows, MAX_OPS);

    (void)state;
    assert_true(n > 0);
    for (size_t j = 0; j < n; j++) {
        int found = 0;
        for (size_t k = 0; k < j; k++)
            if (strcmp(rows[k].method, rows[j].method) == 0 &&
                strcmp(rows[k].path, rows[j].path) == 0)
                fail_msg(PERMISSIONS ":%d: %s %s twice", rows[j].line, rows[j].method,
                         rows[j].path);
        for (size_t i = 0; i < http_nroutes && !found; i++)
            found = strcmp(http_routes[i].method, rows[j].method) == 0 &&
                    strcmp(http_routes[i].pattern, rows[j].path) == 0;
        if (!found)
            fail_msg(PERMISSIONS ":%d: %s %s is no route of http_routes[]", rows[j].line,
                     rows[j].method, rows[j].path);
    }
    free(text);
}

/* --- error codes -------------------------------------------------------------------------- */

/* The status a document's table row "| `code` | NNN |" gives code, or 0 if it has none. */
static unsigned documented_status(const char *text, const char *code)
{
    char needle[80];
    const char *p;
    unsigned status = 0;

    snprintf(needle, sizeof(needle), "| `%s` | ", code);
    if ((p = strstr(text, needle)) == NULL || sscanf(p + strlen(needle), "%u", &status) != 1)
        return 0;
    return status;
}

static void check_codes(const char *path, int want_enum)
{
    char *text = slurp(path);
    char item[80];

    for (int rc = CU_OK + 1; rc < CU_ERR__COUNT; rc++) {
        const char *code = cu_rc_name((cu_rc)rc);
        unsigned want = http_status_of((cu_rc)rc), got = documented_status(text, code);
        if (got != want)
            fail_msg("%s: code %s is documented with status %u, the server answers %u", path, code,
                     got, want);
        snprintf(item, sizeof(item), "        - %s\n", code);
        if (want_enum && strstr(text, item) == NULL)
            fail_msg("%s: code %s is not in the ErrorCode enum", path, code);
    }
    for (size_t i = 0; i < sizeof(http_codes) / sizeof(http_codes[0]); i++) {
        unsigned got = documented_status(text, http_codes[i].code);
        if (got != http_codes[i].status)
            fail_msg("%s: code %s is documented with status %u, the server answers %u", path,
                     http_codes[i].code, got, http_codes[i].status);
        snprintf(item, sizeof(item), "        - %s\n", http_codes[i].code);
        if (want_enum && strstr(text, item) == NULL)
            fail_msg("%s: code %s is not in the ErrorCode enum", path, http_codes[i].code);
    }
    free(text);
}

static void test_error_codes_documented_with_their_status(void **state)
{
    (void)state;
    check_codes(OPENAPI, 1);
    check_codes(API_MD, 0);
}

/* --- docs/audit.md ------------------------------------------------------------------------ */

typedef struct names {
    char name[MAX_ACTIONS][32];
    size_t n;
} names;

static void names_add(names *ns, const char *s, size_t len)
{
    assert_true(len < sizeof(ns->name[0]));
    for (size_t i = 0; i < ns->n; i++)
        if (strlen(ns->name[i]) == len && memcmp(ns->name[i], s, len) == 0)
            return;
    assert_true(ns->n < MAX_ACTIONS);
    memcpy(ns->name[ns->n], s, len);
    ns->name[ns->n++][len] = '\0';
}

/* 1 if s[0..len) reads like an action: two lowercase words joined by a dot. */
static int is_action(const char *s, size_t len)
{
    size_t dots = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.')
            dots++;
        else if (!(islower((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    }
    return dots == 1 && len > 2 && s[0] != '.' && s[len - 1] != '.';
}

/* The actions the core writes: each string literal that reads like one in the arguments of a
 * cu_audit_in_set() call in the C files of src/core. */
static void core_actions(names *ns)
{
    DIR *d = opendir(CORE_DIR);
    struct dirent *de;

    if (d == NULL)
        fail_msg("cannot open " CORE_DIR " (run the tests from the repository root)");
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char path[512], *text;
        if (len < 3 || strcmp(de->d_name + len - 2, ".c") != 0)
            continue;
        snprintf(path, sizeof(path), CORE_DIR "/%s", de->d_name);
        text = slurp(path);
        for (const char *p = strstr(text, "cu_audit_in_set("); p; p = strstr(p + 1, "cu_audit_in_set(")) {
            const char *end = strchr(p, ';');
            for (const char *q = p; end && q < end; q++) {
                const char *close;
                if (*q != '"' || (close = strchr(q + 1, '"')) == NULL)
                    continue;
                if (is_action(q + 1, (size_t)(close - q - 1)))
                    names_add(ns, q + 1, (size_t)(close - q - 1));
                q = close;
            }
        }
        free(text);
    }
    closedir(d);
}

/* The actions of docs/audit.md's tables: rows whose first cell is `x.y`. */
static void documented_actions(char *text, names *ns)
{
    for (char *line = text, *next; line != NULL && *line; line = next) {
        const char *close;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strncmp(line, "| `", 3) != 0 || (close = strchr(line + 3, '`')) == NULL)
            continue;
        if (is_action(line + 3, (size_t)(close - line - 3)))
            names_add(ns, line + 3, (size_t)(close - line - 3));
    }
}

static int names_has(const names *ns, const char *s)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->name[i], s) == 0)
            return 1;
    return 0;
}

static void test_audit_md_lists_every_action(void **state)
{
    static names code, doc;
    char *text = slurp(AUDIT_MD);

    (void)state;
    memset(&code, 0, sizeof(code));
    memset(&doc, 0, sizeof(doc));
    core_actions(&code);
    documented_actions(text, &doc);
    assert_true(code.n >= 20);
    for (size_t i = 0; i < code.n; i++)
        if (!names_has(&doc, code.name[i]))
            fail_msg(AUDIT_MD " does not list the action %s that " CORE_DIR " writes",
                     code.name[i]);
    for (size_t i = 0; i < doc.n; i++)
        if (!names_has(&code, doc.name[i]))
            fail_msg(AUDIT_MD " lists the action %s that " CORE_DIR " never writes", doc.name[i]);
    free(text);
}

/* The JSON block that follows marker in text, parsed. */
static cJSON *vector(const char *text, const char *marker)
{
    const char *p = strstr(text, marker), *end;
    cJSON *o;

    if (p == NULL || (p = strstr(p, "```json\n")) == NULL || (end = strstr(p + 8, "```")) == NULL)
        fail_msg(AUDIT_MD ": no ```json block after \"%s\"", marker);
    o = cJSON_ParseWithLength(p + 8, (size_t)(end - p - 8));
    if (o == NULL)
        fail_msg(AUDIT_MD ": the block after \"%s\" is not JSON", marker);
    return o;
}

static const char *member(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    if (s == NULL)
        fail_msg(AUDIT_MD ": a test vector lacks the string \"%s\"", name);
    return s;
}

static void unhex(const char *h, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(h), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &x), 1);
        out[i] = (uint8_t)x;
    }
}

static void text_member(const cJSON *o, const char *name, char *out, size_t cap)
{
    const char *s = member(o, name);

    assert_true(strlen(s) < cap);
    snprintf(out, cap, "%s", s);
}

static void test_audit_md_entry_example_hashes_as_the_code_does(void **state)
{
    char *text = slurp(AUDIT_MD);
    cJSON *o = vector(text, "<!-- test vector: entry -->");
    cu_audit_entry e;
    uint8_t want[32], got[32];

    (void)state;
    memset(&e, 0, sizeof(e));
    assert_int_equal(cu_id_parse(member(o, "tenant_id"), &e.tenant_id), CU_OK);
    e.seq = strtoull(member(o, "seq"), NULL, 10);
    assert_int_equal(cu_repr_time_parse(member(o, "at"), &e.at), CU_OK);
    text_member(o, "actor", e.actor, sizeof(e.actor));
    text_member(o, "action", e.action, sizeof(e.action));
    text_member(o, "object", e.object, sizeof(e.object));
    text_member(o, "purpose", e.purpose, sizeof(e.purpose));
    text_member(o, "source", e.source, sizeof(e.source));
    text_member(o, "request_id", e.request_id, sizeof(e.request_id));
    text_member(o, "outcome", e.outcome, sizeof(e.outcome));
    unhex(member(o, "prev"), e.prev, 32);
    unhex(member(o, "hash"), want, 32);
    cu_audit_hash(&e, got);
    if (memcmp(got, want, 32) != 0)
        fail_msg(AUDIT_MD ": the worked example's hash is not what cu_audit_hash() computes");
    cJSON_Delete(o);
    free(text);
}

static void put_u64(uint8_t *b, size_t *n, uint64_t x)
{
    for (int i = 7; i >= 0; i--)
        b[(*n)++] = (uint8_t)(x >> (i * 8));
}

static void test_audit_md_checkpoint_example_verifies(void **state)
{
    char *text = slurp(AUDIT_MD);
    cJSON *o = vector(text, "<!-- test vector: checkpoint -->");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "checkpoints"), 0);
    uint8_t pk[32], sig[64], m[64];
    cu_id tenant;
    int64_t at;
    size_t n = 0;

    (void)state;
    assert_non_null(c);
    assert_string_equal(member(o, "algorithm"), "Ed25519");
    unhex(member(o, "public_key"), pk, 32);
    assert_int_equal(cu_id_parse(member(c, "tenant_id"), &tenant), CU_OK);
    assert_int_equal(cu_repr_time_parse(member(c, "at"), &at), CU_OK);
    /* The message as the document describes it. */
    memcpy(m, "cu-ckpt1", 8);
    n = 8;
    put_u64(m, &n, tenant);
    put_u64(m, &n, strtoull(member(c, "seq"), NULL, 10));
    put_u64(m, &n, (uint64_t)at);
    unhex(member(c, "hash"), m + n, 32);
    n += 32;
    unhex(member(c, "signature"), sig, 64);
    if (!cu_sign_verify(pk, m, n, sig))
        fail_msg(AUDIT_MD ": the example checkpoint's signature does not verify over the "
                          "documented message");
    cJSON_Delete(o);
    free(text);
}

/* /metrics counts each route in a row of its own: the table has room for every route. */
static void test_metrics_have_a_row_per_route(void **state)
{
    (void)state;
    if (http_nroutes > HTTP_METRICS_MAX_ROUTES)
        fail_msg("%zu routes, %d rows in metrics.c: raise HTTP_METRICS_MAX_ROUTES", http_nroutes,
                 HTTP_METRICS_MAX_ROUTES);
}

/* The whole document parses as YAML: an unquoted ": " inside a description, say, would not. */
static void test_openapi_is_yaml(void **state)
{
    FILE *f = fopen(OPENAPI, "rb");
    yaml_parser_t parser;
    yaml_event_t ev;
    int done = 0, ok = 1;

    (void)state;
    assert_non_null(f);
    assert_true(yaml_parser_initialize(&parser));
    yaml_parser_set_input_file(&parser, f);
    while (!done && (ok = yaml_parser_parse(&parser, &ev)) != 0) {
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    if (!ok)
        fail_msg(OPENAPI ":%zu:%zu: %s", parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "error");
    yaml_parser_delete(&parser);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_have_a_row_per_route),
        cmocka_unit_test(test_openapi_is_yaml),
        cmocka_unit_test(test_openapi_lists_every_route),
        cmocka_unit_test(test_openapi_lists_no_stale_route),
        cmocka_unit_test(test_permissions_md_lists_every_route),
        cmocka_unit_test(test_permissions_md_lists_no_stale_route),
        cmocka_unit_test(test_error_codes_documented_with_their_status),
        cmocka_unit_test(test_audit_md_lists_every_action),
        cmocka_unit_test(test_audit_md_entry_example_hashes_as_the_code_does),
        cmocka_unit_test(test_audit_md_checkpoint_example_verifies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
