/*
 * sqlite_coord.c: what lets several writers share one SQLite database safely, and what keeps
 * a second process off it where they must not.
 *
 * Two rules of the store contract (docs/store.md) that the core relies on once more than one
 * server writes: a batch names the audit head it chains onto for each tenant and is refused
 * when another writer moved it first (CU_OP_AUDIT_HEAD_CHECK), and named leases taken and
 * renewed atomically (CU_OP_LEASE_TAKE), so that one server at a time sweeps. Both run inside
 * apply()'s IMMEDIATE transaction, so no other connection writes between check and write.
 *
 * The data directory's flock is the SQLite backend's own: the key file and its rotation assume
 * one process per directory, which a database server's backend need not. Test builds may skip
 * it (CUSTOS_TEST_SHARED_DB=1) to open two vaults on one database.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sqlite_int.h"
#include "util.h"

/* The lease table (migration 9, sqlite_schema.c); statements prepared per call: a lease is
 * taken once a sweep, never on the request path. */
static const char LEASE_TAKE_SQL[] =
    "INSERT INTO leases(name, holder, expires_at) VALUES(?1, ?2, ?4)"
    " ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at"
    " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?3";
static const char LEASE_RELEASE_SQL[] = "DELETE FROM leases WHERE name = ?1 AND holder = ?2";

cu_rc sq_w_audit_head_check(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    sqlite3_stmt *st = sq_stmt(s, S_AUDIT_HEAD);
    uint8_t hash[32] = {0};
    uint64_t seq = 0;
    int src;

    if (st == NULL)
        return sq_db_error(s, sqlite3_errcode(s->db), err, "read audit head");
    sq_bind_id(st, 1, op->u.audit_head.tenant_id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        seq = (uint64_t)sqlite3_column_int64(st, 0);
        sq_blob32_col(st, 1, hash);
    }
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return sq_db_error(s, src, err, "read audit head");
    if (seq != op->u.audit_head.seq || memcmp(hash, op->u.audit_head.hash, 32) != 0)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the audit chain moved: another writer extended it first");
    return CU_OK;
}

/* Runs one lease statement with (name, holder, now, expires_at) bound; *changed: rows touched. */
static cu_rc lease_run(sqlite_store *s, const char *sql, const cu_store_op *op, int *changed,
                       cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    cu_rc rc = CU_OK;

    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, op->u.lease.name, -1, SQLITE_STATIC);
        sq_bind_id(st, 2, op->u.lease.holder);
        if (sqlite3_bind_parameter_count(st) >= 4) {
            sqlite3_bind_int64(st, 3, op->u.lease.now);
            sqlite3_bind_int64(st, 4, op->u.lease.expires_at);
        }
        src = sqlite3_step(st);
    }
    if (src != SQLITE_DONE)
        rc = sq_db_error(s, src, err, "write lease");
    *changed = sqlite3_changes(s->db);
    sqlite3_finalize(st);
    return rc;
}

cu_rc sq_w_lease_take(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    int changed = 0;
    cu_rc rc;

    if (op->u.lease.name == NULL || op->u.lease.holder == 0)
        return cu_err_set(err, CU_ERR_INVALID, "a lease needs a name and a holder");
    rc = lease_run(s, LEASE_TAKE_SQL, op, &changed, err);
    if (rc == CU_OK && changed == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "the %s lease is held by another server",
                          op->u.lease.name);
    return rc;
}

cu_rc sq_w_lease_release(sqlite_store *s, const cu_store_op *op, cu_err *err)
{
    int changed = 0;

    if (op->u.lease.name == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "a lease needs a name");
    return lease_run(s, LEASE_RELEASE_SQL, op, &changed, err);
}

/* Test builds alone may share a database between vaults (the two-writer tests). */
static int shared_db_allowed(void)
{
#ifdef CU_FAULT_INJECTION
    const char *e = getenv("CUSTOS_TEST_SHARED_DB");

    return e != NULL && strcmp(e, "1") == 0;
#else
    return 0;
#endif
}

/* The lock file of the database at dbpath: its name with ".db" made ".lock" (custos.db:
 * custos.lock, as the data directory has always had), else with ".lock" added. */
static cu_rc lock_path(const char *dbpath, char *out, size_t cap, cu_err *err)
{
    size_t n = strlen(dbpath);
    int w;

    if (n >= 3 && strcmp(dbpath + n - 3, ".db") == 0)
        n -= 3;
    w = snprintf(out, cap, "%.*s.lock", (int)n, dbpath);
    if (w < 0 || (size_t)w >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "database path too long");
    return CU_OK;
}

cu_rc sq_dir_lock(const char *dbpath, int *fd, cu_err *err)
{
    char path[PATH_MAX];
    const char *slash = strrchr(dbpath, '/');
    int dirlen = slash ? (int)(slash - dbpath) : 1;
    cu_rc rc;

    *fd = -1;
    if (shared_db_allowed())
        return CU_OK;
    if ((rc = lock_path(dbpath, path, sizeof(path), err)) != CU_OK)
        return rc;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return cu_err_set(err, CU_ERR_IO, "could not open \"%s\": %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return cu_err_set(err, e == EWOULDBLOCK ? CU_ERR_CONFLICT : CU_ERR_IO,
                          "the vault in \"%.*s\" is in use by another process", dirlen,
                          slash ? dbpath : ".");
    }
    return CU_OK;
}

void sq_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}
