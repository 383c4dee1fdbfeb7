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

cu_rc sq_master_list(cu_store *base, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                     cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    uint32_t *v = NULL;
    uint8_t(*c)[32] = NULL;
    size_t cnt = 0, cap = 0;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_MASTER_LIST);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list master keys");
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            uint32_t *nv = realloc(v, ncap * sizeof(*v));
            uint8_t(*nc)[32] = nv ? realloc(c, ncap * sizeof(*c)) : NULL;
            if (nv)
                v = nv;
            if (nc == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            c = nc;
            cap = ncap;
        }
        v[cnt] = (uint32_t)sqlite3_column_int64(st, 0);
        memset(c[cnt], 0, 32);
        if (sqlite3_column_bytes(st, 1) == 32)
            memcpy(c[cnt], sqlite3_column_blob(st, 1), 32);
        cnt++;
    }
    if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "list master keys");
out:
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        free(v);
        free(c);
        return rc;
    }
    *versions = v;
    *checks = c;
    *n = cnt;
    return CU_OK;
}

static void read_tenant(sqlite3_stmt *st, cu_store_tenant *t)
{
    const unsigned char *name = sqlite3_column_text(st, 1);

    memset(t, 0, sizeof(*t));
    t->id = (cu_id)sqlite3_column_int64(st, 0);
    cu_strlcpy(t->name, name ? (const char *)name : "", sizeof(t->name));
    t->state = sqlite3_column_int(st, 2);
    t->created_at = sqlite3_column_int64(st, 3);
    t->terminated_at = sqlite3_column_int64(st, 4);
    t->policy_version = (unsigned)sqlite3_column_int64(st, 5); /* NULL: 0, no policy */
}

cu_rc sq_tenant_get(cu_store *base, cu_id id, cu_store_tenant *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_TENANT_GET);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read tenant");
        goto out;
    }
    sq_bind_id(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        read_tenant(st, out);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "tenant not found");
    else
        rc = sq_db_error(s, src, err, "read tenant");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc row_tenant(sqlite3_stmt *st, void *row, cu_err *err)
{
    (void)err;
    read_tenant(st, row);
    return CU_OK;
}

cu_rc sq_tenant_list(cu_store *base, cu_store_tenant **out, size_t *n, cu_err *err)
{
    return sq_list((sqlite_store *)base, S_TENANT_LIST, 0, sizeof(**out), row_tenant, NULL,
                   (void **)out, n, err, "list tenants");
}

static cu_rc read_key(sqlite3_stmt *st, cu_store_key *k, cu_err *err)
{
    memset(k, 0, sizeof(*k));
    k->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    k->kind = (cu_key_kind)sqlite3_column_int(st, 1);
    k->owner_id = (cu_id)sqlite3_column_int64(st, 2);
    k->version = (uint32_t)sqlite3_column_int64(st, 3);
    k->parent_version = (uint32_t)sqlite3_column_int64(st, 4);
    return sq_blob_copy(st, 5, &k->wrapped, err);
}

cu_rc sq_key_get(cu_store *base, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                 cu_store_key *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, version ? S_KEY_GET : S_KEY_GET_LATEST);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read key");
        goto out;
    }
    sq_bind_id(st, 1, tenant);
    sqlite3_bind_int(st, 2, (int)kind);
    sq_bind_id(st, 3, owner);
    if (version)
        sqlite3_bind_int64(st, 4, version);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = read_key(st, out, err);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "key not found");
    else
        rc = sq_db_error(s, src, err, "read key");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc row_key(sqlite3_stmt *st, void *row, cu_err *err)
{
    return read_key(st, row, err);
}

static void keys_free(void *list, size_t n)
{
    cu_store_keys_free(list, n);
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
        rc = sq_collect_rows(s, st, sizeof(**out), row_key, keys_free, (void **)out, n, err,
                             "list keys");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_subject_get(cu_store *base, cu_id tenant, cu_id id, cu_store_subject *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_SUBJECT_GET);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read subject");
        goto out;
    }
    sq_bind_id(st, 1, tenant);
    sq_bind_id(st, 2, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
        out->id = (cu_id)sqlite3_column_int64(st, 1);
        out->key_version = (uint32_t)sqlite3_column_int64(st, 2);
        out->created_at = sqlite3_column_int64(st, 3);
        out->restricted = sqlite3_column_int(st, 5);
        out->last_activity = sqlite3_column_int64(st, 6);
        rc = sq_blob_copy(st, 4, &out->profile, err);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "subject not found");
    } else {
        rc = sq_db_error(s, src, err, "read subject");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_fields(sqlite_store *s, cu_store_record *r, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, S_FIELDS_GET);
    size_t cap = 0;
    cu_rc rc = CU_OK;
    int src;

    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "read record fields");
    sq_bind_id(st, 1, r->tenant_id);
    sq_bind_id(st, 2, r->id);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cu_store_field *f;
        if (r->nfields == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            cu_store_field *nf = realloc(r->fields, ncap * sizeof(*nf));
            if (nf == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            r->fields = nf;
            cap = ncap;
        }
        f = &r->fields[r->nfields];
        memset(f, 0, sizeof(*f));
        const unsigned char *name = sqlite3_column_text(st, 0);
        f->name = name ? strdup((const char *)name) : NULL;
        if (f->name == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            goto out;
        }
        r->nfields++;
        if ((rc = sq_blob_copy(st, 1, &f->ct, err)) != CU_OK)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "read record fields");
out:
    sqlite3_reset(st);
    return rc;
}

cu_rc sq_record_get(cu_store *base, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    /* One snapshot for the document and its fields: a commit between the two reads would
     * otherwise pair them wrongly, which the field manifest would report as tampering. */
    sq_txn_abort(s); /* one an earlier failure could not end */
    if ((rc = sq_run(s, sq_stmt(s, S_BEGIN_READ), err, "begin read")) != CU_OK)
        goto out;
    st = sq_stmt(s, S_RECORD_GET);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read record");
        goto end;
    }
    sq_bind_id(st, 1, tenant);
    sq_bind_id(st, 2, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *coll = sqlite3_column_text(st, 2);
        out->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
        out->id = (cu_id)sqlite3_column_int64(st, 1);
        cu_strlcpy(out->collection, coll ? (const char *)coll : "", sizeof(out->collection));
        out->subject_id = (cu_id)sqlite3_column_int64(st, 3);
        out->key_version = (uint32_t)sqlite3_column_int64(st, 4);
        out->created_at = sqlite3_column_int64(st, 5);
        out->updated_at = sqlite3_column_int64(st, 6);
        out->version = (uint32_t)sqlite3_column_int64(st, 8);
        rc = sq_blob_copy(st, 7, &out->doc, err);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "record not found");
    } else {
        rc = sq_db_error(s, src, err, "read record");
    }
    sqlite3_reset(st);
    if (rc == CU_OK)
        rc = read_fields(s, out, err);
end : {
    cu_err ignored;
    if (sq_run(s, sq_stmt(s, S_COMMIT), &ignored, "end read") != CU_OK)
        sq_txn_abort(s);
}
    if (rc != CU_OK)
        cu_store_record_cleanup(out);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
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

cu_rc sq_collection_get(cu_store *base, cu_id tenant, const char *name, char **spec, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_COLLECTION_GET);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read collection");
        goto out;
    }
    sq_bind_id(st, 1, tenant);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(st, 0);
        *spec = text ? strdup((const char *)text) : NULL;
        if (*spec == NULL)
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "collection not declared");
    } else {
        rc = sq_db_error(s, src, err, "read collection");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Copies a 32-byte digest column; a value of another length leaves zeros, which match
 * nothing. */
static void digest_copy(sqlite3_stmt *st, int col, uint8_t out[32])
{
    memset(out, 0, 32);
    if (sqlite3_column_bytes(st, col) == 32)
        memcpy(out, sqlite3_column_blob(st, col), 32);
}

static void read_apikey(sqlite3_stmt *st, cu_store_apikey *k)
{
    const unsigned char *name = sqlite3_column_text(st, 3);

    memset(k, 0, sizeof(*k));
    k->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    k->id = (cu_id)sqlite3_column_int64(st, 1);
    k->role = sqlite3_column_int(st, 2);
    cu_strlcpy(k->name, name ? (const char *)name : "", sizeof(k->name));
    digest_copy(st, 4, k->secret_hash);
    k->created_at = sqlite3_column_int64(st, 5);
    k->revoked_at = sqlite3_column_int64(st, 6);
}

cu_rc sq_apikey_get(cu_store *base, cu_id id, cu_store_apikey *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_APIKEY_GET);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read API key");
        goto out;
    }
    sq_bind_id(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        read_apikey(st, out);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "API key not found");
    else
        rc = sq_db_error(s, src, err, "read API key");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc row_apikey(sqlite3_stmt *st, void *row, cu_err *err)
{
    (void)err;
    read_apikey(st, row);
    return CU_OK;
}

cu_rc sq_apikey_list(cu_store *base, cu_id tenant, cu_store_apikey **out, size_t *n, cu_err *err)
{
    return sq_list((sqlite_store *)base, S_APIKEY_LIST, tenant, sizeof(**out), row_apikey, NULL,
                   (void **)out, n, err, "list API keys");
}

/* Reads a row of USER_COLS; on failure u holds nothing to release. */
static cu_rc read_user(sqlite3_stmt *st, cu_store_user *u, cu_err *err)
{
    const unsigned char *hash = sqlite3_column_text(st, 6);
    cu_rc rc;

    memset(u, 0, sizeof(*u));
    u->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    u->id = (cu_id)sqlite3_column_int64(st, 1);
    u->role = sqlite3_column_int(st, 2);
    digest_copy(st, 3, u->email_digest);
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

/* Runs a bound statement that selects at most one user. */
static cu_rc user_one(sqlite_store *s, sqlite3_stmt *st, cu_store_user *out, cu_err *err)
{
    int src = sqlite3_step(st);
    cu_rc rc;

    if (src == SQLITE_ROW)
        rc = read_user(st, out, err);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "user not found");
    else
        rc = sq_db_error(s, src, err, "read user");
    sqlite3_reset(st);
    return rc;
}

cu_rc sq_user_get(cu_store *base, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    st = sq_stmt_pair(s, S_USER_GET, tenant, id);
    if (st == NULL)
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read user");
    else
        rc = user_one(s, st, out, err);
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
    st = sq_stmt(s, S_USER_FIND);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "find user");
    } else {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_blob(st, 2, digest, 32, SQLITE_STATIC);
        rc = user_one(s, st, out, err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc row_user(sqlite3_stmt *st, void *row, cu_err *err)
{
    return read_user(st, row, err);
}

static void users_free(void *list, size_t n)
{
    cu_store_users_free(list, n);
}

cu_rc sq_user_list(cu_store *base, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err)
{
    return sq_list((sqlite_store *)base, S_USER_LIST, tenant, sizeof(**out), row_user, users_free,
                   (void **)out, n, err, "list users");
}

cu_rc sq_session_get(cu_store *base, const uint8_t token_hash[32], cu_store_session *out,
                     cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_SESSION_GET);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read session");
        goto out;
    }
    sqlite3_bind_blob(st, 1, token_hash, 32, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        digest_copy(st, 0, out->token_hash);
        out->tenant_id = (cu_id)sqlite3_column_int64(st, 1);
        out->user_id = (cu_id)sqlite3_column_int64(st, 2);
        out->created_at = sqlite3_column_int64(st, 3);
        out->expires_at = sqlite3_column_int64(st, 4);
        out->role = sqlite3_column_int(st, 5);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "session not found");
    } else {
        rc = sq_db_error(s, src, err, "read session");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
