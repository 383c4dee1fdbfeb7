/*
 * pg_write.c: apply() of the PostgreSQL backend: a batch of ops as one transaction.
 *
 * One connection of the pool, BEGIN, each op through the table below to its pg_w_<kind>
 * (in the file of the domain that owns it), COMMIT; ROLLBACK on the first error. The server's
 * synchronous_commit stays on: when COMMIT returns the batch is durable on the server, and
 * apply() acknowledges nothing that did not commit (a connection lost mid-batch rolls back on
 * the server; the caller gets CU_ERR_UNAVAILABLE).
 *
 * Several servers (docs/store.md, "Several servers"): the row locks a batch holds on its
 * tenants until its commit are all taken first, in tenant id order (lock_tenants), so two
 * batches naming the same tenants in opposite orders wait for each other instead of deadlocking.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pg_int.h"
#include "util.h"

typedef cu_rc (*apply_fn)(pg_conn *c, const cu_store_op *op, cu_err *err);

#define PG_W_ENTRY(KIND, name) [CU_OP_##KIND] = pg_w_##name,
static const apply_fn apply_fns[CU_OP__COUNT] = {PG_OP_KINDS(PG_W_ENTRY)};
#undef PG_W_ENTRY

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What a batch locks of a tenant: its audit chain (AUDIT_HEAD_CHECK; what a shred deletes of
 * it), its tenants row (TENANT_GEN; a shred). */
enum { LK_CHAIN = 1, LK_ROW = 2 };

typedef struct lk {
    cu_id tenant;
    int what;
} lk;

static int lk_cmp(const void *a, const void *b)
{
    const lk *x = a, *y = b;

    return x->tenant < y->tenant ? -1 : x->tenant > y->tenant;
}

/* P-AUD-1: the audit chain's lock is a row lock on the tenant's audit_subject_marks row, made
 * if missing (no foreign key: tenant 0's chain and a tenant being created have one too). A row
 * lock, not an advisory lock: on Citus, where the table is distributed by tenant, it is taken
 * on the tenant's shard and so holds whichever node a server reaches (an advisory lock is per
 * node). DO UPDATE, not DO NOTHING: it locks the row whether or not it was there. */
static pg_query Q_CHAIN_LOCK = PG_QUERY(
    "INSERT INTO audit_subject_marks(tenant_id, seq) VALUES($1, 0)"
    " ON CONFLICT (tenant_id) DO UPDATE SET seq = audit_subject_marks.seq");
/* The lock TENANT_GEN's update takes anyway; not FOR UPDATE, which would make every foreign
 * key check on the tenant (KEY SHARE) wait. */
static pg_query Q_ROW_LOCK =
    PG_QUERY("SELECT 1 FROM tenants WHERE tenant_id = $1 FOR NO KEY UPDATE");

/* Takes every row lock the batch's ops take on their tenants, before the first op and in
 * tenant id order, each tenant's chain before its row: the ops then find them held. Without
 * this, two groups raising (TENANT_GEN) or chaining (AUDIT_HEAD_CHECK) tenants 1 and 2 in
 * opposite orders could each hold one and wait for the other (a deadlock, one batch failed). */
static cu_rc lock_tenants(pg_conn *c, const cu_store_op *ops, size_t n, cu_err *err)
{
    lk few[16], *l = few;
    size_t m = 0, k = 0;
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n; i++)
        m += ops[i].type == CU_OP_AUDIT_HEAD_CHECK || ops[i].type == CU_OP_TENANT_GEN ||
             ops[i].type == CU_OP_TENANT_SHRED;
    if (m == 0)
        return CU_OK;
    if (m > CU_ARRAY_LEN(few) && (l = malloc(m * sizeof(*l))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const cu_store_op *op = &ops[i];
        if (op->type == CU_OP_AUDIT_HEAD_CHECK)
            l[k++] = (lk){op->u.audit_head.tenant_id, LK_CHAIN};
        else if (op->type == CU_OP_TENANT_GEN)
            l[k++] = (lk){op->u.del.tenant_id, LK_ROW};
        else if (op->type == CU_OP_TENANT_SHRED)
            l[k++] = (lk){op->u.del.tenant_id, LK_CHAIN | LK_ROW};
    }
    qsort(l, k, sizeof(*l), lk_cmp);
    for (size_t i = 0; i < k && rc == CU_OK; i++) {
        int what = l[i].what;
        while (i + 1 < k && l[i + 1].tenant == l[i].tenant)
            what |= l[++i].what;
        if (what & LK_CHAIN)
            rc = pg_exec(c, &Q_CHAIN_LOCK, PG_P(pg_p_id(l[i].tenant)), NULL, err,
                         "lock the audit chain");
        if (rc == CU_OK && (what & LK_ROW) && l[i].tenant != 0)
            rc = pg_exec(c, &Q_ROW_LOCK, PG_P(pg_p_id(l[i].tenant)), NULL, err,
                         "lock the tenant");
    }
    if (l != few)
        free(l);
    return rc;
}

static cu_rc apply_one(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    if ((int)op->type <= 0 || op->type >= CU_OP__COUNT || apply_fns[op->type] == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "unknown store op %d", (int)op->type);
    return apply_fns[op->type](c, op, err);
}

/* Ends the batch on c: COMMIT sent (rc CU_OK) and, in pipeline mode, the sync and every result
 * read; without a pipeline a statement that failed aborted the transaction, and COMMIT would
 * then roll it back without an error, so an op that went on after one is refused first. */
static cu_rc finish(pg_conn *c, cu_rc rc, cu_err *err)
{
    cu_err ignored;
    cu_rc end;

    if (!c->pipeline) {
        if (rc == CU_OK && PQtransactionStatus(c->conn) != PQTRANS_INTRANS)
            rc = cu_err_set(err, CU_ERR_STORE, "could not commit: the transaction failed");
        if (rc == CU_OK)
            rc = pg_exec_text(c, "COMMIT", err, "commit");
        return rc;
    }
    if (rc == CU_OK)
        rc = pg_exec_text(c, "COMMIT", err, "commit");
    end = pg_pipeline_end(c, rc == CU_OK ? err : &ignored);
    return rc == CU_OK ? end : rc;
}

/* Opens the batch on c: pipeline mode (unless off), BEGIN, and the row locks ops[0..n) take
 * (lock_tenants). */
static cu_rc start(pg_store *s, pg_conn *c, const cu_store_op *ops, size_t n, cu_err *err)
{
    /* Pipeline mode: every op's statements are sent without waiting for their answers, but
     * where an op reads one (a check); the sync ends the batch: a round trip or two a batch
     * instead of one a statement. */
    cu_rc rc = s->pipeline ? pg_pipeline_begin(c, err) : CU_OK;

    if (rc == CU_OK)
        rc = pg_exec_text(c, "BEGIN", err, "begin transaction");
    if (rc == CU_OK)
        rc = lock_tenants(c, ops, n, err);
    return rc;
}

/* Sends ops[0..n) on c, in the transaction start() opened; stops at the first error. */
static cu_rc apply_all(pg_conn *c, const cu_store_op *ops, size_t n, cu_err *err)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n && rc == CU_OK; i++) {
        rc = apply_one(c, &ops[i], err);
        if (i == 0 && n > 1 && CU_FAULT("store.apply.mid_batch")) /* docs/store.md */
            _exit(70);
    }
    return rc;
}

cu_rc pg_apply(cu_store *base, const cu_store_op *ops, size_t n, cu_err *err)
{
    pg_store *s = (pg_store *)base;
    pg_conn *c = NULL;
    double t0 = mono();
    cu_rc rc;

    if (s->parent != NULL)
        return cu_err_set(err, CU_ERR_INVALID, "a snapshot is read-only");
    if ((rc = pg_conn_get(s, &c, err)) != CU_OK)
        return rc;
    rc = start(s, c, ops, n, err);
    if (rc == CU_OK)
        rc = apply_all(c, ops, n, err);
    if ((rc = finish(c, rc, err)) == CU_OK)
        pg_record_commit(s, mono() - t0);
    /* On failure pg_conn_put rolls back whatever is open. */
    pg_conn_put(s, c);
    return rc;
}

/* The heads of prev's AUDIT_HEAD_CHECK ops, read on c under the chain locks start() took:
 * copies of those ops into *out (caller frees), their heads as the store holds them now. */
static cu_rc heads_locked(pg_conn *c, const cu_store_op *prev, size_t nprev, cu_store_op **out,
                          size_t *n, cu_err *err)
{
    cu_rc rc = CU_OK;

    *n = 0;
    if ((*out = calloc(nprev ? nprev : 1, sizeof(**out))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nprev && rc == CU_OK; i++) {
        cu_store_op *h = &(*out)[*n];
        if (prev[i].type != CU_OP_AUDIT_HEAD_CHECK)
            continue;
        *h = prev[i];
        rc = pg_audit_head_locked(c, h->u.audit_head.tenant_id, &h->u.audit_head.seq,
                                  h->u.audit_head.hash, err);
        (*n)++;
    }
    return rc;
}

/* cu_store_apply_chained (store_chain.h) in one transaction: prev's locks, the heads read under
 * them, fn's batch on those heads, COMMIT. The batch's own locks are taken again (held already:
 * no wait), and its head checks pass, as nothing could move a head since it was read. */
cu_rc pg_apply_chained(cu_store *base, const cu_store_op *prev, size_t nprev, cu_store_chain_fn fn,
                       void *arg, cu_err *err)
{
    pg_store *s = (pg_store *)base;
    cu_store_op *heads = NULL;
    const cu_store_op *ops = NULL;
    size_t nheads = 0, n = 0;
    pg_conn *c = NULL;
    double t0 = mono();
    cu_rc rc;

    if (s->parent != NULL)
        return cu_err_set(err, CU_ERR_INVALID, "a snapshot is read-only");
    if ((rc = pg_conn_get(s, &c, err)) != CU_OK)
        return rc;
    rc = start(s, c, prev, nprev, err);
    if (rc == CU_OK)
        rc = heads_locked(c, prev, nprev, &heads, &nheads, err);
    if (rc == CU_OK)
        rc = fn(arg, heads, nheads, &ops, &n, err);
    if (rc == CU_OK)
        rc = lock_tenants(c, ops, n, err);
    if (rc == CU_OK)
        rc = apply_all(c, ops, n, err);
    if ((rc = finish(c, rc, err)) == CU_OK)
        pg_record_commit(s, mono() - t0);
    pg_conn_put(s, c);
    free(heads);
    return rc;
}
