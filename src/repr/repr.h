/*
 * repr.h: the face of src/repr/, the JSON views of what the core returns.
 *
 * One place makes each document, so the API (src/http), the CLI (src/cli) and the coming web
 * portal answer and print the same shapes. This layer sits on the core's public API
 * (include/custos.h) and cJSON: it knows nothing of HTTP, sockets or the terminal, and holds
 * no rule of the vault (docs/architecture.md).
 *
 * Builders return a tree the caller owns (cJSON_Delete). Ids and seqs are decimal strings;
 * times RFC 3339 UTC (whole seconds for the data views, milliseconds for the audit log);
 * hashes, signatures and keys lowercase hex.
 */
#ifndef CU_REPR_H
#define CU_REPR_H

#include <stddef.h>
#include <stdint.h>

#include "custos.h"
#include "custos_disclosure.h"
#include "custos_webhook.h"

struct cJSON;

/* --- members and the data views ------------------------------------------------------------ */

/* Adds an id as a decimal string member, and a unix time as an RFC 3339 UTC string member. */
void cu_repr_add_id(struct cJSON *o, const char *name, cu_id id);
void cu_repr_add_time(struct cJSON *o, const char *name, int64_t t);

/* The documents of tenants, subjects, records and id lists. */
struct cJSON *cu_repr_tenant_json(const cu_tenant *t);
struct cJSON *cu_repr_subject_json(const cu_subject *s);
struct cJSON *cu_repr_record_json(const cu_record *r);
/* A record's document as text, its len bytes the compact print of cu_repr_record_json(r), with
 * r->json (compact JSON, as a record's open gives it) put in as it is: no tree of the document
 * nor of its metadata (issue 17: they were 3.5% of an audited read). The caller frees it; NULL
 * on allocation failure. */
char *cu_repr_record_text(const cu_record *r, size_t *len);
struct cJSON *cu_repr_ids_json(const cu_id *ids, size_t n);
/* A backup (its manifest's facts), and what a restore or verify checked (repr_backup.c). */
struct cJSON *cu_repr_backup_json(const cu_backup_info *b);
struct cJSON *cu_repr_restore_json(const cu_restore_report *r);
/* A legal hold with its reasons. */
struct cJSON *cu_repr_hold_json(const cu_hold *h);
/* A data-subject request (repr_request.c), and what filing one answers: its id, due dates and
 * the subject's verification token (given once). */
struct cJSON *cu_repr_request_json(const cu_request *q);
struct cJSON *cu_repr_request_filed_json(const cu_request_filed *f);
/* A disclosure row (repr_disclosure.c, P-SHR-1). */
struct cJSON *cu_repr_disclosure_json(const cu_disclosure *d);
/* A sweep's report: counts only. */
struct cJSON *cu_repr_sweep_json(const cu_sweep_report *rep);

/* --- the audit log's forms (docs/audit.md) -------------------------------------------------
 * What the API answers and `custos audit` prints, so that both export the same document. Each
 * returns NULL when out of memory (a member that could not be added fails the whole form). An
 * entry's text members are exactly what was hashed. */

/* Parses a time: unix milliseconds (1 to 15 digits), a date YYYY-MM-DD (midnight UTC), or RFC
 * 3339 YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), from 1970 to 9999; a space stands for
 * the offset's "+" (what an unencoded "+" in a URL query decodes to). The fraction is cut to
 * milliseconds. Returns CU_OK with *ms set, or CU_ERR_INVALID. */
cu_rc cu_repr_time_parse(const char *s, int64_t *ms);
/* Writes unix milliseconds as "2026-11-23T18:32:25.123Z". */
void cu_repr_time_format(int64_t ms, char out[32]);

/* One entry: its twelve members, in the order of the canonical encoding, and "digest" for a
 * record write's (format 2). */
struct cJSON *cu_repr_audit_entry_json(const cu_audit_entry *e);
/* {"entries": [...], "next": the last seq when the page is full (n == limit), else null}. */
struct cJSON *cu_repr_audit_page_json(const cu_audit_entry *e, size_t n, size_t limit);
/* {"accesses": [{seq, at, actor, action, object, purpose}], "next"}: a subject's accesses
 * (cu_audit_subject_list), "next" as in cu_repr_audit_page_json. */
struct cJSON *cu_repr_access_page_json(const cu_audit_entry *e, size_t n, size_t limit);
/* {"tenant_id", "seq", "at", "hash", "signature", "anchor"}. */
struct cJSON *cu_repr_audit_checkpoint_json(const cu_audit_checkpoint *c);
/* {"tenant_id", "algorithm": "Ed25519", "public_key", "checkpoints": [...]}: everything a
 * tenant needs to check the signatures without Custos. */
struct cJSON *cu_repr_audit_export_json(cu_id tenant, const uint8_t pk[32],
                                        const cu_audit_checkpoint *c, size_t n);
/* {"ok", "entries", "checkpoints", "first_bad_seq" (string or null), "problem" (or null),
 * "pruned_through" (string or null)}. */
struct cJSON *cu_repr_audit_report_json(const cu_audit_report *rep);
/* Reads checkpoints kept outside the vault (docs/audit.md): an export document, one
 * checkpoint (the answer of POST .../audit/checkpoints), or an array of either. The export's
 * public_key, if any, goes to pk (*has_pk 1). Caller frees *out. CU_ERR_INVALID if the text
 * is none of these or holds no checkpoint. */
cu_rc cu_repr_audit_held_parse(const char *text, cu_audit_checkpoint **out, size_t *n,
                               uint8_t pk[32], int *has_pk);

/* --- policy versions (repr_policy.c) ------------------------------------------------------ */

/* {material, changes: [{area, change, material}], purposes_changed: [...]}. */
struct cJSON *cu_repr_policy_diff_json(const cu_policy_diff *d);
/* A fresh list ("a,b", "*" or "") as an array of purpose names ("*" stays "*"). */
struct cJSON *cu_repr_fresh_json(const char *list);
/* Adds version_in_force and pending ({version, bound_at, effective_at, fresh_consent} or null)
 * to o. */
void cu_repr_policy_state_add(struct cJSON *o, const cu_policy_state *st);
/* P-CON-5: the policy's never-promises by name ("sale", ...). */
struct cJSON *cu_repr_policy_never_json(const cu_policy *p);

/* --- webhooks (repr_webhook.c) ------------------------------------------------------------- */

/* An endpoint without its secret; an event (with its deliveries and attempts if deliveries). */
struct cJSON *cu_repr_webhook_endpoint_json(const cu_webhook_endpoint *e);
struct cJSON *cu_repr_webhook_event_json(const cu_webhook_event *ev, int deliveries);

#endif
