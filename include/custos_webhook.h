/*
 * custos_webhook.h: the core's webhook API (docs/webhooks.md): a tenant's endpoints, its
 * events with their deliveries and attempts, and the delivery worker's step, which the server
 * drives with a transport of its own (libcurl, src/http/webhook_send.c): the core opens no
 * socket. Ids, names, states and times only: an event never carries a personal value.
 */
#ifndef CUSTOS_WEBHOOK_H
#define CUSTOS_WEBHOOK_H

#include "custos.h"

#define CU_WEBHOOK_SECRET_MAX 64 /* "whsec_" and base64 of 24 bytes, with the NUL */
#define CU_WEBHOOK_SIG_MAX 64    /* "v1," and base64 of 32 bytes, with the NUL */

typedef struct cu_webhook_endpoint {
    cu_id id;
    char url[512];
    char types[256]; /* "*" or "a,b" */
    int enabled;
    int64_t created_at;
} cu_webhook_endpoint;

typedef struct cu_webhook_delivery {
    cu_id endpoint_id;
    int state; /* 0 pending, 1 delivered, 2 failed (cu_webhook_state_name) */
    uint32_t attempts;
    int64_t next_at;
} cu_webhook_delivery;

typedef struct cu_webhook_attempt {
    cu_id endpoint_id;
    int64_t at;
    int status;     /* the HTTP status, 0 if none came */
    char error[64]; /* "" or "timeout", "connect", ... */
} cu_webhook_attempt;

typedef struct cu_webhook_event {
    cu_id id;
    char type[48];
    int64_t created_at;
    char *data; /* the event's data, JSON object text (owned: cu_webhook_event_cleanup) */
    cu_webhook_delivery *deliveries; /* cu_webhook_event_get only */
    size_t ndeliveries;
    cu_webhook_attempt *attempts;
    size_t nattempts;
} cu_webhook_event;

/* "pending", "delivered", "failed". */
const char *cu_webhook_state_name(int state);
void cu_webhook_event_cleanup(cu_webhook_event *e);

/* Adds an endpoint for tenant: url is https:// (http:// to a loopback address in test builds
 * only), types "*" or a comma-separated list of known event types. Its signing secret, made
 * here, is written to secret once ("whsec_..."); the vault keeps it sealed. */
cu_rc cu_webhook_endpoint_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *url,
                                 const char *types, cu_id *id,
                                 char secret[CU_WEBHOOK_SECRET_MAX], cu_err *err);
/* Changes what is given: url and types (NULL: kept), enabled (-1: kept). */
cu_rc cu_webhook_endpoint_update(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                                 const char *url, const char *types, int enabled, cu_err *err);
/* A new secret, written to secret once; the old one signs nothing from now on. */
cu_rc cu_webhook_endpoint_rotate(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                                 char secret[CU_WEBHOOK_SECRET_MAX], cu_err *err);
cu_rc cu_webhook_endpoint_delete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                                 cu_err *err);
/* The tenant's endpoints (id 0) or one; caller frees *out. */
cu_rc cu_webhook_endpoint_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id,
                               cu_webhook_endpoint **out, size_t *n, cu_err *err);

/* Sends a webhook.test event to the tenant's endpoints that take it; its id into *event. */
cu_rc cu_webhook_test(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id *event, cu_err *err);
/* Up to limit events, newest first, with ids below before (0: from the newest). Release each
 * with cu_webhook_event_cleanup, then free *out. */
cu_rc cu_webhook_event_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id before,
                            size_t limit, cu_webhook_event **out, size_t *n, cu_err *err);
/* One event with its deliveries and attempts; release with cu_webhook_event_cleanup. */
cu_rc cu_webhook_event_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id event,
                           cu_webhook_event *out, cu_err *err);
/* Delivers the event again (same id) to one endpoint (0: every one it went to), due now. */
cu_rc cu_webhook_resend(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id event,
                        cu_id endpoint, cu_err *err);

/* Adds request.due_soon and request.overdue events for the tenant's open data-subject
 * requests whose next deadline is near or past at now: one event per request, kind and
 * deadline however often it is called (the sweep calls it). *added counts those due, added
 * now or before. */
cu_rc cu_webhook_request_events(cu_vault *v, cu_id tenant, int64_t now, size_t *added,
                                cu_err *err);

/* Deletes the tenant's events created more than CUSTOS_WEBHOOK_RETENTION_DAYS (30) before now
 * whose deliveries are all done (delivered or failed), with their deliveries and attempts,
 * oldest first, 500 per transaction, at most 10000 per call (the sweep calls it each time);
 * *batches counts the transactions that deleted some. */
cu_rc cu_webhook_prune(cu_vault *v, cu_id tenant, int64_t now, size_t *batches, cu_err *err);

/* --- delivery (the server's worker) ------------------------------------------------------- */

/* One message to send: POST body to url with the three Standard Webhooks headers. */
typedef struct cu_webhook_msg {
    const char *url;
    const char *id;        /* webhook-id: "evt_<id>", the same on every retry */
    int64_t timestamp;     /* webhook-timestamp: unix seconds of this attempt */
    const char *signature; /* webhook-signature: "v1,<base64>" */
    const char *body;
    size_t body_len;
} cu_webhook_msg;

/* A transport sends m and gives the HTTP status (0 if none) and an error code ("" if a status
 * came): "timeout", "connect", ... It must not follow redirects or keep the body. */
typedef void (*cu_webhook_transport)(void *arg, const cu_webhook_msg *m, int *status,
                                     char error[64]);

/* The retry schedule: the first retry base seconds after the first failure, doubling to at most
 * six hours, each +-20% at random; after max_attempts the delivery fails. */
typedef struct cu_webhook_retry {
    int64_t base;
    unsigned max_attempts;
    int64_t lease; /* seconds a claim lasts: above the transport's whole timeout */
} cu_webhook_retry;

/* Sends up to max due deliveries: each claimed through the store under holder (so that no two
 * workers or servers send one at once), signed, sent by fn, and settled (delivered on a 2xx,
 * else due again after the schedule's delay, or failed). *sent counts those tried. */
cu_rc cu_webhook_deliver_due(cu_vault *v, cu_id holder, size_t max, const cu_webhook_retry *r,
                             cu_webhook_transport fn, void *arg, size_t *sent, cu_err *err);

/* --- addresses (server-side request forgery; docs/webhooks.md, Addresses) ----------------- */

/* 1 if family (AF_INET: 4 bytes, AF_INET6: 16) and addr are a public unicast address: not
 * unspecified, loopback, link-local (169.254/16, the cloud metadata service; fe80::/10),
 * private (10/8, 172.16/12, 192.168/16; fc00::/7), CGNAT (100.64/10), multicast, reserved or
 * documentation ranges; an IPv6 form of an IPv4 address (mapped, NAT64, 6to4) by the IPv4
 * rule. */
int cu_webhook_addr_public(int family, const void *addr);
/* Whether a webhook may be sent there: a public address; in test builds loopback too, unless
 * the fault point "webhook.strict_addresses" is set. */
int cu_webhook_addr_allowed(int family, const void *addr);
/* Resolves url's host and checks every address it gives (cu_webhook_addr_allowed): CU_OK with
 * pin "host:port:addr,[addr6]" (CURLOPT_RESOLVE's form: connect there and nowhere else; "" if
 * the host is an address),
 * CU_ERR_INVALID if an address is not allowed, CU_ERR_NOT_FOUND if the host does not
 * resolve. pin: cap bytes, 600 are enough. */
cu_rc cu_webhook_url_resolve(const char *url, char *pin, size_t cap, cu_err *err);

/* The Standard Webhooks signature of (id, timestamp, body) under secret ("whsec_<base64>"):
 * "v1,<base64 HMAC-SHA256 over id.timestamp.body>". CU_ERR_INVALID for a malformed secret. */
cu_rc cu_webhook_sign(const char *secret, const char *id, int64_t timestamp, const char *body,
                      size_t len, char out[CU_WEBHOOK_SIG_MAX], cu_err *err);

#endif
