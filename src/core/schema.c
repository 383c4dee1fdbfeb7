/*
 * schema.c: field classes of collections, normalization of indexed values, and the card-number
 * rules of P-ENC-3.
 *
 * A collection's declared classes are kept as a small JSON spec in the store:
 *   {"fields":{"ssn":{"class":"sensitive","indexed":true}, ...}}
 * Undeclared fields are personal. Fields named like card numbers are forbidden whatever the
 * declaration says, and so is any value that looks like a full card number: Custos never stores
 * one (P-ENC-3).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "schema_int.h"
#include "tenant_int.h"
#include "util.h"

struct cu_schema {
    cJSON *fields; /* the "fields" object of the spec, or NULL */
    cJSON *root;
};

static const char *const class_names[] = {
    [CU_FIELD_PLAIN] = "plain",
    [CU_FIELD_PERSONAL] = "personal",
    [CU_FIELD_SENSITIVE] = "sensitive",
    [CU_FIELD_FORBIDDEN] = "forbidden",
};

int cu_collection_name_ok(const char *name)
{
    size_t i;

    if (name == NULL || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (i = 0; name[i] != '\0'; i++) {
        char c = name[i];
        if (i >= CU_COLLECTION_MAX - 1)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* P-ENC-3: names under which payment card numbers travel, compared without case, '_' or '-'. */
int cu_field_is_card_name(const char *name)
{
    static const char *const names[] = {
        "cardnumber", "creditcard", "creditcardnumber", "ccnumber", "ccnum", "pan",
        "cardpan",    "primaryaccountnumber", "debitcardnumber", "cardno",
    };
    char norm[64];
    size_t j = 0;

    for (; *name != '\0' && j < sizeof(norm) - 1; name++)
        if (isalnum((unsigned char)*name))
            norm[j++] = (char)tolower((unsigned char)*name);
    norm[j] = '\0';
    for (size_t i = 0; i < CU_ARRAY_LEN(names); i++)
        if (strcmp(norm, names[i]) == 0)
            return 1;
    return 0;
}

/* 1 if the n digits d have a card network's prefix and a valid Luhn check digit. Prefixes:
 * Visa 4, Mastercard 51-55 and 22-27, Amex 34 37, JCB 35, Diners 36 38, Discover 6011 65,
 * UnionPay 62. */
static int pan_ok(const char *d, size_t n)
{
    int sum = 0;

    if (n < 13 || n > 19)
        return 0;
    if (!(d[0] == '4' || (d[0] == '5' && d[1] >= '1' && d[1] <= '5') ||
          (d[0] == '2' && d[1] >= '2' && d[1] <= '7') ||
          (d[0] == '3' && d[1] >= '4' && d[1] <= '8') ||
          (d[0] == '6' && (strncmp(d, "6011", 4) == 0 || d[1] == '5' || d[1] == '2'))))
        return 0;
    for (size_t i = 0; i < n; i++) {
        int x = d[n - 1 - i] - '0';
        if (i % 2 == 1 && (x *= 2) > 9)
            x -= 9;
        sum += x;
    }
    return sum % 10 == 0;
}

/* P-ENC-3: finds a full card number anywhere in free text. Digits are read in groups separated
 * by one space or dash (4111 1111 1111 1111, 4111-1111-..., or one run); every span of whole
 * consecutive groups holding 13 to 19 digits is checked. */
int cu_value_is_card_number(const char *s)
{
    size_t gstart[64], glen[64], ng = 0;
    char digits[512];
    size_t nd = 0;
    const char *p = s;

    for (;;) {
        int boundary = 0;
        if (isdigit((unsigned char)*p)) {
            if (nd == sizeof(digits) || ng == CU_ARRAY_LEN(gstart))
                boundary = 1;
            else {
                /* A new group after a separator, or after a reset at a buffer limit. */
                if (ng == 0 || !isdigit((unsigned char)p[-1])) {
                    gstart[ng] = nd;
                    glen[ng++] = 0;
                }
                digits[nd++] = *p;
                glen[ng - 1]++;
                p++;
                continue;
            }
        }
        /* A single space or dash between two digits keeps the run going. */
        if (!boundary && (*p == ' ' || *p == '-') && p > s && isdigit((unsigned char)p[-1]) &&
            isdigit((unsigned char)p[1])) {
            p++;
            continue;
        }
        for (size_t a = 0; a < ng; a++) {
            size_t total = 0;
            for (size_t b = a; b < ng && total <= 19; b++) {
                total += glen[b];
                if (pan_ok(digits + gstart[a], total))
                    return 1;
            }
        }
        ng = nd = 0;
        if (*p == '\0')
            return 0;
        if (!boundary)
            p++;
    }
}

/* Wipes the strings of every descendant of o (not o itself). */
static void wipe_children(cJSON *o)
{
    for (cJSON *c = o->child; c != NULL; c = c->next) {
        if (cJSON_IsString(c) && c->valuestring != NULL)
            cu_wipe(c->valuestring, strlen(c->valuestring));
        if (c->child != NULL)
            wipe_children(c);
    }
}

void cu_json_delete_wiped(cJSON *o)
{
    if (o == NULL)
        return;
    if (cJSON_IsString(o) && o->valuestring != NULL)
        cu_wipe(o->valuestring, strlen(o->valuestring));
    wipe_children(o);
    cJSON_Delete(o);
}

cu_rc cu_norm_email(const char *in, char *out, size_t outcap)
{
    size_t n, start = 0, j = 0;
    const char *at;

    n = strlen(in);
    while (start < n && isspace((unsigned char)in[start]))
        start++;
    while (n > start && isspace((unsigned char)in[n - 1]))
        n--;
    if (n - start < 3 || n - start >= outcap || n - start > 254)
        return CU_ERR_INVALID;
    at = memchr(in + start, '@', n - start);
    if (at == NULL || at == in + start || at == in + n - 1 ||
        memchr(at + 1, '@', (size_t)(in + n - at - 1)) != NULL)
        return CU_ERR_INVALID;
    for (size_t i = start; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c == 0x7f)
            return CU_ERR_INVALID;
        out[j++] = (char)tolower(c);
    }
    out[j] = '\0';
    return CU_OK;
}

cu_rc cu_norm_phone(const char *in, char *out, size_t outcap)
{
    size_t j = 0, digits = 0;
    const char *p = in;

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '+') {
        out[j++] = '+';
        p++;
    }
    for (; *p != '\0'; p++) {
        if (isdigit((unsigned char)*p)) {
            if (j + 1 >= outcap)
                return CU_ERR_INVALID;
            out[j++] = *p;
            digits++;
        } else if (!strchr(" -().", *p)) {
            return CU_ERR_INVALID;
        }
    }
    if (digits < 4 || digits > 20)
        return CU_ERR_INVALID;
    out[j] = '\0';
    return CU_OK;
}

cu_rc cu_schema_load(cu_vault *v, cu_id tenant, const char *collection, cu_schema **out,
                     cu_err *err)
{
    cu_schema *s = calloc(1, sizeof(*s));
    char *spec = NULL;
    cu_rc rc;

    if (s == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    rc = cu_store_collection_get(v->store, tenant, collection, &spec, err);
    if (rc == CU_ERR_NOT_FOUND) {
        *out = s;
        return CU_OK;
    }
    if (rc == CU_OK) {
        rc = cu_json_parse(spec, strlen(spec), &s->root, NULL, err);
        free(spec);
    }
    if (rc != CU_OK) {
        cu_schema_free(s);
        return rc;
    }
    s->fields = cJSON_GetObjectItemCaseSensitive(s->root, "fields");
    *out = s;
    return CU_OK;
}

void cu_schema_free(cu_schema *s)
{
    if (s == NULL)
        return;
    cJSON_Delete(s->root);
    free(s);
}

static int class_from_name(const char *name)
{
    for (size_t i = 0; i < CU_ARRAY_LEN(class_names); i++)
        if (strcmp(name, class_names[i]) == 0)
            return (int)i;
    return -1;
}

cu_field_class cu_schema_class(const cu_schema *s, const char *field, int *indexed)
{
    const cJSON *f, *c, *ix;
    int cls;

    *indexed = 0;
    if (cu_field_is_card_name(field))
        return CU_FIELD_FORBIDDEN;
    f = s->fields ? cJSON_GetObjectItemCaseSensitive(s->fields, field) : NULL;
    if (f == NULL)
        return CU_FIELD_PERSONAL;
    c = cJSON_GetObjectItemCaseSensitive(f, "class");
    ix = cJSON_GetObjectItemCaseSensitive(f, "indexed");
    cls = cJSON_IsString(c) ? class_from_name(c->valuestring) : -1;
    if (cls < 0)
        cls = CU_FIELD_PERSONAL;
    *indexed = cls == CU_FIELD_SENSITIVE || cJSON_IsTrue(ix);
    return (cu_field_class)cls;
}

static int field_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 128 || name[0] == '$')
        return 0;
    for (; *name; name++)
        if ((unsigned char)*name < 0x20)
            return 0;
    return 1;
}

cu_rc cu_collection_op(cu_id tenant, const char *collection, const cu_field_def *fields,
                       size_t n, cu_store_op *op, cu_err *err)
{
    cJSON *root = cJSON_CreateObject(), *fo;
    char *spec = NULL;
    cu_rc rc = CU_OK;

    if (root == NULL || (fo = cJSON_AddObjectToObject(root, "fields")) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!cu_collection_name_ok(collection)) {
        rc = cu_err_set(err, CU_ERR_INVALID,
                        "collection name must match [a-z][a-z0-9_]* and be under %d bytes",
                        CU_COLLECTION_MAX);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *f;
        if (!field_name_ok(fields[i].name) || (unsigned)fields[i].cls > CU_FIELD_FORBIDDEN) {
            rc = cu_err_set(err, CU_ERR_INVALID, "field %zu: bad name or class", i);
            goto out;
        }
        if (cJSON_GetObjectItemCaseSensitive(fo, fields[i].name) != NULL) {
            rc = cu_err_set(err, CU_ERR_INVALID, "field \"%s\" declared twice", fields[i].name);
            goto out;
        }
        if (cu_field_is_card_name(fields[i].name) && fields[i].cls != CU_FIELD_FORBIDDEN) {
            rc = cu_err_set(err, CU_ERR_FORBIDDEN_FIELD,
                            "field \"%s\" holds card numbers and can only be forbidden",
                            fields[i].name);
            goto out;
        }
        f = cJSON_AddObjectToObject(fo, fields[i].name);
        if (f == NULL || !cJSON_AddStringToObject(f, "class", class_names[fields[i].cls]) ||
            !cJSON_AddBoolToObject(f, "indexed",
                                   fields[i].indexed || fields[i].cls == CU_FIELD_SENSITIVE)) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if ((spec = cu_json_print(root)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    memset(op, 0, sizeof(*op));
    op->type = CU_OP_COLLECTION_PUT;
    op->u.collection.tenant_id = tenant;
    op->u.collection.name = collection;
    op->u.collection.spec = spec;
out:
    cJSON_Delete(root);
    return rc;
}

cu_rc cu_collection_define(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                           const cu_field_def *fields, size_t n, cu_err *err)
{
    cu_store_op op = {0};
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_collection_op(tenant, collection, fields, n, &op, err)) != CU_OK)
        return rc;
    if ((rc = cu_tenant_check(v, tenant, 1, err)) == CU_OK) {
        cu_audit_in_set(&a, tenant, "collection.define", "collection:%s", collection);
        rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    }
    free((char *)(uintptr_t)op.u.collection.spec);
    return rc;
}
