/*
 * fpe.c: format-preserving encryption, FF1 of NIST SP 800-38G (section 6.1, Algorithms 7 and 8)
 * over nettle's AES, and the record id permutation built on it.
 *
 * FF1 is a ten-round Feistel network over a string of n numerals in a radix; each round's
 * function is AES-CBC-MAC (zero IV) over P || Q, P naming the parameters and Q the tweak, the
 * round number and one half. Here both halves are held as numbers (NUM_radix) in a uint64_t, so
 * radix^ceil(n/2) must stay below 2^64; then b <= 8 and d <= 12, so S is R's first d bytes and
 * no extra AES blocks are ever needed (step 6.iii).
 *
 * The id permutation is FF1 with radix 2, n = 63 and an empty tweak, over the 63 bits of an id
 * most significant first, with cycle walking so that 0 is never an output: a bijection of
 * [1, 2^63). It is written out for that one case (halves of 31 and 32 bits, one CBC-MAC block
 * after the constant P, whose encryption is kept in the context): ten AES blocks per call.
 *
 * The context (expanded AES key) lives in guarded, locked memory and is wiped on free. The
 * generic function wipes its working state (its numerals may be personal data); the id
 * permutation does not, ids being public and the call hot.
 */
#include <string.h>

#include <nettle/aes.h>

#include "crypto.h"

#define FF1_ROUNDS 10
#define FF1_BLOCK 16
#define FF1_DOMAIN_MIN 1000000 /* radix^n must be at least this (SP 800-38G, section 5.2) */
/* Q: tweak, up to 15 zero bytes, the round number and NUM_radix(half) in at most 8 bytes. */
#define FF1_QMAX (CU_FPE_TWEAK_MAX + 15 + 1 + 8)

/* The id permutation: n = 63, u = 31, v = 32, b = 4, d = 8. */
#define ID_U 31
#define ID_V 32
#define ID_MAX (UINT64_C(1) << 63)

struct cu_fpe {
    union {
        struct aes128_ctx a128;
        struct aes192_ctx a192;
        struct aes256_ctx a256;
    } aes;
    size_t keylen;           /* 16, 24 or 32: which of aes holds the key */
    uint8_t id_p[FF1_BLOCK]; /* CIPH(P) for radix 2, n 63, no tweak: the id's first MAC block */
};

/* One FF1 computation's parameters (steps 1 to 5). */
typedef struct ff1_par {
    unsigned radix;
    size_t n, u, v;
    size_t b, d;
    uint64_t pow_u, pow_v; /* radix^u, radix^v */
    size_t qlen;
    uint8_t q[FF1_QMAX];     /* T || zeros, then [i] and [NUM(half)]^b per round */
    uint8_t mac0[FF1_BLOCK]; /* CIPH(P): the CBC-MAC state after P */
} ff1_par;

static void ciph(const cu_fpe *f, uint8_t out[FF1_BLOCK], const uint8_t in[FF1_BLOCK])
{
    if (f->keylen == 32)
        aes256_encrypt(&f->aes.a256, FF1_BLOCK, out, in);
    else if (f->keylen == 24)
        aes192_encrypt(&f->aes.a192, FF1_BLOCK, out, in);
    else
        aes128_encrypt(&f->aes.a128, FF1_BLOCK, out, in);
}

/* P of step 5: [1] [2] [1] [radix]^3 [10] [u mod 256] [n]^4 [t]^4. */
static void ff1_p(uint8_t p[FF1_BLOCK], unsigned radix, size_t u, size_t n, size_t t)
{
    p[0] = 1;
    p[1] = 2;
    p[2] = 1;
    p[3] = (uint8_t)(radix >> 16);
    p[4] = (uint8_t)(radix >> 8);
    p[5] = (uint8_t)radix;
    p[6] = 10;
    p[7] = (uint8_t)(u & 0xff);
    p[8] = (uint8_t)(n >> 24);
    p[9] = (uint8_t)(n >> 16);
    p[10] = (uint8_t)(n >> 8);
    p[11] = (uint8_t)n;
    p[12] = (uint8_t)(t >> 24);
    p[13] = (uint8_t)(t >> 16);
    p[14] = (uint8_t)(t >> 8);
    p[15] = (uint8_t)t;
}

static cu_rc fpe_alloc(cu_fpe **out)
{
    /* sodium_malloc ends the block at a guard page: a size rounded to 16 keeps it aligned. */
    size_t sz = (sizeof(cu_fpe) + 15) & ~(size_t)15;

    *out = cu_secure_alloc(sz);
    return *out != NULL ? CU_OK : CU_ERR_NOMEM;
}

cu_rc cu_fpe_new_len(const uint8_t *key, size_t len, cu_fpe **out)
{
    uint8_t p[FF1_BLOCK];
    cu_fpe *f;
    cu_rc rc;

    *out = NULL;
    if (key == NULL || (len != 16 && len != 24 && len != 32))
        return CU_ERR_INVALID;
    rc = fpe_alloc(&f);
    if (rc != CU_OK)
        return rc;
    f->keylen = len;
    if (len == 16)
        aes128_set_encrypt_key(&f->aes.a128, key);
    else if (len == 24)
        aes192_set_encrypt_key(&f->aes.a192, key);
    else
        aes256_set_encrypt_key(&f->aes.a256, key);
    ff1_p(p, 2, ID_U, ID_U + ID_V, 0);
    ciph(f, f->id_p, p);
    *out = f;
    return CU_OK;
}

cu_rc cu_fpe_new(const uint8_t key[CU_KEYBYTES], cu_fpe **out)
{
    return cu_fpe_new_len(key, CU_KEYBYTES, out);
}

void cu_fpe_free(cu_fpe *f)
{
    cu_secure_free(f); /* sodium_free wipes the block */
}

/* radix^k into *out; 0 if it does not fit in 64 bits. */
static int ipow(unsigned radix, size_t k, uint64_t *out)
{
    uint64_t r = 1;

    while (k-- > 0)
        if (__builtin_mul_overflow(r, (uint64_t)radix, &r))
            return 0;
    *out = r;
    return 1;
}

/* Steps 1 to 5 and the constant part of Q; CU_ERR_INVALID for parameters FF1 (as bounded
 * here) does not take. */
static cu_rc ff1_setup(const cu_fpe *f, unsigned radix, const uint8_t *tweak, size_t tlen, size_t n,
                       ff1_par *par)
{
    uint8_t p[FF1_BLOCK];
    unsigned bits = 0;
    uint64_t top;

    if (radix < 2 || radix > CU_FPE_RADIX_MAX || n < 2 || tlen > CU_FPE_TWEAK_MAX ||
        (tweak == NULL && tlen > 0))
        return CU_ERR_INVALID;
    par->radix = radix;
    par->n = n;
    par->u = n / 2;
    par->v = n - par->u;
    if (!ipow(radix, par->v, &par->pow_v) || !ipow(radix, par->u, &par->pow_u))
        return CU_ERR_INVALID;
    if ((unsigned __int128)par->pow_u * par->pow_v < FF1_DOMAIN_MIN)
        return CU_ERR_INVALID;
    /* b = ceil(ceil(v log2 radix) / 8): the bit length of radix^v - 1 is ceil(v log2 radix),
     * whether radix is a power of two (exact) or not (v log2 radix is then no integer). */
    for (top = par->pow_v - 1; top != 0; top >>= 1)
        bits++;
    par->b = (bits + 7) / 8;
    par->d = 4 * ((par->b + 3) / 4) + 4;
    par->qlen = tlen + (16 - (tlen + par->b + 1) % 16) % 16 + 1 + par->b;
    memset(par->q, 0, sizeof(par->q));
    if (tlen > 0)
        memcpy(par->q, tweak, tlen);
    ff1_p(p, radix, par->u, n, tlen);
    ciph(f, par->mac0, p);
    return CU_OK;
}

/* Steps 6.i to 6.iv: y = NUM(S) for round i over the half numbered num. */
static unsigned __int128 ff1_round_y(const cu_fpe *f, ff1_par *par, unsigned i, uint64_t num)
{
    uint8_t r[FF1_BLOCK];
    uint8_t x[FF1_BLOCK];
    unsigned __int128 y = 0;
    size_t k, j;

    par->q[par->qlen - par->b - 1] = (uint8_t)i;
    for (k = 0; k < par->b; k++)
        par->q[par->qlen - 1 - k] = (uint8_t)(num >> (8 * k));
    memcpy(r, par->mac0, FF1_BLOCK);
    for (k = 0; k < par->qlen; k += FF1_BLOCK) {
        for (j = 0; j < FF1_BLOCK; j++)
            x[j] = r[j] ^ par->q[k + j];
        ciph(f, r, x);
    }
    for (k = 0; k < par->d; k++)
        y = (y << 8) | r[k];
    cu_wipe(r, sizeof(r));
    cu_wipe(x, sizeof(x));
    return y;
}

/* NUM_radix of k numerals; CU_ERR_INVALID if one is not below radix. */
static cu_rc ff1_num(const uint8_t *x, size_t k, unsigned radix, uint64_t *out)
{
    uint64_t v = 0;
    size_t j;

    for (j = 0; j < k; j++) {
        if (x[j] >= radix)
            return CU_ERR_INVALID;
        v = v * radix + x[j];
    }
    *out = v;
    return CU_OK;
}

/* STR^k_radix(v): k numerals, most significant first. */
static void ff1_str(uint64_t v, size_t k, unsigned radix, uint8_t *out)
{
    while (k-- > 0) {
        out[k] = (uint8_t)(v % radix);
        v /= radix;
    }
}

cu_rc cu_fpe_ff1(const cu_fpe *f, int encrypt, unsigned radix, const uint8_t *tweak, size_t tlen,
                 const uint8_t *in, uint8_t *out, size_t n)
{
    ff1_par par;
    uint64_t a, b, c, mod;
    unsigned __int128 y;
    unsigned i, r;
    cu_rc rc;

    if (f == NULL || in == NULL || out == NULL)
        return CU_ERR_INVALID;
    rc = ff1_setup(f, radix, tweak, tlen, n, &par);
    if (rc == CU_OK)
        rc = ff1_num(in, par.u, radix, &a);
    if (rc == CU_OK)
        rc = ff1_num(in + par.u, par.v, radix, &b);
    if (rc != CU_OK)
        goto out;
    for (r = 0; r < FF1_ROUNDS; r++) {
        i = encrypt ? r : FF1_ROUNDS - 1 - r;
        mod = i % 2 == 0 ? par.pow_u : par.pow_v;
        if (encrypt) { /* Algorithm 7: C = (A + y) mod radix^m; A = B; B = C */
            y = ff1_round_y(f, &par, i, b) % mod;
            c = (uint64_t)(((unsigned __int128)a + y) % mod);
            a = b;
            b = c;
        } else { /* Algorithm 8: C = (B - y) mod radix^m; B = A; A = C */
            y = ff1_round_y(f, &par, i, a) % mod;
            c = (uint64_t)(((unsigned __int128)b + mod - y) % mod);
            b = a;
            a = c;
        }
    }
    ff1_str(a, par.u, radix, out);
    ff1_str(b, par.v, radix, out + par.u);
out:
    cu_wipe(&par, sizeof(par));
    return rc;
}

/* y = NUM_2(S) for the id permutation's round i over the 32-bit half h: Q is 11 zero bytes,
 * [i]^1 and [h]^4, one block after P. */
static uint64_t id_round_y(const cu_fpe *f, unsigned i, uint64_t h)
{
    uint8_t x[FF1_BLOCK];
    uint8_t r[FF1_BLOCK];
    uint64_t y = 0;
    unsigned k;

    memcpy(x, f->id_p, FF1_BLOCK);
    x[11] ^= (uint8_t)i;
    x[12] ^= (uint8_t)(h >> 24);
    x[13] ^= (uint8_t)(h >> 16);
    x[14] ^= (uint8_t)(h >> 8);
    x[15] ^= (uint8_t)h;
    ciph(f, r, x);
    for (k = 0; k < 8; k++)
        y = (y << 8) | r[k];
    return y;
}

/* FF1 with radix 2, n 63, no tweak, on x < 2^63: A is the top 31 bits, B the low 32; adding
 * mod 2^m is masking. */
static uint64_t id_ff1(const cu_fpe *f, int encrypt, uint64_t x)
{
    uint64_t a = x >> ID_V;
    uint64_t b = x & 0xffffffffu;
    uint64_t c, mask;
    unsigned i, r;

    for (r = 0; r < FF1_ROUNDS; r++) {
        i = encrypt ? r : FF1_ROUNDS - 1 - r;
        mask = i % 2 == 0 ? (UINT64_C(1) << ID_U) - 1 : (UINT64_C(1) << ID_V) - 1;
        if (encrypt) {
            c = (a + id_round_y(f, i, b)) & mask;
            a = b;
            b = c;
        } else {
            c = (b - id_round_y(f, i, a)) & mask;
            b = a;
            a = c;
        }
    }
    return a << ID_V | b;
}

/* Cycle walking: FF1 permutes [0, 2^63); stepping on past 0 restricts it to [1, 2^63). Since
 * 0 has a single preimage, one extra step at most. */
uint64_t cu_fpe_id(const cu_fpe *f, uint64_t x)
{
    uint64_t y;

    if (x == 0 || x >= ID_MAX)
        return 0;
    y = id_ff1(f, 1, x);
    while (y == 0)
        y = id_ff1(f, 1, y);
    return y;
}

uint64_t cu_fpe_id_inverse(const cu_fpe *f, uint64_t y)
{
    uint64_t x;

    if (y == 0 || y >= ID_MAX)
        return 0;
    x = id_ff1(f, 0, y);
    while (x == 0)
        x = id_ff1(f, 0, x);
    return x;
}
