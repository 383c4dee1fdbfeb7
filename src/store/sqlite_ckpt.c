/*
 * sqlite_ckpt.c: the WAL checkpoint off the commit path (issue 17, item 2).
 *
 * SQLite's own autocheckpoint runs inside the COMMIT that crosses its threshold, on the
 * committing connection: with group commit that is the leader, and every request of the group
 * and of the queue behind it waits for it. The pool turns it off on its writer
 * (sqlite3_wal_hook replaces it) and leaves the work to a thread of its own with a connection
 * of its own: the writer's hook only notes the WAL's size after each commit and, at
 * CKPT_FRAMES, wakes the thread, which runs a PASSIVE checkpoint (it never waits for a reader
 * or the writer, and never blocks them: pages still in use stay in the WAL for the next turn),
 * and again while the writer appended more than CKPT_NEAR frames during its last run, so that
 * it ends close behind the newest commit. The WAL restarts from its beginning only at a commit
 * that finds it wholly copied, which under steady writes the thread alone never sees: so the
 * writer's next commit after the thread ended near copies the few frames left itself, and the
 * WAL restarts at the one after. If the WAL has not restarted by CKPT_FRAMES_HARD anyway (the
 * thread fell behind), the writer copies all that is left.
 *
 * Only one checkpoint runs at a time in a process: the explicit TRUNCATE checkpoint
 * (cu_store_checkpoint, P-DSR-4) takes run_lock too, since a second checkpointer on the same
 * database is refused with SQLITE_BUSY at once rather than waited for.
 */
#include <signal.h>
#include <stdlib.h>

#include "sqlite_int.h"
#include "util.h"

/* WAL frames (pages) after which the thread checkpoints (store_sqlite.h). */
#define CKPT_FRAMES CU_SQLITE_CKPT_FRAMES
/* Past this many frames the writer checkpoints inside its commit, as SQLite would, whatever
 * the thread did: the WAL is then bounded even when the thread falls behind. */
#define CKPT_FRAMES_HARD (2 * CKPT_FRAMES)
/* The thread runs again while more frames than this were appended during its last run (at
 * most CKPT_CHASE runs per wake), and once at most this many are left the writer copies them:
 * a copy small enough to cost its commit little (a write appends about 6 frames). A hook that
 * woke the thread at every commit past CKPT_FRAMES instead would cost a checkpoint and an fsync
 * of the database per commit. */
#define CKPT_NEAR 512
#define CKPT_CHASE 8

struct sq_ckpt {
    sqlite3 *db; /* the thread's own connection */
    pthread_t thread;
    pthread_mutex_t lock; /* guards due, woken, near, fill, stop, runs */
    pthread_cond_t cond;
    int due, stop;
    int woken;     /* the thread was woken since the WAL last restarted */
    int near;      /* the thread ended at most CKPT_NEAR frames behind: the writer copies on */
    unsigned fill; /* the WAL's fillings so far: a run that ends after a restart sets no near */
    pthread_mutex_t run_lock; /* held while a checkpoint runs, by the thread or sq_ckpt_run */
    uint64_t runs;            /* background checkpoints run */
};

/* The writer's WAL hook, after each commit, on the committing thread. Wakes the thread once
 * per filling of the WAL, at CKPT_FRAMES; copies the frames left itself once the thread ended
 * near, or at CKPT_FRAMES_HARD (busy if the thread is at it: the next commit tries again). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    sq_ckpt *c = arg;
    int copy = frames >= CKPT_FRAMES_HARD;

    pthread_mutex_lock(&c->lock);
    if (frames < CKPT_FRAMES) {
        c->woken = 0; /* the WAL restarted */
        c->near = 0;
    } else if (!c->woken) {
        c->woken = 1;
        c->fill++;
        c->due = 1;
        pthread_cond_signal(&c->cond);
    } else if (c->near) {
        c->near = 0;
        copy = 1;
    }
    pthread_mutex_unlock(&c->lock);
    if (copy)
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    sq_ckpt *c = arg;
    unsigned fill;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->due && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->stop)
            break;
        c->due = 0;
        fill = c->fill;
        for (int run = 0; run < CKPT_CHASE && !c->stop; run++) {
            int log = 0, done = 0, src;
            pthread_mutex_unlock(&c->lock);
            pthread_mutex_lock(&c->run_lock);
            /* A failure (the disk full, another process checkpointing) leaves the frames in
             * the WAL: the next commit past the threshold asks again. */
            src = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
            pthread_mutex_unlock(&c->run_lock);
            pthread_mutex_lock(&c->lock);
            c->runs++;
            if (src != SQLITE_OK)
                break;
            if (log - done <= CKPT_NEAR) {
                /* Not if the WAL restarted meanwhile (and maybe filled again): the writer
                 * would copy a whole filling inside its commit. */
                c->near = c->fill == fill && c->woken;
                break;
            }
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Starts the thread with every signal blocked: a process-directed signal (the server's
 * SIGTERM, which it takes by sigwait) must never land on a thread of the store, where its
 * default action would end the process. The caller's mask is restored. */
static int start_thread(sq_ckpt *c)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&c->thread, NULL, ckpt_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

cu_rc sq_ckpt_start(const char *path, sqlite_store *w, sq_ckpt **out, cu_err *err)
{
    sq_ckpt *c = calloc(1, sizeof(*c));
    cu_rc rc = CU_OK;
    int src;

    *out = NULL;
    if (c == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    pthread_mutex_init(&c->run_lock, NULL);
    src = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_busy_timeout(c->db, 10000);
    /* A connection learns that the database is in WAL mode when it first reads it; until then
     * a checkpoint is a no-op. */
    if (src == SQLITE_OK)
        src = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = cu_err_set(err, CU_ERR_IO, "could not open database \"%s\" to checkpoint: %s", path,
                        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src));
        goto out;
    }
    if (start_thread(c) != 0) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "could not start the checkpoint thread");
        goto out;
    }
    pthread_mutex_lock(&w->lock);
    sqlite3_wal_hook(w->db, wal_hook, c);
    pthread_mutex_unlock(&w->lock);
    *out = c;
out:
    if (rc != CU_OK) {
        sqlite3_close(c->db);
        pthread_mutex_destroy(&c->run_lock);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
    }
    return rc;
}

void sq_ckpt_stop(sq_ckpt *c, sqlite_store *w)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    sqlite3_wal_hook(w->db, NULL, NULL);
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->run_lock);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

cu_rc sq_ckpt_run(sq_ckpt *c, sqlite_store *w, cu_err *err)
{
    cu_rc rc;

    if (c != NULL)
        pthread_mutex_lock(&c->run_lock);
    rc = sq_checkpoint(&w->base, err);
    if (c != NULL)
        pthread_mutex_unlock(&c->run_lock);
    return rc;
}

uint64_t sq_ckpt_runs(sq_ckpt *c)
{
    uint64_t n;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    n = c->runs;
    pthread_mutex_unlock(&c->lock);
    return n;
}
