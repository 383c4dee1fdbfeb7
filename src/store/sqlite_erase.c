/*
 * sqlite_erase.c: the SQLite backend's half of a flat erasure (P-DSR-4, docs/store.md).
 *
 * Destroying a subject's key (CU_OP_KEY_DELETE) queues its erasure in the erasures table in the
 * same transaction; from that commit on, every read hides the subject, its records and their
 * index entries (ERASING in sqlite_stmt.c), so the erasure is whole for readers at once, while
 * the rows themselves go later, a bounded batch per transaction (CU_OP_ERASE_ROWS), and the
 * queue entry with the last of them. The queue is in the database, so an erasure cut short by a
 * crash is found again at the next start.
 */
#include <stdlib.h>

#include <sqlite3.h>

#include "sqlite_int.h"
#include "util.h"

/* Binds the leading (tenant, subject) parameters of statement id, and limit as ?3 if >= 0, and
 * runs it. */
static cu_rc run_subject(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id subject,
                         int64_t limit, const char *what, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt_pair(s, id, tenant, subject);

    if (st && limit >= 0)
        sqlite3_bind_int64(st, 3, limit);
    return sq_run(s, st, err, what);
}

cu_rc sq_erase_queue(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    return run_subject(s, S_ERASE_QUEUE, tenant, subject, -1, "queue the subject's erasure", err);
}

cu_rc sq_erase_dequeue(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    return run_subject(s, S_ERASE_DEQUEUE, tenant, subject, -1, "end the subject's erasure", err);
}

/* The subject itself, once no record is left: its own index entries, its consent ledger, its
 * row and its place in the queue. */
static cu_rc erase_subject(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    static const struct {
        enum stmt_id id;
        const char *what;
    } steps[] = {
        {S_SUBJECT_RECORDS_BLIND_DELETE, "delete the subject's record index"},
        {S_SUBJECT_RECORDS_DELETE, "delete the subject's records"},
        {S_BLIND_DELETE, "delete subject index"},
        {S_SUBJECT_CONSENTS_DELETE, "delete the subject's consent ledger"},
        {S_SUBJECT_DELETE, "delete subject"},
        {S_ERASE_DEQUEUE, "end the subject's erasure"},
    };
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < CU_ARRAY_LEN(steps) && rc == CU_OK; i++)
        rc = run_subject(s, steps[i].id, tenant, subject, -1, steps[i].what, err);
    return rc;
}

cu_rc sq_w_erase_rows(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    cu_id tenant = op->u.erase.tenant_id, subject = op->u.erase.subject_id;
    sqlite3_stmt *st = sq_stmt_pair(s, S_ERASING, tenant, subject);
    int64_t queued = 0;
    cu_rc rc;
    int src;

    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "read the erasure queue");
    src = sqlite3_step(st);
    queued = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (src != SQLITE_ROW)
        return sq_db_error(s, src, err, "read the erasure queue");
    /* Only what a destroyed key left behind: never a live subject's rows, whatever its holds. */
    if (!queued)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no erasure of this subject is under way");
    if (op->u.erase.limit == 0)
        return erase_subject(s, tenant, subject, err);
    /* The same oldest records twice, in one transaction: their index entries, then them. */
    rc = run_subject(s, S_ERASE_BLIND_BATCH, tenant, subject, op->u.erase.limit,
                     "delete the erased subject's record index", err);
    if (rc == CU_OK)
        rc = run_subject(s, S_ERASE_RECORDS_BATCH, tenant, subject, op->u.erase.limit,
                         "delete the erased subject's records", err);
    return rc;
}

static cu_rc read_erasure(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_erasure *e = row;

    (void)err;
    e->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    e->subject_id = (cu_id)sqlite3_column_int64(st, 1);
    e->records = (uint64_t)sqlite3_column_int64(st, 2);
    return CU_OK;
}

cu_rc sq_erasure_list(cu_store *base, cu_id after_tenant, cu_id after_subject, size_t limit,
                      cu_store_erasure **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt_pair(s, S_ERASE_LIST, after_tenant, after_subject)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list erasures");
    } else {
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
        rc = sq_collect_rows(s, st, sizeof(**out), read_erasure, NULL, (void **)out, n, err,
                             "list erasures");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_erase_fill(sqlite_store *s, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db,
                                 "INSERT OR IGNORE INTO erasures(tenant_id, subject_id)"
                                 " SELECT s.tenant_id, s.subject_id FROM subjects s"
                                 " WHERE NOT EXISTS (SELECT 1 FROM keys k"
                                 " WHERE k.tenant_id = s.tenant_id AND k.kind = ?1"
                                 " AND k.owner_id = s.subject_id)",
                                 -1, &st, NULL);

    if (src == SQLITE_OK) {
        sqlite3_bind_int(st, 1, CU_KEY_SUBJECT);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return sq_db_error(s, src, err, "queue the erasures cut short");
    return CU_OK;
}
