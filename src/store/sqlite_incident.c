/*
 * sqlite_incident.c: breach incidents in the SQLite backend (store.h, store_incident.h,
 * docs/incidents.md; P-BRE-1).
 *
 * Three tables keyed by the incident first: the incident with its scope, deadlines and the hash
 * of its affected set; the affected set itself, written once with the incident and never
 * changed (the evidence); and the notices sent, appended. Ids, names, times and counts only.
 * The audit log's window is read here too (audit_touches), with the subject the store keeps
 * beside each entry, in pages so that writers go on meanwhile. Statements are prepared per
 * call, as the webhook outbox's: incidents are rare, so a listing scans them (no index of
 * its own: each would cost every insert a B-tree, test_store's rule).
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

/* Migration 23 (22 is the disclosures'). */
const char sq_migration_incidents[] =
    "CREATE TABLE IF NOT EXISTS incidents("
    "  incident_id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, opened_by TEXT NOT NULL,"
    "  opened_at INTEGER NOT NULL, known_at INTEGER NOT NULL, from_ms INTEGER NOT NULL,"
    "  to_ms INTEGER NOT NULL, scope_key INTEGER NOT NULL, scope_tenant INTEGER NOT NULL,"
    "  scope_principal TEXT NOT NULL, scope_source TEXT NOT NULL,"
    "  scope_collection TEXT NOT NULL, authority_hours INTEGER NOT NULL,"
    "  tenants_hours INTEGER NOT NULL, subjects_hours INTEGER NOT NULL,"
    "  evidence BLOB NOT NULL, tenants INTEGER NOT NULL, subjects INTEGER NOT NULL,"
    "  revoked_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS incident_affected("
    "  incident_id INTEGER NOT NULL, tenant_id INTEGER NOT NULL, subject_id INTEGER NOT NULL,"
    "  reads INTEGER NOT NULL, writes INTEGER NOT NULL, first_ms INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL, PRIMARY KEY(incident_id, tenant_id, subject_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS incident_notices("
    "  incident_id INTEGER NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  tenant_id INTEGER NOT NULL, at INTEGER NOT NULL, reference TEXT NOT NULL,"
    "  actor TEXT NOT NULL, PRIMARY KEY(incident_id, seq)) WITHOUT ROWID;";

#define INCIDENT_COLS                                                                              \
    "incident_id, tenant_id, opened_by, opened_at, known_at, from_ms, to_ms, scope_key,"           \
    " scope_tenant, scope_principal, scope_source, scope_collection, authority_hours,"             \
    " tenants_hours, subjects_hours, evidence, tenants, subjects, revoked_at"

static const char sql_put[] =
    "INSERT INTO incidents(" INCIDENT_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
    " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";
static const char sql_hit[] =
    "INSERT INTO incident_affected(incident_id, tenant_id, subject_id, reads, writes, first_ms,"
    " last_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char sql_notice[] =
    "INSERT INTO incident_notices(incident_id, seq, kind, tenant_id, at, reference, actor)"
    " SELECT ?1, coalesce((SELECT max(seq) FROM incident_notices WHERE incident_id = ?1), 0)"
    " + 1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM incidents WHERE incident_id = ?1)";
static const char sql_revoked[] =
    "UPDATE incidents SET revoked_at = ?2 WHERE incident_id = ?1 AND revoked_at = 0";
static const char sql_list[] = "SELECT " INCIDENT_COLS " FROM incidents"
                               " WHERE ?2 = 1 OR tenant_id = ?1 OR (tenant_id = 0 AND EXISTS"
                               " (SELECT 1 FROM incident_affected a WHERE a.incident_id ="
                               " incidents.incident_id AND a.tenant_id = ?1))"
                               " ORDER BY opened_at DESC, incident_id DESC";
static const char sql_get[] = "SELECT " INCIDENT_COLS " FROM incidents WHERE incident_id = ?1";
static const char sql_hits[] =
    "SELECT tenant_id, subject_id, reads, writes, first_ms, last_ms FROM incident_affected"
    " WHERE incident_id = ?1 ORDER BY tenant_id, subject_id";
static const char sql_notices[] =
    "SELECT incident_id, seq, kind, tenant_id, at, reference, actor FROM incident_notices"
    " WHERE incident_id = ?1 ORDER BY seq";
/* ?4: the last seq of the page before. */
static const char sql_touches[] =
    "SELECT seq, at, actor, action, object, source, coalesce(subject_id, 0) FROM audit_log"
    " WHERE tenant_id = ?1 AND seq > ?4 AND at BETWEEN ?2 AND ?3 ORDER BY seq LIMIT 1024";

static cu_rc prepare(sqlite_store *s, const char *sql, sqlite3_stmt **st, cu_err *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "prepare an incident statement");
    return CU_OK;
}

/* Steps st to its end; *changed gets the rows it changed. Finalizes it. */
static cu_rc finish(sqlite_store *s, sqlite3_stmt *st, int *changed, cu_err *err)
{
    int src = sqlite3_step(st);
    cu_rc rc = CU_OK;

    if (src == SQLITE_CONSTRAINT)
        rc = cu_err_set(err, CU_ERR_EXISTS, "the incident exists");
    else if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "write an incident");
    else if (changed != NULL)
        *changed = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc;
}

static void bind_incident(sqlite3_stmt *st, const cu_store_incident *i)
{
    const int64_t nums[] = {i->opened_at, i->known_at,           i->from_ms,
                            i->to_ms,     (int64_t)i->scope_key, (int64_t)i->scope_tenant};

    sq_bind_id(st, 1, i->id);
    sq_bind_id(st, 2, i->tenant_id);
    sqlite3_bind_text(st, 3, i->opened_by, -1, SQLITE_TRANSIENT);
    for (int k = 0; k < 6; k++)
        sqlite3_bind_int64(st, 4 + k, nums[k]);
    sqlite3_bind_text(st, 10, i->scope_principal, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, i->scope_source, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 12, i->scope_collection, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 13, i->authority_hours);
    sqlite3_bind_int64(st, 14, i->tenants_hours);
    sqlite3_bind_int64(st, 15, i->subjects_hours);
    sqlite3_bind_blob(st, 16, i->evidence, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 17, (int64_t)i->tenants);
    sqlite3_bind_int64(st, 18, (int64_t)i->subjects);
    sqlite3_bind_int64(st, 19, i->revoked_at);
}

static cu_rc w_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    cu_rc rc = prepare(s, sql_put, &st, err);

    if (rc != CU_OK)
        return rc;
    bind_incident(st, &op->u.incident.inc);
    if ((rc = finish(s, st, NULL, err)) != CU_OK)
        return rc;
    for (size_t k = 0; rc == CU_OK && k < op->u.incident.nhits; k++) {
        const cu_store_incident_hit *h = &op->u.incident.hits[k];
        if ((rc = prepare(s, sql_hit, &st, err)) != CU_OK)
            break;
        sq_bind_id(st, 1, op->u.incident.inc.id);
        sq_bind_id(st, 2, h->tenant_id);
        sq_bind_id(st, 3, h->subject_id);
        sqlite3_bind_int64(st, 4, (int64_t)h->reads);
        sqlite3_bind_int64(st, 5, (int64_t)h->writes);
        sqlite3_bind_int64(st, 6, h->first_ms);
        sqlite3_bind_int64(st, 7, h->last_ms);
        rc = finish(s, st, NULL, err);
    }
    return rc;
}

static cu_rc w_notice(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_incident_notice *n = &op->u.incident_notice;
    sqlite3_stmt *st = NULL;
    int changed = 0;
    cu_rc rc = prepare(s, sql_notice, &st, err);

    if (rc != CU_OK)
        return rc;
    sq_bind_id(st, 1, n->incident_id);
    sqlite3_bind_int64(st, 2, n->kind);
    sq_bind_id(st, 3, n->tenant_id);
    sqlite3_bind_int64(st, 4, n->at);
    sqlite3_bind_text(st, 5, n->reference, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, n->actor, -1, SQLITE_TRANSIENT);
    if ((rc = finish(s, st, &changed, err)) == CU_OK && changed == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such incident");
    return rc;
}

static cu_rc w_revoked(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int changed = 0;
    cu_rc rc = prepare(s, sql_revoked, &st, err);

    if (rc != CU_OK)
        return rc;
    sq_bind_id(st, 1, op->u.incident.inc.id);
    sqlite3_bind_int64(st, 2, op->u.incident.inc.revoked_at);
    if ((rc = finish(s, st, &changed, err)) == CU_OK && changed == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such incident, or its key was revoked");
    return rc;
}

cu_rc sq_w_incident(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    switch (op->type) {
    case CU_OP_INCIDENT_PUT:
        return w_put(s, op, err);
    case CU_OP_INCIDENT_NOTICE:
        return w_notice(s, op, err);
    case CU_OP_INCIDENT_REVOKED:
        return w_revoked(s, op, err);
    default:
        return cu_err_set(err, CU_ERR_INVALID, "not an incident operation");
    }
}

/* --- reads --------------------------------------------------------------------------------- */

static cu_rc read_incident(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_incident *i = row;
    const void *ev = sqlite3_column_blob(st, 15);

    (void)err;
    i->id = (cu_id)sqlite3_column_int64(st, 0);
    i->tenant_id = (cu_id)sqlite3_column_int64(st, 1);
    sq_text_col(st, 2, i->opened_by, sizeof(i->opened_by));
    i->opened_at = sqlite3_column_int64(st, 3);
    i->known_at = sqlite3_column_int64(st, 4);
    i->from_ms = sqlite3_column_int64(st, 5);
    i->to_ms = sqlite3_column_int64(st, 6);
    i->scope_key = (cu_id)sqlite3_column_int64(st, 7);
    i->scope_tenant = (cu_id)sqlite3_column_int64(st, 8);
    sq_text_col(st, 9, i->scope_principal, sizeof(i->scope_principal));
    sq_text_col(st, 10, i->scope_source, sizeof(i->scope_source));
    sq_text_col(st, 11, i->scope_collection, sizeof(i->scope_collection));
    i->authority_hours = sqlite3_column_int64(st, 12);
    i->tenants_hours = sqlite3_column_int64(st, 13);
    i->subjects_hours = sqlite3_column_int64(st, 14);
    if (ev != NULL && sqlite3_column_bytes(st, 15) == 32)
        memcpy(i->evidence, ev, 32);
    i->tenants = (uint64_t)sqlite3_column_int64(st, 16);
    i->subjects = (uint64_t)sqlite3_column_int64(st, 17);
    i->revoked_at = sqlite3_column_int64(st, 18);
    return CU_OK;
}

static cu_rc read_hit(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_incident_hit *h = row;

    (void)err;
    h->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    h->subject_id = (cu_id)sqlite3_column_int64(st, 1);
    h->reads = (uint64_t)sqlite3_column_int64(st, 2);
    h->writes = (uint64_t)sqlite3_column_int64(st, 3);
    h->first_ms = sqlite3_column_int64(st, 4);
    h->last_ms = sqlite3_column_int64(st, 5);
    return CU_OK;
}

static cu_rc read_notice(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_incident_notice *n = row;

    (void)err;
    n->incident_id = (cu_id)sqlite3_column_int64(st, 0);
    n->seq = (uint32_t)sqlite3_column_int64(st, 1);
    n->kind = sqlite3_column_int(st, 2);
    n->tenant_id = (cu_id)sqlite3_column_int64(st, 3);
    n->at = sqlite3_column_int64(st, 4);
    sq_text_col(st, 5, n->reference, sizeof(n->reference));
    sq_text_col(st, 6, n->actor, sizeof(n->actor));
    return CU_OK;
}

/* Prepares sql, binds p[0..np) as ?1.., collects its rows under the lock. */
static cu_rc collect(sqlite_store *s, const char *sql, const int64_t *p, int np, size_t sz,
                     row_reader fn, void **out, size_t *n, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->lock);
    if ((rc = prepare(s, sql, &st, err)) == CU_OK) {
        for (int i = 0; i < np; i++)
            sqlite3_bind_int64(st, i + 1, p[i]);
        rc = sq_collect_rows(s, st, sz, fn, NULL, out, n, err, "read incidents");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_incident_list(cu_store *base, cu_id tenant, int all, cu_store_incident **out, size_t *n,
                       cu_err *err)
{
    int64_t p[2] = {(int64_t)tenant, all != 0};

    return collect((sqlite_store *)base, sql_list, p, 2, sizeof(**out), read_incident, (void **)out,
                   n, err);
}

cu_rc sq_incident_get(cu_store *base, cu_id id, cu_store_incident *out,
                      cu_store_incident_hit **hits, size_t *nhits,
                      cu_store_incident_notice **notices, size_t *nnotices, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_store_incident *one = NULL;
    int64_t p[1] = {(int64_t)id};
    size_t n = 0;
    cu_rc rc = collect(s, sql_get, p, 1, sizeof(*one), read_incident, (void **)&one, &n, err);

    if (rc == CU_OK && n == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such incident");
    if (rc == CU_OK) {
        *out = one[0];
        rc = collect(s, sql_hits, p, 1, sizeof(**hits), read_hit, (void **)hits, nhits, err);
    }
    if (rc == CU_OK)
        rc = collect(s, sql_notices, p, 1, sizeof(**notices), read_notice, (void **)notices,
                     nnotices, err);
    free(one);
    return rc;
}

/* One entry of a page of audit_touches, with the text its pointers name. */
typedef struct touch_slot {
    cu_store_audit_touch t;
    char actor[48], action[32], object[96], source[64];
} touch_slot;

/* Reads one page (up to 1024 entries after seq `after`) under the lock into page. */
static cu_rc touches_page(sqlite_store *s, cu_id tenant, int64_t from_ms, int64_t to_ms,
                          uint64_t after, touch_slot *page, size_t *cnt, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    cu_rc rc;
    int src = SQLITE_DONE;

    *cnt = 0;
    pthread_mutex_lock(&s->lock);
    if ((rc = prepare(s, sql_touches, &st, err)) == CU_OK) {
        sq_bind_id(st, 1, tenant);
        sqlite3_bind_int64(st, 2, from_ms);
        sqlite3_bind_int64(st, 3, to_ms);
        sqlite3_bind_int64(st, 4, (int64_t)after);
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            touch_slot *p = &page[(*cnt)++];
            p->t.tenant_id = tenant;
            p->t.seq = (uint64_t)sqlite3_column_int64(st, 0);
            p->t.at = sqlite3_column_int64(st, 1);
            sq_text_col(st, 2, p->actor, sizeof(p->actor));
            sq_text_col(st, 3, p->action, sizeof(p->action));
            sq_text_col(st, 4, p->object, sizeof(p->object));
            sq_text_col(st, 5, p->source, sizeof(p->source));
            p->t.subject_id = (cu_id)sqlite3_column_int64(st, 6);
        }
        if (src != SQLITE_DONE)
            rc = sq_db_error(s, src, err, "read the audit log");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_audit_touches(cu_store *base, cu_id tenant, int64_t from_ms, int64_t to_ms,
                       int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg, cu_err *err)
{
    touch_slot *page = malloc(1024 * sizeof(*page));
    uint64_t after = 0;
    cu_rc rc = CU_OK;
    size_t cnt = 1024;
    int stop = 0;

    if (page == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    while (rc == CU_OK && !stop && cnt == 1024) {
        rc = touches_page((sqlite_store *)base, tenant, from_ms, to_ms, after, page, &cnt, err);
        for (size_t i = 0; rc == CU_OK && i < cnt && !stop; i++) {
            page[i].t.actor = page[i].actor;
            page[i].t.action = page[i].action;
            page[i].t.object = page[i].object;
            page[i].t.source = page[i].source;
            stop = fn(arg, &page[i].t);
        }
        if (cnt > 0)
            after = page[cnt - 1].t.seq;
    }
    free(page);
    return rc;
}

const cu_store_incident_ops sq_incident_ops = {
    .list = sq_incident_list,
    .get = sq_incident_get,
    .audit_touches = sq_audit_touches,
};
