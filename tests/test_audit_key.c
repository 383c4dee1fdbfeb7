/*
 * test_audit_key.c: the audit signing key DIR/audit.key (issue 18, item 2; P-AUD-2).
 *
 * It is wrapped under the master key (so in passphrase mode it is no more readable than the
 * master key), refused when group or others may read it, pinned by its public half in the
 * database (a replaced key does not open), never silently made anew while checkpoints exist,
 * read in its old plain format and rewrapped, and rewrapped by a master key rotation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_int.h" /* v->audit_sk: the key the file must not show */
#include "th.h"
#include "util.h"

static const cu_ctx CTX = {.actor = "test"};

static void key_file(const char *data, char path[320])
{
    snprintf(path, 320, "%s/audit.key", data);
}

static cu_rc open_rc(const char *data, const char *passphrase, cu_err *err)
{
    cu_vault_opts o = {.data_dir = data, .passphrase = passphrase, .store = th_store(data)};
    cu_vault *v = NULL;
    cu_rc rc = cu_vault_open(&o, &v, err);

    cu_vault_close(v);
    return rc;
}

/* Writes the 64-byte secret key sk as a format-1 (plain base64) key file. */
static void write_plain(const char *path, const uint8_t *sk)
{
    char b64[128], line[192];
    cu_err err = {0};
    int n;

    assert_int_equal(cu_b64_encode(sk, CU_SIGN_SKBYTES, b64, sizeof(b64)), CU_OK);
    n = snprintf(line, sizeof(line), "custos-audit-key 1\n%s\n", b64);
    assert_int_equal(cu_file_write_atomic(path, line, (size_t)n, 0600, &err), CU_OK);
}

/* The key file holds neither the secret key nor its seed, in base64 or raw, in either mode. */
static void test_P_AUD_2_audit_key_file_is_wrapped_under_the_master_key(void **state)
{
    static const char *const passphrases[] = {NULL, "correct horse battery staple"};
    char dir[256], data[300], path[320], b64[128];
    cu_err err = {0};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        cu_vault_opts o = {.passphrase = passphrases[i]};
        cu_vault *v = NULL;
        th_tmpdir(dir);
        snprintf(data, sizeof(data), "%s/data", dir);
        o.data_dir = data;
        o.store = th_store_new(data);
        assert_int_equal(cu_vault_init(&o, &err), CU_OK);
        assert_int_equal(cu_vault_open(&o, &v, &err), CU_OK);
        key_file(data, path);
        assert_true(th_file_contains(path, "custos-audit-key 2\n", 19));
        assert_false(th_file_contains(path, v->audit_sk, 32));
        assert_int_equal(cu_b64_encode(v->audit_sk, 32, b64, sizeof(b64)), CU_OK);
        assert_false(th_file_contains(path, b64, 40));
        assert_int_equal(cu_b64_encode(v->audit_sk, CU_SIGN_SKBYTES, b64, sizeof(b64)), CU_OK);
        assert_false(th_file_contains(path, b64, 40));
        cu_vault_close(v);
        /* The wrong passphrase opens nothing, the audit key included. */
        if (passphrases[i] != NULL)
            assert_int_not_equal(open_rc(data, "wrong wrong wrong wrong", &err), CU_OK);
        assert_int_equal(open_rc(data, passphrases[i], &err), CU_OK);
        th_rmrf(dir);
    }
}

/* Checked like master.key: readable by group or others, the vault does not open. */
static void test_P_AUD_2_audit_key_readable_by_others_is_refused(void **state)
{
    char dir[256], data[256], path[320];
    cu_err err = {0};

    (void)state;
    th_tmpdir(dir);
    cu_vault_close(th_vault(dir, data));
    key_file(data, path);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(open_rc(data, NULL, &err), CU_ERR_PERM);
    assert_non_null(strstr(err.msg, "audit"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(open_rc(data, NULL, &err), CU_OK);
    th_rmrf(dir);
}

/* Gone while checkpoints exist: no new key is made behind the tenant's back; the vault does
 * not open until the file is restored. Without any checkpoint a new one is made. */
static void test_P_AUD_2_missing_audit_key_with_checkpoints_does_not_open(void **state)
{
    char dir[256], data[256], path[320], backup[340];
    cu_audit_checkpoint c;
    cu_tenant t;
    cu_err err = {0};
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_vault_close(v);
    key_file(data, path);
    /* No checkpoint yet: a lost key is simply made anew. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(open_rc(data, NULL, &err), CU_OK);
    v = th_reopen(data);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(cu_audit_checkpoint_now(v, &CTX, t.id, &c, &err), CU_OK);
    cu_vault_close(v);
    snprintf(backup, sizeof(backup), "%s.bak", path);
    assert_int_equal(th_copy(path, backup), 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(open_rc(data, NULL, &err), CU_ERR_KEY);
    assert_non_null(strstr(err.msg, "missing"));
    assert_int_equal(access(path, F_OK), -1); /* not silently regenerated */
    assert_int_equal(rename(backup, path), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(open_rc(data, NULL, &err), CU_OK);
    th_rmrf(dir);
}

/* Another key in its place (a plain one, which the vault would otherwise accept): its public
 * half differs from the database's, and the vault does not open. */
static void test_P_AUD_2_replaced_audit_key_does_not_open(void **state)
{
    char dir[256], data[256], path[320];
    uint8_t pk[CU_SIGN_PKBYTES], sk[CU_SIGN_SKBYTES];
    cu_err err = {0};

    (void)state;
    th_tmpdir(dir);
    cu_vault_close(th_vault(dir, data));
    key_file(data, path);
    assert_int_equal(cu_sign_keypair(pk, sk), CU_OK);
    write_plain(path, sk);
    cu_wipe(sk, sizeof(sk));
    assert_int_equal(open_rc(data, NULL, &err), CU_ERR_KEY);
    assert_non_null(strstr(err.msg, "differs"));
    th_rmrf(dir);
}

/* A vault made before keys were wrapped (no public key pinned in the database yet): its key
 * file of format 1 (plain) still opens, with the same public key, and is rewritten wrapped. */
static void test_P_AUD_2_plain_audit_key_is_rewrapped_at_open(void **state)
{
    char dir[256], data[256], path[320];
    uint8_t pk[32], pk2[32], sk[CU_SIGN_SKBYTES];
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_audit_public_key(v, pk);
    memcpy(sk, v->audit_sk, sizeof(sk));
    cu_vault_close(v);
    key_file(data, path);
    write_plain(path, sk);
    cu_wipe(sk, sizeof(sk));
    assert_int_equal(th_sql(data, "DELETE FROM audit_key"), 0);
    v = th_reopen(data);
    cu_audit_public_key(v, pk2);
    assert_memory_equal(pk, pk2, 32);
    cu_vault_close(v);
    assert_true(th_file_contains(path, "custos-audit-key 2\n", 19));
    th_rmrf(dir);
}

/* Once the database pins a key, a plain key file is refused even when it is the pinned key
 * itself, or when the database was changed to pin the planted one: writing the files without
 * the master key must not swap the signing key. */
static void test_P_AUD_2_plain_audit_key_is_refused_once_one_is_pinned(void **state)
{
    char dir[256], data[256], path[320], sql[256], hex[65];
    uint8_t pk[CU_SIGN_PKBYTES], sk[CU_SIGN_SKBYTES];
    cu_err err = {0};
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    memcpy(sk, v->audit_sk, sizeof(sk));
    cu_vault_close(v);
    key_file(data, path);
    write_plain(path, sk);
    assert_int_equal(open_rc(data, NULL, &err), CU_ERR_KEY);
    assert_non_null(strstr(err.msg, "not wrapped"));
    /* A planted key, pinned in the database too. */
    assert_int_equal(cu_sign_keypair(pk, sk), CU_OK);
    write_plain(path, sk);
    cu_wipe(sk, sizeof(sk));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", pk[i]);
    snprintf(sql, sizeof(sql), "UPDATE audit_key SET public_key = x'%s'", hex);
    assert_int_equal(th_sql(data, sql), 0);
    assert_int_equal(open_rc(data, NULL, &err), CU_ERR_KEY);
    th_rmrf(dir);
}

/* A master key rotation retires the old master versions (key epochs destroy them later): the
 * audit key is rewrapped first, so the vault opens afterwards with the same audit key. */
static void test_P_AUD_2_master_rotation_rewraps_the_audit_key(void **state)
{
    char dir[256], data[256];
    uint8_t pk[32], pk2[32];
    unsigned nv = 0;
    cu_err err = {0};
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_audit_public_key(v, pk);
    assert_int_equal(cu_key_rotate_master(v, &CTX, &nv, NULL, &err), CU_OK);
    assert_int_equal(nv, 2);
    cu_vault_close(v);
    v = th_reopen(data);
    cu_audit_public_key(v, pk2);
    assert_memory_equal(pk, pk2, 32);
    cu_vault_close(v);
    th_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AUD_2_audit_key_file_is_wrapped_under_the_master_key),
        cmocka_unit_test(test_P_AUD_2_audit_key_readable_by_others_is_refused),
        cmocka_unit_test(test_P_AUD_2_missing_audit_key_with_checkpoints_does_not_open),
        cmocka_unit_test(test_P_AUD_2_replaced_audit_key_does_not_open),
        cmocka_unit_test(test_P_AUD_2_plain_audit_key_is_rewrapped_at_open),
        cmocka_unit_test(test_P_AUD_2_plain_audit_key_is_refused_once_one_is_pinned),
        cmocka_unit_test(test_P_AUD_2_master_rotation_rewraps_the_audit_key),
    };

    return cmocka_run_group_tests_name("audit key", tests, NULL, NULL);
}
