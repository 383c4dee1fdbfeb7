/*
 * incident_notice.c: an incident after its opening (P-BRE-1, docs/incidents.md): reading it
 * (its evidence checked against its hash on every read), its deadlines, the notices sent,
 * the suspected key's revocation, and the sweep's incident.notice_due events.
 *
 * A deadline is met when every notice it needs was sent: the authority's by one notice to the
 * authority; the tenants' by one to each tenant of the affected set; the subjects' by one per
 * tenant with affected subjects (the notice to that set of subjects, which the tenant, their
 * controller, usually sends). A deadline with no one to tell (no tenant or subject affected)
 * is "none".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incident_int.h"
#include "outbox_int.h"
#include "util.h"

static const char *const kind_names[] = {
    [CU_INCIDENT_NOTICE_AUTHORITY] = "authority",
    [CU_INCIDENT_NOTICE_TENANT] = "tenant",
    [CU_INCIDENT_NOTICE_SUBJECTS] = "subjects",
};

const char *cu_incident_kind_name(int kind)
{
    if (kind < CU_INCIDENT_NOTICE_AUTHORITY || kind > CU_INCIDENT_NOTICE_SUBJECTS)
        return NULL;
    return kind_names[kind];
}

int cu_incident_kind_parse(const char *s)
{
    for (int k = CU_INCIDENT_NOTICE_AUTHORITY; s != NULL && k <= CU_INCIDENT_NOTICE_SUBJECTS; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    return 0;
}

void cu_incident_cleanup(cu_incident *i)
{
    if (i == NULL)
        return;
    free(i->hits);
    free(i->notices);
    memset(i, 0, sizeof(*i));
}

/* Whether tenant is in the affected set. */
static int affected(const cu_incident *i, cu_id tenant)
{
    for (size_t k = 0; k < i->nhits; k++)
        if (i->hits[k].tenant_id == tenant)
            return 1;
    return 0;
}

/* P-ISO-1: another tenant's incident is one that does not exist; the platform's (tenant 0) is
 * seen by each tenant it affected. */
static int visible(const cu_incident *i, cu_id as_tenant)
{
    return as_tenant == 0 || i->inc.tenant_id == as_tenant ||
           (i->inc.tenant_id == 0 && affected(i, as_tenant));
}

/* P-ISO-1: the platform's incident as a tenant it affected sees it: that tenant's members, its
 * own notices and the authority's, and counts of its own. */
static void own_part(cu_incident *i, cu_id tenant)
{
    size_t k = 0, m = 0;

    i->inc.subjects = 0;
    for (size_t j = 0; j < i->nhits; j++)
        if (i->hits[j].tenant_id == tenant) {
            i->inc.subjects += i->hits[j].subject_id != 0;
            i->hits[k++] = i->hits[j];
        }
    i->nhits = k;
    i->inc.tenants = k > 0;
    for (size_t j = 0; j < i->nnotices; j++)
        if (i->notices[j].kind == CU_INCIDENT_NOTICE_AUTHORITY || i->notices[j].tenant_id == tenant)
            i->notices[m++] = i->notices[j];
    i->nnotices = m;
}

cu_rc cu_incident_list(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_store_incident **out,
                       size_t *n, cu_err *err)
{
    cu_rc rc = cu_store_incident_list(v->store, as_tenant, as_tenant == 0, out, n, err);

    /* The platform's incidents in a tenant's list count that tenant's part only. */
    for (size_t k = 0; rc == CU_OK && as_tenant != 0 && k < *n; k++) {
        cu_incident i;
        if ((*out)[k].tenant_id != 0)
            continue;
        if ((rc = cu_incident_get(v, ctx, as_tenant, (*out)[k].id, &i, err)) == CU_OK)
            (*out)[k] = i.inc;
        cu_incident_cleanup(&i);
    }
    if (rc != CU_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

cu_rc cu_incident_get(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_id id, cu_incident *out,
                      cu_err *err)
{
    uint8_t h[32];
    cu_rc rc;

    (void)ctx;
    memset(out, 0, sizeof(*out));
    rc = cu_store_incident_get(v->store, id, &out->inc, &out->hits, &out->nhits, &out->notices,
                               &out->nnotices, err);
    if (rc == CU_OK && !visible(out, as_tenant))
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such incident");
    if (rc != CU_OK) {
        cu_incident_cleanup(out);
        return rc;
    }
    /* P-BRE-1: the evidence as stored still hashes to what the audit log holds. */
    if ((rc = cu_incident_evidence(&out->inc, out->hits, out->nhits, h, err)) != CU_OK) {
        cu_incident_cleanup(out);
        return rc;
    }
    out->evidence_intact = memcmp(h, out->inc.evidence, 32) == 0;
    if (as_tenant != 0 && out->inc.tenant_id == 0)
        own_part(out, as_tenant);
    return CU_OK;
}

/* When a notice of kind to tenant (0: any) was first sent; 0 if never. */
static int64_t first_notice(const cu_incident *i, int kind, cu_id tenant)
{
    int64_t at = 0;

    for (size_t k = 0; k < i->nnotices; k++) {
        const cu_store_incident_notice *n = &i->notices[k];
        if (n->kind == kind && (tenant == 0 || n->tenant_id == tenant) && (at == 0 || n->at < at))
            at = n->at;
    }
    return at;
}

/* met_at of a deadline owed to each affected tenant: the last of their first notices; 0 if
 * one is missing; -1 if there is no one to tell. Every member of the set reached personal data
 * (incident.c), so each of its tenants owes its subjects a notice too: a member without a
 * subject (an export, a search, a find) reached subjects the log does not name, which makes
 * the notice owed, not moot (P-BRE-1, Art. 34). */
static int64_t per_tenant(const cu_incident *i, int kind)
{
    int64_t last = -1;

    for (size_t k = 0; k < i->nhits; k++) {
        const cu_store_incident_hit *h = &i->hits[k];
        int64_t at;
        if ((at = first_notice(i, kind, h->tenant_id)) == 0)
            return 0;
        last = at > last ? at : last;
    }
    return last;
}

void cu_incident_deadlines(const cu_incident *i, int64_t now, cu_incident_deadline out[3])
{
    const int64_t hours[3] = {i->inc.authority_hours, i->inc.tenants_hours, i->inc.subjects_hours};
    const int64_t met[3] = {first_notice(i, CU_INCIDENT_NOTICE_AUTHORITY, 0),
                            per_tenant(i, CU_INCIDENT_NOTICE_TENANT),
                            per_tenant(i, CU_INCIDENT_NOTICE_SUBJECTS)};

    for (int k = 0; k < 3; k++) {
        cu_incident_deadline *d = &out[k];
        d->kind = CU_INCIDENT_NOTICE_AUTHORITY + k;
        d->due = i->inc.known_at + hours[k] * 3600;
        d->met_at = met[k] > 0 ? met[k] : 0;
        d->state = met[k] < 0     ? "none"
                   : met[k] > 0   ? (met[k] <= d->due ? "met" : "late")
                   : now > d->due ? "overdue"
                                  : "pending";
    }
}

static int reference_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= CU_INCIDENT_REF_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-:/", *s) != NULL))
            return 0;
    return 1;
}

cu_rc cu_incident_notice(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_id id, int kind,
                         cu_id tenant, int64_t at, const char *reference, cu_err *err)
{
    cu_store_op op = {.type = CU_OP_INCIDENT_NOTICE};
    cu_store_incident_notice *n = &op.u.incident_notice;
    int64_t now = cu_clock_now();
    cu_incident i;
    cu_audit_in a;
    cu_rc rc;

    if (cu_incident_kind_name(kind) == NULL || !reference_ok(reference) || at < 0 || at > now)
        return cu_err_set(err, CU_ERR_INVALID,
                          "a notice needs a kind (authority, tenant, subjects), a reference of "
                          "1 to 64 of A-Z a-z 0-9 . _ - : / and a time not in the future");
    if ((rc = cu_incident_get(v, ctx, as_tenant, id, &i, err)) != CU_OK)
        return rc;
    /* P-BRE-1: a deadline is met by a notice given once the breach was known, never by one
     * dated before it; and telling the tenant of an incident staff opened is the platform's
     * duty, which the tenant cannot record as met. A tenant the platform's incident affected
     * records its own subjects' notice only. */
    if (at != 0 && at < i.inc.known_at)
        rc = cu_err_set(err, CU_ERR_INVALID, "a notice cannot precede when the breach was known");
    else if (as_tenant != 0 && i.inc.tenant_id == 0 &&
             (kind != CU_INCIDENT_NOTICE_SUBJECTS || tenant != as_tenant))
        rc = cu_err_set(err, CU_ERR_FORBIDDEN,
                        "on the platform's incident a tenant records its subjects' notice only");
    else if (as_tenant != 0 && kind == CU_INCIDENT_NOTICE_TENANT &&
             strncmp(i.inc.opened_by, "operator:", 9) == 0)
        rc = cu_err_set(err, CU_ERR_FORBIDDEN,
                        "the tenant's notice of an incident staff opened is recorded by staff");
    else if (kind == CU_INCIDENT_NOTICE_AUTHORITY)
        tenant = 0;
    else if (!affected(&i, tenant))
        rc = cu_err_set(err, CU_ERR_INVALID, "the tenant is not in the incident's affected set");
    if (rc == CU_OK) {
        n->incident_id = id;
        n->kind = kind;
        n->tenant_id = tenant;
        n->at = at != 0 ? at : now;
        cu_strlcpy(n->reference, reference, sizeof(n->reference));
        cu_strlcpy(n->actor, ctx && ctx->actor ? ctx->actor : "cli", sizeof(n->actor));
        cu_audit_in_set(&a, as_tenant != 0 ? as_tenant : i.inc.tenant_id, "incident.notice",
                        "incident:%llu:%s:%llu", (unsigned long long)id,
                        cu_incident_kind_name(kind), (unsigned long long)tenant);
        rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    }
    cu_incident_cleanup(&i);
    return rc;
}

cu_rc cu_incident_revoke(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, cu_id id, cu_err *err)
{
    cu_store_op op = {.type = CU_OP_INCIDENT_REVOKED};
    cu_incident i;
    cu_audit_in a;
    cu_rc rc = cu_incident_get(v, ctx, as_tenant, id, &i, err);

    if (rc != CU_OK)
        return rc;
    if (as_tenant != 0 && i.inc.tenant_id == 0)
        rc = cu_err_set(err, CU_ERR_FORBIDDEN, "the platform's incident is revoked from by staff");
    else if (i.inc.scope_key == 0)
        rc = cu_err_set(err, CU_ERR_INVALID, "the incident's scope names no API key");
    else if (i.inc.revoked_at != 0)
        rc = cu_err_set(err, CU_ERR_EXISTS, "the incident's key was revoked from it already");
    /* P-ACC-3 through the key's own revocation: the key is the incident's tenant's, or for
     * the operator's incident possibly an operator key (tenant 0). */
    if (rc == CU_OK)
        rc = cu_apikey_revoke(v, ctx, i.inc.scope_tenant, i.inc.scope_key, err);
    if (rc == CU_ERR_NOT_FOUND && as_tenant == 0 && i.inc.scope_tenant != 0)
        rc = cu_apikey_revoke(v, ctx, 0, i.inc.scope_key, err);
    if (rc == CU_OK) {
        op.u.incident.inc.id = id;
        op.u.incident.inc.revoked_at = cu_clock_now();
        cu_audit_in_set(&a, i.inc.tenant_id, "incident.revoke", "incident:%llu:apikey:%llu",
                        (unsigned long long)id, (unsigned long long)i.inc.scope_key);
        rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    }
    cu_incident_cleanup(&i);
    return rc;
}

/* The notice_due event of deadline d for target, with an id derived from the incident, the
 * deadline and its due time: added once however often the sweep runs. */
static cu_rc due_event(const cu_incident *i, const cu_incident_deadline *d, cu_id target,
                       cu_store_op *op, cu_err *err)
{
    const char *type = CU_EVENT_INCIDENT_NOTICE_DUE;
    char id[CU_ID_STRLEN], tid[CU_ID_STRLEN];
    cJSON *data = cJSON_CreateObject();
    cu_rc rc;

    if (data == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_id_format(i->inc.id, id);
    cu_id_format(target, tid);
    cJSON_AddStringToObject(data, "incident_id", id);
    cJSON_AddStringToObject(data, "tenant_id", tid);
    cJSON_AddStringToObject(data, "notice", cu_incident_kind_name(d->kind));
    cJSON_AddStringToObject(data, "state", d->state);
    cJSON_AddNumberToObject(data, "due_at", (double)d->due);
    rc = cu_outbox_event(op, target, type,
                         cu_outbox_id(target, type, i->inc.id + (cu_id)d->kind, d->due), data, err);
    cJSON_Delete(data);
    return rc;
}

/* Whether the tenant's outbox holds the event id already. */
static cu_rc event_exists(cu_vault *v, cu_id tenant, cu_id id, int *had, cu_err *err)
{
    cu_store_webhook_event *e = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_webhook_events(v->store, tenant, id, 0, 1, &e, &n, err);

    *had = n > 0;
    cu_store_webhook_events_free(e, n);
    return rc;
}

/* The events of incident i (as target sees it) owed to target at now; one commit each, for
 * those not added before. */
static cu_rc target_due(cu_vault *v, const cu_incident *i, cu_id target, int64_t now,
                        size_t *added, cu_err *err)
{
    static const cu_ctx sweeper = {
        .actor = "sweeper", .purpose = "retention", .flags = CU_CTX_LOCAL};
    cu_incident_deadline d[3];
    cu_rc rc = CU_OK;

    cu_incident_deadlines(i, now, d);
    for (int k = 0; rc == CU_OK && k < 3; k++) {
        cu_store_op op = {0};
        int had = 0;
        if ((strcmp(d[k].state, "pending") != 0 && strcmp(d[k].state, "overdue") != 0) ||
            d[k].due - now > CU_INCIDENT_DUE_SOON)
            continue;
        if ((rc = due_event(i, &d[k], target, &op, err)) == CU_OK)
            rc = event_exists(v, target, op.u.webhook_event.id, &had, err);
        /* An overdue deadline stays overdue: a read, not a write, once it was told. */
        if (rc == CU_OK && !had && (rc = cu_commit(v, &sweeper, &op, 1, NULL, 0, err)) == CU_OK)
            (*added)++;
        cu_store_op_cleanup(&op);
    }
    return rc;
}

/* The events incident i owes at now. P-ISO-2: each tenant the platform's incident affected is
 * told of its own part's deadlines (its view, cu_incident_get), never of another's. */
static cu_rc incident_due(cu_vault *v, const cu_incident *i, int64_t now, size_t *added,
                          cu_err *err)
{
    cu_id *targets = NULL;
    size_t nt = 0;
    cu_rc rc = cu_incident_targets(i, &targets, &nt, err);

    for (size_t t = 0; rc == CU_OK && t < nt; t++) {
        cu_incident own;
        if (i->inc.tenant_id != 0) {
            rc = target_due(v, i, targets[t], now, added, err);
            continue;
        }
        if ((rc = cu_incident_get(v, NULL, targets[t], i->inc.id, &own, err)) != CU_OK)
            break;
        rc = target_due(v, &own, targets[t], now, added, err);
        cu_incident_cleanup(&own);
    }
    free(targets);
    return rc;
}

cu_rc cu_incident_events(cu_vault *v, int64_t now, size_t *added, cu_err *err)
{
    cu_store_incident *list = NULL;
    size_t n = 0;
    cu_rc rc = cu_store_incident_list(v->store, 0, 1, &list, &n, err);

    *added = 0;
    for (size_t k = 0; rc == CU_OK && k < n; k++) {
        cu_incident i;
        if ((rc = cu_incident_get(v, NULL, 0, list[k].id, &i, err)) != CU_OK)
            break;
        rc = incident_due(v, &i, now, added, err);
        cu_incident_cleanup(&i);
    }
    free(list);
    return rc;
}
