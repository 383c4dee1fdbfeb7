/*
 * policy_cache_int.h: parsed tenant policies, cached per tenant and checked against the
 * tenant's current policy version (policy_cache.c).
 *
 * The version comes from the tenant row (cu_store_tenant.policy_version), which the preamble of
 * every request reads anyway, so the check costs no query of its own. A policy bound by
 * another process on the same database is therefore seen from the next request on. What is
 * served is the version in force by the clock's now (P-NOT-1): a pending version takes over at
 * its stored effective time, which the cached entry remembers (policy_version.c).
 */
#ifndef CU_POLICY_CACHE_INT_H
#define CU_POLICY_CACHE_INT_H

#include "core_int.h"

cu_rc cu_policy_cache_new(cu_policy_cache **out, cu_err *err);
/* Frees the cache and every policy in it; NULL is a no-op. No reference may be outstanding. */
void cu_policy_cache_free(cu_policy_cache *c);

/* The tenant's policy in force, given `current`, the newest version the tenant row names (its
 * policy_version, 0: none), parsed once and cached: an entry loaded before current was bound,
 * or before its pending version's effective time, is replaced. CU_ERR_NOT_FOUND if
 * the tenant has none. On CU_OK the caller holds a reference: give it back with
 * cu_policy_release, after which the pointer may be freed (once a newer version replaced it).
 * *version (may be NULL) gets the version returned, which may be newer than current. */
cu_rc cu_policy_current(cu_vault *v, cu_id tenant, unsigned current, const cu_policy **out,
                        unsigned *version, cu_err *err);
/* The same for a caller without the tenant row: reads it for the version (one query). */
cu_rc cu_policy_for(cu_vault *v, cu_id tenant, const cu_policy **out, unsigned *version,
                    cu_err *err);
/* Gives back a reference from cu_policy_for or cu_policy_current. NULL is a no-op. */
void cu_policy_release(cu_vault *v, const cu_policy *p);
/* Drops the cached policy of a tenant (after this process bound a new one: frees it early). */
void cu_policy_cache_forget(cu_vault *v, cu_id tenant);

#endif
