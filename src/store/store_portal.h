/*
 * store_portal.h: the store's reads for the data subject's privacy center (custos_portal.h,
 * docs/portal.md): one subject's requests, read by the subject's key in the store rather than
 * the tenant's whole list filtered in memory (one subject's page costs its own rows).
 */
#ifndef CU_STORE_PORTAL_H
#define CU_STORE_PORTAL_H

#include "store.h"

/* The subject's data-subject requests in tenant, oldest first (filed_at, id). Caller frees
 * *out. CU_ERR_UNSUPPORTED from a handle without the read. */
cu_rc cu_store_request_list_subject(cu_store *s, cu_id tenant, cu_id subject,
                                    cu_store_request **out, size_t *n, cu_err *err);

#endif
