/*
 * pg_audit.c: the PostgreSQL backend's writes of the audit domain, inside apply()'s
 * transaction: AUDIT_APPEND, AUDIT_CHECKPOINT, AUDIT_PRUNE, AUDIT_HEAD_CHECK,
 * AUDIT_SUBJECT_INDEX, and what a tenant's shred removes of it.
 *
 * Several servers on one database (docs/store.md): the tenant's chain head is serialized by
 * the database. apply() (pg_write.c) locks the tenant's audit_subject_marks row before the
 * batch's first op (a row lock, so it holds on Citus too), and AUDIT_HEAD_CHECK reads the head
 * under it, so a second writer of that tenant waits for the first to commit, then reads the
 * head it wrote and is refused with CU_ERR_CONFLICT: two servers writing for one tenant stay
 * one chain (P-AUD-1).
 */
#include <string.h>

#include "audit_canon.h"
#include "pg_int.h"
#include "util.h"

static pg_query Q_APPEND = PG_QUERY(
    "INSERT INTO audit_log(tenant_id, seq, at, actor, action, object, purpose, source,"
    " request_id, outcome, prev, hash, digest, canon, subject_id)"
    " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)");

cu_rc pg_w_audit_append(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_audit_entry *e = &op->u.audit;
    uint8_t canon[CU_AUDIT_CANON_MAX];
    size_t len;

    if (CU_FAULT("audit.append"))
        return cu_err_set(err, CU_ERR_IO, "could not append to the audit log: disk full");
    /* The bytes the entry's hash is over: verify hashes them as read (P-AUD-2). */
    len = cu_audit_encode(e, canon);
    return pg_exec(c, &Q_APPEND,
                   PG_P(pg_p_id(e->tenant_id), pg_p_i64((int64_t)e->seq), pg_p_i64(e->at),
                        pg_p_text(e->actor), pg_p_text(e->action), pg_p_text(e->object),
                        pg_p_text(e->purpose), pg_p_text(e->source), pg_p_text(e->request_id),
                        pg_p_text(e->outcome), pg_p_blob(e->prev, 32), pg_p_blob(e->hash, 32),
                        pg_p_blob(e->has_digest ? e->digest : NULL, 32), pg_p_blob(canon, len),
                        /* Not part of the entry: the subject index's source. */
                        e->subject_id != 0 ? pg_p_id(e->subject_id) : pg_p_null_i64()),
                   NULL, err, "append to the audit log");
}

/* Never replaced: a second checkpoint at a seq is refused (CU_ERR_EXISTS), so a rewritten log
 * cannot overwrite the signed hash that contradicts it. */
static pg_query Q_CHECKPOINT =
    PG_QUERY("INSERT INTO audit_checkpoints(tenant_id, seq, at, hash, sig, anchor)"
             " VALUES($1, $2, $3, $4, $5, $6)");

cu_rc pg_w_audit_checkpoint(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_audit_checkpoint *k = &op->u.checkpoint;

    return pg_exec(c, &Q_CHECKPOINT,
                   PG_P(pg_p_id(k->tenant_id), pg_p_i64((int64_t)k->seq), pg_p_i64(k->at),
                        pg_p_blob(k->hash, 32), pg_p_blob(k->sig, 64),
                        pg_p_i64(k->anchor ? 1 : 0)),
                   NULL, err, "write audit checkpoint");
}

/* P-RET-5: a hold in force on the whole tenant (neither subject nor record) keeps its log. */
static pg_query Q_HELD_TENANT_WIDE =
    PG_QUERY("SELECT EXISTS (SELECT 1 FROM holds WHERE tenant_id = $1 AND released_at = 0"
             " AND subject_id = 0 AND record_id = 0)");
static pg_query Q_PRUNE = PG_QUERY("DELETE FROM audit_log WHERE tenant_id = $1 AND seq <= $2");
static pg_query Q_SUBJECT_PRUNE =
    PG_QUERY("DELETE FROM audit_subjects WHERE tenant_id = $1 AND seq <= $2");

cu_rc pg_w_audit_prune(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    cu_id tenant = op->u.audit_prune.tenant_id;
    int64_t upto = op->u.audit_prune.upto > INT64_MAX ? INT64_MAX : (int64_t)op->u.audit_prune.upto;
    PGresult *res = NULL;
    cu_rc rc;

    if (tenant != 0) {
        rc = pg_exec(c, &Q_HELD_TENANT_WIDE, PG_P(pg_p_id(tenant)), &res, err,
                     "read the tenant's holds");
        if (rc != CU_OK)
            return rc;
        rc = pg_i64(res, 0, 0) ? cu_err_set(err, CU_ERR_LEGAL_HOLD,
                                            "the tenant's audit log is under a legal hold")
                               : CU_OK;
        PQclear(res);
        if (rc != CU_OK)
            return rc;
    }
    rc = pg_exec(c, &Q_PRUNE, PG_P(pg_p_id(tenant), pg_p_i64(upto)), NULL, err,
                 "prune audit log");
    if (rc == CU_OK)
        rc = pg_exec(c, &Q_SUBJECT_PRUNE, PG_P(pg_p_id(tenant), pg_p_i64(upto)), NULL, err,
                     "prune the audit log's subject index");
    return rc;
}

/* The chain's lock is held already (apply's lock_tenants, before the first op): under READ
 * COMMITTED this statement's snapshot is taken after it was granted, so it reads the head the
 * previous holder committed. */
static pg_query Q_HEAD =
    PG_QUERY("SELECT seq, hash FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1");

cu_rc pg_audit_head_locked(pg_conn *c, cu_id tenant, uint64_t *seq, uint8_t hash[32],
                           cu_err *err)
{
    PGresult *res = NULL;
    cu_rc rc;

    *seq = 0;
    memset(hash, 0, 32);
    rc = pg_exec(c, &Q_HEAD, PG_P(pg_p_id(tenant)), &res, err, "read audit head");
    if (rc != CU_OK)
        return rc;
    if (pg_rows(res) > 0) {
        *seq = (uint64_t)pg_i64(res, 0, 0);
        pg_blob32(res, 0, 1, hash);
    }
    PQclear(res);
    return CU_OK;
}

cu_rc pg_w_audit_head_check(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    uint8_t hash[32];
    uint64_t seq;
    cu_rc rc;

    /* P-AUD-1: one writer of the tenant's chain at a time, until its commit (locked first). */
    rc = pg_audit_head_locked(c, op->u.audit_head.tenant_id, &seq, hash, err);
    if (rc != CU_OK)
        return rc;
    if (seq != op->u.audit_head.seq || memcmp(hash, op->u.audit_head.hash, 32) != 0)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the audit chain moved: another writer extended it first");
    return CU_OK;
}

/* The index catches up with the log: every entry past the mark, up to $2 of them, that names a
 * subject, and the mark past them, in one statement (one snapshot: an entry another server
 * commits meanwhile is neither marked nor skipped). ON CONFLICT: two servers may catch up at
 * once. The bound holds the tenant's chain lock a bounded time; readers scan past the mark. */
static pg_query Q_SUBJECT_INDEX = PG_QUERY(
    "WITH mark AS ("
    "  SELECT coalesce((SELECT seq FROM audit_subject_marks WHERE tenant_id = $1), 0) AS m),"
    " todo AS ("
    "  SELECT seq, subject_id FROM audit_log WHERE tenant_id = $1 AND seq > (SELECT m FROM mark)"
    "  AND seq <= (SELECT m FROM mark) + $2),"
    " indexed AS ("
    "  INSERT INTO audit_subjects(tenant_id, subject_id, seq)"
    "  SELECT $1, subject_id, seq FROM todo WHERE subject_id IS NOT NULL"
    "  ON CONFLICT DO NOTHING)"
    " INSERT INTO audit_subject_marks(tenant_id, seq)"
    " SELECT $1, greatest((SELECT m FROM mark), least((SELECT m FROM mark) + $2,"
    "  coalesce((SELECT max(seq) FROM audit_log WHERE tenant_id = $1), 0)))"
    " ON CONFLICT (tenant_id) DO UPDATE"
    "  SET seq = greatest(audit_subject_marks.seq, excluded.seq)");

cu_rc pg_w_audit_subject_index(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    uint32_t limit = op->u.audit_index.limit ? op->u.audit_index.limit : INT32_MAX;

    return pg_exec(c, &Q_SUBJECT_INDEX,
                   PG_P(pg_p_id(op->u.audit_index.tenant_id), pg_p_i64((int64_t)limit)), NULL, err,
                   "catch the audit log's subject index up");
}

static pg_query Q_T_SUBJECTS = PG_QUERY("DELETE FROM audit_subjects WHERE tenant_id = $1");
static pg_query Q_T_MARKS = PG_QUERY("DELETE FROM audit_subject_marks WHERE tenant_id = $1");

cu_rc pg_tenant_audit_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    cu_rc rc = pg_exec(c, &Q_T_SUBJECTS, PG_P(pg_p_id(tenant)), NULL, err,
                       "purge the tenant's audit index");

    if (rc == CU_OK)
        rc = pg_exec(c, &Q_T_MARKS, PG_P(pg_p_id(tenant)), NULL, err,
                     "purge the tenant's audit index");
    return rc;
}
