/*
 * pg_webhook_read.c: the webhook outbox's reads in the PostgreSQL backend (store.h;
 * sqlite_webhook_read.c is the reference), each one statement on a read connection.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

#define ENDPOINT_COLS "tenant_id, endpoint_id, url, types, enabled, secret, key_version, created_at"

static pg_query Q_ENDPOINTS = PG_QUERY("SELECT " ENDPOINT_COLS " FROM webhook_endpoints"
                                       " WHERE tenant_id = $1 AND ($2 = 0 OR endpoint_id = $2)"
                                       " ORDER BY created_at, endpoint_id");
static pg_query Q_EVENTS = PG_QUERY(
    "SELECT tenant_id, event_id, type, payload, created_at FROM webhook_events"
    " WHERE tenant_id = $1 AND ($2 = 0 OR event_id = $2) AND ($3 = 0 OR event_id < $3)"
    " ORDER BY event_id DESC LIMIT $4");
static pg_query Q_DELIVERIES = PG_QUERY(
    "SELECT tenant_id, event_id, endpoint_id, state, attempts, next_at FROM webhook_deliveries"
    " WHERE tenant_id = $1 AND event_id = $2 ORDER BY endpoint_id");
static pg_query Q_ATTEMPTS = PG_QUERY(
    "SELECT tenant_id, event_id, endpoint_id, at, status, error FROM webhook_attempts"
    " WHERE tenant_id = $1 AND event_id = $2 ORDER BY at, seq, endpoint_id");
/* $1 now, $2 limit, $3 PENDING. */
static pg_query Q_DUE = PG_QUERY(
    "SELECT d.tenant_id, d.event_id, d.endpoint_id, d.state, d.attempts, d.next_at, e.type,"
    " e.payload, e.created_at, p.tenant_id, p.endpoint_id, p.url, p.types, p.enabled, p.secret,"
    " p.key_version, p.created_at"
    " FROM webhook_deliveries d JOIN webhook_events e"
    " ON e.tenant_id = d.tenant_id AND e.event_id = d.event_id"
    " JOIN webhook_endpoints p ON p.tenant_id = d.tenant_id AND p.endpoint_id = d.endpoint_id"
    " WHERE d.state = $3 AND d.next_at <= $1 AND d.lease_until <= $1 AND p.enabled = 1"
    " ORDER BY d.next_at LIMIT $2");

static cu_rc endpoint_row(const PGresult *res, int i, int c, cu_store_webhook_endpoint *e,
                          cu_err *err)
{
    e->tenant_id = pg_id(res, i, c);
    e->id = pg_id(res, i, c + 1);
    pg_text_copy(res, i, c + 2, e->url, sizeof(e->url));
    pg_text_copy(res, i, c + 3, e->types, sizeof(e->types));
    e->enabled = (int)pg_i64(res, i, c + 4);
    e->key_version = (uint32_t)pg_i64(res, i, c + 6);
    e->created_at = pg_i64(res, i, c + 7);
    return pg_blob_copy(res, i, c + 5, &e->secret, err);
}

static void delivery_row(const PGresult *res, int i, cu_store_webhook_delivery *d)
{
    d->tenant_id = pg_id(res, i, 0);
    d->event_id = pg_id(res, i, 1);
    d->endpoint_id = pg_id(res, i, 2);
    d->state = (int)pg_i64(res, i, 3);
    d->attempts = (uint32_t)pg_i64(res, i, 4);
    d->next_at = pg_i64(res, i, 5);
}

/* Runs a read and allocates *out for its rows (at least one element). */
static cu_rc read_rows(cu_store *base, pg_query *q, const pg_param *p, int np, size_t sz,
                       PGresult **res, void **out, int *rows, cu_err *err)
{
    cu_rc rc = pgd_read(base, q, p, np, res, err, "read the webhook outbox");

    *out = NULL;
    *rows = 0;
    if (rc != CU_OK)
        return rc;
    *rows = pg_rows(*res);
    if ((*out = calloc(*rows > 0 ? (size_t)*rows : 1, sz)) == NULL) {
        PQclear(*res);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    return CU_OK;
}

cu_rc pg_webhook_endpoints(cu_store *base, cu_id tenant, cu_id id,
                           cu_store_webhook_endpoint **out, size_t *n, cu_err *err)
{
    PGresult *res;
    int rows;
    cu_rc rc = read_rows(base, &Q_ENDPOINTS, PG_P(pg_p_id(tenant), pg_p_id(id)), sizeof(**out),
                         &res, (void **)out, &rows, err);

    for (int i = 0; rc == CU_OK && i < rows; i++)
        rc = endpoint_row(res, i, 0, &(*out)[i], err);
    if (rc == CU_OK || *out != NULL)
        PQclear(res);
    if (rc != CU_OK && *out != NULL) {
        cu_store_webhook_endpoints_free(*out, (size_t)rows);
        *out = NULL;
    }
    *n = rc == CU_OK ? (size_t)rows : 0;
    return rc;
}

cu_rc pg_webhook_events(cu_store *base, cu_id tenant, cu_id id, cu_id before, size_t limit,
                        cu_store_webhook_event **out, size_t *n, cu_err *err)
{
    PGresult *res;
    int rows;
    cu_rc rc = read_rows(base, &Q_EVENTS,
                         PG_P(pg_p_id(tenant), pg_p_id(id), pg_p_id(before),
                              pg_p_i64((int64_t)limit)),
                         sizeof(**out), &res, (void **)out, &rows, err);

    for (int i = 0; rc == CU_OK && i < rows; i++) {
        cu_store_webhook_event *e = &(*out)[i];
        e->tenant_id = pg_id(res, i, 0);
        e->id = pg_id(res, i, 1);
        pg_text_copy(res, i, 2, e->type, sizeof(e->type));
        e->created_at = pg_i64(res, i, 4);
        rc = pg_blob_copy(res, i, 3, &e->payload, err);
    }
    if (rc == CU_OK || *out != NULL)
        PQclear(res);
    if (rc != CU_OK && *out != NULL) {
        cu_store_webhook_events_free(*out, (size_t)rows);
        *out = NULL;
    }
    *n = rc == CU_OK ? (size_t)rows : 0;
    return rc;
}

cu_rc pg_webhook_deliveries(cu_store *base, cu_id tenant, cu_id event,
                            cu_store_webhook_delivery **out, size_t *n,
                            cu_store_webhook_attempt **attempts, size_t *na, cu_err *err)
{
    PGresult *res;
    int rows;
    cu_rc rc = read_rows(base, &Q_DELIVERIES, PG_P(pg_p_id(tenant), pg_p_id(event)),
                         sizeof(**out), &res, (void **)out, &rows, err);

    *n = *na = 0;
    *attempts = NULL;
    if (rc != CU_OK)
        return rc;
    for (int i = 0; i < rows; i++)
        delivery_row(res, i, &(*out)[i]);
    *n = (size_t)rows;
    PQclear(res);
    rc = read_rows(base, &Q_ATTEMPTS, PG_P(pg_p_id(tenant), pg_p_id(event)), sizeof(**attempts),
                   &res, (void **)attempts, &rows, err);
    if (rc != CU_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
    for (int i = 0; i < rows; i++) {
        cu_store_webhook_attempt *a = &(*attempts)[i];
        a->tenant_id = pg_id(res, i, 0);
        a->event_id = pg_id(res, i, 1);
        a->endpoint_id = pg_id(res, i, 2);
        a->at = pg_i64(res, i, 3);
        a->status = (int)pg_i64(res, i, 4);
        pg_text_copy(res, i, 5, a->error, sizeof(a->error));
    }
    *na = (size_t)rows;
    PQclear(res);
    return CU_OK;
}

cu_rc pg_webhook_due(cu_store *base, int64_t now, size_t limit, cu_store_webhook_job **out,
                     size_t *n, cu_err *err)
{
    PGresult *res;
    int rows;
    cu_rc rc = read_rows(base, &Q_DUE,
                         PG_P(pg_p_i64(now), pg_p_i64((int64_t)limit),
                              pg_p_i64(CU_WEBHOOK_PENDING)),
                         sizeof(**out), &res, (void **)out, &rows, err);

    for (int i = 0; rc == CU_OK && i < rows; i++) {
        cu_store_webhook_job *j = &(*out)[i];
        delivery_row(res, i, &j->d);
        j->event.tenant_id = j->d.tenant_id;
        j->event.id = j->d.event_id;
        pg_text_copy(res, i, 6, j->event.type, sizeof(j->event.type));
        j->event.created_at = pg_i64(res, i, 8);
        if ((rc = pg_blob_copy(res, i, 7, &j->event.payload, err)) == CU_OK)
            rc = endpoint_row(res, i, 9, &j->endpoint, err);
    }
    if (rc == CU_OK || *out != NULL)
        PQclear(res);
    if (rc != CU_OK && *out != NULL) {
        cu_store_webhook_jobs_free(*out, (size_t)rows);
        *out = NULL;
    }
    *n = rc == CU_OK ? (size_t)rows : 0;
    return rc;
}
