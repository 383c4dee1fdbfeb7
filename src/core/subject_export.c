/*
 * subject_export.c: everything held about one subject (P-DSR-1, P-DSR-2), streamed, as one
 * JSON document or a zip of RFC 4180 CSV files (docs/dsr.md has both layouts).
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

#include "keys_int.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "record_int.h"
#include "erase_int.h"
#include "subject_export_int.h"
#include "subject_int.h"
#include "tenant_int.h"
#include "util.h"

/* --- bytes ------------------------------------------------------------------------------ */

cu_rc sx_nomem(cu_subject_export *x)
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
cu_rc sx_zip_flush(cu_subject_export *x)
{
    cu_rc rc = cu_zip_write(x->zip, x->txt.p, x->txt.len, &x->err);

    sbuf_reset(&x->txt);
    return rc;
}

/* Appends text: to the reader's bytes (JSON), or to the entry's text (CSV). */
cu_rc sx_emit(cu_subject_export *x, const char *s, size_t n)
{
    if (x->fmt == CU_SUBJECT_EXPORT_JSON)
        return sbuf_put(&x->out, s, n) == 0 ? CU_OK : sx_nomem(x);
    if (sbuf_put(&x->txt, s, n) != 0)
        return sx_nomem(x);
    return x->txt.len >= SX_CHUNK ? sx_zip_flush(x) : CU_OK;
}

cu_rc sx_emits(cu_subject_export *x, const char *s)
{
    return sx_emit(x, s, strlen(s));
}

static int zip_sink(void *arg, const void *data, size_t n)
{
    return sbuf_put(&((cu_subject_export *)arg)->out, data, n);
}

static int csv_sink(void *arg, const char *s, size_t n)
{
    return sx_emit(arg, s, n) == CU_OK ? 0 : -1;
}

/* CSV: ends the entry open and starts the file name. */
cu_rc sx_entry(cu_subject_export *x, const char *name)
{
    cu_rc rc = x->txt.len > 0 ? sx_zip_flush(x) : CU_OK;

    return rc == CU_OK ? cu_zip_entry(x->zip, name, x->now, &x->err) : rc;
}

/* A CSV row of n text cells (guarded: values may come from anyone, docs/dsr.md). */
cu_rc sx_csv_row(cu_subject_export *x, const char *const *cells, size_t n, int guard)
{
    for (size_t i = 0; i < n; i++)
        if (cu_csv_text(&x->csv, cells[i], guard) != 0)
            return x->err.code ? x->err.code : sx_nomem(x);
    return cu_csv_end_row(&x->csv) == 0 ? CU_OK : x->err.code ? x->err.code : sx_nomem(x);
}

/* Prints o unformatted and appends it (without its last byte when open, so members can
 * follow); deletes o, wiped, whatever happens. */
cu_rc sx_emit_json(cu_subject_export *x, cJSON *o, int open)
{
    char *t = o ? cu_json_print(o) : NULL;
    size_t n = t ? strlen(t) : 0;
    cu_rc rc = n >= 2 ? sx_emit(x, t, open ? n - 1 : n) : sx_nomem(x);

    if (t != NULL) {
        cu_wipe(t, n);
        free(t);
    }
    cu_json_delete_wiped(o);
    return rc;
}

/* RFC 3339 UTC: whole seconds (ms < 0) or milliseconds. */
void sx_time_text(int64_t secs, int ms, char buf[40])
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

cJSON *sx_add_id(cJSON *o, const char *name, cu_id id)
{
    char buf[CU_ID_STRLEN];

    cu_id_format(id, buf);
    return cJSON_AddStringToObject(o, name, buf);
}

cJSON *sx_add_time(cJSON *o, const char *name, int64_t t)
{
    char buf[40];

    sx_time_text(t, -1, buf);
    return cJSON_AddStringToObject(o, name, buf);
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
        rc = x->fmt == CU_SUBJECT_EXPORT_JSON ? sx_json_record(x, &r) : sx_csv_record(x, &r);
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
        if (x->icoll > 0 && (rc = sx_emit(x, ",", 1)) != CU_OK)
            return rc;
        x->members = 0;
        return sx_emit_string(x, c->name) == CU_OK ? sx_emit(x, ":[", 2) : x->err.code;
    }
    snprintf(name, sizeof(name), "records/%s.csv", c->name);
    return (rc = sx_entry(x, name)) == CU_OK ? sx_csv_coll_head(x) : rc;
}

/* After the last collection: the accesses begin. */
static cu_rc accesses_start(cu_subject_export *x)
{
    static const char *const ah[] = {"seq", "at", "actor", "action", "object", "purpose"};
    cu_rc rc;

    x->phase = P_ACCESSES;
    x->members = 0;
    if (x->fmt == CU_SUBJECT_EXPORT_JSON)
        return sx_emits(x, "},\"accesses\":[");
    return (rc = sx_entry(x, "accesses.csv")) == CU_OK ? sx_csv_row(x, ah, 6, 0) : rc;
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
        return x->fmt == CU_SUBJECT_EXPORT_JSON ? sx_emit(x, "]", 1) : CU_OK;
    }
    if ((rc = cu_store_record_page_in(x->snap, x->tenant, x->subject, c->name, x->after_created,
                                      x->after, SX_PAGE, SX_PAGE_BYTES, &x->rows, &x->nrows,
                                      &x->err)) != CU_OK)
        return rc;
    x->rows_last = x->nrows == 0; /* a page may end early on its bytes */
    if (x->nrows > 0) {
        x->after_created = x->rows[x->nrows - 1].created_at;
        x->after = x->rows[x->nrows - 1].cursor;
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
        return x->fmt == CU_SUBJECT_EXPORT_JSON ? sx_json_access(x, a) : sx_csv_access(x, a);
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
            rc = x->fmt == CU_SUBJECT_EXPORT_JSON ? sx_emit(x, "]}", 2) : sx_csv_manifest(x);
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

/* The subject's data-subject requests, from the snapshot, oldest first: ids, types, states and
 * times only (no token, no reason text). NULL with x->err set on failure. */
static cJSON *sx_requests_json(cu_subject_export *x)
{
    cu_store_request *rows = NULL;
    size_t n = 0;
    cJSON *a = NULL, *o;
    int bad = 0;

    if (cu_store_request_list(x->snap, x->tenant, 0, &rows, &n, &x->err) != CU_OK)
        return NULL;
    if ((a = cJSON_CreateArray()) == NULL)
        bad = 1;
    for (size_t i = 0; !bad && i < n; i++) {
        const cu_store_request *r = &rows[i];
        if (r->subject_id != x->subject)
            continue;
        bad |= (o = cJSON_CreateObject()) == NULL || !cJSON_AddItemToArray(a, o);
        bad |= bad || sx_add_id(o, "id", r->id) == NULL;
        bad |= bad || !cJSON_AddStringToObject(o, "type", cu_request_type_name(r->type));
        bad |= bad || !cJSON_AddStringToObject(o, "state", cu_request_state_name(r->state));
        bad |= bad || sx_add_time(o, "received_at", r->filed_at) == NULL;
        bad |= bad || sx_add_time(o, "due_at", r->answer_due) == NULL;
        bad |= bad || (r->closed_at ? sx_add_time(o, "completed_at", r->closed_at)
                                    : cJSON_AddNullToObject(o, "completed_at")) == NULL;
    }
    free(rows);
    if (bad) {
        cJSON_Delete(a);
        sx_nomem(x);
        return NULL;
    }
    return a;
}

/* From the snapshot: the subject (gone since the checks: CU_ERR_NOT_FOUND), its key, the plan,
 * then the head of the document or archive. */
static cu_rc sx_begin(cu_subject_export *x, const char *tenant_name, unsigned pver)
{
    cu_store_subject row = {0};
    cu_subject s = {0};
    cJSON *subject = NULL, *consents = NULL, *held = NULL, *requests = NULL, *recipients = NULL;
    cu_rc rc;

    if ((rc = cu_store_subject_get(x->snap, x->tenant, x->subject, &row, &x->err)) != CU_OK ||
        (rc = cu_keys_child(x->v, x->tenant, CU_KEY_SUBJECT, x->subject, &x->key, &x->err)) !=
            CU_OK ||
        (rc = cu_subject_open_row(&x->key, &row, &s, &x->err)) != CU_OK ||
        (rc = cu_store_subject_collections(x->snap, x->tenant, x->subject, &x->colls, &x->ncolls,
                                           &x->err)) != CU_OK)
        goto out;
    if ((consents = sx_consents_json(x)) == NULL || (held = sx_held_json(x)) == NULL ||
        (requests = sx_requests_json(x)) == NULL || (recipients = sx_recipients_json(x)) == NULL) {
        rc = x->err.code ? x->err.code : sx_nomem(x);
        goto out;
    }
    if (x->fmt == CU_SUBJECT_EXPORT_CSV_ZIP) {
        if ((rc = sx_csv_head(x, &s, consents, held, requests)) == CU_OK)
            rc = sx_csv_recipients(x, recipients);
        goto out;
    }
    if ((subject = sx_subject_json(&s)) == NULL) {
        rc = sx_nomem(x);
        goto out;
    }
    rc = sx_json_head(x, tenant_name, pver, subject, consents, held, requests, recipients);
    subject = consents = held = requests = recipients = NULL; /* json_head took them */
out:
    cJSON_Delete(requests);
    cJSON_Delete(recipients);
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

/* P-DSR-1, P-RET-4 (issue 10): a subject erased under legal retention, whose kept records
 * remain, is exported too: its kept records and its erasure (subject_export_kept.c). The same
 * checks but the subject's presence: the purpose names the subject (its request). *cert gets
 * its erasure's certificate; CU_ERR_NOT_FOUND as for a subject never known otherwise. */
static cu_rc sx_kept_allowed(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             cu_gate *g, cJSON **cert, cu_err *err)
{
    cu_rc rc;

    if ((rc = cu_erase_kept_certificate(v, tenant, subject, cert, err)) != CU_OK)
        return rc;
    rc = cu_preamble(v, ctx,
                     &(cu_access){.tenant = tenant,
                                  .use = CU_TENANT_USE_READ,
                                  .purpose = CU_PURPOSE_READ,
                                  .purpose_subject = subject},
                     g, err);
    if (rc != CU_OK) {
        cJSON_Delete(*cert);
        *cert = NULL;
    }
    return rc;
}

static cu_subject_export *sx_new(cu_vault *v, cu_id tenant, cu_id subject,
                                 cu_subject_export_format format)
{
    cu_subject_export *x = calloc(1, sizeof(*x));

    if (x == NULL)
        return NULL;
    x->v = v;
    x->tenant = tenant;
    x->subject = subject;
    x->fmt = format;
    x->now = cu_clock_now();
    x->phase = P_RECORDS;
    x->csv = (cu_csv){.sink = csv_sink, .arg = x};
    return x;
}

cu_rc cu_subject_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             cu_subject_export_format format, cu_subject_export **out, cu_err *err)
{
    cu_subject_export *x = NULL;
    cu_store_op idx = {.type = CU_OP_AUDIT_SUBJECT_INDEX,
                       .u.audit_index = {.tenant_id = tenant, .limit = cu_audit_index_step()}};
    cu_store_tenant st;
    cJSON *kept = NULL;
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    *out = NULL;
    if (format != CU_SUBJECT_EXPORT_JSON && format != CU_SUBJECT_EXPORT_CSV_ZIP)
        return cu_err_set(err, CU_ERR_INVALID, "unknown export format %d", (int)format);
    if ((rc = sx_allowed(v, ctx, tenant, subject, &g, err)) == CU_ERR_NOT_FOUND) {
        if (err != NULL) /* no error left behind if the kept answer opens */
            memset(err, 0, sizeof(*err));
        rc = sx_kept_allowed(v, ctx, tenant, subject, &g, &kept, err);
    }
    if (rc != CU_OK || (rc = cu_tenant_row(v, tenant, &st, err)) != CU_OK ||
        (x = sx_new(v, tenant, subject, format)) == NULL) {
        cJSON_Delete(kept);
        return rc != CU_OK ? rc : cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    if ((rc = cu_gate_policy(v, &g, &x->policy, err)) == CU_ERR_NOT_FOUND)
        rc = CU_OK;
    /* The subject index catches up with the log (derived data: no entry of its own); what is
     * appended after it, the export's own entry among them, the read finds past its mark. */
    if (rc == CU_OK && kept == NULL)
        rc = cu_store_apply(v->store, &idx, 1, err);
    /* P-AUD-3: on record before the first byte exists; then the snapshot, which sees it. */
    cu_audit_in_set(&a, tenant, "subject.export", "subject:%llu", (unsigned long long)subject);
    if (rc == CU_OK)
        rc = cu_commit(v, ctx, NULL, 0, &a, 1, err);
    if (rc == CU_OK && kept == NULL)
        rc = cu_store_snapshot(v->store, &x->snap, err);
    if (rc == CU_OK && format == CU_SUBJECT_EXPORT_CSV_ZIP)
        rc = cu_zip_open(zip_sink, x, &x->zip, err);
    if (rc == CU_OK) {
        rc = kept != NULL ? sx_kept_begin(x, kept) : sx_begin(x, st.name, g.policy_version);
        kept = NULL;
        if (rc != CU_OK && err != NULL)
            *err = x->err;
    }
    cJSON_Delete(kept);
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
