/*
 * store_sso.c: the store's face for single sign-on (store_sso.h, docs/sso.md): thin wrappers
 * of its reads. A handle whose table lacks them (a snapshot) answers CU_ERR_UNSUPPORTED.
 */
#include <string.h>

#include "store.h"
#include "util.h"

#define WRAP(fn, ...)                                                                              \
    (s->ops->sso != NULL ? s->ops->sso->fn(s, __VA_ARGS__)                                         \
                         : cu_err_set(err, CU_ERR_UNSUPPORTED, "no single sign-on in this store"))

cu_rc cu_store_sso_config_get(cu_store *s, cu_id tenant, cu_store_sso_config *out, cu_err *err)
{
    memset(out, 0, sizeof(*out));
    return WRAP(config_get, tenant, out, err);
}

cu_rc cu_store_sso_login_get(cu_store *s, cu_id tenant, const uint8_t state_hash[32],
                             cu_store_sso_login *out, cu_err *err)
{
    memset(out, 0, sizeof(*out));
    return WRAP(login_get, tenant, state_hash, out, err);
}

cu_rc cu_store_sso_link_get(cu_store *s, cu_id tenant, const uint8_t link_hash[32],
                            cu_store_sso_link *out, cu_err *err)
{
    memset(out, 0, sizeof(*out));
    return WRAP(link_get, tenant, link_hash, out, err);
}
