/*
 * store_chain.h: a batch chained on audit heads read inside its own transaction (several
 * servers on one database, docs/store.md; src/core/commit.c). Included by store.h after
 * cu_store_op and cu_store, for its ops table's apply_chained.
 */
#ifndef CU_STORE_CHAIN_H
#define CU_STORE_CHAIN_H

/* The builder: the batch chained on heads[0..n) (AUDIT_HEAD_CHECK ops, each holding its
 * tenant's head as the store reads it now, 0 and zeros: none), into *ops and *nops, which stay
 * fn's (valid until the call that took fn returns). */
typedef cu_rc (*cu_store_chain_fn)(void *arg, const cu_store_op *heads, size_t n,
                                   const cu_store_op **ops, size_t *nops, cu_err *err);

/* A batch whose audit heads another writer moved, again: takes the locks the ops prev[0..nprev)
 * take (P-AUD-1: the chains of its AUDIT_HEAD_CHECK tenants), reads those heads under them, and
 * commits what fn builds on them in the same transaction, so that no other writer can move them
 * in between: a writer that lost the race once cannot lose it again however busy the others
 * are. A backend without apply_chained: the heads read, fn, apply (CU_ERR_CONFLICT if
 * overtaken meanwhile). prev is not read once fn is called. */
cu_rc cu_store_apply_chained(cu_store *s, const cu_store_op *prev, size_t nprev,
                             cu_store_chain_fn fn, void *arg, cu_err *err);

#endif
