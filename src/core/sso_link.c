/*
 * sso_link.c: which user a provider's identity is (custos_sso.h, docs/sso.md, P-ACC-5, review
 * finding 3). A user is entered by single sign-on only through a stored link from the
 * provider's (issuer, sub) to it, never by a verified email alone: the email of an existing
 * password user proves only that someone at the provider holds that address (an admin's own
 * provider, a recycled address). A link is made in two ways only: when single sign-on creates
 * the user (its first login), or by an owner's or admin's explicit, audited act (sso.link);
 * owners and admins only by the owner. A change of issuer drops every link of the tenant
 * (sso_tenant.c), so a new provider starts from no one. The store keeps the link's SHA-256 of
 * (issuer, sub), never the sub itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "custos_sso.h"
#include "schema_int.h"
#include "sso_int.h"
#include "tenant_int.h"
#include "util.h"

#define EMAIL_MAX 256

void cu_sso_link_hash(const char *issuer, const char *sub, uint8_t out[32])
{
    char buf[CU_SSO_URL_MAX + CU_SSO_SUB_MAX + 1];
    size_t ni = strnlen(issuer, CU_SSO_URL_MAX - 1), ns = strnlen(sub, CU_SSO_SUB_MAX - 1);

    /* The issuer never holds a NUL: issuer "\0" sub is one pair only. */
    memcpy(buf, issuer, ni);
    buf[ni] = '\0';
    memcpy(buf + ni + 1, sub, ns);
    cu_sha256((const uint8_t *)buf, ni + 1 + ns, out);
    cu_wipe(buf, sizeof(buf));
}

/* Whether the provider's word may open a session as the linked user u: never skipping a second
 * factor the user has (a provider's login would). NULL if it may, else the reason audited. */
static const char *linked_refused(const cu_store_user *u)
{
    return u->totp_enabled ? "second_factor" : NULL;
}

/* A new user of the configured role for this identity, and its link, in that order (the
 * user's create is its own commit). CU_ERR_AUTH with *why "unlinked" if a user of that email
 * appeared meanwhile (another login's or an admin's: never taken over). */
static cu_rc create_linked(cu_vault *v, const cu_ctx *ctx, const cu_store_sso_config *s,
                           const char *norm, const uint8_t hash[32], cu_store_user *u,
                           const char **why, cu_err *err)
{
    char pw[48];
    uint8_t raw[32], digest[32];
    cu_store_op op;
    cu_audit_in a;
    cu_id id = 0;
    cu_rc rc;

    cu_random(raw, sizeof(raw));
    if (cu_b64_encode(raw, sizeof(raw), pw, sizeof(pw)) != CU_OK)
        rc = cu_err_set(err, CU_ERR_LIMIT, "could not make a password");
    else /* its password random and never told: it signs in through the provider */
        rc = cu_user_create(v, ctx, s->tenant_id, norm, pw, (cu_role)s->role, &id, err);
    cu_wipe(pw, sizeof(pw));
    cu_wipe(raw, sizeof(raw));
    if (rc == CU_ERR_EXISTS) {
        *why = "unlinked";
        return cu_err_set(err, CU_ERR_AUTH, "a user of that email exists, not linked");
    }
    if (rc == CU_OK)
        rc = cu_user_email_digest(v, s->tenant_id, norm, digest, err);
    if (rc == CU_OK)
        rc = cu_store_user_find(v->store, s->tenant_id, digest, u, err);
    cu_wipe(digest, sizeof(digest));
    if (rc != CU_OK)
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_SSO_LINK_PUT;
    op.u.sso_link.tenant_id = s->tenant_id;
    memcpy(op.u.sso_link.link_hash, hash, 32);
    op.u.sso_link.user_id = u->id;
    op.u.sso_link.created_at = cu_clock_now();
    cu_audit_in_set(&a, s->tenant_id, "sso.link", "user:%llu created", (unsigned long long)u->id);
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}

cu_rc cu_sso_link_user(cu_vault *v, const cu_ctx *ctx, const cu_store_sso_config *s,
                       const char *sub, const char *email, cu_store_user *u, const char **why,
                       cu_err *err)
{
    char norm[EMAIL_MAX];
    uint8_t hash[32], digest[32];
    cu_store_sso_link k;
    cu_rc rc;

    cu_sso_link_hash(s->issuer, sub, hash);
    rc = cu_store_sso_link_get(v->store, s->tenant_id, hash, &k, err);
    if (rc == CU_OK) {
        rc = cu_store_user_get(v->store, s->tenant_id, k.user_id, u, err);
        if (rc == CU_OK && (*why = linked_refused(u)) != NULL)
            rc = cu_err_set(err, CU_ERR_AUTH, "the linked user may not sign in this way");
        if (rc != CU_ERR_NOT_FOUND)
            return rc;
        /* The user was deleted meanwhile (its deletion takes its link: a foreign key): as none. */
    }
    if (rc != CU_ERR_NOT_FOUND)
        return rc;
    err->code = CU_OK;
    err->msg[0] = '\0';
    if (cu_norm_email(email, norm, sizeof(norm)) != CU_OK) {
        *why = "email";
        return cu_err_set(err, CU_ERR_AUTH, "the provider's email is not an address");
    }
    rc = cu_user_email_digest(v, s->tenant_id, norm, digest, err);
    if (rc == CU_OK)
        rc = cu_store_user_find(v->store, s->tenant_id, digest, u, err);
    if (rc == CU_OK) { /* an existing user, not linked: the email alone never enters it */
        *why = "unlinked";
        rc = cu_err_set(err, CU_ERR_AUTH, "a user of that email exists, not linked");
    } else if (rc == CU_ERR_NOT_FOUND) {
        err->code = CU_OK;
        err->msg[0] = '\0';
        rc = create_linked(v, ctx, s, norm, hash, u, why, err);
    }
    cu_wipe(norm, sizeof(norm));
    cu_wipe(digest, sizeof(digest));
    cu_wipe(hash, sizeof(hash));
    return rc;
}

/* The tenant's configuration, or CU_ERR_NOT_FOUND: links are to its issuer. */
static cu_rc config_of(cu_vault *v, cu_id tenant, cu_store_sso_config *s, cu_err *err)
{
    cu_rc rc = cu_tenant_check(v, tenant, 1, err);

    if (rc == CU_OK)
        rc = cu_store_sso_config_get(v->store, tenant, s, err);
    free(s->secret.data);
    s->secret.data = NULL;
    return rc;
}

/* Owners and admins are linked only by the owner; others by whoever may grant their role
 * (P-ACC-1: an admin never gains a way into a fellow admin's or the owner's account). */
static int may_link(cu_role caller, cu_role target)
{
    if (caller == CU_ROLE_OWNER)
        return 1;
    return target != CU_ROLE_OWNER && target != CU_ROLE_ADMIN && cu_role_can_grant(caller, target);
}

cu_rc cu_sso_link(cu_vault *v, const cu_ctx *ctx, cu_role caller, cu_id tenant, cu_id user,
                  const char *sub, cu_err *err)
{
    cu_store_sso_config s;
    cu_store_sso_link k;
    cu_store_user u;
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    memset(&u, 0, sizeof(u));
    memset(&op, 0, sizeof(op));
    if (sub == NULL || sub[0] == '\0' || strlen(sub) >= CU_SSO_SUB_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "sub must be 1 to %d bytes", CU_SSO_SUB_MAX - 1);
    if ((rc = config_of(v, tenant, &s, err)) != CU_OK ||
        (rc = cu_store_user_get(v->store, tenant, user, &u, err)) != CU_OK)
        goto out;
    if (!may_link(caller, (cu_role)u.role)) {
        rc = cu_err_set(err, CU_ERR_FORBIDDEN, "the %s role may not link a user of this role",
                        cu_role_name(caller));
        goto out;
    }
    cu_sso_link_hash(s.issuer, sub, op.u.sso_link.link_hash);
    rc = cu_store_sso_link_get(v->store, tenant, op.u.sso_link.link_hash, &k, err);
    if (rc == CU_OK && k.user_id != user) {
        rc = cu_err_set(err, CU_ERR_EXISTS, "that identity is linked to another user");
        goto out;
    }
    if (rc != CU_OK && rc != CU_ERR_NOT_FOUND)
        goto out;
    err->code = CU_OK;
    err->msg[0] = '\0';
    op.type = CU_OP_SSO_LINK_PUT;
    op.u.sso_link.tenant_id = tenant;
    op.u.sso_link.user_id = user;
    op.u.sso_link.created_at = cu_clock_now();
    cu_audit_in_set(&a, tenant, "sso.link", "user:%llu", (unsigned long long)user);
    rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
out:
    cu_store_user_cleanup(&u);
    return rc;
}

cu_rc cu_sso_unlink(cu_vault *v, const cu_ctx *ctx, cu_role caller, cu_id tenant, cu_id user,
                    cu_err *err)
{
    cu_store_sso_config s;
    cu_store_user u;
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    memset(&u, 0, sizeof(u));
    memset(&op, 0, sizeof(op));
    if ((rc = config_of(v, tenant, &s, err)) != CU_OK ||
        (rc = cu_store_user_get(v->store, tenant, user, &u, err)) != CU_OK)
        goto out;
    if (!may_link(caller, (cu_role)u.role)) {
        rc = cu_err_set(err, CU_ERR_FORBIDDEN, "the %s role may not unlink a user of this role",
                        cu_role_name(caller));
        goto out;
    }
    op.type = CU_OP_SSO_LINK_DROP;
    op.u.sso_link.tenant_id = tenant;
    op.u.sso_link.user_id = user;
    cu_audit_in_set(&a, tenant, "sso.unlink", "user:%llu", (unsigned long long)user);
    rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
out:
    cu_store_user_cleanup(&u);
    return rc;
}
