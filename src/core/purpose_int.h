/*
 * purpose_int.h: the preamble of every operation on a tenant's personal data (purpose.c):
 * the tenant is usable, the subject exists, the purpose is allowed.
 *
 * subject.c, record.c, consent.c and hold.c call cu_preamble instead of repeating those
 * checks; a future request.c (data-subject requests) does the same. The preamble reads the
 * tenant row once, and its policy version (cu_gate) keys the policy cache for every later
 * check of the same request (cu_gate_purpose, cu_gate_policy), at no query of its own.
 */
#ifndef CU_PURPOSE_INT_H
#define CU_PURPOSE_INT_H

#include "core_int.h"
#include "tenant_int.h"

typedef enum cu_purpose_use {
    CU_PURPOSE_NONE, /* no purpose check (the caller makes it later, or none is due) */
    CU_PURPOSE_READ, /* cu_purpose_check */
    CU_PURPOSE_WRITE /* cu_purpose_check_write */
} cu_purpose_use;

/* What an operation asks of its preamble; checked in this order. */
typedef struct cu_access {
    cu_id tenant;
    cu_tenant_use use;      /* 1. the tenant is usable (cu_tenant_usable) */
    const char *declared;   /* 2. not NULL: the collection must be in the policy (P-RET-1) */
    cu_id subject;          /* 3. not 0: the subject must exist (CU_ERR_NOT_FOUND) */
    int *restricted;        /*    with subject: gets its restriction (may be NULL) */
    cu_purpose_use purpose; /* 4. the purpose is allowed ... */
    cu_id purpose_subject;  /*    ... for this subject's data (0: none) ... */
    const char *collection; /*    ... in this collection (NULL: none) */
} cu_access;

/* What the preamble found, for the later checks of the same request. */
typedef struct cu_gate {
    cu_id tenant;
    unsigned policy_version; /* the tenant row's: the policy cache's key */
} cu_gate;

/* Runs the checks a asks for, in order, and fills *g (may be NULL). */
cu_rc cu_preamble(cu_vault *v, const cu_ctx *ctx, const cu_access *a, cu_gate *g, cu_err *err);
/* The purpose check of step 4 for a gate already passed (the caller read the record first to
 * learn its subject and collection). write: CU_PURPOSE_WRITE's rules. */
cu_rc cu_gate_purpose(cu_vault *v, const cu_ctx *ctx, const cu_gate *g, cu_id subject,
                      const char *collection, int write, cu_err *err);
/* The gate's tenant's policy, a reference to give back with cu_policy_release;
 * CU_ERR_NOT_FOUND if it has none. */
cu_rc cu_gate_policy(cu_vault *v, const cu_gate *g, const cu_policy **out, cu_err *err);

#endif
