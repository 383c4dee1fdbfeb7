/*
 * sqlite_backup.c: a consistent copy of the database for a backup (P-BAK-1).
 *
 * VACUUM INTO on a connection of its own, opened read-only for the call: it reads one snapshot
 * of the committed state in a single read transaction (WAL lets writers go on meanwhile) and
 * writes it, compacted, to a new file. The pool's readers are not held up, and the copy holds
 * no free page with bytes of deleted rows. The schema version is read from the copy.
 */
#include <stdio.h>

#include "sqlite_int.h"
#include "util.h"

static cu_rc dump_error(sqlite3 *db, int src, cu_err *err, const char *what)
{
    return cu_err_set(err, src == SQLITE_NOMEM ? CU_ERR_NOMEM : CU_ERR_IO, "could not %s: %s",
                      what, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
}

/* VACUUM INTO runs in a read transaction of its own (it refuses to run inside one). */
static cu_rc dump_run(sqlite3 *db, const char *dest, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src;

    src = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(st, 1, dest, -1, SQLITE_STATIC);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_DONE)
        src = SQLITE_OK;
    sqlite3_finalize(st);
    return src == SQLITE_OK ? CU_OK : dump_error(db, src, err, "write the backup's snapshot");
}

/* The copy's own schema version (VACUUM keeps user_version). */
static cu_rc copy_version(const char *dest, int *schema_version, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    sqlite3 *db = NULL;
    int src = sqlite3_open_v2(dest, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    cu_rc rc = CU_OK;

    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (src == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        *schema_version = sqlite3_column_int(st, 0);
    else
        rc = dump_error(db, src, err, "read the snapshot's schema version");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

cu_rc sq_dump(cu_store *w, const char *dest, int *schema_version, cu_err *err)
{
    const char *path = sqlite3_db_filename(((sqlite_store *)w)->db, "main");
    sqlite3 *db = NULL;
    cu_rc rc;
    int src;

    if (path == NULL || path[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "the store has no file to back up");
    src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = dump_error(db, src, err, "open the database for a backup");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 10000);
    rc = dump_run(db, dest, err);
    sqlite3_close(db);
    return rc == CU_OK ? copy_version(dest, schema_version, err) : rc;
}
