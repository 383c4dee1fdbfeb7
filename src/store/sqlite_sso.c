/*
 * sqlite_sso.c: single sign-on in the SQLite backend (store_sso.h, docs/sso.md, P-ACC-5):
 * migration 26's tables, the three ops inside apply()'s transaction, and the two reads.
 * Logins are keyed by the SHA-256 of their state: the state itself, the bearer of the login,
 * is never stored. The table holds only logins of the last minutes (each insert deletes the
 * expired ones), so it has no index but its key: the prune's scan is of a few rows.
 */
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"
#include "util.h"

/* Migration 26 (24 and 25 are analytics' and consent's). */
const char sq_migration_sso[] =
    "CREATE TABLE IF NOT EXISTS sso_configs("
    "  tenant_id INTEGER PRIMARY KEY, issuer TEXT NOT NULL, client_id TEXT NOT NULL,"
    "  redirect_uri TEXT NOT NULL, secret BLOB NOT NULL, key_version INTEGER NOT NULL,"
    "  domains TEXT NOT NULL,"
    "  role INTEGER NOT NULL, require_sso INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sso_logins("
    "  state_hash BLOB PRIMARY KEY, tenant_id INTEGER NOT NULL, sealed BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;"
    /* Review finding 3: a user is the provider's identity (issuer, sub) only by a link. */
    "CREATE TABLE IF NOT EXISTS sso_links("
    "  tenant_id INTEGER NOT NULL, link_hash BLOB NOT NULL, user_id INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, PRIMARY KEY(tenant_id, link_hash),"
    /* A user's deletion takes its link, as its sessions. */
    "  FOREIGN KEY(tenant_id, user_id) REFERENCES users(tenant_id, user_id) ON DELETE CASCADE)"
    "  WITHOUT ROWID;"
    "CREATE UNIQUE INDEX IF NOT EXISTS sso_links_by_user ON sso_links(tenant_id, user_id);";

#define CONFIG_COLS                                                                                \
    "tenant_id, issuer, client_id, secret, key_version, domains, role, require_sso, updated_at,"   \
    " redirect_uri"
#define LOGIN_COLS "state_hash, tenant_id, sealed, created_at, expires_at"

static const char sql_config_put[] = "INSERT OR REPLACE INTO sso_configs(" CONFIG_COLS ")"
                                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
/* Review finding 10: a tenant's logins in flight are bounded (strangers start them). */
static const char sql_login_put[] =
    "INSERT INTO sso_logins(" LOGIN_COLS ") SELECT ?1, ?2, ?3, ?4, ?5"
    " WHERE ?6 <= 0 OR (SELECT count(*) FROM sso_logins WHERE tenant_id = ?2) < ?6";
/* Each names the tenant, as PostgreSQL's do (docs/scaling.md); the sweeper's prune does not. */
static const char sql_login_prune[] =
    "DELETE FROM sso_logins WHERE tenant_id = ?2 AND expires_at < ?1";
static const char sql_logins_expire[] = "DELETE FROM sso_logins WHERE expires_at < ?1";
static const char sql_login_take[] =
    "DELETE FROM sso_logins WHERE state_hash = ?1 AND tenant_id = ?3 AND expires_at > ?2";
static const char sql_config_get[] = "SELECT " CONFIG_COLS " FROM sso_configs WHERE tenant_id = ?1";
static const char sql_login_get[] =
    "SELECT " LOGIN_COLS " FROM sso_logins WHERE state_hash = ?1 AND tenant_id = ?2";
static const char sql_link_clear[] =
    "DELETE FROM sso_links WHERE tenant_id = ?1 AND (link_hash = ?2 OR user_id = ?3)";
static const char sql_link_put[] =
    "INSERT INTO sso_links(tenant_id, link_hash, user_id, created_at) VALUES(?1, ?2, ?3, ?4)";
static const char sql_link_drop[] =
    "DELETE FROM sso_links WHERE tenant_id = ?1 AND (?3 = 0 OR user_id = ?3)";
static const char sql_sessions_end[] = "DELETE FROM sessions WHERE tenant_id = ?1";
static const char sql_link_get[] = "SELECT user_id, created_at FROM sso_links"
                                   " WHERE tenant_id = ?1 AND link_hash = ?2";

static cu_rc config_put(sqlite_store *s, const cu_store_sso_config *c, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql_config_put, -1, &st, NULL);

    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, c->tenant_id);
        sqlite3_bind_text(st, 2, c->issuer, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, c->client_id, -1, SQLITE_TRANSIENT);
        sq_bind_blob(st, 4, &c->secret);
        sqlite3_bind_int64(st, 5, c->key_version);
        sqlite3_bind_text(st, 6, c->domains, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 7, c->role);
        sqlite3_bind_int64(st, 8, c->require_sso);
        sqlite3_bind_int64(st, 9, c->updated_at);
        sqlite3_bind_text(st, 10, c->redirect_uri, -1, SQLITE_TRANSIENT);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? CU_OK : sq_db_error(s, src, err, "store the SSO configuration");
}

/* Runs sql with the login's fields bound in LOGIN_COLS order (put) or the hash and a time
 * (prune: the time alone; take: hash, now); *changed the rows it changed. */
static cu_rc login_stmt(sqlite_store *s, const char *sql, const cu_store_sso_login *l, int what,
                        int *changed, cu_err *err)
{
    cu_blob h = {(uint8_t *)(uintptr_t)l->state_hash, sizeof(l->state_hash)};
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

    if (src == SQLITE_OK && what == 0) {
        sq_bind_blob(st, 1, &h);
        sq_bind_id(st, 2, l->tenant_id);
        sq_bind_blob(st, 3, &l->sealed);
        sqlite3_bind_int64(st, 4, l->created_at);
        sqlite3_bind_int64(st, 5, l->expires_at);
        sqlite3_bind_int64(st, 6, l->max_open);
    } else if (src == SQLITE_OK && what == 1) {
        sqlite3_bind_int64(st, 1, l->created_at);
        sq_bind_id(st, 2, l->tenant_id);
    } else if (src == SQLITE_OK) {
        sq_bind_blob(st, 1, &h);
        sqlite3_bind_int64(st, 2, l->expires_at);
        sq_bind_id(st, 3, l->tenant_id);
    }
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    sqlite3_finalize(st);
    *changed = src == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    if (src == SQLITE_CONSTRAINT)
        return cu_err_set(err, CU_ERR_EXISTS, "the SSO login exists");
    return src == SQLITE_DONE ? CU_OK : sq_db_error(s, src, err, "store an SSO login");
}

/* Runs sql with the link's tenant (?1), hash (?2), user (?3) and time (?4) bound, as far as
 * sql uses them; *changed the rows it changed. */
static cu_rc link_stmt(sqlite_store *s, const char *sql, const cu_store_sso_link *k, int *changed,
                       cu_err *err)
{
    cu_blob h = {(uint8_t *)(uintptr_t)k->link_hash, sizeof(k->link_hash)};
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    int n = src == SQLITE_OK ? sqlite3_bind_parameter_count(st) : 0;

    if (src == SQLITE_OK) {
        sq_bind_id(st, 1, k->tenant_id);
        if (n >= 2)
            sq_bind_blob(st, 2, &h);
        if (n >= 3)
            sq_bind_id(st, 3, k->user_id);
        if (n >= 4)
            sqlite3_bind_int64(st, 4, k->created_at);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    *changed = src == SQLITE_DONE ? sqlite3_changes(s->db) : 0;
    return src == SQLITE_DONE ? CU_OK : sq_db_error(s, src, err, "store an SSO link");
}

static cu_rc link_op(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_sso_link *k = &op->u.sso_link;
    int changed = 0;
    cu_rc rc;

    if (op->type == CU_OP_SSO_SESSIONS_END)
        return link_stmt(s, sql_sessions_end, k, &changed, err);
    if (op->type == CU_OP_SSO_LINK_PUT) {
        if ((rc = link_stmt(s, sql_link_clear, k, &changed, err)) != CU_OK)
            return rc;
        return link_stmt(s, sql_link_put, k, &changed, err);
    }
    if ((rc = link_stmt(s, sql_link_drop, k, &changed, err)) == CU_OK && changed == 0 &&
        k->user_id != 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "the user has no SSO link");
    return rc;
}

cu_rc sq_w_sso(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    const cu_store_sso_login *l = &op->u.sso_login;
    int changed = 0;
    cu_rc rc;

    switch (op->type) {
    case CU_OP_SSO_CONFIG_PUT:
        return config_put(s, &op->u.sso_config, err);
    case CU_OP_SSO_LINK_PUT:
    case CU_OP_SSO_LINK_DROP:
    case CU_OP_SSO_SESSIONS_END:
        return link_op(s, op, err);
    case CU_OP_SSO_LOGIN_PUT:
        if ((rc = login_stmt(s, sql_login_prune, l, 1, &changed, err)) != CU_OK)
            return rc;
        if ((rc = login_stmt(s, sql_login_put, l, 0, &changed, err)) == CU_OK && changed == 0)
            rc = cu_err_set(err, CU_ERR_RATE_LIMITED, "too many logins in flight for the tenant");
        return rc;
    default: /* CU_OP_SSO_LOGIN_TAKE */
        if ((rc = login_stmt(s, sql_login_take, l, 2, &changed, err)) == CU_OK && changed == 0)
            rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such SSO login, or it was used or expired");
        return rc;
    }
}

/* The sweeper's CU_OP_SESSION_PURGE without a tenant: every tenant's logins that expired
 * before `before` (a start prunes only its own tenant's). */
cu_rc sq_sso_logins_expire(sqlite_store *s, int64_t before, cu_err *err)
{
    cu_store_sso_login l = {.created_at = before};
    int changed;

    return login_stmt(s, sql_logins_expire, &l, 1, &changed, err);
}

/* P-RET-2: a tenant's end (close, and shred) takes its provider, its logins in flight and its
 * users' links. */
cu_rc sq_tenant_sso_delete(sqlite_store *s, cu_id tenant, cu_err *err)
{
    static const char *const sql[] = {"DELETE FROM sso_configs WHERE tenant_id = ?1",
                                      "DELETE FROM sso_logins WHERE tenant_id = ?1",
                                      "DELETE FROM sso_links WHERE tenant_id = ?1"};
    int src = SQLITE_DONE;

    for (size_t i = 0; i < 3 && src == SQLITE_DONE; i++) {
        sqlite3_stmt *st = NULL;
        src = sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL);
        if (src == SQLITE_OK) {
            sq_bind_id(st, 1, tenant);
            src = sqlite3_step(st);
        }
        sqlite3_finalize(st);
    }
    return src == SQLITE_DONE ? CU_OK : sq_db_error(s, src, err, "delete the tenant's SSO");
}

static cu_rc config_row(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_sso_config *c = row;

    c->tenant_id = (cu_id)sqlite3_column_int64(st, 0);
    sq_text_col(st, 1, c->issuer, sizeof(c->issuer));
    sq_text_col(st, 2, c->client_id, sizeof(c->client_id));
    c->key_version = (uint32_t)sqlite3_column_int64(st, 4);
    sq_text_col(st, 5, c->domains, sizeof(c->domains));
    c->role = (int)sqlite3_column_int64(st, 6);
    c->require_sso = (int)sqlite3_column_int64(st, 7);
    c->updated_at = sqlite3_column_int64(st, 8);
    sq_text_col(st, 9, c->redirect_uri, sizeof(c->redirect_uri));
    return sq_blob_copy(st, 3, &c->secret, err);
}

static cu_rc login_row(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_sso_login *l = row;

    sq_blob32_col(st, 0, l->state_hash);
    l->tenant_id = (cu_id)sqlite3_column_int64(st, 1);
    l->created_at = sqlite3_column_int64(st, 3);
    l->expires_at = sqlite3_column_int64(st, 4);
    return sq_blob_copy(st, 2, &l->sealed, err);
}

static cu_rc sq_sso_config_get(cu_store *base, cu_id tenant, cu_store_sso_config *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, sql_config_get, -1, &st, NULL) == SQLITE_OK)
        sq_bind_id(st, 1, tenant);
    rc = sq_one(s, st, config_row, out, err, "read the SSO configuration",
                "the tenant has no SSO configuration");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        free(out->secret.data);
        out->secret.data = NULL;
    }
    return rc;
}

static cu_rc sq_sso_login_get(cu_store *base, cu_id tenant, const uint8_t state_hash[32],
                              cu_store_sso_login *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_blob h = {(uint8_t *)(uintptr_t)state_hash, 32};
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, sql_login_get, -1, &st, NULL) == SQLITE_OK) {
        sq_bind_blob(st, 1, &h);
        sq_bind_id(st, 2, tenant);
    }
    rc = sq_one(s, st, login_row, out, err, "read an SSO login", "no such SSO login");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (rc != CU_OK) {
        free(out->sealed.data);
        out->sealed.data = NULL;
    }
    return rc;
}

static cu_rc link_row(sqlite3_stmt *st, void *row, cu_err *err)
{
    cu_store_sso_link *k = row;

    (void)err;
    k->user_id = (cu_id)sqlite3_column_int64(st, 0);
    k->created_at = sqlite3_column_int64(st, 1);
    return CU_OK;
}

static cu_rc sq_sso_link_get(cu_store *base, cu_id tenant, const uint8_t link_hash[32],
                             cu_store_sso_link *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    cu_blob h = {(uint8_t *)(uintptr_t)link_hash, 32};
    sqlite3_stmt *st = NULL;
    cu_rc rc;

    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db, sql_link_get, -1, &st, NULL) == SQLITE_OK) {
        sq_bind_id(st, 1, tenant);
        sq_bind_blob(st, 2, &h);
    }
    rc = sq_one(s, st, link_row, out, err, "read an SSO link", "no such SSO link");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (rc == CU_OK) {
        out->tenant_id = tenant;
        memcpy(out->link_hash, link_hash, 32);
    }
    return rc;
}

const cu_store_sso_ops sq_sso_ops = {
    .config_get = sq_sso_config_get,
    .login_get = sq_sso_login_get,
    .link_get = sq_sso_link_get,
};
