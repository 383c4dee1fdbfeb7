/*
 * sqlite_vfs.c: the writer's WAL appended in one write per transaction (issue 17, item 2).
 *
 * SQLite writes each WAL frame with two pwrite calls, its 24-byte header and its page: a group
 * commit of 26 records appends about 80 frames, so 160 system calls on the one writer thread,
 * each dear on a virtual machine. This VFS is SQLite's unix VFS with a buffer in front of a
 * WAL file's writes: contiguous writes gather in memory and reach the file in writes of
 * WRITE_MAX bytes when the transaction's commit frame is complete, before anything else is done
 * with the file (a read, a sync, its size, a truncation, a file control, a close) and when the
 * buffer is full or a write is not contiguous (a checksum rewrite, a restart at the file's
 * beginning).
 *
 * Why that keeps SQLite's guarantees: a frame is seen by another connection (a reader of this
 * process or of another) only once the writer published it in the WAL index, which SQLite does
 * after the commit frame was written and, with synchronous=FULL, synced; by then the buffer
 * has reached the file. The writer reading back its own frames (a transaction larger than its
 * page cache) flushes first. A failed flush is the failed write SQLite would have seen: its
 * transaction fails, nothing acknowledged is lost. Every other file (the database, its
 * journals) is the unix VFS's own object, not wrapped: the shim costs them nothing.
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

typedef struct {
    sqlite3_file base;  /* pMethods: wal_methods */
    sqlite3_file *real; /* the unix VFS's file, after this header in the same allocation */
    unsigned char *buf; /* the bytes not yet written, from offset off; NULL until a write */
    sqlite3_int64 off;  /* the file offset of buf[0] */
    size_t len;         /* bytes in buf */
    int commit;         /* the last write was a commit frame's header: its page ends it */
} wal_file;

_Static_assert(sizeof(wal_file) % 8 == 0, "the unix VFS's file after it is aligned");

static sqlite3_vfs shim;
static sqlite3_vfs *unix_vfs;
static sqlite3_io_methods wal_methods;

/* The buffer to the file, in writes of at most WRITE_MAX bytes. */
static int flush(wal_file *w)
{
    size_t done = 0, n;
    int rc = SQLITE_OK;

    while (rc == SQLITE_OK && done < w->len) {
        n = w->len - done < WRITE_MAX ? w->len - done : WRITE_MAX;
        rc =
            w->real->pMethods->xWrite(w->real, w->buf + done, (int)n, w->off + (sqlite3_int64)done);
        done += n;
    }
    w->len = 0;
    return rc;
}

static int wal_close(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;
    int rc = flush(w), rc2 = w->real->pMethods->xClose(w->real);

    free(w->buf);
    w->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wal_read(sqlite3_file *f, void *out, int amt, sqlite3_int64 off)
{
    wal_file *w = (wal_file *)f;
    int rc = flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xRead(w->real, out, amt, off);
}

/* A frame header whose second field (the database's size after a commit) is not zero. */
static int is_commit_header(const unsigned char *p, int amt, sqlite3_int64 off)
{
    return amt == FRAME_HDR && off >= WAL_HDR && (p[4] | p[5] | p[6] | p[7]) != 0;
}

static int wal_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 off)
{
    wal_file *w = (wal_file *)f;
    int commit = w->commit, rc;

    w->commit = is_commit_header(data, amt, off);
    if (w->len > 0 &&
        (off != w->off + (sqlite3_int64)w->len || w->len + (size_t)amt > BUF_CAP ||
         (size_t)amt >= WRITE_MAX) &&
        (rc = flush(w)) != SQLITE_OK)
        return rc;
    if ((size_t)amt >= WRITE_MAX) /* never a frame: SQLite's pages are at most 64 KiB */
        return w->real->pMethods->xWrite(w->real, data, amt, off);
    if (w->buf == NULL && (w->buf = malloc(BUF_CAP)) == NULL)
        return SQLITE_IOERR_NOMEM;
    if (w->len == 0)
        w->off = off;
    memcpy(w->buf + w->len, data, (size_t)amt);
    w->len += (size_t)amt;
    return commit ? flush(w) : SQLITE_OK; /* the commit frame's page: the transaction's end */
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    wal_file *w = (wal_file *)f;
    int rc = flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xTruncate(w->real, size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    wal_file *w = (wal_file *)f;
    int rc = flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xSync(w->real, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    wal_file *w = (wal_file *)f;
    int rc = flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileSize(w->real, size);
}

static int wal_lock(sqlite3_file *f, int level)
{
    wal_file *w = (wal_file *)f;

    return w->real->pMethods->xLock(w->real, level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
    wal_file *w = (wal_file *)f;

    return w->real->pMethods->xUnlock(w->real, level);
}

static int wal_reserved(sqlite3_file *f, int *out)
{
    wal_file *w = (wal_file *)f;

    return w->real->pMethods->xCheckReservedLock(w->real, out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    wal_file *w = (wal_file *)f;
    int rc = flush(w);

    return rc != SQLITE_OK ? rc : w->real->pMethods->xFileControl(w->real, op, arg);
}

static int wal_sector_size(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;

    return w->real->pMethods->xSectorSize(w->real);
}

static int wal_device(sqlite3_file *f)
{
    wal_file *w = (wal_file *)f;

    return w->real->pMethods->xDeviceCharacteristics(w->real);
}

/* A WAL file has no shared memory and is never mapped (SQLite reads it with xRead): the
 * methods of version 1 are all it needs, and a version-1 file tells SQLite so. */
static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags,
                     int *out_flags)
{
    wal_file *w = (wal_file *)f;
    int rc;

    (void)vfs;
    if ((flags & SQLITE_OPEN_WAL) == 0) /* the unix VFS's object itself, in our allocation */
        return unix_vfs->xOpen(unix_vfs, name, f, flags, out_flags);
    memset(w, 0, sizeof(*w));
    w->real = (sqlite3_file *)(w + 1);
    rc = unix_vfs->xOpen(unix_vfs, name, w->real, flags, out_flags);
    w->base.pMethods = w->real->pMethods != NULL ? &wal_methods : NULL;
    return rc;
}

static void shim_init(void)
{
    static const sqlite3_io_methods m = {
        .iVersion = 1,
        .xClose = wal_close,
        .xRead = wal_read,
        .xWrite = wal_write,
        .xTruncate = wal_truncate,
        .xSync = wal_sync,
        .xFileSize = wal_file_size,
        .xLock = wal_lock,
        .xUnlock = wal_unlock,
        .xCheckReservedLock = wal_reserved,
        .xFileControl = wal_file_control,
        .xSectorSize = wal_sector_size,
        .xDeviceCharacteristics = wal_device,
    };

    unix_vfs = sqlite3_vfs_find("unix");
    if (unix_vfs == NULL)
        return;
    wal_methods = m;
    shim = *unix_vfs; /* every other method is the unix VFS's, with its own data */
    shim.pNext = NULL;
    shim.zName = CU_SQLITE_VFS;
    shim.szOsFile = (int)sizeof(wal_file) + unix_vfs->szOsFile;
    shim.xOpen = shim_open;
    if (sqlite3_vfs_register(&shim, 0) != SQLITE_OK)
        unix_vfs = NULL;
}

/* The VFS to open the writer's connection with: CU_SQLITE_VFS, or NULL (the default) if it
 * could not be registered. */
const char *sq_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, shim_init);
    return unix_vfs != NULL ? CU_SQLITE_VFS : NULL;
}
