/*
 * test_store_reads.c: the store's reads through their shared helpers, for each way SQLite is
 * opened (docs/store.md, "Errors"): every single-row read of a missing object answers
 * CU_ERR_NOT_FOUND with its own message and leaves nothing to release, and the list reads
 * (record fields, record ids, master keys) return every row, in order, also past the row
 * collector's first allocation (16 rows).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"
#include "th.h"
#include "util.h"

#define MANY 40 /* rows: more than the collector's first allocation */

typedef struct rfx {
    char dir[256];
    char path[512];
    cu_store *s;
} rfx;

/* How the running group opens its store. */
static cu_rc (*open_fn)(const char *loc, cu_store **out, cu_err *err);

static int rfx_setup(void **state)
{
    rfx *f = calloc(1, sizeof(*f));
    cu_err err = {0};

    th_tmpdir(f->dir);
    snprintf(f->path, sizeof(f->path), "%s/custos.db", f->dir);
    if (open_fn(f->path, &f->s, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int rfx_teardown(void **state)
{
    rfx *f = *state;

    cu_store_close(f->s);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static uint8_t bytes8[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static void apply_ok(rfx *f, cu_store_op *ops, size_t n)
{
    cu_err err = {0};

    if (cu_store_apply(f->s, ops, n, &err) != CU_OK)
        fail_msg("apply: %s", err.msg);
}

/* Tenant 1 with subject 10 (and its key). */
static void seed(rfx *f)
{
    cu_store_op ops[3];

    memset(ops, 0, sizeof(ops));
    ops[0].type = CU_OP_TENANT_PUT;
    ops[0].u.tenant.id = 1;
    snprintf(ops[0].u.tenant.name, sizeof(ops[0].u.tenant.name), "one");
    ops[1].type = CU_OP_KEY_PUT;
    ops[1].u.key = (cu_store_key){.tenant_id = 1,
                                  .kind = CU_KEY_SUBJECT,
                                  .owner_id = 10,
                                  .version = 1,
                                  .parent_version = 1,
                                  .wrapped = {bytes8, 8}};
    ops[2].type = CU_OP_SUBJECT_PUT;
    ops[2].u.subject = (cu_store_subject){
        .tenant_id = 1, .id = 10, .key_version = 1, .created_at = 1000, .profile = {bytes8, 8}};
    apply_ok(f, ops, 3);
}

static void assert_not_found(cu_rc rc, const cu_err *err, const char *msg)
{
    assert_int_equal(rc, CU_ERR_NOT_FOUND);
    assert_int_equal(err->code, CU_ERR_NOT_FOUND);
    assert_string_equal(err->msg, msg);
}

static void test_single_row_reads_of_missing_objects_are_not_found(void **state)
{
    rfx *f = *state;
    cu_store_tenant t;
    cu_store_key k;
    cu_store_subject s;
    cu_store_record r;
    cu_store_apikey a;
    cu_store_user u;
    cu_store_session se;
    uint8_t digest[32] = {7};
    char *spec = NULL;
    cu_err err = {0};

    seed(f);
    assert_not_found(cu_store_tenant_get(f->s, 9, &t, &err), &err, "tenant not found");
    assert_not_found(cu_store_key_get(f->s, 1, CU_KEY_DATA, 0, 0, &k, &err), &err, "key not found");
    assert_not_found(cu_store_key_get(f->s, 1, CU_KEY_SUBJECT, 10, 2, &k, &err), &err,
                     "key not found");
    memset(&s, 0xff, sizeof(s));
    assert_not_found(cu_store_subject_get(f->s, 1, 11, &s, &err), &err, "subject not found");
    assert_null(s.profile.data); /* zeroed: nothing to release */
    memset(&r, 0xff, sizeof(r));
    assert_not_found(cu_store_record_get(f->s, 1, 100, &r, &err), &err, "record not found");
    assert_null(r.doc.data);
    assert_null(r.fields);
    assert_int_equal(r.nfields, 0);
    assert_not_found(cu_store_collection_get(f->s, 1, "nope", &spec, &err), &err,
                     "collection not declared");
    assert_not_found(cu_store_apikey_get(f->s, 5, &a, &err), &err, "API key not found");
    memset(&u, 0xff, sizeof(u));
    assert_not_found(cu_store_user_get(f->s, 1, 5, &u, &err), &err, "user not found");
    assert_null(u.email.data);
    assert_not_found(cu_store_user_find(f->s, 1, digest, &u, &err), &err, "user not found");
    assert_null(u.totp_secret.data);
    memset(&se, 0xff, sizeof(se));
    assert_not_found(cu_store_session_get(f->s, digest, &se, &err), &err, "session not found");
    assert_int_equal(se.tenant_id, 0);
    /* The store still reads after every miss: each read reset its statement. */
    assert_int_equal(cu_store_subject_get(f->s, 1, 10, &s, &err), CU_OK);
    assert_memory_equal(s.profile.data, bytes8, 8);
    cu_store_subject_cleanup(&s);
}

static void test_record_fields_come_back_all_in_order(void **state)
{
    rfx *f = *state;
    cu_store_field fields[MANY];
    char names[MANY][16];
    uint8_t cts[MANY][4];
    cu_store_op op = {0};
    cu_store_record r = {0};
    cu_err err = {0};

    seed(f);
    for (int i = 0; i < MANY; i++) {
        /* Written in reverse: the read orders them by name. */
        snprintf(names[i], sizeof(names[i]), "f%02d", MANY - 1 - i);
        memset(cts[i], MANY - 1 - i, sizeof(cts[i]));
        fields[i] = (cu_store_field){names[i], {cts[i], sizeof(cts[i])}};
    }
    op.type = CU_OP_RECORD_PUT;
    op.u.record = (cu_store_record){.tenant_id = 1,
                                    .id = 100,
                                    .subject_id = 10,
                                    .key_version = 1,
                                    .created_at = 1000,
                                    .updated_at = 1000,
                                    .version = 1,
                                    .doc = {bytes8, 8},
                                    .fields = fields,
                                    .nfields = MANY};
    snprintf(op.u.record.collection, sizeof(op.u.record.collection), "employees");
    apply_ok(f, &op, 1);
    assert_int_equal(cu_store_record_get(f->s, 1, 100, &r, &err), CU_OK);
    assert_string_equal(r.collection, "employees");
    assert_int_equal(r.subject_id, 10);
    assert_memory_equal(r.doc.data, bytes8, 8);
    assert_int_equal(r.nfields, MANY);
    for (int i = 0; i < MANY; i++) {
        char want[16];
        snprintf(want, sizeof(want), "f%02d", i);
        assert_string_equal(r.fields[i].name, want);
        assert_int_equal(r.fields[i].ct.len, 4);
        assert_int_equal(r.fields[i].ct.data[3], i);
    }
    cu_store_record_cleanup(&r);
    /* A record without fields reads with none. */
    op.u.record.id = 101;
    op.u.record.fields = NULL;
    op.u.record.nfields = 0;
    apply_ok(f, &op, 1);
    assert_int_equal(cu_store_record_get(f->s, 1, 101, &r, &err), CU_OK);
    assert_int_equal(r.nfields, 0);
    assert_null(r.fields);
    cu_store_record_cleanup(&r);
}

static void test_id_and_master_lists_return_every_row(void **state)
{
    rfx *f = *state;
    cu_store_op ops[MANY];
    uint32_t *versions = NULL;
    uint8_t(*checks)[32] = NULL;
    cu_id *ids = NULL;
    size_t n = 99;
    cu_err err = {0};

    assert_int_equal(cu_store_master_list(f->s, &versions, &checks, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    assert_null(versions);
    assert_null(checks);
    seed(f);
    memset(ops, 0, sizeof(ops));
    for (int i = 0; i < MANY; i++) {
        ops[i].type = CU_OP_MASTER_ADD;
        ops[i].u.master.version = (uint32_t)(MANY - i);
        memset(ops[i].u.master.check, MANY - i, 32);
    }
    apply_ok(f, ops, MANY);
    assert_int_equal(cu_store_master_list(f->s, &versions, &checks, &n, &err), CU_OK);
    assert_int_equal(n, MANY);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(versions[i], i + 1);
        assert_int_equal(checks[i][0], i + 1);
        assert_int_equal(checks[i][31], i + 1);
    }
    free(versions);
    free(checks);
    memset(ops, 0, sizeof(ops));
    for (int i = 0; i < MANY; i++) {
        ops[i].type = CU_OP_RECORD_PUT;
        ops[i].u.record = (cu_store_record){.tenant_id = 1,
                                            .id = (cu_id)(200 + i),
                                            .subject_id = 10,
                                            .key_version = 1,
                                            .created_at = 1000 + i,
                                            .updated_at = 1000 + i,
                                            .version = 1,
                                            .doc = {bytes8, 8}};
        snprintf(ops[i].u.record.collection, sizeof(ops[i].u.record.collection), "employees");
    }
    apply_ok(f, ops, MANY);
    assert_int_equal(cu_store_record_ids_by_subject(f->s, 1, 10, &ids, &n, &err), CU_OK);
    assert_int_equal(n, MANY);
    for (int i = 0; i < MANY; i++)
        assert_int_equal(ids[i], 200 + i);
    free(ids);
    assert_int_equal(cu_store_record_ids_by_subject(f->s, 1, 11, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, rfx_setup, rfx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_single_row_reads_of_missing_objects_are_not_found),
        T(test_record_fields_come_back_all_in_order),
        T(test_id_and_master_lists_return_every_row),
    };
    int failed = 0;

    open_fn = cu_store_open; /* a pool of connections */
    failed += _cmocka_run_group_tests("sqlite", tests, CU_ARRAY_LEN(tests), NULL, NULL);
    open_fn = cu_store_sqlite_open_single; /* one connection for everything */
    failed += _cmocka_run_group_tests("sqlite-connection", tests, CU_ARRAY_LEN(tests), NULL, NULL);
    return failed;
}
