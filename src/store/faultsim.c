/*
 * faultsim.c: SQLite's side of systematic fault injection, in test builds only
 * (CU_FAULT_INJECTION; tests/test_faults.c).
 *
 * cu_store_faultsim_install() puts a counting allocator under SQLite (SQLITE_CONFIG_MALLOC,
 * which must come before sqlite3_initialize) and registers, as the default VFS, a shim over
 * the platform's that counts every xWrite, xSync and xTruncate. Both consult cu_fault_tick():
 * when the armed count reaches the call, the allocation returns NULL, the write fails with
 * SQLITE_FULL, the sync with SQLITE_IOERR_FSYNC and the truncate with SQLITE_IOERR_TRUNCATE,
 * once. Disarmed, everything passes straight through.
 */
#ifdef CU_FAULT_INJECTION
#include <string.h>

#include <sqlite3.h>

#include "store_sqlite.h"
#include "util.h"

/* --- the allocator ------------------------------------------------------------------------ */

static sqlite3_mem_methods real_mem;

static void *fs_malloc(int n)
{
    return cu_fault_tick(CU_FAULT_ALLOC) ? NULL : real_mem.xMalloc(n);
}

static void *fs_realloc(void *p, int n)
{
    return cu_fault_tick(CU_FAULT_ALLOC) ? NULL : real_mem.xRealloc(p, n);
}

static void fs_free(void *p)
{
    real_mem.xFree(p);
}

static int fs_size(void *p)
{
    return real_mem.xSize(p);
}

static int fs_roundup(int n)
{
    return real_mem.xRoundup(n);
}

static int fs_init(void *arg)
{
    (void)arg;
    return real_mem.xInit(real_mem.pAppData);
}

static void fs_shutdown(void *arg)
{
    (void)arg;
    real_mem.xShutdown(real_mem.pAppData);
}

/* --- the VFS shim ------------------------------------------------------------------------- */

typedef struct fs_file {
    sqlite3_file base;
    sqlite3_file *real; /* the platform's file, right after this struct */
} fs_file;

static sqlite3_vfs *real_vfs;

#define REAL(f) (((fs_file *)(f))->real)

static int fs_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int fs_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int fs_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (cu_fault_tick(CU_FAULT_IO))
        return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int fs_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (cu_fault_tick(CU_FAULT_IO))
        return SQLITE_IOERR_TRUNCATE;
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int fs_sync(sqlite3_file *f, int flags)
{
    if (cu_fault_tick(CU_FAULT_IO))
        return SQLITE_IOERR_FSYNC;
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int fs_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int fs_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int fs_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int fs_check_lock(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int fs_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int fs_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int fs_device_chars(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int fs_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int fs_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void fs_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int fs_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int fs_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int fs_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

/* Version 3, like the unix VFS's files; fs_open checks the platform's file matches. */
static const sqlite3_io_methods fs_io = {
    3,           fs_close,        fs_read,         fs_write,          fs_truncate,
    fs_sync,     fs_file_size,    fs_lock,         fs_unlock,         fs_check_lock,
    fs_file_control, fs_sector_size, fs_device_chars, fs_shm_map,     fs_shm_lock,
    fs_shm_barrier, fs_shm_unmap, fs_fetch,        fs_unfetch,
};

static int fs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    fs_file *p = (fs_file *)f;
    int rc;

    (void)vfs;
    p->real = (sqlite3_file *)&p[1];
    p->base.pMethods = NULL;
    rc = real_vfs->xOpen(real_vfs, name, p->real, flags, out);
    if (p->real->pMethods == NULL)
        return rc;
    if (p->real->pMethods->iVersion < 3) {
        p->real->pMethods->xClose(p->real);
        return SQLITE_CANTOPEN;
    }
    p->base.pMethods = &fs_io;
    return rc;
}

static sqlite3_vfs fs_vfs;

int cu_store_faultsim_install(void)
{
    sqlite3_mem_methods mem;

    if (real_vfs != NULL)
        return 0;
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem) != SQLITE_OK)
        return -1;
    mem = real_mem;
    mem.xMalloc = fs_malloc;
    mem.xRealloc = fs_realloc;
    mem.xFree = fs_free;
    mem.xSize = fs_size;
    mem.xRoundup = fs_roundup;
    mem.xInit = fs_init;
    mem.xShutdown = fs_shutdown;
    /* SQLITE_MISUSE once SQLite is initialized: the caller installs first thing. */
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK || sqlite3_initialize() != SQLITE_OK)
        return -1;
    if ((real_vfs = sqlite3_vfs_find(NULL)) == NULL)
        return -1;
    fs_vfs = *real_vfs;
    fs_vfs.szOsFile = (int)sizeof(fs_file) + real_vfs->szOsFile;
    fs_vfs.zName = "custos-faultsim";
    fs_vfs.pNext = NULL;
    fs_vfs.xOpen = fs_open;
    return sqlite3_vfs_register(&fs_vfs, 1) == SQLITE_OK ? 0 : -1;
}
#else
typedef int cu_faultsim_unused; /* ISO C: no empty translation unit */
#endif
