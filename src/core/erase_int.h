/*
 * erase_int.h: what erase.c offers subject.c (P-DSR-4) and the vault's close (vault.c).
 */
#ifndef CU_ERASE_INT_H
#define CU_ERASE_INT_H

#include "core_int.h"

/* The rows of one subject whose key was destroyed (its erasure queued by the store): deleted
 * now, in batches of CU_ERASE_BATCH records, the last one committed with the subject's
 * "subject.erase_rows" entry under ctx; CU_OK if no erasure of it is queued (any more). If the
 * vault's erasure thread runs, it is woken instead and this returns at once. */
cu_rc cu_erase_subject(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err);
/* Whether the erasure of the subject is queued: its key destroyed, its rows not all gone. */
cu_rc cu_erase_queued(cu_vault *v, cu_id tenant, cu_id subject, int *queued, cu_err *err);
/* P-DSR-1, P-RET-4: the parsed certificate (caller deletes *out) of a subject erased under
 * legal retention of whose kept records one at least remains (the certificate names them);
 * CU_ERR_NOT_FOUND for any other subject: a live one, one never known, one whose
 * erasure kept nothing or whose kept records the sweep deleted. */
cu_rc cu_erase_kept_certificate(cu_vault *v, cu_id tenant, cu_id subject, cJSON **out,
                                 cu_err *err);
/* P-BAK-2: asks the erasure thread to catch the erasure journal up, off the answer's path;
 * 0 when the vault has no erasure thread (the caller catches it up itself). */
int cu_erase_journal_later(cu_vault *v);
/* An erasure committed: its truncating checkpoint (the scrub) is owed (P-DSR-4). */
void cu_erase_scrub_owe(cu_vault *v);
/* P-DSR-4: owes a scrub and has it run: by the erasure thread when the vault has one (woken now;
 * its pass scrubs before it deletes rows, so the answer does not wait for a checkpoint whose
 * cost grows with the WAL), else here. */
void cu_erase_scrub_soon(cu_vault *v);
/* Runs the truncating checkpoint, waiting briefly for readers; CU_OK: every scrub owed before
 * it is done. On failure the scrub stays pending (cu_vault_scrub_pending) and the erasure
 * thread is woken to try again (each second while pending; its first pass at start, too). */
cu_rc cu_erase_scrub(cu_vault *v, cu_err *err);
/* Stops the vault's erasure thread, if any, between two batches; what is left stays queued. */
void cu_erase_stop(cu_vault *v);

#endif
