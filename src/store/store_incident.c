/*
 * store_incident.c: the store's face for breach incidents (store.h, docs/incidents.md): thin
 * wrappers of their reads. A handle whose table lacks a read (a snapshot) answers
 * CU_ERR_UNSUPPORTED.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

#define WRAP(fn, ...)                                                                              \
    (s->ops->incident != NULL ? s->ops->incident->fn(s, __VA_ARGS__)                               \
                              : cu_err_set(err, CU_ERR_UNSUPPORTED, "no incidents in this store"))

cu_rc cu_store_incident_list(cu_store *s, cu_id tenant, int all, cu_store_incident **out, size_t *n,
                             cu_err *err)
{
    *out = NULL;
    *n = 0;
    return WRAP(list, tenant, all, out, n, err);
}

cu_rc cu_store_incident_get(cu_store *s, cu_id id, cu_store_incident *out,
                            cu_store_incident_hit **hits, size_t *nhits,
                            cu_store_incident_notice **notices, size_t *nnotices, cu_err *err)
{
    memset(out, 0, sizeof(*out));
    *hits = NULL;
    *notices = NULL;
    *nhits = *nnotices = 0;
    return WRAP(get, id, out, hits, nhits, notices, nnotices, err);
}

cu_rc cu_store_audit_touches(cu_store *s, cu_id tenant, int64_t from_ms, int64_t to_ms,
                             int (*fn)(void *arg, const cu_store_audit_touch *t), void *arg,
                             cu_err *err)
{
    return WRAP(audit_touches, tenant, from_ms, to_ms, fn, arg, err);
}
