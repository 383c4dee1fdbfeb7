/*
 * api_disclosure.c: disclosures over HTTP (P-SHR-1, P-NOT-3; docs/api.md "Disclosures").
 * POST records one, which the core refuses with 403 recipient_not_listed unless the policy in
 * force lists the recipient for the purpose and every category of the data; GET lists them,
 * of one subject with ?subject_id=. Bad input gets 400 with a stable code.
 */
#include <stdlib.h>
#include <string.h>

#include "custos_disclosure.h"
#include "http_int.h"
#include "json.h"
#include "repr.h"
#include "util.h"

/* The array member name as ids (decimal strings) into a new array *out (free()); NULL member:
 * none. 0, or answers 400 and returns -1. */
static int id_array(http_req *r, const char *name, cu_id **out, size_t *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->json, name), *x;
    size_t i = 0, cnt = a ? (size_t)cJSON_GetArraySize(a) : 0;

    *out = NULL;
    *n = 0;
    if (cnt == 0)
        return 0;
    if (cnt > CU_DISCLOSURE_MAX_ITEMS) {
        http_error(r, 400, "invalid_field", "field \"%s\" holds at most %d ids", name,
                   CU_DISCLOSURE_MAX_ITEMS);
        return -1;
    }
    if ((*out = calloc(cnt, sizeof(**out))) == NULL) {
        http_error(r, 503, "out_of_memory", "out of memory");
        return -1;
    }
    cJSON_ArrayForEach(x, a)
    {
        if (!cJSON_IsString(x) || cu_id_parse(x->valuestring, &(*out)[i]) != CU_OK) {
            free(*out);
            *out = NULL;
            http_error(r, 400, "invalid_field", "field \"%s\" must be an array of id strings",
                       name);
            return -1;
        }
        i++;
    }
    *n = cnt;
    return 0;
}

/* The array of category names into names[0..*n) (pointers into the body). */
static int name_array(http_req *r, const char *name, const char **names, size_t cap, size_t *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->json, name), *x;

    *n = 0;
    cJSON_ArrayForEach(x, a)
    {
        if (!cJSON_IsString(x) || *n == cap) {
            http_error(r, 400, "invalid_field",
                       "field \"%s\" must be an array of at most %zu names", name, cap);
            return -1;
        }
        names[(*n)++] = x->valuestring;
    }
    return 0;
}

void api_disclosure_add(http_req *r)
{
    static const http_field f[] = {{"recipient", F_STRING, 1}, {"purpose", F_STRING, 1},
                                   {"subjects", F_ARRAY, 0},   {"records", F_ARRAY, 0},
                                   {"categories", F_ARRAY, 0}, {"legal_basis", F_STRING, 0},
                                   {"reference", F_STRING, 0}};
    const char *cats[CU_DISCLOSURE_MAX_CATEGORIES];
    cu_disclosure_in in = {.categories = cats};
    cu_id *subjects = NULL, *records = NULL, id = 0;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, CU_ARRAY_LEN(f)) != 0 ||
        name_array(r, "categories", cats, CU_ARRAY_LEN(cats), &in.n_categories) != 0 ||
        id_array(r, "subjects", &subjects, &in.n_subjects) != 0 ||
        id_array(r, "records", &records, &in.n_records) != 0)
        goto out;
    in.recipient = http_str(r, "recipient");
    in.purpose = http_str(r, "purpose");
    in.subjects = subjects;
    in.records = records;
    in.legal_basis = http_str(r, "legal_basis");
    in.reference = http_str(r, "reference");
    if (cu_disclosure_add(r->v, &r->ctx, r->tenant, &in, &id, &e) != CU_OK) {
        http_fail(r, &e);
        goto out;
    }
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", id);
    cJSON_AddStringToObject(o, "recipient", in.recipient);
    cJSON_AddStringToObject(o, "purpose", in.purpose);
    cJSON_AddNumberToObject(o, "items", (double)(in.n_subjects + in.n_records));
    http_json(r, 201, o);
out:
    free(subjects);
    free(records);
}

void api_disclosure_list(http_req *r)
{
    static const char *const params[] = {"subject_id", "limit"};
    const char *sub = http_query(r, "subject_id"), *lim = http_query(r, "limit");
    cu_disclosure *list = NULL;
    cu_id subject = 0;
    size_t n = 0, limit = 0;
    cu_err e = {0};
    cJSON *o, *a;
    char *end = NULL;

    if (http_check_query(r, params, CU_ARRAY_LEN(params)) != 0)
        return;
    if (sub != NULL && cu_id_parse(sub, &subject) != CU_OK)
        return http_error(r, 400, "invalid_field", "subject_id must be an id");
    if (lim != NULL) {
        unsigned long x = strtoul(lim, &end, 10);
        if (*lim < '1' || *lim > '9' || *end != '\0' || x > CU_DISCLOSURE_LIST_MAX)
            return http_error(r, 400, "invalid_field", "limit must be a number from 1 to %d",
                              CU_DISCLOSURE_LIST_MAX);
        limit = x;
    }
    if (cu_disclosure_list(r->v, &r->ctx, r->tenant, subject, limit, &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "disclosures");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cu_repr_disclosure_json(&list[i]));
    free(list);
    http_json(r, 200, o);
}
