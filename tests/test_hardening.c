/*
 * test_hardening.c: the process and the files around the keys (issue 18, items 11 and 12): the
 * data directory, the key file, the database and its WAL must be ours and private; the key
 * file's KDF parameters have a floor; the process cannot dump core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "th.h"
#include "util.h"

typedef struct fx {
    char dir[256];
    char data[256];
} fx;

/* A vault made and closed: each test opens it itself. */
static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    th_tmpdir(f->dir);
    cu_vault_close(th_vault(f->dir, f->data));
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    th_rmrf(f->dir);
    free(f);
    return 0;
}

static cu_rc open_rc(const char *data, cu_err *err)
{
    cu_vault_opts o = {.data_dir = data, .store = th_store(data)};
    cu_vault *v = NULL;
    cu_rc rc = cu_vault_open(&o, &v, err);

    cu_vault_close(v);
    return rc;
}

static void test_P_ENC_1_data_dir_writable_by_others_is_refused(void **state)
{
    fx *f = *state;
    static const unsigned bad[] = {0777, 0770, 0720, 0702};
    cu_err err = {0};

    for (size_t i = 0; i < CU_ARRAY_LEN(bad); i++) {
        assert_int_equal(chmod(f->data, bad[i]), 0);
        assert_int_equal(open_rc(f->data, &err), CU_ERR_PERM);
        assert_non_null(strstr(err.msg, "writable by group or others"));
    }
    assert_int_equal(chmod(f->data, 0755), 0); /* readable, not writable: accepted */
    assert_int_equal(open_rc(f->data, &err), CU_OK);
    assert_int_equal(chmod(f->data, 0700), 0);
    assert_int_equal(open_rc(f->data, &err), CU_OK);
}

static void test_P_ENC_1_init_into_a_world_writable_dir_is_refused(void **state)
{
    fx *f = *state;
    cu_vault_opts o = {0};
    cu_err err = {0};
    char data[512];

    snprintf(data, sizeof(data), "%s/open", f->dir);
    assert_int_equal(mkdir(data, 0700), 0);
    assert_int_equal(chmod(data, 0777), 0);
    o.data_dir = data;
    o.store = th_store_new(data);
    assert_int_equal(cu_vault_init(&o, &err), CU_ERR_PERM);
    snprintf(data, sizeof(data), "%s/open/master.key", f->dir);
    assert_int_not_equal(access(data, F_OK), 0); /* no key written there */
}

static void test_P_ENC_1_readable_database_and_wal_are_refused(void **state)
{
    th_sqlite_only("the modes of SQLite's database files (PostgreSQL's are its server's)");
    fx *f = *state;
    static const char *const files[] = {"custos.db", "custos.db-wal", "custos.db-shm"};
    cu_err err = {0};
    char path[512];

    for (size_t i = 0; i < CU_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", f->data, files[i]);
        if (access(path, F_OK) != 0) { /* a clean close removes the WAL: make an empty one */
            FILE *fp = fopen(path, "w");
            assert_non_null(fp);
            fclose(fp);
        }
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(open_rc(f->data, &err), CU_ERR_PERM);
        assert_non_null(strstr(err.msg, files[i]));
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(open_rc(f->data, &err), CU_OK);
    }
}

static void test_P_ENC_1_files_of_another_owner_are_refused(void **state)
{
    fx *f = *state;
    static const char *const files[] = {"", "/master.key", "/custos.db"};
    cu_err err = {0};
    char path[512];

    if (geteuid() != 0)
        skip(); /* only root can give a file away */
    /* On PostgreSQL the data directory holds no database file: the directory and key alone. */
    for (size_t i = 0; i < CU_ARRAY_LEN(files) - (th_store(f->data) != NULL); i++) {
        snprintf(path, sizeof(path), "%s%s", f->data, files[i]);
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(open_rc(f->data, &err), CU_ERR_PERM);
        assert_non_null(strstr(err.msg, "owned by uid 65534"));
        assert_int_equal(chown(path, 0, 0), 0);
        assert_int_equal(open_rc(f->data, &err), CU_OK);
    }
}

/* A key file whose Argon2id parameters were lowered (by an attacker who wants a cheap guess,
 * or by an old tool) is refused before any derivation. */
static void test_P_ENC_1_key_file_kdf_below_the_minimum_is_refused(void **state)
{
    fx *f = *state;
    cu_vault_opts o = {0};
    cu_vault *v = NULL;
    cu_err err = {0};
    char data[512], path[600], *text = NULL, *p;
    size_t n = 0;

    (void)state;
    snprintf(data, sizeof(data), "%s/pass", f->dir);
    o.data_dir = data;
    o.store = th_store_new(data);
    o.passphrase = "correct horse battery staple";
    assert_int_equal(cu_vault_init(&o, &err), CU_OK);
    snprintf(path, sizeof(path), "%s/master.key", data);
    assert_int_equal(cu_file_read(path, 16384, &text, &n, &err), CU_OK);
    /* "kdf argon2id <salt> 3 67108864" -> "kdf argon2id <salt> 1 67108864" */
    p = strstr(text, " 3 67108864");
    assert_non_null(p);
    p[1] = '1';
    assert_int_equal(cu_file_write_atomic(path, text, n, 0600, &err), CU_OK);
    assert_int_equal(cu_vault_open(&o, &v, &err), CU_ERR_INVALID);
    assert_non_null(strstr(err.msg, "below the minimum"));
    p[1] = '3';
    p = strstr(text, " 67108864");
    memcpy(p, " 00008192", 9); /* 8 KiB of memory */
    assert_int_equal(cu_file_write_atomic(path, text, n, 0600, &err), CU_OK);
    assert_int_equal(cu_vault_open(&o, &v, &err), CU_ERR_INVALID);
    memcpy(p, " 67108864", 9);
    assert_int_equal(cu_file_write_atomic(path, text, n, 0600, &err), CU_OK);
    assert_int_equal(cu_vault_open(&o, &v, &err), CU_OK);
    cu_vault_close(v);
    free(text);
}

/* No core file, no ptrace attach, no /proc/PID/mem for the process holding the keys. */
static void test_process_harden_disables_core_dumps(void **state)
{
    pid_t pid;
    int status;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl;
        cu_err err = {0};
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1)
            _exit(2); /* the test would prove nothing */
        if (cu_process_harden(&err) != CU_OK)
            _exit(3);
        if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
            _exit(4);
        _exit(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : 5);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A consent's source is stored in clear, so it is a word of a fixed vocabulary: free text, which
 * could carry an address or a phone number, is refused and never reaches the database. */
static void test_P_CON_2_consent_source_is_a_fixed_vocabulary(void **state)
{
    fx *f = *state;
    static const char *const refused[] = {"ada.lovelace", "447946095800", "web:ada", "Web", ""};
    size_t len = 0;
    const char *text = cu_policy_builtin("scm", &len);
    cu_subject_in in = {.external_id = "crm-1"};
    cu_vault *v = th_reopen(f->data);
    cu_consent *l = NULL;
    cu_tenant t;
    cu_err err = {0};
    cu_id s = 0;
    size_t n = 0;

    assert_int_equal(cu_tenant_create(v, NULL,
                                      &(cu_tenant_opts){.name = "SCM",
                                                        .policy = text,
                                                        .policy_len = len,
                                                        .policy_name = "scm"},
                                      &t, &err),
                     CU_OK);
    assert_int_equal(cu_subject_create(v, NULL, t.id, &in, &s, &err), CU_OK);
    for (size_t i = 0; i < CU_ARRAY_LEN(refused); i++) {
        assert_int_equal(cu_consent_record(v, NULL, t.id, s, "shared_on_request", CU_CONSENT_GRANT,
                                           refused[i], &err),
                         CU_ERR_INVALID);
        assert_non_null(strstr(err.msg, "source must be one of"));
    }
    assert_int_equal(cu_consent_record(v, NULL, t.id, s, "shared_on_request", CU_CONSENT_GRANT,
                                       "web-form", &err),
                     CU_OK);
    assert_int_equal(
        cu_consent_record(v, NULL, t.id, s, "shared_on_request", CU_CONSENT_WITHDRAW, NULL, &err),
        CU_OK);
    assert_int_equal(cu_consent_list(v, NULL, t.id, s, &l, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_string_equal(l[0].source, "web-form");
    assert_string_equal(l[1].source, "api");
    free(l);
    cu_vault_close(v);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM consents WHERE source NOT IN "
                                         "('web-form', 'api')"),
                     0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_ENC_1_data_dir_writable_by_others_is_refused),
        T(test_P_ENC_1_init_into_a_world_writable_dir_is_refused),
        T(test_P_ENC_1_readable_database_and_wal_are_refused),
        T(test_P_ENC_1_files_of_another_owner_are_refused),
        T(test_P_ENC_1_key_file_kdf_below_the_minimum_is_refused),
        cmocka_unit_test(test_process_harden_disables_core_dumps),
        T(test_P_CON_2_consent_source_is_a_fixed_vocabulary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
