/*
 * sqlite_stmt.c: every statement of the SQLite backend, and the helpers that bind and run them.
 *
 * Every statement is a constant of sq_stmt_sql, prepared once per connection and cached
 * (SQLITE_PREPARE_PERSISTENT); no SQL is ever assembled from input. The rules a backend must
 * keep inside its write transaction (docs/store.md) are written here; the numbers they compare
 * against are store.h's named constants, bound as parameters by sqlite_write.c.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sqlite_int.h"
#include "util.h"

#define AUDIT_COLS                                                                                 \
    "tenant_id, seq, at, actor, action, object, purpose, source, request_id, outcome, prev, hash," \
    " digest"
#define APIKEY_COLS "tenant_id, key_id, role, name, secret_hash, created_at, revoked_at"
#define USER_COLS                                                                                  \
    "tenant_id, user_id, role, email_digest, email, key_version, password_hash, totp_secret,"      \
    " totp_key_version, totp_pending, totp_pending_key_version, totp_enabled, totp_last_step,"     \
    " failures, window_start, locked_until, created_at"
/* A failure at ?3 opens a new window when the window (?4 seconds) has passed or a lockout
 * has ended. */
/*
 * P-RET-5, hold coverage, the SQL twin of cu_store_hold_covers (docs/store.md): whether the hold
 * h, in force, covers record R of subject S (R "0": the subject as a whole, any hold on it or
 * on one of its records). A tenant-wide hold (no subject, no record) covers everything; a hold
 * on a record names the record's subject too. S and R are SQL expressions; a NULL S (a record
 * without a subject) matches no subject hold.
 */
#define HOLD_COVERS(S, R)                                                                          \
    "(h.released_at = 0 AND ((h.subject_id = 0 AND h.record_id = 0)"                               \
    " OR (" R " <> 0 AND h.record_id = " R ")"                                                     \
    " OR (" S " <> 0 AND h.subject_id = " S " AND (" R " = 0 OR h.record_id = 0))))"
/*
 * The internal key (rid, time-ordered, migration 14) of tenant T's record of public id I, or
 * NULL: no such record. Migration 27 (sqlite_ids.c): a row written since has the permutation of
 * its rid as its id, so custos_rid(I) finds it with one probe of the table's own key; an older
 * row (keyed = 0) is in records_by_id. coalesce() stops at its first value that is not NULL.
 * P-ISO-1: the row found must be T's and have id I: the key's rid of another tenant's id, or
 * an id guessed, finds nothing.
 */
#define RID_OF(T, I)                                                                               \
    "coalesce((SELECT rk.rid FROM records rk WHERE rk.rid = custos_rid(" I ")"                      \
    " AND rk.tenant_id = " T " AND rk.record_id = " I "), (SELECT rk.rid FROM records rk"          \
    " WHERE rk.tenant_id = " T " AND rk.record_id = " I " AND rk.keyed = 0))"
/* The internal key of record ?2 of tenant ?1. */
#define RECORD_RID "(" RID_OF("?1", "?2") ")"
/* The export's pages (sqlite_read.c, page_rows): each record with its sealed fields in one
 * statement, a row per field (one with a NULL field for a record without any), joined on the
 * internal key: no per-record query, and no seek of the random public id's index (issue 17,
 * item 4: those were 29% of a tenant's export). The order is by a unique key, so a record's
 * rows are adjacent; the reader counts records itself (a LIMIT would count fields). */
#define PAGE_COLUMNS                                                                               \
    "r.tenant_id, r.record_id, r.collection, r.subject_id, r.key_version, r.created_at,"           \
    " r.updated_at, r.doc, r.version, f.field, f.ct, r.rid"
#define PAGE_JOIN "records r LEFT JOIN record_fields f ON f.rid = r.rid"
/* The subject of record ?2 (NULL: the tenant's own record, or none). */
#define RECORD_SUBJECT "(SELECT r.subject_id FROM records r WHERE r.rid = " RECORD_RID ")"
/*
 * P-DSR-4: whether subject S of tenant ?1 is being erased: its key is destroyed and its rows not
 * all deleted yet (the erasures queue, sqlite_erase.c). Every read of subjects, records and index
 * entries hides such a subject and what is its, as if deleted already. A point probe of the
 * queue's primary key, empty but for erasures under way.
 */
#define ERASING(S)                                                                                 \
    "EXISTS (SELECT 1 FROM erasures e WHERE e.tenant_id = ?1 AND e.subject_id = " S ")"
/* P-RET-4: whether record R of tenant ?1 was kept after its subject's erasure (sealed under the
 * subject's retained key, sqlite_erase.c): a primary-key probe of a table empty but for them. */
#define RETAINED(R)                                                                                \
    "EXISTS (SELECT 1 FROM retained_records k WHERE k.tenant_id = ?1 AND k.record_id = " R ")"
/* A record hidden with its erased subject, unless kept for a legal obligation: a retained
 * record stays visible (record.c lets only such a purpose open it). */
#define ERASED_RECORD                                                                              \
    "(" ERASING("records.subject_id") " AND NOT " RETAINED("records.record_id") ")"
/* The last seq of tenant ?1 that the audit log's subject index holds (sqlite_audit_subject.c). */
#define AUDIT_MARK                                                                                 \
    "coalesce((SELECT m.seq FROM audit_subject_marks m WHERE m.tenant_id = ?1), 0)"
#define LOGIN_FRESH "(?3 >= window_start + ?4 OR (locked_until > 0 AND ?3 >= locked_until))"

const char *const sq_stmt_sql[S__COUNT] = {
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
    /* The newest policy version rides along (one primary-key probe): the policy cache's check. */
    [S_TENANT_GET] = "SELECT tenant_id, name, state, created_at, terminated_at, (SELECT"
                     " max(version) FROM tenant_policies p WHERE p.tenant_id = t.tenant_id),"
                     " cache_gen FROM tenants t WHERE tenant_id = ?",
    [S_TENANT_LIST] = "SELECT tenant_id, name, state, created_at, terminated_at, (SELECT"
                      " max(version) FROM tenant_policies p WHERE p.tenant_id = t.tenant_id),"
                      " cache_gen FROM tenants t ORDER BY created_at, tenant_id",
    /* Contract item 12: the core's caches of the tenant's secrets notice the change. */
    [S_TENANT_GEN] = "UPDATE tenants SET cache_gen = cache_gen + 1 WHERE tenant_id = ?1",
    [S_KEY_PUT] = "INSERT INTO keys(tenant_id, kind, owner_id, version, parent_version, wrapped)"
                  " VALUES(?1,?2,?3,?4,?5,?6)",
    [S_KEY_REWRAP] = "UPDATE keys SET parent_version = ?5, wrapped = ?6 WHERE tenant_id = ?1"
                     " AND kind = ?2 AND owner_id = ?3 AND version = ?4",
    [S_KEY_DELETE] = "DELETE FROM keys WHERE tenant_id = ? AND kind = ? AND owner_id = ?",
    [S_KEY_GET_LATEST] = "SELECT tenant_id, kind, owner_id, version, parent_version, wrapped"
                         " FROM keys WHERE tenant_id = ? AND kind = ? AND owner_id = ?"
                         " ORDER BY version DESC LIMIT 1",
    [S_POLICY_AT] = "SELECT version, text, created_at FROM tenant_policies WHERE tenant_id = ?1"
                    " AND (?2 = 0 OR version = ?2) ORDER BY version DESC LIMIT 1",
    [S_KEY_GET] = "SELECT tenant_id, kind, owner_id, version, parent_version, wrapped"
                  " FROM keys WHERE tenant_id = ? AND kind = ? AND owner_id = ? AND version = ?",
    /* The vault's own keys (tenant 0, vault_keys) when their kind is asked for. */
    [S_KEY_LIST] = "SELECT tenant_id, kind, owner_id, version, parent_version, wrapped FROM keys"
                   " WHERE (?1 = 0 OR tenant_id = ?1) AND (?2 = 0 OR kind = ?2)"
                   " UNION ALL SELECT 0, kind, 0, version, parent_version, wrapped"
                   " FROM vault_keys WHERE ?1 = 0 AND kind = ?2"
                   " ORDER BY tenant_id, kind, owner_id, version",
    [S_VKEY_PUT] = "INSERT INTO vault_keys(kind, version, parent_version, wrapped)"
                   " VALUES(?2, ?4, ?5, ?6)",
    [S_VKEY_REWRAP] = "UPDATE vault_keys SET parent_version = ?5, wrapped = ?6 WHERE kind = ?2"
                      " AND version = ?4",
    [S_SUBJECT_PUT] = "INSERT INTO subjects(tenant_id, subject_id, key_version, created_at,"
                      " profile, last_activity) VALUES(?1,?2,?3,?4,?5,?4)"
                      " ON CONFLICT(tenant_id, subject_id)"
                      " DO UPDATE SET key_version = ?3, profile = ?5",
    [S_SUBJECT_DELETE] = "DELETE FROM subjects WHERE tenant_id = ? AND subject_id = ?",
    /* A record's entries that carry its rid go with it (ON DELETE CASCADE, migration 14); these
     * statements take those written without one (BLIND_PUT before its record's RECORD_PUT). */
    [S_SUBJECT_RECORDS_BLIND_DELETE] = "DELETE FROM blind_index WHERE tenant_id = ?1"
                                       " AND rid IS NULL AND owner_id IN (SELECT record_id"
                                       " FROM records WHERE tenant_id = ?1 AND subject_id = ?2)",
    [S_SUBJECT_RECORDS_DELETE] = "DELETE FROM records WHERE tenant_id = ? AND subject_id = ?",
    [S_SUBJECT_GET] = "SELECT tenant_id, subject_id, key_version, created_at, profile,"
                      " restricted, last_activity FROM subjects WHERE tenant_id = ?1"
                      " AND subject_id = ?2 AND NOT " ERASING("?2"),
    /* ?10 the rid, ?11 keyed (sq_ids_bind_put): an id of the key must not be an older row's
     * (records_by_id keeps the older rows' ids unique alone); no row: CU_ERR_EXISTS. */
    [S_RECORD_PUT] = "INSERT INTO records(rid, keyed, tenant_id, record_id, collection,"
                     " subject_id, key_version, created_at, updated_at, doc, version)"
                     " SELECT ?10, ?11, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE ?11 = 0"
                     " OR NOT EXISTS (SELECT 1 FROM records WHERE tenant_id = ?1"
                     " AND record_id = ?2 AND keyed = 0)",
    /* A rewritten record is no longer anonymous: the sweep looks at it again. */
    [S_RECORD_REPLACE] = "UPDATE records SET key_version = ?5, updated_at = ?7, doc = ?8,"
                         " version = ?9, anonymized = 0"
                         " WHERE rid = " RECORD_RID " AND collection = ?3"
                         " AND subject_id IS ?4 AND created_at = ?6",
    [S_RECORD_DELETE] = "DELETE FROM records WHERE rid = " RECORD_RID,
    [S_RECORD_GET] = "SELECT tenant_id, record_id, collection, subject_id, key_version,"
                     " created_at, updated_at, doc, version, " RETAINED("records.record_id")
                     " FROM records"
                     " WHERE rid = " RECORD_RID " AND NOT " ERASED_RECORD,
    [S_RECORD_BY_SUBJECT] =
        "SELECT record_id FROM records WHERE tenant_id = ?1"
        " AND subject_id = ?2 AND NOT " ERASING("?2") " ORDER BY created_at, rid",
    /* A record's fields are keyed by its internal key (migration 14), found by its public id. */
    [S_FIELDS_DELETE] = "DELETE FROM record_fields WHERE rid = " RECORD_RID,
    [S_FIELD_PUT] = "INSERT INTO record_fields(rid, field, ct) VALUES(" RECORD_RID ", ?3, ?4)",
    /* A new record's, its rid known (?5, the put's own; ?1 and ?2 as S_FIELD_PUT's, unused). */
    [S_FIELD_PUT_RID] = "INSERT INTO record_fields(rid, field, ct) VALUES(?5, ?3, ?4)",
    [S_FIELDS_GET] =
        "SELECT field, ct FROM record_fields WHERE rid = " RECORD_RID " ORDER BY field",
    /* An entry of a record carries the record's rid (NULL: a subject's, or a record's not yet
     * written), by which blind_by_record finds it, and goes with the record. */
    [S_BLIND_PUT] = "INSERT INTO blind_index(tenant_id, scope, digest, owner_id, uniq, rid)"
                    " VALUES(?1, ?2, ?3, ?4, ?5, " RID_OF("?1", "?4") ")",
    [S_BLIND_DELETE] = "DELETE FROM blind_index WHERE (tenant_id = ?1 AND owner_id = ?2"
                       " AND rid IS NULL) OR rid = " RECORD_RID,
    /* An owner is a subject or a record; either is hidden while its subject is erased. */
    [S_BLIND_FIND] = "SELECT owner_id FROM blind_index b WHERE tenant_id = ?1 AND scope = ?2"
                     " AND digest = ?3 AND NOT EXISTS (SELECT 1 FROM erasures e"
                     " WHERE e.tenant_id = ?1 AND e.subject_id IN (b.owner_id, (SELECT"
                     " r.subject_id FROM records r WHERE r.rid = coalesce(b.rid, "
                     RID_OF("?1", "b.owner_id") ")))) ORDER BY owner_id",
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
                        " AND (?3 = 0 OR totp_last_step < ?3)",
    [S_USER_GET] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ? AND user_id = ?",
    [S_USER_FIND] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ? AND email_digest = ?",
    [S_USER_LIST] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ?"
                    " ORDER BY created_at, user_id",
    [S_SESSION_PUT] = "INSERT INTO sessions(token_hash, tenant_id, user_id, created_at,"
                      " expires_at) VALUES(?,?,?,?,?)",
    [S_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?",
    [S_SESSION_PURGE] = "DELETE FROM sessions WHERE tenant_id = ? AND user_id = ?"
                        " AND expires_at <= ?",
    [S_AUDIT_APPEND] = "INSERT INTO audit_log(" AUDIT_COLS ", canon, subject_id)"
                       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    [S_AUDIT_HEAD] = "SELECT seq, hash FROM audit_log WHERE tenant_id = ?"
                     " ORDER BY seq DESC LIMIT 1",
    [S_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit_log WHERE tenant_id = ?1 AND seq > ?2"
                     " AND (?3 IS NULL OR actor = ?3) AND (?4 IS NULL OR action = ?4)"
                     " AND (?5 IS NULL OR object = ?5) AND (?6 IS NULL OR purpose = ?6)"
                     " AND (?7 = 0 OR at >= ?7) AND (?8 = 0 OR at <= ?8)"
                     " AND (?10 IS NULL OR substr(object, 1, length(?10)) = ?10)"
                     " ORDER BY seq LIMIT ?9",
    [S_AUDIT_SCAN] = "SELECT " AUDIT_COLS " FROM audit_log WHERE tenant_id = ? AND seq >= ?"
                     " ORDER BY seq",
    [S_AUDIT_BEFORE] = "SELECT max(seq) FROM audit_log WHERE tenant_id = ? AND at < ?",
    [S_AUDIT_PRUNE] = "DELETE FROM audit_log WHERE tenant_id = ? AND seq <= ?",
    /* Never replaced: a second checkpoint at a seq is refused, so a rewritten log cannot
     * overwrite the signed hash that contradicts it. */
    [S_POLICY_GRANT_PUT] = "INSERT OR REPLACE INTO policy_grants(tenant_id, admins, at)"
                           " VALUES(?, ?, ?)",
    [S_POLICY_GRANT_GET] = "SELECT admins FROM policy_grants WHERE tenant_id = ?",
    [S_AUDIT_KEY_PUT] = "INSERT OR REPLACE INTO audit_key(id, public_key, created_at)"
                        " VALUES(1, ?, ?)",
    [S_AUDIT_KEY_GET] = "SELECT (SELECT public_key FROM audit_key WHERE id = 1),"
                        " EXISTS(SELECT 1 FROM audit_checkpoints)",
    [S_CKPT_PUT] = "INSERT INTO audit_checkpoints(tenant_id, seq, at, hash, sig, anchor)"
                   " VALUES(?,?,?,?,?,?)",
    [S_CKPT_LIST] = "SELECT tenant_id, seq, at, hash, sig, anchor FROM audit_checkpoints"
                    " WHERE tenant_id = ? ORDER BY seq, anchor",
    [S_POLICY_PUT] = "INSERT INTO tenant_policies(tenant_id, version, text, created_at,"
                     " effective_at, fresh, in_force_at) VALUES(?,?,?,?,?,?,"
                     " CASE WHEN ?5 <= ?4 THEN ?4 ELSE 0 END)",
    [S_POLICY_VERSIONS] = "SELECT version, created_at, effective_at, withdrawn_at, in_force_at,"
                          " fresh FROM tenant_policies WHERE tenant_id = ? ORDER BY version",
    [S_POLICY_WITHDRAW] = "UPDATE tenant_policies SET withdrawn_at = ?3 WHERE tenant_id = ?1"
                          " AND version = ?2 AND withdrawn_at = 0 AND effective_at > ?3",
    [S_POLICY_IN_FORCE] = "UPDATE tenant_policies SET in_force_at = ?3 WHERE tenant_id = ?1"
                          " AND version = ?2 AND withdrawn_at = 0 AND in_force_at = 0"
                          " AND effective_at <= ?3",
    [S_POLICY_GET] = "SELECT version, text FROM tenant_policies WHERE tenant_id = ?"
                     " ORDER BY version DESC LIMIT 1",
    /* Found under age (?4: CU_SUBJECT_UNDER_AGE) stays so until erased (P-AGE-2). */
    [S_SUBJECT_RESTRICT] = "UPDATE subjects SET restricted = CASE WHEN restricted = ?4 THEN ?4"
                           " ELSE ?3 END WHERE tenant_id = ?1 AND subject_id = ?2",
    [S_SUBJECT_TOUCH] = "UPDATE subjects SET last_activity = MAX(last_activity, ?3)"
                        " WHERE tenant_id = ?1 AND subject_id = ?2",
    [S_SUBJECT_CONSENTS_DELETE] = "DELETE FROM consents WHERE tenant_id = ? AND subject_id = ?",
    [S_CONSENT_PUT] = "INSERT INTO consents(tenant_id, subject_id, purpose, action, at, source,"
                      " policy_version) VALUES(?,?,?,?,?,?,?)",
    /* An erased subject's ledger is hidden with it (the whole-tenant export reads it after the
     * subject, issue 10), until its rows go. */
    [S_CONSENT_LIST] = "SELECT tenant_id, subject_id, seq, purpose, action, at, source,"
                       " policy_version FROM consents WHERE tenant_id = ? AND subject_id = ?"
                       " AND NOT " ERASING("?2") " ORDER BY seq",
    [S_CONSENT_LAST] = "SELECT tenant_id, subject_id, seq, purpose, action, at, source,"
                       " policy_version FROM consents WHERE tenant_id = ? AND subject_id = ?"
                       " AND purpose = ? ORDER BY seq DESC LIMIT 1",
    [S_HOLD_PUT] = "INSERT INTO holds(tenant_id, hold_id, subject_id, record_id, reason,"
                   " key_version, created_at) VALUES(?,?,?,?,?,?,?)",
    [S_HOLD_RELEASE] = "UPDATE holds SET released_at = ?3, release_reason = ?4"
                       " WHERE tenant_id = ?1 AND hold_id = ?2 AND released_at = 0"
                       " AND key_version = ?5",
    [S_HOLD_LIST] = "SELECT tenant_id, hold_id, subject_id, record_id, reason, key_version,"
                    " created_at, released_at, release_reason FROM holds WHERE tenant_id = ?"
                    " ORDER BY created_at, hold_id",
    [S_RECORD_ANONYMIZE] = "UPDATE records SET subject_id = NULL, key_version = ?3,"
                           " updated_at = ?4, doc = ?5, version = ?7, anonymized = 1"
                           " WHERE rid = " RECORD_RID
                           " AND (?6 = 0 OR updated_at = ?6) AND (?8 = 0 OR NOT EXISTS"
                           " (SELECT 1 FROM subjects s WHERE s.tenant_id = ?1"
                           " AND s.subject_id = records.subject_id AND s.last_activity > ?8))",
    /* P-RET-1: as read by the sweep: neither the record nor (?4) its subject's last activity
     * changed since, so a write racing the sweep keeps the subject's records. */
    [S_RECORD_EXPIRE] = "DELETE FROM records WHERE rid = " RECORD_RID
                        " AND (?3 = 0 OR updated_at = ?3) AND (?4 = 0 OR NOT EXISTS"
                        " (SELECT 1 FROM subjects s WHERE s.tenant_id = ?1"
                        " AND s.subject_id = records.subject_id AND s.last_activity > ?4))",
    /* By rid (records_by_tenant), the cursor past a page its last rid (column 7). */
    [S_RECORD_META] = "SELECT record_id, subject_id, collection, created_at, updated_at,"
                      " anonymized, " RETAINED("records.record_id") ", rid"
                      " FROM records WHERE tenant_id = ?1 AND rid > ?2"
                      " AND NOT " ERASED_RECORD " ORDER BY rid LIMIT ?3",
    /* The export's pages (sq_record_page): a subject's records in the order of
     * S_RECORD_BY_SUBJECT (its index, each entry ending with its rid), or the tenant's own by
     * rid (records_by_tenant; the unary + keeps the planner off the subject index, which
     * would sort every own record per page; the core pages the tenant's own by
     * S_RECORD_PAGE_OWN_KEYED). The cursor past a record is its rid (column 11). */
    [S_RECORD_PAGE_SUBJECT] = "SELECT " PAGE_COLUMNS " FROM " PAGE_JOIN
                              " WHERE r.tenant_id = ?1 AND r.subject_id = ?2"
                              " AND (r.created_at, r.rid) > (?3, ?4) AND NOT " ERASING("?2")
                              " ORDER BY r.created_at, r.rid",
    [S_RECORD_PAGE_OWN] = "SELECT " PAGE_COLUMNS " FROM " PAGE_JOIN
                          " WHERE r.tenant_id = ?1 AND r.rid > ?2 AND +r.subject_id IS NULL"
                          " ORDER BY r.rid",
    [S_SUBJECT_IDS] = "SELECT subject_id FROM subjects s WHERE tenant_id = ?1 AND subject_id > ?2"
                      " AND NOT " ERASING("s.subject_id") " ORDER BY subject_id LIMIT ?3",
    [S_SUBJECT_STATE] = "SELECT restricted, last_activity FROM subjects WHERE tenant_id = ?1"
                        " AND subject_id = ?2 AND NOT " ERASING("?2"),
    /* P-RET-5, checked inside the write transaction that would change the data, so no hold
     * placed meanwhile is missed: a tenant-wide hold, one on the record, or one on its subject
     * (a hold on a record names the record's subject too). */
    [S_HELD_RECORD] =
        "SELECT EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = ?1 AND " HOLD_COVERS(
            RECORD_SUBJECT, "?2") ")",
    [S_HELD_SUBJECT] =
        "SELECT EXISTS (SELECT 1 FROM holds h WHERE h.tenant_id = ?1 AND " HOLD_COVERS("?2",
                                                                                       "0") ")",
    [S_HELD_TENANT] = "SELECT EXISTS (SELECT 1 FROM holds WHERE tenant_id = ?1"
                      " AND released_at = 0 AND ?2 = ?2)",
    [S_HELD_TENANT_WIDE] = "SELECT EXISTS (SELECT 1 FROM holds WHERE tenant_id = ?1"
                           " AND released_at = 0 AND subject_id = 0 AND record_id = 0"
                           " AND ?2 = ?2)",
    [S_SUBJECT_KEY_EXISTS] = "SELECT EXISTS (SELECT 1 FROM keys WHERE tenant_id = ?1 AND kind = ?3"
                             " AND owner_id = ?2)" /* ?3: CU_KEY_SUBJECT */,
    [S_T_SESSIONS_DELETE] = "DELETE FROM sessions WHERE tenant_id = ?",
    [S_T_USERS_DELETE] = "DELETE FROM users WHERE tenant_id = ?",
    [S_T_APIKEYS_DELETE] = "DELETE FROM api_keys WHERE tenant_id = ?",
    [S_T_CONSENTS_DELETE] = "DELETE FROM consents WHERE tenant_id = ?",
    /* P-RET-5: the ledger of a subject a hold covers stays (a tenant-wide hold: all of it). */
    [S_T_CONSENTS_UNHELD_DELETE] =
        "DELETE FROM consents WHERE tenant_id = ?1 AND NOT EXISTS"
        " (SELECT 1 FROM holds h WHERE h.tenant_id = ?1 AND " HOLD_COVERS("consents.subject_id",
                                                                          "0") ")",
    [S_T_CLOSE] = "UPDATE tenants SET state = ?2 WHERE tenant_id = ?1", /* CU_TENANT_PURGED */
    [S_T_BLIND_DELETE] = "DELETE FROM blind_index WHERE tenant_id = ?",
    [S_T_FIELDS_DELETE] = "DELETE FROM record_fields WHERE rid IN (SELECT rid FROM records"
                          " WHERE tenant_id = ?1)",
    [S_T_RECORDS_DELETE] = "DELETE FROM records WHERE tenant_id = ?",
    [S_T_SUBJECTS_DELETE] = "DELETE FROM subjects WHERE tenant_id = ?",
    [S_T_HOLDS_DELETE] = "DELETE FROM holds WHERE tenant_id = ?",
    [S_T_COLLECTIONS_DELETE] = "DELETE FROM collections WHERE tenant_id = ?",
    [S_T_KEYS_DELETE] = "DELETE FROM keys WHERE tenant_id = ?",
    /* P-ENC-5, data key rotation: values sealed again under the newest data key version, each
     * only while it is still the value read; a version destroyed only once nothing uses it. */
    [S_RESEAL_RECORD] = "UPDATE records SET doc = ?3, key_version = ?4 WHERE rid = " RECORD_RID
                        " AND subject_id IS NULL AND doc = ?5",
    [S_RESEAL_FIELD] = "UPDATE record_fields SET ct = ?4 WHERE rid = " RECORD_RID " AND field = ?3",
    [S_RESEAL_HOLD] = "UPDATE holds SET reason = ?3, release_reason = ?4, key_version = ?5"
                      " WHERE tenant_id = ?1 AND hold_id = ?2 AND reason = ?6"
                      " AND release_reason IS ?7",
    [S_RESEAL_USER_EMAIL] = "UPDATE users SET email = ?3, key_version = ?4 WHERE tenant_id = ?1"
                            " AND user_id = ?2 AND email = ?5",
    [S_RESEAL_USER_TOTP] = "UPDATE users SET totp_secret = ?3, totp_key_version = ?4"
                           " WHERE tenant_id = ?1 AND user_id = ?2 AND totp_secret = ?5",
    [S_RESEAL_USER_PENDING] = "UPDATE users SET totp_pending = ?3, totp_pending_key_version = ?4"
                              " WHERE tenant_id = ?1 AND user_id = ?2 AND totp_pending = ?5",
    [S_RESEAL_WEBHOOK_SECRET] = "UPDATE webhook_endpoints SET secret = ?3, key_version = ?4"
                                " WHERE tenant_id = ?1 AND endpoint_id = ?2 AND secret = ?5",
    /* ?2: 0, the one configuration of the tenant (store_sso.h) */
    [S_RESEAL_SSO_SECRET] = "UPDATE sso_configs SET secret = ?3, key_version = ?4"
                            " WHERE tenant_id = ?1 AND ?2 = 0 AND secret = ?5",
    /* ?3: CU_KEY_DATA */
    [S_DATA_KEY_DESTROY] =
        "DELETE FROM keys WHERE tenant_id = ?1 AND kind = ?3 AND owner_id = 0 AND version = ?2"
        " AND version < (SELECT max(version) FROM keys WHERE tenant_id = ?1 AND kind = ?3"
        " AND owner_id = 0)"
        " AND NOT EXISTS (SELECT 1 FROM records WHERE tenant_id = ?1 AND subject_id IS NULL"
        " AND key_version = ?2)"
        " AND NOT EXISTS (SELECT 1 FROM holds WHERE tenant_id = ?1 AND key_version = ?2)"
        " AND NOT EXISTS (SELECT 1 FROM users WHERE tenant_id = ?1 AND (key_version = ?2"
        " OR (totp_secret IS NOT NULL AND totp_key_version = ?2)"
        " OR (totp_pending IS NOT NULL AND totp_pending_key_version = ?2)))"
        " AND NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE tenant_id = ?1"
        " AND key_version = ?2)"
        " AND NOT EXISTS (SELECT 1 FROM sso_configs WHERE tenant_id = ?1 AND key_version = ?2)",
    [S_SESSION_GET] = "SELECT s.token_hash, s.tenant_id, s.user_id, s.created_at, s.expires_at,"
                      " u.role FROM sessions s JOIN users u"
                      " ON u.tenant_id = s.tenant_id AND u.user_id = s.user_id"
                      " WHERE s.token_hash = ?",
    [S_SESSION_TOUCH] = "UPDATE sessions SET expires_at = ?2 WHERE token_hash = ?1",
    [S_SESSION_PURGE_ALL] = "DELETE FROM sessions WHERE expires_at <= ?",
    [S_USER_SESSIONS_END] = "DELETE FROM sessions WHERE tenant_id = ? AND user_id = ?"
                            " AND token_hash <> ?",
    /* P-DSR-4, erasure: queued with its key's destruction, a subject's rows go in batches of
     * its oldest records (the records_by_subject index), then the subject (sqlite_erase.c). */
    [S_ERASE_QUEUE] = "INSERT OR IGNORE INTO erasures(tenant_id, subject_id) SELECT ?1, ?2"
                      " WHERE EXISTS (SELECT 1 FROM subjects WHERE tenant_id = ?1"
                      " AND subject_id = ?2)",
    [S_ERASE_DEQUEUE] = "DELETE FROM erasures WHERE tenant_id = ? AND subject_id = ?",
    [S_ERASING] = "SELECT " ERASING("?2"),
    /* Records kept for a legal obligation (retained) stay (P-RET-4); LIMIT -1: all. Entries
     * that carry a record's rid go with it (ON DELETE CASCADE); these are the older ones. */
    [S_ERASE_BLIND_BATCH] = "DELETE FROM blind_index WHERE tenant_id = ?1 AND rid IS NULL"
                            " AND owner_id IN (SELECT record_id FROM records WHERE tenant_id = ?1"
                            " AND subject_id = ?2 AND NOT " RETAINED("records.record_id")
                            " ORDER BY created_at, rid LIMIT ?3)",
    /* Their fields and the index entries that carry their rid go with them (ON DELETE
     * CASCADE). */
    [S_ERASE_RECORDS_BATCH] = "DELETE FROM records WHERE rid IN"
                              " (SELECT rid FROM records WHERE tenant_id = ?1"
                              " AND subject_id = ?2 AND NOT " RETAINED("records.record_id")
                              " ORDER BY created_at, rid LIMIT ?3)",
    /* Work left: rows to delete, or a kept entry whose retained records are all gone. */
    [S_ERASE_LIST] = "SELECT e.tenant_id, e.subject_id, (SELECT count(*) FROM records r"
                     " WHERE r.tenant_id = e.tenant_id AND r.subject_id = e.subject_id"
                     " AND NOT EXISTS (SELECT 1 FROM retained_records k"
                     " WHERE k.tenant_id = r.tenant_id AND k.record_id = r.record_id)), e.kept"
                     " FROM erasures e WHERE (e.tenant_id, e.subject_id) > (?1, ?2)"
                     " AND (e.kept = 0 OR NOT EXISTS (SELECT 1 FROM retained_records k"
                     " WHERE k.tenant_id = e.tenant_id AND k.subject_id = e.subject_id))"
                     " ORDER BY e.tenant_id, e.subject_id LIMIT ?3",
    [S_T_ERASURES_DELETE] = "DELETE FROM erasures WHERE tenant_id = ?",
    /* The audit log's index by subject (sqlite_audit_subject.c). */
    [S_AUDIT_SUBJECT_PUT] = "INSERT INTO audit_subjects(tenant_id, subject_id, seq) VALUES(?,?,?)",
    /* The index up to its mark, then the log past it (a range of its primary key). CROSS
     * JOIN keeps the subject's index range the outer loop: with a plain JOIN SQLite walked the
     * whole tenant's log in seq order (to skip the ORDER BY's sort) and probed the index per
     * entry, 63 ms against 4 for a subject of 100 entries in a log of 110,000
     * (bench/README.md, bench/portal.sh 2026-12-03). The first arm answers x.seq, not a.seq:
     * SQLite does not carry the join's equality into the order, so a.seq made it sort the
     * subject's whole index past ?3 in a temporary B-tree for every page (a subject's export of
     * 100,000 records took 0.8 s, then 4 s once the index held 80,000 of its entries). */
    [S_AUDIT_SUBJECT_LIST] =
        "SELECT seq, at, actor, action, object, purpose FROM ("
        " SELECT x.seq, a.at, a.actor, a.action, a.object, a.purpose"
        " FROM audit_subjects x CROSS JOIN audit_log a"
        " ON a.tenant_id = x.tenant_id AND a.seq = x.seq"
        " WHERE x.tenant_id = ?1 AND x.subject_id = ?2 AND x.seq > ?3"
        " UNION ALL"
        " SELECT seq, at, actor, action, object, purpose FROM audit_log"
        " WHERE tenant_id = ?1 AND subject_id = ?2 AND seq > max(?3, " AUDIT_MARK ")"
        ") ORDER BY seq LIMIT ?4",
    /* Catches the index up with the log: the entries past the mark that name a subject. */
    [S_AUDIT_SUBJECT_CATCHUP] = "INSERT INTO audit_subjects(tenant_id, subject_id, seq)"
                                " SELECT tenant_id, subject_id, seq FROM audit_log"
                                " WHERE tenant_id = ?1 AND seq > " AUDIT_MARK
                                " AND seq <= " AUDIT_MARK " + ?2 AND subject_id IS NOT NULL",
    [S_AUDIT_SUBJECT_MARK] = "INSERT OR REPLACE INTO audit_subject_marks(tenant_id, seq)"
                             " SELECT ?1, min(coalesce(max(seq), 0), " AUDIT_MARK " + ?2)"
                             " FROM audit_log WHERE tenant_id = ?1",
    [S_WEBHOOK_DUE] = sq_webhook_due_sql,
    [S_DISCLOSURES_OF] = sq_disclosures_of_sql,
    [S_AUDIT_SUBJECT_PRUNE] = "DELETE FROM audit_subjects WHERE tenant_id = ? AND seq <= ?",
    /* The subject's export: its collections, then each one's records (the subject's index, the
     * collection filtered on its rows) in the order of S_RECORD_PAGE_SUBJECT. */
    [S_SUBJECT_COLLECTIONS] = "SELECT collection, count(*) FROM records"
                              " WHERE tenant_id = ?1 AND subject_id = ?2 AND NOT " ERASING("?2")
                              " GROUP BY collection ORDER BY collection",
    [S_RECORD_PAGE_IN] = "SELECT " PAGE_COLUMNS " FROM " PAGE_JOIN
                         " WHERE r.tenant_id = ?1 AND r.subject_id = ?2"
                         " AND (r.created_at, r.rid) > (?3, ?4) AND r.collection = ?6"
                         " AND NOT " ERASING("?2") " ORDER BY r.created_at, r.rid",
    /* sq_record_page_own: the tenant's own in the subject index's order (subject NULL). */
    [S_RECORD_PAGE_OWN_KEYED] = "SELECT " PAGE_COLUMNS " FROM " PAGE_JOIN
                                " WHERE r.tenant_id = ?1 AND r.subject_id IS NULL"
                                " AND (r.created_at, r.rid) > (?3, ?4)"
                                " ORDER BY r.created_at, r.rid",
    /* P-RET-4: a record kept after its subject's erasure, sealed again under the subject's
     * retained key, only while its document is the one read (sqlite_erase.c). */
    [S_RECORD_RETAIN] = "UPDATE records SET doc = ?3, key_version = ?4"
                        " WHERE rid = " RECORD_RID " AND doc = ?5",
    [S_RETAIN_MARK] = "INSERT INTO retained_records(tenant_id, record_id, subject_id, rid)"
                      " SELECT tenant_id, record_id, subject_id, rid FROM records"
                      " WHERE rid = " RECORD_RID,
    /* In the order of records_by_subject_collection (its entries end with the rid): ORDER BY
     * record_id alone made SQLite walk the tenant's index of ids instead, every record of the
     * tenant for a subject's few kept ones (an erasure's plan: 40 ms at 100,000 records). */
    [S_RECORD_IDS_IN] = "SELECT record_id FROM records WHERE tenant_id = ?1 AND subject_id = ?2"
                        " AND collection = ?3 AND NOT " ERASING("?2")
                        " ORDER BY created_at, rid",
    [S_ERASE_KEEP] = "UPDATE erasures SET kept = 1 WHERE tenant_id = ?1 AND subject_id = ?2",
    /* A skip-scan of records_by_subject_collection: each collection by min() (one probe), and
     * at most ?3 of its records counted, so the cost does not grow with the subject. */
    [S_RECORD_COUNTS] = "WITH RECURSIVE c(name) AS (SELECT (SELECT min(collection) FROM records"
                        " WHERE tenant_id = ?1 AND subject_id = ?2) UNION ALL SELECT (SELECT"
                        " min(collection) FROM records WHERE tenant_id = ?1 AND subject_id = ?2"
                        " AND collection > c.name) FROM c WHERE c.name IS NOT NULL)"
                        " SELECT name, (SELECT count(*) FROM (SELECT 1 FROM records"
                        " WHERE tenant_id = ?1 AND subject_id = ?2 AND collection = c.name"
                        " LIMIT ?3)) FROM c WHERE name IS NOT NULL AND NOT " ERASING("?2"),
    [S_RETAINED_LEFT] = "SELECT EXISTS (SELECT 1 FROM retained_records WHERE tenant_id = ?1"
                        " AND subject_id = ?2)",
};

cu_rc sq_db_error(sqlite_store *s, int src, cu_err *err, const char *what)
{
    int ext = sqlite3_extended_errcode(s->db);

    src &= 0xff; /* extended result codes are on: compare primary codes */

    if (src == SQLITE_CONSTRAINT &&
        (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY))
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
sqlite3_stmt *sq_stmt(sqlite_store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmts[id];

    if (st == NULL) {
        if (sqlite3_prepare_v3(s->db, sq_stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
            SQLITE_OK)
            return NULL;
        s->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int sq_bind_id(sqlite3_stmt *st, int i, cu_id id)
{
    return sqlite3_bind_int64(st, i, (sqlite3_int64)id);
}

int sq_bind_blob(sqlite3_stmt *st, int i, const cu_blob *b)
{
    return sqlite3_bind_blob(st, i, b->data ? (const void *)b->data : "", (int)b->len,
                             SQLITE_STATIC);
}

cu_rc sq_blob_copy(sqlite3_stmt *st, int col, cu_blob *out, cu_err *err)
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
cu_rc sq_run(sqlite_store *s, sqlite3_stmt *st, cu_err *err, const char *what)
{
    int src;

    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, what);
    src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
        return sq_db_error(s, src, err, what);
    return CU_OK;
}

cu_rc sq_exec_ddl(sqlite_store *s, const char *sql, cu_err *err, const char *what)
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

void sq_text_col(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    cu_strlcpy(out, t ? (const char *)t : "", cap);
}

void sq_blob32_col(sqlite3_stmt *st, int col, uint8_t out[32])
{
    memset(out, 0, 32);
    if (sqlite3_column_bytes(st, col) == 32)
        memcpy(out, sqlite3_column_blob(st, col), 32);
}

/* The statement id with its two leading (tenant, id) parameters bound, or NULL. */
sqlite3_stmt *sq_stmt_pair(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj)
{
    sqlite3_stmt *st = sq_stmt(s, id);

    if (st) {
        sq_bind_id(st, 1, tenant);
        sq_bind_id(st, 2, obj);
    }
    return st;
}

/* A nullable blob column: NULL leaves out->data NULL. */
cu_rc sq_blob_copy_opt(sqlite3_stmt *st, int col, cu_blob *out, cu_err *err)
{
    out->data = NULL;
    out->len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return CU_OK;
    return sq_blob_copy(st, col, out, err);
}

static cu_rc read_id(sqlite3_stmt *st, void *row, cu_err *err)
{
    (void)err;
    *(cu_id *)row = (cu_id)sqlite3_column_int64(st, 0);
    return CU_OK;
}

/* Collects column 0 of every row of a prepared, bound statement as ids. */
cu_rc sq_collect_ids(sqlite_store *s, sqlite3_stmt *st, cu_id **ids, size_t *n, cu_err *err,
                     const char *what)
{
    return sq_collect_rows(s, st, sizeof(**ids), read_id, NULL, (void **)ids, n, err, what);
}

cu_rc sq_collect_rows(sqlite_store *s, sqlite3_stmt *st, size_t sz, row_reader fn,
                      void (*free_fn)(void *list, size_t n), void **out, size_t *n, cu_err *err,
                      const char *what)
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
        rc = sq_db_error(s, src, err, what);
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

cu_rc sq_list(sqlite_store *s, enum stmt_id id, cu_id tenant, size_t sz, row_reader fn,
              void (*free_fn)(void *list, size_t n), void **out, size_t *n, cu_err *err,
              const char *what)
{
    sqlite3_stmt *st;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if ((st = sq_stmt(s, id)) == NULL) {
        rc = sq_db_error(s, sqlite3_errcode(s->db), err, what);
    } else {
        if (sqlite3_bind_parameter_count(st) > 0)
            sq_bind_id(st, 1, tenant);
        rc = sq_collect_rows(s, st, sz, fn, free_fn, out, n, err, what);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

cu_rc sq_one(sqlite_store *s, sqlite3_stmt *st, row_reader fn, void *row, cu_err *err,
             const char *what, const char *missing)
{
    cu_rc rc;
    int src;

    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, what);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        rc = fn(st, row, err);
    else if (src == SQLITE_DONE)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "%s", missing);
    else
        rc = sq_db_error(s, src, err, what);
    sqlite3_reset(st);
    return rc;
}

void sq_txn_abort(sqlite_store *s)
{
    cu_err ignored;

    if (sqlite3_get_autocommit(s->db) || s->snapshot)
        return;
    (void)sq_run(s, sq_stmt(s, S_ROLLBACK), &ignored, "roll back");
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
