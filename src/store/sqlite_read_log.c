/*
 * sqlite_read_log.c: the SQLite backend's reads of the audit log, policies, consent ledger,
 * legal holds and the sweep's listings. Each takes the connection's mutex.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "audit_canon.h"
#include "sqlite_int.h"
#include "util.h"

/* Reads an AUDIT_COLS row. A tampered row reads as what it holds; verification judges it. */
static void read_audit(sqlite3_stmt *st, cu_audit_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    e->seq = (uint64_t)sqlite3_column_int64(st, 1);
    e->at = sqlite3_column_int64(st, 2);
    sq_text_col(st, 3, e->actor, sizeof(e->actor));
    sq_text_col(st, 4, e->action, sizeof(e->action));
    sq_text_col(st, 5, e->object, sizeof(e->object));
    sq_text_col(st, 6, e->purpose, sizeof(e->purpose));
    sq_text_col(st, 7, e->source, sizeof(e->source));
    sq_text_col(st, 8, e->request_id, sizeof(e->request_id));
    sq_text_col(st, 9, e->outcome, sizeof(e->outcome));
    sq_blob32_col(st, 10, e->prev);
    sq_blob32_col(st, 11, e->hash);
    /* A digest of any other length reads as one of zeros: the entry then fails its hash. */
    if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
        e->has_digest = 1;
        sq_blob32_col(st, 12, e->digest);
    }
}

cu_rc sq_policy_grant_get(cu_store *base, cu_id tenant, int *admins, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *admins = 0;
    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_POLICY_GRANT_GET)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the policy grant");
        goto out;
    }
    sq_bind_id(st, 1, tenant);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *admins = sqlite3_column_int(st, 0) != 0;
    else if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "read the policy grant");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_audit_key_get(cu_store *base, uint8_t pk[32], int *found, int *checkpoints, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *found = 0;
    *checkpoints = 0;
    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_AUDIT_KEY_GET)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the audit public key");
        goto out;
    }
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *found = sqlite3_column_bytes(st, 0) == 32;
        if (*found)
            sq_blob32_col(st, 0, pk);
        *checkpoints = sqlite3_column_int(st, 1) != 0;
    } else {
        rc = sq_db_error(s, src, err, "read the audit public key");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_audit_head(cu_store *base, cu_id tenant, uint64_t *seq, uint8_t hash[32], cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *seq = 0;
    memset(hash, 0, 32);
    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_AUDIT_HEAD);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read audit head");
        goto out;
    }
    sq_bind_id(st, 1, tenant);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        sq_blob32_col(st, 1, hash);
    } else if (src != SQLITE_DONE) {
        rc = sq_db_error(s, src, err, "read audit head");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

cu_rc sq_audit_list(cu_store *base, cu_id tenant, const cu_audit_filter *f, cu_audit_entry **out,
                    size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    size_t limit = f->limit == 0 ? 100 : f->limit > 1000 ? 1000 : f->limit, cnt = 0;
    cu_audit_entry *list = calloc(limit, sizeof(*list));
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    if (list == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_AUDIT_LIST);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list audit entries");
        goto out;
    }
    sq_bind_id(st, 1, tenant);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)f->after_seq);
    bind_opt_text(st, 3, f->actor);
    bind_opt_text(st, 4, f->action);
    bind_opt_text(st, 5, f->object);
    bind_opt_text(st, 6, f->purpose);
    sqlite3_bind_int64(st, 7, f->from_ms);
    sqlite3_bind_int64(st, 8, f->to_ms);
    sqlite3_bind_int64(st, 9, (sqlite3_int64)limit);
    while (cnt < limit && (src = sqlite3_step(st)) == SQLITE_ROW)
        read_audit(st, &list[cnt++]);
    if (cnt < limit && src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "list audit entries");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        free(list);
        return rc;
    }
    *out = list;
    *n = cnt;
    return CU_OK;
}

/* Reads in pages, so that the store lock is not held while fn works and writers go on. */
cu_rc sq_audit_scan(cu_store *base, cu_id tenant, uint64_t from,
                    int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err)
{
    enum { PAGE = 4096 };
    sqlite_store *s = (sqlite_store *)base;
    cu_audit_entry *page = malloc(PAGE * sizeof(*page));
    cu_rc rc = CU_OK;

    if (page == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (;;) {
        sqlite3_stmt *st;
        size_t cnt = 0;
        int src = SQLITE_DONE, stop = 0;
        pthread_mutex_lock(&s->lock);
        st = sq_stmt(s, S_AUDIT_SCAN);
        if (st == NULL) {
            rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the audit log");
            pthread_mutex_unlock(&s->lock);
            break;
        }
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
        while (cnt < PAGE && (src = sqlite3_step(st)) == SQLITE_ROW)
            read_audit(st, &page[cnt++]);
        if (cnt < PAGE && src != SQLITE_DONE)
            rc = sq_db_error(s, src, err, "read the audit log");
        sqlite3_reset(st);
        pthread_mutex_unlock(&s->lock);
        for (size_t i = 0; rc == CU_OK && i < cnt && !stop; i++)
            stop = fn(arg, &page[i]);
        if (rc != CU_OK || stop || cnt < PAGE)
            break;
        from = page[cnt - 1].seq + 1;
    }
    free(page);
    return rc;
}

/* One page slot of audit_rows: the row and the bytes it points to. */
typedef struct row_slot {
    cu_audit_row r;
    uint8_t prev[32], hash[32];
    uint8_t canon[CU_AUDIT_CANON_MAX];
} row_slot;

/* Columns of ROWS_SQL: seq, prev, hash, canon, then those an encoding is made of. */
#define ROWS_SQL                                                                                   \
    "SELECT seq, prev, hash, canon, tenant_id, at, actor, action, object, purpose, source,"        \
    " request_id, outcome, digest FROM audit_log WHERE tenant_id = ? AND seq >= ? AND seq <= ?"    \
    " ORDER BY seq"

/* A ROWS_SQL row into a slot: its stored encoding, and whether its columns encode to it (an
 * entry stored without one gets theirs). Reading the columns as pointers, without copies. */
static void read_row(sqlite3_stmt *st, row_slot *o)
{
    static const uint8_t zero[32];
    uint8_t mine[CU_AUDIT_CANON_MAX];
    const void *stored;
    size_t n, len;
    cu_audit_fields f = {.tenant_id = (cu_id)sqlite3_column_int64(st, 4),
                         .seq = (uint64_t)sqlite3_column_int64(st, 0),
                         .at = sqlite3_column_int64(st, 5),
                         .prev = o->prev};

    o->r = (cu_audit_row){.seq = f.seq, .prev = o->prev, .hash = o->hash, .canon = o->canon};
    sq_blob32_col(st, 1, o->prev);
    sq_blob32_col(st, 2, o->hash);
    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        f.text[i] = (const char *)sqlite3_column_text(st, 6 + i);
        f.len[i] = (size_t)sqlite3_column_bytes(st, 6 + i);
    }
    if (sqlite3_column_type(st, 13) != SQLITE_NULL)
        f.digest = sqlite3_column_bytes(st, 13) == 32 ? sqlite3_column_blob(st, 13) : zero;
    n = cu_audit_canon(&f, mine);
    stored = sqlite3_column_blob(st, 3);
    len = (size_t)sqlite3_column_bytes(st, 3);
    if (stored == NULL) { /* none stored: the columns' encoding */
        stored = mine;
        len = n;
    }
    o->r.canon_len = len < sizeof(o->canon) ? len : sizeof(o->canon);
    memcpy(o->canon, stored, o->r.canon_len);
    o->r.agrees = n > 0 && len == n && memcmp(stored, mine, n) == 0;
}

/* In pages, like sq_audit_scan: the connection is not held while fn works. */
cu_rc sq_audit_rows(cu_store *base, cu_id tenant, uint64_t from, uint64_t to,
                    int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err)
{
    enum { PAGE = 2048 };
    sqlite_store *s = (sqlite_store *)base;
    row_slot *page = malloc(PAGE * sizeof(*page));
    sqlite3_stmt *st = NULL;
    cu_rc rc = CU_OK;
    int stop = 0;

    if (page == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    while (rc == CU_OK && !stop && from <= to) {
        size_t cnt = 0;
        int src = SQLITE_DONE;
        pthread_mutex_lock(&s->lock);
        if (st == NULL && sqlite3_prepare_v2(s->db, ROWS_SQL, -1, &st, NULL) != SQLITE_OK)
            rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the audit log");
        if (rc == CU_OK) {
            sq_bind_id(st, 1, tenant);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
            sqlite3_bind_int64(st, 3, to > INT64_MAX ? INT64_MAX : (sqlite3_int64)to);
            while (cnt < PAGE && (src = sqlite3_step(st)) == SQLITE_ROW)
                read_row(st, &page[cnt++]);
            if (cnt < PAGE && src != SQLITE_DONE)
                rc = sq_db_error(s, src, err, "read the audit log");
            sqlite3_reset(st);
        }
        pthread_mutex_unlock(&s->lock);
        for (size_t i = 0; rc == CU_OK && i < cnt && !stop; i++)
            stop = fn(arg, &page[i].r);
        if (cnt < PAGE || page[cnt - 1].r.seq == UINT64_MAX)
            break;
        from = page[cnt - 1].r.seq + 1;
    }
    pthread_mutex_lock(&s->lock);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    free(page);
    return rc;
}

cu_rc sq_audit_seq_before(cu_store *base, cu_id tenant, int64_t before_ms, uint64_t *seq,
                          cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *seq = 0;
    pthread_mutex_lock(&s->lock);
    st = sq_stmt(s, S_AUDIT_BEFORE);
    if (st == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the audit log");
        goto out;
    }
    sq_bind_id(st, 1, tenant);
    sqlite3_bind_int64(st, 2, before_ms);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
    else if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "read the audit log");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_checkpoint(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_audit_checkpoint *c = row;

    (void)err;
    c->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    c->seq = (uint64_t)sqlite3_column_int64(st, 1);
    c->at = sqlite3_column_int64(st, 2);
    sq_blob32_col(st, 3, c->hash);
    if (sqlite3_column_bytes(st, 4) == 64)
        memcpy(c->sig, sqlite3_column_blob(st, 4), 64);
    c->anchor = sqlite3_column_int(st, 5) != 0;
    return CU_OK;
}

cu_rc sq_audit_checkpoints(cu_store *base, cu_id tenant, cu_audit_checkpoint **out, size_t *n,
                           cu_err *err)
{
    return sq_list((sqlite_store *)base, S_CKPT_LIST, tenant, sizeof(**out), read_checkpoint, NULL,
                   (void **)out, n, err, "list audit checkpoints");
}

/* Where a policy row goes: S_POLICY_GET and S_POLICY_AT select version, text (, created_at). */
typedef struct policy_row {
    unsigned *version;
    char **text;
    int64_t *created_at; /* NULL: not asked for */
} policy_row;

static cu_rc read_policy(sqlite3_stmt *st, void *row, cu_err *err)
{
    const policy_row *p = row;
    const unsigned char *t = sqlite3_column_text(st, 1);

    *p->version = (unsigned)sqlite3_column_int64(st, 0);
    if (p->created_at != NULL)
        *p->created_at = sqlite3_column_int64(st, 2);
    if ((*p->text = t ? strdup((const char *)t) : NULL) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return CU_OK;
}

cu_rc sq_policy_at(cu_store *base, cu_id tenant, unsigned *version, char **text,
                   int64_t *created_at, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    policy_row row = {version, text, created_at};
    sqlite3_stmt *st;
    cu_rc rc;

    *text = NULL;
    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_POLICY_AT)) != NULL) {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int64(st, 2, *version);
    }
    rc = sq_one(s, st, read_policy, &row, err, "read a policy version", "no such policy version");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_policy_get(cu_store *base, cu_id tenant, unsigned *version, char **text, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    policy_row row = {version, text, NULL};
    sqlite3_stmt *st;
    cu_rc rc;

    *text = NULL;
    *version = 0;
    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, S_POLICY_GET)) != NULL)
        sq_bind_id(st, 1, tenant);
    rc = sq_one(s, st, read_policy, &row, err, "read the tenant's policy",
                "the tenant has no policy");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_record_meta(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_record_meta *m = row;
    const unsigned char *coll = sqlite3_column_text(st, 2);

    (void)err;
    m->id = (cu_id)sqlite3_column_int64(st, 0);
    m->subject_id = (cu_id)sqlite3_column_int64(st, 1); /* NULL reads as 0 */
    cu_strlcpy(m->collection, coll ? (const char *)coll : "", sizeof(m->collection));
    m->created_at = sqlite3_column_int64(st, 3);
    m->updated_at = sqlite3_column_int64(st, 4);
    m->anonymized = sqlite3_column_int(st, 5);
    m->retained = sqlite3_column_int(st, 6);
    return CU_OK;
}

cu_rc sq_record_meta_list(cu_store *base, cu_id tenant, cu_id after, size_t limit,
                          cu_store_record_meta **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt_pair(s, S_RECORD_META, tenant, after)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list records");
    } else {
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
        rc = sq_collect_rows(s, st, sizeof(**out), read_record_meta, NULL, (void **)out, n, err,
                             "list records");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_subject_ids(cu_store *base, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                     size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt_pair(s, S_SUBJECT_IDS, tenant, after)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "list subjects");
    } else {
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
        rc = sq_collect_ids(s, st, ids, n, err, "list subjects");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_subject_state(cu_store *base, cu_id tenant, cu_id subject, int *restricted,
                       int64_t *last_activity, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt_pair(s, S_SUBJECT_STATE, tenant, subject)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read subject");
    } else if ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (restricted)
            *restricted = sqlite3_column_int(st, 0);
        if (last_activity)
            *last_activity = sqlite3_column_int64(st, 1);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "subject not found");
    } else {
        rc = sq_db_error(s, src, err, "read subject");
    }
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_consent(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_consent *c = row;

    (void)err;
    c->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    c->subject_id = (cu_id)sqlite3_column_int64(st, 1);
    c->seq = (uint64_t)sqlite3_column_int64(st, 2);
    sq_text_col(st, 3, c->purpose, sizeof(c->purpose));
    c->action = sqlite3_column_int(st, 4);
    c->at = sqlite3_column_int64(st, 5);
    sq_text_col(st, 6, c->source, sizeof(c->source));
    sq_text_col(st, 7, c->policy_version, sizeof(c->policy_version));
    return CU_OK;
}

cu_rc sq_consent_list(cu_store *base, cu_id tenant, cu_id subject, const char *purpose,
                      cu_store_consent **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt_pair(s, purpose ? S_CONSENT_LAST : S_CONSENT_LIST, tenant, subject)) ==
        NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, "read the consent ledger");
    } else {
        if (purpose)
            sqlite3_bind_text(st, 3, purpose, -1, SQLITE_STATIC);
        rc = sq_collect_rows(s, st, sizeof(**out), read_consent, NULL, (void **)out, n, err,
                             "read the consent ledger");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_hold(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_hold *h = row;
    cu_rc rc;

    h->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    h->id = (cu_id)sqlite3_column_int64(st, 1);
    h->subject_id = (cu_id)sqlite3_column_int64(st, 2);
    h->record_id = (cu_id)sqlite3_column_int64(st, 3);
    h->key_version = (uint32_t)sqlite3_column_int64(st, 5);
    h->created_at = sqlite3_column_int64(st, 6);
    h->released_at = sqlite3_column_int64(st, 7);
    if ((rc = sq_blob_copy(st, 4, &h->reason, err)) != CU_OK)
        return rc;
    return sq_blob_copy_opt(st, 8, &h->release_reason, err);
}

static void holds_free(void *list, size_t n)
{
    cu_store_holds_free(list, n);
}

cu_rc sq_hold_list(cu_store *base, cu_id tenant, cu_store_hold **out, size_t *n, cu_err *err)
{
    return sq_list((sqlite_store *)base, S_HOLD_LIST, tenant, sizeof(**out), read_hold, holds_free,
                   (void **)out, n, err, "list legal holds");
}
