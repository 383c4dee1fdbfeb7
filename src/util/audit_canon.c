/*
 * audit_canon.c: the canonical encoding of an audit entry (audit_canon.h, docs/audit.md):
 *
 *   "cu-audit1" | u64(tenant_id) | u64(seq) | u64(at) | text(actor) | ... | text(outcome)
 *               | prev                         (format 1)
 *   "cu-audit2" | ... the same ... | digest | prev   (format 2: a record write's digest)
 *
 * u64 is 8 bytes big-endian; text is a 2-byte big-endian length and the bytes, no NUL.
 */
#include <string.h>

#include "audit_canon.h"

#define PREFIX_LEN 9

const size_t cu_audit_text_max[CU_AUDIT_TEXTS] = {
    sizeof(((cu_audit_entry *)0)->actor) - 1,   sizeof(((cu_audit_entry *)0)->action) - 1,
    sizeof(((cu_audit_entry *)0)->object) - 1,  sizeof(((cu_audit_entry *)0)->purpose) - 1,
    sizeof(((cu_audit_entry *)0)->source) - 1,  sizeof(((cu_audit_entry *)0)->request_id) - 1,
    sizeof(((cu_audit_entry *)0)->outcome) - 1,
};

_Static_assert(PREFIX_LEN + 3 * 8 + CU_AUDIT_TEXTS * 2 + 47 + 31 + 95 + 64 + 63 + 32 + 23 + 32 +
                       32 <=
                   CU_AUDIT_CANON_MAX,
               "the longest encoding fits");

static void put_u64(uint8_t *b, size_t *n, uint64_t x)
{
    for (int i = 7; i >= 0; i--)
        b[(*n)++] = (uint8_t)(x >> (i * 8));
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t x = 0;

    for (int i = 0; i < 8; i++)
        x = x << 8 | b[i];
    return x;
}

size_t cu_audit_canon(const cu_audit_fields *f, uint8_t out[CU_AUDIT_CANON_MAX])
{
    size_t n = PREFIX_LEN;

    memcpy(out, f->digest ? "cu-audit2" : "cu-audit1", PREFIX_LEN);
    put_u64(out, &n, f->tenant_id);
    put_u64(out, &n, f->seq);
    put_u64(out, &n, (uint64_t)f->at);
    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        if (f->len[i] > cu_audit_text_max[i])
            return 0;
        out[n++] = (uint8_t)(f->len[i] >> 8);
        out[n++] = (uint8_t)f->len[i];
        if (f->len[i] > 0)
            memcpy(out + n, f->text[i], f->len[i]);
        n += f->len[i];
    }
    if (f->digest) {
        memcpy(out + n, f->digest, 32);
        n += 32;
    }
    memcpy(out + n, f->prev, 32);
    return n + 32;
}

size_t cu_audit_encode(const cu_audit_entry *e, uint8_t out[CU_AUDIT_CANON_MAX])
{
    const char *t[CU_AUDIT_TEXTS] = {e->actor,  e->action,     e->object, e->purpose,
                                     e->source, e->request_id, e->outcome};
    cu_audit_fields f = {.tenant_id = e->tenant_id,
                         .seq = e->seq,
                         .at = e->at,
                         .digest = e->has_digest ? e->digest : NULL,
                         .prev = e->prev};

    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        f.text[i] = t[i];
        f.len[i] = strnlen(t[i], cu_audit_text_max[i]);
    }
    return cu_audit_canon(&f, out);
}

cu_rc cu_audit_decode(const uint8_t *c, size_t len, cu_audit_entry *e)
{
    char *t[CU_AUDIT_TEXTS] = {e->actor,  e->action,     e->object, e->purpose,
                               e->source, e->request_id, e->outcome};
    size_t n = PREFIX_LEN + 24;

    memset(e, 0, sizeof(*e));
    if (len < n + 32 ||
        (memcmp(c, "cu-audit1", PREFIX_LEN) != 0 && memcmp(c, "cu-audit2", PREFIX_LEN) != 0))
        return CU_ERR_INVALID;
    e->has_digest = c[8] == '2';
    e->tenant_id = get_u64(c + PREFIX_LEN);
    e->seq = get_u64(c + PREFIX_LEN + 8);
    e->at = (int64_t)get_u64(c + PREFIX_LEN + 16);
    for (int i = 0; i < CU_AUDIT_TEXTS; i++) {
        size_t l;
        if (n + 2 > len || (l = (size_t)c[n] << 8 | c[n + 1]) > cu_audit_text_max[i] ||
            n + 2 + l > len)
            return CU_ERR_INVALID;
        memcpy(t[i], c + n + 2, l);
        t[i][l] = '\0';
        n += 2 + l;
    }
    if (e->has_digest) {
        if (n + 32 > len)
            return CU_ERR_INVALID;
        memcpy(e->digest, c + n, 32);
        n += 32;
    }
    if (n + 32 != len)
        return CU_ERR_INVALID;
    memcpy(e->prev, c + n, 32);
    return CU_OK;
}
