/*
 * stream.c: an authenticated encryption stream (libsodium's crypto_secretstream, XChaCha20-
 * Poly1305) for backups: a 24-byte header, then messages, each authenticated in order with the
 * caller's associated data; the last carries the FINAL tag, so a stream cut short, reordered,
 * or with a message dropped, replayed or altered fails to open (P-BAK-1).
 */
#include <stdlib.h>

#include <sodium.h>

#include "crypto.h"

_Static_assert(CU_STREAM_HEADERBYTES == crypto_secretstream_xchacha20poly1305_HEADERBYTES,
               "secretstream header size");
_Static_assert(CU_STREAM_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES,
               "secretstream overhead");

struct cu_stream {
    crypto_secretstream_xchacha20poly1305_state st;
    int push;
};

static cu_stream *stream_alloc(int push)
{
    cu_stream *s = cu_secure_alloc(sizeof(*s));

    if (s != NULL)
        s->push = push;
    return s;
}

cu_rc cu_stream_push_init(const uint8_t key[CU_KEYBYTES], uint8_t header[CU_STREAM_HEADERBYTES],
                          cu_stream **out)
{
    cu_stream *s = stream_alloc(1);

    *out = NULL;
    if (s == NULL)
        return CU_ERR_NOMEM;
    if (crypto_secretstream_xchacha20poly1305_init_push(&s->st, header, key) != 0) {
        cu_secure_free(s);
        return CU_ERR_CRYPTO;
    }
    *out = s;
    return CU_OK;
}

cu_rc cu_stream_pull_init(const uint8_t key[CU_KEYBYTES],
                          const uint8_t header[CU_STREAM_HEADERBYTES], cu_stream **out)
{
    cu_stream *s = stream_alloc(0);

    *out = NULL;
    if (s == NULL)
        return CU_ERR_NOMEM;
    if (crypto_secretstream_xchacha20poly1305_init_pull(&s->st, header, key) != 0) {
        cu_secure_free(s);
        return CU_ERR_CRYPTO;
    }
    *out = s;
    return CU_OK;
}

cu_rc cu_stream_push(cu_stream *s, const uint8_t *in, size_t len, const uint8_t *ad,
                     size_t adlen, int final, uint8_t *out, size_t *outlen)
{
    unsigned long long n = 0;
    uint8_t tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                        : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;

    if (s == NULL || !s->push)
        return CU_ERR_INVALID;
    if (crypto_secretstream_xchacha20poly1305_push(&s->st, out, &n, in, len, ad, adlen, tag) != 0)
        return CU_ERR_CRYPTO;
    *outlen = (size_t)n;
    return CU_OK;
}

cu_rc cu_stream_pull(cu_stream *s, const uint8_t *in, size_t len, const uint8_t *ad,
                     size_t adlen, uint8_t *out, size_t *outlen, int *final)
{
    unsigned long long n = 0;
    unsigned char tag = 0;

    if (s == NULL || s->push)
        return CU_ERR_INVALID;
    if (len < CU_STREAM_ABYTES)
        return CU_ERR_CRYPTO;
    if (crypto_secretstream_xchacha20poly1305_pull(&s->st, out, &n, &tag, in, len, ad, adlen) !=
        0)
        return CU_ERR_CRYPTO;
    *outlen = (size_t)n;
    *final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    return CU_OK;
}

void cu_stream_free(cu_stream *s)
{
    cu_secure_free(s); /* sodium_free wipes it */
}

/* An incremental SHA-256, for the hash of a backup's ciphertext as it is written. */
struct cu_sha256_ctx {
    crypto_hash_sha256_state st;
};

cu_sha256_ctx *cu_sha256_new(void)
{
    cu_sha256_ctx *c = malloc(sizeof(*c));

    if (c != NULL)
        crypto_hash_sha256_init(&c->st);
    return c;
}

void cu_sha256_update(cu_sha256_ctx *c, const uint8_t *p, size_t n)
{
    crypto_hash_sha256_update(&c->st, p, n);
}

void cu_sha256_final(cu_sha256_ctx *c, uint8_t out[CU_HASHBYTES])
{
    crypto_hash_sha256_final(&c->st, out);
    free(c);
}
