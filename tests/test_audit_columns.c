/*
 * test_audit_columns.c: verify finds a column that no longer agrees with its entry's stored
 * encoding, whichever column it is (P-AUD-2; issue 17, item 6).
 *
 * The store decides agreement inside SQLite's scan (sqlite_read_log.c, cu_audit_row), each
 * column compared where it lies in the encoding. An attacker who edits a column and leaves the
 * encoding and hash alone changes what the listing shows and which entries its filters find;
 * each test edits one column of one row, with the vault closed, and expects verify to name
 * that row, then undoes the edit and expects the log to verify again (the comparison is exact,
 * not merely strict).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "audit_int.h" /* cu_audit_span_len */
#include "th.h"
#include "th_pg.h"

static const cu_ctx CTX = {.actor = "key:4242",
                           .purpose = "support",
                           .source = "127.0.0.1",
                           .request_id = "0123456789abcdef0123456789abcdef"};

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id tenant;
    uint64_t fmt2, fmt1; /* a record write's entry (with a digest), a read's (without) */
} fx;

#define PUTS 150

static long long sql_int(const fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long long sql_int(const fx *f, const char *fmt, ...)
{
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return th_sql_int(f->data, sql);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    assert_non_null(f);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    for (int i = 0; i < PUTS; i++) {
        char doc[64];
        cu_record r = {0};
        cu_id id;
        int n = snprintf(doc, sizeof(doc), "{\"n\":%d}", i);
        if (cu_record_put(f->v, &CTX, f->tenant, "notes", 0, doc, (size_t)n, &id, &err) != CU_OK ||
            cu_record_get(f->v, &CTX, f->tenant, id, &r, &err) != CU_OK)
            fail_msg("put or get: %s", err.msg);
        cu_record_cleanup(&r);
        if (i % 30 == 29) { /* signed checkpoints along the chain */
            cu_audit_checkpoint c;
            assert_int_equal(cu_audit_checkpoint_now(f->v, &CTX, f->tenant, &c, &err), CU_OK);
        }
    }
    cu_vault_close(f->v);
    f->v = NULL;
    f->fmt2 =
        (uint64_t)sql_int(f,
                          "SELECT min(seq) FROM audit_log WHERE tenant_id = %lld AND seq > %lld"
                          " AND digest IS NOT NULL",
                          (long long)f->tenant, (long long)PUTS);
    f->fmt1 =
        (uint64_t)sql_int(f,
                          "SELECT min(seq) FROM audit_log WHERE tenant_id = %lld AND seq > %lld"
                          " AND digest IS NULL",
                          (long long)f->tenant, (long long)PUTS);
    assert_true(f->fmt2 > PUTS && f->fmt1 > PUTS);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_audit_span_len = 0;
    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

/* Opens the vault, verifies, closes. */
static cu_audit_report verify(const fx *f)
{
    cu_vault *v = th_reopen(f->data);
    cu_audit_report rep;
    cu_err err = {0};

    if (cu_audit_verify(v, &CTX, f->tenant, &rep, &err) != CU_OK)
        fail_msg("verify could not run: %s", err.msg);
    cu_vault_close(v);
    return rep;
}

static void expect_bad(const fx *f, uint64_t seq, const char *what, const char *edit)
{
    cu_audit_report rep = verify(f);

    if (rep.ok || rep.first_bad_seq != seq || strstr(rep.problem, what) == NULL)
        fail_msg("%s: expected \"%s\" at %llu, got ok=%d at %llu: %s", edit, what,
                 (unsigned long long)seq, rep.ok, (unsigned long long)rep.first_bad_seq,
                 rep.problem);
}

static void expect_ok(const fx *f, const char *after)
{
    cu_audit_report rep = verify(f);

    if (!rep.ok)
        fail_msg("%s: expected ok, got %s", after, rep.problem);
}

/* Flips the low bit of byte `at` of one column of one row, keeping its type: twice restores. */
static void flip(const fx *f, const char *col, uint64_t seq, int at)
{
    char path[320], sql[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    unsigned char buf[512];
    int n, is_text;

    if (th_store(f->data) != NULL) {
        snprintf(sql, sizeof(sql), "tenant_id = %lld AND seq = %llu", (long long)f->tenant,
                 (unsigned long long)seq);
        th_pg_flip_byte(th_store(f->data), "audit_log", col, sql, at);
        return;
    }
    snprintf(path, sizeof(path), "%s/custos.db", f->data);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "SELECT %s, typeof(%s) FROM audit_log WHERE tenant_id = ? AND seq = ?", col, col);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)f->tenant);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    is_text = strcmp((const char *)sqlite3_column_text(st, 1), "text") == 0;
    n = sqlite3_column_bytes(st, 0);
    assert_true(n > at && n <= (int)sizeof(buf));
    memcpy(buf, sqlite3_column_blob(st, 0), (size_t)n);
    sqlite3_finalize(st);
    buf[at] ^= 1;
    snprintf(sql, sizeof(sql), "UPDATE audit_log SET %s = ? WHERE tenant_id = ? AND seq = ?", col);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (is_text)
        sqlite3_bind_text(st, 1, (const char *)buf, n, SQLITE_TRANSIENT);
    else
        sqlite3_bind_blob(st, 1, buf, n, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)f->tenant);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void sqlf(const fx *f, const char *set, uint64_t seq)
{
    char sql[512];

    snprintf(sql, sizeof(sql), "UPDATE audit_log SET %s WHERE tenant_id = %lld AND seq = %llu", set,
             (long long)f->tenant, (unsigned long long)seq);
    assert_int_equal(th_sql(f->data, sql), SQLITE_OK);
}

/* Each column an entry is made of, one byte changed, the encoding and hash left alone: the
 * first and the last byte of each text, on a format 1 and a format 2 entry. */
static void test_P_AUD_2_every_text_column_edited_alone_is_found(void **state)
{
    static const char *const texts[] = {"actor",  "action",     "object", "purpose",
                                        "source", "request_id", "outcome"};
    fx *f = *state;

    expect_ok(f, "untouched");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        uint64_t seqs[2] = {f->fmt1, f->fmt2};
        for (int k = 0; k < 2; k++) {
            long long len = 0;
            char sql[256];
            snprintf(sql, sizeof(sql),
                     "SELECT length(%s) FROM audit_log WHERE tenant_id = %lld AND seq = %llu",
                     texts[i], (long long)f->tenant, (unsigned long long)seqs[k]);
            len = th_sql_int(f->data, sql);
            assert_true(len > 0);
            flip(f, texts[i], seqs[k], 0);
            expect_bad(f, seqs[k], "was altered", texts[i]);
            flip(f, texts[i], seqs[k], 0);
            flip(f, texts[i], seqs[k], (int)len - 1);
            expect_bad(f, seqs[k], "was altered", texts[i]);
            flip(f, texts[i], seqs[k], (int)len - 1);
        }
    }
    expect_ok(f, "every edit undone");
}

/* Longer or shorter by a byte: the length in the encoding no longer matches. */
static void test_P_AUD_2_column_grown_or_shrunk_is_found(void **state)
{
    fx *f = *state;

    sqlf(f, "object = object || '0'", f->fmt2);
    expect_bad(f, f->fmt2, "was altered", "object grown");
    sqlf(f, "object = substr(object, 1, length(object) - 1)", f->fmt2);
    expect_ok(f, "object restored");
    sqlf(f, "purpose = ''", f->fmt1);
    expect_bad(f, f->fmt1, "was altered", "purpose emptied");
}

/* The time, the digest of a record write, and format: the members that are not texts. */
static void test_P_AUD_2_time_and_digest_columns_edited_alone_are_found(void **state)
{
    fx *f = *state;

    sqlf(f, "at = at + 1", f->fmt1);
    expect_bad(f, f->fmt1, "was altered", "at");
    sqlf(f, "at = at - 1", f->fmt1);
    expect_ok(f, "at restored");
    flip(f, "digest", f->fmt2, 31);
    expect_bad(f, f->fmt2, "was altered", "digest");
    flip(f, "digest", f->fmt2, 31);
    expect_ok(f, "digest restored");
    /* A record write passed for a read (no digest), and a read given one. */
    sqlf(f, "digest = NULL", f->fmt2);
    expect_bad(f, f->fmt2, "was altered", "digest removed");
    sqlf(f, "digest = zeroblob(32)", f->fmt1);
    expect_bad(f, f->fmt1 < f->fmt2 ? f->fmt1 : f->fmt2, "was altered", "digest added");
}

/* The chain's columns: a changed prev breaks the link first (the same words as a walk from
 * the start), a changed hash fails the entry's own hash, and the prev inside the encoding
 * (its last 32 bytes) no longer agrees with the prev column. */
static void test_P_AUD_2_prev_and_hash_columns_edited_alone_are_found(void **state)
{
    fx *f = *state;
    long long len =
        sql_int(f, "SELECT length(canon) FROM audit_log WHERE tenant_id = %lld AND seq = %llu",
                (long long)f->tenant, (unsigned long long)f->fmt1);

    flip(f, "prev", f->fmt1, 5);
    expect_bad(f, f->fmt1, "does not follow", "prev");
    flip(f, "prev", f->fmt1, 5);
    flip(f, "hash", f->fmt1, 5);
    expect_bad(f, f->fmt1, "was altered", "hash");
    flip(f, "hash", f->fmt1, 5);
    flip(f, "canon", f->fmt1, (int)len - 1);
    expect_bad(f, f->fmt1, "was altered", "the prev in the encoding");
    flip(f, "canon", f->fmt1, (int)len - 1);
    expect_ok(f, "chain columns restored");
}

/* A row without an encoding (written into the database by hand) is hashed as its columns
 * encode: it verifies, and a column of it changed fails its hash. */
static void test_P_AUD_2_row_without_encoding_is_checked_on_its_columns(void **state)
{
    fx *f = *state;
    cu_audit_report rep;

    sqlf(f, "canon = NULL", f->fmt2);
    sqlf(f, "canon = NULL", f->fmt1);
    rep = verify(f);
    assert_int_equal(rep.ok, 1);
    assert_true(rep.entries > 2 * PUTS);
    flip(f, "actor", f->fmt2, 2);
    expect_bad(f, f->fmt2, "was altered", "actor of a row without encoding");
    flip(f, "actor", f->fmt2, 2);
    /* A text longer than its member may be is no entry Custos wrote. */
    sqlf(f, "outcome = '" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "'", f->fmt1); /* 40 x */
    expect_bad(f, f->fmt1, "was altered", "an overlong outcome");
}

/* In spans on threads of their own, a column edited in a later span is named as a walk from
 * the start would name it, and an earlier one wins. */
static void test_P_AUD_2_column_edit_found_in_any_span(void **state)
{
    fx *f = *state;
    cu_audit_report rep;

    cu_audit_span_len = 40;
    rep = verify(f);
    assert_int_equal(rep.ok, 1);
    flip(f, "request_id", f->fmt2 + 100, 3);
    expect_bad(f, f->fmt2 + 100, "was altered", "request_id, a late span");
    flip(f, "source", f->fmt1 + 41, 1);
    expect_bad(f, f->fmt1 + 41, "was altered", "source, an earlier span");
}

/* The checkpoints' signatures are checked in the spans, a share each, at once: the first bad
 * one is the report, with the good ones before it counted, as one by one before the walk. */
static void test_P_AUD_2_bad_signatures_checked_in_spans_first_named(void **state)
{
    fx *f = *state;
    cu_audit_report rep;
    long long seq2, seq4;
    char sql[256];

    cu_audit_span_len = 40;
    rep = verify(f);
    assert_int_equal(rep.ok, 1);
    assert_int_equal(rep.checkpoints, PUTS / 30);
    seq2 = sql_int(f,
                   "SELECT seq FROM audit_checkpoints WHERE tenant_id = %lld ORDER BY seq"
                   " LIMIT 1 OFFSET 1",
                   (long long)f->tenant);
    seq4 = sql_int(f,
                   "SELECT seq FROM audit_checkpoints WHERE tenant_id = %lld ORDER BY seq"
                   " LIMIT 1 OFFSET 3",
                   (long long)f->tenant);
    snprintf(
        sql, sizeof(sql),
        "UPDATE audit_checkpoints SET sig = zeroblob(64) WHERE tenant_id = %lld AND seq = %lld",
        (long long)f->tenant, seq4);
    assert_int_equal(th_sql(f->data, sql), SQLITE_OK);
    rep = verify(f);
    assert_false(rep.ok);
    assert_int_equal(rep.first_bad_seq, (uint64_t)seq4);
    assert_int_equal(rep.checkpoints, 3);
    assert_non_null(strstr(rep.problem, "bad signature"));
    snprintf(sql, sizeof(sql),
             "UPDATE audit_checkpoints SET hash = zeroblob(32) WHERE tenant_id = %lld AND"
             " seq = %lld",
             (long long)f->tenant, seq2);
    assert_int_equal(th_sql(f->data, sql), SQLITE_OK);
    rep = verify(f);
    assert_int_equal(rep.first_bad_seq, (uint64_t)seq2);
    assert_int_equal(rep.checkpoints, 1);
    assert_int_equal(rep.entries, 0); /* the chain is not reported on */
}

/* The check's function is registered on a reader connection the first time it verifies; the
 * connection's other statements go on working, and a second verify reuses it. */
static void test_P_AUD_2_verify_twice_on_one_vault(void **state)
{
    fx *f = *state;
    cu_audit_report a, b;
    cu_err err = {0};
    cu_record r = {0};
    cu_id id;

    f->v = th_reopen(f->data);
    for (int i = 0; i < 20; i++) /* every reader connection of the pool */
        assert_int_equal(cu_audit_verify(f->v, &CTX, f->tenant, &a, &err), CU_OK);
    assert_int_equal(a.ok, 1);
    assert_int_equal(cu_record_put(f->v, &CTX, f->tenant, "notes", 0, "{}", 2, &id, &err), CU_OK);
    assert_int_equal(cu_record_get(f->v, &CTX, f->tenant, id, &r, &err), CU_OK);
    cu_record_cleanup(&r);
    assert_int_equal(cu_audit_verify(f->v, &CTX, f->tenant, &b, &err), CU_OK);
    assert_int_equal(b.ok, 1);
    assert_int_equal(b.entries, a.entries + 3); /* the put, the get, the verify before */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_P_AUD_2_every_text_column_edited_alone_is_found),
        T(test_P_AUD_2_column_grown_or_shrunk_is_found),
        T(test_P_AUD_2_time_and_digest_columns_edited_alone_are_found),
        T(test_P_AUD_2_prev_and_hash_columns_edited_alone_are_found),
        T(test_P_AUD_2_row_without_encoding_is_checked_on_its_columns),
        T(test_P_AUD_2_column_edit_found_in_any_span),
        T(test_P_AUD_2_bad_signatures_checked_in_spans_first_named),
        T(test_P_AUD_2_verify_twice_on_one_vault),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
