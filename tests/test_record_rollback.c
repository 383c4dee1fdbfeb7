/*
 * test_record_rollback.c: a record rolled back to an older ciphertext of itself by someone
 * who writes the database (issue 18, item 13; P-ENC-2, P-AUD-2).
 *
 * Each write's version is bound into the document's AAD, so an older document put back under
 * the current row fails at the read. The whole row put back (document, version and fields
 * together) still opens: what catches it is the digest of the ciphertext in the write's audit
 * entry, which `verify --deep` (cu_audit_verify_with, deep) holds against the stored record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

static const cu_ctx CTX = {.actor = "test", .purpose = "support"};

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id tenant;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_field_def ssn = {.name = "ssn", .cls = CU_FIELD_SENSITIVE};
    cu_tenant t;
    cu_err err = {0};

    assert_non_null(f);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    assert_int_equal(cu_collection_define(f->v, &CTX, t.id, "staff", &ssn, 1, &err), CU_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static cu_id put(fx *f, const char *json)
{
    cu_err err = {0};
    cu_id id = 0;

    assert_int_equal(
        cu_record_put(f->v, &CTX, f->tenant, "staff", 0, json, strlen(json), &id, &err), CU_OK);
    return id;
}

static void update(fx *f, cu_id id, const char *json)
{
    cu_err err = {0};

    assert_int_equal(cu_record_update(f->v, &CTX, f->tenant, id, json, strlen(json), &err), CU_OK);
}

static cu_rc get(fx *f, cu_id id, char *out, size_t cap)
{
    cu_record r = {0};
    cu_err err = {0};
    cu_rc rc = cu_record_get(f->v, &CTX, f->tenant, id, &r, &err);

    if (rc == CU_OK && out != NULL)
        snprintf(out, cap, "%s", r.json);
    cu_record_cleanup(&r);
    return rc;
}

/* Runs one of the statements below on the record (its tenant and id filled in). */
#define SQL(f, id, fmt)                                                                            \
    do {                                                                                           \
        char q_[1024];                                                                             \
        snprintf(q_, sizeof(q_), fmt, (long long)(f)->tenant, (long long)(id),                     \
                 (long long)(f)->tenant, (long long)(id));                                         \
        assert_int_equal(th_sql((f)->data, q_), 0);                                                \
    } while (0)

/* A record's fields, by its internal key (schema 14), for the second tenant and id of SQL(). */
#define FIELDS_OF "rid = (SELECT rid FROM records WHERE tenant_id = %lld AND record_id = %lld)"

/* Copies the record's row and fields aside (tables bak_records, bak_fields). */
static void save_row(fx *f, cu_id id)
{
    SQL(f, id,
        "CREATE TABLE bak_records AS SELECT * FROM records WHERE tenant_id = %lld AND "
        "record_id = %lld; CREATE TABLE bak_fields AS SELECT * FROM record_fields "
        "WHERE " FIELDS_OF);
}

static cu_rc verify_deep(fx *f, cu_audit_report *rep)
{
    cu_audit_verify_opts o = {.deep = 1};
    cu_err err = {0};

    return cu_audit_verify_with(f->v, &CTX, f->tenant, &o, rep, &err);
}

/* The document of an older write put back under the current row: the version in the AAD no
 * longer matches, and the read fails (integrity) instead of answering the old values. */
static void test_P_ENC_2_older_document_fails_to_open(void **state)
{
    fx *f = *state;
    char got[256];
    cu_id id = put(f, "{\"role\":\"clerk\",\"ssn\":\"111-11-1111\"}");

    save_row(f, id);
    update(f, id, "{\"role\":\"manager\",\"ssn\":\"111-11-1111\"}");
    cu_vault_close(f->v);
    f->v = NULL;
    SQL(f, id,
        "UPDATE records SET doc = (SELECT doc FROM bak_records) WHERE tenant_id = %lld AND "
        "record_id = %lld; DELETE FROM record_fields WHERE " FIELDS_OF ";"
        "INSERT INTO record_fields SELECT * FROM bak_fields");
    f->v = th_reopen(f->data);
    assert_int_equal(get(f, id, got, sizeof(got)), CU_ERR_CRYPTO);
}

/* The whole row put back (document, version and fields of the first write): it opens, as it
 * did when it was current, and the plain verify says nothing about records; verify --deep finds
 * that the record no longer holds what its latest write stored. */
static void test_P_AUD_2_whole_row_rollback_is_found_by_verify_deep(void **state)
{
    fx *f = *state;
    cu_audit_report rep;
    char got[256];
    cu_id other = put(f, "{\"role\":\"intern\"}");
    cu_id id = put(f, "{\"role\":\"clerk\",\"ssn\":\"111-11-1111\"}");

    (void)other;
    save_row(f, id);
    update(f, id, "{\"role\":\"manager\",\"ssn\":\"111-11-1111\"}");
    assert_int_equal(verify_deep(f, &rep), CU_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.records, 2);
    cu_vault_close(f->v);
    f->v = NULL;
    SQL(f, id,
        "DELETE FROM records WHERE tenant_id = %lld AND record_id = %lld; INSERT INTO records "
        "SELECT * FROM bak_records; DELETE FROM record_fields WHERE " FIELDS_OF ";"
        " INSERT INTO record_fields SELECT * FROM bak_fields");
    f->v = th_reopen(f->data);
    assert_int_equal(get(f, id, got, sizeof(got)), CU_OK);
    assert_non_null(strstr(got, "clerk")); /* the read cannot tell (docs/keys.md) */
    {
        cu_err err = {0};
        assert_int_equal(cu_audit_verify(f->v, &CTX, f->tenant, &rep, &err), CU_OK);
        assert_true(rep.ok);
    }
    assert_int_equal(verify_deep(f, &rep), CU_OK);
    assert_false(rep.ok);
    assert_non_null(strstr(rep.problem, "rolled back"));
}

/* A deleted record is not held against its last write; the log still verifies deep. */
static void test_P_AUD_2_verify_deep_skips_deleted_records(void **state)
{
    fx *f = *state;
    cu_audit_report rep;
    cu_err err = {0};
    cu_id id = put(f, "{\"role\":\"clerk\"}");

    update(f, id, "{\"role\":\"lead\"}");
    assert_int_equal(cu_record_delete(f->v, &CTX, f->tenant, id, &err), CU_OK);
    assert_int_equal(verify_deep(f, &rep), CU_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.records, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_ENC_2_older_document_fails_to_open),
        T(test_P_AUD_2_whole_row_rollback_is_found_by_verify_deep),
        T(test_P_AUD_2_verify_deep_skips_deleted_records),
    };

    return cmocka_run_group_tests_name("record rollback", tests, NULL, NULL);
}
