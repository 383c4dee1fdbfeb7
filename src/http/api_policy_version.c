/*
 * api_policy_version.c: handlers for a tenant's policy versions (P-NOT-1, P-NOT-2, P-CON-5):
 * the pending version with its diff against the version in force, its withdrawal, and the
 * subjects who must consent again. Parse, call the core, map errors; the rules live in
 * policy_version.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "json.h"
#include "repr.h"

#define FRESH_LIMIT_MAX 1000

void api_policy_pending(http_req *r)
{
    cu_policy_state st;
    cu_policy_diff d;
    cu_err e = {0};
    cJSON *o;

    if (cu_policy_pending_diff(r->v, r->tenant, &st, &d, &e) != CU_OK) {
        cu_policy_diff_cleanup(&d);
        return http_fail(r, &e);
    }
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "version", st.pending);
    cJSON_AddNumberToObject(o, "version_in_force", st.current);
    cu_repr_add_time(o, "bound_at", st.pending_bound);
    cu_repr_add_time(o, "effective_at", st.pending_at);
    cJSON_AddItemToObject(o, "diff", cu_repr_policy_diff_json(&d));
    cJSON_AddItemToObject(o, "fresh_consent", cu_repr_fresh_json(st.fresh));
    cu_policy_diff_cleanup(&d);
    http_json(r, 200, o);
}

void api_policy_withdraw(http_req *r)
{
    cu_policy_state st;
    cu_err e = {0};
    cJSON *o;

    if (cu_policy_state_get(r->v, r->tenant, &st, &e) != CU_OK)
        return http_fail(r, &e);
    if (st.pending == 0)
        return http_error(r, 404, "not_found", "no policy version is pending");
    if (cu_policy_withdraw(r->v, &r->ctx, r->tenant, st.pending, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "withdrawn", st.pending);
    cJSON_AddNumberToObject(o, "version_in_force", st.current);
    http_json(r, 200, o);
}

/* GET .../policy/fresh-consent?after=ID&limit=N: ids and purpose names only. */
void api_policy_fresh(http_req *r)
{
    static const char *const q[] = {"after", "limit"};
    const char *after_s, *limit_s;
    cu_fresh_need *list = NULL;
    cu_id after = 0;
    size_t n = 0, limit = 100;
    int more = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (http_check_query(r, q, 2) != 0)
        return;
    if ((after_s = http_query(r, "after")) != NULL && cu_id_parse(after_s, &after) != CU_OK)
        return http_error(r, 400, "invalid_field", "after is a subject id");
    if ((limit_s = http_query(r, "limit")) != NULL) {
        char *end;
        unsigned long l = strtoul(limit_s, &end, 10);
        if (*end != '\0' || l == 0 || l > FRESH_LIMIT_MAX)
            return http_error(r, 400, "invalid_field", "limit is 1 to %d", FRESH_LIMIT_MAX);
        limit = l;
    }
    if (cu_policy_fresh_needed(r->v, r->tenant, after, limit, &list, &n, &more, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "subjects");
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateObject();
        cu_repr_add_id(s, "subject_id", list[i].subject);
        cJSON_AddStringToObject(s, "purpose", list[i].purpose);
        cu_repr_add_time(s, "consent_given_at", list[i].given_at);
        cu_repr_add_time(s, "terms_changed_at", list[i].since);
        cu_repr_add_time(s, "stops_counting_at", list[i].due);
        cJSON_AddItemToArray(a, s);
    }
    cJSON_AddBoolToObject(o, "more", more);
    free(list);
    http_json(r, 200, o);
}
