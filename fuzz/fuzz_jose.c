/*
 * fuzz_jose.c: libFuzzer target for the ID token verifier (src/crypto/jose.c, P-ACC-5).
 *
 * The input is a token and a key set, split at the first newline (no newline: all token, and a
 * key set of one RSA and one P-256 key made at start). Checks that cu_jose_verify_id_token never
 * crashes, reads past either or leaks; that a refusal keeps its contract (CU_ERR_AUTH with a
 * reason, CU_ERR_INVALID for a key set that is not one, the claims zeroed); and that nothing it
 * was handed is accepted, since no input is signed by the generated keys' private halves.
 *
 * An input that starts with "{" is one JWK object instead, fed straight to the key-import path
 * (cu_jose_jwk_importable: the member checks, then libcjose's import), which a token rarely
 * reaches: libcjose's base64 decoder asserts on some key members (review finding 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>

#include "jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *g_jwks;

/* {"keys":[rsa, ec]}, public halves, made once. */
static void make_jwks(void)
{
    static const uint8_t e[] = {1, 0, 1};
    cjose_err ce;
    cjose_jwk_t *r = cjose_jwk_create_RSA_random(2048, e, sizeof(e), &ce);
    cjose_jwk_t *ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &ce);
    char *a, *b;
    size_t n;

    if (r == NULL || ec == NULL || !cjose_jwk_set_kid(r, "r1", 2, &ce) ||
        !cjose_jwk_set_kid(ec, "e1", 2, &ce))
        abort();
    a = cjose_jwk_to_json(r, false, &ce);
    b = cjose_jwk_to_json(ec, false, &ce);
    if (a == NULL || b == NULL)
        abort();
    n = strlen(a) + strlen(b) + 16;
    if ((g_jwks = malloc(n)) == NULL)
        abort();
    snprintf(g_jwks, n, "{\"keys\":[%s,%s]}", a, b);
    free(a);
    free(b);
    cjose_jwk_release(r);
    cjose_jwk_release(ec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cu_jose_expect x = {
        .issuer = "https://idp.example", .client_id = "custos", .nonce = "n1", .now = 1800000000};
    const uint8_t *nl = memchr(data, '\n', size);
    size_t tlen = nl ? (size_t)(nl - data) : size;
    char *tok = malloc(tlen + 1), *jwks = NULL;
    cu_jose_reason why = CU_JOSE_OK;
    cu_jose_claims c;
    cu_err err;
    cu_rc rc;

    if (g_jwks == NULL)
        make_jwks();
    if (tok == NULL)
        abort();
    if (size > 0 && data[0] == '{') {
        (void)cu_jose_jwk_importable((const char *)data, size);
        free(tok);
        return 0;
    }
    memcpy(tok, data, tlen);
    tok[tlen] = '\0';
    if (nl != NULL) {
        /* The key set exactly as given, not NUL-terminated: its length bounds the reader. */
        size_t jlen = size - tlen - 1;
        if ((jwks = malloc(jlen ? jlen : 1)) == NULL)
            abort();
        memcpy(jwks, nl + 1, jlen);
        rc = cu_jose_verify_id_token(tok, jwks, jlen, &x, &c, &why, &err);
    } else {
        rc = cu_jose_verify_id_token(tok, g_jwks, strlen(g_jwks), &x, &c, &why, &err);
    }
    memset(&err, 0, sizeof(err));
    if (rc == CU_OK && nl == NULL)
        abort(); /* accepted a token no generated key signed */
    if (rc == CU_ERR_AUTH && why == CU_JOSE_OK)
        abort();
    if (rc != CU_OK && rc != CU_ERR_AUTH && rc != CU_ERR_INVALID && rc != CU_ERR_LIMIT &&
        rc != CU_ERR_NOMEM)
        abort();
    if (rc != CU_OK && (c.sub[0] != '\0' || c.email[0] != '\0' || c.exp != 0))
        abort();
    free(tok);
    free(jwks);
    return 0;
}
