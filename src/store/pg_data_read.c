/*
 * pg_data_read.c: the PostgreSQL backend's reads of subjects, records and index entries, and
 * the helpers the data domain's files share (pg_data_int.h): the binary array codec of a
 * record's fields and the read and write runners.
 *
 * Every read here is one statement, so it sees one snapshot in autocommit (or the read scope's
 * or snapshot's, pg_read_get) and costs one round trip: a record comes with its fields as two
 * arrays aggregated beside it, and a page of records likewise, its byte bound applied by the
 * server (a running sum of the sealed sizes) so the client never holds more than one page.
 * P-DSR-4: each hides a subject whose erasure is queued (PGD_ERASING), as SQLite's ERASING.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* --- the binary array codec (PostgreSQL's array_send / array_recv format) ------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A one-dimensional array of n elements without NULLs: header, then each length and bytes. */
static uint8_t *array_make(unsigned elem_oid, const void *const *elems, const size_t *lens,
                           size_t n, size_t *out_len)
{
    size_t len = n > 0 ? 20 : 12;
    uint8_t *buf, *p;

    for (size_t i = 0; i < n; i++)
        len += 4 + lens[i];
    if ((buf = malloc(len)) == NULL)
        return NULL;
    put_u32(buf, n > 0 ? 1 : 0); /* dimensions */
    put_u32(buf + 4, 0);         /* no NULL */
    put_u32(buf + 8, elem_oid);
    p = buf + 12;
    if (n > 0) {
        put_u32(p, (uint32_t)n);
        put_u32(p + 4, 1); /* lower bound */
        p += 8;
    }
    for (size_t i = 0; i < n; i++) {
        put_u32(p, (uint32_t)lens[i]);
        if (lens[i] > 0)
            memcpy(p + 4, elems[i], lens[i]);
        p += 4 + lens[i];
    }
    *out_len = len;
    return buf;
}

cu_rc pgd_fields_param_make(const cu_store_field *fields, size_t n, pgd_fields_param *out,
                            cu_err *err)
{
    const void **names = calloc(n + 1, sizeof(*names)), **cts = calloc(n + 1, sizeof(*cts));
    size_t *nlens = calloc(n + 1, sizeof(*nlens)), *clens = calloc(n + 1, sizeof(*clens));
    cu_rc rc = CU_OK;

    memset(out, 0, sizeof(*out));
    if (names && cts && nlens && clens) {
        for (size_t i = 0; i < n; i++) {
            names[i] = fields[i].name;
            nlens[i] = strlen(fields[i].name);
            cts[i] = fields[i].ct.data;
            clens[i] = fields[i].ct.len;
        }
        out->names = array_make(PG_OID_TEXT, names, nlens, n, &out->names_len);
        out->cts = array_make(PG_OID_BYTEA, cts, clens, n, &out->cts_len);
    }
    if (out->names == NULL || out->cts == NULL) {
        pgd_fields_param_free(out);
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    free(names);
    free(cts);
    free(nlens);
    free(clens);
    return rc;
}

void pgd_fields_param_free(pgd_fields_param *p)
{
    free(p->names);
    free(p->cts);
    memset(p, 0, sizeof(*p));
}

pg_param pgd_p_names(const pgd_fields_param *p)
{
    return (pg_param){.type = PGD_OID_TEXT_ARRAY, .p = p->names, .len = (int)p->names_len};
}

pg_param pgd_p_cts(const pgd_fields_param *p)
{
    return (pg_param){.type = PGD_OID_BYTEA_ARRAY, .p = p->cts, .len = (int)p->cts_len};
}

/* A one-dimensional array column: its element count and the first element, or an error. */
static cu_rc array_open(const PGresult *res, int row, int col, size_t *n, const uint8_t **elems,
                        const uint8_t **end, cu_err *err)
{
    const uint8_t *p = (const uint8_t *)PQgetvalue(res, row, col);
    size_t len = (size_t)PQgetlength(res, row, col);
    uint32_t ndim;

    *n = 0;
    *elems = *end = p + len;
    if (PQgetisnull(res, row, col))
        return CU_OK;
    if (len < 12 || (ndim = get_u32(p)) > 1 || (ndim == 1 && len < 20))
        return cu_err_set(err, CU_ERR_STORE, "could not read record fields: bad array");
    if (ndim == 1) {
        *n = get_u32(p + 12);
        *elems = p + 20;
    }
    return CU_OK;
}

/* The next element of an array opened by array_open; NULL when the array is malformed. */
static const uint8_t *array_next(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *e;
    uint32_t l;

    if (end - *p < 4 || (l = get_u32(*p)) == 0xffffffffu || (size_t)(end - *p - 4) < l)
        return NULL;
    e = *p + 4;
    *len = l;
    *p = e + l;
    return e;
}

cu_rc pgd_fields_read(const PGresult *res, int row, int names_col, int cts_col,
                      cu_store_record *r, size_t *bytes, cu_err *err)
{
    const uint8_t *np, *nend, *cp, *cend;
    size_t nn, nc;
    cu_rc rc;

    *bytes = 0;
    if ((rc = array_open(res, row, names_col, &nn, &np, &nend, err)) != CU_OK ||
        (rc = array_open(res, row, cts_col, &nc, &cp, &cend, err)) != CU_OK)
        return rc;
    if (nn != nc)
        return cu_err_set(err, CU_ERR_STORE, "could not read record fields: bad array");
    if (nn == 0)
        return CU_OK;
    if ((r->fields = calloc(nn, sizeof(*r->fields))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nn; i++) {
        size_t ln, lc;
        const uint8_t *name = array_next(&np, nend, &ln), *ct = array_next(&cp, cend, &lc);
        cu_store_field *f = &r->fields[i];
        if (name == NULL || ct == NULL)
            return cu_err_set(err, CU_ERR_STORE, "could not read record fields: bad array");
        r->nfields = i + 1;
        if ((f->name = malloc(ln + 1)) == NULL || (f->ct.data = malloc(lc ? lc : 1)) == NULL)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        memcpy(f->name, name, ln);
        f->name[ln] = '\0';
        memcpy(f->ct.data, ct, lc);
        f->ct.len = lc;
        *bytes += lc;
    }
    return CU_OK;
}

/* --- runners ------------------------------------------------------------------------------ */

cu_rc pgd_read(cu_store *base, pg_query *q, const pg_param *params, int nparams, PGresult **res,
               cu_err *err, const char *what)
{
    return pg_read_exec(base, q, params, nparams, res, err, what);
}

static cu_rc read_id(const PGresult *res, int row, void *out, cu_err *err)
{
    (void)err;
    *(cu_id *)out = pg_id(res, row, 0);
    return CU_OK;
}

cu_rc pgd_read_ids(cu_store *base, pg_query *q, const pg_param *params, int nparams, cu_id **ids,
                   size_t *n, cu_err *err, const char *what)
{
    return pg_read_rows(base, q, params, nparams, sizeof(**ids), read_id, NULL, (void **)ids, n,
                        err, what);
}

cu_rc pgd_write_int(pg_conn *c, pg_query *q, const pg_param *params, int nparams, int64_t *out,
                    cu_err *err, const char *what)
{
    PGresult *res;
    cu_rc rc = pg_exec(c, q, params, nparams, &res, err, what);

    if (rc != CU_OK)
        return rc;
    *out = pg_rows(res) > 0 ? pg_i64(res, 0, 0) : 0;
    PQclear(res);
    return CU_OK;
}

cu_rc pgd_write_one(pg_conn *c, pg_query *q, const pg_param *params, int nparams, cu_rc code,
                    const char *msg, cu_err *err, const char *what)
{
    PGresult *res;
    cu_rc rc = pg_exec(c, q, params, nparams, &res, err, what);
    int64_t changed;

    if (rc != CU_OK)
        return rc;
    changed = pg_changed(res);
    PQclear(res);
    return changed == 0 ? cu_err_set(err, code, "%s", msg) : CU_OK;
}

/* --- subjects ----------------------------------------------------------------------------- */

static pg_query Q_SUBJECT_GET = PG_QUERY(
    "SELECT tenant_id, subject_id, key_version, created_at, profile, restricted, last_activity"
    " FROM subjects WHERE tenant_id = $1 AND subject_id = $2 AND NOT " PGD_ERASING("$2"));

cu_rc pg_subject_get(cu_store *base, cu_id tenant, cu_id id, cu_store_subject *out, cu_err *err)
{
    PGresult *res;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    rc = pgd_read(base, &Q_SUBJECT_GET, PG_P(pg_p_id(tenant), pg_p_id(id)), &res, err,
                  "read subject");
    if (rc != CU_OK)
        return rc;
    if (pg_rows(res) == 0) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "subject not found");
    } else {
        out->tenant_id = pg_id(res, 0, 0);
        out->id = pg_id(res, 0, 1);
        out->key_version = (uint32_t)pg_i64(res, 0, 2);
        out->created_at = pg_i64(res, 0, 3);
        out->restricted = (int)pg_i64(res, 0, 5);
        out->last_activity = pg_i64(res, 0, 6);
        rc = pg_blob_copy(res, 0, 4, &out->profile, err);
    }
    PQclear(res);
    return rc;
}

static pg_query Q_SUBJECT_STATE =
    PG_QUERY("SELECT restricted, last_activity FROM subjects WHERE tenant_id = $1"
             " AND subject_id = $2 AND NOT " PGD_ERASING("$2"));

/* What c's read transaction saw of a subject: found (restricted and last_activity at col and
 * col + 1 of res's row 0) or not. Kept only on a pinned connection (a scope's, a snapshot's),
 * whose transaction is one snapshot until its end. */
static void subject_seen(pg_conn *c, cu_id tenant, cu_id subject, int found, const PGresult *res,
                         int col)
{
    if (!c->pinned || subject == 0)
        return;
    c->seen = (struct pg_subject_seen){.valid = 1, .found = found, .tenant = tenant,
                                       .subject = subject};
    if (found) {
        c->seen.restricted = (int)pg_i64(res, 0, col);
        c->seen.last_activity = pg_i64(res, 0, col + 1);
    }
}

/* One statement, or none when the scope's transaction already saw the subject (issue 12,
 * item 1: GET and POST of a record ask for it after the record, or twice). */
cu_rc pg_subject_state(cu_store *base, cu_id tenant, cu_id subject, int *restricted,
                       int64_t *last_activity, cu_err *err)
{
    pg_store *s = (pg_store *)base;
    struct pg_subject_seen seen = {0};
    PGresult *res = NULL;
    pg_conn *c = NULL;
    cu_rc rc;

    if ((rc = pg_read_get(s, 0, &c, err)) != CU_OK)
        return rc;
    if (c->pinned && c->seen.valid && c->seen.tenant == tenant && c->seen.subject == subject) {
        seen = c->seen;
    } else if ((rc = pg_exec(c, &Q_SUBJECT_STATE, PG_P(pg_p_id(tenant), pg_p_id(subject)), &res,
                             err, "read subject")) == CU_OK) {
        subject_seen(c, tenant, subject, pg_rows(res) > 0, res, 0);
        seen.found = pg_rows(res) > 0;
        seen.restricted = seen.found ? (int)pg_i64(res, 0, 0) : 0;
        seen.last_activity = seen.found ? pg_i64(res, 0, 1) : 0;
        PQclear(res);
    }
    pg_read_put(s, c);
    if (rc != CU_OK)
        return rc;
    if (!seen.found)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "subject not found");
    if (restricted)
        *restricted = seen.restricted;
    if (last_activity)
        *last_activity = seen.last_activity;
    return CU_OK;
}

static pg_query Q_SUBJECT_IDS =
    PG_QUERY("SELECT subject_id FROM subjects s WHERE tenant_id = $1 AND subject_id > $2"
             " AND NOT " PGD_ERASING("s.subject_id") " ORDER BY subject_id LIMIT $3");

cu_rc pg_subject_ids(cu_store *base, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                     size_t *n, cu_err *err)
{
    return pgd_read_ids(base, &Q_SUBJECT_IDS,
                        PG_P(pg_p_id(tenant), pg_p_id(after), pg_p_i64((int64_t)limit)), ids, n,
                        err, "list subjects");
}

/* --- records ------------------------------------------------------------------------------ */

#define RECORD_COLS                                                                              \
    "r.tenant_id, r.record_id, r.collection, r.subject_id, r.key_version, r.created_at,"         \
    " r.updated_at, r.doc, r.version"
/* A record's fields as two arrays in one order (by name), NULL when it has none. */
#define FIELDS_OF(R)                                                                             \
    "LEFT JOIN LATERAL (SELECT array_agg(x.field ORDER BY x.field) AS names,"                    \
    " array_agg(x.ct ORDER BY x.field) AS cts, sum(octet_length(x.ct)) AS bytes"                 \
    " FROM record_fields x WHERE x.tenant_id = " R ".tenant_id AND x.record_id = " R             \
    ".record_id) f ON true"

/* A row of RECORD_COLS (columns 0 to 8) with names and cts at 9 and 10; *bytes gets the sealed
 * size (document and fields). On failure r holds what to release. */
static cu_rc record_row(const PGresult *res, int row, cu_store_record *r, size_t *bytes,
                        cu_err *err)
{
    size_t fbytes = 0;
    cu_rc rc;

    r->tenant_id = pg_id(res, row, 0);
    r->id = pg_id(res, row, 1);
    pg_text_copy(res, row, 2, r->collection, sizeof(r->collection));
    r->subject_id = pg_id(res, row, 3); /* NULL reads as 0 */
    r->key_version = (uint32_t)pg_i64(res, row, 4);
    r->created_at = pg_i64(res, row, 5);
    r->updated_at = pg_i64(res, row, 6);
    r->version = (uint32_t)pg_i64(res, row, 8);
    if ((rc = pg_blob_copy(res, row, 7, &r->doc, err)) != CU_OK)
        return rc;
    rc = pgd_fields_read(res, row, 9, 10, r, &fbytes, err);
    *bytes = r->doc.len + fbytes;
    return rc;
}

/* The record and its fields in one statement, so one snapshot (docs/store.md, item 3); a
 * retained record stays visible (P-RET-4), an erased subject's others do not (P-DSR-4). Its
 * subject's state comes beside it (columns 12 to 14, as Q_SUBJECT_STATE would find it), for
 * the scope's subject_state that follows (issue 12, item 1). */
static pg_query Q_RECORD_GET = PG_QUERY(
    "SELECT " RECORD_COLS ", f.names, f.cts, " PGD_RETAINED("r.record_id") ","
    " s.subject_id IS NOT NULL AND NOT " PGD_ERASING("r.subject_id") ", s.restricted,"
    " s.last_activity FROM records r " FIELDS_OF("r")
    " LEFT JOIN subjects s ON s.tenant_id = r.tenant_id AND s.subject_id = r.subject_id"
    " WHERE r.tenant_id = $1 AND r.record_id = $2"
    " AND NOT (" PGD_ERASING("r.subject_id") " AND NOT " PGD_RETAINED("r.record_id") ")");

cu_rc pg_record_get(cu_store *base, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err)
{
    pg_store *s = (pg_store *)base;
    PGresult *res = NULL;
    pg_conn *c = NULL;
    size_t bytes;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = pg_read_get(s, 0, &c, err)) != CU_OK)
        return rc;
    rc = pg_exec(c, &Q_RECORD_GET, PG_P(pg_p_id(tenant), pg_p_id(id)), &res, err, "read record");
    if (rc == CU_OK && pg_rows(res) == 0) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "record not found");
    } else if (rc == CU_OK) {
        rc = record_row(res, 0, out, &bytes, err);
        out->retained = (int)pg_i64(res, 0, 11);
        subject_seen(c, tenant, out->subject_id, (int)pg_i64(res, 0, 12), res, 13);
    }
    PQclear(res);
    pg_read_put(s, c);
    if (rc != CU_OK)
        cu_store_record_cleanup(out);
    return rc;
}

/*
 * The export's pages, one statement each: up to $limit records in key order, each with its
 * fields, cut where the sealed bytes of the rows before reach $max (one record at least), by a
 * running sum the server computes: the client receives one page, never more (store.h).
 */
#define PAGE_SQL(WHERE, ORDER, LIMIT, MAX)                                                       \
    "SELECT " RECORD_COLS ", f.names, f.cts FROM (SELECT q.*, sum(q.sz) OVER (ORDER BY " ORDER  \
    ") - q.sz AS before FROM (SELECT r.*, octet_length(r.doc) + coalesce((SELECT"                \
    " sum(octet_length(x.ct)) FROM record_fields x WHERE x.tenant_id = r.tenant_id"              \
    " AND x.record_id = r.record_id), 0) AS sz FROM records r WHERE " WHERE " ORDER BY " ORDER   \
    " LIMIT " LIMIT ") q) r " FIELDS_OF("r") " WHERE r.before < " MAX " ORDER BY " ORDER
/* A subject's, in the order of record_ids_by_subject (records_by_subject). */
static pg_query Q_PAGE_SUBJECT = PG_QUERY(PAGE_SQL(
    "r.tenant_id = $1 AND r.subject_id = $2 AND (r.created_at, r.record_id) > ($3, $4)"
    " AND NOT " PGD_ERASING("$2"),
    "created_at, record_id", "$5", "$6"));
/* A subject's in one collection (records_by_subject_collection). */
static pg_query Q_PAGE_IN = PG_QUERY(PAGE_SQL(
    "r.tenant_id = $1 AND r.subject_id = $2 AND r.collection = $7"
    " AND (r.created_at, r.record_id) > ($3, $4) AND NOT " PGD_ERASING("$2"),
    "created_at, record_id", "$5", "$6"));
/* The tenant's own, by id (the primary key). */
static pg_query Q_PAGE_OWN = PG_QUERY(PAGE_SQL(
    "r.tenant_id = $1 AND r.record_id > $2 AND r.subject_id IS NULL", "record_id", "$3", "$4"));
/* record_page_own: the tenant's own in the subject index's order (records_by_subject, subject
 * NULL), as a subject's. */
static pg_query Q_PAGE_OWN_KEYED = PG_QUERY(PAGE_SQL(
    "r.tenant_id = $1 AND r.subject_id IS NULL AND (r.created_at, r.record_id) > ($2, $3)",
    "created_at, record_id", "$4", "$5"));

static void records_free(cu_store_record *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cu_store_record_cleanup(&r[i]);
    free(r);
}

/* A page's row (pg_row_fn): the record, or nothing left to release. */
static cu_rc page_row(const PGresult *res, int row, void *out, cu_err *err)
{
    size_t bytes;
    cu_rc rc = record_row(res, row, out, &bytes, err);

    if (rc != CU_OK)
        cu_store_record_cleanup(out);
    else
        ((cu_store_record *)out)->cursor = ((cu_store_record *)out)->id; /* by id */
    return rc;
}

static void page_free(void *list, size_t n)
{
    records_free(list, n);
}

/* The records of a page's result res (read with rc) into *out, *n; clears res. */
static cu_rc page_rows(PGresult *res, cu_rc rc, cu_store_record **out, size_t *n, cu_err *err)
{
    if (rc == CU_OK)
        rc = pg_collect_rows(res, sizeof(**out), page_row, page_free, (void **)out, n, err);
    PQclear(res);
    return rc;
}

cu_rc pg_record_page_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                        int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                        cu_store_record **out, size_t *n, cu_err *err)
{
    int64_t lim = limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
    int64_t max = max_bytes > INT64_MAX ? INT64_MAX : (int64_t)max_bytes;
    PGresult *res = NULL;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if (subject == 0)
        rc = pgd_read(base, &Q_PAGE_OWN,
                      PG_P(pg_p_id(tenant), pg_p_id(after), pg_p_i64(lim), pg_p_i64(max)), &res,
                      err, "list records");
    else if (collection == NULL)
        rc = pgd_read(base, &Q_PAGE_SUBJECT,
                      PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(after_created),
                           pg_p_id(after), pg_p_i64(lim), pg_p_i64(max)),
                      &res, err, "list records");
    else
        rc = pgd_read(base, &Q_PAGE_IN,
                      PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(after_created),
                           pg_p_id(after), pg_p_i64(lim), pg_p_i64(max), pg_p_text(collection)),
                      &res, err, "list records");
    return page_rows(res, rc, out, n, err);
}

cu_rc pg_record_page_own(cu_store *base, cu_id tenant, int64_t after_created, cu_id after,
                         size_t limit, size_t max_bytes, cu_store_record **out, size_t *n,
                         cu_err *err)
{
    int64_t lim = limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
    int64_t max = max_bytes > INT64_MAX ? INT64_MAX : (int64_t)max_bytes;
    PGresult *res = NULL;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    rc = pgd_read(base, &Q_PAGE_OWN_KEYED,
                  PG_P(pg_p_id(tenant), pg_p_i64(after_created), pg_p_id(after), pg_p_i64(lim),
                       pg_p_i64(max)),
                  &res, err, "list records");
    return page_rows(res, rc, out, n, err);
}

cu_rc pg_record_page(cu_store *base, cu_id tenant, cu_id subject, int64_t after_created,
                     cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                     size_t *n, cu_err *err)
{
    return pg_record_page_in(base, tenant, subject, NULL, after_created, after, limit, max_bytes,
                             out, n, err);
}

static pg_query Q_RECORD_BY_SUBJECT =
    PG_QUERY("SELECT record_id FROM records WHERE tenant_id = $1 AND subject_id = $2"
             " AND NOT " PGD_ERASING("$2") " ORDER BY created_at, record_id");

cu_rc pg_record_ids_by_subject(cu_store *base, cu_id tenant, cu_id subject, cu_id **ids, size_t *n,
                               cu_err *err)
{
    return pgd_read_ids(base, &Q_RECORD_BY_SUBJECT, PG_P(pg_p_id(tenant), pg_p_id(subject)), ids,
                        n, err, "list records");
}

/* In the order of records_by_subject_collection: the erasure finds what it keeps from that
 * index alone. */
static pg_query Q_RECORD_IDS_IN = PG_QUERY(
    "SELECT record_id FROM records WHERE tenant_id = $1 AND subject_id = $2 AND collection = $3"
    " AND NOT " PGD_ERASING("$2") " ORDER BY created_at, record_id");

cu_rc pg_record_ids_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                       cu_id **ids, size_t *n, cu_err *err)
{
    return pgd_read_ids(base, &Q_RECORD_IDS_IN,
                        PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_text(collection)), ids, n,
                        err, "list records");
}

/* An erased subject's records are hidden, but those retained (P-RET-4): the sweep deletes them
 * at their date. */
static pg_query Q_RECORD_META = PG_QUERY(
    "SELECT r.record_id, r.subject_id, r.collection, r.created_at, r.updated_at, r.anonymized, "
    PGD_RETAINED("r.record_id") " FROM records r WHERE r.tenant_id = $1 AND r.record_id > $2"
    " AND NOT (" PGD_ERASING("r.subject_id") " AND NOT " PGD_RETAINED("r.record_id") ")"
    " ORDER BY r.record_id LIMIT $3");

static cu_rc meta_row(const PGresult *res, int i, void *out, cu_err *err)
{
    cu_store_record_meta *m = out;

    (void)err;
    m->id = pg_id(res, i, 0);
    m->subject_id = pg_id(res, i, 1);
    pg_text_copy(res, i, 2, m->collection, sizeof(m->collection));
    m->created_at = pg_i64(res, i, 3);
    m->updated_at = pg_i64(res, i, 4);
    m->anonymized = (int)pg_i64(res, i, 5);
    m->retained = (int)pg_i64(res, i, 6);
    m->cursor = m->id; /* by id */
    return CU_OK;
}

cu_rc pg_record_meta_list(cu_store *base, cu_id tenant, cu_id after, size_t limit,
                          cu_store_record_meta **out, size_t *n, cu_err *err)
{
    return pg_read_rows(base, &Q_RECORD_META,
                        PG_P(pg_p_id(tenant), pg_p_id(after), pg_p_i64((int64_t)limit)),
                        sizeof(**out), meta_row, NULL, (void **)out, n, err, "list records");
}

/* The collections holding a subject's records, with their counts (the export's plan). */
static pg_query Q_SUBJECT_COLLECTIONS =
    PG_QUERY("SELECT collection, count(*) FROM records WHERE tenant_id = $1 AND subject_id = $2"
             " AND NOT " PGD_ERASING("$2") " GROUP BY collection ORDER BY collection");

static cu_rc collection_row(const PGresult *res, int i, void *out, cu_err *err)
{
    cu_store_collection_count *c = out;

    (void)err;
    pg_text_copy(res, i, 0, c->name, sizeof(c->name));
    c->records = (uint64_t)pg_i64(res, i, 1);
    return CU_OK;
}

cu_rc pg_subject_collections(cu_store *base, cu_id tenant, cu_id subject,
                             cu_store_collection_count **out, size_t *n, cu_err *err)
{
    return pg_read_rows(base, &Q_SUBJECT_COLLECTIONS, PG_P(pg_p_id(tenant), pg_p_id(subject)),
                        sizeof(**out), collection_row, NULL, (void **)out, n, err,
                        "list a subject's collections");
}

/* --- the blind index ---------------------------------------------------------------------- */

/* An owner is a subject or a record; either is hidden while its subject is erased. */
static pg_query Q_BLIND_FIND = PG_QUERY(
    "SELECT owner_id FROM blind_index b WHERE tenant_id = $1 AND scope = $2 AND digest = $3"
    " AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.tenant_id = $1 AND e.subject_id IN"
    " (b.owner_id, (SELECT r.subject_id FROM records r WHERE r.tenant_id = $1"
    " AND r.record_id = b.owner_id))) ORDER BY owner_id");

cu_rc pg_blind_find(cu_store *base, cu_id tenant, const char *scope, const uint8_t digest[32],
                    cu_id **ids, size_t *n, cu_err *err)
{
    return pgd_read_ids(base, &Q_BLIND_FIND,
                        PG_P(pg_p_id(tenant), pg_p_text(scope), pg_p_blob(digest, 32)), ids, n,
                        err, "search index");
}
