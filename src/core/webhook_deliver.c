/*
 * webhook_deliver.c: the delivery worker's step and the Standard Webhooks signature
 * (custos_webhook.h, docs/webhooks.md).
 *
 * A delivery is sent by one worker at a time: it is claimed through the store (a lease in its
 * row, CU_OP_WEBHOOK_CLAIM) before it is sent, and settled (CU_OP_WEBHOOK_ATTEMPT) only while
 * the claim holds. A worker that dies mid-send leaves the lease to lapse, and the delivery is
 * sent again under the same webhook-id: at least once, never lost; receivers drop a repeated
 * id (the Standard Webhooks rule), and Custos never makes two ids for one event. The body is
 * the same bytes on every try; webhook-timestamp is the try's own time, as the standard says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "custos_webhook.h"
#include "util.h"
#include "webhook_int.h"

#define BODY_MAX (64 * 1024)
#define DELAY_CAP (6 * 3600)

cu_rc cu_webhook_sign(const char *secret, const char *id, int64_t timestamp, const char *body,
                      size_t len, char out[CU_WEBHOOK_SIG_MAX], cu_err *err)
{
    uint8_t key[64], mac[CU_HASHBYTES];
    size_t klen = 0, idlen = strlen(id);
    char ts[24];
    int tslen = snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
    size_t mlen = idlen + 1 + (size_t)tslen + 1 + len;
    uint8_t *msg;
    cu_rc rc;

    if (strncmp(secret, "whsec_", 6) != 0 ||
        cu_b64_decode(secret + 6, strlen(secret + 6), key, sizeof(key), &klen) != CU_OK ||
        klen == 0)
        return cu_err_set(err, CU_ERR_INVALID, "a webhook secret is whsec_ and base64");
    if ((msg = malloc(mlen)) == NULL) {
        cu_wipe(key, sizeof(key));
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    /* id.timestamp.body */
    memcpy(msg, id, idlen);
    msg[idlen] = '.';
    memcpy(msg + idlen + 1, ts, (size_t)tslen);
    msg[idlen + 1 + (size_t)tslen] = '.';
    memcpy(msg + idlen + 2 + (size_t)tslen, body, len);
    cu_hmac_sha256(key, klen, msg, mlen, mac);
    cu_wipe(key, sizeof(key));
    free(msg);
    memcpy(out, "v1,", 3);
    rc = cu_b64_encode(mac, sizeof(mac), out + 3, CU_WEBHOOK_SIG_MAX - 3);
    return rc == CU_OK ? CU_OK : cu_err_set(err, rc, "could not encode a signature");
}

/* The body every try of the event sends: {"type", "timestamp" (its creation, RFC 3339), "data"}. */
static char *event_body(const cu_store_webhook_event *e)
{
    char ts[32], *out = NULL;
    time_t t = (time_t)e->created_at;
    struct tm tm;
    size_t cap = e->payload.len + sizeof(e->type) + 96;

    if (e->payload.len > BODY_MAX || (out = malloc(cap)) == NULL)
        return NULL;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, cap, "{\"type\":\"%s\",\"timestamp\":\"%s\",\"data\":%.*s}", e->type, ts,
             (int)e->payload.len, (const char *)e->payload.data);
    return out;
}

/* The delay before retry number n (1: after the first failure): base doubling up to the cap,
 * then +-20% at random, so that endpoints that failed together are not retried together. */
static int64_t retry_delay(const cu_webhook_retry *r, uint32_t n)
{
    int64_t d = r->base > 0 ? r->base : 1;
    uint32_t jitter;

    for (uint32_t i = 1; i < n && d < DELAY_CAP; i++)
        d *= 2;
    if (d > DELAY_CAP)
        d = DELAY_CAP;
    cu_random(&jitter, sizeof(jitter));
    d += (d * (int64_t)(jitter % 41) - d * 20) / 100;
    return d > 0 ? d : 1;
}

static cu_rc claim(cu_vault *v, const cu_store_webhook_job *j, cu_id holder, int64_t now,
                   const cu_webhook_retry *r, cu_err *err)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_CLAIM};

    op.u.webhook_claim.tenant_id = j->d.tenant_id;
    op.u.webhook_claim.event_id = j->d.event_id;
    op.u.webhook_claim.endpoint_id = j->d.endpoint_id;
    op.u.webhook_claim.holder = holder;
    op.u.webhook_claim.now = now;
    op.u.webhook_claim.until = now + (r->lease > 0 ? r->lease : 60);
    return cu_store_apply(v->store, &op, 1, err);
}

/* Records the try and where the delivery goes next. */
static cu_rc settle(cu_vault *v, const cu_store_webhook_job *j, cu_id holder, int64_t at,
                    int status, const char *error, const cu_webhook_retry *r, cu_err *err)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_ATTEMPT};
    uint32_t tries = j->d.attempts + 1;

    op.u.webhook_attempt.a.tenant_id = j->d.tenant_id;
    op.u.webhook_attempt.a.event_id = j->d.event_id;
    op.u.webhook_attempt.a.endpoint_id = j->d.endpoint_id;
    op.u.webhook_attempt.a.at = at;
    op.u.webhook_attempt.a.status = status;
    snprintf(op.u.webhook_attempt.a.error, sizeof(op.u.webhook_attempt.a.error), "%s", error);
    op.u.webhook_attempt.holder = holder;
    if (status >= 200 && status < 300) {
        op.u.webhook_attempt.state = CU_WEBHOOK_DELIVERED;
    } else if (tries >= r->max_attempts) {
        op.u.webhook_attempt.state = CU_WEBHOOK_FAILED;
    } else {
        op.u.webhook_attempt.state = CU_WEBHOOK_PENDING;
        op.u.webhook_attempt.next_at = cu_clock_now() + retry_delay(r, tries);
    }
    return cu_store_apply(v->store, &op, 1, err);
}

/* Signs and sends one claimed delivery, then settles it. */
static cu_rc send_one(cu_vault *v, const cu_store_webhook_job *j, cu_id holder,
                      const cu_webhook_retry *r, cu_webhook_transport fn, void *arg, cu_err *err)
{
    char id[8 + CU_ID_STRLEN], sig[CU_WEBHOOK_SIG_MAX], error[64] = "";
    char *secret = NULL, *body = event_body(&j->event);
    cu_webhook_msg m = {.url = j->endpoint.url, .id = id, .signature = sig};
    int status = 0;
    cu_rc rc;

    if (body == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    snprintf(id, sizeof(id), "evt_%llu", (unsigned long long)j->event.id);
    m.timestamp = cu_clock_now();
    m.body = body;
    m.body_len = strlen(body);
    rc = cu_webhook_secret_open(v, &j->endpoint, &secret, err);
    if (rc == CU_OK)
        rc = cu_webhook_sign(secret, id, m.timestamp, body, m.body_len, sig, err);
    cu_str_wipe(secret);
    free(secret);
    if (rc == CU_OK)
        fn(arg, &m, &status, error);
    else /* a secret that cannot be opened (its key destroyed): a failed try, retried */
        snprintf(error, sizeof(error), "%s", cu_rc_name(rc));
    free(body);
    return settle(v, j, holder, m.timestamp, status, error, r, err);
}

cu_rc cu_webhook_deliver_due(cu_vault *v, cu_id holder, size_t max, const cu_webhook_retry *r,
                             cu_webhook_transport fn, void *arg, size_t *sent, cu_err *err)
{
    cu_store_webhook_job *jobs = NULL;
    size_t n = 0;
    int64_t now = cu_clock_now();
    cu_rc rc = cu_store_webhook_due(v->store, now, max, &jobs, &n, err);

    *sent = 0;
    for (size_t i = 0; rc == CU_OK && i < n; i++) {
        cu_err e = {0};
        /* Another worker or server took it first: not ours to send. */
        if (claim(v, &jobs[i], holder, now, r, &e) != CU_OK)
            continue;
        rc = send_one(v, &jobs[i], holder, r, fn, arg, &e);
        if (rc == CU_ERR_CONFLICT) /* the claim lapsed and was taken: its try is the other's */
            rc = CU_OK;
        if (rc != CU_OK && err != NULL)
            *err = e;
        (*sent)++;
    }
    cu_store_webhook_jobs_free(jobs, n);
    return rc;
}
