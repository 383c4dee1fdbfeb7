/*
 * pg_vault_users.c: the PostgreSQL backend's credentials: API keys (P-ACC-3: only the SHA-256
 * of a secret), users (the email sealed and found by its keyed digest, P-ENC-6; TOTP secrets
 * sealed, P-ACC-2; the login counters of older builds, P-ACC-6) and sessions (only the
 * SHA-256 of a token). The checks the contract puts inside the write transaction (a TOTP step
 * used once, an enrolment confirmed as read, a key revoked once) are each the condition of the
 * one statement that writes, so two racing requests cannot both pass.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_vault_int.h"
#include "util.h"

/* --- API keys ------------------------------------------------------------------------------- */

#define APIKEY_COLS "tenant_id, key_id, role, name, secret_hash, created_at, revoked_at"

static pg_query Q_APIKEY_PUT =
    PG_QUERY("INSERT INTO api_keys(" APIKEY_COLS ") VALUES($1, $2, $3, $4, $5, $6, 0)");
/* Revoked once: the first revocation's time stays. */
static pg_query Q_APIKEY_REVOKE =
    PG_QUERY("UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN $3"
             " ELSE revoked_at END WHERE tenant_id = $1 AND key_id = $2");
/* By its id alone: authentication does not know the tenant yet. */
static pg_query Q_APIKEY_GET = PG_QUERY("SELECT " APIKEY_COLS " FROM api_keys WHERE key_id = $1");
static pg_query Q_APIKEY_LIST = PG_QUERY("SELECT " APIKEY_COLS " FROM api_keys"
                                         " WHERE tenant_id = $1 ORDER BY created_at, key_id");

cu_rc pg_w_apikey_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_apikey *k = &op->u.apikey;

    return pgv_run(c, &Q_APIKEY_PUT,
                   PG_P(pg_p_id(k->tenant_id), pg_p_id(k->id), pg_p_i64(k->role),
                        pg_p_text(k->name), pg_p_blob(k->secret_hash, 32), pg_p_i64(k->created_at)),
                   NULL, err, "create API key");
}

cu_rc pg_w_apikey_revoke(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(
        c, &Q_APIKEY_REVOKE,
        PG_P(pg_p_id(op->u.revoke.tenant_id), pg_p_id(op->u.revoke.id), pg_p_i64(op->u.revoke.at)),
        err, "revoke API key", CU_ERR_NOT_FOUND, "API key not found");
}

static cu_rc read_apikey(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_store_apikey *k = out;

    (void)err;
    memset(k, 0, sizeof(*k));
    k->tenant_id = pg_id(res, row, 0);
    k->id = pg_id(res, row, 1);
    k->role = (int)pg_i64(res, row, 2);
    pg_text_copy(res, row, 3, k->name, sizeof(k->name));
    pg_blob32(res, row, 4, k->secret_hash);
    k->created_at = pg_i64(res, row, 5);
    k->revoked_at = pg_i64(res, row, 6);
    return CU_OK;
}

cu_rc pg_apikey_get(cu_store *base, cu_id id, cu_store_apikey *out, cu_err *err)
{
    return pgv_read_one(base, &Q_APIKEY_GET, PG_P(pg_p_id(id)), read_apikey, out, err,
                        "read API key", "API key not found");
}

cu_rc pg_apikey_list(cu_store *base, cu_id tenant, cu_store_apikey **out, size_t *n, cu_err *err)
{
    return pgv_read_list(base, &Q_APIKEY_LIST, PG_P(pg_p_id(tenant)), sizeof(**out), read_apikey,
                         NULL, (void **)out, n, err, "list API keys");
}

/* --- users ---------------------------------------------------------------------------------- */

#define USER_COLS                                                                                  \
    "tenant_id, user_id, role, email_digest, email, key_version, password_hash, totp_secret,"      \
    " totp_key_version, totp_pending, totp_pending_key_version, totp_enabled, totp_last_step,"     \
    " failures, window_start, locked_until, created_at"

static pg_query Q_USER_PUT =
    PG_QUERY("INSERT INTO users(tenant_id, user_id, role, email_digest, email, key_version,"
             " password_hash, created_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8)");
/* The user and its sessions, in one statement. */
static pg_query Q_USER_DELETE =
    PG_QUERY("WITH s AS (DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2)"
             " DELETE FROM users WHERE tenant_id = $1 AND user_id = $2");
static pg_query Q_USER_TOTP_PENDING =
    PG_QUERY("UPDATE users SET totp_pending = $3, totp_pending_key_version = $4"
             " WHERE tenant_id = $1 AND user_id = $2");
/* P-ACC-2: only the pending secret the code confirmed ($3) becomes the active one; the last
 * accepted step rises to the enrolment's ($4), so its code cannot log in again. */
static pg_query Q_USER_TOTP_ENABLE =
    PG_QUERY("UPDATE users SET totp_secret = totp_pending,"
             " totp_key_version = totp_pending_key_version, totp_pending = NULL,"
             " totp_pending_key_version = 0, totp_enabled = 1,"
             " totp_last_step = GREATEST(totp_last_step, $4)"
             " WHERE tenant_id = $1 AND user_id = $2 AND totp_pending = $3");
/* P-ACC-6, in one statement so that concurrent failures cannot lose a count: a failure at $3
 * opens a new window when the window ($4 seconds) has passed or a lockout has ended; the
 * $5-th failure locks until $3 + $6. Every right-hand side reads the row as it was. */
#define LOGIN_FRESH "($3 >= window_start + $4 OR (locked_until > 0 AND $3 >= locked_until))"
static pg_query Q_USER_LOGIN_FAILED = PG_QUERY(
    "UPDATE users SET"
    " failures = CASE WHEN " LOGIN_FRESH " THEN 1 ELSE failures + 1 END,"
    " window_start = CASE WHEN " LOGIN_FRESH " THEN $3 ELSE window_start END,"
    " locked_until = CASE WHEN (CASE WHEN " LOGIN_FRESH " THEN 1 ELSE failures + 1 END) >= $5"
    "   THEN $3 + $6 WHEN " LOGIN_FRESH " THEN 0 ELSE locked_until END"
    " WHERE tenant_id = $1 AND user_id = $2");
/* P-ACC-2: the step check and its update are one statement (the row lock orders two logins
 * with one code: the second re-checks the row the first wrote and changes nothing). */
static pg_query Q_USER_LOGIN_OK =
    PG_QUERY("UPDATE users SET failures = 0, window_start = 0, locked_until = 0,"
             " totp_last_step = CASE WHEN $3 > 0 THEN $3 ELSE totp_last_step END"
             " WHERE tenant_id = $1 AND user_id = $2 AND ($3 = 0 OR totp_last_step < $3)");
static pg_query Q_USER_GET =
    PG_QUERY("SELECT " USER_COLS " FROM users WHERE tenant_id = $1 AND user_id = $2");
static pg_query Q_USER_FIND =
    PG_QUERY("SELECT " USER_COLS " FROM users WHERE tenant_id = $1 AND email_digest = $2");
static pg_query Q_USER_LIST = PG_QUERY("SELECT " USER_COLS " FROM users WHERE tenant_id = $1"
                                       " ORDER BY created_at, user_id");

cu_rc pg_w_user_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_user *u = &op->u.user;

    return pgv_run(c, &Q_USER_PUT,
                   PG_P(pg_p_id(u->tenant_id), pg_p_id(u->id), pg_p_i64(u->role),
                        pg_p_blob(u->email_digest, 32),
                        pg_p_blob(u->email.data ? u->email.data : (const void *)"", u->email.len),
                        pg_p_i64(u->key_version), pg_p_text(u->password_hash),
                        pg_p_i64(u->created_at)),
                   NULL, err, "create user");
}

cu_rc pg_w_user_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_USER_DELETE, PG_P(pg_p_id(op->u.del.tenant_id), pg_p_id(op->u.del.id)),
                       err, "delete user", CU_ERR_NOT_FOUND, "user not found");
}

cu_rc pg_w_user_totp_pending(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_USER_TOTP_PENDING,
                       PG_P(pg_p_id(op->u.totp.tenant_id), pg_p_id(op->u.totp.user_id),
                            pg_p_bytes(&op->u.totp.secret), pg_p_i64(op->u.totp.key_version)),
                       err, "write TOTP secret", CU_ERR_NOT_FOUND, "user not found");
}

cu_rc pg_w_user_totp_enable(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_USER_TOTP_ENABLE,
                       PG_P(pg_p_id(op->u.totp.tenant_id), pg_p_id(op->u.totp.user_id),
                            pg_p_bytes(&op->u.totp.secret), pg_p_i64(op->u.totp.step)),
                       err, "write TOTP secret", CU_ERR_NOT_FOUND, "no such TOTP enrolment");
}

cu_rc pg_w_user_login_failed(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_USER_LOGIN_FAILED,
                   PG_P(pg_p_id(op->u.login.tenant_id), pg_p_id(op->u.login.user_id),
                        pg_p_i64(op->u.login.now), pg_p_i64(op->u.login.window),
                        pg_p_i64(op->u.login.max_failures), pg_p_i64(op->u.login.lockout)),
                   NULL, err, "record failed login");
}

cu_rc pg_w_user_login_ok(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_USER_LOGIN_OK,
                       PG_P(pg_p_id(op->u.login.tenant_id), pg_p_id(op->u.login.user_id),
                            pg_p_i64(op->u.login.totp_step)),
                       err, "record login", CU_ERR_CONFLICT,
                       "the code was already used, or the user is gone");
}

/* Reads a row of USER_COLS; on failure u holds nothing to release. */
static cu_rc read_user(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_store_user *u = out;
    cu_rc rc;

    memset(u, 0, sizeof(*u));
    u->tenant_id = pg_id(res, row, 0);
    u->id = pg_id(res, row, 1);
    u->role = (int)pg_i64(res, row, 2);
    pg_blob32(res, row, 3, u->email_digest);
    u->key_version = (uint32_t)pg_i64(res, row, 5);
    pg_text_copy(res, row, 6, u->password_hash, sizeof(u->password_hash));
    u->totp_key_version = (uint32_t)pg_i64(res, row, 8);
    u->totp_pending_key_version = (uint32_t)pg_i64(res, row, 10);
    u->totp_enabled = (int)pg_i64(res, row, 11);
    u->totp_last_step = pg_i64(res, row, 12);
    u->failures = (int)pg_i64(res, row, 13);
    u->window_start = pg_i64(res, row, 14);
    u->locked_until = pg_i64(res, row, 15);
    u->created_at = pg_i64(res, row, 16);
    rc = pg_blob_copy(res, row, 4, &u->email, err);
    if (rc == CU_OK)
        rc = pg_blob_copy(res, row, 7, &u->totp_secret, err);
    if (rc == CU_OK)
        rc = pg_blob_copy(res, row, 9, &u->totp_pending, err);
    if (rc != CU_OK)
        cu_store_user_cleanup(u);
    return rc;
}

static void users_free(void *list, size_t n)
{
    cu_store_users_free(list, n);
}

cu_rc pg_user_get(cu_store *base, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err)
{
    memset(out, 0, sizeof(*out));
    return pgv_read_one(base, &Q_USER_GET, PG_P(pg_p_id(tenant), pg_p_id(id)), read_user, out, err,
                        "read user", "user not found");
}

cu_rc pg_user_find(cu_store *base, cu_id tenant, const uint8_t digest[32], cu_store_user *out,
                   cu_err *err)
{
    memset(out, 0, sizeof(*out));
    return pgv_read_one(base, &Q_USER_FIND, PG_P(pg_p_id(tenant), pg_p_blob(digest, 32)), read_user,
                        out, err, "read user", "user not found");
}

cu_rc pg_user_list(cu_store *base, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err)
{
    return pgv_read_list(base, &Q_USER_LIST, PG_P(pg_p_id(tenant)), sizeof(**out), read_user,
                         users_free, (void **)out, n, err, "list users");
}

/* --- sessions ------------------------------------------------------------------------------- */

static pg_query Q_SESSION_PUT =
    PG_QUERY("INSERT INTO sessions(token_hash, tenant_id, user_id, created_at, expires_at)"
             " VALUES($1, $2, $3, $4, $5)");
static pg_query Q_SESSION_DELETE = PG_QUERY("DELETE FROM sessions WHERE token_hash = $1");
static pg_query Q_SESSION_PURGE =
    PG_QUERY("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND expires_at <= $3");
static pg_query Q_SESSION_PURGE_ALL = PG_QUERY("DELETE FROM sessions WHERE expires_at <= $1");
static pg_query Q_SESSION_TOUCH =
    PG_QUERY("UPDATE sessions SET expires_at = $2 WHERE token_hash = $1");
static pg_query Q_USER_SESSIONS_END =
    PG_QUERY("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND token_hash <> $3");
/* With its user's current role: a session whose user is gone is not found. */
static pg_query Q_SESSION_GET =
    PG_QUERY("SELECT s.token_hash, s.tenant_id, s.user_id, s.created_at, s.expires_at, u.role"
             " FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id"
             " AND u.user_id = s.user_id WHERE s.token_hash = $1");

cu_rc pg_w_session_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_session *s = &op->u.session;

    return pgv_run(c, &Q_SESSION_PUT,
                   PG_P(pg_p_blob(s->token_hash, 32), pg_p_id(s->tenant_id), pg_p_id(s->user_id),
                        pg_p_i64(s->created_at), pg_p_i64(s->expires_at)),
                   NULL, err, "create session");
}

cu_rc pg_w_session_delete(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_SESSION_DELETE, PG_P(pg_p_blob(op->u.session.token_hash, 32)), err,
                       "end session", CU_ERR_NOT_FOUND, "session not found");
}

cu_rc pg_w_session_purge(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    if (op->u.purge.tenant_id == 0) {
        cu_rc rc = pgv_run(c, &Q_SESSION_PURGE_ALL, PG_P(pg_p_i64(op->u.purge.before)), NULL, err,
                           "delete expired sessions");
        return rc == CU_OK ? pg_sso_logins_expire(c, op->u.purge.before, err) : rc;
    }
    return pgv_run(c, &Q_SESSION_PURGE,
                   PG_P(pg_p_id(op->u.purge.tenant_id), pg_p_id(op->u.purge.user_id),
                        pg_p_i64(op->u.purge.before)),
                   NULL, err, "delete expired sessions");
}

cu_rc pg_w_session_touch(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(
        c, &Q_SESSION_TOUCH,
        PG_P(pg_p_blob(op->u.session.token_hash, 32), pg_p_i64(op->u.session.expires_at)), NULL,
        err, "keep a session alive");
}

cu_rc pg_w_user_sessions_end(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_USER_SESSIONS_END,
                   PG_P(pg_p_id(op->u.session.tenant_id), pg_p_id(op->u.session.user_id),
                        pg_p_blob(op->u.session.token_hash, 32)),
                   NULL, err, "end the user's other sessions");
}

static cu_rc read_session(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_store_session *s = out;

    (void)err;
    pg_blob32(res, row, 0, s->token_hash);
    s->tenant_id = pg_id(res, row, 1);
    s->user_id = pg_id(res, row, 2);
    s->created_at = pg_i64(res, row, 3);
    s->expires_at = pg_i64(res, row, 4);
    s->role = (int)pg_i64(res, row, 5);
    return CU_OK;
}

cu_rc pg_session_get(cu_store *base, const uint8_t token_hash[32], cu_store_session *out,
                     cu_err *err)
{
    memset(out, 0, sizeof(*out));
    return pgv_read_one(base, &Q_SESSION_GET, PG_P(pg_p_blob(token_hash, 32)), read_session, out,
                        err, "read session", "session not found");
}
