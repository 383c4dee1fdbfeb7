/*
 * repr_webhook.c: the JSON views of webhook endpoints and outbox events (docs/webhooks.md), for
 * the API and the CLI alike: ids, names, states and times; an endpoint's secret never (the
 * creation and rotation answers add it themselves).
 */
#include <stdio.h>

#include <cjson/cJSON.h>

#include "repr.h"

cJSON *cu_repr_webhook_endpoint_json(const cu_webhook_endpoint *e)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", e->id);
    cJSON_AddStringToObject(o, "url", e->url);
    cJSON_AddStringToObject(o, "types", e->types);
    cJSON_AddBoolToObject(o, "enabled", e->enabled);
    cu_repr_add_time(o, "created_at", e->created_at);
    return o;
}

static void add_deliveries(cJSON *o, const cu_webhook_event *ev)
{
    cJSON *d = cJSON_AddArrayToObject(o, "deliveries"), *a;

    for (size_t i = 0; i < ev->ndeliveries; i++) {
        cJSON *x = cJSON_CreateObject();
        cu_repr_add_id(x, "endpoint_id", ev->deliveries[i].endpoint_id);
        cJSON_AddStringToObject(x, "state", cu_webhook_state_name(ev->deliveries[i].state));
        cJSON_AddNumberToObject(x, "attempts", ev->deliveries[i].attempts);
        if (ev->deliveries[i].state == 0)
            cu_repr_add_time(x, "next_attempt_at", ev->deliveries[i].next_at);
        cJSON_AddItemToArray(d, x);
    }
    a = cJSON_AddArrayToObject(o, "attempts");
    for (size_t i = 0; i < ev->nattempts; i++) {
        cJSON *x = cJSON_CreateObject();
        cu_repr_add_id(x, "endpoint_id", ev->attempts[i].endpoint_id);
        cu_repr_add_time(x, "at", ev->attempts[i].at);
        if (ev->attempts[i].status != 0)
            cJSON_AddNumberToObject(x, "status", ev->attempts[i].status);
        if (ev->attempts[i].error[0] != '\0')
            cJSON_AddStringToObject(x, "error", ev->attempts[i].error);
        cJSON_AddItemToArray(a, x);
    }
}

cJSON *cu_repr_webhook_event_json(const cu_webhook_event *ev, int deliveries)
{
    cJSON *o = cJSON_CreateObject(), *data = cJSON_Parse(ev->data);
    char id[8 + CU_ID_STRLEN];

    cu_repr_add_id(o, "id", ev->id);
    snprintf(id, sizeof(id), "evt_%llu", (unsigned long long)ev->id);
    cJSON_AddStringToObject(o, "webhook_id", id);
    cJSON_AddStringToObject(o, "type", ev->type);
    cu_repr_add_time(o, "created_at", ev->created_at);
    cJSON_AddItemToObject(o, "data", data ? data : cJSON_CreateObject());
    if (deliveries)
        add_deliveries(o, ev);
    return o;
}
