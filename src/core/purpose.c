/*
 * purpose.c: whether a request's purpose reaches the data it touches, and the preamble every
 * operation on personal data shares (purpose_int.h).
 *
 * Every operation on personal data names a purpose (cu_ctx.purpose). With a policy bound to
 * the tenant, that purpose must be one of the policy's (P-CON-1), platform staff may state only
 * the policy's operator purposes (P-ACC-4), the purpose must cover the data category of the
 * collection touched, a consent-based purpose needs the subject's consent in the ledger, an
 * objection stops a legitimate-interest purpose (P-DSR-6), a restricted subject is processed
 * only for legal obligations and its own access (P-DSR-5), and a request carrying Sec-GPC: 1
 * opts out of sale and sharing purposes. A tenant without a policy keeps a purpose header and,
 * for platform staff, the fixed list of staff_purposes. The whole of P-ACC-4 is decided here
 * (cu_staff_purpose_check): the API and the CLI only state who acts and why.
 *
 * The policy comes from the cache at the version the preamble read in the tenant row.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_cache_int.h"
#include "policy_version_int.h"
#include "purpose_int.h"
#include "tenant_int.h"
#include "util.h"

/* P-ACC-4: what platform staff may state for a tenant without a policy (with one, the
 * policy's operator purposes). */
static const char *const staff_purposes[] = {
    "support", "investigation", "monitoring", "patch_validation", "legal",
};

/* P-ACC-4 for a tenant with policy p (NULL: none): CU_OK if staff may state purpose name. */
static cu_rc staff_purpose_ok(const cu_policy *p, const char *name, cu_err *err)
{
    if (p == NULL) {
        for (size_t i = 0; i < CU_ARRAY_LEN(staff_purposes); i++)
            if (strcmp(name, staff_purposes[i]) == 0)
                return CU_OK;
        return cu_err_set(err, CU_ERR_FORBIDDEN,
                          "platform staff reach tenant data only for support, investigation, "
                          "monitoring, patch_validation or legal");
    }
    /* The built-in purposes are the subject's and the customer's own, never staff's. */
    if (strcmp(name, CU_PURPOSE_SUBJECT_ACCESS) != 0 && strcmp(name, CU_PURPOSE_EXPORT) != 0 &&
        cu_policy_purpose_get(p, name) == NULL)
        return cu_err_set(err, CU_ERR_UNKNOWN_PURPOSE,
                          "the tenant's policy declares no purpose \"%.64s\"", name);
    if (cu_policy_operator_purpose(p, name) == NULL)
        return cu_err_set(err, CU_ERR_FORBIDDEN,
                          "platform staff may state only the policy's operator purposes");
    return CU_OK;
}

/* P-ACC-4 at the tenant's policy version current. */
static cu_rc staff_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned current,
                         cu_err *err)
{
    const cu_policy *p = NULL;
    cu_rc rc;

    if (ctx == NULL || !(ctx->flags & CU_CTX_OPERATOR))
        return CU_OK;
    if (ctx->purpose == NULL)
        return cu_err_set(err, CU_ERR_FORBIDDEN,
                          "platform staff reach tenant data only for a stated purpose");
    rc = cu_policy_current(v, tenant, current, &p, NULL, err);
    if (rc != CU_OK && rc != CU_ERR_NOT_FOUND)
        return rc;
    rc = staff_purpose_ok(rc == CU_OK ? p : NULL, ctx->purpose, err);
    cu_policy_release(v, p);
    return rc;
}

cu_rc cu_staff_purpose_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err)
{
    cu_store_tenant st;
    cu_rc rc;

    if (ctx == NULL || !(ctx->flags & CU_CTX_OPERATOR))
        return CU_OK;
    /* A missing tenant has no policy: the fixed list applies (the caller refuses it later). */
    if ((rc = cu_tenant_row(v, tenant, &st, err)) == CU_ERR_NOT_FOUND)
        st.policy_version = 0;
    else if (rc != CU_OK)
        return rc;
    return staff_check(v, ctx, tenant, st.policy_version, err);
}

/* P-SHR-1, P-DSR-6: sale and sharing, which Global Privacy Control opts out of: fideslang's
 * third-party sharing and advertising uses, unless the law requires the disclosure. */
static int sale_or_sharing(const cu_policy_purpose *pu)
{
    if (pu->basis == CU_BASIS_LEGAL_OBLIGATION || pu->data_use == NULL)
        return 0;
    return strncmp(pu->data_use, "third_party_sharing", 19) == 0 ||
           strncmp(pu->data_use, "marketing.advertising", 21) == 0;
}

/* The subject's newest ledger action for purpose, 0 if none, and when it was taken. */
static cu_rc last_action(cu_vault *v, cu_id tenant, cu_id subject, const char *purpose, int *action,
                         int64_t *at, cu_err *err)
{
    cu_store_consent *c = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_consent_list(v->store, tenant, subject, purpose, &c, &n, err);

    *action = rc == CU_OK && n > 0 ? c[0].action : 0;
    *at = rc == CU_OK && n > 0 ? c[0].at : 0;
    free(c);
    return rc;
}

/* The rules that depend on the subject: restriction, consent, objection. */
static cu_rc check_subject(cu_vault *v, const cu_policy *p, cu_id tenant, cu_id subject,
                           const cu_policy_purpose *pu, cu_err *err)
{
    int action = 0, restricted = 0;
    int64_t at = 0;
    cu_rc rc = cu_store_subject_state(v->store, tenant, subject, &restricted, NULL, err);

    if (rc != CU_OK)
        return rc;
    /* P-DSR-5: kept, not processed, but for legal obligations (and the subject's own access,
     * which never reaches here). */
    if (restricted && pu->basis != CU_BASIS_LEGAL_OBLIGATION)
        return cu_err_set(err, CU_ERR_RESTRICTED,
                          "the subject's processing is restricted: only purposes of legal "
                          "obligation and the subject's own access may reach its data");
    if (pu->basis != CU_BASIS_CONSENT && pu->basis != CU_BASIS_LEGITIMATE_INTEREST)
        return CU_OK;
    if ((rc = last_action(v, tenant, subject, pu->name, &action, &at, err)) != CU_OK)
        return rc;
    /* P-NOT-2: a consent given before the version in force changed the purpose's terms (where
     * fresh consent is asked) no longer counts. */
    if (pu->basis == CU_BASIS_CONSENT && action == CU_CONSENT_GRANT &&
        at < cu_policy_fresh_since(p, pu))
        return cu_err_set(err, CU_ERR_CONSENT_REQUIRED,
                          "purpose \"%s\" changed its terms in the policy in force: the "
                          "subject's consent, given before, must be given again (P-NOT-2)",
                          pu->name);
    /* P-CON-1, P-DSR-6: no consent (or a withdrawn one), no processing. */
    if (pu->basis == CU_BASIS_CONSENT && action != CU_CONSENT_GRANT)
        return cu_err_set(err, CU_ERR_CONSENT_REQUIRED,
                          "purpose \"%s\" is based on consent, which the subject has %s", pu->name,
                          action == CU_CONSENT_WITHDRAW ? "withdrawn" : "not given");
    /* P-DSR-6: an objection stops a legitimate-interest purpose. */
    if (pu->basis == CU_BASIS_LEGITIMATE_INTEREST && action == CU_CONSENT_OBJECT)
        return cu_err_set(err, CU_ERR_OBJECTED, "the subject has objected to purpose \"%s\"",
                          pu->name);
    return CU_OK;
}

/* P-DSR-1: the purpose subject_access exists only inside a data-subject request (request.c):
 * an open request of this tenant and subject, verified, acknowledged (or extended), of a type
 * that reads the subject's data (access, export, rectify, erase), or, for rectify alone,
 * writes it (P-DSR-3). A header never names one: only the core sets ctx->dsr_request. */
static cu_rc request_allows(cu_vault *v, cu_id request, cu_id tenant, cu_id subject, int write,
                            cu_err *err)
{
    cu_store_request *r = NULL;
    size_t n = 0;
    int ok;
    cu_rc rc;

    if (request == 0)
        return cu_err_set(err, CU_ERR_PURPOSE_DENIED,
                          "purpose \"%s\" exists only inside a data-subject request (docs/dsr.md)",
                          CU_PURPOSE_SUBJECT_ACCESS);
    if ((rc = cu_store_request_list(v->store, tenant, request, &r, &n, err)) != CU_OK)
        return rc;
    ok = n == 1 && r[0].subject_id == subject && r[0].verified_at != 0 &&
         (r[0].state == CU_REQ_ACKNOWLEDGED || r[0].state == CU_REQ_EXTENDED);
    if (ok && write)
        ok = r[0].type == CU_REQ_RECTIFY;
    else if (ok)
        ok = r[0].type == CU_REQ_ACCESS || r[0].type == CU_REQ_EXPORT ||
             r[0].type == CU_REQ_RECTIFY || r[0].type == CU_REQ_ERASE;
    free(r);
    if (!ok)
        return cu_err_set(err, CU_ERR_PURPOSE_DENIED,
                          "the request named is not an open, acknowledged request of this subject "
                          "that allows this %s",
                          write ? "write" : "read");
    return CU_OK;
}

static cu_rc check_with(cu_vault *v, const cu_policy *p, const cu_ctx *ctx, cu_id tenant,
                        cu_id subject, const char *collection, int write, cu_err *err)
{
    const cu_policy_purpose *pu;
    const cu_policy_collection *c;
    const char *name = ctx->purpose;
    cu_rc rc;

    if (strcmp(name, CU_PURPOSE_SUBJECT_ACCESS) == 0) {
        /* P-DSR-1, P-DSR-5: the subject's own access reaches its data, restricted or not. */
        if (ctx->flags & CU_CTX_OPERATOR)
            return cu_err_set(err, CU_ERR_FORBIDDEN,
                              "platform staff may state only the policy's operator purposes");
        if (subject == 0)
            return cu_err_set(err, CU_ERR_PURPOSE_DENIED,
                              "purpose \"%s\" reaches one subject's own data only", name);
        return request_allows(v, ctx->dsr_request, tenant, subject, write, err);
    }
    /* P-CON-1: every purpose is declared, with its legal basis. */
    if ((pu = cu_policy_purpose_get(p, name)) == NULL)
        return cu_err_set(err, CU_ERR_UNKNOWN_PURPOSE,
                          "the tenant's policy declares no purpose \"%.64s\"", name);
    /* P-ACC-4: platform staff, only for the purposes the policy lets them state. */
    if ((ctx->flags & CU_CTX_OPERATOR) && (rc = staff_purpose_ok(p, name, err)) != CU_OK)
        return rc;
    if ((ctx->flags & CU_CTX_GPC) && sale_or_sharing(pu))
        return cu_err_set(err, CU_ERR_OPTED_OUT,
                          "the request carries Global Privacy Control (Sec-GPC: 1), an opt-out "
                          "of purpose \"%s\", which sells or shares data",
                          name);
    if (collection != NULL && (c = cu_policy_collection_get(p, collection)) != NULL &&
        !cu_policy_purpose_covers(pu, c->category->name))
        return cu_err_set(err, CU_ERR_PURPOSE_DENIED,
                          "purpose \"%s\" does not cover the %s data of collection \"%s\"", name,
                          c->category->name, collection);
    return subject != 0 ? check_subject(v, p, tenant, subject, pu, err) : CU_OK;
}

static cu_rc check(cu_vault *v, const cu_ctx *ctx, const cu_gate *g, cu_id subject,
                   const char *collection, int write, cu_err *err)
{
    const cu_policy *p = NULL;
    cu_rc rc;

    if (ctx == NULL)
        return CU_OK;
    /* The vault's own local acts record their purpose; platform staff at the CLI still state
     * one of their purposes (P-ACC-4). */
    if (ctx->flags & CU_CTX_LOCAL)
        return staff_check(v, ctx, g->tenant, g->policy_version, err);
    if (ctx->purpose == NULL)
        return CU_OK;
    if ((rc = cu_gate_policy(v, g, &p, err)) == CU_ERR_NOT_FOUND)
        return (ctx->flags & CU_CTX_OPERATOR) ? staff_purpose_ok(NULL, ctx->purpose, err) : CU_OK;
    if (rc != CU_OK)
        return rc;
    rc = check_with(v, p, ctx, g->tenant, subject, collection, write, err);
    cu_policy_release(v, p);
    return rc;
}

/* The gate of a caller that has not read the tenant row (cu_purpose_check): reads it. */
static cu_rc gate_of(cu_vault *v, cu_id tenant, cu_gate *g, cu_err *err)
{
    cu_store_tenant st;
    cu_rc rc = cu_tenant_row(v, tenant, &st, err);

    g->tenant = tenant;
    g->policy_version = rc == CU_OK ? st.policy_version : 0;
    return rc == CU_ERR_NOT_FOUND ? CU_OK : rc;
}

cu_rc cu_purpose_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                       const char *collection, cu_err *err)
{
    cu_gate g;
    cu_rc rc;

    if (ctx == NULL)
        return CU_OK;
    if ((rc = gate_of(v, tenant, &g, err)) != CU_OK)
        return rc;
    return check(v, ctx, &g, subject, collection, 0, err);
}

cu_rc cu_gate_policy(cu_vault *v, const cu_gate *g, const cu_policy **out, cu_err *err)
{
    return cu_policy_current(v, g->tenant, g->policy_version, out, NULL, err);
}

cu_rc cu_gate_purpose(cu_vault *v, const cu_ctx *ctx, const cu_gate *g, cu_id subject,
                      const char *collection, int write, cu_err *err)
{
    return check(v, ctx, g, subject, collection, write, err);
}

/* P-RET-1: with a policy, a record's collection must be one the policy declares, so every
 * record has a data category, and so a retention. */
static cu_rc collection_declared(cu_vault *v, const cu_gate *g, const char *collection, cu_err *err)
{
    const cu_policy *p;
    cu_rc rc = cu_gate_policy(v, g, &p, err);

    if (rc == CU_ERR_NOT_FOUND)
        return CU_OK;
    if (rc != CU_OK)
        return rc;
    if (cu_policy_collection_get(p, collection) == NULL)
        rc = cu_err_set(err, CU_ERR_INVALID,
                        "collection \"%s\" is not in the tenant's policy: every collection "
                        "needs a data category (docs/policy.md)",
                        collection);
    cu_policy_release(v, p);
    return rc;
}

cu_rc cu_preamble(cu_vault *v, const cu_ctx *ctx, const cu_access *a, cu_gate *out, cu_err *err)
{
    cu_store_tenant st;
    cu_gate g;
    cu_rc rc;

    if ((rc = cu_tenant_usable(v, ctx, a->tenant, a->use, &st, err)) != CU_OK)
        return rc;
    g.tenant = a->tenant;
    g.policy_version = st.policy_version;
    if (a->declared != NULL && (rc = collection_declared(v, &g, a->declared, err)) != CU_OK)
        return rc;
    if (a->subject != 0 && (rc = cu_store_subject_state(v->store, a->tenant, a->subject,
                                                        a->restricted, NULL, err)) != CU_OK)
        return rc;
    if (a->purpose != CU_PURPOSE_NONE && (rc = check(v, ctx, &g, a->purpose_subject, a->collection,
                                                     a->purpose == CU_PURPOSE_WRITE, err)) != CU_OK)
        return rc;
    if (out != NULL)
        *out = g;
    return CU_OK;
}
