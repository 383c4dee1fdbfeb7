/*
 * server.c: the HTTPS server: libmicrohttpd with its internal epoll thread and a thread pool,
 * TLS 1.3 only through GnuTLS (P-ENC-4), request bodies with a hard cap, one JSON access log
 * line per request with no personal value in it, and a graceful stop on SIGTERM.
 *
 * Request lifecycle: the first call of the access handler only allocates the request (queuing a
 * response then closes the connection in libmicrohttpd 0.9.75); upload calls append to the body
 * up to the route's limit (http_body_limit) and drop the rest; the last call queues 413 for a
 * body over the limit, or dispatches and queues the answer. A handler whose core call waits for
 * its group commit leaves r->pending instead: the connection is suspended, holding no thread,
 * until the core's completion resumes it, and the next call queues the answer (pending.c). The
 * completion callback logs, counts and frees, wiping the body and the response.
 *
 * Slow and greedy clients. One address holds at most max_conns_per_ip connections of the
 * max_conns there are, so a single attacker cannot fill them and /healthz still answers the
 * rest. Every connection is tracked from accept with the time its current phase began: the TLS
 * handshake and the headers must come within header_timeout seconds (on a kept-alive
 * connection, from the end of the previous answer), the body within body_timeout seconds
 * after the headers, and the whole answer within reply_timeout seconds once it is ready (a
 * reader taking a byte now and then would otherwise hold the connection and the answer's
 * memory for ever); the handler itself has no deadline; the main thread looks every quarter second
 * and shuts down the socket of a connection past its deadline, which libmicrohttpd then closes.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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
#include "portal.h"
#include "tls_reload.h"
#include "json.h"
#include "util.h"

/* P-ENC-4: TLS 1.3 and nothing else; a TLS 1.2 client fails the handshake. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define HSTS "max-age=63072000; includeSubDomains"
#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_MAX_CONNS 1024
#define DEFAULT_MAX_CONNS_PER_IP 64
#define DEFAULT_HEADER_TIMEOUT 10
#define DEFAULT_BODY_TIMEOUT 60
#define DEFAULT_REPLY_TIMEOUT 60
#define IDLE_TIMEOUT 30
#define TRIM_KEEP (4 * 1024 * 1024) /* bytes kept free at the top of an arena (mallopt) */
/* A connection's memory in libmicrohttpd: its request line and headers, the read buffer a body
 * passes through, the answer's headers. Bodies and answers of any size pass through it, not
 * into it. It is most of what an idle keep-alive connection costs (bench/conns.sh: 16 KiB, about
 * 26 KB a connection with TLS; 64 KiB, about 42 KB), and headers beyond it are answered 431
 * (a Cookie header counts twice: libmicrohttpd keeps a parsed copy; about 7 KiB of cookies fit). */
#define CONN_MEMORY ((size_t)16 * 1024)
#define CONN_MEMORY_STEP ((size_t)1024) /* the read buffer grows by this, within CONN_MEMORY */
#define LINGER_MAX 64 /* sockets closed after a direct answer and still drained, at most */
#define LINGER_S 2.0  /* seconds such a socket is drained, at most */
#define LINGER_READ ((size_t)1024 * 1024)      /* read and dropped per socket per tick, at most */
#define DISCARD_MAX ((size_t)16 * 1024 * 1024) /* read and dropped past the limit, at most */

static atomic_int inflight;
/* Set when the server stops: a request that begins after it is answered 503 (a new request on a
 * kept-alive connection would otherwise start work the stop does not wait for). */
static atomic_int stopping;

/* What a connection waits for: its deadline runs from conn_track.since. A handler at work
 * (CONN_HANDLE) has none: an export or a deep verify of a large vault may take long. */
typedef enum { CONN_HEAD, CONN_BODY, CONN_HANDLE, CONN_REPLY } conn_phase;

typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    /* The phase and the monotonic millisecond it began, packed as (ms << 2) | phase: the
     * connection's own thread stores it without a lock as the request moves on, the reaper
     * reads it in one load, so it never sees a phase with another phase's start. */
    atomic_uint_least64_t state;
    int cut; /* its socket was shut down (by the reaper, under conns_lock) */
} conn_track;

_Static_assert(CONN_REPLY <= 3, "a phase fits in two bits");

/* Every open connection, for the deadlines; callbacks of all pool threads and the main thread
 * meet here. An entry leaves the list in the CLOSED notification, before libmicrohttpd closes
 * the socket, so a shutdown under the lock never reaches a reused descriptor. The lock is
 * taken when a connection opens and closes, and by the reaper, never per request. */
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static conn_track *conns;

/* The marker the URI callback leaves as the request's context when it cut the query. */
static char query_cut_mark;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A conn_track state: phase, begun now. */
static uint64_t conn_state(conn_phase phase)
{
    struct timespec ts;
    uint64_t ms;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    return ms << 2 | (uint64_t)phase;
}

/* Frees a buffer that held personal values: wiped first. */
static void wipe_free(void *p)
{
    if (p != NULL) {
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    const union MHD_ConnectionInfo *ci;
    conn_track *t = *socket_context;

    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci != NULL)
            http_accept_started(ci->connect_fd);
        if (ci == NULL || (t = calloc(1, sizeof(*t))) == NULL)
            return; /* untracked: only the idle timeout applies */
        t->fd = ci->connect_fd;
        atomic_init(&t->state, conn_state(CONN_HEAD));
        pthread_mutex_lock(&conns_lock);
        t->next = conns;
        if (conns != NULL)
            conns->prev = t;
        conns = t;
        pthread_mutex_unlock(&conns_lock);
        *socket_context = t;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_accept_count(-1); /* its place, reserved by accept.c at the hand-over */
        if (t == NULL)
            return;
        pthread_mutex_lock(&conns_lock);
        if (t->prev != NULL)
            t->prev->next = t->next;
        else
            conns = t->next;
        if (t->next != NULL)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&conns_lock);
        free(t);
        *socket_context = NULL;
    }
}

/* Starts the connection's next phase, and with it the phase's deadline; no lock (see
 * conn_track.state): the entry lives until the CLOSED notification, after the last request. */
static void conn_enter(struct MHD_Connection *c, conn_phase phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_track *t = ci ? ci->socket_context : NULL;

    if (t != NULL)
        atomic_store_explicit(&t->state, conn_state(phase), memory_order_relaxed);
}

/* Shuts down every connection past its phase's deadline; libmicrohttpd sees the end of the
 * stream and closes it. */
static void conns_reap(const cu_http_config *cfg)
{
    uint64_t now = conn_state(CONN_HEAD) >> 2;

    pthread_mutex_lock(&conns_lock);
    for (conn_track *t = conns; t != NULL; t = t->next) {
        uint64_t st = atomic_load_explicit(&t->state, memory_order_relaxed), since = st >> 2;
        conn_phase phase = (conn_phase)(st & 3);
        uint64_t limit = phase == CONN_HEAD    ? cfg->header_timeout
                         : phase == CONN_BODY  ? cfg->body_timeout
                         : phase == CONN_REPLY ? cfg->reply_timeout
                                               : 0;
        if (limit > 0 && !t->cut && now >= since && now - since >= limit * 1000) {
            if (phase == CONN_REPLY) { /* abort: the kernel drops the answer it holds */
                struct linger abort_close = {1, 0};
                setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof(abort_close));
            }
            shutdown(t->fd, SHUT_RDWR);
            t->cut = 1;
        }
    }
    pthread_mutex_unlock(&conns_lock);
}

/* Called once the request line is read, before libmicrohttpd splits the query: each parameter
 * costs connection memory, and about 950 of them used it up and left the request unanswered.
 * A query of more than HTTP_MAX_QUERY parameters is cut here, and the request refused. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    char *q = uri ? strchr(uri, '?') : NULL;
    size_t n = 1;

    (void)cls;
    (void)c;
    if (q == NULL)
        return NULL;
    for (const char *p = q + 1; *p != '\0'; p++)
        n += *p == '&';
    if (n <= HTTP_MAX_QUERY)
        return NULL;
    q[1] = '\0'; /* the URI lies in the connection's buffer, ours to cut */
    return &query_cut_mark;
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
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->source,
                  sizeof(r->source));
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
    r->body_max = http_body_limit(r);
    cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > r->body_max)
        r->body_too_large = 1;
    return r;
}

/* Over the limit, the rest of the body is counted in body_len but not kept. */
static void body_append(http_req *r, const char *data, size_t n)
{
    if (!r->body_too_large && r->body_len + n > r->body_max) {
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

/* A streamed answer (http_req.stream_read), as libmicrohttpd reads it: in chunks of at most
 * the connection's write buffer, each produced when the socket has room for it, so the producer
 * is bounded by the client's pace. */
typedef struct http_stream {
    struct MHD_Connection *conn;
    long (*read)(void *arg, char *buf, size_t max);
    void (*done)(void *arg);
    void *arg;
} http_stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    http_stream *st = cls;
    long n;

    (void)pos;
    /* The reply's deadline runs from the last chunk: a long export that the client reads
     * steadily is not cut, one it stops reading is. */
    conn_enter(st->conn, CONN_REPLY);
    n = st->read(st->arg, buf, max);
    return n > 0    ? (ssize_t)n
           : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                    : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
    http_stream *st = cls;

    st->done(st->arg);
    free(st);
    /* A streamed answer is a large request: what it freed goes back to the system, from every
     * arena, or each pool thread's arena would keep its peak (bench/README.md, export). */
    malloc_trim(0);
}

/* r's answer as a response: its buffer, or its stream (chunked, size unknown). */
static struct MHD_Response *response_new(http_req *r)
{
    struct MHD_Response *resp;
    http_stream *st;

    if (r->stream_read == NULL) {
        if (r->resp == NULL)
            http_error(r, 500, "internal", "no response");
        resp = MHD_create_response_from_buffer_with_free_callback(r->resp_len, r->resp, wipe_free);
        if (resp != NULL)
            r->resp = NULL; /* owned by the response now */
        return resp;
    }
    if ((st = malloc(sizeof(*st))) == NULL)
        return NULL;
    *st = (http_stream){r->conn, r->stream_read, r->stream_done, r->stream_arg};
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
                                             stream_free);
    if (resp == NULL) {
        free(st);
        return NULL;
    }
    r->stream_read = NULL; /* owned by the response now */
    r->stream_done = NULL;
    return resp;
}

static enum MHD_Result queue(http_req *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if ((resp = response_new(r)) == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_STRICT_TRANSPORT_SECURITY, HSTS);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            r->cache_control ? r->cache_control : "no-store");
    if (r->etag[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
    /* On every answer, JSON too: a page of ours runs only our own files, and an answer opened
     * as a page runs nothing (docs/portal.md). One header: a route may set a stricter one
     * (the unsubscribe page, banner.js). */
    MHD_add_response_header(resp, "Content-Security-Policy", r->csp ? r->csp : PORTAL_CSP);
    MHD_add_response_header(resp, "Referrer-Policy", PORTAL_REFERRER);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (r->set_cookie2[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie2);
    if (r->set_cookie[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    if (r->allow[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->location[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
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
    if (r == NULL || *con_cls == &query_cut_mark) {
        int cut = r != NULL;
        *con_cls = NULL;
        r = req_new(c, cfg, ctx[1], url, method);
        if (r == NULL)
            return MHD_NO;
        r->query_too_long = cut;
        r->late = atomic_load(&stopping);
        *con_cls = r;
        atomic_fetch_add(&inflight, 1);
        conn_enter(c, CONN_BODY);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        body_append(r, upload, *upload_size);
        *upload_size = 0;
        /* A body over the limit is read and dropped, and 413 answered once it has all come:
         * libmicrohttpd 0.9.75 refuses a response queued mid-upload, and the MHD_NO that
         * follows closes the connection with no answer at all. A client that goes on far
         * beyond the limit is cut off. */
        if (r->body_too_large && r->body_len > r->body_max + DISCARD_MAX)
            return MHD_NO;
        return MHD_YES;
    }
    if (r->queued)
        return MHD_YES;
    if (r->pending != NULL) { /* resumed: the core's answer has come */
        http_pending_finish(r);
        conn_enter(c, CONN_REPLY);
        return queue(r);
    }
    conn_enter(c, CONN_HANDLE);
    if (r->query_too_long)
        http_error(r, 400, "too_many_parameters", "a query takes at most %d parameters",
                   HTTP_MAX_QUERY);
    else if (r->body_too_large)
        http_error(r, 413, "too_large", "request body over %zu bytes", r->body_max);
    else if (r->late)
        http_error(r, 503, "unavailable", "the server is stopping");
    else
        http_dispatch(r);
    /* A request waiting for its group commit holds no thread: its connection sleeps until
     * the completion wakes it, and this handler is called again (pending.c). */
    if (r->pending != NULL && http_pending_suspend(r))
        return MHD_YES;
    conn_enter(c, CONN_REPLY);
    return queue(r);
}

/* --- libmicrohttpd's own errors ------------------------------------------------------------
 * libmicrohttpd 0.9.75 answers some malformed requests itself, before any callback of ours: a
 * malformed or oversized chunk, a request line or headers over the connection's memory (414,
 * 431), a version other than HTTP/1.0 and 1.1 (505; HTTP/0.9 gets 400), a header line without
 * a colon, a bad Content-Length. It makes those answers of static HTML without our headers and
 * has no option to change them. Its internal calls of MHD_create_response_from_buffer and
 * MHD_queue_response go through the PLT, so the two definitions below, in the executable, take
 * them. Our own responses carry X-Request-Id and pass unchanged; libmicrohttpd's become the
 * documented JSON error with the headers of every answer. We never call
 * MHD_create_response_from_buffer ourselves: it notes which error libmicrohttpd is making.
 *
 * After a bad Content-Length, libmicrohttpd 0.9.75 builds the queued answer's headers twice
 * (a doubled status line). There the JSON answer is written on the TLS session directly and
 * the queue refused, which makes libmicrohttpd close the connection: one well-formed answer. */

typedef struct MHD_Response *(*create_fn)(size_t, void *, enum MHD_ResponseMemoryMode);
typedef enum MHD_Result (*queue_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);

static create_fn real_create;
static queue_fn real_queue;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
/* The text of the error libmicrohttpd is answering on this thread's connection. */
static _Thread_local const char *mhd_text;
static _Thread_local size_t mhd_text_len;

static void real_resolve(void)
{
    void *p = dlsym(RTLD_NEXT, "MHD_create_response_from_buffer");

    memcpy(&real_create, &p, sizeof(p));
    p = dlsym(RTLD_NEXT, "MHD_queue_response");
    memcpy(&real_queue, &p, sizeof(p));
}

static int mhd_text_has(const char *needle)
{
    return mhd_text != NULL && memmem(mhd_text, mhd_text_len, needle, strlen(needle)) != NULL;
}

/* The code and message of libmicrohttpd's error of this status. */
static void mhd_error_describe(unsigned status, const char **code, const char **msg)
{
    *code = status == 413   ? "too_large"
            : status == 414 ? "uri_too_long"
            : status == 431 ? "headers_too_large"
            : status == 505 ? "http_version_not_supported"
            : status >= 500 ? "internal"
                            : "bad_request";
    *msg = mhd_text_has("Content-Length") ? "the Content-Length header is not a length taken here"
           : mhd_text_has("chunked encoding") ? "the chunked encoding is malformed"
           : mhd_text_has("chunk size")       ? "a chunk of the body is too large"
           : mhd_text_has("too big")          ? "the request line or headers are too long"
           : mhd_text_has("HTTP version")     ? "only HTTP/1.1 and HTTP/1.0 are spoken here"
           : mhd_text_has("Host")             ? "an HTTP/1.1 request needs a Host header"
                                              : "the request is not valid HTTP";
}

/* Sockets whose connection got an answer written directly (a bad Content-Length): the sending
 * side is shut down and libmicrohttpd closes its descriptor, but a duplicate stays here, and the
 * main thread reads and drops what the client still sends until it closes, or LINGER_S pass:
 * closing a socket with unread data resets the connection, and the client may lose the answer.
 * No pool thread ever waits for a client there (a blocking drain there held one 100 ms per
 * request). libmicrohttpd removes its descriptor from its epoll set itself before closing it, so
 * the duplicate raises no event there. */
typedef struct lingering {
    int fd;
    double until;
} lingering;

static pthread_mutex_t linger_lock = PTHREAD_MUTEX_INITIALIZER;
static lingering lingers[LINGER_MAX];
static size_t nlingers;

/* Ends the sending side of fd, whose descriptor libmicrohttpd is about to close, and keeps a
 * duplicate to drain; when LINGER_MAX are kept already, the socket just closes with the rest. */
static void linger_add(int fd)
{
    int dup_fd;

    shutdown(fd, SHUT_WR);
    pthread_mutex_lock(&linger_lock);
    if (nlingers < LINGER_MAX && (dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
        lingers[nlingers].fd = dup_fd;
        lingers[nlingers].until = now_s() + LINGER_S;
        nlingers++;
    }
    pthread_mutex_unlock(&linger_lock);
}

/* Reads what each lingering socket holds, without waiting, and closes those the client has
 * closed, those in error, those past their time, or all of them when all is set. */
static void linger_reap(int all)
{
    char junk[4096];
    double now = now_s();

    pthread_mutex_lock(&linger_lock);
    for (size_t i = 0; i < nlingers;) {
        ssize_t got;
        size_t total = 0;
        while (total < LINGER_READ &&
               (got = recv(lingers[i].fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
            total += (size_t)got;
        if (all || now >= lingers[i].until ||
            (total < LINGER_READ && (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)))) {
            close(lingers[i].fd);
            lingers[i] = lingers[--nlingers];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&linger_lock);
}

/* Writes r's answer, closing the connection, straight onto c's TLS session, at once or not at
 * all: the answer is small, and a client with no room for it waits for nothing. */
static void mhd_error_write(struct MHD_Connection *c, const http_req *r)
{
    const union MHD_ConnectionInfo *tls =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    const char *reason = MHD_get_reason_phrase_for(r->status);
    char msg[2048];
    int n;

    if (tls == NULL || fd == NULL || r->resp == NULL)
        return;
    n = snprintf(msg, sizeof(msg),
                 "HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                 "Strict-Transport-Security: %s\r\nCache-Control: no-store\r\n"
                 "X-Content-Type-Options: nosniff\r\nX-Request-Id: %s\r\n"
                 "Content-Length: %zu\r\n\r\n%.*s",
                 r->status, reason ? reason : "Error", HSTS, r->request_id, r->resp_len,
                 (int)r->resp_len, r->resp);
    if (n > 0 && (size_t)n < sizeof(msg) &&
        http_tls_send_now(tls->tls_session, msg, (size_t)n) == 0)
        linger_add(fd->connect_fd);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    pthread_once(&real_once, real_resolve);
    mhd_text = buffer;
    mhd_text_len = size;
    return real_create(size, buffer, mode);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
                                   struct MHD_Response *resp)
{
    http_req r;
    const char *code, *msg;
    enum MHD_Result ret;

    pthread_once(&real_once, real_resolve);
    if (resp == NULL || MHD_get_response_header(resp, "X-Request-Id") != NULL)
        return real_queue(c, status, resp);
    memset(&r, 0, sizeof(r));
    r.conn = c;
    cu_request_id(r.request_id);
    mhd_error_describe(status, &code, &msg);
    http_error(&r, status, code, "%s", msg);
    if (mhd_text_has("Content-Length")) {
        mhd_error_write(c, &r);
        ret = MHD_NO;
    } else {
        ret = queue(&r);
    }
    wipe_free(r.resp);
    mhd_text = NULL;
    return ret;
}

/* The one libmicrohttpd release the two dependences on its internals were tested with: on_uri
 * cuts the query in the connection's buffer before libmicrohttpd splits it, and its own error
 * answers reach the two definitions above through the PLT. Another release, or a static link,
 * could silently lose the query cap or the JSON errors: the server refuses to start instead. */
#define MHD_TESTED_VERSION "0.9.75"

/* CU_OK if the libmicrohttpd linked is MHD_TESTED_VERSION and its calls of the two functions
 * above reach ours, which reach its own; else CU_ERR_UNSUPPORTED, saying why. */
static cu_rc mhd_check(cu_err *err)
{
    const char *ver = CU_FAULT("http.mhd_version") ? "0.9.76" : MHD_get_version();
    void *global = dlsym(RTLD_DEFAULT, "MHD_queue_response");
    queue_fn ours = MHD_queue_response, found;

    memcpy(&found, &global, sizeof(global));
    pthread_once(&real_once, real_resolve);
    if (ver == NULL || strcmp(ver, MHD_TESTED_VERSION) != 0)
        return cu_err_set(err, CU_ERR_UNSUPPORTED,
                          "libmicrohttpd %s is linked, but the query cap and the JSON error "
                          "answers were tested with %s only (docs/api.md)",
                          ver ? ver : "(unknown)", MHD_TESTED_VERSION);
    if (found != ours || real_create == NULL || real_queue == NULL || real_queue == ours)
        return cu_err_set(err, CU_ERR_UNSUPPORTED,
                          "libmicrohttpd's own error answers cannot be replaced: it must be "
                          "linked as a shared library (docs/api.md)");
    return CU_OK;
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
                 !r->authed                            ? ""
                 : r->who.kind == CU_PRINCIPAL_APIKEY  ? "key:"
                 : r->who.kind == CU_PRINCIPAL_SUBJECT ? "subject:"
                                                       : "user:",
                 who, r->source, r->body_len);
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

    (void)toe;
    if (*con_cls == &query_cut_mark)
        *con_cls = NULL;
    if (*con_cls == NULL)
        return;
    conn_enter(c, CONN_HEAD); /* a kept-alive connection waits for the next request */
    secs = now_s() - r->t0;
    if (r->status == 0)
        r->status = 499; /* the client went away */
    http_metrics_observe(r, secs);
    if (!cfg->quiet)
        access_log(r, secs);
    http_pending_release(r); /* an answer still to come is freed by the completion */
    cJSON_Delete(r->json);
    wipe_free(r->body);
    wipe_free(r->resp);
    if (r->stream_done != NULL) /* never queued */
        r->stream_done(r->stream_arg);
    explicit_bzero(r->set_cookie, sizeof(r->set_cookie));
    explicit_bzero(r->set_cookie2, sizeof(r->set_cookie2));
    explicit_bzero(r->location, sizeof(r->location)); /* it carries a login's state */
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
    if ((rc = cu_file_read(kp, 1 << 20, key, &n, err)) != CU_OK ||
        (rc = http_tls_creds_set(cp, kp, *cert, *key, err)) != CU_OK) {
        if (*key != NULL)
            explicit_bzero(*key, strlen(*key));
        free(*key);
        free(*cert);
        return rc;
    }
    return CU_OK;
}

/* Fills in the defaults of the settings left at 0. */
static void config_defaults(cu_http_config *cfg)
{
    if (cfg->max_body == 0)
        cfg->max_body = DEFAULT_MAX_BODY;
    if (cfg->threads == 0) {
        /* One per core: the requests that wait for their group commit (a record's create,
         * read and update) wait suspended, holding no thread (pending.c), so threads are
         * for work, not for waiting; at least two, so one slow request (a login's password
         * hash, a synchronous commit) does not stop every connection. */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->threads = n > 2 ? (unsigned)n : 2;
    }
    if (cfg->max_conns == 0)
        cfg->max_conns = DEFAULT_MAX_CONNS;
    if (cfg->max_conns_per_ip == 0)
        cfg->max_conns_per_ip = DEFAULT_MAX_CONNS_PER_IP;
    if (cfg->header_timeout == 0)
        cfg->header_timeout = DEFAULT_HEADER_TIMEOUT;
    if (cfg->body_timeout == 0)
        cfg->body_timeout = DEFAULT_BODY_TIMEOUT;
    if (cfg->reply_timeout == 0)
        cfg->reply_timeout = DEFAULT_REPLY_TIMEOUT;
}

/* What the serving process sets for itself once. A write to a closed connection fails with
 * EPIPE instead of killing it. The store's writer frees each group's batch at once: under
 * glibc's default trim threshold (128 KiB) each such free gave the top of the writer's arena back
 * to the kernel, and the next group faulted it in again, 5% of the server's CPU under durable
 * writes, a tenth of the writer's (bench/README.md, issue 17's last pass). Up to TRIM_KEEP stays
 * at the top of each arena; a streamed answer still trims every arena after itself
 * (stream_free). */
static void process_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    mallopt(M_TRIM_THRESHOLD, TRIM_KEEP);
}

/* Between signals, the deadlines of the connections; the webhook workers run meanwhile
 * (docs/webhooks.md) and are stopped, each try in flight finished, once a signal comes. */
/* SIGHUP: the certificate and key again from their files, for the connections to come
 * (tls_reload.c); the open ones keep theirs. */
static void tls_reload(void)
{
    cu_err e = {0};

    http_sd_notify("RELOADING=1");
    if (http_tls_reload(&e) == CU_OK)
        fprintf(stderr, "{\"tls\":\"reloaded\"}\n");
    else
        fprintf(stderr, "{\"tls\":\"kept\",\"error\":\"%s\"}\n", cu_rc_name(e.code));
    http_sd_notify("READY=1");
}

static void serve_until_signal(const cu_http_config *cfg, const sigset_t *set, cu_vault *v)
{
    int sig = 0;

    http_webhook_start(v);
    while (sig != SIGTERM && sig != SIGINT) {
        struct timespec tick = {0, 250 * 1000 * 1000};
        sig = sigtimedwait(set, NULL, &tick);
        if (sig < 0 && errno != EAGAIN && errno != EINTR)
            break;
        if (sig == SIGHUP)
            tls_reload();
        conns_reap(cfg);
        linger_reap(0);
    }
    http_webhook_stop();
}

/* libmicrohttpd with its pool of cfg->threads, each with an epoll set of its own.
 * Connections come from accept.c's thread (MHD_add_connection), which spreads them over the
 * pool and holds the next one while max_conns are open; libmicrohttpd has no listening socket
 * of its own. Its own limit (split among its threads, and checked against the connections
 * started, not those queued) is set out of reach: a pool thread that refuses a queued
 * connection over its share leaves a mutex locked in 0.9.75 and freezes (a review's find). */
static struct MHD_Daemon *daemon_start(const cu_http_config *cfg, void **ctx)
{
    return MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_NO_LISTEN_SOCKET,
        0, NULL, NULL, on_request, ctx, MHD_OPTION_HTTPS_CERT_CALLBACK, http_tls_retrieve,
        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, ctx, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        ctx, MHD_OPTION_URI_LOG_CALLBACK, on_uri, ctx, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)IDLE_TIMEOUT, MHD_OPTION_CONNECTION_LIMIT, (cfg->max_conns + 2) * cfg->threads,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_conns_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY, MHD_OPTION_CONNECTION_MEMORY_INCREMENT,
        CONN_MEMORY_STEP, MHD_OPTION_END);
}

cu_rc cu_http_serve(const cu_http_config *in, cu_vault *v, cu_err *err)
{
    cu_http_config cfg = *in;
    struct sockaddr_in addr;
    struct MHD_Daemon *d = NULL;
    char *cert = NULL, *key = NULL;
    void *ctx[2] = {&cfg, v};
    unsigned port = 0;
    sigset_t set;
    cu_rc rc;

    config_defaults(&cfg);
    if ((rc = mhd_check(err)) != CU_OK)
        return rc;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg.port);
    if (inet_pton(AF_INET, cfg.listen ? cfg.listen : "127.0.0.1", &addr.sin_addr) != 1)
        return cu_err_set(err, CU_ERR_INVALID, "listen address must be an IPv4 address");
    if (http_listen(&addr, &port) != 0)
        return cu_err_set(err, CU_ERR_IO, "could not start the HTTPS server on %s:%u: %s",
                          cfg.listen ? cfg.listen : "127.0.0.1", cfg.port, strerror(errno));
    if ((rc = load_tls(&cfg, &cert, &key, err)) != CU_OK) {
        http_accept_stop();
        return rc;
    }
    /* SIGTERM, SIGINT and SIGHUP are taken by sigwait below, never by a pool thread. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    process_setup();
    atomic_store(&stopping, 0);
    d = daemon_start(&cfg, ctx);
    explicit_bzero(key, strlen(key));
    free(key);
    free(cert);
    if (d == NULL) {
        http_accept_stop();
        http_tls_creds_free();
        return cu_err_set(err, CU_ERR_IO, "could not start the HTTPS server on %s:%u",
                          cfg.listen ? cfg.listen : "127.0.0.1", cfg.port);
    }
    if ((rc = http_accept_start(d, cfg.max_conns, err)) != CU_OK) {
        http_accept_stop();
        MHD_stop_daemon(d);
        http_tls_creds_free();
        return rc;
    }
    printf("custos: listening on https://%s:%u (TLS 1.3 only, %u threads)\n",
           cfg.listen ? cfg.listen : "127.0.0.1", port, cfg.threads);
    fflush(stdout);
    http_sd_notify("READY=1"); /* Type=notify: listening (packaging/custos.service) */
    serve_until_signal(&cfg, &set, v);
    http_sd_notify("STOPPING=1");
    /* Graceful stop: no new connections (refused: accept.c closes the listening socket),
     * in-flight requests finish (30 s at most), a request begun after this is answered 503. */
    atomic_store(&stopping, 1);
    http_accept_stop();
    /* A request waiting for its group commit, suspended or about to be, is waited for beyond
     * the 30 s: the core's completion always comes (the group commits or fails) and resumes
     * it, and libmicrohttpd must not free a connection the completion will touch. */
    for (int i = 0; (atomic_load(&inflight) > 0 && i < 3000) || http_pending_outstanding() > 0; i++)
        usleep(10000);
    MHD_stop_daemon(d);
    http_tls_creds_free();
    linger_reap(1);
    printf("custos: stopped\n");
    fflush(stdout);
    return CU_OK;
}
