/*
 * certificate.c: the erasure certificate (P-DSR-4, P-RET-4): what an erasure erased, what it
 * kept, why and until when, signed with the vault's audit signing key (Ed25519).
 *
 * The certificate is one JSON object; its last member, "signature", signs the compact
 * serialization (cu_json_print) of the object without it, after a fixed domain label, so a
 * certificate pretty-printed by a tool still verifies while any change of a value does not.
 * It holds ids, names, counts and dates, never a personal value. Verification takes the
 * public key from the caller (the vault's, `custos audit checkpoints` prints it), never from
 * the certificate: the key the certificate names must be that one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "json.h"
#include "retain_int.h"
#include "util.h"

#define CERT_TYPE "custos.erasure_certificate/1"
#define CERT_DOMAIN "custos-erasure-certificate-1\n"
#define CERT_MAX (4 * 1024 * 1024)

static void add_id(cJSON *o, const char *name, cu_id id)
{
    char buf[CU_ID_STRLEN];

    cu_id_format(id, buf);
    cJSON_AddStringToObject(o, name, buf);
}

static void add_time(cJSON *o, const char *name, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];

    if (t == INT64_MAX) { /* counted from an event still to come */
        cJSON_AddNullToObject(o, name);
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(o, name, buf);
}

static cJSON *retention_json(const cu_retention *r)
{
    static const char *const units[] = {"h", "d", "mo", "y"};
    cJSON *o = cJSON_CreateObject();
    char keep[32];

    snprintf(keep, sizeof(keep), "%u%s", (unsigned)r->keep.count,
             (unsigned)r->keep.unit < 4 ? units[r->keep.unit] : "?");
    cJSON_AddStringToObject(o, "keep", keep);
    cJSON_AddStringToObject(o, "from", cu_retention_event_name(r->from));
    cJSON_AddStringToObject(o, "then", "delete");
    return o;
}

/* item into array or object (name not NULL), or freed if it cannot go in (an allocation that
 * failed left no parent): nothing leaks when memory runs out midway. */
static void put_item(cJSON *parent, const char *name, cJSON *item)
{
    if (!(name ? cJSON_AddItemToObject(parent, name, item) : cJSON_AddItemToArray(parent, item)))
        cJSON_Delete(item);
}

/* One kept collection: counts, the duty that keeps it, its retention and its record ids. */
static cJSON *kept_json(const cu_erase_line *l)
{
    cJSON *o = cJSON_CreateObject(), *ids = cJSON_CreateArray();

    cJSON_AddStringToObject(o, "collection", l->collection);
    cJSON_AddStringToObject(o, "category", l->category->name);
    cJSON_AddNumberToObject(o, "records", (double)l->kept);
    cJSON_AddStringToObject(o, "purpose", l->duty->name);
    cJSON_AddStringToObject(o, "basis", cu_legal_basis_name(l->duty->basis));
    cJSON_AddStringToObject(o, "data_use", l->duty->data_use);
    put_item(o, "retention", retention_json(&l->category->retention));
    add_time(o, "until", l->until);
    for (size_t i = 0; i < l->kept; i++) {
        char buf[CU_ID_STRLEN];
        cu_id_format(l->ids[i], buf);
        put_item(ids, NULL, cJSON_CreateString(buf));
    }
    put_item(o, "record_ids", ids);
    return o;
}

static cJSON *erased_json(const cu_erase_line *l)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "collection", l->collection);
    if (l->category != NULL)
        cJSON_AddStringToObject(o, "category", l->category->name);
    else
        cJSON_AddNullToObject(o, "category");
    cJSON_AddNumberToObject(o, "records", (double)l->erased);
    if (l->at_least) /* counted up to the bound only: the answer does not wait for more */
        cJSON_AddBoolToObject(o, "at_least", 1);
    return o;
}

/* The certificate without its signature. */
static cJSON *body_json(cu_id tenant, cu_id subject, const cu_erase_plan *pl)
{
    cJSON *o = cJSON_CreateObject(), *pol, *erased, *kept;

    cJSON_AddStringToObject(o, "type", CERT_TYPE);
    add_id(o, "tenant_id", tenant);
    add_id(o, "subject_id", subject);
    add_time(o, "erased_at", pl->at);
    if (pl->policy != NULL) {
        pol = cJSON_AddObjectToObject(o, "policy");
        cJSON_AddStringToObject(pol, "id", cu_policy_id(pl->policy));
        cJSON_AddStringToObject(pol, "version", cu_policy_version(pl->policy));
    } else {
        cJSON_AddNullToObject(o, "policy");
    }
    /* The profile (external id, email, phone, birth date), its index entries and the consent
     * ledger always go; records by collection. */
    erased = cJSON_AddObjectToObject(o, "erased");
    cJSON_AddBoolToObject(erased, "profile", 1);
    cJSON_AddBoolToObject(erased, "consents", 1);
    put_item(erased, "collections", cJSON_CreateArray());
    kept = cJSON_AddArrayToObject(o, "kept");
    for (size_t i = 0; i < pl->nlines; i++) {
        const cu_erase_line *l = &pl->lines[i];
        if (l->erased > 0)
            put_item(cJSON_GetObjectItemCaseSensitive(erased, "collections"), NULL,
                     erased_json(l));
        if (l->kept > 0)
            put_item(kept, NULL, kept_json(l));
    }
    return o;
}

/* The bytes signed: the domain label, then the compact body. Caller frees. */
static uint8_t *signed_message(const cJSON *body, size_t *n)
{
    char *text = cu_json_print(body);
    size_t dl = strlen(CERT_DOMAIN), tl;
    uint8_t *m;

    if (text == NULL)
        return NULL;
    tl = strlen(text);
    if ((m = malloc(dl + tl)) != NULL) {
        memcpy(m, CERT_DOMAIN, dl);
        memcpy(m + dl, text, tl);
        *n = dl + tl;
    }
    free(text);
    return m;
}

cu_rc cu_erase_certificate(cu_vault *v, cu_id tenant, cu_id subject, const cu_erase_plan *pl,
                           char **out, cu_err *err)
{
    cJSON *o = body_json(tenant, subject, pl), *sig;
    char pkhex[2 * 32 + 1], sighex[2 * CU_SIGNBYTES + 1];
    uint8_t s[CU_SIGNBYTES], *m = NULL;
    size_t n = 0;
    cu_rc rc = CU_OK;

    *out = NULL;
    if (o == NULL || (m = signed_message(o, &n)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    cu_sign(v->audit_sk, m, n, s);
    cu_hex_encode(v->audit_pk, 32, pkhex);
    cu_hex_encode(s, sizeof(s), sighex);
    sig = cJSON_AddObjectToObject(o, "signature");
    cJSON_AddStringToObject(sig, "algorithm", "Ed25519");
    cJSON_AddStringToObject(sig, "public_key", pkhex);
    cJSON_AddStringToObject(sig, "value", sighex);
    if ((*out = cJSON_Print(o)) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
out:
    free(m);
    cJSON_Delete(o);
    return rc;
}

/* Lowercase or uppercase hex of exactly n bytes into b; -1 if it is not. */
static int hex_decode(const char *s, uint8_t *b, size_t n)
{
    if (strlen(s) != 2 * n)
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

/* The signature member's key and value, decoded; CU_ERR_INVALID if malformed. */
static cu_rc signature_read(const cJSON *sig, uint8_t pk[32], uint8_t s[CU_SIGNBYTES], cu_err *err)
{
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(sig, "algorithm");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(sig, "public_key");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive(sig, "value");

    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, "Ed25519") != 0 || !cJSON_IsString(k) ||
        !cJSON_IsString(val))
        return cu_err_set(err, CU_ERR_INVALID, "the certificate has no Ed25519 signature");
    if (hex_decode(k->valuestring, pk, 32) != 0 ||
        hex_decode(val->valuestring, s, CU_SIGNBYTES) != 0)
        return cu_err_set(err, CU_ERR_INVALID, "the certificate's signature is malformed");
    return CU_OK;
}

cu_rc cu_erasure_certificate_verify(const char *text, size_t len, const uint8_t public_key[32],
                                    cu_err *err)
{
    uint8_t pk[32], s[CU_SIGNBYTES], *m = NULL;
    cJSON *o = NULL, *sig = NULL;
    const cJSON *type;
    size_t n = 0;
    cu_rc rc;

    if (text == NULL || len > CERT_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "not an erasure certificate");
    if ((rc = cu_json_parse(text, len, &o, NULL, err)) != CU_OK)
        return rc;
    type = cJSON_GetObjectItemCaseSensitive(o, "type");
    if (!cJSON_IsObject(o) || !cJSON_IsString(type) || strcmp(type->valuestring, CERT_TYPE) != 0) {
        rc = cu_err_set(err, CU_ERR_INVALID, "not an erasure certificate");
        goto out;
    }
    sig = cJSON_DetachItemFromObjectCaseSensitive(o, "signature");
    if ((rc = signature_read(sig, pk, s, err)) != CU_OK)
        goto out;
    if (!cu_ct_equal(pk, public_key, 32)) {
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the certificate is signed by another key");
        goto out;
    }
    if ((m = signed_message(o, &n)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!cu_sign_verify(public_key, m, n, s))
        rc = cu_err_set(err, CU_ERR_CRYPTO,
                        "the certificate's signature does not verify: it was altered");
out:
    free(m);
    cJSON_Delete(sig);
    cJSON_Delete(o);
    return rc;
}
