/*
 * subject_export_doc.c: the parts of a subject's export (subject_export.c streams them): the
 * profile, the consent ledger and what the policy says is held, made at open; the JSON
 * document's head, records and accesses; the CSV archive's entries, a record as a CSV row and
 * the manifest. Layouts: docs/dsr.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_cache_int.h"
#include "subject_export_int.h"
#include "util.h"

/* --- what the snapshot holds: the parts made at open ------------------------------------ */

/* The subject's profile (P-DSR-1). */
cJSON *sx_subject_json(const cu_subject *s)
{
    cJSON *o = cJSON_CreateObject();
    int bad = sx_add_id(o, "id", s->id) == NULL;

    bad |= cJSON_AddStringToObject(o, "external_id", s->external_id) == NULL;
    bad |= (s->email ? cJSON_AddStringToObject(o, "email", s->email)
                     : cJSON_AddNullToObject(o, "email")) == NULL;
    bad |= (s->phone ? cJSON_AddStringToObject(o, "phone", s->phone)
                     : cJSON_AddNullToObject(o, "phone")) == NULL;
    bad |= (s->birth_date ? cJSON_AddStringToObject(o, "birth_date", s->birth_date)
                          : cJSON_AddNullToObject(o, "birth_date")) == NULL;
    bad |= sx_add_time(o, "created_at", s->created_at) == NULL;
    bad |= sx_add_time(o, "last_activity", s->last_activity) == NULL;
    bad |= cJSON_AddBoolToObject(o, "restricted", s->restricted) == NULL;
    if (bad) {
        cu_json_delete_wiped(o);
        return NULL;
    }
    return o;
}

/* The consent ledger (P-CON-2), oldest first, from the snapshot. */
cJSON *sx_consents_json(cu_subject_export *x)
{
    cu_store_consent *c = NULL;
    size_t n = 0;
    cJSON *a = NULL;
    int bad = 0;

    if (cu_store_consent_list(x->snap, x->tenant, x->subject, NULL, &c, &n, &x->err) != CU_OK)
        return NULL;
    a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && !bad && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        bad = e == NULL || !cJSON_AddItemToArray(a, e);
        if (bad) {
            cJSON_Delete(e);
            break;
        }
        bad |= cJSON_AddStringToObject(e, "purpose", c[i].purpose) == NULL;
        bad |= cJSON_AddStringToObject(
                   e, "action", cu_consent_action_name((cu_consent_action)c[i].action)) == NULL;
        bad |= sx_add_time(e, "at", c[i].at) == NULL;
        bad |= cJSON_AddStringToObject(e, "source", c[i].source) == NULL;
        bad |= cJSON_AddStringToObject(e, "policy_version", c[i].policy_version) == NULL;
    }
    free(c);
    if (a == NULL || bad) {
        cJSON_Delete(a);
        sx_nomem(x);
        return NULL;
    }
    return a;
}

/* "7y from created, then delete", as the policy file spells its parts. */
static void retention_text(const cu_retention *r, char *buf, size_t cap)
{
    static const char *const unit[] = {"h", "d", "mo", "y"};

    snprintf(buf, cap, "%u%s from %s, then %s", (unsigned)r->keep.count,
             (unsigned)r->keep.unit < 4 ? unit[r->keep.unit] : "?",
             cu_retention_event_name(r->from), cu_retention_action_name(r->then));
}

/* The purposes of the policy that may touch category, each with its legal basis. */
static int add_purposes(const cu_policy *p, const cu_policy_category *cat, cJSON *o)
{
    cJSON *a = cJSON_AddArrayToObject(o, "purposes");
    int bad = a == NULL;

    for (size_t i = 0; !bad && i < cu_policy_purpose_count(p); i++) {
        const cu_policy_purpose *pu = cu_policy_purpose_at(p, i);
        cJSON *e;
        if (!cu_policy_purpose_covers(pu, cat->name))
            continue;
        e = cJSON_CreateObject();
        bad = e == NULL || !cJSON_AddItemToArray(a, e);
        if (bad) {
            cJSON_Delete(e);
            break;
        }
        bad |= cJSON_AddStringToObject(e, "name", pu->name) == NULL;
        bad |= cJSON_AddStringToObject(e, "legal_basis", cu_legal_basis_name(pu->basis)) == NULL;
        bad |= cJSON_AddStringToObject(e, "data_use", pu->data_use) == NULL;
    }
    return bad;
}

/* One collection of the plan: its count, and from the policy its category, the category's
 * description, data categories and retention, and the purposes that may use it. */
static cJSON *held_one(const cu_policy *p, const cu_store_collection_count *c)
{
    const cu_policy_collection *pc = p ? cu_policy_collection_get(p, c->name) : NULL;
    const cu_policy_category *cat = pc ? pc->category : NULL;
    cJSON *o = cJSON_CreateObject(), *f;
    char ret[96];
    int bad = cJSON_AddStringToObject(o, "collection", c->name) == NULL;

    bad |= cJSON_AddNumberToObject(o, "records", (double)c->records) == NULL;
    if (cat == NULL)
        bad |= cJSON_AddNullToObject(o, "category") == NULL; /* no policy declares it */
    else {
        retention_text(&cat->retention, ret, sizeof(ret));
        bad |= cJSON_AddStringToObject(o, "category", cat->name) == NULL;
        bad |= (cat->description ? cJSON_AddStringToObject(o, "description", cat->description)
                                 : cJSON_AddNullToObject(o, "description")) == NULL;
        bad |= (f = cJSON_AddArrayToObject(o, "data_categories")) == NULL;
        for (size_t i = 0; !bad && i < cat->n_fides; i++)
            bad |= !cJSON_AddItemToArray(f, cJSON_CreateString(cat->fides[i]));
        bad |= cJSON_AddStringToObject(o, "role", cu_data_role_name(cat->role)) == NULL;
        bad |= cJSON_AddStringToObject(o, "retention", ret) == NULL;
        bad |= add_purposes(p, cat, o);
    }
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* What is held, from the policy, for each collection holding the subject's records. */
cJSON *sx_held_json(cu_subject_export *x)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a != NULL && i < x->ncolls; i++) {
        cJSON *o = held_one(x->policy, &x->colls[i]);
        if (o == NULL || !cJSON_AddItemToArray(a, o)) {
            cJSON_Delete(o);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    if (a == NULL)
        sx_nomem(x);
    return a;
}

/* --- the JSON document ------------------------------------------------------------------- */

/* Everything up to "records":{ : the export's own members, the subject, what is held, the
 * consent ledger and the requests. Takes subject, consents and held. */
cu_rc sx_json_head(cu_subject_export *x, const char *tenant_name, unsigned pver, cJSON *subject,
                   cJSON *consents, cJSON *held, cJSON *requests, cJSON *recipients)
{
    cJSON *doc = cJSON_CreateObject(), *t, *po;
    int bad = cJSON_AddStringToObject(doc, "format", "custos.subject_export.v1") == NULL;

    bad |= sx_add_time(doc, "exported_at", x->now) == NULL;
    bad |= (t = cJSON_AddObjectToObject(doc, "tenant")) == NULL;
    bad |= sx_add_id(t, "id", x->tenant) == NULL;
    bad |= cJSON_AddStringToObject(t, "name", tenant_name) == NULL;
    if (x->policy != NULL) {
        bad |= (po = cJSON_AddObjectToObject(doc, "policy")) == NULL;
        bad |= cJSON_AddStringToObject(po, "id", cu_policy_id(x->policy)) == NULL;
        bad |= cJSON_AddStringToObject(po, "version", cu_policy_version(x->policy)) == NULL;
        bad |= cJSON_AddNumberToObject(po, "tenant_version", pver) == NULL;
        bad |= cJSON_AddStringToObject(po, "role", cu_data_role_name(cu_policy_role(x->policy))) ==
               NULL;
    } else
        bad |= cJSON_AddNullToObject(doc, "policy") == NULL;
    bad |= !cJSON_AddItemToObject(doc, "subject", subject);
    bad |= !cJSON_AddItemToObject(doc, "held", held);
    bad |= !cJSON_AddItemToObject(doc, "consents", consents);
    /* The subject's requests (id, type, state, received, due, completed), read from the same
     * snapshot. */
    bad |= !cJSON_AddItemToObject(doc, "requests", requests);
    /* P-SHR-1: who received the subject's data, and who may (disclosure_export.c). */
    bad |= !cJSON_AddItemToObject(doc, "recipients", recipients);
    if (bad) {
        cu_json_delete_wiped(doc);
        return sx_nomem(x);
    }
    x->members = 0;
    return sx_emit_json(x, doc, 1) == CU_OK ? sx_emits(x, ",\"records\":{") : x->err.code;
}

/* A JSON string as cJSON prints one. */
cu_rc sx_emit_string(cu_subject_export *x, const char *s)
{
    cJSON *o = cJSON_CreateString(s);

    return o ? sx_emit_json(x, o, 0) : sx_nomem(x);
}

/* A record as a member of its collection's array: ids, times, its document as stored. */
cu_rc sx_json_record(cu_subject_export *x, const cu_record *r)
{
    char idb[CU_ID_STRLEN], t1[40], t2[40], head[160];

    cu_id_format(r->id, idb);
    sx_time_text(r->created_at, -1, t1);
    sx_time_text(r->updated_at, -1, t2);
    snprintf(head, sizeof(head),
             "%s{\"id\":\"%s\",\"created_at\":\"%s\",\"updated_at\":\"%s\",\"data\":",
             x->members++ ? "," : "", idb, t1, t2);
    if (sx_emits(x, head) != CU_OK || sx_emits(x, r->json) != CU_OK)
        return x->err.code;
    return sx_emit(x, "}", 1);
}

cu_rc sx_json_access(cu_subject_export *x, const cu_store_access *a)
{
    cJSON *o = cJSON_CreateObject();
    char seq[24], at[40];
    int bad;

    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)a->seq);
    sx_time_text(a->at / 1000, (int)(a->at % 1000), at);
    bad = cJSON_AddStringToObject(o, "seq", seq) == NULL;
    bad |= cJSON_AddStringToObject(o, "at", at) == NULL;
    bad |= cJSON_AddStringToObject(o, "actor", a->actor) == NULL;
    bad |= cJSON_AddStringToObject(o, "action", a->action) == NULL;
    bad |= cJSON_AddStringToObject(o, "object", a->object) == NULL;
    bad |= cJSON_AddStringToObject(o, "purpose", a->purpose) == NULL;
    if (bad) {
        cJSON_Delete(o);
        return sx_nomem(x);
    }
    if (x->members++ && sx_emit(x, ",", 1) != CU_OK)
        return x->err.code;
    return sx_emit_json(x, o, 0);
}

/* --- the CSV archive ---------------------------------------------------------------------- */

static const char readme[] =
    "The data held about one data subject (GDPR Art. 15 and 20), exported by Custos.\r\n"
    "\r\n"
    "subject.csv            the subject's profile\r\n"
    "consents.csv           the consent ledger, oldest first\r\n"
    "held.csv               per collection: records, category, retention, purposes, legal bases\r\n"
    "requests.csv           the subject's data-subject requests\r\n"
    "recipients.csv         each disclosure of the subject's data: to whom, why, what\r\n"
    "records/NAME.csv       the records of collection NAME: id, created, updated, then its\r\n"
    "                       declared fields (nested values as JSON text), then other\r\n"
    "accesses.csv           who read or changed the subject's data, when, and why\r\n"
    "manifest.json          the files, their rows, and complete: true (written last)\r\n"
    "\r\n"
    "Files are CSV as RFC 4180 says (UTF-8, CRLF, a header row). Spreadsheet guard: " SX_GUARD
    ". The JSON export holds every value exactly as stored.\r\n";

cu_rc sx_csv_head(cu_subject_export *x, const cu_subject *s, cJSON *consents, cJSON *held,
                  cJSON *requests)
{
    static const char *const sh[] = {"id",         "external_id", "email",         "phone",
                                     "birth_date", "created_at",  "last_activity", "restricted"};
    static const char *const ch[] = {"purpose", "action", "at", "source", "policy_version"};
    static const char *const hh[] = {"collection", "records",   "category", "data_categories",
                                     "role",       "retention", "purposes"};
    static const char *const rh[] = {"id",          "type",   "state",
                                     "received_at", "due_at", "completed_at"};
    char id[CU_ID_STRLEN], t1[40], t2[40];
    const char *row[8];
    cu_rc rc;

    cu_id_format(s->id, id);
    sx_time_text(s->created_at, -1, t1);
    sx_time_text(s->last_activity, -1, t2);
    row[0] = id, row[1] = s->external_id, row[2] = s->email, row[3] = s->phone;
    row[4] = s->birth_date, row[5] = t1, row[6] = t2, row[7] = s->restricted ? "true" : "false";
    if ((rc = sx_entry(x, "README.txt")) != CU_OK || (rc = sx_emits(x, readme)) != CU_OK ||
        (rc = sx_entry(x, "subject.csv")) != CU_OK || (rc = sx_csv_row(x, sh, 8, 0)) != CU_OK ||
        (rc = sx_csv_row(x, row, 8, 1)) != CU_OK || (rc = sx_entry(x, "consents.csv")) != CU_OK ||
        (rc = sx_csv_row(x, ch, 5, 0)) != CU_OK)
        return rc;
    for (cJSON *e = consents ? consents->child : NULL; e != NULL; e = e->next) {
        for (size_t i = 0; i < 5; i++)
            row[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, ch[i]));
        if ((rc = sx_csv_row(x, row, 5, 1)) != CU_OK)
            return rc;
    }
    if ((rc = sx_entry(x, "held.csv")) != CU_OK || (rc = sx_csv_row(x, hh, 7, 0)) != CU_OK)
        return rc;
    for (cJSON *e = held ? held->child : NULL; e != NULL; e = e->next) {
        char *cells[7] = {0};
        for (size_t i = 0; i < 7; i++) {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(e, hh[i]);
            cells[i] = cJSON_IsString(m)       ? strdup(m->valuestring)
                       : m && !cJSON_IsNull(m) ? cJSON_PrintUnformatted(m)
                                               : strdup("");
        }
        rc = sx_csv_row(x, (const char *const *)cells, 7, 0);
        for (size_t i = 0; i < 7; i++)
            free(cells[i]);
        if (rc != CU_OK)
            return rc;
    }
    if ((rc = sx_entry(x, "requests.csv")) != CU_OK || (rc = sx_csv_row(x, rh, 6, 0)) != CU_OK)
        return rc;
    for (cJSON *e = requests ? requests->child : NULL; e != NULL; e = e->next) {
        for (size_t i = 0; i < 6; i++) {
            row[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, rh[i]));
            row[i] = row[i] ? row[i] : "";
        }
        if ((rc = sx_csv_row(x, row, 6, 0)) != CU_OK)
            return rc;
    }
    return CU_OK;
}

/* The header of a collection's file: id, created, updated, its declared fields, other; or,
 * without a declaration, id, created, updated, data. */
cu_rc sx_csv_coll_head(cu_subject_export *x)
{
    static const char *const fixed[] = {"id", "created", "updated"};
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < 3; i++)
        if (cu_csv_text(&x->csv, fixed[i], 0) != 0)
            return x->err.code ? x->err.code : sx_nomem(x);
    for (size_t i = 0; x->pc != NULL && i < x->pc->n_fields; i++)
        if (cu_csv_text(&x->csv, x->pc->fields[i].name, 0) != 0)
            return x->err.code ? x->err.code : sx_nomem(x);
    if (cu_csv_text(&x->csv, x->pc ? "other" : "data", 0) != 0 || cu_csv_end_row(&x->csv) != 0)
        rc = x->err.code ? x->err.code : sx_nomem(x);
    return rc;
}

/* One value as a cell: a string as it is (guarded), null or missing empty, anything else as
 * its JSON text. */
static cu_rc csv_value(cu_subject_export *x, const cJSON *m)
{
    char *t;
    int r;

    if (m == NULL || cJSON_IsNull(m))
        r = cu_csv_text(&x->csv, "", 0);
    else if (cJSON_IsString(m))
        r = cu_csv_text(&x->csv, m->valuestring, 1);
    else {
        if ((t = cu_json_print(m)) == NULL)
            return sx_nomem(x);
        r = cu_csv_text(&x->csv, t, 0);
        cu_wipe(t, strlen(t));
        free(t);
    }
    return r == 0 ? CU_OK : x->err.code ? x->err.code : sx_nomem(x);
}

/* The record's members that its collection does not declare, as one JSON object (NULL: none). */
static cJSON *undeclared(const cu_policy_collection *pc, const cJSON *doc, int *bad)
{
    cJSON *o = NULL;

    for (const cJSON *m = doc->child; m != NULL && !*bad; m = m->next) {
        size_t i = 0;
        while (i < pc->n_fields && strcmp(pc->fields[i].name, m->string) != 0)
            i++;
        if (i < pc->n_fields)
            continue;
        if (o == NULL && (o = cJSON_CreateObject()) == NULL)
            *bad = 1;
        else if (!cJSON_AddItemToObject(o, m->string, cJSON_Duplicate(m, 1)))
            *bad = 1;
    }
    return o;
}

cu_rc sx_csv_record(cu_subject_export *x, const cu_record *r)
{
    char id[CU_ID_STRLEN], t1[40], t2[40];
    const char *fixed[3] = {id, t1, t2};
    cJSON *doc = NULL, *rest = NULL;
    int bad = 0;
    cu_rc rc;

    cu_id_format(r->id, id);
    sx_time_text(r->created_at, -1, t1);
    sx_time_text(r->updated_at, -1, t2);
    for (size_t i = 0; i < 3; i++)
        if (cu_csv_text(&x->csv, fixed[i], 0) != 0)
            return x->err.code ? x->err.code : sx_nomem(x);
    if (x->pc == NULL)
        return cu_csv_text(&x->csv, r->json, 0) == 0 && cu_csv_end_row(&x->csv) == 0 ? CU_OK
               : x->err.code                                                         ? x->err.code
                                                                                     : sx_nomem(x);
    if ((rc = cu_json_parse(r->json, strlen(r->json), &doc, NULL, &x->err)) != CU_OK)
        return rc;
    for (size_t i = 0; rc == CU_OK && i < x->pc->n_fields; i++)
        rc = csv_value(x, cJSON_GetObjectItemCaseSensitive(doc, x->pc->fields[i].name));
    if (rc == CU_OK)
        rest = undeclared(x->pc, doc, &bad);
    if (rc == CU_OK)
        rc = bad ? sx_nomem(x) : csv_value(x, rest);
    if (rc == CU_OK && cu_csv_end_row(&x->csv) != 0)
        rc = x->err.code ? x->err.code : sx_nomem(x);
    cu_json_delete_wiped(rest);
    cu_json_delete_wiped(doc);
    return rc;
}

cu_rc sx_csv_access(cu_subject_export *x, const cu_store_access *a)
{
    char seq[24], at[40];
    const char *row[6] = {seq, at, a->actor, a->action, a->object, a->purpose};

    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)a->seq);
    sx_time_text(a->at / 1000, (int)(a->at % 1000), at);
    return sx_csv_row(x, row, 6, 1);
}

/* The last entry: what the archive holds, and that it is whole. */
cu_rc sx_csv_manifest(cu_subject_export *x)
{
    cJSON *m = cJSON_CreateObject(), *files;
    static const char *const fixed[] = {"README.txt", "subject.csv",  "consents.csv",
                                        "held.csv",   "requests.csv", "recipients.csv"};
    char name[CU_COLLECTION_MAX + 16];
    int bad = cJSON_AddStringToObject(m, "format", "custos.subject_export.csv.v1") == NULL;
    cu_rc rc;

    bad |= sx_add_id(m, "tenant", x->tenant) == NULL;
    bad |= sx_add_id(m, "subject", x->subject) == NULL;
    bad |= sx_add_time(m, "exported_at", x->now) == NULL;
    bad |= (files = cJSON_AddArrayToObject(m, "files")) == NULL;
    for (size_t i = 0; !bad && i < CU_ARRAY_LEN(fixed); i++)
        bad |= !cJSON_AddItemToArray(files, cJSON_CreateString(fixed[i]));
    for (size_t i = 0; !bad && i < x->ncolls; i++) {
        snprintf(name, sizeof(name), "records/%s.csv", x->colls[i].name);
        bad |= !cJSON_AddItemToArray(files, cJSON_CreateString(name));
    }
    bad |= !cJSON_AddItemToArray(files, cJSON_CreateString("accesses.csv"));
    bad |= cJSON_AddNumberToObject(m, "records", (double)x->records) == NULL;
    bad |= cJSON_AddNumberToObject(m, "accesses", (double)x->accesses) == NULL;
    bad |= cJSON_AddStringToObject(m, "formula_guard", SX_GUARD) == NULL;
    bad |= cJSON_AddTrueToObject(m, "complete") == NULL;
    if (bad) {
        cJSON_Delete(m);
        return sx_nomem(x);
    }
    if ((rc = sx_entry(x, "manifest.json")) != CU_OK || (rc = sx_emit_json(x, m, 0)) != CU_OK ||
        (rc = sx_zip_flush(x)) != CU_OK)
        return rc;
    return cu_zip_finish(x->zip, &x->err);
}
