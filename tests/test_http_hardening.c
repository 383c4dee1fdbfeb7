/*
 * test_http_hardening.c: the HTTP layer against slow, greedy and malformed clients (issue 18):
 * connection limits per address and deadlines for headers and bodies, queries with too many
 * parameters, small bodies where no credential is needed or no body is taken, the JSON node
 * cap, HEAD wherever GET is, and the errors libmicrohttpd makes itself answered as the
 * documented JSON with the headers of every answer.
 *
 * What curl cannot send goes over a raw TLS 1.3 connection made here with GnuTLS, which may
 * bind any source address of 127.0.0.0/8 to play a second client. Every attack is bounded in
 * count and time, and aims at loopback only.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "json.h"
#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    W = srv_world_new("hardened", NULL);
    *state = W;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_world_free(W);
    W = NULL;
    return 0;
}

/* --- a raw TLS 1.3 client ---------------------------------------------------------------- */

typedef struct raw {
    int fd;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t cred;
} raw;

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* s's address: 127.0.0.1 and the port of its URL. */
static struct sockaddr_in server_addr(const srv *s)
{
    struct sockaddr_in to = {0};

    to.sin_family = AF_INET;
    to.sin_port = htons((uint16_t)atoi(strrchr(s->base, ':') + 1));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    return to;
}

/* Connects to s from the source address src (NULL: any) with a receive buffer of rcvbuf bytes
 * (0: the system's) and completes the TLS handshake. 0, or -1 when the server refused or closed
 * the connection. The certificate is not checked: these tests are about HTTP, and test_http.c
 * checks the certificate. */
static int raw_connect(raw *c, const srv *s, const char *src, int rcvbuf)
{
    struct sockaddr_in to = server_addr(s), from = {0};
    struct timeval tv = {5, 0};
    int rc;

    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->fd >= 0);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (src != NULL) {
        from.sin_family = AF_INET;
        inet_pton(AF_INET, src, &from.sin_addr);
        assert_int_equal(bind(c->fd, (struct sockaddr *)&from, sizeof(from)), 0);
    }
    if (connect(c->fd, (struct sockaddr *)&to, sizeof(to)) != 0)
        return -1;
    assert_int_equal(gnutls_certificate_allocate_credentials(&c->cred), 0);
    assert_int_equal(gnutls_init(&c->tls, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_priority_set_direct(c->tls, "NORMAL:-VERS-ALL:+VERS-TLS1.3", NULL), 0);
    assert_int_equal(gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred), 0);
    gnutls_transport_set_int(c->tls, c->fd);
    do
        rc = gnutls_handshake(c->tls);
    while (rc < 0 && gnutls_error_is_fatal(rc) == 0 && rc != GNUTLS_E_AGAIN);
    return rc == 0 ? 0 : -1;
}

static int raw_open(raw *c, const srv *s, const char *src)
{
    return raw_connect(c, s, src, 0);
}

static void raw_close(raw *c)
{
    if (c->tls != NULL)
        gnutls_deinit(c->tls);
    if (c->cred != NULL)
        gnutls_certificate_free_credentials(c->cred);
    if (c->fd >= 0)
        close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void raw_send(raw *c, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = gnutls_record_send(c->tls, buf, n);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
            continue;
        assert_true(w > 0);
        buf += w;
        n -= (size_t)w;
    }
}

/* Reads until the server closes the connection or secs pass. Returns the bytes read
 * (NUL-terminated in buf); *closed says whether the connection ended. */
static size_t raw_read(raw *c, char *buf, size_t cap, double secs, int *closed)
{
    double until = mono_s() + secs;
    size_t n = 0;

    *closed = 0;
    while (n + 1 < cap && mono_s() < until) {
        struct pollfd p = {c->fd, POLLIN, 0};
        ssize_t got;
        if (gnutls_record_check_pending(c->tls) == 0 && poll(&p, 1, 100) == 0)
            continue;
        got = gnutls_record_recv(c->tls, buf + n, cap - 1 - n);
        if (got == GNUTLS_E_AGAIN || got == GNUTLS_E_INTERRUPTED)
            continue;
        if (got <= 0) {
            *closed = 1;
            break;
        }
        n += (size_t)got;
    }
    buf[n] = '\0';
    return n;
}

/* Sends req on a fresh connection and reads the whole answer (the server closes after it).
 * The server may answer a request too large before it has read all of it and close: the send
 * then stops at the reset, and what the server said is still read. */
static size_t raw_exchange(const srv *s, const char *req, size_t len, char *buf, size_t cap)
{
    raw c;
    int closed;
    size_t n;

    assert_int_equal(raw_open(&c, s, NULL), 0);
    while (len > 0) {
        ssize_t w = gnutls_record_send(c.tls, req, len);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
            continue;
        if (w <= 0)
            break;
        req += w;
        len -= (size_t)w;
    }
    n = raw_read(&c, buf, cap, 10, &closed);
    raw_close(&c);
    return n;
}

/* How many times an answer's status line starts a line of text. */
static int status_lines(const char *text)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, "HTTP/1.")) != NULL; p++)
        n += p == text || p[-1] == '\n';
    return n;
}

/* The value of header name in an answer, copied into out (empty if absent). */
static void header_of(const char *answer, const char *name, char *out, size_t cap)
{
    const char *end = strstr(answer, "\r\n\r\n");
    size_t nlen = strlen(name);

    out[0] = '\0';
    for (const char *p = strstr(answer, "\r\n"); p != NULL && p < end; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nlen) == 0 && p[2 + nlen] == ':') {
            const char *v = p + 3 + nlen, *e = strstr(v, "\r\n");
            size_t len;
            while (*v == ' ')
                v++;
            len = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return;
        }
}

/* Asserts a raw answer is exactly one JSON error of this status and code with the headers of
 * every answer of Custos. */
static void assert_raw_error(const char *answer, int status, const char *code)
{
    char want[32], got[64], val[128], msg[256];
    const char *body = strstr(answer, "\r\n\r\n");

    if (status_lines(answer) != 1)
        fail_msg("expected one status line, got %d in:\n%s", status_lines(answer), answer);
    snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
    if (strncmp(answer, want, strlen(want)) != 0)
        fail_msg("expected status %d, got:\n%s", status, answer);
    header_of(answer, "Content-Type", val, sizeof(val));
    assert_string_equal(val, "application/json");
    header_of(answer, "Strict-Transport-Security", val, sizeof(val));
    assert_string_equal(val, "max-age=63072000; includeSubDomains");
    header_of(answer, "X-Content-Type-Options", val, sizeof(val));
    assert_string_equal(val, "nosniff");
    header_of(answer, "Cache-Control", val, sizeof(val));
    assert_string_equal(val, "no-store");
    header_of(answer, "X-Request-Id", val, sizeof(val));
    assert_int_equal(strlen(val), 32);
    assert_non_null(body);
    header_of(answer, "Content-Length", val, sizeof(val));
    assert_int_equal(strtoul(val, NULL, 10), strlen(body + 4));
    if (srv_err(body + 4, got, msg) != 0)
        fail_msg("not a JSON error: %s", body + 4);
    assert_string_equal(got, code);
}

/* --- item 4: connection limits and deadlines ---------------------------------------------- */

/* Half a request line, then nothing: the connection is closed at the header deadline, long
 * before the 30 s idle timeout. */
static void test_half_a_request_line_is_cut_at_the_header_deadline(void **state)
{
    const char *const extra[] = {"--header-timeout", "1", NULL};
    char buf[256];
    int closed;
    srv s;
    raw c;

    (void)state;
    srv_start(&s, extra);
    assert_int_equal(raw_open(&c, &s, NULL), 0);
    raw_send(&c, "GET /heal", 9);
    raw_read(&c, buf, sizeof(buf), 15, &closed);
    assert_true(closed);
    assert_int_equal(buf[0], '\0');
    raw_close(&c);
    /* Trickling bytes does not keep it open: each one comes before the idle timeout, but the
     * deadline runs from the start. */
    assert_int_equal(raw_open(&c, &s, NULL), 0);
    closed = 0;
    for (int i = 0; i < 60 && !closed; i++) {
        raw_send(&c, "X", 1);
        raw_read(&c, buf, sizeof(buf), 0.25, &closed);
    }
    assert_true(closed);
    raw_close(&c);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* A body announced and never sent is cut at the body deadline. */
static void test_a_stalled_body_is_cut_at_the_body_deadline(void **state)
{
    const char *const extra[] = {"--body-timeout", "1", NULL};
    static const char req[] = "POST /v1/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              "application/json\r\nContent-Length: 100\r\n\r\n{\"na";
    char buf[256];
    int closed;
    srv s;
    raw c;

    (void)state;
    srv_start(&s, extra);
    assert_int_equal(raw_open(&c, &s, NULL), 0);
    raw_send(&c, req, sizeof(req) - 1);
    raw_read(&c, buf, sizeof(buf), 15, &closed);
    assert_true(closed);
    raw_close(&c);
    assert_int_equal(srv_stop(&s, 1), 0);
}

#define ATTACK 300

/* 300 connections from one address, each sending half a request line: that address gets
 * its 8, the others are refused at once, and another address still gets /healthz. */
static void test_one_address_cannot_take_the_server_offline(void **state)
{
    const char *const extra[] = {"--max-connections-per-ip", "8", "--header-timeout", "120", NULL};
    static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static raw att[ATTACK];
    char buf[2048];
    int open = 0, closed;
    srv s;
    raw c;

    (void)state;
    srv_start(&s, extra);
    for (int i = 0; i < ATTACK; i++) {
        if (raw_open(&att[i], &s, "127.0.0.1") == 0) {
            raw_send(&att[i], "GET /heal", 9);
            open++;
        }
    }
    assert_true(open >= 1);
    assert_true(open <= 8);
    assert_int_equal(raw_open(&c, &s, "127.0.0.2"), 0);
    raw_send(&c, health, sizeof(health) - 1);
    raw_read(&c, buf, sizeof(buf), 10, &closed);
    raw_close(&c);
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
        fail_msg("/healthz from 127.0.0.2 under attack: %s", buf);
    for (int i = 0; i < ATTACK; i++)
        raw_close(&att[i]);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* --- connections spread over the pool (src/http/accept.c) -------------------------------- */

/* Whether socket inode ino of process pid listens (state 0A in its /proc/PID/net/tcp). */
static int listens(pid_t pid, unsigned long ino)
{
    char path[64], line[512];
    int found = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        unsigned st;
        unsigned long i;
        if (sscanf(line, "%*d: %*x:%*x %*x:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &st, &i) == 2)
            found = st == 0x0A && i == ino;
    }
    fclose(f);
    return found;
}

/* Whether fd of process pid is a connected socket (not a listening one). */
static int is_connection(pid_t pid, int fd)
{
    char path[64], link[64];
    unsigned long ino;
    ssize_t k;

    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
    k = readlink(path, link, sizeof(link) - 1);
    if (k <= 0)
        return 0;
    link[k] = '\0';
    return sscanf(link, "socket:[%lu]", &ino) == 1 && !listens(pid, ino);
}

/* How many connections each epoll set of process pid watches, largest first, in counts (at
 * most cap sets); returns the number of sets, or -1 if the process's descriptors cannot be
 * read (the server makes itself undumpable: only root reads them). Each pool thread of
 * libmicrohttpd has a set of its own, holding the connections it serves. */
static int sockets_per_epoll(pid_t pid, int *counts, int cap)
{
    char dir[64], path[340], link[64], line[256];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    if ((d = opendir(dir)) == NULL)
        return -1;
    while ((e = readdir(d)) != NULL && n < cap) {
        ssize_t k;
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        k = readlink(path, link, sizeof(link) - 1);
        if (k <= 0 || (link[k] = '\0', strcmp(link, "anon_inode:[eventpoll]") != 0))
            continue;
        snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        counts[n] = 0;
        while (fgets(line, sizeof(line), f) != NULL) {
            int tfd;
            if (sscanf(line, "tfd: %d", &tfd) == 1 && is_connection(pid, tfd))
                counts[n]++;
        }
        fclose(f);
        for (int i = n++; i > 0 && counts[i] > counts[i - 1]; i--) {
            int t = counts[i];
            counts[i] = counts[i - 1];
            counts[i - 1] = t;
        }
    }
    closedir(d);
    return n;
}

#define SPREAD 16

/* Sixteen connections opened one after another over two pool threads: each thread serves half
 * of them, give or take two. libmicrohttpd's own listening socket let its threads race for
 * each, and the one already awake won most: 16/0 and 14/2 on an idle machine, while the other
 * core idled (src/http/accept.c; bench/README.md, session 16). Root only: the server is
 * undumpable, so only root reads its descriptors. */
static void test_connections_are_spread_over_the_pool_threads(void **state)
{
    const char *const extra[] = {"--threads", "2", NULL};
    static raw c[SPREAD];
    int counts[16], n;
    srv s;

    (void)state;
    if (geteuid() != 0)
        skip();
    srv_start(&s, extra);
    for (int i = 0; i < SPREAD; i++)
        assert_int_equal(raw_open(&c[i], &s, NULL), 0);
    n = sockets_per_epoll(s.pid, counts, 16);
    assert_true(n >= 2);
    if (counts[0] + counts[1] != SPREAD || counts[0] - counts[1] > 2)
        fail_msg("the pool threads serve %d and %d of %d connections", counts[0], counts[1],
                 SPREAD);
    for (int i = 0; i < SPREAD; i++)
        raw_close(&c[i]);
    assert_int_equal(srv_stop(&s, 1), 0);
}

static void *close_later(void *arg)
{
    struct timespec second = {1, 0};

    nanosleep(&second, NULL);
    raw_close(arg);
    return NULL;
}

/* At --max-connections the next connection waits, as in a backlog, and is served once one
 * closes (it is not refused: accept.c holds it until there is room). */
static void test_a_connection_over_the_limit_waits_for_room(void **state)
{
    const char *const extra[] = {"--max-connections", "4", "--threads", "2", NULL};
    static raw c[5];
    pthread_t closer;
    double t0;
    srv s;

    (void)state;
    srv_start(&s, extra);
    for (int i = 0; i < 4; i++)
        assert_int_equal(raw_open(&c[i], &s, NULL), 0);
    t0 = mono_s();
    assert_int_equal(pthread_create(&closer, NULL, close_later, &c[0]), 0);
    assert_int_equal(raw_open(&c[4], &s, NULL), 0);
    assert_true(mono_s() - t0 >= 0.8); /* not before one closed */
    pthread_join(closer, NULL);
    for (int i = 1; i < 5; i++)
        raw_close(&c[i]);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* Whether the server closed connection fd (readable with nothing to read), within ms. */
static int closed_by_server(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char b;

    return poll(&p, 1, ms) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

#define WAITING 10

/* Ten connections waiting at the limit when one of the four open closes: none is refused, and
 * the server still serves and stops. accept.c once counted a connection from its start on a
 * pool thread, so the waiting burst went through at once, over the limit, and a pool thread
 * refusing one froze for good (libmicrohttpd 0.9.75 leaves a mutex locked there), and the
 * stop with it. */
static void test_a_burst_at_the_limit_waits_and_the_server_lives(void **state)
{
    const char *const extra[] = {"--max-connections", "4", "--threads", "2", NULL};
    struct sockaddr_in addr;
    static raw c[4];
    int w[WAITING], refused = 0, served, stopped;
    srv_resp r;
    srv s;

    (void)state;
    srv_start(&s, extra);
    for (int i = 0; i < 4; i++)
        assert_int_equal(raw_open(&c[i], &s, NULL), 0);
    addr = server_addr(&s);
    for (int i = 0; i < WAITING; i++) {
        assert_true((w[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
        assert_int_equal(connect(w[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
    }
    raw_close(&c[0]);
    for (int i = 0; i < WAITING; i++)
        refused += closed_by_server(w[i], i == 0 ? 1000 : 0);
    for (int i = 0; i < WAITING; i++)
        close(w[i]);
    for (int i = 1; i < 4; i++)
        raw_close(&c[i]);
    served = srv_call(&s, "GET", "/healthz", NULL, NULL, NULL, &r) == 0 && r.status == 200;
    srv_resp_free(&r);
    stopped = srv_stop(&s, 1); /* before asserting: a frozen server is not left running */
    assert_int_equal(refused, 0);
    assert_true(served);
    assert_int_equal(stopped, 0);
}

#define DROPPED 8

/* libmicrohttpd closes a connection it took but could not start (its memory pool not
 * allocated), later and on its pool thread, with no notification: its place, reserved at the
 * hand-over, must come back all the same (accept.c), or a few such failures would leave the
 * server accepting nothing. CUSTOS_TEST_DROP_CONNECTIONS closes the first connections that way,
 * 50 ms after the hand-over: twice the limit of them arrive at once, so that the accepting
 * thread waits at the limit with the next one while the first are closed; then the limit's
 * worth of connections opens and the server answers. */
static void test_connections_closed_before_they_start_give_their_place_back(void **state)
{
    const char *const extra[] = {"--max-connections", "4", NULL};
    char drop[64];
    const char *const env[] = {drop, NULL};
    struct sockaddr_in addr;
    static raw c[4];
    int w[DROPPED], dropped = 0, opened = 0, served, stopped;
    srv_resp r;
    srv s;

    (void)state;
    snprintf(drop, sizeof(drop), "CUSTOS_TEST_DROP_CONNECTIONS=%d", DROPPED);
    srv_start_env(&s, extra, env);
    addr = server_addr(&s);
    for (int i = 0; i < DROPPED; i++) {
        assert_true((w[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
        assert_int_equal(connect(w[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
    }
    for (int i = 0; i < DROPPED; i++)
        dropped += closed_by_server(w[i], 3000);
    for (int i = 0; i < DROPPED; i++)
        close(w[i]);
    for (int i = 0; i < 4; i++)
        opened += raw_open(&c[i], &s, NULL) == 0;
    for (int i = 0; i < 4; i++)
        raw_close(&c[i]);
    served = srv_call(&s, "GET", "/healthz", NULL, NULL, NULL, &r) == 0 && r.status == 200;
    srv_resp_free(&r);
    stopped = srv_stop(&s, 1);
    if (dropped != DROPPED)
        fail_msg("the server took %d of %d connections: a dropped one kept its place", dropped,
                 DROPPED);
    assert_int_equal(opened, 4);
    assert_true(served);
    assert_int_equal(stopped, 0);
}

/* Out of descriptors (EMFILE) with connections open, the server still stops at once on SIGTERM:
 * accept4 fails with EMFILE before it sees the listening socket shut, and the accepting
 * thread, waiting for descriptors, used to wait for ever (a stop held until the header
 * deadline closed connections, or until SIGKILL). */
static void test_sigterm_stops_a_server_out_of_descriptors(void **state)
{
    const char *const extra[] = {"--header-timeout", "60", "--threads", "2", NULL};
    const char *was = getenv("CUSTOS");
    char dir[] = "/tmp/custos-fds-XXXXXX", wrapper[64], bin[4096], *saved = NULL;
    static raw c[64];
    int n = 0, stopped;
    double t0, took;
    FILE *f;
    srv s;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_non_null(realpath(was && *was ? was : "build/test/custos", bin));
    snprintf(wrapper, sizeof(wrapper), "%s/custos", dir);
    assert_non_null(f = fopen(wrapper, "w"));
    fprintf(f, "#!/bin/sh\nulimit -n 48\nexec '%s' \"$@\"\n", bin);
    fclose(f);
    assert_int_equal(chmod(wrapper, 0700), 0);
    if (was != NULL)
        saved = strdup(was);
    setenv("CUSTOS", wrapper, 1);
    srv_start(&s, extra);
    while (n < 64 && raw_open(&c[n], &s, NULL) == 0)
        n++;
    t0 = mono_s();
    stopped = srv_stop(&s, 1);
    took = mono_s() - t0;
    for (int i = 0; i <= n && i < 64; i++)
        raw_close(&c[i]);
    if (saved != NULL)
        setenv("CUSTOS", saved, 1);
    else
        unsetenv("CUSTOS");
    free(saved);
    unlink(wrapper);
    rmdir(dir);
    assert_true(n >= 1 && n < 64); /* some served, then the descriptors ran out */
    assert_int_equal(stopped, 0);
    assert_true(took < 10);
}

/* --- item 6: many query parameters -------------------------------------------------------- */

/* Thousands of parameters used up the connection's memory: no answer until the 30 s idle
 * timeout closed the connection. */
static void test_thousands_of_query_parameters_answer_400_at_once(void **state)
{
    size_t cap = 16 * 3000 + 64, n;
    char *path = malloc(cap);
    srv_resp r;

    (void)state;
    assert_non_null(path);
    n = (size_t)snprintf(path, cap, "/healthz?");
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(path + n, cap - n, "%sa%d=1", i ? "&" : "", i);
    assert_int_equal(srv_call(&W->s, "GET", path, NULL, NULL, NULL, &r), 0);
    srv_assert_err(&r, 400, "too_many_parameters");
    srv_resp_free(&r);
    /* 32 are still read (and refused one by one where the route takes none of them). */
    n = (size_t)snprintf(path, cap, "/v1/audit?");
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(path + n, cap - n, "%sa%d=1", i ? "&" : "", i);
    assert_int_equal(srv_call(&W->s, "GET", path, W->s.operator_key, NULL, NULL, &r), 0);
    srv_assert_err(&r, 400, "unknown_field");
    srv_resp_free(&r);
    free(path);
}

/* --- item 5: small bodies without a credential, and the node cap -------------------------- */

static void test_login_body_over_8_KiB_is_413_unparsed(void **state)
{
    char path[128], *body = malloc(9001);
    srv_resp r;

    (void)state;
    assert_non_null(body);
    /* Not even JSON: a parse would answer 400 malformed_json. */
    memset(body, '[', 9000);
    body[9000] = '\0';
    snprintf(path, sizeof(path), "/v1/tenants/%s/login", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, NULL, NULL, body, &r), 0);
    srv_assert_err(&r, 413, "too_large");
    srv_resp_free(&r);
    free(body);
}

/* Review item 2: a route that takes 1 MiB from a caller with a credential takes 8 KiB from one
 * without: an anonymous client made the server buffer 1 MiB per request, only to answer 401. */
static void test_anonymous_body_over_8_KiB_is_413_where_a_credential_gets_1_MiB(void **state)
{
    const char *const bearer[] = {"Content-Type: application/json",
                                  "Authorization: Bearer not-a-key", NULL};
    const char *const cookie[] = {"Content-Type: application/json",
                                  "Cookie: custos_session=not-a-session", NULL};
    const char *const none[] = {"Content-Type: application/json", NULL};
    char *body = malloc(9001);
    srv_resp r;

    (void)state;
    assert_non_null(body);
    memset(body, ' ', 9000);
    memcpy(body, "{}", 2);
    body[9000] = '\0';
    assert_int_equal(srv_call_h(&W->s, "POST", "/v1/tenants", none, body, 9000, &r), 0);
    srv_assert_err(&r, 413, "too_large");
    srv_resp_free(&r);
    /* With a credential, even a wrong one, the body is read: the credential is refused. */
    assert_int_equal(srv_call_h(&W->s, "POST", "/v1/tenants", bearer, body, 9000, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    assert_int_equal(srv_call_h(&W->s, "POST", "/v1/tenants", cookie, body, 9000, &r), 0);
    srv_assert_err(&r, 401, "unauthenticated");
    srv_resp_free(&r);
    free(body);
}

/* Builds {"name":[0,0,...]} with n values in all (the object and the array count). */
static char *many_values(size_t n)
{
    size_t cap = 16 + 2 * n, len;
    char *s = malloc(cap);

    assert_non_null(s);
    len = (size_t)snprintf(s, cap, "{\"name\":[");
    for (size_t i = 0; i + 2 < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s0", i ? "," : "");
    snprintf(s + len, cap - len, "]}");
    return s;
}

static void test_json_over_the_node_cap_is_refused(void **state)
{
    char *ok = many_values(CU_JSON_MAX_NODES), *over = many_values(CU_JSON_MAX_NODES + 1);
    cJSON *doc = NULL;
    cu_err e = {0};
    srv_resp r;

    (void)state;
    assert_int_equal(cu_json_parse(ok, strlen(ok), &doc, NULL, &e), CU_OK);
    cJSON_Delete(doc);
    assert_int_equal(cu_json_parse(over, strlen(over), &doc, NULL, &e), CU_ERR_LIMIT);
    assert_null(doc);
    assert_non_null(strstr(e.msg, "values"));
    assert_int_equal(srv_call(&W->s, "POST", "/v1/tenants", W->s.operator_key, NULL, over, &r), 0);
    srv_assert_err(&r, 400, "json_too_complex");
    srv_resp_free(&r);
    free(ok);
    free(over);
}

/* --- item 17: routes that take no body ---------------------------------------------------- */

static void test_routes_without_a_body_refuse_one_before_acting(void **state)
{
    const char *owner = W->a.key[CU_ROLE_OWNER];
    char path[160];
    srv_resp r;

    (void)state;
    assert_int_equal(srv_call(&W->s, "POST", "/v1/sweep", W->s.operator_key, NULL, "{}", &r), 0);
    srv_assert_err(&r, 400, "body_not_allowed");
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/keys/rotate", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, owner, NULL, "{\"x\":1}", &r), 0);
    srv_assert_err(&r, 400, "body_not_allowed");
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit/checkpoints", W->a.id);
    assert_int_equal(srv_call(&W->s, "POST", path, owner, NULL, "{}", &r), 0);
    srv_assert_err(&r, 400, "body_not_allowed");
    srv_resp_free(&r);
    /* No checkpoint was made by the refused request. */
    assert_int_equal(srv_call(&W->s, "GET", path, owner, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "\"seq\""));
    srv_resp_free(&r);
    assert_int_equal(srv_call(&W->s, "POST", "/v1/logout", W->a.session, NULL, "{}", &r), 0);
    srv_assert_err(&r, 400, "body_not_allowed");
    srv_resp_free(&r);
    /* The session still works: logout did not act. */
    snprintf(path, sizeof(path), "/v1/tenants/%s", W->a.id);
    assert_int_equal(srv_call(&W->s, "GET", path, W->a.session, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    /* Without a body they act. */
    assert_int_equal(srv_call(&W->s, "POST", "/v1/sweep", W->s.operator_key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
}

/* --- item 18: HEAD ------------------------------------------------------------------------- */

static void test_head_is_served_like_get_on_healthz_and_audit(void **state)
{
    static const char head[] = "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    char buf[2048], val[64], req[512];
    srv_resp r;

    (void)state;
    raw_exchange(&W->s, head, sizeof(head) - 1, buf, sizeof(buf));
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
        fail_msg("HEAD /healthz: %s", buf);
    header_of(buf, "Strict-Transport-Security", val, sizeof(val));
    assert_true(val[0] != '\0');
    /* Headers only: nothing follows them. */
    assert_string_equal(strstr(buf, "\r\n\r\n"), "\r\n\r\n");
    snprintf(req, sizeof(req),
             "HEAD /v1/tenants/%s/audit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Connection: close\r\n\r\n",
             W->a.id, W->a.key[CU_ROLE_OWNER]);
    raw_exchange(&W->s, req, strlen(req), buf, sizeof(buf));
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
        fail_msg("HEAD on the audit log: %s", buf);
    assert_string_equal(strstr(buf, "\r\n\r\n"), "\r\n\r\n");
    assert_int_equal(srv_call(&W->s, "POST", "/healthz", NULL, NULL, NULL, &r), 0);
    srv_assert_err(&r, 405, "method_not_allowed");
    assert_string_equal(r.allow, "GET, HEAD");
    srv_resp_free(&r);
}

/* --- items 15 and 16: libmicrohttpd's own errors ------------------------------------------ */

static void test_errors_of_libmicrohttpd_are_json_with_our_headers(void **state)
{
    static const struct {
        const char *req;
        int status;
        const char *code;
    } cases[] = {
        {"POST /v1/sweep HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
         "bad_request"},
        {"POST /v1/sweep HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "FFFFFFFFFFFFFFFFFFFF\r\n",
         413, "too_large"},
        {"GET /healthz HTTP/2.5\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"},
        {"GET /healthz\r\n\r\n", 400, "bad_request"},
        {"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "bad_request"},
    };
    size_t big = 70 * 1024, n;
    char *buf = malloc(4096), *req = malloc(big + 128);

    (void)state;
    assert_non_null(buf);
    assert_non_null(req);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_exchange(&W->s, cases[i].req, strlen(cases[i].req), buf, 4096);
        assert_raw_error(buf, cases[i].status, cases[i].code);
    }
    /* A request line, then headers, over the connection's 16 KiB (and the 64 KiB it once was). */
    memset(req, 'a', big + 127);
    memcpy(req, "GET /", 5);
    snprintf(req + 5 + big, 123, " HTTP/1.1\r\nHost: x\r\n\r\n");
    raw_exchange(&W->s, req, strlen(req), buf, 4096);
    assert_raw_error(buf, 414, "uri_too_long");
    n = (size_t)snprintf(req, 64, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'b', big);
    snprintf(req + n + big, 64, "\r\n\r\n");
    raw_exchange(&W->s, req, strlen(req), buf, 4096);
    assert_raw_error(buf, 431, "headers_too_large");
    free(req);
    free(buf);
}

static void test_a_bad_content_length_gets_one_well_formed_answer(void **state)
{
    static const struct {
        const char *length;
        int status;
        const char *code;
    } cases[] = {
        {"-5", 400, "bad_request"},
        {"abc", 400, "bad_request"},
        {"99999999999999999999999", 413, "too_large"},
    };
    char req[256], buf[4096], big[256 + 20000];
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(req, sizeof(req),
                 "POST /v1/sweep HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n",
                 cases[i].length);
        raw_exchange(&W->s, req, strlen(req), buf, sizeof(buf));
        assert_raw_error(buf, cases[i].status, cases[i].code);
    }
    /* With 20 KB after the headers, still unread when the server closes: the answer is not
     * lost to a reset. */
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /v1/sweep HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    memcpy(big, req, n);
    memset(big + n, 'x', 20000);
    raw_exchange(&W->s, big, n + 20000, buf, sizeof(buf));
    assert_raw_error(buf, 400, "bad_request");
}

/* Review item 1: the direct answer to a bad Content-Length held a pool thread up to 100 ms
 * per request (draining what the client still sent) and up to 5 s more when the socket had no
 * room. With one thread, 30 such requests from clients that then hold the socket open, sent
 * just before /healthz, delayed it by 3 s at the very least; now by their handling only. No
 * time is asserted (speed belongs to bench/): the test holds that /healthz and every attacker
 * are answered while the attackers keep their sockets, and prints the delay for the reader. */
static void test_bad_content_length_clients_holding_the_socket_do_not_hold_a_thread(void **state)
{
    const char *const extra[] = {"--threads", "1", "--quiet", NULL};
    static const char bad[] = "POST /v1/sweep HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n";
    static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    static raw att[30];
    char buf[2048];
    double t0, took;
    int closed;
    srv s;
    raw c;

    (void)state;
    srv_start(&s, extra);
    for (size_t i = 0; i < 30; i++)
        assert_int_equal(raw_open(&att[i], &s, NULL), 0);
    assert_int_equal(raw_open(&c, &s, NULL), 0);
    for (size_t i = 0; i < 30; i++)
        raw_send(&att[i], bad, sizeof(bad) - 1);
    t0 = mono_s();
    raw_send(&c, health, sizeof(health) - 1);
    raw_read(&c, buf, sizeof(buf), 10, &closed);
    took = mono_s() - t0;
    raw_close(&c);
    if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
        fail_msg("/healthz after the bad requests: %s", buf);
    printf("/healthz behind 30 bad Content-Length requests: %.2f s\n", took);
    for (size_t i = 0; i < 30; i++) {
        raw_read(&att[i], buf, sizeof(buf), 10, &closed);
        assert_raw_error(buf, 400, "bad_request");
        raw_close(&att[i]);
    }
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* Review item 3: an answer being sent had no deadline, so a reader taking a byte now and then
 * held the connection and the answer's memory for ever. Eight 900 KB records asked for at once
 * on one connection by a client that reads nothing (more than the kernel's 4 MiB of buffers
 * take): the connection is cut at the reply deadline, long before all of them have come. */
static void test_a_slow_reader_is_cut_at_the_reply_deadline(void **state)
{
    const char *const extra[] = {"--reply-timeout", "1", "--quiet", NULL};
    size_t big = 900 * 1000, n, got = 0;
    char *body = malloc(big + 256), req[512], id[SRV_ID], path[160];
    srv_tenant t;
    int closed = 0;
    srv s;
    raw c;

    (void)state;
    assert_non_null(body);
    srv_start(&s, extra);
    srv_tenant_make(&s, "slow", &t);
    n = (size_t)snprintf(body, 128, "{\"subject_id\":\"%s\",\"data\":{\"note\":\"", t.subject);
    memset(body + n, 'a', big);
    snprintf(body + n + big, 8, "\"}}");
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", t.id);
    srv_call_ok(&s, "POST", path, t.key[CU_ROLE_OWNER], "support", body, 201, id);
    snprintf(req, sizeof(req),
             "GET /v1/tenants/%s/records/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Custos-Purpose: support\r\n\r\n",
             t.id, id, t.key[CU_ROLE_OWNER]);
    assert_int_equal(raw_connect(&c, &s, NULL, 4096), 0);
    for (int i = 0; i < 8; i++)
        raw_send(&c, req, strlen(req));
    sleep(3); /* past the deadline, reading nothing; the server gives up meanwhile */
    for (int i = 0; i < 100 && !closed; i++)
        got += raw_read(&c, body, big, 0.2, &closed);
    raw_close(&c);
    assert_true(closed);
    if (got >= 8 * big)
        fail_msg("all eight answers came (%zu bytes) to a client past the reply deadline", got);
    assert_int_equal(srv_stop(&s, 1), 0);
    free(body);
}

/* Review item 5: the query cap and the JSON errors of libmicrohttpd depend on its internals in
 * 0.9.75; on another release (simulated by the fault point) the server refuses to start rather
 * than serve without them. */
static void test_an_untested_libmicrohttpd_is_refused_at_start(void **state)
{
    const char *bin = getenv("CUSTOS");
    char dir[256], cmd[1024], path[300];
    int status;

    (void)state;
    th_tmpdir(dir);
    snprintf(cmd, sizeof(cmd),
             "CUSTOS_FAULT=http.mhd_version timeout 30 %s serve --data %s/data --port 0 >%s/out "
             "2>%s/err",
             bin && *bin ? bin : "build/test/custos", dir, dir, dir);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    snprintf(path, sizeof(path), "%s/err", dir);
    assert_true(th_file_contains(path, "tested with 0.9.75", 18));
    snprintf(path, sizeof(path), "%s/out", dir);
    assert_false(th_file_contains(path, "listening", 9));
    th_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_thousands_of_query_parameters_answer_400_at_once),
        cmocka_unit_test(test_login_body_over_8_KiB_is_413_unparsed),
        cmocka_unit_test(test_anonymous_body_over_8_KiB_is_413_where_a_credential_gets_1_MiB),
        cmocka_unit_test(test_json_over_the_node_cap_is_refused),
        cmocka_unit_test(test_routes_without_a_body_refuse_one_before_acting),
        cmocka_unit_test(test_head_is_served_like_get_on_healthz_and_audit),
        cmocka_unit_test(test_errors_of_libmicrohttpd_are_json_with_our_headers),
        cmocka_unit_test(test_a_bad_content_length_gets_one_well_formed_answer),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_half_a_request_line_is_cut_at_the_header_deadline),
        cmocka_unit_test(test_a_stalled_body_is_cut_at_the_body_deadline),
        cmocka_unit_test(test_one_address_cannot_take_the_server_offline),
        cmocka_unit_test(test_connections_are_spread_over_the_pool_threads),
        cmocka_unit_test(test_a_connection_over_the_limit_waits_for_room),
        cmocka_unit_test(test_a_burst_at_the_limit_waits_and_the_server_lives),
        cmocka_unit_test(test_connections_closed_before_they_start_give_their_place_back),
        cmocka_unit_test(test_bad_content_length_clients_holding_the_socket_do_not_hold_a_thread),
        cmocka_unit_test(test_a_slow_reader_is_cut_at_the_reply_deadline),
        cmocka_unit_test(test_an_untested_libmicrohttpd_is_refused_at_start),
        /* last: it points CUSTOS at a wrapper while it runs */
        cmocka_unit_test(test_sigterm_stops_a_server_out_of_descriptors),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    gnutls_global_init();
    rc = cmocka_run_group_tests_name("http hardening, shared server", shared, group_setup,
                                     group_teardown);
    rc |= cmocka_run_group_tests_name("http hardening, own servers", own, NULL, NULL);
    gnutls_global_deinit();
    curl_global_cleanup();
    return rc;
}
