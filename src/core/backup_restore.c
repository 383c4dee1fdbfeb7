/*
 * backup_restore.c: restoring and verifying a backup (P-BAK-1, P-BAK-2; docs/backup.md).
 *
 * Both decrypt into a fresh private directory: beside the target for a restore (renamed into
 * place at the very end, so a crash leaves only that temporary directory, which no restore
 * takes and the next restore to the same target removes), in the key directory for a verify
 * (removed after). Before the restored vault is handed over: the manifest's signature under
 * the signer in backup.keys, the backup file's hash and size, every message of its stream,
 * every audit chain (and its head against the manifest's), and the erasure journal replayed:
 * every subject erased, tenant purged or key destroyed since stays so (P-BAK-2).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_int.h"
#include "journal_int.h"
#include "store_migrate.h"
#include "store_sqlite.h"
#include "util.h"

#define SAMPLE_SUBJECTS 5

typedef struct trial {
    const cu_restore_opts *o;
    char dir[PATH_MAX];      /* the temporary directory */
    char kdir[PATH_MAX];     /* backup.keys and the journal: o->keys_dir, or the key file's */
    char kpath[PATH_MAX];    /* the master key file: o->key_file, or kdir's master.key */
    int apart;               /* a restore whose key file stays apart (o->key_file): the
                                restored vault opens with it, no key file is copied in */
    char manifest[PATH_MAX], file[PATH_MAX];
    uint8_t pk[32];
    cu_manifest m;
    cu_keyring *ring;
    cu_journal_entry *journal;
    size_t njournal;
    int have_journal;
    char jpath[PATH_MAX];    /* the journal read */
    int fds[2];              /* audit.key, custos.db while decrypting */
    cu_restore_report *rep;
} trial;

static cu_rc join(char *out, const char *dir, const char *name, cu_err *err)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "path too long");
    return CU_OK;
}

/* The manifest and file paths from what the operator named: either, or the id's stem. */
static cu_rc backup_paths(trial *t, cu_err *err)
{
    const char *b = t->o->backup;
    size_t len = b ? strlen(b) : 0, stem = len;
    size_t me = strlen(CU_BACKUP_MANIFEST_EXT), fe = strlen(CU_BACKUP_EXT);

    if (len == 0)
        return cu_err_set(err, CU_ERR_INVALID, "no backup named");
    if (len > me && strcmp(b + len - me, CU_BACKUP_MANIFEST_EXT) == 0)
        stem = len - me;
    else if (len > fe && strcmp(b + len - fe, CU_BACKUP_EXT) == 0)
        stem = len - fe;
    if (stem + me + 1 > PATH_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "path too long");
    snprintf(t->manifest, PATH_MAX, "%.*s%s", (int)stem, b, CU_BACKUP_MANIFEST_EXT);
    snprintf(t->file, PATH_MAX, "%.*s%s", (int)stem, b, CU_BACKUP_EXT);
    return CU_OK;
}

/* The keys, the signer and the signed manifest; the journal unless refused. */
static cu_rc load_inputs(trial *t, cu_err *err)
{
    char path[PATH_MAX];
    cu_rc rc;

    if ((rc = backup_paths(t, err)) != CU_OK ||
        (rc = cu_keyring_load(t->kpath, t->o->passphrase, &t->ring, err)) != CU_OK)
        return rc;
    if ((rc = cu_bkeys_signer(t->kdir, t->pk, err)) != CU_OK)
        return rc == CU_ERR_NOT_FOUND
                   ? cu_err_set(err, CU_ERR_KEY, "no backup key file in \"%s\": no backup of "
                                "this vault can be read", t->kdir)
                   : rc;
    if ((rc = cu_manifest_read(t->manifest, t->pk, &t->m, err)) != CU_OK)
        return rc;
    if (t->o->no_journal)
        return CU_OK;
    if (t->o->journal != NULL)
        cu_strlcpy(path, t->o->journal, sizeof(path));
    else if ((rc = join(path, t->kdir, CU_JOURNAL_FILE, err)) != CU_OK)
        return rc;
    cu_strlcpy(t->jpath, path, sizeof(t->jpath));
    rc = cu_journal_load(path, t->pk, &t->journal, &t->njournal, err);
    if (rc == CU_ERR_NOT_FOUND || rc == CU_ERR_IO)
        return cu_err_set(err, CU_ERR_NOT_FOUND,
                          "no erasure journal at \"%s\": a restore without it could bring erased "
                          "data back; give --journal FILE, or --no-journal to restore without "
                          "(audited)", path);
    t->have_journal = rc == CU_OK;
    /* A journal older than the backup (a copy taken before it, or cut at a line) would miss
     * erasures the backup's own journal head counted. */
    if (rc == CU_OK && (t->njournal == 0 ? 0 : t->journal[t->njournal - 1].seq) <
                           t->m.info.journal_seq)
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the erasure journal \"%s\" ends before the "
                        "backup's (line %llu): give a newer one", path,
                        (unsigned long long)t->m.info.journal_seq);
    return rc;
}

static cu_rc put_plain(void *arg, size_t index, const uint8_t *p, size_t n, cu_err *err)
{
    trial *t = arg;
    int fd = t->fds[index == 0 ? 0 : 1];

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cu_err_set(err, CU_ERR_IO, "could not write the restored database: %s",
                              strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return CU_OK;
}

/* The backup decrypted into t->dir: audit.key and custos.db; the key files beside them. */
static cu_rc decrypt_into(trial *t, cu_err *err)
{
    static const char *const names[2] = {"audit.key", "custos.db"};
    uint8_t key[CU_KEYBYTES];
    char path[PATH_MAX], src[PATH_MAX];
    cu_bkey k;
    cu_rc rc;

    if ((rc = cu_bkeys_get(t->kdir, t->ring, t->m.info.id, &k, key, err)) != CU_OK)
        return rc;
    for (int i = 0; i < 2 && rc == CU_OK; i++) {
        if ((rc = join(path, t->dir, names[i], err)) != CU_OK)
            break;
        t->fds[i] = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (t->fds[i] < 0)
            rc = cu_err_set(err, CU_ERR_IO, "could not create \"%s\": %s", path, strerror(errno));
    }
    if (rc == CU_OK)
        rc = cu_bread(t->file, t->m.info.id, key, t->m.sha256, t->m.info.bytes, put_plain, t,
                      t->o->progress, t->o->progress_arg, err);
    cu_wipe(key, sizeof(key));
    for (int i = 0; i < 2; i++)
        if (t->fds[i] >= 0 && fsync(t->fds[i]) != 0 && rc == CU_OK)
            rc = cu_err_set(err, CU_ERR_IO, "could not sync the restored files");
    /* With its key file apart, the restored vault keeps using it, backup.keys and the journal
     * beside it (docs/keys.md: the key file is not copied next to the data). */
    if (t->apart)
        return rc;
    if (rc == CU_OK && (rc = join(path, t->dir, CU_KEYRING_FILE, err)) == CU_OK)
        rc = cu_backup_copy_file(t->kpath, path, err);
    if (rc == CU_OK && (rc = join(src, t->kdir, CU_BACKUP_KEYS_FILE, err)) == CU_OK &&
        (rc = join(path, t->dir, CU_BACKUP_KEYS_FILE, err)) == CU_OK)
        rc = cu_backup_copy_file(src, path, err);
    /* The restored vault's journal goes on from the one replayed. */
    if (rc == CU_OK && t->have_journal && (rc = join(path, t->dir, CU_JOURNAL_FILE, err)) == CU_OK)
        rc = cu_backup_copy_file(t->jpath, path, err);
    return rc;
}

static const cu_ctx restore_ctx = {.actor = "restore", .purpose = "administration",
                                   .flags = CU_CTX_LOCAL};

/* Every chain verifies, and ends where the manifest says it did. */
static cu_rc check_chains(cu_vault *v, trial *t, cu_err *err)
{
    for (size_t i = 0; i < t->m.nheads; i++) {
        const cu_bhead *h = &t->m.heads[i];
        cu_audit_report r;
        uint8_t hash[32];
        uint64_t seq = 0;
        cu_rc rc;
        if ((rc = cu_store_audit_head(v->store, h->tenant, &seq, hash, err)) != CU_OK)
            return rc;
        if (seq != h->seq || !cu_ct_equal(hash, h->hash, 32))
            return cu_err_set(err, CU_ERR_CRYPTO, "the restored audit log of tenant %llu does "
                              "not end where the manifest says", (unsigned long long)h->tenant);
        if ((rc = cu_audit_verify(v, &restore_ctx, h->tenant, &r, err)) != CU_OK)
            return rc;
        if (!r.ok)
            return cu_err_set(err, CU_ERR_CRYPTO, "the restored audit log of tenant %llu does "
                              "not verify at %llu: %s", (unsigned long long)h->tenant,
                              (unsigned long long)r.first_bad_seq, r.problem);
        t->rep->chains++;
        t->rep->audit_entries += r.entries;
    }
    return CU_OK;
}

/* A few subjects of each tenant read back (decrypted). */
static cu_rc sample(cu_vault *v, trial *t, cu_err *err)
{
    for (size_t i = 1; i < t->m.nheads; i++) {
        cu_id *ids = NULL;
        size_t n = 0;
        cu_rc rc = cu_store_subject_ids(v->store, t->m.heads[i].tenant, 0, SAMPLE_SUBJECTS, &ids,
                                        &n, err);
        for (size_t j = 0; rc == CU_OK && j < n; j++) {
            cu_subject s = {0};
            rc = cu_subject_get(v, &restore_ctx, t->m.heads[i].tenant, ids[j], &s, err);
            if (rc == CU_ERR_TERMINATED || rc == CU_ERR_NOT_FOUND) { /* not readable by design */
                rc = CU_OK;
                memset(err, 0, sizeof(*err));
                continue;
            }
            cu_subject_cleanup(&s);
            t->rep->sampled += rc == CU_OK;
        }
        free(ids);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}

/* Opens the restored vault: checks, replays the journal, audits, samples (verify). */
static cu_rc check_vault(trial *t, int verify, cu_err *err)
{
    cu_vault_opts vo = {.data_dir = t->dir, .passphrase = t->o->passphrase,
                        .key_file = t->apart ? t->kpath : NULL,
                        .allow_xchacha = t->o->allow_xchacha};
    cu_replay_counts c = {0};
    cu_vault *v = NULL;
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_vault_open(&vo, &v, err)) != CU_OK)
        return rc;
    rc = check_chains(v, t, err);
    /* P-BAK-2: every erasure since (and before: replaying one twice finds it done). */
    if (rc == CU_OK && t->have_journal)
        rc = cu_journal_replay(v, t->journal, t->njournal, &c, err);
    t->rep->journal_entries = t->njournal;
    t->rep->replayed = c.applied;
    t->rep->already = c.absent;
    if (rc == CU_OK && verify)
        rc = sample(v, t, err);
    if (rc == CU_OK) {
        cu_audit_in_set(&a, 0,
                        verify               ? "backup.verify"
                        : t->o->no_journal ? "backup.restore_unjournaled"
                                           : "backup.restore",
                        "backup:%s", t->m.info.id);
        rc = cu_commit(v, &restore_ctx, NULL, 0, &a, 1, err);
    }
    if (rc == CU_OK) /* P-DSR-4's discipline: no WAL frame keeps a replayed erasure's bytes */
        rc = cu_store_checkpoint(v->store, err);
    cu_vault_close(v);
    return rc;
}

static void trial_cleanup(trial *t)
{
    for (int i = 0; i < 2; i++)
        if (t->fds[i] >= 0)
            close(t->fds[i]);
    cu_manifest_cleanup(&t->m);
    cu_keyring_free(t->ring);
    free(t->journal);
}

static cu_rc run_trial(trial *t, int verify, cu_err *err)
{
    cu_rc rc = load_inputs(t, err);

    if (rc == CU_OK && mkdtemp(t->dir) == NULL)
        rc = cu_err_set(err, CU_ERR_IO, "could not make a temporary directory: %s",
                        strerror(errno));
    else if (rc != CU_OK)
        t->dir[0] = '\0';
    if (rc == CU_OK)
        rc = decrypt_into(t, err);
    for (int i = 0; i < 2; i++)
        if (t->fds[i] >= 0) {
            close(t->fds[i]);
            t->fds[i] = -1;
        }
    if (rc == CU_OK)
        rc = check_vault(t, verify, err);
    memcpy(t->rep->id, t->m.info.id, sizeof(t->rep->id));
    t->rep->created_at = t->m.info.created_at;
    t->rep->bytes = t->m.info.bytes;
    return rc;
}

/* Where the keys are: keys_dir, else the key file's directory; the key file, else
 * keys_dir's master.key. */
static cu_rc key_paths(trial *t, cu_err *err)
{
    const cu_restore_opts *o = t->o;
    char copy[PATH_MAX];

    if (o->keys_dir != NULL) {
        cu_strlcpy(t->kdir, o->keys_dir, sizeof(t->kdir));
    } else {
        if (strlen(o->key_file) >= sizeof(copy))
            return cu_err_set(err, CU_ERR_INVALID, "key file path too long");
        cu_strlcpy(copy, o->key_file, sizeof(copy));
        cu_strlcpy(t->kdir, dirname(copy), sizeof(t->kdir));
    }
    if (o->key_file == NULL)
        return join(t->kpath, t->kdir, CU_KEYRING_FILE, err);
    if (strlen(o->key_file) >= sizeof(t->kpath))
        return cu_err_set(err, CU_ERR_INVALID, "key file path too long");
    cu_strlcpy(t->kpath, o->key_file, sizeof(t->kpath));
    return CU_OK;
}

static cu_rc start(const cu_restore_opts *o, trial *t, cu_restore_report *rep, cu_err *err)
{
    cu_rc rc;

    memset(t, 0, sizeof(*t));
    memset(rep, 0, sizeof(*rep));
    t->o = o;
    t->rep = rep;
    t->fds[0] = t->fds[1] = -1;
    if (o == NULL || (o->keys_dir == NULL && o->key_file == NULL) || o->backup == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "no key directory, key file or backup given");
    if ((rc = key_paths(t, err)) != CU_OK)
        return rc;
    cu_json_use_wiping_free();
    return cu_crypto_init(o->allow_xchacha, err);
}

cu_rc cu_backup_verify(const cu_restore_opts *o, cu_restore_report *rep, cu_err *err)
{
    trial t;
    cu_rc rc;

    if ((rc = start(o, &t, rep, err)) != CU_OK)
        return rc;
    if ((size_t)snprintf(t.dir, sizeof(t.dir), "%s/.verify-XXXXXX", t.kdir) >=
        sizeof(t.dir))
        return cu_err_set(err, CU_ERR_INVALID, "key directory path too long");
    rc = run_trial(&t, 1, err);
    if (t.dir[0] != '\0')
        cu_backup_rmdir(t.dir);
    trial_cleanup(&t);
    cu_backup_note_verified(rc == CU_OK);
    return rc;
}

/* The target must not exist, or be an empty directory. Removes the temporary directories a
 * crashed restore to the same target left. */
static cu_rc target_check(const char *target, int *exists, cu_err *err)
{
    char copy[PATH_MAX], copy2[PATH_MAX], *parent, *base, path[PATH_MAX];
    struct dirent *e;
    size_t bl;
    DIR *d;

    *exists = 0;
    if ((d = opendir(target)) != NULL) {
        int n = 0;
        while ((e = readdir(d)) != NULL)
            n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        closedir(d);
        if (n > 0)
            return cu_err_set(err, CU_ERR_EXISTS, "\"%s\" is not empty: restore into a new "
                              "directory", target);
        *exists = 1;
    } else if (errno != ENOENT)
        return cu_err_set(err, CU_ERR_EXISTS, "\"%s\" exists and is not a directory", target);
    cu_strlcpy(copy, target, sizeof(copy));
    cu_strlcpy(copy2, target, sizeof(copy2));
    parent = dirname(copy);
    base = basename(copy2);
    bl = strlen(base);
    if ((d = opendir(parent)) == NULL)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no directory \"%s\"", parent);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, base, bl) == 0 && strncmp(e->d_name + bl, ".restore-", 9) == 0 &&
            (size_t)snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) < sizeof(path))
            cu_backup_rmdir(path);
    closedir(d);
    return CU_OK;
}

/* A PostgreSQL target: the restored, checked and replayed SQLite database copied into it with
 * `custos migrate`'s copy (one transaction: all of it or nothing), then removed with its files
 * from the temporary directory, which keeps the key files the vault opens with. The erasure
 * journal was replayed before (P-BAK-2): the copy carries no erased subject's row. */
static cu_rc into_store(trial *t, const char *store, cu_err *err)
{
    static const char *const files[] = {CU_STORE_SQLITE_FILE, CU_STORE_SQLITE_FILE "-wal",
                                        CU_STORE_SQLITE_FILE "-shm", "custos.lock"};
    cu_migrate_report mrep;
    char path[PATH_MAX];
    cu_rc rc;

    if ((rc = join(path, t->dir, CU_STORE_SQLITE_FILE, err)) != CU_OK ||
        (rc = cu_store_migrate_sqlite_to_pg(path, store, &mrep, err)) != CU_OK)
        return rc;
    for (size_t i = 0; i < CU_ARRAY_LEN(files); i++)
        if (join(path, t->dir, files[i], err) == CU_OK && unlink(path) != 0 && errno != ENOENT)
            return cu_err_set(err, CU_ERR_IO, "could not remove the restored copy \"%s\": %s",
                              path, strerror(errno));
    return CU_OK;
}

/* A restore's store, if not target/custos.db: a PostgreSQL database that holds no vault. */
static cu_rc store_check(const char *store, cu_err *err)
{
    if (store == NULL)
        return CU_OK;
    if (strncmp(store, "postgresql://", 13) != 0 && strncmp(store, "postgres://", 11) != 0)
        return cu_err_set(err, CU_ERR_INVALID, "a restore's store is a postgresql:// database "
                          "(a SQLite vault is restored into the target directory)");
    return cu_store_migrate_pg_empty(store, err);
}

cu_rc cu_backup_restore(const cu_restore_opts *o, cu_restore_report *rep, cu_err *err)
{
    int exists = 0;
    trial t;
    cu_rc rc;

    if ((rc = start(o, &t, rep, err)) != CU_OK)
        return rc;
    if (o->target == NULL || o->target[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "no target directory given");
    if ((rc = target_check(o->target, &exists, err)) != CU_OK ||
        (rc = store_check(o->store, err)) != CU_OK)
        return rc;
    if ((size_t)snprintf(t.dir, sizeof(t.dir), "%s.restore-XXXXXX", o->target) >= sizeof(t.dir))
        return cu_err_set(err, CU_ERR_INVALID, "target path too long");
    t.apart = o->key_file != NULL;
    rc = run_trial(&t, 0, err);
    /* Into PostgreSQL before the rename: a failure leaves the database empty (the copy is one
     * transaction) and no target directory. */
    if (rc == CU_OK && o->store != NULL)
        rc = into_store(&t, o->store, err);
    if (CU_FAULT("backup.restore_before_rename"))
        _exit(70);
    /* The one step that makes it the target's: nothing before it is taken by anyone. */
    if (rc == CU_OK && exists && rmdir(o->target) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not replace \"%s\": %s", o->target,
                        strerror(errno));
    if (rc == CU_OK && rename(t.dir, o->target) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not move the restored vault into \"%s\": %s",
                        o->target, strerror(errno));
    if (rc != CU_OK && t.dir[0] != '\0')
        cu_backup_rmdir(t.dir);
    trial_cleanup(&t);
    return rc;
}
