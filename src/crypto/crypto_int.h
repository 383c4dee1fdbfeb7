/*
 * crypto_int.h: internals of src/crypto/ that tests reach for known-answer vectors.
 * Production code must not include this: it exposes sealing with a caller-chosen nonce.
 */
#ifndef CU_CRYPTO_INT_H
#define CU_CRYPTO_INT_H

#include "crypto.h"

/* Raw AES-256-GCM with a caller-chosen 12-byte nonce, no alg byte: out = ciphertext | tag.
 * For NIST vectors only. CU_ERR_UNSUPPORTED without AES-NI. */
cu_rc cu_aes256gcm_raw_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *pt,
                            size_t ptlen, const uint8_t *ad, size_t adlen, uint8_t *out) CU_WUR;
cu_rc cu_aes256gcm_raw_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ct,
                            size_t ctlen, const uint8_t *ad, size_t adlen, uint8_t *out) CU_WUR;

/* Forces the algorithm for new seals (tests of the XChaCha fallback). */
void cu_crypto_force_alg(int alg);

#endif
