/*
 * pg_webhook.c: the webhook outbox in the PostgreSQL backend (store.h, docs/webhooks.md;
 * sqlite_webhook.c is the reference).
 *
 * An event and its deliveries go in one statement (a data-modifying CTE), inside its cause's
 * transaction. A claim is an UPDATE guarded by the lease columns: under READ COMMITTED a second
 * server's UPDATE of the same row waits for the first's row lock, then finds the lease taken and
 * changes nothing (CU_ERR_CONFLICT), so two servers never send one delivery at once.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* Migration 5 (4 is the notice policy's). */
const char pg_ddl_webhooks[] =
    "CREATE TABLE webhook_endpoints("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), endpoint_id bigint NOT NULL,"
    "  url text NOT NULL, types text NOT NULL, enabled bigint NOT NULL, secret bytea NOT NULL,"
    "  key_version bigint NOT NULL, created_at bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, endpoint_id));"
    "CREATE TABLE webhook_events("
    "  tenant_id bigint NOT NULL, event_id bigint NOT NULL, type text NOT NULL,"
    "  payload bytea NOT NULL, created_at bigint NOT NULL, PRIMARY KEY(tenant_id, event_id));"
    "CREATE TABLE webhook_deliveries("
    "  tenant_id bigint NOT NULL, event_id bigint NOT NULL, endpoint_id bigint NOT NULL,"
    "  state bigint NOT NULL, attempts bigint NOT NULL, next_at bigint NOT NULL,"
    "  holder bigint NOT NULL, lease_until bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, event_id, endpoint_id));"
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_at);"
    "CREATE TABLE webhook_attempts("
    "  tenant_id bigint NOT NULL, event_id bigint NOT NULL, endpoint_id bigint NOT NULL,"
    "  seq bigint NOT NULL, at bigint NOT NULL, status bigint NOT NULL, error text NOT NULL,"
    "  PRIMARY KEY(tenant_id, event_id, endpoint_id, seq));";

/* $3 type, $5 created_at, $6 PENDING. */
static pg_query Q_EVENT = PG_QUERY(
    "WITH e AS (INSERT INTO webhook_events(tenant_id, event_id, type, payload, created_at)"
    " VALUES($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING tenant_id, event_id)"
    " INSERT INTO webhook_deliveries(tenant_id, event_id, endpoint_id, state, attempts, next_at,"
    " holder, lease_until) SELECT e.tenant_id, e.event_id, p.endpoint_id, $6, 0, $5, 0, 0"
    " FROM e JOIN webhook_endpoints p ON p.tenant_id = e.tenant_id WHERE p.enabled = 1"
    " AND (p.types = '*' OR strpos(',' || p.types || ',', ',' || $3 || ',') > 0)");
/* By CU_WEBHOOK_PUT_*: each must change one row (store_webhook.h). */
static pg_query Q_ENDPOINT_NEW = PG_QUERY(
    "INSERT INTO webhook_endpoints(tenant_id, endpoint_id, url, types, enabled, secret,"
    " key_version, created_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING");
static pg_query Q_ENDPOINT_SETTINGS =
    PG_QUERY("UPDATE webhook_endpoints SET url = $3, types = $4, enabled = $5"
             " WHERE tenant_id = $1 AND endpoint_id = $2");
static pg_query Q_ENDPOINT_SECRET =
    PG_QUERY("UPDATE webhook_endpoints SET secret = $3, key_version = $4"
             " WHERE tenant_id = $1 AND endpoint_id = $2");
/* Each write below that must change a row is one statement whose own row count says so (a
 * data-modifying CTE's rows are not counted, pgd_write_one). */
static pg_query Q_ENDPOINT_DELETE = PG_QUERY(
    "WITH w AS (DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2"
    " AND state = $3) DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND endpoint_id = $2");
/* $4 holder, $5 now, $6 until, $7 PENDING. */
static pg_query Q_CLAIM = PG_QUERY(
    "UPDATE webhook_deliveries SET holder = $4, lease_until = $6 WHERE tenant_id = $1"
    " AND event_id = $2 AND endpoint_id = $3 AND state = $7 AND next_at <= $5"
    " AND (lease_until <= $5 OR holder = $4)");
/* $4 holder, $5 state, $6 next_at, $7 PENDING, $8 at, $9 status, $10 error, $11 RESEND_ASKED:
 * a resend asked during the try makes it PENDING again, due now, whatever the try gave. */
static pg_query Q_ATTEMPT = PG_QUERY(
    "WITH u AS (UPDATE webhook_deliveries SET attempts = attempts + 1,"
    " state = CASE WHEN next_at = $11 THEN $7 ELSE $5 END,"
    " next_at = CASE WHEN next_at = $11 THEN $8 ELSE $6 END,"
    " holder = 0, lease_until = 0 WHERE tenant_id = $1 AND event_id = $2"
    " AND endpoint_id = $3 AND holder = $4 AND state = $7 RETURNING attempts)"
    " INSERT INTO webhook_attempts(tenant_id, event_id, endpoint_id, seq, at, status, error)"
    " SELECT $1, $2, $3, u.attempts, $8, $9, $10 FROM u");
/* $4 now, $5 PENDING, $6 RESEND_ASKED: a delivery whose try is in flight (its lease running)
 * is marked for that try's settle, which would otherwise overwrite the resend. Under READ
 * COMMITTED a settle racing it waits for the row and sees the mark, or commits first and the
 * resend, re-evaluated, finds the lease freed. */
static pg_query Q_RESEND = PG_QUERY(
    "UPDATE webhook_deliveries SET state = $5,"
    " next_at = CASE WHEN holder <> 0 AND lease_until > $4 THEN $6 ELSE $4 END"
    " WHERE tenant_id = $1 AND event_id = $2 AND ($3 = 0 OR endpoint_id = $3)");

/* $1 tenant, $2 before, $3 limit, $4 PENDING: one statement, one snapshot, so the events chosen
 * are the ones whose rows go; FOR UPDATE holds them against a racing prune. */
static pg_query Q_PRUNE = PG_QUERY(
    "WITH ev AS (SELECT e.event_id FROM webhook_events e WHERE e.tenant_id = $1"
    " AND e.created_at < $2 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d"
    " WHERE d.tenant_id = $1 AND d.event_id = e.event_id AND d.state = $4)"
    " ORDER BY e.event_id LIMIT $3 FOR UPDATE),"
    " a AS (DELETE FROM webhook_attempts WHERE tenant_id = $1"
    " AND event_id IN (SELECT event_id FROM ev)),"
    " d AS (DELETE FROM webhook_deliveries WHERE tenant_id = $1"
    " AND event_id IN (SELECT event_id FROM ev))"
    " DELETE FROM webhook_events WHERE tenant_id = $1 AND event_id IN (SELECT event_id FROM ev)");

static pg_query Q_TENANT_DELETE = PG_QUERY(
    "WITH a AS (DELETE FROM webhook_attempts WHERE tenant_id = $1),"
    " d AS (DELETE FROM webhook_deliveries WHERE tenant_id = $1),"
    " e AS (DELETE FROM webhook_events WHERE tenant_id = $1)"
    " DELETE FROM webhook_endpoints WHERE tenant_id = $1");

cu_rc pg_tenant_webhooks_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    return pg_exec(c, &Q_TENANT_DELETE, PG_P(pg_p_id(tenant)), NULL, err,
                   "delete the tenant's webhooks");
}

static cu_rc w_event(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_webhook_event *e = &op->u.webhook_event;

    if (e->payload.data == NULL || e->type[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "an event needs a type and a payload");
    return pg_exec(c, &Q_EVENT,
                   PG_P(pg_p_id(e->tenant_id), pg_p_id(e->id), pg_p_text(e->type),
                        pg_p_bytes(&e->payload), pg_p_i64(e->created_at),
                        pg_p_i64(CU_WEBHOOK_PENDING)),
                   NULL, err, "add an event");
}

static cu_rc w_endpoint_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_webhook_endpoint *e = &op->u.webhook_endpoint;
    static const char gone[] = "no such webhook endpoint", what[] = "store a webhook endpoint";

    switch (e->part) {
    case CU_WEBHOOK_PUT_NEW:
        return pgd_write_one(c, &Q_ENDPOINT_NEW,
                             PG_P(pg_p_id(e->tenant_id), pg_p_id(e->id), pg_p_text(e->url),
                                  pg_p_text(e->types), pg_p_i64(e->enabled != 0),
                                  pg_p_bytes(&e->secret), pg_p_i64(e->key_version),
                                  pg_p_i64(e->created_at)),
                             CU_ERR_CONFLICT, "the webhook endpoint exists", err, what);
    case CU_WEBHOOK_PUT_SETTINGS:
        return pgd_write_one(c, &Q_ENDPOINT_SETTINGS,
                             PG_P(pg_p_id(e->tenant_id), pg_p_id(e->id), pg_p_text(e->url),
                                  pg_p_text(e->types), pg_p_i64(e->enabled != 0)),
                             CU_ERR_NOT_FOUND, gone, err, what);
    case CU_WEBHOOK_PUT_SECRET:
        return pgd_write_one(c, &Q_ENDPOINT_SECRET,
                             PG_P(pg_p_id(e->tenant_id), pg_p_id(e->id), pg_p_bytes(&e->secret),
                                  pg_p_i64(e->key_version)),
                             CU_ERR_NOT_FOUND, gone, err, what);
    }
    return cu_err_set(err, CU_ERR_INVALID, "no such part of a webhook endpoint");
}

static cu_rc w_endpoint_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgd_write_one(c, &Q_ENDPOINT_DELETE,
                         PG_P(pg_p_id(op->u.del.tenant_id), pg_p_id(op->u.del.id),
                              pg_p_i64(CU_WEBHOOK_PENDING)),
                         CU_ERR_NOT_FOUND, "no such webhook endpoint", err,
                         "delete a webhook endpoint");
}

static cu_rc w_claim(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const __typeof__(op->u.webhook_claim) *w = &op->u.webhook_claim;

    if (op->type == CU_OP_WEBHOOK_RESEND)
        return pgd_write_one(c, &Q_RESEND,
                             PG_P(pg_p_id(w->tenant_id), pg_p_id(w->event_id),
                                  pg_p_id(w->endpoint_id), pg_p_i64(w->now),
                                  pg_p_i64(CU_WEBHOOK_PENDING),
                                  pg_p_i64(CU_WEBHOOK_RESEND_ASKED)),
                             CU_ERR_NOT_FOUND, "the event went to no such endpoint", err,
                             "resend an event");
    if (w->holder == 0)
        return cu_err_set(err, CU_ERR_INVALID, "a claim needs a holder");
    return pgd_write_one(c, &Q_CLAIM,
                         PG_P(pg_p_id(w->tenant_id), pg_p_id(w->event_id),
                              pg_p_id(w->endpoint_id), pg_p_id(w->holder), pg_p_i64(w->now),
                              pg_p_i64(w->until), pg_p_i64(CU_WEBHOOK_PENDING)),
                         CU_ERR_CONFLICT, "the delivery is not due or claimed already", err,
                         "claim a delivery");
}

static cu_rc w_attempt(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const __typeof__(op->u.webhook_attempt) *w = &op->u.webhook_attempt;
    const cu_store_webhook_attempt *a = &w->a;

    return pgd_write_one(c, &Q_ATTEMPT,
                         PG_P(pg_p_id(a->tenant_id), pg_p_id(a->event_id),
                              pg_p_id(a->endpoint_id), pg_p_id(w->holder), pg_p_i64(w->state),
                              pg_p_i64(w->next_at), pg_p_i64(CU_WEBHOOK_PENDING),
                              pg_p_i64(a->at), pg_p_i64(a->status), pg_p_text(a->error),
                              pg_p_i64(CU_WEBHOOK_RESEND_ASKED)),
                         CU_ERR_CONFLICT, "the delivery's claim was lost", err,
                         "record a delivery attempt");
}

cu_rc pg_w_webhook_prune(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const __typeof__(op->u.webhook_prune) *w = &op->u.webhook_prune;

    if (w->limit == 0)
        return cu_err_set(err, CU_ERR_INVALID, "a prune needs a limit");
    return pgd_write_one(c, &Q_PRUNE,
                         PG_P(pg_p_id(w->tenant_id), pg_p_i64(w->before), pg_p_i64(w->limit),
                              pg_p_i64(CU_WEBHOOK_PENDING)),
                         CU_ERR_NOT_FOUND, "no event to prune", err, "prune the outbox");
}

cu_rc pg_w_webhook_event(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return w_event(c, op, err);
}

cu_rc pg_w_webhook_endpoint_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return w_endpoint_put(c, op, err);
}

cu_rc pg_w_webhook_endpoint_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return w_endpoint_delete(c, op, err);
}

cu_rc pg_w_webhook_claim(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return w_claim(c, op, err);
}

cu_rc pg_w_webhook_resend(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return w_claim(c, op, err);
}

cu_rc pg_w_webhook_attempt(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return w_attempt(c, op, err);
}
