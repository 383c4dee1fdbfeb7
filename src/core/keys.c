/*
 * keys.c: the key hierarchy (DESIGN.md, Keys): associated data, unwrapping down the tree,
 * making child keys, and rotation of master and tenant keys (P-ENC-5).
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

    rc = v->store->ops->key_get(v->store, tenant, CU_KEY_TENANT, 0, 0, &sk, err);
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

cu_rc cu_keys_child_locked(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                           cu_err *err)
{
    cu_store_key sk = {0};
    cu_key tk = {0};
    cu_rc rc;

    rc = v->store->ops->key_get(v->store, tenant, kind, owner, 0, &sk, err);
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
    for (size_t i = 0; i < n; i++)
        if (ops[i].type == CU_OP_KEY_PUT || ops[i].type == CU_OP_KEY_REWRAP)
            free(ops[i].u.key.wrapped.data);
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
    rc = v->store->ops->key_list(v->store, 0, CU_KEY_TENANT, &keys, &nkeys, err);
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
    (void)v->store->ops->checkpoint(v->store, NULL); /* best effort: old wraps leave the WAL */
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
        rc = v->store->ops->key_list(v->store, tenant, 0, &keys, &nkeys, err);
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
    (void)v->store->ops->checkpoint(v->store, NULL); /* best effort, as for the master key */
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
