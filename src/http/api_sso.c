/*
 * api_sso.c: handlers for a tenant's single sign-on (docs/sso.md, P-ACC-5): its identity
 * provider's configuration (owner, admin: it decides who may sign in), the login's redirect to
 * the provider, and the provider's redirect back, which opens the session a password login
 * opens (the same cookie). The client secret is taken, never returned.
 */
#include <stdio.h>
#include <string.h>

#include "custos_sso.h"
#include "http_int.h"
#include "json.h"
#include "repr.h"
#include "sso_fetch.h"
#include "util.h"

#define SSO_COOKIE "__Host-custos_sso" /* the login's browser binding */

/* domains: an array of strings, joined with commas into out; 0, or -1 after answering 400. */
static int join_domains(http_req *r, char out[CU_SSO_DOMAINS_MAX])
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->json, "domains"), *d;
    size_t len = 0;

    out[0] = '\0';
    cJSON_ArrayForEach(d, a)
    {
        size_t n = cJSON_IsString(d) ? strlen(d->valuestring) : 0;
        if (n == 0 || len + n + 2 > CU_SSO_DOMAINS_MAX) {
            http_error(r, 400, "invalid_field",
                       "domains must be non-empty strings, %d bytes in all",
                       CU_SSO_DOMAINS_MAX - 1);
            return -1;
        }
        if (len > 0)
            out[len++] = ',';
        memcpy(out + len, d->valuestring, n + 1);
        len += n;
    }
    return 0;
}

static cJSON *config_json(const cu_sso_config *c)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "domains");
    char d[CU_SSO_DOMAINS_MAX];

    cJSON_AddStringToObject(o, "issuer", c->issuer);
    cJSON_AddStringToObject(o, "client_id", c->client_id);
    cJSON_AddStringToObject(o, "redirect_uri", c->redirect_uri);
    cu_strlcpy(d, c->domains, sizeof(d));
    for (char *p = d, *e; p != NULL && *p; p = e ? e + 1 : NULL) {
        e = strchr(p, ',');
        if (e != NULL)
            *e = '\0';
        cJSON_AddItemToArray(a, cJSON_CreateString(p));
    }
    cJSON_AddStringToObject(o, "role", cu_role_name(c->role));
    cJSON_AddBoolToObject(o, "require_sso", c->require_sso);
    return o;
}

/* PUT /v1/tenants/{t}/sso: the whole configuration, the secret included, each time. */
void api_sso_put(http_req *r)
{
    static const http_field f[] = {{"issuer", F_STRING, 1},        {"client_id", F_STRING, 1},
                                   {"client_secret", F_STRING, 1}, {"redirect_uri", F_STRING, 1},
                                   {"domains", F_ARRAY, 1},        {"role", F_STRING, 1},
                                   {"require_sso", F_BOOL, 0}};
    cu_sso_config c;
    cu_err e = {0};

    memset(&c, 0, sizeof(c));
    if (http_check_body(r, f, 7) != 0 || join_domains(r, c.domains) != 0)
        return;
    if (cu_role_parse(http_str(r, "role"), &c.role) != CU_OK || c.role == CU_ROLE_OPERATOR)
        return http_error(r, 400, "invalid_field", "role must be a tenant role");
    /* P-ACC-1: no one hands the provider's users a role above their own. */
    if (!cu_role_can_grant(r->who.role, c.role))
        return http_error(r, 403, "forbidden", "the %s role may not grant the %s role",
                          cu_role_name(r->who.role), cu_role_name(c.role));
    if (cu_strlcpy(c.issuer, http_str(r, "issuer"), sizeof(c.issuer)) != 0 ||
        cu_strlcpy(c.client_id, http_str(r, "client_id"), sizeof(c.client_id)) != 0 ||
        cu_strlcpy(c.redirect_uri, http_str(r, "redirect_uri"), sizeof(c.redirect_uri)) != 0)
        return http_error(r, 400, "invalid_field", "issuer, client_id or redirect_uri is too long");
    c.require_sso = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "require_sso"));
    /* Review finding 7: require_sso takes every password login away, the owner's too. Only the
     * owner turns it on, or changes a configuration that has it on (an admin pointing it at a
     * provider of his own would lock the owner out). */
    if (r->who.role != CU_ROLE_OWNER) {
        int required = c.require_sso;
        if (!required && cu_sso_required(r->v, r->tenant, &required, &e) != CU_OK)
            return http_fail(r, &e);
        if (required)
            return http_error(
                r, 403, "forbidden",
                "only the owner may set a configuration that requires single sign-on");
    }
    if (cu_sso_config_put(r->v, &r->ctx, r->tenant, &c, http_str(r, "client_secret"), &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 200, config_json(&c));
}

void api_sso_get(http_req *r)
{
    cu_sso_config c;
    cu_err e = {0};

    if (cu_sso_config_get(r->v, &r->ctx, r->tenant, &c, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 200, config_json(&c));
}

/* PUT /v1/tenants/{t}/sso/links/{user} {"sub"}: the explicit act that lets an existing user
 * sign in through the provider (review finding 3; the core decides who may link whom). */
void api_sso_link_put(http_req *r)
{
    static const http_field f[] = {{"sub", F_STRING, 1}};
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 1) != 0)
        return;
    if (cu_sso_link(r->v, &r->ctx, r->who.role, r->tenant, r->ids[1], http_str(r, "sub"), &e) !=
        CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "user_id", r->ids[1]);
    cJSON_AddBoolToObject(o, "linked", 1);
    http_json(r, 200, o);
}

/* DELETE /v1/tenants/{t}/sso/links/{user}: the user signs in through the provider no more. */
void api_sso_link_delete(http_req *r)
{
    cu_err e = {0};
    cJSON *o;

    if (cu_sso_unlink(r->v, &r->ctx, r->who.role, r->tenant, r->ids[1], &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "user_id", r->ids[1]);
    cJSON_AddBoolToObject(o, "linked", 0);
    http_json(r, 200, o);
}

/* GET /v1/tenants/{t}/sso/login: 302 to the provider. A tenant without single sign-on, or that
 * does not exist, answers 404 alike (P-ISO-1). */
void api_sso_login(http_req *r)
{
    char binding[CU_SSO_RANDOM_MAX];
    cu_err e = {0};

    if (cu_sso_login_start(r->v, &r->ctx, r->tenant, http_sso_fetch, NULL, r->location,
                           sizeof(r->location), binding, &r->retry_after, &e) != CU_OK) {
        if (e.code == CU_ERR_IO)
            return http_error(r, 502, "provider_unavailable",
                              "the identity provider could not be reached");
        if (e.code == CU_ERR_UNAVAILABLE) /* the fetch cap (review finding 6): 503 at once */
            r->retry_after = 1;
        return http_fail(r, &e);
    }
    /* Login CSRF (review finding 4): the login is good only with this browser's cookie.
     * SameSite=Lax, as the provider's redirect back is a cross-site top-level GET; __Host-:
     * Secure, Path=/, no Domain; it lasts as long as the login. An essential cookie (P-CON-3). */
    snprintf(r->set_cookie, sizeof(r->set_cookie),
             SSO_COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Lax", binding,
             CU_SSO_LOGIN_TTL);
    cu_str_wipe(binding);
    http_json(r, 302, cJSON_CreateObject());
}

/* GET /v1/tenants/{t}/sso/callback?code&state[&iss]: the provider's redirect back; the session
 * cookie on success, 401 with the same body whatever the reason (the audit log keeps it).
 * Parameters other than these are ignored: providers add their own (Google: scope, authuser,
 * hd, prompt; review finding 8); these three may come once each. */
void api_sso_callback(http_req *r)
{
    static const char *const q[] = {"code", "state", "iss"};
    char token[CU_SESSION_TOKEN_MAX], binding[CU_SSO_RANDOM_MAX] = "";
    const char *accept;
    cu_principal who;
    cu_err e = {0};
    cJSON *o;
    cu_rc rc;

    if (http_check_query_known(r, q, 3) != 0)
        return;
    (void)http_cookie(r, SSO_COOKIE, binding, sizeof(binding));
    rc = cu_sso_login_finish(r->v, &r->ctx, r->tenant, http_query(r, "state"), binding,
                             http_query(r, "code"), http_query(r, "iss"), http_sso_fetch, NULL,
                             token, &who, &r->retry_after, &e);
    cu_str_wipe(binding);
    if (rc != CU_OK) {
        /* A tenant without single sign-on (or none at all) falls to 404 below (P-ISO-1). */
        if (e.code == CU_ERR_AUTH)
            return http_error(r, 401, "unauthenticated", "the single sign-on login was refused");
        if (e.code == CU_ERR_IO)
            return http_error(r, 502, "provider_unavailable",
                              "the identity provider could not be reached");
        if (e.code == CU_ERR_UNAVAILABLE)
            r->retry_after = 1;
        return http_fail(r, &e);
    }
    http_session_cookie(r, token, CU_SESSION_TTL);
    snprintf(r->set_cookie2, sizeof(r->set_cookie2),
             SSO_COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
    cu_str_wipe(token);
    r->who = who;
    r->authed = 1;
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "user_id", who.id);
    cu_repr_add_id(o, "tenant_id", who.tenant_id);
    cJSON_AddStringToObject(o, "role", cu_role_name(who.role));
    /* A browser (it asks for HTML) goes on to the console, signed in: the fragment names the
     * tenant and role for the page's navigation only (the API checks every call itself; a
     * fragment never reaches a server or a log). A client that asked for JSON gets the 200. */
    if ((accept = http_header(r, "Accept")) != NULL && strstr(accept, "text/html") != NULL) {
        snprintf(r->location, sizeof(r->location), "/portal/console.html#sso=%llu.%s",
                 (unsigned long long)who.tenant_id, cu_role_name(who.role));
        return http_json(r, 303, o);
    }
    http_json(r, 200, o);
}
