/*
 * server.c: the HTTPS server: libmicrohttpd with its internal epoll thread and a thread pool,
 * TLS 1.3 only through GnuTLS (P-ENC-4), request bodies with a hard cap, one JSON access log
 * line per request with no personal value in it, and a graceful stop on SIGTERM.
 *
 * Request lifecycle: the first call of the access handler only allocates the request (queuing a
 * response then closes the connection in libmicrohttpd 0.9.75); upload calls append to the body
 * up to the limit and drop the rest; the last call queues 413 for a body over the limit, or
 * dispatches and queues the answer. The completion callback logs, counts and frees, wiping the
 * body and the response.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_int.h"
#include "json.h"
#include "util.h"

/* P-ENC-4: TLS 1.3 and nothing else; a TLS 1.2 client fails the handshake. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define HSTS "max-age=63072000; includeSubDomains"
#define DEFAULT_MAX_BODY (1024 * 1024)
#define DISCARD_MAX ((size_t)16 * 1024 * 1024) /* read and dropped past the limit, at most */

static atomic_int inflight;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Frees a buffer that held personal values: wiped first. */
static void wipe_free(void *p)
{
    if (p != NULL) {
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
    }
}

const char *http_header(const http_req *r, const char *name)
{
    if (r->conn == NULL) /* header names are case-insensitive (RFC 9110) */
        for (const char *const *h = r->hdrs; h != NULL && h[0] != NULL; h += 2)
            if (strcasecmp(h[0], name) == 0)
                return h[1];
    return r->conn ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name) : NULL;
}

static void set_source(http_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    cu_strlcpy(r->source, "unknown", sizeof(r->source));
    if (sa != NULL && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->source,
                  sizeof(r->source));
    else if (sa != NULL && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                  r->source, sizeof(r->source));
}

static http_req *req_new(struct MHD_Connection *c, const cu_http_config *cfg, cu_vault *v,
                         const char *url, const char *method)
{
    http_req *r = calloc(1, sizeof(*r));
    const char *cl;

    if (r == NULL)
        return NULL;
    r->conn = c;
    r->v = v;
    r->cfg = cfg;
    r->method = method;
    r->t0 = now_s();
    if (cu_strlcpy(r->path, url, sizeof(r->path)) != 0)
        r->path[0] = '\0'; /* too long: no route matches */
    cu_request_id(r->request_id);
    set_source(r);
    cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > cfg->max_body)
        r->body_too_large = 1;
    return r;
}

/* Over the limit, the rest of the body is counted in body_len but not kept. */
static void body_append(http_req *r, const char *data, size_t n)
{
    if (!r->body_too_large && r->body_len + n > r->cfg->max_body) {
        r->body_too_large = 1;
        wipe_free(r->body);
        r->body = NULL;
        r->body_cap = 0;
    }
    if (r->body_too_large) {
        r->body_len += n;
        return;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        char *nb;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        nb = malloc(cap);
        if (nb == NULL) {
            r->body_too_large = 1;
            return;
        }
        if (r->body_len)
            memcpy(nb, r->body, r->body_len);
        wipe_free(r->body);
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

static enum MHD_Result queue(http_req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->resp == NULL)
        http_error(r, 500, "internal", "no response");
    resp = MHD_create_response_from_buffer_with_free_callback(r->resp_len, r->resp, wipe_free);
    if (resp == NULL)
        return MHD_NO;
    r->resp = NULL; /* owned by the response now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_STRICT_TRANSPORT_SECURITY, HSTS);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (r->set_cookie[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    if (r->allow[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    r->queued = 1;
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    void **ctx = cls;
    const cu_http_config *cfg = ctx[0];
    http_req *r = *con_cls;

    (void)version;
    if (r == NULL) {
        r = req_new(c, cfg, ctx[1], url, method);
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&inflight, 1);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        body_append(r, upload, *upload_size);
        *upload_size = 0;
        /* A body over the limit is read and dropped, and 413 answered once it has all come:
         * libmicrohttpd 0.9.75 refuses a response queued mid-upload, and the MHD_NO that
         * follows closes the connection with no answer at all. A client that goes on far
         * beyond the limit is cut off. */
        if (r->body_too_large && r->body_len > cfg->max_body + DISCARD_MAX)
            return MHD_NO;
        return MHD_YES;
    }
    if (r->queued)
        return MHD_YES;
    if (r->body_too_large)
        http_error(r, 413, "too_large", "request body over %zu bytes", cfg->max_body);
    else
        http_dispatch(r);
    return queue(r);
}

/* One JSON line on stderr per request: ids, route, status, timing; never a value (P-AUD-4). */
static void access_log(const http_req *r, double secs)
{
    char line[768], tenant[CU_ID_STRLEN] = "", who[CU_ID_STRLEN] = "";
    int n;

    if (r->tenant)
        cu_id_format(r->tenant, tenant);
    if (r->authed)
        cu_id_format(r->who.id, who);
    n = snprintf(line, sizeof(line),
                 "{\"ts\":%lld,\"request_id\":\"%s\",\"method\":\"%s\",\"route\":\"%s\","
                 "\"status\":%u,\"error\":\"%s\",\"ms\":%.3f,\"tenant\":\"%s\","
                 "\"principal\":\"%s%s\",\"source\":\"%s\",\"bytes_in\":%zu}\n",
                 (long long)time(NULL), r->request_id, r->route ? r->route->method : "other",
                 r->route ? r->route->metric : "unmatched", r->status,
                 r->err_code ? r->err_code : "", secs * 1e3, tenant,
                 !r->authed ? "" : r->who.kind == CU_PRINCIPAL_APIKEY ? "key:" : "user:", who,
                 r->source, r->body_len);
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    void **ctx = cls;
    const cu_http_config *cfg = ctx[0];
    http_req *r = *con_cls;
    double secs;

    (void)c;
    (void)toe;
    if (r == NULL)
        return;
    secs = now_s() - r->t0;
    if (r->status == 0)
        r->status = 499; /* the client went away */
    http_metrics_observe(r, secs);
    if (!cfg->quiet)
        access_log(r, secs);
    cJSON_Delete(r->json);
    wipe_free(r->body);
    wipe_free(r->resp);
    explicit_bzero(r->set_cookie, sizeof(r->set_cookie));
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&inflight, 1);
}

static cu_rc load_tls(const cu_http_config *cfg, char **cert, char **key, cu_err *err)
{
    char cpath[600], kpath[600], fp[128];
    const char *cp = cfg->cert, *kp = cfg->key;
    size_t n;
    int created = 0;
    cu_rc rc;

    if ((cp == NULL) != (kp == NULL))
        return cu_err_set(err, CU_ERR_INVALID, "--cert and --key go together");
    if (cp == NULL) {
        snprintf(cpath, sizeof(cpath), "%s/tls-cert.pem", cfg->data_dir);
        snprintf(kpath, sizeof(kpath), "%s/tls-key.pem", cfg->data_dir);
        if ((rc = cu_http_tls_ensure(cpath, kpath, fp, &created, err)) != CU_OK)
            return rc;
        printf("custos: %s self-signed certificate %s\n"
               "custos: certificate SHA-256 fingerprint %s\n",
               created ? "generated a" : "using the", cpath, fp);
        cp = cpath;
        kp = kpath;
    }
    if ((rc = cu_file_read(cp, 1 << 20, cert, &n, err)) != CU_OK)
        return rc;
    if ((rc = cu_file_read(kp, 1 << 20, key, &n, err)) != CU_OK) {
        free(*cert);
        return rc;
    }
    return CU_OK;
}

cu_rc cu_http_serve(const cu_http_config *in, cu_vault *v, cu_err *err)
{
    cu_http_config cfg = *in;
    struct sockaddr_in addr;
    struct MHD_Daemon *d = NULL;
    const union MHD_DaemonInfo *info;
    char *cert = NULL, *key = NULL;
    void *ctx[2] = {&cfg, v};
    sigset_t set;
    MHD_socket ls;
    int sig = 0;
    cu_rc rc;

    if (cfg.max_body == 0)
        cfg.max_body = DEFAULT_MAX_BODY;
    if (cfg.threads == 0) {
        /* Eight per core: a request waits for its group's fsync (audit, P-AUD-3), and only
         * requests waiting together can share one; more threads, bigger groups. */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = 8 * (n > 0 ? (unsigned)n : 2);
    }
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg.port);
    if (inet_pton(AF_INET, cfg.listen ? cfg.listen : "127.0.0.1", &addr.sin_addr) != 1)
        return cu_err_set(err, CU_ERR_INVALID, "listen address must be an IPv4 address");
    if ((rc = load_tls(&cfg, &cert, &key, err)) != CU_OK)
        return rc;
    /* SIGTERM and SIGINT are taken by sigwait below, never by a pool thread. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    d = MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC, 0, NULL, NULL, on_request, ctx,
        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, cfg.threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctx, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    explicit_bzero(key, strlen(key));
    free(key);
    free(cert);
    if (d == NULL)
        return cu_err_set(err, CU_ERR_IO, "could not start the HTTPS server on %s:%u",
                          cfg.listen ? cfg.listen : "127.0.0.1", cfg.port);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("custos: listening on https://%s:%u (TLS 1.3 only, %u threads)\n",
           cfg.listen ? cfg.listen : "127.0.0.1", info ? info->port : cfg.port, cfg.threads);
    fflush(stdout);
    while (sig != SIGTERM && sig != SIGINT)
        if (sigwait(&set, &sig) != 0)
            break;
    /* Graceful stop: no new connections, in-flight requests finish (30 s at most). The
     * listening socket is ours to close once quiesced: left open, the kernel would go on
     * accepting connections that nobody serves. */
    ls = MHD_quiesce_daemon(d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    for (int i = 0; i < 3000 && atomic_load(&inflight) > 0; i++)
        usleep(10000);
    MHD_stop_daemon(d);
    printf("custos: stopped\n");
    fflush(stdout);
    return CU_OK;
}
