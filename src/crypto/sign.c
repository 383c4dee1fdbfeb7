/*
 * sign.c: Ed25519 signatures (libsodium crypto_sign) for the audit log's checkpoints
 * (P-AUD-2): detached signatures a tenant can check with the public key alone.
 */
#include <sodium.h>

#include "crypto.h"

_Static_assert(crypto_sign_PUBLICKEYBYTES == CU_SIGN_PKBYTES, "ed25519 public key");
_Static_assert(crypto_sign_SECRETKEYBYTES == CU_SIGN_SKBYTES, "ed25519 secret key");
_Static_assert(crypto_sign_BYTES == CU_SIGNBYTES, "ed25519 signature");
_Static_assert(crypto_sign_SEEDBYTES == CU_SIGN_SEEDBYTES, "ed25519 seed");

cu_rc cu_sign_keypair(uint8_t pk[CU_SIGN_PKBYTES], uint8_t sk[CU_SIGN_SKBYTES])
{
    if (sodium_init() < 0 || crypto_sign_keypair(pk, sk) != 0)
        return CU_ERR_CRYPTO;
    return CU_OK;
}

cu_rc cu_sign_seed_keypair(const uint8_t seed[CU_SIGN_SEEDBYTES], uint8_t pk[CU_SIGN_PKBYTES],
                           uint8_t sk[CU_SIGN_SKBYTES])
{
    if (sodium_init() < 0 || crypto_sign_seed_keypair(pk, sk, seed) != 0)
        return CU_ERR_CRYPTO;
    return CU_OK;
}

cu_rc cu_sign_seed(const uint8_t sk[CU_SIGN_SKBYTES], uint8_t seed[CU_SIGN_SEEDBYTES])
{
    return crypto_sign_ed25519_sk_to_seed(seed, sk) == 0 ? CU_OK : CU_ERR_CRYPTO;
}

cu_rc cu_sign_public(const uint8_t sk[CU_SIGN_SKBYTES], uint8_t pk[CU_SIGN_PKBYTES])
{
    return crypto_sign_ed25519_sk_to_pk(pk, sk) == 0 ? CU_OK : CU_ERR_CRYPTO;
}

void cu_sign(const uint8_t sk[CU_SIGN_SKBYTES], const uint8_t *m, size_t n,
             uint8_t sig[CU_SIGNBYTES])
{
    crypto_sign_detached(sig, NULL, m, n, sk);
}

int cu_sign_verify(const uint8_t pk[CU_SIGN_PKBYTES], const uint8_t *m, size_t n,
                   const uint8_t sig[CU_SIGNBYTES])
{
    return crypto_sign_verify_detached(sig, m, n, pk) == 0;
}
