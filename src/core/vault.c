/*
 * vault.c: creating, opening and closing a vault (tenants are tenant.c's).
 *
 * Opening checks, before anything is read, that the data directory is ours and writable by us
 * alone, that the key file, the database and its WAL are ours and private, and that every master
 * key version the key file holds matches the check value the database recorded for it, so a wrong
 * or swapped key file is refused with a clear error instead of failing later on some record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analytics_int.h"
#include "audit_int.h"
#include "auth_int.h"
#include "backup_int.h"
#include "cache_int.h"
#include "erase_int.h"
#include "keyring_int.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "util.h"

void cu_vault_commit_stats(cu_vault *v, cu_commit_stats *out)
{
    cu_store_commit_stats(v->store, out);
    pthread_mutex_lock(&v->commit_lock);
    out->groups = v->groups;
    out->requests = v->grouped;
    pthread_mutex_unlock(&v->commit_lock);
}

void cu_request_id(char out[33])
{
    uint8_t b[16];

    cu_random_public(b, sizeof(b));
    cu_hex_encode(b, sizeof(b), out);
}

static cu_rc make_path(char *out, size_t cap, const char *dir, const char *file, cu_err *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, file) >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
    return CU_OK;
}

/* The store's location into out: opts->store (a database server's URL), else the data
 * directory's own database, a file of it (*own 1). */
static cu_rc store_location(const cu_vault_opts *opts, char *out, size_t cap, int *own,
                            cu_err *err)
{
    *own = opts->store == NULL || opts->store[0] == '\0';
    if (*own)
        return cu_store_location(opts->data_dir, out, cap, err);
    if (strlen(opts->store) >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "store location too long");
    memcpy(out, opts->store, strlen(opts->store) + 1);
    return CU_OK;
}

/* A store of its own (a database server's) holds a vault already if it has a master key. */
static cu_rc store_empty(cu_store *store, cu_err *err)
{
    uint32_t *versions = NULL;
    uint8_t(*checks)[32] = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_master_list(store, &versions, &checks, &n, err);

    free(versions);
    free(checks);
    if (rc == CU_OK && n > 0)
        return cu_err_set(err, CU_ERR_EXISTS,
                          "the store already holds a vault: use its key file (docs/store.md)");
    return rc;
}

static cu_rc check_opts(const cu_vault_opts *opts, cu_err *err)
{
    if (opts == NULL || opts->data_dir == NULL || opts->data_dir[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "no data directory given");
    if (strlen(opts->data_dir) > PATH_MAX - 64)
        return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
    if (opts->key_file != NULL && (opts->key_file[0] == '\0' ||
                                   strlen(opts->key_file) > PATH_MAX - 64))
        return cu_err_set(err, CU_ERR_INVALID, "key file path empty or too long");
    cu_json_use_wiping_free();
    return cu_crypto_init(opts->allow_xchacha, err);
}

/* The key file's directory, when it is not the data directory, must be ours and writable by us
 * alone like the data directory: whoever can write it could put in a key file of their own,
 * whose extra version a rotation would take as its pending new master key (P-ENC-1). */
static cu_rc check_key_dir(const char *kpath, cu_err *err)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(kpath, '/');
    struct stat st;

    if (slash == NULL)
        cu_strlcpy(dir, ".", sizeof(dir));
    else if (slash == kpath)
        cu_strlcpy(dir, "/", sizeof(dir));
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - kpath), kpath);
    if (stat(dir, &st) != 0)
        return cu_err_set(err, errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO,
                          "could not stat the key file's directory \"%s\": %s", dir,
                          strerror(errno));
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return cu_err_set(err, CU_ERR_PERM,
                          "the key file's directory \"%s\" must be owned by uid %u and writable by "
                          "it alone",
                          dir, (unsigned)geteuid());
    return CU_OK;
}

/* The key file: opts->key_file, else DIR/master.key. */
static cu_rc key_path(const cu_vault_opts *opts, char *out, size_t cap, cu_err *err)
{
    if (opts->key_file == NULL)
        return make_path(out, cap, opts->data_dir, CU_KEYRING_FILE, err);
    cu_strlcpy(out, opts->key_file, cap);
    return check_key_dir(out, err);
}

cu_rc cu_vault_keys_dir(const cu_vault *v, char *out, size_t cap, cu_err *err)
{
    const char *path = cu_keyring_path(v->ring);
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);

    if (n + 1 > cap)
        return cu_err_set(err, CU_ERR_INVALID, "key file path too long");
    if (slash == NULL)
        memcpy(out, ".", 1);
    else
        memcpy(out, path, n);
    out[n] = '\0';
    return CU_OK;
}

cu_rc cu_vault_init(const cu_vault_opts *opts, cu_err *err)
{
    char kpath[PATH_MAX], dbpath[PATH_MAX];
    cu_keyring *ring = NULL;
    cu_store *store = NULL;
    cu_store_op op = {0};
    struct stat st;
    int own = 1;
    cu_rc rc;

    if ((rc = check_opts(opts, err)) != CU_OK)
        return rc;
    if ((rc = store_location(opts, dbpath, sizeof(dbpath), &own, err)) != CU_OK)
        return rc;
    /* A database server's store: refused before any key is made if it holds a vault. */
    if (!own && ((rc = cu_store_open(dbpath, &store, err)) != CU_OK ||
                 (rc = store_empty(store, err)) != CU_OK))
        goto out;
    if (mkdir(opts->data_dir, 0700) != 0 && errno != EEXIST) {
        rc = cu_err_set(err, CU_ERR_IO, "could not create data directory \"%s\": %s",
                        opts->data_dir, strerror(errno));
        goto out;
    }
    if ((rc = cu_dir_check_private(opts->data_dir, err)) != CU_OK ||
        (rc = key_path(opts, kpath, sizeof(kpath), err)) != CU_OK)
        goto out;
    if (own && stat(dbpath, &st) == 0) {
        rc = cu_err_set(err, CU_ERR_EXISTS, "\"%s\" already holds a vault", opts->data_dir);
        goto out;
    }
    if (stat(kpath, &st) == 0) {
        rc = cu_err_set(err, CU_ERR_EXISTS, "the key file \"%s\" exists already", kpath);
        goto out;
    }
    if ((rc = cu_keyring_new(opts->passphrase, &ring, err)) != CU_OK)
        goto out;
    /* The key file first: a database must never exist without the key that opens it. */
    if ((rc = cu_keyring_save(ring, kpath, err)) != CU_OK)
        goto out;
    if (own && (rc = cu_store_open(dbpath, &store, err)) != CU_OK)
        goto out;
    op.type = CU_OP_MASTER_ADD;
    op.u.master.version = cu_keyring_newest(ring);
    op.u.master.created_at = cu_clock_now();
    cu_keyring_check(cu_keyring_get(ring, op.u.master.version), op.u.master.check);
    rc = cu_store_apply(store, &op, 1, err);
out:
    if (store)
        cu_store_close(store);
    cu_keyring_free(ring);
    return rc;
}

/* No master version of the database is in the key file. When the key file's versions are all
 * newer than the database's, the database is a copy older than the key file: its versions were
 * destroyed at the end of their key epoch (P-RET-3, docs/keys.md), and the copy stays closed. */
static cu_rc retired_error(cu_vault *v, const uint32_t *versions, size_t n, cu_err *err)
{
    uint32_t db_newest = 0, ring_oldest = UINT32_MAX;

    for (size_t i = 0; i < n; i++)
        if (versions[i] > db_newest)
            db_newest = versions[i];
    for (size_t i = 0; i < cu_keyring_count(v->ring); i++) {
        uint32_t k = cu_keyring_version_at(v->ring, i, NULL);
        if (k < ring_oldest)
            ring_oldest = k;
    }
    if (db_newest > 0 && ring_oldest > db_newest)
        return cu_err_set(err, CU_ERR_KEY,
                          "the key file no longer holds master key version %u of this database: "
                          "it was destroyed at the end of its key epoch, so this copy of the data "
                          "can no longer be read",
                          (unsigned)db_newest);
    return cu_err_set(err, CU_ERR_KEY, "the key file holds no master key of this database");
}

/* Verifies the key file against the database and picks the version that wraps new keys. */
static cu_rc verify_ring(cu_vault *v, cu_err *err)
{
    uint32_t *versions = NULL;
    uint8_t(*checks)[32] = NULL;
    cu_store_key *keys = NULL;
    size_t n = 0, nkeys = 0, i;
    cu_rc rc;

    rc = cu_store_master_list(v->store, &versions, &checks, &n, err);
    if (rc != CU_OK)
        return rc;
    v->master_version = 0;
    for (i = 0; i < n; i++) {
        const uint8_t *k = cu_keyring_get(v->ring, versions[i]);
        uint8_t c[32];
        if (k == NULL)
            continue; /* retired by a rotation; no key may still reference it (checked below) */
        cu_keyring_check(k, c);
        if (!cu_ct_equal(c, checks[i], 32)) {
            rc = cu_err_set(err, CU_ERR_KEY,
                            "master key version %u in the key file does not match this database",
                            (unsigned)versions[i]);
            goto out;
        }
        if (versions[i] > v->master_version)
            v->master_version = versions[i];
    }
    if (v->master_version == 0) {
        rc = retired_error(v, versions, n, err);
        goto out;
    }
    rc = cu_keys_master_wrapped(v->store, &keys, &nkeys, err);
    for (i = 0; rc == CU_OK && i < nkeys; i++)
        if (cu_keyring_get(v->ring, keys[i].parent_version) == NULL)
            rc = cu_err_set(err, CU_ERR_KEY,
                            "master key version %u is missing from the key file (destroyed at "
                            "the end of its key epoch, or the wrong key file)",
                            (unsigned)keys[i].parent_version);
out:
    cu_store_keys_free(keys, nkeys);
    free(versions);
    free(checks);
    return rc;
}

/* P-ENC-1: the files that hold keys or personal data must be ours and closed to group and others, and
 * the directory that holds them ours and writable by us alone: otherwise another local user
 * could read them, or swap in a key file or database of their own. */
/* dbpath NULL: the store is not a file of the data directory (a PostgreSQL URL). */
static cu_rc check_files(const char *dir, const char *dbpath, cu_err *err)
{
    static const char *const extra[] = {"-wal", "-shm"};
    char path[PATH_MAX];
    cu_rc rc;

    if ((rc = cu_dir_check_private(dir, err)) != CU_OK ||
        (dbpath != NULL && (rc = cu_file_check_private(dbpath, "database", 0, err)) != CU_OK))
        return rc;
    for (size_t i = 0; i < CU_ARRAY_LEN(extra) && dbpath != NULL; i++) {
        if ((size_t)snprintf(path, sizeof(path), "%s%s", dbpath, extra[i]) >= sizeof(path))
            return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
        if ((rc = cu_file_check_private(path, "database", 1, err)) != CU_OK)
            return rc;
    }
    if ((rc = make_path(path, sizeof(path), dir, "audit.key", err)) != CU_OK)
        return rc;
    return cu_file_check_private(path, "audit key file", 1, err);
}

/* Group commit's group size: 512 requests, or CUSTOS_COMMIT_GROUP_MAX (1 to 4096), which the
 * benchmark sets to 1 to measure the naive path (one commit per request). */
static int commit_group_max(void)
{
    const char *s = getenv("CUSTOS_COMMIT_GROUP_MAX");
    long n = s ? strtol(s, NULL, 10) : 0;

    return n >= 1 && n <= 4096 ? (int)n : 512;
}

/* P-AUD-2: how often the chains are signed on time: CU_AUDIT_CHECKPOINT_MS, or
 * CUSTOS_AUDIT_CHECKPOINT_MS (100 ms to one hour; tests that count checkpoints raise it). */
static int64_t checkpoint_ms(void)
{
    const char *s = getenv("CUSTOS_AUDIT_CHECKPOINT_MS");
    long n = s ? strtol(s, NULL, 10) : 0;

    return n >= 100 && n <= 3600000 ? n : CU_AUDIT_CHECKPOINT_MS;
}

/* P-RET-4: the platform's floor for log retention: the option, else CUSTOS_LOG_FLOOR_DAYS (1 to
 * 36500), else CU_LOG_FLOOR_DAYS. */
static unsigned log_floor_days(const cu_vault_opts *opts)
{
    const char *s = getenv("CUSTOS_LOG_FLOOR_DAYS");
    long n = s ? strtol(s, NULL, 10) : 0;

    if (opts->log_floor_days > 0)
        return opts->log_floor_days;
    return n >= 1 && n <= 36500 ? (unsigned)n : CU_LOG_FLOOR_DAYS;
}

cu_rc cu_vault_open(const cu_vault_opts *opts, cu_vault **out, cu_err *err)
{
    char kpath[PATH_MAX], dbpath[PATH_MAX];
    struct stat st;
    cu_vault *v;
    int own = 1;
    cu_rc rc;

    if ((rc = check_opts(opts, err)) != CU_OK)
        return rc;
    if ((rc = store_location(opts, dbpath, sizeof(dbpath), &own, err)) != CU_OK)
        return rc;
    /* A database server's store: the data directory holds the key file and the audit key. */
    if (stat(own ? dbpath : opts->data_dir, &st) != 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND,
                          "no vault in \"%s\": run custos init first", opts->data_dir);
    if ((rc = check_files(opts->data_dir, own ? dbpath : NULL, err)) != CU_OK ||
        (rc = key_path(opts, kpath, sizeof(kpath), err)) != CU_OK)
        return rc;
    v = calloc(1, sizeof(*v));
    if (v == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    pthread_rwlock_init(&v->key_lock, NULL);
    pthread_mutex_init(&v->commit_lock, NULL);
    pthread_mutex_init(&v->sweep_lock, NULL);
    pthread_mutex_init(&v->erase_lock, NULL);
    cu_strlcpy(v->dir, opts->data_dir, sizeof(v->dir));
    v->sweep_holder = cu_random_id();
    /* The store first: the SQLite backend keeps one process per data directory (its flock),
     * which the key file and its rotation assume. */
    if ((rc = cu_store_open(dbpath, &v->store, err)) != CU_OK)
        goto out;
    if ((rc = cu_policy_cache_new(&v->policies, err)) != CU_OK)
        goto out;
    if ((rc = cu_keyring_load(kpath, opts->passphrase, &v->ring, err)) != CU_OK)
        goto out;
    if ((rc = verify_ring(v, err)) != CU_OK)
        goto out;
    v->group_max = commit_group_max();
    if ((rc = cu_auth_state_new(&v->auth, err)) != CU_OK ||
        (rc = cu_ana_rate_new(&v->ana_rate, err)) != CU_OK ||
        (rc = cu_cache_open(v, err)) != CU_OK)
        goto out;
    v->log_floor_days = log_floor_days(opts);
    v->checkpoint_ms = checkpoint_ms();
    if (cu_heads_new(&v->heads) != CU_OK) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = cu_record_ids_open(v, err)) != CU_OK)
        goto out;
    rc = cu_audit_key_load(v, err);
out:
    if (rc != CU_OK) {
        cu_vault_close(v);
        return rc;
    }
    cu_backup_opened(v); /* P-BAK-2: the erasure journal caught up (backup.c) */
    *out = v;
    return CU_OK;
}

void cu_vault_close(cu_vault *v)
{
    if (v == NULL)
        return;
    cu_erase_stop(v); /* its batches commit through the vault */
    cu_commit_stop(v); /* after the last asynchronous request's completion */
    /* P-AUD-2: what this process wrote is signed before it lets go of the vault. */
    if (v->store && v->heads && v->audit_sk) {
        cu_err ignored = {0};
        (void)cu_audit_sign_tails(v, 0, NULL, &ignored);
    }
    if (v->store && v->heads) /* opened: it may hold the sweep lease (sweep.c) */
        cu_sweep_lease_drop(v);
    if (v->store)
        cu_store_close(v->store);
    cu_record_ids_close(v); /* the store used it until closed */
    cu_keyring_free(v->ring);
    cu_heads_free(v->heads);
    cu_secure_free(v->audit_sk);
    pthread_rwlock_destroy(&v->key_lock);
    pthread_mutex_destroy(&v->commit_lock);
    cu_policy_cache_free(v->policies);
    pthread_mutex_destroy(&v->sweep_lock);
    pthread_mutex_destroy(&v->erase_lock);
    cu_auth_state_free(v->auth);
    cu_ana_rate_free(v->ana_rate);
    cu_cache_close(v);
    free(v);
}
