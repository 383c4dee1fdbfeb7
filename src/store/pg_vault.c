/*
 * pg_vault.c: the PostgreSQL backend's vault domain, part one: master key check values,
 * tenants (their state, closing and shredding, P-RET-2), policies and their grant, the audit
 * signing key's public half, collections and leases; and the run and read helpers the vault's
 * files share (pg_vault_int.h). Keys are in pg_vault_keys.c, credentials in pg_vault_users.c.
 *
 * Every write runs on apply()'s connection inside its transaction (pg_write.c); the rules of
 * the store contract (docs/store.md) that must hold there are checked by the statement that
 * writes, or just before it in the same transaction. The numbers they compare against are
 * store.h's and custos.h's named constants, bound as parameters. Each read is one statement
 * on a connection of the read path (pg_read_get: a scope's or snapshot's, else the pool's).
 */
#include <stdlib.h>
#include <string.h>

#include "pg_vault_int.h"
#include "util.h"

/* --- helpers (pg_vault_int.h) -------------------------------------------------------------- */

cu_rc pgv_run(pg_conn *c, pg_query *q, const pg_param *p, int np, int64_t *changed, cu_err *err,
              const char *what)
{
    PGresult *res = NULL;
    cu_rc rc;

    /* Without a count to read, only sent in apply()'s pipeline: no round trip of its own. */
    if (changed == NULL)
        return pg_exec(c, q, p, np, NULL, err, what);
    rc = pg_exec(c, q, p, np, &res, err, what);
    *changed = rc == CU_OK ? pg_changed(res) : 0;
    PQclear(res);
    return rc;
}

cu_rc pgv_run_one(pg_conn *c, pg_query *q, const pg_param *p, int np, cu_err *err, const char *what,
                  cu_rc code, const char *msg)
{
    int64_t changed = 0;
    cu_rc rc = pgv_run(c, q, p, np, &changed, err, what);

    if (rc == CU_OK && changed == 0)
        return cu_err_set(err, code, "%s", msg);
    return rc;
}

cu_rc pgv_int(pg_conn *c, pg_query *q, const pg_param *p, int np, int64_t *out, cu_err *err,
              const char *what)
{
    PGresult *res = NULL;
    cu_rc rc = pg_exec(c, q, p, np, &res, err, what);

    *out = rc == CU_OK && pg_rows(res) > 0 ? pg_i64(res, 0, 0) : 0;
    PQclear(res);
    return rc;
}

cu_rc pgv_read_one(cu_store *base, pg_query *q, const pg_param *p, int np, pgv_row_fn fn, void *out,
                   cu_err *err, const char *what, const char *missing)
{
    PGresult *res = NULL;
    cu_rc rc = pg_read_exec(base, q, p, np, &res, err, what);

    if (rc == CU_OK)
        rc = pg_rows(res) > 0 ? fn(res, 0, out, err)
                              : cu_err_set(err, CU_ERR_NOT_FOUND, "%s", missing);
    PQclear(res);
    return rc;
}

cu_rc pgv_read_list(cu_store *base, pg_query *q, const pg_param *p, int np, size_t sz,
                    pgv_row_fn fn, void (*free_fn)(void *list, size_t n), void **out, size_t *n,
                    cu_err *err, const char *what)
{
    return pg_read_rows(base, q, p, np, sz, fn, free_fn, out, n, err, what);
}

/* --- master keys ---------------------------------------------------------------------------- */

static pg_query Q_MASTER_ADD =
    PG_QUERY("INSERT INTO master_keys(version, check_value, created_at) VALUES($1, $2, $3)");
/* Version 0, if present, is the key epochs' mark (pg_schema_vault.c): the core reads it here. */
static pg_query Q_MASTER_LIST =
    PG_QUERY("SELECT version, check_value FROM master_keys ORDER BY version");

cu_rc pg_w_master_add(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_MASTER_ADD,
                   PG_P(pg_p_i64(op->u.master.version), pg_p_blob(op->u.master.check, 32),
                        pg_p_i64(op->u.master.created_at)),
                   NULL, err, "add master key version");
}

/* A row of Q_MASTER_LIST, before pg_master_list splits the rows into its two arrays. */
typedef struct master_row {
    uint32_t version;
    uint8_t check[32];
} master_row;

static cu_rc read_master(const PGresult *res, int row, void *out, cu_err *err)
{
    master_row *m = out;

    (void)err;
    m->version = (uint32_t)pg_i64(res, row, 0);
    pg_blob32(res, row, 1, m->check);
    return CU_OK;
}

cu_rc pg_master_list(cu_store *base, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                     cu_err *err)
{
    master_row *rows = NULL;
    uint32_t *v = NULL;
    uint8_t(*ck)[32] = NULL;
    size_t cnt = 0;
    cu_rc rc;

    rc = pgv_read_list(base, &Q_MASTER_LIST, NULL, 0, sizeof(*rows), read_master, NULL,
                       (void **)&rows, &cnt, err, "list master keys");
    if (rc != CU_OK)
        return rc;
    if (cnt > 0 &&
        ((v = malloc(cnt * sizeof(*v))) == NULL || (ck = malloc(cnt * sizeof(*ck))) == NULL)) {
        free(v);
        free(rows);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        v[i] = rows[i].version;
        memcpy(ck[i], rows[i].check, 32);
    }
    free(rows);
    *versions = v;
    *checks = ck;
    *n = cnt;
    return CU_OK;
}

/* --- tenants -------------------------------------------------------------------------------- */

static pg_query Q_TENANT_PUT =
    PG_QUERY("INSERT INTO tenants(tenant_id, name, state, created_at) VALUES($1, $2, $3, $4)");
static pg_query Q_TENANT_STATE =
    PG_QUERY("UPDATE tenants SET state = $2,"
             " terminated_at = CASE WHEN $3 > 0 THEN $3 ELSE terminated_at END"
             " WHERE tenant_id = $1");
/* Contract item 7: the newest bound policy version rides along, in the row's snapshot (one
 * probe of tenant_policies' primary key, backwards): the policy cache's check. */
#define TENANT_COLS                                                                                \
    "t.tenant_id, t.name, t.state, t.created_at, t.terminated_at, (SELECT p.version"               \
    " FROM tenant_policies p WHERE p.tenant_id = t.tenant_id ORDER BY p.version DESC LIMIT 1),"  \
    " t.cache_gen"
static pg_query Q_TENANT_GET =
    PG_QUERY("SELECT " TENANT_COLS " FROM tenants t WHERE t.tenant_id = $1");
static pg_query Q_TENANT_LIST =
    PG_QUERY("SELECT " TENANT_COLS " FROM tenants t ORDER BY t.created_at, t.tenant_id");

cu_rc pg_w_tenant_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_TENANT_PUT,
                   PG_P(pg_p_id(op->u.tenant.id), pg_p_text(op->u.tenant.name),
                        pg_p_i64(op->u.tenant.state), pg_p_i64(op->u.tenant.created_at)),
                   NULL, err, "create tenant");
}

cu_rc pg_w_tenant_state(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run_one(c, &Q_TENANT_STATE,
                       PG_P(pg_p_id(op->u.tenant.id), pg_p_i64(op->u.tenant.state),
                            pg_p_i64(op->u.tenant.terminated_at)),
                       err, "update tenant", CU_ERR_NOT_FOUND, "tenant not found");
}

/* Contract item 12: a write the core's caches must notice on every server raises the tenant's
 * generation in its own transaction (none for a tenant without a row). The row lock it takes
 * orders two such writes of one tenant; no other write of the request path updates the row. */
static pg_query Q_TENANT_GEN =
    PG_QUERY("UPDATE tenants SET cache_gen = cache_gen + 1 WHERE tenant_id = $1");

cu_rc pg_w_tenant_gen(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_TENANT_GEN, PG_P(pg_p_id(op->u.del.tenant_id)), NULL, err,
                   "raise tenant generation");
}

static cu_rc read_tenant(const PGresult *res, int row, void *out, cu_err *err)
{
    cu_store_tenant *t = out;

    (void)err;
    memset(t, 0, sizeof(*t));
    t->id = pg_id(res, row, 0);
    pg_text_copy(res, row, 1, t->name, sizeof(t->name));
    t->state = (int)pg_i64(res, row, 2);
    t->created_at = pg_i64(res, row, 3);
    t->terminated_at = pg_i64(res, row, 4);
    t->policy_version = (unsigned)pg_i64(res, row, 5); /* NULL: 0, no policy */
    t->cache_gen = (uint64_t)pg_i64(res, row, 6);
    return CU_OK;
}

cu_rc pg_tenant_get(cu_store *base, cu_id id, cu_store_tenant *out, cu_err *err)
{
    return pgv_read_one(base, &Q_TENANT_GET, PG_P(pg_p_id(id)), read_tenant, out, err,
                        "read tenant", "tenant not found");
}

cu_rc pg_tenant_list(cu_store *base, cu_store_tenant **out, size_t *n, cu_err *err)
{
    return pgv_read_list(base, &Q_TENANT_LIST, NULL, 0, sizeof(**out), read_tenant, NULL,
                         (void **)out, n, err, "list tenants");
}

/* --- closing and shredding a tenant (P-RET-2) ------------------------------------------------ */

/* What TENANT_CLOSE deletes of the vault's own, each statement taking the tenant id alone; the
 * data domain's part (the consent ledger but a held subject's, requests, certificates) is
 * pg_tenant_data_close's. */
static pg_query Q_T_SESSIONS_DELETE = PG_QUERY("DELETE FROM sessions WHERE tenant_id = $1");
static pg_query Q_T_USERS_DELETE = PG_QUERY("DELETE FROM users WHERE tenant_id = $1");
static pg_query Q_T_APIKEYS_DELETE = PG_QUERY("DELETE FROM api_keys WHERE tenant_id = $1");
static pg_query Q_T_CLOSE = PG_QUERY("UPDATE tenants SET state = $2 WHERE tenant_id = $1");
/* What TENANT_SHRED deletes besides the data domain's rows (pg_tenant_data_delete). */
static pg_query Q_T_COLLECTIONS_DELETE = PG_QUERY("DELETE FROM collections WHERE tenant_id = $1");
static pg_query Q_T_KEYS_DELETE = PG_QUERY("DELETE FROM keys WHERE tenant_id = $1");
/* Every hold's insert checks its foreign key to the tenant's row (FOR KEY SHARE), which this
 * lock waits for and then excludes: a hold on the tenant or on one of its own records holds no
 * key the shred deletes first (review 5, F1). */
static pg_query Q_T_LOCK = PG_QUERY("SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE");
/* P-RET-5: any hold of the tenant in force refuses its shredding. */
static pg_query Q_T_HELD =
    PG_QUERY("SELECT EXISTS (SELECT 1 FROM holds WHERE tenant_id = $1 AND released_at = 0)");

/* Runs queries that each take the tenant id as their only parameter, in order. */
static cu_rc run_tenant(pg_conn *c, pg_query *const *qs, size_t n, cu_id tenant, cu_err *err,
                        const char *what)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n && rc == CU_OK; i++)
        rc = pgv_run(c, qs[i], PG_P(pg_p_id(tenant)), NULL, err, what);
    return rc;
}

cu_rc pg_w_tenant_close(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    static pg_query *const qs[] = {&Q_T_SESSIONS_DELETE, &Q_T_USERS_DELETE, &Q_T_APIKEYS_DELETE};
    cu_id tenant = op->u.del.tenant_id;
    cu_rc rc;

    if (tenant == 0) /* tenant 0 holds the operator's keys */
        return cu_err_set(err, CU_ERR_INVALID, "tenant 0 cannot be closed");
    rc = run_tenant(c, qs, CU_ARRAY_LEN(qs), tenant, err, "close tenant");
    if (rc == CU_OK)
        rc = pg_tenant_data_close(c, tenant, err);
    if (rc == CU_OK) /* the audit log's subject index (the log itself stays) */
        rc = pg_tenant_audit_delete(c, tenant, err);
    if (rc == CU_OK) /* its webhook endpoints and outbox (pg_webhook.c) */
        rc = pg_tenant_webhooks_delete(c, tenant, err);
    if (rc == CU_OK) /* its disclosures (pg_disclosure.c) */
        rc = pg_tenant_disclosures_delete(c, tenant, err);
    if (rc == CU_OK) /* its identity provider (pg_sso.c) */
        rc = pg_tenant_sso_delete(c, tenant, err);
    if (rc == CU_OK) /* its analytics budget (pg_analytics.c) */
        rc = pg_tenant_analytics_delete(c, tenant, err);
    if (rc != CU_OK)
        return rc;
    return pgv_run(c, &Q_T_CLOSE, PG_P(pg_p_id(tenant), pg_p_i64(CU_TENANT_PURGED)), NULL, err,
                   "close tenant");
}

/*
 * P-RET-2: everything of the tenant's data goes, refused while any hold of the tenant is in
 * force (P-RET-5). As for KEY_DELETE (pg_vault_keys.c), at READ COMMITTED the keys go first:
 * a HOLD_PUT naming a subject reads its key FOR SHARE, so the delete waits for it to commit and
 * the hold check, a later statement, sees its hold; a HOLD_PUT after the delete finds no key.
 * A hold on the tenant or on its own records names no key: the tenant's row, locked first,
 * orders those (a hold placed meanwhile is seen; one placed after waits for the shred).
 */
cu_rc pg_w_tenant_shred(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    cu_id tenant = op->u.del.tenant_id;
    int64_t held = 0;
    cu_rc rc;

    if ((rc = pgv_run(c, &Q_T_LOCK, PG_P(pg_p_id(tenant)), NULL, err, "shred tenant")) != CU_OK)
        return rc;
    if ((rc = pgv_run(c, &Q_T_KEYS_DELETE, PG_P(pg_p_id(tenant)), NULL, err, "shred tenant")) !=
        CU_OK)
        return rc;
    if ((rc = pgv_int(c, &Q_T_HELD, PG_P(pg_p_id(tenant)), &held, err, "check legal holds")) !=
        CU_OK)
        return rc;
    if (held) /* apply() rolls the keys' delete back */
        return cu_err_set(err, CU_ERR_LEGAL_HOLD, "the tenant's data is under a legal hold");
    /* Records, fields, index entries, subjects, consents, holds, the erasure queue, requests
     * and certificates (the data domain, which knows their order), then the collections and
     * the audit log's subject index. */
    if ((rc = pg_tenant_data_delete(c, tenant, err)) != CU_OK)
        return rc;
    rc = pgv_run(c, &Q_T_COLLECTIONS_DELETE, PG_P(pg_p_id(tenant)), NULL, err, "shred tenant");
    if (rc == CU_OK)
        rc = pg_tenant_webhooks_delete(c, tenant, err);
    if (rc == CU_OK)
        rc = pg_tenant_disclosures_delete(c, tenant, err);
    if (rc == CU_OK)
        rc = pg_tenant_sso_delete(c, tenant, err);
    if (rc == CU_OK)
        rc = pg_tenant_analytics_delete(c, tenant, err);
    return rc == CU_OK ? pg_tenant_audit_delete(c, tenant, err) : rc;
}

/* --- policies, the policy grant, the audit key ------------------------------------------------ */

static pg_query Q_POLICY_PUT = PG_QUERY(
    "INSERT INTO tenant_policies(tenant_id, version, text, created_at, effective_at, fresh,"
    " in_force_at) VALUES($1, $2, $3, $4, $5, $6, CASE WHEN $5 <= $4 THEN $4 ELSE 0 END)");
/* $2 = 0: the newest. */
static pg_query Q_POLICY_AT =
    PG_QUERY("SELECT version, text, created_at FROM tenant_policies WHERE tenant_id = $1"
             " AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1");
static pg_query Q_POLICY_GRANT_PUT =
    PG_QUERY("INSERT INTO policy_grants(tenant_id, admins, at) VALUES($1, $2, $3)"
             " ON CONFLICT (tenant_id) DO UPDATE SET admins = excluded.admins, at = excluded.at");
static pg_query Q_POLICY_GRANT_GET =
    PG_QUERY("SELECT admins FROM policy_grants WHERE tenant_id = $1");
/* One row, id 1: the key's public half (replaced by a new one). */
static pg_query Q_AUDIT_KEY_PUT =
    PG_QUERY("INSERT INTO audit_key(id, public_key, created_at) VALUES(1, $1, $2)"
             " ON CONFLICT (id) DO UPDATE SET public_key = excluded.public_key,"
             " created_at = excluded.created_at");
static pg_query Q_AUDIT_KEY_GET = PG_QUERY("SELECT (SELECT public_key FROM audit_key WHERE id = 1),"
                                           " EXISTS (SELECT 1 FROM audit_checkpoints)");

cu_rc pg_w_policy_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_POLICY_PUT,
                   PG_P(pg_p_id(op->u.policy.tenant_id), pg_p_i64(op->u.policy.version),
                        pg_p_text(op->u.policy.text), pg_p_i64(op->u.policy.created_at),
                        pg_p_i64(op->u.policy.effective_at),
                        pg_p_text(op->u.policy.fresh ? op->u.policy.fresh : "")),
                   NULL, err, "store the tenant's policy");
}

cu_rc pg_w_policy_grant(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_POLICY_GRANT_PUT,
                   PG_P(pg_p_id(op->u.flag.tenant_id), pg_p_i64(op->u.flag.value ? 1 : 0),
                        pg_p_i64(op->u.flag.at)),
                   NULL, err, "store the policy grant");
}

cu_rc pg_w_audit_key_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(
        c, &Q_AUDIT_KEY_PUT,
        PG_P(pg_p_blob(op->u.audit_key.public_key, 32), pg_p_i64(op->u.audit_key.created_at)), NULL,
        err, "store the audit public key");
}

/* Where a policy row goes: pointers into the caller's out-parameters (created_at may be NULL). */
typedef struct policy_row {
    unsigned *version;
    char **text;
    int64_t *created_at;
} policy_row;

static cu_rc read_policy(const PGresult *res, int row, void *out, cu_err *err)
{
    policy_row *p = out;

    *p->version = (unsigned)pg_i64(res, row, 0);
    if (p->created_at != NULL)
        *p->created_at = pg_i64(res, row, 2);
    if ((*p->text = pg_text_dup(res, row, 1)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return CU_OK;
}

cu_rc pg_policy_at(cu_store *base, cu_id tenant, unsigned *version, char **text,
                   int64_t *created_at, cu_err *err)
{
    policy_row row = {version, text, created_at};

    *text = NULL;
    return pgv_read_one(base, &Q_POLICY_AT, PG_P(pg_p_id(tenant), pg_p_i64(*version)), read_policy,
                        &row, err, "read a policy version", "no such policy version");
}

cu_rc pg_policy_get(cu_store *base, cu_id tenant, unsigned *version, char **text, cu_err *err)
{
    policy_row row = {version, text, NULL};

    *text = NULL;
    *version = 0;
    return pgv_read_one(base, &Q_POLICY_AT, PG_P(pg_p_id(tenant), pg_p_i64(0)), read_policy, &row,
                        err, "read the tenant's policy", "the tenant has no policy");
}

static cu_rc read_admins(const PGresult *res, int row, void *out, cu_err *err)
{
    (void)err;
    *(int *)out = pg_i64(res, row, 0) != 0;
    return CU_OK;
}

cu_rc pg_policy_grant_get(cu_store *base, cu_id tenant, int *admins, cu_err *err)
{
    cu_rc rc;

    *admins = 0;
    rc = pgv_read_one(base, &Q_POLICY_GRANT_GET, PG_P(pg_p_id(tenant)), read_admins, admins, err,
                      "read the policy grant", "no policy grant");
    return rc == CU_ERR_NOT_FOUND ? CU_OK : rc; /* none stored: the admins may not */
}

/* Where the audit key's row goes (pg_audit_key_get). */
typedef struct audit_key_row {
    uint8_t *pk;
    int *found, *checkpoints;
} audit_key_row;

static cu_rc read_audit_key(const PGresult *res, int row, void *out, cu_err *err)
{
    audit_key_row *k = out;

    (void)err;
    *k->found = !pg_null(res, row, 0) && PQgetlength(res, row, 0) == 32;
    if (*k->found)
        pg_blob32(res, row, 0, k->pk);
    *k->checkpoints = pg_i64(res, row, 1) != 0;
    return CU_OK;
}

cu_rc pg_audit_key_get(cu_store *base, uint8_t pk[32], int *found, int *checkpoints, cu_err *err)
{
    audit_key_row row = {pk, found, checkpoints};

    *found = 0;
    *checkpoints = 0;
    return pgv_read_one(base, &Q_AUDIT_KEY_GET, NULL, 0, read_audit_key, &row, err,
                        "read the audit public key", "no row");
}

/* --- collections ------------------------------------------------------------------------------ */

static pg_query Q_COLLECTION_PUT =
    PG_QUERY("INSERT INTO collections(tenant_id, name, spec) VALUES($1, $2, $3)"
             " ON CONFLICT (tenant_id, name) DO UPDATE SET spec = excluded.spec");
static pg_query Q_COLLECTION_GET =
    PG_QUERY("SELECT spec FROM collections WHERE tenant_id = $1 AND name = $2");

cu_rc pg_w_collection_put(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    return pgv_run(c, &Q_COLLECTION_PUT,
                   PG_P(pg_p_id(op->u.collection.tenant_id), pg_p_text(op->u.collection.name),
                        pg_p_text(op->u.collection.spec)),
                   NULL, err, "declare collection");
}

static cu_rc read_spec(const PGresult *res, int row, void *out, cu_err *err)
{
    if ((*(char **)out = pg_text_dup(res, row, 0)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return CU_OK;
}

cu_rc pg_collection_get(cu_store *base, cu_id tenant, const char *name, char **spec, cu_err *err)
{
    *spec = NULL;
    return pgv_read_one(base, &Q_COLLECTION_GET, PG_P(pg_p_id(tenant), pg_p_text(name)), read_spec,
                        spec, err, "read collection", "collection not declared");
}

/* --- leases (docs/store.md, several writers) ----------------------------------------------------
 */

/* A lease is the holder's until it expires, or (the rule of lease_gone) until the store
 * instance that took it is gone, whichever comes first. */
#define LEASE_GRACE 10 /* s after a holder's last renewal: it may still be reconnecting */

/* Taken when free, expired ($3: now), the holder's already, or taken by instance $5 that
 * lease_gone found gone, and not renewed since ($7: now - LEASE_GRACE; checked again here,
 * where READ COMMITTED sees a renewal that came after lease_gone's reads). instance_holder
 * witnesses that the instance is the holder's: a build before migration 12 takes a lease
 * without touching the three, and its holder must not be judged by the instance it replaced.
 * A racing insert of the same name waits on the primary key and then takes the update's
 * path. */
static pg_query Q_LEASE_TAKE = PG_QUERY(
    "INSERT INTO leases(name, holder, expires_at, instance, instance_holder, renewed_at)"
    " VALUES($1, $2, $4, $6, CASE WHEN $6::bigint IS NULL THEN NULL ELSE $2 END, $3)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,"
    " instance = excluded.instance, instance_holder = excluded.instance_holder,"
    " renewed_at = excluded.renewed_at"
    " WHERE leases.holder = excluded.holder OR leases.expires_at <= $3"
    " OR (leases.instance = $5 AND leases.instance_holder = leases.holder"
    "  AND leases.renewed_at <= $7)");
/* The instance that took the lease, if another holder's ($3), witnessed, and last renewed no
 * later than $2. */
static pg_query Q_LEASE_INSTANCE = PG_QUERY(
    "SELECT instance FROM leases WHERE name = $1 AND holder <> $3 AND instance IS NOT NULL"
    " AND instance_holder = holder AND renewed_at <= $2");
/* Connections are named "custos:<instance>" (pg_conn.c, conn_open). */
static pg_query Q_INSTANCE_CONNS =
    PG_QUERY("SELECT count(*) FROM pg_stat_activity"
             " WHERE application_name = $1 AND datname = current_database()");
static pg_query Q_LEASE_RELEASE = PG_QUERY("DELETE FROM leases WHERE name = $1 AND holder = $2");

/* *gone: the instance that took op's lease if none of its connections is left and it last
 * renewed the lease LEASE_GRACE or more ago: its process died, the kernel closed its sockets.
 * A holder alive but without a connection then (its sessions ended by the database: a
 * restart, a terminate, a timeout; it reconnects at its next use) loses the lease as at an
 * expiry: a rotation's or retirement's next commit renews the lease and is refused (epoch.c);
 * the grace keeps the short steps between a renewal and what it guards (the key file's write,
 * rotate.c) from being cut. Only a store that can see connections' names judges (its own
 * instance is set: pg_store.c, names_seen); one that cannot keeps to the expiry rule. Two
 * plain reads, not a subquery in the upsert: on Citus the rule is off, but `leases` stays a
 * reference table there (docs/scaling.md). */
static cu_rc lease_gone(pg_conn *c, const cu_store_op *op, int64_t *gone, cu_err *err)
{
    int64_t instance = 0, conns = 0;
    char name[32];
    cu_rc rc;

    *gone = 0;
    if (op->u.lease.instance == 0)
        return CU_OK;
    rc = pgv_int(c, &Q_LEASE_INSTANCE,
                 PG_P(pg_p_text(op->u.lease.name), pg_p_i64(op->u.lease.now - LEASE_GRACE),
                      pg_p_id(op->u.lease.holder)),
                 &instance, err, "read lease");
    if (rc != CU_OK || instance == 0)
        return rc;
    snprintf(name, sizeof(name), "custos:%lld", (long long)instance);
    rc = pgv_int(c, &Q_INSTANCE_CONNS, PG_P(pg_p_text(name)), &conns, err, "read connections");
    if (rc == CU_OK && conns == 0)
        *gone = instance;
    return rc;
}

cu_rc pg_w_lease_take(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    int64_t gone = 0;
    cu_rc rc;

    if (op->u.lease.name == NULL || op->u.lease.holder == 0)
        return cu_err_set(err, CU_ERR_INVALID, "a lease needs a name and a holder");
    if ((rc = lease_gone(c, op, &gone, err)) != CU_OK)
        return rc;
    return pgv_run_one(c, &Q_LEASE_TAKE,
                       PG_P(pg_p_text(op->u.lease.name), pg_p_id(op->u.lease.holder),
                            pg_p_i64(op->u.lease.now), pg_p_i64(op->u.lease.expires_at),
                            gone ? pg_p_i64(gone) : pg_p_null_i64(),
                            op->u.lease.instance ? pg_p_id(op->u.lease.instance)
                                                 : pg_p_null_i64(),
                            pg_p_i64(op->u.lease.now - LEASE_GRACE)),
                       err, "write lease", CU_ERR_CONFLICT, "the lease is held by another server");
}

cu_rc pg_w_lease_release(pg_conn *c, const cu_store_op *op, cu_err *err)
{
    if (op->u.lease.name == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "a lease needs a name");
    return pgv_run(c, &Q_LEASE_RELEASE,
                   PG_P(pg_p_text(op->u.lease.name), pg_p_id(op->u.lease.holder)), NULL, err,
                   "write lease");
}
