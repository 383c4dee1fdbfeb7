/*
 * store_disclosure.h: the store's disclosure rows (P-SHR-1; docs/store.md, contract item 14),
 * kept apart from store.h, which includes it: the row CU_OP_DISCLOSURE_PUT writes and
 * disclosure_list reads, and the read's wrapper (store_disclosure.c).
 */
#ifndef CU_STORE_DISCLOSURE_H
#define CU_STORE_DISCLOSURE_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

#define CU_DISCLOSURE_RECIPIENT_MAX 256 /* a recipient's name as recorded, with its NUL */
#define CU_DISCLOSURE_CATEGORIES_MAX 512
#define CU_DISCLOSURE_REFERENCE_MAX 129

/* One subject's part of a disclosure to a recipient the policy in force lists: ids, the
 * policy's names, a basis and a reference (an identifier such as a case number), times; never
 * a personal value. A disclosure of several subjects or records is one row each, under one id. */
typedef struct cu_store_disclosure {
    cu_id tenant_id;
    cu_id id;         /* the disclosure's */
    cu_id subject_id; /* whose data */
    cu_id record_id;  /* the record disclosed, 0: the subject's data of `categories` */
    char recipient[CU_DISCLOSURE_RECIPIENT_MAX];
    char purpose[64];
    char categories[CU_DISCLOSURE_CATEGORIES_MAX]; /* the data categories, comma-separated */
    char legal_basis[32];                          /* cu_legal_basis_name, or "" */
    char reference[CU_DISCLOSURE_REFERENCE_MAX];   /* "" if none */
    unsigned policy_version;                       /* the tenant's version in force */
    int64_t created_at;
} cu_store_disclosure;

typedef struct cu_store cu_store;

/* The ops table's disclosure_list; CU_ERR_UNSUPPORTED without it. */
cu_rc cu_store_disclosure_list(cu_store *s, cu_id tenant, cu_id subject, size_t limit,
                               cu_store_disclosure **out, size_t *n, cu_err *err);

#endif
