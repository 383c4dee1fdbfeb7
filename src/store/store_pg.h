/*
 * store_pg.h: what only the PostgreSQL backend offers beyond the store's face. Core code opens a
 * store with cu_store_open ("postgresql://..." or "postgres://...") and never includes this
 * header; the tests and the CLI's setup may.
 */
#ifndef CU_STORE_PG_H
#define CU_STORE_PG_H

#include "store.h"

/* The ops of a PostgreSQL store (a pool of libpq connections). */
extern const cu_store_ops cu_store_pg;

/* Opens the PostgreSQL store at conninfo (a libpq connection URL), upgrading its schema to the
 * newest version (migrations serialized by an advisory lock: several servers may start at
 * once). The pool holds up to CUSTOS_STORE_POOL connections (default 8), made as needed.
 * CU_ERR_UNAVAILABLE if the server cannot be reached. */
cu_rc cu_store_pg_open(const char *conninfo, cu_store **out, cu_err *err);

/* The newest schema version this build knows. */
int cu_store_pg_schema_version(void);

#endif
