/*
 * sqlite_pool.c: the SQLite store as the vault uses it: one writer connection, which alone
 * runs apply() (and so every transaction and fsync), and a pool of read-only connections that
 * take every read in turn. With one connection, every read would queue behind a commit's fsync
 * on the connection's mutex; with WAL, readers see the last committed state and never wait for
 * the writer. A read that must see two tables at once takes its own snapshot (record_get).
 *
 * The pool is the vault's way into SQLite, so it also holds the data directory's flock
 * (sqlite_coord.c) from open to close: one process per SQLite data directory. Its writer
 * never checkpoints the WAL inside a commit: a thread of the pool does (sqlite_ckpt.c).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

#define NREADERS 8
#define NSCOPES 16 /* read scopes at once: the server's worker threads, and some */

typedef struct pool {
    cu_store base; /* must be first */
    cu_store *w;
    cu_store *r[NREADERS];
    atomic_uint next;
    int lock_fd;   /* the data directory's flock, or -1 */
    sq_ckpt *ckpt; /* the WAL checkpoint thread, or NULL */
    char *path;    /* the database, for the scope connections */
    pthread_mutex_t sc_lock; /* guards sc and sc_busy */
    cu_store *sc[NSCOPES];   /* the scope connections, NULL until first used */
    int sc_busy[NSCOPES];
} pool;

/* The calling thread's scope: its pool and connection (p NULL: none). */
static _Thread_local struct {
    pool *p;
    int slot;
} tls_scope;

static cu_store *rd(cu_store *base)
{
    pool *p = (pool *)base;

    if (tls_scope.p == p)
        return p->sc[tls_scope.slot];
    return p->r[atomic_fetch_add(&p->next, 1) % NREADERS];
}

/* Starts the read transaction of c; its reads then open and end none of their own. */
static int scope_start(sqlite_store *c)
{
    cu_err ignored;
    int ok;

    pthread_mutex_lock(&c->lock);
    sq_txn_abort(c); /* one an earlier failure left */
    ok = sq_run(c, sq_stmt(c, S_BEGIN_READ), &ignored, "begin a read scope") == CU_OK;
    c->snapshot = ok;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

static void scope_stop(sqlite_store *c)
{
    cu_err ignored;

    pthread_mutex_lock(&c->lock);
    c->snapshot = 0;
    if (sq_run(c, sq_stmt(c, S_COMMIT), &ignored, "end a read scope") != CU_OK)
        sq_txn_abort(c);
    pthread_mutex_unlock(&c->lock);
}

/* Opens scope connection slot, sharing the writer's record ids (custos_rid). */
static int scope_open(pool *p, int slot)
{
    cu_err ignored;

    if (cu_store_sqlite_open_reader(p->path, &p->sc[slot], &ignored) != CU_OK)
        return 0;
    sq_ids_share((sqlite_store *)p->sc[slot], (sqlite_store *)p->w);
    return 1;
}

static int p_read_begin(cu_store *base)
{
    pool *p = (pool *)base;
    int slot = -1;

    if (tls_scope.p != NULL || p->path == NULL)
        return tls_scope.p == p; /* one scope per thread */
    pthread_mutex_lock(&p->sc_lock);
    for (int i = 0; i < NSCOPES; i++)
        if (!p->sc_busy[i] && (slot < 0 || (p->sc[slot] == NULL && p->sc[i] != NULL)))
            slot = i; /* a free one, an open one if any */
    if (slot >= 0)
        p->sc_busy[slot] = 1;
    pthread_mutex_unlock(&p->sc_lock);
    if (slot < 0)
        return 0;
    if ((p->sc[slot] != NULL || scope_open(p, slot)) && scope_start((sqlite_store *)p->sc[slot])) {
        tls_scope.p = p;
        tls_scope.slot = slot;
        return 1;
    }
    pthread_mutex_lock(&p->sc_lock);
    p->sc_busy[slot] = 0;
    pthread_mutex_unlock(&p->sc_lock);
    return 0;
}

static void p_read_end(cu_store *base)
{
    pool *p = (pool *)base;

    if (tls_scope.p != p)
        return;
    scope_stop((sqlite_store *)p->sc[tls_scope.slot]);
    pthread_mutex_lock(&p->sc_lock);
    p->sc_busy[tls_scope.slot] = 0;
    pthread_mutex_unlock(&p->sc_lock);
    tls_scope.p = NULL;
}

static cu_store *wr(cu_store *base)
{
    return ((pool *)base)->w;
}

static void p_close(cu_store *base)
{
    pool *p = (pool *)base;

    if (p == NULL)
        return;
    if (p->w)
        sq_ckpt_stop(p->ckpt, (sqlite_store *)p->w);
    for (size_t i = 0; i < NREADERS; i++)
        if (p->r[i])
            p->r[i]->ops->close(p->r[i]);
    for (size_t i = 0; i < NSCOPES; i++)
        if (p->sc[i])
            p->sc[i]->ops->close(p->sc[i]);
    pthread_mutex_destroy(&p->sc_lock);
    free(p->path);
    if (p->w)
        p->w->ops->close(p->w);
    sq_dir_unlock(p->lock_fd); /* after the connections: nobody else writes while they are open */
    free(p);
}

#define W(s) wr(s)->ops
#define R(s) rd(s)

static cu_rc p_apply(cu_store *s, const cu_store_op *ops, size_t n, cu_err *err)
{
    return W(s)->apply(wr(s), ops, n, err);
}

static cu_rc p_checkpoint(cu_store *s, cu_err *err)
{
    return sq_ckpt_run(((pool *)s)->ckpt, (sqlite_store *)wr(s), err);
}

static void p_commit_stats(cu_store *s, cu_commit_stats *out)
{
    W(s)->commit_stats(wr(s), out);
}

/* Every read goes to the next reader in turn. */
#define FWD(name, params, args)                                                                    \
    static cu_rc p_##name params                                                                   \
    {                                                                                              \
        cu_store *r = R(s);                                                                        \
        return r->ops->name args;                                                                  \
    }

FWD(audit_head, (cu_store * s, cu_id t, uint64_t *seq, uint8_t hash[32], cu_err *err),
    (r, t, seq, hash, err))
FWD(audit_list,
    (cu_store * s, cu_id t, const cu_audit_filter *f, cu_audit_entry **out, size_t *n, cu_err *err),
    (r, t, f, out, n, err))
FWD(audit_rows,
    (cu_store * s, cu_id t, uint64_t from, uint64_t to, int (*fn)(void *, const cu_audit_row *),
     void *arg, cu_err *err),
    (r, t, from, to, fn, arg, err))
FWD(audit_scan,
    (cu_store * s, cu_id t, uint64_t from, int (*fn)(void *, const cu_audit_entry *), void *arg,
     cu_err *err),
    (r, t, from, fn, arg, err))
FWD(audit_seq_before, (cu_store * s, cu_id t, int64_t before, uint64_t *seq, cu_err *err),
    (r, t, before, seq, err))
FWD(audit_checkpoints, (cu_store * s, cu_id t, cu_audit_checkpoint **out, size_t *n, cu_err *err),
    (r, t, out, n, err))
FWD(audit_key_get, (cu_store * s, uint8_t pk[32], int *found, int *ckpts, cu_err *err),
    (r, pk, found, ckpts, err))
FWD(policy_grant_get, (cu_store * s, cu_id t, int *admins, cu_err *err), (r, t, admins, err))
FWD(master_list, (cu_store * s, uint32_t **v, uint8_t (**c)[32], size_t *n, cu_err *err),
    (r, v, c, n, err))
FWD(tenant_get, (cu_store * s, cu_id id, cu_store_tenant *out, cu_err *err), (r, id, out, err))
FWD(tenant_list, (cu_store * s, cu_store_tenant **out, size_t *n, cu_err *err), (r, out, n, err))
FWD(key_get,
    (cu_store * s, cu_id t, cu_key_kind k, cu_id o, uint32_t v, cu_store_key *out, cu_err *err),
    (r, t, k, o, v, out, err))
FWD(key_list, (cu_store * s, cu_id t, cu_key_kind k, cu_store_key **out, size_t *n, cu_err *err),
    (r, t, k, out, n, err))
FWD(subject_get, (cu_store * s, cu_id t, cu_id id, cu_store_subject *out, cu_err *err),
    (r, t, id, out, err))
FWD(record_get, (cu_store * s, cu_id t, cu_id id, cu_store_record *out, cu_err *err),
    (r, t, id, out, err))
FWD(record_ids_by_subject, (cu_store * s, cu_id t, cu_id sub, cu_id **ids, size_t *n, cu_err *err),
    (r, t, sub, ids, n, err))
FWD(record_ids_in,
    (cu_store * s, cu_id t, cu_id sub, const char *c, cu_id **ids, size_t *n, cu_err *err),
    (r, t, sub, c, ids, n, err))
FWD(record_counts,
    (cu_store * s, cu_id t, cu_id sub, uint64_t lim, cu_store_count **out, size_t *n,
     cu_err *err),
    (r, t, sub, lim, out, n, err))
FWD(record_page,
    (cu_store * s, cu_id t, cu_id sub, int64_t after_created, cu_id after, size_t limit,
     size_t max_bytes, cu_store_record **out, size_t *n, cu_err *err),
    (r, t, sub, after_created, after, limit, max_bytes, out, n, err))
FWD(blind_find,
    (cu_store * s, cu_id t, const char *scope, const uint8_t d[32], cu_id **ids, size_t *n,
     cu_err *err),
    (r, t, scope, d, ids, n, err))
FWD(collection_get, (cu_store * s, cu_id t, const char *name, char **spec, cu_err *err),
    (r, t, name, spec, err))
FWD(apikey_get, (cu_store * s, cu_id id, cu_store_apikey *out, cu_err *err), (r, id, out, err))
FWD(apikey_list, (cu_store * s, cu_id t, cu_store_apikey **out, size_t *n, cu_err *err),
    (r, t, out, n, err))
FWD(user_get, (cu_store * s, cu_id t, cu_id id, cu_store_user *out, cu_err *err),
    (r, t, id, out, err))
FWD(user_find, (cu_store * s, cu_id t, const uint8_t d[32], cu_store_user *out, cu_err *err),
    (r, t, d, out, err))
FWD(user_list, (cu_store * s, cu_id t, cu_store_user **out, size_t *n, cu_err *err),
    (r, t, out, n, err))
FWD(policy_get, (cu_store * s, cu_id t, unsigned *version, char **text, cu_err *err),
    (r, t, version, text, err))
FWD(policy_at,
    (cu_store * s, cu_id t, unsigned *version, char **text, int64_t *created_at, cu_err *err),
    (r, t, version, text, created_at, err))
FWD(policy_versions,
    (cu_store * s, cu_id t, cu_store_policy_version **out, size_t *n, cu_err *err),
    (r, t, out, n, err))
FWD(record_meta_list,
    (cu_store * s, cu_id t, cu_id after, size_t limit, cu_store_record_meta **out, size_t *n,
     cu_err *err),
    (r, t, after, limit, out, n, err))
FWD(subject_ids,
    (cu_store * s, cu_id t, cu_id after, size_t limit, cu_id **ids, size_t *n, cu_err *err),
    (r, t, after, limit, ids, n, err))
FWD(subject_state,
    (cu_store * s, cu_id t, cu_id sub, int *restricted, int64_t *last_activity, cu_err *err),
    (r, t, sub, restricted, last_activity, err))
FWD(consent_list,
    (cu_store * s, cu_id t, cu_id sub, const char *purpose, cu_store_consent **out, size_t *n,
     cu_err *err),
    (r, t, sub, purpose, out, n, err))
FWD(request_list, (cu_store * s, cu_id t, cu_id id, cu_store_request **out, size_t *n, cu_err *err),
    (r, t, id, out, n, err))
FWD(request_list_subject,
    (cu_store * s, cu_id t, cu_id sub, cu_store_request **out, size_t *n, cu_err *err),
    (r, t, sub, out, n, err))
FWD(request_page,
    (cu_store * s, cu_id t, const cu_store_request_query *q, cu_store_request **out, size_t *n,
     cu_err *err),
    (r, t, q, out, n, err))
FWD(webhook_endpoints,
    (cu_store * s, cu_id t, cu_id id, cu_store_webhook_endpoint **out, size_t *n, cu_err *err),
    (r, t, id, out, n, err))
FWD(webhook_events,
    (cu_store * s, cu_id t, cu_id id, cu_id before, size_t limit, cu_store_webhook_event **out,
     size_t *n, cu_err *err),
    (r, t, id, before, limit, out, n, err))
FWD(webhook_deliveries,
    (cu_store * s, cu_id t, cu_id ev, cu_store_webhook_delivery **out, size_t *n,
     cu_store_webhook_attempt **at, size_t *na, cu_err *err),
    (r, t, ev, out, n, at, na, err))
FWD(webhook_due,
    (cu_store * s, int64_t now, size_t limit, cu_store_webhook_job **out, size_t *n,
     cu_err *err),
    (r, now, limit, out, n, err))
FWD(disclosure_list,
    (cu_store * s, cu_id t, cu_id sub, size_t limit, cu_store_disclosure **out, size_t *n,
     cu_err *err),
    (r, t, sub, limit, out, n, err))
FWD(hold_list, (cu_store * s, cu_id t, cu_store_hold **out, size_t *n, cu_err *err),
    (r, t, out, n, err))
FWD(erasure_list,
    (cu_store * s, cu_id t, cu_id sub, size_t limit, cu_store_erasure **out, size_t *n,
     cu_err *err),
    (r, t, sub, limit, out, n, err))
FWD(session_get, (cu_store * s, const uint8_t h[32], cu_store_session *out, cu_err *err),
    (r, h, out, err))
FWD(audit_by_subject,
    (cu_store * s, cu_id t, cu_id sub, uint64_t after, size_t limit, cu_store_access **out,
     size_t *n, cu_err *err),
    (r, t, sub, after, limit, out, n, err))
FWD(subject_collections,
    (cu_store * s, cu_id t, cu_id sub, cu_store_collection_count **out, size_t *n, cu_err *err),
    (r, t, sub, out, n, err))
FWD(record_page_in,
    (cu_store * s, cu_id t, cu_id sub, const char *coll, int64_t after_created, cu_id after,
     size_t limit, size_t max_bytes, cu_store_record **out, size_t *n, cu_err *err),
    (r, t, sub, coll, after_created, after, limit, max_bytes, out, n, err))
FWD(record_page_own,
    (cu_store * s, cu_id t, int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
     cu_store_record **out, size_t *n, cu_err *err),
    (r, t, after_created, after, limit, max_bytes, out, n, err))

/* A snapshot is a connection of its own, opened for it: the pool's readers stay free. */
static cu_rc p_snapshot(cu_store *s, cu_store **out, cu_err *err)
{
    return sq_snapshot(wr(s), out, err);
}

static cu_rc p_dump(cu_store *s, const char *dest, int *schema_version, cu_err *err)
{
    return sq_dump(wr(s), dest, schema_version, err);
}

/* Breach incidents (store_incident.h): read on a reader, as every read. */
static cu_rc p_incident_list(cu_store *s, cu_id t, int all, cu_store_incident **out, size_t *n,
                             cu_err *err)
{
    cu_store *r = R(s);

    return r->ops->incident->list(r, t, all, out, n, err);
}

static cu_rc p_incident_get(cu_store *s, cu_id id, cu_store_incident *out,
                            cu_store_incident_hit **hits, size_t *nh,
                            cu_store_incident_notice **notices, size_t *nn, cu_err *err)
{
    cu_store *r = R(s);

    return r->ops->incident->get(r, id, out, hits, nh, notices, nn, err);
}

static cu_rc p_audit_touches(cu_store *s, cu_id t, int64_t from, int64_t to,
                             int (*fn)(void *arg, const cu_store_audit_touch *e), void *arg,
                             cu_err *err)
{
    cu_store *r = R(s);

    return r->ops->incident->audit_touches(r, t, from, to, fn, arg, err);
}

static const cu_store_incident_ops p_incident_ops = {
    .list = p_incident_list,
    .get = p_incident_get,
    .audit_touches = p_audit_touches,
};

/* The analytics budget (store_analytics.h): read on a reader. */
static cu_rc p_budget_get(cu_store *s, cu_id t, cu_store_analytics_budget *out, cu_err *err)
{
    cu_store *r = R(s);

    return r->ops->analytics->budget_get(r, t, out, err);
}

static const cu_store_analytics_ops p_analytics_ops = {
    .budget_get = p_budget_get,
};

/* Single sign-on (store_sso.h): read on a reader, as every read. */
static cu_rc p_sso_config_get(cu_store *s, cu_id t, cu_store_sso_config *out, cu_err *err)
{
    cu_store *r = R(s);

    return r->ops->sso->config_get(r, t, out, err);
}

static cu_rc p_sso_login_get(cu_store *s, cu_id t, const uint8_t h[32], cu_store_sso_login *out,
                             cu_err *err)
{
    cu_store *r = R(s);

    return r->ops->sso->login_get(r, t, h, out, err);
}

static cu_rc p_sso_link_get(cu_store *s, cu_id t, const uint8_t h[32], cu_store_sso_link *out,
                            cu_err *err)
{
    cu_store *r = R(s);

    return r->ops->sso->link_get(r, t, h, out, err);
}

static const cu_store_sso_ops p_sso_ops = {
    .config_get = p_sso_config_get,
    .login_get = p_sso_login_get,
    .link_get = p_sso_link_get,
};

/* The writer's: the readers share its map (sq_ids_share). On a database other processes
 * write too (no flock: CUSTOS_TEST_SHARED_DB, test builds), whose rids this one cannot hand
 * out, for lookups alone: the records it makes keep random ids, those of the key are found. */
static int p_set_idmap(cu_store *base, const cu_store_idmap *m)
{
    if (((pool *)base)->lock_fd >= 0)
        return sq_set_idmap(wr(base), m);
    sq_set_idmap_lookup(wr(base), m);
    return 0;
}

static cu_rc p_record_id_new(cu_store *base, cu_id *out, cu_err *err)
{
    return sq_record_id_new(wr(base), out, err);
}

const cu_store_ops cu_store_sqlite_pool = {
    .name = "sqlite",
    .open = cu_store_sqlite_open,
    .close = p_close,
    .apply = p_apply,
    .commit_stats = p_commit_stats,
    .checkpoint = p_checkpoint,
    .audit_head = p_audit_head,
    .audit_key_get = p_audit_key_get,
    .policy_grant_get = p_policy_grant_get,
    .audit_list = p_audit_list,
    .audit_scan = p_audit_scan,
    .audit_rows = p_audit_rows,
    .audit_seq_before = p_audit_seq_before,
    .audit_checkpoints = p_audit_checkpoints,
    .master_list = p_master_list,
    .tenant_get = p_tenant_get,
    .tenant_list = p_tenant_list,
    .key_get = p_key_get,
    .key_list = p_key_list,
    .subject_get = p_subject_get,
    .record_get = p_record_get,
    .record_ids_by_subject = p_record_ids_by_subject,
    .record_ids_in = p_record_ids_in,
    .record_counts = p_record_counts,
    .record_page = p_record_page,
    .blind_find = p_blind_find,
    .collection_get = p_collection_get,
    .apikey_get = p_apikey_get,
    .apikey_list = p_apikey_list,
    .user_get = p_user_get,
    .user_find = p_user_find,
    .user_list = p_user_list,
    .session_get = p_session_get,
    .policy_get = p_policy_get,
    .policy_at = p_policy_at,
    .policy_versions = p_policy_versions,
    .record_meta_list = p_record_meta_list,
    .subject_ids = p_subject_ids,
    .subject_state = p_subject_state,
    .consent_list = p_consent_list,
    .hold_list = p_hold_list,
    .request_list = p_request_list,
    .request_list_subject = p_request_list_subject,
    .request_page = p_request_page,
    .erasure_list = p_erasure_list,
    .audit_by_subject = p_audit_by_subject,
    .snapshot = p_snapshot,
    .subject_collections = p_subject_collections,
    .record_page_in = p_record_page_in,
    .record_page_own = p_record_page_own,
    .dump = p_dump,
    .read_begin = p_read_begin,
    .read_end = p_read_end,
    .webhook_endpoints = p_webhook_endpoints,
    .webhook_events = p_webhook_events,
    .webhook_deliveries = p_webhook_deliveries,
    .webhook_due = p_webhook_due,
    .disclosure_list = p_disclosure_list,
    .incident = &p_incident_ops,
    .analytics = &p_analytics_ops,
    .sso = &p_sso_ops,
    .set_idmap = p_set_idmap,
    .record_id_new = p_record_id_new,
};

cu_rc cu_store_sqlite_open(const char *path, cu_store **out, cu_err *err)
{
    pool *p = calloc(1, sizeof(*p));
    cu_rc rc;

    if (p == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    p->base.ops = &cu_store_sqlite_pool;
    p->lock_fd = -1;
    pthread_mutex_init(&p->sc_lock, NULL);
    /* A database in memory has nothing to share with another connection: no scopes. */
    if (strcmp(path, ":memory:") != 0 && (p->path = strdup(path)) == NULL) {
        pthread_mutex_destroy(&p->sc_lock);
        free(p);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    /* The lock before anything touches the database; then the writer: it creates the file and
     * runs the migrations the readers expect. */
    rc = sq_dir_lock(path, &p->lock_fd, err);
    if (rc == CU_OK)
        rc = cu_store_sqlite_open_single(path, &p->w, err);
    /* Under the flock no other process uses the database: a lease in it is a dead one's. */
    if (rc == CU_OK && p->lock_fd >= 0)
        rc = sq_exec_ddl((sqlite_store *)p->w, "DELETE FROM leases", err, "free stale leases");
    for (size_t i = 0; rc == CU_OK && i < NREADERS; i++)
        if ((rc = cu_store_sqlite_open_reader(path, &p->r[i], err)) == CU_OK)
            sq_ids_share((sqlite_store *)p->r[i], (sqlite_store *)p->w);
    if (rc == CU_OK)
        rc = sq_ckpt_start(path, (sqlite_store *)p->w, &p->ckpt, err);
    if (rc != CU_OK) {
        p_close(&p->base);
        return rc;
    }
    *out = &p->base;
    return CU_OK;
}

uint64_t cu_store_sqlite_wal_checkpoints(cu_store *s)
{
    return s->ops == &cu_store_sqlite_pool ? sq_ckpt_runs(((pool *)s)->ckpt) : 0;
}
