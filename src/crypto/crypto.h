/*
 * crypto.h: the face of src/crypto/, the only place in Custos that includes <sodium.h>.
 *
 * Primitives: AEAD (AES-256-GCM, or XChaCha20-Poly1305 where the operator allowed the fallback
 * on a CPU without AES-NI), key wrapping, HKDF-SHA256, HMAC-SHA256 blind indexes, SHA-256,
 * random bytes, constant-time comparison, wiping, locked memory, Argon2id, base64, and FF1
 * format-preserving encryption (NIST SP 800-38G) for the record id permutation.
 *
 * Invariants: every plaintext key buffer this module creates is wiped before it is released;
 * functions that can fail are warn_unused_result; no libsodium type crosses this header.
 *
 * Sealed format (what cu_aead_seal writes and cu_key_wrap writes):
 *   alg (1 byte: 1 = AES-256-GCM, 2 = XChaCha20-Poly1305) | nonce (12 or 24) | ciphertext | tag (16)
 * The alg byte is authenticated together with the caller's associated data.
 */
#ifndef CU_CRYPTO_H
#define CU_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

#define CU_WUR __attribute__((warn_unused_result))

#define CU_KEYBYTES 32
#define CU_HASHBYTES 32
#define CU_BLINDBYTES 32
#define CU_AEAD_TAGBYTES 16
#define CU_AEAD_ALG_AES256GCM 1
#define CU_AEAD_ALG_XCHACHA 2
/* Largest overhead of any algorithm: alg byte + 24-byte nonce + tag. */
#define CU_AEAD_MAX_OVERHEAD (1 + 24 + CU_AEAD_TAGBYTES)
#define CU_WRAPPED_MAX (CU_KEYBYTES + CU_AEAD_MAX_OVERHEAD)
#define CU_PWHASH_STRBYTES 128
#define CU_KDF_SALTBYTES 16

/* Initializes libsodium and picks the AEAD. Fails with CU_ERR_UNSUPPORTED if the CPU lacks
 * AES-NI and allow_xchacha is 0 (the promise says AES-256; the message says so). Idempotent. */
cu_rc cu_crypto_init(int allow_xchacha, cu_err *err) CU_WUR;

/* The algorithm used for new seals: CU_AEAD_ALG_AES256GCM or CU_AEAD_ALG_XCHACHA. */
int cu_crypto_alg(void);

/* Exact sealed length for a plaintext of ptlen bytes under the current algorithm. */
size_t cu_aead_sealed_len(size_t ptlen);

/* An AEAD key with its precomputed state, in guarded locked memory. */
typedef struct cu_aead cu_aead;

/* Makes an AEAD context from a 32-byte key (copied; the caller wipes its own copy).
 * Caller owns *out and releases it with cu_aead_free(). */
cu_rc cu_aead_new(const uint8_t key[CU_KEYBYTES], cu_aead **out) CU_WUR;
/* Wipes and frees. NULL is a no-op. */
void cu_aead_free(cu_aead *a);

/* Seals pt with a fresh random nonce, binding ad. out must hold cu_aead_sealed_len(ptlen).
 * Returns CU_ERR_LIMIT if outcap is too small. */
cu_rc cu_aead_seal(const cu_aead *a, const uint8_t *pt, size_t ptlen, const uint8_t *ad,
                   size_t adlen, uint8_t *out, size_t outcap, size_t *outlen) CU_WUR;
/* Opens a sealed buffer; CU_ERR_CRYPTO if it was altered, moved (other ad) or sealed under
 * another key; CU_ERR_INVALID if it is too short or names an unknown algorithm. out needs
 * ctlen bytes at most. On failure nothing of out is meaningful. */
cu_rc cu_aead_open(const cu_aead *a, const uint8_t *ct, size_t ctlen, const uint8_t *ad,
                   size_t adlen, uint8_t *out, size_t outcap, size_t *outlen) CU_WUR;

/* One-shot forms of seal and open for a key used once: the AES key schedule is expanded on the
 * stack and wiped, which costs far less than cu_aead_new() (guarded, locked memory: ~40 us). */
cu_rc cu_aead_seal_key(const uint8_t key[CU_KEYBYTES], const uint8_t *pt, size_t ptlen,
                       const uint8_t *ad, size_t adlen, uint8_t *out, size_t outcap,
                       size_t *outlen) CU_WUR;
cu_rc cu_aead_open_key(const uint8_t key[CU_KEYBYTES], const uint8_t *ct, size_t ctlen,
                       const uint8_t *ad, size_t adlen, uint8_t *out, size_t outcap,
                       size_t *outlen) CU_WUR;

/* Wraps a 32-byte key under kek, binding ad (which names the wrapped key's identity and
 * version). out holds CU_WRAPPED_MAX bytes. */
cu_rc cu_key_wrap(const uint8_t kek[CU_KEYBYTES], const uint8_t key[CU_KEYBYTES],
                  const uint8_t *ad, size_t adlen, uint8_t out[CU_WRAPPED_MAX],
                  size_t *outlen) CU_WUR;
/* Unwraps into key (32 bytes); CU_ERR_CRYPTO on a wrong kek, altered bytes or other ad. */
cu_rc cu_key_unwrap(const uint8_t kek[CU_KEYBYTES], const uint8_t *wrapped, size_t wlen,
                    const uint8_t *ad, size_t adlen, uint8_t key[CU_KEYBYTES]) CU_WUR;

/* HKDF-SHA256 (RFC 5869). outlen at most 255 * 32. */
void cu_hkdf_extract(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                     uint8_t prk[CU_HASHBYTES]);
cu_rc cu_hkdf_expand(const uint8_t prk[CU_HASHBYTES], const uint8_t *info, size_t infolen,
                     uint8_t *out, size_t outlen) CU_WUR;
cu_rc cu_hkdf(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
              const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen) CU_WUR;

/* HMAC-SHA256 with a key of any length. */
void cu_hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t msglen,
                    uint8_t out[CU_HASHBYTES]);

/* Keyed blind index: HMAC-SHA256(key, domain | 0x00 | value). domain separates fields, so the
 * same value in two fields gives unrelated digests. */
void cu_blind_index(const uint8_t key[CU_KEYBYTES], const char *domain, const uint8_t *value,
                    size_t len, uint8_t out[CU_BLINDBYTES]);

void cu_sha256(const uint8_t *data, size_t len, uint8_t out[CU_HASHBYTES]);

/* Ed25519 (audit checkpoints, P-AUD-2). */
#define CU_SIGN_PKBYTES 32
#define CU_SIGN_SKBYTES 64
#define CU_SIGNBYTES 64
cu_rc cu_sign_keypair(uint8_t pk[CU_SIGN_PKBYTES], uint8_t sk[CU_SIGN_SKBYTES]) CU_WUR;
cu_rc cu_sign_public(const uint8_t sk[CU_SIGN_SKBYTES], uint8_t pk[CU_SIGN_PKBYTES]) CU_WUR;
/* The 32-byte seed a secret key is made from, and the key pair made from a seed: the audit key
 * is stored as its seed, wrapped like any 32-byte key. */
#define CU_SIGN_SEEDBYTES 32
cu_rc cu_sign_seed(const uint8_t sk[CU_SIGN_SKBYTES], uint8_t seed[CU_SIGN_SEEDBYTES]) CU_WUR;
cu_rc cu_sign_seed_keypair(const uint8_t seed[CU_SIGN_SEEDBYTES], uint8_t pk[CU_SIGN_PKBYTES],
                           uint8_t sk[CU_SIGN_SKBYTES]) CU_WUR;
void cu_sign(const uint8_t sk[CU_SIGN_SKBYTES], const uint8_t *m, size_t n,
             uint8_t sig[CU_SIGNBYTES]);
/* 1 if sig is a valid signature of m under pk, else 0. */
int cu_sign_verify(const uint8_t pk[CU_SIGN_PKBYTES], const uint8_t *m, size_t n,
                   const uint8_t sig[CU_SIGNBYTES]);

void cu_random(void *buf, size_t n);
/* Random bytes for values that are public once made and whose repetition breaks nothing
 * (ids, request and write ids), never for keys nor nonces: drawn from the kernel 256 bytes at
 * a time into a buffer of the calling thread's, so one getrandom serves several values (a
 * record write made three: issue 17). Each byte is handed out once; a process forked after a
 * draw starts with an empty buffer. A process whose memory is cloned (a virtual machine's
 * snapshot restored twice) would repeat the buffer's bytes in each copy: hence no nonces. */
void cu_random_public(void *buf, size_t n);
/* A uniformly random id in [1, 2^63 - 1] (public: from cu_random_public). */
cu_id cu_random_id(void);

/* 1 if the n bytes of a and b are equal, in time independent of their contents, else 0. */
int cu_ct_equal(const void *a, const void *b, size_t n);
/* Zeroes n bytes in a way the compiler cannot remove. NULL with n 0 is fine. */
void cu_wipe(void *p, size_t n);

/* Guarded, mlock'ed allocation for key material (sodium_malloc); NULL on failure. */
void *cu_secure_alloc(size_t n);
/* The same, but NULL also when the memory could not be locked (RLIMIT_MEMLOCK), where
 * cu_secure_alloc hands out unlocked memory: for blocks larger than a key or two. */
void *cu_secure_alloc_locked(size_t n);
/* Wipes and frees memory from cu_secure_alloc or cu_secure_alloc_locked. NULL is a no-op. */
void cu_secure_free(void *p);
/* Locks n bytes at p in memory (no swap, no core dump where supported). */
cu_rc cu_mlock(void *p, size_t n) CU_WUR;
/* Wipes the n bytes at p, then unlocks them (sodium_munlock): call it when the secret is done. */
void cu_munlock(void *p, size_t n);

/* Format-preserving encryption (fpe.c): FF1 of NIST SP 800-38G (section 6.1) over AES, and the
 * record id permutation built on it. The context holds an expanded AES key in guarded, locked
 * memory; it is read only after cu_fpe_new, so threads may share it. */
#define CU_FPE_TWEAK_MAX 64
#define CU_FPE_RADIX_MAX 36
typedef struct cu_fpe cu_fpe;

/* Makes an FF1 context from a 32-byte AES-256 key (copied; the caller wipes its own copy).
 * Caller owns *out and releases it with cu_fpe_free(). */
cu_rc cu_fpe_new(const uint8_t key[CU_KEYBYTES], cu_fpe **out) CU_WUR;
/* The same for an AES key of len 16, 24 or 32 bytes (AES-128 and AES-192: NIST's samples);
 * CU_ERR_INVALID for any other length. */
cu_rc cu_fpe_new_len(const uint8_t *key, size_t len, cu_fpe **out) CU_WUR;
/* Wipes and frees. NULL is a no-op. */
void cu_fpe_free(cu_fpe *f);

/* FF1 encryption (encrypt != 0, Algorithm 7) or decryption (Algorithm 8) of the n numerals at
 * in (each 0 .. radix - 1, most significant first) into out (n numerals; may be in), under the
 * tweak of tlen bytes (NULL if 0). CU_ERR_INVALID unless 2 <= radix <= CU_FPE_RADIX_MAX,
 * n >= 2, radix^n >= 1,000,000 (the standard's minimum domain), radix^ceil(n/2) < 2^64 (this
 * implementation's bound: a half fits in 64 bits), tlen <= CU_FPE_TWEAK_MAX and every numeral
 * is below radix; out is then untouched. */
cu_rc cu_fpe_ff1(const cu_fpe *f, int encrypt, unsigned radix, const uint8_t *tweak, size_t tlen,
                 const uint8_t *in, uint8_t *out, size_t n) CU_WUR;

/* The record id permutation, a bijection of [1, 2^63): FF1 with radix 2 over the 63 bits of x
 * (most significant first), no tweak, walking the cycle on past 0 (at most one extra FF1).
 * cu_fpe_id_inverse undoes it. Both return 0 for an input outside [1, 2^63), and for nothing
 * else. About ten AES blocks a call, no allocation. */
uint64_t cu_fpe_id(const cu_fpe *f, uint64_t x);
uint64_t cu_fpe_id_inverse(const cu_fpe *f, uint64_t y);

/* Argon2id password hash as an encoded string (OWASP: m=19 MiB, t=2, p=1). */
cu_rc cu_password_hash(const char *pw, size_t pwlen, char out[CU_PWHASH_STRBYTES]) CU_WUR;
/* CU_OK if pw matches the encoded hash, CU_ERR_AUTH if not, CU_ERR_INVALID if hash is garbage. */
cu_rc cu_password_verify(const char *hash, const char *pw, size_t pwlen) CU_WUR;

/* Derives a 32-byte key from a passphrase with Argon2id (opslimit, memlimit in bytes). */
cu_rc cu_kdf_passphrase(const char *pw, size_t pwlen, const uint8_t salt[CU_KDF_SALTBYTES],
                        uint64_t opslimit, size_t memlimit, uint8_t out[CU_KEYBYTES]) CU_WUR;
/* Default Argon2id parameters for passphrase-derived keys. */
#define CU_KDF_OPSLIMIT 3ULL
#define CU_KDF_MEMLIMIT (64ULL * 1024 * 1024)
/* The weakest parameters a key file may name (RFC 9106's second recommendation, which is what
 * this build writes): a file asking for less was downgraded, or predates them, and is refused
 * rather than guarded by a cheap derivation. */
#define CU_KDF_OPSLIMIT_MIN 3ULL
#define CU_KDF_MEMLIMIT_MIN (64ULL * 1024 * 1024)

/* Standard base64 with padding. cu_b64_encode writes a NUL-terminated string; outcap needs
 * cu_b64_len(n). cu_b64_decode rejects anything that is not canonical base64. */
size_t cu_b64_len(size_t n);
cu_rc cu_b64_encode(const uint8_t *in, size_t n, char *out, size_t outcap) CU_WUR;
cu_rc cu_b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap,
                    size_t *outlen) CU_WUR;
/* Lowercase hex; out needs 2n + 1. */
void cu_hex_encode(const uint8_t *in, size_t n, char *out);

/* Authenticated encryption stream (libsodium secretstream, XChaCha20-Poly1305; stream.c), for
 * backups: a header, then messages each CU_STREAM_ABYTES longer than its plaintext, the last
 * tagged final. A message altered, dropped, reordered or a stream cut short fails to open. */
#define CU_STREAM_HEADERBYTES 24
#define CU_STREAM_ABYTES 17
typedef struct cu_stream cu_stream;
cu_rc cu_stream_push_init(const uint8_t key[CU_KEYBYTES], uint8_t header[CU_STREAM_HEADERBYTES],
                          cu_stream **out) CU_WUR;
cu_rc cu_stream_pull_init(const uint8_t key[CU_KEYBYTES],
                          const uint8_t header[CU_STREAM_HEADERBYTES], cu_stream **out) CU_WUR;
/* out needs len + CU_STREAM_ABYTES bytes. */
cu_rc cu_stream_push(cu_stream *s, const uint8_t *in, size_t len, const uint8_t *ad,
                     size_t adlen, int final, uint8_t *out, size_t *outlen) CU_WUR;
/* out needs len - CU_STREAM_ABYTES bytes; *final 1 if this was the last message.
 * CU_ERR_CRYPTO if the message does not open. */
cu_rc cu_stream_pull(cu_stream *s, const uint8_t *in, size_t len, const uint8_t *ad,
                     size_t adlen, uint8_t *out, size_t *outlen, int *final) CU_WUR;
/* Wipes and frees. NULL is a no-op. */
void cu_stream_free(cu_stream *s);

/* Incremental SHA-256: _final frees the context. NULL from _new: out of memory. */
typedef struct cu_sha256_ctx cu_sha256_ctx;
cu_sha256_ctx *cu_sha256_new(void);
void cu_sha256_update(cu_sha256_ctx *c, const uint8_t *p, size_t n);
void cu_sha256_final(cu_sha256_ctx *c, uint8_t out[CU_HASHBYTES]);

#endif
