/*
 * pg_data_request.c: data-subject requests in the PostgreSQL backend (P-DSR-7, docs/store.md;
 * sqlite_request.c is the reference).
 *
 * A request is one row keyed (tenant, request): kinds, states, times and reason codes, and the
 * SHA-256 of a verification token; no personal value. Its transitions are optimistic: each
 * REQUEST_UPDATE names the version it writes and applies only over the one before, so two
 * transitions that raced cannot both win. Under PostgreSQL's READ COMMITTED the second UPDATE
 * waits for the first's row lock, then finds the row at the new version and changes nothing:
 * CU_ERR_CONFLICT, in the same transaction as its audit entry.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

#define COLS                                                                                     \
    "tenant_id, request_id, subject_id, type, state, filer, decision, purpose, reason, filed_at," \
    " verified_at, acknowledged_at, extended_at, closed_at, decided_at, ack_due, answer_due,"     \
    " token_hash, token_expires, attempts, version"

static pg_query Q_REQUEST_PUT =
    PG_QUERY("INSERT INTO requests(" COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
             " $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)");
/* Answers 1 if it wrote, 0 if the row is at another version, no row if there is none. */
static pg_query Q_REQUEST_UPDATE = PG_QUERY(
    "WITH u AS (UPDATE requests SET subject_id = $3, type = $4, state = $5, filer = $6,"
    " decision = $7, purpose = $8, reason = $9, filed_at = $10, verified_at = $11,"
    " acknowledged_at = $12, extended_at = $13, closed_at = $14, decided_at = $15,"
    " ack_due = $16, answer_due = $17, token_hash = $18, token_expires = $19, attempts = $20,"
    " version = $21 WHERE tenant_id = $1 AND request_id = $2 AND version = $21 - 1"
    " RETURNING 1)"
    " SELECT (SELECT count(*) FROM u) FROM requests WHERE tenant_id = $1 AND request_id = $2");
static pg_query Q_REQUEST_LIST =
    PG_QUERY("SELECT " COLS " FROM requests WHERE tenant_id = $1"
             " AND ($2 = 0 OR request_id = $2) ORDER BY filed_at, request_id");
/* One subject's (store_portal.h; sqlite_request.c says why no index yet). */
static pg_query Q_REQUEST_LIST_SUBJECT =
    PG_QUERY("SELECT " COLS " FROM requests WHERE tenant_id = $1"
             " AND subject_id = $2 ORDER BY filed_at, request_id");

/* The queue's order (cu_store_request_query; sqlite_request.c's sql_page). */
static pg_query Q_REQUEST_PAGE = PG_QUERY(
    "SELECT " COLS " FROM (SELECT *, CASE WHEN state IN ($2, $3) THEN 1 ELSE 0 END AS closed,"
    " CASE WHEN acknowledged_at = 0 THEN ack_due ELSE answer_due END AS due FROM requests"
    " WHERE tenant_id = $1) r WHERE ($4 = 0 OR closed = 0) AND due BETWEEN $5 AND $6"
    " AND (closed, due, request_id) > ($7, $8, $9) ORDER BY closed, due, request_id LIMIT $10");

#define REQUEST_PARAMS(r)                                                                        \
    PG_P(pg_p_id((r)->tenant_id), pg_p_id((r)->id), pg_p_id((r)->subject_id),                    \
         pg_p_i64((r)->type), pg_p_i64((r)->state), pg_p_i64((r)->filer),                        \
         pg_p_i64((r)->decision), pg_p_text((r)->purpose), pg_p_text((r)->reason),               \
         pg_p_i64((r)->filed_at), pg_p_i64((r)->verified_at), pg_p_i64((r)->acknowledged_at),    \
         pg_p_i64((r)->extended_at), pg_p_i64((r)->closed_at), pg_p_i64((r)->decided_at),        \
         pg_p_i64((r)->ack_due), pg_p_i64((r)->answer_due),                                      \
         pg_p_blob((r)->has_token ? (r)->token_hash : NULL, 32), pg_p_i64((r)->token_expires),   \
         pg_p_i64((r)->attempts), pg_p_i64((r)->version))

cu_rc pg_w_request_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    /* A taken id: 23505, CU_ERR_EXISTS (pg_error). */
    return pg_exec(c, &Q_REQUEST_PUT, REQUEST_PARAMS(&op->u.request), NULL, err, "file request");
}

cu_rc pg_w_request_update(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    PGresult *res;
    cu_rc rc = pg_exec(c, &Q_REQUEST_UPDATE, REQUEST_PARAMS(&op->u.request), &res, err,
                       "update request");
    int rows;
    int64_t wrote;

    if (rc != CU_OK)
        return rc;
    rows = pg_rows(res);
    wrote = rows > 0 ? pg_i64(res, 0, 0) : 0;
    PQclear(res);
    if (rows == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such request");
    if (wrote != 1)
        return cu_err_set(err, CU_ERR_CONFLICT, "the request changed meanwhile: read it again");
    return CU_OK;
}

static cu_rc request_row(const PGresult *res, int i, void *out, cu_err *err)
{
    cu_store_request *r = out;
    int64_t *times[] = {&r->filed_at,  &r->verified_at, &r->acknowledged_at, &r->extended_at,
                        &r->closed_at, &r->decided_at,  &r->ack_due,         &r->answer_due};

    r->tenant_id = pg_id(res, i, 0);
    r->id = pg_id(res, i, 1);
    r->subject_id = pg_id(res, i, 2);
    r->type = (int)pg_i64(res, i, 3);
    r->state = (int)pg_i64(res, i, 4);
    r->filer = (int)pg_i64(res, i, 5);
    r->decision = (int)pg_i64(res, i, 6);
    pg_text_copy(res, i, 7, r->purpose, sizeof(r->purpose));
    pg_text_copy(res, i, 8, r->reason, sizeof(r->reason));
    for (int t = 0; t < 8; t++)
        *times[t] = pg_i64(res, i, 9 + t);
    r->has_token = !pg_null(res, i, 17);
    pg_blob32(res, i, 17, r->token_hash);
    r->token_expires = pg_i64(res, i, 18);
    r->attempts = (uint32_t)pg_i64(res, i, 19);
    r->version = (uint32_t)pg_i64(res, i, 20);
    (void)err;
    return CU_OK;
}

cu_rc pg_request_list(cu_store *base, cu_id tenant, cu_id id, cu_store_request **out, size_t *n,
                      cu_err *err)
{
    return pg_read_rows(base, &Q_REQUEST_LIST, PG_P(pg_p_id(tenant), pg_p_id(id)),
                        sizeof(**out), request_row, NULL, (void **)out, n, err, "list requests");
}

cu_rc pg_request_list_subject(cu_store *base, cu_id tenant, cu_id subject,
                              cu_store_request **out, size_t *n, cu_err *err)
{
    return pg_read_rows(base, &Q_REQUEST_LIST_SUBJECT, PG_P(pg_p_id(tenant), pg_p_id(subject)),
                        sizeof(**out), request_row, NULL, (void **)out, n, err,
                        "list a subject's requests");
}

cu_rc pg_request_page(cu_store *base, cu_id tenant, const cu_store_request_query *q,
                      cu_store_request **out, size_t *n, cu_err *err)
{
    return pg_read_rows(base, &Q_REQUEST_PAGE,
                        PG_P(pg_p_id(tenant), pg_p_i64(q->done[0]), pg_p_i64(q->done[1]),
                             pg_p_i64(q->open_only), pg_p_i64(q->due_lo), pg_p_i64(q->due_hi),
                             pg_p_i64(q->after_closed), pg_p_i64(q->after_due),
                             pg_p_id(q->after_id), pg_p_i64((int64_t)q->limit)),
                        sizeof(**out), request_row, NULL, (void **)out, n, err, "page requests");
}
