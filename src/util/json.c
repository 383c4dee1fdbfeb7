/*
 * json.c: the strict JSON reader (see json.h).
 *
 * cJSON alone is too lenient for Custos: it keeps both values of a duplicate key, copies invalid
 * UTF-8 through, turns \u0000 into a silently truncated string and reads every number as a
 * double. So a document is read twice: a validating scanner walks the raw bytes once (the
 * RFC 8259 grammar plus the limits of json.h) and stops at the first error; only text it accepted
 * is handed to cJSON_ParseWithLength to build the tree.
 *
 * Error offsets. Errors are found in document order. A byte that cannot continue the grammar is
 * reported at that byte; a construct that is refused as a whole (an ill-formed escape or UTF-8
 * sequence, an unpaired surrogate, a number out of range, a duplicate key, a container too deep)
 * at its first byte; input that ends while still a valid prefix at its length.
 *
 * Duplicate keys. The unescaped keys of every open object live on one stack: their bytes in an
 * arena, their records in an array. When an object closes, its records are sorted and compared
 * neighbour to neighbour, then popped: O(k log k) for k keys, whatever the input (no hash to
 * flood). Keys of still-open objects are checked the same way when a later error stops the scan,
 * so a duplicate is reported before any error that follows it.
 */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

#define JSON_STR_(x) #x
#define JSON_STR(x) JSON_STR_(x)

/* 2^53: up to here every integer is exactly a double. Same length as any integer that reaches
 * it, so a digit string of 16 digits compares against it with memcmp. */
static const char json_int_max[] = "9007199254740992";

/* 2^1024 - 2^970, the smallest magnitude a correctly rounded strtod turns into infinity: it lies
 * halfway between DBL_MAX and 2^1024, and the tie goes to the even 2^1024. */
static const char json_dbl_overflow[] =
    "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797"
    "75872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548"
    "45817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711"
    "559699508093042880177904174497792";

typedef struct json_key {
    size_t off;             /* start of the unescaped key in the arena */
    size_t len;             /* its length in bytes */
    size_t src;             /* offset of its opening quote in the input */
    const unsigned char *p; /* arena + off, set just before sorting (the arena moves) */
} json_key;

typedef struct json_frame {
    size_t first_key;  /* index in keys of the object's first key */
    size_t arena_mark; /* arena length when the object opened */
} json_frame;

typedef struct json_scan {
    const unsigned char *s;
    size_t len;
    size_t pos;
    size_t depth;                         /* open arrays and objects */
    size_t nodes;                         /* values begun so far */
    int too_many;                         /* stopped at CU_JSON_MAX_NODES */
    json_frame frames[CU_JSON_MAX_DEPTH]; /* open objects, outermost first */
    size_t nframes;
    json_key *keys;
    size_t nkeys;
    size_t keys_cap;
    unsigned char *arena;
    size_t arena_len;
    size_t arena_cap;
    size_t err_off;
    const char *reason;
    int nomem;
} json_scan;

static int scan_value(json_scan *sc);

static int scan_fail(json_scan *sc, size_t off, const char *reason)
{
    sc->err_off = off;
    sc->reason = reason;
    return -1;
}

static int scan_eof(json_scan *sc)
{
    return scan_fail(sc, sc->len, "unexpected end of input");
}

static int scan_nomem(json_scan *sc)
{
    sc->nomem = 1;
    return scan_fail(sc, sc->pos, "out of memory");
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Does the integer with n digits (no sign, no leading zero) exceed 2^53? */
static int int_beyond_2p53(const char *digits, size_t n)
{
    return n > sizeof(json_int_max) - 1 ||
           (n == sizeof(json_int_max) - 1 && memcmp(digits, json_int_max, n) > 0);
}

static void scan_ws(json_scan *sc)
{
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->pos++;
    }
}

/* Appends n bytes to the key arena; also called with n == 0 so that the arena exists before a
 * key's records point into it. */
static int arena_put(json_scan *sc, const unsigned char *b, size_t n)
{
    if (sc->arena == NULL || sc->arena_cap - sc->arena_len < n) {
        size_t cap = sc->arena_cap ? sc->arena_cap : 256;
        unsigned char *p;

        while (cap - sc->arena_len < n) {
            if (cap > SIZE_MAX / 2)
                return scan_nomem(sc);
            cap *= 2;
        }
        p = realloc(sc->arena, cap);
        if (p == NULL)
            return scan_nomem(sc);
        sc->arena = p;
        sc->arena_cap = cap;
    }
    if (n > 0)
        memcpy(sc->arena + sc->arena_len, b, n);
    sc->arena_len += n;
    return 0;
}

static int key_push(json_scan *sc, size_t off, size_t src)
{
    if (sc->nkeys == sc->keys_cap) {
        size_t cap = sc->keys_cap ? sc->keys_cap * 2 : 64;
        json_key *k;

        if (cap > SIZE_MAX / sizeof(*k))
            return scan_nomem(sc);
        k = realloc(sc->keys, cap * sizeof(*k));
        if (k == NULL)
            return scan_nomem(sc);
        sc->keys = k;
        sc->keys_cap = cap;
    }
    sc->keys[sc->nkeys].off = off;
    sc->keys[sc->nkeys].len = sc->arena_len - off;
    sc->keys[sc->nkeys].src = src;
    sc->keys[sc->nkeys].p = NULL;
    sc->nkeys++;
    return 0;
}

/* Orders keys by length, bytes, then position, so equal keys end up adjacent and in document
 * order. */
static int key_cmp(const void *a, const void *b)
{
    const json_key *x = a, *y = b;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if (x->len > 0) {
        int c = memcmp(x->p, y->p, x->len);
        if (c != 0)
            return c;
    }
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return 0;
}

/* Returns the input offset of the earliest second occurrence among keys[first..end), or
 * SIZE_MAX if they are all distinct. Reorders that slice. */
static size_t keys_first_dup(json_scan *sc, size_t first, size_t end)
{
    size_t i, n = end - first, best = SIZE_MAX;
    json_key *k;

    if (n < 2)
        return SIZE_MAX;
    k = sc->keys + first;
    for (i = 0; i < n; i++)
        k[i].p = sc->arena + k[i].off;
    qsort(k, n, sizeof(*k), key_cmp);
    /* Within a run of equal keys the second one is the first duplicate; a third comes later. */
    for (i = 1; i < n; i++) {
        if (k[i].len == k[i - 1].len && (k[i].len == 0 || !memcmp(k[i].p, k[i - 1].p, k[i].len)) &&
            k[i].src < best)
            best = k[i].src;
    }
    return best;
}

/* After an error: the earliest duplicate among the keys seen so far in still-open objects. */
static size_t scan_open_dups(json_scan *sc)
{
    size_t i, best = SIZE_MAX;

    for (i = 0; i < sc->nframes; i++) {
        size_t end = i + 1 < sc->nframes ? sc->frames[i + 1].first_key : sc->nkeys;
        size_t d = keys_first_dup(sc, sc->frames[i].first_key, end);
        if (d < best)
            best = d;
    }
    return best;
}

/* Length (1 to 4) of the well-formed UTF-8 sequence at s (Unicode table 3-7: no overlong forms,
 * no surrogates, nothing above U+10FFFF), 0 if it is ill-formed, -1 if the avail bytes end
 * inside a sequence that could still be completed. */
static int utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int i, n;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* continuation byte, C0, C1, F5..FF */
    }
    for (i = 1; i < n; i++) {
        if ((size_t)i == avail)
            return -1;
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return n;
}

int cu_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;

    for (size_t i = 0; i < n;) {
        int k = utf8_seq(u + i, n - i);
        if (k <= 0)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

static size_t utf8_put(uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads the 4 hex digits at s[at..at+4) of the \u escape that starts at esc. */
static int scan_hex4(json_scan *sc, size_t at, size_t esc, uint32_t *cp)
{
    size_t i;

    *cp = 0;
    for (i = 0; i < 4; i++) {
        int h;
        if (at + i == sc->len)
            return scan_eof(sc);
        h = hex_value(sc->s[at + i]);
        if (h < 0)
            return scan_fail(sc, esc, "invalid \\u escape");
        *cp = *cp << 4 | (uint32_t)h;
    }
    return 0;
}

/* The high surrogate escape at esc must be followed at once by a low one, \u[dD][c-fC-F]XX;
 * anything else makes the high surrogate the error. */
static int scan_low_surrogate(json_scan *sc, size_t esc, uint32_t *lo)
{
    size_t i, at = esc + 6;

    for (i = 0; i < 6; i++) {
        unsigned char c;
        int ok;

        if (at + i == sc->len)
            return scan_eof(sc);
        c = sc->s[at + i];
        if (i == 0)
            ok = c == '\\';
        else if (i == 1)
            ok = c == 'u';
        else if (i == 2)
            ok = c == 'd' || c == 'D';
        else if (i == 3)
            ok = (c >= 'c' && c <= 'f') || (c >= 'C' && c <= 'F');
        else
            ok = hex_value(c) >= 0;
        if (!ok)
            return scan_fail(sc, esc, "unpaired surrogate escape");
    }
    return scan_hex4(sc, at + 2, at, lo);
}

/* Scans the escape at pos (a backslash) and appends what it stands for to the arena if the
 * string is a key. */
static int scan_escape(json_scan *sc, int is_key)
{
    size_t esc = sc->pos, adv = 2, n = 1;
    unsigned char out[4];
    uint32_t cp, lo;

    if (esc + 1 == sc->len)
        return scan_eof(sc);
    switch (sc->s[esc + 1]) {
    case '"':
    case '\\':
    case '/':
        out[0] = sc->s[esc + 1];
        break;
    case 'b':
        out[0] = '\b';
        break;
    case 'f':
        out[0] = '\f';
        break;
    case 'n':
        out[0] = '\n';
        break;
    case 'r':
        out[0] = '\r';
        break;
    case 't':
        out[0] = '\t';
        break;
    case 'u':
        if (scan_hex4(sc, esc + 2, esc, &cp))
            return -1;
        /* A NUL would cut the C string cJSON makes of it. */
        if (cp == 0)
            return scan_fail(sc, esc, "\\u0000 not allowed");
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return scan_fail(sc, esc, "unpaired surrogate escape");
        adv = 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (scan_low_surrogate(sc, esc, &lo))
                return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            adv = 12;
        }
        n = utf8_put(cp, out);
        break;
    default:
        return scan_fail(sc, esc, "invalid escape");
    }
    if (is_key && arena_put(sc, out, n))
        return -1;
    sc->pos = esc + adv;
    return 0;
}

/* Scans the string whose opening quote is at pos; a key's unescaped bytes go to the arena and
 * its record onto the key stack. */
static int scan_string(json_scan *sc, int is_key)
{
    size_t start = sc->pos, koff = sc->arena_len;

    if (is_key && arena_put(sc, NULL, 0))
        return -1;
    sc->pos++;
    for (;;) {
        unsigned char c;
        int n;

        if (sc->pos == sc->len)
            return scan_eof(sc);
        c = sc->s[sc->pos];
        if (c == '"')
            break;
        if (c == '\\') {
            if (scan_escape(sc, is_key))
                return -1;
            continue;
        }
        if (c < 0x20)
            return scan_fail(sc, sc->pos, "control character in string");
        n = utf8_seq(sc->s + sc->pos, sc->len - sc->pos);
        if (n < 0)
            return scan_eof(sc);
        if (n == 0)
            return scan_fail(sc, sc->pos, "invalid UTF-8");
        if (is_key && arena_put(sc, sc->s + sc->pos, (size_t)n))
            return -1;
        sc->pos += (size_t)n;
    }
    sc->pos++;
    return is_key ? key_push(sc, koff, start) : 0;
}

/* Requires one or more digits at *p and moves past them. */
static int scan_digits(json_scan *sc, size_t *p)
{
    if (*p == sc->len)
        return scan_eof(sc);
    if (!is_digit(sc->s[*p]))
        return scan_fail(sc, *p, "expected digit");
    while (*p < sc->len && is_digit(sc->s[*p]))
        (*p)++;
    return 0;
}

/* Digit k of the number's significand: the integer digits, then the fraction digits. */
static unsigned char sig_digit(const unsigned char *ip, size_t ni, const unsigned char *fp,
                               size_t k)
{
    return k < ni ? ip[k] : fp[k - ni];
}

/* Does the number with integer digits ip[0..ni), fraction digits fp[0..nf) and exponent digits
 * ep[0..ne) (negative if eneg) round to infinity? Decided on the digits, exactly as a correctly
 * rounded strtod (which cJSON calls) would, without its locale or a copy. */
static int number_overflows(const unsigned char *ip, size_t ni, const unsigned char *fp, size_t nf,
                            const unsigned char *ep, size_t ne, int eneg)
{
    const size_t nt = sizeof(json_dbl_overflow) - 1;
    size_t z = 0, k, j, n = ni + nf;
    int64_t e = 0, p;

    while (z < n && sig_digit(ip, ni, fp, z) == '0')
        z++;
    if (z == n)
        return 0; /* zero */
    /* The exponent saturates: beyond a million the answer no longer depends on it. */
    for (k = 0; k < ne; k++) {
        e = e * 10 + (ep[k] - '0');
        if (e > 1000000)
            e = 1000000;
    }
    if (eneg)
        e = -e;
    /* The value is 0.d1d2d3... * 10^p, where d1 is the first nonzero digit; overflow starts at
     * 0.179769... * 10^309. */
    p = (int64_t)ni - (int64_t)z + e;
    if (p != (int64_t)nt)
        return p > (int64_t)nt;
    for (k = z, j = 0; k < n && j < nt; k++, j++) {
        unsigned char c = sig_digit(ip, ni, fp, k);
        if (c != (unsigned char)json_dbl_overflow[j])
            return c > (unsigned char)json_dbl_overflow[j];
    }
    if (j == nt)
        return 1; /* equal up to the threshold's last digit: at or above it */
    for (; j < nt; j++) {
        if (json_dbl_overflow[j] != '0')
            return 0;
    }
    return 1;
}

static int scan_number(json_scan *sc)
{
    const unsigned char *s = sc->s;
    size_t start = sc->pos, p = start, int_at, int_len, frac_at = 0, frac_len = 0;
    size_t exp_at = 0, exp_len = 0;
    int eneg = 0;

    if (s[p] == '-')
        p++;
    int_at = p;
    if (p < sc->len && s[p] == '0') {
        p++;
        if (p < sc->len && is_digit(s[p]))
            return scan_fail(sc, p, "leading zero in number");
    } else if (scan_digits(sc, &p)) {
        return -1;
    }
    int_len = p - int_at;
    if (p < sc->len && s[p] == '.') {
        frac_at = ++p;
        if (scan_digits(sc, &p))
            return -1;
        frac_len = p - frac_at;
    }
    if (p < sc->len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < sc->len && (s[p] == '+' || s[p] == '-'))
            eneg = s[p++] == '-';
        exp_at = p;
        if (scan_digits(sc, &p))
            return -1;
        exp_len = p - exp_at;
    }
    if (frac_at == 0 && exp_at == 0) {
        /* A plain integer must be exact as a double; larger ids travel as strings. */
        if (int_beyond_2p53((const char *)(s + int_at), int_len))
            return scan_fail(sc, start, "integer beyond 2^53");
    } else if (number_overflows(s + int_at, int_len, s + frac_at, frac_len, s + exp_at, exp_len,
                                eneg)) {
        return scan_fail(sc, start, "number out of range");
    }
    sc->pos = p;
    return 0;
}

static int scan_literal(json_scan *sc, const char *lit)
{
    size_t i;

    for (i = 0; lit[i] != '\0'; i++) {
        if (sc->pos + i == sc->len)
            return scan_eof(sc);
        if (sc->s[sc->pos + i] != (unsigned char)lit[i])
            return scan_fail(sc, sc->pos + i, "invalid literal");
    }
    sc->pos += i;
    return 0;
}

/* Enters the array or object whose bracket is at pos, refusing level CU_JSON_MAX_DEPTH + 1. */
static int scan_enter(json_scan *sc)
{
    if (sc->depth == CU_JSON_MAX_DEPTH)
        return scan_fail(sc, sc->pos, "nesting too deep");
    sc->depth++;
    sc->pos++;
    scan_ws(sc);
    return 0;
}

static int scan_array(json_scan *sc)
{
    if (scan_enter(sc))
        return -1;
    if (sc->pos == sc->len || sc->s[sc->pos] != ']') {
        for (;;) {
            if (scan_value(sc))
                return -1;
            scan_ws(sc);
            if (sc->pos == sc->len)
                return scan_eof(sc);
            if (sc->s[sc->pos] == ']')
                break;
            if (sc->s[sc->pos] != ',')
                return scan_fail(sc, sc->pos, "expected ',' or ']'");
            sc->pos++;
        }
    }
    sc->pos++;
    sc->depth--;
    return 0;
}

/* Scans one "key": value member of an object. */
static int scan_member(json_scan *sc)
{
    scan_ws(sc);
    if (sc->pos == sc->len)
        return scan_eof(sc);
    if (sc->s[sc->pos] != '"')
        return scan_fail(sc, sc->pos, "expected string key");
    if (scan_string(sc, 1))
        return -1;
    scan_ws(sc);
    if (sc->pos == sc->len)
        return scan_eof(sc);
    if (sc->s[sc->pos] != ':')
        return scan_fail(sc, sc->pos, "expected ':'");
    sc->pos++;
    return scan_value(sc);
}

static int scan_object(json_scan *sc)
{
    json_frame *f;
    size_t dup;

    if (scan_enter(sc))
        return -1;
    f = &sc->frames[sc->nframes++];
    f->first_key = sc->nkeys;
    f->arena_mark = sc->arena_len;
    if (sc->pos == sc->len || sc->s[sc->pos] != '}') {
        for (;;) {
            if (scan_member(sc))
                return -1;
            scan_ws(sc);
            if (sc->pos == sc->len)
                return scan_eof(sc);
            if (sc->s[sc->pos] == '}')
                break;
            if (sc->s[sc->pos] != ',')
                return scan_fail(sc, sc->pos, "expected ',' or '}'");
            sc->pos++;
        }
    }
    /* On a duplicate the frame stays open: scan_open_dups then also weighs the enclosing
     * objects, whose duplicates may come earlier. */
    dup = keys_first_dup(sc, f->first_key, sc->nkeys);
    if (dup != SIZE_MAX)
        return scan_fail(sc, dup, "duplicate key");
    sc->nkeys = f->first_key;
    sc->arena_len = f->arena_mark;
    sc->nframes--;
    sc->pos++;
    sc->depth--;
    return 0;
}

static int scan_value(json_scan *sc)
{
    unsigned char c;

    scan_ws(sc);
    if (sc->pos == sc->len)
        return scan_eof(sc);
    if (++sc->nodes > CU_JSON_MAX_NODES) {
        sc->too_many = 1;
        return scan_fail(sc, sc->pos, "more than " JSON_STR(CU_JSON_MAX_NODES) " values");
    }
    c = sc->s[sc->pos];
    switch (c) {
    case '{':
        return scan_object(sc);
    case '[':
        return scan_array(sc);
    case '"':
        return scan_string(sc, 0);
    case 't':
        return scan_literal(sc, "true");
    case 'f':
        return scan_literal(sc, "false");
    case 'n':
        return scan_literal(sc, "null");
    default:
        if (c == '-' || is_digit(c))
            return scan_number(sc);
        return scan_fail(sc, sc->pos, "expected value");
    }
}

static int scan_document(json_scan *sc)
{
    scan_ws(sc);
    if (sc->pos == sc->len)
        return scan_fail(sc, sc->len, "empty input");
    if (scan_value(sc))
        return -1;
    scan_ws(sc);
    if (sc->pos != sc->len)
        return scan_fail(sc, sc->pos, "unexpected data after value");
    return 0;
}

/* Scans text with the strict rules; on success hands it to cJSON. The caller owns *out. */
cu_rc cu_json_parse(const char *text, size_t len, cJSON **out, size_t *offset, cu_err *err)
{
    json_scan sc;
    cJSON *tree;
    size_t dup;
    cu_rc rc;

    *out = NULL;
    if (offset != NULL)
        *offset = 0;
    memset(&sc, 0, sizeof(sc));
    sc.s = (const unsigned char *)text;
    sc.len = text != NULL ? len : 0;
    if (scan_document(&sc) != 0) {
        if (sc.nomem) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory while reading JSON");
            goto out;
        }
        dup = scan_open_dups(&sc);
        if (dup < sc.err_off) {
            sc.err_off = dup;
            sc.reason = "duplicate key";
        }
        if (offset != NULL)
            *offset = sc.err_off;
        rc = cu_err_set(err, sc.too_many && dup >= sc.err_off ? CU_ERR_LIMIT : CU_ERR_INVALID,
                        "invalid JSON at byte %zu: %s", sc.err_off, sc.reason);
        goto out;
    }
    /* The scanner accepts a subset of what cJSON accepts, so cJSON fails only for memory. */
    tree = cJSON_ParseWithLength(text, len);
    if (tree == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory while building JSON tree");
        goto out;
    }
    *out = tree;
    rc = CU_OK;
out:
    free(sc.keys);
    free(sc.arena);
    return rc;
}

/* Would cJSON print d as text that cu_json_parse refuses or reads back differently? cJSON tries
 * "%1.15g" and keeps it when it reads back within a relative epsilon, else uses "%1.17g":
 *  - (2^53, 1e17): "%1.17g" writes a bare integer beyond 2^53;
 *  - near DBL_MAX: "%1.15g" rounds up to 1.79769313486232e308, which overflows, yet passes
 *    cJSON's check (inf - DBL_MAX <= inf * epsilon);
 *  - subnormals: 15 digits may read back as a neighbouring double whose own 15 digits differ,
 *    so printing would not be stable.
 * The ranges are wider than needed: the cost is only a longer tree walk. */
static int number_misprinted(double d)
{
    double a = fabs(d);

    if (!isfinite(d) || d == 0)
        return 0;
    return a < DBL_MIN || (a > 9007199254740992.0 && a < 1e17) || a > 1.79769313486231e308;
}

static int tree_misprinted(const cJSON *item)
{
    const cJSON *c;

    if (cJSON_IsNumber(item))
        return number_misprinted(item->valuedouble);
    for (c = item->child; c != NULL; c = c->next) {
        if (tree_misprinted(c))
            return 1;
    }
    return 0;
}

static char json_decimal_point(void)
{
    const struct lconv *lc = localeconv();

    return lc->decimal_point != NULL && lc->decimal_point[0] != '\0' ? lc->decimal_point[0] : '.';
}

/* Writes d in exponent form with the fewest digits (15 to 17) that read back exactly. */
static void number_format(double d, char *buf, size_t n)
{
    char point = json_decimal_point(), *p;
    int prec;

    for (prec = 14; prec < 16; prec++) {
        snprintf(buf, n, "%.*e", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (prec == 16)
        snprintf(buf, n, "%.16e", d);
    if (point != '.' && (p = strchr(buf, point)) != NULL)
        *p = '.';
}

/* Turns the misprinted numbers of a tree we own into raw items holding our own text. */
static int tree_fix_numbers(cJSON *item)
{
    cJSON *c;

    if (cJSON_IsNumber(item) && number_misprinted(item->valuedouble)) {
        char buf[40];
        size_t n;

        number_format(item->valuedouble, buf, sizeof(buf));
        n = strlen(buf) + 1;
        item->valuestring = cJSON_malloc(n);
        if (item->valuestring == NULL)
            return -1;
        memcpy(item->valuestring, buf, n);
        item->type = cJSON_Raw | (item->type & cJSON_StringIsConst);
        return 0;
    }
    for (c = item->child; c != NULL; c = c->next) {
        if (tree_fix_numbers(c))
            return -1;
    }
    return 0;
}

/* Prints item compactly. Numbers cJSON would print unreadably (see number_misprinted) are
 * printed from a copy of the tree instead, so that whatever cu_json_parse read, its output reads
 * back to the same text. */
char *cu_json_print(const cJSON *item)
{
    cJSON *copy = NULL;
    char *txt = NULL;

    if (item == NULL)
        return NULL;
    if (!tree_misprinted(item))
        return cJSON_PrintUnformatted(item);
    copy = cJSON_Duplicate(item, 1);
    if (copy == NULL || tree_fix_numbers(copy) != 0)
        goto out;
    txt = cJSON_PrintUnformatted(copy);
out:
    cJSON_Delete(copy);
    return txt;
}

/* --- an object's members from its text (cu_json_members) ------------------------------------ */

static size_t span_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Past the string that opens at s[i] ('"'), or 0 if it does not close. */
static size_t span_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Past the value that starts at s[i], or 0 if there is none or it does not close. Brackets
 * nest up to CU_JSON_MAX_DEPTH, each closed by its own kind. */
static size_t span_value(const char *s, size_t len, size_t i)
{
    char open[CU_JSON_MAX_DEPTH + 1];
    size_t depth = 0, start = i;

    do {
        if (i >= len)
            return 0;
        if (s[i] == '"') {
            if ((i = span_string(s, len, i)) == 0)
                return 0;
        } else if (s[i] == '{' || s[i] == '[') {
            if (depth == sizeof(open))
                return 0;
            open[depth++] = s[i++] == '{' ? '}' : ']';
        } else if (s[i] == '}' || s[i] == ']') {
            if (depth == 0 || open[depth - 1] != s[i])
                return 0;
            depth--;
            i++;
        } else if (depth == 0) {
            while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
                   span_ws(s, len, i) == i)
                i++;
            return i > start ? i : 0;
        } else {
            i++;
        }
    } while (depth > 0);
    return i;
}

int cu_json_members(const char *text, size_t len, cu_json_member **out, size_t *n)
{
    cu_json_member *m = NULL;
    size_t i = span_ws(text, len, 0), cap = 0, count = 0;

    *out = NULL;
    *n = 0;
    if (i >= len || text[i] != '{')
        return -1;
    i = span_ws(text, len, i + 1);
    while (i < len && text[i] != '}') {
        cu_json_member e;
        if (count > 0) {
            if (text[i] != ',')
                goto fail;
            i = span_ws(text, len, i + 1);
        }
        if (i >= len || text[i] != '"')
            goto fail;
        e.key = i;
        if ((i = span_string(text, len, i)) == 0)
            goto fail;
        e.key_len = i - e.key;
        i = span_ws(text, len, i);
        if (i >= len || text[i] != ':')
            goto fail;
        e.val = span_ws(text, len, i + 1);
        if ((i = span_value(text, len, e.val)) == 0)
            goto fail;
        e.val_len = i - e.val;
        i = span_ws(text, len, i);
        if (count == cap) {
            cu_json_member *bigger = realloc(m, (cap ? cap * 2 : 16) * sizeof(*m));
            if (bigger == NULL) {
                free(m);
                return -2;
            }
            m = bigger;
            cap = cap ? cap * 2 : 16;
        }
        m[count++] = e;
    }
    if (i >= len || span_ws(text, len, i + 1) != len)
        goto fail;
    *out = m;
    *n = count;
    return 0;
fail:
    free(m);
    return -1;
}
