/*
 * sso_int.h: what the rest of the core needs of single sign-on (sso_tenant.c, docs/sso.md).
 */
#ifndef CU_SSO_INT_H
#define CU_SSO_INT_H

#include "core_int.h"

/* P-ENC-5: the tenant's SSO client secret, sealed under an older data key version, sealed
 * again under nk (op->type 0 when the tenant has no configuration or it is current). */
cu_rc cu_sso_reseal_op(cu_vault *v, cu_id tenant, const cu_key *nk, cu_store_op *op, cu_err *err);

/* The link's key: SHA-256 of issuer and sub (sso_link.c). */
void cu_sso_link_hash(const char *issuer, const char *sub, uint8_t out[32]);
/* The user the provider's identity (sub, and its verified email) is in the tenant of s
 * (review finding 3): the linked user; else, if no user has that email, one created with the
 * configured role and linked; an existing user of that email is never entered by it (CU_ERR_AUTH,
 * *why "unlinked"), nor a linked user with TOTP ("second_factor"). Release u with
 * cu_store_user_cleanup. */
cu_rc cu_sso_link_user(cu_vault *v, const cu_ctx *ctx, const cu_store_sso_config *s,
                       const char *sub, const char *email, cu_store_user *u, const char **why,
                       cu_err *err);

#endif
