/*
 * router.c: the route table, dispatch, authentication, and the JSON answers.
 *
 * Every route names its permission (P-ACC-1); docs/permissions.md is this table in prose, and a
 * test walks both. Checks run in the order given in http_int.h, so that a credential of tenant A
 * on any path of tenant B gets exactly what a missing id gets: 404 with the same body (P-ISO-1).
 */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "custos_consent.h"
#include "custos_portal.h"
#include "http_int.h"
#include "json.h"
#include "util.h"

#define GET "GET"
#define POST "POST"
#define PUT "PUT"
#define DEL "DELETE"
#define T "/v1/tenants/{tenant}"

const http_route http_routes[] = {
    {GET, "/healthz", 0, R_NOAUTH, api_healthz, "/healthz"},
    {GET, "/metrics", CU_PERM_TENANTS, 0, api_metrics, "/metrics"},
    {POST, "/v1/tenants", CU_PERM_TENANTS, R_BODY, api_tenant_create, "/v1/tenants"},
    {GET, "/v1/tenants", CU_PERM_TENANTS, 0, api_tenant_list, "/v1/tenants"},
    {GET, T, CU_PERM_SELF, R_TENANT, api_tenant_get, T},
    /* The policy and the tenant's end (P-RET-2); the export needs a purpose like any read. */
    {GET, T "/policy", CU_PERM_SELF, R_TENANT, api_policy_get, T "/policy"},
    {PUT, T "/policy", CU_PERM_POLICY, R_TENANT | R_BODY, api_policy_put, T "/policy"},
    {PUT, T "/policy/grant", CU_PERM_POLICY, R_TENANT | R_BODY, api_policy_grant,
     T "/policy/grant"},
    {GET, T "/policy/pending", CU_PERM_SELF, R_TENANT, api_policy_pending, T "/policy/pending"},
    {DEL, T "/policy/pending", CU_PERM_POLICY, R_TENANT, api_policy_withdraw, T "/policy/pending"},
    {GET, T "/policy/fresh-consent", CU_PERM_DATA_READ, R_TENANT, api_policy_fresh,
     T "/policy/fresh-consent"},
    {POST, T "/terminate", CU_PERM_TENANTS, R_TENANT, api_tenant_terminate, T "/terminate"},
    {GET, T "/export", CU_PERM_DATA_READ, R_TENANT | R_PURPOSE, api_tenant_export,
     T "/export"},
    {POST, T "/subjects", CU_PERM_DATA_WRITE, R_TENANT | R_BODY | R_PURPOSE, api_subject_create,
     T "/subjects"},
    {POST, T "/subjects/search", CU_PERM_DATA_READ, R_TENANT | R_BODY | R_PURPOSE,
     api_subject_search, T "/subjects/search"},
    {GET, T "/subjects/{id}", CU_PERM_DATA_READ, R_TENANT | R_PURPOSE, api_subject_get,
     T "/subjects/{id}"},
    {DEL, T "/subjects/{id}", CU_PERM_DATA_ERASE, R_TENANT | R_PURPOSE, api_subject_erase,
     T "/subjects/{id}"},
    {GET, T "/subjects/{id}/records", CU_PERM_DATA_READ, R_TENANT | R_PURPOSE,
     api_subject_records, T "/subjects/{id}/records"},
    /* Who accessed the subject (the log's subject index): the audit permission's. */
    {GET, T "/subjects/{id}/accesses", CU_PERM_AUDIT, R_TENANT, api_subject_accesses,
     T "/subjects/{id}/accesses"},
    /* The consent ledger and restriction hold ids and purpose names only (P-CON-2); reading
     * a ledger, like reading holds (whose reasons may name people), states a purpose. */
    {POST, T "/subjects/{id}/consents", CU_PERM_DATA_WRITE, R_TENANT | R_BODY,
     api_consent_record, T "/subjects/{id}/consents"},
    {GET, T "/subjects/{id}/consents", CU_PERM_DATA_READ, R_TENANT | R_PURPOSE, api_consent_list,
     T "/subjects/{id}/consents"},
    /* Cookie consent (P-CON-3): the site's backend records and checks with its key; the
     * banner script holds no secret and needs none. One-click unsubscribe (P-CON-4): the
     * signed token is the credential; GET shows a page, only POST unsubscribes. */
    {POST, T "/cookies/choices", CU_PERM_DATA_WRITE, R_TENANT | R_BODY, api_cookie_choose,
     T "/cookies/choices"},
    /* data_write, not data_read: the site's own key, never platform staff (P-ACC-4). */
    {GET, T "/cookies/check", CU_PERM_DATA_WRITE, R_TENANT, api_cookie_check, T "/cookies/check"},
    {GET, T "/cookies/banner.js", 0, R_TENANT | R_NOAUTH, api_cookie_banner,
     T "/cookies/banner.js"},
    {POST, T "/subjects/{id}/unsubscribe-links", CU_PERM_DATA_WRITE, R_TENANT | R_BODY,
     api_unsubscribe_link, T "/subjects/{id}/unsubscribe-links"},
    {GET, "/v1/unsubscribe/{token}", 0, R_NOAUTH, api_unsubscribe_page, "/v1/unsubscribe/{token}"},
    {POST, "/v1/unsubscribe/{token}", 0, R_NOAUTH | R_FORM, api_unsubscribe_post,
     "/v1/unsubscribe/{token}"},
    /* The subject's privacy center (api_portal.c, docs/portal.md): the tenant's backend asks
     * for a signed link, the page exchanges it for the subject's session, whose principal
     * holds `portal` alone and reaches only its own subject's routes (authorize()). */
    {POST, T "/subjects/{id}/portal-links", CU_PERM_DATA_WRITE, R_TENANT, api_portal_link,
     T "/subjects/{id}/portal-links"},
    {POST, "/v1/portal/session", 0, R_NOAUTH | R_BODY | R_ORIGIN, api_portal_session_open,
     "/v1/portal/session"},
    {DEL, "/v1/portal/session", 0, R_NOAUTH | R_ORIGIN, api_portal_session_close,
     "/v1/portal/session"},
    {GET, T "/portal/subjects/{id}", CU_PERM_PORTAL, R_TENANT, api_portal_center,
     T "/portal/subjects/{id}"},
    {GET, T "/portal/subjects/{id}/consents", CU_PERM_PORTAL, R_TENANT, api_portal_consents,
     T "/portal/subjects/{id}/consents"},
    {POST, T "/portal/subjects/{id}/consents", CU_PERM_PORTAL, R_TENANT | R_BODY,
     api_portal_consent_change, T "/portal/subjects/{id}/consents"},
    {GET, T "/portal/subjects/{id}/requests", CU_PERM_PORTAL, R_TENANT, api_portal_requests,
     T "/portal/subjects/{id}/requests"},
    {POST, T "/portal/subjects/{id}/requests", CU_PERM_PORTAL, R_TENANT | R_BODY,
     api_portal_request_file, T "/portal/subjects/{id}/requests"},
    {GET, T "/portal/subjects/{id}/requests/{id}/export", CU_PERM_PORTAL, R_TENANT,
     api_portal_export, T "/portal/subjects/{id}/requests/{id}/export"},
    {PUT, T "/subjects/{id}/restriction", CU_PERM_DATA_WRITE, R_TENANT | R_BODY,
     api_subject_restrict, T "/subjects/{id}/restriction"},
    {POST, T "/subjects/{id}/under-age", CU_PERM_DATA_ERASE, R_TENANT, api_subject_under_age,
     T "/subjects/{id}/under-age"},
    /* Legal holds (P-RET-5): whoever may erase may stop erasure. */
    {POST, T "/holds", CU_PERM_DATA_ERASE, R_TENANT | R_BODY, api_hold_place, T "/holds"},
    {GET, T "/holds", CU_PERM_DATA_READ, R_TENANT | R_PURPOSE, api_hold_list, T "/holds"},
    {POST, T "/holds/{id}/release", CU_PERM_DATA_ERASE, R_TENANT | R_BODY, api_hold_release,
     T "/holds/{id}/release"},
    /* Disclosures (P-SHR-1): data leaving to a third party is a decision of whoever may erase
     * (owner, admin), not routine processing; the body states its purpose, which the core
     * checks against the policy in force. The list holds ids and names only: no purpose. */
    {POST, T "/disclosures", CU_PERM_DATA_ERASE, R_TENANT | R_BODY, api_disclosure_add,
     T "/disclosures"},
    {GET, T "/disclosures", CU_PERM_DATA_READ, R_TENANT, api_disclosure_list, T "/disclosures"},
    /* Data-subject requests (docs/dsr.md): the routes under one act under it, with the
     * purpose subject_access it alone gives (the header cannot state it). */
    {POST, T "/requests", CU_PERM_DATA_WRITE, R_TENANT | R_BODY, api_request_file,
     T "/requests"},
    {GET, T "/requests", CU_PERM_DATA_READ, R_TENANT, api_request_list, T "/requests"},
    {GET, T "/requests/{id}", CU_PERM_DATA_READ, R_TENANT, api_request_get, T "/requests/{id}"},
    {POST, T "/requests/{id}/verify", CU_PERM_DATA_WRITE, R_TENANT | R_BODY, api_request_verify,
     T "/requests/{id}/verify"},
    /* Acknowledging opens the subject's data to the routes below: an administrator's step, so
     * that a key which files and verifies (the service relaying the subject's token) cannot
     * give itself the purpose. */
    {POST, T "/requests/{id}/acknowledge", CU_PERM_DATA_ERASE, R_TENANT, api_request_acknowledge,
     T "/requests/{id}/acknowledge"},
    {POST, T "/requests/{id}/extend", CU_PERM_DATA_ERASE, R_TENANT | R_BODY, api_request_extend,
     T "/requests/{id}/extend"},
    {POST, T "/requests/{id}/approve", CU_PERM_DATA_ERASE, R_TENANT, api_request_approve,
     T "/requests/{id}/approve"},
    {POST, T "/requests/{id}/reject", CU_PERM_DATA_ERASE, R_TENANT | R_BODY, api_request_reject,
     T "/requests/{id}/reject"},
    {POST, T "/requests/{id}/complete", CU_PERM_DATA_ERASE, R_TENANT | R_BODY,
     api_request_complete, T "/requests/{id}/complete"},
    {GET, T "/requests/{id}/subject", CU_PERM_DATA_READ, R_TENANT, api_request_subject,
     T "/requests/{id}/subject"},
    {GET, T "/requests/{id}/records", CU_PERM_DATA_READ, R_TENANT, api_request_records,
     T "/requests/{id}/records"},
    {GET, T "/requests/{id}/consents", CU_PERM_DATA_READ, R_TENANT, api_request_consents,
     T "/requests/{id}/consents"},
    {GET, T "/requests/{id}/records/{id}", CU_PERM_DATA_READ, R_TENANT, api_request_record_get,
     T "/requests/{id}/records/{id}"},
    {PUT, T "/requests/{id}/records/{id}", CU_PERM_DATA_WRITE, R_TENANT | R_BODY,
     api_request_record_update, T "/requests/{id}/records/{id}"},
    {GET, T "/requests/{id}/export", CU_PERM_DATA_READ, R_TENANT, api_request_export,
     T "/requests/{id}/export"},
    {PUT, T "/collections/{name}", CU_PERM_SCHEMA, R_TENANT | R_BODY, api_collection_put,
     T "/collections/{name}"},
    {POST, T "/collections/{name}/records", CU_PERM_DATA_WRITE, R_TENANT | R_BODY | R_PURPOSE,
     api_record_create, T "/collections/{name}/records"},
    {POST, T "/collections/{name}/records/search", CU_PERM_DATA_READ,
     R_TENANT | R_BODY | R_PURPOSE, api_record_search, T "/collections/{name}/records/search"},
    /* Aggregates only, never a personal value (P-ANA-1), but a processing of the records all
     * the same: a purpose that covers the collection, and subjects who objected left out
     * (P-CON-1, P-DSR-6). */
    {POST, T "/collections/{name}/aggregate", CU_PERM_AGGREGATE, R_TENANT | R_BODY | R_PURPOSE,
     api_analytics_aggregate, T "/collections/{name}/aggregate"},
    {GET, T "/analytics/budget", CU_PERM_AGGREGATE, R_TENANT, api_analytics_budget_get,
     T "/analytics/budget"},
    {PUT, T "/analytics/budget", CU_PERM_POLICY, R_TENANT | R_BODY, api_analytics_budget_put,
     T "/analytics/budget"},
    {GET, T "/records/{id}", CU_PERM_DATA_READ, R_TENANT | R_PURPOSE, api_record_get,
     T "/records/{id}"},
    {PUT, T "/records/{id}", CU_PERM_DATA_WRITE, R_TENANT | R_BODY | R_PURPOSE,
     api_record_update, T "/records/{id}"},
    {DEL, T "/records/{id}", CU_PERM_DATA_WRITE, R_TENANT | R_PURPOSE, api_record_delete,
     T "/records/{id}"},
    {POST, T "/api-keys", CU_PERM_KEYS, R_TENANT | R_BODY, api_key_create, T "/api-keys"},
    {GET, T "/api-keys", CU_PERM_KEYS, R_TENANT, api_key_list, T "/api-keys"},
    {DEL, T "/api-keys/{id}", CU_PERM_KEYS, R_TENANT, api_key_revoke, T "/api-keys/{id}"},
    {POST, T "/keys/rotate", CU_PERM_KEYS, R_TENANT, api_key_rotate, T "/keys/rotate"},
    /* Webhooks (docs/webhooks.md): an endpoint's secret signs for the tenant, a credential. */
    {POST, T "/webhooks", CU_PERM_KEYS, R_TENANT | R_BODY, api_webhook_create, T "/webhooks"},
    {GET, T "/webhooks", CU_PERM_KEYS, R_TENANT, api_webhook_list, T "/webhooks"},
    {POST, T "/webhooks/test", CU_PERM_KEYS, R_TENANT, api_webhook_test, T "/webhooks/test"},
    {GET, T "/webhooks/{id}", CU_PERM_KEYS, R_TENANT, api_webhook_get, T "/webhooks/{id}"},
    {PUT, T "/webhooks/{id}", CU_PERM_KEYS, R_TENANT | R_BODY, api_webhook_update,
     T "/webhooks/{id}"},
    {DEL, T "/webhooks/{id}", CU_PERM_KEYS, R_TENANT, api_webhook_delete, T "/webhooks/{id}"},
    {POST, T "/webhooks/{id}/rotate", CU_PERM_KEYS, R_TENANT, api_webhook_rotate,
     T "/webhooks/{id}/rotate"},
    {GET, T "/events", CU_PERM_KEYS, R_TENANT, api_webhook_events, T "/events"},
    {GET, T "/events/{id}", CU_PERM_KEYS, R_TENANT, api_webhook_event_get, T "/events/{id}"},
    {POST, T "/events/{id}/resend", CU_PERM_KEYS, R_TENANT, api_webhook_resend,
     T "/events/{id}/resend"},
    {POST, T "/users", CU_PERM_USERS, R_TENANT | R_BODY, api_user_create, T "/users"},
    {GET, T "/users", CU_PERM_USERS, R_TENANT, api_user_list, T "/users"},
    {GET, T "/users/{id}", CU_PERM_USERS, R_TENANT, api_user_get, T "/users/{id}"},
    {DEL, T "/users/{id}", CU_PERM_USERS, R_TENANT, api_user_delete, T "/users/{id}"},
    {POST, T "/users/{id}/totp", CU_PERM_SELF, R_TENANT | R_BODY, api_totp_enroll,
     T "/users/{id}/totp"},
    {POST, T "/users/{id}/totp/confirm", CU_PERM_SELF, R_TENANT | R_BODY, api_totp_confirm,
     T "/users/{id}/totp/confirm"},
    {POST, T "/login", 0, R_TENANT | R_NOAUTH | R_BODY, api_login, T "/login"},
    /* Single sign-on (docs/sso.md, P-ACC-5): the provider decides who may sign in, a
     * credential's matter (owner, admin); the login and the callback need none. */
    {PUT, T "/sso", CU_PERM_KEYS, R_TENANT | R_BODY, api_sso_put, T "/sso"},
    {GET, T "/sso", CU_PERM_KEYS, R_TENANT, api_sso_get, T "/sso"},
    {PUT, T "/sso/links/{id}", CU_PERM_KEYS, R_TENANT | R_BODY, api_sso_link_put,
     T "/sso/links/{id}"},
    {DEL, T "/sso/links/{id}", CU_PERM_KEYS, R_TENANT, api_sso_link_delete, T "/sso/links/{id}"},
    {GET, T "/sso/login", 0, R_TENANT | R_NOAUTH, api_sso_login, T "/sso/login"},
    {GET, T "/sso/callback", 0, R_TENANT | R_NOAUTH, api_sso_callback, T "/sso/callback"},
    {POST, "/v1/logout", CU_PERM_SELF, 0, api_logout, "/v1/logout"},
    /* The operator's console: its key, once, for a short-lived session cookie. */
    {POST, "/v1/operator/session", CU_PERM_TENANTS, 0, api_operator_session,
     "/v1/operator/session"},
    /* The audit log holds ids and names, never a personal value (P-AUD-4): no purpose. */
    {GET, T "/audit", CU_PERM_AUDIT, R_TENANT, api_audit_list, T "/audit"},
    {GET, T "/audit/verify", CU_PERM_AUDIT, R_TENANT, api_audit_verify, T "/audit/verify"},
    {POST, T "/audit/checkpoints", CU_PERM_AUDIT, R_TENANT, api_audit_checkpoint,
     T "/audit/checkpoints"},
    {GET, T "/audit/checkpoints", CU_PERM_AUDIT, R_TENANT, api_audit_checkpoints,
     T "/audit/checkpoints"},
    /* The platform's own log (tenant 0), for the operator. */
    {GET, "/v1/audit", CU_PERM_TENANTS, 0, api_audit_list, "/v1/audit"},
    {GET, "/v1/audit/verify", CU_PERM_TENANTS, 0, api_audit_verify, "/v1/audit/verify"},
    /* The retention sweep, now (it also runs on an interval inside custos serve). */
    {POST, "/v1/sweep", CU_PERM_TENANTS, 0, api_sweep, "/v1/sweep"},
    /* A backup now, into the server's --backup-dir (P-BAK-1; docs/backup.md). */
    {POST, "/v1/backups", CU_PERM_TENANTS, 0, api_backup_create, "/v1/backups"},
    /* Breach incidents (P-BRE-1, docs/incidents.md): the operator's over any tenants, a
     * tenant's owner or admin over its own (KEYS: it revokes the suspected key). The affected
     * set holds ids only: no purpose. */
    {POST, "/v1/incidents", CU_PERM_TENANTS, R_BODY, api_incident_open, "/v1/incidents"},
    {GET, "/v1/incidents", CU_PERM_TENANTS, 0, api_incident_list, "/v1/incidents"},
    {GET, "/v1/incidents/{id}", CU_PERM_TENANTS, 0, api_incident_get, "/v1/incidents/{id}"},
    {GET, "/v1/incidents/{id}/report", CU_PERM_TENANTS, 0, api_incident_report,
     "/v1/incidents/{id}/report"},
    {POST, "/v1/incidents/{id}/notices", CU_PERM_TENANTS, R_BODY, api_incident_notice,
     "/v1/incidents/{id}/notices"},
    {POST, "/v1/incidents/{id}/revoke", CU_PERM_TENANTS, 0, api_incident_revoke,
     "/v1/incidents/{id}/revoke"},
    {POST, T "/incidents", CU_PERM_KEYS, R_TENANT | R_BODY, api_incident_open, T "/incidents"},
    {GET, T "/incidents", CU_PERM_KEYS, R_TENANT, api_incident_list, T "/incidents"},
    {GET, T "/incidents/{id}", CU_PERM_KEYS, R_TENANT, api_incident_get, T "/incidents/{id}"},
    {GET, T "/incidents/{id}/report", CU_PERM_KEYS, R_TENANT, api_incident_report,
     T "/incidents/{id}/report"},
    {POST, T "/incidents/{id}/notices", CU_PERM_KEYS, R_TENANT | R_BODY, api_incident_notice,
     T "/incidents/{id}/notices"},
    {POST, T "/incidents/{id}/revoke", CU_PERM_KEYS, R_TENANT, api_incident_revoke,
     T "/incidents/{id}/revoke"},
};
const size_t http_nroutes = sizeof(http_routes) / sizeof(http_routes[0]);

void http_json(http_req *r, unsigned status, cJSON *item)
{
    free(r->resp);
    r->resp = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    if (r->resp == NULL) {
        static const char oom[] = "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of "
                                  "memory\"}}";
        r->resp = strdup(oom);
        status = 503;
        r->err_code = "out_of_memory";
    }
    r->resp_len = r->resp ? strlen(r->resp) : 0;
    r->status = status;
}

void http_error(http_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    char msg[CU_ERR_MSG];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    r->err_code = code;
    http_json(r, status, o);
}

unsigned http_status_of(cu_rc rc)
{
    switch (rc) {
    case CU_OK: return 200;
    case CU_ERR_INVALID: return 400;
    case CU_ERR_AUTH: return 401;
    case CU_ERR_MFA_REQUIRED: return 401;
    case CU_ERR_FORBIDDEN: return 403;
    case CU_ERR_NOT_FOUND: return 404;
    case CU_ERR_EXISTS: return 409;
    case CU_ERR_CONFLICT: return 409;
    case CU_ERR_KEY: return 410;
    case CU_ERR_LIMIT: return 413;
    case CU_ERR_FORBIDDEN_FIELD: return 422;
    case CU_ERR_RATE_LIMITED: return 429;
    case CU_ERR_UNKNOWN_PURPOSE: return 400;
    case CU_ERR_PURPOSE_DENIED:
    case CU_ERR_CONSENT_REQUIRED:
    case CU_ERR_OBJECTED:
    case CU_ERR_RESTRICTED:
    case CU_ERR_OPTED_OUT:
    case CU_ERR_NOT_LISTED: return 403;
    case CU_ERR_UNDER_AGE: return 422;
    case CU_ERR_LEGAL_HOLD:
    case CU_ERR_TERMINATED: return 409;
    case CU_ERR_UNSUPPORTED: return 501;
    case CU_ERR_NOMEM:
    case CU_ERR_IO:
    case CU_ERR_UNAVAILABLE: return 503;
    default: return 500;
    }
}

void http_fail(http_req *r, const cu_err *e)
{
    const char *msg = e->msg;

    /* P-ISO-1: one body for every missing object, whoever owns the id. */
    if (e->code == CU_ERR_NOT_FOUND)
        msg = "not found";
    else if (e->code == CU_ERR_KEY)
        msg = "the data was erased: its key no longer exists";
    http_error(r, http_status_of(e->code), cu_rc_name(e->code), "%s", msg);
}

static void not_found(http_req *r)
{
    cu_err e = {CU_ERR_NOT_FOUND, ""};

    http_fail(r, &e);
}

/* 1 if s[0..n) may be an unsubscribe token: 1 to 199 of base64url's alphabet. */
static int token_ok(const char *s, size_t n)
{
    if (n == 0 || n >= CU_UNSUB_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

/* Matches path against pattern, filling ids and name. 1 on a match. */
static int match(http_req *r, const char *pattern, const char *path)
{
    r->nids = 0;
    r->name[0] = '\0';
    while (*pattern && *path) {
        const char *pe = strchr(pattern + 1, '/'), *se = strchr(path + 1, '/');
        size_t plen = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t slen = se ? (size_t)(se - path) : strlen(path);
        if (strncmp(pattern, "/{token}", 8) == 0) {
            /* An unsubscribe token (base64url): its handler reads it from r->path. */
            if (!token_ok(path + 1, slen - 1))
                return -1;
        } else if (pattern[1] == '{') {
            char seg[CU_ID_STRLEN + 64];
            if (slen < 2 || slen - 1 >= sizeof(seg))
                return -1;
            memcpy(seg, path + 1, slen - 1);
            seg[slen - 1] = '\0';
            if (strncmp(pattern, "/{name}", 7) == 0) {
                if (!cu_collection_name_ok(seg))
                    return -1;
                cu_strlcpy(r->name, seg, sizeof(r->name));
            } else {
                /* An id that cannot exist is simply not found. */
                if (r->nids == HTTP_MAX_PARAMS || cu_id_parse(seg, &r->ids[r->nids]) != CU_OK)
                    return -1;
                r->nids++;
            }
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            return 0;
        }
        pattern += plen;
        path += slen;
    }
    return *pattern == '\0' && *path == '\0' ? 1 : 0;
}

/* The method a route must have: HEAD is served wherever GET is (RFC 9110 9.3.2), and
 * libmicrohttpd sends its headers without the body. */
static const char *route_method(const http_req *r)
{
    return strcmp(r->method, MHD_HTTP_METHOD_HEAD) == 0 ? GET : r->method;
}

/* Finds "name=value" in a Cookie header: *value points into cookies, *len is its length. 0 if
 * it is there, else -1. */
static int cookie_find(const char *cookies, const char *name, const char **value, size_t *len)
{
    size_t nlen = strlen(name);

    for (const char *p = cookies; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            const char *v = p + nlen + 1, *e = strchr(v, ';');
            *value = v;
            *len = e ? (size_t)(e - v) : strlen(v);
            return 0;
        }
        p = strchr(p, ';');
    }
    return -1;
}

/* Copies the value of the cookie called name into out; 0 if it is there and fits, else -1. */
static int cookie_value(const char *cookies, const char *name, char *out, size_t cap)
{
    const char *v;
    size_t len;

    if (cookie_find(cookies, name, &v, &len) != 0 || len >= cap)
        return -1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

/* The session cookie's value, looked up once per request and remembered: it points into the
 * Cookie header, which lives as long as the request (nothing secret is copied). NULL when
 * there is none, or when it is too long for a token (as http_cookie() would refuse it). */
static const char *session_cookie(http_req *r, size_t *len)
{
    const http_route *rt = r->route != NULL ? r->route : r->matched;
    const char *cookies;

    if (!r->session_looked) {
        r->session_looked = 1;
        cookies = http_header(r, MHD_HTTP_HEADER_COOKIE);
        /* The cookie by the route: a portal route reads a subject's session alone, every other
         * route a user's alone. A browser holding both (staff trying their own center, or a
         * stale console session) gets each where it belongs (review-portal2 6). */
        if (rt == NULL || rt->perm != CU_PERM_PORTAL) {
            if (cookies != NULL &&
                cookie_find(cookies, "custos_session", &r->session, &r->session_len) == 0 &&
                r->session_len >= CU_SESSION_TOKEN_MAX)
                r->session = NULL;
        } else if (cookies != NULL &&
                   cookie_find(cookies, "custos_portal", &r->session, &r->session_len) == 0) {
            /* A data subject's portal session (custos_portal.h), of its own shape. */
            r->portal = 1;
            /* Its 88 characters fit the token buffer authenticate() copies it to. */
            if (r->session_len >= CU_PORTAL_TOKEN_MAX || r->session_len == 0)
                r->session = NULL;
        }
    }
    *len = r->session_len;
    return r->session;
}

/* 1 if the request carries a credential at all (valid or not): an Authorization header or the
 * session cookie. Without one, no route takes a large body: it would be answered 401 anyway. */
static int has_credential(http_req *r)
{
    size_t len;

    return http_header(r, MHD_HTTP_HEADER_AUTHORIZATION) != NULL || session_cookie(r, &len) != NULL;
}

/* How many segments each route's pattern has: a path matches only patterns with as many (each
 * parameter is one segment), so the walk of the table skips the others without match(), which
 * parses each parameter it meets (the record's own GET sat a hundred routes down: 3% of an
 * audited read, issue 17). */
static unsigned char route_segments[sizeof(http_routes) / sizeof(http_routes[0])];
static pthread_once_t route_segments_once = PTHREAD_ONCE_INIT;

static unsigned segments(const char *path)
{
    unsigned n = 0;

    for (; *path; path++)
        n += *path == '/';
    return n;
}

static void route_segments_count(void)
{
    for (size_t i = 0; i < http_nroutes; i++) {
        unsigned n = segments(http_routes[i].pattern);
        route_segments[i] = (unsigned char)(n < UCHAR_MAX ? n : UCHAR_MAX);
    }
}

size_t http_body_limit(http_req *r)
{
    size_t small = r->cfg->max_body < HTTP_SMALL_BODY ? r->cfg->max_body : HTTP_SMALL_BODY;
    const char *method = route_method(r);
    unsigned n = segments(r->path);

    pthread_once(&route_segments_once, route_segments_count);
    if (n >= UCHAR_MAX) /* no route has as many: the walk below tells 404 from 405 */
        return small;
    for (size_t i = 0; i < http_nroutes; i++) {
        const http_route *rt = &http_routes[i];
        if (route_segments[i] == n && strcmp(rt->method, method) == 0 &&
            match(r, rt->pattern, r->path) == 1) {
            r->matched = rt; /* for route(), with its parameters filled in by this match */
            return (rt->flags & (R_BODY | R_NOAUTH)) == R_BODY && has_credential(r)
                       ? r->cfg->max_body
                       : small;
        }
    }
    return small;
}

/* Finds the route; answers 404 or 405 itself and returns NULL when there is none. */
static const http_route *route(http_req *r)
{
    const http_route *found = NULL;
    const char *method = route_method(r);
    int path_known = 0, bad_param = 0;
    size_t alen = 0;

    /* http_body_limit() found it, and its match filled in the parameters: the table is walked
     * once per request. Without a match there (or without a call: fuzz/fuzz_router.c), the
     * walk below tells 404 from 405. */
    if (r->matched != NULL)
        return r->matched;
    for (size_t i = 0; i < http_nroutes; i++) {
        int m = match(r, http_routes[i].pattern, r->path);
        if (m == 0)
            continue;
        if (m < 0) {
            bad_param = 1;
            continue;
        }
        path_known = 1;
        if (strcmp(http_routes[i].method, method) == 0) {
            found = &http_routes[i];
            break;
        }
    }
    if (found != NULL) /* the last match() was found's: its parameters are in r */
        return found;
    if (path_known && !bad_param) {
        for (size_t i = 0; i < http_nroutes; i++)
            if (match(r, http_routes[i].pattern, r->path) == 1 && alen + 16 < sizeof(r->allow))
                alen += (size_t)snprintf(r->allow + alen, sizeof(r->allow) - alen, "%s%s%s",
                                         alen ? ", " : "", http_routes[i].method,
                                         strcmp(http_routes[i].method, GET) == 0 ? ", HEAD" : "");
        http_error(r, 405, "method_not_allowed", "method %.16s is not allowed here (allowed: %s)",
                   r->method, r->allow);
        return NULL;
    }
    not_found(r);
    return NULL;
}

int http_cookie(const http_req *r, const char *name, char *out, size_t cap)
{
    const char *cookies = http_header(r, MHD_HTTP_HEADER_COOKIE);

    return cookies != NULL ? cookie_value(cookies, name, out, cap) : -1;
}

/* 1 if the comma-separated list holds origin (ASCII case aside). */
static int origin_listed(const char *list, const char *origin, size_t olen)
{
    while (list != NULL && *list) {
        size_t n;
        while (*list == ' ' || *list == ',')
            list++;
        n = strcspn(list, ", ");
        if (n > 0 && n == olen && strncasecmp(list, origin, n) == 0)
            return 1;
        list += n;
    }
    return 0;
}

/* Cross-site request forgery: a state change made with the session cookie must come from a
 * page of the server's own origin ("https://" and the Host header) or of a configured one.
 * The Origin header decides, or, absent, the origin part of the Referer; with neither, or
 * "null", the request is refused. API keys are not sent by browsers on their own: no check. */
static int origin_ok(const http_req *r)
{
    const char *o = http_header(r, "Origin"), *host = http_header(r, MHD_HTTP_HEADER_HOST);
    size_t olen;

    if (o == NULL) {
        const char *ref = http_header(r, MHD_HTTP_HEADER_REFERER), *p;
        if (ref == NULL || (p = strstr(ref, "://")) == NULL)
            return 0;
        o = ref;
        olen = (size_t)(p + 3 - ref) + strcspn(p + 3, "/?#");
    } else {
        olen = strlen(o);
    }
    if (host != NULL && olen == 8 + strlen(host) && strncasecmp(o, "https://", 8) == 0 &&
        strncasecmp(o + 8, host, olen - 8) == 0)
        return 1;
    return origin_listed(r->cfg ? r->cfg->allowed_origins : NULL, o, olen);
}

static int is_state_change(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

/* Authenticates by API key (Authorization: Bearer) or session cookie. */
static int authenticate(http_req *r)
{
    const char *auth = http_header(r, MHD_HTTP_HEADER_AUTHORIZATION), *session;
    /* Room for a user's session token or a subject's, the longer (custos_portal.h). */
    char token[CU_PORTAL_TOKEN_MAX > CU_SESSION_TOKEN_MAX ? CU_PORTAL_TOKEN_MAX
                                                          : CU_SESSION_TOKEN_MAX] = "";
    cu_err e = {0};
    cu_rc rc = CU_ERR_AUTH;
    int by_cookie = 0;
    size_t len;

    /* RFC 7235: the scheme is case-insensitive. An Authorization header of another scheme is
     * a credential refused, never a reason to try the cookie instead: a request says how it
     * authenticates, and an operator's session must not pass for its key (review-merged2 1). */
    if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        rc = cu_auth_apikey(r->v, auth + 7, &r->who, &e);
        r->by_key = rc == CU_OK;
    } else if (auth == NULL && (session = session_cookie(r, &len)) != NULL) {
        memcpy(token, session, len); /* len < sizeof(token): session_cookie() saw to it */
        token[len] = '\0';
        rc = r->portal ? cu_portal_auth(r->v, token, &r->who, &e)
                       : cu_auth_session(r->v, token, &r->who, &e);
        by_cookie = 1;
    }
    cu_str_wipe(token);
    /* The database away (several servers, issue 12): 503, not a refused credential. */
    if (rc != CU_OK && rc != CU_ERR_AUTH && rc != CU_ERR_NOT_FOUND) {
        e.code = rc;
        http_fail(r, &e);
        return -1;
    }
    if (rc != CU_OK) {
        http_error(r, 401, "unauthenticated",
                   "a valid API key (Authorization: Bearer) or session cookie is required");
        return -1;
    }
    if (by_cookie && is_state_change(r->method) && !origin_ok(r)) {
        http_error(r, 403, "origin_not_allowed",
                   "a change made with the session cookie must come from this server's origin");
        return -1;
    }
    r->authed = 1;
    /* P-ACC-4: platform staff show as such in the tenant's audit log. */
    snprintf(r->actor, sizeof(r->actor), "%s%s:%llu",
             r->who.role == CU_ROLE_OPERATOR ? "operator:" : "",
             r->who.kind == CU_PRINCIPAL_APIKEY    ? "key"
             : r->who.kind == CU_PRINCIPAL_SUBJECT ? "subject"
                                                   : "user",
             (unsigned long long)r->who.id);
    return 0;
}

static int purpose_ok(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n > 64)
        return 0;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* Tenant, role and purpose, in that order. */
static int authorize(http_req *r)
{
    const http_route *rt = r->route;
    int operator = r->who.role == CU_ROLE_OPERATOR;

    if (rt->flags & R_TENANT) {
        cu_tenant t;
        cu_err e = {0};
        r->tenant = r->ids[0];
        /* P-ISO-1: another tenant's path is a path that does not exist. */
        if (!operator && r->who.tenant_id != r->tenant) {
            not_found(r);
            return -1;
        }
        if (operator && cu_tenant_get(r->v, NULL, r->tenant, &t, &e) != CU_OK) {
            not_found(r);
            return -1;
        }
    }
    /* A subject's portal session reaches its own subject's routes alone: another subject's
     * path is a path that does not exist (P-ISO-1; custos_portal.h). A portal route is always
     * /v1/tenants/{tenant}/portal/subjects/{id}/...: one without both is refused outright. */
    if (r->who.kind == CU_PRINCIPAL_SUBJECT && rt->perm == CU_PERM_PORTAL &&
        (!(rt->flags & R_TENANT) || r->nids < 2 || r->ids[1] != r->who.id)) {
        not_found(r);
        return -1;
    }
    /* Belt and braces: a subject reaches portal routes alone, whatever a future route's
     * permission (a route with none would otherwise pass the role check below). */
    if (r->who.kind == CU_PRINCIPAL_SUBJECT && rt->perm != CU_PERM_PORTAL) {
        http_error(r, 403, "forbidden", "a subject's session reaches its privacy center alone");
        return -1;
    }
    if (rt->perm != 0 && !cu_principal_can(r->v, &r->who, r->tenant, rt->perm)) {
        http_error(r, 403, "forbidden", "the %s role may not do this", cu_role_name(r->who.role));
        return -1;
    }
    if (rt->flags & R_PURPOSE) {
        r->purpose = http_header(r, "Custos-Purpose");
        if (r->purpose == NULL || !purpose_ok(r->purpose)) {
            http_error(r, 400, "purpose_required",
                       "personal data needs a Custos-Purpose header naming the purpose");
            return -1;
        }
        if (operator) {
            /* P-ACC-4: which purposes platform staff may state is the core's to decide. */
            cu_ctx staff = {.purpose = r->purpose, .flags = CU_CTX_OPERATOR};
            cu_err e = {0};
            if (cu_staff_purpose_check(r->v, &staff, r->tenant, &e) != CU_OK) {
                http_fail(r, &e);
                return -1;
            }
        }
        /* P-DSR-1: the subject's own access exists only inside a data-subject request, whose
         * routes set it (api_request.c); stated by a header it would be self-declared. */
        if (strcmp(r->purpose, CU_PURPOSE_SUBJECT_ACCESS) == 0) {
            http_error(r, 403, "request_required",
                       "purpose subject_access is used through a data-subject request: "
                       "/v1/tenants/{tenant}/requests (docs/dsr.md)");
            return -1;
        }
    }
    return 0;
}

static int parse_body(http_req *r)
{
    const char *ct = http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t off = 0;
    cu_err e = {0};
    cu_rc rc;

    if (ct == NULL || (strncmp(ct, "application/json", 16) != 0) ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        http_error(r, 415, "unsupported_media_type", "the body must be application/json");
        return -1;
    }
    rc = cu_json_parse(r->body ? r->body : "", r->body_len, &r->json, &off, &e);
    if (rc == CU_ERR_LIMIT) {
        http_error(r, 400, "json_too_complex", "%s", e.msg);
        return -1;
    }
    if (rc != CU_OK) {
        http_error(r, 400, "malformed_json", "%s", e.msg);
        return -1;
    }
    if (!cJSON_IsObject(r->json)) {
        http_error(r, 400, "malformed_json", "the body must be a JSON object");
        return -1;
    }
    return 0;
}

static void dispatch(http_req *r)
{
    /* The portal's static files, outside the API's table: no credential, no data. */
    if (http_portal_path(r->path)) {
        http_portal(r);
        return;
    }
    if ((r->route = route(r)) == NULL)
        return;
    /* The portal's exchange and sign-out need no credential but set or clear the subject's
     * cookie: only the server's own page may ask, so that another site cannot swap a visitor's
     * session for one of its own choosing (review-portal2 11). */
    if ((r->route->flags & R_ORIGIN) && !origin_ok(r)) {
        http_error(r, 403, "origin_not_allowed",
                   "a portal session is opened and closed from this server's own page only");
        return;
    }
    if (!(r->route->flags & R_NOAUTH) && authenticate(r) != 0)
        return;
    if (r->authed && authorize(r) != 0)
        return;
    if ((r->route->flags & R_TENANT) && !r->authed)
        r->tenant = r->ids[0];
    if ((r->route->flags & R_BODY) && parse_body(r) != 0)
        return;
    /* A route that takes no body refuses one before it acts. */
    if (!(r->route->flags & (R_BODY | R_FORM)) && r->body_len > 0) {
        http_error(r, 400, "body_not_allowed", "this operation takes no body");
        return;
    }
    r->ctx.actor = r->actor[0] ? r->actor : "anonymous";
    r->ctx.purpose = r->purpose;
    r->ctx.request_id = r->request_id;
    r->ctx.source = r->source;
    if (r->who.role == CU_ROLE_OPERATOR)
        r->ctx.flags |= CU_CTX_OPERATOR;
    /* Global Privacy Control: an opt-out of sale and sharing, which the core applies. */
    {
        const char *gpc = http_header(r, "Sec-GPC");
        if (gpc != NULL && strcmp(gpc, "1") == 0)
            r->ctx.flags |= CU_CTX_GPC;
    }
    r->route->fn(r);
}

/* One read scope for the request's reads (issue 17): the credential's, the tenant's, the
 * handler's, up to its commit, which ends it (cu_vault_read_begin). */
void http_dispatch(http_req *r)
{
    cu_vault_read_begin(r->v);
    dispatch(r);
    cu_vault_read_end(r->v);
    if (r->pending != NULL && r->conn == NULL) /* no connection to suspend: wait */
        http_pending_wait(r);
}

static const char *type_name(http_ftype t)
{
    return t == F_STRING   ? "a string"
           : t == F_ID     ? "an id string"
           : t == F_OBJECT ? "an object"
           : t == F_ARRAY  ? "an array"
                           : "a boolean";
}

int http_check_body(http_req *r, const http_field *fields, size_t n)
{
    const cJSON *c;

    cJSON_ArrayForEach(c, r->json)
    {
        size_t i;
        for (i = 0; i < n && strcmp(fields[i].name, c->string) != 0; i++)
            ;
        if (i == n) {
            http_error(r, 400, "unknown_field", "unknown field \"%.64s\"", c->string);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->json, fields[i].name);
        cu_id id;
        int ok;
        if (m == NULL || cJSON_IsNull(m)) {
            if (fields[i].required) {
                http_error(r, 400, "missing_field", "field \"%s\" is required", fields[i].name);
                return -1;
            }
            continue;
        }
        switch (fields[i].type) {
        case F_STRING: ok = cJSON_IsString(m); break;
        case F_ID: ok = cJSON_IsString(m) && cu_id_parse(m->valuestring, &id) == CU_OK; break;
        case F_OBJECT: ok = cJSON_IsObject(m); break;
        case F_ARRAY: ok = cJSON_IsArray(m); break;
        default: ok = cJSON_IsBool(m); break;
        }
        if (!ok) {
            http_error(r, 400, "invalid_field", "field \"%s\" must be %s", fields[i].name,
                       type_name(fields[i].type));
            return -1;
        }
    }
    return 0;
}

const char *http_str(const http_req *r, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->json, name);

    return cJSON_IsString(m) ? m->valuestring : NULL;
}

cu_id http_id(const http_req *r, const char *name)
{
    const char *s = http_str(r, name);
    cu_id id = 0;

    if (s != NULL && cu_id_parse(s, &id) != CU_OK)
        id = 0;
    return id;
}

const char *http_query(const http_req *r, const char *name)
{
    if (r->conn == NULL)
        for (const char *const *a = r->args; a != NULL && a[0] != NULL; a += 2)
            if (strcmp(a[0], name) == 0)
                return a[1];
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

/* The state of a walk over the query parameters: the first one that is wrong. */
typedef struct query_walk {
    const char *const *names;
    size_t n;
    int lenient; /* 1: a parameter not in names is ignored */
    unsigned seen; /* bit i: names[i] came */
    const char *bad, *code, *why;
} query_walk;

static enum MHD_Result query_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    query_walk *w = cls;
    size_t i;

    (void)kind;
    for (i = 0; i < w->n && strcmp(w->names[i], key) != 0; i++)
        ;
    if (i == w->n && w->lenient) {
        return MHD_YES;
    } else if (i == w->n) {
        w->code = "unknown_field";
        w->why = "is not taken here";
    } else if (value == NULL) {
        w->code = "invalid_field";
        w->why = "needs a value";
    } else if (w->seen & (1u << i)) {
        w->code = "invalid_field";
        w->why = "is given twice";
    } else if (!cu_utf8_valid(value, strlen(value))) {
        /* A store compares text as UTF-8: PostgreSQL refuses other bytes, SQLite matches
         * nothing; either way the caller's mistake, answered alike (review-s10 14). */
        w->code = "invalid_field";
        w->why = "must be UTF-8";
    } else {
        w->seen |= 1u << i;
        return MHD_YES;
    }
    w->bad = key;
    return MHD_NO;
}

static int check_query(http_req *r, const char *const *names, size_t n, int lenient)
{
    query_walk w = {names, n, lenient, 0, NULL, NULL, NULL};

    assert(n < 32);
    if (r->conn != NULL)
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_one, &w);
    else
        for (const char *const *a = r->args; a != NULL && a[0] != NULL && w.bad == NULL; a += 2)
            (void)query_one(&w, MHD_GET_ARGUMENT_KIND, a[0], a[1]);
    if (w.bad == NULL)
        return 0;
    /* The caller's own key, echoed only whole and as UTF-8: the answer stays valid JSON text
     * (review-s10b 10). */
    if (strlen(w.bad) > 64 || !cu_utf8_valid(w.bad, strlen(w.bad)))
        w.bad = "(a name not shown)";
    http_error(r, 400, w.code, "query parameter \"%s\" %s", w.bad, w.why);
    return -1;
}

int http_check_query(http_req *r, const char *const *names, size_t n)
{
    return check_query(r, names, n, 0);
}

int http_check_query_known(http_req *r, const char *const *names, size_t n)
{
    return check_query(r, names, n, 1);
}

