/*
 * pg_data_erase.c: the PostgreSQL backend's half of a flat erasure (P-DSR-4, docs/store.md;
 * sqlite_erase.c is the reference), erasure subject to legal retention (P-RET-4), and what a
 * tenant's close and shred remove of the data domain (P-RET-2).
 *
 * KEY_DELETE of a subject key (the vault's) calls pg_erase_queue in its transaction: from that
 * commit on every read hides the subject (PGD_ERASING), and its rows go later, a bounded batch
 * per ERASE_ROWS, the queue entry with the last of them. Several servers work through the same
 * queue: a batch another deleted first deletes nothing, and the last step locks the queue entry
 * (FOR UPDATE), so every server but the first finds it gone and gets CU_ERR_NOT_FOUND.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* A subject without its row queues nothing. */
static pg_query Q_ERASE_QUEUE = PG_QUERY(
    "INSERT INTO erasures(tenant_id, subject_id) SELECT $1, $2 WHERE EXISTS (SELECT 1"
    " FROM subjects WHERE tenant_id = $1 AND subject_id = $2) ON CONFLICT DO NOTHING");

cu_rc pg_erase_queue(pg_conn *c, cu_id tenant, cu_id subject, cu_err *err)
{
    return pg_exec(c, &Q_ERASE_QUEUE, PG_P(pg_p_id(tenant), pg_p_id(subject)), NULL, err,
                   "queue the subject's erasure");
}

/*
 * Up to $3 of a queued subject's oldest records (nullif: 0 is all of them), never a retained
 * one: their index entries, then them (their fields cascade). Answers whether the subject is queued; a live subject's rows are never touched.
 */
#define ERASE_BATCH                                                                              \
    "q AS (SELECT " PGD_ERASING("$2") " AS queued),"                                             \
    " batch AS (SELECT record_id FROM records WHERE tenant_id = $1 AND subject_id = $2"          \
    "  AND NOT " PGD_RETAINED("records.record_id") " AND (SELECT queued FROM q)"                 \
    "  ORDER BY created_at, record_id LIMIT nullif($3, 0)),"                                     \
    " b AS (DELETE FROM blind_index WHERE tenant_id = $1"                                        \
    "  AND owner_id IN (SELECT record_id FROM batch)),"                                          \
    " d AS (DELETE FROM records WHERE tenant_id = $1"                                            \
    "  AND record_id IN (SELECT record_id FROM batch))"
static pg_query Q_ERASE_BATCH = PG_QUERY("WITH " ERASE_BATCH " SELECT queued FROM q");
/* The last step, under the queue entry's lock: the rest of the records, the subject's own index
 * entries and consent ledger; answers whether records are retained (they stay). */
static pg_query Q_ERASE_LOCK = PG_QUERY(
    "SELECT kept FROM erasures WHERE tenant_id = $1 AND subject_id = $2 FOR UPDATE");
static pg_query Q_ERASE_REST = PG_QUERY(
    "WITH " ERASE_BATCH ","
    " sb AS (DELETE FROM blind_index WHERE tenant_id = $1 AND owner_id = $2),"
    " co AS (DELETE FROM consents WHERE tenant_id = $1 AND subject_id = $2)"
    " SELECT EXISTS (SELECT 1 FROM retained_records WHERE tenant_id = $1 AND subject_id = $2)");
static pg_query Q_ERASE_KEEP =
    PG_QUERY("UPDATE erasures SET kept = 1 WHERE tenant_id = $1 AND subject_id = $2");
/* None retained: its row, its retained key ($3: CU_KEY_RETAINED) and its queue entry. */
static pg_query Q_ERASE_END = PG_QUERY(
    "WITH k AS (DELETE FROM keys WHERE tenant_id = $1 AND kind = $3 AND owner_id = $2),"
    " e AS (DELETE FROM erasures WHERE tenant_id = $1 AND subject_id = $2)"
    " DELETE FROM subjects WHERE tenant_id = $1 AND subject_id = $2");

static cu_rc erase_subject(pg_conn *c, cu_id tenant, cu_id subject, cu_err *err)
{
    PGresult *res;
    int64_t left = 0;
    cu_rc rc;
    int queued;

    if ((rc = pg_exec(c, &Q_ERASE_LOCK, PG_P(pg_p_id(tenant), pg_p_id(subject)), &res, err,
                      "read the erasure queue")) != CU_OK)
        return rc;
    queued = pg_rows(res) > 0;
    PQclear(res);
    if (!queued)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no erasure of this subject is under way");
    rc = pgd_write_int(c, &Q_ERASE_REST, PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(0)),
                       &left, err, "delete the erased subject's rows");
    if (rc != CU_OK)
        return rc;
    if (left) /* P-RET-4: the subject stays hidden until the sweep deleted them all */
        return pg_exec(c, &Q_ERASE_KEEP, PG_P(pg_p_id(tenant), pg_p_id(subject)), NULL, err,
                       "keep the subject's erasure");
    return pg_exec(c, &Q_ERASE_END,
                   PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(CU_KEY_RETAINED)), NULL, err,
                   "end the subject's erasure");
}

cu_rc pg_w_erase_rows(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    cu_id tenant = op->u.erase.tenant_id, subject = op->u.erase.subject_id;
    int64_t queued = 0;
    cu_rc rc;

    /* Unreadable data is not held: no hold refuses it. */
    if (op->u.erase.limit == 0)
        return erase_subject(c, tenant, subject, err);
    rc = pgd_write_int(c, &Q_ERASE_BATCH,
                       PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(op->u.erase.limit)),
                       &queued, err, "delete the erased subject's records");
    if (rc == CU_OK && !queued)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no erasure of this subject is under way");
    return rc;
}

/* Work left: rows to delete, or a kept entry whose retained records are all gone. The queue is
 * the vault's own work list: it is read across tenants, in its key's order. */
static pg_query Q_ERASURE_LIST = PG_QUERY(
    "SELECT e.tenant_id, e.subject_id, (SELECT count(*) FROM records r"
    " WHERE r.tenant_id = e.tenant_id AND r.subject_id = e.subject_id"
    " AND NOT EXISTS (SELECT 1 FROM retained_records k WHERE k.tenant_id = r.tenant_id"
    " AND k.record_id = r.record_id)), e.kept FROM erasures e"
    " WHERE (e.tenant_id, e.subject_id) > ($1, $2) AND (e.kept = 0 OR NOT EXISTS"
    " (SELECT 1 FROM retained_records k WHERE k.tenant_id = e.tenant_id"
    " AND k.subject_id = e.subject_id)) ORDER BY e.tenant_id, e.subject_id LIMIT $3");

cu_rc pg_erasure_list(cu_store *base, cu_id after_tenant, cu_id after_subject, size_t limit,
                      cu_store_erasure **out, size_t *n, cu_err *err)
{
    PGresult *res;
    cu_rc rc = pgd_read(base, &Q_ERASURE_LIST,
                        PG_P(pg_p_id(after_tenant), pg_p_id(after_subject),
                             pg_p_i64((int64_t)limit)),
                        &res, err, "list erasures");
    int rows;

    *out = NULL;
    *n = 0;
    if (rc != CU_OK)
        return rc;
    rows = pg_rows(res);
    if ((*out = calloc(rows > 0 ? (size_t)rows : 1, sizeof(**out))) == NULL) {
        PQclear(res);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        (*out)[i].tenant_id = pg_id(res, i, 0);
        (*out)[i].subject_id = pg_id(res, i, 1);
        (*out)[i].records = (uint64_t)pg_i64(res, i, 2);
        (*out)[i].kept = (int)pg_i64(res, i, 3);
    }
    *n = (size_t)rows;
    PQclear(res);
    return CU_OK;
}

/* --- retention (P-RET-4) ------------------------------------------------------------------ */

/* Sealed again under the subject's retained key, only while its document is the one read. */
static pg_query Q_RETAIN_DOC = PG_QUERY("UPDATE records SET doc = $3, key_version = $4"
                                        " WHERE tenant_id = $1 AND record_id = $2 AND doc = $5");
/* Its fields alike (same names: only their ciphertext changes). */
static pg_query Q_RETAIN_FIELDS = PG_QUERY(
    "UPDATE record_fields f SET ct = x.c FROM unnest($3::text[], $4::bytea[]) AS x(n, c)"
    " WHERE f.tenant_id = $1 AND f.record_id = $2 AND f.field = x.n");
/* Marked retained; kept, not found: none of its values stays searchable (P-DSR-4). */
static pg_query Q_RETAIN_MARK = PG_QUERY(
    "WITH m AS (INSERT INTO retained_records(tenant_id, record_id, subject_id)"
    " SELECT tenant_id, record_id, subject_id FROM records WHERE tenant_id = $1"
    " AND record_id = $2)"
    " DELETE FROM blind_index WHERE tenant_id = $1 AND owner_id = $2");

cu_rc pg_w_record_retain(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_reseal *r = &op->u.reseal;
    pgd_fields_param fp;
    PGresult *res;
    int64_t changed;
    cu_rc rc;

    rc = pgd_write_one(c, &Q_RETAIN_DOC,
                       PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id), pg_p_bytes(&r->ct[0]),
                            pg_p_i64(r->key_version), pg_p_bytes(&r->old[0])),
                       CU_ERR_CONFLICT, "the record changed while its subject was erased", err,
                       "retain a record");
    if (rc != CU_OK || (rc = pgd_fields_param_make(r->fields, r->nfields, &fp, err)) != CU_OK)
        return rc;
    rc = pg_exec(c, &Q_RETAIN_FIELDS,
                 PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id), pgd_p_names(&fp), pgd_p_cts(&fp)),
                 &res, err, "seal a retained field");
    pgd_fields_param_free(&fp);
    if (rc != CU_OK)
        return rc;
    changed = pg_changed(res);
    PQclear(res);
    if (changed != (int64_t)r->nfields)
        return cu_err_set(err, CU_ERR_CONFLICT, "the retained record's fields changed");
    return pg_exec(c, &Q_RETAIN_MARK, PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id)), NULL, err,
                   "mark a retained record");
}

/* P-RET-4: the erasure planned what to keep from the records it read; one written or deleted
 * since in a collection it checks makes the count differ, and the whole erasure is refused. */
static pg_query Q_ERASE_GUARD = PG_QUERY("SELECT count(*) FROM records WHERE tenant_id = $1"
                                         " AND subject_id = $2 AND collection = $3");

cu_rc pg_w_erase_guard(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    int64_t n = -1;
    cu_rc rc = pgd_write_int(c, &Q_ERASE_GUARD,
                             PG_P(pg_p_id(op->u.erase_guard.tenant_id),
                                  pg_p_id(op->u.erase_guard.subject_id),
                                  pg_p_text(op->u.erase_guard.collection)),
                             &n, err, "check the erasure's plan");

    if (rc == CU_OK && (uint64_t)n != op->u.erase_guard.records)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the subject's records changed while its erasure was planned");
    return rc;
}

/* Each collection of the subject by the next name above the last (a loose index scan of
 * records_by_subject_collection), and at most $3 of its records counted: the cost does not grow
 * with the subject's records. */
static pg_query Q_RECORD_COUNTS = PG_QUERY(
    "WITH RECURSIVE c(name) AS (SELECT min(collection) FROM records WHERE tenant_id = $1"
    " AND subject_id = $2 UNION ALL SELECT (SELECT min(collection) FROM records"
    " WHERE tenant_id = $1 AND subject_id = $2 AND collection > c.name) FROM c"
    " WHERE c.name IS NOT NULL)"
    " SELECT name, (SELECT count(*) FROM (SELECT 1 FROM records WHERE tenant_id = $1"
    " AND subject_id = $2 AND collection = c.name LIMIT $3) x) FROM c"
    " WHERE name IS NOT NULL AND NOT " PGD_ERASING("$2") " ORDER BY name");

cu_rc pg_record_counts(cu_store *base, cu_id tenant, cu_id subject, uint64_t limit,
                       cu_store_count **out, size_t *n, cu_err *err)
{
    int64_t lim = limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
    PGresult *res;
    cu_rc rc = pgd_read(base, &Q_RECORD_COUNTS,
                        PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(lim)), &res, err,
                        "count records");
    int rows;

    *out = NULL;
    *n = 0;
    if (rc != CU_OK)
        return rc;
    rows = pg_rows(res);
    if ((*out = calloc(rows > 0 ? (size_t)rows : 1, sizeof(**out))) == NULL) {
        PQclear(res);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        pg_text_copy(res, i, 0, (*out)[i].collection, sizeof((*out)[i].collection));
        (*out)[i].records = (uint64_t)pg_i64(res, i, 1);
    }
    *n = (size_t)rows;
    PQclear(res);
    return CU_OK;
}

/* --- the erasure's certificate (issue 10) ------------------------------------------------- */

static pg_query Q_CERT_PUT = PG_QUERY(
    "INSERT INTO erasure_certificates(tenant_id, subject_id, certificate) VALUES($1, $2, $3)");

cu_rc pg_w_erasure_cert(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    /* A second one: 23505, CU_ERR_EXISTS (pg_error). */
    return pg_exec(c, &Q_CERT_PUT,
                   PG_P(pg_p_id(op->u.erasure_cert.tenant_id),
                        pg_p_id(op->u.erasure_cert.subject_id),
                        pg_p_text(op->u.erasure_cert.certificate)),
                   NULL, err, "store the erasure certificate");
}

static pg_query Q_CERT_GET = PG_QUERY(
    "SELECT certificate FROM erasure_certificates WHERE tenant_id = $1 AND subject_id = $2");

cu_rc pg_erasure_certificate(cu_store *base, cu_id tenant, cu_id subject, char **text,
                             cu_err *err)
{
    PGresult *res;
    cu_rc rc = pgd_read(base, &Q_CERT_GET, PG_P(pg_p_id(tenant), pg_p_id(subject)), &res, err,
                        "read the erasure certificate");

    *text = NULL;
    if (rc != CU_OK)
        return rc;
    if (pg_rows(res) == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no erasure certificate");
    else if ((*text = pg_text_dup(res, 0, 0)) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    PQclear(res);
    return rc;
}

/* --- a tenant's close and shred (P-RET-2) ------------------------------------------------- */

/* P-RET-5: the ledger of a subject a hold covers stays (a tenant-wide hold: all of it); the
 * tenant's data-subject requests and erasure certificates go. */
static pg_query Q_TENANT_CLOSE_DATA = PG_QUERY(
    "WITH rq AS (DELETE FROM requests WHERE tenant_id = $1),"
    " ce AS (DELETE FROM erasure_certificates WHERE tenant_id = $1)"
    " DELETE FROM consents WHERE tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM holds h"
    " WHERE h.tenant_id = $1 AND " PGD_HOLD_COVERS("consents.subject_id", "0") ")");

cu_rc pg_tenant_data_close(pg_conn *c, cu_id tenant, cu_err *err)
{
    return pg_exec(c, &Q_TENANT_CLOSE_DATA, PG_P(pg_p_id(tenant)), NULL, err, "close tenant");
}

static pg_query Q_TENANT_HELD =
    PG_QUERY("SELECT EXISTS (SELECT 1 FROM holds WHERE tenant_id = $1 AND released_at = 0)");
/* Every row of the data domain: the records last (their fields and retained marks cascade),
 * then the subjects they referenced. */
static pg_query Q_TENANT_DATA_DELETE = PG_QUERY(
    "WITH b AS (DELETE FROM blind_index WHERE tenant_id = $1),"
    " co AS (DELETE FROM consents WHERE tenant_id = $1),"
    " h AS (DELETE FROM holds WHERE tenant_id = $1),"
    " e AS (DELETE FROM erasures WHERE tenant_id = $1),"
    " rq AS (DELETE FROM requests WHERE tenant_id = $1),"
    " ce AS (DELETE FROM erasure_certificates WHERE tenant_id = $1)"
    " DELETE FROM records WHERE tenant_id = $1");
static pg_query Q_TENANT_SUBJECTS_DELETE = PG_QUERY("DELETE FROM subjects WHERE tenant_id = $1");

cu_rc pg_tenant_data_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    int64_t held = 0;
    cu_rc rc;

    /* P-RET-5: no hold of the tenant in force at all (checked here too, where holds live). */
    rc = pgd_write_int(c, &Q_TENANT_HELD, PG_P(pg_p_id(tenant)), &held, err, "check legal holds");
    if (rc == CU_OK && held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the tenant's data is under a legal hold");
    if (rc == CU_OK)
        rc = pg_exec(c, &Q_TENANT_DATA_DELETE, PG_P(pg_p_id(tenant)), NULL, err, "shred tenant");
    if (rc == CU_OK)
        rc = pg_exec(c, &Q_TENANT_SUBJECTS_DELETE, PG_P(pg_p_id(tenant)), NULL, err,
                     "shred tenant");
    return rc;
}
