/*
 * repr_disclosure.c: the JSON view of a disclosure row (P-SHR-1; docs/api.md), for the API and
 * the CLI alike: ids, the policy's names, the basis, the reference and times.
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "repr.h"

cJSON *cu_repr_disclosure_json(const cu_disclosure *d)
{
    cJSON *o = cJSON_CreateObject(), *cats = cJSON_CreateArray();
    char name[64];

    cu_repr_add_id(o, "id", d->id);
    cu_repr_add_id(o, "subject_id", d->subject_id);
    if (d->record_id != 0)
        cu_repr_add_id(o, "record_id", d->record_id);
    else
        cJSON_AddNullToObject(o, "record_id");
    cJSON_AddStringToObject(o, "recipient", d->recipient);
    if (d->recipient_kind[0] != '\0')
        cJSON_AddStringToObject(o, "recipient_kind", d->recipient_kind);
    else
        cJSON_AddNullToObject(o, "recipient_kind");
    cJSON_AddStringToObject(o, "purpose", d->purpose);
    for (const char *at = d->categories; *at != '\0';) {
        size_t len = strcspn(at, ",");
        if (len < sizeof(name)) {
            memcpy(name, at, len);
            name[len] = '\0';
            cJSON_AddItemToArray(cats, cJSON_CreateString(name));
        }
        at += len + (at[len] == ',');
    }
    cJSON_AddItemToObject(o, "categories", cats);
    cJSON_AddStringToObject(o, "legal_basis", d->legal_basis);
    if (d->reference[0] != '\0')
        cJSON_AddStringToObject(o, "reference", d->reference);
    else
        cJSON_AddNullToObject(o, "reference");
    cJSON_AddNumberToObject(o, "policy_version", d->policy_version);
    cu_repr_add_time(o, "created_at", d->created_at);
    return o;
}
