/*
 * policy_value.c: pass 2 of the policy loader, one value at a time. Each pol_want_* checks a
 * node of the YAML tree against what its key allows (a mapping with known keys, text, a name,
 * a bounded number, a boolean, one of a closed set, a duration, a date) and on failure reports
 * it at its line and location (pol_where_push), without touching the policy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy_int.h"

/* Appends ".seg" (or "seg" at the top) to the error location; returns the length to restore. */
size_t pol_where_push(pctx *c, const char *fmt, ...)
{
    size_t n = strlen(c->where), at = n;
    va_list ap;

    if (n > 0 && fmt[0] != '[' && n + 1 < sizeof(c->where))
        c->where[at++] = '.';
    va_start(ap, fmt);
    vsnprintf(c->where + at, sizeof(c->where) - at, fmt, ap);
    va_end(ap);
    return n;
}

void pol_where_pop(pctx *c, size_t n)
{
    c->where[n] = '\0';
}

/* Matches the keys of mapping m against keys[0..n): an unknown key is refused at its line, a
 * missing required one (bit i of req for keys[i]) at line `at`. vals[i] gets the value of
 * keys[i], or NULL. */
cu_rc pol_want_keys(pctx *c, const pnode *m, int at, const char *const *keys, size_t n,
                    uint32_t req, const pnode **vals)
{
    char b[48];

    if (m->kind != PN_MAP)
        return pol_vbad(c, m, "expected a mapping of keys");
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    for (size_t k = 0; k < MAP_LEN(m); k++) {
        const pnode *key = MAP_KEY(m, k);
        int i = pol_name_index(keys, n, key->text);
        if (i < 0)
            return pol_vbad(c, key, "unknown key \"%s\"", pol_show(key->text, b));
        vals[i] = MAP_VAL(m, k);
    }
    for (size_t i = 0; i < n; i++)
        if ((req >> i & 1u) && vals[i] == NULL)
            return pol_bad(c, at, "missing required key \"%s\"", keys[i]);
    return CU_OK;
}

/* The line of key in mapping m (m's own line if absent), for "missing key" messages inside
 * that key's value. */
int pol_key_line(const pnode *m, const char *key)
{
    for (size_t i = 0; i < MAP_LEN(m); i++)
        if (strcmp(MAP_KEY(m, i)->text, key) == 0)
            return MAP_KEY(m, i)->line;
    return m->line;
}

cu_rc pol_want_map(pctx *c, const pnode *v)
{
    return v->kind == PN_MAP ? CU_OK : pol_vbad(c, v, "expected a mapping");
}

cu_rc pol_want_seq(pctx *c, const pnode *v)
{
    return v->kind == PN_SEQ ? CU_OK : pol_vbad(c, v, "expected a list");
}

/* Text of 1 to max-1 bytes without control characters. */
cu_rc pol_want_text(pctx *c, const pnode *v, size_t max, const char **out)
{
    if (v->kind != PN_SCALAR)
        return pol_vbad(c, v, "expected text");
    if (v->len == 0)
        return pol_vbad(c, v, "must not be empty");
    if (v->len >= max)
        return pol_vbad(c, v, "longer than %zu bytes", max - 1);
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->text[i] < 0x20 || v->text[i] == 0x7f)
            return pol_vbad(c, v, "must not contain control characters");
    *out = v->text;
    return CU_OK;
}

static int ident_ok(const char *s)
{
    size_t i;

    if (s[0] < 'a' || s[0] > 'z')
        return 0;
    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return i < CU_POLICY_IDENT_MAX;
}

/* A name the policy defines or refers to: [a-z][a-z0-9_]*, under 64 bytes. */
cu_rc pol_want_ident(pctx *c, const pnode *v, const char *what, const char **out)
{
    char b[48];

    if (v->kind != PN_SCALAR)
        return pol_vbad(c, v, "expected a %s", what);
    if (!ident_ok(v->text))
        return pol_vbad(c, v, "%s \"%s\" must match [a-z][a-z0-9_]* and be under %d bytes", what,
                        pol_show(v->text, b), CU_POLICY_IDENT_MAX);
    *out = v->text;
    return CU_OK;
}

/* An unquoted decimal integer in [lo, hi]. */
cu_rc pol_want_uint(pctx *c, const pnode *v, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long x = 0;
    size_t i;

    if (v->kind != PN_SCALAR || !v->plain || v->len == 0 || v->len > 9 ||
        (v->text[0] == '0' && v->len > 1))
        goto fail;
    for (i = 0; i < v->len; i++) {
        if (v->text[i] < '0' || v->text[i] > '9')
            goto fail;
        x = x * 10 + (unsigned long)(v->text[i] - '0');
    }
    if (x < lo || x > hi)
        goto fail;
    *out = (unsigned)x;
    return CU_OK;
fail:
    return pol_vbad(c, v, "must be a whole number from %u to %u", lo, hi);
}

cu_rc pol_want_bool(pctx *c, const pnode *v, int *out)
{
    if (v->kind == PN_SCALAR && v->plain && strcmp(v->text, "true") == 0)
        *out = 1;
    else if (v->kind == PN_SCALAR && v->plain && strcmp(v->text, "false") == 0)
        *out = 0;
    else
        return pol_vbad(c, v, "must be true or false");
    return CU_OK;
}

/* One of names[0..n) (NULL entries are not choices); *out is its index. */
cu_rc pol_want_enum(pctx *c, const pnode *v, const pol_vocab *vocab, const char *what, int *out)
{
    const char *const *names = vocab->names;
    const size_t n = vocab->n;
    char list[160] = "", b[48];
    size_t len = 0;
    int i = v->kind == PN_SCALAR ? pol_name_index(names, n, v->text) : -1;

    if (i >= 0) {
        *out = i;
        return CU_OK;
    }
    for (size_t k = 0; k < n; k++)
        if (names[k] != NULL && len < sizeof(list))
            len +=
                (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "", names[k]);
    if (v->kind != PN_SCALAR)
        return pol_vbad(c, v, "expected a %s: %s", what, list);
    return pol_vbad(c, v, "unknown %s \"%s\" (expected %s)", what, pol_show(v->text, b), list);
}

cu_rc pol_want_duration(pctx *c, const pnode *v, int nonzero, cu_duration *out)
{
    char b[48];

    if (v->kind != PN_SCALAR || cu_duration_parse(v->text, out) != CU_OK)
        return pol_vbad(c, v,
                        "bad duration \"%s\": expected a count and a unit h, d, mo or y, such as "
                        "72h, 30d, 12mo or 7y (at most 100 years)",
                        v->kind == PN_SCALAR ? pol_show(v->text, b) : "");
    if (nonzero && out->count == 0)
        return pol_vbad(c, v, "must be longer than 0");
    return CU_OK;
}

/* YYYY-MM-DD, a real date from 1970 on; *out is its midnight UTC. */
cu_rc pol_want_date(pctx *c, const pnode *v, int64_t *out)
{
    if (v->kind != PN_SCALAR || pol_date_parse(v->text, v->len, out) != CU_OK)
        return pol_vbad(c, v, "must be a date YYYY-MM-DD from 1970 on");
    return CU_OK;
}
