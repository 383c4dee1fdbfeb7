/*
 * sqlite_read.c: the SQLite backend's reads of tenants, keys, subjects, records, index
 * entries, collections and credentials. Each takes the connection's mutex; blobs it returns are
 * the caller's (store.h's cu_store_*_cleanup).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sqlite_int.h"
#include "util.h"

/* A row of S_MASTER_LIST, before sq_master_list splits the rows into its two arrays. */
typedef struct master_row {
    uint32_t version;
    uint8_t check[32];
} master_row;

static cu_rc read_master(sqlite3_stmt *st, void *row, cu_err *err)
{
    master_row *m = row;

    (void)err;
    m->version = (uint32_t)sqlite3_column_int64(st, 0);
    sq_blob32_col(st, 1, m->check);
    return CU_OK;
}

cu_rc sq_master_list(cu_store *base, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                     cu_err *err)
{
    master_row *rows = NULL;
    uint32_t *v = NULL;
    uint8_t(*c)[32] = NULL;
    size_t cnt = 0;
    cu_rc rc;

    rc = sq_list((sqlite_store *)base, S_MASTER_LIST, 0, sizeof(*rows), read_master, NULL,
                 (void **)&rows, &cnt, err, "list master keys");
    if (rc != CU_OK)
        return rc;
    if (cnt > 0 &&
        ((v = malloc(cnt * sizeof(*v))) == NULL || (c = malloc(cnt * sizeof(*c))) == NULL)) {
        free(v);
        free(rows);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        v[i] = rows[i].version;
        memcpy(c[i], rows[i].check, 32);
    }
    free(rows);
    *versions = v;
    *checks = c;
    *n = cnt;
    return CU_OK;
}

static cu_rc read_tenant(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_tenant *t = row;
    const unsigned char *name = sqlite3_column_text(st, 1);

    (void)err;
    memset(t, 0, sizeof(*t));
    t->id = (cu_id)sqlite3_column_int64(st, 0);
    cu_strlcpy(t->name, name ? (const char *)name : "", sizeof(t->name));
    t->state = sqlite3_column_int(st, 2);
    t->created_at = sqlite3_column_int64(st, 3);
    t->terminated_at = sqlite3_column_int64(st, 4);
    t->policy_version = (unsigned)sqlite3_column_int64(st, 5); /* NULL: 0, no policy */
    t->cache_gen = (uint64_t)sqlite3_column_int64(st, 6);
    return CU_OK;
}

cu_rc sq_tenant_get(cu_store *base, cu_id id, cu_store_tenant *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_TENANT_GET)) != NULL)
        sq_bind_id(st, 1, id);
    rc = sq_one(s, st, read_tenant, out, err, "read tenant", "tenant not found");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_tenant_list(cu_store *base, cu_store_tenant **out, size_t *n, cu_err *err)
{
    return sq_list((sqlite_store *)base, S_TENANT_LIST, 0, sizeof(**out), read_tenant, NULL,
                   (void **)out, n, err, "list tenants");
}

static cu_rc read_key(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_key *k = row;

    memset(k, 0, sizeof(*k));
    k->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    k->kind = (cu_key_kind)sqlite3_column_int(st, 1);
    k->owner_id = (cu_id)sqlite3_column_int64(st, 2);
    k->version = (uint32_t)sqlite3_column_int64(st, 3);
    k->parent_version = (uint32_t)sqlite3_column_int64(st, 4);
    return sq_blob_copy(st, 5, &k->wrapped, err);
}

static void keys_free(void *list, size_t n)
{
    cu_store_keys_free(list, n);
}

cu_rc sq_key_get(cu_store *base, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                 cu_store_key *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, version ? S_KEY_GET : S_KEY_GET_LATEST)) != NULL) {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int(st, 2, (int)kind);
        sq_bind_id(st, 3, owner);
        if (version)
            sqlite3_bind_int64(st, 4, version);
    }
    rc = sq_one(s, st, read_key, out, err, "read key", "key not found");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_key_list(cu_store *base, cu_id tenant, cu_key_kind kind, cu_store_key **out, size_t *n,
                  cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_KEY_LIST)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list keys");
    } else {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int(st, 2, (int)kind);
        rc = sq_collect_rows(s, st, sizeof(**out), read_key, keys_free, (void **)out, n, err,
                             "list keys");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_subject(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_subject *out = row;

    out->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    out->id = (cu_id)sqlite3_column_int64(st, 1);
    out->key_version = (uint32_t)sqlite3_column_int64(st, 2);
    out->created_at = sqlite3_column_int64(st, 3);
    out->restricted = sqlite3_column_int(st, 5);
    out->last_activity = sqlite3_column_int64(st, 6);
    return sq_blob_copy(st, 4, &out->profile, err);
}

cu_rc sq_subject_get(cu_store *base, cu_id tenant, cu_id id, cu_store_subject *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    rc = sq_one(s, sq_stmt_pair(s, S_SUBJECT_GET, tenant, id), read_subject, out, err,
                "read subject", "subject not found");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_field(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_field *f = row;
    const unsigned char *name = sqlite3_column_text(st, 0);

    if ((f->name = name ? strdup((const char *)name) : NULL) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return sq_blob_copy(st, 1, &f->ct, err);
}

static void fields_free(void *list, size_t n)
{
    cu_store_record r = {.fields = list, .nfields = n};

    cu_store_record_cleanup(&r);
}

static cu_rc read_record(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_record *out = row;

    out->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    out->id = (cu_id)sqlite3_column_int64(st, 1);
    sq_text_col(st, 2, out->collection, sizeof(out->collection));
    out->subject_id = (cu_id)sqlite3_column_int64(st, 3);
    out->key_version = (uint32_t)sqlite3_column_int64(st, 4);
    out->created_at = sqlite3_column_int64(st, 5);
    out->updated_at = sqlite3_column_int64(st, 6);
    out->version = (uint32_t)sqlite3_column_int64(st, 8);
    /* Only the single read names it (P-RET-4); a page's rows are never retained ones. */
    out->retained = sqlite3_column_count(st) > 9 ? sqlite3_column_int(st, 9) : 0;
    return sq_blob_copy(st, 7, &out->doc, err);
}

/* A record's fields, inside the read transaction that read the record. */
static cu_rc fields_read(sqlite_store *s, cu_store_record *out, cu_err *err)
{
    sqlite3_stmt *st;

    if ((st = sq_stmt_pair(s, S_FIELDS_GET, out->tenant_id, out->id)) == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "read record fields");
    return sq_collect_rows(s, st, sizeof(*out->fields), read_field, fields_free,
                           (void **)&out->fields, &out->nfields, err, "read record fields");
}

/* The record and its fields, inside the read transaction sq_record_get opened. */
static cu_rc record_read(sqlite_store *s, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err)
{
    cu_rc rc;

    rc = sq_one(s, sq_stmt_pair(s, S_RECORD_GET, tenant, id), read_record, out, err, "read record",
                "record not found");
    return rc == CU_OK ? fields_read(s, out, err) : rc;
}

cu_rc sq_record_get(cu_store *base, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_err ignored;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    /* One snapshot for the document and its fields: a commit between the two reads would
     * otherwise pair them wrongly, which the field manifest would report as tampering. */
    sq_txn_abort(s); /* one an earlier failure could not end */
    if (sq_own_txn(s) && (rc = sq_run(s, sq_stmt(s, S_BEGIN_READ), err, "begin read")) != CU_OK)
        goto out;
    rc = record_read(s, tenant, id, out, err);
    if (sq_own_txn(s) && sq_run(s, sq_stmt(s, S_COMMIT), &ignored, "end read") != CU_OK)
        sq_txn_abort(s);
    if (rc != CU_OK)
        cu_store_record_cleanup(out);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void records_free(void *list, size_t n)
{
    cu_store_record *r = list;

    for (size_t i = 0; i < n; i++)
        cu_store_record_cleanup(&r[i]);
    free(list);
}

/* The page's statement, bound; NULL on a prepare error. It has no LIMIT: page_rows counts the
 * records (a row is a field). */
static sqlite3_stmt *page_stmt(sqlite_store *s, cu_id tenant, cu_id subject, int64_t after_created,
                               cu_id after, const char *collection, int own_keyed)
{
    sqlite3_stmt *st = sq_stmt(s, own_keyed    ? S_RECORD_PAGE_OWN_KEYED
                                  : collection ? S_RECORD_PAGE_IN
                                  : subject    ? S_RECORD_PAGE_SUBJECT
                                               : S_RECORD_PAGE_OWN);

    if (st != NULL && collection != NULL)
        sqlite3_bind_text(st, 6, collection, -1, SQLITE_STATIC);
    if (st != NULL && (subject != 0 || own_keyed)) {
        sq_bind_id(st, 1, tenant);
        if (subject != 0)
            sq_bind_id(st, 2, subject);
        sqlite3_bind_int64(st, 3, after_created);
        sq_bind_id(st, 4, after);
    } else if (st != NULL) {
        sq_bind_id(st, 1, tenant);
        sq_bind_id(st, 2, after);
    }
    return st;
}

/* Adds the row's field (columns 9 and 10, its name and sealed value) to r, whose fields stay ordered by name (as
 * S_FIELDS_GET gives them): the join yields them in its key's order, which SQL does not
 * promise, so each goes to its place (one compare when they come in order). */
static cu_rc page_field(sqlite3_stmt *st, cu_store_record *r, size_t *bytes, cu_err *err)
{
    cu_store_field *nf = realloc(r->fields, (r->nfields + 1) * sizeof(*nf)), f = {0};
    const unsigned char *name;
    size_t i;
    cu_rc rc;

    if (nf == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    r->fields = nf;
    name = sqlite3_column_text(st, 9);
    if ((f.name = name ? strdup((const char *)name) : NULL) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if ((rc = sq_blob_copy(st, 10, &f.ct, err)) != CU_OK) {
        free(f.name);
        return rc;
    }
    for (i = r->nfields; i > 0 && strcmp(nf[i - 1].name, f.name) > 0; i--)
        nf[i] = nf[i - 1];
    nf[i] = f;
    r->nfields++;
    *bytes += f.ct.len;
    return CU_OK;
}

/* Steps the page's statement, a row per field of each record (rows of one record adjacent:
 * the order is by a unique key), until limit records or max_bytes of sealed values; a record
 * is taken whole. Called with s->lock held, in the page's read transaction. */
static cu_rc page_rows(sqlite_store *s, sqlite3_stmt *st, size_t limit, size_t max_bytes,
                       cu_store_record **out, size_t *n, cu_err *err)
{
    cu_store_record *r = NULL;
    size_t cap = 0, bytes = 0;
    cu_rc rc = CU_OK;
    int src;

    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (r == NULL || r->cursor != (cu_id)sqlite3_column_int64(st, 11)) { /* by rid */
            if (*n == limit || bytes >= max_bytes)
                break; /* the last record is whole: this row starts the next page's */
            if (*n == cap) {
                cu_store_record *nl = realloc(*out, (cap ? cap * 2 : 16) * sizeof(**out));
                if (nl == NULL) {
                    rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                    break;
                }
                *out = nl;
                cap = cap ? cap * 2 : 16;
            }
            r = memset(&(*out)[(*n)++], 0, sizeof(**out));
            if ((rc = read_record(st, r, err)) != CU_OK)
                break;
            r->retained = 0; /* column 9 is the field's name here; a page's rows are never
                                retained ones */
            r->cursor = (cu_id)sqlite3_column_int64(st, 11); /* its rid */
            bytes += r->doc.len;
        }
        if (sqlite3_column_type(st, 9) != SQLITE_NULL &&
            (rc = page_field(st, r, &bytes, err)) != CU_OK)
            break;
    }
    if (rc == CU_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "list records");
    sqlite3_reset(st);
    return rc;
}

/* One page (page_stmt's arguments) in one snapshot, with its fields. */
static cu_rc page_read(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                       int own_keyed, int64_t after_created, cu_id after, size_t limit,
                       size_t max_bytes, cu_store_record **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_err ignored;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    sq_txn_abort(s); /* one an earlier failure could not end */
    /* One snapshot for the page and its fields, as sq_record_get. */
    if (sq_own_txn(s) && (rc = sq_run(s, sq_stmt(s, S_BEGIN_READ), err, "begin read")) != CU_OK)
        goto out;
    st = page_stmt(s, tenant, subject, after_created, after, collection, own_keyed);
    if (st == NULL)
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list records");
    else
        rc = page_rows(s, st, limit, max_bytes, out, n, err);
    if (sq_own_txn(s) && sq_run(s, sq_stmt(s, S_COMMIT), &ignored, "end read") != CU_OK)
        sq_txn_abort(s);
    if (rc != CU_OK) {
        records_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_record_page(cu_store *base, cu_id tenant, cu_id subject, int64_t after_created,
                     cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                     size_t *n, cu_err *err)
{
    return page_read(base, tenant, subject, NULL, 0, after_created, after, limit, max_bytes, out,
                     n, err);
}

/* sq_record_page, of one collection alone when collection is not NULL (subject not 0). */
cu_rc sq_record_page_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                        int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                        cu_store_record **out, size_t *n, cu_err *err)
{
    return page_read(base, tenant, subject, collection, 0, after_created, after, limit, max_bytes,
                     out, n, err);
}

cu_rc sq_record_page_own(cu_store *base, cu_id tenant, int64_t after_created, cu_id after,
                         size_t limit, size_t max_bytes, cu_store_record **out, size_t *n,
                         cu_err *err)
{
    return page_read(base, tenant, 0, NULL, 1, after_created, after, limit, max_bytes, out, n,
                     err);
}

cu_rc sq_record_ids_by_subject(cu_store *base, cu_id tenant, cu_id subject, cu_id **ids, size_t *n,
                               cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_RECORD_BY_SUBJECT);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list records");
    } else {
        sq_bind_id(st, 1, tenant);
        sq_bind_id(st, 2, subject);
        rc = sq_collect_ids(s, st, ids, n, err, "list records");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_blind_find(cu_store *base, cu_id tenant, const char *scope, const uint8_t digest[32],
                    cu_id **ids, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_BLIND_FIND);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "search index");
    } else {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, digest, 32, SQLITE_STATIC);
        rc = sq_collect_ids(s, st, ids, n, err, "search index");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_spec(sqlite3_stmt *st, void *row, cu_err *err)
{
    const unsigned char *text = sqlite3_column_text(st, 0);
    char **spec = row;

    if ((*spec = text ? strdup((const char *)text) : NULL) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return CU_OK;
}

cu_rc sq_collection_get(cu_store *base, cu_id tenant, const char *name, char **spec, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_COLLECTION_GET)) != NULL) {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    }
    rc = sq_one(s, st, read_spec, spec, err, "read collection", "collection not declared");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_apikey(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_apikey *k = row;
    const unsigned char *name = sqlite3_column_text(st, 3);

    (void)err;
    memset(k, 0, sizeof(*k));
    k->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    k->id = (cu_id)sqlite3_column_int64(st, 1);
    k->role = sqlite3_column_int(st, 2);
    cu_strlcpy(k->name, name ? (const char *)name : "", sizeof(k->name));
    sq_blob32_col(st, 4, k->secret_hash);
    k->created_at = sqlite3_column_int64(st, 5);
    k->revoked_at = sqlite3_column_int64(st, 6);
    return CU_OK;
}

cu_rc sq_apikey_get(cu_store *base, cu_id id, cu_store_apikey *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_APIKEY_GET)) != NULL)
        sq_bind_id(st, 1, id);
    rc = sq_one(s, st, read_apikey, out, err, "read API key", "API key not found");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_apikey_list(cu_store *base, cu_id tenant, cu_store_apikey **out, size_t *n, cu_err *err)
{
    return sq_list((sqlite_store *)base, S_APIKEY_LIST, tenant, sizeof(**out), read_apikey, NULL,
                   (void **)out, n, err, "list API keys");
}

/* Reads a row of USER_COLS; on failure u holds nothing to release. */
static cu_rc read_user(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_user *u = row;
    const unsigned char *hash = sqlite3_column_text(st, 6);
    cu_rc rc;

    memset(u, 0, sizeof(*u));
    u->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    u->id = (cu_id)sqlite3_column_int64(st, 1);
    u->role = sqlite3_column_int(st, 2);
    sq_blob32_col(st, 3, u->email_digest);
    u->key_version = (uint32_t)sqlite3_column_int64(st, 5);
    cu_strlcpy(u->password_hash, hash ? (const char *)hash : "", sizeof(u->password_hash));
    u->totp_key_version = (uint32_t)sqlite3_column_int64(st, 8);
    u->totp_pending_key_version = (uint32_t)sqlite3_column_int64(st, 10);
    u->totp_enabled = sqlite3_column_int(st, 11);
    u->totp_last_step = sqlite3_column_int64(st, 12);
    u->failures = sqlite3_column_int(st, 13);
    u->window_start = sqlite3_column_int64(st, 14);
    u->locked_until = sqlite3_column_int64(st, 15);
    u->created_at = sqlite3_column_int64(st, 16);
    rc = sq_blob_copy(st, 4, &u->email, err);
    if (rc == CU_OK)
        rc = sq_blob_copy_opt(st, 7, &u->totp_secret, err);
    if (rc == CU_OK)
        rc = sq_blob_copy_opt(st, 9, &u->totp_pending, err);
    if (rc != CU_OK)
        cu_store_user_cleanup(u);
    return rc;
}

static void users_free(void *list, size_t n)
{
    cu_store_users_free(list, n);
}

cu_rc sq_user_get(cu_store *base, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    rc = sq_one(s, sq_stmt_pair(s, S_USER_GET, tenant, id), read_user, out, err, "read user",
                "user not found");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_user_find(cu_store *base, cu_id tenant, const uint8_t digest[32], cu_store_user *out,
                   cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_USER_FIND)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "find user");
    } else {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_blob(st, 2, digest, 32, SQLITE_STATIC);
        rc = sq_one(s, st, read_user, out, err, "read user", "user not found");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_user_list(cu_store *base, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err)
{
    return sq_list((sqlite_store *)base, S_USER_LIST, tenant, sizeof(**out), read_user, users_free,
                   (void **)out, n, err, "list users");
}

static cu_rc read_session(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_session *out = row;

    (void)err;
    sq_blob32_col(st, 0, out->token_hash);
    out->tenant_id = (cu_id)sqlite3_column_int64(st, 1);
    out->user_id = (cu_id)sqlite3_column_int64(st, 2);
    out->created_at = sqlite3_column_int64(st, 3);
    out->expires_at = sqlite3_column_int64(st, 4);
    out->role = sqlite3_column_int(st, 5);
    return CU_OK;
}

cu_rc sq_session_get(cu_store *base, const uint8_t token_hash[32], cu_store_session *out,
                     cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_SESSION_GET)) != NULL)
        sqlite3_bind_blob(st, 1, token_hash, 32, SQLITE_STATIC);
    rc = sq_one(s, st, read_session, out, err, "read session", "session not found");
    pthread_mutex_unlock(&s->lock);
    return rc;
}
