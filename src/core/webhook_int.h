/*
 * webhook_int.h: what webhook.c offers the outbox's other core files (webhook_deliver.c,
 * webhook_events.c).
 */
#ifndef CU_WEBHOOK_INT_H
#define CU_WEBHOOK_INT_H

#include "core_int.h"

/* The collection name bound into an endpoint secret's AAD (P-ENC-2). */
#define CU_WEBHOOK_COLL "$webhooks"

/* Opens an endpoint's sealed secret into a NUL-terminated "whsec_..." string that the caller
 * wipes (cu_str_wipe) and frees. */
cu_rc cu_webhook_secret_open(cu_vault *v, const cu_store_webhook_endpoint *e, char **out,
                             cu_err *err);

/* P-ENC-5: the re-encryption pass's op for one endpoint's secret (reseal.c): a CU_OP_RESEAL
 * that seals it again under nk, or type 0 if it is sealed under nk already. */
cu_rc cu_webhook_reseal_op(cu_vault *v, const cu_store_webhook_endpoint *e, const cu_key *nk,
                           cu_store_op *op, cu_err *err);

#endif
