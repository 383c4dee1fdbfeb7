/*
 * epoch.c: key epochs (issue 11, item 4; P-RET-3, P-ENC-5; docs/keys.md, Key epochs).
 *
 * A copy of the data directory holds everything needed to read it as it was, except the
 * master key. So after personal data is deleted, the master key rotates to a new version
 * (cu_key_rotate_master rewraps every tenant key; the database then references only the new
 * version), and the key file keeps the old version only while an unexpired backup may still
 * need it: until its retirement time (written in the key file by the rotation) plus the
 * longest backup lifetime the vault allows, max(CU_BACKUP_WINDOW_DEFAULT_DAYS, every tenant
 * policy's backup_window). Then cu_key_retire destroys it: the key file is rewritten without
 * it and its key wiped from memory. From then on the vault's current key file opens no copy
 * of the data older than that rotation.
 *
 * Whether personal data was deleted since the newest master version is in the database
 * itself, written by the deleting transaction (triggers of the store's schema, migration
 * "key epochs"): the row version 0 of master_keys, which the next version's insert removes.
 *
 * Before a version is destroyed, the live database must reference it nowhere: no tenant key
 * wrapped under it, not the audit signing key (DIR/audit.key); else it is kept (P-ENC-5:
 * every version the database references stays in the key file). The current version and a
 * pending one (written by a rotation that has not committed) are never destroyed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"
#include "epoch_int.h"
#include "keyring_int.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "tenant_int.h"
#include "util.h"

/* The backup lifetimes the vault allows, each once: the default and the tenants' policies'. */
typedef struct windows {
    cu_duration *d;
    size_t n;
} windows;

static void windows_add(windows *w, cu_duration d)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->d[i].count == d.count && w->d[i].unit == d.unit)
            return;
    w->d[w->n++] = d;
}

/* Every tenant's current policy (any state: a backup may hold a tenant purged since). The rows
 * are read through the generation check (cu_tenant_rows): a background pass that serves no
 * request still forgets what another server's change made stale. */
static cu_rc load_windows(cu_vault *v, windows *w, cu_err *err)
{
    cu_store_tenant *t = NULL;
    size_t n = 0, i;
    cu_rc rc;

    memset(w, 0, sizeof(*w));
    if ((rc = cu_tenant_rows(v, &t, &n, err)) != CU_OK)
        return rc;
    if ((w->d = calloc(n + 1, sizeof(*w->d))) == NULL) {
        free(t);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    windows_add(w, (cu_duration){CU_BACKUP_WINDOW_DEFAULT_DAYS, CU_DURATION_DAYS});
    for (i = 0; i < n && rc == CU_OK; i++) {
        const cu_policy *p = NULL;
        if (t[i].policy_version == 0)
            continue;
        rc = cu_policy_current(v, t[i].id, t[i].policy_version, &p, NULL, err);
        if (rc == CU_ERR_NOT_FOUND) {
            rc = CU_OK;
            continue;
        }
        if (rc == CU_OK)
            windows_add(w, cu_policy_backup_window(p));
        cu_policy_release(v, p);
    }
    free(t);
    if (rc != CU_OK) {
        free(w->d);
        w->d = NULL;
    }
    return rc;
}

/* When a version retired at `retired` may be destroyed: the longest lifetime after it. */
static int64_t destroy_at(const windows *w, int64_t retired)
{
    int64_t at = retired;

    for (size_t i = 0; i < w->n; i++) {
        int64_t t = cu_duration_add(retired, w->d[i]);
        if (t > at)
            at = t;
    }
    return at;
}

/* The master version DIR/audit.key is wrapped under (0: none, or the old plain format). */
static cu_rc audit_key_version(cu_vault *v, uint32_t *version, cu_err *err)
{
    static const char head[] = "custos-audit-key 2\n";
    char path[PATH_MAX + 16], *text = NULL;
    unsigned long ver = 0;
    struct stat st;
    size_t len = 0;
    cu_rc rc;

    *version = 0;
    snprintf(path, sizeof(path), "%s/audit.key", v->dir);
    if ((rc = cu_file_check_private(path, "audit key file", 1, err)) != CU_OK)
        return rc;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return CU_OK; /* made at the next open, under the current version */
    if ((rc = cu_file_read(path, 4096, &text, &len, err)) != CU_OK)
        return rc;
    if (len > sizeof(head) - 1 && memcmp(text, head, sizeof(head) - 1) == 0)
        ver = strtoul(text + sizeof(head) - 1, NULL, 10);
    cu_wipe(text, len);
    free(text);
    *version = ver <= UINT32_MAX ? (uint32_t)ver : 0;
    return CU_OK;
}

/* What still uses master versions: the live database's tenant keys, the audit key, and the
 * unexpired backups (backup.keys: each backup's key and its snapshot's wraps). */
typedef struct users {
    cu_store_key *keys;
    size_t nkeys;
    uint32_t audit_mv;
    uint32_t *backups; /* cu_bkeys_needed */
    size_t nbackups;
} users;

/* P-ENC-5, P-BAK-1: whether anything still uses a master version. */
static int referenced(uint32_t version, const users *u)
{
    if (version == u->audit_mv)
        return 1;
    for (size_t i = 0; i < u->nkeys; i++)
        if (u->keys[i].parent_version == version)
            return 1;
    for (size_t i = 0; i < u->nbackups; i++)
        if (u->backups[i] == version)
            return 1;
    return 0;
}

/* The versions to destroy now, into doomed (room for every version); marks a retired version
 * a crashed rotation left unmarked (*changed). Under the key lock, for writing. */
static void pick(cu_vault *v, const windows *w, int64_t now, const users *u,
                 cu_key_retire_report *rep, uint32_t *doomed, size_t *ndoomed, int *changed)
{
    for (size_t i = 0; i < cu_keyring_count(v->ring); i++) {
        int64_t retired, due;
        uint32_t ver = cu_keyring_version_at(v->ring, i, &retired);
        if (ver >= v->master_version)
            continue; /* current, or pending (written by a rotation not committed) */
        if (retired == 0) {
            *changed |= cu_keyring_mark(v->ring, ver, now);
            retired = now;
        }
        due = destroy_at(w, retired);
        if (now < due) {
            rep->retained++;
            if (rep->next_destroy == 0 || due < rep->next_destroy)
                rep->next_destroy = due;
        } else if (referenced(ver, u)) {
            rep->referenced++;
        } else {
            doomed[(*ndoomed)++] = ver;
        }
    }
}

/* One vault-level entry per destroyed version (ids only), committed before the key file
 * changes: an entry without its destruction (a failed write) is redone by the next pass. Each
 * commit renews the epoch lease in its own transaction (review 5, F5): a retirement whose lease
 * lapsed and went to another server commits nothing and leaves the key file alone. */
static cu_rc audit_destroyed(cu_vault *v, const cu_ctx *ctx, const uint32_t *doomed, size_t n,
                             cu_err *err)
{
    cu_audit_in a[CU_AUDIT_PER_COMMIT];
    cu_store_op lease;
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n && rc == CU_OK; i += CU_AUDIT_PER_COMMIT) {
        size_t k = n - i < CU_AUDIT_PER_COMMIT ? n - i : CU_AUDIT_PER_COMMIT;
        for (size_t j = 0; j < k; j++)
            cu_audit_in_set(&a[j], 0, "key.destroy", "master:%u", (unsigned)doomed[i + j]);
        cu_epoch_lease_op(v, 1, &lease);
        rc = cu_commit(v, ctx, &lease, 1, a, k, err);
    }
    return rc;
}

/* What uses master versions now (under the key lock, for writing): tenant keys, the audit key
 * (rewrapped first if a rotation killed before it left it under an older version), backups. */
static cu_rc load_users(cu_vault *v, int64_t now, users *u, cu_err *err)
{
    char kd[PATH_MAX];
    cu_rc rc;

    memset(u, 0, sizeof(*u));
    if ((rc = cu_keys_master_wrapped(v->store, &u->keys, &u->nkeys, err)) != CU_OK)
        return rc;
    if ((rc = audit_key_version(v, &u->audit_mv, err)) != CU_OK)
        return rc;
    if (u->audit_mv != 0 && u->audit_mv < v->master_version && v->audit_sk != NULL) {
        if ((rc = cu_audit_key_rewrap(v, v->master_version, err)) != CU_OK)
            return rc;
        u->audit_mv = v->master_version;
    }
    if ((rc = cu_vault_keys_dir(v, kd, sizeof(kd), err)) != CU_OK)
        return rc;
    return cu_bkeys_needed(kd, now, &u->backups, &u->nbackups, err);
}

static void users_free(users *u)
{
    cu_store_keys_free(u->keys, u->nkeys);
    free(u->backups);
}

/* P-RET-3, P-ENC-5. */
/* Several servers on one database (docs/store.md, "Several servers"): a rotation adds a version
 * to the key file and rewraps every tenant key, a retirement rewrites the file. Two at once
 * would each write a version of their own under one number (the second's commit refused, its
 * file already saved) or save over each other's file where the file is shared: one server at
 * a time, under this database lease. Held at most EPOCH_LEASE_SECONDS if its holder dies. */
#define EPOCH_LEASE "key_epoch"
#define EPOCH_LEASE_SECONDS 600
/* A rotation renews it before it touches the key file and in the transaction that commits the
 * new version (rotate.c), a retirement in each of its commits (review 5, F5): a holder that
 * outlived its lease cannot commit after another server took it. */

void cu_epoch_lease_op(cu_vault *v, int take, cu_store_op *op)
{
    int64_t now = cu_clock_now();

    memset(op, 0, sizeof(*op));
    op->type = take ? CU_OP_LEASE_TAKE : CU_OP_LEASE_RELEASE;
    op->u.lease.name = EPOCH_LEASE;
    op->u.lease.holder = v->sweep_holder;
    op->u.lease.instance = cu_store_instance(v->store); /* free once this process is gone */
    op->u.lease.now = now;
    op->u.lease.expires_at = now + EPOCH_LEASE_SECONDS;
}

cu_rc cu_epoch_lease(cu_vault *v, int take, cu_err *err)
{
    cu_store_op op;
    cu_rc rc;

    cu_epoch_lease_op(v, take, &op);
    rc = cu_store_apply(v->store, &op, 1, err);
    if (rc == CU_ERR_CONFLICT)
        return cu_err_set(err, CU_ERR_CONFLICT, "another server is rotating the master key");
    return rc;
}

static cu_rc epoch_lease(cu_vault *v, int take, cu_err *err)
{
    return cu_epoch_lease(v, take, err);
}

static void epoch_lease_drop(cu_vault *v)
{
    cu_err ignored = {0};

    (void)epoch_lease(v, 0, &ignored);
}

static cu_rc retire(cu_vault *v, const cu_ctx *ctx, cu_key_retire_report *rep, cu_err *err);

cu_rc cu_key_retire(cu_vault *v, const cu_ctx *ctx, cu_key_retire_report *rep, cu_err *err)
{
    cu_rc rc;

    memset(rep, 0, sizeof(*rep));
    if ((rc = epoch_lease(v, 1, err)) != CU_OK)
        return rc;
    rc = retire(v, ctx, rep, err);
    epoch_lease_drop(v);
    return rc;
}

static cu_rc retire(cu_vault *v, const cu_ctx *ctx, cu_key_retire_report *rep, cu_err *err)
{
    uint32_t *doomed = NULL;
    size_t ndoomed = 0;
    int64_t now = cu_clock_now();
    int changed = 0;
    users u = {0};
    windows w;
    cu_rc rc;

    memset(rep, 0, sizeof(*rep));
    if ((rc = load_windows(v, &w, err)) != CU_OK)
        return rc;
    /* Exclusive: nothing unwraps under a version while it goes, nor wraps under a new one. */
    cu_key_wrlock(v);
    /* What another server's epochs changed in a shared key file, and the current version theirs
     * if newer (docs/scaling.md): a server that never rotates still moves on, P-ENC-5. */
    rc = cu_key_catch_up(v, err);
    rep->current = v->master_version;
    if (rc == CU_OK && (doomed = calloc(cu_keyring_count(v->ring) + 1, sizeof(*doomed))) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (rc == CU_OK)
        rc = load_users(v, now, &u, err);
    if (rc == CU_OK)
        pick(v, &w, now, &u, rep, doomed, &ndoomed, &changed);
    if (rc == CU_OK && ndoomed > 0)
        rc = audit_destroyed(v, ctx, doomed, ndoomed, err);
    if (rc == CU_OK && ndoomed > 0 && CU_FAULT("retire.audited"))
        _exit(70); /* audited, the key file unchanged: the next pass destroys them again */
    if (rc == CU_OK && changed && ndoomed == 0)
        rc = epoch_lease(v, 1, err); /* still ours: renewed before the key file is saved */
    if (rc == CU_OK && (changed || ndoomed > 0)) {
        for (size_t i = 0; i < ndoomed; i++)
            cu_keyring_drop(v->ring, doomed[i]); /* wiped from memory */
        rc = cu_keyring_save(v->ring, cu_keyring_path(v->ring), err);
    }
    if (rc == CU_OK)
        rep->destroyed = (unsigned)ndoomed;
    cu_key_wrunlock(v);
    users_free(&u);
    free(doomed);
    free(w.d);
    return rc;
}

/* Whether personal data was deleted since the newest master version: its mark, version 0. */
static cu_rc epoch_due(cu_vault *v, int *pending, cu_err *err)
{
    uint32_t *versions = NULL;
    uint8_t(*checks)[32] = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_master_list(v->store, &versions, &checks, &n, err);

    *pending = 0;
    for (size_t i = 0; rc == CU_OK && i < n; i++)
        if (versions[i] == 0)
            *pending = 1;
    free(versions);
    free(checks);
    return rc;
}

/* When the current version became current: the newest retirement time (0: unknown). */
static int64_t current_since(cu_vault *v)
{
    int64_t since = 0;

    cu_key_rdlock(v);
    for (size_t i = 0; i < cu_keyring_count(v->ring); i++) {
        int64_t retired;
        (void)cu_keyring_version_at(v->ring, i, &retired);
        if (retired > since)
            since = retired;
    }
    pthread_rwlock_unlock(&v->key_lock);
    return since;
}

/* The pass of a server that finds another's epoch running: it still moves on to the newest
 * version that server committed (cu_key_catch_up), so that one which never wins the lease does
 * not keep its audit key under a version the other will destroy. It reads the key file and
 * writes only its own audit key file, nothing shared: no lease needed. Best effort: the next
 * pass tries again. */
static void catch_up_unleased(cu_vault *v)
{
    cu_err ignored = {0};

    cu_key_wrlock(v);
    (void)cu_key_catch_up(v, &ignored);
    cu_key_wrunlock(v);
}

cu_rc cu_key_epoch(cu_vault *v, const cu_ctx *ctx, int64_t min_age, cu_key_epoch_report *rep,
                   cu_err *err)
{
    int64_t since;
    cu_rc rc;

    memset(rep, 0, sizeof(*rep));
    if ((rc = epoch_lease(v, 1, err)) != CU_OK) {
        if (rc == CU_ERR_CONFLICT)
            catch_up_unleased(v);
        return rc;
    }
    if ((rc = epoch_due(v, &rep->pending, err)) != CU_OK)
        goto out;
    since = current_since(v);
    if (rep->pending && (min_age <= 0 || since == 0 || cu_clock_now() - since >= min_age)) {
        unsigned version = 0;
        if ((rc = cu_key_rotate_master_leased(v, ctx, &version, &rep->rewrapped, err)) != CU_OK)
            goto out;
        rep->rotated = 1;
    }
    rc = retire(v, ctx, &rep->retire, err);
    rep->version = rep->retire.current;
out:
    epoch_lease_drop(v);
    return rc;
}

cu_rc cu_key_versions(cu_vault *v, cu_key_version_info **out, size_t *n, int *pending, cu_err *err)
{
    cu_key_version_info *list;
    windows w;
    size_t count;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = epoch_due(v, pending, err)) != CU_OK || (rc = load_windows(v, &w, err)) != CU_OK)
        return rc;
    cu_key_rdlock(v);
    count = cu_keyring_count(v->ring);
    if ((list = calloc(count + 1, sizeof(*list))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < count; i++) {
            int64_t retired;
            cu_key_version_info *x = &list[i];
            x->version = cu_keyring_version_at(v->ring, i, &retired);
            x->current = x->version == v->master_version;
            x->retired_at = x->version < v->master_version ? retired : 0;
            x->destroy_at = x->retired_at ? destroy_at(&w, x->retired_at) : 0;
        }
        *out = list;
        *n = count;
    }
    pthread_rwlock_unlock(&v->key_lock);
    free(w.d);
    return rc;
}

void cu_key_ring_stats(cu_vault *v, unsigned *current, unsigned *retained)
{
    cu_key_rdlock(v);
    *current = v->master_version;
    *retained = 0;
    for (size_t i = 0; i < cu_keyring_count(v->ring); i++)
        *retained += cu_keyring_version_at(v->ring, i, NULL) < v->master_version;
    pthread_rwlock_unlock(&v->key_lock);
}
