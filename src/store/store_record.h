/*
 * store_record.h: a record as the store holds it (its sealed document and fields), a blind
 * index entry, and what the sweep reads of a record. Included by store.h.
 */
#ifndef CU_STORE_RECORD_H
#define CU_STORE_RECORD_H

typedef struct cu_store_field {
    char *name;
    cu_blob ct;
} cu_store_field;

typedef struct cu_store_record {
    cu_id tenant_id;
    cu_id id;
    cu_id subject_id; /* 0: the tenant's own */
    char collection[CU_COLLECTION_MAX];
    uint32_t key_version;
    int64_t created_at;
    int64_t updated_at;
    uint32_t version;        /* 1 at creation, one more at each write; bound into the doc's AAD
                                (0: written before versions, AAD without it) */
    cu_blob doc;             /* sealed document without its sensitive fields */
    cu_store_field *fields;  /* sealed sensitive fields */
    size_t nfields;
    int64_t expect_updated_at; /* RECORD_EXPIRE, RECORD_ANONYMIZE: only while updated_at still
                                  equals it, else CU_ERR_CONFLICT (0: whatever it is) */
    int64_t expect_activity_at; /* RECORD_EXPIRE, RECORD_ANONYMIZE: only while the record's
                                   subject's last activity is at most it, else CU_ERR_CONFLICT
                                   (0: whatever it is; P-RET-1, retention from last activity) */
    int retained; /* read only: kept after its subject's erasure, sealed under the subject's
                     CU_KEY_RETAINED key (P-DSR-4, P-RET-4) */
    cu_id cursor; /* read only, record_page*: the after past this record (store_ids.h) */
} cu_store_record;

typedef struct cu_store_blind {
    cu_id tenant_id;
    const char *scope; /* e.g. "s:email", "r:employees:ssn" */
    uint8_t digest[32];
    cu_id owner_id;
    int unique; /* refuse a second owner with the same digest in this scope */
} cu_store_blind;

/* What the sweep needs of a record to apply its category's retention (P-RET-1). */
typedef struct cu_store_record_meta {
    cu_id id;
    cu_id cursor; /* record_meta_list's after past this record (store_ids.h) */
    cu_id subject_id;
    char collection[CU_COLLECTION_MAX];
    int64_t created_at;
    int64_t updated_at;
    int anonymized; /* P-RET-6: already anonymized, no subject any more */
    int retained;   /* P-RET-4: kept after its subject's erasure: deleted at its date */
} cu_store_record_meta;

#endif
