/*
 * pending.c: requests that wait for their group commit without holding a worker thread
 * (issue 17, item 1). A handler starts an asynchronous core call (cu_record_*_async); the
 * access handler suspends the connection (MHD_suspend_connection) unless the answer came
 * already; the core's completion, on the group leader's thread, stores the result and resumes
 * the connection; libmicrohttpd calls the access handler again, which builds and queues the
 * answer on the connection's own thread. The completion does no more than that: the next
 * group waits for it.
 *
 * Invariants. Suspension happens under the pending answer's lock and only if the answer has
 * not come, so the completion never resumes a connection that is not suspended (which
 * libmicrohttpd would take as cancelling the next suspension). The completion resumes outside
 * the lock, but only a connection it found suspended: libmicrohttpd never ends a suspended
 * connection's request by itself (it does not poll it), and the graceful stop waits for every
 * started answer to have completed (http_pending_outstanding), suspended or about to be,
 * before MHD_stop_daemon; a request begun after the stop is answered 503 (server.c). The
 * request and the completion each hold a reference, so whichever ends last frees the answer,
 * wiping the record it may hold.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "http_int.h"

struct http_pending {
    pthread_mutex_t lock;
    pthread_cond_t answered_cond; /* without a connection: signalled when answered */
    int refs;                     /* the request's and the completion's, under lock */
    int answered;                 /* the completion ran: res holds the core's result */
    int suspended;                /* the connection waits for the completion to resume it */
    int gone;                     /* the request ended: its connection is not to be touched */
    struct MHD_Connection *conn;
    http_finish_fn finish;
    cu_async_result res; /* res.record: owned here until finish takes it */
};

static atomic_int nsuspended;
/* Started and not yet completed: the completion will still touch libmicrohttpd. */
static atomic_int noutstanding;

static void unref(struct http_pending *p)
{
    int left;

    pthread_mutex_lock(&p->lock);
    left = --p->refs;
    pthread_mutex_unlock(&p->lock);
    if (left > 0)
        return;
    cu_record_cleanup(&p->res.record); /* an answer nobody took: wiped */
    pthread_cond_destroy(&p->answered_cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int http_pending_start(http_req *r, http_finish_fn finish)
{
    struct http_pending *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        http_error(r, 503, "out_of_memory", "out of memory");
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->answered_cond, NULL);
    p->refs = 2;
    p->conn = r->conn;
    p->finish = finish;
    r->pending = p;
    atomic_fetch_add(&noutstanding, 1);
    return 0;
}

void http_pending_done(void *arg, cu_async_result *res)
{
    struct http_pending *p = arg;
    int resume;

    pthread_mutex_lock(&p->lock);
    p->res = *res; /* the record is ours now */
    memset(&res->record, 0, sizeof(res->record));
    p->answered = 1;
    resume = p->suspended && !p->gone;
    if (p->suspended) /* answered: no longer waiting (/metrics), before its client can know */
        atomic_fetch_sub(&nsuspended, 1);
    p->suspended = 0;
    pthread_cond_signal(&p->answered_cond);
    pthread_mutex_unlock(&p->lock);
    if (resume)
        MHD_resume_connection(p->conn);
    unref(p);
    atomic_fetch_sub(&noutstanding, 1); /* last: nothing of libmicrohttpd is touched after */
}

void http_pending_cancel(http_req *r)
{
    struct http_pending *p = r->pending;

    r->pending = NULL;
    unref(p);                           /* the completion's */
    unref(p);                           /* the request's */
    atomic_fetch_sub(&noutstanding, 1); /* the completion never comes */
}

int http_pending_suspend(http_req *r)
{
    struct http_pending *p = r->pending;

    pthread_mutex_lock(&p->lock);
    if (!p->answered) {
        atomic_fetch_add(&nsuspended, 1);
        MHD_suspend_connection(p->conn);
        p->suspended = 1;
        pthread_mutex_unlock(&p->lock);
        return 1;
    }
    pthread_mutex_unlock(&p->lock);
    http_pending_finish(r);
    return 0;
}

void http_pending_finish(http_req *r)
{
    struct http_pending *p = r->pending;
    cu_async_result res;

    pthread_mutex_lock(&p->lock);
    res = p->res;
    memset(&p->res.record, 0, sizeof(p->res.record));
    pthread_mutex_unlock(&p->lock);
    r->pending = NULL;
    p->finish(r, &res);
    cu_record_cleanup(&res.record);
    unref(p);
}

void http_pending_wait(http_req *r)
{
    struct http_pending *p = r->pending;

    pthread_mutex_lock(&p->lock);
    while (!p->answered)
        pthread_cond_wait(&p->answered_cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    http_pending_finish(r);
}

void http_pending_release(http_req *r)
{
    struct http_pending *p = r->pending;

    if (p == NULL)
        return;
    r->pending = NULL;
    pthread_mutex_lock(&p->lock);
    p->gone = 1;
    pthread_mutex_unlock(&p->lock);
    unref(p);
}

int http_pending_suspended(void)
{
    return atomic_load(&nsuspended);
}

int http_pending_outstanding(void)
{
    return atomic_load(&noutstanding);
}
