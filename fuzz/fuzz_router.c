/*
 * fuzz_router.c: libFuzzer target for the HTTP API: the real router, authentication and
 * handlers (http_dispatch, without a socket: http_req's header and query lists) against a real
 * vault in a temporary directory.
 *
 * The world: tenants A and B (A under SCM's policy), each with an API key of every role, a
 * user with a session, a subject and a record whose values carry the tenant's marker; and an
 * operator key. An input is a request in text:
 *
 *     METHOD /path?query
 *     Header: value
 *     ...
 *     (empty line)
 *     body
 *
 * where "$" and two characters stand for the world's values: $TA $TB (tenants), $SA $SB
 * (subjects), $RA $RB (records), $UA $UB (users), $KA $KB (owner key ids), $OP (the operator's
 * secret), $A0..$A4 and $B0..$B4 (secrets of the owner, admin, agent, analyst and auditor
 * keys), $CA $CB (session tokens). After every answer it checks the promises of the router:
 *  - P-ISO-1: no request of one tenant's credential succeeds on another tenant's path or ids,
 *    and no answer to it carries the other tenant's marker;
 *  - P-ACC-1: nothing succeeds without authentication (but the open routes), with a credential
 *    the world does not know, or without the route's permission;
 *  - P-ACC-3: no principal but an owner or the operator mints an owner (key or user), and a
 *    login only ever opens a session of the path's tenant.
 * A broken promise aborts. The world is built again every REBUILD inputs, since requests
 * change it (keys revoked, subjects erased, tenants terminated).
 */
#define _GNU_SOURCE /* nftw */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "http_int.h"
#include "util.h"

#define REBUILD 2000
#define MAX_HDRS 16
#define MAX_LINE 2048
#define NROLES 5
#define D2026 1767225600

/* A streamed answer (the export) read whole into r->resp, so the checks see all of it. */
static void stream_drain(http_req *r)
{
    char buf[4096];
    long n;

    if (r->stream_read == NULL)
        return;
    while ((n = r->stream_read(r->stream_arg, buf, sizeof(buf))) > 0) {
        char *nr = realloc(r->resp, r->resp_len + (size_t)n + 1);
        if (nr == NULL)
            break;
        r->resp = nr;
        memcpy(r->resp + r->resp_len, buf, (size_t)n);
        r->resp_len += (size_t)n;
        r->resp[r->resp_len] = '\0';
    }
    r->stream_done(r->stream_arg);
    r->stream_read = NULL;
    r->stream_done = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

typedef struct side {
    cu_id tenant, subject, record, user, owner_key;
    char keys[NROLES][CU_APIKEY_SECRET_MAX]; /* owner, admin, agent, analyst, auditor */
    char session[CU_SESSION_TOKEN_MAX];
    const char *marker; /* in every value of this tenant's subject and record */
} side;

static struct world {
    char dir[256];
    cu_vault *v;
    char op[CU_APIKEY_SECRET_MAX];
    side s[2];
    unsigned inputs;
} W;

static const cu_role ROLES[NROLES] = {CU_ROLE_OWNER, CU_ROLE_ADMIN, CU_ROLE_AGENT, CU_ROLE_ANALYST,
                                      CU_ROLE_AUDITOR};
static const cu_http_config CFG = {.max_body = 1024 * 1024, .quiet = 1};

static void must(cu_rc rc, const cu_err *err, const char *what)
{
    if (rc != CU_OK) {
        fprintf(stderr, "fuzz_router: %s: %s\n", what, err->msg);
        abort();
    }
}

/* --- the world ---------------------------------------------------------------------------- */

static void side_build(side *sd, int policy, const char *marker)
{
    static const char PW[] = "fuzzing password 1";
    size_t len = 0;
    const char *scm = cu_policy_builtin("scm", &len);
    cu_ctx ctx = {.actor = "fuzz", .flags = CU_CTX_LOCAL};
    char ext[64], email[96], json[160];
    cu_subject_in in = {.external_id = ext, .email = email};
    cu_principal p;
    cu_tenant t;
    cu_apikey k;
    cu_err e = {0};

    sd->marker = marker;
    must(cu_tenant_create(W.v, &ctx,
                          &(cu_tenant_opts){.name = marker,
                                            .policy = policy ? scm : NULL,
                                            .policy_len = policy ? len : 0,
                                            .policy_name = "scm",
                                            .owner_secret = sd->keys[0],
                                            .owner_key = &k},
                          &t, &e),
         &e, "tenant");
    sd->tenant = t.id;
    sd->owner_key = k.id;
    for (int i = 1; i < NROLES; i++)
        must(cu_apikey_create(W.v, &ctx, t.id, ROLES[i], "fuzz", &k, sd->keys[i], &e), &e, "key");
    snprintf(ext, sizeof(ext), "%s-ext", marker);
    snprintf(email, sizeof(email), "%s@example.com", marker);
    must(cu_subject_create(W.v, &ctx, t.id, &in, &sd->subject, &e), &e, "subject");
    snprintf(json, sizeof(json), "{\"name\":\"%s-name\",\"notes\":\"%s-notes\"}", marker, marker);
    must(cu_record_put(W.v, &ctx, t.id, "contacts", sd->subject, json, strlen(json), &sd->record,
                       &e),
         &e, "record");
    snprintf(email, sizeof(email), "%s-user@example.com", marker);
    must(cu_user_create(W.v, &ctx, t.id, email, PW, CU_ROLE_AGENT, &sd->user, &e), &e, "user");
    must(cu_user_login(W.v, &ctx, t.id, email, PW, NULL, sd->session, &p, NULL, &e), &e, "login");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void world_free(void)
{
    cu_vault_close(W.v);
    W.v = NULL;
    if (W.dir[0] != '\0')
        nftw(W.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void world_build(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char data[300];
    cu_vault_opts o = {.data_dir = data};
    cu_ctx ctx = {.actor = "fuzz", .flags = CU_CTX_LOCAL};
    cu_apikey k;
    cu_err e = {0};

    world_free();
    snprintf(W.dir, sizeof(W.dir), "%s/custos-fuzz-XXXXXX", base);
    if (mkdtemp(W.dir) == NULL)
        abort();
    snprintf(data, sizeof(data), "%s/data", W.dir);
    must(cu_vault_init(&o, &e), &e, "init");
    must(cu_vault_open(&o, &W.v, &e), &e, "open");
    must(cu_apikey_create(W.v, &ctx, 0, CU_ROLE_OPERATOR, "operator", &k, W.op, &e), &e,
         "operator key");
    side_build(&W.s[0], 1, "aaamarker");
    side_build(&W.s[1], 0, "bbbmarker");
}

static void at_exit(void)
{
    world_free();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cu_clock_set(D2026);
    world_build();
    atexit(at_exit);
    return 0;
}

/* --- the request ---------------------------------------------------------------------------- */

/* What "$xy" stands for; NULL if nothing. */
static const char *token_value(char a, char b, char buf[CU_ID_STRLEN])
{
    int i = a == 'A' || (a != 'B' && b == 'A') ? 0 : 1;
    const side *sd = &W.s[i];
    cu_id id = 0;

    if (a == 'O' && b == 'P')
        return W.op;
    if ((a == 'A' || a == 'B') && b >= '0' && b < '0' + NROLES)
        return sd->keys[b - '0'];
    if (b != 'A' && b != 'B')
        return NULL;
    switch (a) {
    case 'T': id = sd->tenant; break;
    case 'S': id = sd->subject; break;
    case 'R': id = sd->record; break;
    case 'U': id = sd->user; break;
    case 'K': id = sd->owner_key; break;
    case 'C': return sd->session;
    default: return NULL;
    }
    cu_id_format(id, buf);
    return buf;
}

/* Copies in[0..n) into out (cap bytes, NUL-terminated), replacing the tokens. */
static size_t expand(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        char buf[CU_ID_STRLEN];
        const char *v = in[i] == '$' && i + 2 < n ? token_value(in[i + 1], in[i + 2], buf)
                                                       : NULL;
        if (v == NULL) {
            out[o++] = in[i];
            continue;
        }
        for (; *v && o + 1 < cap; v++)
            out[o++] = *v;
        i += 2;
    }
    out[o] = '\0';
    return o;
}

typedef struct parsed {
    char method[16];
    char path[HTTP_PATH_MAX];
    char lines[MAX_HDRS][MAX_LINE];
    const char *hdrs[2 * MAX_HDRS + 1];
    char query[MAX_LINE];
    const char *args[2 * MAX_HDRS + 1];
    char *body;
    size_t body_len;
} parsed;

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                 : -1;
}

/* Percent-decodes s in place, as libmicrohttpd does for query parameters. */
static void unescape(char *s)
{
    char *o = s;

    for (; *s; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
}

static void split_query(parsed *q)
{
    size_t na = 0;

    for (char *p = q->query; p && *p && na < MAX_HDRS;) {
        char *amp = strchr(p, '&'), *eq;
        if (amp)
            *amp = '\0';
        eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        unescape(p);
        if (eq)
            unescape(eq + 1);
        q->args[2 * na] = p;
        q->args[2 * na + 1] = eq ? eq + 1 : NULL;
        na++;
        p = amp ? amp + 1 : NULL;
    }
    q->args[2 * na] = NULL;
}

/* The request line: method, path, query. */
static void parse_first(parsed *q, const char *line)
{
    const char *sp = strchr(line, ' ');
    char *qm;

    snprintf(q->method, sizeof(q->method), "%.*s", sp ? (int)(sp - line) : 0, line);
    cu_strlcpy(q->path, sp ? sp + 1 : "", sizeof(q->path));
    q->query[0] = '\0';
    if ((qm = strchr(q->path, '?')) != NULL) {
        cu_strlcpy(q->query, qm + 1, sizeof(q->query));
        *qm = '\0';
    }
    split_query(q);
}

/* Splits the expanded input into request line, headers and body. */
static void parse(parsed *q, char *text, size_t len)
{
    char *p = text, *end = text + len, *nl;
    size_t nh = 0;

    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl)
        *nl = '\0';
    parse_first(q, p);
    p = nl ? nl + 1 : end;
    while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL && nl != p) {
        char *colon;
        *nl = '\0';
        if (nh < MAX_HDRS && (colon = strchr(p, ':')) != NULL) {
            cu_strlcpy(q->lines[nh], p, sizeof(q->lines[nh]));
            colon = q->lines[nh] + (colon - p);
            *colon = '\0';
            colon++;
            while (*colon == ' ')
                colon++;
            q->hdrs[2 * nh] = q->lines[nh];
            q->hdrs[2 * nh + 1] = colon;
            nh++;
        }
        p = nl + 1;
    }
    q->hdrs[2 * nh] = NULL;
    if (p < end && *p == '\n')
        p++;
    q->body = p;
    q->body_len = (size_t)(end - p);
}

/* --- the promises ----------------------------------------------------------------------------- */

typedef struct cred {
    int known;
    int side; /* 0, 1; -1 for the operator */
    cu_role role;
} cred;

static void broken(const char *promise, const char *what, const http_req *r)
{
    fprintf(stderr, "fuzz_router: %s broken: %s (%s %s -> %u)\n", promise, what, r->method,
            r->path, r->status);
    abort();
}

/* Which of the world's credentials the request presents, as the router reads them. */
static cred presented(const http_req *r)
{
    const char *auth = http_header(r, "Authorization");
    char token[CU_SESSION_TOKEN_MAX] = "";
    cred c = {0, 0, CU_ROLE_NONE};

    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        if (strcmp(auth + 7, W.op) == 0)
            return (cred){1, -1, CU_ROLE_OPERATOR};
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < NROLES; k++)
                if (strcmp(auth + 7, W.s[i].keys[k]) == 0)
                    return (cred){1, i, ROLES[k]};
        return c;
    }
    if (http_cookie(r, "custos_session", token, sizeof(token)) == 0)
        for (int i = 0; i < 2; i++)
            if (strcmp(token, W.s[i].session) == 0)
                return (cred){1, i, CU_ROLE_AGENT};
    return c;
}

/* 1 if id is one of the other side's. */
static int foreign(int me, cu_id id)
{
    const side *o = &W.s[1 - me];

    return id != 0 && (id == o->tenant || id == o->subject || id == o->record || id == o->user ||
                       id == o->owner_key);
}

/* P-ISO-1 for a tenant's principal: no foreign id in the path or in the body's id members,
 * no foreign marker in the answer. */
static void check_isolation(const http_req *r, int me)
{
    const cJSON *m;

    if ((r->route->flags & R_TENANT) && r->tenant != W.s[me].tenant)
        broken("P-ISO-1", "a request succeeded on another tenant's path", r);
    for (size_t i = 0; i < r->nids; i++)
        if (foreign(me, r->ids[i]))
            broken("P-ISO-1", "a request succeeded on another tenant's id", r);
    cJSON_ArrayForEach(m, r->json)
    {
        cu_id id;
        size_t n = m->string ? strlen(m->string) : 0;
        if (n >= 2 && strcmp(m->string + n - 2, "id") == 0 && cJSON_IsString(m) &&
            cu_id_parse(m->valuestring, &id) == CU_OK && foreign(me, id))
            broken("P-ISO-1", "a request naming another tenant's id succeeded", r);
    }
    if (r->resp != NULL && strstr(r->resp, W.s[1 - me].marker) != NULL)
        broken("P-ISO-1", "an answer carries another tenant's data", r);
}

/* A login opens a session of the path's tenant only. */
static void check_login(const http_req *r)
{
    const char *v = strstr(r->set_cookie, "custos_session=");
    char token[CU_SESSION_TOKEN_MAX];
    cu_principal p;
    cu_err e = {0};
    size_t n;

    if (v == NULL)
        broken("P-ACC-2", "a login succeeded without a session", r);
    v += strlen("custos_session=");
    n = strcspn(v, ";");
    if (n >= sizeof(token))
        broken("P-ACC-2", "a session token too long", r);
    memcpy(token, v, n);
    token[n] = '\0';
    if (cu_auth_session(W.v, token, &p, &e) != CU_OK || p.tenant_id != r->tenant)
        broken("P-ISO-1", "a login opened a session outside the path's tenant", r);
    (void)cu_session_end(W.v, token, &e);
}

static void check(const http_req *r)
{
    const http_route *rt = r->route;
    cred c;

    if (r->status < 200 || r->status > 299)
        return;
    /* The portal's static files (portal.c) are served outside the table, with no data. */
    if (rt == NULL && http_portal_path(r->path))
        return;
    if (rt == NULL)
        broken("routing", "a success without a route", r);
    if (rt->fn == api_login)
        check_login(r);
    if (rt->flags & R_NOAUTH)
        return;
    c = presented(r);
    if (!r->authed || !c.known)
        broken("P-ACC-1", "a success without one of the world's credentials", r);
    if (r->who.role != c.role || (c.side >= 0 && r->who.tenant_id != W.s[c.side].tenant) ||
        (c.side < 0 && r->who.tenant_id != 0))
        broken("P-ACC-1", "a credential authenticated as someone else", r);
    if (rt->perm != 0 && !cu_role_can(c.role, rt->perm))
        broken("P-ACC-1", "a success without the route's permission", r);
    if ((rt->fn == api_key_create || rt->fn == api_user_create) && r->resp != NULL &&
        strstr(r->resp, "\"role\":\"owner\"") != NULL && c.role != CU_ROLE_OWNER &&
        c.role != CU_ROLE_OPERATOR)
        broken("P-ACC-3", "a non-owner minted an owner", r);
    if (c.side >= 0)
        check_isolation(r, c.side);
}

/* --- the entry point ------------------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char text[64 * 1024];
    parsed *q;
    http_req *r;
    size_t len;

    if (size > 16 * 1024)
        return 0;
    if (++W.inputs % REBUILD == 0)
        world_build();
    q = calloc(1, sizeof(*q));
    r = calloc(1, sizeof(*r));
    if (q == NULL || r == NULL)
        abort();
    len = expand((const char *)data, size, text, sizeof(text));
    parse(q, text, len);
    r->v = W.v;
    r->cfg = &CFG;
    r->method = q->method;
    cu_strlcpy(r->path, q->path, sizeof(r->path));
    r->hdrs = q->hdrs;
    r->args = q->args;
    cu_request_id(r->request_id);
    cu_strlcpy(r->source, "127.0.0.1", sizeof(r->source));
    r->body = q->body;
    r->body_len = q->body_len;
    http_dispatch(r);
    stream_drain(r);
    if (getenv("FUZZ_ROUTER_TRACE") != NULL) /* what each input did, for writing seeds */
        fprintf(stderr, "%s %s -> %u %.200s\n", r->method, r->path, r->status,
                r->resp ? r->resp : "");
    check(r);
    cJSON_Delete(r->json);
    free(r->resp);
    free(r);
    free(q);
    return 0;
}
