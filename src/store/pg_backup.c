/*
 * pg_backup.c: a PostgreSQL vault's snapshot for a backup, written as a SQLite vault database
 * (P-BAK-1; docs/backup.md, docs/store.md, Backups).
 *
 * A backup is the same file whatever the store: the core encrypts, describes, verifies and
 * restores a SQLite database at the schema version this build knows (backup.c). Here that file
 * is made from one snapshot of PostgreSQL: one connection of the pool, in a REPEATABLE READ
 * READ ONLY transaction, reads every table of the migration's list (store_migrate.h: the list
 * `custos migrate` copies the other way, so a table added there is backed up too), each result
 * streamed row by row (single-row mode, binary values) into the new SQLite file, in one
 * SQLite transaction. Writes go on meanwhile (MVCC): the copy is the state the transaction's
 * first read saw, every write acknowledged before the dump began in it, none half.
 *
 * Nothing is decrypted: the values are sealed bytes and keyed digests, copied as they are, so
 * every audit entry hashes to the same chain (P-AUD-2) and every signature still verifies. The
 * file exists only in the backup's private temporary directory (backup.c unlinks it before a
 * byte is encrypted), and PostgreSQL's side writes nothing.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "pg_int.h"
#include "store_migrate.h"
#include "store_sqlite.h"
#include "util.h"

/* The dump's rule for table name, or NULL: SELECT columns, INSERT INTO name(columns). */
static const cu_migrate_dump_rule *rule_for(const char *name)
{
    for (size_t i = 0; i < CU_MIGRATE_DUMP_RULES; i++)
        if (strcmp(cu_migrate_dump_rules[i].name, name) == 0)
            return &cu_migrate_dump_rules[i];
    return NULL;
}

static cu_rc sq_fail(sqlite3 *db, cu_err *err, const char *what, const char *table)
{
    return cu_err_set(err, sqlite3_errcode(db) == SQLITE_NOMEM ? CU_ERR_NOMEM : CU_ERR_IO,
                      "could not %s %s in the backup's snapshot: %s", what, table,
                      sqlite3_errmsg(db));
}

/* The two statements of table t: the read on PostgreSQL, the insert of one row into SQLite. */
static cu_rc statements(const cu_migrate_table *t, char *sel, char *ins, size_t cap,
                        cu_err *err)
{
    const cu_migrate_dump_rule *r = rule_for(t->name);
    size_t n = 0, ncol = 1;
    int k;

    k = snprintf(sel, cap, "SELECT %s FROM %s%s%s", t->columns, t->name,
                 r && r->order ? " ORDER BY " : "", r && r->order ? r->order : "");
    if (k < 0 || (size_t)k >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "%s: statement too long", t->name);
    if (r && r->insert) {
        k = snprintf(ins, cap, "%s", r->insert);
        return k < 0 || (size_t)k >= cap
                   ? cu_err_set(err, CU_ERR_INVALID, "%s: statement too long", t->name)
                   : CU_OK;
    }
    for (const char *p = t->columns; *p != '\0'; p++)
        ncol += *p == ',';
    k = snprintf(ins, cap, "INSERT INTO %s(%s) VALUES(?", t->name, t->columns);
    n = k < 0 ? cap : (size_t)k;
    for (size_t i = 1; i < ncol && n + 4 < cap; i++)
        n += (size_t)snprintf(ins + n, cap - n, ", ?");
    if (n + 2 >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "%s: statement too long", t->name);
    memcpy(ins + n, ")", 2);
    return CU_OK;
}

/* Binds column col of the one row res holds (binary format) to parameter col + 1 of st. Every
 * column of the PostgreSQL schema is a bigint, a bytea or a text (pg_int.h). */
static int bind_value(sqlite3_stmt *st, const PGresult *res, int col)
{
    const char *v = PQgetvalue(res, 0, col); /* "" (not NULL) for an empty value */
    int n = PQgetlength(res, 0, col);

    if (PQgetisnull(res, 0, col))
        return sqlite3_bind_null(st, col + 1);
    switch (PQftype(res, col)) {
    case PG_OID_INT8:
        return sqlite3_bind_int64(st, col + 1, (sqlite3_int64)pg_i64(res, 0, col));
    case PG_OID_BYTEA:
        return sqlite3_bind_blob(st, col + 1, v, n, SQLITE_STATIC);
    case PG_OID_TEXT:
        return sqlite3_bind_text(st, col + 1, v, n, SQLITE_STATIC);
    default:
        return SQLITE_MISMATCH;
    }
}

/* One row into SQLite: exactly one row inserted (a record's field finds its record). */
static cu_rc put_row(sqlite3 *db, sqlite3_stmt *st, const PGresult *res, const char *table,
                     cu_err *err)
{
    int src = SQLITE_OK, ncol = PQnfields(res);

    if (ncol != sqlite3_bind_parameter_count(st))
        return cu_err_set(err, CU_ERR_STORE, "%s: %d columns read for %d to write", table, ncol,
                          sqlite3_bind_parameter_count(st));
    for (int i = 0; i < ncol && src == SQLITE_OK; i++)
        src = bind_value(st, res, i);
    if (src == SQLITE_MISMATCH)
        return cu_err_set(err, CU_ERR_STORE, "%s: a column of a type the copy does not know",
                          table);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (src != SQLITE_DONE)
        return sq_fail(db, err, "write a row of", table);
    if (sqlite3_changes(db) != 1)
        return cu_err_set(err, CU_ERR_STORE, "%s: a row the snapshot could not place", table);
    return CU_OK;
}

/* One table: read in the snapshot's transaction, row by row, each inserted as it comes. */
static cu_rc dump_table(pg_conn *c, sqlite3 *db, const cu_migrate_table *t, cu_err *err)
{
    char sel[1024], ins[1024];
    sqlite3_stmt *st = NULL;
    PGresult *res;
    cu_rc rc;

    if ((rc = statements(t, sel, ins, sizeof(sel), err)) != CU_OK)
        return rc;
    if (sqlite3_prepare_v2(db, ins, -1, &st, NULL) != SQLITE_OK)
        return sq_fail(db, err, "prepare the rows of", t->name);
    /* Binary results: a bytea arrives as its bytes, a bigint as 8. One row at a time: a
     * table is never held whole in memory. */
    if (PQsendQueryParams(c->conn, sel, 0, NULL, NULL, NULL, NULL, 1) != 1 ||
        PQsetSingleRowMode(c->conn) != 1) {
        rc = pg_error(c, NULL, err, "read the table for the backup");
        while ((res = PQgetResult(c->conn)) != NULL)
            PQclear(res);
        sqlite3_finalize(st);
        return rc;
    }
    while ((res = PQgetResult(c->conn)) != NULL) {
        ExecStatusType s = PQresultStatus(res);
        if (rc == CU_OK && s == PGRES_SINGLE_TUPLE)
            rc = put_row(db, st, res, t->name, err);
        else if (rc == CU_OK && s != PGRES_TUPLES_OK)
            rc = pg_error(c, res, err, "read the table for the backup");
        PQclear(res); /* after a failure, the rest of the result is read and dropped */
    }
    sqlite3_finalize(st);
    return rc;
}

/* Every table, in one REPEATABLE READ READ ONLY transaction of c: one snapshot. */
static cu_rc dump_all(pg_conn *c, sqlite3 *db, cu_err *err)
{
    cu_rc rc;

    if ((rc = pg_exec_text(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
                           "begin the backup's snapshot")) != CU_OK)
        return rc;
    for (size_t i = 0; rc == CU_OK && i < CU_MIGRATE_TABLES; i++)
        rc = dump_table(c, db, &cu_migrate_tables[i], err);
    /* Read only: a commit and a rollback end it alike; a failed one leaves c marked. */
    if (rc == CU_OK)
        rc = pg_exec_text(c, "COMMIT", err, "end the backup's snapshot");
    else
        pg_exec_text(c, "ROLLBACK", &(cu_err){0}, "end the backup's snapshot");
    return rc;
}

/* The empty SQLite vault database at dest, at this build's schema (the SQLite store's own
 * migrations make it), then opened alone for the fill: a rollback journal (its file then
 * stands alone, no WAL beside it) and no sync (a temporary file, read once). */
static cu_rc target_open(const char *dest, sqlite3 **db, cu_err *err)
{
    cu_store *st = NULL;
    cu_rc rc;

    if ((rc = cu_store_sqlite_open(dest, &st, err)) != CU_OK)
        return rc;
    cu_store_close(st);
    if (sqlite3_open_v2(dest, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(*db, "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; BEGIN", NULL,
                     NULL, NULL) != SQLITE_OK)
        return sq_fail(*db, err, "open", "the database");
    return CU_OK;
}

cu_rc pg_dump(cu_store *w, const char *dest, int *schema_version, cu_err *err)
{
    pg_store *s = (pg_store *)w;
    sqlite3 *db = NULL;
    pg_conn *c = NULL;
    cu_rc rc;

    /* The list is SQLite's schema at this version: a table added since would be left out. */
    if (cu_store_sqlite_schema_version() != cu_migrate_sqlite_version())
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "this build backs up PostgreSQL vaults at "
                          "SQLite schema %d", cu_migrate_sqlite_version());
    if ((rc = target_open(dest, &db, err)) == CU_OK &&
        (rc = pg_conn_get(s, &c, err)) == CU_OK) {
        rc = dump_all(c, db, err);
        pg_conn_put(s, c);
    }
    if (rc == CU_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = sq_fail(db, err, "commit", "the rows");
    sqlite3_close(db);
    if (rc != CU_OK) {
        unlink(dest); /* the caller's directory goes too; no half snapshot stays */
        return rc;
    }
    *schema_version = cu_store_sqlite_schema_version();
    return CU_OK;
}
