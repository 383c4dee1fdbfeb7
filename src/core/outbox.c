/*
 * outbox.c: events of the webhook outbox, made as store ops that ride in their cause's batch
 * (outbox_int.h, docs/webhooks.md). Nothing here touches the store: the cause commits the op.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "outbox_int.h"
#include "util.h"

static const char *const known_types[] = {
    CU_EVENT_WEBHOOK_TEST,    CU_EVENT_REQUEST_DUE_SOON, CU_EVENT_REQUEST_OVERDUE,
    CU_EVENT_POLICY_SCHEDULED, CU_EVENT_POLICY_IN_FORCE, CU_EVENT_CONSENT_NEEDED,
    CU_EVENT_RECIPIENT_ADDED, CU_EVENT_INCIDENT_OPENED, CU_EVENT_INCIDENT_NOTICE_DUE,
};

int cu_outbox_type_known(const char *type)
{
    for (size_t i = 0; i < sizeof(known_types) / sizeof(known_types[0]); i++)
        if (strcmp(type, known_types[i]) == 0)
            return 1;
    return 0;
}

/* An id is the time (milliseconds, 43 bits, enough until the year 2248) above 20 bits that
 * tell apart the events of one millisecond: ids sort by time, and the event list pages by id. */
static cu_id time_id(int64_t ms, uint32_t low)
{
    cu_id id = ((cu_id)(ms < 0 ? 0 : ms) << 20 | (low & 0xfffff)) & INT64_MAX;

    return id != 0 ? id : 1;
}

cu_id cu_outbox_id(cu_id tenant, const char *type, cu_id object, int64_t at)
{
    uint8_t h[CU_HASHBYTES];
    cu_sha256_ctx *c = cu_sha256_new();
    uint8_t buf[16];
    uint32_t low = 0;

    if (c != NULL) {
        memcpy(buf, &tenant, 8);
        memcpy(buf + 8, &object, 8);
        cu_sha256_update(c, (const uint8_t *)"custos-event\0", 13);
        cu_sha256_update(c, buf, sizeof(buf));
        cu_sha256_update(c, (const uint8_t *)type, strlen(type));
        cu_sha256_final(c, h);
        low = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16;
    }
    return time_id(at * 1000, low);
}

cu_rc cu_outbox_event(cu_store_op *op, cu_id tenant, const char *type, cu_id id,
                      const cJSON *data, cu_err *err)
{
    cu_store_webhook_event *e = &op->u.webhook_event;
    int64_t ms = cu_audit_now_ms();
    uint32_t low;
    char *text;

    memset(op, 0, sizeof(*op));
    if (type == NULL || !cu_outbox_type_known(type))
        return cu_err_set(err, CU_ERR_INVALID, "unknown event type");
    if (data == NULL || !cJSON_IsObject(data))
        return cu_err_set(err, CU_ERR_INVALID, "an event's data is a JSON object");
    if ((text = cJSON_PrintUnformatted(data)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_random(&low, sizeof(low));
    op->type = CU_OP_WEBHOOK_EVENT;
    e->tenant_id = tenant;
    e->id = id != 0 ? id : time_id(ms, low);
    snprintf(e->type, sizeof(e->type), "%s", type);
    e->payload.data = (uint8_t *)text;
    e->payload.len = strlen(text);
    e->created_at = ms / 1000;
    return CU_OK;
}
