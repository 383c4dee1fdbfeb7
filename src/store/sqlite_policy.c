/*
 * sqlite_policy.c: the SQLite backend's policy versions (P-NOT-1, P-NOT-2): their list without
 * texts, a pending version's withdrawal and the note that a version took effect.
 *
 * A version's row holds when it takes effect (effective_at); the core compares it with its
 * clock, so every server on the database switches at the same stored time. The conditions of
 * the two updates are the whole rule: a version is withdrawn only while pending, noted in force
 * only once, and a withdrawn one never.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sqlite_int.h"
#include "util.h"

/* Migration 20 (sqlite_schema.c): its columns are added by sq_policy_versions_migrate, unless a
 * database rewound to an older version by hand (tests) has them already. */
const char sq_migration_policy_versions[] = "SELECT 1;";

cu_rc sq_policy_versions_migrate(sqlite_store *s, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int has = 0, src;

    src = sqlite3_prepare_v2(s->db,
                             "SELECT count(*) FROM pragma_table_info('tenant_policies')"
                             " WHERE name = 'effective_at'",
                             -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
        has = sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return sq_db_error(s, src, err, "read the policies' columns");
    if (has)
        return CU_OK;
    /* A version bound before this took effect when bound, and was in force from then. */
    return sq_exec_ddl(s,
                       "ALTER TABLE tenant_policies ADD COLUMN effective_at INTEGER NOT NULL"
                       " DEFAULT 0;"
                       "ALTER TABLE tenant_policies ADD COLUMN withdrawn_at INTEGER NOT NULL"
                       " DEFAULT 0;"
                       "ALTER TABLE tenant_policies ADD COLUMN in_force_at INTEGER NOT NULL"
                       " DEFAULT 0;"
                       "ALTER TABLE tenant_policies ADD COLUMN fresh TEXT NOT NULL DEFAULT '';"
                       "UPDATE tenant_policies SET effective_at = created_at,"
                       " in_force_at = created_at;",
                       err, "migrate schema");
}

static cu_rc read_version(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_policy_version *pv = row;

    (void)err;
    pv->version = (unsigned)sqlite3_column_int64(st, 0);
    pv->created_at = sqlite3_column_int64(st, 1);
    pv->effective_at = sqlite3_column_int64(st, 2);
    pv->withdrawn_at = sqlite3_column_int64(st, 3);
    pv->in_force_at = sqlite3_column_int64(st, 4);
    sq_text_col(st, 5, pv->fresh, sizeof(pv->fresh));
    return CU_OK;
}

cu_rc sq_policy_versions(cu_store *base, cu_id tenant, cu_store_policy_version **out, size_t *n,
                         cu_err *err)
{
    *out = NULL;
    *n = 0;
    return sq_list((sqlite_store *)base, S_POLICY_VERSIONS, tenant, sizeof(**out), read_version,
                   NULL, (void **)out, n, err, "list the tenant's policy versions");
}

/* Binds (tenant, version, when) and runs one of the two updates; code when it changed no row. */
static cu_rc update_one(sqlite_store *s, enum stmt_id id, const cu_store_op *op, cu_rc code,
                        const char *msg, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, id);
    cu_rc rc;

    if (st) {
        sq_bind_id(st, 1, op->u.policy.tenant_id);
        sqlite3_bind_int64(st, 2, op->u.policy.version);
        sqlite3_bind_int64(st, 3, op->u.policy.created_at);
    }
    if ((rc = sq_run(s, st, err, "update a policy version")) == CU_OK &&
        sqlite3_changes(s->db) == 0)
        rc = cu_err_set(err, code, "%s", msg);
    return rc;
}

cu_rc sq_w_policy_withdraw(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    return update_one(s, S_POLICY_WITHDRAW, op, CU_ERR_NOT_FOUND, "no such pending policy version",
                      err);
}

cu_rc sq_w_policy_in_force(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    return update_one(s, S_POLICY_IN_FORCE, op, CU_ERR_CONFLICT,
                      "the policy version is already noted in force, withdrawn or not due", err);
}
