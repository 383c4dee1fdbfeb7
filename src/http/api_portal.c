/*
 * api_portal.c: the data subject's privacy center over HTTP (issue 15; docs/portal.md).
 *
 * The tenant's backend asks for a link (POST .../subjects/{id}/portal-links); the page at
 * /portal/center.html reads the token from the URL's fragment (which no server log, proxy or
 * Referer sees) and exchanges it (POST /v1/portal/session) for the custos_portal cookie. The
 * routes under .../portal/subjects/{id} need that cookie's principal (CU_ROLE_SUBJECT, which
 * holds CU_PERM_PORTAL alone); the router checks its tenant and its subject on every one. Parse,
 * call the core, map errors: the rules live in src/core/portal.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custos_portal.h"
#include "http_int.h"
#include "json.h"
#include "repr.h"

#define CENTER_PREFIX "/portal/center.html#"
#define COOKIE "custos_portal"

void api_portal_link(http_req *r)
{
    char token[CU_PORTAL_TOKEN_MAX], url[sizeof(CENTER_PREFIX) + CU_PORTAL_TOKEN_MAX];
    int64_t expires = 0;
    cu_err e = {0};
    cJSON *o;

    if (cu_portal_link(r->v, &r->ctx, &r->who, r->tenant, r->ids[1], token, &expires, &e) !=
        CU_OK)
        return http_fail(r, &e);
    /* The token in the fragment: the browser never sends it, so no log holds it. */
    snprintf(url, sizeof(url), CENTER_PREFIX "%s", token);
    cu_str_wipe(token);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "subject_id", r->ids[1]);
    cJSON_AddStringToObject(o, "url", url);
    cu_repr_add_time(o, "expires_at", expires);
    cu_str_wipe(url);
    http_json(r, 201, o);
}

/* The subject's session cookie: HttpOnly (no script reads it), Secure, SameSite=Strict (no
 * other site's page sends it), as short-lived as the session, and sent only under its own
 * subject's portal routes (/v1/tenants/{t}/portal/subjects/{s}): never with the rest of the
 * API nor the console (review-portal2 6). Tenant 0: Path=/, to clear a cookie set before. */
static void set_portal_cookie(http_req *r, cu_id tenant, cu_id subject, const char *token,
                              int max_age)
{
    char path[96] = "/";

    if (tenant != 0)
        snprintf(path, sizeof(path), "/v1/tenants/%llu/portal/subjects/%llu",
                 (unsigned long long)tenant, (unsigned long long)subject);
    snprintf(r->set_cookie, sizeof(r->set_cookie),
             COOKIE "=%s; Path=%s; Max-Age=%d; HttpOnly; Secure; SameSite=Strict", token, path,
             max_age);
}

void api_portal_session_open(http_req *r)
{
    static const http_field f[] = {{"token", F_STRING, 1}};
    char session[CU_PORTAL_TOKEN_MAX];
    cu_principal who;
    int64_t expires = 0;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 1) != 0)
        return;
    /* Any flaw, an expired link and an unknown subject alike: 404 "not found" (P-ISO-1). */
    if (cu_portal_session(r->v, &r->ctx, http_str(r, "token"), session, &who, &expires, &e) !=
        CU_OK)
        return http_fail(r, &e);
    set_portal_cookie(r, who.tenant_id, who.id, session, CU_PORTAL_SESSION_TTL);
    cu_str_wipe(session);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "tenant_id", who.tenant_id);
    cu_repr_add_id(o, "subject_id", who.id);
    cu_repr_add_time(o, "expires_at", expires);
    http_json(r, 200, o);
}

/* Ends the session in this browser: the cookie is cleared at the path it was set for, which
 * the page names (?tenant_id=&subject_id=; the cookie itself never comes to this route), or at
 * Path=/ without them. A signed session is stored nowhere, so a copy of it lives until its
 * expiry (docs/portal.md). */
void api_portal_session_close(http_req *r)
{
    static const char *const q[] = {"tenant_id", "subject_id"};
    const char *t, *s;
    cu_id tenant = 0, subject = 0;
    cJSON *o;

    if (http_check_query(r, q, 2) != 0)
        return;
    t = http_query(r, "tenant_id");
    s = http_query(r, "subject_id");
    if ((t != NULL || s != NULL) &&
        (t == NULL || s == NULL || cu_id_parse(t, &tenant) != CU_OK ||
         cu_id_parse(s, &subject) != CU_OK || tenant == 0 || subject == 0))
        return http_error(r, 400, "invalid_query",
                          "tenant_id and subject_id: both ids, or neither");
    o = cJSON_CreateObject();
    set_portal_cookie(r, tenant, subject, "", 0);
    cJSON_AddBoolToObject(o, "ended", 1);
    http_json(r, 200, o);
}

/* The tenant's name, the policy in force and a pending version with its diff (P-NOT-1). */
void api_portal_center(http_req *r)
{
    cu_policy *p = NULL;
    cu_policy_state st;
    cu_policy_diff d;
    unsigned version = 0;
    cu_tenant t;
    cu_err e = {0};
    cJSON *o, *pend;

    if (cu_tenant_get(r->v, &r->ctx, r->tenant, &t, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "tenant", cJSON_CreateObject());
    cu_repr_add_id(cJSON_GetObjectItem(o, "tenant"), "id", t.id);
    cJSON_AddStringToObject(cJSON_GetObjectItem(o, "tenant"), "name", t.name);
    cu_repr_add_id(o, "subject_id", r->ids[1]);
    if (cu_tenant_policy(r->v, r->tenant, &p, &version, &e) == CU_OK)
        cJSON_AddItemToObject(o, "policy", api_policy_json(p, version));
    else
        cJSON_AddNullToObject(o, "policy");
    cu_policy_free(p);
    memset(&d, 0, sizeof(d));
    if (cu_policy_pending_diff(r->v, r->tenant, &st, &d, &e) == CU_OK) {
        pend = cJSON_AddObjectToObject(o, "pending");
        cJSON_AddNumberToObject(pend, "version", st.pending);
        cu_repr_add_time(pend, "effective_at", st.pending_at);
        cJSON_AddItemToObject(pend, "diff", cu_repr_policy_diff_json(&d));
    } else {
        cJSON_AddNullToObject(o, "pending");
    }
    cu_policy_diff_cleanup(&d);
    http_json(r, 200, o);
}

void api_portal_consents(http_req *r)
{
    cu_portal_consent *c = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (cu_portal_consents(r->v, &r->ctx, r->tenant, r->ids[1], &c, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "purposes");
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "purpose", c[i].purpose);
        cJSON_AddStringToObject(x, "description", c[i].description);
        cJSON_AddStringToObject(x, "data_use", c[i].data_use);
        cJSON_AddStringToObject(x, "basis", cu_legal_basis_name(c[i].basis));
        cJSON_AddStringToObject(x, "stance", cu_portal_stance_name(c[i].stance));
        cu_repr_add_time(x, "at", c[i].at);
        cJSON_AddBoolToObject(x, "can_change", c[i].can_change);
        cJSON_AddStringToObject(x, "withdrawing", c[i].withdraw);
        cJSON_AddItemToArray(a, x);
    }
    free(c);
    http_json(r, 200, o);
}

/* A request refused because the subject has one of its kind open, or too many open: 409 with a
 * code of its own, which the page can tell from another conflict. */
static void fail_filing(http_req *r, cu_id open, cu_err *e)
{
    if (e->code == CU_ERR_CONFLICT && open != 0)
        return http_error(r, 409, "request_open", "%s (request %llu)", e->msg,
                          (unsigned long long)open);
    http_fail(r, e);
}

/* A change of mind from the page: the ledger's own path, audited as the subject's (P-CON-2),
 * 201; or, where the tenant is a processor, a withdrawal or objection filed as the subject's
 * request, which waits for the controller (P-DSR-8): 202 and the request. */
void api_portal_consent_change(http_req *r)
{
    static const http_field f[] = {{"purpose", F_STRING, 1}, {"action", F_STRING, 1}};
    cu_consent_action action;
    cu_portal_change out;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 2) != 0)
        return;
    if (cu_consent_action_parse(http_str(r, "action"), &action) != CU_OK)
        return http_error(r, 400, "invalid_field",
                          "field \"action\" must be grant, withdraw, object or withdraw_objection");
    if (cu_portal_consent_change(r->v, &r->ctx, r->tenant, r->ids[1], http_str(r, "purpose"),
                                 action, &out, &e) != CU_OK)
        return fail_filing(r, out.open, &e);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "purpose", http_str(r, "purpose"));
    cJSON_AddStringToObject(o, "action", cu_consent_action_name(action));
    cJSON_AddBoolToObject(o, "routed", out.routed);
    if (out.routed)
        cJSON_AddItemToObject(o, "request", cu_repr_request_filed_json(&out.filed));
    http_json(r, out.routed ? 202 : 201, o);
}

void api_portal_requests(http_req *r)
{
    cu_request *list = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (cu_portal_requests(r->v, &r->ctx, r->tenant, r->ids[1], &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "requests");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cu_repr_request_json(&list[i]));
    free(list);
    http_json(r, 200, o);
}

void api_portal_request_file(http_req *r)
{
    static const http_field f[] = {{"type", F_STRING, 1}, {"purpose", F_STRING, 0}};
    cu_request_type type;
    cu_request_filed out;
    cu_id open = 0;
    cu_err e = {0};

    if (http_check_body(r, f, 2) != 0)
        return;
    if (cu_request_type_parse(http_str(r, "type"), &type) != CU_OK)
        return http_error(r, 400, "invalid_field",
                          "type: access, export, rectify, erase, restrict, unrestrict, object "
                          "or withdraw_consent");
    if (cu_portal_request_file(r->v, &r->ctx, r->tenant, r->ids[1], type, http_str(r, "purpose"),
                               &out, &open, &e) != CU_OK)
        return fail_filing(r, open, &e);
    http_json(r, 201, cu_repr_request_filed_json(&out));
}

static long export_read(void *arg, char *buf, size_t max)
{
    size_t n = 0;
    cu_err e = {0};

    if (cu_subject_export_read(arg, buf, max, &n, &e) != CU_OK) {
        fprintf(stderr, "custos: a subject's export cut short: %s\n", cu_rc_name(e.code));
        return -1;
    }
    return (long)n;
}

static void export_done(void *arg)
{
    cu_subject_export_free(arg);
}

/* The answer to the subject's own access or export request once acknowledged, streamed as
 * api_request_export streams it. */
void api_portal_export(http_req *r)
{
    static const char *const q[] = {"format"};
    cu_subject_export *x = NULL;
    const char *format;
    cu_err e = {0};

    if (http_check_query(r, q, 1) != 0)
        return;
    format = http_query(r, "format") ? http_query(r, "format") : "json";
    if (cu_portal_export_open(r->v, &r->ctx, r->tenant, r->ids[1], r->ids[2], format, &x, &e) !=
        CU_OK)
        return http_fail(r, &e);
    free(r->resp);
    r->resp = NULL;
    r->stream_read = export_read;
    r->stream_done = export_done;
    r->stream_arg = x;
    r->status = 200;
    r->content_type = strcmp(format, "csv") == 0 ? "application/zip" : NULL;
}
