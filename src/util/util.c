/*
 * util.c: string, id, clock and file helpers used by every layer.
 *
 * The clock is the one source of policy time (DESIGN.md, Time). Test builds
 * (CU_TEST_CLOCK) read CUSTOS_NOW when set so that tests and `custos sweep --now` move
 * through years in milliseconds; release builds never read it, so no environment variable can
 * freeze sessions, lockouts or audit times in production.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int cu_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);

    if (n == 0)
        return -1;
    if (len >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return -1;
    }
    memcpy(dst, src, len + 1);
    return 0;
}

char *cu_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void cu_id_format(cu_id id, char buf[CU_ID_STRLEN])
{
    snprintf(buf, CU_ID_STRLEN, "%llu", (unsigned long long)id);
}

cu_rc cu_id_parse(const char *s, cu_id *out)
{
    cu_id v = 0;
    size_t i;

    if (s == NULL || s[0] < '1' || s[0] > '9')
        return CU_ERR_INVALID;
    for (i = 0; s[i] != '\0'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (s[i] < '0' || s[i] > '9' || i >= 20)
            return CU_ERR_INVALID;
        if (v > (UINT64_MAX - d) / 10)
            return CU_ERR_INVALID;
        v = v * 10 + d;
    }
    *out = v;
    return CU_OK;
}

static _Atomic int64_t clock_override;

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's
 * days_from_civil), so no time zone is involved. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int64_t parse_now(const char *s)
{
    int y, m, d;
    char *end;
    long long t;

    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) == 3 && strlen(s) == 10)
        return days_from_civil(y, (unsigned)m, (unsigned)d) * 86400;
    errno = 0;
    t = strtoll(s, &end, 10);
    if (errno || *end != '\0' || t <= 0)
        return 0;
    return t;
}

/* CUSTOS_NOW, in test builds only (CU_TEST_CLOCK, which the Makefile sets for them alone). */
static const char *clock_env(void)
{
#ifdef CU_TEST_CLOCK
    return getenv("CUSTOS_NOW");
#else
    return NULL;
#endif
}

int64_t cu_clock_now(void)
{
    int64_t t = atomic_load(&clock_override);
    struct timespec ts;
    const char *env;

    if (t != 0)
        return t;
    if ((env = clock_env()) != NULL && (t = parse_now(env)) != 0)
        return t;
    /* The precise clock, the audit log's too (audit.c): time() reads the kernel's coarse one,
     * which lags it by up to a tick past each second (5.8 ms measured), so that a webhook event
     * stamped by the audit clock was not yet due by this one. */
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int cu_clock_is_set(void)
{
    const char *env = clock_env();

    return atomic_load(&clock_override) != 0 || (env != NULL && parse_now(env) != 0);
}

int cu_clock_set_text(const char *s)
{
#ifdef CU_TEST_CLOCK
    int64_t t = parse_now(s);

    if (t == 0)
        return -1;
    cu_clock_set(t);
    return 0;
#else
    (void)s;
    return -1;
#endif
}

void cu_clock_set(int64_t t)
{
    atomic_store(&clock_override, t);
}

static cu_rc fsync_dir_of(const char *path, cu_err *err)
{
    char dir[PATH_MAX];
    char *slash;
    int fd;

    if (cu_strlcpy(dir, path, sizeof(dir)) != 0)
        return cu_err_set(err, CU_ERR_IO, "path too long");
    slash = strrchr(dir, '/');
    if (slash == NULL)
        cu_strlcpy(dir, ".", sizeof(dir));
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cu_err_set(err, CU_ERR_IO, "could not open directory \"%s\": %s", dir,
                          strerror(errno));
    if (fsync(fd) != 0) {
        close(fd);
        return cu_err_set(err, CU_ERR_IO, "could not fsync directory \"%s\": %s", dir,
                          strerror(errno));
    }
    close(fd);
    return CU_OK;
}

cu_rc cu_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode,
                           cu_err *err)
{
    char tmp[PATH_MAX];
    const char *p = data;
    cu_rc rc = CU_OK;
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return cu_err_set(err, CU_ERR_IO, "path too long");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return cu_err_set(err, CU_ERR_IO, "could not create \"%s\": %s", tmp, strerror(errno));
    if (fchmod(fd, mode) != 0) {
        rc = cu_err_set(err, CU_ERR_IO, "could not chmod \"%s\": %s", tmp, strerror(errno));
        goto out;
    }
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = cu_err_set(err, CU_ERR_IO, "could not write \"%s\": %s", tmp, strerror(errno));
            goto out;
        }
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = cu_err_set(err, CU_ERR_IO, "could not fsync \"%s\": %s", tmp, strerror(errno));
        goto out;
    }
out:
    close(fd);
    if (rc == CU_OK && rename(tmp, path) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not rename \"%s\": %s", tmp, strerror(errno));
    if (rc != CU_OK) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir_of(path, err);
}

cu_rc cu_file_read(const char *path, size_t max, char **out, size_t *n, cu_err *err)
{
    FILE *f = fopen(path, "rbe");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cu_rc rc = CU_OK;

    if (f == NULL)
        return cu_err_set(err, errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO,
                          "could not open \"%s\": %s", path, strerror(errno));
    /* Unbuffered: stdio's buffer would keep a copy of a secret file that nobody wipes. */
    setvbuf(f, NULL, _IONBF, 0);
    for (;;) {
        size_t r;
        if (len + 1 >= cap) {
            char *nb;
            cap = cap ? cap * 2 : 4096;
            if (cap > max + 1)
                cap = max + 1;
            if (len + 1 >= cap) {
                rc = cu_err_set(err, CU_ERR_LIMIT, "\"%s\" is larger than %zu bytes", path, max);
                goto out;
            }
            nb = realloc(buf, cap);
            if (nb == NULL) {
                rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                goto out;
            }
            buf = nb;
        }
        r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        rc = cu_err_set(err, CU_ERR_IO, "could not read \"%s\"", path);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    *n = len;
    buf = NULL;
out:
    fclose(f);
    free(buf);
    return rc;
}

#ifdef CU_FAULT_INJECTION
static cu_fault_hook_fn fault_hook;
static void *fault_hook_arg;

void cu_fault_hook_set(cu_fault_hook_fn fn, void *arg)
{
    fault_hook_arg = arg;
    fault_hook = fn;
}

static _Atomic int fault_kind;
static _Atomic long fault_left, fault_fired, fault_calls;

void cu_fault_arm(cu_fault_kind kind, long n)
{
    atomic_store(&fault_kind, 0);
    atomic_store(&fault_left, n);
    atomic_store(&fault_fired, 0);
    atomic_store(&fault_calls, 0);
    atomic_store(&fault_kind, n > 0 ? (int)kind : 0);
}

int cu_fault_tick(cu_fault_kind kind)
{
    if (atomic_load(&fault_kind) != (int)kind)
        return 0;
    atomic_fetch_add(&fault_calls, 1);
    /* Exactly one caller sees the count reach zero, on whichever thread. */
    if (atomic_fetch_sub(&fault_left, 1) != 1)
        return 0;
    atomic_fetch_add(&fault_fired, 1);
    return 1;
}

long cu_fault_fired(void)
{
    return atomic_load(&fault_fired);
}

long cu_fault_calls(void)
{
    return atomic_load(&fault_calls);
}

int cu_fault(const char *point)
{
    const char *env = getenv("CUSTOS_FAULT");

    if (fault_hook != NULL && fault_hook(point, fault_hook_arg))
        return 1;
    return env != NULL && strcmp(env, point) == 0;
}
#endif

cu_rc cu_file_check_private(const char *path, const char *what, int missing_ok, cu_err *err)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT && missing_ok)
            return CU_OK;
        return cu_err_set(err, errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO,
                          "could not stat %s \"%s\": %s", what, path, strerror(errno));
    }
    if (st.st_uid != geteuid())
        return cu_err_set(err, CU_ERR_PERM, "%s \"%s\" is owned by uid %u, not by uid %u", what,
                          path, (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & 077) != 0)
        return cu_err_set(err, CU_ERR_PERM,
                          "%s \"%s\" is open to group or others (mode %03o): run chmod 600 on it",
                          what, path, (unsigned)(st.st_mode & 0777));
    return CU_OK;
}

cu_rc cu_dir_check_private(const char *path, cu_err *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return cu_err_set(err, errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO,
                          "could not stat data directory \"%s\": %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return cu_err_set(err, CU_ERR_INVALID, "\"%s\" is not a directory", path);
    if (st.st_uid != geteuid())
        return cu_err_set(err, CU_ERR_PERM,
                          "data directory \"%s\" is owned by uid %u, not by uid %u", path,
                          (unsigned)st.st_uid, (unsigned)geteuid());
    if ((st.st_mode & 022) != 0)
        return cu_err_set(err, CU_ERR_PERM,
                          "data directory \"%s\" is writable by group or others (mode %03o): run "
                          "chmod 700 on it",
                          path, (unsigned)(st.st_mode & 0777));
    return CU_OK;
}

cu_rc cu_process_harden(cu_err *err)
{
    struct rlimit rl = {0, 0};

    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        return cu_err_set(err, CU_ERR_IO, "could not disable core dumps: %s", strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return cu_err_set(err, CU_ERR_IO, "could not make the process undumpable: %s",
                          strerror(errno));
    return CU_OK;
}
