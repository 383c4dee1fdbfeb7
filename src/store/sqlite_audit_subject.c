/*
 * sqlite_audit_subject.c: the audit log's index by subject, and snapshot handles.
 *
 * audit_subjects(tenant_id, subject_id, seq) names the entries of a tenant's log that touch a
 * subject's data, so a subject's accesses (GDPR Art. 15(1)(c): who, when, what, why) are found
 * by a range of one primary key, not a scan of the log. AUDIT_APPEND stores the subject the core
 * gave an entry (cu_audit_entry.subject_id) in the log row's subject_id column, beside the
 * entry and outside its encoding and hash (docs/audit.md): the chain's format is unchanged, and
 * the write path pays a few bytes in a page it writes anyway, no B-tree of its own (measured
 * with bench_bytes: a row per append in a second table cost audited reads a third more bytes).
 * AUDIT_SUBJECT_INDEX catches the index up from that column, past each tenant's mark
 * (audit_subject_marks); a reader takes the index up to the mark, then the log's rows past it
 * (a range of the log's key), so it misses nothing whenever the index last caught up. A prune
 * drops the index rows of the entries it removes; the index holds ids only, like the log.
 *
 * The subject's collections with their counts (its export's plan) are read here too.
 *
 * A snapshot is a read-only connection of its own that holds one read transaction from its
 * opening to its close: every read on it sees the committed state at the opening (WAL).
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

#define SNAPSHOT_CACHE "-24576" /* KiB: a snapshot's page cache, at most 24 MB */

/* At most op's limit of entries a call (0: every one): the writer is held for a bounded time
 * however long the index went without catching up; readers take the log past the mark. */
cu_rc sq_w_audit_subject_index(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_int64 limit = op->u.audit_index.limit ? op->u.audit_index.limit : INT32_MAX;
    sqlite3_stmt *st = sq_stmt(s, S_AUDIT_SUBJECT_CATCHUP);
    cu_rc rc;

    if (st) {
        sq_bind_id(st, 1, op->u.audit_index.tenant_id);
        sqlite3_bind_int64(st, 2, limit);
    }
    if ((rc = sq_run(s, st, err, "catch the audit log's subject index up")) != CU_OK)
        return rc;
    st = sq_stmt(s, S_AUDIT_SUBJECT_MARK);
    if (st) {
        sq_bind_id(st, 1, op->u.audit_index.tenant_id);
        sqlite3_bind_int64(st, 2, limit);
    }
    return sq_run(s, st, err, "mark the audit log's subject index");
}

cu_rc sq_audit_subject_prune(sqlite_store *s, cu_id tenant, uint64_t upto, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, S_AUDIT_SUBJECT_PRUNE);

    if (st) {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
    }
    return sq_run(s, st, err, "prune the audit log's subject index");
}

/* The subject an older entry touches, as the core names them now: "subject:<id>[:...]", or a
 * record read or write ("record:<id>") of a record that still has a subject. 0: none. */
static cu_id fill_subject(sqlite3_stmt *rec, cu_id tenant, const char *action, const char *obj)
{
    static const char *const record_actions[] = {"record.create", "record.read", "record.update",
                                                 "record.delete"};
    unsigned long long id;
    cu_id subject = 0;
    char *end;

    if (strncmp(obj, "subject:", 8) == 0) {
        id = strtoull(obj + 8, &end, 10);
        return end != obj + 8 && (*end == '\0' || *end == ':') ? (cu_id)id : 0;
    }
    if (strncmp(obj, "record:", 7) != 0)
        return 0;
    for (size_t i = 0; i < CU_ARRAY_LEN(record_actions); i++)
        if (strcmp(action, record_actions[i]) == 0)
            subject = 1;
    id = strtoull(obj + 7, &end, 10);
    if (!subject || end == obj + 7 || *end != '\0')
        return 0;
    sqlite3_reset(rec);
    sq_bind_id(rec, 1, tenant);
    sq_bind_id(rec, 2, (cu_id)id);
    subject = sqlite3_step(rec) == SQLITE_ROW ? (cu_id)sqlite3_column_int64(rec, 0) : 0;
    sqlite3_reset(rec);
    return subject;
}

/* Indexes every entry written before the index, in the migration's transaction. A record
 * deleted since cannot be traced to its subject: its entries stay out (docs/dsr.md).
 * Statements prepared here, once: no other code runs them. */
cu_rc sq_audit_subject_fill(sqlite_store *s, cu_err *err)
{
    sqlite3_stmt *sel = NULL, *rec = NULL, *ins = NULL;
    int src;

    src = sqlite3_prepare_v2(s->db,
                             "SELECT tenant_id, seq, action, object FROM audit_log"
                             " WHERE tenant_id <> 0 AND (object GLOB 'subject:*'"
                             " OR object GLOB 'record:*')",
                             -1, &sel, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(s->db,
                                 "SELECT subject_id FROM records WHERE tenant_id = ?"
                                 " AND record_id = ? AND subject_id IS NOT NULL",
                                 -1, &rec, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(s->db, sq_stmt_sql[S_AUDIT_SUBJECT_PUT], -1, &ins, NULL);
    while (src == SQLITE_OK && (src = sqlite3_step(sel)) == SQLITE_ROW) {
        cu_id tenant = (cu_id)sqlite3_column_int64(sel, 0);
        const char *action = (const char *)sqlite3_column_text(sel, 2);
        const char *obj = (const char *)sqlite3_column_text(sel, 3);
        cu_id subject = action && obj ? fill_subject(rec, tenant, action, obj) : 0;
        src = SQLITE_OK;
        if (subject == 0)
            continue;
        sq_bind_id(ins, 1, tenant);
        sq_bind_id(ins, 2, subject);
        sqlite3_bind_int64(ins, 3, sqlite3_column_int64(sel, 1));
        if ((src = sqlite3_step(ins)) == SQLITE_DONE)
            src = SQLITE_OK;
        sqlite3_reset(ins);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(rec);
    sqlite3_finalize(ins);
    if (src != SQLITE_DONE)
        return sq_db_error(s, src, err, "index the audit log by subject");
    /* Every entry so far is indexed: each tenant's mark is its last entry. */
    return sq_exec_ddl(s,
                       "INSERT INTO audit_subject_marks(tenant_id, seq)"
                       " SELECT tenant_id, max(seq) FROM audit_log GROUP BY tenant_id",
                       err, "mark the audit log's subject index");
}

static cu_rc read_access(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_access *a = row;

    (void)err;
    a->seq = (uint64_t)sqlite3_column_int64(st, 0);
    a->at = sqlite3_column_int64(st, 1);
    sq_text_col(st, 2, a->actor, sizeof(a->actor));
    sq_text_col(st, 3, a->action, sizeof(a->action));
    sq_text_col(st, 4, a->object, sizeof(a->object));
    sq_text_col(st, 5, a->purpose, sizeof(a->purpose));
    return CU_OK;
}

cu_rc sq_audit_by_subject(cu_store *base, cu_id tenant, cu_id subject, uint64_t after, size_t limit,
                          cu_store_access **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_AUDIT_SUBJECT_LIST);
    if (st) {
        sq_bind_id(st, 1, tenant);
        sq_bind_id(st, 2, subject);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)after);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)limit);
    }
    rc = st == NULL ? sq_db_error(s, sqlite3_errcode(s->db), err, "list a subject's audit entries")
                    : sq_collect_rows(s, st, sizeof(cu_store_access), read_access, NULL,
                                      (void **)out, n, err, "list a subject's audit entries");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int sq_own_txn(const sqlite_store *s)
{
    return !s->snapshot;
}

/* Opens a reader on base's database and starts its read transaction with a first read: from
 * then on (WAL) it sees that commit, whatever commits after, until it is closed. */
cu_rc sq_snapshot(cu_store *base, cu_store **out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base, *r;
    const char *path = sqlite3_db_filename(s->db, "main");
    cu_store *rs = NULL;
    cu_rc rc;

    *out = NULL;
    if (path == NULL || *path == '\0')
        return cu_err_set(err, CU_ERR_STORE, "a snapshot needs a database file");
    if ((rc = cu_store_sqlite_open_reader(path, &rs, err)) != CU_OK)
        return rc;
    r = (sqlite_store *)rs;
    sq_ids_share(r, s); /* its reads by id find the records of the key (custos_rid) */
    /* Its own page cache, bounded (SNAPSHOT_CACHE): an export reads a subject's rows in the
     * order of its index, which visits the records' pages out of order, each several times. */
    rc = sq_exec_ddl(r,
                     "PRAGMA cache_size = " SNAPSHOT_CACHE "; BEGIN;"
                     " SELECT count(*) FROM master_keys;",
                     err, "open a snapshot");
    if (rc != CU_OK) {
        sq_close(rs);
        return rc;
    }
    r->snapshot = 1;
    *out = rs;
    return CU_OK;
}

static cu_rc read_collection(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_collection_count *c = row;

    (void)err;
    sq_text_col(st, 0, c->name, sizeof(c->name));
    c->records = (uint64_t)sqlite3_column_int64(st, 1);
    return CU_OK;
}

cu_rc sq_subject_collections(cu_store *base, cu_id tenant, cu_id subject,
                             cu_store_collection_count **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    st = sq_stmt_pair(s, S_SUBJECT_COLLECTIONS, tenant, subject);
    rc = st == NULL ? sq_db_error(s, sqlite3_errcode(s->db), err, "list a subject's collections")
                    : sq_collect_rows(s, st, sizeof(cu_store_collection_count), read_collection,
                                      NULL, (void **)out, n, err, "list a subject's collections");
    pthread_mutex_unlock(&s->lock);
    return rc;
}
