/*
 * tenant_int.h: the tenant's private face (tenant.c): whether a tenant may be used, and the
 * operations that bind a policy to it.
 */
#ifndef CU_TENANT_INT_H
#define CU_TENANT_INT_H

#include "core_int.h"

/* How an operation uses a tenant. */
typedef enum cu_tenant_use {
    CU_TENANT_USE_LIVE,  /* exists and is not purged (terminated: read-only, still reachable) */
    CU_TENANT_USE_WRITE, /* active: its subscription has not ended */
    CU_TENANT_USE_READ   /* live, or purged and reached by ctx as cu_tenant_check_read says */
} cu_tenant_use;

/* Reads the tenant's row into *out, once per read scope (cu_vault_read_scope), and reports its
 * cache generation to the caches (cu_cache_observe), so a change another server made is noticed
 * before its secrets are used (docs/store.md, "Several servers"). Every reader of one tenant's
 * row in the core goes through here, and every reader of all of them through cu_tenant_rows
 * (or cu_tenant_list, which uses it), requests and background work alike; the one exception is
 * the backup's read of its snapshot (backup.c, snap_facts), which takes tenant ids only, from a
 * snapshot no newer than what this process saw, and unwraps nothing. CU_ERR_NOT_FOUND if the
 * tenant has no row. */
cu_rc cu_tenant_row(cu_vault *v, cu_id tenant, cu_store_tenant *out, cu_err *err);
/* Every tenant's row (*out, *n; free with free()), each one's cache generation reported as
 * cu_tenant_row does: background work that walks the tenants (key epochs, the journal, the
 * sweep through cu_tenant_list) makes this process forget what another server's change made
 * stale, even for a tenant it serves no request for (P-DSR-4: a destroyed key is wiped then,
 * not when its slot is next touched). */
cu_rc cu_tenant_rows(cu_vault *v, cu_store_tenant **out, size_t *n, cu_err *err);
/* Reads the tenant's row (into *row, may be NULL: its policy_version keys the policy cache)
 * and checks that ctx may use it as use says: CU_ERR_NOT_FOUND for a missing or purged tenant,
 * CU_ERR_TERMINATED for a write to one whose subscription ended. */
cu_rc cu_tenant_usable(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_tenant_use use,
                       cu_store_tenant *row, cu_err *err);
/* Checks that the tenant exists and is not purged; for writes, that it is active. */
cu_rc cu_tenant_check(cu_vault *v, cu_id tenant, int for_write, cu_err *err);
/* cu_tenant_check for a read by ctx: a purged tenant's retained data is still found by
 * platform staff stating an operator purpose of legal obligation (P-DSR-4, P-RET-2), and by
 * the vault's own local acts (CU_CTX_LOCAL: the sweep, the CLI). */
cu_rc cu_tenant_check_read(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err);

/* The operations that bind policy p (text[0..len)) to tenant as version: the POLICY_PUT and
 * one COLLECTION_PUT per collection, and their audit entry, with one spare op at the end
 * (*n does not count it). Refuses (CU_ERR_INVALID) a policy that keeps the log less than the
 * vault's floor (P-RET-4). Release with cu_policy_ops_free. */
cu_rc cu_policy_ops(cu_vault *v, cu_id tenant, const cu_policy *p, const char *text, size_t len,
                    unsigned version, cu_store_op **ops, size_t *n, cu_audit_in *a, cu_err *err);
void cu_policy_ops_free(cu_store_op *ops, size_t n);

#endif
