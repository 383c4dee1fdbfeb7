/*
 * store_webhook.c: the store's face for the webhook outbox (store.h, docs/webhooks.md): the
 * thin wrappers of its reads and the release of what they return. A handle whose table lacks a
 * read (a snapshot) answers CU_ERR_UNSUPPORTED.
 */
#include <stdlib.h>

#include "store.h"
#include "util.h"

#define WRAP(fn, ...)                                                                              \
    (s->ops->fn != NULL ? s->ops->fn(s, __VA_ARGS__)                                               \
                        : cu_err_set(err, CU_ERR_UNSUPPORTED, "no webhook outbox in this store"))

cu_rc cu_store_webhook_endpoints(cu_store *s, cu_id tenant, cu_id id,
                                 cu_store_webhook_endpoint **out, size_t *n, cu_err *err)
{
    *out = NULL;
    *n = 0;
    return WRAP(webhook_endpoints, tenant, id, out, n, err);
}

cu_rc cu_store_webhook_events(cu_store *s, cu_id tenant, cu_id id, cu_id before, size_t limit,
                              cu_store_webhook_event **out, size_t *n, cu_err *err)
{
    *out = NULL;
    *n = 0;
    return WRAP(webhook_events, tenant, id, before, limit, out, n, err);
}

cu_rc cu_store_webhook_deliveries(cu_store *s, cu_id tenant, cu_id event,
                                  cu_store_webhook_delivery **out, size_t *n,
                                  cu_store_webhook_attempt **attempts, size_t *na, cu_err *err)
{
    *out = NULL;
    *attempts = NULL;
    *n = *na = 0;
    return WRAP(webhook_deliveries, tenant, event, out, n, attempts, na, err);
}

cu_rc cu_store_webhook_due(cu_store *s, int64_t now, size_t limit, cu_store_webhook_job **out,
                           size_t *n, cu_err *err)
{
    *out = NULL;
    *n = 0;
    return WRAP(webhook_due, now, limit, out, n, err);
}

void cu_store_webhook_endpoints_free(cu_store_webhook_endpoint *e, size_t n)
{
    for (size_t i = 0; e != NULL && i < n; i++)
        free(e[i].secret.data);
    free(e);
}

void cu_store_webhook_events_free(cu_store_webhook_event *e, size_t n)
{
    for (size_t i = 0; e != NULL && i < n; i++)
        free(e[i].payload.data);
    free(e);
}

void cu_store_webhook_jobs_free(cu_store_webhook_job *d, size_t n)
{
    for (size_t i = 0; d != NULL && i < n; i++) {
        free(d[i].event.payload.data);
        free(d[i].endpoint.secret.data);
    }
    free(d);
}
