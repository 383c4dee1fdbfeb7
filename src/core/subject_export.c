/*
 * subject_export.c: everything held about one subject (P-DSR-1, P-DSR-2), streamed, as one
 * JSON document or a zip of RFC 4180 CSV files (docs/dsr_export.md has both layouts).
 *
 * An export is opened in this order: the checks (tenant, subject, purpose), its one audit entry
 * committed (P-AUD-3: before any byte exists; "subject.export" names no value, P-AUD-4), then
 * a snapshot of the store (cu_store_snapshot: one read transaction), from which every later
 * read comes: the subject's row, its collections and their counts, its consent ledger, its
 * records page by page, and its accesses from the audit log's subject index page by page. So
 * the export is one consistent state, the one just after its own entry, which it lists among
 * the accesses; a write or an erasure after that is not in it, whatever the export's length.
 *
 * Memory is bounded whatever the subject's size: a page of sealed records (SX_PAGE, or fewer
 * holding SX_PAGE_BYTES, one record more at most), a page of accesses, and the bytes made and
 * not yet read, a little over SX_CHUNK (one record more at most); in CSV a collection's text
 * waits in its own buffer up to SX_CHUNK before it is deflated into the zip. Records are opened
 * with the subject's key, unwrapped once. Records go collection by collection (one keyset pass
 * each, the store filtering on the collection), so each collection is one CSV file.
 *
 * Never shorter than the data: an error midway is sticky and returned by every read after; the
 * JSON's closing brackets and the zip's central directory are made only once every part was
 * read, and a collection that yields another number of records than the snapshot counted fails
 * the export. Every buffer that held personal values is wiped before it is reused or freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csv.h"
#include "json.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "record_int.h"
#include "subject_int.h"
#include "util.h"
#include "zip.h"

#define SX_PAGE 256                     /* records per store read */
#define SX_PAGE_BYTES ((size_t)4 << 20) /* a page of records ends past this many bytes */
#define SX_ACCESS_PAGE 512              /* audit entries per store read */
#define SX_CHUNK ((size_t)65536)        /* a step stops making bytes past this many */
#define SX_GUARD "text cells starting with = + - @, a tab or a carriage return get a leading '"

typedef enum { P_RECORDS, P_ACCESSES, P_TAIL, P_DONE } sx_phase;

/* Bytes made and not yet taken: p[pos..len). Wiped when they move and when reset. */
typedef struct sbuf {
    char *p;
    size_t len, pos, cap;
} sbuf;

struct cu_subject_export {
    cu_vault *v;
    cu_id tenant, subject;
    cu_subject_export_format fmt;
    int64_t now;
    cu_store *snap;          /* every read after the audit entry */
    cu_key key;              /* the subject's, for its profile and records */
    const cu_policy *policy; /* a reference, or NULL without a policy */
    sx_phase phase;
    cu_store_collection_count *colls; /* the snapshot's plan: collections and counts */
    size_t ncolls, icoll;
    int in_coll;                    /* the collection icoll is open */
    uint64_t coll_rows;             /* its records written */
    const cu_policy_collection *pc; /* its declaration (CSV columns), or NULL */
    cu_store_record *rows;          /* a page of sealed records */
    size_t nrows, irow;
    int rows_last;
    int64_t after_created; /* keyset of the records: the last one read */
    cu_id after;
    cu_store_access *acc; /* a page of accesses */
    size_t nacc, iacc;
    uint64_t acc_after; /* keyset of the accesses: the last seq read */
    int acc_last;
    size_t members;             /* members written in the JSON array open (for commas) */
    uint64_t records, accesses; /* written, for the manifest */
    sbuf out;                   /* for the reader */
    sbuf txt;                   /* CSV: an entry's text not yet in the zip */
    cu_zip *zip;
    cu_csv csv;
    cu_rc failed; /* sticky: every read after an error returns it */
    cu_err err;
};

/* --- bytes ------------------------------------------------------------------------------ */

static cu_rc nomem(cu_subject_export *x)
{
    return cu_err_set(&x->err, CU_ERR_NOMEM, "out of memory while building the subject's export");
}

static int sbuf_put(sbuf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *nb;
        while (cap < b->len + n)
            cap *= 2;
        if ((nb = malloc(cap)) == NULL)
            return -1;
        if (b->p != NULL) {
            memcpy(nb, b->p, b->len);
            cu_wipe(b->p, b->cap);
            free(b->p);
        }
        b->p = nb;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static void sbuf_reset(sbuf *b)
{
    if (b->p != NULL)
        cu_wipe(b->p, b->len);
    b->len = b->pos = 0;
}

static void sbuf_free(sbuf *b)
{
    if (b->p != NULL) {
        cu_wipe(b->p, b->cap);
        free(b->p);
    }
    memset(b, 0, sizeof(*b));
}

/* CSV: the entry's text so far into the zip. */
static cu_rc zip_flush(cu_subject_export *x)
{
    cu_rc rc = cu_zip_write(x->zip, x->txt.p, x->txt.len, &x->err);

    sbuf_reset(&x->txt);
    return rc;
}

/* Appends text: to the reader's bytes (JSON), or to the entry's text (CSV). */
static cu_rc emit(cu_subject_export *x, const char *s, size_t n)
{
    if (x->fmt == CU_SUBJECT_EXPORT_JSON)
        return sbuf_put(&x->out, s, n) == 0 ? CU_OK : nomem(x);
    if (sbuf_put(&x->txt, s, n) != 0)
        return nomem(x);
    return x->txt.len >= SX_CHUNK ? zip_flush(x) : CU_OK;
}

static cu_rc emits(cu_subject_export *x, const char *s)
{
    return emit(x, s, strlen(s));
}

static int zip_sink(void *arg, const void *data, size_t n)
{
    return sbuf_put(&((cu_subject_export *)arg)->out, data, n);
}

static int csv_sink(void *arg, const char *s, size_t n)
{
    return emit(arg, s, n) == CU_OK ? 0 : -1;
}

/* CSV: ends the entry open and starts the file name. */
static cu_rc entry(cu_subject_export *x, const char *name)
{
    cu_rc rc = x->txt.len > 0 ? zip_flush(x) : CU_OK;

    return rc == CU_OK ? cu_zip_entry(x->zip, name, x->now, &x->err) : rc;
}

/* A CSV row of n text cells (guarded: values may come from anyone, docs/dsr_export.md). */
static cu_rc csv_row(cu_subject_export *x, const char *const *cells, size_t n, int guard)
{
    for (size_t i = 0; i < n; i++)
        if (cu_csv_text(&x->csv, cells[i], guard) != 0)
            return x->err.code ? x->err.code : nomem(x);
    return cu_csv_end_row(&x->csv) == 0 ? CU_OK : x->err.code ? x->err.code : nomem(x);
}

/* Prints o unformatted and appends it (without its last byte when open, so members can
 * follow); deletes o, wiped, whatever happens. */
static cu_rc emit_json(cu_subject_export *x, cJSON *o, int open)
{
    char *t = o ? cu_json_print(o) : NULL;
    size_t n = t ? strlen(t) : 0;
    cu_rc rc = n >= 2 ? emit(x, t, open ? n - 1 : n) : nomem(x);

    if (t != NULL) {
        cu_wipe(t, n);
        free(t);
    }
    cu_json_delete_wiped(o);
    return rc;
}

/* RFC 3339 UTC: whole seconds (ms < 0) or milliseconds. */
static void time_text(int64_t secs, int ms, char buf[40])
{
    time_t tt = (time_t)secs;
    struct tm tm;
    size_t n;

    gmtime_r(&tt, &tm);
    if (ms < 0) {
        strftime(buf, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return;
    }
    n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 40 - n, ".%03uZ", (unsigned)ms % 1000u);
}

static cJSON *add_id(cJSON *o, const char *name, cu_id id)
{
    char buf[CU_ID_STRLEN];

    cu_id_format(id, buf);
    return cJSON_AddStringToObject(o, name, buf);
}

static cJSON *add_time(cJSON *o, const char *name, int64_t t)
{
    char buf[40];

    time_text(t, -1, buf);
    return cJSON_AddStringToObject(o, name, buf);
}

/* --- what the snapshot holds: the parts made at open ------------------------------------ */

/* The subject's profile (P-DSR-1). */
static cJSON *subject_json(const cu_subject *s)
{
    cJSON *o = cJSON_CreateObject();
    int bad = add_id(o, "id", s->id) == NULL;

    bad |= cJSON_AddStringToObject(o, "external_id", s->external_id) == NULL;
    bad |= (s->email ? cJSON_AddStringToObject(o, "email", s->email)
                     : cJSON_AddNullToObject(o, "email")) == NULL;
    bad |= (s->phone ? cJSON_AddStringToObject(o, "phone", s->phone)
                     : cJSON_AddNullToObject(o, "phone")) == NULL;
    bad |= (s->birth_date ? cJSON_AddStringToObject(o, "birth_date", s->birth_date)
                          : cJSON_AddNullToObject(o, "birth_date")) == NULL;
    bad |= add_time(o, "created_at", s->created_at) == NULL;
    bad |= add_time(o, "last_activity", s->last_activity) == NULL;
    bad |= cJSON_AddBoolToObject(o, "restricted", s->restricted) == NULL;
    if (bad) {
        cu_json_delete_wiped(o);
        return NULL;
    }
    return o;
}

/* The consent ledger (P-CON-2), oldest first, from the snapshot. */
static cJSON *consents_json(cu_subject_export *x)
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
        bad |= add_time(e, "at", c[i].at) == NULL;
        bad |= cJSON_AddStringToObject(e, "source", c[i].source) == NULL;
        bad |= cJSON_AddStringToObject(e, "policy_version", c[i].policy_version) == NULL;
    }
    free(c);
    if (a == NULL || bad) {
        cJSON_Delete(a);
        nomem(x);
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
static cJSON *held_json(cu_subject_export *x)
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
        nomem(x);
    return a;
}

/* --- the JSON document ------------------------------------------------------------------- */

/* Everything up to "records":{ : the export's own members, the subject, what is held, the
 * consent ledger and the requests. Takes subject, consents and held. */
static cu_rc json_head(cu_subject_export *x, const char *tenant_name, unsigned pver, cJSON *subject,
                       cJSON *consents, cJSON *held)
{
    cJSON *doc = cJSON_CreateObject(), *t, *po;
    int bad = cJSON_AddStringToObject(doc, "format", "custos.subject_export.v1") == NULL;

    bad |= add_time(doc, "exported_at", x->now) == NULL;
    bad |= (t = cJSON_AddObjectToObject(doc, "tenant")) == NULL;
    bad |= add_id(t, "id", x->tenant) == NULL;
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
    /* REQUESTS (issue 10): the request module lists the subject's requests here (id, type,
     * state, received, due, completed), read from the same snapshot. Empty until then. */
    bad |= cJSON_AddArrayToObject(doc, "requests") == NULL;
    if (bad) {
        cu_json_delete_wiped(doc);
        return nomem(x);
    }
    x->members = 0;
    return emit_json(x, doc, 1) == CU_OK ? emits(x, ",\"records\":{") : x->err.code;
}

/* A JSON string as cJSON prints one. */
static cu_rc emit_string(cu_subject_export *x, const char *s)
{
    cJSON *o = cJSON_CreateString(s);

    return o ? emit_json(x, o, 0) : nomem(x);
}

/* A record as a member of its collection's array: ids, times, its document as stored. */
static cu_rc json_record(cu_subject_export *x, const cu_record *r)
{
    char idb[CU_ID_STRLEN], t1[40], t2[40], head[160];

    cu_id_format(r->id, idb);
    time_text(r->created_at, -1, t1);
    time_text(r->updated_at, -1, t2);
    snprintf(head, sizeof(head),
             "%s{\"id\":\"%s\",\"created_at\":\"%s\",\"updated_at\":\"%s\",\"data\":",
             x->members++ ? "," : "", idb, t1, t2);
    if (emits(x, head) != CU_OK || emits(x, r->json) != CU_OK)
        return x->err.code;
    return emit(x, "}", 1);
}

static cu_rc json_access(cu_subject_export *x, const cu_store_access *a)
{
    cJSON *o = cJSON_CreateObject();
    char seq[24], at[40];
    int bad;

    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)a->seq);
    time_text(a->at / 1000, (int)(a->at % 1000), at);
    bad = cJSON_AddStringToObject(o, "seq", seq) == NULL;
    bad |= cJSON_AddStringToObject(o, "at", at) == NULL;
    bad |= cJSON_AddStringToObject(o, "actor", a->actor) == NULL;
    bad |= cJSON_AddStringToObject(o, "action", a->action) == NULL;
    bad |= cJSON_AddStringToObject(o, "object", a->object) == NULL;
    bad |= cJSON_AddStringToObject(o, "purpose", a->purpose) == NULL;
    if (bad) {
        cJSON_Delete(o);
        return nomem(x);
    }
    if (x->members++ && emit(x, ",", 1) != CU_OK)
        return x->err.code;
    return emit_json(x, o, 0);
}

/* --- the CSV archive ---------------------------------------------------------------------- */

static const char readme[] =
    "The data held about one data subject (GDPR Art. 15 and 20), exported by Custos.\r\n"
    "\r\n"
    "subject.csv            the subject's profile\r\n"
    "consents.csv           the consent ledger, oldest first\r\n"
    "held.csv               per collection: records, category, retention, purposes, legal bases\r\n"
    "requests.csv           the subject's data-subject requests\r\n"
    "records/NAME.csv       the records of collection NAME: id, created, updated, then its\r\n"
    "                       declared fields (nested values as JSON text), then other\r\n"
    "accesses.csv           who read or changed the subject's data, when, and why\r\n"
    "manifest.json          the files, their rows, and complete: true (written last)\r\n"
    "\r\n"
    "Files are CSV as RFC 4180 says (UTF-8, CRLF, a header row). Spreadsheet guard: " SX_GUARD
    ". The JSON export holds every value exactly as stored.\r\n";

static cu_rc csv_head(cu_subject_export *x, const cu_subject *s, cJSON *consents, cJSON *held)
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
    time_text(s->created_at, -1, t1);
    time_text(s->last_activity, -1, t2);
    row[0] = id, row[1] = s->external_id, row[2] = s->email, row[3] = s->phone;
    row[4] = s->birth_date, row[5] = t1, row[6] = t2, row[7] = s->restricted ? "true" : "false";
    if ((rc = entry(x, "README.txt")) != CU_OK || (rc = emits(x, readme)) != CU_OK ||
        (rc = entry(x, "subject.csv")) != CU_OK || (rc = csv_row(x, sh, 8, 0)) != CU_OK ||
        (rc = csv_row(x, row, 8, 1)) != CU_OK || (rc = entry(x, "consents.csv")) != CU_OK ||
        (rc = csv_row(x, ch, 5, 0)) != CU_OK)
        return rc;
    for (cJSON *e = consents ? consents->child : NULL; e != NULL; e = e->next) {
        for (size_t i = 0; i < 5; i++)
            row[i] = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, ch[i]));
        if ((rc = csv_row(x, row, 5, 1)) != CU_OK)
            return rc;
    }
    if ((rc = entry(x, "held.csv")) != CU_OK || (rc = csv_row(x, hh, 7, 0)) != CU_OK)
        return rc;
    for (cJSON *e = held ? held->child : NULL; e != NULL; e = e->next) {
        char *cells[7] = {0};
        for (size_t i = 0; i < 7; i++) {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(e, hh[i]);
            cells[i] = cJSON_IsString(m)       ? strdup(m->valuestring)
                       : m && !cJSON_IsNull(m) ? cJSON_PrintUnformatted(m)
                                               : strdup("");
        }
        rc = csv_row(x, (const char *const *)cells, 7, 0);
        for (size_t i = 0; i < 7; i++)
            free(cells[i]);
        if (rc != CU_OK)
            return rc;
    }
    /* REQUESTS (issue 10): the request module writes the subject's requests here. */
    if ((rc = entry(x, "requests.csv")) != CU_OK)
        return rc;
    return csv_row(x, rh, 6, 0);
}

/* The header of a collection's file: id, created, updated, its declared fields, other; or,
 * without a declaration, id, created, updated, data. */
static cu_rc csv_coll_head(cu_subject_export *x)
{
    static const char *const fixed[] = {"id", "created", "updated"};
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < 3; i++)
        if (cu_csv_text(&x->csv, fixed[i], 0) != 0)
            return x->err.code ? x->err.code : nomem(x);
    for (size_t i = 0; x->pc != NULL && i < x->pc->n_fields; i++)
        if (cu_csv_text(&x->csv, x->pc->fields[i].name, 0) != 0)
            return x->err.code ? x->err.code : nomem(x);
    if (cu_csv_text(&x->csv, x->pc ? "other" : "data", 0) != 0 || cu_csv_end_row(&x->csv) != 0)
        rc = x->err.code ? x->err.code : nomem(x);
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
            return nomem(x);
        r = cu_csv_text(&x->csv, t, 0);
        cu_wipe(t, strlen(t));
        free(t);
    }
    return r == 0 ? CU_OK : x->err.code ? x->err.code : nomem(x);
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

static cu_rc csv_record(cu_subject_export *x, const cu_record *r)
{
    char id[CU_ID_STRLEN], t1[40], t2[40];
    const char *fixed[3] = {id, t1, t2};
    cJSON *doc = NULL, *rest = NULL;
    int bad = 0;
    cu_rc rc;

    cu_id_format(r->id, id);
    time_text(r->created_at, -1, t1);
    time_text(r->updated_at, -1, t2);
    for (size_t i = 0; i < 3; i++)
        if (cu_csv_text(&x->csv, fixed[i], 0) != 0)
            return x->err.code ? x->err.code : nomem(x);
    if (x->pc == NULL)
        return cu_csv_text(&x->csv, r->json, 0) == 0 && cu_csv_end_row(&x->csv) == 0 ? CU_OK
               : x->err.code                                                         ? x->err.code
                                                                                     : nomem(x);
    if ((rc = cu_json_parse(r->json, strlen(r->json), &doc, NULL, &x->err)) != CU_OK)
        return rc;
    for (size_t i = 0; rc == CU_OK && i < x->pc->n_fields; i++)
        rc = csv_value(x, cJSON_GetObjectItemCaseSensitive(doc, x->pc->fields[i].name));
    if (rc == CU_OK)
        rest = undeclared(x->pc, doc, &bad);
    if (rc == CU_OK)
        rc = bad ? nomem(x) : csv_value(x, rest);
    if (rc == CU_OK && cu_csv_end_row(&x->csv) != 0)
        rc = x->err.code ? x->err.code : nomem(x);
    cu_json_delete_wiped(rest);
    cu_json_delete_wiped(doc);
    return rc;
}

static cu_rc csv_access(cu_subject_export *x, const cu_store_access *a)
{
    char seq[24], at[40];
    const char *row[6] = {seq, at, a->actor, a->action, a->object, a->purpose};

    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)a->seq);
    time_text(a->at / 1000, (int)(a->at % 1000), at);
    return csv_row(x, row, 6, 1);
}

/* The last entry: what the archive holds, and that it is whole. */
static cu_rc csv_manifest(cu_subject_export *x)
{
    cJSON *m = cJSON_CreateObject(), *files;
    static const char *const fixed[] = {"README.txt", "subject.csv", "consents.csv", "held.csv",
                                        "requests.csv"};
    char name[CU_COLLECTION_MAX + 16];
    int bad = cJSON_AddStringToObject(m, "format", "custos.subject_export.csv.v1") == NULL;
    cu_rc rc;

    bad |= add_id(m, "tenant", x->tenant) == NULL;
    bad |= add_id(m, "subject", x->subject) == NULL;
    bad |= add_time(m, "exported_at", x->now) == NULL;
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
        return nomem(x);
    }
    if ((rc = entry(x, "manifest.json")) != CU_OK || (rc = emit_json(x, m, 0)) != CU_OK ||
        (rc = zip_flush(x)) != CU_OK)
        return rc;
    return cu_zip_finish(x->zip, &x->err);
}

/* --- the steps ------------------------------------------------------------------------------ */

static void rows_free(cu_subject_export *x)
{
    for (size_t i = 0; i < x->nrows; i++)
        cu_store_record_cleanup(&x->rows[i]);
    free(x->rows);
    x->rows = NULL;
    x->nrows = x->irow = 0;
}

static cu_rc put_record(cu_subject_export *x, const cu_store_record *row)
{
    cu_record r = {0};
    cu_rc rc = cu_record_open_row(&x->key, row, &r, &x->err);

    if (rc == CU_OK)
        rc = x->fmt == CU_SUBJECT_EXPORT_JSON ? json_record(x, &r) : csv_record(x, &r);
    cu_record_cleanup(&r);
    x->coll_rows++;
    x->records++;
    return rc;
}

/* Opens collection c: its JSON member, or its CSV file with the header row. */
static cu_rc coll_start(cu_subject_export *x, const cu_store_collection_count *c)
{
    char name[CU_COLLECTION_MAX + 16];
    cu_rc rc;

    if (!cu_collection_name_ok(c->name))
        return cu_err_set(&x->err, CU_ERR_STORE, "a collection's name is not one: refused");
    x->in_coll = 1;
    x->coll_rows = 0;
    x->after_created = 0;
    x->after = 0;
    x->rows_last = 0;
    x->pc = x->policy ? cu_policy_collection_get(x->policy, c->name) : NULL;
    if (x->fmt == CU_SUBJECT_EXPORT_JSON) {
        if (x->icoll > 0 && (rc = emit(x, ",", 1)) != CU_OK)
            return rc;
        x->members = 0;
        return emit_string(x, c->name) == CU_OK ? emit(x, ":[", 2) : x->err.code;
    }
    snprintf(name, sizeof(name), "records/%s.csv", c->name);
    return (rc = entry(x, name)) == CU_OK ? csv_coll_head(x) : rc;
}

/* After the last collection: the accesses begin. */
static cu_rc accesses_start(cu_subject_export *x)
{
    static const char *const ah[] = {"seq", "at", "actor", "action", "object", "purpose"};
    cu_rc rc;

    x->phase = P_ACCESSES;
    x->members = 0;
    if (x->fmt == CU_SUBJECT_EXPORT_JSON)
        return emits(x, "},\"accesses\":[");
    return (rc = entry(x, "accesses.csv")) == CU_OK ? csv_row(x, ah, 6, 0) : rc;
}

/* The next record, page, collection, or the accesses. */
static cu_rc step_records(cu_subject_export *x)
{
    const cu_store_collection_count *c;
    cu_rc rc;

    if (!x->in_coll)
        return x->icoll == x->ncolls ? accesses_start(x) : coll_start(x, &x->colls[x->icoll]);
    if (x->irow < x->nrows)
        return put_record(x, &x->rows[x->irow++]);
    rows_free(x);
    c = &x->colls[x->icoll];
    if (x->rows_last) {
        /* The snapshot counted them: another number is a store fault, not a shorter export. */
        if (x->coll_rows != c->records)
            return cu_err_set(&x->err, CU_ERR_STORE, "collection %s gave %llu records of %llu",
                              c->name, (unsigned long long)x->coll_rows,
                              (unsigned long long)c->records);
        x->in_coll = 0;
        x->icoll++;
        return x->fmt == CU_SUBJECT_EXPORT_JSON ? emit(x, "]", 1) : CU_OK;
    }
    if ((rc = cu_store_record_page_in(x->snap, x->tenant, x->subject, c->name, x->after_created,
                                      x->after, SX_PAGE, SX_PAGE_BYTES, &x->rows, &x->nrows,
                                      &x->err)) != CU_OK)
        return rc;
    x->rows_last = x->nrows == 0; /* a page may end early on its bytes */
    if (x->nrows > 0) {
        x->after_created = x->rows[x->nrows - 1].created_at;
        x->after = x->rows[x->nrows - 1].id;
    }
    return CU_OK;
}

/* The next access, or page of them; after the last, the end. */
static cu_rc step_accesses(cu_subject_export *x)
{
    cu_rc rc;

    if (x->iacc < x->nacc) {
        const cu_store_access *a = &x->acc[x->iacc++];
        x->accesses++;
        return x->fmt == CU_SUBJECT_EXPORT_JSON ? json_access(x, a) : csv_access(x, a);
    }
    free(x->acc);
    x->acc = NULL;
    x->nacc = x->iacc = 0;
    if (x->acc_last) {
        x->phase = P_TAIL;
        return CU_OK;
    }
    if ((rc = cu_store_audit_by_subject(x->snap, x->tenant, x->subject, x->acc_after,
                                        SX_ACCESS_PAGE, &x->acc, &x->nacc, &x->err)) != CU_OK)
        return rc;
    x->acc_last = x->nacc < SX_ACCESS_PAGE;
    if (x->nacc > 0)
        x->acc_after = x->acc[x->nacc - 1].seq;
    return CU_OK;
}

/* Makes bytes until SX_CHUNK of them wait or the export is whole. */
static cu_rc step(cu_subject_export *x)
{
    cu_rc rc = CU_OK;

    /* Tests fail the export here, midway, to see it end as an error (never a short one). */
    if (CU_FAULT("subject_export.step"))
        return cu_err_set(&x->err, CU_ERR_IO, "subject export: injected fault");
    while (rc == CU_OK && x->phase != P_DONE && x->out.len - x->out.pos < SX_CHUNK) {
        if (x->phase == P_RECORDS)
            rc = step_records(x);
        else if (x->phase == P_ACCESSES)
            rc = step_accesses(x);
        else {
            rc = x->fmt == CU_SUBJECT_EXPORT_JSON ? emit(x, "]}", 2) : csv_manifest(x);
            x->phase = P_DONE;
        }
    }
    return rc;
}

/* --- open, read, free ------------------------------------------------------------------------ */

/* P-DSR-1: the subject's own access: the tenant usable, the subject present, the purpose
 * CU_PURPOSE_SUBJECT_ACCESS (which reaches a restricted subject too, P-DSR-5); never platform
 * staff. The request module (issue 10) narrows this to a verified request. */
static cu_rc sx_allowed(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_gate *g,
                        cu_err *err)
{
    cu_rc rc;

    if (ctx != NULL && (ctx->flags & CU_CTX_OPERATOR))
        return cu_err_set(err, CU_ERR_FORBIDDEN, "platform staff do not export a subject's data");
    if (ctx != NULL && !(ctx->flags & CU_CTX_LOCAL) &&
        (ctx->purpose == NULL || strcmp(ctx->purpose, CU_PURPOSE_SUBJECT_ACCESS) != 0))
        return cu_err_set(err, CU_ERR_PURPOSE_DENIED, "the subject's export states purpose \"%s\"",
                          CU_PURPOSE_SUBJECT_ACCESS);
    rc = cu_preamble(v, ctx,
                     &(cu_access){.tenant = tenant,
                                  .use = CU_TENANT_USE_READ,
                                  .subject = subject,
                                  .purpose = CU_PURPOSE_READ,
                                  .purpose_subject = subject},
                     g, err);
    return rc;
}

/* From the snapshot: the subject (gone since the checks: CU_ERR_NOT_FOUND), its key, the plan,
 * then the head of the document or archive. */
static cu_rc sx_begin(cu_subject_export *x, const char *tenant_name, unsigned pver)
{
    cu_store_subject row = {0};
    cu_subject s = {0};
    cJSON *subject = NULL, *consents = NULL, *held = NULL;
    cu_rc rc;

    if ((rc = cu_store_subject_get(x->snap, x->tenant, x->subject, &row, &x->err)) != CU_OK ||
        (rc = cu_keys_child(x->v, x->tenant, CU_KEY_SUBJECT, x->subject, &x->key, &x->err)) !=
            CU_OK ||
        (rc = cu_subject_open_row(&x->key, &row, &s, &x->err)) != CU_OK ||
        (rc = cu_store_subject_collections(x->snap, x->tenant, x->subject, &x->colls, &x->ncolls,
                                           &x->err)) != CU_OK)
        goto out;
    if ((consents = consents_json(x)) == NULL || (held = held_json(x)) == NULL) {
        rc = x->err.code ? x->err.code : nomem(x);
        goto out;
    }
    if (x->fmt == CU_SUBJECT_EXPORT_CSV_ZIP) {
        rc = csv_head(x, &s, consents, held);
        goto out;
    }
    if ((subject = subject_json(&s)) == NULL) {
        rc = nomem(x);
        goto out;
    }
    rc = json_head(x, tenant_name, pver, subject, consents, held);
    subject = consents = held = NULL; /* json_head took them */
out:
    cu_json_delete_wiped(subject);
    cu_json_delete_wiped(consents);
    cu_json_delete_wiped(held);
    cu_subject_cleanup(&s);
    cu_store_subject_cleanup(&row);
    return rc;
}

void cu_subject_export_free(cu_subject_export *x)
{
    if (x == NULL)
        return;
    cu_zip_free(x->zip); /* before the buffers its sink writes to */
    rows_free(x);
    free(x->acc);
    free(x->colls);
    cu_key_wipe(&x->key);
    cu_store_close(x->snap);
    cu_policy_release(x->v, x->policy);
    sbuf_free(&x->out);
    sbuf_free(&x->txt);
    free(x);
}

cu_rc cu_subject_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             cu_subject_export_format format, cu_subject_export **out, cu_err *err)
{
    cu_subject_export *x = NULL;
    cu_store_tenant st;
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    *out = NULL;
    if (format != CU_SUBJECT_EXPORT_JSON && format != CU_SUBJECT_EXPORT_CSV_ZIP)
        return cu_err_set(err, CU_ERR_INVALID, "unknown export format %d", (int)format);
    if ((rc = sx_allowed(v, ctx, tenant, subject, &g, err)) != CU_OK ||
        (rc = cu_store_tenant_get(v->store, tenant, &st, err)) != CU_OK)
        return rc;
    if ((x = calloc(1, sizeof(*x))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    x->v = v;
    x->tenant = tenant;
    x->subject = subject;
    x->fmt = format;
    x->now = cu_clock_now();
    x->phase = P_RECORDS;
    x->csv = (cu_csv){.sink = csv_sink, .arg = x};
    if ((rc = cu_gate_policy(v, &g, &x->policy, err)) == CU_ERR_NOT_FOUND)
        rc = CU_OK;
    /* P-AUD-3: on record before the first byte exists; then the snapshot, which sees it. */
    cu_audit_in_set(&a, tenant, "subject.export", "subject:%llu", (unsigned long long)subject);
    if (rc == CU_OK)
        rc = cu_commit(v, ctx, NULL, 0, &a, 1, err);
    if (rc == CU_OK)
        rc = cu_store_snapshot(v->store, &x->snap, err);
    if (rc == CU_OK && format == CU_SUBJECT_EXPORT_CSV_ZIP)
        rc = cu_zip_open(zip_sink, x, &x->zip, err);
    if (rc == CU_OK && (rc = sx_begin(x, st.name, g.policy_version)) != CU_OK && err != NULL)
        *err = x->err;
    if (rc != CU_OK) {
        cu_subject_export_free(x);
        return rc;
    }
    *out = x;
    return CU_OK;
}

cu_rc cu_subject_export_read(cu_subject_export *x, char *buf, size_t cap, size_t *n, cu_err *err)
{
    size_t take;

    *n = 0;
    if (x->failed == CU_OK && x->out.pos == x->out.len) {
        sbuf_reset(&x->out);
        if (x->phase != P_DONE && (x->failed = step(x)) != CU_OK && x->err.code == CU_OK)
            x->err.code = x->failed; /* what was made before the error goes out first */
    }
    take = x->out.len - x->out.pos < cap ? x->out.len - x->out.pos : cap;
    if (take > 0) {
        memcpy(buf, x->out.p + x->out.pos, take);
        x->out.pos += take;
    } else if (x->failed != CU_OK) {
        if (err != NULL)
            *err = x->err;
        return x->failed;
    }
    *n = take;
    return CU_OK;
}
