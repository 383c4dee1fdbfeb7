/*
 * subject_int.h: what subject.c offers the sweep and the export (lifecycle.c).
 */
#ifndef CU_SUBJECT_INT_H
#define CU_SUBJECT_INT_H

#include "core_int.h"

/* A subject opened without a purpose check or an audit entry, for the vault's own use (the
 * export, which audits itself). Release with cu_subject_cleanup. */
cu_rc cu_subject_read(cu_vault *v, cu_id tenant, cu_id subject, cu_subject *out, cu_err *err);
/* Opens a subject's row as the store returned it (tenant_id and id set) with the subject's key
 * sk into out: the export of one subject, read from a snapshot. Release out with
 * cu_subject_cleanup. */
cu_rc cu_subject_open_row(const cu_key *sk, const cu_store_subject *row, cu_subject *out,
                          cu_err *err);
/* The two steps of erasure (P-DSR-4) without the checks before them (tenant state, purpose,
 * holds), for the sweep, which has made them. It keeps nothing (P-RET-4 is the erasure
 * request's, cu_subject_erase_certified): the sweep erases a subject found under age, one
 * whose key an older build lost, and one a purged tenant left without data. */
cu_rc cu_subject_shred(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err);
/* The same, keeping what a legal duty keeps as an erasure request does (P-RET-4): the replay of
 * an erasure after a restore (journal.c, P-BAK-2), which must keep what the live erasure kept. */
cu_rc cu_subject_shred_keeping(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                               cu_err *err);

#endif
