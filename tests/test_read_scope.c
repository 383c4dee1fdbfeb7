/*
 * test_read_scope.c: one request's reads in one snapshot (issue 17, item 3: one read
 * transaction per request). The store's read scope (cu_store_read_begin/end, sqlite_pool.c):
 * a write committed between two reads of one scope is not seen, not even half (the tenant it
 * adds nor the subject under it); another thread meanwhile sees it; after the scope, the scope's
 * own thread sees it too. The core's (cu_vault_read_begin/end, commit.c): a commit ends the
 * scope, so what a request wrote, and what others committed before, it reads afterwards; a
 * second begin and an end without a scope do nothing.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "th.h"
#include "util.h"

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
    th_store_location(f->dir, f->path, sizeof(f->path));
    if (cu_store_open(f->path, &f->s, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
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

static uint8_t bytes8[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* Tenant t with subject sub (and its key), in one transaction. */
static void put_tenant(sfx *f, cu_id t, cu_id sub)
{
    cu_store_op ops[3];
    cu_err err = {0};

    memset(ops, 0, sizeof(ops));
    ops[0].type = CU_OP_TENANT_PUT;
    ops[0].u.tenant.id = t;
    snprintf(ops[0].u.tenant.name, sizeof(ops[0].u.tenant.name), "t%llu", (unsigned long long)t);
    ops[1].type = CU_OP_KEY_PUT;
    ops[1].u.key = (cu_store_key){.tenant_id = t,
                                  .kind = CU_KEY_SUBJECT,
                                  .owner_id = sub,
                                  .version = 1,
                                  .parent_version = 1,
                                  .wrapped = {bytes8, 8}};
    ops[2].type = CU_OP_SUBJECT_PUT;
    ops[2].u.subject = (cu_store_subject){
        .tenant_id = t, .id = sub, .key_version = 1, .created_at = 1000, .profile = {bytes8, 8}};
    if (cu_store_apply(f->s, ops, 3, &err) != CU_OK)
        fail_msg("apply: %s", err.msg);
}

static cu_rc tenant_rc(cu_store *s, cu_id t)
{
    cu_store_tenant st;
    cu_err err = {0};

    return cu_store_tenant_get(s, t, &st, &err);
}

static cu_rc subject_rc(cu_store *s, cu_id t, cu_id sub)
{
    cu_store_subject st;
    cu_err err = {0};
    cu_rc rc = cu_store_subject_get(s, t, sub, &st, &err);

    if (rc == CU_OK)
        cu_store_subject_cleanup(&st);
    return rc;
}

typedef struct probe {
    sfx *f;
    cu_rc rc;
} probe;

static void *other_thread_reads(void *arg)
{
    probe *p = arg;

    p->rc = tenant_rc(p->f->s, 2);
    return NULL;
}

/* Every read of a scope, whichever pool connection it would have gone to, sees the state of
 * its first read: a tenant and subject committed in between are not seen, by any read kind. */
static void test_read_scope_sees_one_snapshot(void **state)
{
    sfx *f = *state;
    pthread_t th;
    probe p = {f, CU_ERR_IO};

    put_tenant(f, 1, 10);
    cu_store_read_begin(f->s);
    assert_int_equal(tenant_rc(f->s, 1), CU_OK); /* the snapshot's first read */
    put_tenant(f, 2, 20);                         /* committed by the writer meanwhile */
    for (int i = 0; i < 12; i++) {                /* more reads than the pool has readers */
        assert_int_equal(tenant_rc(f->s, 2), CU_ERR_NOT_FOUND);
        assert_int_equal(subject_rc(f->s, 2, 20), CU_ERR_NOT_FOUND);
        assert_int_equal(subject_rc(f->s, 1, 10), CU_OK);
    }
    /* Another thread is not in this scope: it sees the latest state. */
    assert_int_equal(pthread_create(&th, NULL, other_thread_reads, &p), 0);
    pthread_join(th, NULL);
    assert_int_equal(p.rc, CU_OK);
    cu_store_read_end(f->s);
    /* After the scope, the next read sees the commit. */
    assert_int_equal(tenant_rc(f->s, 2), CU_OK);
    assert_int_equal(subject_rc(f->s, 2, 20), CU_OK);
}

/* A second begin keeps the first scope (its snapshot); one end ends it; a second end and an
 * end without a scope do nothing; scopes one after the other each see the latest state. */
static void test_read_scope_nesting_and_reuse(void **state)
{
    sfx *f = *state;

    cu_store_read_end(f->s); /* none: nothing */
    put_tenant(f, 1, 10);
    for (cu_id t = 2; t < 40; t++) { /* more scopes than the pool keeps connections */
        cu_store_read_begin(f->s);
        assert_int_equal(tenant_rc(f->s, t - 1), CU_OK);
        put_tenant(f, t, t * 10);
        cu_store_read_begin(f->s); /* already in one: the same snapshot */
        assert_int_equal(tenant_rc(f->s, t), CU_ERR_NOT_FOUND);
        cu_store_read_end(f->s);
        cu_store_read_end(f->s);
        assert_int_equal(tenant_rc(f->s, t), CU_OK);
    }
}

/* --- the core: a commit ends the scope ------------------------------------------------------- */

typedef struct vfx {
    char dir[256];
    char data[256];
    cu_vault *v;
    cu_id tenant;
} vfx;

static int vfx_setup(void **state)
{
    vfx *f = calloc(1, sizeof(*f));
    cu_err err = {0};
    cu_tenant t;

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    *state = f;
    return 0;
}

static int vfx_teardown(void **state)
{
    vfx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

typedef struct maker {
    vfx *f;
    cu_id made;
} maker;

static void *other_creates(void *arg)
{
    maker *m = arg;
    cu_tenant t;
    cu_err err = {0};

    assert_int_equal(cu_tenant_create(m->f->v, NULL, &(cu_tenant_opts){.name = "Other"}, &t, &err),
                     CU_OK);
    m->made = t.id;
    return NULL;
}

/* Within a request's scope, another request's commit is not seen; the request's own commit ends
 * the scope, after which it sees both: its own change and the other's. */
static void test_read_scope_ends_at_the_requests_commit(void **state)
{
    vfx *f = *state;
    maker m = {f, 0};
    pthread_t th;
    cu_tenant t, mine;
    cu_err err = {0};

    cu_vault_read_begin(f->v);
    assert_int_equal(cu_tenant_get(f->v, NULL, f->tenant, &t, &err), CU_OK);
    assert_int_equal(pthread_create(&th, NULL, other_creates, &m), 0);
    pthread_join(th, NULL);
    assert_int_equal(cu_tenant_get(f->v, NULL, m.made, &t, &err), CU_ERR_NOT_FOUND);
    /* The request's own commit: the scope ends before it. */
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Mine"}, &mine, &err),
                     CU_OK);
    assert_int_equal(cu_tenant_get(f->v, NULL, mine.id, &t, &err), CU_OK);
    assert_int_equal(cu_tenant_get(f->v, NULL, m.made, &t, &err), CU_OK);
    cu_vault_read_end(f->v); /* already ended: nothing */
    cu_vault_read_end(NULL);
    cu_vault_read_begin(NULL);
}

static void *other_rotates(void *arg)
{
    vfx *f = arg;
    unsigned version = 0;
    cu_err err = {0};

    assert_int_equal(cu_key_rotate_tenant(f->v, NULL, f->tenant, &version, NULL, &err), CU_OK);
    assert_int_equal(version, 2);
    return NULL;
}

/* P-ENC-5: a tenant key rotation committed while a request's scope is open (its snapshot taken
 * before) must not leave that request wrapping a new subject key under the version the rotation
 * replaced: the key lock ends a scope older than the last key writer. Without it the subject
 * cannot be read after the caches go, and the next rotation fails on the orphan wrap. */
static void test_P_ENC_5_a_key_read_after_a_rotation_sees_the_rotation(void **state)
{
    vfx *f = *state;
    cu_subject_in in = {.external_id = "ada", .email = "ada@example.com"};
    cu_subject got = {0};
    unsigned version = 0;
    cu_tenant t;
    cu_id sub = 0;
    pthread_t th;
    cu_err err = {0};

    cu_vault_read_begin(f->v);
    assert_int_equal(cu_tenant_get(f->v, NULL, f->tenant, &t, &err), CU_OK); /* the snapshot */
    assert_int_equal(pthread_create(&th, NULL, other_rotates, f), 0);
    pthread_join(th, NULL);
    assert_int_equal(cu_subject_create(f->v, NULL, f->tenant, &in, &sub, &err), CU_OK);
    cu_vault_read_end(f->v);
    /* Read back from the database, not from a cache: a fresh open. */
    cu_vault_close(f->v);
    f->v = th_reopen(f->data);
    assert_int_equal(cu_subject_get(f->v, NULL, f->tenant, sub, &got, &err), CU_OK);
    assert_string_equal(got.email, "ada@example.com");
    cu_subject_cleanup(&got);
    assert_int_equal(cu_key_rotate_tenant(f->v, NULL, f->tenant, &version, NULL, &err), CU_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_scope_sees_one_snapshot, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_read_scope_nesting_and_reuse, sfx_setup,
                                        sfx_teardown),
        cmocka_unit_test_setup_teardown(test_read_scope_ends_at_the_requests_commit, vfx_setup,
                                        vfx_teardown),
        cmocka_unit_test_setup_teardown(test_P_ENC_5_a_key_read_after_a_rotation_sees_the_rotation,
                                        vfx_setup, vfx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
