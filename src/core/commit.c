/*
 * commit.c: every change and every read of personal data reaches the store through
 * cu_commit(), which writes its audit entries in the same transaction (P-AUD-1, P-AUD-3: if the
 * entry cannot be written, nothing happens) and groups concurrent callers into one transaction
 * with one fsync (DESIGN.md, Writes).
 *
 * Group commit without a thread of its own: a caller queues its request; if no commit is
 * running it becomes the leader, takes the whole queue, chains the audit entries (each
 * tenant's head is cached here, so no read sits on the write path) and commits them all at
 * once. Callers that arrive meanwhile queue up and form the next group, so groups grow with
 * load and nobody waits for a timer. Each request waits on a condition of its own: the leader
 * hands the lead to the oldest queued request, then wakes its own group's members and no one
 * else (a broadcast woke every waiter of every group, to find most of them not done).
 * Nothing is acknowledged before its group is durable. If a group fails, each request is
 * retried alone, so one request's error (a taken external id) never fails the others.
 *
 * Asynchronous requests (cu_commit_async: the server's record create, read and update, whose
 * connections wait suspended) have no thread waiting behind them. The request owns its batch
 * and is completed by the leader of its group, on the leader's thread, after the group is
 * durable or has failed, outside commit_lock and after the lead has passed on. A round whose
 * oldest request is asynchronous is led by the writer thread, started with the first such
 * request; the writer keeps leading while the head of the queue is asynchronous and hands the
 * lead to a waiting thread's request as any leader does. cu_vault_close stops it once every
 * asynchronous request has completed.
 *
 * Several processes may write one database (docs/store.md), so a cached head can be stale: a
 * group names the head it chains onto for each tenant (CU_OP_AUDIT_HEAD_CHECK), which the store
 * checks inside its transaction. When another writer moved one first, the group's heads are
 * dropped, read again and the group chained anew, up to COMMIT_RETRIES times (P-AUD-1: one
 * chain, never a fork). A failed group never leaves a head behind that the store may not hold:
 * it drops every head it touched, and their next use reads them again.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "core_int.h"
#include "util.h"

struct cu_commit_req {
    const cu_store_op *ops;
    size_t nops;
    cu_audit_entry *entries;
    size_t nentries;
    /* A round that runs a function with the heads to itself instead (as_leader), or NULL. */
    cu_rc (*fn)(cu_vault *v, void *arg, cu_err *err);
    void *arg;
    /* An asynchronous request (cu_commit_async): no thread waits for it. It owns its ops
     * (owned) and its entries (allocated with it); the leader that commits its group calls
     * complete and frees it. NULL for a caller waiting in cu_commit. */
    cu_commit_done complete;
    void *complete_arg;
    cu_store_op *owned;
    cu_rc rc;
    cu_err err;
    pthread_cond_t cond; /* signalled when done, or when handed the lead */
    int lead, done;      /* under commit_lock */
    struct cu_commit_req *next;
};

/* --- the per-tenant chain heads: a small open-addressing map ------------------------------ */

/* How often a group is chained again on heads another writer moved (several servers). */
#define COMMIT_RETRIES 32

typedef struct head {
    cu_id tenant; /* 0 with used == 0: empty slot (tenant 0 is a valid key) */
    int used;
    int loaded; /* seq and hash are the store's as last read or written; 0: read them again */
    uint64_t seq;
    uint8_t hash[32];
    int64_t ckpt_at;   /* `at` of the chain's last checkpoint, or of its first entry since the
                          head was loaded (0: none yet) */
    uint64_t ckpt_seq; /* seq of the last checkpoint this process signed (0: none yet) */
} head;

/* A head as it was before the group touched it. By tenant, not by pointer: loading another
 * tenant's head may grow the map and move every slot. */
typedef struct saved {
    head old;
} saved;

typedef struct group {
    cu_store_op *ops;
    size_t nops, cap;
    saved *undo;
    size_t nundo, capundo;
} group;

/* The group's arrays are kept from one round to the next while they stay small: allocated
 * anew for each round (a group of writes holds tens of ops of about 600 bytes) they cost the
 * writer a realloc, a copy and fresh pages every round (issue 17: 6% of the writes' samples). */
#define GROUP_KEEP_OPS 1024

/* The leader's own state: the chain heads and its group's arrays. */
struct cu_heads {
    head *slots;
    size_t cap, n;
    group g;
};

static size_t slot_of(const cu_heads *h, cu_id tenant)
{
    size_t i = (size_t)((tenant * 0x9E3779B97F4A7C15ULL) >> 17) & (h->cap - 1);

    while (h->slots[i].used && h->slots[i].tenant != tenant)
        i = (i + 1) & (h->cap - 1);
    return i;
}

static int heads_grow(cu_heads *h)
{
    cu_heads bigger = {calloc(h->cap ? h->cap * 2 : 64, sizeof(head)), h->cap ? h->cap * 2 : 64, 0,
                       {0}};

    if (bigger.slots == NULL)
        return -1;
    for (size_t i = 0; i < h->cap; i++)
        if (h->slots[i].used) {
            bigger.slots[slot_of(&bigger, h->slots[i].tenant)] = h->slots[i];
            bigger.n++;
        }
    free(h->slots);
    h->slots = bigger.slots;
    h->cap = bigger.cap;
    h->n = bigger.n;
    return 0;
}

/* The tenant's head in *out, read from the store on first use. */
static cu_rc head_get(cu_vault *v, cu_id tenant, head **out, cu_err *err)
{
    cu_heads *h = v->heads;
    head *e;
    cu_rc rc;

    if ((h->n + 1) * 2 > h->cap && heads_grow(h) != 0)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    e = &h->slots[slot_of(h, tenant)];
    if (!e->used) {
        memset(e, 0, sizeof(*e));
        e->tenant = tenant;
        e->used = 1;
        h->n++;
    }
    if (!e->loaded) {
        if ((rc = cu_store_audit_head(v->store, tenant, &e->seq, e->hash, err)) != CU_OK)
            return rc;
        e->loaded = 1;
    }
    *out = e;
    return CU_OK;
}

cu_rc cu_heads_new(cu_heads **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? CU_OK : CU_ERR_NOMEM;
}

void cu_heads_free(cu_heads *h)
{
    if (h != NULL) {
        free(h->slots);
        free(h->g.ops);
        free(h->g.undo);
    }
    free(h);
}

/* --- building a group ----------------------------------------------------------------------- */


static int push_op(group *g, const cu_store_op *op)
{
    if (g->nops == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 64;
        cu_store_op *n = realloc(g->ops, ncap * sizeof(*n));
        if (n == NULL)
            return -1;
        g->ops = n;
        g->cap = ncap;
    }
    g->ops[g->nops++] = *op;
    return 0;
}

/* Adds ops[0..n), and after them, for each tenant whose cached secrets one of them changes, the
 * raise of its generation (CU_OP_TENANT_GEN) in the same transaction: another server's caches
 * notice it from their next read of the tenant row (cache.c; docs/store.md, "Several
 * servers"). One raise for a run of ops of one tenant (a rotation rewraps many keys). */
static int push_ops(group *g, const cu_store_op *ops, size_t n)
{
    cu_id last = 0;

    for (size_t i = 0; i < n; i++) {
        cu_id t = cu_cache_gen_tenant(&ops[i]);
        if (push_op(g, &ops[i]) != 0)
            return -1;
        if (t != 0 && t != last) {
            cu_store_op gen_op;
            memset(&gen_op, 0, sizeof(gen_op));
            gen_op.type = CU_OP_TENANT_GEN;
            gen_op.u.del.tenant_id = t;
            if (push_op(g, &gen_op) != 0)
                return -1;
        }
        if (t != 0)
            last = t;
    }
    return 0;
}

static int remember(group *g, const head *h)
{
    for (size_t i = 0; i < g->nundo; i++)
        if (g->undo[i].old.tenant == h->tenant)
            return 0;
    if (g->nundo == g->capundo) {
        size_t ncap = g->capundo ? g->capundo * 2 : 16;
        saved *n = realloc(g->undo, ncap * sizeof(*n));
        if (n == NULL)
            return -1;
        g->undo = n;
        g->capundo = ncap;
    }
    g->undo[g->nundo++].old = *h;
    return 0;
}

/* Puts first in the batch, for each tenant the group chains, the head it chains onto, for the
 * store to check inside the transaction (CU_OP_AUDIT_HEAD_CHECK). First: before any op of the
 * group, such as a prune, changes the chain itself. */
static int prepend_head_checks(group *g)
{
    size_t k = g->nundo;

    if (g->nops + k > g->cap) {
        cu_store_op *n = realloc(g->ops, (g->nops + k) * sizeof(*n));
        if (n == NULL)
            return -1;
        g->ops = n;
        g->cap = g->nops + k;
    }
    memmove(&g->ops[k], &g->ops[0], g->nops * sizeof(*g->ops));
    g->nops += k;
    for (size_t i = 0; i < k; i++) {
        cu_store_op *op = &g->ops[i];
        memset(op, 0, sizeof(*op));
        op->type = CU_OP_AUDIT_HEAD_CHECK;
        op->u.audit_head.tenant_id = g->undo[i].old.tenant;
        op->u.audit_head.seq = g->undo[i].old.seq;
        memcpy(op->u.audit_head.hash, g->undo[i].old.hash, 32);
    }
    return 0;
}

/* P-AUD-2: a checkpoint is due at e on count (every CU_AUDIT_CHECKPOINT_EVERY entries) or on
 * time (ms, CU_AUDIT_CHECKPOINT_MS by default, since the chain's last one, while entries
 * arrive), so the stretch no signature covers stays short and a tenant can fetch a recent
 * checkpoint. */
static int checkpoint_due(head *h, const cu_audit_entry *e, int64_t ms)
{
    if (h->ckpt_at == 0)
        h->ckpt_at = e->at;
    if (e->seq % CU_AUDIT_CHECKPOINT_EVERY != 0 && e->at - h->ckpt_at < ms)
        return 0;
    h->ckpt_at = e->at;
    h->ckpt_seq = e->seq;
    return 1;
}

/* Chains one request's entries onto the cached heads and adds its operations, then the audit
 * appends, then a signed checkpoint wherever one is due (checkpoint_due). */
static cu_rc add_request(cu_vault *v, group *g, struct cu_commit_req *r, cu_err *err)
{
    if (push_ops(g, r->ops, r->nops) != 0)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->nentries; i++) {
        cu_audit_entry *e = &r->entries[i];
        cu_store_op op;
        head *h = NULL;
        cu_rc rc = head_get(v, e->tenant_id, &h, err);
        if (rc != CU_OK)
            return rc;
        if (remember(g, h) != 0)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        e->seq = h->seq + 1;
        memcpy(e->prev, h->hash, 32);
        cu_audit_hash(e, e->hash);
        h->seq = e->seq;
        memcpy(h->hash, e->hash, 32);
        memset(&op, 0, sizeof(op));
        op.type = CU_OP_AUDIT_APPEND;
        op.u.audit = *e;
        if (push_op(g, &op) != 0)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        if (checkpoint_due(h, e, v->checkpoint_ms)) {
            memset(&op, 0, sizeof(op));
            op.type = CU_OP_AUDIT_CHECKPOINT;
            cu_audit_sign(v, 0, e->tenant_id, e->seq, e->at, e->hash, &op.u.checkpoint);
            if (push_op(g, &op) != 0)
                return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        }
    }
    return CU_OK;
}

/* After a failed group: every head it touched goes back to how it was (its checkpoint times)
 * but is dropped, so its next use reads it from the store again: the group may have failed
 * because another writer moved it, and a head this process restored could be stale. */
static void rollback_heads(cu_vault *v, group *g)
{
    while (g->nundo > 0) {
        head *h;
        g->nundo--;
        h = &v->heads->slots[slot_of(v->heads, g->undo[g->nundo].old.tenant)];
        *h = g->undo[g->nundo].old;
        h->loaded = 0;
    }
}

/* Whether the store's head of a tenant the failed group chained onto is no longer the one it
 * chained onto: a store conflict that chaining again may cure. */
static int heads_moved(cu_vault *v, const group *g)
{
    for (size_t i = 0; i < g->nundo; i++) {
        const head *old = &g->undo[i].old;
        uint8_t hash[32];
        uint64_t seq = 0;
        cu_err ignored = {0};
        if (cu_store_audit_head(v->store, old->tenant, &seq, hash, &ignored) != CU_OK ||
            seq != old->seq || memcmp(hash, old->hash, 32) != 0)
            return 1;
    }
    return 0;
}

/* Chains reqs (only the first, if one) on the cached heads into g's batch: each request's ops
 * and entries, the head checks first. */
static cu_rc build(cu_vault *v, group *g, struct cu_commit_req *reqs, int one, cu_err *err)
{
    cu_rc rc = CU_OK;

    g->nops = 0;
    g->nundo = 0;
    for (struct cu_commit_req *r = reqs; r != NULL && rc == CU_OK; r = one ? NULL : r->next)
        rc = add_request(v, g, r, err);
    if (rc == CU_OK && g->nundo > 0 && g->nops > 0 && prepend_head_checks(g) != 0)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return rc;
}

typedef struct rechain {
    cu_vault *v;
    group *g;
    struct cu_commit_req *reqs;
    int one;
} rechain;

/* cu_store_chain_fn: the group chained anew on the heads the store read inside the batch's
 * transaction, under the chains' locks; they become the cached heads. */
static cu_rc chain_on(void *arg, const cu_store_op *heads, size_t n, const cu_store_op **ops,
                      size_t *nops, cu_err *err)
{
    rechain *x = arg;
    cu_heads *h = x->v->heads;
    cu_rc rc;

    for (size_t i = 0; i < n; i++) {
        head *e;
        if ((h->n + 1) * 2 > h->cap && heads_grow(h) != 0)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        e = &h->slots[slot_of(h, heads[i].u.audit_head.tenant_id)];
        if (!e->used) {
            memset(e, 0, sizeof(*e));
            e->tenant = heads[i].u.audit_head.tenant_id;
            e->used = 1;
            h->n++;
        }
        e->seq = heads[i].u.audit_head.seq;
        memcpy(e->hash, heads[i].u.audit_head.hash, 32);
        e->loaded = 1;
    }
    rc = build(x->v, x->g, x->reqs, x->one, err);
    *ops = x->g->ops;
    *nops = x->g->nops;
    return rc;
}

/* Chains reqs (only the first, if one) on the cached heads and commits them as one batch. When
 * the store refuses it because another writer moved a head first, chains them again on the
 * heads read inside the retry's own transaction, under their locks (cu_store_apply_chained):
 * another server that keeps writing the tenant cannot overtake the retry again, as it could
 * between a read of the heads and the next batch, every time while it is never idle (its
 * answers were 503s under load, bench/README.md). Up to COMMIT_RETRIES times (a backend
 * without apply_chained may still be overtaken). On failure no head stays cached. */
static cu_rc commit_chained(cu_vault *v, group *g, struct cu_commit_req *reqs, int one, cu_err *err)
{
    rechain x = {v, g, reqs, one};
    int moved = 1;
    cu_rc rc = CU_OK;

    for (int attempt = 0; moved && attempt < COMMIT_RETRIES; attempt++) {
        if (attempt == 0) {
            rc = build(v, g, reqs, one, err);
            if (rc == CU_OK)
                rc = cu_store_apply(v->store, g->ops, g->nops, err);
        } else {
            rc = cu_store_apply_chained(v->store, g->ops, g->nops, chain_on, &x, err);
        }
        moved = rc == CU_ERR_CONFLICT && heads_moved(v, g);
        if (rc != CU_OK)
            rollback_heads(v, g);
    }
    if (moved)
        return cu_err_set(err, CU_ERR_UNAVAILABLE,
                          "the audit chain kept moving under other writers: try again");
    return rc;
}

#ifdef CU_FAULT_INJECTION
#include <unistd.h>
/* Test builds: CUSTOS_TEST_COMMIT_DELAY_MS holds every group that long before it commits, so
 * that a test can act (hang up, stop the server) while requests wait for their group. */
static void test_delay(void)
{
    const char *ms = getenv("CUSTOS_TEST_COMMIT_DELAY_MS");

    if (ms != NULL)
        usleep((useconds_t)strtoul(ms, NULL, 10) * 1000);
}
#else
#define test_delay() ((void)0)
#endif

/* Commits reqs together; on failure, each alone. Called by the leader only. */
static void run_group(cu_vault *v, struct cu_commit_req *reqs)
{
    group *g = &v->heads->g;
    cu_err gerr = {0};
    cu_rc rc;
    struct cu_commit_req *r;
    int count = 0;

    for (r = reqs; r != NULL; r = r->next)
        count++;
    test_delay();
    rc = commit_chained(v, g, reqs, 0, &gerr);
    /* A chain that kept moving is no one request's fault: splitting the group would only
     * retry each member as often again. */
    if (rc == CU_OK || count == 1 || rc == CU_ERR_UNAVAILABLE) {
        for (r = reqs; r != NULL; r = r->next) {
            r->rc = rc;
            r->err = gerr;
        }
        goto out;
    }
    /* One of them failed the group: each alone now. */
    for (r = reqs; r != NULL; r = r->next) {
        memset(&r->err, 0, sizeof(r->err));
        r->rc = commit_chained(v, g, r, 1, &r->err);
    }
out:
    if (g->cap > GROUP_KEEP_OPS) {
        free(g->ops);
        free(g->undo);
        memset(g, 0, sizeof(*g));
    }
}

/* Takes the leader's round off the queue, self at its head: self alone if it runs a function
 * (as_leader), else up to group_max requests, none of them a function's. Under commit_lock. */
static struct cu_commit_req *take_round(cu_vault *v, int *count)
{
    struct cu_commit_req *batch = v->queue, *r = batch, *tail = batch;

    *count = 0;
    do {
        tail = r;
        r = r->next;
        (*count)++;
    } while (r != NULL && batch->fn == NULL && r->fn == NULL && *count < v->group_max);
    v->queue = r;
    if (r == NULL)
        v->queue_tail = NULL;
    tail->next = NULL;
    return batch;
}

/* Passes the lead to the oldest queued request's thread, or to the writer thread if that
 * request is asynchronous (no thread waits behind it: a writer thread that finishes a round
 * so keeps leading), or ends the leading if the queue is empty. Under commit_lock. */
static void hand_lead(cu_vault *v)
{
    if (v->queue == NULL) {
        v->committing = 0;
    } else if (v->queue->complete != NULL) {
        v->writer_lead = 1;
        pthread_cond_signal(&v->writer_cond);
    } else {
        v->queue->lead = 1;
        pthread_cond_signal(&v->queue->cond);
    }
}

/* Completes and frees the asynchronous requests of a round, in order: the caches forget what
 * they changed, their ops are freed, then each completion runs. Without commit_lock. */
static unsigned long complete_all(cu_vault *v, struct cu_commit_req *list)
{
    unsigned long n = 0;

    while (list != NULL) {
        struct cu_commit_req *r = list;
        list = r->next;
        cu_cache_after_commit(v, r->ops, r->nops); /* also on failure: it may be ambiguous */
        for (size_t i = 0; i < r->nops; i++)
            cu_store_op_cleanup(&r->owned[i]);
        free(r->owned);
        r->complete(r->complete_arg, r->rc, &r->err);
        free(r);
        n++;
    }
    return n;
}

/* One leader's round, of the requests at the head of the queue, called and returning under
 * commit_lock by the head's own thread, or by the writer thread for an asynchronous head:
 * commits its group (or runs its function), hands the lead on (hand_lead), wakes the group's
 * waiting members, each on its own condition (no other waiter wakes), then hands the
 * completions of its asynchronous members to the completer thread. The writer so leads the
 * next round while they run: run inline, their resumes and frees held each round's successor
 * back (a tenth of a durable write's writer time; bench/README.md, issue 17's last pass). */
static void lead(cu_vault *v)
{
    struct cu_commit_req *batch, *r, *next, *async = NULL, *last = NULL, **tail = &async;
    int count;

    batch = take_round(v, &count);
    pthread_mutex_unlock(&v->commit_lock);
    if (batch->fn != NULL)
        batch->rc = batch->fn(v, batch->arg, &batch->err);
    else
        run_group(v, batch);
    pthread_mutex_lock(&v->commit_lock);
    if (batch->fn == NULL) {
        v->groups++;
        v->grouped += (uint64_t)count;
    }
    batch->lead = 0;
    hand_lead(v);
    for (r = batch; r != NULL; r = next) {
        next = r->next;
        if (r->complete != NULL) {
            r->next = NULL;
            *tail = r;
            tail = &r->next;
            last = r;
            continue;
        }
        r->done = 1; /* r may return once the lock is free: not touched after */
        pthread_cond_signal(&r->cond);
    }
    if (async == NULL)
        return;
    /* In commit order: a round's completions after those of every round committed before. */
    if (v->done_tail)
        v->done_tail->next = async;
    else
        v->done = async;
    v->done_tail = last;
    pthread_cond_signal(&v->completer_cond);
}

/* The completer thread: completes the committed asynchronous requests (lead), round after
 * round, until stopped with none left. The writer stops once async_pending falls to 0, which
 * only this thread does. */
static void *completer_main(void *arg)
{
    cu_vault *v = arg;

    pthread_mutex_lock(&v->commit_lock);
    for (;;) {
        if (v->done != NULL) {
            struct cu_commit_req *list = v->done;
            unsigned long n;
            v->done = v->done_tail = NULL;
            pthread_mutex_unlock(&v->commit_lock);
            n = complete_all(v, list);
            pthread_mutex_lock(&v->commit_lock);
            v->async_pending -= n;
            if (v->async_pending == 0 && v->writer_stop)
                pthread_cond_signal(&v->writer_cond);
        } else if (v->completer_stop) {
            break;
        } else {
            pthread_cond_wait(&v->completer_cond, &v->commit_lock);
        }
    }
    pthread_mutex_unlock(&v->commit_lock);
    return NULL;
}

/* Appends req to the queue; if no round is running, req's round starts: led by its own
 * thread, or by the writer thread if req is asynchronous. Under commit_lock. */
static void enqueue(cu_vault *v, struct cu_commit_req *req)
{
    if (v->queue_tail)
        v->queue_tail->next = req;
    else
        v->queue = req;
    v->queue_tail = req;
    if (!v->committing) { /* then the queue was empty: req is its head */
        v->committing = 1;
        hand_lead(v);
    }
}

/* The thread's read scope: whether one is open, the key generation when it opened, and which
 * of the thread's scopes it is (a count, never 0). */
static _Thread_local int scope_open;
static _Thread_local int scope_real; /* the store reads in one snapshot (review 5, F7) */
static _Thread_local uint64_t scope_gen;
static _Thread_local uint64_t scope_serial;

void cu_vault_read_begin(cu_vault *v)
{
    if (v == NULL)
        return;
    if (!scope_open) {
        scope_open = 1;
        scope_gen = atomic_load(&v->key_gen);
        scope_serial++;
        cu_cache_scope_begin(v, scope_serial); /* before the first read: the snapshot's bound */
    }
    /* A store without a free connection reads unscoped: no scope then, for what the core
     * would otherwise read once per scope (tenant.c's row). */
    scope_real = cu_store_read_begin(v->store);
}

uint64_t cu_vault_read_scope(void)
{
    return scope_open && scope_real ? scope_serial : 0;
}

void cu_vault_read_end(cu_vault *v)
{
    if (v == NULL)
        return;
    scope_open = 0;
    scope_real = 0;
    cu_store_read_end(v->store);
}

/* P-ENC-5: a key read under the lock must see every key a rotation committed, not the scope's snapshot
 * taken before it: wrapping a new key under a tenant key version the rotation deleted loses
 * the data it protects. A rotation bumps the generation before it lets the lock go; a scope
 * opened before that ends here, and the reads that follow see the latest state. */
void cu_key_rdlock(cu_vault *v)
{
    pthread_rwlock_rdlock(&v->key_lock);
    if (scope_open && atomic_load(&v->key_gen) != scope_gen)
        cu_vault_read_end(v);
}

void cu_key_wrlock(cu_vault *v)
{
    cu_vault_read_end(v); /* a writer of keys reads the latest state */
    pthread_rwlock_wrlock(&v->key_lock);
}

void cu_key_wrunlock(cu_vault *v)
{
    atomic_fetch_add(&v->key_gen, 1);
    pthread_rwlock_unlock(&v->key_lock);
}

/* Queues req and returns once it is done: led by itself when no round is running or when the
 * previous leader hands it the lead, else woken by the leader of its group. The caller's read
 * scope ends first: a leader reading heads, or the caller reading after its commit, must see
 * the latest state, not the scope's snapshot. */
static void enqueue_wait(cu_vault *v, struct cu_commit_req *req)
{
    cu_vault_read_end(v);
    pthread_cond_init(&req->cond, NULL);
    pthread_mutex_lock(&v->commit_lock);
    enqueue(v, req);
    while (!req->done) {
        if (req->lead)
            lead(v);
        else
            pthread_cond_wait(&req->cond, &v->commit_lock);
    }
    pthread_mutex_unlock(&v->commit_lock);
    pthread_cond_destroy(&req->cond);
}

/* The writer thread: leads the rounds handed to it (hand_lead) until stopped, and stops only
 * once no asynchronous request is left. */
static void *writer_main(void *arg)
{
    cu_vault *v = arg;

    pthread_mutex_lock(&v->commit_lock);
    for (;;) {
        if (v->writer_lead) {
            v->writer_lead = 0;
            lead(v);
        } else if (v->writer_stop && v->async_pending == 0) {
            break;
        } else {
            pthread_cond_wait(&v->writer_cond, &v->commit_lock);
        }
    }
    pthread_mutex_unlock(&v->commit_lock);
    return NULL;
}

/* Starts the completer and the writer threads, with every signal blocked (they belong to the
 * main thread). Under commit_lock. */
static cu_rc writer_start(cu_vault *v, cu_err *err)
{
    sigset_t all, old;
    int e;

    pthread_cond_init(&v->writer_cond, NULL);
    pthread_cond_init(&v->completer_cond, NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if ((e = pthread_create(&v->completer, NULL, completer_main, v)) == 0 &&
        (e = pthread_create(&v->writer, NULL, writer_main, v)) != 0) {
        /* no request is queued yet: the completer stops at once */
        v->completer_stop = 1;
        pthread_cond_signal(&v->completer_cond);
        pthread_mutex_unlock(&v->commit_lock);
        pthread_join(v->completer, NULL);
        pthread_mutex_lock(&v->commit_lock);
        v->completer_stop = 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        pthread_cond_destroy(&v->writer_cond);
        pthread_cond_destroy(&v->completer_cond);
        return cu_err_set(err, CU_ERR_NOMEM, "could not start the writer thread: %s", strerror(e));
    }
    v->writer_started = 1;
    return CU_OK;
}

/* The writer returns once every asynchronous request has completed (async_pending 0), so the
 * completer has nothing left when it is stopped. */
void cu_commit_stop(cu_vault *v)
{
    pthread_mutex_lock(&v->commit_lock);
    if (!v->writer_started) {
        pthread_mutex_unlock(&v->commit_lock);
        return;
    }
    v->writer_stop = 1;
    pthread_cond_signal(&v->writer_cond);
    pthread_mutex_unlock(&v->commit_lock);
    pthread_join(v->writer, NULL);
    pthread_mutex_lock(&v->commit_lock);
    v->completer_stop = 1;
    pthread_cond_signal(&v->completer_cond);
    pthread_mutex_unlock(&v->commit_lock);
    pthread_join(v->completer, NULL);
    pthread_cond_destroy(&v->writer_cond);
    pthread_cond_destroy(&v->completer_cond);
    v->writer_started = 0;
    v->writer_stop = 0;
    v->completer_stop = 0;
}

cu_rc cu_commit_async(cu_vault *v, const cu_ctx *ctx, cu_store_op *ops, size_t n,
                      const cu_audit_in *audit, size_t naudit, cu_commit_done done, void *arg,
                      cu_err *err)
{
    struct cu_commit_req *req = NULL;
    cu_rc rc = CU_OK;

    cu_vault_read_end(v); /* as enqueue_wait: what follows sees the latest state */
    if (naudit > CU_AUDIT_PER_COMMIT)
        rc = cu_err_set(err, CU_ERR_INVALID, "too many audit entries in one commit");
    else if ((req = calloc(1, sizeof(*req) + naudit * sizeof(cu_audit_entry))) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (rc == CU_OK) {
        req->entries = (cu_audit_entry *)(void *)(req + 1);
        for (size_t i = 0; i < naudit; i++)
            cu_audit_fill(&req->entries[i], ctx, &audit[i]);
        req->ops = req->owned = ops;
        req->nops = n;
        req->nentries = naudit;
        req->complete = done;
        req->complete_arg = arg;
        pthread_mutex_lock(&v->commit_lock);
        if (v->writer_started || (rc = writer_start(v, err)) == CU_OK) {
            v->async_pending++;
            enqueue(v, req);
        }
        pthread_mutex_unlock(&v->commit_lock);
    }
    if (rc != CU_OK) {
        for (size_t i = 0; i < n; i++)
            cu_store_op_cleanup(&ops[i]);
        free(ops);
        free(req);
    }
    return rc;
}

cu_rc cu_commit(cu_vault *v, const cu_ctx *ctx, const cu_store_op *ops, size_t n,
                const cu_audit_in *audit, size_t naudit, cu_err *err)
{
    cu_audit_entry entries[CU_AUDIT_PER_COMMIT];
    struct cu_commit_req req = {0};

    if (naudit > CU_AUDIT_PER_COMMIT)
        return cu_err_set(err, CU_ERR_INVALID, "too many audit entries in one commit");
    for (size_t i = 0; i < naudit; i++)
        cu_audit_fill(&entries[i], ctx, &audit[i]);
    req.ops = ops;
    req.nops = n;
    req.entries = entries;
    req.nentries = naudit;
    enqueue_wait(v, &req);
    cu_cache_after_commit(v, ops, n); /* also on failure: it may be ambiguous */
    if (req.rc != CU_OK && err != NULL)
        *err = req.err;
    return req.rc;
}

/* --- the tail of each chain ------------------------------------------------------------------ */

/* Runs fn with the heads to itself: queued as a round of its own, so no group changes them
 * meanwhile. */
static cu_rc as_leader(cu_vault *v, cu_rc (*fn)(cu_vault *, void *, cu_err *), void *arg,
                       cu_err *err)
{
    struct cu_commit_req req = {.fn = fn, .arg = arg};

    enqueue_wait(v, &req);
    if (req.rc != CU_OK && err != NULL)
        *err = req.err;
    return req.rc;
}

typedef struct tails {
    int64_t now, older_than;
    size_t n;
} tails;

static int tail_due(const head *e, const tails *t)
{
    return e->used && e->seq > 0 && e->seq > e->ckpt_seq && t->now - e->ckpt_at >= t->older_than;
}

/* The slots of the due tails into *out (caller frees), each head read again from the store
 * first: another writer may have extended the chain since this process wrote it, and a head
 * a failed group dropped is known again. What is signed is then an entry the store holds. */
static cu_rc due_tails(cu_vault *v, const tails *t, size_t **out, size_t *n, cu_err *err)
{
    cu_heads *h = v->heads;
    size_t count = 0;
    cu_rc rc = CU_OK;

    *n = 0;
    for (size_t i = 0; i < h->cap; i++)
        count += tail_due(&h->slots[i], t) ? 1 : 0;
    if ((*out = calloc(count ? count : 1, sizeof(**out))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < h->cap && rc == CU_OK; i++) {
        head *e = &h->slots[i];
        if (!tail_due(e, t))
            continue;
        rc = cu_store_audit_head(v->store, e->tenant, &e->seq, e->hash, err);
        e->loaded = rc == CU_OK;
        if (rc == CU_OK && e->seq > 0)
            (*out)[(*n)++] = i;
    }
    return rc;
}

/* Signs every due tail in one transaction (one fsync, however many chains); if that fails,
 * each alone, so one chain's checkpoint signed already (taken: CU_ERR_EXISTS; by this process
 * before it loaded the head, or by another server sharing the database) holds back no other. */
static cu_rc sign_tails(cu_vault *v, void *arg, cu_err *err)
{
    tails *t = arg;
    cu_heads *h = v->heads;
    cu_store_op *ops = NULL;
    cu_err group_err = {0};
    size_t *idx = NULL, n = 0;
    cu_rc rc = due_tails(v, t, &idx, &n, err);

    if (rc != CU_OK || n == 0)
        goto out;
    if ((ops = calloc(n, sizeof(*ops))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        const head *e = &h->slots[idx[k]];
        ops[k].type = CU_OP_AUDIT_CHECKPOINT;
        cu_audit_sign(v, 0, e->tenant, e->seq, t->now, e->hash, &ops[k].u.checkpoint);
    }
    if (cu_store_apply(v->store, ops, n, &group_err) == CU_OK)
        t->n = n;
    else
        for (size_t k = 0; k < n && rc == CU_OK; k++) {
            rc = cu_store_apply(v->store, &ops[k], 1, err);
            if (rc == CU_OK)
                t->n++;
            else if (rc == CU_ERR_EXISTS) /* signed already */
                rc = CU_OK;
        }
    for (size_t k = 0; k < n && rc == CU_OK; k++) {
        h->slots[idx[k]].ckpt_seq = h->slots[idx[k]].seq;
        h->slots[idx[k]].ckpt_at = t->now;
    }
out:
    free(ops);
    free(idx);
    return rc;
}

/* P-AUD-2: a checkpoint on time must not wait for the next entry. Signs the head of every
 * chain written since its last checkpoint, once that checkpoint is older_than ms, so the end of
 * a burst (the last reads before a quiet night) is signed too. */
cu_rc cu_audit_sign_tails(cu_vault *v, int64_t older_than, size_t *nsigned, cu_err *err)
{
    tails t = {.now = cu_audit_now_ms(), .older_than = older_than};
    cu_rc rc = as_leader(v, sign_tails, &t, err);

    if (nsigned)
        *nsigned = t.n;
    return rc;
}

int64_t cu_audit_checkpoint_interval(const cu_vault *v)
{
    return v->checkpoint_ms;
}
