/*
 * lifecycle_int.h: what lifecycle.c offers the sweep (sweep.c).
 */
#ifndef CU_LIFECYCLE_INT_H
#define CU_LIFECYCLE_INT_H

#include "core_int.h"

/* Applies the policy p to one tenant t at now: purge at the end of the export window, record
 * retention, pending erasures, and the final shredding. */
cu_rc cu_sweep_tenant(cu_vault *v, const cu_ctx *ctx, const cu_tenant *t, const cu_policy *p,
                      int64_t now, cu_sweep_report *rep, cu_err *err);

#endif
