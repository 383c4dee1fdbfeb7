/*
 * export.c: a tenant's whole data as one JSON document (P-RET-2, P-DSR-2), streamed.
 *
 * The document is {"tenant","policy","exported_at","subjects":[...],"records":[...]}: every
 * subject with its values, consent ledger and records, then the tenant's own records. It is
 * made piece by piece as the store is read in pages (keyset pagination: subject ids, then each
 * subject's records, then the tenant's own, each page after the last row read, in one read
 * transaction with the records' fields; records oldest first, by (created_at, id), the order of
 * the subject index, the tenant's own too: record_page_own), so memory stays bounded whatever
 * the tenant's size: a page of ids, a page of sealed records (EXPORT_PAGE of them, or fewer holding
 * EXPORT_PAGE_BYTES, one record more at most), and the pieces not yet taken, a little over
 * EXPORT_CHUNK bytes (one record more at most). A page's records are opened with one key
 * unwrapped for the page (the subject's, or the data key at the records' version), not one
 * per record; a key destroyed meanwhile (an erasure under way) leaves the rest out, as the
 * record-by-record export did.
 *
 * Invariants:
 *   - P-AUD-3: the export's audit entry is committed before the first byte is handed out.
 *   - Never shorter than the data (P-DSR-1, P-DSR-2): an error midway is sticky and returned
 *     by the next read; the document's closing brackets are made only after every subject and
 *     record was read, so a reader that stops at the error holds invalid JSON, never a
 *     valid-looking short document. A record or subject deleted meanwhile, or whose subject's
 *     erasure is under way (its key gone), is left out: it no longer exists.
 *   - Every buffer that held personal values is wiped before it is reused or freed.
 *
 * The bytes are those cu_json_print gave for the whole tree before the export streamed (one
 * cJSON document printed unformatted), the own records' order aside (by id before issue 17's
 * last pass): tests/test_export.c compares the two.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "record_int.h"
#include "subject_int.h"
#include "tenant_int.h"
#include "util.h"

#define EXPORT_PAGE 256                     /* ids or records per store read */
#define EXPORT_PAGE_BYTES ((size_t)4 << 20) /* a page of records ends past this many bytes */
#define EXPORT_CHUNK ((size_t)65536)        /* a step stops making pieces past this many bytes */
#define EXPORT_SPLIT 32 /* rows left of a page from which its second half goes to the worker */

typedef struct x_worker x_worker;

typedef enum {
    X_SUBJECTS,        /* the next subject of the page (or the next page) */
    X_SUBJECT_RECORDS, /* the current subject's next record (or the next page) */
    X_OWN,             /* the tenant's own records: the next of the page (or the next page) */
    X_DONE
} x_phase;

struct cu_export {
    cu_vault *v;
    cu_id tenant;
    x_phase phase;
    cu_id after;               /* keyset: the last subject id of the last page */
    int last_page;             /* the current page of subjects is the last */
    cu_id *ids;                /* X_SUBJECTS: a page of subject ids */
    size_t n, i;               /* its length and next index */
    cu_id subject;             /* X_SUBJECT_RECORDS: whose records; X_OWN: 0 */
    int64_t rec_after_created; /* keyset of the records: the last one read */
    cu_id rec_after;
    int rows_last;         /* the current page of records is the last */
    cu_store_record *rows; /* a page of sealed records */
    size_t nrows, irow;
    cu_key key;      /* the key of the page's records */
    int key_state;   /* 0 none, 1 key holds it, -1 destroyed: the rest is left out */
    size_t members;  /* members written in the innermost array open (for commas) */
    size_t subjects; /* members written in "subjects" */
    char *buf;       /* pieces made and not yet taken: buf[pos..len) */
    size_t len, pos, cap;
    cu_rc failed; /* sticky: every read after an error returns it */
    cu_err err;
    x_worker *w;  /* the thread that does the second half of each page, NULL until one */
    int w_failed; /* it could not start: one thread does all */
};

/* --- the buffer -------------------------------------------------------------------------- */

static cu_rc nomem(cu_err *err)
{
    return cu_err_set(err, CU_ERR_NOMEM, "out of memory while building the export");
}

/* Appends n bytes; the old buffer is wiped when it moves. */
static cu_rc put(cu_export *x, const char *s, size_t n, cu_err *err)
{
    if (x->len + n > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        char *nb;
        while (cap < x->len + n)
            cap *= 2;
        if ((nb = malloc(cap)) == NULL)
            return nomem(err);
        if (x->buf != NULL) {
            memcpy(nb, x->buf, x->len);
            cu_wipe(x->buf, x->cap);
            free(x->buf);
        }
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, s, n);
    x->len += n;
    return CU_OK;
}

static cu_rc puts_(cu_export *x, const char *s, cu_err *err)
{
    return put(x, s, strlen(s), err);
}

/* A comma before every member of an array but its first. */
static cu_rc member(cu_export *x, size_t *count, cu_err *err)
{
    return (*count)++ ? put(x, ",", 1, err) : CU_OK;
}

/* Appends the text cJSON prints for o, without its closing '}', so members can follow; takes
 * o (deleted, wiped, whatever happens). */
static cu_rc put_open(cu_export *x, cJSON *o, cu_err *err)
{
    char *t = o ? cu_json_print(o) : NULL;
    size_t n = t ? strlen(t) : 0;
    cu_rc rc = n >= 2 ? put(x, t, n - 1, err) : nomem(err);

    if (t != NULL) {
        cu_wipe(t, n);
        free(t);
    }
    cu_json_delete_wiped(o);
    return rc;
}

/* A JSON string as cJSON prints one: '"' and '\\' escaped, control characters as \b \f \n \r
 * \t or \u00XX, every other byte as it is. */
static cu_rc put_string(cu_export *x, const char *s, cu_err *err)
{
    static const char hex[] = "0123456789abcdef";
    cu_rc rc = put(x, "\"", 1, err);

    for (const unsigned char *p = (const unsigned char *)s; rc == CU_OK && *p; p++) {
        const char *esc = *p == '"'    ? "\\\""
                          : *p == '\\' ? "\\\\"
                          : *p == '\b' ? "\\b"
                          : *p == '\f' ? "\\f"
                          : *p == '\n' ? "\\n"
                          : *p == '\r' ? "\\r"
                          : *p == '\t' ? "\\t"
                                       : NULL;
        char u[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
        rc = esc       ? puts_(x, esc, err)
             : *p < 32 ? put(x, u, 6, err)
                       : put(x, (const char *)p, 1, err);
    }
    return rc == CU_OK ? put(x, "\"", 1, err) : rc;
}

/* RFC 3339 UTC, as the API writes times. */
static void time_text(int64_t t, char buf[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Each add below returns what it added, NULL if it could not (o NULL, or out of memory): a
 * failed add fails the export, which is never handed over shorter than the data. */
static cJSON *add_id(cJSON *o, const char *name, cu_id id)
{
    char buf[CU_ID_STRLEN];

    cu_id_format(id, buf);
    return cJSON_AddStringToObject(o, name, buf);
}

static cJSON *add_time(cJSON *o, const char *name, int64_t t)
{
    char buf[32];

    time_text(t, buf);
    return cJSON_AddStringToObject(o, name, buf);
}

/* --- the pieces -------------------------------------------------------------------------- */

/* The key that sealed row, unwrapped once for the page (for the tenant's own records, again
 * if a row names another data key version). *skip is set when it is gone: the subject's
 * erasure is under way, or the version was destroyed. */
static cu_rc row_key(cu_export *x, const cu_store_record *row, int *skip, cu_err *err)
{
    cu_rc rc;

    *skip = 0;
    if (x->key_state == 1 && (row->subject_id != 0 || x->key.version == row->key_version))
        return CU_OK;
    if (x->key_state == -1 && row->subject_id != 0) {
        *skip = 1;
        return CU_OK;
    }
    cu_key_wipe(&x->key);
    x->key_state = 0;
    rc = row->subject_id != 0
             ? cu_keys_child(x->v, x->tenant, CU_KEY_SUBJECT, row->subject_id, &x->key, err)
             : cu_keys_child_at(x->v, x->tenant, CU_KEY_DATA, 0, row->key_version, &x->key, err);
    if (rc == CU_ERR_NOT_FOUND || rc == CU_ERR_KEY) {
        x->key_state = row->subject_id != 0 ? -1 : 0;
        *skip = 1;
        return CU_OK;
    }
    if (rc == CU_OK)
        x->key_state = 1;
    return rc;
}

/* A record as a member of the array open: ids, times, and its document. */
static cu_rc put_record(cu_export *x, const cu_store_record *row, size_t *count, cu_err *err)
{
    cu_record r = {0};
    char idb[CU_ID_STRLEN], t1[32], t2[32];
    int skip = 0;
    cu_rc rc;

    /* Its subject's erasure under way (the key is gone): not exported. */
    if ((rc = row_key(x, row, &skip, err)) != CU_OK || skip)
        return rc;
    if ((rc = cu_record_open_row(&x->key, row, &r, err)) != CU_OK)
        return rc;
    cu_id_format(r.id, idb);
    time_text(r.created_at, t1);
    time_text(r.updated_at, t2);
    if ((rc = member(x, count, err)) == CU_OK && (rc = puts_(x, "{\"id\":\"", err)) == CU_OK &&
        (rc = puts_(x, idb, err)) == CU_OK && (rc = puts_(x, "\",\"collection\":", err)) == CU_OK &&
        (rc = put_string(x, r.collection, err)) == CU_OK &&
        (rc = puts_(x, ",\"created_at\":\"", err)) == CU_OK && (rc = puts_(x, t1, err)) == CU_OK &&
        (rc = puts_(x, "\",\"updated_at\":\"", err)) == CU_OK &&
        (rc = puts_(x, t2, err)) == CU_OK && (rc = puts_(x, "\",\"data\":", err)) == CU_OK &&
        (rc = puts_(x, r.json, err)) == CU_OK)
        rc = put(x, "}", 1, err);
    cu_record_cleanup(&r);
    return rc;
}

/* The subject's consent ledger (P-CON-2), for portability. */
static cu_rc add_consents(cu_export *x, cu_id subject, cJSON *o, cu_err *err)
{
    cu_store_consent *c = NULL;
    size_t n = 0;
    cJSON *a = cJSON_AddArrayToObject(o, "consents");
    cu_rc rc = cu_store_consent_list(x->v->store, x->tenant, subject, NULL, &c, &n, err);

    if (rc == CU_OK && a == NULL)
        rc = nomem(err);
    for (size_t i = 0; rc == CU_OK && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        int bad;
        if (e == NULL || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            rc = nomem(err);
            break;
        }
        bad = cJSON_AddStringToObject(e, "purpose", c[i].purpose) == NULL;
        bad |= cJSON_AddStringToObject(
                   e, "action", cu_consent_action_name((cu_consent_action)c[i].action)) == NULL;
        bad |= add_time(e, "at", c[i].at) == NULL;
        bad |= cJSON_AddStringToObject(e, "source", c[i].source) == NULL;
        bad |= cJSON_AddStringToObject(e, "policy_version", c[i].policy_version) == NULL;
        rc = bad ? nomem(err) : CU_OK;
    }
    free(c);
    return rc;
}

/* --- a page's records on two cores ------------------------------------------------------- */

/* The export's second thread: given the second half of a page, it opens and writes those
 * records into a cu_export of its own (its buffer, its key), while the export's thread does
 * the first half; then waits for the next. One per export, from its first page of
 * EXPORT_SPLIT rows or more to cu_export_free. */
struct x_worker {
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int job;  /* rows given and not yet done */
    int stop; /* cu_export_free: end */
    cu_export part;
    const cu_store_record *rows;
    size_t n;
    cu_rc rc;
};

static void *worker_run(void *arg)
{
    x_worker *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        cu_rc rc = CU_OK;
        while (!w->job && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; rc == CU_OK && i < w->n; i++)
            rc = put_record(&w->part, &w->rows[i], &w->part.members, &w->part.err);
        pthread_mutex_lock(&w->lock);
        w->rc = rc;
        w->job = 0;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void worker_free(x_worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->th, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    if (w->part.buf != NULL) {
        cu_wipe(w->part.buf, w->part.cap);
        free(w->part.buf);
    }
    cu_key_wipe(&w->part.key);
    free(w);
}

/* x's worker, started on first use; NULL on one core or if it cannot start. */
static x_worker *worker(cu_export *x)
{
    x_worker *w;

    if (x->w != NULL || x->w_failed)
        return x->w;
    x->w_failed = 1;
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || (w = calloc(1, sizeof(*w))) == NULL)
        return NULL;
    w->part.v = x->v;
    w->part.tenant = x->tenant;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->th, NULL, worker_run, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    x->w_failed = 0;
    return x->w = w;
}

/* The worker's text after ours, a comma between if both wrote records; the first error, in the
 * order of the rows, is the export's. Leaves the worker's buffer empty, its key wiped. */
static cu_rc worker_join(cu_export *x, x_worker *w, cu_rc rc, cu_err *err)
{
    pthread_mutex_lock(&w->lock);
    while (w->job)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    if (rc == CU_OK && w->rc != CU_OK) {
        rc = w->rc;
        if (err != NULL)
            *err = w->part.err;
    }
    if (rc == CU_OK && w->part.len > 0 && (rc = member(x, &x->members, err)) == CU_OK)
        rc = put(x, w->part.buf, w->part.len, err);
    x->members += w->part.members > 0 ? w->part.members - 1 : 0;
    if (w->part.buf != NULL)
        cu_wipe(w->part.buf, w->part.len);
    w->part.len = 0;
    w->part.members = 0;
    cu_key_wipe(&w->part.key);
    w->part.key_state = 0;
    return rc;
}

/* The page's rows not yet written, in order: the second half of them on the worker when there
 * are enough (issue 17, item 4: opening and encoding the records was 70% of the export once
 * its reads were cut). */
static cu_rc put_rows(cu_export *x, cu_err *err)
{
    size_t left = x->nrows - x->irow, mid = x->nrows;
    x_worker *w = left >= EXPORT_SPLIT ? worker(x) : NULL;
    int skip = 0;
    cu_rc rc = CU_OK;

    if (w != NULL) {
        /* The first row's key, once: the worker starts with it (a subject's page has one). */
        if ((rc = row_key(x, &x->rows[x->irow], &skip, err)) != CU_OK)
            return rc;
        mid = x->irow + left / 2;
        pthread_mutex_lock(&w->lock);
        w->part.key = x->key;
        w->part.key_state = x->key_state;
        w->rows = &x->rows[mid];
        w->n = x->nrows - mid;
        w->job = 1;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
    }
    while (rc == CU_OK && x->irow < mid)
        rc = put_record(x, &x->rows[x->irow++], &x->members, err);
    if (w != NULL) {
        rc = worker_join(x, w, rc, err);
        x->irow = x->nrows;
    }
    return rc;
}

/* The records of subject (0: the tenant's own) come next. */
static void records_start(cu_export *x, x_phase phase, cu_id subject)
{
    x->phase = phase;
    x->subject = subject;
    x->rec_after_created = 0;
    x->rec_after = 0;
    x->rows_last = 0;
    x->members = 0;
}

/* Opens a subject as a member of "subjects": its values and ledger, then "records":[; its
 * records come next. Leaves the phase as it is if the subject is gone. */
static cu_rc open_subject(cu_export *x, cu_id id, cu_err *err)
{
    cu_subject s = {0};
    cJSON *o;
    int bad;
    cu_rc rc;

    if ((rc = cu_subject_read(x->v, x->tenant, id, &s, err)) != CU_OK)
        return rc == CU_ERR_NOT_FOUND || rc == CU_ERR_KEY ? CU_OK : rc;
    o = cJSON_CreateObject();
    bad = add_id(o, "id", id) == NULL;
    bad |= cJSON_AddStringToObject(o, "external_id", s.external_id) == NULL;
    if (s.email)
        bad |= cJSON_AddStringToObject(o, "email", s.email) == NULL;
    if (s.phone)
        bad |= cJSON_AddStringToObject(o, "phone", s.phone) == NULL;
    if (s.birth_date)
        bad |= cJSON_AddStringToObject(o, "birth_date", s.birth_date) == NULL;
    bad |= cJSON_AddBoolToObject(o, "restricted", s.restricted) == NULL;
    cu_subject_cleanup(&s);
    rc = bad ? nomem(err) : add_consents(x, id, o, err);
    if (rc != CU_OK) {
        cu_json_delete_wiped(o);
        return rc;
    }
    if ((rc = member(x, &x->subjects, err)) != CU_OK || (rc = put_open(x, o, err)) != CU_OK ||
        (rc = puts_(x, ",\"records\":[", err)) != CU_OK)
        return rc;
    records_start(x, X_SUBJECT_RECORDS, id);
    return CU_OK;
}

/* --- the steps ----------------------------------------------------------------------------- */

static void page_free(cu_export *x)
{
    free(x->ids);
    x->ids = NULL;
    x->n = x->i = 0;
}

static void rows_free(cu_export *x)
{
    for (size_t i = 0; i < x->nrows; i++)
        cu_store_record_cleanup(&x->rows[i]);
    free(x->rows);
    x->rows = NULL;
    x->nrows = x->irow = 0;
    cu_key_wipe(&x->key);
    x->key_state = 0;
}

/* The sealed bytes of the page, as the store counts them against its cap. */
static size_t page_bytes(const cu_export *x)
{
    size_t bytes = 0;

    for (size_t i = 0; i < x->nrows; i++) {
        bytes += x->rows[i].doc.len;
        for (size_t k = 0; k < x->rows[i].nfields; k++)
            bytes += x->rows[i].fields[k].ct.len;
    }
    return bytes;
}

/* The next subject, or the next page of them; after the last, the tenant's own records. */
static cu_rc step_subjects(cu_export *x, cu_err *err)
{
    cu_rc rc;

    if (x->i < x->n)
        return open_subject(x, x->ids[x->i++], err);
    page_free(x);
    if (x->last_page) {
        records_start(x, X_OWN, 0);
        return puts_(x, "],\"records\":[", err);
    }
    if ((rc = cu_store_subject_ids(x->v->store, x->tenant, x->after, EXPORT_PAGE, &x->ids, &x->n,
                                   err)) != CU_OK)
        return rc;
    x->last_page = x->n < EXPORT_PAGE;
    x->after = x->n ? x->ids[x->n - 1] : x->after;
    return CU_OK;
}

/* The next record of the current subject or of the tenant's own, or the next page of them;
 * after the last, the subject is closed (back to the subjects) or the document ends. */
static cu_rc step_records(cu_export *x, cu_err *err)
{
    const cu_store_record *last;
    cu_rc rc;

    if (x->irow < x->nrows)
        return put_rows(x, err);
    rows_free(x);
    if (x->rows_last) {
        x->phase = x->subject != 0 ? X_SUBJECTS : X_DONE;
        return puts_(x, "]}", err);
    }
    /* The tenant's own in the subject index's order, as a subject's (issue 17, item 4: by id,
     * each page walked every record of the tenant at random to find them). */
    rc = x->subject != 0
             ? cu_store_record_page(x->v->store, x->tenant, x->subject, x->rec_after_created,
                                    x->rec_after, EXPORT_PAGE, EXPORT_PAGE_BYTES, &x->rows,
                                    &x->nrows, err)
             : cu_store_record_page_own(x->v->store, x->tenant, x->rec_after_created,
                                        x->rec_after, EXPORT_PAGE, EXPORT_PAGE_BYTES, &x->rows,
                                        &x->nrows, err);
    if (rc != CU_OK)
        return rc;
    /* The last page: empty, or short of both its count and its bytes (a page ends early only
     * on its bytes), which spares a subject's query of an empty page. */
    x->rows_last = x->nrows < EXPORT_PAGE && page_bytes(x) < EXPORT_PAGE_BYTES;
    if (x->nrows > 0) {
        last = &x->rows[x->nrows - 1];
        x->rec_after_created = last->created_at;
        x->rec_after = last->cursor;
    }
    return CU_OK;
}

/* Makes pieces until EXPORT_CHUNK bytes wait or the document is whole. */
static cu_rc step(cu_export *x, cu_err *err)
{
    cu_rc rc = CU_OK;

    /* Tests fail the export here, midway, to see it end as an error (never a short document). */
    if (CU_FAULT("export.step"))
        return cu_err_set(err, CU_ERR_IO, "export: injected fault");
    while (rc == CU_OK && x->phase != X_DONE && x->len - x->pos < EXPORT_CHUNK)
        rc = x->phase == X_SUBJECTS ? step_subjects(x, err) : step_records(x, err);
    return rc;
}

/* --- the document ---------------------------------------------------------------------------- */

/* The export's tenant, its policy (p, NULL if none) and its time, up to "subjects":[. */
static cu_rc put_head(cu_export *x, const cu_store_tenant *st, const cu_policy *p, unsigned pver,
                      cu_err *err)
{
    cJSON *doc = cJSON_CreateObject(), *t = cJSON_AddObjectToObject(doc, "tenant"), *po;
    int bad = add_id(t, "id", x->tenant) == NULL;
    cu_rc rc;

    bad |= cJSON_AddStringToObject(t, "name", st->name) == NULL;
    bad |= cJSON_AddStringToObject(t, "state",
                                   st->state == CU_TENANT_ACTIVE ? "active" : "terminated") == NULL;
    if (p != NULL) {
        po = cJSON_AddObjectToObject(doc, "policy");
        bad |= cJSON_AddStringToObject(po, "id", cu_policy_id(p)) == NULL;
        bad |= cJSON_AddStringToObject(po, "version", cu_policy_version(p)) == NULL;
        bad |= cJSON_AddNumberToObject(po, "tenant_version", pver) == NULL;
    }
    bad |= add_time(doc, "exported_at", cu_clock_now()) == NULL;
    if (bad) {
        cu_json_delete_wiped(doc);
        return nomem(err);
    }
    if ((rc = put_open(x, doc, err)) != CU_OK)
        return rc;
    return puts_(x, ",\"subjects\":[", err);
}

/* P-DSR-2, P-RET-2: the export hands the customer every subject's data at once, which no
 * purpose of the policy covers: it states the built-in purpose "export", and platform staff
 * never do. A tenant without a policy keeps the API's rules alone. */
static cu_rc export_allowed(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err)
{
    int has = 0;
    cu_rc rc;

    if (ctx == NULL || ctx->purpose == NULL || (ctx->flags & CU_CTX_LOCAL))
        return CU_OK;
    if ((rc = cu_tenant_has_policy(v, tenant, &has, err)) != CU_OK || !has)
        return rc;
    if (ctx->flags & CU_CTX_OPERATOR)
        return cu_err_set(err, CU_ERR_FORBIDDEN, "platform staff do not export a tenant's data");
    if (strcmp(ctx->purpose, CU_PURPOSE_EXPORT) != 0)
        return cu_err_set(err, CU_ERR_PURPOSE_DENIED,
                          "the export states purpose \"%s\": it hands over every subject's data",
                          CU_PURPOSE_EXPORT);
    return CU_OK;
}

void cu_export_free(cu_export *x)
{
    if (x == NULL)
        return;
    worker_free(x->w);
    page_free(x);
    rows_free(x);
    if (x->buf != NULL) {
        cu_wipe(x->buf, x->cap);
        free(x->buf);
    }
    free(x);
}

cu_rc cu_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_export **out, cu_err *err)
{
    cu_store_tenant st;
    const cu_policy *p = NULL;
    unsigned pver = 0;
    cu_export *x = NULL;
    cu_audit_in a;
    cu_rc rc;

    *out = NULL;
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK ||
        (rc = export_allowed(v, ctx, tenant, err)) != CU_OK ||
        (rc = cu_tenant_row(v, tenant, &st, err)) != CU_OK)
        return rc;
    if ((rc = cu_policy_for(v, tenant, &p, &pver, err)) != CU_OK && rc != CU_ERR_NOT_FOUND)
        return rc;
    if ((x = calloc(1, sizeof(*x))) == NULL) {
        cu_policy_release(v, p);
        return nomem(err);
    }
    x->v = v;
    x->tenant = tenant;
    x->phase = X_SUBJECTS;
    rc = put_head(x, &st, p, pver, err);
    cu_policy_release(v, p);
    /* P-AUD-3: on record before the first byte leaves. */
    cu_audit_in_set(&a, tenant, "tenant.export", "tenant:%llu", (unsigned long long)tenant);
    if (rc == CU_OK)
        rc = cu_commit(v, ctx, NULL, 0, &a, 1, err);
    if (rc != CU_OK) {
        cu_export_free(x);
        return rc;
    }
    *out = x;
    return CU_OK;
}

cu_rc cu_export_read(cu_export *x, char *buf, size_t cap, size_t *n, cu_err *err)
{
    cu_rc rc = CU_OK;
    size_t take;

    *n = 0;
    if (x->failed != CU_OK) {
        if (err != NULL)
            *err = x->err;
        return x->failed;
    }
    if (x->pos == x->len) {
        if (x->buf != NULL)
            cu_wipe(x->buf, x->len);
        x->pos = x->len = 0;
        /* One read scope a step: its pages on one connection, whose cache stays warm from one
         * step to the next while nothing commits (issue 17: the pool's readers in turn each
         * read the records' pages again). */
        cu_vault_read_begin(x->v);
        if (x->phase != X_DONE && (rc = step(x, &x->err)) != CU_OK)
            x->failed = rc; /* what was made before the error goes out first */
        cu_vault_read_end(x->v);
    }
    take = x->len - x->pos < cap ? x->len - x->pos : cap;
    if (take > 0) {
        memcpy(buf, x->buf + x->pos, take);
        x->pos += take;
    }
    *n = take;
    if (take == 0 && x->failed != CU_OK) {
        if (err != NULL)
            *err = x->err;
        return x->failed;
    }
    return CU_OK;
}

cu_rc cu_tenant_export_write(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_export_write_fn fn,
                             void *arg, cu_err *err)
{
    cu_export *x = NULL;
    char *buf = NULL;
    size_t n = 0;
    cu_rc rc;

    if ((rc = cu_export_open(v, ctx, tenant, &x, err)) != CU_OK)
        return rc;
    if ((buf = malloc(EXPORT_CHUNK)) == NULL)
        rc = nomem(err);
    while (rc == CU_OK && (rc = cu_export_read(x, buf, EXPORT_CHUNK, &n, err)) == CU_OK && n > 0)
        if (fn(arg, buf, n) != 0)
            rc = cu_err_set(err, CU_ERR_IO, "the export's output stopped taking it");
    if (buf != NULL) {
        cu_wipe(buf, EXPORT_CHUNK);
        free(buf);
    }
    cu_export_free(x);
    return rc;
}

/* The whole document in memory, for cu_tenant_export. */
typedef struct x_mem {
    char *p;
    size_t len, cap;
    int nomem;
} x_mem;

static int mem_write(void *arg, const char *data, size_t n)
{
    x_mem *m = arg;

    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        char *nb;
        while (cap < m->len + n + 1)
            cap *= 2;
        if ((nb = malloc(cap)) == NULL) {
            m->nomem = 1;
            return -1;
        }
        if (m->p != NULL) {
            memcpy(nb, m->p, m->len);
            cu_wipe(m->p, m->cap);
            free(m->p);
        }
        m->p = nb;
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
    m->p[m->len] = '\0';
    return 0;
}

cu_rc cu_tenant_export(cu_vault *v, const cu_ctx *ctx, cu_id tenant, char **json, size_t *len,
                       cu_err *err)
{
    x_mem m = {0};
    cu_rc rc = cu_tenant_export_write(v, ctx, tenant, mem_write, &m, err);

    *json = NULL;
    if (m.nomem)
        rc = nomem(err);
    if (rc != CU_OK) {
        if (m.p != NULL) {
            cu_wipe(m.p, m.cap);
            free(m.p);
        }
        return rc;
    }
    *json = m.p;
    *len = m.len;
    return CU_OK;
}
