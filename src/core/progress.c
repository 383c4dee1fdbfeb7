/*
 * progress.c: the progress hook of the core's long work (cu_progress_set, custos.h). The CLI
 * sets it to show a bar or plain lines (src/cli/cli_progress.c); the server sets none. One
 * mutex makes the hook's calls one at a time, as the audit walk adds from every worker.
 */
#include <pthread.h>

#include "custos.h"
#include "progress_int.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static cu_progress_fn hook;
static void *hook_arg;
static const char *cur_what = "";
static uint64_t cur_done, cur_total;

void cu_progress_set(cu_progress_fn fn, void *arg)
{
    pthread_mutex_lock(&mu);
    hook = fn;
    hook_arg = arg;
    pthread_mutex_unlock(&mu);
}

void cu_progress_begin(const char *what, uint64_t total)
{
    pthread_mutex_lock(&mu);
    cur_what = what;
    cur_done = 0;
    cur_total = total;
    if (hook != NULL)
        hook(hook_arg, cur_what, 0, cur_total);
    pthread_mutex_unlock(&mu);
}

void cu_progress_add(uint64_t n)
{
    pthread_mutex_lock(&mu);
    cur_done += n;
    if (cur_total > 0 && cur_done > cur_total)
        cur_total = cur_done; /* the walk found more than it was told: never past 100% */
    if (hook != NULL)
        hook(hook_arg, cur_what, cur_done, cur_total);
    pthread_mutex_unlock(&mu);
}
