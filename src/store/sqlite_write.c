/*
 * sqlite_write.c: apply(), the one write path of the SQLite backend.
 *
 * A batch is one IMMEDIATE transaction: all of its ops or none. Each op kind has one function,
 * found by a table indexed by the kind; the rules of the store contract (docs/store.md) that
 * must hold inside the transaction are checked by those functions before they write.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit_canon.h"
#include "sqlite_int.h"
#include "util.h"

/* The first column of the one row a prepared, bound query answers, into *out. */
static cu_rc query_int_st(sqlite_store *s, sqlite3_stmt *st, int64_t *out, cu_err *err)
{
    int src;

    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "check the store's rules");
    src = sqlite3_step(st);
    *out = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return src == SQLITE_ROW ? CU_OK : sq_db_error(s, src, err, "check the store's rules");
}

/* The first column of the one row a (tenant, obj) query answers, into *out. */
static cu_rc query_int(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj, int64_t *out,
                       cu_err *err)
{
    return query_int_st(s, sq_stmt_pair(s, id, tenant, obj), out, err);
}

/* Whether the subject's key still exists, into *out: once it is destroyed, the subject's
 * erasure is under way (docs/store.md, subject key). */
static cu_rc subject_key_exists(sqlite_store *s, cu_id tenant, cu_id subject, int64_t *out,
                                cu_err *err)
{
    sqlite3_stmt *st = sq_stmt_pair(s, S_SUBJECT_KEY_EXISTS, tenant, subject);

    if (st)
        sqlite3_bind_int(st, 3, CU_KEY_SUBJECT);
    return query_int_st(s, st, out, err);
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

/* Binds the two leading (tenant, id) parameters of a delete and runs it. */
static cu_rc run_pair(sqlite_store *s, enum stmt_id id, cu_id tenant, cu_id obj, cu_err *err,
                      const char *what)
{
    return sq_run(s, sq_stmt_pair(s, id, tenant, obj), err, what);
}

/* Runs a write that must touch a row; if it touches none, fails with code and msg. */
static cu_rc run_one_row(sqlite_store *s, sqlite3_stmt *st, cu_err *err, const char *what,
                         cu_rc code, const char *msg)
{
    cu_rc rc = sq_run(s, st, err, what);

    if (rc == CU_OK && sqlite3_changes(s->db) == 0)
        return cu_err_set(err, code, "%s", msg);
    return rc;
}

/* A blob, or NULL when absent (data NULL). */
static int bind_blob_or_null(sqlite3_stmt *st, int i, const cu_blob *b)
{
    return b->data ? sq_bind_blob(st, i, b) : sqlite3_bind_null(st, i);
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
        sqlite3_stmt *st = sq_stmt(s, ids[i]);
        if (st)
            sq_bind_id(st, 1, tenant);
        rc = sq_run(s, st, err, what);
    }
    return rc;
}

/* P-RET-5 for a subject's rows: refused while held, unless its key is destroyed already (the
 * second step of an erasure): unreadable data is not held, and the erasure completes. */
static cu_rc subject_delete_allowed(sqlite_store *s, cu_id tenant, cu_id subject, cu_err *err)
{
    int64_t has_key = 0;
    cu_rc rc = subject_key_exists(s, tenant, subject, &has_key, err);

    if (rc != CU_OK || !has_key)
        return rc;
    return refuse_held(s, S_HELD_SUBJECT, tenant, subject, "the subject's data", err);
}

static cu_rc audit_append(sqlite_store *s, const cu_audit_entry *e, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, S_AUDIT_APPEND);
    uint8_t canon[CU_AUDIT_CANON_MAX];

    if (st) {
        /* The bytes the entry's hash is over: verify hashes them as read (P-AUD-2). */
        sqlite3_bind_blob(st, 14, canon, (int)cu_audit_encode(e, canon), SQLITE_TRANSIENT);
        sq_bind_id(st, 1, e->tenant_id);
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
        if (e->has_digest)
            sqlite3_bind_blob(st, 13, e->digest, 32, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 13);
        /* Not part of the entry: the subject index's source (sqlite_audit_subject.c). */
        if (e->subject_id != 0)
            sq_bind_id(st, 15, e->subject_id);
    }
    return sq_run(s, st, err, "append to the audit log");
}

static cu_rc apply_record_put(sqlite_store *s, const cu_store_record *r, int replace, cu_err *err)
{
    sqlite3_stmt *st;
    int64_t rid;
    cu_rc rc;
    size_t i;

    if (replace &&
        (rc = refuse_held(s, S_HELD_RECORD, r->tenant_id, r->id, "the record", err)) != CU_OK)
        return rc;
    st = sq_stmt(s, replace ? S_RECORD_REPLACE : S_RECORD_PUT);
    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "prepare record write");
    sq_bind_id(st, 1, r->tenant_id);
    sq_bind_id(st, 2, r->id);
    sqlite3_bind_text(st, 3, r->collection, -1, SQLITE_STATIC);
    if (r->subject_id != 0)
        sq_bind_id(st, 4, r->subject_id);
    else
        sqlite3_bind_null(st, 4);
    sqlite3_bind_int64(st, 5, r->key_version);
    sqlite3_bind_int64(st, 6, r->created_at);
    sqlite3_bind_int64(st, 7, r->updated_at);
    sq_bind_blob(st, 8, &r->doc);
    sqlite3_bind_int64(st, 9, r->version);
    if (!replace)
        sq_ids_bind_put(s, st, r->id); /* ?10 its rid, ?11 keyed */
    if ((rc = sq_run(s, st, err, "write record")) != CU_OK)
        return rc;
    if (sqlite3_changes(s->db) != 1) /* a put: an older record has the id */
        return replace ? cu_err_set(err, CU_ERR_NOT_FOUND, "record not found")
                       : cu_err_set(err, CU_ERR_EXISTS, "record id taken");
    if (replace && (rc = sq_run(s, sq_stmt_pair(s, S_FIELDS_DELETE, r->tenant_id, r->id), err,
                                "replace record fields")) != CU_OK)
        return rc;
    /* A new record has no fields yet (its rid was never used: AUTOINCREMENT), and its rid is
     * the insert's: its fields go in by it, no lookup of the id. */
    rid = replace ? 0 : sqlite3_last_insert_rowid(s->db);
    for (i = 0; i < r->nfields; i++) {
        st = sq_stmt_pair(s, replace ? S_FIELD_PUT : S_FIELD_PUT_RID, r->tenant_id, r->id);
        if (st) {
            sqlite3_bind_text(st, 3, r->fields[i].name, -1, SQLITE_STATIC);
            sq_bind_blob(st, 4, &r->fields[i].ct);
            if (!replace)
                sqlite3_bind_int64(st, 5, rid);
        }
        if ((rc = sq_run(s, st, err, "write record field")) != CU_OK)
            return rc;
    }
    return CU_OK;
}

static cu_rc apply_user_put(sqlite_store *s, const cu_store_user *u, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, S_USER_PUT);

    if (st) {
        sq_bind_id(st, 1, u->tenant_id);
        sq_bind_id(st, 2, u->id);
        sqlite3_bind_int(st, 3, u->role);
        sqlite3_bind_blob(st, 4, u->email_digest, 32, SQLITE_STATIC);
        sq_bind_blob(st, 5, &u->email);
        sqlite3_bind_int64(st, 6, u->key_version);
        sqlite3_bind_text(st, 7, u->password_hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, u->created_at);
    }
    return sq_run(s, st, err, "create user");
}

static cu_rc apply_login(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    if (op->type == CU_OP_USER_LOGIN_OK) {
        st = sq_stmt(s, S_USER_LOGIN_OK);
        if (st) {
            sq_bind_id(st, 1, op->u.login.tenant_id);
            sq_bind_id(st, 2, op->u.login.user_id);
            sqlite3_bind_int64(st, 3, op->u.login.totp_step);
        }
        return run_one_row(s, st, err, "record login", CU_ERR_CONFLICT,
                           "the code was already used, or the user is gone");
    }
    st = sq_stmt(s, S_USER_LOGIN_FAILED);
    if (st) {
        sq_bind_id(st, 1, op->u.login.tenant_id);
        sq_bind_id(st, 2, op->u.login.user_id);
        sqlite3_bind_int64(st, 3, op->u.login.now);
        sqlite3_bind_int64(st, 4, op->u.login.window);
        sqlite3_bind_int(st, 5, op->u.login.max_failures);
        sqlite3_bind_int64(st, 6, op->u.login.lockout);
    }
    return sq_run(s, st, err, "record failed login");
}

static cu_rc apply_totp(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    int enable = op->type == CU_OP_USER_TOTP_ENABLE;
    sqlite3_stmt *st = sq_stmt(s, enable ? S_USER_TOTP_ENABLE : S_USER_TOTP_PENDING);

    if (st) {
        sq_bind_id(st, 1, op->u.totp.tenant_id);
        sq_bind_id(st, 2, op->u.totp.user_id);
        sq_bind_blob(st, 3, &op->u.totp.secret);
        /* ?4: the step for ENABLE, the sealing key's version for PENDING */
        sqlite3_bind_int64(st, 4, enable ? op->u.totp.step : (sqlite3_int64)op->u.totp.key_version);
    }
    return run_one_row(s, st, err, "write TOTP secret", CU_ERR_NOT_FOUND,
                       enable ? "no such TOTP enrolment" : "user not found");
}

/* CU_OP_RESEAL: see store.h. The record's fields follow its document only if it was still the
 * one read (the fields are bound to the document's write). */
static cu_rc apply_reseal(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    static const enum stmt_id ids[] = {[CU_RESEAL_RECORD] = S_RESEAL_RECORD,
                                       [CU_RESEAL_HOLD] = S_RESEAL_HOLD,
                                       [CU_RESEAL_USER_EMAIL] = S_RESEAL_USER_EMAIL,
                                       [CU_RESEAL_USER_TOTP] = S_RESEAL_USER_TOTP,
                                       [CU_RESEAL_USER_PENDING] = S_RESEAL_USER_PENDING,
                                       [CU_RESEAL_WEBHOOK_SECRET] = S_RESEAL_WEBHOOK_SECRET,
                                       [CU_RESEAL_SSO_SECRET] = S_RESEAL_SSO_SECRET};
    const cu_store_reseal *r = &op->u.reseal;
    sqlite3_stmt *st;
    cu_rc rc;

    if (r->what < CU_RESEAL_RECORD || r->what > CU_RESEAL__LAST)
        return cu_err_set(err, CU_ERR_INVALID, "unknown reseal");
    st = sq_stmt_pair(s, ids[r->what], r->tenant_id, r->id);
    if (st && r->what == CU_RESEAL_HOLD) {
        sq_bind_blob(st, 3, &r->ct[0]);
        bind_blob_or_null(st, 4, &r->ct[1]);
        sqlite3_bind_int64(st, 5, r->key_version);
        sq_bind_blob(st, 6, &r->old[0]);
        bind_blob_or_null(st, 7, &r->old[1]);
    } else if (st) {
        sq_bind_blob(st, 3, &r->ct[0]);
        sqlite3_bind_int64(st, 4, r->key_version);
        sq_bind_blob(st, 5, &r->old[0]);
    }
    if ((rc = sq_run(s, st, err, "reseal")) != CU_OK || sqlite3_changes(s->db) == 0 ||
        r->what != CU_RESEAL_RECORD)
        return rc;
    for (size_t i = 0; i < r->nfields && rc == CU_OK; i++) {
        st = sq_stmt_pair(s, S_RESEAL_FIELD, r->tenant_id, r->id);
        if (st) {
            sqlite3_bind_text(st, 3, r->fields[i].name, -1, SQLITE_STATIC);
            sq_bind_blob(st, 4, &r->fields[i].ct);
        }
        rc = sq_run(s, st, err, "reseal record field");
    }
    return rc;
}

static cu_rc w_master_add(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_MASTER_ADD);
    if (st) {
        sqlite3_bind_int64(st, 1, op->u.master.version);
        sqlite3_bind_blob(st, 2, op->u.master.check, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, op->u.master.created_at);
    }
    return sq_run(s, st, err, "add master key version");
}

static cu_rc w_tenant_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_TENANT_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.tenant.id);
        sqlite3_bind_text(st, 2, op->u.tenant.name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, op->u.tenant.state);
        sqlite3_bind_int64(st, 4, op->u.tenant.created_at);
    }
    return sq_run(s, st, err, "create tenant");
}

/* Contract item 12: a write the core's caches must notice on every server raises the tenant's
 * generation in its own transaction (none for a tenant without a row). */
static cu_rc w_tenant_gen(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, S_TENANT_GEN);

    if (st)
        sq_bind_id(st, 1, op->u.del.tenant_id);
    return sq_run(s, st, err, "raise tenant generation");
}

static cu_rc w_tenant_state(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_TENANT_STATE);
    if (st) {
        sq_bind_id(st, 1, op->u.tenant.id);
        sqlite3_bind_int(st, 2, op->u.tenant.state);
        sqlite3_bind_int64(st, 3, op->u.tenant.terminated_at);
    }
    return run_one_row(s, st, err, "update tenant", CU_ERR_NOT_FOUND, "tenant not found");
}

static cu_rc w_key_write(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    int vault = op->u.key.kind == CU_KEY_RECORD_IDS; /* of no tenant: vault_keys */

    st = sq_stmt(s, op->type == CU_OP_KEY_PUT ? (vault ? S_VKEY_PUT : S_KEY_PUT)
                                              : (vault ? S_VKEY_REWRAP : S_KEY_REWRAP));
    if (st) {
        sq_bind_id(st, 1, op->u.key.tenant_id);
        sqlite3_bind_int(st, 2, (int)op->u.key.kind);
        sq_bind_id(st, 3, op->u.key.owner_id);
        sqlite3_bind_int64(st, 4, op->u.key.version);
        sqlite3_bind_int64(st, 5, op->u.key.parent_version);
        sq_bind_blob(st, 6, &op->u.key.wrapped);
    }
    return sq_run(s, st, err, "write key");
}

static cu_rc w_key_delete(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;

    if (op->u.key_del.kind == CU_KEY_SUBJECT &&
        (rc = refuse_held(s, S_HELD_SUBJECT, op->u.key_del.tenant_id, op->u.key_del.owner_id,
                          "the subject's data", err)) != CU_OK)
        return rc;
    st = sq_stmt(s, S_KEY_DELETE);
    if (st) {
        sq_bind_id(st, 1, op->u.key_del.tenant_id);
        sqlite3_bind_int(st, 2, (int)op->u.key_del.kind);
        sq_bind_id(st, 3, op->u.key_del.owner_id);
    }
    rc = sq_run(s, st, err, "destroy key");
    /* P-DSR-4: from this commit on the subject is hidden, its rows deleted later. */
    if (rc == CU_OK && op->u.key_del.kind == CU_KEY_SUBJECT)
        rc = sq_erase_queue(s, op->u.key_del.tenant_id, op->u.key_del.owner_id, err);
    return rc;
}

static cu_rc w_subject_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_SUBJECT_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.subject.tenant_id);
        sq_bind_id(st, 2, op->u.subject.id);
        sqlite3_bind_int64(st, 3, op->u.subject.key_version);
        sqlite3_bind_int64(st, 4, op->u.subject.created_at);
        sq_bind_blob(st, 5, &op->u.subject.profile);
    }
    return sq_run(s, st, err, "write subject");
}

static cu_rc w_subject_delete(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    cu_rc rc;

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
        rc =
            run_pair(s, S_SUBJECT_DELETE, op->u.del.tenant_id, op->u.del.id, err, "delete subject");
    if (rc == CU_OK)
        rc = sq_erase_dequeue(s, op->u.del.tenant_id, op->u.del.id, err);
    return rc;
}

static cu_rc w_record_write(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    return apply_record_put(s, &op->u.record, op->type == CU_OP_RECORD_REPLACE, err);
}

static cu_rc w_record_delete(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    cu_rc rc;

    if ((rc = refuse_held(s, S_HELD_RECORD, op->u.del.tenant_id, op->u.del.id, "the record",
                          err)) != CU_OK)
        return rc;
    rc = run_pair(s, S_BLIND_DELETE, op->u.del.tenant_id, op->u.del.id, err, "delete record index");
    if (rc == CU_OK)
        rc = run_pair(s, S_RECORD_DELETE, op->u.del.tenant_id, op->u.del.id, err, "delete record");
    return rc;
}

static cu_rc w_blind_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_BLIND_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.blind.tenant_id);
        sqlite3_bind_text(st, 2, op->u.blind.scope, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, op->u.blind.digest, 32, SQLITE_STATIC);
        sq_bind_id(st, 4, op->u.blind.owner_id);
        sqlite3_bind_int(st, 5, op->u.blind.unique ? 1 : 0);
    }
    return sq_run(s, st, err, "write index");
}

static cu_rc w_blind_delete(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    return run_pair(s, S_BLIND_DELETE, op->u.del.tenant_id, op->u.del.id, err, "delete index");
}

static cu_rc w_collection_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_COLLECTION_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.collection.tenant_id);
        sqlite3_bind_text(st, 2, op->u.collection.name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, op->u.collection.spec, -1, SQLITE_STATIC);
    }
    return sq_run(s, st, err, "write collection");
}

/* P-DSR-5; P-AGE-2: CU_SUBJECT_UNDER_AGE is never lowered. */
static cu_rc w_subject_restrict(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt_pair(s, S_SUBJECT_RESTRICT, op->u.flag.tenant_id, op->u.flag.id);

    if (st) {
        sqlite3_bind_int(st, 3, op->u.flag.value);
        sqlite3_bind_int(st, 4, CU_SUBJECT_UNDER_AGE);
    }
    return run_one_row(s, st, err, "update subject", CU_ERR_NOT_FOUND, "subject not found");
}

static cu_rc w_subject_touch(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt_pair(s, S_SUBJECT_TOUCH, op->u.flag.tenant_id, op->u.flag.id);

    if (st)
        sqlite3_bind_int64(st, 3, op->u.flag.at);
    return run_one_row(s, st, err, "update subject", CU_ERR_NOT_FOUND, "subject not found");
}

static cu_rc w_consent_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt_pair(s, S_CONSENT_PUT, op->u.consent.tenant_id, op->u.consent.subject_id);
    if (st) {
        sqlite3_bind_text(st, 3, op->u.consent.purpose, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, op->u.consent.action);
        sqlite3_bind_int64(st, 5, op->u.consent.at);
        sqlite3_bind_text(st, 6, op->u.consent.source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, op->u.consent.policy_version, -1, SQLITE_STATIC);
    }
    return sq_run(s, st, err, "record consent");
}

static cu_rc w_hold_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;

    /* A subject whose key is gone is being erased: there is nothing left to hold. */
    if (op->u.hold.subject_id != 0) {
        int64_t has_key = 0;
        if ((rc = subject_key_exists(s, op->u.hold.tenant_id, op->u.hold.subject_id, &has_key,
                                     err)) != CU_OK)
            return rc;
        if (!has_key)
            return cu_err_set(err, CU_ERR_KEY, "the subject's erasure is under way");
    }
    st = sq_stmt_pair(s, S_HOLD_PUT, op->u.hold.tenant_id, op->u.hold.id);
    if (st) {
        sq_bind_id(st, 3, op->u.hold.subject_id);
        sq_bind_id(st, 4, op->u.hold.record_id);
        sq_bind_blob(st, 5, &op->u.hold.reason);
        sqlite3_bind_int64(st, 6, op->u.hold.key_version);
        sqlite3_bind_int64(st, 7, op->u.hold.created_at);
    }
    return sq_run(s, st, err, "place legal hold");
}

static cu_rc w_hold_release(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt_pair(s, S_HOLD_RELEASE, op->u.hold.tenant_id, op->u.hold.id);
    if (st) {
        sqlite3_bind_int64(st, 3, op->u.hold.released_at);
        sq_bind_blob(st, 4, &op->u.hold.release_reason);
        sqlite3_bind_int64(st, 5, op->u.hold.key_version);
    }
    return run_one_row(s, st, err, "release legal hold", CU_ERR_NOT_FOUND, "no such hold in force");
}

static cu_rc w_record_anonymize(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;

    if ((rc = refuse_held(s, S_HELD_RECORD, op->u.record.tenant_id, op->u.record.id, "the record",
                          err)) != CU_OK)
        return rc;
    st = sq_stmt_pair(s, S_RECORD_ANONYMIZE, op->u.record.tenant_id, op->u.record.id);
    if (st) {
        sqlite3_bind_int64(st, 3, op->u.record.key_version);
        sqlite3_bind_int64(st, 4, op->u.record.updated_at);
        sq_bind_blob(st, 5, &op->u.record.doc);
        sqlite3_bind_int64(st, 6, op->u.record.expect_updated_at);
        sqlite3_bind_int64(st, 7, op->u.record.version);
        sqlite3_bind_int64(st, 8, op->u.record.expect_activity_at);
    }
    rc = run_one_row(s, st, err, "anonymize record", CU_ERR_CONFLICT,
                     "the record is gone or was written meanwhile");
    return rc == CU_OK ? drop_sealed_parts(s, op->u.record.tenant_id, op->u.record.id, err) : rc;
}

static cu_rc w_record_expire(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;

    if ((rc = refuse_held(s, S_HELD_RECORD, op->u.record.tenant_id, op->u.record.id, "the record",
                          err)) != CU_OK)
        return rc;
    st = sq_stmt_pair(s, S_RECORD_EXPIRE, op->u.record.tenant_id, op->u.record.id);
    if (st) {
        sqlite3_bind_int64(st, 3, op->u.record.expect_updated_at);
        sqlite3_bind_int64(st, 4, op->u.record.expect_activity_at);
    }
    rc = run_one_row(s, st, err, "expire record", CU_ERR_CONFLICT,
                     "the record is gone or was written meanwhile");
    return rc == CU_OK ? drop_sealed_parts(s, op->u.record.tenant_id, op->u.record.id, err) : rc;
}

static cu_rc w_tenant_close(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    static const enum stmt_id close_ids[] = {S_T_SESSIONS_DELETE, S_T_USERS_DELETE,
                                             S_T_APIKEYS_DELETE, S_T_CONSENTS_UNHELD_DELETE};
    cu_rc rc;

    if (op->u.del.tenant_id == 0) /* tenant 0 holds the operator's keys */
        return cu_err_set(err, CU_ERR_INVALID, "tenant 0 cannot be closed");
    rc =
        run_tenant(s, close_ids, CU_ARRAY_LEN(close_ids), op->u.del.tenant_id, err, "close tenant");
    if (rc == CU_OK) /* its data-subject requests, certificates and the audit log's index */
        rc = sq_tenant_dsr_delete(s, op->u.del.tenant_id, err);
    return rc == CU_OK
               ? run_pair(s, S_T_CLOSE, op->u.del.tenant_id, CU_TENANT_PURGED, err, "close tenant")
               : rc;
}

static cu_rc w_tenant_shred(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    static const enum stmt_id shred_ids[] = {
        S_T_BLIND_DELETE,       S_T_FIELDS_DELETE,   S_T_RECORDS_DELETE,
        S_T_CONSENTS_DELETE,    S_T_SUBJECTS_DELETE, S_T_HOLDS_DELETE,
        S_T_COLLECTIONS_DELETE, S_T_KEYS_DELETE,     S_T_ERASURES_DELETE};
    cu_rc rc;

    if ((rc = refuse_held(s, S_HELD_TENANT, op->u.del.tenant_id, 0, "the tenant's data", err)) !=
        CU_OK)
        return rc;
    if ((rc = run_tenant(s, shred_ids, CU_ARRAY_LEN(shred_ids), op->u.del.tenant_id, err,
                         "shred tenant")) != CU_OK)
        return rc;
    return sq_tenant_dsr_delete(s, op->u.del.tenant_id, err);
}

static cu_rc w_apikey_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_APIKEY_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.apikey.tenant_id);
        sq_bind_id(st, 2, op->u.apikey.id);
        sqlite3_bind_int(st, 3, op->u.apikey.role);
        sqlite3_bind_text(st, 4, op->u.apikey.name, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, op->u.apikey.secret_hash, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, op->u.apikey.created_at);
    }
    return sq_run(s, st, err, "create API key");
}

static cu_rc w_apikey_revoke(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_APIKEY_REVOKE);
    if (st) {
        sq_bind_id(st, 1, op->u.revoke.tenant_id);
        sq_bind_id(st, 2, op->u.revoke.id);
        sqlite3_bind_int64(st, 3, op->u.revoke.at);
    }
    return run_one_row(s, st, err, "revoke API key", CU_ERR_NOT_FOUND, "API key not found");
}

static cu_rc w_user_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    return apply_user_put(s, &op->u.user, err);
}

static cu_rc w_user_delete(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    cu_rc rc;

    rc = run_pair(s, S_USER_SESSIONS_DELETE, op->u.del.tenant_id, op->u.del.id, err,
                  "delete the user's sessions");
    if (rc == CU_OK)
        rc = run_one_row(s, sq_stmt_pair(s, S_USER_DELETE, op->u.del.tenant_id, op->u.del.id), err,
                         "delete user", CU_ERR_NOT_FOUND, "user not found");
    return rc;
}

static cu_rc w_session_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_SESSION_PUT);
    if (st) {
        sqlite3_bind_blob(st, 1, op->u.session.token_hash, 32, SQLITE_STATIC);
        sq_bind_id(st, 2, op->u.session.tenant_id);
        sq_bind_id(st, 3, op->u.session.user_id);
        sqlite3_bind_int64(st, 4, op->u.session.created_at);
        sqlite3_bind_int64(st, 5, op->u.session.expires_at);
    }
    return sq_run(s, st, err, "create session");
}

static cu_rc w_session_delete(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_SESSION_DELETE);
    if (st)
        sqlite3_bind_blob(st, 1, op->u.session.token_hash, 32, SQLITE_STATIC);
    return run_one_row(s, st, err, "end session", CU_ERR_NOT_FOUND, "session not found");
}

static cu_rc w_audit_append(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    if (CU_FAULT("audit.append"))
        return cu_err_set(err, CU_ERR_IO, "could not append to the audit log: disk full");
    return audit_append(s, &op->u.audit, err);
}

static cu_rc w_audit_checkpoint(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_CKPT_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.checkpoint.tenant_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)op->u.checkpoint.seq);
        sqlite3_bind_int64(st, 3, op->u.checkpoint.at);
        sqlite3_bind_blob(st, 4, op->u.checkpoint.hash, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, op->u.checkpoint.sig, 64, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, op->u.checkpoint.anchor ? 1 : 0);
    }
    return sq_run(s, st, err, "write audit checkpoint");
}

static cu_rc w_policy_grant(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_POLICY_GRANT_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.flag.tenant_id);
        sqlite3_bind_int(st, 2, op->u.flag.value ? 1 : 0);
        sqlite3_bind_int64(st, 3, op->u.flag.at);
    }
    return sq_run(s, st, err, "store the policy grant");
}

static cu_rc w_audit_key_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_AUDIT_KEY_PUT);
    if (st) {
        sqlite3_bind_blob(st, 1, op->u.audit_key.public_key, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, op->u.audit_key.created_at);
    }
    return sq_run(s, st, err, "store the audit public key");
}

static cu_rc w_policy_put(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_POLICY_PUT);
    if (st) {
        sq_bind_id(st, 1, op->u.policy.tenant_id);
        sqlite3_bind_int64(st, 2, op->u.policy.version);
        sqlite3_bind_text(st, 3, op->u.policy.text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, op->u.policy.created_at);
        sqlite3_bind_int64(st, 5, op->u.policy.effective_at);
        sqlite3_bind_text(st, 6, op->u.policy.fresh ? op->u.policy.fresh : "", -1, SQLITE_STATIC);
    }
    return sq_run(s, st, err, "store the tenant's policy");
}

static cu_rc w_audit_prune(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;
    cu_rc rc;

    /* P-RET-5: a hold on the whole tenant keeps its audit log too. */
    if (op->u.audit_prune.tenant_id != 0 &&
        (rc = refuse_held(s, S_HELD_TENANT_WIDE, op->u.audit_prune.tenant_id, 0,
                          "the tenant's audit log", err)) != CU_OK)
        return rc;
    st = sq_stmt(s, S_AUDIT_PRUNE);
    if (st) {
        sq_bind_id(st, 1, op->u.audit_prune.tenant_id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)op->u.audit_prune.upto);
    }
    if ((rc = sq_run(s, st, err, "prune audit log")) != CU_OK)
        return rc;
    return sq_audit_subject_prune(s, op->u.audit_prune.tenant_id, op->u.audit_prune.upto, err);
}

static cu_rc w_session_purge(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    if (op->u.purge.tenant_id == 0) {
        cu_rc rc;
        st = sq_stmt(s, S_SESSION_PURGE_ALL);
        if (st)
            sqlite3_bind_int64(st, 1, op->u.purge.before);
        rc = sq_run(s, st, err, "delete expired sessions");
        return rc == CU_OK ? sq_sso_logins_expire(s, op->u.purge.before, err) : rc;
    }
    st = sq_stmt(s, S_SESSION_PURGE);
    if (st) {
        sq_bind_id(st, 1, op->u.purge.tenant_id);
        sq_bind_id(st, 2, op->u.purge.user_id);
        sqlite3_bind_int64(st, 3, op->u.purge.before);
    }
    return sq_run(s, st, err, "delete expired sessions");
}

static cu_rc w_session_touch(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_SESSION_TOUCH);
    if (st) {
        sqlite3_bind_blob(st, 1, op->u.session.token_hash, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, op->u.session.expires_at);
    }
    return sq_run(s, st, err, "keep a session alive");
}

static cu_rc w_user_sessions_end(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st;

    st = sq_stmt(s, S_USER_SESSIONS_END);
    if (st) {
        sq_bind_id(st, 1, op->u.session.tenant_id);
        sq_bind_id(st, 2, op->u.session.user_id);
        sqlite3_bind_blob(st, 3, op->u.session.token_hash, 32, SQLITE_STATIC);
    }
    return sq_run(s, st, err, "end the user's other sessions");
}

static cu_rc w_data_key_destroy(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st =
        sq_stmt_pair(s, S_DATA_KEY_DESTROY, op->u.key_del.tenant_id, (cu_id)op->u.key_del.version);

    if (st)
        sqlite3_bind_int(st, 3, CU_KEY_DATA);
    return run_one_row(s, st, err, "destroy data key", CU_ERR_CONFLICT,
                       "the data key version is the newest or still in use");
}

/* One function per op kind (store.h): a kind missing here is refused as unknown. */
typedef cu_rc (*apply_fn)(sqlite_store *s, const cu_store_op *op, cu_err *err);
static const apply_fn apply_fns[CU_OP__COUNT] = {
    [CU_OP_MASTER_ADD] = w_master_add,
    [CU_OP_TENANT_PUT] = w_tenant_put,
    [CU_OP_TENANT_STATE] = w_tenant_state,
    [CU_OP_KEY_PUT] = w_key_write,
    [CU_OP_KEY_REWRAP] = w_key_write,
    [CU_OP_KEY_DELETE] = w_key_delete,
    [CU_OP_SUBJECT_PUT] = w_subject_put,
    [CU_OP_SUBJECT_DELETE] = w_subject_delete,
    [CU_OP_RECORD_PUT] = w_record_write,
    [CU_OP_RECORD_REPLACE] = w_record_write,
    [CU_OP_RECORD_DELETE] = w_record_delete,
    [CU_OP_BLIND_PUT] = w_blind_put,
    [CU_OP_BLIND_DELETE] = w_blind_delete,
    [CU_OP_COLLECTION_PUT] = w_collection_put,
    [CU_OP_APIKEY_PUT] = w_apikey_put,
    [CU_OP_APIKEY_REVOKE] = w_apikey_revoke,
    [CU_OP_USER_PUT] = w_user_put,
    [CU_OP_USER_DELETE] = w_user_delete,
    [CU_OP_USER_TOTP_PENDING] = apply_totp,
    [CU_OP_USER_TOTP_ENABLE] = apply_totp,
    [CU_OP_USER_LOGIN_FAILED] = apply_login,
    [CU_OP_USER_LOGIN_OK] = apply_login,
    [CU_OP_SESSION_PUT] = w_session_put,
    [CU_OP_SESSION_DELETE] = w_session_delete,
    [CU_OP_SESSION_PURGE] = w_session_purge,
    [CU_OP_AUDIT_APPEND] = w_audit_append,
    [CU_OP_AUDIT_CHECKPOINT] = w_audit_checkpoint,
    [CU_OP_AUDIT_PRUNE] = w_audit_prune,
    [CU_OP_POLICY_PUT] = w_policy_put,
    [CU_OP_SUBJECT_RESTRICT] = w_subject_restrict,
    [CU_OP_SUBJECT_TOUCH] = w_subject_touch,
    [CU_OP_CONSENT_PUT] = w_consent_put,
    [CU_OP_HOLD_PUT] = w_hold_put,
    [CU_OP_HOLD_RELEASE] = w_hold_release,
    [CU_OP_RECORD_ANONYMIZE] = w_record_anonymize,
    [CU_OP_TENANT_CLOSE] = w_tenant_close,
    [CU_OP_TENANT_SHRED] = w_tenant_shred,
    [CU_OP_RECORD_EXPIRE] = w_record_expire,
    [CU_OP_RESEAL] = apply_reseal,
    [CU_OP_DATA_KEY_DESTROY] = w_data_key_destroy,
    [CU_OP_SESSION_TOUCH] = w_session_touch,
    [CU_OP_USER_SESSIONS_END] = w_user_sessions_end,
    [CU_OP_AUDIT_KEY_PUT] = w_audit_key_put,
    [CU_OP_POLICY_GRANT] = w_policy_grant,
    [CU_OP_AUDIT_HEAD_CHECK] = sq_w_audit_head_check,
    [CU_OP_LEASE_TAKE] = sq_w_lease_take,
    [CU_OP_LEASE_RELEASE] = sq_w_lease_release,
    [CU_OP_ERASE_ROWS] = sq_w_erase_rows,
    [CU_OP_REQUEST_PUT] = sq_w_request,
    [CU_OP_REQUEST_UPDATE] = sq_w_request,
    [CU_OP_RECORD_RETAIN] = sq_w_record_retain,
    [CU_OP_AUDIT_SUBJECT_INDEX] = sq_w_audit_subject_index,
    [CU_OP_ERASURE_CERT] = sq_w_erasure_cert,
    [CU_OP_ERASE_GUARD] = sq_w_erase_guard,
    [CU_OP_TENANT_GEN] = w_tenant_gen,
    [CU_OP_POLICY_WITHDRAW] = sq_w_policy_withdraw,
    [CU_OP_POLICY_IN_FORCE] = sq_w_policy_in_force,
    [CU_OP_WEBHOOK_EVENT] = sq_w_webhook,
    [CU_OP_WEBHOOK_ENDPOINT_PUT] = sq_w_webhook,
    [CU_OP_WEBHOOK_ENDPOINT_DELETE] = sq_w_webhook,
    [CU_OP_WEBHOOK_CLAIM] = sq_w_webhook,
    [CU_OP_WEBHOOK_ATTEMPT] = sq_w_webhook,
    [CU_OP_WEBHOOK_RESEND] = sq_w_webhook,
    [CU_OP_WEBHOOK_PRUNE] = sq_w_webhook,
    [CU_OP_DISCLOSURE_PUT] = sq_w_disclosure,
    [CU_OP_INCIDENT_PUT] = sq_w_incident,
    [CU_OP_INCIDENT_NOTICE] = sq_w_incident,
    [CU_OP_INCIDENT_REVOKED] = sq_w_incident,
    [CU_OP_ANALYTICS_BUDGET] = sq_w_analytics,
    [CU_OP_ANALYTICS_SPEND] = sq_w_analytics,
    [CU_OP_SSO_CONFIG_PUT] = sq_w_sso,
    [CU_OP_SSO_LOGIN_PUT] = sq_w_sso,
    [CU_OP_SSO_LOGIN_TAKE] = sq_w_sso,
    [CU_OP_SSO_LINK_PUT] = sq_w_sso,
    [CU_OP_SSO_LINK_DROP] = sq_w_sso,
    [CU_OP_SSO_SESSIONS_END] = sq_w_sso,
};

static cu_rc apply_one(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    unsigned type = (unsigned)op->type;

    if (type >= CU_OP__COUNT || apply_fns[type] == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "unknown store operation %d", (int)op->type);
    return apply_fns[type](s, op, err);
}

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

void sq_commit_stats(cu_store *base, cu_commit_stats *out)
{
    sqlite_store *s = (sqlite_store *)base;

    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

cu_rc sq_apply(cu_store *base, const cu_store_op *ops, size_t n, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    double t0;
    cu_rc rc;
    size_t i;

    pthread_mutex_lock(&s->lock);
    t0 = mono();
    sq_txn_abort(s); /* one an earlier failure could not end */
    rc = sq_run(s, sq_stmt(s, S_BEGIN), err, "begin transaction");
    if (rc != CU_OK)
        goto out;
    for (i = 0; i < n && rc == CU_OK; i++) {
        rc = apply_one(s, &ops[i], err);
        if (i == 0 && n > 1 && CU_FAULT("store.apply.mid_batch")) /* docs/store.md */
            _exit(70);
    }
    if (rc == CU_OK && (rc = sq_run(s, sq_stmt(s, S_COMMIT), err, "commit")) == CU_OK)
        record_commit(s, mono() - t0);
    if (rc != CU_OK)
        sq_txn_abort(s);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}
