/*
 * th_pg.h: a real PostgreSQL 15 server for the tests, started by the test process itself.
 *
 * The first call of th_pg_location starts one server for the whole test binary: initdb and
 * pg_ctl (Debian's /usr/lib/postgresql/15/bin) into a temporary directory, trust
 * authentication, listening on 127.0.0.1 at a free port and on a unix socket in that
 * directory (as root, the server runs as the postgres user: initdb refuses root). It is stopped
 * by its pid, and its directory removed, when the process that started it exits (never by a
 * forked child's exit). Its fsync is off: the tests crash processes, not machines.
 */
#ifndef CU_TH_PG_H
#define CU_TH_PG_H

#include <stddef.h>

/* A fresh, empty database's libpq URL into loc, e.g. "postgresql://postgres@127.0.0.1:5xxxx/t3"
 * (starting the server on first use; fails the test if it cannot). */
void th_pg_location(char *loc, size_t cap);
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

#endif
