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
/* Initializes a vault in dir/data and opens it; returns the data dir in data (256 bytes). */
cu_vault *th_vault(const char *dir, char data[256]);
/* Opens the vault at data again. */
cu_vault *th_reopen(const char *data);
/* Runs SQL on data/custos.db outside the vault; returns sqlite's result code. */
int th_sql(const char *data, const char *sql);
/* Runs a query on data/custos.db and returns the first column of its first row (-1 if none). */
long long th_sql_int(const char *data, const char *sql);
/* Runs a query and copies the first column of its first row, as text, into buf; 0 on success. */
int th_sql_text(const char *data, const char *sql, char *buf, size_t cap);
/* Returns 1 if the file holds the bytes needle[0..n), 0 if not or if it does not exist. */
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
