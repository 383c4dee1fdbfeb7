/*
 * erase.c: the rows of an erased subject, deleted after the erasure (P-DSR-4).
 *
 * An erasure (subject.c) is one small durable transaction: the subject's key destroyed, which
 * the store answers by queueing the subject's erasure in the same transaction and hiding the
 * subject, its records and their index entries from every read from then on. What is left is
 * ciphertext under a key that no longer exists; this file deletes it: a subject's oldest
 * CU_ERASE_BATCH records (with their fields and index entries) per transaction, then the subject
 * itself with a "subject.erase_rows" audit entry in the same transaction as its last rows.
 *
 * The queue is in the database, so the work survives a crash: whoever comes next finishes it,
 * the vault's erasure thread (cu_vault_erase_start: `custos serve`), the sweep, or a second
 * erasure of the same subject. Without the thread, an erasure deletes its rows before it
 * returns, as it did before the queue. Two workers on one subject (a second server, the sweep
 * beside the thread) do no harm: the store refuses the last step to all but one
 * (CU_ERR_NOT_FOUND once the subject has left the queue), so one entry records it.
 */
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache_int.h"
#include "erase_int.h"
#include "journal_int.h"
#include "json.h"
#include "util.h"

/* Erasures listed per store read. */
#define ERASE_PAGE 64
/* The thread looks at the queue this often unwoken (another server's erasures), and again this
 * long after a failure. */
#define ERASE_IDLE_SECONDS 60
#define ERASE_RETRY_SECONDS 5
/* A pending scrub is tried again this often (an export holds its snapshot a few seconds in
 * the core; over HTTPS as long as its client reads). */
#define SCRUB_RETRY_SECONDS 1
/* How long an erasure's scrub waits for readers: the pool's reads end within it; an export's
 * snapshot does not, and the scrub is left pending rather than holding the writer. */
#define SCRUB_WAIT_MS 100

struct cu_eraser {
    pthread_t th;
    pthread_mutex_t m;
    pthread_cond_t c;
    atomic_int stop; /* read between batches without the lock */
    int work;        /* woken: an erasure was queued */
    int journal;     /* the erasure journal is owed a catch-up (cu_erase_journal_later) */
};

static const cu_ctx eraser_ctx = {.actor = "eraser", .purpose = "erasure", .flags = CU_CTX_LOCAL};

static int stopped(const atomic_int *stop)
{
    return stop != NULL && atomic_load(stop);
}

static void report_add(cu_erase_report *rep, size_t subjects, uint64_t records)
{
    if (rep == NULL)
        return;
    rep->subjects += subjects;
    rep->records += records;
    rep->batches++;
}

/* One queued subject's rows, e->records of them, in batches; the last with its audit entry.
 * Returns early, leaving it queued, once *stop is set. */
static cu_rc erase_one(cu_vault *v, const cu_ctx *ctx, const cu_store_erasure *e,
                       const atomic_int *stop, cu_erase_report *rep, cu_err *err)
{
    uint64_t left = e->records;
    cu_store_op op;
    cu_audit_in a;
    cu_rc rc;

    memset(&op, 0, sizeof(op));
    op.type = CU_OP_ERASE_ROWS;
    op.u.erase.tenant_id = e->tenant_id;
    op.u.erase.subject_id = e->subject_id;
    op.u.erase.limit = CU_ERASE_BATCH;
    for (; left > CU_ERASE_BATCH; left -= CU_ERASE_BATCH) {
        if (stopped(stop))
            return CU_OK;
        if ((rc = cu_commit(v, ctx, &op, 1, NULL, 0, err)) != CU_OK)
            return rc == CU_ERR_NOT_FOUND ? CU_OK : rc; /* finished by another worker */
        report_add(rep, 0, CU_ERASE_BATCH);
    }
    /* The rest (a record written as the key went may make it a few more), and the subject;
     * or, for an entry kept until its retained records went (P-RET-4), the subject and its
     * retained key. */
    op.u.erase.limit = 0;
    cu_audit_in_set(&a, e->tenant_id, e->kept ? "subject.retained_end" : "subject.erase_rows",
                    "subject:%llu", (unsigned long long)e->subject_id);
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) == CU_OK)
        report_add(rep, 1, left);
    /* No file keeps the retained key once its erasure ends, nor the cache: a scrub owed, run
     * now or, while an export holds its snapshot, by the erasure thread (P-DSR-4). */
    if (rc == CU_OK && e->kept) {
        cu_cache_forget_tenant(v, e->tenant_id);
        cu_erase_scrub_owe(v);
        (void)cu_erase_scrub(v, NULL);
    }
    return rc == CU_ERR_NOT_FOUND ? CU_OK : rc;
}

/* Every queued erasure, page by page; stops at the first error or once *stop is set. Called
 * with v->erase_lock held. */
static cu_rc erase_queue(cu_vault *v, const cu_ctx *ctx, const atomic_int *stop,
                         cu_erase_report *rep, cu_err *err, int truncate)
{
    cu_id after_tenant = 0, after_subject = 0;
    cu_rc rc = CU_OK;

    for (;;) {
        cu_store_erasure *list = NULL;
        size_t n = 0;
        if ((rc = cu_store_erasure_list(v->store, after_tenant, after_subject, ERASE_PAGE, &list,
                                        &n, err)) != CU_OK)
            return rc;
        /* P-DSR-4: an erasure left by a crash may have lost the checkpoint after its key's
         * transaction, and one whose scrub is pending waits for it: tried again here (a
         * failure leaves it pending, it does not stop the rows). */
        if (truncate || cu_vault_scrub_pending(v)) {
            truncate = 0;
            (void)cu_erase_scrub(v, NULL);
        }
        for (size_t i = 0; i < n && rc == CU_OK && !stopped(stop); i++)
            rc = erase_one(v, ctx, &list[i], stop, rep, err);
        if (n > 0) {
            after_tenant = list[n - 1].tenant_id;
            after_subject = list[n - 1].subject_id;
        }
        free(list);
        if (rc != CU_OK || n < ERASE_PAGE || stopped(stop))
            return rc;
    }
}

/* One deleter at a time in this process: the thread, the sweep, an inline erasure. Another
 * process's deleters do no harm either, only work twice. */
static cu_rc erase_all(cu_vault *v, const cu_ctx *ctx, const atomic_int *stop, cu_erase_report *rep,
                       cu_err *err, int truncate)
{
    cu_rc rc;

    pthread_mutex_lock(&v->erase_lock);
    rc = erase_queue(v, ctx, stop, rep, err, truncate);
    pthread_mutex_unlock(&v->erase_lock);
    return rc;
}

/* The queue entry of one subject, if any (found 0 if none). */
static cu_rc queue_entry(cu_vault *v, cu_id tenant, cu_id subject, cu_store_erasure *out,
                         int *found, cu_err *err)
{
    cu_store_erasure *list = NULL;
    size_t n = 0;
    cu_rc rc;

    *found = 0;
    if (subject == 0)
        return CU_OK;
    /* The first entry at or after (tenant, subject): ids are above 0, so subject - 1 is below. */
    rc = cu_store_erasure_list(v->store, tenant, subject - 1, 1, &list, &n, err);
    if (rc == CU_OK && n == 1 && list[0].tenant_id == tenant && list[0].subject_id == subject) {
        *out = list[0];
        *found = 1;
    }
    free(list);
    return rc;
}

cu_rc cu_erase_queued(cu_vault *v, cu_id tenant, cu_id subject, int *queued, cu_err *err)
{
    cu_store_erasure e;

    return queue_entry(v, tenant, subject, &e, queued, err);
}

/* Whether one of the records a certificate lists as kept is still held, retained, the
 * subject's (the sweep deletes each at its date). */
static int kept_remains(cu_vault *v, cu_id tenant, cu_id subject, const cJSON *kept)
{
    const cJSON *line, *id;

    for (line = kept->child; line != NULL; line = line->next)
        cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(line, "record_ids"))
        {
            cu_store_record row = {0};
            unsigned long long rid = 0;
            int held;
            if (!cJSON_IsString(id) || sscanf(id->valuestring, "%llu", &rid) != 1)
                continue;
            held = cu_store_record_get(v->store, tenant, (cu_id)rid, &row, NULL) == CU_OK &&
                   row.retained && row.subject_id == subject;
            cu_store_record_cleanup(&row);
            if (held)
                return 1;
        }
    return 0;
}

cu_rc cu_erase_kept_certificate(cu_vault *v, cu_id tenant, cu_id subject, cJSON **out, cu_err *err)
{
    const cJSON *kept;
    char *text = NULL;
    cJSON *o = NULL;

    *out = NULL;
    if (subject != 0 &&
        cu_store_erasure_certificate(v->store, tenant, subject, &text, NULL) == CU_OK &&
        cu_json_parse(text, strlen(text), &o, NULL, NULL) == CU_OK &&
        cJSON_IsArray(kept = cJSON_GetObjectItemCaseSensitive(o, "kept")) &&
        kept_remains(v, tenant, subject, kept)) {
        *out = o;
        o = NULL;
    }
    cJSON_Delete(o);
    free(text);
    return *out != NULL ? CU_OK : cu_err_set(err, CU_ERR_NOT_FOUND, "no such subject");
}

static void wake(struct cu_eraser *e)
{
    pthread_mutex_lock(&e->m);
    e->work = 1;
    pthread_cond_signal(&e->c);
    pthread_mutex_unlock(&e->m);
}

int cu_erase_journal_later(cu_vault *v)
{
    struct cu_eraser *e = v->eraser;

    if (e == NULL)
        return 0;
    pthread_mutex_lock(&e->m);
    e->journal = 1;
    e->work = 1;
    pthread_cond_signal(&e->c);
    pthread_mutex_unlock(&e->m);
    return 1;
}

void cu_erase_scrub_soon(cu_vault *v)
{
    cu_erase_scrub_owe(v);
    if (v->eraser != NULL)
        wake(v->eraser); /* its pass scrubs first (erase_queue), then deletes rows */
    else
        (void)cu_erase_scrub(v, NULL);
}

int cu_vault_scrub_pending(cu_vault *v)
{
    return __atomic_load_n(&v->scrub_owed, __ATOMIC_SEQ_CST) !=
           __atomic_load_n(&v->scrub_done, __ATOMIC_SEQ_CST);
}

void cu_erase_scrub_owe(cu_vault *v)
{
    __atomic_add_fetch(&v->scrub_owed, 1, __ATOMIC_SEQ_CST);
}

/* P-DSR-4: the truncating checkpoint that takes a destroyed key's pages out of the WAL, waiting
 * SCRUB_WAIT_MS at most for readers. Once it ran, every erasure owed before it is scrubbed; if
 * it could not (a snapshot older than the erasure), the scrub stays pending and the erasure
 * thread, if any, is woken to try again. */
cu_rc cu_erase_scrub(cu_vault *v, cu_err *err)
{
    uint64_t owed = __atomic_load_n(&v->scrub_owed, __ATOMIC_SEQ_CST);
    uint64_t done = __atomic_load_n(&v->scrub_done, __ATOMIC_SEQ_CST);
    cu_rc rc = cu_store_checkpoint_brief(v->store, SCRUB_WAIT_MS, err);

    if (rc == CU_OK) {
        while (done < owed && !__atomic_compare_exchange_n(&v->scrub_done, &done, owed, 0,
                                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            ;
    } else if (v->eraser != NULL) {
        wake(v->eraser);
    }
    return rc;
}

cu_rc cu_erase_subject(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err)
{
    cu_store_erasure e;
    int found;
    cu_rc rc;

    if (v->eraser != NULL) {
        wake(v->eraser);
        return CU_OK;
    }
    pthread_mutex_lock(&v->erase_lock);
    if ((rc = queue_entry(v, tenant, subject, &e, &found, err)) == CU_OK && found)
        rc = erase_one(v, ctx, &e, NULL, NULL, err);
    pthread_mutex_unlock(&v->erase_lock);
    return rc;
}

cu_rc cu_erase_pending(cu_vault *v, const cu_ctx *ctx, cu_erase_report *rep, cu_err *err)
{
    if (rep != NULL)
        memset(rep, 0, sizeof(*rep));
    return erase_all(v, ctx != NULL ? ctx : &eraser_ctx, NULL, rep, err, 1);
}

/* Waits until woken, stopped, or seconds have passed; called and returns with e->m held. */
static void nap(struct cu_eraser *e, int seconds)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    while (!e->work && !atomic_load(&e->stop) && pthread_cond_timedwait(&e->c, &e->m, &until) == 0)
        ;
}

/* The erasure thread: the whole queue at start (what a crash or a vault without the thread
 * left), then whenever woken, and every ERASE_IDLE_SECONDS. A failure is tried again later:
 * the rows are unreadable and hidden meanwhile. */
static void *erase_loop(void *arg)
{
    cu_vault *v = arg;
    struct cu_eraser *e = v->eraser;
    int seconds = ERASE_IDLE_SECONDS, first = 1;

    pthread_mutex_lock(&e->m);
    e->work = 1;
    while (!atomic_load(&e->stop)) {
        cu_err err = {0};
        int journal;
        if (!e->work) {
            nap(e, seconds);
            e->work = 1; /* woken or not: look at the queue */
            continue;
        }
        e->work = 0;
        journal = e->journal;
        e->journal = 0;
        pthread_mutex_unlock(&e->m);
        /* P-BAK-2: first the journal (a line per erasure), then the rows, which may take long. */
        if (journal && cu_journal_sync(v, NULL, &err) != CU_OK) {
            pthread_mutex_lock(&e->m);
            e->journal = 1; /* again on the next pass */
            pthread_mutex_unlock(&e->m);
        }
        /* The first pass finishes what a crash left: checkpoint first (erase_queue). */
        if (erase_all(v, &eraser_ctx, &e->stop, NULL, &err, first) == CU_OK) {
            seconds = ERASE_IDLE_SECONDS;
            first = 0;
        } else {
            seconds = ERASE_RETRY_SECONDS;
        }
        if (cu_vault_scrub_pending(v))
            seconds = SCRUB_RETRY_SECONDS;
        pthread_mutex_lock(&e->m);
    }
    pthread_mutex_unlock(&e->m);
    return NULL;
}

cu_rc cu_vault_erase_start(cu_vault *v, cu_err *err)
{
    struct cu_eraser *e;
    sigset_t all, old;
    int started;

    if (v->eraser != NULL)
        return CU_OK;
    /* What a stop left (a crash, a scrub pending at the stop) is found at start: the first pass
     * scrubs whatever the WAL holds, and the scrub is pending until it did. */
    cu_erase_scrub_owe(v);
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&e->m, NULL);
    pthread_cond_init(&e->c, NULL);
    atomic_init(&e->stop, 0);
    v->eraser = e;
    /* The thread takes no signal: they stay the program's (`custos serve` waits for SIGTERM). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    started = pthread_create(&e->th, NULL, erase_loop, v) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!started) {
        v->eraser = NULL;
        pthread_mutex_destroy(&e->m);
        pthread_cond_destroy(&e->c);
        free(e);
        return cu_err_set(err, CU_ERR_NOMEM, "could not start the erasure thread");
    }
    return CU_OK;
}

void cu_erase_stop(cu_vault *v)
{
    struct cu_eraser *e = v->eraser;

    if (e == NULL)
        return;
    pthread_mutex_lock(&e->m);
    atomic_store(&e->stop, 1);
    pthread_cond_signal(&e->c);
    pthread_mutex_unlock(&e->m);
    pthread_join(e->th, NULL);
    v->eraser = NULL;
    pthread_mutex_destroy(&e->m);
    pthread_cond_destroy(&e->c);
    free(e);
}
