/*
 * pg_data_hold.c: the PostgreSQL backend's consent ledger (P-CON-2) and legal holds (P-RET-5):
 * their writes inside apply()'s transaction, their reads, and pg_held, the one definition of
 * hold coverage the other domains ask (docs/store.md; PGD_HOLD_COVERS in pg_data_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* --- consents ----------------------------------------------------------------------------- */

static pg_query Q_CONSENT_PUT =
    PG_QUERY("INSERT INTO consents(tenant_id, subject_id, purpose, action, at, source,"
             " policy_version) VALUES($1, $2, $3, $4, $5, $6, $7)");

cu_rc pg_w_consent_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_consent *k = &op->u.consent;

    return pg_exec(c, &Q_CONSENT_PUT,
                   PG_P(pg_p_id(k->tenant_id), pg_p_id(k->subject_id), pg_p_text(k->purpose),
                        pg_p_i64(k->action), pg_p_i64(k->at), pg_p_text(k->source),
                        pg_p_text(k->policy_version)),
                   NULL, err, "record consent");
}

#define CONSENT_COLS "tenant_id, subject_id, seq, purpose, action, at, source, policy_version"
/* An erased subject's ledger is hidden with it, until its rows go (as SQLite's). */
static pg_query Q_CONSENT_LIST = PG_QUERY(
    "SELECT " CONSENT_COLS " FROM consents WHERE tenant_id = $1 AND subject_id = $2"
    " AND NOT " PGD_ERASING("$2") " ORDER BY seq");
/* The newest entry for a purpose (consents_by_subject, backwards). */
static pg_query Q_CONSENT_LAST =
    PG_QUERY("SELECT " CONSENT_COLS " FROM consents WHERE tenant_id = $1 AND subject_id = $2"
             " AND purpose = $3 ORDER BY seq DESC LIMIT 1");

cu_rc pg_consent_list(cu_store *base, cu_id tenant, cu_id subject, const char *purpose,
                      cu_store_consent **out, size_t *n, cu_err *err)
{
    PGresult *res;
    cu_rc rc;
    int rows;

    *out = NULL;
    *n = 0;
    if (purpose)
        rc = pgd_read(base, &Q_CONSENT_LAST,
                      PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_text(purpose)), &res, err,
                      "read the consent ledger");
    else
        rc = pgd_read(base, &Q_CONSENT_LIST, PG_P(pg_p_id(tenant), pg_p_id(subject)), &res, err,
                      "read the consent ledger");
    if (rc != CU_OK)
        return rc;
    rows = pg_rows(res);
    if ((*out = calloc(rows > 0 ? (size_t)rows : 1, sizeof(**out))) == NULL) {
        PQclear(res);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < rows; i++) {
        cu_store_consent *k = &(*out)[i];
        k->tenant_id = pg_id(res, i, 0);
        k->subject_id = pg_id(res, i, 1);
        k->seq = (uint64_t)pg_i64(res, i, 2);
        pg_text_copy(res, i, 3, k->purpose, sizeof(k->purpose));
        k->action = (int)pg_i64(res, i, 4);
        k->at = pg_i64(res, i, 5);
        pg_text_copy(res, i, 6, k->source, sizeof(k->source));
        pg_text_copy(res, i, 7, k->policy_version, sizeof(k->policy_version));
    }
    *n = (size_t)rows;
    PQclear(res);
    return CU_OK;
}

/* --- holds -------------------------------------------------------------------------------- */

/* Whether a hold in force covers record $3 (its subject read from its row when it exists, else
 * $2) or, with $3 = 0, subject $2 as a whole. */
static pg_query Q_HELD = PG_QUERY(
    "SELECT EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = $1 AND " PGD_HOLD_COVERS(
        "coalesce((SELECT r.subject_id FROM records r WHERE r.tenant_id = $1"
        " AND r.record_id = $3), $2)",
        "$3") ")");

cu_rc pg_held(pg_conn *c, cu_id tenant, cu_id subject, cu_id record, int *held, cu_err *err)
{
    int64_t v = 0;
    cu_rc rc = pgd_write_int(c, &Q_HELD, PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_id(record)),
                             &v, err, "check legal holds");

    *held = rc == CU_OK && v != 0;
    return rc;
}

/*
 * A subject whose key is gone is being erased: there is nothing left to hold (CU_ERR_KEY). ($8:
 * CU_KEY_SUBJECT) The key is read FOR SHARE: a hold and the key's destruction each check what
 * the other writes, and at READ COMMITTED both could pass (write skew: a hold on a subject being
 * erased). KEY_DELETE deletes the key's rows before its hold check (pg_vault_keys.c): a delete
 * not yet committed makes this read wait, then find no key; a hold placed first makes the delete
 * wait for it, and its later check sees it.
 */
static pg_query Q_HOLD_PUT = PG_QUERY(
    "INSERT INTO holds(tenant_id, hold_id, subject_id, record_id, reason, key_version,"
    " created_at) SELECT $1, $2, $3, $4, $5, $6, $7 WHERE $3 = 0 OR EXISTS (SELECT 1 FROM keys"
    " WHERE tenant_id = $1 AND kind = $8 AND owner_id = $3 FOR SHARE)");

cu_rc pg_w_hold_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_hold *h = &op->u.hold;

    return pgd_write_one(c, &Q_HOLD_PUT,
                         PG_P(pg_p_id(h->tenant_id), pg_p_id(h->id), pg_p_id(h->subject_id),
                              pg_p_id(h->record_id), pg_p_bytes(&h->reason),
                              pg_p_i64(h->key_version), pg_p_i64(h->created_at),
                              pg_p_i64(CU_KEY_SUBJECT)),
                         CU_ERR_KEY, "the subject's erasure is under way", err,
                         "place legal hold");
}

/* Only a hold in force, sealed under the version named (its release reason is sealed alike). */
static pg_query Q_HOLD_RELEASE =
    PG_QUERY("UPDATE holds SET released_at = $3, release_reason = $4 WHERE tenant_id = $1"
             " AND hold_id = $2 AND released_at = 0 AND key_version = $5");

cu_rc pg_w_hold_release(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_hold *h = &op->u.hold;

    return pgd_write_one(c, &Q_HOLD_RELEASE,
                         PG_P(pg_p_id(h->tenant_id), pg_p_id(h->id), pg_p_i64(h->released_at),
                              pg_p_bytes(&h->release_reason), pg_p_i64(h->key_version)),
                         CU_ERR_NOT_FOUND, "no such hold in force", err, "release legal hold");
}

static pg_query Q_HOLD_LIST =
    PG_QUERY("SELECT tenant_id, hold_id, subject_id, record_id, reason, key_version, created_at,"
             " released_at, release_reason FROM holds WHERE tenant_id = $1"
             " ORDER BY created_at, hold_id");

cu_rc pg_hold_list(cu_store *base, cu_id tenant, cu_store_hold **out, size_t *n, cu_err *err)
{
    PGresult *res;
    cu_rc rc = pgd_read(base, &Q_HOLD_LIST, PG_P(pg_p_id(tenant)), &res, err, "list legal holds");
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
    for (int i = 0; i < rows && rc == CU_OK; i++) {
        cu_store_hold *h = &(*out)[i];
        *n = (size_t)i + 1;
        h->tenant_id = pg_id(res, i, 0);
        h->id = pg_id(res, i, 1);
        h->subject_id = pg_id(res, i, 2);
        h->record_id = pg_id(res, i, 3);
        h->key_version = (uint32_t)pg_i64(res, i, 5);
        h->created_at = pg_i64(res, i, 6);
        h->released_at = pg_i64(res, i, 7);
        if ((rc = pg_blob_copy(res, i, 4, &h->reason, err)) == CU_OK)
            rc = pg_blob_copy(res, i, 8, &h->release_reason, err);
    }
    PQclear(res);
    if (rc != CU_OK) {
        cu_store_holds_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
