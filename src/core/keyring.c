/*
 * keyring.c: the master key file, its versions and its permissions.
 *
 * The file (mode 0600, refused if group or others have any access or another user owns it) is
 * text:
 *
 *   custos-keyring 1
 *   kdf argon2id <salt base64> <opslimit> <memlimit>      (passphrase mode only)
 *   key <version> <base64>
 *   ...
 *
 * In key-file mode each key line holds the 32-byte master key of that version. In passphrase
 * mode it holds that key wrapped under Argon2id(passphrase, salt), so a rotation makes a fresh
 * random master key exactly as in key-file mode, and the passphrase only guards the file.
 *
 * Plaintext master keys live in cu_secure_alloc memory (guarded, mlock'ed, P-ENC-1); the text of
 * the file is wiped after parsing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keyring_int.h"
#include "util.h"

#define KEYRING_MAX_VERSIONS 64
#define KEYRING_FILE_MAX 16384

struct cu_keyring {
    size_t n;
    uint32_t versions[KEYRING_MAX_VERSIONS];
    uint8_t *keys; /* n * CU_KEYBYTES, secure memory */
    int has_kdf;
    uint8_t salt[CU_KDF_SALTBYTES];
    uint64_t opslimit;
    uint64_t memlimit;
    uint8_t *kek; /* CU_KEYBYTES, secure memory; passphrase mode only */
};

/* A new empty keyring in *out, its keys in locked memory. */
static cu_rc ring_alloc(cu_keyring **out, cu_err *err)
{
    cu_keyring *r = calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    r->keys = cu_secure_alloc(KEYRING_MAX_VERSIONS * CU_KEYBYTES);
    r->kek = cu_secure_alloc(CU_KEYBYTES);
    if (r->keys == NULL || r->kek == NULL) {
        cu_keyring_free(r);
        return cu_err_set(err, CU_ERR_NOMEM, "could not allocate locked memory for the master key");
    }
    *out = r;
    return CU_OK;
}

void cu_keyring_free(cu_keyring *r)
{
    if (r == NULL)
        return;
    cu_secure_free(r->keys);
    cu_secure_free(r->kek);
    cu_wipe(r, sizeof(*r));
    free(r);
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
    r->versions[r->n++] = (uint32_t)v;
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
            if (r->n > 0 || r->has_kdf)
                return cu_err_set(err, CU_ERR_INVALID, "key file: kdf must come first, once");
            rc = parse_kdf_line(r, sp1, passphrase, err);
        } else if (strcmp(line, "key") == 0 && (sp2 = strchr(sp1, ' ')) != NULL) {
            *sp2++ = '\0';
            rc = parse_key_line(r, sp1, sp2, err);
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

cu_rc cu_keyring_save(const cu_keyring *r, const char *path, cu_err *err)
{
    size_t cap = 256 + r->n * 128;
    char *text = malloc(cap);
    size_t off = 0;
    cu_rc rc = CU_OK;

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
        cu_wipe(b64, sizeof(b64));
        if (rc != CU_OK) {
            cu_err_set(err, rc, "could not encode the key file");
            goto out;
        }
    }
    rc = cu_file_write_atomic(path, text, off, 0600, err);
out:
    cu_wipe(text, cap);
    free(text);
    return rc;
}

cu_rc cu_keyring_add(cu_keyring *r, uint32_t *version, cu_err *err)
{
    uint32_t v = cu_keyring_newest(r) + 1;

    if (r->n == KEYRING_MAX_VERSIONS)
        return cu_err_set(err, CU_ERR_LIMIT, "too many master key versions in the key file");
    cu_random(r->keys + r->n * CU_KEYBYTES, CU_KEYBYTES);
    r->versions[r->n++] = v;
    *version = v;
    return CU_OK;
}

void cu_keyring_retain(cu_keyring *r, uint32_t keep)
{
    size_t i, j = 0;

    for (i = 0; i < r->n; i++) {
        if (r->versions[i] != keep)
            continue;
        if (i != j) {
            memcpy(r->keys + j * CU_KEYBYTES, r->keys + i * CU_KEYBYTES, CU_KEYBYTES);
            r->versions[j] = r->versions[i];
        }
        j++;
    }
    cu_wipe(r->keys + j * CU_KEYBYTES, (KEYRING_MAX_VERSIONS - j) * CU_KEYBYTES);
    r->n = j;
}

const uint8_t *cu_keyring_get(const cu_keyring *r, uint32_t version)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->versions[i] == version)
            return r->keys + i * CU_KEYBYTES;
    return NULL;
}

uint32_t cu_keyring_newest(const cu_keyring *r)
{
    uint32_t v = 0;

    for (size_t i = 0; i < r->n; i++)
        if (r->versions[i] > v)
            v = r->versions[i];
    return v;
}

void cu_keyring_check(const uint8_t key[CU_KEYBYTES], uint8_t out[32])
{
    static const char label[] = "custos master key check v1";

    cu_hmac_sha256(key, CU_KEYBYTES, (const uint8_t *)label, sizeof(label) - 1, out);
}
