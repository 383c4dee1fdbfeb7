/*
 * outbox_int.h: the webhook outbox's contract with the rest of the core (docs/webhooks.md).
 *
 * An event is a row the store writes in the same transaction as its cause: the module that
 * causes it fills one more cu_store_op with cu_outbox_event() and commits it in the same batch
 * (cu_commit's ops), so a cause that rolls back leaves no event, and a cause that commits leaves
 * one that the delivery worker (webhook_worker.c) sends to each of the tenant's endpoints that
 * take its type, retrying until a 2xx answer, under the same event id on every try.
 *
 * An event carries ids, names, states and times only, never a personal value: its data is what
 * a tenant's systems need to look the thing up through the API.
 *
 *     cu_store_op ops[2] = {cause_op};
 *     cJSON *data = cJSON_CreateObject();
 *     cJSON_AddStringToObject(data, "policy_version", "4");
 *     rc = cu_outbox_event(&ops[1], tenant, CU_EVENT_POLICY_SCHEDULED, 0, data, err);
 *     cJSON_Delete(data);
 *     if (rc == CU_OK)
 *         rc = cu_commit(v, ctx, ops, 2, &audit, 1, err);
 *     cu_store_op_cleanup(&ops[1]);
 */
#ifndef CU_OUTBOX_INT_H
#define CU_OUTBOX_INT_H

#include <cjson/cJSON.h>

#include "store.h"

/* Event types (the "type" of docs/webhooks.md). An endpoint subscribes to some or all ("*"). */
#define CU_EVENT_WEBHOOK_TEST "webhook.test"           /* an admin's test (POST .../test) */
#define CU_EVENT_REQUEST_DUE_SOON "request.due_soon"   /* a DSR's next deadline is near */
#define CU_EVENT_REQUEST_OVERDUE "request.overdue"     /* a DSR's next deadline has passed */
/* Wired by the policy and incident work (issue 13, items 1 to 5) through this same contract. */
#define CU_EVENT_POLICY_SCHEDULED "policy.version_scheduled" /* P-NOT-1 */
#define CU_EVENT_POLICY_IN_FORCE "policy.version_in_force"   /* P-NOT-1 */
#define CU_EVENT_CONSENT_NEEDED "consent.fresh_needed"       /* P-NOT-2 */
#define CU_EVENT_RECIPIENT_ADDED "policy.recipient_added"    /* P-NOT-3 */
#define CU_EVENT_INCIDENT_OPENED "incident.opened"           /* P-BRE-1 */
#define CU_EVENT_INCIDENT_NOTICE_DUE "incident.notice_due"   /* P-BRE-1 */

/* 1 if type is one of the types above (an endpoint may only subscribe to those). */
int cu_outbox_type_known(const char *type);

/* Fills *op (zeroed first) as the outbox event of `type` for tenant, with data, a JSON object of
 * ids and names (borrowed; printed into the op, which owns the copy), created now. id 0 gives a
 * fresh id; else id is the event's own, made by cu_outbox_id, and the store keeps the first
 * event added with it (one event however often its cause is seen). Commit the op in its
 * cause's batch; release it with cu_store_op_cleanup (also on failure). CU_ERR_INVALID for an
 * unknown type or data that is not an object. */
cu_rc cu_outbox_event(cu_store_op *op, cu_id tenant, const char *type, cu_id id,
                      const cJSON *data, cu_err *err);

/* The id of the event of `type` about object (a request's id, a policy version) at `at` (a
 * deadline, unix seconds): the same arguments give the same id, which starts with at, so ids
 * sort roughly by time. Fresh ids start with the creation time likewise. */
cu_id cu_outbox_id(cu_id tenant, const char *type, cu_id object, int64_t at);

#endif
