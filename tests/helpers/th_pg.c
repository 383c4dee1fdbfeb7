/*
 * th_pg.c: the test binaries' own PostgreSQL server (see th_pg.h).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store.h"
#include "th.h"
#include "th_pg.h"

#define PG_BIN "/usr/lib/postgresql/15/bin"

static struct {
    int started;
    pid_t owner;    /* the process that started it; only it stops it */
    long postmaster; /* the server's pid */
    int port;
    char dir[256];
    unsigned next_db, dropped; /* databases made; those below dropped are gone */
    int template_ready;        /* custos_template holds the current schema */
    int recycle;               /* vault databases are recycled (the template's rows allow it) */
    char template_fp[40];      /* the template's schema_fingerprint */
    unsigned char kept[4096];  /* databases copied from (th_pg_copy_location): never dropped */
    unsigned char plain[4096]; /* databases not made from the template: dropped, not recycled */
    unsigned char gone[4096];  /* renamed away (recycled) or dropped */
} pg;

/* What a vault database's schema is, as one hash: its tables' columns, indexes, constraints,
 * functions and triggers, and its schema version. A recycled database must match the
 * template's (a test may have altered its schema with the attacker's SQL). */
static const char schema_fingerprint[] =
    "SELECT md5(string_agg(x, ',' ORDER BY x)) FROM ("
    " SELECT c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)"
    "  || ':' || a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS x"
    "  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
    "  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
    "  WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped"
    " UNION ALL SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c"
    "  ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace"
    " UNION ALL SELECT conname || pg_get_constraintdef(oid) FROM pg_constraint"
    "  WHERE connamespace = 'public'::regnamespace"
    " UNION ALL SELECT proname || '(' || pg_get_function_identity_arguments(oid) || ')' || prosrc"
    "  FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
    " UNION ALL SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    "  WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal"
    " UNION ALL SELECT 'version ' || version FROM schema_version) s";

/* The rows of every table but schema_version, as a count (recycling empties those tables: the
 * template must have none there). */
static const char rows_outside_version[] =
    "SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c"
    " FROM %I', tablename), false, true, '')))[1]::text::bigint), 0) FROM pg_tables"
    " WHERE schemaname = 'public' AND tablename <> 'schema_version'";

/* Empties a recycled database: every table but schema_version, foreign keys unchecked (the
 * replica role fires no trigger), in one transaction. */
static const char wipe[] =
    "SET session_replication_role = replica;"
    "DO $$DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables"
    " WHERE schemaname = 'public' AND tablename <> 'schema_version'"
    " LOOP EXECUTE format('DELETE FROM %I', t); END LOOP; END$$";

int th_pg_mode(void)
{
    const char *m = getenv("CUSTOS_TEST_STORE");

    return m != NULL && strcmp(m, "postgresql") == 0;
}

/* A free loopback port (the kernel's pick; released again for the server to take). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Runs a command line, as the postgres user when we are root; its exit status. */
static int run(const char *cmd)
{
    char line[2048];
    int st;

    snprintf(line, sizeof(line), "%s%s", geteuid() == 0 ? "runuser -u postgres -- " : "", cmd);
    st = system(line);
    return st == -1 ? -1 : WEXITSTATUS(st);
}

static void stop(void)
{
    if (!pg.started || getpid() != pg.owner)
        return;
    pg.started = 0;
    if (pg.postmaster > 0 && kill((pid_t)pg.postmaster, SIGINT) == 0) {
        /* Fast shutdown; not our child (pg_ctl detached it): poll until it is gone. */
        for (int i = 0; i < 200 && kill((pid_t)pg.postmaster, 0) == 0; i++)
            usleep(50 * 1000);
        if (kill((pid_t)pg.postmaster, 0) == 0)
            kill((pid_t)pg.postmaster, SIGKILL);
    }
    th_rmrf(pg.dir);
}

static long read_pid(const char *dir)
{
    char path[512];
    long pid = -1;
    FILE *f;

    snprintf(path, sizeof(path), "%s/data/postmaster.pid", dir);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    return pid;
}

/* pg_ctl start on the chosen port; 0 on success. */
static int pg_start(void)
{
    char cmd[1536];

    snprintf(cmd, sizeof(cmd),
             PG_BIN "/pg_ctl -D %s/data -l %s/server.log -w -t 60 -o \"-p %d -k %s"
                    " -c listen_addresses=127.0.0.1"
                    " -c max_connections=200 -c shared_buffers=32MB\" start >/dev/null",
             pg.dir, pg.dir, pg.port, pg.dir);
    if (run(cmd) != 0)
        return -1;
    pg.postmaster = read_pid(pg.dir);
    return 0;
}

void th_pg_stop_immediate(void)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), PG_BIN "/pg_ctl -D %s/data -m immediate stop >/dev/null", pg.dir);
    if (run(cmd) != 0)
        fail_msg("pg_ctl stop failed");
}

void th_pg_start_again(void)
{
    if (pg_start() != 0)
        fail_msg("pg_ctl start failed (see %s/server.log)", pg.dir);
}

static void start(void)
{
    char cmd[1536];
    struct passwd *pw;

    th_tmpdir(pg.dir);
    if (geteuid() == 0) {
        pw = getpwnam("postgres");
        if (pw == NULL)
            fail_msg("no postgres user (make deps installs postgresql)");
        if (chown(pg.dir, pw->pw_uid, pw->pw_gid) != 0)
            fail_msg("chown %s: %s", pg.dir, strerror(errno));
    }
    /* A cluster run.sh made once for the whole pass ($CUSTOS_TEST_PG_INITDB), copied: initdb
     * takes seconds, a copy of its result a fraction. */
    if (getenv("CUSTOS_TEST_PG_INITDB") != NULL && *getenv("CUSTOS_TEST_PG_INITDB") != '\0')
        snprintf(cmd, sizeof(cmd), "cp -a %s %s/data", getenv("CUSTOS_TEST_PG_INITDB"), pg.dir);
    else
        snprintf(cmd, sizeof(cmd),
                 PG_BIN "/initdb -D %s/data -A trust -U postgres -E UTF8 --no-sync"
                        " >%s/initdb.log 2>&1",
                 pg.dir, pg.dir);
    if (run(cmd) != 0)
        fail_msg("initdb failed (see %s/initdb.log)", pg.dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        pg.port = free_port();
        if (pg_start() == 0) {
            pg.owner = getpid();
            pg.started = 1;
            atexit(stop);
            return;
        }
    }
    fail_msg("pg_ctl start failed (see %s/server.log)", pg.dir);
}

int th_pg_port(void)
{
    return pg.port;
}

const char *th_pg_dir(void)
{
    return pg.dir;
}

static PGresult *query(const char *loc, const char *sql, PGconn **out)
{
    PGconn *c = PQconnectdb(loc);

    *out = c;
    if (PQstatus(c) != CONNECTION_OK)
        return NULL;
    return PQexec(c, sql);
}

int th_pg_sql(const char *loc, const char *sql)
{
    PGconn *c;
    PGresult *r = query(loc, sql, &c);
    int ok = r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
                           PQresultStatus(r) == PGRES_TUPLES_OK);

    if (!ok)
        print_message("PostgreSQL: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

long long th_pg_sql_int(const char *loc, const char *sql)
{
    PGconn *c;
    PGresult *r = query(loc, sql, &c);
    long long v = -1;

    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
        !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    PQfinish(c);
    return v;
}

static int sql_quiet(const char *loc, const char *sql)
{
    PGconn *c;
    PGresult *r = query(loc, sql, &c);
    int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;

    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

/* Gives database i, made from the template and unused now, the name of database to, emptied:
 * a vault's database at a fraction of CREATE DATABASE's and DROP DATABASE's cost (seconds each
 * on a loaded machine, docs/testing.md). The rename is refused while anything is connected to
 * it, as DROP DATABASE is, so a vault still open keeps its database. 0 on success. */
static int recycle(const char *admin, unsigned i, unsigned to)
{
    char sql[160], url[256], fp[40] = "";

    snprintf(sql, sizeof(sql), "ALTER DATABASE t%u_%u RENAME TO t%u_%u", (unsigned)pg.owner, i,
             (unsigned)pg.owner, to);
    if (sql_quiet(admin, sql) != 0)
        return -1;
    pg.gone[i] = 1;
    snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/t%u_%u", pg.port,
             (unsigned)pg.owner, to);
    if (th_pg_sql_text(url, schema_fingerprint, fp, sizeof(fp)) == 0 &&
        strcmp(fp, pg.template_fp) == 0 && th_pg_sql(url, wipe) == 0)
        return 0;
    /* Its schema was altered by its test: dropped instead (nothing is connected to it). */
    snprintf(sql, sizeof(sql), "DROP DATABASE t%u_%u", (unsigned)pg.owner, to);
    if (th_pg_sql(admin, sql) != 0)
        fail_msg("could not drop an altered test database");
    return -1;
}

/* Names in loc a fresh database for the next vault: from tmpl (NULL: template1). A vault's
 * (from custos_template) is an earlier test's recycled when one is unused; the databases of
 * earlier tests that are not made from the template are dropped once nothing uses them (a
 * failure: still in use, tried again next time). */
static void make_db(char *loc, size_t cap, const char *tmpl)
{
    char admin[256], sql[160], busy[4096] = "";
    int vault = tmpl != NULL && strcmp(tmpl, "custos_template") == 0, done = 0;

    if (!pg.started)
        start(); /* a forked child uses its parent's server */
    snprintf(admin, sizeof(admin), "postgresql://postgres@127.0.0.1:%d/postgres", pg.port);
    /* A forked child makes its own (named by its pid), recycling nothing of its parent's. */
    vault = vault && pg.recycle && getpid() == pg.owner;
    /* The databases something is still connected to, left alone: PostgreSQL would wait 5 s
     * for their sessions to end before refusing the rename or the drop. */
    if (pg.dropped < pg.next_db &&
        th_pg_sql_text(admin,
                       "SELECT ',' || coalesce(string_agg(datname, ','), '') || ','"
                       " FROM pg_stat_activity WHERE datname IS NOT NULL",
                       busy, sizeof(busy)) != 0)
        busy[0] = '\0';
    for (unsigned i = pg.dropped; i < pg.next_db; i++) {
        int tracked = i < sizeof(pg.kept);
        char name[48];
        if (tracked && (pg.kept[i] || pg.gone[i])) {
            pg.dropped += i == pg.dropped;
            continue;
        }
        snprintf(name, sizeof(name), ",t%u_%u,", (unsigned)pg.owner, i);
        if (strstr(busy, name) != NULL)
            continue;
        if (tracked && !pg.plain[i]) {
            if (vault && !done && recycle(admin, i, pg.next_db) == 0)
                done = 1;
            pg.dropped += i == pg.dropped && pg.gone[i];
            continue;
        }
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS t%u_%u", (unsigned)pg.owner, i);
        if (sql_quiet(admin, sql) == 0 && tracked)
            pg.gone[i] = 1;
        pg.dropped += i == pg.dropped && tracked && pg.gone[i];
    }
    if (!done) {
        snprintf(sql, sizeof(sql), "CREATE DATABASE t%u_%u%s%s", (unsigned)getpid(), pg.next_db,
                 tmpl ? " TEMPLATE " : "", tmpl ? tmpl : "");
        if (th_pg_sql(admin, sql) != 0)
            fail_msg("could not create a test database on port %d", pg.port);
    }
    if (pg.next_db < sizeof(pg.plain))
        pg.plain[pg.next_db] = !vault || getpid() != pg.owner;
    snprintf(loc, cap, "postgresql://postgres@127.0.0.1:%d/t%u_%u", pg.port, (unsigned)getpid(),
             pg.next_db);
    pg.next_db++;
}

void th_pg_location(char *loc, size_t cap)
{
    make_db(loc, cap, NULL);
}

void th_pg_vault_location(char *loc, size_t cap)
{
    char admin[256], url[256];
    cu_store *st = NULL;
    cu_err err = {0};

    if (!pg.started)
        start();
    if (!pg.template_ready) {
        /* The schema as the store's own migrations make it, once per server; no connection
         * stays on the template (CREATE DATABASE needs it idle). */
        snprintf(admin, sizeof(admin), "postgresql://postgres@127.0.0.1:%d/postgres", pg.port);
        th_pg_sql(admin, "DROP DATABASE IF EXISTS custos_template");
        if (th_pg_sql(admin, "CREATE DATABASE custos_template") != 0)
            fail_msg("could not create the template database");
        snprintf(url, sizeof(url), "postgresql://postgres@127.0.0.1:%d/custos_template",
                 pg.port);
        if (cu_store_open(url, &st, &err) != CU_OK)
            fail_msg("migrating the template: %s", err.msg);
        cu_store_close(st);
        /* SQLite's functions that the tests' attacker SQL uses, so that it runs unchanged
         * (test databases only; the backend never calls them). */
        if (th_pg_sql(url, "CREATE FUNCTION hex(bytea) RETURNS text IMMUTABLE LANGUAGE sql"
                           " AS $$SELECT upper(encode($1, 'hex'))$$;"
                           "CREATE FUNCTION zeroblob(bigint) RETURNS bytea IMMUTABLE LANGUAGE sql"
                           " AS $$SELECT decode(repeat('00', $1::int), 'hex')$$;"
                           "CREATE FUNCTION typeof(bytea) RETURNS text IMMUTABLE LANGUAGE sql"
                           " AS $$SELECT 'blob'$$;"
                           "CREATE FUNCTION typeof(text) RETURNS text IMMUTABLE LANGUAGE sql"
                           " AS $$SELECT 'text'$$;"
                           "CREATE FUNCTION typeof(bigint) RETURNS text IMMUTABLE LANGUAGE sql"
                           " AS $$SELECT 'integer'$$") != 0)
            fail_msg("could not add the SQLite shims to the template");
        /* Recycling (make_db) empties every table but schema_version: only if the template
         * has no row elsewhere; CUSTOS_TEST_PG_NO_RECYCLE=1 turns it off (a database per vault,
         * as before: docs/testing.md compares the two). */
        pg.recycle = th_pg_sql_int(url, rows_outside_version) == 0 &&
                     th_pg_sql_text(url, schema_fingerprint, pg.template_fp,
                                    sizeof(pg.template_fp)) == 0 &&
                     getenv("CUSTOS_TEST_PG_NO_RECYCLE") == NULL;
        pg.template_ready = 1;
    }
    make_db(loc, cap, "custos_template");
}

void th_pg_copy_location(const char *from, char *loc, size_t cap)
{
    const char *name = strrchr(from, '/');
    unsigned owner, i;

    if (name == NULL)
        fail_msg("not a database URL: %s", from);
    if (sscanf(name + 1, "t%u_%u", &owner, &i) == 2 && owner == (unsigned)pg.owner &&
        i < sizeof(pg.kept))
        pg.kept[i] = 1; /* the source of copies stays for the next */
    make_db(loc, cap, name + 1);
}

int th_pg_sql_text(const char *loc, const char *sql, char *buf, size_t cap)
{
    PGconn *c;
    PGresult *r = query(loc, sql, &c);
    int rc = -1;

    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
        !PQgetisnull(r, 0, 0)) {
        snprintf(buf, cap, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* nftw has no user pointer: the search's needle and its finding. */
static struct {
    const void *needle;
    size_t n;
    int found;
} at_rest;

static int search_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode) && th_file_contains(p, at_rest.needle, at_rest.n))
        at_rest.found = 1;
    return at_rest.found; /* stops the walk once found */
}

int th_pg_at_rest(const char *loc, const void *needle, size_t n, int wal_only)
{
    char admin[256], path[600];
    long long oid = th_pg_sql_int(loc, "SELECT oid FROM pg_database"
                                       " WHERE datname = current_database()");

    if (oid < 0 || !pg.started)
        fail_msg("no PostgreSQL database at %s", loc);
    snprintf(admin, sizeof(admin), "postgresql://postgres@127.0.0.1:%d/postgres", pg.port);
    if (th_pg_sql(admin, "CHECKPOINT") != 0)
        fail_msg("CHECKPOINT failed");
    at_rest.needle = needle;
    at_rest.n = n;
    at_rest.found = 0;
    snprintf(path, sizeof(path), "%s/data/pg_wal", pg.dir);
    nftw(path, search_one, 16, FTW_PHYS);
    if (!wal_only && !at_rest.found) {
        snprintf(path, sizeof(path), "%s/data/base/%lld", pg.dir, oid);
        nftw(path, search_one, 16, FTW_PHYS);
    }
    return at_rest.found;
}

void th_pg_flip_byte(const char *loc, const char *table, const char *col, const char *where,
                     int at)
{
    char type[16], sql[768];

    snprintf(sql, sizeof(sql), "SELECT typeof(%s) FROM %s WHERE %s", col, table, where);
    if (th_pg_sql_text(loc, sql, type, sizeof(type)) != 0)
        fail_msg("no row of %s where %s", table, where);
    if (strcmp(type, "text") == 0)
        snprintf(sql, sizeof(sql),
                 "UPDATE %1$s SET %2$s = convert_from(set_byte(convert_to(%2$s, 'UTF8'), %3$d,"
                 " get_byte(convert_to(%2$s, 'UTF8'), %3$d) # 1), 'UTF8') WHERE %4$s",
                 table, col, at, where);
    else
        snprintf(sql, sizeof(sql),
                 "UPDATE %1$s SET %2$s = set_byte(%2$s, %3$d, get_byte(%2$s, %3$d) # 1)"
                 " WHERE %4$s",
                 table, col, at, where);
    if (th_pg_sql(loc, sql) != 0)
        fail_msg("could not flip a byte of %s.%s", table, col);
}

/* One table's rows through COPY, text format: out of src, into dst. */
static void copy_table(PGconn *src, PGconn *dst, const char *table)
{
    char sql[160];
    PGresult *r;
    char *buf;
    int n;

    snprintf(sql, sizeof(sql), "COPY %s TO STDOUT", table);
    r = PQexec(src, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT)
        fail_msg("COPY %s out: %s", table, PQerrorMessage(src));
    PQclear(r);
    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", table);
    r = PQexec(dst, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        fail_msg("COPY %s in: %s", table, PQerrorMessage(dst));
    PQclear(r);
    while ((n = PQgetCopyData(src, &buf, 0)) > 0) {
        if (PQputCopyData(dst, buf, n) != 1)
            fail_msg("COPY %s: %s", table, PQerrorMessage(dst));
        PQfreemem(buf);
    }
    PQclear(PQgetResult(src));
    if (PQputCopyEnd(dst, NULL) != 1)
        fail_msg("COPY %s: %s", table, PQerrorMessage(dst));
    r = PQgetResult(dst);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("COPY %s in: %s", table, PQerrorMessage(dst));
    PQclear(r);
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

void th_pg_copy_rows(const char *from, const char *to, const char *const *tables)
{
    PGconn *src = PQconnectdb(from), *dst = PQconnectdb(to);
    char sql[160];

    if (PQstatus(src) != CONNECTION_OK || PQstatus(dst) != CONNECTION_OK)
        fail_msg("PostgreSQL: %s%s", PQerrorMessage(src), PQerrorMessage(dst));
    /* replica: no trigger fires, so no foreign key is checked (a superuser's right). */
    exec_ok(dst, "BEGIN");
    exec_ok(dst, "SET LOCAL session_replication_role = replica");
    for (int i = 0; tables[i] != NULL; i++) {
        snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[i]);
        exec_ok(dst, sql);
    }
    for (int i = 0; tables[i] != NULL; i++)
        copy_table(src, dst, tables[i]);
    exec_ok(dst, "COMMIT");
    PQfinish(src);
    PQfinish(dst);
}
