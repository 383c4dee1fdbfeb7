/*
 * portal.c: the data subject's privacy center (issue 15; custos_portal.h, docs/portal.md).
 *
 * A token is base64url of: kind (1 byte: a link or a session) | tenant (8) | subject (8) |
 * expiry, unix seconds (8) | issuer (1 + 8: the kind and id of the key or user that asked for
 * the link, which a session keeps) | HMAC-SHA-256 of all that (32): 66 bytes, 88 characters.
 * The MAC key is derived with HKDF from the tenant's index key under its own label (as
 * unsubscribe.c's links are, under theirs), kept nowhere and wiped after use: only this vault
 * makes tokens, a link is never a session nor the reverse (the kind is MACed), and a tenant's
 * shredding kills both. Any flaw answers alike (P-ISO-1): a visitor without a valid link learns
 * nothing about whether a subject exists.
 *
 * What the subject then does goes through the core's own paths: the consent ledger
 * (cu_consent_record), the request flow (cu_request_file_verified, request_int.h, which only
 * this file calls), the request's export (cu_request_export_open).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "custos_portal.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "policy_version_int.h"
#include "purpose_int.h"
#include "request_int.h"
#include "store_portal.h"
#include "tenant_int.h"
#include "util.h"

#define KIND_LINK 1
#define KIND_SESSION 2
#define HEAD_LEN (1 + 8 + 8 + 8 + 1 + 8)
/* The issuer's kind byte: its cu_principal_kind, ISSUER_OPERATOR added for platform staff. */
#define ISSUER_OPERATOR 0x10
#define MAC_LEN CU_HASHBYTES
#define RAW_LEN (HEAD_LEN + MAC_LEN)

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

/* HMAC-SHA-256 of msg under the tenant's portal key. From the index key, not the tenant key,
 * for the reason unsubscribe.c gives: a tenant key rotation leaves the links working. */
static cu_rc portal_mac(cu_vault *v, cu_id tenant, const uint8_t *msg, size_t n,
                        uint8_t mac[MAC_LEN], cu_err *err)
{
    static const char info[] = "custos portal token v1";
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
        return cu_err_set(err, rc, "could not derive the portal key");
    }
    cu_hmac_sha256(k, sizeof(k), msg, n, mac);
    cu_wipe(k, sizeof(k));
    return CU_OK;
}

/* The link's issuer, as a token carries it. */
typedef struct issuer {
    uint8_t kind; /* cu_principal_kind | ISSUER_OPERATOR; 0: the library's own caller (CLI) */
    cu_id id;
} issuer;

/* Writes a token of kind for tenant and subject, issued by by, expiring at expires. */
static cu_rc token_make(cu_vault *v, int kind, cu_id tenant, cu_id subject, int64_t expires,
                        const issuer *by, char out[CU_PORTAL_TOKEN_MAX], cu_err *err)
{
    uint8_t raw[RAW_LEN];
    cu_rc rc;

    raw[0] = (uint8_t)kind;
    put_be(raw + 1, tenant, 8);
    put_be(raw + 9, subject, 8);
    put_be(raw + 17, (uint64_t)expires, 8);
    raw[25] = by->kind;
    put_be(raw + 26, by->id, 8);
    if ((rc = portal_mac(v, tenant, raw, HEAD_LEN, raw + HEAD_LEN, err)) != CU_OK)
        return rc;
    rc = cu_b64_encode(raw, sizeof(raw), out, CU_PORTAL_TOKEN_MAX);
    /* base64url without padding: the token travels in a URL fragment and a cookie. */
    for (char *p = out; rc == CU_OK && *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
        else if (*p == '=')
            *p = '\0';
    }
    if (rc != CU_OK)
        out[0] = '\0';
    return rc == CU_OK ? CU_OK : cu_err_set(err, rc, "token too long");
}

/* Opens a token of kind: its tenant, subject and issuer; 0, or -1 for any flaw at all. The time
 * a forged token takes depends on whether its tenant exists (no key to derive else): tenant ids
 * are not secret (banner.js names them), so that tells nothing (review-portal2 12). */
static int token_open(cu_vault *v, int kind, const char *tok, cu_id *tenant, cu_id *subject,
                      issuer *by)
{
    char buf[CU_PORTAL_TOKEN_MAX + 4];
    uint8_t raw[RAW_LEN + 3], mac[MAC_LEN];
    size_t len = tok ? strlen(tok) : 0, n = 0;
    cu_err ignored = {0};
    int64_t expires;
    int rc = -1;

    *tenant = *subject = 0;
    if (len == 0 || len >= CU_PORTAL_TOKEN_MAX || len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = tok[i];
        if (c == '+' || c == '/' || c == '=')
            goto out; /* one spelling per token */
        buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (len % 4)
        buf[len++] = '=';
    if (cu_b64_decode(buf, len, raw, sizeof(raw), &n) != CU_OK || n != RAW_LEN || raw[0] != kind)
        goto out;
    *tenant = get_be(raw + 1, 8);
    *subject = get_be(raw + 9, 8);
    expires = (int64_t)get_be(raw + 17, 8);
    by->kind = raw[25];
    by->id = get_be(raw + 26, 8);
    /* P-ISO-1: a tenant without its key, a wrong MAC and a past expiry answer alike. */
    if (*tenant == 0 || *subject == 0 ||
        portal_mac(v, *tenant, raw, HEAD_LEN, mac, &ignored) != CU_OK ||
        !cu_ct_equal(mac, raw + HEAD_LEN, MAC_LEN) || expires <= cu_clock_now()) {
        *tenant = *subject = 0;
        goto out;
    }
    rc = 0;
out:
    /* A copy of a bearer token and its MAC: not left on the stack (review-merged2 4). */
    cu_wipe(buf, sizeof(buf));
    cu_wipe(raw, sizeof(raw));
    cu_wipe(mac, sizeof(mac));
    return rc;
}

static void subject_principal(cu_id tenant, cu_id subject, cu_principal *who)
{
    memset(who, 0, sizeof(*who));
    who->kind = CU_PRINCIPAL_SUBJECT;
    who->id = subject;
    who->tenant_id = tenant;
    who->role = CU_ROLE_SUBJECT;
}

/* "key:12", "operator:key:3", "user:45" (the audit log's actor form), "cli" for kind 0. */
static void issuer_name(const issuer *by, char *out, size_t cap)
{
    int k = by->kind & ~ISSUER_OPERATOR;

    if (k != CU_PRINCIPAL_APIKEY && k != CU_PRINCIPAL_USER) {
        snprintf(out, cap, "cli");
        return;
    }
    snprintf(out, cap, "%s%s:%llu", by->kind & ISSUER_OPERATOR ? "operator:" : "",
             k == CU_PRINCIPAL_APIKEY ? "key" : "user", (unsigned long long)by->id);
}

cu_rc cu_portal_link(cu_vault *v, const cu_ctx *ctx, const cu_principal *who, cu_id tenant,
                     cu_id subject, char token[CU_PORTAL_TOKEN_MAX], int64_t *expires,
                     cu_err *err)
{
    issuer by = {0};
    cu_audit_in a;
    cu_rc rc;

    token[0] = '\0';
    /* P-AUD-1: who asked for the link travels in it, to the session and its audit entry. */
    if (who != NULL && (who->kind == CU_PRINCIPAL_APIKEY || who->kind == CU_PRINCIPAL_USER)) {
        by.kind = (uint8_t)(who->kind | (who->role == CU_ROLE_OPERATOR ? ISSUER_OPERATOR : 0));
        by.id = who->id;
    }
    *expires = cu_clock_now() + CU_PORTAL_LINK_TTL;
    if ((rc = cu_preamble(
             v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_LIVE, .subject = subject},
             NULL, err)) != CU_OK ||
        (rc = token_make(v, KIND_LINK, tenant, subject, *expires, &by, token, err)) != CU_OK)
        return rc;
    cu_audit_in_set(&a, tenant, "portal.link", "subject:%llu", (unsigned long long)subject);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        cu_wipe(token, CU_PORTAL_TOKEN_MAX);
    return rc;
}

cu_rc cu_portal_session(cu_vault *v, const cu_ctx *ctx, const char *link,
                        char session[CU_PORTAL_TOKEN_MAX], cu_principal *who, int64_t *expires,
                        cu_err *err)
{
    cu_ctx sc = ctx ? *ctx : (cu_ctx){0};
    cu_id tenant = 0, subject = 0;
    char actor[32], by_name[48];
    cu_err ignored = {0};
    issuer by = {0};
    cu_audit_in a;
    cu_rc rc;

    session[0] = '\0';
    memset(who, 0, sizeof(*who));
    *expires = cu_clock_now() + CU_PORTAL_SESSION_TTL;
    /* One answer for every flaw, the subject's absence included (P-ISO-1). */
    if (token_open(v, KIND_LINK, link, &tenant, &subject, &by) != 0 ||
        cu_preamble(v, ctx,
                    &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_LIVE, .subject = subject},
                    NULL, &ignored) != CU_OK)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "not found");
    if ((rc = token_make(v, KIND_SESSION, tenant, subject, *expires, &by, session, err)) != CU_OK)
        return rc;
    /* P-AUD-1: the subject opened it (the exchange itself needs no credential, so the router
     * knows no actor), with the link that its issuer asked for. */
    snprintf(actor, sizeof(actor), "subject:%llu", (unsigned long long)subject);
    sc.actor = actor;
    issuer_name(&by, by_name, sizeof(by_name));
    cu_audit_in_set(&a, tenant, "portal.session", "subject:%llu:by:%s",
                    (unsigned long long)subject, by_name);
    if ((rc = cu_commit(v, &sc, NULL, 0, &a, 1, err)) != CU_OK) {
        cu_wipe(session, CU_PORTAL_TOKEN_MAX);
        return rc;
    }
    subject_principal(tenant, subject, who);
    return CU_OK;
}

cu_rc cu_portal_auth(cu_vault *v, const char *session, cu_principal *who, cu_err *err)
{
    cu_id tenant = 0, subject = 0;
    cu_err ignored = {0};
    issuer by;

    memset(who, 0, sizeof(*who));
    /* The subject must still exist: its erasure ends its sessions too. */
    if (token_open(v, KIND_SESSION, session, &tenant, &subject, &by) != 0 ||
        cu_preamble(v, NULL,
                    &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_LIVE, .subject = subject},
                    NULL, &ignored) != CU_OK)
        return cu_err_set(err, CU_ERR_AUTH, "no valid portal session");
    subject_principal(tenant, subject, who);
    return CU_OK;
}

/* --- the subject's view ------------------------------------------------------------------ */

static const char *const stance_names[] = {
    [CU_PORTAL_NONE] = "none",           [CU_PORTAL_GRANTED] = "granted",
    [CU_PORTAL_WITHDRAWN] = "withdrawn", [CU_PORTAL_OBJECTED] = "objected",
    [CU_PORTAL_ALLOWED] = "allowed",     [CU_PORTAL_RENEW] = "renew",
};

const char *cu_portal_stance_name(cu_portal_stance s)
{
    return (unsigned)s < CU_ARRAY_LEN(stance_names) ? stance_names[s] : "?";
}

/* What withdrawing means, by legal basis (P-CON-1, P-DSR-6): said to the subject before it
 * acts. */
static const char *withdraw_means(cu_legal_basis b)
{
    switch (b) {
    case CU_BASIS_CONSENT:
        return "Withdrawing stops this use of your data from now on; what was done before stays "
               "lawful. You can give consent again at any time.";
    case CU_BASIS_LEGITIMATE_INTEREST:
        return "Objecting stops this use of your data from now on. Only this purpose stops; "
               "everything else stays as it is.";
    case CU_BASIS_CONTRACT:
        return "It cannot be withdrawn here: the service needs it to do what you asked of it. "
               "You can ask for your data to be erased instead.";
    default:
        return "Required by law: it cannot be withdrawn.";
    }
}

static cu_portal_stance stance_of(int action)
{
    switch (action) {
    case CU_CONSENT_GRANT: return CU_PORTAL_GRANTED;
    case CU_CONSENT_WITHDRAW: return CU_PORTAL_WITHDRAWN;
    case CU_CONSENT_OBJECT: return CU_PORTAL_OBJECTED;
    case CU_CONSENT_WITHDRAW_OBJECTION: return CU_PORTAL_ALLOWED;
    default: return CU_PORTAL_NONE;
    }
}

/* Fills out[i] from the policy's purposes and the ledger (oldest entry first: the last wins).
 * A grant older than the version in force's call for fresh consent is shown as to be given
 * again: the gate no longer counts it (P-NOT-2, purpose.c's check_subject), so neither does the
 * page. */
static void consents_fill(const cu_policy *p, const cu_store_consent *c, size_t cnt,
                          cu_portal_consent *out)
{
    for (size_t i = 0; i < cu_policy_purpose_count(p); i++) {
        const cu_policy_purpose *pu = cu_policy_purpose_at(p, i);
        cu_portal_consent *o = &out[i];
        cu_strlcpy(o->purpose, pu->name, sizeof(o->purpose));
        cu_strlcpy(o->data_use, pu->data_use, sizeof(o->data_use));
        cu_strlcpy(o->description, pu->description ? pu->description : "",
                   sizeof(o->description));
        o->basis = pu->basis;
        o->withdraw = withdraw_means(pu->basis);
        o->can_change =
            pu->basis == CU_BASIS_CONSENT || pu->basis == CU_BASIS_LEGITIMATE_INTEREST;
        for (size_t j = 0; j < cnt; j++)
            if (strcmp(c[j].purpose, pu->name) == 0) {
                o->stance = stance_of(c[j].action);
                o->at = c[j].at;
            }
        if (pu->basis == CU_BASIS_CONSENT && o->stance == CU_PORTAL_GRANTED &&
            o->at < cu_policy_fresh_since(p, pu))
            o->stance = CU_PORTAL_RENEW;
    }
}

cu_rc cu_portal_consents(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                         cu_portal_consent **out, size_t *n, cu_err *err)
{
    cu_store_consent *c = NULL;
    const cu_policy *p = NULL;
    size_t cnt = 0;
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_preamble(
             v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_LIVE, .subject = subject},
             &g, err)) != CU_OK)
        return rc;
    if ((rc = cu_gate_policy(v, &g, &p, err)) == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_CONFLICT, "the tenant has no policy");
    if (rc != CU_OK)
        return rc;
    if ((rc = cu_store_consent_list(v->store, tenant, subject, NULL, &c, &cnt, err)) != CU_OK)
        goto out;
    if ((*out = calloc(cu_policy_purpose_count(p) + 1, sizeof(**out))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    consents_fill(p, c, cnt, *out);
    *n = cu_policy_purpose_count(p);
    /* The subject reading its own ledger, on the log like any read of it. */
    cu_audit_in_set(&a, tenant, "portal.consents", "subject:%llu", (unsigned long long)subject);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
out:
    free(c);
    cu_policy_release(v, p);
    return rc;
}

/* P-DSR-8: where the tenant is a processor, a withdrawal or an objection from a card is the
 * subject's request, like one filed from the form: it waits for the controller's approval and
 * is carried out by the request's completion (request.c's carry_out). A grant, or an objection
 * withdrawn, asks for no right of the subject against the controller: the ledger takes it at
 * once, as the tenant's own API records it. A purpose of the wrong basis or none goes to the
 * ledger's path, which refuses it with its own error. */
cu_rc cu_portal_consent_change(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                               const char *purpose, cu_consent_action action,
                               cu_portal_change *out, cu_err *err)
{
    const cu_policy_purpose *pu;
    const cu_policy *p = NULL;
    int routed = 0;
    cu_gate g;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if (action == CU_CONSENT_WITHDRAW || action == CU_CONSENT_OBJECT) {
        if ((rc = cu_preamble(v, ctx,
                              &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE,
                                           .subject = subject},
                              &g, err)) != CU_OK)
            return rc;
        if ((rc = cu_gate_policy(v, &g, &p, err)) != CU_OK && rc != CU_ERR_NOT_FOUND)
            return rc;
        if (rc == CU_OK) {
            pu = cu_policy_purpose_get(p, purpose);
            routed = cu_policy_role(p) == CU_DATA_PROCESSOR && pu != NULL &&
                     pu->basis == (action == CU_CONSENT_WITHDRAW ? CU_BASIS_CONSENT
                                                                 : CU_BASIS_LEGITIMATE_INTEREST);
            cu_policy_release(v, p);
        }
    }
    if (!routed)
        return cu_consent_record(v, ctx, tenant, subject, purpose, action, "web", err);
    out->routed = 1;
    return cu_portal_request_file(
        v, ctx, tenant, subject,
        action == CU_CONSENT_WITHDRAW ? CU_REQ_WITHDRAW_CONSENT : CU_REQ_OBJECT, purpose,
        &out->filed, &out->open, err);
}

/* The subject's requests from the store, by its key (store_portal.h): the subject's own rows,
 * never the tenant's whole list; in the API's view at now, oldest first. */
static cu_rc subject_requests(cu_vault *v, cu_id tenant, cu_id subject, cu_request **out,
                              size_t *n, cu_err *err)
{
    cu_store_request *rows = NULL;
    int64_t now = cu_clock_now();
    size_t cnt = 0;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_store_request_list_subject(v->store, tenant, subject, &rows, &cnt, err)) != CU_OK)
        return rc;
    if ((*out = calloc(cnt ? cnt : 1, sizeof(**out))) == NULL) {
        free(rows);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++)
        cu_request_public(&rows[i], now, &(*out)[i]);
    free(rows);
    *n = cnt;
    return CU_OK;
}

cu_rc cu_portal_requests(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                         cu_request **out, size_t *n, cu_err *err)
{
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_preamble(
             v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_LIVE, .subject = subject},
             NULL, err)) != CU_OK ||
        (rc = subject_requests(v, tenant, subject, out, n, err)) != CU_OK)
        return rc;
    for (size_t i = 0; i < *n / 2; i++) { /* newest first */
        cu_request t = (*out)[i];
        (*out)[i] = (*out)[*n - 1 - i];
        (*out)[*n - 1 - i] = t;
    }
    return CU_OK;
}

/* A new request of the subject's is refused while one of the same type (and purpose, for an
 * objection or a withdrawal) is open, or CU_PORTAL_OPEN_MAX of any type are: one session must
 * not fill the officer's queue with duplicates, each with its deadlines (P-DSR-7). *open gets
 * the open request of the same kind, or for the cap the newest open one: non-zero exactly when
 * this refused. */
static cu_rc open_check(cu_vault *v, cu_id tenant, cu_id subject, cu_request_type type,
                        const char *purpose, cu_id *open, cu_err *err)
{
    cu_request *list = NULL;
    size_t n = 0, k = 0;
    cu_id last = 0;
    cu_rc rc = subject_requests(v, tenant, subject, &list, &n, err);

    for (size_t i = 0; rc == CU_OK && i < n; i++) {
        if (!list[i].open)
            continue;
        k++;
        last = list[i].id;
        if (list[i].type == type && strcmp(list[i].purpose, purpose ? purpose : "") == 0) {
            *open = list[i].id;
            rc = cu_err_set(err, CU_ERR_CONFLICT, "you already have an open %s request",
                            cu_request_type_name(type));
        }
    }
    if (rc == CU_OK && k >= CU_PORTAL_OPEN_MAX) {
        *open = last;
        rc = cu_err_set(err, CU_ERR_CONFLICT, "you already have %zu open requests", k);
    }
    free(list);
    return rc;
}

cu_rc cu_portal_request_file(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             cu_request_type type, const char *purpose, cu_request_filed *out,
                             cu_id *open, cu_err *err)
{
    cu_request_in in = {.type = type, .filer = CU_REQ_BY_SUBJECT, .subject = subject,
                        .purpose = purpose};
    cu_rc rc;

    *open = 0;
    memset(out, 0, sizeof(*out));
    if ((rc = cu_preamble(
             v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE, .subject = subject},
             NULL, err)) != CU_OK ||
        (rc = open_check(v, tenant, subject, type, purpose, open, err)) != CU_OK)
        return rc;
    return cu_request_file_verified(v, ctx, tenant, &in, out, err);
}

cu_rc cu_portal_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                            cu_id request, const char *format, cu_subject_export **out,
                            cu_err *err)
{
    cu_request q;
    cu_rc rc;

    *out = NULL;
    if ((rc = cu_request_get(v, ctx, tenant, request, &q, err)) != CU_OK)
        return rc;
    /* P-ISO-1: another subject's request is a request that does not exist. */
    if (q.subject_id != subject)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "not found");
    return cu_request_export_open(v, ctx, tenant, request, format, out, err);
}
