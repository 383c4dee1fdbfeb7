/*
 * pg_policy.c: the PostgreSQL backend's policy versions (P-NOT-1, P-NOT-2), as sqlite_policy.c:
 * their list without texts, a pending version's withdrawal and the note that a version took
 * effect. Several servers share the database: each compares the stored effective_at with its
 * clock, so none needs a timer, and the conditions of the updates let one server alone note a
 * version in force.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_vault_int.h"
#include "util.h"

static pg_query Q_POLICY_VERSIONS =
    PG_QUERY("SELECT version, created_at, effective_at, withdrawn_at, in_force_at, fresh"
             " FROM tenant_policies WHERE tenant_id = $1 ORDER BY version");
static pg_query Q_POLICY_WITHDRAW =
    PG_QUERY("UPDATE tenant_policies SET withdrawn_at = $3 WHERE tenant_id = $1 AND version = $2"
             " AND withdrawn_at = 0 AND effective_at > $3");
static pg_query Q_POLICY_IN_FORCE =
    PG_QUERY("UPDATE tenant_policies SET in_force_at = $3 WHERE tenant_id = $1 AND version = $2"
             " AND withdrawn_at = 0 AND in_force_at = 0 AND effective_at <= $3");

static cu_rc read_version(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_store_policy_version *pv = out;

    (void)err;
    pv->version = (unsigned)pg_i64(res, row, 0);
    pv->created_at = pg_i64(res, row, 1);
    pv->effective_at = pg_i64(res, row, 2);
    pv->withdrawn_at = pg_i64(res, row, 3);
    pv->in_force_at = pg_i64(res, row, 4);
    pg_text_copy(res, row, 5, pv->fresh, sizeof(pv->fresh));
    return CU_OK;
}

cu_rc pg_policy_versions(cu_store *base, cu_id tenant, cu_store_policy_version **out, size_t *n,
                         cu_err *err)
{
    return pgv_read_list(base, &Q_POLICY_VERSIONS, PG_P(pg_p_id(tenant)), sizeof(**out),
                         read_version, NULL, (void **)out, n, err,
                         "list the tenant's policy versions");
}

cu_rc pg_w_policy_withdraw(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_POLICY_WITHDRAW,
                       PG_P(pg_p_id(op->u.policy.tenant_id), pg_p_i64(op->u.policy.version),
                            pg_p_i64(op->u.policy.created_at)),
                       err, "withdraw a policy version", CU_ERR_NOT_FOUND,
                       "no such pending policy version");
}

cu_rc pg_w_policy_in_force(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_POLICY_IN_FORCE,
                       PG_P(pg_p_id(op->u.policy.tenant_id), pg_p_i64(op->u.policy.version),
                            pg_p_i64(op->u.policy.created_at)),
                       err, "note a policy version in force", CU_ERR_CONFLICT,
                       "the policy version is already noted in force, withdrawn or not due");
}
