/*
 * test_store.c: the store contract's proof (docs/store.md), written once against the store's
 * face (store.h) and run for every backend in the table below: every op kind, every read,
 * every rule a backend keeps inside its write transaction, and the crash-consistency of a
 * batch. A new backend adds one row to backends[] (its open function and a location under the
 * test's directory) and runs the same tests; none is copied.
 *
 * The postgresql row runs every contract test against a real PostgreSQL 15 server the binary
 * starts itself (tests/helpers/th_pg.c: initdb and pg_ctl into a temporary directory, a free
 * loopback port, stopped by pid at exit), each test on a fresh database. What only that backend
 * has to prove is in tests/test_store_pg.c.
 *
 * The SQLite-only tests at the end (migrations, file mode) run once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit_canon.h"
#include "crypto.h"
#include "sqlite_int.h"
#include "store_pg.h"
#include "store_sqlite.h"
#include "th.h"
#include "th_pg.h"
#include "util.h"

/* A backend under test: a fresh store's location under dir, and how to open it. */
typedef struct backend {
    const char *name;
    void (*location)(const char *dir, char *loc, size_t cap);
    cu_rc (*open)(const char *loc, cu_store **out, cu_err *err);
} backend;

static void sqlite_location(const char *dir, char *loc, size_t cap)
{
    snprintf(loc, cap, "%s/custos.db", dir);
}

/* A fresh database on the test binary's own PostgreSQL server (th_pg.c); dir is unused. */
static void pg_location(const char *dir, char *loc, size_t cap)
{
    (void)dir;
    th_pg_location(loc, cap);
}

static const backend backends[] = {
    /* The vault's way in: cu_store_open picks SQLite (a pool of connections) for a path. */
    {"sqlite", sqlite_location, cu_store_open},
    /* One connection for everything. */
    {"sqlite-connection", sqlite_location, cu_store_sqlite_open_single},
    /* libpq, through cu_store_open's registry, on a real PostgreSQL 15 server. */
    {"postgresql", pg_location, cu_store_open},
};

/* The backend the running group tests. */
static const backend *cur_be;

typedef struct sfx {
    char dir[256];
    char path[512];
    cu_store *s;
    const backend *be;
} sfx;

static int sfx_setup(void **state)
{
    sfx *f = calloc(1, sizeof(*f));
    cu_err err = {0};

    th_tmpdir(f->dir);
    f->be = cur_be;
    f->be->location(f->dir, f->path, sizeof(f->path));
    if (f->be->open(f->path, &f->s, &err) != CU_OK)
        fail_msg("open %s: %s", f->be->name, err.msg);
    *state = f;
    return 0;
}

static int sfx_teardown(void **state)
{
    sfx *f = *state;

    cu_store_close(f->s);
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

/* --- the contract, op by op (docs/store.md) ------------------------------------------------ */

static cu_rc apply1(sfx *f, cu_store_op *op)
{
    cu_err err = {0};

    return cu_store_apply(f->s, op, 1, &err);
}

static uint8_t doc_bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static uint8_t other_bytes[8] = {8, 7, 6, 5, 4, 3, 2, 1};

static cu_store_op key_op(cu_store_op_type type, cu_id tenant, cu_key_kind kind, cu_id owner,
                          uint32_t version, uint8_t *bytes)
{
    cu_store_op op = {0};

    op.type = type;
    op.u.key.tenant_id = tenant;
    op.u.key.kind = kind;
    op.u.key.owner_id = owner;
    op.u.key.version = version;
    op.u.key.parent_version = 1;
    op.u.key.wrapped.data = bytes;
    op.u.key.wrapped.len = 8;
    return op;
}

static cu_store_op subject_op(cu_id tenant, cu_id id)
{
    cu_store_op op = {0};

    op.type = CU_OP_SUBJECT_PUT;
    op.u.subject.tenant_id = tenant;
    op.u.subject.id = id;
    op.u.subject.key_version = 1;
    op.u.subject.created_at = 1000;
    op.u.subject.profile.data = doc_bytes;
    op.u.subject.profile.len = 8;
    return op;
}

static char ssn_name[] = "ssn";
static cu_store_field one_field = {ssn_name, {doc_bytes, 8}};

static cu_store_op record_op(cu_store_op_type type, cu_id tenant, cu_id id, cu_id subject,
                             int64_t updated_at)
{
    cu_store_op op = {0};

    op.type = type;
    op.u.record.tenant_id = tenant;
    op.u.record.id = id;
    op.u.record.subject_id = subject;
    snprintf(op.u.record.collection, sizeof(op.u.record.collection), "employees");
    op.u.record.key_version = 1;
    op.u.record.created_at = 1000;
    op.u.record.updated_at = updated_at;
    op.u.record.version = 1;
    op.u.record.doc.data = doc_bytes;
    op.u.record.doc.len = 8;
    op.u.record.fields = &one_field;
    op.u.record.nfields = 1;
    return op;
}

static cu_store_op del_op(cu_store_op_type type, cu_id tenant, cu_id id)
{
    cu_store_op op = {0};

    op.type = type;
    op.u.del.tenant_id = tenant;
    op.u.del.id = id;
    return op;
}

static cu_store_op hold_op(cu_id tenant, cu_id id, cu_id subject, cu_id record)
{
    cu_store_op op = {0};

    op.type = CU_OP_HOLD_PUT;
    op.u.hold.tenant_id = tenant;
    op.u.hold.id = id;
    op.u.hold.subject_id = subject;
    op.u.hold.record_id = record;
    op.u.hold.reason.data = doc_bytes;
    op.u.hold.reason.len = 8;
    op.u.hold.key_version = 1;
    op.u.hold.created_at = 1000 + (int64_t)id;
    return op;
}

static cu_rc release(sfx *f, cu_id tenant, cu_id id, uint32_t key_version)
{
    cu_store_op op = {0};

    op.type = CU_OP_HOLD_RELEASE;
    op.u.hold.tenant_id = tenant;
    op.u.hold.id = id;
    op.u.hold.released_at = 5000;
    op.u.hold.release_reason.data = other_bytes;
    op.u.hold.release_reason.len = 8;
    op.u.hold.key_version = key_version;
    return apply1(f, &op);
}

/* Tenant 1 with its subject keys and subjects 10, 11 (records 100 of 10, 110 and 111 of 11, 120
 * and 121 of the tenant itself). */
static void seed(sfx *f)
{
    cu_store_op ops[] = {
        tenant_op(1, "one"),
        key_op(CU_OP_KEY_PUT, 1, CU_KEY_SUBJECT, 10, 1, doc_bytes),
        key_op(CU_OP_KEY_PUT, 1, CU_KEY_SUBJECT, 11, 1, doc_bytes),
        subject_op(1, 10),
        subject_op(1, 11),
        record_op(CU_OP_RECORD_PUT, 1, 100, 10, 1000),
        record_op(CU_OP_RECORD_PUT, 1, 110, 11, 1000),
        record_op(CU_OP_RECORD_PUT, 1, 111, 11, 1000),
        record_op(CU_OP_RECORD_PUT, 1, 120, 0, 1000),
        record_op(CU_OP_RECORD_PUT, 1, 121, 0, 1000),
    };
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, ops, CU_ARRAY_LEN(ops), &err), CU_OK);
}

static void test_contract_tenant_and_master_ops(void **state)
{
    sfx *f = *state;
    cu_store_op ops[2] = {tenant_op(1, "one"), tenant_op(2, "two")};
    cu_store_op st = {0}, m = {0};
    cu_store_tenant t, *list = NULL;
    uint32_t *versions = NULL;
    uint8_t(*checks)[32] = NULL;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_OK);
    assert_int_equal(apply1(f, &ops[0]), CU_ERR_EXISTS);
    st.type = CU_OP_TENANT_STATE;
    st.u.tenant.id = 2;
    st.u.tenant.state = CU_TENANT_TERMINATED;
    st.u.tenant.terminated_at = 4000;
    assert_int_equal(apply1(f, &st), CU_OK);
    assert_int_equal(cu_store_tenant_get(f->s, 2, &t, &err), CU_OK);
    assert_int_equal(t.state, CU_TENANT_TERMINATED);
    assert_int_equal(t.terminated_at, 4000);
    st.u.tenant.id = 3;
    assert_int_equal(apply1(f, &st), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_tenant_list(f->s, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(list);
    m.type = CU_OP_MASTER_ADD;
    m.u.master.version = 1;
    memset(m.u.master.check, 0xab, 32);
    assert_int_equal(apply1(f, &m), CU_OK);
    assert_int_equal(apply1(f, &m), CU_ERR_EXISTS);
    assert_int_equal(cu_store_master_list(f->s, &versions, &checks, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(versions[0], 1);
    assert_int_equal(checks[0][31], 0xab);
    free(versions);
    free(checks);
}

static void test_contract_key_ops(void **state)
{
    sfx *f = *state;
    cu_store_op ops[3] = {tenant_op(1, "one"),
                          key_op(CU_OP_KEY_PUT, 1, CU_KEY_DATA, 0, 1, doc_bytes),
                          key_op(CU_OP_KEY_PUT, 1, CU_KEY_DATA, 0, 2, doc_bytes)};
    cu_store_op rewrap = key_op(CU_OP_KEY_REWRAP, 1, CU_KEY_DATA, 0, 1, other_bytes);
    cu_store_op del = {0};
    cu_store_key k = {0}, *keys = NULL;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, ops, 3, &err), CU_OK);
    assert_int_equal(apply1(f, &ops[2]), CU_ERR_EXISTS);
    assert_int_equal(cu_store_key_get(f->s, 1, CU_KEY_DATA, 0, 0, &k, &err), CU_OK);
    assert_int_equal(k.version, 2); /* version 0: the newest */
    cu_store_key_cleanup(&k);
    assert_int_equal(apply1(f, &rewrap), CU_OK);
    assert_int_equal(cu_store_key_get(f->s, 1, CU_KEY_DATA, 0, 1, &k, &err), CU_OK);
    assert_memory_equal(k.wrapped.data, other_bytes, 8);
    cu_store_key_cleanup(&k);
    assert_int_equal(cu_store_key_list(f->s, 1, 0, &keys, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    cu_store_keys_free(keys, n);
    del.type = CU_OP_KEY_DELETE;
    del.u.key_del.tenant_id = 1;
    del.u.key_del.kind = CU_KEY_DATA;
    assert_int_equal(apply1(f, &del), CU_OK);
    assert_int_equal(cu_store_key_get(f->s, 1, CU_KEY_DATA, 0, 0, &k, &err), CU_ERR_NOT_FOUND);
    /* A rewrap of a destroyed key resurrects nothing. */
    assert_int_equal(apply1(f, &rewrap), CU_OK);
    assert_int_equal(cu_store_key_get(f->s, 1, CU_KEY_DATA, 0, 1, &k, &err), CU_ERR_NOT_FOUND);
}

static void test_contract_subject_record_index_ops(void **state)
{
    sfx *f = *state;
    cu_store_op rep = record_op(CU_OP_RECORD_REPLACE, 1, 100, 10, 2000);
    cu_store_op b = blind_op(1, "r:employees:ssn", 5, 100, 0), coll = {0}, op;
    cu_store_subject s = {0};
    cu_store_record r = {0};
    cu_id *ids = NULL;
    size_t n = 0;
    uint8_t d[32];
    char *spec = NULL;
    cu_err err = {0};

    seed(f);
    assert_int_equal(cu_store_subject_get(f->s, 1, 10, &s, &err), CU_OK);
    assert_memory_equal(s.profile.data, doc_bytes, 8);
    cu_store_subject_cleanup(&s);
    op = record_op(CU_OP_RECORD_PUT, 1, 100, 10, 1000);
    assert_int_equal(apply1(f, &op), CU_ERR_EXISTS);
    rep.u.record.doc.data = other_bytes;
    rep.u.record.version = 2;
    assert_int_equal(apply1(f, &rep), CU_OK);
    assert_int_equal(cu_store_record_get(f->s, 1, 100, &r, &err), CU_OK);
    assert_memory_equal(r.doc.data, other_bytes, 8);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.nfields, 1);
    assert_string_equal(r.fields[0].name, "ssn");
    cu_store_record_cleanup(&r);
    assert_int_equal(cu_store_record_ids_by_subject(f->s, 1, 11, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(ids);
    assert_int_equal(apply1(f, &b), CU_OK);
    memset(d, 5, 32);
    assert_int_equal(cu_store_blind_find(f->s, 1, "r:employees:ssn", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(ids);
    op = del_op(CU_OP_BLIND_DELETE, 1, 100);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_blind_find(f->s, 1, "r:employees:ssn", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    op = del_op(CU_OP_RECORD_DELETE, 1, 100);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_record_get(f->s, 1, 100, &r, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(apply1(f, &rep), CU_ERR_NOT_FOUND); /* deleted meanwhile */
    /* A subject's deletion takes its records, their index entries and its own. */
    b = blind_op(1, "s:email", 6, 11, 1);
    assert_int_equal(apply1(f, &b), CU_OK);
    op = del_op(CU_OP_SUBJECT_DELETE, 1, 11);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_subject_get(f->s, 1, 11, &s, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_record_get(f->s, 1, 110, &r, &err), CU_ERR_NOT_FOUND);
    memset(d, 6, 32);
    assert_int_equal(cu_store_blind_find(f->s, 1, "s:email", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    coll.type = CU_OP_COLLECTION_PUT;
    coll.u.collection.tenant_id = 1;
    coll.u.collection.name = "employees";
    coll.u.collection.spec = "{}";
    assert_int_equal(apply1(f, &coll), CU_OK);
    coll.u.collection.spec = "{\"v\":2}"; /* replaces */
    assert_int_equal(apply1(f, &coll), CU_OK);
    assert_int_equal(cu_store_collection_get(f->s, 1, "employees", &spec, &err), CU_OK);
    assert_string_equal(spec, "{\"v\":2}");
    free(spec);
    assert_int_equal(cu_store_collection_get(f->s, 1, "nope", &spec, &err), CU_ERR_NOT_FOUND);
}

/* P-DSR-5, P-AGE-2: restriction, activity, and the under-age mark that never goes down. */
/* The export's pages (record_page): a subject's records in record_ids_by_subject's order, by
 * (created_at, id) after the last read; the tenant's own by id; each with its fields; ended
 * early by the byte cap (one record at least); and an empty page at the end. */
static void test_contract_record_page_keyset_and_byte_cap(void **state)
{
    sfx *f = *state;
    cu_store_op late = record_op(CU_OP_RECORD_PUT, 1, 105, 11, 1000), early;
    cu_store_record *r = NULL;
    size_t n = 0;
    cu_err err = {0};
    cu_id after;

    seed(f);
    late.u.record.created_at = 2000; /* subject 11: 110 and 111 at 1000, then 105 at 2000 */
    early = record_op(CU_OP_RECORD_PUT, 1, 130, 0, 1000);
    assert_int_equal(apply1(f, &late), CU_OK);
    assert_int_equal(apply1(f, &early), CU_OK);
    assert_int_equal(cu_store_record_page(f->s, 1, 11, 0, 0, 2, SIZE_MAX, &r, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].id, 110);
    assert_int_equal(r[1].id, 111);
    assert_int_equal(r[0].nfields, 1);
    assert_string_equal(r[0].fields[0].name, "ssn");
    assert_memory_equal(r[0].doc.data, doc_bytes, 8);
    after = r[1].cursor; /* the backend's: SQLite's rid, PostgreSQL's id */
    assert_true(r[0].cursor != 0 && r[0].cursor < after);
    for (size_t i = 0; i < n; i++)
        cu_store_record_cleanup(&r[i]);
    free(r);
    assert_int_equal(cu_store_record_page(f->s, 1, 11, 1000, after, 2, SIZE_MAX, &r, &n, &err),
                     CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].id, 105);
    after = r[0].cursor;
    cu_store_record_cleanup(&r[0]);
    free(r);
    assert_int_equal(cu_store_record_page(f->s, 1, 11, 2000, after, 2, SIZE_MAX, &r, &n, &err),
                     CU_OK);
    assert_int_equal(n, 0);
    free(r);
    /* The tenant's own, by cursor; a cap of one byte ends each page after its first record. */
    assert_int_equal(cu_store_record_page(f->s, 1, 0, 0, 0, 10, 1, &r, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].id, 120);
    assert_int_equal(r[0].subject_id, 0);
    after = r[0].cursor;
    cu_store_record_cleanup(&r[0]);
    free(r);
    assert_int_equal(cu_store_record_page(f->s, 1, 0, 0, after, 10, SIZE_MAX, &r, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].id, 121);
    assert_int_equal(r[1].id, 130);
    for (size_t i = 0; i < n; i++)
        cu_store_record_cleanup(&r[i]);
    free(r);
    /* Another tenant's: nothing. */
    assert_int_equal(cu_store_record_page(f->s, 2, 0, 0, 0, 10, SIZE_MAX, &r, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(r);
}

static void test_contract_P_AGE_2_under_age_mark_is_sticky(void **state)
{
    sfx *f = *state;
    cu_store_op op = {0};
    int restricted = -1;
    int64_t last = 0;
    cu_id *ids = NULL;
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    op.type = CU_OP_SUBJECT_RESTRICT;
    op.u.flag.tenant_id = 1;
    op.u.flag.id = 10;
    op.u.flag.value = 1;
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_subject_state(f->s, 1, 10, &restricted, &last, &err), CU_OK);
    assert_int_equal(restricted, 1);
    op.u.flag.value = CU_SUBJECT_UNDER_AGE;
    assert_int_equal(apply1(f, &op), CU_OK);
    op.u.flag.value = 0; /* lifting a restriction leaves the under-age mark */
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_subject_state(f->s, 1, 10, &restricted, &last, &err), CU_OK);
    assert_int_equal(restricted, CU_SUBJECT_UNDER_AGE);
    op.u.flag.id = 99;
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND);
    op.type = CU_OP_SUBJECT_TOUCH;
    op.u.flag.id = 10;
    op.u.flag.at = 9000;
    assert_int_equal(apply1(f, &op), CU_OK);
    op.u.flag.at = 8000; /* only raised */
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_subject_state(f->s, 1, 10, &restricted, &last, &err), CU_OK);
    assert_int_equal(last, 9000);
    assert_int_equal(cu_store_subject_ids(f->s, 1, 10, 10, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 11);
    free(ids);
}

static void test_contract_consent_ledger(void **state)
{
    sfx *f = *state;
    cu_store_op op = {0};
    cu_store_consent *list = NULL;
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    op.type = CU_OP_CONSENT_PUT;
    op.u.consent.tenant_id = 1;
    op.u.consent.subject_id = 10;
    snprintf(op.u.consent.purpose, sizeof(op.u.consent.purpose), "marketing");
    op.u.consent.action = CU_CONSENT_GRANT;
    op.u.consent.at = 1;
    assert_int_equal(apply1(f, &op), CU_OK);
    op.u.consent.action = CU_CONSENT_WITHDRAW;
    op.u.consent.at = 2;
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_consent_list(f->s, 1, 10, NULL, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_true(list[0].seq < list[1].seq);
    free(list);
    assert_int_equal(cu_store_consent_list(f->s, 1, 10, "marketing", &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].action, CU_CONSENT_WITHDRAW);
    free(list);
}

/* The refusal of a record's delete for every record, against cu_store_hold_covers. */
static void check_coverage(sfx *f, const cu_id *recs, const cu_id *subjects, size_t nrecs)
{
    cu_store_hold *holds = NULL;
    size_t nholds = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_hold_list(f->s, 1, &holds, &nholds, &err), CU_OK);
    for (size_t i = 0; i < nrecs; i++) {
        int covered = 0;
        cu_store_op op = del_op(CU_OP_RECORD_DELETE, 1, recs[i]);
        for (size_t j = 0; j < nholds; j++)
            covered |= cu_store_hold_covers(&holds[j], subjects[i], recs[i]);
        assert_int_equal(apply1(f, &op), covered ? CU_ERR_LEGAL_HOLD : CU_OK);
    }
    cu_store_holds_free(holds, nholds);
}

/* P-RET-5: the backend refuses exactly what the one definition of coverage says is held. */
static void test_contract_P_RET_5_hold_coverage_is_one_definition(void **state)
{
    sfx *f = *state;
    static const cu_id recs[] = {100, 110, 111, 120, 121};
    static const cu_id subjects[] = {10, 11, 11, 0, 0};
    cu_store_op holds[2] = {hold_op(1, 1, 10, 0), hold_op(1, 2, 11, 110)};
    cu_store_op own = hold_op(1, 3, 0, 120), op;
    cu_err err = {0};

    seed(f);
    assert_int_equal(cu_store_apply(f->s, holds, 2, &err), CU_OK);
    assert_int_equal(apply1(f, &own), CU_OK);
    check_coverage(f, recs, subjects, CU_ARRAY_LEN(recs));
    /* Held as 100, 110, 120; 111 and 121 are gone. A subject is held by a hold on it or on
     * one of its records. */
    op = del_op(CU_OP_SUBJECT_DELETE, 1, 10);
    assert_int_equal(apply1(f, &op), CU_ERR_LEGAL_HOLD);
    op = del_op(CU_OP_SUBJECT_DELETE, 1, 11);
    assert_int_equal(apply1(f, &op), CU_ERR_LEGAL_HOLD);
    assert_int_equal(release(f, 1, 1, 2), CU_ERR_NOT_FOUND); /* sealed under another version */
    assert_int_equal(release(f, 1, 1, 1), CU_OK);
    assert_int_equal(release(f, 1, 1, 1), CU_ERR_NOT_FOUND); /* no longer in force */
    assert_int_equal(release(f, 1, 2, 1), CU_OK);
    assert_int_equal(release(f, 1, 3, 1), CU_OK);
    check_coverage(f, recs, subjects, 1); /* 100 goes */
}

/* P-RET-5: every op that would change held data is refused inside its transaction. */
static void test_contract_P_RET_5_held_writes_are_refused(void **state)
{
    sfx *f = *state;
    cu_store_op wide = hold_op(1, 9, 0, 0), op;
    cu_store_op rep = record_op(CU_OP_RECORD_REPLACE, 1, 120, 0, 2000);
    cu_store_op anon = record_op(CU_OP_RECORD_ANONYMIZE, 1, 100, 0, 2000);
    cu_store_op exp = record_op(CU_OP_RECORD_EXPIRE, 1, 121, 0, 0);
    cu_store_op prune = {0}, kdel = {0};

    seed(f);
    assert_int_equal(apply1(f, &wide), CU_OK);
    assert_int_equal(apply1(f, &rep), CU_ERR_LEGAL_HOLD);
    assert_int_equal(apply1(f, &anon), CU_ERR_LEGAL_HOLD);
    assert_int_equal(apply1(f, &exp), CU_ERR_LEGAL_HOLD);
    op = del_op(CU_OP_TENANT_SHRED, 1, 0);
    assert_int_equal(apply1(f, &op), CU_ERR_LEGAL_HOLD);
    prune.type = CU_OP_AUDIT_PRUNE;
    prune.u.audit_prune.tenant_id = 1;
    prune.u.audit_prune.upto = 10;
    assert_int_equal(apply1(f, &prune), CU_ERR_LEGAL_HOLD);
    kdel.type = CU_OP_KEY_DELETE;
    kdel.u.key_del.tenant_id = 1;
    kdel.u.key_del.kind = CU_KEY_SUBJECT;
    kdel.u.key_del.owner_id = 10;
    assert_int_equal(apply1(f, &kdel), CU_ERR_LEGAL_HOLD);
    assert_int_equal(release(f, 1, 9, 1), CU_OK);
    /* Once released: the key goes, and then a hold on the subject is refused (its erasure is
     * under way), while its rows may go even under a new tenant-wide hold. */
    assert_int_equal(apply1(f, &kdel), CU_OK);
    op = hold_op(1, 10, 10, 0);
    assert_int_equal(apply1(f, &op), CU_ERR_KEY);
    wide = hold_op(1, 11, 0, 0);
    assert_int_equal(apply1(f, &wide), CU_OK);
    op = del_op(CU_OP_SUBJECT_DELETE, 1, 10);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(release(f, 1, 11, 1), CU_OK);
    assert_int_equal(apply1(f, &rep), CU_OK);
    assert_int_equal(apply1(f, &prune), CU_OK);
}

/* P-RET-6, P-RET-1: the sweep's writes only while the record is as it read it. */
static void test_contract_anonymize_and_expire_expect_the_read_version(void **state)
{
    sfx *f = *state;
    cu_store_op anon = record_op(CU_OP_RECORD_ANONYMIZE, 1, 100, 0, 3000);
    cu_store_op exp = record_op(CU_OP_RECORD_EXPIRE, 1, 121, 0, 0);
    cu_store_record_meta *meta = NULL;
    cu_store_record r = {0};
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    anon.u.record.expect_updated_at = 999; /* written since */
    assert_int_equal(apply1(f, &anon), CU_ERR_CONFLICT);
    anon.u.record.expect_updated_at = 1000;
    assert_int_equal(apply1(f, &anon), CU_OK);
    assert_int_equal(cu_store_record_get(f->s, 1, 100, &r, &err), CU_OK);
    assert_int_equal(r.subject_id, 0);
    assert_int_equal(r.nfields, 0);
    cu_store_record_cleanup(&r);
    assert_int_equal(cu_store_record_meta_list(f->s, 1, 0, 1, &meta, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(meta[0].id, 100);
    assert_true(meta[0].anonymized);
    free(meta);
    exp.u.record.expect_updated_at = 999;
    assert_int_equal(apply1(f, &exp), CU_ERR_CONFLICT);
    exp.u.record.expect_updated_at = 1000;
    assert_int_equal(apply1(f, &exp), CU_OK);
    assert_int_equal(apply1(f, &exp), CU_ERR_CONFLICT); /* gone */
}

static cu_store_op user_op(cu_id tenant, cu_id id, uint8_t digest)
{
    cu_store_op op = {0};

    op.type = CU_OP_USER_PUT;
    op.u.user.tenant_id = tenant;
    op.u.user.id = id;
    op.u.user.role = CU_ROLE_OWNER;
    memset(op.u.user.email_digest, digest, 32);
    op.u.user.email.data = doc_bytes;
    op.u.user.email.len = 8;
    op.u.user.key_version = 1;
    snprintf(op.u.user.password_hash, sizeof(op.u.user.password_hash), "$argon2id$x");
    op.u.user.created_at = 1000;
    return op;
}

static cu_store_op totp_op(cu_store_op_type type, cu_id user, uint8_t *secret, int64_t step)
{
    cu_store_op op = {0};

    op.type = type;
    op.u.totp.tenant_id = 1;
    op.u.totp.user_id = user;
    op.u.totp.secret.data = secret;
    op.u.totp.secret.len = 8;
    op.u.totp.key_version = 1;
    op.u.totp.step = step;
    return op;
}

static cu_store_op login_op(cu_store_op_type type, cu_id user, int64_t now, int64_t step)
{
    cu_store_op op = {0};

    op.type = type;
    op.u.login.tenant_id = 1;
    op.u.login.user_id = user;
    op.u.login.now = now;
    op.u.login.window = 60;
    op.u.login.max_failures = 2;
    op.u.login.lockout = 100;
    op.u.login.totp_step = step;
    return op;
}

/* P-ACC-2: TOTP enrolment, and a code's step accepted once; P-ACC-6 lockout. */
static void test_contract_P_ACC_2_totp_step_replay_is_refused(void **state)
{
    sfx *f = *state;
    cu_store_op u = user_op(1, 7, 1), op;
    cu_store_user got = {0};
    cu_err err = {0};

    seed(f);
    assert_int_equal(apply1(f, &u), CU_OK);
    u.u.user.id = 8; /* the same email digest */
    assert_int_equal(apply1(f, &u), CU_ERR_EXISTS);
    op = totp_op(CU_OP_USER_TOTP_PENDING, 9, doc_bytes, 0);
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND);
    op = totp_op(CU_OP_USER_TOTP_PENDING, 7, doc_bytes, 0);
    assert_int_equal(apply1(f, &op), CU_OK);
    op = totp_op(CU_OP_USER_TOTP_ENABLE, 7, other_bytes, 50); /* not the pending one */
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND);
    op = totp_op(CU_OP_USER_TOTP_ENABLE, 7, doc_bytes, 50);
    assert_int_equal(apply1(f, &op), CU_OK);
    op = login_op(CU_OP_USER_LOGIN_OK, 7, 10, 50); /* the enrolment's step */
    assert_int_equal(apply1(f, &op), CU_ERR_CONFLICT);
    op = login_op(CU_OP_USER_LOGIN_OK, 7, 10, 51);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(apply1(f, &op), CU_ERR_CONFLICT); /* replayed */
    assert_int_equal(cu_store_user_get(f->s, 1, 7, &got, &err), CU_OK);
    assert_true(got.totp_enabled);
    assert_int_equal(got.totp_last_step, 51);
    assert_memory_equal(got.totp_secret.data, doc_bytes, 8);
    cu_store_user_cleanup(&got);
    /* P-ACC-6: the max_failures-th failure in a window locks until now + lockout (the lock
     * of older builds). Logins are throttled in memory since (throttle.c): a lock an older
     * build left never refuses a right login, which clears it. */
    op = login_op(CU_OP_USER_LOGIN_FAILED, 7, 200, 0);
    assert_int_equal(apply1(f, &op), CU_OK);
    op.u.login.now = 201;
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_user_get(f->s, 1, 7, &got, &err), CU_OK);
    assert_true(got.locked_until > 250);
    cu_store_user_cleanup(&got);
    op = login_op(CU_OP_USER_LOGIN_OK, 7, 250, 0);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_user_get(f->s, 1, 7, &got, &err), CU_OK);
    assert_int_equal(got.locked_until, 0);
    assert_int_equal(got.failures, 0);
    cu_store_user_cleanup(&got);
}

static void test_contract_credentials_and_sessions(void **state)
{
    sfx *f = *state;
    cu_store_op u = user_op(1, 7, 1), op = {0};
    cu_store_apikey k = {0}, *keys = NULL;
    cu_store_user *users = NULL, got = {0};
    cu_store_session s = {0};
    uint8_t d[32];
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    op.type = CU_OP_APIKEY_PUT;
    op.u.apikey.tenant_id = 1;
    op.u.apikey.id = 55;
    op.u.apikey.role = CU_ROLE_AGENT;
    snprintf(op.u.apikey.name, sizeof(op.u.apikey.name), "ci");
    assert_int_equal(apply1(f, &op), CU_OK);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_APIKEY_REVOKE;
    op.u.revoke.tenant_id = 1;
    op.u.revoke.id = 55;
    op.u.revoke.at = 3000;
    assert_int_equal(apply1(f, &op), CU_OK);
    op.u.revoke.at = 4000; /* stays revoked at its first time */
    assert_int_equal(apply1(f, &op), CU_OK);
    op.u.revoke.tenant_id = 2; /* another tenant's key */
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_apikey_get(f->s, 55, &k, &err), CU_OK);
    assert_int_equal(k.revoked_at, 3000);
    assert_int_equal(cu_store_apikey_list(f->s, 1, &keys, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(keys);
    assert_int_equal(apply1(f, &u), CU_OK);
    memset(d, 1, 32);
    assert_int_equal(cu_store_user_find(f->s, 1, d, &got, &err), CU_OK);
    assert_int_equal(got.id, 7);
    cu_store_user_cleanup(&got);
    assert_int_equal(cu_store_user_list(f->s, 1, &users, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    cu_store_users_free(users, n);
    for (uint8_t i = 1; i <= 3; i++) {
        memset(&op, 0, sizeof(op));
        op.type = CU_OP_SESSION_PUT;
        memset(op.u.session.token_hash, i, 32);
        op.u.session.tenant_id = 1;
        op.u.session.user_id = 7;
        op.u.session.expires_at = 100 * i;
        assert_int_equal(apply1(f, &op), CU_OK);
    }
    op.type = CU_OP_SESSION_TOUCH;
    memset(op.u.session.token_hash, 3, 32);
    op.u.session.expires_at = 900;
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_session_get(f->s, op.u.session.token_hash, &s, &err), CU_OK);
    assert_int_equal(s.expires_at, 900);
    assert_int_equal(s.role, CU_ROLE_OWNER);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_SESSION_PURGE;
    op.u.purge.tenant_id = 1;
    op.u.purge.user_id = 7;
    op.u.purge.before = 100; /* session 1 */
    assert_int_equal(apply1(f, &op), CU_OK);
    memset(d, 1, 32);
    assert_int_equal(cu_store_session_get(f->s, d, &s, &err), CU_ERR_NOT_FOUND);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_USER_SESSIONS_END; /* all but session 3 */
    op.u.session.tenant_id = 1;
    op.u.session.user_id = 7;
    memset(op.u.session.token_hash, 3, 32);
    assert_int_equal(apply1(f, &op), CU_OK);
    memset(d, 2, 32);
    assert_int_equal(cu_store_session_get(f->s, d, &s, &err), CU_ERR_NOT_FOUND);
    op.type = CU_OP_SESSION_DELETE;
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND);
    op = del_op(CU_OP_USER_DELETE, 1, 7);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND);
}

static int count_entry(void *arg, const cu_audit_entry *e)
{
    (void)e;
    (*(int *)arg)++;
    return 0;
}

/* What audit_rows handed over: the rows' count and the last one's encoding. */
typedef struct row_seen {
    int n, agrees;
    uint64_t first, last;
    uint8_t canon[CU_AUDIT_CANON_MAX];
    size_t len;
} row_seen;

static int take_row(void *arg, const cu_audit_row *r)
{
    row_seen *s = arg;

    if (s->n++ == 0)
        s->first = r->seq;
    s->last = r->seq;
    s->agrees = r->agrees;
    s->len = r->canon_len;
    memcpy(s->canon, r->canon, r->canon_len);
    return 0;
}

static void test_contract_audit_ops(void **state)
{
    sfx *f = *state;
    cu_store_op ops[3] = {{0}}, op = {0};
    cu_audit_entry *list = NULL;
    cu_audit_checkpoint *ck = NULL;
    cu_audit_filter filter = {0};
    uint8_t hash[32], pk[32];
    uint64_t seq = 0;
    int found = 0, ckpts = 0, seen = 0;
    size_t n = 0;
    cu_err err = {0};
    row_seen rows = {0};
    uint8_t canon[CU_AUDIT_CANON_MAX];

    seed(f);
    for (int i = 0; i < 3; i++) {
        ops[i].type = CU_OP_AUDIT_APPEND;
        ops[i].u.audit.tenant_id = 1;
        ops[i].u.audit.seq = (uint64_t)i + 1;
        ops[i].u.audit.at = 1000 * (i + 1);
        snprintf(ops[i].u.audit.action, sizeof(ops[i].u.audit.action), i ? "record.read" : "x");
        memset(ops[i].u.audit.hash, i + 1, 32);
    }
    assert_int_equal(cu_store_apply(f->s, ops, 3, &err), CU_OK);
    assert_int_equal(apply1(f, &ops[2]), CU_ERR_EXISTS);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 3);
    assert_int_equal(hash[0], 3);
    filter.action = "record.read";
    assert_int_equal(cu_store_audit_list(f->s, 1, &filter, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(list);
    assert_int_equal(cu_store_audit_scan(f->s, 1, 2, count_entry, &seen, &err), CU_OK);
    assert_int_equal(seen, 2);
    /* Issue 17: the entries from..to as stored, each with its canonical encoding. */
    assert_int_equal(cu_store_audit_rows(f->s, 1, 2, 2, take_row, &rows, &err), CU_OK);
    assert_int_equal(rows.n, 1);
    assert_int_equal(rows.first, 2);
    assert_int_equal(rows.agrees, 1);
    assert_int_equal(rows.len, cu_audit_encode(&ops[1].u.audit, canon));
    assert_memory_equal(rows.canon, canon, rows.len);
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(cu_store_audit_rows(f->s, 1, 0, UINT64_MAX, take_row, &rows, &err), CU_OK);
    assert_true(rows.n == 3 && rows.first == 1 && rows.last == 3);
    assert_int_equal(cu_store_audit_seq_before(f->s, 1, 2500, &seq, &err), CU_OK);
    assert_int_equal(seq, 2);
    op.type = CU_OP_AUDIT_CHECKPOINT;
    op.u.checkpoint.tenant_id = 1;
    op.u.checkpoint.seq = 2;
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(apply1(f, &op), CU_ERR_EXISTS); /* never replaced */
    assert_int_equal(cu_store_audit_checkpoints(f->s, 1, &ck, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(ck);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_AUDIT_PRUNE;
    op.u.audit_prune.tenant_id = 1;
    op.u.audit_prune.upto = 2;
    assert_int_equal(apply1(f, &op), CU_OK);
    seen = 0;
    assert_int_equal(cu_store_audit_scan(f->s, 1, 0, count_entry, &seen, &err), CU_OK);
    assert_int_equal(seen, 1);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_AUDIT_KEY_PUT;
    memset(op.u.audit_key.public_key, 0x42, 32);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_audit_key_get(f->s, pk, &found, &ckpts, &err), CU_OK);
    assert_true(found && ckpts);
    assert_int_equal(pk[0], 0x42);
}

static long long sql_count(const char *path, const char *sql);

/* One integer that sql answers on f's database, read beside the store (a check of the test's). */
static long long sql_int(sfx *f, const char *sql)
{
    if (strcmp(f->be->name, "postgresql") == 0)
        return th_pg_sql_int(f->path, sql);
    return sql_count(f->path, sql);
}

/* GDPR Art. 15(1)(c), a subject's accesses: read by pages, from the log's subject index up to
 * its mark and from the log itself past it. Pages of every size cross that boundary in seq order
 * with nothing lost or repeated; each arm of the query is cut to the page (session 19), so a
 * page must still take what the other arm holds. The entries are written last first, so that
 * rows kept in the order they came (a PostgreSQL heap) are not already in seq order. */
static void test_contract_subject_accesses_page_across_the_mark(void **state)
{
    sfx *f = *state;
    cu_store_op ops[12] = {{0}}, idx = {.type = CU_OP_AUDIT_SUBJECT_INDEX};
    cu_store_access *acc = NULL;
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    for (int i = 0; i < 12; i++) { /* subject 10 at the odd seqs, 11 at the even */
        int seq = 12 - i;
        ops[i].type = CU_OP_AUDIT_APPEND;
        ops[i].u.audit.tenant_id = 1;
        ops[i].u.audit.seq = (uint64_t)seq;
        ops[i].u.audit.at = 1000 * seq;
        snprintf(ops[i].u.audit.action, sizeof(ops[i].u.audit.action), "record.read");
        snprintf(ops[i].u.audit.object, sizeof(ops[i].u.audit.object), "record:%d", seq);
        memset(ops[i].u.audit.hash, seq, 32);
        ops[i].u.audit.subject_id = seq % 2 == 1 ? 10 : 11;
    }
    assert_int_equal(cu_store_apply(f->s, ops, 12, &err), CU_OK);
    idx.u.audit_index.tenant_id = 1;
    idx.u.audit_index.limit = 6; /* the index holds seqs 1 to 6; 7 to 12 are past its mark */
    assert_int_equal(apply1(f, &idx), CU_OK);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM audit_subjects WHERE subject_id = 10"), 3);
    assert_int_equal(sql_int(f, "SELECT max(seq) FROM audit_subjects"), 6);
    for (size_t limit = 1; limit <= 7; limit++) {
        uint64_t after = 0, want = 1;
        do {
            uint64_t from = after;
            assert_int_equal(cu_store_audit_by_subject(f->s, 1, 10, from, limit, &acc, &n, &err),
                             CU_OK);
            assert_true(n <= limit);
            for (size_t k = 0; k < n; k++, want += 2) {
                if (acc[k].seq != want)
                    fail_msg("page of %zu after %llu: seq %llu where %llu was due", limit,
                             (unsigned long long)from, (unsigned long long)acc[k].seq,
                             (unsigned long long)want);
                after = acc[k].seq;
            }
            free(acc);
            acc = NULL;
        } while (n == limit);
        assert_int_equal(want, 13); /* 1, 3, ..., 11: all six, in order */
    }
}

/* An append chained onto the head (seq, hash of bytes `fill`) the batch names. */
static void chain_ops(cu_store_op ops[2], uint64_t head_seq, int head_fill, int fill)
{
    memset(ops, 0, 2 * sizeof(*ops));
    ops[0].type = CU_OP_AUDIT_HEAD_CHECK;
    ops[0].u.audit_head.tenant_id = 1;
    ops[0].u.audit_head.seq = head_seq;
    memset(ops[0].u.audit_head.hash, head_fill, 32);
    ops[1].type = CU_OP_AUDIT_APPEND;
    ops[1].u.audit.tenant_id = 1;
    ops[1].u.audit.seq = head_seq + 1;
    ops[1].u.audit.at = 1000;
    memset(ops[1].u.audit.prev, head_fill, 32);
    memset(ops[1].u.audit.hash, fill, 32);
}

/* P-AUD-1 with several writers: a batch names the head it chains onto and is refused, whole,
 * with CU_ERR_CONFLICT when the tenant's head is another by the time it commits. */
static void test_contract_P_AUD_1_audit_head_check_refuses_a_moved_head(void **state)
{
    sfx *f = *state;
    cu_store_op ops[2], stale[3], extra = blind_op(1, "s:email", 9, 10, 0);
    cu_id *ids = NULL;
    uint8_t hash[32];
    uint64_t seq = 0;
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    chain_ops(ops, 0, 0, 1); /* onto an empty chain: seq 0, a zero hash */
    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_OK);
    /* Another writer's batch, chained onto the empty chain it read before: refused, and its
     * other ops with it. */
    chain_ops(stale, 0, 0, 2);
    stale[2] = extra;
    assert_int_equal(cu_store_apply(f->s, stale, 3, &err), CU_ERR_CONFLICT);
    assert_int_equal(cu_store_blind_find(f->s, 1, "s:email", extra.u.blind.digest, &ids, &n, &err),
                     CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    /* The right seq with another hash is refused too. */
    chain_ops(ops, 1, 7, 2);
    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_ERR_CONFLICT);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(hash[0], 1);
    /* Chained anew onto the head as it is: committed. */
    chain_ops(ops, 1, 1, 2);
    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_OK);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(hash[0], 2);
}

static cu_rc lease(sfx *f, cu_store_op_type type, cu_id holder, int64_t now)
{
    cu_store_op op;

    memset(&op, 0, sizeof(op));
    op.type = type;
    op.u.lease.name = CU_LEASE_SWEEP;
    op.u.lease.holder = holder;
    op.u.lease.now = now;
    op.u.lease.expires_at = now + 300;
    return apply1(f, &op);
}

/* One sweeper at a time: the sweep lease is taken or renewed atomically, by one holder until
 * it expires (a crashed holder's lapses), and freed only by its holder. */
static void test_contract_sweep_lease_has_one_holder_until_it_lapses(void **state)
{
    sfx *f = *state;

    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 7, 1000), CU_OK);
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 8, 1100), CU_ERR_CONFLICT);
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 7, 1200), CU_OK); /* renewed: until 1500 */
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 8, 1400), CU_ERR_CONFLICT);
    assert_int_equal(lease(f, CU_OP_LEASE_RELEASE, 8, 1450), CU_OK); /* not 8's: nothing */
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 8, 1450), CU_ERR_CONFLICT);
    /* 7 stops renewing (it crashed): at its expiry the lease is free. */
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 8, 1500), CU_OK);
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 7, 1600), CU_ERR_CONFLICT);
    assert_int_equal(lease(f, CU_OP_LEASE_RELEASE, 8, 1601), CU_OK);
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 7, 1601), CU_OK);
    assert_int_equal(lease(f, CU_OP_LEASE_TAKE, 0, 1602), CU_ERR_INVALID); /* no holder */
}

static void test_contract_policy_ops(void **state)
{
    sfx *f = *state;
    cu_store_op op = {0};
    unsigned ver = 0;
    char *text = NULL;
    int64_t at = 0;
    int admins = -1;
    cu_err err = {0};

    seed(f);
    op.type = CU_OP_POLICY_PUT;
    op.u.policy.tenant_id = 1;
    for (unsigned v = 1; v <= 2; v++) {
        op.u.policy.version = v;
        op.u.policy.text = v == 1 ? "first" : "second";
        op.u.policy.created_at = 100 * v;
        assert_int_equal(apply1(f, &op), CU_OK);
    }
    assert_int_equal(cu_store_policy_get(f->s, 1, &ver, &text, &err), CU_OK);
    assert_int_equal(ver, 2);
    assert_string_equal(text, "second");
    free(text);
    ver = 1;
    assert_int_equal(cu_store_policy_at(f->s, 1, &ver, &text, &at, &err), CU_OK);
    assert_string_equal(text, "first");
    assert_int_equal(at, 100);
    free(text);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_POLICY_GRANT;
    op.u.flag.tenant_id = 1;
    op.u.flag.value = 1;
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_policy_grant_get(f->s, 1, &admins, &err), CU_OK);
    assert_int_equal(admins, 1);
}

/* The tenant rows carry the newest policy version, read with them: the core's policy cache
 * compares it with what it parsed (docs/store.md, 7). */
static void test_contract_tenant_policy_version(void **state)
{
    sfx *f = *state;
    cu_store_op op = {0};
    cu_store_tenant t;
    cu_store_tenant *list = NULL;
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    assert_int_equal(cu_store_tenant_get(f->s, 1, &t, &err), CU_OK);
    assert_int_equal(t.policy_version, 0);
    op.type = CU_OP_POLICY_PUT;
    op.u.policy.tenant_id = 1;
    op.u.policy.text = "p";
    for (unsigned v = 1; v <= 3; v++) {
        op.u.policy.version = v;
        op.u.policy.created_at = 100 * v;
        assert_int_equal(apply1(f, &op), CU_OK);
        assert_int_equal(cu_store_tenant_get(f->s, 1, &t, &err), CU_OK);
        assert_int_equal(t.policy_version, v);
    }
    assert_int_equal(cu_store_tenant_list(f->s, &list, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].policy_version, list[i].id == 1 ? 3 : 0);
    free(list);
}

/* Contract item 12: TENANT_GEN raises the tenant's cache generation by one, in its batch's
 * transaction (a refused batch raises nothing), read with the row; none for a tenant without a
 * row (tenant 0, the operators'). */
static void test_contract_tenant_cache_gen(void **state)
{
    sfx *f = *state;
    cu_store_op ops[2] = {{.type = CU_OP_TENANT_GEN}, {.type = CU_OP_TENANT_PUT}};
    cu_store_tenant t, *list = NULL;
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    assert_int_equal(cu_store_tenant_get(f->s, 1, &t, &err), CU_OK);
    assert_int_equal(t.cache_gen, 0);
    ops[0].u.del.tenant_id = 1;
    assert_int_equal(apply1(f, &ops[0]), CU_OK);
    assert_int_equal(apply1(f, &ops[0]), CU_OK);
    assert_int_equal(cu_store_tenant_get(f->s, 1, &t, &err), CU_OK);
    assert_int_equal(t.cache_gen, 2);
    /* Rolled back with its batch: the second op creates a tenant that exists. */
    ops[1].u.tenant.id = 1;
    snprintf(ops[1].u.tenant.name, sizeof(ops[1].u.tenant.name), "again");
    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_ERR_EXISTS);
    assert_int_equal(cu_store_tenant_get(f->s, 1, &t, &err), CU_OK);
    assert_int_equal(t.cache_gen, 2);
    ops[0].u.del.tenant_id = 0;
    assert_int_equal(apply1(f, &ops[0]), CU_OK);
    assert_int_equal(cu_store_tenant_list(f->s, &list, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].cache_gen, list[i].id == 1 ? 2 : 0);
    free(list);
}

/* P-RET-2: closing keeps what a hold covers; shredding takes everything else. */
static void test_contract_P_RET_2_tenant_close_and_shred(void **state)
{
    sfx *f = *state;
    cu_store_op u = user_op(1, 7, 1), c = {0}, h = hold_op(1, 1, 10, 0), op;
    cu_store_consent *list = NULL;
    cu_store_tenant t;
    cu_store_key *keys = NULL;
    size_t n = 0;
    cu_err err = {0};

    seed(f);
    assert_int_equal(apply1(f, &u), CU_OK);
    c.type = CU_OP_CONSENT_PUT;
    c.u.consent.tenant_id = 1;
    snprintf(c.u.consent.purpose, sizeof(c.u.consent.purpose), "p");
    c.u.consent.action = CU_CONSENT_GRANT;
    for (cu_id s = 10; s <= 11; s++) {
        c.u.consent.subject_id = s;
        assert_int_equal(apply1(f, &c), CU_OK);
    }
    assert_int_equal(apply1(f, &h), CU_OK);
    op = del_op(CU_OP_TENANT_CLOSE, 0, 0);
    assert_int_equal(apply1(f, &op), CU_ERR_INVALID); /* the operator's */
    op = del_op(CU_OP_TENANT_CLOSE, 1, 0);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_tenant_get(f->s, 1, &t, &err), CU_OK);
    assert_int_equal(t.state, CU_TENANT_PURGED);
    assert_int_equal(cu_store_consent_list(f->s, 1, 10, NULL, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1); /* held */
    free(list);
    assert_int_equal(cu_store_consent_list(f->s, 1, 11, NULL, &list, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(list);
    op = del_op(CU_OP_TENANT_SHRED, 1, 0);
    assert_int_equal(apply1(f, &op), CU_ERR_LEGAL_HOLD);
    assert_int_equal(release(f, 1, 1, 1), CU_OK);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(cu_store_key_list(f->s, 1, 0, &keys, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(keys);
    assert_int_equal(cu_store_checkpoint(f->s, &err), CU_OK);
}

/* P-ENC-5: a reseal only while the value is the one read; a data key version destroyed only
 * when it is not the newest and nothing uses it. */
static void test_contract_P_ENC_5_reseal_and_data_key_destroy(void **state)
{
    sfx *f = *state;
    cu_store_op keys[2] = {key_op(CU_OP_KEY_PUT, 1, CU_KEY_DATA, 0, 1, doc_bytes),
                           key_op(CU_OP_KEY_PUT, 1, CU_KEY_DATA, 0, 2, doc_bytes)};
    cu_store_field nf = {ssn_name, {other_bytes, 8}};
    cu_store_op rs = {0}, kd = {0};
    cu_store_record r = {0};
    cu_err err = {0};

    seed(f);
    assert_int_equal(cu_store_apply(f->s, keys, 2, &err), CU_OK);
    kd.type = CU_OP_DATA_KEY_DESTROY;
    kd.u.key_del.tenant_id = 1;
    kd.u.key_del.version = 2;
    assert_int_equal(apply1(f, &kd), CU_ERR_CONFLICT); /* the newest */
    kd.u.key_del.version = 1;
    assert_int_equal(apply1(f, &kd), CU_ERR_CONFLICT); /* records 120, 121 use it */
    rs.type = CU_OP_RESEAL;
    rs.u.reseal.what = CU_RESEAL_RECORD;
    rs.u.reseal.tenant_id = 1;
    rs.u.reseal.key_version = 2;
    rs.u.reseal.old[0].data = other_bytes; /* not what is stored: a no-op */
    rs.u.reseal.old[0].len = 8;
    rs.u.reseal.ct[0].data = other_bytes;
    rs.u.reseal.ct[0].len = 8;
    rs.u.reseal.fields = &nf;
    rs.u.reseal.nfields = 1;
    for (cu_id id = 120; id <= 121; id++) {
        rs.u.reseal.id = id;
        rs.u.reseal.old[0].data = other_bytes;
        assert_int_equal(apply1(f, &rs), CU_OK);
        assert_int_equal(cu_store_record_get(f->s, 1, id, &r, &err), CU_OK);
        assert_int_equal(r.key_version, 1);
        cu_store_record_cleanup(&r);
        rs.u.reseal.old[0].data = doc_bytes;
        assert_int_equal(apply1(f, &rs), CU_OK);
        assert_int_equal(cu_store_record_get(f->s, 1, id, &r, &err), CU_OK);
        assert_int_equal(r.key_version, 2);
        assert_memory_equal(r.fields[0].ct.data, other_bytes, 8);
        cu_store_record_cleanup(&r);
    }
    assert_int_equal(apply1(f, &kd), CU_OK);
}

static cu_store_op erase_op(cu_id tenant, cu_id subject, uint32_t limit)
{
    cu_store_op op = {0};

    op.type = CU_OP_ERASE_ROWS;
    op.u.erase.tenant_id = tenant;
    op.u.erase.subject_id = subject;
    op.u.erase.limit = limit;
    return op;
}

static cu_store_op subject_key_delete(cu_id tenant, cu_id subject)
{
    cu_store_op op = {0};

    op.type = CU_OP_KEY_DELETE;
    op.u.key_del.tenant_id = tenant;
    op.u.key_del.kind = CU_KEY_SUBJECT;
    op.u.key_del.owner_id = subject;
    return op;
}

/* The queued erasures (asserting there are n), and the first one's count of records. */
static uint64_t erasures(sfx *f, size_t want)
{
    cu_store_erasure *list = NULL;
    uint64_t records = 0;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_erasure_list(f->s, 0, 0, 10, &list, &n, &err), CU_OK);
    assert_int_equal(n, want);
    if (n > 0)
        records = list[0].records;
    free(list);
    return records;
}

/* P-DSR-4: destroying a subject key queues its erasure in the same transaction, and from then
 * on no read finds the subject, its records or their index entries; ERASE_ROWS deletes them
 * in batches, only for a queued subject, whatever holds say (unreadable data is not held), and
 * the last batch ends the erasure. */
static void test_contract_P_DSR_4_erasure_queue_hides_and_batches(void **state)
{
    sfx *f = *state;
    cu_store_op b[2] = {blind_op(1, "r:employees:ssn", 5, 110, 0),
                        blind_op(1, "s:email", 6, 11, 1)};
    cu_store_op op, wide = hold_op(1, 9, 0, 0);
    cu_store_record_meta *meta = NULL;
    cu_store_subject subj = {0};
    cu_store_record r = {0}, *page = NULL;
    uint8_t d[32];
    cu_id *ids = NULL;
    size_t n = 0;
    int restricted = 0;
    cu_err err = {0};

    seed(f);
    assert_int_equal(cu_store_apply(f->s, b, 2, &err), CU_OK);
    op = erase_op(1, 11, 1);
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND); /* a live subject: never */
    assert_int_equal(cu_store_record_get(f->s, 1, 110, &r, &err), CU_OK);
    cu_store_record_cleanup(&r);
    erasures(f, 0);
    op = subject_key_delete(1, 11);
    assert_int_equal(apply1(f, &op), CU_OK);
    /* Hidden from every read, with its records and their index entries. */
    assert_int_equal(cu_store_subject_get(f->s, 1, 11, &subj, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_subject_state(f->s, 1, 11, &restricted, NULL, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_record_get(f->s, 1, 110, &r, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_record_get(f->s, 1, 111, &r, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_record_ids_by_subject(f->s, 1, 11, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    /* The export's pages too, for an export that listed the subject before its erasure. */
    assert_int_equal(cu_store_record_page(f->s, 1, 11, 0, 0, 10, SIZE_MAX, &page, &n, &err),
                     CU_OK);
    assert_int_equal(n, 0);
    free(page);
    assert_int_equal(cu_store_subject_ids(f->s, 1, 0, 10, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_true(ids[0] == 10);
    free(ids);
    assert_int_equal(cu_store_record_meta_list(f->s, 1, 0, 10, &meta, &n, &err), CU_OK);
    assert_int_equal(n, 3); /* 100, 120, 121 */
    for (size_t i = 0; i < n; i++)
        assert_true(meta[i].subject_id != 11);
    free(meta);
    memset(d, 5, 32);
    assert_int_equal(cu_store_blind_find(f->s, 1, "r:employees:ssn", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    memset(d, 6, 32);
    assert_int_equal(cu_store_blind_find(f->s, 1, "s:email", d, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    /* The other subject and the tenant's own records are untouched. */
    assert_int_equal(cu_store_subject_get(f->s, 1, 10, &subj, &err), CU_OK);
    cu_store_subject_cleanup(&subj);
    assert_int_equal(cu_store_record_get(f->s, 1, 100, &r, &err), CU_OK);
    cu_store_record_cleanup(&r);
    /* Queued with its two records; a tenant-wide hold placed now refuses none of it. */
    assert_int_equal(erasures(f, 1), 2);
    assert_int_equal(apply1(f, &wide), CU_OK);
    op = erase_op(1, 11, 1);
    assert_int_equal(apply1(f, &op), CU_OK);
    assert_int_equal(erasures(f, 1), 1);
    op = erase_op(1, 11, 0);
    assert_int_equal(apply1(f, &op), CU_OK);
    erasures(f, 0);
    assert_int_equal(apply1(f, &op), CU_ERR_NOT_FOUND); /* ended: once */
    /* Its index entries went with it: a new subject may take its unique email digest. */
    op = blind_op(1, "s:email", 6, 12, 1);
    assert_int_equal(apply1(f, &op), CU_OK);
    /* A key without a subject row queues nothing. */
    assert_int_equal(release(f, 1, 9, 1), CU_OK);
    op = subject_key_delete(1, 99);
    assert_int_equal(apply1(f, &op), CU_OK);
    erasures(f, 0);
    /* A tenant's shredding takes its queue with it. */
    op = subject_key_delete(1, 10);
    assert_int_equal(apply1(f, &op), CU_OK);
    erasures(f, 1);
    op = del_op(CU_OP_TENANT_SHRED, 1, 0);
    assert_int_equal(apply1(f, &op), CU_OK);
    erasures(f, 0);
}

static void test_contract_unknown_op_is_refused(void **state)
{
    sfx *f = *state;
    cu_store_op op = {0};

    assert_int_equal(apply1(f, &op), CU_ERR_INVALID);
    op.type = CU_OP__COUNT;
    assert_int_equal(apply1(f, &op), CU_ERR_INVALID);
}

static void apply_batch_in_child(void *arg)
{
    sfx *f = arg;
    cu_store_op ops[3] = {tenant_op(5, "five"), tenant_op(6, "six"), tenant_op(7, "seven")};
    cu_store *s = NULL;
    cu_err err = {0};

    if (f->be->open(f->path, &s, &err) != CU_OK)
        _exit(2);
    (void)cu_store_apply(s, ops, 3, &err); /* the fault point ends the process mid-batch */
    _exit(3);
}

/* A batch cut by a crash after its first op leaves none of it (docs/store.md, atomicity). */
static void test_contract_crash_mid_batch_leaves_nothing(void **state)
{
    sfx *f = *state;
    cu_store_tenant t;
    cu_err err = {0};

    cu_store_close(f->s);
    f->s = NULL;
    assert_int_equal(th_crash_at("store.apply.mid_batch", apply_batch_in_child, f), 70);
    assert_int_equal(f->be->open(f->path, &f->s, &err), CU_OK);
    assert_int_equal(cu_store_tenant_get(f->s, 5, &t, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_tenant_get(f->s, 6, &t, &err), CU_ERR_NOT_FOUND);
    seed(f); /* and the store takes writes */
}

/* cu_store_open picks the backend from the location. */
static void test_store_open_picks_backend_by_location(void **state)
{
    sfx *f = *state;
    cu_store *s = NULL;
    cu_err err = {0};

    /* A PostgreSQL URL goes to libpq: nothing listens on port 1, so it is unavailable. */
    assert_int_equal(cu_store_open("postgresql://127.0.0.1:1/custos", &s, &err),
                     CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_store_open("postgres://127.0.0.1:1/custos", &s, &err), CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_store_open("ftp://x/y", &s, &err), CU_ERR_INVALID);
    assert_int_equal(cu_store_open("", &s, &err), CU_ERR_INVALID);
    assert_null(s);
    assert_string_equal(f->s->ops->name, f->be->name);
}

#define DIGEST_HEX "0101010101010101010101010101010101010101010101010101010101010101"

/* The entry the previous schema version holds in test_migration_from_previous_schema_version. */
static cu_audit_entry old_entry(void)
{
    cu_audit_entry e = {.tenant_id = 77, .seq = 1, .at = 1000, .has_digest = 1};

    snprintf(e.actor, sizeof(e.actor), "key:1");
    snprintf(e.action, sizeof(e.action), "record.create");
    snprintf(e.object, sizeof(e.object), "record:5");
    snprintf(e.purpose, sizeof(e.purpose), "support");
    snprintf(e.outcome, sizeof(e.outcome), "ok");
    memset(e.digest, 1, 32);
    return e;
}

static void sql_at(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The first column of the first row of a query on the database at path (-1: no row). */
static long long sql_count(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_migration_from_previous_schema_version(void **state)
{
    sfx *f = *state;
    char path[600];
    cu_store *old = NULL, *cur = NULL;
    cu_store_op t = tenant_op(77, "from the previous version");
    cu_store_op coll, lease_op;
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
    int prev_canon = 9; /* the version before the audit entries' encodings (10) */
    cu_store_op audit = {0};
    row_seen rows;
    uint8_t canon[CU_AUDIT_CANON_MAX];
    char path7[600], path8[600], path10[600];

    assert_true(prev_canon < cu_store_sqlite_schema_version());
    snprintf(path, sizeof(path), "%s/old.db", f->dir);
    /* A data directory written by an earlier version. */
    assert_int_equal(cu_store_sqlite_open_at(path, prev_canon, &old, &err), CU_OK);
    assert_int_equal(old->ops->apply(old, &t, 1, &err), CU_OK);
    old->ops->close(old);
    /* Version 9 lacks the column of version 10 (each audit entry's canonical encoding): the
     * append that stores one fails there. An entry written as that version wrote it gets its
     * encoding from its columns when the schema is upgraded. */
    assert_int_equal(cu_store_sqlite_open_at(path, prev_canon, &old, &err), CU_OK);
    audit.type = CU_OP_AUDIT_APPEND;
    audit.u.audit = old_entry();
    assert_int_not_equal(old->ops->apply(old, &audit, 1, &err), CU_OK);
    old->ops->close(old);
    sql_at(path, "INSERT INTO audit_log(tenant_id, seq, at, actor, action, object, purpose,"
                 " source, request_id, outcome, prev, hash, digest) VALUES(77, 1, 1000,"
                 " 'key:1', 'record.create', 'record:5', 'support', '', '', 'ok',"
                 " zeroblob(32), zeroblob(32), x'" DIGEST_HEX "')");
    /* ... and the one before it lacks the leases (version 9) ... */
    memset(&lease_op, 0, sizeof(lease_op));
    lease_op.type = CU_OP_LEASE_TAKE;
    lease_op.u.lease.name = CU_LEASE_SWEEP;
    lease_op.u.lease.holder = 1;
    snprintf(path8, sizeof(path8), "%s/old8.db", f->dir);
    assert_int_equal(cu_store_sqlite_open_at(path8, prev_canon - 1, &old, &err), CU_OK);
    assert_int_equal(old->ops->apply(old, &lease_op, 1, &err), CU_ERR_STORE);
    old->ops->close(old);
    /* ... and the one before that the audit key's public half (version 8). */
    snprintf(path7, sizeof(path7), "%s/old7.db", f->dir);
    assert_int_equal(cu_store_sqlite_open_at(path7, 7, &old, &err), CU_OK);
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
    assert_int_equal(cur->ops->apply(cur, &lease_op, 1, &err), CU_OK);
    assert_int_equal(cur->ops->audit_key_get(cur, hash, &found, &ckpts, &err), CU_OK);
    assert_int_equal(found, 0);
    assert_int_equal(cur->ops->hold_list(cur, 77, &holds, &nholds, &err), CU_OK);
    assert_int_equal(nholds, 0);
    cu_store_holds_free(holds, nholds);
    assert_int_equal(got.terminated_at, 0);
    assert_int_equal(cur->ops->policy_get(cur, 77, &pver, &ptext, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cur->ops->audit_head(cur, 77, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1);
    /* Version 10: the older entry has the encoding of its columns, which agree with it. */
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(cur->ops->audit_rows(cur, 77, 0, UINT64_MAX, take_row, &rows, &err), CU_OK);
    assert_int_equal(rows.n, 1);
    assert_int_equal(rows.agrees, 1);
    audit.u.audit = old_entry();
    assert_int_equal(rows.len, cu_audit_encode(&audit.u.audit, canon));
    assert_memory_equal(rows.canon, canon, rows.len);
    cur->ops->close(cur);
    /* Version 12: audit_by_time, which version 10 has, is gone. */
    assert_int_equal(sql_count(path, "SELECT count(*) FROM sqlite_master"
                                     " WHERE name = 'audit_by_time'"),
                     0);
    snprintf(path10, sizeof(path10), "%s/old10.db", f->dir);
    assert_int_equal(cu_store_sqlite_open_at(path10, 10, &old, &err), CU_OK);
    old->ops->close(old);
    assert_int_equal(sql_count(path10, "SELECT count(*) FROM sqlite_master"
                                       " WHERE name = 'audit_by_time'"),
                     1);
}

/* Version 11, the erasure queue (P-DSR-4): a subject an older build left without its key (an
 * erasure cut short between its two transactions) is queued by the upgrade, hidden from reads,
 * and its rows deleted like any other erasure's. */
static void test_erasure_queue_migration(void **state)
{
    sfx *f = *state;
    cu_store_op ops[] = {
        tenant_op(1, "one"),
        key_op(CU_OP_KEY_PUT, 1, CU_KEY_SUBJECT, 10, 1, doc_bytes),
        subject_op(1, 10),
        subject_op(1, 11), /* its key destroyed, its rows left */
    };
    cu_store_op fin = {0};
    cu_store *old = NULL, *cur = NULL;
    cu_store_erasure *list = NULL;
    cu_store_subject subj = {0};
    char path[600];
    size_t n = 0;
    cu_err err = {0};

    snprintf(path, sizeof(path), "%s/old10.db", f->dir);
    assert_int_equal(cu_store_sqlite_open_at(path, 10, &old, &err), CU_OK);
    assert_int_equal(old->ops->apply(old, ops, CU_ARRAY_LEN(ops), &err), CU_OK);
    assert_int_equal(old->ops->erasure_list(old, 0, 0, 10, &list, &n, &err), CU_ERR_STORE);
    old->ops->close(old);
    /* Subject 11's record, as version 10 stored it (this build's statements write schema 14's). */
    sql_at(path, "INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version,"
                 " created_at, updated_at, doc, version) VALUES(1, 110, 'employees', 11, 1,"
                 " 1000, 1000, x'0102030405060708', 1);"
                 "INSERT INTO record_fields VALUES(1, 110, 'ssn', x'0102030405060708')");
    assert_int_equal(cu_store_sqlite_open(path, &cur, &err), CU_OK);
    assert_int_equal(cur->ops->erasure_list(cur, 0, 0, 10, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_true(list[0].tenant_id == 1 && list[0].subject_id == 11 && list[0].records == 1);
    free(list);
    assert_int_equal(cur->ops->subject_get(cur, 1, 11, &subj, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cur->ops->subject_get(cur, 1, 10, &subj, &err), CU_OK);
    cu_store_subject_cleanup(&subj);
    fin.type = CU_OP_ERASE_ROWS;
    fin.u.erase.tenant_id = 1;
    fin.u.erase.subject_id = 11;
    assert_int_equal(cur->ops->apply(cur, &fin, 1, &err), CU_OK);
    assert_int_equal(cur->ops->erasure_list(cur, 0, 0, 10, &list, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(list);
    cur->ops->close(cur);
}

/* Record i (1..40) of test_records_keyed_by_time_migration, as schema 12 stored it: ids in
 * no order, creation times falling with i, every third record the tenant's own (anonymized). */
#define OLD_RECORDS 40
#define OLD_RECORD_ID(i) (((uint64_t)(i) * 2654435761u) % 1000000007u + 1000u)
#define OLD_SUBJECT(i) ((i) % 3 == 0 ? 0 : (i) % 3 == 1 ? 10 : 11)

static void expect_old_record(cu_store *s, int i)
{
    cu_store_record r;
    cu_err err = {0};
    char want[32];

    assert_int_equal(s->ops->record_get(s, 1, OLD_RECORD_ID(i), &r, &err), CU_OK);
    assert_int_equal(r.subject_id, OLD_SUBJECT(i));
    assert_string_equal(r.collection, "employees");
    assert_int_equal(r.key_version, 1 + i % 2);
    assert_int_equal(r.created_at, 5000 - i * 10);
    assert_int_equal(r.updated_at, 6000 + i);
    assert_int_equal(r.version, i);
    snprintf(want, sizeof(want), "doc-%d", i);
    assert_int_equal(r.doc.len, strlen(want));
    assert_memory_equal(r.doc.data, want, r.doc.len);
    assert_int_equal(r.nfields, 2);
    for (size_t k = 0; k < 2; k++) {
        assert_string_equal(r.fields[k].name, k == 0 ? "ssn" : "zip");
        snprintf(want, sizeof(want), "%s-%d", r.fields[k].name, i);
        assert_int_equal(r.fields[k].ct.len, strlen(want));
        assert_memory_equal(r.fields[k].ct.data, want, r.fields[k].ct.len);
    }
    cu_store_record_cleanup(&r);
}

/* A database of version 12 at path: tenant 1, subjects 10 and 11, OLD_RECORDS records, their
 * two fields each and their blind index entries (digest: 32 bytes of 1 + i % 4), and subject
 * 10's unique email entry, as version 12 stored them (this build writes version 14's). */
static void write_version_12(const char *path)
{
    cu_store_op setup[] = {tenant_op(1, "one"), subject_op(1, 10), subject_op(1, 11)};
    cu_store *old = NULL;
    cu_err err = {0};

    assert_int_equal(cu_store_sqlite_open_at(path, 12, &old, &err), CU_OK);
    assert_int_equal(old->ops->apply(old, setup, CU_ARRAY_LEN(setup), &err), CU_OK);
    old->ops->close(old);
    sql_at(path, "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 40)"
                 " INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version,"
                 " created_at, updated_at, doc, anonymized, version)"
                 " SELECT 1, (i * 2654435761) % 1000000007 + 1000, 'employees',"
                 " CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN 10 ELSE 11 END, 1 + i % 2,"
                 " 5000 - i * 10, 6000 + i, CAST(printf('doc-%d', i) AS BLOB), i % 3 = 0, i"
                 " FROM k;"
                 "INSERT INTO record_fields SELECT tenant_id, record_id, f.name,"
                 " CAST(printf('%s-%d', f.name, version) AS BLOB) FROM records,"
                 " (SELECT 'ssn' AS name UNION ALL SELECT 'zip') f;"
                 "INSERT INTO blind_index SELECT 1, 'ssn',"
                 " CAST(printf('%.32c', char(1 + version % 4)) AS BLOB), record_id, 0 FROM records;"
                 "INSERT INTO blind_index VALUES(1, 'email', CAST(printf('%.32c', char(9))"
                 " AS BLOB), 10, 1);");
    assert_int_equal(sql_count(path, "SELECT count(*) FROM record_fields"), 2 * OLD_RECORDS);
}

/* The rows of write_version_12 after the upgrade, record 1 deleted and record 7 written. */
static void expect_converted_rows(const char *path)
{
    long long want = 0;

    /* The internal keys follow creation: no pair out of order, and the new record's is last. */
    assert_int_equal(sql_count(path, "SELECT count(*) FROM records a JOIN records b"
                                     " ON a.rid < b.rid WHERE a.created_at > b.created_at"),
                     0);
    assert_int_equal(sql_count(path, "SELECT record_id FROM records ORDER BY rid DESC LIMIT 1"), 7);
    /* Record 1's two fields went with it; record 7 brought one. */
    for (int i = 1; i <= OLD_RECORDS; i++)
        want += i == 1 ? 0 : 2;
    assert_int_equal(sql_count(path, "SELECT count(*) FROM record_fields"), want + 1);
    /* Each record's index entry carries its internal key; record 1's went with it; the subject's
     * has none. */
    assert_int_equal(sql_count(path, "SELECT count(*) FROM blind_index b JOIN records r"
                                     " ON r.rid = b.rid AND r.record_id = b.owner_id"),
                     OLD_RECORDS - 1);
    assert_int_equal(sql_count(path, "SELECT count(*) FROM blind_index"), OLD_RECORDS);
    assert_int_equal(sql_count(path, "SELECT owner_id FROM blind_index WHERE rid IS NULL"), 10);
    assert_int_equal(sql_count(path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    assert_int_equal(sql_count(path, "SELECT count(*) FROM sqlite_master"
                                     " WHERE name LIKE '%_v12' OR name LIKE '%_v27'"),
                     0);
    /* (tenant_id, subject_id, created_at), each entry ending with its rid (migration 27). */
    assert_int_equal(
        sql_count(path, "SELECT count(*) FROM pragma_index_info('records_by_subject')"), 3);
}

/* Version 14 (issue 17, item 2): records and their fields keyed by a time-ordered internal key,
 * and a record's blind index entries carrying it. A database of version 12 with records of two
 * subjects and of the tenant, their fields and blind index entries converts in its upgrade:
 * every row reads back as it was, by id, by subject, by page and by digest; the internal keys
 * follow creation order, a new record takes the next, and deleting a record still takes its
 * fields and index entries with it (ON DELETE CASCADE). */
static void test_records_keyed_by_time_migration(void **state)
{
    sfx *f = *state;
    cu_store_op put = record_op(CU_OP_RECORD_PUT, 1, 7, 10, 9000);
    cu_store_op del = del_op(CU_OP_RECORD_DELETE, 1, OLD_RECORD_ID(1));
    cu_store *cur = NULL;
    cu_store_record *page = NULL;
    cu_id *ids = NULL;
    size_t n = 0;
    uint8_t digest[32];
    cu_err err = {0};
    char path[600];

    snprintf(path, sizeof(path), "%s/old12.db", f->dir);
    write_version_12(path);

    assert_int_equal(cu_store_sqlite_open(path, &cur, &err), CU_OK);
    for (int i = 1; i <= OLD_RECORDS; i++)
        expect_old_record(cur, i);
    /* Subject 10's records, oldest first: i = 40, 37, ..., 1. */
    assert_int_equal(cur->ops->record_ids_by_subject(cur, 1, 10, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 14);
    for (size_t k = 0; k < n; k++)
        assert_int_equal(ids[k], OLD_RECORD_ID(40 - 3 * (int)k));
    free(ids);
    /* The tenant's own records, all on one page. */
    assert_int_equal(cu_store_record_page(cur, 1, 0, 0, 0, 100, SIZE_MAX, &page, &n, &err), CU_OK);
    assert_int_equal(n, 13);
    for (size_t k = 0; k < n; k++)
        cu_store_record_cleanup(&page[k]);
    free(page);
    /* The entries of digest 2 name the records with i % 4 == 1, in id order. */
    memset(digest, 2, sizeof(digest));
    assert_int_equal(cur->ops->blind_find(cur, 1, "ssn", digest, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 10);
    for (size_t k = 0; k < n; k++) {
        int i = 0;
        while (OLD_RECORD_ID(i) != ids[k] && i <= OLD_RECORDS)
            i++;
        assert_int_equal(i % 4, 1);
        assert_true(k == 0 || ids[k - 1] < ids[k]);
    }
    free(ids);
    memset(digest, 9, sizeof(digest));
    assert_int_equal(cur->ops->blind_find(cur, 1, "email", digest, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 10);
    free(ids);
    put.u.record.created_at = 9000; /* now: after every record converted */
    assert_int_equal(cur->ops->apply(cur, &put, 1, &err), CU_OK);
    assert_int_equal(cur->ops->apply(cur, &del, 1, &err), CU_OK);
    cur->ops->close(cur);

    expect_converted_rows(path);
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

/* The SQLite backend alone keeps one process per database: the vault's way in (the pool)
 * flocks its lock file, and a second open is refused until the first closes. Test builds may
 * share the database (CUSTOS_TEST_SHARED_DB=1), as the two-writer tests do (test_multi.c). */
static void test_sqlite_database_is_locked_by_one_process(void **state)
{
    sfx *f = *state;
    cu_store *s = NULL;
    cu_err err = {0};
    struct stat st;
    char lock[600];

    unsetenv("CUSTOS_TEST_SHARED_DB");
    snprintf(lock, sizeof(lock), "%s/custos.lock", f->dir);
    assert_int_equal(stat(lock, &st), 0);
    assert_int_equal(cu_store_open(f->path, &s, &err), CU_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "in use by another process"));
    assert_null(s);
    setenv("CUSTOS_TEST_SHARED_DB", "1", 1);
    assert_int_equal(cu_store_open(f->path, &s, &err), CU_OK);
    cu_store_close(s);
    unsetenv("CUSTOS_TEST_SHARED_DB");
    cu_store_close(f->s);
    f->s = NULL;
    assert_int_equal(cu_store_open(f->path, &s, &err), CU_OK); /* freed at close */
    f->s = s;
}

static void test_database_file_is_private(void **state)
{
    sfx *f = *state;
    struct stat st;

    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
}

/* Issue 17, item 2: the pool's writer never checkpoints inside a commit; its checkpoint thread
 * does, once the WAL has grown past its threshold, and the WAL then restarts instead of growing
 * with every write. The explicit checkpoint still empties it (P-DSR-4). */
#define CKPT_BATCHES (CU_SQLITE_CKPT_FRAMES * 6 / 100)
#define CKPT_PER_BATCH 25
#define CKPT_SPEC 3500

static off_t wal_size(const char *db)
{
    char wal[600];
    struct stat st;

    snprintf(wal, sizeof(wal), "%s-wal", db);
    return stat(wal, &st) == 0 ? st.st_size : 0;
}

/* Writes CKPT_BATCHES commits of CKPT_PER_BATCH collections of CKPT_SPEC bytes each: more
 * WAL pages than CU_SQLITE_CKPT_FRAMES (about 1.3 times as many). */
static void ckpt_write(cu_store *s, int round)
{
    static char spec[CKPT_SPEC + 1];
    cu_store_op ops[CKPT_PER_BATCH];
    char names[CKPT_PER_BATCH][32];
    cu_err err = {0};

    memset(spec, 'x', CKPT_SPEC);
    for (int b = 0; b < CKPT_BATCHES; b++) {
        memset(ops, 0, sizeof(ops));
        for (int i = 0; i < CKPT_PER_BATCH; i++) {
            snprintf(names[i], sizeof(names[i]), "c%d-%d-%d", round, b, i);
            ops[i].type = CU_OP_COLLECTION_PUT;
            ops[i].u.collection.tenant_id = 1;
            ops[i].u.collection.name = names[i];
            ops[i].u.collection.spec = spec;
        }
        if (cu_store_apply(s, ops, CKPT_PER_BATCH, &err) != CU_OK)
            fail_msg("apply: %s", err.msg);
    }
}

/* Waits until the checkpoint thread has been idle for 300 ms (it caught up with the writes). */
static void ckpt_settle(cu_store *s)
{
    uint64_t runs = cu_store_sqlite_wal_checkpoints(s);

    for (int quiet = 0, i = 0; quiet < 30 && i < 1000; i++) {
        uint64_t now;
        usleep(10000);
        now = cu_store_sqlite_wal_checkpoints(s);
        quiet = now == runs ? quiet + 1 : 0;
        runs = now;
    }
}

static void test_sqlite_pool_checkpoints_the_wal_off_the_commit_path(void **state)
{
    sfx *f = *state;
    cu_store_op t = tenant_op(1, "ckpt");
    cu_err err = {0};
    off_t after_first;
    const off_t written = (off_t)CKPT_BATCHES * CKPT_PER_BATCH * CKPT_SPEC;

    assert_int_equal(cu_store_apply(f->s, &t, 1, &err), CU_OK);
    assert_int_equal(cu_store_sqlite_wal_checkpoints(f->s), 0);
    ckpt_write(f->s, 1);
    for (int i = 0; i < 1000 && cu_store_sqlite_wal_checkpoints(f->s) == 0; i++)
        usleep(10000);
    assert_true(cu_store_sqlite_wal_checkpoints(f->s) >= 1);
    ckpt_settle(f->s);
    after_first = wal_size(f->path);
    assert_true(after_first > 0);
    /* As much again: the WAL restarts from its start after a checkpoint, so it does not hold
     * both rounds. */
    ckpt_write(f->s, 2);
    assert_true(wal_size(f->path) < after_first + written / 2);
    /* A single connection keeps SQLite's own checkpoint and has no thread. */
    {
        cu_store *one = NULL;
        char path[600];
        snprintf(path, sizeof(path), "%s/one.db", f->dir);
        assert_int_equal(cu_store_sqlite_open_single(path, &one, &err), CU_OK);
        assert_int_equal(cu_store_sqlite_wal_checkpoints(one), 0);
        cu_store_close(one);
    }
    /* P-DSR-4: the explicit checkpoint, serialized with the thread's, truncates the WAL. */
    assert_int_equal(cu_store_checkpoint(f->s, &err), CU_OK);
    assert_int_equal(wal_size(f->path), 0);
}

/* The record id key's permutation as the core sets it (record_ids.c), over a fixed key. */
static uint64_t ids_fwd(const void *ctx, uint64_t key)
{
    return cu_fpe_id(ctx, key);
}

static uint64_t ids_inv(const void *ctx, uint64_t id)
{
    return cu_fpe_id_inverse(ctx, id);
}

/* The store at path, opened with the permutation of fpe set in it (m must outlive it). */
static cu_store *open_keyed(const char *path, cu_store_idmap *m, cu_fpe *fpe)
{
    cu_store *s = NULL;
    cu_err err = {0};

    *m = (cu_store_idmap){.fwd = ids_fwd, .inv = ids_inv, .ctx = fpe};
    assert_int_equal(cu_store_sqlite_open(path, &s, &err), CU_OK);
    assert_true(cu_store_keyed_ids(s));
    assert_int_equal(cu_store_set_idmap(s, m), 1);
    return s;
}

static cu_id new_id(cu_store *s)
{
    cu_id id = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_record_id_new(s, &id, &err), CU_OK);
    assert_true(id != 0 && id < (UINT64_C(1) << 63));
    return id;
}

/*
 * Issue 17, migration 27 (docs/store.md, "Public record ids"): a new record's id is the
 * permutation of its internal key, so no index holds it; it is read, replaced and deleted by
 * its id like any; a rid, and so an id, is never handed out twice, even after the newest
 * record is deleted and the store reopened; an id made elsewhere (random, or a copy's) is kept
 * and found by the older rows' index; and a new id equal to such an older row's id is refused,
 * not stored twice.
 */
static void test_P_ISO_1_sqlite_record_ids_are_keys_permuted(void **state)
{
    static const uint8_t key[CU_KEYBYTES] = {7, 1, 7};
    sfx *f = *state;
    cu_fpe *fpe = NULL;
    cu_store_idmap m;
    cu_store *s;
    cu_store_record r;
    cu_store_op put, del;
    cu_id ids[3], late, taken;
    cu_err err = {0};

    assert_int_equal(cu_fpe_new(key, &fpe), CU_OK);
    seed(f); /* five records of made-up ids: older rows, keyed 0 */
    cu_store_close(f->s);
    f->s = s = open_keyed(f->path, &m, fpe);
    for (size_t i = 0; i < 3; i++) {
        ids[i] = new_id(s);
        put = record_op(CU_OP_RECORD_PUT, 1, ids[i], 10, 2000);
        assert_int_equal(apply1(f, &put), CU_OK);
        /* Not the next number: the key's permutation of the next rid. */
        assert_true(i == 0 || (ids[i] != ids[i - 1] + 1 && ids[i] + 1 != ids[i - 1]));
        if (i > 0)
            assert_int_equal(ids_inv(fpe, ids[i]), ids_inv(fpe, ids[i - 1]) + 1);
    }
    assert_int_equal(sql_count(f->path, "SELECT count(*) FROM records WHERE keyed = 1"
                                        " AND rid = rowid"), 3);
    assert_int_equal(sql_count(f->path, "SELECT count(*) FROM records INDEXED BY records_by_id"
                                        " WHERE keyed = 0"), 5);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(cu_store_record_get(s, 1, ids[i], &r, &err), CU_OK);
        assert_int_equal(r.id, ids[i]);
        assert_int_equal(r.nfields, 1);
        cu_store_record_cleanup(&r);
        assert_int_equal(cu_store_record_get(s, 2, ids[i], &r, &err), CU_ERR_NOT_FOUND);
    }
    {
        cu_store *snap = NULL; /* a snapshot reads by the key too */
        assert_int_equal(cu_store_snapshot(s, &snap, &err), CU_OK);
        assert_int_equal(cu_store_record_get(snap, 1, ids[0], &r, &err), CU_OK);
        cu_store_record_cleanup(&r);
        cu_store_close(snap);
    }
    put = record_op(CU_OP_RECORD_REPLACE, 1, ids[1], 10, 3000);
    put.u.record.created_at = 1000;
    assert_int_equal(apply1(f, &put), CU_OK);
    assert_int_equal(cu_store_record_get(s, 1, ids[1], &r, &err), CU_OK);
    assert_int_equal(r.updated_at, 3000);
    cu_store_record_cleanup(&r);
    assert_int_equal(cu_store_record_get(s, 1, 110, &r, &err), CU_OK); /* an older row */
    cu_store_record_cleanup(&r);
    /* The newest deleted, the store reopened: the next id is another. */
    del = del_op(CU_OP_RECORD_DELETE, 1, ids[2]);
    assert_int_equal(apply1(f, &del), CU_OK);
    assert_int_equal(cu_store_record_get(s, 1, ids[2], &r, &err), CU_ERR_NOT_FOUND);
    cu_store_close(s);
    f->s = s = open_keyed(f->path, &m, fpe);
    late = new_id(s);
    assert_true(late != ids[0] && late != ids[1] && late != ids[2]);
    assert_true(ids_inv(fpe, late) > ids_inv(fpe, ids[2]));
    /* An id made elsewhere whose key is not handed out yet: an older row's kind; the key's
     * own turn then comes, and its put is refused rather than a second record of that id. */
    taken = ids_fwd(fpe, ids_inv(fpe, late) + 2);
    put = record_op(CU_OP_RECORD_PUT, 1, taken, 10, 2000);
    assert_int_equal(apply1(f, &put), CU_OK);
    assert_int_equal(sql_count(f->path, "SELECT count(*) FROM records WHERE keyed = 0"), 6);
    assert_int_equal(new_id(s), taken); /* the older row's put took the rid between */
    assert_int_equal(apply1(f, &put), CU_ERR_EXISTS);
    assert_int_equal(cu_store_record_get(s, 1, taken, &r, &err), CU_OK);
    cu_store_record_cleanup(&r);
    cu_store_close(s);
    f->s = NULL;
    cu_fpe_free(fpe);
}

/* The database at path copied to path.bak, or back (its WAL and shm left behind: the store
 * was closed, which checkpoints them). */
static void copy_db(const char *path, int back)
{
    char bak[700], wal[700];

    snprintf(bak, sizeof(bak), "%s.bak", path);
    assert_int_equal(back ? th_copy(bak, path) : th_copy(path, bak), 0);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    (void)unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    (void)unlink(wal);
}

/* F1 of review 13: a database rolled back (a backup restored, a copy of its files) has
 * forgotten the rids its lost timeline used; the ids made after the rollback are not the ids
 * that timeline gave out (the counter starts a random distance above what the file holds). */
static void test_sqlite_record_ids_after_a_rollback_are_new(void **state)
{
    static const uint8_t key[CU_KEYBYTES] = {9, 9};
    sfx *f = *state;
    cu_fpe *fpe = NULL;
    cu_store_idmap m;
    cu_store_op put;
    cu_id lost[3], later;

    assert_int_equal(cu_fpe_new(key, &fpe), CU_OK);
    seed(f);
    cu_store_close(f->s);
    f->s = NULL;
    copy_db(f->path, 0);
    f->s = open_keyed(f->path, &m, fpe);
    for (size_t i = 0; i < 3; i++) {
        lost[i] = new_id(f->s);
        put = record_op(CU_OP_RECORD_PUT, 1, lost[i], 10, 2000);
        assert_int_equal(apply1(f, &put), CU_OK);
    }
    cu_store_close(f->s);
    copy_db(f->path, 1);
    f->s = open_keyed(f->path, &m, fpe);
    for (size_t i = 0; i < 3; i++) {
        later = new_id(f->s);
        for (size_t k = 0; k < 3; k++)
            assert_true(later != lost[k]);
        put = record_op(CU_OP_RECORD_PUT, 1, later, 10, 2000);
        assert_int_equal(apply1(f, &put), CU_OK);
    }
    cu_store_close(f->s);
    f->s = NULL;
    cu_fpe_free(fpe);
}

/* custos_rid() as the statements call it (sqlite_ids.c); plans only need it to exist. */
static void rid_stub(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    sqlite3_result_null(cx);
}

/* A connection of its own to the database at path, for EXPLAIN QUERY PLAN. */
static sqlite3 *plan_db(const char *path)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_create_function(db, "custos_rid", 1,
                                             SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, rid_stub,
                                             NULL, NULL),
                     SQLITE_OK);
    return db;
}

/* Issue 17, item 2: no index that no statement uses, since every index costs each insert of its
 * table a B-tree insert of its own. Each index of the schema appears in the query plan of one of
 * the backend's statements (sq_stmt_sql), or keeps a uniqueness rule (a UNIQUE index, or one
 * SQLite made for a UNIQUE or PRIMARY KEY constraint). */
/* The lookups of a deleted record's children that its cascades run (ON DELETE CASCADE). */
static const char *const cascades[] = {
    "SELECT 1 FROM record_fields WHERE rid = ?",
    "SELECT 1 FROM blind_index WHERE rid = ?",
    "SELECT 1 FROM retained_records WHERE rid = ?",
};

static int index_used(sqlite3 *db, const char *index)
{
    char sql[8192];
    int used = 0;

    for (int i = 0; i < S__COUNT + (int)CU_ARRAY_LEN(cascades) && !used; i++) {
        sqlite3_stmt *st = NULL;
        snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s",
                 i < S__COUNT ? sq_stmt_sql[i] : cascades[i - S__COUNT]);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
            fail_msg("statement %d: %s", i, sqlite3_errmsg(db));
        while (!used && sqlite3_step(st) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(st, 3);
            char needle[128];
            snprintf(needle, sizeof(needle), "INDEX %s ", index);
            used = detail != NULL && strstr(detail, needle) != NULL;
        }
        sqlite3_finalize(st);
    }
    return used;
}

static void test_sqlite_every_index_serves_a_statement(void **state)
{
    sfx *f = *state;
    sqlite3 *db = plan_db(f->path);
    sqlite3_stmt *st = NULL;
    int checked = 0;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT m.name, (SELECT \"unique\" FROM pragma_index_list("
                                        "m.tbl_name) WHERE name = m.name) FROM sqlite_master m"
                                        " WHERE m.type = 'index'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (sqlite3_column_int(st, 1) != 0)
            continue; /* a uniqueness rule */
        if (!index_used(db, name))
            fail_msg("index %s serves no statement", name);
        checked++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(checked >= 4);
}

/* The whole query plan of sql on db, its details joined by "; ". */
static void plan_of(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    char q[8192];
    size_t len = 0;

    out[0] = '\0';
    snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "%s; ", sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
}

/* A record by its id (RID_OF, migration 27): the id's own key, then the older rows' index. */
#define RECORD_BY_KEY "SEARCH rk USING INTEGER PRIMARY KEY (rowid=?)"
#define RECORD_BY_ID "SEARCH rk USING INDEX records_by_id (tenant_id=? AND record_id=?)"
#define FIELDS_BY_RID "SEARCH record_fields USING PRIMARY KEY (rid=?)"
#define BLIND_BY_OWNER "INDEX blind_by_owner (tenant_id=? AND owner_id=? AND rid=?)"

/* Issue 17, item 2 (migration 14): the statements on a record's fields and index entries find
 * them by its internal key, the record by its id's key (migration 27) or else the older rows'
 * index, and the cascades of a record's deletion find its children by index; none scans a
 * table. */
static void test_sqlite_statements_use_the_internal_keys(void **state)
{
    static const struct {
        int id;          /* a statement of sq_stmt_sql, or -1: */
        const char *sql; /* a cascade's lookup of a deleted record's children */
        const char *want[2];
    } cases[] = {
        {S_RECORD_GET, NULL, {RECORD_BY_KEY, RECORD_BY_ID}},
        {S_RECORD_DELETE, NULL, {RECORD_BY_KEY, RECORD_BY_ID}},
        {S_RECORD_META, NULL, {"INDEX records_by_tenant (tenant_id=? AND rid>?)"}},
        {S_FIELDS_GET, NULL, {FIELDS_BY_RID, RECORD_BY_KEY}},
        {S_FIELD_PUT, NULL, {RECORD_BY_KEY, RECORD_BY_ID}},
        {S_FIELDS_DELETE, NULL, {FIELDS_BY_RID, RECORD_BY_KEY}},
        {S_RESEAL_FIELD, NULL, {"SEARCH record_fields USING PRIMARY KEY (rid=? AND field=?)"}},
        {S_T_FIELDS_DELETE, NULL, {FIELDS_BY_RID}},
        {S_BLIND_PUT, NULL, {RECORD_BY_KEY, RECORD_BY_ID}},
        {S_ERASE_RECORDS_BATCH, NULL, {"SEARCH records USING INTEGER PRIMARY KEY (rowid=?)"}},
        {S_BLIND_DELETE, NULL, {"INDEX blind_by_record (rid=?)", BLIND_BY_OWNER}},
        {S_ERASE_BLIND_BATCH, NULL, {BLIND_BY_OWNER}},
        {S_SUBJECT_RECORDS_BLIND_DELETE, NULL, {BLIND_BY_OWNER}},
        /* An erasure's plan (P-RET-4): a subject's records of one collection by the index of
         * its own, not the tenant's every record by the record id's (flat erasure). */
        {S_RECORD_IDS_IN, NULL,
         {"INDEX records_by_subject_collection (tenant_id=? AND subject_id=? AND collection=?)"}},
        {-1, "SELECT 1 FROM record_fields WHERE rid = ?", {FIELDS_BY_RID}},
        {-1, "SELECT 1 FROM blind_index WHERE rid = ?", {"INDEX blind_by_record (rid=?)"}},
        {-1, "SELECT 1 FROM retained_records WHERE rid = ?", {"INDEX retained_by_rid (rid=?)"}},
    };
    sfx *f = *state;
    sqlite3 *db = plan_db(f->path);
    char plan[4096];

    for (size_t i = 0; i < CU_ARRAY_LEN(cases); i++) {
        const char *sql = cases[i].id >= 0 ? sq_stmt_sql[cases[i].id] : cases[i].sql;
        plan_of(db, sql, plan, sizeof(plan));
        for (size_t k = 0; k < 2 && cases[i].want[k] != NULL; k++)
            if (strstr(plan, cases[i].want[k]) == NULL)
                fail_msg("%s\nplan: %s\nlacks: %s", sql, plan, cases[i].want[k]);
        if (strstr(plan, "SCAN ") != NULL)
            fail_msg("%s\nscans: %s", sql, plan);
    }
    sqlite3_close(db);
}

/* A page of a subject's accesses (its export, its portal page) merges the subject index's range
 * with the log's in seq order as both come: no temporary B-tree, which would sort every entry
 * past the page's start for each page (quadratic in the subject's entries). */
static void test_sqlite_subject_accesses_page_without_sorting(void **state)
{
    sfx *f = *state;
    sqlite3 *db = plan_db(f->path);
    char plan[4096];

    plan_of(db, sq_stmt_sql[S_AUDIT_SUBJECT_LIST], plan, sizeof(plan));
    if (strstr(plan, "MERGE (UNION ALL)") == NULL ||
        strstr(plan, "SEARCH x USING PRIMARY KEY (tenant_id=? AND subject_id=? AND seq>?)") ==
            NULL ||
        strstr(plan, "TEMP B-TREE") != NULL || strstr(plan, "SCAN ") != NULL)
        fail_msg("plan: %s", plan);
    sqlite3_close(db);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, sfx_setup, sfx_teardown)

int main(void)
{
    /* The contract: every test here runs once per backend. */
    const struct CMUnitTest contract[] = {
        T(test_batch_commits_all_or_nothing),
        T(test_unique_scope_only_where_asked),
        T(test_foreign_keys_refuse_orphans),
        T(test_contract_tenant_and_master_ops),
        T(test_contract_key_ops),
        T(test_contract_subject_record_index_ops),
        T(test_contract_record_page_keyset_and_byte_cap),
        T(test_contract_P_AGE_2_under_age_mark_is_sticky),
        T(test_contract_consent_ledger),
        T(test_contract_P_RET_5_hold_coverage_is_one_definition),
        T(test_contract_P_RET_5_held_writes_are_refused),
        T(test_contract_subject_accesses_page_across_the_mark),
        T(test_contract_anonymize_and_expire_expect_the_read_version),
        T(test_contract_P_ACC_2_totp_step_replay_is_refused),
        T(test_contract_credentials_and_sessions),
        T(test_contract_audit_ops),
        T(test_contract_P_AUD_1_audit_head_check_refuses_a_moved_head),
        T(test_contract_sweep_lease_has_one_holder_until_it_lapses),
        T(test_contract_policy_ops),
        T(test_contract_tenant_policy_version),
        T(test_contract_tenant_cache_gen),
        T(test_contract_P_RET_2_tenant_close_and_shred),
        T(test_contract_P_ENC_5_reseal_and_data_key_destroy),
        T(test_contract_P_DSR_4_erasure_queue_hides_and_batches),
        T(test_contract_unknown_op_is_refused),
        T(test_contract_crash_mid_batch_leaves_nothing),
        T(test_store_open_picks_backend_by_location),
    };
    /* SQLite only: its schema migrations and its file. */
    const struct CMUnitTest sqlite_only[] = {
        T(test_migration_from_previous_schema_version),
        T(test_erasure_queue_migration),
        T(test_records_keyed_by_time_migration),
        T(test_newer_schema_is_refused),
        T(test_sqlite_database_is_locked_by_one_process),
        T(test_database_file_is_private),
        T(test_sqlite_pool_checkpoints_the_wal_off_the_commit_path),
        T(test_sqlite_every_index_serves_a_statement),
        T(test_sqlite_statements_use_the_internal_keys),
        T(test_sqlite_subject_accesses_page_without_sorting),
        T(test_P_ISO_1_sqlite_record_ids_are_keys_permuted),
        T(test_sqlite_record_ids_after_a_rollback_are_new),
    };
    int failed = 0;

    for (size_t i = 0; i < CU_ARRAY_LEN(backends); i++) {
        cur_be = &backends[i];
        failed +=
            _cmocka_run_group_tests(cur_be->name, contract, CU_ARRAY_LEN(contract), NULL, NULL);
    }
    cur_be = &backends[0];
    failed += cmocka_run_group_tests_name("sqlite_only", sqlite_only, NULL, NULL);
    return failed;
}
