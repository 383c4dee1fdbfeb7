/*
 * store_portal.c: the store's face for the privacy center's reads (store_portal.h).
 */
#include <stdlib.h>

#include "store_portal.h"
#include "util.h"

cu_rc cu_store_request_list_subject(cu_store *s, cu_id tenant, cu_id subject,
                                    cu_store_request **out, size_t *n, cu_err *err)
{
    *out = NULL;
    *n = 0;
    if (s->ops->request_list_subject == NULL)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "no subject's request list in this store");
    return s->ops->request_list_subject(s, tenant, subject, out, n, err);
}
