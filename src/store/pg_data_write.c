/*
 * pg_data_write.c: the PostgreSQL backend's writes of subjects, records and blind index
 * entries, each called inside apply()'s transaction (pg_write.c).
 *
 * A record's write is one statement with its fields (two array parameters unnested by the
 * server), and every rule docs/store.md asks a record write to keep inside its transaction
 * (P-RET-5: no hold in force covers it; the sweep's expectations) is checked by the same
 * statement that writes, which answers whether the hold refused it and how many rows it wrote:
 * one round trip per op, and no hold placed between a check and its write is missed (the
 * statement's snapshot sees it, or the hold's insert waits for this transaction).
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* The subject's key is still there: not being erased (docs/store.md, subject key). ($3:
 * CU_KEY_SUBJECT) */
#define SUBJECT_KEY_EXISTS                                                                       \
    "EXISTS (SELECT 1 FROM keys WHERE tenant_id = $1 AND kind = $3 AND owner_id = $2)"

/* The (held, changed) pair a guarded write answers, into the two outputs. */
static cu_rc run_guarded(pg_conn *c, pg_query *q, const pg_param *params, int nparams,
                         int64_t *held, int64_t *changed, cu_err *err, const char *what)
{
    PGresult *res;
    cu_rc rc = pg_exec(c, q, params, nparams, &res, err, what);

    if (rc != CU_OK)
        return rc;
    *held = pg_rows(res) > 0 ? pg_i64(res, 0, 0) : 0;
    *changed = pg_rows(res) > 0 ? pg_i64(res, 0, 1) : 0;
    PQclear(res);
    return CU_OK;
}

/* --- subjects ----------------------------------------------------------------------------- */

static pg_query Q_SUBJECT_PUT = PG_QUERY(
    "INSERT INTO subjects(tenant_id, subject_id, key_version, created_at, profile, last_activity)"
    " VALUES($1, $2, $3, $4, $5, $4) ON CONFLICT (tenant_id, subject_id)"
    " DO UPDATE SET key_version = excluded.key_version, profile = excluded.profile");

cu_rc pg_w_subject_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_subject *s = &op->u.subject;

    return pg_exec(c, &Q_SUBJECT_PUT,
                   PG_P(pg_p_id(s->tenant_id), pg_p_id(s->id), pg_p_i64(s->key_version),
                        pg_p_i64(s->created_at), pg_p_bytes(&s->profile)),
                   NULL, err, "write subject");
}

/* P-RET-5 for a subject's rows: held, unless its key is destroyed already (the second step of
 * an erasure: unreadable data is not held, and the erasure completes). */
static pg_query Q_SUBJECT_DELETE_HELD =
    PG_QUERY("SELECT " SUBJECT_KEY_EXISTS " AND EXISTS (SELECT 1 FROM holds h"
             " WHERE h.tenant_id = $1 AND " PGD_HOLD_COVERS("$2", "0") ")");
/* Then: the index entries of its records and its own, its records (their fields and retained
 * marks cascade), its consent ledger, its place in the erasure queue; its row last. */
static pg_query Q_SUBJECT_DELETE = PG_QUERY(
    "WITH rb AS (DELETE FROM blind_index WHERE tenant_id = $1 AND owner_id IN"
    "  (SELECT record_id FROM records WHERE tenant_id = $1 AND subject_id = $2)),"
    " sb AS (DELETE FROM blind_index WHERE tenant_id = $1 AND owner_id = $2),"
    " co AS (DELETE FROM consents WHERE tenant_id = $1 AND subject_id = $2),"
    " er AS (DELETE FROM erasures WHERE tenant_id = $1 AND subject_id = $2)"
    " DELETE FROM records WHERE tenant_id = $1 AND subject_id = $2");
static pg_query Q_SUBJECT_ROW_DELETE =
    PG_QUERY("DELETE FROM subjects WHERE tenant_id = $1 AND subject_id = $2");

cu_rc pg_w_subject_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    cu_id tenant = op->u.del.tenant_id, subject = op->u.del.id;
    int64_t held = 0;
    cu_rc rc;

    rc = pgd_write_int(c, &Q_SUBJECT_DELETE_HELD,
                       PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(CU_KEY_SUBJECT)), &held,
                       err, "check the subject's holds");
    if (rc == CU_OK && held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the subject's data is under a legal hold");
    if (rc == CU_OK)
        rc = pg_exec(c, &Q_SUBJECT_DELETE, PG_P(pg_p_id(tenant), pg_p_id(subject)), NULL, err,
                     "delete the subject's records");
    /* Its own statement: the records' references to the row are gone by then. */
    if (rc == CU_OK)
        rc = pg_exec(c, &Q_SUBJECT_ROW_DELETE, PG_P(pg_p_id(tenant), pg_p_id(subject)), NULL,
                     err, "delete subject");
    return rc;
}

/* P-DSR-5; P-AGE-2: CU_SUBJECT_UNDER_AGE ($4) is never lowered. */
static pg_query Q_SUBJECT_RESTRICT =
    PG_QUERY("UPDATE subjects SET restricted = CASE WHEN restricted = $4 THEN $4 ELSE $3 END"
             " WHERE tenant_id = $1 AND subject_id = $2");

cu_rc pg_w_subject_restrict(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgd_write_one(c, &Q_SUBJECT_RESTRICT,
                         PG_P(pg_p_id(op->u.flag.tenant_id), pg_p_id(op->u.flag.id),
                              pg_p_i64(op->u.flag.value), pg_p_i64(CU_SUBJECT_UNDER_AGE)),
                         CU_ERR_NOT_FOUND, "subject not found", err, "update subject");
}

/* Last activity only rises (P-RET-1). */
static pg_query Q_SUBJECT_TOUCH =
    PG_QUERY("UPDATE subjects SET last_activity = greatest(last_activity, $3)"
             " WHERE tenant_id = $1 AND subject_id = $2");

cu_rc pg_w_subject_touch(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgd_write_one(c, &Q_SUBJECT_TOUCH,
                         PG_P(pg_p_id(op->u.flag.tenant_id), pg_p_id(op->u.flag.id),
                              pg_p_i64(op->u.flag.at)),
                         CU_ERR_NOT_FOUND, "subject not found", err, "update subject");
}

/* --- records ------------------------------------------------------------------------------ */

/* The record and its fields in one statement ($10, $11: the names and ciphertexts). */
static pg_query Q_RECORD_PUT = PG_QUERY(
    "WITH r AS (INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version,"
    " created_at, updated_at, doc, version) VALUES($1, $2, $3, nullif($4, 0), $5, $6, $7, $8,"
    " $9) RETURNING tenant_id, record_id)"
    " INSERT INTO record_fields(tenant_id, record_id, field, ct)"
    " SELECT r.tenant_id, r.record_id, x.n, x.c FROM r, unnest($10::text[], $11::bytea[])"
    " AS x(n, c)");
/* P-RET-5: not while held. A rewritten record is no longer anonymous: the sweep looks at it
 * again. Its fields become the ones given: those not named go, the others are written. */
static pg_query Q_RECORD_REPLACE = PG_QUERY(
    "WITH h AS (SELECT " PGD_HELD_RECORD " AS held),"
    " u AS (UPDATE records SET key_version = $5, updated_at = $7, doc = $8, version = $9,"
    "  anonymized = 0 WHERE tenant_id = $1 AND record_id = $2 AND collection = $3"
    "  AND subject_id IS NOT DISTINCT FROM nullif($4, 0) AND created_at = $6"
    "  AND NOT (SELECT held FROM h) RETURNING record_id),"
    " d AS (DELETE FROM record_fields WHERE tenant_id = $1"
    "  AND record_id IN (SELECT record_id FROM u) AND NOT (field = ANY ($10::text[]))),"
    " i AS (INSERT INTO record_fields(tenant_id, record_id, field, ct)"
    "  SELECT $1, u.record_id, x.n, x.c FROM u, unnest($10::text[], $11::bytea[]) AS x(n, c)"
    "  ON CONFLICT (tenant_id, record_id, field) DO UPDATE SET ct = excluded.ct)"
    " SELECT (SELECT held FROM h), (SELECT count(*) FROM u)");

static cu_rc record_write(pg_conn *c, const cu_store_record *r, int replace, cu_err *err)
{
    pgd_fields_param fp;
    int64_t held = 0, changed = 0;
    cu_rc rc;

    if ((rc = pgd_fields_param_make(r->fields, r->nfields, &fp, err)) != CU_OK)
        return rc;
#define RECORD_PARAMS                                                                            \
    PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id), pg_p_text(r->collection), pg_p_id(r->subject_id), \
         pg_p_i64(r->key_version), pg_p_i64(r->created_at), pg_p_i64(r->updated_at),             \
         pg_p_bytes(&r->doc), pg_p_i64(r->version), pgd_p_names(&fp), pgd_p_cts(&fp))
    if (!replace)
        rc = pg_exec(c, &Q_RECORD_PUT, RECORD_PARAMS, NULL, err, "write record");
    else
        rc = run_guarded(c, &Q_RECORD_REPLACE, RECORD_PARAMS, &held, &changed, err,
                         "write record");
#undef RECORD_PARAMS
    pgd_fields_param_free(&fp);
    if (rc != CU_OK || !replace)
        return rc;
    if (held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the record is under a legal hold");
    if (changed != 1)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "record not found");
    return CU_OK;
}

cu_rc pg_w_record_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return record_write(c, &op->u.record, 0, err);
}

cu_rc pg_w_record_replace(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return record_write(c, &op->u.record, 1, err);
}

/* The row (its fields cascade) and its index entries, unless held (P-RET-5). */
static pg_query Q_RECORD_DELETE = PG_QUERY(
    "WITH h AS (SELECT " PGD_HELD_RECORD " AS held),"
    " b AS (DELETE FROM blind_index WHERE tenant_id = $1 AND owner_id = $2"
    "  AND NOT (SELECT held FROM h)),"
    " d AS (DELETE FROM records WHERE tenant_id = $1 AND record_id = $2"
    "  AND NOT (SELECT held FROM h) RETURNING 1)"
    " SELECT (SELECT held FROM h), (SELECT count(*) FROM d)");

cu_rc pg_w_record_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    int64_t held = 0, changed = 0;
    cu_rc rc = run_guarded(c, &Q_RECORD_DELETE,
                           PG_P(pg_p_id(op->u.del.tenant_id), pg_p_id(op->u.del.id)), &held,
                           &changed, err, "delete record");

    if (rc == CU_OK && held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the record is under a legal hold");
    return rc;
}

/* P-RET-1: the sweep's writes only while neither the record ($6 / $3) nor its subject's last
 * activity ($8 / $4) changed since it read them (0: whatever they are). */
#define SWEEP_EXPECT(UPDATED, ACTIVITY)                                                          \
    "(" UPDATED " = 0 OR updated_at = " UPDATED ") AND (" ACTIVITY " = 0 OR NOT EXISTS"          \
    " (SELECT 1 FROM subjects s WHERE s.tenant_id = $1 AND s.subject_id = records.subject_id"    \
    " AND s.last_activity > " ACTIVITY "))"

/* P-RET-6: a new document without sensitive fields, no subject, no index entries. */
static pg_query Q_RECORD_ANONYMIZE = PG_QUERY(
    "WITH h AS (SELECT " PGD_HELD_RECORD " AS held),"
    " u AS (UPDATE records SET subject_id = NULL, key_version = $3, updated_at = $4, doc = $5,"
    "  version = $7, anonymized = 1 WHERE tenant_id = $1 AND record_id = $2"
    "  AND " SWEEP_EXPECT("$6", "$8") " AND NOT (SELECT held FROM h) RETURNING record_id),"
    " f AS (DELETE FROM record_fields WHERE tenant_id = $1"
    "  AND record_id IN (SELECT record_id FROM u)),"
    " b AS (DELETE FROM blind_index WHERE tenant_id = $1"
    "  AND owner_id IN (SELECT record_id FROM u))"
    " SELECT (SELECT held FROM h), (SELECT count(*) FROM u)");

cu_rc pg_w_record_anonymize(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_record *r = &op->u.record;
    int64_t held = 0, changed = 0;
    cu_rc rc = run_guarded(c, &Q_RECORD_ANONYMIZE,
                           PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id), pg_p_i64(r->key_version),
                                pg_p_i64(r->updated_at), pg_p_bytes(&r->doc),
                                pg_p_i64(r->expect_updated_at), pg_p_i64(r->version),
                                pg_p_i64(r->expect_activity_at)),
                           &held, &changed, err, "anonymize record");

    if (rc != CU_OK)
        return rc;
    if (held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the record is under a legal hold");
    if (changed == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "the record is gone or was written meanwhile");
    return CU_OK;
}

/* The sweep's delete: the row (its fields cascade) and its index entries. */
static pg_query Q_RECORD_EXPIRE = PG_QUERY(
    "WITH h AS (SELECT " PGD_HELD_RECORD " AS held),"
    " d AS (DELETE FROM records WHERE tenant_id = $1 AND record_id = $2"
    "  AND " SWEEP_EXPECT("$3", "$4") " AND NOT (SELECT held FROM h) RETURNING record_id),"
    " b AS (DELETE FROM blind_index WHERE tenant_id = $1"
    "  AND owner_id IN (SELECT record_id FROM d))"
    " SELECT (SELECT held FROM h), (SELECT count(*) FROM d)");

cu_rc pg_w_record_expire(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_record *r = &op->u.record;
    int64_t held = 0, changed = 0;
    cu_rc rc = run_guarded(c, &Q_RECORD_EXPIRE,
                           PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id),
                                pg_p_i64(r->expect_updated_at), pg_p_i64(r->expect_activity_at)),
                           &held, &changed, err, "expire record");

    if (rc != CU_OK)
        return rc;
    if (held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the record is under a legal hold");
    if (changed == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "the record is gone or was written meanwhile");
    return CU_OK;
}

/* --- the blind index ---------------------------------------------------------------------- */

/* An entry of a record goes with it: every delete of a record takes its owner's entries. */
static pg_query Q_BLIND_PUT =
    PG_QUERY("INSERT INTO blind_index(tenant_id, scope, digest, owner_id, uniq)"
             " VALUES($1, $2, $3, $4, $5)");

cu_rc pg_w_blind_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_blind *b = &op->u.blind;

    return pg_exec(c, &Q_BLIND_PUT,
                   PG_P(pg_p_id(b->tenant_id), pg_p_text(b->scope), pg_p_blob(b->digest, 32),
                        pg_p_id(b->owner_id), pg_p_i64(b->unique ? 1 : 0)),
                   NULL, err, "write index");
}

static pg_query Q_BLIND_DELETE =
    PG_QUERY("DELETE FROM blind_index WHERE tenant_id = $1 AND owner_id = $2");

cu_rc pg_w_blind_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pg_exec(c, &Q_BLIND_DELETE, PG_P(pg_p_id(op->u.del.tenant_id), pg_p_id(op->u.del.id)),
                   NULL, err, "delete index");
}
