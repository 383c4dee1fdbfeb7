/*
 * repr_audit.c: the JSON forms of the audit log (docs/audit.md): entries, pages, checkpoints,
 * their export with the public key, and verification reports, which the API answers and
 * `custos audit` prints, so both export the same document; the reader of checkpoints kept
 * outside the vault; and the time formats they use (RFC 3339 with milliseconds).
 *
 * The log holds ids and names only (P-AUD-4); an entry's text members are exactly what was
 * hashed (P-AUD-2), so a tenant can recompute the chain from this form.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "repr.h"

/* --- time ----------------------------------------------------------------------------------- */

/* Reads exactly n digits at *p into *out, advancing *p. 0 on success. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

    return m == 2 && leap ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian, for y >= 1970 (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The part after the date: THH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), as seconds and milliseconds
 * from the day's midnight UTC (may be negative through the offset). 0 on success. */
static int clock_part(const char *p, int64_t *secs, int *msec)
{
    int h, mi, s, oh = 0, om = 0, sign = 0, scale = 100;

    *msec = 0;
    if (*p != 'T' && *p != 't')
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &s) || h > 23 || mi > 59 || s > 59)
        return -1;
    if (*p == '.') {
        if (*++p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
            *msec += (*p - '0') * scale;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == ' ' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *secs = (int64_t)h * 3600 + mi * 60 + s - sign * ((int64_t)oh * 3600 + om * 60);
    return 0;
}

cu_rc cu_repr_time_parse(const char *s, int64_t *ms)
{
    const char *p = s;
    size_t len;
    int64_t secs = 0;
    int y, mo, d, msec = 0;

    if (s == NULL || *s == '\0')
        return CU_ERR_INVALID;
    len = strspn(s, "0123456789");
    if (s[len] == '\0') {
        if (len > 15)
            return CU_ERR_INVALID;
        *ms = (int64_t)strtoll(s, NULL, 10);
        return CU_OK;
    }
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return CU_ERR_INVALID;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return CU_ERR_INVALID;
    if (*p != '\0' && clock_part(p, &secs, &msec) != 0)
        return CU_ERR_INVALID;
    secs += days_from_civil(y, mo, d) * 86400;
    if (secs < 0)
        return CU_ERR_INVALID;
    *ms = secs * 1000 + msec;
    return CU_OK;
}

void cu_repr_time_format(int64_t ms, char out[32])
{
    time_t t;
    struct tm tm;
    size_t n;

    if (ms < 0)
        ms = 0;
    t = (time_t)(ms / 1000);
    gmtime_r(&t, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

/* --- JSON forms ----------------------------------------------------------------------------- */

static void add_hex(cJSON *o, const char *name, const uint8_t *b, size_t n)
{
    static const char digit[] = "0123456789abcdef";
    char buf[2 * 64 + 1];

    for (size_t i = 0; i < n && i < 64; i++) {
        buf[2 * i] = digit[b[i] >> 4];
        buf[2 * i + 1] = digit[b[i] & 15];
    }
    buf[2 * (n < 64 ? n : 64)] = '\0';
    cJSON_AddStringToObject(o, name, buf);
}

static void add_seq(cJSON *o, const char *name, uint64_t seq)
{
    char buf[CU_ID_STRLEN];

    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)seq);
    cJSON_AddStringToObject(o, name, buf);
}

static void add_ms(cJSON *o, const char *name, int64_t ms)
{
    char buf[32];

    cu_repr_time_format(ms, buf);
    cJSON_AddStringToObject(o, name, buf);
}

/* cJSON's builders tolerate a NULL parent; one check at the end finds any failure. */
static cJSON *complete(cJSON *o, size_t members)
{
    if (o != NULL && (size_t)cJSON_GetArraySize(o) != members) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *cu_repr_audit_entry_json(const cu_audit_entry *e)
{
    cJSON *o = cJSON_CreateObject();

    add_seq(o, "tenant_id", e->tenant_id);
    add_seq(o, "seq", e->seq);
    add_ms(o, "at", e->at);
    cJSON_AddStringToObject(o, "actor", e->actor);
    cJSON_AddStringToObject(o, "action", e->action);
    cJSON_AddStringToObject(o, "object", e->object);
    cJSON_AddStringToObject(o, "purpose", e->purpose);
    cJSON_AddStringToObject(o, "source", e->source);
    cJSON_AddStringToObject(o, "request_id", e->request_id);
    cJSON_AddStringToObject(o, "outcome", e->outcome);
    add_hex(o, "prev", e->prev, 32);
    add_hex(o, "hash", e->hash, 32);
    /* Format 2 (a record write): the digest of the ciphertext it stored. */
    if (e->has_digest)
        add_hex(o, "digest", e->digest, 32);
    return complete(o, e->has_digest ? 13 : 12);
}

cJSON *cu_repr_audit_page_json(const cu_audit_entry *e, size_t n, size_t limit)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "entries");

    for (size_t i = 0; i < n && a != NULL; i++) {
        cJSON *item = cu_repr_audit_entry_json(&e[i]);
        if (item == NULL || !cJSON_AddItemToArray(a, item)) {
            cJSON_Delete(item);
            cJSON_Delete(o);
            return NULL;
        }
    }
    /* A full page may have a next one; the cursor is the last seq it holds. */
    if (n > 0 && n == limit)
        add_seq(o, "next", e[n - 1].seq);
    else
        cJSON_AddNullToObject(o, "next");
    return complete(o, 2);
}

cJSON *cu_repr_access_page_json(const cu_audit_entry *e, size_t n, size_t limit)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "accesses");

    for (size_t i = 0; i < n && a != NULL; i++) {
        cJSON *item = cJSON_CreateObject();
        add_seq(item, "seq", e[i].seq);
        add_ms(item, "at", e[i].at);
        cJSON_AddStringToObject(item, "actor", e[i].actor);
        cJSON_AddStringToObject(item, "action", e[i].action);
        cJSON_AddStringToObject(item, "object", e[i].object);
        cJSON_AddStringToObject(item, "purpose", e[i].purpose);
        if ((item = complete(item, 6)) == NULL || !cJSON_AddItemToArray(a, item)) {
            cJSON_Delete(item);
            cJSON_Delete(o);
            return NULL;
        }
    }
    if (n > 0 && n == limit)
        add_seq(o, "next", e[n - 1].seq);
    else
        cJSON_AddNullToObject(o, "next");
    return complete(o, 2);
}

cJSON *cu_repr_audit_checkpoint_json(const cu_audit_checkpoint *c)
{
    cJSON *o = cJSON_CreateObject();

    add_seq(o, "tenant_id", c->tenant_id);
    add_seq(o, "seq", c->seq);
    add_ms(o, "at", c->at);
    add_hex(o, "hash", c->hash, 32);
    add_hex(o, "signature", c->sig, 64);
    cJSON_AddBoolToObject(o, "anchor", c->anchor);
    return complete(o, 6);
}

cJSON *cu_repr_audit_export_json(cu_id tenant, const uint8_t pk[32], const cu_audit_checkpoint *c,
                                 size_t n)
{
    cJSON *o = cJSON_CreateObject(), *a;

    add_seq(o, "tenant_id", tenant);
    cJSON_AddStringToObject(o, "algorithm", "Ed25519");
    add_hex(o, "public_key", pk, 32);
    a = cJSON_AddArrayToObject(o, "checkpoints");
    for (size_t i = 0; i < n && a != NULL; i++) {
        cJSON *item = cu_repr_audit_checkpoint_json(&c[i]);
        if (item == NULL || !cJSON_AddItemToArray(a, item)) {
            cJSON_Delete(item);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return complete(o, 4);
}

cJSON *cu_repr_audit_report_json(const cu_audit_report *rep)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddBoolToObject(o, "ok", rep->ok);
    cJSON_AddNumberToObject(o, "entries", (double)rep->entries);
    cJSON_AddNumberToObject(o, "checkpoints", (double)rep->checkpoints);
    if (rep->ok) {
        cJSON_AddNullToObject(o, "first_bad_seq");
        cJSON_AddNullToObject(o, "problem");
    } else {
        add_seq(o, "first_bad_seq", rep->first_bad_seq);
        cJSON_AddStringToObject(o, "problem", rep->problem);
    }
    /* Entries 1 .. pruned_through were pruned behind a signed anchor (P-RET-4). */
    if (rep->pruned_through > 0)
        add_seq(o, "pruned_through", rep->pruned_through);
    else
        cJSON_AddNullToObject(o, "pruned_through");
    return complete(o, 6);
}

/* --- checkpoints held outside the vault ----------------------------------------------------- */

/* Exactly 2 * n lowercase or uppercase hex digits into b; 0 on success. */
static int hex_get(const cJSON *o, const char *name, uint8_t *b, size_t n)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    const char *s = cJSON_IsString(it) ? it->valuestring : NULL;

    if (s == NULL || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        int c = s[i], d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (d < 0)
            return -1;
        b[i / 2] = (uint8_t)(i % 2 ? (b[i / 2] << 4) | d : d);
    }
    return 0;
}

static int seq_get(const cJSON *o, const char *name, uint64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    char *end;

    if (!cJSON_IsString(it) || it->valuestring[0] < '0' || it->valuestring[0] > '9')
        return -1;
    errno = 0;
    *out = strtoull(it->valuestring, &end, 10);
    return errno != 0 || *end != '\0' ? -1 : 0;
}

/* One checkpoint as cu_repr_audit_checkpoint_json writes it. */
static int held_one(const cJSON *o, cu_audit_checkpoint *c)
{
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(o, "at");
    uint64_t tenant = 0;

    memset(c, 0, sizeof(*c));
    if (seq_get(o, "tenant_id", &tenant) != 0 || seq_get(o, "seq", &c->seq) != 0 ||
        !cJSON_IsString(at) || cu_repr_time_parse(at->valuestring, &c->at) != CU_OK ||
        hex_get(o, "hash", c->hash, 32) != 0 || hex_get(o, "signature", c->sig, 64) != 0)
        return -1;
    c->tenant_id = tenant;
    c->anchor = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "anchor"));
    return 0;
}

/* Adds the checkpoints of one document (an export or a single checkpoint) to out. */
static int held_doc(const cJSON *d, cu_audit_checkpoint *out, size_t cap, size_t *n, uint8_t pk[32],
                    int *has_pk)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "checkpoints"), *c;

    if (!cJSON_IsObject(d))
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(d, "public_key") != NULL) {
        if (hex_get(d, "public_key", pk, 32) != 0)
            return -1;
        *has_pk = 1;
    }
    if (list == NULL)
        return *n < cap ? held_one(d, &out[(*n)++]) : -1;
    if (!cJSON_IsArray(list))
        return -1;
    cJSON_ArrayForEach(c, list) if (*n >= cap || held_one(c, &out[(*n)++]) != 0) return -1;
    return 0;
}

cu_rc cu_repr_audit_held_parse(const char *text, cu_audit_checkpoint **out, size_t *n,
                               uint8_t pk[32], int *has_pk)
{
    cJSON *root = cJSON_Parse(text), *d;
    size_t cap = 0;
    int bad = 0;

    *out = NULL;
    *n = 0;
    *has_pk = 0;
    if (root == NULL)
        return CU_ERR_INVALID;
    cap = (size_t)cJSON_GetArraySize(root) + 1;
    if (cJSON_IsArray(root))
        cJSON_ArrayForEach(d, root) cap +=
            (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "checkpoints"));
    else
        cap += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "checkpoints"));
    if ((*out = calloc(cap, sizeof(**out))) == NULL) {
        cJSON_Delete(root);
        return CU_ERR_NOMEM;
    }
    if (cJSON_IsArray(root))
        cJSON_ArrayForEach(d, root) bad |= held_doc(d, *out, cap, n, pk, has_pk);
    else
        bad = held_doc(root, *out, cap, n, pk, has_pk);
    cJSON_Delete(root);
    if (bad || *n == 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return CU_ERR_INVALID;
    }
    return CU_OK;
}
