/*
 * reseal.c: the re-encryption pass that follows a data key rotation (P-ENC-5).
 *
 * Every value a tenant's data key sealed (records without a subject, legal holds' reasons,
 * users' sealed values, webhook endpoints' signing secrets) is sealed again under the newest version, RESEAL_BATCH at a time, each
 * batch with its audit entries; then the older versions are destroyed, by the store, only in a
 * transaction that finds nothing using them. Each module builds its own reseal ops
 * (cu_record_reseal_op, cu_hold_reseal_op, cu_user_reseal_ops,
 * cu_webhook_reseal_op); this pass sits above them.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_int.h"
#include "hold_int.h"
#include "journal_int.h"
#include "keys_int.h"
#include "record_int.h"
#include "sso_int.h"
#include "tenant_int.h"
#include "progress_int.h"
#include "util.h"
#include "webhook_int.h"

#define RESEAL_BATCH 32
_Static_assert(RESEAL_BATCH + 1 <= CU_AUDIT_PER_COMMIT, "a batch's entries fit one commit");

/* Values sealed again, committed RESEAL_BATCH at a time with one audit entry each. */
typedef struct reseal_batch {
    cu_vault *v;
    const cu_ctx *ctx;
    cu_id tenant;
    uint32_t version;
    cu_store_op ops[RESEAL_BATCH];
    size_t n;
} reseal_batch;

static cu_rc batch_flush(reseal_batch *b, cu_err *err)
{
    cu_audit_in a[RESEAL_BATCH + 1];
    size_t na = 1;
    cu_rc rc;

    if (b->n == 0)
        return CU_OK;
    cu_audit_in_set(&a[0], b->tenant, "key.reencrypt", "data_key:%u:%zu", (unsigned)b->version,
                    b->n);
    /* Each record's new ciphertext in an entry of its own, so that verify --deep holds the
     * record against it rather than against its last write (P-AUD-2). */
    for (size_t i = 0; i < b->n; i++) {
        const cu_store_reseal *r = &b->ops[i].u.reseal;
        if (r->what != CU_RESEAL_RECORD)
            continue;
        cu_audit_in_set(&a[na], b->tenant, "record.reencrypt", "record:%llu",
                        (unsigned long long)r->id);
        cu_audit_in_digest(&a[na++], r->ct[0].data, r->ct[0].len);
    }
    rc = cu_commit(b->v, b->ctx, b->ops, b->n, a, na, err);
    if (rc == CU_OK)
        cu_progress_add(b->n); /* the CLI's progress (cu_progress_set) */
    for (size_t i = 0; i < b->n; i++)
        cu_reseal_op_free(&b->ops[i]);
    b->n = 0;
    if (rc == CU_OK && CU_FAULT("reencrypt.batch_committed"))
        _exit(70);
    return rc;
}

/* Takes op (a RESEAL, or type 0: nothing to do) into the batch. */
static cu_rc batch_add(reseal_batch *b, cu_store_op *op, size_t *count, cu_err *err)
{
    if (op->type != CU_OP_RESEAL)
        return CU_OK;
    b->ops[b->n++] = *op;
    memset(op, 0, sizeof(*op));
    (*count)++;
    return b->n == RESEAL_BATCH ? batch_flush(b, err) : CU_OK;
}

/* The tenant's records without a subject (its own, and anonymized ones). */
static cu_rc reseal_records(reseal_batch *b, const cu_key *nk, cu_reencrypt_report *rep,
                            cu_err *err)
{
    cu_store_record_meta *meta = NULL;
    size_t cnt = 0;
    cu_id after = 0;
    cu_rc rc;

    do {
        rc = cu_store_record_meta_list(b->v->store, b->tenant, after, 256, &meta, &cnt, err);
        for (size_t i = 0; rc == CU_OK && i < cnt; i++) {
            cu_store_op op = {0};
            after = meta[i].cursor;
            if (meta[i].subject_id != 0)
                continue;
            rc = cu_record_reseal_op(b->v, b->tenant, meta[i].id, nk, &op, err);
            if (rc == CU_ERR_NOT_FOUND) /* deleted meanwhile */
                rc = CU_OK;
            if (rc == CU_OK)
                rc = batch_add(b, &op, &rep->records, err);
            cu_reseal_op_free(&op);
        }
        free(meta);
        meta = NULL;
    } while (rc == CU_OK && cnt == 256);
    return rc;
}

static cu_rc reseal_holds_users(reseal_batch *b, const cu_key *nk, cu_reencrypt_report *rep,
                                cu_err *err)
{
    cu_store_hold *holds = NULL;
    cu_store_user *users = NULL;
    size_t nh = 0, nu = 0, i;
    cu_rc rc;

    rc = cu_store_hold_list(b->v->store, b->tenant, &holds, &nh, err);
    for (i = 0; rc == CU_OK && i < nh; i++) {
        cu_store_op op = {0};
        if ((rc = cu_hold_reseal_op(b->v, &holds[i], nk, &op, err)) == CU_OK)
            rc = batch_add(b, &op, &rep->holds, err);
        cu_reseal_op_free(&op);
    }
    if (rc == CU_OK)
        rc = cu_store_user_list(b->v->store, b->tenant, &users, &nu, err);
    for (i = 0; rc == CU_OK && i < nu; i++) {
        cu_store_op ops[3] = {{0}};
        rc = cu_user_reseal_ops(b->v, &users[i], nk, ops, err);
        for (int k = 0; k < 3; k++) {
            if (rc == CU_OK)
                rc = batch_add(b, &ops[k], &rep->users, err);
            cu_reseal_op_free(&ops[k]);
        }
    }
    cu_store_holds_free(holds, nh);
    cu_store_users_free(users, nu);
    return rc;
}

/* The tenant's webhook endpoints' signing secrets: a secret left under a destroyed version
 * would leave its endpoint unable to sign. */
static cu_rc reseal_webhooks(reseal_batch *b, const cu_key *nk, cu_reencrypt_report *rep,
                             cu_err *err)
{
    cu_store_webhook_endpoint *e = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_webhook_endpoints(b->v->store, b->tenant, 0, &e, &n, err);

    for (size_t i = 0; rc == CU_OK && i < n; i++) {
        cu_store_op op = {0};
        if ((rc = cu_webhook_reseal_op(b->v, &e[i], nk, &op, err)) == CU_OK)
            rc = batch_add(b, &op, &rep->webhooks, err);
        cu_reseal_op_free(&op);
    }
    cu_store_webhook_endpoints_free(e, n);
    return rc;
}

/* The tenant's SSO client secret (sso_tenant.c): one left under a destroyed version would end
 * its users' single sign-on. */
static cu_rc reseal_sso(reseal_batch *b, const cu_key *nk, cu_err *err)
{
    cu_store_op op = {0};
    size_t count = 0;
    cu_rc rc = cu_sso_reseal_op(b->v, b->tenant, nk, &op, err);

    if (rc == CU_OK && op.type == CU_OP_RESEAL)
        rc = batch_add(b, &op, &count, err);
    cu_reseal_op_free(&op);
    return rc;
}

/* Destroys every older data key version nothing uses any more, each in its own transaction
 * that checks it (the store refuses one still in use: CU_ERR_CONFLICT, counted). */
static cu_rc destroy_old(cu_vault *v, const cu_ctx *ctx, cu_id tenant, uint32_t newest,
                         cu_reencrypt_report *rep, cu_err *err)
{
    cu_store_key *keys = NULL;
    size_t n = 0;
    cu_rc rc;

    rc = cu_store_key_list(v->store, tenant, CU_KEY_DATA, &keys, &n, err);
    for (size_t i = 0; rc == CU_OK && i < n; i++) {
        cu_store_op op = {0};
        cu_audit_in a;
        if (keys[i].version >= newest)
            continue;
        op.type = CU_OP_DATA_KEY_DESTROY;
        op.u.key_del.tenant_id = tenant;
        op.u.key_del.kind = CU_KEY_DATA;
        op.u.key_del.version = keys[i].version;
        cu_audit_in_set(&a, tenant, "key.destroy", "data_key:%u", (unsigned)keys[i].version);
        rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
        if (rc == CU_OK)
            rep->destroyed++;
        else if (rc == CU_ERR_CONFLICT) {
            rep->remaining++;
            rc = CU_OK;
        }
    }
    cu_store_keys_free(keys, n);
    cu_journal_note(v, tenant); /* P-BAK-2: destroyed keys in the erasure journal */
    /* P-DSR-4's discipline: no frame of the WAL keeps a destroyed key's bytes. */
    if (rc == CU_OK && rep->destroyed > 0)
        rc = cu_store_checkpoint(v->store, err);
    return rc;
}

/*
 * P-ENC-5, the re-encryption pass after a data key rotation: every value still sealed under an
 * older data key version is sealed again under the newest, RESEAL_BATCH values per
 * transaction, each only while it is still the value read; each older version that nothing
 * uses any more is destroyed. A crash leaves values under both versions, each readable, and
 * the old version in place: running the pass again finishes the work.
 *
 * destroy_first: destroy before sealing again, so a version is destroyed one pass after its
 * last value was sealed again. The server's background pass runs beside requests, and a read
 * that fetched a row just before its value was sealed again still finds the key of the row's
 * version; the CLI runs alone and destroys at the end.
 */
static cu_rc reencrypt(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int destroy_first,
                       cu_reencrypt_report *rep, cu_err *err)
{
    reseal_batch *b = NULL;
    cu_key nk = {0};
    cu_rc rc;

    memset(rep, 0, sizeof(*rep));
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    if ((rc = cu_keys_child(v, tenant, CU_KEY_DATA, 0, &nk, err)) != CU_OK)
        return rc;
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    b->v = v;
    b->ctx = ctx;
    b->tenant = tenant;
    b->version = nk.version;
    rep->version = nk.version;
    cu_progress_begin("reencrypt", 0);
    if (destroy_first)
        rc = destroy_old(v, ctx, tenant, nk.version, rep, err);
    if (rc == CU_OK)
        rc = reseal_records(b, &nk, rep, err);
    if (rc == CU_OK)
        rc = reseal_holds_users(b, &nk, rep, err);
    if (rc == CU_OK)
        rc = reseal_webhooks(b, &nk, rep, err);
    if (rc == CU_OK)
        rc = reseal_sso(b, &nk, err);
    if (rc == CU_OK)
        rc = batch_flush(b, err);
    if (rc == CU_OK && !destroy_first)
        rc = destroy_old(v, ctx, tenant, nk.version, rep, err);
out:
    for (size_t i = 0; b != NULL && i < b->n; i++)
        cu_reseal_op_free(&b->ops[i]);
    free(b);
    cu_key_wipe(&nk);
    return rc;
}

cu_rc cu_key_reencrypt(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_reencrypt_report *rep,
                       cu_err *err)
{
    return reencrypt(v, ctx, tenant, 0, rep, err);
}

cu_rc cu_key_reencrypt_all(cu_vault *v, const cu_ctx *ctx, cu_reencrypt_report *total, cu_err *err)
{
    cu_store_key *keys = NULL;
    size_t n = 0;
    cu_rc rc;

    memset(total, 0, sizeof(*total));
    if ((rc = cu_store_key_list(v->store, 0, CU_KEY_DATA, &keys, &n, err)) != CU_OK)
        return rc;
    /* key_list orders by tenant and version: a tenant with two rows or more has a pass due. */
    for (size_t i = 0; rc == CU_OK && i + 1 < n; i++) {
        cu_reencrypt_report rep;
        cu_err e2 = {0};
        if (keys[i].tenant_id != keys[i + 1].tenant_id ||
            (i > 0 && keys[i - 1].tenant_id == keys[i].tenant_id))
            continue;
        /* A tenant that cannot be read any more (purged) keeps its keys until it is shredded;
         * a pass that fails here is counted and tried again next time. */
        if (reencrypt(v, ctx, keys[i].tenant_id, 1, &rep, &e2) != CU_OK) {
            total->remaining++;
            continue;
        }
        total->records += rep.records;
        total->holds += rep.holds;
        total->users += rep.users;
        total->webhooks += rep.webhooks;
        total->destroyed += rep.destroyed;
        total->remaining += rep.remaining;
    }
    cu_store_keys_free(keys, n);
    return rc;
}
