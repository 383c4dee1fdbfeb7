/*
 * repr.c: the JSON views of tenants, subjects, records, holds, sweep reports and id lists
 * (repr.h), which the API answers and the CLI prints, so both show the same shapes.
 *
 * Ids are decimal strings and times RFC 3339 UTC. A record's document is parsed back with the
 * strict reader (cu_json_parse), since it is JSON the vault itself stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "repr.h"

void cu_repr_add_id(cJSON *o, const char *name, cu_id id)
{
    char buf[CU_ID_STRLEN];

    cu_id_format(id, buf);
    cJSON_AddStringToObject(o, name, buf);
}

/* t as an RFC 3339 UTC time, to the second. */
static void time_text(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void cu_repr_add_time(cJSON *o, const char *name, int64_t t)
{
    char buf[32];

    time_text(t, buf);
    cJSON_AddStringToObject(o, name, buf);
}

cJSON *cu_repr_ids_json(const cu_id *ids, size_t n)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; i < n; i++) {
        char buf[CU_ID_STRLEN];
        cu_id_format(ids[i], buf);
        cJSON_AddItemToArray(a, cJSON_CreateString(buf));
    }
    return a;
}

static const char *state_name(cu_tenant_state s)
{
    return s == CU_TENANT_ACTIVE ? "active" : s == CU_TENANT_TERMINATED ? "terminated" : "purged";
}

cJSON *cu_repr_tenant_json(const cu_tenant *t)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", t->id);
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "state", state_name(t->state));
    cu_repr_add_time(o, "created_at", t->created_at);
    if (t->terminated_at)
        cu_repr_add_time(o, "terminated_at", t->terminated_at);
    return o;
}

cJSON *cu_repr_subject_json(const cu_subject *s)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", s->id);
    cJSON_AddStringToObject(o, "external_id", s->external_id);
    if (s->email)
        cJSON_AddStringToObject(o, "email", s->email);
    if (s->phone)
        cJSON_AddStringToObject(o, "phone", s->phone);
    if (s->birth_date)
        cJSON_AddStringToObject(o, "birth_date", s->birth_date);
    cu_repr_add_time(o, "created_at", s->created_at);
    cJSON_AddBoolToObject(o, "restricted", s->restricted);
    return o;
}

cJSON *cu_repr_record_json(const cu_record *rec)
{
    cJSON *o = cJSON_CreateObject(), *data = NULL;
    cu_err e = {0};

    cu_repr_add_id(o, "id", rec->id);
    cJSON_AddStringToObject(o, "collection", rec->collection);
    if (rec->subject_id)
        cu_repr_add_id(o, "subject_id", rec->subject_id);
    cu_repr_add_time(o, "created_at", rec->created_at);
    cu_repr_add_time(o, "updated_at", rec->updated_at);
    if (cu_json_parse(rec->json, strlen(rec->json), &data, NULL, &e) == CU_OK)
        cJSON_AddItemToObject(o, "data", data);
    return o;
}

/* 1 if cJSON prints s as a string without an escape: printable ASCII but '"' and '\\'. */
static int plain_string(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

char *cu_repr_record_text(const cu_record *r, size_t *len)
{
    char id[CU_ID_STRLEN], subject[CU_ID_STRLEN], created[32], updated[32], *out;
    size_t n, dlen = strlen(r->json);
    int k;

    /* A collection name is [a-z][a-z0-9_]*; anything else takes the tree's print. */
    if (!plain_string(r->collection)) {
        cJSON *o = cu_repr_record_json(r);
        out = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (out != NULL)
            *len = strlen(out);
        return out;
    }
    cu_id_format(r->id, id);
    cu_id_format(r->subject_id, subject);
    time_text(r->created_at, created);
    time_text(r->updated_at, updated);
    n = dlen + strlen(r->collection) + 160;
    if ((out = malloc(n)) == NULL)
        return NULL;
    k = snprintf(out, n, "{\"id\":\"%s\",\"collection\":\"%s\"%s%s%s,\"created_at\":\"%s\","
                 "\"updated_at\":\"%s\",\"data\":",
                 id, r->collection, r->subject_id ? ",\"subject_id\":\"" : "",
                 r->subject_id ? subject : "", r->subject_id ? "\"" : "", created, updated);
    if (k < 0 || (size_t)k + dlen + 2 > n) {
        free(out);
        return NULL;
    }
    memcpy(out + k, r->json, dlen);
    out[(size_t)k + dlen] = '}';
    out[(size_t)k + dlen + 1] = '\0';
    *len = (size_t)k + dlen + 1;
    return out;
}

cJSON *cu_repr_hold_json(const cu_hold *h)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", h->id);
    if (h->subject_id)
        cu_repr_add_id(o, "subject_id", h->subject_id);
    if (h->record_id)
        cu_repr_add_id(o, "record_id", h->record_id);
    cJSON_AddStringToObject(o, "scope",
                            h->record_id    ? "record"
                            : h->subject_id ? "subject"
                                            : "tenant");
    cJSON_AddStringToObject(o, "reason", h->reason ? h->reason : "");
    cu_repr_add_time(o, "created_at", h->created_at);
    if (h->released_at)
        cu_repr_add_time(o, "released_at", h->released_at);
    else
        cJSON_AddNullToObject(o, "released_at");
    if (h->release_reason)
        cJSON_AddStringToObject(o, "release_reason", h->release_reason);
    return o;
}

/* Counts only: the sweep never reports a value (API, CLI and the server's log alike). */
cJSON *cu_repr_sweep_json(const cu_sweep_report *rep)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "tenants", (double)rep->tenants);
    cJSON_AddNumberToObject(o, "audit_logs_pruned", (double)rep->audit_tenants_pruned);
    cJSON_AddNumberToObject(o, "records_deleted", (double)rep->records_deleted);
    cJSON_AddNumberToObject(o, "records_anonymized", (double)rep->records_anonymized);
    cJSON_AddNumberToObject(o, "records_held", (double)rep->records_held);
    cJSON_AddNumberToObject(o, "subjects_erased", (double)rep->subjects_erased);
    cJSON_AddNumberToObject(o, "tenants_purged", (double)rep->tenants_purged);
    cJSON_AddNumberToObject(o, "tenants_shredded", (double)rep->tenants_shredded);
    cJSON_AddNumberToObject(o, "tenants_failed", (double)rep->tenants_failed);
    return o;
}
