/*
 * api_webhook.c: a tenant's webhook endpoints and its outbox over HTTP (docs/webhooks.md,
 * docs/api.md). Every route is the tenant's and needs CU_PERM_KEYS (an admin's: a secret that
 * signs for the tenant is a credential). An endpoint's secret appears in two answers only: its
 * creation and its rotation. Bad input gets 400 with a stable code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custos_webhook.h"
#include "http_int.h"
#include "json.h"
#include "repr.h"
#include "util.h"

#define EVENTS_PAGE 50

/* The endpoint's current state, with its new secret when one was just made. */
static void endpoint_answer(http_req *r, unsigned status, cu_id id, char *secret)
{
    cu_webhook_endpoint *list = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o;

    if (cu_webhook_endpoint_list(r->v, &r->ctx, r->tenant, id, &list, &n, &e) != CU_OK) {
        char ids[CU_ID_STRLEN];
        if (secret == NULL)
            return http_fail(r, &e);
        /* The secret is committed (an endpoint deleted meanwhile, a read that failed): left out
         * of this answer, it would be lost for good. */
        free(list);
        cu_id_format(id, ids);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", ids);
        cJSON_AddStringToObject(o, "secret", secret);
        cu_str_wipe(secret);
        return http_json(r, status, o);
    }
    o = cu_repr_webhook_endpoint_json(&list[0]);
    if (secret != NULL) {
        cJSON_AddStringToObject(o, "secret", secret);
        cu_str_wipe(secret);
    }
    free(list);
    http_json(r, status, o);
}

void api_webhook_create(http_req *r)
{
    static const http_field f[] = {{"url", F_STRING, 1}, {"types", F_STRING, 0}};
    char secret[CU_WEBHOOK_SECRET_MAX];
    cu_err e = {0};
    cu_id id = 0;

    if (http_check_body(r, f, 2) != 0)
        return;
    if (cu_webhook_endpoint_create(r->v, &r->ctx, r->tenant, http_str(r, "url"),
                                   http_str(r, "types"), &id, secret, &e) != CU_OK)
        return http_fail(r, &e);
    endpoint_answer(r, 201, id, secret);
}

void api_webhook_list(http_req *r)
{
    cu_webhook_endpoint *list = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (cu_webhook_endpoint_list(r->v, &r->ctx, r->tenant, 0, &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "endpoints");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cu_repr_webhook_endpoint_json(&list[i]));
    free(list);
    http_json(r, 200, o);
}

void api_webhook_get(http_req *r)
{
    endpoint_answer(r, 200, r->ids[1], NULL);
}

void api_webhook_update(http_req *r)
{
    static const http_field f[] = {
        {"url", F_STRING, 0}, {"types", F_STRING, 0}, {"enabled", F_BOOL, 0}};
    cJSON *en;
    cu_err e = {0};

    if (http_check_body(r, f, 3) != 0)
        return;
    en = cJSON_GetObjectItemCaseSensitive(r->json, "enabled");
    if (cu_webhook_endpoint_update(r->v, &r->ctx, r->tenant, r->ids[1], http_str(r, "url"),
                                   http_str(r, "types"), en ? cJSON_IsTrue(en) : -1,
                                   &e) != CU_OK)
        return http_fail(r, &e);
    endpoint_answer(r, 200, r->ids[1], NULL);
}

void api_webhook_rotate(http_req *r)
{
    char secret[CU_WEBHOOK_SECRET_MAX];
    cu_err e = {0};

    if (cu_webhook_endpoint_rotate(r->v, &r->ctx, r->tenant, r->ids[1], secret, &e) != CU_OK)
        return http_fail(r, &e);
    endpoint_answer(r, 200, r->ids[1], secret);
}

void api_webhook_delete(http_req *r)
{
    cu_err e = {0};
    cJSON *o;

    if (cu_webhook_endpoint_delete(r->v, &r->ctx, r->tenant, r->ids[1], &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "deleted", 1);
    http_json(r, 200, o);
}

void api_webhook_test(http_req *r)
{
    cu_err e = {0};
    cu_id id = 0;
    cJSON *o;

    if (cu_webhook_test(r->v, &r->ctx, r->tenant, &id, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "event_id", id);
    http_json(r, 202, o);
}

/* A query id: absent is 0; else a valid id, or 400 (returns -1). */
static int query_id(http_req *r, const char *name, cu_id *out)
{
    const char *s = http_query(r, name);

    *out = 0;
    if (s == NULL || cu_id_parse(s, out) == CU_OK)
        return 0;
    http_error(r, 400, "invalid_field", "query parameter \"%s\" must be an id", name);
    return -1;
}

void api_webhook_events(http_req *r)
{
    static const char *const params[] = {"before"};
    cu_webhook_event *list = NULL;
    size_t n = 0;
    cu_id before = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (http_check_query(r, params, 1) != 0 || query_id(r, "before", &before) != 0)
        return;
    if (cu_webhook_event_list(r->v, &r->ctx, r->tenant, before, EVENTS_PAGE, &list, &n, &e) !=
        CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "events");
    /* The next page: the events below the last one here. */
    if (n == EVENTS_PAGE)
        cu_repr_add_id(o, "next_before", list[n - 1].id);
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, cu_repr_webhook_event_json(&list[i], 0));
        cu_webhook_event_cleanup(&list[i]);
    }
    free(list);
    http_json(r, 200, o);
}

void api_webhook_event_get(http_req *r)
{
    cu_webhook_event ev;
    cu_err e = {0};
    cJSON *o;

    if (cu_webhook_event_get(r->v, &r->ctx, r->tenant, r->ids[1], &ev, &e) != CU_OK)
        return http_fail(r, &e);
    o = cu_repr_webhook_event_json(&ev, 1);
    cu_webhook_event_cleanup(&ev);
    http_json(r, 200, o);
}

void api_webhook_resend(http_req *r)
{
    static const char *const params[] = {"endpoint_id"};
    cu_id endpoint = 0;
    cu_err e = {0};
    cJSON *o;

    if (http_check_query(r, params, 1) != 0 || query_id(r, "endpoint_id", &endpoint) != 0)
        return;
    if (cu_webhook_resend(r->v, &r->ctx, r->tenant, r->ids[1], endpoint, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "event_id", r->ids[1]);
    cJSON_AddBoolToObject(o, "resent", 1);
    http_json(r, 202, o);
}
