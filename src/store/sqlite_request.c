/*
 * sqlite_request.c: data-subject requests in the SQLite backend (P-DSR-7, docs/store.md).
 *
 * A request is one row keyed (tenant, request): kinds, states, times and reason codes, and the
 * SHA-256 of a verification token; no personal value. Its transitions are optimistic: each
 * CU_OP_REQUEST_UPDATE names the version it writes and applies only over the one before, so
 * two transitions that raced (two verifications of one token, an acknowledgement and a
 * rejection) cannot both win: the second gets CU_ERR_CONFLICT, inside the same transaction as
 * its audit entry. The statements are this file's own, prepared per call: requests are rare
 * next to records, and the backend's statement table stays the other files'.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

/* IF NOT EXISTS: a vault set back to an older schema version by hand (tests/test_audit.c
 * downgrades to 9) upgrades again over the table it kept. */
const char sq_migration_requests[] =
    "CREATE TABLE IF NOT EXISTS requests("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), request_id INTEGER NOT NULL,"
    "  subject_id INTEGER NOT NULL, type INTEGER NOT NULL, state INTEGER NOT NULL,"
    "  filer INTEGER NOT NULL, decision INTEGER NOT NULL, purpose TEXT NOT NULL,"
    "  reason TEXT NOT NULL, filed_at INTEGER NOT NULL, verified_at INTEGER NOT NULL,"
    "  acknowledged_at INTEGER NOT NULL, extended_at INTEGER NOT NULL,"
    "  closed_at INTEGER NOT NULL, decided_at INTEGER NOT NULL, ack_due INTEGER NOT NULL,"
    "  answer_due INTEGER NOT NULL, token_hash BLOB, token_expires INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL, version INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, request_id)) WITHOUT ROWID;";

#define COLS                                                                                       \
    "tenant_id, request_id, subject_id, type, state, filer, decision, purpose, reason, filed_at,"  \
    " verified_at, acknowledged_at, extended_at, closed_at, decided_at, ack_due, answer_due,"      \
    " token_hash, token_expires, attempts, version"

static const char sql_put[] = "INSERT INTO requests(" COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                              " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
                              " ?21)";
static const char sql_update[] =
    "UPDATE requests SET subject_id = ?3, type = ?4, state = ?5, filer = ?6, decision = ?7,"
    " purpose = ?8, reason = ?9, filed_at = ?10, verified_at = ?11, acknowledged_at = ?12,"
    " extended_at = ?13, closed_at = ?14, decided_at = ?15, ack_due = ?16, answer_due = ?17,"
    " token_hash = ?18, token_expires = ?19, attempts = ?20, version = ?21"
    " WHERE tenant_id = ?1 AND request_id = ?2 AND version = ?21 - 1";
static const char sql_exists[] = "SELECT 1 FROM requests WHERE tenant_id = ?1 AND request_id = ?2";
static const char sql_list[] = "SELECT " COLS " FROM requests WHERE tenant_id = ?1"
                               " AND (?2 = 0 OR request_id = ?2) ORDER BY filed_at, request_id";
/* One subject's (store_portal.h). The primary key narrows to the tenant; an index on
 * (tenant_id, subject_id) is left for a migration of its own (docs/portal.md). */
static const char sql_list_subject[] = "SELECT " COLS " FROM requests WHERE tenant_id = ?1"
                                       " AND subject_id = ?2 ORDER BY filed_at, request_id";

/* The queue's order (cu_store_request_query): open first, then the next due date, then id, with
 * a keyset cursor, so a page costs its rows, not the requests before it in C. */
static const char sql_page[] =
    "SELECT " COLS " FROM (SELECT *, CASE WHEN state IN (?2, ?3) THEN 1 ELSE 0 END AS closed,"
    " CASE WHEN acknowledged_at = 0 THEN ack_due ELSE answer_due END AS due FROM requests"
    " WHERE tenant_id = ?1) WHERE (?4 = 0 OR closed = 0) AND due BETWEEN ?5 AND ?6"
    " AND (closed, due, request_id) > (?7, ?8, ?9) ORDER BY closed, due, request_id LIMIT ?10";

static void bind_row(sqlite3_stmt *st, const cu_store_request *r)
{
    const int64_t times[] = {r->filed_at,  r->verified_at, r->acknowledged_at, r->extended_at,
                             r->closed_at, r->decided_at,  r->ack_due,         r->answer_due};

    sq_bind_id(st, 1, r->tenant_id);
    sq_bind_id(st, 2, r->id);
    sq_bind_id(st, 3, r->subject_id);
    sqlite3_bind_int(st, 4, r->type);
    sqlite3_bind_int(st, 5, r->state);
    sqlite3_bind_int(st, 6, r->filer);
    sqlite3_bind_int(st, 7, r->decision);
    sqlite3_bind_text(st, 8, r->purpose, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 9, r->reason, -1, SQLITE_TRANSIENT);
    for (int i = 0; i < 8; i++)
        sqlite3_bind_int64(st, 10 + i, times[i]);
    if (r->has_token)
        sqlite3_bind_blob(st, 18, r->token_hash, 32, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 18);
    sqlite3_bind_int64(st, 19, r->token_expires);
    sqlite3_bind_int64(st, 20, r->attempts);
    sqlite3_bind_int64(st, 21, r->version);
}

/* Runs sql once over the row r; *changed gets the rows it changed. */
static cu_rc run_row(sqlite_store *s, const char *sql, const cu_store_request *r, int *changed,
                     cu_err *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    cu_rc rc = CU_OK;

    if (src == SQLITE_OK) {
        bind_row(st, r);
        src = sqlite3_step(st);
    }
    if (src == SQLITE_CONSTRAINT)
        rc = cu_err_set(err, CU_ERR_EXISTS, "request id taken");
    else if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, what);
    else
        *changed = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc;
}

static int row_exists(sqlite_store *s, cu_id tenant, cu_id id)
{
    sqlite3_stmt *st = NULL;
    int found = 0;

    if (sqlite3_prepare_v2(s->db, sql_exists, -1, &st, NULL) == SQLITE_OK) {
        sq_bind_id(st, 1, tenant);
        sq_bind_id(st, 2, id);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

cu_rc sq_w_request(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_request *r = &op->u.request;
    int changed = 0;
    cu_rc rc;

    if (op->type == CU_OP_REQUEST_PUT)
        return run_row(s, sql_put, r, &changed, err, "file request");
    if ((rc = run_row(s, sql_update, r, &changed, err, "update request")) != CU_OK)
        return rc;
    if (changed == 1)
        return CU_OK;
    if (!row_exists(s, r->tenant_id, r->id))
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such request");
    return cu_err_set(err, CU_ERR_CONFLICT, "the request changed meanwhile: read it again");
}

static cu_rc read_request(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_request *r = row;
    int64_t *times[] = {&r->filed_at,  &r->verified_at, &r->acknowledged_at, &r->extended_at,
                        &r->closed_at, &r->decided_at,  &r->ack_due,         &r->answer_due};

    (void)err;
    r->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    r->id = (cu_id)sqlite3_column_int64(st, 1);
    r->subject_id = (cu_id)sqlite3_column_int64(st, 2);
    r->type = sqlite3_column_int(st, 3);
    r->state = sqlite3_column_int(st, 4);
    r->filer = sqlite3_column_int(st, 5);
    r->decision = sqlite3_column_int(st, 6);
    sq_text_col(st, 7, r->purpose, sizeof(r->purpose));
    sq_text_col(st, 8, r->reason, sizeof(r->reason));
    for (int i = 0; i < 8; i++)
        *times[i] = sqlite3_column_int64(st, 9 + i);
    r->has_token = sqlite3_column_type(st, 17) == SQLITE_BLOB;
    sq_blob32_col(st, 17, r->token_hash);
    r->token_expires = sqlite3_column_int64(st, 18);
    r->attempts = (uint32_t)sqlite3_column_int64(st, 19);
    r->version = (uint32_t)sqlite3_column_int64(st, 20);
    return CU_OK;
}

static cu_rc list_by(cu_store *base, const char *sql, cu_id tenant, cu_id id,
                     cu_store_request **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list requests");
    } else {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int64(st, 2, (int64_t)id);
        rc = sq_collect_rows(s, st, sizeof(**out), read_request, NULL, (void **)out, n, err,
                             "list requests");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_request_list(cu_store *base, cu_id tenant, cu_id id, cu_store_request **out, size_t *n,
                      cu_err *err)
{
    return list_by(base, sql_list, tenant, id, out, n, err);
}

cu_rc sq_request_list_subject(cu_store *base, cu_id tenant, cu_id subject,
                              cu_store_request **out, size_t *n, cu_err *err)
{
    return list_by(base, sql_list_subject, tenant, subject, out, n, err);
}

cu_rc sq_request_page(cu_store *base, cu_id tenant, const cu_store_request_query *q,
                      cu_store_request **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, sql_page, -1, &st, NULL) != SQLITE_OK) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "page requests");
    } else {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int(st, 2, q->done[0]);
        sqlite3_bind_int(st, 3, q->done[1]);
        sqlite3_bind_int(st, 4, q->open_only);
        sqlite3_bind_int64(st, 5, q->due_lo);
        sqlite3_bind_int64(st, 6, q->due_hi);
        sqlite3_bind_int(st, 7, q->after_closed);
        sqlite3_bind_int64(st, 8, q->after_due);
        sq_bind_id(st, 9, q->after_id);
        sqlite3_bind_int64(st, 10, (int64_t)q->limit);
        rc = sq_collect_rows(s, st, sizeof(**out), read_request, NULL, (void **)out, n, err,
                             "page requests");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
