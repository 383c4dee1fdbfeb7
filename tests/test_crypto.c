/*
 * test_crypto.c: unit tests of src/crypto/ with published known-answer vectors.
 *
 * Vector sources:
 *  - AES-256-GCM: McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", test cases
 *    13 to 16 (the 256-bit key cases, also in NIST's gcmEncryptExtIV256 style).
 *  - HKDF-SHA256: RFC 5869, appendix A, test cases 1 to 3.
 *  - HMAC-SHA256: RFC 4231, test cases 1, 2, 6 and 7.
 *  - SHA-256: FIPS 180-2 appendix B.1 ("abc") and the empty message.
 *  - base64: RFC 4648 section 10.
 *  - FF1: NIST's "FF1samples.pdf" (SP 800-38G examples), samples 1 to 9, cross-checked against
 *    @noble/ciphers 2.4.0's ff1.js; the radix-2, 63-numeral answers of the id permutation were
 *    computed with that same implementation (key 00 01 .. 1f).
 * The sealing tests run once per algorithm: AES-256-GCM and the XChaCha20-Poly1305 fallback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto_int.h"

#define BUF_MAX 512
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static int g_aes_ok; /* set in main: the CPU runs AES-256-GCM */

/* Decodes a hex string of known-good test data into out; returns the byte count. */
static size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    size_t i;
    unsigned v;

    assert_true(strlen(hex) % 2 == 0);
    assert_true(n <= cap);
    for (i = 0; i < n; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void assert_hex_equal(const uint8_t *got, size_t n, const char *want_hex)
{
    uint8_t want[BUF_MAX];
    size_t wn = hex_decode(want_hex, want, sizeof(want));

    assert_int_equal(n, wn);
    assert_memory_equal(got, want, n);
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7);
}

/* --- init -------------------------------------------------------------------------------- */

static void test_init_idempotent(void **state)
{
    cu_err err = {CU_OK, ""};
    (void)state;

    if (g_aes_ok) {
        assert_int_equal(cu_crypto_init(0, &err), CU_OK);
        assert_int_equal(cu_crypto_init(0, &err), CU_OK);
        assert_int_equal(cu_crypto_init(1, &err), CU_OK);
        assert_int_equal(cu_crypto_alg(), CU_AEAD_ALG_AES256GCM);
    } else {
        assert_int_equal(cu_crypto_init(0, &err), CU_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "--allow-xchacha"));
        assert_int_equal(cu_crypto_init(1, &err), CU_OK);
        assert_int_equal(cu_crypto_alg(), CU_AEAD_ALG_XCHACHA);
    }
}

/* --- AES-256-GCM known answers ----------------------------------------------------------- */

typedef struct gcm_vector {
    const char *name;
    const char *key, *iv, *pt, *aad, *ct, *tag;
} gcm_vector;

#define GCM_K1 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define GCM_IV1 "cafebabefacedbaddecaf888"
#define GCM_P60                                                                                    \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                             \
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define GCM_C60                                                                                    \
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"                             \
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"

static const gcm_vector gcm_vectors[] = {
    {"gcm test case 13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"gcm test case 14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"gcm test case 15", GCM_K1, GCM_IV1, GCM_P60 "1aafd255", "", GCM_C60 "898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"gcm test case 16", GCM_K1, GCM_IV1, GCM_P60, "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     GCM_C60, "76fc6ece0f4e1768cddf8853bb2d551b"},
};

static void test_aes256gcm_vectors(void **state)
{
    size_t i;
    (void)state;

    if (!g_aes_ok)
        skip();
    for (i = 0; i < ARRAY_LEN(gcm_vectors); i++) {
        const gcm_vector *v = &gcm_vectors[i];
        uint8_t key[32], iv[12], pt[BUF_MAX], aad[BUF_MAX], sealed[BUF_MAX], back[BUF_MAX];
        size_t ptlen, aadlen, n;

        assert_int_equal(hex_decode(v->key, key, sizeof(key)), 32);
        assert_int_equal(hex_decode(v->iv, iv, sizeof(iv)), 12);
        ptlen = hex_decode(v->pt, pt, sizeof(pt));
        aadlen = hex_decode(v->aad, aad, sizeof(aad));

        assert_int_equal(cu_aes256gcm_raw_seal(key, iv, pt, ptlen, aad, aadlen, sealed), CU_OK);
        assert_hex_equal(sealed, ptlen, v->ct);
        assert_hex_equal(sealed + ptlen, 16, v->tag);

        n = ptlen + 16;
        memset(back, 0xee, sizeof(back));
        assert_int_equal(cu_aes256gcm_raw_open(key, iv, sealed, n, aad, aadlen, back), CU_OK);
        assert_memory_equal(back, pt, ptlen);

        /* One flipped bit anywhere (ciphertext, tag, aad) must be caught. */
        sealed[n - 1] ^= 0x01;
        assert_int_equal(cu_aes256gcm_raw_open(key, iv, sealed, n, aad, aadlen, back),
                         CU_ERR_CRYPTO);
        sealed[n - 1] ^= 0x01;
        if (ptlen > 0) {
            sealed[0] ^= 0x80;
            assert_int_equal(cu_aes256gcm_raw_open(key, iv, sealed, n, aad, aadlen, back),
                             CU_ERR_CRYPTO);
            sealed[0] ^= 0x80;
        }
        if (aadlen > 0) {
            aad[aadlen / 2] ^= 0x10;
            assert_int_equal(cu_aes256gcm_raw_open(key, iv, sealed, n, aad, aadlen, back),
                             CU_ERR_CRYPTO);
            aad[aadlen / 2] ^= 0x10;
        }
        iv[11] ^= 0x01;
        assert_int_equal(cu_aes256gcm_raw_open(key, iv, sealed, n, aad, aadlen, back),
                         CU_ERR_CRYPTO);
        assert_int_equal(cu_aes256gcm_raw_open(key, iv, sealed, 15, aad, aadlen, back),
                         CU_ERR_INVALID);
    }
}

/* --- HMAC, HKDF, SHA-256 ------------------------------------------------------------------ */

static void test_hmac_sha256_rfc4231(void **state)
{
    uint8_t key[BUF_MAX], out[CU_HASHBYTES];
    static const char tc6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char tc7[] =
        "This is a test using a larger than block-size key and a larger than block-size data. "
        "The key needs to be hashed before being used by the HMAC algorithm.";
    (void)state;

    memset(key, 0x0b, 20); /* case 1 */
    cu_hmac_sha256(key, 20, (const uint8_t *)"Hi There", 8, out);
    assert_hex_equal(out, sizeof(out),
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    cu_hmac_sha256((const uint8_t *)"Jefe", 4, /* case 2: a key shorter than the output */
                   (const uint8_t *)"what do ya want for nothing?", 28, out);
    assert_hex_equal(out, sizeof(out),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    memset(key, 0xaa, 131); /* cases 6 and 7: a 131-byte key, longer than the block */
    cu_hmac_sha256(key, 131, (const uint8_t *)tc6, strlen(tc6), out);
    assert_hex_equal(out, sizeof(out),
                     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    cu_hmac_sha256(key, 131, (const uint8_t *)tc7, strlen(tc7), out);
    assert_hex_equal(out, sizeof(out),
                     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

typedef struct hkdf_vector {
    const char *ikm, *salt, *info;
    size_t len;
    const char *prk, *okm;
} hkdf_vector;

static const hkdf_vector hkdf_vectors[] = {
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", 42, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     82, "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

static void test_hkdf_rfc5869(void **state)
{
    size_t i;
    (void)state;

    for (i = 0; i < ARRAY_LEN(hkdf_vectors); i++) {
        const hkdf_vector *v = &hkdf_vectors[i];
        uint8_t ikm[BUF_MAX], salt[BUF_MAX], info[BUF_MAX], prk[CU_HASHBYTES], okm[BUF_MAX];
        size_t ikmlen = hex_decode(v->ikm, ikm, sizeof(ikm));
        size_t saltlen = hex_decode(v->salt, salt, sizeof(salt));
        size_t infolen = hex_decode(v->info, info, sizeof(info));

        /* Case 3 has no salt: pass NULL, as a caller without one would. */
        cu_hkdf_extract(saltlen ? salt : NULL, saltlen, ikm, ikmlen, prk);
        assert_hex_equal(prk, sizeof(prk), v->prk);
        assert_int_equal(cu_hkdf_expand(prk, info, infolen, okm, v->len), CU_OK);
        assert_hex_equal(okm, v->len, v->okm);

        memset(okm, 0, sizeof(okm));
        assert_int_equal(cu_hkdf(salt, saltlen, ikm, ikmlen, info, infolen, okm, v->len), CU_OK);
        assert_hex_equal(okm, v->len, v->okm);
    }
}

static void test_hkdf_limits(void **state)
{
    uint8_t prk[CU_HASHBYTES], a[CU_HASHBYTES];
    uint8_t *big = malloc(255 * 32 + 1);
    (void)state;

    assert_non_null(big);
    memset(prk, 7, sizeof(prk));
    assert_int_equal(cu_hkdf_expand(prk, NULL, 0, big, 255 * 32), CU_OK);
    assert_int_equal(cu_hkdf_expand(prk, NULL, 0, big, 255 * 32 + 1), CU_ERR_INVALID);
    assert_int_equal(cu_hkdf_expand(prk, NULL, 0, big, 0), CU_OK);
    /* The output may overwrite the PRK it is derived from. */
    assert_int_equal(cu_hkdf_expand(prk, (const uint8_t *)"x", 1, a, sizeof(a)), CU_OK);
    assert_int_equal(cu_hkdf_expand(prk, (const uint8_t *)"x", 1, prk, sizeof(prk)), CU_OK);
    assert_memory_equal(prk, a, sizeof(a));
    free(big);
}

static void test_sha256(void **state)
{
    uint8_t out[CU_HASHBYTES];
    (void)state;

    cu_sha256((const uint8_t *)"abc", 3, out);
    assert_hex_equal(out, sizeof(out),
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cu_sha256(NULL, 0, out);
    assert_hex_equal(out, sizeof(out),
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* --- sealing, once per algorithm ----------------------------------------------------------- */

static int alg_aes = CU_AEAD_ALG_AES256GCM;
static int alg_xchacha = CU_AEAD_ALG_XCHACHA;

static const uint8_t test_key[CU_KEYBYTES] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                              12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                              23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static int setup_alg(void **state)
{
    cu_crypto_force_alg(*(int *)*state);
    return 0;
}

/* Puts back what cu_crypto_init chose, so tests do not leak their choice. */
static int teardown_alg(void **state)
{
    (void)state;
    cu_crypto_force_alg(g_aes_ok ? CU_AEAD_ALG_AES256GCM : CU_AEAD_ALG_XCHACHA);
    return 0;
}

static size_t nonce_len(int alg)
{
    return alg == CU_AEAD_ALG_AES256GCM ? 12 : 24;
}

/* Skips AES runs on a CPU without AES-NI; returns the algorithm under test. */
static int alg_under_test(void **state)
{
    int alg = *(int *)*state;

    if (alg == CU_AEAD_ALG_AES256GCM && !g_aes_ok)
        skip();
    assert_int_equal(cu_crypto_alg(), alg);
    return alg;
}

static cu_aead *aead_new_or_fail(const uint8_t *key)
{
    cu_aead *a = NULL;

    assert_int_equal(cu_aead_new(key, &a), CU_OK);
    assert_non_null(a);
    return a;
}

static void test_seal_roundtrip(void **state)
{
    int alg = alg_under_test(state);
    static const uint8_t ad[] = "tenant=1|collection=users|record=9|field=email|v=1";
    uint8_t pt[300], sealed[400], back[400];
    size_t lens[] = {0, 1, 15, 16, 17, 256, 300};
    size_t i, n, m;
    cu_aead *a = aead_new_or_fail(test_key);

    fill_pattern(pt, sizeof(pt), 3);
    for (i = 0; i < ARRAY_LEN(lens); i++) {
        assert_int_equal(cu_aead_sealed_len(lens[i]), 1 + nonce_len(alg) + lens[i] + 16);
        assert_int_equal(cu_aead_seal(a, pt, lens[i], ad, sizeof(ad), sealed, sizeof(sealed), &n),
                         CU_OK);
        assert_int_equal(n, cu_aead_sealed_len(lens[i]));
        assert_int_equal(sealed[0], alg);
        assert_int_equal(cu_aead_open(a, sealed, n, ad, sizeof(ad), back, sizeof(back), &m), CU_OK);
        assert_int_equal(m, lens[i]);
        assert_memory_equal(back, pt, m);
        /* Without associated data too, and with the exact output size. */
        assert_int_equal(cu_aead_seal(a, pt, lens[i], NULL, 0, sealed, n, &n), CU_OK);
        assert_int_equal(cu_aead_open(a, sealed, n, NULL, 0, back, lens[i], &m), CU_OK);
        assert_memory_equal(back, pt, m);
    }
    cu_aead_free(a);
    cu_aead_free(NULL);
}

/* Associated data beyond the stack buffer takes the heap path; it must bind just the same. */
static void test_seal_long_ad(void **state)
{
    uint8_t ad[2000], pt[40], sealed[100], back[100];
    size_t n, m;
    cu_aead *a;

    alg_under_test(state);
    a = aead_new_or_fail(test_key);
    fill_pattern(ad, sizeof(ad), 1);
    fill_pattern(pt, sizeof(pt), 2);
    assert_int_equal(cu_aead_seal(a, pt, sizeof(pt), ad, sizeof(ad), sealed, sizeof(sealed), &n),
                     CU_OK);
    assert_int_equal(cu_aead_open(a, sealed, n, ad, sizeof(ad), back, sizeof(back), &m), CU_OK);
    assert_memory_equal(back, pt, sizeof(pt));
    ad[sizeof(ad) - 1] ^= 1;
    assert_int_equal(cu_aead_open(a, sealed, n, ad, sizeof(ad), back, sizeof(back), &m),
                     CU_ERR_CRYPTO);
    cu_aead_free(a);
}

static void test_seal_tamper_every_bit(void **state)
{
    static const uint8_t pt[] = "hello";
    static const uint8_t ad[] = "ad";
    uint8_t sealed[64], back[64];
    size_t n, m, i;
    int bit;
    cu_aead *a;

    alg_under_test(state);
    a = aead_new_or_fail(test_key);
    assert_int_equal(cu_aead_seal(a, pt, 5, ad, 2, sealed, sizeof(sealed), &n), CU_OK);
    for (i = 0; i < n; i++) {
        for (bit = 0; bit < 8; bit++) {
            cu_rc rc;

            sealed[i] ^= (uint8_t)(1u << bit);
            memset(back, 0x55, sizeof(back));
            rc = cu_aead_open(a, sealed, n, ad, 2, back, sizeof(back), &m);
            /* Byte 0 names the algorithm: a flip there names none. */
            assert_int_equal(rc, i == 0 ? CU_ERR_INVALID : CU_ERR_CRYPTO);
            assert_int_equal(m, 0);
            sealed[i] ^= (uint8_t)(1u << bit);
        }
        /* A whole-byte change as well. */
        sealed[i] ^= 0xff;
        assert_int_not_equal(cu_aead_open(a, sealed, n, ad, 2, back, sizeof(back), &m), CU_OK);
        sealed[i] ^= 0xff;
    }
    assert_int_equal(cu_aead_open(a, sealed, n, ad, 2, back, sizeof(back), &m), CU_OK);
    assert_memory_equal(back, pt, 5);
    cu_aead_free(a);
}

static void test_seal_wrong_ad(void **state)
{
    static const uint8_t pt[] = "secret";
    uint8_t sealed[64], back[64];
    size_t n, m;
    cu_aead *a;

    alg_under_test(state);
    a = aead_new_or_fail(test_key);
    assert_int_equal(
        cu_aead_seal(a, pt, 6, (const uint8_t *)"record=1", 8, sealed, sizeof(sealed), &n), CU_OK);
    assert_int_equal(
        cu_aead_open(a, sealed, n, (const uint8_t *)"record=2", 8, back, sizeof(back), &m),
        CU_ERR_CRYPTO);
    assert_int_equal(
        cu_aead_open(a, sealed, n, (const uint8_t *)"record=1", 7, back, sizeof(back), &m),
        CU_ERR_CRYPTO);
    assert_int_equal(cu_aead_open(a, sealed, n, NULL, 0, back, sizeof(back), &m), CU_ERR_CRYPTO);
    cu_aead_free(a);
}

static void test_seal_wrong_key(void **state)
{
    static const uint8_t pt[] = "secret";
    uint8_t other[CU_KEYBYTES], sealed[64], back[64];
    size_t n, m;
    cu_aead *a, *b;

    alg_under_test(state);
    memcpy(other, test_key, sizeof(other));
    other[31] ^= 1;
    a = aead_new_or_fail(test_key);
    b = aead_new_or_fail(other);
    assert_int_equal(cu_aead_seal(a, pt, 6, NULL, 0, sealed, sizeof(sealed), &n), CU_OK);
    assert_int_equal(cu_aead_open(b, sealed, n, NULL, 0, back, sizeof(back), &m), CU_ERR_CRYPTO);
    cu_aead_free(a);
    cu_aead_free(b);
}

static void test_seal_truncated(void **state)
{
    int alg = alg_under_test(state);
    static const uint8_t pt[] = "0123456789";
    uint8_t sealed[64], back[64];
    size_t n, m, len;
    size_t min = 1 + nonce_len(alg) + 16;
    cu_aead *a = aead_new_or_fail(test_key);

    assert_int_equal(cu_aead_seal(a, pt, 10, NULL, 0, sealed, sizeof(sealed), &n), CU_OK);
    for (len = 0; len < min; len++)
        assert_int_equal(cu_aead_open(a, sealed, len, NULL, 0, back, sizeof(back), &m),
                         CU_ERR_INVALID);
    for (len = min; len < n; len++)
        assert_int_equal(cu_aead_open(a, sealed, len, NULL, 0, back, sizeof(back), &m),
                         CU_ERR_CRYPTO);
    /* Unknown algorithm bytes. */
    sealed[0] = 0;
    assert_int_equal(cu_aead_open(a, sealed, n, NULL, 0, back, sizeof(back), &m), CU_ERR_INVALID);
    sealed[0] = 3;
    assert_int_equal(cu_aead_open(a, sealed, n, NULL, 0, back, sizeof(back), &m), CU_ERR_INVALID);
    sealed[0] = 255;
    assert_int_equal(cu_aead_open(a, sealed, n, NULL, 0, back, sizeof(back), &m), CU_ERR_INVALID);
    cu_aead_free(a);
}

static void test_seal_outcap(void **state)
{
    static const uint8_t pt[] = "0123456789";
    uint8_t sealed[64], back[64];
    size_t n, m, need;
    cu_aead *a;

    alg_under_test(state);
    a = aead_new_or_fail(test_key);
    need = cu_aead_sealed_len(10);
    assert_int_equal(cu_aead_seal(a, pt, 10, NULL, 0, sealed, need - 1, &n), CU_ERR_LIMIT);
    assert_int_equal(cu_aead_seal(a, pt, 10, NULL, 0, sealed, 0, &n), CU_ERR_LIMIT);
    assert_int_equal(cu_aead_seal(a, pt, 10, NULL, 0, sealed, need, &n), CU_OK);
    assert_int_equal(cu_aead_open(a, sealed, n, NULL, 0, back, 9, &m), CU_ERR_LIMIT);
    assert_int_equal(cu_aead_open(a, sealed, n, NULL, 0, back, 10, &m), CU_OK);
    assert_int_equal(m, 10);
    cu_aead_free(a);
}

static void test_seal_nonce_fresh(void **state)
{
    int alg = alg_under_test(state);
    static const uint8_t pt[] = "same plaintext";
    uint8_t s1[64], s2[64];
    size_t n1, n2;
    cu_aead *a = aead_new_or_fail(test_key);

    assert_int_equal(cu_aead_seal(a, pt, sizeof(pt), NULL, 0, s1, sizeof(s1), &n1), CU_OK);
    assert_int_equal(cu_aead_seal(a, pt, sizeof(pt), NULL, 0, s2, sizeof(s2), &n2), CU_OK);
    assert_int_equal(n1, n2);
    assert_memory_not_equal(s1 + 1, s2 + 1, nonce_len(alg));
    assert_memory_not_equal(s1, s2, n1);
    cu_aead_free(a);
}

/* The algorithm travels in the sealed buffer: switching the choice for new seals leaves old
 * buffers readable. */
static void test_seal_alg_travels(void **state)
{
    static const uint8_t pt[] = "portable";
    uint8_t by_aes[64], by_xchacha[64], back[64];
    size_t na, nx, m;
    cu_aead *a;
    (void)state;

    if (!g_aes_ok)
        skip();
    a = aead_new_or_fail(test_key);
    cu_crypto_force_alg(CU_AEAD_ALG_AES256GCM);
    assert_int_equal(cu_aead_seal(a, pt, 8, NULL, 0, by_aes, sizeof(by_aes), &na), CU_OK);
    cu_crypto_force_alg(CU_AEAD_ALG_XCHACHA);
    assert_int_equal(cu_aead_seal(a, pt, 8, NULL, 0, by_xchacha, sizeof(by_xchacha), &nx), CU_OK);
    assert_int_equal(na, 1 + 12 + 8 + 16);
    assert_int_equal(nx, 1 + 24 + 8 + 16);

    assert_int_equal(cu_aead_open(a, by_aes, na, NULL, 0, back, sizeof(back), &m), CU_OK);
    assert_memory_equal(back, pt, 8);
    cu_crypto_force_alg(CU_AEAD_ALG_AES256GCM);
    assert_int_equal(cu_aead_open(a, by_xchacha, nx, NULL, 0, back, sizeof(back), &m), CU_OK);
    assert_memory_equal(back, pt, 8);
    /* Relabelling an AES buffer as XChaCha (same bytes after it) must not open. */
    by_aes[0] = CU_AEAD_ALG_XCHACHA;
    assert_int_not_equal(cu_aead_open(a, by_aes, na, NULL, 0, back, sizeof(back), &m), CU_OK);
    cu_aead_free(a);
}

/* --- key wrapping -------------------------------------------------------------------------- */

static void test_key_wrap(void **state)
{
    int alg = alg_under_test(state);
    uint8_t kek[CU_KEYBYTES], key[CU_KEYBYTES], back[CU_KEYBYTES], w[CU_WRAPPED_MAX];
    static const uint8_t ad[] = "tenant=5|key=data|v=2";
    size_t n;

    cu_random(kek, sizeof(kek));
    cu_random(key, sizeof(key));
    assert_int_equal(cu_key_wrap(kek, key, ad, sizeof(ad), w, &n), CU_OK);
    assert_int_equal(n, 1 + nonce_len(alg) + CU_KEYBYTES + 16);
    assert_true(n <= CU_WRAPPED_MAX);
    assert_int_equal(w[0], alg);
    assert_int_equal(cu_key_unwrap(kek, w, n, ad, sizeof(ad), back), CU_OK);
    assert_memory_equal(back, key, sizeof(key));
    cu_wipe(back, sizeof(back));
}

static void test_key_wrap_refusals(void **state)
{
    uint8_t kek[CU_KEYBYTES], other[CU_KEYBYTES], key[CU_KEYBYTES], back[CU_KEYBYTES];
    uint8_t w[CU_WRAPPED_MAX];
    static const uint8_t ad[] = "tenant=5|key=data|v=2";
    static const uint8_t ad2[] = "tenant=5|key=data|v=3";
    size_t n;

    alg_under_test(state);
    cu_random(kek, sizeof(kek));
    cu_random(key, sizeof(key));
    memcpy(other, kek, sizeof(other));
    other[0] ^= 0x01;
    assert_int_equal(cu_key_wrap(kek, key, ad, sizeof(ad), w, &n), CU_OK);

    memset(back, 0x5a, sizeof(back));
    assert_int_equal(cu_key_unwrap(other, w, n, ad, sizeof(ad), back), CU_ERR_CRYPTO);
    assert_memory_not_equal(back, key, sizeof(key));
    assert_int_equal(cu_key_unwrap(kek, w, n, ad2, sizeof(ad2), back), CU_ERR_CRYPTO);
    assert_int_equal(cu_key_unwrap(kek, w, n, NULL, 0, back), CU_ERR_CRYPTO);
    w[n - 1] ^= 0x40;
    assert_int_equal(cu_key_unwrap(kek, w, n, ad, sizeof(ad), back), CU_ERR_CRYPTO);
    w[n - 1] ^= 0x40;
    assert_int_equal(cu_key_unwrap(kek, w, n - 1, ad, sizeof(ad), back), CU_ERR_INVALID);
    assert_int_equal(cu_key_unwrap(kek, w, 0, ad, sizeof(ad), back), CU_ERR_INVALID);
    assert_int_equal(cu_key_unwrap(kek, w, n, ad, sizeof(ad), back), CU_OK);
    assert_memory_equal(back, key, sizeof(key));
}

/* --- blind index --------------------------------------------------------------------------- */

static void test_blind_index(void **state)
{
    uint8_t k1[CU_KEYBYTES], k2[CU_KEYBYTES], a[CU_BLINDBYTES], b[CU_BLINDBYTES];
    uint8_t msg[64], mac[CU_HASHBYTES];
    static const uint8_t v[] = "alice@example.com";
    size_t vlen = sizeof(v) - 1;
    (void)state;

    memset(k1, 0x11, sizeof(k1));
    memset(k2, 0x22, sizeof(k2));
    cu_blind_index(k1, "email", v, vlen, a);
    cu_blind_index(k1, "email", v, vlen, b);
    assert_memory_equal(a, b, sizeof(a));

    /* Exactly HMAC(key, domain | 0x00 | value). */
    memcpy(msg, "email", 5);
    msg[5] = 0x00;
    memcpy(msg + 6, v, vlen);
    cu_hmac_sha256(k1, sizeof(k1), msg, 6 + vlen, mac);
    assert_memory_equal(a, mac, sizeof(a));

    cu_blind_index(k1, "phone", v, vlen, b);
    assert_memory_not_equal(a, b, sizeof(a));
    cu_blind_index(k2, "email", v, vlen, b);
    assert_memory_not_equal(a, b, sizeof(a));
    cu_blind_index(k1, "email", v, vlen - 1, b);
    assert_memory_not_equal(a, b, sizeof(a));

    /* The separator keeps domain and value apart. */
    cu_blind_index(k1, "ab", (const uint8_t *)"c", 1, a);
    cu_blind_index(k1, "a", (const uint8_t *)"bc", 2, b);
    assert_memory_not_equal(a, b, sizeof(a));
    cu_blind_index(k1, "email", NULL, 0, a);
    cu_blind_index(k1, "email", (const uint8_t *)"", 0, b);
    assert_memory_equal(a, b, sizeof(a));
}

/* --- passwords and passphrases ----------------------------------------------------------- */

static void test_password(void **state)
{
    char h1[CU_PWHASH_STRBYTES], h2[CU_PWHASH_STRBYTES], bad[CU_PWHASH_STRBYTES];
    static const char pw[] = "correct horse battery staple";
    size_t pwlen = sizeof(pw) - 1;
    (void)state;

    assert_int_equal(cu_password_hash(pw, pwlen, h1), CU_OK);
    assert_int_equal(strncmp(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
    assert_int_equal(cu_password_verify(h1, pw, pwlen), CU_OK);
    assert_int_equal(cu_password_verify(h1, pw, pwlen - 1), CU_ERR_AUTH);
    assert_int_equal(cu_password_verify(h1, "Correct horse battery staple", pwlen), CU_ERR_AUTH);
    assert_int_equal(cu_password_verify(h1, "", 0), CU_ERR_AUTH);

    /* A fresh salt each time. */
    assert_int_equal(cu_password_hash(pw, pwlen, h2), CU_OK);
    assert_string_not_equal(h1, h2);

    assert_int_equal(cu_password_verify("", pw, pwlen), CU_ERR_INVALID);
    assert_int_equal(cu_password_verify("not a hash", pw, pwlen), CU_ERR_INVALID);
    assert_int_equal(cu_password_verify("$argon2id$garbage", pw, pwlen), CU_ERR_INVALID);
    assert_int_equal(cu_password_verify(NULL, pw, pwlen), CU_ERR_INVALID);
    /* Truncating a real hash makes it garbage, not a mismatch. */
    memcpy(bad, h1, sizeof(bad));
    bad[strlen(bad) - 30] = '\0';
    assert_int_equal(cu_password_verify(bad, pw, pwlen), CU_ERR_INVALID);
    /* An argon2i string is not one we write. */
    memcpy(bad, h1, sizeof(bad));
    memmove(bad + 8, bad + 9, strlen(bad + 9) + 1); /* "$argon2id$" -> "$argon2i$" */
    assert_int_equal(cu_password_verify(bad, pw, pwlen), CU_ERR_INVALID);
    /* No NUL within CU_PWHASH_STRBYTES. */
    memset(bad, 'a', sizeof(bad));
    assert_int_equal(cu_password_verify(bad, pw, pwlen), CU_ERR_INVALID);
}

static void test_kdf_passphrase(void **state)
{
    uint8_t s1[CU_KDF_SALTBYTES], s2[CU_KDF_SALTBYTES];
    uint8_t a[CU_KEYBYTES], b[CU_KEYBYTES];
    static const char pw[] = "a long passphrase";
    const uint64_t ops = 1; /* the minimum: this test is about wiring, not cost */
    const size_t mem = 64 * 1024;
    (void)state;

    memset(s1, 1, sizeof(s1));
    memset(s2, 2, sizeof(s2));
    assert_int_equal(cu_kdf_passphrase(pw, sizeof(pw) - 1, s1, ops, mem, a), CU_OK);
    assert_int_equal(cu_kdf_passphrase(pw, sizeof(pw) - 1, s1, ops, mem, b), CU_OK);
    assert_memory_equal(a, b, sizeof(a));
    assert_int_equal(cu_kdf_passphrase(pw, sizeof(pw) - 1, s2, ops, mem, b), CU_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(cu_kdf_passphrase(pw, sizeof(pw) - 2, s1, ops, mem, b), CU_OK);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(cu_kdf_passphrase(pw, sizeof(pw) - 1, s1, ops + 1, mem, b), CU_OK);
    assert_memory_not_equal(a, b, sizeof(a));

    assert_int_equal(cu_kdf_passphrase(pw, sizeof(pw) - 1, s1, 0, mem, b), CU_ERR_INVALID);
    assert_int_equal(cu_kdf_passphrase(pw, sizeof(pw) - 1, s1, ops, 1024, b), CU_ERR_INVALID);
}

/* --- encodings ----------------------------------------------------------------------------- */

static void test_b64_rfc4648(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char out[64];
    uint8_t bin[64];
    size_t i, n;
    (void)state;

    for (i = 0; i < ARRAY_LEN(plain); i++) {
        size_t len = strlen(plain[i]);

        assert_int_equal(cu_b64_len(len), strlen(enc[i]) + 1);
        assert_int_equal(cu_b64_encode((const uint8_t *)plain[i], len, out, sizeof(out)), CU_OK);
        assert_string_equal(out, enc[i]);
        assert_int_equal(cu_b64_decode(enc[i], strlen(enc[i]), bin, sizeof(bin), &n), CU_OK);
        assert_int_equal(n, len);
        assert_memory_equal(bin, plain[i], len);
    }
}

static void test_b64_roundtrip(void **state)
{
    uint8_t in[100], bin[100];
    char out[200];
    size_t len, n;
    (void)state;

    for (len = 0; len <= sizeof(in); len++) {
        cu_random(in, len);
        assert_int_equal(cu_b64_encode(in, len, out, cu_b64_len(len)), CU_OK);
        assert_int_equal(strlen(out) + 1, cu_b64_len(len));
        assert_int_equal(cu_b64_decode(out, strlen(out), bin, len, &n), CU_OK);
        assert_int_equal(n, len);
        assert_memory_equal(bin, in, len);
    }
}

static void test_b64_rejects(void **state)
{
    static const char *const bad[] = {
        "Zg",           /* padding missing */
        "Zg=",          /* padding short */
        "Zh==",         /* non-zero unused bits: a second spelling of "f" */
        "Zm9=",         /* same, one padding character */
        "Z===",         /* one character cannot hold a byte */
        "Zm9v\n",       /* trailing newline */
        " Zm9v",        /* leading space */
        "Zm9 v",        /* inner space */
        "Zm9vYg==Zg==", /* data after padding */
        "Zm9v====",     /* padding without data */
        "Zm-v",         /* URL-safe alphabet */
        "Zm_v",         /* URL-safe alphabet */
        "Zm9vYg=a",     /* padding then data */
        "====",
    };
    uint8_t bin[64];
    char out[64];
    size_t i, n;
    (void)state;

    for (i = 0; i < ARRAY_LEN(bad); i++) {
        n = 99;
        assert_int_equal(cu_b64_decode(bad[i], strlen(bad[i]), bin, sizeof(bin), &n),
                         CU_ERR_INVALID);
        assert_int_equal(n, 0);
    }
    /* An embedded NUL inside the given length. */
    assert_int_equal(cu_b64_decode("Zm\0v", 4, bin, sizeof(bin), &n), CU_ERR_INVALID);
    /* Too little room is a limit, not a malformation. */
    assert_int_equal(cu_b64_decode("Zm9vYmFy", 8, bin, 5, &n), CU_ERR_LIMIT);
    assert_int_equal(cu_b64_decode("Zm9vYmFy", 8, bin, 6, &n), CU_OK);
    assert_int_equal(cu_b64_encode((const uint8_t *)"foobar", 6, out, 8), CU_ERR_LIMIT);
    assert_int_equal(cu_b64_encode((const uint8_t *)"foobar", 6, out, 9), CU_OK);
    assert_string_equal(out, "Zm9vYmFy");
}

static void test_hex(void **state)
{
    static const uint8_t in[] = {0x00, 0x01, 0xab, 0xff};
    char out[9];
    (void)state;

    cu_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "0001abff");
    cu_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

/* --- FF1 format-preserving encryption ------------------------------------------------------ */

#define FF1_KEY128 "2B7E151628AED2A6ABF7158809CF4F3C"
#define FF1_KEY192 FF1_KEY128 "EF4359D8D580AA4F"
#define FF1_KEY256 FF1_KEY192 "7F036D6F04FC6A94"
#define FF1_TWEAK10 "39383736353433323130"
#define FF1_TWEAK36 "3737373770717273373737"
#define ID_END (UINT64_C(1) << 63)

struct ff1_sample {
    const char *key, *tweak;
    unsigned radix;
    const char *pt, *ct;
};

/* Numerals of a string in base 36 ("0".."9", "a".."z"). */
static size_t ff1_digits(const char *s, uint8_t *out)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        out[i] = (uint8_t)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
    return i;
}

static void test_fpe_ff1_nist_samples(void **state)
{
    static const struct ff1_sample samples[] = {
        {FF1_KEY128, "", 10, "0123456789", "2433477484"},
        {FF1_KEY128, FF1_TWEAK10, 10, "0123456789", "6124200773"},
        {FF1_KEY128, FF1_TWEAK36, 36, "0123456789abcdefghi", "a9tv40mll9kdu509eum"},
        {FF1_KEY192, "", 10, "0123456789", "2830668132"},
        {FF1_KEY192, FF1_TWEAK10, 10, "0123456789", "2496655549"},
        {FF1_KEY192, FF1_TWEAK36, 36, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"},
        {FF1_KEY256, "", 10, "0123456789", "6657667009"},
        {FF1_KEY256, FF1_TWEAK10, 10, "0123456789", "1001623463"},
        {FF1_KEY256, FF1_TWEAK36, 36, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"},
    };
    uint8_t key[32], tweak[16], pt[32], ct[32], out[32];
    size_t i, klen, tlen, n;
    cu_fpe *f;
    (void)state;

    for (i = 0; i < ARRAY_LEN(samples); i++) {
        klen = hex_decode(samples[i].key, key, sizeof(key));
        tlen = hex_decode(samples[i].tweak, tweak, sizeof(tweak));
        n = ff1_digits(samples[i].pt, pt);
        assert_int_equal(ff1_digits(samples[i].ct, ct), n);
        assert_int_equal(cu_fpe_new_len(key, klen, &f), CU_OK);
        assert_int_equal(cu_fpe_ff1(f, 1, samples[i].radix, tweak, tlen, pt, out, n), CU_OK);
        assert_memory_equal(out, ct, n);
        assert_int_equal(cu_fpe_ff1(f, 0, samples[i].radix, tweak, tlen, ct, out, n), CU_OK);
        assert_memory_equal(out, pt, n);
        cu_fpe_free(f);
    }
}

/* Beyond the samples: a 64-byte tweak (Q over five blocks), halves of 63 bits (b = 8, d = 12)
 * and radix 36 with 12-numeral halves, under key 00 01 .. 1f, tweak ff fe fd ... (its first 64
 * or 13 bytes); the answers are @noble/ciphers 2.4.0's. */
static void test_fpe_ff1_other_answers(void **state)
{
    static const struct ff1_sample cases[] = {
        {NULL, NULL, 10, "0123456789", "4882245353"},
        {NULL, NULL, 2,
         "10101010101010101010101010101010101010101010101010101010101010"
         "10101010101010101010101010101010101010101010101010101010101010"
         "10",
         "10010011001001001011101100100111010101001010111101010110100000"
         "10101110110001101100000011011001101001110010011101001010000111"
         "00"},
        {NULL, NULL, 36, "zyxwvutsrqponmlkjihgfedc", "bl1db0k1wvdxggsjhixwrone"},
    };
    static const size_t tlens[] = {64, 0, 13};
    uint8_t key[32], tweak[64], pt[128], ct[128], out[128];
    size_t i, n;
    cu_fpe *f;
    (void)state;

    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    for (i = 0; i < sizeof(tweak); i++)
        tweak[i] = (uint8_t)(255 - i);
    assert_int_equal(cu_fpe_new(key, &f), CU_OK);
    for (i = 0; i < ARRAY_LEN(cases); i++) {
        n = ff1_digits(cases[i].pt, pt);
        assert_int_equal(ff1_digits(cases[i].ct, ct), n);
        assert_int_equal(cu_fpe_ff1(f, 1, cases[i].radix, tweak, tlens[i], pt, out, n), CU_OK);
        assert_memory_equal(out, ct, n);
        assert_int_equal(cu_fpe_ff1(f, 0, cases[i].radix, tweak, tlens[i], ct, out, n), CU_OK);
        assert_memory_equal(out, pt, n);
    }
    cu_fpe_free(f);
}

static void test_fpe_ff1_refusals(void **state)
{
    uint8_t key[32] = {0}, tweak[CU_FPE_TWEAK_MAX + 1] = {0}, x[128] = {0}, y[128];
    cu_fpe *f;
    (void)state;

    assert_int_equal(cu_fpe_new_len(key, 20, &f), CU_ERR_INVALID);
    assert_null(f);
    assert_int_equal(cu_fpe_new(key, &f), CU_OK);
    /* radix 10, n 6: the smallest domain the standard allows; n 5 is too small. */
    assert_int_equal(cu_fpe_ff1(f, 1, 10, NULL, 0, x, y, 6), CU_OK);
    assert_int_equal(cu_fpe_ff1(f, 1, 10, NULL, 0, x, y, 5), CU_ERR_INVALID);
    assert_int_equal(cu_fpe_ff1(f, 1, 2, NULL, 0, x, y, 19), CU_ERR_INVALID);
    assert_int_equal(cu_fpe_ff1(f, 1, 2, NULL, 0, x, y, 20), CU_OK);
    assert_int_equal(cu_fpe_ff1(f, 1, 1, NULL, 0, x, y, 40), CU_ERR_INVALID);
    assert_int_equal(cu_fpe_ff1(f, 1, 37, NULL, 0, x, y, 8), CU_ERR_INVALID);
    /* A half must fit in 64 bits: 2^63 does, 2^64 does not. */
    assert_int_equal(cu_fpe_ff1(f, 1, 2, NULL, 0, x, y, 126), CU_OK);
    assert_int_equal(cu_fpe_ff1(f, 1, 2, NULL, 0, x, y, 127), CU_ERR_INVALID);
    assert_int_equal(cu_fpe_ff1(f, 1, 10, tweak, CU_FPE_TWEAK_MAX, x, y, 8), CU_OK);
    assert_int_equal(cu_fpe_ff1(f, 1, 10, tweak, CU_FPE_TWEAK_MAX + 1, x, y, 8), CU_ERR_INVALID);
    assert_int_equal(cu_fpe_ff1(f, 1, 10, NULL, 3, x, y, 8), CU_ERR_INVALID);
    x[7] = 10; /* not a decimal numeral */
    memset(y, 0xee, sizeof(y));
    assert_int_equal(cu_fpe_ff1(f, 1, 10, NULL, 0, x, y, 8), CU_ERR_INVALID);
    assert_int_equal(y[0], 0xee);
    cu_fpe_free(f);
    cu_fpe_free(NULL);
}

/* cu_fpe_id(x), when it is not 0 before cycle walking, is FF1 over x's 63 bits: checked against
 * the generic code and, for key 00 01 .. 1f, against answers of another implementation. */
static void check_id_matches_ff1(const cu_fpe *f, uint64_t x, uint64_t want)
{
    uint8_t bits[63];
    uint64_t y = 0;
    int i;

    for (i = 0; i < 63; i++)
        bits[i] = (uint8_t)(x >> (62 - i) & 1);
    assert_int_equal(cu_fpe_ff1(f, 1, 2, NULL, 0, bits, bits, 63), CU_OK);
    for (i = 0; i < 63; i++)
        y = y << 1 | bits[i];
    if (want != 0)
        assert_true(y == want);
    assert_true(y != 0);
    assert_true(cu_fpe_id(f, x) == y);
}

/* The one id whose FF1 image is 0 (found with the generic decryption) is walked on to FF1(0),
 * and back. */
static void check_id_walks_past_zero(const cu_fpe *f)
{
    uint8_t bits[63] = {0};
    uint64_t pre = 0, next = 0;
    int i;

    assert_int_equal(cu_fpe_ff1(f, 0, 2, NULL, 0, bits, bits, 63), CU_OK);
    for (i = 0; i < 63; i++)
        pre = pre << 1 | bits[i];
    memset(bits, 0, sizeof(bits));
    assert_int_equal(cu_fpe_ff1(f, 1, 2, NULL, 0, bits, bits, 63), CU_OK);
    for (i = 0; i < 63; i++)
        next = next << 1 | bits[i];
    assert_true(pre != 0 && next != 0);
    assert_true(cu_fpe_id(f, pre) == next);
    assert_true(cu_fpe_id_inverse(f, next) == pre);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void test_fpe_id_is_a_permutation(void **state)
{
    static const uint64_t known[][2] = {
        {1, UINT64_C(0x47d82fe93490f6ce)},
        {2, UINT64_C(0x23bc59fb3f17377a)},
        {0x12345678, UINT64_C(0x75fcf492854f927e)},
        {UINT64_C(0x7fffffffffffffff), UINT64_C(0x3ae7d97774cbc13f)},
        {UINT64_C(0x0123456789abcdef), UINT64_C(0x0de8cb784e169891)},
    };
    const uint64_t n = 0x10000;
    uint8_t key[32];
    uint64_t *out = malloc(n * sizeof(*out));
    uint64_t x, y, same = 0;
    cu_fpe *f, *g;
    size_t i;
    (void)state;

    assert_non_null(out);
    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    assert_int_equal(cu_fpe_new(key, &f), CU_OK);
    key[0] ^= 1;
    assert_int_equal(cu_fpe_new(key, &g), CU_OK);
    for (i = 0; i < ARRAY_LEN(known); i++)
        check_id_matches_ff1(f, known[i][0], known[i][1]);
    check_id_walks_past_zero(f);
    check_id_walks_past_zero(g);
    for (x = 1; x <= n; x++) {
        y = cu_fpe_id(f, x);
        assert_true(y >= 1 && y < ID_END);
        assert_true(cu_fpe_id_inverse(f, y) == x);
        same += cu_fpe_id(g, x) == y;
        out[x - 1] = y;
        if (x % 4096 == 0)
            check_id_matches_ff1(f, x, 0);
    }
    qsort(out, n, sizeof(*out), cmp_u64);
    for (i = 1; i < n; i++)
        assert_true(out[i - 1] != out[i]);
    assert_true(same == 0);
    for (x = ID_END - 4096; x < ID_END; x++) {
        y = cu_fpe_id(f, x);
        assert_true(y >= 1 && y < ID_END);
        assert_true(cu_fpe_id_inverse(f, y) == x);
        assert_true(cu_fpe_id(f, cu_fpe_id_inverse(f, x)) == x);
    }
    assert_true(cu_fpe_id(f, 0) == 0 && cu_fpe_id(f, ID_END) == 0);
    assert_true(cu_fpe_id(f, UINT64_MAX) == 0);
    assert_true(cu_fpe_id_inverse(f, 0) == 0 && cu_fpe_id_inverse(f, ID_END) == 0);
    cu_fpe_free(g);
    cu_fpe_free(f);
    free(out);
}

/* --- small helpers ------------------------------------------------------------------------- */

static void test_ct_equal(void **state)
{
    uint8_t a[32], b[32];
    (void)state;

    memset(a, 9, sizeof(a));
    memset(b, 9, sizeof(b));
    assert_int_equal(cu_ct_equal(a, b, sizeof(a)), 1);
    b[31] = 8;
    assert_int_equal(cu_ct_equal(a, b, sizeof(a)), 0);
    assert_int_equal(cu_ct_equal(a, b, 31), 1);
    b[0] = 8;
    assert_int_equal(cu_ct_equal(a, b, sizeof(a)), 0);
    assert_int_equal(cu_ct_equal(a, b, 0), 1);
}

static void test_random_id(void **state)
{
    cu_id seen_or = 0;
    int i;
    (void)state;

    for (i = 0; i < 200000; i++) {
        cu_id id = cu_random_id();

        assert_true(id != 0);
        assert_true((id >> 63) == 0);
        seen_or |= id;
    }
    /* Every one of the 63 bits turned up at least once. */
    assert_true(seen_or == UINT64_C(0x7fffffffffffffff));
}

static void test_random_and_wipe(void **state)
{
    uint8_t a[32], b[32], zero[32] = {0};
    (void)state;

    cu_random(a, sizeof(a));
    cu_random(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    cu_wipe(a, sizeof(a));
    assert_memory_equal(a, zero, sizeof(a));
    cu_wipe(NULL, 0);
    cu_random(NULL, 0);
}

static void test_secure_memory(void **state)
{
    uint8_t *p = cu_secure_alloc(100);
    uint8_t buf[64];
    uint8_t zero[64] = {0};
    cu_rc rc;
    (void)state;

    assert_non_null(p);
    memset(p, 0x42, 100);
    assert_int_equal(p[99], 0x42);
    cu_secure_free(p);
    cu_secure_free(NULL);

    memset(buf, 0x42, sizeof(buf));
    rc = cu_mlock(buf, sizeof(buf));
    /* A container may forbid locking; then the refusal must be an io error. */
    assert_true(rc == CU_OK || rc == CU_ERR_IO);
    if (rc == CU_OK) {
        cu_munlock(buf, sizeof(buf));
        assert_memory_equal(buf, zero, sizeof(buf)); /* sodium_munlock wipes */
    }
}

/* Named "test/alg" so cmocka's report tells the two runs apart. */
/* clang-format off */
#define ALG_TEST(f, alg, suffix) {#f "/" suffix, f, setup_alg, teardown_alg, &(alg)}
/* clang-format on */
#define ALG_TESTS(f) ALG_TEST(f, alg_aes, "aes256gcm"), ALG_TEST(f, alg_xchacha, "xchacha")

/* cu_random_public hands out each byte of its buffer once, and a child of fork() never repeats
 * what its parent hands out next: both would otherwise take the same bytes from the copy of the
 * buffer they share at the fork (the same AEAD nonce under the same key). */
static void test_random_public_never_repeats_across_fork(void **state)
{
    uint8_t a[16], b[16], parent[16], child[16], big[1000] = {0}, zero[1000] = {0};
    int fds[2];
    pid_t pid;

    (void)state;
    cu_random_public(a, sizeof(a));
    cu_random_public(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    cu_random_public(big, sizeof(big)); /* larger than the buffer: straight from the kernel */
    assert_memory_not_equal(big, zero, sizeof(big));
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cu_random_public(child, sizeof(child));
        _exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
    }
    cu_random_public(parent, sizeof(parent));
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    close(fds[0]);
    close(fds[1]);
    assert_memory_not_equal(parent, child, sizeof(parent));
}

int main(void)
{
    cu_err err = {CU_OK, ""};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_idempotent),
        cmocka_unit_test(test_random_public_never_repeats_across_fork),
        cmocka_unit_test(test_aes256gcm_vectors),
        cmocka_unit_test(test_hmac_sha256_rfc4231),
        cmocka_unit_test(test_hkdf_rfc5869),
        cmocka_unit_test(test_hkdf_limits),
        cmocka_unit_test(test_sha256),
        ALG_TESTS(test_seal_roundtrip),
        ALG_TESTS(test_seal_long_ad),
        ALG_TESTS(test_seal_tamper_every_bit),
        ALG_TESTS(test_seal_wrong_ad),
        ALG_TESTS(test_seal_wrong_key),
        ALG_TESTS(test_seal_truncated),
        ALG_TESTS(test_seal_outcap),
        ALG_TESTS(test_seal_nonce_fresh),
        cmocka_unit_test(test_seal_alg_travels),
        ALG_TESTS(test_key_wrap),
        ALG_TESTS(test_key_wrap_refusals),
        cmocka_unit_test(test_blind_index),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_kdf_passphrase),
        cmocka_unit_test(test_b64_rfc4648),
        cmocka_unit_test(test_b64_roundtrip),
        cmocka_unit_test(test_b64_rejects),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_fpe_ff1_nist_samples),
        cmocka_unit_test(test_fpe_ff1_other_answers),
        cmocka_unit_test(test_fpe_ff1_refusals),
        cmocka_unit_test(test_fpe_id_is_a_permutation),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_random_and_wipe),
        cmocka_unit_test(test_secure_memory),
    };

    /* XChaCha is allowed here so the suite also runs on CPUs without AES-NI; test_init
     * checks the refusal without it. */
    if (cu_crypto_init(1, &err) != CU_OK) {
        fprintf(stderr, "cu_crypto_init: %s\n", err.msg);
        return 1;
    }
    g_aes_ok = cu_crypto_alg() == CU_AEAD_ALG_AES256GCM;
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
