/*
 * keyring.c: the master key file, its versions and its permissions.
 *
 * The file (mode 0600, refused if group or others have any access or another user owns it) is
 * text:
 *
 *   custos-keyring 1
 *   kdf argon2id <salt base64> <opslimit> <memlimit>      (passphrase mode only)
 *   key <version> <base64>
 *   retired <version> <unix seconds>                       (a version no longer current)
 *   ...
 *
 * A `retired` line follows the key line of a version a master rotation replaced: the time it
 * stopped being current. Key epochs (epoch.c) destroy such a version once no unexpired backup
 * may need it; until then it stays, so every version the database or a backup references is
 * here (P-ENC-5). The path the ring was loaded from (or first saved to) is kept with it, so the
 * key file may live outside the data directory (cu_vault_opts.key_file).
 *
 * In key-file mode each key line holds the 32-byte master key of that version. In passphrase
 * mode it holds that key wrapped under Argon2id(passphrase, salt), so a rotation makes a fresh
 * random master key exactly as in key-file mode, and the passphrase only guards the file.
 *
 * Plaintext master keys live in cu_secure_alloc memory (guarded, mlock'ed, P-ENC-1); the text of
 * the file is wiped after parsing.
 *
 * Several servers on one database (docs/scaling.md, "The key file"): another server's key epoch
 * adds a version to its key file, and tenant keys in the database are then wrapped under a
 * version this process never loaded. A lookup of a version newer than any known here re-reads
 * the file (cu_keyring_get; at most once per version per KEYRING_RELOAD_MS) and adds the newer
 * versions it finds, without moving what readers hold: they go on a list of their own ("late"),
 * appended under a mutex and read without one, which the next change of the ring (made under
 * the vault's key lock, for writing) folds into the arrays. A rotation or retirement first
 * takes in what the file gained or lost meanwhile (cu_keyring_sync), so that it numbers its
 * version after every other server's and never writes a version back that another destroyed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "keyring_int.h"
#include "util.h"

/* Hourly key epochs over a one-year backup window keep 8,760 retired versions. */
#define KEYRING_MAX_VERSIONS 16384
#define KEYRING_FILE_MAX (4 << 20)
#define KEYRING_FIRST_CAP 16
#define KEYRING_RELOAD_MS 1000
#define KEYRING_TRIED 8

/* A version found in the file after the load, its key in its own locked block. */
typedef struct late {
    struct late *_Atomic next;
    uint32_t version;
    int64_t retired;
    uint8_t *key; /* CU_KEYBYTES, secure memory */
} late;

/* What readers under the shared key lock may change: the late versions, and when each missing
 * version was last looked for in the file. Reached through a pointer, so a const ring's readers
 * may add to it. */
typedef struct reload {
    pthread_mutex_t lock;
    late *_Atomic head;
    late *tail;
    _Atomic size_t n;
    struct {
        uint32_t version;
        int64_t at_ms;
    } tried[KEYRING_TRIED];
    size_t next_try;
} reload;

struct cu_keyring {
    size_t n, cap;
    uint32_t *versions; /* cap entries */
    int64_t *retired;   /* cap entries: when the version stopped being current, 0: it has not */
    uint8_t *keys;      /* cap * CU_KEYBYTES, secure memory */
    char path[PATH_MAX];
    int has_kdf;
    uint8_t salt[CU_KDF_SALTBYTES];
    uint64_t opslimit;
    uint64_t memlimit;
    uint8_t *kek; /* CU_KEYBYTES, secure memory; passphrase mode only */
    int kek_given; /* a re-read of the file: kek is the ring's, the kdf line's salt must match */
    reload *rl;
};

static void settle(cu_keyring *r);
static cu_rc append(cu_keyring *r, uint32_t version, const uint8_t *key, int64_t retired,
                    cu_err *err);

/* A new empty keyring in *out, its keys in locked memory. */
static cu_rc ring_alloc(cu_keyring **out, cu_err *err)
{
    cu_keyring *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    r->cap = KEYRING_FIRST_CAP;
    r->versions = calloc(r->cap, sizeof(*r->versions));
    r->retired = calloc(r->cap, sizeof(*r->retired));
    r->keys = cu_secure_alloc(r->cap * CU_KEYBYTES);
    r->kek = cu_secure_alloc(CU_KEYBYTES);
    if ((r->rl = calloc(1, sizeof(*r->rl))) != NULL)
        pthread_mutex_init(&r->rl->lock, NULL);
    if (r->versions == NULL || r->retired == NULL || r->keys == NULL || r->kek == NULL ||
        r->rl == NULL) {
        cu_keyring_free(r);
        return cu_err_set(err, CU_ERR_NOMEM, "could not allocate locked memory for the master key");
    }
    *out = r;
    return CU_OK;
}

static void late_free_all(reload *rl)
{
    late *l = atomic_load(&rl->head);

    while (l != NULL) {
        late *next = atomic_load(&l->next);
        cu_secure_free(l->key); /* wipes */
        free(l);
        l = next;
    }
    atomic_store(&rl->head, NULL);
    rl->tail = NULL;
    atomic_store(&rl->n, 0);
}

void cu_keyring_free(cu_keyring *r)
{
    if (r == NULL)
        return;
    if (r->rl != NULL) {
        late_free_all(r->rl);
        pthread_mutex_destroy(&r->rl->lock);
        free(r->rl);
    }
    cu_secure_free(r->keys);
    cu_secure_free(r->kek);
    free(r->versions);
    free(r->retired);
    cu_wipe(r, sizeof(*r));
    free(r);
}

/* Room for one more version: the keys move to a larger locked buffer, the old one wiped. */
static cu_rc ring_grow(cu_keyring *r, cu_err *err)
{
    size_t cap = r->cap * 2;
    uint32_t *versions;
    int64_t *retired;
    uint8_t *keys;

    if (r->n < r->cap)
        return CU_OK;
    if (r->n >= KEYRING_MAX_VERSIONS)
        return cu_err_set(err, CU_ERR_LIMIT, "too many master key versions in the key file");
    if ((keys = cu_secure_alloc(cap * CU_KEYBYTES)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "could not allocate locked memory for the master key");
    versions = realloc(r->versions, cap * sizeof(*versions));
    if (versions != NULL)
        r->versions = versions;
    retired = versions ? realloc(r->retired, cap * sizeof(*retired)) : NULL;
    if (retired != NULL)
        r->retired = retired;
    if (versions == NULL || retired == NULL) {
        cu_secure_free(keys);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    memcpy(keys, r->keys, r->n * CU_KEYBYTES);
    cu_secure_free(r->keys); /* wipes */
    r->keys = keys;
    r->cap = cap;
    return CU_OK;
}

static void wrap_ad(uint32_t version, uint8_t ad[32], size_t *len)
{
    *len = (size_t)snprintf((char *)ad, 32, "custos-master-key|%" PRIu32, version);
}

static cu_rc derive_kek(cu_keyring *r, const char *passphrase, cu_err *err)
{
    cu_rc rc = cu_kdf_passphrase(passphrase, strlen(passphrase), r->salt, r->opslimit,
                                 (size_t)r->memlimit, r->kek);

    if (rc != CU_OK)
        return cu_err_set(err, rc, "could not derive the key from the passphrase");
    return CU_OK;
}

cu_rc cu_keyring_new(const char *passphrase, cu_keyring **out, cu_err *err)
{
    cu_keyring *r = NULL;
    cu_rc rc = ring_alloc(&r, err);

    if (rc != CU_OK)
        return rc;
    if (passphrase != NULL) {
        if (strlen(passphrase) < 12) {
            cu_keyring_free(r);
            return cu_err_set(err, CU_ERR_INVALID, "passphrase too short (at least 12 bytes)");
        }
        r->has_kdf = 1;
        cu_random(r->salt, sizeof(r->salt));
        r->opslimit = CU_KDF_OPSLIMIT;
        r->memlimit = CU_KDF_MEMLIMIT;
        if ((rc = derive_kek(r, passphrase, err)) != CU_OK) {
            cu_keyring_free(r);
            return rc;
        }
    }
    r->n = 1;
    r->versions[0] = 1;
    r->retired[0] = 0;
    cu_random(r->keys, CU_KEYBYTES);
    *out = r;
    return CU_OK;
}

/* Decodes one "key <version> <base64>" line into slot r->n. */
static cu_rc parse_key_line(cu_keyring *r, const char *ver, const char *b64, cu_err *err)
{
    uint8_t buf[CU_WRAPPED_MAX];
    uint8_t ad[32];
    size_t len, adlen;
    char *end;
    unsigned long v;
    cu_rc rc;

    errno = 0;
    v = strtoul(ver, &end, 10);
    if (errno || *end != '\0' || v == 0 || v > UINT32_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "key file: bad version \"%s\"", ver);
    if (r->n == KEYRING_MAX_VERSIONS)
        return cu_err_set(err, CU_ERR_INVALID, "key file: too many versions");
    if ((rc = ring_grow(r, err)) != CU_OK)
        return rc;
    for (size_t i = 0; i < r->n; i++)
        if (r->versions[i] == v)
            return cu_err_set(err, CU_ERR_INVALID, "key file: version %lu twice", v);
    if (cu_b64_decode(b64, strlen(b64), buf, sizeof(buf), &len) != CU_OK)
        return cu_err_set(err, CU_ERR_INVALID, "key file: version %lu is not base64", v);
    if (!r->has_kdf) {
        if (len != CU_KEYBYTES) {
            cu_wipe(buf, sizeof(buf));
            return cu_err_set(err, CU_ERR_INVALID, "key file: version %lu is not 32 bytes", v);
        }
        memcpy(r->keys + r->n * CU_KEYBYTES, buf, CU_KEYBYTES);
    } else {
        wrap_ad((uint32_t)v, ad, &adlen);
        rc = cu_key_unwrap(r->kek, buf, len, ad, adlen, r->keys + r->n * CU_KEYBYTES);
        if (rc != CU_OK) {
            cu_wipe(buf, sizeof(buf));
            return cu_err_set(err, CU_ERR_KEY, "wrong passphrase for the key file");
        }
    }
    cu_wipe(buf, sizeof(buf));
    r->retired[r->n] = 0;
    r->versions[r->n++] = (uint32_t)v;
    return CU_OK;
}

/* A "retired <version> <unix seconds>" line: it follows the key line of its version. */
static cu_rc parse_retired_line(cu_keyring *r, const char *rest, cu_err *err)
{
    uint32_t v;
    int64_t at;
    char extra;

    if (sscanf(rest, "%" SCNu32 " %" SCNd64 " %c", &v, &at, &extra) != 2 || at <= 0)
        return cu_err_set(err, CU_ERR_INVALID, "key file: bad retired line");
    if (r->n == 0 || r->versions[r->n - 1] != v || r->retired[r->n - 1] != 0)
        return cu_err_set(err, CU_ERR_INVALID,
                          "key file: retired %" PRIu32 " must follow that version's key line", v);
    r->retired[r->n - 1] = at;
    return CU_OK;
}

static cu_rc parse_kdf_line(cu_keyring *r, char *rest, const char *passphrase, cu_err *err)
{
    char alg[16], salt[64];
    uint64_t ops, mem;
    size_t len;

    if (sscanf(rest, "%15s %63s %" SCNu64 " %" SCNu64, alg, salt, &ops, &mem) != 4 ||
        strcmp(alg, "argon2id") != 0)
        return cu_err_set(err, CU_ERR_INVALID, "key file: bad kdf line");
    if (r->kek_given) { /* a re-read: the ring's kek opens it only under the same salt */
        uint8_t now[CU_KDF_SALTBYTES];
        if (cu_b64_decode(salt, strlen(salt), now, sizeof(now), &len) != CU_OK ||
            len != CU_KDF_SALTBYTES || memcmp(now, r->salt, sizeof(now)) != 0)
            return cu_err_set(err, CU_ERR_KEY, "key file: its passphrase salt changed");
        r->has_kdf = 1;
        return CU_OK;
    }
    if (cu_b64_decode(salt, strlen(salt), r->salt, sizeof(r->salt), &len) != CU_OK ||
        len != CU_KDF_SALTBYTES || ops > 64 || mem > (1ULL << 32))
        return cu_err_set(err, CU_ERR_INVALID, "key file: bad kdf parameters");
    if (ops < CU_KDF_OPSLIMIT_MIN || mem < CU_KDF_MEMLIMIT_MIN)
        return cu_err_set(err, CU_ERR_INVALID,
                          "key file: kdf parameters below the minimum (t=%llu, m=%llu MiB)",
                          (unsigned long long)CU_KDF_OPSLIMIT_MIN,
                          (unsigned long long)(CU_KDF_MEMLIMIT_MIN >> 20));
    if (passphrase == NULL)
        return cu_err_set(err, CU_ERR_KEY,
                          "the key file is passphrase-protected: set CUSTOS_PASSPHRASE");
    r->has_kdf = 1;
    r->opslimit = ops;
    r->memlimit = mem;
    return derive_kek(r, passphrase, err);
}

static cu_rc parse(cu_keyring *r, char *text, const char *passphrase, cu_err *err)
{
    char *line, *next;
    int lineno = 0;
    cu_rc rc;

    for (line = text; line != NULL && *line != '\0'; line = next) {
        char *sp1, *sp2;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, "custos-keyring 1") != 0)
                return cu_err_set(err, CU_ERR_INVALID, "key file: not a custos key file");
            continue;
        }
        if (line[0] == '\0' || line[0] == '#')
            continue;
        sp1 = strchr(line, ' ');
        if (sp1 == NULL)
            return cu_err_set(err, CU_ERR_INVALID, "key file: bad line %d", lineno);
        *sp1++ = '\0';
        if (strcmp(line, "kdf") == 0) {
            if (r->n > 0 || (r->has_kdf && !r->kek_given))
                return cu_err_set(err, CU_ERR_INVALID, "key file: kdf must come first, once");
            rc = parse_kdf_line(r, sp1, passphrase, err);
        } else if (strcmp(line, "key") == 0 && (sp2 = strchr(sp1, ' ')) != NULL) {
            *sp2++ = '\0';
            rc = parse_key_line(r, sp1, sp2, err);
        } else if (strcmp(line, "retired") == 0) {
            rc = parse_retired_line(r, sp1, err);
        } else {
            rc = cu_err_set(err, CU_ERR_INVALID, "key file: bad line %d", lineno);
        }
        if (rc != CU_OK)
            return rc;
    }
    if (r->n == 0)
        return cu_err_set(err, CU_ERR_INVALID, "key file: no key");
    if (!r->has_kdf && passphrase != NULL)
        return cu_err_set(err, CU_ERR_INVALID,
                          "CUSTOS_PASSPHRASE is set but the key file holds a plain key");
    return CU_OK;
}

cu_rc cu_keyring_load(const char *path, const char *passphrase, cu_keyring **out, cu_err *err)
{
    cu_keyring *r = NULL;
    char *text = NULL;
    size_t len = 0;
    cu_rc rc;

    if ((rc = cu_file_check_private(path, "key file", 0, err)) != CU_OK)
        return rc;
    if ((rc = cu_file_read(path, KEYRING_FILE_MAX, &text, &len, err)) != CU_OK)
        return rc;
    if ((rc = ring_alloc(&r, err)) != CU_OK)
        goto out;
    rc = parse(r, text, passphrase, err);
    if (rc == CU_OK)
        cu_strlcpy(r->path, path, sizeof(r->path));
out:
    cu_wipe(text, len);
    free(text);
    if (rc != CU_OK) {
        cu_keyring_free(r);
        return rc;
    }
    *out = r;
    return CU_OK;
}

cu_rc cu_keyring_save(cu_keyring *r, const char *path, cu_err *err)
{
    size_t cap, off = 0;
    char *text;
    cu_rc rc = CU_OK;

    settle(r);
    cap = 256 + r->n * 160;
    text = malloc(cap);
    if (text == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    off += (size_t)snprintf(text + off, cap - off, "custos-keyring 1\n");
    if (r->has_kdf) {
        char salt[64];
        if ((rc = cu_b64_encode(r->salt, sizeof(r->salt), salt, sizeof(salt))) != CU_OK)
            goto out;
        off += (size_t)snprintf(text + off, cap - off, "kdf argon2id %s %" PRIu64 " %" PRIu64 "\n",
                                salt, r->opslimit, r->memlimit);
    }
    for (size_t i = 0; i < r->n; i++) {
        uint8_t buf[CU_WRAPPED_MAX], ad[32];
        size_t blen = CU_KEYBYTES, adlen;
        char b64[128];
        if (r->has_kdf) {
            wrap_ad(r->versions[i], ad, &adlen);
            rc = cu_key_wrap(r->kek, r->keys + i * CU_KEYBYTES, ad, adlen, buf, &blen);
        } else {
            memcpy(buf, r->keys + i * CU_KEYBYTES, CU_KEYBYTES);
        }
        if (rc == CU_OK)
            rc = cu_b64_encode(buf, blen, b64, sizeof(b64));
        cu_wipe(buf, sizeof(buf));
        if (rc == CU_OK)
            off += (size_t)snprintf(text + off, cap - off, "key %" PRIu32 " %s\n",
                                    r->versions[i], b64);
        if (rc == CU_OK && r->retired[i] > 0)
            off += (size_t)snprintf(text + off, cap - off, "retired %" PRIu32 " %" PRId64 "\n",
                                    r->versions[i], r->retired[i]);
        cu_wipe(b64, sizeof(b64));
        if (rc != CU_OK) {
            cu_err_set(err, rc, "could not encode the key file");
            goto out;
        }
    }
    rc = cu_file_write_atomic(path, text, off, 0600, err);
    if (rc == CU_OK && r->path != path)
        cu_strlcpy(r->path, path, sizeof(r->path));
out:
    cu_wipe(text, cap);
    free(text);
    return rc;
}

/* Folds the late versions into the arrays; under the vault's key lock, for writing (no reader
 * holds a late key then). One that finds no memory stays late, still readable. */
static void settle(cu_keyring *r)
{
    reload *rl = r->rl;
    late *l;
    cu_err ignored = {0};

    if (rl == NULL)
        return;
    while ((l = atomic_load(&rl->head)) != NULL) {
        if (append(r, l->version, l->key, l->retired, &ignored) != CU_OK)
            return;
        atomic_store(&rl->head, atomic_load(&l->next));
        if (rl->tail == l)
            rl->tail = NULL;
        atomic_fetch_sub(&rl->n, 1);
        cu_secure_free(l->key);
        free(l);
    }
}

cu_rc cu_keyring_add(cu_keyring *r, uint32_t *version, cu_err *err)
{
    uint32_t v;
    cu_rc rc;

    settle(r);
    v = cu_keyring_newest(r) + 1;
    if ((rc = ring_grow(r, err)) != CU_OK)
        return rc;
    cu_random(r->keys + r->n * CU_KEYBYTES, CU_KEYBYTES);
    r->retired[r->n] = 0;
    r->versions[r->n++] = v;
    *version = v;
    return CU_OK;
}

void cu_keyring_retire(cu_keyring *r, uint32_t current, int64_t at)
{
    settle(r);
    for (size_t i = 0; i < r->n; i++)
        if (r->versions[i] != current && r->retired[i] == 0)
            r->retired[i] = at;
}

int cu_keyring_drop(cu_keyring *r, uint32_t version)
{
    size_t i;

    settle(r);
    for (i = 0; i < r->n && r->versions[i] != version; i++)
        ;
    if (i == r->n)
        return 0;
    cu_wipe(r->keys + i * CU_KEYBYTES, CU_KEYBYTES);
    if (i + 1 < r->n) {
        memmove(r->keys + i * CU_KEYBYTES, r->keys + (i + 1) * CU_KEYBYTES,
                (r->n - i - 1) * CU_KEYBYTES);
        memmove(r->versions + i, r->versions + i + 1, (r->n - i - 1) * sizeof(*r->versions));
        memmove(r->retired + i, r->retired + i + 1, (r->n - i - 1) * sizeof(*r->retired));
    }
    r->n--;
    cu_wipe(r->keys + r->n * CU_KEYBYTES, CU_KEYBYTES); /* the last slot, moved down */
    return 1;
}

size_t cu_keyring_count(const cu_keyring *r)
{
    return r->n + (r->rl != NULL ? atomic_load(&r->rl->n) : 0);
}

/* The ith late version (i < its count as read), or NULL. */
static const late *late_at(const cu_keyring *r, size_t i)
{
    const late *l = r->rl != NULL ? atomic_load(&r->rl->head) : NULL;

    while (l != NULL && i-- > 0)
        l = atomic_load(&l->next);
    return l;
}

uint32_t cu_keyring_version_at(const cu_keyring *r, size_t i, int64_t *retired)
{
    const late *l;

    if (i < r->n) {
        if (retired != NULL)
            *retired = r->retired[i];
        return r->versions[i];
    }
    l = late_at(r, i - r->n);
    if (retired != NULL)
        *retired = l != NULL ? l->retired : 0;
    return l != NULL ? l->version : 0;
}

int cu_keyring_mark(cu_keyring *r, uint32_t version, int64_t at)
{
    settle(r);
    for (size_t i = 0; i < r->n; i++)
        if (r->versions[i] == version && r->retired[i] == 0) {
            r->retired[i] = at;
            return 1;
        }
    return 0;
}

const char *cu_keyring_path(const cu_keyring *r)
{
    return r->path;
}

static const late *late_find(const cu_keyring *r, uint32_t version)
{
    const late *l = r->rl != NULL ? atomic_load(&r->rl->head) : NULL;

    for (; l != NULL; l = atomic_load(&l->next))
        if (l->version == version)
            return l;
    return NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Re-reads the ring's file into a ring of its own: the kek is r's (no key derivation), so a
 * passphrase-protected file must keep its salt. */
static cu_rc reread(const cu_keyring *r, cu_keyring **out, cu_err *err)
{
    cu_keyring *t = NULL;
    char *text = NULL;
    size_t len = 0;
    cu_rc rc;

    *out = NULL;
    if (r->path[0] == '\0')
        return cu_err_set(err, CU_ERR_NOT_FOUND, "the key ring has no file");
    if ((rc = cu_file_check_private(r->path, "key file", 0, err)) != CU_OK ||
        (rc = cu_file_read(r->path, KEYRING_FILE_MAX, &text, &len, err)) != CU_OK)
        return rc;
    if ((rc = ring_alloc(&t, err)) == CU_OK) {
        t->kek_given = 1;
        memcpy(t->kek, r->kek, CU_KEYBYTES);
        memcpy(t->salt, r->salt, sizeof(t->salt));
        rc = parse(t, text, r->has_kdf ? "" : NULL, err);
        if (rc == CU_OK && t->has_kdf != r->has_kdf)
            rc = cu_err_set(err, CU_ERR_KEY, "key file: its protection changed");
    }
    cu_wipe(text, len);
    free(text);
    if (rc != CU_OK) {
        cu_keyring_free(t);
        return rc;
    }
    *out = t;
    return CU_OK;
}

/* Several servers: version is newer than any here; unless it was looked for in the last
 * KEYRING_RELOAD_MS, the file is read again and every newer version in it goes on the late
 * list. Called by readers under the vault's key lock, shared: adds, never moves. */
static void reload_for(const cu_keyring *r, uint32_t version)
{
    reload *rl = r->rl;
    cu_keyring *t = NULL;
    int64_t now = mono_ms();
    uint32_t known;
    cu_err ignored = {0};

    pthread_mutex_lock(&rl->lock);
    if (late_find(r, version) != NULL)
        goto out; /* found by another thread meanwhile */
    for (size_t i = 0; i < KEYRING_TRIED; i++)
        if (rl->tried[i].version == version && now - rl->tried[i].at_ms < KEYRING_RELOAD_MS)
            goto out;
    rl->tried[rl->next_try].version = version;
    rl->tried[rl->next_try].at_ms = now;
    rl->next_try = (rl->next_try + 1) % KEYRING_TRIED;
    if (reread(r, &t, &ignored) != CU_OK)
        goto out;
    known = cu_keyring_newest(r);
    for (size_t i = 0; i < t->n; i++) {
        late *l;
        if (t->versions[i] <= known || late_find(r, t->versions[i]) != NULL)
            continue;
        if ((l = calloc(1, sizeof(*l))) == NULL ||
            (l->key = cu_secure_alloc(CU_KEYBYTES)) == NULL) {
            free(l);
            break;
        }
        memcpy(l->key, t->keys + i * CU_KEYBYTES, CU_KEYBYTES);
        l->version = t->versions[i];
        l->retired = t->retired[i];
        if (rl->tail != NULL)
            atomic_store(&rl->tail->next, l);
        else
            atomic_store(&rl->head, l);
        rl->tail = l;
        atomic_fetch_add(&rl->n, 1);
    }
out:
    pthread_mutex_unlock(&rl->lock);
    cu_keyring_free(t);
}

const uint8_t *cu_keyring_get(const cu_keyring *r, uint32_t version)
{
    const late *l;

    for (size_t i = 0; i < r->n; i++)
        if (r->versions[i] == version)
            return r->keys + i * CU_KEYBYTES;
    if (r->rl == NULL)
        return NULL;
    if ((l = late_find(r, version)) != NULL)
        return l->key;
    /* Older than the newest: destroyed, or never made; no file brings it back. */
    if (version == 0 || version <= cu_keyring_newest(r) || r->path[0] == '\0')
        return NULL;
    reload_for(r, version);
    return (l = late_find(r, version)) != NULL ? l->key : NULL;
}

uint32_t cu_keyring_newest(const cu_keyring *r)
{
    uint32_t v = 0;

    for (size_t i = 0; i < r->n; i++)
        if (r->versions[i] > v)
            v = r->versions[i];
    for (const late *l = late_at(r, 0); l != NULL; l = atomic_load(&l->next))
        if (l->version > v)
            v = l->version;
    return v;
}

/* Appends version (its key and retirement time) to the arrays. */
static cu_rc append(cu_keyring *r, uint32_t version, const uint8_t *key, int64_t retired,
                    cu_err *err)
{
    cu_rc rc = ring_grow(r, err);

    if (rc != CU_OK)
        return rc;
    memcpy(r->keys + r->n * CU_KEYBYTES, key, CU_KEYBYTES);
    r->retired[r->n] = retired;
    r->versions[r->n++] = version;
    return CU_OK;
}

cu_rc cu_keyring_sync(cu_keyring *r, uint32_t current, cu_err *err)
{
    cu_keyring *t = NULL;
    cu_err e = {0};
    uint32_t newest;
    cu_rc rc;

    settle(r);
    if (r->path[0] == '\0')
        return CU_OK;
    /* No key file (yet): a server whose file is not there, or was removed, holds every version
     * it has in memory; no other server's change can be read from a file that is not there, so
     * there is nothing to sync, and the rotation or retirement that follows writes the file
     * anew. A version another server made and this ring lacks is still refused by catch_up
     * (rotate.c) before anything is written. */
    if ((rc = reread(r, &t, &e)) == CU_ERR_NOT_FOUND)
        return CU_OK;
    if (rc != CU_OK) {
        if (err != NULL)
            *err = e;
        return rc;
    }
    newest = cu_keyring_newest(t);
    for (size_t i = 0; i < t->n && rc == CU_OK; i++) {
        size_t j;
        for (j = 0; j < r->n && r->versions[j] != t->versions[i]; j++)
            ;
        if (j == r->n)
            rc = append(r, t->versions[i], t->keys + i * CU_KEYBYTES, t->retired[i], err);
        else if (r->retired[j] == 0)
            r->retired[j] = t->retired[i];
    }
    /* A version the file lacks though it holds newer ones: another server destroyed it. */
    for (size_t j = 0; j < r->n && rc == CU_OK;) {
        uint32_t ver = r->versions[j];
        int in_file = 0;
        for (size_t i = 0; i < t->n && !in_file; i++)
            in_file = t->versions[i] == ver;
        if (!in_file && ver < newest && ver != current && cu_keyring_drop(r, ver))
            continue;
        j++;
    }
    cu_keyring_free(t);
    return rc;
}

void cu_keyring_check(const uint8_t key[CU_KEYBYTES], uint8_t out[32])
{
    static const char label[] = "custos master key check v1";

    cu_hmac_sha256(key, CU_KEYBYTES, (const uint8_t *)label, sizeof(label) - 1, out);
}
