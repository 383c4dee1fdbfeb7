/*
 * throttle.c: what bounds guessing at logins (P-ACC-6, P-ACC-2): rate limits per source address
 * and per tenant, failure counters with exponential back-off per (source, account), per source
 * and per account's second factor, and the slots that bound concurrent password hashes.
 *
 * The state lives in memory, per vault. One process serves a data directory (vault.c flocks
 * it), so the process sees every attempt; a counter in the store would cost a durable write
 * (and its fsync) per guess, which is what a flood is made of. A restart forgets the counters:
 * an attacker gains one fresh allowance per restart, which the operator controls.
 *
 * Entries are keyed by a keyed hash (HMAC-SHA256 under a random per-process key) of what they
 * count, so no email or address is held in clear, and the table has a fixed size: a full probe
 * run evicts its least recently used entry. An account is the (tenant, normalized email) pair,
 * whether or not a user has it, so throttling answers alike for unknown and known emails.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_int.h"
#include "util.h"

#define TH_ENTRIES 4096 /* a power of two */
#define TH_PROBE 8
#define TH_WINDOW 60 /* seconds of a rate window */

/* Back-off of each counter kind: free failures (times the free_failures limit for a source
 * or an account), then base << n seconds up to cap; a failure after cap seconds of quiet
 * starts the count afresh. */
static const struct {
    const char *domain;
    unsigned free, scaled, base, cap;
} kinds[] = {
    [CU_TH_SOURCE] = {"th:source", 4, 1, 15, 3600},
    [CU_TH_TENANT] = {"th:tenant", 0, 0, 0, 0},
    [CU_TH_ACCOUNT] = {"th:account", 1, 1, 15, 3600},
    [CU_TH_MFA] = {"th:mfa", 3, 0, 30, 3600},
};

typedef struct th_entry {
    uint8_t key[16];
    int used;
    int64_t last;      /* last touched, for eviction */
    int64_t win_start; /* the current rate window */
    uint32_t count;    /* attempts in it */
    uint32_t failures; /* failures since the count started */
    int64_t last_fail;
    int64_t until; /* refused before this */
} th_entry;

struct cu_auth_state {
    pthread_mutex_t lock; /* guards tab */
    pthread_mutex_t slot_lock;
    pthread_cond_t slot_cond; /* CLOCK_MONOTONIC */
    unsigned busy;            /* hash slots in use */
    cu_auth_limits lim;
    uint8_t salt[CU_KEYBYTES];
    th_entry tab[TH_ENTRIES];
};

static void limits_default(cu_auth_limits *l)
{
    if (l->hash_slots == 0)
        l->hash_slots = CU_AUTH_HASH_SLOTS;
    if (l->hash_wait_ms == 0)
        l->hash_wait_ms = CU_AUTH_HASH_WAIT_MS;
    if (l->source_per_min == 0)
        l->source_per_min = CU_AUTH_SOURCE_PER_MIN;
    if (l->tenant_per_min == 0)
        l->tenant_per_min = CU_AUTH_TENANT_PER_MIN;
    if (l->session_idle == 0)
        l->session_idle = CU_SESSION_IDLE;
    if (l->free_failures == 0)
        l->free_failures = CU_AUTH_FREE_FAILURES;
}

cu_rc cu_auth_state_new(cu_auth_state **out, cu_err *err)
{
    cu_auth_state *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;

    if (s == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->slot_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->slot_cond, &ca);
    pthread_condattr_destroy(&ca);
    limits_default(&s->lim);
    cu_random(s->salt, sizeof(s->salt));
    *out = s;
    return CU_OK;
}

void cu_auth_state_free(cu_auth_state *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->slot_lock);
    pthread_cond_destroy(&s->slot_cond);
    cu_wipe(s, sizeof(*s));
    free(s);
}

void cu_auth_limits_set(cu_vault *v, const cu_auth_limits *l)
{
    cu_auth_limits lim = *l;

    limits_default(&lim);
    pthread_mutex_lock(&v->auth->lock);
    v->auth->lim = lim;
    pthread_mutex_unlock(&v->auth->lock);
}

void cu_auth_limits_get(cu_vault *v, cu_auth_limits *out)
{
    pthread_mutex_lock(&v->auth->lock);
    *out = v->auth->lim;
    pthread_mutex_unlock(&v->auth->lock);
}

void cu_throttle_key(cu_vault *v, cu_th_kind kind, const void *data, size_t len, cu_th_key *out)
{
    uint8_t h[CU_BLINDBYTES];

    cu_blind_index(v->auth->salt, kinds[kind].domain, data, len, h);
    memcpy(out->b, h, sizeof(out->b));
    out->kind = kind;
    cu_wipe(h, sizeof(h));
}

/* Slot i of k's probe run. */
static th_entry *probe(cu_auth_state *s, const cu_th_key *k, size_t i)
{
    size_t h;

    memcpy(&h, k->b, sizeof(h));
    return &s->tab[(h + i) & (TH_ENTRIES - 1)];
}

/* The entry of k, or NULL. Call with s->lock held. */
static th_entry *lookup(cu_auth_state *s, const cu_th_key *k)
{
    for (size_t i = 0; i < TH_PROBE; i++) {
        th_entry *e = probe(s, k, i);
        if (e->used && memcmp(e->key, k->b, sizeof(e->key)) == 0)
            return e;
    }
    return NULL;
}

/* The entry of k, made (evicting the least recently used of its probe run) if absent. Call
 * with s->lock held. */
static th_entry *find(cu_auth_state *s, const cu_th_key *k, int64_t now)
{
    th_entry *victim = lookup(s, k);

    if (victim != NULL) {
        victim->last = now;
        return victim;
    }
    for (size_t i = 0; i < TH_PROBE; i++) {
        th_entry *e = probe(s, k, i);
        if (victim == NULL || !e->used || (victim->used && e->last < victim->last))
            victim = e;
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->key, k->b, sizeof(victim->key));
    victim->used = 1;
    victim->last = now;
    return victim;
}

/* Seconds until e's back-off ends, or 0. */
static unsigned backoff_wait(const th_entry *e, int64_t now)
{
    return e->until > now ? (unsigned)(e->until - now) : 0;
}

/* Seconds until a window of e has room for one more attempt under limit, or 0. */
static unsigned rate_wait(th_entry *e, unsigned limit, int64_t now)
{
    if (now - e->win_start >= TH_WINDOW || now < e->win_start) {
        e->win_start = now;
        e->count = 0;
    }
    return e->count < limit ? 0 : (unsigned)(e->win_start + TH_WINDOW - now);
}

/* P-ACC-6: every check is made, in the same order, whatever the outcome of the one before. */
cu_rc cu_throttle_check(cu_vault *v, const cu_th_key *keys, size_t n, int64_t now,
                        unsigned *retry_after, cu_err *err)
{
    cu_auth_state *s = v->auth;
    unsigned wait = 0;

    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        th_entry *e = find(s, &keys[i], now);
        unsigned w = backoff_wait(e, now), limit = 0;
        if (keys[i].kind == CU_TH_SOURCE)
            limit = s->lim.source_per_min;
        else if (keys[i].kind == CU_TH_TENANT)
            limit = s->lim.tenant_per_min;
        if (limit > 0) {
            unsigned r = rate_wait(e, limit, now);
            w = r > w ? r : w;
        }
        wait = w > wait ? w : wait;
    }
    /* Only an attempt let through counts against the rate limits. */
    for (size_t i = 0; i < n && wait == 0; i++)
        if (keys[i].kind == CU_TH_SOURCE || keys[i].kind == CU_TH_TENANT)
            find(s, &keys[i], now)->count++;
    pthread_mutex_unlock(&s->lock);
    if (retry_after)
        *retry_after = wait;
    if (wait > 0)
        return cu_err_set(err, CU_ERR_RATE_LIMITED, "too many login attempts: try again later");
    return CU_OK;
}

void cu_throttle_failed(cu_vault *v, const cu_th_key *k, int64_t now)
{
    cu_auth_state *s = v->auth;
    unsigned free_n = kinds[k->kind].free, shift;
    th_entry *e;

    pthread_mutex_lock(&s->lock);
    if (kinds[k->kind].scaled)
        free_n =
            s->lim.free_failures > UINT_MAX / free_n ? UINT_MAX : free_n * s->lim.free_failures;
    e = find(s, k, now);
    if (e->failures > 0 && now - e->last_fail >= (int64_t)kinds[k->kind].cap)
        e->failures = 0;
    e->failures++;
    e->last_fail = now;
    if (kinds[k->kind].base > 0 && e->failures > free_n) {
        shift = e->failures - free_n - 1;
        int64_t d =
            shift >= 20 ? (int64_t)kinds[k->kind].cap : (int64_t)kinds[k->kind].base << shift;
        e->until = now + (d < (int64_t)kinds[k->kind].cap ? d : (int64_t)kinds[k->kind].cap);
    }
    pthread_mutex_unlock(&s->lock);
}

void cu_throttle_clear(cu_vault *v, const cu_th_key *k)
{
    cu_auth_state *s = v->auth;
    th_entry *e;

    pthread_mutex_lock(&s->lock);
    if ((e = lookup(s, k)) != NULL)
        memset(e, 0, sizeof(*e));
    pthread_mutex_unlock(&s->lock);
}

/* --- password-hashing slots -------------------------------------------------------------- */

cu_rc cu_auth_slot_acquire(cu_vault *v, unsigned *retry_after, cu_err *err)
{
    cu_auth_state *s = v->auth;
    cu_auth_limits lim;
    struct timespec until;
    int timed_out = 0;

    cu_auth_limits_get(v, &lim);
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += lim.hash_wait_ms / 1000;
    until.tv_nsec += (long)(lim.hash_wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->slot_lock);
    while (s->busy >= lim.hash_slots && !timed_out)
        timed_out = pthread_cond_timedwait(&s->slot_cond, &s->slot_lock, &until) != 0;
    if (s->busy < lim.hash_slots) {
        s->busy++;
        timed_out = 0;
    }
    pthread_mutex_unlock(&s->slot_lock);
    if (!timed_out)
        return CU_OK;
    if (retry_after)
        *retry_after = 1;
    return cu_err_set(err, CU_ERR_UNAVAILABLE,
                      "every password check is busy: try again in a moment");
}

void cu_auth_slot_release(cu_vault *v)
{
    cu_auth_state *s = v->auth;

    pthread_mutex_lock(&s->slot_lock);
    s->busy--;
    pthread_cond_signal(&s->slot_cond);
    pthread_mutex_unlock(&s->slot_lock);
}
