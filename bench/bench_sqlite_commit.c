/*
 * bench_sqlite_commit.c: the bare SQLite baseline of bench/http.sh: one row per transaction,
 * WAL, synchronous=FULL (each COMMIT is on disk before the next begins), as the naive write
 * path would do with no vault around it. What a durable audited write is compared with
 * ("write_vs_naive"): a vault that groups its commits can pass it.
 *
 * usage: bench_sqlite_commit FILE SECONDS
 * Inserts a 420-byte blob (the size of a record row and its audit entry, as bench_core) per
 * transaction into a new database FILE for SECONDS seconds, then prints one line:
 *   RESULT <rows per second> <rows>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    unsigned char row[420];
    double secs, t0, t;
    long n = 0;

    if (argc != 3 || (secs = atof(argv[2])) <= 0) {
        fprintf(stderr, "usage: bench_sqlite_commit FILE SECONDS\n");
        return 2;
    }
    memset(row, 'x', sizeof(row));
    if (sqlite3_open(argv[1], &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES(?)", -1, &ins, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_sqlite_commit: %s\n", db ? sqlite3_errmsg(db) : "no memory");
        return 1;
    }
    t0 = now();
    do {
        /* Autocommit: one transaction, one fsync of the WAL, per row. */
        row[n % sizeof(row)]++;
        sqlite3_bind_blob(ins, 1, row, sizeof(row), SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            fprintf(stderr, "bench_sqlite_commit: %s\n", sqlite3_errmsg(db));
            return 1;
        }
        sqlite3_reset(ins);
        n++;
    } while ((t = now() - t0) < secs);
    printf("RESULT %.1f %ld\n", (double)n / t, n);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return 0;
}
