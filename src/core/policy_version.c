/*
 * policy_version.c: a tenant's policy versions over time (P-NOT-1, P-NOT-2, P-CON-5).
 *
 * Binding a version with a material change against the one in force schedules it: it takes
 * effect once the notice period has passed (cu_policy_diff_effective), and until then the
 * version in force governs every request (the policy cache asks cu_policy_versions_state with
 * the clock's now). At most one version is pending; the tenant may withdraw it. The version
 * that takes effect is noted in force once, by whichever server's sweep sees it first, which
 * writes the audit entry policy.in_force.
 *
 * Fresh consent: where either version asks for it (changes.fresh_consent), or a never-promise
 * is dropped, a version names the purposes whose terms changed; once it is in force, a consent
 * to one of them given before the version was bound no longer counts (cu_policy_fresh_since),
 * and cu_policy_fresh_needed lists the subjects who must consent again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "outbox_int.h"
#include "policy_cache_int.h"
#include "policy_int.h"
#include "policy_version_int.h"
#include "tenant_int.h"
#include "util.h"

void cu_policy_versions_state(const cu_store_policy_version *list, size_t n, int64_t now,
                              cu_policy_state *st)
{
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < n; i++) {
        const cu_store_policy_version *pv = &list[i];
        if (pv->withdrawn_at != 0)
            continue;
        if (pv->effective_at <= now) {
            st->current = pv->version;
            st->current_since =
                pv->effective_at > pv->created_at ? pv->effective_at : pv->created_at;
        } else if (st->pending == 0) {
            st->pending = pv->version;
            st->pending_bound = pv->created_at;
            st->pending_at = pv->effective_at;
            memcpy(st->fresh, pv->fresh, sizeof(st->fresh));
            st->fresh[sizeof(st->fresh) - 1] = '\0';
        }
    }
}

cu_rc cu_policy_state_get(cu_vault *v, cu_id tenant, cu_policy_state *out, cu_err *err)
{
    cu_store_policy_version *list = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_policy_versions(v->store, tenant, &list, &n, err);

    if (rc == CU_OK)
        cu_policy_versions_state(list, n, cu_clock_now(), out);
    free(list);
    return rc;
}

cu_rc cu_policy_text(cu_vault *v, cu_id tenant, unsigned version, char **text, cu_err *err)
{
    unsigned ver = version;

    *text = NULL;
    if (version == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such policy version");
    return cu_store_policy_at(v->store, tenant, &ver, text, NULL, err);
}

/* Version `version` of the tenant's policy, parsed (caller frees). */
static cu_rc parse_version(cu_vault *v, cu_id tenant, unsigned version, cu_policy **out,
                           cu_err *err)
{
    char *text = NULL;
    cu_rc rc = cu_policy_text(v, tenant, version, &text, err);

    *out = NULL;
    if (rc == CU_OK)
        rc = cu_policy_parse(text, strlen(text), "stored policy", out, err);
    free(text);
    return rc;
}

cu_rc cu_policy_pending_diff(cu_vault *v, cu_id tenant, cu_policy_state *st, cu_policy_diff *d,
                             cu_err *err)
{
    cu_policy *old = NULL, *nw = NULL;
    cu_rc rc;

    memset(d, 0, sizeof(*d));
    if ((rc = cu_policy_state_get(v, tenant, st, err)) != CU_OK)
        return rc;
    if (st->pending == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no policy version is pending");
    if ((rc = parse_version(v, tenant, st->current, &old, err)) == CU_OK &&
        (rc = parse_version(v, tenant, st->pending, &nw, err)) == CU_OK)
        rc = cu_policy_diff_compute(old, nw, d, err);
    cu_policy_free(old);
    cu_policy_free(nw);
    return rc;
}

cu_rc cu_policy_schedule_for(cu_vault *v, cu_id tenant, const cu_policy *nw, int64_t now,
                             cu_policy_schedule *out, cu_err *err)
{
    cu_policy_state st;
    cu_policy_diff d;
    cu_policy *old = NULL;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    out->effective_at = now;
    if ((rc = cu_policy_state_get(v, tenant, &st, err)) != CU_OK)
        return rc;
    if (st.pending != 0)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "policy version %u is pending until it takes effect; withdraw it "
                          "before binding another (P-NOT-1)",
                          st.pending);
    if (st.current == 0) /* the first policy: nothing to give notice of */
        return CU_OK;
    if ((rc = parse_version(v, tenant, st.current, &old, err)) != CU_OK)
        return rc;
    if ((rc = cu_policy_diff_compute(old, nw, &d, err)) == CU_OK) {
        out->material = d.material;
        out->effective_at = cu_policy_diff_effective(old, nw, &d, now);
        /* P-NOT-2, P-CON-5: renewed consent where a version asks it or a promise is dropped. */
        if (d.material && (old->fresh_consent || nw->fresh_consent || d.never_dropped))
            memcpy(out->fresh, d.changed, sizeof(out->fresh));
        /* P-NOT-3: the recipients it adds, announced by the binding's event. */
        for (size_t i = 0; i < nw->n_subprocessors; i++)
            if (cu_policy_recipient_get(old, nw->subprocessors[i].name) == NULL)
                out->n_added += out->added[i] = 1;
    }
    cu_policy_diff_cleanup(&d);
    cu_policy_free(old);
    return rc;
}

int cu_policy_fresh_lists(const char *list, const char *name)
{
    size_t len = strlen(name);

    if (strcmp(list, CU_STORE_FRESH_ALL) == 0)
        return 1;
    for (const char *s = list; (s = strstr(s, name)) != NULL; s++)
        if ((s == list || s[-1] == ',') && (s[len] == ',' || s[len] == '\0'))
            return 1;
    return 0;
}

cu_rc cu_policy_fresh_fill(cu_policy *p, unsigned version, const cu_store_policy_version *list,
                           size_t n, int64_t now, cu_err *err)
{
    if (p->n_purposes == 0)
        return CU_OK;
    if ((p->fresh_since = pol_array(p, p->n_purposes, sizeof(*p->fresh_since))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const cu_store_policy_version *pv = &list[i];
        if (pv->withdrawn_at != 0 || pv->effective_at > now || pv->version > version ||
            pv->fresh[0] == '\0')
            continue;
        for (size_t k = 0; k < p->n_purposes; k++)
            if (cu_policy_fresh_lists(pv->fresh, p->purposes[k].name) &&
                pv->created_at > p->fresh_since[k])
                p->fresh_since[k] = pv->created_at;
    }
    return CU_OK;
}

int64_t cu_policy_fresh_since(const cu_policy *p, const cu_policy_purpose *pu)
{
    if (p->fresh_since == NULL || pu < p->purposes || pu >= p->purposes + p->n_purposes)
        return 0;
    return p->fresh_since[pu - p->purposes];
}

/* The outbox event of `type` about a version (docs/webhooks.md): its number, when it takes
 * effect and, given fresh, the purposes whose consents it renews ("*": every one). Its id comes
 * from the version and that time: one event however often its cause is seen. */
static cu_rc version_event(cu_store_op *op, cu_id tenant, const char *type, unsigned version,
                           int64_t effective_at, const char *fresh, cu_err *err)
{
    cJSON *data = cJSON_CreateObject(), *purposes = NULL;
    char tid[CU_ID_STRLEN], num[16];
    cu_rc rc;

    memset(op, 0, sizeof(*op));
    cu_id_format(tenant, tid);
    snprintf(num, sizeof(num), "%u", version);
    if (data == NULL || cJSON_AddStringToObject(data, "tenant_id", tid) == NULL ||
        cJSON_AddStringToObject(data, "policy_version", num) == NULL ||
        cJSON_AddNumberToObject(data, "effective_at", (double)effective_at) == NULL ||
        (fresh != NULL && (purposes = cJSON_AddArrayToObject(data, "purposes")) == NULL)) {
        cJSON_Delete(data);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (const char *at = fresh; at != NULL && *at != '\0';) {
        size_t len = strcspn(at, ",");
        char name[CU_POLICY_FRESH_MAX];
        snprintf(name, sizeof(name), "%.*s", (int)len, at);
        cJSON_AddItemToArray(purposes, cJSON_CreateString(name));
        at += len + (at[len] == ',');
    }
    rc = cu_outbox_event(op, tenant, type, cu_outbox_id(tenant, type, version, effective_at),
                         data, err);
    cJSON_Delete(data);
    return rc;
}

/* P-NOT-3: the event announcing the recipients nw adds: for each its name, kind, purposes,
 * categories and location (the policy's words, no personal value), and when data may first
 * go to it (the version's effective time). */
static cu_rc recipients_event(cu_store_op *op, cu_id tenant, unsigned version,
                              const cu_policy *nw, const cu_policy_schedule *sc, cu_err *err)
{
    cJSON *data = cJSON_CreateObject(), *list = NULL;
    char tid[CU_ID_STRLEN], num[16];
    int bad;
    cu_rc rc;

    memset(op, 0, sizeof(*op));
    cu_id_format(tenant, tid);
    snprintf(num, sizeof(num), "%u", version);
    bad = data == NULL || cJSON_AddStringToObject(data, "tenant_id", tid) == NULL ||
          cJSON_AddStringToObject(data, "policy_version", num) == NULL ||
          cJSON_AddNumberToObject(data, "effective_at", (double)sc->effective_at) == NULL ||
          (list = cJSON_AddArrayToObject(data, "recipients")) == NULL;
    for (size_t i = 0; !bad && i < nw->n_subprocessors; i++) {
        const cu_policy_subprocessor *r = &nw->subprocessors[i];
        cJSON *o = sc->added[i] ? cJSON_CreateObject() : NULL, *pu, *ca;
        if (!sc->added[i])
            continue;
        bad = !cJSON_AddItemToArray(list, o) || !cJSON_AddStringToObject(o, "name", r->name) ||
              !cJSON_AddStringToObject(o, "kind", cu_recipient_kind_name(r->kind)) ||
              !cJSON_AddStringToObject(o, "location", r->location) ||
              (pu = cJSON_AddArrayToObject(o, "purposes")) == NULL ||
              (ca = cJSON_AddArrayToObject(o, "categories")) == NULL;
        for (size_t k = 0; !bad && k < r->n_purposes; k++)
            bad = !cJSON_AddItemToArray(pu, cJSON_CreateString(r->purposes[k]->name));
        for (size_t k = 0; !bad && k < r->n_categories; k++)
            bad = !cJSON_AddItemToArray(ca, cJSON_CreateString(r->categories[k]->name));
    }
    rc = bad ? cu_err_set(err, CU_ERR_NOMEM, "out of memory")
             : cu_outbox_event(op, tenant, CU_EVENT_RECIPIENT_ADDED,
                               cu_outbox_id(tenant, CU_EVENT_RECIPIENT_ADDED, version,
                                            sc->effective_at),
                               data, err);
    cJSON_Delete(data);
    return rc;
}

cu_rc cu_policy_bind_events(cu_id tenant, unsigned version, const cu_policy *nw, int64_t now,
                            const cu_policy_schedule *sc, cu_store_op ev[CU_POLICY_BIND_EVENTS],
                            size_t *n, cu_err *err)
{
    int notice = sc->effective_at > now;
    cu_rc rc;

    *n = 0;
    rc = version_event(&ev[0], tenant, notice ? CU_EVENT_POLICY_SCHEDULED : CU_EVENT_POLICY_IN_FORCE,
                       version, sc->effective_at, NULL, err);
    if (rc == CU_OK && (*n = 1, sc->fresh[0] != '\0') &&
        (rc = version_event(&ev[1], tenant, CU_EVENT_CONSENT_NEEDED, version, sc->effective_at,
                            sc->fresh, err)) == CU_OK)
        *n = 2;
    if (rc == CU_OK && sc->n_added > 0 &&
        (rc = recipients_event(&ev[*n], tenant, version, nw, sc, err)) == CU_OK)
        (*n)++;
    return rc;
}

/* One version's act (a[0], set by the caller) in the tenant's log and the platform's (a policy
 * sets how long the log is kept, P-RET-4), committed with op. */
static cu_rc commit_act(cu_vault *v, const cu_ctx *ctx, cu_store_op *op, cu_audit_in a[2],
                        cu_err *err)
{
    cu_audit_in_platform(&a[1], &a[0]);
    return cu_commit(v, ctx, op, 1, a, 2, err);
}

/* P-NOT-1: the note that a version is in force, with its outbox event, in one batch: whichever
 * server notes it first sends the event, once (CU_ERR_CONFLICT for the others). */
static cu_rc note_in_force(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                           const cu_store_policy_version *pv, int64_t now, cu_err *err)
{
    cu_store_op ops[2];
    cu_audit_in a[2];
    cu_rc rc;

    memset(&ops[0], 0, sizeof(ops[0]));
    ops[0].type = CU_OP_POLICY_IN_FORCE;
    ops[0].u.policy.tenant_id = tenant;
    ops[0].u.policy.version = pv->version;
    ops[0].u.policy.created_at = now;
    cu_audit_in_set(&a[0], tenant, "policy.in_force", "policy:v%u", pv->version);
    cu_audit_in_platform(&a[1], &a[0]);
    rc = version_event(&ops[1], tenant, CU_EVENT_POLICY_IN_FORCE, pv->version, pv->effective_at,
                       NULL, err);
    if (rc == CU_OK)
        rc = cu_commit(v, ctx, ops, 2, a, 2, err);
    cu_store_op_cleanup(&ops[1]);
    return rc;
}

cu_rc cu_policy_withdraw(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned version,
                         cu_err *err)
{
    cu_audit_in a[2];
    cu_store_op op;
    cu_rc rc;

    if ((rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_POLICY_WITHDRAW;
    op.u.policy.tenant_id = tenant;
    op.u.policy.version = version;
    op.u.policy.created_at = cu_clock_now();
    /* The store refuses it unless still pending at that time (P-NOT-1). */
    cu_audit_in_set(&a[0], tenant, "policy.withdraw", "policy:v%u", version);
    rc = commit_act(v, ctx, &op, a, err);
    cu_policy_cache_forget(v, tenant);
    return rc;
}

cu_rc cu_policy_note_in_force(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned *noted,
                              cu_err *err)
{
    cu_store_policy_version *list = NULL;
    size_t n = 0;
    int64_t now = cu_clock_now();
    cu_rc rc = cu_store_policy_versions(v->store, tenant, &list, &n, err);

    *noted = 0;
    for (size_t i = 0; i < n && rc == CU_OK; i++) {
        if (list[i].withdrawn_at != 0 || list[i].in_force_at != 0 || list[i].effective_at > now)
            continue;
        rc = note_in_force(v, ctx, tenant, &list[i], now, err);
        if (rc == CU_OK)
            (*noted)++;
        else if (rc == CU_ERR_CONFLICT) /* another server noted it first */
            rc = CU_OK;
    }
    free(list);
    return rc;
}
