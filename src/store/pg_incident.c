/*
 * pg_incident.c: breach incidents in the PostgreSQL backend (store.h, store_incident.h,
 * docs/incidents.md, P-BRE-1; sqlite_incident.c is the reference): the incident, its frozen
 * affected set, its notices, and the audit log's window with each entry's subject.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* Migration 7 (6 is the disclosures'). */
const char pg_ddl_incidents[] =
    "CREATE TABLE incidents("
    "  incident_id bigint PRIMARY KEY, tenant_id bigint NOT NULL, opened_by text NOT NULL,"
    "  opened_at bigint NOT NULL, known_at bigint NOT NULL, from_ms bigint NOT NULL,"
    "  to_ms bigint NOT NULL, scope_key bigint NOT NULL, scope_tenant bigint NOT NULL,"
    "  scope_principal text NOT NULL, scope_source text NOT NULL,"
    "  scope_collection text NOT NULL, authority_hours bigint NOT NULL,"
    "  tenants_hours bigint NOT NULL, subjects_hours bigint NOT NULL,"
    "  evidence bytea NOT NULL, tenants bigint NOT NULL, subjects bigint NOT NULL,"
    "  revoked_at bigint NOT NULL);"
    "CREATE TABLE incident_affected("
    "  incident_id bigint NOT NULL, tenant_id bigint NOT NULL, subject_id bigint NOT NULL,"
    "  reads bigint NOT NULL, writes bigint NOT NULL, first_ms bigint NOT NULL,"
    "  last_ms bigint NOT NULL, PRIMARY KEY(incident_id, tenant_id, subject_id));"
    "CREATE TABLE incident_notices("
    "  incident_id bigint NOT NULL, seq bigint NOT NULL, kind bigint NOT NULL,"
    "  tenant_id bigint NOT NULL, at bigint NOT NULL, reference text NOT NULL,"
    "  actor text NOT NULL, PRIMARY KEY(incident_id, seq));";

/* Migration 11. The incident tables are the platform's, not a tenant's (docs/scaling.md: on
 * Citus, reference tables): the operator's incident (tenant 0) spans tenants, its evidence hash
 * covers its whole affected set, and incidents outlive their tenants (no key to tenants). Each
 * incident's rows are keyed by it: its affected set and its notices reference it (a platform
 * table references only platform tables, as Citus requires of a reference table), and the PKs
 * (incident_id, tenant_id, subject_id) and (incident_id, seq) serve these keys. */
const char pg_ddl_incident_keys[] =
    "ALTER TABLE incident_affected ADD FOREIGN KEY (incident_id) REFERENCES incidents(incident_id);"
    "ALTER TABLE incident_notices ADD FOREIGN KEY (incident_id) REFERENCES incidents(incident_id);";

#define INCIDENT_COLS                                                                              \
    "incident_id, tenant_id, opened_by, opened_at, known_at, from_ms, to_ms, scope_key,"           \
    " scope_tenant, scope_principal, scope_source, scope_collection, authority_hours,"             \
    " tenants_hours, subjects_hours, evidence, tenants, subjects, revoked_at"

static pg_query Q_PUT = PG_QUERY("INSERT INTO incidents(" INCIDENT_COLS ") VALUES($1, $2, $3,"
                                 " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,"
                                 " $17, $18, $19)");
static pg_query Q_HIT = PG_QUERY(
    "INSERT INTO incident_affected(incident_id, tenant_id, subject_id, reads, writes, first_ms,"
    " last_ms) VALUES($1, $2, $3, $4, $5, $6, $7)");
static pg_query Q_NOTICE = PG_QUERY(
    "INSERT INTO incident_notices(incident_id, seq, kind, tenant_id, at, reference, actor)"
    " SELECT $1, coalesce((SELECT max(seq) FROM incident_notices WHERE incident_id = $1), 0)"
    " + 1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM incidents WHERE incident_id = $1)");
static pg_query Q_REVOKED =
    PG_QUERY("UPDATE incidents SET revoked_at = $2 WHERE incident_id = $1 AND revoked_at = 0");
static pg_query Q_LIST = PG_QUERY("SELECT " INCIDENT_COLS " FROM incidents"
                                  " WHERE $2 = 1 OR tenant_id = $1 OR (tenant_id = 0 AND EXISTS"
                                  " (SELECT 1 FROM incident_affected a WHERE a.incident_id ="
                                  " incidents.incident_id AND a.tenant_id = $1))"
                                  " ORDER BY opened_at DESC, incident_id DESC");
static pg_query Q_GET = PG_QUERY("SELECT " INCIDENT_COLS " FROM incidents WHERE incident_id = $1");
static pg_query Q_HITS =
    PG_QUERY("SELECT tenant_id, subject_id, reads, writes, first_ms, last_ms FROM incident_affected"
             " WHERE incident_id = $1 ORDER BY tenant_id, subject_id");
static pg_query Q_NOTICES =
    PG_QUERY("SELECT incident_id, seq, kind, tenant_id, at, reference, actor FROM incident_notices"
             " WHERE incident_id = $1 ORDER BY seq");
static pg_query Q_TOUCHES =
    PG_QUERY("SELECT seq, at, actor, action, object, source, coalesce(subject_id, 0) FROM audit_log"
             " WHERE tenant_id = $1 AND seq > $4 AND at BETWEEN $2 AND $3 ORDER BY seq LIMIT 1024");

cu_rc pg_w_incident_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_incident *i = &op->u.incident.inc;
    cu_rc rc = pg_exec(c, &Q_PUT,
                       PG_P(pg_p_id(i->id), pg_p_id(i->tenant_id), pg_p_text(i->opened_by),
                            pg_p_i64(i->opened_at), pg_p_i64(i->known_at), pg_p_i64(i->from_ms),
                            pg_p_i64(i->to_ms), pg_p_id(i->scope_key), pg_p_id(i->scope_tenant),
                            pg_p_text(i->scope_principal), pg_p_text(i->scope_source),
                            pg_p_text(i->scope_collection), pg_p_i64(i->authority_hours),
                            pg_p_i64(i->tenants_hours), pg_p_i64(i->subjects_hours),
                            pg_p_blob(i->evidence, 32), pg_p_i64((int64_t)i->tenants),
                            pg_p_i64((int64_t)i->subjects), pg_p_i64(i->revoked_at)),
                       NULL, err, "store an incident");

    for (size_t k = 0; rc == CU_OK && k < op->u.incident.nhits; k++) {
        const cu_store_incident_hit *h = &op->u.incident.hits[k];
        rc = pg_exec(c, &Q_HIT,
                     PG_P(pg_p_id(i->id), pg_p_id(h->tenant_id), pg_p_id(h->subject_id),
                          pg_p_i64((int64_t)h->reads), pg_p_i64((int64_t)h->writes),
                          pg_p_i64(h->first_ms), pg_p_i64(h->last_ms)),
                     NULL, err, "store an incident's affected set");
    }
    return rc;
}

cu_rc pg_w_incident_notice(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_incident_notice *n = &op->u.incident_notice;

    return pgd_write_one(c, &Q_NOTICE,
                         PG_P(pg_p_id(n->incident_id), pg_p_i64(n->kind), pg_p_id(n->tenant_id),
                              pg_p_i64(n->at), pg_p_text(n->reference), pg_p_text(n->actor)),
                         CU_ERR_NOT_FOUND, "no such incident", err, "record an incident notice");
}

cu_rc pg_w_incident_revoked(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgd_write_one(
        c, &Q_REVOKED,
        PG_P(pg_p_id(op->u.incident.inc.id), pg_p_i64(op->u.incident.inc.revoked_at)),
        CU_ERR_NOT_FOUND, "no such incident, or its key was revoked", err,
        "note an incident's revocation");
}

/* --- reads --------------------------------------------------------------------------------- */

static cu_rc incident_row(const PGresult *res, int r, void *out, cu_err *err)
{
    cu_store_incident *i = out;
    cu_blob ev = {0};
    cu_rc rc;

    i->id = pg_id(res, r, 0);
    i->tenant_id = pg_id(res, r, 1);
    pg_text_copy(res, r, 2, i->opened_by, sizeof(i->opened_by));
    i->opened_at = pg_i64(res, r, 3);
    i->known_at = pg_i64(res, r, 4);
    i->from_ms = pg_i64(res, r, 5);
    i->to_ms = pg_i64(res, r, 6);
    i->scope_key = pg_id(res, r, 7);
    i->scope_tenant = pg_id(res, r, 8);
    pg_text_copy(res, r, 9, i->scope_principal, sizeof(i->scope_principal));
    pg_text_copy(res, r, 10, i->scope_source, sizeof(i->scope_source));
    pg_text_copy(res, r, 11, i->scope_collection, sizeof(i->scope_collection));
    i->authority_hours = pg_i64(res, r, 12);
    i->tenants_hours = pg_i64(res, r, 13);
    i->subjects_hours = pg_i64(res, r, 14);
    if ((rc = pg_blob_copy(res, r, 15, &ev, err)) != CU_OK)
        return rc;
    if (ev.len == 32)
        memcpy(i->evidence, ev.data, 32);
    free(ev.data);
    i->tenants = (uint64_t)pg_i64(res, r, 16);
    i->subjects = (uint64_t)pg_i64(res, r, 17);
    i->revoked_at = pg_i64(res, r, 18);
    return CU_OK;
}

static cu_rc hit_row(const PGresult *res, int r, void *out, cu_err *err)
{
    cu_store_incident_hit *h = out;

    (void)err;
    h->tenant_id = pg_id(res, r, 0);
    h->subject_id = pg_id(res, r, 1);
    h->reads = (uint64_t)pg_i64(res, r, 2);
    h->writes = (uint64_t)pg_i64(res, r, 3);
    h->first_ms = pg_i64(res, r, 4);
    h->last_ms = pg_i64(res, r, 5);
    return CU_OK;
}

static cu_rc notice_row(const PGresult *res, int r, void *out, cu_err *err)
{
    cu_store_incident_notice *n = out;

    (void)err;
    n->incident_id = pg_id(res, r, 0);
    n->seq = (uint32_t)pg_i64(res, r, 1);
    n->kind = (int)pg_i64(res, r, 2);
    n->tenant_id = pg_id(res, r, 3);
    n->at = pg_i64(res, r, 4);
    pg_text_copy(res, r, 5, n->reference, sizeof(n->reference));
    pg_text_copy(res, r, 6, n->actor, sizeof(n->actor));
    return CU_OK;
}

cu_rc pg_incident_list(cu_store *base, cu_id tenant, int all, cu_store_incident **out, size_t *n,
                       cu_err *err)
{
    return pg_read_rows(base, &Q_LIST, PG_P(pg_p_id(tenant), pg_p_i64(all != 0)), sizeof(**out),
                        incident_row, NULL, (void **)out, n, err, "read incidents");
}

cu_rc pg_incident_get(cu_store *base, cu_id id, cu_store_incident *out,
                      cu_store_incident_hit **hits, size_t *nhits,
                      cu_store_incident_notice **notices, size_t *nnotices, cu_err *err)
{
    cu_store_incident *one = NULL;
    size_t n = 0;
    cu_rc rc = pg_read_rows(base, &Q_GET, PG_P(pg_p_id(id)), sizeof(*one), incident_row, NULL,
                            (void **)&one, &n, err, "read an incident");

    if (rc == CU_OK && n == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such incident");
    if (rc == CU_OK) {
        *out = one[0];
        rc = pg_read_rows(base, &Q_HITS, PG_P(pg_p_id(id)), sizeof(**hits), hit_row, NULL,
                          (void **)hits, nhits, err, "read an incident's affected set");
    }
    if (rc == CU_OK)
        rc = pg_read_rows(base, &Q_NOTICES, PG_P(pg_p_id(id)), sizeof(**notices), notice_row, NULL,
                          (void **)notices, nnotices, err, "read an incident's notices");
    free(one);
    return rc;
}

/* Calls fn for each row of one page; *last gets its last seq, *rows its row count. */
static int touches_feed(const PGresult *res, cu_id tenant,
                        int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg,
                        uint64_t *last, int *rows)
{
    char actor[48], action[32], object[96], source[64];
    int stop = 0;

    *rows = pg_rows(res);
    for (int r = 0; r < *rows && !stop; r++) {
        cu_store_audit_touch t = {.tenant_id = tenant};
        t.seq = (uint64_t)pg_i64(res, r, 0);
        t.at = pg_i64(res, r, 1);
        pg_text_copy(res, r, 2, actor, sizeof(actor));
        pg_text_copy(res, r, 3, action, sizeof(action));
        pg_text_copy(res, r, 4, object, sizeof(object));
        pg_text_copy(res, r, 5, source, sizeof(source));
        t.subject_id = pg_id(res, r, 6);
        t.actor = actor;
        t.action = action;
        t.object = object;
        t.source = source;
        stop = fn(arg, &t);
        *last = t.seq;
    }
    return stop;
}

cu_rc pg_audit_touches(cu_store *base, cu_id tenant, int64_t from_ms, int64_t to_ms,
                       int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg, cu_err *err)
{
    uint64_t after = 0;
    int rows = 1024, stop = 0;
    cu_rc rc = CU_OK;

    while (rc == CU_OK && !stop && rows == 1024) {
        PGresult *res = NULL;
        rc = pgd_read(
            base, &Q_TOUCHES,
            PG_P(pg_p_id(tenant), pg_p_i64(from_ms), pg_p_i64(to_ms), pg_p_i64((int64_t)after)),
            &res, err, "read the audit log");
        if (rc == CU_OK)
            stop = touches_feed(res, tenant, fn, arg, &after, &rows);
        PQclear(res);
    }
    return rc;
}

const cu_store_incident_ops pg_incident_ops = {
    .list = pg_incident_list,
    .get = pg_incident_get,
    .audit_touches = pg_audit_touches,
};
