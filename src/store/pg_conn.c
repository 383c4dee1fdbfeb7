/*
 * pg_conn.c: the PostgreSQL backend's connections and queries: the pool, prepared statements
 * run with binary parameters and results, and the mapping of errors.
 *
 * The pool makes connections as they are needed, up to its size, and hands each to one thread
 * at a time. A connection found lost (an error said so) is reset on its next use, so a server
 * that comes back is reconnected without a restart; the request that met the loss fails with
 * CU_ERR_UNAVAILABLE (the HTTP layer's 503).
 *
 * Every statement is a constant (pg_query), prepared on a connection the first time that
 * connection runs it, under a name made from the query's slot; slots are numbered once per
 * process, on the query's first use anywhere.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_int.h"
#include "util.h"

/* The next free query slot (slot 0 means "not assigned"). */
static int next_slot = 1;

/* The calling thread's round trips to the server: each time it waits for an answer to what it
 * sent (a statement, a prepare, a batch's flush or sync), on an open connection. Connecting
 * and resetting are not counted. Thread-local: a request's reads and its commit (led by the
 * request's own thread when no round is running) are counted where they are made. */
static _Thread_local unsigned long round_trips;

static void trip(void)
{
    round_trips++;
}

unsigned long cu_store_pg_round_trips(void)
{
    return round_trips;
}

static int query_slot(pg_query *q)
{
    int slot = __atomic_load_n(&q->slot, __ATOMIC_ACQUIRE);
    int fresh;

    if (slot != 0)
        return slot;
    fresh = __atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED);
    slot = 0;
    if (__atomic_compare_exchange_n(&q->slot, &slot, fresh, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return fresh;
    return slot; /* another thread numbered it first; fresh stays unused */
}

/* --- parameters --------------------------------------------------------------------------- */

pg_param pg_p_i64(int64_t v)
{
    return (pg_param){.type = PG_OID_INT8, .i = v};
}

pg_param pg_p_id(cu_id id)
{
    return (pg_param){.type = PG_OID_INT8, .i = (int64_t)id};
}

pg_param pg_p_blob(const void *data, size_t len)
{
    return (pg_param){.type = PG_OID_BYTEA, .null = data == NULL, .p = data, .len = (int)len};
}

pg_param pg_p_bytes(const cu_blob *b)
{
    if (b == NULL)
        return pg_p_blob(NULL, 0);
    return pg_p_blob(b->data, b->len);
}

pg_param pg_p_text(const char *s)
{
    return (pg_param){
        .type = PG_OID_TEXT, .null = s == NULL, .p = s, .len = s ? (int)strlen(s) : 0};
}

pg_param pg_p_null(void)
{
    return (pg_param){.type = 0, .null = 1};
}

pg_param pg_p_null_i64(void)
{
    return (pg_param){.type = PG_OID_INT8, .null = 1};
}

/* --- errors ------------------------------------------------------------------------------- */

static int lost(const char *state)
{
    return strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
           strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0;
}

/* The first line of a server or libpq message, into buf (no value is quoted in it: see
 * pg_error for which messages are shown). */
static const char *first_line(const char *msg, char *buf, size_t cap)
{
    size_t len;

    if (msg == NULL)
        return "";
    len = strcspn(msg, "\n");
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    return buf;
}

cu_rc pg_error(pg_conn *c, const PGresult *res, cu_err *err, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char line[160];

    if (state == NULL || lost(state) || PQstatus(c->conn) != CONNECTION_OK) {
        c->broken = 1;
        return cu_err_set(err, CU_ERR_UNAVAILABLE, "could not %s: database unavailable: %s",
                          what, first_line(PQerrorMessage(c->conn), line, sizeof(line)));
    }
    if (strcmp(state, "23505") == 0)
        return cu_err_set(err, CU_ERR_EXISTS, "could not %s: already exists (%s)", what,
                          constraint ? constraint : state);
    if (strcmp(state, "23503") == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND,
                          "could not %s: a referenced object is missing (%s)", what,
                          constraint ? constraint : state);
    if (strcmp(state, "53100") == 0)
        return cu_err_set(err, CU_ERR_IO, "could not %s: disk full", what);
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "could not %s: concurrent update (%s)", what,
                          state);
    /* Class 22 (data exceptions) and 23 quote values in their text: the code alone. Others
     * (42: the statement itself, 53/54/55/57: the server's state, 25: the transaction) name
     * none, and say more than a code. */
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        return cu_err_set(err, CU_ERR_STORE, "could not %s: SQLSTATE %s%s%s", what, state,
                          constraint ? " " : "", constraint ? constraint : "");
    return cu_err_set(err, CU_ERR_STORE, "could not %s: %s (SQLSTATE %s)", what,
                      first_line(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), line,
                                 sizeof(line)),
                      state);
}

/* --- running queries ---------------------------------------------------------------------- */

/* Makes room for slot in c's marks of prepared queries. */
static cu_rc slots_fit(pg_conn *c, int slot, cu_err *err)
{
    if ((size_t)slot >= c->nprepared) {
        size_t cap = (size_t)slot * 2 + 16;
        uint8_t *p = realloc(c->prepared, cap);
        if (p == NULL)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        memset(p + c->nprepared, 0, cap - c->nprepared);
        c->prepared = p;
        c->nprepared = cap;
    }
    return CU_OK;
}

static cu_rc prepare(pg_conn *c, pg_query *q, int slot, const pg_param *params, int nparams,
                     cu_err *err, const char *what)
{
    Oid types[64];
    char name[24];
    PGresult *res;
    cu_rc rc = CU_OK;

    if (nparams > (int)CU_ARRAY_LEN(types))
        return cu_err_set(err, CU_ERR_INVALID, "could not %s: too many parameters", what);
    for (int i = 0; i < nparams; i++)
        types[i] = params[i].type;
    snprintf(name, sizeof(name), "q%d", slot);
    trip();
    res = PQprepare(c->conn, name, q->sql, nparams, types);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_error(c, res, err, what);
    else
        c->prepared[slot] = 1;
    PQclear(res);
    return rc;
}

/* --- pipeline mode ------------------------------------------------------------------------- */

/* Statements sent in one go at most before their results are read: the server's answers wait
 * in its socket buffer meanwhile, and a blocking send must not wait on a full one. */
#define PIPE_MAX 256

/* Notes a statement sent (sync: a sync point; quiet: a read's end, its failure ignored). */
static cu_rc push_entry(pg_conn *c, const char *what, int slot, int sync, int quiet, cu_err *err)
{
    if (c->npend == c->cappend) {
        size_t cap = c->cappend ? c->cappend * 2 : 16;
        struct pg_pending *p = realloc(c->pend, cap * sizeof(*p));
        if (p == NULL) {
            c->broken = 1; /* a statement sent and not tracked: this session is not reused */
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        }
        c->pend = p;
        c->cappend = cap;
    }
    c->pend[c->npend].what = what;
    c->pend[c->npend].slot = slot;
    c->pend[c->npend].sync = sync;
    c->pend[c->npend].quiet = quiet;
    c->npend++;
    return CU_OK;
}

static cu_rc push_pending(pg_conn *c, const char *what, int slot, cu_err *err)
{
    return push_entry(c, what, slot, 0, 0, err);
}

/* A sync point's answer (PGRES_PIPELINE_SYNC, no NULL after it); anything else: the session is
 * not trusted again. */
static cu_rc read_sync(pg_conn *c, cu_err *err, const char *what)
{
    PGresult *r = PQgetResult(c->conn);
    cu_rc rc = CU_OK;

    if (r == NULL || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
        rc = pg_error(c, r, err, what);
        c->broken = 1;
    }
    PQclear(r);
    return rc;
}

/* Reads the results of every statement sent and not yet read, in order. The first failure is
 * returned (the server skipped those after it, up to the next sync point); a quiet statement's
 * failure is not (but a lost connection is). last non-NULL: the last statement's result (sync
 * points aside) into *last, if all succeeded. */
static cu_rc drain(pg_conn *c, PGresult **last, cu_err *err)
{
    cu_rc rc = CU_OK;
    cu_err quiet;
    size_t i, want = c->npend;

    while (want > 0 && c->pend[want - 1].sync)
        want--;
    for (i = 0; i < c->npend; i++) {
        PGresult *r, *end;
        ExecStatusType st;
        if (c->pend[i].sync) {
            cu_rc src = read_sync(c, rc == CU_OK ? err : &quiet, c->pend[i].what);
            if (src != CU_OK) {
                rc = rc == CU_OK ? src : rc;
                break;
            }
            continue;
        }
        r = PQgetResult(c->conn);
        st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (r == NULL) { /* no answer: the connection is gone */
            if (rc == CU_OK)
                rc = pg_error(c, NULL, err, c->pend[i].what);
            c->broken = 1;
            break;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (c->pend[i].slot >= 0) /* not prepared after all */
                c->prepared[c->pend[i].slot] = 0;
            if (c->pend[i].quiet)
                (void)pg_error(c, r, &quiet, c->pend[i].what); /* marks a lost connection */
            else if (rc == CU_OK)
                rc = st == PGRES_PIPELINE_ABORTED
                         ? cu_err_set(err, CU_ERR_STORE, "could not %s: the batch failed",
                                      c->pend[i].what)
                         : pg_error(c, r, err, c->pend[i].what);
        } else if (last != NULL && i + 1 == want && rc == CU_OK) {
            *last = r;
            r = NULL;
        }
        PQclear(r);
        /* Each statement's results end with a NULL. */
        while ((end = PQgetResult(c->conn)) != NULL)
            PQclear(end);
    }
    /* The prepares among the statements left unread did not happen either. */
    for (; i < c->npend; i++)
        if (c->pend[i].slot >= 0)
            c->prepared[c->pend[i].slot] = 0;
    c->npend = 0;
    if (rc != CU_OK && last != NULL) { /* a later statement failed after all */
        PQclear(*last);
        *last = NULL;
    }
    return rc;
}

/* Asks the server for the results so far and reads them. */
static cu_rc pipe_read(pg_conn *c, PGresult **last, cu_err *err, const char *what)
{
    trip();
    if (PQsendFlushRequest(c->conn) != 1 || PQflush(c->conn) != 0) {
        c->broken = 1;
        (void)drain(c, NULL, err);
        return pg_error(c, NULL, err, what);
    }
    return drain(c, last, err);
}

cu_rc pg_pipeline_begin(pg_conn *c, cu_err *err)
{
    if (c->lazy) { /* a read's end still unread: the batch goes on behind it */
        c->lazy = 0;
        return CU_OK;
    }
    if (PQenterPipelineMode(c->conn) != 1)
        return pg_error(c, NULL, err, "enter pipeline mode");
    c->pipeline = 1;
    c->npend = 0;
    return CU_OK;
}

/* Ends pipeline mode on c: a sync sent, every result read (last: as drain), pipeline mode
 * left. One round trip. */
static cu_rc pipeline_finish(pg_conn *c, PGresult **last, cu_err *err)
{
    cu_rc rc;

    trip();
    if (PQpipelineSync(c->conn) != 1) {
        c->broken = 1;
        rc = pg_error(c, NULL, err, "end the batch");
    } else if ((rc = push_entry(c, "end the batch", -1, 1, 0, err)) == CU_OK) {
        rc = drain(c, last, err);
    }
    if (PQexitPipelineMode(c->conn) != 1)
        c->broken = 1; /* results still unread: this session is not trusted again */
    c->pipeline = 0;
    c->lazy = 0;
    c->npend = 0;
    return rc;
}

cu_rc pg_pipeline_end(pg_conn *c, cu_err *err)
{
    if (!c->pipeline)
        return CU_OK;
    return pipeline_finish(c, NULL, err);
}

/* pg_exec in pipeline mode: the prepare (if needed) and the statement are sent; read only when
 * a result is wanted, or when PIPE_MAX statements wait. */
static cu_rc pipe_exec(pg_conn *c, pg_query *q, int slot, const char *const *values,
                       const int *lengths, const int *formats, const Oid *types, int nparams,
                       PGresult **res, cu_err *err, const char *what)
{
    char name[24];
    cu_rc rc;

    snprintf(name, sizeof(name), "q%d", slot);
    if (!c->prepared[slot]) {
        if (PQsendPrepare(c->conn, name, q->sql, nparams, types) != 1)
            return pg_error(c, NULL, err, what);
        c->prepared[slot] = 1;
        if ((rc = push_pending(c, what, slot, err)) != CU_OK)
            return rc;
    }
    if (PQsendQueryPrepared(c->conn, name, nparams, values, lengths, formats, 1) != 1)
        return pg_error(c, NULL, err, what);
    if ((rc = push_pending(c, what, -1, err)) != CU_OK)
        return rc;
    if (res != NULL || c->npend >= PIPE_MAX)
        return pipe_read(c, res, err, what);
    return CU_OK;
}

static cu_rc conn_revive(pg_conn *c, cu_err *err);

/* A read's statement with what is left to send before it (a read's end still unread, the
 * BEGIN of a read transaction): all in one pipeline, ended by a sync, read in one round trip. */
static cu_rc read_pipeline_once(pg_conn *c, pg_query *q, int slot, const char *const *values,
                           const int *lengths, const int *formats, const Oid *types,
                           int nparams, PGresult **res, cu_err *err, const char *what)
{
    cu_err ignored;
    cu_rc rc = CU_OK, end;

    if (!c->pipeline) {
        if (PQenterPipelineMode(c->conn) != 1)
            return pg_error(c, NULL, err, "enter pipeline mode");
        c->pipeline = 1;
        c->npend = 0;
    }
    c->lazy = 0;
    if (c->begin_next != NULL) {
        if (PQsendQueryParams(c->conn, c->begin_next, 0, NULL, NULL, NULL, NULL, 1) != 1)
            rc = pg_error(c, NULL, err, "begin a read");
        else
            rc = push_pending(c, "begin a read", -1, err);
        c->begin_next = NULL;
    }
    if (rc == CU_OK)
        rc = pipe_exec(c, q, slot, values, lengths, formats, types, nparams, NULL, err, what);
    end = pipeline_finish(c, rc == CU_OK ? res : NULL, rc == CU_OK ? err : &ignored);
    return rc == CU_OK ? end : rc;
}

/* read_pipeline_once, tried again once on a fresh session when it met a lost one (a backend
 * terminated, a server restarted while the connection sat in the pool, unnoticed by
 * conn_gone): if it was the first statement of a read transaction (nothing of it had run) or
 * a lone SELECT (it changes nothing), so that a request need not fail for what happened
 * before it began. */
static cu_rc read_pipeline(pg_conn *c, pg_query *q, int slot, const char *const *values,
                           const int *lengths, const int *formats, const Oid *types,
                           int nparams, PGresult **res, cu_err *err, const char *what)
{
    const char *begin = c->begin_next;
    cu_rc rc = read_pipeline_once(c, q, slot, values, lengths, formats, types, nparams, res,
                                  err, what);

    if (rc != CU_OK && c->broken && (begin != NULL || strncmp(q->sql, "SELECT ", 7) == 0) &&
        conn_revive(c, &(cu_err){0}) == CU_OK) {
        c->begin_next = begin;
        rc = read_pipeline_once(c, q, slot, values, lengths, formats, types, nparams, res, err,
                                what);
    }
    return rc;
}

/* Reads what a read's end left unread (pg_conn_read_end) and leaves pipeline mode: before a
 * statement that runs outside a pipeline. Its answers were sent already: a wait, counted as a
 * round trip. */
static cu_rc settle(pg_conn *c, cu_err *err)
{
    cu_rc rc;

    if (!c->lazy)
        return CU_OK;
    trip();
    c->lazy = 0;
    rc = drain(c, NULL, err);
    if (PQexitPipelineMode(c->conn) != 1)
        c->broken = 1;
    c->pipeline = 0;
    c->npend = 0;
    return rc;
}

/* The parameters in libpq's binary form (ints: room for each bigint's 8 bytes). */
static void bind_params(const pg_param *params, int nparams, const char **values, int *lengths,
                        int *formats, Oid *types, uint8_t (*ints)[8])
{
    for (int i = 0; i < nparams; i++) {
        formats[i] = 1;
        types[i] = params[i].type;
        if (params[i].null) {
            values[i] = NULL;
            lengths[i] = 0;
        } else if (params[i].type == PG_OID_INT8) {
            uint64_t v = (uint64_t)params[i].i;
            for (int b = 0; b < 8; b++)
                ints[i][b] = (uint8_t)(v >> (56 - 8 * b));
            values[i] = (const char *)ints[i];
            lengths[i] = 8;
        } else {
            /* An empty bytea or text still needs a non-NULL pointer (NULL is SQL NULL). */
            values[i] = params[i].p ? (const char *)params[i].p : "";
            lengths[i] = params[i].len;
        }
    }
}

cu_rc pg_exec(pg_conn *c, pg_query *q, const pg_param *params, int nparams, PGresult **res,
              cu_err *err, const char *what)
{
    const char *values[64];
    int lengths[64], formats[64];
    Oid types[64];
    uint8_t ints[64][8];
    int slot = query_slot(q);
    char name[24];
    PGresult *r;
    ExecStatusType st;
    cu_rc rc;

    if (res != NULL)
        *res = NULL;
    if (nparams > (int)CU_ARRAY_LEN(values))
        return cu_err_set(err, CU_ERR_INVALID, "could not %s: too many parameters", what);
    if ((rc = slots_fit(c, slot, err)) != CU_OK)
        return rc;
    bind_params(params, nparams, values, lengths, formats, types, ints);
    if (c->pipeline && !c->lazy) /* apply's batch */
        return pipe_exec(c, q, slot, values, lengths, formats, types, nparams, res, err, what);
    if (c->lazy || c->begin_next != NULL)
        return read_pipeline(c, q, slot, values, lengths, formats, types, nparams, res, err,
                             what);
    if (!c->prepared[slot] && (rc = prepare(c, q, slot, params, nparams, err, what)) != CU_OK)
        return rc;
    snprintf(name, sizeof(name), "q%d", slot);
    trip();
    r = PQexecPrepared(c->conn, name, nparams, values, lengths, formats, 1);
    st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = pg_error(c, r, err, what);
        PQclear(r);
        return rc;
    }
    if (res != NULL)
        *res = r;
    else
        PQclear(r);
    return CU_OK;
}

/* Runs sql outside a pipeline, in one round trip. */
static cu_rc exec_plain(pg_conn *c, const char *sql, cu_err *err, const char *what)
{
    PGresult *r;
    ExecStatusType st;
    cu_rc rc = CU_OK;

    trip();
    r = PQexec(c->conn, sql);
    st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_error(c, r, err, what);
    PQclear(r);
    return rc;
}

cu_rc pg_exec_text(pg_conn *c, const char *sql, cu_err *err, const char *what)
{
    const char *begin = c->begin_next;
    cu_rc rc;

    /* In pipeline mode (BEGIN, COMMIT): one statement, sent in the extended protocol. */
    if (c->pipeline && !c->lazy) {
        if (PQsendQueryParams(c->conn, sql, 0, NULL, NULL, NULL, NULL, 1) != 1)
            return pg_error(c, NULL, err, what);
        return push_pending(c, what, -1, err);
    }
    if ((rc = settle(c, err)) != CU_OK)
        return rc;
    c->begin_next = NULL;
    if (begin != NULL && (rc = exec_plain(c, begin, err, "begin a read")) != CU_OK)
        return rc;
    return exec_plain(c, sql, err, what);
}

void pg_conn_read_begin(pg_conn *c, const char *sql)
{
    c->begin_next = sql;
    c->seen.valid = 0;
}

void pg_conn_read_end(pg_conn *c)
{
    c->seen.valid = 0;
    if (c->begin_next != NULL) { /* never begun: nothing to end */
        c->begin_next = NULL;
        return;
    }
    if (c->broken || c->pipeline || PQtransactionStatus(c->conn) == PQTRANS_IDLE)
        return; /* pg_conn_put rolls back what a broken session left open */
    /* Read only: nothing is lost if the COMMIT fails, so its answer can wait for the next
     * user; the sync after it keeps a failure from reaching that user's statements. */
    if (PQenterPipelineMode(c->conn) != 1) {
        c->broken = 1;
        return;
    }
    c->pipeline = 1;
    c->lazy = 1;
    c->npend = 0;
    if (PQsendQueryParams(c->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 1) != 1 ||
        push_entry(c, "end a read", -1, 0, 1, &(cu_err){0}) != CU_OK ||
        PQpipelineSync(c->conn) != 1 ||
        push_entry(c, "end a read", -1, 1, 1, &(cu_err){0}) != CU_OK)
        c->broken = 1; /* reset on its next use */
}

/* --- results ------------------------------------------------------------------------------ */

int pg_rows(const PGresult *res)
{
    return res ? PQntuples(res) : 0;
}

int64_t pg_changed(const PGresult *res)
{
    const char *n = res ? PQcmdTuples((PGresult *)(uintptr_t)res) : "";

    return n[0] ? strtoll(n, NULL, 10) : 0;
}

int pg_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col);
}

int64_t pg_i64(const PGresult *res, int row, int col)
{
    const uint8_t *p = (const uint8_t *)PQgetvalue(res, row, col);
    int len = PQgetlength(res, row, col);
    uint64_t v = 0;

    if (PQgetisnull(res, row, col))
        return 0;
    for (int b = 0; b < len && b < 8; b++)
        v = v << 8 | p[b];
    /* Sign-extend the narrower integer types (int4, int2); bool is one byte, 0 or 1. */
    if (len == 4)
        return (int64_t)(int32_t)(uint32_t)v;
    if (len == 2)
        return (int64_t)(int16_t)(uint16_t)v;
    return (int64_t)v;
}

cu_id pg_id(const PGresult *res, int row, int col)
{
    return (cu_id)pg_i64(res, row, col);
}

cu_rc pg_blob_copy(const PGresult *res, int row, int col, cu_blob *out, cu_err *err)
{
    int len = PQgetlength(res, row, col);

    out->data = NULL;
    out->len = 0;
    if (PQgetisnull(res, row, col))
        return CU_OK;
    out->data = malloc(len > 0 ? (size_t)len : 1);
    if (out->data == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    memcpy(out->data, PQgetvalue(res, row, col), (size_t)len);
    out->len = (size_t)len;
    return CU_OK;
}

void pg_text_copy(const PGresult *res, int row, int col, char *buf, size_t cap)
{
    size_t len = (size_t)PQgetlength(res, row, col);

    if (cap == 0)
        return;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, PQgetvalue(res, row, col), len);
    buf[len] = '\0';
}

char *pg_text_dup(const PGresult *res, int row, int col)
{
    size_t len = (size_t)PQgetlength(res, row, col);
    char *s = malloc(len + 1);

    if (s != NULL) {
        memcpy(s, PQgetvalue(res, row, col), len);
        s[len] = '\0';
    }
    return s;
}

void pg_blob32(const PGresult *res, int row, int col, uint8_t out[32])
{
    if (!PQgetisnull(res, row, col) && PQgetlength(res, row, col) == 32)
        memcpy(out, PQgetvalue(res, row, col), 32);
    else
        memset(out, 0, 32);
}

/* --- lists of rows ------------------------------------------------------------------------ */

cu_rc pg_collect_rows(const PGresult *res, size_t sz, pg_row_fn fn,
                      void (*free_fn)(void *list, size_t n), void **out, size_t *n, cu_err *err)
{
    int rows = pg_rows(res), i;
    char *list;
    cu_rc rc = CU_OK;

    *out = NULL;
    *n = 0;
    if (rows == 0)
        return CU_OK;
    if ((list = calloc((size_t)rows, sz)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (i = 0; i < rows && rc == CU_OK; i++)
        rc = fn(res, i, list + (size_t)i * sz, err);
    if (rc != CU_OK) {
        /* The failed row released its own parts: free the ones before it. */
        if (free_fn != NULL)
            free_fn(list, (size_t)(i - 1));
        else
            free(list);
        return rc;
    }
    *out = list;
    *n = (size_t)rows;
    return CU_OK;
}

cu_rc pg_read_exec(cu_store *base, pg_query *q, const pg_param *p, int np, PGresult **res,
                   cu_err *err, const char *what)
{
    pg_store *s = (pg_store *)base;
    pg_conn *c = NULL;
    cu_rc rc;

    *res = NULL;
    if ((rc = pg_read_get(s, 0, &c, err)) != CU_OK)
        return rc;
    rc = pg_exec(c, q, p, np, res, err, what);
    pg_read_put(s, c);
    return rc;
}

cu_rc pg_read_rows(cu_store *base, pg_query *q, const pg_param *p, int np, size_t sz,
                   pg_row_fn fn, void (*free_fn)(void *list, size_t n), void **out, size_t *n,
                   cu_err *err, const char *what)
{
    PGresult *res = NULL;
    cu_rc rc = pg_read_exec(base, q, p, np, &res, err, what);

    *out = NULL;
    *n = 0;
    if (rc == CU_OK)
        rc = pg_collect_rows(res, sz, fn, free_fn, out, n, err);
    PQclear(res);
    return rc;
}

/* --- the pool ----------------------------------------------------------------------------- */

/* The server's notices (e.g. "already exists, skipping") are not errors: not printed. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Acknowledged means durable (docs/store.md, guarantee 2): a session whose database or role
 * turned synchronous_commit off gets it back on; a stronger setting (remote_apply, a
 * synchronous standby) is kept (review 5, F6). */
static int durable_session(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SELECT set_config('synchronous_commit', 'on', false)"
                               " WHERE current_setting('synchronous_commit') = 'off'");
    int ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;

    PQclear(r);
    return ok ? 0 : -1;
}

static cu_rc conn_open(pg_store *s, pg_conn **out, cu_err *err)
{
    /* The URL's own settings win over these (expand_dbname: later keywords override). A
     * server that stops answering fails the request within about 10 s (TCP keepalives and
     * the kernel's user timeout), not when the kernel gives up on the connection. But for the
     * connection's name, after the URL so that it wins: from it other processes tell whether
     * this one, holding a lease, still lives (cu_store_instance, pg_vault.c's lease_gone). */
    char name[32];
    const char *const keys[] = {"connect_timeout",  "keepalives_idle", "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", "dbname",
                                "application_name", NULL};
    const char *const vals[] = {"5", "5", "2", "3", "10000", s->conninfo, name, NULL};
    pg_conn *c = calloc(1, sizeof(*c));
    char line[160];

    snprintf(name, sizeof(name), "custos:%lld", (long long)s->name);
    if (c == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK || durable_session(c->conn) != 0) {
        cu_rc rc = cu_err_set(err, c->conn ? CU_ERR_UNAVAILABLE : CU_ERR_NOMEM,
                              "could not connect to the database: %s",
                              c->conn ? first_line(PQerrorMessage(c->conn), line, sizeof(line))
                                      : "out of memory");
        PQfinish(c->conn);
        free(c);
        return rc;
    }
    PQsetNoticeProcessor(c->conn, quiet, NULL);
    *out = c;
    return CU_OK;
}

/* Whether the server has said, on an idle session's socket, that the session is over: a
 * backend terminated or a server stopped sends a FATAL message and closes the connection.
 * Asked without waiting before each use, so that a request meets a loss only when it happens
 * under it. An idle session receives nothing else (Custos does not LISTEN), but for a read's
 * end sent ahead (lazy), whose answers are read in; a failure there is a loss too. */
static int conn_gone(pg_conn *c)
{
    struct pollfd p = {.fd = PQsocket(c->conn), .events = POLLIN};

    if (p.fd < 0)
        return 1;
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (!c->lazy)
        return 1;
    return PQconsumeInput(c->conn) != 1 || PQstatus(c->conn) != CONNECTION_OK;
}

/* Resets a lost connection: its prepared statements went with its session. */
static cu_rc conn_revive(pg_conn *c, cu_err *err)
{
    char line[160];

    if (!c->broken && PQstatus(c->conn) == CONNECTION_OK && !conn_gone(c))
        return CU_OK;
    PQreset(c->conn);
    if (c->prepared != NULL)
        memset(c->prepared, 0, c->nprepared);
    c->own_txn = 0;
    c->pipeline = 0;
    c->lazy = 0;
    c->begin_next = NULL;
    c->npend = 0;
    if (PQstatus(c->conn) != CONNECTION_OK || durable_session(c->conn) != 0)
        return cu_err_set(err, CU_ERR_UNAVAILABLE, "could not reconnect to the database: %s",
                          first_line(PQerrorMessage(c->conn), line, sizeof(line)));
    c->broken = 0;
    return CU_OK;
}

cu_rc pg_conn_get(pg_store *s, pg_conn **out, cu_err *err)
{
    return pg_conn_get_wait(s, 10000, out, err);
}

cu_rc pg_conn_get_wait(pg_store *s, int wait_ms, pg_conn **out, cu_err *err)
{
    struct timespec until;
    pg_conn *c = NULL;
    cu_rc rc;
    int make = 0;

    if (s->parent != NULL)
        s = s->parent;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (s->free == NULL && s->nconns >= s->pool_size)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
            break;
    if (s->free != NULL) {
        c = s->free;
        s->free = c->next_free;
    } else if (s->nconns < s->pool_size) {
        s->nconns++; /* a place reserved; the connection is made outside the lock */
        make = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (c == NULL && !make)
        return cu_err_set(err, CU_ERR_UNAVAILABLE, "no free database connection");
    if (make) {
        if ((rc = conn_open(s, &c, err)) != CU_OK) {
            pthread_mutex_lock(&s->lock);
            s->nconns--;
            pthread_cond_signal(&s->cond);
            pthread_mutex_unlock(&s->lock);
            return rc;
        }
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->pool_size; i++)
            if (s->conns[i] == NULL) {
                s->conns[i] = c;
                break;
            }
        pthread_mutex_unlock(&s->lock);
    }
    if ((rc = conn_revive(c, err)) != CU_OK) {
        pg_conn_put(s, c);
        return rc;
    }
    *out = c;
    return CU_OK;
}

size_t pg_conn_spare(pg_store *s)
{
    size_t n;

    if (s->parent != NULL)
        s = s->parent;
    pthread_mutex_lock(&s->lock);
    n = s->pool_size - s->nconns;
    for (pg_conn *c = s->free; c != NULL; c = c->next_free)
        n++;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void pg_conn_put(pg_store *s, pg_conn *c)
{
    if (c == NULL)
        return;
    if (s->parent != NULL)
        s = s->parent;
    if (c->pipeline && !c->lazy) { /* a batch cut short: its results read, pipeline mode left */
        cu_err ignored;
        (void)pg_pipeline_end(c, &ignored);
    }
    c->begin_next = NULL;
    c->seen.valid = 0;
    /* A transaction left open (a failure between BEGIN and its end) must not reach the next
     * user; a connection in doubt is reset on its next use. A read's end sent ahead (lazy)
     * closes its own. */
    if (!c->broken && !c->lazy && PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
        PGresult *r;
        trip();
        r = PQexec(c->conn, "ROLLBACK");
        if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
            c->broken = 1;
        PQclear(r);
    }
    c->own_txn = 0;
    pthread_mutex_lock(&s->lock);
    /* A lost session most likely means the server restarted or went away: every idle
     * connection is then reset before its next use, so that one request, not one per pooled
     * connection, meets the loss. */
    if (c->broken)
        for (pg_conn *o = s->free; o != NULL; o = o->next_free)
            o->broken = 1;
    c->next_free = s->free;
    s->free = c;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void pg_conn_free(pg_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->conn);
    free(c->prepared);
    free(c->pend);
    free(c);
}
