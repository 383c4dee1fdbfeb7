/*
 * test_keys.c: data key rotation (P-ENC-5, issue 18 item 10): a new data key version with new
 * key material for new writes, older values still readable under their version, the
 * re-encryption pass that seals them again, crash-safe and audited, and the old version
 * destroyed once, and only once, nothing uses it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_sqlite.h"
#include "th.h"

typedef struct fx {
    char dir[256];
    char data[256];
    cu_vault *v;
    cu_id tenant;
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 0}};
    cu_tenant t;
    cu_err err = {0};

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    assert_int_equal(cu_collection_define(f->v, NULL, t.id, "staff", defs, 1, &err), CU_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

/* A record of the tenant's own (no subject): sealed under the data key. */
static cu_id put(fx *f, int i)
{
    char json[128];
    cu_err err = {0};
    cu_id id = 0;

    snprintf(json, sizeof(json), "{\"name\":\"n%d\",\"ssn\":\"123-45-%04d\"}", i, i);
    if (cu_record_put(f->v, NULL, f->tenant, "staff", 0, json, strlen(json), &id, &err) != CU_OK)
        fail_msg("put: %s", err.msg);
    return id;
}

static void expect_record(fx *f, cu_id id, int i)
{
    char want[32];
    cu_record r = {0};
    cu_err err = {0};

    if (cu_record_get(f->v, NULL, f->tenant, id, &r, &err) != CU_OK)
        fail_msg("get %d: %s", i, err.msg);
    snprintf(want, sizeof(want), "\"123-45-%04d\"", i);
    assert_non_null(strstr(r.json, want));
    cu_record_cleanup(&r);
}

static long long sql_int(fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static long long sql_int(fx *f, const char *fmt, ...)
{
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return th_sql_int(f->data, sql);
}

#define DATA_KEY_ROWS                                                                              \
    "SELECT count(*) FROM keys WHERE tenant_id = %llu AND kind = 2 AND version = %u"
#define RECORDS_AT "SELECT count(*) FROM records WHERE tenant_id = %llu AND key_version = %u"

static void test_P_ENC_5_data_key_rotation_reencrypts_and_destroys_the_old_version(void **state)
{
    fx *f = *state;
    cu_id rec[3], fresh, hold, user;
    cu_reencrypt_report rep;
    cu_hold *holds = NULL;
    cu_user u = {0};
    cu_err err = {0};
    char uri[CU_TOTP_URI_MAX];
    unsigned version = 0;
    size_t n = 0;

    for (int i = 0; i < 3; i++)
        rec[i] = put(f, i);
    assert_int_equal(cu_hold_place(f->v, NULL, f->tenant, 0, rec[0], "case 42", &hold, &err),
                     CU_OK);
    assert_int_equal(cu_user_create(f->v, NULL, f->tenant, "ada@example.com", "a long password 1",
                                    CU_ROLE_ADMIN, &user, &err),
                     CU_OK);
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->tenant, user, "a long password 1", NULL, uri, NULL,
                                         &err), CU_OK);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->tenant, &version, &err), CU_OK);
    assert_int_equal(version, 2);
    /* New writes use the new version; older values still read under theirs. */
    fresh = put(f, 3);
    assert_int_equal(sql_int(f, RECORDS_AT, (unsigned long long)f->tenant, 2u), 1);
    for (int i = 0; i < 3; i++)
        expect_record(f, rec[i], i);
    assert_int_equal(cu_hold_release(f->v, NULL, f->tenant, hold, "case closed", &err), CU_OK);
    assert_int_equal(cu_user_get(f->v, NULL, f->tenant, user, &u, &err), CU_OK);
    cu_user_cleanup(&u);
    /* The pass seals everything again and destroys version 1. */
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.version, 2);
    assert_int_equal(rep.records, 3);
    assert_int_equal(rep.holds, 1);
    assert_int_equal(rep.users, 2); /* the email and the pending TOTP secret */
    assert_int_equal(rep.destroyed, 1);
    assert_int_equal(rep.remaining, 0);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 1u), 0);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 2u), 1);
    assert_int_equal(sql_int(f, RECORDS_AT, (unsigned long long)f->tenant, 1u), 0);
    /* Everything reads, from a reopened vault too. */
    cu_vault_close(f->v);
    f->v = th_reopen(f->data);
    for (int i = 0; i < 3; i++)
        expect_record(f, rec[i], i);
    expect_record(f, fresh, 3);
    assert_int_equal(cu_hold_list(f->v, NULL, f->tenant, &holds, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_string_equal(holds[0].reason, "case 42");
    assert_string_equal(holds[0].release_reason, "case closed");
    cu_hold_cleanup(&holds[0]);
    free(holds);
    assert_int_equal(cu_user_get(f->v, NULL, f->tenant, user, &u, &err), CU_OK);
    assert_string_equal(u.email, "ada@example.com");
    cu_user_cleanup(&u);
    assert_int_equal(sql_int(f,
                             "SELECT count(*) FROM users WHERE tenant_id = %llu AND"
                             " totp_pending_key_version = %u",
                             (unsigned long long)f->tenant, 2u),
                     1);
    /* The pending secret opens under version 2: a wrong code is refused as wrong, not as a
     * key or integrity failure. */
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->tenant, user, "000000", NULL, &err),
                     CU_ERR_AUTH);
    /* Audited: the rotation, the re-encryption and the destruction. */
    assert_int_equal(sql_int(f,
                             "SELECT count(*) FROM audit_log WHERE tenant_id = %llu AND"
                             " action = 'key.rotate_data'",
                             (unsigned long long)f->tenant),
                     1);
    assert_true(sql_int(f,
                        "SELECT count(*) FROM audit_log WHERE tenant_id = %llu AND"
                        " action = 'key.reencrypt'",
                        (unsigned long long)f->tenant) >= 1);
    assert_int_equal(sql_int(f,
                             "SELECT count(*) FROM audit_log WHERE tenant_id = %llu AND"
                             " action = 'key.destroy' AND object = 'data_key:%u'",
                             (unsigned long long)f->tenant, 1u),
                     1);
    /* Each resealed record has its new document's digest in the log: a deep verify holds
     * the records against it, not against their last writes (P-AUD-2). */
    {
        cu_audit_verify_opts vo = {.deep = 1};
        cu_audit_report ar;
        assert_int_equal(cu_audit_verify_with(f->v, NULL, f->tenant, &vo, &ar, &err), CU_OK);
        assert_true(ar.ok);
        assert_int_equal(ar.records, 4);
    }
    /* A second pass has nothing to do. */
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.records + rep.holds + rep.users + rep.destroyed, 0);
}

/* After the pass, the old version's wrapped bytes are in neither the database nor its WAL
 * (secure_delete, then a checkpoint), as for an erased subject's key (P-DSR-4). */
static void test_P_ENC_5_destroyed_data_key_is_in_no_file(void **state)
{
    th_sqlite_only("secure_delete and the WAL checkpoint overwrite a deleted key; PostgreSQL keeps dead bytes until reuse (docs/store.md)");
    fx *f = *state;
    cu_reencrypt_report rep;
    cu_err err = {0};
    char v1[256] = "", v2[256] = "";

    put(f, 1);
    assert_int_equal(
        th_sql_text(f->data, "SELECT hex(wrapped) FROM keys WHERE kind = 2", v1, sizeof(v1)), 0);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->tenant, NULL, &err), CU_OK);
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(
        th_sql_text(f->data, "SELECT hex(wrapped) FROM keys WHERE kind = 2", v2, sizeof(v2)), 0);
    assert_string_not_equal(v1, v2);
    cu_vault_close(f->v);
    f->v = NULL;
    {
        char path[512];
        uint8_t raw[64];
        size_t len = strlen(v1) / 2;
        for (size_t i = 0; i < len && i < sizeof(raw); i++)
            sscanf(v1 + 2 * i, "%2hhx", &raw[i]);
        snprintf(path, sizeof(path), "%s/custos.db", f->data);
        assert_false(th_file_contains(path, raw, len < sizeof(raw) ? len : sizeof(raw)));
        snprintf(path, sizeof(path), "%s/custos.db-wal", f->data);
        assert_false(th_file_contains(path, raw, len < sizeof(raw) ? len : sizeof(raw)));
    }
}

typedef struct crash_arg {
    const char *data;
    cu_id tenant;
} crash_arg;

static void child_reencrypt(void *p)
{
    crash_arg *a = p;
    cu_vault_opts o = {.data_dir = a->data, .store = th_store(a->data)};
    cu_reencrypt_report rep;
    cu_vault *v = NULL;
    cu_err err = {0};

    if (cu_vault_open(&o, &v, &err) != CU_OK)
        _exit(3);
    if (cu_key_reencrypt(v, NULL, a->tenant, &rep, &err) != CU_OK)
        _exit(4);
    cu_vault_close(v);
}

/* A kill after the first batch leaves values under both versions, all readable, and the old
 * version in place; the next pass finishes and destroys it. */
static void test_P_ENC_5_reencryption_survives_a_crash(void **state)
{
    fx *f = *state;
    enum { N = 40 }; /* more than one batch */
    cu_id rec[N];
    cu_reencrypt_report rep;
    crash_arg a = {f->data, f->tenant};
    cu_err err = {0};
    long long at1, at2;

    for (int i = 0; i < N; i++)
        rec[i] = put(f, i);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->tenant, NULL, &err), CU_OK);
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(th_crash_at("reencrypt.batch_committed", child_reencrypt, &a), 70);
    at1 = sql_int(f, RECORDS_AT, (unsigned long long)f->tenant, 1u);
    at2 = sql_int(f, RECORDS_AT, (unsigned long long)f->tenant, 2u);
    assert_true(at1 > 0 && at2 > 0 && at1 + at2 == N);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 1u), 1);
    f->v = th_reopen(f->data);
    for (int i = 0; i < N; i++)
        expect_record(f, rec[i], i);
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.records, (size_t)at1);
    assert_int_equal(rep.destroyed, 1);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 1u), 0);
    for (int i = 0; i < N; i++)
        expect_record(f, rec[i], i);
}

/* Records of a subject are sealed under the subject's key, not the data key: the pass leaves
 * them alone, and a tenant key rotation afterwards still rewraps every key. */
static void
test_P_ENC_5_data_rotation_leaves_subject_records_and_tenant_rotation_works(void **state)
{
    fx *f = *state;
    cu_subject_in in = {.external_id = "crm-1"};
    cu_reencrypt_report rep;
    cu_err err = {0};
    cu_id s = 0, r1, r2 = 0;
    const char *doc = "{\"name\":\"Ada\",\"ssn\":\"123-45-9999\"}";

    assert_int_equal(cu_subject_create(f->v, NULL, f->tenant, &in, &s, &err), CU_OK);
    assert_int_equal(cu_record_put(f->v, NULL, f->tenant, "staff", s, doc, strlen(doc), &r2, &err),
                     CU_OK);
    r1 = put(f, 7);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->tenant, NULL, &err), CU_OK);
    assert_int_equal(cu_key_rotate_tenant(f->v, NULL, f->tenant, NULL, NULL, &err), CU_OK);
    expect_record(f, r1, 7);
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.records, 1);
    expect_record(f, r1, 7);
    expect_record(f, r2, 9999);
}

/* The store destroys a version only when nothing uses it and it is not the newest, inside the
 * destroying transaction: a value written under it meanwhile keeps it alive. */
static void test_P_ENC_5_data_key_in_use_is_not_destroyed(void **state)
{
    fx *f = *state;
    cu_store_op op = {0};
    cu_store *st = NULL;
    cu_err err = {0};
    char path[512];

    put(f, 1);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->tenant, NULL, &err), CU_OK);
    cu_vault_close(f->v);
    f->v = NULL;
    snprintf(path, sizeof(path), "%s/custos.db", f->data);
    assert_int_equal(cu_store_sqlite_open_single(path, &st, &err), CU_OK);
    op.type = CU_OP_DATA_KEY_DESTROY;
    op.u.key_del.tenant_id = f->tenant;
    op.u.key_del.kind = CU_KEY_DATA;
    op.u.key_del.version = 1; /* a record still uses it */
    assert_int_equal(st->ops->apply(st, &op, 1, &err), CU_ERR_CONFLICT);
    op.u.key_del.version = 2; /* the newest */
    assert_int_equal(st->ops->apply(st, &op, 1, &err), CU_ERR_CONFLICT);
    st->ops->close(st);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 1u), 1);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 2u), 1);
    f->v = th_reopen(f->data);
}

/* The server's background pass finds the tenants with an older data key version left and
 * finishes them, destroying a version one pass after its last value was sealed again; other
 * tenants are not touched. */
static void test_P_ENC_5_background_pass_finishes_pending_tenants(void **state)
{
    fx *f = *state;
    cu_reencrypt_report rep;
    cu_tenant other;
    cu_err err = {0};
    cu_id r1;

    r1 = put(f, 1);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Other"}, &other, &err),
                     CU_OK);
    assert_int_equal(cu_key_reencrypt_all(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records + rep.destroyed + rep.remaining, 0);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->tenant, NULL, &err), CU_OK);
    put(f, 2);
    /* First pass: version 1 is still used, so it stays; the record is sealed again. */
    assert_int_equal(cu_key_reencrypt_all(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records, 1);
    assert_int_equal(rep.destroyed, 0);
    assert_int_equal(rep.remaining, 1);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 1u), 1);
    expect_record(f, r1, 1);
    /* The next pass destroys it: a read begun before the first still found its key. */
    assert_int_equal(cu_key_reencrypt_all(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records, 0);
    assert_int_equal(rep.destroyed, 1);
    assert_int_equal(rep.remaining, 0);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)f->tenant, 1u), 0);
    assert_int_equal(sql_int(f, DATA_KEY_ROWS, (unsigned long long)other.id, 1u), 1);
    expect_record(f, r1, 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_ENC_5_data_key_rotation_reencrypts_and_destroys_the_old_version),
        T(test_P_ENC_5_destroyed_data_key_is_in_no_file),
        T(test_P_ENC_5_reencryption_survives_a_crash),
        T(test_P_ENC_5_data_key_in_use_is_not_destroyed),
        T(test_P_ENC_5_background_pass_finishes_pending_tenants),
        T(test_P_ENC_5_data_rotation_leaves_subject_records_and_tenant_rotation_works),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
