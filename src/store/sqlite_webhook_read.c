/*
 * sqlite_webhook_read.c: the webhook outbox's reads in the SQLite backend (store.h): a
 * tenant's endpoints, its events, an event's deliveries and attempts, and the deliveries due
 * across every tenant (the delivery worker's). Each takes the connection's lock, as requests'.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

#define ENDPOINT_COLS "tenant_id, endpoint_id, url, types, enabled, secret, key_version, created_at"

static const char sql_endpoints[] = "SELECT " ENDPOINT_COLS " FROM webhook_endpoints"
                                    " WHERE tenant_id = ?1 AND (?2 = 0 OR endpoint_id = ?2)"
                                    " ORDER BY created_at, endpoint_id";
static const char sql_events[] =
    "SELECT tenant_id, event_id, type, payload, created_at FROM webhook_events"
    " WHERE tenant_id = ?1 AND (?2 = 0 OR event_id = ?2) AND (?3 = 0 OR event_id < ?3)"
    " ORDER BY event_id DESC LIMIT ?4";
static const char sql_deliveries[] =
    "SELECT tenant_id, event_id, endpoint_id, state, attempts, next_at FROM webhook_deliveries"
    " WHERE tenant_id = ?1 AND event_id = ?2 ORDER BY endpoint_id";
static const char sql_attempts[] =
    "SELECT tenant_id, event_id, endpoint_id, at, status, error FROM webhook_attempts"
    " WHERE tenant_id = ?1 AND event_id = ?2 ORDER BY at, seq, endpoint_id";
/* ?1 now, ?2 limit, ?3 PENDING: by the index webhook_deliveries_due (S_WEBHOOK_DUE). */
const char sq_webhook_due_sql[] =
    "SELECT d.tenant_id, d.event_id, d.endpoint_id, d.state, d.attempts, d.next_at, e.type,"
    " e.payload, e.created_at, p.tenant_id, p.endpoint_id, p.url, p.types, p.enabled, p.secret,"
    " p.key_version, p.created_at"
    " FROM webhook_deliveries d JOIN webhook_events e"
    " ON e.tenant_id = d.tenant_id AND e.event_id = d.event_id"
    " JOIN webhook_endpoints p ON p.tenant_id = d.tenant_id AND p.endpoint_id = d.endpoint_id"
    " WHERE d.state = ?3 AND d.next_at <= ?1 AND d.lease_until <= ?1 AND p.enabled = 1"
    " ORDER BY d.next_at LIMIT ?2";

static cu_rc read_endpoint_at(sqlite3_stmt *st, int c, cu_store_webhook_endpoint *e, cu_err *err)
{
    e->tenant_id = (cu_id)sqlite3_column_int64(st, c);
    e->id = (cu_id)sqlite3_column_int64(st, c + 1);
    sq_text_col(st, c + 2, e->url, sizeof(e->url));
    sq_text_col(st, c + 3, e->types, sizeof(e->types));
    e->enabled = sqlite3_column_int(st, c + 4);
    e->key_version = (uint32_t)sqlite3_column_int64(st, c + 6);
    e->created_at = sqlite3_column_int64(st, c + 7);
    return sq_blob_copy(st, c + 5, &e->secret, err);
}

static cu_rc read_endpoint(sqlite3_stmt *st, void *row, cu_err *err)
{
    return read_endpoint_at(st, 0, row, err);
}

static cu_rc read_event(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_webhook_event *e = row;

    e->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    e->id = (cu_id)sqlite3_column_int64(st, 1);
    sq_text_col(st, 2, e->type, sizeof(e->type));
    e->created_at = sqlite3_column_int64(st, 4);
    return sq_blob_copy(st, 3, &e->payload, err);
}

static void read_delivery_at(sqlite3_stmt *st, cu_store_webhook_delivery *d)
{
    d->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    d->event_id = (cu_id)sqlite3_column_int64(st, 1);
    d->endpoint_id = (cu_id)sqlite3_column_int64(st, 2);
    d->state = sqlite3_column_int(st, 3);
    d->attempts = (uint32_t)sqlite3_column_int64(st, 4);
    d->next_at = sqlite3_column_int64(st, 5);
}

static cu_rc read_delivery(sqlite3_stmt *st, void *row, cu_err *err)
{
    (void)err;
    read_delivery_at(st, row);
    return CU_OK;
}

static cu_rc read_attempt(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_webhook_attempt *a = row;

    (void)err;
    a->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    a->event_id = (cu_id)sqlite3_column_int64(st, 1);
    a->endpoint_id = (cu_id)sqlite3_column_int64(st, 2);
    a->at = sqlite3_column_int64(st, 3);
    a->status = sqlite3_column_int(st, 4);
    sq_text_col(st, 5, a->error, sizeof(a->error));
    return CU_OK;
}

static cu_rc read_job(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_webhook_job *j = row;
    cu_rc rc;

    read_delivery_at(st, &j->d);
    j->event.tenant_id = j->d.tenant_id;
    j->event.id = j->d.event_id;
    sq_text_col(st, 6, j->event.type, sizeof(j->event.type));
    j->event.created_at = sqlite3_column_int64(st, 8);
    if ((rc = sq_blob_copy(st, 7, &j->event.payload, err)) != CU_OK)
        return rc;
    return read_endpoint_at(st, 9, &j->endpoint, err);
}

static void endpoints_free(void *list, size_t n)
{
    cu_store_webhook_endpoints_free(list, n);
}

static void events_free(void *list, size_t n)
{
    cu_store_webhook_events_free(list, n);
}

static void jobs_free(void *list, size_t n)
{
    cu_store_webhook_jobs_free(list, n);
}

/* Prepares sql, binds p[0..np) as ?1.., collects its rows under the lock. */
static cu_rc collect(sqlite_store *s, const char *sql, const int64_t *p, int np, size_t sz,
                     row_reader fn, void (*free_fn)(void *, size_t), void **out, size_t *n,
                     cu_err *err)
{
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the webhook outbox");
    } else {
        for (int i = 0; i < np; i++)
            sqlite3_bind_int64(st, i + 1, p[i]);
        rc = sq_collect_rows(s, st, sz, fn, free_fn, out, n, err, "read the webhook outbox");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_webhook_endpoints(cu_store *base, cu_id tenant, cu_id id,
                           cu_store_webhook_endpoint **out, size_t *n, cu_err *err)
{
    int64_t p[2] = {(int64_t)tenant, (int64_t)id};

    return collect((sqlite_store *)base, sql_endpoints, p, 2, sizeof(**out), read_endpoint,
                   endpoints_free, (void **)out, n, err);
}

cu_rc sq_webhook_events(cu_store *base, cu_id tenant, cu_id id, cu_id before, size_t limit,
                        cu_store_webhook_event **out, size_t *n, cu_err *err)
{
    int64_t p[4] = {(int64_t)tenant, (int64_t)id, (int64_t)before, (int64_t)limit};

    return collect((sqlite_store *)base, sql_events, p, 4, sizeof(**out), read_event,
                   events_free, (void **)out, n, err);
}

cu_rc sq_webhook_deliveries(cu_store *base, cu_id tenant, cu_id event,
                            cu_store_webhook_delivery **out, size_t *n,
                            cu_store_webhook_attempt **attempts, size_t *na, cu_err *err)
{
    int64_t p[2] = {(int64_t)tenant, (int64_t)event};
    cu_rc rc = collect((sqlite_store *)base, sql_deliveries, p, 2, sizeof(**out), read_delivery,
                       NULL, (void **)out, n, err);

    if (rc == CU_OK)
        rc = collect((sqlite_store *)base, sql_attempts, p, 2, sizeof(**attempts), read_attempt,
                     NULL, (void **)attempts, na, err);
    if (rc != CU_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

cu_rc sq_webhook_due(cu_store *base, int64_t now, size_t limit, cu_store_webhook_job **out,
                     size_t *n, cu_err *err)
{
    int64_t p[3] = {now, (int64_t)limit, CU_WEBHOOK_PENDING};

    return collect((sqlite_store *)base, sq_webhook_due_sql, p, 3, sizeof(**out), read_job, jobs_free,
                   (void **)out, n, err);
}
