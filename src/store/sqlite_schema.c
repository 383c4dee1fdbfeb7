/*
 * sqlite_schema.c: the embedded SQLite backend of the store: schema, opening, closing.
 *
 * One connection in WAL mode with synchronous=FULL (a commit is on disk before apply returns),
 * foreign keys on, and secure_delete on, so that the bytes of a deleted row (a destroyed
 * subject key, P-DSR-4) are overwritten in the database file rather than left in free pages.
 * Every statement is a prepared constant; no SQL is ever assembled from input. tenant_id leads
 * every primary key.
 *
 * Thread safety: one mutex serializes every call, because a connection's prepared statements
 * cannot be shared. The group-commit writer (DESIGN.md, Writes) sits above this and hands it
 * batches.
 *
 * Schema versions live in PRAGMA user_version; migrations[i] upgrades version i to i + 1, each
 * in its own transaction with the version bump, so a data directory from an older build opens
 * and upgrades.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit_canon.h"
#include "sqlite_int.h"
#include "util.h"

/* Self-contained: whatever its number, canon_fill() runs right after it (migrate()). */
static const char migration_canon[] = "ALTER TABLE audit_log ADD COLUMN canon BLOB;";
/* Likewise: sq_erase_fill() runs right after it (migrate()). */
static const char migration_erasures[] =
    "CREATE TABLE erasures("
    "  tenant_id INTEGER NOT NULL, subject_id INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, subject_id)) WITHOUT ROWID;";
/* Likewise: sq_audit_subject_fill() runs right after it (migrate()). */
static const char migration_audit_subjects[] =
    "ALTER TABLE audit_log ADD COLUMN subject_id INTEGER;"
    "CREATE TABLE audit_subjects("
    "  tenant_id INTEGER NOT NULL, subject_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, subject_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE audit_subject_marks("
    "  tenant_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL);";

/*
 * Issue 17, item 2: records keyed by a time-ordered internal key. Public record ids are random
 * 64-bit numbers (unguessable), and as the B-tree key of records and record_fields they put each
 * write's rows on random pages: a group commit of a few puts dirtied a leaf of each table per
 * record, and each leaf was written to the WAL and again by the checkpoint. Now a record's row
 * is keyed by rid, its rowid, which SQLite gives as the largest so far plus one: rows of one
 * group land on the same few pages at the right edge of the table. The public id stays a column
 * with a UNIQUE index (tenant_id, record_id), the lookup by id; a record's sealed fields are
 * keyed by (rid, field) and so are appended too, and so is the index of its blind index entries
 * by owner (blind_by_record on rid; the entries themselves stay keyed by their digest, which
 * is what a search looks up). The conversion copies every row in creation
 * order, in the migration's transaction (the ALTERs rewrite record_fields' reference to records
 * along with the name, so the old pair stays consistent until both are dropped).
 */
static const char migration_row_keys[] =
    "ALTER TABLE record_fields RENAME TO record_fields_v12;"
    "ALTER TABLE records RENAME TO records_v12;"
    "CREATE TABLE records("
    "  rid INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), record_id INTEGER NOT NULL,"
    "  collection TEXT NOT NULL, subject_id INTEGER, key_version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, doc BLOB NOT NULL,"
    "  anonymized INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE(tenant_id, record_id),"
    "  FOREIGN KEY(tenant_id, subject_id) REFERENCES subjects(tenant_id, subject_id));"
    "INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version, created_at,"
    "  updated_at, doc, anonymized, version)"
    " SELECT tenant_id, record_id, collection, subject_id, key_version, created_at, updated_at,"
    "  doc, anonymized, version FROM records_v12 ORDER BY created_at, tenant_id, record_id;"
    "CREATE TABLE record_fields("
    "  rid INTEGER NOT NULL REFERENCES records(rid) ON DELETE CASCADE, field TEXT NOT NULL,"
    "  ct BLOB NOT NULL, PRIMARY KEY(rid, field)) WITHOUT ROWID;"
    "INSERT INTO record_fields(rid, field, ct)"
    " SELECT r.rid, f.field, f.ct FROM record_fields_v12 f JOIN records r"
    "  ON r.tenant_id = f.tenant_id AND r.record_id = f.record_id ORDER BY r.rid, f.field;"
    /* A record's blind index entries carry its rid and go with it (ON DELETE CASCADE); their
     * index by owner is blind_by_record, appended to like the records. A subject's entries (rid
     * NULL) keep the index by owner id, now partial. */
    "ALTER TABLE blind_index RENAME TO blind_index_v12;"
    "CREATE TABLE blind_index("
    "  tenant_id INTEGER NOT NULL, scope TEXT NOT NULL, digest BLOB NOT NULL,"
    "  owner_id INTEGER NOT NULL, uniq INTEGER NOT NULL DEFAULT 0,"
    "  rid INTEGER REFERENCES records(rid) ON DELETE CASCADE,"
    "  PRIMARY KEY(tenant_id, scope, digest, owner_id)) WITHOUT ROWID;"
    "INSERT INTO blind_index(tenant_id, scope, digest, owner_id, uniq, rid)"
    " SELECT b.tenant_id, b.scope, b.digest, b.owner_id, b.uniq, r.rid FROM blind_index_v12 b"
    "  LEFT JOIN records r ON r.tenant_id = b.tenant_id AND r.record_id = b.owner_id;"
    "DROP TABLE blind_index_v12;" /* and blind_by_owner, blind_unique */
    "DROP TABLE record_fields_v12;"
    "DROP TABLE records_v12;" /* and records_by_subject */
    /* record_id last: the pages of a subject (S_RECORD_PAGE_SUBJECT) and its erasure's batches
     * are ordered by (created_at, record_id) and need no sort. */
    "CREATE INDEX records_by_subject ON records(tenant_id, subject_id, created_at, record_id);"
    "CREATE INDEX blind_by_record ON blind_index(rid) WHERE rid IS NOT NULL;"
    /* rid, always NULL here, makes the index cover the deletes by owner (the planner, without
     * statistics, would otherwise walk the tenant's part of the primary key). */
    "CREATE INDEX blind_by_owner ON blind_index(tenant_id, owner_id, rid) WHERE rid IS NULL;"
    "CREATE UNIQUE INDEX blind_unique ON blind_index(tenant_id, scope, digest) WHERE uniq = 1;";

/*
 * Issue 11, item 4 (key epochs, P-RET-3): whether personal data was deleted since the newest
 * master key version, durable and written by the deleting transaction itself. Any deletion
 * from keys (a subject key erased, a retained key shredded, a tenant's keys purged, a
 * replaced tenant or data key), of a record, of a user, or a record anonymized puts the row
 * version 0 in master_keys (a check value no key matches; no master key has version 0); the
 * next master version's insert removes it. The core reads it with the master list
 * (epoch.c): a version 0 means a key epoch is due. A vault upgraded to this version (one with a
 * master key already) may have erased before: it starts with the mark; a new database does not.
 */
static const char migration_key_epochs[] =
    "INSERT OR IGNORE INTO master_keys(version, check_value, created_at)"
    "  SELECT 0, zeroblob(32), 0 WHERE EXISTS (SELECT 1 FROM master_keys);"
    "CREATE TRIGGER IF NOT EXISTS epoch_key_deleted AFTER DELETE ON keys BEGIN"
    "  INSERT OR IGNORE INTO master_keys(version, check_value, created_at)"
    "  VALUES(0, zeroblob(32), 0); END;"
    "CREATE TRIGGER IF NOT EXISTS epoch_record_deleted AFTER DELETE ON records BEGIN"
    "  INSERT OR IGNORE INTO master_keys(version, check_value, created_at)"
    "  VALUES(0, zeroblob(32), 0); END;"
    "CREATE TRIGGER IF NOT EXISTS epoch_record_anonymized AFTER UPDATE OF subject_id ON records"
    "  WHEN old.subject_id IS NOT NULL AND new.subject_id IS NULL BEGIN"
    "  INSERT OR IGNORE INTO master_keys(version, check_value, created_at)"
    "  VALUES(0, zeroblob(32), 0); END;"
    "CREATE TRIGGER IF NOT EXISTS epoch_user_deleted AFTER DELETE ON users BEGIN"
    "  INSERT OR IGNORE INTO master_keys(version, check_value, created_at)"
    "  VALUES(0, zeroblob(32), 0); END;"
    "CREATE TRIGGER IF NOT EXISTS epoch_rotated AFTER INSERT ON master_keys"
    "  WHEN new.version > 0 BEGIN DELETE FROM master_keys WHERE version = 0; END;";

/*
 * 26 -> 27 (issue 17): public record ids from internal keys (sqlite_ids.c; docs/store.md,
 * "Public record ids"). records is rebuilt without UNIQUE(tenant_id, record_id), whose index
 * put a random leaf in every write: the ids of rows written from now on are the permutation
 * of their rid (keyed = 1), found by it; the older rows keep a unique index of their own,
 * partial to them. rid becomes AUTOINCREMENT, so no rid, and so no id, is ever handed out
 * twice. The sweep's and the re-encryption's walk of a tenant's records follows
 * records_by_tenant, appended to like the table. migrate() runs this one with foreign keys
 * off (the documented way to rebuild a table others reference: their REFERENCES records
 * clauses then name the new table; a DROP with foreign keys on would delete their rows) and
 * checks them before its commit. The triggers of key epochs go with the old table and are
 * made again.
 */
static const char migration_record_keys[] =
    "CREATE TABLE records_v27("
    "  rid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), record_id INTEGER NOT NULL,"
    "  collection TEXT NOT NULL, subject_id INTEGER, key_version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, doc BLOB NOT NULL,"
    "  anonymized INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0,"
    "  keyed INTEGER NOT NULL DEFAULT 0,"
    "  FOREIGN KEY(tenant_id, subject_id) REFERENCES subjects(tenant_id, subject_id));"
    "INSERT INTO records_v27(rid, tenant_id, record_id, collection, subject_id, key_version,"
    "  created_at, updated_at, doc, anonymized, version)"
    " SELECT rid, tenant_id, record_id, collection, subject_id, key_version, created_at,"
    "  updated_at, doc, anonymized, version FROM records ORDER BY rid;"
    "DROP TABLE records;"
    "ALTER TABLE records_v27 RENAME TO records;"
    "CREATE UNIQUE INDEX records_by_id ON records(tenant_id, record_id) WHERE keyed = 0;"
    "CREATE INDEX records_by_tenant ON records(tenant_id, rid);"
    /* Each entry ends with its rid (an index's rows end with the rowid): a subject's records
     * (or the tenant's own) are in (created_at, rid) order, so the records of one second are
     * appended too, where random ids put each on a leaf of that second's range. */
    "CREATE INDEX records_by_subject ON records(tenant_id, subject_id, created_at);"
    "CREATE INDEX records_by_subject_collection"
    "  ON records(tenant_id, subject_id, collection, created_at);"
    "CREATE TRIGGER epoch_record_deleted AFTER DELETE ON records BEGIN"
    "  INSERT OR IGNORE INTO master_keys(version, check_value, created_at)"
    "  VALUES(0, zeroblob(32), 0); END;"
    "CREATE TRIGGER epoch_record_anonymized AFTER UPDATE OF subject_id ON records"
    "  WHEN old.subject_id IS NOT NULL AND new.subject_id IS NULL BEGIN"
    "  INSERT OR IGNORE INTO master_keys(version, check_value, created_at)"
    "  VALUES(0, zeroblob(32), 0); END;"
    /* A retained record's entry went with it by (tenant_id, record_id), which needs a unique
     * key of records no longer there: it goes by the record's rid now. */
    "CREATE TABLE retained_v27("
    "  tenant_id INTEGER NOT NULL, record_id INTEGER NOT NULL, subject_id INTEGER NOT NULL,"
    "  rid INTEGER NOT NULL REFERENCES records(rid) ON DELETE CASCADE,"
    "  PRIMARY KEY(tenant_id, record_id)) WITHOUT ROWID;"
    "INSERT INTO retained_v27(tenant_id, record_id, subject_id, rid)"
    " SELECT k.tenant_id, k.record_id, k.subject_id, r.rid FROM retained_records k"
    "  JOIN records r ON r.tenant_id = k.tenant_id AND r.record_id = k.record_id"
    "  AND r.keyed = 0;"
    "DROP TABLE retained_records;"
    "ALTER TABLE retained_v27 RENAME TO retained_records;"
    "CREATE INDEX retained_by_subject ON retained_records(tenant_id, subject_id);"
    "CREATE INDEX retained_by_rid ON retained_records(rid);"
    /* Keys of the vault, of no tenant (keys.tenant_id names a tenant): the record id key
     * (CU_KEY_RECORD_IDS), wrapped under a master key version. IF NOT EXISTS, as the others
     * a test may run twice (a database rewound by hand: the rebuild above then makes every
     * row keyed 0, found by records_by_id). */
    "CREATE TABLE IF NOT EXISTS vault_keys("
    "  kind INTEGER NOT NULL, version INTEGER NOT NULL, parent_version INTEGER NOT NULL,"
    "  wrapped BLOB NOT NULL, PRIMARY KEY(kind, version)) WITHOUT ROWID;";

/* Each tenant's cache generation (docs/store.md, contract item 12): raised by every write the
 * core's caches of the tenant's secrets must notice, read with the tenant row, so that a server
 * sharing the database sees the change from its next request. cache_gen_add() adds the column
 * unless a database rewound to an older version by hand (tests) has it already. */
static const char migration_cache_gen[] = "SELECT 1;";

static const char *const migrations[] = {
    /* 0 -> 1: the key table, tenants, subjects, records, sensitive fields, blind indexes. */
    "CREATE TABLE master_keys("
    "  version INTEGER PRIMARY KEY, check_value BLOB NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE tenants("
    "  tenant_id INTEGER PRIMARY KEY, name TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE keys("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), kind INTEGER NOT NULL,"
    "  owner_id INTEGER NOT NULL, version INTEGER NOT NULL, parent_version INTEGER NOT NULL,"
    "  wrapped BLOB NOT NULL,"
    "  PRIMARY KEY(tenant_id, kind, owner_id, version)) WITHOUT ROWID;"
    "CREATE TABLE subjects("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), subject_id INTEGER NOT NULL,"
    "  key_version INTEGER NOT NULL, created_at INTEGER NOT NULL, profile BLOB NOT NULL,"
    "  PRIMARY KEY(tenant_id, subject_id)) WITHOUT ROWID;"
    "CREATE TABLE records("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), record_id INTEGER NOT NULL,"
    "  collection TEXT NOT NULL, subject_id INTEGER, key_version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, doc BLOB NOT NULL,"
    "  PRIMARY KEY(tenant_id, record_id),"
    "  FOREIGN KEY(tenant_id, subject_id) REFERENCES subjects(tenant_id, subject_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX records_by_subject ON records(tenant_id, subject_id, created_at);"
    "CREATE TABLE record_fields("
    "  tenant_id INTEGER NOT NULL, record_id INTEGER NOT NULL, field TEXT NOT NULL,"
    "  ct BLOB NOT NULL, PRIMARY KEY(tenant_id, record_id, field),"
    "  FOREIGN KEY(tenant_id, record_id) REFERENCES records(tenant_id, record_id)"
    "    ON DELETE CASCADE) WITHOUT ROWID;"
    "CREATE TABLE blind_index("
    "  tenant_id INTEGER NOT NULL, scope TEXT NOT NULL, digest BLOB NOT NULL,"
    "  owner_id INTEGER NOT NULL, uniq INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(tenant_id, scope, digest, owner_id)) WITHOUT ROWID;"
    "CREATE INDEX blind_by_owner ON blind_index(tenant_id, owner_id);"
    "CREATE UNIQUE INDEX blind_unique ON blind_index(tenant_id, scope, digest) WHERE uniq = 1;",

    /* 1 -> 2: declared field classes per collection. */
    "CREATE TABLE collections("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), name TEXT NOT NULL,"
    "  spec TEXT NOT NULL, PRIMARY KEY(tenant_id, name)) WITHOUT ROWID;",

    /* 2 -> 3: API keys, users and sessions (P-ACC-1 .. P-ACC-6). API keys of tenant 0 are the
     * operator's, hence no foreign key on their tenant; authentication finds a key by its id
     * alone. Sessions are found by the hash of their token alone. */
    "CREATE TABLE api_keys("
    "  tenant_id INTEGER NOT NULL, key_id INTEGER NOT NULL, role INTEGER NOT NULL,"
    "  name TEXT NOT NULL, secret_hash BLOB NOT NULL, created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(tenant_id, key_id)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX api_keys_by_id ON api_keys(key_id);"
    "CREATE TABLE users("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), user_id INTEGER NOT NULL,"
    "  role INTEGER NOT NULL, email_digest BLOB NOT NULL, email BLOB NOT NULL,"
    "  key_version INTEGER NOT NULL, password_hash TEXT NOT NULL,"
    "  totp_secret BLOB, totp_key_version INTEGER NOT NULL DEFAULT 0,"
    "  totp_pending BLOB, totp_pending_key_version INTEGER NOT NULL DEFAULT 0,"
    "  totp_enabled INTEGER NOT NULL DEFAULT 0, totp_last_step INTEGER NOT NULL DEFAULT 0,"
    "  failures INTEGER NOT NULL DEFAULT 0, window_start INTEGER NOT NULL DEFAULT 0,"
    "  locked_until INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, user_id), UNIQUE(tenant_id, email_digest)) WITHOUT ROWID;"
    "CREATE TABLE sessions("
    "  token_hash BLOB PRIMARY KEY, tenant_id INTEGER NOT NULL, user_id INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
    "  FOREIGN KEY(tenant_id, user_id) REFERENCES users(tenant_id, user_id) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX sessions_by_user ON sessions(tenant_id, user_id, expires_at);",

    /* 3 -> 4: the audit log and its signed checkpoints (P-AUD-1, P-AUD-2). No foreign key to
     * tenants: tenant 0 is the platform's log, and a purged tenant's entries stay. */
    "CREATE TABLE audit_log("
    "  tenant_id INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, purpose TEXT NOT NULL,"
    "  source TEXT NOT NULL, request_id TEXT NOT NULL, outcome TEXT NOT NULL,"
    "  prev BLOB NOT NULL, hash BLOB NOT NULL, PRIMARY KEY(tenant_id, seq)) WITHOUT ROWID;"
    "CREATE INDEX audit_by_time ON audit_log(tenant_id, at);"
    "CREATE TABLE audit_checkpoints("
    "  tenant_id INTEGER NOT NULL, seq INTEGER NOT NULL, anchor INTEGER NOT NULL,"
    "  at INTEGER NOT NULL, hash BLOB NOT NULL, sig BLOB NOT NULL,"
    "  PRIMARY KEY(tenant_id, seq, anchor)) WITHOUT ROWID;",

    /* 4 -> 5: each tenant's privacy policy, versioned (the YAML text as loaded). */
    "CREATE TABLE tenant_policies("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), version INTEGER NOT NULL,"
    "  text TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, version)) WITHOUT ROWID;",

    /* 5 -> 6: the policy enforced (P-RET-1 .. P-RET-6, P-CON-2, P-DSR-5): a tenant's end of
     * subscription, a subject's restriction and last activity, anonymized records, the consent
     * ledger (ids and purpose names only) and legal holds (the reason sealed). */
    "ALTER TABLE tenants ADD COLUMN terminated_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE subjects ADD COLUMN restricted INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE subjects ADD COLUMN last_activity INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE records ADD COLUMN anonymized INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE consents("
    "  seq INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id),"
    "  subject_id INTEGER NOT NULL, purpose TEXT NOT NULL, action INTEGER NOT NULL,"
    "  at INTEGER NOT NULL, source TEXT NOT NULL, policy_version TEXT NOT NULL);"
    "CREATE INDEX consents_by_subject ON consents(tenant_id, subject_id, purpose, seq);"
    "CREATE TABLE holds("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(tenant_id), hold_id INTEGER NOT NULL,"
    "  subject_id INTEGER NOT NULL, record_id INTEGER NOT NULL, reason BLOB NOT NULL,"
    "  key_version INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    "  released_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(tenant_id, hold_id)) WITHOUT ROWID;",

    /* 6 -> 7: why a hold was released, sealed like its reason. */
    "ALTER TABLE holds ADD COLUMN release_reason BLOB;",

    /* 7 -> 8: the audit signing key's public half, so that a replaced or lost DIR/audit.key is
     * noticed at open (P-AUD-2). */
    "CREATE TABLE audit_key("
    "  id INTEGER PRIMARY KEY CHECK(id = 1), public_key BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    /* ... and each record's write version, bound into its AAD, and the digest of the
     * ciphertext a write stored, kept in its audit entry (verify --deep finds a rollback). */
    "ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE audit_log ADD COLUMN digest BLOB;"
    /* ... and whether the owner lets the tenant's admins bind its policy (P-RET-4). */
    "CREATE TABLE policy_grants("
    "  tenant_id INTEGER PRIMARY KEY REFERENCES tenants(tenant_id),"
    "  admins INTEGER NOT NULL, at INTEGER NOT NULL);",

    /* 8 -> 9: named leases (CU_OP_LEASE_TAKE): one server at a time sweeps a database shared
     * by several; a crashed holder's lease lapses at expires_at (unix seconds). */
    "CREATE TABLE leases("
    "  name TEXT PRIMARY KEY, holder INTEGER NOT NULL, expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",

    /* 9 -> 10: each audit entry's canonical encoding, the bytes its hash is over, so that verify
     * hashes what it reads (issue 17); canon_fill() gives every older entry its own. */
    migration_canon,

    /* 10 -> 11: the erasure queue (P-DSR-4): a subject whose key is destroyed is hidden from
     * every read until its rows are deleted, in batches, in the background (sqlite_erase.c);
     * sq_erase_fill() queues the subjects an older build left without their key. */
    migration_erasures,

    /* 11 -> 12: no index that no statement uses (issue 17, item 2). audit_by_time(tenant_id,
     * at) served none: the prune's bound (S_AUDIT_BEFORE, max(seq) with at < ?) walks the primary
     * key back from the newest entry, and a time-filtered list pages by seq; yet every audit
     * entry, so every audited read and write, paid one more B-tree insert for it.
     * tests/test_store.c checks that every index serves a statement or a uniqueness rule. */
    "DROP INDEX IF EXISTS audit_by_time;",

    /* 12 -> 13: data-subject requests (P-DSR-7, sqlite_request.c): ids, kinds, states, times,
     * reason codes, the SHA-256 of a verification token; no personal value. */
    sq_migration_requests,
    /* 13 -> 14: records and their fields keyed by a time-ordered internal key (above). */
    migration_row_keys,
    /* 14 -> 15: erasure subject to legal retention (P-DSR-4, P-RET-4). A record kept after its
     * subject's erasure is listed in retained_records (sealed under the subject's retained key,
     * readable only for a legal obligation, docs/keys.md; it goes with its record); the
     * erasure's queue entry stays, marked kept, while such records remain, so the subject stays
     * hidden; and a subject's records of one collection are found without reading the others
     * (the erasure's answer stays flat). The records table itself keeps its columns. */
    "CREATE TABLE IF NOT EXISTS retained_records("
    "  tenant_id INTEGER NOT NULL, record_id INTEGER NOT NULL, subject_id INTEGER NOT NULL,"
    "  PRIMARY KEY(tenant_id, record_id),"
    "  FOREIGN KEY(tenant_id, record_id) REFERENCES records(tenant_id, record_id)"
    "    ON DELETE CASCADE) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS retained_by_subject ON retained_records(tenant_id, subject_id);"
    "CREATE INDEX IF NOT EXISTS records_by_subject_collection"
    "  ON records(tenant_id, subject_id, collection, created_at, record_id);"
    "ALTER TABLE erasures ADD COLUMN kept INTEGER NOT NULL DEFAULT 0;",
    /* 15 -> 16: the audit log's index by subject (issue 10, the subject's export): which
     * entries touch a subject's data (GDPR Art. 15(1)(c)), found without a scan of the log. An
     * entry carries its subject in a column beside it, outside its hash; the index catches up
     * from that column when an export asks (sqlite_audit_subject.c), so the write path pays no
     * B-tree of its own. sq_audit_subject_fill() indexes the entries already written. */
    migration_audit_subjects,
    /* 16 -> 17: an erasure's signed certificate, stored in the erasure's own transaction
     * (sqlite_erase.c, issue 10): completing its request again, reading the request, or a crash
     * after the commit give the same certificate. Ids, names, counts and dates only. */
    sq_migration_erasure_certificates,
    /* 17 -> 18 (issue 11): key epochs (above). */
    migration_key_epochs,
    /* 18 -> 19 (issue 12): each tenant's cache generation (above). */
    migration_cache_gen,
    /* 19 -> 20 (issue 13, P-NOT-1, P-NOT-2): policy versions with notice (sqlite_policy.c). */
    sq_migration_policy_versions,
    /* 20 -> 21 (issue 13, item 6): the webhook outbox (sqlite_webhook.c): endpoints with their
     * sealed secrets, events (ids and names only), deliveries and their attempts. */
    sq_migration_webhooks,
    /* 21 -> 22 (issue 13, item 4): disclosures to the policy's recipients (sqlite_disclosure.c),
     * ids and names only (P-SHR-1). */
    sq_migration_disclosures,
    /* 22 -> 23 (issue 13, item 5, P-BRE-1): breach incidents (sqlite_incident.c): the
     * incident, its frozen affected set (ids only) and the notices sent. */
    sq_migration_incidents,
    /* 23 -> 24 (issue 14, item 4, P-ANA-1): the privacy budget of noisy aggregates
     * (sqlite_analytics.c), numbers only. */
    sq_migration_analytics,
    /* 24 -> 25: reserved for consent (issue 14, item 2), which landed needing no table; a
     * no-op so that single sign-on keeps the number it was given. */
    "SELECT 1",
    /* 25 -> 26 (issue 14, item 1, P-ACC-5): single sign-on (sqlite_sso.c): each tenant's
     * identity provider, its client secret sealed, and the logins in flight. */
    sq_migration_sso,
    /* 26 -> 27 (issue 17): public record ids from internal keys. */
    migration_record_keys,
};

cu_rc sq_checkpoint(cu_store *base, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    int src, log = 0, done = 0;

    pthread_mutex_lock(&s->lock);
    /* cu_store_checkpoint_brief (sqlite_erase.c): a shorter wait for readers. */
    if (sq_checkpoint_wait_ms >= 0)
        sqlite3_busy_timeout(s->db, sq_checkpoint_wait_ms);
    src = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    if (sq_checkpoint_wait_ms >= 0)
        sqlite3_busy_timeout(s->db, 10000);
    pthread_mutex_unlock(&s->lock);
    if (src != SQLITE_OK)
        return sq_db_error(s, src, err, "checkpoint");
    if (log != done)
        return cu_err_set(err, CU_ERR_STORE, "checkpoint incomplete: %d of %d frames", done, log);
    return CU_OK;
}

static cu_rc schema_version(sqlite_store *s, int *version, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);

    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK)
        return sq_db_error(s, src, err, "read schema version");
    return CU_OK;
}

/* One older entry's encoding from its columns (as they are: a row altered before the upgrade
 * keeps failing its hash). A text too long for any entry gets an empty encoding, which no
 * hash matches. */
static void canon_of_row(sqlite3_stmt *st, uint8_t *canon, size_t *len)
{
    uint8_t prev[32];
    cu_audit_fields f = {.tenant_id = (cu_id)sqlite3_column_int64(st, 0),
                         .seq = (uint64_t)sqlite3_column_int64(st, 1),
                         .at = sqlite3_column_int64(st, 2),
                         .prev = prev};

    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        f.text[i] = (const char *)sqlite3_column_text(st, 3 + i);
        f.len[i] = (size_t)sqlite3_column_bytes(st, 3 + i);
    }
    sq_blob32_col(st, 10, prev);
    if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
        static const uint8_t zero[32];
        f.digest = sqlite3_column_bytes(st, 11) == 32 ? sqlite3_column_blob(st, 11) : zero;
    }
    *len = cu_audit_canon(&f, canon);
}

/* Gives every audit entry without one its canonical encoding, in the migration's transaction.
 * Statements prepared here, once: no other code runs them. */
static cu_rc canon_fill(sqlite_store *s, cu_err *err)
{
    sqlite3_stmt *sel = NULL, *upd = NULL;
    uint8_t canon[CU_AUDIT_CANON_MAX];
    size_t len = 0;
    int src;

    src = sqlite3_prepare_v2(s->db,
                             "SELECT tenant_id, seq, at, actor, action, object, purpose, source,"
                             " request_id, outcome, prev, digest FROM audit_log"
                             " WHERE (tenant_id, seq) > (?, ?) ORDER BY tenant_id, seq LIMIT 1",
                             -1, &sel, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(s->db,
                                 "UPDATE audit_log SET canon = ? WHERE tenant_id = ? AND seq = ?",
                                 -1, &upd, NULL);
    /* One row at a time, by key: the table is not changed under a running scan. */
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(sel, 1, INT64_MIN);
        sqlite3_bind_int64(sel, 2, INT64_MIN);
    }
    while (src == SQLITE_OK && (src = sqlite3_step(sel)) == SQLITE_ROW) {
        sqlite3_int64 tenant = sqlite3_column_int64(sel, 0), seq = sqlite3_column_int64(sel, 1);
        canon_of_row(sel, canon, &len);
        sqlite3_reset(sel);
        sqlite3_bind_int64(sel, 1, tenant);
        sqlite3_bind_int64(sel, 2, seq);
        sqlite3_bind_blob(upd, 1, canon, (int)len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(upd, 2, tenant);
        sqlite3_bind_int64(upd, 3, seq);
        if ((src = sqlite3_step(upd)) == SQLITE_DONE)
            src = SQLITE_OK;
        sqlite3_reset(upd);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    if (src != SQLITE_DONE)
        return sq_db_error(s, src, err, "store the audit log's encodings");
    return CU_OK;
}

/* Migration 19's column, unless the table has it. */
static cu_rc cache_gen_add(sqlite_store *s, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int has = 0, src;

    src = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM pragma_table_info('tenants')"
                             " WHERE name = 'cache_gen'", -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
        has = sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return sq_db_error(s, src, err, "read the tenants' columns");
    if (has)
        return CU_OK;
    return sq_exec_ddl(s, "ALTER TABLE tenants ADD COLUMN cache_gen INTEGER NOT NULL DEFAULT 0",
                       err, "migrate schema");
}

/* A rebuild run with foreign keys off left every reference whole: PRAGMA foreign_key_check
 * names none that points nowhere. */
static cu_rc foreign_keys_hold(sqlite_store *s, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL);

    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    sqlite3_finalize(st);
    if (src == SQLITE_ROW)
        return cu_err_set(err, CU_ERR_STORE, "a migration left a reference that points nowhere");
    return src == SQLITE_DONE ? CU_OK : sq_db_error(s, src, err, "check the references");
}

/* Upgrades the schema one version at a time up to target, each step atomic with its bump. */
static cu_rc migrate(sqlite_store *s, int target, cu_err *err)
{
    static const char *const bump[] = {
        "PRAGMA user_version = 1",  "PRAGMA user_version = 2",  "PRAGMA user_version = 3",
        "PRAGMA user_version = 4",  "PRAGMA user_version = 5",  "PRAGMA user_version = 6",
        "PRAGMA user_version = 7",  "PRAGMA user_version = 8",  "PRAGMA user_version = 9",
        "PRAGMA user_version = 10", "PRAGMA user_version = 11", "PRAGMA user_version = 12",
        "PRAGMA user_version = 13", "PRAGMA user_version = 14", "PRAGMA user_version = 15",
        "PRAGMA user_version = 16", "PRAGMA user_version = 17", "PRAGMA user_version = 18",
        "PRAGMA user_version = 19", "PRAGMA user_version = 20", "PRAGMA user_version = 21",
        "PRAGMA user_version = 22", "PRAGMA user_version = 23", "PRAGMA user_version = 24",
        "PRAGMA user_version = 25", "PRAGMA user_version = 26", "PRAGMA user_version = 27",
    };
    int version = 0;
    cu_rc rc;

    _Static_assert(CU_ARRAY_LEN(bump) == CU_ARRAY_LEN(migrations), "one bump per migration");
    if ((rc = schema_version(s, &version, err)) != CU_OK)
        return rc;
    if (version > (int)CU_ARRAY_LEN(migrations))
        return cu_err_set(err, CU_ERR_STORE,
                          "database schema version %d is newer than this build knows (%d)", version,
                          (int)CU_ARRAY_LEN(migrations));
    for (; version < target; version++) {
        int rebuild = migrations[version] == migration_record_keys;
        if (rebuild && (rc = sq_exec_ddl(s, "PRAGMA foreign_keys = OFF", err,
                                         "migrate schema")) != CU_OK)
            return rc;
        rc = sq_exec_ddl(s, "BEGIN IMMEDIATE", err, "begin migration");
        if (rc == CU_OK)
            rc = sq_exec_ddl(s, migrations[version], err, "migrate schema");
        if (rc == CU_OK && rebuild)
            rc = foreign_keys_hold(s, err);
        if (rc == CU_OK && migrations[version] == migration_canon)
            rc = canon_fill(s, err);
        if (rc == CU_OK && migrations[version] == migration_erasures)
            rc = sq_erase_fill(s, err);
        if (rc == CU_OK && migrations[version] == migration_audit_subjects)
            rc = sq_audit_subject_fill(s, err);
        if (rc == CU_OK && migrations[version] == migration_cache_gen)
            rc = cache_gen_add(s, err);
        if (rc == CU_OK && migrations[version] == sq_migration_policy_versions)
            rc = sq_policy_versions_migrate(s, err);
        if (rc == CU_OK)
            rc = sq_exec_ddl(s, bump[version], err, "migrate schema");
        if (rc == CU_OK)
            rc = sq_exec_ddl(s, "COMMIT", err, "commit migration");
        if (rc != CU_OK) {
            cu_err ignored;
            (void)sq_exec_ddl(s, "ROLLBACK", &ignored, "roll back");
        }
        if (rebuild) {
            cu_err ignored;
            if (sq_exec_ddl(s, "PRAGMA foreign_keys = ON", rc == CU_OK ? err : &ignored,
                            "migrate schema") != CU_OK && rc == CU_OK)
                rc = CU_ERR_STORE;
        }
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}

void sq_close(cu_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < S__COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* SQLite creates a database with mode 0644 less the umask; create it 0600 first, since the
 * WAL and shm files copy the database file's mode. */
static cu_rc create_private(const char *path, cu_err *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0)
        return cu_err_set(err, CU_ERR_IO, "could not open database \"%s\": %s", path,
                          strerror(errno));
    close(fd);
    return CU_OK;
}

/* SQLite's process-wide settings, before its first connection. Without memory statistics
 * (which nothing reads) its allocations take no process-wide mutex: with the writer and the
 * readers allocating pages at every read transaction (a commit empties the readers' page
 * caches) that mutex was contended on every request (issue 17). Refused (SQLITE_MISUSE), and
 * so left as it is, once SQLite has started (the tests' fault simulator starts it first). */
static void configure_once(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static void configure(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, configure_once);
}

cu_rc cu_store_sqlite_open_at(const char *path, int version, cu_store **out, cu_err *err)
{
    /* The busy timeout first: switching to WAL waits for a lock another connection (a second
     * writer on a shared database) may hold. */
    static const char *const pragmas = "PRAGMA busy_timeout = 10000;"
                                       "PRAGMA journal_mode = WAL;"
                                       "PRAGMA synchronous = FULL;"
                                       "PRAGMA foreign_keys = ON;"
                                       "PRAGMA secure_delete = ON;";
    sqlite_store *s;
    cu_rc rc;
    int src;

    configure();
    if ((rc = create_private(path, err)) != CU_OK)
        return rc;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    s->base.ops = &cu_store_sqlite;
    pthread_mutex_init(&s->lock, NULL);
    /* The writer's VFS (sqlite_vfs.c): its WAL appends gathered until the commit frame. */
    src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, sq_vfs());
    if (src != SQLITE_OK) {
        rc = cu_err_set(err, CU_ERR_IO, "could not open database \"%s\": %s", path,
                        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((rc = sq_ids_register(s, err)) != CU_OK ||
        (rc = sq_exec_ddl(s, pragmas, err, "configure database")) != CU_OK)
        goto out;
    rc = migrate(s, version, err);
    if (rc == CU_OK && version >= (int)CU_ARRAY_LEN(migrations))
        rc = sq_ids_load(s, err);
out:
    if (rc != CU_OK) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return CU_OK;
}

cu_rc cu_store_sqlite_open_single(const char *path, cu_store **out, cu_err *err)
{
    return cu_store_sqlite_open_at(path, (int)CU_ARRAY_LEN(migrations), out, err);
}

cu_rc cu_store_sqlite_open_reader(const char *path, cu_store **out, cu_err *err)
{
    sqlite_store *s;
    int version = 0;
    cu_rc rc;
    int src;

    configure();
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    s->base.ops = &cu_store_sqlite;
    pthread_mutex_init(&s->lock, NULL);
    src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = cu_err_set(err, CU_ERR_IO, "could not open database \"%s\": %s", path,
                        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((rc = sq_ids_register(s, err)) != CU_OK ||
        (rc = sq_exec_ddl(s, "PRAGMA busy_timeout = 10000;", err, "configure reader")) != CU_OK)
        goto out;
    if ((rc = schema_version(s, &version, err)) == CU_OK &&
        version != (int)CU_ARRAY_LEN(migrations))
        rc = cu_err_set(err, CU_ERR_STORE, "reader sees schema version %d, not %d", version,
                        (int)CU_ARRAY_LEN(migrations));
out:
    if (rc != CU_OK) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return CU_OK;
}

int cu_store_sqlite_schema_version(void)
{
    return (int)CU_ARRAY_LEN(migrations);
}

const cu_store_ops cu_store_sqlite = {
    .name = "sqlite-connection",
    .open = cu_store_sqlite_open_single,
    .close = sq_close,
    .apply = sq_apply,
    .commit_stats = sq_commit_stats,
    .erasure_list = sq_erasure_list,
    .audit_head = sq_audit_head,
    .audit_key_get = sq_audit_key_get,
    .policy_grant_get = sq_policy_grant_get,
    .audit_list = sq_audit_list,
    .audit_scan = sq_audit_scan,
    .audit_rows = sq_audit_rows,
    .audit_seq_before = sq_audit_seq_before,
    .audit_checkpoints = sq_audit_checkpoints,
    .policy_get = sq_policy_get,
    .policy_at = sq_policy_at,
    .policy_versions = sq_policy_versions,
    .record_meta_list = sq_record_meta_list,
    .subject_ids = sq_subject_ids,
    .subject_state = sq_subject_state,
    .consent_list = sq_consent_list,
    .hold_list = sq_hold_list,
    .request_list = sq_request_list,
    .request_list_subject = sq_request_list_subject,
    .request_page = sq_request_page,
    .master_list = sq_master_list,
    .tenant_get = sq_tenant_get,
    .tenant_list = sq_tenant_list,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .subject_get = sq_subject_get,
    .record_get = sq_record_get,
    .record_ids_by_subject = sq_record_ids_by_subject,
    .record_ids_in = sq_record_ids_in,
    .record_counts = sq_record_counts,
    .record_page = sq_record_page,
    .blind_find = sq_blind_find,
    .collection_get = sq_collection_get,
    .checkpoint = sq_checkpoint,
    .apikey_get = sq_apikey_get,
    .apikey_list = sq_apikey_list,
    .user_get = sq_user_get,
    .user_find = sq_user_find,
    .user_list = sq_user_list,
    .session_get = sq_session_get,
    .audit_by_subject = sq_audit_by_subject,
    .snapshot = sq_snapshot,
    .subject_collections = sq_subject_collections,
    .record_page_in = sq_record_page_in,
    .record_page_own = sq_record_page_own,
    .erasure_certificate = sq_erasure_certificate,
    .webhook_endpoints = sq_webhook_endpoints,
    .webhook_events = sq_webhook_events,
    .webhook_deliveries = sq_webhook_deliveries,
    .webhook_due = sq_webhook_due,
    .disclosure_list = sq_disclosure_list,
    .incident = &sq_incident_ops,
    .analytics = &sq_analytics_ops,
    .sso = &sq_sso_ops,
    .set_idmap = sq_set_idmap,
    .record_id_new = sq_record_id_new,
};
