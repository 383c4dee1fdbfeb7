/*
 * test_backup.c: encrypted backups, their expiry and a restore that replays erasures
 * (P-BAK-1, P-BAK-2, P-RET-3; issue 11; docs/backup.md).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_int.h"
#include "th.h"
#include "th_pg.h"

typedef struct fx {
    char dir[256];
    char data[256];
    char bdir[300];
    cu_vault *v;
    cu_id t;
} fx;

static const cu_ctx ctx = {.actor = "test", .purpose = "administration", .flags = CU_CTX_LOCAL};

static int fx_setup(void **state)
{
    static const cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 1},
                                        {"name", CU_FIELD_PERSONAL, 0}};
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    snprintf(f->bdir, sizeof(f->bdir), "%s/backups", f->dir);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->t = t.id;
    assert_int_equal(cu_collection_define(f->v, NULL, f->t, "people", defs, 2, &err), CU_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    cu_clock_set(0);
    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static cu_id subject(fx *f, const char *ext, const char *email)
{
    cu_subject_in in = {.external_id = ext, .email = email};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, f->t, &in, &id, &err) != CU_OK)
        fail_msg("subject: %s", err.msg);
    return id;
}

static cu_id record(fx *f, cu_id s, const char *ssn)
{
    char doc[128];
    cu_err err = {0};
    cu_id id = 0;

    snprintf(doc, sizeof(doc), "{\"ssn\":\"%s\",\"name\":\"Backed Up Person\"}", ssn);
    if (cu_record_put(f->v, NULL, f->t, "people", s, doc, strlen(doc), &id, &err) != CU_OK)
        fail_msg("put: %s", err.msg);
    return id;
}

static void backup(fx *f, cu_backup_info *b)
{
    cu_err err = {0};

    if (cu_backup_create(f->v, &ctx, f->bdir, NULL, NULL, b, &err) != CU_OK)
        fail_msg("backup: %s", err.msg);
}

static void path_of(const fx *f, const cu_backup_info *b, const char *ext, char out[512])
{
    snprintf(out, 512, "%s/%s%s", f->bdir, b->id, ext);
}

/* Restores b into dir/name; returns the rc, the report in *rep. */
static cu_rc restore(fx *f, const char *manifest, const char *name, int no_journal,
                     cu_restore_report *rep, cu_err *err)
{
    char target[512];
    cu_restore_opts o = {.keys_dir = f->data, .backup = manifest, .target = target,
                         .no_journal = no_journal};

    snprintf(target, sizeof(target), "%s/%s", f->dir, name);
    /* On PostgreSQL, into a fresh database of the test server (open_at opens it there). */
    o.store = th_store_new(target);
    return cu_backup_restore(&o, rep, err);
}

static cu_vault *open_at(fx *f, const char *name)
{
    char p[512];

    snprintf(p, sizeof(p), "%s/%s", f->dir, name);
    return th_reopen(p);
}

/* 1 if any file in dir holds the n bytes at needle. */
static int dir_contains(const char *dir, const void *needle, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    int found = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        found |= th_file_contains(p, needle, n);
    }
    closedir(d);
    return found;
}

/* 1 if the files of the database of the vault at data hold the n bytes at needle: on
 * PostgreSQL its own files (base/OID, after a CHECKPOINT), not the server's WAL, which every
 * test database shares with the live vault the backup was taken from. 0 on SQLite (its files
 * are in the data directory: dir_contains). */
static int db_files_contain(const char *data, const void *needle, size_t n)
{
    char dir[512], p[1024];
    struct dirent *e;
    long long oid;
    int found = 0;
    DIR *d;

    if (th_store(data) == NULL)
        return 0;
    oid = th_sql_int(data, "SELECT oid FROM pg_database WHERE datname = current_database()");
    assert_int_equal(th_sql(data, "CHECKPOINT"), 0);
    snprintf(dir, sizeof(dir), "%s/data/base/%lld", th_pg_dir(), oid);
    assert_non_null(d = opendir(dir));
    while (!found && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' &&
            (size_t)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < sizeof(p))
            found = th_file_contains(p, needle, n);
    closedir(d);
    return found;
}

/* Every file of the restored vault at dir (its WAL included) and, on PostgreSQL, of its
 * database. */
static int vault_contains(const char *dir, const void *needle, size_t n)
{
    return dir_contains(dir, needle, n) || db_files_contain(dir, needle, n);
}

static int dir_has_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        found |= strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                 strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return found;
}

/* --- P-BAK-1: consistent while writes go on ------------------------------------------------- */

#define MAX_WRITES 100000

typedef struct writer {
    fx *f;
    cu_id subject;
    cu_id ids[MAX_WRITES];
    atomic_size_t acked;
    atomic_int stop;
} writer;

static void *write_loop(void *arg)
{
    writer *w = arg;
    char ssn[32];

    while (!atomic_load(&w->stop) && atomic_load(&w->acked) < MAX_WRITES) {
        size_t i = atomic_load(&w->acked);
        snprintf(ssn, sizeof(ssn), "123-45-%04zu", i % 10000);
        w->ids[i] = record(w->f, w->subject, ssn);
        atomic_store(&w->acked, i + 1); /* acknowledged: durable before it returned */
    }
    return NULL;
}

static void test_P_BAK_1_backup_during_writes_restores_consistent(void **state)
{
    fx *f = *state;
    writer *w = calloc(1, sizeof(*w));
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512];
    cu_err err = {0};
    pthread_t th;
    size_t before, after, present = 0;

    w->f = f;
    w->subject = subject(f, "writer", "writer@example.com");
    assert_int_equal(pthread_create(&th, NULL, write_loop, w), 0);
    while (atomic_load(&w->acked) < 50)
        usleep(1000);
    before = atomic_load(&w->acked);
    backup(f, &b);
    after = atomic_load(&w->acked);
    atomic_store(&w->stop, 1);
    pthread_join(th, NULL);
    assert_true(after >= before);
    path_of(f, &b, ".manifest", manifest);
    /* Restore verifies every chain and its head against the manifest. */
    if (restore(f, manifest, "restored", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_int_equal(rep.chains, 2);
    cu_vault *r = open_at(f, "restored");
    for (size_t i = 0; i < atomic_load(&w->acked); i++) {
        cu_record rec = {0};
        cu_rc rc = cu_record_get(r, NULL, f->t, w->ids[i], &rec, &err);
        if (i < before && rc != CU_OK)
            fail_msg("write %zu of %zu acknowledged before the backup is missing: %s", i, before,
                     err.msg);
        present += rc == CU_OK;
        if (rc == CU_OK)
            cu_record_cleanup(&rec);
    }
    /* A prefix: what the snapshot saw, nothing after a gap. */
    assert_true(present >= before);
    for (size_t i = 0; i < present; i++) {
        cu_record rec = {0};
        assert_int_equal(cu_record_get(r, NULL, f->t, w->ids[i], &rec, &err), CU_OK);
        cu_record_cleanup(&rec);
    }
    /* The restored vault's own chains (on PostgreSQL: after the copy into the target). */
    for (cu_id t = 0; t <= f->t; t += f->t) {
        cu_audit_report ar;
        assert_int_equal(cu_audit_verify(r, &ctx, t, &ar, &err), CU_OK);
        assert_true(ar.ok);
    }
    cu_vault_close(r);
    /* One state, not each table read at its own moment (PostgreSQL: pg_backup.c's REPEATABLE
     * READ snapshot; records are read before the audit log): every record has its audit entry
     * and every entry its record. */
    char rdir[512], sql[256];
    long long recs, puts;
    snprintf(rdir, sizeof(rdir), "%s/restored", f->dir);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM records WHERE tenant_id = %llu",
             (unsigned long long)f->t);
    recs = th_sql_int(rdir, sql);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE tenant_id = %llu"
             " AND action = 'record.create'", (unsigned long long)f->t);
    puts = th_sql_int(rdir, sql);
    assert_int_equal(recs, (long long)present);
    assert_int_equal(puts, recs);
    free(w);
}

/* P-BAK-1: a backup is the same file whatever the store: one of a SQLite vault restores into
 * PostgreSQL (SQLite pass), one of a PostgreSQL vault into SQLite (PostgreSQL pass); a
 * database that holds a vault is refused before anything is decrypted, and nothing is left. */
static void test_P_BAK_1_backup_restores_across_stores(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512], target[512], loc[256];
    cu_restore_opts o = {.keys_dir = f->data, .backup = manifest, .target = target};
    cu_vault_opts vo = {.data_dir = target};
    cu_audit_report ar;
    cu_subject s = {0};
    cu_vault *r = NULL;
    cu_err err = {0};
    cu_id id = subject(f, "moved", "moved.person@example.com");

    record(f, id, "222-33-4444");
    backup(f, &b);
    path_of(f, &b, ".manifest", manifest);
    /* The other store: PostgreSQL (an empty database) from SQLite, SQLite from PostgreSQL. */
    snprintf(target, sizeof(target), "%s/moved", f->dir);
    if (!th_pg_mode()) {
        th_pg_vault_location(loc, sizeof(loc));
        o.store = vo.store = loc;
    }
    if (cu_backup_restore(&o, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_int_equal(rep.chains, 2);
    if (cu_vault_open(&vo, &r, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
    assert_int_equal(cu_subject_get(r, NULL, f->t, id, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    assert_int_equal(cu_audit_verify(r, &ctx, f->t, &ar, &err), CU_OK);
    assert_true(ar.ok);
    cu_vault_close(r);
    /* A database holding a vault (the one just restored, or the live one) is refused. */
    snprintf(target, sizeof(target), "%s/again", f->dir);
    o.store = th_pg_mode() ? th_store(f->data) : loc;
    assert_int_equal(cu_backup_restore(&o, &rep, &err), CU_ERR_EXISTS);
    assert_int_not_equal(access(target, F_OK), 0);
    assert_false(dir_has_prefix(f->dir, "again.restore-"));
}

/* P-BAK-1: verify is a trial restore that reads subjects back; /metrics' figures follow. */
static void test_P_BAK_1_verify_and_list(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info b, *list = NULL;
    cu_backup_stats st;
    char manifest[512];
    cu_err err = {0};
    size_t n = 0;

    subject(f, "s1", "one@example.com");
    backup(f, &b);
    path_of(f, &b, ".manifest", manifest);
    cu_restore_opts o = {.keys_dir = f->data, .backup = manifest};
    if (cu_backup_verify(&o, &rep, &err) != CU_OK)
        fail_msg("verify: %s", err.msg);
    assert_true(rep.sampled >= 1);
    assert_false(dir_has_prefix(f->data, ".verify-"));
    cu_backup_stats_get(&st);
    assert_true(st.last_success > 0 && st.last_verified > 0);
    assert_int_equal(st.count, 1);
    assert_true(st.bytes == b.bytes);
    assert_int_equal(cu_backup_list(f->v, f->bdir, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, b.id);
    assert_true(list[0].key_present);
    free(list);
    /* The plaintext snapshot never stays in the data directory. */
    assert_false(dir_has_prefix(f->data, ".backup-"));
}

static void flip_byte(const char *path, long at)
{
    FILE *fp = fopen(path, "r+b");
    int c;

    assert_non_null(fp);
    fseek(fp, at, at < 0 ? SEEK_END : SEEK_SET);
    c = fgetc(fp);
    fseek(fp, -1, SEEK_CUR);
    fputc(c ^ 0x01, fp);
    fclose(fp);
}

/* P-BAK-1: a byte flipped anywhere, a manifest swapped or edited: refused, nothing restored. */
static void test_P_BAK_1_tampered_backup_refused(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info a, b;
    char ma[512], mb[512], fa[512], copy[600], target[512];
    cu_err err = {0};
    struct stat st;

    subject(f, "s1", "one@example.com");
    backup(f, &a);
    subject(f, "s2", "two@example.com");
    backup(f, &b);
    path_of(f, &a, ".manifest", ma);
    path_of(f, &b, ".manifest", mb);
    path_of(f, &a, ".cbk", fa);
    /* A byte of the ciphertext, in the middle and at the end. */
    snprintf(copy, sizeof(copy), "%s.orig", fa);
    assert_int_equal(th_copy(fa, copy), 0);
    flip_byte(fa, 4000);
    assert_int_equal(restore(f, ma, "t1", 0, &rep, &err), CU_ERR_CRYPTO);
    assert_int_equal(th_copy(copy, fa), 0);
    flip_byte(fa, -1);
    assert_int_equal(restore(f, ma, "t1", 0, &rep, &err), CU_ERR_CRYPTO);
    assert_int_equal(th_copy(copy, fa), 0);
    /* B's manifest beside A's file. */
    snprintf(copy, sizeof(copy), "%s.orig", ma);
    assert_int_equal(th_copy(ma, copy), 0);
    assert_int_equal(th_copy(mb, ma), 0);
    assert_int_equal(restore(f, ma, "t1", 0, &rep, &err), CU_ERR_CRYPTO);
    /* A's manifest edited (a later expiry): its signature fails. */
    assert_int_equal(th_copy(copy, ma), 0);
    flip_byte(ma, 30);
    assert_int_equal(restore(f, ma, "t1", 0, &rep, &err), CU_ERR_CRYPTO);
    snprintf(target, sizeof(target), "%s/t1", f->dir);
    assert_int_not_equal(stat(target, &st), 0);
    assert_false(dir_has_prefix(f->dir, "t1.restore-"));
    /* Untouched, it restores. */
    assert_int_equal(th_copy(copy, ma), 0);
    if (restore(f, ma, "t1", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
}

/* --- P-BAK-2: a restore never brings an erased subject back ---------------------------------- */

static void hex_to_bytes(const char *hex, uint8_t *out, size_t *n)
{
    *n = strlen(hex) / 2;
    for (size_t i = 0; i < *n; i++) {
        unsigned b;
        sscanf(hex + 2 * i, "%2x", &b);
        out[i] = (uint8_t)b;
    }
}

static void test_P_BAK_2_erased_subject_stays_erased_after_restore(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512], sql[256], hex[512], rdir[512];
    uint8_t wrapped[256], doc[4096];
    size_t wn = 0, dn = 0;
    cu_id *ids = NULL;
    size_t n = 0;
    cu_err err = {0};
    cu_subject s = {0};

    cu_id gone = subject(f, "gone", "erased.person@example.com");
    cu_id kept = subject(f, "kept", "kept.person@example.com");
    cu_id rec = record(f, gone, "987-65-4321");
    record(f, kept, "111-22-3333");
    backup(f, &b);
    /* What must not be readable after: the subject key as wrapped, a record's ciphertext. */
    snprintf(sql, sizeof(sql), "SELECT hex(wrapped) FROM keys WHERE kind = 4 AND owner_id = %llu",
             (unsigned long long)gone);
    assert_int_equal(th_sql_text(f->data, sql, hex, sizeof(hex)), 0);
    hex_to_bytes(hex, wrapped, &wn);
    snprintf(sql, sizeof(sql), "SELECT hex(substr(doc, 1, 64)) FROM records WHERE record_id = %llu",
             (unsigned long long)rec);
    assert_int_equal(th_sql_text(f->data, sql, hex, sizeof(hex)), 0);
    hex_to_bytes(hex, doc, &dn);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, gone, &err), CU_OK);

    path_of(f, &b, ".manifest", manifest);
    if (restore(f, manifest, "restored", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_true(rep.replayed >= 1);
    snprintf(rdir, sizeof(rdir), "%s/restored", f->dir);
    cu_vault *r = th_reopen(rdir);
    assert_int_equal(cu_subject_get(r, NULL, f->t, gone, &s, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_subject_find(r, NULL, f->t, CU_SUBJECT_BY_EMAIL,
                                     "erased.person@example.com", &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(cu_subject_get(r, NULL, f->t, kept, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    cu_vault_close(r);
    /* Every file of the restored vault, its WAL included: no key, no ciphertext, no value.
     * On PostgreSQL the replay ran on the temporary copy, so the target never had them. */
    assert_false(vault_contains(rdir, wrapped, wn));
    assert_false(vault_contains(rdir, doc, dn));
    assert_false(vault_contains(rdir, "erased.person@example.com", 25));

    /* Without the journal (explicitly, audited) the subject is back: what the replay prevents. */
    if (restore(f, manifest, "unjournaled", 1, &rep, &err) != CU_OK)
        fail_msg("restore --no-journal: %s", err.msg);
    snprintf(rdir, sizeof(rdir), "%s/unjournaled", f->dir);
    assert_true(vault_contains(rdir, wrapped, wn));
    r = th_reopen(rdir);
    assert_int_equal(cu_subject_get(r, NULL, f->t, gone, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    cu_audit_entry *list = NULL;
    cu_audit_filter flt = {.action = "backup.restore_unjournaled"};
    assert_int_equal(cu_audit_list(r, NULL, 0, &flt, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(list);
    cu_vault_close(r);
}

/* P-BAK-2: a tenant purged after the backup stays purged after a restore: the journal's
 * tenant.purge replayed on the temporary copy (on PostgreSQL, before the copy into the target
 * database). Without the journal its subjects would all be back. */
static void test_P_BAK_2_purged_tenant_stays_purged_after_restore(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_sweep_report sr;
    cu_backup_info b;
    char manifest[512], rdir[512], sql[160];
    long long before, after;
    int64_t until = 0;
    cu_err err = {0};
    size_t n = 0;
    const char *pol = cu_policy_builtin("scm", &n); /* its export window ends the tenant */
    cu_subject_in in = {.external_id = "purged", .email = "purged.person@example.com"};
    cu_tenant gone;
    cu_id id = 0;

    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Gone", .policy = pol,
                                                                    .policy_len = n},
                                      &gone, &err), CU_OK);
    assert_int_equal(cu_subject_create(f->v, NULL, gone.id, &in, &id, &err), CU_OK);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM subjects WHERE tenant_id = %llu",
             (unsigned long long)gone.id);
    before = th_sql_int(f->data, sql);
    backup(f, &b);
    assert_int_equal(cu_tenant_terminate(f->v, NULL, gone.id, &until, &err), CU_OK);
    cu_clock_set(until + 86400);
    assert_int_equal(cu_sweep(f->v, NULL, &sr, &err), CU_OK);
    assert_int_equal(sr.tenants_purged, 1);
    after = th_sql_int(f->data, sql);
    assert_true(after < before);
    cu_clock_set(0); /* the restore on today's clock: the backup is within its window */
    path_of(f, &b, ".manifest", manifest);
    if (restore(f, manifest, "restored", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_true(rep.replayed >= 1);
    snprintf(rdir, sizeof(rdir), "%s/restored", f->dir);
    assert_int_equal(th_sql_int(rdir, sql), after);
    /* The control: without the journal the tenant's subjects come back. */
    if (restore(f, manifest, "unjournaled", 1, &rep, &err) != CU_OK)
        fail_msg("restore --no-journal: %s", err.msg);
    snprintf(rdir, sizeof(rdir), "%s/unjournaled", f->dir);
    assert_int_equal(th_sql_int(rdir, sql), before);
}

/* P-BAK-2, P-ENC-5: a data key version destroyed after the backup is destroyed again by the
 * restore (the journal's key.destroy replayed: a new version, everything sealed again, the old
 * one gone), and the records still read. Without the journal the version is back. */
static void test_P_BAK_2_destroyed_data_key_stays_destroyed_after_restore(void **state)
{
    fx *f = *state;
    cu_reencrypt_report rr;
    cu_restore_report rep;
    cu_backup_info b;
    cu_record rec = {0};
    char manifest[512], rdir[512], sql[200];
    unsigned version = 0;
    cu_err err = {0};
    cu_id id = record(f, 0, "777-88-9999");

    backup(f, &b);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->t, &version, &err), CU_OK);
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->t, &rr, &err), CU_OK);
    assert_true(rr.destroyed >= 1);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM keys WHERE tenant_id = %llu AND kind = 2"
             " AND version = 1", (unsigned long long)f->t);
    assert_int_equal(th_sql_int(f->data, sql), 0);
    path_of(f, &b, ".manifest", manifest);
    if (restore(f, manifest, "restored", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_true(rep.replayed >= 1);
    snprintf(rdir, sizeof(rdir), "%s/restored", f->dir);
    assert_int_equal(th_sql_int(rdir, sql), 0);
    cu_vault *r = open_at(f, "restored");
    assert_int_equal(cu_record_get(r, NULL, f->t, id, &rec, &err), CU_OK);
    assert_non_null(strstr(rec.json, "777-88-9999"));
    cu_record_cleanup(&rec);
    cu_vault_close(r);
    if (restore(f, manifest, "unjournaled", 1, &rep, &err) != CU_OK)
        fail_msg("restore --no-journal: %s", err.msg);
    snprintf(rdir, sizeof(rdir), "%s/unjournaled", f->dir);
    assert_int_equal(th_sql_int(rdir, sql), 1);
}

/* P-BAK-1, P-BAK-2: a backup holding a subject erased before it restores and verifies: the
 * journal's line for that erasure finds it done (review F2: the replay failed on the stored
 * certificate, so every verify failed and a restore needed --no-journal). */
static void test_P_BAK_2_subject_erased_before_the_backup_replays_as_done(void **state)
{
    fx *f = *state;
    cu_restore_opts vo = {.keys_dir = f->data};
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512], rdir[512];
    cu_subject s = {0};
    cu_err err = {0};
    cu_id before = subject(f, "before", "before.person@example.com");
    cu_id after = subject(f, "after", "after.person@example.com");
    cu_id stays = subject(f, "stays", "stays.person@example.com");

    record(f, before, "111-11-1111");
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, before, &err), CU_OK);
    backup(f, &b);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, after, &err), CU_OK);
    path_of(f, &b, ".manifest", manifest);
    vo.backup = manifest;
    if (cu_backup_verify(&vo, &rep, &err) != CU_OK)
        fail_msg("verify: %s", err.msg);
    if (restore(f, manifest, "restored", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_true(rep.replayed >= 1);
    assert_true(rep.already >= 1);
    snprintf(rdir, sizeof(rdir), "%s/restored", f->dir);
    cu_vault *r = th_reopen(rdir);
    assert_int_equal(cu_subject_get(r, NULL, f->t, before, &s, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_subject_get(r, NULL, f->t, after, &s, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_subject_get(r, NULL, f->t, stays, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    cu_vault_close(r);
}

/* P-BAK-2: a journal that ends before the backup's own journal head (a copy taken before the
 * backup) is refused: it could miss an erasure the backup's journal counted (review F5). */
static void test_P_BAK_2_journal_older_than_the_backup_refused(void **state)
{
    fx *f = *state;
    cu_restore_opts o = {.keys_dir = f->data};
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512], journal[512], old[512];
    cu_err err = {0};
    cu_id one = subject(f, "one", "one.person@example.com");
    cu_id two = subject(f, "two", "two.person@example.com");

    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, one, &err), CU_OK);
    backup(f, &b); /* the journal holds one line now */
    snprintf(journal, sizeof(journal), "%s/erasure.journal", f->data);
    snprintf(old, sizeof(old), "%s/old.journal", f->dir);
    assert_int_equal(th_copy(journal, old), 0);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, two, &err), CU_OK);
    backup(f, &b); /* its journal head: two lines */
    path_of(f, &b, ".manifest", manifest);
    o.backup = manifest;
    o.journal = old;
    assert_int_equal(cu_backup_verify(&o, &rep, &err), CU_ERR_CRYPTO);
    o.journal = NULL;
    assert_int_equal(cu_backup_verify(&o, &rep, &err), CU_OK);
}

/* P-BAK-2: a hold in force when the backup was made and released before the erasure does not
 * stop the erasure's replay: the journal carries the release (fails without: legal_hold). */
static void test_P_BAK_2_hold_released_after_the_backup_does_not_stop_the_replay(void **state)
{
    static const char email[] = "held.person@example.com";
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512], rdir[512];
    cu_subject s = {0};
    cu_id hold = 0;
    cu_err err = {0};
    cu_id gone = subject(f, "held", email);

    record(f, gone, "555-44-3333");
    assert_int_equal(cu_hold_place(f->v, &ctx, f->t, gone, 0, "case 42", &hold, &err), CU_OK);
    backup(f, &b);
    assert_int_equal(cu_hold_release(f->v, &ctx, f->t, hold, "case closed", &err), CU_OK);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, gone, &err), CU_OK);
    path_of(f, &b, ".manifest", manifest);
    if (restore(f, manifest, "restored", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    snprintf(rdir, sizeof(rdir), "%s/restored", f->dir);
    cu_vault *r = th_reopen(rdir);
    assert_int_equal(cu_subject_get(r, NULL, f->t, gone, &s, &err), CU_ERR_NOT_FOUND);
    cu_vault_close(r);
    assert_false(vault_contains(rdir, email, strlen(email)));
}

/* P-BAK-2: without a journal a restore is refused unless told; a journal altered is refused. */
static void test_P_BAK_2_restore_needs_a_verified_journal(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512], journal[512], saved[600];
    cu_err err = {0};

    cu_id s = subject(f, "gone", "gone@example.com");
    backup(f, &b);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_OK);
    path_of(f, &b, ".manifest", manifest);
    snprintf(journal, sizeof(journal), "%s/erasure.journal", f->data);
    snprintf(saved, sizeof(saved), "%s.saved", journal);
    assert_int_equal(rename(journal, saved), 0);
    assert_int_equal(restore(f, manifest, "r1", 0, &rep, &err), CU_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "--no-journal"));
    assert_int_equal(th_copy(saved, journal), 0);
    flip_byte(journal, -20); /* in the last line's signature */
    assert_int_equal(restore(f, manifest, "r1", 0, &rep, &err), CU_ERR_CRYPTO);
    assert_int_equal(th_copy(saved, journal), 0);
    assert_int_equal(restore(f, manifest, "r1", 0, &rep, &err), CU_OK);
    assert_int_equal(rep.replayed, 1);
}

/* P-BAK-2: an erasure whose journal line a crash lost is caught up at the next open. */
static void test_P_BAK_2_journal_caught_up_at_open(void **state)
{
    fx *f = *state;
    char journal[512], cursor[512];
    cu_err err = {0};

    cu_id s = subject(f, "gone", "gone@example.com");
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_OK);
    cu_vault_close(f->v);
    snprintf(journal, sizeof(journal), "%s/erasure.journal", f->data);
    snprintf(cursor, sizeof(cursor), "%s/erasure.cursor", f->data);
    /* As if the process died between the erasure's commit and its line. */
    assert_int_equal(unlink(journal), 0);
    assert_int_equal(unlink(cursor), 0);
    f->v = th_reopen(f->data);
    char want[64];
    snprintf(want, sizeof(want), " subject.erase %llu %llu ", (unsigned long long)f->t,
             (unsigned long long)s);
    assert_true(th_file_contains(journal, want, strlen(want)));
}

/* --- P-RET-3: a backup expires with the shortest window of its tenants ----------------------- */

static char *policy_with_window(const char *window, size_t *len)
{
    size_t n = 0;
    const char *base = cu_policy_builtin("scm", &n);
    const char *at = strstr(base, "backup_window: 30d");
    char *out = malloc(n + 16);

    assert_non_null(at);
    size_t pre = (size_t)(at - base);
    memcpy(out, base, pre);
    *len = pre + (size_t)sprintf(out + pre, "backup_window: %s", window);
    size_t rest = n - pre - strlen("backup_window: 30d");
    memcpy(out + *len, at + strlen("backup_window: 30d"), rest);
    *len += rest;
    return out;
}

static void test_P_RET_3_expired_backup_unreadable(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info b;
    cu_tenant t;
    char manifest[512], cbk[512], away[512], away_m[600], away_f[600];
    cu_err err = {0};
    size_t plen = 0, expired = 0;
    char *pol = policy_with_window("7d", &plen);
    int64_t now = 1900000000;

    cu_clock_set(now);
    assert_int_equal(cu_tenant_create(f->v, NULL,
                                      &(cu_tenant_opts){.name = "Short", .policy = pol,
                                                        .policy_len = plen},
                                      &t, &err),
                     CU_OK);
    free(pol);
    subject(f, "s", "someone@example.com");
    backup(f, &b);
    /* The shortest window of the tenants it holds: 7 days, not the default 30. */
    assert_int_equal(b.expires_at, now + 7 * 86400);
    path_of(f, &b, ".manifest", manifest);
    path_of(f, &b, ".cbk", cbk);
    /* A copy moved off the machine. */
    snprintf(away, sizeof(away), "%s/offsite", f->dir);
    mkdir(away, 0700);
    snprintf(away_m, sizeof(away_m), "%s/%s.manifest", away, b.id);
    snprintf(away_f, sizeof(away_f), "%s/%s.cbk", away, b.id);
    assert_int_equal(th_copy(manifest, away_m), 0);
    assert_int_equal(th_copy(cbk, away_f), 0);
    /* Key epochs keep the master version the unexpired backup needs. */
    uint32_t *needed = NULL;
    size_t nn = 0;
    assert_int_equal(cu_bkeys_needed(f->data, now, &needed, &nn, &err), CU_OK);
    assert_int_equal(nn, 1);
    assert_int_equal(needed[0], 1);
    free(needed);
    /* Not yet. */
    cu_clock_set(now + 7 * 86400 - 1);
    assert_int_equal(cu_backup_expire(f->v, &ctx, f->bdir, &expired, &err), CU_OK);
    assert_int_equal(expired, 0);
    assert_int_equal(restore(f, away_m, "early", 0, &rep, &err), CU_OK);
    cu_clock_set(now + 7 * 86400);
    /* Due, not yet expired by anyone (no schedule ran): already unreadable (review F4). */
    assert_int_equal(restore(f, away_m, "due", 0, &rep, &err), CU_ERR_KEY);
    assert_int_equal(cu_backup_expire(f->v, &ctx, f->bdir, &expired, &err), CU_OK);
    assert_int_equal(expired, 1);
    assert_int_not_equal(access(cbk, F_OK), 0);
    assert_int_not_equal(access(manifest, F_OK), 0);
    /* The copy: its key is gone, so it does not open. */
    assert_int_equal(restore(f, away_m, "late", 0, &rep, &err), CU_ERR_KEY);
    assert_int_equal(cu_bkeys_needed(f->data, now + 7 * 86400, &needed, &nn, &err), CU_OK);
    assert_int_equal(nn, 0);
    free(needed);
    cu_restore_opts o = {.keys_dir = f->data, .backup = away_m};
    assert_int_equal(cu_backup_verify(&o, &rep, &err), CU_ERR_KEY);
    /* Audited, ids only. */
    cu_audit_entry *list = NULL;
    size_t n = 0;
    cu_audit_filter flt = {.action = "backup.expire"};
    assert_int_equal(cu_audit_list(f->v, NULL, 0, &flt, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_non_null(strstr(list[0].object, b.id));
    free(list);
}

/* --- kill -9 leaves nothing half-made -------------------------------------------------------- */

typedef struct crash_arg {
    fx *f;
    const char *manifest;
} crash_arg;

static void crash_backup(void *arg)
{
    crash_arg *c = arg;
    cu_vault *v = th_reopen(c->f->data);
    cu_err err = {0};

    cu_backup_create(v, &ctx, c->f->bdir, NULL, NULL, NULL, &err);
}

static void test_P_BAK_1_kill_during_backup_leaves_nothing(void **state)
{
    fx *f = *state;
    static const char *const points[] = {"backup.encrypting", "backup.snapshot"};
    crash_arg c = {.f = f};
    cu_backup_info *list = NULL;
    cu_err err = {0};
    size_t n = 0;

    for (int i = 0; i < 30; i++) {
        char ext[16];
        snprintf(ext, sizeof(ext), "s%d", i);
        subject(f, ext, "someone@example.com");
    }
    cu_vault_close(f->v);
    f->v = NULL;
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(th_crash_at(points[i], crash_backup, &c), 70);
    /* The plaintext a crash before the unlink left is in the data directory only. */
    assert_true(dir_has_prefix(f->data, ".backup-"));
    f->v = th_reopen(f->data);
    assert_false(dir_has_prefix(f->data, ".backup-")); /* removed at open */
    assert_int_equal(cu_backup_list(f->v, f->bdir, &list, &n, &err), CU_OK);
    assert_int_equal(n, 0); /* no backup to take: a .partial at most */
    free(list);
    cu_backup_info b;
    backup(f, &b); /* and the next one works, clearing the partial */
    assert_false(dir_has_prefix(f->bdir, "."));
}

static void crash_restore(void *arg)
{
    crash_arg *c = arg;
    cu_restore_report rep;
    cu_err err = {0};

    restore(c->f, c->manifest, "restored", 0, &rep, &err);
}

static void test_P_BAK_2_kill_during_restore_leaves_nothing(void **state)
{
    fx *f = *state;
    cu_restore_report rep;
    cu_backup_info b;
    char manifest[512], target[512];
    cu_err err = {0};
    crash_arg c = {.f = f, .manifest = manifest};

    subject(f, "s", "someone@example.com");
    backup(f, &b);
    path_of(f, &b, ".manifest", manifest);
    assert_int_equal(th_crash_at("backup.restore_before_rename", crash_restore, &c), 70);
    snprintf(target, sizeof(target), "%s/restored", f->dir);
    assert_int_not_equal(access(target, F_OK), 0); /* nothing a later open would take */
    assert_true(dir_has_prefix(f->dir, "restored.restore-"));
    if (restore(f, manifest, "restored", 0, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_false(dir_has_prefix(f->dir, "restored.restore-"));
    cu_vault *r = th_reopen(target);
    cu_vault_close(r);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_BAK_1_backup_during_writes_restores_consistent),
        T(test_P_BAK_1_backup_restores_across_stores),
        T(test_P_BAK_1_verify_and_list),
        T(test_P_BAK_1_tampered_backup_refused),
        T(test_P_BAK_2_erased_subject_stays_erased_after_restore),
        T(test_P_BAK_2_hold_released_after_the_backup_does_not_stop_the_replay),
        T(test_P_BAK_2_purged_tenant_stays_purged_after_restore),
        T(test_P_BAK_2_destroyed_data_key_stays_destroyed_after_restore),
        T(test_P_BAK_2_subject_erased_before_the_backup_replays_as_done),
        T(test_P_BAK_2_journal_older_than_the_backup_refused),
        T(test_P_BAK_2_restore_needs_a_verified_journal),
        T(test_P_BAK_2_journal_caught_up_at_open),
        T(test_P_RET_3_expired_backup_unreadable),
        T(test_P_BAK_1_kill_during_backup_leaves_nothing),
        T(test_P_BAK_2_kill_during_restore_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
