/*
 * test_sso_jose.c: the ID token verifier (src/crypto/jose.c, P-ACC-5) against tokens this test
 * signs itself with fresh RSA and P-256 keys, so that each refusal is forced exactly: a wrong
 * audience, an expired token, a token from the future, another nonce, another issuer, a kid the
 * JWKS lacks (the refetch signal), a key of the same kid that did not sign it, alg "none" and
 * HS256 (alg confusion with the public key as an HMAC secret). The real provider's tokens are
 * tested by test_sso.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjose/cjose.h>

#include "jose.h"

#define ISS "https://idp.example"
#define AUD "custos"
#define NOW 1800000000

static cjose_jwk_t *g_rsa, *g_ec, *g_rsa_other;

/* The public JWK of k as JSON text (caller frees). */
static char *pub_json(cjose_jwk_t *k)
{
    cjose_err ce;
    char *s = cjose_jwk_to_json(k, false, &ce);

    assert_non_null(s);
    return s;
}

/* {"keys":[...]} of the given public keys (caller frees). */
static char *jwks_of(cjose_jwk_t *a, cjose_jwk_t *b)
{
    char *sa = pub_json(a), *sb = b ? pub_json(b) : NULL;
    size_t n = strlen(sa) + (sb ? strlen(sb) : 0) + 32;
    char *out = malloc(n);

    snprintf(out, n, "{\"keys\":[%s%s%s]}", sa, sb ? "," : "", sb ? sb : "");
    free(sa);
    free(sb);
    return out;
}

/* A compact JWS of claims signed by k with alg and kid (caller frees); frees claims. */
static char *sign(cjose_jwk_t *k, const char *alg, const char *kid, char *claims)
{
    cjose_err ce;
    cjose_header_t *h = cjose_header_new(&ce);
    cjose_jws_t *jws;
    const char *compact = NULL;
    char *out;

    assert_true(cjose_header_set(h, CJOSE_HDR_ALG, alg, &ce));
    assert_true(cjose_header_set(h, CJOSE_HDR_KID, kid, &ce));
    jws = cjose_jws_sign(k, h, (const uint8_t *)claims, strlen(claims), &ce);
    assert_non_null(jws);
    assert_true(cjose_jws_export(jws, &compact, &ce));
    out = strdup(compact);
    cjose_jws_release(jws);
    cjose_header_release(h);
    free(claims);
    return out;
}

static char *claims(const char *iss, const char *aud, long long exp, long long iat,
                    const char *nonce)
{
    char *s = malloc(1024);

    snprintf(s, 1024,
             "{\"iss\":\"%s\",\"aud\":%s,\"sub\":\"u-1\",\"email\":\"ana@acme.example\","
             "\"email_verified\":true,\"exp\":%lld,\"iat\":%lld,\"nonce\":\"%s\"}",
             iss, aud, exp, iat, nonce);
    return s;
}

/* Verifies tok against jwks expecting ISS, AUD, nonce "n1" at NOW; returns the reason. */
static cu_jose_reason verify(const char *tok, const char *jwks, cu_jose_claims *c)
{
    cu_jose_expect x = {.issuer = ISS, .client_id = AUD, .nonce = "n1", .now = NOW};
    cu_jose_reason why = CU_JOSE_OK;
    cu_err e = {0};
    cu_rc rc = cu_jose_verify_id_token(tok, jwks, strlen(jwks), &x, c, &why, &e);

    assert_int_equal(rc == CU_OK, why == CU_JOSE_OK);
    if (rc != CU_OK) {
        assert_int_equal(rc, CU_ERR_AUTH);
        assert_null(strstr(e.msg, "acme"));
    }
    return why;
}

/* One case: claims cl signed by k (alg, kid), checked against jwks of (a, b). */
static cu_jose_reason one(cjose_jwk_t *k, const char *alg, const char *kid, char *cl,
                          cjose_jwk_t *a, cjose_jwk_t *b)
{
    char *tok = sign(k, alg, kid, cl), *jwks = jwks_of(a, b);
    cu_jose_claims c;
    cu_jose_reason r = verify(tok, jwks, &c);

    free(tok);
    free(jwks);
    return r;
}

/* P-ACC-5: a good token of either algorithm verifies, and its claims come out. */
static void test_good_rs256_es256(void **state)
{
    char *tok = sign(g_rsa, "RS256", "r1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"));
    char *jwks = jwks_of(g_rsa, g_ec);
    cu_jose_claims c;

    (void)state;
    assert_int_equal(verify(tok, jwks, &c), CU_JOSE_OK);
    assert_string_equal(c.sub, "u-1");
    assert_string_equal(c.email, "ana@acme.example");
    assert_int_equal(c.email_verified, 1);
    free(tok);
    tok = sign(g_ec, "ES256", "e1", claims(ISS, "[\"" AUD "\"]", NOW + 300, NOW, "n1"));
    assert_int_equal(verify(tok, jwks, &c), CU_JOSE_OK);
    free(tok);
    free(jwks);
}

static void test_wrong_audience(void **state)
{
    (void)state;
    assert_int_equal(
        one(g_rsa, "RS256", "r1", claims(ISS, "\"other\"", NOW + 300, NOW, "n1"), g_rsa, NULL),
        CU_JOSE_AUDIENCE);
    /* Several audiences without azp naming Custos: refused (OIDC Core 3.1.3.7). */
    assert_int_equal(one(g_rsa, "RS256", "r1",
                         claims(ISS, "[\"" AUD "\",\"other\"]", NOW + 300, NOW, "n1"), g_rsa, NULL),
                     CU_JOSE_AUDIENCE);
}

static void test_expired_and_future(void **state)
{
    (void)state;
    assert_int_equal(one(g_rsa, "RS256", "r1",
                         claims(ISS, "\"" AUD "\"", NOW - CU_JOSE_LEEWAY - 1, NOW - 600, "n1"),
                         g_rsa, NULL),
                     CU_JOSE_EXPIRED);
    assert_int_equal(one(g_rsa, "RS256", "r1",
                         claims(ISS, "\"" AUD "\"", NOW + 900, NOW + CU_JOSE_LEEWAY + 5, "n1"),
                         g_rsa, NULL),
                     CU_JOSE_IAT);
}

/* Review finding 12: an unexpired token issued longer ago than a login lasts is not this
 * login's (its iat age is bounded); at the bound (with the leeway) it still is. */
static void test_iat_age_bounded(void **state)
{
    long long old = NOW - CU_JOSE_IAT_MAX_AGE - CU_JOSE_LEEWAY;

    (void)state;
    assert_int_equal(one(g_rsa, "RS256", "r1", claims(ISS, "\"" AUD "\"", NOW + 900, old - 1, "n1"),
                         g_rsa, NULL),
                     CU_JOSE_IAT);
    assert_int_equal(
        one(g_rsa, "RS256", "r1", claims(ISS, "\"" AUD "\"", NOW + 900, old, "n1"), g_rsa, NULL),
        CU_JOSE_OK);
}

/* Review finding 12: a header naming critical extensions (crit, RFC 7515 4.1.11) is refused
 * before any key is tried: Custos understands none. */
static void test_crit_refused(void **state)
{
    cjose_err ce;
    cjose_header_t *h = cjose_header_new(&ce);
    char *cl = claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"), *jwks = jwks_of(g_rsa, NULL);
    const char *compact = NULL;
    cjose_jws_t *jws;
    cu_jose_claims c;

    (void)state;
    assert_true(cjose_header_set(h, CJOSE_HDR_ALG, "RS256", &ce));
    assert_true(cjose_header_set(h, CJOSE_HDR_KID, "r1", &ce));
    assert_true(cjose_header_set_raw(h, "crit", "[\"urn:example:ext\"]", &ce));
    jws = cjose_jws_sign(g_rsa, h, (const uint8_t *)cl, strlen(cl), &ce);
    assert_non_null(jws);
    assert_true(cjose_jws_export(jws, &compact, &ce));
    assert_int_equal(verify(compact, jwks, &c), CU_JOSE_CRIT);
    assert_string_equal(cu_jose_reason_name(CU_JOSE_CRIT), "crit");
    cjose_jws_release(jws);
    cjose_header_release(h);
    free(cl);
    free(jwks);
}

static void test_nonce_and_issuer(void **state)
{
    (void)state;
    assert_int_equal(
        one(g_ec, "ES256", "e1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n2"), g_ec, NULL),
        CU_JOSE_NONCE);
    assert_int_equal(one(g_ec, "ES256", "e1",
                         claims("https://evil.example", "\"" AUD "\"", NOW + 300, NOW, "n1"), g_ec,
                         NULL),
                     CU_JOSE_ISSUER);
}

/* A kid the JWKS lacks asks for a refetch; the same kid on another key is a bad signature. */
static void test_kid_and_signature(void **state)
{
    (void)state;
    assert_int_equal(
        one(g_rsa, "RS256", "r1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"), g_ec, NULL),
        CU_JOSE_UNKNOWN_KID);
    assert_int_equal(one(g_rsa_other, "RS256", "r1",
                         claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"), g_rsa, NULL),
                     CU_JOSE_SIGNATURE);
    /* An RS256 header on a P-256 key's kid finds no RSA key of that kid. */
    assert_int_equal(
        one(g_rsa, "RS256", "e1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"), g_ec, NULL),
        CU_JOSE_UNKNOWN_KID);
}

/* alg "none" and HS256 are refused before any key is tried. */
static void test_alg_confusion(void **state)
{
    const char *none = "eyJhbGciOiJub25lIiwia2lkIjoicjEifQ." /* {"alg":"none","kid":"r1"} */
                       "eyJpc3MiOiJ4In0.";
    cjose_err ce;
    char *jwks = jwks_of(g_rsa, NULL), *cl = claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1");
    cjose_jwk_t *hmac = cjose_jwk_create_oct_spec((const uint8_t *)jwks, strlen(jwks), &ce);
    cu_jose_claims c;
    char *tok;

    (void)state;
    assert_int_equal(verify(none, jwks, &c), CU_JOSE_ALG);
    assert_non_null(hmac);
    tok = sign(hmac, "HS256", "r1", cl);
    assert_int_equal(verify(tok, jwks, &c), CU_JOSE_ALG);
    assert_int_equal(verify("not.a.token", jwks, &c), CU_JOSE_MALFORMED);
    /* fuzz_jose's find: libcjose asserts (aborting the server) on this token; it is refused
     * before libcjose sees it, as is anything but three base64url parts. */
    assert_int_equal(verify("a=AAA\"creyJwlhckeys.03.1{\"k5ys\":[{\"k\"A", jwks, &c),
                     CU_JOSE_MALFORMED);
    assert_int_equal(verify("eyJhbGciOiJSUzI1NiJ9.e30", jwks, &c), CU_JOSE_MALFORMED);
    free(tok);
    free(jwks);
    cjose_jwk_release(hmac);
}

/* Review finding 1: a provider's key whose members would trip libcjose's asserting base64
 * decoder ("=" inside n, a P-256 x of 43 characters with "=" at 5) is never imported: the
 * token is refused and the process lives (without the check, abort()). */
static void test_hostile_jwks_never_reaches_cjose(void **state)
{
    static const char *const sets[] = {
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"A=AA\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"n\":\"AAAAA\",\"e\":\"AQAB\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\","
        "\"x\":\"AAAAA=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
        "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
    };
    char *rs = sign(g_rsa, "RS256", "r1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"));
    char *es = sign(g_ec, "ES256", "e1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"));
    cu_jose_claims c;

    (void)state;
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        assert_int_equal(verify(i < 2 ? rs : es, sets[i], &c), CU_JOSE_SIGNATURE);
    free(rs);
    free(es);
}

/* A set holding a private member is no provider's public set: refused whole; a key of under
 * 2048 bits is never used, even when it did sign the token. */
static void test_private_and_short_keys(void **state)
{
    static const uint8_t e65537[] = {0x01, 0x00, 0x01};
    cu_jose_expect x = {.issuer = ISS, .client_id = AUD, .nonce = "n1", .now = NOW};
    cjose_err ce;
    cjose_jwk_t *weak = cjose_jwk_create_RSA_random(1024, e65537, sizeof(e65537), &ce);
    char *tok = sign(g_rsa, "RS256", "r1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"));
    char *priv = cjose_jwk_to_json(g_rsa, true, &ce), *pub = pub_json(g_rsa), *set, *jwks;
    cu_jose_reason why = CU_JOSE_OK;
    cu_jose_claims c;
    cu_err e = {0};
    size_t n = strlen(priv) + 16;

    (void)state;
    set = malloc(n);
    snprintf(set, n, "{\"keys\":[%s]}", priv);
    assert_int_equal(cu_jose_jwks_check(set, strlen(set), &e), CU_ERR_INVALID);
    assert_int_equal(cu_jose_verify_id_token(tok, set, strlen(set), &x, &c, &why, &e),
                     CU_ERR_INVALID);
    assert_int_equal(cu_jose_jwk_importable(priv, strlen(priv)), 0);
    assert_int_equal(cu_jose_jwk_importable(pub, strlen(pub)), 1);
    free(tok);
    assert_true(cjose_jwk_set_kid(weak, "w1", 2, &ce));
    jwks = jwks_of(weak, NULL);
    assert_int_equal(cu_jose_jwks_check(jwks, strlen(jwks), &e), CU_OK);
    tok = sign(weak, "RS256", "w1", claims(ISS, "\"" AUD "\"", NOW + 300, NOW, "n1"));
    assert_int_equal(verify(tok, jwks, &c), CU_JOSE_SIGNATURE);
    free(tok);
    free(jwks);
    free(set);
    free(priv);
    free(pub);
    cjose_jwk_release(weak);
}

/* Review findings 11 and 12: dates must be integers in [0, 2^53] (1e300 and a fraction are
 * none), nbf in the future is refused, and an email too long to keep is refused, not cut. */
static void test_claim_hygiene(void **state)
{
    char buf[1024], email[300];
    cu_jose_reason r;

    (void)state;
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"exp\":1e300,"
             "\"iat\":%d,\"nonce\":\"n1\"}",
             NOW);
    r = one(g_rsa, "RS256", "r1", strdup(buf), g_rsa, NULL);
    assert_int_equal(r, CU_JOSE_EXPIRED);
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"exp\":%d.5,"
             "\"iat\":%d,\"nonce\":\"n1\"}",
             NOW + 300, NOW);
    assert_int_equal(one(g_rsa, "RS256", "r1", strdup(buf), g_rsa, NULL), CU_JOSE_EXPIRED);
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"exp\":%d,"
             "\"iat\":%d,\"nbf\":%d,\"nonce\":\"n1\"}",
             NOW + 600, NOW, NOW + CU_JOSE_LEEWAY + 60);
    assert_int_equal(one(g_rsa, "RS256", "r1", strdup(buf), g_rsa, NULL), CU_JOSE_IAT);
    memset(email, 'a', 260);
    snprintf(email + 260, sizeof(email) - 260, "@acme.example");
    snprintf(buf, sizeof(buf),
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u\",\"exp\":%d,"
             "\"iat\":%d,\"nonce\":\"n1\",\"email\":\"%s\",\"email_verified\":true}",
             NOW + 300, NOW, email);
    assert_int_equal(one(g_rsa, "RS256", "r1", strdup(buf), g_rsa, NULL), CU_JOSE_MALFORMED);
}

static cjose_jwk_t *with_kid(cjose_jwk_t *k, const char *kid)
{
    cjose_err ce;

    assert_non_null(k);
    assert_true(cjose_jwk_set_kid(k, kid, strlen(kid), &ce));
    return k;
}

int main(void)
{
    static const uint8_t e65537[] = {0x01, 0x00, 0x01};
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_rs256_es256),
        cmocka_unit_test(test_wrong_audience),
        cmocka_unit_test(test_expired_and_future),
        cmocka_unit_test(test_iat_age_bounded),
        cmocka_unit_test(test_crit_refused),
        cmocka_unit_test(test_nonce_and_issuer),
        cmocka_unit_test(test_kid_and_signature),
        cmocka_unit_test(test_alg_confusion),
        cmocka_unit_test(test_hostile_jwks_never_reaches_cjose),
        cmocka_unit_test(test_private_and_short_keys),
        cmocka_unit_test(test_claim_hygiene),
    };
    cjose_err ce;
    int rc;

    g_rsa = with_kid(cjose_jwk_create_RSA_random(2048, e65537, sizeof(e65537), &ce), "r1");
    g_rsa_other = with_kid(cjose_jwk_create_RSA_random(2048, e65537, sizeof(e65537), &ce), "r1");
    g_ec = with_kid(cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &ce), "e1");
    rc = cmocka_run_group_tests_name("sso_jose", tests, NULL, NULL);
    cjose_jwk_release(g_rsa);
    cjose_jwk_release(g_rsa_other);
    cjose_jwk_release(g_ec);
    return rc;
}
