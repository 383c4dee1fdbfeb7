/*
 * rotate.c: rotation of the master key, a tenant key and a tenant's data key (P-ENC-5).
 *
 * A rotation makes a new version and wraps what hangs below it again, holding v->key_lock for
 * writing so that nothing is wrapped meanwhile under a version it retires. The data key's
 * older versions stay until the re-encryption pass (reseal.c) has sealed everything again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit_int.h"
#include "epoch_int.h"
#include "keyring_int.h"
#include "keys_int.h"
#include "tenant_int.h"
#include "progress_int.h"
#include "util.h"

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
 *  3. the key file marks the old versions retired, with the time (key epochs: epoch.c destroys
 *     each once no unexpired backup may need it, cu_key_retire).
 * A kill before 2 commits leaves the old wrapping in force and both keys in the file; a kill
 * after leaves the new wrapping and both keys, the old one not marked yet (the next retirement
 * pass marks it). A pending version left by step 1 is reused.
 *
 * Several servers on one database: under the key epoch lease (epoch.c), renewed before step 1
 * and in step 2's transaction (review 5, F5), so two servers never rotate at once, even when a
 * rotation outlasts the lease: the one that lost it commits nothing.
 */
cu_rc cu_key_rotate_master(cu_vault *v, const cu_ctx *ctx, unsigned *new_version, size_t *rewrapped,
                           cu_err *err)
{
    cu_err ignored = {0};
    cu_rc rc;

    if ((rc = cu_epoch_lease(v, 1, err)) != CU_OK)
        return rc;
    rc = cu_key_rotate_master_leased(v, ctx, new_version, rewrapped, err);
    (void)cu_epoch_lease(v, 0, &ignored);
    return rc;
}

/* Several servers sharing a database (docs/scaling.md, "The key file"): the ring takes in
 * what its file gained or lost from another server's epochs (cu_keyring_sync), and the current
 * version is the newest the database committed, which may be another server's: a version in
 * the ring at or below it is not a pending one of ours, so a new one is numbered after it. The
 * audit key goes under it at once, and the ring syncs again, now forgetting the old current
 * version if another server destroyed it meanwhile (so it is never written back). */
cu_rc cu_key_catch_up(cu_vault *v, cu_err *err)
{
    uint32_t *versions = NULL, newest = 0;
    uint8_t(*checks)[32] = NULL;
    size_t n = 0;
    cu_rc rc = cu_keyring_sync(v->ring, v->master_version, err);

    if (rc == CU_OK)
        rc = cu_store_master_list(v->store, &versions, &checks, &n, err);
    for (size_t i = 0; rc == CU_OK && i < n; i++)
        if (versions[i] > newest)
            newest = versions[i];
    free(versions);
    free(checks);
    if (rc != CU_OK || newest <= v->master_version)
        return rc;
    if (cu_keyring_get(v->ring, newest) == NULL)
        return cu_err_set(err, CU_ERR_KEY,
                          "master key version %u, made by another server, is not in the key file:"
                          " copy that server's key file here (docs/scaling.md)",
                          (unsigned)newest);
    v->master_version = newest;
    if (v->audit_sk != NULL && (rc = cu_audit_key_rewrap(v, newest, err)) != CU_OK)
        return rc;
    return cu_keyring_sync(v->ring, v->master_version, err);
}

cu_rc cu_key_rotate_master_leased(cu_vault *v, const cu_ctx *ctx, unsigned *new_version,
                                  size_t *rewrapped, cu_err *err)
{
    const char *path = cu_keyring_path(v->ring);
    cu_store_key *keys = NULL;
    cu_store_op *ops = NULL;
    size_t nkeys = 0, nops = 0, i;
    cu_audit_in a;
    uint32_t nv;
    cu_rc rc;

    cu_key_wrlock(v);
    /* Still ours (it may have lapsed while the key lock was awaited): else no key file change. */
    if ((rc = cu_epoch_lease(v, 1, err)) != CU_OK || (rc = cu_key_catch_up(v, err)) != CU_OK)
        goto out;
    nv = cu_keyring_newest(v->ring);
    if (nv <= v->master_version) {
        if ((rc = cu_keyring_add(v->ring, &nv, err)) != CU_OK)
            goto out;
        if ((rc = cu_keyring_save(v->ring, path, err)) != CU_OK)
            goto out;
        if (CU_FAULT("rotate.keyfile_written"))
            _exit(70);
    }
    rc = cu_keys_master_wrapped(v->store, &keys, &nkeys, err);
    if (rc != CU_OK)
        goto out;
    ops = calloc(nkeys + 2, sizeof(*ops));
    if (ops == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    ops[0].type = CU_OP_MASTER_ADD;
    ops[0].u.master.version = nv;
    ops[0].u.master.created_at = cu_clock_now();
    cu_keyring_check(cu_keyring_get(v->ring, nv), ops[0].u.master.check);
    nops = 1;
    cu_progress_begin("key rotate", nkeys); /* the CLI's progress (cu_progress_set) */
    for (i = 0; i < nkeys; i++) {
        const uint8_t *old = cu_keyring_get(v->ring, keys[i].parent_version);
        cu_key k = {0};
        if (old == NULL) {
            rc = cu_err_set(err, CU_ERR_KEY, "master key version %u is not in the key file",
                            (unsigned)keys[i].parent_version);
            goto out;
        }
        rc = cu_keys_unwrap(old, &keys[i], &k, err);
        if (rc == CU_OK)
            rc = cu_keys_wrap_op(cu_keyring_get(v->ring, nv), nv, keys[i].kind, keys[i].tenant_id,
                                 0, &k, &ops[nops], err);
        cu_key_wipe(&k);
        if (rc != CU_OK)
            goto out;
        ops[nops++].type = CU_OP_KEY_REWRAP;
        cu_progress_add(i + 1 < nkeys); /* the last once committed: 100% means done */
    }
    cu_epoch_lease_op(v, 1, &ops[nops++]); /* P-ENC-5: refused unless still this server's */
    cu_audit_in_set(&a, 0, "key.rotate_master", "master:%u", (unsigned)nv);
    if ((rc = cu_commit(v, ctx, ops, nops, &a, 1, err)) != CU_OK)
        goto out;
    cu_progress_add(nkeys > 0);
    if (CU_FAULT("rotate.committed"))
        _exit(70);
    v->master_version = nv;
    (void)cu_store_checkpoint(v->store, NULL); /* best effort: old wraps leave the WAL */
    /* The audit signing key is wrapped under the master key too: rewrap it before the older
     * versions are marked retired (a kill in between leaves them unmarked, in the file). */
    if ((rc = cu_audit_key_rewrap(v, nv, err)) != CU_OK)
        goto out;
    cu_keyring_retire(v->ring, nv, cu_clock_now());
    if ((rc = cu_keyring_save(v->ring, path, err)) != CU_OK)
        goto out;
    if (new_version)
        *new_version = nv;
    if (rewrapped)
        *rewrapped = nkeys;
out:
    cu_key_wrunlock(v);
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
    cu_key_wrlock(v);
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
    cu_progress_begin("key rotate", nkeys); /* the CLI's progress (cu_progress_set) */
    for (i = 0; i < nkeys; i++) {
        cu_key k = {0};
        if ((i & 1023) == 1023 && i + 1 < nkeys)
            cu_progress_add(1024); /* per 1024 keys: a tenant may hold millions */
        if (keys[i].kind == CU_KEY_TENANT)
            continue;
        if (keys[i].parent_version != tk.version) {
            rc = cu_err_set(err, CU_ERR_KEY, "key wrapped by unknown tenant key version %u",
                            (unsigned)keys[i].parent_version);
            goto out;
        }
        rc = cu_keys_unwrap(tk.k, &keys[i], &k, err);
        if (rc == CU_OK)
            rc = cu_keys_wrap_op(ntk.k, ntk.version, keys[i].kind, tenant, keys[i].owner_id, &k,
                                 &ops[nops], err);
        cu_key_wipe(&k);
        if (rc != CU_OK)
            goto out;
        ops[nops++].type = CU_OP_KEY_REWRAP;
    }
    cu_audit_in_set(&a, tenant, "key.rotate", "tenant_key:%u", (unsigned)ntk.version);
    if ((rc = cu_commit(v, ctx, ops, nops, &a, 1, err)) != CU_OK)
        goto out;
    /* The last batch once committed: the commit is the long part, and 100% means done. */
    cu_progress_add(nkeys == 0 ? 0 : nkeys - ((nkeys - 1) & ~(size_t)1023));
    (void)cu_store_checkpoint(v->store, NULL); /* best effort, as for the master key */
    if (new_version)
        *new_version = ntk.version;
    if (rewrapped)
        *rewrapped = nops - 2;
out:
    cu_key_wrunlock(v);
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
    cu_key_wrlock(v);
    rc = cu_keys_tenant_locked(v, tenant, &tk, err);
    if (rc == CU_OK)
        rc = cu_store_key_get(v->store, tenant, CU_KEY_DATA, 0, 0, &cur, err);
    if (rc != CU_OK)
        goto out;
    cu_random(nk.k, sizeof(nk.k));
    nk.version = cur.version + 1;
    if ((rc = cu_keys_wrap_op(tk.k, tk.version, CU_KEY_DATA, tenant, 0, &nk, &op, err)) != CU_OK)
        goto out;
    cu_audit_in_set(&a, tenant, "key.rotate_data", "data_key:%u", (unsigned)nk.version);
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) == CU_OK && new_version)
        *new_version = nk.version;
out:
    cu_key_wrunlock(v);
    cu_store_op_cleanup(&op);
    cu_store_key_cleanup(&cur);
    cu_key_wipe(&tk);
    cu_key_wipe(&nk);
    return rc;
}
