/*
 * test_http_webhook.c: webhooks delivered by the real `custos serve` to real HTTP receivers the
 * test runs on loopback (libmicrohttpd threads; http:// to loopback is a test build's only
 * exception to HTTPS, docs/webhooks.md). Each receiver checks every request's Standard Webhooks
 * signature with its endpoint's secret, by its own code (GnuTLS's HMAC and base64), and counts
 * the requests it accepted per webhook-id. Proven: an event arrives exactly once per id after a
 * 500 and a timeout, the same id on every try (P-NOT-1: a notice that arrives); it survives a
 * kill -9 between its cause and its delivery, and one while its retry is pending (the stored
 * schedule holds: not sent early, then once under the failed try's id); another tenant's
 * endpoints never see it (P-ISO-1); the API lists it with its attempts, resends it under its
 * id, and checks role, tenant and input on every route.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "srv.h"
#include "th.h"

#define IDS_MAX 16

typedef struct rcv {
    struct MHD_Daemon *d;
    unsigned port;
    pthread_mutex_t m;
    char secret[64];
    int fail_500;  /* the next this many requests get 500 */
    int stall;     /* the next this many are answered only after 3 s (the sender gives up) */
    int requests;  /* every request that came */
    int bad_sig;   /* requests whose signature did not verify */
    int nids;
    char ids[IDS_MAX][40];
    int seen[IDS_MAX];     /* requests per id */
    int accepted[IDS_MAX]; /* 200 answered in time, per id */
    char last_body[2048];  /* the last accepted request's body, and its headers */
    size_t last_len;
    char last_id[40], last_ts[24], last_sig[128];
} rcv;

typedef struct upload {
    char buf[8192];
    size_t len;
} upload;

/* The Standard Webhooks check: v1,base64(HMAC-SHA256(key, id.ts.body)), key the base64 after
 * whsec_. Written here apart from the server's signer. */
static int sig_ok(const char *secret, const char *id, const char *ts, const char *body,
                  size_t len, const char *sig)
{
    gnutls_datum_t in = {(unsigned char *)(uintptr_t)(secret + 6), (unsigned)strlen(secret + 6)};
    gnutls_datum_t key = {NULL, 0}, mac64 = {NULL, 0};
    unsigned char mac[32];
    char msg[9000];
    int n = snprintf(msg, sizeof(msg), "%s.%s.", id, ts), ok = 0;

    if (n < 0 || (size_t)n + len > sizeof(msg) || strncmp(sig, "v1,", 3) != 0 ||
        gnutls_base64_decode2(&in, &key) < 0)
        return 0;
    memcpy(msg + n, body, len);
    if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data, key.size, msg, (size_t)n + len, mac) == 0) {
        gnutls_datum_t raw = {mac, sizeof(mac)};
        if (gnutls_base64_encode2(&raw, &mac64) == 0)
            ok = strlen(sig + 3) == mac64.size && memcmp(sig + 3, mac64.data, mac64.size) == 0;
    }
    gnutls_free(key.data);
    gnutls_free(mac64.data);
    return ok;
}

static int id_slot(rcv *r, const char *id)
{
    for (int i = 0; i < r->nids; i++)
        if (strcmp(r->ids[i], id) == 0)
            return i;
    if (r->nids == IDS_MAX)
        return -1;
    snprintf(r->ids[r->nids], sizeof(r->ids[0]), "%s", id);
    return r->nids++;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status)
{
    static char ok[] = "ok";
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);

    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **con)
{
    rcv *r = cls;
    upload *u = *con;
    const char *id, *ts, *sig;
    int slot, stall = 0, fail = 0, good;

    (void)url;
    (void)method;
    (void)version;
    if (u == NULL) {
        *con = calloc(1, sizeof(upload));
        return *con ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        size_t take = *size < sizeof(u->buf) - u->len ? *size : sizeof(u->buf) - u->len;
        memcpy(u->buf + u->len, data, take);
        u->len += take;
        *size = 0;
        return MHD_YES;
    }
    id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
    ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp");
    sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature");
    good = id && ts && sig && sig_ok(r->secret, id, ts, u->buf, u->len, sig);
    pthread_mutex_lock(&r->m);
    r->requests++;
    r->bad_sig += !good;
    slot = id ? id_slot(r, id) : -1;
    if (slot >= 0)
        r->seen[slot]++;
    if (r->fail_500 > 0) {
        r->fail_500--;
        fail = 1;
    } else if (r->stall > 0) {
        r->stall--;
        stall = 1;
    } else if (slot >= 0 && good) {
        r->accepted[slot]++;
        snprintf(r->last_body, sizeof(r->last_body), "%.*s", (int)u->len, u->buf);
        r->last_len = strlen(r->last_body);
        snprintf(r->last_id, sizeof(r->last_id), "%s", id);
        snprintf(r->last_ts, sizeof(r->last_ts), "%s", ts);
        snprintf(r->last_sig, sizeof(r->last_sig), "%s", sig);
    }
    pthread_mutex_unlock(&r->m);
    if (stall)
        sleep(3);
    return answer(c, fail ? 500 : 200);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    free(*con);
    *con = NULL;
}

static void rcv_start(rcv *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->m, NULL);
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, on_req, r, MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
                            MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(r->d);
    r->port = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void rcv_stop(rcv *r)
{
    MHD_stop_daemon(r->d);
    pthread_mutex_destroy(&r->m);
}

/* Requests accepted for id (slot by id), read under the lock. */
static int rcv_accepted(rcv *r, const char *id)
{
    int n = 0;

    pthread_mutex_lock(&r->m);
    for (int i = 0; i < r->nids; i++)
        if (strcmp(r->ids[i], id) == 0)
            n = r->accepted[i];
    pthread_mutex_unlock(&r->m);
    return n;
}

/* Requests received, read under the lock. */
static int rcv_requests(rcv *r)
{
    int n;

    pthread_mutex_lock(&r->m);
    n = r->requests;
    pthread_mutex_unlock(&r->m);
    return n;
}

/* Waits up to ms for id to be accepted once. */
static int rcv_wait(rcv *r, const char *id, int ms)
{
    for (int i = 0; i < ms / 50; i++) {
        if (rcv_accepted(r, id) > 0)
            return 1;
        usleep(50000);
    }
    return 0;
}

static const char *const fast_env[] = {
    "CUSTOS_WEBHOOK_TIMEOUT=1", "CUSTOS_WEBHOOK_CONNECT_TIMEOUT=1", "CUSTOS_WEBHOOK_RETRY_BASE=1",
    "CUSTOS_WEBHOOK_POLL_MS=100", NULL};

/* POST .../webhooks for t to receiver r: its id into id, its secret into r. */
static void endpoint_make(srv *s, srv_tenant *t, rcv *r, const char *types, char id[SRV_ID])
{
    char path[96], body[256];
    srv_resp resp;

    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks", t->id);
    snprintf(body, sizeof(body), "{\"url\":\"http://127.0.0.1:%u/hook\",\"types\":\"%s\"}",
             r->port, types);
    assert_int_equal(srv_call(s, "POST", path, t->key[CU_ROLE_ADMIN], NULL, body, &resp), 0);
    if (resp.status != 201)
        fail_msg("create endpoint: %ld %s", resp.status, resp.body);
    assert_int_equal(srv_json_str(resp.body, "secret", r->secret, sizeof(r->secret)), 0);
    assert_int_equal(strncmp(r->secret, "whsec_", 6), 0);
    assert_int_equal(srv_json_str(resp.body, "id", id, SRV_ID), 0);
    srv_resp_free(&resp);
}

/* POST .../webhooks/test: the event's webhook-id ("evt_<id>") into wid, its id into id. */
static void test_event(srv *s, srv_tenant *t, char id[SRV_ID], char wid[40])
{
    char path[96];
    srv_resp resp;

    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks/test", t->id);
    assert_int_equal(srv_call(s, "POST", path, t->key[CU_ROLE_ADMIN], NULL, NULL, &resp), 0);
    if (resp.status != 202)
        fail_msg("test event: %ld %s", resp.status, resp.body);
    assert_int_equal(srv_json_str(resp.body, "event_id", id, SRV_ID), 0);
    snprintf(wid, 40, "evt_%s", id);
    srv_resp_free(&resp);
}

static long call_status(srv *s, const char *method, const char *path, const char *key,
                        const char *body, char code[64])
{
    srv_resp resp;
    long st;

    assert_int_equal(srv_call(s, method, path, key, NULL, body, &resp), 0);
    st = resp.status;
    if (code != NULL && srv_err(resp.body, code, NULL) != 0)
        code[0] = '\0';
    srv_resp_free(&resp);
    return st;
}

/* P-NOT-1, P-ISO-1: a signed event arrives exactly once per id, through a 500 and a timeout,
 * under one id; the other tenant's receiver sees nothing; the API lists its three attempts. */
static void test_P_NOT_1_signed_event_arrives_once_after_500_and_timeout(void **state)
{
    srv s;
    srv_tenant a, b;
    rcv ra, rb;
    char ep_a[SRV_ID], ep_b[SRV_ID], ev[SRV_ID], wid[40], path[128];
    srv_resp resp;

    (void)state;
    rcv_start(&ra);
    rcv_start(&rb);
    ra.fail_500 = 1;
    ra.stall = 1;
    srv_start_env(&s, NULL, fast_env);
    srv_tenant_make(&s, "hooks-a", &a);
    srv_tenant_make(&s, "hooks-b", &b);
    endpoint_make(&s, &a, &ra, "*", ep_a);
    endpoint_make(&s, &b, &rb, "*", ep_b);
    test_event(&s, &a, ev, wid);
    assert_true(rcv_wait(&ra, wid, 20000));
    usleep(1500 * 1000); /* nothing more comes: delivered is settled */
    pthread_mutex_lock(&ra.m);
    assert_int_equal(ra.requests, 3);
    assert_int_equal(ra.bad_sig, 0);
    assert_int_equal(ra.nids, 1); /* one webhook-id on every try */
    assert_int_equal(ra.accepted[0], 1);
    assert_non_null(strstr(ra.last_body, "\"type\":\"webhook.test\""));
    assert_non_null(strstr(ra.last_body, a.id));
    pthread_mutex_unlock(&ra.m);
    assert_int_equal(rb.requests, 0);
    /* The API: the event with its delivery and its three attempts (500, timeout, 200). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/events/%s", a.id, ev);
    assert_int_equal(srv_call(&s, "GET", path, a.key[CU_ROLE_ADMIN], NULL, NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body, "\"state\":\"delivered\""));
    assert_non_null(strstr(resp.body, "\"status\":500"));
    assert_non_null(strstr(resp.body, "\"error\":\"timeout\""));
    assert_non_null(strstr(resp.body, "\"status\":200"));
    srv_resp_free(&resp);
    /* Another tenant's credential finds no such event (P-ISO-1); an agent may not manage them. */
    assert_int_equal(call_status(&s, "GET", path, b.key[CU_ROLE_ADMIN], NULL, NULL), 404);
    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks", a.id);
    assert_int_equal(call_status(&s, "GET", path, a.key[CU_ROLE_AGENT], NULL, NULL), 403);
    /* A resend delivers it again under the same id (receivers drop a repeated id). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/events/%s/resend", a.id, ev);
    assert_int_equal(call_status(&s, "POST", path, a.key[CU_ROLE_ADMIN], NULL, NULL), 202);
    for (int i = 0; i < 200 && rcv_accepted(&ra, wid) < 2; i++)
        usleep(50000);
    assert_int_equal(rcv_accepted(&ra, wid), 2);
    assert_int_equal(rb.requests, 0);
    assert_int_equal(srv_stop(&s, 1), 0);
    rcv_stop(&ra);
    rcv_stop(&rb);
}

/* P-NOT-1: the event is durable with its cause: a server killed (-9) before any delivery
 * leaves it to the next one, which delivers it once. */
static void test_P_NOT_1_event_survives_kill_9_before_delivery(void **state)
{
    static const char *const no_workers[] = {"CUSTOS_WEBHOOK_WORKERS=0", NULL};
    srv s;
    srv_tenant a;
    rcv ra;
    char ep[SRV_ID], ev[SRV_ID], wid[40];
    int st = 0;

    (void)state;
    rcv_start(&ra);
    srv_start_env(&s, NULL, no_workers);
    srv_tenant_make(&s, "hooks-kill", &a);
    endpoint_make(&s, &a, &ra, "webhook.test", ep);
    test_event(&s, &a, ev, wid);
    kill(s.pid, SIGKILL);
    waitpid(s.pid, &st, 0);
    s.pid = 0;
    assert_int_equal(ra.requests, 0);
    srv_restart(&s, NULL, fast_env);
    assert_true(rcv_wait(&ra, wid, 20000));
    usleep(1000 * 1000);
    assert_int_equal(rcv_accepted(&ra, wid), 1);
    assert_int_equal(ra.requests, 1);
    assert_int_equal(ra.bad_sig, 0);
    assert_int_equal(srv_stop(&s, 1), 0);
    rcv_stop(&ra);
}

/* GET .../events/{ev} of t, polled up to ms until its body holds needle; the body into out. */
static int event_wait(srv *s, srv_tenant *t, const char *ev, const char *needle, int ms, char *out,
                      size_t cap)
{
    char path[128];
    srv_resp resp;
    int found = 0;

    snprintf(path, sizeof(path), "/v1/tenants/%s/events/%s", t->id, ev);
    for (int i = 0; i <= ms / 50 && !found; i++) {
        if (i > 0)
            usleep(50000);
        assert_int_equal(srv_call(s, "GET", path, t->key[CU_ROLE_ADMIN], NULL, NULL, &resp), 0);
        assert_int_equal(resp.status, 200);
        found = strstr(resp.body, needle) != NULL;
        snprintf(out, cap, "%s", resp.body);
        srv_resp_free(&resp);
    }
    return found;
}

/* P-NOT-1, docs/webhooks.md Retries: the retry schedule is in the database. The receiver
 * answers 500; the server, its retry pending, is killed (-9). Restarted before the stored
 * retry time (the settable clock, CUSTOS_NOW) it sends nothing; restarted after it, with the
 * receiver accepting, the event arrives exactly once, under the webhook-id of the failed try,
 * and the API lists both tries. */
static void test_P_NOT_1_pending_retry_survives_kill_9(void **state)
{
    /* The settable clock: 2030-01-01T00:00:00Z, then 3 s and 10 s on; the retry is due 5 s
     * +-20% after the failed try. */
    char now[32] = "CUSTOS_NOW=1893456000";
    const char *const env[] = {now,
                               "CUSTOS_WEBHOOK_POLL_MS=100",
                               "CUSTOS_WEBHOOK_RETRY_BASE=5",
                               "CUSTOS_WEBHOOK_TIMEOUT=1",
                               "CUSTOS_WEBHOOK_CONNECT_TIMEOUT=1",
                               NULL};
    srv s;
    srv_tenant a;
    rcv ra;
    char ep[SRV_ID], ev[SRV_ID], wid[40], body[4096], next[32];
    int st = 0;

    (void)state;
    rcv_start(&ra);
    ra.fail_500 = 1000;
    srv_start_env(&s, NULL, env);
    srv_tenant_make(&s, "hooks-retry", &a);
    endpoint_make(&s, &a, &ra, "webhook.test", ep);
    test_event(&s, &a, ev, wid);
    /* The failed try is recorded, and the retry pending at its stored time. */
    assert_true(event_wait(&s, &a, ev, "\"status\":500", 20000, body, sizeof(body)));
    assert_non_null(strstr(body, "\"state\":\"pending\""));
    assert_non_null(strstr(body, "\"attempts\":1"));
    assert_int_equal(srv_json_str(body, "next_attempt_at", next, sizeof(next)), 0);
    assert_true(strcmp(next, "2030-01-01T00:00:04Z") >= 0 &&
                strcmp(next, "2030-01-01T00:00:06Z") <= 0);
    kill(s.pid, SIGKILL);
    waitpid(s.pid, &st, 0);
    s.pid = 0;
    assert_int_equal(rcv_requests(&ra), 1);
    /* Before the stored time: the new server's workers (polling every 100 ms) send nothing. */
    snprintf(now, sizeof(now), "CUSTOS_NOW=%d", 1893456000 + 3);
    srv_restart(&s, NULL, env);
    usleep(800 * 1000);
    assert_int_equal(rcv_requests(&ra), 1);
    assert_true(event_wait(&s, &a, ev, "\"attempts\":1", 0, body, sizeof(body)));
    assert_non_null(strstr(body, "\"state\":\"pending\""));
    assert_int_equal(srv_stop(&s, 0), 0);
    /* After it, the receiver accepting: once, under the same webhook-id. */
    pthread_mutex_lock(&ra.m);
    ra.fail_500 = 0;
    pthread_mutex_unlock(&ra.m);
    snprintf(now, sizeof(now), "CUSTOS_NOW=%d", 1893456000 + 10);
    srv_restart(&s, NULL, env);
    assert_true(rcv_wait(&ra, wid, 20000));
    assert_true(event_wait(&s, &a, ev, "\"state\":\"delivered\"", 20000, body, sizeof(body)));
    usleep(500 * 1000); /* nothing more comes */
    pthread_mutex_lock(&ra.m);
    assert_int_equal(ra.requests, 2);
    assert_int_equal(ra.nids, 1);
    assert_string_equal(ra.ids[0], wid);
    assert_int_equal(ra.seen[0], 2);
    assert_int_equal(ra.accepted[0], 1);
    assert_int_equal(ra.bad_sig, 0);
    pthread_mutex_unlock(&ra.m);
    /* The API: one delivery, two tries, the 500 then the 200, under that webhook-id. */
    assert_true(event_wait(&s, &a, ev, "\"attempts\":2", 0, body, sizeof(body)));
    assert_non_null(strstr(body, wid));
    assert_true(strstr(body, "\"status\":500") != NULL &&
                strstr(body, "\"status\":200") > strstr(body, "\"status\":500"));
    assert_int_equal(srv_stop(&s, 1), 0);
    rcv_stop(&ra);
}

/* The Python block after the verify-example marker of docs/webhooks.md, as written there
 * (caller frees). */
static char *doc_example(void)
{
    FILE *f = fopen("docs/webhooks.md", "rb");
    char *doc = calloc(1, 200000), *at, *end, *code;
    size_t n;

    assert_non_null(f);
    assert_non_null(doc);
    n = fread(doc, 1, 199999, f);
    fclose(f);
    doc[n] = '\0';
    at = strstr(doc, "<!-- verify-example:");
    assert_non_null(at);
    at = strstr(at, "```python\n");
    assert_non_null(at);
    at += strlen("```python\n");
    end = strstr(at, "\n```");
    assert_non_null(end);
    code = strndup(at, (size_t)(end - at) + 1);
    free(doc);
    assert_non_null(code);
    return code;
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[320];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* One request for the verifier: its three headers and its body. */
typedef struct hook_req {
    const char *id, *ts, *sig, *body;
    size_t len;
} hook_req;

/* Runs docs/webhooks.md's verification example once on secret and each of the n requests: its
 * verdicts ('1' valid, '0' not), in order, into out. */
static void python_verdicts(const char *dir, const char *secret, const hook_req *q, int n,
                            char *out, size_t cap)
{
    static const char harness[] =
        "import json, sys\n"
        "secret = open(sys.argv[1]).read()\n"
        "print(''.join('1' if valid(secret, json.load(open(a)), open(b, 'rb').read()) else '0'\n"
        "              for a, b in zip(sys.argv[2::2], sys.argv[3::2])))\n";
    char *code = doc_example(), script[4096], name[32], text[512], cmd[1024];
    int at;
    FILE *p;

    snprintf(script, sizeof(script), "%s\n%s", code, harness);
    free(code);
    write_file(dir, "verify.py", script, strlen(script));
    write_file(dir, "secret", secret, strlen(secret));
    at = snprintf(cmd, sizeof(cmd), "cd %s && python3 verify.py secret", dir);
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof(text),
                 "{\"webhook-id\": \"%s\", \"webhook-timestamp\": \"%s\", "
                 "\"webhook-signature\": \"%s\"}",
                 q[i].id, q[i].ts, q[i].sig);
        snprintf(name, sizeof(name), "h%d.json", i);
        write_file(dir, name, text, strlen(text));
        snprintf(name, sizeof(name), "b%d", i);
        write_file(dir, name, q[i].body, q[i].len);
        at += snprintf(cmd + at, sizeof(cmd) - (size_t)at, " h%d.json b%d", i, i);
    }
    p = popen(cmd, "r");
    assert_non_null(p);
    if (fgets(out, (int)cap, p) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(pclose(p), 0);
}

/* docs/webhooks.md's three lines of Python, read from the doc, verify a request the server
 * delivered (its body, headers and the endpoint's secret) and refuse it once its body or its
 * timestamp is changed. */
static void test_the_documented_python_verifier_checks_a_delivery(void **state)
{
    srv s;
    srv_tenant a;
    rcv ra;
    char ep[SRV_ID], ev[SRV_ID], wid[40], dir[256], body[2048], bad[2048], ts[24], got[16];
    hook_req q[3];
    size_t len;

    (void)state;
    th_tmpdir(dir);
    rcv_start(&ra);
    srv_start_env(&s, NULL, fast_env);
    srv_tenant_make(&s, "hooks-python", &a);
    endpoint_make(&s, &a, &ra, "webhook.test", ep);
    test_event(&s, &a, ev, wid);
    assert_true(rcv_wait(&ra, wid, 20000));
    assert_int_equal(srv_stop(&s, 1), 0);
    pthread_mutex_lock(&ra.m);
    assert_string_equal(ra.last_id, wid);
    memcpy(body, ra.last_body, sizeof(body));
    len = ra.last_len;
    pthread_mutex_unlock(&ra.m);
    memcpy(bad, body, sizeof(bad));
    bad[len - 2] ^= 1; /* one byte of the body changed */
    snprintf(ts, sizeof(ts), "%lld", strtoll(ra.last_ts, NULL, 10) + 1); /* a replay, moved */
    q[0] = (hook_req){wid, ra.last_ts, ra.last_sig, body, len};
    q[1] = (hook_req){wid, ra.last_ts, ra.last_sig, bad, len};
    q[2] = (hook_req){wid, ts, ra.last_sig, body, len};
    python_verdicts(dir, ra.secret, q, 3, got, sizeof(got));
    assert_string_equal(got, "100");
    rcv_stop(&ra);
    th_rmrf(dir);
}

/* SSRF at delivery time: an endpoint made while its address was allowed is never sent to once
 * it is not (the server started with the tests' loopback allowance off): each try fails with
 * error "address" and the receiver sees no request; the API refuses a new endpoint there. */
static void test_no_request_goes_to_an_internal_address(void **state)
{
    static const char *const no_workers[] = {"CUSTOS_WEBHOOK_WORKERS=0", NULL};
    static const char *const strict[] = {
        "CUSTOS_WEBHOOK_TIMEOUT=1", "CUSTOS_WEBHOOK_CONNECT_TIMEOUT=1",
        "CUSTOS_WEBHOOK_RETRY_BASE=1", "CUSTOS_WEBHOOK_POLL_MS=100",
        "CUSTOS_FAULT=webhook.strict_addresses", NULL};
    srv s;
    srv_tenant a;
    rcv ra;
    char ep[SRV_ID], ev[SRV_ID], wid[40], path[128], body[128], code[64];
    srv_resp resp;
    int tried = 0;

    (void)state;
    rcv_start(&ra);
    srv_start_env(&s, NULL, no_workers);
    srv_tenant_make(&s, "hooks-ssrf", &a);
    endpoint_make(&s, &a, &ra, "*", ep);
    test_event(&s, &a, ev, wid);
    assert_int_equal(srv_stop(&s, 0), 0);
    srv_restart(&s, NULL, strict);
    snprintf(path, sizeof(path), "/v1/tenants/%s/events/%s", a.id, ev);
    for (int i = 0; i < 200 && !tried; i++) {
        usleep(50000);
        assert_int_equal(srv_call(&s, "GET", path, a.key[CU_ROLE_ADMIN], NULL, NULL, &resp), 0);
        tried = strstr(resp.body, "\"error\":\"address\"") != NULL;
        srv_resp_free(&resp);
    }
    assert_true(tried);
    assert_int_equal(ra.requests, 0);
    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks", a.id);
    snprintf(body, sizeof(body), "{\"url\":\"http://127.0.0.1:%u/hook\"}", ra.port);
    assert_int_equal(call_status(&s, "POST", path, a.key[CU_ROLE_ADMIN], body, code), 400);
    assert_int_equal(call_status(&s, "POST", path, a.key[CU_ROLE_ADMIN],
                                 "{\"url\":\"https://169.254.169.254/latest/meta-data\"}", code),
                     400);
    assert_int_equal(srv_stop(&s, 1), 0);
    assert_int_equal(ra.requests, 0);
    rcv_stop(&ra);
}

/* A URL naming its host (not an address) is resolved, checked and pinned for curl
 * (CURLOPT_RESOLVE), and the delivery arrives through that pin. */
static void test_named_host_is_resolved_pinned_and_delivered(void **state)
{
    srv s;
    srv_tenant a;
    rcv ra;
    char path[96], body[256], ep[SRV_ID], ev[SRV_ID], wid[40];
    srv_resp resp;

    (void)state;
    rcv_start(&ra);
    srv_start_env(&s, NULL, fast_env);
    srv_tenant_make(&s, "hooks-named", &a);
    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks", a.id);
    snprintf(body, sizeof(body), "{\"url\":\"http://localhost:%u/hook\"}", ra.port);
    assert_int_equal(srv_call(&s, "POST", path, a.key[CU_ROLE_ADMIN], NULL, body, &resp), 0);
    assert_int_equal(resp.status, 201);
    assert_int_equal(srv_json_str(resp.body, "secret", ra.secret, sizeof(ra.secret)), 0);
    assert_int_equal(srv_json_str(resp.body, "id", ep, SRV_ID), 0);
    srv_resp_free(&resp);
    test_event(&s, &a, ev, wid);
    assert_true(rcv_wait(&ra, wid, 20000));
    assert_int_equal(ra.bad_sig, 0);
    assert_int_equal(srv_stop(&s, 1), 0);
    rcv_stop(&ra);
}

/* Every route checks its input with a stable code; the secret is shown at creation and
 * rotation only; a rotated secret signs from then on. */
static void test_endpoint_routes_check_input_and_show_the_secret_once(void **state)
{
    srv s;
    srv_tenant a;
    rcv ra;
    char ep[SRV_ID], ev[SRV_ID], wid[40], path[128], code[64], old[64];
    srv_resp resp;

    (void)state;
    rcv_start(&ra);
    srv_start_env(&s, NULL, fast_env);
    srv_tenant_make(&s, "hooks-input", &a);
    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks", a.id);
    assert_int_equal(call_status(&s, "POST", path, a.key[CU_ROLE_ADMIN],
                                 "{\"url\":\"http://hooks.example/x\"}", code),
                     400);
    assert_string_equal(code, "invalid");
    assert_int_equal(call_status(&s, "POST", path, a.key[CU_ROLE_ADMIN],
                                 "{\"url\":\"https://u:p@hooks.example/x\"}", code),
                     400);
    assert_int_equal(call_status(&s, "POST", path, a.key[CU_ROLE_ADMIN],
                                 "{\"url\":\"https://hooks.example/x\",\"types\":\"no.such\"}",
                                 code),
                     400);
    assert_int_equal(call_status(&s, "POST", path, a.key[CU_ROLE_ADMIN],
                                 "{\"url\":\"https://hooks.example/x\",\"extra\":1}", code),
                     400);
    endpoint_make(&s, &a, &ra, "*", ep);
    assert_int_equal(srv_call(&s, "GET", path, a.key[CU_ROLE_ADMIN], NULL, NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_null(strstr(resp.body, "whsec_"));
    assert_null(strstr(resp.body, "secret"));
    srv_resp_free(&resp);
    /* Rotation: a new secret, shown once; the receiver checks with it from now on. */
    snprintf(old, sizeof(old), "%s", ra.secret);
    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks/%s/rotate", a.id, ep);
    assert_int_equal(srv_call(&s, "POST", path, a.key[CU_ROLE_ADMIN], NULL, NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    pthread_mutex_lock(&ra.m);
    assert_int_equal(srv_json_str(resp.body, "secret", ra.secret, sizeof(ra.secret)), 0);
    pthread_mutex_unlock(&ra.m);
    assert_string_not_equal(old, ra.secret);
    srv_resp_free(&resp);
    test_event(&s, &a, ev, wid);
    assert_true(rcv_wait(&ra, wid, 20000));
    assert_int_equal(ra.bad_sig, 0);
    /* Disabled, it receives nothing; deleted, it is gone. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/webhooks/%s", a.id, ep);
    assert_int_equal(call_status(&s, "PUT", path, a.key[CU_ROLE_ADMIN], "{\"enabled\":false}",
                                 NULL),
                     200);
    test_event(&s, &a, ev, wid);
    usleep(800 * 1000);
    assert_int_equal(rcv_accepted(&ra, wid), 0);
    assert_int_equal(call_status(&s, "DELETE", path, a.key[CU_ROLE_ADMIN], NULL, NULL), 200);
    assert_int_equal(call_status(&s, "GET", path, a.key[CU_ROLE_ADMIN], NULL, NULL), 404);
    snprintf(path, sizeof(path), "/v1/tenants/%s/events?before=abc", a.id);
    assert_int_equal(call_status(&s, "GET", path, a.key[CU_ROLE_ADMIN], NULL, code), 400);
    assert_string_equal(code, "invalid_field");
    snprintf(path, sizeof(path), "/v1/tenants/%s/events", a.id);
    assert_int_equal(srv_call(&s, "GET", path, a.key[CU_ROLE_ADMIN], NULL, NULL, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body, "\"type\":\"webhook.test\""));
    srv_resp_free(&resp);
    assert_int_equal(srv_stop(&s, 1), 0);
    rcv_stop(&ra);
}

/* A tenant under a seed policy (its deadlines for requests: SCM's, 5 business days to
 * acknowledge), with an owner, an admin and an agent key. */
static void policy_tenant(srv *s, const char *name, const char *policy, srv_tenant *t)
{
    static const char *const roles[] = {"admin", "agent"};
    static const int ids[] = {CU_ROLE_ADMIN, CU_ROLE_AGENT};
    char body[160], path[96];
    srv_resp resp;

    memset(t, 0, sizeof(*t));
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"policy\":\"%s\"}", name, policy);
    assert_int_equal(srv_call(s, "POST", "/v1/tenants", s->operator_key, NULL, body, &resp), 0);
    assert_int_equal(resp.status, 201);
    assert_int_equal(srv_json_str(resp.body, "id", t->id, sizeof(t->id)), 0);
    assert_int_equal(srv_json_str(resp.body, "secret", t->key[CU_ROLE_OWNER], 128), 0);
    srv_resp_free(&resp);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", t->id);
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"role\":\"%s\"}", roles[i], roles[i]);
        assert_int_equal(srv_call(s, "POST", path, t->key[CU_ROLE_OWNER], NULL, body, &resp), 0);
        assert_int_equal(resp.status, 201);
        assert_int_equal(srv_json_str(resp.body, "secret", t->key[ids[i]], 128), 0);
        srv_resp_free(&resp);
    }
}

static void sweep(srv *s)
{
    srv_resp resp;

    assert_int_equal(srv_call(s, "POST", "/v1/sweep", s->operator_key, NULL, NULL, &resp), 0);
    if (resp.status != 200)
        fail_msg("sweep: %ld %s", resp.status, resp.body);
    srv_resp_free(&resp);
}

/* Restarts s at the settable clock's day (test builds: CUSTOS_NOW). */
static void restart_at(srv *s, const char *day)
{
    char now[64];
    const char *env[] = {now, "CUSTOS_WEBHOOK_POLL_MS=100", NULL};

    snprintf(now, sizeof(now), "CUSTOS_NOW=%s", day);
    assert_int_equal(srv_stop(s, 0), 0);
    srv_restart(s, NULL, env);
}

/* P-DSR-7: a request near its deadline, then past it, is told to the tenant's endpoint once
 * each, however often the sweep runs (the settable clock moves the days). */
static void test_P_DSR_7_request_due_soon_then_overdue_is_told_once_each(void **state)
{
    static const char *const start[] = {"CUSTOS_NOW=2030-01-07", "CUSTOS_WEBHOOK_POLL_MS=100",
                                        NULL};
    srv s;
    srv_tenant a;
    rcv ra;
    char ep[SRV_ID], path[96], body[128], req[SRV_ID];

    (void)state;
    rcv_start(&ra);
    srv_start_env(&s, NULL, start);
    policy_tenant(&s, "hooks-dsr", "scm", &a);
    endpoint_make(&s, &a, &ra, "request.due_soon,request.overdue", ep);
    snprintf(path, sizeof(path), "/v1/tenants/%s/requests", a.id);
    snprintf(body, sizeof(body), "{\"type\":\"access\",\"external_id\":\"ext-hooks-dsr\"}");
    srv_call_ok(&s, "POST", path, a.key[CU_ROLE_AGENT], NULL, body, 201, req);
    sweep(&s); /* acknowledgement due in 5 business days: not yet */
    usleep(500 * 1000);
    assert_int_equal(rcv_requests(&ra), 0);
    restart_at(&s, "2030-01-12"); /* under 3 days before it */
    sweep(&s);
    sweep(&s);
    for (int i = 0; i < 100 && rcv_requests(&ra) < 1; i++)
        usleep(50000);
    usleep(500 * 1000);
    pthread_mutex_lock(&ra.m);
    assert_int_equal(ra.requests, 1);
    assert_int_equal(ra.bad_sig, 0);
    assert_non_null(strstr(ra.last_body, "\"type\":\"request.due_soon\""));
    assert_non_null(strstr(ra.last_body, req));
    assert_non_null(strstr(ra.last_body, "\"deadline\":\"acknowledge\""));
    pthread_mutex_unlock(&ra.m);
    restart_at(&s, "2030-01-20"); /* past it */
    sweep(&s);
    sweep(&s);
    for (int i = 0; i < 100 && rcv_requests(&ra) < 2; i++)
        usleep(50000);
    usleep(500 * 1000);
    pthread_mutex_lock(&ra.m);
    assert_int_equal(ra.requests, 2);
    assert_int_equal(ra.nids, 2);
    assert_int_equal(ra.accepted[0] + ra.accepted[1], 2);
    assert_non_null(strstr(ra.last_body, "\"type\":\"request.overdue\""));
    pthread_mutex_unlock(&ra.m);
    assert_int_equal(srv_stop(&s, 1), 0);
    rcv_stop(&ra);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_NOT_1_signed_event_arrives_once_after_500_and_timeout),
        cmocka_unit_test(test_P_NOT_1_event_survives_kill_9_before_delivery),
        cmocka_unit_test(test_P_NOT_1_pending_retry_survives_kill_9),
        cmocka_unit_test(test_the_documented_python_verifier_checks_a_delivery),
        cmocka_unit_test(test_endpoint_routes_check_input_and_show_the_secret_once),
        cmocka_unit_test(test_no_request_goes_to_an_internal_address),
        cmocka_unit_test(test_named_host_is_resolved_pinned_and_delivered),
        cmocka_unit_test(test_P_DSR_7_request_due_soon_then_overdue_is_told_once_each),
    };

    return cmocka_run_group_tests_name("webhooks over HTTPS (delivery)", tests, NULL, NULL);
}
