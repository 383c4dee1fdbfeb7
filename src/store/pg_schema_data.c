/*
 * pg_schema_data.c: the data domain's tables of the PostgreSQL schema (version 1, run by
 * pg_schema.c after the vault's): subjects, records and their sealed fields, the blind index,
 * consents, holds, the erasure queue, retained records, requests and erasure certificates.
 * Translated from the SQLite schema at its version 18 (sqlite_schema.c explains each table);
 * every integer is a bigint, every blob a bytea, and in a tenant's table tenant_id leads its
 * primary key, unique indexes and foreign keys (docs/scaling.md names each table, its kind and
 * the exceptions; test_pg_schema holds them). SQLite's internal record key (rid) is the key
 * (tenant_id, record_id) here: a record's fields and retained mark reference it, and go with it
 * (ON DELETE CASCADE); its index entries go by their owner.
 */
#include "pg_int.h"

const char pg_ddl_data[] =
    "CREATE TABLE subjects("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), subject_id bigint NOT NULL,"
    "  key_version bigint NOT NULL, created_at bigint NOT NULL, profile bytea NOT NULL,"
    "  restricted bigint NOT NULL DEFAULT 0, last_activity bigint NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(tenant_id, subject_id));"
    "CREATE TABLE records("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), record_id bigint NOT NULL,"
    "  collection text NOT NULL, subject_id bigint, key_version bigint NOT NULL,"
    "  created_at bigint NOT NULL, updated_at bigint NOT NULL, doc bytea NOT NULL,"
    "  anonymized bigint NOT NULL DEFAULT 0, version bigint NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(tenant_id, record_id),"
    "  FOREIGN KEY(tenant_id, subject_id) REFERENCES subjects(tenant_id, subject_id));"
    "CREATE INDEX records_by_subject ON records(tenant_id, subject_id, created_at, record_id);"
    "CREATE INDEX records_by_subject_collection"
    "  ON records(tenant_id, subject_id, collection, created_at, record_id);"
    "CREATE TABLE record_fields("
    "  tenant_id bigint NOT NULL, record_id bigint NOT NULL, field text NOT NULL,"
    "  ct bytea NOT NULL, PRIMARY KEY(tenant_id, record_id, field),"
    "  FOREIGN KEY(tenant_id, record_id) REFERENCES records(tenant_id, record_id)"
    "    ON DELETE CASCADE);"
    /* An entry's owner is a subject or a record. No foreign key to records: PostgreSQL
     * does not index a referencing column, so an ON DELETE CASCADE would scan the tenant's
     * entries at every record's delete (9.1 ms a delete at 20,000 entries); each delete of a
     * record takes its entries by owner instead (blind_by_owner, pg_data_write.c). */
    "CREATE TABLE blind_index("
    "  tenant_id bigint NOT NULL, scope text NOT NULL, digest bytea NOT NULL,"
    "  owner_id bigint NOT NULL, uniq bigint NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(tenant_id, scope, digest, owner_id));"
    "CREATE INDEX blind_by_owner ON blind_index(tenant_id, owner_id);"
    "CREATE UNIQUE INDEX blind_unique ON blind_index(tenant_id, scope, digest) WHERE uniq = 1;"
    "CREATE TABLE consents("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id),"
    "  seq bigint GENERATED ALWAYS AS IDENTITY, subject_id bigint NOT NULL,"
    "  purpose text NOT NULL, action bigint NOT NULL, at bigint NOT NULL, source text NOT NULL,"
    "  policy_version text NOT NULL, PRIMARY KEY(tenant_id, seq));"
    "CREATE INDEX consents_by_subject ON consents(tenant_id, subject_id, purpose, seq);"
    "CREATE TABLE holds("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), hold_id bigint NOT NULL,"
    "  subject_id bigint NOT NULL, record_id bigint NOT NULL, reason bytea NOT NULL,"
    "  key_version bigint NOT NULL, created_at bigint NOT NULL,"
    "  released_at bigint NOT NULL DEFAULT 0, release_reason bytea,"
    "  PRIMARY KEY(tenant_id, hold_id));"
    "CREATE TABLE erasures("
    "  tenant_id bigint NOT NULL, subject_id bigint NOT NULL, kept bigint NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(tenant_id, subject_id));"
    "CREATE TABLE retained_records("
    "  tenant_id bigint NOT NULL, record_id bigint NOT NULL, subject_id bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, record_id),"
    "  FOREIGN KEY(tenant_id, record_id) REFERENCES records(tenant_id, record_id)"
    "    ON DELETE CASCADE);"
    "CREATE INDEX retained_by_subject ON retained_records(tenant_id, subject_id);"
    "CREATE TABLE requests("
    "  tenant_id bigint NOT NULL REFERENCES tenants(tenant_id), request_id bigint NOT NULL,"
    "  subject_id bigint NOT NULL, type bigint NOT NULL, state bigint NOT NULL,"
    "  filer bigint NOT NULL, decision bigint NOT NULL, purpose text NOT NULL,"
    "  reason text NOT NULL, filed_at bigint NOT NULL, verified_at bigint NOT NULL,"
    "  acknowledged_at bigint NOT NULL, extended_at bigint NOT NULL,"
    "  closed_at bigint NOT NULL, decided_at bigint NOT NULL, ack_due bigint NOT NULL,"
    "  answer_due bigint NOT NULL, token_hash bytea, token_expires bigint NOT NULL,"
    "  attempts bigint NOT NULL, version bigint NOT NULL,"
    "  PRIMARY KEY(tenant_id, request_id));"
    "CREATE TABLE erasure_certificates("
    "  tenant_id bigint NOT NULL, subject_id bigint NOT NULL, certificate text NOT NULL,"
    "  PRIMARY KEY(tenant_id, subject_id));"
    /* Key epochs (pg_schema_vault.c defines the functions). */
    "CREATE TRIGGER epoch_record_deleted AFTER DELETE ON records REFERENCING OLD TABLE AS gone"
    "  FOR EACH STATEMENT EXECUTE FUNCTION epoch_mark_gone();"
    "CREATE TRIGGER epoch_record_anonymized AFTER UPDATE OF subject_id ON records"
    "  FOR EACH ROW WHEN (OLD.subject_id IS NOT NULL AND NEW.subject_id IS NULL)"
    "  EXECUTE FUNCTION epoch_mark();";
