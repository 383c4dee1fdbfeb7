/*
 * audit_canon.h: an audit entry's canonical encoding (docs/audit.md, "The hash chain"): the
 * exact bytes its chain hash is SHA-256 of. The core hashes it; the store keeps it beside the
 * entry's columns, so that verification hashes what it reads (P-AUD-2). Here, below both,
 * because both must produce the same bytes; no hashing here (that is src/crypto's).
 */
#ifndef CU_AUDIT_CANON_H
#define CU_AUDIT_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

/* The longest encoding: prefix, three u64, seven texts at their longest, digest, prev. */
#define CU_AUDIT_CANON_MAX 512

/* The text members in encoding order: actor, action, object, purpose, source, request_id,
 * outcome. */
#define CU_AUDIT_TEXTS 7

/* An entry's members as pointers (a database row's columns, say); text[i] need not end in a
 * NUL. digest is NULL for a format 1 entry. */
typedef struct cu_audit_fields {
    cu_id tenant_id;
    uint64_t seq;
    int64_t at;
    const char *text[CU_AUDIT_TEXTS];
    size_t len[CU_AUDIT_TEXTS];
    const uint8_t *digest;
    const uint8_t *prev;
} cu_audit_fields;

/* The most bytes each text member may have (its cu_audit_entry field less the NUL). */
extern const size_t cu_audit_text_max[CU_AUDIT_TEXTS];

/* Writes f's encoding to out and returns its length; 0 if a text is longer than its member
 * may be (no entry Custos writes has one). */
size_t cu_audit_canon(const cu_audit_fields *f, uint8_t out[CU_AUDIT_CANON_MAX]);

/* e's encoding, the input of cu_audit_hash(); returns its length. */
size_t cu_audit_encode(const cu_audit_entry *e, uint8_t out[CU_AUDIT_CANON_MAX]);

/* Reads an encoding back into *e (hash left zero). CU_ERR_INVALID if it is not one. */
cu_rc cu_audit_decode(const uint8_t *canon, size_t len, cu_audit_entry *e);

#endif
