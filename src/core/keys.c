/*
 * keys.c: the key hierarchy (DESIGN.md, Keys): associated data, unwrapping down the tree,
 * making child keys, rotation of master, tenant and data keys, and the re-encryption pass that
 * follows a data key rotation (P-ENC-5).
 *
 * The tenant data key has versions: each sealed value records the one that sealed it and is
 * opened with it (cu_keys_child_at), so a rotation never makes anything unreadable; the pass
 * seals older values again and the store destroys a version only inside a transaction that
 * finds nothing using it.
 *
 * Every wrapped key is bound by its AAD to its kind, tenant, owner and version, so a wrapped key
 * copied onto another subject or tenant fails to unwrap (P-ENC-2, P-ISO-3).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_int.h"
#include "util.h"

static void put_u64(cu_aad *a, uint64_t x)
{
    for (int i = 7; i >= 0; i--)
        a->b[a->len++] = (uint8_t)(x >> (i * 8));
}

static void put_str(cu_aad *a, const char *s)
{
    size_t n = strlen(s);

    /* Names are validated far shorter (collections 63, fields 128); a longer one here would be
     * a bug that truncation would turn into an ambiguous AAD. */
    assert(n <= 200 && a->len + 2 + n <= CU_AAD_MAX - 16);
    a->b[a->len++] = (uint8_t)(n >> 8);
    a->b[a->len++] = (uint8_t)n;
    memcpy(a->b + a->len, s, n);
    a->len += n;
}

/* P-ENC-2: tenant, collection, record id, field and key version are all authenticated. */
void cu_aad_data(cu_aad *a, cu_id tenant, const char *collection, cu_id id, const char *field,
                 uint32_t key_version)
{
    a->len = 0;
    memcpy(a->b, "cu-data1", 8);
    a->len = 8;
    put_u64(a, tenant);
    put_str(a, collection);
    put_u64(a, id);
    put_str(a, field);
    put_u64(a, key_version);
}

void cu_aad_bind(cu_aad *a, const char *write_id)
{
    put_str(a, write_id);
}

void cu_aad_key(cu_aad *a, cu_key_kind kind, cu_id tenant, cu_id owner, uint32_t version)
{
    memcpy(a->b, "cu-key01", 8);
    a->len = 8;
    put_u64(a, (uint64_t)kind);
    put_u64(a, tenant);
    put_u64(a, owner);
    put_u64(a, version);
}

cu_rc cu_seal(const cu_key *key, const cu_aad *aad, const void *pt, size_t len, cu_blob *out,
              cu_err *err)
{
    size_t cap = cu_aead_sealed_len(len);
    cu_rc rc;

    out->data = malloc(cap);
    if (out->data == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    rc = cu_aead_seal_key(key->k, pt, len, aad->b, aad->len, out->data, cap, &out->len);
    if (rc != CU_OK) {
        free(out->data);
        out->data = NULL;
        return cu_err_set(err, rc, "could not encrypt");
    }
    return CU_OK;
}

cu_rc cu_open(const cu_key *key, const cu_aad *aad, const cu_blob *ct, char **out, size_t *len,
              const char *what, cu_err *err)
{
    char *buf = malloc(ct->len + 1);
    size_t n = 0;
    cu_rc rc;

    if (buf == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    rc = cu_aead_open_key(key->k, ct->data, ct->len, aad->b, aad->len, (uint8_t *)buf, ct->len,
                          &n);
    if (rc != CU_OK) {
        free(buf);
        if (rc == CU_ERR_CRYPTO || rc == CU_ERR_INVALID)
            return cu_err_set(err, CU_ERR_CRYPTO,
                              "%s failed authentication: it was altered, moved or sealed under "
                              "another key",
                              what);
        return cu_err_set(err, rc, "could not decrypt %s", what);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return CU_OK;
}

/* Unwraps a stored key with its parent's plaintext. */
static cu_rc unwrap(const uint8_t *kek, const cu_store_key *sk, cu_key *out, cu_err *err)
{
    cu_aad aad;

    cu_aad_key(&aad, sk->kind, sk->tenant_id, sk->owner_id, sk->version);
    if (cu_key_unwrap(kek, sk->wrapped.data, sk->wrapped.len, aad.b, aad.len, out->k) != CU_OK)
        return cu_err_set(err, CU_ERR_CRYPTO,
                          "a wrapped key (kind %d) failed authentication: it was altered or moved",
                          (int)sk->kind);
    out->version = sk->version;
    return CU_OK;
}

/* Wraps key under kek into a KEY_PUT operation; the op owns wrapped.data. */
static cu_rc wrap_op(const uint8_t *kek, uint32_t parent_version, cu_key_kind kind, cu_id tenant,
                     cu_id owner, const cu_key *key, cu_store_op *op, cu_err *err)
{
    cu_aad aad;
    uint8_t *buf = malloc(CU_WRAPPED_MAX);
    size_t len;

    if (buf == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_aad_key(&aad, kind, tenant, owner, key->version);
    if (cu_key_wrap(kek, key->k, aad.b, aad.len, buf, &len) != CU_OK) {
        free(buf);
        return cu_err_set(err, CU_ERR_CRYPTO, "could not wrap key");
    }
    memset(op, 0, sizeof(*op));
    op->type = CU_OP_KEY_PUT;
    op->u.key.tenant_id = tenant;
    op->u.key.kind = kind;
    op->u.key.owner_id = owner;
    op->u.key.version = key->version;
    op->u.key.parent_version = parent_version;
    op->u.key.wrapped.data = buf;
    op->u.key.wrapped.len = len;
    return CU_OK;
}

cu_rc cu_keys_tenant_locked(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err)
{
    cu_store_key sk = {0};
    const uint8_t *mk;
    cu_rc rc;

    rc = cu_store_key_get(v->store, tenant, CU_KEY_TENANT, 0, 0, &sk, err);
    if (rc != CU_OK)
        return rc;
    mk = cu_keyring_get(v->ring, sk.parent_version);
    if (mk == NULL)
        rc = cu_err_set(err, CU_ERR_KEY, "master key version %u is not in the key file",
                        (unsigned)sk.parent_version);
    else
        rc = unwrap(mk, &sk, out, err);
    cu_store_key_cleanup(&sk);
    return rc;
}

cu_rc cu_keys_tenant(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err)
{
    cu_rc rc;

    pthread_rwlock_rdlock(&v->key_lock);
    rc = cu_keys_tenant_locked(v, tenant, out, err);
    pthread_rwlock_unlock(&v->key_lock);
    return rc;
}

cu_rc cu_keys_child(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                    cu_err *err)
{
    cu_rc rc;

    pthread_rwlock_rdlock(&v->key_lock);
    rc = cu_keys_child_locked(v, tenant, kind, owner, out, err);
    pthread_rwlock_unlock(&v->key_lock);
    return rc;
}

/* Unwraps version (0: the newest) of a key of the tenant under the tenant key. */
static cu_rc child_locked(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner,
                          uint32_t version, cu_key *out, cu_err *err)
{
    cu_store_key sk = {0};
    cu_key tk = {0};
    cu_rc rc;

    rc = cu_store_key_get(v->store, tenant, kind, owner, version, &sk, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_KEY, "the key was destroyed: the data is erased");
    if (rc != CU_OK)
        return rc;
    rc = cu_keys_tenant_locked(v, tenant, &tk, err);
    if (rc == CU_OK && tk.version != sk.parent_version)
        rc = cu_err_set(err, CU_ERR_KEY, "key is wrapped by tenant key version %u, not %u",
                        (unsigned)sk.parent_version, (unsigned)tk.version);
    if (rc == CU_OK)
        rc = unwrap(tk.k, &sk, out, err);
    cu_key_wipe(&tk);
    cu_store_key_cleanup(&sk);
    return rc;
}

cu_rc cu_keys_child_locked(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                           cu_err *err)
{
    return child_locked(v, tenant, kind, owner, 0, out, err);
}

cu_rc cu_keys_child_at(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                       cu_key *out, cu_err *err)
{
    cu_rc rc;

    pthread_rwlock_rdlock(&v->key_lock);
    rc = child_locked(v, tenant, kind, owner, version, out, err);
    pthread_rwlock_unlock(&v->key_lock);
    return rc;
}

cu_rc cu_keys_wrap_tenant_locked(cu_vault *v, cu_id tenant, const cu_key *tk, cu_store_op *op,
                                 cu_err *err)
{
    return wrap_op(cu_keyring_get(v->ring, v->master_version), v->master_version, CU_KEY_TENANT,
                   tenant, 0, tk, op, err);
}

cu_rc cu_keys_make_child(const cu_key *tk, cu_id tenant, cu_key_kind kind, cu_id owner,
                         cu_key *out, cu_store_op *op, cu_err *err)
{
    cu_random(out->k, sizeof(out->k));
    out->version = 1;
    return wrap_op(tk->k, tk->version, kind, tenant, owner, out, op, err);
}

static void free_ops(cu_store_op *ops, size_t n)
{
    for (size_t i = 0; ops != NULL && i < n; i++)
        cu_store_op_cleanup(&ops[i]);
    free(ops);
}

/*
 * P-ENC-5, master rotation, crash-safe in three durable steps:
 *  1. the key file gains the new version (atomic rename) while keeping every old one;
 *  2. one transaction records the new version's check value and rewraps every tenant key;
 *  3. the key file drops the old versions.
 * A kill before 2 commits leaves the old wrapping in force and both keys in the file; a kill
 * after leaves the new wrapping and both keys. A pending version left by step 1 is reused.
 */
cu_rc cu_key_rotate_master(cu_vault *v, const cu_ctx *ctx, unsigned *new_version,
                           size_t *rewrapped, cu_err *err)
{
    char path[PATH_MAX + 32];
    cu_store_key *keys = NULL;
    cu_store_op *ops = NULL;
    size_t nkeys = 0, nops = 0, i;
    cu_audit_in a;
    uint32_t nv;
    cu_rc rc;

    snprintf(path, sizeof(path), "%s/%s", v->dir, CU_KEYRING_FILE);
    pthread_rwlock_wrlock(&v->key_lock);
    nv = cu_keyring_newest(v->ring);
    if (nv <= v->master_version) {
        if ((rc = cu_keyring_add(v->ring, &nv, err)) != CU_OK)
            goto out;
        if ((rc = cu_keyring_save(v->ring, path, err)) != CU_OK)
            goto out;
        if (CU_FAULT("rotate.keyfile_written"))
            _exit(70);
    }
    rc = cu_store_key_list(v->store, 0, CU_KEY_TENANT, &keys, &nkeys, err);
    if (rc != CU_OK)
        goto out;
    ops = calloc(nkeys + 1, sizeof(*ops));
    if (ops == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    ops[0].type = CU_OP_MASTER_ADD;
    ops[0].u.master.version = nv;
    ops[0].u.master.created_at = cu_clock_now();
    cu_keyring_check(cu_keyring_get(v->ring, nv), ops[0].u.master.check);
    nops = 1;
    for (i = 0; i < nkeys; i++) {
        const uint8_t *old = cu_keyring_get(v->ring, keys[i].parent_version);
        cu_key k = {0};
        if (old == NULL) {
            rc = cu_err_set(err, CU_ERR_KEY, "master key version %u is not in the key file",
                            (unsigned)keys[i].parent_version);
            goto out;
        }
        rc = unwrap(old, &keys[i], &k, err);
        if (rc == CU_OK)
            rc = wrap_op(cu_keyring_get(v->ring, nv), nv, CU_KEY_TENANT, keys[i].tenant_id, 0, &k,
                         &ops[nops], err);
        cu_key_wipe(&k);
        if (rc != CU_OK)
            goto out;
        ops[nops++].type = CU_OP_KEY_REWRAP;
    }
    cu_audit_in_set(&a, 0, "key.rotate_master", "master:%u", (unsigned)nv);
    if ((rc = cu_commit(v, ctx, ops, nops, &a, 1, err)) != CU_OK)
        goto out;
    if (CU_FAULT("rotate.committed"))
        _exit(70);
    v->master_version = nv;
    (void)cu_store_checkpoint(v->store, NULL); /* best effort: old wraps leave the WAL */
    /* The audit signing key is wrapped under the master key too: rewrap it before the older
     * versions leave the key file (a kill in between leaves both in it). */
    if ((rc = cu_audit_key_rewrap(v, nv, err)) != CU_OK)
        goto out;
    cu_keyring_retain(v->ring, nv);
    if ((rc = cu_keyring_save(v->ring, path, err)) != CU_OK)
        goto out;
    if (new_version)
        *new_version = nv;
    if (rewrapped)
        *rewrapped = nkeys;
out:
    pthread_rwlock_unlock(&v->key_lock);
    free_ops(ops, nops);
    cu_store_keys_free(keys, nkeys);
    return rc;
}

/* P-ENC-5, tenant rotation: one transaction replaces the tenant key with a new version and
 * rewraps every data, index and subject key of the tenant under it. */
cu_rc cu_key_rotate_tenant(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned *new_version,
                           size_t *rewrapped, cu_err *err)
{
    cu_store_key *keys = NULL;
    cu_store_op *ops = NULL;
    size_t nkeys = 0, nops = 0, i;
    cu_key tk = {0}, ntk = {0};
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        return rc;
    /* Exclusive: a subject created meanwhile must not wrap its key under the old version. */
    pthread_rwlock_wrlock(&v->key_lock);
    rc = cu_keys_tenant_locked(v, tenant, &tk, err);
    if (rc == CU_OK)
        rc = cu_store_key_list(v->store, tenant, 0, &keys, &nkeys, err);
    if (rc != CU_OK)
        goto out;
    ops = calloc(nkeys + 2, sizeof(*ops));
    if (ops == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    cu_random(ntk.k, sizeof(ntk.k));
    ntk.version = tk.version + 1;
    ops[nops].type = CU_OP_KEY_DELETE;
    ops[nops].u.key_del.tenant_id = tenant;
    ops[nops].u.key_del.kind = CU_KEY_TENANT;
    nops++;
    rc = cu_keys_wrap_tenant_locked(v, tenant, &ntk, &ops[nops], err);
    if (rc != CU_OK)
        goto out;
    nops++;
    for (i = 0; i < nkeys; i++) {
        cu_key k = {0};
        if (keys[i].kind == CU_KEY_TENANT)
            continue;
        if (keys[i].parent_version != tk.version) {
            rc = cu_err_set(err, CU_ERR_KEY, "key wrapped by unknown tenant key version %u",
                            (unsigned)keys[i].parent_version);
            goto out;
        }
        rc = unwrap(tk.k, &keys[i], &k, err);
        if (rc == CU_OK)
            rc = wrap_op(ntk.k, ntk.version, keys[i].kind, tenant, keys[i].owner_id, &k,
                         &ops[nops], err);
        cu_key_wipe(&k);
        if (rc != CU_OK)
            goto out;
        ops[nops++].type = CU_OP_KEY_REWRAP;
    }
    cu_audit_in_set(&a, tenant, "key.rotate", "tenant_key:%u", (unsigned)ntk.version);
    if ((rc = cu_commit(v, ctx, ops, nops, &a, 1, err)) != CU_OK)
        goto out;
    (void)cu_store_checkpoint(v->store, NULL); /* best effort, as for the master key */
    if (new_version)
        *new_version = ntk.version;
    if (rewrapped)
        *rewrapped = nops - 2;
out:
    pthread_rwlock_unlock(&v->key_lock);
    cu_key_wipe(&tk);
    cu_key_wipe(&ntk);
    free_ops(ops, nops);
    cu_store_keys_free(keys, nkeys);
    return rc;
}

/*
 * P-ENC-5, data key rotation: a new version of the tenant data key, with fresh key material,
 * wrapped under the current tenant key. Every value sealed from then on uses it; values sealed
 * before are read with the version that sealed them until cu_key_reencrypt seals them again
 * and destroys the old version.
 */
cu_rc cu_key_rotate_data(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned *new_version,
                         cu_err *err)
{
    cu_store_key cur = {0};
    cu_store_op op = {0};
    cu_key tk = {0}, nk = {0};
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        return rc;
    /* Exclusive, like a tenant rotation: the new version is wrapped under the tenant key in
     * force, which no rotation may replace meanwhile. */
    pthread_rwlock_wrlock(&v->key_lock);
    rc = cu_keys_tenant_locked(v, tenant, &tk, err);
    if (rc == CU_OK)
        rc = cu_store_key_get(v->store, tenant, CU_KEY_DATA, 0, 0, &cur, err);
    if (rc != CU_OK)
        goto out;
    cu_random(nk.k, sizeof(nk.k));
    nk.version = cur.version + 1;
    if ((rc = wrap_op(tk.k, tk.version, CU_KEY_DATA, tenant, 0, &nk, &op, err)) != CU_OK)
        goto out;
    cu_audit_in_set(&a, tenant, "key.rotate_data", "data_key:%u", (unsigned)nk.version);
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) == CU_OK && new_version)
        *new_version = nk.version;
out:
    pthread_rwlock_unlock(&v->key_lock);
    cu_store_op_cleanup(&op);
    cu_store_key_cleanup(&cur);
    cu_key_wipe(&tk);
    cu_key_wipe(&nk);
    return rc;
}

void cu_reseal_op_free(cu_store_op *op)
{
    if (op->type == CU_OP_RESEAL)
        cu_store_op_cleanup(op);
}

cu_rc cu_reseal_value(cu_vault *v, cu_id tenant, const char *coll, cu_id id, const char *field,
                      const char *bind, uint32_t old_version, const cu_key *nk, const cu_blob *ct,
                      cu_blob *out, cu_err *err)
{
    cu_key ok = {0};
    char *pt = NULL;
    size_t len = 0;
    cu_aad aad;
    cu_rc rc;

    if ((rc = cu_keys_child_at(v, tenant, CU_KEY_DATA, 0, old_version, &ok, err)) != CU_OK)
        return rc;
    cu_aad_data(&aad, tenant, coll, id, field, old_version);
    if (bind != NULL)
        cu_aad_bind(&aad, bind);
    rc = cu_open(&ok, &aad, ct, &pt, &len, "value", err);
    if (rc == CU_OK) {
        cu_aad_data(&aad, tenant, coll, id, field, nk->version);
        if (bind != NULL)
            cu_aad_bind(&aad, bind);
        rc = cu_seal(nk, &aad, pt, len, out, err);
    }
    if (pt != NULL) {
        cu_wipe(pt, len);
        free(pt);
    }
    cu_key_wipe(&ok);
    return rc;
}

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
        rc = cu_store_record_meta_list(b->v->store, b->tenant, after, 256, &meta, &cnt,
                                                err);
        for (size_t i = 0; rc == CU_OK && i < cnt; i++) {
            cu_store_op op = {0};
            after = meta[i].id;
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
    if (destroy_first)
        rc = destroy_old(v, ctx, tenant, nk.version, rep, err);
    if (rc == CU_OK)
        rc = reseal_records(b, &nk, rep, err);
    if (rc == CU_OK)
        rc = reseal_holds_users(b, &nk, rep, err);
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

cu_rc cu_key_reencrypt_all(cu_vault *v, const cu_ctx *ctx, cu_reencrypt_report *total,
                           cu_err *err)
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
        total->destroyed += rep.destroyed;
        total->remaining += rep.remaining;
    }
    cu_store_keys_free(keys, n);
    return rc;
}
