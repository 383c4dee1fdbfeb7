/*
 * sso_int.h: what the rest of the core needs of single sign-on (sso_tenant.c, docs/sso.md).
 */
#ifndef CU_SSO_INT_H
#define CU_SSO_INT_H

#include "core_int.h"

/* P-ENC-5: the tenant's SSO client secret, sealed under an older data key version, sealed
 * again under nk (op->type 0 when the tenant has no configuration or it is current). */
cu_rc cu_sso_reseal_op(cu_vault *v, cu_id tenant, const cu_key *nk, cu_store_op *op, cu_err *err);

#endif
