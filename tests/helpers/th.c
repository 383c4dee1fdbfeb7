/*
 * th.c: test helpers (see th.h).
 */
#define _GNU_SOURCE /* memmem, nftw */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "th.h"
#include "th_pg.h"

/* Which data directories have a PostgreSQL database, and its URL (PostgreSQL mode only). A
 * forked child inherits it. The oldest entry gives way when full: a test binary keeps only
 * its recent vaults open. */
#define TH_STORES 128
static struct {
    char data[300];
    char url[256];
} stores[TH_STORES];
static unsigned stores_next;

const char *th_store(const char *data)
{
    for (unsigned i = 0; i < TH_STORES; i++)
        if (stores[i].data[0] != '\0' && strcmp(stores[i].data, data) == 0)
            return stores[i].url;
    return NULL;
}

/* The entry of data: its own if it has one, else the next (the oldest gives way). */
static unsigned slot(const char *data)
{
    unsigned i = stores_next++ % TH_STORES;

    for (unsigned j = 0; j < TH_STORES; j++)
        if (strcmp(stores[j].data, data) == 0)
            i = j; /* the same directory again: a new database for it */
    snprintf(stores[i].data, sizeof(stores[i].data), "%s", data);
    return i;
}

const char *th_store_new(const char *data)
{
    unsigned i;

    if (!th_pg_mode())
        return NULL;
    i = slot(data);
    th_pg_vault_location(stores[i].url, sizeof(stores[i].url));
    return stores[i].url;
}

void th_vault_copy(const char *from, const char *to)
{
    const char *src = th_store(from);
    char url[256];
    unsigned i;

    if (src == NULL)
        return;
    snprintf(url, sizeof(url), "%s", src);
    i = slot(to);
    th_pg_copy_location(url, stores[i].url, sizeof(stores[i].url));
}

void th_pg_not_ported(const char *reason)
{
    if (th_pg_mode()) {
        print_message("not ported to PostgreSQL yet: %s\n", reason);
        skip();
    }
}

void th_store_location(const char *dir, char *loc, size_t cap)
{
    if (th_pg_mode())
        th_pg_location(loc, cap);
    else
        snprintf(loc, cap, "%s/custos.db", dir);
}

void th_sqlite_only(const char *reason)
{
    if (th_pg_mode()) {
        print_message("sqlite only: %s\n", reason);
        skip();
    }
}

void th_tmpdir(char path[256])
{
    const char *base = getenv("TMPDIR");

    snprintf(path, 256, "%s/custos-test-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(path));
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void th_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

cu_vault *th_reopen(const char *data)
{
    cu_vault_opts o = {.data_dir = data, .store = th_store(data)};
    cu_vault *v = NULL;
    cu_err err = {0};

    if (cu_vault_open(&o, &v, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
    return v;
}

cu_vault *th_vault(const char *dir, char data[256])
{
    cu_vault_opts o = {0};
    cu_err err = {0};

    snprintf(data, 256, "%s/data", dir);
    o.data_dir = data;
    o.store = th_store_new(data);
    if (cu_vault_init(&o, &err) != CU_OK)
        fail_msg("init: %s", err.msg);
    return th_reopen(data);
}

static char *pg_literals(const char *sql);

/* s with every from replaced by to; the caller frees it. */
static char *replace_all(char *s, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), count = 0, k = 0;
    char *out, *p;

    for (p = strstr(s, from); p != NULL; p = strstr(p + nf, from))
        count++;
    out = malloc(strlen(s) + count * nt + 1);
    assert_non_null(out);
    for (char *q = s; *q != '\0';) {
        if (strncmp(q, from, nf) == 0) {
            memcpy(out + k, to, nt);
            k += nt;
            q += nf;
        } else {
            out[k++] = *q++;
        }
    }
    out[k] = '\0';
    free(s);
    return out;
}

/* sql in PostgreSQL's spelling, the caller frees it: SQLite's blob literals (x'00ff') as
 * '\\x00ff'::bytea, and a record's rows found by SQLite's internal key (rid = (SELECT rid FROM
 * records ...), rid IN (SELECT rid ...)) by the record's own, (tenant_id, record_id). */
static char *pg_dialect(const char *sql)
{
    return replace_all(replace_all(pg_literals(sql), "rid = (SELECT rid FROM",
                                   "(tenant_id, record_id) = (SELECT tenant_id, record_id FROM"),
                       "rid IN (SELECT rid FROM",
                       "(tenant_id, record_id) IN (SELECT tenant_id, record_id FROM");
}

/* sql with SQLite's blob literals (x'00ff') in PostgreSQL's spelling ('\\x00ff'::bytea). */
static char *pg_literals(const char *sql)
{
    size_t n = strlen(sql), k = 0;
    char *out = malloc(4 * n + 16);

    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        int lit = (sql[i] == 'x' || sql[i] == 'X') && sql[i + 1] == '\'' &&
                  (i == 0 || !(isalnum((unsigned char)sql[i - 1]) || sql[i - 1] == '_'));
        if (!lit) {
            out[k++] = sql[i];
            continue;
        }
        size_t j = i + 2;
        while (isxdigit((unsigned char)sql[j]))
            j++;
        if (sql[j] != '\'') {
            out[k++] = sql[i];
            continue;
        }
        k += (size_t)sprintf(out + k, "'\\x%.*s'::bytea", (int)(j - i - 2), sql + i + 2);
        i = j;
    }
    out[k] = '\0';
    return out;
}

int th_sql(const char *data, const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;
    char *msg = NULL;
    int rc;

    if (th_store(data) != NULL) {
        char *pg_sql = pg_dialect(sql);
        rc = th_pg_sql(th_store(data), pg_sql) == 0 ? SQLITE_OK : SQLITE_ERROR;
        if (rc != SQLITE_OK)
            print_message("sql failed on PostgreSQL: %.300s\n", pg_sql);
        free(pg_sql);
        return rc;
    }
    snprintf(path, sizeof(path), "%s/custos.db", data);
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    }
    if (rc != SQLITE_OK)
        print_message("sql failed: %s\n", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
}

const char *th_pick(const char *data, const char *sqlite_sql, const char *pg_sql)
{
    return th_store(data) != NULL ? pg_sql : sqlite_sql;
}

long long th_sql_int(const char *data, const char *sql)
{
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    char text[64];

    if (th_store(data) != NULL) {
        char *pg_sql = pg_dialect(sql);
        int rc = th_pg_sql_text(th_store(data), pg_sql, text, sizeof(text));
        free(pg_sql);
        if (rc != 0)
            return -1;
        return strcmp(text, "t") == 0 ? 1 : strcmp(text, "f") == 0 ? 0 : strtoll(text, NULL, 10);
    }
    snprintf(path, sizeof(path), "%s/custos.db", data);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        print_message("query failed: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

int th_sql_text(const char *data, const char *sql, char *buf, size_t cap)
{
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (th_store(data) != NULL) {
        char *pg_sql = pg_dialect(sql);
        rc = th_pg_sql_text(th_store(data), pg_sql, buf, cap);
        free(pg_sql);
        return rc;
    }
    snprintf(path, sizeof(path), "%s/custos.db", data);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL) {
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* The URL of the vault whose database file path names (DATA/custos.db, -wal, -shm), and which
 * of the three (0, 1, 2); NULL if it is no such path or that vault is on SQLite. */
static const char *pg_file(const char *path, int *which)
{
    static const char *const names[] = {"/custos.db", "/custos.db-wal", "/custos.db-shm"};
    char dir[300];

    for (int i = 0; i < 3; i++) {
        size_t len = strlen(path), nl = strlen(names[i]);
        if (len > nl && len - nl < sizeof(dir) && strcmp(path + len - nl, names[i]) == 0) {
            memcpy(dir, path, len - nl);
            dir[len - nl] = '\0';
            *which = i;
            return th_store(dir);
        }
    }
    return NULL;
}

int th_file_contains(const char *path, const void *needle, size_t n)
{
    FILE *f;
    char *buf;
    long len;
    int found = 0, which = 0;
    const char *url = pg_file(path, &which);

    if (url != NULL)
        return which == 2 ? 0 : th_pg_at_rest(url, needle, n, which == 1);
    f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    if (fread(buf, 1, (size_t)len, f) == (size_t)len && (size_t)len >= n)
        found = memmem(buf, (size_t)len, needle, n) != NULL;
    free(buf);
    fclose(f);
    return found;
}

int th_file_wait_contains(const char *path, const void *needle, size_t n)
{
    for (int i = 0; i < 100; i++) {
        if (th_file_contains(path, needle, n))
            return 1;
        usleep(100 * 1000);
    }
    return th_file_contains(path, needle, n);
}

int th_copy(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out;
    ssize_t r;

    if (in < 0)
        return -1;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((r = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)r) != r) {
            r = -1;
            break;
        }
    close(in);
    close(out);
    return r < 0 ? -1 : 0;
}

int th_crash_at(const char *point, void (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("CUSTOS_FAULT", point, 1);
        fn(arg);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
