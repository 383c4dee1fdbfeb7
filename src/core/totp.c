/*
 * totp.c: time-based one-time passwords (RFC 6238; P-ACC-2) and the base32 of their secrets.
 *
 * The codes come from liboath (the OATH Toolkit, oath_totp_generate2 with HMAC-SHA1, 30 s
 * steps), since libsodium has no HMAC-SHA1. Checking a code is done here rather than with
 * oath_totp_validate3, so that the comparison is constant-time and every step of the window
 * is computed whatever matches. Every buffer holding a code of a secret is wiped.
 */
#include <pthread.h>
#include <string.h>

#include <oath.h>

#include "auth_int.h"
#include "util.h"

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static int oath_ready;

static void oath_setup(void)
{
    oath_ready = oath_init() == OATH_OK;
}

cu_rc cu_totp(const uint8_t *key, size_t keylen, int64_t t, int digits, char out[11])
{
    if (key == NULL || keylen == 0 || t < 0 || digits < 6 || digits > 8)
        return CU_ERR_INVALID;
    pthread_once(&oath_once, oath_setup);
    if (!oath_ready)
        return CU_ERR_UNSUPPORTED;
    /* Flags 0: HMAC-SHA1, the RFC's and the authenticator apps' default. */
    if (oath_totp_generate2((const char *)key, keylen, (time_t)t, CU_TOTP_STEP,
                            OATH_TOTP_DEFAULT_START_TIME, (unsigned)digits, 0, out) != OATH_OK)
        return CU_ERR_INVALID;
    return CU_OK;
}

static int code_ok(const char *code)
{
    size_t i;

    if (code == NULL)
        return 0;
    for (i = 0; i < CU_TOTP_DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return 0;
    return code[i] == '\0';
}

/* P-ACC-2: the step of now and one either side, to allow for clock drift and typing time. */
cu_rc cu_totp_check(const uint8_t *key, size_t keylen, int64_t now, const char *code, int64_t *step)
{
    int64_t cur = now / CU_TOTP_STEP, found = -1;
    char want[11];

    if (!code_ok(code) || now < 0)
        return CU_ERR_AUTH;
    for (int64_t s = cur - 1; s <= cur + 1; s++) {
        if (s < 0)
            continue;
        if (cu_totp(key, keylen, s * CU_TOTP_STEP, CU_TOTP_DIGITS, want) != CU_OK) {
            found = -1;
            break;
        }
        if (cu_ct_equal(want, code, CU_TOTP_DIGITS))
            found = s;
    }
    cu_wipe(want, sizeof(want));
    if (found < 0)
        return CU_ERR_AUTH;
    *step = found;
    return CU_OK;
}

cu_rc cu_base32_encode(const uint8_t *in, size_t n, char *out, size_t outcap)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    size_t need = (n * 8 + 4) / 5 + 1, j = 0;
    unsigned buf = 0, bits = 0;

    if (n > SIZE_MAX / 8 - 4 || outcap < need)
        return CU_ERR_LIMIT;
    for (size_t i = 0; i < n; i++) {
        buf = (buf << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[j++] = alphabet[(buf >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[j++] = alphabet[(buf << (5 - bits)) & 31];
    out[j] = '\0';
    cu_wipe(&buf, sizeof(buf));
    return CU_OK;
}
