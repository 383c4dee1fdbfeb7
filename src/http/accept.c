/*
 * accept.c: the listening socket and the thread that accepts its connections, handing each to
 * libmicrohttpd (MHD_add_connection), which gives it to pool thread fd % pool size.
 *
 * Why not libmicrohttpd's own listening socket: each pool thread has it in its own epoll set
 * and they race to accept, which the thread already awake (the one that served the last
 * connection) tends to win, so connections can pile up on one thread and stay there. Sixteen
 * opened one after another landed 16/0, 14/2, 14/2, 14/2, 16/0 and 8/8 over two threads in six
 * runs on an idle machine, 8/8 to 10/6 in twelve on a busy one (tests/test_http_hardening.c);
 * under load one core then served most connections while the other idled (bench/README.md,
 * session 16: the pool threads' shares 75% and 27% of a core in one run, and reads 12% slower).
 * Handed out by descriptor (fd % pool size), connections spread as evenly as their descriptors
 * do (one the process opens in between shifts the next ones). And the stop is ours: closing a
 * socket only this thread accepts on refuses new connections at once, where 0.9.75's
 * MHD_quiesce_daemon raced its own epoll pool and aborted the process now and then.
 *
 * Connection limits: at max_conns open connections this thread stops accepting until one
 * closes (the next waits in the backlog, as it did); one over max_conns_per_ip is refused
 * (closed) by MHD_add_connection, as by libmicrohttpd's own accept.
 *
 * A place is reserved at the hand-over and given back at libmicrohttpd's CLOSED notification.
 * libmicrohttpd may also close a connection it took, later on its pool thread, before it
 * starts it, with no notification at all: when its memory pool cannot be allocated (or the
 * pool thread is at its own connection limit, which (max_conns + 2) per thread never reaches).
 * So each hand-over is marked pending, by its descriptor and the socket's inode, until the
 * STARTED notification (http_accept_started); a mark whose descriptor is closed or now names
 * another file (a socket or file the process opened since took the number) is a connection
 * closed that way, and its place is given back: at once when accept4 returns that descriptor
 * (it was free), and otherwise once the limit is reached, checked then and every REAP_MS while
 * the acceptor waits for room.
 */
#define _GNU_SOURCE /* accept4 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http_int.h"
#include "util.h"

static int listen_fd = -1;
static pthread_t acceptor;
static int acceptor_started;
/* The connections handed to libmicrohttpd and not yet closed (wait_for_room, http_accept_count),
 * and how many it may hold. */
static pthread_mutex_t room_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t room = PTHREAD_COND_INITIALIZER;
static long open_conns;
static long max_conns;
static atomic_int stopping;
/* By descriptor, under room_lock: a hand-over libmicrohttpd has not started yet (on), with
 * its socket's identity; npending of them are on. */
typedef struct mark {
    int on;
    dev_t dev;
    ino_t ino;
} mark;
static mark *pending;
static size_t pending_cap, npending;

/* How often the acceptor, waiting at the limit, looks for places to give back (reap). */
#define REAP_MS 250

void http_accept_count(int delta)
{
    pthread_mutex_lock(&room_lock);
    open_conns += delta;
    if (delta < 0)
        pthread_cond_signal(&room);
    pthread_mutex_unlock(&room_lock);
}

/* fd's mark off, if on; under room_lock. give_back: its place too. */
static void unmark(int fd, int give_back)
{
    if (fd < 0 || (size_t)fd >= pending_cap || !pending[fd].on)
        return;
    pending[fd].on = 0;
    npending--;
    if (give_back)
        open_conns--;
}

void http_accept_started(int fd)
{
    pthread_mutex_lock(&room_lock);
    unmark(fd, 0);
    pthread_mutex_unlock(&room_lock);
}

/* Marks fd pending, the array grown to hold it; under room_lock. 0 without the memory (or the
 * socket's identity): the connection is then not handed over, since a place libmicrohttpd
 * took unmarked and closed unstarted would never come back. */
static int mark_pending(int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return 0;
    if ((size_t)fd >= pending_cap) {
        size_t cap = pending_cap ? pending_cap : 256;
        mark *p;
        while (cap <= (size_t)fd)
            cap *= 2;
        if ((p = realloc(pending, cap * sizeof(*p))) == NULL)
            return 0;
        memset(p + pending_cap, 0, (cap - pending_cap) * sizeof(*p));
        pending = p;
        pending_cap = cap;
    }
    pending[fd] = (mark){1, st.st_dev, st.st_ino};
    npending++;
    return 1;
}

/* Gives back the place of every pending hand-over whose descriptor is closed or names another
 * file now: libmicrohttpd closed it before starting it (above). Under room_lock. */
static void reap(void)
{
    for (size_t fd = 0; fd < pending_cap && npending > 0; fd++) {
        struct stat st;
        if (pending[fd].on &&
            (fstat((int)fd, &st) != 0 || st.st_dev != pending[fd].dev ||
             st.st_ino != pending[fd].ino))
            unmark((int)fd, 1);
    }
}

/* Gives back the place of a connection accepted earlier on fd and closed before it started
 * (fd was free for accept4 to return it). Then waits while max_conns connections are open,
 * holding fd: its client waits for the handshake as it waited in the backlog when
 * libmicrohttpd accepted; meanwhile every REAP_MS the places of hand-overs closed unstarted
 * come back (reap). Then reserves its place, before the hand-over: libmicrohttpd queues a
 * connection handed over and starts it on its pool thread later, and a count kept from its
 * STARTED notification let a burst through between the two, over the limit (which froze
 * 0.9.75's pool threads: a pool thread refusing a queued connection over its share leaves a
 * mutex locked). 1 when reserved and marked; 0 once the server stops; -1 when it could not be
 * marked (mark_pending): no place is reserved, and fd is to be closed. */
static int wait_for_room(int fd)
{
    int go;

    pthread_mutex_lock(&room_lock);
    unmark(fd, 1);
    while (open_conns >= max_conns && !atomic_load(&stopping)) {
        struct timespec until;
        reap();
        if (open_conns < max_conns)
            break;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += REAP_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_clockwait(&room, &room_lock, CLOCK_MONOTONIC, &until);
    }
    go = !atomic_load(&stopping);
    if (go && !mark_pending(fd))
        go = -1;
    else if (go)
        open_conns++;
    pthread_mutex_unlock(&room_lock);
    return go;
}

/* libmicrohttpd refused fd at the hand-over and closed it (MHD_add_connection's MHD_NO: over
 * the limit of its address, or out of memory for the connection or its TLS session, which it
 * sets up there): no notification follows. */
static void refused(int fd)
{
    pthread_mutex_lock(&room_lock);
    unmark(fd, 0);
    open_conns--; /* reserved whether or not marked */
    pthread_cond_signal(&room);
    pthread_mutex_unlock(&room_lock);
}

#ifdef CU_FAULT_INJECTION
/* Test builds: CUSTOS_TEST_DROP_CONNECTIONS=N closes the first N connections 50 ms after
 * their place is reserved, on a thread of their own and without a hand-over, as a
 * libmicrohttpd pool thread closes one it could not start. */
static void *drop_later(void *arg)
{
    struct timespec pause = {0, 50 * 1000 * 1000};

    nanosleep(&pause, NULL);
    close((int)(intptr_t)arg);
    return NULL;
}

static int test_drop(int fd)
{
    static atomic_long dropped;
    const char *n = getenv("CUSTOS_TEST_DROP_CONNECTIONS");
    pthread_attr_t attr;
    pthread_t t;
    int e;

    if (n == NULL || atomic_fetch_add(&dropped, 1) >= strtol(n, NULL, 10))
        return 0;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    e = pthread_create(&t, &attr, drop_later, (void *)(intptr_t)fd);
    pthread_attr_destroy(&attr);
    if (e != 0)
        close(fd);
    return 1;
}
#else
#define test_drop(fd) 0
#endif

/* Whether accept() failed for this one connection only, or for a moment: accept(2) passes the
 * network errors pending on the new socket (ENETDOWN, EPROTO, ...), to be treated as EAGAIN. */
static int accept_passing(int e)
{
    switch (e) {
    case EINTR:
    case EAGAIN:
    case ECONNABORTED:
    case EPERM: /* a firewall refused it */
    case ETIMEDOUT:
    case ENETDOWN:
    case EPROTO:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return 1;
    default:
        return 0;
    }
}

/* Accepts until the server stops (http_accept_stop: the flag, then accept fails). Out of
 * descriptors (EMFILE, ENFILE) or memory it waits a little: the connection stays in the
 * backlog, and no client is refused for what will pass; at a stop, accept4 still fails with
 * EMFILE before it sees the socket shut, so the flag, not the error, ends the loop. Any other
 * error is said once and retried: the socket is never left open with nobody accepting. */
static void *accept_main(void *arg)
{
    struct MHD_Daemon *d = arg;
    int said = 0;

    while (!atomic_load(&stopping)) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int got = wait_for_room(fd);
            if (got <= 0) {
                close(fd); /* the server stops, or no memory to track it: as when out of it */
                if (got == 0)
                    break;
                continue;
            }
            if (!test_drop(fd) &&
                MHD_add_connection(d, fd, (struct sockaddr *)&peer, len) != MHD_YES)
                refused(fd);
        } else if (!accept_passing(errno) && !atomic_load(&stopping)) {
            struct timespec pause = {0, 10 * 1000 * 1000};
            if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM &&
                !said) {
                fprintf(stderr, "{\"accept\":\"failing\",\"error\":\"%s\"}\n", strerror(errno));
                said = 1;
            }
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

int http_listen(const struct sockaddr_in *addr, unsigned *port)
{
    struct sockaddr_in bound;
    socklen_t len = sizeof(bound);
    int one = 1;

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0)
        return -1;
    if (setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(listen_fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
        listen(listen_fd, SOMAXCONN) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&bound, &len) != 0) {
        int e = errno;
        close(listen_fd);
        listen_fd = -1;
        errno = e;
        return -1;
    }
    *port = ntohs(bound.sin_port);
    return 0;
}

cu_rc http_accept_start(struct MHD_Daemon *d, unsigned max, cu_err *err)
{
    sigset_t all, old;
    int e;

    max_conns = max;
    atomic_store(&stopping, 0);
    /* Every signal blocked: they belong to the main thread's sigtimedwait. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    e = pthread_create(&acceptor, NULL, accept_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0)
        return cu_err_set(err, CU_ERR_NOMEM, "could not start the accepting thread: %s",
                          strerror(e));
    acceptor_started = 1;
    return CU_OK;
}

/* New connections refused from here on: the thread is woken out of accept() by the shutdown,
 * joined, and the socket closed, which resets what waited in its backlog. */
void http_accept_stop(void)
{
    if (listen_fd < 0)
        return;
    pthread_mutex_lock(&room_lock);
    atomic_store(&stopping, 1);
    pthread_cond_signal(&room);
    pthread_mutex_unlock(&room_lock);
    shutdown(listen_fd, SHUT_RDWR);
    if (acceptor_started)
        pthread_join(acceptor, NULL);
    acceptor_started = 0;
    close(listen_fd);
    listen_fd = -1;
}
