/*
 * consent.c: the consent ledger (P-CON-2): grants, withdrawals and objections, each bound to
 * the policy version in force and committed with its audit entry.
 *
 * The ledger is stored in clear (ids, purpose names and a fixed vocabulary of sources only);
 * purpose.c reads it to decide whether a consent-based purpose may reach a subject's data.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_cache_int.h"
#include "purpose_int.h"
#include "tenant_int.h"
#include "util.h"

static const char *const action_names[] = {
    [CU_CONSENT_GRANT] = "grant",
    [CU_CONSENT_WITHDRAW] = "withdraw",
    [CU_CONSENT_OBJECT] = "object",
    [CU_CONSENT_WITHDRAW_OBJECTION] = "withdraw_objection",
};

const char *cu_consent_action_name(cu_consent_action a)
{
    return (unsigned)a < CU_ARRAY_LEN(action_names) && action_names[a] ? action_names[a] : "?";
}

cu_rc cu_consent_action_parse(const char *s, cu_consent_action *out)
{
    for (size_t i = 1; s != NULL && i < CU_ARRAY_LEN(action_names); i++)
        if (strcmp(s, action_names[i]) == 0) {
            *out = (cu_consent_action)i;
            return CU_OK;
        }
    return CU_ERR_INVALID;
}

/* Where a consent or objection was collected: a fixed vocabulary of channels, never free text,
 * so the ledger, which is stored in clear, cannot carry a personal value (an address, a name, a
 * phone number) in its source (P-CON-2, P-ENC-1). */
static const char *const consent_sources[] = {
    "api",   "web",   "web-form",  "signup-form", "mobile-app", "console", "email",
    "phone", "paper", "in-person", "unsubscribe", "import",     "gpc",
};

static int source_ok(const char *s)
{
    for (size_t i = 0; i < CU_ARRAY_LEN(consent_sources); i++)
        if (strcmp(s, consent_sources[i]) == 0)
            return 1;
    return 0;
}

cu_rc cu_consent_record(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                        const char *purpose, cu_consent_action action, const char *source,
                        cu_err *err)
{
    const cu_policy_purpose *pu;
    const cu_policy *p;
    cu_store_op op = {0};
    cu_audit_in a;
    cu_gate g;
    int want_consent;
    cu_rc rc;

    if (source == NULL)
        source = "api";
    if (!source_ok(source))
        return cu_err_set(err, CU_ERR_INVALID,
                          "source must be one of api, web, web-form, signup-form, mobile-app, "
                          "console, email, phone, paper, in-person, unsubscribe, import, gpc");
    if ((unsigned)action < 1 || (unsigned)action >= CU_ARRAY_LEN(action_names))
        return cu_err_set(err, CU_ERR_INVALID, "unknown consent action");
    if ((rc = cu_preamble(
             v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE, .subject = subject},
             &g, err)) != CU_OK)
        return rc;
    rc = cu_gate_policy(v, &g, &p, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the tenant has no policy, so no purpose to consent to");
    if (rc != CU_OK)
        return rc;
    if (purpose == NULL || (pu = cu_policy_purpose_get(p, purpose)) == NULL)
        rc =
            cu_err_set(err, CU_ERR_UNKNOWN_PURPOSE,
                       "the tenant's policy declares no purpose \"%.64s\"", purpose ? purpose : "");
    want_consent = action == CU_CONSENT_GRANT || action == CU_CONSENT_WITHDRAW;
    if (rc == CU_OK && want_consent && pu->basis != CU_BASIS_CONSENT)
        rc = cu_err_set(err, CU_ERR_INVALID,
                        "purpose \"%s\" is based on %s, not consent: it cannot be %s", purpose,
                        cu_legal_basis_name(pu->basis),
                        action == CU_CONSENT_GRANT ? "granted" : "withdrawn");
    if (rc == CU_OK && !want_consent && pu->basis != CU_BASIS_LEGITIMATE_INTEREST)
        rc = cu_err_set(err, CU_ERR_INVALID,
                        "purpose \"%s\" is based on %s: only legitimate-interest purposes can "
                        "be objected to",
                        purpose, cu_legal_basis_name(pu->basis));
    if (rc != CU_OK) {
        cu_policy_release(v, p);
        return rc;
    }
    op.type = CU_OP_CONSENT_PUT;
    op.u.consent.tenant_id = tenant;
    op.u.consent.subject_id = subject;
    cu_strlcpy(op.u.consent.purpose, purpose, sizeof(op.u.consent.purpose));
    op.u.consent.action = (int)action;
    op.u.consent.at = cu_clock_now();
    cu_strlcpy(op.u.consent.source, source, sizeof(op.u.consent.source));
    cu_strlcpy(op.u.consent.policy_version, cu_policy_version(p),
               sizeof(op.u.consent.policy_version));
    cu_policy_release(v, p);
    /* P-CON-2: the ledger entry and its audit entry commit together. */
    cu_audit_in_set(&a, tenant, want_consent ? "consent.record" : "objection.record",
                    "subject:%llu:%s:%.40s", (unsigned long long)subject,
                    cu_consent_action_name(action), purpose);
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}

cu_rc cu_consent_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_consent **out,
                      size_t *n, cu_err *err)
{
    cu_store_consent *c = NULL;
    cu_consent *res;
    size_t cnt = 0;
    cu_audit_in a;
    int own;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    /* The subject's own ledger under its request (P-DSR-1): subject_access names the subject. */
    own = ctx != NULL && ctx->purpose != NULL &&
          strcmp(ctx->purpose, CU_PURPOSE_SUBJECT_ACCESS) == 0;
    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_LIVE,
                                       .subject = subject,
                                       .purpose = CU_PURPOSE_READ,
                                       .purpose_subject = own ? subject : 0},
                          NULL, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_consent_list(v->store, tenant, subject, NULL, &c, &cnt, err)) != CU_OK)
        return rc;
    if ((res = calloc(cnt ? cnt : 1, sizeof(*res))) == NULL) {
        free(c);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        res[i].subject_id = c[i].subject_id;
        res[i].seq = c[i].seq;
        res[i].action = (cu_consent_action)c[i].action;
        res[i].at = c[i].at;
        memcpy(res[i].purpose, c[i].purpose, sizeof(res[i].purpose));
        memcpy(res[i].source, c[i].source, sizeof(res[i].source));
        memcpy(res[i].policy_version, c[i].policy_version, sizeof(res[i].policy_version));
    }
    free(c);
    cu_audit_in_set(&a, tenant, "consent.list", "subject:%llu", (unsigned long long)subject);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        free(res);
        return rc;
    }
    *out = res;
    *n = cnt;
    return CU_OK;
}
