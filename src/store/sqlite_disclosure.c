/*
 * sqlite_disclosure.c: disclosures in the SQLite backend (store.h, P-SHR-1): migration 22's
 * table, CU_OP_DISCLOSURE_PUT and the read. One row per subject (or record) disclosed, keyed
 * by tenant first; ids, the policy's names, times, never a personal value. The rows go with
 * the tenant's (its close and its shred, P-RET-2); a subject's erasure keeps them, ids only,
 * as it keeps the audit log's entries: they are the record that the data left (docs/dsr.md).
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

/* Migration 22 (21 is the webhook outbox's). IF NOT EXISTS, as requests'. */
const char sq_migration_disclosures[] =
    "CREATE TABLE IF NOT EXISTS disclosures("
    "  tenant_id INTEGER NOT NULL, disclosure_id INTEGER NOT NULL,"
    "  subject_id INTEGER NOT NULL, record_id INTEGER NOT NULL, recipient TEXT NOT NULL,"
    "  purpose TEXT NOT NULL, categories TEXT NOT NULL, legal_basis TEXT NOT NULL,"
    "  reference TEXT NOT NULL, policy_version INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, disclosure_id, subject_id, record_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS disclosures_by_subject"
    "  ON disclosures(tenant_id, subject_id, created_at);";

#define DISCLOSURE_COLS                                                                            \
    "tenant_id, disclosure_id, subject_id, record_id, recipient, purpose, categories,"             \
    " legal_basis, reference, policy_version, created_at"

static const char sql_put[] = "INSERT INTO disclosures(" DISCLOSURE_COLS ")"
                              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
/* A tenant's rows (by its primary key), and one subject's (S_DISCLOSURES_OF: by the index
 * disclosures_by_subject, the subject's export's read). */
static const char sql_list[] = "SELECT " DISCLOSURE_COLS " FROM disclosures WHERE tenant_id = ?1"
                               " ORDER BY created_at DESC, disclosure_id, subject_id, record_id"
                               " LIMIT ?3";
const char sq_disclosures_of_sql[] = "SELECT " DISCLOSURE_COLS " FROM disclosures"
                                     " WHERE tenant_id = ?1 AND subject_id = ?2"
                                     " ORDER BY created_at DESC LIMIT ?3";

cu_rc sq_w_disclosure(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_disclosure *d = &op->u.disclosure;
    const char *text[6] = {d->recipient,   d->purpose,   d->categories,
                           d->legal_basis, d->reference, NULL};
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql_put, -1, &st, NULL);

    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, d->tenant_id);
        sq_bind_id(st, 2, d->id);
        sq_bind_id(st, 3, d->subject_id);
        sq_bind_id(st, 4, d->record_id);
        for (int i = 0; text[i] != NULL; i++)
            sqlite3_bind_text(st, 5 + i, text[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 10, d->policy_version);
        sqlite3_bind_int64(st, 11, d->created_at);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src == SQLITE_CONSTRAINT)
        return cu_err_set(err, CU_ERR_EXISTS, "the disclosure row exists");
    return src == SQLITE_DONE ? CU_OK : sq_db_error(s, src, err, "record a disclosure");
}

cu_rc sq_tenant_disclosures_delete(sqlite_store *s, cu_id tenant, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src =
        sqlite3_prepare_v2(s->db, "DELETE FROM disclosures WHERE tenant_id = ?1", -1, &st, NULL);

    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, tenant);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? CU_OK : sq_db_error(s, src, err, "delete the tenant's disclosures");
}

static cu_rc read_row(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_disclosure *d = row;

    (void)err;
    d->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    d->id = (cu_id)sqlite3_column_int64(st, 1);
    d->subject_id = (cu_id)sqlite3_column_int64(st, 2);
    d->record_id = (cu_id)sqlite3_column_int64(st, 3);
    sq_text_col(st, 4, d->recipient, sizeof(d->recipient));
    sq_text_col(st, 5, d->purpose, sizeof(d->purpose));
    sq_text_col(st, 6, d->categories, sizeof(d->categories));
    sq_text_col(st, 7, d->legal_basis, sizeof(d->legal_basis));
    sq_text_col(st, 8, d->reference, sizeof(d->reference));
    d->policy_version = (unsigned)sqlite3_column_int64(st, 9);
    d->created_at = sqlite3_column_int64(st, 10);
    return CU_OK;
}

cu_rc sq_disclosure_list(cu_store *base, cu_id tenant, cu_id subject, size_t limit,
                         cu_store_disclosure **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, subject ? sq_disclosures_of_sql : sql_list, -1, &st, NULL) !=
        SQLITE_OK) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the disclosures");
    } else {
        sq_bind_id(st, 1, tenant);
        if (subject != 0)
            sq_bind_id(st, 2, subject);
        sqlite3_bind_int64(st, 3, (int64_t)limit);
        rc = sq_collect_rows(s, st, sizeof(**out), read_row, NULL, (void **)out, n, err,
                             "read the disclosures");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
