/*
 * hold_int.h: what hold.c offers the data key's re-encryption (keys.c).
 */
#ifndef CU_HOLD_INT_H
#define CU_HOLD_INT_H

#include "core_int.h"

/* Fills *op with the CU_OP_RESEAL of a legal hold's reasons, or leaves op->type 0 if they are
 * under nk's version already (P-ENC-5). */
cu_rc cu_hold_reseal_op(cu_vault *v, const cu_store_hold *h, const cu_key *nk, cu_store_op *op,
                        cu_err *err);

#endif
