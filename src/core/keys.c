/*
 * keys.c: the key hierarchy (DESIGN.md, Keys): associated data, unwrapping down the tree,
 * making child keys, and sealing one value again under a new data key version. Rotations are
 * rotate.c's, the re-encryption pass reseal.c's (P-ENC-5); both sit above this file.
 *
 * The tenant data key has versions: each sealed value records the one that sealed it and is
 * opened with it (cu_keys_child_at), so a rotation never makes anything unreadable; the pass
 * seals older values again and the store destroys a version only inside a transaction that
 * finds nothing using it.
 *
 * Every wrapped key is bound by its AAD to its kind, tenant, owner and version, so a wrapped key
 * copied onto another subject or tenant fails to unwrap (P-ENC-2, P-ISO-3).
 *
 * Unwrapped keys are cached (cache.c, in locked memory) by (tenant, kind, owner, version): a
 * version's plaintext never changes, so a read that names the version that sealed a value needs
 * no query. "The newest" is cached only for the kinds that have one version (subject and index
 * keys), which change only by destruction; the newest tenant and data key change by rotation,
 * and a stale one would wrap or seal under a version another process may retire, so a write
 * reads which version is newest from the store and takes only the plaintext from the cache.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_int.h"
#include "keyring_int.h"
#include "keys_int.h"
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

cu_rc cu_keys_unwrap(const uint8_t *kek, const cu_store_key *sk, cu_key *out, cu_err *err)
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

cu_rc cu_keys_wrap_op(const uint8_t *kek, uint32_t parent_version, cu_key_kind kind, cu_id tenant,
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

/* Kinds with a single version, whose newest the cache may answer (see the top of the file). */
static int one_version(cu_key_kind kind)
{
    return kind == CU_KEY_SUBJECT || kind == CU_KEY_INDEX;
}

/* Unwraps the stored tenant key sk under its master key version and caches it (unless
 * something was forgotten since gen). */
static cu_rc tenant_unwrap(cu_vault *v, const cu_store_key *sk, uint64_t gen, cu_key *out,
                           cu_err *err)
{
    const uint8_t *mk = cu_keyring_get(v->ring, sk->parent_version);
    cu_rc rc;

    if (mk == NULL)
        return cu_err_set(err, CU_ERR_KEY, "master key version %u is not in the key file",
                          (unsigned)sk->parent_version);
    rc = cu_keys_unwrap(mk, sk, out, err);
    if (rc == CU_OK)
        cu_cache_key_put(v, sk->tenant_id, CU_KEY_TENANT, 0, sk->version, out, gen);
    return rc;
}

cu_rc cu_keys_tenant_locked(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err)
{
    cu_store_key sk = {0};
    uint64_t gen = cu_cache_key_gen(v);
    cu_rc rc;

    rc = cu_store_key_get(v->store, tenant, CU_KEY_TENANT, 0, 0, &sk, err);
    if (rc != CU_OK)
        return rc;
    if (!cu_cache_key_get(v, tenant, CU_KEY_TENANT, 0, sk.version, out))
        rc = tenant_unwrap(v, &sk, gen, out, err);
    cu_store_key_cleanup(&sk);
    return rc;
}

/* The tenant key of version (the parent of a key just read): from the cache, else the newest
 * from the store, which must be that version. */
static cu_rc parent_key(cu_vault *v, cu_id tenant, uint32_t version, cu_key *tk, cu_err *err)
{
    cu_store_key sk = {0};
    uint64_t gen = cu_cache_key_gen(v);
    cu_rc rc;

    if (cu_cache_key_get(v, tenant, CU_KEY_TENANT, 0, version, tk))
        return CU_OK;
    rc = cu_store_key_get(v->store, tenant, CU_KEY_TENANT, 0, 0, &sk, err);
    if (rc == CU_OK)
        rc = tenant_unwrap(v, &sk, gen, tk, err);
    if (rc == CU_OK && tk->version != version)
        rc = cu_err_set(err, CU_ERR_KEY, "key is wrapped by tenant key version %u, not %u",
                        (unsigned)version, (unsigned)tk->version);
    cu_store_key_cleanup(&sk);
    return rc;
}

cu_rc cu_keys_tenant(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err)
{
    cu_rc rc;

    cu_key_rdlock(v);
    rc = cu_keys_tenant_locked(v, tenant, out, err);
    pthread_rwlock_unlock(&v->key_lock);
    return rc;
}

cu_rc cu_keys_child(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                    cu_err *err)
{
    cu_rc rc;

    cu_key_rdlock(v);
    rc = cu_keys_child_locked(v, tenant, kind, owner, out, err);
    pthread_rwlock_unlock(&v->key_lock);
    return rc;
}

/* Unwraps version (0: the newest) of a key of the tenant under the tenant key, through the
 * cache: one lookup, before the store for a version named or a kind with one version, after it
 * (at the version the store names newest) for the newest tenant data key. */
static cu_rc child_locked(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner,
                          uint32_t version, cu_key *out, cu_err *err)
{
    int named = version != 0 || one_version(kind);
    cu_store_key sk = {0};
    cu_key tk = {0};
    uint64_t gen;
    cu_rc rc;

    if (named && cu_cache_key_get(v, tenant, kind, owner, version, out))
        return CU_OK;
    gen = cu_cache_key_gen(v);
    rc = cu_store_key_get(v->store, tenant, kind, owner, version, &sk, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_KEY, "the key was destroyed: the data is erased");
    if (rc != CU_OK)
        return rc;
    if (!named && cu_cache_key_get(v, tenant, kind, owner, sk.version, out))
        goto out;
    rc = parent_key(v, tenant, sk.parent_version, &tk, err);
    if (rc == CU_OK)
        rc = cu_keys_unwrap(tk.k, &sk, out, err);
    if (rc == CU_OK)
        cu_cache_key_put(v, tenant, kind, owner, named ? version : sk.version, out, gen);
out:
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

    cu_key_rdlock(v);
    rc = child_locked(v, tenant, kind, owner, version, out, err);
    pthread_rwlock_unlock(&v->key_lock);
    return rc;
}

/* Several servers (docs/scaling.md, "The key file"): the master version to wrap a new tenant
 * key (or a backup's key) under is the newest the database committed, not this process's
 * current one, which lags until its own epoch pass when another server ran the epoch: that
 * server destroys the older version at the end of its window once nothing it sees references
 * it, and a key wrapped under it after that would be unreadable everywhere (P-ENC-5). One query;
 * tenants, tenant key rotations and backups are rare. Read without changing v->master_version
 * (the key lock is held shared). */
cu_rc cu_keys_master_newest(cu_vault *v, uint32_t *out, cu_err *err)
{
    uint32_t *versions = NULL, newest = v->master_version;
    uint8_t(*checks)[32] = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_master_list(v->store, &versions, &checks, &n, err);

    for (size_t i = 0; rc == CU_OK && i < n; i++)
        if (versions[i] > newest)
            newest = versions[i];
    free(versions);
    free(checks);
    if (rc == CU_OK && cu_keyring_get(v->ring, newest) == NULL) /* loads it from the file */
        rc = cu_err_set(err, CU_ERR_KEY,
                        "master key version %u, made by another server, is not in the key file:"
                        " copy that server's key file here (docs/scaling.md)",
                        (unsigned)newest);
    *out = newest;
    return rc;
}

cu_rc cu_keys_wrap_tenant_locked(cu_vault *v, cu_id tenant, const cu_key *tk, cu_store_op *op,
                                 cu_err *err)
{
    uint32_t mv = 0;
    cu_rc rc = cu_keys_master_newest(v, &mv, err);

    if (rc != CU_OK)
        return rc;
    return cu_keys_wrap_op(cu_keyring_get(v->ring, mv), mv, CU_KEY_TENANT, tenant, 0, tk, op, err);
}

cu_rc cu_keys_make_child(const cu_key *tk, cu_id tenant, cu_key_kind kind, cu_id owner,
                         cu_key *out, cu_store_op *op, cu_err *err)
{
    cu_random(out->k, sizeof(out->k));
    out->version = 1;
    return cu_keys_wrap_op(tk->k, tk->version, kind, tenant, owner, out, op, err);
}

void cu_keys_forget_subject(cu_vault *v, cu_id tenant, cu_id subject)
{
    cu_cache_forget_subject(v, tenant, subject);
}

void cu_reseal_op_free(cu_store_op *op)
{
    if (op->type == CU_OP_RESEAL)
        cu_store_op_cleanup(op);
}

cu_rc cu_reseal_value_with(const cu_key *ok, cu_id tenant, const char *coll, cu_id id,
                           const char *field, const char *bind, const cu_key *nk,
                           const cu_blob *ct, cu_blob *out, cu_err *err)
{
    char *pt = NULL;
    size_t len = 0;
    cu_aad aad;
    cu_rc rc;

    cu_aad_data(&aad, tenant, coll, id, field, ok->version);
    if (bind != NULL)
        cu_aad_bind(&aad, bind);
    rc = cu_open(ok, &aad, ct, &pt, &len, "value", err);
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
    return rc;
}

cu_rc cu_reseal_value(cu_vault *v, cu_id tenant, const char *coll, cu_id id, const char *field,
                      const char *bind, uint32_t old_version, const cu_key *nk, const cu_blob *ct,
                      cu_blob *out, cu_err *err)
{
    cu_key ok = {0};
    cu_rc rc;

    if ((rc = cu_keys_child_at(v, tenant, CU_KEY_DATA, 0, old_version, &ok, err)) != CU_OK)
        return rc;
    rc = cu_reseal_value_with(&ok, tenant, coll, id, field, bind, nk, ct, out, err);
    cu_key_wipe(&ok);
    return rc;
}