/*
 * repr_policy.c: the JSON views of a tenant's policy versions (docs/policy.md, P-NOT-1,
 * P-NOT-2): a diff between two versions, the version in force and the pending one, for the API
 * and the CLI alike. Purpose names, versions and times only.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "repr.h"

/* The changes of d as a JSON array of {area, change, material}. */
static cJSON *changes_json(const cu_policy_diff *d)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; i < d->n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "area", d->changes[i].area);
        cJSON_AddStringToObject(c, "change", d->changes[i].text);
        cJSON_AddBoolToObject(c, "material", d->changes[i].material);
        cJSON_AddItemToArray(a, c);
    }
    return a;
}

cJSON *cu_repr_fresh_json(const char *list)
{
    cJSON *a = cJSON_CreateArray();
    char buf[CU_POLICY_FRESH_MAX], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", list);
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        cJSON_AddItemToArray(a, cJSON_CreateString(t));
    return a;
}

cJSON *cu_repr_policy_diff_json(const cu_policy_diff *d)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddBoolToObject(o, "material", d->material);
    cJSON_AddItemToObject(o, "changes", changes_json(d));
    cJSON_AddItemToObject(o, "purposes_changed", cu_repr_fresh_json(d->changed));
    return o;
}

void cu_repr_policy_state_add(cJSON *o, const cu_policy_state *st)
{
    cJSON *p;

    cJSON_AddNumberToObject(o, "version_in_force", st->current);
    if (st->pending == 0) {
        cJSON_AddNullToObject(o, "pending");
        return;
    }
    p = cJSON_AddObjectToObject(o, "pending");
    cJSON_AddNumberToObject(p, "version", st->pending);
    cu_repr_add_time(p, "bound_at", st->pending_bound);
    cu_repr_add_time(p, "effective_at", st->pending_at);
    cJSON_AddItemToObject(p, "fresh_consent", cu_repr_fresh_json(st->fresh));
}

cJSON *cu_repr_policy_never_json(const cu_policy *p)
{
    cJSON *a = cJSON_CreateArray();

    for (unsigned b = 1; b <= CU_NEVER__ALL; b <<= 1)
        if (cu_policy_never(p) & b)
            cJSON_AddItemToArray(a, cJSON_CreateString(cu_policy_never_name(b)));
    return a;
}
