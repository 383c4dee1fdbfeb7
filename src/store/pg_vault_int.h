/*
 * pg_vault_int.h: what the vault domain's files of the PostgreSQL backend share (pg_vault.c,
 * pg_vault_keys.c, pg_vault_users.c), and nothing else includes: the small run and read
 * helpers over pg_int.h's pg_exec, so that each op and read is its statement and its row.
 */
#ifndef CU_PG_VAULT_INT_H
#define CU_PG_VAULT_INT_H

#include "pg_int.h"

/* Reads row of res into out (a struct the caller sized); on failure out holds nothing to
 * release. */
typedef cu_rc (*pgv_row_fn)(const PGresult *res, int row, void *out, cu_err *err);

/* Runs a command on c (inside apply()'s transaction); *changed: rows it changed. With changed
 * NULL, in apply()'s pipeline the command is only sent (its failure fails the batch later). */
cu_rc pgv_run(pg_conn *c, pg_query *q, const pg_param *p, int np, int64_t *changed, cu_err *err,
              const char *what);
/* pgv_run, failing with code and msg when the command changed no row. */
cu_rc pgv_run_one(pg_conn *c, pg_query *q, const pg_param *p, int np, cu_err *err, const char *what,
                  cu_rc code, const char *msg);
/* The first column of the first row of a query as an integer (a bool: 0 or 1) into *out; 0 if
 * it answers no row. */
cu_rc pgv_int(pg_conn *c, pg_query *q, const pg_param *p, int np, int64_t *out, cu_err *err,
              const char *what);

/* A read of one row (a connection of the store's read path, one statement): fn fills out;
 * CU_ERR_NOT_FOUND with missing when the query answers no row. */
cu_rc pgv_read_one(cu_store *base, pg_query *q, const pg_param *p, int np, pgv_row_fn fn, void *out,
                   cu_err *err, const char *what, const char *missing);
/* A read of every row the query answers into a new array of sz-byte rows, *n of them (*out
 * NULL when none; the caller frees it). On failure free_fn (NULL: free) releases the rows
 * read so far. */
cu_rc pgv_read_list(cu_store *base, pg_query *q, const pg_param *p, int np, size_t sz,
                    pgv_row_fn fn, void (*free_fn)(void *list, size_t n), void **out, size_t *n,
                    cu_err *err, const char *what);

#endif
