/*
 * test_pg_vault.c: what the PostgreSQL backend's vault domain keeps beyond the store contract
 * that tests/test_store.c proves against every backend: the key epochs' mark written by the
 * deleting transaction itself (pg_schema_vault.c's triggers, as SQLite's migration 18), and the
 * holds' rules kept at READ COMMITTED, where no single writer orders two transactions: a
 * tenant's shredding and a subject key's destruction see a hold that a transaction racing
 * them placed (pg_vault.c, pg_vault_keys.c). Each test has a fresh database on the test
 * binary's own PostgreSQL server (th_pg.c).
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
    cu_err err = {0};

    th_pg_location(f->loc, sizeof(f->loc));
    if (cu_store_open(f->loc, &f->s, &err) != CU_OK)
        fail_msg("open %s", err.msg);
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

static uint8_t bytes8[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static cu_store_op tenant_op(cu_id id)
{
    cu_store_op op = {0};

    op.type = CU_OP_TENANT_PUT;
    op.u.tenant.id = id;
    snprintf(op.u.tenant.name, sizeof(op.u.tenant.name), "t%u", (unsigned)id);
    op.u.tenant.created_at = 1700000000;
    return op;
}

static cu_store_op key_op(cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version)
{
    cu_store_op op = {0};

    op.type = CU_OP_KEY_PUT;
    op.u.key.tenant_id = tenant;
    op.u.key.kind = kind;
    op.u.key.owner_id = owner;
    op.u.key.version = version;
    op.u.key.parent_version = 1;
    op.u.key.wrapped.data = bytes8;
    op.u.key.wrapped.len = 8;
    return op;
}

static cu_store_op master_op(uint32_t version)
{
    cu_store_op op = {0};

    op.type = CU_OP_MASTER_ADD;
    op.u.master.version = version;
    memset(op.u.master.check, 0xab, 32);
    return op;
}

static cu_store_op user_op(cu_id id, uint8_t digest)
{
    cu_store_op op = {0};

    op.type = CU_OP_USER_PUT;
    op.u.user.tenant_id = 1;
    op.u.user.id = id;
    op.u.user.role = CU_ROLE_OWNER;
    memset(op.u.user.email_digest, digest, 32);
    op.u.user.email.data = bytes8;
    op.u.user.email.len = 8;
    op.u.user.key_version = 2;
    snprintf(op.u.user.password_hash, sizeof(op.u.user.password_hash), "$argon2id$x");
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

static cu_rc apply1(pfx *f, cu_store_op op)
{
    cu_err err = {0};

    return cu_store_apply(f->s, &op, 1, &err);
}

/* Runs sql on c, failing the test on an error. */
static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
}

/* Whether master_list shows the key epochs' mark (version 0, a zero check value). */
static int epoch_due(pfx *f)
{
    static const uint8_t zeros[32];
    uint32_t *versions = NULL;
    uint8_t(*checks)[32] = NULL;
    size_t n = 0;
    int due = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_master_list(f->s, &versions, &checks, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        if (versions[i] == 0) {
            assert_memory_equal(checks[i], zeros, 32);
            due = 1;
        }
    free(versions);
    free(checks);
    return due;
}

/* P-RET-3 (key epochs): a deletion of keys or users marks an epoch due in its own
 * transaction, one that deletes nothing or rolls back does not, and the next master key
 * version clears the mark. */
static void test_pg_epoch_mark_follows_deletions(void **state)
{
    pfx *f = *state;
    cu_store_op seed[] = {
        tenant_op(1),  master_op(1), key_op(1, CU_KEY_DATA, 0, 1), key_op(1, CU_KEY_DATA, 0, 2),
        user_op(7, 7), user_op(8, 8)};
    cu_store_op kd = {0}, none = {0}, bad[2];
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, seed, CU_ARRAY_LEN(seed), &err), CU_OK);
    assert_false(epoch_due(f));
    none.type = CU_OP_KEY_DELETE; /* no index key exists: nothing deleted, nothing due */
    none.u.key_del.tenant_id = 1;
    none.u.key_del.kind = CU_KEY_INDEX;
    assert_int_equal(apply1(f, none), CU_OK);
    assert_false(epoch_due(f));
    kd.type = CU_OP_DATA_KEY_DESTROY; /* version 1: nothing uses it */
    kd.u.key_del.tenant_id = 1;
    kd.u.key_del.version = 1;
    assert_int_equal(apply1(f, kd), CU_OK);
    assert_true(epoch_due(f));
    assert_int_equal(apply1(f, master_op(2)), CU_OK);
    assert_false(epoch_due(f));
    assert_int_equal(apply1(f, del_op(CU_OP_USER_DELETE, 1, 7)), CU_OK);
    assert_true(epoch_due(f));
    assert_int_equal(apply1(f, master_op(3)), CU_OK);
    assert_false(epoch_due(f));
    /* A batch that deletes a user, then fails, leaves neither the deletion nor the mark. */
    bad[0] = del_op(CU_OP_USER_DELETE, 1, 8);
    bad[1] = tenant_op(1);
    assert_int_equal(cu_store_apply(f->s, bad, 2, &err), CU_ERR_EXISTS);
    assert_false(epoch_due(f));
}

/* Every tenant's tenant keys (the vault's open) come from the partial index keys_ownerless, not
 * from a scan of every subject's key; only the kind asked, by tenant. */
static void test_pg_tenant_keys_listed_from_their_index(void **state)
{
    pfx *f = *state;
    cu_store_op ops[] = {tenant_op(2),
                         tenant_op(1),
                         key_op(2, CU_KEY_TENANT, 0, 1),
                         key_op(1, CU_KEY_TENANT, 0, 1),
                         key_op(1, CU_KEY_TENANT, 0, 2),
                         key_op(1, CU_KEY_DATA, 0, 1),
                         key_op(1, CU_KEY_SUBJECT, 10, 1),
                         key_op(2, CU_KEY_SUBJECT, 11, 1)};
    cu_store_key *keys = NULL;
    size_t n = 0;
    cu_err err = {0};
    char plan[256] = "";
    PGconn *c;
    PGresult *res;

    assert_int_equal(cu_store_apply(f->s, ops, CU_ARRAY_LEN(ops), &err), CU_OK);
    assert_int_equal(cu_store_key_list(f->s, 0, CU_KEY_TENANT, &keys, &n, &err), CU_OK);
    assert_int_equal(n, 3);
    assert_true(keys[0].tenant_id == 1 && keys[0].version == 1);
    assert_true(keys[1].tenant_id == 1 && keys[1].version == 2);
    assert_true(keys[2].tenant_id == 2 && keys[2].kind == CU_KEY_TENANT);
    cu_store_keys_free(keys, n);
    assert_int_equal(cu_store_key_list(f->s, 0, CU_KEY_SUBJECT, &keys, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    cu_store_keys_free(keys, n);
    /* The plan of Q_KEY_LIST_OWNERLESS's form, the table's size aside (scans off). */
    c = PQconnectdb(f->loc);
    exec_ok(c, "SET enable_seqscan = off");
    res = PQexec(c, "EXPLAIN SELECT * FROM keys WHERE kind = 1 AND owner_id = 0"
                    " ORDER BY tenant_id, version");
    for (int i = 0; i < PQntuples(res); i++)
        if (strstr(PQgetvalue(res, i, 0), "keys_ownerless") != NULL)
            snprintf(plan, sizeof(plan), "%s", PQgetvalue(res, i, 0));
    PQclear(res);
    PQfinish(c);
    assert_non_null(strstr(plan, "Index"));
}

/* --- holds at READ COMMITTED ----------------------------------------------------------------- */

/* An op applied on a thread of its own, while the test holds a transaction open. */
typedef struct racer {
    pfx *f;
    cu_store_op op;
    cu_rc rc;
} racer;

static void *racer_run(void *arg)
{
    racer *r = arg;
    cu_err err = {0};

    r->rc = cu_store_apply(r->f->s, &r->op, 1, &err);
    return NULL;
}

/* Whether a session of this database waits for a lock, within 10 s. */
static int lock_waited(pfx *f)
{
    struct timespec ms10 = {0, 10 * 1000 * 1000};

    for (int i = 0; i < 1000; i++) {
        if (th_pg_sql_int(f->loc, "SELECT count(*) FROM pg_stat_activity WHERE datname ="
                                  " current_database() AND wait_event_type = 'Lock'") > 0)
            return 1;
        nanosleep(&ms10, NULL);
    }
    return 0;
}

/* Runs op on a thread while another session, in a transaction, runs sql (';'-separated
 * statements), committing only once op waits for it; op's result. Fails unless op waited: at
 * READ COMMITTED it would not see the transaction's rows otherwise. */
static cu_rc race(pfx *f, const char *sql, cu_store_op op)
{
    racer r = {f, op, CU_OK};
    pthread_t t;
    PGconn *c = PQconnectdb(f->loc);
    int waited;

    assert_int_equal(PQstatus(c), CONNECTION_OK);
    exec_ok(c, "BEGIN");
    exec_ok(c, sql);
    assert_int_equal(pthread_create(&t, NULL, racer_run, &r), 0);
    waited = lock_waited(f);
    exec_ok(c, "COMMIT");
    assert_int_equal(pthread_join(t, NULL), 0);
    PQfinish(c);
    assert_true(waited);
    return r.rc;
}

/* Another session places a hold on subject 10 of tenant 1 as HOLD_PUT does: its subject key
 * read FOR SHARE (CU_ERR_KEY if gone), then the hold's row. */
static cu_rc race_a_hold(pfx *f, cu_store_op op)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT 1 FROM keys WHERE tenant_id = 1 AND kind = %d AND owner_id = 10 FOR SHARE;"
             "INSERT INTO holds(tenant_id, hold_id, subject_id, record_id, reason, key_version,"
             " created_at) VALUES(1, 5, 10, 0, '\\x01', 1, 1000)",
             (int)CU_KEY_SUBJECT);
    return race(f, sql, op);
}

static void seed_subject_key(pfx *f)
{
    cu_store_op ops[2] = {tenant_op(1), key_op(1, CU_KEY_SUBJECT, 10, 1)};
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_OK);
}

/* The subject key is still there (the refused op rolled back). */
static void assert_key_kept(pfx *f)
{
    cu_store_key k = {0};
    cu_err err = {0};

    assert_int_equal(cu_store_key_get(f->s, 1, CU_KEY_SUBJECT, 10, 0, &k, &err), CU_OK);
    cu_store_key_cleanup(&k);
}

/* P-RET-2, P-RET-5: a shred racing a hold's placement is refused, not a hold on shredded data
 * (checked before its keys' delete, the hold's uncommitted row would be missed). */
static void test_pg_shred_sees_a_hold_placed_meanwhile(void **state)
{
    pfx *f = *state;

    seed_subject_key(f);
    assert_int_equal(race_a_hold(f, del_op(CU_OP_TENANT_SHRED, 1, 0)), CU_ERR_LEGAL_HOLD);
    assert_key_kept(f);
}

/* P-RET-2, P-RET-5: a shred racing a hold on the whole tenant (no key of its own to lock) is
 * refused too: the hold's foreign key check locks the tenant's row, which the shred locks first
 * (review 5, F1: else the shred deleted a hold answered as placed). */
static void test_pg_P_RET_5_shred_sees_a_tenant_hold_placed_meanwhile(void **state)
{
    pfx *f = *state;

    seed_subject_key(f);
    assert_int_equal(race(f,
                          "INSERT INTO holds(tenant_id, hold_id, subject_id, record_id, reason,"
                          " key_version, created_at) VALUES(1, 6, 0, 0, '\\x01', 1, 1000)",
                          del_op(CU_OP_TENANT_SHRED, 1, 0)),
                     CU_ERR_LEGAL_HOLD);
    assert_key_kept(f);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM holds WHERE hold_id = 6"), 1);
}

/* P-DSR-4, P-RET-5: a subject key's destruction racing a hold on the subject is refused (the
 * hold check is pg_held's, the data domain's). */
static void test_pg_subject_key_delete_sees_a_hold_placed_meanwhile(void **state)
{
    pfx *f = *state;
    cu_store_op kd = {0};

    seed_subject_key(f);
    kd.type = CU_OP_KEY_DELETE;
    kd.u.key_del.tenant_id = 1;
    kd.u.key_del.kind = CU_KEY_SUBJECT;
    kd.u.key_del.owner_id = 10;
    assert_int_equal(race_a_hold(f, kd), CU_ERR_LEGAL_HOLD);
    assert_key_kept(f);
}

/* The other half (the data domain's HOLD_PUT): a hold on a subject whose key another
 * transaction is destroying waits for it, then finds the key gone (CU_ERR_KEY). */
static void test_pg_hold_waits_for_a_subject_key_delete(void **state)
{
    pfx *f = *state;
    cu_store_op h = {0};
    char sql[256];

    seed_subject_key(f);
    h.type = CU_OP_HOLD_PUT;
    h.u.hold.tenant_id = 1;
    h.u.hold.id = 5;
    h.u.hold.subject_id = 10;
    h.u.hold.reason.data = bytes8;
    h.u.hold.reason.len = 8;
    h.u.hold.key_version = 1;
    snprintf(sql, sizeof(sql),
             "DELETE FROM keys WHERE tenant_id = 1 AND kind = %d AND owner_id = 10",
             (int)CU_KEY_SUBJECT);
    assert_int_equal(race(f, sql, h), CU_ERR_KEY);
}

/* --- the vault domain through the core ----------------------------------------------------- */

#define PW "correct horse battery staple"

/* Logs the user in and authenticates the session; the principal's user id. */
static cu_id login(cu_vault *v, cu_id tenant)
{
    char token[CU_SESSION_TOKEN_MAX];
    cu_principal who = {0};
    cu_err err = {0};

    if (cu_user_login(v, NULL, tenant, "ada@example.com", PW, NULL, token, &who, NULL, &err) !=
        CU_OK)
        fail_msg("login: %s", err.msg);
    assert_int_equal(cu_auth_session(v, token, &who, &err), CU_OK);
    return who.id;
}

/* A vault on the database server (cu_vault_opts.store) over the vault domain's ops and reads:
 * a tenant with its keys, a user's login and session, an API key, every key rotation with the
 * re-encryption that reseals the user's sealed email and destroys the old data key, and a
 * reopen that finds the master keys and every tenant key again. */
static void test_pg_vault_domain_through_the_core(void **state)
{
    pfx *f = *state;
    char dir[256], data[300], secret[CU_APIKEY_SECRET_MAX];
    cu_vault_opts o = {.data_dir = data, .store = f->loc};
    cu_reencrypt_report rep = {0};
    cu_principal who = {0};
    cu_apikey key = {0};
    cu_tenant t = {0};
    cu_vault *v = NULL;
    unsigned version = 0;
    size_t rewrapped = 0;
    cu_id user = 0;
    cu_err err = {0};

    th_tmpdir(dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    assert_int_equal(cu_vault_init(&o, &err), CU_OK);
    assert_int_equal(cu_vault_open(&o, &v, &err), CU_OK);
    assert_int_equal(cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(
        cu_user_create(v, NULL, t.id, "ada@example.com", PW, CU_ROLE_OWNER, &user, &err), CU_OK);
    assert_true(login(v, t.id) == user);
    assert_int_equal(cu_apikey_create(v, NULL, t.id, CU_ROLE_AGENT, "ci", &key, secret, &err),
                     CU_OK);
    assert_int_equal(cu_auth_apikey(v, secret, &who, &err), CU_OK);
    assert_true(who.id == key.id && who.tenant_id == t.id);
    assert_int_equal(cu_key_rotate_master(v, NULL, &version, &rewrapped, &err), CU_OK);
    assert_int_equal(cu_key_rotate_tenant(v, NULL, t.id, &version, &rewrapped, &err), CU_OK);
    assert_int_equal(cu_key_rotate_data(v, NULL, t.id, &version, &err), CU_OK);
    assert_int_equal(cu_key_reencrypt(v, NULL, t.id, &rep, &err), CU_OK);
    assert_int_equal(rep.users, 1);
    assert_int_equal(rep.destroyed, 1);
    cu_vault_close(v);
    assert_int_equal(cu_vault_open(&o, &v, &err), CU_OK);
    assert_true(login(v, t.id) == user);
    assert_int_equal(cu_auth_apikey(v, secret, &who, &err), CU_OK);
    assert_int_equal(cu_apikey_revoke(v, NULL, t.id, key.id, &err), CU_OK);
    assert_int_equal(cu_auth_apikey(v, secret, &who, &err), CU_ERR_AUTH);
    assert_int_equal(cu_user_delete(v, NULL, t.id, user, &err), CU_OK);
    cu_vault_close(v);
    th_rmrf(dir);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_pg_epoch_mark_follows_deletions),
        T(test_pg_tenant_keys_listed_from_their_index),
        T(test_pg_shred_sees_a_hold_placed_meanwhile),
        T(test_pg_P_RET_5_shred_sees_a_tenant_hold_placed_meanwhile),
        T(test_pg_subject_key_delete_sees_a_hold_placed_meanwhile),
        T(test_pg_hold_waits_for_a_subject_key_delete),
        T(test_pg_vault_domain_through_the_core),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
