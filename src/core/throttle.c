/*
 * throttle.c: what bounds guessing at logins (P-ACC-6, P-ACC-2): rate limits per source address
 * and per tenant, failure counters with exponential back-off per (source, account), per source
 * and per account's second factor, and the slots that bound concurrent password hashes.
 *
 * The state lives in memory, per vault. One process serves a data directory (the SQLite
 * store flocks it), so the process sees every attempt; a counter in the store would cost a
 * durable write (and its fsync) per guess, which is what a flood is made of. A restart forgets the counters:
 * an attacker gains one fresh allowance per restart, which the operator controls.
 *
 * Entries are keyed by a keyed hash (HMAC-SHA256 under a random per-process key) of what they
 * count, so no email or address is held in clear, and the table has a fixed size. A check
 * only looks entries up; one is made only for an attempt let through (which then costs a
 * password hash) or for its failure, so refused floods make none. A full probe run evicts its
 * least recently used entry that does not refuse (neither backing off nor with a full rate
 * window); if every entry there refuses, the attempt is refused too (fail closed). An account is
 * the (tenant, normalized email) pair, whether or not a user has it, so throttling answers alike
 * for unknown and known emails.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_int.h"
#include "util.h"

#define TH_ENTRIES 16384 /* a power of two: 1 MiB */
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
    [CU_TH_TENANT] = {"th:tenant", 0, 0, 0, 3600},
    [CU_TH_ACCOUNT] = {"th:account", 1, 1, 15, 3600},
    [CU_TH_MFA] = {"th:mfa", 3, 0, 30, 3600},
    [CU_TH_MFA_USER] = {"th:mfa-user", 30, 0, 30, 3600},
    [CU_TH_REAUTH] = {"th:reauth", 3, 0, 30, 3600},
};

typedef struct th_entry {
    uint8_t key[16];
    int used;
    cu_th_kind kind;
    uint64_t last;     /* the table's tick when last touched, for eviction */
    int64_t win_start; /* the current rate window */
    uint32_t count;    /* attempts in it (a tenant's: failures) */
    uint32_t failures; /* failures since the count started */
    int64_t last_fail;
    int64_t until; /* refused before this */
} th_entry;

struct cu_auth_state {
    pthread_mutex_t lock;     /* guards tab and tick */
    pthread_mutex_t lim_lock; /* lim is written under both locks, read under either: a
                               * session's touch reads it without waiting on tab */
    pthread_mutex_t slot_lock;
    pthread_cond_t slot_cond; /* CLOCK_MONOTONIC */
    unsigned busy;            /* hash slots in use */
    cu_auth_limits lim;
    uint8_t salt[CU_KEYBYTES];
    uint64_t tick; /* counts touches: an order of use finer than the clock's seconds */
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
    pthread_mutex_init(&s->lim_lock, NULL);
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
    pthread_mutex_destroy(&s->lim_lock);
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
    pthread_mutex_lock(&v->auth->lim_lock);
    v->auth->lim = lim;
    pthread_mutex_unlock(&v->auth->lim_lock);
    pthread_mutex_unlock(&v->auth->lock);
}

void cu_auth_limits_get(cu_vault *v, cu_auth_limits *out)
{
    pthread_mutex_lock(&v->auth->lim_lock);
    *out = v->auth->lim;
    pthread_mutex_unlock(&v->auth->lim_lock);
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

/* The entry of k, or NULL; never makes one. Call with s->lock held. */
static th_entry *lookup(cu_auth_state *s, const cu_th_key *k)
{
    for (size_t i = 0; i < TH_PROBE; i++) {
        th_entry *e = probe(s, k, i);
        if (e->used && memcmp(e->key, k->b, sizeof(e->key)) == 0)
            return e;
    }
    return NULL;
}

/* The per-minute limit of e's rate window, or 0 for none. */
static unsigned rate_limit(const cu_auth_state *s, cu_th_kind kind)
{
    if (kind == CU_TH_SOURCE)
        return s->lim.source_per_min;
    if (kind == CU_TH_TENANT)
        return s->lim.tenant_per_min;
    return 0;
}

/* Seconds for which e still refuses (its back-off, or its full rate window), or 0: an entry
 * that refuses is never evicted, or a flood of other keys would set it free. */
static unsigned refusing(const cu_auth_state *s, const th_entry *e, int64_t now)
{
    unsigned limit = rate_limit(s, e->kind), w = 0;

    if (e->until > now)
        w = (unsigned)(e->until - now);
    if (limit > 0 && e->count >= limit && now >= e->win_start && now - e->win_start < TH_WINDOW &&
        (unsigned)(e->win_start + TH_WINDOW - now) > w)
        w = (unsigned)(e->win_start + TH_WINDOW - now);
    return w;
}

/* The entry of k, made if absent in a free slot of its probe run or in place of the least
 * recently used entry there that does not refuse. NULL if every one refuses, with the
 * shortest of their waits in *wait. Call with s->lock held. */
static th_entry *find(cu_auth_state *s, const cu_th_key *k, int64_t now, unsigned *wait)
{
    th_entry *victim = lookup(s, k);

    *wait = 0;
    if (victim == NULL) {
        for (size_t i = 0; i < TH_PROBE; i++) {
            th_entry *e = probe(s, k, i);
            unsigned w = e->used ? refusing(s, e, now) : 0;
            if (w > 0) {
                *wait = *wait == 0 || w < *wait ? w : *wait;
                continue;
            }
            if (victim == NULL || (victim->used && (!e->used || e->last < victim->last)))
                victim = e;
        }
        if (victim == NULL)
            return NULL;
        memset(victim, 0, sizeof(*victim));
        memcpy(victim->key, k->b, sizeof(victim->key));
        victim->used = 1;
        victim->kind = k->kind;
    }
    victim->last = ++s->tick;
    return victim;
}

/* Opens a new rate window of e if its last one is over. */
static void window_roll(th_entry *e, int64_t now)
{
    if (now - e->win_start >= TH_WINDOW || now < e->win_start) {
        e->win_start = now;
        e->count = 0;
    }
}

/* Whether a source entry has failed within its back-off's cap. */
static int source_failed(const th_entry *src, int64_t now)
{
    return src != NULL && src->failures > 0 &&
           now - src->last_fail < (int64_t)kinds[CU_TH_SOURCE].cap;
}

/* Seconds key k refuses for, or 0. A tenant's window counts failures, and refuses only
 * sources that have failed themselves: an address with no failure is never refused by it. */
static unsigned key_wait(cu_auth_state *s, const cu_th_key *k, const th_entry *src, int64_t now)
{
    th_entry *e = lookup(s, k);

    if (e == NULL)
        return 0;
    if (k->kind == CU_TH_TENANT && !source_failed(src, now))
        return 0;
    return refusing(s, e, now);
}

/* Counts one attempt let through: makes the entry of every key (so its failures can be
 * counted) and one more attempt in each source's window. 0, or the seconds to wait if a
 * probe run holds only refusing entries (fail closed). Call with s->lock held. */
static unsigned count_attempt(cu_auth_state *s, const cu_th_key *keys, size_t n, int64_t now)
{
    th_entry *e[8];
    unsigned w = 0;

    for (size_t i = 0; i < n && i < 8; i++)
        if ((e[i] = find(s, &keys[i], now, &w)) == NULL)
            return w;
    for (size_t i = 0; i < n && i < 8; i++)
        if (memcmp(e[i]->key, keys[i].b, sizeof(e[i]->key)) != 0)
            return 1; /* a later key's run took it: every other entry there refuses */
    for (size_t i = 0; i < n && i < 8; i++)
        if (keys[i].kind == CU_TH_SOURCE) {
            window_roll(e[i], now);
            e[i]->count++;
        }
    return 0;
}

/* P-ACC-6: the source is checked first, and alone when it refuses, so a flood it sends makes
 * no entries; else every other key is checked, in the same order whatever the outcome of the
 * one before. Entries are made only for an attempt let through. */
cu_rc cu_throttle_check(cu_vault *v, const cu_th_key *keys, size_t n, int64_t now,
                        unsigned *retry_after, cu_err *err)
{
    cu_auth_state *s = v->auth;
    const th_entry *src = NULL;
    unsigned wait = 0;

    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++)
        if (keys[i].kind == CU_TH_SOURCE) {
            src = lookup(s, &keys[i]);
            wait = key_wait(s, &keys[i], NULL, now);
        }
    for (size_t i = 0; i < n && wait == 0; i++)
        if (keys[i].kind != CU_TH_SOURCE) {
            unsigned w = key_wait(s, &keys[i], src, now);
            wait = w > wait ? w : wait;
        }
    if (wait == 0)
        wait = count_attempt(s, keys, n, now);
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
    unsigned free_n = kinds[k->kind].free, shift, w;
    th_entry *e;

    pthread_mutex_lock(&s->lock);
    if (kinds[k->kind].scaled)
        free_n =
            s->lim.free_failures > UINT_MAX / free_n ? UINT_MAX : free_n * s->lim.free_failures;
    if ((e = find(s, k, now, &w)) == NULL)
        goto out; /* check made it; only a flood of refusing entries since can take it */
    if (e->failures > 0 && now - e->last_fail >= (int64_t)kinds[k->kind].cap)
        e->failures = 0;
    e->failures++;
    e->last_fail = now;
    if (k->kind == CU_TH_TENANT) {
        window_roll(e, now);
        e->count++;
    }
    if (kinds[k->kind].base > 0 && e->failures > free_n) {
        shift = e->failures - free_n - 1;
        int64_t d =
            shift >= 20 ? (int64_t)kinds[k->kind].cap : (int64_t)kinds[k->kind].base << shift;
        e->until = now + (d < (int64_t)kinds[k->kind].cap ? d : (int64_t)kinds[k->kind].cap);
    }
out:
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
