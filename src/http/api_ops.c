/*
 * api_ops.c: operations endpoints: health and metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

void api_healthz(http_req *r)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "version", CU_VERSION);
    http_json(r, 200, o);
}

/* Prometheus text, not JSON: the one non-JSON answer. */
void api_metrics(http_req *r)
{
    size_t len = 0;
    char *text = http_metrics_render(r->v, &len);

    if (text == NULL)
        return http_error(r, 503, "out_of_memory", "out of memory");
    free(r->resp);
    r->resp = text;
    r->resp_len = len;
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4";
}
