/*
 * store_analytics.c: the store's face for the analytics budget (store_analytics.h): the read's
 * wrapper. A handle whose table lacks it answers CU_ERR_UNSUPPORTED.
 */
#include <string.h>

#include "store.h"
#include "util.h"

cu_rc cu_store_analytics_budget_get(cu_store *s, cu_id tenant, cu_store_analytics_budget *out,
                                    cu_err *err)
{
    memset(out, 0, sizeof(*out));
    if (s->ops->analytics == NULL || s->ops->analytics->budget_get == NULL)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "no analytics budget in this store");
    return s->ops->analytics->budget_get(s, tenant, out, err);
}
