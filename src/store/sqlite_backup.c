/*
 * sqlite_backup.c: a consistent copy of the database for a backup (P-BAK-1).
 *
 * VACUUM INTO on a connection of its own, opened read-only for the call: it reads one snapshot
 * of the committed state in a single read transaction (WAL lets writers go on meanwhile) and
 * writes it, compacted, to a new file. The pool's readers are not held up, and the copy holds
 * no free page with bytes of deleted rows. The schema version is read in the same transaction.
 */
#include <stdio.h>

#include "sqlite_int.h"
#include "util.h"

static cu_rc dump_error(sqlite3 *db, int src, cu_err *err, const char *what)
{
    return cu_err_set(err, src == SQLITE_NOMEM ? CU_ERR_NOMEM : CU_ERR_IO, "could not %s: %s",
                      what, db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
}

static cu_rc dump_run(sqlite3 *db, const char *dest, int *schema_version, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src;

    /* One read transaction: the version read is the snapshot's. */
    if ((src = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL)) != SQLITE_OK)
        return dump_error(db, src, err, "begin the backup's snapshot");
    src = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        *schema_version = sqlite3_column_int(st, 0);
        src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_bind_text(st, 1, dest, -1, SQLITE_STATIC);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_DONE)
        src = SQLITE_OK;
    sqlite3_finalize(st);
    if (src != SQLITE_OK) {
        cu_rc rc = dump_error(db, src, err, "write the backup's snapshot");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return CU_OK;
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
    rc = dump_run(db, dest, schema_version, err);
    sqlite3_close(db);
    return rc;
}
