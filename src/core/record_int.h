/*
 * record_int.h: what record.c offers the sweep, the export and the data key's re-encryption.
 */
#ifndef CU_RECORD_INT_H
#define CU_RECORD_INT_H

#include "core_int.h"

#define MANIFEST_FIELDS "$sealed" /* in the sealed document: names of fields sealed apart */
#define MANIFEST_WRITE "$write"   /* in the sealed document: the write id bound to them */

/* P-ENC-2: the document's AAD, with the record's write version after it, so that the sealed
 * document of an older write does not open under a newer row. Version 0 (written before
 * versions) keeps the AAD it was sealed with. A whole row put back passes this: verify --deep
 * finds it against the digest in the write's audit entry (docs/keys.md). */
void cu_record_doc_aad(cu_aad *a, const cu_store_record *r);

/* A record opened without a purpose check or an audit entry, for the vault's own use (the
 * sweep, the export, which audit themselves). Release with cu_record_cleanup. */
cu_rc cu_record_read(cu_vault *v, cu_id tenant, cu_id record, cu_record *out, cu_err *err);
/* Opens a record as the store returned it (tenant_id and id set) with the key that sealed it
 * (its subject's key, or the tenant data key at row->key_version) into out, checking its fields
 * against their manifest (P-ENC-2): the export's pages. Release out with cu_record_cleanup. */
cu_rc cu_record_open_row(const cu_key *key, const cu_store_record *row, cu_record *out,
                         cu_err *err);
/* Opens only the document of row (its plain and personal fields, authenticated as a whole),
 * none of its sensitive fields, into *doc (caller frees with cu_json_delete_wiped): for a
 * reader that may never name a sensitive field (aggregate analytics, P-ANA-1), so their
 * plaintext is never made. */
cu_rc cu_record_open_doc(const cu_key *key, const cu_store_record *row, cJSON **doc, cu_err *err);
/* P-RET-6: builds the RECORD_ANONYMIZE of a record: its plain fields only, sealed under the
 * tenant data key, detached from its subject. The op owns u.record.doc.data (free it). */
cu_rc cu_record_anonymize_op(cu_vault *v, cu_id tenant, cu_id record, cu_store_op *op, cu_err *err);
/* P-DSR-4, P-RET-4 (retain.c): row (read from the store, sealed under its subject's key sk)
 * sealed again under the subject's retained key rk into a CU_OP_RECORD_RETAIN op; row's
 * document moves into the op (old[0]). The caller cleans op up with cu_store_op_cleanup. */
cu_rc cu_record_retain_op(const cu_key *sk, const cu_key *rk, cu_store_record *row, cu_store_op *op,
                          cu_err *err);
/* The two halves of a reseal op (RESEAL, RECORD_RETAIN): the document of row (under ok) sealed
 * again under nk into r->ct[0], its write id into wid; then the document's old ciphertext, which
 * r owns from here (the store compares it), and its sensitive fields sealed again under nk,
 * bound to the same write. */
cu_rc cu_record_reseal_doc(const cu_key *ok, const cu_key *nk, const cu_store_record *row,
                           cu_store_reseal *r, char wid[33], cu_err *err);
cu_rc cu_record_reseal_fields(const cu_key *ok, const cu_key *nk, cu_store_record *row,
                              const char *wid, cu_store_reseal *r, cu_err *err);
/* Fills *op with the CU_OP_RESEAL of a record without a subject, or leaves op->type 0 if the
 * record is under nk's version already. CU_ERR_NOT_FOUND if it is gone (P-ENC-5). */
cu_rc cu_record_reseal_op(cu_vault *v, cu_id tenant, cu_id record, const cu_key *nk,
                          cu_store_op *op, cu_err *err);

#endif
