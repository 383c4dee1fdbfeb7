/*
 * jose.c: ID token verification with libcjose (jose.h, docs/sso.md, P-ACC-5).
 *
 * The order matters: the header's alg is checked before any key is looked at (alg confusion:
 * a token that says "none" or "HS256" never reaches a verify call), the key is chosen by kid
 * among the JWKS keys of the type alg needs, the signature is verified before a single claim is
 * read, and only then are iss, aud, azp, exp, iat and nonce compared. Claims are parsed by
 * Custos's strict JSON reader (util/json.h), not by jansson.
 */
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>
#include <sodium.h>

#include "crypto.h"
#include "jose.h"
#include "json.h"
#include "util.h"

#define KID_MAX 256
#define RSA_MIN_BYTES 256  /* 2048 bits: a shorter provider key is refused (RFC 7518 3.3) */
#define RSA_MAX_BYTES 1024 /* 8192 bits */
#define EC_COORD_BYTES 32  /* P-256 */

const char *cu_jose_reason_name(cu_jose_reason r)
{
    static const char *const names[] = {"ok",        "malformed", "algorithm", "unknown_kid",
                                        "signature", "issuer",    "audience",  "expired",
                                        "iat",       "nonce",     "crit"};

    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

/* A compact JWS: three base64url parts (RFC 7515 7.1) and nothing else. libcjose asserts (and
 * so aborts the whole server) on some malformed inputs, found by fuzz_jose: it is handed only
 * what has this shape, whatever the provider sent. */
static int compact_ok(const char *t, size_t len)
{
    int dots = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        if (ch == '.')
            dots++;
        else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
            return 0;
    }
    return dots == 2;
}

static cu_rc refuse(cu_jose_reason *reason, cu_jose_reason r, cu_err *err)
{
    *reason = r;
    return cu_err_set(err, CU_ERR_AUTH, "the ID token was refused: %s", cu_jose_reason_name(r));
}

/* 1 if the protected header has a crit member (RFC 7515 4.1.11: a recipient that does not
 * understand every extension it names must refuse the token; Custos understands none, so any
 * crit at all is refused, review finding 12). */
static int header_crit(cjose_header_t *h)
{
    cjose_err ce;
    char *raw = h ? cjose_header_get_raw(h, "crit", &ce) : NULL;

    if (raw == NULL)
        return 0;
    cjose_get_dealloc()(raw);
    return 1;
}

/* Reads the protected header's alg and kid; 1 if alg is RS256 or ES256 and kid fits. */
static int header_ok(cjose_jws_t *jws, int *is_ec, char kid[KID_MAX])
{
    cjose_err ce;
    cjose_header_t *h = cjose_jws_get_protected(jws);
    const char *alg = h ? cjose_header_get(h, CJOSE_HDR_ALG, &ce) : NULL;
    const char *k = h ? cjose_header_get(h, CJOSE_HDR_KID, &ce) : NULL;

    if (alg == NULL)
        return 0;
    if (strcmp(alg, CJOSE_HDR_ALG_RS256) == 0)
        *is_ec = 0;
    else if (strcmp(alg, CJOSE_HDR_ALG_ES256) == 0)
        *is_ec = 1;
    else
        return 0;
    kid[0] = '\0';
    return k == NULL || cu_strlcpy(kid, k, KID_MAX) == 0;
}

/* 1 if JWK j suits the token: its kid (when the token names one), its type, its curve, and
 * (when stated) its use and alg. */
static int jwk_fits(const cJSON *j, int is_ec, const char *kid)
{
    const cJSON *kty = cJSON_GetObjectItemCaseSensitive(j, "kty");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "kid");
    const cJSON *use = cJSON_GetObjectItemCaseSensitive(j, "use");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(j, "alg");
    const cJSON *crv = cJSON_GetObjectItemCaseSensitive(j, "crv");

    if (!cJSON_IsString(kty) || strcmp(kty->valuestring, is_ec ? "EC" : "RSA") != 0)
        return 0;
    if (is_ec && (!cJSON_IsString(crv) || strcmp(crv->valuestring, "P-256") != 0))
        return 0;
    if (kid[0] != '\0' && (!cJSON_IsString(k) || strcmp(k->valuestring, kid) != 0))
        return 0;
    if (use != NULL && (!cJSON_IsString(use) || strcmp(use->valuestring, "sig") != 0))
        return 0;
    return alg == NULL ||
           (cJSON_IsString(alg) && strcmp(alg->valuestring, is_ec ? "ES256" : "RS256") == 0);
}

/* The members of a JWK that carry a private key or a secret (RFC 7518 6.2.2, 6.3.2, 6.4): a
 * provider's set is public, and one that holds any of these is refused whole. */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* Decodes the base64url member name of j (RFC 7515 2: no padding) into out; its length, or 0
 * if it is missing or not canonical base64url of 1..cap bytes. libcjose's own decoder asserts
 * (aborting the whole server) on some malformed input, such as "=" inside a value or a length
 * of 4k+1 (review of the SSO branch, finding 1): no key member reaches it unless it passed
 * here, characters and length both. */
static size_t b64url_member(const cJSON *j, const char *name, uint8_t *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    size_t len, n = 0;

    if (!cJSON_IsString(v) || (len = strlen(v->valuestring)) == 0 || len % 4 == 1 ||
        len > (cap * 4 + 2) / 3)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = v->valuestring[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
    }
    if (sodium_base642bin(out, cap, v->valuestring, len, NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return 0;
    return n;
}

/* 1 if j carries a private member. */
static int has_private(const cJSON *j)
{
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (cJSON_GetObjectItemCaseSensitive(j, private_members[i]) != NULL)
            return 1;
    return 0;
}

/* The public key of JWK j as a new object holding only kty, crv and the members Custos checked
 * (n and e, or x and y), for libcjose to import; NULL if j is not a usable key: a private
 * member, a member that is not canonical base64url, an RSA modulus under 2048 bits or over 8192,
 * an exponent over 8 bytes, a P-256 coordinate not 32 bytes. Nothing else of j reaches
 * libcjose. */
static cJSON *jwk_public(const cJSON *j, int is_ec)
{
    uint8_t buf[RSA_MAX_BYTES + 1];
    const char *const *names =
        is_ec ? (const char *const[]){"x", "y"} : (const char *const[]){"n", "e"};
    cJSON *o;
    size_t n;

    if (has_private(j))
        return NULL;
    if (is_ec) {
        if (b64url_member(j, "x", buf, sizeof(buf)) != EC_COORD_BYTES ||
            b64url_member(j, "y", buf, sizeof(buf)) != EC_COORD_BYTES)
            return NULL;
    } else {
        n = b64url_member(j, "n", buf, sizeof(buf));
        /* A leading zero byte does not count towards the modulus's size. */
        if (n > 0 && buf[0] == 0)
            n--;
        if (n < RSA_MIN_BYTES || n > RSA_MAX_BYTES)
            return NULL;
        n = b64url_member(j, "e", buf, sizeof(buf));
        if (n == 0 || n > 8)
            return NULL;
    }
    if ((o = cJSON_CreateObject()) == NULL ||
        cJSON_AddStringToObject(o, "kty", is_ec ? "EC" : "RSA") == NULL ||
        (is_ec && cJSON_AddStringToObject(o, "crv", "P-256") == NULL))
        goto fail;
    for (int i = 0; i < 2; i++)
        if (cJSON_AddStringToObject(
                o, names[i], cJSON_GetObjectItemCaseSensitive(j, names[i])->valuestring) == NULL)
            goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

/* Imports the public key of JWK j with libcjose; NULL if it is unusable (jwk_public). */
static cjose_jwk_t *jwk_import(const cJSON *j, int is_ec)
{
    cJSON *pub = jwk_public(j, is_ec);
    char *text = pub ? cu_json_print(pub) : NULL;
    cjose_jwk_t *jwk = NULL;
    cjose_err ce;

    if (text != NULL)
        jwk = cjose_jwk_import(text, strlen(text), &ce);
    free(text);
    cJSON_Delete(pub);
    return jwk;
}

/* Tries each fitting key of the set, at most CU_JOSE_KEYS_TRIED of them; CU_OK if one
 * verifies, CU_ERR_AUTH with *reason. */
static cu_rc verify_sig(cjose_jws_t *jws, const cJSON *keys, int is_ec, const char *kid,
                        cu_jose_reason *reason, cu_err *err)
{
    const cJSON *j;
    int fitting = 0;

    cJSON_ArrayForEach(j, keys)
    {
        cjose_jwk_t *jwk;
        cjose_err ce;
        int ok;

        if (!cJSON_IsObject(j) || !jwk_fits(j, is_ec, kid))
            continue;
        if (++fitting > CU_JOSE_KEYS_TRIED)
            break;
        jwk = jwk_import(j, is_ec);
        ok = jwk != NULL && cjose_jws_verify(jws, jwk, &ce);
        cjose_jwk_release(jwk);
        if (ok)
            return CU_OK;
    }
    return refuse(reason, fitting ? CU_JOSE_SIGNATURE : CU_JOSE_UNKNOWN_KID, err);
}

int cu_jose_jwk_importable(const char *jwk, size_t len)
{
    cJSON *j = NULL;
    const cJSON *kty;
    cjose_jwk_t *k = NULL;
    cu_err err;

    if (cu_json_parse(jwk, len, &j, NULL, &err) == CU_OK && cJSON_IsObject(j) &&
        cJSON_IsString(kty = cJSON_GetObjectItemCaseSensitive(j, "kty")))
        k = jwk_import(j, strcmp(kty->valuestring, "EC") == 0);
    cJSON_Delete(j);
    cjose_jwk_release(k);
    return k != NULL;
}

static int str_claim(const cJSON *c, const char *name, char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, name);

    out[0] = '\0';
    return cJSON_IsString(v) && cu_strlcpy(out, v->valuestring, n) == 0;
}

/* A NumericDate (RFC 7519 2): an integer in [0, 2^53]. A fraction, 1e300 (whose conversion
 * to an integer is undefined behaviour) or a negative number is no date (review finding 12). */
static int num_claim(const cJSON *c, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, name);

    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0))
        return 0;
    *out = (int64_t)v->valuedouble;
    return (double)*out == v->valuedouble;
}

/* aud is the client id, or an array holding it; with several audiences azp must name it
 * (OpenID Connect Core 1.0, 3.1.3.7, items 3 to 5). */
static int audience_ok(const cJSON *c, const char *client_id)
{
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(c, "aud");
    const cJSON *azp = cJSON_GetObjectItemCaseSensitive(c, "azp");
    const cJSON *a;
    int found = 0, n = 0;

    if (cJSON_IsString(aud)) {
        found = strcmp(aud->valuestring, client_id) == 0;
        n = 1;
    } else if (cJSON_IsArray(aud))
        cJSON_ArrayForEach(a, aud)
        {
            n++;
            found |= cJSON_IsString(a) && strcmp(a->valuestring, client_id) == 0;
        }
    if (!found)
        return 0;
    if (azp != NULL)
        return cJSON_IsString(azp) && strcmp(azp->valuestring, client_id) == 0;
    return n == 1;
}

/* The claims of a token whose signature verified. */
static cu_rc check_claims(const cJSON *c, const cu_jose_expect *x, cu_jose_claims *out,
                          cu_jose_reason *reason, cu_err *err)
{
    char nonce[CU_JOSE_CLAIM_MAX];
    int64_t nbf = 0;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(c, "email_verified");

    if (!str_claim(c, "iss", out->iss, sizeof(out->iss)) || strcmp(out->iss, x->issuer) != 0)
        return refuse(reason, CU_JOSE_ISSUER, err);
    if (!audience_ok(c, x->client_id))
        return refuse(reason, CU_JOSE_AUDIENCE, err);
    if (!num_claim(c, "exp", &out->exp) || out->exp + CU_JOSE_LEEWAY <= x->now)
        return refuse(reason, CU_JOSE_EXPIRED, err);
    /* iat neither in the future nor older than a login lasts (review finding 12): a token
     * minted long ago and still unexpired is not this callback's. */
    if (!num_claim(c, "iat", &out->iat) || out->iat > x->now + CU_JOSE_LEEWAY ||
        out->iat < x->now - CU_JOSE_IAT_MAX_AGE - CU_JOSE_LEEWAY)
        return refuse(reason, CU_JOSE_IAT, err);
    /* nbf, when present, must be a date not in the future (RFC 7519 4.1.5). */
    if (cJSON_GetObjectItemCaseSensitive(c, "nbf") != NULL &&
        (!num_claim(c, "nbf", &nbf) || nbf > x->now + CU_JOSE_LEEWAY))
        return refuse(reason, CU_JOSE_IAT, err);
    if (!str_claim(c, "nonce", nonce, sizeof(nonce)) || x->nonce == NULL ||
        strlen(nonce) != strlen(x->nonce) || !cu_ct_equal(nonce, x->nonce, strlen(nonce)))
        return refuse(reason, CU_JOSE_NONCE, err);
    if (!str_claim(c, "sub", out->sub, sizeof(out->sub)) || out->sub[0] == '\0')
        return refuse(reason, CU_JOSE_MALFORMED, err);
    /* An email that does not fit is refused, never cut: a prefix of what the provider vouched
     * for could be another address or domain (review finding 11). */
    if (cJSON_GetObjectItemCaseSensitive(c, "email") != NULL &&
        !str_claim(c, "email", out->email, sizeof(out->email)))
        return refuse(reason, CU_JOSE_MALFORMED, err);
    out->email_verified = cJSON_IsTrue(ev);
    return CU_OK;
}

/* Parses the JWKS text into its "keys" array (owned by *root). */
static cu_rc jwks_keys(const char *jwks, size_t len, cJSON **root, const cJSON **keys, cu_err *err)
{
    const cJSON *k;
    cu_rc rc = cu_json_parse(jwks, len, root, NULL, err);

    if (rc != CU_OK)
        return rc == CU_ERR_NOMEM ? rc : cu_err_set(err, CU_ERR_INVALID, "the JWKS is not JSON");
    *keys = cJSON_GetObjectItemCaseSensitive(*root, "keys");
    if (!cJSON_IsArray(*keys))
        return cu_err_set(err, CU_ERR_INVALID, "the JWKS has no keys array");
    cJSON_ArrayForEach(k, *keys)
    {
        if (has_private(k))
            return cu_err_set(err, CU_ERR_INVALID, "the JWKS holds a private key");
    }
    return CU_OK;
}

cu_rc cu_jose_jwks_check(const char *jwks, size_t len, cu_err *err)
{
    cJSON *root = NULL;
    const cJSON *keys = NULL;
    cu_rc rc = jwks_keys(jwks, len, &root, &keys, err);

    cJSON_Delete(root);
    return rc;
}

cu_rc cu_jose_verify_id_token(const char *token, const char *jwks, size_t jwks_len,
                              const cu_jose_expect *x, cu_jose_claims *out, cu_jose_reason *reason,
                              cu_err *err)
{
    cjose_jws_t *jws = NULL;
    cJSON *root = NULL, *claims = NULL;
    const cJSON *keys = NULL;
    char kid[KID_MAX];
    uint8_t *body = NULL;
    size_t body_len = 0, tlen = token ? strnlen(token, CU_JOSE_TOKEN_MAX + 1) : 0;
    int is_ec = 0;
    cjose_err ce;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    *reason = CU_JOSE_OK;
    if ((rc = jwks_keys(jwks, jwks_len, &root, &keys, err)) != CU_OK)
        goto out;
    if (tlen == 0 || tlen > CU_JOSE_TOKEN_MAX || !compact_ok(token, tlen) ||
        (jws = cjose_jws_import(token, tlen, &ce)) == NULL) {
        rc = refuse(reason, CU_JOSE_MALFORMED, err);
        goto out;
    }
    if (!header_ok(jws, &is_ec, kid)) {
        rc = refuse(reason, CU_JOSE_ALG, err);
        goto out;
    }
    if (header_crit(cjose_jws_get_protected(jws))) {
        rc = refuse(reason, CU_JOSE_CRIT, err);
        goto out;
    }
    if ((rc = verify_sig(jws, keys, is_ec, kid, reason, err)) != CU_OK)
        goto out;
    if (!cjose_jws_get_plaintext(jws, &body, &body_len, &ce) ||
        cu_json_parse((const char *)body, body_len, &claims, NULL, err) != CU_OK ||
        !cJSON_IsObject(claims)) {
        rc = refuse(reason, CU_JOSE_MALFORMED, err);
        goto out;
    }
    rc = check_claims(claims, x, out, reason, err);
out:
    if (rc != CU_OK)
        memset(out, 0, sizeof(*out));
    cJSON_Delete(claims);
    cJSON_Delete(root);
    cjose_jws_release(jws);
    return rc;
}
