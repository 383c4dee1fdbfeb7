/*
 * pg_analytics.c: the analytics privacy budget in the PostgreSQL backend (store_analytics.h,
 * docs/analytics.md, P-ANA-1; sqlite_analytics.c is the reference): migration 8's table, the
 * set, the conditional spend and the read. Numbers only.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* Migration 8 (7 is the incidents'). */
const char pg_ddl_analytics[] =
    "CREATE TABLE analytics_budgets("
    "  tenant_id bigint PRIMARY KEY, total bigint NOT NULL, spent bigint NOT NULL,"
    "  updated_at bigint NOT NULL, noise_required integer NOT NULL DEFAULT 0);";

static pg_query Q_SET = PG_QUERY(
    "INSERT INTO analytics_budgets(tenant_id, total, spent, updated_at, noise_required)"
    " VALUES($1, $2, 0, $3, greatest($4::integer, 0))"
    " ON CONFLICT(tenant_id) DO UPDATE SET total = excluded.total,"
    " updated_at = excluded.updated_at, noise_required = CASE WHEN $4::integer < 0"
    " THEN analytics_budgets.noise_required ELSE $4::integer END");
/* One statement: two spends racing for the last of a budget cannot both pass. */
static pg_query Q_SPEND = PG_QUERY("UPDATE analytics_budgets SET spent = spent + $2,"
                                   " updated_at = $3 WHERE tenant_id = $1 AND spent + $2 <= total");
static pg_query Q_GET =
    PG_QUERY("SELECT total, spent, updated_at, noise_required FROM analytics_budgets"
             " WHERE tenant_id = $1");

cu_rc pg_w_analytics_budget(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_analytics_budget *b = &op->u.analytics_budget;

    return pg_exec(c, &Q_SET,
                   PG_P(pg_p_id(b->tenant_id), pg_p_i64(b->total), pg_p_i64(b->updated_at),
                        pg_p_i64(b->noise_required)),
                   NULL,
                   err, "set the analytics budget");
}

cu_rc pg_w_analytics_spend(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_analytics_budget *b = &op->u.analytics_budget;

    return pgd_write_one(
        c, &Q_SPEND, PG_P(pg_p_id(b->tenant_id), pg_p_i64(b->spent), pg_p_i64(b->updated_at)),
        CU_ERR_CONFLICT, "the privacy budget is spent", err, "spend the analytics budget");
}

static pg_query Q_DELETE = PG_QUERY("DELETE FROM analytics_budgets WHERE tenant_id = $1");

cu_rc pg_tenant_analytics_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    return pg_exec(c, &Q_DELETE, PG_P(pg_p_id(tenant)), NULL, err, "delete the analytics budget");
}

static cu_rc budget_get(cu_store *base, cu_id tenant, cu_store_analytics_budget *out, cu_err *err)
{
    PGresult *res = NULL;
    cu_rc rc =
        pg_read_exec(base, &Q_GET, PG_P(pg_p_id(tenant)), &res, err, "read the analytics budget");

    memset(out, 0, sizeof(*out));
    if (rc == CU_OK && pg_rows(res) == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no privacy budget is set");
    if (rc == CU_OK) {
        out->tenant_id = tenant;
        out->total = pg_i64(res, 0, 0);
        out->spent = pg_i64(res, 0, 1);
        out->updated_at = pg_i64(res, 0, 2);
        out->noise_required = pg_i64(res, 0, 3) != 0;
    }
    PQclear(res);
    return rc;
}

const cu_store_analytics_ops pg_analytics_ops = {
    .budget_get = budget_get,
};
