/*
 * auth.c: authentication: API keys (P-ACC-3), logins with lockout (P-ACC-6) and a second
 * factor (P-ACC-2), and sessions.
 *
 * Secrets are generated here and shown once: an API key reads "cuk_<id>_<64 hex>", a session
 * token "cus_<64 hex>", both 32 random bytes, and the store keeps only the SHA-256 of the
 * whole string (P-ENC-3): with 256 bits of entropy a fast hash is enough, and a database thief
 * cannot use what he finds. Hashes are compared in constant time.
 *
 * Every failure to authenticate a given kind of credential answers with one code and one
 * message, so an answer never tells an unknown email from a wrong password or an unknown key
 * from a revoked one; an unknown email even costs the same Argon2id run, and the same audit
 * write, as a wrong password. Guessing is bounded by throttle.c (P-ACC-6): rate limits per
 * source and tenant and back-offs per (source, account) refuse before any hashing, keyed by the
 * email whether or not a user has it, so a refusal tells nothing either and nobody can lock
 * a user out from elsewhere; the hashes run in a few slots, so a flood cannot exhaust memory.
 * Second-factor failures have their own small limit per (source, user) and a much higher one
 * per user; re-authentication failures have their own.
 *
 * Sessions end when unused for the vault's session_idle or CU_SESSION_TTL after login; the
 * row's expires_at is the idle deadline, pushed forward by use at most once a minute.
 *
 * A key that passed the check is cached (cache.c: its stored hash, tenant and role), so its
 * next requests cost a SHA-256 and a constant-time compare, no query. Revoking it here, or
 * closing its tenant, forgets it when the commit returns (cu_cache_after_commit): the very next
 * request reads the store again and fails. Another process's revocation on the same database is
 * seen from this one's next request too: a cached key's check reads its tenant's row (which the
 * request reads anyway, once: tenant.c), whose cache generation the revocation raised
 * (cache.c; docs/store.md, "Several servers"). Operator keys (tenant 0) are never cached.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "cache_int.h"
#include "custos_sso.h"
#include "schema_int.h"
#include "tenant_int.h"
#include "util.h"

#define APIKEY_PREFIX "cuk_"
#define SESSION_PREFIX "cus_"
#define SECRET_BYTES 32
#define SECRET_HEX (2 * SECRET_BYTES)
#define EMAIL_MAX 256

#define APIKEY_FAILED "invalid API key"
#define LOGIN_FAILED "invalid email or password"
#define SESSION_FAILED "invalid or expired session"

_Static_assert(sizeof(SESSION_PREFIX) - 1 + SECRET_HEX < CU_SESSION_TOKEN_MAX, "token size");
_Static_assert(sizeof(APIKEY_PREFIX) - 1 + CU_ID_STRLEN + SECRET_HEX < CU_APIKEY_SECRET_MAX,
               "API key size");

_Atomic unsigned long cu_auth_argon2_calls;
_Atomic unsigned long cu_auth_argon2_peak;
static _Atomic unsigned long argon2_running;

/* Counts a run starting, and the most ever running at once. */
static void argon2_enter(void)
{
    unsigned long n = ++argon2_running, peak = cu_auth_argon2_peak;

    cu_auth_argon2_calls++;
    while (n > peak && !atomic_compare_exchange_weak(&cu_auth_argon2_peak, &peak, n))
        ;
}

cu_rc cu_auth_password_hash(const char *pw, char out[CU_PWHASH_STRBYTES])
{
    cu_rc rc;

    argon2_enter();
    rc = cu_password_hash(pw, strlen(pw), out);
    argon2_running--;
    return rc;
}

cu_rc cu_auth_password_verify(const char *hash, const char *pw)
{
    cu_rc rc;

    argon2_enter();
    rc = cu_password_verify(hash, pw, strlen(pw));
    argon2_running--;
    return rc;
}

/* A valid Argon2id hash of a random password, made once, for logins to unknown emails. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[CU_PWHASH_STRBYTES];

static void dummy_setup(void)
{
    uint8_t raw[16];
    char pw[33];

    cu_random(raw, sizeof(raw));
    cu_hex_encode(raw, sizeof(raw), pw);
    if (cu_auth_password_hash(pw, dummy_hash) != CU_OK)
        dummy_hash[0] = '\0';
    cu_wipe(raw, sizeof(raw));
    cu_wipe(pw, sizeof(pw));
}

/* Costs what checking a real password costs, and always fails. */
static void dummy_verify(const char *pw)
{
    cu_rc ignored;

    pthread_once(&dummy_once, dummy_setup);
    ignored = cu_auth_password_verify(dummy_hash, pw);
    (void)ignored;
}

static int hex_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[n] == '\0';
}

/* Writes prefix and 64 hex digits of fresh randomness into out (cap bytes). */
static void make_secret(char *out, size_t cap, const char *prefix)
{
    uint8_t raw[SECRET_BYTES];
    char hex[SECRET_HEX + 1];

    cu_random(raw, sizeof(raw));
    cu_hex_encode(raw, sizeof(raw), hex);
    snprintf(out, cap, "%s%s", prefix, hex);
    cu_wipe(raw, sizeof(raw));
    cu_wipe(hex, sizeof(hex));
}

static void hash_str(const char *s, uint8_t out[CU_HASHBYTES])
{
    cu_sha256((const uint8_t *)s, strlen(s), out);
}

/* --- API keys (P-ACC-3) ------------------------------------------------------------------ */

static int key_name_ok(const char *s)
{
    size_t n = strnlen(s, CU_APIKEY_NAME_MAX);

    if (n == 0 || n >= CU_APIKEY_NAME_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

void cu_apikey_from_store(const cu_store_apikey *k, cu_apikey *out)
{
    memset(out, 0, sizeof(*out));
    out->id = k->id;
    out->tenant_id = k->tenant_id;
    out->role = (cu_role)k->role;
    cu_strlcpy(out->name, k->name, sizeof(out->name));
    out->created_at = k->created_at;
    out->revoked_at = k->revoked_at;
}

/* P-ACC-3: the system makes the secret; it exists in clear only in the caller's buffer. */
/* Builds the APIKEY_PUT of a new key and writes its secret; validates name and role. */
cu_rc cu_apikey_op(cu_id tenant, cu_role role, const char *name, cu_store_op *op,
                   char secret[CU_APIKEY_SECRET_MAX], cu_err *err)
{
    char prefix[sizeof(APIKEY_PREFIX) + CU_ID_STRLEN + 1];
    char ids[CU_ID_STRLEN];

    secret[0] = '\0';
    if (name == NULL || !key_name_ok(name))
        return cu_err_set(err, CU_ERR_INVALID,
                          "key name must be 1 to %d bytes without control characters",
                          CU_APIKEY_NAME_MAX - 1);
    /* P-ACC-1: operator keys live in tenant 0 alone; a tenant's key holds a tenant role. */
    if (tenant == 0 ? role != CU_ROLE_OPERATOR : !cu_role_tenant_ok(role))
        return cu_err_set(err, CU_ERR_INVALID,
                          tenant == 0 ? "a key without a tenant must have the operator role"
                                      : "role must be one of owner, admin, agent, analyst, "
                                        "auditor");
    memset(op, 0, sizeof(*op));
    op->type = CU_OP_APIKEY_PUT;
    op->u.apikey.tenant_id = tenant;
    op->u.apikey.id = cu_random_id();
    op->u.apikey.role = (int)role;
    cu_strlcpy(op->u.apikey.name, name, sizeof(op->u.apikey.name));
    op->u.apikey.created_at = cu_clock_now();
    cu_id_format(op->u.apikey.id, ids);
    snprintf(prefix, sizeof(prefix), "%s%s_", APIKEY_PREFIX, ids);
    make_secret(secret, CU_APIKEY_SECRET_MAX, prefix);
    /* P-ENC-3: only the hash is stored. */
    hash_str(secret, op->u.apikey.secret_hash);
    return CU_OK;
}

cu_rc cu_apikey_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_role role, const char *name,
                       cu_apikey *out, char secret[CU_APIKEY_SECRET_MAX], cu_err *err)
{
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_apikey_op(tenant, role, name, &op, secret, err)) != CU_OK)
        return rc;
    rc = tenant != 0 ? cu_tenant_check(v, tenant, 1, err) : CU_OK;
    cu_audit_in_set(&a, tenant, "apikey.create", "apikey:%llu",
                    (unsigned long long)op.u.apikey.id);
    if (rc == CU_OK)
        rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    if (rc != CU_OK) {
        cu_wipe(secret, CU_APIKEY_SECRET_MAX);
        return rc;
    }
    if (out)
        cu_apikey_from_store(&op.u.apikey, out);
    return CU_OK;
}

cu_rc cu_apikey_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_apikey **out, size_t *n,
                     cu_err *err)
{
    cu_store_apikey *rows = NULL;
    cu_apikey *res;
    size_t cnt = 0, i;
    cu_rc rc;

    (void)ctx;
    if (tenant != 0 && (rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_apikey_list(v->store, tenant, &rows, &cnt, err)) != CU_OK)
        return rc;
    res = calloc(cnt ? cnt : 1, sizeof(*res));
    if (res == NULL) {
        free(rows);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < cnt; i++)
        cu_apikey_from_store(&rows[i], &res[i]);
    free(rows);
    *out = res;
    *n = cnt;
    return CU_OK;
}

/* P-ACC-3: revocable; the store only revokes a key of this tenant (P-ISO-1). */
cu_rc cu_apikey_revoke(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id key, cu_err *err)
{
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    memset(&op, 0, sizeof(op));
    op.type = CU_OP_APIKEY_REVOKE;
    op.u.revoke.tenant_id = tenant;
    op.u.revoke.id = key;
    op.u.revoke.at = cu_clock_now();
    cu_audit_in_set(&a, tenant, "apikey.revoke", "apikey:%llu", (unsigned long long)key);
    rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    /* P-ACC-3: refused from the very next request on (cu_commit forgot it already; said here,
     * where the promise is kept). */
    cu_cache_forget_apikey(v, key);
    return rc;
}

/* Parses "cuk_<id>_<64 lowercase hex>" exactly; 0 if it is anything else. */
static int apikey_parse(const char *secret, cu_id *id)
{
    char ids[CU_ID_STRLEN];
    const char *p, *us;
    size_t n, idlen;

    if (secret == NULL)
        return 0;
    n = strnlen(secret, CU_APIKEY_SECRET_MAX);
    if (n >= CU_APIKEY_SECRET_MAX || strncmp(secret, APIKEY_PREFIX, 4) != 0)
        return 0;
    p = secret + 4;
    us = memchr(p, '_', n - 4);
    if (us == NULL)
        return 0;
    idlen = (size_t)(us - p);
    if (idlen == 0 || idlen >= sizeof(ids))
        return 0;
    memcpy(ids, p, idlen);
    ids[idlen] = '\0';
    return cu_id_parse(ids, id) == CU_OK && hex_ok(us + 1, SECRET_HEX);
}

/* Whether key k may act: not revoked, and scoped as P-ACC-1 says (tenant 0 with the operator
 * role, or a tenant role in a tenant that still exists). *gen gets the cache generation of the
 * tenant's row (0 for tenant 0). */
static cu_rc apikey_usable(cu_vault *v, const cu_store_apikey *k, uint64_t *gen, cu_err *err)
{
    cu_store_tenant row = {0};
    cu_rc rc;

    *gen = 0;
    if (k->revoked_at != 0)
        return CU_ERR_AUTH;
    if (k->tenant_id == 0)
        return k->role == CU_ROLE_OPERATOR ? CU_OK : CU_ERR_AUTH;
    if (!cu_role_tenant_ok((cu_role)k->role))
        return CU_ERR_AUTH;
    rc = cu_tenant_usable(v, NULL, k->tenant_id, CU_TENANT_USE_LIVE, &row, err);
    *gen = row.cache_gen;
    return rc == CU_ERR_NOT_FOUND ? CU_ERR_AUTH : rc;
}

static void principal_of_key(cu_id id, cu_id tenant, int role, cu_principal *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = CU_PRINCIPAL_APIKEY;
    out->id = id;
    out->tenant_id = tenant;
    out->role = (cu_role)role;
}

/* The store's check of key id (secret hash h): the row, the hash, whether it may act. On
 * success the key is cached, unless something was forgotten since gen. */
static cu_rc apikey_check_stored(cu_vault *v, cu_id id, const uint8_t h[CU_HASHBYTES], uint64_t gen,
                                 cu_principal *out, cu_err *err)
{
    static const uint8_t nothing[CU_HASHBYTES];
    cu_cache_apikey ce;
    cu_store_apikey k;
    uint64_t tenant_gen = 0;
    cu_rc rc;

    memset(&k, 0, sizeof(k));
    rc = cu_store_apikey_get(v->store, id, &k, err);
    if (rc == CU_ERR_NOT_FOUND) {
        (void)cu_ct_equal(h, nothing, CU_HASHBYTES); /* the same work as for a known id */
        return cu_err_set(err, CU_ERR_AUTH, APIKEY_FAILED);
    }
    if (rc != CU_OK)
        return rc;
    if (!cu_ct_equal(h, k.secret_hash, CU_HASHBYTES))
        return cu_err_set(err, CU_ERR_AUTH, APIKEY_FAILED);
    rc = apikey_usable(v, &k, &tenant_gen, err);
    if (rc == CU_ERR_AUTH)
        return cu_err_set(err, CU_ERR_AUTH, APIKEY_FAILED);
    if (rc != CU_OK)
        return rc;
    memcpy(ce.hash, k.secret_hash, sizeof(ce.hash));
    ce.tenant = k.tenant_id;
    ce.role = k.role;
    cu_cache_apikey_put(v, k.id, &ce, gen, tenant_gen); /* not tenant 0's (no row) */
    cu_wipe(&ce, sizeof(ce));
    principal_of_key(k.id, k.tenant_id, k.role, out);
    return CU_OK;
}

/* A cached key's check: the hash, then its tenant's row (read once for the whole request,
 * tenant.c), whose cache generation forgets the entry if another server revoked a key of the
 * tenant or closed it since (P-ACC-3 on every server from its next request; docs/store.md,
 * "Several servers"). CU_ERR_NOT_FOUND: the entry is gone, check the store. */
static cu_rc cached_check(cu_vault *v, cu_id id, const uint8_t h[CU_HASHBYTES],
                          const cu_cache_apikey *ce, uint64_t gen, cu_principal *out, cu_err *err)
{
    cu_rc rc;

    if (!cu_ct_equal(h, ce->hash, CU_HASHBYTES))
        return cu_err_set(err, CU_ERR_AUTH, APIKEY_FAILED);
    rc = cu_tenant_check(v, ce->tenant, 0, err);
    if (rc == CU_ERR_NOT_FOUND) {
        cu_cache_forget_apikey(v, id);
        return cu_err_set(err, CU_ERR_AUTH, APIKEY_FAILED);
    }
    if (rc != CU_OK)
        return rc;
    /* Anything forgotten since gen (this entry, maybe, by the row's generation): the store. */
    if (cu_cache_apikey_gen(v) != gen)
        return CU_ERR_NOT_FOUND;
    principal_of_key(id, ce->tenant, ce->role, out);
    return CU_OK;
}

/* P-ACC-3, P-ENC-3: the presented secret's hash against the stored one, in constant time; a
 * key checked within the cache's TTL against the hash cached then, if its tenant's row shows
 * no change since (cached_check). */
cu_rc cu_auth_apikey(cu_vault *v, const char *secret, cu_principal *out, cu_err *err)
{
    uint8_t h[CU_HASHBYTES];
    cu_cache_apikey ce;
    cu_id id = 0;
    uint64_t gen;
    cu_rc rc;

    if (!apikey_parse(secret, &id))
        return cu_err_set(err, CU_ERR_AUTH, APIKEY_FAILED);
    gen = cu_cache_apikey_gen(v); /* before the store is read */
    hash_str(secret, h);
    if (cu_cache_apikey_get(v, id, &ce)) {
        rc = cached_check(v, id, h, &ce, gen, out, err);
        cu_wipe(&ce, sizeof(ce));
        if (rc != CU_ERR_NOT_FOUND)
            return rc;
        gen = cu_cache_apikey_gen(v); /* again: before the store is read */
    }
    return apikey_check_stored(v, id, h, gen, out, err);
}

/* --- logins (P-ACC-2, P-ACC-6) ----------------------------------------------------------- */

/* The keys a login attempt is throttled by: its source, its tenant, and (source, account),
 * where the account is the tenant and normalized email whether or not a user has it. */
static void login_keys(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *norm,
                       cu_th_key keys[3])
{
    const char *src = ctx != NULL && ctx->source != NULL ? ctx->source : "unknown";
    uint8_t buf[sizeof(cu_id) + 64 + 1 + EMAIL_MAX];
    size_t sl = strnlen(src, 64), el = strnlen(norm, EMAIL_MAX - 1), n = 0;

    cu_throttle_key(v, CU_TH_SOURCE, src, sl, &keys[0]);
    cu_throttle_key(v, CU_TH_TENANT, &tenant, sizeof(tenant), &keys[1]);
    memcpy(buf, &tenant, sizeof(tenant));
    n = sizeof(tenant);
    memcpy(buf + n, src, sl);
    n += sl;
    buf[n++] = '\0';
    memcpy(buf + n, norm, el);
    n += el;
    cu_throttle_key(v, CU_TH_ACCOUNT, buf, n, &keys[2]);
    cu_wipe(buf, sizeof(buf));
}

/* The keys of a user's second-factor failures at login: from ctx's source (a small limit),
 * and from every source (a much higher one), so that whoever has the password cannot hold
 * the user's own logins off for long from one address (P-ACC-2). */
static void mfa_keys(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user, cu_th_key k[2])
{
    const char *src = ctx != NULL && ctx->source != NULL ? ctx->source : "unknown";
    uint8_t buf[2 * sizeof(cu_id) + 64];
    cu_id both[2] = {tenant, user};
    size_t sl = strnlen(src, 64);

    memcpy(buf, both, sizeof(both));
    memcpy(buf + sizeof(both), src, sl);
    cu_throttle_key(v, CU_TH_MFA, buf, sizeof(both) + sl, &k[0]);
    cu_throttle_key(v, CU_TH_MFA_USER, both, sizeof(both), &k[1]);
}

/* Counts a second-factor failure against both keys. */
static void mfa_failed(cu_vault *v, const cu_th_key k[2], int64_t now)
{
    cu_throttle_failed(v, &k[0], now);
    cu_throttle_failed(v, &k[1], now);
}

/* P-ACC-6: a failed login is written to the tenant's log, then answered code with msg. An
 * email no user has is written as user:unknown, and a tenant that does not exist (tenant 0)
 * as tenant:unknown in the platform's log, so that each costs the same durable write as a
 * wrong password (no timing oracle). */
static cu_rc login_failed(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user, cu_rc code,
                          const char *msg, cu_err *err)
{
    cu_audit_in a;
    cu_rc rc;

    if (tenant == 0)
        cu_audit_in_set(&a, 0, "user.login_failed", "tenant:unknown");
    else if (user != 0)
        cu_audit_in_set(&a, tenant, "user.login_failed", "user:%llu", (unsigned long long)user);
    else
        cu_audit_in_set(&a, tenant, "user.login_failed", "user:unknown");
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        return rc;
    return cu_err_set(err, code, "%s", msg);
}

/* P-ACC-2: the second factor, once the password is right. A missing code only asks for one;
 * a wrong or already used code counts against the user's limits from this source (small)
 * and from every source (much higher), which back off. *step gets the accepted code's step. */
static cu_rc second_factor(cu_vault *v, const cu_ctx *ctx, const cu_store_user *u, const char *code,
                           int64_t now, int64_t *step, unsigned *retry_after, cu_err *err)
{
    uint8_t secret[CU_TOTP_SECRET_BYTES];
    cu_th_key k[2];
    cu_rc rc;

    if (code == NULL || code[0] == '\0')
        return cu_err_set(err, CU_ERR_MFA_REQUIRED, "a TOTP code is required");
    mfa_keys(v, ctx, u->tenant_id, u->id, k);
    if ((rc = cu_throttle_check(v, k, 2, now, retry_after, err)) != CU_OK)
        return rc;
    rc = cu_user_totp_open(v, u, &u->totp_secret, u->totp_key_version, secret, err);
    if (rc == CU_OK)
        rc = cu_totp_check(secret, sizeof(secret), now, code, step);
    cu_wipe(secret, sizeof(secret));
    if (rc == CU_OK && *step <= u->totp_last_step)
        rc = CU_ERR_CONFLICT; /* a code is good once: no step at or before the last one */
    if (rc == CU_ERR_AUTH || rc == CU_ERR_CONFLICT) {
        mfa_failed(v, k, now);
        return login_failed(v, ctx, u->tenant_id, u->id, CU_ERR_MFA_REQUIRED,
                            rc == CU_ERR_AUTH ? "the TOTP code is not valid"
                                              : "the TOTP code was already used",
                            err);
    }
    return rc;
}

/* Clears the failure count, records the TOTP step, drops the user's expired sessions and
 * stores a new one, in one transaction; the token goes to token. A step that another login
 * used meanwhile makes it CU_ERR_CONFLICT and changes nothing. A session ends after
 * session_idle seconds unused (cu_auth_session keeps it alive), and CU_SESSION_TTL at most. */
static cu_rc start_session(cu_vault *v, const cu_ctx *ctx, const cu_store_user *u, int64_t step,
                           int64_t now, char token[CU_SESSION_TOKEN_MAX], cu_err *err)
{
    cu_auth_limits lim;
    cu_store_op ops[3];
    cu_audit_in a;
    cu_rc rc;

    cu_auth_limits_get(v, &lim);
    memset(ops, 0, sizeof(ops));
    ops[0].type = CU_OP_USER_LOGIN_OK;
    ops[0].u.login.tenant_id = u->tenant_id;
    ops[0].u.login.user_id = u->id;
    ops[0].u.login.totp_step = step;
    ops[0].u.login.now = now;
    ops[1].type = CU_OP_SESSION_PURGE;
    ops[1].u.purge.tenant_id = u->tenant_id;
    ops[1].u.purge.user_id = u->id;
    ops[1].u.purge.before = now;
    ops[2].type = CU_OP_SESSION_PUT;
    ops[2].u.session.tenant_id = u->tenant_id;
    ops[2].u.session.user_id = u->id;
    ops[2].u.session.created_at = now;
    ops[2].u.session.expires_at =
        now + (lim.session_idle < CU_SESSION_TTL ? lim.session_idle : CU_SESSION_TTL);
    make_secret(token, CU_SESSION_TOKEN_MAX, SESSION_PREFIX);
    hash_str(token, ops[2].u.session.token_hash);
    cu_audit_in_set(&a, u->tenant_id, "user.login", "user:%llu", (unsigned long long)u->id);
    rc = cu_commit(v, ctx, ops, 3, &a, 1, err);
    if (rc != CU_OK)
        cu_wipe(token, CU_SESSION_TOKEN_MAX);
    return rc;
}

/* P-ACC-5: a single sign-on login opens the same session a password login opens
 * (sso_tenant.c); the provider stands in for the password and the second factor. */
cu_rc cu_auth_session_open(cu_vault *v, const cu_ctx *ctx, const cu_store_user *u,
                           char token[CU_SESSION_TOKEN_MAX], cu_err *err)
{
    return start_session(v, ctx, u, 0, cu_clock_now(), token, err);
}

/* After the right password: the second factor, then the session. */
static cu_rc login_user(cu_vault *v, const cu_ctx *ctx, const cu_store_user *u, const char *totp,
                        int64_t now, char token[CU_SESSION_TOKEN_MAX], unsigned *retry_after,
                        cu_err *err)
{
    int64_t step = 0;
    cu_th_key k[2];
    cu_rc rc;

    if (u->totp_enabled &&
        (rc = second_factor(v, ctx, u, totp, now, &step, retry_after, err)) != CU_OK)
        return rc;
    rc = start_session(v, ctx, u, step, now, token, err);
    if (rc == CU_ERR_CONFLICT && step > 0) {
        mfa_keys(v, ctx, u->tenant_id, u->id, k);
        mfa_failed(v, k, now);
        return login_failed(v, ctx, u->tenant_id, u->id, CU_ERR_MFA_REQUIRED,
                            "the TOTP code was already used", err);
    }
    if (rc == CU_ERR_CONFLICT)
        return cu_err_set(err, CU_ERR_AUTH, LOGIN_FAILED); /* the user was deleted meanwhile */
    if (rc == CU_OK && step > 0) {
        mfa_keys(v, ctx, u->tenant_id, u->id, k);
        cu_throttle_clear(v, &k[0]);
        cu_throttle_clear(v, &k[1]);
    }
    return rc;
}

/* Finds the user of norm in tenant into u and checks password against its hash; an unknown
 * tenant or email costs the same Argon2id run, against the dummy hash, and gives the same
 * CU_ERR_AUTH as a wrong password. *tenant_ok says whether the tenant exists. */
static cu_rc check_password(cu_vault *v, cu_id tenant, const char *norm, const char *password,
                            cu_store_user *u, int *tenant_ok, cu_err *err)
{
    uint8_t digest[32];
    cu_rc rc;

    rc = cu_tenant_check(v, tenant, 0, err);
    *tenant_ok = rc == CU_OK;
    if (rc == CU_OK)
        rc = cu_user_email_digest(v, tenant, norm, digest, err);
    if (rc == CU_OK)
        rc = cu_store_user_find(v->store, tenant, digest, u, err);
    cu_wipe(digest, sizeof(digest));
    if (rc == CU_ERR_NOT_FOUND) {
        dummy_verify(password);
        return cu_err_set(err, CU_ERR_AUTH, LOGIN_FAILED);
    }
    if (rc != CU_OK)
        return rc;
    rc = cu_auth_password_verify(u->password_hash, password);
    if (rc == CU_ERR_AUTH)
        return cu_err_set(err, CU_ERR_AUTH, LOGIN_FAILED);
    if (rc != CU_OK)
        return cu_err_set(err, CU_ERR_STORE, "a stored password hash is malformed");
    return CU_OK;
}

#define SSO_BARRED "this tenant's users sign in through its identity provider"

/* CU_ERR_FORBIDDEN if the tenant requires single sign-on (P-ACC-5), unless a TOTP code came:
 * then *break_glass is set, and only an owner with TOTP gets past (sso_break_glass). */
static cu_rc sso_barred(cu_vault *v, cu_id tenant, const char *totp, int *break_glass, cu_err *err)
{
    int required = 0;
    cu_rc rc = cu_sso_required(v, tenant, &required, err);

    *break_glass = rc == CU_OK && required && totp != NULL && totp[0] != '\0';
    if (rc == CU_OK && required && !*break_glass)
        rc = cu_err_set(err, CU_ERR_FORBIDDEN, SSO_BARRED);
    return rc;
}

/* Review finding 7, the break-glass of a tenant that requires single sign-on: its owner still
 * signs in with password and TOTP (a provider down, misconfigured or gone must not lock the
 * tenant out for good); no one else. Called after the password was right, before the second
 * factor is checked (login_user). */
static cu_rc sso_break_glass(const cu_store_user *u, cu_err *err)
{
    if (u->role != CU_ROLE_OWNER || !u->totp_enabled)
        return cu_err_set(err, CU_ERR_FORBIDDEN, SSO_BARRED);
    return CU_OK;
}

/* The break-glass login, audited as such in the tenant's log (its session is the same). */
static cu_rc sso_break_glass_audit(cu_vault *v, const cu_ctx *ctx, const cu_store_user *u,
                                   cu_err *err)
{
    cu_audit_in a;

    cu_audit_in_set(&a, u->tenant_id, "sso.break_glass", "user:%llu", (unsigned long long)u->id);
    return cu_commit(v, ctx, NULL, 0, &a, 1, err);
}

/* P-ACC-6: the limits refuse before any hashing and alike whether the email exists; a hash
 * runs only in one of the bounded slots, for known and unknown emails alike. */
cu_rc cu_user_login(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *email,
                    const char *password, const char *totp, char token[CU_SESSION_TOKEN_MAX],
                    cu_principal *out, unsigned *retry_after, cu_err *err)
{
    char norm[EMAIL_MAX];
    cu_th_key keys[3];
    cu_store_user u;
    int64_t now = cu_clock_now();
    int tenant_ok = 0, break_glass = 0;
    cu_rc rc;

    token[0] = '\0';
    memset(&u, 0, sizeof(u));
    if (retry_after)
        *retry_after = 0;
    if (password == NULL || strnlen(password, CU_PASSWORD_MAX + 1) > CU_PASSWORD_MAX ||
        email == NULL || cu_norm_email(email, norm, sizeof(norm)) != CU_OK) {
        rc = cu_err_set(err, CU_ERR_AUTH, LOGIN_FAILED);
        goto out;
    }
    login_keys(v, ctx, tenant, norm, keys);
    /* P-ACC-5: a tenant that requires single sign-on takes no password, whoever asks; the
     * attempt still counts against the limits first, so asking costs a flood its rate. */
    if ((rc = cu_throttle_check(v, keys, 3, now, retry_after, err)) != CU_OK ||
        (rc = sso_barred(v, tenant, totp, &break_glass, err)) != CU_OK ||
        (rc = cu_auth_slot_acquire(v, retry_after, err)) != CU_OK)
        goto out;
    rc = check_password(v, tenant, norm, password, &u, &tenant_ok, err);
    cu_auth_slot_release(v);
    if (rc == CU_ERR_AUTH) {
        cu_throttle_failed(v, &keys[0], now);
        cu_throttle_failed(v, &keys[1], now);
        cu_throttle_failed(v, &keys[2], now);
        rc = login_failed(v, ctx, tenant_ok ? tenant : 0, u.id, CU_ERR_AUTH, LOGIN_FAILED, err);
        goto out;
    }
    if (rc != CU_OK)
        goto out;
    cu_throttle_clear(v, &keys[2]);
    if (break_glass && (rc = sso_break_glass(&u, err)) != CU_OK)
        goto out;
    rc = login_user(v, ctx, &u, totp, now, token, retry_after, err);
    if (rc == CU_OK && break_glass && (rc = sso_break_glass_audit(v, ctx, &u, err)) != CU_OK)
        cu_wipe(token, CU_SESSION_TOKEN_MAX);
    if (rc == CU_OK) {
        memset(out, 0, sizeof(*out));
        out->kind = CU_PRINCIPAL_USER;
        out->id = u.id;
        out->tenant_id = u.tenant_id;
        out->role = (cu_role)u.role;
    }
out:
    cu_wipe(norm, sizeof(norm));
    cu_wipe(keys, sizeof(keys));
    cu_store_user_cleanup(&u);
    return rc;
}

/* P-ACC-2: a user proves itself again before changing its second factor. Failures count
 * against its own re-authentication limit (CU_TH_REAUTH), never the login's second-factor
 * ones, so a stolen session cannot hold the user's logins off; a hash runs in a slot, as
 * for a login. */
cu_rc cu_auth_reauth(cu_vault *v, const cu_store_user *u, const char *password, const char *code,
                     int64_t *step, unsigned *retry_after, cu_err *err)
{
    uint8_t secret[CU_TOTP_SECRET_BYTES];
    int64_t now = cu_clock_now();
    cu_id both[2] = {u->tenant_id, u->id};
    cu_th_key k;
    cu_rc rc;

    *step = 0;
    if (retry_after)
        *retry_after = 0;
    cu_throttle_key(v, CU_TH_REAUTH, both, sizeof(both), &k);
    if ((rc = cu_throttle_check(v, &k, 1, now, retry_after, err)) != CU_OK)
        return rc;
    if (password == NULL || strnlen(password, CU_PASSWORD_MAX + 1) > CU_PASSWORD_MAX) {
        rc = CU_ERR_AUTH;
    } else {
        if ((rc = cu_auth_slot_acquire(v, retry_after, err)) != CU_OK)
            return rc;
        rc = cu_auth_password_verify(u->password_hash, password);
        cu_auth_slot_release(v);
    }
    if (rc == CU_OK && u->totp_enabled) {
        rc = cu_user_totp_open(v, u, &u->totp_secret, u->totp_key_version, secret, err);
        if (rc == CU_OK)
            rc = cu_totp_check(secret, sizeof(secret), now, code, step);
        if (rc == CU_OK && *step <= u->totp_last_step)
            rc = CU_ERR_AUTH;
        cu_wipe(secret, sizeof(secret));
    }
    if (rc == CU_ERR_AUTH) {
        cu_throttle_failed(v, &k, now);
        return cu_err_set(err, CU_ERR_AUTH,
                          u->totp_enabled ? "the password or the TOTP code is not valid"
                                          : "the password is not valid");
    }
    if (rc == CU_OK)
        cu_throttle_clear(v, &k);
    return rc;
}

/* --- sessions ---------------------------------------------------------------------------- */

static int token_parse(const char *token, uint8_t hash[CU_HASHBYTES])
{
    if (token == NULL || strncmp(token, SESSION_PREFIX, 4) != 0 || !hex_ok(token + 4, SECRET_HEX))
        return 0;
    hash_str(token, hash);
    return 1;
}

int cu_session_hash(const char *token, uint8_t hash[CU_HASHBYTES])
{
    return token_parse(token, hash);
}

/* Keeps a used session alive for session_idle more seconds (never past its TTL). It writes
 * only once the stored expiry lags by a minute (a tenth of session_idle if shorter), so a
 * busy session costs one write a minute, not one per request; or when it lies further ahead
 * than session_idle allows (a shorter setting, or a session from before idle timeouts).
 * Best effort: a failed write only lets the session end sooner. */
static void session_touch(cu_vault *v, const cu_store_session *s, int64_t now)
{
    int64_t want, slack;
    cu_auth_limits lim;
    cu_store_op op;
    cu_err e = {0};

    cu_auth_limits_get(v, &lim);
    want = now + lim.session_idle;
    if (want > s->created_at + CU_SESSION_TTL)
        want = s->created_at + CU_SESSION_TTL;
    slack = lim.session_idle < 600 ? lim.session_idle / 10 : 60;
    if (s->expires_at <= want && want - s->expires_at < (slack > 0 ? slack : 1))
        return;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_SESSION_TOUCH;
    memcpy(op.u.session.token_hash, s->token_hash, sizeof(op.u.session.token_hash));
    op.u.session.expires_at = want;
    (void)cu_commit(v, NULL, &op, 1, NULL, 0, &e);
}

cu_rc cu_auth_session(cu_vault *v, const char *token, cu_principal *out, cu_err *err)
{
    uint8_t h[CU_HASHBYTES];
    int64_t now = cu_clock_now();
    cu_store_session s;
    cu_rc rc;

    if (cu_opsession_token(token))
        return cu_opsession_auth(v, token, out, err);
    if (!token_parse(token, h))
        return cu_err_set(err, CU_ERR_AUTH, SESSION_FAILED);
    rc = cu_store_session_get(v->store, h, &s, err);
    /* Idle too long (expires_at), or too old (created_at): over. */
    if (rc == CU_OK && (s.expires_at <= now || s.created_at + CU_SESSION_TTL <= now))
        rc = CU_ERR_NOT_FOUND;
    if (rc == CU_OK && !cu_role_tenant_ok((cu_role)s.role))
        rc = CU_ERR_NOT_FOUND;
    if (rc == CU_OK)
        rc = cu_tenant_check(v, s.tenant_id, 0, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_AUTH, SESSION_FAILED);
    if (rc != CU_OK)
        return rc;
    session_touch(v, &s, now);
    memset(out, 0, sizeof(*out));
    out->kind = CU_PRINCIPAL_USER;
    out->id = s.user_id;
    out->tenant_id = s.tenant_id;
    out->role = (cu_role)s.role;
    return CU_OK;
}

cu_rc cu_session_purge_expired(cu_vault *v, cu_err *err)
{
    cu_store_op op;

    memset(&op, 0, sizeof(op));
    op.type = CU_OP_SESSION_PURGE;
    op.u.purge.before = cu_clock_now();
    return cu_commit(v, NULL, &op, 1, NULL, 0, err);
}

cu_rc cu_session_end(cu_vault *v, const char *token, cu_err *err)
{
    cu_store_session row;
    cu_store_op op;
    cu_audit_in a;
    cu_ctx ctx = {.actor = "user", .purpose = "logout"};
    char actor[48];
    cu_rc rc;

    if (cu_opsession_token(token))
        return cu_opsession_end(v, token, err); /* the operator's: audited, stateless */
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_SESSION_DELETE;
    if (!token_parse(token, op.u.session.token_hash))
        return cu_err_set(err, CU_ERR_AUTH, SESSION_FAILED);
    /* Whose session it is names the entry in that tenant's log (P-AUD-1). */
    if (cu_store_session_get(v->store, op.u.session.token_hash, &row, err) != CU_OK)
        return cu_err_set(err, CU_ERR_AUTH, SESSION_FAILED);
    snprintf(actor, sizeof(actor), "user:%llu", (unsigned long long)row.user_id);
    ctx.actor = actor;
    cu_audit_in_set(&a, row.tenant_id, "user.logout", "user:%llu",
                    (unsigned long long)row.user_id);
    rc = cu_commit(v, &ctx, &op, 1, &a, 1, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_AUTH, SESSION_FAILED);
    return rc;
}
