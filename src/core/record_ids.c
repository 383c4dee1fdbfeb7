/*
 * record_ids.c: the vault's record id key (issue 17; docs/keys.md, "The record id key";
 * docs/store.md, "Public record ids").
 *
 * A store that keys its records by an internal key (SQLite's rid, which grows with insertion)
 * makes each new record's public id the keyed permutation of that key: FF1 (NIST SP 800-38G)
 * with AES-256 over the 63-bit ids (cu_fpe_id, src/crypto/fpe.c). A lookup by id computes the
 * key back, so no index of random ids is written, one random B-tree leaf less per record; the
 * ids stay as unguessable as the random ones were, to anyone without the key.
 *
 * The key: 32 random bytes of kind CU_KEY_RECORD_IDS (tenant 0, owner 0), wrapped under the
 * master key like a tenant key, and so rewrapped by a master rotation with them
 * (cu_keys_master_wrapped); made at the first open of such a store, unwrapped at each open
 * into the permutation's context (locked memory, wiped at close). It is never replaced: a new
 * key would change every id. It is no key to personal data: an id is not a credential (every
 * request is checked for its tenant and role), the key keeps ids unguessable.
 */
#include <stdlib.h>
#include <string.h>

#include "keyring_int.h"
#include "keys_int.h"
#include "util.h"

static uint64_t fwd(const void *ctx, uint64_t key)
{
    return cu_fpe_id(ctx, key);
}

static uint64_t inv(const void *ctx, uint64_t id)
{
    return cu_fpe_id_inverse(ctx, id);
}

/* Unwraps the stored key into k; CU_ERR_NOT_FOUND if there is none yet. */
static cu_rc key_load(cu_vault *v, cu_key *k, cu_err *err)
{
    cu_store_key *keys = NULL;
    const uint8_t *kek;
    size_t n = 0;
    cu_rc rc = cu_store_key_list(v->store, 0, CU_KEY_RECORD_IDS, &keys, &n, err);

    if (rc == CU_OK && n == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no record id key");
    if (rc == CU_OK && (kek = cu_keyring_get(v->ring, keys[0].parent_version)) == NULL)
        rc = cu_err_set(err, CU_ERR_KEY,
                        "master key version %u of the record id key is not in the key file",
                        (unsigned)keys[0].parent_version);
    if (rc == CU_OK)
        rc = cu_keys_unwrap(kek, &keys[0], k, err);
    cu_store_keys_free(keys, n);
    return rc;
}

/* Makes the key, wrapped under the newest master version. CU_OK too when another process made
 * one first (its insert wins; the caller loads it). Not audited, as the audit signing key's
 * pin is not (audit.c): made at an open, by no one's request, before anything is written; an
 * entry would also make the open's close sign a checkpoint, and a vault that never wrote
 * anything could then not make a lost audit key anew (docs/keys.md). Its rewraps are audited
 * with the master rotation's. */
static cu_rc key_make(cu_vault *v, cu_err *err)
{
    cu_store_op op = {0};
    cu_key k = {0};
    uint32_t mv = 0;
    cu_rc rc;

    cu_random(k.k, sizeof(k.k));
    k.version = 1;
    cu_key_rdlock(v);
    rc = cu_keys_master_newest(v, &mv, err);
    if (rc == CU_OK)
        rc = cu_keys_wrap_op(cu_keyring_get(v->ring, mv), mv, CU_KEY_RECORD_IDS, 0, 0, &k, &op,
                             err);
    cu_key_wipe(&k);
    if (rc == CU_OK)
        rc = cu_store_apply(v->store, &op, 1, err);
    pthread_rwlock_unlock(&v->key_lock);
    free(op.u.key.wrapped.data);
    return rc == CU_ERR_EXISTS ? CU_OK : rc;
}

cu_rc cu_record_ids_open(cu_vault *v, cu_err *err)
{
    cu_key k = {0};
    cu_rc rc;

    if (!cu_store_keyed_ids(v->store))
        return CU_OK; /* random ids (PostgreSQL) */
    rc = key_load(v, &k, err);
    if (rc == CU_ERR_NOT_FOUND && (rc = key_make(v, err)) == CU_OK)
        rc = key_load(v, &k, err);
    if (rc == CU_OK && cu_fpe_new(k.k, &v->record_ids) != CU_OK)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory for the record id key");
    cu_key_wipe(&k);
    if (rc != CU_OK)
        return rc;
    v->idmap.fwd = fwd;
    v->idmap.inv = inv;
    v->idmap.ctx = v->record_ids;
    /* 0: a database shared by processes (test builds): it finds the records of the key, and
     * makes random ids. */
    v->record_ids_made = cu_store_set_idmap(v->store, &v->idmap);
    return CU_OK;
}

void cu_record_ids_close(cu_vault *v)
{
    cu_fpe_free(v->record_ids);
    v->record_ids = NULL;
}

cu_rc cu_record_id_new(cu_vault *v, cu_id *out, cu_err *err)
{
    if (!v->record_ids_made) {
        *out = cu_random_id();
        return CU_OK;
    }
    return cu_store_record_id_new(v->store, out, err);
}

cu_rc cu_keys_master_wrapped(cu_store *st, cu_store_key **out, size_t *n, cu_err *err)
{
    cu_store_key *ids = NULL, *all;
    size_t nids = 0;
    cu_rc rc = cu_store_key_list(st, 0, CU_KEY_TENANT, out, n, err);

    if (rc == CU_OK)
        rc = cu_store_key_list(st, 0, CU_KEY_RECORD_IDS, &ids, &nids, err);
    if (rc == CU_OK && nids > 0) {
        all = realloc(*out, (*n + nids) * sizeof(*all));
        if (all == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        } else {
            memcpy(all + *n, ids, nids * sizeof(*ids));
            *out = all;
            *n += nids;
            free(ids); /* its elements' blobs are the array's now */
            ids = NULL;
            nids = 0;
        }
    }
    cu_store_keys_free(ids, nids);
    if (rc != CU_OK) {
        cu_store_keys_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
