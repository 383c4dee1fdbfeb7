/*
 * store_migrate.h: moving a vault from one backend to another (issue 12, `custos migrate`).
 *
 * The copy is row for row: every value is already sealed or a keyed digest, so nothing is
 * opened, and the audit chains, checkpoints and signatures arrive as they were (the same bytes
 * hash to the same heads). The master key file and the audit key stay where they are: the
 * vault opened on the target with the same data directory (or key file) reads it.
 */
#ifndef CU_STORE_MIGRATE_H
#define CU_STORE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The tables a migration copies, in the order it copies them (referenced tables first). */
#define CU_MIGRATE_TABLES 35 /* 28 + disclosures (1) + incidents (3) + analytics (1) + sso (2) */

/* One table of the copy: its name (the same in both schemas), its PostgreSQL columns, and the
 * SQLite query that gives them in that order. Leases are in no list (a running server's). */
typedef struct cu_migrate_table {
    const char *name;
    const char *columns;
    const char *select;
} cu_migrate_table;
extern const cu_migrate_table cu_migrate_tables[CU_MIGRATE_TABLES];

/* The copy back, PostgreSQL -> SQLite (a PostgreSQL vault's backup, pg_backup.c), where a
 * table needs more than `SELECT columns FROM name` and `INSERT INTO name(columns)`: order (an
 * ORDER BY on PostgreSQL, or NULL) and insert (the SQLite statement taking the columns as ?1..,
 * or NULL). */
#define CU_MIGRATE_DUMP_RULES 6
typedef struct cu_migrate_dump_rule {
    const char *name;
    const char *order;
    const char *insert;
} cu_migrate_dump_rule;
extern const cu_migrate_dump_rule cu_migrate_dump_rules[CU_MIGRATE_DUMP_RULES];

/* The SQLite schema version the list was written for: a build whose SQLite schema is another
 * moves no vault either way (a table added must be added to the list first). */
int cu_migrate_sqlite_version(void);

typedef struct cu_migrate_report {
    struct {
        const char *name; /* static */
        uint64_t rows;
    } tables[CU_MIGRATE_TABLES];
    size_t ntables;
    uint64_t rows; /* all tables */
} cu_migrate_report;

/* Copies the SQLite vault database at sqlite_path (a file; it is upgraded to the newest schema
 * first, and flocked for the copy: no server may be running on it) into the empty PostgreSQL
 * database at conninfo (its schema made or upgraded first), in one transaction: all of it or
 * nothing. Each table's row count is compared between the two before the commit. Leases are not
 * copied (they belong to running servers). CU_ERR_EXISTS if the target already holds a vault,
 * CU_ERR_CONFLICT if the source is in use, CU_ERR_UNAVAILABLE if the target is unreachable. */
cu_rc cu_store_migrate_sqlite_to_pg(const char *sqlite_path, const char *conninfo,
                                    cu_migrate_report *rep, cu_err *err);

/* CU_OK if the PostgreSQL database at conninfo holds no vault (its schema made or upgraded if
 * need be), CU_ERR_EXISTS if it does: a restore asks before it decrypts anything. */
cu_rc cu_store_migrate_pg_empty(const char *conninfo, cu_err *err);

#endif
