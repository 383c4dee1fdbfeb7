/*
 * subject_export_kept.c: the answer to an access or export request of a subject erased under
 * legal retention (P-DSR-1, P-DSR-4, P-RET-4; issue 10 item 4).
 *
 * After such an erasure the subject's profile, external id and every record no duty keeps are
 * gone; what a legal obligation keeps (billing records for 7 years, say) is still held, sealed
 * under the subject's retained key. The subject's right of access reaches exactly that: the
 * kept records, opened, each with its collection's category, the purpose and legal basis that
 * keep it and its deletion date, and the erasure itself (its signed certificate); nothing else
 * (no profile, ledger, requests or accesses: they went with the erasure). The certificate names
 * the kept records; one the sweep deleted since is left out. Few records are kept, so the answer
 * is made whole when the export opens (JSON, or a zip of kept.csv and the certificate), after
 * its audit entry (P-AUD-3), and handed out by cu_subject_export_read as any export.
 */
#include <stdlib.h>
#include <string.h>

#include "erase_int.h"
#include "record_int.h"
#include "retain_int.h"
#include "subject_export_int.h"
#include "tenant_int.h"
#include "util.h"

/* A decimal id as the certificate writes it; 0 if it is none. */
static cu_id id_of(const cJSON *s)
{
    unsigned long long id = 0;

    if (!cJSON_IsString(s) || s->valuestring[0] == '\0')
        return 0;
    for (const char *p = s->valuestring; *p; p++) {
        if (*p < '0' || *p > '9' || id > (UINT64_MAX - 9) / 10)
            return 0;
        id = id * 10 + (unsigned long long)(*p - '0');
    }
    return (cu_id)id;
}

/* When a kept record goes: its category's retention from its own dates, as the sweep counts
 * it for a kept record (lifecycle.c: the erased subject has no activity of its own any more).
 * INT64_MAX: an event still to come, or a collection the policy no longer declares. */
static int64_t delete_at(const cu_policy_category *c, const cu_record *r, int64_t terminated)
{
    return c != NULL ? cu_retain_until(c, r->created_at, r->updated_at, 0, terminated) : INT64_MAX;
}

/* One kept record as the answer shows it; NULL with *gone set if the sweep deleted it. */
static cJSON *kept_record(cu_subject_export *x, const cu_policy_category *c, int64_t terminated,
                          cu_id id, int *gone)
{
    cu_record r = {0};
    cJSON *o = NULL, *doc = NULL;
    int64_t at;
    cu_rc rc;

    *gone = 0;
    if ((rc = cu_record_read(x->v, x->tenant, id, &r, &x->err)) != CU_OK ||
        r.subject_id != x->subject) {
        *gone = rc == CU_ERR_NOT_FOUND || rc == CU_OK;
        if (*gone)
            memset(&x->err, 0, sizeof(x->err));
        cu_record_cleanup(&r);
        return NULL;
    }
    at = delete_at(c, &r, terminated);
    if ((o = cJSON_CreateObject()) != NULL && sx_add_id(o, "id", id) != NULL &&
        sx_add_time(o, "created_at", r.created_at) != NULL &&
        sx_add_time(o, "updated_at", r.updated_at) != NULL &&
        (at == INT64_MAX ? cJSON_AddNullToObject(o, "delete_at")
                         : sx_add_time(o, "delete_at", at)) != NULL &&
        cu_json_parse(r.json, strlen(r.json), &doc, NULL, &x->err) == CU_OK)
        cJSON_AddItemToObject(o, "data", doc);
    else {
        cu_json_delete_wiped(o);
        o = NULL;
        if (x->err.code == CU_OK)
            sx_nomem(x);
    }
    cu_record_cleanup(&r);
    return o;
}

/* The kept collection of a certificate's line: its names, and its records opened. */
static cJSON *kept_line(cu_subject_export *x, const cJSON *line, int64_t terminated)
{
    static const char *const names[] = {"collection", "category", "purpose", "basis", "data_use"};
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(line, "record_ids"), *id;
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(line, "category");
    const cu_policy_category *c = NULL;
    cJSON *o = cJSON_CreateObject(), *recs;
    int gone;

    if (x->policy != NULL && cJSON_IsString(cat))
        c = cu_policy_category_get(x->policy, cat->valuestring);
    for (size_t i = 0; o != NULL && i < CU_ARRAY_LEN(names); i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(line, names[i]);
        if (cJSON_IsString(m) && cJSON_AddStringToObject(o, names[i], m->valuestring) == NULL)
            break;
    }
    if (o == NULL || (recs = cJSON_AddArrayToObject(o, "records")) == NULL) {
        cJSON_Delete(o);
        sx_nomem(x);
        return NULL;
    }
    cJSON_ArrayForEach(id, ids)
    {
        cJSON *r = kept_record(x, c, terminated, id_of(id), &gone);
        if (r != NULL)
            cJSON_AddItemToArray(recs, r);
        else if (!gone) {
            cu_json_delete_wiped(o);
            return NULL;
        }
    }
    return o;
}

/* The kept collections of the certificate, with their records. */
static cJSON *kept_json(cu_subject_export *x, const cJSON *cert)
{
    const cJSON *line;
    cu_store_tenant t;
    cJSON *a = cJSON_CreateArray();

    if (a == NULL) {
        sx_nomem(x);
        return NULL;
    }
    if (cu_tenant_row(x->v, x->tenant, &t, &x->err) != CU_OK) {
        cJSON_Delete(a);
        return NULL;
    }
    cJSON_ArrayForEach(line, cJSON_GetObjectItemCaseSensitive(cert, "kept"))
    {
        cJSON *o = kept_line(x, line, t.terminated_at);
        if (o == NULL) {
            cu_json_delete_wiped(a);
            return NULL;
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* The JSON answer: the format, the subject (erased), the erasure's certificate, what is kept. */
static cu_rc kept_doc_json(cu_subject_export *x, cJSON *cert, cJSON *kept)
{
    cJSON *o = cJSON_CreateObject(), *s;

    if (o == NULL || !cJSON_AddStringToObject(o, "format", "custos.subject_export.v1") ||
        !sx_add_time(o, "exported_at", x->now) ||
        (s = cJSON_AddObjectToObject(o, "subject")) == NULL || !sx_add_id(s, "id", x->subject) ||
        !cJSON_AddBoolToObject(s, "erased", 1)) {
        cJSON_Delete(o);
        cJSON_Delete(cert);
        cu_json_delete_wiped(kept);
        return sx_nomem(x);
    }
    cJSON_AddItemToObject(o, "erasure", cert);
    cJSON_AddItemToObject(o, "kept", kept);
    return sx_emit_json(x, o, 0);
}

/* The zip answer: kept.csv (one row per kept record), the certificate, a manifest. */
static cu_rc kept_doc_zip(cu_subject_export *x, cJSON *cert, cJSON *kept)
{
    static const char *const head[] = {"collection", "category",   "purpose",   "basis", "id",
                                       "created_at", "updated_at", "delete_at", "data"};
    const cJSON *line, *r;
    cu_rc rc;

    if ((rc = sx_entry(x, "kept.csv")) != CU_OK || (rc = sx_csv_row(x, head, 9, 0)) != CU_OK)
        goto out;
    for (line = kept->child; line != NULL; line = line->next)
        for (r = cJSON_GetObjectItemCaseSensitive(line, "records")->child; r != NULL; r = r->next) {
            const char *cells[9];
            char *data = cu_json_print(cJSON_GetObjectItemCaseSensitive(r, "data"));
            const cJSON *when = cJSON_GetObjectItemCaseSensitive(r, "delete_at");
            for (int i = 0; i < 4; i++)
                cells[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, head[i]));
            for (int i = 4; i < 7; i++)
                cells[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, head[i]));
            cells[7] = cJSON_IsString(when) ? when->valuestring : "";
            cells[8] = data != NULL ? data : "";
            for (int i = 0; i < 7; i++)
                cells[i] = cells[i] != NULL ? cells[i] : "";
            rc = data != NULL ? sx_csv_row(x, cells, 9, 1) : sx_nomem(x);
            if (data != NULL) {
                cu_wipe(data, strlen(data));
                free(data);
            }
            if (rc != CU_OK)
                goto out;
        }
    if ((rc = sx_entry(x, "erasure_certificate.json")) != CU_OK)
        goto out;
    rc = sx_emit_json(x, cert, 0);
    cert = NULL; /* sx_emit_json took it */
    if (rc == CU_OK && (rc = sx_entry(x, "manifest.json")) == CU_OK &&
        (rc = sx_emits(x, "{\"format\":\"custos.subject_export.v1\",\"erased\":true,"
                          "\"files\":[\"kept.csv\",\"erasure_certificate.json\"],"
                          "\"complete\":true}")) == CU_OK &&
        (rc = sx_zip_flush(x)) == CU_OK)
        rc = cu_zip_finish(x->zip, &x->err);
out:
    cJSON_Delete(cert);
    cu_json_delete_wiped(kept);
    return rc;
}

cu_rc sx_kept_begin(cu_subject_export *x, cJSON *cert)
{
    cJSON *kept = kept_json(x, cert);

    if (kept == NULL) {
        cJSON_Delete(cert);
        return x->err.code != CU_OK ? x->err.code : sx_nomem(x);
    }
    x->phase = P_DONE;
    if (x->fmt == CU_SUBJECT_EXPORT_CSV_ZIP)
        return kept_doc_zip(x, cert, kept);
    return kept_doc_json(x, cert, kept);
}
