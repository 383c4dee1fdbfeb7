/*
 * lifecycle.c: a tenant's end (P-RET-2) and the retention of its records (P-RET-1, P-RET-4,
 * P-RET-5, P-RET-6).
 *
 * Terminating a tenant starts its export window (the policy's termination.export_window):
 * its data is read-only (cu_tenant_check refuses writes) and exportable as one document
 * (export.c). When
 * the window has passed, the sweep purges it: its users, sessions, API keys and consent ledger
 * (but a held subject's) go, and it answers as if it did not exist. Each record then lives
 * exactly as long as its category's retention says, counted from the end of the subscription
 * where the policy says so: a policy that keeps billing records 7 years keeps them after the
 * purge, out of every tenant's reach but staff's for a legal obligation, and deletes them on
 * time. When nothing retained remains and no hold is in force, the sweep destroys the tenant's
 * keys and deletes every row: the platform's log keeps that it did.
 *
 * Every step commits on its own with its audit entry, and every deletion is conditional on the
 * version the sweep read and refused by the store while a legal hold covers it (P-RET-5), so a
 * sweep cut short by a crash, or racing a request, leaves a consistent state that the next
 * sweep finishes (resumable by construction). The sweep logs counts, never values.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal_int.h"
#include "lifecycle_int.h"
#include "policy_cache_int.h"
#include "record_int.h"
#include "subject_int.h"
#include "tenant_int.h"
#include "util.h"

#define PAGE 256
#define NEVER INT64_MAX

cu_rc cu_tenant_terminate(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int64_t *export_until,
                          cu_err *err)
{
    cu_store_tenant st;
    const cu_policy *p;
    cu_store_op op = {0};
    cu_duration window;
    cu_audit_in a;
    int64_t now = cu_clock_now();
    cu_rc rc;

    if ((rc = cu_tenant_row(v, tenant, &st, err)) != CU_OK)
        return rc;
    if (st.state == CU_TENANT_PURGED)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "tenant not found");
    if (st.state != CU_TENANT_ACTIVE)
        return cu_err_set(err, CU_ERR_CONFLICT, "the tenant's subscription has already ended");
    /* P-RET-2: the window is the policy's, so a tenant without one cannot be ended. */
    if ((rc = cu_policy_for(v, tenant, &p, NULL, err)) == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the tenant has no policy, so no export window: bind one first");
    if (rc != CU_OK)
        return rc;
    window = cu_policy_export_window(p);
    cu_policy_release(v, p);
    op.type = CU_OP_TENANT_STATE;
    op.u.tenant.id = tenant;
    op.u.tenant.state = CU_TENANT_TERMINATED;
    op.u.tenant.terminated_at = now;
    cu_audit_in_set(&a, tenant, "tenant.terminate", "tenant:%llu", (unsigned long long)tenant);
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) == CU_OK && export_until)
        *export_until = cu_duration_add(now, window);
    return rc;
}

/* --- the sweep of one tenant ------------------------------------------------------------------ */

typedef struct sweep_state {
    cu_vault *v;
    const cu_ctx *ctx;
    const cu_tenant *t;
    const cu_policy *p;
    int64_t now;
    int purged;
    cu_store_hold *holds; /* read once: a hold placed since is refused by the store anyway */
    size_t nholds;
    cu_sweep_report *rep;
} sweep_state;

static int held(const sweep_state *s, cu_id subject, cu_id record)
{
    for (size_t i = 0; i < s->nholds; i++)
        if (cu_store_hold_covers(&s->holds[i], subject, record)) /* P-RET-5, docs/store.md */
            return 1;
    return 0;
}

/* When a record's retention ends (P-RET-1): its category's duration from its event. *activity
 * gets the last activity it was counted from (0 if its retention does not count from it), for
 * the deletion to hold only while the subject has not been active since. */
static cu_rc due_at(const sweep_state *s, const cu_retention *r, const cu_store_record_meta *m,
                    int64_t *out, int64_t *activity, cu_err *err)
{
    int64_t from = NEVER, last = 0;
    cu_rc rc;

    switch (r->from) {
    case CU_RETAIN_FROM_CREATED:
        from = m->created_at;
        break;
    case CU_RETAIN_FROM_LAST_ACTIVITY:
        from = m->updated_at;
        if (m->subject_id != 0) {
            rc = cu_store_subject_state(s->v->store, s->t->id, m->subject_id, NULL, &last,
                                                 err);
            if (rc == CU_OK && last > from)
                from = last;
            if (rc != CU_OK && rc != CU_ERR_NOT_FOUND)
                return rc;
        }
        *activity = from;
        break;
    /* The only request the vault receives so far is the customer's, to end its subscription;
     * data-subject requests will start this clock too. */
    case CU_RETAIN_FROM_SUBSCRIPTION_END:
    case CU_RETAIN_FROM_REQUEST_RECEIVED:
        from = s->t->terminated_at ? s->t->terminated_at : NEVER;
        break;
    }
    *out = from == NEVER ? NEVER : cu_duration_add(from, r->keep);
    return CU_OK;
}

static cu_rc delete_record(sweep_state *s, const cu_store_record_meta *m, int64_t activity,
                           cu_err *err)
{
    cu_store_op op = {0};
    cu_audit_in a;
    cu_rc rc;

    /* Only the record as listed: one written (or deleted) since is left for the next sweep. */
    op.type = CU_OP_RECORD_EXPIRE;
    op.u.record.tenant_id = s->t->id;
    op.u.record.id = m->id;
    op.u.record.expect_updated_at = m->updated_at;
    /* P-RET-1: nor one whose subject was active since the sweep counted its retention. */
    op.u.record.expect_activity_at = activity;
    cu_audit_in_set(&a, s->t->id, "record.expire", "record:%llu", (unsigned long long)m->id);
    if ((rc = cu_commit(s->v, s->ctx, &op, 1, &a, 1, err)) == CU_OK)
        s->rep->records_deleted++;
    else if (rc == CU_ERR_LEGAL_HOLD) /* placed since the sweep read the holds */
        s->rep->records_held++;
    if (rc == CU_ERR_CONFLICT || rc == CU_ERR_LEGAL_HOLD)
        return CU_OK;
    /* Tests crash here, one deletion into a sweep, to prove the next sweep finishes it. */
    if (rc == CU_OK && CU_FAULT("sweep.record_deleted"))
        _exit(70);
    return rc;
}

static cu_rc anonymize_record(sweep_state *s, cu_id id, int64_t activity, cu_err *err)
{
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_record_anonymize_op(s->v, s->t->id, id, &op, err)) == CU_OK) {
        op.u.record.expect_activity_at = activity; /* as delete_record */
        cu_audit_in_set(&a, s->t->id, "record.anonymize", "record:%llu", (unsigned long long)id);
        cu_audit_in_digest(&a, op.u.record.doc.data, op.u.record.doc.len); /* verify --deep */
        if ((rc = cu_commit(s->v, s->ctx, &op, 1, &a, 1, err)) == CU_OK)
            s->rep->records_anonymized++;
        else if (rc == CU_ERR_LEGAL_HOLD)
            s->rep->records_held++;
    }
    free(op.u.record.doc.data);
    /* Deleted or written meanwhile, or its subject's erasure under way (the key is gone):
     * nothing to anonymize now. */
    return rc == CU_ERR_NOT_FOUND || rc == CU_ERR_CONFLICT || rc == CU_ERR_KEY ||
                   rc == CU_ERR_LEGAL_HOLD
               ? CU_OK
               : rc;
}

/* One record: kept, held, deleted or anonymized. */
static cu_rc sweep_record(sweep_state *s, const cu_store_record_meta *m, cu_err *err)
{
    const cu_policy_collection *c = cu_policy_collection_get(s->p, m->collection);
    int64_t due = NEVER, activity = 0;
    cu_rc rc;

    if (c == NULL || m->anonymized) {
        /* Outside the policy, or anonymous already: kept while the tenant lives. */
        if (!s->purged)
            return CU_OK;
        due = s->now;
    } else if ((rc = due_at(s, &c->category->retention, m, &due, &activity, err)) != CU_OK) {
        return rc;
    }
    if (due > s->now)
        return CU_OK;
    /* P-RET-5: a hold stops deletion until it is released. The holds read at the start spare
     * a commit; one placed since is refused by the store in the deletion's own transaction. */
    if (held(s, m->subject_id, m->id)) {
        s->rep->records_held++;
        return CU_OK;
    }
    /* Tests write here, between the sweep's read and its commit, to race it (P-RET-1). */
    (void)CU_FAULT("sweep.record_due");
    /* A record kept after its subject's erasure (P-RET-4) is deleted at its date: the
     * erasure asked for nothing less. */
    if (c != NULL && !m->anonymized && !m->retained && !s->purged &&
        c->category->retention.then == CU_RETAIN_THEN_ANONYMIZE)
        return anonymize_record(s, m->id, activity, err); /* P-RET-6, while the tenant lives */
    return delete_record(s, m, activity, err);
}

static cu_rc sweep_records(sweep_state *s, size_t *left, cu_err *err)
{
    cu_id after = 0;
    cu_rc rc = CU_OK;

    *left = 0;
    for (;;) {
        cu_store_record_meta *m = NULL;
        size_t n = 0;
        uint64_t gone = s->rep->records_deleted;
        if ((rc = cu_store_record_meta_list(s->v->store, s->t->id, after, PAGE, &m, &n,
                                                     err)) != CU_OK)
            return rc;
        for (size_t i = 0; rc == CU_OK && i < n; i++)
            rc = sweep_record(s, &m[i], err);
        *left += n - (size_t)(s->rep->records_deleted - gone);
        after = n ? m[n - 1].cursor : after;
        free(m);
        if (rc != CU_OK || n < PAGE)
            return rc;
    }
}

/* Subjects: erased when found under age (once no hold covers them, P-AGE-2), and, in a purged
 * tenant, once none of their data is retained. */
static cu_rc sweep_subjects(sweep_state *s, cu_err *err)
{
    cu_id after = 0;
    cu_rc rc = CU_OK;

    for (;;) {
        cu_id *ids = NULL;
        size_t n = 0;
        if ((rc = cu_store_subject_ids(s->v->store, s->t->id, after, PAGE, &ids, &n,
                                                err)) != CU_OK)
            return rc;
        for (size_t i = 0; rc == CU_OK && i < n; i++) {
            cu_store_key k = {0};
            cu_id *recs = NULL;
            size_t nrecs = 0;
            int erase, pending, restricted = 0;
            if ((rc = cu_store_subject_state(s->v->store, s->t->id, ids[i], &restricted,
                                                      NULL, err)) != CU_OK) {
                if (rc == CU_ERR_NOT_FOUND)
                    rc = CU_OK; /* erased meanwhile */
                continue;
            }
            erase = restricted == CU_SUBJECT_UNDER_AGE;
            /* An erasure cut short after its key was destroyed (P-DSR-4): finish it. */
            rc = cu_store_key_get(s->v->store, s->t->id, CU_KEY_SUBJECT, ids[i], 0, &k,
                                           err);
            cu_store_key_cleanup(&k);
            pending = rc == CU_ERR_NOT_FOUND;
            if (rc != CU_OK && !pending)
                break;
            rc = CU_OK;
            if (!erase && !pending && s->purged) {
                rc = cu_store_record_ids_by_subject(s->v->store, s->t->id, ids[i], &recs,
                                                             &nrecs, err);
                free(recs);
                erase = rc == CU_OK && nrecs == 0;
            }
            if (rc != CU_OK || !(erase || pending))
                continue;
            /* The store refuses a held subject's erasure (CU_ERR_LEGAL_HOLD): kept for now. */
            if (!held(s, ids[i], 0) &&
                (rc = cu_subject_shred(s->v, s->ctx, s->t->id, ids[i], err)) == CU_OK)
                s->rep->subjects_erased++;
            if (rc == CU_ERR_LEGAL_HOLD)
                rc = CU_OK;
        }
        after = n ? ids[n - 1] : after;
        free(ids);
        if (rc != CU_OK || n < PAGE)
            return rc;
    }
}

/* P-RET-2: the export window is over: the tenant's own access ends. */
static cu_rc purge(sweep_state *s, cu_err *err)
{
    cu_store_op op = {0};
    cu_audit_in a[2];
    cu_rc rc;

    op.type = CU_OP_TENANT_CLOSE;
    op.u.del.tenant_id = s->t->id;
    /* In the tenant's log and the platform's, which outlives it. */
    cu_audit_in_set(&a[0], s->t->id, "tenant.purge", "tenant:%llu", (unsigned long long)s->t->id);
    cu_audit_in_set(&a[1], 0, "tenant.purge", "tenant:%llu", (unsigned long long)s->t->id);
    /* The ledger of held subjects stays (the store checks the holds in the same statement). */
    if ((rc = cu_commit(s->v, s->ctx, &op, 1, a, 2, err)) == CU_OK) {
        cu_journal_note(s->v, 0); /* P-BAK-2: the purge in the erasure journal */
        s->purged = 1;
        s->rep->tenants_purged++;
    }
    return rc;
}

/* P-RET-2: nothing retained remains: the tenant's keys are destroyed (crypto-shredding), its
 * rows deleted, and the WAL checkpointed so no file holds a wrapped key any more. */
static cu_rc shred(sweep_state *s, cu_err *err)
{
    cu_store_key k = {0};
    cu_store_op op = {0};
    cu_audit_in a[2];
    cu_rc rc;

    rc = cu_store_key_get(s->v->store, s->t->id, CU_KEY_TENANT, 0, 0, &k, err);
    cu_store_key_cleanup(&k);
    if (rc == CU_ERR_NOT_FOUND)
        return CU_OK; /* shredded by an earlier sweep */
    if (rc != CU_OK)
        return rc;
    op.type = CU_OP_TENANT_SHRED;
    op.u.del.tenant_id = s->t->id;
    cu_audit_in_set(&a[0], s->t->id, "tenant.shred", "tenant:%llu", (unsigned long long)s->t->id);
    cu_audit_in_set(&a[1], 0, "tenant.shred", "tenant:%llu", (unsigned long long)s->t->id);
    pthread_rwlock_rdlock(&s->v->key_lock);
    rc = cu_commit(s->v, s->ctx, &op, 1, a, 2, err);
    pthread_rwlock_unlock(&s->v->key_lock);
    if (rc == CU_ERR_LEGAL_HOLD) /* a hold in force: shredded once it is released */
        return CU_OK;
    if (rc == CU_OK)
        cu_journal_note(s->v, 0); /* P-BAK-2: the shredding in the erasure journal */
    if (rc == CU_OK)
        rc = cu_store_checkpoint(s->v->store, err);
    if (rc == CU_OK)
        s->rep->tenants_shredded++;
    return rc;
}

cu_rc cu_sweep_tenant(cu_vault *v, const cu_ctx *ctx, const cu_tenant *t, const cu_policy *p,
                      int64_t now, cu_sweep_report *rep, cu_err *err)
{
    sweep_state s = {v, ctx, t, p, now, t->state == CU_TENANT_PURGED, NULL, 0, rep};
    size_t left = 0;
    cu_rc rc;

    if (t->state == CU_TENANT_TERMINATED &&
        cu_duration_add(t->terminated_at, cu_policy_export_window(p)) <= now &&
        (rc = purge(&s, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_hold_list(v->store, t->id, &s.holds, &s.nholds, err)) != CU_OK)
        return rc;
    rc = sweep_records(&s, &left, err);
    if (rc == CU_OK)
        rc = sweep_subjects(&s, err);
    /* Shredding waits for every hold to be released (P-RET-5): the store refuses it while one
     * is in force. */
    if (rc == CU_OK && s.purged && left == 0)
        rc = shred(&s, err);
    cu_store_holds_free(s.holds, s.nholds);
    return rc;
}
