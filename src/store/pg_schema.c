/*
 * pg_schema.c: the PostgreSQL backend's schema and its migrations.
 *
 * Versioned as the SQLite schema is: the version lives in the one-row table schema_version;
 * migrations[i] upgrades version i to i + 1, each in its own transaction with the version bump,
 * and a build refuses a database whose version is newer than it knows. Several servers may
 * open one database at once: each migration's transaction first takes an advisory lock, then
 * reads the version again, so one of them migrates and the others find it done.
 *
 * Version 1 is the whole schema at SQLite's version 18, translated (every integer bigint, every
 * blob bytea, tenant_id leading every key): each domain's DDL lives in its own file
 * (pg_schema_vault.c, pg_schema_data.c) and the audit domain's here.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "util.h"

/* The advisory lock of migrations: the two-key form ("cust", 0), a key space apart from the
 * one-key form the audit head check locks tenants in (pg_audit.c). */
#define MIGRATION_LOCK "1668641652, 0"

/* The audit domain (P-AUD-1, P-AUD-2; sqlite_schema.c, versions 4, 8, 10 and 16). No foreign
 * key to tenants: tenant 0 is the platform's log, and a purged tenant's entries stay. */
const char pg_ddl_audit[] =
    "CREATE TABLE audit_log("
    "  tenant_id bigint NOT NULL, seq bigint NOT NULL, at bigint NOT NULL,"
    "  actor text NOT NULL, action text NOT NULL, object text NOT NULL, purpose text NOT NULL,"
    "  source text NOT NULL, request_id text NOT NULL, outcome text NOT NULL,"
    "  prev bytea NOT NULL, hash bytea NOT NULL, digest bytea, canon bytea, subject_id bigint,"
    "  PRIMARY KEY(tenant_id, seq));"
    "CREATE TABLE audit_checkpoints("
    "  tenant_id bigint NOT NULL, seq bigint NOT NULL, anchor bigint NOT NULL,"
    "  at bigint NOT NULL, hash bytea NOT NULL, sig bytea NOT NULL,"
    "  PRIMARY KEY(tenant_id, seq, anchor));"
    /* The log's index by subject (issue 10), caught up by AUDIT_SUBJECT_INDEX to its mark. */
    "CREATE TABLE audit_subjects("
    "  tenant_id bigint NOT NULL, subject_id bigint NOT NULL, seq bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, subject_id, seq));"
    "CREATE TABLE audit_subject_marks("
    "  tenant_id bigint PRIMARY KEY, seq bigint NOT NULL);";

/* Each migration: its DDL texts, run in order in one transaction (NULL ends the list). */
static const char *const *const migrations[] = {
    /* 0 -> 1: the whole schema; the vault's first (the data's reference tenants and use its
     * epoch functions). */
    (const char *const[]){pg_ddl_vault, pg_ddl_data, pg_ddl_audit, NULL},
    /* 1 -> 2 (SQLite's 18 -> 19): each tenant's cache generation (contract item 12). */
    (const char *const[]){"ALTER TABLE tenants ADD COLUMN cache_gen bigint NOT NULL DEFAULT 0;",
                          NULL},
    /* 2 -> 3: an API key's id and a session's token hash unique across tenants, as SQLite's
     * keys make them: a lookup by either finds one row (review 5, F2; on Citus these two stay
     * plain indexes, docs/scaling.md). */
    (const char *const[]){"DROP INDEX api_keys_by_id;"
                          "CREATE UNIQUE INDEX api_keys_by_id ON api_keys(key_id);"
                          "DROP INDEX sessions_by_token;"
                          "CREATE UNIQUE INDEX sessions_by_token ON sessions(token_hash);",
                          NULL},
    /* 3 -> 4 (SQLite's 19 -> 20, issue 13, P-NOT-1, P-NOT-2): a policy version's effective
     * time, withdrawal, note in force and the purposes whose consents it renews. */
    (const char *const[]){
        "ALTER TABLE tenant_policies ADD COLUMN effective_at bigint NOT NULL DEFAULT 0,"
        " ADD COLUMN withdrawn_at bigint NOT NULL DEFAULT 0,"
        " ADD COLUMN in_force_at bigint NOT NULL DEFAULT 0,"
        " ADD COLUMN fresh text NOT NULL DEFAULT '';"
        "UPDATE tenant_policies SET effective_at = created_at, in_force_at = created_at;",
        NULL},
    /* 4 -> 5 (SQLite's 20 -> 21): the webhook outbox (pg_webhook.c). */
    (const char *const[]){pg_ddl_webhooks, NULL},
    /* 5 -> 6 (SQLite's 21 -> 22): disclosures (pg_disclosure.c, P-SHR-1). */
    (const char *const[]){pg_ddl_disclosures, NULL},
    /* 6 -> 7 (SQLite's 22 -> 23, P-BRE-1): breach incidents (pg_incident.c). */
    (const char *const[]){pg_ddl_incidents, NULL},
    /* 7 -> 8 (SQLite's 23 -> 24, P-ANA-1): the analytics privacy budget (pg_analytics.c). */
    (const char *const[]){pg_ddl_analytics, NULL},
    /* 8 -> 9: reserved for consent (issue 14, item 2), which landed needing no table; a no-op
     * so that single sign-on keeps the number it was given. */
    (const char *const[]){"SELECT 1", NULL},
    /* 9 -> 10 (SQLite's 25 -> 26, P-ACC-5): single sign-on (pg_sso.c). */
    (const char *const[]){pg_ddl_sso, NULL},
    /* 10 -> 11 (PostgreSQL only; issue 12, item 5): an SSO login keyed (tenant_id, state_hash),
     * as every tenant table leads with its tenant; an incident's affected set and notices
     * reference it (the incident tables are the platform's; docs/scaling.md). */
    (const char *const[]){pg_ddl_sso_logins_by_tenant, pg_ddl_incident_keys, NULL},
    /* 11 -> 12 (PostgreSQL only): the store instance that took a lease (cu_store_instance),
     * whose connections carry its id, the holder it took it for and when it last renewed it:
     * the lease is free once none of those connections is left (pg_vault.c, lease_gone). */
    (const char *const[]){"ALTER TABLE leases ADD COLUMN instance bigint,"
                          " ADD COLUMN instance_holder bigint, ADD COLUMN renewed_at bigint;",
                          NULL},
};

static pg_query Q_VERSION = PG_QUERY("SELECT coalesce(max(version), 0) FROM schema_version");
static pg_query Q_BUMP = PG_QUERY("UPDATE schema_version SET version = $1");

int cu_store_pg_schema_version(void)
{
    return (int)CU_ARRAY_LEN(migrations);
}

/* One step under the lock: *version is what the database had; if below the newest, the next
 * migration is applied and *done stays 0. */
static cu_rc step(pg_conn *c, int *version, int *done, cu_err *err)
{
    PGresult *res = NULL;
    cu_rc rc;

    rc = pg_exec_text(c,
                      "BEGIN;"
                      "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ");"
                      "CREATE TABLE IF NOT EXISTS schema_version(version bigint NOT NULL);"
                      "INSERT INTO schema_version SELECT 0"
                      " WHERE NOT EXISTS (SELECT 1 FROM schema_version)",
                      err, "begin migration");
    if (rc == CU_OK && (rc = pg_exec(c, &Q_VERSION, NULL, 0, &res, err, "read schema version")) ==
                           CU_OK) {
        *version = (int)pg_i64(res, 0, 0);
        PQclear(res);
    }
    if (rc != CU_OK)
        return rc;
    if (*version > (int)CU_ARRAY_LEN(migrations))
        return cu_err_set(err, CU_ERR_STORE,
                          "database schema version %d is newer than this build knows (%d)",
                          *version, (int)CU_ARRAY_LEN(migrations));
    if (*version == (int)CU_ARRAY_LEN(migrations)) {
        *done = 1;
        return pg_exec_text(c, "COMMIT", err, "commit migration");
    }
    for (const char *const *ddl = migrations[*version]; *ddl != NULL && rc == CU_OK; ddl++)
        rc = pg_exec_text(c, *ddl, err, "migrate schema");
    if (rc == CU_OK)
        rc = pg_exec(c, &Q_BUMP, PG_P(pg_p_i64(*version + 1)), NULL, err, "migrate schema");
    if (rc == CU_OK)
        rc = pg_exec_text(c, "COMMIT", err, "commit migration");
    return rc;
}

cu_rc pg_migrate(pg_conn *c, cu_err *err)
{
    int version = 0, done = 0;
    cu_rc rc = CU_OK;

    while (rc == CU_OK && !done)
        rc = step(c, &version, &done, err);
    if (rc != CU_OK && !c->broken) {
        cu_err ignored;
        (void)pg_exec_text(c, "ROLLBACK", &ignored, "roll back");
    }
    return rc;
}
