/*
 * sqlite_analytics.c: the analytics privacy budget in the SQLite backend (store_analytics.h,
 * docs/analytics.md; P-ANA-1): migration 24's table, CU_OP_ANALYTICS_BUDGET and _SPEND, and the
 * read. One row per tenant, keyed by it; numbers only. A spend is one conditional UPDATE, so two
 * queries racing for the last of a budget cannot both pass: the second changes no row.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

/* Migration 24 (23 is the incidents'). */
const char sq_migration_analytics[] =
    "CREATE TABLE IF NOT EXISTS analytics_budgets("
    "  tenant_id INTEGER PRIMARY KEY, total INTEGER NOT NULL, spent INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL, noise_required INTEGER NOT NULL DEFAULT 0);";

static const char sql_set[] =
    "INSERT INTO analytics_budgets(tenant_id, total, spent, updated_at, noise_required)"
    " VALUES(?1, ?2, 0, ?3, max(?4, 0))"
    " ON CONFLICT(tenant_id) DO UPDATE SET total = excluded.total,"
    " updated_at = excluded.updated_at,"
    " noise_required = CASE WHEN ?4 < 0 THEN noise_required ELSE ?4 END";
static const char sql_spend[] = "UPDATE analytics_budgets SET spent = spent + ?2, updated_at = ?3"
                                " WHERE tenant_id = ?1 AND spent + ?2 <= total";
static const char sql_get[] =
    "SELECT total, spent, updated_at, noise_required FROM analytics_budgets WHERE tenant_id = ?1";

cu_rc sq_w_analytics(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_analytics_budget *b = &op->u.analytics_budget;
    int spend = op->type == CU_OP_ANALYTICS_SPEND;
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, spend ? sql_spend : sql_set, -1, &st, NULL);

    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, b->tenant_id);
        sqlite3_bind_int64(st, 2, spend ? b->spent : b->total);
        sqlite3_bind_int64(st, 3, b->updated_at);
        if (!spend)
            sqlite3_bind_int(st, 4, b->noise_required);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return sq_db_error(s, src, err, "write the analytics budget");
    if (spend && sqlite3_changes(s->db) == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "the privacy budget is spent");
    return CU_OK;
}

static cu_rc budget_get(cu_store *base, cu_id tenant, cu_store_analytics_budget *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    cu_rc rc = CU_OK;
    int src;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    src = sqlite3_prepare_v2(s->db, sql_get, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, tenant);
        src = sqlite3_step(st);
    }
    if (src == SQLITE_ROW) {
        out->tenant_id = tenant;
        out->total = sqlite3_column_int64(st, 0);
        out->spent = sqlite3_column_int64(st, 1);
        out->updated_at = sqlite3_column_int64(st, 2);
        out->noise_required = sqlite3_column_int(st, 3) != 0;
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no privacy budget is set");
    } else {
        rc = sq_db_error(s, src, err, "read the analytics budget");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

const cu_store_analytics_ops sq_analytics_ops = {
    .budget_get = budget_get,
};
