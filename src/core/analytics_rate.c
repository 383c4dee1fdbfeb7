/*
 * analytics_rate.c: how often a tenant's aggregate queries may run (P-ANA-1, review 11; docs/
 * analytics.md "Rate"). Each query decrypts every record of the collection, so a loop of them
 * is a cheap way to make the vault work hard for one tenant at the others' cost; a token
 * bucket per tenant lets CU_ANALYTICS_RATE_BURST queries through at once and refills
 * CU_ANALYTICS_RATE_PER_MIN a minute. Local acts (the CLI, a context with CU_CTX_LOCAL or none)
 * are not counted: they hold the key file.
 *
 * The state lives in memory, per vault, as the login throttle's does (throttle.c): a restart
 * forgets it, and a fixed table of slots keyed by tenant id (no personal value) bounds it. A
 * tenant that finds every slot of its probe run taken evicts the fullest bucket (the tenant
 * that ran least lately, which gets a full bucket again when it comes back).
 */
#include <pthread.h>
#include <stdlib.h>

#include "analytics_int.h"
#include "util.h"

#define RATE_SLOTS 1024 /* a power of two */
#define RATE_PROBE 8

typedef struct rate_slot {
    cu_id tenant; /* 0: free */
    int64_t at;   /* when tokens was last brought up to date */
    double tokens;
} rate_slot;

struct cu_ana_rate {
    pthread_mutex_t lock;
    rate_slot s[RATE_SLOTS];
};

cu_rc cu_ana_rate_new(cu_ana_rate **out, cu_err *err)
{
    cu_ana_rate *r = calloc(1, sizeof(*r));

    if (r == NULL || pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    *out = r;
    return CU_OK;
}

void cu_ana_rate_free(cu_ana_rate *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* The bucket of tenant, brought up to now: found, made, or the fullest of the run evicted. */
static rate_slot *bucket(cu_ana_rate *r, cu_id tenant, int64_t now)
{
    size_t h = (size_t)(tenant * UINT64_C(0x9e3779b97f4a7c15) >> 32) & (RATE_SLOTS - 1);
    rate_slot *pick = NULL, *x;

    for (size_t i = 0; i < RATE_PROBE; i++) {
        x = &r->s[(h + i) & (RATE_SLOTS - 1)];
        if (x->tenant == tenant || x->tenant == 0) {
            pick = x;
            break;
        }
        if (pick == NULL || x->tokens > pick->tokens)
            pick = x;
    }
    if (pick->tenant != tenant) {
        pick->tenant = tenant;
        pick->tokens = CU_ANALYTICS_RATE_BURST;
        pick->at = now;
    }
    if (now > pick->at) {
        pick->tokens += (double)(now - pick->at) * CU_ANALYTICS_RATE_PER_MIN / 60.0;
        if (pick->tokens > CU_ANALYTICS_RATE_BURST)
            pick->tokens = CU_ANALYTICS_RATE_BURST;
    }
    pick->at = now > pick->at ? now : pick->at;
    return pick;
}

cu_rc cu_ana_rate_take(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err)
{
    cu_ana_rate *r = v->ana_rate;
    unsigned wait = 0;
    rate_slot *b;

    if (r == NULL || ctx == NULL || (ctx->flags & CU_CTX_LOCAL))
        return CU_OK;
    pthread_mutex_lock(&r->lock);
    b = bucket(r, tenant, cu_clock_now());
    if (b->tokens >= 1)
        b->tokens -= 1;
    else
        wait = (unsigned)((1 - b->tokens) * 60.0 / CU_ANALYTICS_RATE_PER_MIN) + 1;
    pthread_mutex_unlock(&r->lock);
    if (wait > 0)
        return cu_err_set(err, CU_ERR_RATE_LIMITED,
                          "the tenant ran %d aggregate queries lately: try again in %u s",
                          CU_ANALYTICS_RATE_BURST, wait);
    return CU_OK;
}
