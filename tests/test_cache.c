/*
 * test_cache.c: the caches of verified API keys and unwrapped keys (issue 17, item 3; cache.c).
 *
 *  - P-ACC-3: a revoked key fails on the very next request, cached or not; a cached key id
 *    with another secret fails; a purged tenant's keys fail at once.
 *  - P-DSR-4: a subject's key destroyed (the first step of erasure, alone: the rows still
 *    there) opens nothing from the very next read on; cu_keys_forget_subject wipes it.
 *  - P-ENC-5: rotations of the tenant, data and master key forget what they change, and reads
 *    and writes go on under the new versions.
 *  - Bounded: a small cache evicts and stays correct; a put that raced a forget is dropped.
 *  - Several processes on one database: another vault's revocation and erasure are seen from
 *    the next request on, through the tenant's cache generation (docs/store.md, Several
 *    servers), not after CUSTOS_CACHE_TTL_MS; a key read from a snapshot older than the newest
 *    generation seen is not cached (review 5, F3); many tenants read again at the same
 *    generation forget nothing (F4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache_int.h"
#include "keys_int.h"
#include "th.h"

static const cu_ctx CTX = {.actor = "key:1", .purpose = "support", .source = "127.0.0.1"};

typedef struct fx {
    char dir[256];
    char data[256];
    cu_vault *v;
    cu_id tenant, subject, record;
    char owner[CU_APIKEY_SECRET_MAX];
} fx;

static void make_world(fx *f)
{
    cu_field_def defs[] = {{"note", CU_FIELD_PERSONAL, 0}};
    cu_subject_in si = {.external_id = "ext-1", .email = "one@example.org"};
    cu_tenant t;
    cu_err err = {0};

    if (cu_tenant_create(f->v, &CTX, &(cu_tenant_opts){.name = "Acme", .owner_secret = f->owner},
                         &t, &err) != CU_OK)
        fail_msg("tenant: %s", err.msg);
    f->tenant = t.id;
    assert_int_equal(cu_collection_define(f->v, &CTX, t.id, "notes", defs, 1, &err), CU_OK);
    if (cu_subject_create(f->v, &CTX, t.id, &si, &f->subject, &err) != CU_OK)
        fail_msg("subject: %s", err.msg);
    if (cu_record_put(f->v, &CTX, t.id, "notes", f->subject, "{\"note\":\"hello\"}", 16, &f->record,
                      &err) != CU_OK)
        fail_msg("record: %s", err.msg);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    make_world(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    unsetenv("CUSTOS_KEY_CACHE");
    return 0;
}

static cu_cache_stats stats(cu_vault *v, cu_cache_kind k)
{
    cu_cache_stats s;

    cu_vault_cache_stats(v, k, &s);
    return s;
}

static cu_rc auth(cu_vault *v, const char *secret)
{
    cu_principal p;
    cu_err err = {0};

    return cu_auth_apikey(v, secret, &p, &err);
}

static cu_rc read_record(cu_vault *v, cu_id tenant, cu_id record)
{
    cu_record r = {0};
    cu_err err = {0};
    cu_rc rc = cu_record_get(v, &CTX, tenant, record, &r, &err);

    if (rc == CU_OK)
        assert_non_null(strstr(r.json, "hello"));
    cu_record_cleanup(&r);
    return rc;
}

/* --- API keys (P-ACC-3) -------------------------------------------------------------------- */

static void test_P_ACC_3_revoked_key_fails_on_its_very_next_request(void **state)
{
    fx *f = *state;
    char secret[CU_APIKEY_SECRET_MAX];
    cu_apikey k;
    cu_err err = {0};
    cu_cache_stats before;

    assert_int_equal(
        cu_apikey_create(f->v, &CTX, f->tenant, CU_ROLE_AGENT, "agent", &k, secret, &err), CU_OK);
    assert_int_equal(auth(f->v, secret), CU_OK); /* checked in the store, cached */
    before = stats(f->v, CU_CACHE_APIKEYS);
    for (int i = 0; i < 5; i++)
        assert_int_equal(auth(f->v, secret), CU_OK);
    assert_int_equal(stats(f->v, CU_CACHE_APIKEYS).hits, before.hits + 5);
    assert_int_equal(stats(f->v, CU_CACHE_APIKEYS).misses, before.misses);

    assert_int_equal(cu_apikey_revoke(f->v, &CTX, f->tenant, k.id, &err), CU_OK);
    assert_int_equal(auth(f->v, secret), CU_ERR_AUTH);
    assert_true(stats(f->v, CU_CACHE_APIKEYS).forgotten >= 1);
    assert_int_equal(auth(f->v, secret), CU_ERR_AUTH); /* and stays refused */
}

static void test_P_ACC_3_cached_key_id_with_another_secret_fails(void **state)
{
    fx *f = *state;
    char wrong[CU_APIKEY_SECRET_MAX];
    char *last;

    assert_int_equal(auth(f->v, f->owner), CU_OK);
    assert_int_equal(auth(f->v, f->owner), CU_OK);
    /* The same id, another secret: the cached hash refuses it. */
    memcpy(wrong, f->owner, sizeof(wrong));
    last = wrong + strlen(wrong) - 1;
    *last = *last == 'a' ? 'b' : 'a';
    assert_int_equal(auth(f->v, wrong), CU_ERR_AUTH);
    assert_int_equal(auth(f->v, f->owner), CU_OK);
}

static void test_P_ACC_3_closed_tenant_keys_fail_at_once(void **state)
{
    fx *f = *state;
    cu_store_op op = {.type = CU_OP_TENANT_CLOSE};
    cu_err err = {0};

    assert_int_equal(auth(f->v, f->owner), CU_OK);
    op.u.del.tenant_id = f->tenant;
    assert_int_equal(cu_commit(f->v, &CTX, &op, 1, NULL, 0, &err), CU_OK);
    assert_int_equal(auth(f->v, f->owner), CU_ERR_AUTH);
}

/* --- unwrapped keys (P-DSR-4, P-ENC-5) ----------------------------------------------------- */

static void test_P_DSR_4_destroyed_subject_key_opens_nothing_on_the_next_read(void **state)
{
    fx *f = *state;
    cu_store_op op = {.type = CU_OP_KEY_DELETE};
    cu_cache_stats before;
    cu_key k;
    cu_err err = {0};

    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    before = stats(f->v, CU_CACHE_KEYS);
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    assert_true(stats(f->v, CU_CACHE_KEYS).hits > before.hits);
    assert_int_equal(stats(f->v, CU_CACHE_KEYS).misses, before.misses);
    assert_true(cu_cache_key_get(f->v, f->tenant, CU_KEY_SUBJECT, f->subject, 0, &k));

    /* Only the key, as flat erasure's first step does: the record's rows are still there. */
    op.u.key_del.tenant_id = f->tenant;
    op.u.key_del.kind = CU_KEY_SUBJECT;
    op.u.key_del.owner_id = f->subject;
    assert_int_equal(cu_commit(f->v, &CTX, &op, 1, NULL, 0, &err), CU_OK);
    assert_false(cu_cache_key_get(f->v, f->tenant, CU_KEY_SUBJECT, f->subject, 0, &k));
    /* The key's destruction queued the subject's erasure: the store hides its rows. */
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_ERR_NOT_FOUND);
    cu_key_wipe(&k);
}

static void test_P_DSR_4_erasure_and_forget_subject_wipe_the_cached_key(void **state)
{
    fx *f = *state;
    cu_key k;
    cu_err err = {0};

    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    assert_true(cu_cache_key_get(f->v, f->tenant, CU_KEY_SUBJECT, f->subject, 0, &k));
    cu_keys_forget_subject(f->v, f->tenant, f->subject);
    assert_false(cu_cache_key_get(f->v, f->tenant, CU_KEY_SUBJECT, f->subject, 0, &k));
    /* The tenant's other keys stay. */
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    assert_true(cu_cache_key_get(f->v, f->tenant, CU_KEY_SUBJECT, f->subject, 0, &k));

    assert_int_equal(cu_subject_erase(f->v, &(cu_ctx){.actor = "key:1", .purpose = "dsr"},
                                      f->tenant, f->subject, &err),
                     CU_OK);
    assert_false(cu_cache_key_get(f->v, f->tenant, CU_KEY_SUBJECT, f->subject, 0, &k));
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_ERR_NOT_FOUND);
    cu_key_wipe(&k);
}

static void test_P_ENC_5_rotations_forget_and_reads_go_on(void **state)
{
    fx *f = *state;
    unsigned version = 0;
    size_t n = 0;
    cu_key k;
    cu_id plain = 0;
    cu_err err = {0};

    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    assert_int_equal(cu_key_rotate_tenant(f->v, &CTX, f->tenant, &version, &n, &err), CU_OK);
    assert_int_equal(version, 2);
    assert_false(cu_cache_key_get(f->v, f->tenant, CU_KEY_SUBJECT, f->subject, 0, &k));
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK); /* under tenant key 2 */
    assert_true(cu_cache_key_get(f->v, f->tenant, CU_KEY_TENANT, 0, 2, &k));
    assert_false(cu_cache_key_get(f->v, f->tenant, CU_KEY_TENANT, 0, 1, &k));

    /* A data key rotation: the next write seals under the new version. */
    assert_int_equal(
        cu_record_put(f->v, &CTX, f->tenant, "notes", 0, "{\"note\":\"hello\"}", 16, &plain, &err),
        CU_OK);
    assert_int_equal(cu_key_rotate_data(f->v, &CTX, f->tenant, &version, &err), CU_OK);
    assert_int_equal(
        cu_record_put(f->v, &CTX, f->tenant, "notes", 0, "{\"note\":\"hello\"}", 16, &plain, &err),
        CU_OK);
    {
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT key_version FROM records WHERE record_id = %lld",
                 (long long)plain);
        assert_int_equal(th_sql_int(f->data, sql), version);
    }
    assert_int_equal(read_record(f->v, f->tenant, plain), CU_OK);

    /* The master key: everything forgotten. */
    assert_true(stats(f->v, CU_CACHE_KEYS).size > 0);
    assert_int_equal(cu_key_rotate_master(f->v, &CTX, &version, &n, &err), CU_OK);
    assert_int_equal(stats(f->v, CU_CACHE_KEYS).size, 0);
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    assert_int_equal(read_record(f->v, f->tenant, plain), CU_OK);
    cu_key_wipe(&k);
}

static void test_cache_is_bounded_and_evicts(void **state)
{
    fx *f = *state;
    cu_id subjects[12], records[12];
    cu_err err = {0};

    cu_vault_close(f->v);
    setenv("CUSTOS_KEY_CACHE", "4", 1);
    f->v = th_reopen(f->data);
    assert_int_equal(stats(f->v, CU_CACHE_KEYS).capacity, 4);
    for (int i = 0; i < 12; i++) {
        char ext[32];
        cu_subject_in si = {.external_id = ext};
        snprintf(ext, sizeof(ext), "ext-b%d", i);
        assert_int_equal(cu_subject_create(f->v, &CTX, f->tenant, &si, &subjects[i], &err), CU_OK);
        assert_int_equal(cu_record_put(f->v, &CTX, f->tenant, "notes", subjects[i],
                                       "{\"note\":\"hello\"}", 16, &records[i], &err),
                         CU_OK);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 12; i++)
            assert_int_equal(read_record(f->v, f->tenant, records[i]), CU_OK);
    assert_true(stats(f->v, CU_CACHE_KEYS).size <= 4);
    assert_true(stats(f->v, CU_CACHE_KEYS).evictions > 0);
}

static void test_cache_put_that_raced_a_forget_is_dropped(void **state)
{
    fx *f = *state;
    cu_key k = {.version = 7}, got;
    uint64_t gen = cu_cache_key_gen(f->v);

    memset(k.k, 0x5a, sizeof(k.k));
    cu_cache_forget_tenant(f->v, 999); /* any forget, between the read and the put */
    cu_cache_key_put(f->v, 999, CU_KEY_DATA, 0, 7, &k, gen);
    assert_false(cu_cache_key_get(f->v, 999, CU_KEY_DATA, 0, 7, &got));
    cu_cache_key_put(f->v, 999, CU_KEY_DATA, 0, 7, &k, cu_cache_key_gen(f->v));
    assert_true(cu_cache_key_get(f->v, 999, CU_KEY_DATA, 0, 7, &got));
    assert_memory_equal(got.k, k.k, sizeof(k.k));
    cu_cache_forget_all(f->v);
    assert_false(cu_cache_key_get(f->v, 999, CU_KEY_DATA, 0, 7, &got));
    cu_key_wipe(&got);
}

/* --- another process on the same database -------------------------------------------------- */

/* Review 5, F3: thread 1's read scope began under generation 1 of a tenant; thread 2 then saw
 * generation 2 (another server erased a subject), which forgot the tenant's keys. Thread 1 takes
 * the put's gen only now, reads the subject key from its older snapshot and puts it: dropped, not
 * served until the TTL. A scope begun after generation 2 was seen caches again. */
static void test_F3_key_from_an_older_snapshot_is_not_cached_after_a_newer_generation(void **state)
{
    fx *f = *state;
    cu_key k = {.version = 1}, got;
    cu_id t = 4242;

    memset(k.k, 0x3c, sizeof(k.k));
    cu_cache_observe(f->v, t, 1);
    cu_vault_read_begin(f->v);    /* thread 1's scope: a snapshot of generation 1 */
    cu_cache_observe(f->v, t, 2); /* thread 2 read the row after the erasure */
    cu_cache_key_put(f->v, t, CU_KEY_SUBJECT, 9, 0, &k, cu_cache_key_gen(f->v));
    assert_false(cu_cache_key_get(f->v, t, CU_KEY_SUBJECT, 9, 0, &got));
    cu_vault_read_end(f->v);
    cu_vault_read_begin(f->v); /* begun after generation 2 was seen: its snapshot holds it */
    cu_cache_key_put(f->v, t, CU_KEY_SUBJECT, 9, 0, &k, cu_cache_key_gen(f->v));
    assert_true(cu_cache_key_get(f->v, t, CU_KEY_SUBJECT, 9, 0, &got));
    cu_vault_read_end(f->v);
    /* Outside a scope every read is of the latest state: the gen taken before it suffices. */
    cu_cache_observe(f->v, t, 3);
    assert_false(cu_cache_key_get(f->v, t, CU_KEY_SUBJECT, 9, 0, &got));
    cu_cache_key_put(f->v, t, CU_KEY_SUBJECT, 9, 0, &k, cu_cache_key_gen(f->v));
    assert_true(cu_cache_key_get(f->v, t, CU_KEY_SUBJECT, 9, 0, &got));
    cu_key_wipe(&got);
}

/* Review 5, F4: more tenants than the old direct-mapped table's 16384 slots (so some shared a
 * slot), each read again at the same generation: none is taken for changed, so nothing is
 * forgotten and no put in flight is dropped. */
static void test_F4_many_tenants_seen_again_forget_nothing(void **state)
{
    fx *f = *state;
    cu_key k = {.version = 1}, got;
    cu_cache_stats before;
    uint64_t gen;

    memset(k.k, 0x4d, sizeof(k.k));
    for (cu_id t = 1; t <= 20000; t++)
        cu_cache_observe(f->v, 100000 + t, 5);
    gen = cu_cache_key_gen(f->v);
    cu_cache_key_put(f->v, 100001, CU_KEY_DATA, 0, 1, &k, gen);
    before = stats(f->v, CU_CACHE_KEYS);
    for (cu_id t = 1; t <= 20000; t++)
        cu_cache_observe(f->v, 100000 + t, 5);
    assert_int_equal(cu_cache_key_gen(f->v), gen);
    assert_int_equal(stats(f->v, CU_CACHE_KEYS).forgotten, before.forgotten);
    assert_true(cu_cache_key_get(f->v, 100001, CU_KEY_DATA, 0, 1, &got));
    cu_cache_observe(f->v, 100001, 6); /* a real change still forgets */
    assert_false(cu_cache_key_get(f->v, 100001, CU_KEY_DATA, 0, 1, &got));
    cu_key_wipe(&got);
}

/* Vault b, on the same database, revokes a key and destroys a subject key that vault a has
 * cached: a sees both from its very next request, long before CUSTOS_CACHE_TTL_MS (the
 * tenant's cache generation, docs/store.md "Several servers"). */
static void test_P_ACC_3_P_DSR_4_another_process_is_seen_at_once(void **state)
{
    fx *f = *state;
    cu_store_op op = {.type = CU_OP_KEY_DELETE};
    cu_cache_stats keys;
    cu_vault *b;
    cu_apikey k;
    char secret[CU_APIKEY_SECRET_MAX];
    cu_err err = {0};

    cu_vault_close(f->v);
    setenv("CUSTOS_TEST_SHARED_DB", "1", 1);
    setenv("CUSTOS_CACHE_TTL_MS", "10000", 1);
    f->v = th_reopen(f->data);
    b = th_reopen(f->data);
    assert_int_equal(
        cu_apikey_create(f->v, &CTX, f->tenant, CU_ROLE_AGENT, "agent", &k, secret, &err), CU_OK);
    assert_int_equal(auth(f->v, secret), CU_OK);
    assert_int_equal(auth(f->v, secret), CU_OK);
    assert_true(stats(f->v, CU_CACHE_APIKEYS).hits >= 1); /* cached */
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK);
    assert_true(stats(f->v, CU_CACHE_KEYS).size >= 1);

    assert_int_equal(cu_apikey_revoke(b, &CTX, f->tenant, k.id, &err), CU_OK);
    assert_int_equal(auth(f->v, secret), CU_ERR_AUTH); /* a's next request: refused */
    assert_int_equal(auth(f->v, secret), CU_ERR_AUTH);
    assert_int_equal(stats(f->v, CU_CACHE_APIKEYS).expired, 0); /* not by the TTL */

    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_OK); /* keys cached again */
    keys = stats(f->v, CU_CACHE_KEYS);
    op.u.key_del.tenant_id = f->tenant;
    op.u.key_del.kind = CU_KEY_SUBJECT;
    op.u.key_del.owner_id = f->subject;
    assert_int_equal(cu_commit(b, &CTX, &op, 1, NULL, 0, &err), CU_OK);
    assert_int_equal(auth(b, secret), CU_ERR_AUTH);
    assert_int_equal(read_record(b, f->tenant, f->record), CU_ERR_NOT_FOUND);
    /* a's next read of the tenant forgets its keys (the subject's among them), and the queued
     * erasure hides the subject from it. */
    assert_int_equal(read_record(f->v, f->tenant, f->record), CU_ERR_NOT_FOUND);
    assert_true(stats(f->v, CU_CACHE_KEYS).forgotten > keys.forgotten);
    assert_int_equal(stats(f->v, CU_CACHE_KEYS).expired, 0);
    cu_vault_close(b);
    unsetenv("CUSTOS_TEST_SHARED_DB");
    unsetenv("CUSTOS_CACHE_TTL_MS");
}

static void test_cache_settings_are_checked(void **state)
{
    fx *f = *state;
    cu_vault *v = NULL;
    cu_err err = {0};

    cu_vault_close(f->v);
    f->v = NULL;
    setenv("CUSTOS_CACHE_TTL_MS", "600000", 1); /* over the 10 s bound */
    assert_int_equal(cu_vault_open(&(cu_vault_opts){.data_dir = f->data, .store = th_store(f->data)}, &v, &err),
                     CU_ERR_INVALID);
    assert_non_null(strstr(err.msg, "CUSTOS_CACHE_TTL_MS"));
    unsetenv("CUSTOS_CACHE_TTL_MS");
    setenv("CUSTOS_APIKEY_CACHE", "0", 1); /* off: every check reads the store */
    f->v = th_reopen(f->data);
    unsetenv("CUSTOS_APIKEY_CACHE");
    assert_int_equal(auth(f->v, f->owner), CU_OK);
    assert_int_equal(auth(f->v, f->owner), CU_OK);
    assert_int_equal(stats(f->v, CU_CACHE_APIKEYS).hits, 0);
    assert_int_equal(stats(f->v, CU_CACHE_APIKEYS).capacity, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_P_ACC_3_revoked_key_fails_on_its_very_next_request,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_P_ACC_3_cached_key_id_with_another_secret_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_P_ACC_3_closed_tenant_keys_fail_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_P_DSR_4_destroyed_subject_key_opens_nothing_on_the_next_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_P_DSR_4_erasure_and_forget_subject_wipe_the_cached_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_P_ENC_5_rotations_forget_and_reads_go_on, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache_is_bounded_and_evicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_put_that_raced_a_forget_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_F3_key_from_an_older_snapshot_is_not_cached_after_a_newer_generation, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_F4_many_tenants_seen_again_forget_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_P_ACC_3_P_DSR_4_another_process_is_seen_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_settings_are_checked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
