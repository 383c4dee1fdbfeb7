/*
 * audit_int.h: the audit module's private face: the vault's audit signing key (audit.c), and
 * what audit.c and audit_verify.c share.
 */
#ifndef CU_AUDIT_INT_H
#define CU_AUDIT_INT_H

#include "core_int.h"

/* Loads DIR/audit.key (wrapped under a master key, mode 0600), making it if missing while no
 * checkpoint exists; refuses a key file readable by others (CU_ERR_PERM), one whose public key
 * differs from the database's, or a missing one while checkpoints exist (CU_ERR_KEY). Needs
 * v->ring, v->store and v->master_version. */
cu_rc cu_audit_key_load(cu_vault *v, cu_err *err);
/* Rewrites DIR/audit.key wrapped under master_version (a master key rotation, before the
 * older versions leave the key file). */
cu_rc cu_audit_key_rewrap(cu_vault *v, uint32_t master_version, cu_err *err);

/* 1 if c is signed with pk over its message (docs/audit.md, Checkpoints), else 0. */
int cu_audit_checkpoint_ok(const uint8_t pk[32], const cu_audit_checkpoint *c);

/* Tests only: verify in spans of this many seqs (0, the default: spans by the cores), so that
 * span joins fall where a test tampers. */
extern uint64_t cu_audit_span_len;

#endif
