/*
 * store_webhook.h: the webhook outbox's rows as the store reads and writes them (store.h
 * includes it; docs/webhooks.md, docs/store.md item 13). Kept apart so that store.h stays
 * within the size limit; it needs store.h's cu_blob, so include store.h, not this.
 */
#ifndef CU_STORE_WEBHOOK_H
#define CU_STORE_WEBHOOK_H

/* --- the webhook outbox (docs/webhooks.md, outbox.h) --------------------------------------- */

#define CU_WEBHOOK_URL_MAX 512   /* an endpoint's URL, with the NUL */
#define CU_WEBHOOK_TYPES_MAX 256 /* its event types, comma-separated or "*", with the NUL */
#define CU_WEBHOOK_TYPE_MAX 48   /* an event's type ("request.overdue"), with the NUL */
#define CU_WEBHOOK_ERROR_MAX 64  /* an attempt's error code ("timeout"), with the NUL */

/* Delivery states (webhook_deliveries.state). */
#define CU_WEBHOOK_PENDING 0   /* to send at next_at */
#define CU_WEBHOOK_DELIVERED 1 /* a 2xx answer came back */
#define CU_WEBHOOK_FAILED 2    /* given up after the last retry */
/* next_at of a delivery whose resend was asked while a try of it was in flight (claimed, its
 * lease running): that try's settle leaves it PENDING, due at the try's time, whatever the
 * try's outcome, so the resend is neither lost to the try nor sent twice at once. */
#define CU_WEBHOOK_RESEND_ASKED (-1)

/* A tenant's webhook endpoint. Its signing secret is sealed under the tenant data key
 * (key_version) like every other secret. */
/* What a CU_OP_WEBHOOK_ENDPOINT_PUT writes. Each part is its own write, so that a change of
 * one never writes back another's old value read before it (a rotated secret, a deleted
 * endpoint): NEW inserts (CU_ERR_CONFLICT if the id exists); SETTINGS sets url, types and
 * enabled, SECRET sets secret and key_version, of an endpoint that exists (else
 * CU_ERR_NOT_FOUND). */
enum { CU_WEBHOOK_PUT_NEW, CU_WEBHOOK_PUT_SETTINGS, CU_WEBHOOK_PUT_SECRET };

typedef struct cu_store_webhook_endpoint {
    cu_id tenant_id;
    cu_id id;
    int part; /* CU_WEBHOOK_PUT_*: an op's only */
    char url[CU_WEBHOOK_URL_MAX];
    char types[CU_WEBHOOK_TYPES_MAX]; /* "*" or "a,b": the event types it receives */
    int enabled;
    cu_blob secret;
    uint32_t key_version;
    int64_t created_at;
} cu_store_webhook_endpoint;

/* An event of the outbox: ids and names only, never a personal value. */
typedef struct cu_store_webhook_event {
    cu_id tenant_id;
    cu_id id; /* the webhook-id of every delivery and retry of it */
    char type[CU_WEBHOOK_TYPE_MAX];
    cu_blob payload; /* JSON object text (the event's data), not NUL-terminated */
    int64_t created_at;
} cu_store_webhook_event;

/* One event's delivery to one endpoint. */
typedef struct cu_store_webhook_delivery {
    cu_id tenant_id;
    cu_id event_id;
    cu_id endpoint_id;
    int state; /* CU_WEBHOOK_* */
    uint32_t attempts;
    int64_t next_at; /* unix seconds: when it is due (PENDING) */
} cu_store_webhook_delivery;

/* One attempt to deliver an event to an endpoint. */
typedef struct cu_store_webhook_attempt {
    cu_id tenant_id;
    cu_id event_id;
    cu_id endpoint_id;
    int64_t at;
    int status; /* the HTTP status, 0 if none came back */
    char error[CU_WEBHOOK_ERROR_MAX]; /* "" or a code: "timeout", "connect", ... */
} cu_store_webhook_attempt;

/* A delivery that is due, with what sending it needs (webhook_due). */
typedef struct cu_store_webhook_job {
    cu_store_webhook_delivery d;
    cu_store_webhook_event event;        /* its payload owned by the caller */
    cu_store_webhook_endpoint endpoint;  /* its secret owned by the caller */
} cu_store_webhook_job;

#endif
