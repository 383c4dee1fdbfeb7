/*
 * roles.c: roles and their permissions (P-ACC-1).
 *
 * Every principal (an API key or a user) has exactly one role; every endpoint names the one
 * permission it needs, and the HTTP layer asks cu_role_can() before it calls the core. The
 * table below is the whole policy: a role holds a permission only if its row lists it.
 * The operator is platform staff: it manages tenants and reaches a tenant's data only with a
 * stated purpose (P-ACC-4), which the HTTP layer checks before DATA_READ is used.
 */
#include <string.h>

#include "auth_int.h"
#include "util.h"

#define BIT(p) (1u << (p))

/* P-ACC-1: the role table. */
static const unsigned role_perms[] = {
    [CU_ROLE_NONE] = 0,
    [CU_ROLE_OWNER] = BIT(CU_PERM_DATA_READ) | BIT(CU_PERM_DATA_WRITE) | BIT(CU_PERM_DATA_ERASE) |
                      BIT(CU_PERM_SCHEMA) | BIT(CU_PERM_USERS) | BIT(CU_PERM_KEYS) |
                      BIT(CU_PERM_AUDIT) | BIT(CU_PERM_AGGREGATE) | BIT(CU_PERM_SELF) |
                      BIT(CU_PERM_POLICY),
    /* Not AUDIT, and not POLICY: a policy sets how long the log an admin cannot read is kept
     * (P-RET-4), so binding one is the owner's. */
    [CU_ROLE_ADMIN] = BIT(CU_PERM_DATA_READ) | BIT(CU_PERM_DATA_WRITE) | BIT(CU_PERM_DATA_ERASE) |
                      BIT(CU_PERM_SCHEMA) | BIT(CU_PERM_USERS) | BIT(CU_PERM_KEYS) |
                      BIT(CU_PERM_AGGREGATE) | BIT(CU_PERM_SELF),
    [CU_ROLE_AGENT] = BIT(CU_PERM_DATA_READ) | BIT(CU_PERM_DATA_WRITE) | BIT(CU_PERM_SELF),
    [CU_ROLE_ANALYST] = BIT(CU_PERM_AGGREGATE) | BIT(CU_PERM_SELF),
    [CU_ROLE_AUDITOR] = BIT(CU_PERM_AUDIT) | BIT(CU_PERM_SELF),
    /* DATA_READ only with a stated purpose from the policy's list (P-ACC-4, checked by the
     * HTTP layer). */
    [CU_ROLE_OPERATOR] = BIT(CU_PERM_TENANTS) | BIT(CU_PERM_DATA_READ) | BIT(CU_PERM_SELF),
    /* A data subject in its privacy center: its portal routes and nothing else (the router
     * checks the tenant and the subject on each; custos_portal.h). */
    [CU_ROLE_SUBJECT] = BIT(CU_PERM_PORTAL),
};

static const char *const role_names[] = {
    [CU_ROLE_OWNER] = "owner",     [CU_ROLE_ADMIN] = "admin",     [CU_ROLE_AGENT] = "agent",
    [CU_ROLE_ANALYST] = "analyst", [CU_ROLE_AUDITOR] = "auditor", [CU_ROLE_OPERATOR] = "operator",
    [CU_ROLE_SUBJECT] = "subject",
};

const char *cu_role_name(cu_role r)
{
    if ((unsigned)r >= CU_ARRAY_LEN(role_names))
        return NULL;
    return role_names[r];
}

cu_rc cu_role_parse(const char *s, cu_role *out)
{
    if (s == NULL)
        return CU_ERR_INVALID;
    /* Not the subject's role: only a portal session holds it, never a key or a user. */
    for (unsigned r = CU_ROLE_OWNER; r <= CU_ROLE_OPERATOR; r++)
        if (strcmp(s, role_names[r]) == 0) {
            *out = (cu_role)r;
            return CU_OK;
        }
    return CU_ERR_INVALID;
}

/* P-ACC-1: the one place a role's permissions are decided. */
int cu_role_can(cu_role r, cu_perm p)
{
    if ((unsigned)r >= CU_ARRAY_LEN(role_perms) || p < CU_PERM_TENANTS || p > CU_PERM_PORTAL)
        return 0;
    return (role_perms[r] & BIT(p)) != 0;
}

/* P-ACC-1, P-RET-4: the policy sets how long the log an admin cannot read is kept, so only the
 * owner binds it, unless the owner lets the tenant's admins do so too. */
int cu_principal_can(cu_vault *v, const cu_principal *who, cu_id tenant, cu_perm p)
{
    int admins = 0;

    if (cu_role_can(who->role, p))
        return 1;
    if (p != CU_PERM_POLICY || who->role != CU_ROLE_ADMIN || tenant == 0 ||
        who->tenant_id != tenant)
        return 0;
    return cu_store_policy_grant_get(v->store, tenant, &admins, NULL) == CU_OK && admins;
}

/* P-ACC-1: only a role that manages keys or users grants, and never a permission it does not
 * hold itself: an owner grants any tenant role; an admin grants admin, agent and analyst, but
 * not auditor (the audit log is beyond an admin) and not owner. The operator role is never
 * granted here (the server makes operator keys itself). */
int cu_role_can_grant(cu_role granter, cu_role role)
{
    if (!cu_role_tenant_ok(role) || !cu_role_tenant_ok(granter))
        return 0;
    if (!cu_role_can(granter, CU_PERM_KEYS) && !cu_role_can(granter, CU_PERM_USERS))
        return 0;
    return (role_perms[role] & ~role_perms[granter]) == 0;
}

int cu_role_tenant_ok(cu_role r)
{
    return r >= CU_ROLE_OWNER && r <= CU_ROLE_AUDITOR;
}
