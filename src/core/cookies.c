/*
 * cookies.c: cookie consent (P-CON-3) in the consent ledger (P-CON-2).
 *
 * A choice is one ledger entry per category stated, of the pseudo-purpose "cookies.<category>"
 * (grant or withdraw), with the policy version in force and a fixed-vocabulary source. A known
 * subject's entries go under its id; an anonymous visitor's under visitor_subject(), a
 * pseudonymous id SHA-256 derives from the tenant and the visitor id, so the ledger (stored in
 * clear) never holds the id the site's script chose. The check reads the ledger once and
 * applies the policy: essential per its rule, a consent category only if the newest entry for
 * it grants it under the version in force, never never; Sec-GPC turns the consent categories
 * off (docs/consent.md says why all of them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "custos_consent.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "tenant_int.h"
#include "util.h"

#define LEDGER_PREFIX "cookies."

static const char *const category_names[CU_COOKIE__COUNT] = {
    [CU_COOKIE_ESSENTIAL] = "essential",
    [CU_COOKIE_ANALYTICS] = "analytics",
    [CU_COOKIE_PREFERENCE] = "preference",
    [CU_COOKIE_ADVERTISING] = "advertising",
};

/* Where a choice came from: a fixed vocabulary, never free text (P-CON-2, P-ENC-1). */
static const char *const choice_sources[] = {"banner", "settings", "gpc"};

const char *cu_cookie_category_name(cu_cookie_category c)
{
    return (unsigned)c < CU_COOKIE__COUNT ? category_names[c] : NULL;
}

int cu_cookie_category_parse(const char *s)
{
    for (int i = 0; s != NULL && i < CU_COOKIE__COUNT; i++)
        if (strcmp(s, category_names[i]) == 0)
            return i;
    return -1;
}

static int visitor_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n < CU_COOKIE_VISITOR_MIN || n > CU_COOKIE_VISITOR_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return 0;
    return 1;
}

/* The ledger's id for an anonymous visitor: 63 bits of SHA-256 over a domain label, the tenant
 * and the visitor id, never 0. Subject ids are random 63-bit ids too (cu_random_id); a
 * collision is as likely as two random subjects colliding. */
static cu_id visitor_subject(cu_id tenant, const char *visitor)
{
    uint8_t buf[16 + 8 + CU_COOKIE_VISITOR_MAX], h[CU_HASHBYTES];
    size_t n = strlen(visitor);
    cu_id id = 0;

    memcpy(buf, "custos-visitor\0\0", 16);
    for (int i = 0; i < 8; i++)
        buf[16 + i] = (uint8_t)(tenant >> (56 - 8 * i));
    memcpy(buf + 24, visitor, n);
    cu_sha256(buf, 24 + n, h);
    for (int i = 0; i < 8; i++)
        id = id << 8 | h[i];
    id &= UINT64_C(0x7fffffffffffffff);
    return id ? id : 1;
}

static void answer_rules(const cu_policy *p, cu_cookie_answer *out)
{
    for (int i = 0; i < CU_COOKIE__COUNT; i++) {
        out->rule[i] = cu_policy_cookie(p, (cu_cookie_category)i);
        out->allowed[i] = out->rule[i] == CU_COOKIE_ALWAYS;
    }
    cu_strlcpy(out->policy_version, cu_policy_version(p), sizeof(out->policy_version));
}

/* The tenant's policy in force, after its tenant checks; CU_ERR_CONFLICT without one. */
static cu_rc policy_of(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_tenant_use use,
                       cu_id subject, const cu_policy **p, cu_err *err)
{
    cu_gate g;
    cu_rc rc;

    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = use, .subject = subject},
                          &g, err)) != CU_OK)
        return rc;
    rc = cu_gate_policy(v, &g, p, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_CONFLICT, "the tenant has no policy, so no cookie rules");
    return rc;
}

cu_rc cu_cookie_rules(cu_vault *v, cu_id tenant, cu_cookie_answer *out, cu_err *err)
{
    const cu_policy *p;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = policy_of(v, NULL, tenant, CU_TENANT_USE_LIVE, 0, &p, err)) != CU_OK)
        return rc;
    answer_rules(p, out);
    cu_policy_release(v, p);
    return CU_OK;
}

/* Applies the ledger's entries (oldest first) to out: the newest entry per category counts,
 * and only if it was made under the version in force. */
static void apply_ledger(const cu_store_consent *c, size_t n, cu_cookie_answer *out)
{
    int granted[CU_COOKIE__COUNT] = {0};

    for (size_t i = 0; i < n; i++) {
        int cat;
        if (strncmp(c[i].purpose, LEDGER_PREFIX, sizeof(LEDGER_PREFIX) - 1) != 0 ||
            (cat = cu_cookie_category_parse(c[i].purpose + sizeof(LEDGER_PREFIX) - 1)) < 0)
            continue;
        if (strcmp(c[i].policy_version, out->policy_version) != 0) {
            granted[cat] = 0; /* a choice under an older version is asked again */
            continue;
        }
        out->chosen = 1;
        granted[cat] = c[i].action == CU_CONSENT_GRANT;
    }
    for (int i = 0; i < CU_COOKIE__COUNT; i++)
        if (out->rule[i] == CU_COOKIE_WITH_CONSENT)
            /* P-CON-3: only with consent; Sec-GPC turns every consent category off. */
            out->allowed[i] = granted[i] && !out->gpc;
}

cu_rc cu_cookie_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *visitor,
                      cu_id subject, cu_cookie_answer *out, cu_err *err)
{
    cu_store_consent *c = NULL;
    const cu_policy *p;
    size_t n = 0;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((visitor == NULL) == (subject == 0) || (visitor != NULL && !visitor_ok(visitor)))
        return cu_err_set(err, CU_ERR_INVALID,
                          "name a visitor (16 to 64 of A-Z a-z 0-9 - _) or a subject, not both");
    if ((rc = policy_of(v, ctx, tenant, CU_TENANT_USE_LIVE, 0, &p, err)) != CU_OK)
        return rc;
    answer_rules(p, out);
    cu_policy_release(v, p);
    out->gpc = ctx != NULL && (ctx->flags & CU_CTX_GPC) != 0;
    if (visitor != NULL)
        subject = visitor_subject(tenant, visitor);
    if ((rc = cu_store_consent_list(v->store, tenant, subject, NULL, &c, &n, err)) != CU_OK)
        return rc;
    apply_ledger(c, n, out);
    free(c);
    return CU_OK;
}

/* Validates c against the policy's rules in out: CU_OK, or the error (out->never set for a
 * grant of a category the policy never allows). */
static cu_rc choice_check(const cu_cookie_choice *c, cu_cookie_answer *out, cu_err *err)
{
    int any = 0;

    for (int i = 0; i < CU_COOKIE__COUNT; i++) {
        if (c->granted[i] < 0)
            continue;
        any = 1;
        if (i == CU_COOKIE_ESSENTIAL)
            return cu_err_set(err, CU_ERR_INVALID,
                              "essential cookies are no choice: the policy decides (P-CON-3)");
        /* P-CON-3: a category the policy says never (advertising, always) is never granted. */
        if (c->granted[i] > 0 && out->rule[i] == CU_COOKIE_NEVER) {
            out->never = i + 1;
            return cu_err_set(err, CU_ERR_INVALID,
                              "the policy never allows %s cookies: they cannot be granted",
                              category_names[i]);
        }
    }
    if (!any)
        return cu_err_set(err, CU_ERR_INVALID, "a choice names at least one category");
    return CU_OK;
}

/* Fills one ledger entry of the choice. */
static void choice_op(cu_store_op *op, cu_id tenant, cu_id subject, int cat, int grant,
                      const char *source, const char *version, int64_t now)
{
    op->type = CU_OP_CONSENT_PUT;
    op->u.consent.tenant_id = tenant;
    op->u.consent.subject_id = subject;
    snprintf(op->u.consent.purpose, sizeof(op->u.consent.purpose), LEDGER_PREFIX "%s",
             category_names[cat]);
    op->u.consent.action = grant ? CU_CONSENT_GRANT : CU_CONSENT_WITHDRAW;
    op->u.consent.at = now;
    cu_strlcpy(op->u.consent.source, source, sizeof(op->u.consent.source));
    cu_strlcpy(op->u.consent.policy_version, version, sizeof(op->u.consent.policy_version));
}

static int source_ok(const char *s)
{
    for (size_t i = 0; i < CU_ARRAY_LEN(choice_sources); i++)
        if (strcmp(s, choice_sources[i]) == 0)
            return 1;
    return 0;
}

cu_rc cu_cookie_choose(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_cookie_choice *c,
                       cu_cookie_answer *out, cu_err *err)
{
    cu_store_op ops[CU_COOKIE__COUNT];
    const char *source = c->source ? c->source : "banner";
    const cu_policy *p;
    cu_id subject = c->subject;
    int gpc = ctx != NULL && (ctx->flags & CU_CTX_GPC) != 0;
    int64_t now = cu_clock_now();
    cu_audit_in a;
    size_t n = 0;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    memset(ops, 0, sizeof(ops));
    if ((c->visitor == NULL) == (c->subject == 0) || (c->visitor && !visitor_ok(c->visitor)))
        return cu_err_set(err, CU_ERR_INVALID,
                          "name a visitor (16 to 64 of A-Z a-z 0-9 - _) or a subject, not both");
    if (!source_ok(source))
        return cu_err_set(err, CU_ERR_INVALID, "source must be one of banner, settings, gpc");
    if ((rc = policy_of(v, ctx, tenant, CU_TENANT_USE_WRITE, c->subject, &p, err)) != CU_OK)
        return rc;
    answer_rules(p, out);
    cu_policy_release(v, p);
    if ((rc = choice_check(c, out, err)) != CU_OK)
        return rc;
    if (c->visitor != NULL)
        subject = visitor_subject(tenant, c->visitor);
    for (int i = CU_COOKIE_ANALYTICS; i < CU_COOKIE__COUNT; i++) {
        if (c->granted[i] < 0)
            continue;
        /* Sec-GPC on the choice: what it turns off is recorded as refused, from "gpc". */
        int off = gpc && c->granted[i] > 0 && out->rule[i] == CU_COOKIE_WITH_CONSENT;
        choice_op(&ops[n++], tenant, subject, i, c->granted[i] > 0 && !off, off ? "gpc" : source,
                  out->policy_version, now);
    }
    if (c->visitor != NULL)
        cu_audit_in_set(&a, tenant, "cookies.choose", "visitor:%s", source);
    else
        cu_audit_in_set(&a, tenant, "cookies.choose", "subject:%llu:%s",
                        (unsigned long long)subject, source);
    if ((rc = cu_commit(v, ctx, ops, n, &a, 1, err)) != CU_OK)
        return rc;
    /* The answer covers every category, this choice's and earlier ones'. */
    return cu_cookie_check(v, ctx, tenant, c->visitor, c->visitor ? 0 : c->subject, out, err);
}
