/*
 * sqlite.c: the embedded SQLite backend of the store.
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

#include "store.h"
#include "util.h"

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
};

#define AUDIT_COLS                                                                             \
    "tenant_id, seq, at, actor, action, object, purpose, source, request_id, outcome, prev, hash"
#define APIKEY_COLS "tenant_id, key_id, role, name, secret_hash, created_at, revoked_at"
#define USER_COLS                                                                              \
    "tenant_id, user_id, role, email_digest, email, key_version, password_hash, totp_secret,"  \
    " totp_key_version, totp_pending, totp_pending_key_version, totp_enabled, totp_last_step,"  \
    " failures, window_start, locked_until, created_at"
/* A failure at ?3 opens a new window when the window (?4 seconds) has passed or a lockout
 * has ended. */
#define LOGIN_FRESH "(?3 >= window_start + ?4 OR (locked_until > 0 AND ?3 >= locked_until))"

enum stmt_id {
    S_BEGIN,
    S_BEGIN_READ,
    S_COMMIT,
    S_ROLLBACK,
    S_MASTER_ADD,
    S_MASTER_LIST,
    S_TENANT_PUT,
    S_TENANT_STATE,
    S_TENANT_GET,
    S_TENANT_LIST,
    S_KEY_PUT,
    S_KEY_REWRAP,
    S_KEY_DELETE,
    S_KEY_GET_LATEST,
    S_KEY_GET,
    S_KEY_LIST,
    S_SUBJECT_PUT,
    S_SUBJECT_DELETE,
    S_SUBJECT_RECORDS_BLIND_DELETE,
    S_SUBJECT_RECORDS_DELETE,
    S_SUBJECT_GET,
    S_RECORD_PUT,
    S_RECORD_REPLACE,
    S_RECORD_DELETE,
    S_RECORD_GET,
    S_RECORD_BY_SUBJECT,
    S_FIELDS_DELETE,
    S_FIELD_PUT,
    S_FIELDS_GET,
    S_BLIND_PUT,
    S_BLIND_DELETE,
    S_BLIND_FIND,
    S_COLLECTION_PUT,
    S_COLLECTION_GET,
    S_APIKEY_PUT,
    S_APIKEY_REVOKE,
    S_APIKEY_GET,
    S_APIKEY_LIST,
    S_USER_PUT,
    S_USER_SESSIONS_DELETE,
    S_USER_DELETE,
    S_USER_TOTP_PENDING,
    S_USER_TOTP_ENABLE,
    S_USER_LOGIN_FAILED,
    S_USER_LOGIN_OK,
    S_USER_GET,
    S_USER_FIND,
    S_USER_LIST,
    S_SESSION_PUT,
    S_SESSION_DELETE,
    S_SESSION_PURGE,
    S_SESSION_GET,
    S_AUDIT_APPEND,
    S_AUDIT_HEAD,
    S_AUDIT_LIST,
    S_AUDIT_SCAN,
    S_AUDIT_BEFORE,
    S_AUDIT_PRUNE,
    S_CKPT_PUT,
    S_CKPT_LIST,
    S_POLICY_PUT,
    S_POLICY_GET,
    S_SUBJECT_RESTRICT,
    S_SUBJECT_TOUCH,
    S_SUBJECT_CONSENTS_DELETE,
    S_CONSENT_PUT,
    S_CONSENT_LIST,
    S_CONSENT_LAST,
    S_HOLD_PUT,
    S_HOLD_RELEASE,
    S_HOLD_LIST,
    S_RECORD_ANONYMIZE,
    S_RECORD_EXPIRE,
    S_RECORD_META,
    S_SUBJECT_IDS,
    S_SUBJECT_STATE,
    S_HELD_RECORD,
    S_HELD_SUBJECT,
    S_HELD_TENANT,
    S_HELD_TENANT_WIDE,
    S_SUBJECT_KEY_EXISTS,
    S_T_SESSIONS_DELETE,
    S_T_USERS_DELETE,
    S_T_APIKEYS_DELETE,
    S_T_CONSENTS_DELETE,
    S_T_CONSENTS_UNHELD_DELETE,
    S_T_CLOSE,
    S_T_BLIND_DELETE,
    S_T_FIELDS_DELETE,
    S_T_RECORDS_DELETE,
    S_T_SUBJECTS_DELETE,
    S_T_HOLDS_DELETE,
    S_T_COLLECTIONS_DELETE,
    S_T_KEYS_DELETE,
    S__COUNT
};

static const char *const stmt_sql[S__COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_BEGIN_READ] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_MASTER_ADD] = "INSERT INTO master_keys(version, check_value, created_at) VALUES(?,?,?)",
    [S_MASTER_LIST] = "SELECT version, check_value FROM master_keys ORDER BY version",
    [S_TENANT_PUT] = "INSERT INTO tenants(tenant_id, name, state, created_at) VALUES(?,?,?,?)",
    [S_TENANT_STATE] = "UPDATE tenants SET state = ?2,"
                       " terminated_at = CASE WHEN ?3 > 0 THEN ?3 ELSE terminated_at END"
                       " WHERE tenant_id = ?1",
    [S_TENANT_GET] = "SELECT tenant_id, name, state, created_at, terminated_at FROM tenants"
                     " WHERE tenant_id = ?",
    [S_TENANT_LIST] = "SELECT tenant_id, name, state, created_at, terminated_at FROM tenants"
                      " ORDER BY created_at, tenant_id",
    [S_KEY_PUT] = "INSERT INTO keys(tenant_id, kind, owner_id, version, parent_version, wrapped)"
                  " VALUES(?1,?2,?3,?4,?5,?6)",
    [S_KEY_REWRAP] = "UPDATE keys SET parent_version = ?5, wrapped = ?6 WHERE tenant_id = ?1"
                     " AND kind = ?2 AND owner_id = ?3 AND version = ?4",
    [S_KEY_DELETE] = "DELETE FROM keys WHERE tenant_id = ? AND kind = ? AND owner_id = ?",
    [S_KEY_GET_LATEST] = "SELECT tenant_id, kind, owner_id, version, parent_version, wrapped"
                         " FROM keys WHERE tenant_id = ? AND kind = ? AND owner_id = ?"
                         " ORDER BY version DESC LIMIT 1",
    [S_KEY_GET] = "SELECT tenant_id, kind, owner_id, version, parent_version, wrapped"
                  " FROM keys WHERE tenant_id = ? AND kind = ? AND owner_id = ? AND version = ?",
    [S_KEY_LIST] = "SELECT tenant_id, kind, owner_id, version, parent_version, wrapped FROM keys"
                   " WHERE (?1 = 0 OR tenant_id = ?1) AND (?2 = 0 OR kind = ?2)"
                   " ORDER BY tenant_id, kind, owner_id, version",
    [S_SUBJECT_PUT] = "INSERT INTO subjects(tenant_id, subject_id, key_version, created_at,"
                      " profile, last_activity) VALUES(?1,?2,?3,?4,?5,?4)"
                      " ON CONFLICT(tenant_id, subject_id)"
                      " DO UPDATE SET key_version = ?3, profile = ?5",
    [S_SUBJECT_DELETE] = "DELETE FROM subjects WHERE tenant_id = ? AND subject_id = ?",
    [S_SUBJECT_RECORDS_BLIND_DELETE] = "DELETE FROM blind_index WHERE tenant_id = ?1 AND owner_id"
                                       " IN (SELECT record_id FROM records WHERE tenant_id = ?1"
                                       " AND subject_id = ?2)",
    [S_SUBJECT_RECORDS_DELETE] = "DELETE FROM records WHERE tenant_id = ? AND subject_id = ?",
    [S_SUBJECT_GET] = "SELECT tenant_id, subject_id, key_version, created_at, profile,"
                      " restricted, last_activity FROM subjects WHERE tenant_id = ? AND subject_id = ?",
    [S_RECORD_PUT] = "INSERT INTO records(tenant_id, record_id, collection, subject_id,"
                     " key_version, created_at, updated_at, doc) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    /* A rewritten record is no longer anonymous: the sweep looks at it again. */
    [S_RECORD_REPLACE] = "UPDATE records SET key_version = ?5, updated_at = ?7, doc = ?8,"
                         " anonymized = 0"
                         " WHERE tenant_id = ?1 AND record_id = ?2 AND collection = ?3"
                         " AND subject_id IS ?4 AND created_at = ?6",
    [S_RECORD_DELETE] = "DELETE FROM records WHERE tenant_id = ? AND record_id = ?",
    [S_RECORD_GET] = "SELECT tenant_id, record_id, collection, subject_id, key_version,"
                     " created_at, updated_at, doc FROM records"
                     " WHERE tenant_id = ? AND record_id = ?",
    [S_RECORD_BY_SUBJECT] = "SELECT record_id FROM records WHERE tenant_id = ? AND"
                            " subject_id = ? ORDER BY created_at, record_id",
    [S_FIELDS_DELETE] = "DELETE FROM record_fields WHERE tenant_id = ? AND record_id = ?",
    [S_FIELD_PUT] = "INSERT INTO record_fields(tenant_id, record_id, field, ct) VALUES(?,?,?,?)",
    [S_FIELDS_GET] = "SELECT field, ct FROM record_fields WHERE tenant_id = ? AND record_id = ?"
                     " ORDER BY field",
    [S_BLIND_PUT] = "INSERT INTO blind_index(tenant_id, scope, digest, owner_id, uniq)"
                    " VALUES(?,?,?,?,?)",
    [S_BLIND_DELETE] = "DELETE FROM blind_index WHERE tenant_id = ? AND owner_id = ?",
    [S_BLIND_FIND] = "SELECT owner_id FROM blind_index WHERE tenant_id = ? AND scope = ? AND"
                     " digest = ? ORDER BY owner_id",
    [S_COLLECTION_PUT] = "INSERT INTO collections(tenant_id, name, spec) VALUES(?1,?2,?3)"
                         " ON CONFLICT(tenant_id, name) DO UPDATE SET spec = ?3",
    [S_COLLECTION_GET] = "SELECT spec FROM collections WHERE tenant_id = ? AND name = ?",
    [S_APIKEY_PUT] = "INSERT INTO api_keys(tenant_id, key_id, role, name, secret_hash, created_at,"
                     " revoked_at) VALUES(?,?,?,?,?,?,0)",
    [S_APIKEY_REVOKE] = "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ?3"
                        " ELSE revoked_at END WHERE tenant_id = ?1 AND key_id = ?2",
    [S_APIKEY_GET] = "SELECT " APIKEY_COLS " FROM api_keys WHERE key_id = ?",
    [S_APIKEY_LIST] = "SELECT " APIKEY_COLS " FROM api_keys WHERE tenant_id = ?"
                      " ORDER BY created_at, key_id",
    [S_USER_PUT] = "INSERT INTO users(tenant_id, user_id, role, email_digest, email, key_version,"
                   " password_hash, created_at) VALUES(?,?,?,?,?,?,?,?)",
    [S_USER_SESSIONS_DELETE] = "DELETE FROM sessions WHERE tenant_id = ? AND user_id = ?",
    [S_USER_DELETE] = "DELETE FROM users WHERE tenant_id = ? AND user_id = ?",
    [S_USER_TOTP_PENDING] = "UPDATE users SET totp_pending = ?3, totp_pending_key_version = ?4"
                            " WHERE tenant_id = ?1 AND user_id = ?2",
    [S_USER_TOTP_ENABLE] = "UPDATE users SET totp_secret = totp_pending,"
                           " totp_key_version = totp_pending_key_version, totp_pending = NULL,"
                           " totp_pending_key_version = 0, totp_enabled = 1,"
                           " totp_last_step = MAX(totp_last_step, ?4)"
                           " WHERE tenant_id = ?1 AND user_id = ?2 AND totp_pending = ?3",
    /* P-ACC-6, in one statement so that concurrent failures cannot lose a count. A new window
     * starts when the last one has passed or a lockout has ended. Every right-hand side reads
     * the row as it was before the update. */
    [S_USER_LOGIN_FAILED] =
        "UPDATE users SET"
        " failures = CASE WHEN " LOGIN_FRESH " THEN 1 ELSE failures + 1 END,"
        " window_start = CASE WHEN " LOGIN_FRESH " THEN ?3 ELSE window_start END,"
        " locked_until = CASE WHEN (CASE WHEN " LOGIN_FRESH " THEN 1 ELSE failures + 1 END) >= ?5"
        "   THEN ?3 + ?6 WHEN " LOGIN_FRESH " THEN 0 ELSE locked_until END"
        " WHERE tenant_id = ?1 AND user_id = ?2",
    /* P-ACC-2: the step check and its update are one statement, so two logins racing with one
     * code cannot both pass. */
    [S_USER_LOGIN_OK] = "UPDATE users SET failures = 0, window_start = 0, locked_until = 0,"
                        " totp_last_step = CASE WHEN ?3 > 0 THEN ?3 ELSE totp_last_step END"
                        " WHERE tenant_id = ?1 AND user_id = ?2"
                        " AND (?3 = 0 OR totp_last_step < ?3) AND locked_until <= ?4",
    [S_USER_GET] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ? AND user_id = ?",
    [S_USER_FIND] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ? AND email_digest = ?",
    [S_USER_LIST] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ?"
                    " ORDER BY created_at, user_id",
    [S_SESSION_PUT] = "INSERT INTO sessions(token_hash, tenant_id, user_id, created_at,"
                      " expires_at) VALUES(?,?,?,?,?)",
    [S_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?",
    [S_SESSION_PURGE] = "DELETE FROM sessions WHERE tenant_id = ? AND user_id = ?"
                        " AND expires_at <= ?",
    [S_AUDIT_APPEND] = "INSERT INTO audit_log(" AUDIT_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_AUDIT_HEAD] = "SELECT seq, hash FROM audit_log WHERE tenant_id = ?"
                     " ORDER BY seq DESC LIMIT 1",
    [S_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit_log WHERE tenant_id = ?1 AND seq > ?2"
                     " AND (?3 IS NULL OR actor = ?3) AND (?4 IS NULL OR action = ?4)"
                     " AND (?5 IS NULL OR object = ?5) AND (?6 IS NULL OR purpose = ?6)"
                     " AND (?7 = 0 OR at >= ?7) AND (?8 = 0 OR at <= ?8)"
                     " ORDER BY seq LIMIT ?9",
    [S_AUDIT_SCAN] = "SELECT " AUDIT_COLS " FROM audit_log WHERE tenant_id = ? AND seq >= ?"
                     " ORDER BY seq",
    [S_AUDIT_BEFORE] = "SELECT max(seq) FROM audit_log WHERE tenant_id = ? AND at < ?",
    [S_AUDIT_PRUNE] = "DELETE FROM audit_log WHERE tenant_id = ? AND seq <= ?",
    /* Never replaced: a second checkpoint at a seq is refused, so a rewritten log cannot
     * overwrite the signed hash that contradicts it. */
    [S_CKPT_PUT] = "INSERT INTO audit_checkpoints(tenant_id, seq, at, hash, sig, anchor)"
                   " VALUES(?,?,?,?,?,?)",
    [S_CKPT_LIST] = "SELECT tenant_id, seq, at, hash, sig, anchor FROM audit_checkpoints"
                    " WHERE tenant_id = ? ORDER BY seq, anchor",
    [S_POLICY_PUT] = "INSERT INTO tenant_policies(tenant_id, version, text, created_at)"
                     " VALUES(?,?,?,?)",
    [S_POLICY_GET] = "SELECT version, text FROM tenant_policies WHERE tenant_id = ?"
                     " ORDER BY version DESC LIMIT 1",
    /* Found under age (2) stays so until erased (P-AGE-2). */
    [S_SUBJECT_RESTRICT] = "UPDATE subjects SET restricted = CASE WHEN restricted = 2 THEN 2"
                           " ELSE ?3 END WHERE tenant_id = ?1 AND subject_id = ?2",
    [S_SUBJECT_TOUCH] = "UPDATE subjects SET last_activity = MAX(last_activity, ?3)"
                        " WHERE tenant_id = ?1 AND subject_id = ?2",
    [S_SUBJECT_CONSENTS_DELETE] = "DELETE FROM consents WHERE tenant_id = ? AND subject_id = ?",
    [S_CONSENT_PUT] = "INSERT INTO consents(tenant_id, subject_id, purpose, action, at, source,"
                      " policy_version) VALUES(?,?,?,?,?,?,?)",
    [S_CONSENT_LIST] = "SELECT tenant_id, subject_id, seq, purpose, action, at, source,"
                       " policy_version FROM consents WHERE tenant_id = ? AND subject_id = ?"
                       " ORDER BY seq",
    [S_CONSENT_LAST] = "SELECT tenant_id, subject_id, seq, purpose, action, at, source,"
                       " policy_version FROM consents WHERE tenant_id = ? AND subject_id = ?"
                       " AND purpose = ? ORDER BY seq DESC LIMIT 1",
    [S_HOLD_PUT] = "INSERT INTO holds(tenant_id, hold_id, subject_id, record_id, reason,"
                   " key_version, created_at) VALUES(?,?,?,?,?,?,?)",
    [S_HOLD_RELEASE] = "UPDATE holds SET released_at = ?3, release_reason = ?4"
                       " WHERE tenant_id = ?1 AND hold_id = ?2 AND released_at = 0",
    [S_HOLD_LIST] = "SELECT tenant_id, hold_id, subject_id, record_id, reason, key_version,"
                    " created_at, released_at, release_reason FROM holds WHERE tenant_id = ?"
                    " ORDER BY created_at, hold_id",
    [S_RECORD_ANONYMIZE] = "UPDATE records SET subject_id = NULL, key_version = ?3,"
                           " updated_at = ?4, doc = ?5, anonymized = 1"
                           " WHERE tenant_id = ?1 AND record_id = ?2"
                           " AND (?6 = 0 OR updated_at = ?6) AND (?7 = 0 OR NOT EXISTS"
                           " (SELECT 1 FROM subjects s WHERE s.tenant_id = ?1"
                           " AND s.subject_id = records.subject_id AND s.last_activity > ?7))",
    /* P-RET-1: as read by the sweep: neither the record nor (?4) its subject's last activity
     * changed since, so a write racing the sweep keeps the subject's records. */
    [S_RECORD_EXPIRE] = "DELETE FROM records WHERE tenant_id = ?1 AND record_id = ?2"
                        " AND (?3 = 0 OR updated_at = ?3) AND (?4 = 0 OR NOT EXISTS"
                        " (SELECT 1 FROM subjects s WHERE s.tenant_id = ?1"
                        " AND s.subject_id = records.subject_id AND s.last_activity > ?4))",
    [S_RECORD_META] = "SELECT record_id, subject_id, collection, created_at, updated_at,"
                      " anonymized FROM records WHERE tenant_id = ?1 AND record_id > ?2"
                      " ORDER BY record_id LIMIT ?3",
    [S_SUBJECT_IDS] = "SELECT subject_id FROM subjects WHERE tenant_id = ?1 AND subject_id > ?2"
                      " ORDER BY subject_id LIMIT ?3",
    [S_SUBJECT_STATE] = "SELECT restricted, last_activity FROM subjects WHERE tenant_id = ?"
                        " AND subject_id = ?",
    /* P-RET-5, checked inside the write transaction that would change the data, so no hold
     * placed meanwhile is missed: a tenant-wide hold, one on the record, or one on its subject
     * (a hold on a record names the record's subject too). */
    [S_HELD_RECORD] = "SELECT EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = ?1"
                      " AND h.released_at = 0 AND ((h.subject_id = 0 AND h.record_id = 0)"
                      " OR h.record_id = ?2 OR (h.record_id = 0 AND h.subject_id ="
                      " (SELECT r.subject_id FROM records r WHERE r.tenant_id = ?1"
                      " AND r.record_id = ?2))))",
    [S_HELD_SUBJECT] = "SELECT EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = ?1"
                       " AND h.released_at = 0 AND ((h.subject_id = 0 AND h.record_id = 0)"
                       " OR h.subject_id = ?2))",
    [S_HELD_TENANT] = "SELECT EXISTS (SELECT 1 FROM holds WHERE tenant_id = ?1"
                      " AND released_at = 0 AND ?2 = ?2)",
    [S_HELD_TENANT_WIDE] = "SELECT EXISTS (SELECT 1 FROM holds WHERE tenant_id = ?1"
                           " AND released_at = 0 AND subject_id = 0 AND record_id = 0"
                           " AND ?2 = ?2)",
    [S_SUBJECT_KEY_EXISTS] = "SELECT EXISTS (SELECT 1 FROM keys WHERE tenant_id = ?1 AND kind = 4"
                             " AND owner_id = ?2)",
    [S_T_SESSIONS_DELETE] = "DELETE FROM sessions WHERE tenant_id = ?",
    [S_T_USERS_DELETE] = "DELETE FROM users WHERE tenant_id = ?",
    [S_T_APIKEYS_DELETE] = "DELETE FROM api_keys WHERE tenant_id = ?",
    [S_T_CONSENTS_DELETE] = "DELETE FROM consents WHERE tenant_id = ?",
    /* P-RET-5: the ledger of a subject a hold covers stays (a tenant-wide hold: all of it). */
    [S_T_CONSENTS_UNHELD_DELETE] = "DELETE FROM consents WHERE tenant_id = ?1 AND NOT EXISTS"
                                   " (SELECT 1 FROM holds h WHERE h.tenant_id = ?1"
                                   " AND h.released_at = 0 AND ((h.subject_id = 0"
                                   " AND h.record_id = 0) OR h.subject_id = consents.subject_id))",
    [S_T_CLOSE] = "UPDATE tenants SET state = 2 WHERE tenant_id = ?",
    [S_T_BLIND_DELETE] = "DELETE FROM blind_index WHERE tenant_id = ?",
    [S_T_FIELDS_DELETE] = "DELETE FROM record_fields WHERE tenant_id = ?",
    [S_T_RECORDS_DELETE] = "DELETE FROM records WHERE tenant_id = ?",
    [S_T_SUBJECTS_DELETE] = "DELETE FROM subjects WHERE tenant_id = ?",
    [S_T_HOLDS_DELETE] = "DELETE FROM holds WHERE tenant_id = ?",
    [S_T_COLLECTIONS_DELETE] = "DELETE FROM collections WHERE tenant_id = ?",
    [S_T_KEYS_DELETE] = "DELETE FROM keys WHERE tenant_id = ?",
    [S_SESSION_GET] = "SELECT s.token_hash, s.tenant_id, s.user_id, s.created_at, s.expires_at,"
                      " u.role FROM sessions s JOIN users u"
                      " ON u.tenant_id = s.tenant_id AND u.user_id = s.user_id"
                      " WHERE s.token_hash = ?",
};

typedef struct sqlite_store {
    cu_store base; /* must be first */
    sqlite3 *db;
    pthread_mutex_t lock;
    cu_commit_stats stats; /* guarded by lock */
    sqlite3_stmt *stmts[S__COUNT];
} sqlite_store;

static cu_rc db_error(sqlite_store *s, int src, cu_err *err, const char *what)
{
    int ext = sqlite3_extended_errcode(s->db);

    src &= 0xff; /* extended result codes are on: compare primary codes */

    if (src == SQLITE_CONSTRAINT && (ext == SQLITE_CONSTRAINT_UNIQUE ||
                                     ext == SQLITE_CONSTRAINT_PRIMARYKEY))
        return cu_err_set(err, CU_ERR_EXISTS, "could not %s: already exists", what);
    if (src == SQLITE_CONSTRAINT && ext == SQLITE_CONSTRAINT_FOREIGNKEY)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "could not %s: a referenced object is missing",
                          what);
    if (src == SQLITE_FULL)
        return cu_err_set(err, CU_ERR_IO, "could not %s: disk full", what);
    if (src == SQLITE_IOERR || src == SQLITE_CANTOPEN || src == SQLITE_READONLY)
        return cu_err_set(err, CU_ERR_IO, "could not %s: %s", what, sqlite3_errmsg(s->db));
    return cu_err_set(err, CU_ERR_STORE, "could not %s: %s", what, sqlite3_errmsg(s->db));
}

/* Returns the cached statement id, reset and with bindings cleared. */
static sqlite3_stmt *stmt(sqlite_store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmts[id];

    if (st == NULL) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK)
            return NULL;
        s->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int bind_id(sqlite3_stmt *st, int i, cu_id id)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)id);
}

static int bind_blob(sqlite3_stmt *st, int i, const cu_blob *b)
{
    return sqlite3_bind_blob(st, i, b->data ? (const void *)b->data : "", (int)b->len,
                             SQLITE_STATIC);
}

static cu_rc blob_copy(sqlite3_stmt *st, int col, cu_blob *out, cu_err *err)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);

    out->len = (size_t)n;
    out->data = malloc(n > 0 ? (size_t)n : 1);
    if (out->data == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (n > 0)
        memcpy(out->data, p, (size_t)n);
    return CU_OK;
}

/* Runs a statement that returns no rows. */
static cu_rc run(sqlite_store *s, sqlite3_stmt *st, cu_err *err, const char *what)
{
    int src;

    if (st == NULL)
        return db_error(s, sqlite3_errcode(s->db), err, what);
    src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
        return db_error(s, src, err, what);
    return CU_OK;
}

static cu_rc exec_ddl(sqlite_store *s, const char *sql, cu_err *err, const char *what)
{
    char *msg = NULL;
    int src = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

    if (src != SQLITE_OK) {
        cu_err_set(err, src == SQLITE_FULL ? CU_ERR_IO : CU_ERR_STORE, "could not %s: %s", what,
                   msg ? msg : sqlite3_errstr(src));
        sqlite3_free(msg);
        return err ? err->code : CU_ERR_STORE;
    }
    return CU_OK;
}

static cu_rc audit_append(sqlite_store *s, const cu_audit_entry *e, cu_err *err)
{
    sqlite3_stmt *st = stmt(s, S_AUDIT_APPEND);

    if (st) {
        bind_id(st, 1, e->tenant_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)e->seq);
        sqlite3_bind_int64(st, 3, e->at);
        sqlite3_bind_text(st, 4, e->actor, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, e->action, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, e->object, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, e->purpose, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, e->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, e->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, e->outcome, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 11, e->prev, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 12, e->hash, 32, SQLITE_STATIC);
    }
    return run(s, st, err, "append to the audit log");
}

static void text_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    cu_strlcpy(out, t ? (const char *)t : "", cap);
}

static void blob32_col(sqlite3_stmt *st, int col, uint8_t out[32])
{
    memset(out, 0, 32);
    if (sqlite3_column_bytes(st, col) == 32)
        memcpy(out, sqlite3_column_blob(st, col), 32);
}

/* Reads an AUDIT_COLS row. A tampered row reads as what it holds; verification judges it. */
static void read_audit(sqlite3_stmt *st, cu_audit_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    e->seq = (uint64_t)sqlite3_column_int64(st, 1);
    e->at = sqlite3_column_int64(st, 2);
    text_col(st, 3, e->actor, sizeof(e->actor));
    text_col(st, 4, e->action, sizeof(e->action));
    text_col(st, 5, e->object, sizeof(e->object));
    text_col(st, 6, e->purpose, sizeof(e->purpose));
    text_col(st, 7, e->source, sizeof(e->source));
    text_col(st, 8, e->request_id, sizeof(e->request_id));
    text_col(st, 9, e->outcome, sizeof(e->outcome));
    blob32_col(st, 10, e->prev);
    blob32_col(st, 11, e->hash);
}

static cu_rc query_int(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj, int64_t *out,
                       cu_err *err);
static cu_rc refuse_held(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj,
                         const char *what, cu_err *err);

static cu_rc apply_record_put(sqlite_store *s, const cu_store_record *r, int replace,
                              cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;
    size_t i;

    if (replace && (rc = refuse_held(s, S_HELD_RECORD, r->tenant_id, r->id, "the record", err)) !=
                       CU_OK)
        return rc;
    st = stmt(s, replace ? S_RECORD_REPLACE : S_RECORD_PUT);
    if (st == NULL)
        return db_error(s, sqlite3_errcode(s->db), err, "prepare record write");
    bind_id(st, 1, r->tenant_id);
    bind_id(st, 2, r->id);
    sqlite3_bind_text(st, 3, r->collection, -1, SQLITE_STATIC);
    if (r->subject_id != 0)
        bind_id(st, 4, r->subject_id);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, r->key_version);
    sqlite3_bind_int64(st, 6, r->created_at);
    sqlite3_bind_int64(st, 7, r->updated_at);
    bind_blob(st, 8, &r->doc);
    if ((rc = run(s, st, err, "write record")) != CU_OK)
        return rc;
    if (replace && sqlite3_changes(s->db) != 1)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "record not found");
    st = stmt(s, S_FIELDS_DELETE);
    if (st) {
        bind_id(st, 1, r->tenant_id);
        bind_id(st, 2, r->id);
    }
    if ((rc = run(s, st, err, "replace record fields")) != CU_OK)
        return rc;
    for (i = 0; i < r->nfields; i++) {
        st = stmt(s, S_FIELD_PUT);
        if (st) {
            bind_id(st, 1, r->tenant_id);
            bind_id(st, 2, r->id);
            sqlite3_bind_text(st, 3, r->fields[i].name, -1, SQLITE_STATIC);
            bind_blob(st, 4, &r->fields[i].ct);
        }
        if ((rc = run(s, st, err, "write record field")) != CU_OK)
            return rc;
    }
    return CU_OK;
}

/* The statement id with its two leading (tenant, id) parameters bound, or NULL. */
static sqlite3_stmt *stmt_pair(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj)
{
    sqlite3_stmt *st = stmt(s, id);

    if (st) {
        bind_id(st, 1, tenant);
        bind_id(st, 2, obj);
    }
    return st;
}

/* Binds the two leading (tenant, id) parameters of a delete and runs it. */
static cu_rc run_pair(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj, cu_err *err,
                      const char *what)
{
    return run(s, stmt_pair(s, id, tenant, obj), err, what);
}

/* Runs a write that must touch a row; if it touches none, fails with code and msg. */
static cu_rc run_one_row(sqlite_store *s, sqlite3_stmt *st, cu_err *err, const char *what,
                         cu_rc code, const char *msg)
{
    cu_rc rc = run(s, st, err, what);

    if (rc == CU_OK && sqlite3_changes(s->db) == 0)
        return cu_err_set(err, code, "%s", msg);
    return rc;
}

static cu_rc apply_user_put(sqlite_store *s, const cu_store_user *u, cu_err *err)
{
    sqlite3_stmt *st = stmt(s, S_USER_PUT);

    if (st) {
        bind_id(st, 1, u->tenant_id);
        bind_id(st, 2, u->id);
        sqlite3_bind_int(st, 3, u->role);
        sqlite3_bind_blob(st, 4, u->email_digest, 32, SQLITE_STATIC);
        bind_blob(st, 5, &u->email);
        sqlite3_bind_int64(st, 6, u->key_version);
        sqlite3_bind_text(st, 7, u->password_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, u->created_at);
    }
    return run(s, st, err, "create user");
}

static cu_rc apply_login(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    if (op->type == CU_OP_USER_LOGIN_OK) {
        st = stmt(s, S_USER_LOGIN_OK);
        if (st) {
            bind_id(st, 1, op->u.login.tenant_id);
            bind_id(st, 2, op->u.login.user_id);
            sqlite3_bind_int64(st, 3, op->u.login.totp_step);
            /* P-ACC-6: a guess that started before the lock committed does not get in. */
            sqlite3_bind_int64(st, 4, op->u.login.now);
        }
        return run_one_row(s, st, err, "record login", CU_ERR_CONFLICT,
                           "the code was already used, or the user is gone");
    }
    st = stmt(s, S_USER_LOGIN_FAILED);
    if (st) {
        bind_id(st, 1, op->u.login.tenant_id);
        bind_id(st, 2, op->u.login.user_id);
        sqlite3_bind_int64(st, 3, op->u.login.now);
        sqlite3_bind_int64(st, 4, op->u.login.window);
        sqlite3_bind_int(st, 5, op->u.login.max_failures);
        sqlite3_bind_int64(st, 6, op->u.login.lockout);
    }
    return run(s, st, err, "record failed login");
}

static cu_rc apply_totp(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    int enable = op->type == CU_OP_USER_TOTP_ENABLE;
    sqlite3_stmt *st = stmt(s, enable ? S_USER_TOTP_ENABLE : S_USER_TOTP_PENDING);

    if (st) {
        bind_id(st, 1, op->u.totp.tenant_id);
        bind_id(st, 2, op->u.totp.user_id);
        bind_blob(st, 3, &op->u.totp.secret);
        /* ?4: the step for ENABLE, the sealing key's version for PENDING */
        sqlite3_bind_int64(st, 4, enable ? op->u.totp.step : (sqlite3_int64)op->u.totp.key_version);
    }
    return run_one_row(s, st, err, "write TOTP secret", CU_ERR_NOT_FOUND,
                       enable ? "no such TOTP enrolment" : "user not found");
}

/* The operations on credentials: API keys, users, sessions (P-ACC-1 .. P-ACC-6). */
static cu_rc apply_auth(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;

    switch (op->type) {
    case CU_OP_APIKEY_PUT:
        st = stmt(s, S_APIKEY_PUT);
        if (st) {
            bind_id(st, 1, op->u.apikey.tenant_id);
            bind_id(st, 2, op->u.apikey.id);
            sqlite3_bind_int(st, 3, op->u.apikey.role);
            sqlite3_bind_text(st, 4, op->u.apikey.name, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 5, op->u.apikey.secret_hash, 32, SQLITE_STATIC);
            sqlite3_bind_int64(st, 6, op->u.apikey.created_at);
        }
        return run(s, st, err, "create API key");
    case CU_OP_APIKEY_REVOKE:
        st = stmt(s, S_APIKEY_REVOKE);
        if (st) {
            bind_id(st, 1, op->u.revoke.tenant_id);
            bind_id(st, 2, op->u.revoke.id);
            sqlite3_bind_int64(st, 3, op->u.revoke.at);
        }
        return run_one_row(s, st, err, "revoke API key", CU_ERR_NOT_FOUND, "API key not found");
    case CU_OP_USER_PUT:
        return apply_user_put(s, &op->u.user, err);
    case CU_OP_USER_DELETE:
        rc = run_pair(s, S_USER_SESSIONS_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                      "delete the user's sessions");
        if (rc == CU_OK)
            rc = run_one_row(s, stmt_pair(s, S_USER_DELETE, op->u.del.tenant_id, op->u.del.id),
                             err, "delete user", CU_ERR_NOT_FOUND, "user not found");
        return rc;
    case CU_OP_USER_TOTP_PENDING:
    case CU_OP_USER_TOTP_ENABLE:
        return apply_totp(s, op, err);
    case CU_OP_USER_LOGIN_FAILED:
    case CU_OP_USER_LOGIN_OK:
        return apply_login(s, op, err);
    case CU_OP_SESSION_PUT:
        st = stmt(s, S_SESSION_PUT);
        if (st) {
            sqlite3_bind_blob(st, 1, op->u.session.token_hash, 32, SQLITE_STATIC);
            bind_id(st, 2, op->u.session.tenant_id);
            bind_id(st, 3, op->u.session.user_id);
            sqlite3_bind_int64(st, 4, op->u.session.created_at);
            sqlite3_bind_int64(st, 5, op->u.session.expires_at);
        }
        return run(s, st, err, "create session");
    case CU_OP_SESSION_DELETE:
        st = stmt(s, S_SESSION_DELETE);
        if (st)
            sqlite3_bind_blob(st, 1, op->u.session.token_hash, 32, SQLITE_STATIC);
        return run_one_row(s, st, err, "end session", CU_ERR_NOT_FOUND, "session not found");
    case CU_OP_AUDIT_APPEND:
        if (CU_FAULT("audit.append"))
            return cu_err_set(err, CU_ERR_IO, "could not append to the audit log: disk full");
        return audit_append(s, &op->u.audit, err);
    case CU_OP_AUDIT_CHECKPOINT:
        st = stmt(s, S_CKPT_PUT);
        if (st) {
            bind_id(st, 1, op->u.checkpoint.tenant_id);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)op->u.checkpoint.seq);
            sqlite3_bind_int64(st, 3, op->u.checkpoint.at);
            sqlite3_bind_blob(st, 4, op->u.checkpoint.hash, 32, SQLITE_STATIC);
            sqlite3_bind_blob(st, 5, op->u.checkpoint.sig, 64, SQLITE_STATIC);
            sqlite3_bind_int(st, 6, op->u.checkpoint.anchor ? 1 : 0);
        }
        return run(s, st, err, "write audit checkpoint");
    case CU_OP_POLICY_PUT:
        st = stmt(s, S_POLICY_PUT);
        if (st) {
            bind_id(st, 1, op->u.policy.tenant_id);
            sqlite3_bind_int64(st, 2, op->u.policy.version);
            sqlite3_bind_text(st, 3, op->u.policy.text, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, op->u.policy.created_at);
        }
        return run(s, st, err, "store the tenant's policy");
    case CU_OP_AUDIT_PRUNE:
        /* P-RET-5: a hold on the whole tenant keeps its audit log too. */
        if (op->u.audit_prune.tenant_id != 0 &&
            (rc = refuse_held(s, S_HELD_TENANT_WIDE, op->u.audit_prune.tenant_id, 0,
                              "the tenant's audit log", err)) != CU_OK)
            return rc;
        st = stmt(s, S_AUDIT_PRUNE);
        if (st) {
            bind_id(st, 1, op->u.audit_prune.tenant_id);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)op->u.audit_prune.upto);
        }
        return run(s, st, err, "prune audit log");
    case CU_OP_SESSION_PURGE:
        st = stmt(s, S_SESSION_PURGE);
        if (st) {
            bind_id(st, 1, op->u.purge.tenant_id);
            bind_id(st, 2, op->u.purge.user_id);
            sqlite3_bind_int64(st, 3, op->u.purge.before);
        }
        return run(s, st, err, "delete expired sessions");
    default:
        break;
    }
    return cu_err_set(err, CU_ERR_INVALID, "unknown store operation %d", (int)op->type);
}

/* The first column of the one row a (tenant, obj) query answers, into *out. */
static cu_rc query_int(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj, int64_t *out,
                       cu_err *err)
{
    sqlite3_stmt *st = stmt_pair(s, id, tenant, obj);
    int src;

    if (st == NULL)
        return db_error(s, sqlite3_errcode(s->db), err, "check legal holds");
    src = sqlite3_step(st);
    *out = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return src == SQLITE_ROW ? CU_OK : db_error(s, src, err, "check legal holds");
}

/* P-RET-5: CU_ERR_LEGAL_HOLD (with what) if a hold in force covers obj, by query id. */
static cu_rc refuse_held(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj,
                         const char *what, cu_err *err)
{
    int64_t held = 0;
    cu_rc rc = query_int(s, id, tenant, obj, &held, err);

    if (rc == CU_OK && held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "%s is under a legal hold", what);
    return rc;
}

/* A record's sealed fields and blind index entries, after its row was deleted or rewritten
 * without them (expiry, anonymization). */
static cu_rc drop_sealed_parts(sqlite_store *s, cu_id tenant, cu_id record, cu_err *err)
{
    cu_rc rc = run_pair(s, S_FIELDS_DELETE, tenant, record, err, "delete record fields");

    return rc == CU_OK ? run_pair(s, S_BLIND_DELETE, tenant, record, err, "delete record index")
                       : rc;
}

/* Runs statements that each take the tenant id as their only parameter, in order. */
static cu_rc run_tenant(sqlite_store *s, const enum stmt_id *ids, size_t n, cu_id tenant,
                        cu_err *err, const char *what)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n && rc == CU_OK; i++) {
        sqlite3_stmt *st = stmt(s, ids[i]);
        if (st)
            bind_id(st, 1, tenant);
        rc = run(s, st, err, what);
    }
    return rc;
}

/* The operations of policy enforcement: restriction, activity, consent, holds, anonymization
 * and the tenant's end (P-RET-2). */
static cu_rc apply_policy(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    static const enum stmt_id close_ids[] = {S_T_SESSIONS_DELETE, S_T_USERS_DELETE,
                                             S_T_APIKEYS_DELETE, S_T_CONSENTS_UNHELD_DELETE,
                                             S_T_CLOSE};
    static const enum stmt_id shred_ids[] = {
        S_T_BLIND_DELETE,    S_T_FIELDS_DELETE, S_T_RECORDS_DELETE,     S_T_CONSENTS_DELETE,
        S_T_SUBJECTS_DELETE, S_T_HOLDS_DELETE,  S_T_COLLECTIONS_DELETE, S_T_KEYS_DELETE};
    sqlite3_stmt *st;
    cu_rc rc;

    switch (op->type) {
    case CU_OP_SUBJECT_RESTRICT:
    case CU_OP_SUBJECT_TOUCH:
        st = stmt_pair(s, op->type == CU_OP_SUBJECT_RESTRICT ? S_SUBJECT_RESTRICT : S_SUBJECT_TOUCH,
                       op->u.flag.tenant_id, op->u.flag.id);
        if (st)
            sqlite3_bind_int64(st, 3, op->type == CU_OP_SUBJECT_RESTRICT ? op->u.flag.value
                                                                          : op->u.flag.at);
        return run_one_row(s, st, err, "update subject", CU_ERR_NOT_FOUND, "subject not found");
    case CU_OP_CONSENT_PUT:
        st = stmt_pair(s, S_CONSENT_PUT, op->u.consent.tenant_id, op->u.consent.subject_id);
        if (st) {
            sqlite3_bind_text(st, 3, op->u.consent.purpose, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 4, op->u.consent.action);
            sqlite3_bind_int64(st, 5, op->u.consent.at);
            sqlite3_bind_text(st, 6, op->u.consent.source, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 7, op->u.consent.policy_version, -1, SQLITE_STATIC);
        }
        return run(s, st, err, "record consent");
    case CU_OP_HOLD_PUT:
        /* A subject whose key is gone is being erased: there is nothing left to hold. */
        if (op->u.hold.subject_id != 0) {
            int64_t has_key = 0;
            if ((rc = query_int(s, S_SUBJECT_KEY_EXISTS, op->u.hold.tenant_id,
                                op->u.hold.subject_id, &has_key, err)) != CU_OK)
                return rc;
            if (!has_key)
                return cu_err_set(err, CU_ERR_KEY, "the subject's erasure is under way");
        }
        st = stmt_pair(s, S_HOLD_PUT, op->u.hold.tenant_id, op->u.hold.id);
        if (st) {
            bind_id(st, 3, op->u.hold.subject_id);
            bind_id(st, 4, op->u.hold.record_id);
            bind_blob(st, 5, &op->u.hold.reason);
            sqlite3_bind_int64(st, 6, op->u.hold.key_version);
            sqlite3_bind_int64(st, 7, op->u.hold.created_at);
        }
        return run(s, st, err, "place legal hold");
    case CU_OP_HOLD_RELEASE:
        st = stmt_pair(s, S_HOLD_RELEASE, op->u.hold.tenant_id, op->u.hold.id);
        if (st) {
            sqlite3_bind_int64(st, 3, op->u.hold.released_at);
            bind_blob(st, 4, &op->u.hold.release_reason);
        }
        return run_one_row(s, st, err, "release legal hold", CU_ERR_NOT_FOUND,
                           "no such hold in force");
    case CU_OP_RECORD_ANONYMIZE:
        if ((rc = refuse_held(s, S_HELD_RECORD, op->u.record.tenant_id, op->u.record.id,
                              "the record", err)) != CU_OK)
            return rc;
        st = stmt_pair(s, S_RECORD_ANONYMIZE, op->u.record.tenant_id, op->u.record.id);
        if (st) {
            sqlite3_bind_int64(st, 3, op->u.record.key_version);
            sqlite3_bind_int64(st, 4, op->u.record.updated_at);
            bind_blob(st, 5, &op->u.record.doc);
            sqlite3_bind_int64(st, 6, op->u.record.expect_updated_at);
            sqlite3_bind_int64(st, 7, op->u.record.expect_activity_at);
        }
        rc = run_one_row(s, st, err, "anonymize record", CU_ERR_CONFLICT,
                         "the record is gone or was written meanwhile");
        return rc == CU_OK ? drop_sealed_parts(s, op->u.record.tenant_id, op->u.record.id, err)
                           : rc;
    case CU_OP_RECORD_EXPIRE:
        if ((rc = refuse_held(s, S_HELD_RECORD, op->u.record.tenant_id, op->u.record.id,
                              "the record", err)) != CU_OK)
            return rc;
        st = stmt_pair(s, S_RECORD_EXPIRE, op->u.record.tenant_id, op->u.record.id);
        if (st) {
            sqlite3_bind_int64(st, 3, op->u.record.expect_updated_at);
            sqlite3_bind_int64(st, 4, op->u.record.expect_activity_at);
        }
        rc = run_one_row(s, st, err, "expire record", CU_ERR_CONFLICT,
                         "the record is gone or was written meanwhile");
        return rc == CU_OK ? drop_sealed_parts(s, op->u.record.tenant_id, op->u.record.id, err)
                           : rc;
    case CU_OP_TENANT_CLOSE:
        if (op->u.del.tenant_id == 0) /* tenant 0 holds the operator's keys */
            return cu_err_set(err, CU_ERR_INVALID, "tenant 0 cannot be closed");
        return run_tenant(s, close_ids, CU_ARRAY_LEN(close_ids), op->u.del.tenant_id, err,
                          "close tenant");
    case CU_OP_TENANT_SHRED:
        if ((rc = refuse_held(s, S_HELD_TENANT, op->u.del.tenant_id, 0, "the tenant's data",
                              err)) != CU_OK)
            return rc;
        return run_tenant(s, shred_ids, CU_ARRAY_LEN(shred_ids), op->u.del.tenant_id, err,
                          "shred tenant");
    default:
        break;
    }
    return apply_auth(s, op, err);
}

/* P-RET-5 for a subject's rows: refused while held, unless its key is destroyed already (the
 * second step of an erasure): unreadable data is not held, and the erasure completes. */
static cu_rc subject_delete_allowed(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    int64_t has_key = 0;
    cu_rc rc = query_int(s, S_SUBJECT_KEY_EXISTS, tenant, subject, &has_key, err);

    if (rc != CU_OK || !has_key)
        return rc;
    return refuse_held(s, S_HELD_SUBJECT, tenant, subject, "the subject's data", err);
}

static cu_rc apply_one(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;

    switch (op->type) {
    case CU_OP_MASTER_ADD:
        st = stmt(s, S_MASTER_ADD);
        if (st) {
            sqlite3_bind_int64(st, 1, op->u.master.version);
            sqlite3_bind_blob(st, 2, op->u.master.check, 32, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, op->u.master.created_at);
        }
        return run(s, st, err, "add master key version");
    case CU_OP_TENANT_PUT:
        st = stmt(s, S_TENANT_PUT);
        if (st) {
            bind_id(st, 1, op->u.tenant.id);
            sqlite3_bind_text(st, 2, op->u.tenant.name, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, op->u.tenant.state);
            sqlite3_bind_int64(st, 4, op->u.tenant.created_at);
        }
        return run(s, st, err, "create tenant");
    case CU_OP_TENANT_STATE:
        st = stmt(s, S_TENANT_STATE);
        if (st) {
            bind_id(st, 1, op->u.tenant.id);
            sqlite3_bind_int(st, 2, op->u.tenant.state);
            sqlite3_bind_int64(st, 3, op->u.tenant.terminated_at);
        }
        return run_one_row(s, st, err, "update tenant", CU_ERR_NOT_FOUND, "tenant not found");
    case CU_OP_KEY_PUT:
    case CU_OP_KEY_REWRAP:
        st = stmt(s, op->type == CU_OP_KEY_PUT ? S_KEY_PUT : S_KEY_REWRAP);
        if (st) {
            bind_id(st, 1, op->u.key.tenant_id);
            sqlite3_bind_int(st, 2, (int)op->u.key.kind);
            bind_id(st, 3, op->u.key.owner_id);
            sqlite3_bind_int64(st, 4, op->u.key.version);
            sqlite3_bind_int64(st, 5, op->u.key.parent_version);
            bind_blob(st, 6, &op->u.key.wrapped);
        }
        return run(s, st, err, "write key");
    case CU_OP_KEY_DELETE:
        if (op->u.key_del.kind == CU_KEY_SUBJECT &&
            (rc = refuse_held(s, S_HELD_SUBJECT, op->u.key_del.tenant_id, op->u.key_del.owner_id,
                              "the subject's data", err)) != CU_OK)
            return rc;
        st = stmt(s, S_KEY_DELETE);
        if (st) {
            bind_id(st, 1, op->u.key_del.tenant_id);
            sqlite3_bind_int(st, 2, (int)op->u.key_del.kind);
            bind_id(st, 3, op->u.key_del.owner_id);
        }
        return run(s, st, err, "destroy key");
    case CU_OP_SUBJECT_PUT:
        st = stmt(s, S_SUBJECT_PUT);
        if (st) {
            bind_id(st, 1, op->u.subject.tenant_id);
            bind_id(st, 2, op->u.subject.id);
            sqlite3_bind_int64(st, 3, op->u.subject.key_version);
            sqlite3_bind_int64(st, 4, op->u.subject.created_at);
            bind_blob(st, 5, &op->u.subject.profile);
        }
        return run(s, st, err, "write subject");
    case CU_OP_SUBJECT_DELETE:
        if ((rc = subject_delete_allowed(s, op->u.del.tenant_id, op->u.del.id, err)) != CU_OK)
            return rc;
        rc = run_pair(s, S_SUBJECT_RECORDS_BLIND_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                      "delete the subject's record index");
        if (rc == CU_OK)
            rc = run_pair(s, S_SUBJECT_RECORDS_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                          "delete the subject's records");
        if (rc == CU_OK)
            rc = run_pair(s, S_BLIND_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                          "delete subject index");
        if (rc == CU_OK)
            rc = run_pair(s, S_SUBJECT_CONSENTS_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                          "delete the subject's consent ledger");
        if (rc == CU_OK)
            rc = run_pair(s, S_SUBJECT_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                          "delete subject");
        return rc;
    case CU_OP_RECORD_PUT:
    case CU_OP_RECORD_REPLACE:
        return apply_record_put(s, &op->u.record, op->type == CU_OP_RECORD_REPLACE, err);
    case CU_OP_RECORD_DELETE:
        if ((rc = refuse_held(s, S_HELD_RECORD, op->u.del.tenant_id, op->u.del.id, "the record",
                              err)) != CU_OK)
            return rc;
        rc = run_pair(s, S_BLIND_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                      "delete record index");
        if (rc == CU_OK)
            rc = run_pair(s, S_RECORD_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                          "delete record");
        return rc;
    case CU_OP_BLIND_PUT:
        st = stmt(s, S_BLIND_PUT);
        if (st) {
            bind_id(st, 1, op->u.blind.tenant_id);
            sqlite3_bind_text(st, 2, op->u.blind.scope, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, op->u.blind.digest, 32, SQLITE_STATIC);
            bind_id(st, 4, op->u.blind.owner_id);
            sqlite3_bind_int(st, 5, op->u.blind.unique ? 1 : 0);
        }
        return run(s, st, err, "write index");
    case CU_OP_BLIND_DELETE:
        return run_pair(s, S_BLIND_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                        "delete index");
    case CU_OP_COLLECTION_PUT:
        st = stmt(s, S_COLLECTION_PUT);
        if (st) {
            bind_id(st, 1, op->u.collection.tenant_id);
            sqlite3_bind_text(st, 2, op->u.collection.name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, op->u.collection.spec, -1, SQLITE_STATIC);
        }
        return run(s, st, err, "write collection");
    default:
        break;
    }
    return apply_policy(s, op, err);
}

const double cu_commit_bounds[CU_COMMIT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                     0.005,  0.01,    0.025,  0.05,  0.1};

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Called with s->lock held. */
static void record_commit(sqlite_store *s, double secs)
{
    size_t b;

    for (b = 0; b < CU_COMMIT_BUCKETS && secs > cu_commit_bounds[b]; b++)
        ;
    s->stats.bucket[b]++;
    s->stats.count++;
    s->stats.seconds += secs;
}

static void sq_commit_stats(cu_store *base, cu_commit_stats *out)
{
    sqlite_store *s = (sqlite_store *)base;

    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

/* Rolls back whatever transaction is open on the connection. One left open (its COMMIT or
 * ROLLBACK failed, or could not even be prepared, out of memory) would fail every later BEGIN
 * on this connection: the cached statement first, then sqlite3_exec, which needs none. */
static void txn_abort(sqlite_store *s)
{
    cu_err ignored;

    if (sqlite3_get_autocommit(s->db))
        return;
    (void)run(s, stmt(s, S_ROLLBACK), &ignored, "roll back");
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static cu_rc sq_apply(cu_store *base, const cu_store_op *ops, size_t n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    double t0;
    cu_rc rc;
    size_t i;

    pthread_mutex_lock(&s->lock);
    t0 = mono();
    txn_abort(s); /* one an earlier failure could not end */
    rc = run(s, stmt(s, S_BEGIN), err, "begin transaction");
    if (rc != CU_OK)
        goto out;
    for (i = 0; i < n && rc == CU_OK; i++)
        rc = apply_one(s, &ops[i], err);
    if (rc == CU_OK && (rc = run(s, stmt(s, S_COMMIT), err, "commit")) == CU_OK)
        record_commit(s, mono() - t0);
    if (rc != CU_OK)
        txn_abort(s);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_master_list(cu_store *base, uint32_t **versions, uint8_t (**checks)[32],
                            size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    uint32_t *v = NULL;
    uint8_t(*c)[32] = NULL;
    size_t cnt = 0, cap = 0;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_MASTER_LIST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list master keys");
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            uint32_t *nv = realloc(v, ncap * sizeof(*v));
            uint8_t(*nc)[32] = nv ? realloc(c, ncap * sizeof(*c)) : NULL;
            if (nv)
                v = nv;
            if (nc == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            c = nc;
            cap = ncap;
        }
        v[cnt] = (uint32_t)sqlite3_column_int64(st, 0);
        memset(c[cnt], 0, 32);
        if (sqlite3_column_bytes(st, 1) == 32)
            memcpy(c[cnt], sqlite3_column_blob(st, 1), 32);
        cnt++;
    }
    if (src != SQLITE_DONE)
        rc = db_error(s, src, err, "list master keys");
out:
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        free(v);
        free(c);
        return rc;
    }
    *versions = v;
    *checks = c;
    *n = cnt;
    return CU_OK;
}

static void read_tenant(sqlite3_stmt *st, cu_store_tenant *t)
{
    const unsigned char *name = sqlite3_column_text(st, 1);

    memset(t, 0, sizeof(*t));
    t->id = (cu_id)sqlite3_column_int64(st, 0);
    cu_strlcpy(t->name, name ? (const char *)name : "", sizeof(t->name));
    t->state = sqlite3_column_int(st, 2);
    t->created_at = sqlite3_column_int64(st, 3);
    t->terminated_at = sqlite3_column_int64(st, 4);
}

static cu_rc sq_tenant_get(cu_store *base, cu_id id, cu_store_tenant *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_TENANT_GET);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read tenant");
        goto out;
    }
    bind_id(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        read_tenant(st, out);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "tenant not found");
    else
        rc = db_error(s, src, err, "read tenant");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_tenant_list(cu_store *base, cu_store_tenant **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_store_tenant *list = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_TENANT_LIST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list tenants");
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cu_store_tenant *nl = realloc(list, ncap * sizeof(*nl));
            if (nl == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            list = nl;
            cap = ncap;
        }
        read_tenant(st, &list[cnt++]);
    }
    if (src != SQLITE_DONE)
        rc = db_error(s, src, err, "list tenants");
out:
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        free(list);
        return rc;
    }
    *out = list;
    *n = cnt;
    return CU_OK;
}

static cu_rc read_key(sqlite3_stmt *st, cu_store_key *k, cu_err *err)
{
    memset(k, 0, sizeof(*k));
    k->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    k->kind = (cu_key_kind)sqlite3_column_int(st, 1);
    k->owner_id = (cu_id)sqlite3_column_int64(st, 2);
    k->version = (uint32_t)sqlite3_column_int64(st, 3);
    k->parent_version = (uint32_t)sqlite3_column_int64(st, 4);
    return blob_copy(st, 5, &k->wrapped, err);
}

static cu_rc sq_key_get(cu_store *base, cu_id tenant, cu_key_kind kind, cu_id owner,
                        uint32_t version, cu_store_key *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, version ? S_KEY_GET : S_KEY_GET_LATEST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read key");
        goto out;
    }
    bind_id(st, 1, tenant);
    sqlite3_bind_int(st, 2, (int)kind);
    bind_id(st, 3, owner);
    if (version)
        sqlite3_bind_int64(st, 4, version);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = read_key(st, out, err);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "key not found");
    else
        rc = db_error(s, src, err, "read key");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_key_list(cu_store *base, cu_id tenant, cu_key_kind kind, cu_store_key **out,
                         size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_store_key *list = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_KEY_LIST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list keys");
        goto out;
    }
    bind_id(st, 1, tenant);
    sqlite3_bind_int(st, 2, (int)kind);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cu_store_key *nl = realloc(list, ncap * sizeof(*nl));
            if (nl == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            list = nl;
            cap = ncap;
        }
        if ((rc = read_key(st, &list[cnt], err)) != CU_OK)
            goto out;
        cnt++;
    }
    if (src != SQLITE_DONE)
        rc = db_error(s, src, err, "list keys");
out:
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        cu_store_keys_free(list, cnt);
        return rc;
    }
    *out = list;
    *n = cnt;
    return CU_OK;
}

static cu_rc sq_subject_get(cu_store *base, cu_id tenant, cu_id id, cu_store_subject *out,
                            cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_SUBJECT_GET);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read subject");
        goto out;
    }
    bind_id(st, 1, tenant);
    bind_id(st, 2, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        out->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
        out->id = (cu_id)sqlite3_column_int64(st, 1);
        out->key_version = (uint32_t)sqlite3_column_int64(st, 2);
        out->created_at = sqlite3_column_int64(st, 3);
        out->restricted = sqlite3_column_int(st, 5);
        out->last_activity = sqlite3_column_int64(st, 6);
        rc = blob_copy(st, 4, &out->profile, err);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "subject not found");
    } else {
        rc = db_error(s, src, err, "read subject");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc read_fields(sqlite_store *s, cu_store_record *r, cu_err *err)
{
    sqlite3_stmt *st = stmt(s, S_FIELDS_GET);
    size_t cap = 0;
    cu_rc rc = CU_OK;
    int src;

    if (st == NULL)
        return db_error(s, sqlite3_errcode(s->db), err, "read record fields");
    bind_id(st, 1, r->tenant_id);
    bind_id(st, 2, r->id);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cu_store_field *f;
        if (r->nfields == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            cu_store_field *nf = realloc(r->fields, ncap * sizeof(*nf));
            if (nf == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            r->fields = nf;
            cap = ncap;
        }
        f = &r->fields[r->nfields];
        memset(f, 0, sizeof(*f));
        const unsigned char *name = sqlite3_column_text(st, 0);
        f->name = name ? strdup((const char *)name) : NULL;
        if (f->name == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            goto out;
        }
        r->nfields++;
        if ((rc = blob_copy(st, 1, &f->ct, err)) != CU_OK)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = db_error(s, src, err, "read record fields");
out:
    sqlite3_reset(st);
    return rc;
}

static cu_rc sq_record_get(cu_store *base, cu_id tenant, cu_id id, cu_store_record *out,
                           cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    /* One snapshot for the document and its fields: a commit between the two reads would
     * otherwise pair them wrongly, which the field manifest would report as tampering. */
    txn_abort(s); /* one an earlier failure could not end */
    if ((rc = run(s, stmt(s, S_BEGIN_READ), err, "begin read")) != CU_OK)
        goto out;
    st = stmt(s, S_RECORD_GET);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read record");
        goto end;
    }
    bind_id(st, 1, tenant);
    bind_id(st, 2, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *coll = sqlite3_column_text(st, 2);
        out->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
        out->id = (cu_id)sqlite3_column_int64(st, 1);
        cu_strlcpy(out->collection, coll ? (const char *)coll : "", sizeof(out->collection));
        out->subject_id = (cu_id)sqlite3_column_int64(st, 3);
        out->key_version = (uint32_t)sqlite3_column_int64(st, 4);
        out->created_at = sqlite3_column_int64(st, 5);
        out->updated_at = sqlite3_column_int64(st, 6);
        rc = blob_copy(st, 7, &out->doc, err);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "record not found");
    } else {
        rc = db_error(s, src, err, "read record");
    }
    sqlite3_reset(st);
    if (rc == CU_OK)
        rc = read_fields(s, out, err);
end:
    {
        cu_err ignored;
        if (run(s, stmt(s, S_COMMIT), &ignored, "end read") != CU_OK)
            txn_abort(s);
    }
    if (rc != CU_OK)
        cu_store_record_cleanup(out);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Collects column 0 of every row of a prepared, bound statement as ids. */
static cu_rc collect_ids(sqlite_store *s, sqlite3_stmt *st, cu_id **ids, size_t *n, cu_err *err,
                         const char *what)
{
    cu_id *list = NULL;
    size_t cnt = 0, cap = 0;
    cu_rc rc = CU_OK;
    int src;

    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cu_id *nl = realloc(list, ncap * sizeof(*nl));
            if (nl == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            list = nl;
            cap = ncap;
        }
        list[cnt++] = (cu_id)sqlite3_column_int64(st, 0);
    }
    if (src != SQLITE_DONE)
        rc = db_error(s, src, err, what);
out:
    sqlite3_reset(st);
    if (rc != CU_OK) {
        free(list);
        return rc;
    }
    *ids = list;
    *n = cnt;
    return CU_OK;
}

static cu_rc sq_record_ids_by_subject(cu_store *base, cu_id tenant, cu_id subject, cu_id **ids,
                                      size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_RECORD_BY_SUBJECT);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list records");
    } else {
        bind_id(st, 1, tenant);
        bind_id(st, 2, subject);
        rc = collect_ids(s, st, ids, n, err, "list records");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_blind_find(cu_store *base, cu_id tenant, const char *scope,
                           const uint8_t digest[32], cu_id **ids, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_BLIND_FIND);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "search index");
    } else {
        bind_id(st, 1, tenant);
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, digest, 32, SQLITE_STATIC);
        rc = collect_ids(s, st, ids, n, err, "search index");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_collection_get(cu_store *base, cu_id tenant, const char *name, char **spec,
                               cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_COLLECTION_GET);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read collection");
        goto out;
    }
    bind_id(st, 1, tenant);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(st, 0);
        *spec = text ? strdup((const char *)text) : NULL;
        if (*spec == NULL)
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "collection not declared");
    } else {
        rc = db_error(s, src, err, "read collection");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Makes room for one more element of size sz in list (cnt used, *cap allocated): returns the
 * list, perhaps moved, or NULL (list untouched) when out of memory. */
static void *grow(void *list, size_t *cap, size_t cnt, size_t sz)
{
    size_t ncap;
    void *nl;

    if (cnt < *cap)
        return list;
    ncap = *cap ? *cap * 2 : 16;
    nl = realloc(list, ncap * sz);
    if (nl != NULL)
        *cap = ncap;
    return nl;
}

/* Copies a 32-byte digest column; a value of another length leaves zeros, which match
 * nothing. */
static void digest_copy(sqlite3_stmt *st, int col, uint8_t out[32])
{
    memset(out, 0, 32);
    if (sqlite3_column_bytes(st, col) == 32)
        memcpy(out, sqlite3_column_blob(st, col), 32);
}

static void read_apikey(sqlite3_stmt *st, cu_store_apikey *k)
{
    const unsigned char *name = sqlite3_column_text(st, 3);

    memset(k, 0, sizeof(*k));
    k->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    k->id = (cu_id)sqlite3_column_int64(st, 1);
    k->role = sqlite3_column_int(st, 2);
    cu_strlcpy(k->name, name ? (const char *)name : "", sizeof(k->name));
    digest_copy(st, 4, k->secret_hash);
    k->created_at = sqlite3_column_int64(st, 5);
    k->revoked_at = sqlite3_column_int64(st, 6);
}

static cu_rc sq_apikey_get(cu_store *base, cu_id id, cu_store_apikey *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_APIKEY_GET);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read API key");
        goto out;
    }
    bind_id(st, 1, id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        read_apikey(st, out);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "API key not found");
    else
        rc = db_error(s, src, err, "read API key");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_apikey_list(cu_store *base, cu_id tenant, cu_store_apikey **out, size_t *n,
                            cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_store_apikey *list = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_APIKEY_LIST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list API keys");
        goto out;
    }
    bind_id(st, 1, tenant);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cu_store_apikey *nl = grow(list, &cap, cnt, sizeof(*list));
        if (nl == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            goto out;
        }
        list = nl;
        read_apikey(st, &list[cnt++]);
    }
    if (src != SQLITE_DONE)
        rc = db_error(s, src, err, "list API keys");
out:
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        free(list);
        return rc;
    }
    *out = list;
    *n = cnt;
    return CU_OK;
}

/* A nullable blob column: NULL leaves out->data NULL. */
static cu_rc blob_copy_opt(sqlite3_stmt *st, int col, cu_blob *out, cu_err *err)
{
    out->data = NULL;
    out->len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return CU_OK;
    return blob_copy(st, col, out, err);
}

/* Reads a row of USER_COLS; on failure u holds nothing to release. */
static cu_rc read_user(sqlite3_stmt *st, cu_store_user *u, cu_err *err)
{
    const unsigned char *hash = sqlite3_column_text(st, 6);
    cu_rc rc;

    memset(u, 0, sizeof(*u));
    u->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    u->id = (cu_id)sqlite3_column_int64(st, 1);
    u->role = sqlite3_column_int(st, 2);
    digest_copy(st, 3, u->email_digest);
    u->key_version = (uint32_t)sqlite3_column_int64(st, 5);
    cu_strlcpy(u->password_hash, hash ? (const char *)hash : "", sizeof(u->password_hash));
    u->totp_key_version = (uint32_t)sqlite3_column_int64(st, 8);
    u->totp_pending_key_version = (uint32_t)sqlite3_column_int64(st, 10);
    u->totp_enabled = sqlite3_column_int(st, 11);
    u->totp_last_step = sqlite3_column_int64(st, 12);
    u->failures = sqlite3_column_int(st, 13);
    u->window_start = sqlite3_column_int64(st, 14);
    u->locked_until = sqlite3_column_int64(st, 15);
    u->created_at = sqlite3_column_int64(st, 16);
    rc = blob_copy(st, 4, &u->email, err);
    if (rc == CU_OK)
        rc = blob_copy_opt(st, 7, &u->totp_secret, err);
    if (rc == CU_OK)
        rc = blob_copy_opt(st, 9, &u->totp_pending, err);
    if (rc != CU_OK)
        cu_store_user_cleanup(u);
    return rc;
}

/* Runs a bound statement that selects at most one user. */
static cu_rc user_one(sqlite_store *s, sqlite3_stmt *st, cu_store_user *out, cu_err *err)
{
    int src = sqlite3_step(st);
    cu_rc rc;

    if (src == SQLITE_ROW)
        rc = read_user(st, out, err);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "user not found");
    else
        rc = db_error(s, src, err, "read user");
    sqlite3_reset(st);
    return rc;
}

static cu_rc sq_user_get(cu_store *base, cu_id tenant, cu_id id, cu_store_user *out,
                         cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    st = stmt_pair(s, S_USER_GET, tenant, id);
    if (st == NULL)
        rc = db_error(s, sqlite3_errcode(s->db), err, "read user");
    else
        rc = user_one(s, st, out, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_user_find(cu_store *base, cu_id tenant, const uint8_t digest[32],
                          cu_store_user *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_USER_FIND);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "find user");
    } else {
        bind_id(st, 1, tenant);
        sqlite3_bind_blob(st, 2, digest, 32, SQLITE_STATIC);
        rc = user_one(s, st, out, err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_user_list(cu_store *base, cu_id tenant, cu_store_user **out, size_t *n,
                          cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_store_user *list = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_USER_LIST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list users");
        goto out;
    }
    bind_id(st, 1, tenant);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cu_store_user *nl = grow(list, &cap, cnt, sizeof(*list));
        if (nl == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            goto out;
        }
        list = nl;
        if ((rc = read_user(st, &list[cnt], err)) != CU_OK)
            goto out;
        cnt++;
    }
    if (src != SQLITE_DONE)
        rc = db_error(s, src, err, "list users");
out:
    if (st)
        sqlite3_reset(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        cu_store_users_free(list, cnt);
        return rc;
    }
    *out = list;
    *n = cnt;
    return CU_OK;
}

static cu_rc sq_session_get(cu_store *base, const uint8_t token_hash[32], cu_store_session *out,
                            cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_SESSION_GET);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read session");
        goto out;
    }
    sqlite3_bind_blob(st, 1, token_hash, 32, SQLITE_STATIC);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        digest_copy(st, 0, out->token_hash);
        out->tenant_id = (cu_id)sqlite3_column_int64(st, 1);
        out->user_id = (cu_id)sqlite3_column_int64(st, 2);
        out->created_at = sqlite3_column_int64(st, 3);
        out->expires_at = sqlite3_column_int64(st, 4);
        out->role = sqlite3_column_int(st, 5);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "session not found");
    } else {
        rc = db_error(s, src, err, "read session");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_checkpoint(cu_store *base, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    int src, log = 0, done = 0;

    pthread_mutex_lock(&s->lock);
    src = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    pthread_mutex_unlock(&s->lock);
    if (src != SQLITE_OK)
        return db_error(s, src, err, "checkpoint");
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
        return db_error(s, src, err, "read schema version");
    return CU_OK;
}

/* Upgrades the schema one version at a time up to target, each step atomic with its bump. */
static cu_rc migrate(sqlite_store *s, int target, cu_err *err)
{
    static const char *const bump[] = {
        "PRAGMA user_version = 1",
        "PRAGMA user_version = 2",
        "PRAGMA user_version = 3",
        "PRAGMA user_version = 4",
        "PRAGMA user_version = 5",
        "PRAGMA user_version = 6",
        "PRAGMA user_version = 7",
    };
    int version = 0;
    cu_rc rc;

    _Static_assert(CU_ARRAY_LEN(bump) == CU_ARRAY_LEN(migrations), "one bump per migration");
    if ((rc = schema_version(s, &version, err)) != CU_OK)
        return rc;
    if (version > (int)CU_ARRAY_LEN(migrations))
        return cu_err_set(err, CU_ERR_STORE,
                          "database schema version %d is newer than this build knows (%d)",
                          version, (int)CU_ARRAY_LEN(migrations));
    for (; version < target; version++) {
        if ((rc = exec_ddl(s, "BEGIN IMMEDIATE", err, "begin migration")) != CU_OK)
            return rc;
        rc = exec_ddl(s, migrations[version], err, "migrate schema");
        if (rc == CU_OK)
            rc = exec_ddl(s, bump[version], err, "migrate schema");
        if (rc == CU_OK)
            rc = exec_ddl(s, "COMMIT", err, "commit migration");
        if (rc != CU_OK) {
            cu_err ignored;
            (void)exec_ddl(s, "ROLLBACK", &ignored, "roll back");
            return rc;
        }
    }
    return CU_OK;
}

static void sq_close(cu_store *base)
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

cu_rc cu_store_sqlite_open_at(const char *path, int version, cu_store **out, cu_err *err)
{
    static const char *const pragmas =
        "PRAGMA journal_mode = WAL;"
        "PRAGMA synchronous = FULL;"
        "PRAGMA foreign_keys = ON;"
        "PRAGMA secure_delete = ON;"
        "PRAGMA busy_timeout = 10000;";
    sqlite_store *s;
    cu_rc rc;
    int src;

    if ((rc = create_private(path, err)) != CU_OK)
        return rc;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    s->base.ops = &cu_store_sqlite;
    pthread_mutex_init(&s->lock, NULL);
    src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = cu_err_set(err, CU_ERR_IO, "could not open database \"%s\": %s", path,
                        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        goto out;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((rc = exec_ddl(s, pragmas, err, "configure database")) != CU_OK)
        goto out;
    rc = migrate(s, version, err);
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
    if ((rc = exec_ddl(s, "PRAGMA busy_timeout = 10000;", err, "configure reader")) != CU_OK)
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

void cu_store_key_cleanup(cu_store_key *k)
{
    if (k == NULL)
        return;
    free(k->wrapped.data);
    k->wrapped.data = NULL;
    k->wrapped.len = 0;
}

void cu_store_keys_free(cu_store_key *keys, size_t n)
{
    size_t i;

    for (i = 0; keys != NULL && i < n; i++)
        cu_store_key_cleanup(&keys[i]);
    free(keys);
}

void cu_store_subject_cleanup(cu_store_subject *s)
{
    if (s == NULL)
        return;
    free(s->profile.data);
    s->profile.data = NULL;
}

void cu_store_record_cleanup(cu_store_record *r)
{
    size_t i;

    if (r == NULL)
        return;
    free(r->doc.data);
    r->doc.data = NULL;
    for (i = 0; i < r->nfields; i++) {
        free(r->fields[i].name);
        free(r->fields[i].ct.data);
    }
    free(r->fields);
    r->fields = NULL;
    r->nfields = 0;
}

void cu_store_user_cleanup(cu_store_user *u)
{
    if (u == NULL)
        return;
    free(u->email.data);
    free(u->totp_secret.data);
    free(u->totp_pending.data);
    u->email.data = u->totp_secret.data = u->totp_pending.data = NULL;
    u->email.len = u->totp_secret.len = u->totp_pending.len = 0;
}

void cu_store_users_free(cu_store_user *users, size_t n)
{
    size_t i;

    for (i = 0; users != NULL && i < n; i++)
        cu_store_user_cleanup(&users[i]);
    free(users);
}

static cu_rc sq_audit_head(cu_store *base, cu_id tenant, uint64_t *seq, uint8_t hash[32],
                           cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *seq = 0;
    memset(hash, 0, 32);
    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_AUDIT_HEAD);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read audit head");
        goto out;
    }
    bind_id(st, 1, tenant);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        blob32_col(st, 1, hash);
    } else if (src != SQLITE_DONE) {
        rc = db_error(s, src, err, "read audit head");
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

static cu_rc sq_audit_list(cu_store *base, cu_id tenant, const cu_audit_filter *f,
                           cu_audit_entry **out, size_t *n, cu_err *err)
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
    st = stmt(s, S_AUDIT_LIST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list audit entries");
        goto out;
    }
    bind_id(st, 1, tenant);
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
        rc = db_error(s, src, err, "list audit entries");
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
static cu_rc sq_audit_scan(cu_store *base, cu_id tenant, uint64_t from,
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
        st = stmt(s, S_AUDIT_SCAN);
        if (st == NULL) {
            rc = db_error(s, sqlite3_errcode(s->db), err, "read the audit log");
            pthread_mutex_unlock(&s->lock);
            break;
        }
        bind_id(st, 1, tenant);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
        while (cnt < PAGE && (src = sqlite3_step(st)) == SQLITE_ROW)
            read_audit(st, &page[cnt++]);
        if (cnt < PAGE && src != SQLITE_DONE)
            rc = db_error(s, src, err, "read the audit log");
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

static cu_rc sq_audit_seq_before(cu_store *base, cu_id tenant, int64_t before_ms, uint64_t *seq,
                                 cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *seq = 0;
    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_AUDIT_BEFORE);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read the audit log");
        goto out;
    }
    bind_id(st, 1, tenant);
    sqlite3_bind_int64(st, 2, before_ms);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
    else if (src != SQLITE_DONE)
        rc = db_error(s, src, err, "read the audit log");
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_audit_checkpoints(cu_store *base, cu_id tenant, cu_audit_checkpoint **out,
                                  size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_audit_checkpoint *list = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_CKPT_LIST);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list audit checkpoints");
        goto out;
    }
    bind_id(st, 1, tenant);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cu_audit_checkpoint *c;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            cu_audit_checkpoint *nl = realloc(list, ncap * sizeof(*nl));
            if (nl == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                break;
            }
            list = nl;
            cap = ncap;
        }
        c = &list[cnt++];
        memset(c, 0, sizeof(*c));
        c->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
        c->seq = (uint64_t)sqlite3_column_int64(st, 1);
        c->at = sqlite3_column_int64(st, 2);
        blob32_col(st, 3, c->hash);
        if (sqlite3_column_bytes(st, 4) == 64)
            memcpy(c->sig, sqlite3_column_blob(st, 4), 64);
        c->anchor = sqlite3_column_int(st, 5) != 0;
    }
    if (rc == CU_OK && src != SQLITE_DONE)
        rc = db_error(s, src, err, "list audit checkpoints");
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

static cu_rc sq_policy_get(cu_store *base, cu_id tenant, unsigned *version, char **text,
                           cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    *text = NULL;
    *version = 0;
    pthread_mutex_lock(&s->lock);
    st = stmt(s, S_POLICY_GET);
    if (st == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read the tenant's policy");
        goto out;
    }
    bind_id(st, 1, tenant);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 1);
        *version = (unsigned)sqlite3_column_int64(st, 0);
        if ((*text = t ? strdup((const char *)t) : NULL) == NULL)
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "the tenant has no policy");
    } else {
        rc = db_error(s, src, err, "read the tenant's policy");
    }
    sqlite3_reset(st);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Reads one row of a statement into the element at row (zeroed); CU_OK or an error. */
typedef cu_rc (*row_reader)(sqlite3_stmt *st, void *row, cu_err *err);

/*
 * Steps a prepared, bound statement and collects every row, read by fn into elements of sz
 * bytes, into *out (the caller frees it, after free_fn on each element if the rows own memory)
 * and *n. Called with s->lock held; resets the statement.
 */
static cu_rc collect_rows(sqlite_store *s, sqlite3_stmt *st, size_t sz, row_reader fn,
                          void (*free_fn)(void *list, size_t n), void **out, size_t *n,
                          cu_err *err, const char *what)
{
    char *list = NULL;
    size_t cnt = 0, cap = 0;
    cu_rc rc = CU_OK;
    int src;

    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *nl = realloc(list, ncap * sz);
            if (nl == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                break;
            }
            list = nl;
            cap = ncap;
        }
        memset(list + cnt * sz, 0, sz);
        rc = fn(st, list + cnt * sz, err);
        cnt++;
        if (rc != CU_OK)
            break;
    }
    if (rc == CU_OK && src != SQLITE_DONE)
        rc = db_error(s, src, err, what);
    sqlite3_reset(st);
    if (rc != CU_OK) {
        if (free_fn != NULL)
            free_fn(list, cnt);
        else
            free(list);
        return rc;
    }
    *out = list;
    *n = cnt;
    return CU_OK;
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
    return CU_OK;
}

static cu_rc sq_record_meta_list(cu_store *base, cu_id tenant, cu_id after, size_t limit,
                                 cu_store_record_meta **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = stmt_pair(s, S_RECORD_META, tenant, after)) == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list records");
    } else {
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
        rc = collect_rows(s, st, sizeof(**out), read_record_meta, NULL, (void **)out, n, err,
                          "list records");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_subject_ids(cu_store *base, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                            size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = stmt_pair(s, S_SUBJECT_IDS, tenant, after)) == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list subjects");
    } else {
        sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
        rc = collect_ids(s, st, ids, n, err, "list subjects");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static cu_rc sq_subject_state(cu_store *base, cu_id tenant, cu_id subject, int *restricted,
                              int64_t *last_activity, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc = CU_OK;
    int src;

    pthread_mutex_lock(&s->lock);
    if ((st = stmt_pair(s, S_SUBJECT_STATE, tenant, subject)) == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read subject");
    } else if ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (restricted)
            *restricted = sqlite3_column_int(st, 0);
        if (last_activity)
            *last_activity = sqlite3_column_int64(st, 1);
    } else if (src == SQLITE_DONE) {
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "subject not found");
    } else {
        rc = db_error(s, src, err, "read subject");
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
    text_col(st, 3, c->purpose, sizeof(c->purpose));
    c->action = sqlite3_column_int(st, 4);
    c->at = sqlite3_column_int64(st, 5);
    text_col(st, 6, c->source, sizeof(c->source));
    text_col(st, 7, c->policy_version, sizeof(c->policy_version));
    return CU_OK;
}

static cu_rc sq_consent_list(cu_store *base, cu_id tenant, cu_id subject, const char *purpose,
                             cu_store_consent **out, size_t *n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = stmt_pair(s, purpose ? S_CONSENT_LAST : S_CONSENT_LIST, tenant, subject)) == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "read the consent ledger");
    } else {
        if (purpose)
            sqlite3_bind_text(st, 3, purpose, -1, SQLITE_STATIC);
        rc = collect_rows(s, st, sizeof(**out), read_consent, NULL, (void **)out, n, err,
                          "read the consent ledger");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void cu_store_holds_free(cu_store_hold *holds, size_t n)
{
    if (holds == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(holds[i].reason.data);
        free(holds[i].release_reason.data);
    }
    free(holds);
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
    if ((rc = blob_copy(st, 4, &h->reason, err)) != CU_OK)
        return rc;
    return blob_copy_opt(st, 8, &h->release_reason, err);
}

static void holds_free(void *list, size_t n)
{
    cu_store_holds_free(list, n);
}

static cu_rc sq_hold_list(cu_store *base, cu_id tenant, cu_store_hold **out, size_t *n,
                          cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = stmt(s, S_HOLD_LIST)) == NULL) {
        rc = db_error(s, sqlite3_errcode(s->db), err, "list legal holds");
    } else {
        bind_id(st, 1, tenant);
        rc = collect_rows(s, st, sizeof(**out), read_hold, holds_free, (void **)out, n, err,
                          "list legal holds");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

const cu_store_ops cu_store_sqlite = {
    .name = "sqlite-connection",
    .open = cu_store_sqlite_open_single,
    .close = sq_close,
    .apply = sq_apply,
    .commit_stats = sq_commit_stats,
    .audit_head = sq_audit_head,
    .audit_list = sq_audit_list,
    .audit_scan = sq_audit_scan,
    .audit_seq_before = sq_audit_seq_before,
    .audit_checkpoints = sq_audit_checkpoints,
    .policy_get = sq_policy_get,
    .record_meta_list = sq_record_meta_list,
    .subject_ids = sq_subject_ids,
    .subject_state = sq_subject_state,
    .consent_list = sq_consent_list,
    .hold_list = sq_hold_list,
    .master_list = sq_master_list,
    .tenant_get = sq_tenant_get,
    .tenant_list = sq_tenant_list,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .subject_get = sq_subject_get,
    .record_get = sq_record_get,
    .record_ids_by_subject = sq_record_ids_by_subject,
    .blind_find = sq_blind_find,
    .collection_get = sq_collection_get,
    .checkpoint = sq_checkpoint,
    .apikey_get = sq_apikey_get,
    .apikey_list = sq_apikey_list,
    .user_get = sq_user_get,
    .user_find = sq_user_find,
    .user_list = sq_user_list,
    .session_get = sq_session_get,
};
