/*
 * custos_disclosure.h: the core's disclosure API (P-SHR-1, P-NOT-3; docs/api.md,
 * docs/policy.md "Recipients"). A disclosure of subjects' data to a recipient is an operation
 * of its own: refused unless the tenant's policy IN FORCE lists that recipient for that purpose
 * and for every data category of the data disclosed (a recipient only a pending version lists
 * is refused until that version takes effect), recorded with ids and names only, audited, and
 * shown to each subject as a recipient of its data (its export, docs/dsr.md).
 */
#ifndef CUSTOS_DISCLOSURE_H
#define CUSTOS_DISCLOSURE_H

#include "custos.h"

#define CU_DISCLOSURE_MAX_ITEMS 1000    /* subjects and records in one disclosure */
#define CU_DISCLOSURE_MAX_CATEGORIES 32 /* categories named in one disclosure */
#define CU_DISCLOSURE_REF_MAX 128       /* a reference's bytes */
#define CU_DISCLOSURE_LIST_MAX 1000     /* rows one list returns at most */

/* What is disclosed. subjects: their data of `categories` (required with subjects); records:
 * those records, each of its collection's category (categories may add none to them). */
typedef struct cu_disclosure_in {
    const char *recipient; /* a name the policy's sub_processors list */
    const char *purpose;   /* one of the recipient's purposes */
    const cu_id *subjects;
    size_t n_subjects;
    const cu_id *records;
    size_t n_records;
    const char *const *categories; /* category names of the policy */
    size_t n_categories;
    const char *legal_basis; /* NULL or the purpose's basis (cu_legal_basis_name): another is
                                CU_ERR_INVALID (P-CON-1) */
    const char *reference;   /* NULL, or an identifier (a case or order number): 1 to 128 bytes
                                of letters, digits and . _ : / # -, a digit among them (stored
                                in clear: no names) */
} cu_disclosure_in;

/* One subject's (or record's) part of a disclosure. */
typedef struct cu_disclosure {
    cu_id id;
    cu_id subject_id;
    cu_id record_id; /* 0: the subject's data of `categories` */
    char recipient[256];
    char recipient_kind[24]; /* from the policy in force now; "" if it no longer lists it */
    char purpose[64];
    char categories[512]; /* comma-separated */
    char legal_basis[32];
    char reference[129];
    unsigned policy_version; /* the tenant's policy version in force when it was made */
    int64_t created_at;
} cu_disclosure;

/* P-SHR-1, P-NOT-3: records a disclosure (audited "disclosure.add", its id only) and gives its
 * id in *out_id. CU_ERR_NOT_LISTED if the policy in force does not list the recipient, for that
 * purpose, or for a category of the data; CU_ERR_INVALID for malformed input or an unknown
 * category; CU_ERR_NOT_FOUND for a subject or record the tenant lacks; the purpose codes of a
 * subject's data (consent_required, objected, restricted...) as for a read under that purpose.
 * Nothing is stored unless everything passes. */
cu_rc cu_disclosure_add(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_disclosure_in *in,
                        cu_id *out_id, cu_err *err);

/* The tenant's disclosures, of one subject (0: all), newest first, at most limit (0 or more
 * than CU_DISCLOSURE_LIST_MAX: that many); audited "disclosure.list". Caller frees *out. */
cu_rc cu_disclosure_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, size_t limit,
                         cu_disclosure **out, size_t *n, cu_err *err);

#endif
