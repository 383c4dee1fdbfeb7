/*
 * unsubscribe.c: one-click unsubscribe links (P-CON-4, RFC 8058).
 *
 * A token is base64url of: format (1 byte) | tenant (8) | subject (8) | the store's number of
 * the policy version in force when it was issued (4) | purpose length (1) | purpose |
 * HMAC-SHA-256 of all that (32). The MAC key is derived with HKDF from the tenant's index key,
 * kept nowhere and wiped after use, so only this vault makes tokens and a tenant's shredding
 * kills its links. A token that does not decode, names a tenant without that key, or whose MAC
 * differs is simply not found, whichever part was wrong (P-ISO-1). A valid token whose policy
 * version is no longer the one in force has expired: a new version may change what the
 * purpose means, so the link that named it dies with it.
 *
 * Unsubscribing writes through the consent ledger's own path (cu_consent_record): a withdrawal
 * for a consent purpose, an objection for a legitimate-interest one, source "unsubscribe";
 * service purposes are untouched, as no link can be issued for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "custos_consent.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "tenant_int.h"
#include "util.h"

#define TOKEN_FORMAT 1
#define HEAD_LEN (1 + 8 + 8 + 4 + 1)
#define MAC_LEN CU_HASHBYTES
#define RAW_MAX (HEAD_LEN + 64 + MAC_LEN)

static void put_be(uint8_t *p, uint64_t x, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(x >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t x = 0;

    for (int i = 0; i < n; i++)
        x = x << 8 | p[i];
    return x;
}

/* HMAC-SHA-256 of msg under the tenant's link key, into mac. The key is derived by HKDF from
 * the tenant's index key, not the tenant key: `key rotate --tenant` replaces the tenant key but
 * only rewraps the index key (which blind indexes need unchanged), so links sent before a
 * rotation keep working; the label keeps the two uses apart. */
static cu_rc link_mac(cu_vault *v, cu_id tenant, const uint8_t *msg, size_t n,
                      uint8_t mac[MAC_LEN], cu_err *err)
{
    static const char info[] = "custos unsubscribe link v1";
    uint8_t k[CU_KEYBYTES];
    cu_key ik;
    cu_rc rc;

    if ((rc = cu_keys_child(v, tenant, CU_KEY_INDEX, 0, &ik, err)) != CU_OK)
        return rc;
    rc = cu_hkdf(NULL, 0, ik.k, sizeof(ik.k), (const uint8_t *)info, sizeof(info) - 1, k,
                 sizeof(k));
    cu_key_wipe(&ik);
    if (rc != CU_OK) {
        cu_wipe(k, sizeof(k));
        return cu_err_set(err, rc, "could not derive the link key");
    }
    cu_hmac_sha256(k, sizeof(k), msg, n, mac);
    cu_wipe(k, sizeof(k));
    return CU_OK;
}

/* base64url without padding, from the standard alphabet the crypto layer writes. */
static cu_rc b64url(const uint8_t *in, size_t n, char *out, size_t cap)
{
    cu_rc rc = cu_b64_encode(in, n, out, cap);

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

static cu_rc unb64url(const char *in, uint8_t *out, size_t cap, size_t *n)
{
    char buf[CU_UNSUB_TOKEN_MAX + 4];
    size_t len = strlen(in);

    if (len == 0 || len >= CU_UNSUB_TOKEN_MAX || len % 4 == 1)
        return CU_ERR_INVALID;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '+' || c == '/' || c == '=')
            return CU_ERR_INVALID; /* one spelling per token */
        buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (len % 4)
        buf[len++] = '=';
    return cu_b64_decode(buf, len, out, cap, n);
}

/* The tenant's policy in force and its store number, after the tenant checks. */
static cu_rc in_force(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                      cu_tenant_use use, const cu_policy **p, unsigned *version, cu_err *err)
{
    cu_gate g;
    cu_rc rc;

    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = use, .subject = subject},
                          &g, err)) != CU_OK)
        return rc;
    return cu_policy_current(v, tenant, g.policy_version, p, version, err);
}

/* P-CON-4: a link is for a marketing purpose one can leave, never a service notice. */
static cu_rc marketing_purpose(const cu_policy *p, const char *name, cu_err *err)
{
    const cu_policy_purpose *pu = name ? cu_policy_purpose_get(p, name) : NULL;

    if (pu == NULL)
        return cu_err_set(err, CU_ERR_UNKNOWN_PURPOSE,
                          "the tenant's policy declares no purpose \"%.64s\"", name ? name : "");
    if (strncmp(pu->data_use, "marketing", 9) != 0 ||
        (pu->basis != CU_BASIS_CONSENT && pu->basis != CU_BASIS_LEGITIMATE_INTEREST))
        return cu_err_set(err, CU_ERR_INVALID,
                          "purpose \"%s\" is not marketing based on consent or legitimate "
                          "interest: it has no unsubscribe link (P-CON-4)",
                          name);
    return CU_OK;
}

cu_rc cu_unsubscribe_link(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                          const char *purpose, char *token, cu_err *err)
{
    uint8_t raw[RAW_MAX];
    const cu_policy *p;
    unsigned version = 0;
    size_t plen, n;
    cu_audit_in a;
    cu_rc rc;

    token[0] = '\0';
    /* A tenant that can no longer write (its subscription ended) issues no link whose use
     * would be refused: 409 tenant_terminated, as its other writes. */
    if ((rc = in_force(v, ctx, tenant, subject, CU_TENANT_USE_WRITE, &p, &version, err)) != CU_OK)
        return rc;
    rc = marketing_purpose(p, purpose, err);
    cu_policy_release(v, p);
    if (rc != CU_OK)
        return rc;
    plen = strlen(purpose);
    raw[0] = TOKEN_FORMAT;
    put_be(raw + 1, tenant, 8);
    put_be(raw + 9, subject, 8);
    put_be(raw + 17, version, 4);
    raw[21] = (uint8_t)plen;
    memcpy(raw + HEAD_LEN, purpose, plen);
    n = HEAD_LEN + plen;
    if ((rc = link_mac(v, tenant, raw, n, raw + n, err)) != CU_OK)
        return rc;
    if ((rc = b64url(raw, n + MAC_LEN, token, CU_UNSUB_TOKEN_MAX)) != CU_OK)
        return cu_err_set(err, rc, "token too long");
    cu_audit_in_set(&a, tenant, "unsubscribe.link", "subject:%llu:%.40s",
                    (unsigned long long)subject, purpose);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        token[0] = '\0';
    return rc;
}

/* Decodes and authenticates token into out, and *version; CU_ERR_NOT_FOUND for any flaw. */
static cu_rc token_open(cu_vault *v, const char *token, cu_unsubscribe_info *out, unsigned *version,
                        cu_err *err)
{
    uint8_t raw[RAW_MAX + 3], mac[MAC_LEN];
    size_t n = 0, plen;
    cu_err ignored = {0};

    memset(out, 0, sizeof(*out));
    if (token == NULL || unb64url(token, raw, sizeof(raw), &n) != CU_OK || n < HEAD_LEN + MAC_LEN ||
        raw[0] != TOKEN_FORMAT || (plen = raw[21]) == 0 || plen > 64 ||
        n != HEAD_LEN + plen + MAC_LEN)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "not found");
    out->tenant = get_be(raw + 1, 8);
    out->subject = get_be(raw + 9, 8);
    *version = (unsigned)get_be(raw + 17, 4);
    memcpy(out->purpose, raw + HEAD_LEN, plen);
    out->purpose[plen] = '\0';
    /* P-ISO-1: a tenant without its key and a wrong MAC answer alike. */
    if (out->tenant == 0 || link_mac(v, out->tenant, raw, n - MAC_LEN, mac, &ignored) != CU_OK ||
        !cu_ct_equal(mac, raw + n - MAC_LEN, MAC_LEN)) {
        memset(out, 0, sizeof(*out));
        return cu_err_set(err, CU_ERR_NOT_FOUND, "not found");
    }
    return CU_OK;
}

cu_rc cu_unsubscribe_peek(cu_vault *v, const char *token, cu_unsubscribe_info *out, cu_err *err)
{
    const cu_policy *p;
    unsigned issued, now_version = 0;
    cu_rc rc;

    if ((rc = token_open(v, token, out, &issued, err)) != CU_OK)
        return rc;
    if ((rc = in_force(v, NULL, out->tenant, out->subject, CU_TENANT_USE_LIVE, &p, &now_version,
                       err)) != CU_OK)
        return rc;
    cu_policy_release(v, p);
    if (now_version != issued) {
        out->expired = 1;
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "this link was issued under a policy version that was replaced");
    }
    return CU_OK;
}

cu_rc cu_unsubscribe(cu_vault *v, const cu_ctx *ctx, const char *token, cu_unsubscribe_info *out,
                     cu_err *err)
{
    const cu_policy_purpose *pu;
    const cu_policy *p;
    cu_consent_action action = CU_CONSENT_WITHDRAW;
    cu_store_consent *last = NULL;
    size_t n = 0;
    int done;
    cu_rc rc;

    if ((rc = cu_unsubscribe_peek(v, token, out, err)) != CU_OK)
        return rc;
    if ((rc = cu_policy_for(v, out->tenant, &p, NULL, err)) != CU_OK)
        return rc;
    if ((pu = cu_policy_purpose_get(p, out->purpose)) != NULL &&
        pu->basis == CU_BASIS_LEGITIMATE_INTEREST)
        action = CU_CONSENT_OBJECT;
    cu_policy_release(v, p);
    /* Idempotent: a repeated click, a retrying mail client or a scanner replaying the POST
     * writes nothing once the newest entry for the purpose already says it (one LIMIT 1 read);
     * the answer is the same. */
    if ((rc = cu_store_consent_list(v->store, out->tenant, out->subject, out->purpose, &last, &n,
                                    err)) != CU_OK)
        return rc;
    done = n > 0 && last[0].action == (int)action;
    free(last);
    if (done)
        return CU_OK;
    /* P-CON-4: exactly that purpose, through the ledger's own path (P-CON-2, P-DSR-6). */
    return cu_consent_record(v, ctx, out->tenant, out->subject, out->purpose, action, "unsubscribe",
                             err);
}
