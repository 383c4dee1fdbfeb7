/*
 * keys_int.h: unwrapping, wrapping and making keys, and the data key's re-encryption helpers
 * (keys.c).
 */
#ifndef CU_KEYS_INT_H
#define CU_KEYS_INT_H

#include "core_int.h"

/* Unwraps a stored key with its parent's plaintext kek (CU_ERR_CRYPTO if it was altered or
 * moved: its AAD names its kind, tenant, owner and version). */
cu_rc cu_keys_unwrap(const uint8_t *kek, const cu_store_key *sk, cu_key *out, cu_err *err);
/* Wraps key under kek (of parent_version) into a KEY_PUT op for (kind, tenant, owner); the op
 * owns wrapped.data. */
cu_rc cu_keys_wrap_op(const uint8_t *kek, uint32_t parent_version, cu_key_kind kind, cu_id tenant,
                      cu_id owner, const cu_key *key, cu_store_op *op, cu_err *err);
/* Every key wrapped under a master key version: the tenant keys, then the record id key
 * (record_ids.c). A master rotation rewraps them all; the versions they name stay in the key
 * file. Caller frees with cu_store_keys_free. */
cu_rc cu_keys_master_wrapped(cu_store *st, cu_store_key **out, size_t *n, cu_err *err);
/* Unwraps the newest tenant key (P-ISO-3). CU_ERR_NOT_FOUND if the tenant has none (purged). */
cu_rc cu_keys_tenant(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err);
/* The same with v->key_lock already held (read or write). */
cu_rc cu_keys_tenant_locked(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err);
/* Wraps tenant key tk under the newest master version the database committed (another
 * server's epoch's, before this process's own pass adopts it) into a KEY_PUT op (op owns
 * wrapped.data). Hold v->key_lock for reading until the op is applied, so that a master
 * rotation cannot retire the version in between. */
cu_rc cu_keys_wrap_tenant_locked(cu_vault *v, cu_id tenant, const cu_key *tk, cu_store_op *op,
                                 cu_err *err);
/* The master version a new wrap goes under (*out): the newest the database committed, never
 * older than v's current; its key loaded from the key file if another server's epoch made it,
 * CU_ERR_KEY if the file lacks it. Under v->key_lock, shared. */
cu_rc cu_keys_master_newest(cu_vault *v, uint32_t *out, cu_err *err);
/* Unwraps a key of kind (DATA, INDEX, SUBJECT) of the tenant; CU_ERR_KEY if it was destroyed. */
cu_rc cu_keys_child(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                    cu_err *err);
/* Unwraps one version of such a key (0: the newest): a value is opened with the version that
 * sealed it, since the data key has several between a rotation and its re-encryption pass. */
cu_rc cu_keys_child_at(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                       cu_key *out, cu_err *err);
/* The same with v->key_lock already held. */
cu_rc cu_keys_child_locked(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                           cu_err *err);
/* Makes a fresh key of kind under the tenant key tk and fills op with its KEY_PUT (op owns
 * wrapped->data; free it after apply). Returns the plaintext in *out. */
cu_rc cu_keys_make_child(const cu_key *tk, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                         cu_store_op *op, cu_err *err);
/* P-DSR-4: forgets (and wipes) the subject's cached key, so that its erasure holds from the
 * next request on; call it once its KEY_DELETE was committed (cu_commit does as well). */
void cu_keys_forget_subject(cu_vault *v, cu_id tenant, cu_id subject);

/* --- data key re-encryption (keys.c, record.c, hold.c, users.c; P-ENC-5) --------------- */

/* Opens ct, sealed under data key version old_version with the AAD of (tenant, coll, id, field,
 * and bind if not NULL), and seals it again under nk with the same AAD at nk's version into
 * *out (caller frees out->data). */
cu_rc cu_reseal_value(cu_vault *v, cu_id tenant, const char *coll, cu_id id, const char *field,
                      const char *bind, uint32_t old_version, const cu_key *nk, const cu_blob *ct,
                      cu_blob *out, cu_err *err);
/* The same with the old key given (ok, whose version the AAD names): a record kept after its
 * subject's erasure moves from the subject key to the retained key (P-RET-4). */
cu_rc cu_reseal_value_with(const cu_key *ok, cu_id tenant, const char *coll, cu_id id,
                           const char *field, const char *bind, const cu_key *nk,
                           const cu_blob *ct, cu_blob *out, cu_err *err);
/* Frees what a reseal op owns (its blobs and fields) and zeroes it; other ops: no-op. */
void cu_reseal_op_free(cu_store_op *op);

#endif
