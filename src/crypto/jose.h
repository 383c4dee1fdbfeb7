/*
 * jose.h: verification of OpenID Connect ID tokens (P-ACC-5, docs/sso.md), the face of
 * src/crypto/jose.c, the only place in Custos that includes <cjose/cjose.h>.
 *
 * An ID token is a compact JWS. It is accepted only when all of these hold: its header names
 * RS256 or ES256 (never "none", never an HMAC: the key set is public), its kid names a key of
 * the issuer's JWKS of the matching type (RSA, or EC on P-256), the signature verifies under
 * that key, iss equals the issuer, aud is (or contains) the client id, azp (if several
 * audiences) is the client id, exp is in the future and iat and nbf not in the future (each
 * within the leeway; each an integer in [0, 2^53]), nonce equals the one this login sent, and
 * an email claim fits (CU_JOSE_CLAIM_MAX: it is refused, never cut). No libcjose or jansson type
 * crosses this header.
 */
#ifndef CU_JOSE_H
#define CU_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

#define CU_JOSE_TOKEN_MAX 16384 /* the largest ID token accepted, in bytes */
#define CU_JOSE_CLAIM_MAX 256   /* iss, sub, email, with the NUL */
#define CU_JOSE_LEEWAY 60       /* seconds of clock skew allowed on exp and iat */
/* The oldest iat taken, in seconds before now (review finding 12): the token endpoint mints the
 * token during the callback, so a token issued 10 minutes before (the longest a login lasts,
 * CU_SSO_LOGIN_TTL) is not this login's, whatever its exp says. */
#define CU_JOSE_IAT_MAX_AGE 600
#define CU_JOSE_KEYS_TRIED 4 /* the most keys of a set one token is verified against */

/* Why a token was refused: a short code for the audit log, never a personal value. */
typedef enum cu_jose_reason {
    CU_JOSE_OK = 0,
    CU_JOSE_MALFORMED,   /* not a compact JWS, or its claims are not a JSON object */
    CU_JOSE_ALG,         /* alg other than RS256 or ES256 */
    CU_JOSE_UNKNOWN_KID, /* no key of the JWKS has the token's kid: refetch the JWKS once */
    CU_JOSE_SIGNATURE,   /* the signature does not verify */
    CU_JOSE_ISSUER,      /* iss is not the configured issuer */
    CU_JOSE_AUDIENCE,    /* aud does not hold the client id, or azp names another client */
    CU_JOSE_EXPIRED,     /* exp is past (beyond the leeway) or missing */
    CU_JOSE_IAT,         /* iat (or nbf) in the future (beyond the leeway), iat older than
                            CU_JOSE_IAT_MAX_AGE (beyond the leeway), or iat missing */
    CU_JOSE_NONCE,       /* nonce missing or not the one sent */
    CU_JOSE_CRIT,        /* the header names critical extensions (crit), which Custos has none of */
} cu_jose_reason;

/* What the token must say. */
typedef struct cu_jose_expect {
    const char *issuer;
    const char *client_id;
    const char *nonce;
    int64_t now; /* unix seconds */
} cu_jose_expect;

/* The claims Custos uses, from a verified token. */
typedef struct cu_jose_claims {
    char iss[CU_JOSE_CLAIM_MAX];
    char sub[CU_JOSE_CLAIM_MAX];
    char email[CU_JOSE_CLAIM_MAX]; /* "" if the token has none */
    int email_verified;            /* 1 only if the claim is the JSON true */
    int64_t exp, iat;
} cu_jose_claims;

/* Verifies the compact ID token token against the JWKS text jwks (jwks_len bytes) and x.
 * CU_OK fills *out. Otherwise CU_ERR_AUTH with *reason saying why (CU_JOSE_UNKNOWN_KID: the
 * caller may fetch the JWKS again and retry once), CU_ERR_INVALID for a JWKS that is not a
 * key set, CU_ERR_NOMEM. The message in err names no claim value. */
cu_rc cu_jose_verify_id_token(const char *token, const char *jwks, size_t jwks_len,
                              const cu_jose_expect *x, cu_jose_claims *out, cu_jose_reason *reason,
                              cu_err *err);

/* CU_OK if jwks (len bytes) is a key set Custos will keep: JSON with a "keys" array and no
 * private member (d, p, q, dp, dq, qi, oth, k) in any key; CU_ERR_INVALID otherwise. Keys of a
 * type Custos does not use pass (they are never tried). */
cu_rc cu_jose_jwks_check(const char *jwks, size_t len, cu_err *err);

/* 1 if the JWK object jwk (len bytes, not NUL-terminated) would be imported to verify a
 * signature: the same checks (RSA of 2048..8192 bits or P-256, every member canonical
 * base64url, no private member) and the same libcjose import. For fuzz_jose and the tests. */
int cu_jose_jwk_importable(const char *jwk, size_t len);

/* The reason's code as audited ("signature", "audience", ...); "ok" for CU_JOSE_OK. */
const char *cu_jose_reason_name(cu_jose_reason r);

#endif
