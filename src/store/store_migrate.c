/*
 * store_migrate.c: a SQLite vault database copied into PostgreSQL (store_migrate.h).
 *
 * Each table is read from a read-only SQLite connection in one read transaction (one snapshot,
 * the source flocked by the SQLite store opened beside it, so no server writes meanwhile) and
 * streamed into the PostgreSQL table with COPY FROM STDIN in text format, every table in one
 * transaction of the target. The statements are constants: table by table, the SQLite query
 * gives the PostgreSQL columns in their order. SQLite's internal record key (rid) becomes the
 * record's (tenant_id, record_id), as in the PostgreSQL schema (docs/store.md).
 *
 * Nothing is decrypted: values are sealed blobs and keyed digests (P-ENC-1), copied as bytes,
 * so every audit entry hashes to the same chain (P-AUD-2) and every signature still verifies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "pg_int.h"
#include "store_migrate.h"
#include "store_sqlite.h"
#include "util.h"

/* The SQLite schema version the table list below was written for: a newer one must be added
 * here before a vault at it can be moved (test_migrate fails until then). */
#define MIGRATE_SQLITE_VERSION 27

int cu_migrate_sqlite_version(void)
{
    return MIGRATE_SQLITE_VERSION;
}

/* One list for both directions: `custos migrate` reads select on SQLite and COPYs into
 * columns; a PostgreSQL vault's backup (pg_backup.c) reads columns on PostgreSQL in one
 * snapshot and inserts each row into a SQLite file under the same names, but where
 * cu_migrate_dump_rules below says otherwise. */
const cu_migrate_table cu_migrate_tables[CU_MIGRATE_TABLES] = {
    /* Version 0 (an epoch's mark) last: inserting a version above 0 removes the mark (the
     * epoch_rotated trigger, in both schemas), as a rotation does. */
    {"master_keys", "version, check_value, created_at",
     "SELECT version, check_value, created_at FROM master_keys ORDER BY version DESC"},
    {"tenants", "tenant_id, name, state, created_at, terminated_at, cache_gen",
     "SELECT tenant_id, name, state, created_at, terminated_at, cache_gen FROM tenants"},
    {"keys", "tenant_id, kind, owner_id, version, parent_version, wrapped",
     "SELECT tenant_id, kind, owner_id, version, parent_version, wrapped FROM keys"},
    {"collections", "tenant_id, name, spec", "SELECT tenant_id, name, spec FROM collections"},
    {"api_keys", "tenant_id, key_id, role, name, secret_hash, created_at, revoked_at",
     "SELECT tenant_id, key_id, role, name, secret_hash, created_at, revoked_at FROM api_keys"},
    {"users",
     "tenant_id, user_id, role, email_digest, email, key_version, password_hash, totp_secret,"
     " totp_key_version, totp_pending, totp_pending_key_version, totp_enabled, totp_last_step,"
     " failures, window_start, locked_until, created_at",
     "SELECT tenant_id, user_id, role, email_digest, email, key_version, password_hash,"
     " totp_secret, totp_key_version, totp_pending, totp_pending_key_version, totp_enabled,"
     " totp_last_step, failures, window_start, locked_until, created_at FROM users"},
    {"sessions", "tenant_id, token_hash, user_id, created_at, expires_at",
     "SELECT tenant_id, token_hash, user_id, created_at, expires_at FROM sessions"},
    {"tenant_policies",
     "tenant_id, version, text, created_at, effective_at, withdrawn_at, in_force_at, fresh",
     "SELECT tenant_id, version, text, created_at, effective_at, withdrawn_at, in_force_at, fresh"
     " FROM tenant_policies"},
    {"policy_grants", "tenant_id, admins, at", "SELECT tenant_id, admins, at FROM policy_grants"},
    {"audit_key", "id, public_key, created_at", "SELECT id, public_key, created_at FROM audit_key"},
    {"subjects", "tenant_id, subject_id, key_version, created_at, profile, restricted,"
                 " last_activity",
     "SELECT tenant_id, subject_id, key_version, created_at, profile, restricted, last_activity"
     " FROM subjects"},
    {"records", "tenant_id, record_id, collection, subject_id, key_version, created_at,"
                " updated_at, doc, anonymized, version",
     "SELECT tenant_id, record_id, collection, subject_id, key_version, created_at, updated_at,"
     " doc, anonymized, version FROM records ORDER BY rid"},
    {"record_fields", "tenant_id, record_id, field, ct",
     "SELECT r.tenant_id, r.record_id, f.field, f.ct FROM record_fields f"
     " JOIN records r ON r.rid = f.rid"},
    /* SQLite's rid column names the record an entry indexes; PostgreSQL finds a record's
     * entries by their owner, the record's id (pg_schema_data.c). */
    {"blind_index", "tenant_id, scope, digest, owner_id, uniq",
     "SELECT tenant_id, scope, digest, owner_id, uniq FROM blind_index"},
    /* COPY writes an identity column's values as given (as OVERRIDING SYSTEM VALUE would); the
     * sequence is moved past them after. */
    {"consents", "tenant_id, seq, subject_id, purpose, action, at, source, policy_version",
     "SELECT tenant_id, seq, subject_id, purpose, action, at, source, policy_version"
     " FROM consents ORDER BY seq"},
    {"holds", "tenant_id, hold_id, subject_id, record_id, reason, key_version, created_at,"
              " released_at, release_reason",
     "SELECT tenant_id, hold_id, subject_id, record_id, reason, key_version, created_at,"
     " released_at, release_reason FROM holds"},
    {"erasures", "tenant_id, subject_id, kept", "SELECT tenant_id, subject_id, kept FROM erasures"},
    {"retained_records", "tenant_id, record_id, subject_id",
     "SELECT tenant_id, record_id, subject_id FROM retained_records"},
    {"requests",
     "tenant_id, request_id, subject_id, type, state, filer, decision, purpose, reason,"
     " filed_at, verified_at, acknowledged_at, extended_at, closed_at, decided_at, ack_due,"
     " answer_due, token_hash, token_expires, attempts, version",
     "SELECT tenant_id, request_id, subject_id, type, state, filer, decision, purpose, reason,"
     " filed_at, verified_at, acknowledged_at, extended_at, closed_at, decided_at, ack_due,"
     " answer_due, token_hash, token_expires, attempts, version FROM requests"},
    {"erasure_certificates", "tenant_id, subject_id, certificate",
     "SELECT tenant_id, subject_id, certificate FROM erasure_certificates"},
    {"audit_log", "tenant_id, seq, at, actor, action, object, purpose, source, request_id,"
                  " outcome, prev, hash, digest, canon, subject_id",
     "SELECT tenant_id, seq, at, actor, action, object, purpose, source, request_id, outcome,"
     " prev, hash, digest, canon, subject_id FROM audit_log"},
    {"audit_checkpoints", "tenant_id, seq, anchor, at, hash, sig",
     "SELECT tenant_id, seq, anchor, at, hash, sig FROM audit_checkpoints"},
    {"audit_subjects", "tenant_id, subject_id, seq",
     "SELECT tenant_id, subject_id, seq FROM audit_subjects"},
    {"audit_subject_marks", "tenant_id, seq", "SELECT tenant_id, seq FROM audit_subject_marks"},
    /* The webhook outbox (SQLite 21, PostgreSQL 5): pending deliveries keep their lease. */
    {"webhook_endpoints",
     "tenant_id, endpoint_id, url, types, enabled, secret, key_version, created_at",
     "SELECT tenant_id, endpoint_id, url, types, enabled, secret, key_version, created_at"
     " FROM webhook_endpoints"},
    {"webhook_events", "tenant_id, event_id, type, payload, created_at",
     "SELECT tenant_id, event_id, type, payload, created_at FROM webhook_events"},
    {"webhook_deliveries",
     "tenant_id, event_id, endpoint_id, state, attempts, next_at, holder, lease_until",
     "SELECT tenant_id, event_id, endpoint_id, state, attempts, next_at, holder, lease_until"
     " FROM webhook_deliveries"},
    {"webhook_attempts", "tenant_id, event_id, endpoint_id, seq, at, status, error",
     "SELECT tenant_id, event_id, endpoint_id, seq, at, status, error FROM webhook_attempts"},
    /* Disclosures (SQLite 22, PostgreSQL 6; P-SHR-1). */
    {"disclosures",
     "tenant_id, disclosure_id, subject_id, record_id, recipient, purpose, categories,"
     " legal_basis, reference, policy_version, created_at",
     "SELECT tenant_id, disclosure_id, subject_id, record_id, recipient, purpose, categories,"
     " legal_basis, reference, policy_version, created_at FROM disclosures"},
    /* Breach incidents (SQLite 23, PostgreSQL 7): the evidence travels unchanged (P-BRE-1). */
    {"incidents",
     "incident_id, tenant_id, opened_by, opened_at, known_at, from_ms, to_ms, scope_key,"
     " scope_tenant, scope_principal, scope_source, scope_collection, authority_hours,"
     " tenants_hours, subjects_hours, evidence, tenants, subjects, revoked_at",
     "SELECT incident_id, tenant_id, opened_by, opened_at, known_at, from_ms, to_ms, scope_key,"
     " scope_tenant, scope_principal, scope_source, scope_collection, authority_hours,"
     " tenants_hours, subjects_hours, evidence, tenants, subjects, revoked_at FROM incidents"},
    {"incident_affected",
     "incident_id, tenant_id, subject_id, reads, writes, first_ms, last_ms",
     "SELECT incident_id, tenant_id, subject_id, reads, writes, first_ms, last_ms"
     " FROM incident_affected"},
    {"incident_notices", "incident_id, seq, kind, tenant_id, at, reference, actor",
     "SELECT incident_id, seq, kind, tenant_id, at, reference, actor FROM incident_notices"},
    /* The analytics privacy budget (SQLite 24, PostgreSQL 8; P-ANA-1): numbers only. */
    {"analytics_budgets", "tenant_id, total, spent, updated_at, noise_required",
     "SELECT tenant_id, total, spent, updated_at, noise_required FROM analytics_budgets"},
    /* Single sign-on (SQLite 26, PostgreSQL 10): the sealed client secret travels unchanged;
     * logins in flight (minutes long) are not copied, as leases are not. */
    {"sso_configs",
     "tenant_id, issuer, client_id, secret, key_version, domains, role, require_sso, updated_at,"
     " redirect_uri",
     "SELECT tenant_id, issuer, client_id, secret, key_version, domains, role, require_sso,"
     " updated_at, redirect_uri FROM sso_configs"},
    /* A user's link to the provider's identity (review finding 3): a hash and ids only. */
    {"sso_links", "tenant_id, link_hash, user_id, created_at",
     "SELECT tenant_id, link_hash, user_id, created_at FROM sso_links"},
};

/* The backup's way back (PostgreSQL -> SQLite), for the tables it differs on: the order a
 * table is read in, and the SQLite insert of one row of its columns (?1.. in their order). */
const cu_migrate_dump_rule cu_migrate_dump_rules[CU_MIGRATE_DUMP_RULES] = {
    /* The mark (version 0) last, as above. */
    {"master_keys", "version DESC", NULL},
    /* Records in the order they were made: SQLite gives each its rid, appended (the order of
     * SQLite's own migration 14). */
    {"records", "created_at, tenant_id, record_id", NULL},
    /* A record's fields find its rid by its id (records_by_id: the records come with their
     * ids, none of them the permutation of a rid, keyed 0; SQLite migration 27); read in its
     * order. */
    {"record_fields", "tenant_id, record_id, field",
     "INSERT INTO record_fields(rid, field, ct) SELECT rid, ?3, ?4 FROM records"
     " WHERE tenant_id = ?1 AND record_id = ?2 AND keyed = 0"},
    /* An entry's rid is its owner's if the owner is a record (as migration 14 set it). */
    {"blind_index", NULL,
     "INSERT INTO blind_index(tenant_id, scope, digest, owner_id, uniq, rid)"
     " VALUES(?1, ?2, ?3, ?4, ?5,"
     " (SELECT rid FROM records WHERE tenant_id = ?1 AND record_id = ?4 AND keyed = 0))"},
    /* A retained record's entry goes with the record by its rid (SQLite migration 27). */
    {"retained_records", NULL,
     "INSERT INTO retained_records(tenant_id, record_id, subject_id, rid)"
     " SELECT ?1, ?2, ?3, rid FROM records WHERE tenant_id = ?1 AND record_id = ?2"
     " AND keyed = 0"},
    {"consents", "seq", NULL},
};

/* The COPY text being built, sent to the server in chunks of about CHUNK bytes. */
#define CHUNK (256 * 1024)

typedef struct copy_buf {
    char *p;
    size_t len, cap;
} copy_buf;

static int buf_room(copy_buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : CHUNK * 2;
    char *p;

    if (b->len + n <= b->cap)
        return 0;
    while (cap < b->len + n)
        cap *= 2;
    if ((p = realloc(b->p, cap)) == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Appends one value of a SQLite column in COPY's text format: \N for NULL, integers in decimal,
 * text with COPY's escapes, blobs as bytea's hex form (its backslash escaped for COPY). */
static int put_value(copy_buf *b, sqlite3_stmt *st, int col)
{
    static const char hex[] = "0123456789abcdef";
    int type = sqlite3_column_type(st, col), n;
    const unsigned char *v;

    switch (type) {
    case SQLITE_NULL:
        if (buf_room(b, 2) != 0)
            return -1;
        memcpy(b->p + b->len, "\\N", 2);
        b->len += 2;
        return 0;
    case SQLITE_INTEGER:
        if (buf_room(b, 24) != 0)
            return -1;
        b->len += (size_t)snprintf(b->p + b->len, 24, "%lld",
                                   (long long)sqlite3_column_int64(st, col));
        return 0;
    case SQLITE_BLOB:
        v = sqlite3_column_blob(st, col);
        n = sqlite3_column_bytes(st, col);
        if (buf_room(b, 3 + 2 * (size_t)n) != 0)
            return -1;
        memcpy(b->p + b->len, "\\\\x", 3);
        b->len += 3;
        for (int i = 0; i < n; i++) {
            b->p[b->len++] = hex[v[i] >> 4];
            b->p[b->len++] = hex[v[i] & 15];
        }
        return 0;
    default: /* text (the schema has no real column) */
        v = sqlite3_column_text(st, col);
        n = sqlite3_column_bytes(st, col);
        if (buf_room(b, 2 * (size_t)n) != 0)
            return -1;
        for (int i = 0; i < n; i++) {
            char c = (char)v[i], e = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n'
                                                       : c == '\r' ? 'r' : 0;
            if (e != 0) {
                b->p[b->len++] = '\\';
                b->p[b->len++] = e;
            } else {
                b->p[b->len++] = c;
            }
        }
        return 0;
    }
}

/* Appends the row at st: its ncol values separated by tabs, and a newline. */
static int put_row(copy_buf *b, sqlite3_stmt *st, int ncol)
{
    for (int i = 0; i < ncol; i++) {
        if (i > 0) {
            if (buf_room(b, 1) != 0)
                return -1;
            b->p[b->len++] = '\t';
        }
        if (put_value(b, st, i) != 0)
            return -1;
    }
    if (buf_room(b, 1) != 0)
        return -1;
    b->p[b->len++] = '\n';
    return 0;
}

/* Sends what b holds to the COPY under way and empties it. */
static cu_rc flush(pg_conn *c, copy_buf *b, cu_err *err)
{
    if (b->len > 0 && PQputCopyData(c->conn, b->p, (int)b->len) != 1)
        return pg_error(c, NULL, err, "send rows to copy");
    b->len = 0;
    return CU_OK;
}

/* Copies one table: COPY on the target, its rows from the source, then the counts compared. */
static cu_rc copy_table(sqlite3 *db, pg_conn *c, const cu_migrate_table *t, uint64_t *rows,
                        cu_err *err)
{
    char sql[1024];
    sqlite3_stmt *st = NULL;
    copy_buf b = {0};
    PGresult *res;
    cu_rc rc = CU_OK;
    int src, ncol;

    *rows = 0;
    if (sqlite3_prepare_v2(db, t->select, -1, &st, NULL) != SQLITE_OK)
        return cu_err_set(err, CU_ERR_STORE, "could not read %s from the source: %s", t->name,
                          sqlite3_errmsg(db));
    snprintf(sql, sizeof(sql), "COPY %s(%s) FROM STDIN", t->name, t->columns);
    res = PQexec(c->conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        rc = pg_error(c, res, err, "start the copy");
        PQclear(res);
        sqlite3_finalize(st);
        return rc;
    }
    PQclear(res);
    ncol = sqlite3_column_count(st);
    while (rc == CU_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (put_row(&b, st, ncol) != 0)
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        else {
            (*rows)++;
            if (b.len >= CHUNK)
                rc = flush(c, &b, err);
        }
    }
    if (rc == CU_OK && src != SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_STORE, "could not read %s from the source: %s", t->name,
                        sqlite3_errmsg(db));
    if (rc == CU_OK)
        rc = flush(c, &b, err);
    if (PQputCopyEnd(c->conn, rc == CU_OK ? NULL : "the source failed") != 1 && rc == CU_OK)
        rc = pg_error(c, NULL, err, "end the copy");
    while ((res = PQgetResult(c->conn)) != NULL) {
        if (rc == CU_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_error(c, res, err, "copy the rows");
        else if (rc == CU_OK && (uint64_t)strtoull(PQcmdTuples(res), NULL, 10) != *rows)
            rc = cu_err_set(err, CU_ERR_STORE, "%s: the target took another number of rows",
                            t->name);
        PQclear(res);
    }
    free(b.p);
    sqlite3_finalize(st);
    return rc;
}

/* Whether the target holds a vault already: any master key, tenant or audit entry. */
static cu_rc target_empty(pg_conn *c, cu_err *err)
{
    PGresult *res = PQexec(c->conn, "SELECT EXISTS (SELECT 1 FROM master_keys)"
                                    " OR EXISTS (SELECT 1 FROM tenants)"
                                    " OR EXISTS (SELECT 1 FROM audit_log)");
    cu_rc rc = CU_OK;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        rc = pg_error(c, res, err, "look at the target");
    else if (strcmp(PQgetvalue(res, 0, 0), "f") != 0)
        rc = cu_err_set(err, CU_ERR_EXISTS, "the target database already holds a vault");
    PQclear(res);
    return rc;
}

/* Every table, in one transaction of the target and one read transaction of the source. */
static cu_rc copy_all(sqlite3 *db, pg_conn *c, cu_migrate_report *rep, cu_err *err)
{
    cu_rc rc;

    if ((rc = pg_exec_text(c, "BEGIN", err, "begin the copy")) != CU_OK)
        return rc;
    if ((rc = target_empty(c, err)) == CU_OK &&
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rc = cu_err_set(err, CU_ERR_STORE, "could not begin reading the source");
    for (size_t i = 0; rc == CU_OK && i < CU_MIGRATE_TABLES; i++) {
        rep->tables[i].name = cu_migrate_tables[i].name;
        rc = copy_table(db, c, &cu_migrate_tables[i], &rep->tables[i].rows, err);
        rep->rows += rep->tables[i].rows;
        rep->ntables = i + 1;
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == CU_OK)
        rc = pg_exec_text(c,
                      "SELECT setval(pg_get_serial_sequence('consents', 'seq'),"
                      " COALESCE(max(seq), 0) + 1, false) FROM consents",
                      err, "move the consents' sequence");
    if (rc != CU_OK) {
        pg_exec_text(c, "ROLLBACK", &(cu_err){0}, "roll back the copy");
        return rc;
    }
    if ((rc = pg_exec_text(c, "COMMIT", err, "commit the copy")) != CU_OK)
        return rc;
    /* Statistics for the planner now, not at autovacuum's leisure: a fresh database's plans
     * would scan the tables the copy just filled (bench/README.md, http_pg.sh). The copy is
     * committed: a failure here only leaves that to autovacuum. */
    pg_exec_text(c, "ANALYZE", &(cu_err){0}, "analyze the copy");
    return CU_OK;
}

cu_rc cu_store_migrate_sqlite_to_pg(const char *sqlite_path, const char *conninfo,
                                    cu_migrate_report *rep, cu_err *err)
{
    cu_store *src = NULL, *dst = NULL;
    struct stat sb;
    sqlite3 *db = NULL;
    pg_conn *c = NULL;
    cu_rc rc;

    memset(rep, 0, sizeof(*rep));
    /* Opening a SQLite store creates it: a mistyped path would copy an empty vault. */
    if (stat(sqlite_path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no vault database at the source path");
    if (cu_store_sqlite_schema_version() != MIGRATE_SQLITE_VERSION)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "this build moves SQLite vaults at schema %d",
                          MIGRATE_SQLITE_VERSION);
    /* The SQLite store opened (and so upgraded and flocked) for the whole copy. */
    if ((rc = cu_store_sqlite_open(sqlite_path, &src, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_pg_open(conninfo, &dst, err)) != CU_OK)
        goto out;
    if (sqlite3_open_v2(sqlite_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = cu_err_set(err, CU_ERR_STORE, "could not open the source to read it");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    if ((rc = pg_conn_get((pg_store *)dst, &c, err)) != CU_OK)
        goto out;
    rc = copy_all(db, c, rep, err);
    pg_conn_put((pg_store *)dst, c);
out:
    sqlite3_close(db);
    cu_store_close(dst);
    cu_store_close(src);
    return rc;
}

cu_rc cu_store_migrate_pg_empty(const char *conninfo, cu_err *err)
{
    cu_store *dst = NULL;
    pg_conn *c = NULL;
    cu_rc rc;

    if ((rc = cu_store_pg_open(conninfo, &dst, err)) != CU_OK)
        return rc;
    if ((rc = pg_conn_get((pg_store *)dst, &c, err)) == CU_OK) {
        rc = target_empty(c, err);
        pg_conn_put((pg_store *)dst, c);
    }
    cu_store_close(dst);
    return rc;
}
