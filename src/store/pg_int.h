/*
 * pg_int.h: what the files of the PostgreSQL backend share, and nothing else includes.
 *
 * pg_conn.c holds the pool of libpq connections, the prepared queries and the parameter and
 * result helpers; pg_schema.c the migrations (the DDL of each domain in pg_schema_*.c);
 * pg_store.c opening, closing, read scopes and snapshots; pg_write.c apply(), dispatched by a
 * table indexed by op kind to pg_w_<kind>; the domain files (pg_audit*.c, the vault's and the
 * data's) the ops and reads, each read named after the SQLite one (sq_x -> pg_x).
 *
 * Conventions: every integer column is bigint, blobs bytea, text text; parameters and results
 * travel in binary format; no SQL is assembled from input: every statement is a constant,
 * declared where it is used as `static pg_query Q_X = PG_QUERY("...")` and prepared once per
 * connection. tenant_id leads every primary, unique and foreign key; no query joins tenants.
 */
#ifndef CU_PG_INT_H
#define CU_PG_INT_H

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store_pg.h"

/* --- connections -------------------------------------------------------------------------- */

/* One pooled connection. Used by one thread at a time (taken from the pool). */
typedef struct pg_conn {
    PGconn *conn;
    uint8_t *prepared; /* per query slot: prepared on this connection */
    size_t nprepared;
    int broken;  /* the connection was lost: reset before its next use */
    int pinned;  /* held by a read scope or a snapshot, in its read transaction */
    int own_txn; /* pg_read_get began a read transaction that pg_read_put ends */
    struct pg_conn *next_free;
    /* Pipeline mode (apply): statements sent and not yet read, in order; each its what, and
     * for a prepare its query slot (unmarked if the prepare fails). */
    int pipeline;
    struct pg_pending {
        const char *what;
        int slot;  /* a prepare's slot, else -1 */
        int sync;  /* a sync point: its answer ends the statements before it */
        int quiet; /* a read's end: its failure is not the next user's */
    } *pend;
    size_t npend, cappend;
    /* A read's transaction, begun and ended without a round trip of its own (pg_conn_read_begin,
     * pg_conn_read_end): begin_next the BEGIN to send with the next statement; lazy: in
     * pipeline mode only for a read's COMMIT and sync, sent and not yet read. */
    const char *begin_next;
    int lazy;
    /* A subject's state as this connection's read transaction saw it (pg_data_read.c): a
     * record read in a scope brings its subject's, so that the scope's subject_state of it
     * costs no round trip. Valid while the connection is pinned, in that transaction. */
    struct pg_subject_seen {
        int valid, found, restricted;
        cu_id tenant, subject;
        int64_t last_activity;
    } seen;
} pg_conn;

typedef struct pg_store {
    cu_store base; /* must be first */
    char *conninfo;
    /* The pool: up to pool_size connections, made on demand, idle ones on free. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pg_conn **conns;
    size_t nconns, pool_size;
    pg_conn *free;
    cu_commit_stats stats; /* guarded by lock */
    int pipeline;          /* apply() in pipeline mode (CUSTOS_PG_PIPELINE=0: one round trip
                              per statement, for comparison) */
    /* A snapshot handle (pg_store.c): parent is the store it came from, pin the connection
     * holding its read transaction; every read of it runs there. NULL in the store itself. */
    struct pg_store *parent;
    pg_conn *pin;
    /* What its connections are named by, "custos:<name>" (conn_open): random, not 0. It is
     * also base.instance (cu_store_instance) where other processes can see those names. */
    cu_id name;
} pg_store;

/* A connection of the pool for apply() or a backend task, waiting up to 10 s for a free one
 * (CU_ERR_UNAVAILABLE after). A lost connection is reset first (PQreset); CU_ERR_UNAVAILABLE
 * if the server is still unreachable. Give it back with pg_conn_put. */
cu_rc pg_conn_get(pg_store *s, pg_conn **c, cu_err *err);
void pg_conn_put(pg_store *s, pg_conn *c);
/* The same, waiting at most wait_ms for a free connection (0: none if none is free). */
cu_rc pg_conn_get_wait(pg_store *s, int wait_ms, pg_conn **c, cu_err *err);
/* How many connections a pg_conn_get would find without waiting (free, or not made yet). */
size_t pg_conn_spare(pg_store *s);
/* Closes a connection (the pool's close). */
void pg_conn_free(pg_conn *c);

/* A connection for a read: the snapshot's, or the calling thread's read scope's (both already
 * in a REPEATABLE READ READ ONLY transaction), else one of the pool. A read that issues several
 * statements passes several = 1: outside a scope it then runs in a REPEATABLE READ READ ONLY
 * transaction of its own, so that it sees one snapshot (record_get with its fields);
 * pg_read_put ends it. One statement alone runs in autocommit. */
cu_rc pg_read_get(pg_store *s, int several, pg_conn **c, cu_err *err);
void pg_read_put(pg_store *s, pg_conn *c);

/* A read transaction on c (sql: its BEGIN, a constant), sent in one pipeline with the next
 * statement run on c, so that it costs no round trip of its own (issue 12, item 1). */
void pg_conn_read_begin(pg_conn *c, const char *sql);
/* Ends c's read transaction without waiting: COMMIT and a sync are sent, and their answers are
 * read by c's next user, behind its own (a batch's, a read's) or before a statement outside a
 * pipeline. Nothing is sent if the BEGIN never was. Read only: the COMMIT cannot lose a write,
 * and its failure is not reported. */
void pg_conn_read_end(pg_conn *c);

/* How many round trips to the server the calling thread has made so far (statements, prepares,
 * a batch's flushes and syncs; not connecting): tests/test_pg_trips.c counts them per request
 * (docs/store.md). */
unsigned long cu_store_pg_round_trips(void);

/* --- queries ------------------------------------------------------------------------------ */

/* A constant statement, prepared once per connection under the name of its slot (assigned on
 * first use, process-wide). */
typedef struct pg_query {
    const char *sql;
    int slot; /* 0 until first use; accessed atomically */
} pg_query;
#define PG_QUERY(text) {.sql = (text), .slot = 0}

/* Type oids of the parameters (pg_type.h is server-side). */
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20
#define PG_OID_TEXT 25

/* One parameter, built by the helpers below. Its type is given to PQprepare on the connection's
 * first use of the query, so a query's parameters must keep their types from call to call (a
 * NULL blob is pg_p_blob with data NULL, not pg_p_null). */
typedef struct pg_param {
    unsigned type; /* an Oid; 0: let the server infer it */
    int null;
    int64_t i;
    const void *p;
    int len;
} pg_param;

pg_param pg_p_i64(int64_t v);
pg_param pg_p_id(cu_id id); /* a cu_id as a bigint (two's complement) */
pg_param pg_p_blob(const void *data, size_t len); /* data NULL: SQL NULL */
pg_param pg_p_bytes(const cu_blob *b);            /* NULL or data NULL: SQL NULL */
pg_param pg_p_text(const char *s);                /* NULL: SQL NULL */
pg_param pg_p_null(void);                         /* NULL of a type the server infers */
pg_param pg_p_null_i64(void);                     /* a bigint NULL */

/* pg_exec(c, &Q_X, PG_P(pg_p_id(t), pg_p_i64(seq)), &res, err, "what"): the parameter array
 * and its length; without parameters pass NULL, 0. */
#define PG_P(...)                                                                                \
    (const pg_param[]){__VA_ARGS__},                                                             \
        (int)(sizeof((pg_param[]){__VA_ARGS__}) / sizeof(pg_param))

/* Runs q with params (binary), binary results, into *res (the caller PQclear()s it; res NULL:
 * cleared here). Prepares q on c first if c has not yet. CU_OK for a command or rows; else
 * *res is NULL and the error mapped by pg_error.
 *
 * In pipeline mode (apply(), pg_pipeline_begin) a statement whose result is not asked for (res
 * NULL) is only sent: CU_OK means sent, and its failure is returned by the next pg_exec that
 * asks for a result, or by pg_pipeline_end (the server skips every statement after a failed
 * one). A caller that must react to a statement's own error code, or read what it changed,
 * passes res: the statements sent before it are then read too (one round trip). */
cu_rc pg_exec(pg_conn *c, pg_query *q, const pg_param *params, int nparams, PGresult **res,
              cu_err *err, const char *what);
/* Runs a constant command text (no parameters, simple protocol: several statements may be
 * separated by semicolons): DDL, BEGIN, COMMIT. Inside apply() (pipeline mode) one statement
 * only, sent like a pg_exec without a result; use pg_exec with a pg_query there. */
cu_rc pg_exec_text(pg_conn *c, const char *sql, cu_err *err, const char *what);

/* Pipeline mode on c (pg_write.c's apply): pg_exec sends without waiting where it can (above).
 * pg_pipeline_end sends the sync, reads every result left (the first failure is returned) and
 * leaves pipeline mode; after a failure elsewhere it is still called, to leave the connection
 * clean (its error then ignored). */
cu_rc pg_pipeline_begin(pg_conn *c, cu_err *err);
cu_rc pg_pipeline_end(pg_conn *c, cu_err *err);

/* Maps a failure (res: its result, or NULL when none came) to a cu_rc with err set as "could
 * not <what>: ...": SQLSTATE 23505 CU_ERR_EXISTS, 23503 CU_ERR_NOT_FOUND, a lost connection
 * (08xxx, 57P01..57P03, no result) CU_ERR_UNAVAILABLE and the connection marked broken (reset
 * on its next use), 53100 (disk full) CU_ERR_IO, 40001 and 40P01 (serialization, deadlock)
 * CU_ERR_CONFLICT, otherwise CU_ERR_STORE. The message never carries a parameter value (only
 * the SQLSTATE, a constraint's name, or the server's text for errors that quote no value). */
cu_rc pg_error(pg_conn *c, const PGresult *res, cu_err *err, const char *what);

/* Reads row of res into out (an element zeroed first); on failure it releases what it filled
 * itself. */
typedef cu_rc (*pg_row_fn)(const PGresult *res, int row, void *out, cu_err *err);
/* Every row of res into a new array of sz-byte elements, read by fn (SQLite's sq_collect_rows):
 * *out NULL and *n 0 when there is none; the caller frees the array (and what its elements
 * own). On failure nothing is returned: free_fn (NULL: free) releases the rows read before. */
cu_rc pg_collect_rows(const PGresult *res, size_t sz, pg_row_fn fn,
                      void (*free_fn)(void *list, size_t n), void **out, size_t *n, cu_err *err);
/* One read: q with its parameters on a connection of the read path (pg_read_get, given back
 * before return), its result into *res (the caller PQclear()s it). */
cu_rc pg_read_exec(cu_store *base, pg_query *q, const pg_param *p, int np, PGresult **res,
                   cu_err *err, const char *what);
/* A read of a list: q with its parameters on a connection of the read path (pg_read_get),
 * every row collected by pg_collect_rows. */
cu_rc pg_read_rows(cu_store *base, pg_query *q, const pg_param *p, int np, size_t sz,
                   pg_row_fn fn, void (*free_fn)(void *list, size_t n), void **out, size_t *n,
                   cu_err *err, const char *what);

/* Rows of a result, and the rows a command changed (INSERT/UPDATE/DELETE). */
int pg_rows(const PGresult *res);
int64_t pg_changed(const PGresult *res);

/* Result helpers (binary results). A NULL column reads as 0, zeros or empty. */
int pg_null(const PGresult *res, int row, int col);
int64_t pg_i64(const PGresult *res, int row, int col); /* int8, int4, int2 or bool */
cu_id pg_id(const PGresult *res, int row, int col);
/* Copies a bytea column into out (caller frees out->data); NULL: out->data NULL, len 0. */
cu_rc pg_blob_copy(const PGresult *res, int row, int col, cu_blob *out, cu_err *err);
/* A text column into buf, truncated to cap - 1 bytes, NUL-terminated. */
void pg_text_copy(const PGresult *res, int row, int col, char *buf, size_t cap);
/* A text column as a new string (caller frees); NULL on allocation failure. */
char *pg_text_dup(const PGresult *res, int row, int col);
/* A 32-byte bytea column; another length (or NULL) reads as zeros. */
void pg_blob32(const PGresult *res, int row, int col, uint8_t out[32]);

/* --- apply -------------------------------------------------------------------------------- */

/* The op kinds, each with the name of its pg_w_<kind> function. */
#define PG_OP_KINDS(X)                                                                           \
    X(MASTER_ADD, master_add)                                                                    \
    X(TENANT_PUT, tenant_put)                                                                    \
    X(TENANT_STATE, tenant_state)                                                                \
    X(KEY_PUT, key_put)                                                                          \
    X(KEY_REWRAP, key_rewrap)                                                                    \
    X(KEY_DELETE, key_delete)                                                                    \
    X(SUBJECT_PUT, subject_put)                                                                  \
    X(SUBJECT_DELETE, subject_delete)                                                            \
    X(RECORD_PUT, record_put)                                                                    \
    X(RECORD_REPLACE, record_replace)                                                            \
    X(RECORD_DELETE, record_delete)                                                              \
    X(BLIND_PUT, blind_put)                                                                      \
    X(BLIND_DELETE, blind_delete)                                                                \
    X(COLLECTION_PUT, collection_put)                                                            \
    X(APIKEY_PUT, apikey_put)                                                                    \
    X(APIKEY_REVOKE, apikey_revoke)                                                              \
    X(USER_PUT, user_put)                                                                        \
    X(USER_DELETE, user_delete)                                                                  \
    X(USER_TOTP_PENDING, user_totp_pending)                                                      \
    X(USER_TOTP_ENABLE, user_totp_enable)                                                        \
    X(USER_LOGIN_FAILED, user_login_failed)                                                      \
    X(USER_LOGIN_OK, user_login_ok)                                                              \
    X(SESSION_PUT, session_put)                                                                  \
    X(SESSION_DELETE, session_delete)                                                            \
    X(SESSION_PURGE, session_purge)                                                              \
    X(AUDIT_APPEND, audit_append)                                                                \
    X(AUDIT_CHECKPOINT, audit_checkpoint)                                                        \
    X(AUDIT_PRUNE, audit_prune)                                                                  \
    X(POLICY_PUT, policy_put)                                                                    \
    X(SUBJECT_RESTRICT, subject_restrict)                                                        \
    X(SUBJECT_TOUCH, subject_touch)                                                              \
    X(CONSENT_PUT, consent_put)                                                                  \
    X(HOLD_PUT, hold_put)                                                                        \
    X(HOLD_RELEASE, hold_release)                                                                \
    X(RECORD_ANONYMIZE, record_anonymize)                                                        \
    X(TENANT_CLOSE, tenant_close)                                                                \
    X(TENANT_SHRED, tenant_shred)                                                                \
    X(RECORD_EXPIRE, record_expire)                                                              \
    X(RESEAL, reseal)                                                                            \
    X(DATA_KEY_DESTROY, data_key_destroy)                                                        \
    X(SESSION_TOUCH, session_touch)                                                              \
    X(USER_SESSIONS_END, user_sessions_end)                                                      \
    X(AUDIT_KEY_PUT, audit_key_put)                                                              \
    X(POLICY_GRANT, policy_grant)                                                                \
    X(AUDIT_HEAD_CHECK, audit_head_check)                                                        \
    X(LEASE_TAKE, lease_take)                                                                    \
    X(LEASE_RELEASE, lease_release)                                                              \
    X(ERASE_ROWS, erase_rows)                                                                    \
    X(REQUEST_PUT, request_put)                                                                  \
    X(REQUEST_UPDATE, request_update)                                                            \
    X(RECORD_RETAIN, record_retain)                                                              \
    X(AUDIT_SUBJECT_INDEX, audit_subject_index)                                                  \
    X(ERASURE_CERT, erasure_cert)                                                                \
    X(ERASE_GUARD, erase_guard)                                                                  \
    X(TENANT_GEN, tenant_gen)                                                                    \
    X(POLICY_WITHDRAW, policy_withdraw)                                                          \
    X(POLICY_IN_FORCE, policy_in_force)                                                          \
    X(WEBHOOK_EVENT, webhook_event)                                                              \
    X(WEBHOOK_ENDPOINT_PUT, webhook_endpoint_put)                                                \
    X(WEBHOOK_ENDPOINT_DELETE, webhook_endpoint_delete)                                          \
    X(WEBHOOK_CLAIM, webhook_claim)                                                              \
    X(WEBHOOK_ATTEMPT, webhook_attempt)                                                          \
    X(WEBHOOK_RESEND, webhook_resend)                                                            \
    X(WEBHOOK_PRUNE, webhook_prune)                                                              \
    X(DISCLOSURE_PUT, disclosure_put)                                                            \
    X(INCIDENT_PUT, incident_put)                                                                \
    X(INCIDENT_NOTICE, incident_notice)                                                          \
    X(INCIDENT_REVOKED, incident_revoked)                                                        \
    X(SSO_CONFIG_PUT, sso_config_put)                                                            \
    X(SSO_LOGIN_PUT, sso_login_put)                                                              \
    X(SSO_LOGIN_TAKE, sso_login_take)                                                            \
    X(SSO_LINK_PUT, sso_link_put)                                                                \
    X(SSO_LINK_DROP, sso_link_drop)                                                              \
    X(SSO_SESSIONS_END, sso_sessions_end)                                                        \
    X(ANALYTICS_BUDGET, analytics_budget)                                                        \
    X(ANALYTICS_SPEND, analytics_spend)

/* Each op's apply function, called inside apply()'s transaction on c (pg_write.c). Owners:
 * the audit ops but AUDIT_KEY_PUT pg-base (pg_audit.c); the vault's ops (master keys, tenants,
 * keys, collections, API keys, users, sessions, policies, leases, RESEAL, DATA_KEY_DESTROY,
 * TENANT_*) pg_vault*.c; the data's (subjects, records, index, consents, holds, erasure,
 * requests) pg_data*.c. */
#define PG_W_DECL(KIND, name) cu_rc pg_w_##name(pg_conn *c, const cu_store_op *op, cu_err *err);
PG_OP_KINDS(PG_W_DECL)
#undef PG_W_DECL

/* apply() and apply_chained() (pg_write.c). */
cu_rc pg_apply(cu_store *base, const cu_store_op *ops, size_t n, cu_err *err);
cu_rc pg_apply_chained(cu_store *base, const cu_store_op *prev, size_t nprev,
                       cu_store_chain_fn fn, void *arg, cu_err *err);
/* The tenant's audit head read on c, inside apply's transaction once its chain is locked
 * (pg_audit.c): seq 0 and zeros if the chain is empty. */
cu_rc pg_audit_head_locked(pg_conn *c, cu_id tenant, uint64_t *seq, uint8_t hash[32],
                           cu_err *err);

/* --- cross-domain calls, inside apply()'s transaction ------------------------------------- */

/* pg-data: queues the erasure of a subject whose key KEY_DELETE has just destroyed (P-DSR-4). */
cu_rc pg_erase_queue(pg_conn *c, cu_id tenant, cu_id subject, cu_err *err);
/* pg-data: everything of the tenant's data domain TENANT_SHRED removes (records, fields, index
 * entries, subjects, holds, consents, erasures, requests, certificates). */
cu_rc pg_tenant_data_delete(pg_conn *c, cu_id tenant, cu_err *err);
/* pg-data: what TENANT_CLOSE removes of the data domain: the consent ledger but a held
 * subject's (all of it under a tenant-wide hold, P-RET-5), requests, erasure certificates. */
cu_rc pg_tenant_data_close(pg_conn *c, cu_id tenant, cu_err *err);
/* pg-base: the tenant's audit rows a shred removes (the subject index and its mark; the log
 * itself stays, as in SQLite). */
cu_rc pg_tenant_audit_delete(pg_conn *c, cu_id tenant, cu_err *err);
/* pg-data: whether a hold in force covers the record (record != 0) or the subject as a whole
 * (record 0), as cu_store_hold_covers defines it (docs/store.md), into *held. */
cu_rc pg_held(pg_conn *c, cu_id tenant, cu_id subject, cu_id record, int *held, cu_err *err);

/* --- schema ------------------------------------------------------------------------------- */

/* Each domain's tables, run by pg_schema.c's version 1 (pg_schema_vault.c, pg_schema_data.c;
 * the audit domain's in pg_schema.c). */
extern const char pg_ddl_vault[];
extern const char pg_ddl_data[];
extern const char pg_ddl_audit[];
/* Upgrades the database's schema to the newest version, on c (pg_schema.c). */
cu_rc pg_migrate(pg_conn *c, cu_err *err);

/* --- the store's own ops (pg_store.c) ----------------------------------------------------- */

void pg_close(cu_store *base);
void pg_commit_stats(cu_store *base, cu_commit_stats *out);
/* Adds one commit's latency to the stats. */
void pg_record_commit(pg_store *s, double secs);
cu_rc pg_checkpoint(cu_store *base, cu_err *err);
cu_rc pg_snapshot(cu_store *base, cu_store **out, cu_err *err);
int pg_read_begin(cu_store *base);
void pg_read_end(cu_store *base);
/* A backup's snapshot, written as a SQLite vault database (pg_backup.c). */
cu_rc pg_dump(cu_store *base, const char *dest, int *schema_version, cu_err *err);

/* --- reads (each named after the SQLite backend's) ---------------------------------------- */

/* The audit domain (pg_audit_read.c, pg-base). */
cu_rc pg_audit_head(cu_store *base, cu_id tenant, uint64_t *seq, uint8_t hash[32], cu_err *err);
cu_rc pg_audit_list(cu_store *base, cu_id tenant, const cu_audit_filter *f, cu_audit_entry **out,
                    size_t *n, cu_err *err);
cu_rc pg_audit_scan(cu_store *base, cu_id tenant, uint64_t from,
                    int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err);
cu_rc pg_audit_rows(cu_store *base, cu_id tenant, uint64_t from, uint64_t to,
                    int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err);
cu_rc pg_audit_seq_before(cu_store *base, cu_id tenant, int64_t before_ms, uint64_t *seq,
                          cu_err *err);
cu_rc pg_audit_checkpoints(cu_store *base, cu_id tenant, cu_audit_checkpoint **out, size_t *n,
                           cu_err *err);
cu_rc pg_audit_by_subject(cu_store *base, cu_id tenant, cu_id subject, uint64_t after, size_t limit,
                          cu_store_access **out, size_t *n, cu_err *err);

/* The vault domain (pg-vault). */
cu_rc pg_audit_key_get(cu_store *base, uint8_t pk[32], int *found, int *checkpoints, cu_err *err);
cu_rc pg_policy_grant_get(cu_store *base, cu_id tenant, int *admins, cu_err *err);
cu_rc pg_policy_get(cu_store *base, cu_id tenant, unsigned *version, char **text, cu_err *err);
cu_rc pg_policy_versions(cu_store *base, cu_id tenant, cu_store_policy_version **out, size_t *n,
                         cu_err *err);
cu_rc pg_policy_at(cu_store *base, cu_id tenant, unsigned *version, char **text,
                   int64_t *created_at, cu_err *err);
cu_rc pg_master_list(cu_store *base, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                     cu_err *err);
cu_rc pg_tenant_get(cu_store *base, cu_id id, cu_store_tenant *out, cu_err *err);
cu_rc pg_tenant_list(cu_store *base, cu_store_tenant **out, size_t *n, cu_err *err);
cu_rc pg_key_get(cu_store *base, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                 cu_store_key *out, cu_err *err);
cu_rc pg_key_list(cu_store *base, cu_id tenant, cu_key_kind kind, cu_store_key **out, size_t *n,
                  cu_err *err);
cu_rc pg_collection_get(cu_store *base, cu_id tenant, const char *name, char **spec, cu_err *err);
cu_rc pg_apikey_get(cu_store *base, cu_id id, cu_store_apikey *out, cu_err *err);
cu_rc pg_apikey_list(cu_store *base, cu_id tenant, cu_store_apikey **out, size_t *n, cu_err *err);
cu_rc pg_user_get(cu_store *base, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err);
cu_rc pg_user_find(cu_store *base, cu_id tenant, const uint8_t digest[32], cu_store_user *out,
                   cu_err *err);
cu_rc pg_user_list(cu_store *base, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err);
cu_rc pg_session_get(cu_store *base, const uint8_t token_hash[32], cu_store_session *out,
                     cu_err *err);

/* The data domain (pg-data). */
cu_rc pg_record_meta_list(cu_store *base, cu_id tenant, cu_id after, size_t limit,
                          cu_store_record_meta **out, size_t *n, cu_err *err);
cu_rc pg_subject_ids(cu_store *base, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                     size_t *n, cu_err *err);
cu_rc pg_subject_state(cu_store *base, cu_id tenant, cu_id subject, int *restricted,
                       int64_t *last_activity, cu_err *err);
cu_rc pg_consent_list(cu_store *base, cu_id tenant, cu_id subject, const char *purpose,
                      cu_store_consent **out, size_t *n, cu_err *err);
cu_rc pg_hold_list(cu_store *base, cu_id tenant, cu_store_hold **out, size_t *n, cu_err *err);
cu_rc pg_erasure_list(cu_store *base, cu_id after_tenant, cu_id after_subject, size_t limit,
                      cu_store_erasure **out, size_t *n, cu_err *err);
/* Disclosures (pg_disclosure.c, P-SHR-1): migration 6's DDL, the tenant's rows at its close
 * and shred (P-RET-2), the read. */
extern const char pg_ddl_disclosures[];
cu_rc pg_tenant_disclosures_delete(pg_conn *c, cu_id tenant, cu_err *err);
/* The tenant's analytics budget at its close and shred (pg_analytics.c, P-ISO-2). */
cu_rc pg_tenant_analytics_delete(pg_conn *c, cu_id tenant, cu_err *err);
cu_rc pg_disclosure_list(cu_store *base, cu_id tenant, cu_id subject, size_t limit,
                         cu_store_disclosure **out, size_t *n, cu_err *err);
/* The webhook outbox (pg_webhook.c, pg_webhook_read.c): migration 5's DDL and the reads. */
extern const char pg_ddl_webhooks[];
/* P-RET-2: every webhook row of the tenant, at its close and its shred (pg_vault.c). */
cu_rc pg_tenant_webhooks_delete(pg_conn *c, cu_id tenant, cu_err *err);
cu_rc pg_webhook_endpoints(cu_store *base, cu_id tenant, cu_id id,
                           cu_store_webhook_endpoint **out, size_t *n, cu_err *err);
cu_rc pg_webhook_events(cu_store *base, cu_id tenant, cu_id id, cu_id before, size_t limit,
                        cu_store_webhook_event **out, size_t *n, cu_err *err);
cu_rc pg_webhook_deliveries(cu_store *base, cu_id tenant, cu_id event,
                            cu_store_webhook_delivery **out, size_t *n,
                            cu_store_webhook_attempt **attempts, size_t *na, cu_err *err);
cu_rc pg_webhook_due(cu_store *base, int64_t now, size_t limit, cu_store_webhook_job **out,
                     size_t *n, cu_err *err);
cu_rc pg_request_list(cu_store *base, cu_id tenant, cu_id id, cu_store_request **out, size_t *n,
                      cu_err *err);
cu_rc pg_request_list_subject(cu_store *base, cu_id tenant, cu_id subject,
                              cu_store_request **out, size_t *n, cu_err *err);
cu_rc pg_request_page(cu_store *base, cu_id tenant, const cu_store_request_query *q,
                      cu_store_request **out, size_t *n, cu_err *err);
cu_rc pg_subject_get(cu_store *base, cu_id tenant, cu_id id, cu_store_subject *out, cu_err *err);
cu_rc pg_record_get(cu_store *base, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err);
cu_rc pg_record_ids_by_subject(cu_store *base, cu_id tenant, cu_id subject, cu_id **ids, size_t *n,
                               cu_err *err);
cu_rc pg_record_ids_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                       cu_id **ids, size_t *n, cu_err *err);
cu_rc pg_record_counts(cu_store *base, cu_id tenant, cu_id subject, uint64_t limit,
                       cu_store_count **out, size_t *n, cu_err *err);
cu_rc pg_record_page_own(cu_store *base, cu_id tenant, int64_t after_created, cu_id after,
                         size_t limit, size_t max_bytes, cu_store_record **out, size_t *n,
                         cu_err *err);
cu_rc pg_record_page(cu_store *base, cu_id tenant, cu_id subject, int64_t after_created,
                     cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                     size_t *n, cu_err *err);
cu_rc pg_record_page_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                        int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                        cu_store_record **out, size_t *n, cu_err *err);
cu_rc pg_blind_find(cu_store *base, cu_id tenant, const char *scope, const uint8_t digest[32],
                    cu_id **ids, size_t *n, cu_err *err);
cu_rc pg_erasure_certificate(cu_store *base, cu_id tenant, cu_id subject, char **text,
                             cu_err *err);
cu_rc pg_subject_collections(cu_store *base, cu_id tenant, cu_id subject,
                             cu_store_collection_count **out, size_t *n, cu_err *err);

/* Single sign-on (pg_sso.c, P-ACC-5): migration 10's DDL and the reads. */
extern const char pg_ddl_sso[];
extern const char pg_ddl_sso_logins_by_tenant[];
extern const cu_store_sso_ops pg_sso_ops;
cu_rc pg_tenant_sso_delete(pg_conn *c, cu_id tenant, cu_err *err);
/* The sweeper's: every tenant's SSO logins that expired before `before` (pg_sso.c). */
cu_rc pg_sso_logins_expire(pg_conn *c, int64_t before, cu_err *err);

/* Breach incidents (pg_incident.c, P-BRE-1): migration 7's DDL and the reads. */
extern const char pg_ddl_incidents[];
extern const char pg_ddl_incident_keys[];
/* The analytics privacy budget (pg_analytics.c, P-ANA-1): migration 8's DDL and the read. */
extern const char pg_ddl_analytics[];
extern const cu_store_analytics_ops pg_analytics_ops;
extern const cu_store_incident_ops pg_incident_ops;
cu_rc pg_incident_list(cu_store *base, cu_id tenant, int all, cu_store_incident **out, size_t *n,
                       cu_err *err);
cu_rc pg_incident_get(cu_store *base, cu_id id, cu_store_incident *out,
                      cu_store_incident_hit **hits, size_t *nhits,
                      cu_store_incident_notice **notices, size_t *nnotices, cu_err *err);
cu_rc pg_audit_touches(cu_store *base, cu_id tenant, int64_t from_ms, int64_t to_ms,
                       int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg,
                       cu_err *err);

#endif
