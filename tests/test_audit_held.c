/*
 * test_audit_held.c: the tail of the log, after the vault's newest checkpoint (issue 18,
 * item 3; P-AUD-2).
 *
 * Whoever writes the database can rewrite or cut the newest entries and delete the checkpoints
 * stored with them: the vault's own verify cannot tell. Checkpoints are therefore signed on time
 * as well as on count, so a tenant can fetch one every few seconds, and verification against
 * the checkpoints the tenant kept outside the vault (cu_audit_verify_with, `custos audit
 * verify --against FILE`) catches the rewrite or the cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_canon.h" /* cu_audit_encode: the attacker rewriting the stored encoding */
#include "core_int.h"    /* cu_audit_hash: the attacker rehashing a rewritten entry */
#include "th.h"
#include "util.h"

#define T0 1767225600 /* 2026-01-01 */

static const cu_ctx CTX = {.actor = "test"};

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id tenant;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    assert_non_null(f);
    cu_clock_set(T0);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_clock_set(0);
    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static void acts(fx *f, int n)
{
    cu_err err = {0};
    cu_id rid;

    for (int i = 0; i < n; i++)
        if (cu_record_put(f->v, &CTX, f->tenant, "notes", 0, "{\"n\":1}", 7, &rid, &err) != CU_OK)
            fail_msg("put: %s", err.msg);
}

/* SELECT what FROM table WHERE tenant_id is the fixture's. */
static long long sql_int(const fx *f, const char *what, const char *table)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE tenant_id = %lld", what, table,
             (long long)f->tenant);
    return th_sql_int(f->data, sql);
}

/* While entries arrive, a checkpoint is signed once CU_AUDIT_CHECKPOINT_MS have passed since
 * the last one, long before the 1000th entry. */
static void test_P_AUD_2_checkpoint_on_time_while_entries_arrive(void **state)
{
    fx *f = *state;
    long long head;

    acts(f, 3);
    assert_int_equal(sql_int(f, "count(*)", "audit_checkpoints"), 0);
    cu_clock_set(T0 + CU_AUDIT_CHECKPOINT_MS / 1000 + 1);
    acts(f, 1);
    head = sql_int(f, "max(seq)", "audit_log");
    assert_true(head < CU_AUDIT_CHECKPOINT_EVERY);
    assert_int_equal(sql_int(f, "max(seq)", "audit_checkpoints"), head);
    /* Not again until the interval has passed once more. */
    acts(f, 2);
    assert_int_equal(sql_int(f, "count(*)", "audit_checkpoints"), 1);
}

/* The end of a burst is signed without waiting for a next entry: by the server's timer once
 * the interval has passed (cu_audit_sign_tails), and by any process when it closes the vault. */
static void test_P_AUD_2_end_of_a_burst_is_signed_without_a_next_entry(void **state)
{
    fx *f = *state;
    cu_err err = {0};
    size_t n = 9;

    acts(f, 3);
    assert_int_equal(sql_int(f, "count(*)", "audit_checkpoints"), 0);
    assert_int_equal(cu_audit_sign_tails(f->v, CU_AUDIT_CHECKPOINT_MS, &n, &err), CU_OK);
    assert_int_equal(n, 0); /* not yet: the interval has not passed */
    cu_clock_set(T0 + CU_AUDIT_CHECKPOINT_MS / 1000 + 1);
    assert_int_equal(cu_audit_sign_tails(f->v, CU_AUDIT_CHECKPOINT_MS, &n, &err), CU_OK);
    assert_int_equal(n, 2); /* the tenant's chain, and the platform's (the tenant's creation) */
    assert_int_equal(sql_int(f, "max(seq)", "audit_checkpoints"),
                     sql_int(f, "max(seq)", "audit_log"));
    assert_int_equal(cu_audit_sign_tails(f->v, 0, &n, &err), CU_OK);
    assert_int_equal(n, 0); /* nothing new to sign */
    acts(f, 2);
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(sql_int(f, "max(seq)", "audit_checkpoints"),
                     sql_int(f, "max(seq)", "audit_log"));
    f->v = th_reopen(f->data);
    /* Reopened, the head is loaded anew: a tail already signed is not signed twice. */
    acts(f, 1);
    assert_int_equal(cu_audit_sign_tails(f->v, 0, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cu_audit_sign_tails(f->v, 0, &n, &err), CU_OK);
    assert_int_equal(n, 0);
}

/* The tenant's copy of its checkpoints, as exported. Caller frees *out. */
static void hold(fx *f, cu_audit_checkpoint **out, size_t *n)
{
    cu_audit_checkpoint c;
    cu_err err = {0};

    assert_int_equal(cu_audit_checkpoint_now(f->v, &CTX, f->tenant, &c, &err), CU_OK);
    assert_int_equal(cu_audit_checkpoints(f->v, &CTX, f->tenant, out, n, &err), CU_OK);
    assert_true(*n >= 1);
}

/* The attacker, with the vault closed: rewrites entry seq (its object and its stored canonical
 * encoding), rehashes it, and deletes every stored checkpoint. */
static void rewrite_entry(fx *f, uint64_t seq)
{
    cu_audit_filter all = {.after_seq = seq - 1, .limit = 1};
    cu_audit_entry *e = NULL;
    char sql[1536], hex[65], canon_hex[2 * CU_AUDIT_CANON_MAX + 1];
    uint8_t canon[CU_AUDIT_CANON_MAX];
    cu_err err = {0};
    size_t n = 0;

    assert_int_equal(cu_audit_list(f->v, &CTX, f->tenant, &all, &e, &n, &err), CU_OK);
    assert_int_equal(e[0].seq, seq);
    cu_vault_close(f->v);
    f->v = NULL;
    snprintf(e[0].object, sizeof(e[0].object), "record:1");
    cu_audit_hash(&e[0], e[0].hash);
    cu_hex_encode(e[0].hash, 32, hex);
    cu_hex_encode(canon, cu_audit_encode(&e[0], canon), canon_hex);
    snprintf(sql, sizeof(sql),
             "UPDATE audit_log SET object = 'record:1', hash = x'%s', canon = x'%s' WHERE "
             "tenant_id = %lld AND seq = %llu; DELETE FROM audit_log WHERE tenant_id = %lld AND "
             "seq > %llu; DELETE FROM audit_checkpoints WHERE tenant_id = %lld",
             hex, canon_hex, (long long)f->tenant, (unsigned long long)seq, (long long)f->tenant,
             (unsigned long long)seq, (long long)f->tenant);
    assert_int_equal(th_sql(f->data, sql), 0);
    free(e);
    f->v = th_reopen(f->data);
}

static cu_rc verify_held(fx *f, const cu_audit_checkpoint *held, size_t n, const uint8_t *pk,
                         cu_audit_report *rep)
{
    cu_audit_verify_opts o = {.held = held, .nheld = n, .pinned = pk};
    cu_err err = {0};

    return cu_audit_verify_with(f->v, &CTX, f->tenant, &o, rep, &err);
}

/* A rewritten tail (the newest entry changed and rehashed, the stored checkpoints gone):
 * the vault's own verify says ok; against the held checkpoints it does not. */
static void test_P_AUD_2_rewritten_tail_is_caught_against_held_checkpoints(void **state)
{
    fx *f = *state;
    cu_audit_checkpoint *held = NULL;
    cu_audit_report rep;
    cu_err err = {0};
    uint8_t pk[32];
    size_t n = 0;

    acts(f, 3);
    hold(f, &held, &n);
    cu_audit_public_key(f->v, pk);
    rewrite_entry(f, held[n - 1].seq);
    assert_int_equal(cu_audit_verify(f->v, &CTX, f->tenant, &rep, &err), CU_OK);
    assert_true(rep.ok); /* the documented limit of the vault's own check */
    assert_int_equal(verify_held(f, held, n, pk, &rep), CU_OK);
    assert_false(rep.ok);
    assert_int_equal(rep.first_bad_seq, held[n - 1].seq);
    assert_non_null(strstr(rep.problem, "held outside"));
    free(held);
}

/* A cut tail: entries from the held checkpoint's seq on deleted with the stored checkpoints,
 * then new entries written: the held checkpoint's entry differs, or is missing. */
static void test_P_AUD_2_cut_tail_is_caught_against_held_checkpoints(void **state)
{
    fx *f = *state;
    cu_audit_checkpoint *held = NULL;
    cu_audit_report rep;
    cu_err err = {0};
    char sql[256];
    size_t n = 0;

    acts(f, 3);
    hold(f, &held, &n);
    cu_vault_close(f->v);
    snprintf(sql, sizeof(sql),
             "DELETE FROM audit_log WHERE tenant_id = %lld AND seq >= %llu;"
             "DELETE FROM audit_checkpoints WHERE tenant_id = %lld",
             (long long)f->tenant, (unsigned long long)held[n - 1].seq - 1, (long long)f->tenant);
    assert_int_equal(th_sql(f->data, sql), 0);
    f->v = th_reopen(f->data);
    assert_int_equal(cu_audit_verify(f->v, &CTX, f->tenant, &rep, &err), CU_OK);
    assert_true(rep.ok);
    assert_int_equal(verify_held(f, held, n, NULL, &rep), CU_OK);
    assert_false(rep.ok);
    /* The verify entries took the cut seqs: the held one's entry is another now. */
    assert_non_null(strstr(rep.problem, "held outside"));
    free(held);
}

/* The untouched log verifies against what was held; a held checkpoint signed with another key
 * than the pinned one, or a vault signing with another key, does not. */
static void test_P_AUD_2_held_checkpoints_verify_and_keys_are_checked(void **state)
{
    fx *f = *state;
    cu_audit_checkpoint *held = NULL;
    cu_audit_report rep;
    uint8_t pk[32], other[32], sk[CU_SIGN_SKBYTES];
    size_t n = 0;

    acts(f, 3);
    hold(f, &held, &n);
    cu_audit_public_key(f->v, pk);
    acts(f, 2);
    assert_int_equal(verify_held(f, held, n, pk, &rep), CU_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.held, n);
    held[0].sig[5] ^= 1;
    assert_int_equal(verify_held(f, held, n, pk, &rep), CU_OK);
    assert_false(rep.ok);
    assert_non_null(strstr(rep.problem, "bad signature"));
    held[0].sig[5] ^= 1;
    assert_int_equal(cu_sign_keypair(other, sk), CU_OK);
    cu_wipe(sk, sizeof(sk));
    assert_int_equal(verify_held(f, held, n, other, &rep), CU_OK);
    assert_false(rep.ok);
    assert_non_null(strstr(rep.problem, "another audit key"));
    free(held);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_AUD_2_checkpoint_on_time_while_entries_arrive),
        T(test_P_AUD_2_end_of_a_burst_is_signed_without_a_next_entry),
        T(test_P_AUD_2_rewritten_tail_is_caught_against_held_checkpoints),
        T(test_P_AUD_2_cut_tail_is_caught_against_held_checkpoints),
        T(test_P_AUD_2_held_checkpoints_verify_and_keys_are_checked),
    };

    return cmocka_run_group_tests_name("audit: held checkpoints", tests, NULL, NULL);
}
