/*
 * backup_keys.c: the backup key file (P-BAK-1, P-RET-3; docs/backup.md).
 *
 * Beside the master key file, mode 0600, rewritten atomically:
 *
 *   custos-backup-keys 1
 *   signer <hex of the audit key's public half>
 *   backup <id> <master version> <created> <expires> <base64 of the wrapped key> needs=<v>,...
 *   ...
 *
 * Each backup's key is wrapped (AES-256-GCM) under a master key version, the associated data
 * "custos-backup-key|<id>|<version>|<expires>", so a line moved to another backup, or given
 * another expiry, does not unwrap. The key is never in the backup: removing its line (at
 * expiry) makes every copy of that backup unreadable, wherever it went. The signer line is
 * the public key restores check manifests and the erasure journal against: it lives with the
 * key file, which an operator keeps apart from the data and the backups.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup_int.h"
#include "util.h"

#define BKEYS_MAGIC "custos-backup-keys 1"
#define BKEYS_MAX (8u * 1024 * 1024)

typedef struct bline {
    cu_bkey k;
    char b64[96];
} bline;

typedef struct bfile {
    int has_signer;
    uint8_t signer[32];
    bline *lines;
    size_t n;
} bfile;

static cu_rc bkeys_path(const char *dir, char *out, size_t cap, cu_err *err)
{
    if ((size_t)snprintf(out, cap, "%s/%s", dir, CU_BACKUP_KEYS_FILE) >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "key directory path too long");
    return CU_OK;
}

static void wrap_ad(const cu_bkey *k, uint8_t ad[128], size_t *len)
{
    *len = (size_t)snprintf((char *)ad, 128, "custos-backup-key|%s|%" PRIu32 "|%" PRId64, k->id,
                            k->master_version, k->expires_at);
}

static int hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1)
            return -1;
        out[i] = (uint8_t)b;
    }
    return 0;
}

static cu_rc parse_line(bfile *f, char *line, cu_err *err)
{
    char hex[80];
    bline b = {0};
    long long c, e;
    unsigned mv;

    if (sscanf(line, "signer %79s", hex) == 1) {
        if (hex32(hex, f->signer) != 0)
            return cu_err_set(err, CU_ERR_INVALID, "backup key file: bad signer");
        f->has_signer = 1;
        return CU_OK;
    }
    int at = 0;
    if (sscanf(line, "backup %32s %u %lld %lld %95s%n", b.k.id, &mv, &c, &e, b.b64, &at) != 5 ||
        !cu_backup_id_ok(b.k.id))
        return cu_err_set(err, CU_ERR_INVALID, "backup key file: malformed line");
    /* The master versions the backup's snapshot needs: advisory, for key epochs. */
    const char *p = strstr(line + at, "needs=");
    for (p = p ? p + 6 : NULL; p && *p && b.k.nneeds < CU_ARRAY_LEN(b.k.needs);) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p)
            break;
        b.k.needs[b.k.nneeds++] = (uint32_t)v;
        p = *end == ',' ? end + 1 : NULL;
    }
    b.k.master_version = mv;
    b.k.created_at = c;
    b.k.expires_at = e;
    bline *m = realloc(f->lines, (f->n + 1) * sizeof(*m));
    if (m == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    f->lines = m;
    m[f->n++] = b;
    return CU_OK;
}

/* Reads the file; a missing one is empty (CU_OK, no signer). */
static cu_rc bfile_load(const char *dir, bfile *f, cu_err *err)
{
    char path[PATH_MAX], *text = NULL, *line, *save = NULL;
    struct stat st;
    size_t len = 0;
    cu_rc rc;

    memset(f, 0, sizeof(*f));
    if ((rc = bkeys_path(dir, path, sizeof(path), err)) != CU_OK)
        return rc;
    if (stat(path, &st) != 0)
        return CU_OK;
    if ((rc = cu_file_check_private(path, "backup key file", 0, err)) != CU_OK ||
        (rc = cu_file_read(path, BKEYS_MAX, &text, &len, err)) != CU_OK)
        return rc;
    line = strtok_r(text, "\n", &save);
    if (line == NULL || strcmp(line, BKEYS_MAGIC) != 0)
        rc = cu_err_set(err, CU_ERR_INVALID, "\"%s\" is not a backup key file", path);
    while (rc == CU_OK && (line = strtok_r(NULL, "\n", &save)) != NULL)
        rc = parse_line(f, line, err);
    cu_wipe(text, len);
    free(text);
    if (rc != CU_OK) {
        free(f->lines);
        memset(f, 0, sizeof(*f));
    }
    return rc;
}

static cu_rc bfile_save(const char *dir, const bfile *f, cu_err *err)
{
    char path[PATH_MAX], hex[65], *buf;
    size_t cap = 128 + f->n * 400, len;
    cu_rc rc;

    if ((rc = bkeys_path(dir, path, sizeof(path), err)) != CU_OK)
        return rc;
    if ((buf = malloc(cap)) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_hex_encode(f->signer, 32, hex);
    len = (size_t)snprintf(buf, cap, "%s\nsigner %s\n", BKEYS_MAGIC, hex);
    for (size_t i = 0; i < f->n; i++) {
        const cu_bkey *k = &f->lines[i].k;
        len += (size_t)snprintf(buf + len, cap - len,
                                "backup %s %" PRIu32 " %" PRId64 " %" PRId64 " %s needs=", k->id,
                                k->master_version, k->created_at, k->expires_at,
                                f->lines[i].b64);
        for (size_t j = 0; j < k->nneeds; j++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%" PRIu32, j ? "," : "",
                                    k->needs[j]);
        buf[len++] = '\n';
    }
    rc = cu_file_write_atomic(path, buf, len, 0600, err);
    cu_wipe(buf, len);
    free(buf);
    return rc;
}

cu_rc cu_bkeys_add(const char *keys_dir, const uint8_t pk[32], const cu_bkey *k,
                   const uint8_t mk[CU_KEYBYTES], const uint8_t key[CU_KEYBYTES], cu_err *err)
{
    uint8_t ad[128], wrapped[CU_WRAPPED_MAX];
    size_t adlen, wlen = 0;
    bline *m;
    bfile f;
    cu_rc rc;

    if ((rc = bfile_load(keys_dir, &f, err)) != CU_OK)
        return rc;
    if (f.has_signer && !cu_ct_equal(f.signer, pk, 32)) {
        rc = cu_err_set(err, CU_ERR_KEY, "the backup key file belongs to another vault");
        goto out;
    }
    memcpy(f.signer, pk, 32);
    wrap_ad(k, ad, &adlen);
    if (cu_key_wrap(mk, key, ad, adlen, wrapped, &wlen) != CU_OK) {
        rc = cu_err_set(err, CU_ERR_CRYPTO, "could not wrap the backup key");
        goto out;
    }
    if ((m = realloc(f.lines, (f.n + 1) * sizeof(*m))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    f.lines = m;
    memset(&m[f.n], 0, sizeof(m[f.n]));
    m[f.n].k = *k;
    if (cu_b64_encode(wrapped, wlen, m[f.n].b64, sizeof(m[f.n].b64)) != CU_OK) {
        rc = cu_err_set(err, CU_ERR_INVALID, "could not encode the backup key");
        goto out;
    }
    f.n++;
    rc = bfile_save(keys_dir, &f, err);
out:
    free(f.lines);
    return rc;
}

cu_rc cu_bkeys_get(const char *keys_dir, const cu_keyring *ring, const char *id, cu_bkey *k,
                   uint8_t key[CU_KEYBYTES], cu_err *err)
{
    uint8_t ad[128], wrapped[CU_WRAPPED_MAX];
    size_t adlen, wlen = 0, i;
    const uint8_t *mk;
    bfile f;
    cu_rc rc;

    if ((rc = bfile_load(keys_dir, &f, err)) != CU_OK)
        return rc;
    for (i = 0; i < f.n && strcmp(f.lines[i].k.id, id) != 0; i++)
        ;
    if (i == f.n) {
        rc = cu_err_set(err, CU_ERR_KEY,
                        "the key of backup %s is gone (expired or destroyed): the backup is "
                        "unreadable", id);
        goto out;
    }
    *k = f.lines[i].k;
    /* P-RET-3: past its expiry a backup is unreadable even before expire removes its key. */
    if (k->expires_at <= cu_clock_now()) {
        rc = cu_err_set(err, CU_ERR_KEY, "backup %s expired: it is unreadable", id);
        goto out;
    }
    wrap_ad(k, ad, &adlen);
    if ((mk = cu_keyring_get(ring, k->master_version)) == NULL) {
        rc = cu_err_set(err, CU_ERR_KEY, "master key version %u, which wraps backup %s's key, "
                        "is not in the key file", (unsigned)k->master_version, id);
        goto out;
    }
    if (cu_b64_decode(f.lines[i].b64, strlen(f.lines[i].b64), wrapped, sizeof(wrapped), &wlen) !=
            CU_OK ||
        cu_key_unwrap(mk, wrapped, wlen, ad, adlen, key) != CU_OK)
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the key of backup %s does not unwrap", id);
out:
    free(f.lines);
    return rc;
}

cu_rc cu_bkeys_signer(const char *keys_dir, uint8_t pk[32], cu_err *err)
{
    bfile f;
    cu_rc rc;

    if ((rc = bfile_load(keys_dir, &f, err)) != CU_OK)
        return rc;
    free(f.lines);
    if (!f.has_signer)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no backup key file in \"%s\"", keys_dir);
    memcpy(pk, f.signer, 32);
    return CU_OK;
}

cu_rc cu_bkeys_list(const char *keys_dir, cu_bkey **out, size_t *n, cu_err *err)
{
    bfile f;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = bfile_load(keys_dir, &f, err)) != CU_OK)
        return rc;
    if (f.n > 0 && (*out = calloc(f.n, sizeof(**out))) == NULL) {
        free(f.lines);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < f.n; i++)
        (*out)[i] = f.lines[i].k;
    *n = f.n;
    free(f.lines);
    return CU_OK;
}

cu_rc cu_bkeys_remove(const char *keys_dir, const char *id, cu_err *err)
{
    size_t i, j = 0;
    bfile f;
    cu_rc rc;

    if ((rc = bfile_load(keys_dir, &f, err)) != CU_OK)
        return rc;
    for (i = 0; i < f.n; i++)
        if (strcmp(f.lines[i].k.id, id) != 0)
            f.lines[j++] = f.lines[i];
    if (j != f.n) {
        f.n = j;
        rc = bfile_save(keys_dir, &f, err);
    }
    free(f.lines);
    return rc;
}

static int has(const uint32_t *v, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

cu_rc cu_bkeys_needed(const char *keys_dir, int64_t now, uint32_t **out, size_t *n, cu_err *err)
{
    uint32_t *v = NULL;
    size_t cap = 0;
    bfile f;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = bfile_load(keys_dir, &f, err)) != CU_OK)
        return rc;
    for (size_t i = 0; i < f.n && rc == CU_OK; i++) {
        const cu_bkey *k = &f.lines[i].k;
        if (k->expires_at <= now)
            continue;
        for (size_t j = 0; j <= k->nneeds && rc == CU_OK; j++) {
            uint32_t x = j == k->nneeds ? k->master_version : k->needs[j];
            if (has(v, *n, x))
                continue;
            if (*n == cap) {
                uint32_t *m = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*m));
                if (m == NULL) {
                    rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
                    break;
                }
                v = m;
            }
            v[(*n)++] = x;
        }
    }
    free(f.lines);
    if (rc != CU_OK) {
        free(v);
        *n = 0;
        return rc;
    }
    *out = v;
    return CU_OK;
}
