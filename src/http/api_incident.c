/*
 * api_incident.c: breach incidents over HTTP (P-BRE-1, docs/incidents.md, docs/api.md).
 *
 * The same handlers serve two route families: /v1/incidents for the operator (CU_PERM_TENANTS:
 * every incident, any tenant or all of them in scope) and /v1/tenants/{tenant}/incidents for a
 * tenant's owner or admin (CU_PERM_KEYS: its own incidents only; the router answers another
 * tenant's path 404, and the core another tenant's incident id likewise, P-ISO-1). Times are
 * RFC 3339, dates or unix milliseconds; deadlines in whole hours as decimal strings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custos_incident.h"
#include "http_int.h"
#include "json.h"
#include "repr.h"
#include "repr_incident.h"
#include "util.h"

/* The caller's view (0: the operator's) and the incident id of the path. */
static cu_id view(const http_req *r, cu_id *id)
{
    int tenant = (r->route->flags & R_TENANT) != 0;

    if (id != NULL)
        *id = r->ids[tenant ? 1 : 0];
    return tenant ? r->tenant : 0;
}

/* A time member (seconds into *out); 0 if absent; -1 after a 400 answer. */
static int time_member(http_req *r, const char *name, int64_t *out)
{
    const char *s = http_str(r, name);
    int64_t ms = 0;

    *out = 0;
    if (s == NULL)
        return 0;
    if (cu_repr_time_parse(s, &ms) != CU_OK || ms < 1000) {
        http_error(r, 400, "invalid_field", "\"%s\": an RFC 3339 time, a date or unix milliseconds",
                   name);
        return -1;
    }
    *out = ms / 1000;
    return 0;
}

static int hours_member(http_req *r, const char *name, int64_t *out)
{
    const char *s = http_str(r, name);
    char *end;
    long long h;

    *out = 0;
    if (s == NULL)
        return 0;
    h = strtoll(s, &end, 10);
    if (*s < '1' || *s > '9' || *end != '\0' || h > CU_INCIDENT_HOURS_MAX) {
        http_error(r, 400, "invalid_field", "\"%s\": whole hours from 1 to %d, as a string", name,
                   CU_INCIDENT_HOURS_MAX);
        return -1;
    }
    *out = h;
    return 0;
}

static void answer(http_req *r, unsigned status, cu_id as, cu_id id, int report)
{
    cu_incident i;
    cu_err e = {0};

    if (cu_incident_get(r->v, &r->ctx, as, id, &i, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, status, cu_repr_incident_json(&i, cu_clock_now(), report));
    cu_incident_cleanup(&i);
}

void api_incident_open(http_req *r)
{
    static const http_field f[] = {
        {"from", F_STRING, 1},
        {"to", F_STRING, 0},
        {"known_at", F_STRING, 0},
        {"api_key", F_ID, 0},
        {"principal", F_STRING, 0},
        {"source", F_STRING, 0},
        {"collection", F_STRING, 0},
        {"tenant", F_ID, 0},
        {"authority_hours", F_STRING, 0},
        {"tenants_hours", F_STRING, 0},
        {"subjects_hours", F_STRING, 0},
    };
    cu_incident_in in = {0};
    cu_id as = view(r, NULL), id = 0;
    cu_err e = {0};

    if (http_check_body(r, f, CU_ARRAY_LEN(f)) != 0 || time_member(r, "from", &in.from) != 0 ||
        time_member(r, "to", &in.to) != 0 || time_member(r, "known_at", &in.known_at) != 0 ||
        hours_member(r, "authority_hours", &in.authority_hours) != 0 ||
        hours_member(r, "tenants_hours", &in.tenants_hours) != 0 ||
        hours_member(r, "subjects_hours", &in.subjects_hours) != 0)
        return;
    if (as != 0 && http_str(r, "tenant") != NULL)
        return http_error(r, 400, "invalid_field", "\"tenant\": a tenant's incident is its own");
    in.tenant = http_id(r, "tenant");
    in.api_key = http_id(r, "api_key");
    in.principal = http_str(r, "principal");
    in.source = http_str(r, "source");
    in.collection = http_str(r, "collection");
    if (cu_incident_open(r->v, &r->ctx, as, &in, &id, &e) != CU_OK)
        return http_fail(r, &e);
    answer(r, 201, as, id, 0);
}

void api_incident_list(http_req *r)
{
    cu_store_incident *list = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (cu_incident_list(r->v, &r->ctx, view(r, NULL), &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "incidents");
    for (size_t k = 0; k < n; k++)
        cJSON_AddItemToArray(a, cu_repr_incident_summary_json(&list[k]));
    free(list);
    http_json(r, 200, o);
}

void api_incident_get(http_req *r)
{
    cu_id id, as = view(r, &id);

    answer(r, 200, as, id, 0);
}

void api_incident_report(http_req *r)
{
    cu_id id, as = view(r, &id);

    answer(r, 200, as, id, 1);
}

void api_incident_notice(http_req *r)
{
    static const http_field f[] = {{"notice", F_STRING, 1},
                                   {"tenant", F_ID, 0},
                                   {"reference", F_STRING, 1},
                                   {"at", F_STRING, 0}};
    cu_id id, as = view(r, &id);
    int64_t at = 0;
    int kind;
    cu_err e = {0};

    if (http_check_body(r, f, CU_ARRAY_LEN(f)) != 0 || time_member(r, "at", &at) != 0)
        return;
    if ((kind = cu_incident_kind_parse(http_str(r, "notice"))) == 0)
        return http_error(r, 400, "invalid_field",
                          "\"notice\": one of authority, tenant, subjects");
    if (cu_incident_notice(r->v, &r->ctx, as, id, kind, http_id(r, "tenant"), at,
                           http_str(r, "reference"), &e) != CU_OK)
        return http_fail(r, &e);
    answer(r, 201, as, id, 0);
}

void api_incident_revoke(http_req *r)
{
    cu_id id, as = view(r, &id);
    cu_err e = {0};

    if (cu_incident_revoke(r->v, &r->ctx, as, id, &e) != CU_OK)
        return http_fail(r, &e);
    answer(r, 200, as, id, 0);
}
