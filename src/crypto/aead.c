/*
 * aead.c: algorithm choice, AEAD sealing and key wrapping over libsodium.
 *
 * New seals use one algorithm per process, picked once by cu_crypto_init(): AES-256-GCM when
 * the CPU has AES-NI and PCLMUL (libsodium has no portable AES), else XChaCha20-Poly1305 if the
 * operator allowed it. Opening reads the algorithm from the sealed buffer's first byte, so data
 * sealed under either algorithm stays readable whatever the current choice.
 *
 * The alg byte is authenticated: both algorithms take one associated-data buffer, and we pass
 * alg || caller ad. Changing the alg byte thus fails authentication (or names no algorithm),
 * and because the alg byte has a fixed length the concatenation is unambiguous.
 *
 * Invariants: a cu_aead lives in sodium_malloc memory (guard pages, mlock, wiped on free) and is
 * read-only after cu_aead_new(); every expanded AES key schedule on the stack is wiped.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto_int.h"
#include "util.h"

#define AES_NONCEBYTES crypto_aead_aes256gcm_NPUBBYTES
#define XCHACHA_NONCEBYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

/* Associated data up to this size is assembled on the stack; longer goes to the heap. Record
 * AADs (tenant, collection, record id, field, key version) fit comfortably. */
#define AD_STACKBYTES 512

_Static_assert(crypto_aead_aes256gcm_KEYBYTES == CU_KEYBYTES, "aes key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == CU_KEYBYTES, "xchacha key size");
_Static_assert(crypto_aead_aes256gcm_ABYTES == CU_AEAD_TAGBYTES, "aes tag size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == CU_AEAD_TAGBYTES, "xchacha tag");
_Static_assert(AES_NONCEBYTES == 12, "aes nonce size");
_Static_assert(1 + XCHACHA_NONCEBYTES + CU_AEAD_TAGBYTES == CU_AEAD_MAX_OVERHEAD, "overhead");

struct cu_aead {
    /* First member: libsodium needs it 16-byte aligned (see the assertion below). */
    crypto_aead_aes256gcm_state aes;
    uint8_t key[CU_KEYBYTES];
    int has_aes; /* aes holds the expanded key; 0 when the CPU lacks AES-NI */
};

/* sodium_malloc places the block so that it ends at a guard page. Its start is therefore only
 * as aligned as the block's size is a multiple of 16, which the state's alignment guarantees
 * for the whole struct. */
_Static_assert(sizeof(struct cu_aead) % 16 == 0, "cu_aead size keeps sodium_malloc aligned");

/* The algorithm for new seals; 0 until cu_crypto_init() succeeds. */
static atomic_int g_alg;

/* The associated data actually authenticated: alg || caller ad. */
typedef struct aead_ad {
    uint8_t small[AD_STACKBYTES];
    uint8_t *p;
    size_t len;
} aead_ad;

cu_rc cu_crypto_init(int allow_xchacha, cu_err *err)
{
    int want;
    int none = 0;

    if (sodium_init() < 0)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "could not initialize libsodium");
    if (crypto_aead_aes256gcm_is_available())
        want = CU_AEAD_ALG_AES256GCM;
    else if (allow_xchacha)
        want = CU_AEAD_ALG_XCHACHA;
    else
        return cu_err_set(err, CU_ERR_UNSUPPORTED,
                          "this CPU lacks AES-NI, so AES-256-GCM (which the encryption promise "
                          "names) is unavailable; start with --allow-xchacha to use "
                          "XChaCha20-Poly1305 instead");
    /* The first successful call decides; later calls (and a test's forced choice) keep it, so
     * calling again is harmless from any thread. */
    atomic_compare_exchange_strong(&g_alg, &none, want);
    return CU_OK;
}

/* The current algorithm, initializing as cu_crypto_init(0) would if nobody did; 0 if none. */
static int crypto_alg_current(void)
{
    int alg = atomic_load(&g_alg);

    if (alg == 0 && cu_crypto_init(0, NULL) == CU_OK)
        alg = atomic_load(&g_alg);
    return alg;
}

/* Returns 0 before a successful cu_crypto_init() on a CPU without AES-NI. */
int cu_crypto_alg(void)
{
    return crypto_alg_current();
}

void cu_crypto_force_alg(int alg)
{
    atomic_store(&g_alg, alg);
}

/* Nonce length of alg, or 0 if alg names no algorithm. */
static size_t aead_nonce_len(int alg)
{
    if (alg == CU_AEAD_ALG_AES256GCM)
        return AES_NONCEBYTES;
    if (alg == CU_AEAD_ALG_XCHACHA)
        return XCHACHA_NONCEBYTES;
    return 0;
}

static unsigned long long aead_msg_max(int alg)
{
    if (alg == CU_AEAD_ALG_AES256GCM)
        return crypto_aead_aes256gcm_MESSAGEBYTES_MAX;
    return crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX;
}

size_t cu_aead_sealed_len(size_t ptlen)
{
    size_t nlen = aead_nonce_len(crypto_alg_current());
    size_t over = nlen ? 1 + nlen + CU_AEAD_TAGBYTES : CU_AEAD_MAX_OVERHEAD;

    /* Saturate: sealing anything this large fails with CU_ERR_LIMIT anyway. */
    if (ptlen > SIZE_MAX - over)
        return SIZE_MAX;
    return ptlen + over;
}

/* Builds alg || ad in x. Whatever it returns, aead_ad_cleanup(x) is then safe. */
static cu_rc aead_ad_init(aead_ad *x, int alg, const uint8_t *ad, size_t adlen)
{
    x->p = x->small;
    x->len = 0;
    if (adlen > SIZE_MAX - 1)
        return CU_ERR_LIMIT;
    x->len = adlen + 1;
    if (x->len > sizeof(x->small)) {
        x->p = malloc(x->len);
        if (x->p == NULL)
            return CU_ERR_NOMEM; /* x->p is NULL: cleanup's free(NULL) is a no-op */
    }
    x->p[0] = (uint8_t)alg;
    if (adlen > 0)
        memcpy(x->p + 1, ad, adlen);
    return CU_OK;
}

/* The associated data is not secret (ids and names, never personal values): no wipe needed. */
static void aead_ad_cleanup(aead_ad *x)
{
    if (x->p != x->small)
        free(x->p);
    x->p = NULL;
}

/*
 * Encrypts pt into c (ciphertext | tag) under alg. For AES, st is the precomputed state, or
 * NULL to expand key into a stack state that is wiped before returning.
 */
static cu_rc aead_encrypt(int alg, const uint8_t *key, const crypto_aead_aes256gcm_state *st,
                          const uint8_t *pt, size_t ptlen, const aead_ad *ad, const uint8_t *nonce,
                          uint8_t *c)
{
    crypto_aead_aes256gcm_state tmp;
    int ret;

    if (alg == CU_AEAD_ALG_XCHACHA) {
        ret = crypto_aead_xchacha20poly1305_ietf_encrypt(c, NULL, pt, ptlen, ad->p, ad->len, NULL,
                                                         nonce, key);
        return ret == 0 ? CU_OK : CU_ERR_CRYPTO;
    }
    if (st == NULL) {
        crypto_aead_aes256gcm_beforenm(&tmp, key);
        st = &tmp;
    }
    ret =
        crypto_aead_aes256gcm_encrypt_afternm(c, NULL, pt, ptlen, ad->p, ad->len, NULL, nonce, st);
    if (st == &tmp)
        sodium_memzero(&tmp, sizeof(tmp));
    return ret == 0 ? CU_OK : CU_ERR_CRYPTO;
}

/* Decrypts c (ciphertext | tag, clen >= tag) into m; the counterpart of aead_encrypt. */
static cu_rc aead_decrypt(int alg, const uint8_t *key, const crypto_aead_aes256gcm_state *st,
                          const uint8_t *c, size_t clen, const aead_ad *ad, const uint8_t *nonce,
                          uint8_t *m)
{
    crypto_aead_aes256gcm_state tmp;
    int ret;

    if (alg == CU_AEAD_ALG_XCHACHA) {
        ret = crypto_aead_xchacha20poly1305_ietf_decrypt(m, NULL, NULL, c, clen, ad->p, ad->len,
                                                         nonce, key);
        return ret == 0 ? CU_OK : CU_ERR_CRYPTO;
    }
    if (st == NULL) {
        crypto_aead_aes256gcm_beforenm(&tmp, key);
        st = &tmp;
    }
    ret = crypto_aead_aes256gcm_decrypt_afternm(m, NULL, NULL, c, clen, ad->p, ad->len, nonce, st);
    if (st == &tmp)
        sodium_memzero(&tmp, sizeof(tmp));
    return ret == 0 ? CU_OK : CU_ERR_CRYPTO;
}

/* Seals into the sealed format with a fresh random nonce. st as for aead_encrypt. */
static cu_rc aead_seal_with(int alg, const uint8_t *key, const crypto_aead_aes256gcm_state *st,
                            const uint8_t *pt, size_t ptlen, const uint8_t *ad, size_t adlen,
                            uint8_t *out, size_t outcap, size_t *outlen)
{
    size_t nlen = aead_nonce_len(alg);
    aead_ad full;
    cu_rc rc;

    *outlen = 0;
    if (nlen == 0)
        return CU_ERR_UNSUPPORTED; /* no algorithm chosen: cu_crypto_init() failed */
    if (alg == CU_AEAD_ALG_AES256GCM && !crypto_aead_aes256gcm_is_available())
        return CU_ERR_UNSUPPORTED;
    if (ptlen > aead_msg_max(alg) || outcap < 1 + nlen + CU_AEAD_TAGBYTES ||
        outcap - (1 + nlen + CU_AEAD_TAGBYTES) < ptlen)
        return CU_ERR_LIMIT;
    rc = aead_ad_init(&full, alg, ad, adlen);
    if (rc != CU_OK)
        goto out;
    out[0] = (uint8_t)alg;
    /* Straight from the kernel, not from cu_random_public's buffer: two copies of a process
     * whose memory was cloned (a virtual machine's snapshot restored twice) would hand out
     * the same buffered bytes, and a repeated nonce under one key breaks AES-GCM. */
    randombytes_buf(out + 1, nlen);
    rc = aead_encrypt(alg, key, st, pt, ptlen, &full, out + 1, out + 1 + nlen);
    if (rc != CU_OK)
        goto out;
    *outlen = 1 + nlen + ptlen + CU_AEAD_TAGBYTES;
out:
    aead_ad_cleanup(&full);
    return rc;
}

/* Opens the sealed format; st is the precomputed AES state or NULL. On failure the plaintext
 * area of out is wiped. */
static cu_rc aead_open_with(const uint8_t *key, const crypto_aead_aes256gcm_state *st,
                            const uint8_t *ct, size_t ctlen, const uint8_t *ad, size_t adlen,
                            uint8_t *out, size_t outcap, size_t *outlen)
{
    aead_ad full;
    size_t nlen;
    size_t ptlen;
    int alg;
    cu_rc rc;

    *outlen = 0;
    if (ctlen < 1)
        return CU_ERR_INVALID;
    alg = ct[0];
    nlen = aead_nonce_len(alg);
    if (nlen == 0 || ctlen < 1 + nlen + CU_AEAD_TAGBYTES)
        return CU_ERR_INVALID;
    ptlen = ctlen - 1 - nlen - CU_AEAD_TAGBYTES;
    if (outcap < ptlen)
        return CU_ERR_LIMIT;
    if (alg == CU_AEAD_ALG_AES256GCM && !crypto_aead_aes256gcm_is_available())
        return CU_ERR_UNSUPPORTED;
    rc = aead_ad_init(&full, alg, ad, adlen);
    if (rc != CU_OK)
        goto out;
    rc = aead_decrypt(alg, key, st, ct + 1 + nlen, ctlen - 1 - nlen, &full, ct + 1, out);
    if (rc != CU_OK) {
        if (ptlen > 0)
            sodium_memzero(out, ptlen);
        goto out;
    }
    *outlen = ptlen;
out:
    aead_ad_cleanup(&full);
    return rc;
}

cu_rc cu_aead_new(const uint8_t key[CU_KEYBYTES], cu_aead **out)
{
    cu_aead *a;

    *out = NULL;
    /* sodium_malloc and crypto_aead_aes256gcm_is_available need sodium_init(). */
    if (sodium_init() < 0)
        return CU_ERR_UNSUPPORTED;
    a = sodium_malloc(sizeof(*a));
    if (a == NULL)
        return CU_ERR_NOMEM;
    assert(((uintptr_t)a & 15) == 0);
    memcpy(a->key, key, CU_KEYBYTES);
    a->has_aes = crypto_aead_aes256gcm_is_available();
    if (a->has_aes)
        crypto_aead_aes256gcm_beforenm(&a->aes, key);
    else
        sodium_memzero(&a->aes, sizeof(a->aes));
    /* Nothing writes to the context again: a stray write now faults instead of corrupting.
     * Best effort: if mprotect fails the context is merely writable. */
    (void)sodium_mprotect_readonly(a);
    *out = a;
    return CU_OK;
}

void cu_aead_free(cu_aead *a)
{
    /* sodium_free makes the block writable again, wipes it and unmaps it. */
    if (a != NULL)
        sodium_free(a);
}

cu_rc cu_aead_seal(const cu_aead *a, const uint8_t *pt, size_t ptlen, const uint8_t *ad,
                   size_t adlen, uint8_t *out, size_t outcap, size_t *outlen)
{
    /* Without AES-NI has_aes is 0 and aead_seal_with refuses AES before using st. */
    return aead_seal_with(crypto_alg_current(), a->key, a->has_aes ? &a->aes : NULL, pt, ptlen, ad,
                          adlen, out, outcap, outlen);
}

cu_rc cu_aead_open(const cu_aead *a, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                   size_t adlen, uint8_t *out, size_t outcap, size_t *outlen)
{
    /* Without AES-NI has_aes is 0 and aead_open_with refuses AES buffers before using st. */
    return aead_open_with(a->key, a->has_aes ? &a->aes : NULL, ct, ctlen, ad, adlen, out, outcap,
                          outlen);
}

cu_rc cu_key_wrap(const uint8_t kek[CU_KEYBYTES], const uint8_t key[CU_KEYBYTES], const uint8_t *ad,
                  size_t adlen, uint8_t out[CU_WRAPPED_MAX], size_t *outlen)
{
    return aead_seal_with(crypto_alg_current(), kek, NULL, key, CU_KEYBYTES, ad, adlen, out,
                          CU_WRAPPED_MAX, outlen);
}

cu_rc cu_key_unwrap(const uint8_t kek[CU_KEYBYTES], const uint8_t *wrapped, size_t wlen,
                    const uint8_t *ad, size_t adlen, uint8_t key[CU_KEYBYTES])
{
    size_t n;
    cu_rc rc;

    /* A wrapped key has exactly one length per algorithm; anything else is not one. */
    if (wlen < 1 || wlen != 1 + aead_nonce_len(wrapped[0]) + CU_KEYBYTES + CU_AEAD_TAGBYTES)
        return CU_ERR_INVALID;
    rc = aead_open_with(kek, NULL, wrapped, wlen, ad, adlen, key, CU_KEYBYTES, &n);
    if (rc == CU_OK && n != CU_KEYBYTES) {
        sodium_memzero(key, CU_KEYBYTES);
        rc = CU_ERR_INVALID;
    }
    return rc;
}

cu_rc cu_aes256gcm_raw_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *pt,
                            size_t ptlen, const uint8_t *ad, size_t adlen, uint8_t *out)
{
    crypto_aead_aes256gcm_state st;
    int ret;

    if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available())
        return CU_ERR_UNSUPPORTED;
    if (ptlen > crypto_aead_aes256gcm_MESSAGEBYTES_MAX)
        return CU_ERR_LIMIT;
    crypto_aead_aes256gcm_beforenm(&st, key);
    ret = crypto_aead_aes256gcm_encrypt_afternm(out, NULL, pt, ptlen, ad, adlen, NULL, nonce, &st);
    sodium_memzero(&st, sizeof(st));
    return ret == 0 ? CU_OK : CU_ERR_CRYPTO;
}

cu_rc cu_aes256gcm_raw_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ct,
                            size_t ctlen, const uint8_t *ad, size_t adlen, uint8_t *out)
{
    crypto_aead_aes256gcm_state st;
    int ret;

    if (sodium_init() < 0 || !crypto_aead_aes256gcm_is_available())
        return CU_ERR_UNSUPPORTED;
    if (ctlen < CU_AEAD_TAGBYTES)
        return CU_ERR_INVALID;
    crypto_aead_aes256gcm_beforenm(&st, key);
    ret = crypto_aead_aes256gcm_decrypt_afternm(out, NULL, NULL, ct, ctlen, ad, adlen, nonce, &st);
    sodium_memzero(&st, sizeof(st));
    if (ret != 0 && ctlen > CU_AEAD_TAGBYTES)
        sodium_memzero(out, ctlen - CU_AEAD_TAGBYTES);
    return ret == 0 ? CU_OK : CU_ERR_CRYPTO;
}

cu_rc cu_aead_seal_key(const uint8_t key[CU_KEYBYTES], const uint8_t *pt, size_t ptlen,
                       const uint8_t *ad, size_t adlen, uint8_t *out, size_t outcap,
                       size_t *outlen)
{
    return aead_seal_with(crypto_alg_current(), key, NULL, pt, ptlen, ad, adlen, out, outcap,
                          outlen);
}

cu_rc cu_aead_open_key(const uint8_t key[CU_KEYBYTES], const uint8_t *ct, size_t ctlen,
                       const uint8_t *ad, size_t adlen, uint8_t *out, size_t outcap,
                       size_t *outlen)
{
    return aead_open_with(key, NULL, ct, ctlen, ad, adlen, out, outcap, outlen);
}
