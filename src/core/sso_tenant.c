/*
 * sso_tenant.c: a tenant's single sign-on (custos_sso.h, docs/sso.md, P-ACC-5): its identity
 * provider's configuration, and the login from the redirect to the session.
 *
 * The client secret is sealed under the tenant data key with AAD (tenant, "$sso", 0, "secret",
 * key version), like webhook secrets, and opened only for the token request. A login's state
 * is stored only as its SHA-256, with the nonce and PKCE verifier sealed under a key only the state
 * and the browser's binding give (login_seal_key), for CU_SSO_LOGIN_TTL seconds;
 * the callback takes it in its own transaction before anything else (CU_OP_SSO_LOGIN_TAKE), so
 * a state is good once, whichever of two racing callbacks comes first. The audit names the
 * tenant, the user id and a reason code, never the email or a claim.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth_int.h"
#include "custos_sso.h"
#include "keys_int.h"
#include "schema_int.h"
#include "sso_int.h"
#include "tenant_int.h"
#include "util.h"

#define SSO_COLL "$sso"
#define EMAIL_MAX 256

static void secret_aad(cu_aad *a, cu_id tenant, uint32_t version)
{
    cu_aad_data(a, tenant, SSO_COLL, 0, "secret", version);
}

/* The issuer and the redirect URI must be https: the provider's keys and the codes travel
 * over them (loopback http in test builds, for the test's own provider). */
static int https_ok(const char *u)
{
    if (strncmp(u, "https://", 8) == 0 && u[8] != '\0')
        return 1;
#ifdef CU_FAULT_INJECTION
    return strncmp(u, "http://127.0.0.1:", 17) == 0;
#else
    return 0;
#endif
}

/* Domains: lowercase names with a dot, comma-separated, no empty one. */
static int domains_ok(const char *d)
{
    size_t n = 0;
    int dot = 0;

    if (d[0] == '\0')
        return 0;
    for (;; d++) {
        if (*d == ',' || *d == '\0') {
            if (n == 0 || !dot)
                return 0;
            if (*d == '\0')
                return 1;
            n = 0;
            dot = 0;
            continue;
        }
        if (!((*d >= 'a' && *d <= 'z') || (*d >= '0' && *d <= '9') || *d == '-' || *d == '.'))
            return 0;
        dot |= *d == '.';
        n++;
    }
}

/* 1 if u is scheme://host[:port]/v1/tenants/{tenant}/sso/callback: this server's callback for
 * this tenant and no other (review finding 2: with one callback for all tenants, a state
 * chose the tenant, and so the token endpoint a code went to). */
static int callback_ok(const char *u, cu_id tenant)
{
    char id[CU_ID_STRLEN], path[96];
    const char *host = strstr(u, "://"), *slash;
    size_t n;

    if (host == NULL || (slash = strchr(host + 3, '/')) == NULL || slash == host + 3)
        return 0;
    cu_id_format(tenant, id);
    snprintf(path, sizeof(path), "/v1/tenants/%s/sso/callback", id);
    n = strcspn(host + 3, "/?#@ ");
    return host + 3 + n == slash && strcmp(slash, path) == 0;
}

static cu_rc config_check(const cu_sso_config *c, cu_id tenant, const char *secret, cu_err *err)
{
    if (!https_ok(c->issuer))
        return cu_err_set(err, CU_ERR_INVALID, "issuer must be an https URL");
    if (!https_ok(c->redirect_uri) || !callback_ok(c->redirect_uri, tenant))
        return cu_err_set(err, CU_ERR_INVALID,
                          "redirect_uri must be an https URL ending in this tenant's "
                          "/v1/tenants/{tenant}/sso/callback");
    if (c->client_id[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "client_id must not be empty");
    if (secret == NULL || secret[0] == '\0' || strlen(secret) >= CU_SSO_SECRET_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "client_secret must be 1 to %d bytes",
                          CU_SSO_SECRET_MAX - 1);
    if (!domains_ok(c->domains))
        return cu_err_set(err, CU_ERR_INVALID,
                          "domains must be lowercase domain names, at least one");
    /* P-ACC-1: the users it creates hold a tenant role, never the operator's. */
    if (!cu_role_tenant_ok(c->role))
        return cu_err_set(err, CU_ERR_INVALID,
                          "role must be one of owner, admin, agent, analyst, auditor");
    return CU_OK;
}

/* What a new configuration c changes besides itself, appended to ops and a (*n of each so
 * far), in its transaction:
 * - review finding 3: a link is to the issuer's sub; another issuer starts from no link (its
 *   users are created, or linked again by an explicit act), never from the old one's;
 * - review finding 7: require_sso turned on ends every session of the tenant, so the password
 *   sessions opened before it do not outlive it (single sign-on's own sign in again). */
static cu_rc config_follow_ups(cu_vault *v, cu_id tenant, const cu_sso_config *c, cu_store_op *ops,
                               cu_audit_in *a, size_t *n, cu_err *err)
{
    cu_store_sso_config old;
    cu_rc rc = cu_store_sso_config_get(v->store, tenant, &old, err);

    free(old.secret.data);
    if (rc == CU_ERR_NOT_FOUND) { /* the first configuration: no link, nothing required */
        err->code = CU_OK;
        err->msg[0] = '\0';
        memset(&old, 0, sizeof(old));
        cu_strlcpy(old.issuer, c->issuer, sizeof(old.issuer));
        rc = CU_OK;
    }
    if (rc != CU_OK)
        return rc;
    if (strcmp(old.issuer, c->issuer) != 0) {
        ops[*n].type = CU_OP_SSO_LINK_DROP;
        ops[*n].u.sso_link.tenant_id = tenant; /* user_id 0: every link */
        cu_audit_in_set(&a[(*n)++], tenant, "sso.unlink", "users:all issuer_changed");
    }
    if (c->require_sso && !old.require_sso) {
        ops[*n].type = CU_OP_SSO_SESSIONS_END;
        ops[*n].u.sso_link.tenant_id = tenant;
        cu_audit_in_set(&a[(*n)++], tenant, "sso.sessions_end", "sessions:all require_sso");
    }
    return CU_OK;
}

cu_rc cu_sso_config_put(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_sso_config *c,
                        const char *client_secret, cu_err *err)
{
    cu_store_op ops[3];
    cu_store_sso_config *s = &ops[0].u.sso_config;
    cu_key dk = {0};
    cu_audit_in a[3];
    cu_aad aad;
    size_t nops = 1;
    cu_rc rc;

    memset(ops, 0, sizeof(ops));
    if ((rc = config_check(c, tenant, client_secret, err)) != CU_OK ||
        (rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK ||
        (rc = cu_keys_child(v, tenant, CU_KEY_DATA, 0, &dk, err)) != CU_OK)
        goto out;
    ops[0].type = CU_OP_SSO_CONFIG_PUT;
    s->tenant_id = tenant;
    cu_strlcpy(s->issuer, c->issuer, sizeof(s->issuer));
    cu_strlcpy(s->client_id, c->client_id, sizeof(s->client_id));
    cu_strlcpy(s->redirect_uri, c->redirect_uri, sizeof(s->redirect_uri));
    cu_strlcpy(s->domains, c->domains, sizeof(s->domains));
    s->role = (int)c->role;
    s->require_sso = c->require_sso != 0;
    s->updated_at = cu_clock_now();
    s->key_version = dk.version;
    secret_aad(&aad, tenant, dk.version);
    if ((rc = cu_seal(&dk, &aad, client_secret, strlen(client_secret), &s->secret, err)) != CU_OK)
        goto out;
    cu_audit_in_set(&a[0], tenant, "sso.configure", "sso:%llu", (unsigned long long)tenant);
    if ((rc = config_follow_ups(v, tenant, c, ops, a, &nops, err)) == CU_OK)
        rc = cu_commit(v, ctx, ops, nops, a, nops, err);
out:
    cu_key_wipe(&dk);
    free(s->secret.data);
    return rc;
}

static void config_from_store(const cu_store_sso_config *s, cu_sso_config *out)
{
    memset(out, 0, sizeof(*out));
    cu_strlcpy(out->issuer, s->issuer, sizeof(out->issuer));
    cu_strlcpy(out->client_id, s->client_id, sizeof(out->client_id));
    cu_strlcpy(out->redirect_uri, s->redirect_uri, sizeof(out->redirect_uri));
    cu_strlcpy(out->domains, s->domains, sizeof(out->domains));
    out->role = (cu_role)s->role;
    out->require_sso = s->require_sso;
    out->updated_at = s->updated_at;
}

cu_rc cu_sso_config_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_sso_config *out,
                        cu_err *err)
{
    cu_store_sso_config s;
    cu_audit_in a;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK ||
        (rc = cu_store_sso_config_get(v->store, tenant, &s, err)) != CU_OK)
        return rc;
    config_from_store(&s, out);
    free(s.secret.data);
    cu_audit_in_set(&a, tenant, "sso.read", "sso:%llu", (unsigned long long)tenant);
    return cu_commit(v, ctx, NULL, 0, &a, 1, err);
}

cu_rc cu_sso_required(cu_vault *v, cu_id tenant, int *required, cu_err *err)
{
    cu_store_sso_config s;
    cu_rc rc = cu_store_sso_config_get(v->store, tenant, &s, err);

    *required = rc == CU_OK && s.require_sso;
    free(s.secret.data);
    if (rc == CU_ERR_NOT_FOUND) {
        err->code = CU_OK;
        err->msg[0] = '\0';
        return CU_OK;
    }
    return rc;
}

cu_rc cu_sso_reseal_op(cu_vault *v, cu_id tenant, const cu_key *nk, cu_store_op *op, cu_err *err)
{
    cu_store_reseal *r = &op->u.reseal;
    cu_store_sso_config s;
    cu_rc rc;

    memset(op, 0, sizeof(*op));
    rc = cu_store_sso_config_get(v->store, tenant, &s, err);
    if (rc == CU_ERR_NOT_FOUND) {
        err->code = CU_OK;
        err->msg[0] = '\0';
        return CU_OK;
    }
    if (rc != CU_OK || s.key_version == nk->version) {
        free(s.secret.data);
        return rc;
    }
    op->type = CU_OP_RESEAL;
    r->what = CU_RESEAL_SSO_SECRET;
    r->tenant_id = tenant;
    r->id = 0;
    r->key_version = nk->version;
    r->old[0] = s.secret; /* the op owns it now: the write checks the secret is still it */
    rc = cu_reseal_value(v, tenant, SSO_COLL, 0, "secret", NULL, s.key_version, nk, &r->old[0],
                         &r->ct[0], err);
    if (rc != CU_OK)
        cu_reseal_op_free(op);
    return rc;
}

/* Opens the sealed client secret of s into out (CU_SSO_SECRET_MAX; the caller wipes it). */
static cu_rc open_secret(cu_vault *v, const cu_store_sso_config *s, char *out, cu_err *err)
{
    cu_key dk = {0};
    cu_aad aad;
    char *pt = NULL;
    size_t len = 0;
    cu_rc rc = cu_keys_child_at(v, s->tenant_id, CU_KEY_DATA, 0, s->key_version, &dk, err);

    if (rc == CU_OK) {
        secret_aad(&aad, s->tenant_id, s->key_version);
        rc = cu_open(&dk, &aad, &s->secret, &pt, &len, "SSO client secret", err);
    }
    if (rc == CU_OK && cu_strlcpy(out, pt, CU_SSO_SECRET_MAX) != 0)
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the SSO client secret is too long");
    if (pt != NULL) {
        cu_wipe(pt, len);
        free(pt);
    }
    cu_key_wipe(&dk);
    return rc;
}

/* P-ACC-6: no credential is needed to start a login or to call back, and each costs a durable
 * write and maybe a fetch: both count against the source's rate. Single sign-on has a budget
 * of its own (the same --login-per-source), apart from password attempts (review finding 9):
 * an office behind one address signing in through its provider does not spend its password
 * logins, nor a password flood its single sign-on. */
static void source_key(cu_vault *v, const cu_ctx *ctx, cu_th_key *k)
{
    const char *src = ctx != NULL && ctx->source != NULL ? ctx->source : "unknown";
    char key[80];
    int n = snprintf(key, sizeof(key), "sso\n%.64s", src);

    cu_throttle_key(v, CU_TH_SOURCE, key, (size_t)n, k);
}

static cu_rc source_check(cu_vault *v, const cu_ctx *ctx, unsigned *retry_after, cu_err *err)
{
    cu_th_key k;
    cu_rc rc;

    source_key(v, ctx, &k);
    rc = cu_throttle_check(v, &k, 1, cu_clock_now(), retry_after, err);
    cu_wipe(&k, sizeof(k));
    return rc;
}

/* The key a login is stored under: SHA-256(state "." binding). Neither alone finds it. */
static void login_key(const char *state, const char *binding, uint8_t out[32])
{
    char buf[2 * CU_SSO_RANDOM_MAX + 1];
    int n = snprintf(buf, sizeof(buf), "%s.%s", state, binding);

    cu_sha256((const uint8_t *)buf, (size_t)n, out);
    cu_wipe(buf, sizeof(buf));
}

/* The key a login's nonce and verifier are sealed under (review finding 15): HMAC-SHA256 keyed
 * by state "." binding, which only the callback of the browser that started it brings back. The
 * store keeps neither, so its row (with the vault's keys or without) gives neither value, and
 * the callback recomputes the key to open them. Independent of login_key (which is a SHA-256
 * of the same, unkeyed) by the HMAC's construction and its label. */
static void login_seal_key(const char *state, const char *binding, cu_key *k)
{
    static const char label[] = "custos sso login seal v1";
    char buf[2 * CU_SSO_RANDOM_MAX + 1];
    int n = snprintf(buf, sizeof(buf), "%s.%s", state, binding);

    cu_hmac_sha256((const uint8_t *)buf, (size_t)n, (const uint8_t *)label, sizeof(label) - 1,
                   k->k);
    k->version = 0;
    cu_wipe(buf, sizeof(buf));
}

/* Seals p's nonce and verifier ("nonce\nverifier") for tenant's login into out. */
static cu_rc login_seal(const cu_sso_pending *p, const char *binding, cu_id tenant, cu_blob *out,
                        cu_err *err)
{
    char pt[2 * CU_SSO_RANDOM_MAX + 1];
    int n = snprintf(pt, sizeof(pt), "%s\n%s", p->nonce, p->verifier);
    cu_key k;
    cu_aad aad;
    cu_rc rc;

    login_seal_key(p->state, binding, &k);
    cu_aad_data(&aad, tenant, SSO_COLL, 0, "login", 0);
    rc = cu_seal(&k, &aad, pt, (size_t)n, out, err);
    cu_key_wipe(&k);
    cu_wipe(pt, sizeof(pt));
    return rc;
}

/* Opens a login's sealed nonce and verifier into p (its state too); CU_ERR_NOT_FOUND if they do
 * not open (not this state's and binding's: as no login). */
static cu_rc login_open(const cu_store_sso_login *l, const char *state, const char *binding,
                        cu_sso_pending *p, cu_err *err)
{
    char *pt = NULL, *nl;
    size_t len = 0;
    cu_key k;
    cu_aad aad;
    cu_rc rc;

    login_seal_key(state, binding, &k);
    cu_aad_data(&aad, l->tenant_id, SSO_COLL, 0, "login", 0);
    rc = cu_open(&k, &aad, &l->sealed, &pt, &len, "SSO login", err);
    cu_key_wipe(&k);
    if (rc == CU_OK && ((nl = strchr(pt, '\n')) == NULL ||
                        cu_strlcpy(p->verifier, nl + 1, sizeof(p->verifier)) != 0 ||
                        (size_t)(nl - pt) >= sizeof(p->nonce)))
        rc = CU_ERR_CRYPTO;
    if (rc == CU_OK) {
        memcpy(p->nonce, pt, (size_t)(nl - pt));
        p->nonce[nl - pt] = '\0';
        cu_strlcpy(p->state, state, sizeof(p->state));
    }
    if (pt != NULL) {
        cu_wipe(pt, len);
        free(pt);
    }
    if (rc != CU_OK) {
        cu_wipe(p, sizeof(*p));
        err->code = CU_OK;
        err->msg[0] = '\0';
        return CU_ERR_NOT_FOUND;
    }
    return CU_OK;
}

/* Review finding 10: the most logins in flight a tenant may have (strangers start them, and
 * each is a row for 10 minutes); past it a start answers 429 until some expire or complete. */
static int g_logins_max = CU_SSO_LOGINS_MAX;

void cu_sso_logins_max_set(int n)
{
    __atomic_store_n(&g_logins_max, n > 0 ? n : CU_SSO_LOGINS_MAX, __ATOMIC_RELAXED);
}

/* A fresh random binding: 32 bytes as base64url, as the state. */
static cu_rc new_binding(char out[CU_SSO_RANDOM_MAX])
{
    uint8_t raw[32];
    cu_rc rc;

    cu_random(raw, sizeof(raw));
    rc = cu_b64_encode(raw, sizeof(raw), out, CU_SSO_RANDOM_MAX);
    cu_wipe(raw, sizeof(raw));
    for (char *p = out; rc == CU_OK && *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
        else if (*p == '=')
            *p = '\0';
    }
    return rc;
}

cu_rc cu_sso_login_start(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_sso_fetch_fn fetch,
                         void *arg, char *url, size_t cap, char binding[CU_SSO_RANDOM_MAX],
                         unsigned *retry_after, cu_err *err)
{
    cu_store_sso_config s;
    cu_sso_pending p;
    cu_store_op op;
    cu_store_sso_login *l = &op.u.sso_login;
    cu_sso_idp idp;
    cu_rc rc;

    url[0] = '\0';
    binding[0] = '\0';
    memset(&op, 0, sizeof(op));
    if ((rc = source_check(v, ctx, retry_after, err)) != CU_OK ||
        (rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK ||
        (rc = cu_store_sso_config_get(v->store, tenant, &s, err)) != CU_OK)
        return rc;
    free(s.secret.data);
    idp =
        (cu_sso_idp){.issuer = s.issuer, .client_id = s.client_id, .redirect_uri = s.redirect_uri};
    if ((rc = cu_sso_begin(&idp, fetch, arg, &p, url, cap, err)) != CU_OK)
        goto out;
    if (new_binding(binding) != CU_OK) {
        rc = cu_err_set(err, CU_ERR_LIMIT, "could not make the login's binding");
        goto out;
    }
    op.type = CU_OP_SSO_LOGIN_PUT;
    login_key(p.state, binding, l->state_hash);
    l->tenant_id = tenant;
    if ((rc = login_seal(&p, binding, tenant, &l->sealed, err)) != CU_OK)
        goto out;
    l->created_at = cu_clock_now();
    l->expires_at = l->created_at + CU_SSO_LOGIN_TTL;
    l->max_open = __atomic_load_n(&g_logins_max, __ATOMIC_RELAXED);
    /* Not audited (review finding 10): anyone may start a login, and the tenant's append-only
     * log would grow at the rate of strangers; the callback that takes it is audited. */
    rc = cu_commit(v, ctx, &op, 1, NULL, 0, err);
    if (rc == CU_ERR_RATE_LIMITED && retry_after != NULL)
        *retry_after = 60; /* the tenant's logins in flight: the oldest expire within 10 min */
out:
    if (rc != CU_OK) {
        url[0] = '\0';
        cu_wipe(binding, CU_SSO_RANDOM_MAX);
    }
    cu_wipe(&p, sizeof(p));
    free(l->sealed.data);
    cu_wipe(&op, sizeof(op));
    return rc;
}

/* Audits a refused login of tenant (0 if the state named none) with its reason; returns the
 * CU_ERR_AUTH the caller answers, whatever the audit's own outcome. */
static cu_rc refused(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *why, cu_err *err)
{
    cu_audit_in a;
    cu_err ae = {0};

    cu_th_key k;

    cu_audit_in_set(&a, tenant, "sso.refused", "reason:%s", why);
    (void)cu_commit(v, ctx, NULL, 0, &a, 1, &ae);
    /* Review finding 9: a refused callback is a failure of its source, which backs off as a
     * source of wrong passwords does (P-ACC-6: after four times the free failures, 15 s,
     * doubling), in single sign-on's own budget: guessing states or replaying codes slows. */
    source_key(v, ctx, &k);
    cu_throttle_failed(v, &k, cu_clock_now());
    cu_wipe(&k, sizeof(k));
    return cu_err_set(err, CU_ERR_AUTH, "the single sign-on login was refused: %s", why);
}

/* Takes the login of state (single use, unexpired), its nonce and verifier opened into *p; a
 * login of another tenant is not this callback's and is left as it was (NOT_FOUND), before
 * anything is sent anywhere. */
static cu_rc take_login(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *state,
                        const char *binding, cu_sso_pending *p, cu_err *err)
{
    cu_store_sso_login row, *l = &row;
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    memset(&op, 0, sizeof(op));
    if (state == NULL || state[0] == '\0' || strlen(state) >= CU_SSO_RANDOM_MAX ||
        binding == NULL || binding[0] == '\0' || strlen(binding) >= CU_SSO_RANDOM_MAX)
        return CU_ERR_NOT_FOUND;
    login_key(state, binding, op.u.sso_login.state_hash);
    /* Looked up, and taken, by (tenant, state hash): another tenant's login is not found. */
    if ((rc = cu_store_sso_login_get(v->store, tenant, op.u.sso_login.state_hash, l, err)) != CU_OK)
        return rc;
    rc = l->tenant_id != tenant ? CU_ERR_NOT_FOUND : login_open(l, state, binding, p, err);
    free(l->sealed.data);
    if (rc != CU_OK)
        return rc;
    op.type = CU_OP_SSO_LOGIN_TAKE;
    op.u.sso_login.tenant_id = tenant;
    op.u.sso_login.expires_at = cu_clock_now(); /* as now: an expired login is not taken */
    cu_audit_in_set(&a, l->tenant_id, "sso.callback", "sso:%llu", (unsigned long long)l->tenant_id);
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}

/* 1 if email's domain is one of domains (comma-separated, lowercase). */
static int domain_allowed(const char *email, const char *domains)
{
    const char *at = strrchr(email, '@'), *d = domains;
    size_t n;

    if (at == NULL || at[1] == '\0')
        return 0;
    n = strlen(at + 1);
    while (*d) {
        size_t len = strcspn(d, ",");
        if (len == n && strncasecmp(d, at + 1, n) == 0)
            return 1;
        d += len + (d[len] == ',');
    }
    return 0;
}

/* After the state was taken: the provider's word, the domain, the user and the session. */
static cu_rc finish_login(cu_vault *v, const cu_ctx *ctx, const cu_sso_pending *p,
                          const cu_store_sso_config *s, const char *code, const char *iss,
                          cu_sso_fetch_fn fetch, void *arg, char token[CU_SESSION_TOKEN_MAX],
                          cu_store_user *u, cu_err *err)
{
    char secret[CU_SSO_SECRET_MAX];
    cu_sso_identity who;
    const char *why = "provider";
    cu_sso_idp idp = {.issuer = s->issuer,
                      .client_id = s->client_id,
                      .client_secret = secret,
                      .redirect_uri = s->redirect_uri,
                      .response_iss = iss};
    cu_audit_in a;
    cu_rc rc;

    if ((rc = open_secret(v, s, secret, err)) != CU_OK)
        goto out;
    rc = cu_sso_finish(&idp, fetch, arg, code, p, &who, &why, err);
    if (rc == CU_ERR_AUTH) {
        rc = refused(v, ctx, s->tenant_id, why, err);
        goto out;
    }
    /* P-ACC-5: only an email the provider verified, of a domain the tenant named. */
    if (rc == CU_OK && (!who.email_verified || who.email[0] == '\0')) {
        rc = refused(v, ctx, s->tenant_id, "email_unverified", err);
        goto out;
    }
    if (rc == CU_OK && !domain_allowed(who.email, s->domains)) {
        rc = refused(v, ctx, s->tenant_id, "domain", err);
        goto out;
    }
    if (rc == CU_OK &&
        (rc = cu_sso_link_user(v, ctx, s, who.sub, who.email, u, &why, err)) == CU_ERR_AUTH) {
        rc = refused(v, ctx, s->tenant_id, why, err);
        goto out;
    }
    if (rc == CU_OK)
        rc = cu_auth_session_open(v, ctx, u, token, err);
    if (rc == CU_OK) {
        cu_audit_in_set(&a, s->tenant_id, "sso.login", "user:%llu", (unsigned long long)u->id);
        rc = cu_commit(v, ctx, NULL, 0, &a, 1, err);
    }
out:
    cu_wipe(secret, sizeof(secret));
    cu_wipe(&who, sizeof(who));
    return rc;
}

cu_rc cu_sso_login_finish(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *state,
                          const char *binding, const char *code, const char *iss,
                          cu_sso_fetch_fn fetch, void *arg, char token[CU_SESSION_TOKEN_MAX],
                          cu_principal *who, unsigned *retry_after, cu_err *err)
{
    cu_sso_pending l;
    cu_store_sso_config s;
    cu_store_user u;
    cu_rc rc;

    token[0] = '\0';
    memset(&u, 0, sizeof(u));
    memset(&s, 0, sizeof(s));
    memset(&l, 0, sizeof(l));
    if ((rc = source_check(v, ctx, retry_after, err)) != CU_OK)
        return rc;
    /* A tenant without single sign-on answers as one that does not exist (P-ISO-1). */
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK ||
        (rc = cu_store_sso_config_get(v->store, tenant, &s, err)) != CU_OK)
        goto out;
    rc = take_login(v, ctx, tenant, state, binding, &l, err);
    /* Never made, used already, expired, another tenant's, or another browser's (P-ACC-5:
     * the binding cookie missing or not the one set with this state). */
    if (rc == CU_ERR_NOT_FOUND) {
        rc = refused(v, ctx, tenant, binding == NULL || binding[0] == '\0' ? "binding" : "state",
                     err);
        goto out;
    }
    if (rc != CU_OK || (rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        goto out;
    rc = finish_login(v, ctx, &l, &s, code, iss, fetch, arg, token, &u, err);
    if (rc == CU_OK) {
        memset(who, 0, sizeof(*who));
        who->kind = CU_PRINCIPAL_USER;
        who->id = u.id;
        who->tenant_id = u.tenant_id;
        who->role = (cu_role)u.role;
    }
out:
    if (rc != CU_OK)
        cu_wipe(token, CU_SESSION_TOKEN_MAX);
    free(s.secret.data);
    cu_store_user_cleanup(&u);
    cu_wipe(&l, sizeof(l));
    return rc;
}
