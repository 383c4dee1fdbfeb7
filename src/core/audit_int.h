/*
 * audit_int.h: what audit.c and audit_verify.c share, and nothing else includes.
 */
#ifndef CU_AUDIT_INT_H
#define CU_AUDIT_INT_H

#include "core_int.h"

/* 1 if c is signed with pk over its message (docs/audit.md, Checkpoints), else 0. */
int cu_audit_checkpoint_ok(const uint8_t pk[32], const cu_audit_checkpoint *c);

/* Tests only: verify in spans of this many seqs (0, the default: spans by the cores), so that
 * span joins fall where a test tampers. */
extern uint64_t cu_audit_span_len;

#endif
