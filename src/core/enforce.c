/*
 * enforce.c: a tenant's policy applied to each request: purposes, consent, objection,
 * restriction, Global Privacy Control and age.
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
 * Parsed policies are cached per tenant. One process holds a data directory (vault.c), so the
 * cache is invalidated where policies change (cu_tenant_set_policy) and nowhere else. Each
 * user of a cached policy holds a reference (cu_policy_for .. cu_policy_release), and a
 * replaced version is freed when its last reference goes, never under its user.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_int.h"
#include "util.h"

struct cu_policy_cache {
    cu_id tenant;
    unsigned version;
    cu_policy *p;  /* NULL: the tenant has no policy */
    int stale;     /* replaced: freed once its last user releases it */
    unsigned refs; /* users between cu_policy_for and cu_policy_release */
    struct cu_policy_cache *next;
};

static cu_policy_cache *cache_find(cu_vault *v, cu_id tenant)
{
    for (cu_policy_cache *e = v->policies; e != NULL; e = e->next)
        if (e->tenant == tenant && !e->stale)
            return e;
    return NULL;
}

static void entry_free(cu_policy_cache *e)
{
    if (e != NULL) {
        cu_policy_free(e->p);
        free(e);
    }
}

/* Unlinks and frees every stale entry nobody uses. Call with v->policy_lock held. */
static void drop_stale(cu_vault *v)
{
    for (cu_policy_cache **pp = &v->policies; *pp != NULL;) {
        cu_policy_cache *e = *pp;
        if (e->stale && e->refs == 0) {
            *pp = e->next;
            entry_free(e);
        } else {
            pp = &e->next;
        }
    }
}

cu_rc cu_policy_for(cu_vault *v, cu_id tenant, const cu_policy **out, unsigned *version,
                    cu_err *err)
{
    cu_policy_cache *e, *mine = NULL;
    const cu_policy *got = NULL;
    cu_policy *p = NULL;
    unsigned ver = 0;
    uint64_t gen;
    cu_rc rc;

    /* What the entry holds is copied under the lock: once it is released, only a reference
     * keeps the entry (an entry without a policy takes none, and may go at once). */
    pthread_mutex_lock(&v->policy_lock);
    if ((e = cache_find(v, tenant)) != NULL) {
        got = e->p;
        ver = e->version;
        if (got != NULL)
            e->refs++;
    }
    gen = v->policy_gen;
    pthread_mutex_unlock(&v->policy_lock);
    if (e == NULL) {
        rc = cu_tenant_policy(v, tenant, &p, &ver, err);
        if (rc != CU_OK && rc != CU_ERR_NOT_FOUND)
            return rc;
        if ((mine = calloc(1, sizeof(*mine))) == NULL) {
            cu_policy_free(p);
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        }
        mine->tenant = tenant;
        mine->version = ver;
        mine->p = p;
        pthread_mutex_lock(&v->policy_lock);
        /* Another thread may have cached it meanwhile: use the first. A policy bound while we
         * read may make ours old: use it this once, as a stale entry freed on release. */
        if ((e = cache_find(v, tenant)) == NULL) {
            mine->stale = gen != v->policy_gen;
            mine->next = v->policies;
            v->policies = mine;
            e = mine;
            mine = NULL;
        }
        got = e->p;
        ver = e->version;
        if (got != NULL)
            e->refs++;
        /* A stale entry without a policy is nobody's: it goes now. */
        drop_stale(v);
        pthread_mutex_unlock(&v->policy_lock);
        entry_free(mine);
    }
    if (got == NULL)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "the tenant has no policy");
    *out = got;
    if (version)
        *version = ver;
    return CU_OK;
}

void cu_policy_release(cu_vault *v, const cu_policy *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&v->policy_lock);
    for (cu_policy_cache *e = v->policies; e != NULL; e = e->next)
        if (e->p == p) {
            e->refs--;
            break;
        }
    drop_stale(v);
    pthread_mutex_unlock(&v->policy_lock);
}

cu_rc cu_tenant_has_policy(cu_vault *v, cu_id tenant, int *has, cu_err *err)
{
    const cu_policy *p = NULL;
    cu_rc rc = cu_policy_for(v, tenant, &p, NULL, err);

    *has = rc == CU_OK;
    if (rc == CU_OK)
        cu_policy_release(v, p);
    return rc == CU_ERR_NOT_FOUND ? CU_OK : rc;
}

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

cu_rc cu_staff_purpose_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err)
{
    const cu_policy *p = NULL;
    cu_rc rc;

    if (ctx == NULL || !(ctx->flags & CU_CTX_OPERATOR))
        return CU_OK;
    if (ctx->purpose == NULL)
        return cu_err_set(err, CU_ERR_FORBIDDEN,
                          "platform staff reach tenant data only for a stated purpose");
    rc = cu_policy_for(v, tenant, &p, NULL, err);
    if (rc != CU_OK && rc != CU_ERR_NOT_FOUND)
        return rc;
    rc = staff_purpose_ok(rc == CU_OK ? p : NULL, ctx->purpose, err);
    cu_policy_release(v, p);
    return rc;
}

void cu_policy_cache_forget(cu_vault *v, cu_id tenant)
{
    pthread_mutex_lock(&v->policy_lock);
    for (cu_policy_cache *e = v->policies; e != NULL; e = e->next)
        if (e->tenant == tenant)
            e->stale = 1;
    v->policy_gen++;
    drop_stale(v);
    pthread_mutex_unlock(&v->policy_lock);
}

void cu_policy_cache_free(cu_vault *v)
{
    cu_policy_cache *e = v->policies, *next;

    for (; e != NULL; e = next) {
        next = e->next;
        entry_free(e);
    }
    v->policies = NULL;
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

/* The subject's newest ledger action for purpose, 0 if none. */
static cu_rc last_action(cu_vault *v, cu_id tenant, cu_id subject, const char *purpose, int *action,
                         cu_err *err)
{
    cu_store_consent *c = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_consent_list(v->store, tenant, subject, purpose, &c, &n, err);

    *action = rc == CU_OK && n > 0 ? c[0].action : 0;
    free(c);
    return rc;
}

/* The rules that depend on the subject: restriction, consent, objection. */
static cu_rc check_subject(cu_vault *v, cu_id tenant, cu_id subject, const cu_policy_purpose *pu,
                           cu_err *err)
{
    int action = 0, restricted = 0;
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
    if ((rc = last_action(v, tenant, subject, pu->name, &action, err)) != CU_OK)
        return rc;
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
        /* It reads (and erases, subject.c); it writes nothing in the subject's name. */
        if (write)
            return cu_err_set(err, CU_ERR_PURPOSE_DENIED,
                              "purpose \"%s\" reads a subject's data; it does not write it", name);
        return CU_OK;
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
    return subject != 0 ? check_subject(v, tenant, subject, pu, err) : CU_OK;
}

static cu_rc check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                   const char *collection, int write, cu_err *err)
{
    const cu_policy *p = NULL;
    cu_rc rc;

    if (ctx == NULL)
        return CU_OK;
    /* The vault's own local acts record their purpose; platform staff at the CLI still state
     * one of their purposes (P-ACC-4). */
    if (ctx->flags & CU_CTX_LOCAL)
        return cu_staff_purpose_check(v, ctx, tenant, err);
    if (ctx->purpose == NULL)
        return CU_OK;
    if ((rc = cu_policy_for(v, tenant, &p, NULL, err)) == CU_ERR_NOT_FOUND)
        return (ctx->flags & CU_CTX_OPERATOR) ? staff_purpose_ok(NULL, ctx->purpose, err) : CU_OK;
    if (rc != CU_OK)
        return rc;
    rc = check_with(v, p, ctx, tenant, subject, collection, write, err);
    cu_policy_release(v, p);
    return rc;
}

cu_rc cu_purpose_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                       const char *collection, cu_err *err)
{
    return check(v, ctx, tenant, subject, collection, 0, err);
}

cu_rc cu_purpose_check_write(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             const char *collection, cu_err *err)
{
    return check(v, ctx, tenant, subject, collection, 1, err);
}

cu_rc cu_tenant_check_read(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err)
{
    const cu_policy_purpose *pu;
    const cu_policy *p;
    cu_store_tenant st;
    int legal;
    cu_rc rc = cu_tenant_check(v, tenant, 0, err);

    if (rc != CU_ERR_NOT_FOUND || ctx == NULL)
        return rc;
    if (cu_store_tenant_get(v->store, tenant, &st, NULL) != CU_OK ||
        st.state != CU_TENANT_PURGED)
        return rc;
    /* The vault's own acts (the sweep, the CLI on the data directory) still see it. */
    if (ctx->flags & CU_CTX_LOCAL)
        return CU_OK;
    if (ctx->purpose == NULL || !(ctx->flags & CU_CTX_OPERATOR))
        return rc;
    /* P-DSR-4, P-RET-2: what the law keeps after the purge is kept but restricted: only
     * platform staff reach it, and only for one of its operator purposes of legal obligation. */
    if (cu_policy_for(v, tenant, &p, NULL, NULL) != CU_OK)
        return rc;
    pu = cu_policy_operator_purpose(p, ctx->purpose);
    legal = pu != NULL && pu->basis == CU_BASIS_LEGAL_OBLIGATION;
    cu_policy_release(v, p);
    return legal ? CU_OK : rc;
}

cu_rc cu_policy_collection_check(cu_vault *v, cu_id tenant, const char *collection, cu_err *err)
{
    const cu_policy *p;
    cu_rc rc = cu_policy_for(v, tenant, &p, NULL, err);

    if (rc == CU_ERR_NOT_FOUND)
        return CU_OK;
    if (rc != CU_OK)
        return rc;
    /* P-RET-1: every record has a data category, and so a retention. */
    if (cu_policy_collection_get(p, collection) == NULL)
        rc = cu_err_set(err, CU_ERR_INVALID,
                        "collection \"%s\" is not in the tenant's policy: every collection "
                        "needs a data category (docs/policy.md)",
                        collection);
    cu_policy_release(v, p);
    return rc;
}

/* Whole years from birth (YYYY-MM-DD, validated) to the UTC date of now. */
static int age_years(const char *birth, int64_t now)
{
    time_t t = (time_t)now;
    struct tm tm;
    int y =
        (birth[0] - '0') * 1000 + (birth[1] - '0') * 100 + (birth[2] - '0') * 10 + (birth[3] - '0');
    int m = (birth[5] - '0') * 10 + (birth[6] - '0'), d = (birth[8] - '0') * 10 + (birth[9] - '0');
    int age;

    gmtime_r(&t, &tm);
    age = tm.tm_year + 1900 - y;
    if (tm.tm_mon + 1 < m || (tm.tm_mon + 1 == m && tm.tm_mday < d))
        age--;
    return age;
}

cu_rc cu_age_check(cu_vault *v, cu_id tenant, const char *birth_date, cu_err *err)
{
    const cu_policy *p;
    unsigned min;
    cu_rc rc;

    if (birth_date == NULL)
        return CU_OK;
    if ((rc = cu_policy_for(v, tenant, &p, NULL, err)) == CU_ERR_NOT_FOUND)
        return CU_OK;
    if (rc != CU_OK)
        return rc;
    min = cu_policy_min_age(p);
    cu_policy_release(v, p);
    /* P-AGE-1: the birth date is not repeated in the message (P-AUD-4). */
    if (age_years(birth_date, cu_clock_now()) < (int)min)
        return cu_err_set(err, CU_ERR_UNDER_AGE,
                          "the subject is under the policy's minimum age of %u", min);
    return CU_OK;
}

/* --- the consent ledger (P-CON-2) ----------------------------------------------------------- */

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
    if ((rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_subject_state(v->store, tenant, subject, NULL, NULL, err)) != CU_OK)
        return rc;
    rc = cu_policy_for(v, tenant, &p, NULL, err);
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
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_subject_state(v->store, tenant, subject, NULL, NULL, err)) != CU_OK)
        return rc;
    if ((rc = cu_purpose_check(v, ctx, tenant, 0, NULL, err)) != CU_OK)
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

cu_rc cu_subject_restrict(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, int on,
                          cu_err *err)
{
    cu_store_op op = {0};
    cu_audit_in a;
    int restricted = 0;
    cu_rc rc;

    if ((rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_subject_state(v->store, tenant, subject, &restricted, NULL, err)) !=
        CU_OK)
        return rc;
    /* P-AGE-2: a subject found under age stays restricted until its erasure. */
    if (restricted == CU_SUBJECT_UNDER_AGE)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the subject was found under age: it stays restricted until erased");
    op.type = CU_OP_SUBJECT_RESTRICT;
    op.u.flag.tenant_id = tenant;
    op.u.flag.id = subject;
    op.u.flag.value = on ? 1 : 0;
    cu_audit_in_set(&a, tenant, on ? "subject.restrict" : "subject.unrestrict", "subject:%llu",
                    (unsigned long long)subject);
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}

cu_rc cu_subject_mark_under_age(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                                int *erased, cu_err *err)
{
    cu_store_op op = {0};
    cu_audit_in a;
    int held;
    cu_rc rc;

    *erased = 0;
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_subject_state(v->store, tenant, subject, NULL, NULL, err)) != CU_OK)
        return rc;
    if ((rc = cu_hold_covers(v, tenant, subject, 0, &held, err)) != CU_OK)
        return rc;
    /* P-AGE-2: on record first, then erased at once; under a legal hold (P-RET-5) restricted
     * instead, and erased by the sweep once the hold is released. */
    op.type = CU_OP_SUBJECT_RESTRICT;
    op.u.flag.tenant_id = tenant;
    op.u.flag.id = subject;
    op.u.flag.value = CU_SUBJECT_UNDER_AGE;
    cu_audit_in_set(&a, tenant, "subject.under_age", "subject:%llu", (unsigned long long)subject);
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) != CU_OK || held)
        return rc;
    rc = cu_subject_erase(v, ctx, tenant, subject, err);
    if (rc == CU_OK)
        *erased = 1;
    /* A hold placed since the check: restricted and marked, the sweep erases it later. */
    return rc == CU_ERR_LEGAL_HOLD ? CU_OK : rc;
}
