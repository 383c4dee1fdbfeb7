/*
 * store_disclosure.c: the store's face for disclosures (store.h, P-SHR-1): the wrapper of the
 * read. A handle whose table lacks it answers CU_ERR_UNSUPPORTED.
 */
#include "store.h"
#include "util.h"

cu_rc cu_store_disclosure_list(cu_store *s, cu_id tenant, cu_id subject, size_t limit,
                               cu_store_disclosure **out, size_t *n, cu_err *err)
{
    *out = NULL;
    *n = 0;
    if (s->ops->disclosure_list == NULL)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "no disclosures in this store");
    return s->ops->disclosure_list(s, tenant, subject, limit, out, n, err);
}
