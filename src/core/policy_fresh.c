/*
 * policy_fresh.c: the subjects who must consent again (P-NOT-2).
 *
 * A version that changed a consent purpose's terms, where fresh consent is asked, makes the
 * consents given before it was bound stop counting from its effective time: for the version in
 * force that time has come (the policy cache's fresh_since), for the pending one it is ahead.
 * The list walks the tenant's subjects by id and reads each one's newest ledger entry for each
 * such purpose: ids and purpose names only, no personal value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_cache_int.h"
#include "policy_int.h"
#include "policy_version_int.h"
#include "util.h"

#define FRESH_PAGE 256

/* One purpose whose old consents do not (or will not) count, and from when. */
typedef struct fresh_rule {
    const char *purpose;
    int64_t since, due;
} fresh_rule;

/* The rules of the version in force (p) and of the pending one (st): consent purposes only. */
static size_t rules_of(const cu_policy *p, const cu_policy_state *st, fresh_rule *r)
{
    size_t n = 0;

    for (size_t i = 0; i < p->n_purposes; i++) {
        const cu_policy_purpose *pu = &p->purposes[i];
        int64_t since = cu_policy_fresh_since(p, pu);
        if (pu->basis != CU_BASIS_CONSENT)
            continue;
        if (st->pending != 0 && cu_policy_fresh_lists(st->fresh, pu->name))
            r[n++] = (fresh_rule){pu->name, st->pending_bound, st->pending_at};
        else if (since != 0)
            r[n++] = (fresh_rule){pu->name, since, st->current_since};
    }
    return n;
}

/* Appends subject's needs under rules[0..nr) to *out. */
static cu_rc subject_needs(cu_vault *v, cu_id tenant, cu_id subject, const fresh_rule *rules,
                           size_t nr, cu_fresh_need **out, size_t *n, size_t *cap, cu_err *err)
{
    cu_rc rc = CU_OK;

    for (size_t k = 0; k < nr && rc == CU_OK; k++) {
        cu_store_consent *c = NULL;
        size_t m = 0;
        rc = cu_store_consent_list(v->store, tenant, subject, rules[k].purpose, &c, &m, err);
        if (rc == CU_OK && m > 0 && c[0].action == CU_CONSENT_GRANT && c[0].at < rules[k].since) {
            if (*n == *cap) {
                cu_fresh_need *g = realloc(*out, (*cap ? *cap * 2 : 16) * sizeof(**out));
                if (g == NULL)
                    rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                else
                    *out = g, *cap = *cap ? *cap * 2 : 16;
            }
            if (rc == CU_OK) {
                cu_fresh_need *f = &(*out)[(*n)++];
                memset(f, 0, sizeof(*f));
                f->subject = subject;
                snprintf(f->purpose, sizeof(f->purpose), "%s", rules[k].purpose);
                f->given_at = c[0].at;
                f->since = rules[k].since;
                f->due = rules[k].due;
            }
        }
        free(c);
    }
    return rc;
}

/* Walks the subjects above after, a page at a time, appending their needs under rules[0..nr)
 * to *out until limit is reached; then looks on for one more subject with a need, whose needs
 * are dropped again: *more is 1 exactly when one remains. That look costs at most what the
 * caller's next page would walk anyway. */
static cu_rc fresh_walk(cu_vault *v, cu_id tenant, cu_id after, size_t limit,
                        const fresh_rule *rules, size_t nr, cu_fresh_need **out, size_t *n,
                        int *more, cu_err *err)
{
    cu_id *ids = NULL;
    size_t nids = 0, cap = 0;
    cu_rc rc = CU_OK;

    while (rc == CU_OK && *more == 0) {
        free(ids);
        ids = NULL;
        if ((rc = cu_store_subject_ids(v->store, tenant, after, FRESH_PAGE, &ids, &nids, err)) !=
                CU_OK ||
            nids == 0)
            break;
        for (size_t i = 0; i < nids && rc == CU_OK && *more == 0; i++) {
            size_t had = *n;
            rc = subject_needs(v, tenant, ids[i], rules, nr, out, n, &cap, err);
            if (had >= limit && *n > had) {
                *more = 1;
                *n = had;
            }
            after = ids[i];
        }
    }
    free(ids);
    return rc;
}

cu_rc cu_policy_fresh_needed(cu_vault *v, cu_id tenant, cu_id after, size_t limit,
                             cu_fresh_need **out, size_t *n, int *more, cu_err *err)
{
    const cu_policy *p = NULL;
    cu_policy_state st;
    fresh_rule rules[CU_POLICY_MAX_PURPOSES];
    size_t nr;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    *more = 0;
    if ((rc = cu_policy_state_get(v, tenant, &st, err)) != CU_OK ||
        (rc = cu_policy_for(v, tenant, &p, NULL, err)) != CU_OK)
        return rc == CU_ERR_NOT_FOUND ? CU_OK : rc;
    nr = rules_of(p, &st, rules);
    if (nr > 0)
        rc = fresh_walk(v, tenant, after, limit, rules, nr, out, n, more, err);
    cu_policy_release(v, p);
    if (rc != CU_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
        *more = 0;
    }
    return rc;
}
