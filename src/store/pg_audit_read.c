/*
 * pg_audit_read.c: the PostgreSQL backend's reads of the audit log: its head, filtered lists,
 * scans and the rows as stored for verification (the stored canonical encoding and whether the
 * columns agree with it, as sqlite_read_log.c), the prune's bound, checkpoints, and a subject's
 * accesses through the log's index by subject.
 *
 * The long reads (scan, rows) go in pages by seq, each page a statement of its own on a
 * connection taken for it and given back before the caller's function sees the page: a scan
 * of a large log holds no connection while the caller works.
 */
#include <stdlib.h>
#include <string.h>

#include "audit_canon.h"
#include "pg_int.h"
#include "util.h"

#define AUDIT_COLS                                                                               \
    "tenant_id, seq, at, actor, action, object, purpose, source, request_id, outcome, prev,"   \
    " hash, digest"

static int64_t seq_param(uint64_t seq)
{
    return seq > INT64_MAX ? INT64_MAX : (int64_t)seq;
}

/* An AUDIT_COLS row. A tampered row reads as what it holds; verification judges it. */
static void read_audit(const PGresult *res, int row, cu_audit_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->tenant_id = pg_id(res, row, 0);
    e->seq = (uint64_t)pg_i64(res, row, 1);
    e->at = pg_i64(res, row, 2);
    pg_text_copy(res, row, 3, e->actor, sizeof(e->actor));
    pg_text_copy(res, row, 4, e->action, sizeof(e->action));
    pg_text_copy(res, row, 5, e->object, sizeof(e->object));
    pg_text_copy(res, row, 6, e->purpose, sizeof(e->purpose));
    pg_text_copy(res, row, 7, e->source, sizeof(e->source));
    pg_text_copy(res, row, 8, e->request_id, sizeof(e->request_id));
    pg_text_copy(res, row, 9, e->outcome, sizeof(e->outcome));
    pg_blob32(res, row, 10, e->prev);
    pg_blob32(res, row, 11, e->hash);
    /* A digest of any other length reads as one of zeros: the entry then fails its hash. */
    if (!pg_null(res, row, 12)) {
        e->has_digest = 1;
        pg_blob32(res, row, 12, e->digest);
    }
}

static pg_query Q_HEAD =
    PG_QUERY("SELECT seq, hash FROM audit_log WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1");

cu_rc pg_audit_head(cu_store *base, cu_id tenant, uint64_t *seq, uint8_t hash[32], cu_err *err)
{
    PGresult *res = NULL;
    cu_rc rc;

    *seq = 0;
    memset(hash, 0, 32);
    rc = pg_read_exec(base, &Q_HEAD, PG_P(pg_p_id(tenant)), &res, err, "read audit head");
    if (rc == CU_OK && pg_rows(res) > 0) {
        *seq = (uint64_t)pg_i64(res, 0, 0);
        pg_blob32(res, 0, 1, hash);
    }
    PQclear(res);
    return rc;
}

static pg_query Q_LIST = PG_QUERY(
    "SELECT " AUDIT_COLS " FROM audit_log WHERE tenant_id = $1 AND seq > $2"
    " AND ($3::text IS NULL OR actor = $3) AND ($4::text IS NULL OR action = $4)"
    " AND ($5::text IS NULL OR object = $5) AND ($6::text IS NULL OR purpose = $6)"
    " AND ($7 = 0 OR at >= $7) AND ($8 = 0 OR at <= $8)"
    " AND ($10::text IS NULL OR left(object, length($10)) = $10)"
    " ORDER BY seq LIMIT $9");

static cu_rc audit_row(const PGresult *res, int row, void *out, cu_err *err)
{
    (void)err;
    read_audit(res, row, out);
    return CU_OK;
}

cu_rc pg_audit_list(cu_store *base, cu_id tenant, const cu_audit_filter *f, cu_audit_entry **out,
                    size_t *n, cu_err *err)
{
    size_t limit = f->limit == 0 ? 100 : f->limit > 1000 ? 1000 : f->limit;

    return pg_read_rows(base, &Q_LIST,
                        PG_P(pg_p_id(tenant), pg_p_i64(seq_param(f->after_seq)),
                             pg_p_text(f->actor), pg_p_text(f->action), pg_p_text(f->object),
                             pg_p_text(f->purpose), pg_p_i64(f->from_ms), pg_p_i64(f->to_ms),
                             pg_p_i64((int64_t)limit), pg_p_text(f->object_prefix)),
                        sizeof(**out), audit_row, NULL, (void **)out, n, err,
                        "list audit entries");
}

static pg_query Q_SCAN = PG_QUERY("SELECT " AUDIT_COLS " FROM audit_log"
                                  " WHERE tenant_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3");

cu_rc pg_audit_scan(cu_store *base, cu_id tenant, uint64_t from,
                    int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err)
{
    enum { PAGE = 4096 };
    cu_audit_entry e = {0};
    cu_rc rc = CU_OK;
    int stop = 0;

    while (rc == CU_OK && !stop) {
        PGresult *res = NULL;
        int cnt;
        rc = pg_read_exec(base, &Q_SCAN,
                          PG_P(pg_p_id(tenant), pg_p_i64(seq_param(from)), pg_p_i64(PAGE)), &res,
                          err, "read the audit log");
        if (rc != CU_OK)
            break;
        cnt = pg_rows(res);
        for (int i = 0; i < cnt && !stop; i++) {
            read_audit(res, i, &e);
            stop = fn(arg, &e);
        }
        PQclear(res);
        if (cnt < PAGE || e.seq >= INT64_MAX)
            break;
        from = e.seq + 1;
    }
    return rc;
}

/* Columns: seq, prev, hash, canon, then those an encoding is made of. */
static pg_query Q_ROWS = PG_QUERY(
    "SELECT seq, prev, hash, canon, tenant_id, at, actor, action, object, purpose, source,"
    " request_id, outcome, digest FROM audit_log WHERE tenant_id = $1 AND seq >= $2"
    " AND seq <= $3 ORDER BY seq LIMIT $4");

/* A Q_ROWS row: its stored encoding, and whether its columns encode to it (an entry stored
 * without one gets theirs), the texts read in place. */
static void read_row(const PGresult *res, int row, cu_audit_row *r, uint8_t prev[32],
                     uint8_t hash[32], uint8_t canon[CU_AUDIT_CANON_MAX])
{
    static const uint8_t zero[32];
    uint8_t mine[CU_AUDIT_CANON_MAX];
    const void *stored;
    size_t n, len;
    cu_audit_fields f = {.tenant_id = pg_id(res, row, 4),
                         .seq = (uint64_t)pg_i64(res, row, 0),
                         .at = pg_i64(res, row, 5),
                         .prev = prev};

    *r = (cu_audit_row){.seq = f.seq, .prev = prev, .hash = hash, .canon = canon};
    pg_blob32(res, row, 1, prev);
    pg_blob32(res, row, 2, hash);
    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        f.text[i] = PQgetvalue(res, row, 6 + i);
        f.len[i] = (size_t)PQgetlength(res, row, 6 + i);
    }
    if (!pg_null(res, row, 13))
        f.digest = PQgetlength(res, row, 13) == 32
                       ? (const uint8_t *)PQgetvalue(res, row, 13)
                       : zero;
    n = cu_audit_canon(&f, mine);
    stored = PQgetvalue(res, row, 3);
    len = (size_t)PQgetlength(res, row, 3);
    if (pg_null(res, row, 3)) { /* none stored: the columns' encoding */
        stored = mine;
        len = n;
    }
    r->canon_len = len < CU_AUDIT_CANON_MAX ? len : CU_AUDIT_CANON_MAX;
    memcpy(canon, stored, r->canon_len);
    r->agrees = n > 0 && len == n && memcmp(stored, mine, n) == 0;
}

cu_rc pg_audit_rows(cu_store *base, cu_id tenant, uint64_t from, uint64_t to,
                    int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err)
{
    enum { PAGE = 2048 };
    uint8_t prev[32], hash[32], canon[CU_AUDIT_CANON_MAX];
    cu_audit_row r = {0};
    cu_rc rc = CU_OK;
    int stop = 0;

    while (rc == CU_OK && !stop && from <= to) {
        PGresult *res = NULL;
        int cnt;
        rc = pg_read_exec(base, &Q_ROWS,
                          PG_P(pg_p_id(tenant), pg_p_i64(seq_param(from)),
                               pg_p_i64(seq_param(to)), pg_p_i64(PAGE)),
                          &res, err, "read the audit log");
        if (rc != CU_OK)
            break;
        cnt = pg_rows(res);
        for (int i = 0; i < cnt && !stop; i++) {
            read_row(res, i, &r, prev, hash, canon);
            stop = fn(arg, &r);
        }
        PQclear(res);
        if (cnt < PAGE || r.seq >= INT64_MAX)
            break;
        from = r.seq + 1;
    }
    return rc;
}

/* The newest entry older than before_ms: the primary key walked back from the newest. */
static pg_query Q_BEFORE =
    PG_QUERY("SELECT seq FROM audit_log WHERE tenant_id = $1 AND at < $2"
             " ORDER BY seq DESC LIMIT 1");

cu_rc pg_audit_seq_before(cu_store *base, cu_id tenant, int64_t before_ms, uint64_t *seq,
                          cu_err *err)
{
    PGresult *res = NULL;
    cu_rc rc;

    *seq = 0;
    rc = pg_read_exec(base, &Q_BEFORE, PG_P(pg_p_id(tenant), pg_p_i64(before_ms)), &res, err,
                      "read the audit log");
    if (rc == CU_OK && pg_rows(res) > 0)
        *seq = (uint64_t)pg_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

static pg_query Q_CHECKPOINTS =
    PG_QUERY("SELECT tenant_id, seq, at, hash, sig, anchor FROM audit_checkpoints"
             " WHERE tenant_id = $1 ORDER BY seq, anchor");

static cu_rc checkpoint_row(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_audit_checkpoint *k = out;

    (void)err;
    k->tenant_id = pg_id(res, row, 0);
    k->seq = (uint64_t)pg_i64(res, row, 1);
    k->at = pg_i64(res, row, 2);
    pg_blob32(res, row, 3, k->hash);
    if (PQgetlength(res, row, 4) == 64)
        memcpy(k->sig, PQgetvalue(res, row, 4), 64);
    k->anchor = pg_i64(res, row, 5) != 0;
    return CU_OK;
}

cu_rc pg_audit_checkpoints(cu_store *base, cu_id tenant, cu_audit_checkpoint **out, size_t *n,
                           cu_err *err)
{
    return pg_read_rows(base, &Q_CHECKPOINTS, PG_P(pg_p_id(tenant)), sizeof(**out),
                        checkpoint_row, NULL, (void **)out, n, err, "list audit checkpoints");
}

/* The index up to its mark, then the log past it (a range of its primary key); within the
 * tenant alone. Each arm is ordered and cut to the page itself, the index's before any entry
 * is read: each of its entries is then one lookup of the log's key (LATERAL, OFFSET 0 keeps
 * the planner from flattening it). Without that the planner joined and sorted every entry of
 * the subject past $3 for each page (60 ms a page at 100,000 entries, against under 1 ms:
 * bench/README.md, session 19), or, in a generic plan, merged the log from $3 to the page's
 * last entry whatever the entries between (7 ms for 50 entries of a sparse subject). An index
 * row always has its log row (a prune and a tenant's end delete the index's rows with or
 * before the log's), so the index arm is never short of a page that exists. */
static pg_query Q_BY_SUBJECT = PG_QUERY(
    "SELECT seq, at, actor, action, object, purpose FROM ("
    " (SELECT x.seq, a.at, a.actor, a.action, a.object, a.purpose"
    "  FROM (SELECT seq FROM audit_subjects WHERE tenant_id = $1 AND subject_id = $2"
    "   AND seq > $3 ORDER BY seq LIMIT $4) x"
    "  CROSS JOIN LATERAL (SELECT l.at, l.actor, l.action, l.object, l.purpose FROM audit_log l"
    "   WHERE l.tenant_id = $1 AND l.seq = x.seq OFFSET 0) a)"
    " UNION ALL"
    " (SELECT seq, at, actor, action, object, purpose FROM audit_log"
    "  WHERE tenant_id = $1 AND subject_id = $2 AND seq > greatest($3,"
    "   coalesce((SELECT m.seq FROM audit_subject_marks m WHERE m.tenant_id = $1), 0))"
    "  ORDER BY seq LIMIT $4)"
    ") u ORDER BY seq LIMIT $4");

static cu_rc access_row(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_store_access *a = out;

    (void)err;
    a->seq = (uint64_t)pg_i64(res, row, 0);
    a->at = pg_i64(res, row, 1);
    pg_text_copy(res, row, 2, a->actor, sizeof(a->actor));
    pg_text_copy(res, row, 3, a->action, sizeof(a->action));
    pg_text_copy(res, row, 4, a->object, sizeof(a->object));
    pg_text_copy(res, row, 5, a->purpose, sizeof(a->purpose));
    return CU_OK;
}

cu_rc pg_audit_by_subject(cu_store *base, cu_id tenant, cu_id subject, uint64_t after, size_t limit,
                          cu_store_access **out, size_t *n, cu_err *err)
{
    return pg_read_rows(base, &Q_BY_SUBJECT,
                        PG_P(pg_p_id(tenant), pg_p_id(subject), pg_p_i64(seq_param(after)),
                             pg_p_i64(limit > INT64_MAX ? INT64_MAX : (int64_t)limit)),
                        sizeof(**out), access_row, NULL, (void **)out, n, err,
                        "list a subject's audit entries");
}
