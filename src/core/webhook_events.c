/*
 * webhook_events.c: the outbox's events as the API lists them, the admin's test event and
 * resend, and the events the sweep adds for data-subject requests (docs/webhooks.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custos_webhook.h"
#include "outbox_int.h"
#include "tenant_int.h"
#include "util.h"
#include "webhook_int.h"

#define EVENT_LIST_MAX 200

static cu_rc event_copy(const cu_store_webhook_event *s, cu_webhook_event *d, cu_err *err)
{
    memset(d, 0, sizeof(*d));
    d->id = s->id;
    memcpy(d->type, s->type, sizeof(d->type));
    d->created_at = s->created_at;
    if ((d->data = malloc(s->payload.len + 1)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    memcpy(d->data, s->payload.data, s->payload.len);
    d->data[s->payload.len] = '\0';
    return CU_OK;
}

cu_rc cu_webhook_event_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id before,
                            size_t limit, cu_webhook_event **out, size_t *n, cu_err *err)
{
    cu_store_webhook_event *rows = NULL;
    size_t cnt = 0, k = 0;
    cu_rc rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_LIVE, NULL, err);

    *out = NULL;
    *n = 0;
    if (limit == 0 || limit > EVENT_LIST_MAX)
        limit = EVENT_LIST_MAX;
    if (rc == CU_OK)
        rc = cu_store_webhook_events(v->store, tenant, 0, before, limit, &rows, &cnt, err);
    if (rc == CU_OK && (*out = calloc(cnt ? cnt : 1, sizeof(**out))) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (; rc == CU_OK && k < cnt; k++)
        rc = event_copy(&rows[k], &(*out)[k], err);
    cu_store_webhook_events_free(rows, cnt);
    if (rc != CU_OK) {
        for (size_t i = 0; *out != NULL && i < k; i++)
            cu_webhook_event_cleanup(&(*out)[i]);
        free(*out);
        *out = NULL;
        return rc;
    }
    *n = cnt;
    return CU_OK;
}

static cu_rc deliveries_copy(cu_vault *v, cu_id tenant, cu_webhook_event *e, cu_err *err)
{
    cu_store_webhook_delivery *d = NULL;
    cu_store_webhook_attempt *a = NULL;
    size_t nd = 0, na = 0;
    cu_rc rc = cu_store_webhook_deliveries(v->store, tenant, e->id, &d, &nd, &a, &na, err);

    if (rc == CU_OK && ((e->deliveries = calloc(nd ? nd : 1, sizeof(*e->deliveries))) == NULL ||
                        (e->attempts = calloc(na ? na : 1, sizeof(*e->attempts))) == NULL))
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == CU_OK && i < nd; i++)
        e->deliveries[i] = (cu_webhook_delivery){.endpoint_id = d[i].endpoint_id,
                                                 .state = d[i].state,
                                                 .attempts = d[i].attempts,
                                                 /* a resend asked during a try:
                                                  * due as soon as that try is done */
                                                 .next_at = d[i].next_at < 0 ? cu_clock_now()
                                                                             : d[i].next_at};
    for (size_t i = 0; rc == CU_OK && i < na; i++) {
        e->attempts[i] = (cu_webhook_attempt){
            .endpoint_id = a[i].endpoint_id, .at = a[i].at, .status = a[i].status};
        memcpy(e->attempts[i].error, a[i].error, sizeof(e->attempts[i].error));
    }
    if (rc == CU_OK) {
        e->ndeliveries = nd;
        e->nattempts = na;
    }
    free(d);
    free(a);
    return rc;
}

cu_rc cu_webhook_event_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id event,
                           cu_webhook_event *out, cu_err *err)
{
    cu_store_webhook_event *rows = NULL;
    size_t cnt = 0;
    cu_rc rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_LIVE, NULL, err);

    memset(out, 0, sizeof(*out));
    if (rc == CU_OK && event == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such event");
    if (rc == CU_OK)
        rc = cu_store_webhook_events(v->store, tenant, event, 0, 1, &rows, &cnt, err);
    if (rc == CU_OK && cnt == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such event");
    if (rc == CU_OK)
        rc = event_copy(&rows[0], out, err);
    cu_store_webhook_events_free(rows, cnt);
    if (rc == CU_OK)
        rc = deliveries_copy(v, tenant, out, err);
    if (rc != CU_OK)
        cu_webhook_event_cleanup(out);
    return rc;
}

cu_rc cu_webhook_test(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id *event, cu_err *err)
{
    cu_store_op op = {0};
    cJSON *data = cJSON_CreateObject();
    char tid[CU_ID_STRLEN];
    cu_audit_in a;
    cu_rc rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_WRITE, NULL, err);

    if (rc == CU_OK && data == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_id_format(tenant, tid);
    if (rc == CU_OK && cJSON_AddStringToObject(data, "tenant_id", tid) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (rc == CU_OK)
        rc = cu_outbox_event(&op, tenant, CU_EVENT_WEBHOOK_TEST, 0, data, err);
    cJSON_Delete(data);
    if (rc == CU_OK) {
        cu_audit_in_set(&a, tenant, "webhook.test", "event:%llu",
                        (unsigned long long)op.u.webhook_event.id);
        rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    }
    if (rc == CU_OK)
        *event = op.u.webhook_event.id;
    cu_store_op_cleanup(&op);
    return rc;
}

cu_rc cu_webhook_resend(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id event,
                        cu_id endpoint, cu_err *err)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_RESEND};
    cu_audit_in a;
    cu_rc rc = cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_LIVE, NULL, err);

    if (rc != CU_OK)
        return rc;
    op.u.webhook_claim.tenant_id = tenant;
    op.u.webhook_claim.event_id = event;
    op.u.webhook_claim.endpoint_id = endpoint;
    op.u.webhook_claim.now = cu_clock_now();
    cu_audit_in_set(&a, tenant, "webhook.resend", "event:%llu", (unsigned long long)event);
    rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    if (rc == CU_ERR_NOT_FOUND)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such event");
    return rc;
}

/* --- retention of the outbox --------------------------------------------------------------- */

#define PRUNE_BATCH 500  /* events per transaction */
#define PRUNE_MAX 10000  /* per tenant and sweep: the next sweep goes on */

/* Days an event is kept after its creation once its deliveries are all done. */
static int64_t retention_days(void)
{
    const char *s = getenv("CUSTOS_WEBHOOK_RETENTION_DAYS");
    char *end;
    long d;

    if (s == NULL || *s == '\0')
        return 30;
    d = strtol(s, &end, 10);
    return *end != '\0' || d < 1 || d > 3650 ? 30 : d;
}

cu_rc cu_webhook_prune(cu_vault *v, cu_id tenant, int64_t now, size_t *batches, cu_err *err)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_PRUNE};
    cu_err e = {0};
    cu_rc rc = CU_OK;

    *batches = 0;
    op.u.webhook_prune.tenant_id = tenant;
    op.u.webhook_prune.before = now - retention_days() * 86400;
    op.u.webhook_prune.limit = PRUNE_BATCH;
    /* Bounded batches, each its own transaction: a large outbox never holds the writer long. */
    while (rc == CU_OK && *batches < PRUNE_MAX / PRUNE_BATCH)
        if ((rc = cu_store_apply(v->store, &op, 1, &e)) == CU_OK)
            (*batches)++;
    if (rc == CU_ERR_NOT_FOUND) /* nothing (more) to prune */
        return CU_OK;
    if (rc != CU_OK && err != NULL)
        *err = e;
    return rc;
}

/* --- data-subject requests (P-DSR-7) ----------------------------------------------------- */

static int request_open(const cu_store_request *r)
{
    return r->state != CU_REQ_COMPLETED && r->state != CU_REQ_REJECTED;
}

/* The event op for request r at now, if one is due (*made 1): overdue once its next deadline
 * has passed, due soon within CU_REQUEST_DUE_SOON of it; the id derives from the request, the
 * kind and the deadline, so a later sweep adds nothing new, and an extension's new deadline
 * gets its own event. */
static cu_rc request_event(const cu_store_request *r, int64_t now, cu_store_op *op, int *made,
                           cu_err *err)
{
    int64_t due = r->acknowledged_at == 0 ? r->ack_due : r->answer_due;
    const char *type = now > due                            ? CU_EVENT_REQUEST_OVERDUE
                       : due - now <= CU_REQUEST_DUE_SOON ? CU_EVENT_REQUEST_DUE_SOON
                                                            : NULL;
    char id[CU_ID_STRLEN], tid[CU_ID_STRLEN];
    cJSON *data;
    cu_rc rc;

    *made = 0;
    if (!request_open(r) || type == NULL)
        return CU_OK;
    if ((data = cJSON_CreateObject()) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_id_format(r->tenant_id, tid);
    cu_id_format(r->id, id);
    cJSON_AddStringToObject(data, "tenant_id", tid);
    cJSON_AddStringToObject(data, "request_id", id);
    cJSON_AddStringToObject(data, "request_type", cu_request_type_name((cu_request_type)r->type));
    cJSON_AddStringToObject(data, "state", cu_request_state_name((cu_request_state)r->state));
    cJSON_AddStringToObject(data, "deadline", r->acknowledged_at == 0 ? "acknowledge" : "answer");
    cJSON_AddNumberToObject(data, "due_at", (double)due);
    rc = cu_outbox_event(op, r->tenant_id, type, cu_outbox_id(r->tenant_id, type, r->id, due),
                         data, err);
    cJSON_Delete(data);
    *made = rc == CU_OK;
    return rc;
}

cu_rc cu_webhook_request_events(cu_vault *v, cu_id tenant, int64_t now, size_t *added,
                                cu_err *err)
{
    static const cu_ctx sweeper = {.actor = "sweeper", .purpose = "retention",
                                   .flags = CU_CTX_LOCAL};
    cu_store_request *rows = NULL;
    size_t cnt = 0;
    cu_rc rc = cu_store_request_list(v->store, tenant, 0, &rows, &cnt, err);

    *added = 0;
    /* One commit per event: few requests are due at once, and a batch of them would be as
     * large as the tenant's open requests. An event added before is a no-op in the store. */
    for (size_t i = 0; rc == CU_OK && i < cnt; i++) {
        cu_store_op op = {0};
        int made = 0;
        if ((rc = request_event(&rows[i], now, &op, &made, err)) == CU_OK && made)
            rc = cu_commit(v, &sweeper, &op, 1, NULL, 0, err);
        *added += (size_t)made;
        cu_store_op_cleanup(&op);
    }
    free(rows);
    return rc;
}
