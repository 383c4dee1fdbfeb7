/*
 * webhook_send.c: the server's webhook delivery workers and their libcurl transport
 * (docs/webhooks.md). The core decides what is due, claims, signs and settles
 * (webhook_deliver.c); this file only sends.
 *
 * A few threads (CUSTOS_WEBHOOK_WORKERS, 2) each claim and send one delivery at a time, so at
 * most that many requests are in flight per server; several servers on one database share the
 * work through the store's claims. Each request: POST, HTTPS only (http:// in test builds,
 * where endpoints may be loopback), no redirect followed, a connect and a total timeout, the
 * answer's body read and dropped, never stored or logged. No request goes to an internal
 * address (SSRF, webhook_addr.c): the host is resolved and every address checked before each
 * try, curl is given those addresses (CURLOPT_RESOLVE) so that it does not resolve the name
 * again, its socket callback refuses any address that is not allowed, and no proxy is used.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "crypto.h"
#include "custos_webhook.h"
#include "http_int.h"
#include "util.h"

#define WORKERS_MAX 16

typedef struct worker {
    pthread_t th;
    cu_id holder;
    CURL *curl;
} worker;

static struct {
    cu_vault *v;
    worker w[WORKERS_MAX];
    unsigned n;
    long timeout_ms, connect_ms, poll_ms;
    cu_webhook_retry retry;
    pthread_mutex_t m;
    pthread_cond_t c;
    int stop;
} hook = {.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};

static long env_long(const char *name, long def, long min, long max)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return def;
    v = strtol(s, &end, 10);
    return *end != '\0' || v < min || v > max ? def : v;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* The error code of a transfer that got no HTTP answer. */
static const char *curl_code(CURLcode c)
{
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST: return "resolve";
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION: return "tls";
    case CURLE_UNSUPPORTED_PROTOCOL: return "protocol";
    default: return "transport";
    }
}

/* The last line of the SSRF check: curl opens a socket only to an allowed address, whatever
 * resolved it. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    const void *addr = NULL;

    (void)arg;
    (void)purpose;
    if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
        addr = &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
        addr = &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
    if (addr == NULL || !cu_webhook_addr_allowed(a->family, addr))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

/* Resolves and checks m's host; its addresses pinned for curl into *pins. "" or an error code. */
static const char *pin_host(const cu_webhook_msg *m, struct curl_slist **pins)
{
    char pin[600];
    cu_err e = {0};
    cu_rc rc = cu_webhook_url_resolve(m->url, pin, sizeof(pin), &e);

    if (rc == CU_ERR_NOT_FOUND)
        return "resolve";
    if (rc != CU_OK)
        return "address"; /* a private, loopback or link-local address: never sent */
    if (pin[0] == '\0') /* an address in the URL: nothing to resolve */
        return "";
    *pins = curl_slist_append(NULL, pin);
    return *pins != NULL ? "" : "transport";
}

static void send_curl(void *arg, const cu_webhook_msg *m, int *status, char error[64])
{
    worker *w = arg;
    struct curl_slist *h = NULL, *pins = NULL;
    const char *refused = pin_host(m, &pins);
    char line[160];
    long code = 0;
    CURLcode rc;

    if (*refused != '\0') {
        snprintf(error, 64, "%s", refused);
        return;
    }
    curl_easy_reset(w->curl);
    snprintf(line, sizeof(line), "webhook-id: %s", m->id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "webhook-timestamp: %lld", (long long)m->timestamp);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "webhook-signature: %s", m->signature);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(w->curl, CURLOPT_URL, m->url);
#ifdef CU_FAULT_INJECTION
    curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "https,http"); /* loopback receivers */
#else
    curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "https");
#endif
    curl_easy_setopt(w->curl, CURLOPT_RESOLVE, pins);
    curl_easy_setopt(w->curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(w->curl, CURLOPT_PROXY, ""); /* a proxy would resolve the host itself */
    curl_easy_setopt(w->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS, hook.connect_ms);
    curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, hook.timeout_ms);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(w->curl, CURLOPT_USERAGENT, "Custos-Webhooks/1");
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)m->body_len);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
    rc = curl_easy_perform(w->curl);
    if (rc == CURLE_OK && curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
        *status = (int)code;
    else
        snprintf(error, 64, "%s", curl_code(rc));
    curl_slist_free_all(h);
    curl_slist_free_all(pins);
}

static void *work(void *arg)
{
    worker *w = arg;

    pthread_mutex_lock(&hook.m);
    while (!hook.stop) {
        cu_err e = {0};
        size_t sent = 0;
        cu_rc rc;
        pthread_mutex_unlock(&hook.m);
        rc = cu_webhook_deliver_due(hook.v, w->holder, 4, &hook.retry, send_curl, w, &sent, &e);
        if (rc != CU_OK) /* codes only: a message could name an endpoint's URL */
            fprintf(stderr, "{\"webhooks\":\"%s\"}\n", cu_rc_name(rc));
        pthread_mutex_lock(&hook.m);
        if (sent == 0 && !hook.stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += hook.poll_ms / 1000;
            until.tv_nsec += (hook.poll_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&hook.c, &hook.m, &until);
        }
    }
    pthread_mutex_unlock(&hook.m);
    return NULL;
}

void http_webhook_start(cu_vault *v)
{
    long n = env_long("CUSTOS_WEBHOOK_WORKERS", 2, 0, WORKERS_MAX);

    hook.v = v;
    hook.stop = 0;
    hook.timeout_ms = env_long("CUSTOS_WEBHOOK_TIMEOUT", 10, 1, 300) * 1000;
    hook.connect_ms = env_long("CUSTOS_WEBHOOK_CONNECT_TIMEOUT", 5, 1, 60) * 1000;
    hook.poll_ms = env_long("CUSTOS_WEBHOOK_POLL_MS", 1000, 10, 60000);
    hook.retry.base = env_long("CUSTOS_WEBHOOK_RETRY_BASE", 5, 1, 86400);
    hook.retry.max_attempts = (unsigned)env_long("CUSTOS_WEBHOOK_MAX_ATTEMPTS", 16, 1, 100);
    /* A claim outlasts the whole transfer, so it never lapses while its try is in flight. */
    hook.retry.lease = (hook.timeout_ms + hook.connect_ms) / 1000 + 30;
    if (n == 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return;
    for (hook.n = 0; hook.n < (unsigned)n; hook.n++) {
        worker *w = &hook.w[hook.n];
        w->holder = cu_random_id();
        if ((w->curl = curl_easy_init()) == NULL ||
            pthread_create(&w->th, NULL, work, w) != 0) {
            if (w->curl != NULL)
                curl_easy_cleanup(w->curl);
            break;
        }
    }
}

void http_webhook_stop(void)
{
    pthread_mutex_lock(&hook.m);
    hook.stop = 1;
    pthread_cond_broadcast(&hook.c);
    pthread_mutex_unlock(&hook.m);
    for (unsigned i = 0; i < hook.n; i++) {
        pthread_join(hook.w[i].th, NULL);
        curl_easy_cleanup(hook.w[i].curl);
    }
    if (hook.n > 0)
        curl_global_cleanup();
    hook.n = 0;
}
