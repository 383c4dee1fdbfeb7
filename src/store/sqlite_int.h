/*
 * sqlite_int.h: what the files of the SQLite backend share, and nothing else includes.
 *
 * sqlite_stmt.c holds every statement (prepared from the constants of sq_stmt_sql, never from
 * input) and the helpers that bind and run them; sqlite_schema.c the migrations, opening and
 * closing; sqlite_write.c apply(), dispatched by a table indexed by op kind; sqlite_read.c and
 * sqlite_read_log.c the reads. Each connection's calls are serialized by its mutex.
 */
#ifndef CU_SQLITE_INT_H
#define CU_SQLITE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <sqlite3.h>

#include "store_sqlite.h"

enum stmt_id {
    S_BEGIN,
    S_BEGIN_READ,
    S_COMMIT,
    S_ROLLBACK,
    S_MASTER_ADD,
    S_MASTER_LIST,
    S_TENANT_PUT,
    S_TENANT_STATE,
    S_TENANT_GEN,
    S_TENANT_GET,
    S_TENANT_LIST,
    S_KEY_PUT,
    S_KEY_REWRAP,
    S_KEY_DELETE,
    S_KEY_GET_LATEST,
    S_KEY_GET,
    S_KEY_LIST,
    S_VKEY_PUT,
    S_VKEY_REWRAP,
    S_SUBJECT_PUT,
    S_SUBJECT_DELETE,
    S_SUBJECT_RECORDS_BLIND_DELETE,
    S_SUBJECT_RECORDS_DELETE,
    S_SUBJECT_GET,
    S_RECORD_PUT,
    S_RECORD_REPLACE,
    S_RECORD_DELETE,
    S_RECORD_GET,
    S_RECORD_BY_SUBJECT,
    S_FIELDS_DELETE,
    S_FIELD_PUT,
    S_FIELD_PUT_RID,
    S_FIELDS_GET,
    S_BLIND_PUT,
    S_BLIND_DELETE,
    S_BLIND_FIND,
    S_COLLECTION_PUT,
    S_COLLECTION_GET,
    S_APIKEY_PUT,
    S_APIKEY_REVOKE,
    S_APIKEY_GET,
    S_APIKEY_LIST,
    S_USER_PUT,
    S_USER_SESSIONS_DELETE,
    S_USER_DELETE,
    S_USER_TOTP_PENDING,
    S_USER_TOTP_ENABLE,
    S_USER_LOGIN_FAILED,
    S_USER_LOGIN_OK,
    S_USER_GET,
    S_USER_FIND,
    S_USER_LIST,
    S_SESSION_PUT,
    S_SESSION_DELETE,
    S_SESSION_PURGE,
    S_SESSION_GET,
    S_SESSION_TOUCH,
    S_SESSION_PURGE_ALL,
    S_USER_SESSIONS_END,
    S_AUDIT_APPEND,
    S_AUDIT_HEAD,
    S_AUDIT_LIST,
    S_AUDIT_SCAN,
    S_AUDIT_BEFORE,
    S_AUDIT_PRUNE,
    S_CKPT_PUT,
    S_AUDIT_KEY_PUT,
    S_AUDIT_KEY_GET,
    S_POLICY_GRANT_PUT,
    S_POLICY_GRANT_GET,
    S_CKPT_LIST,
    S_POLICY_PUT,
    S_POLICY_GET,
    S_POLICY_AT,
    S_POLICY_VERSIONS,
    S_POLICY_WITHDRAW,
    S_POLICY_IN_FORCE,
    S_SUBJECT_RESTRICT,
    S_SUBJECT_TOUCH,
    S_SUBJECT_CONSENTS_DELETE,
    S_CONSENT_PUT,
    S_CONSENT_LIST,
    S_CONSENT_LAST,
    S_HOLD_PUT,
    S_HOLD_RELEASE,
    S_HOLD_LIST,
    S_RECORD_ANONYMIZE,
    S_RECORD_EXPIRE,
    S_RECORD_META,
    S_SUBJECT_IDS,
    S_RECORD_PAGE_SUBJECT,
    S_RECORD_PAGE_OWN,
    S_SUBJECT_STATE,
    S_HELD_RECORD,
    S_HELD_SUBJECT,
    S_HELD_TENANT,
    S_HELD_TENANT_WIDE,
    S_SUBJECT_KEY_EXISTS,
    S_T_SESSIONS_DELETE,
    S_T_USERS_DELETE,
    S_T_APIKEYS_DELETE,
    S_T_CONSENTS_DELETE,
    S_T_CONSENTS_UNHELD_DELETE,
    S_T_CLOSE,
    S_T_BLIND_DELETE,
    S_T_FIELDS_DELETE,
    S_T_RECORDS_DELETE,
    S_T_SUBJECTS_DELETE,
    S_T_HOLDS_DELETE,
    S_T_COLLECTIONS_DELETE,
    S_T_KEYS_DELETE,
    S_RESEAL_RECORD,
    S_RESEAL_FIELD,
    S_RESEAL_HOLD,
    S_RESEAL_USER_EMAIL,
    S_RESEAL_USER_TOTP,
    S_RESEAL_USER_PENDING,
    S_RESEAL_WEBHOOK_SECRET,
    S_RESEAL_SSO_SECRET,
    S_DATA_KEY_DESTROY,
    S_ERASE_QUEUE,
    S_ERASE_DEQUEUE,
    S_ERASING,
    S_ERASE_BLIND_BATCH,
    S_ERASE_RECORDS_BATCH,
    S_ERASE_LIST,
    S_T_ERASURES_DELETE,
    S_AUDIT_SUBJECT_PUT,
    S_AUDIT_SUBJECT_LIST,
    S_AUDIT_SUBJECT_PRUNE,
    S_SUBJECT_COLLECTIONS,
    S_RECORD_PAGE_IN,
    S_RECORD_PAGE_OWN_KEYED,
    S_RECORD_RETAIN,
    S_RETAIN_MARK,
    S_RECORD_IDS_IN,
    S_ERASE_KEEP,
    S_RETAINED_LEFT,
    S_RECORD_COUNTS,
    S_AUDIT_SUBJECT_CATCHUP,
    S_AUDIT_SUBJECT_MARK,
    S_WEBHOOK_DUE, /* sqlite_webhook_read.c's, listed so that the index check sees it */
    S_DISCLOSURES_OF, /* sqlite_disclosure.c's, likewise */
    S__COUNT
};

extern const char *const sq_stmt_sql[S__COUNT];

/*
 * Record ids from internal keys (migration 27, docs/store.md "Public record ids"): the next
 * internal key (rid) to hand out, and the core's permutation once set. A database's writer owns
 * it; the pool's readers point at their writer's (their custos_rid() needs the map).
 */
typedef struct sq_ids {
    _Atomic uint64_t next; /* above every rid ever used (sqlite_sequence) and handed out */
    _Atomic(const cu_store_idmap *) map;
    _Atomic int hands_out; /* the map's ids are this process's to make (not a database shared
                              by processes, CUSTOS_TEST_SHARED_DB: it only finds them) */
} sq_ids;

typedef struct sqlite_store {
    cu_store base; /* must be first */
    sqlite3 *db;
    sq_ids own_ids;
    sq_ids *ids; /* &own_ids, or the writer's */
    pthread_mutex_t lock;
    cu_commit_stats stats; /* guarded by lock */
    sqlite3_stmt *stmts[S__COUNT];
    int snapshot; /* a snapshot handle (sqlite_audit_subject.c): its reads run inside the read
                     transaction it holds, and open or end none of their own */
} sqlite_store;

/* sq_vfs (sqlite_vfs.c): the name of the VFS the writer opens its connection with, the default
 * VFS with a transaction's WAL appends gathered and written at its commit frame; NULL (the
 * default VFS itself) if it could not be registered. */
#define CU_SQLITE_VFS "custos-unix"
const char *sq_vfs(void);

/* sq_ids (sqlite_ids.c): custos_rid() registered on a new connection; the counter read from
 * the database (the writer, after its migrations); the ops. */
cu_rc sq_ids_register(sqlite_store *s, cu_err *err);
cu_rc sq_ids_load(sqlite_store *s, cu_err *err);
void sq_ids_share(sqlite_store *reader, sqlite_store *writer);
int sq_set_idmap(cu_store *base, const cu_store_idmap *m);
/* The map for lookups alone: this process makes no keyed ids (sq_set_idmap returns 0). */
void sq_set_idmap_lookup(cu_store *base, const cu_store_idmap *m);
cu_rc sq_record_id_new(cu_store *base, cu_id *out, cu_err *err);
/* Binds S_RECORD_PUT's ?10 (rid) and ?11 (keyed) for a record of id: the id's own key if it
 * is one this store handed out, else a fresh rid (keyed 0: an id made elsewhere, found by
 * records_by_id): the counter's while a map is set, else SQLite's (NULL). */
void sq_ids_bind_put(sqlite_store *s, sqlite3_stmt *st, cu_id id);

/* Maps a SQLite result code to a cu_rc with err set ("could not <what>: ..."). */
cu_rc sq_db_error(sqlite_store *s, int src, cu_err *err, const char *what);
/* Returns the cached statement id, reset and with bindings cleared, or NULL. */
sqlite3_stmt *sq_stmt(sqlite_store *s, enum stmt_id id);
int sq_bind_id(sqlite3_stmt *st, int i, cu_id id);
int sq_bind_blob(sqlite3_stmt *st, int i, const cu_blob *b);
/* Copies a blob column into out (caller frees out->data). */
cu_rc sq_blob_copy(sqlite3_stmt *st, int col, cu_blob *out, cu_err *err);
/* A nullable blob column: NULL leaves out->data NULL. */
cu_rc sq_blob_copy_opt(sqlite3_stmt *st, int col, cu_blob *out, cu_err *err);
/* Runs a statement that returns no rows (st NULL: the prepare's error). */
cu_rc sq_run(sqlite_store *s, sqlite3_stmt *st, cu_err *err, const char *what);
/* Rolls back whatever transaction is open on the connection. One left open (its COMMIT or
 * ROLLBACK failed, or could not even be prepared, out of memory) would fail every later BEGIN
 * on this connection: the cached statement first, then sqlite3_exec, which needs none. */
void sq_txn_abort(sqlite_store *s);
cu_rc sq_exec_ddl(sqlite_store *s, const char *sql, cu_err *err, const char *what);
/* The statement id with its two leading (tenant, id) parameters bound, or NULL. */
sqlite3_stmt *sq_stmt_pair(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj);
void sq_text_col(sqlite3_stmt *st, int col, char *out, size_t cap);
/* A 32-byte blob column; another length reads as zeros. */
void sq_blob32_col(sqlite3_stmt *st, int col, uint8_t out[32]);
/* Collects column 0 of every row of a prepared, bound statement as ids. */
cu_rc sq_collect_ids(sqlite_store *s, sqlite3_stmt *st, cu_id **ids, size_t *n, cu_err *err,
                     const char *what);

/* Reads one row of a statement into the element at row (zeroed); CU_OK or an error, after
 * which the element must still be safe to release. */
typedef cu_rc (*row_reader)(sqlite3_stmt *st, void *row, cu_err *err);
/* Steps a prepared, bound statement and collects every row, read by fn into elements of sz
 * bytes, into *out (the caller frees it, after free_fn on each element if the rows own memory)
 * and *n. Called with s->lock held; resets the statement. On failure releases what it read
 * with free_fn (or free). */
cu_rc sq_collect_rows(sqlite_store *s, sqlite3_stmt *st, size_t sz, row_reader fn,
                      void (*free_fn)(void *list, size_t n), void **out, size_t *n, cu_err *err,
                      const char *what);
/* Takes the lock and collects every row of statement id, with tenant bound as ?1 if it has
 * parameters (see sq_collect_rows). */
cu_rc sq_list(sqlite_store *s, enum stmt_id id, cu_id tenant, size_t sz, row_reader fn,
              void (*free_fn)(void *list, size_t n), void **out, size_t *n, cu_err *err,
              const char *what);
/* Steps a prepared, bound statement that selects at most one row and reads that row with fn
 * into row. No row is CU_ERR_NOT_FOUND with the message missing; st NULL is the prepare's
 * error, and a failed step that of the database, each as "could not <what>". Called with
 * s->lock held; resets the statement. */
cu_rc sq_one(sqlite_store *s, sqlite3_stmt *st, row_reader fn, void *row, cu_err *err,
             const char *what, const char *missing);

/* Several writers on one database (sqlite_coord.c): the apply functions of
 * CU_OP_AUDIT_HEAD_CHECK, CU_OP_LEASE_TAKE and CU_OP_LEASE_RELEASE, called inside apply()'s
 * transaction with s->lock held. */
cu_rc sq_w_audit_head_check(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_w_lease_take(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_w_lease_release(sqlite_store *s, const cu_store_op *op, cu_err *err);
/* Erasure (sqlite_erase.c, P-DSR-4). sq_erase_queue queues the erasure of a subject whose key
 * KEY_DELETE has just destroyed, and sq_w_erase_rows applies CU_OP_ERASE_ROWS, both inside
 * apply()'s transaction with s->lock held; sq_erasure_list is the store's erasure_list. */
cu_rc sq_erase_queue(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err);
cu_rc sq_erase_dequeue(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err);
cu_rc sq_w_erase_rows(sqlite_store *s, const cu_store_op *op, cu_err *err);
/* CU_OP_RECORD_RETAIN (P-RET-4), inside apply()'s transaction; sq_record_ids_in is the store's
 * record_ids_in. */
cu_rc sq_w_record_retain(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_record_ids_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                       cu_id **ids, size_t *n, cu_err *err);
cu_rc sq_record_counts(cu_store *base, cu_id tenant, cu_id subject, uint64_t limit,
                       cu_store_count **out, size_t *n, cu_err *err);
cu_rc sq_erasure_list(cu_store *base, cu_id after_tenant, cu_id after_subject, size_t limit,
                      cu_store_erasure **out, size_t *n, cu_err *err);
/* Migration 11: queues every subject an older build left without its key (an erasure cut
 * short), in the migration's transaction. */
cu_rc sq_erase_fill(sqlite_store *s, cu_err *err);
/* Data-subject requests (sqlite_request.c): migration 13's DDL, the apply function of
 * CU_OP_REQUEST_PUT and CU_OP_REQUEST_UPDATE (inside apply()'s transaction, s->lock held), and
 * the store's request_list. */
extern const char sq_migration_requests[];
/* Migration 17 and the erasure certificate's ops and read (sqlite_erase.c). */
extern const char sq_migration_erasure_certificates[];
cu_rc sq_w_erasure_cert(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_w_erase_guard(sqlite_store *s, const cu_store_op *op, cu_err *err);
/* Policy versions (sqlite_policy.c, P-NOT-1): migration 20 is the marker
 * sq_migration_policy_versions, after which migrate() runs sq_policy_versions_migrate. */
extern const char sq_migration_policy_versions[];
cu_rc sq_policy_versions_migrate(sqlite_store *s, cu_err *err);
cu_rc sq_w_policy_withdraw(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_w_policy_in_force(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_erasure_certificate(cu_store *base, cu_id tenant, cu_id subject, char **text,
                             cu_err *err);
/* The tenant's data-subject rows a purge deletes: requests, certificates, the audit log's
 * subject index and its marks (sqlite_erase.c, called by the tenant's shred). */
cu_rc sq_tenant_dsr_delete(sqlite_store *s, cu_id tenant, cu_err *err);
/* Set by cu_store_checkpoint_brief for its own call: the milliseconds sq_checkpoint waits for
 * readers (-1: the busy timeout). Per thread: the call and the checkpoint run in one. */
extern _Thread_local int sq_checkpoint_wait_ms;
cu_rc sq_w_request(sqlite_store *s, const cu_store_op *op, cu_err *err);
/* The webhook outbox (sqlite_webhook.c, sqlite_webhook_read.c): migration 21's DDL, the apply
 * function of every CU_OP_WEBHOOK_* (inside apply()'s transaction, s->lock held), the reads. */
extern const char sq_migration_webhooks[];
extern const char sq_webhook_due_sql[];
cu_rc sq_w_webhook(sqlite_store *s, const cu_store_op *op, cu_err *err);
/* P-RET-2: every webhook row of the tenant (its close and its shred, sq_tenant_dsr_delete). */
cu_rc sq_tenant_webhooks_delete(sqlite_store *s, cu_id tenant, cu_err *err);
cu_rc sq_webhook_endpoints(cu_store *base, cu_id tenant, cu_id id,
                           cu_store_webhook_endpoint **out, size_t *n, cu_err *err);
cu_rc sq_webhook_events(cu_store *base, cu_id tenant, cu_id id, cu_id before, size_t limit,
                        cu_store_webhook_event **out, size_t *n, cu_err *err);
cu_rc sq_webhook_deliveries(cu_store *base, cu_id tenant, cu_id event,
                            cu_store_webhook_delivery **out, size_t *n,
                            cu_store_webhook_attempt **attempts, size_t *na, cu_err *err);
cu_rc sq_webhook_due(cu_store *base, int64_t now, size_t limit, cu_store_webhook_job **out,
                     size_t *n, cu_err *err);
cu_rc sq_request_list(cu_store *base, cu_id tenant, cu_id id, cu_store_request **out, size_t *n,
                      cu_err *err);
cu_rc sq_request_list_subject(cu_store *base, cu_id tenant, cu_id subject,
                              cu_store_request **out, size_t *n, cu_err *err);
cu_rc sq_request_page(cu_store *base, cu_id tenant, const cu_store_request_query *q,
                      cu_store_request **out, size_t *n, cu_err *err);
/* Disclosures (sqlite_disclosure.c, P-SHR-1): migration 22's DDL, CU_OP_DISCLOSURE_PUT's apply
 * function, the tenant's rows at its close and shred (P-RET-2), the read. */
extern const char sq_migration_disclosures[];
extern const char sq_disclosures_of_sql[];
cu_rc sq_w_disclosure(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_tenant_disclosures_delete(sqlite_store *s, cu_id tenant, cu_err *err);
cu_rc sq_disclosure_list(cu_store *base, cu_id tenant, cu_id subject, size_t limit,
                         cu_store_disclosure **out, size_t *n, cu_err *err);

/* sqlite_audit_subject.c: the audit log's index by subject, and snapshot handles. */
/* AUDIT_SUBJECT_INDEX: the index catches up with the tenant's log. */
cu_rc sq_w_audit_subject_index(sqlite_store *s, const cu_store_op *op, cu_err *err);
/* Drops the index rows of entries up to seq (AUDIT_PRUNE). */
cu_rc sq_audit_subject_prune(sqlite_store *s, cu_id tenant, uint64_t upto, cu_err *err);
/* The migration's fill: indexes the entries written before the index existed. */
cu_rc sq_audit_subject_fill(sqlite_store *s, cu_err *err);
cu_rc sq_audit_by_subject(cu_store *base, cu_id tenant, cu_id subject, uint64_t after, size_t limit,
                          cu_store_access **out, size_t *n, cu_err *err);
cu_rc sq_snapshot(cu_store *base, cu_store **out, cu_err *err);
/* The dump op (sqlite_backup.c): VACUUM INTO dest from a connection of its own. */
cu_rc sq_dump(cu_store *w, const char *dest, int *schema_version, cu_err *err);
cu_rc sq_subject_collections(cu_store *base, cu_id tenant, cu_id subject,
                             cu_store_collection_count **out, size_t *n, cu_err *err);
/* sqlite_read.c */
cu_rc sq_record_page_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                        int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                        cu_store_record **out, size_t *n, cu_err *err);
cu_rc sq_record_page_own(cu_store *base, cu_id tenant, int64_t after_created, cu_id after,
                         size_t limit, size_t max_bytes, cu_store_record **out, size_t *n,
                         cu_err *err);
/* Whether s runs its reads' own transactions (0 for a snapshot handle, which holds one). */
int sq_own_txn(const sqlite_store *s);
/* Takes the exclusive flock on the database's lock file (custos.db: custos.lock beside it),
 * into *fd (-1 when a test build shares the database: CUSTOS_TEST_SHARED_DB=1). CU_ERR_CONFLICT if
 * another process holds it. Release with sq_dir_unlock (-1 is a no-op). */
cu_rc sq_dir_lock(const char *dbpath, int *fd, cu_err *err);
void sq_dir_unlock(int fd);

/* The WAL checkpoint off the commit path (sqlite_ckpt.c): a thread with its own connection to
 * path, woken by w's WAL hook when the WAL has grown; w's autocheckpoint is off from then on.
 * sq_ckpt_stop (NULL: a no-op) ends it before w closes. sq_ckpt_run runs w's own TRUNCATE
 * checkpoint (sq_checkpoint) with no background one under way. sq_ckpt_runs counts the
 * background checkpoints. */
typedef struct sq_ckpt sq_ckpt;
cu_rc sq_ckpt_start(const char *path, sqlite_store *w, sq_ckpt **out, cu_err *err);
void sq_ckpt_stop(sq_ckpt *c, sqlite_store *w);
cu_rc sq_ckpt_run(sq_ckpt *c, sqlite_store *w, cu_err *err);
uint64_t sq_ckpt_runs(sq_ckpt *c);

/* The ops of one connection, by file. */
cu_rc sq_apply(cu_store *base, const cu_store_op *ops, size_t n, cu_err *err);
void sq_commit_stats(cu_store *base, cu_commit_stats *out);
void sq_close(cu_store *base);
cu_rc sq_audit_head(cu_store *base, cu_id tenant, uint64_t *seq, uint8_t hash[32], cu_err *err);
cu_rc sq_audit_key_get(cu_store *base, uint8_t pk[32], int *found, int *checkpoints, cu_err *err);
cu_rc sq_policy_grant_get(cu_store *base, cu_id tenant, int *admins, cu_err *err);
cu_rc sq_audit_list(cu_store *base, cu_id tenant, const cu_audit_filter *f, cu_audit_entry **out,
                    size_t *n, cu_err *err);
cu_rc sq_audit_scan(cu_store *base, cu_id tenant, uint64_t from,
                    int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err);
cu_rc sq_audit_rows(cu_store *base, cu_id tenant, uint64_t from, uint64_t to,
                    int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err);
cu_rc sq_audit_seq_before(cu_store *base, cu_id tenant, int64_t before_ms, uint64_t *seq,
                          cu_err *err);
cu_rc sq_audit_checkpoints(cu_store *base, cu_id tenant, cu_audit_checkpoint **out, size_t *n,
                           cu_err *err);
cu_rc sq_policy_get(cu_store *base, cu_id tenant, unsigned *version, char **text, cu_err *err);
cu_rc sq_policy_at(cu_store *base, cu_id tenant, unsigned *version, char **text,
                   int64_t *created_at, cu_err *err);
cu_rc sq_policy_versions(cu_store *base, cu_id tenant, cu_store_policy_version **out, size_t *n,
                         cu_err *err);
cu_rc sq_record_meta_list(cu_store *base, cu_id tenant, cu_id after, size_t limit,
                          cu_store_record_meta **out, size_t *n, cu_err *err);
cu_rc sq_subject_ids(cu_store *base, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                     size_t *n, cu_err *err);
cu_rc sq_subject_state(cu_store *base, cu_id tenant, cu_id subject, int *restricted,
                       int64_t *last_activity, cu_err *err);
cu_rc sq_consent_list(cu_store *base, cu_id tenant, cu_id subject, const char *purpose,
                      cu_store_consent **out, size_t *n, cu_err *err);
cu_rc sq_hold_list(cu_store *base, cu_id tenant, cu_store_hold **out, size_t *n, cu_err *err);
cu_rc sq_master_list(cu_store *base, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                     cu_err *err);
cu_rc sq_tenant_get(cu_store *base, cu_id id, cu_store_tenant *out, cu_err *err);
cu_rc sq_tenant_list(cu_store *base, cu_store_tenant **out, size_t *n, cu_err *err);
cu_rc sq_key_get(cu_store *base, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                 cu_store_key *out, cu_err *err);
cu_rc sq_key_list(cu_store *base, cu_id tenant, cu_key_kind kind, cu_store_key **out, size_t *n,
                  cu_err *err);
cu_rc sq_subject_get(cu_store *base, cu_id tenant, cu_id id, cu_store_subject *out, cu_err *err);
cu_rc sq_record_get(cu_store *base, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err);
cu_rc sq_record_ids_by_subject(cu_store *base, cu_id tenant, cu_id subject, cu_id **ids, size_t *n,
                               cu_err *err);
cu_rc sq_record_page(cu_store *base, cu_id tenant, cu_id subject, int64_t after_created,
                     cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                     size_t *n, cu_err *err);
cu_rc sq_blind_find(cu_store *base, cu_id tenant, const char *scope, const uint8_t digest[32],
                    cu_id **ids, size_t *n, cu_err *err);
cu_rc sq_collection_get(cu_store *base, cu_id tenant, const char *name, char **spec, cu_err *err);
cu_rc sq_checkpoint(cu_store *base, cu_err *err);
cu_rc sq_apikey_get(cu_store *base, cu_id id, cu_store_apikey *out, cu_err *err);
cu_rc sq_apikey_list(cu_store *base, cu_id tenant, cu_store_apikey **out, size_t *n, cu_err *err);
cu_rc sq_user_get(cu_store *base, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err);
cu_rc sq_user_find(cu_store *base, cu_id tenant, const uint8_t digest[32], cu_store_user *out,
                   cu_err *err);
cu_rc sq_user_list(cu_store *base, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err);
cu_rc sq_session_get(cu_store *base, const uint8_t token_hash[32], cu_store_session *out,
                     cu_err *err);

/* Single sign-on (sqlite_sso.c, P-ACC-5): migration 26's DDL, the apply function of every
 * CU_OP_SSO_* (inside apply()'s transaction, s->lock held), the reads. */
extern const char sq_migration_sso[];
extern const cu_store_sso_ops sq_sso_ops;
cu_rc sq_w_sso(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_tenant_sso_delete(sqlite_store *s, cu_id tenant, cu_err *err);
cu_rc sq_sso_logins_expire(sqlite_store *s, int64_t before, cu_err *err);

/* Breach incidents (sqlite_incident.c, P-BRE-1): migration 23's DDL, the apply function of
 * every CU_OP_INCIDENT_* (inside apply()'s transaction, s->lock held), the reads. */
extern const char sq_migration_incidents[];
/* The analytics privacy budget (sqlite_analytics.c, P-ANA-1): migration 24's DDL, the apply
 * function of CU_OP_ANALYTICS_BUDGET and _SPEND, the read. */
extern const char sq_migration_analytics[];
extern const cu_store_analytics_ops sq_analytics_ops;
cu_rc sq_w_analytics(sqlite_store *s, const cu_store_op *op, cu_err *err);
extern const cu_store_incident_ops sq_incident_ops;
cu_rc sq_w_incident(sqlite_store *s, const cu_store_op *op, cu_err *err);
cu_rc sq_incident_list(cu_store *base, cu_id tenant, int all, cu_store_incident **out, size_t *n,
                       cu_err *err);
cu_rc sq_incident_get(cu_store *base, cu_id id, cu_store_incident *out,
                      cu_store_incident_hit **hits, size_t *nhits,
                      cu_store_incident_notice **notices, size_t *nnotices, cu_err *err);
cu_rc sq_audit_touches(cu_store *base, cu_id tenant, int64_t from_ms, int64_t to_ms,
                       int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg,
                       cu_err *err);

#endif
