/*
 * test_store_wal.c: the writer's WAL appends gathered in memory (src/store/sqlite_vfs.c) keep
 * SQLite's guarantees. A committed transaction is in the WAL file when COMMIT returns, before
 * the connection closes: a copy of the files taken then (what a crash leaves) holds it, and so
 * does another connection's read. Transactions larger than one write of the unix VFS (128 KiB)
 * and than the buffer (1 MiB) commit whole; a transaction larger than the page cache reads its
 * own spilled pages back; a write the file refuses fails the COMMIT, and the database keeps what
 * it had. Plain SQLite on the VFS, run once (SQLite's alone, docs/testing.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "sqlite_int.h"
#include "th.h"

#define ROW_BYTES 1000

typedef struct wfx {
    char dir[256];
    char path[512];
    sqlite3 *db; /* on the shim, WAL, synchronous=FULL, as the store's writer */
} wfx;

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg != NULL ? msg : "?");
}

static long long one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int wfx_setup(void **state)
{
    wfx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    th_tmpdir(f->dir);
    snprintf(f->path, sizeof(f->path), "%s/w.db", f->dir);
    assert_string_equal(sq_vfs(), CU_SQLITE_VFS); /* registered: the store's writer uses it */
    assert_int_equal(
        sqlite3_open_v2(f->path, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, CU_SQLITE_VFS),
        SQLITE_OK);
    exec_ok(f->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                   "PRAGMA wal_autocheckpoint = 0;"
                   "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB NOT NULL);"
                   "CREATE INDEX t_by_b ON t(b);");
    *state = f;
    return 0;
}

static int wfx_teardown(void **state)
{
    wfx *f = *state;

    sqlite3_close(f->db);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

/* Rows [from, from + n) in one transaction, each ROW_BYTES of its id's digits. */
static int insert_rows(sqlite3 *db, int from, int n)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
             " INSERT INTO t SELECT i, CAST(printf('%%0%dd', i) AS BLOB) FROM c",
             from, from + n - 1, ROW_BYTES);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The database and WAL files as they are now copied to DIR/copy.db, opened on the default VFS:
 * what a crash at this moment would leave. */
static sqlite3 *open_copy(const wfx *f)
{
    char from[600], to[600];
    sqlite3 *db = NULL;

    snprintf(to, sizeof(to), "%s/copy.db", f->dir);
    assert_int_equal(th_copy(f->path, to), 0);
    snprintf(from, sizeof(from), "%s-wal", f->path);
    snprintf(to, sizeof(to), "%s/copy.db-wal", f->dir);
    assert_int_equal(th_copy(from, to), 0);
    snprintf(to, sizeof(to), "%s/copy.db", f->dir);
    assert_int_equal(sqlite3_open(to, &db), SQLITE_OK);
    return db;
}

static void assert_intact(sqlite3 *db, long long rows)
{
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(one_int(db, "SELECT count(*) FROM t"), rows);
    assert_int_equal(one_int(db, "SELECT sum(length(b)) FROM t"), rows * ROW_BYTES);
    /* every byte as written: its id's digits, or zeros where a test updated it */
    assert_int_equal(one_int(db, "SELECT count(*) FROM t WHERE b <> CAST(printf('%01000d', id)"
                                 " AS BLOB) AND b <> zeroblob(1000)"),
                     0);
}

/* 3,000 rows of 1,000 bytes and their index (each key with an overflow page): about 4,200
 * frames (17 MB), so writes far past 128 KiB and past the buffer, in one transaction; then a small
 * one, wholly in the buffer until its commit frame, without a sync after it. */
static void test_a_commit_is_in_the_file_when_commit_returns(void **state)
{
    wfx *f = *state;
    sqlite3 *other = NULL, *copy;

    exec_ok(f->db, "BEGIN");
    assert_int_equal(insert_rows(f->db, 1, 3000), SQLITE_OK);
    exec_ok(f->db, "COMMIT");
    /* No sync at this commit: its commit frame alone ends the buffer. */
    exec_ok(f->db, "PRAGMA synchronous = NORMAL");
    assert_int_equal(insert_rows(f->db, 3001, 2), SQLITE_OK); /* autocommit */
    copy = open_copy(f);
    assert_intact(copy, 3002);
    sqlite3_close(copy);
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_intact(other, 3002);
    sqlite3_close(other);
}

/* A page cache of 16 pages: the transaction's pages spill to the WAL before it commits, and
 * its own reads fetch them back from there (the buffer reaches the file first). 300 rows and
 * their index, about 1.7 MB: the reads find the last of it still in the buffer. */
static void test_a_transaction_reads_back_its_spilled_pages(void **state)
{
    wfx *f = *state;
    sqlite3 *copy;

    exec_ok(f->db, "PRAGMA cache_size = 16; BEGIN");
    assert_int_equal(insert_rows(f->db, 1, 300), SQLITE_OK);
    assert_intact(f->db, 300);
    exec_ok(f->db, "UPDATE t SET b = zeroblob(1000) WHERE id % 7 = 0");
    assert_int_equal(one_int(f->db, "SELECT count(*) FROM t WHERE b = zeroblob(1000)"), 42);
    exec_ok(f->db, "COMMIT");
    copy = open_copy(f);
    assert_intact(copy, 300);
    assert_int_equal(one_int(copy, "SELECT count(*) FROM t WHERE b = zeroblob(1000)"), 42);
    sqlite3_close(copy);
}

/* The file may grow by 64 KiB more (RLIMIT_FSIZE; SIGXFSZ ignored, so the write fails with
 * EFBIG): a transaction of about 3.4 MB is refused at its COMMIT, and the committed rows are
 * all the database has, in this connection and in a copy of the files. */
static void test_P_AUD_3_a_refused_write_fails_the_commit(void **state)
{
    wfx *f = *state;
    struct rlimit old, lim;
    struct stat sb;
    char wal[600];
    sqlite3 *copy;
    int rc;

    assert_int_equal(insert_rows(f->db, 1, 10), SQLITE_OK);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)sb.st_size + 65536;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    exec_ok(f->db, "BEGIN");
    rc = insert_rows(f->db, 11, 600);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_not_equal(rc, SQLITE_OK);
    if (!sqlite3_get_autocommit(f->db))
        exec_ok(f->db, "ROLLBACK");
    assert_intact(f->db, 10);
    copy = open_copy(f);
    assert_intact(copy, 10);
    sqlite3_close(copy);
    assert_int_equal(insert_rows(f->db, 11, 5), SQLITE_OK); /* and writes on */
    assert_intact(f->db, 15);
}

/* Two writers on the shim (two processes on one database, as docs/store.md allows): one
 * rolls back a transaction whose pages spilled into its buffer, the other then commits at the
 * same offsets of a WAL the first had emptied, and the first writes on. Its rolled-back frames
 * reached the file before it released the write lock, never after, over the second's. */
static void test_a_rolled_back_spill_never_lands_on_another_writers_frames(void **state)
{
    wfx *f = *state;
    sqlite3 *b = NULL, *other = NULL;

    assert_int_equal(sqlite3_open_v2(f->path, &b, SQLITE_OPEN_READWRITE, CU_SQLITE_VFS), SQLITE_OK);
    exec_ok(f->db, "CREATE TABLE u(id INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    assert_int_equal(insert_rows(f->db, 1, 10), SQLITE_OK);
    exec_ok(f->db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA cache_size = 50; BEGIN");
    exec_ok(f->db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 400)"
                   " INSERT INTO u SELECT i, zeroblob(1000) FROM c");
    exec_ok(f->db, "ROLLBACK");
    exec_ok(b, "BEGIN IMMEDIATE");
    assert_int_equal(insert_rows(b, 11, 20), SQLITE_OK);
    exec_ok(b, "COMMIT");
    assert_int_equal(insert_rows(f->db, 31, 1), SQLITE_OK);
    sqlite3_close(b);
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_intact(other, 31);
    assert_int_equal(one_int(other, "SELECT count(*) FROM u"), 0);
    sqlite3_close(other);
}

/* synchronous=NORMAL (no sync at a commit) and a transaction that spilled and then rewrote
 * spilled pages in place: SQLite rewrites the frames' checksums after the commit frame's
 * page, and those bytes too are in the file when COMMIT returns (the write lock's release). */
static void test_a_commit_rewriting_its_checksums_is_in_the_file(void **state)
{
    wfx *f = *state;
    sqlite3 *copy;

    exec_ok(f->db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = 16");
    assert_int_equal(insert_rows(f->db, 1, 10), SQLITE_OK);
    exec_ok(f->db, "BEGIN");
    assert_int_equal(insert_rows(f->db, 11, 300), SQLITE_OK);
    exec_ok(f->db, "UPDATE t SET b = zeroblob(1000) WHERE id % 7 = 0");
    exec_ok(f->db, "COMMIT");
    copy = open_copy(f);
    assert_intact(copy, 310);
    sqlite3_close(copy);
}

/* The unix VFS's pwrite, refused while refuse is set (ENOSPC): a full disk; refuse < 0 refuses
 * that many calls and then lets them through. */
static int refuse;
static sqlite3_syscall_ptr real_pwrite, real_pwrite64;

static int refused(void)
{
    if (refuse == 0)
        return 0;
    if (refuse < 0)
        refuse++;
    errno = ENOSPC;
    return 1;
}

static ssize_t full_pwrite(int fd, const void *p, size_t n, off_t off)
{
    if (refused())
        return -1;
    return ((ssize_t(*)(int, const void *, size_t, off_t))real_pwrite)(fd, p, n, off);
}

static ssize_t full_pwrite64(int fd, const void *p, size_t n, off_t off)
{
    if (refused())
        return -1;
    return ((ssize_t(*)(int, const void *, size_t, off_t))real_pwrite64)(fd, p, n, off);
}

static void full_disk_install(void)
{
    sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");

    real_pwrite = unix_vfs->xGetSystemCall(unix_vfs, "pwrite");
    real_pwrite64 = unix_vfs->xGetSystemCall(unix_vfs, "pwrite64");
    assert_true(real_pwrite != NULL || real_pwrite64 != NULL);
    if (real_pwrite != NULL)
        unix_vfs->xSetSystemCall(unix_vfs, "pwrite", (sqlite3_syscall_ptr)full_pwrite);
    if (real_pwrite64 != NULL)
        unix_vfs->xSetSystemCall(unix_vfs, "pwrite64", (sqlite3_syscall_ptr)full_pwrite64);
}

static void full_disk_remove(void)
{
    sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");

    refuse = 0;
    unix_vfs->xSetSystemCall(unix_vfs, "pwrite", real_pwrite);
    unix_vfs->xSetSystemCall(unix_vfs, "pwrite64", real_pwrite64);
}

/* A COMMIT whose write the disk refuses once, and lets through after: the application is told
 * the COMMIT failed, so the transaction never reaches the file later (when the write lock is
 * released, or by the next transaction), and a copy of the files has only the row before. */
static void test_P_AUD_3_a_refused_commit_never_reaches_the_file_later(void **state)
{
    wfx *f = *state;
    sqlite3 *copy;
    int rc;

    assert_int_equal(insert_rows(f->db, 1, 1), SQLITE_OK);
    exec_ok(f->db, "BEGIN");
    assert_int_equal(insert_rows(f->db, 2, 2), SQLITE_OK);
    full_disk_install();
    refuse = -1;
    rc = sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
    full_disk_remove();
    assert_int_not_equal(rc, SQLITE_OK);
    if (!sqlite3_get_autocommit(f->db))
        exec_ok(f->db, "ROLLBACK");
    assert_intact(f->db, 1);
    copy = open_copy(f);
    assert_intact(copy, 1);
    sqlite3_close(copy);
    assert_int_equal(insert_rows(f->db, 2, 1), SQLITE_OK); /* and writes on */
    copy = open_copy(f);
    assert_intact(copy, 2);
    sqlite3_close(copy);
}

/* A statement that reads a spilled page while the disk is full: the buffer's flush before the
 * read is refused, the statement fails, and the buffer keeps its bytes. Once the disk has room
 * the transaction goes on and commits whole: the database another connection opens is intact
 * and holds every row this one committed (SQLite's statement rollback found no hole). */
static void test_a_refused_flush_keeps_its_bytes_for_the_next(void **state)
{
    wfx *f = *state;
    sqlite3 *other = NULL;
    int rc;

    exec_ok(f->db, "CREATE TABLE v(id INTEGER PRIMARY KEY, b BLOB NOT NULL);"
                   "PRAGMA cache_size = 20; BEGIN;"
                   "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300)"
                   " INSERT INTO v SELECT i, zeroblob(1000) FROM c");
    full_disk_install();
    refuse = 1;
    rc = sqlite3_exec(f->db, "INSERT INTO v SELECT id + 100000, b FROM v WHERE id <= 50", NULL,
                      NULL, NULL);
    full_disk_remove();
    assert_int_equal(rc & 0xff, SQLITE_FULL);    /* the read's flush was refused */
    assert_false(sqlite3_get_autocommit(f->db)); /* the transaction goes on */
    exec_ok(f->db, "INSERT INTO v VALUES(1000, zeroblob(10)); COMMIT");
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(one_int(other, "SELECT count(*) FROM v"), 301);
    assert_int_equal(one_int(other, "SELECT sum(length(b)) FROM v"), 300 * 1000 + 10);
    assert_intact(other, 0); /* the integrity check (t is empty here) */
    sqlite3_close(other);
}

/* A database whose storage does not promise powersafe overwrite (psow=0): SQLite pads each
 * FULL commit to the sector's end with copies of the commit frame, written after the commit
 * frame and around a sync. They are in the file when COMMIT returns: another connection and a
 * copy of the files read every committed row. */
static void test_a_commit_padded_to_its_sector_is_whole(void **state)
{
    wfx *f = *state;
    char uri[600];
    sqlite3 *db = NULL, *other = NULL, *copy;

    sqlite3_close(f->db);
    snprintf(uri, sizeof(uri), "file:%s?psow=0", f->path);
    assert_int_equal(sqlite3_open_v2(uri, &db,
                                     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                                     CU_SQLITE_VFS),
                     SQLITE_OK);
    f->db = db;
    exec_ok(f->db, "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0");
    for (int i = 1; i <= 5; i++)
        assert_int_equal(insert_rows(f->db, i, 1), SQLITE_OK);
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_intact(other, 5);
    sqlite3_close(other);
    copy = open_copy(f);
    assert_intact(copy, 5);
    sqlite3_close(copy);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, wfx_setup, wfx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_a_commit_is_in_the_file_when_commit_returns),
        T(test_a_transaction_reads_back_its_spilled_pages),
        T(test_P_AUD_3_a_refused_write_fails_the_commit),
        T(test_a_rolled_back_spill_never_lands_on_another_writers_frames),
        T(test_a_commit_rewriting_its_checksums_is_in_the_file),
        T(test_a_refused_flush_keeps_its_bytes_for_the_next),
        T(test_P_AUD_3_a_refused_commit_never_reaches_the_file_later),
        T(test_a_commit_padded_to_its_sector_is_whole),
    };

    return cmocka_run_group_tests_name("store_wal", tests, NULL, NULL);
}
