/*
 * misc.c: randomness, constant-time comparison, wiping, locked memory and encodings.
 *
 * Thin wrappers, so that nothing outside src/crypto/ needs <sodium.h>. The base64 decoder is
 * strict: stored keys and tokens have exactly one spelling, so padding is required, no
 * whitespace or other characters are skipped, and unused trailing bits must be zero.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "crypto.h"

#define B64_VARIANT sodium_base64_VARIANT_ORIGINAL

void cu_random(void *buf, size_t n)
{
    /* With n 0, buf may be NULL, which randombytes_buf (declared nonnull) does not take. */
    if (n > 0)
        randombytes_buf(buf, n);
}

/* cu_random_public's buffer, one per thread. gen is the fork generation it was drawn in: a
 * child of fork() holds a copy of its parent's buffer, whose bytes the parent may still hand
 * out, so the child's first call finds fork_gen moved on and draws anew. */
#define PUBLIC_POOL 256

static _Thread_local struct {
    unsigned gen;
    size_t left;
    uint8_t b[PUBLIC_POOL];
} pool;
static _Atomic unsigned fork_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forked(void)
{
    fork_gen++;
}

static void register_atfork(void)
{
    (void)pthread_atfork(NULL, NULL, forked);
}

void cu_random_public(void *buf, size_t n)
{
    uint8_t *out = buf;

    pthread_once(&atfork_once, register_atfork);
    if (pool.gen != fork_gen) {
        cu_wipe(pool.b, sizeof(pool.b));
        pool.left = 0;
        pool.gen = fork_gen;
    }
    if (n > PUBLIC_POOL / 4) {
        cu_random(buf, n);
        return;
    }
    while (n > 0) {
        size_t take;
        if (pool.left == 0) {
            randombytes_buf(pool.b, sizeof(pool.b));
            pool.left = sizeof(pool.b);
        }
        take = n < pool.left ? n : pool.left;
        /* From the end, wiping what is handed out: no byte is used twice. */
        memcpy(out, pool.b + pool.left - take, take);
        sodium_memzero(pool.b + pool.left - take, take);
        pool.left -= take;
        out += take;
        n -= take;
    }
}

/* Masking to 63 bits keeps ids positive as a signed 64-bit integer (SQLite's INTEGER); retrying
 * on 0 keeps the draw uniform over the remaining values. */
cu_id cu_random_id(void)
{
    uint64_t v;

    do {
        cu_random_public(&v, sizeof(v));
        v &= UINT64_C(0x7fffffffffffffff);
    } while (v == 0);
    return v;
}

int cu_ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

void cu_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        sodium_memzero(p, n);
}

/* The block ends right at a guard page, so the pointer is only as aligned as n is a multiple
 * of: fine for byte arrays; round n up before storing a struct there. */
void *cu_secure_alloc(size_t n)
{
    /* sodium_malloc reads the page size and guard canary that sodium_init() sets up. */
    if (sodium_init() < 0)
        return NULL;
    return sodium_malloc(n);
}

/* sodium_malloc locks what it can and says nothing when RLIMIT_MEMLOCK stops it; locking
 * again tells (pages locked already do not count twice against the limit). */
void *cu_secure_alloc_locked(size_t n)
{
    void *p = cu_secure_alloc(n);

    if (p != NULL && sodium_mlock(p, n) != 0) {
        sodium_free(p);
        return NULL;
    }
    return p;
}

void cu_secure_free(void *p)
{
    if (p != NULL)
        sodium_free(p);
}

/* Fails with CU_ERR_IO when the system refuses, most often because RLIMIT_MEMLOCK is low. */
cu_rc cu_mlock(void *p, size_t n)
{
    if (p == NULL)
        return n == 0 ? CU_OK : CU_ERR_INVALID;
    if (sodium_mlock(p, n) != 0)
        return CU_ERR_IO;
    return CU_OK;
}

/* sodium_munlock wipes the n bytes before unlocking them: call it when the secret is done. */
void cu_munlock(void *p, size_t n)
{
    if (p != NULL)
        (void)sodium_munlock(p, n);
}

/* 0 if n bytes cannot be encoded in a size_t (sodium_bin2base64 would abort). */
size_t cu_b64_len(size_t n)
{
    if (n / 3 > (SIZE_MAX - 5) / 4)
        return 0;
    return sodium_base64_ENCODED_LEN(n, B64_VARIANT);
}

cu_rc cu_b64_encode(const uint8_t *in, size_t n, char *out, size_t outcap)
{
    size_t need = cu_b64_len(n);

    /* Check first: libsodium aborts the process on a short buffer. */
    if (need == 0 || outcap < need)
        return CU_ERR_LIMIT;
    sodium_bin2base64(out, outcap, in, n, B64_VARIANT);
    return CU_OK;
}

/* The exact decoded length of canonical base64 of len bytes, or SIZE_MAX if len cannot be
 * canonical (not a multiple of 4). */
static size_t b64_decoded_len(const char *in, size_t len)
{
    size_t n;

    if (len % 4 != 0)
        return SIZE_MAX;
    if (len == 0)
        return 0;
    n = len / 4 * 3;
    if (in[len - 1] == '=')
        n--;
    if (in[len - 2] == '=')
        n--;
    return n;
}

cu_rc cu_b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
    const char *end = NULL;
    size_t need = b64_decoded_len(in, len);
    size_t n = 0;

    *outlen = 0;
    if (need == SIZE_MAX)
        return CU_ERR_INVALID;
    if (need > outcap)
        return CU_ERR_LIMIT;
    if (len == 0)
        return CU_OK;
    /* ignore = NULL skips nothing; b64_end tells us where decoding stopped, which must be the
     * end: libsodium stops quietly at the first character it does not take. */
    if (sodium_base642bin(out, outcap, in, len, NULL, &n, &end, B64_VARIANT) != 0 ||
        end != in + len || n != need) {
        sodium_memzero(out, need);
        return CU_ERR_INVALID;
    }
    *outlen = n;
    return CU_OK;
}

void cu_hex_encode(const uint8_t *in, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, in, n);
}
