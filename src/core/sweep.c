/*
 * sweep.c: the sweep that applies what time has made due under each tenant's policy (binding
 * a policy is tenant.c's).
 *
 * The sweep runs from `custos sweep` and inside `custos serve` on an interval. It is where
 * retention is enforced (P-RET-1): it prunes each tenant's audit log to the retention of the
 * policy's log category, the one whose fideslang categories include "system.operations" (the
 * longest-kept if several; one counted from the end of the subscription keeps the whole log
 * while the tenant is active), after signing an anchor (P-RET-4, P-AUD-2); then it applies
 * each record's retention and the tenant's end (lifecycle.c). Before all that it deletes the
 * rows of erasures under way (erase.c, P-DSR-4). It is idempotent: a sweep cut short by a
 * crash is finished by the next one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lifecycle_int.h"
#include "policy_cache_int.h"
#include "custos_webhook.h"
#include "custos_incident.h"
#include "progress_int.h"
#include "util.h"

/* The newest time t with t + d <= now: entries at or before it have outlived d. */
static int64_t cutoff(int64_t now, cu_duration d)
{
    int64_t lo = 0, hi = now;

    /* cu_duration_add is monotonic; a binary search keeps calendar months exact. */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (cu_duration_add(mid, d) <= now)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* P-RET-4: the newest time at or before which the tenant's audit entries have outlived the
 * policy's log categories (those holding system.operations data): the earliest cutoff among
 * them, so the longest-kept wins. A retention counted from the end of the subscription keeps
 * the whole log while the tenant is active. -1 if nothing may go (or the policy has no log
 * category). */
static int64_t log_cutoff(const cu_policy *p, const cu_tenant *t, int64_t now)
{
    int64_t best = -1;
    int found = 0;

    for (size_t i = 0; i < cu_policy_category_count(p); i++) {
        const cu_policy_category *c = cu_policy_category_at(p, i);
        const cu_retention *r = &c->retention;
        int64_t cut;
        if (!cu_policy_category_is_log(c))
            continue;
        if (r->from == CU_RETAIN_FROM_SUBSCRIPTION_END ||
            r->from == CU_RETAIN_FROM_REQUEST_RECEIVED)
            cut = t->terminated_at != 0 && cu_duration_add(t->terminated_at, r->keep) <= now
                      ? now
                      : -1;
        else
            cut = cutoff(now, r->keep);
        best = found ? (cut < best ? cut : best) : cut;
        found = 1;
    }
    return found ? best : -1;
}

/* The earlier of two cutoffs, -1 (keep everything) winning. */
static int64_t earlier(int64_t a, int64_t b)
{
    return a < 0 || b < 0 ? -1 : a < b ? a : b;
}

/* 1 if a version bound at bound_at is still within its wait at now: its notice period, and at
 * least the platform's floor, during which the versions before it still govern the log. */
static int still_waiting(const cu_vault *v, const cu_policy *p, int64_t bound_at, int64_t now)
{
    int64_t notice = cu_duration_add(bound_at, cu_policy_notice_period(p));
    int64_t floor = bound_at + (int64_t)v->log_floor_days * 86400;

    return now < (notice > floor ? notice : floor);
}

/* P-RET-4: the log cutoff of the tenant's policy history at now. A shorter retention never
 * reaches entries before the notice period (and the platform's floor) have passed since it was
 * bound: until then every version it replaced still keeps the log as long as it did. Whatever
 * the policies say, entries younger than the floor stay. */
static cu_rc log_cutoff_held(cu_vault *v, const cu_tenant *t, const cu_policy *cur, int64_t now,
                             int64_t *out, cu_err *err)
{
    int64_t cut = log_cutoff(cur, t, now), bound_at = 0, floor_cut;
    unsigned ver = 0;
    cu_policy *older = NULL;
    const cu_policy *p = cur;
    char *text = NULL;
    cu_rc rc;

    rc = cu_store_policy_at(v->store, t->id, &ver, &text, &bound_at, err);
    free(text);
    while (rc == CU_OK && cut >= 0 && ver > 1 && still_waiting(v, p, bound_at, now)) {
        ver--;
        text = NULL;
        if ((rc = cu_store_policy_at(v->store, t->id, &ver, &text, &bound_at, err)) ==
            CU_OK) {
            cu_policy_free(older);
            older = NULL;
            rc = cu_policy_parse(text, strlen(text), "stored policy", &older, err);
        }
        free(text);
        if (rc == CU_OK) {
            cut = earlier(cut, log_cutoff(older, t, now));
            p = older;
        }
    }
    cu_policy_free(older);
    floor_cut = now - (int64_t)v->log_floor_days * 86400;
    *out = earlier(cut, floor_cut);
    return rc;
}

/* One tenant: its log, then its data. */
static cu_rc sweep_one(cu_vault *v, const cu_ctx *ctx, const cu_tenant *t, int64_t now,
                       cu_sweep_report *rep, cu_err *err)
{
    const cu_policy *p = NULL;
    uint64_t pruned = 0;
    int64_t cut;
    unsigned noted = 0;
    cu_rc rc, side_rc = CU_OK;
    size_t hooks = 0;

    /* P-NOT-1: an active tenant's scheduled version whose time came is noted in force
     * (policy.in_force, and its webhook event); a closed tenant's versions are told to nobody.
     * Then the webhook outbox's done events, past its retention (docs/webhooks.md), policy or
     * not. Either failing is said, but holds back none of the retention below. */
    if (t->state == CU_TENANT_ACTIVE)
        side_rc = cu_policy_note_in_force(v, ctx, t->id, &noted, err);
    if (side_rc == CU_OK)
        side_rc = cu_webhook_prune(v, t->id, now, &hooks, err);
    rc = cu_policy_for(v, t->id, &p, NULL, err);
    if (rc == CU_ERR_NOT_FOUND)
        return CU_OK;
    if (rc != CU_OK)
        return rc;
    rep->tenants++;
    /* P-RET-4: the audit log is kept as long as the policy keeps logs, then pruned, a purged
     * tenant's too: the platform's own log keeps that it was purged and shredded. A hold on the
     * whole tenant keeps its log as well (P-RET-5). */
    if ((rc = log_cutoff_held(v, t, p, now, &cut, err)) == CU_OK && cut >= 0 &&
        (rc = cu_audit_prune(v, ctx, t->id, cut * 1000 + 999, &pruned, err)) == CU_OK &&
        pruned > 0) {
        rep->audit_tenants_pruned++;
        rep->audit_pruned_through_max =
            pruned > rep->audit_pruned_through_max ? pruned : rep->audit_pruned_through_max;
    }
    if (rc == CU_ERR_LEGAL_HOLD) /* the store keeps a held tenant's log (P-RET-5) */
        rc = CU_OK;
    if (rc == CU_OK)
        rc = cu_sweep_tenant(v, ctx, t, p, now, rep, err);
    /* Data-subject requests near or past their deadline, told to the tenant's webhooks (one
     * event per request and deadline, however often the sweep runs; docs/webhooks.md). */
    if (rc == CU_OK && t->state == CU_TENANT_ACTIVE) {
        size_t due = 0;
        rc = cu_webhook_request_events(v, t->id, now, &due, err);
    }
    cu_policy_release(v, p);
    return rc != CU_OK ? rc : side_rc;
}

/* The sweep lease (docs/store.md): servers sharing a database sweep one at a time. It lasts
 * SWEEP_LEASE_SECONDS and is renewed between tenants once a tenth of that has passed, so a holder
 * that crashed mid-sweep holds back the others that long at most. */
#define SWEEP_LEASE_SECONDS 300

/* Takes or renews (take) or frees this vault's sweep lease at now; CU_ERR_CONFLICT while
 * another server holds it. */
static cu_rc sweep_lease(cu_vault *v, int take, int64_t now, cu_err *err)
{
    cu_store_op op;
    cu_rc rc;

    memset(&op, 0, sizeof(op));
    op.type = take ? CU_OP_LEASE_TAKE : CU_OP_LEASE_RELEASE;
    op.u.lease.name = CU_LEASE_SWEEP;
    op.u.lease.holder = v->sweep_holder;
    op.u.lease.instance = cu_store_instance(v->store); /* free once this process is gone */
    op.u.lease.now = now;
    op.u.lease.expires_at = now + SWEEP_LEASE_SECONDS;
    rc = cu_store_apply(v->store, &op, 1, err);
    if (rc == CU_ERR_CONFLICT)
        return cu_err_set(err, CU_ERR_CONFLICT, "another server is sweeping this vault");
    return rc;
}

void cu_sweep_lease_drop(cu_vault *v)
{
    cu_err ignored = {0};

    (void)sweep_lease(v, 0, cu_clock_now(), &ignored);
}

/* Sweeps each tenant under the lease taken at leased, renewing it as it goes; one tenant's
 * failure does not stop the others: the first is returned. A lost lease stops the sweep
 * (*lost 1): another server has taken over. */
static cu_rc sweep_tenants(cu_vault *v, const cu_ctx *own, const cu_tenant *tenants, size_t n,
                           int64_t now, int64_t leased, cu_sweep_report *rep, cu_err *first,
                           int *lost)
{
    cu_rc rc, worst = CU_OK;

    cu_progress_begin("sweep", n); /* the CLI's progress (cu_progress_set) */
    for (size_t i = 0; i < n; i++) {
        cu_err e = {0};
        int64_t t = cu_clock_now();
        /* Renewed often, so a lease lapses only if one tenant's sweep outlasts most of it:
         * then another server may sweep that tenant too, which repeats deletions already due
         * (idempotent), never undoes one. */
        if (t - leased >= SWEEP_LEASE_SECONDS / 10) {
            if ((rc = sweep_lease(v, 1, t, &e)) != CU_OK) {
                *first = e;
                *lost = 1;
                return rc;
            }
            leased = t;
        }
        if ((rc = sweep_one(v, own, &tenants[i], now, rep, &e)) != CU_OK) {
            rep->tenants_failed++;
            if (worst == CU_OK) {
                worst = rc;
                *first = e;
            }
        }
        cu_progress_add(1);
    }
    return worst;
}

cu_rc cu_sweep(cu_vault *v, const cu_ctx *ctx, cu_sweep_report *rep, cu_err *err)
{
    cu_ctx own = {.actor = "sweeper", .purpose = "retention"};
    cu_tenant *tenants = NULL;
    size_t n = 0;
    int64_t now;
    cu_err first = {0}, pe = {0}, ee = {0};
    cu_erase_report erased;
    int lost = 0;
    cu_rc rc, erc;

    memset(rep, 0, sizeof(*rep));
    /* The sweep is the vault's own act, whoever starts it: its purpose is recorded, and it
     * sees purged tenants, whose retained data it still has to delete on time. */
    if (ctx != NULL) {
        own = *ctx;
        if (own.purpose == NULL)
            own.purpose = "retention";
    }
    own.flags |= CU_CTX_LOCAL;
    pthread_mutex_lock(&v->sweep_lock);
    now = cu_clock_now(); /* after the wait: a lease taken at an old time may have lapsed */
    /* P-RET-1 once, not once per server: several servers may share the database. */
    if ((rc = sweep_lease(v, 1, now, err)) != CU_OK) {
        pthread_mutex_unlock(&v->sweep_lock);
        return rc;
    }
    if ((rc = cu_tenant_list(v, &own, &tenants, &n, &first)) == CU_OK)
        rc = sweep_tenants(v, &own, tenants, n, now, now, rep, &first, &lost);
    /* P-DSR-4: the rows of erasures under way (one a crash cut short, or that the erasure
     * thread has not reached yet), after the records, so that an erasure whose last retained
     * record the sweep just deleted (P-RET-4) ends now; a failure there holds no retention
     * back. */
    erc = cu_erase_pending(v, &own, &erased, &ee);
    /* P-BRE-1: incident deadlines near or past, told once each (incident_notice.c). */
    if (erc == CU_OK) {
        size_t due = 0;
        erc = cu_incident_events(v, now, &due, &ee);
    }
    rep->subjects_erased += erased.subjects;
    if (rc == CU_OK && erc != CU_OK) {
        rc = erc;
        first = ee;
    }
    /* Sessions that ended, idle or old, leave the store (none authenticates any more). */
    if (!lost) {
        cu_rc prc = cu_session_purge_expired(v, &pe);
        if (prc != CU_OK && rc == CU_OK) {
            rc = prc;
            first = pe;
        }
        cu_sweep_lease_drop(v); /* if that fails, cu_vault_close tries again */
    }
    if (rc != CU_OK && err != NULL)
        *err = first;
    pthread_mutex_unlock(&v->sweep_lock);
    free(tenants);
    return rc;
}
