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
    bind_opt_text(st, 10, f->object_prefix);
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

/*
 * Whether a row's columns agree with its stored encoding (P-AUD-2) is decided inside SQLite's
 * step, by cu_audit_row() below: the columns reach it as values, never as result columns, and
 * each is compared where it lies in the encoding, without building one. Reading the columns
 * out one call at a time, and the encoding and prev beside them, was about half of verify's
 * SQLite time (bench/README.md, bench_audit, 2026-12-03). It is a check, not a shortcut: an
 * attacker who edits a column (an actor, an object, a time) and leaves the encoding and hash
 * alone would change what the listing shows and which entries its filters find, so every
 * column of every row is still compared.
 *
 * Columns of ROWS_SQL: seq, hash, and cu_audit_row(canon, the columns): the entry's encoding
 * (the stored one, or for a row stored without one, its columns') when the columns agree with
 * it, ending in prev; when they do not, the row's prev column alone, 32 bytes (an encoding has
 * at least 79), which the chain's link is checked with before the row is found altered.
 */
#define ROW_ARGS 13 /* canon, tenant_id, seq, at, the CU_AUDIT_TEXTS, digest, prev */
#define ROWS_SQL                                                                                   \
    "SELECT seq, hash, cu_audit_row(canon, tenant_id, seq, at, actor, action, object, purpose,"    \
    " source, request_id, outcome, digest, prev) FROM audit_log"                                   \
    " WHERE tenant_id = ? AND seq >= ? AND seq <= ? ORDER BY seq"

static const uint8_t zero32[32];

/* A 32-byte column as sq_blob32_col reads it: zeros unless it holds 32 bytes. */
static const uint8_t *val32(sqlite3_value *v)
{
    const void *b = sqlite3_value_blob(v);

    return b != NULL && sqlite3_value_bytes(v) == 32 ? b : zero32;
}

static uint64_t be64(const uint8_t *b)
{
    uint64_t x = 0;

    for (int i = 0; i < 8; i++)
        x = x << 8 | b[i];
    return x;
}

/* Whether the columns a[1..12] encode to c[0..len) byte for byte, as cu_audit_canon() would
 * write them (audit_canon.c's layout): each member compared in place. */
static int columns_agree(const uint8_t *c, size_t len, sqlite3_value **a)
{
    const uint8_t *digest = sqlite3_value_type(a[11]) == SQLITE_NULL ? NULL : val32(a[11]);
    size_t n = 9 + 3 * 8;

    if (len < n || memcmp(c, digest ? "cu-audit2" : "cu-audit1", 9) != 0 ||
        be64(c + 9) != (uint64_t)sqlite3_value_int64(a[1]) ||
        be64(c + 17) != (uint64_t)sqlite3_value_int64(a[2]) ||
        be64(c + 25) != (uint64_t)sqlite3_value_int64(a[3]))
        return 0;
    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        const unsigned char *t = sqlite3_value_text(a[4 + i]);
        size_t l = (size_t)sqlite3_value_bytes(a[4 + i]);
        if (l > cu_audit_text_max[i] || n + 2 + l > len || c[n] != (uint8_t)(l >> 8) ||
            c[n + 1] != (uint8_t)l || (l > 0 && memcmp(c + n + 2, t, l) != 0))
            return 0;
        n += 2 + l;
    }
    if (digest != NULL) {
        if (n + 32 > len || memcmp(c + n, digest, 32) != 0)
            return 0;
        n += 32;
    }
    return n + 32 == len && memcmp(c + n, val32(a[12]), 32) == 0;
}

/* cu_audit_row(canon, tenant_id, seq, at, actor, ..., outcome, digest, prev), see above. */
static void row_fn(sqlite3_context *cx, int argc, sqlite3_value **a)
{
    const uint8_t *c = sqlite3_value_blob(a[0]);
    uint8_t mine[CU_AUDIT_CANON_MAX];
    cu_audit_fields f;
    size_t n;

    (void)argc;
    if (c != NULL) {
        n = (size_t)sqlite3_value_bytes(a[0]);
        if (columns_agree(c, n, a))
            sqlite3_result_blob(cx, c, (int)n, SQLITE_TRANSIENT);
        else
            sqlite3_result_blob(cx, val32(a[12]), 32, SQLITE_TRANSIENT);
        return;
    }
    /* None stored (a row written by hand): the columns' encoding, which verify hashes. */
    f = (cu_audit_fields){.tenant_id = (cu_id)sqlite3_value_int64(a[1]),
                          .seq = (uint64_t)sqlite3_value_int64(a[2]),
                          .at = sqlite3_value_int64(a[3]),
                          .digest = sqlite3_value_type(a[11]) == SQLITE_NULL ? NULL : val32(a[11]),
                          .prev = val32(a[12])};
    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        f.text[i] = (const char *)sqlite3_value_text(a[4 + i]);
        f.len[i] = (size_t)sqlite3_value_bytes(a[4 + i]);
    }
    /* 0: a text longer than its member may be, not Custos's: found altered. */
    if ((n = cu_audit_canon(&f, mine)) == 0)
        sqlite3_result_blob(cx, val32(a[12]), 32, SQLITE_TRANSIENT);
    else
        sqlite3_result_blob(cx, mine, (int)n, SQLITE_TRANSIENT);
}

/* ROWS_SQL on s, with cu_audit_row registered on the connection the first time it is
 * needed there (registering a new function expires no prepared statement; redefining one
 * would). DIRECTONLY: a view or trigger planted in the file cannot call it. */
static int rows_prepare(sqlite_store *s, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, ROWS_SQL, -1, st, NULL) == SQLITE_OK)
        return SQLITE_OK;
    if (sqlite3_create_function(s->db, "cu_audit_row", ROW_ARGS,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                row_fn, NULL, NULL) != SQLITE_OK)
        return sqlite3_errcode(s->db);
    return sqlite3_prepare_v2(s->db, ROWS_SQL, -1, st, NULL);
}

/* A ROWS_SQL row into a slot: the entry's encoding and whether its columns agree with it, or
 * (they do not) its prev column alone. */
static void read_row(sqlite3_stmt *st, row_slot *o)
{
    const uint8_t *b = sqlite3_column_blob(st, 2);
    size_t len = (size_t)sqlite3_column_bytes(st, 2);

    o->r = (cu_audit_row){.seq = (uint64_t)sqlite3_column_int64(st, 0),
                          .prev = o->prev,
                          .hash = o->hash,
                          .canon = o->canon};
    sq_blob32_col(st, 1, o->hash);
    o->r.agrees = b != NULL && len > 32 && len <= sizeof(o->canon);
    if (!o->r.agrees) {
        memcpy(o->prev, b != NULL && len == 32 ? b : zero32, 32);
        return;
    }
    memcpy(o->canon, b, len);
    o->r.canon_len = len;
    memcpy(o->prev, b + len - 32, 32); /* the prev column: they agree */
}

/* In pages, like sq_audit_scan: the connection is not held while fn works (hashing). */
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
        if (st == NULL && rows_prepare(s, &st) != SQLITE_OK)
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
    m->cursor = (cu_id)sqlite3_column_int64(st, 7); /* its rid */
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
