/*
 * test_multi.c: several writers on one database (issue 9, item 7), as several `custos serve`
 * processes on one PostgreSQL will be. Test builds let two vaults open one SQLite database
 * (CUSTOS_TEST_SHARED_DB=1 skips the SQLite backend's flock, docs/store.md), and a forked
 * child opens a third.
 *
 *  - P-AUD-1: commits for one tenant interleaved from two vaults, and from a child process
 *    writing at the same time, make one valid chain: a writer whose cached head another moved
 *    has its batch refused by the store (CU_OP_AUDIT_HEAD_CHECK), reads the head again and
 *    chains anew; nothing is lost and nothing forks.
 *  - P-AUD-2: the checkpoints each writer signs (on count, and its tails) verify.
 *  - The sweep lease: while one server holds it the others' sweeps are refused (409); a
 *    crashed holder's lease lapses; a finished sweep frees it.
 *  - The key epoch lease: one master key rotation or retirement at a time; a rotation from
 *    the API takes it too, and one whose lease another server took meanwhile commits nothing
 *    (the commit renews it in its transaction; review 5, F5).
 *  - The key file both share: a version another's epoch added is loaded on first use.
 *  - No tenant row memoized for a read scope the store could not open (review 5, F7).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core_int.h" /* v->sweep_holder: the lease's holder as the store sees it */
#include "store.h"
#include "tenant_int.h"
#include "th.h"
#include "th_pg.h"
#include "util.h"

static const cu_ctx CTX = {.actor = "key:4242", .purpose = "support", .source = "127.0.0.1"};

typedef struct fx {
    char dir[256];
    char data[256];
    cu_vault *a, *b;
    cu_id tenant;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    setenv("CUSTOS_TEST_SHARED_DB", "1", 1);
    th_tmpdir(f->dir);
    f->a = th_vault(f->dir, f->data);
    f->b = th_reopen(f->data); /* the second server on the same database */
    if (cu_tenant_create(f->a, &CTX, &(cu_tenant_opts){.name = "Shared"}, &t, &err) != CU_OK)
        fail_msg("tenant: %s", err.msg);
    f->tenant = t.id;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->a);
    cu_vault_close(f->b);
    cu_clock_set(0);
    unsetenv("CUSTOS_TEST_SHARED_DB");
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static cu_rc put(cu_vault *v, cu_id tenant, int i, cu_err *err)
{
    char doc[64];
    cu_id id = 0;

    snprintf(doc, sizeof(doc), "{\"note\":\"n%d\"}", i);
    return cu_record_put(v, &CTX, tenant, "notes", 0, doc, strlen(doc), &id, err);
}

static void put_ok(cu_vault *v, cu_id tenant, int i)
{
    cu_err err = {0};

    if (put(v, tenant, i, &err) != CU_OK)
        fail_msg("put %d: %s", i, err.msg);
}

/* The tenant's entries of one action in the store. */
static long long actions_of(const fx *f, cu_id tenant, const char *action)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE tenant_id = %lld AND action = '%s'",
             (long long)tenant, action);
    return th_sql_int(f->data, sql);
}

static long long entries_of(const fx *f, cu_id tenant)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_log WHERE tenant_id = %lld",
             (long long)tenant);
    return th_sql_int(f->data, sql);
}

/* The tenant's chain verifies through v, every entry the store holds in it. */
static void chain_ok(const fx *f, cu_vault *v, cu_id tenant, cu_audit_report *rep)
{
    cu_err err = {0};

    memset(rep, 0, sizeof(*rep));
    if (cu_audit_verify(v, &CTX, tenant, rep, &err) != CU_OK)
        fail_msg("verify could not run: %s", err.msg);
    if (!rep->ok)
        fail_msg("chain broken at %llu: %s", (unsigned long long)rep->first_bad_seq, rep->problem);
    assert_int_equal((long long)rep->entries, entries_of(f, tenant));
}

/* P-AUD-1: A, B, A, B... each write after the other moved the head this one cached. Every
 * write succeeds and the tenant has one chain, seen alike from both. */
static void test_P_AUD_1_two_vaults_interleaved_make_one_chain(void **state)
{
    fx *f = *state;
    cu_audit_report rep;

    for (int i = 0; i < 20; i++)
        put_ok(i % 2 ? f->b : f->a, f->tenant, i);
    chain_ok(f, f->a, f->tenant, &rep);
    assert_int_equal(actions_of(f, f->tenant, "record.create"), 20); /* none lost */
    chain_ok(f, f->b, f->tenant, &rep);
    /* The platform's log, written by A alone, too. */
    chain_ok(f, f->b, 0, &rep);
}

/* A child process opening the vault a third time and writing the tenant's records while
 * both vaults of the parent write them too: what it reads as the head is stale most of the
 * time, and every write of the three still lands in one chain. */
static void child_writes(const char *data, cu_id tenant, int n)
{
    cu_vault_opts o = {.data_dir = data, .store = th_store(data)};
    cu_vault *v = NULL;
    cu_err err = {0};
    int failed = 0;

    if (cu_vault_open(&o, &v, &err) != CU_OK)
        _exit(2);
    for (int i = 0; i < n; i++)
        failed += put(v, tenant, 1000 + i, &err) != CU_OK;
    cu_vault_close(v); /* signs its tails (P-AUD-2) */
    _exit(failed ? 3 : 0);
}

static void test_P_AUD_1_P_AUD_2_a_child_process_writes_at_the_same_time(void **state)
{
    fx *f = *state;
    cu_audit_report rep;
    size_t signed_a = 0, signed_b = 0;
    cu_err err = {0};
    int status = 0;
    pid_t pid;

    put_ok(f->b, f->tenant, 0); /* B has a head cached before the child moves it */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_writes(f->data, f->tenant, 40);
    for (int i = 1; i <= 40; i++)
        put_ok(i % 2 ? f->a : f->b, f->tenant, i);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* P-AUD-2: each server signs the tail of the chain as the store holds it now. */
    assert_int_equal(cu_audit_sign_tails(f->a, 0, &signed_a, &err), CU_OK);
    assert_int_equal(cu_audit_sign_tails(f->b, 0, &signed_b, &err), CU_OK);
    assert_true(signed_a + signed_b >= 1);
    chain_ok(f, f->a, f->tenant, &rep);
    assert_int_equal(actions_of(f, f->tenant, "record.create"), 1 + 40 + 40);
    assert_true(rep.checkpoints >= 1); /* the child's at its close, or the parent's after it */
    /* Both vaults go on writing on the chain the others extended, and sign its new tail: the
     * second to sign finds it signed already and is content. */
    put_ok(f->a, f->tenant, 100);
    put_ok(f->b, f->tenant, 101);
    assert_int_equal(cu_audit_sign_tails(f->a, 0, &signed_a, &err), CU_OK);
    assert_int_equal(cu_audit_sign_tails(f->b, 0, &signed_b, &err), CU_OK);
    assert_int_equal(signed_a, 1);
    chain_ok(f, f->b, f->tenant, &rep);
    assert_int_equal(actions_of(f, f->tenant, "record.create"), 1 + 40 + 40 + 2);
    assert_true(rep.checkpoints >= 2);
}

/* A commit that fails leaves no head behind: the next write of the same vault, after another
 * moved the chain, chains onto the store's head (P-AUD-1). */
static void test_P_AUD_1_a_write_after_a_failed_commit_chains_onto_the_store_head(void **state)
{
    fx *f = *state;
    cu_audit_report rep;
    cu_err err = {0};

    put_ok(f->a, f->tenant, 0);
    setenv("CUSTOS_FAULT", "audit.append", 1);
    assert_int_not_equal(put(f->a, f->tenant, 1, &err), CU_OK);
    unsetenv("CUSTOS_FAULT");
    put_ok(f->b, f->tenant, 2);
    put_ok(f->b, f->tenant, 3);
    put_ok(f->a, f->tenant, 4);
    chain_ok(f, f->a, f->tenant, &rep);
    assert_int_equal(actions_of(f, f->tenant, "record.create"), 4); /* the failed one is not */
}

static void take_named_lease(const fx *f, const char *name, cu_id holder, int64_t now);

static void take_lease(const fx *f, cu_id holder, int64_t now)
{
    take_named_lease(f, CU_LEASE_SWEEP, holder, now);
}

static void take_named_lease(const fx *f, const char *name, cu_id holder, int64_t now)
{
    char path[512];
    cu_store *s = NULL;
    cu_store_op op;
    cu_err err = {0};

    snprintf(path, sizeof(path), "%s/custos.db", f->data);
    assert_int_equal(cu_store_open(th_store(f->data) ? th_store(f->data) : path, &s, &err), CU_OK);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_LEASE_TAKE;
    op.u.lease.name = name;
    op.u.lease.holder = holder;
    op.u.lease.now = now;
    op.u.lease.expires_at = now + 300;
    assert_int_equal(cu_store_apply(s, &op, 1, &err), CU_OK);
    cu_store_close(s);
}

/* One sweeper at a time: a server that holds the sweep lease sweeps (renewing it), the others
 * are refused with CU_ERR_CONFLICT until it frees it; a crashed holder's lease lapses. */
static void test_sweep_lease_one_sweeper_at_a_time(void **state)
{
    fx *f = *state;
    int64_t now = 1900000000;
    cu_sweep_report rep;
    cu_err err = {0};

    cu_clock_set(now);
    /* A is sweeping (it holds the lease): B's sweep is refused, A's goes on. */
    take_lease(f, f->a->sweep_holder, now);
    assert_int_equal(cu_sweep(f->b, NULL, &rep, &err), CU_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "another server is sweeping"));
    assert_int_equal(rep.tenants, 0);
    assert_int_equal(cu_sweep(f->a, NULL, &rep, &err), CU_OK);
    /* Done, A freed it: B sweeps. */
    assert_int_equal(cu_sweep(f->b, NULL, &rep, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM leases"), 0);
    /* A server that crashed mid-sweep holds it until it lapses, then anyone sweeps. */
    take_lease(f, 4242, now);
    assert_int_equal(cu_sweep(f->a, NULL, &rep, &err), CU_ERR_CONFLICT);
    assert_int_equal(cu_sweep(f->b, NULL, &rep, &err), CU_ERR_CONFLICT);
    cu_clock_set(now + 299);
    assert_int_equal(cu_sweep(f->a, NULL, &rep, &err), CU_ERR_CONFLICT);
    cu_clock_set(now + 300);
    assert_int_equal(cu_sweep(f->a, NULL, &rep, &err), CU_OK);
    assert_int_equal(cu_sweep(f->b, NULL, &rep, &err), CU_OK);
}

/* Key epochs one server at a time (docs/store.md, Several servers): while another holds the
 * epoch lease, an epoch and a retirement are refused and change nothing (the key file
 * neither); once it is free, they run, and leave it free. */
static void test_key_epoch_lease_one_rotation_at_a_time(void **state)
{
    fx *f = *state;
    int64_t now = cu_clock_now();
    cu_key_epoch_report rep;
    unsigned current = 0, retained = 0;
    cu_err err = {0};

    cu_key_ring_stats(f->b, &current, &retained);
    take_named_lease(f, "key_epoch", f->a->sweep_holder, now);
    assert_int_equal(cu_key_epoch(f->b, NULL, 0, &rep, &err), CU_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "another server is rotating"));
    assert_int_equal(rep.rotated, 0);
    assert_int_equal(cu_key_retire(f->b, NULL, &rep.retire, &err), CU_ERR_CONFLICT);
    /* The holder itself goes on, and frees it. */
    assert_int_equal(cu_key_epoch(f->a, NULL, 0, &rep, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM leases"), 0);
    assert_int_equal(cu_key_retire(f->b, NULL, &rep.retire, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM leases"), 0);
}

/* A master rotation straight from the API (custos key rotate) takes the epoch lease too: while
 * another server holds it, refused, and nothing changes (review 5, F5). */
static void test_F5_master_rotation_refused_while_another_holds_the_epoch_lease(void **state)
{
    fx *f = *state;
    unsigned current = 0, retained = 0, after = 0, version = 0;
    size_t rewrapped = 0;
    cu_err err = {0};

    cu_key_ring_stats(f->b, &current, &retained);
    take_named_lease(f, "key_epoch", 4242, cu_clock_now());
    assert_int_equal(cu_key_rotate_master(f->b, NULL, &version, &rewrapped, &err),
                     CU_ERR_CONFLICT);
    cu_key_ring_stats(f->b, &after, &retained);
    assert_int_equal(after, current);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM master_keys WHERE version > 0"),
                     (long long)current);
}

/* The epoch lease lapses while a rotation runs and another server takes it (here: at the
 * point the new version is in the key file, before the commit): the rotation's commit renews
 * the lease in its own transaction, so it is refused instead of committing a second rotation
 * beside the other server's (review 5, F5). */
static int steal_epoch_lease(const char *point, void *arg)
{
    const fx *f = arg;
    char sql[160];

    if (strcmp(point, "rotate.keyfile_written") != 0)
        return 0;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM leases WHERE holder = %lld",
             (long long)f->a->sweep_holder);
    assert_int_equal(th_sql_int(f->data, sql), 1); /* a held it up to here */
    /* Its expiry passed: another server takes it (as LEASE_TAKE does once expires_at <= now). */
    take_named_lease(f, "key_epoch", 4242, cu_clock_now() + 601);
    return 0;
}

static void test_F5_rotation_that_lost_its_lease_commits_nothing(void **state)
{
    fx *f = *state;
    unsigned current = 0, retained = 0, after = 0, version = 0;
    size_t rewrapped = 0;
    cu_err err = {0};

    cu_key_ring_stats(f->a, &current, &retained);
    cu_fault_hook_set(steal_epoch_lease, f);
    assert_int_equal(cu_key_rotate_master(f->a, NULL, &version, &rewrapped, &err),
                     CU_ERR_CONFLICT);
    cu_fault_hook_set(NULL, NULL);
    cu_key_ring_stats(f->a, &after, &retained);
    assert_int_equal(after, current);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM master_keys WHERE version > 0"),
                     (long long)current);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM leases WHERE holder = 4242"), 1);
}

/* The key file shared by two servers (docs/scaling.md, "The key file"): a's key epoch adds
 * master version 2 to the file and rewraps every tenant key under it. b, which never loaded
 * version 2, meets it on its next read of the tenant's key and re-reads the file (not
 * CU_ERR_KEY until a restart). b's own rotation then takes in the file first and numbers its
 * version 3, after a's, and a reads under it in turn. */
static void test_key_file_reloaded_on_an_unknown_master_version(void **state)
{
    fx *f = *state;
    unsigned version = 0, current = 0, retained = 0;
    size_t rewrapped = 0;
    cu_record rec;
    cu_id id = 0;
    cu_err err = {0};

    assert_int_equal(cu_record_put(f->a, &CTX, f->tenant, "notes", 0, "{\"note\":\"k\"}", 12,
                                   &id, &err),
                     CU_OK);
    cu_key_ring_stats(f->b, &current, &retained);
    assert_int_equal(current, 1);
    assert_int_equal(cu_key_rotate_master(f->a, NULL, &version, &rewrapped, &err), CU_OK);
    assert_int_equal(version, 2);
    memset(&rec, 0, sizeof(rec));
    if (cu_record_get(f->b, &CTX, f->tenant, id, &rec, &err) != CU_OK)
        fail_msg("b reads under a's new master version: %s", err.msg);
    cu_record_cleanup(&rec);
    assert_int_equal(cu_key_rotate_master(f->b, NULL, &version, &rewrapped, &err), CU_OK);
    assert_int_equal(version, 3);
    memset(&rec, 0, sizeof(rec));
    if (cu_record_get(f->a, &CTX, f->tenant, id, &rec, &err) != CU_OK)
        fail_msg("a reads under b's master version: %s", err.msg);
    cu_record_cleanup(&rec);
    assert_int_equal(th_sql_int(f->data, "SELECT max(version) FROM master_keys"), 3);
}

/* Review 5, F7: a read scope the store could not open (PostgreSQL without two spare
 * connections: here a pool of one) reads unscoped, so the tenant row is not memoized for it:
 * another server's change between two reads of one request is seen by the second. PostgreSQL
 * only: SQLite's scopes (one file) always open. */
static void test_F7_no_memo_without_a_real_read_scope(void **state)
{
    fx *f = *state;
    cu_store_tenant one, two;
    cu_store_op op = {.type = CU_OP_TENANT_GEN};
    cu_vault *a;
    cu_err err = {0};

    if (!th_pg_mode())
        skip();
    setenv("CUSTOS_STORE_POOL", "1", 1);
    a = th_reopen(f->data);
    unsetenv("CUSTOS_STORE_POOL");
    cu_vault_read_begin(a);
    assert_int_equal(cu_vault_read_scope(), 0); /* no snapshot: not a scope */
    assert_int_equal(cu_tenant_row(a, f->tenant, &one, &err), CU_OK);
    op.u.del.tenant_id = f->tenant;
    assert_int_equal(cu_store_apply(f->b->store, &op, 1, &err), CU_OK); /* another server */
    assert_int_equal(cu_tenant_row(a, f->tenant, &two, &err), CU_OK);
    cu_vault_read_end(a);
    assert_int_equal(two.cache_gen, one.cache_gen + 1);
    cu_vault_close(a);
}

/* A server that stops frees its lease at once (cu_vault_close), not only at its expiry. */
static void test_sweep_lease_freed_at_close(void **state)
{
    fx *f = *state;
    cu_sweep_report rep;
    cu_err err = {0};

    take_lease(f, f->a->sweep_holder, cu_clock_now());
    assert_int_equal(cu_sweep(f->b, NULL, &rep, &err), CU_ERR_CONFLICT);
    cu_vault_close(f->a);
    f->a = NULL;
    assert_int_equal(cu_sweep(f->b, NULL, &rep, &err), CU_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_AUD_1_two_vaults_interleaved_make_one_chain),
        T(test_P_AUD_1_P_AUD_2_a_child_process_writes_at_the_same_time),
        T(test_P_AUD_1_a_write_after_a_failed_commit_chains_onto_the_store_head),
        T(test_sweep_lease_one_sweeper_at_a_time),
        T(test_sweep_lease_freed_at_close),
        T(test_key_epoch_lease_one_rotation_at_a_time),
        T(test_F5_master_rotation_refused_while_another_holds_the_epoch_lease),
        T(test_F5_rotation_that_lost_its_lease_commits_nothing),
        T(test_key_file_reloaded_on_an_unknown_master_version),
        T(test_F7_no_memo_without_a_real_read_scope),
    };

    return cmocka_run_group_tests_name("several writers on one database", tests, NULL, NULL);
}
