/*
 * test_http_access.c: access control over the real HTTPS server: the role table on every route
 * (P-ACC-1), tenant isolation on every route (P-ISO-1), API keys (P-ACC-3), TOTP and the session
 * cookie (P-ACC-2, P-CON-3), login rate limiting (P-ACC-6) and the operator's purposes (P-ACC-4).
 *
 * The sweeps walk http_routes[] itself, so a new route is covered as soon as it exists; a route
 * whose path segment or body the sweep does not know fails with a message naming what to add.
 * One server and two tenants, A and B, are shared by the whole group.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "http_int.h"
#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    W = srv_world_new("alpha", "bravo");
    *state = W;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_world_free(W);
    W = NULL;
    return 0;
}

/* --- building requests from the route table ---------------------------------------------- */

/* The ids and values a request is built from. */
typedef struct ids {
    char tenant[SRV_ID], subject[SRV_ID], record[SRV_ID], key[SRV_ID], user[SRV_ID], hold[SRV_ID];
    char request[SRV_ID];
    char hook[SRV_ID], event[SRV_ID]; /* a webhook endpoint and an outbox event */
    char incident[SRV_ID];            /* a breach incident */
    char collection[32];
    char subject_email[64], note[64], user_email[64];
} ids;

static void random_id(char out[SRV_ID])
{
    uint64_t v = 0;

    while (v == 0)
        assert_int_equal(getrandom(&v, sizeof(v), 0), (ssize_t)sizeof(v));
    snprintf(out, SRV_ID, "%llu", (unsigned long long)(v >> 1 | 1));
}

/* The real ids of tenant t (its agent key, so that no sweep can revoke a key it uses). */
static void ids_of(const srv_tenant *t, ids *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->tenant, SRV_ID, "%s", t->id);
    snprintf(o->subject, SRV_ID, "%s", t->subject);
    snprintf(o->record, SRV_ID, "%s", t->record);
    snprintf(o->key, SRV_ID, "%s", t->key_id[CU_ROLE_AGENT]);
    snprintf(o->user, SRV_ID, "%s", t->user);
    random_id(o->hold); /* the tenants hold no legal hold */
    random_id(o->request); /* nor a data-subject request */
    random_id(o->hook);    /* nor a webhook endpoint or event */
    random_id(o->event);
    random_id(o->incident); /* nor an incident */
    snprintf(o->collection, sizeof(o->collection), "%s", t->collection);
    snprintf(o->subject_email, sizeof(o->subject_email), "%s", t->subject_email);
    snprintf(o->note, sizeof(o->note), "%s", t->note);
    snprintf(o->user_email, sizeof(o->user_email), "%s", t->email);
}

/* Ids and values that exist nowhere; the collection keeps its name (names are not secrets). */
static void ids_random(ids *o, const char *collection)
{
    char r[SRV_ID];

    memset(o, 0, sizeof(*o));
    random_id(o->tenant);
    random_id(o->subject);
    random_id(o->record);
    random_id(o->key);
    random_id(o->user);
    random_id(o->hold);
    random_id(o->request);
    random_id(o->hook);
    random_id(o->event);
    random_id(o->incident);
    snprintf(o->collection, sizeof(o->collection), "%s", collection);
    random_id(r);
    snprintf(o->subject_email, sizeof(o->subject_email), "nobody.%s@example.org", r);
    snprintf(o->note, sizeof(o->note), "no such note %s", r);
    snprintf(o->user_email, sizeof(o->user_email), "no.user.%s@example.org", r);
}

/* 1 if the segment p[0..len) is exactly seg. */
static int seg_is(const char *p, size_t len, const char *seg)
{
    return len == strlen(seg) && memcmp(p, seg, len) == 0;
}

/* Writes the path of rt's pattern with the ids of o; an {id} takes its kind from the segment
 * before it. */
static void route_path(const http_route *rt, const ids *o, char *out, size_t cap)
{
    const char *p = rt->pattern, *prev = "";
    size_t prevlen = 0, n = 0;

    out[0] = '\0';
    while (*p) {
        const char *e = strchr(p + 1, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *v = NULL;
        if (seg_is(p, len, "/{tenant}"))
            v = o->tenant;
        else if (seg_is(p, len, "/{name}"))
            v = o->collection;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/subjects"))
            v = o->subject;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/records"))
            v = o->record;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/api-keys"))
            v = o->key;
        else if (seg_is(p, len, "/{id}") && (seg_is(prev, prevlen, "/users") ||
                                             seg_is(prev, prevlen, "/links")))
            v = o->user;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/holds"))
            v = o->hold;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/requests"))
            v = o->request;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/webhooks"))
            v = o->hook;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/events"))
            v = o->event;
        else if (seg_is(p, len, "/{id}") && seg_is(prev, prevlen, "/incidents"))
            v = o->incident;
        else if (p[1] == '{')
            fail_msg("%s %s: the sweep knows no value for \"%.*s\" after \"%.*s\": add one to "
                     "route_path()",
                     rt->method, rt->pattern, (int)len, p, (int)prevlen, prev);
        n += (size_t)snprintf(out + n, cap - n, "/%.*s", v ? (int)strlen(v) : (int)len - 1,
                              v ? v : p + 1);
        assert_true(n < cap);
        prev = p;
        prevlen = len;
        p += len;
    }
}

/* A valid body for each route that takes one. Placeholders: %N a fresh number, %S the subject
 * id, %E the subject's email, %V the record's note, %U the user's email, %T the tenant id. */
static const struct sample {
    const char *method, *pattern, *body;
} samples[] = {
    {"POST", "/v1/tenants", "{\"name\":\"swept %N\"}"},
    {"POST", "/v1/tenants/{tenant}/subjects",
     "{\"external_id\":\"sweep-%N\",\"email\":\"sweep%N@example.org\"}"},
    {"POST", "/v1/tenants/{tenant}/subjects/search", "{\"email\":\"%E\"}"},
    {"PUT", "/v1/tenants/{tenant}/collections/{name}",
     "{\"fields\":{\"note\":{\"class\":\"personal\",\"indexed\":true}}}"},
    {"POST", "/v1/tenants/{tenant}/collections/{name}/records",
     "{\"subject_id\":\"%S\",\"data\":{\"note\":\"swept %N\"}}"},
    {"POST", "/v1/tenants/{tenant}/collections/{name}/records/search",
     "{\"field\":\"note\",\"value\":\"%V\"}"},
    {"PUT", "/v1/tenants/{tenant}/records/{id}", "{\"data\":{\"note\":\"rewritten %N\"}}"},
    {"POST", "/v1/tenants/{tenant}/api-keys", "{\"name\":\"sweep %N\",\"role\":\"agent\"}"},
    {"POST", "/v1/tenants/{tenant}/users",
     "{\"email\":\"sweep%N@example.org\",\"password\":\"a long sweep password\","
     "\"role\":\"agent\"}"},
    {"POST", "/v1/tenants/{tenant}/users/{id}/totp", "{\"password\":\"not the password\"}"},
    {"POST", "/v1/tenants/{tenant}/users/{id}/totp/confirm", "{\"code\":\"123456\"}"},
    {"POST", "/v1/tenants/{tenant}/login",
     "{\"email\":\"%U\",\"password\":\"not the password at all\"}"},
    /* No such built-in policy: past the role check, and tenant a keeps having none. */
    {"PUT", "/v1/tenants/{tenant}/policy", "{\"policy\":\"sweep-%N\"}"},
    {"PUT", "/v1/tenants/{tenant}/policy/grant", "{\"admins\":false}"},
    {"POST", "/v1/tenants/{tenant}/subjects/{id}/consents",
     "{\"purpose\":\"support\",\"action\":\"grant\"}"},
    {"PUT", "/v1/tenants/{tenant}/subjects/{id}/restriction", "{\"restricted\":false}"},
    /* Cookie consent and unsubscribe links (api_consent.c): the sweep's tenants have no
     * policy, so both stop at 409 past the role check. */
    {"POST", "/v1/tenants/{tenant}/cookies/choices",
     "{\"visitor\":\"sweep-visitor-%N-0000\",\"categories\":{\"analytics\":false}}"},
    {"POST", "/v1/tenants/{tenant}/subjects/{id}/unsubscribe-links", "{\"purpose\":\"support\"}"},
    /* The subject's privacy center (api_portal.c): the link's exchange, and the subject's own
     * routes (the sweep's tenants have no policy: 409 past the checks). */
    {"POST", "/v1/portal/session", "{\"token\":\"sweep%N\"}"},
    {"POST", "/v1/tenants/{tenant}/portal/subjects/{id}/consents",
     "{\"purpose\":\"support\",\"action\":\"withdraw\"}"},
    {"POST", "/v1/tenants/{tenant}/portal/subjects/{id}/requests", "{\"type\":\"access\"}"},
    /* Webhooks: an https endpoint (never called: the sweep's tenants send nothing). */
    {"POST", "/v1/tenants/{tenant}/webhooks", "{\"url\":\"https://hooks.example/sweep-%N\"}"},
    {"PUT", "/v1/tenants/{tenant}/webhooks/{id}", "{\"enabled\":false}"},
    /* Breach incidents: a scope that matches nothing (docs/incidents.md). */
    {"POST", "/v1/incidents", "{\"from\":\"2020-01-01\",\"source\":\"sweep-%N\"}"},
    {"POST", "/v1/tenants/{tenant}/incidents", "{\"from\":\"2020-01-01\",\"source\":\"sweep-%N\"}"},
    {"POST", "/v1/incidents/{id}/notices", "{\"notice\":\"authority\",\"reference\":\"sweep-%N\"}"},
    {"POST", "/v1/tenants/{tenant}/incidents/{id}/notices",
     "{\"notice\":\"authority\",\"reference\":\"sweep-%N\"}"},
    {"POST", "/v1/tenants/{tenant}/holds", "{\"subject_id\":\"%S\",\"reason\":\"sweep %N\"}"},
    {"POST", "/v1/tenants/{tenant}/holds/{id}/release", "{\"reason\":\"sweep %N\"}"},
    /* A disclosure (the sweep's tenants have no policy, which lists no recipient: 403
     * recipient_not_listed for a subject that exists; one that does not is 404 first). */
    {"POST", "/v1/tenants/{tenant}/disclosures",
     "{\"recipient\":\"sweep %N\",\"purpose\":\"support\",\"subjects\":[\"%S\"],"
     "\"categories\":[\"account\"]}"},
    /* Data-subject requests: a subject's filing (an administrator's names the subject, and
     * needs data_erase besides data_write); the tenants have no policy, so no deadlines. */
    {"POST", "/v1/tenants/{tenant}/requests", "{\"type\":\"access\",\"external_id\":\"sweep-%N\"}"},
    {"POST", "/v1/tenants/{tenant}/requests/{id}/verify", "{\"token\":\"00\"}"},
    {"POST", "/v1/tenants/{tenant}/requests/{id}/extend", "{\"by\":\"30d\",\"reason\":\"sweep\"}"},
    {"POST", "/v1/tenants/{tenant}/requests/{id}/reject", "{\"reason\":\"sweep\"}"},
    {"POST", "/v1/tenants/{tenant}/requests/{id}/complete", "{}"},
    {"PUT", "/v1/tenants/{tenant}/requests/{id}/records/{id}",
     "{\"data\":{\"note\":\"rewritten %N\"}}"},
    /* Single sign-on (docs/sso.md): a provider that is never called (.invalid). */
    {"PUT", "/v1/tenants/{tenant}/sso",
     "{\"issuer\":\"https://idp.invalid\",\"client_id\":\"sweep\",\"client_secret\":"
     "\"sweep secret %N\",\"redirect_uri\":"
     "\"https://custos.invalid/v1/tenants/%T/sso/callback\","
     "\"domains\":[\"example.org\"],\"role\":\"agent\"}"},
    {"PUT", "/v1/tenants/{tenant}/sso/links/{id}", "{\"sub\":\"sweep-%N\"}"},
    /* Aggregate analytics (docs/analytics.md): a count, and the owner's budget. */
    {"POST", "/v1/tenants/{tenant}/collections/{name}/aggregate",
     "{\"measures\":[{\"op\":\"count\"}]}"},
    {"PUT", "/v1/tenants/{tenant}/analytics/budget", "{\"epsilon\":1}"},
};

static const char *sample_of(const http_route *rt)
{
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        if (strcmp(samples[i].method, rt->method) == 0 &&
            strcmp(samples[i].pattern, rt->pattern) == 0)
            return samples[i].body;
    if (rt->flags & R_BODY)
        fail_msg("%s %s takes a body: add a valid one to samples[]", rt->method, rt->pattern);
    return NULL;
}

/* Fills the sample body of rt with o's values; NULL when the route takes no body. */
static const char *route_body(const http_route *rt, const ids *o, unsigned n, char *out, size_t cap)
{
    const char *t = sample_of(rt);
    size_t len = 0;

    if (t == NULL)
        return NULL;
    for (; *t; t++) {
        const char *v = NULL;
        char num[16];
        if (*t == '%' && t[1] != '\0') {
            switch (t[1]) {
            case 'N':
                snprintf(num, sizeof(num), "%u", n);
                v = num;
                break;
            case 'S':
                v = o->subject;
                break;
            case 'T':
                v = o->tenant;
                break;
            case 'E':
                v = o->subject_email;
                break;
            case 'V':
                v = o->note;
                break;
            case 'U':
                v = o->user_email;
                break;
            default:
                fail_msg("unknown placeholder %%%c", t[1]);
            }
            t++;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s", v ? v : (char[]){*t, '\0'});
        assert_true(len < cap);
    }
    return out;
}

/* Whether the route's request names an object of another kind than the tenant. */
static int names_object(const http_route *rt)
{
    const char *b = sample_of(rt);

    return strstr(rt->pattern, "{id}") != NULL || (b && strstr(b, "%S") != NULL);
}

/* Whether it looks a value up. */
static int looks_up_value(const http_route *rt)
{
    const char *b = sample_of(rt);

    return b && (strstr(b, "%E") || strstr(b, "%V") || strstr(b, "%U"));
}

static unsigned counter;

static void call_route(const http_route *rt, const ids *o, const char *auth, const char *purpose,
                       unsigned n, srv_resp *r)
{
    char path[HTTP_PATH_MAX], body[1024];
    const char *b;

    route_path(rt, o, path, sizeof(path));
    b = route_body(rt, o, n, body, sizeof(body));
    assert_int_equal(srv_call(&W->s, rt->method, path, auth, purpose, b, r), 0);
}

/* --- P-ACC-1 ----------------------------------------------------------------------------- */

static const char *key_of_role(cu_role role)
{
    return role == CU_ROLE_OPERATOR ? W->s.operator_key : W->a.key[role];
}

/* Every route with a permission, every role without it: 403 forbidden, though the ids are real
 * ids of the key's own tenant, the body is valid and a purpose is given. Every role with it
 * gets past the role check (called with ids that do not exist, so nothing is destroyed). */
static void test_P_ACC_1_every_route_refuses_roles_without_its_permission(void **state)
{
    ids real, none;
    unsigned refused = 0, allowed = 0;

    (void)state;
    ids_of(&W->a, &real);
    ids_random(&none, W->a.collection);
    snprintf(none.tenant, SRV_ID, "%s", W->a.id);
    for (size_t i = 0; i < http_nroutes; i++) {
        const http_route *rt = &http_routes[i];
        if (rt->perm == 0)
            continue;
        for (int role = CU_ROLE_OWNER; role <= CU_ROLE_OPERATOR; role++) {
            int can = cu_role_can((cu_role)role, rt->perm);
            char code[64];
            srv_resp r;
            call_route(rt, can ? &none : &real, key_of_role((cu_role)role), "support", ++counter,
                       &r);
            if (!can && (r.status != 403 || srv_err(r.body, code, NULL) != 0 ||
                         strcmp(code, "forbidden") != 0))
                fail_msg("%s %s as %s: expected 403 forbidden, got %ld %s", rt->method, rt->pattern,
                         cu_role_name((cu_role)role), r.status, r.body);
            if (can && (r.status == 401 || r.status == 403))
                fail_msg("%s %s as %s: the role holds the permission, got %ld %s", rt->method,
                         rt->pattern, cu_role_name((cu_role)role), r.status, r.body);
            refused += !can;
            allowed += can;
            srv_resp_free(&r);
        }
    }
    /* The table is not trivially all-or-nothing. */
    assert_true(refused > 40);
    assert_true(allowed > 40);
}

/* The role table is also the grant table: a key can only make keys and users up to its rank. */
static void test_P_ACC_1_admin_cannot_grant_owner(void **state)
{
    char path[128];
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_ADMIN], NULL,
                              "{\"name\":\"up\",\"role\":\"owner\"}", &r),
                     0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_ADMIN], NULL,
                              "{\"email\":\"up@example.org\",\"password\":\"long enough pw 1\","
                              "\"role\":\"owner\"}",
                              &r),
                     0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], NULL,
                              "{\"name\":\"op\",\"role\":\"operator\"}", &r),
                     0);
    srv_assert_err(&r, 400, "invalid_field");
    srv_resp_free(&r);
    /* Nor an auditor: that would hand out the audit permission an admin lacks. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_ADMIN], NULL,
                              "{\"name\":\"aud\",\"role\":\"auditor\"}", &r),
                     0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    /* And an admin cannot remove what it could not grant: the owner's key and user. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys/%s", W->a.id,
             W->a.key_id[CU_ROLE_OWNER]);
    assert_int_equal(srv_call(&W->s, "DELETE", path, W->a.key[CU_ROLE_ADMIN], NULL, NULL, &r), 0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users/%s", W->a.id, W->a.user);
    assert_int_equal(srv_call(&W->s, "DELETE", path, W->a.key[CU_ROLE_ADMIN], NULL, NULL, &r), 0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    /* The owner key still works. */
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

/* --- P-ISO-1 ----------------------------------------------------------------------------- */

/* Calls rt twice and asserts both answers are identical in status and body, and want (0:
 * any status, and a 200 must hold no id). */
static void same_answer(const http_route *rt, const char *auth, const ids *x, const ids *y,
                        long want, const char *what)
{
    srv_resp r1, r2;
    unsigned n = ++counter;

    call_route(rt, x, auth, "support", n, &r1);
    call_route(rt, y, auth, "support", n, &r2);
    if (r1.status != r2.status || r1.len != r2.len || memcmp(r1.body, r2.body, r1.len) != 0)
        fail_msg("%s %s (%s): real ids answer %ld %s, ids that do not exist answer %ld %s",
                 rt->method, rt->pattern, what, r1.status, r1.body, r2.status, r2.body);
    if (want != 0 && r1.status != want)
        fail_msg("%s %s (%s): expected %ld, got %ld %s", rt->method, rt->pattern, what, want,
                 r1.status, r1.body);
    if (r1.status == 200 && strcmp(r1.body, "{\"ids\":[]}") != 0)
        fail_msg("%s %s (%s): found something: %s", rt->method, rt->pattern, what, r1.body);
    srv_resp_free(&r1);
    srv_resp_free(&r2);
}

/* P-ISO-1 with one of A's credentials: every tenant route on B's path with B's ids answers
 * byte for byte what a random tenant with random ids answers (404); on A's own path, B's
 * object ids and values answer what random ones do. */
static void iso_sweep(const char *auth, const char *who)
{
    ids b, a_with_b, rnd, a_with_rnd;
    unsigned swept = 0;

    ids_of(&W->b, &b);
    a_with_b = b;
    snprintf(a_with_b.tenant, SRV_ID, "%s", W->a.id);
    ids_random(&rnd, W->b.collection);
    a_with_rnd = rnd;
    snprintf(a_with_rnd.tenant, SRV_ID, "%s", W->a.id);
    for (size_t i = 0; i < http_nroutes; i++) {
        const http_route *rt = &http_routes[i];
        char what[64];
        if (!(rt->flags & R_TENANT))
            continue;
        /* A login does not authenticate the caller: any wrong credential answers 401. The
         * banner script takes no credential at all: B's (without a policy) is as missing; nor
         * does the single sign-on login (no body): a tenant without it answers 404. */
        snprintf(what, sizeof(what), "%s on tenant B", who);
        /* A user's session cookie is not read on a portal route (the subject's is): 401. */
        same_answer(rt, auth, &b, &rnd,
                    (rt->flags & (R_NOAUTH | R_BODY)) == (R_NOAUTH | R_BODY) ||
                            (rt->perm == CU_PERM_PORTAL && strncmp(auth, "custos_session=", 15) == 0)
                        ? 401
                        : 404,
                    what);
        swept++;
        /* The portal's routes are a subject session's alone: a key or a user is refused them
         * by its role whatever the ids (test_subject_session_reaches_its_own_routes_alone). */
        if (rt->perm == CU_PERM_PORTAL)
            continue;
        if (names_object(rt) || looks_up_value(rt)) {
            snprintf(what, sizeof(what), "%s on tenant A with B's objects", who);
            same_answer(rt, auth, &a_with_b, &a_with_rnd,
                        names_object(rt)         ? 404
                        : (rt->flags & R_NOAUTH) ? 401
                                                 : 200,
                        what);
        }
    }
    assert_true(swept >= 20);
}

static void test_P_ISO_1_every_route_answers_another_tenant_as_nothing(void **state)
{
    (void)state;
    iso_sweep(W->a.key[CU_ROLE_OWNER], "owner key");
    iso_sweep(W->a.session, "owner session");
}

/* A data subject's portal session (custos_portal.h) of A's subject: every route but the
 * portal's does not even read its cookie (401: the router reads custos_portal on portal routes
 * alone, and the browser sends it there alone, by its Path), and on the portal's routes another
 * subject's id answers as an id that exists nowhere (404); B's tenant is nothing either. */
static void test_subject_session_reaches_its_own_routes_alone(void **state)
{
    char path[160], url[256], body[160], cookie[128];
    ids real, b, none, bt;
    unsigned refused = 0;
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/portal-links", W->a.id, W->a.subject);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_AGENT], NULL, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "url", url, sizeof(url)), 0);
    srv_resp_free(&r);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", strchr(url, '#') + 1);
    assert_int_equal(srv_call(&W->s, "POST", "/v1/portal/session", NULL, NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    snprintf(cookie, sizeof(cookie), "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
    srv_resp_free(&r);
    ids_of(&W->a, &real);
    ids_of(&W->b, &b);
    snprintf(b.tenant, SRV_ID, "%s", W->a.id); /* A's path, B's subject */
    ids_random(&none, W->a.collection);
    snprintf(none.tenant, SRV_ID, "%s", W->a.id);
    bt = real; /* B's tenant, A's subject */
    snprintf(bt.tenant, SRV_ID, "%s", W->b.id);
    for (size_t i = 0; i < http_nroutes; i++) {
        const http_route *rt = &http_routes[i];
        if (rt->flags & R_NOAUTH)
            continue;
        if (rt->perm != CU_PERM_PORTAL) {
            char code[64];
            call_route(rt, &real, cookie, "support", ++counter, &r);
            if (r.status != 401 || srv_err(r.body, code, NULL) != 0 ||
                strcmp(code, "unauthenticated") != 0)
                fail_msg("%s %s with a subject session: expected 401 unauthenticated, got %ld %s",
                         rt->method, rt->pattern, r.status, r.body);
            srv_resp_free(&r);
            refused++;
            continue;
        }
        same_answer(rt, cookie, &none, &b, 404, "subject session, another subject");
        same_answer(rt, cookie, &bt, &none, 404, "subject session, another tenant");
    }
    assert_true(refused > 60);
}

/* Lists hold the caller's tenant's objects alone. */
static void test_P_ISO_1_lists_hold_only_own_objects(void **state)
{
    static const char *const lists[] = {"api-keys", "users"};
    char path[256];
    srv_resp r;

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/v1/tenants/%s/%s", W->a.id, lists[i]);
        assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        assert_null(strstr(r.body, W->b.key_id[CU_ROLE_OWNER]));
        assert_null(strstr(r.body, W->b.key_id[CU_ROLE_AGENT]));
        assert_null(strstr(r.body, W->b.user));
        assert_null(strstr(r.body, W->b.email));
        assert_non_null(strstr(r.body, i == 0 ? W->a.key_id[CU_ROLE_AGENT] : W->a.user));
        srv_resp_free(&r);
    }
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/records", W->a.id, W->a.subject);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], "support", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, W->a.record));
    assert_null(strstr(r.body, W->b.record));
    srv_resp_free(&r);
    /* The tenant list is the operator's alone. */
    assert_int_equal(srv_call(&W->s, "GET", "/v1/tenants", W->a.key[CU_ROLE_OWNER], NULL, NULL, &r),
                     0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
}

/* Unique values are unique per tenant: taking one that B holds succeeds in A, so that a 409
 * cannot tell A which external ids, emails or key names B has. */
static void test_P_ISO_1_unique_values_are_per_tenant(void **state)
{
    char path[256], body[512];

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", W->a.id);
    snprintf(body, sizeof(body), "{\"external_id\":\"ext-bravo\",\"email\":\"%s\"}",
             W->b.subject_email);
    srv_call_ok(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], "support", body, 201, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", W->a.id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"agent\"}",
             W->b.email, W->b.password);
    srv_call_ok(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], NULL, body, 201, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", W->a.id);
    srv_call_ok(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], NULL,
                "{\"name\":\"bravo-agent\",\"role\":\"agent\"}", 201, NULL);
    /* And B's user still logs in to B alone. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/login", W->b.id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", W->b.email,
             W->b.password);
    srv_call_ok(&W->s, "POST", path, NULL, NULL, body, 200, NULL);
}

/* --- P-ACC-3 ----------------------------------------------------------------------------- */

static int file_has(const char *dir, const char *name, const char *needle)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return th_file_contains(path, needle, strlen(needle));
}

static void test_P_ACC_3_key_secret_is_shown_once_and_revocable(void **state)
{
    char path[256], secret[128], id[SRV_ID], tpath[128];
    const char *hex;
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", W->a.id);
    snprintf(tpath, sizeof(tpath), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], NULL,
                              "{\"name\":\"once\",\"role\":\"agent\"}", &r),
                     0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "secret", secret, sizeof(secret)), 0);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    srv_resp_free(&r);
    assert_int_equal(strncmp(secret, "cuk_", 4), 0);
    hex = strrchr(secret, '_') + 1;
    assert_int_equal(strlen(hex), 64);

    /* Not in the list, not in the files, not in the log. */
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, id));
    assert_null(strstr(r.body, hex));
    assert_null(strstr(r.body, "secret"));
    assert_null(strstr(r.body, W->a.boot_key + 4));
    srv_resp_free(&r);
    assert_false(file_has(W->s.data, "custos.db", hex));
    assert_false(file_has(W->s.data, "custos.db-wal", hex));
    assert_false(th_file_contains(W->s.log, hex, strlen(hex)));
    assert_false(th_file_contains(W->s.log, "cuk_", 4));

    /* It works, and after revocation it does not. */
    assert_int_equal(srv_call(&W->s, "GET", tpath, secret, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys/%s", W->a.id, id);
    assert_int_equal(srv_call(&W->s, "DELETE", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", tpath, secret, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    /* The list shows it revoked; revoking again finds nothing to revoke. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    {
        cJSON *o = cJSON_Parse(r.body), *k;
        int seen = 0;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(o, "api_keys"))
        {
            if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "id")), id) != 0)
                continue;
            seen = 1;
            assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(k, "revoked_at")));
        }
        cJSON_Delete(o);
        assert_true(seen);
    }
    srv_resp_free(&r);
    /* A key of tenant A does not reach tenant B even by path. */
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->b.id);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.key[CU_ROLE_OWNER], NULL, NULL, &r), 0);
    srv_assert_err(&r, 404, "not_found");
    srv_resp_free(&r);
}

/* --- P-ACC-2, P-CON-3 -------------------------------------------------------------------- */

/* RFC 4648 base32 without padding; returns the byte count or -1. */
static int base32_decode(const char *s, uint8_t *out, size_t cap)
{
    unsigned buf = 0, bits = 0;
    size_t n = 0;

    for (; *s && *s != '&' && *s != '='; s++) {
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", *p = strchr(a, *s);
        if (p == NULL || *s == '\0')
            return -1;
        buf = (buf << 5) | (unsigned)(p - a);
        bits += 5;
        if (bits >= 8) {
            if (n == cap)
                return -1;
            out[n++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    return (int)n;
}

static long login_as(const char *tenant, const char *email, const char *password, const char *totp,
                     srv_resp *r)
{
    char path[128], body[512];

    snprintf(path, sizeof(path), "/v1/tenants/%s/login", tenant);
    if (totp)
        snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"totp\":\"%s\"}",
                 email, password, totp);
    else
        snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    assert_int_equal(srv_call(&W->s, "POST", path, NULL, NULL, body, r), 0);
    return r->status;
}

static void cookie_of(const srv_resp *r, char *out, size_t cap)
{
    size_t n = strcspn(r->set_cookie, ";");

    assert_true(n < cap);
    memcpy(out, r->set_cookie, n);
    out[n] = '\0';
}

static void test_P_ACC_2_totp_over_http(void **state)
{
    const char *email = "totp.user@example.org", *pw = "totp user password 1";
    char path[256], body[256], user[SRV_ID], cookie[160], other[160], uri[CU_TOTP_URI_MAX],
        code[11], next[11];
    uint8_t key[64];
    const char *p;
    int64_t now;
    int klen;
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", W->a.id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"agent\"}", email,
             pw);
    srv_call_ok(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], NULL, body, 201, user);
    assert_int_equal(login_as(W->a.id, email, pw, NULL, &r), 200);
    cookie_of(&r, cookie, sizeof(cookie));
    srv_resp_free(&r);

    /* Only the user enrols: not the owner's key, not another user. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/users/%s/totp", W->a.id, user);
    snprintf(body, sizeof(body), "{\"password\":\"%s\"}", pw);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.key[CU_ROLE_OWNER], NULL, body, &r), 0);
    srv_assert_err(&r, 404, "not_found");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "POST", path, W->a.session, NULL, body, &r), 0);
    srv_assert_err(&r, 404, "not_found");
    srv_resp_free(&r);
    /* The user proves itself again (P-ACC-2): its session alone is not enough. */
    assert_int_equal(srv_call(&W->s, "POST", path, cookie, NULL, "{}", &r), 0);
    srv_assert_err(&r, 400, "missing_field");
    srv_resp_free(&r);
    assert_int_equal(
        srv_call(&W->s, "POST", path, cookie, NULL, "{\"password\":\"not the password\"}", &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);

    assert_int_equal(srv_call(&W->s, "POST", path, cookie, NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(srv_json_str(r.body, "otpauth_uri", uri, sizeof(uri)), 0);
    srv_resp_free(&r);
    assert_int_equal(strncmp(uri, "otpauth://totp/Custos:", 22), 0);
    p = strstr(uri, "secret=");
    assert_non_null(p);
    klen = base32_decode(p + 7, key, sizeof(key));
    assert_int_equal(klen, 20);
    assert_false(th_file_contains(W->s.log, p + 7, 32));

    /* A wrong code does not confirm; the current one does. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/users/%s/totp/confirm", W->a.id, user);
    now = (int64_t)time(NULL);
    assert_int_equal(cu_totp(key, (size_t)klen, now, 6, code), CU_OK);
    snprintf(body, sizeof(body), "{\"code\":\"%06d\"}",
             (int)((strtol(code, NULL, 10) + 1) % 1000000));
    assert_int_equal(srv_call(&W->s, "POST", path, cookie, NULL, body, &r), 0);
    assert_int_equal(r.status, 401);
    srv_resp_free(&r);
    assert_int_equal(login_as(W->a.id, email, pw, NULL, &r), 200);
    cookie_of(&r, other, sizeof(other));
    srv_resp_free(&r);
    snprintf(body, sizeof(body), "{\"code\":\"%s\"}", code);
    assert_int_equal(srv_call(&W->s, "POST", path, cookie, NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    /* The user's other session ended with the change; the one confirming goes on. */
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, other, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", path, cookie, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);

    /* Now a password alone is not enough. */
    assert_int_equal(login_as(W->a.id, email, pw, NULL, &r), 401);
    srv_assert_err(&r, 401, "mfa_required");
    assert_int_equal(r.set_cookies, 0);
    srv_resp_free(&r);
    /* The confirming code was used: it does not log in. */
    assert_int_equal(login_as(W->a.id, email, pw, code, &r), 401);
    srv_assert_err(&r, 401, "mfa_required");
    srv_resp_free(&r);
    /* The next step's code does, once. */
    assert_int_equal(cu_totp(key, (size_t)klen, now + 30, 6, next), CU_OK);
    assert_int_equal(login_as(W->a.id, email, pw, next, &r), 200);
    assert_int_equal(r.set_cookies, 1);
    srv_resp_free(&r);
    assert_int_equal(login_as(W->a.id, email, pw, next, &r), 401);
    srv_assert_err(&r, 401, "mfa_required");
    srv_resp_free(&r);
    /* A right code with a wrong password is still a wrong password. */
    assert_int_equal(login_as(W->a.id, email, "not the password at all", next, &r), 401);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
}

static void test_P_CON_3_session_cookie_is_the_only_cookie_and_strict(void **state)
{
    char cookie[160], path[128];
    srv_resp r;

    (void)state;
    assert_int_equal(login_as(W->a.id, W->a.email, W->a.password, NULL, &r), 200);
    assert_int_equal(r.set_cookies, 1);
    assert_int_equal(strncmp(r.set_cookie, "custos_session=", 15), 0);
    assert_non_null(strstr(r.set_cookie, "; HttpOnly"));
    assert_non_null(strstr(r.set_cookie, "; Secure"));
    assert_non_null(strstr(r.set_cookie, "; SameSite=Strict"));
    assert_non_null(strstr(r.set_cookie, "; Path=/"));
    cookie_of(&r, cookie, sizeof(cookie));
    srv_resp_free(&r);
    assert_false(th_file_contains(W->s.log, cookie + 15, strlen(cookie + 15)));

    /* Other answers set no cookie; the session works, and logout ends it. */
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, cookie, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.set_cookies, 0);
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "POST", "/v1/logout", cookie, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.set_cookies, 1);
    assert_non_null(strstr(r.set_cookie, "Max-Age=0"));
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", path, cookie, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
}

/* Logout ends the session named by the custos_session cookie, whatever other cookies come
 * with it; the session of another user is untouched. */
static void test_logout_ends_the_session_it_names(void **state)
{
    char cookie[160], hdr[400], path[128], origin[96];
    const char *hs[3] = {hdr, origin, NULL};
    srv_resp r;

    (void)state;
    assert_int_equal(login_as(W->a.id, W->a.email, W->a.password, NULL, &r), 200);
    cookie_of(&r, cookie, sizeof(cookie));
    srv_resp_free(&r);
    snprintf(origin, sizeof(origin), "Origin: %s", W->s.base);
    snprintf(hdr, sizeof(hdr), "Cookie: xcustos_session=abc; other=custos_session=def; %s", cookie);
    assert_int_equal(srv_call_h(&W->s, "POST", "/v1/logout", hs, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, cookie, NULL, NULL, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.session, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

/* --- P-ACC-6 ----------------------------------------------------------------------------- */

/* P-ACC-6 (issue 18, 7): on a server with the default limits, wrong passwords from one address
 * back off per account with 429 and Retry-After, an unknown email exactly as a known one, the
 * right password included; the account's owner elsewhere and other accounts are unaffected. */
static void test_P_ACC_6_failed_logins_back_off_alike_for_unknown_emails(void **state)
{
    const char *email = "locked.user@example.org", *pw = "the right password 1";
    char path[128], body[256], known[256], unknown[256];
    srv_tenant t;
    srv_resp r, u;
    srv s;

    (void)state;
    srv_start(&s, NULL);
    srv_tenant_make(&s, "gamma", &t);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", t.id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"agent\"}", email,
             pw);
    srv_call_ok(&s, "POST", path, t.key[CU_ROLE_OWNER], NULL, body, 201, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/login", t.id);
    snprintf(known, sizeof(known), "{\"email\":\"%s\",\"password\":\"wrong password here\"}",
             email);
    snprintf(unknown, sizeof(unknown),
             "{\"email\":\"nobody.here@example.org\",\"password\":\"wrong password here\"}");
    for (int i = 0; i < 6; i++) {
        srv_call_ok(&s, "POST", path, NULL, NULL, known, 401, NULL);
        srv_call_ok(&s, "POST", path, NULL, NULL, unknown, 401, NULL);
    }
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, pw);
    assert_int_equal(srv_call(&s, "POST", path, NULL, NULL, body, &r), 0);
    srv_assert_err(&r, 429, "rate_limited");
    assert_true(atoi(r.retry_after) >= 1 && atoi(r.retry_after) <= 15);
    assert_int_equal(srv_call(&s, "POST", path, NULL, NULL, unknown, &u), 0);
    srv_assert_err(&u, 429, "rate_limited");
    assert_string_equal(r.body, u.body);
    assert_true(u.retry_after[0] != '\0');
    srv_resp_free(&r);
    srv_resp_free(&u);
    /* Another account of the tenant is not affected. */
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", t.email, t.password);
    srv_call_ok(&s, "POST", path, NULL, NULL, body, 200, NULL);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* Issue 18, 9: a change made with the session cookie needs the server's own Origin (or a
 * configured one), or absent that a Referer of it; reads and API keys need neither. */
static void test_cookie_state_changes_need_the_servers_origin(void **state)
{
    static const char *const extra[] = {"--allowed-origins", "https://app.example", NULL};
    static const char *const bad[] = {"Origin: https://evil.example", "Origin: null",
                                      "Referer: https://evil.example/page",
                                      "X-Neither: origin nor referer"};
    char ch[200], oh[160], path[128], tpath[128];
    const char *hs[5] = {ch, oh, "Content-Type: application/json", "Custos-Purpose: support", NULL};
    const char *body = "{\"external_id\":\"origin-check\"}";
    srv_tenant t;
    srv_resp r;
    srv s;

    (void)state;
    srv_start(&s, extra);
    srv_tenant_make(&s, "delta", &t);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t.id);
    snprintf(tpath, sizeof(tpath), "/v1/tenants/%s", t.id);
    snprintf(ch, sizeof(ch), "Cookie: %s", t.session);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(oh, sizeof(oh), "%s", bad[i]);
        assert_int_equal(srv_call_h(&s, "POST", path, hs, body, strlen(body), &r), 0);
        srv_assert_err(&r, 403, "origin_not_allowed");
        srv_resp_free(&r);
        /* A read needs no Origin. */
        assert_int_equal(srv_call_h(&s, "GET", tpath, hs, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        srv_resp_free(&r);
    }
    /* A Referer of the server's own origin may, and so may a configured origin. */
    snprintf(oh, sizeof(oh), "Referer: %s/app/page?x=1", s.base);
    assert_int_equal(srv_call_h(&s, "POST", path, hs, body, strlen(body), &r), 0);
    assert_int_equal(r.status, 201);
    srv_resp_free(&r);
    snprintf(oh, sizeof(oh), "Origin: https://APP.example");
    assert_int_equal(srv_call_h(&s, "POST", "/v1/logout", hs, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    /* An API key needs none. */
    srv_call_ok(&s, "POST", path, t.key[CU_ROLE_OWNER], "support",
                "{\"external_id\":\"origin-check-key\"}", 201, NULL);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* --- P-ACC-4 ----------------------------------------------------------------------------- */

static void test_P_ACC_4_operator_needs_a_listed_purpose(void **state)
{
    static const char *const ok[] = {"support", "investigation", "monitoring", "patch_validation",
                                     "legal"};
    char subject[256], record[256];
    srv_resp r;

    (void)state;
    snprintf(subject, sizeof(subject), "/v1/tenants/%s/subjects/%s", W->a.id, W->a.subject);
    snprintf(record, sizeof(record), "/v1/tenants/%s/records/%s", W->a.id, W->a.record);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(srv_call(&W->s, "GET", subject, W->s.operator_key, ok[i], NULL, &r), 0);
        if (r.status != 200 || strstr(r.body, W->a.subject_email) == NULL)
            fail_msg("purpose %s: %ld %s", ok[i], r.status, r.body);
        srv_resp_free(&r);
        assert_int_equal(srv_call(&W->s, "GET", record, W->s.operator_key, ok[i], NULL, &r), 0);
        assert_int_equal(r.status, 200);
        srv_resp_free(&r);
    }
    assert_int_equal(srv_call(&W->s, "GET", subject, W->s.operator_key, "marketing", NULL, &r), 0);
    srv_assert_err(&r, 403, "forbidden");
    assert_null(strstr(r.body, W->a.subject_email));
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", record, W->s.operator_key, "marketing", NULL, &r), 0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "GET", subject, W->s.operator_key, NULL, NULL, &r), 0);
    srv_assert_err(&r, 400, "purpose_required");
    srv_resp_free(&r);
    /* A tenant's own keys state a purpose too, but any of theirs will do. */
    assert_int_equal(
        srv_call(&W->s, "GET", subject, W->a.key[CU_ROLE_AGENT], "marketing", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_ACC_1_every_route_refuses_roles_without_its_permission),
        cmocka_unit_test(test_P_ACC_1_admin_cannot_grant_owner),
        cmocka_unit_test(test_P_ISO_1_every_route_answers_another_tenant_as_nothing),
        cmocka_unit_test(test_subject_session_reaches_its_own_routes_alone),
        cmocka_unit_test(test_P_ISO_1_lists_hold_only_own_objects),
        cmocka_unit_test(test_P_ISO_1_unique_values_are_per_tenant),
        cmocka_unit_test(test_P_ACC_3_key_secret_is_shown_once_and_revocable),
        cmocka_unit_test(test_P_ACC_2_totp_over_http),
        cmocka_unit_test(test_P_CON_3_session_cookie_is_the_only_cookie_and_strict),
        cmocka_unit_test(test_logout_ends_the_session_it_names),
        cmocka_unit_test(test_P_ACC_6_failed_logins_back_off_alike_for_unknown_emails),
        cmocka_unit_test(test_cookie_state_changes_need_the_servers_origin),
        cmocka_unit_test(test_P_ACC_4_operator_needs_a_listed_purpose),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests_name("http access", tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
