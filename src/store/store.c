/*
 * store.c: the store's face, above every backend.
 *
 * cu_store_open picks a backend from the location it is given; the thin cu_store_x() wrappers
 * let the core call a store without knowing its ops table; and what does not depend on a
 * backend lives here once: the release of what reads return and of ops callers build, the one
 * definition of hold coverage (docs/store.md), and the commit latency buckets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"
#include "util.h"

const double cu_commit_bounds[CU_COMMIT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                    0.005,  0.01,    0.025,  0.05,  0.1};

/* The backends by the prefix of their locations; the last, prefix NULL, takes a file path. */
static const struct backend {
    const char *prefix;
    const cu_store_ops *ops;
} backends[] = {
    {"postgresql://", &cu_store_pg}, /* docs/store.md: the same suite runs against both */
    {"postgres://", &cu_store_pg},
    {NULL, &cu_store_sqlite_pool},
};

cu_rc cu_store_open(const char *location, cu_store **out, cu_err *err)
{
    const struct backend *b = NULL;

    if (location == NULL || location[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "no store location");
    for (size_t i = 0; i < CU_ARRAY_LEN(backends) && b == NULL; i++)
        if (backends[i].prefix == NULL ||
            strncmp(location, backends[i].prefix, strlen(backends[i].prefix)) == 0)
            b = &backends[i];
    if (b->prefix == NULL && strstr(location, "://") != NULL)
        return cu_err_set(err, CU_ERR_INVALID, "unknown store location scheme");
    if (b->ops == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "no %s backend in this build", b->prefix);
    return b->ops->open(location, out, err);
}

cu_id cu_store_instance(const cu_store *s)
{
    return s->instance;
}

void cu_store_close(cu_store *s)
{
    if (s != NULL)
        s->ops->close(s);
}

cu_rc cu_store_dump(cu_store *s, const char *dest, int *schema_version, cu_err *err)
{
    if (s->ops->dump == NULL)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "the %s store cannot make backups", s->ops->name);
    return s->ops->dump(s, dest, schema_version, err);
}

cu_rc cu_store_location(const char *data_dir, char *out, size_t cap, cu_err *err)
{
    int n = snprintf(out, cap, "%s/%s", data_dir, CU_STORE_SQLITE_FILE);

    if (n < 0 || (size_t)n >= cap)
        return cu_err_set(err, CU_ERR_INVALID, "data directory path too long");
    return CU_OK;
}

cu_rc cu_store_apply(cu_store *s, const cu_store_op *ops, size_t n, cu_err *err)
{
    return s->ops->apply(s, ops, n, err);
}

/* The heads of prev's AUDIT_HEAD_CHECK ops, copied into a new array (*out, caller frees) and
 * read from the store outside any transaction: a backend's without apply_chained. */
static cu_rc heads_of(cu_store *s, const cu_store_op *prev, size_t nprev, cu_store_op **out,
                      size_t *n, cu_err *err)
{
    cu_rc rc = CU_OK;

    *n = 0;
    *out = calloc(nprev ? nprev : 1, sizeof(**out));
    if (*out == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < nprev && rc == CU_OK; i++) {
        cu_store_op *h = &(*out)[*n];
        if (prev[i].type != CU_OP_AUDIT_HEAD_CHECK)
            continue;
        *h = prev[i];
        rc = s->ops->audit_head(s, h->u.audit_head.tenant_id, &h->u.audit_head.seq,
                                h->u.audit_head.hash, err);
        (*n)++;
    }
    return rc;
}

cu_rc cu_store_apply_chained(cu_store *s, const cu_store_op *prev, size_t nprev,
                             cu_store_chain_fn fn, void *arg, cu_err *err)
{
    cu_store_op *heads = NULL;
    const cu_store_op *ops = NULL;
    size_t n = 0, nops = 0;
    cu_rc rc;

    if (s->ops->apply_chained != NULL)
        return s->ops->apply_chained(s, prev, nprev, fn, arg, err);
    rc = heads_of(s, prev, nprev, &heads, &n, err);
    if (rc == CU_OK)
        rc = fn(arg, heads, n, &ops, &nops, err);
    if (rc == CU_OK)
        rc = s->ops->apply(s, ops, nops, err);
    free(heads);
    return rc;
}

cu_rc cu_store_policy_grant_get(cu_store *s, cu_id tenant, int *admins, cu_err *err)
{
    return s->ops->policy_grant_get(s, tenant, admins, err);
}

cu_rc cu_store_audit_key_get(cu_store *s, uint8_t pk[32], int *found, int *checkpoints, cu_err *err)
{
    return s->ops->audit_key_get(s, pk, found, checkpoints, err);
}

cu_rc cu_store_audit_head(cu_store *s, cu_id tenant, uint64_t *seq, uint8_t hash[32], cu_err *err)
{
    return s->ops->audit_head(s, tenant, seq, hash, err);
}

cu_rc cu_store_audit_list(cu_store *s, cu_id tenant, const cu_audit_filter *f, cu_audit_entry **out,
                          size_t *n, cu_err *err)
{
    return s->ops->audit_list(s, tenant, f, out, n, err);
}

cu_rc cu_store_audit_scan(cu_store *s, cu_id tenant, uint64_t from,
                          int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err)
{
    return s->ops->audit_scan(s, tenant, from, fn, arg, err);
}

cu_rc cu_store_audit_rows(cu_store *s, cu_id tenant, uint64_t from, uint64_t to,
                          int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err)
{
    return s->ops->audit_rows(s, tenant, from, to, fn, arg, err);
}

cu_rc cu_store_audit_seq_before(cu_store *s, cu_id tenant, int64_t before_ms, uint64_t *seq,
                                cu_err *err)
{
    return s->ops->audit_seq_before(s, tenant, before_ms, seq, err);
}

cu_rc cu_store_audit_checkpoints(cu_store *s, cu_id tenant, cu_audit_checkpoint **out, size_t *n,
                                 cu_err *err)
{
    return s->ops->audit_checkpoints(s, tenant, out, n, err);
}

cu_rc cu_store_policy_get(cu_store *s, cu_id tenant, unsigned *version, char **text, cu_err *err)
{
    return s->ops->policy_get(s, tenant, version, text, err);
}

cu_rc cu_store_policy_versions(cu_store *s, cu_id tenant, cu_store_policy_version **out,
                               size_t *n, cu_err *err)
{
    return s->ops->policy_versions(s, tenant, out, n, err);
}

cu_rc cu_store_policy_at(cu_store *s, cu_id tenant, unsigned *version, char **text,
                         int64_t *created_at, cu_err *err)
{
    return s->ops->policy_at(s, tenant, version, text, created_at, err);
}

int cu_store_keyed_ids(const cu_store *s)
{
    return s->ops->set_idmap != NULL;
}

int cu_store_set_idmap(cu_store *s, const cu_store_idmap *m)
{
    return s->ops->set_idmap != NULL && s->ops->set_idmap(s, m);
}

cu_rc cu_store_record_id_new(cu_store *s, cu_id *out, cu_err *err)
{
    if (s->ops->record_id_new == NULL)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "the store makes no record ids");
    return s->ops->record_id_new(s, out, err);
}

cu_rc cu_store_record_meta_list(cu_store *s, cu_id tenant, cu_id after, size_t limit,
                                cu_store_record_meta **out, size_t *n, cu_err *err)
{
    return s->ops->record_meta_list(s, tenant, after, limit, out, n, err);
}

cu_rc cu_store_subject_state(cu_store *s, cu_id tenant, cu_id subject, int *restricted,
                             int64_t *last_activity, cu_err *err)
{
    return s->ops->subject_state(s, tenant, subject, restricted, last_activity, err);
}

cu_rc cu_store_subject_ids(cu_store *s, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                           size_t *n, cu_err *err)
{
    return s->ops->subject_ids(s, tenant, after, limit, ids, n, err);
}

cu_rc cu_store_consent_list(cu_store *s, cu_id tenant, cu_id subject, const char *purpose,
                            cu_store_consent **out, size_t *n, cu_err *err)
{
    return s->ops->consent_list(s, tenant, subject, purpose, out, n, err);
}

cu_rc cu_store_request_list(cu_store *s, cu_id tenant, cu_id id, cu_store_request **out, size_t *n,
                            cu_err *err)
{
    return s->ops->request_list(s, tenant, id, out, n, err);
}

cu_rc cu_store_request_page(cu_store *s, cu_id tenant, const cu_store_request_query *q,
                            cu_store_request **out, size_t *n, cu_err *err)
{
    *out = NULL;
    *n = 0;
    if (s->ops->request_page == NULL)
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "no request pages in this store");
    return s->ops->request_page(s, tenant, q, out, n, err);
}

cu_rc cu_store_hold_list(cu_store *s, cu_id tenant, cu_store_hold **out, size_t *n, cu_err *err)
{
    return s->ops->hold_list(s, tenant, out, n, err);
}

void cu_store_commit_stats(cu_store *s, cu_commit_stats *out)
{
    s->ops->commit_stats(s, out);
}

cu_rc cu_store_erasure_list(cu_store *s, cu_id after_tenant, cu_id after_subject, size_t limit,
                            cu_store_erasure **out, size_t *n, cu_err *err)
{
    return s->ops->erasure_list(s, after_tenant, after_subject, limit, out, n, err);
}

cu_rc cu_store_master_list(cu_store *s, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                           cu_err *err)
{
    return s->ops->master_list(s, versions, checks, n, err);
}

cu_rc cu_store_tenant_get(cu_store *s, cu_id id, cu_store_tenant *out, cu_err *err)
{
    return s->ops->tenant_get(s, id, out, err);
}

cu_rc cu_store_tenant_list(cu_store *s, cu_store_tenant **out, size_t *n, cu_err *err)
{
    return s->ops->tenant_list(s, out, n, err);
}

cu_rc cu_store_key_get(cu_store *s, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                       cu_store_key *out, cu_err *err)
{
    return s->ops->key_get(s, tenant, kind, owner, version, out, err);
}

cu_rc cu_store_key_list(cu_store *s, cu_id tenant, cu_key_kind kind, cu_store_key **out, size_t *n,
                        cu_err *err)
{
    return s->ops->key_list(s, tenant, kind, out, n, err);
}

cu_rc cu_store_subject_get(cu_store *s, cu_id tenant, cu_id id, cu_store_subject *out, cu_err *err)
{
    return s->ops->subject_get(s, tenant, id, out, err);
}

cu_rc cu_store_record_get(cu_store *s, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err)
{
    return s->ops->record_get(s, tenant, id, out, err);
}

cu_rc cu_store_record_ids_by_subject(cu_store *s, cu_id tenant, cu_id subject, cu_id **ids,
                                     size_t *n, cu_err *err)
{
    return s->ops->record_ids_by_subject(s, tenant, subject, ids, n, err);
}

cu_rc cu_store_record_ids_in(cu_store *s, cu_id tenant, cu_id subject, const char *collection,
                             cu_id **ids, size_t *n, cu_err *err)
{
    return s->ops->record_ids_in(s, tenant, subject, collection, ids, n, err);
}

cu_rc cu_store_record_counts(cu_store *s, cu_id tenant, cu_id subject, uint64_t limit,
                             cu_store_count **out, size_t *n, cu_err *err)
{
    return s->ops->record_counts(s, tenant, subject, limit, out, n, err);
}

cu_rc cu_store_record_page(cu_store *s, cu_id tenant, cu_id subject, int64_t after_created,
                           cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                           size_t *n, cu_err *err)
{
    return s->ops->record_page(s, tenant, subject, after_created, after, limit, max_bytes, out, n,
                               err);
}

cu_rc cu_store_blind_find(cu_store *s, cu_id tenant, const char *scope, const uint8_t digest[32],
                          cu_id **ids, size_t *n, cu_err *err)
{
    return s->ops->blind_find(s, tenant, scope, digest, ids, n, err);
}

cu_rc cu_store_checkpoint(cu_store *s, cu_err *err)
{
    return s->ops->checkpoint(s, err);
}

cu_rc cu_store_collection_get(cu_store *s, cu_id tenant, const char *name, char **spec, cu_err *err)
{
    return s->ops->collection_get(s, tenant, name, spec, err);
}

cu_rc cu_store_apikey_get(cu_store *s, cu_id id, cu_store_apikey *out, cu_err *err)
{
    return s->ops->apikey_get(s, id, out, err);
}

cu_rc cu_store_apikey_list(cu_store *s, cu_id tenant, cu_store_apikey **out, size_t *n, cu_err *err)
{
    return s->ops->apikey_list(s, tenant, out, n, err);
}

cu_rc cu_store_user_get(cu_store *s, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err)
{
    return s->ops->user_get(s, tenant, id, out, err);
}

cu_rc cu_store_user_find(cu_store *s, cu_id tenant, const uint8_t digest[32], cu_store_user *out,
                         cu_err *err)
{
    return s->ops->user_find(s, tenant, digest, out, err);
}

cu_rc cu_store_user_list(cu_store *s, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err)
{
    return s->ops->user_list(s, tenant, out, n, err);
}

cu_rc cu_store_session_get(cu_store *s, const uint8_t token_hash[32], cu_store_session *out,
                           cu_err *err)
{
    return s->ops->session_get(s, token_hash, out, err);
}

cu_rc cu_store_audit_by_subject(cu_store *s, cu_id tenant, cu_id subject, uint64_t after,
                                size_t limit, cu_store_access **out, size_t *n, cu_err *err)
{
    return s->ops->audit_by_subject(s, tenant, subject, after, limit, out, n, err);
}

cu_rc cu_store_snapshot(cu_store *s, cu_store **out, cu_err *err)
{
    return s->ops->snapshot(s, out, err);
}

int cu_store_read_begin(cu_store *s)
{
    if (s != NULL && s->ops->read_begin != NULL)
        return s->ops->read_begin(s);
    return 0;
}

void cu_store_read_end(cu_store *s)
{
    if (s != NULL && s->ops->read_end != NULL)
        s->ops->read_end(s);
}

cu_rc cu_store_subject_collections(cu_store *s, cu_id tenant, cu_id subject,
                                   cu_store_collection_count **out, size_t *n, cu_err *err)
{
    return s->ops->subject_collections(s, tenant, subject, out, n, err);
}

cu_rc cu_store_record_page_in(cu_store *s, cu_id tenant, cu_id subject, const char *collection,
                              int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                              cu_store_record **out, size_t *n, cu_err *err)
{
    return s->ops->record_page_in(s, tenant, subject, collection, after_created, after, limit,
                                  max_bytes, out, n, err);
}

cu_rc cu_store_record_page_own(cu_store *s, cu_id tenant, int64_t after_created, cu_id after,
                               size_t limit, size_t max_bytes, cu_store_record **out, size_t *n,
                               cu_err *err)
{
    /* A backend without it: its own records by id (record_page, subject 0), which the keyset of
     * the last row read (its id) continues as well. */
    if (s->ops->record_page_own == NULL)
        return s->ops->record_page(s, tenant, 0, after_created, after, limit, max_bytes, out, n,
                                   err);
    return s->ops->record_page_own(s, tenant, after_created, after, limit, max_bytes, out, n, err);
}

int cu_store_hold_covers(const cu_store_hold *h, cu_id subject, cu_id record)
{
    if (h->released_at != 0)
        return 0;
    return (h->subject_id == 0 && h->record_id == 0) || (record != 0 && h->record_id == record) ||
           (subject != 0 && h->subject_id == subject && (record == 0 || h->record_id == 0));
}

static void fields_free(cu_store_field *fields, size_t n)
{
    for (size_t i = 0; fields != NULL && i < n; i++) {
        free(fields[i].name);
        free(fields[i].ct.data);
    }
    free(fields);
}

void cu_store_op_cleanup(cu_store_op *op)
{
    if (op == NULL)
        return;
    switch (op->type) {
    case CU_OP_KEY_PUT:
    case CU_OP_KEY_REWRAP:
        free(op->u.key.wrapped.data);
        break;
    case CU_OP_SUBJECT_PUT:
        free(op->u.subject.profile.data);
        break;
    case CU_OP_RECORD_PUT:
    case CU_OP_RECORD_REPLACE:
    case CU_OP_RECORD_ANONYMIZE:
        free(op->u.record.doc.data);
        fields_free(op->u.record.fields, op->u.record.nfields);
        break;
    case CU_OP_RESEAL:
    case CU_OP_RECORD_RETAIN:
        for (int i = 0; i < 2; i++) {
            free(op->u.reseal.old[i].data);
            free(op->u.reseal.ct[i].data);
        }
        fields_free(op->u.reseal.fields, op->u.reseal.nfields);
        break;
    case CU_OP_USER_PUT:
        cu_store_user_cleanup(&op->u.user);
        break;
    case CU_OP_USER_TOTP_PENDING:
    case CU_OP_USER_TOTP_ENABLE:
        free(op->u.totp.secret.data);
        break;
    case CU_OP_HOLD_PUT:
    case CU_OP_HOLD_RELEASE:
        free(op->u.hold.reason.data);
        free(op->u.hold.release_reason.data);
        break;
    case CU_OP_WEBHOOK_EVENT:
        free(op->u.webhook_event.payload.data);
        break;
    case CU_OP_WEBHOOK_ENDPOINT_PUT:
        free(op->u.webhook_endpoint.secret.data);
        break;
    default:
        break;
    }
    memset(op, 0, sizeof(*op));
}

void cu_store_key_cleanup(cu_store_key *k)
{
    if (k == NULL)
        return;
    free(k->wrapped.data);
    k->wrapped.data = NULL;
    k->wrapped.len = 0;
}

void cu_store_keys_free(cu_store_key *keys, size_t n)
{
    size_t i;

    for (i = 0; keys != NULL && i < n; i++)
        cu_store_key_cleanup(&keys[i]);
    free(keys);
}

void cu_store_subject_cleanup(cu_store_subject *s)
{
    if (s == NULL)
        return;
    free(s->profile.data);
    s->profile.data = NULL;
}

void cu_store_record_cleanup(cu_store_record *r)
{
    size_t i;

    if (r == NULL)
        return;
    free(r->doc.data);
    r->doc.data = NULL;
    for (i = 0; i < r->nfields; i++) {
        free(r->fields[i].name);
        free(r->fields[i].ct.data);
    }
    free(r->fields);
    r->fields = NULL;
    r->nfields = 0;
}

void cu_store_user_cleanup(cu_store_user *u)
{
    if (u == NULL)
        return;
    free(u->email.data);
    free(u->totp_secret.data);
    free(u->totp_pending.data);
    u->email.data = u->totp_secret.data = u->totp_pending.data = NULL;
    u->email.len = u->totp_secret.len = u->totp_pending.len = 0;
}

void cu_store_users_free(cu_store_user *users, size_t n)
{
    size_t i;

    for (i = 0; users != NULL && i < n; i++)
        cu_store_user_cleanup(&users[i]);
    free(users);
}

void cu_store_holds_free(cu_store_hold *holds, size_t n)
{
    if (holds == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(holds[i].reason.data);
        free(holds[i].release_reason.data);
    }
    free(holds);
}

/* A backend without its own read of the certificate (the SQLite pool, whose readers are
 * statements of the other files) reads it through a snapshot: rare (an erase request read or
 * completed again), and the snapshot is closed before this returns. */
cu_rc cu_store_erasure_certificate(cu_store *s, cu_id tenant, cu_id subject, char **text,
                                   cu_err *err)
{
    cu_store *snap = NULL;
    cu_rc rc;

    *text = NULL;
    if (s->ops->erasure_certificate != NULL)
        return s->ops->erasure_certificate(s, tenant, subject, text, err);
    if ((rc = cu_store_snapshot(s, &snap, err)) != CU_OK)
        return rc;
    rc = snap->ops->erasure_certificate != NULL
             ? snap->ops->erasure_certificate(snap, tenant, subject, text, err)
             : cu_err_set(err, CU_ERR_NOT_FOUND, "no erasure certificate");
    cu_store_close(snap);
    return rc;
}
