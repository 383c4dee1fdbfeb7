/*
 * core_int.h: the private layout of the vault and what every src/core/ module shares: keys
 * and their AAD, sealing, and the audited group commit. What one module offers the others is
 * in its own header (tenant_int.h, purpose_int.h, keys_int.h, ...; docs/architecture.md).
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
#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "custos.h"
#include "store.h"

/* Master key versions held in locked memory (keyring_int.h). */
typedef struct cu_keyring cu_keyring;
typedef struct cu_heads cu_heads;
typedef struct cu_policy_cache cu_policy_cache;
typedef struct cu_auth_state cu_auth_state;
typedef struct cu_caches cu_caches;
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
    _Atomic uint64_t key_gen; /* bumped by each writer of keys before it unlocks (commit.c) */
    /* Group commit (commit.c): the queue, whether a leader is committing, the chain heads. */
    pthread_mutex_t commit_lock;
    struct cu_commit_req *queue, *queue_tail;
    int committing;
    cu_heads *heads;    /* touched by the leader only */
    int group_max;      /* requests per group: CUSTOS_COMMIT_GROUP_MAX, 1 = one per commit */
    int64_t checkpoint_ms; /* a checkpoint at least this often while entries arrive (P-AUD-2) */
    /* The writer thread (commit.c), started by the first cu_commit_async: it leads every
     * round whose oldest request is asynchronous, since no thread waits behind such a one. */
    pthread_t writer;
    pthread_cond_t writer_cond;
    int writer_started, writer_lead, writer_stop;
    unsigned long async_pending; /* asynchronous requests queued or in a round */
    /* The completer thread (commit.c), started with the writer: runs the completions of the
     * asynchronous requests of committed rounds, in order, while the writer leads the next. */
    pthread_t completer;
    pthread_cond_t completer_cond;
    struct cu_commit_req *done, *done_tail; /* committed, to complete */
    int completer_stop;
    uint64_t groups;    /* transactions committed by cu_commit */
    uint64_t grouped;   /* requests they carried */
    struct cu_fpe *record_ids;  /* the record id key's permutation (record_ids.c), or NULL: the
                                   store's ids are random (PostgreSQL) */
    cu_store_idmap idmap;       /* over record_ids, set in the store */
    int record_ids_made;        /* new records' ids from it (else random) */
    uint8_t *audit_sk;  /* Ed25519 secret key, locked memory */
    uint8_t audit_pk[32];
    cu_policy_cache *policies;   /* parsed tenant policies (policy_cache.c) */
    pthread_mutex_t sweep_lock; /* one sweep at a time (the interval thread, POST /v1/sweep) */
    cu_auth_state *auth;        /* login throttling and hash slots (throttle.c) */
    struct cu_ana_rate *ana_rate; /* aggregate queries per tenant (analytics_rate.c) */
    cu_caches *caches;          /* verified API keys, unwrapped keys (cache.c) */
    unsigned log_floor_days;    /* no policy keeps the audit log less (P-RET-4) */
    struct cu_eraser *eraser;   /* the erasure thread (erase.c), or NULL: erasures inline */
    pthread_mutex_t erase_lock; /* one deleter of erased rows at a time (erase.c) */
    /* Erasures whose truncating checkpoint is owed, and the count a checkpoint covered
     * (erase.c, __atomic): a scrub is pending while they differ (P-DSR-4). */
    uint64_t scrub_owed, scrub_done;
};

/* The record id key (record_ids.c): set in a store that keys records internally, at open;
 * wiped at close. */
cu_rc cu_record_ids_open(cu_vault *v, cu_err *err);
void cu_record_ids_close(cu_vault *v);
/* A new record's id: the store's next internal key's permutation, else random. */
cu_rc cu_record_id_new(cu_vault *v, cu_id *out, cu_err *err);

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

/* Seals pt under key with aad into a new blob (caller frees blob->data). */
cu_rc cu_seal(const cu_key *key, const cu_aad *aad, const void *pt, size_t len, cu_blob *out,
              cu_err *err);
/* Opens a blob into a NUL-terminated buffer the caller wipes and frees. what names the object
 * for the message ("record", "subject"). */
cu_rc cu_open(const cu_key *key, const cu_aad *aad, const cu_blob *ct, char **out, size_t *len,
              const char *what, cu_err *err);

/* Wipes every string value of a cJSON tree (personal values), then deletes it. NULL: no-op. */
void cu_json_delete_wiped(cJSON *o);

/* 1 if a name is a card-number field that is always forbidden (P-ENC-3; schema.c, used by the
 * policy loader too). */
int cu_field_is_card_name(const char *name);

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
    cu_id subject; /* the data subject the entry touches, 0 none: indexed by the store for the
                      subject's export, outside the hash. cu_audit_in_set takes it from an
                      object "subject:<id>[:...]"; a record's reads and writes set it after */
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
/* cu_commit's asynchronous twin: queues the same request and returns at once. It takes ops
 * (heap-allocated, each op's blobs owned as cu_store_op_cleanup frees them; pointers the ops
 * borrow must live until done runs) and the audit entries (copied now). CU_OK: done(arg, rc,
 * err) runs exactly once, on the leader's thread, after the group is durable or has failed and
 * after ops are freed; else the request was not queued, ops are freed and done never runs. */
typedef void (*cu_commit_done)(void *arg, cu_rc rc, const cu_err *err);
cu_rc cu_commit_async(cu_vault *v, const cu_ctx *ctx, cu_store_op *ops, size_t n,
                      const cu_audit_in *audit, size_t naudit, cu_commit_done done, void *arg,
                      cu_err *err);
/* Stops the writer thread once every asynchronous request has completed (cu_vault_close). */
void cu_commit_stop(cu_vault *v);
/* Forgets what ops[0..n) change from the vault's caches (cache.c): a revoked API key, a
 * destroyed, rewrapped or new key, a tenant's end. cu_commit calls it after every commit,
 * failed ones too (a failure may be ambiguous), before it returns to its caller. */
void cu_cache_after_commit(cu_vault *v, const cu_store_op *ops, size_t n);
/* Which of the calling thread's read scopes is open (cu_vault_read_begin), 0 if none: what
 * every read since its start saw is one state, so a row read in it may be read once (tenant.c). */
uint64_t cu_vault_read_scope(void);

/* Fills an entry's descriptive members from ctx and a (no seq, prev or hash yet). */
void cu_audit_fill(cu_audit_entry *e, const cu_ctx *ctx, const cu_audit_in *a);
/* The entry's chain hash: SHA-256(canonical encoding including prev). */
void cu_audit_hash(const cu_audit_entry *e, uint8_t out[32]);
/* Signs a checkpoint (anchor 0) or a prune anchor (1) of (tenant, seq, at, hash) with the
 * vault's audit key. */
void cu_audit_sign(cu_vault *v, int anchor, cu_id tenant, uint64_t seq, int64_t at,
                   const uint8_t hash[32], cu_audit_checkpoint *out);
/* The audit clock: unix milliseconds (the settable clock in test builds). */
int64_t cu_audit_now_ms(void);

cu_rc cu_heads_new(cu_heads **out);
void cu_heads_free(cu_heads *h);

/* The directory of the vault's key file (DIR, or --key-file's): backup.keys and the erasure
 * journal live beside the master key, apart from the data when the key file is (vault.c). */
cu_rc cu_vault_keys_dir(const cu_vault *v, char *out, size_t cap, cu_err *err);

/* The key lock, taken through these (commit.c): a read lock ends the thread's read scope if a
 * writer of keys (a rotation, a retirement) let the lock go since the scope opened; a write
 * lock ends it first, and its unlock bumps the generation. */
void cu_key_rdlock(cu_vault *v);
void cu_key_wrlock(cu_vault *v);
void cu_key_wrunlock(cu_vault *v);

/* Frees this vault's sweep lease if it still holds it (sweep.c; at close: a server that stops
 * lets another sweep at once). Best effort: a lease left behind lapses. */
void cu_sweep_lease_drop(cu_vault *v);

#endif
