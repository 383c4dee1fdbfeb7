/*
 * cache_int.h: the vault's caches of secrets (cache.c): API keys whose secret was verified
 * (auth.c) and unwrapped keys (keys.c), so that a request does not read and unwrap them again.
 *
 * Both live in locked memory, hold a bounded number of entries (CLOCK eviction; an evicted or
 * forgotten entry is wiped) and keep an entry at most CUSTOS_CACHE_TTL_MS (1 s by default). A
 * change made by this process is seen at once: every op committed through cu_commit passes
 * cu_cache_after_commit (core_int.h), which forgets what it changed (a revoked API key, a
 * destroyed or rewrapped key, a closed tenant). A change made by another process on the same
 * database is seen from this one's next request that reads the tenant's row: the commit raised
 * the tenant's generation (cu_cache_gen_tenant), and the row's reader reports it
 * (cu_cache_observe), which forgets the tenant's entries if it is newer than any seen. Each
 * entry keeps the generation it was read under and is served only while that is the newest
 * seen, so a read from an older snapshot is never served after a newer one was seen.
 *
 * Filling races with forgetting: take cu_cache_*_gen() BEFORE reading what you will put, and
 * pass it to the put, which is dropped if anything was forgotten meanwhile (the read may have
 * seen the state before the change).
 */
#ifndef CU_CACHE_INT_H
#define CU_CACHE_INT_H

#include "core_int.h"

/* Creates v->caches from the settings in the environment: CUSTOS_APIKEY_CACHE and
 * CUSTOS_KEY_CACHE (entries, 0 turns the cache off), CUSTOS_CACHE_TTL_MS. CU_ERR_LIMIT if the
 * memory cannot be locked (RLIMIT_MEMLOCK). */
cu_rc cu_cache_open(cu_vault *v, cu_err *err);
/* Wipes and frees v->caches; NULL is a no-op. */
void cu_cache_close(cu_vault *v);

/* A verified API key: the stored hash of its secret, its tenant and role. */
typedef struct cu_cache_apikey {
    uint8_t hash[CU_HASHBYTES];
    cu_id tenant;
    int32_t role;
} cu_cache_apikey;

/* 1 and *out if key id is cached and fresh; else 0. */
int cu_cache_apikey_get(cu_vault *v, cu_id id, cu_cache_apikey *out);
uint64_t cu_cache_apikey_gen(cu_vault *v);
/* Caches what a successful check of key id found, unless something was forgotten since gen or
 * tenant_gen (the cache generation of the tenant row read with the key) is not the newest of
 * the tenant seen here. Never a key of tenant 0 (an operator's: not cached, no tenant row). */
void cu_cache_apikey_put(cu_vault *v, cu_id id, const cu_cache_apikey *k, uint64_t gen,
                         uint64_t tenant_gen);

/* 1 and *out if the key (tenant, kind, owner, version) is cached and fresh; else 0. version 0
 * names "the newest" (keys.c caches it only for kinds that have one version). */
int cu_cache_key_get(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                     cu_key *out);
uint64_t cu_cache_key_gen(cu_vault *v);
void cu_cache_key_put(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                      const cu_key *k, uint64_t gen);

/* Forgets, and wipes: every cached key of a subject (its erasure); every key and API key of a
 * tenant; one API key; everything (a master key rotation). */
void cu_cache_forget_subject(cu_vault *v, cu_id tenant, cu_id subject);
void cu_cache_forget_tenant(cu_vault *v, cu_id tenant);
void cu_cache_forget_apikey(cu_vault *v, cu_id id);
void cu_cache_forget_all(cu_vault *v);

/* Several servers (docs/store.md, "Several servers"): a tenant row was read with cache
 * generation gen; newer than any seen here (or the tenant unknown), everything cached of the
 * tenant is forgotten. Called by every reader of tenant rows in the core (tenant.c). */
void cu_cache_observe(cu_vault *v, cu_id tenant, uint64_t gen);
/* The calling thread's read scope begins (cu_vault_read_begin, before its first read): what
 * it reads is cached only under generations this process saw before (cache.c, F3). */
void cu_cache_scope_begin(cu_vault *v, uint64_t scope);
/* The tenant whose generation a commit of op must raise (CU_OP_TENANT_GEN in its batch,
 * commit.c), 0 if none: the same ops cu_cache_after_commit forgets for. */
cu_id cu_cache_gen_tenant(const cu_store_op *op);

#endif
