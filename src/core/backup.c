/*
 * backup.c: making, listing and expiring backups (P-BAK-1, P-RET-3; docs/backup.md).
 *
 * A backup, in the backup directory: <id>.cbk (the encrypted snapshot), <id>.manifest (what it
 * holds, signed), and a copy of the erasure journal. Its key is in backup.keys beside the key
 * file, wrapped by the master key, never in the backup. The snapshot is made by the store
 * (cu_store_dump: one consistent state while writes go on) into a private temporary directory
 * in the data directory, read back for its facts (tenants, audit heads, the master versions
 * its keys need), opened, and unlinked with its directory before a byte is encrypted: from
 * then on it is an open file only, which the kernel frees when the process ends, even by
 * kill -9. A crash before the unlink leaves the directory (.backup-*), which the next backup
 * or open removes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_int.h"
#include "journal_int.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "util.h"

#define SNAP_PREFIX ".backup-"
#define VERIFY_PREFIX ".verify-"

static pthread_mutex_t backup_lock = PTHREAD_MUTEX_INITIALIZER; /* one backup at a time */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static cu_backup_stats stats;

void cu_backup_stats_get(cu_backup_stats *out)
{
    pthread_mutex_lock(&stats_lock);
    *out = stats;
    pthread_mutex_unlock(&stats_lock);
}

void cu_backup_note_verified(int ok)
{
    pthread_mutex_lock(&stats_lock);
    if (ok)
        stats.last_verified = cu_clock_now();
    else
        stats.failures++;
    pthread_mutex_unlock(&stats_lock);
}

int cu_backup_id_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == 32;
}

void cu_backup_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

cu_rc cu_backup_copy_file(const char *src, const char *dst, cu_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cu_rc rc;

    if ((rc = cu_file_read(src, 1024u * 1024 * 1024, &text, &len, err)) != CU_OK)
        return rc;
    rc = cu_file_write_atomic(dst, text, len, 0600, err);
    free(text);
    return rc;
}

/* Removes what a crashed backup (or, at open, a crashed verify) left in the data directory:
 * plaintext snapshots. A verify running meanwhile in another process is not touched. */
static void clean_stale(const char *dir, int verifies)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if ((strncmp(e->d_name, SNAP_PREFIX, strlen(SNAP_PREFIX)) == 0 ||
             (verifies && strncmp(e->d_name, VERIFY_PREFIX, strlen(VERIFY_PREFIX)) == 0)) &&
            (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
            cu_backup_rmdir(path);
    closedir(d);
}

/* Removes the .partial files a crashed backup left in the backup directory. */
static void clean_partials(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];
    size_t len;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] == '.' && (len = strlen(e->d_name)) > 8 &&
            strcmp(e->d_name + len - 8, ".partial") == 0 &&
            (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
            unlink(path);
    closedir(d);
}

/* Where backup.keys lives: beside the key file (cu_vault_keys_dir); the data directory if
 * that path cannot be had (it always can: the key file's path fits in PATH_MAX). */
static const char *keys_dir(const cu_vault *v, char buf[PATH_MAX])
{
    cu_err ignored = {0};

    return cu_vault_keys_dir(v, buf, PATH_MAX, &ignored) == CU_OK ? buf : v->dir;
}

void cu_backup_opened(cu_vault *v)
{
    cu_err ignored = {0};
    char kd[PATH_MAX];

    pthread_mutex_lock(&backup_lock);
    clean_stale(v->dir, 1);
    /* A verify killed with the key file apart left its trial (a decrypted copy) beside it. */
    if (strcmp(keys_dir(v, kd), v->dir) != 0)
        clean_stale(kd, 1);
    pthread_mutex_unlock(&backup_lock);
    (void)cu_journal_sync(v, NULL, &ignored); /* P-BAK-2: an erasure a crash kept out */
}

/* --- the snapshot and its facts ------------------------------------------------------------- */

typedef struct snap {
    int fd;            /* the snapshot, unlinked */
    uint64_t size;
    cu_manifest m;     /* heads, master versions, tenants, schema version */
    cu_id *tenants;
    size_t ntenants;
} snap;

static void snap_cleanup(snap *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    cu_manifest_cleanup(&s->m);
    free(s->tenants);
    s->tenants = NULL;
}

static void add_master(cu_manifest *m, uint32_t mv)
{
    for (size_t i = 0; i < m->nmaster; i++)
        if (m->master_versions[i] == mv)
            return;
    if (m->nmaster < CU_ARRAY_LEN(m->master_versions))
        m->master_versions[m->nmaster++] = mv;
}

/* The snapshot's tenants, audit chain heads and the master versions its tenant keys need. The
 * one reader of tenant rows in the core outside cu_tenant_row / cu_tenant_rows (tenant_int.h):
 * it reads the backup's snapshot, not the live state, takes ids only, and unwraps nothing (the
 * keys go into the backup wrapped); the policies it names are read through cu_policy_for. */
static cu_rc snap_facts(cu_store *st, snap *s, cu_err *err)
{
    cu_store_tenant *ts = NULL;
    cu_store_key *keys = NULL;
    size_t nt = 0, nk = 0;
    cu_rc rc;

    if ((rc = cu_store_tenant_list(st, &ts, &nt, err)) != CU_OK)
        return rc;
    s->m.heads = calloc(nt + 1, sizeof(*s->m.heads));
    s->tenants = calloc(nt + 1, sizeof(*s->tenants));
    if (s->m.heads == NULL || s->tenants == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == CU_OK && i <= nt; i++) {
        cu_bhead *h = &s->m.heads[s->m.nheads++];
        h->tenant = i == 0 ? 0 : ts[i - 1].id;
        if (i > 0)
            s->tenants[s->ntenants++] = h->tenant;
        rc = cu_store_audit_head(st, h->tenant, &h->seq, h->hash, err);
    }
    free(ts);
    if (rc == CU_OK)
        rc = cu_keys_master_wrapped(st, &keys, &nk, err);
    for (size_t i = 0; rc == CU_OK && i < nk; i++)
        add_master(&s->m, keys[i].parent_version);
    cu_store_keys_free(keys, nk);
    s->m.info.tenants = s->ntenants;
    return rc;
}

/* Dumps the database into a private directory in the data directory, reads its facts, opens
 * it and unlinks it with its directory. */
static cu_rc snap_take(cu_vault *v, snap *s, cu_err *err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    cu_store *st = NULL;
    struct stat sb;
    cu_rc rc;

    if ((size_t)snprintf(dir, sizeof(dir), "%s/%sXXXXXX", v->dir, SNAP_PREFIX) >= sizeof(dir) ||
        mkdtemp(dir) == NULL)
        return cu_err_set(err, CU_ERR_IO, "could not make the backup's temporary directory: %s",
                          strerror(errno));
    if ((size_t)snprintf(path, sizeof(path), "%s/custos.db", dir) >= sizeof(path)) {
        rmdir(dir);
        return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
    }
    rc = cu_store_dump(v->store, path, &s->m.info.schema_version, err);
    if (rc == CU_OK && (rc = cu_store_open(path, &st, err)) == CU_OK) {
        rc = snap_facts(st, s, err);
        cu_store_close(st);
    }
    if (rc == CU_OK && (s->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not open the snapshot: %s", strerror(errno));
    if (rc == CU_OK && fstat(s->fd, &sb) == 0)
        s->size = (uint64_t)sb.st_size;
    if (CU_FAULT("backup.snapshot")) /* tests: a crash before the unlink */
        _exit(70);
    cu_backup_rmdir(dir); /* the plaintext is an open file only from here on */
    return rc;
}

/* P-RET-3: the backup expires at created + the shortest backup_window among its tenants'
 * policies, CU_BACKUP_WINDOW_DEFAULT_DAYS where a tenant has none. */
static int64_t expiry(cu_vault *v, const snap *s, int64_t now)
{
    int64_t best = now + (int64_t)CU_BACKUP_WINDOW_DEFAULT_DAYS * 86400, any = 0, min = 0;

    for (size_t i = 0; i < s->ntenants; i++) {
        const cu_policy *p = NULL;
        cu_err ignored = {0};
        int64_t t = best;
        if (cu_policy_for(v, s->tenants[i], &p, NULL, &ignored) == CU_OK) {
            t = cu_duration_add(now, cu_policy_backup_window(p));
            cu_policy_release(v, p);
        }
        if (!any || t < min)
            min = t;
        any = 1;
    }
    return any ? min : best;
}

/* --- making a backup ------------------------------------------------------------------------- */

typedef struct made {
    char dir[PATH_MAX];
    char partial[PATH_MAX], file[PATH_MAX], manifest[PATH_MAX];
    uint8_t key[CU_KEYBYTES];
    int key_added;
    cu_backup_progress_fn fn;
    void *arg;
} made;

/* The audit key file (wrapped under a master key), which the backup carries with the
 * database, and the master version that wraps it. */
static cu_rc audit_key_file(cu_vault *v, char **text, size_t *len, uint32_t *mv, cu_err *err)
{
    char path[PATH_MAX];
    unsigned n = 0;
    cu_rc rc;

    if ((size_t)snprintf(path, sizeof(path), "%s/audit.key", v->dir) >= sizeof(path))
        return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
    if ((rc = cu_file_read(path, 4096, text, len, err)) != CU_OK)
        return rc;
    if (sscanf(*text, "custos-audit-key 2\n%u", &n) != 1 || n == 0) {
        free(*text);
        *text = NULL;
        return cu_err_set(err, CU_ERR_KEY, "the audit key file is not in the wrapped format");
    }
    *mv = n;
    return CU_OK;
}

/* Encrypts the audit key file and the snapshot into mk->partial, then renames it. */
static cu_rc write_file(made *mk, snap *s, const char *akey, size_t aklen, cu_err *err)
{
    uint8_t *buf = cu_secure_alloc(CU_BACKUP_CHUNK);
    cu_bwriter *w = NULL;
    uint64_t done = 0;
    cu_rc rc;

    if (buf == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    rc = cu_bwriter_open(mk->partial, s->m.info.id, mk->key, &w, err);
    if (rc == CU_OK)
        rc = cu_bwriter_put(w, (const uint8_t *)akey, aklen, err);
    while (rc == CU_OK && done < s->size) {
        ssize_t got = pread(s->fd, buf, CU_BACKUP_CHUNK, (off_t)done);
        if (got <= 0) {
            rc = cu_err_set(err, CU_ERR_IO, "could not read the snapshot: %s",
                            got < 0 ? strerror(errno) : "cut short");
            break;
        }
        rc = cu_bwriter_put(w, buf, (size_t)got, err);
        cu_wipe(buf, (size_t)got);
        done += (uint64_t)got;
        if (CU_FAULT("backup.encrypting")) /* tests: a crash halfway */
            _exit(70);
        if (mk->fn)
            mk->fn(mk->arg, done, s->size);
    }
    cu_secure_free(buf);
    if (rc != CU_OK) {
        cu_bwriter_abort(w);
        return rc;
    }
    if ((rc = cu_bwriter_finish(w, &s->m.info.bytes, s->m.sha256, err)) != CU_OK)
        return rc;
    if (rename(mk->partial, mk->file) != 0) {
        unlink(mk->partial);
        return cu_err_set(err, CU_ERR_IO, "could not name the backup: %s", strerror(errno));
    }
    return CU_OK;
}


/* The backup key, made and stored wrapped in backup.keys before anything is encrypted. */
static cu_rc make_key(cu_vault *v, made *mk, snap *s, cu_err *err)
{
    cu_bkey k = {0};
    const uint8_t *master;
    char kd[PATH_MAX];
    cu_rc rc;

    memcpy(k.id, s->m.info.id, sizeof(k.id));
    k.created_at = s->m.info.created_at;
    k.expires_at = s->m.info.expires_at;
    /* Every version it needs listed, or no backup: key retirement keeps only those (P-ENC-5). */
    if (s->m.nmaster > CU_ARRAY_LEN(k.needs))
        return cu_err_set(err, CU_ERR_LIMIT, "the snapshot's keys need %zu master key versions, "
                          "more than a backup lists (%zu): rotate the master key first",
                          s->m.nmaster, CU_ARRAY_LEN(k.needs));
    for (size_t i = 0; i < s->m.nmaster; i++)
        k.needs[k.nneeds++] = s->m.master_versions[i];
    cu_random(mk->key, sizeof(mk->key));
    cu_key_rdlock(v);
    /* The newest version, another server's if its epoch ran since this one's (keys.c). */
    if ((rc = cu_keys_master_newest(v, &k.master_version, err)) == CU_OK) {
        master = cu_keyring_get(v->ring, k.master_version);
        rc = master ? cu_bkeys_add(keys_dir(v, kd), v->audit_pk, &k, master, mk->key, err)
                    : cu_err_set(err, CU_ERR_KEY, "the newest master key is not in the key file");
    }
    pthread_rwlock_unlock(&v->key_lock);
    mk->key_added = rc == CU_OK;
    return rc;
}

static cu_rc paths(made *mk, const char *dir, const char *id, cu_err *err)
{
    if ((size_t)snprintf(mk->partial, sizeof(mk->partial), "%s/.%s%s.partial", dir, id,
                         CU_BACKUP_EXT) >= sizeof(mk->partial) ||
        (size_t)snprintf(mk->file, sizeof(mk->file), "%s/%s%s", dir, id, CU_BACKUP_EXT) >=
            sizeof(mk->file) ||
        (size_t)snprintf(mk->manifest, sizeof(mk->manifest), "%s/%s%s", dir, id,
                         CU_BACKUP_MANIFEST_EXT) >= sizeof(mk->manifest))
        return cu_err_set(err, CU_ERR_INVALID, "backup directory path too long");
    cu_strlcpy(mk->dir, dir, sizeof(mk->dir));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cu_err_set(err, CU_ERR_IO, "could not create \"%s\": %s", dir, strerror(errno));
    return CU_OK;
}

static void refresh_stats(cu_vault *v, const char *dir, int made_one)
{
    cu_backup_info *list = NULL;
    size_t n = 0;
    cu_err ignored = {0};
    uint64_t bytes = 0;

    if (dir == NULL || cu_backup_list(v, dir, &list, &n, &ignored) != CU_OK)
        n = 0;
    for (size_t i = 0; i < n; i++)
        bytes += list[i].bytes;
    free(list);
    pthread_mutex_lock(&stats_lock);
    if (dir != NULL) {
        stats.count = n;
        stats.bytes = bytes;
    }
    if (made_one)
        stats.last_success = cu_clock_now();
    pthread_mutex_unlock(&stats_lock);
}

/* Journal, snapshot, key, file, manifest, journal copy: everything but the audit entry. */
static cu_rc create_locked(cu_vault *v, made *mk, snap *s, cu_err *err)
{
    char *akey = NULL, jpath[PATH_MAX], jcopy[PATH_MAX];
    size_t aklen = 0;
    uint32_t amv = 0;
    cu_rc rc;

    clean_stale(v->dir, 0);
    clean_partials(mk->dir);
    if ((rc = cu_journal_sync(v, &s->m.info.journal_seq, err)) != CU_OK)
        return rc;
    /* No rotation between the snapshot and the audit key file it travels with. */
    cu_key_rdlock(v);
    rc = snap_take(v, s, err);
    if (rc == CU_OK)
        rc = audit_key_file(v, &akey, &aklen, &amv, err);
    pthread_rwlock_unlock(&v->key_lock);
    if (rc != CU_OK)
        goto out;
    add_master(&s->m, amv);
    memcpy(s->m.vault, v->audit_pk, 32);
    s->m.info.created_at = cu_clock_now();
    s->m.info.expires_at = expiry(v, s, s->m.info.created_at);
    s->m.info.db_bytes = s->size;
    if ((rc = make_key(v, mk, s, err)) != CU_OK ||
        (rc = write_file(mk, s, akey, aklen, err)) != CU_OK)
        goto out;
    if ((rc = cu_manifest_write(mk->manifest, &s->m, v->audit_sk, err)) != CU_OK) {
        unlink(mk->file);
        goto out;
    }
    /* P-BAK-2: the journal beside the backups (a copy: the vault's stays by its key file). */
    if ((rc = cu_journal_path(v, jpath, sizeof(jpath), err)) == CU_OK &&
        (size_t)snprintf(jcopy, sizeof(jcopy), "%s/%s", mk->dir, CU_JOURNAL_FILE) <
            sizeof(jcopy))
        rc = cu_backup_copy_file(jpath, jcopy, err);
out:
    if (akey) {
        cu_wipe(akey, aklen);
        free(akey);
    }
    return rc;
}

cu_rc cu_backup_create(cu_vault *v, const cu_ctx *ctx, const char *dir, cu_backup_progress_fn fn,
                       void *arg, cu_backup_info *out, cu_err *err)
{
    made mk = {.fn = fn, .arg = arg};
    snap s = {.fd = -1};
    char kd[PATH_MAX];
    uint8_t rnd[16];
    cu_audit_in a;
    cu_rc rc;

    if (v == NULL || dir == NULL || dir[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "no backup directory given");
    /* No read transaction held for the whole backup (a request's scope): it would keep every
     * erasure's scrub pending and the WAL growing. The dump reads its own snapshot. */
    cu_vault_read_end(v);
    cu_random(rnd, sizeof(rnd));
    cu_hex_encode(rnd, sizeof(rnd), s.m.info.id);
    if ((rc = paths(&mk, dir, s.m.info.id, err)) != CU_OK)
        return rc;
    pthread_mutex_lock(&backup_lock);
    rc = create_locked(v, &mk, &s, err);
    if (rc == CU_OK) {
        cu_audit_in_set(&a, 0, "backup.create", "backup:%s", s.m.info.id);
        rc = cu_commit(v, ctx, NULL, 0, &a, 1, err);
    }
    if (rc != CU_OK) { /* nothing half-made stays: the files, then the key */
        cu_err ignored = {0};
        unlink(mk.partial);
        unlink(mk.file);
        unlink(mk.manifest);
        if (mk.key_added)
            (void)cu_bkeys_remove(keys_dir(v, kd), s.m.info.id, &ignored);
    }
    pthread_mutex_unlock(&backup_lock);
    cu_wipe(mk.key, sizeof(mk.key));
    if (rc == CU_OK && out != NULL)
        *out = s.m.info;
    snap_cleanup(&s);
    refresh_stats(v, rc == CU_OK ? dir : NULL, rc == CU_OK);
    if (rc != CU_OK)
        cu_backup_note_verified(0);
    return rc;
}

/* --- listing and expiring ---------------------------------------------------------------------- */

static int by_created(const void *a, const void *b)
{
    const cu_backup_info *x = a, *y = b;

    return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

static int key_listed(const cu_bkey *keys, size_t nk, const char *id)
{
    for (size_t i = 0; i < nk; i++)
        if (strcmp(keys[i].id, id) == 0)
            return 1;
    return 0;
}

static cu_rc list_add(cu_backup_info **out, size_t *n, size_t *cap, const cu_backup_info *b,
                      cu_err *err)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        cu_backup_info *m = realloc(*out, c * sizeof(*m));
        if (m == NULL)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        *out = m;
        *cap = c;
    }
    (*out)[(*n)++] = *b;
    return CU_OK;
}

cu_rc cu_backup_list(cu_vault *v, const char *dir, cu_backup_info **out, size_t *n, cu_err *err)
{
    size_t cap = 0, nk = 0, el = strlen(CU_BACKUP_MANIFEST_EXT);
    char kd[PATH_MAX];
    cu_bkey *keys = NULL;
    struct dirent *e;
    cu_rc rc;
    DIR *d;

    *out = NULL;
    *n = 0;
    if ((d = opendir(dir)) == NULL)
        return cu_err_set(err, errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO,
                          "could not read \"%s\": %s", dir, strerror(errno));
    rc = cu_bkeys_list(keys_dir(v, kd), &keys, &nk, err);
    while (rc == CU_OK && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char path[PATH_MAX];
        cu_manifest m;
        cu_err ignored = {0};
        if (len != 32 + el || strcmp(e->d_name + 32, CU_BACKUP_MANIFEST_EXT) != 0 ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path))
            continue;
        /* One not signed by this vault is not listed (nor expired: not ours to delete). */
        if (cu_manifest_read(path, v->audit_pk, &m, &ignored) != CU_OK)
            continue;
        m.info.key_present = key_listed(keys, nk, m.info.id);
        rc = list_add(out, n, &cap, &m.info, err);
        cu_manifest_cleanup(&m);
    }
    closedir(d);
    free(keys);
    if (rc == CU_OK && *n > 1)
        qsort(*out, *n, sizeof(**out), by_created);
    if (rc != CU_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static void unlink_backup(const char *dir, const char *id)
{
    char path[PATH_MAX];

    if (dir == NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s%s", dir, id, CU_BACKUP_EXT);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s%s", dir, id, CU_BACKUP_MANIFEST_EXT);
    unlink(path);
}

/* P-RET-3: the key first (every copy of the backup becomes unreadable), audited, then the
 * files. */
static cu_rc expire_one(cu_vault *v, const cu_ctx *ctx, const char *dir, const char *id,
                        cu_err *err)
{
    char kd[PATH_MAX];
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_bkeys_remove(keys_dir(v, kd), id, err)) != CU_OK)
        return rc;
    cu_audit_in_set(&a, 0, "backup.expire", "backup:%s", id);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        return rc;
    unlink_backup(dir, id);
    return CU_OK;
}

cu_rc cu_backup_expire(cu_vault *v, const cu_ctx *ctx, const char *dir, size_t *expired,
                       cu_err *err)
{
    int64_t now = cu_clock_now();
    cu_backup_info *list = NULL;
    cu_bkey *keys = NULL;
    size_t nk = 0, n = 0, count = 0;
    char kd[PATH_MAX];
    cu_rc rc;

    pthread_mutex_lock(&backup_lock);
    rc = cu_bkeys_list(keys_dir(v, kd), &keys, &nk, err);
    for (size_t i = 0; rc == CU_OK && i < nk; i++)
        if (keys[i].expires_at <= now && (rc = expire_one(v, ctx, dir, keys[i].id, err)) == CU_OK)
            count++;
    /* Files whose key already went (a crash between the two steps, or a key removed). */
    if (rc == CU_OK && dir != NULL && (rc = cu_backup_list(v, dir, &list, &n, err)) == CU_OK)
        for (size_t i = 0; i < n; i++)
            if (!list[i].key_present && list[i].expires_at <= now)
                unlink_backup(dir, list[i].id);
    pthread_mutex_unlock(&backup_lock);
    free(list);
    free(keys);
    if (expired != NULL)
        *expired = count;
    refresh_stats(v, dir, 0);
    return rc;
}
