/*
 * progress_int.h: the core's long loops report how far they are (cu_progress_set, custos.h).
 * The loops call it per batch (a tenant, a transaction, 1024 audit entries), not per item.
 */
#ifndef CU_PROGRESS_INT_H
#define CU_PROGRESS_INT_H

#include <stdint.h>

/* Starts a piece of work of total units (0: not known): done goes back to 0. */
void cu_progress_begin(const char *what, uint64_t total);
/* n more units done; safe from several threads. */
void cu_progress_add(uint64_t n);

#endif
