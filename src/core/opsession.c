/*
 * opsession.c: the operator's console session (docs/portal.md, "The operator's console").
 *
 * The operator is an API key of no tenant, with no user and so no login. The console lets it
 * type its key once; the server answers a short-lived session token in the HttpOnly cookie and
 * the page forgets the key. The token is stateless, so no table is needed and every server of
 * a shared database accepts it:
 *
 *   "cuo_" <key id: 16 hex> <expiry, unix seconds: 8 hex> <master key version: 8 hex>
 *          <HMAC-SHA-256, first 16 bytes: 32 hex>
 *
 * The MAC is keyed by HKDF of that master key version (which never leaves the key file, so a
 * copy of the database cannot forge one) and covers the key id, the expiry and the key's
 * stored secret hash. Each use reads the key again: a revoked key ends its sessions at once
 * (P-ACC-3), and the principal is the key itself, so every call is checked and audited as the
 * key's own (actor "operator:key:<id>", P-ACC-4). A session lasts CU_OPSESSION_TTL from its
 * start and is never extended; logging out clears the cookie, revoking the key ends it.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "auth_int.h"
#include "keyring_int.h"
#include "util.h"

#define OPS_PREFIX "cuo_"
#define OPS_MAC 16
#define OPS_LEN (4 + 16 + 8 + 8 + 2 * OPS_MAC)
#define OPS_FAILED "invalid or expired session"

_Static_assert(OPS_LEN < CU_SESSION_TOKEN_MAX, "operator session token size");

/* The MAC of (key id, expiry, the key's stored secret hash) under master key version ver. */
static cu_rc ops_mac(cu_vault *v, uint32_t ver, cu_id key, uint32_t exp,
                     const uint8_t hash[CU_HASHBYTES], uint8_t mac[CU_HASHBYTES])
{
    static const char info[] = "custos operator session v1";
    uint8_t k[CU_KEYBYTES], msg[8 + 4 + CU_HASHBYTES];
    const uint8_t *mk;
    cu_rc rc = CU_ERR_AUTH;

    for (int i = 0; i < 8; i++)
        msg[i] = (uint8_t)(key >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        msg[8 + i] = (uint8_t)(exp >> (24 - 8 * i));
    memcpy(msg + 12, hash, CU_HASHBYTES);
    pthread_rwlock_rdlock(&v->key_lock);
    if ((mk = cu_keyring_get(v->ring, ver)) != NULL)
        rc = cu_hkdf(NULL, 0, mk, CU_KEYBYTES, (const uint8_t *)info, sizeof(info) - 1, k,
                     sizeof(k));
    pthread_rwlock_unlock(&v->key_lock);
    if (rc == CU_OK)
        cu_hmac_sha256(k, sizeof(k), msg, sizeof(msg), mac);
    cu_wipe(k, sizeof(k));
    cu_wipe(msg, sizeof(msg)); /* it holds the key's stored secret hash */
    return rc;
}

/* The operator key's row, usable: not revoked, of no tenant, role operator. */
static cu_rc operator_key(cu_vault *v, cu_id id, cu_store_apikey *k, cu_err *err)
{
    cu_rc rc;

    memset(k, 0, sizeof(*k));
    rc = cu_store_apikey_get(v->store, id, k, err);
    if (rc == CU_ERR_NOT_FOUND ||
        (rc == CU_OK && (k->revoked_at != 0 || k->tenant_id != 0 || k->role != CU_ROLE_OPERATOR)))
        return cu_err_set(err, CU_ERR_AUTH, OPS_FAILED);
    return rc;
}

cu_rc cu_opsession_open(cu_vault *v, const cu_ctx *ctx, const cu_principal *who,
                        char token[CU_SESSION_TOKEN_MAX], int64_t *expires, cu_err *err)
{
    uint8_t mac[CU_HASHBYTES];
    cu_store_apikey k;
    cu_audit_in a;
    uint32_t ver, exp;
    char hex[2 * OPS_MAC + 1];
    cu_rc rc;

    if (who->kind != CU_PRINCIPAL_APIKEY || who->role != CU_ROLE_OPERATOR || who->tenant_id != 0)
        return cu_err_set(err, CU_ERR_FORBIDDEN, "only an operator API key opens this session");
    if ((rc = operator_key(v, who->id, &k, err)) != CU_OK)
        return rc;
    pthread_rwlock_rdlock(&v->key_lock);
    ver = v->master_version;
    pthread_rwlock_unlock(&v->key_lock);
    exp = (uint32_t)(cu_clock_now() + CU_OPSESSION_TTL);
    rc = ops_mac(v, ver, k.id, exp, k.secret_hash, mac);
    cu_wipe(&k, sizeof(k));
    if (rc != CU_OK)
        return cu_err_set(err, CU_ERR_KEY, "the master key is not loaded");
    cu_hex_encode(mac, OPS_MAC, hex);
    cu_wipe(mac, sizeof(mac));
    /* P-AUD-1: on the platform's log, by the key itself (the router's actor). */
    cu_audit_in_set(&a, 0, "operator.session", "key:%llu", (unsigned long long)who->id);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        cu_wipe(hex, sizeof(hex));
        return rc;
    }
    snprintf(token, CU_SESSION_TOKEN_MAX, OPS_PREFIX "%016" PRIx64 "%08" PRIx32 "%08" PRIx32 "%s",
             (uint64_t)who->id, exp, ver, hex);
    cu_wipe(hex, sizeof(hex));
    *expires = exp;
    return CU_OK;
}

int cu_opsession_token(const char *token)
{
    return token != NULL && strncmp(token, OPS_PREFIX, 4) == 0;
}

/* Reads n hex digits of s into *out; 0 if one is not a lower-case hex digit. */
static int hex_field(const char *s, int n, uint64_t *out)
{
    uint64_t x = 0;

    for (int i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            x = x << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = x << 4 | (uint64_t)(c - 'a' + 10);
        else
            return 0;
    }
    *out = x;
    return 1;
}

cu_rc cu_opsession_auth(cu_vault *v, const char *token, cu_principal *out, cu_err *err)
{
    uint8_t mac[CU_HASHBYTES], want[OPS_MAC];
    uint64_t id, exp, ver, byte;
    uint32_t cur;
    cu_store_apikey k;
    cu_rc rc;
    int ok;

    if (!cu_opsession_token(token) || strlen(token) != OPS_LEN || !hex_field(token + 4, 16, &id) ||
        !hex_field(token + 20, 8, &exp) || !hex_field(token + 28, 8, &ver))
        return cu_err_set(err, CU_ERR_AUTH, OPS_FAILED);
    for (int i = 0; i < OPS_MAC; i++) {
        if (!hex_field(token + 36 + 2 * i, 2, &byte))
            return cu_err_set(err, CU_ERR_AUTH, OPS_FAILED);
        want[i] = (uint8_t)byte;
    }
    /* Expired, or lasting longer than a session may (a clock set back). */
    if ((int64_t)exp <= cu_clock_now() || (int64_t)exp > cu_clock_now() + CU_OPSESSION_TTL)
        return cu_err_set(err, CU_ERR_AUTH, OPS_FAILED);
    /* Only under the newest master key version: a rotation (made because a version leaked,
     * say) ends every operator session at once (review-merged2 5); the operator signs in
     * again. */
    pthread_rwlock_rdlock(&v->key_lock);
    cur = v->master_version;
    pthread_rwlock_unlock(&v->key_lock);
    if ((uint32_t)ver != cur)
        return cu_err_set(err, CU_ERR_AUTH, OPS_FAILED);
    if ((rc = operator_key(v, (cu_id)id, &k, err)) != CU_OK)
        return rc;
    rc = ops_mac(v, (uint32_t)ver, k.id, (uint32_t)exp, k.secret_hash, mac);
    cu_wipe(&k, sizeof(k));
    ok = rc == CU_OK && cu_ct_equal(mac, want, OPS_MAC);
    cu_wipe(mac, sizeof(mac));
    if (!ok)
        return cu_err_set(err, CU_ERR_AUTH, OPS_FAILED);
    memset(out, 0, sizeof(*out));
    out->kind = CU_PRINCIPAL_APIKEY;
    out->id = (cu_id)id;
    out->tenant_id = 0;
    out->role = CU_ROLE_OPERATOR;
    return CU_OK;
}

/* P-AUD-1: the operator's sign-out, on the platform's log by the key. The token is stateless,
 * so this ends nothing a copy of it holds (docs/portal.md): it records the act. */
cu_rc cu_opsession_end(cu_vault *v, const char *token, cu_err *err)
{
    cu_principal who;
    cu_audit_in a;
    char actor[48];
    cu_ctx ctx = {.actor = actor, .purpose = "logout"};
    cu_rc rc;

    if ((rc = cu_opsession_auth(v, token, &who, err)) != CU_OK)
        return rc;
    snprintf(actor, sizeof(actor), "operator:key:%llu", (unsigned long long)who.id);
    cu_audit_in_set(&a, 0, "operator.logout", "key:%llu", (unsigned long long)who.id);
    return cu_commit(v, &ctx, NULL, 0, &a, 1, err);
}
