/*
 * webhook.c: a tenant's webhook endpoints and its outbox as the API sees it (custos_webhook.h,
 * docs/webhooks.md).
 *
 * An endpoint's signing secret is made here, shown once, and kept sealed under the tenant data
 * key like any other secret (its AAD names the endpoint); the delivery worker opens it to sign
 * (webhook_deliver.c). Creating, changing, rotating and deleting an endpoint, a test event and
 * a resend are each audited; listing events is not (ids and names only, like the audit log).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custos_webhook.h"
#include "keys_int.h"
#include "outbox_int.h"
#include "tenant_int.h"
#include "util.h"
#include "webhook_int.h"

const char *cu_webhook_state_name(int state)
{
    static const char *const names[] = {"pending", "delivered", "failed"};

    return state >= 0 && state <= 2 ? names[state] : "?";
}

void cu_webhook_event_cleanup(cu_webhook_event *e)
{
    if (e == NULL)
        return;
    free(e->data);
    free(e->deliveries);
    free(e->attempts);
    memset(e, 0, sizeof(*e));
}

/* An https URL, or an http one to a loopback address where test builds allow it; no
 * credentials, no control characters or spaces. */
static int url_ok(const char *url)
{
    size_t n = url ? strlen(url) : 0;
    const char *host;

    if (n < 9 || n >= CU_WEBHOOK_URL_MAX)
        return 0;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 0;
    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
#ifdef CU_FAULT_INJECTION
    else if (strncmp(url, "http://127.0.0.1:", 17) == 0 || strncmp(url, "http://localhost:", 17) == 0)
        host = url + 7;
#endif
    else
        return 0;
    for (const char *p = host; *p && *p != '/'; p++)
        if (*p == '@') /* user:password@host: a credential in a URL the vault would log */
            return 0;
    return *host != '\0' && *host != '/';
}

/* The URL's form (url_ok), then its host's addresses: one that resolves to a private,
 * loopback or link-local address is refused (SSRF, webhook_addr.c); one that does not resolve
 * now is taken, and checked again before every try. */
static cu_rc url_check(const char *url, cu_err *err)
{
    char pin[600];
    cu_err e = {0};
    cu_rc rc;

    if (!url_ok(url))
        return cu_err_set(err, CU_ERR_INVALID, "url: an https:// URL without credentials");
    rc = cu_webhook_url_resolve(url, pin, sizeof(pin), &e);
    if (rc == CU_ERR_INVALID)
        return cu_err_set(err, rc, "%s", e.msg);
    return CU_OK;
}

/* "*" or a comma-separated list of known event types, no empty member. */
static int types_ok(const char *types)
{
    char buf[CU_WEBHOOK_TYPES_MAX];
    char *save = NULL;
    size_t n = types ? strlen(types) : 0;

    if (n == 0 || n >= sizeof(buf))
        return 0;
    if (strcmp(types, "*") == 0)
        return 1;
    if (types[0] == ',' || types[n - 1] == ',' || strstr(types, ",,") != NULL)
        return 0;
    memcpy(buf, types, n + 1);
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        if (!cu_outbox_type_known(t))
            return 0;
    return 1;
}

static void secret_aad(cu_aad *a, cu_id tenant, cu_id endpoint, uint32_t version)
{
    cu_aad_data(a, tenant, CU_WEBHOOK_COLL, endpoint, "secret", version);
}

/* A fresh secret into out, and sealed into e (e->secret owned by the caller). */
static cu_rc new_secret(cu_vault *v, cu_store_webhook_endpoint *e,
                        char out[CU_WEBHOOK_SECRET_MAX], cu_err *err)
{
    uint8_t raw[24];
    cu_key dk = {0};
    cu_aad aad;
    cu_rc rc;

    cu_random(raw, sizeof(raw));
    memcpy(out, "whsec_", 6);
    rc = cu_b64_encode(raw, sizeof(raw), out + 6, CU_WEBHOOK_SECRET_MAX - 6);
    cu_wipe(raw, sizeof(raw));
    if (rc != CU_OK)
        return cu_err_set(err, rc, "could not encode a secret");
    if ((rc = cu_keys_child(v, e->tenant_id, CU_KEY_DATA, 0, &dk, err)) != CU_OK)
        return rc;
    e->key_version = dk.version;
    secret_aad(&aad, e->tenant_id, e->id, dk.version);
    rc = cu_seal(&dk, &aad, out, strlen(out), &e->secret, err);
    cu_key_wipe(&dk);
    return rc;
}

cu_rc cu_webhook_secret_open(cu_vault *v, const cu_store_webhook_endpoint *e, char **out,
                             cu_err *err)
{
    cu_key dk = {0};
    cu_aad aad;
    size_t len = 0;
    cu_rc rc = cu_keys_child_at(v, e->tenant_id, CU_KEY_DATA, 0, e->key_version, &dk, err);

    if (rc != CU_OK)
        return rc;
    secret_aad(&aad, e->tenant_id, e->id, e->key_version);
    rc = cu_open(&dk, &aad, &e->secret, out, &len, "webhook secret", err);
    cu_key_wipe(&dk);
    return rc;
}

/* P-ENC-5: the endpoint's secret, sealed under an older data key version, sealed again under
 * nk (op type 0 if it is under nk already), so that the older version can be destroyed. */
cu_rc cu_webhook_reseal_op(cu_vault *v, const cu_store_webhook_endpoint *e, const cu_key *nk,
                           cu_store_op *op, cu_err *err)
{
    cu_store_reseal *r = &op->u.reseal;
    cu_rc rc;

    memset(op, 0, sizeof(*op));
    if (e->key_version == nk->version)
        return CU_OK;
    op->type = CU_OP_RESEAL;
    r->what = CU_RESEAL_WEBHOOK_SECRET;
    r->tenant_id = e->tenant_id;
    r->id = e->id;
    r->key_version = nk->version;
    if ((r->old[0].data = malloc(e->secret.len ? e->secret.len : 1)) == NULL) {
        memset(op, 0, sizeof(*op));
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    memcpy(r->old[0].data, e->secret.data, e->secret.len);
    r->old[0].len = e->secret.len;
    rc = cu_reseal_value(v, e->tenant_id, CU_WEBHOOK_COLL, e->id, "secret", NULL, e->key_version,
                         nk, &e->secret, &r->ct[0], err);
    if (rc != CU_OK)
        cu_reseal_op_free(op);
    return rc;
}

/* Commits one op with its audit entry (action on webhook:<id>). */
static cu_rc commit_one(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_store_op *op,
                        const char *action, cu_id id, cu_err *err)
{
    cu_audit_in a;

    cu_audit_in_set(&a, tenant, action, "webhook:%llu", (unsigned long long)id);
    return cu_commit(v, ctx, op, 1, &a, 1, err);
}

cu_rc cu_webhook_endpoint_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *url,
                                 const char *types, cu_id *id,
                                 char secret[CU_WEBHOOK_SECRET_MAX], cu_err *err)
{
    cu_store_op op = {0};
    cu_store_webhook_endpoint *e = &op.u.webhook_endpoint;
    cu_rc rc;

    if ((rc = url_check(url, err)) != CU_OK)
        return rc;
    if (types == NULL)
        types = "*";
    if (!types_ok(types))
        return cu_err_set(err, CU_ERR_INVALID, "types: \"*\" or known event types, comma-separated");
    if ((rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_WRITE, NULL, err)) != CU_OK)
        return rc;
    op.type = CU_OP_WEBHOOK_ENDPOINT_PUT;
    e->tenant_id = tenant;
    e->id = cu_random_id();
    snprintf(e->url, sizeof(e->url), "%s", url);
    snprintf(e->types, sizeof(e->types), "%s", types);
    e->enabled = 1;
    e->created_at = cu_clock_now();
    if ((rc = new_secret(v, e, secret, err)) == CU_OK)
        rc = commit_one(v, ctx, tenant, &op, "webhook.endpoint.create", e->id, err);
    if (rc == CU_OK)
        *id = e->id;
    else
        cu_str_wipe(secret);
    cu_store_op_cleanup(&op);
    return rc;
}

/* The endpoint's row into *out (its secret owned by the caller). */
static cu_rc endpoint_load(cu_vault *v, cu_id tenant, cu_id id, cu_store_webhook_endpoint *out,
                           cu_err *err)
{
    cu_store_webhook_endpoint *rows = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_webhook_endpoints(v->store, tenant, id, &rows, &n, err);

    if (rc == CU_OK && (n == 0 || id == 0))
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such webhook endpoint");
    if (rc == CU_OK) {
        *out = rows[0];
        rows[0].secret.data = NULL;
    }
    cu_store_webhook_endpoints_free(rows, n);
    return rc;
}

cu_rc cu_webhook_endpoint_update(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                                 const char *url, const char *types, int enabled, cu_err *err)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_ENDPOINT_PUT};
    cu_store_webhook_endpoint *e = &op.u.webhook_endpoint;
    cu_rc rc;

    if (url != NULL && (rc = url_check(url, err)) != CU_OK)
        return rc;
    if (types != NULL && !types_ok(types))
        return cu_err_set(err, CU_ERR_INVALID, "types: \"*\" or known event types, comma-separated");
    if ((rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_WRITE, NULL, err)) != CU_OK ||
        (rc = endpoint_load(v, tenant, id, e, err)) != CU_OK)
        return rc;
    if (url != NULL)
        snprintf(e->url, sizeof(e->url), "%s", url);
    if (types != NULL)
        snprintf(e->types, sizeof(e->types), "%s", types);
    if (enabled >= 0)
        e->enabled = enabled != 0;
    e->part = CU_WEBHOOK_PUT_SETTINGS; /* not the secret read above: a rotation may be newer */
    rc = commit_one(v, ctx, tenant, &op, "webhook.endpoint.update", id, err);
    cu_store_op_cleanup(&op);
    return rc;
}

cu_rc cu_webhook_endpoint_rotate(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                                 char secret[CU_WEBHOOK_SECRET_MAX], cu_err *err)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_ENDPOINT_PUT};
    cu_store_webhook_endpoint *e = &op.u.webhook_endpoint;
    cu_rc rc;

    if ((rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_WRITE, NULL, err)) != CU_OK ||
        (rc = endpoint_load(v, tenant, id, e, err)) != CU_OK)
        return rc;
    free(e->secret.data);
    e->secret.data = NULL;
    e->part = CU_WEBHOOK_PUT_SECRET; /* an endpoint deleted meanwhile stays deleted */
    if ((rc = new_secret(v, e, secret, err)) == CU_OK)
        rc = commit_one(v, ctx, tenant, &op, "webhook.endpoint.rotate", id, err);
    if (rc != CU_OK)
        cu_str_wipe(secret);
    cu_store_op_cleanup(&op);
    return rc;
}

cu_rc cu_webhook_endpoint_delete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                                 cu_err *err)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_ENDPOINT_DELETE};
    cu_rc rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_LIVE, NULL, err);

    if (rc != CU_OK)
        return rc;
    op.u.del.tenant_id = tenant;
    op.u.del.id = id;
    return commit_one(v, ctx, tenant, &op, "webhook.endpoint.delete", id, err);
}

cu_rc cu_webhook_endpoint_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                               cu_webhook_endpoint **out, size_t *n, cu_err *err)
{
    cu_store_webhook_endpoint *rows = NULL;
    size_t cnt = 0;
    cu_rc rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_LIVE, NULL, err);

    *out = NULL;
    *n = 0;
    if (rc == CU_OK)
        rc = cu_store_webhook_endpoints(v->store, tenant, id, &rows, &cnt, err);
    if (rc == CU_OK && id != 0 && cnt == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such webhook endpoint");
    if (rc == CU_OK && (*out = calloc(cnt ? cnt : 1, sizeof(**out))) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == CU_OK && i < cnt; i++) {
        (*out)[i].id = rows[i].id;
        memcpy((*out)[i].url, rows[i].url, sizeof((*out)[i].url));
        memcpy((*out)[i].types, rows[i].types, sizeof((*out)[i].types));
        (*out)[i].enabled = rows[i].enabled;
        (*out)[i].created_at = rows[i].created_at;
    }
    if (rc == CU_OK)
        *n = cnt;
    cu_store_webhook_endpoints_free(rows, cnt);
    return rc;
}
