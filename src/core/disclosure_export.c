/*
 * disclosure_export.c: the recipients of a subject's data in its export (P-SHR-1, GDPR Art.
 * 15(1)(c); docs/dsr.md): each disclosure of its data, from the export's snapshot (to whom,
 * of what kind, why, which categories or record, on what basis, under which policy version,
 * when), and the recipients the policy in force lists, to whom its data may go. The reference
 * of a disclosure (a case or order number) stays out: it is the tenant's, not the subject's.
 */
#include <stdlib.h>
#include <string.h>

#include "custos_disclosure.h"
#include "subject_export_int.h"
#include "util.h"

/* names: "a,b" as a JSON array. */
static cJSON *name_list(const char *names)
{
    cJSON *a = cJSON_CreateArray();
    char one[CU_DISCLOSURE_CATEGORIES_MAX];

    for (const char *at = names; a != NULL && *at != '\0';) {
        size_t len = strcspn(at, ",");
        memcpy(one, at, len);
        one[len] = '\0';
        if (!cJSON_AddItemToArray(a, cJSON_CreateString(one))) {
            cJSON_Delete(a);
            return NULL;
        }
        at += len + (at[len] == ',');
    }
    return a;
}

static cJSON *disclosure_json(const cu_subject_export *x, const cu_store_disclosure *d)
{
    const cu_policy_subprocessor *r = cu_policy_recipient_get(x->policy, d->recipient);
    cJSON *o = cJSON_CreateObject();
    int bad = sx_add_id(o, "disclosure_id", d->id) == NULL;

    bad |= sx_add_time(o, "at", d->created_at) == NULL;
    bad |= cJSON_AddStringToObject(o, "recipient", d->recipient) == NULL;
    bad |= (r ? cJSON_AddStringToObject(o, "kind", cu_recipient_kind_name(r->kind))
              : cJSON_AddNullToObject(o, "kind")) == NULL;
    bad |= (r ? cJSON_AddStringToObject(o, "location", r->location)
              : cJSON_AddNullToObject(o, "location")) == NULL;
    bad |= cJSON_AddStringToObject(o, "purpose", d->purpose) == NULL;
    bad |= !cJSON_AddItemToObject(o, "categories", name_list(d->categories));
    bad |= (d->record_id ? sx_add_id(o, "record_id", d->record_id)
                         : cJSON_AddNullToObject(o, "record_id")) == NULL;
    bad |= cJSON_AddStringToObject(o, "legal_basis", d->legal_basis) == NULL;
    bad |= cJSON_AddNumberToObject(o, "policy_version", d->policy_version) == NULL;
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The recipients the policy in force lists: to whom the data may go (Art. 13/15). */
static cJSON *listed_json(const cu_policy *p)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a != NULL && p != NULL && i < cu_policy_subprocessor_count(p); i++) {
        const cu_policy_subprocessor *r = cu_policy_subprocessor_at(p, i);
        cJSON *o = cJSON_CreateObject(), *pu = NULL, *ca = NULL;
        int bad = o == NULL || !cJSON_AddItemToArray(a, o);
        bad |= bad || !cJSON_AddStringToObject(o, "name", r->name);
        bad |= bad || !cJSON_AddStringToObject(o, "kind", cu_recipient_kind_name(r->kind));
        bad |= bad || !cJSON_AddStringToObject(o, "location", r->location);
        bad |= bad || (pu = cJSON_AddArrayToObject(o, "purposes")) == NULL;
        bad |= bad || (ca = cJSON_AddArrayToObject(o, "categories")) == NULL;
        for (size_t k = 0; !bad && k < r->n_purposes; k++)
            bad = !cJSON_AddItemToArray(pu, cJSON_CreateString(r->purposes[k]->name));
        for (size_t k = 0; !bad && k < r->n_categories; k++)
            bad = !cJSON_AddItemToArray(ca, cJSON_CreateString(r->categories[k]->name));
        if (bad) {
            cJSON_Delete(a);
            a = NULL;
        }
    }
    return a;
}

cJSON *sx_recipients_json(cu_subject_export *x)
{
    cu_store_disclosure *rows = NULL;
    cJSON *o = cJSON_CreateObject(), *a = NULL;
    size_t n = 0;
    int bad = o == NULL;

    if (cu_store_disclosure_list(x->snap, x->tenant, x->subject, CU_DISCLOSURE_LIST_MAX, &rows, &n,
                                 &x->err) != CU_OK) {
        cJSON_Delete(o);
        return NULL;
    }
    bad |= bad || (a = cJSON_AddArrayToObject(o, "disclosures")) == NULL;
    for (size_t i = 0; !bad && i < n; i++)
        bad = !cJSON_AddItemToArray(a, disclosure_json(x, &rows[i]));
    bad |= bad || !cJSON_AddItemToObject(o, "listed", listed_json(x->policy));
    free(rows);
    if (bad) {
        cJSON_Delete(o);
        sx_nomem(x);
        return NULL;
    }
    return o;
}

cu_rc sx_csv_recipients(cu_subject_export *x, const cJSON *recipients)
{
    static const char *const h[] = {"disclosure_id", "at",         "recipient", "kind",
                                    "purpose",       "categories", "record_id", "legal_basis"};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(recipients, "disclosures"), *e;
    const char *row[8];
    cu_rc rc;

    if ((rc = sx_entry(x, "recipients.csv")) != CU_OK || (rc = sx_csv_row(x, h, 8, 0)) != CU_OK)
        return rc;
    cJSON_ArrayForEach(e, list)
    {
        char *cats = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e, "categories"));
        for (size_t i = 0; i < 8; i++) {
            row[i] =
                i == 5 ? cats : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, h[i]));
            row[i] = row[i] ? row[i] : "";
        }
        rc = cats ? sx_csv_row(x, row, 8, 1) : sx_nomem(x);
        free(cats);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}
