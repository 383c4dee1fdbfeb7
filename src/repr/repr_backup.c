/*
 * repr_backup.c: the JSON of a backup and of a restore or verify (the CLI's and the API's;
 * docs/backup.md). Ids, sizes, times and counts only.
 */
#include <cjson/cJSON.h>

#include "repr.h"

cJSON *cu_repr_backup_json(const cu_backup_info *b)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "id", b->id);
    cu_repr_add_time(o, "created_at", b->created_at);
    cu_repr_add_time(o, "expires_at", b->expires_at);
    cJSON_AddNumberToObject(o, "bytes", (double)b->bytes);
    cJSON_AddNumberToObject(o, "db_bytes", (double)b->db_bytes);
    cJSON_AddNumberToObject(o, "tenants", (double)b->tenants);
    cJSON_AddNumberToObject(o, "schema_version", b->schema_version);
    cJSON_AddNumberToObject(o, "journal_seq", (double)b->journal_seq);
    return o;
}

cJSON *cu_repr_restore_json(const cu_restore_report *r)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "id", r->id);
    cu_repr_add_time(o, "created_at", r->created_at);
    cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
    cJSON_AddNumberToObject(o, "chains_verified", (double)r->chains);
    cJSON_AddNumberToObject(o, "audit_entries", (double)r->audit_entries);
    cJSON_AddNumberToObject(o, "journal_entries", (double)r->journal_entries);
    cJSON_AddNumberToObject(o, "erasures_replayed", (double)r->replayed);
    cJSON_AddNumberToObject(o, "erasures_already", (double)r->already);
    cJSON_AddNumberToObject(o, "subjects_sampled", (double)r->sampled);
    return o;
}
