/*
 * pg_write.c: apply() of the PostgreSQL backend: a batch of ops as one transaction.
 *
 * One connection of the pool, BEGIN, each op through the table below to its pg_w_<kind>
 * (in the file of the domain that owns it), COMMIT; ROLLBACK on the first error. The server's
 * synchronous_commit stays on: when COMMIT returns the batch is durable on the server, and
 * apply() acknowledges nothing that did not commit (a connection lost mid-batch rolls back on
 * the server; the caller gets CU_ERR_UNAVAILABLE).
 */
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
    /* Pipeline mode: every op's statements are sent without waiting for their answers, but
     * where an op reads one (a check); the sync ends the batch: a round trip or two a batch
     * instead of one a statement. */
    rc = s->pipeline ? pg_pipeline_begin(c, err) : CU_OK;
    if (rc == CU_OK)
        rc = pg_exec_text(c, "BEGIN", err, "begin transaction");
    for (size_t i = 0; i < n && rc == CU_OK; i++) {
        rc = apply_one(c, &ops[i], err);
        if (i == 0 && n > 1 && CU_FAULT("store.apply.mid_batch")) /* docs/store.md */
            _exit(70);
    }
    if ((rc = finish(c, rc, err)) == CU_OK)
        pg_record_commit(s, mono() - t0);
    /* On failure pg_conn_put rolls back whatever is open. */
    pg_conn_put(s, c);
    return rc;
}
