/*
 * api_access.c: handlers for API keys, users, login and logout, TOTP enrolment, and tenant key
 * rotation. Secrets are answered once and never logged (P-ACC-3); a role can only grant roles
 * up to its own (P-ACC-1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static cJSON *key_json(const cu_apikey *k)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", k->id);
    cJSON_AddStringToObject(o, "name", k->name);
    cJSON_AddStringToObject(o, "role", cu_role_name(k->role));
    cu_repr_add_time(o, "created_at", k->created_at);
    if (k->revoked_at)
        cu_repr_add_time(o, "revoked_at", k->revoked_at);
    else
        cJSON_AddNullToObject(o, "revoked_at");
    return o;
}

/* Parses the "role" member and checks the caller may grant it; answers and returns -1 if not. */
static int grantable_role(http_req *r, cu_role *role)
{
    if (cu_role_parse(http_str(r, "role"), role) != CU_OK || *role == CU_ROLE_OPERATOR) {
        http_error(r, 400, "invalid_field",
                   "field \"role\" must be owner, admin, agent, analyst or auditor");
        return -1;
    }
    if (!cu_role_can_grant(r->who.role, *role)) {
        http_error(r, 403, "forbidden", "the %s role may not grant the %s role",
                   cu_role_name(r->who.role), cu_role_name(*role));
        return -1;
    }
    return 0;
}

void api_key_create(http_req *r)
{
    static const http_field f[] = {{"name", F_STRING, 1}, {"role", F_STRING, 1}};
    char secret[CU_APIKEY_SECRET_MAX];
    cu_apikey k;
    cu_role role;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 2) != 0 || grantable_role(r, &role) != 0)
        return;
    if (cu_apikey_create(r->v, &r->ctx, r->tenant, role, http_str(r, "name"), &k, secret, &e) !=
        CU_OK)
        return http_fail(r, &e);
    o = key_json(&k);
    /* P-ACC-3: the only time the secret leaves Custos. */
    cJSON_AddStringToObject(o, "secret", secret);
    cu_str_wipe(secret);
    http_json(r, 201, o);
}

void api_key_list(http_req *r)
{
    cu_apikey *keys = NULL;
    cu_err e = {0};
    size_t n = 0;
    cJSON *o, *a;

    if (cu_apikey_list(r->v, &r->ctx, r->tenant, &keys, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "api_keys");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, key_json(&keys[i]));
    free(keys);
    http_json(r, 200, o);
}

/* P-ACC-1: a credential may be removed only by whoever could have granted it, so an admin
 * cannot revoke or delete the owners above it. A target that is not the tenant's is simply
 * not found. */
static int may_remove_key(http_req *r, cu_id key)
{
    cu_apikey *keys = NULL;
    cu_err e = {0};
    size_t n = 0;
    int found = 0, ok = 0;

    if (cu_apikey_list(r->v, &r->ctx, r->tenant, &keys, &n, &e) != CU_OK) {
        http_fail(r, &e);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (keys[i].id == key) {
            found = 1;
            ok = cu_role_can_grant(r->who.role, keys[i].role);
        }
    free(keys);
    if (!found) {
        e.code = CU_ERR_NOT_FOUND;
        http_fail(r, &e);
    } else if (!ok) {
        http_error(r, 403, "forbidden", "the %s role may not remove this key",
                   cu_role_name(r->who.role));
    }
    return found && ok;
}

void api_key_revoke(http_req *r)
{
    cu_err e = {0};
    cJSON *o;

    if (!may_remove_key(r, r->ids[1]))
        return;
    if (cu_apikey_revoke(r->v, &r->ctx, r->tenant, r->ids[1], &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "revoked", 1);
    http_json(r, 200, o);
}

void api_key_rotate(http_req *r)
{
    unsigned version = 0;
    size_t rewrapped = 0;
    cu_err e = {0};
    cJSON *o;

    if (cu_key_rotate_tenant(r->v, &r->ctx, r->tenant, &version, &rewrapped, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "version", version);
    cJSON_AddNumberToObject(o, "rewrapped", (double)rewrapped);
    http_json(r, 200, o);
}

static cJSON *user_json(const cu_user *u)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", u->id);
    cJSON_AddStringToObject(o, "email", u->email ? u->email : "");
    cJSON_AddStringToObject(o, "role", cu_role_name(u->role));
    cJSON_AddBoolToObject(o, "totp", u->totp_enabled);
    cu_repr_add_time(o, "created_at", u->created_at);
    return o;
}

void api_user_create(http_req *r)
{
    static const http_field f[] = {
        {"email", F_STRING, 1}, {"password", F_STRING, 1}, {"role", F_STRING, 1}};
    cu_role role;
    cu_err e = {0};
    cu_id id;
    cJSON *o;

    if (http_check_body(r, f, 3) != 0 || grantable_role(r, &role) != 0)
        return;
    if (cu_user_create(r->v, &r->ctx, r->tenant, http_str(r, "email"), http_str(r, "password"),
                       role, &id, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", id);
    http_json(r, 201, o);
}

void api_user_list(http_req *r)
{
    cu_user *users = NULL;
    cu_err e = {0};
    size_t n = 0;
    cJSON *o, *a;

    if (cu_user_list(r->v, &r->ctx, r->tenant, &users, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "users");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, user_json(&users[i]));
        cu_user_cleanup(&users[i]);
    }
    free(users);
    http_json(r, 200, o);
}

void api_user_get(http_req *r)
{
    cu_user u;
    cu_err e = {0};
    cJSON *o;

    if (cu_user_get(r->v, &r->ctx, r->tenant, r->ids[1], &u, &e) != CU_OK)
        return http_fail(r, &e);
    o = user_json(&u);
    cu_user_cleanup(&u);
    http_json(r, 200, o);
}

void api_user_delete(http_req *r)
{
    cu_err e = {0};
    cu_user u;
    cJSON *o;

    if (cu_user_get(r->v, &r->ctx, r->tenant, r->ids[1], &u, &e) != CU_OK)
        return http_fail(r, &e);
    cu_user_cleanup(&u);
    if (!cu_role_can_grant(r->who.role, u.role))
        return http_error(r, 403, "forbidden", "the %s role may not delete this user",
                          cu_role_name(r->who.role));

    if (cu_user_delete(r->v, &r->ctx, r->tenant, r->ids[1], &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "deleted", 1);
    http_json(r, 200, o);
}

/* P-CON-3: the session cookie, essential (a password login's here, a single sign-on's in
 * api_sso.c, which also sets the login's short-lived binding cookie); a subject's portal
 * session has its own (api_portal.c). */
void http_session_cookie(http_req *r, const char *token, int max_age)
{
    snprintf(r->set_cookie, sizeof(r->set_cookie),
             "custos_session=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict", token,
             max_age);
}

void api_login(http_req *r)
{
    static const http_field f[] = {
        {"email", F_STRING, 1}, {"password", F_STRING, 1}, {"totp", F_STRING, 0}};
    char token[CU_SESSION_TOKEN_MAX];
    cu_principal who;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 3) != 0)
        return;
    if (cu_user_login(r->v, &r->ctx, r->tenant, http_str(r, "email"), http_str(r, "password"),
                      http_str(r, "totp"), token, &who, &r->retry_after, &e) != CU_OK) {
        /* A tenant that does not exist answers like a wrong password. */
        if (e.code == CU_ERR_NOT_FOUND)
            e.code = CU_ERR_AUTH;
        if (e.code == CU_ERR_AUTH)
            return http_error(r, 401, "unauthenticated", "wrong email or password");
        return http_fail(r, &e);
    }
    /* The cookie lasts the session's longest life; idleness ends it sooner on the server. */
    http_session_cookie(r, token, CU_SESSION_TTL);
    cu_str_wipe(token);
    r->who = who;
    r->authed = 1;
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "user_id", who.id);
    cJSON_AddStringToObject(o, "role", cu_role_name(who.role));
    http_json(r, 200, o);
}

/* The operator's console session (docs/portal.md): the operator's key, sent once in the
 * Authorization header, is exchanged for a short-lived session cookie, so the page never keeps
 * the key. Only a key opens one: a session cannot renew itself past its end. */
void api_operator_session(http_req *r)
{
    char token[CU_SESSION_TOKEN_MAX];
    int64_t expires = 0;
    cu_err e = {0};
    cJSON *o;

    /* The key itself, by its Bearer header: a session (its cookie) never opens another, so none
     * outlives its 30 minutes. */
    if (!r->by_key)
        return http_error(r, 403, "forbidden",
                          "an operator session is opened with the operator's API key");
    if (cu_opsession_open(r->v, &r->ctx, &r->who, token, &expires, &e) != CU_OK)
        return http_fail(r, &e);
    http_session_cookie(r, token, CU_OPSESSION_TTL);
    cu_str_wipe(token);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "key_id", r->who.id);
    cJSON_AddStringToObject(o, "role", cu_role_name(r->who.role));
    cu_repr_add_time(o, "expires_at", expires);
    http_json(r, 200, o);
}

/* Ends the session of the cookie the router authenticated, parsed the same way. */
void api_logout(http_req *r)
{
    char token[CU_SESSION_TOKEN_MAX];
    cu_err e = {0};

    if (http_cookie(r, "custos_session", token, sizeof(token)) == 0) {
        (void)cu_session_end(r->v, token, &e);
        cu_str_wipe(token);
    }
    http_session_cookie(r, "", 0);
    http_json(r, 200, cJSON_CreateObject());
}

/* Users enrol their own second factor; a user manager may not do it for them. */
static int is_self(http_req *r)
{
    cu_err e = {CU_ERR_NOT_FOUND, ""};

    if (r->who.kind == CU_PRINCIPAL_USER && r->who.id == r->ids[1])
        return 1;
    http_fail(r, &e);
    return 0;
}

/* P-ACC-2: the user proves itself again: password, and the current code once TOTP is on. */
void api_totp_enroll(http_req *r)
{
    static const http_field f[] = {{"password", F_STRING, 1}, {"code", F_STRING, 0}};
    char uri[CU_TOTP_URI_MAX];
    cu_err e = {0};
    cJSON *o;

    if (!is_self(r) || http_check_body(r, f, 2) != 0)
        return;
    if (cu_user_totp_enroll(r->v, &r->ctx, r->tenant, r->ids[1], http_str(r, "password"),
                            http_str(r, "code"), uri, &r->retry_after, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "otpauth_uri", uri);
    cu_str_wipe(uri);
    http_json(r, 200, o);
}

/* Confirming ends the user's other sessions; the one confirming stays. */
void api_totp_confirm(http_req *r)
{
    static const http_field f[] = {{"code", F_STRING, 1}};
    char token[CU_SESSION_TOKEN_MAX] = "";
    cu_err e = {0};
    cu_rc rc;
    cJSON *o;

    if (!is_self(r) || http_check_body(r, f, 1) != 0)
        return;
    (void)http_cookie(r, "custos_session", token, sizeof(token));
    rc = cu_user_totp_confirm(r->v, &r->ctx, r->tenant, r->ids[1], http_str(r, "code"), token, &e);
    cu_str_wipe(token);
    if (rc != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "totp", 1);
    http_json(r, 200, o);
}
