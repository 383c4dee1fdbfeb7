/*
 * th.h: helpers shared by the cmocka tests: temporary data directories, raw SQL against a
 * vault's database (to play the attacker who holds the files), byte searches in files, and
 * running a function in a child process that may "crash" at a fault point.
 */
#ifndef CU_TH_H
#define CU_TH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "custos.h"

/* Makes a fresh directory under $TMPDIR (or /tmp); path gets its name. */
void th_tmpdir(char path[256]);
/* Removes a directory tree made by th_tmpdir. */
void th_rmrf(const char *path);
/* Initializes a vault in dir/data and opens it; returns the data dir in data (256 bytes).
 * With CUSTOS_TEST_STORE=postgresql (th_pg_mode), its store is a fresh database of the test
 * binary's PostgreSQL server, the data directory keeping the key file (docs/testing.md). */
cu_vault *th_vault(const char *dir, char data[256]);
/* Opens the vault at data again (on its PostgreSQL database, if it has one). */
cu_vault *th_reopen(const char *data);
/* The store of the vault whose data directory is data: its PostgreSQL URL, or NULL (SQLite:
 * data/custos.db). Set by th_vault, srv_start and th_store_new. */
const char *th_store(const char *data);
/* In PostgreSQL mode, gives the data directory data a fresh database (for a test that
 * initializes its vault itself) and returns its URL; else NULL. Use as cu_vault_opts.store. */
const char *th_store_new(const char *data);
/* A store's location for a test that opens the store itself: dir/custos.db, or in PostgreSQL
 * mode a fresh database's URL (its schema made by the store's open, as SQLite's). */
void th_store_location(const char *dir, char *loc, size_t cap);
/* After a test copied the files of the data directory from into to: in PostgreSQL mode, gives
 * to a copy of from's database (the vault must be closed). A copy of a vault either way. */
void th_vault_copy(const char *from, const char *to);
/* Marks the running test as one about SQLite itself (its WAL, its file, its flock): in
 * PostgreSQL mode it is skipped, reason printed. Every use is listed in docs/testing.md. */
void th_sqlite_only(const char *reason);
/* Marks the running test as one whose PostgreSQL form is not written yet (its attacker's
 * tooling speaks SQLite's API or file format): in PostgreSQL mode it is skipped, reason
 * printed. Listed in docs/testing.md as work left, not as SQLite's own. */
void th_pg_not_ported(const char *reason);
/* Runs SQL on the vault's database outside the vault (data/custos.db, or its PostgreSQL
 * database through libpq: the same SQL where it is portable); returns sqlite's result code
 * (SQLITE_OK or SQLITE_ERROR for PostgreSQL). */
int th_sql(const char *data, const char *sql);
/* Of a statement written in each dialect, the one for the vault's database: for what SQLite and
 * PostgreSQL spell apart (SQLite's internal rid, PostgreSQL's (tenant_id, record_id) keys). */
const char *th_pick(const char *data, const char *sqlite_sql, const char *pg_sql)
    __attribute__((format_arg(2), format_arg(3)));
/* Runs a query on the vault's database and returns the first column of its first row (-1 if
 * none; PostgreSQL's booleans as 1 and 0). */
long long th_sql_int(const char *data, const char *sql);
/* Runs a query and copies the first column of its first row, as text, into buf; 0 on success. */
int th_sql_text(const char *data, const char *sql, char *buf, size_t cap);
/* Returns 1 if the file holds the bytes needle[0..n), 0 if not or if it does not exist. For
 * DATA/custos.db and DATA/custos.db-wal of a vault on PostgreSQL, the search is over what the
 * server wrote to disk for its database (th_pg_at_rest: its data files and WAL, or the WAL
 * alone; -shm: nothing), the attacker's view of the files that hold it. */
int th_file_contains(const char *path, const void *needle, size_t n);
/* th_file_contains, polled every 100 ms for up to 10 s: what a server's background thread writes
 * just after its answer (the erasure journal's line). */
int th_file_wait_contains(const char *path, const void *needle, size_t n);
/* Copies a file; returns 0 on success. */
int th_copy(const char *from, const char *to);
/* Forks; the child sets CUSTOS_FAULT=point and calls fn(arg), then exits 0. Returns the
 * child's exit status (70 when the fault point fired). */
int th_crash_at(const char *point, void (*fn)(void *), void *arg);

#endif
