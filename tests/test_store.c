/*
 * test_store.c: the SQLite store behind its ops table: atomic batches, uniqueness, tenant-led
 * keys, and schema migration from the previous version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store.h"
#include "th.h"

typedef struct sfx {
    char dir[256];
    char path[512];
    cu_store *s;
} sfx;

static int sfx_setup(void **state)
{
    sfx *f = calloc(1, sizeof(*f));
    cu_err err = {0};

    th_tmpdir(f->dir);
    snprintf(f->path, sizeof(f->path), "%s/custos.db", f->dir);
    if (cu_store_sqlite_open(f->path, &f->s, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
    *state = f;
    return 0;
}

static int sfx_teardown(void **state)
{
    sfx *f = *state;

    if (f->s)
        f->s->ops->close(f->s);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static cu_store_op tenant_op(cu_id id, const char *name)
{
    cu_store_op op;

    memset(&op, 0, sizeof(op));
    op.type = CU_OP_TENANT_PUT;
    op.u.tenant.id = id;
    snprintf(op.u.tenant.name, sizeof(op.u.tenant.name), "%s", name);
    op.u.tenant.created_at = 1700000000;
    return op;
}

static cu_store_op blind_op(cu_id tenant, const char *scope, uint8_t byte, cu_id owner, int uniq)
{
    cu_store_op op;

    memset(&op, 0, sizeof(op));
    op.type = CU_OP_BLIND_PUT;
    op.u.blind.tenant_id = tenant;
    op.u.blind.scope = scope;
    memset(op.u.blind.digest, byte, 32);
    op.u.blind.owner_id = owner;
    op.u.blind.unique = uniq;
    return op;
}

static void test_batch_commits_all_or_nothing(void **state)
{
    sfx *f = *state;
    cu_store_op ok[2] = {tenant_op(1, "one"), blind_op(1, "s:ext", 7, 10, 1)};
    cu_store_op bad[3] = {tenant_op(2, "two"), blind_op(1, "s:email", 9, 11, 0),
                          blind_op(1, "s:ext", 7, 12, 1)};
    cu_store_tenant t;
    cu_err err = {0};
    cu_id *ids = NULL;
    size_t n = 0;
    uint8_t d[32];

    assert_int_equal(f->s->ops->apply(f->s, ok, 2, &err), CU_OK);
    /* The third op breaks uniqueness: the tenant and the email entry before it vanish too. */
    assert_int_equal(f->s->ops->apply(f->s, bad, 3, &err), CU_ERR_EXISTS);
    assert_int_equal(f->s->ops->tenant_get(f->s, 2, &t, &err), CU_ERR_NOT_FOUND);
    memset(d, 9, 32);
    assert_int_equal(f->s->ops->blind_find(f->s, 1, "s:email", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    /* The store is usable after the rollback. */
    assert_int_equal(f->s->ops->apply(f->s, bad, 2, &err), CU_OK);
    assert_int_equal(f->s->ops->tenant_get(f->s, 2, &t, &err), CU_OK);
    assert_string_equal(t.name, "two");
}

static void test_unique_scope_only_where_asked(void **state)
{
    sfx *f = *state;
    cu_store_op ops[3] = {tenant_op(1, "one"), blind_op(1, "s:email", 3, 10, 0),
                          blind_op(1, "s:email", 3, 11, 0)};
    cu_err err = {0};
    cu_id *ids = NULL;
    size_t n = 0;
    uint8_t d[32];

    assert_int_equal(f->s->ops->apply(f->s, ops, 3, &err), CU_OK);
    memset(d, 3, 32);
    assert_int_equal(f->s->ops->blind_find(f->s, 1, "s:email", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(ids);
    /* Another tenant's lookup of the same digest sees nothing. */
    assert_int_equal(f->s->ops->blind_find(f->s, 2, "s:email", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
}

static void test_foreign_keys_refuse_orphans(void **state)
{
    sfx *f = *state;
    cu_store_op op;
    cu_err err = {0};
    uint8_t doc[4] = {1, 2, 3, 4};

    memset(&op, 0, sizeof(op));
    op.type = CU_OP_RECORD_PUT;
    op.u.record.tenant_id = 99; /* no such tenant */
    op.u.record.id = 5;
    snprintf(op.u.record.collection, sizeof(op.u.record.collection), "notes");
    op.u.record.doc.data = doc;
    op.u.record.doc.len = 4;
    assert_int_equal(f->s->ops->apply(f->s, &op, 1, &err), CU_ERR_NOT_FOUND);
}

static void test_migration_from_previous_schema_version(void **state)
{
    sfx *f = *state;
    char path[600];
    cu_store *old = NULL, *cur = NULL;
    cu_store_op t = tenant_op(77, "from the previous version");
    cu_store_op coll;
    cu_store_tenant got;
    uint8_t hash[32];
    uint64_t seq;
    unsigned pver;
    char *ptext = NULL;
    cu_err err = {0};
    char *spec = NULL;
    cu_store_hold *holds = NULL;
    size_t nholds = 0;
    int found = 0, ckpts = 0;
    int prev = cu_store_sqlite_schema_version() - 1;

    assert_true(prev >= 1);
    snprintf(path, sizeof(path), "%s/old.db", f->dir);
    /* A data directory written by the previous version. */
    assert_int_equal(cu_store_sqlite_open_at(path, prev, &old, &err), CU_OK);
    assert_int_equal(old->ops->apply(old, &t, 1, &err), CU_OK);
    old->ops->close(old);
    /* The previous schema lacks the newest table (version 8: the audit key's public half). */
    assert_int_equal(cu_store_sqlite_open_at(path, prev, &old, &err), CU_OK);
    assert_int_equal(old->ops->audit_key_get(old, hash, &found, &ckpts, &err), CU_ERR_STORE);
    old->ops->close(old);

    assert_int_equal(cu_store_sqlite_open(path, &cur, &err), CU_OK);
    assert_int_equal(cur->ops->tenant_get(cur, 77, &got, &err), CU_OK);
    assert_string_equal(got.name, "from the previous version");
    memset(&coll, 0, sizeof(coll));
    coll.type = CU_OP_COLLECTION_PUT;
    coll.u.collection.tenant_id = 77;
    coll.u.collection.name = "employees";
    coll.u.collection.spec = "{\"fields\":{}}";
    assert_int_equal(cur->ops->apply(cur, &coll, 1, &err), CU_OK);
    assert_int_equal(cur->ops->collection_get(cur, 77, "employees", &spec, &err), CU_OK);
    assert_string_equal(spec, "{\"fields\":{}}");
    free(spec);
    /* And the newest has it, the holds of version 7, the policies of version 5, and the audit
     * log of version 4; the tenant is still active. */
    assert_int_equal(cur->ops->audit_key_get(cur, hash, &found, &ckpts, &err), CU_OK);
    assert_int_equal(found, 0);
    assert_int_equal(cur->ops->hold_list(cur, 77, &holds, &nholds, &err), CU_OK);
    assert_int_equal(nholds, 0);
    cu_store_holds_free(holds, nholds);
    assert_int_equal(got.terminated_at, 0);
    assert_int_equal(cur->ops->policy_get(cur, 77, &pver, &ptext, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cur->ops->audit_head(cur, 77, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 0);
    cur->ops->close(cur);
}

static void test_newer_schema_is_refused(void **state)
{
    sfx *f = *state;
    cu_store *s = NULL;
    cu_err err = {0};
    char sql[64];

    f->s->ops->close(f->s);
    f->s = NULL;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", cu_store_sqlite_schema_version() + 1);
    /* th_sql opens DIR/custos.db: the fixture's database is exactly that. */
    assert_int_equal(th_sql(f->dir, sql), 0);
    assert_int_equal(cu_store_sqlite_open(f->path, &s, &err), CU_ERR_STORE);
    assert_non_null(strstr(err.msg, "newer"));
}

static void test_database_file_is_private(void **state)
{
    sfx *f = *state;
    struct stat st;

    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_batch_commits_all_or_nothing),
        T(test_unique_scope_only_where_asked),
        T(test_foreign_keys_refuse_orphans),
        T(test_migration_from_previous_schema_version),
        T(test_newer_schema_is_refused),
        T(test_database_file_is_private),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
