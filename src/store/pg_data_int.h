/*
 * pg_data_int.h: what the data domain's files of the PostgreSQL backend share (pg_data*.c):
 * the SQL fragments of the rules every read and write of subjects and records keeps, the
 * binary array codec that carries a record's fields in one statement, and the read helpers.
 * Nothing outside pg_data*.c includes it.
 */
#ifndef CU_PG_DATA_INT_H
#define CU_PG_DATA_INT_H

#include "pg_int.h"

/*
 * P-RET-5, hold coverage, the SQL twin of cu_store_hold_covers (docs/store.md; SQLite's
 * HOLD_COVERS): whether the hold h, in force, covers record R of subject S (R "0": the subject as
 * a whole). A tenant-wide hold covers everything; a hold on a record names the record's subject
 * too. S and R are SQL expressions; a NULL S (a record without a subject) matches no subject
 * hold. Tenant $1.
 */
#define PGD_HOLD_COVERS(S, R)                                                                    \
    "(h.released_at = 0 AND ((h.subject_id = 0 AND h.record_id = 0)"                             \
    " OR (" R " <> 0 AND h.record_id = " R ")"                                                   \
    " OR (" S " <> 0 AND h.subject_id = " S " AND (" R " = 0 OR h.record_id = 0))))"
/* Whether a hold in force covers record $2 of tenant $1 (its subject read from its row). */
#define PGD_HELD_RECORD                                                                          \
    "EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = $1 AND " PGD_HOLD_COVERS(                 \
        "(SELECT r.subject_id FROM records r WHERE r.tenant_id = $1 AND r.record_id = $2)",     \
        "$2") ")"
/*
 * P-DSR-4: whether subject S of tenant $1 is being erased (its key destroyed, its rows not all
 * deleted yet): every read of subjects, records and index entries hides it and what is its. A
 * point probe of the queue's primary key, empty but for erasures under way.
 */
#define PGD_ERASING(S)                                                                           \
    "EXISTS (SELECT 1 FROM erasures e WHERE e.tenant_id = $1 AND e.subject_id = " S ")"
/* P-RET-4: whether record R of tenant $1 was kept after its subject's erasure. */
#define PGD_RETAINED(R)                                                                          \
    "EXISTS (SELECT 1 FROM retained_records k WHERE k.tenant_id = $1 AND k.record_id = " R ")"

/* Type oids of the one-dimensional arrays that carry a record's fields. */
#define PGD_OID_TEXT_ARRAY 1009
#define PGD_OID_BYTEA_ARRAY 1001

/* A record's field names and ciphertexts as two binary array parameters (text[] and bytea[]),
 * in the order given; free with pgd_fields_param_free. */
typedef struct pgd_fields_param {
    uint8_t *names, *cts;
    size_t names_len, cts_len;
} pgd_fields_param;
cu_rc pgd_fields_param_make(const cu_store_field *fields, size_t n, pgd_fields_param *out,
                            cu_err *err);
void pgd_fields_param_free(pgd_fields_param *p);
pg_param pgd_p_names(const pgd_fields_param *p);
pg_param pgd_p_cts(const pgd_fields_param *p);

/* The fields of a record from a result's two array columns (text[] names, bytea[] cts; NULL:
 * none) into r->fields / r->nfields; *bytes gets the ciphertexts' length. */
cu_rc pgd_fields_read(const PGresult *res, int row, int names_col, int cts_col,
                      cu_store_record *r, size_t *bytes, cu_err *err);

/* Runs one read statement on a read connection (the snapshot's, the read scope's, or one of
 * the pool in autocommit) into *res (the caller PQclear()s it). */
cu_rc pgd_read(cu_store *base, pg_query *q, const pg_param *params, int nparams, PGresult **res,
               cu_err *err, const char *what);
/* Column 0 of every row of a read as ids; caller frees *ids. */
cu_rc pgd_read_ids(cu_store *base, pg_query *q, const pg_param *params, int nparams, cu_id **ids,
                   size_t *n, cu_err *err, const char *what);
/* A write statement inside apply()'s transaction whose one row's column 0 (a count or a flag)
 * goes into *out (res freed). */
cu_rc pgd_write_int(pg_conn *c, pg_query *q, const pg_param *params, int nparams, int64_t *out,
                    cu_err *err, const char *what);
/* A write that must change a row; if it changes none, fails with code and msg. */
cu_rc pgd_write_one(pg_conn *c, pg_query *q, const pg_param *params, int nparams, cu_rc code,
                    const char *msg, cu_err *err, const char *what);

#endif
