/*
 * retain_int.h: erasure subject to legal retention (retain.c, P-DSR-4, P-RET-4), for subject.c
 * (the erasure and its certificate) and record.c (reading a kept record).
 *
 * The rule (docs/policy.md, "Erasure and legal retention"): a subject's record is kept after
 * its erasure when its collection's category is covered by a purpose of legal obligation whose
 * data use is `essential.legal_obligation` (a duty to keep, not one to disclose on demand), and
 * the category's retention has not run out for it (one counted from the subject's request is
 * a deadline to delete by, which the erasure meets: it keeps nothing). A kept record is sealed
 * again under the subject's retained key, readable only for a purpose whose basis is
 * `legal_obligation`, and deleted by the sweep at its category's date.
 */
#ifndef CU_RETAIN_INT_H
#define CU_RETAIN_INT_H

#include "core_int.h"
#include "policy.h"
#include "purpose_int.h"

/* The erased records of a collection the certificate counts exactly; above, it says "at least"
 * (counting them all would make the erasure's answer grow with them). */
#define CU_ERASE_COUNT_MAX 1000

/* One collection of an erased subject, as the certificate reports it. */
typedef struct cu_erase_line {
    char collection[CU_COLLECTION_MAX];
    const cu_policy_category *category; /* NULL: outside the policy */
    const cu_policy_purpose *duty;      /* the legal obligation that keeps it, NULL if none */
    uint64_t erased;                    /* records that go (at most CU_ERASE_COUNT_MAX, counted) */
    int at_least;                       /* more than CU_ERASE_COUNT_MAX go: erased is that bound */
    uint64_t kept;                      /* records kept (duty not NULL) */
    int64_t until;                      /* the latest deletion date of those kept; INT64_MAX:
                                           counted from an event still to come */
    cu_id *ids;                         /* the kept records' ids (kept of them) */
} cu_erase_line;

/* What one erasure erases and keeps, and the ops that keep it. */
typedef struct cu_erase_plan {
    const cu_policy *policy; /* a reference (cu_retain_plan_cleanup gives it back), or NULL */
    int64_t at;              /* the moment of erasure (unix seconds) */
    cu_erase_line *lines;
    size_t nlines;
    cu_store_op *ops; /* the retained key's KEY_PUT, one RECORD_RETAIN per kept record, one
                         ERASE_GUARD per kept collection; two slots more for the caller's
                         ERASURE_CERT and KEY_DELETE */
    size_t nops;
    uint64_t kept;
    char *certificate; /* the signed certificate the caller made of it, or NULL (freed by
                          cu_retain_plan_cleanup) */
} cu_erase_plan;

/* 1 if purpose pu is a legal duty to keep data (basis legal_obligation, data use
 * essential.legal_obligation or below it). */
int cu_retain_is_duty(const cu_policy_purpose *pu);
/* The first duty purpose of p that covers category c, NULL if none keeps it. */
const cu_policy_purpose *cu_retain_duty(const cu_policy *p, const cu_policy_category *c);
/* When a kept record of category c goes: its retention from its event (INT64_MAX while the
 * event, the subscription's end, has not come). created and updated are the record's, activity
 * its subject's last activity, terminated the tenant's end (0: active). */
int64_t cu_retain_until(const cu_policy_category *c, int64_t created, int64_t updated,
                        int64_t activity, int64_t terminated);
/* Plans the erasure of subject at time at: with keep, counts what it holds per collection and,
 * for what a duty keeps, makes the subject's retained key and seals each kept record again
 * under it, and guards each kept collection's count (P-RET-4); without (an erasure that keeps
 * nothing: P-AGE-2, the sweep's), only the counts (for the certificate) and the room for the
 * caller's two ops. Call with v->key_lock held for reading until the ops are committed. A
 * subject whose key is already gone keeps nothing. Release with cu_retain_plan_cleanup. */
cu_rc cu_retain_plan(cu_vault *v, cu_id tenant, cu_id subject, int64_t at, int keep,
                     cu_erase_plan *pl, cu_err *err);
void cu_retain_plan_cleanup(cu_vault *v, cu_erase_plan *pl);
/* P-RET-4: the purpose check for a record kept after its subject's erasure: only a purpose of
 * the policy whose basis is legal_obligation reaches it, with the gate's other checks (no
 * subject: it is gone); any other purpose finds nothing (CU_ERR_NOT_FOUND). ctx NULL: none. */
cu_rc cu_gate_retained(cu_vault *v, const cu_ctx *ctx, const cu_gate *g, const char *collection,
                       cu_err *err);

#ifdef CU_FAULT_INJECTION
/* Tests: called (if set) between an erasure's plan and its commit (subject.c). */
extern void (*cu_erase_plan_hook)(cu_vault *v, cu_id tenant, cu_id subject);
#endif

/* The signed erasure certificate of a committed plan (certificate.c): JSON text the caller
 * frees, signed with the vault's audit signing key; ids, names, counts and dates only. */
cu_rc cu_erase_certificate(cu_vault *v, cu_id tenant, cu_id subject, const cu_erase_plan *pl,
                           char **out, cu_err *err);

#endif
