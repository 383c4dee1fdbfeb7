/*
 * api_data.c: handlers for tenants, subjects, collections and records. Each parses and
 * validates its body, calls the core with the request's context (actor, purpose, request id,
 * source), and maps errors; the rules live in the core.
 */
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "json.h"

void api_tenant_list(http_req *r)
{
    cu_tenant *list = NULL;
    cu_err e = {0};
    size_t n = 0;
    cJSON *o, *a;

    if (cu_tenant_list(r->v, &r->ctx, &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "tenants");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cu_repr_tenant_json(&list[i]));
    free(list);
    http_json(r, 200, o);
}

void api_tenant_get(http_req *r)
{
    cu_tenant t;
    cu_err e = {0};

    if (cu_tenant_get(r->v, &r->ctx, r->tenant, &t, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 200, cu_repr_tenant_json(&t));
}

void api_subject_create(http_req *r)
{
    static const http_field f[] = {
        {"external_id", F_STRING, 1},
        {"email", F_STRING, 0},
        {"phone", F_STRING, 0},
        {"birth_date", F_STRING, 0},
    };
    cu_subject_in in;
    cu_err e = {0};
    cu_id id;
    cJSON *o;

    if (http_check_body(r, f, 4) != 0)
        return;
    in.external_id = http_str(r, "external_id");
    in.email = http_str(r, "email");
    in.phone = http_str(r, "phone");
    in.birth_date = http_str(r, "birth_date");
    if (cu_subject_create(r->v, &r->ctx, r->tenant, &in, &id, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", id);
    http_json(r, 201, o);
}

void api_subject_get(http_req *r)
{
    cu_subject s;
    cu_err e = {0};
    cJSON *o;

    if (cu_subject_get(r->v, &r->ctx, r->tenant, r->ids[1], &s, &e) != CU_OK)
        return http_fail(r, &e);
    o = cu_repr_subject_json(&s);
    cu_subject_cleanup(&s);
    http_json(r, 200, o);
}

/* Search by value in the body, never in the URL, so values stay out of logs and histories. */
void api_subject_search(http_req *r)
{
    static const http_field f[] = {
        {"external_id", F_STRING, 0},
        {"email", F_STRING, 0},
        {"phone", F_STRING, 0},
    };
    const char *ext, *email, *phone, *value;
    cu_subject_by by;
    cu_id *ids = NULL;
    cu_err e = {0};
    size_t n = 0;
    cJSON *o;

    if (http_check_body(r, f, 3) != 0)
        return;
    ext = http_str(r, "external_id");
    email = http_str(r, "email");
    phone = http_str(r, "phone");
    if ((ext != NULL) + (email != NULL) + (phone != NULL) != 1)
        return http_error(r, 400, "invalid",
                          "give exactly one of external_id, email and phone");
    by = email ? CU_SUBJECT_BY_EMAIL : phone ? CU_SUBJECT_BY_PHONE : CU_SUBJECT_BY_EXTERNAL_ID;
    value = email ? email : phone ? phone : ext;
    if (cu_subject_find(r->v, &r->ctx, r->tenant, by, value, &ids, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "ids", cu_repr_ids_json(ids, n));
    free(ids);
    http_json(r, 200, o);
}

/* P-DSR-4, P-RET-4: erasure subject to legal retention, answered with its signed certificate
 * (docs/api.md); none when this call only finished an erasure already under way. */
void api_subject_erase(http_req *r)
{
    char *cert = NULL;
    cJSON *o, *c = NULL;
    cu_err e = {0};

    if (cu_subject_erase_certified(r->v, &r->ctx, r->tenant, r->ids[1], &cert, &e) != CU_OK)
        return http_fail(r, &e);
    if (cert != NULL && cu_json_parse(cert, strlen(cert), &c, NULL, &e) != CU_OK)
        c = NULL;
    free(cert);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "erased", 1);
    cJSON_AddItemToObject(o, "certificate", c != NULL ? c : cJSON_CreateNull());
    http_json(r, 200, o);
}

void api_subject_records(http_req *r)
{
    cu_id *ids = NULL;
    cu_err e = {0};
    size_t n = 0;
    cJSON *o;

    if (cu_record_list_by_subject(r->v, &r->ctx, r->tenant, r->ids[1], &ids, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "ids", cu_repr_ids_json(ids, n));
    free(ids);
    http_json(r, 200, o);
}

void api_collection_put(http_req *r)
{
    static const http_field f[] = {{"fields", F_OBJECT, 1}};
    static const char *const classes[] = {"plain", "personal", "sensitive", "forbidden"};
    cu_field_def defs[256];
    const cJSON *fields, *c;
    size_t n = 0;
    cu_err e = {0};

    if (http_check_body(r, f, 1) != 0)
        return;
    fields = cJSON_GetObjectItemCaseSensitive(r->json, "fields");
    cJSON_ArrayForEach(c, fields)
    {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(c, "class");
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(c, "indexed");
        size_t k;
        if (n == 256)
            return http_error(r, 400, "invalid", "at most 256 fields");
        if (!cJSON_IsObject(c) || !cJSON_IsString(cls) || (ix != NULL && !cJSON_IsBool(ix)) ||
            cJSON_GetArraySize(c) != 1 + (ix != NULL))
            return http_error(r, 400, "invalid_field",
                              "field \"%.64s\" must be {\"class\": ..., \"indexed\": bool}",
                              c->string);
        for (k = 0; k < 4 && strcmp(cls->valuestring, classes[k]) != 0; k++)
            ;
        if (k == 4)
            return http_error(r, 400, "invalid_field",
                              "field \"%.64s\": class must be plain, personal, sensitive or "
                              "forbidden",
                              c->string);
        defs[n].name = c->string;
        defs[n].cls = (cu_field_class)k;
        defs[n].indexed = cJSON_IsTrue(ix);
        n++;
    }
    if (cu_collection_define(r->v, &r->ctx, r->tenant, r->name, defs, n, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 200, cJSON_Duplicate(r->json, 1));
}

/* The answer of a record's create, once its group has committed (pending.c). */
static void record_created(http_req *r, cu_async_result *res)
{
    cJSON *o;

    if (res->rc != CU_OK)
        return http_fail(r, &res->err);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", res->id);
    http_json(r, 201, o);
}

void api_record_create(http_req *r)
{
    static const http_field f[] = {{"subject_id", F_ID, 0}, {"data", F_OBJECT, 1}};
    cu_err e = {0};
    char *doc;
    cu_rc rc;

    if (http_check_body(r, f, 2) != 0)
        return;
    doc = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "data"));
    if (doc == NULL)
        return http_error(r, 503, "out_of_memory", "out of memory");
    if (http_pending_start(r, record_created) != 0) {
        cJSON_free(doc);
        return;
    }
    rc = cu_record_put_async(r->v, &r->ctx, r->tenant, r->name, http_id(r, "subject_id"), doc,
                             strlen(doc), http_pending_done, r->pending, &e);
    cJSON_free(doc);
    if (rc != CU_OK) {
        http_pending_cancel(r);
        http_fail(r, &e);
    }
}

void api_record_search(http_req *r)
{
    static const http_field f[] = {{"field", F_STRING, 1}, {"value", F_STRING, 1}};
    cu_id *ids = NULL;
    cu_err e = {0};
    size_t n = 0;
    cJSON *o;

    if (http_check_body(r, f, 2) != 0)
        return;
    if (cu_record_find(r->v, &r->ctx, r->tenant, r->name, http_str(r, "field"),
                       http_str(r, "value"), &ids, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "ids", cu_repr_ids_json(ids, n));
    free(ids);
    http_json(r, 200, o);
}

/* The answer of an audited read, once its entry is durable (pending.c). */
static void record_read(http_req *r, cu_async_result *res)
{
    char *text;
    size_t len = 0;

    if (res->rc != CU_OK)
        return http_fail(r, &res->err);
    if ((text = cu_repr_record_text(&res->record, &len)) == NULL)
        return http_error(r, 503, "out_of_memory", "out of memory");
    /* as http_json() would leave it; the response wipes it once sent (server.c) */
    free(r->resp);
    r->resp = text;
    r->resp_len = len;
    r->status = 200;
}

void api_record_get(http_req *r)
{
    cu_err e = {0};

    if (http_pending_start(r, record_read) != 0)
        return;
    if (cu_record_get_async(r->v, &r->ctx, r->tenant, r->ids[1], http_pending_done, r->pending,
                            &e) != CU_OK) {
        http_pending_cancel(r);
        http_fail(r, &e);
    }
}

/* The answer of a record's update, once its group has committed (pending.c). */
static void record_updated(http_req *r, cu_async_result *res)
{
    cJSON *o;

    if (res->rc != CU_OK)
        return http_fail(r, &res->err);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    http_json(r, 200, o);
}

void api_record_update(http_req *r)
{
    static const http_field f[] = {{"data", F_OBJECT, 1}};
    cu_err e = {0};
    char *doc;
    cu_rc rc;

    if (http_check_body(r, f, 1) != 0)
        return;
    doc = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "data"));
    if (doc == NULL)
        return http_error(r, 503, "out_of_memory", "out of memory");
    if (http_pending_start(r, record_updated) != 0) {
        cJSON_free(doc);
        return;
    }
    rc = cu_record_update_async(r->v, &r->ctx, r->tenant, r->ids[1], doc, strlen(doc),
                                http_pending_done, r->pending, &e);
    cJSON_free(doc);
    if (rc != CU_OK) {
        http_pending_cancel(r);
        http_fail(r, &e);
    }
}

void api_record_delete(http_req *r)
{
    cu_err e = {0};
    cJSON *o;

    if (cu_record_delete(r->v, &r->ctx, r->tenant, r->ids[1], &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "deleted", 1);
    http_json(r, 200, o);
}
