/*
 * pg_store.c: the PostgreSQL backend of the store: opening and closing, the ops table, read
 * scopes and snapshots, the commit statistics and the checkpoint.
 *
 * A read scope (read_begin .. read_end) pins a connection of the pool to the calling thread in
 * a REPEATABLE READ READ ONLY transaction: every read the thread makes meanwhile sees the
 * committed state at its first read. A snapshot handle holds one such transaction, begun and
 * its snapshot taken at the call, until it is closed. Both are views of one state, as SQLite's
 * read transactions are.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pg_int.h"
#include "util.h"

#define POOL_DEFAULT 8
#define POOL_MAX 256

static const char begin_read[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/* The calling thread's read scope: its store and connection (one store at a time). */
static _Thread_local pg_store *scope_store;
static _Thread_local pg_conn *scope_conn;

int pg_read_begin(cu_store *base)
{
    pg_store *s = (pg_store *)base;
    pg_conn *c = NULL;
    cu_err err;

    if (s->parent != NULL)
        return 1; /* a snapshot is one state already */
    if (scope_store != NULL)
        return scope_store == s; /* a second begin is a no-op */
    /* Without a free connection the thread reads as if unscoped (store.h); the last free one
     * is left to apply(), so that scopes held by every worker never keep a commit waiting. */
    if (pg_conn_spare(s) < 2 || pg_conn_get_wait(s, 0, &c, &err) != CU_OK)
        return 0;
    pg_conn_read_begin(c, begin_read); /* sent with the first read: no round trip of its own */
    c->pinned = 1;
    scope_store = s;
    scope_conn = c;
    return 1;
}

void pg_read_end(cu_store *base)
{
    pg_store *s = (pg_store *)base;
    pg_conn *c = scope_conn;

    if (scope_store != s || c == NULL)
        return;
    scope_store = NULL;
    scope_conn = NULL;
    c->pinned = 0;
    /* Read only: the COMMIT is sent, its answer read by the connection's next user. */
    pg_conn_read_end(c);
    pg_conn_put(s, c);
}

cu_rc pg_read_get(pg_store *s, int several, pg_conn **out, cu_err *err)
{
    pg_conn *c = s->pin;
    cu_rc rc;

    if (c == NULL && scope_store == s)
        c = scope_conn;
    if (c != NULL) {
        if (c->broken)
            return cu_err_set(err, CU_ERR_UNAVAILABLE, "database connection lost");
        *out = c;
        return CU_OK;
    }
    if ((rc = pg_conn_get(s, &c, err)) != CU_OK)
        return rc;
    if (several) {
        pg_conn_read_begin(c, begin_read);
        c->own_txn = 1;
    }
    *out = c;
    return CU_OK;
}

void pg_read_put(pg_store *s, pg_conn *c)
{
    cu_err err;

    if (c == NULL)
        return;
    if (c->pinned) {
        /* A statement that failed in a scope or snapshot aborted its transaction: a new one
         * begins, so that later reads work (they may see a later state: store.h). */
        if (!c->broken && PQtransactionStatus(c->conn) == PQTRANS_INERROR &&
            pg_exec_text(c, "ROLLBACK", &err, "end a read scope") == CU_OK) {
            c->seen.valid = 0; /* what the aborted transaction saw */
            (void)pg_exec_text(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1",
                               &err, "begin a read scope");
        }
        return;
    }
    if (c->own_txn)
        pg_conn_read_end(c);
    pg_conn_put(s, c);
}

/* --- commit statistics -------------------------------------------------------------------- */

void pg_record_commit(pg_store *s, double secs)
{
    size_t b;

    for (b = 0; b < CU_COMMIT_BUCKETS && secs > cu_commit_bounds[b]; b++)
        ;
    pthread_mutex_lock(&s->lock);
    s->stats.bucket[b]++;
    s->stats.count++;
    s->stats.seconds += secs;
    pthread_mutex_unlock(&s->lock);
}

void pg_commit_stats(cu_store *base, cu_commit_stats *out)
{
    pg_store *s = (pg_store *)base;

    if (s->parent != NULL)
        s = s->parent;
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

/* --- checkpoint --------------------------------------------------------------------------- */

/* P-DSR-4: the committed deletes made final where a vacuum can: VACUUM of the tables whose rows
 * are keys and credentials (a destroyed subject key is the erasure itself), outside a
 * transaction. Their dead rows leave the table's live data and its indexes. It overwrites
 * nothing: a removed row's bytes stay in free space and in the server's WAL until reused
 * (docs/store.md). The large tables (records, fields, subjects, index) are left to autovacuum:
 * a vacuum of them costs hundreds of milliseconds at a few hundred thousand records whatever
 * was deleted, on every erasure, for no byte it would erase. */
cu_rc pg_checkpoint(cu_store *base, cu_err *err)
{
    pg_store *s = (pg_store *)base;
    pg_conn *c = NULL;
    cu_rc rc;

    if (s->parent != NULL)
        return cu_err_set(err, CU_ERR_INVALID, "a snapshot cannot checkpoint");
    if ((rc = pg_conn_get(s, &c, err)) != CU_OK)
        return rc;
    rc = pg_exec_text(c, "VACUUM keys, users, sessions, holds", err, "vacuum");
    pg_conn_put(s, c);
    return rc;
}

/* --- snapshots ---------------------------------------------------------------------------- */

static const cu_store_ops pg_snapshot_ops;

static void snapshot_close(pg_store *snap)
{
    pg_conn *c = snap->pin;

    if (c != NULL) {
        c->pinned = 0;
        pg_conn_read_end(c);
        pg_conn_put(snap->parent, c);
    }
    free(snap);
}

cu_rc pg_snapshot(cu_store *base, cu_store **out, cu_err *err)
{
    pg_store *s = (pg_store *)base;
    pg_store *snap;
    pg_conn *c = NULL;
    cu_rc rc;

    if (s->parent != NULL)
        return cu_err_set(err, CU_ERR_INVALID, "a snapshot of a snapshot");
    snap = calloc(1, sizeof(*snap));
    if (snap == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if ((rc = pg_conn_get(s, &c, err)) != CU_OK) {
        free(snap);
        return rc;
    }
    /* The snapshot is taken by the transaction's first statement: now, not at the first read. */
    rc = pg_exec_text(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1", err,
                      "begin a snapshot");
    if (rc != CU_OK) {
        pg_conn_put(s, c);
        free(snap);
        return rc;
    }
    c->pinned = 1;
    snap->base.ops = &pg_snapshot_ops;
    snap->base.instance = s->base.instance;
    snap->name = s->name;
    snap->parent = s;
    snap->pin = c;
    *out = &snap->base;
    return CU_OK;
}

/* --- open and close ----------------------------------------------------------------------- */

void pg_close(cu_store *base)
{
    pg_store *s = (pg_store *)base;

    if (s == NULL)
        return;
    if (s->parent != NULL) {
        snapshot_close(s);
        return;
    }
    for (size_t i = 0; i < s->pool_size && s->conns != NULL; i++)
        pg_conn_free(s->conns[i]);
    free(s->conns);
    free(s->conninfo);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The pool's size: the URL's own custos_pool=N (taken out of the URL: libpq refuses a
 * parameter it does not know), else CUSTOS_STORE_POOL, else POOL_DEFAULT. conninfo without it
 * into *out (caller frees). CU_ERR_INVALID for a size out of 1..POOL_MAX. */
static cu_rc pool_setting(const char *conninfo, char **out, size_t *size, cu_err *err)
{
    static const char key[] = "custos_pool=";
    const char *env = getenv("CUSTOS_STORE_POOL"), *q = strchr(conninfo, '?'), *v = env;
    char *url = strdup(conninfo), *end = NULL;
    long n;

    if (url == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (const char *p = q; p != NULL; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, key, sizeof(key) - 1) != 0)
            continue;
        size_t at = (size_t)(p - conninfo), len = strcspn(p + 1, "&") + 1;
        v = p + sizeof(key);
        /* Drop "?custos_pool=N" or "&custos_pool=N"; a following "&x" becomes "?x". */
        memmove(url + at, url + at + len, strlen(url + at + len) + 1);
        if (*p == '?' && url[at] == '&')
            url[at] = '?';
        break;
    }
    *size = POOL_DEFAULT;
    if (v != NULL && *v != '\0') {
        n = strtol(v, &end, 10);
        if (end == v || (*end != '\0' && *end != '&') || n < 1 || n > POOL_MAX) {
            free(url);
            return cu_err_set(err, CU_ERR_INVALID, "store pool size must be 1 to %d",
                              POOL_MAX);
        }
        *size = (size_t)n;
    }
    *out = url;
    return CU_OK;
}

/* Whether connections' names can tell who lives (a lease this store takes is then free once
 * its connections are gone, and it may judge another's: pg_vault.c, lease_gone): where the
 * role reads pg_stat_activity (the query itself, as lease_gone runs it: a REVOKE of the view
 * or of the function under it both fail it), and not on Citus, whose servers may reach
 * different nodes, each with a pg_stat_activity of its own (docs/scaling.md). Else
 * base.instance stays 0: this store's leases lapse at their expiry only, and it frees none
 * early. Decided once, at open. */
static pg_query Q_NAMES_READ =
    PG_QUERY("SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid()");
static pg_query Q_CITUS =
    PG_QUERY("SELECT count(*) FROM pg_extension WHERE extname = 'citus'");

static void names_seen(pg_store *s, pg_conn *c)
{
    PGresult *res = NULL;
    cu_err ignored = {0};

    if (pg_exec(c, &Q_NAMES_READ, NULL, 0, NULL, &ignored, "read connections") == CU_OK &&
        pg_exec(c, &Q_CITUS, NULL, 0, &res, &ignored, "read extensions") == CU_OK &&
        pg_rows(res) > 0 && pg_i64(res, 0, 0) == 0)
        s->base.instance = s->name;
    PQclear(res);
}

cu_rc cu_store_pg_open(const char *conninfo, cu_store **out, cu_err *err)
{
    pg_store *s = calloc(1, sizeof(*s));
    pg_conn *c = NULL;
    cu_rc rc;

    if (s == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    s->base.ops = &cu_store_pg;
    while (s->name == 0)
        if (getrandom(&s->name, sizeof(s->name), 0) != (ssize_t)sizeof(s->name)) {
            free(s);
            return cu_err_set(err, CU_ERR_IO, "could not read random bytes");
        }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if ((rc = pool_setting(conninfo, &s->conninfo, &s->pool_size, err)) != CU_OK) {
        pg_close(&s->base);
        return rc;
    }
    /* Pipeline mode unless CUSTOS_PG_PIPELINE=0 (bench/bench_pg_apply.c compares the two). */
    s->pipeline = getenv("CUSTOS_PG_PIPELINE") == NULL || strcmp(getenv("CUSTOS_PG_PIPELINE"), "0");
    s->conns = calloc(s->pool_size, sizeof(*s->conns));
    if (s->conns == NULL) {
        pg_close(&s->base);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    if ((rc = pg_conn_get(s, &c, err)) == CU_OK) {
        if ((rc = pg_migrate(c, err)) == CU_OK)
            names_seen(s, c);
        pg_conn_put(s, c);
    }
    if (rc != CU_OK) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return CU_OK;
}

static cu_rc pg_open(const char *target, cu_store **out, cu_err *err)
{
    return cu_store_pg_open(target, out, err);
}

static cu_rc snapshot_apply(cu_store *base, const cu_store_op *ops, size_t n, cu_err *err)
{
    (void)base;
    (void)ops;
    (void)n;
    return cu_err_set(err, CU_ERR_INVALID, "a snapshot is read-only");
}

/* The reads, the same in the store and in its snapshots. */
#define PG_READS                                                                                 \
    .erasure_list = pg_erasure_list, .audit_head = pg_audit_head,                                \
    .audit_key_get = pg_audit_key_get, .policy_grant_get = pg_policy_grant_get,                  \
    .audit_list = pg_audit_list, .audit_scan = pg_audit_scan, .audit_rows = pg_audit_rows,       \
    .audit_seq_before = pg_audit_seq_before, .audit_checkpoints = pg_audit_checkpoints,          \
    .policy_get = pg_policy_get, .policy_at = pg_policy_at,                                      \
    .policy_versions = pg_policy_versions,                                                       \
    .record_meta_list = pg_record_meta_list, .subject_ids = pg_subject_ids,                      \
    .subject_state = pg_subject_state, .consent_list = pg_consent_list,                          \
    .hold_list = pg_hold_list, .request_list = pg_request_list, .master_list = pg_master_list,  \
    .request_list_subject = pg_request_list_subject,                                             \
    .request_page = pg_request_page,                                                             \
    .tenant_get = pg_tenant_get, .tenant_list = pg_tenant_list, .key_get = pg_key_get,           \
    .key_list = pg_key_list, .subject_get = pg_subject_get, .record_get = pg_record_get,         \
    .record_ids_by_subject = pg_record_ids_by_subject, .record_ids_in = pg_record_ids_in,        \
    .record_counts = pg_record_counts, .record_page = pg_record_page,                            \
    .blind_find = pg_blind_find, .collection_get = pg_collection_get,                            \
    .apikey_get = pg_apikey_get, .apikey_list = pg_apikey_list, .user_get = pg_user_get,         \
    .user_find = pg_user_find, .user_list = pg_user_list, .session_get = pg_session_get,         \
    .audit_by_subject = pg_audit_by_subject, .subject_collections = pg_subject_collections,      \
    .record_page_in = pg_record_page_in, .record_page_own = pg_record_page_own,                  \
    .erasure_certificate = pg_erasure_certificate, .webhook_endpoints = pg_webhook_endpoints,   \
    .webhook_events = pg_webhook_events, .webhook_deliveries = pg_webhook_deliveries,            \
    .webhook_due = pg_webhook_due, .disclosure_list = pg_disclosure_list,                        \
    .incident = &pg_incident_ops, .analytics = &pg_analytics_ops, .sso = &pg_sso_ops

const cu_store_ops cu_store_pg = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .apply = pg_apply,
    .apply_chained = pg_apply_chained,
    .commit_stats = pg_commit_stats,
    .checkpoint = pg_checkpoint,
    .snapshot = pg_snapshot,
    .dump = pg_dump, /* one snapshot, written as a SQLite vault file (pg_backup.c) */
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    PG_READS,
};

static const cu_store_ops pg_snapshot_ops = {
    .name = "postgresql-snapshot",
    .open = pg_open,
    .close = pg_close,
    .apply = snapshot_apply,
    .commit_stats = pg_commit_stats,
    .checkpoint = pg_checkpoint,
    .snapshot = pg_snapshot,
    PG_READS,
};
