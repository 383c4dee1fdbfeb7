/*
 * test_epoch.c: key epochs (issue 11, item 4; P-RET-3, P-ENC-5; docs/keys.md, Key epochs).
 *
 * A raw copy of the data directory taken before an erasure (on PostgreSQL with a copy of its
 * database, CREATE DATABASE ... TEMPLATE), opened with the vault's current key file: within
 * the window it still reads the erased subject (documented), after the window (the master
 * version it references destroyed) it no longer opens, with a clear error. The same copy with the key file of its time reads forever: why the key file is kept
 * apart from the data directory (--key-file). A retired master version still referenced by
 * the database is never destroyed; deletions mark an epoch due; the window is the longest
 * backup window the vault allows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "epoch_int.h" /* cu_epoch_lease: another server's epoch, running */
#include "th.h"
#include "util.h"

#define T0 1800000000LL /* the test clock's start (2027-01-15) */
#define DAY 86400LL

static const cu_ctx CTX = {.actor = "test", .purpose = "administration", .flags = 4};

typedef struct fx {
    char dir[256];
    char data[300];
    char keys[300];    /* a directory of key files outside the data directory */
    char keyfile[340]; /* the vault's key file, in keys */
    cu_vault *v;
    cu_id tenant;
} fx;

static cu_vault *open_with(const char *data, const char *keyfile, cu_rc want, cu_err *err)
{
    cu_vault_opts o = {.data_dir = data, .key_file = keyfile, .store = th_store(data)};
    cu_vault *v = NULL;

    assert_int_equal(cu_vault_open(&o, &v, err), want);
    return v;
}

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_vault_opts o = {0};
    cu_tenant t;
    cu_err err = {0};

    cu_clock_set(T0);
    th_tmpdir(f->dir);
    if (snprintf(f->data, sizeof(f->data), "%s/data", f->dir) >= (int)sizeof(f->data) ||
        snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir) >= (int)sizeof(f->keys) ||
        snprintf(f->keyfile, sizeof(f->keyfile), "%s/master.key", f->keys) >=
            (int)sizeof(f->keyfile))
        fail_msg("path too long");
    assert_int_equal(mkdir(f->keys, 0700), 0);
    o.data_dir = f->data;
    o.store = th_store_new(f->data);
    o.key_file = f->keyfile;
    assert_int_equal(cu_vault_init(&o, &err), CU_OK);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

static cu_id add_subject(fx *f, const char *ext, const char *email)
{
    cu_subject_in in = {.external_id = ext, .email = email};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, f->tenant, &in, &id, &err) != CU_OK)
        fail_msg("subject: %s", err.msg);
    return id;
}

/* Copies the files of the data directory (the vault closed) into dir/name, as an operator's
 * copy would; on PostgreSQL the vault's database too (CREATE DATABASE ... TEMPLATE, the
 * server's own copy of every row as it stands, which a dump or a base backup restores), so
 * that the copy at dir/name opens on a database of its own. */
static void copy_data(fx *f, const char *name, char out[300])
{
    static const char *const files[] = {"custos.db", "custos.db-wal", "custos.db-shm", "audit.key"};
    char from[600], to[600];
    struct stat st;

    if (snprintf(out, 300, "%s/%s", f->dir, name) >= 300)
        fail_msg("path too long");
    assert_int_equal(mkdir(out, 0700), 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (snprintf(from, sizeof(from), "%s/%s", f->data, files[i]) >= (int)sizeof(from) ||
            snprintf(to, sizeof(to), "%s/%s", out, files[i]) >= (int)sizeof(to))
            fail_msg("path too long");
        if (stat(from, &st) == 0) {
            assert_int_equal(th_copy(from, to), 0);
            assert_int_equal(chmod(to, 0600), 0);
        }
    }
    th_vault_copy(f->data, out);
}

/* A copy of the vault's key file as it is now, at keys/<name>. */
static void copy_key(fx *f, const char *name, char out[360])
{
    if (snprintf(out, 360, "%s/%s", f->keys, name) >= 360)
        fail_msg("path too long");
    unlink(out);
    assert_int_equal(th_copy(f->keyfile, out), 0);
    assert_int_equal(chmod(out, 0600), 0);
}

/* The subject's email as the copy at data, opened with keyfile, answers it; CU_OK or the
 * open's error. */
static cu_rc read_email(const char *data, const char *keyfile, cu_id tenant, cu_id subject,
                        const char *want, cu_err *err)
{
    cu_vault_opts o = {.data_dir = data, .key_file = keyfile, .store = th_store(data)};
    cu_vault *v = NULL;
    cu_subject s;
    cu_rc rc;

    if ((rc = cu_vault_open(&o, &v, err)) != CU_OK)
        return rc;
    rc = cu_subject_get(v, NULL, tenant, subject, &s, err);
    if (rc == CU_OK) {
        assert_string_equal(s.email, want);
        cu_subject_cleanup(&s);
    }
    cu_vault_close(v);
    return rc;
}

/* The copy taken before the erasure (copy), the erasure and its key epoch (version 2, the
 * old one retired at T0 + 60). */
static cu_id copy_erase_rotate(fx *f, char copy[300], char oldkey[360])
{
    cu_id s = add_subject(f, "crm-1", "ada@example.com");
    cu_key_epoch_report rep;
    cu_err err = {0};

    add_subject(f, "crm-2", "bob@example.com");
    cu_vault_close(f->v);
    copy_data(f, "copy", copy);
    copy_key(f, "at-copy.key", oldkey);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->tenant, s, &err), CU_OK);
    cu_clock_set(T0 + 60);
    assert_int_equal(cu_key_epoch(f->v, &CTX, 0, &rep, &err), CU_OK);
    assert_true(rep.pending);
    assert_true(rep.rotated);
    assert_int_equal(rep.version, 2);
    assert_int_equal(rep.retire.retained, 1);
    assert_int_equal(rep.retire.next_destroy, T0 + 60 + 30 * DAY);
    return s;
}

static int has_entry(fx *f, const char *action, const char *object)
{
    cu_audit_entry *e = NULL;
    cu_audit_filter flt = {.action = action};
    cu_err err = {0};
    size_t n = 0;
    int found = 0;

    assert_int_equal(cu_audit_list(f->v, &CTX, 0, &flt, &e, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        found |= strcmp(e[i].object, object) == 0;
    free(e);
    return found;
}

/* (a) A raw copy plus the vault's current key file: readable within the window (the old
 * version is kept for the backups that may need it), closed after it. */
static void test_P_RET_3_raw_copy_with_the_current_key_file_closes_after_the_window(void **state)
{
    fx *f = *state;
    char copy[300], oldkey[360], now[360];
    cu_key_retire_report rr;
    cu_err err = {0};
    cu_id s = copy_erase_rotate(f, copy, oldkey);

    cu_subject gone;

    /* The live vault: the erased subject is gone. */
    copy_key(f, "now.key", now);
    assert_int_equal(cu_subject_get(f->v, NULL, f->tenant, s, &gone, &err), CU_ERR_NOT_FOUND);
    /* Within the window, the copy with today's key file still reads it (documented). */
    assert_int_equal(read_email(copy, now, f->tenant, s, "ada@example.com", &err), CU_OK);
    cu_clock_set(T0 + 60 + 30 * DAY - 1);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 0);
    assert_int_equal(rr.retained, 1);
    /* The window has passed: version 1 is destroyed, audited. */
    cu_clock_set(T0 + 60 + 30 * DAY);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 1);
    assert_int_equal(rr.retained, 0);
    assert_int_equal(rr.current, 2);
    assert_false(th_file_contains(f->keyfile, "\nkey 1 ", 7));
    assert_true(has_entry(f, "key.destroy", "master:1"));
    copy_key(f, "now.key", now);
    /* The copy no longer opens, with a clear error, not garbage. */
    memset(&err, 0, sizeof(err));
    assert_int_equal(read_email(copy, now, f->tenant, s, NULL, &err), CU_ERR_KEY);
    assert_non_null(strstr(err.msg, "destroyed at the end of its key epoch"));
    /* The live vault reads as before, also after a reopen. */
    cu_vault_close(f->v);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
}

/* (b) The same copy with the key file of its time reads forever: no key epoch reaches a key
 * file copied with the data, which is why the key file lives apart (--key-file). */
static void test_P_RET_3_raw_copy_with_its_own_key_file_still_reads(void **state)
{
    fx *f = *state;
    char copy[300], oldkey[360];
    cu_key_retire_report rr;
    cu_err err = {0};
    cu_id s = copy_erase_rotate(f, copy, oldkey);

    cu_clock_set(T0 + 365 * DAY);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 1);
    assert_int_equal(read_email(copy, oldkey, f->tenant, s, "ada@example.com", &err), CU_OK);
}

/* P-ENC-5: a retired version the database references (here a tenant key put back under it,
 * as a restored database would hold) stays in the key file past its window. */
static void test_P_ENC_5_a_referenced_master_version_is_never_destroyed(void **state)
{
    fx *f = *state;
    cu_id s = add_subject(f, "crm-1", "ada@example.com");
    cu_key_retire_report rr;
    unsigned version = 0;
    cu_err err = {0};

    cu_vault_close(f->v);
    assert_int_equal(th_sql(f->data, "CREATE TABLE old_wrap AS SELECT * FROM keys WHERE kind = 1"),
                     0);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, NULL, &err), CU_OK);
    assert_int_equal(version, 2);
    cu_vault_close(f->v);
    assert_int_equal(th_sql(f->data, "UPDATE keys SET wrapped = (SELECT wrapped FROM old_wrap),"
                                     " parent_version = 1 WHERE kind = 1"),
                     0);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
    cu_clock_set(T0 + 400 * DAY);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 0);
    assert_int_equal(rr.referenced, 1);
    assert_true(th_file_contains(f->keyfile, "\nkey 1 ", 7));
    assert_false(has_entry(f, "key.destroy", "master:1"));
    /* Still readable, also after a reopen. */
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(read_email(f->data, f->keyfile, f->tenant, s, "ada@example.com", &err), CU_OK);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
}

typedef struct crash_arg {
    const char *data, *keyfile;
} crash_arg;

static void child_retire(void *p)
{
    crash_arg *a = p;
    cu_vault_opts o = {.data_dir = a->data, .key_file = a->keyfile, .store = th_store(a->data)};
    cu_key_retire_report rr;
    cu_vault *v = NULL;
    cu_err err = {0};

    if (cu_vault_open(&o, &v, &err) != CU_OK)
        _exit(3);
    if (cu_key_retire(v, &CTX, &rr, &err) != CU_OK)
        _exit(4);
    cu_vault_close(v);
}

/* P-ENC-5: a retirement killed after its audit entry, before the key file is rewritten, leaves
 * the version in the key file and every record readable; the next pass destroys it. */
static void test_P_ENC_5_retirement_survives_a_crash(void **state)
{
    fx *f = *state;
    cu_id s = add_subject(f, "crm-1", "ada@example.com");
    crash_arg a = {.data = f->data, .keyfile = f->keyfile};
    cu_key_retire_report rr;
    unsigned version = 0;
    cu_err err = {0};

    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, NULL, &err), CU_OK);
    cu_vault_close(f->v);
    f->v = NULL;
    cu_clock_set(T0 + 31 * DAY);
    assert_int_equal(th_crash_at("retire.audited", child_retire, &a), 70);
    assert_true(th_file_contains(f->keyfile, "\nkey 1 ", 7));
    assert_int_equal(read_email(f->data, f->keyfile, f->tenant, s, "ada@example.com", &err), CU_OK);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
    /* The crashed child's key_epoch lease: SQLite frees it at open (its flock says the holder is
     * gone); a shared database keeps it until its expiry, 600 s, which the test does not wait. */
    assert_int_equal(th_sql(f->data, "DELETE FROM leases"), 0);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 1);
    assert_false(th_file_contains(f->keyfile, "\nkey 1 ", 7));
}

static int epoch_due(fx *f)
{
    cu_key_version_info *list = NULL;
    cu_err err = {0};
    size_t n = 0;
    int pending = -1;

    assert_int_equal(cu_key_versions(f->v, &list, &n, &pending, &err), CU_OK);
    free(list);
    return pending;
}

/* An erasure, a record deleted: an epoch is due, durably (after a reopen too); the rotation
 * clears it; min_age spaces rotations by the age the key file gives the current version. */
static void test_P_RET_3_deletions_make_a_key_epoch_due(void **state)
{
    fx *f = *state;
    cu_id s = add_subject(f, "crm-1", NULL), r = 0;
    cu_key_epoch_report rep;
    cu_err err = {0};

    assert_int_equal(epoch_due(f), 0);
    assert_int_equal(cu_key_epoch(f->v, &CTX, 0, &rep, &err), CU_OK);
    assert_false(rep.rotated);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->tenant, s, &err), CU_OK);
    cu_vault_close(f->v);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
    assert_int_equal(epoch_due(f), 1);
    assert_int_equal(cu_key_epoch(f->v, &CTX, 3600, &rep, &err), CU_OK);
    assert_true(rep.rotated); /* nothing dates version 1: any age */
    assert_int_equal(epoch_due(f), 0);
    assert_int_equal(cu_record_put(f->v, NULL, f->tenant, "notes", 0, "{\"a\":1}", 7, &r, &err),
                     CU_OK);
    assert_int_equal(epoch_due(f), 0);
    assert_int_equal(cu_record_delete(f->v, NULL, f->tenant, r, &err), CU_OK);
    assert_int_equal(epoch_due(f), 1);
    cu_clock_set(T0 + 3599);
    assert_int_equal(cu_key_epoch(f->v, &CTX, 3600, &rep, &err), CU_OK);
    assert_false(rep.rotated); /* version 2 became current at T0 */
    cu_clock_set(T0 + 3600);
    assert_int_equal(cu_key_epoch(f->v, &CTX, 3600, &rep, &err), CU_OK);
    assert_true(rep.rotated);
    assert_int_equal(rep.version, 3);
    assert_int_equal(rep.retire.retained, 2);
}

/* A vault from before key epochs (schema 16, no triggers) may have erased already: once
 * upgraded, an epoch is due; a new vault starts without one (above). */
static void test_P_RET_3_an_upgraded_vault_starts_with_an_epoch_due(void **state)
{
    th_sqlite_only("SQLite's migration 18 from an older file");
    fx *f = *state;
    cu_err err = {0};

    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(th_sql(f->data, "DROP TRIGGER epoch_key_deleted; DROP TRIGGER"
                                     " epoch_record_deleted; DROP TRIGGER epoch_record_anonymized;"
                                     " DROP TRIGGER epoch_user_deleted; DROP TRIGGER epoch_rotated;"
                                     " PRAGMA user_version = 17;"),
                     0);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
    /* 18 -> 19, and on to the newest (21: the webhook outbox) */
    assert_true(th_sql_int(f->data, "PRAGMA user_version") >= 19);
    assert_int_equal(epoch_due(f), 1);
}

/* The window is the longest backup lifetime the vault allows: a tenant policy's backup_window
 * of 60 days beats the default 30. */
static void test_P_RET_3_the_window_is_the_longest_backup_window(void **state)
{
    fx *f = *state;
    cu_key_version_info *list = NULL;
    cu_key_retire_report rr;
    char *text = NULL, *at;
    size_t len = 0, n = 0;
    unsigned version = 0;
    int pending = 0;
    cu_err err = {0};

    assert_int_equal(cu_file_read("policies/scm.yaml", 1 << 20, &text, &len, &err), CU_OK);
    at = strstr(text, "backup_window: 30d");
    assert_non_null(at);
    memcpy(at, "backup_window: 60d", 18);
    assert_int_equal(cu_tenant_set_policy(f->v, &CTX, f->tenant, text, len, "scm", NULL, &err),
                     CU_OK);
    free(text);
    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, NULL, &err), CU_OK);
    assert_int_equal(cu_key_versions(f->v, &list, &n, &pending, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].version, 1);
    assert_int_equal(list[0].retired_at, T0);
    assert_int_equal(list[0].destroy_at, T0 + 60 * DAY);
    assert_true(list[1].current);
    free(list);
    cu_clock_set(T0 + 59 * DAY);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 0);
    cu_clock_set(T0 + 60 * DAY);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 1);
}

/* Sets the tenant's policy to scm's with the given backup_window ("30d" or "60d"). */
static void set_backup_window(fx *f, const char *window)
{
    char *text = NULL, *at;
    size_t len = 0;
    cu_err err = {0};

    assert_int_equal(cu_file_read("policies/scm.yaml", 1 << 20, &text, &len, &err), CU_OK);
    at = strstr(text, "backup_window: 30d");
    assert_non_null(at);
    memcpy(at + strlen("backup_window: "), window, 3);
    assert_int_equal(cu_tenant_set_policy(f->v, &CTX, f->tenant, text, len, "scm", NULL, &err),
                     CU_OK);
    free(text);
}

static int exists_in(const char *dir, const char *name)
{
    char path[600];
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        fail_msg("path too long");
    return stat(path, &st) == 0;
}

/* P-BAK-1, P-ENC-5: a backup made under a 60-day window outlives a policy shortened to 30 days
 * after it; the master version its snapshot and key need stays in the key file until the backup
 * expires, so it still restores (with the key file apart from the data: backup.keys and the
 * erasure journal beside it, no key copied into the restored directory), then goes. */
static void test_P_BAK_1_a_master_version_an_unexpired_backup_needs_is_kept(void **state)
{
    fx *f = *state; /* on PostgreSQL too: the backup restores into a directory (SQLite) */
    char bdir[320], manifest[400], target[320];
    cu_restore_opts ro = {0};
    cu_restore_report rep;
    cu_key_retire_report rr;
    cu_backup_info b;
    unsigned version = 0;
    size_t expired = 0;
    cu_err err = {0};

    if (snprintf(bdir, sizeof(bdir), "%s/backups", f->dir) >= (int)sizeof(bdir) ||
        snprintf(target, sizeof(target), "%s/restored", f->dir) >= (int)sizeof(target))
        fail_msg("path too long");
    set_backup_window(f, "60d");
    add_subject(f, "ada", "ada@example.com");
    assert_int_equal(cu_backup_create(f->v, &CTX, bdir, NULL, NULL, &b, &err), CU_OK);
    assert_int_equal(b.expires_at, T0 + 60 * DAY);
    assert_true(exists_in(f->keys, "backup.keys"));
    assert_true(exists_in(f->keys, "erasure.journal"));
    assert_false(exists_in(f->data, "backup.keys"));
    set_backup_window(f, "30d");
    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, NULL, &err), CU_OK);
    /* Past the vault's window now (30 days), before the backup's (60). */
    cu_clock_set(T0 + 31 * DAY);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 0);
    assert_int_equal(rr.referenced, 1);
    if (snprintf(manifest, sizeof(manifest), "%s/%s.manifest", bdir, b.id) >=
        (int)sizeof(manifest))
        fail_msg("path too long");
    ro.key_file = f->keyfile;
    ro.backup = manifest;
    ro.target = target;
    assert_int_equal(cu_backup_restore(&ro, &rep, &err), CU_OK);
    assert_true(exists_in(target, "custos.db"));
    assert_false(exists_in(target, "master.key"));
    assert_false(exists_in(target, "backup.keys"));
    /* The backup's end: its key goes, then the version nothing needs any more. */
    cu_clock_set(T0 + 60 * DAY);
    assert_int_equal(cu_backup_expire(f->v, &CTX, bdir, &expired, &err), CU_OK);
    assert_int_equal(expired, 1);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 1);
    assert_int_equal(rr.referenced, 0);
}

/* The key file outside the data directory: the directory holds no key; the key file and its
 * directory are checked like the data directory's (P-ENC-1). */
static void test_P_ENC_1_key_file_outside_the_data_directory(void **state)
{
    fx *f = *state;
    char path[600];
    cu_err err = {0};
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/master.key", f->data) >= (int)sizeof(path))
        fail_msg("path too long");
    assert_int_not_equal(stat(path, &st), 0);
    cu_vault_close(f->v);
    f->v = NULL;
    open_with(f->data, NULL, CU_ERR_NOT_FOUND, &err);
    assert_int_equal(chmod(f->keyfile, 0640), 0);
    open_with(f->data, f->keyfile, CU_ERR_PERM, &err);
    assert_int_equal(chmod(f->keyfile, 0600), 0);
    assert_int_equal(chmod(f->keys, 0770), 0);
    open_with(f->data, f->keyfile, CU_ERR_PERM, &err);
    assert_int_equal(chmod(f->keys, 0700), 0);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
}

/* A server whose key file is not there (yet, or no more) holds its versions in memory: a
 * retirement and a rotation find nothing to sync from the file (cu_keyring_sync), not an error,
 * and the rotation writes the file anew, with every version the server holds, so that the
 * vault opens from it again and reads what it read. */
static void test_key_epoch_without_a_key_file_writes_it_anew(void **state)
{
    fx *f = *state;
    cu_id s = add_subject(f, "crm-1", "ada@example.com");
    cu_key_retire_report rr;
    unsigned version = 0;
    cu_err err = {0};

    assert_int_equal(unlink(f->keyfile), 0);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.current, 1);
    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, NULL, &err), CU_OK);
    assert_int_equal(version, 2);
    assert_true(th_file_contains(f->keyfile, "\nkey 1 ", 7));
    assert_true(th_file_contains(f->keyfile, "\nkey 2 ", 7));
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(read_email(f->data, f->keyfile, f->tenant, s, "ada@example.com", &err), CU_OK);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
}

/* Several servers on one database (docs/store.md, "Several servers"): b, a second server on
 * a's database, holds a subject's key from a read (the TTL long, as an idle server's entry stays
 * until its slot is next touched); a erases the subject (its key destroyed, the tenant's cache
 * generation raised). b's key retirement (its key epoch's pass, a background task that serves no
 * request for the tenant) reads every tenant row: through the generation check, so b forgets
 * (wipes) the destroyed key there and then (P-DSR-4), not when a request next touches the slot. */
static void test_P_DSR_4_another_servers_key_retirement_forgets_a_destroyed_key(void **state)
{
    fx *f = *state;
    cu_id s = add_subject(f, "crm-1", "ada@example.com");
    cu_key_retire_report rr;
    cu_cache_stats before, after;
    cu_vault *b;
    cu_subject got;
    cu_err err = {0};

    setenv("CUSTOS_TEST_SHARED_DB", "1", 1); /* SQLite: b beside a, as a second server */
    setenv("CUSTOS_CACHE_TTL_MS", "10000", 1);
    b = open_with(f->data, f->keyfile, CU_OK, &err);
    unsetenv("CUSTOS_CACHE_TTL_MS");
    assert_int_equal(cu_subject_get(b, NULL, f->tenant, s, &got, &err), CU_OK);
    cu_subject_cleanup(&got);
    cu_vault_cache_stats(b, CU_CACHE_KEYS, &before);
    assert_true(before.size > 0);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->tenant, s, &err), CU_OK);
    assert_int_equal(cu_key_retire(b, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 0); /* nothing to retire: no commit of b's forgets anything */
    cu_vault_cache_stats(b, CU_CACHE_KEYS, &after);
    assert_true(after.forgotten > before.forgotten);
    assert_int_equal(after.size, 0);
    cu_vault_close(b);
    unsetenv("CUSTOS_TEST_SHARED_DB");
}

/* A tenant b makes: its key's master version, and a subject in it, whose id goes to *subject. */
static unsigned make_tenant(fx *f, cu_vault *b, const char *name, cu_id *tenant, cu_id *subject)
{
    cu_subject_in in = {.external_id = "x", .email = "x@example.com"};
    cu_tenant t;
    cu_err err = {0};
    char sql[200];

    assert_int_equal(cu_tenant_create(b, NULL, &(cu_tenant_opts){.name = name}, &t, &err), CU_OK);
    assert_int_equal(cu_subject_create(b, NULL, t.id, &in, subject, &err), CU_OK);
    *tenant = t.id;
    snprintf(sql, sizeof(sql), "SELECT parent_version FROM keys WHERE kind = 1 AND tenant_id = %llu",
             (unsigned long long)t.id);
    return (unsigned)th_sql_int(f->data, sql);
}

/* Several servers, one database, one key file (docs/scaling.md, "The key file"): a rotates the
 * master key to version 2 and, after the window, destroys version 1. b never rotated: its
 * current version is still 1, under which it would wrap a new tenant's key (and its audit key),
 * a version no key file holds any more: unreadable by every server, b too after a restart.
 * A new tenant key goes under the database's newest version whatever b's current one is, and
 * b's own key epoch pass (here b takes the lease, as it does in turn) adopts that version,
 * without writing the destroyed one back into the file. */
static void test_P_ENC_5_another_servers_epoch_pass_adopts_the_newest_master_version(void **state)
{
    fx *f = *state;
    cu_key_retire_report rr;
    cu_key_epoch_report rep;
    unsigned version = 0;
    cu_vault *b;
    cu_id t1, t2, s1, s2;
    char bdir[320], manifest[400], target[320];
    cu_restore_opts ro = {0};
    cu_restore_report rst;
    cu_backup_info bk;
    cu_subject got;
    cu_err err = {0};

    setenv("CUSTOS_TEST_SHARED_DB", "1", 1); /* SQLite: b beside a, as a second server */
    b = open_with(f->data, f->keyfile, CU_OK, &err);
    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, NULL, &err), CU_OK);
    assert_int_equal(version, 2);
    cu_clock_set(T0 + 31 * DAY);
    assert_int_equal(cu_key_retire(f->v, &CTX, &rr, &err), CU_OK);
    assert_int_equal(rr.destroyed, 1);
    assert_false(th_file_contains(f->keyfile, "\nkey 1 ", 7));
    /* Before b's pass: the tenant key goes under 2 all the same, and so does a backup's key,
     * which restores with the key file as it is. */
    assert_int_equal(make_tenant(f, b, "Early", &t1, &s1), 2);
    if (snprintf(bdir, sizeof(bdir), "%s/backups", f->dir) >= (int)sizeof(bdir) ||
        snprintf(target, sizeof(target), "%s/restored", f->dir) >= (int)sizeof(target))
        fail_msg("path too long");
    assert_int_equal(cu_backup_create(b, &CTX, bdir, NULL, NULL, &bk, &err), CU_OK);
    if (snprintf(manifest, sizeof(manifest), "%s/%s.manifest", bdir, bk.id) >=
        (int)sizeof(manifest))
        fail_msg("path too long");
    ro.key_file = f->keyfile;
    ro.backup = manifest;
    ro.target = target;
    assert_int_equal(cu_backup_restore(&ro, &rst, &err), CU_OK);
    /* b's background pass: nothing due, nothing to destroy; it moves on to version 2. */
    assert_int_equal(cu_key_epoch(b, &CTX, 0, &rep, &err), CU_OK);
    assert_false(rep.rotated);
    assert_int_equal(rep.version, 2);
    assert_false(th_file_contains(f->keyfile, "\nkey 1 ", 7)); /* not written back */
    assert_int_equal(make_tenant(f, b, "Late", &t2, &s2), 2);
    cu_vault_close(b);
    unsetenv("CUSTOS_TEST_SHARED_DB");
    /* Every server reads both, b too after a restart. */
    assert_int_equal(cu_subject_get(f->v, NULL, t1, s1, &got, &err), CU_OK);
    cu_subject_cleanup(&got);
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(read_email(f->data, f->keyfile, t1, s1, "x@example.com", &err), CU_OK);
    assert_int_equal(read_email(f->data, f->keyfile, t2, s2, "x@example.com", &err), CU_OK);
    f->v = open_with(f->data, f->keyfile, CU_OK, &err);
}

/* The same, for a server that finds the epoch lease held by another (its pass skipped): it
 * still moves on to the newest committed version, so one that never wins the lease does not
 * keep its audit key under a version the other will destroy. */
static void test_P_ENC_5_a_skipped_epoch_pass_still_adopts_the_newest_master_version(void **state)
{
    fx *f = *state;
    cu_key_epoch_report rep;
    unsigned version = 0, current = 0, retained = 0;
    cu_vault *b;
    cu_err err = {0};

    setenv("CUSTOS_TEST_SHARED_DB", "1", 1); /* SQLite: b beside a, as a second server */
    b = open_with(f->data, f->keyfile, CU_OK, &err);
    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, NULL, &err), CU_OK);
    assert_int_equal(version, 2);
    cu_key_ring_stats(b, &current, &retained);
    assert_int_equal(current, 1);
    assert_int_equal(cu_epoch_lease(f->v, 1, &err), CU_OK); /* a's next epoch, running */
    assert_int_equal(cu_key_epoch(b, &CTX, 0, &rep, &err), CU_ERR_CONFLICT);
    cu_key_ring_stats(b, &current, &retained);
    assert_int_equal(current, 2);
    assert_int_equal(cu_epoch_lease(f->v, 0, &err), CU_OK);
    cu_vault_close(b);
    unsetenv("CUSTOS_TEST_SHARED_DB");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
        T(test_P_RET_3_raw_copy_with_the_current_key_file_closes_after_the_window),
        T(test_P_RET_3_raw_copy_with_its_own_key_file_still_reads),
        T(test_P_ENC_5_a_referenced_master_version_is_never_destroyed),
        T(test_P_ENC_5_retirement_survives_a_crash),
        T(test_P_RET_3_deletions_make_a_key_epoch_due),
        T(test_P_RET_3_an_upgraded_vault_starts_with_an_epoch_due),
        T(test_P_RET_3_the_window_is_the_longest_backup_window),
        T(test_P_ENC_1_key_file_outside_the_data_directory),
        T(test_P_BAK_1_a_master_version_an_unexpired_backup_needs_is_kept),
        T(test_key_epoch_without_a_key_file_writes_it_anew),
        T(test_P_DSR_4_another_servers_key_retirement_forgets_a_destroyed_key),
        T(test_P_ENC_5_another_servers_epoch_pass_adopts_the_newest_master_version),
        T(test_P_ENC_5_a_skipped_epoch_pass_still_adopts_the_newest_master_version),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
