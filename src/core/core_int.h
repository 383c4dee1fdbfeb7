/*
 * core_int.h: the private layout of the vault and the helpers shared by src/core/ files.
 *
 * Key hierarchy (DESIGN.md, Keys; P-ENC-1, P-ISO-3):
 *   master key (keyring file, versioned)
 *     -> tenant key (kind CU_KEY_TENANT, wrapped by a master key version)
 *          -> subject keys, the tenant data key, the index key (wrapped by a tenant key version)
 * Every plaintext key lives in a cu_key (fixed buffer) that is wiped with cu_key_wipe() as soon
 * as it has been used.
 */
#ifndef CU_CORE_INT_H
#define CU_CORE_INT_H

#include <limits.h>
#include <pthread.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "custos.h"
#include "store.h"

#define CU_KEYRING_FILE "master.key"

/* Master key versions held in locked memory. */
typedef struct cu_keyring cu_keyring;

/* Loads the key file at path (refusing one readable by group or others: CU_ERR_PERM); with a
 * passphrase, unwraps its entries under Argon2id(passphrase). Caller owns *out. */
cu_rc cu_keyring_load(const char *path, const char *passphrase, cu_keyring **out, cu_err *err);
/* Makes a new keyring with one fresh version (1); not saved. */
cu_rc cu_keyring_new(const char *passphrase, cu_keyring **out, cu_err *err);
/* Writes the keyring to path atomically with mode 0600. */
cu_rc cu_keyring_save(const cu_keyring *r, const char *path, cu_err *err);
/* Adds a fresh version numbered after every existing one; returns it in *version. */
cu_rc cu_keyring_add(cu_keyring *r, uint32_t *version, cu_err *err);
/* Drops every version but keep. */
void cu_keyring_retain(cu_keyring *r, uint32_t keep);
/* The key of a version, or NULL. The pointer stays valid until the keyring changes. */
const uint8_t *cu_keyring_get(const cu_keyring *r, uint32_t version);
/* The highest version in the keyring. */
uint32_t cu_keyring_newest(const cu_keyring *r);
/* The check value of a version's key, stored in the database to detect a wrong key file. */
void cu_keyring_check(const uint8_t key[CU_KEYBYTES], uint8_t out[32]);
void cu_keyring_free(cu_keyring *r);

typedef struct cu_heads cu_heads;
typedef struct cu_policy_cache cu_policy_cache;
typedef struct cu_auth_state cu_auth_state;
typedef struct cu_audit_in cu_audit_in; /* below, with the audit helpers */
struct cu_commit_req;

struct cu_vault {
    char dir[PATH_MAX];
    cu_store *store;
    cu_keyring *ring;
    cu_id sweep_holder;      /* this vault's id in the sweep lease (sweep.c) */
    uint32_t master_version; /* newest version the database knows: wraps new tenant keys */
    /* Readers: whatever unwraps keys or wraps new ones. Writers: master and tenant key
     * rotation, so that no key is wrapped under a version a rotation is retiring. */
    pthread_rwlock_t key_lock;
    /* Group commit (commit.c): the queue, whether a leader is committing, the chain heads. */
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_cond;
    struct cu_commit_req *queue, *queue_tail;
    int committing;
    cu_heads *heads;    /* touched by the leader only */
    int group_max;      /* requests per group: CUSTOS_COMMIT_GROUP_MAX, 1 = one per commit */
    int64_t checkpoint_ms; /* a checkpoint at least this often while entries arrive (P-AUD-2) */
    uint64_t groups;    /* transactions committed by cu_commit */
    uint64_t grouped;   /* requests they carried */
    uint8_t *audit_sk;  /* Ed25519 secret key, locked memory */
    uint8_t audit_pk[32];
    pthread_mutex_t policy_lock; /* guards policies and policy_gen */
    cu_policy_cache *policies;   /* parsed tenant policies (enforce.c) */
    uint64_t policy_gen;         /* bumped by every forget: a load begun before is not kept */
    pthread_mutex_t sweep_lock; /* one sweep at a time (the interval thread, POST /v1/sweep) */
    cu_auth_state *auth;        /* login throttling and hash slots (throttle.c) */
    unsigned log_floor_days;    /* no policy keeps the audit log less (P-RET-4) */
};

/* A plaintext key and its version. */
typedef struct cu_key {
    uint8_t k[CU_KEYBYTES];
    uint32_t version;
} cu_key;

static inline void cu_key_wipe(cu_key *k)
{
    cu_wipe(k, sizeof(*k));
}

/* Associated data binding a ciphertext to its place (P-ENC-2). */
#define CU_AAD_MAX 512
typedef struct cu_aad {
    uint8_t b[CU_AAD_MAX];
    size_t len;
} cu_aad;

/* AAD of a data ciphertext: tenant, collection, record (or subject) id, field, key version. */
void cu_aad_data(cu_aad *a, cu_id tenant, const char *collection, cu_id id, const char *field,
                 uint32_t key_version);
/* Appends a record's write id to a sensitive field's AAD, binding the field to the one write of
 * the document it belongs to (no field from an older write can be swapped in). */
void cu_aad_bind(cu_aad *a, const char *write_id);
/* AAD of a wrapped key: its kind, tenant, owner and version. */
void cu_aad_key(cu_aad *a, cu_key_kind kind, cu_id tenant, cu_id owner, uint32_t version);

/* Unwraps the newest tenant key (P-ISO-3). CU_ERR_NOT_FOUND if the tenant has none (purged). */
cu_rc cu_keys_tenant(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err);
/* The same with v->key_lock already held (read or write). */
cu_rc cu_keys_tenant_locked(cu_vault *v, cu_id tenant, cu_key *out, cu_err *err);
/* Wraps tenant key tk under the current master version into a KEY_PUT op (op owns
 * wrapped.data). Hold v->key_lock for reading until the op is applied, so that a master
 * rotation cannot retire the version in between. */
cu_rc cu_keys_wrap_tenant_locked(cu_vault *v, cu_id tenant, const cu_key *tk, cu_store_op *op,
                                 cu_err *err);
/* Unwraps a key of kind (DATA, INDEX, SUBJECT) of the tenant; CU_ERR_KEY if it was destroyed. */
cu_rc cu_keys_child(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                    cu_err *err);
/* Unwraps one version of such a key (0: the newest): a value is opened with the version that
 * sealed it, since the data key has several between a rotation and its re-encryption pass. */
cu_rc cu_keys_child_at(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner,
                       uint32_t version, cu_key *out, cu_err *err);
/* The same with v->key_lock already held. */
cu_rc cu_keys_child_locked(cu_vault *v, cu_id tenant, cu_key_kind kind, cu_id owner, cu_key *out,
                           cu_err *err);
/* Makes a fresh key of kind under the tenant key tk and fills op with its KEY_PUT (op owns
 * wrapped->data; free it after apply). Returns the plaintext in *out. */
cu_rc cu_keys_make_child(const cu_key *tk, cu_id tenant, cu_key_kind kind, cu_id owner,
                         cu_key *out, cu_store_op *op, cu_err *err);

/* --- data key re-encryption (keys.c, record.c, hold.c, users.c; P-ENC-5) --------------- */

/* Opens ct, sealed under data key version old_version with the AAD of (tenant, coll, id, field,
 * and bind if not NULL), and seals it again under nk with the same AAD at nk's version into
 * *out (caller frees out->data). */
cu_rc cu_reseal_value(cu_vault *v, cu_id tenant, const char *coll, cu_id id, const char *field,
                      const char *bind, uint32_t old_version, const cu_key *nk, const cu_blob *ct,
                      cu_blob *out, cu_err *err);
/* Fills *op with the CU_OP_RESEAL of a record without a subject, or leaves op->type 0 if the
 * record is under nk's version already. CU_ERR_NOT_FOUND if it is gone. */
cu_rc cu_record_reseal_op(cu_vault *v, cu_id tenant, cu_id record, const cu_key *nk,
                          cu_store_op *op, cu_err *err);
/* The same for a legal hold's reasons. */
cu_rc cu_hold_reseal_op(cu_vault *v, const cu_store_hold *h, const cu_key *nk, cu_store_op *op,
                        cu_err *err);
/* The same for a user's email, TOTP secret and pending secret: ops[0..3), each of type 0 when
 * nothing is to be done. */
cu_rc cu_user_reseal_ops(cu_vault *v, const cu_store_user *u, const cu_key *nk,
                         cu_store_op ops[3], cu_err *err);
/* Frees what a reseal op owns (its blobs and fields) and zeroes it; other ops: no-op. */
void cu_reseal_op_free(cu_store_op *op);

/* Seals pt under key with aad into a new blob (caller frees blob->data). */
cu_rc cu_seal(const cu_key *key, const cu_aad *aad, const void *pt, size_t len, cu_blob *out,
              cu_err *err);
/* Opens a blob into a NUL-terminated buffer the caller wipes and frees. what names the object
 * for the message ("record", "subject"). */
cu_rc cu_open(const cu_key *key, const cu_aad *aad, const cu_blob *ct, char **out, size_t *len,
              const char *what, cu_err *err);

/* Creates tenant id with its keys and the extra operations (and extra audit entry, may be
 * NULL) in one transaction. */
cu_rc cu_tenant_create_batch(cu_vault *v, const cu_ctx *ctx, cu_id id, const char *name,
                             const cu_store_op *extra, size_t nextra, const cu_audit_in *extra_a,
                             cu_tenant *out, cu_err *err);
/* The operations that bind policy p (text[0..len)) to tenant as version: the POLICY_PUT and
 * one COLLECTION_PUT per collection, and their audit entry. Refuses (CU_ERR_INVALID) a policy
 * that keeps the log less than the vault's floor (P-RET-4). Release with cu_policy_ops_free. */
cu_rc cu_policy_ops(cu_vault *v, cu_id tenant, const cu_policy *p, const char *text, size_t len,
                    unsigned version, cu_store_op **ops, size_t *n, cu_audit_in *a, cu_err *err);
void cu_policy_ops_free(cu_store_op *ops, size_t n);

/* Checks that the tenant exists and is not purged; for writes, that it is active. */
cu_rc cu_tenant_check(cu_vault *v, cu_id tenant, int for_write, cu_err *err);

/* Normalizers for blind-indexed values: write into out (outcap bytes), NUL-terminated.
 * CU_ERR_INVALID if the value cannot be an email or phone. */
cu_rc cu_norm_email(const char *in, char *out, size_t outcap);
cu_rc cu_norm_phone(const char *in, char *out, size_t outcap);

/* Field classification of one collection (from its declared spec and the built-in rules). */
typedef struct cu_schema cu_schema;
cu_rc cu_schema_load(cu_vault *v, cu_id tenant, const char *collection, cu_schema **out,
                     cu_err *err);
void cu_schema_free(cu_schema *s);
/* The class and indexed flag of a top-level field. */
cu_field_class cu_schema_class(const cu_schema *s, const char *field, int *indexed);
/* 1 if a name is a card-number field that is always forbidden (P-ENC-3). */
int cu_field_is_card_name(const char *name);
/* 1 if the string holds something that looks like a full payment card number (P-ENC-3). */
int cu_value_is_card_number(const char *s);

/* Builds the COLLECTION_PUT of a collection's field classes (validated). The op's spec is
 * allocated: free it (a const char *) after applying. */
cu_rc cu_collection_op(cu_id tenant, const char *collection, const cu_field_def *fields,
                       size_t n, cu_store_op *op, cu_err *err);

/* Wipes every string value of a cJSON tree (personal values), then deletes it. NULL: no-op. */
void cu_json_delete_wiped(cJSON *o);


/* --- credentials (roles.c, auth.c, users.c, totp.c; P-ACC-1 .. P-ACC-6) -------------- */

/* Every Argon2id run of authentication (password hashes and verifications, dummy ones
 * included). Tests read it to prove that a locked-out login hashes nothing (P-ACC-6). */
extern _Atomic unsigned long cu_auth_argon2_calls;
/* The most Argon2id runs ever in progress at once; tests reset it to prove the slots bound
 * them (P-ACC-6). */
extern _Atomic unsigned long cu_auth_argon2_peak;

/* Argon2id hash and verification of a NUL-terminated password, counted (P-ENC-3). */
cu_rc cu_auth_password_hash(const char *pw, char out[CU_PWHASH_STRBYTES]) CU_WUR;
cu_rc cu_auth_password_verify(const char *hash, const char *pw) CU_WUR;

/* Login throttling (throttle.c, P-ACC-6): in-memory counters keyed by a keyed hash. */
typedef enum cu_th_kind {
    CU_TH_SOURCE,   /* a source address: a rate limit and a failure back-off */
    CU_TH_TENANT,   /* a tenant: a limit of failures a minute, for sources that failed */
    CU_TH_ACCOUNT,  /* (source, tenant, normalized email): a failure back-off */
    CU_TH_MFA,      /* (source, tenant, user): second-factor failures at login */
    CU_TH_MFA_USER, /* (tenant, user): the same from every source, a much higher limit */
    CU_TH_REAUTH    /* (tenant, user): re-authentication failures */
} cu_th_kind;
typedef struct cu_th_key {
    uint8_t b[16];
    cu_th_kind kind;
} cu_th_key;

cu_rc cu_auth_state_new(cu_auth_state **out, cu_err *err);
void cu_auth_state_free(cu_auth_state *s);
/* The key of what data[0..len) names, for a counter of kind. */
void cu_throttle_key(cu_vault *v, cu_th_kind kind, const void *data, size_t len, cu_th_key *out);
/* Checks the source key first, then (unless it refuses) every other key: back-offs, the
 * source's rate limit, and the tenant's failure limit for a source that has failed. If none
 * refuses, makes every key's entry and counts one attempt against the source's rate limit;
 * when no entry can be made without evicting one that refuses, it refuses (fail closed). CU_ERR_RATE_LIMITED with the longest
 * wait in *retry_after (may be NULL) if one does. */
cu_rc cu_throttle_check(cu_vault *v, const cu_th_key *keys, size_t n, int64_t now,
                        unsigned *retry_after, cu_err *err);
/* Counts a failure of k at now, starting or lengthening its back-off (for a tenant key: one
 * more failure in its minute). */
void cu_throttle_failed(cu_vault *v, const cu_th_key *k, int64_t now);
/* Forgets k's failures (a success). */
void cu_throttle_clear(cu_vault *v, const cu_th_key *k);
/* Takes one of the hash slots, waiting up to hash_wait_ms; CU_ERR_UNAVAILABLE (and
 * *retry_after 1) if none came free. Give it back with cu_auth_slot_release. */
cu_rc cu_auth_slot_acquire(cu_vault *v, unsigned *retry_after, cu_err *err);
void cu_auth_slot_release(cu_vault *v);

/* P-ACC-2: user u proves itself again (password, and a current code of its active second
 * factor if it has one) before changing that factor; *step gets the code's step (0 without
 * one), for the caller to spend. CU_ERR_AUTH, CU_ERR_RATE_LIMITED or CU_ERR_UNAVAILABLE (with
 * *retry_after, may be NULL) otherwise. */
cu_rc cu_auth_reauth(cu_vault *v, const cu_store_user *u, const char *password, const char *code,
                     int64_t *step, unsigned *retry_after, cu_err *err);
/* The stored hash of a session token; 0 if token is not one. */
int cu_session_hash(const char *token, uint8_t hash[CU_HASHBYTES]);

/* 1 if r is a role a tenant's key or user may hold (owner .. auditor). */
int cu_role_tenant_ok(cu_role r);

/* The pseudo-collection that users' sealed values name in their AAD (P-ENC-2). */
#define CU_USERS_COLL "$users"
#define CU_TOTP_SECRET_BYTES 20
#define CU_TOTP_STEP 30
#define CU_TOTP_DIGITS 6

/* The keyed digest of a normalized email under the tenant's index key (scope "u:email"). */
cu_rc cu_user_email_digest(cu_vault *v, cu_id tenant, const char *email, uint8_t out[32],
                           cu_err *err);
/* Opens a user's sealed TOTP secret b (sealed under data key version kv) into out, which the
 * caller wipes. */
cu_rc cu_user_totp_open(cu_vault *v, const cu_store_user *u, const cu_blob *b, uint32_t kv,
                        uint8_t out[CU_TOTP_SECRET_BYTES], cu_err *err);
/* P-ACC-2: CU_OK if code (CU_TOTP_DIGITS digits) is key's code at the time step of now or
 * one step either side, with that step (the latest that matches) in *step; else CU_ERR_AUTH.
 * Compares in constant time. */
cu_rc cu_totp_check(const uint8_t *key, size_t keylen, int64_t now, const char *code,
                    int64_t *step);
/* RFC 4648 base32 without padding, NUL-terminated; CU_ERR_LIMIT if outcap is too small. */
cu_rc cu_base32_encode(const uint8_t *in, size_t n, char *out, size_t outcap);

/* --- audit and commit (audit.c, commit.c) ------------------------------------------------ */

/* Entries one commit may write: the most is the data key's re-encryption batch (keys.c), its
 * own entry and one per record (33). */
#define CU_AUDIT_PER_COMMIT 40

/* What an operation says about itself; cu_commit adds who, why, when, from where (from the
 * cu_ctx) and chains it. Ids and names only (P-AUD-4). */
typedef struct cu_audit_in {
    cu_id tenant;
    const char *action;
    char object[96];
    int has_digest;     /* a record write: the digest of the ciphertext it stores */
    uint8_t digest[32];
} cu_audit_in;

/* Puts SHA-256(ct[0..len)), the sealed document a record write stores, in a's entry, so that
 * verify --deep can tell the record's latest write from an older ciphertext put back. Call
 * after cu_audit_in_set. */
void cu_audit_in_digest(cu_audit_in *a, const uint8_t *ct, size_t len);

/* The platform log's twin of a tenant's entry a: tenant 0, the same action, the object
 * prefixed with "tenant:<id>:" (a policy change is seen outside the tenant too). */
void cu_audit_in_platform(cu_audit_in *out, const cu_audit_in *a);
/* Builds an audit description: object is printf-formatted ("record:%llu"). */
void cu_audit_in_set(cu_audit_in *a, cu_id tenant, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Commits ops and the audit entries describing them in one durable transaction, grouped with
 * concurrent callers (P-AUD-1, P-AUD-3). A read passes n 0: its entry is durable before the
 * caller hands out anything. */
cu_rc cu_commit(cu_vault *v, const cu_ctx *ctx, const cu_store_op *ops, size_t n,
                const cu_audit_in *audit, size_t naudit, cu_err *err);

/* Fills an entry's descriptive members from ctx and a (no seq, prev or hash yet). */
void cu_audit_fill(cu_audit_entry *e, const cu_ctx *ctx, const cu_audit_in *a);
/* The entry's chain hash: SHA-256(canonical encoding including prev). */
void cu_audit_hash(const cu_audit_entry *e, uint8_t out[32]);
/* Signs a checkpoint (anchor 0) or a prune anchor (1) of (tenant, seq, at, hash) with the
 * vault's audit key. */
void cu_audit_sign(cu_vault *v, int anchor, cu_id tenant, uint64_t seq, int64_t at,
                   const uint8_t hash[32], cu_audit_checkpoint *out);
/* Loads DIR/audit.key (wrapped under a master key, mode 0600), making it if missing while no
 * checkpoint exists; refuses a key file readable by others (CU_ERR_PERM), one whose public key
 * differs from the database's, or a missing one while checkpoints exist (CU_ERR_KEY). Needs
 * v->ring, v->store and v->master_version. */
cu_rc cu_audit_key_load(cu_vault *v, cu_err *err);
/* Rewrites DIR/audit.key wrapped under master_version (a master key rotation, before the
 * older versions leave the key file). */
cu_rc cu_audit_key_rewrap(cu_vault *v, uint32_t master_version, cu_err *err);

/* --- the policy enforced (enforce.c, hold.c, lifecycle.c) ---------------------------------- */

/* The tenant's current policy, parsed once and cached; CU_ERR_NOT_FOUND if it has none. On
 * CU_OK the caller holds a reference: give it back with cu_policy_release, after which the
 * pointer may be freed (once a newer version replaced it). */
cu_rc cu_policy_for(cu_vault *v, cu_id tenant, const cu_policy **out, unsigned *version,
                    cu_err *err);
/* Gives back a reference from cu_policy_for. NULL is a no-op. */
void cu_policy_release(cu_vault *v, const cu_policy *p);
/* Drops the cached policy of a tenant (after binding a new one). */
void cu_policy_cache_forget(cu_vault *v, cu_id tenant);
void cu_policy_cache_free(cu_vault *v);
/* cu_purpose_check for a write: the same rules, and subject_access, which only reads, is
 * refused. */
cu_rc cu_purpose_check_write(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             const char *collection, cu_err *err);
/* cu_tenant_check for a read by ctx: a purged tenant's retained data is still found by
 * platform staff stating an operator purpose of legal obligation (P-DSR-4, P-RET-2), and by
 * the vault's own local acts (CU_CTX_LOCAL: the sweep, the CLI). */
cu_rc cu_tenant_check_read(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err);
/* With a policy, a record's collection must be one the policy declares (P-RET-1). */
cu_rc cu_policy_collection_check(cu_vault *v, cu_id tenant, const char *collection, cu_err *err);
/* P-AGE-1: CU_ERR_UNDER_AGE if birth_date (validated, may be NULL) is under the tenant's
 * policy's minimum age today. */
cu_rc cu_age_check(cu_vault *v, cu_id tenant, const char *birth_date, cu_err *err);

/* A record opened without a purpose check or an audit entry, for the vault's own use (the
 * sweep, the export, which audit themselves). Release with cu_record_cleanup. */
cu_rc cu_record_read(cu_vault *v, cu_id tenant, cu_id record, cu_record *out, cu_err *err);
/* The same for a subject. Release with cu_subject_cleanup. */
cu_rc cu_subject_read(cu_vault *v, cu_id tenant, cu_id subject, cu_subject *out, cu_err *err);
/* P-RET-6: builds the RECORD_ANONYMIZE of a record: its plain fields only, sealed under the
 * tenant data key, detached from its subject. The op owns u.record.doc.data (free it). */
cu_rc cu_record_anonymize_op(cu_vault *v, cu_id tenant, cu_id record, cu_store_op *op,
                             cu_err *err);

/* The two steps of erasure (P-DSR-4) without the checks before them (tenant state, purpose,
 * holds), for the sweep, which has made them. */
cu_rc cu_subject_shred(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err);
/* Frees this vault's sweep lease if it still holds it (sweep.c; at close: a server that stops
 * lets another sweep at once). Best effort: a lease left behind lapses. */
void cu_sweep_lease_drop(cu_vault *v);
/* Applies the policy p to one tenant t at now (lifecycle.c): purge at the end of the export
 * window, record retention, pending erasures, and the final shredding. */
cu_rc cu_sweep_tenant(cu_vault *v, const cu_ctx *ctx, const cu_tenant *t, const cu_policy *p,
                      int64_t now, cu_sweep_report *rep, cu_err *err);

/* The audit clock: unix milliseconds (the settable clock in test builds). */
int64_t cu_audit_now_ms(void);

cu_rc cu_heads_new(cu_heads **out);
void cu_heads_free(cu_heads *h);

#endif
