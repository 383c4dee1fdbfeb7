/*
 * store_sqlite.h: what only the SQLite backend offers beyond the store's face: its two ways of
 * opening (a pool of connections, or one), and the migration hooks the tests use. Core code
 * opens a store with cu_store_open and never includes this header.
 */
#ifndef CU_STORE_SQLITE_H
#define CU_STORE_SQLITE_H

#include "store.h"

/* The name of the embedded database in a data directory (cu_store_location). */
#define CU_STORE_SQLITE_FILE "custos.db"

/* The ops of one connection, and of the pool the vault uses (cu_store_sqlite_open). */
extern const cu_store_ops cu_store_sqlite;
extern const cu_store_ops cu_store_sqlite_pool;

/* Opens the SQLite store at path (creating it), upgrading its schema to the newest version:
 * one writer connection for apply() and a pool of reader connections for everything else, so
 * reads go on while a commit waits for its fsync (WAL gives each read a committed snapshot). */
cu_rc cu_store_sqlite_open(const char *path, cu_store **out, cu_err *err);
/* The same with a single connection for everything. */
cu_rc cu_store_sqlite_open_single(const char *path, cu_store **out, cu_err *err);
/* A read-only connection to a database already at the newest schema (pool members). */
cu_rc cu_store_sqlite_open_reader(const char *path, cu_store **out, cu_err *err);

/* For migration tests: opens (creating) a SQLite store and migrates it only up to version. */
cu_rc cu_store_sqlite_open_at(const char *path, int version, cu_store **out, cu_err *err);

/* How many WAL checkpoints the pool's checkpoint thread has run (sqlite_ckpt.c); 0 for a
 * store that is not a pool. */
uint64_t cu_store_sqlite_wal_checkpoints(cu_store *s);
/* WAL frames (pages) after which the pool's checkpoint thread copies the WAL into the database
 * (sqlite_ckpt.c); at twice as many the writer finishes the copy in its commit, so the WAL
 * stays under about 2 * CU_SQLITE_CKPT_FRAMES * 4 KiB (80 MB). SQLite's own default, 1,000,
 * made a checkpoint every few groups under steady writes: 10,000 measured 26% more writes/s
 * (bench/README.md, issue 17). */
#define CU_SQLITE_CKPT_FRAMES 10000

/* The newest schema version this build knows. */
int cu_store_sqlite_schema_version(void);

#ifdef CU_FAULT_INJECTION
/* Test builds: puts SQLite's allocations and file writes under cu_fault_arm (faultsim.c).
 * Call before anything else touches SQLite. 0 on success, -1 if SQLite is initialized. */
int cu_store_faultsim_install(void);
#endif

#endif
