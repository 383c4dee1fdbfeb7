/*
 * pg_schema_vault.c: the vault domain's tables of the PostgreSQL schema (version 1, run by
 * pg_schema.c): master keys, tenants, wrapped keys, collections, API keys, users, sessions,
 * policies, the audit signing key, leases, and the key epochs' triggers. Translated from the
 * SQLite schema at its version 18 (sqlite_schema.c explains each table); every integer is a
 * bigint, every blob a bytea, and in a tenant's table tenant_id leads its primary key, unique
 * indexes and foreign keys (docs/scaling.md names each table, its kind and the exceptions;
 * test_pg_schema holds them).
 *
 * The tables without a tenant (master_keys, audit_key, leases) are the vault's own, shared by
 * every tenant: on a sharded PostgreSQL they are reference tables (docs/store.md).
 */
#include "pg_int.h"

const char pg_ddl_vault[] =
    "CREATE TABLE master_keys("
    "  version bigint PRIMARY KEY, check_value bytea NOT NULL, created_at bigint NOT NULL);"
    "CREATE TABLE tenants("
    "  tenant_id bigint PRIMARY KEY, name text NOT NULL, state bigint NOT NULL DEFAULT 0,"
    "  created_at bigint NOT NULL, terminated_at bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE keys("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), kind bigint NOT NULL,"
    "  owner_id bigint NOT NULL, version bigint NOT NULL, parent_version bigint NOT NULL,"
    "  wrapped bytea NOT NULL, PRIMARY KEY(tenant_id, kind, owner_id, version));"
    /* Every tenant's keys of one kind without an owner (tenant, data and index keys), which
     * the vault reads at open, a rotation, an epoch and a backup (pg_vault_keys.c,
     * Q_KEY_LIST_OWNERLESS): a few rows a tenant, found without a scan of every subject's key.
     * Partial, so a subject's key, the table's bulk, costs its insert no second B-tree. */
    "CREATE INDEX keys_ownerless ON keys(kind, tenant_id, version) WHERE owner_id = 0;"
    "CREATE TABLE collections("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), name text NOT NULL,"
    "  spec text NOT NULL, PRIMARY KEY(tenant_id, name));"
    /* Tenant 0 holds the operator's keys: no foreign key on the tenant. Authentication finds a
     * key by its id alone (random 64 bits): an index, not a uniqueness rule across tenants. */
    "CREATE TABLE api_keys("
    "  tenant_id bigint NOT NULL, key_id bigint NOT NULL, role bigint NOT NULL,"
    "  name text NOT NULL, secret_hash bytea NOT NULL, created_at bigint NOT NULL,"
    "  revoked_at bigint NOT NULL DEFAULT 0, PRIMARY KEY(tenant_id, key_id));"
    "CREATE INDEX api_keys_by_id ON api_keys(key_id);"
    "CREATE TABLE users("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), user_id bigint NOT NULL,"
    "  role bigint NOT NULL, email_digest bytea NOT NULL, email bytea NOT NULL,"
    "  key_version bigint NOT NULL, password_hash text NOT NULL,"
    "  totp_secret bytea, totp_key_version bigint NOT NULL DEFAULT 0,"
    "  totp_pending bytea, totp_pending_key_version bigint NOT NULL DEFAULT 0,"
    "  totp_enabled bigint NOT NULL DEFAULT 0, totp_last_step bigint NOT NULL DEFAULT 0,"
    "  failures bigint NOT NULL DEFAULT 0, window_start bigint NOT NULL DEFAULT 0,"
    "  locked_until bigint NOT NULL DEFAULT 0, created_at bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, user_id), UNIQUE(tenant_id, email_digest));"
    /* A session is found by the hash of its token alone (an index); its key leads with the
     * tenant like every other. */
    "CREATE TABLE sessions("
    "  tenant_id bigint NOT NULL, token_hash bytea NOT NULL, user_id bigint NOT NULL,"
    "  created_at bigint NOT NULL, expires_at bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, token_hash),"
    "  FOREIGN KEY(tenant_id, user_id) REFERENCES users(tenant_id, user_id) ON DELETE CASCADE);"
    "CREATE INDEX sessions_by_token ON sessions(token_hash);"
    "CREATE INDEX sessions_by_user ON sessions(tenant_id, user_id, expires_at);"
    "CREATE TABLE tenant_policies("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), version bigint NOT NULL,"
    "  text text NOT NULL, created_at bigint NOT NULL, PRIMARY KEY(tenant_id, version));"
    "CREATE TABLE policy_grants("
    "  tenant_id bigint PRIMARY KEY REFERENCES tenants(tenant_id),"
    "  admins bigint NOT NULL, at bigint NOT NULL);"
    "CREATE TABLE audit_key("
    "  id bigint PRIMARY KEY CHECK(id = 1), public_key bytea NOT NULL, created_at bigint NOT NULL);"
    "CREATE TABLE leases("
    "  name text PRIMARY KEY, holder bigint NOT NULL, expires_at bigint NOT NULL);"
    /* Key epochs (issue 11, P-RET-3; sqlite_schema.c, migration_key_epochs): a deletion of
     * personal data puts the mark, master key version 0, in the deleting transaction; the next
     * master version's insert removes it. Statement triggers with the deleted rows as a
     * transition table: one insert per statement, none when it deleted nothing. */
    "CREATE FUNCTION epoch_mark_gone() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  IF EXISTS (SELECT 1 FROM gone) THEN"
    "   INSERT INTO master_keys(version, check_value, created_at)"
    "    VALUES (0, decode(repeat('00', 32), 'hex'), 0) ON CONFLICT DO NOTHING;"
    "  END IF;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE FUNCTION epoch_mark() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    "  INSERT INTO master_keys(version, check_value, created_at)"
    "   VALUES (0, decode(repeat('00', 32), 'hex'), 0) ON CONFLICT DO NOTHING;"
    "  RETURN NULL;"
    " END $$;"
    "CREATE FUNCTION epoch_rotated() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN DELETE FROM master_keys WHERE version = 0; RETURN NULL; END $$;"
    "CREATE TRIGGER epoch_key_deleted AFTER DELETE ON keys REFERENCING OLD TABLE AS gone"
    "  FOR EACH STATEMENT EXECUTE FUNCTION epoch_mark_gone();"
    "CREATE TRIGGER epoch_user_deleted AFTER DELETE ON users REFERENCING OLD TABLE AS gone"
    "  FOR EACH STATEMENT EXECUTE FUNCTION epoch_mark_gone();"
    "CREATE TRIGGER epoch_rotated AFTER INSERT ON master_keys"
    "  FOR EACH ROW WHEN (NEW.version > 0) EXECUTE FUNCTION epoch_rotated();";
