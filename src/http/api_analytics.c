/*
 * api_analytics.c: aggregate analytics over HTTP (P-ANA-1, P-ISO-2; docs/analytics.md,
 * docs/api.md "Analytics"). POST .../collections/{name}/aggregate needs CU_PERM_AGGREGATE (an
 * analyst's, an owner's, an admin's) and no purpose: the answer holds aggregates only, never a
 * personal value. The privacy budget is read with the same permission and set by the owner
 * (CU_PERM_POLICY). A refused query gets 400 (or 403 for the budget) with the core's stable code.
 */
#include <stdlib.h>
#include <string.h>

#include "custos_analytics.h"
#include "http_int.h"
#include "util.h"

void api_analytics_aggregate(http_req *r)
{
    cu_analytics_refusal why = CU_ANALYTICS_OK;
    char *text = NULL;
    cu_err e = {0};

    if (cu_analytics_query(r->v, &r->ctx, r->tenant, r->name, r->body, r->body_len, &text, &why,
                           &e) != CU_OK) {
        if (why != CU_ANALYTICS_OK)
            return http_error(r, e.code == CU_ERR_FORBIDDEN ? 403 : 400,
                              cu_analytics_refusal_code(why), "%s", e.msg);
        return http_fail(r, &e);
    }
    free(r->resp);
    r->resp = text;
    r->resp_len = strlen(text);
    r->status = 200;
}

static void budget_answer(http_req *r)
{
    double total = 0, spent = 0;
    int required = 0;
    cu_err e = {0};
    cJSON *o;

    if (cu_analytics_budget_get(r->v, &r->ctx, r->tenant, &total, &spent, &e) != CU_OK ||
        cu_analytics_noise_required(r->v, &r->ctx, r->tenant, &required, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epsilon", total);
    cJSON_AddNumberToObject(o, "spent", spent);
    cJSON_AddNumberToObject(o, "remaining", total > spent ? total - spent : 0);
    cJSON_AddBoolToObject(o, "noise_required", required);
    http_json(r, 200, o);
}

void api_analytics_budget_get(http_req *r)
{
    budget_answer(r);
}

/* {"epsilon": the total, 0 to 1000, "noise_required": true|false (optional: kept)}; what was
 * spent stays spent. */
void api_analytics_budget_put(http_req *r)
{
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(r->json, "epsilon");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(r->json, "noise_required");
    cu_err e = {0};

    if (cJSON_GetArraySize(r->json) != 1 + (req != NULL) || !cJSON_IsNumber(eps) ||
        (req != NULL && !cJSON_IsBool(req)))
        return http_error(r, 400, "invalid_field",
                          "the body is {\"epsilon\": a number, \"noise_required\": optional, "
                          "true or false}");
    if (cu_analytics_budget_set_noise(r->v, &r->ctx, r->tenant, eps->valuedouble,
                                      req == NULL ? -1 : cJSON_IsTrue(req), &e) != CU_OK)
        return http_fail(r, &e);
    budget_answer(r);
}
