/*
 * sqlite_vfs.c: the writer's WAL appends gathered in memory (issue 17, item 2).
 *
 * SQLite writes each WAL frame with two pwrite calls, its 24-byte header and its page: a group
 * commit of 26 records appends about 80 frames, so 160 system calls on the one writer thread,
 * each dear on a virtual machine. This VFS is the default one (SQLite's unix VFS; in test
 * builds the fault simulator over it, faultsim.c) with a buffer in front of a WAL file's
 * appends: they gather in memory and reach the file in writes of up to WRITE_MAX bytes (three
 * for a group) when the transaction's commit frame is complete, before anything else is done
 * with the file (a read, a sync, its size, a truncation, a file control), and when an append
 * does not follow the buffer or would overflow it.
 *
 * Why that keeps SQLite's guarantees:
 * - a frame is seen by another connection (a reader of this process or of another) only once
 *   the writer published it in the WAL index, which SQLite does after the commit frame's page
 *   was written: that write sends the buffer, and a refusal reaches SQLite before it publishes
 *   anything. Every write that is not an append (the WAL's header at a restart, a page
 *   rewritten in place, a checksum rewritten after the commit frame) goes to the file at once,
 *   its error to SQLite likewise. The writer reading back its own frames (a transaction larger
 *   than its page cache) sends the buffer first;
 * - a refused write keeps its bytes, in order, for the next try (a statement that failed and
 *   was rolled back alone never leaves a hole behind), except a refused commit: the
 *   transaction is rolled back, and its frames, dropped, never reach the file later;
 * - whatever the buffer holds when the write lock is released (the database file's xShmLock,
 *   below) or the file is closed is a transaction's that did not commit, and is dropped: once
 *   the lock is free another writer (a second process on the database) may append where
 *   those frames were. The database file is wrapped only for that hook; its other methods are
 *   the default VFS's, one call away.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_int.h"

#define WAL_HDR 32        /* the WAL file's header */
#define FRAME_HDR 24      /* a frame's header: page number, then the size after a commit */
#define BUF_CAP (1 << 20) /* a group commit appends about 330 KB (80 frames of 4 KB) */
/* The unix VFS writes at most 128 KiB - 1 bytes a call (it masks the length with 0x1ffff). */
#define WRITE_MAX (124 * 1024)
#define WAL_WRITE_LOCK 0 /* the WAL index's lock slot that one writer at a time holds */

/* A file opened through the shim: a WAL file with its buffer, or a main database file. */
typedef struct shim_file {
    sqlite3_file base;      /* pMethods: wal_methods or db_methods */
    sqlite3_file *real;     /* the default VFS's file, after this header in one allocation */
    struct shim_file *peer; /* a WAL file's database file and the database file's WAL, or NULL */
    unsigned char *buf;     /* a WAL's bytes not yet written, from offset off; NULL until used */
    sqlite3_int64 off;      /* the file offset of buf[0] */
    size_t len;             /* bytes in buf */
    sqlite3_int64 end;      /* the end of what this transaction appended: a write below it is
                               a rewrite (0 when the write lock was last released) */
    int commit;             /* the last write was a commit frame's header: its page ends it */
    int committed;          /* the commit is in the file: later writes (a sector's padding
                               frames, without powersafe overwrite) go straight to it */
} shim_file;

_Static_assert(sizeof(shim_file) % 8 == 0, "the default VFS's file after it is aligned");

static sqlite3_vfs shim;
static sqlite3_vfs *base_vfs;
static sqlite3_io_methods wal_methods, db_methods;

#define REAL(f) (((shim_file *)(f))->real)

/* The buffer to the file, in writes of at most WRITE_MAX bytes. A refused write's bytes and
 * those after it stay, at their offset, for the next flush. */
static int flush(shim_file *w)
{
    size_t done = 0, n;
    int rc = SQLITE_OK;

    while (done < w->len) {
        n = w->len - done < WRITE_MAX ? w->len - done : WRITE_MAX;
        rc =
            w->real->pMethods->xWrite(w->real, w->buf + done, (int)n, w->off + (sqlite3_int64)done);
        if (rc != SQLITE_OK)
            break;
        done += n;
    }
    if (done > 0 && done < w->len)
        memmove(w->buf, w->buf + done, w->len - done);
    w->off += (sqlite3_int64)done;
    w->len -= done;
    return rc;
}

/* What the buffer holds when a transaction ends without a commit (its write lock released, or
 * the file closed): the frames of a transaction that did not commit, dropped. A commit's own
 * bytes are all in the file by then (wal_write). */
static void drop(shim_file *w)
{
    w->len = 0;
    w->end = 0;
    w->commit = 0;
    w->committed = 0;
}

static int wal_close(sqlite3_file *f)
{
    shim_file *w = (shim_file *)f;

    if (w->peer != NULL)
        w->peer->peer = NULL;
    drop(w);
    free(w->buf);
    w->buf = NULL;
    return w->real->pMethods->xClose(w->real);
}

static int wal_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 off)
{
    shim_file *w = (shim_file *)f;
    int rc = flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, out, amt, off);
}

/* A frame header whose second field (the database's size after a commit) is not zero. */
static int is_commit_header(const unsigned char *p, int amt, sqlite3_int64 off)
{
    return amt == FRAME_HDR && off >= WAL_HDR && (p[4] | p[5] | p[6] | p[7]) != 0;
}

/* An append (at or past the end of what this transaction appended) is buffered, and the page
 * of a commit frame flushes the buffer: the commit is in the file, or its error reaches SQLite,
 * before SQLite publishes it. Any other write goes to the file at once, after the buffer: the
 * WAL's header (a restart), a page rewritten in place, and every write after the commit frame
 * until the write lock's release (checksums rewritten by walRewriteChecksums, the padding
 * frames of a sector without powersafe overwrite), so that its error too reaches SQLite before
 * the publication. (With locking_mode=EXCLUSIVE the lock is never released: every write after
 * the first commit then goes straight to the file, as without this VFS.) */
static int wal_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    shim_file *w = (shim_file *)f;
    int ends = w->commit, rc; /* this write is the page of the commit frame just buffered */
    sqlite3_int64 to = off + amt;

    w->commit = 0;
    if (off < WAL_HDR) /* the WAL's header: it starts again, every frame after it is new */
        w->end = w->committed = 0;
    if (w->len > 0 &&
        (off != w->off + (sqlite3_int64)w->len || w->len + (size_t)amt > BUF_CAP || off < w->end) &&
        (rc = flush(w)) != SQLITE_OK) {
        if (ends) /* the commit frame's page, refused: as below */
            drop(w);
        return rc;
    }
    if (off < WAL_HDR || off < w->end || w->committed || (size_t)amt >= WRITE_MAX ||
        (w->buf == NULL && (w->buf = malloc(BUF_CAP)) == NULL)) {
        rc = w->real->pMethods->xWrite(w->real, data, amt, off);
        if (rc == SQLITE_OK && to > w->end)
            w->end = to;
        return rc;
    }
    if (w->len == 0)
        w->off = off;
    memcpy(w->buf + w->len, data, (size_t)amt);
    w->len += (size_t)amt;
    w->end = to;
    w->commit = is_commit_header(data, amt, off);
    if (ends && (rc = flush(w)) != SQLITE_OK) {
        /* P-AUD-3: the transaction (and the audit entries in it) fails and is rolled back,
         * reading its pages again: its frames must never reach the file after. */
        drop(w);
        return rc;
    }
    w->committed = ends;
    return SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((shim_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    int rc = flush((shim_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((shim_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush((shim_file *)f);

    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

/* --- the methods that only pass the call on (both kinds of file) ------------------------- */

static int pass_close(sqlite3_file *f)
{
    shim_file *d = (shim_file *)f;

    if (d->peer != NULL)
        d->peer->peer = NULL;
    return d->real->pMethods->xClose(d->real);
}

static int pass_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), out, amt, off);
}

static int pass_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xWrite(REAL(f), data, amt, off);
}

static int pass_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int pass_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int pass_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int pass_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int pass_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int pass_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int pass_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int pass_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int pass_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int pass_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, out);
}

static void pass_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int pass_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int pass_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **out)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, amt, out);
}

static int pass_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* The database file's lock on its WAL index: when the write lock is released, whatever the
 * WAL's buffer still holds is a transaction's that did not commit, and is dropped, never sent
 * later: once the lock is free another writer may append where those frames were. */
static int db_shm_lock(sqlite3_file *f, int ofst, int n, int flags)
{
    shim_file *d = (shim_file *)f;

    if ((flags & SQLITE_SHM_UNLOCK) != 0 && ofst <= WAL_WRITE_LOCK && WAL_WRITE_LOCK < ofst + n &&
        d->peer != NULL)
        drop(d->peer);
    return d->real->pMethods->xShmLock(d->real, ofst, n, flags);
}

/* A file of the default VFS, wrapped: a WAL file with its buffer, linked to its database file
 * (sqlite3_database_file_object) when that was opened here too; a main database file for its
 * WAL index lock (refused unless its methods are of version 3, as faultsim.c does); any other
 * file (a temporary one) is the default VFS's object itself, in our allocation. */
static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                     int *out_flags)
{
    shim_file *w = (shim_file *)f;
    sqlite3_file *db;
    int rc;

    (void)vfs;
    if ((flags & (SQLITE_OPEN_WAL | SQLITE_OPEN_MAIN_DB)) == 0)
        return base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
    memset(w, 0, sizeof(*w));
    w->real = (sqlite3_file *)(w + 1);
    rc = base_vfs->xOpen(base_vfs, name, w->real, flags, out_flags);
    if (w->real->pMethods == NULL)
        return rc;
    if ((flags & SQLITE_OPEN_MAIN_DB) != 0) {
        if (w->real->pMethods->iVersion < 3) {
            w->real->pMethods->xClose(w->real);
            return SQLITE_CANTOPEN;
        }
        w->base.pMethods = &db_methods;
        return rc;
    }
    w->base.pMethods = &wal_methods;
    db = sqlite3_database_file_object(name);
    if (db != NULL && db->pMethods == &db_methods) {
        w->peer = (shim_file *)db;
        w->peer->peer = w;
    }
    return rc;
}

/* The shim's methods. A WAL file's are of version 1: it has no shared memory and is never
 * mapped (SQLite reads it with xRead). A database file's are of version 3, as the unix VFS's
 * own (shim_open refuses a lower one). */
static void methods_init(void)
{
    static const sqlite3_io_methods wal = {
        .iVersion = 1,
        .xClose = wal_close,
        .xRead = wal_read,
        .xWrite = wal_write,
        .xTruncate = wal_truncate,
        .xSync = wal_sync,
        .xFileSize = wal_file_size,
        .xLock = pass_lock,
        .xUnlock = pass_unlock,
        .xCheckReservedLock = pass_reserved,
        .xFileControl = wal_file_control,
        .xSectorSize = pass_sector_size,
        .xDeviceCharacteristics = pass_device,
    };
    static const sqlite3_io_methods db = {
        .iVersion = 3,
        .xClose = pass_close,
        .xRead = pass_read,
        .xWrite = pass_write,
        .xTruncate = pass_truncate,
        .xSync = pass_sync,
        .xFileSize = pass_file_size,
        .xLock = pass_lock,
        .xUnlock = pass_unlock,
        .xCheckReservedLock = pass_reserved,
        .xFileControl = pass_file_control,
        .xSectorSize = pass_sector_size,
        .xDeviceCharacteristics = pass_device,
        .xShmMap = pass_shm_map,
        .xShmLock = db_shm_lock,
        .xShmBarrier = pass_shm_barrier,
        .xShmUnmap = pass_shm_unmap,
        .xFetch = pass_fetch,
        .xUnfetch = pass_unfetch,
    };

    wal_methods = wal;
    db_methods = db;
}

static void shim_init(void)
{
    base_vfs = sqlite3_vfs_find(NULL); /* after faultsim's installation, in test builds */
    if (base_vfs == NULL)
        return;
    methods_init();
    shim = *base_vfs; /* every other method is the default VFS's, with its own data */
    shim.pNext = NULL;
    shim.zName = CU_SQLITE_VFS;
    shim.szOsFile = (int)sizeof(shim_file) + base_vfs->szOsFile;
    shim.xOpen = shim_open;
    if (sqlite3_vfs_register(&shim, 0) != SQLITE_OK)
        base_vfs = NULL;
}

/* The VFS to open the writer's connection with: CU_SQLITE_VFS, or NULL (the default) if it
 * could not be registered. */
const char *sq_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, shim_init);
    return base_vfs != NULL ? CU_SQLITE_VFS : NULL;
}
