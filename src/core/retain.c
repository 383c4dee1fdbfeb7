/*
 * retain.c: erasure subject to legal retention (P-DSR-4, P-RET-4).
 *
 * An erasure destroys the subject's key, so every value sealed under it becomes unreadable at
 * once. What a legal obligation keeps (billing records for 7 years, say) must survive that: in
 * the same transaction, each kept record is sealed again under the subject's retained key (a
 * key of its own, wrapped by the tenant key, docs/keys.md) and marked retained. The plan made
 * here reads only the kept collections' records (an index of the subject's records by
 * collection), so the erasure's answer does not grow with what it does not keep; the counts of
 * the rest come from that index alone. From then on a kept record answers only a purpose of
 * legal obligation (cu_gate_retained), and the sweep deletes it at its category's date.
 */
#include <stdlib.h>
#include <string.h>

#include "keys_int.h"
#include "policy_cache_int.h"
#include "record_int.h"
#include "retain_int.h"
#include "tenant_int.h"
#include "util.h"

#define NEVER INT64_MAX
#define DUTY_USE "essential.legal_obligation"

int cu_retain_is_duty(const cu_policy_purpose *pu)
{
    size_t n = strlen(DUTY_USE);

    if (pu == NULL || pu->basis != CU_BASIS_LEGAL_OBLIGATION || pu->data_use == NULL)
        return 0;
    return strncmp(pu->data_use, DUTY_USE, n) == 0 &&
           (pu->data_use[n] == '\0' || pu->data_use[n] == '.');
}

const cu_policy_purpose *cu_retain_duty(const cu_policy *p, const cu_policy_category *c)
{
    /* A retention counted from the subject's request is a deadline to delete by, which the
     * erasure (the request) meets: no duty to keep. */
    if (p == NULL || c == NULL || c->retention.from == CU_RETAIN_FROM_REQUEST_RECEIVED)
        return NULL;
    for (size_t i = 0; i < cu_policy_purpose_count(p); i++) {
        const cu_policy_purpose *pu = cu_policy_purpose_at(p, i);
        if (cu_retain_is_duty(pu) && cu_policy_purpose_covers(pu, c->name))
            return pu;
    }
    return NULL;
}

int64_t cu_retain_until(const cu_policy_category *c, int64_t created, int64_t updated,
                        int64_t activity, int64_t terminated)
{
    int64_t from = NEVER;

    /* The same events as the sweep's (lifecycle.c), so the certificate's date is the sweep's. */
    switch (c->retention.from) {
    case CU_RETAIN_FROM_CREATED:
        from = created;
        break;
    case CU_RETAIN_FROM_LAST_ACTIVITY:
        from = activity > updated ? activity : updated;
        break;
    case CU_RETAIN_FROM_SUBSCRIPTION_END:
    case CU_RETAIN_FROM_REQUEST_RECEIVED:
        from = terminated ? terminated : NEVER;
        break;
    }
    return from == NEVER ? NEVER : cu_duration_add(from, c->retention.keep);
}

cu_rc cu_gate_retained(cu_vault *v, const cu_ctx *ctx, const cu_gate *g, const char *collection,
                       cu_err *err)
{
    const cu_policy_purpose *pu = NULL;
    const cu_policy *p = NULL;
    cu_rc rc;

    if (ctx == NULL)
        return CU_OK;
    if ((rc = cu_gate_policy(v, g, &p, err)) != CU_OK && rc != CU_ERR_NOT_FOUND)
        return rc;
    if (p != NULL && ctx->purpose != NULL)
        pu = cu_policy_purpose_get(p, ctx->purpose);
    rc = pu != NULL && pu->basis == CU_BASIS_LEGAL_OBLIGATION ? CU_OK : CU_ERR_NOT_FOUND;
    cu_policy_release(v, p);
    /* Erased for every other purpose: the same answer as a record that is gone. */
    if (rc != CU_OK)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "record not found");
    return cu_gate_purpose(v, ctx, g, 0, collection, 0, err);
}

/* The line of one collection, from the store's count. */
static void line_init(const cu_policy *p, const cu_store_count *c, cu_erase_line *l)
{
    const cu_policy_collection *pc = p != NULL ? cu_policy_collection_get(p, c->collection) : NULL;

    memset(l, 0, sizeof(*l));
    cu_strlcpy(l->collection, c->collection, sizeof(l->collection));
    l->category = pc != NULL ? pc->category : NULL;
    l->duty = cu_retain_duty(p, l->category);
    l->erased = c->records;
    if (l->erased > CU_ERASE_COUNT_MAX) {
        l->erased = CU_ERASE_COUNT_MAX;
        l->at_least = 1;
    }
}

/* The keys a plan keeps with: the subject key (to open) and the retained key (made once). */
typedef struct keep_keys {
    cu_key sk, rk;
    int have; /* 1: both ready; -1: the subject key is gone, nothing can be kept */
} keep_keys;

static cu_rc keys_ready(cu_vault *v, cu_id tenant, cu_id subject, keep_keys *k, cu_erase_plan *pl,
                        cu_err *err)
{
    cu_key tk = {0};
    cu_rc rc;

    if (k->have != 0)
        return CU_OK;
    rc = cu_keys_child_locked(v, tenant, CU_KEY_SUBJECT, subject, &k->sk, err);
    if (rc == CU_ERR_KEY) { /* an erasure cut short before queues: nothing readable to keep */
        k->have = -1;
        return CU_OK;
    }
    if (rc == CU_OK && (rc = cu_keys_tenant_locked(v, tenant, &tk, err)) == CU_OK)
        rc = cu_keys_make_child(&tk, tenant, CU_KEY_RETAINED, subject, &k->rk, &pl->ops[0], err);
    cu_key_wipe(&tk);
    if (rc == CU_OK) {
        pl->nops = 1;
        k->have = 1;
    }
    return rc;
}

/* Adds room for one more op (and the caller's two after the last). */
static cu_rc ops_grow(cu_erase_plan *pl, size_t *cap, cu_err *err)
{
    cu_store_op *n;

    if (pl->nops + 3 <= *cap)
        return CU_OK;
    if ((n = realloc(pl->ops, (*cap * 2) * sizeof(*n))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    memset(n + *cap, 0, *cap * sizeof(*n));
    pl->ops = n;
    *cap *= 2;
    return CU_OK;
}

/* One record of a kept collection: kept (sealed again) unless its retention has run out. */
static cu_rc keep_record(cu_vault *v, cu_id tenant, cu_id subject, int64_t activity,
                         int64_t terminated, cu_erase_line *l, cu_id id, keep_keys *k,
                         cu_erase_plan *pl, size_t *cap, cu_err *err)
{
    cu_store_record row = {0};
    int64_t until;
    cu_rc rc;

    if ((rc = cu_store_record_get(v->store, tenant, id, &row, err)) == CU_ERR_NOT_FOUND)
        return CU_OK; /* deleted meanwhile: not counted, not kept */
    if (rc != CU_OK)
        return rc;
    until = cu_retain_until(l->category, row.created_at, row.updated_at, activity, terminated);
    if (until <= pl->at || row.retained)
        goto out; /* its retention has run out: it goes with the rest */
    if ((rc = keys_ready(v, tenant, subject, k, pl, err)) != CU_OK || k->have < 0)
        goto out;
    if ((rc = ops_grow(pl, cap, err)) != CU_OK)
        goto out;
    row.tenant_id = tenant;
    row.id = id;
    if ((rc = cu_record_retain_op(&k->sk, &k->rk, &row, &pl->ops[pl->nops], err)) != CU_OK)
        goto out;
    pl->nops++;
    l->ids[l->kept++] = id;
    l->erased--;
    pl->kept++;
    if (until > l->until)
        l->until = until;
out:
    cu_store_record_cleanup(&row);
    return rc;
}

/* The records of line l (a kept collection), each kept or not. */
static cu_rc keep_line(cu_vault *v, cu_id tenant, cu_id subject, int64_t terminated,
                       cu_erase_line *l, keep_keys *k, cu_erase_plan *pl, size_t *cap, cu_err *err)
{
    int64_t activity = 0;
    cu_id *ids = NULL;
    size_t n = 0;
    cu_rc rc;

    if ((rc = cu_store_record_ids_in(v->store, tenant, subject, l->collection, &ids, &n, err)) !=
        CU_OK)
        return rc;
    if (l->category->retention.from == CU_RETAIN_FROM_LAST_ACTIVITY &&
        (rc = cu_store_subject_state(v->store, tenant, subject, NULL, &activity, err)) != CU_OK)
        goto out;
    if ((l->ids = calloc(n + 1, sizeof(*l->ids))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Every record of a kept collection is read: its count is exact (what was written since
     * the count included). */
    l->erased = n;
    l->at_least = 0;
    for (size_t i = 0; i < n && rc == CU_OK && k->have >= 0; i++)
        rc = keep_record(v, tenant, subject, activity, terminated, l, ids[i], k, pl, cap, err);
out:
    free(ids);
    return rc;
}

/* The plan's lines, one per collection the subject has records in. */
static cu_rc plan_lines(cu_vault *v, cu_id tenant, cu_id subject, cu_erase_plan *pl, cu_err *err)
{
    cu_store_count *counts = NULL;
    size_t n = 0;
    cu_rc rc;

    if ((rc = cu_store_record_counts(v->store, tenant, subject, CU_ERASE_COUNT_MAX + 1, &counts, &n,
                                     err)) != CU_OK)
        return rc;
    if ((pl->lines = calloc(n + 1, sizeof(*pl->lines))) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == CU_OK && i < n; i++)
        line_init(pl->policy, &counts[i], &pl->lines[pl->nlines++]);
    free(counts);
    return rc;
}

/* P-RET-4: one guard per collection the policy keeps, with the number of the subject's records
 * the plan found there (0 where it found none): a record written or deleted there between the
 * plan and the commit makes the store refuse the erasure (CU_ERR_CONFLICT), which plans again;
 * without it, a record written meanwhile would not be sealed again and would be lost with the
 * key. Records of the other collections go whatever their number. */
static cu_rc guard_ops(cu_id tenant, cu_id subject, cu_erase_plan *pl, size_t *cap, cu_err *err)
{
    const cu_policy *p = pl->policy;
    cu_rc rc = CU_OK;

    for (size_t i = 0; p != NULL && rc == CU_OK && i < p->n_collections; i++) {
        const cu_policy_collection *pc = &p->collections[i];
        uint64_t n = 0;
        if (cu_retain_duty(p, pc->category) == NULL)
            continue;
        for (size_t j = 0; j < pl->nlines; j++)
            if (strcmp(pl->lines[j].collection, pc->name) == 0)
                n = pl->lines[j].erased + pl->lines[j].kept;
        if ((rc = ops_grow(pl, cap, err)) != CU_OK)
            break;
        cu_store_op *op = &pl->ops[pl->nops++];
        op->type = CU_OP_ERASE_GUARD;
        op->u.erase_guard.tenant_id = tenant;
        op->u.erase_guard.subject_id = subject;
        op->u.erase_guard.collection = pc->name;
        op->u.erase_guard.records = n;
    }
    return rc;
}

cu_rc cu_retain_plan(cu_vault *v, cu_id tenant, cu_id subject, int64_t at, int keep,
                     cu_erase_plan *pl, cu_err *err)
{
    keep_keys k = {0};
    cu_store_tenant t;
    size_t cap = 8;
    cu_rc rc;

    memset(pl, 0, sizeof(*pl));
    pl->at = at;
    if ((pl->ops = calloc(cap, sizeof(*pl->ops))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    rc = cu_policy_for(v, tenant, &pl->policy, NULL, err);
    if (rc == CU_ERR_NOT_FOUND) /* no policy, no duty: everything goes */
        rc = CU_OK;
    if (rc == CU_OK) /* the certificate's counts, whether or not anything is kept */
        rc = plan_lines(v, tenant, subject, pl, err);
    if (rc == CU_OK && !keep) /* P-AGE-2, the sweep's: the counts and the caller's room only */
        return CU_OK;
    if (rc == CU_OK)
        rc = cu_tenant_row(v, tenant, &t, err);
    for (size_t i = 0; rc == CU_OK && i < pl->nlines && k.have >= 0; i++)
        if (pl->lines[i].duty != NULL)
            rc = keep_line(v, tenant, subject, t.terminated_at, &pl->lines[i], &k, pl, &cap, err);
    if (rc == CU_OK && k.have >= 0)
        rc = guard_ops(tenant, subject, pl, &cap, err);
    cu_key_wipe(&k.sk);
    cu_key_wipe(&k.rk);
    if (rc != CU_OK)
        cu_retain_plan_cleanup(v, pl);
    return rc;
}

void cu_retain_plan_cleanup(cu_vault *v, cu_erase_plan *pl)
{
    if (pl == NULL)
        return;
    for (size_t i = 0; i < pl->nops; i++)
        cu_store_op_cleanup(&pl->ops[i]);
    for (size_t i = 0; i < pl->nlines; i++)
        free(pl->lines[i].ids);
    free(pl->ops);
    free(pl->lines);
    free(pl->certificate);
    cu_policy_release(v, pl->policy);
    memset(pl, 0, sizeof(*pl));
}

/* P-DSR-4, P-RET-4: the row of a record kept after its subject's erasure, sealed under the
 * subject key sk, sealed again under the subject's retained key rk: its document and fields,
 * bound to the same write, in a RECORD_RETAIN op (which owns its blobs). */
cu_rc cu_record_retain_op(const cu_key *sk, const cu_key *rk, cu_store_record *row, cu_store_op *op,
                          cu_err *err)
{
    cu_store_reseal *r = &op->u.reseal;
    char wid[33];
    cu_rc rc;

    memset(op, 0, sizeof(*op));
    op->type = CU_OP_RECORD_RETAIN;
    r->tenant_id = row->tenant_id;
    r->id = row->id;
    r->key_version = rk->version;
    if ((rc = cu_record_reseal_doc(sk, rk, row, r, wid, err)) != CU_OK)
        goto out;
    rc = cu_record_reseal_fields(sk, rk, row, wid, r, err);
out:
    if (rc != CU_OK)
        cu_store_op_cleanup(op);
    return rc;
}
