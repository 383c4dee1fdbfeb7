/*
 * kdf.c: hashing and key derivation: SHA-256, HMAC-SHA256, HKDF-SHA256 (RFC 5869), keyed blind
 * indexes, and Argon2id for passwords and passphrase-derived keys.
 *
 * SHA-256 is nettle's (GnuTLS's own crypto library, linked anyway): it uses the CPU's SHA
 * extensions where there are some, 5.8 times libsodium 1.0.18's portable code on this
 * project's machine, and verifying the audit chain is mostly SHA-256 (bench/README.md).
 *
 * libsodium 1.0.18 has no HKDF, so it is built here over libsodium's incremental HMAC, whose
 * init accepts keys of any length (longer than the 64-byte block are hashed first, as RFC 2104
 * says). Every HMAC state and intermediate block is wiped, since they are key material.
 */
#include <string.h>

#include <nettle/sha2.h>
#include <sodium.h>

#include "crypto.h"

#define HKDF_OUT_MAX (255 * CU_HASHBYTES)

/* Argon2id cost for stored password hashes: OWASP's m=19 MiB, t=2, p=1. */
#define PWHASH_OPSLIMIT 2ULL
#define PWHASH_MEMLIMIT ((size_t)19 * 1024 * 1024)
#define PWHASH_PREFIX "$argon2id$"

_Static_assert(crypto_hash_sha256_BYTES == CU_HASHBYTES, "sha256 size");
_Static_assert(SHA256_DIGEST_SIZE == CU_HASHBYTES, "nettle sha256 size");
_Static_assert(crypto_auth_hmacsha256_BYTES == CU_HASHBYTES, "hmac size");
_Static_assert(crypto_pwhash_STRBYTES == CU_PWHASH_STRBYTES, "pwhash string size");
_Static_assert(crypto_pwhash_SALTBYTES == CU_KDF_SALTBYTES, "pwhash salt size");

void cu_sha256(const uint8_t *data, size_t len, uint8_t out[CU_HASHBYTES])
{
    struct sha256_ctx ctx;

    sha256_init(&ctx);
    if (len > 0)
        sha256_update(&ctx, len, data);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* key may be NULL when keylen is 0 (libsodium's init is declared nonnull, hence the stand-in). */
void cu_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                    uint8_t out[CU_HASHBYTES])
{
    static const uint8_t nokey[1];
    crypto_auth_hmacsha256_state st;

    if (key == NULL)
        key = nokey;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    if (msglen > 0)
        crypto_auth_hmacsha256_update(&st, msg, msglen);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* RFC 5869 leaves the salt optional, defaulting to HashLen zero bytes. HMAC pads its key with
 * zeros to the block size, so an empty salt gives the same PRK; no special case is needed. */
void cu_hkdf_extract(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                     uint8_t prk[CU_HASHBYTES])
{
    cu_hmac_sha256(salt, saltlen, ikm, ikmlen, prk);
}

/* out may alias prk: the key is absorbed into the base state before out is written. */
cu_rc cu_hkdf_expand(const uint8_t prk[CU_HASHBYTES], const uint8_t *info, size_t infolen,
                     uint8_t *out, size_t outlen)
{
    crypto_auth_hmacsha256_state base;
    crypto_auth_hmacsha256_state st;
    uint8_t t[CU_HASHBYTES];
    uint8_t ctr;
    size_t done = 0;
    size_t n;

    if (outlen > HKDF_OUT_MAX)
        return CU_ERR_INVALID;
    crypto_auth_hmacsha256_init(&base, prk, CU_HASHBYTES);
    /* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty; OKM is the first outlen bytes of T. */
    for (ctr = 1; done < outlen; ctr++) {
        st = base;
        if (ctr > 1)
            crypto_auth_hmacsha256_update(&st, t, sizeof(t));
        if (infolen > 0)
            crypto_auth_hmacsha256_update(&st, info, infolen);
        crypto_auth_hmacsha256_update(&st, &ctr, 1);
        crypto_auth_hmacsha256_final(&st, t);
        n = outlen - done < sizeof(t) ? outlen - done : sizeof(t);
        memcpy(out + done, t, n);
        done += n;
    }
    sodium_memzero(&base, sizeof(base));
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(t, sizeof(t));
    return CU_OK;
}

cu_rc cu_hkdf(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
              const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
    uint8_t prk[CU_HASHBYTES];
    cu_rc rc;

    cu_hkdf_extract(salt, saltlen, ikm, ikmlen, prk);
    rc = cu_hkdf_expand(prk, info, infolen, out, outlen);
    sodium_memzero(prk, sizeof(prk));
    return rc;
}

/* domain is a C string, so it holds no 0x00: the separator makes (domain, value) -> message
 * injective, and "ab" | "c" cannot collide with "a" | "bc". */
void cu_blind_index(const uint8_t key[CU_KEYBYTES], const char *domain, const uint8_t *value,
                    size_t len, uint8_t out[CU_BLINDBYTES])
{
    static const uint8_t sep = 0x00;
    crypto_auth_hmacsha256_state st;
    size_t dlen = strlen(domain);

    crypto_auth_hmacsha256_init(&st, key, CU_KEYBYTES);
    if (dlen > 0)
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)domain, dlen);
    crypto_auth_hmacsha256_update(&st, &sep, 1);
    if (len > 0)
        crypto_auth_hmacsha256_update(&st, value, len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* libsodium declares the password nonnull: an empty one may come as NULL and becomes "". */
static cu_rc pw_check(const char **pw, size_t pwlen)
{
    if (*pw == NULL) {
        if (pwlen != 0)
            return CU_ERR_INVALID;
        *pw = "";
    }
    if (pwlen > crypto_pwhash_PASSWD_MAX)
        return CU_ERR_LIMIT;
    return CU_OK;
}

cu_rc cu_password_hash(const char *pw, size_t pwlen, char out[CU_PWHASH_STRBYTES])
{
    cu_rc rc = pw_check(&pw, pwlen);

    if (rc != CU_OK)
        return rc;
    if (sodium_init() < 0)
        return CU_ERR_UNSUPPORTED;
    /* The only failure left is Argon2's 19 MiB allocation. */
    if (crypto_pwhash_str_alg(out, pw, pwlen, PWHASH_OPSLIMIT, PWHASH_MEMLIMIT,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return CU_ERR_NOMEM;
    return CU_OK;
}

/*
 * crypto_pwhash_str_verify answers -1 both for a mismatch and for a string it cannot parse, so
 * the string is parsed first: crypto_pwhash_str_needs_rehash decodes it fully and answers -1
 * only when it is not a well-formed hash. Only argon2id strings are accepted, as only those are
 * ever written.
 */
cu_rc cu_password_verify(const char *hash, const char *pw, size_t pwlen)
{
    cu_rc rc;

    if (hash == NULL || strnlen(hash, CU_PWHASH_STRBYTES) >= CU_PWHASH_STRBYTES)
        return CU_ERR_INVALID;
    if (strncmp(hash, PWHASH_PREFIX, strlen(PWHASH_PREFIX)) != 0)
        return CU_ERR_INVALID;
    if (crypto_pwhash_str_needs_rehash(hash, PWHASH_OPSLIMIT, PWHASH_MEMLIMIT) < 0)
        return CU_ERR_INVALID;
    /* A password too long for cu_password_hash to take cannot match anything it wrote. */
    rc = pw_check(&pw, pwlen);
    if (rc != CU_OK)
        return rc == CU_ERR_LIMIT ? CU_ERR_AUTH : rc;
    if (crypto_pwhash_str_verify(hash, pw, pwlen) != 0)
        return CU_ERR_AUTH;
    return CU_OK;
}

cu_rc cu_kdf_passphrase(const char *pw, size_t pwlen, const uint8_t salt[CU_KDF_SALTBYTES],
                        uint64_t opslimit, size_t memlimit, uint8_t out[CU_KEYBYTES])
{
    cu_rc rc;

    if (opslimit < crypto_pwhash_OPSLIMIT_MIN || opslimit > crypto_pwhash_OPSLIMIT_MAX ||
        memlimit < crypto_pwhash_MEMLIMIT_MIN || memlimit > crypto_pwhash_MEMLIMIT_MAX)
        return CU_ERR_INVALID;
    rc = pw_check(&pw, pwlen);
    if (rc != CU_OK)
        return rc;
    if (sodium_init() < 0)
        return CU_ERR_UNSUPPORTED;
    if (crypto_pwhash(out, CU_KEYBYTES, pw, pwlen, salt, opslimit, memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_memzero(out, CU_KEYBYTES);
        return CU_ERR_NOMEM;
    }
    return CU_OK;
}
