/*
 * pg_disclosure.c: disclosures in the PostgreSQL backend (store.h, P-SHR-1;
 * sqlite_disclosure.c is the reference): migration 6's table, CU_OP_DISCLOSURE_PUT, the
 * tenant's rows at its close and shred (P-RET-2), and the read.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* Migration 6 (5 is the webhook outbox's). */
const char pg_ddl_disclosures[] =
    "CREATE TABLE disclosures("
    "  tenant_id bigint NOT NULL, disclosure_id bigint NOT NULL,"
    "  subject_id bigint NOT NULL, record_id bigint NOT NULL, recipient text NOT NULL,"
    "  purpose text NOT NULL, categories text NOT NULL, legal_basis text NOT NULL,"
    "  reference text NOT NULL, policy_version bigint NOT NULL, created_at bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, disclosure_id, subject_id, record_id));"
    "CREATE INDEX disclosures_by_subject ON disclosures(tenant_id, subject_id, created_at);";

#define DISCLOSURE_COLS                                                                            \
    "tenant_id, disclosure_id, subject_id, record_id, recipient, purpose, categories,"             \
    " legal_basis, reference, policy_version, created_at"

static pg_query Q_PUT = PG_QUERY("INSERT INTO disclosures(" DISCLOSURE_COLS ")"
                                 " VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
/* A tenant's rows, and one subject's (by the index disclosures_by_subject). */
static pg_query Q_LIST = PG_QUERY("SELECT " DISCLOSURE_COLS " FROM disclosures"
                                  " WHERE tenant_id = $1 AND $2 = 0"
                                  " ORDER BY created_at DESC, disclosure_id, subject_id, record_id"
                                  " LIMIT $3");
static pg_query Q_LIST_OF = PG_QUERY("SELECT " DISCLOSURE_COLS " FROM disclosures"
                                     " WHERE tenant_id = $1 AND subject_id = $2"
                                     " ORDER BY created_at DESC LIMIT $3");
static pg_query Q_TENANT_DELETE = PG_QUERY("DELETE FROM disclosures WHERE tenant_id = $1");

cu_rc pg_w_disclosure_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_disclosure *d = &op->u.disclosure;

    return pg_exec(c, &Q_PUT,
                   PG_P(pg_p_id(d->tenant_id), pg_p_id(d->id), pg_p_id(d->subject_id),
                        pg_p_id(d->record_id), pg_p_text(d->recipient), pg_p_text(d->purpose),
                        pg_p_text(d->categories), pg_p_text(d->legal_basis),
                        pg_p_text(d->reference), pg_p_i64(d->policy_version),
                        pg_p_i64(d->created_at)),
                   NULL, err, "record a disclosure");
}

cu_rc pg_tenant_disclosures_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    return pg_exec(c, &Q_TENANT_DELETE, PG_P(pg_p_id(tenant)), NULL, err,
                   "delete the tenant's disclosures");
}

cu_rc pg_disclosure_list(cu_store *base, cu_id tenant, cu_id subject, size_t limit,
                         cu_store_disclosure **out, size_t *n, cu_err *err)
{
    PGresult *res = NULL;
    int rows;
    cu_rc rc = pgd_read(base, subject ? &Q_LIST_OF : &Q_LIST,
                        PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64((int64_t)limit)), &res,
                        err, "read the disclosures");

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
        cu_store_disclosure *d = &(*out)[i];
        d->tenant_id = pg_id(res, i, 0);
        d->id = pg_id(res, i, 1);
        d->subject_id = pg_id(res, i, 2);
        d->record_id = pg_id(res, i, 3);
        pg_text_copy(res, i, 4, d->recipient, sizeof(d->recipient));
        pg_text_copy(res, i, 5, d->purpose, sizeof(d->purpose));
        pg_text_copy(res, i, 6, d->categories, sizeof(d->categories));
        pg_text_copy(res, i, 7, d->legal_basis, sizeof(d->legal_basis));
        pg_text_copy(res, i, 8, d->reference, sizeof(d->reference));
        d->policy_version = (unsigned)pg_i64(res, i, 9);
        d->created_at = pg_i64(res, i, 10);
    }
    *n = (size_t)rows;
    PQclear(res);
    return CU_OK;
}
