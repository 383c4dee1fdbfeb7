/*
 * record_open.c: a record's document opened and its sensitive fields put back in place.
 *
 * The sealed document is Custos's own compact print (cu_json_print) of what was written, with a
 * null where each sensitive field was and a manifest at its end: "$sealed", the names of the
 * fields sealed apart, and "$write", the write they are bound to (record.c, P-ENC-2, P-ENC-6).
 * Opening it builds no tree of the document (issue 17: parsing and printing every read's
 * document was 5% of an audited read): its members are cut out of the opened text, and only
 * the manifest and each sensitive value are parsed, the value to be printed compactly in its
 * member's place. What comes out is, byte for byte, the compact print of the document with its
 * values back and its manifest gone (tests/test_core.c holds it to that).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "record_int.h"
#include "util.h"

/* A sensitive field on its way back: its key as the document prints it, its value's compact
 * text, and which member of the document holds its null (SIZE_MAX: none, so it goes last). */
typedef struct field_back {
    char *key;
    char *val;
    size_t at;
} field_back;

static cu_rc mismatch(cu_err *err)
{
    return cu_err_set(err, CU_ERR_CRYPTO,
                      "record fields do not match their document: a field was removed, added or "
                      "replaced");
}

/* Whether member m of text is key, compared as printed (escapes and all). */
static int key_is(const char *text, const cu_json_member *m, const char *key, size_t klen)
{
    return m->key_len == klen && memcmp(text + m->key, key, klen) == 0;
}

/* P-ENC-2: the manifest (members sealed, write) lists exactly the fields stored, *wid the write
 * they must be bound to (freed by the caller). */
static cu_rc manifest_check(const cu_store_record *row, const char *text, const cu_json_member *m,
                            size_t sealed, size_t write, char **wid, cu_err *err)
{
    cJSON *names = NULL, *w = NULL;
    cu_rc rc;

    if (sealed == SIZE_MAX || write == SIZE_MAX)
        return mismatch(err);
    /* Out of memory here is not tampering: it stays CU_ERR_NOMEM. */
    if ((rc = cu_json_parse(text + m[sealed].val, m[sealed].val_len, &names, NULL, err)) ==
            CU_OK &&
        (rc = cu_json_parse(text + m[write].val, m[write].val_len, &w, NULL, err)) == CU_OK &&
        (!cJSON_IsArray(names) || !cJSON_IsString(w) ||
         (size_t)cJSON_GetArraySize(names) != row->nfields))
        rc = mismatch(err);
    else if (rc == CU_ERR_INVALID)
        rc = mismatch(err);
    for (size_t i = 0; i < row->nfields && rc == CU_OK; i++) {
        const cJSON *n;
        int listed = 0;
        cJSON_ArrayForEach(n, names) listed |=
            cJSON_IsString(n) && strcmp(n->valuestring, row->fields[i].name) == 0;
        if (!listed)
            rc = mismatch(err);
    }
    if (rc == CU_OK && (*wid = strdup(w->valuestring)) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cJSON_Delete(names);
    cJSON_Delete(w);
    return rc;
}

/* Opens sensitive field f, bound to write wid, into b: its value printed compactly, its key as
 * the document prints it and the member of m[0..n) that holds its place. */
static cu_rc field_open(const cu_key *key, const cu_store_record *row, const char *wid,
                        const cu_store_field *f, const char *text, const cu_json_member *m,
                        size_t n, field_back *b, cu_err *err)
{
    cJSON *val = NULL, *name = cJSON_CreateString(f->name);
    char *plain = NULL;
    size_t len = 0, klen;
    cu_aad aad;
    cu_rc rc;

    b->at = SIZE_MAX;
    if (name == NULL || (b->key = cJSON_PrintUnformatted(name)) == NULL) {
        cJSON_Delete(name);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(name);
    cu_aad_data(&aad, row->tenant_id, row->collection, row->id, f->name, row->key_version);
    cu_aad_bind(&aad, wid);
    if ((rc = cu_open(key, &aad, &f->ct, &plain, &len, "record field", err)) != CU_OK)
        return rc;
    rc = cu_json_parse(plain, len, &val, NULL, err);
    cu_wipe(plain, len);
    free(plain);
    if (rc == CU_OK && (b->val = cu_json_print(val)) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_json_delete_wiped(val);
    klen = strlen(b->key);
    for (size_t j = 0; j < n && b->at == SIZE_MAX; j++)
        if (key_is(text, &m[j], b->key, klen))
            b->at = j;
    return rc;
}

static char *append(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* The document's members with the fields' values in their places, the manifest left out. */
static char *splice(const char *text, const cu_json_member *m, size_t n, size_t sealed,
                    size_t write, const field_back *b, size_t nb)
{
    size_t size = 3, k = 0;
    char *out, *p;

    for (size_t j = 0; j < n; j++)
        size += m[j].key_len + m[j].val_len + 2;
    for (size_t i = 0; i < nb; i++)
        size += strlen(b[i].key) + strlen(b[i].val) + 2;
    if ((out = malloc(size)) == NULL)
        return NULL;
    p = out;
    *p++ = '{';
    for (size_t j = 0; j < n; j++) {
        const char *val = text + m[j].val;
        size_t vlen = m[j].val_len;
        if (j == sealed || j == write)
            continue;
        for (size_t i = 0; i < nb; i++)
            if (b[i].at == j) {
                val = b[i].val;
                vlen = strlen(val);
            }
        if (k++ > 0)
            *p++ = ',';
        p = append(append(p, text + m[j].key, m[j].key_len), ":", 1);
        p = append(p, val, vlen);
    }
    for (size_t i = 0; i < nb; i++)
        if (b[i].at == SIZE_MAX) {
            if (k++ > 0)
                *p++ = ',';
            p = append(append(p, b[i].key, strlen(b[i].key)), ":", 1);
            p = append(p, b[i].val, strlen(b[i].val));
        }
    *p++ = '}';
    *p = '\0';
    return out;
}

/* P-ENC-2: the stored sensitive fields must be exactly those the opened document's manifest
 * lists, each sealed in the same write; then their values go back in place and the manifest
 * goes away. *out: the document's compact text. */
static cu_rc merge(const cu_key *key, const cu_store_record *row, const char *text, size_t len,
                   char **out, cu_err *err)
{
    static const char sealed_key[] = "\"" MANIFEST_FIELDS "\"";
    static const char write_key[] = "\"" MANIFEST_WRITE "\"";
    cu_json_member *m = NULL;
    field_back *b = NULL;
    size_t n = 0, sealed = SIZE_MAX, write = SIZE_MAX;
    char *wid = NULL;
    cu_rc rc = CU_OK;

    switch (cu_json_members(text, len, &m, &n)) {
    case 0:
        break;
    case -2:
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    default:
        return cu_err_set(err, CU_ERR_CRYPTO, "the record's document is not a JSON object");
    }
    for (size_t j = 0; j < n; j++) {
        if (key_is(text, &m[j], sealed_key, sizeof(sealed_key) - 1))
            sealed = j;
        else if (key_is(text, &m[j], write_key, sizeof(write_key) - 1))
            write = j;
    }
    rc = manifest_check(row, text, m, sealed, write, &wid, err);
    if (rc == CU_OK && row->nfields > 0 && (b = calloc(row->nfields, sizeof(*b))) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < row->nfields && rc == CU_OK; i++)
        rc = field_open(key, row, wid, &row->fields[i], text, m, n, &b[i], err);
    if (rc == CU_OK && (*out = splice(text, m, n, sealed, write, b, row->nfields)) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; b != NULL && i < row->nfields; i++) {
        free(b[i].key);
        if (b[i].val != NULL) {
            cu_wipe(b[i].val, strlen(b[i].val));
            free(b[i].val);
        }
    }
    free(b);
    free(wid);
    free(m);
    return rc;
}

cu_rc cu_record_open_row(const cu_key *key, const cu_store_record *row, cu_record *out, cu_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cu_aad aad;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    cu_record_doc_aad(&aad, row);
    if ((rc = cu_open(key, &aad, &row->doc, &text, &len, "record", err)) == CU_OK)
        rc = merge(key, row, text, len, &out->json, err);
    if (rc == CU_OK) {
        out->id = row->id;
        out->tenant_id = row->tenant_id;
        out->subject_id = row->subject_id;
        memcpy(out->collection, row->collection, sizeof(out->collection));
        out->created_at = row->created_at;
        out->updated_at = row->updated_at;
        out->version = row->version;
    }
    if (text != NULL) {
        cu_wipe(text, len);
        free(text);
    }
    return rc;
}

cu_rc cu_record_open_doc(const cu_key *key, const cu_store_record *row, cJSON **doc, cu_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cu_aad aad;
    cu_rc rc;

    *doc = NULL;
    cu_record_doc_aad(&aad, row);
    if ((rc = cu_open(key, &aad, &row->doc, &text, &len, "record", err)) == CU_OK)
        rc = cu_json_parse(text, len, doc, NULL, err);
    if (text != NULL) {
        cu_wipe(text, len);
        free(text);
    }
    return rc;
}
