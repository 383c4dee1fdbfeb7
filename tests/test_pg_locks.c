/*
 * test_pg_locks.c: the row locks the PostgreSQL backend's apply() takes on a batch's tenants
 * (pg_write.c, lock_tenants; docs/store.md, "Several servers"), with two transactions forced
 * to interleave: another session holds a lock while batches of this process wait for it.
 *
 *  - Two groups raising (TENANT_GEN) the same two tenants in opposite orders both commit: the
 *    locks are taken in tenant id order before the first op, so neither holds one the other
 *    waits for (else PostgreSQL detects a deadlock and fails one batch).
 *  - The same for two groups chaining (AUDIT_HEAD_CHECK) two tenants in opposite orders.
 *  - P-AUD-1 on Citus: the audit chain's lock is a row lock on the tenant's
 *    audit_subject_marks row (distributed by tenant: held on its shard, whichever node a server
 *    reaches), not an advisory lock (per node): a head check waits for a transaction holding
 *    that row, then reads the head it committed and is refused (CU_ERR_CONFLICT).
 *
 * Runs once (tests/run.sh ONCE): PostgreSQL's own, on the binary's own server (th_pg.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "store.h"
#include "th.h"
#include "th_pg.h"
#include "util.h"

typedef struct pfx {
    char loc[256];
    cu_store *s;
} pfx;

static int setup(void **state)
{
    pfx *f = calloc(1, sizeof(*f));
    cu_store_op ops[2] = {{0}};
    cu_err err = {0};

    th_pg_location(f->loc, sizeof(f->loc));
    if (cu_store_open(f->loc, &f->s, &err) != CU_OK)
        fail_msg("open %s", err.msg);
    for (int i = 0; i < 2; i++) {
        ops[i].type = CU_OP_TENANT_PUT;
        ops[i].u.tenant.id = (cu_id)(i + 1);
        snprintf(ops[i].u.tenant.name, sizeof(ops[i].u.tenant.name), "t%d", i + 1);
        ops[i].u.tenant.created_at = 1700000000;
    }
    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    pfx *f = *state;

    cu_store_close(f->s);
    free(f);
    return 0;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
}

/* Whether n sessions of this database wait for a lock, within 10 s. */
static int waiting(pfx *f, int n)
{
    struct timespec ms10 = {0, 10 * 1000 * 1000};

    for (int i = 0; i < 1000; i++) {
        if (th_pg_sql_int(f->loc, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                  " current_database() AND wait_event_type = 'Lock'") >= n)
            return 1;
        nanosleep(&ms10, NULL);
    }
    return 0;
}

/* A batch applied on a thread of its own. */
typedef struct batch {
    pfx *f;
    cu_store_op ops[4];
    size_t n;
    cu_rc rc;
    cu_err err;
} batch;

static void *batch_run(void *arg)
{
    batch *b = arg;

    b->rc = cu_store_apply(b->f->s, b->ops, b->n, &b->err);
    return NULL;
}

static cu_store_op gen_op(cu_id tenant)
{
    cu_store_op op = {0};

    op.type = CU_OP_TENANT_GEN;
    op.u.del.tenant_id = tenant;
    return op;
}

static cu_store_op head_op(cu_id tenant)
{
    cu_store_op op = {0};

    op.type = CU_OP_AUDIT_HEAD_CHECK; /* an empty chain: seq 0, hash zeros */
    op.u.audit_head.tenant_id = tenant;
    return op;
}

/* Another session holds what blocker locks; batches x and y start and both wait behind it; it
 * commits; both batches' results into x->rc, y->rc. */
static void race_two(pfx *f, const char *blocker, batch *x, batch *y)
{
    PGconn *c = PQconnectdb(f->loc);
    pthread_t tx, ty;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    exec_ok(c, "BEGIN");
    exec_ok(c, blocker);
    x->f = y->f = f;
    assert_int_equal(pthread_create(&tx, NULL, batch_run, x), 0);
    assert_true(waiting(f, 1));
    assert_int_equal(pthread_create(&ty, NULL, batch_run, y), 0);
    assert_true(waiting(f, 2)); /* both queued: x on the blocker, y on it or on x */
    exec_ok(c, "COMMIT");
    assert_int_equal(pthread_join(tx, NULL), 0);
    assert_int_equal(pthread_join(ty, NULL), 0);
    PQfinish(c);
}

/* Two groups raise tenants 1 and 2 in opposite orders while tenant 1's row is held: with the
 * raises in op order, x would wait for 1 and y take 2 then wait for 1; once 1 is free, x would
 * wait for y's 2 and y for x's 1 (deadlock). In tenant order both commit. */
static void test_pg_tenant_gens_in_opposite_orders_both_commit(void **state)
{
    pfx *f = *state;
    batch x = {.ops = {gen_op(1), gen_op(2)}, .n = 2}, y = {.ops = {gen_op(2), gen_op(1)}, .n = 2};

    race_two(f, "SELECT 1 FROM tenants WHERE tenant_id = 1 FOR NO KEY UPDATE", &x, &y);
    if (x.rc != CU_OK || y.rc != CU_OK)
        fail_msg("x: %d %s; y: %d %s", x.rc, x.err.msg, y.rc, y.err.msg);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT sum(cache_gen) FROM tenants"), 4);
}

/* The same for two groups chaining tenants 1 and 2 in opposite orders (the head checks come in
 * the order a group first wrote each tenant, commit.c): both pass, the second after the first
 * committed. The blocker holds tenant 1's chain both as the old code locked it (an advisory
 * lock) and as apply() does now (its audit_subject_marks row). */
static void test_pg_audit_chains_in_opposite_orders_both_commit(void **state)
{
    pfx *f = *state;
    batch x = {.ops = {head_op(1), head_op(2)}, .n = 2};
    batch y = {.ops = {head_op(2), head_op(1)}, .n = 2};

    race_two(f,
             "SELECT pg_advisory_xact_lock(1);"
             "INSERT INTO audit_subject_marks(tenant_id, seq) VALUES(1, 0)"
             " ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_subject_marks.seq",
             &x, &y);
    if (x.rc != CU_OK || y.rc != CU_OK)
        fail_msg("x: %d %s; y: %d %s", x.rc, x.err.msg, y.rc, y.err.msg);
}

/* P-AUD-1, Citus: a head check waits for the transaction that holds the tenant's chain row
 * (with no advisory lock anywhere), then reads the entry it committed: the head moved, refused. */
static void test_pg_P_AUD_1_chain_lock_is_a_row_lock(void **state)
{
    pfx *f = *state;
    PGconn *c = PQconnectdb(f->loc);
    batch x = {.ops = {head_op(1)}, .n = 1};
    pthread_t t;

    x.f = f;
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    exec_ok(c, "BEGIN");
    exec_ok(c, "INSERT INTO audit_subject_marks(tenant_id, seq) VALUES(1, 0)"
               " ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_subject_marks.seq");
    exec_ok(c, "INSERT INTO audit_log(tenant_id, seq, at, actor, action, object, purpose, source,"
               " request_id, outcome, prev, hash) VALUES(1, 1, 1, 'a', 'b', 'c', 'd', 'e', 'f',"
               " 'ok', '\\x00', '\\x01')");
    assert_int_equal(pthread_create(&t, NULL, batch_run, &x), 0);
    assert_true(waiting(f, 1));
    exec_ok(c, "COMMIT");
    assert_int_equal(pthread_join(t, NULL), 0);
    PQfinish(c);
    assert_int_equal(x.rc, CU_ERR_CONFLICT);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM pg_locks WHERE locktype ="
                                           " 'advisory'"),
                     0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_pg_tenant_gens_in_opposite_orders_both_commit),
        T(test_pg_audit_chains_in_opposite_orders_both_commit),
        T(test_pg_P_AUD_1_chain_lock_is_a_row_lock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
