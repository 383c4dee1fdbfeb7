/*
 * epoch_int.h: key epochs (epoch.c; P-RET-3, docs/keys.md, Key epochs).
 */
#ifndef CU_EPOCH_INT_H
#define CU_EPOCH_INT_H

#include "backup_int.h" /* CU_BACKUP_WINDOW_DEFAULT_DAYS: a retired master version stays in
                           the key file this long at least */
#include "core_int.h"

/* The key epoch lease (docs/store.md, "Several servers"): one master key rotation or
 * retirement at a time over every server of a database. cu_epoch_lease takes or renews (take)
 * or frees it for v, CU_ERR_CONFLICT while another server holds it; cu_epoch_lease_op makes the
 * op, to be committed with the rotation's own writes (the lease renewed in their transaction,
 * so a rotation whose lease another server took meanwhile cannot commit). */
cu_rc cu_epoch_lease(cu_vault *v, int take, cu_err *err);
void cu_epoch_lease_op(cu_vault *v, int take, cu_store_op *op);
/* Several servers (docs/scaling.md, "The key file"), under the vault's key lock for writing:
 * the ring takes in what the key file gained or lost (cu_keyring_sync), and v's current master
 * version becomes the newest the database committed if another server's epoch made it (the
 * audit key rewrapped under it), so that nothing new is wrapped under a version that server
 * may destroy at the end of its window. CU_ERR_KEY if that version is not in the key file.
 * Every rotation and every retirement pass starts with it (rotate.c, epoch.c). */
cu_rc cu_key_catch_up(cu_vault *v, cu_err *err);
/* cu_key_rotate_master with the epoch lease held already by v (cu_key_epoch). */
cu_rc cu_key_rotate_master_leased(cu_vault *v, const cu_ctx *ctx, unsigned *new_version,
                                  size_t *rewrapped, cu_err *err);

#endif
