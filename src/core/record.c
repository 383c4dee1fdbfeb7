/*
 * record.c: JSON documents in named collections.
 *
 * A record is sealed under its subject's key, or under the tenant data key when no subject owns
 * it (P-ENC-1). Each top-level field is classified by the collection's schema: sensitive fields
 * are taken out of the document and sealed on their own, with a blind index (P-ENC-6); their
 * place in the document keeps a null so the key order survives. Forbidden fields and anything
 * that looks like a card number are refused (P-ENC-3). Every ciphertext's AAD names tenant,
 * collection, record id, field ("$doc" for the document) and key version (P-ENC-2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "keys_int.h"
#include "purpose_int.h"
#include "record_int.h"
#include "retain_int.h"
#include "schema_int.h"
#include "tenant_int.h"
#include "util.h"

#define DOC_FIELD "$doc"

void cu_record_doc_aad(cu_aad *a, const cu_store_record *r)
{
    cu_aad_data(a, r->tenant_id, r->collection, r->id, DOC_FIELD, r->key_version);
    if (r->version == 0 || a->len + 9 > sizeof(a->b))
        return;
    a->b[a->len++] = 'v';
    for (int i = 7; i >= 0; i--)
        a->b[a->len++] = (uint8_t)((uint64_t)r->version >> (i * 8));
}

/* What encoding a document produces: the record row plus its blind index operations. */
typedef struct encoded {
    cu_store_op *ops; /* ops[0] is the RECORD_PUT, the rest BLIND_PUTs */
    size_t nops;
    char **scopes;
    size_t nscopes;
} encoded;

static void encoded_cleanup(encoded *e)
{
    if (e->ops != NULL) {
        cu_store_record *r = &e->ops[0].u.record;
        free(r->doc.data);
        for (size_t i = 0; i < r->nfields; i++) {
            free(r->fields[i].name);
            free(r->fields[i].ct.data);
        }
        free(r->fields);
    }
    for (size_t i = 0; i < e->nscopes; i++)
        free(e->scopes[i]);
    free(e->scopes);
    free(e->ops);
    memset(e, 0, sizeof(*e));
}

/* P-ENC-3: refuses any string (or long integer) anywhere in v that looks like a card number. */
static int holds_card_number(const cJSON *v)
{
    if (cJSON_IsString(v))
        return cu_value_is_card_number(v->valuestring);
    if (cJSON_IsNumber(v) && v->valuedouble >= 1e12) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%.0f", v->valuedouble);
        return cu_value_is_card_number(buf);
    }
    for (const cJSON *c = v->child; c != NULL; c = c->next)
        if (holds_card_number(c))
            return 1;
    return 0;
}

/* The text an indexed value is looked up by: normalized (into buf) for emails and phones,
 * else the value itself. */
static const char *index_text(const char *field, const char *raw, char buf[256])
{
    if (strstr(field, "email") && cu_norm_email(raw, buf, 256) == CU_OK)
        return buf;
    if (strstr(field, "phone") && cu_norm_phone(raw, buf, 32) == CU_OK)
        return buf;
    return raw;
}

/* The scalar text of an indexed JSON value, or NULL if it is not a scalar. Caller frees. */
static char *scalar_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsBool(v))
        return strdup(cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsNumber(v))
        return cJSON_PrintUnformatted(v);
    return NULL;
}

static char *scope_for(const char *collection, const char *field)
{
    size_t n = strlen(collection) + strlen(field) + 4;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "r:%s:%s", collection, field);
    return s;
}

static cu_rc add_index(encoded *e, const cu_key *ik, cu_id tenant, const char *collection,
                       const char *field, const cJSON *value, cu_id id, cu_err *err)
{
    char norm[256];
    char *raw = scalar_text(value), *scope = NULL;
    const char *text;
    cu_store_op *op;
    cu_rc rc = CU_OK;

    if (raw == NULL)
        return cu_err_set(err, CU_ERR_INVALID,
                          "field \"%s\" is indexed: its value must be a string, number or boolean",
                          field);
    text = index_text(field, raw, norm);
    if ((scope = scope_for(collection, field)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    e->scopes[e->nscopes++] = scope;
    op = &e->ops[e->nops++];
    op->type = CU_OP_BLIND_PUT;
    op->u.blind.tenant_id = tenant;
    op->u.blind.scope = scope;
    op->u.blind.owner_id = id;
    cu_blind_index(ik->k, scope, (const uint8_t *)text, strlen(text), op->u.blind.digest);
out:
    cu_wipe(norm, sizeof(norm));
    cu_wipe(raw, strlen(raw));
    free(raw);
    return rc;
}

/* P-ENC-6: seals one sensitive field on its own and leaves a null in its place. */
static cu_rc seal_field(encoded *e, const cu_key *key, const cu_store_record *r, const char *wid,
                        cJSON *doc, cJSON *item, cu_err *err)
{
    cu_store_field *f = &e->ops[0].u.record.fields[e->ops[0].u.record.nfields];
    char *text = cJSON_PrintUnformatted(item);
    cu_aad aad;
    cu_rc rc;

    if (text == NULL || (f->name = strdup(item->string)) == NULL) {
        free(text);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    e->ops[0].u.record.nfields++;
    cu_aad_data(&aad, r->tenant_id, r->collection, r->id, item->string, r->key_version);
    cu_aad_bind(&aad, wid);
    rc = cu_seal(key, &aad, text, strlen(text), &f->ct, err);
    cu_wipe(text, strlen(text));
    free(text);
    if (rc == CU_OK && !cJSON_ReplaceItemInObjectCaseSensitive(doc, f->name, cJSON_CreateNull()))
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return rc;
}

/* P-ENC-2: records in the sealed document which fields were sealed apart and the write they
 * belong to, so a deleted, added or older field ciphertext is detected on read. */
static cu_rc add_manifest(cJSON *doc, const cu_store_record *r, const char *wid, cu_err *err)
{
    cJSON *names = cJSON_AddArrayToObject(doc, MANIFEST_FIELDS);

    if (names == NULL || cJSON_AddStringToObject(doc, MANIFEST_WRITE, wid) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->nfields; i++)
        if (!cJSON_AddItemToArray(names, cJSON_CreateString(r->fields[i].name)))
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    return CU_OK;
}

/*
 * Classifies and seals doc (which it modifies) into e, for record r (whose tenant, id,
 * collection, subject, key version and times the caller has filled in). replace: the record
 * exists and this write replaces its document.
 */
static cu_rc encode(cu_vault *v, const cu_key *key, const cu_store_record *r, cJSON *doc,
                    int replace, encoded *e, cu_err *err)
{
    cu_schema *schema = NULL;
    cu_key ik = {0};
    char *text = NULL;
    size_t nmembers = 0;
    int have_ik = 0;
    uint8_t wbytes[16];
    char wid[33];
    cu_aad aad;
    cu_rc rc;

    cu_random_public(wbytes, sizeof(wbytes));
    cu_hex_encode(wbytes, sizeof(wbytes), wid);
    for (cJSON *c = doc->child; c != NULL; c = c->next)
        nmembers++;
    e->ops = calloc(nmembers + 1, sizeof(*e->ops));
    e->scopes = calloc(nmembers + 1, sizeof(*e->scopes));
    if (e->ops == NULL || e->scopes == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    e->ops[0].type = replace ? CU_OP_RECORD_REPLACE : CU_OP_RECORD_PUT;
    e->ops[0].u.record = *r;
    e->ops[0].u.record.fields = calloc(nmembers + 1, sizeof(cu_store_field));
    if (e->ops[0].u.record.fields == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    e->nops = 1;
    if ((rc = cu_schema_load(v, r->tenant_id, r->collection, &schema, err)) != CU_OK)
        return rc;
    for (cJSON *c = doc->child, *next; c != NULL && rc == CU_OK; c = next) {
        int indexed;
        cu_field_class cls = cu_schema_class(schema, c->string, &indexed);
        next = c->next;
        if (c->string[0] == '$' || c->string[0] == '\0' || strlen(c->string) > 128) {
            rc = cu_err_set(err, CU_ERR_INVALID,
                            "field names must be 1 to 128 bytes and not start with $");
        } else if (cls == CU_FIELD_FORBIDDEN) {
            /* P-ENC-3: the field may never be stored. */
            rc = cu_err_set(err, CU_ERR_FORBIDDEN_FIELD,
                            "field \"%s\" is forbidden: Custos never stores it", c->string);
        } else if (holds_card_number(c)) {
            rc = cu_err_set(err, CU_ERR_FORBIDDEN_FIELD,
                            "field \"%s\" holds what looks like a payment card number, which "
                            "Custos never stores",
                            c->string);
        } else if (indexed) {
            if (!have_ik &&
                (rc = cu_keys_child(v, r->tenant_id, CU_KEY_INDEX, 0, &ik, err)) == CU_OK)
                have_ik = 1;
            if (rc == CU_OK)
                rc = add_index(e, &ik, r->tenant_id, r->collection, c->string, c, r->id, err);
        }
        if (rc == CU_OK && cls == CU_FIELD_SENSITIVE)
            rc = seal_field(e, key, r, wid, doc, c, err);
    }
    if (rc == CU_OK)
        rc = add_manifest(doc, &e->ops[0].u.record, wid, err);
    if (rc == CU_OK && (text = cu_json_print(doc)) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (rc == CU_OK) {
        cu_record_doc_aad(&aad, r);
        rc = cu_seal(key, &aad, text, strlen(text), &e->ops[0].u.record.doc, err);
    }
    if (text != NULL) {
        cu_wipe(text, strlen(text));
        free(text);
    }
    cu_key_wipe(&ik);
    cu_schema_free(schema);
    return rc;
}

/* CU_ERR_LEGAL_HOLD if a hold in force covers the record now (P-RET-5). A read before the
 * commit, which the store repeats inside it: this one keeps refused requests out of groups. */
static cu_rc refuse_if_held(cu_vault *v, cu_id tenant, cu_id subject, cu_id record, cu_err *err)
{
    int held = 0;
    cu_rc rc = cu_hold_covers(v, tenant, subject, record, &held, err);

    if (rc != CU_OK)
        return rc;
    return held ? cu_err_set(err, CU_ERR_LEGAL_HOLD, "the record is under a legal hold") : CU_OK;
}

/* Parses a document strictly; it must be a JSON object. */
static cu_rc parse_doc(const char *json, size_t len, cJSON **doc, cu_err *err)
{
    cu_rc rc;

    if (json == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "no document");
    if (len > CU_RECORD_MAX)
        return cu_err_set(err, CU_ERR_LIMIT, "document over %d bytes", CU_RECORD_MAX);
    if ((rc = cu_json_parse(json, len, doc, NULL, err)) != CU_OK)
        return rc;
    if (!cJSON_IsObject(*doc)) {
        cu_json_delete_wiped(*doc);
        *doc = NULL;
        return cu_err_set(err, CU_ERR_INVALID, "a record must be a JSON object");
    }
    return CU_OK;
}

/* The key a record is sealed under: its subject's, or the tenant data key at version (0: the
 * newest, for a write; a read names the version that sealed the record, P-ENC-5). */
static cu_rc record_key(cu_vault *v, cu_id tenant, cu_id subject, uint32_t version, cu_key *key,
                        cu_err *err)
{
    if (subject != 0)
        return cu_keys_child(v, tenant, CU_KEY_SUBJECT, subject, key, err);
    return cu_keys_child_at(v, tenant, CU_KEY_DATA, 0, version, key, err);
}

/* A record call between its two steps: the batch its build made, which its commit takes,
 * and what it answers with (the new record's id, the record an audited read opened). The
 * synchronous calls are build, cu_commit, finish; the asynchronous ones build, cu_commit_async,
 * and finish in job_done. */
typedef struct rec_job {
    cu_store_op *ops; /* owned: each op's blobs and field arrays (cu_store_op_cleanup) */
    size_t nops;
    char **scopes; /* the blind puts' scopes, which ops borrow */
    size_t nscopes;
    cu_audit_in audit;
    cu_async_result res;
    cu_async_done done;
    void *arg;
} rec_job;

/* Frees the job's batch and scopes; not res.record, which its finish hands out or wipes. */
static void job_cleanup(rec_job *j)
{
    for (size_t i = 0; j->ops != NULL && i < j->nops; i++)
        cu_store_op_cleanup(&j->ops[i]);
    free(j->ops);
    for (size_t i = 0; i < j->nscopes; i++)
        free(j->scopes[i]);
    free(j->scopes);
    j->ops = NULL;
    j->scopes = NULL;
    j->nops = j->nscopes = 0;
}

/* The synchronous finish: commits the job's batch and its audit entry, waiting for the group. */
static cu_rc job_commit(cu_vault *v, const cu_ctx *ctx, rec_job *j, cu_err *err)
{
    cu_rc rc = cu_commit(v, ctx, j->ops, j->nops, &j->audit, 1, err);

    if (rc != CU_OK)
        cu_record_cleanup(&j->res.record); /* P-AUD-3: a read not on record is not handed out */
    job_cleanup(j);
    return rc;
}

/* The asynchronous finish, on the leader's thread: hands the job's answer to its caller. */
static void job_done(void *arg, cu_rc rc, const cu_err *err)
{
    rec_job *j = arg;

    j->res.rc = rc;
    if (rc != CU_OK) {
        j->res.err = *err;
        j->res.id = 0;
        cu_record_cleanup(&j->res.record); /* P-AUD-3, as in job_commit */
    }
    j->done(j->arg, &j->res); /* takes res.record */
    job_cleanup(j);
    free(j);
}

/* Queues the job's batch on cu_commit_async, which takes it; finishes in job_done. On any
 * error the job is cleaned up (its record wiped) and done never runs. */
static cu_rc job_commit_async(cu_vault *v, const cu_ctx *ctx, rec_job *j, cu_async_done done,
                              void *arg, cu_err *err)
{
    rec_job *h = malloc(sizeof(*h));
    cu_store_op *ops = j->ops;
    size_t n = j->nops;
    cu_rc rc;

    if (h == NULL) {
        cu_record_cleanup(&j->res.record);
        job_cleanup(j);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    *h = *j;
    h->done = done;
    h->arg = arg;
    h->ops = NULL; /* cu_commit_async's now */
    h->nops = 0;
    memset(j, 0, sizeof(*j));
    rc = cu_commit_async(v, ctx, ops, n, &h->audit, 1, job_done, h, err);
    if (rc != CU_OK) { /* not queued: the ops are freed, done never runs */
        cu_record_cleanup(&h->res.record);
        job_cleanup(h);
        free(h);
    }
    return rc;
}

/* Encodes doc for r into the job's batch and audit entry, replacing the record's index entries
 * when replace is set. */
static cu_rc build_write(cu_vault *v, cu_store_record *r, cJSON *doc, int replace, rec_job *j,
                         cu_err *err)
{
    encoded e = {0};
    cu_key key = {0};
    size_t k = 0;
    cu_rc rc;

    if ((rc = record_key(v, r->tenant_id, r->subject_id, 0, &key, err)) != CU_OK)
        return rc;
    r->key_version = key.version;
    if ((rc = encode(v, &key, r, doc, replace, &e, err)) != CU_OK)
        goto out;
    if ((j->ops = calloc(e.nops + 2, sizeof(*j->ops))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (replace) {
        j->ops[k].type = CU_OP_BLIND_DELETE;
        j->ops[k].u.del.tenant_id = r->tenant_id;
        j->ops[k++].u.del.id = r->id;
    }
    memcpy(j->ops + k, e.ops, e.nops * sizeof(*j->ops));
    k += e.nops;
    if (r->subject_id != 0) {
        /* P-RET-1: retention counted from the subject's last activity starts again. */
        j->ops[k].type = CU_OP_SUBJECT_TOUCH;
        j->ops[k].u.flag.tenant_id = r->tenant_id;
        j->ops[k].u.flag.id = r->subject_id;
        j->ops[k++].u.flag.at = r->updated_at;
    }
    j->nops = k;
    /* P-AUD-1: the entry commits with the write, or neither does (P-AUD-3). */
    cu_audit_in_set(&j->audit, r->tenant_id, replace ? "record.update" : "record.create",
                    "record:%llu", (unsigned long long)r->id);
    cu_audit_in_digest(&j->audit, e.ops[0].u.record.doc.data, e.ops[0].u.record.doc.len);
    j->audit.subject = r->subject_id; /* the subject's export lists it (its audit index) */
    /* The job owns the record's blobs (in its ops) and the scopes now. */
    j->scopes = e.scopes;
    j->nscopes = e.nscopes;
    e.scopes = NULL;
    e.nscopes = 0;
    free(e.ops);
    e.ops = NULL;
out:
    encoded_cleanup(&e);
    cu_key_wipe(&key);
    return rc;
}

/* cu_record_put's first step: checks, then builds the batch (res.id: the new record's id). */
static cu_rc put_build(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                       cu_id subject, const char *json, size_t len, rec_job *j, cu_err *err)
{
    cu_store_record r = {0};
    cJSON *doc = NULL;
    cu_rc rc;

    if (!cu_collection_name_ok(collection))
        return cu_err_set(err, CU_ERR_INVALID,
                          "collection name must match [a-z][a-z0-9_]* and be under %d bytes",
                          CU_COLLECTION_MAX);
    if ((rc = parse_doc(json, len, &doc, err)) != CU_OK)
        return rc;
    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_WRITE,
                                       .declared = collection,
                                       .subject = subject,
                                       .purpose = CU_PURPOSE_WRITE,
                                       .purpose_subject = subject,
                                       .collection = collection},
                          NULL, err)) != CU_OK)
        goto out;
    r.tenant_id = tenant;
    if ((rc = cu_record_id_new(v, &r.id, err)) != CU_OK)
        goto out;
    r.subject_id = subject;
    r.version = 1;
    cu_strlcpy(r.collection, collection, sizeof(r.collection));
    r.created_at = r.updated_at = cu_clock_now();
    if ((rc = build_write(v, &r, doc, 0, j, err)) == CU_OK)
        j->res.id = r.id;
out:
    cu_json_delete_wiped(doc);
    if (rc != CU_OK)
        job_cleanup(j);
    return rc;
}

cu_rc cu_record_put(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                    cu_id subject, const char *json, size_t len, cu_id *out_id, cu_err *err)
{
    rec_job j = {0};
    cu_rc rc = put_build(v, ctx, tenant, collection, subject, json, len, &j, err);

    if (rc == CU_OK && (rc = job_commit(v, ctx, &j, err)) == CU_OK && out_id)
        *out_id = j.res.id;
    return rc;
}

cu_rc cu_record_put_async(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                          cu_id subject, const char *json, size_t len, cu_async_done done,
                          void *arg, cu_err *err)
{
    rec_job j = {0};
    cu_rc rc = put_build(v, ctx, tenant, collection, subject, json, len, &j, err);

    return rc == CU_OK ? job_commit_async(v, ctx, &j, done, arg, err) : rc;
}

/* cu_record_update's first step: checks, then builds the batch. */
static cu_rc update_build(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record,
                          const char *json, size_t len, rec_job *j, cu_err *err)
{
    cu_store_record old = {0}, r = {0};
    cJSON *doc = NULL;
    cu_gate g;
    cu_rc rc;

    if ((rc = parse_doc(json, len, &doc, err)) != CU_OK)
        return rc;
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE}, &g,
                          err)) != CU_OK)
        goto out;
    if ((rc = cu_store_record_get(v->store, tenant, record, &old, err)) != CU_OK)
        goto out;
    if ((rc = cu_gate_purpose(v, ctx, &g, old.subject_id, old.collection, 1, err)) != CU_OK)
        goto out;
    r.tenant_id = tenant;
    r.id = record;
    r.subject_id = old.subject_id;
    memcpy(r.collection, old.collection, sizeof(r.collection));
    r.created_at = old.created_at;
    r.updated_at = cu_clock_now();
    r.version = old.version + 1;
    /* P-RET-5: held data is not changed either. The store refuses it in the same transaction
     * (CU_ERR_LEGAL_HOLD), so no hold placed meanwhile is missed; this read refuses the common
     * case before it joins a group commit, which a refusal would split. */
    if ((rc = refuse_if_held(v, tenant, old.subject_id, record, err)) == CU_OK)
        rc = build_write(v, &r, doc, 1, j, err);
out:
    cu_store_record_cleanup(&old);
    cu_json_delete_wiped(doc);
    if (rc != CU_OK)
        job_cleanup(j);
    return rc;
}

cu_rc cu_record_update(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record, const char *json,
                       size_t len, cu_err *err)
{
    rec_job j = {0};
    cu_rc rc = update_build(v, ctx, tenant, record, json, len, &j, err);

    return rc == CU_OK ? job_commit(v, ctx, &j, err) : rc;
}

cu_rc cu_record_update_async(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record,
                             const char *json, size_t len, cu_async_done done, void *arg,
                             cu_err *err)
{
    rec_job j = {0};
    cu_rc rc = update_build(v, ctx, tenant, record, json, len, &j, err);

    return rc == CU_OK ? job_commit_async(v, ctx, &j, done, arg, err) : rc;
}

/* Reads and opens a record; with audit set, checks its purpose first. */
static cu_rc record_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record, cu_record *out,
                         int audit, cu_err *err)
{
    cu_store_record row = {0};
    cu_key key = {0};
    cu_gate g;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ}, &g,
                          err)) != CU_OK)
        return rc;
    if ((rc = cu_store_record_get(v->store, tenant, record, &row, err)) != CU_OK)
        return rc;
    /* P-RET-4: a record kept after its subject's erasure: a legal obligation's alone. */
    if (audit && (rc = row.retained ? cu_gate_retained(v, ctx, &g, row.collection, err)
                                    : cu_gate_purpose(v, ctx, &g, row.subject_id, row.collection, 0,
                                                      err)) != CU_OK)
        goto out;
    if ((rc = row.retained
                  ? cu_keys_child(v, tenant, CU_KEY_RETAINED, row.subject_id, &key, err)
                  : record_key(v, tenant, row.subject_id, row.key_version, &key, err)) != CU_OK)
        goto out;
    row.tenant_id = tenant;
    row.id = record;
    rc = cu_record_open_row(&key, &row, out, err);
out:
    cu_key_wipe(&key);
    cu_store_record_cleanup(&row);
    return rc;
}

/* The audited read's first step: the record opened into res.record and its read's entry; the
 * record leaves only once that entry is durable (P-AUD-3: if it cannot be, it does not). */
static cu_rc get_build(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record, rec_job *j,
                       cu_err *err)
{
    cu_rc rc = record_open(v, ctx, tenant, record, &j->res.record, 1, err);

    if (rc == CU_OK) {
        cu_audit_in_set(&j->audit, tenant, "record.read", "record:%llu",
                        (unsigned long long)record);
        j->audit.subject = j->res.record.subject_id; /* the subject's export lists it */
    }
    return rc;
}

cu_rc cu_record_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record, cu_record *out,
                    cu_err *err)
{
    rec_job j = {0};
    cu_rc rc = get_build(v, ctx, tenant, record, &j, err);

    if (rc == CU_OK)
        rc = job_commit(v, ctx, &j, err);
    *out = j.res.record; /* zeroed when the read failed */
    return rc;
}

cu_rc cu_record_get_async(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record,
                          cu_async_done done, void *arg, cu_err *err)
{
    rec_job j = {0};
    cu_rc rc = get_build(v, ctx, tenant, record, &j, err);

    return rc == CU_OK ? job_commit_async(v, ctx, &j, done, arg, err) : rc;
}

cu_rc cu_record_read(cu_vault *v, cu_id tenant, cu_id record, cu_record *out, cu_err *err)
{
    return record_open(v, NULL, tenant, record, out, 0, err);
}

cu_rc cu_record_anonymize_op(cu_vault *v, cu_id tenant, cu_id record, cu_store_op *op, cu_err *err)
{
    cu_record rec = {0};
    cu_schema *schema = NULL;
    cJSON *doc = NULL;
    char *text = NULL;
    cu_key dk = {0};
    uint8_t wbytes[16];
    char wid[33];
    cu_aad aad;
    cu_rc rc;

    memset(op, 0, sizeof(*op));
    if ((rc = cu_record_read(v, tenant, record, &rec, err)) != CU_OK)
        return rc;
    if ((rc = cu_json_parse(rec.json, strlen(rec.json), &doc, NULL, err)) != CU_OK)
        goto out;
    if ((rc = cu_schema_load(v, tenant, rec.collection, &schema, err)) != CU_OK)
        goto out;
    /* P-RET-6: only plain (business) fields survive; nothing personal, nothing indexed. */
    for (cJSON *c = doc->child, *next; c != NULL; c = next) {
        int indexed;
        next = c->next;
        if (cu_schema_class(schema, c->string, &indexed) != CU_FIELD_PLAIN)
            cJSON_Delete(cJSON_DetachItemViaPointer(doc, c));
    }
    cu_random_public(wbytes, sizeof(wbytes));
    cu_hex_encode(wbytes, sizeof(wbytes), wid);
    if (cJSON_AddArrayToObject(doc, MANIFEST_FIELDS) == NULL ||
        cJSON_AddStringToObject(doc, MANIFEST_WRITE, wid) == NULL ||
        (text = cu_json_print(doc)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = cu_keys_child(v, tenant, CU_KEY_DATA, 0, &dk, err)) != CU_OK)
        goto out;
    op->type = CU_OP_RECORD_ANONYMIZE;
    op->u.record.tenant_id = tenant;
    op->u.record.id = record;
    cu_strlcpy(op->u.record.collection, rec.collection, sizeof(op->u.record.collection));
    op->u.record.key_version = dk.version;
    op->u.record.created_at = rec.created_at;
    op->u.record.updated_at = cu_clock_now();
    /* Only the document just read is anonymized: a write since then wins. */
    op->u.record.expect_updated_at = rec.updated_at;
    op->u.record.version = rec.version + 1;
    cu_record_doc_aad(&aad, &op->u.record);
    rc = cu_seal(&dk, &aad, text, strlen(text), &op->u.record.doc, err);
out:
    if (text != NULL) {
        cu_wipe(text, strlen(text));
        free(text);
    }
    cu_key_wipe(&dk);
    cu_schema_free(schema);
    cu_json_delete_wiped(doc);
    cu_record_cleanup(&rec);
    return rc;
}

void cu_record_cleanup(cu_record *r)
{
    if (r == NULL || r->json == NULL)
        return;
    cu_wipe(r->json, strlen(r->json));
    free(r->json);
    r->json = NULL;
}

cu_rc cu_record_delete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record, cu_err *err)
{
    cu_store_record row = {0};
    cu_store_op op = {0};
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE}, &g,
                          err)) != CU_OK)
        return rc;
    if ((rc = cu_store_record_get(v->store, tenant, record, &row, err)) != CU_OK)
        return rc;
    rc = cu_gate_purpose(v, ctx, &g, row.subject_id, row.collection, 1, err);
    if (rc == CU_OK)
        rc = refuse_if_held(v, tenant, row.subject_id, record, err);
    cu_store_record_cleanup(&row);
    if (rc != CU_OK)
        return rc;
    /* P-RET-5: the store refuses a held record in the same transaction (CU_ERR_LEGAL_HOLD). */
    op.type = CU_OP_RECORD_DELETE;
    op.u.del.tenant_id = tenant;
    op.u.del.id = record;
    cu_audit_in_set(&a, tenant, "record.delete", "record:%llu", (unsigned long long)record);
    a.subject = row.subject_id; /* cleanup left the ids */
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}

cu_rc cu_record_list_by_subject(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                                cu_id **ids, size_t *n, cu_err *err)
{
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_READ,
                                       .subject = subject,
                                       .purpose = CU_PURPOSE_READ,
                                       .purpose_subject = subject},
                          NULL, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_record_ids_by_subject(v->store, tenant, subject, ids, n, err)) != CU_OK)
        return rc;
    cu_audit_in_set(&a, tenant, "subject.records", "subject:%llu", (unsigned long long)subject);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        free(*ids);
        *ids = NULL;
    }
    return rc;
}

cu_rc cu_record_find(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                     const char *field, const char *value, cu_id **ids, size_t *n, cu_err *err)
{
    cu_schema *schema = NULL;
    char norm[256];
    const char *text;
    char *scope = NULL;
    uint8_t digest[32];
    cu_key ik = {0};
    int indexed = 0;
    cu_audit_in a;
    cu_rc rc;

    if (!cu_collection_name_ok(collection) || field == NULL || value == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "collection, field and value are required");
    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_READ,
                                       .purpose = CU_PURPOSE_READ,
                                       .collection = collection},
                          NULL, err)) != CU_OK)
        return rc;
    if ((rc = cu_schema_load(v, tenant, collection, &schema, err)) != CU_OK)
        return rc;
    cu_schema_class(schema, field, &indexed);
    cu_schema_free(schema);
    if (!indexed)
        return cu_err_set(err, CU_ERR_INVALID, "field \"%s\" of \"%s\" is not indexed", field,
                          collection);
    text = index_text(field, value, norm);
    if ((scope = scope_for(collection, field)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = cu_keys_child(v, tenant, CU_KEY_INDEX, 0, &ik, err)) != CU_OK)
        goto out;
    cu_blind_index(ik.k, scope, (const uint8_t *)text, strlen(text), digest);
    rc = cu_store_blind_find(v->store, tenant, scope, digest, ids, n, err);
    /* The field searched is on record, never the value (P-AUD-4). */
    cu_audit_in_set(&a, tenant, "record.find", "collection:%s:field:%.60s", collection, field);
    if (rc == CU_OK && (rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        free(*ids);
        *ids = NULL;
    }
out:
    cu_wipe(norm, sizeof(norm));
    cu_key_wipe(&ik);
    free(scope);
    return rc;
}

cu_rc cu_record_reseal_doc(const cu_key *ok, const cu_key *nk, const cu_store_record *row,
                           cu_store_reseal *r, char wid[33], cu_err *err)
{
    cJSON *doc = NULL;
    const cJSON *w;
    char *text = NULL;
    size_t len = 0;
    cu_aad aad;
    cu_rc rc;

    cu_record_doc_aad(&aad, row);
    if ((rc = cu_open(ok, &aad, &row->doc, &text, &len, "record", err)) != CU_OK)
        return rc;
    if ((rc = cu_json_parse(text, len, &doc, NULL, err)) == CU_OK) {
        w = cJSON_GetObjectItemCaseSensitive(doc, MANIFEST_WRITE);
        if (!cJSON_IsString(w) || cu_strlcpy(wid, w->valuestring, 33) != 0)
            rc = cu_err_set(err, CU_ERR_CRYPTO, "the record's document has no write id");
    }
    if (rc == CU_OK) {
        cu_store_record under = *row; /* the same write version, under the new key */
        under.key_version = nk->version;
        cu_record_doc_aad(&aad, &under);
        rc = cu_seal(nk, &aad, text, len, &r->ct[0], err);
    }
    cu_json_delete_wiped(doc);
    cu_wipe(text, len);
    free(text);
    return rc;
}

cu_rc cu_record_reseal_fields(const cu_key *ok, const cu_key *nk, cu_store_record *row,
                              const char *wid, cu_store_reseal *r, cu_err *err)
{
    cu_rc rc = CU_OK;

    r->old[0] = row->doc;
    row->doc.data = NULL;
    if ((r->fields = calloc(row->nfields + 1, sizeof(*r->fields))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == CU_OK && i < row->nfields; i++) {
        if ((r->fields[i].name = strdup(row->fields[i].name)) == NULL)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        r->nfields++;
        rc = cu_reseal_value_with(ok, row->tenant_id, row->collection, row->id, row->fields[i].name,
                                  wid, nk, &row->fields[i].ct, &r->fields[i].ct, err);
    }
    return rc;
}

/* P-ENC-5: a record without a subject, sealed under an older data key version, sealed again
 * under nk: its document and its sensitive fields, bound to the same write as before. */
cu_rc cu_record_reseal_op(cu_vault *v, cu_id tenant, cu_id record, const cu_key *nk,
                          cu_store_op *op, cu_err *err)
{
    cu_store_record row = {0};
    cu_store_reseal *r = &op->u.reseal;
    cu_key ok = {0};
    char wid[33];
    cu_rc rc;

    memset(op, 0, sizeof(*op));
    if ((rc = cu_store_record_get(v->store, tenant, record, &row, err)) != CU_OK)
        return rc;
    if (row.subject_id != 0 || row.key_version == nk->version)
        goto out;
    op->type = CU_OP_RESEAL;
    r->what = CU_RESEAL_RECORD;
    r->tenant_id = tenant;
    r->id = record;
    r->key_version = nk->version;
    if ((rc = record_key(v, tenant, 0, row.key_version, &ok, err)) != CU_OK ||
        (rc = cu_record_reseal_doc(&ok, nk, &row, r, wid, err)) != CU_OK)
        goto out;
    rc = cu_record_reseal_fields(&ok, nk, &row, wid, r, err);
out:
    if (rc != CU_OK)
        cu_reseal_op_free(op);
    cu_key_wipe(&ok);
    cu_store_record_cleanup(&row);
    return rc;
}
