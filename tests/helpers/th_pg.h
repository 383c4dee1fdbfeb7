/*
 * th_pg.h: a real PostgreSQL 15 server for the tests, started by the test process itself.
 *
 * The first call of th_pg_location starts one server for the whole test binary: initdb and
 * pg_ctl (Debian's /usr/lib/postgresql/15/bin) into a temporary directory, trust
 * authentication, listening on 127.0.0.1 at a free port and on a unix socket in that
 * directory (as root, the server runs as the postgres user: initdb refuses root). It is stopped
 * by its pid, and its directory removed, when the process that started it exits (never by a
 * forked child's exit). Its fsync is on, as a production server's: the durability tests
 * (test_crash, test_commit_async, test_http_commit) hold the database to what a machine would
 * keep, and the suite's time allows it (docs/testing.md).
 */
#ifndef CU_TH_PG_H
#define CU_TH_PG_H

#include <stddef.h>

/* A fresh, empty database's libpq URL into loc, e.g. "postgresql://postgres@127.0.0.1:5xxxx/t3"
 * (starting the server on first use; fails the test if it cannot). */
void th_pg_location(char *loc, size_t cap);
/* A fresh database for a vault, as th_pg_location, but holding the current schema: an earlier
 * vault's database that nothing is connected to any more, renamed and emptied (its schema
 * checked against the template's), else one made from a template (CREATE DATABASE ...
 * TEMPLATE: a file copy, much faster than migrating every vault's database from nothing).
 * Not for tests of the migrations themselves. */
void th_pg_vault_location(char *loc, size_t cap);
/* A fresh database holding a copy of the one at from (CREATE DATABASE ... TEMPLATE: nothing
 * may be connected to from meanwhile), its URL into loc. */
void th_pg_copy_location(const char *from, char *loc, size_t cap);
/* Replaces the rows of each of tables (NULL ends the list) in the database at to by those of
 * the same table in the database at from (COPY out of one, into the other), in one
 * transaction, foreign keys unchecked: an attacker's restore of old rows from a copy. */
void th_pg_copy_rows(const char *from, const char *to, const char *const *tables);
/* The server's port and directory (its unix socket's), once started. */
int th_pg_port(void);
const char *th_pg_dir(void);
/* Stops the server at once (pg_ctl stop -m immediate: no shutdown checkpoint, clients cut
 * off, as a crash), and starts it again on the same port and directory (crash recovery). */
void th_pg_stop_immediate(void);
void th_pg_start_again(void);
/* Runs one SQL command on the database at loc (a URL th_pg_location gave); 0 on success. */
int th_pg_sql(const char *loc, const char *sql);
/* Runs a query on the database at loc and returns its first row's first column as a number
 * (-1 if no row or on error). */
long long th_pg_sql_int(const char *loc, const char *sql);

/* The same, copying the first column of the first row, as text, into buf; 0 on success. */
int th_pg_sql_text(const char *loc, const char *sql, char *buf, size_t cap);
/* 1 if the bytes needle[0..n) are in the server's files for the database at loc, as an
 * attacker holding the disk would read them: after a CHECKPOINT (what the server keeps in
 * memory reaches its data files), the database's own directory (base/OID) and the WAL
 * (pg_wal); wal_only: the WAL alone. 0 if not. */
int th_pg_at_rest(const char *loc, const void *needle, size_t n, int wal_only);

/* Flips the low bit of byte at (0-based) of column col, text or bytea, of the one row of table
 * that matches where: the attacker's smallest edit. Fails the test unless one row changed. */
void th_pg_flip_byte(const char *loc, const char *table, const char *col, const char *where,
                     int at);

/* The test process's store switch: 1 when CUSTOS_TEST_STORE=postgresql, so that th_vault,
 * th_reopen, srv_start and the scenarios put each vault on a fresh PostgreSQL database of
 * this binary's server (docs/testing.md). */
int th_pg_mode(void);

#endif
