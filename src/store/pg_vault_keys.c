/*
 * pg_vault_keys.c: the PostgreSQL backend's wrapped keys (DESIGN.md, Keys): their writes, the
 * destruction of a subject key that starts its erasure (P-DSR-4), the data key rotation's
 * reseal and the destruction of a data key version no value uses any more (P-ENC-5), and the
 * reads of keys. Writes run inside apply()'s transaction (pg_write.c).
 */
#include <stdlib.h>
#include <string.h>

#include "pg_vault_int.h"
#include "util.h"

#define KEY_COLS "tenant_id, kind, owner_id, version, parent_version, wrapped"

static pg_query Q_KEY_PUT =
    PG_QUERY("INSERT INTO keys(" KEY_COLS ") VALUES($1, $2, $3, $4, $5, $6)");
/* A rewrap of a key destroyed meanwhile changes no row: a rotation never resurrects it. */
static pg_query Q_KEY_REWRAP =
    PG_QUERY("UPDATE keys SET parent_version = $5, wrapped = $6 WHERE tenant_id = $1"
             " AND kind = $2 AND owner_id = $3 AND version = $4");
static pg_query Q_KEY_DELETE =
    PG_QUERY("DELETE FROM keys WHERE tenant_id = $1 AND kind = $2 AND owner_id = $3");
static pg_query Q_KEY_GET = PG_QUERY("SELECT " KEY_COLS " FROM keys WHERE tenant_id = $1"
                                     " AND kind = $2 AND owner_id = $3 AND version = $4");
static pg_query Q_KEY_GET_LATEST =
    PG_QUERY("SELECT " KEY_COLS " FROM keys WHERE tenant_id = $1 AND kind = $2"
             " AND owner_id = $3 ORDER BY version DESC LIMIT 1");
/* One tenant's keys, of every kind ($2 = 0) or one (its part of the primary key). */
static pg_query Q_KEY_LIST =
    PG_QUERY("SELECT " KEY_COLS " FROM keys WHERE tenant_id = $1"
             " AND ($2 = 0 OR kind = $2) ORDER BY kind, owner_id, version");
/* Every tenant's (tenant 0) of a kind store.h gives no owner (tenant, data, index): the vault
 * reads them so at open, a rotation, an epoch and a backup; the partial index keys_ownerless
 * (pg_schema_vault.c) finds them without reading every subject's key. */
static pg_query Q_KEY_LIST_OWNERLESS =
    PG_QUERY("SELECT " KEY_COLS " FROM keys WHERE kind = $1 AND owner_id = 0"
             " ORDER BY tenant_id, version");
/* Every tenant's of another kind, or of every kind: a scan of the table. */
static pg_query Q_KEY_LIST_ALL =
    PG_QUERY("SELECT " KEY_COLS " FROM keys WHERE ($1 = 0 OR kind = $1)"
             " ORDER BY tenant_id, kind, owner_id, version");
/* P-ENC-5: a data key version ($3: CU_KEY_DATA) goes only when it is not the newest and no
 * record without a subject, hold or user still uses it, checked by the delete itself. */
static pg_query Q_DATA_KEY_DESTROY = PG_QUERY(
    "DELETE FROM keys WHERE tenant_id = $1 AND kind = $3 AND owner_id = 0 AND version = $2"
    " AND version < (SELECT max(k.version) FROM keys k WHERE k.tenant_id = $1 AND k.kind = $3"
    " AND k.owner_id = 0)"
    " AND NOT EXISTS (SELECT 1 FROM records WHERE tenant_id = $1 AND subject_id IS NULL"
    " AND key_version = $2)"
    " AND NOT EXISTS (SELECT 1 FROM holds WHERE tenant_id = $1 AND key_version = $2)"
    " AND NOT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND (key_version = $2"
    " OR (totp_secret IS NOT NULL AND totp_key_version = $2)"
    " OR (totp_pending IS NOT NULL AND totp_pending_key_version = $2)))"
    " AND NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = $1 AND key_version = $2)"
    " AND NOT EXISTS (SELECT 1 FROM sso_configs WHERE tenant_id = $1 AND key_version = $2)");

/* The key's six columns, in KEY_COLS order. */
static cu_rc key_write(pg_conn *c, pg_query *q, const cu_store_key *k, cu_err *err)
{
    return pgv_run(
        c, q,
        PG_P(pg_p_id(k->tenant_id), pg_p_i64(k->kind), pg_p_id(k->owner_id), pg_p_i64(k->version),
             pg_p_i64(k->parent_version),
             pg_p_blob(k->wrapped.data ? k->wrapped.data : (const void *)"", k->wrapped.len)),
        NULL, err, "write key");
}

cu_rc pg_w_key_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return key_write(c, &Q_KEY_PUT, &op->u.key, err);
}

cu_rc pg_w_key_rewrap(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return key_write(c, &Q_KEY_REWRAP, &op->u.key, err);
}

/*
 * A subject key goes only while no hold covers the subject (P-RET-5), and its erasure is
 * queued in the same transaction (P-DSR-4). apply() runs at READ COMMITTED, so the order
 * matters: the key's rows are deleted first, which waits for a HOLD_PUT naming the subject
 * that read the key FOR SHARE (pg_data: its CU_ERR_KEY check) to commit; the hold check is a
 * later statement and sees that hold. A HOLD_PUT after the delete waits for this transaction
 * and finds no key. Either way one of the two is refused, as SQLite's single writer gives.
 */
cu_rc pg_w_key_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    cu_id tenant = op->u.key_del.tenant_id, owner = op->u.key_del.owner_id;
    int held = 0;
    cu_rc rc;

    rc = pgv_run(c, &Q_KEY_DELETE,
                 PG_P(pg_p_id(tenant), pg_p_i64(op->u.key_del.kind), pg_p_id(owner)), NULL, err,
                 "destroy key");
    if (rc != CU_OK || op->u.key_del.kind != CU_KEY_SUBJECT)
        return rc;
    if ((rc = pg_held(c, tenant, owner, 0, &held, err)) != CU_OK)
        return rc;
    if (held) /* apply() rolls the delete back */
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the subject's data is under a legal hold");
    /* From this commit on the subject is hidden, its rows deleted later. */
    return pg_erase_queue(c, tenant, owner, err);
}

cu_rc pg_w_data_key_destroy(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_DATA_KEY_DESTROY,
                       PG_P(pg_p_id(op->u.key_del.tenant_id), pg_p_i64(op->u.key_del.version),
                            pg_p_i64(CU_KEY_DATA)),
                       err, "destroy data key", CU_ERR_CONFLICT,
                       "the data key version is the newest or still in use");
}

/* --- RESEAL (P-ENC-5) ----------------------------------------------------------------------- */

/* Each value sealed again only while it is still the value read ($5, or $6 and $7 for a
 * hold); content is unchanged, so no hold refuses it. A record's fields follow its document
 * only when the document's update changed its row (the fields are bound to that write). */
static pg_query Q_RESEAL_RECORD =
    PG_QUERY("UPDATE records SET doc = $3, key_version = $4 WHERE tenant_id = $1"
             " AND record_id = $2 AND subject_id IS NULL AND doc = $5");
static pg_query Q_RESEAL_FIELD = PG_QUERY("UPDATE record_fields SET ct = $4 WHERE tenant_id = $1"
                                          " AND record_id = $2 AND field = $3");
static pg_query Q_RESEAL_HOLD =
    PG_QUERY("UPDATE holds SET reason = $3, release_reason = $4, key_version = $5"
             " WHERE tenant_id = $1 AND hold_id = $2 AND reason = $6"
             " AND release_reason IS NOT DISTINCT FROM $7");
static pg_query Q_RESEAL_USER_EMAIL =
    PG_QUERY("UPDATE users SET email = $3, key_version = $4 WHERE tenant_id = $1"
             " AND user_id = $2 AND email = $5");
static pg_query Q_RESEAL_USER_TOTP =
    PG_QUERY("UPDATE users SET totp_secret = $3, totp_key_version = $4"
             " WHERE tenant_id = $1 AND user_id = $2 AND totp_secret = $5");
static pg_query Q_RESEAL_USER_PENDING =
    PG_QUERY("UPDATE users SET totp_pending = $3, totp_pending_key_version = $4"
             " WHERE tenant_id = $1 AND user_id = $2 AND totp_pending = $5");
static pg_query Q_RESEAL_WEBHOOK_SECRET =
    PG_QUERY("UPDATE webhook_endpoints SET secret = $3, key_version = $4"
             " WHERE tenant_id = $1 AND endpoint_id = $2 AND secret = $5");
/* $2: 0, the one configuration of the tenant (store_sso.h) */
static pg_query Q_RESEAL_SSO_SECRET =
    PG_QUERY("UPDATE sso_configs SET secret = $3, key_version = $4"
             " WHERE tenant_id = $1 AND $2 = 0 AND secret = $5");

static cu_rc reseal_fields(pg_conn *c, const cu_store_reseal *r, cu_err *err)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < r->nfields && rc == CU_OK; i++)
        rc = pgv_run(c, &Q_RESEAL_FIELD,
                     PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id), pg_p_text(r->fields[i].name),
                          pg_p_bytes(&r->fields[i].ct)),
                     NULL, err, "reseal record field");
    return rc;
}

cu_rc pg_w_reseal(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    static pg_query *const qs[] = {[CU_RESEAL_RECORD] = &Q_RESEAL_RECORD,
                                   [CU_RESEAL_USER_EMAIL] = &Q_RESEAL_USER_EMAIL,
                                   [CU_RESEAL_USER_TOTP] = &Q_RESEAL_USER_TOTP,
                                   [CU_RESEAL_USER_PENDING] = &Q_RESEAL_USER_PENDING,
                                   [CU_RESEAL_WEBHOOK_SECRET] = &Q_RESEAL_WEBHOOK_SECRET,
                                   [CU_RESEAL_SSO_SECRET] = &Q_RESEAL_SSO_SECRET};
    const cu_store_reseal *r = &op->u.reseal;
    int64_t changed = 0;
    cu_rc rc;

    if (r->what < CU_RESEAL_RECORD || r->what > CU_RESEAL__LAST)
        return cu_err_set(err, CU_ERR_INVALID, "unknown reseal");
    if (r->what == CU_RESEAL_HOLD)
        return pgv_run(c, &Q_RESEAL_HOLD,
                       PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id), pg_p_bytes(&r->ct[0]),
                            pg_p_bytes(&r->ct[1]), pg_p_i64(r->key_version), pg_p_bytes(&r->old[0]),
                            pg_p_bytes(&r->old[1])),
                       NULL, err, "reseal");
    rc = pgv_run(c, qs[r->what],
                 PG_P(pg_p_id(r->tenant_id), pg_p_id(r->id), pg_p_bytes(&r->ct[0]),
                      pg_p_i64(r->key_version), pg_p_bytes(&r->old[0])),
                 &changed, err, "reseal");
    if (rc != CU_OK || changed == 0 || r->what != CU_RESEAL_RECORD)
        return rc;
    return reseal_fields(c, r, err);
}

/* --- reads ------------------------------------------------------------------------------------ */

static cu_rc read_key(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_store_key *k = out;

    memset(k, 0, sizeof(*k));
    k->tenant_id = pg_id(res, row, 0);
    k->kind = (cu_key_kind)pg_i64(res, row, 1);
    k->owner_id = pg_id(res, row, 2);
    k->version = (uint32_t)pg_i64(res, row, 3);
    k->parent_version = (uint32_t)pg_i64(res, row, 4);
    return pg_blob_copy(res, row, 5, &k->wrapped, err);
}

static void keys_free(void *list, size_t n)
{
    cu_store_keys_free(list, n);
}

cu_rc pg_key_get(cu_store *base, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                 cu_store_key *out, cu_err *err)
{
    memset(out, 0, sizeof(*out));
    if (version == 0)
        return pgv_read_one(base, &Q_KEY_GET_LATEST,
                            PG_P(pg_p_id(tenant), pg_p_i64(kind), pg_p_id(owner)), read_key, out,
                            err, "read key", "key not found");
    return pgv_read_one(base, &Q_KEY_GET,
                        PG_P(pg_p_id(tenant), pg_p_i64(kind), pg_p_id(owner), pg_p_i64(version)),
                        read_key, out, err, "read key", "key not found");
}

cu_rc pg_key_list(cu_store *base, cu_id tenant, cu_key_kind kind, cu_store_key **out, size_t *n,
                  cu_err *err)
{
    int ownerless = kind == CU_KEY_TENANT || kind == CU_KEY_DATA || kind == CU_KEY_INDEX;

    if (tenant == 0)
        return pgv_read_list(base, ownerless ? &Q_KEY_LIST_OWNERLESS : &Q_KEY_LIST_ALL,
                             PG_P(pg_p_i64(kind)), sizeof(**out), read_key, keys_free, (void **)out,
                             n, err, "list keys");
    return pgv_read_list(base, &Q_KEY_LIST, PG_P(pg_p_id(tenant), pg_p_i64(kind)), sizeof(**out),
                         read_key, keys_free, (void **)out, n, err, "list keys");
}
