/*
 * sqlite_erase.c: the SQLite backend's half of a flat erasure (P-DSR-4, docs/store.md).
 *
 * Destroying a subject's key (CU_OP_KEY_DELETE) queues its erasure in the erasures table in the
 * same transaction; from that commit on, every read hides the subject, its records and their
 * index entries (ERASING in sqlite_stmt.c), so the erasure is whole for readers at once, while
 * the rows themselves go later, a bounded batch per transaction (CU_OP_ERASE_ROWS), and the
 * queue entry with the last of them. The queue is in the database, so an erasure cut short by a
 * crash is found again at the next start.
 *
 * Erasure subject to legal retention (P-RET-4): the records a legal obligation keeps are sealed
 * again under the subject's retained key and marked retained in the key's own transaction
 * (CU_OP_RECORD_RETAIN); the batches leave them, and the last step, while any is left, deletes
 * the rest of the subject but its row (their foreign key) and marks its queue entry kept: the
 * subject stays hidden. The sweep deletes each retained record at its category's date; the
 * next pass of the queue then deletes the subject, its retained key and its entry.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sqlite_int.h"
#include "util.h"

/* run_subject's limit: no ?3 to bind, or a batch without limit (SQLite's LIMIT -1). */
#define NO_PARAM INT64_MIN
#define ALL_ROWS (-1)

/* Binds the leading (tenant, subject) parameters of statement id, and limit as ?3 unless
 * NO_PARAM, and runs it. */
static cu_rc run_subject(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id subject,
                         int64_t limit, const char *what, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt_pair(s, id, tenant, subject);

    if (st && limit != NO_PARAM)
        sqlite3_bind_int64(st, 3, limit);
    return sq_run(s, st, err, what);
}

cu_rc sq_erase_queue(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    return run_subject(s, S_ERASE_QUEUE, tenant, subject, NO_PARAM, "queue the subject's erasure", err);
}

cu_rc sq_erase_dequeue(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    return run_subject(s, S_ERASE_DEQUEUE, tenant, subject, NO_PARAM, "end the subject's erasure", err);
}

/* Whether records of the subject are retained (P-RET-4). */
static cu_rc retained_left(sqlite_store *s, cu_id tenant, cu_id subject, int *left, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt_pair(s, S_RETAINED_LEFT, tenant, subject);
    int src;

    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "read the retained records");
    src = sqlite3_step(st);
    *left = src == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    return src == SQLITE_ROW ? CU_OK : sq_db_error(s, src, err, "read the retained records");
}

/* The subject's retained key, once none of its records is retained any more. */
static cu_rc retained_key_delete(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, S_KEY_DELETE);

    if (st) {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int(st, 2, (int)CU_KEY_RETAINED);
        sq_bind_id(st, 3, subject);
    }
    return sq_run(s, st, err, "destroy the retained key");
}

/* The subject itself, once no record is left but those retained: the rest of its records
 * (LIMIT -1: all), its own index entries and its consent ledger; then, if none is retained,
 * its row, its retained key and its place in the queue, else its entry marked kept. */
static cu_rc erase_subject(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    static const struct {
        enum stmt_id id;
        const char *what;
    } steps[] = {
        {S_ERASE_BLIND_BATCH, "delete the subject's record index"},
        {S_ERASE_RECORDS_BATCH, "delete the subject's records"},
        {S_BLIND_DELETE, "delete subject index"},
        {S_SUBJECT_CONSENTS_DELETE, "delete the subject's consent ledger"},
    };
    cu_rc rc = CU_OK;
    int left = 0;

    for (size_t i = 0; i < CU_ARRAY_LEN(steps) && rc == CU_OK; i++)
        rc = run_subject(s, steps[i].id, tenant, subject, i < 2 ? ALL_ROWS : NO_PARAM, steps[i].what, err);
    if (rc == CU_OK)
        rc = retained_left(s, tenant, subject, &left, err);
    if (rc != CU_OK)
        return rc;
    if (left)
        return run_subject(s, S_ERASE_KEEP, tenant, subject, NO_PARAM, "keep the subject's erasure",
                           err);
    if ((rc = run_subject(s, S_SUBJECT_DELETE, tenant, subject, NO_PARAM, "delete subject", err)) ==
            CU_OK &&
        (rc = retained_key_delete(s, tenant, subject, err)) == CU_OK)
        rc = run_subject(s, S_ERASE_DEQUEUE, tenant, subject, NO_PARAM, "end the subject's erasure",
                         err);
    return rc;
}

/* Seals the record's fields again (same names: only their ciphertext changes). */
static cu_rc retain_fields(sqlite_store *s, const cu_store_reseal *r, cu_err *err)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < r->nfields && rc == CU_OK; i++) {
        sqlite3_stmt *st = sq_stmt_pair(s, S_RESEAL_FIELD, r->tenant_id, r->id);
        if (st) {
            sqlite3_bind_text(st, 3, r->fields[i].name, -1, SQLITE_STATIC);
            sq_bind_blob(st, 4, &r->fields[i].ct);
        }
        rc = sq_run(s, st, err, "seal a retained field");
        if (rc == CU_OK && sqlite3_changes(s->db) != 1)
            rc = cu_err_set(err, CU_ERR_CONFLICT, "the retained record's fields changed");
    }
    return rc;
}

cu_rc sq_w_record_retain(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_reseal *r = &op->u.reseal;
    sqlite3_stmt *st = sq_stmt_pair(s, S_RECORD_RETAIN, r->tenant_id, r->id);
    cu_rc rc;

    if (st) {
        sq_bind_blob(st, 3, &r->ct[0]);
        sqlite3_bind_int64(st, 4, r->key_version);
        sq_bind_blob(st, 5, &r->old[0]);
    }
    if ((rc = sq_run(s, st, err, "retain a record")) != CU_OK)
        return rc;
    /* Written or deleted since it was read: the erasure reads it again (subject.c). */
    if (sqlite3_changes(s->db) != 1)
        return cu_err_set(err, CU_ERR_CONFLICT, "the record changed while its subject was erased");
    if ((rc = retain_fields(s, r, err)) != CU_OK ||
        (rc = sq_run(s, sq_stmt_pair(s, S_RETAIN_MARK, r->tenant_id, r->id), err,
                     "mark a retained record")) != CU_OK)
        return rc;
    /* Kept, not found: none of its values stays searchable (P-DSR-4). */
    st = sq_stmt_pair(s, S_BLIND_DELETE, r->tenant_id, r->id);
    return sq_run(s, st, err, "delete the retained record's index");
}

cu_rc sq_record_ids_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                       cu_id **ids, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt_pair(s, S_RECORD_IDS_IN, tenant, subject)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list records");
    } else {
        sqlite3_bind_text(st, 3, collection, -1, SQLITE_TRANSIENT);
        rc = sq_collect_ids(s, st, ids, n, err, "list records");
    }
    pthread_mutex_unlock(&s->lock);
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
    e->kept = sqlite3_column_int(st, 3);
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

static cu_rc read_count(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_count *c = row;
    const unsigned char *name = sqlite3_column_text(st, 0);

    (void)err;
    cu_strlcpy(c->collection, name ? (const char *)name : "", sizeof(c->collection));
    c->records = (uint64_t)sqlite3_column_int64(st, 1);
    return CU_OK;
}

cu_rc sq_record_counts(cu_store *base, cu_id tenant, cu_id subject, uint64_t limit,
                       cu_store_count **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt_pair(s, S_RECORD_COUNTS, tenant, subject)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "count records");
    } else {
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
        rc = sq_collect_rows(s, st, sizeof(**out), read_count, NULL, (void **)out, n, err,
                             "count records");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* --- the erasure's certificate, its guard, its scrub (issue 10) ----------------------------- */

/* IF NOT EXISTS: tests/test_subject_export.c re-runs the migrations from 16 on. */
const char sq_migration_erasure_certificates[] =
    "CREATE TABLE IF NOT EXISTS erasure_certificates("
    "  tenant_id INTEGER NOT NULL, subject_id INTEGER NOT NULL, certificate TEXT NOT NULL,"
    "  PRIMARY KEY(tenant_id, subject_id)) WITHOUT ROWID;";

_Thread_local int sq_checkpoint_wait_ms = -1;

cu_rc cu_store_checkpoint_brief(cu_store *s, int wait_ms, cu_err *err)
{
    int before = sq_checkpoint_wait_ms;
    cu_rc rc;

    sq_checkpoint_wait_ms = wait_ms < 0 ? 0 : wait_ms;
    rc = cu_store_checkpoint(s, err);
    sq_checkpoint_wait_ms = before;
    return rc;
}

/* Prepares sql, binds (tenant, subject) as ?1 and ?2; NULL on failure (err set). */
static sqlite3_stmt *prep_pair(sqlite_store *s, const char *sql, cu_id tenant, cu_id subject,
                               cu_err *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (src != SQLITE_OK) {
        sqlite3_finalize(st);
        sq_db_error(s, src, err, what);
        return NULL;
    }
    sq_bind_id(st, 1, tenant);
    sq_bind_id(st, 2, subject);
    return st;
}

cu_rc sq_w_erasure_cert(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const char *what = "store the erasure certificate";
    sqlite3_stmt *st = prep_pair(s,
                                 "INSERT INTO erasure_certificates(tenant_id, subject_id,"
                                 " certificate) VALUES(?1, ?2, ?3)",
                                 op->u.erasure_cert.tenant_id, op->u.erasure_cert.subject_id, err,
                                 what);
    cu_rc rc = CU_OK;
    int src;

    if (st == NULL)
        return CU_ERR_STORE;
    sqlite3_bind_text(st, 3, op->u.erasure_cert.certificate, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_CONSTRAINT)
        rc = cu_err_set(err, CU_ERR_EXISTS, "the subject's erasure has its certificate already");
    else if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, what);
    sqlite3_finalize(st);
    return rc;
}

/* P-RET-4: the erasure planned what to keep from the records it read; one written or deleted
 * since in a collection it checks makes the count differ, and the whole erasure is refused
 * (subject.c plans it again). */
cu_rc sq_w_erase_guard(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const char *what = "check the erasure's plan";
    sqlite3_stmt *st = prep_pair(s,
                                 "SELECT count(*) FROM records WHERE tenant_id = ?1"
                                 " AND subject_id = ?2 AND collection = ?3",
                                 op->u.erase_guard.tenant_id, op->u.erase_guard.subject_id, err,
                                 what);
    int64_t n = -1;
    int src;

    if (st == NULL)
        return CU_ERR_STORE;
    sqlite3_bind_text(st, 3, op->u.erase_guard.collection, -1, SQLITE_STATIC);
    if ((src = sqlite3_step(st)) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return sq_db_error(s, src, err, what);
    if ((uint64_t)n != op->u.erase_guard.records)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the subject's records changed while its erasure was planned");
    return CU_OK;
}

cu_rc sq_erasure_certificate(cu_store *base, cu_id tenant, cu_id subject, char **text,
                             cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    const char *what = "read the erasure certificate";
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *text = NULL;
    pthread_mutex_lock(&s->lock);
    st = prep_pair(s,
                   "SELECT certificate FROM erasure_certificates WHERE tenant_id = ?1"
                   " AND subject_id = ?2",
                   tenant, subject, err, what);
    if (st == NULL) {
        rc = CU_ERR_STORE;
    } else if ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if ((*text = strdup(t ? (const char *)t : "")) == NULL)
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    } else {
        rc = src == SQLITE_DONE ? cu_err_set(err, CU_ERR_NOT_FOUND, "no erasure certificate")
                                : sq_db_error(s, src, err, what);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_tenant_dsr_delete(sqlite_store *s, cu_id tenant, cu_err *err)
{
    static const char *const sql[] = {
        "DELETE FROM requests WHERE tenant_id = ?1",
        "DELETE FROM erasure_certificates WHERE tenant_id = ?1",
        "DELETE FROM audit_subjects WHERE tenant_id = ?1",
        "DELETE FROM audit_subject_marks WHERE tenant_id = ?1",
        "DELETE FROM analytics_budgets WHERE tenant_id = ?1", /* P-ISO-2: numbers, but its own */
    };
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < CU_ARRAY_LEN(sql) && rc == CU_OK; i++) {
        sqlite3_stmt *st = prep_pair(s, sql[i], tenant, 0, err, "purge the tenant's requests");
        rc = st == NULL ? CU_ERR_STORE : sq_run(s, st, err, "purge the tenant's requests");
        sqlite3_finalize(st);
    }
    if (rc == CU_OK)
        rc = sq_tenant_disclosures_delete(s, tenant, err); /* sqlite_disclosure.c */
    return rc == CU_OK ? sq_tenant_webhooks_delete(s, tenant, err) : rc; /* sqlite_webhook.c */
}
