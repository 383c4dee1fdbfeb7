/*
 * hold.c: legal holds (P-RET-5).
 *
 * A hold covers a whole tenant, one subject or one record. While it is in force nothing it
 * covers is deleted, rewritten, anonymized, erased or shredded, and a tenant-wide hold keeps
 * the audit log too: the store refuses each such write in its own transaction
 * (CU_ERR_LEGAL_HOLD, docs/store.md), so no hold placed meanwhile is missed. Placing and
 * releasing one are administrative acts on the audit log (P-AUD-1). The reasons (a case
 * number, a court order) may name people, so they are sealed under the tenant data key like
 * any personal value, and the audit entry names only the hold's id.
 */
#include <stdlib.h>
#include <string.h>

#include "erase_int.h"
#include "hold_int.h"
#include "keys_int.h"
#include "purpose_int.h"
#include "tenant_int.h"
#include "util.h"

#define HOLD_COLL "$holds"

static int reason_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > CU_HOLD_REASON_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* Whether the subject's erasure is under way (erase.c); 0 on a failed read. */
static int subject_erased(cu_vault *v, cu_id tenant, cu_id subject)
{
    int queued = 0;

    return subject != 0 && cu_erase_queued(v, tenant, subject, &queued, NULL) == CU_OK && queued;
}

cu_rc cu_hold_place(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_id record,
                    const char *reason, cu_id *out_id, cu_err *err)
{
    cu_store_record rrow = {0};
    cu_store_op op = {0};
    cu_key dk = {0};
    cu_audit_in a;
    cu_aad aad;
    cu_rc rc;

    if (!reason_ok(reason))
        return cu_err_set(err, CU_ERR_INVALID,
                          "a hold needs a reason: 1 to %d bytes without control characters",
                          CU_HOLD_REASON_MAX);
    /* Holds may be placed in the export window too, and on a purged tenant's retained data
     * from the CLI (or by staff for a legal obligation): they exist to stop deletion. */
    rc = cu_preamble(v, ctx,
                     &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ, .subject = subject},
                     NULL, err);
    /* P-DSR-4: hidden since its key went, its erasure under way: nothing left to hold, as the
     * store says of a hold placed meanwhile (CU_ERR_KEY). */
    if (rc == CU_ERR_NOT_FOUND && subject_erased(v, tenant, subject))
        return cu_err_set(err, CU_ERR_KEY, "the subject's key is destroyed: it is being erased");
    if (rc != CU_OK)
        return rc;
    if (record != 0) {
        rc = cu_store_record_get(v->store, tenant, record, &rrow, err);
        if (rc == CU_OK && subject != 0 && rrow.subject_id != subject)
            rc = cu_err_set(err, CU_ERR_INVALID, "the record is not the subject's");
        /* A hold on a record holds its subject's erasure too. */
        subject = rrow.subject_id;
        cu_store_record_cleanup(&rrow);
        if (rc != CU_OK)
            return rc;
    }
    if ((rc = cu_keys_child(v, tenant, CU_KEY_DATA, 0, &dk, err)) != CU_OK)
        return rc;
    op.type = CU_OP_HOLD_PUT;
    op.u.hold.tenant_id = tenant;
    op.u.hold.id = cu_random_id();
    op.u.hold.subject_id = subject;
    op.u.hold.record_id = record;
    op.u.hold.key_version = dk.version;
    op.u.hold.created_at = cu_clock_now();
    cu_aad_data(&aad, tenant, HOLD_COLL, op.u.hold.id, "reason", dk.version);
    rc = cu_seal(&dk, &aad, reason, strlen(reason), &op.u.hold.reason, err);
    cu_key_wipe(&dk);
    if (rc != CU_OK)
        return rc;
    /* No subject on the entry: the subject's own export (P-DSR-1) lists its accesses from the
     * same index, and a legal hold is not the subject's to learn of from it (review-s10b 9). */
    cu_audit_in_set(&a, tenant, "hold.place", "hold:%llu", (unsigned long long)op.u.hold.id);
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) == CU_OK && out_id)
        *out_id = op.u.hold.id;
    free(op.u.hold.reason.data);
    return rc;
}

cu_rc cu_hold_release(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id hold, const char *reason,
                      cu_err *err)
{
    cu_store_hold *rows = NULL;
    cu_store_op op = {0};
    size_t n = 0;
    uint32_t kv = 0;
    int whole = 0;
    cu_key dk = {0};
    cu_audit_in a;
    cu_aad aad;
    cu_rc rc;

    if (!reason_ok(reason))
        return cu_err_set(err, CU_ERR_INVALID,
                          "a release needs a reason: 1 to %d bytes without control characters",
                          CU_HOLD_REASON_MAX);
    /* A purged tenant's holds too, from the CLI: they keep its retained data and its keys. */
    if ((rc = cu_tenant_check_read(v, ctx, tenant, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_hold_list(v->store, tenant, &rows, &n, err)) != CU_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (rows[i].id == hold && rows[i].released_at == 0) {
            kv = rows[i].key_version;
            whole = rows[i].subject_id == 0 && rows[i].record_id == 0;
        }
    cu_store_holds_free(rows, n);
    if (kv == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such hold in force");
    /* P-RET-5: a hold on the whole tenant keeps its audit log too; only an owner (or the
     * operator on the data directory) lets it go. */
    if (whole && ctx != NULL && !(ctx->flags & (CU_CTX_OWNER | CU_CTX_LOCAL)))
        return cu_err_set(err, CU_ERR_FORBIDDEN, "only an owner may release a tenant-wide hold");
    /* The release reason is sealed like the reason, under its data key version (P-ENC-5); the
     * store checks that the hold is still under it. */
    if ((rc = cu_keys_child_at(v, tenant, CU_KEY_DATA, 0, kv, &dk, err)) != CU_OK)
        return rc;
    op.type = CU_OP_HOLD_RELEASE;
    op.u.hold.tenant_id = tenant;
    op.u.hold.id = hold;
    op.u.hold.key_version = kv;
    op.u.hold.released_at = cu_clock_now();
    cu_aad_data(&aad, tenant, HOLD_COLL, hold, "release_reason", kv);
    rc = cu_seal(&dk, &aad, reason, strlen(reason), &op.u.hold.release_reason, err);
    cu_key_wipe(&dk);
    if (rc != CU_OK)
        return rc;
    cu_audit_in_set(&a, tenant, "hold.release", "hold:%llu", (unsigned long long)hold);
    rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    free(op.u.hold.release_reason.data);
    return rc;
}

void cu_hold_cleanup(cu_hold *h)
{
    if (h == NULL)
        return;
    cu_str_wipe(h->reason);
    free(h->reason);
    h->reason = NULL;
    cu_str_wipe(h->release_reason);
    free(h->release_reason);
    h->release_reason = NULL;
}

cu_rc cu_hold_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_hold **out, size_t *n,
                   cu_err *err)
{
    cu_store_hold *rows = NULL;
    cu_hold *res = NULL;
    size_t cnt = 0, i = 0;
    cu_key dk = {0};
    cu_audit_in a;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_preamble(
             v, ctx,
             &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ, .purpose = CU_PURPOSE_READ},
             NULL, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_hold_list(v->store, tenant, &rows, &cnt, err)) != CU_OK)
        return rc;
    if ((res = calloc(cnt ? cnt : 1, sizeof(*res))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < cnt; i++) {
        size_t len = 0;
        cu_aad aad;
        if (dk.version != rows[i].key_version) {
            cu_key_wipe(&dk);
            if ((rc = cu_keys_child_at(v, tenant, CU_KEY_DATA, 0, rows[i].key_version, &dk, err)) !=
                CU_OK)
                goto out;
        }
        res[i].id = rows[i].id;
        res[i].tenant_id = tenant;
        res[i].subject_id = rows[i].subject_id;
        res[i].record_id = rows[i].record_id;
        res[i].created_at = rows[i].created_at;
        res[i].released_at = rows[i].released_at;
        cu_aad_data(&aad, tenant, HOLD_COLL, rows[i].id, "reason", rows[i].key_version);
        if ((rc = cu_open(&dk, &aad, &rows[i].reason, &res[i].reason, &len, "hold", err)) != CU_OK)
            goto out;
        if (rows[i].release_reason.data == NULL)
            continue;
        cu_aad_data(&aad, tenant, HOLD_COLL, rows[i].id, "release_reason", rows[i].key_version);
        if ((rc = cu_open(&dk, &aad, &rows[i].release_reason, &res[i].release_reason, &len, "hold",
                          err)) != CU_OK)
            goto out;
    }
    cu_audit_in_set(&a, tenant, "hold.list", "holds");
    rc = cu_commit(v, ctx, NULL, 0, &a, 1, err);
out:
    cu_key_wipe(&dk);
    cu_store_holds_free(rows, cnt);
    if (rc != CU_OK) {
        for (size_t j = 0; res != NULL && j < cnt; j++)
            cu_hold_cleanup(&res[j]);
        free(res);
        return rc;
    }
    *out = res;
    *n = cnt;
    return CU_OK;
}

cu_rc cu_hold_covers(cu_vault *v, cu_id tenant, cu_id subject, cu_id record, int *held, cu_err *err)
{
    cu_store_hold *rows = NULL;
    size_t cnt = 0;
    int covered = 0;
    cu_rc rc;

    *held = 0;
    if ((rc = cu_store_hold_list(v->store, tenant, &rows, &cnt, err)) != CU_OK)
        return rc;
    /* P-RET-5: the one definition of coverage is the store's (docs/store.md). */
    for (size_t i = 0; i < cnt && !covered; i++)
        covered = cu_store_hold_covers(&rows[i], subject, record);
    cu_store_holds_free(rows, cnt);
    *held = covered;
    return CU_OK;
}

/* P-ENC-5: a hold's reasons, sealed under an older data key version, sealed again under nk. */
cu_rc cu_hold_reseal_op(cu_vault *v, const cu_store_hold *h, const cu_key *nk, cu_store_op *op,
                        cu_err *err)
{
    static const char *const fields[2] = {"reason", "release_reason"};
    cu_store_reseal *r = &op->u.reseal;
    const cu_blob *b[2] = {&h->reason, &h->release_reason};
    cu_rc rc = CU_OK;

    memset(op, 0, sizeof(*op));
    if (h->key_version == nk->version)
        return CU_OK;
    op->type = CU_OP_RESEAL;
    r->what = CU_RESEAL_HOLD;
    r->tenant_id = h->tenant_id;
    r->id = h->id;
    r->key_version = nk->version;
    for (int i = 0; i < 2 && rc == CU_OK; i++) {
        if (b[i]->data == NULL)
            continue;
        if ((r->old[i].data = malloc(b[i]->len ? b[i]->len : 1)) == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(r->old[i].data, b[i]->data, b[i]->len);
        r->old[i].len = b[i]->len;
        rc = cu_reseal_value(v, h->tenant_id, HOLD_COLL, h->id, fields[i], NULL, h->key_version, nk,
                             b[i], &r->ct[i], err);
    }
    if (rc != CU_OK)
        cu_reseal_op_free(op);
    return rc;
}
