/*
 * journal.c: the erasure journal (P-BAK-2; journal_int.h, docs/backup.md).
 *
 * The file, beside the key file, mode 0600:
 *
 *   custos-erasure-journal 1 <hex of the audit key's public half>
 *   <seq> <at ms> <kind> <tenant> <object> <hash hex> <signature base64>
 *   ...
 *
 * hash = SHA-256("cu-journal1" | previous line's hash (zeros for the first) | "<seq> <at>
 * <kind> <tenant> <object>"), signed with the vault's Ed25519 audit key. Ids and times only,
 * never a value. Lines are only appended (O_APPEND, fsync); a line cut short by a crash is cut
 * off before the next append and ignored by readers.
 *
 * What goes in comes from the audit log, the database's own record of every erasure: the
 * platform log's tenant.purge and tenant.shred, each tenant log's subject.erase and
 * key.destroy, and its hold.release (a hold let go before an erasure: in a backup made before
 * the release it would stop the erasure's replay). A cursor file in the data directory (erasure.cursor) remembers how far each log
 * was read; lost, the logs are read again from the start, and the lines that come twice are
 * harmless (replaying an erasure twice finds it done).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_int.h"
#include "cache_int.h"
#include "erase_int.h"
#include "journal_int.h"
#include "subject_int.h"
#include "tenant_int.h"
#include "util.h"

#define JOURNAL_MAGIC "custos-erasure-journal 1"
#define CURSOR_MAGIC "custos-erasure-cursor 1"
#define JOURNAL_MAX (512u * 1024 * 1024)
#define SCAN_PAGE 1000

/* One writer of the journal per process (one process per data directory, the store's flock). */
static pthread_mutex_t journal_lock = PTHREAD_MUTEX_INITIALIZER;
/* Where the journal is also copied after each append (cu_backup_journal_mirror), or "". */
static char mirror[PATH_MAX];

void cu_backup_journal_mirror(const char *dir)
{
    pthread_mutex_lock(&journal_lock);
    if (dir == NULL || (size_t)snprintf(mirror, sizeof(mirror), "%s/%s", dir, CU_JOURNAL_FILE) >=
                           sizeof(mirror))
        mirror[0] = '\0';
    pthread_mutex_unlock(&journal_lock);
}

typedef struct cursor {
    cu_id tenant;
    uint64_t seq;
} cursor;

typedef struct found {
    cu_journal_entry *e;
    size_t n, cap;
} found;

cu_rc cu_journal_path(const cu_vault *v, char *out, size_t cap, cu_err *err)
{
    /* Beside the key file (the data directory unless --key-file puts it apart). */
    char dir[PATH_MAX];
    cu_rc rc;

    if ((rc = cu_vault_keys_dir(v, dir, sizeof(dir), err)) != CU_OK)
        return rc;
    if ((size_t)snprintf(out, cap, "%s/%s", dir, CU_JOURNAL_FILE) >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "key directory path too long");
    return CU_OK;
}

static void entry_text(const cu_journal_entry *e, char *out, size_t cap)
{
    snprintf(out, cap, "%" PRIu64 " %" PRId64 " %s %" PRIu64 " %s", e->seq, e->at_ms, e->kind,
             (uint64_t)e->tenant, e->object);
}

static void entry_hash(const cu_journal_entry *e, const uint8_t prev[32], uint8_t out[32])
{
    uint8_t buf[256];
    size_t n = 11;

    memcpy(buf, "cu-journal1", 11);
    memcpy(buf + n, prev, 32);
    n += 32;
    entry_text(e, (char *)buf + n, sizeof(buf) - n);
    n += strlen((char *)buf + n);
    cu_sha256(buf, n, out);
}

/* --- the cursor ----------------------------------------------------------------------------- */

static cu_rc cursor_path(const cu_vault *v, char *out, size_t cap, cu_err *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", v->dir, CU_JOURNAL_CURSOR_FILE) >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
    return CU_OK;
}

/* The cursor as saved; missing or unreadable: empty (every log read from its start). */
static void cursor_load(const cu_vault *v, cursor **out, size_t *n)
{
    char path[PATH_MAX], *text = NULL, *line, *save = NULL;
    cu_err ignored = {0};
    size_t len = 0, cap = 0;

    *out = NULL;
    *n = 0;
    if (cursor_path(v, path, sizeof(path), &ignored) != CU_OK ||
        cu_file_read(path, 16u * 1024 * 1024, &text, &len, &ignored) != CU_OK)
        return;
    line = strtok_r(text, "\n", &save);
    if (line == NULL || strcmp(line, CURSOR_MAGIC) != 0) {
        free(text);
        return;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        unsigned long long t, s;
        if (sscanf(line, "%llu %llu", &t, &s) != 2)
            continue;
        if (*n == cap) {
            cursor *c = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*c));
            if (c == NULL)
                break;
            *out = c;
        }
        (*out)[(*n)++] = (cursor){.tenant = t, .seq = s};
    }
    free(text);
}

static cu_rc write_all(int fd, const char *p, size_t n, cu_err *err);

/* The cursor's new text through a temporary file and a rename, not synced: a crash keeps the
 * old cursor, the new, or an empty file (read as none: every log read again); never one ahead
 * of the journal, which is synced before. One fsync per erasure, not three. */
static cu_rc write_unsynced(const char *path, const char *buf, size_t len, cu_err *err)
{
    char tmp[PATH_MAX + 8];
    cu_rc rc;
    int fd;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return cu_err_set(err, CU_ERR_IO, "could not write the erasure cursor: %s",
                          strerror(errno));
    rc = write_all(fd, buf, len, err);
    close(fd);
    if (rc == CU_OK && rename(tmp, path) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not write the erasure cursor: %s", strerror(errno));
    if (rc != CU_OK)
        unlink(tmp);
    return rc;
}

static cu_rc cursor_save(const cu_vault *v, const cursor *c, size_t n, cu_err *err)
{
    char path[PATH_MAX], *buf;
    size_t cap = 32 + n * 48, len;
    cu_rc rc;

    if ((rc = cursor_path(v, path, sizeof(path), err)) != CU_OK)
        return rc;
    if ((buf = malloc(cap)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    len = (size_t)snprintf(buf, cap, "%s\n", CURSOR_MAGIC);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%" PRIu64 " %" PRIu64 "\n",
                                (uint64_t)c[i].tenant, c[i].seq);
    rc = write_unsynced(path, buf, len, err);
    free(buf);
    return rc;
}

static uint64_t *cursor_at(cursor **c, size_t *n, cu_id tenant)
{
    cursor *m;

    for (size_t i = 0; i < *n; i++)
        if ((*c)[i].tenant == tenant)
            return &(*c)[i].seq;
    if ((m = realloc(*c, (*n + 1) * sizeof(*m))) == NULL)
        return NULL;
    *c = m;
    m[*n] = (cursor){.tenant = tenant, .seq = 0};
    return &m[(*n)++].seq;
}

/* --- reading the audit logs ------------------------------------------------------------------ */

static cu_rc found_add(found *f, const cu_audit_entry *a, cu_err *err)
{
    cu_journal_entry *e;
    const char *colon = strchr(a->object, ':');

    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        if ((e = realloc(f->e, cap * sizeof(*e))) == NULL)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        f->e = e;
        f->cap = cap;
    }
    e = &f->e[f->n++];
    memset(e, 0, sizeof(*e));
    e->at_ms = a->at;
    cu_strlcpy(e->kind, a->action, sizeof(e->kind));
    /* Ids only: "subject:<id>" and "tenant:<id>" give the id, a key keeps its "data_key:<v>". */
    if (strcmp(a->action, "key.destroy") == 0 || colon == NULL)
        cu_strlcpy(e->object, a->object, sizeof(e->object));
    else
        cu_strlcpy(e->object, colon + 1, sizeof(e->object));
    e->tenant = a->tenant_id;
    if (strncmp(a->action, "tenant.", 7) == 0)
        e->tenant = strtoull(e->object, NULL, 10);
    return CU_OK;
}

/* The entries of log (a tenant's, or 0: the platform's) after *from that record an erasure,
 * up to the log's head as read first; *from moves to that head. */
static cu_rc scan_log(cu_vault *v, cu_id log, uint64_t *from, found *f, cu_err *err)
{
    static const char *const tenant_kinds[] = {"subject.erase", "key.destroy", "hold.release"};
    static const char *const platform_kinds[] = {"tenant.purge", "tenant.shred"};
    const char *const *kinds = log == 0 ? platform_kinds : tenant_kinds;
    size_t nkinds = log == 0 ? CU_ARRAY_LEN(platform_kinds) : CU_ARRAY_LEN(tenant_kinds);
    uint8_t hash[32];
    uint64_t head = 0;
    cu_rc rc;

    if ((rc = cu_store_audit_head(v->store, log, &head, hash, err)) != CU_OK)
        return rc;
    for (size_t k = 0; k < nkinds && head > *from; k++) {
        cu_audit_filter flt = {.action = kinds[k], .after_seq = *from, .limit = SCAN_PAGE};
        for (;;) {
            cu_audit_entry *list = NULL;
            size_t n = 0, i;
            if ((rc = cu_store_audit_list(v->store, log, &flt, &list, &n, err)) != CU_OK)
                return rc;
            for (i = 0; i < n && rc == CU_OK && list[i].seq <= head; i++)
                rc = found_add(f, &list[i], err);
            flt.after_seq = n ? list[n - 1].seq : flt.after_seq;
            free(list);
            if (rc != CU_OK)
                return rc;
            if (n < SCAN_PAGE || i < n)
                break;
        }
    }
    *from = head > *from ? head : *from;
    return CU_OK;
}

/* --- appending -------------------------------------------------------------------------------- */

typedef struct tail {
    uint64_t seq;      /* the newest line's seq, 0 if none */
    uint8_t hash[32];  /* its hash, zeros if none */
    off_t valid;       /* bytes up to the end of the last whole line */
} tail;

static int parse_hex32(const char *s, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1)
            return -1;
        out[i] = (uint8_t)b;
    }
    return s[64] == '\0' || s[64] == ' ' || s[64] == '\n' ? 0 : -1;
}

/* Parses a line into e, its hash and its signature; -1 if malformed. */
static int parse_line(const char *line, cu_journal_entry *e, uint8_t hash[32], uint8_t sig[64])
{
    unsigned long long seq, tenant;
    long long at;
    char hhex[65], sb64[100];
    size_t sl = 0;

    memset(e, 0, sizeof(*e));
    if (sscanf(line, "%llu %lld %23s %llu %47s %64s %99s", &seq, &at, e->kind, &tenant,
               e->object, hhex, sb64) != 7 ||
        parse_hex32(hhex, hash) != 0 ||
        cu_b64_decode(sb64, strlen(sb64), sig, 64, &sl) != CU_OK || sl != 64)
        return -1;
    e->seq = seq;
    e->at_ms = at;
    e->tenant = tenant;
    return 0;
}

/* The journal's last whole line, from its last 4 KiB (a line is under 300 bytes). */
static cu_rc read_tail(int fd, const uint8_t pk[32], tail *t, cu_err *err)
{
    char buf[4097], *nl, *start;
    struct stat st;
    off_t off;
    ssize_t got;

    memset(t, 0, sizeof(*t));
    if (fstat(fd, &st) != 0)
        return cu_err_set(err, CU_ERR_IO, "could not read the erasure journal: %s", strerror(errno));
    off = st.st_size > 4096 ? st.st_size - 4096 : 0;
    got = pread(fd, buf, (size_t)(st.st_size - off), off);
    if (got < 0)
        return cu_err_set(err, CU_ERR_IO, "could not read the erasure journal: %s", strerror(errno));
    buf[got] = '\0';
    if ((nl = strrchr(buf, '\n')) == NULL)
        return CU_OK; /* empty, or the header cut short: written anew */
    t->valid = off + (nl - buf) + 1;
    *nl = '\0';
    start = strrchr(buf, '\n');
    start = start ? start + 1 : buf;
    if (off == 0 && start == buf) { /* the header alone */
        char hex[65];
        cu_hex_encode(pk, 32, hex);
        if (strncmp(buf, JOURNAL_MAGIC " ", sizeof(JOURNAL_MAGIC)) != 0 ||
            strcmp(buf + sizeof(JOURNAL_MAGIC), hex) != 0)
            return cu_err_set(err, CU_ERR_KEY, "the erasure journal belongs to another vault");
        return CU_OK;
    }
    cu_journal_entry e;
    uint8_t sig[64];
    if (parse_line(start, &e, t->hash, sig) != 0)
        return cu_err_set(err, CU_ERR_CRYPTO, "the erasure journal's last line is malformed");
    t->seq = e.seq;
    return CU_OK;
}

static cu_rc write_all(int fd, const char *p, size_t n, cu_err *err)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return cu_err_set(err, CU_ERR_IO, "could not write the erasure journal: %s",
                              strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return CU_OK;
}

/* Writes e[0..n) after t's line: numbered, chained, signed; then fsync. */
static cu_rc append_lines(cu_vault *v, int fd, tail *t, cu_journal_entry *e, size_t n,
                          cu_err *err)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n && rc == CU_OK; i++) {
        char line[512], hex[65], sb64[100];
        uint8_t sig[64];
        e[i].seq = ++t->seq;
        entry_hash(&e[i], t->hash, t->hash);
        cu_sign(v->audit_sk, t->hash, 32, sig);
        cu_hex_encode(t->hash, 32, hex);
        if (cu_b64_encode(sig, 64, sb64, sizeof(sb64)) != CU_OK)
            return cu_err_set(err, CU_ERR_INVALID, "could not encode a signature");
        entry_text(&e[i], line, sizeof(line));
        size_t len = strlen(line);
        snprintf(line + len, sizeof(line) - len, " %s %s\n", hex, sb64);
        rc = write_all(fd, line, strlen(line), err);
    }
    if (rc == CU_OK && n > 0 && fsync(fd) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not sync the erasure journal: %s", strerror(errno));
    return rc;
}

static int by_time(const void *a, const void *b)
{
    const cu_journal_entry *x = a, *y = b;

    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

/* The copy beside the backups (cu_backup_journal_mirror), so a restore after losing the key
 * directory too knows every erasure up to the disaster: the bytes [from, to) of the journal
 * appended when the copy ends where they start, else the whole file copied. Best effort: the
 * next append, or the next backup, copies again. */
static void mirror_sync(const char *path, int fd, off_t from, off_t to)
{
    struct stat st;
    cu_err ignored = {0};
    char *buf;
    int out;

    if (mirror[0] == '\0' || to <= from)
        return;
    if (stat(mirror, &st) != 0 || st.st_size != from || (buf = malloc((size_t)(to - from))) == NULL) {
        (void)cu_backup_copy_file(path, mirror, &ignored);
        return;
    }
    if (pread(fd, buf, (size_t)(to - from), from) == to - from &&
        (out = open(mirror, O_WRONLY | O_APPEND | O_CLOEXEC)) >= 0) {
        (void)write_all(out, buf, (size_t)(to - from), &ignored);
        close(out);
    }
    free(buf);
}

/* Appends f's entries (none: only makes sure the file exists). */
static cu_rc journal_append(cu_vault *v, found *f, cu_err *err)
{
    char path[PATH_MAX], hex[65], head[128];
    tail t;
    cu_rc rc;
    int fd;

    if ((rc = cu_journal_path(v, path, sizeof(path), err)) != CU_OK ||
        (rc = cu_file_check_private(path, "erasure journal", 1, err)) != CU_OK)
        return rc;
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return cu_err_set(err, CU_ERR_IO, "could not open the erasure journal: %s",
                          strerror(errno));
    rc = read_tail(fd, v->audit_pk, &t, err);
    /* A line cut short by a crash goes before the next is written. */
    if (rc == CU_OK && t.valid != lseek(fd, 0, SEEK_END) && ftruncate(fd, t.valid) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not repair the erasure journal: %s", strerror(errno));
    if (rc == CU_OK && lseek(fd, 0, SEEK_END) < 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not seek the erasure journal");
    if (rc == CU_OK && t.valid == 0) {
        cu_hex_encode(v->audit_pk, 32, hex);
        snprintf(head, sizeof(head), "%s %s\n", JOURNAL_MAGIC, hex);
        rc = write_all(fd, head, strlen(head), err);
    }
    if (rc == CU_OK) {
        if (f->n > 1)
            qsort(f->e, f->n, sizeof(*f->e), by_time);
        off_t from = t.valid;
        rc = append_lines(v, fd, &t, f->e, f->n, err);
        if (rc == CU_OK && f->n > 0)
            mirror_sync(path, fd, from, lseek(fd, 0, SEEK_END));
    }
    close(fd);
    return rc;
}

/* Reads the logs listed (a tenant's and the platform's, or every one), appends what they hold
 * since the cursor, then moves the cursor. Called with journal_lock held. */
static cu_rc catch_up(cu_vault *v, const cu_id *logs, size_t nlogs, cu_err *err)
{
    cursor *c = NULL;
    size_t nc = 0;
    found f = {0};
    cu_rc rc = CU_OK;

    int moved = 0;
    char path[PATH_MAX];
    struct stat st;

    cursor_load(v, &c, &nc);
    for (size_t i = 0; i < nlogs && rc == CU_OK; i++) {
        uint64_t *from = cursor_at(&c, &nc, logs[i]), before = from ? *from : 0;
        rc = from ? scan_log(v, logs[i], from, &f, err)
                  : cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        moved |= rc == CU_OK && *from != before;
    }
    /* Nothing new and the file there: no write at all (the common case of a hook). */
    if (rc == CU_OK && (f.n > 0 || cu_journal_path(v, path, sizeof(path), err) != CU_OK ||
                        stat(path, &st) != 0))
        rc = journal_append(v, &f, err);
    if (rc == CU_OK && moved)
        rc = cursor_save(v, c, nc, err);
    free(c);
    free(f.e);
    return rc;
}

void cu_journal_note(cu_vault *v, cu_id tenant)
{
    cu_id logs[2] = {0, tenant};
    cu_err ignored = {0};

    if (v == NULL || v->audit_sk == NULL)
        return;
    /* With `custos serve`'s erasure thread, it catches up: the erasure answers without waiting
     * for the journal's fsync. A crash first loses nothing: the open catches up from the log. */
    if (cu_erase_journal_later(v))
        return;
    pthread_mutex_lock(&journal_lock);
    (void)catch_up(v, logs, tenant == 0 ? 1 : 2, &ignored);
    pthread_mutex_unlock(&journal_lock);
}

cu_rc cu_journal_sync(cu_vault *v, uint64_t *head, cu_err *err)
{
    cu_store_tenant *ts = NULL;
    size_t nt = 0;
    cu_id *logs;
    cu_rc rc;

    if ((rc = cu_tenant_rows(v, &ts, &nt, err)) != CU_OK)
        return rc;
    if ((logs = calloc(nt + 1, sizeof(*logs))) == NULL) {
        free(ts);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nt; i++)
        logs[i + 1] = ts[i].id;
    free(ts);
    pthread_mutex_lock(&journal_lock);
    rc = catch_up(v, logs, nt + 1, err);
    if (rc == CU_OK && head != NULL) {
        char path[PATH_MAX];
        tail t = {0};
        int fd = -1;
        if ((rc = cu_journal_path(v, path, sizeof(path), err)) == CU_OK &&
            (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
            rc = read_tail(fd, v->audit_pk, &t, err);
        if (fd >= 0)
            close(fd);
        *head = t.seq;
    }
    pthread_mutex_unlock(&journal_lock);
    free(logs);
    return rc;
}

/* --- reading and replaying -------------------------------------------------------------------- */

/* Checks the header line against pk. */
static cu_rc check_header(const char *line, const uint8_t pk[32], cu_err *err)
{
    char hex[65];

    cu_hex_encode(pk, 32, hex);
    if (line == NULL || strncmp(line, JOURNAL_MAGIC " ", sizeof(JOURNAL_MAGIC)) != 0)
        return cu_err_set(err, CU_ERR_INVALID, "not an erasure journal");
    if (strcmp(line + sizeof(JOURNAL_MAGIC), hex) != 0)
        return cu_err_set(err, CU_ERR_KEY, "the erasure journal belongs to another vault");
    return CU_OK;
}

static cu_rc load_lines(char *text, size_t len, const uint8_t pk[32], cu_journal_entry **out,
                        size_t *n, cu_err *err)
{
    uint8_t prev[32] = {0}, hash[32], want[32], sig[64];
    char *end = NULL, *line, *save = NULL;
    size_t cap = 0;
    cu_rc rc;

    for (size_t i = len; i > 0 && end == NULL; i--)
        if (text[i - 1] == '\n')
            end = &text[i - 1];

    if (end == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "not an erasure journal");
    end[1] = '\0'; /* a last line cut short by a crash is not the journal's */
    line = strtok_r(text, "\n", &save);
    if ((rc = check_header(line, pk, err)) != CU_OK)
        return rc;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        cu_journal_entry e;
        if (parse_line(line, &e, hash, sig) != 0 || e.seq != *n + 1)
            return cu_err_set(err, CU_ERR_CRYPTO, "erasure journal line %zu is malformed",
                              *n + 1);
        entry_hash(&e, prev, want);
        if (!cu_ct_equal(want, hash, 32) || !cu_sign_verify(pk, hash, 32, sig))
            return cu_err_set(err, CU_ERR_CRYPTO,
                              "erasure journal line %zu does not verify: altered, removed or "
                              "reordered", *n + 1);
        memcpy(prev, hash, 32);
        if (*n == cap) {
            cu_journal_entry *m = realloc(*out, (cap = cap ? cap * 2 : 64) * sizeof(*m));
            if (m == NULL)
                return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            *out = m;
        }
        (*out)[(*n)++] = e;
    }
    return CU_OK;
}

cu_rc cu_journal_load(const char *path, const uint8_t pk[32], cu_journal_entry **out, size_t *n,
                      cu_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_file_read(path, JOURNAL_MAX, &text, &len, err)) != CU_OK)
        return rc;
    rc = load_lines(text, len, pk, out, n, err);
    free(text);
    if (rc != CU_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static const cu_ctx replay_ctx = {.actor = "restore", .purpose = "erasure", .flags = CU_CTX_LOCAL};

/* A tenant closed (purge) or shredded again, with its audit entries. */
static cu_rc replay_tenant(cu_vault *v, const cu_journal_entry *e, cu_err *err)
{
    int shred = strcmp(e->kind, "tenant.shred") == 0;
    cu_store_tenant t = {0};
    cu_store_op op = {0};
    cu_audit_in a[2];
    cu_rc rc;

    if ((rc = cu_tenant_row(v, e->tenant, &t, err)) != CU_OK)
        return rc;
    op.type = shred ? CU_OP_TENANT_SHRED : CU_OP_TENANT_CLOSE;
    op.u.del.tenant_id = e->tenant;
    cu_audit_in_set(&a[0], e->tenant, e->kind, "tenant:%llu", (unsigned long long)e->tenant);
    cu_audit_in_set(&a[1], 0, e->kind, "tenant:%llu", (unsigned long long)e->tenant);
    cu_key_rdlock(v);
    rc = cu_commit(v, &replay_ctx, &op, 1, a, 2, err);
    pthread_rwlock_unlock(&v->key_lock);
    cu_cache_forget_tenant(v, e->tenant);
    return rc == CU_OK && shred ? cu_store_checkpoint(v->store, err) : rc;
}

/* The data key version destroyed after the backup: rotated away if it is still the newest,
 * then every value sealed again under the newest and the older versions destroyed. */
static cu_rc replay_key(cu_vault *v, const cu_journal_entry *e, cu_err *err)
{
    unsigned version = 0, newest = 0;
    cu_store_key k = {0};
    cu_reencrypt_report rep;
    cu_rc rc;

    if (sscanf(e->object, "data_key:%u", &version) != 1)
        return cu_err_set(err, CU_ERR_INVALID, "erasure journal: bad key \"%s\"", e->object);
    rc = cu_store_key_get(v->store, e->tenant, CU_KEY_DATA, 0, version, &k, err);
    cu_store_key_cleanup(&k);
    if (rc != CU_OK)
        return rc;
    rc = cu_store_key_get(v->store, e->tenant, CU_KEY_DATA, 0, 0, &k, err);
    newest = k.version;
    cu_store_key_cleanup(&k);
    if (rc == CU_OK && newest <= version)
        rc = cu_key_rotate_data(v, &replay_ctx, e->tenant, &newest, err);
    if (rc == CU_OK)
        rc = cu_key_reencrypt(v, &replay_ctx, e->tenant, &rep, err);
    return rc;
}

/* A subject erased in the backup already (its certificate is there: erased before the backup,
 * or by an earlier replay) is done: CU_ERR_NOT_FOUND. Else erased as the live vault did. */
static cu_rc replay_erasure(cu_vault *v, cu_id tenant, cu_id subject, cu_err *err)
{
    char *cert = NULL;
    cu_err ignored = {0};

    if (cu_store_erasure_certificate(v->store, tenant, subject, &cert, &ignored) == CU_OK) {
        free(cert);
        return cu_err_set(err, CU_ERR_NOT_FOUND, "erased in the backup already");
    }
    return cu_subject_shred_keeping(v, &replay_ctx, tenant, subject, err);
}

/* One line: pass 0 lets go the holds released since (a release is final, and the live vault
 * erased nothing a hold covered, so every release comes before the erasures it allowed);
 * pass 1 the erasures. CU_ERR_NOT_FOUND: not in the backup, or done already. */
static cu_rc replay_one(cu_vault *v, const cu_journal_entry *e, int pass, int *skipped,
                        cu_err *err)
{
    int release = strcmp(e->kind, "hold.release") == 0;

    *skipped = release != (pass == 0);
    if (*skipped)
        return CU_OK;
    if (release)
        return cu_hold_release(v, &replay_ctx, e->tenant, strtoull(e->object, NULL, 10),
                               "released after the backup (erasure journal)", err);
    /* P-RET-4: kept as the live erasure kept it, what a legal duty keeps still. */
    if (strcmp(e->kind, "subject.erase") == 0)
        return replay_erasure(v, e->tenant, strtoull(e->object, NULL, 10), err);
    if (strncmp(e->kind, "tenant.", 7) == 0)
        return replay_tenant(v, e, err);
    if (strcmp(e->kind, "key.destroy") == 0)
        return replay_key(v, e, err);
    return cu_err_set(err, CU_ERR_INVALID, "erasure journal: unknown kind \"%s\"", e->kind);
}

cu_rc cu_journal_replay(cu_vault *v, const cu_journal_entry *e, size_t n, cu_replay_counts *c,
                        cu_err *err)
{
    cu_rc rc = CU_OK;
    int skipped;

    memset(c, 0, sizeof(*c));
    for (size_t k = 0; k < 2 * n && rc == CU_OK; k++) {
        const cu_journal_entry *x = &e[k % n];
        rc = replay_one(v, x, k >= n, &skipped, err);
        if (skipped)
            continue;
        if (rc == CU_OK)
            c->applied++;
        else if (rc == CU_ERR_NOT_FOUND || rc == CU_ERR_KEY) { /* not in the backup, or done */
            c->absent++;
            rc = CU_OK;
            if (err != NULL)
                memset(err, 0, sizeof(*err));
        }
    }
    return rc;
}
