/*
 * cookies.c: cookie consent (P-CON-3) in the consent ledger (P-CON-2).
 *
 * A choice is one ledger entry per category stated, of the pseudo-purpose "cookies.<category>"
 * (grant or withdraw), with the policy version in force and a fixed-vocabulary source. A known
 * subject's entries go under its id; an anonymous visitor's under visitor_subject(), a
 * pseudonymous id keyed by the tenant's index key, so the ledger (stored in clear) never holds
 * the id the site's script chose, nor anything one can test a guess against without the key. Entries are stamped "<label>#<n>", n the
 * store's number of the policy version in force (as unsubscribe links are), since a tenant can
 * bind a changed policy under the same `version:` label. The check reads the newest entry per
 * category (a choice repeating it writes nothing) and applies the policy: essential per its
 * rule, a consent category only if that entry grants it under the version in force (same
 * stamp), never never; Sec-GPC turns the consent categories off (docs/consent.md says why).
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

/* The ledger's id for an anonymous visitor: 63 bits of a blind index (HMAC-SHA-256) of the
 * visitor id under the tenant's index key, never 0. Keyed, so whoever holds the database
 * cannot test guessed visitor ids offline, and a shredded tenant's rows can no longer be
 * linked to cookie values; the index key is the one key rotation never replaces (it only
 * rewraps it, as blind indexes and unsubscribe links need), so a visitor keeps its entries
 * across a rotation. Subject ids are random 63-bit ids too (cu_random_id); a collision is as
 * likely as two random subjects colliding. */
static cu_rc visitor_subject(cu_vault *v, cu_id tenant, const char *visitor, cu_id *out,
                             cu_err *err)
{
    uint8_t h[CU_BLINDBYTES];
    cu_id id = 0;
    cu_key ik;
    cu_rc rc;

    if ((rc = cu_keys_child(v, tenant, CU_KEY_INDEX, 0, &ik, err)) != CU_OK)
        return rc;
    cu_blind_index(ik.k, "cookies.visitor", (const uint8_t *)visitor, strlen(visitor), h);
    cu_key_wipe(&ik);
    for (int i = 0; i < 8; i++)
        id = id << 8 | h[i];
    cu_wipe(h, sizeof(h));
    id &= UINT64_C(0x7fffffffffffffff);
    *out = id ? id : 1;
    return CU_OK;
}

static void answer_rules(const cu_policy *p, unsigned number, cu_cookie_answer *out)
{
    for (int i = 0; i < CU_COOKIE__COUNT; i++) {
        out->rule[i] = cu_policy_cookie(p, (cu_cookie_category)i);
        out->allowed[i] = out->rule[i] == CU_COOKIE_ALWAYS;
    }
    cu_strlcpy(out->policy_version, cu_policy_version(p), sizeof(out->policy_version));
    snprintf(out->policy_stamp, sizeof(out->policy_stamp), "%.50s#%u", out->policy_version,
             number);
}

/* The tenant's policy in force and its store number, after its tenant checks;
 * CU_ERR_CONFLICT without one. */
static cu_rc policy_of(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_tenant_use use,
                       cu_id subject, const cu_policy **p, unsigned *number, cu_err *err)
{
    cu_gate g;
    cu_rc rc;

    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = use, .subject = subject},
                          &g, err)) != CU_OK)
        return rc;
    rc = cu_policy_current(v, tenant, g.policy_version, p, number, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_CONFLICT, "the tenant has no policy, so no cookie rules");
    return rc;
}

cu_rc cu_cookie_rules(cu_vault *v, cu_id tenant, cu_cookie_answer *out, cu_err *err)
{
    const cu_policy *p;
    unsigned number = 0;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = policy_of(v, NULL, tenant, CU_TENANT_USE_LIVE, 0, &p, &number, err)) != CU_OK)
        return rc;
    answer_rules(p, number, out);
    cu_policy_release(v, p);
    return CU_OK;
}

/* The newest ledger entry of subject for category cat: its action if it was made under the
 * version in force (stamp), -1 if none or an older version's (that one is asked again). One
 * indexed LIMIT 1 read (the store's newest-entry-per-purpose), so the cost does not grow with
 * the ledger (review of P-CON-3). */
static cu_rc newest(cu_vault *v, cu_id tenant, cu_id subject, int cat, const char *stamp,
                    int *action, cu_err *err)
{
    char purpose[32];
    cu_store_consent *c = NULL;
    size_t n = 0;
    cu_rc rc;

    *action = -1;
    snprintf(purpose, sizeof(purpose), LEDGER_PREFIX "%s", category_names[cat]);
    if ((rc = cu_store_consent_list(v->store, tenant, subject, purpose, &c, &n, err)) != CU_OK)
        return rc;
    if (n > 0 && strcmp(c[0].policy_version, stamp) == 0)
        *action = c[0].action;
    free(c);
    return CU_OK;
}

/* Applies the newest entry per category to out: a consent category is allowed only if that
 * entry, under the version in force, grants it. */
static cu_rc apply_ledger(cu_vault *v, cu_id tenant, cu_id subject, cu_cookie_answer *out,
                          cu_err *err)
{
    for (int i = CU_COOKIE_ANALYTICS; i < CU_COOKIE__COUNT; i++) {
        int action;
        cu_rc rc = newest(v, tenant, subject, i, out->policy_stamp, &action, err);
        if (rc != CU_OK)
            return rc;
        if (action >= 0)
            out->chosen = 1;
        if (out->rule[i] == CU_COOKIE_WITH_CONSENT)
            /* P-CON-3: only with consent; Sec-GPC turns every consent category off. */
            out->allowed[i] = action == CU_CONSENT_GRANT && !out->gpc;
    }
    return CU_OK;
}

cu_rc cu_cookie_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *visitor,
                      cu_id subject, cu_cookie_answer *out, cu_err *err)
{
    const cu_policy *p;
    unsigned number = 0;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((visitor == NULL) == (subject == 0) || (visitor != NULL && !visitor_ok(visitor)))
        return cu_err_set(err, CU_ERR_INVALID,
                          "name a visitor (16 to 64 of A-Z a-z 0-9 - _) or a subject, not both");
    /* A named subject is looked up: one that does not exist (here) is 404, as on every other
     * subject route. */
    if ((rc = policy_of(v, ctx, tenant, CU_TENANT_USE_LIVE, visitor ? 0 : subject, &p, &number,
                        err)) != CU_OK)
        return rc;
    answer_rules(p, number, out);
    cu_policy_release(v, p);
    out->gpc = ctx != NULL && (ctx->flags & CU_CTX_GPC) != 0;
    if (visitor != NULL && (rc = visitor_subject(v, tenant, visitor, &subject, err)) != CU_OK)
        return rc;
    return apply_ledger(v, tenant, subject, out, err);
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
    unsigned number = 0;
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
    /* GPC is only ever an opt-out: a grant "from gpc" would misstate why consent exists. */
    for (int i = 0; strcmp(source, "gpc") == 0 && i < CU_COOKIE__COUNT; i++)
        if (c->granted[i] > 0)
            return cu_err_set(err, CU_ERR_INVALID,
                              "source gpc can only refuse: Global Privacy Control grants nothing");
    if ((rc = policy_of(v, ctx, tenant, CU_TENANT_USE_WRITE, c->subject, &p, &number, err)) !=
        CU_OK)
        return rc;
    answer_rules(p, number, out);
    cu_policy_release(v, p);
    if ((rc = choice_check(c, out, err)) != CU_OK)
        return rc;
    if (c->visitor != NULL &&
        (rc = visitor_subject(v, tenant, c->visitor, &subject, err)) != CU_OK)
        return rc;
    for (int i = CU_COOKIE_ANALYTICS; i < CU_COOKIE__COUNT; i++) {
        int had;
        if (c->granted[i] < 0)
            continue;
        /* Sec-GPC on the choice: what it turns off is recorded as refused, from "gpc". */
        int off = gpc && c->granted[i] > 0 && out->rule[i] == CU_COOKIE_WITH_CONSENT;
        int grant = c->granted[i] > 0 && !off;
        /* Idempotent: the newest entry under this version already says it, so a replayed
         * choice adds nothing to the ledger or the log. */
        if ((rc = newest(v, tenant, subject, i, out->policy_stamp, &had, err)) != CU_OK)
            return rc;
        if (had == (grant ? CU_CONSENT_GRANT : CU_CONSENT_WITHDRAW))
            continue;
        choice_op(&ops[n++], tenant, subject, i, grant, off ? "gpc" : source, out->policy_stamp,
                  now);
    }
    if (n == 0) /* nothing new: the same answer, nothing written */
        return cu_cookie_check(v, ctx, tenant, c->visitor, c->visitor ? 0 : c->subject, out, err);
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
