/*
 * pg_stubs.c: a weak stand-in for every apply function, read and cross-domain call of the
 * PostgreSQL backend, returning CU_ERR_UNSUPPORTED, so that each branch of the backend links
 * while the others are written. A domain's file defines the real one (strong), which wins; this
 * file is never edited by a domain and goes once every function has its real definition.
 *
 * The backend's objects are linked into one relocatable object before they enter the library
 * (Makefile: pg_backend.o), so the strong definitions win there and not by the order in which
 * the linker happens to pull archive members.
 */
#include "pg_int.h"
#include "util.h"

#define WEAK __attribute__((weak))

static cu_rc unsupported(cu_err *err, const char *what)
{
    return cu_err_set(err, CU_ERR_UNSUPPORTED, "%s: not in the PostgreSQL backend yet", what);
}

#define PG_W_STUB(KIND, name)                                                                    \
    WEAK cu_rc pg_w_##name(pg_conn *c, const cu_store_op *op, cu_err *err)                       \
    {                                                                                            \
        (void)c;                                                                                 \
        (void)op;                                                                                \
        return unsupported(err, "op " #name);                                                    \
    }
PG_OP_KINDS(PG_W_STUB)
#undef PG_W_STUB

WEAK cu_rc pg_erase_queue(pg_conn *c, cu_id tenant, cu_id subject, cu_err *err)
{
    (void)c, (void)tenant, (void)subject;
    return unsupported(err, "erase_queue");
}

WEAK cu_rc pg_tenant_data_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    (void)c, (void)tenant;
    return unsupported(err, "tenant_data_delete");
}

WEAK cu_rc pg_tenant_audit_delete(pg_conn *c, cu_id tenant, cu_err *err)
{
    (void)c, (void)tenant;
    return unsupported(err, "tenant_audit_delete");
}

WEAK cu_rc pg_held(pg_conn *c, cu_id tenant, cu_id subject, cu_id record, int *held, cu_err *err)
{
    (void)c, (void)tenant, (void)subject, (void)record;
    *held = 0;
    return unsupported(err, "held");
}

/* --- the audit domain --- */

WEAK cu_rc pg_audit_head(cu_store *base, cu_id tenant, uint64_t *seq, uint8_t hash[32],
                         cu_err *err)
{
    (void)base, (void)tenant, (void)seq, (void)hash;
    return unsupported(err, "audit_head");
}

WEAK cu_rc pg_audit_list(cu_store *base, cu_id tenant, const cu_audit_filter *f,
                         cu_audit_entry **out, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)f, (void)out, (void)n;
    return unsupported(err, "audit_list");
}

WEAK cu_rc pg_audit_scan(cu_store *base, cu_id tenant, uint64_t from,
                         int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err)
{
    (void)base, (void)tenant, (void)from, (void)fn, (void)arg;
    return unsupported(err, "audit_scan");
}

WEAK cu_rc pg_audit_rows(cu_store *base, cu_id tenant, uint64_t from, uint64_t to,
                         int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err)
{
    (void)base, (void)tenant, (void)from, (void)to, (void)fn, (void)arg;
    return unsupported(err, "audit_rows");
}

WEAK cu_rc pg_audit_seq_before(cu_store *base, cu_id tenant, int64_t before_ms, uint64_t *seq,
                               cu_err *err)
{
    (void)base, (void)tenant, (void)before_ms, (void)seq;
    return unsupported(err, "audit_seq_before");
}

WEAK cu_rc pg_audit_checkpoints(cu_store *base, cu_id tenant, cu_audit_checkpoint **out,
                                size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)out, (void)n;
    return unsupported(err, "audit_checkpoints");
}

WEAK cu_rc pg_audit_by_subject(cu_store *base, cu_id tenant, cu_id subject, uint64_t after,
                               size_t limit, cu_store_access **out, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)after, (void)limit, (void)out, (void)n;
    return unsupported(err, "audit_by_subject");
}

/* --- the vault domain --- */

WEAK cu_rc pg_audit_key_get(cu_store *base, uint8_t pk[32], int *found, int *checkpoints,
                            cu_err *err)
{
    (void)base, (void)pk, (void)found, (void)checkpoints;
    return unsupported(err, "audit_key_get");
}

WEAK cu_rc pg_policy_grant_get(cu_store *base, cu_id tenant, int *admins, cu_err *err)
{
    (void)base, (void)tenant, (void)admins;
    return unsupported(err, "policy_grant_get");
}

WEAK cu_rc pg_policy_get(cu_store *base, cu_id tenant, unsigned *version, char **text,
                         cu_err *err)
{
    (void)base, (void)tenant, (void)version, (void)text;
    return unsupported(err, "policy_get");
}

WEAK cu_rc pg_policy_at(cu_store *base, cu_id tenant, unsigned *version, char **text,
                        int64_t *created_at, cu_err *err)
{
    (void)base, (void)tenant, (void)version, (void)text, (void)created_at;
    return unsupported(err, "policy_at");
}

WEAK cu_rc pg_master_list(cu_store *base, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                          cu_err *err)
{
    (void)base, (void)versions, (void)checks, (void)n;
    return unsupported(err, "master_list");
}

WEAK cu_rc pg_tenant_get(cu_store *base, cu_id id, cu_store_tenant *out, cu_err *err)
{
    (void)base, (void)id, (void)out;
    return unsupported(err, "tenant_get");
}

WEAK cu_rc pg_tenant_list(cu_store *base, cu_store_tenant **out, size_t *n, cu_err *err)
{
    (void)base, (void)out, (void)n;
    return unsupported(err, "tenant_list");
}

WEAK cu_rc pg_key_get(cu_store *base, cu_id tenant, cu_key_kind kind, cu_id owner,
                      uint32_t version, cu_store_key *out, cu_err *err)
{
    (void)base, (void)tenant, (void)kind, (void)owner, (void)version, (void)out;
    return unsupported(err, "key_get");
}

WEAK cu_rc pg_key_list(cu_store *base, cu_id tenant, cu_key_kind kind, cu_store_key **out,
                       size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)kind, (void)out, (void)n;
    return unsupported(err, "key_list");
}

WEAK cu_rc pg_collection_get(cu_store *base, cu_id tenant, const char *name, char **spec,
                             cu_err *err)
{
    (void)base, (void)tenant, (void)name, (void)spec;
    return unsupported(err, "collection_get");
}

WEAK cu_rc pg_apikey_get(cu_store *base, cu_id id, cu_store_apikey *out, cu_err *err)
{
    (void)base, (void)id, (void)out;
    return unsupported(err, "apikey_get");
}

WEAK cu_rc pg_apikey_list(cu_store *base, cu_id tenant, cu_store_apikey **out, size_t *n,
                          cu_err *err)
{
    (void)base, (void)tenant, (void)out, (void)n;
    return unsupported(err, "apikey_list");
}

WEAK cu_rc pg_user_get(cu_store *base, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err)
{
    (void)base, (void)tenant, (void)id, (void)out;
    return unsupported(err, "user_get");
}

WEAK cu_rc pg_user_find(cu_store *base, cu_id tenant, const uint8_t digest[32],
                        cu_store_user *out, cu_err *err)
{
    (void)base, (void)tenant, (void)digest, (void)out;
    return unsupported(err, "user_find");
}

WEAK cu_rc pg_user_list(cu_store *base, cu_id tenant, cu_store_user **out, size_t *n,
                        cu_err *err)
{
    (void)base, (void)tenant, (void)out, (void)n;
    return unsupported(err, "user_list");
}

WEAK cu_rc pg_session_get(cu_store *base, const uint8_t token_hash[32], cu_store_session *out,
                          cu_err *err)
{
    (void)base, (void)token_hash, (void)out;
    return unsupported(err, "session_get");
}

/* --- the data domain --- */

WEAK cu_rc pg_record_meta_list(cu_store *base, cu_id tenant, cu_id after, size_t limit,
                               cu_store_record_meta **out, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)after, (void)limit, (void)out, (void)n;
    return unsupported(err, "record_meta_list");
}

WEAK cu_rc pg_subject_ids(cu_store *base, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                          size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)after, (void)limit, (void)ids, (void)n;
    return unsupported(err, "subject_ids");
}

WEAK cu_rc pg_subject_state(cu_store *base, cu_id tenant, cu_id subject, int *restricted,
                            int64_t *last_activity, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)restricted, (void)last_activity;
    return unsupported(err, "subject_state");
}

WEAK cu_rc pg_consent_list(cu_store *base, cu_id tenant, cu_id subject, const char *purpose,
                           cu_store_consent **out, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)purpose, (void)out, (void)n;
    return unsupported(err, "consent_list");
}

WEAK cu_rc pg_hold_list(cu_store *base, cu_id tenant, cu_store_hold **out, size_t *n,
                        cu_err *err)
{
    (void)base, (void)tenant, (void)out, (void)n;
    return unsupported(err, "hold_list");
}

WEAK cu_rc pg_erasure_list(cu_store *base, cu_id after_tenant, cu_id after_subject, size_t limit,
                           cu_store_erasure **out, size_t *n, cu_err *err)
{
    (void)base, (void)after_tenant, (void)after_subject, (void)limit, (void)out, (void)n;
    return unsupported(err, "erasure_list");
}

WEAK cu_rc pg_request_list(cu_store *base, cu_id tenant, cu_id id, cu_store_request **out,
                           size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)id, (void)out, (void)n;
    return unsupported(err, "request_list");
}

WEAK cu_rc pg_subject_get(cu_store *base, cu_id tenant, cu_id id, cu_store_subject *out,
                          cu_err *err)
{
    (void)base, (void)tenant, (void)id, (void)out;
    return unsupported(err, "subject_get");
}

WEAK cu_rc pg_record_get(cu_store *base, cu_id tenant, cu_id id, cu_store_record *out,
                         cu_err *err)
{
    (void)base, (void)tenant, (void)id, (void)out;
    return unsupported(err, "record_get");
}

WEAK cu_rc pg_record_ids_by_subject(cu_store *base, cu_id tenant, cu_id subject, cu_id **ids,
                                    size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)ids, (void)n;
    return unsupported(err, "record_ids_by_subject");
}

WEAK cu_rc pg_record_ids_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                            cu_id **ids, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)collection, (void)ids, (void)n;
    return unsupported(err, "record_ids_in");
}

WEAK cu_rc pg_record_counts(cu_store *base, cu_id tenant, cu_id subject, uint64_t limit,
                            cu_store_count **out, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)limit, (void)out, (void)n;
    return unsupported(err, "record_counts");
}

WEAK cu_rc pg_record_page(cu_store *base, cu_id tenant, cu_id subject, int64_t after_created,
                          cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                          size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)after_created, (void)after, (void)limit;
    (void)max_bytes, (void)out, (void)n;
    return unsupported(err, "record_page");
}

WEAK cu_rc pg_record_page_in(cu_store *base, cu_id tenant, cu_id subject, const char *collection,
                             int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                             cu_store_record **out, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)collection, (void)after_created, (void)after;
    (void)limit, (void)max_bytes, (void)out, (void)n;
    return unsupported(err, "record_page_in");
}

WEAK cu_rc pg_blind_find(cu_store *base, cu_id tenant, const char *scope,
                         const uint8_t digest[32], cu_id **ids, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)scope, (void)digest, (void)ids, (void)n;
    return unsupported(err, "blind_find");
}

WEAK cu_rc pg_erasure_certificate(cu_store *base, cu_id tenant, cu_id subject, char **text,
                                  cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)text;
    return unsupported(err, "erasure_certificate");
}

WEAK cu_rc pg_subject_collections(cu_store *base, cu_id tenant, cu_id subject,
                                  cu_store_collection_count **out, size_t *n, cu_err *err)
{
    (void)base, (void)tenant, (void)subject, (void)out, (void)n;
    return unsupported(err, "subject_collections");
}
