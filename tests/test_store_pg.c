/*
 * test_store_pg.c: what only the PostgreSQL backend has to prove beyond the store contract
 * (tests/test_store.c runs that against it too): its audit domain on its own, the tenant's
 * chain head serialized by the database when two servers write (P-AUD-1), reconnection after
 * a lost connection, read scopes and snapshots as single states, migrations under several
 * servers, and a schema newer than the build refused. Each test gets a fresh database on the
 * binary's own PostgreSQL server (th_pg.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "audit_canon.h"
#include "pg_int.h" /* a pooled connection, to ask its session */
#include "store_pg.h"
#include "th.h"
#include "custos.h"
#include "th_pg.h"
#include "util.h"

typedef struct pfx {
    char loc[256];
    cu_store *s;
} pfx;

static int pfx_setup(void **state)
{
    pfx *f = calloc(1, sizeof(*f));
    cu_err err = {0};

    th_pg_location(f->loc, sizeof(f->loc));
    if (cu_store_open(f->loc, &f->s, &err) != CU_OK)
        fail_msg("open %s: %s", f->loc, err.msg);
    *state = f;
    return 0;
}

static int pfx_teardown(void **state)
{
    pfx *f = *state;

    cu_store_close(f->s);
    free(f);
    return 0;
}

static cu_store_op append_op(cu_id tenant, uint64_t seq, int fill, cu_id subject)
{
    cu_store_op op = {0};

    op.type = CU_OP_AUDIT_APPEND;
    op.u.audit.tenant_id = tenant;
    op.u.audit.seq = seq;
    op.u.audit.at = 1000 * (int64_t)seq;
    snprintf(op.u.audit.actor, sizeof(op.u.audit.actor), "key:7");
    snprintf(op.u.audit.action, sizeof(op.u.audit.action), seq == 1 ? "x" : "record.read");
    snprintf(op.u.audit.object, sizeof(op.u.audit.object), "record:%llu", (unsigned long long)seq);
    memset(op.u.audit.prev, fill - 1, 32);
    memset(op.u.audit.hash, fill, 32);
    op.u.audit.has_digest = seq == 2;
    memset(op.u.audit.digest, 0x5a, 32);
    op.u.audit.subject_id = subject;
    return op;
}

static int count_entry(void *arg, const cu_audit_entry *e)
{
    (void)e;
    (*(int *)arg)++;
    return 0;
}

typedef struct rows_seen {
    int n, agrees;
    uint64_t first, last;
    size_t len;
    uint8_t canon[CU_AUDIT_CANON_MAX];
} rows_seen;

static int take_row(void *arg, const cu_audit_row *r)
{
    rows_seen *rs = arg;

    if (rs->n++ == 0) {
        rs->first = r->seq;
        rs->agrees = r->agrees;
        rs->len = r->canon_len;
        memcpy(rs->canon, r->canon, r->canon_len);
    }
    rs->last = r->seq;
    return 0;
}

/* The audit domain alone (the log has no foreign key to tenants): appends, the head, lists,
 * scans, the rows as stored with their encodings, checkpoints never replaced, the prune. */
static void test_pg_audit_ops(void **state)
{
    pfx *f = *state;
    cu_store_op ops[3], op = {0};
    cu_audit_filter filter = {0};
    cu_audit_entry *list = NULL;
    cu_audit_checkpoint *ck = NULL;
    uint8_t hash[32], canon[CU_AUDIT_CANON_MAX];
    rows_seen rows = {0};
    uint64_t seq = 0;
    size_t n = 0;
    int seen = 0;
    cu_err err = {0};

    for (int i = 0; i < 3; i++)
        ops[i] = append_op(1, (uint64_t)i + 1, i + 1, 0);
    assert_int_equal(cu_store_apply(f->s, ops, 3, &err), CU_OK);
    assert_int_equal(cu_store_apply(f->s, &ops[2], 1, &err), CU_ERR_EXISTS);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 3);
    assert_int_equal(hash[0], 3);
    assert_int_equal(cu_store_audit_head(f->s, 2, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 0);
    filter.action = "record.read";
    assert_int_equal(cu_store_audit_list(f->s, 1, &filter, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].seq, 2);
    assert_string_equal(list[0].object, "record:2");
    assert_true(list[0].has_digest && list[0].digest[0] == 0x5a);
    assert_false(list[1].has_digest);
    free(list);
    filter = (cu_audit_filter){.from_ms = 2000, .to_ms = 2000};
    assert_int_equal(cu_store_audit_list(f->s, 1, &filter, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(cu_store_audit_scan(f->s, 1, 2, count_entry, &seen, &err), CU_OK);
    assert_int_equal(seen, 2);
    /* The entry as stored, with the canonical encoding its hash is over (P-AUD-2). */
    assert_int_equal(cu_store_audit_rows(f->s, 1, 2, 2, take_row, &rows, &err), CU_OK);
    assert_true(rows.n == 1 && rows.first == 2 && rows.agrees);
    assert_int_equal(rows.len, cu_audit_encode(&ops[1].u.audit, canon));
    assert_memory_equal(rows.canon, canon, rows.len);
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(cu_store_audit_rows(f->s, 1, 0, UINT64_MAX, take_row, &rows, &err), CU_OK);
    assert_true(rows.n == 3 && rows.first == 1 && rows.last == 3);
    /* A column altered behind the store's back no longer agrees with the encoding. */
    assert_int_equal(th_pg_sql(f->loc, "UPDATE audit_log SET actor = 'key:8' WHERE seq = 1"), 0);
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(cu_store_audit_rows(f->s, 1, 1, 1, take_row, &rows, &err), CU_OK);
    assert_true(rows.n == 1 && !rows.agrees);
    assert_int_equal(cu_store_audit_seq_before(f->s, 1, 2500, &seq, &err), CU_OK);
    assert_int_equal(seq, 2);
    op.type = CU_OP_AUDIT_CHECKPOINT;
    op.u.checkpoint.tenant_id = 1;
    op.u.checkpoint.seq = 2;
    memset(op.u.checkpoint.sig, 9, 64);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_ERR_EXISTS); /* never replaced */
    op.u.checkpoint.anchor = 1;
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK); /* an anchor at that seq */
    assert_int_equal(cu_store_audit_checkpoints(f->s, 1, &ck, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_true(ck[0].seq == 2 && !ck[0].anchor && ck[1].anchor && ck[0].sig[63] == 9);
    free(ck);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_AUDIT_PRUNE;
    op.u.audit_prune.tenant_id = 1;
    op.u.audit_prune.upto = 2;
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    seen = 0;
    assert_int_equal(cu_store_audit_scan(f->s, 1, 0, count_entry, &seen, &err), CU_OK);
    assert_int_equal(seen, 1);
}

/* P-RET-5: a hold on the whole tenant keeps its audit log. */
static void test_pg_audit_prune_refused_under_a_tenant_hold(void **state)
{
    pfx *f = *state;
    cu_store_op op = append_op(1, 1, 1, 0);
    cu_err err = {0};
    int seen = 0;

    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    assert_int_equal(th_pg_sql(f->loc,
                               "INSERT INTO tenants(tenant_id, name, created_at) VALUES(1, 't', 1);"
                               "INSERT INTO holds(tenant_id, hold_id, subject_id, record_id,"
                               " reason, key_version, created_at) VALUES(1, 5, 0, 0, '\\x00', 1, 1)"),
                     0);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_AUDIT_PRUNE;
    op.u.audit_prune.tenant_id = 1;
    op.u.audit_prune.upto = 1;
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_ERR_LEGAL_HOLD);
    assert_int_equal(th_pg_sql(f->loc, "UPDATE holds SET released_at = 2"), 0);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    assert_int_equal(cu_store_audit_scan(f->s, 1, 0, count_entry, &seen, &err), CU_OK);
    assert_int_equal(seen, 0);
}

/* The log's index by subject: entries past the mark are found from the log itself, those
 * before it from the index; a prune drops the index's rows with the entries. */
static void test_pg_audit_by_subject(void **state)
{
    pfx *f = *state;
    cu_store_op ops[4] = {append_op(1, 1, 1, 10), append_op(1, 2, 2, 11), append_op(1, 3, 3, 10),
                          append_op(2, 1, 1, 10)};
    cu_store_op idx = {.type = CU_OP_AUDIT_SUBJECT_INDEX}, more = append_op(1, 4, 4, 10);
    cu_store_access *acc = NULL;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, ops, 4, &err), CU_OK);
    idx.u.audit_index.tenant_id = 1;
    assert_int_equal(cu_store_apply(f->s, &idx, 1, &err), CU_OK);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM audit_subjects"), 3);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT seq FROM audit_subject_marks"), 3);
    assert_int_equal(cu_store_apply(f->s, &more, 1, &err), CU_OK); /* past the mark */
    assert_int_equal(cu_store_audit_by_subject(f->s, 1, 10, 0, 10, &acc, &n, &err), CU_OK);
    assert_int_equal(n, 3);
    assert_true(acc[0].seq == 1 && acc[1].seq == 3 && acc[2].seq == 4);
    assert_string_equal(acc[1].object, "record:3");
    free(acc);
    assert_int_equal(cu_store_audit_by_subject(f->s, 1, 10, 1, 1, &acc, &n, &err), CU_OK);
    assert_true(n == 1 && acc[0].seq == 3);
    free(acc);
    /* Indexing again is idempotent and moves the mark. */
    assert_int_equal(cu_store_apply(f->s, &idx, 1, &err), CU_OK);
    assert_int_equal(cu_store_apply(f->s, &idx, 1, &err), CU_OK);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT seq FROM audit_subject_marks"), 4);
    assert_int_equal(cu_store_audit_by_subject(f->s, 1, 10, 0, 10, &acc, &n, &err), CU_OK);
    assert_int_equal(n, 3);
    free(acc);
    idx.type = CU_OP_AUDIT_PRUNE;
    idx.u.audit_prune.tenant_id = 1;
    idx.u.audit_prune.upto = 3;
    assert_int_equal(cu_store_apply(f->s, &idx, 1, &err), CU_OK);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM audit_subjects"), 1);
}

typedef struct racer {
    cu_store *s;
    cu_store_op ops[2];
    cu_rc rc;
} racer;

static void *race_apply(void *arg)
{
    racer *r = arg;
    cu_err err = {0};

    r->rc = cu_store_apply(r->s, r->ops, 2, &err);
    return NULL;
}

/* P-AUD-1 with two servers on one database: the head check waits for the tenant's chain lock
 * (a row lock on its audit_subject_marks row, pg_write.c), so a writer that commits the next entry while the check waits makes it CU_ERR_CONFLICT
 * (the core then reads the head again and retries), never a broken or forked chain, nor a
 * duplicate key error after the check had passed. */
static void test_pg_P_AUD_1_head_check_waits_for_the_other_writer(void **state)
{
    pfx *f = *state;
    cu_store *second = NULL;
    PGconn *other = PQconnectdb(f->loc);
    racer r = {0};
    pthread_t t;
    PGresult *res;
    cu_err err = {0};
    int waiting = 0;

    assert_int_equal(cu_store_open(f->loc, &second, &err), CU_OK);
    assert_int_equal(PQstatus(other), CONNECTION_OK);
    /* The other server's transaction holds the tenant's lock (as its batch would). */
    res = PQexec(other, "BEGIN; INSERT INTO audit_subject_marks(tenant_id, seq) VALUES(1, 0)"
                        " ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_subject_marks.seq");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    r.s = second;
    r.ops[0].type = CU_OP_AUDIT_HEAD_CHECK;
    r.ops[0].u.audit_head.tenant_id = 1; /* onto the empty chain */
    r.ops[1] = append_op(1, 1, 1, 0);
    assert_int_equal(pthread_create(&t, NULL, race_apply, &r), 0);
    for (int i = 0; i < 200 && !waiting; i++) {
        usleep(20 * 1000);
        waiting = th_pg_sql_int(f->loc, "SELECT count(*) FROM pg_locks WHERE NOT granted") > 0;
    }
    assert_true(waiting);
    /* Meanwhile the other server appends seq 1 and commits. */
    res = PQexec(other, "INSERT INTO audit_log(tenant_id, seq, at, actor, action, object,"
                        " purpose, source, request_id, outcome, prev, hash)"
                        " VALUES(1, 1, 1, '', '', '', '', '', '', '', '\\x00', '\\x01'); COMMIT");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    pthread_join(t, NULL);
    assert_int_equal(r.rc, CU_ERR_CONFLICT);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM audit_log"), 1);
    PQfinish(other);
    cu_store_close(second);
}

/* Several writers on one database through two stores (two servers' pools) append to one
 * tenant's chain, each retrying on CU_ERR_CONFLICT as the core does: the chain stays one,
 * contiguous, each entry chained onto the one before. */
typedef struct chainer {
    cu_store *s;
    uint8_t tag;
    int appended, other_errors;
} chainer;

static void *chain_many(void *arg)
{
    chainer *c = arg;
    cu_err err = {0};

    while (c->appended < 25) {
        uint8_t hash[32];
        uint64_t seq = 0;
        cu_store_op ops[2];
        if (cu_store_audit_head(c->s, 1, &seq, hash, &err) != CU_OK) {
            c->other_errors++;
            return NULL;
        }
        memset(ops, 0, sizeof(ops));
        ops[0].type = CU_OP_AUDIT_HEAD_CHECK;
        ops[0].u.audit_head.tenant_id = 1;
        ops[0].u.audit_head.seq = seq;
        memcpy(ops[0].u.audit_head.hash, hash, 32);
        ops[1] = append_op(1, seq + 1, 0, 0);
        memcpy(ops[1].u.audit.prev, hash, 32);
        memset(ops[1].u.audit.hash, c->tag, 32);
        memcpy(ops[1].u.audit.hash, &seq, sizeof(seq)); /* distinct per entry */
        cu_rc rc = cu_store_apply(c->s, ops, 2, &err);
        if (rc == CU_OK)
            c->appended++;
        else if (rc != CU_ERR_CONFLICT)
            c->other_errors++;
    }
    return NULL;
}

typedef struct link_check {
    uint8_t prev_hash[32];
    uint64_t expect;
    int broken;
} link_check;

static int check_link(void *arg, const cu_audit_row *r)
{
    link_check *l = arg;

    if (r->seq != l->expect || (r->seq > 1 && memcmp(r->prev, l->prev_hash, 32) != 0))
        l->broken++;
    memcpy(l->prev_hash, r->hash, 32);
    l->expect = r->seq + 1;
    return 0;
}

static void test_pg_P_AUD_1_two_stores_keep_one_chain(void **state)
{
    pfx *f = *state;
    chainer a = {.tag = 0xa0}, b = {.tag = 0xb0};
    link_check l = {.expect = 1};
    pthread_t ta, tb;
    cu_err err = {0};

    a.s = f->s;
    assert_int_equal(cu_store_open(f->loc, &b.s, &err), CU_OK);
    assert_int_equal(pthread_create(&ta, NULL, chain_many, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, chain_many, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.other_errors + b.other_errors, 0);
    assert_int_equal(cu_store_audit_rows(f->s, 1, 0, UINT64_MAX, check_link, &l, &err), CU_OK);
    assert_int_equal(l.expect, 51);
    assert_int_equal(l.broken, 0);
    cu_store_close(b.s);
}

/* Waits (up to 5 s) until no other session is connected to the database at loc. */
static void wait_sessions_gone(const char *loc)
{
    for (int i = 0; i < 100 && th_pg_sql_int(loc, "SELECT count(*) FROM pg_stat_activity"
                                                  " WHERE datname = current_database()") > 1;
         i++)
        usleep(50000);
}

/* A connection the server dropped while it sat in the pool (its backend terminated): noticed
 * before its next use and reset (PQreset), so the next request does not meet the loss. */
static void test_pg_lost_connection_is_noticed_before_use(void **state)
{
    pfx *f = *state;
    cu_store_op op = append_op(1, 1, 1, 0);
    uint8_t hash[32];
    uint64_t seq = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    assert_true(th_pg_sql_int(f->loc, "SELECT count(pg_terminate_backend(pid))"
                                      " FROM pg_stat_activity WHERE datname = current_database()"
                                      " AND pid <> pg_backend_pid()") >= 1);
    wait_sessions_gone(f->loc);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1);
    /* And writes go on, their statements prepared again on the new session. */
    op = append_op(1, 2, 2, 0);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
}

static void *read_heads(void *arg)
{
    cu_store *s = arg;
    uint8_t hash[32];
    uint64_t seq;
    cu_err err = {0};

    for (int i = 0; i < 200; i++)
        if (cu_store_audit_head(s, 1, &seq, hash, &err) != CU_OK)
            return (void *)1;
    return NULL;
}

/* The server stopped as by a crash (pg_ctl stop -m immediate): a write fails at once with
 * CU_ERR_UNAVAILABLE and nothing of it is stored; once the server is back the store
 * reconnects by itself, and what was acknowledged before is there. */
static void test_pg_server_down_then_back(void **state)
{
    pfx *f = *state;
    cu_store_op op = append_op(1, 1, 1, 0);
    uint8_t hash[32];
    uint64_t seq = 0;
    cu_err err = {0};
    cu_rc rc;

    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    th_pg_stop_immediate();
    op = append_op(1, 2, 2, 0);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_ERR_UNAVAILABLE);
    th_pg_start_again();
    rc = cu_store_audit_head(f->s, 1, &seq, hash, &err);
    assert_true(rc == CU_OK || rc == CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 2);
}

/* A server restarted while the pool's connections sat idle costs no request: each lost session
 * is noticed before its next use and replaced. */
static void test_pg_restart_costs_no_request(void **state)
{
    pfx *f = *state;
    char url[320];
    cu_store *s = NULL;
    pthread_t t[4];
    uint8_t hash[32];
    uint64_t seq;
    void *ret;
    int failed = 0;
    cu_err err = {0};

    snprintf(url, sizeof(url), "%s?custos_pool=4", f->loc);
    assert_int_equal(cu_store_open(url, &s, &err), CU_OK);
    for (int i = 0; i < 4; i++) /* four connections made */
        assert_int_equal(pthread_create(&t[i], NULL, read_heads, s), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    th_pg_stop_immediate();
    th_pg_start_again();
    assert_int_equal(cu_store_audit_head(s, 1, &seq, hash, &err), CU_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, read_heads, s), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &ret);
        failed += ret != NULL;
    }
    assert_int_equal(failed, 0);
    cu_store_close(s);
}

/* A read scope sees one state, the committed one at its first read; a snapshot the one at its
 * creation; neither sees a commit made after, until it ends. */
static void test_pg_read_scope_and_snapshot_see_one_state(void **state)
{
    pfx *f = *state;
    cu_store_op op = append_op(1, 1, 1, 0);
    cu_store *snap = NULL;
    uint8_t hash[32];
    uint64_t seq = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    cu_store_read_begin(f->s);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1);
    op = append_op(1, 2, 2, 0);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK); /* another connection */
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1);
    cu_store_read_begin(f->s); /* a no-op */
    cu_store_read_end(f->s);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 2);
    cu_store_read_end(f->s); /* without a scope: a no-op */

    assert_int_equal(cu_store_snapshot(f->s, &snap, &err), CU_OK);
    op = append_op(1, 3, 3, 0);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    assert_int_equal(cu_store_audit_head(snap, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(cu_store_apply(snap, &op, 1, &err), CU_ERR_INVALID); /* read-only */
    cu_store_close(snap);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 3);
}

/* A read scope never takes the pool's last free connection: apply() (the commit) always finds
 * one. With a pool of one the scope reads unscoped, and a write made meanwhile commits at once
 * rather than after the pool's 10 s wait. */
static void test_pg_read_scope_leaves_a_connection_to_apply(void **state)
{
    pfx *f = *state;
    cu_store_op op = append_op(1, 1, 1, 0);
    char url[320];
    cu_store *s = NULL;
    uint8_t hash[32];
    uint64_t seq = 0;
    cu_err err = {0};

    snprintf(url, sizeof(url), "%s?custos_pool=1", f->loc);
    assert_int_equal(cu_store_open(url, &s, &err), CU_OK);
    cu_store_read_begin(s);
    assert_int_equal(cu_store_audit_head(s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(cu_store_apply(s, &op, 1, &err), CU_OK);
    assert_int_equal(cu_store_audit_head(s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1); /* unscoped: the latest state */
    cu_store_read_end(s);
    cu_store_close(s);
}

/* A read that fails inside a scope does not fail the scope's later reads (PostgreSQL aborts the
 * transaction of a failed statement; the scope begins another). */
static void test_pg_read_scope_survives_a_failed_read(void **state)
{
    pfx *f = *state;
    cu_store_op op = append_op(1, 1, 1, 0);
    cu_store_access *acc = NULL;
    uint8_t hash[32];
    uint64_t seq = 0;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    cu_store_read_begin(f->s);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(th_pg_sql(f->loc, "ALTER TABLE audit_subjects RENAME TO gone"), 0);
    assert_int_equal(cu_store_audit_by_subject(f->s, 1, 10, 0, 10, &acc, &n, &err), CU_ERR_STORE);
    assert_int_equal(cu_store_audit_head(f->s, 1, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, 1);
    cu_store_read_end(f->s);
    assert_int_equal(th_pg_sql(f->loc, "ALTER TABLE gone RENAME TO audit_subjects"), 0);
}

typedef struct opener {
    const char *loc;
    cu_rc rc;
    char msg[CU_ERR_MSG];
} opener;

static void *open_close(void *arg)
{
    opener *o = arg;
    cu_store *s = NULL;
    cu_err err = {0};

    o->rc = cu_store_open(o->loc, &s, &err);
    snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
    cu_store_close(s);
    return NULL;
}

/* Several servers starting at once on a fresh database migrate it once (advisory lock); a
 * database whose schema is newer than this build is refused. */
static void test_pg_migrations_once_and_newer_schema_refused(void **state)
{
    pfx *f = *state;
    char loc[256], sql[96];
    opener o[3];
    pthread_t t[3];
    cu_store *s = NULL;
    cu_err err = {0};

    (void)f;
    th_pg_location(loc, sizeof(loc));
    for (int i = 0; i < 3; i++) {
        o[i] = (opener){.loc = loc};
        assert_int_equal(pthread_create(&t[i], NULL, open_close, &o[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        if (o[i].rc != CU_OK)
            fail_msg("open %d: %s", i, o[i].msg);
    }
    assert_int_equal(th_pg_sql_int(loc, "SELECT version FROM schema_version"),
                     cu_store_pg_schema_version());
    assert_int_equal(th_pg_sql_int(loc, "SELECT count(*) FROM schema_version"), 1);
    snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
             cu_store_pg_schema_version() + 1);
    assert_int_equal(th_pg_sql(loc, sql), 0);
    assert_int_equal(cu_store_open(loc, &s, &err), CU_ERR_STORE);
    assert_non_null(strstr(err.msg, "newer"));
    assert_null(s);
}

/* Errors carry no value the statement was given: a duplicate key names its constraint only. */
static void test_pg_error_messages_carry_no_value(void **state)
{
    pfx *f = *state;
    cu_store_op op = append_op(1, 1, 1, 0);
    cu_err err = {0};

    snprintf(op.u.audit.object, sizeof(op.u.audit.object), "subject:secret-value");
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_ERR_EXISTS);
    assert_null(strstr(err.msg, "secret-value"));
    assert_null(strstr(err.msg, "(1, 1)")); /* the key's values, as the DETAIL would say */
    assert_non_null(strstr(err.msg, "audit_log_pkey"));
}

/* An API key's id is unique across tenants, as SQLite's keys make it: a lookup by id alone
 * (authentication) finds one row (review 5, F2). */
static void test_pg_apikey_id_unique_across_tenants(void **state)
{
    pfx *f = *state;
    cu_store_op op = {0};
    cu_err err = {0};

    op.type = CU_OP_APIKEY_PUT;
    op.u.apikey.tenant_id = 0; /* the operator's: no tenant row needed */
    op.u.apikey.id = 77;
    op.u.apikey.role = 1;
    snprintf(op.u.apikey.name, sizeof(op.u.apikey.name), "a");
    op.u.apikey.created_at = 1;
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_OK);
    op.u.apikey.tenant_id = 9;
    assert_int_equal(cu_store_apply(f->s, &op, 1, &err), CU_ERR_EXISTS);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM api_keys WHERE key_id = 77"), 1);
}

/* Acknowledged means durable: a database that turned synchronous_commit off gets it back on in
 * the store's sessions (review 5, F6), a fresh one and one reset after a lost connection. */
static void test_pg_sessions_commit_synchronously(void **state)
{
    pfx *f = *state;
    cu_store *s = NULL;
    pg_conn *c = NULL;
    cu_err err = {0};

    assert_int_equal(th_pg_sql(f->loc, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET"
                                       " synchronous_commit = off', current_database()); END $$"),
                     0);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT (current_setting('synchronous_commit') ="
                                           " 'off')::int"),
                     1);
    assert_int_equal(cu_store_open(f->loc, &s, &err), CU_OK);
    assert_int_equal(pg_conn_get((pg_store *)s, &c, &err), CU_OK);
    PGresult *r = PQexec(c->conn, "SHOW synchronous_commit");
    assert_string_equal(PQgetvalue(r, 0, 0), "on");
    PQclear(r);
    c->broken = 1; /* as after a lost connection: reset on its next use */
    pg_conn_put((pg_store *)s, c);
    assert_int_equal(pg_conn_get((pg_store *)s, &c, &err), CU_OK);
    r = PQexec(c->conn, "SHOW synchronous_commit");
    assert_string_equal(PQgetvalue(r, 0, 0), "on");
    PQclear(r);
    pg_conn_put((pg_store *)s, c);
    cu_store_close(s);
}

/* P-DSR-4: the checkpoint vacuums the tables of keys and credentials, outside a transaction. */
static void test_pg_checkpoint_vacuums(void **state)
{
    pfx *f = *state;
    const char *count = "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'keys'";
    long long before = th_pg_sql_int(f->loc, count), after = before;
    cu_err err = {0};

    assert_int_equal(cu_store_checkpoint(f->s, &err), CU_OK);
    /* The statistics reach other sessions within a moment. */
    for (int i = 0; i < 50 && after == before; i++) {
        usleep(100 * 1000);
        after = th_pg_sql_int(f->loc, count);
    }
    assert_true(after > before);
}

/* How many connections of store instance id the database at loc has. */
static long long instance_conns(const char *loc, cu_id id)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'custos:%lld'",
             (long long)id);
    return th_pg_sql_int(loc, sql);
}

static cu_rc take(cu_store *s, cu_id holder, int64_t now)
{
    cu_store_op op = {0};
    cu_err err = {0};

    op.type = CU_OP_LEASE_TAKE;
    op.u.lease.name = CU_LEASE_SWEEP;
    op.u.lease.holder = holder;
    op.u.lease.instance = cu_store_instance(s);
    op.u.lease.now = now;
    op.u.lease.expires_at = now + 300;
    return cu_store_apply(s, &op, 1, &err);
}

/* A lease taken by a store instance whose connections are all gone (its process died: a
 * SIGKILLed rotation, tests/cli/rotate_kill.sh) is free once LEASE_GRACE (10 s) has passed
 * since its last renewal, not at its expiry; while one of its connections is open, or when a
 * build before migration 12 took the lease over without naming its instance, the expiry rule
 * alone holds. */
static void test_pg_lease_of_a_dead_instance_is_free_at_once(void **state)
{
    pfx *f = *state;
    char url[320];
    cu_store *a = NULL, *b = NULL;
    cu_id ia, ib;
    cu_err err = {0};

    /* The URL names its connections, but the instance's name wins (pg_conn.c, conn_open). */
    snprintf(url, sizeof(url), "%s?application_name=spoof", f->loc);
    assert_int_equal(cu_store_open(url, &a, &err), CU_OK);
    assert_int_equal(cu_store_open(f->loc, &b, &err), CU_OK);
    ia = cu_store_instance(a);
    ib = cu_store_instance(b);
    assert_true(ia != 0);
    assert_true(ib != 0 && ia != ib);
    assert_int_equal(take(a, 7, 1000), CU_OK);
    assert_true(instance_conns(f->loc, ia) >= 1);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM pg_stat_activity"
                                           " WHERE application_name = 'spoof'"),
                     0);
    assert_int_equal(take(b, 8, 1100), CU_ERR_CONFLICT); /* a lives */
    assert_int_equal(take(f->s, 9, 1200), CU_ERR_CONFLICT);
    assert_int_equal(take(a, 7, 1200), CU_OK); /* renewed by its holder: until 1500 */
    cu_store_close(a);
    for (int i = 0; i < 100 && instance_conns(f->loc, ia) > 0; i++)
        usleep(50000);
    assert_int_equal(take(b, 8, 1205), CU_ERR_CONFLICT); /* within the grace of its renewal */
    /* Long before its expiry (1500): a's connections are gone. */
    assert_int_equal(take(b, 8, 1300), CU_OK);
    assert_int_equal(take(f->s, 9, 1400), CU_ERR_CONFLICT); /* b lives */
    cu_store_close(b);
    for (int i = 0; i < 100 && instance_conns(f->loc, ib) > 0; i++)
        usleep(50000);
    /* An older build takes it over at its expiry (1600) without naming an instance: b's name,
     * still in the row, says nothing of that holder, whose lease runs until 1900. */
    assert_int_equal(th_pg_sql(f->loc, "UPDATE leases SET holder = 4242, expires_at = 1900"
                                       " WHERE name = '" CU_LEASE_SWEEP "'"),
                     0);
    assert_int_equal(take(f->s, 9, 1700), CU_ERR_CONFLICT);
    assert_int_equal(take(f->s, 9, 1900), CU_OK);
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM leases WHERE holder = 9"), 1);
}

/* Opens a store as a new role of the test's database, with the rights a server needs, after
 * hardening, SQL run as the superuser that takes pg_stat_activity from it. */
static cu_store *open_as_role(const pfx *f, const char *role, const char *hardening)
{
    const char *at = strchr(f->loc, '@');
    char sql[512], url[320];
    cu_store *r = NULL;
    cu_err err = {0};

    assert_non_null(at);
    snprintf(sql, sizeof(sql),
             "CREATE ROLE %s LOGIN; GRANT ALL ON SCHEMA public TO %s;"
             "GRANT ALL ON ALL TABLES IN SCHEMA public TO %s; %s",
             role, role, role, hardening);
    assert_int_equal(th_pg_sql(f->loc, sql), 0);
    snprintf(url, sizeof(url), "postgresql://%s%s", role, at);
    if (cu_store_open(url, &r, &err) != CU_OK)
        fail_msg("open as %s: %s", role, err.msg);
    return r;
}

/* A role that may not read pg_stat_activity (a hardened database: the view's SELECT or the
 * function under it revoked) names no instance: its leases keep the expiry rule alone, taking
 * and renewing them works, and a lease another server's instance holds is refused to it (not
 * an error) until it expires. */
static void test_pg_lease_without_pg_stat_activity_keeps_the_expiry_rule(void **state)
{
    pfx *f = *state;
    static const char *const hardening[] = {
        "REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_get_activity(integer) FROM PUBLIC",
        "GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_get_activity(integer) TO PUBLIC;"
        "REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC",
    };
    char role[32], sql[128];

    for (int i = 0; i < 2; i++) {
        int64_t t = 10000 * (i + 1);
        cu_store *r;
        snprintf(role, sizeof(role), "lease_role_%d_%d", (int)getpid(), i);
        r = open_as_role(f, role, hardening[i]);
        assert_int_equal(cu_store_instance(r), 0);
        assert_true(cu_store_instance(f->s) != 0); /* the superuser still reads it */
        /* The superuser's store holds the lease: refused to r while it runs, then r's. */
        assert_int_equal(take(f->s, 6, t), CU_OK);
        assert_int_equal(take(r, 5, t + 100), CU_ERR_CONFLICT);
        assert_int_equal(take(r, 5, t + 300), CU_OK);
        assert_int_equal(take(r, 5, t + 400), CU_OK); /* renewed: until t + 700 */
        assert_int_equal(take(f->s, 6, t + 500), CU_ERR_CONFLICT);
        cu_store_close(r);
        /* r recorded no instance: gone or not, its lease runs to its expiry. */
        assert_int_equal(take(f->s, 6, t + 600), CU_ERR_CONFLICT);
        assert_int_equal(take(f->s, 6, t + 700), CU_OK);
        snprintf(sql, sizeof(sql), "DROP OWNED BY %s; DROP ROLE %s", role, role);
        assert_int_equal(th_pg_sql(f->loc, sql), 0);
    }
}

/* The pool's size is the URL's custos_pool=N (taken out before libpq sees the URL, which keeps
 * its other parameters): four threads reading at once through a pool of two use two
 * connections of the server at most. */
static void test_pg_pool_size_from_the_url(void **state)
{
    pfx *f = *state;
    char url[320];
    cu_store *s = NULL;
    pthread_t t[4];
    void *ret;
    cu_err err = {0};

    snprintf(url, sizeof(url), "%s?custos_pool=0", f->loc);
    assert_int_equal(cu_store_open(url, &s, &err), CU_ERR_INVALID);
    snprintf(url, sizeof(url), "%s?application_name=pooltest&custos_pool=2", f->loc);
    assert_int_equal(cu_store_open(url, &s, &err), CU_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, read_heads, s), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    assert_int_equal(instance_conns(f->loc, cu_store_instance(s)), 2);
    /* The URL's application_name is replaced by the instance's: leases rely on it. */
    assert_int_equal(th_pg_sql_int(f->loc, "SELECT count(*) FROM pg_stat_activity"
                                           " WHERE application_name = 'pooltest'"),
                     0);
    cu_store_close(s);
    snprintf(url, sizeof(url), "%s?custos_pool=3&application_name=pooltest", f->loc);
    assert_int_equal(cu_store_open(url, &s, &err), CU_OK);
    cu_store_close(s);
}

/* A vault whose store is a database server's (cu_vault_opts.store, the CLI's --store): the data
 * directory keeps the key file and no database; a second init on the same database is refused
 * before it makes a key; the vault opens with its key file. */
static void test_pg_vault_on_a_database_server(void **state)
{
    pfx *f = *state;
    char dir[256], data[300], other[300], path[400];
    cu_vault_opts o = {0};
    cu_vault *v = NULL;
    cu_err err = {0};

    th_tmpdir(dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(other, sizeof(other), "%s/other", dir);
    o.data_dir = data;
    o.store = f->loc;
    if (cu_vault_init(&o, &err) != CU_OK)
        fail_msg("init: %s", err.msg);
    snprintf(path, sizeof(path), "%s/custos.db", data);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/master.key", data);
    assert_int_equal(access(path, F_OK), 0);
    o.data_dir = other;
    assert_int_equal(cu_vault_init(&o, &err), CU_ERR_EXISTS);
    snprintf(path, sizeof(path), "%s/master.key", other);
    assert_int_equal(access(path, F_OK), -1);
    o.data_dir = data;
    if (cu_vault_open(&o, &v, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* One batch, pipelined (every statement sent, then one sync) or not (CUSTOS_PG_PIPELINE=0): a
 * batch longer than one send window commits whole; one with a duplicate in its middle is
 * refused whole with CU_ERR_EXISTS, and the connection takes the next batch. */
static void batches_commit_whole(cu_store *s, cu_id tenant)
{
    enum { N = 600 };
    cu_store_op *ops = calloc(N, sizeof(*ops));
    uint8_t hash[32];
    uint64_t seq = 0;
    cu_err err = {0};

    assert_non_null(ops);
    for (int i = 0; i < N; i++)
        ops[i] = append_op(tenant, (uint64_t)i + 1, 1, 0);
    assert_int_equal(cu_store_apply(s, ops, N, &err), CU_OK);
    for (int i = 0; i < 300; i++)
        ops[i] = append_op(tenant, (uint64_t)N + 1 + (uint64_t)i, 1, 0);
    ops[150].u.audit.seq = 7; /* taken */
    assert_int_equal(cu_store_apply(s, ops, 300, &err), CU_ERR_EXISTS);
    assert_int_equal(cu_store_audit_head(s, tenant, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, N);
    ops[150].u.audit.seq = N + 151;
    assert_int_equal(cu_store_apply(s, ops, 300, &err), CU_OK);
    assert_int_equal(cu_store_audit_head(s, tenant, &seq, hash, &err), CU_OK);
    assert_int_equal(seq, N + 300);
    free(ops);
}

static void test_pg_batches_commit_whole_with_and_without_pipeline(void **state)
{
    pfx *f = *state;
    cu_store *plain = NULL;
    cu_err err = {0};

    batches_commit_whole(f->s, 1);
    setenv("CUSTOS_PG_PIPELINE", "0", 1);
    assert_int_equal(cu_store_open(f->loc, &plain, &err), CU_OK);
    unsetenv("CUSTOS_PG_PIPELINE");
    batches_commit_whole(plain, 2);
    cu_store_close(plain);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, pfx_setup, pfx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_pg_audit_ops),
        T(test_pg_audit_prune_refused_under_a_tenant_hold),
        T(test_pg_audit_by_subject),
        T(test_pg_P_AUD_1_head_check_waits_for_the_other_writer),
        T(test_pg_P_AUD_1_two_stores_keep_one_chain),
        T(test_pg_lost_connection_is_noticed_before_use),
        T(test_pg_server_down_then_back),
        T(test_pg_restart_costs_no_request),
        T(test_pg_read_scope_and_snapshot_see_one_state),
        T(test_pg_read_scope_leaves_a_connection_to_apply),
        T(test_pg_read_scope_survives_a_failed_read),
        T(test_pg_migrations_once_and_newer_schema_refused),
        T(test_pg_error_messages_carry_no_value),
        T(test_pg_apikey_id_unique_across_tenants),
        T(test_pg_sessions_commit_synchronously),
        T(test_pg_checkpoint_vacuums),
        T(test_pg_pool_size_from_the_url),
        T(test_pg_lease_of_a_dead_instance_is_free_at_once),
        T(test_pg_lease_without_pg_stat_activity_keeps_the_expiry_rule),
        T(test_pg_batches_commit_whole_with_and_without_pipeline),
        T(test_pg_vault_on_a_database_server),
    };

    return cmocka_run_group_tests_name("store_pg", tests, NULL, NULL);
}
