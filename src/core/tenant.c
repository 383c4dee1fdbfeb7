/*
 * tenant.c: tenants, and the policy bound to each as versions.
 *
 * A tenant is created in one transaction with its own tenant key, data key and index key
 * (P-ISO-3) and, as its options ask, its first policy version and its first owner API key, so
 * a tenant never exists half made: a policy that does not validate creates nothing.
 *
 * Binding a policy validates it (cu_policy_parse), stores its text as the tenant's next
 * version and defines every collection it declares, in one audited transaction, so the field
 * classes a tenant runs under are always those of its current policy. The tenant row carries
 * its newest version (cu_store_tenant.policy_version), which the policy cache checks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "schema_int.h"
#include "cache_int.h"
#include "policy_version_int.h"
#include "tenant_int.h"
#include "util.h"

#define POLICY_MAX (1024 * 1024)

static int name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= CU_NAME_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static void tenant_from_store(const cu_store_tenant *st, cu_tenant *t)
{
    memset(t, 0, sizeof(*t));
    t->id = st->id;
    cu_strlcpy(t->name, st->name, sizeof(t->name));
    t->state = (cu_tenant_state)st->state;
    t->created_at = st->created_at;
    t->terminated_at = st->terminated_at;
}

/* P-ISO-3: each tenant gets its own tenant key, data key and index key, created with the tenant
 * in one transaction, together with the extra operations (a policy, the first owner key) and
 * the policy's audit entry (NULL: no policy). */
static cu_rc create_batch(cu_vault *v, const cu_ctx *ctx, cu_id id, const char *name,
                          const cu_store_op *extra, size_t nextra, const cu_audit_in *policy_a,
                          cu_tenant *out, cu_err *err)
{
    cu_audit_in a[4];
    size_t na = 2;
    cu_store_op *ops;
    cu_key tk = {0}, dk = {0}, ik = {0};
    cu_rc rc;

    if (name == NULL || !name_ok(name))
        return cu_err_set(err, CU_ERR_INVALID,
                          "tenant name must be 1 to %d bytes without control characters",
                          CU_NAME_MAX - 1);
    if (nextra > 1024)
        return cu_err_set(err, CU_ERR_INVALID, "too many operations");
    if ((ops = calloc(4 + nextra, sizeof(*ops))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    ops[0].type = CU_OP_TENANT_PUT;
    ops[0].u.tenant.id = id;
    cu_strlcpy(ops[0].u.tenant.name, name, sizeof(ops[0].u.tenant.name));
    ops[0].u.tenant.state = CU_TENANT_ACTIVE;
    ops[0].u.tenant.created_at = cu_clock_now();
    cu_random(tk.k, sizeof(tk.k));
    tk.version = 1;
    /* Held until applied: the tenant key must be wrapped under a version no rotation retires. */
    cu_key_rdlock(v);
    rc = cu_keys_wrap_tenant_locked(v, id, &tk, &ops[1], err);
    if (rc == CU_OK)
        rc = cu_keys_make_child(&tk, id, CU_KEY_DATA, 0, &dk, &ops[2], err);
    if (rc == CU_OK)
        rc = cu_keys_make_child(&tk, id, CU_KEY_INDEX, 0, &ik, &ops[3], err);
    if (rc == CU_OK) {
        if (nextra > 0)
            memcpy(&ops[4], extra, nextra * sizeof(*extra));
        /* In the platform's log and in the tenant's own. */
        cu_audit_in_set(&a[0], 0, "tenant.create", "tenant:%llu", (unsigned long long)id);
        cu_audit_in_set(&a[1], id, "tenant.create", "tenant:%llu", (unsigned long long)id);
        /* A policy bound with the tenant is in the platform's log too (P-RET-4). */
        if (policy_a != NULL) {
            a[na++] = *policy_a;
            cu_audit_in_platform(&a[na++], policy_a);
        }
        rc = cu_commit(v, ctx, ops, 4 + nextra, a, na, err);
    }
    pthread_rwlock_unlock(&v->key_lock);
    cu_key_wipe(&tk);
    cu_key_wipe(&dk);
    cu_key_wipe(&ik);
    if (rc == CU_OK && out != NULL)
        tenant_from_store(&ops[0].u.tenant, out);
    for (size_t i = 1; i < 4; i++) /* ops[4..]: the caller's */
        cu_store_op_cleanup(&ops[i]);
    free(ops);
    return rc;
}

/* The policy text the options name: their own, a built-in's, or none (*text NULL). */
static cu_rc opts_policy(const cu_tenant_opts *o, const char **text, size_t *len, cu_err *err)
{
    *text = o->policy;
    *len = o->policy_len;
    if (*text == NULL && o->policy_builtin != NULL &&
        (*text = cu_policy_builtin(o->policy_builtin, len)) == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "no built-in policy \"%.40s\"", o->policy_builtin);
    if (*text != NULL && *len > POLICY_MAX)
        return cu_err_set(err, CU_ERR_LIMIT, "a policy must be at most %d bytes", POLICY_MAX);
    return CU_OK;
}

cu_rc cu_tenant_create(cu_vault *v, const cu_ctx *ctx, const cu_tenant_opts *opts, cu_tenant *out,
                       cu_err *err)
{
    const char *text;
    cu_store_op *ops = NULL;
    cu_policy *p = NULL;
    size_t len = 0, n = 0, nkey = 0;
    cu_audit_in pa;
    cu_id id;
    cu_rc rc;

    if (opts == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "no tenant options given");
    id = opts->id != 0 ? opts->id : cu_random_id();
    if ((rc = opts_policy(opts, &text, &len, err)) != CU_OK)
        return rc;
    /* A policy that does not validate refuses the tenant before anything exists. */
    if (text != NULL &&
        ((rc = cu_policy_parse(text, len, opts->policy_name ? opts->policy_name : "policy", &p,
                               err)) != CU_OK ||
         (rc = cu_policy_ops(v, id, p, text, len, 1, &ops, &n, &pa, err)) != CU_OK))
        goto out;
    if (opts->owner_secret != NULL) {
        /* ops[n] is free (cu_policy_ops leaves a spare): the owner key goes there. */
        if (n == 0 && (ops = calloc(1, sizeof(*ops))) == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            goto out;
        }
        if ((rc = cu_apikey_op(id, CU_ROLE_OWNER, "owner", &ops[n], opts->owner_secret, err)) !=
            CU_OK)
            goto out;
        nkey = 1;
    }
    rc = create_batch(v, ctx, id, opts->name, ops, n + nkey, text ? &pa : NULL, out, err);
    if (nkey && rc != CU_OK)
        cu_wipe(opts->owner_secret, CU_APIKEY_SECRET_MAX);
    else if (nkey && opts->owner_key != NULL)
        cu_apikey_from_store(&ops[n].u.apikey, opts->owner_key);
out:
    cu_policy_ops_free(ops, n);
    cu_policy_free(p);
    return rc;
}

/* The tenant row this thread last read, in which of its read scopes (tenant_row). */
static _Thread_local struct {
    const cu_vault *v;
    uint64_t scope;
    cu_store_tenant row;
} memo;

cu_rc cu_tenant_row(cu_vault *v, cu_id tenant, cu_store_tenant *out, cu_err *err)
{
    uint64_t scope = cu_vault_read_scope();
    cu_rc rc;

    /* In one read scope every read sees one state: the row the credential's check read is the
     * row the handler would read again (no second query for the request). */
    if (scope != 0 && memo.scope == scope && memo.v == v && memo.row.id == tenant) {
        *out = memo.row;
        return CU_OK;
    }
    if ((rc = cu_store_tenant_get(v->store, tenant, out, err)) != CU_OK)
        return rc;
    cu_cache_observe(v, tenant, out->cache_gen); /* another server's change: forgotten here */
    memo.v = v;
    memo.scope = scope;
    memo.row = *out;
    return CU_OK;
}

cu_rc cu_tenant_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_tenant *out, cu_err *err)
{
    cu_store_tenant st;
    cu_rc rc;

    (void)ctx;
    rc = cu_tenant_row(v, tenant, &st, err);
    if (rc == CU_OK)
        tenant_from_store(&st, out);
    return rc;
}

cu_rc cu_tenant_rows(cu_vault *v, cu_store_tenant **out, size_t *n, cu_err *err)
{
    cu_rc rc = cu_store_tenant_list(v->store, out, n, err);

    for (size_t i = 0; rc == CU_OK && i < *n; i++)
        cu_cache_observe(v, (*out)[i].id, (*out)[i].cache_gen);
    return rc;
}

cu_rc cu_tenant_list(cu_vault *v, const cu_ctx *ctx, cu_tenant **out, size_t *n, cu_err *err)
{
    cu_store_tenant *list = NULL;
    cu_tenant *res;
    size_t cnt = 0, i;
    cu_rc rc;

    (void)ctx;
    rc = cu_tenant_rows(v, &list, &cnt, err);
    if (rc != CU_OK)
        return rc;
    res = calloc(cnt ? cnt : 1, sizeof(*res));
    if (res == NULL) {
        free(list);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < cnt; i++)
        tenant_from_store(&list[i], &res[i]);
    free(list);
    *out = res;
    *n = cnt;
    return CU_OK;
}

/* P-DSR-4, P-RET-2: whether ctx reaches a purged tenant's retained data: the vault's own acts
 * (the sweep, the CLI on the data directory), and platform staff stating one of the policy's
 * operator purposes of legal obligation. */
static int purged_reachable(cu_vault *v, const cu_ctx *ctx, const cu_store_tenant *st)
{
    const cu_policy_purpose *pu;
    const cu_policy *p;
    int legal;

    if (ctx->flags & CU_CTX_LOCAL)
        return 1;
    if (ctx->purpose == NULL || !(ctx->flags & CU_CTX_OPERATOR))
        return 0;
    if (cu_policy_current(v, st->id, st->policy_version, &p, NULL, NULL) != CU_OK)
        return 0;
    pu = cu_policy_operator_purpose(p, ctx->purpose);
    legal = pu != NULL && pu->basis == CU_BASIS_LEGAL_OBLIGATION;
    cu_policy_release(v, p);
    return legal;
}

cu_rc cu_tenant_usable(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_tenant_use use,
                       cu_store_tenant *row, cu_err *err)
{
    cu_store_tenant st;
    cu_rc rc = cu_tenant_row(v, tenant, &st, err);

    if (rc != CU_OK)
        return rc;
    if (row != NULL)
        *row = st;
    if (st.state == CU_TENANT_PURGED &&
        (use != CU_TENANT_USE_READ || ctx == NULL || !purged_reachable(v, ctx, &st)))
        return cu_err_set(err, CU_ERR_NOT_FOUND, "tenant not found");
    if (use == CU_TENANT_USE_WRITE && st.state != CU_TENANT_ACTIVE)
        return cu_err_set(err, CU_ERR_TERMINATED,
                          "the tenant's subscription has ended: its data is read-only");
    return CU_OK;
}

cu_rc cu_tenant_check(cu_vault *v, cu_id tenant, int for_write, cu_err *err)
{
    return cu_tenant_usable(v, NULL, tenant, for_write ? CU_TENANT_USE_WRITE : CU_TENANT_USE_LIVE,
                            NULL, err);
}

cu_rc cu_tenant_check_read(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err)
{
    return cu_tenant_usable(v, ctx, tenant, CU_TENANT_USE_READ, NULL, err);
}

/* --- the policy bound to a tenant (P-RET-1, P-RET-4) ------------------------------------- */

cu_rc cu_policy_ops(cu_vault *v, cu_id tenant, const cu_policy *p, const char *text, size_t len,
                    unsigned version, cu_store_op **out, size_t *nout, cu_audit_in *a, cu_err *err)
{
    size_t n = cu_policy_collection_count(p), nops = 0;
    cu_store_op *ops;
    char *copy;
    cu_rc rc = CU_OK;

    *out = NULL;
    *nout = 0;
    /* P-RET-4: no policy keeps the log less than the platform's floor. */
    if ((rc = cu_policy_log_floor_check(p, v->log_floor_days, err)) != CU_OK)
        return rc;
    /* One spare at the end, for a caller's own operation (the first owner key). */
    ops = calloc(n + 2, sizeof(*ops));
    copy = malloc(len + 1);
    if (ops == NULL || copy == NULL) {
        free(ops);
        free(copy);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    ops[0].type = CU_OP_POLICY_PUT;
    ops[0].u.policy.tenant_id = tenant;
    ops[0].u.policy.version = version;
    ops[0].u.policy.text = copy;
    ops[0].u.policy.created_at = cu_clock_now();
    nops = 1;
    for (size_t i = 0; i < n && rc == CU_OK; i++) {
        const cu_policy_collection *c = cu_policy_collection_at(p, i);
        if ((rc = cu_collection_op(tenant, c->name, c->fields, c->n_fields, &ops[nops], err)) ==
            CU_OK)
            nops++;
    }
    if (rc != CU_OK) {
        cu_policy_ops_free(ops, nops);
        return rc;
    }
    cu_audit_in_set(a, tenant, "policy.set", "policy:%.40s:v%u", cu_policy_id(p), version);
    *out = ops;
    *nout = nops;
    return CU_OK;
}

void cu_policy_ops_free(cu_store_op *ops, size_t n)
{
    if (ops == NULL)
        return;
    if (n > 0) {
        free((char *)(uintptr_t)ops[0].u.policy.text);
        free((char *)(uintptr_t)ops[0].u.policy.fresh);
    }
    for (size_t i = 1; i < n; i++)
        free((char *)(uintptr_t)ops[i].u.collection.spec);
    free(ops);
}

/* P-NOT-1: a version with a material change waits for the notice period (policy_version.c);
 * the audit entry says when it takes effect. Its webhook events, "policy.version_scheduled"
 * (or "policy.version_in_force") and, with a fresh list, "consent.fresh_needed", go into
 * ev[0..*nev) for this same transaction (cu_tenant_set_policy's cu_commit). */
static cu_rc policy_schedule(cu_vault *v, cu_id tenant, const cu_policy *p, cu_store_op *ops,
                             cu_audit_in *a, cu_store_op ev[CU_POLICY_BIND_EVENTS], size_t *nev,
                             cu_err *err)
{
    cu_policy_schedule sc;
    cu_rc rc = cu_policy_schedule_for(v, tenant, p, ops[0].u.policy.created_at, &sc, err);

    if (rc != CU_OK ||
        (rc = cu_policy_bind_events(tenant, ops[0].u.policy.version, p, ops[0].u.policy.created_at,
                                    &sc, ev, nev, err)) != CU_OK)
        return rc;
    ops[0].u.policy.effective_at = sc.effective_at;
    if ((ops[0].u.policy.fresh = strdup(sc.fresh)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (sc.effective_at > ops[0].u.policy.created_at) {
        cu_audit_in_set(a, tenant, "policy.schedule", "policy:%.40s:v%u:at%lld%s", cu_policy_id(p),
                        ops[0].u.policy.version, (long long)sc.effective_at,
                        sc.fresh[0] ? ":fresh" : "");
    }
    return CU_OK;
}

cu_rc cu_tenant_set_policy(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *text,
                           size_t len, const char *name, unsigned *version, cu_err *err)
{
    cu_policy *p = NULL;
    cu_store_op *ops = NULL, *grown, ev[CU_POLICY_BIND_EVENTS];
    char *old = NULL;
    unsigned cur = 0;
    size_t nops = 0, nev = 0;
    cu_audit_in a[2];
    cu_rc rc;

    if (text == NULL || len > POLICY_MAX)
        return cu_err_set(err, CU_ERR_LIMIT, "a policy must be at most %d bytes", POLICY_MAX);
    if ((rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        return rc;
    if ((rc = cu_policy_parse(text, len, name ? name : "policy", &p, err)) != CU_OK)
        return rc;
    rc = cu_store_policy_get(v->store, tenant, &cur, &old, err);
    free(old);
    if (rc != CU_OK && rc != CU_ERR_NOT_FOUND)
        goto out;
    if ((rc = cu_policy_ops(v, tenant, p, text, len, cur + 1, &ops, &nops, &a[0], err)) != CU_OK ||
        (rc = policy_schedule(v, tenant, p, ops, &a[0], ev, &nev, err)) != CU_OK)
        goto out;
    if ((grown = realloc(ops, (nops + nev) * sizeof(*ops))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    ops = grown;
    memcpy(&ops[nops], ev, nev * sizeof(*ops)); /* committed with it, still ev's to free */
    /* P-RET-4: a policy sets how long the tenant's log is kept, so every change of it is in the
     * platform's own log too, beyond the reach of the tenant's principals. */
    cu_audit_in_platform(&a[1], &a[0]);
    rc = cu_commit(v, ctx, ops, nops + nev, a, 2, err);
    /* The tenant row's version would tell the next request anyway; this frees the old now. */
    cu_policy_cache_forget(v, tenant);
    if (rc == CU_OK && version)
        *version = cur + 1;
out:
    for (size_t i = 0; i < nev; i++)
        cu_store_op_cleanup(&ev[i]);
    cu_policy_ops_free(ops, nops);
    cu_policy_free(p);
    return rc;
}

cu_rc cu_tenant_policy_grant(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int admins, cu_err *err)
{
    cu_store_op op;
    cu_audit_in a[2];
    cu_rc rc;

    if ((rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_POLICY_GRANT;
    op.u.flag.tenant_id = tenant;
    op.u.flag.value = admins != 0;
    op.u.flag.at = cu_clock_now();
    /* Who may shorten the log is itself an act the platform's log keeps (P-RET-4). */
    cu_audit_in_set(&a[0], tenant, "policy.grant", "policy:admins:%s", admins ? "on" : "off");
    cu_audit_in_platform(&a[1], &a[0]);
    return cu_commit(v, ctx, &op, 1, a, 2, err);
}

cu_rc cu_tenant_policy(cu_vault *v, cu_id tenant, cu_policy **out, unsigned *version, cu_err *err)
{
    char *text = NULL;
    unsigned ver = 0;
    cu_rc rc;

    cu_policy_state st;

    *out = NULL;
    /* P-NOT-1: the version in force, not a pending one. */
    if ((rc = cu_policy_state_get(v, tenant, &st, err)) != CU_OK)
        return rc;
    if ((ver = st.current) == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "the tenant has no policy");
    if ((rc = cu_policy_text(v, tenant, ver, &text, err)) != CU_OK)
        return rc;
    rc = cu_policy_parse(text, strlen(text), "stored policy", out, err);
    free(text);
    if (rc == CU_OK && version)
        *version = ver;
    return rc;
}

cu_rc cu_tenant_has_policy(cu_vault *v, cu_id tenant, int *has, cu_err *err)
{
    const cu_policy *p = NULL;
    cu_rc rc = cu_policy_for(v, tenant, &p, NULL, err);

    *has = rc == CU_OK;
    if (rc == CU_OK)
        cu_policy_release(v, p);
    return rc == CU_ERR_NOT_FOUND ? CU_OK : rc;
}
