/*
 * pg_sso.c: single sign-on in the PostgreSQL backend (store_sso.h, docs/sso.md, P-ACC-5;
 * sqlite_sso.c is the reference): migration 10's tables, the three ops inside apply()'s
 * transaction, and the two reads.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_data_int.h"
#include "util.h"

/* Migration 10 (8 and 9 are analytics' and consent's). */
const char pg_ddl_sso[] =
    "CREATE TABLE sso_configs("
    "  tenant_id bigint PRIMARY KEY, issuer text NOT NULL, client_id text NOT NULL,"
    "  redirect_uri text NOT NULL, secret bytea NOT NULL, key_version bigint NOT NULL,"
    "  domains text NOT NULL,"
    "  role bigint NOT NULL, require_sso bigint NOT NULL, updated_at bigint NOT NULL);"
    /* Keyed (state_hash) here; migration 11 keys it (tenant_id, state_hash), below. */
    "CREATE TABLE sso_logins("
    "  state_hash bytea PRIMARY KEY, tenant_id bigint NOT NULL, sealed bytea NOT NULL,"
    "  created_at bigint NOT NULL, expires_at bigint NOT NULL);"
    /* Review finding 3: a user is the provider's identity (issuer, sub) only by a link. */
    "CREATE TABLE sso_links("
    "  tenant_id bigint NOT NULL, link_hash bytea NOT NULL, user_id bigint NOT NULL,"
    "  created_at bigint NOT NULL, PRIMARY KEY(tenant_id, link_hash),"
    /* A user's deletion takes its link, as its sessions. */
    "  FOREIGN KEY(tenant_id, user_id) REFERENCES users(tenant_id, user_id) ON DELETE CASCADE);"
    "CREATE UNIQUE INDEX sso_links_by_user ON sso_links(tenant_id, user_id);";

/* Migration 11: a login is its tenant's, found by (tenant, state hash) as the callback, on the
 * tenant's own path, knows both; tenant_id leads its key as every tenant table's
 * (docs/scaling.md: on Citus it is distributed by tenant). */
const char pg_ddl_sso_logins_by_tenant[] = "ALTER TABLE sso_logins DROP CONSTRAINT sso_logins_pkey,"
                                           " ADD PRIMARY KEY (tenant_id, state_hash);";

#define CONFIG_COLS                                                                                \
    "tenant_id, issuer, client_id, secret, key_version, domains, role, require_sso, updated_at,"   \
    " redirect_uri"
#define LOGIN_COLS "state_hash, tenant_id, sealed, created_at, expires_at"

static pg_query Q_CONFIG_PUT =
    PG_QUERY("INSERT INTO sso_configs(" CONFIG_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9,"
             " $10) ON CONFLICT (tenant_id) DO UPDATE SET issuer = $2, client_id = $3, secret = $4,"
             " key_version = $5, domains = $6, role = $7, require_sso = $8, updated_at = $9,"
             " redirect_uri = $10");
static pg_query Q_LOGIN_PRUNE =
    PG_QUERY("DELETE FROM sso_logins WHERE tenant_id = $2 AND expires_at < $1");
/* The sweeper's, over every tenant (CU_OP_SESSION_PURGE without a tenant). */
static pg_query Q_LOGINS_EXPIRE = PG_QUERY("DELETE FROM sso_logins WHERE expires_at < $1");
static pg_query Q_LOGIN_PUT =
    PG_QUERY("INSERT INTO sso_logins(" LOGIN_COLS ") SELECT $1::bytea, $2::bigint, $3::bytea,"
             " $4::bigint, $5::bigint WHERE $6::bigint <= 0 OR"
             " (SELECT count(*) FROM sso_logins WHERE tenant_id = $2::bigint) < $6::bigint");
static pg_query Q_LOGIN_TAKE =
    PG_QUERY("DELETE FROM sso_logins WHERE tenant_id = $3 AND state_hash = $1 AND expires_at > $2");
static pg_query Q_CONFIG_GET =
    PG_QUERY("SELECT " CONFIG_COLS " FROM sso_configs WHERE tenant_id = $1");
static pg_query Q_LOGIN_GET = PG_QUERY("SELECT " LOGIN_COLS " FROM sso_logins"
                                       " WHERE tenant_id = $1 AND state_hash = $2");

static pg_query Q_LINK_CLEAR =
    PG_QUERY("DELETE FROM sso_links WHERE tenant_id = $1 AND (link_hash = $2 OR user_id = $3)");
static pg_query Q_LINK_PUT = PG_QUERY(
    "INSERT INTO sso_links(tenant_id, link_hash, user_id, created_at) VALUES($1, $2, $3, $4)");
static pg_query Q_LINK_DROP =
    PG_QUERY("DELETE FROM sso_links WHERE tenant_id = $1 AND user_id = $2");
static pg_query Q_LINKS_DROP = PG_QUERY("DELETE FROM sso_links WHERE tenant_id = $1");
static pg_query Q_SESSIONS_END = PG_QUERY("DELETE FROM sessions WHERE tenant_id = $1");
static pg_query Q_LINK_GET =
    PG_QUERY("SELECT user_id, created_at FROM sso_links WHERE tenant_id = $1 AND link_hash = $2");

static pg_query Q_TENANT_CONFIG_DELETE = PG_QUERY("DELETE FROM sso_configs WHERE tenant_id = $1");
static pg_query Q_TENANT_LOGINS_DELETE = PG_QUERY("DELETE FROM sso_logins WHERE tenant_id = $1");

/* P-RET-2: a tenant's end (close, and shred) takes its provider, its logins in flight and its
 * users' links. */
cu_rc pg_tenant_sso_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    cu_rc rc = pg_exec(c, &Q_TENANT_CONFIG_DELETE, PG_P(pg_p_id(tenant)), NULL, err,
                       "delete the tenant's SSO");

    if (rc == CU_OK)
        rc = pg_exec(c, &Q_TENANT_LOGINS_DELETE, PG_P(pg_p_id(tenant)), NULL, err,
                     "delete the tenant's SSO logins");
    if (rc == CU_OK)
        rc = pg_exec(c, &Q_LINKS_DROP, PG_P(pg_p_id(tenant)), NULL, err,
                     "delete the tenant's SSO links");
    return rc;
}

cu_rc pg_w_sso_link_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_sso_link *k = &op->u.sso_link;
    cu_rc rc =
        pg_exec(c, &Q_LINK_CLEAR,
                PG_P(pg_p_id(k->tenant_id), pg_p_blob(k->link_hash, 32), pg_p_id(k->user_id)), NULL,
                err, "clear an SSO link");

    if (rc == CU_OK)
        rc = pg_exec(c, &Q_LINK_PUT,
                     PG_P(pg_p_id(k->tenant_id), pg_p_blob(k->link_hash, 32), pg_p_id(k->user_id),
                          pg_p_i64(k->created_at)),
                     NULL, err, "store an SSO link");
    return rc;
}

cu_rc pg_w_sso_link_drop(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_sso_link *k = &op->u.sso_link;

    if (k->user_id == 0) /* the tenant's issuer changed: every link goes */
        return pg_exec(c, &Q_LINKS_DROP, PG_P(pg_p_id(k->tenant_id)), NULL, err,
                       "drop the tenant's SSO links");
    return pgd_write_one(c, &Q_LINK_DROP, PG_P(pg_p_id(k->tenant_id), pg_p_id(k->user_id)),
                         CU_ERR_NOT_FOUND, "the user has no SSO link", err, "drop an SSO link");
}

cu_rc pg_w_sso_config_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_sso_config *s = &op->u.sso_config;

    return pg_exec(c, &Q_CONFIG_PUT,
                   PG_P(pg_p_id(s->tenant_id), pg_p_text(s->issuer), pg_p_text(s->client_id),
                        pg_p_blob(s->secret.data, s->secret.len), pg_p_i64(s->key_version),
                        pg_p_text(s->domains), pg_p_i64(s->role), pg_p_i64(s->require_sso),
                        pg_p_i64(s->updated_at), pg_p_text(s->redirect_uri)),
                   NULL, err, "store the SSO configuration");
}

cu_rc pg_w_sso_login_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_sso_login *l = &op->u.sso_login;
    cu_rc rc = pg_exec(c, &Q_LOGIN_PRUNE, PG_P(pg_p_i64(l->created_at), pg_p_id(l->tenant_id)),
                       NULL, err, "prune the SSO logins");

    if (rc == CU_OK)
        rc = pgd_write_one(c, &Q_LOGIN_PUT,
                           PG_P(pg_p_blob(l->state_hash, 32), pg_p_id(l->tenant_id),
                                pg_p_blob(l->sealed.data, l->sealed.len), pg_p_i64(l->created_at),
                                pg_p_i64(l->expires_at), pg_p_i64(l->max_open)),
                           CU_ERR_RATE_LIMITED, "too many logins in flight for the tenant", err,
                           "store an SSO login");
    return rc;
}

cu_rc pg_w_sso_login_take(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    const cu_store_sso_login *l = &op->u.sso_login;

    return pgd_write_one(
        c, &Q_LOGIN_TAKE,
        PG_P(pg_p_blob(l->state_hash, 32), pg_p_i64(l->expires_at), pg_p_id(l->tenant_id)),
        CU_ERR_NOT_FOUND, "no such SSO login, or it was used or expired", err, "take an SSO login");
}

cu_rc pg_sso_logins_expire(pg_conn *c, int64_t before, cu_err *err)
{
    return pg_exec(c, &Q_LOGINS_EXPIRE, PG_P(pg_p_i64(before)), NULL, err,
                   "delete expired SSO logins");
}

/* Review finding 7: require_sso turned on ends every session of the tenant. */
cu_rc pg_w_sso_sessions_end(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pg_exec(c, &Q_SESSIONS_END, PG_P(pg_p_id(op->u.sso_link.tenant_id)), NULL, err,
                   "end the tenant's sessions");
}

/* --- reads --------------------------------------------------------------------------------- */

static cu_rc config_row(const PGresult *res, int r, void *out, cu_err *err)
{
    cu_store_sso_config *s = out;

    s->tenant_id = pg_id(res, r, 0);
    pg_text_copy(res, r, 1, s->issuer, sizeof(s->issuer));
    pg_text_copy(res, r, 2, s->client_id, sizeof(s->client_id));
    s->key_version = (uint32_t)pg_i64(res, r, 4);
    pg_text_copy(res, r, 5, s->domains, sizeof(s->domains));
    s->role = (int)pg_i64(res, r, 6);
    s->require_sso = (int)pg_i64(res, r, 7);
    s->updated_at = pg_i64(res, r, 8);
    pg_text_copy(res, r, 9, s->redirect_uri, sizeof(s->redirect_uri));
    return pg_blob_copy(res, r, 3, &s->secret, err);
}

static cu_rc login_row(const PGresult *res, int r, void *out, cu_err *err)
{
    cu_store_sso_login *l = out;
    cu_blob h = {0};
    cu_rc rc = pg_blob_copy(res, r, 0, &h, err);

    if (rc == CU_OK && h.len == 32)
        memcpy(l->state_hash, h.data, 32);
    free(h.data);
    l->tenant_id = pg_id(res, r, 1);
    l->created_at = pg_i64(res, r, 3);
    l->expires_at = pg_i64(res, r, 4);
    return rc == CU_OK ? pg_blob_copy(res, r, 2, &l->sealed, err) : rc;
}

/* One row of q into out by fn; CU_ERR_NOT_FOUND with missing if none. */
static cu_rc read_one(cu_store *base, pg_query *q, const pg_param *p, int np, pg_row_fn fn,
                      void *out, const char *missing, cu_err *err)
{
    PGresult *res = NULL;
    cu_rc rc = pgd_read(base, q, p, np, &res, err, "read single sign-on");

    if (rc == CU_OK && pg_rows(res) == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "%s", missing);
    else if (rc == CU_OK)
        rc = fn(res, 0, out, err);
    PQclear(res);
    return rc;
}

static cu_rc pg_sso_config_get(cu_store *base, cu_id tenant, cu_store_sso_config *out, cu_err *err)
{
    cu_rc rc = read_one(base, &Q_CONFIG_GET, PG_P(pg_p_id(tenant)), config_row, out,
                        "the tenant has no SSO configuration", err);

    if (rc != CU_OK) {
        free(out->secret.data);
        out->secret.data = NULL;
    }
    return rc;
}

static cu_rc pg_sso_login_get(cu_store *base, cu_id tenant, const uint8_t state_hash[32],
                              cu_store_sso_login *out, cu_err *err)
{
    cu_rc rc = read_one(base, &Q_LOGIN_GET, PG_P(pg_p_id(tenant), pg_p_blob(state_hash, 32)),
                        login_row, out, "no such SSO login", err);

    if (rc != CU_OK) {
        free(out->sealed.data);
        out->sealed.data = NULL;
    }
    return rc;
}

static cu_rc link_row(const PGresult *res, int r, void *out, cu_err *err)
{
    cu_store_sso_link *k = out;

    (void)err;
    k->user_id = pg_id(res, r, 0);
    k->created_at = pg_i64(res, r, 1);
    return CU_OK;
}

static cu_rc pg_sso_link_get(cu_store *base, cu_id tenant, const uint8_t link_hash[32],
                             cu_store_sso_link *out, cu_err *err)
{
    cu_rc rc = read_one(base, &Q_LINK_GET, PG_P(pg_p_id(tenant), pg_p_blob(link_hash, 32)),
                        link_row, out, "no such SSO link", err);

    if (rc == CU_OK) {
        out->tenant_id = tenant;
        memcpy(out->link_hash, link_hash, 32);
    }
    return rc;
}

const cu_store_sso_ops pg_sso_ops = {
    .config_get = pg_sso_config_get,
    .login_get = pg_sso_login_get,
    .link_get = pg_sso_link_get,
};
