/*
 * cache.c: the vault's caches of secrets: API keys whose secret was verified, and unwrapped
 * tenant, data, index and subject keys (issue 17; docs/security.md, Caches).
 *
 * Each cache is a fixed table of slots chained into hash buckets. The values (a key's
 * plaintext, an API key's stored hash) sit in one block of locked memory (P-ENC-1) apart from
 * the slots, which hold ids only. Room is made by CLOCK: a hit sets the slot's bit, the hand
 * clears bits as it passes and takes the first slot without one. A value leaves the table
 * wiped: evicted, expired, forgotten or at close.
 *
 * Several servers on one database (docs/store.md, "Several servers"): every write that changes
 * what is cached raises its tenant's generation in its own transaction (CU_OP_TENANT_GEN, added
 * by commit.c for each op change_of names), and every read of a tenant row reports the
 * generation it found (cu_cache_observe): one newer than this process has seen forgets all of
 * the tenant's entries before the request that read it uses any.
 *
 * Invariants:
 *  - an entry is at most ttl_ms old when it answers (a monotonic clock): a bound on how long a
 *    secret another process destroyed stays in this one's memory (the generation, not the
 *    TTL, is what makes its next request refuse or miss);
 *  - every entry carries the tenant generation it was read under, and answers only while that
 *    is the newest of its tenant seen here (review 5, F3): an API key entry was read with its
 *    tenant's row; a key read in a read scope is cached only if the scope began after this
 *    process saw its tenant's newest generation (its snapshot then holds that state);
 *  - every forget bumps gen under the lock, and a put whose gen is older is dropped, so a
 *    value read from the store before a change can never be cached after it was forgotten;
 *  - nothing is called with a table's lock held.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache_int.h"
#include "util.h"

#define APIKEY_CACHE_DEFAULT 4096
#define KEY_CACHE_DEFAULT 4096
#define CACHE_MAX 1048576
#define TTL_DEFAULT_MS 1000
#define TTL_MAX_MS 10000

/* What a slot is found by: an API key (id, 0, 0, 0); a key (tenant, owner, kind, version). */
typedef struct ckey {
    cu_id a, b;
    uint32_t c, d;
} ckey;

typedef struct slot {
    ckey key;
    cu_id tag;         /* the tenant the entry belongs to: what forgetting a tenant matches */
    uint64_t tgen;     /* the tenant's cache generation the value was read under */
    int64_t loaded_ms; /* monotonic */
    int32_t next;      /* the next slot in its bucket, or the next free slot; -1: none */
    uint8_t used, ref;
} slot;

typedef struct table {
    pthread_mutex_t lock;
    slot *slots;
    int32_t *buckets;
    uint8_t *values; /* cap * vlen bytes, locked memory */
    size_t cap, nbuckets, vlen, hand;
    int32_t free_head;
    int64_t ttl_ms;
    uint64_t gen;
    cu_cache_stats st;
} table;

/* The newest cache generation (cu_store_tenant.cache_gen) this process has seen per tenant:
 * an open-addressing hash map that grows and never evicts (16 bytes a tenant), so two tenants
 * never take each other's place (review 5, F4: a direct-mapped table made colliding tenants
 * "unknown" again on every read, each time wiping the caches and dropping every put in flight).
 * raised: the clock when this process first saw gen, which a read scope compares with its
 * start (scope_put_ok). */
#define SEEN_MIN 1024

typedef struct seen {
    cu_id tenant; /* 0: a free slot (tenant 0, the operator's, has no row and is never cached) */
    uint64_t gen;
    uint64_t raised;
} seen;

struct cu_caches {
    table apikeys, keys;
    pthread_rwlock_t seen_lock; /* taken before a table's lock, never after */
    seen *seen;
    size_t seen_cap, seen_n;
    _Atomic uint64_t clock; /* counts the generations seen rise */
};

/* The clock when the calling thread's read scope began, and which scope (cu_cache_scope_begin). */
static _Thread_local struct {
    const cu_vault *v;
    uint64_t scope, clock;
} scope_tl;

/* The vault's caches, or NULL before they are made (a vault still opening, or failing to):
 * every table_* function takes NULL as a cache turned off. */
static table *apikeys_of(cu_vault *v)
{
    return v->caches != NULL ? &v->caches->apikeys : NULL;
}

static table *keys_of(cu_vault *v)
{
    return v->caches != NULL ? &v->caches->keys : NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A setting from the environment: def when unset, refused (CU_ERR_INVALID) outside [lo, hi]. */
static cu_rc setting(const char *name, long lo, long hi, long def, long *out, cu_err *err)
{
    const char *s = getenv(name);
    char *end;
    long n;

    *out = def;
    if (s == NULL || *s == '\0')
        return CU_OK;
    n = strtol(s, &end, 10);
    if (*end != '\0' || n < lo || n > hi)
        return cu_err_set(err, CU_ERR_INVALID, "%s must be a whole number from %ld to %ld", name,
                          lo, hi);
    *out = n;
    return CU_OK;
}

/* Sizes t, whose lock is initialized already: cap 0 leaves it off (every lookup a miss). */
static cu_rc table_init(table *t, size_t cap, size_t vlen, int64_t ttl_ms, cu_err *err)
{
    t->vlen = vlen;
    t->ttl_ms = ttl_ms;
    t->free_head = -1;
    if (cap == 0)
        return CU_OK;
    for (t->nbuckets = 16; t->nbuckets < cap; t->nbuckets *= 2)
        ;
    t->slots = calloc(cap, sizeof(*t->slots));
    t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
    if (t->slots == NULL || t->buckets == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    /* P-ENC-1: plaintext keys never in memory that may be swapped out. */
    t->values = cu_secure_alloc_locked(cap * vlen);
    if (t->values == NULL)
        return cu_err_set(err, CU_ERR_LIMIT,
                          "could not lock %zu bytes of memory for a cache of %zu entries: raise "
                          "RLIMIT_MEMLOCK or lower CUSTOS_APIKEY_CACHE / CUSTOS_KEY_CACHE",
                          cap * vlen, cap);
    memset(t->buckets, 0xff, t->nbuckets * sizeof(*t->buckets));
    for (size_t i = 0; i < cap; i++)
        t->slots[i].next = i + 1 < cap ? (int32_t)(i + 1) : -1;
    t->free_head = 0;
    t->cap = cap;
    t->st.capacity = cap;
    return CU_OK;
}

static void table_cleanup(table *t)
{
    cu_secure_free(t->values); /* wipes */
    free(t->slots);
    free(t->buckets);
    pthread_mutex_destroy(&t->lock);
}

static size_t bucket_of(const table *t, const ckey *k)
{
    uint64_t h = k->a * 0x9E3779B97F4A7C15ULL;

    h ^= (k->b + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
    h ^= (((uint64_t)k->c << 32) | k->d) * 0x165667B19E3779F9ULL;
    h ^= h >> 29;
    return (size_t)h & (t->nbuckets - 1);
}

static int key_eq(const ckey *x, const ckey *y)
{
    return x->a == y->a && x->b == y->b && x->c == y->c && x->d == y->d;
}

static int32_t find(const table *t, const ckey *k)
{
    int32_t i = t->buckets[bucket_of(t, k)];

    while (i >= 0 && !key_eq(&t->slots[i].key, k))
        i = t->slots[i].next;
    return i;
}

/* Takes slot i out of its bucket, wipes its value and frees it. */
static void drop(table *t, int32_t i)
{
    slot *s = &t->slots[i];
    int32_t *p = &t->buckets[bucket_of(t, &s->key)];

    while (*p != i)
        p = &t->slots[*p].next;
    *p = s->next;
    cu_wipe(t->values + (size_t)i * t->vlen, t->vlen);
    memset(s, 0, sizeof(*s));
    s->next = t->free_head;
    t->free_head = i;
    t->st.size--;
}

static int expired(const table *t, const slot *s, int64_t now)
{
    return now - s->loaded_ms >= t->ttl_ms;
}

/* A free slot: from the free list, else the first the CLOCK hand finds without its bit (or
 * expired), evicted. */
static int32_t take_slot(table *t, int64_t now)
{
    int32_t i = t->free_head;

    if (i >= 0) {
        t->free_head = t->slots[i].next;
        return i;
    }
    for (;;) {
        slot *s = &t->slots[t->hand];
        i = (int32_t)t->hand;
        t->hand = (t->hand + 1) % t->cap;
        if (s->ref && !expired(t, s, now)) {
            s->ref = 0;
            continue;
        }
        t->st.evictions++;
        drop(t, i);
        t->free_head = t->slots[i].next;
        return i;
    }
}

static seen *seen_find(const struct cu_caches *c, cu_id tenant);

/* The newest generation of tenant seen here, 0 if none; with seen_lock held. */
static uint64_t seen_gen(const struct cu_caches *c, cu_id tenant)
{
    const seen *s = seen_find(c, tenant);

    return s != NULL ? s->gen : 0;
}

/* With c->seen_lock held (read): an entry read under an older generation of its tenant than
 * the newest seen here is never served (review 5, F3), whoever filled it and when. */
static int table_get(struct cu_caches *c, table *t, const ckey *k, void *out)
{
    int64_t now = mono_ms();
    int32_t i;
    int hit = 0;

    if (t == NULL || t->cap == 0)
        return 0;
    pthread_mutex_lock(&t->lock);
    i = find(t, k);
    if (i >= 0 && expired(t, &t->slots[i], now)) {
        t->st.expired++;
        drop(t, i);
        i = -1;
    }
    if (i >= 0 && t->slots[i].tgen != seen_gen(c, t->slots[i].tag)) {
        t->st.forgotten++;
        drop(t, i);
        i = -1;
    }
    if (i >= 0) {
        memcpy(out, t->values + (size_t)i * t->vlen, t->vlen);
        t->slots[i].ref = 1;
        hit = 1;
    }
    if (hit)
        t->st.hits++;
    else
        t->st.misses++;
    pthread_mutex_unlock(&t->lock);
    return hit;
}

/* With the seen lock held (read): caches value, read under the tenant's generation tgen. */
static void table_put(table *t, const ckey *k, cu_id tag, const void *value, uint64_t gen,
                      uint64_t tgen)
{
    int64_t now = mono_ms();
    int32_t i;

    if (t == NULL || t->cap == 0)
        return;
    pthread_mutex_lock(&t->lock);
    if (gen != t->gen) /* something was forgotten since the caller read value */
        goto out;
    if ((i = find(t, k)) < 0) {
        size_t b = bucket_of(t, k);
        i = take_slot(t, now);
        t->slots[i].key = *k;
        t->slots[i].used = 1;
        t->slots[i].next = t->buckets[b];
        t->buckets[b] = i;
        t->st.size++;
    }
    t->slots[i].tag = tag;
    t->slots[i].tgen = tgen;
    t->slots[i].loaded_ms = now;
    t->slots[i].ref = 0;
    memcpy(t->values + (size_t)i * t->vlen, value, t->vlen);
out:
    pthread_mutex_unlock(&t->lock);
}

static uint64_t table_gen(table *t)
{
    uint64_t g;

    if (t == NULL)
        return 0;
    pthread_mutex_lock(&t->lock);
    g = t->gen;
    pthread_mutex_unlock(&t->lock);
    return g;
}

/* What a forget matches: a tag (the tenant), and optionally an owner and kind (c). */
typedef struct match {
    int all;
    cu_id tag;
    int by_owner;
    cu_id owner;
    uint32_t kind;
} match;

static void table_forget(table *t, const match *m)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->gen++;
    for (size_t i = 0; i < t->cap; i++) {
        const slot *s = &t->slots[i];
        if (!s->used || !(m->all || s->tag == m->tag))
            continue;
        if (m->by_owner && (s->key.b != m->owner || s->key.c != m->kind))
            continue;
        t->st.forgotten++;
        drop(t, (int32_t)i);
    }
    pthread_mutex_unlock(&t->lock);
}

/* Drops every put in flight (their reads may predate what was just seen), wiping nothing. */
static void table_bump(table *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->gen++;
    pthread_mutex_unlock(&t->lock);
}

static void table_forget_key(table *t, const ckey *k)
{
    int32_t i;

    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    t->gen++;
    if (t->cap > 0 && (i = find(t, k)) >= 0) {
        t->st.forgotten++;
        drop(t, i);
    }
    pthread_mutex_unlock(&t->lock);
}

cu_rc cu_cache_open(cu_vault *v, cu_err *err)
{
    long nk, nkeys, ttl;
    cu_rc rc;

    if ((rc = setting("CUSTOS_APIKEY_CACHE", 0, CACHE_MAX, APIKEY_CACHE_DEFAULT, &nk, err)) ||
        (rc = setting("CUSTOS_KEY_CACHE", 0, CACHE_MAX, KEY_CACHE_DEFAULT, &nkeys, err)) ||
        (rc = setting("CUSTOS_CACHE_TTL_MS", 1, TTL_MAX_MS, TTL_DEFAULT_MS, &ttl, err)))
        return rc;
    if ((v->caches = calloc(1, sizeof(*v->caches))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&v->caches->apikeys.lock, NULL);
    pthread_mutex_init(&v->caches->keys.lock, NULL);
    pthread_rwlock_init(&v->caches->seen_lock, NULL);
    if ((v->caches->seen = calloc(SEEN_MIN, sizeof(seen))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    v->caches->seen_cap = SEEN_MIN;
    if ((rc = table_init(apikeys_of(v), (size_t)nk, sizeof(cu_cache_apikey), ttl, err)) ||
        (rc = table_init(keys_of(v), (size_t)nkeys, sizeof(cu_key), ttl, err)))
        return rc; /* the caller closes the vault, which frees what was made */
    return CU_OK;
}

void cu_cache_close(cu_vault *v)
{
    if (v == NULL || v->caches == NULL)
        return;
    table_cleanup(&v->caches->apikeys);
    table_cleanup(&v->caches->keys);
    pthread_rwlock_destroy(&v->caches->seen_lock);
    free(v->caches->seen);
    free(v->caches);
    v->caches = NULL;
}

void cu_vault_cache_stats(cu_vault *v, cu_cache_kind which, cu_cache_stats *out)
{
    table *t = which == CU_CACHE_APIKEYS ? apikeys_of(v) : keys_of(v);

    memset(out, 0, sizeof(*out));
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    *out = t->st;
    pthread_mutex_unlock(&t->lock);
}

/* --- generations: what another server changed ------------------------------------------------ */

static size_t seen_hash(cu_id tenant, size_t cap)
{
    uint64_t h = tenant * 0x9E3779B97F4A7C15ULL;

    return (size_t)(h ^ (h >> 31)) & (cap - 1);
}

static seen *seen_find(const struct cu_caches *c, cu_id tenant)
{
    for (size_t i = seen_hash(tenant, c->seen_cap);; i = (i + 1) & (c->seen_cap - 1)) {
        if (c->seen[i].tenant == tenant)
            return &c->seen[i];
        if (c->seen[i].tenant == 0)
            return NULL;
    }
}

/* A free slot for tenant (not in the map), the map grown first past half full; NULL without
 * memory. With seen_lock held (write). */
static seen *seen_add(struct cu_caches *c, cu_id tenant)
{
    size_t i;

    if ((c->seen_n + 1) * 2 > c->seen_cap) {
        size_t cap = c->seen_cap * 2;
        seen *n = calloc(cap, sizeof(*n));
        if (n == NULL)
            return NULL;
        for (size_t j = 0; j < c->seen_cap; j++) {
            if (c->seen[j].tenant == 0)
                continue;
            for (i = seen_hash(c->seen[j].tenant, cap); n[i].tenant != 0; i = (i + 1) & (cap - 1))
                ;
            n[i] = c->seen[j];
        }
        free(c->seen);
        c->seen = n;
        c->seen_cap = cap;
    }
    for (i = seen_hash(tenant, c->seen_cap); c->seen[i].tenant != 0; i = (i + 1) & (c->seen_cap - 1))
        ;
    c->seen_n++;
    c->seen[i].tenant = tenant;
    return &c->seen[i];
}

void cu_cache_scope_begin(cu_vault *v, uint64_t scope)
{
    if (v == NULL || v->caches == NULL)
        return;
    scope_tl.v = v;
    scope_tl.scope = scope;
    scope_tl.clock = atomic_load(&v->caches->clock);
}

/* Whether a value the calling thread read may be cached under the tenant's newest generation
 * seen (s, NULL if none): outside a read scope every read sees the latest state, and a put
 * whose read predates a change is dropped by the table's gen (observe bumps it); inside one,
 * the scope's snapshot may be older than that generation (review 5, F3): only if this process
 * saw it before the scope began is it in the snapshot. With seen_lock held. */
static int scope_put_ok(cu_vault *v, const seen *s)
{
    uint64_t scope = cu_vault_read_scope();

    if (scope == 0 || s == NULL)
        return 1;
    if (scope_tl.v != v || scope_tl.scope != scope)
        return 0; /* a scope whose start was not told: its snapshot's age unknown */
    return s->raised <= scope_tl.clock;
}

void cu_cache_observe(cu_vault *v, cu_id tenant, uint64_t gen)
{
    struct cu_caches *c = v->caches;
    enum { SAME, FIRST, NEWER } what = SAME;
    seen *s;

    if (c == NULL || tenant == 0)
        return;
    pthread_rwlock_rdlock(&c->seen_lock);
    s = seen_find(c, tenant);
    if (s != NULL && gen <= s->gen) {
        /* known, or an older snapshot's: what is cached is as new (the common case) */
        pthread_rwlock_unlock(&c->seen_lock);
        return;
    }
    pthread_rwlock_unlock(&c->seen_lock);
    pthread_rwlock_wrlock(&c->seen_lock);
    if ((s = seen_find(c, tenant)) == NULL) {
        what = FIRST;
        s = seen_add(c, tenant);
    } else if (gen > s->gen) {
        what = NEWER;
    }
    if (s != NULL && what != SAME) {
        s->gen = gen;
        s->raised = atomic_fetch_add(&c->clock, 1) + 1;
    }
    pthread_rwlock_unlock(&c->seen_lock);
    /* Raised by another server: what is cached of the tenant predates the change (and is no
     * longer served: its generation is older). Seen for the first time (or not remembered, out
     * of memory): nothing cached of it is served (generation 0), and a put in flight may have
     * read the state before a change, so it is dropped. */
    if (what == NEWER || s == NULL)
        cu_cache_forget_tenant(v, tenant);
    else if (what == FIRST) {
        table_bump(keys_of(v));
        table_bump(apikeys_of(v));
    }
}

/* What a committed op changes of the caches: nothing, one API key, one subject's keys, every
 * key and API key of a tenant, or everything. */
typedef enum change { CH_NONE, CH_APIKEY, CH_SUBJECT, CH_TENANT, CH_ALL } change;

static change change_of(const cu_store_op *op, cu_id *tenant)
{
    *tenant = 0;
    switch (op->type) {
    case CU_OP_APIKEY_REVOKE: /* P-ACC-3: refused from the next request on */
        *tenant = op->u.revoke.tenant_id;
        return CH_APIKEY;
    case CU_OP_KEY_DELETE:
        *tenant = op->u.key_del.tenant_id;
        /* P-DSR-4: an erasure; else a tenant key rotation */
        return op->u.key_del.kind == CU_KEY_SUBJECT ? CH_SUBJECT : CH_TENANT;
    case CU_OP_KEY_PUT:
    case CU_OP_KEY_REWRAP:
        if (op->u.key.kind == CU_KEY_SUBJECT && op->type == CU_OP_KEY_PUT)
            return CH_NONE; /* a new subject: nothing of it is cached */
        *tenant = op->u.key.tenant_id;
        return CH_TENANT;
    case CU_OP_DATA_KEY_DESTROY:
        *tenant = op->u.key_del.tenant_id;
        return CH_TENANT;
    case CU_OP_TENANT_STATE:
        *tenant = op->u.tenant.id;
        return CH_TENANT;
    case CU_OP_TENANT_CLOSE:
    case CU_OP_TENANT_SHRED:
        *tenant = op->u.del.tenant_id;
        return CH_TENANT;
    case CU_OP_MASTER_ADD:
        return CH_ALL;
    default:
        return CH_NONE;
    }
}

cu_id cu_cache_gen_tenant(const cu_store_op *op)
{
    cu_id tenant;
    change c = change_of(op, &tenant);

    /* A master key version changes no plaintext: the rewraps it comes with raise their
     * tenants. Operator keys (tenant 0) are never cached. */
    return c == CH_NONE || c == CH_ALL ? 0 : tenant;
}

/* --- API keys ------------------------------------------------------------------------------ */

/* A lookup with the seen lock held, so that no newer generation is seen meanwhile. */
static int locked_get(cu_vault *v, table *t, const ckey *k, void *out)
{
    int hit;

    if (v->caches == NULL)
        return 0;
    pthread_rwlock_rdlock(&v->caches->seen_lock);
    hit = table_get(v->caches, t, k, out);
    pthread_rwlock_unlock(&v->caches->seen_lock);
    return hit;
}

int cu_cache_apikey_get(cu_vault *v, cu_id id, cu_cache_apikey *out)
{
    return locked_get(v, apikeys_of(v), &(ckey){.a = id}, out);
}

uint64_t cu_cache_apikey_gen(cu_vault *v)
{
    return table_gen(apikeys_of(v));
}

void cu_cache_apikey_put(cu_vault *v, cu_id id, const cu_cache_apikey *k, uint64_t gen,
                         uint64_t tenant_gen)
{
    const seen *s;

    /* Several servers: only what was read under the newest generation seen, so a read from an
     * older snapshot (a scope opened before another server's revocation) is never cached. */
    if (k->tenant == 0 || v->caches == NULL)
        return;
    pthread_rwlock_rdlock(&v->caches->seen_lock);
    s = seen_find(v->caches, k->tenant);
    if (s != NULL && s->gen == tenant_gen)
        table_put(apikeys_of(v), &(ckey){.a = id}, k->tenant, k, gen, tenant_gen);
    pthread_rwlock_unlock(&v->caches->seen_lock);
}

void cu_cache_forget_apikey(cu_vault *v, cu_id id)
{
    table_forget_key(apikeys_of(v), &(ckey){.a = id});
}

/* --- unwrapped keys -------------------------------------------------------------------------- */

static ckey key_of(cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version)
{
    return (ckey){.a = tenant, .b = owner, .c = (uint32_t)kind, .d = version};
}

int cu_cache_key_get(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                     cu_key *out)
{
    ckey k = key_of(tenant, kind, owner, version);

    return locked_get(v, keys_of(v), &k, out);
}

uint64_t cu_cache_key_gen(cu_vault *v)
{
    return table_gen(keys_of(v));
}

void cu_cache_key_put(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                      const cu_key *k, uint64_t gen)
{
    ckey ck = key_of(tenant, kind, owner, version);
    const seen *s;

    if (v->caches == NULL)
        return;
    /* Under the newest generation seen, and only if the read saw it (review 5, F3). */
    pthread_rwlock_rdlock(&v->caches->seen_lock);
    s = seen_find(v->caches, tenant);
    if (scope_put_ok(v, s))
        table_put(keys_of(v), &ck, tenant, k, gen, s != NULL ? s->gen : 0);
    pthread_rwlock_unlock(&v->caches->seen_lock);
}

void cu_cache_forget_subject(cu_vault *v, cu_id tenant, cu_id subject)
{
    match m = {.tag = tenant, .by_owner = 1, .owner = subject, .kind = CU_KEY_SUBJECT};

    table_forget(keys_of(v), &m);
}

void cu_cache_forget_tenant(cu_vault *v, cu_id tenant)
{
    match m = {.tag = tenant};

    table_forget(keys_of(v), &m);
    table_forget(apikeys_of(v), &m);
}

void cu_cache_forget_all(cu_vault *v)
{
    match m = {.all = 1};

    table_forget(keys_of(v), &m);
    table_forget(apikeys_of(v), &m);
}

/* --- what a commit changes -------------------------------------------------------------------- */

void cu_cache_after_commit(cu_vault *v, const cu_store_op *ops, size_t n)
{
    cu_id last = 0, tenant;
    int any = 0;

    for (size_t i = 0; i < n; i++) {
        switch (change_of(&ops[i], &tenant)) {
        case CH_APIKEY:
            cu_cache_forget_apikey(v, ops[i].u.revoke.id);
            continue;
        case CH_SUBJECT:
            cu_cache_forget_subject(v, tenant, ops[i].u.key_del.owner_id);
            continue;
        case CH_ALL:
            cu_cache_forget_all(v);
            return;
        case CH_TENANT:
            break;
        default:
            continue;
        }
        if (!any || tenant != last) /* a rotation rewraps many keys of one tenant */
            cu_cache_forget_tenant(v, tenant);
        any = 1;
        last = tenant;
    }
}
