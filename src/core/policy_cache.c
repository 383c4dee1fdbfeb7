/*
 * policy_cache.c: each tenant's current policy, parsed once and shared by the requests that
 * enforce it.
 *
 * An entry holds the version in force it parsed, the newest version bound when it was loaded,
 * and the time the pending version, if any, takes effect (P-NOT-1). Whoever asks names the
 * newest version the tenant's row holds now (cu_store_tenant.policy_version, read by the
 * request's preamble anyway): an entry that saw an older newest one is replaced, so a policy
 * bound by another process on the same database is seen from the next request on, at no query
 * of its own; and an entry whose pending version's stored effective time has come by the
 * clock's now is replaced too, so every server switches at that time exactly, without a timer.
 * Entries only ever move forward: of two loads racing, the one with the later version stays.
 *
 * Each user of a cached policy holds a reference (cu_policy_current .. cu_policy_release), and
 * a replaced version is freed when its last reference goes, never under its user.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_cache_int.h"
#include "policy_int.h"
#include "policy_version_int.h"
#include "tenant_int.h"
#include "util.h"

typedef struct entry {
    cu_id tenant;
    unsigned version;  /* in force when loaded */
    unsigned newest;   /* the newest version bound (withdrawn or not) when loaded */
    int64_t switch_at; /* when the pending version takes effect; 0: none was pending */
    cu_policy *p;      /* NULL: the tenant had no policy in force */
    int stale;     /* replaced: freed once its last user releases it */
    unsigned refs; /* users between cu_policy_current and cu_policy_release */
    struct entry *next;
} entry;

struct cu_policy_cache {
    pthread_mutex_t lock; /* guards the list and every entry's stale and refs */
    entry *list;
};

cu_rc cu_policy_cache_new(cu_policy_cache **out, cu_err *err)
{
    cu_policy_cache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return CU_OK;
}

static void entry_free(entry *e)
{
    if (e != NULL) {
        cu_policy_free(e->p);
        free(e);
    }
}

void cu_policy_cache_free(cu_policy_cache *c)
{
    entry *e, *next;

    if (c == NULL)
        return;
    for (e = c->list; e != NULL; e = next) {
        next = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static entry *find(cu_policy_cache *c, cu_id tenant)
{
    for (entry *e = c->list; e != NULL; e = e->next)
        if (e->tenant == tenant && !e->stale)
            return e;
    return NULL;
}

/* Unlinks and frees every stale entry nobody uses. Call with c->lock held. */
static void drop_stale(cu_policy_cache *c)
{
    for (entry **pp = &c->list; *pp != NULL;) {
        entry *e = *pp;
        if (e->stale && e->refs == 0) {
            *pp = e->next;
            entry_free(e);
        } else {
            pp = &e->next;
        }
    }
}

/* Takes a reference to e's policy (none for an entry without one). Call with c->lock held. */
static const cu_policy *take(entry *e, unsigned *version)
{
    if (e->p != NULL)
        e->refs++;
    *version = e->version;
    return e->p;
}

/* Parses the tenant's version in force at now into *p (NULL if none), filling ver, newest and
 * switch_at from the stored versions (P-NOT-1) and the policy's consent floors (P-NOT-2). */
static cu_rc load_at(cu_vault *v, cu_id tenant, int64_t now, entry *e, cu_err *err)
{
    cu_store_policy_version *list = NULL;
    cu_policy_state st;
    char *text = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_policy_versions(v->store, tenant, &list, &n, err);

    if (rc != CU_OK)
        return rc;
    cu_policy_versions_state(list, n, now, &st);
    e->version = st.current;
    e->newest = n > 0 ? list[n - 1].version : 0;
    e->switch_at = st.pending != 0 ? st.pending_at : 0;
    if (st.current != 0 && (rc = cu_policy_text(v, tenant, st.current, &text, err)) == CU_OK &&
        (rc = cu_policy_parse(text, strlen(text), "stored policy", &e->p, err)) == CU_OK)
        rc = cu_policy_fresh_fill(e->p, st.current, list, n, now, err);
    free(text);
    free(list);
    return rc;
}

/* A new entry for the tenant's policy in force at now. */
static cu_rc load(cu_vault *v, cu_id tenant, int64_t now, entry **out, cu_err *err)
{
    entry *e = calloc(1, sizeof(*e));
    cu_rc rc;

    if (e == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    e->tenant = tenant;
    if ((rc = load_at(v, tenant, now, e, err)) != CU_OK) {
        entry_free(e);
        return rc;
    }
    if (e->p == NULL)
        e->version = 0;
    *out = e;
    return CU_OK;
}

/* Puts mine in the cache unless an entry at least as new is there; returns the one that
 * stays (mine is then the caller's to free if it was not kept: *kept 0). Call with c->lock. */
static entry *install(cu_policy_cache *c, entry *mine, int *kept)
{
    entry *e = find(c, mine->tenant);

    *kept = 0;
    if (e != NULL && (e->version > mine->version ||
                      (e->version == mine->version && e->newest > mine->newest)))
        return e;
    if (e != NULL)
        e->stale = 1;
    mine->next = c->list;
    c->list = mine;
    *kept = 1;
    return mine;
}

cu_rc cu_policy_current(cu_vault *v, cu_id tenant, unsigned current, const cu_policy **out,
                        unsigned *version, cu_err *err)
{
    cu_policy_cache *c = v->policies;
    const cu_policy *got = NULL;
    entry *e, *mine = NULL;
    unsigned ver = 0;
    int hit = 0, kept = 0;
    cu_rc rc;

    int64_t now = cu_clock_now();

    pthread_mutex_lock(&c->lock);
    /* P-NOT-1: fresh while no newer version was bound and the pending one's time has not come. */
    if ((e = find(c, tenant)) != NULL && e->newest >= current &&
        (e->switch_at == 0 || now < e->switch_at)) {
        got = take(e, &ver);
        hit = 1;
    }
    pthread_mutex_unlock(&c->lock);
    if (!hit) {
        if ((rc = load(v, tenant, now, &mine, err)) != CU_OK)
            return rc;
        pthread_mutex_lock(&c->lock);
        got = take(install(c, mine, &kept), &ver);
        drop_stale(c); /* a replaced entry nobody holds goes now */
        pthread_mutex_unlock(&c->lock);
        if (!kept)
            entry_free(mine);
    }
    if (got == NULL)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "the tenant has no policy");
    *out = got;
    if (version)
        *version = ver;
    return CU_OK;
}

cu_rc cu_policy_for(cu_vault *v, cu_id tenant, const cu_policy **out, unsigned *version,
                    cu_err *err)
{
    cu_store_tenant st;
    cu_rc rc = cu_tenant_row(v, tenant, &st, err);

    /* No tenant, no policy: the load below says so. */
    if (rc == CU_ERR_NOT_FOUND)
        st.policy_version = 0;
    else if (rc != CU_OK)
        return rc;
    return cu_policy_current(v, tenant, st.policy_version, out, version, err);
}

void cu_policy_release(cu_vault *v, const cu_policy *p)
{
    cu_policy_cache *c = v->policies;

    if (p == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    for (entry *e = c->list; e != NULL; e = e->next)
        if (e->p == p) {
            e->refs--;
            break;
        }
    drop_stale(c);
    pthread_mutex_unlock(&c->lock);
}

void cu_policy_cache_forget(cu_vault *v, cu_id tenant)
{
    cu_policy_cache *c = v->policies;

    pthread_mutex_lock(&c->lock);
    for (entry *e = c->list; e != NULL; e = e->next)
        if (e->tenant == tenant)
            e->stale = 1;
    drop_stale(c);
    pthread_mutex_unlock(&c->lock);
}
