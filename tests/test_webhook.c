/*
 * test_webhook.c: the webhook outbox below the server (docs/webhooks.md): the store's contract
 * on the vault's backend (SQLite, and PostgreSQL in the suite's second pass): an event rides in
 * its cause's transaction (a cause rolled back leaves none, P-NOT-1's notice is never sent for
 * a change that did not happen), is added once under its id, fans out only to the tenant's own
 * endpoints that take its type, and a delivery is sent by one claimant at a time; the retry
 * schedule on the settable clock (exponential backoff with jitter, then failed for good); and
 * the Standard Webhooks signature against the standard's own test vector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "custos_webhook.h"
#include "store.h"
#include "th.h"

typedef struct fx {
    char dir[256];
    char loc[512];
    cu_store *s;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_store_op t[2] = {{.type = CU_OP_TENANT_PUT}, {.type = CU_OP_TENANT_PUT}};
    cu_err err = {0};

    th_tmpdir(f->dir);
    th_store_location(f->dir, f->loc, sizeof(f->loc));
    assert_int_equal(cu_store_open(f->loc, &f->s, &err), CU_OK);
    for (int i = 0; i < 2; i++) {
        t[i].u.tenant.id = (cu_id)(i + 1);
        snprintf(t[i].u.tenant.name, sizeof(t[i].u.tenant.name), "t%d", i + 1);
        t[i].u.tenant.created_at = 1700000000;
    }
    assert_int_equal(cu_store_apply(f->s, t, 2, &err), CU_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_store_close(f->s);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static cu_store_op endpoint_op(cu_id tenant, cu_id id, const char *types, int enabled)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_ENDPOINT_PUT};
    static uint8_t sealed[16] = {1, 2, 3};

    op.u.webhook_endpoint.tenant_id = tenant;
    op.u.webhook_endpoint.id = id;
    snprintf(op.u.webhook_endpoint.url, sizeof(op.u.webhook_endpoint.url),
             "https://hooks.example/%llu", (unsigned long long)id);
    snprintf(op.u.webhook_endpoint.types, sizeof(op.u.webhook_endpoint.types), "%s", types);
    op.u.webhook_endpoint.enabled = enabled;
    op.u.webhook_endpoint.secret = (cu_blob){sealed, sizeof(sealed)};
    op.u.webhook_endpoint.key_version = 1;
    op.u.webhook_endpoint.created_at = 1700000000 + (int64_t)id;
    return op;
}

static cu_store_op event_op(cu_id tenant, cu_id id, const char *type)
{
    static char payload[] = "{\"request_id\":\"7\"}";
    cu_store_op op = {.type = CU_OP_WEBHOOK_EVENT};

    op.u.webhook_event.tenant_id = tenant;
    op.u.webhook_event.id = id;
    snprintf(op.u.webhook_event.type, sizeof(op.u.webhook_event.type), "%s", type);
    op.u.webhook_event.payload = (cu_blob){(uint8_t *)payload, strlen(payload)};
    op.u.webhook_event.created_at = 1800000000;
    return op;
}

static cu_rc apply1(fx *f, cu_store_op op)
{
    cu_err err = {0};

    return cu_store_apply(f->s, &op, 1, &err);
}

static size_t events_of(fx *f, cu_id tenant)
{
    cu_store_webhook_event *e = NULL;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_webhook_events(f->s, tenant, 0, 0, 100, &e, &n, &err), CU_OK);
    cu_store_webhook_events_free(e, n);
    return n;
}

static size_t deliveries_of(fx *f, cu_id tenant, cu_id event, cu_store_webhook_delivery *first)
{
    cu_store_webhook_delivery *d = NULL;
    cu_store_webhook_attempt *a = NULL;
    size_t n = 0, na = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_webhook_deliveries(f->s, tenant, event, &d, &n, &a, &na, &err),
                     CU_OK);
    if (first != NULL && n > 0)
        *first = d[0];
    free(d);
    free(a);
    return n;
}

/* P-NOT-1: the notice of a change exists only if the change does: the event is written in the
 * cause's batch, and a batch that fails leaves neither. */
static void test_P_NOT_1_event_rolls_back_with_its_cause(void **state)
{
    fx *f = *state;
    cu_store_op ops[2];
    cu_err err = {0};

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    ops[0] = event_op(1, 100, "webhook.test");
    ops[1] = (cu_store_op){.type = CU_OP_WEBHOOK_ENDPOINT_DELETE}; /* no such endpoint: fails */
    ops[1].u.del.tenant_id = 1;
    ops[1].u.del.id = 999;
    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(events_of(f, 1), 0);
    assert_int_equal(deliveries_of(f, 1, 100, NULL), 0);
    /* The same cause committing: its event and a delivery to the endpoint. */
    ops[1] = endpoint_op(1, 12, "policy.version_scheduled", 0);
    assert_int_equal(cu_store_apply(f->s, ops, 2, &err), CU_OK);
    assert_int_equal(events_of(f, 1), 1);
    assert_int_equal(deliveries_of(f, 1, 100, NULL), 1);
}

/* An event with a derived id (the sweep's) is stored once however often it is added. */
static void test_event_with_one_id_is_added_once(void **state)
{
    fx *f = *state;

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, event_op(1, 200, "request.overdue")), CU_OK);
    assert_int_equal(apply1(f, event_op(1, 200, "request.overdue")), CU_OK);
    assert_int_equal(events_of(f, 1), 1);
    assert_int_equal(deliveries_of(f, 1, 200, NULL), 1);
}

/* P-ISO-1: an event goes to its own tenant's endpoints only, and among them to the enabled ones
 * whose types name it. */
static void test_P_ISO_1_event_fans_out_to_its_tenants_endpoints_only(void **state)
{
    fx *f = *state;
    cu_store_webhook_delivery *d = NULL;
    cu_store_webhook_attempt *a = NULL;
    size_t n = 0, na = 0;
    cu_err err = {0};

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, endpoint_op(1, 12, "request.overdue,webhook.test", 1)), CU_OK);
    assert_int_equal(apply1(f, endpoint_op(1, 13, "request.due_soon", 1)), CU_OK);
    assert_int_equal(apply1(f, endpoint_op(1, 14, "*", 0)), CU_OK);
    assert_int_equal(apply1(f, endpoint_op(2, 21, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, event_op(1, 300, "webhook.test")), CU_OK);
    assert_int_equal(cu_store_webhook_deliveries(f->s, 1, 300, &d, &n, &a, &na, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d[0].endpoint_id, 11);
    assert_int_equal(d[1].endpoint_id, 12);
    free(d);
    free(a);
    assert_int_equal(deliveries_of(f, 2, 300, NULL), 0);
    assert_int_equal(events_of(f, 2), 0);
}

static cu_store_op claim_op(cu_id holder, int64_t now)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_CLAIM};

    op.u.webhook_claim.tenant_id = 1;
    op.u.webhook_claim.event_id = 400;
    op.u.webhook_claim.endpoint_id = 11;
    op.u.webhook_claim.holder = holder;
    op.u.webhook_claim.now = now;
    op.u.webhook_claim.until = now + 60;
    return op;
}

static cu_store_op attempt_op(cu_id holder, int status, int state, int64_t next_at)
{
    cu_store_op op = {.type = CU_OP_WEBHOOK_ATTEMPT};

    op.u.webhook_attempt.a.tenant_id = 1;
    op.u.webhook_attempt.a.event_id = 400;
    op.u.webhook_attempt.a.endpoint_id = 11;
    op.u.webhook_attempt.a.at = 1800000001;
    op.u.webhook_attempt.a.status = status;
    op.u.webhook_attempt.holder = holder;
    op.u.webhook_attempt.state = state;
    op.u.webhook_attempt.next_at = next_at;
    return op;
}

static size_t due_at(fx *f, int64_t now)
{
    cu_store_webhook_job *j = NULL;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_webhook_due(f->s, now, 10, &j, &n, &err), CU_OK);
    if (n > 0) {
        assert_string_equal(j[0].endpoint.url, "https://hooks.example/11");
        assert_int_equal(j[0].endpoint.secret.len, 16);
        assert_int_equal(j[0].event.payload.len, strlen("{\"request_id\":\"7\"}"));
    }
    cu_store_webhook_jobs_free(j, n);
    return n;
}

/* Two servers on one database never send one delivery at once: a claim holds it until its
 * lease ends, only the claimant settles it, and a failed try is due again at its next time. */
static void test_delivery_is_claimed_by_one_holder_at_a_time(void **state)
{
    fx *f = *state;
    const int64_t t0 = 1800000000;
    cu_store_webhook_delivery d;

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, event_op(1, 400, "webhook.test")), CU_OK);
    assert_int_equal(due_at(f, t0), 1);
    assert_int_equal(apply1(f, claim_op(7, t0)), CU_OK);
    assert_int_equal(due_at(f, t0 + 1), 0); /* leased */
    assert_int_equal(apply1(f, claim_op(8, t0 + 1)), CU_ERR_CONFLICT);
    assert_int_equal(apply1(f, attempt_op(8, 200, CU_WEBHOOK_DELIVERED, 0)), CU_ERR_CONFLICT);
    /* The claimant's try failed (500): due again at t0 + 5, unleased. */
    assert_int_equal(apply1(f, attempt_op(7, 500, CU_WEBHOOK_PENDING, t0 + 5)), CU_OK);
    assert_int_equal(deliveries_of(f, 1, 400, &d), 1);
    assert_int_equal(d.state, CU_WEBHOOK_PENDING);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(due_at(f, t0 + 4), 0);
    assert_int_equal(due_at(f, t0 + 5), 1);
    /* A claim that lapsed (its holder died) is taken over; the dead holder settles nothing. */
    assert_int_equal(apply1(f, claim_op(7, t0 + 5)), CU_OK);
    assert_int_equal(apply1(f, claim_op(8, t0 + 70)), CU_OK);
    assert_int_equal(apply1(f, attempt_op(7, 200, CU_WEBHOOK_DELIVERED, 0)), CU_ERR_CONFLICT);
    assert_int_equal(apply1(f, attempt_op(8, 200, CU_WEBHOOK_DELIVERED, 0)), CU_OK);
    assert_int_equal(deliveries_of(f, 1, 400, &d), 1);
    assert_int_equal(d.state, CU_WEBHOOK_DELIVERED);
    assert_int_equal(d.attempts, 2);
    assert_int_equal(due_at(f, t0 + 10000), 0);
    /* A resend makes it due again (same event, same id). */
    {
        cu_store_op op = claim_op(0, t0 + 100);
        op.type = CU_OP_WEBHOOK_RESEND;
        assert_int_equal(apply1(f, op), CU_OK);
        op.u.webhook_claim.event_id = 401;
        assert_int_equal(apply1(f, op), CU_ERR_NOT_FOUND);
    }
    assert_int_equal(due_at(f, t0 + 100), 1);
}

/* A resend that comes while a try is in flight (claimed, lease running) is neither lost to that
 * try's settle (delivered or failed) nor sent beside it: the try settles and counts once, the
 * delivery is due again at once, and a second claimant still waits for the first. */
static void test_resend_during_a_try_in_flight_is_kept(void **state)
{
    fx *f = *state;
    const int64_t t0 = 1800000000;
    cu_store_op resend = claim_op(0, t0 + 1);
    cu_store_webhook_delivery d;

    resend.type = CU_OP_WEBHOOK_RESEND;
    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, event_op(1, 400, "webhook.test")), CU_OK);
    assert_int_equal(apply1(f, claim_op(7, t0)), CU_OK);
    assert_int_equal(apply1(f, resend), CU_OK); /* while 7's try is in flight */
    assert_int_equal(due_at(f, t0 + 1), 0);      /* still 7's alone */
    assert_int_equal(apply1(f, claim_op(8, t0 + 1)), CU_ERR_CONFLICT);
    /* 7's try succeeds: counted once, and the resend still stands, due at once. */
    assert_int_equal(apply1(f, attempt_op(7, 200, CU_WEBHOOK_DELIVERED, 0)), CU_OK);
    assert_int_equal(deliveries_of(f, 1, 400, &d), 1);
    assert_int_equal(d.state, CU_WEBHOOK_PENDING);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.next_at, 1800000001); /* the try's time */
    assert_int_equal(due_at(f, t0 + 2), 1);
    assert_int_equal(apply1(f, claim_op(8, t0 + 2)), CU_OK);
    assert_int_equal(apply1(f, attempt_op(8, 200, CU_WEBHOOK_DELIVERED, 0)), CU_OK);
    assert_int_equal(deliveries_of(f, 1, 400, &d), 1);
    assert_int_equal(d.state, CU_WEBHOOK_DELIVERED);
    assert_int_equal(d.attempts, 2);
    /* The same with a try that failed for good: the resend wins over "failed". */
    assert_int_equal(apply1(f, (resend.u.webhook_claim.now = t0 + 3, resend)), CU_OK);
    assert_int_equal(apply1(f, claim_op(9, t0 + 3)), CU_OK);
    resend.u.webhook_claim.now = t0 + 4;
    assert_int_equal(apply1(f, resend), CU_OK);
    assert_int_equal(apply1(f, attempt_op(9, 500, CU_WEBHOOK_FAILED, 0)), CU_OK);
    assert_int_equal(deliveries_of(f, 1, 400, &d), 1);
    assert_int_equal(d.state, CU_WEBHOOK_PENDING);
    assert_int_equal(d.attempts, 3);
    /* Without a try in flight (a lapsed lease is none), a resend is due at its own time. */
    assert_int_equal(apply1(f, claim_op(9, t0 + 5)), CU_OK);
    resend.u.webhook_claim.now = t0 + 100; /* 9's lease ended at t0 + 65 */
    assert_int_equal(apply1(f, resend), CU_OK);
    assert_int_equal(deliveries_of(f, 1, 400, &d), 1);
    assert_int_equal(d.next_at, t0 + 100);
}

/* WEBHOOK_PRUNE: up to limit of a tenant's events older than `before` whose deliveries are all
 * done, oldest first, with their deliveries and attempts; a pending one, a young one and the
 * other tenant's stay. */
static void test_prune_drops_old_done_events_in_batches(void **state)
{
    fx *f = *state;
    cu_store_op prune = {.type = CU_OP_WEBHOOK_PRUNE};
    cu_store_op ev;
    cu_store_webhook_delivery d;

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, endpoint_op(2, 21, "*", 1)), CU_OK);
    /* 400 and 401 delivered, 402 pending, 403 delivered but young; 500: tenant 2's, done. */
    for (cu_id id = 400; id <= 403; id++) {
        ev = event_op(1, id, "webhook.test");
        ev.u.webhook_event.created_at = id == 403 ? 1800100000 : 1800000000;
        assert_int_equal(apply1(f, ev), CU_OK);
        if (id == 402)
            continue;
        cu_store_op c = claim_op(7, 1800200000), a = attempt_op(7, 200, CU_WEBHOOK_DELIVERED, 0);
        c.u.webhook_claim.event_id = a.u.webhook_attempt.a.event_id = id;
        assert_int_equal(apply1(f, c), CU_OK);
        assert_int_equal(apply1(f, a), CU_OK);
    }
    ev = event_op(2, 500, "webhook.test");
    assert_int_equal(apply1(f, ev), CU_OK);
    prune.u.webhook_prune.tenant_id = 1;
    prune.u.webhook_prune.before = 1800050000;
    prune.u.webhook_prune.limit = 1;
    assert_int_equal(apply1(f, prune), CU_OK); /* the oldest first: 400 alone */
    assert_int_equal(events_of(f, 1), 3);
    assert_int_equal(deliveries_of(f, 1, 400, NULL), 0);
    assert_int_equal(deliveries_of(f, 1, 401, NULL), 1);
    {
        cu_store_webhook_delivery *dd = NULL;
        cu_store_webhook_attempt *aa = NULL;
        size_t nd = 0, na = 0;
        cu_err err = {0};
        assert_int_equal(cu_store_webhook_deliveries(f->s, 1, 400, &dd, &nd, &aa, &na, &err), CU_OK);
        assert_int_equal(na, 0); /* its attempt went with it */
        free(dd);
        free(aa);
        assert_int_equal(cu_store_webhook_deliveries(f->s, 1, 401, &dd, &nd, &aa, &na, &err), CU_OK);
        assert_int_equal(na, 1);
        free(dd);
        free(aa);
    }
    assert_int_equal(apply1(f, prune), CU_OK); /* 401 */
    assert_int_equal(apply1(f, prune), CU_ERR_NOT_FOUND); /* 402 pending, 403 young */
    assert_int_equal(events_of(f, 1), 2);
    assert_int_equal(deliveries_of(f, 1, 402, &d), 1);
    assert_int_equal(d.state, CU_WEBHOOK_PENDING);
    assert_int_equal(events_of(f, 2), 1);
    prune.u.webhook_prune.limit = 0;
    assert_int_equal(apply1(f, prune), CU_ERR_INVALID);
}

/* A deleted endpoint's pending deliveries go with it; its sent ones stay listed. */
static void test_endpoint_delete_drops_its_pending_deliveries(void **state)
{
    fx *f = *state;
    cu_store_op del = {.type = CU_OP_WEBHOOK_ENDPOINT_DELETE};

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, event_op(1, 400, "webhook.test")), CU_OK);
    del.u.del.tenant_id = 1;
    del.u.del.id = 11;
    assert_int_equal(apply1(f, del), CU_OK);
    assert_int_equal(apply1(f, del), CU_ERR_NOT_FOUND);
    assert_int_equal(deliveries_of(f, 1, 400, NULL), 0);
    assert_int_equal(due_at(f, 1900000000), 0);
}

/* Each part of an endpoint is written alone (store_webhook.h): a settings change made from an
 * older read never writes back the secret a rotation replaced meanwhile, and neither brings
 * back an endpoint deleted meanwhile; a new endpoint never replaces one. */
static void test_endpoint_parts_never_write_back_an_older_read(void **state)
{
    fx *f = *state;
    cu_store_op settings = endpoint_op(1, 11, "webhook.test", 0);
    cu_store_op secret = endpoint_op(1, 11, "*", 1);
    cu_store_op del = {.type = CU_OP_WEBHOOK_ENDPOINT_DELETE};
    static uint8_t rotated[16] = {9, 9, 9};
    cu_store_webhook_endpoint *e = NULL;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_ERR_CONFLICT);
    secret.u.webhook_endpoint.part = CU_WEBHOOK_PUT_SECRET;
    secret.u.webhook_endpoint.secret = (cu_blob){rotated, sizeof(rotated)};
    secret.u.webhook_endpoint.key_version = 2;
    assert_int_equal(apply1(f, secret), CU_OK);
    settings.u.webhook_endpoint.part = CU_WEBHOOK_PUT_SETTINGS; /* read before the rotation */
    assert_int_equal(apply1(f, settings), CU_OK);
    assert_int_equal(cu_store_webhook_endpoints(f->s, 1, 11, &e, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].types, "webhook.test");
    assert_int_equal(e[0].enabled, 0);
    assert_int_equal(e[0].key_version, 2);
    assert_memory_equal(e[0].secret.data, rotated, sizeof(rotated));
    cu_store_webhook_endpoints_free(e, n);
    del.u.del.tenant_id = 1;
    del.u.del.id = 11;
    assert_int_equal(apply1(f, del), CU_OK);
    assert_int_equal(apply1(f, settings), CU_ERR_NOT_FOUND);
    assert_int_equal(apply1(f, secret), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_store_webhook_endpoints(f->s, 1, 0, &e, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    cu_store_webhook_endpoints_free(e, n);
}

/* P-RET-2: a tenant's end takes its webhook endpoints and its outbox with it; another
 * tenant's stay. */
static void test_P_RET_2_tenant_close_drops_its_webhooks(void **state)
{
    fx *f = *state;
    cu_store_webhook_endpoint *e = NULL;
    cu_store_op close = {.type = CU_OP_TENANT_CLOSE};
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(apply1(f, endpoint_op(1, 11, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, endpoint_op(2, 21, "*", 1)), CU_OK);
    assert_int_equal(apply1(f, event_op(1, 500, "webhook.test")), CU_OK);
    assert_int_equal(apply1(f, event_op(2, 501, "webhook.test")), CU_OK);
    close.u.del.tenant_id = 1;
    assert_int_equal(apply1(f, close), CU_OK);
    assert_int_equal(events_of(f, 1), 0);
    assert_int_equal(deliveries_of(f, 1, 500, NULL), 0);
    assert_int_equal(cu_store_webhook_endpoints(f->s, 1, 0, &e, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    cu_store_webhook_endpoints_free(e, n);
    assert_int_equal(events_of(f, 2), 1);
    assert_int_equal(deliveries_of(f, 2, 501, NULL), 1);
}

/* The Standard Webhooks signature, checked against the standard's published test vector. */
static void test_signature_matches_the_standard_webhooks_vector(void **state)
{
    const char *body = "{\"test\": 2432232314}";
    char sig[CU_WEBHOOK_SIG_MAX];
    cu_err err = {0};

    (void)state;
    assert_int_equal(cu_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                     "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                     strlen(body), sig, &err),
                     CU_OK);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(cu_webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1, body,
                                     strlen(body), sig, &err),
                     CU_ERR_INVALID);
}

/* SSRF: the address rule, over addresses of each range and the IPv6 forms of IPv4 ones. */
static void test_webhook_addresses_outside_the_internet_are_refused(void **state)
{
    static const struct {
        const char *a;
        int ok;
    } cases[] = {
        {"93.184.216.34", 1}, {"8.8.8.8", 1}, {"1.1.1.1", 1}, {"172.32.0.1", 1},
        {"100.128.0.1", 1}, {"11.0.0.1", 1}, {"0.0.0.0", 0}, {"0.1.2.3", 0},
        {"127.0.0.1", 0}, {"127.255.0.9", 0}, {"10.1.2.3", 0}, {"172.16.0.1", 0},
        {"172.31.255.255", 0}, {"192.168.0.1", 0}, {"169.254.169.254", 0}, {"100.64.0.1", 0},
        {"100.127.255.254", 0}, {"224.0.0.1", 0}, {"239.255.255.250", 0},
        {"255.255.255.255", 0}, {"240.0.0.1", 0}, {"198.18.0.1", 0}, {"192.0.2.1", 0},
        {"2606:4700:4700::1111", 1}, {"2a00:1450:4001::200e", 1}, {"::", 0}, {"::1", 0},
        {"::ffff:127.0.0.1", 0}, {"::ffff:169.254.169.254", 0}, {"::ffff:10.0.0.1", 0},
        {"::ffff:8.8.8.8", 1}, {"64:ff9b::a9fe:a9fe", 0}, {"64:ff9b::808:808", 1},
        {"2002:a00:1::", 0}, {"2002:808:808::", 1}, {"::127.0.0.1", 0}, {"fc00::1", 0},
        {"fd12:3456::1", 0}, {"fe80::1", 0}, {"febf::1", 0}, {"fec0::1", 0}, {"ff02::1", 0},
        {"2001:db8::1", 0}, {"2001::1", 0}, {"100::1", 0}, {"::ffff:0:a00:1", 0},
        {"::ffff:0:808:808", 1}, {"64:ff9b:1::808:808", 0}, {"64:ff9b:1:ffff::1", 0},
    };
    uint8_t buf[16];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fam = strchr(cases[i].a, ':') ? AF_INET6 : AF_INET;
        assert_int_equal(inet_pton(fam, cases[i].a, buf), 1);
        if (cu_webhook_addr_public(fam, buf) != cases[i].ok)
            fail_msg("%s: expected %s", cases[i].a, cases[i].ok ? "public" : "refused");
    }
    assert_int_equal(cu_webhook_addr_public(AF_UNIX, buf), 0);
}

/* SSRF: a URL's host is resolved and every address checked; the pin names them for curl.
 * Loopback is allowed in test builds only while the fault point is not set. */
static void test_webhook_url_resolve_checks_and_pins_the_host(void **state)
{
    static const char *const refused[] = {
        "https://127.0.0.1/", "https://[::1]:8443/x", "https://169.254.169.254/latest/meta-data",
        "https://localhost/", "https://2130706433/", "https://10.0.0.8:443/?a=1",
        "http://127.0.0.1:9/h", "https://[::ffff:192.168.1.1]/",
    };
    char pin[600];
    cu_err err = {0};

    (void)state;
    assert_int_equal(cu_webhook_url_resolve("http://127.0.0.1:9/h", pin, sizeof(pin), &err), CU_OK);
    assert_string_equal(pin, ""); /* an address: nothing to pin */
    /* A name: pinned to the addresses checked. */
    assert_int_equal(cu_webhook_url_resolve("http://localhost:9/h", pin, sizeof(pin), &err), CU_OK);
    assert_int_equal(strncmp(pin, "localhost:9:", 12), 0);
    assert_true(strstr(pin, "127.0.0.1") != NULL || strstr(pin, "[::1]") != NULL);
    setenv("CUSTOS_FAULT", "webhook.strict_addresses", 1);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (cu_webhook_url_resolve(refused[i], pin, sizeof(pin), &err) != CU_ERR_INVALID)
            fail_msg("%s was not refused", refused[i]);
    assert_int_equal(cu_webhook_url_resolve("https://93.184.216.34/x", pin, sizeof(pin), &err),
                     CU_OK);
    assert_string_equal(pin, "");
    assert_int_equal(cu_webhook_url_resolve("https://[2606:4700:4700::1111]:8443", pin,
                                            sizeof(pin), &err),
                     CU_OK);
    assert_string_equal(pin, "");
    assert_int_equal(cu_webhook_url_resolve("https://no-such-host.invalid/", pin, sizeof(pin),
                                            &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_webhook_url_resolve("https://:443/", pin, sizeof(pin), &err),
                     CU_ERR_INVALID);
    unsetenv("CUSTOS_FAULT");
}

/* --- with a vault: the core's side ------------------------------------------------------- */

typedef struct vfx {
    char dir[256];
    char data[256];
    cu_vault *v;
    cu_id tenant;
} vfx;

static int vsetup(void **state)
{
    vfx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    *state = f;
    return 0;
}

static int vteardown(void **state)
{
    vfx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

/* A transport that keeps the last message's id, timestamp, signature and body, and answers
 * 200. */
typedef struct sent_msg {
    int n;
    char id[64], sig[CU_WEBHOOK_SIG_MAX], body[1024];
    int64_t ts;
} sent_msg;

static void keep_transport(void *arg, const cu_webhook_msg *m, int *status, char error[64])
{
    sent_msg *s = arg;

    s->n++;
    snprintf(s->id, sizeof(s->id), "%s", m->id);
    snprintf(s->sig, sizeof(s->sig), "%s", m->signature);
    snprintf(s->body, sizeof(s->body), "%.*s", (int)m->body_len, m->body);
    s->ts = m->timestamp;
    *status = 200;
    error[0] = '\0';
}

/* SSRF at creation and change: an endpoint whose host is an internal address is refused (the
 * tests' loopback allowance turned off); a host that does not resolve now is taken, and
 * checked again before each try. */
static void test_webhook_endpoint_to_an_internal_address_is_refused(void **state)
{
    vfx *f = *state;
    char secret[CU_WEBHOOK_SECRET_MAX];
    cu_id ep = 0;
    cu_err err = {0};

    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->tenant, "http://127.0.0.1:9/h",
                                                "*", &ep, secret, &err),
                     CU_OK);
    setenv("CUSTOS_FAULT", "webhook.strict_addresses", 1);
    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->tenant, "http://127.0.0.1:9/h",
                                                "*", &ep, secret, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->tenant,
                                                "https://169.254.169.254/latest", "*", &ep,
                                                secret, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_webhook_endpoint_update(f->v, NULL, f->tenant, ep, "https://10.0.0.8/x",
                                                NULL, -1, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->tenant,
                                                "https://hooks.example.invalid/x", "*", &ep,
                                                secret, &err),
                     CU_OK);
    unsetenv("CUSTOS_FAULT");
}

static const cu_webhook_retry retry = {.base = 5, .max_attempts = 4, .lease = 60};

/* The sweep drops the events whose deliveries are all done once the retention has passed (30
 * days, or CUSTOS_WEBHOOK_RETENTION_DAYS), on the settable clock; a pending one stays. */
static void test_sweep_prunes_done_events_after_the_retention(void **state)
{
    vfx *f = *state;
    const int64_t t0 = 1767225600; /* 2026-01-01 */
    char secret[CU_WEBHOOK_SECRET_MAX];
    cu_webhook_event e;
    cu_sweep_report rep;
    sent_msg got = {0};
    cu_id ep = 0, done = 0, young = 0, pending = 0;
    size_t sent = 0;
    cu_err err = {0};

    cu_clock_set(t0);
    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->tenant, "http://127.0.0.1:9/h",
                                                "*", &ep, secret, &err),
                     CU_OK);
    assert_int_equal(cu_webhook_test(f->v, NULL, f->tenant, &done, &err), CU_OK);
    assert_int_equal(cu_webhook_deliver_due(f->v, 77, 10, &retry, keep_transport, &got, &sent, &err),
                     CU_OK);
    assert_int_equal(sent, 1);
    assert_int_equal(cu_webhook_test(f->v, NULL, f->tenant, &pending, &err), CU_OK);
    cu_clock_set(t0 + 10 * 86400);
    assert_int_equal(cu_webhook_test(f->v, NULL, f->tenant, &young, &err), CU_OK);
    assert_int_equal(cu_webhook_deliver_due(f->v, 77, 1, &retry, keep_transport, &got, &sent, &err),
                     CU_OK); /* the oldest due: pending's, now delivered... */
    assert_int_equal(cu_webhook_resend(f->v, NULL, f->tenant, pending, 0, &err), CU_OK);
    /* ...and due again (resent): it stays pending. 29 days on, nothing is old enough. */
    cu_clock_set(t0 + 29 * 86400);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(cu_webhook_event_get(f->v, NULL, f->tenant, done, &e, &err), CU_OK);
    cu_webhook_event_cleanup(&e);
    /* 31 days on: the done one goes, with its delivery and attempt; pending and young stay. */
    cu_clock_set(t0 + 31 * 86400);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(cu_webhook_event_get(f->v, NULL, f->tenant, done, &e, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM webhook_attempts"), 1);
    assert_int_equal(cu_webhook_event_get(f->v, NULL, f->tenant, pending, &e, &err), CU_OK);
    cu_webhook_event_cleanup(&e);
    assert_int_equal(cu_webhook_event_get(f->v, NULL, f->tenant, young, &e, &err), CU_OK);
    cu_webhook_event_cleanup(&e);
    /* Both delivered, and a retention of one day: both go, and no delivery is left. */
    setenv("CUSTOS_WEBHOOK_RETENTION_DAYS", "1", 1);
    assert_int_equal(cu_webhook_deliver_due(f->v, 77, 10, &retry, keep_transport, &got, &sent, &err),
                     CU_OK);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    unsetenv("CUSTOS_WEBHOOK_RETENTION_DAYS");
    assert_int_equal(cu_webhook_event_get(f->v, NULL, f->tenant, pending, &e, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_webhook_event_get(f->v, NULL, f->tenant, young, &e, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM webhook_deliveries"), 0);
    cu_clock_set(0);
}

/* A transport whose receiver always answers 500: it counts the tries and keeps the last one's
 * webhook-id and timestamp. */
static void fail_transport(void *arg, const cu_webhook_msg *m, int *status, char error[64])
{
    sent_msg *s = arg;

    s->n++;
    snprintf(s->id, sizeof(s->id), "%s", m->id);
    s->ts = m->timestamp;
    *status = 500;
    error[0] = '\0';
}

/* The one delivery of event ev: its state, tries and next try; the last try's time and status. */
static void delivery_now(vfx *f, cu_id ev, cu_webhook_delivery *d, cu_webhook_attempt *last)
{
    cu_webhook_event e;
    cu_err err = {0};

    assert_int_equal(cu_webhook_event_get(f->v, NULL, f->tenant, ev, &e, &err), CU_OK);
    assert_int_equal(e.ndeliveries, 1);
    assert_int_equal(e.nattempts, e.deliveries[0].attempts);
    *d = e.deliveries[0];
    *last = e.attempts[e.nattempts - 1];
    cu_webhook_event_cleanup(&e);
}

/* docs/webhooks.md, Retries: against a receiver that always fails, on the settable clock, with
 * the server's defaults (CUSTOS_WEBHOOK_RETRY_BASE 5 s, CUSTOS_WEBHOOK_MAX_ATTEMPTS 16): retry
 * k comes 5 * 2^(k-1) s after try k, at most 6 h, each within +-20% (and not all exactly on
 * the nominal delay: the jitter is there), never a second early, always under the same
 * webhook-id; the 16th failed try leaves the delivery failed, and it is not tried again. */
static void test_P_NOT_1_retries_back_off_with_jitter_then_fail(void **state)
{
    static const cu_webhook_retry defaults = {.base = 5, .max_attempts = 16, .lease = 60};
    vfx *f = *state;
    char secret[CU_WEBHOOK_SECRET_MAX], wid[64];
    cu_webhook_delivery d;
    cu_webhook_attempt last;
    sent_msg got = {0};
    int64_t now = 1767225600, nominal = 5; /* 2026-01-01 */
    unsigned off_nominal = 0;
    cu_id ep = 0, ev = 0;
    size_t sent = 0;
    cu_err err = {0};

    cu_clock_set(now);
    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->tenant, "http://127.0.0.1:9/h", "*",
                                                &ep, secret, &err),
                     CU_OK);
    assert_int_equal(cu_webhook_test(f->v, NULL, f->tenant, &ev, &err), CU_OK);
    snprintf(wid, sizeof(wid), "evt_%llu", (unsigned long long)ev);
    for (unsigned k = 1; k <= defaults.max_attempts; k++) {
        if (k > 1) { /* not a second early */
            cu_clock_set(now - 1);
            assert_int_equal(
                cu_webhook_deliver_due(f->v, 77, 10, &defaults, fail_transport, &got, &sent, &err),
                CU_OK);
            assert_int_equal(sent, 0);
        }
        cu_clock_set(now);
        assert_int_equal(
            cu_webhook_deliver_due(f->v, 77, 10, &defaults, fail_transport, &got, &sent, &err),
            CU_OK);
        assert_int_equal(sent, 1);
        assert_int_equal(got.n, k);
        assert_string_equal(got.id, wid);
        assert_int_equal(got.ts, now);
        delivery_now(f, ev, &d, &last);
        assert_int_equal(d.attempts, k);
        assert_int_equal(last.at, now);
        assert_int_equal(last.status, 500);
        if (k == defaults.max_attempts)
            break;
        assert_string_equal(cu_webhook_state_name(d.state), "pending");
        /* The delay: nominal +-20%. */
        if ((d.next_at - now) * 5 < nominal * 4 || (d.next_at - now) * 5 > nominal * 6)
            fail_msg("retry %u after %lld s, not %lld s +-20%%", k, (long long)(d.next_at - now),
                     (long long)nominal);
        off_nominal += d.next_at - now != nominal;
        now = d.next_at;
        nominal = nominal * 2 < 6 * 3600 ? nominal * 2 : 6 * 3600;
    }
    assert_int_equal(nominal, 6 * 3600); /* the cap was reached */
    assert_true(off_nominal > 0);
    assert_string_equal(cu_webhook_state_name(d.state), "failed");
    /* Failed: a year on, nothing is due. */
    cu_clock_set(now + 366 * 86400);
    assert_int_equal(
        cu_webhook_deliver_due(f->v, 77, 10, &defaults, fail_transport, &got, &sent, &err), CU_OK);
    assert_int_equal(sent, 0);
    assert_int_equal(got.n, defaults.max_attempts);
    delivery_now(f, ev, &d, &last);
    assert_int_equal(d.attempts, defaults.max_attempts);
    cu_clock_set(0);
}

/* P-ENC-5: a data key rotation's pass seals the endpoint's secret again, and destroys the old
 * version; deliveries after it are still signed with the secret the endpoint was given. */
static void test_P_ENC_5_data_key_rotation_keeps_endpoints_signing(void **state)
{
    vfx *f = *state;
    char secret[CU_WEBHOOK_SECRET_MAX], sig[CU_WEBHOOK_SIG_MAX];
    cu_reencrypt_report rep;
    sent_msg got = {0};
    cu_id ep = 0, ev = 0;
    size_t sent = 0;
    cu_err err = {0};

    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->tenant, "http://127.0.0.1:9/h",
                                                "*", &ep, secret, &err),
                     CU_OK);
    assert_int_equal(cu_key_rotate_data(f->v, NULL, f->tenant, NULL, &err), CU_OK);
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.webhooks, 1);
    assert_int_equal(rep.destroyed, 1); /* version 1 is gone: nothing uses it */
    assert_int_equal(rep.remaining, 0);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM keys WHERE kind = 2 AND version = 1"
                                         " AND owner_id = 0"),
                     0);
    assert_int_equal(cu_webhook_test(f->v, NULL, f->tenant, &ev, &err), CU_OK);
    assert_int_equal(cu_webhook_deliver_due(f->v, 77, 10, &retry, keep_transport, &got, &sent, &err),
                     CU_OK);
    assert_int_equal(got.n, 1);
    assert_int_equal(cu_webhook_sign(secret, got.id, got.ts, got.body, strlen(got.body), sig, &err),
                     CU_OK);
    assert_string_equal(got.sig, sig);
    /* A second pass finds nothing to do. */
    assert_int_equal(cu_key_reencrypt(f->v, NULL, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.webhooks, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_NOT_1_event_rolls_back_with_its_cause),
        T(test_event_with_one_id_is_added_once),
        T(test_P_ISO_1_event_fans_out_to_its_tenants_endpoints_only),
        T(test_delivery_is_claimed_by_one_holder_at_a_time),
        T(test_endpoint_delete_drops_its_pending_deliveries),
        T(test_endpoint_parts_never_write_back_an_older_read),
        T(test_resend_during_a_try_in_flight_is_kept),
        T(test_prune_drops_old_done_events_in_batches),
        T(test_P_RET_2_tenant_close_drops_its_webhooks),
        cmocka_unit_test(test_signature_matches_the_standard_webhooks_vector),
        cmocka_unit_test(test_webhook_addresses_outside_the_internet_are_refused),
        cmocka_unit_test(test_webhook_url_resolve_checks_and_pins_the_host),
#define V(fn) cmocka_unit_test_setup_teardown(fn, vsetup, vteardown)
        V(test_P_ENC_5_data_key_rotation_keeps_endpoints_signing),
        V(test_webhook_endpoint_to_an_internal_address_is_refused),
        V(test_sweep_prunes_done_events_after_the_retention),
        V(test_P_NOT_1_retries_back_off_with_jitter_then_fail),
    };

    return cmocka_run_group_tests_name("webhook outbox (store, signature)", tests, NULL, NULL);
}
