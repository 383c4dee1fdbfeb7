/*
 * sqlite_webhook.c: the webhook outbox in the SQLite backend (store.h, docs/webhooks.md).
 *
 * Four tables keyed by tenant first: endpoints (their signing secret sealed by the core),
 * events (ids and names only), one delivery per event and endpoint, and its attempts. An event
 * and its deliveries are written by CU_OP_WEBHOOK_EVENT inside its cause's transaction; a
 * delivery is sent by whichever server claims it (CU_OP_WEBHOOK_CLAIM: a lease in the row, so
 * two servers on one database never send one at once) and settled by CU_OP_WEBHOOK_ATTEMPT
 * only while its claimant still holds it. Statements are prepared per call, as requests'.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

/* Migration 21 (20 is the notice policy's). IF NOT EXISTS, as requests'. */
const char sq_migration_webhooks[] =
    "CREATE TABLE IF NOT EXISTS webhook_endpoints("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), endpoint_id INTEGER NOT NULL,"
    "  url TEXT NOT NULL, types TEXT NOT NULL, enabled INTEGER NOT NULL, secret BLOB NOT NULL,"
    "  key_version INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, endpoint_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS webhook_events("
    "  tenant_id INTEGER NOT NULL, event_id INTEGER NOT NULL, type TEXT NOT NULL,"
    "  payload BLOB NOT NULL, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, event_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS webhook_deliveries("
    "  tenant_id INTEGER NOT NULL, event_id INTEGER NOT NULL, endpoint_id INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL,"
    "  holder INTEGER NOT NULL, lease_until INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, event_id, endpoint_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(state, next_at);"
    "CREATE TABLE IF NOT EXISTS webhook_attempts("
    "  tenant_id INTEGER NOT NULL, event_id INTEGER NOT NULL, endpoint_id INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL, at INTEGER NOT NULL, status INTEGER NOT NULL, error TEXT NOT NULL,"
    "  PRIMARY KEY(tenant_id, event_id, endpoint_id, seq)) WITHOUT ROWID;";

static const char sql_event[] =
    "INSERT INTO webhook_events(tenant_id, event_id, type, payload, created_at)"
    " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";
/* An endpoint takes every type ("*") or those its comma-separated list names. */
static const char sql_fanout[] =
    "INSERT INTO webhook_deliveries(tenant_id, event_id, endpoint_id, state, attempts, next_at,"
    " holder, lease_until) SELECT ?1, ?2, endpoint_id, ?6, 0, ?5, 0, 0 FROM webhook_endpoints"
    " WHERE tenant_id = ?1 AND enabled = 1"
    " AND (types = '*' OR instr(',' || types || ',', ',' || ?3 || ',') > 0)";
/* By CU_WEBHOOK_PUT_*: each must change one row (store_webhook.h). */
static const char *const sql_endpoint_put[] = {
    "INSERT INTO webhook_endpoints(tenant_id, endpoint_id, url, types, enabled, secret,"
    " key_version, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
    "UPDATE webhook_endpoints SET url = ?3, types = ?4, enabled = ?5"
    " WHERE tenant_id = ?1 AND endpoint_id = ?2",
    "UPDATE webhook_endpoints SET secret = ?6, key_version = ?7"
    " WHERE tenant_id = ?1 AND endpoint_id = ?2",
}; /* (binding a parameter a statement lacks fails alone, harmlessly) */
static const char sql_endpoint_del[] =
    "DELETE FROM webhook_endpoints WHERE tenant_id = ?1 AND endpoint_id = ?2";
static const char sql_endpoint_pending_del[] =
    "DELETE FROM webhook_deliveries WHERE tenant_id = ?1 AND endpoint_id = ?2 AND state = ?3";
/* ?4 holder, ?5 now, ?6 until, ?7 PENDING. */
static const char sql_claim[] =
    "UPDATE webhook_deliveries SET holder = ?4, lease_until = ?6 WHERE tenant_id = ?1"
    " AND event_id = ?2 AND endpoint_id = ?3 AND state = ?7 AND next_at <= ?5"
    " AND (lease_until <= ?5 OR holder = ?4)";
/* ?4 holder, ?5 state, ?6 next_at, ?7 PENDING, ?8 the try's time, ?9 RESEND_ASKED: a resend
 * asked during the try makes it PENDING again, due now, whatever the try gave. */
static const char sql_settle[] =
    "UPDATE webhook_deliveries SET attempts = attempts + 1,"
    " state = CASE WHEN next_at = ?9 THEN ?7 ELSE ?5 END,"
    " next_at = CASE WHEN next_at = ?9 THEN ?8 ELSE ?6 END,"
    " holder = 0, lease_until = 0 WHERE tenant_id = ?1 AND event_id = ?2 AND endpoint_id = ?3"
    " AND holder = ?4 AND state = ?7";
static const char sql_attempt[] =
    "INSERT INTO webhook_attempts(tenant_id, event_id, endpoint_id, seq, at, status, error)"
    " SELECT ?1, ?2, ?3, attempts, ?4, ?5, ?6 FROM webhook_deliveries"
    " WHERE tenant_id = ?1 AND event_id = ?2 AND endpoint_id = ?3";
/* ?4 now, ?5 PENDING, ?6 RESEND_ASKED: a delivery whose try is in flight (its lease running)
 * is marked for that try's settle, which would otherwise overwrite the resend. */
static const char sql_resend[] =
    "UPDATE webhook_deliveries SET state = ?5,"
    " next_at = CASE WHEN holder <> 0 AND lease_until > ?4 THEN ?6 ELSE ?4 END"
    " WHERE tenant_id = ?1 AND event_id = ?2 AND (?3 = 0 OR endpoint_id = ?3)";

/* WEBHOOK_PRUNE: the same events, chosen by one subquery, lose their attempts, deliveries,
 * then rows (?1 tenant, ?2 before, ?3 limit, ?4 PENDING). The writer is alone in its
 * transaction, so each statement finds the same ones: deleting done deliveries makes no event
 * more or less prunable. */
#define PRUNABLE                                                                                   \
    "SELECT e.event_id FROM webhook_events e WHERE e.tenant_id = ?1 AND e.created_at < ?2"         \
    " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.tenant_id = ?1"                  \
    " AND d.event_id = e.event_id AND d.state = ?4) ORDER BY e.event_id LIMIT ?3"
static const char *const sql_prune[] = {
    "DELETE FROM webhook_attempts WHERE tenant_id = ?1 AND event_id IN (" PRUNABLE ")",
    "DELETE FROM webhook_deliveries WHERE tenant_id = ?1 AND event_id IN (" PRUNABLE ")",
    "DELETE FROM webhook_events WHERE tenant_id = ?1 AND event_id IN (" PRUNABLE ")",
};

/* One statement with integer parameters ?1..?n from p and, where given, text at ti and a blob
 * at bi; *changed gets the rows it changed. */
static cu_rc run(sqlite_store *s, const char *sql, const int64_t *p, int n, int ti,
                 const char *text, int bi, const cu_blob *blob, int *changed, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    cu_rc rc = CU_OK;

    if (src == SQLITE_OK) {
        for (int i = 0; i < n; i++)
            sqlite3_bind_int64(st, i + 1, p[i]);
        if (ti > 0)
            sqlite3_bind_text(st, ti, text, -1, SQLITE_TRANSIENT);
        if (bi > 0)
            sq_bind_blob(st, bi, blob);
        src = sqlite3_step(st);
    }
    if (src == SQLITE_CONSTRAINT)
        rc = cu_err_set(err, CU_ERR_EXISTS, "webhook row exists");
    else if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "write the webhook outbox");
    else if (changed != NULL)
        *changed = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc;
}

static cu_rc w_event(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_webhook_event *e = &op->u.webhook_event;
    /* ?3 is the type (text), bound over the placeholder below. */
    int64_t p[6] = {(int64_t)e->tenant_id, (int64_t)e->id, 0, 0, e->created_at,
                    CU_WEBHOOK_PENDING};
    int changed = 0;
    cu_rc rc;
    sqlite3_stmt *st = NULL;
    int src;

    if (e->payload.data == NULL || e->type[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "an event needs a type and a payload");
    src = sqlite3_prepare_v2(s->db, sql_event, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, e->tenant_id);
        sq_bind_id(st, 2, e->id);
        sqlite3_bind_text(st, 3, e->type, -1, SQLITE_TRANSIENT);
        sq_bind_blob(st, 4, &e->payload);
        sqlite3_bind_int64(st, 5, e->created_at);
        src = sqlite3_step(st);
    }
    changed = src == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return sq_db_error(s, src, err, "add an event");
    if (changed == 0) /* added before: its deliveries too */
        return CU_OK;
    rc = run(s, sql_fanout, p, 6, 3, e->type, 0, NULL, NULL, err);
    return rc;
}

static cu_rc w_endpoint_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_webhook_endpoint *e = &op->u.webhook_endpoint;
    sqlite3_stmt *st = NULL;
    int src;

    if (e->part < CU_WEBHOOK_PUT_NEW || e->part > CU_WEBHOOK_PUT_SECRET)
        return cu_err_set(err, CU_ERR_INVALID, "no such part of a webhook endpoint");
    src = sqlite3_prepare_v2(s->db, sql_endpoint_put[e->part], -1, &st, NULL);

    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, e->tenant_id);
        sq_bind_id(st, 2, e->id);
        sqlite3_bind_text(st, 3, e->url, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, e->types, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 5, e->enabled != 0);
        sq_bind_blob(st, 6, &e->secret);
        sqlite3_bind_int64(st, 7, e->key_version);
        sqlite3_bind_int64(st, 8, e->created_at);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return sq_db_error(s, src, err, "store a webhook endpoint");
    if (sqlite3_changes(s->db) == 0)
        return e->part == CU_WEBHOOK_PUT_NEW
                   ? cu_err_set(err, CU_ERR_CONFLICT, "the webhook endpoint exists")
                   : cu_err_set(err, CU_ERR_NOT_FOUND, "no such webhook endpoint");
    return CU_OK;
}

static cu_rc w_endpoint_delete(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    int64_t p[3] = {(int64_t)op->u.del.tenant_id, (int64_t)op->u.del.id, CU_WEBHOOK_PENDING};
    int changed = 0;
    cu_rc rc = run(s, sql_endpoint_del, p, 2, 0, NULL, 0, NULL, &changed, err);

    if (rc == CU_OK && changed == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such webhook endpoint");
    return rc != CU_OK ? rc : run(s, sql_endpoint_pending_del, p, 3, 0, NULL, 0, NULL, NULL, err);
}

static cu_rc w_claim(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const __typeof__(op->u.webhook_claim) *c = &op->u.webhook_claim;
    int64_t p[7] = {(int64_t)c->tenant_id, (int64_t)c->event_id, (int64_t)c->endpoint_id,
                    (int64_t)c->holder,    c->now,               c->until,
                    CU_WEBHOOK_PENDING};
    int changed = 0;
    cu_rc rc;

    if (op->type == CU_OP_WEBHOOK_RESEND) {
        p[4] = CU_WEBHOOK_PENDING;
        p[3] = c->now;
        p[5] = CU_WEBHOOK_RESEND_ASKED;
        rc = run(s, sql_resend, p, 6, 0, NULL, 0, NULL, &changed, err);
        if (rc == CU_OK && changed == 0)
            return cu_err_set(err, CU_ERR_NOT_FOUND, "the event went to no such endpoint");
        return rc;
    }
    if (c->holder == 0)
        return cu_err_set(err, CU_ERR_INVALID, "a claim needs a holder");
    rc = run(s, sql_claim, p, 7, 0, NULL, 0, NULL, &changed, err);
    if (rc == CU_OK && changed == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "the delivery is not due or claimed already");
    return rc;
}

static cu_rc w_attempt(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const __typeof__(op->u.webhook_attempt) *w = &op->u.webhook_attempt;
    const cu_store_webhook_attempt *a = &w->a;
    int64_t p[9] = {(int64_t)a->tenant_id, (int64_t)a->event_id, (int64_t)a->endpoint_id,
                    (int64_t)w->holder,    w->state,             w->next_at,
                    CU_WEBHOOK_PENDING,    a->at,                CU_WEBHOOK_RESEND_ASKED};
    int changed = 0;
    cu_rc rc = run(s, sql_settle, p, 9, 0, NULL, 0, NULL, &changed, err);

    if (rc == CU_OK && changed == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "the delivery's claim was lost");
    p[3] = a->at;
    p[4] = a->status;
    return rc != CU_OK ? rc : run(s, sql_attempt, p, 5, 6, a->error, 0, NULL, NULL, err);
}

static cu_rc w_prune(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const __typeof__(op->u.webhook_prune) *w = &op->u.webhook_prune;
    int64_t p[4] = {(int64_t)w->tenant_id, w->before, w->limit, CU_WEBHOOK_PENDING};
    int changed = 0;
    cu_rc rc = CU_OK;

    if (w->limit == 0)
        return cu_err_set(err, CU_ERR_INVALID, "a prune needs a limit");
    for (size_t i = 0; i < CU_ARRAY_LEN(sql_prune) && rc == CU_OK; i++)
        rc = run(s, sql_prune[i], p, 4, 0, NULL, 0, NULL, &changed, err);
    if (rc == CU_OK && changed == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no event to prune");
    return rc;
}

cu_rc sq_tenant_webhooks_delete(sqlite_store *s, cu_id tenant, cu_err *err)
{
    static const char *const sql[] = {
        "DELETE FROM webhook_attempts WHERE tenant_id = ?1",
        "DELETE FROM webhook_deliveries WHERE tenant_id = ?1",
        "DELETE FROM webhook_events WHERE tenant_id = ?1",
        "DELETE FROM webhook_endpoints WHERE tenant_id = ?1",
    };
    int64_t p[1] = {(int64_t)tenant};
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < CU_ARRAY_LEN(sql) && rc == CU_OK; i++)
        rc = run(s, sql[i], p, 1, 0, NULL, 0, NULL, NULL, err);
    return rc;
}

cu_rc sq_w_webhook(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    switch (op->type) {
    case CU_OP_WEBHOOK_EVENT:
        return w_event(s, op, err);
    case CU_OP_WEBHOOK_ENDPOINT_PUT:
        return w_endpoint_put(s, op, err);
    case CU_OP_WEBHOOK_ENDPOINT_DELETE:
        return w_endpoint_delete(s, op, err);
    case CU_OP_WEBHOOK_CLAIM:
    case CU_OP_WEBHOOK_RESEND:
        return w_claim(s, op, err);
    case CU_OP_WEBHOOK_ATTEMPT:
        return w_attempt(s, op, err);
    case CU_OP_WEBHOOK_PRUNE:
        return w_prune(s, op, err);
    default:
        return cu_err_set(err, CU_ERR_INVALID, "not a webhook operation");
    }
}
