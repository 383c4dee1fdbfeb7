/*
 * custos.h: the public C API of the Custos vault core.
 *
 * The CLI, the HTTP server and the tests all drive the vault through these functions. The core
 * knows nothing of HTTP or SQL: it enforces the privacy promises (see PROMISES.md, ids such as
 * P-ENC-2) over an abstract store and the crypto layer.
 *
 * Conventions:
 *  - The base types (cu_rc, cu_err, cu_id, the clock, the records the store keeps) are in
 *    custos_base.h, which this header includes.
 *  - Every function that can fail returns a cu_rc; CU_OK is 0. Details go to a caller-supplied
 *    cu_err (may be NULL). Results travel through out-parameters.
 *  - Ids are 64-bit, random, never 0. They travel as decimal strings outside C (cu_id_format).
 *  - Strings in returned structs are owned by the struct; release them with the matching
 *    cu_*_cleanup(), which wipes personal values before freeing. Arrays returned through
 *    `T **out, size_t *n` are owned by the caller and released with free().
 *  - A refused operation changes nothing.
 */
#ifndef CUSTOS_H
#define CUSTOS_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

#define CU_VERSION "0.1.0"

/* Writes a fresh random request id (32 hex digits) into out. */
void cu_request_id(char out[33]);

/* --- the vault --------------------------------------------------------------------------- */

typedef struct cu_vault cu_vault;

typedef struct cu_vault_opts {
    const char *data_dir;   /* directory holding custos.db (and master.key by default) */
    const char *key_file;   /* the master key file; NULL: DATA_DIR/master.key. Kept outside the
                               data directory, a copy of the directory holds no key to read it
                               (key epochs, docs/keys.md) */
    const char *passphrase; /* NULL: the master key lives in the key file; else the key file
                               holds master keys wrapped under Argon2id(passphrase) */
    int allow_xchacha;      /* allow XChaCha20-Poly1305 where the CPU lacks AES-NI */
    unsigned log_floor_days; /* the platform's floor for audit log retention (P-RET-4); 0: the
                                environment's CUSTOS_LOG_FLOOR_DAYS, else CU_LOG_FLOOR_DAYS */
    const char *store; /* the store's location, a "postgresql://" URL (docs/store.md); NULL:
                          the data directory's own database (custos.db). The data directory
                          keeps the key file and the audit key either way */
} cu_vault_opts;

/* No policy keeps the audit log for less (P-RET-4, P-AUD-2): the default platform floor. */
#define CU_LOG_FLOOR_DAYS 90

/* Creates a new data directory (mode 0700) with a fresh master key and an empty database.
 * Fails with CU_ERR_EXISTS if the directory already holds a vault. */
cu_rc cu_vault_init(const cu_vault_opts *opts, cu_err *err);

/* Opens an existing vault: checks the key file's permissions, loads and verifies the master
 * keys against the database, and upgrades the schema if it is older. Caller owns *out and
 * releases it with cu_vault_close(). */
cu_rc cu_vault_open(const cu_vault_opts *opts, cu_vault **out, cu_err *err);

/* Closes the store and wipes every key held in memory. NULL is a no-op. */
void cu_vault_close(cu_vault *v);

/* One request's reads (issue 17): between cu_vault_read_begin and cu_vault_read_end, every read
 * the calling thread makes of the vault's store sees one snapshot, in one read transaction
 * where the store offers it. A commit ends the scope first (its own change is not in the
 * snapshot); reads after it see the latest state. A second begin, or an end without a scope,
 * is a no-op. The server brackets each request with them; hold a scope briefly. */
void cu_vault_read_begin(cu_vault *v);
void cu_vault_read_end(cu_vault *v);

/* Who is acting and why. Carried by every operation on tenant data so that later layers
 * (audit, purposes) see it; all members may be NULL. Never holds personal values. */
typedef struct cu_ctx {
    const char *actor;      /* e.g. "cli", "key:123", "user:456", "operator" */
    const char *purpose;    /* e.g. "support" */
    const char *request_id; /* correlation id */
    const char *source;     /* source address */
    unsigned flags;         /* CU_CTX_* */
    cu_id dsr_request;      /* the data-subject request acted under (request.c), 0: none; the
                               purpose subject_access is refused without one (P-DSR-1) */
} cu_ctx;

#define CU_CTX_OPERATOR 1u /* platform staff: only the policy's operator purposes (P-ACC-4) */
#define CU_CTX_GPC 2u      /* Sec-GPC: 1, an opt-out of sale and sharing purposes */
#define CU_CTX_LOCAL 4u    /* the CLI or the sweeper on the data directory, which holds the key
                              file: its purpose is recorded, not checked against the policy
                              (with CU_CTX_OPERATOR, checked as staff's, P-ACC-4) */
#define CU_CTX_OWNER 8u    /* the principal holds the tenant's owner role (a tenant-wide legal
                              hold is released only by an owner, P-RET-5) */

/* Copies the store's commit statistics since open (cu_commit_stats, custos_base.h), and the
 * group commit counts. */
void cu_vault_commit_stats(cu_vault *v, cu_commit_stats *out);

/* The vault's caches of secrets: verified API keys and unwrapped keys (docs/security.md). */
typedef enum cu_cache_kind { CU_CACHE_APIKEYS, CU_CACHE_KEYS } cu_cache_kind;
typedef struct cu_cache_stats {
    uint64_t hits, misses; /* lookups answered from the cache, and not */
    uint64_t evictions;    /* entries dropped for room (the least recently used, by CLOCK) */
    uint64_t expired;      /* entries dropped at a lookup for being older than the TTL */
    uint64_t forgotten;    /* entries dropped because what they held changed */
    uint64_t size, capacity;
} cu_cache_stats;
/* Copies a cache's counters since open (all zero for a cache turned off). */
void cu_vault_cache_stats(cu_vault *v, cu_cache_kind which, cu_cache_stats *out);

/* --- tenants ----------------------------------------------------------------------------- */

typedef struct cu_tenant {
    cu_id id;
    char name[CU_NAME_MAX];
    cu_tenant_state state;
    int64_t created_at;    /* unix seconds */
    int64_t terminated_at; /* 0 while active: the end of the subscription (P-RET-2) */
} cu_tenant;

/* What a new tenant starts with. Zero what you do not set. */
typedef struct cu_tenant_opts {
    const char *name;   /* 1 to 127 bytes of printable UTF-8 */
    cu_id id;           /* 0: a random id */
    const char *policy; /* YAML text[0..policy_len) bound as version 1; NULL: none */
    size_t policy_len;
    const char *policy_name;    /* what error messages call the policy; NULL: "policy" */
    const char *policy_builtin; /* without policy: a built-in policy's id (cu_policy_builtin) */
    /* Not NULL: the tenant's first owner API key is made too (so the tenant never exists
     * without an owner), its secret written here (CU_APIKEY_SECRET_MAX bytes), once; and
     * owner_key (may be NULL) gets the key. */
    char *owner_secret;
    struct cu_apikey *owner_key;
} cu_tenant_opts;

/* Creates a tenant with its own tenant key, data key and index key (P-ISO-3), and what opts
 * ask (a policy as its version 1, the first owner key), all in one transaction: a policy that
 * does not validate creates nothing (CU_ERR_INVALID, CU_ERR_LIMIT over 1 MiB). */
cu_rc cu_tenant_create(cu_vault *v, const cu_ctx *ctx, const cu_tenant_opts *opts, cu_tenant *out,
                       cu_err *err);
cu_rc cu_tenant_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_tenant *out, cu_err *err);
/* Lists every tenant, oldest first. Caller frees *out. */
cu_rc cu_tenant_list(cu_vault *v, const cu_ctx *ctx, cu_tenant **out, size_t *n, cu_err *err);

/* --- subjects ---------------------------------------------------------------------------- */

typedef struct cu_subject_in {
    const char *external_id; /* required: the SaaS's own id for this person, unique per tenant */
    const char *email;       /* optional */
    const char *phone;       /* optional */
    const char *birth_date;  /* optional, YYYY-MM-DD */
} cu_subject_in;

typedef struct cu_subject {
    cu_id id;
    cu_id tenant_id;
    char *external_id;
    char *email;      /* NULL when unknown */
    char *phone;      /* NULL when unknown */
    char *birth_date; /* NULL when unknown */
    int64_t created_at;
    int restricted;        /* P-DSR-5 */
    int64_t last_activity; /* the newest write of the subject's data */
} cu_subject;

/* Wipes and frees the strings of s. NULL is a no-op. */
void cu_subject_cleanup(cu_subject *s);

typedef enum cu_subject_by {
    CU_SUBJECT_BY_EXTERNAL_ID,
    CU_SUBJECT_BY_EMAIL, /* normalized: trimmed, lowercased */
    CU_SUBJECT_BY_PHONE  /* normalized: digits only, a leading + kept */
} cu_subject_by;

/* Creates a subject with its own subject key. Its values are encrypted under that key and
 * indexed by keyed blind indexes only (P-ENC-6). */
cu_rc cu_subject_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_subject_in *in,
                        cu_id *out_id, cu_err *err);
cu_rc cu_subject_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_subject *out,
                     cu_err *err);
/* Finds subjects by exact (normalized) value. Caller frees *ids; *n may be 0. */
cu_rc cu_subject_find(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_subject_by by,
                      const char *value, cu_id **ids, size_t *n, cu_err *err);
/* Erases a subject by crypto-shredding (P-DSR-4): its key is destroyed in one small durable
 * transaction, the moment of erasure ("subject.erase" in the audit log); from then on the
 * subject, its records and their index entries are found by no read (CU_ERR_NOT_FOUND). Its
 * rows are deleted after, in batches ("subject.erase_rows" once they are gone): before this
 * returns, or in the background once cu_vault_erase_start runs. Erasing a subject whose
 * erasure is under way (a crash cut it short) finishes it and returns CU_OK. */
cu_rc cu_subject_erase(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err);
/* The same, erasure subject to legal retention (P-DSR-4, P-RET-4), with its proof: what a
 * legal obligation of the tenant's policy keeps (docs/policy.md) is sealed again under the
 * subject's retained key in the transaction that destroys the subject key, readable from then
 * on only for a purpose whose basis is legal_obligation, and deleted by the sweep at its
 * category's date. *certificate (may be NULL) gets the signed erasure certificate (JSON: what
 * was erased and kept, why and until when; no personal value), which the caller frees. The
 * certificate is stored in the erasure's own transaction: erasing the subject again (its erasure
 * under way or done) gives the same one. The answer depends only on that commit: if the
 * truncating checkpoint after it cannot run at once (an export's snapshot holds the log), the
 * erasure still answers CU_OK with its scrub pending (cu_vault_scrub_pending), which the
 * erasure thread or the next sweep completes. */
cu_rc cu_subject_erase_certified(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                                 char **certificate, cu_err *err);
/* 1 while an erasure's truncating checkpoint (the scrub of its destroyed key's pages from the
 * write-ahead log, P-DSR-4) is owed; 0 once one ran after the last erasure. */
int cu_vault_scrub_pending(cu_vault *v);
/* CU_OK if text (len bytes) is an erasure certificate signed by public_key (the vault's audit
 * signing key, cu_audit_public_key); CU_ERR_CRYPTO if it was altered or signed by another key,
 * CU_ERR_INVALID if it is no certificate. */
cu_rc cu_erasure_certificate_verify(const char *text, size_t len, const uint8_t public_key[32],
                                    cu_err *err);

/* Records deleted per transaction after an erasure, so that none holds the writer long. */
#define CU_ERASE_BATCH 1000

typedef struct cu_erase_report {
    size_t subjects;  /* erasures finished: no row of the subject left */
    uint64_t records; /* records deleted, with their fields and index entries */
    size_t batches;   /* transactions */
} cu_erase_report;

/* Deletes the rows of every subject whose erasure is under way (its key destroyed), each
 * subject's last batch committed with its "subject.erase_rows" entry under ctx (NULL: the
 * vault's own, actor "eraser"). Returns once the queue is empty, or at the first error (what is
 * left stays queued, hidden and unreadable, for the next call). While the erasure thread is at
 * it, waits for it first. rep may be NULL. */
cu_rc cu_erase_pending(cu_vault *v, const cu_ctx *ctx, cu_erase_report *rep, cu_err *err);

/* Starts the vault's erasure thread (`custos serve`): from now on cu_subject_erase returns once
 * the key is destroyed, and the thread deletes the rows, beginning with any erasure a crash or
 * an earlier process left queued. cu_vault_close stops it between two batches; what is left
 * stays queued. CU_OK if it runs already. */
cu_rc cu_vault_erase_start(cu_vault *v, cu_err *err);

/* --- collections ------------------------------------------------------------------------- */

typedef enum cu_field_class {
    CU_FIELD_PLAIN = 0,     /* business data; still encrypted at rest */
    CU_FIELD_PERSONAL = 1,  /* personal data (the default for undeclared fields) */
    CU_FIELD_SENSITIVE = 2, /* own AEAD and a blind index (P-ENC-6) */
    CU_FIELD_FORBIDDEN = 3  /* never stored: refused (P-ENC-3) */
} cu_field_class;

typedef struct cu_field_def {
    const char *name;   /* top-level key of the record's JSON object */
    cu_field_class cls;
    int indexed;        /* findable by exact value; always true for sensitive fields */
} cu_field_def;

/* 1 if name is a valid collection name: [a-z][a-z0-9_]*, under CU_COLLECTION_MAX bytes. */
int cu_collection_name_ok(const char *name);

/* Declares (or replaces) a collection's field classes. Collection names: 1 to 63 bytes of
 * [a-z0-9_], starting with a letter. Collections need no declaration: undeclared fields are
 * personal, and fields named like card numbers are forbidden everywhere. */
cu_rc cu_collection_define(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                           const cu_field_def *fields, size_t n, cu_err *err);

/* --- records ----------------------------------------------------------------------------- */

typedef struct cu_record {
    cu_id id;
    cu_id tenant_id;
    cu_id subject_id; /* 0: owned by the tenant */
    char collection[CU_COLLECTION_MAX];
    char *json; /* the whole document, sensitive fields merged back */
    int64_t created_at;
    int64_t updated_at;
    uint32_t version; /* the write's version, bound into the ciphertext's AAD (P-ENC-2) */
} cu_record;

/* Wipes and frees r->json. NULL is a no-op. */
void cu_record_cleanup(cu_record *r);

#define CU_RECORD_MAX (1024 * 1024)

/* Stores a JSON object in a collection, owned by subject (or by the tenant when subject is 0).
 * It is encrypted under the subject's key, or the tenant data key, with AAD binding tenant,
 * collection, record id, field and key version (P-ENC-1, P-ENC-2). */
cu_rc cu_record_put(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                    cu_id subject, const char *json, size_t len, cu_id *out_id, cu_err *err);
/* Replaces a record's document. */
cu_rc cu_record_update(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record,
                       const char *json, size_t len, cu_err *err);
cu_rc cu_record_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record, cu_record *out,
                    cu_err *err);
cu_rc cu_record_delete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record, cu_err *err);

/* Asynchronous twins of cu_record_put, cu_record_update and cu_record_get, for a caller that
 * must not hold a thread while the request waits for its group commit (the HTTPS server
 * suspends the connection meanwhile). Each checks, builds and queues the request like its
 * twin; CU_OK then means queued: done(arg, res) runs exactly once, on the thread of the group's
 * leader (possibly before the call returns), with what the synchronous twin would have
 * returned, once the group is durable or has failed (a failed group retries each member
 * alone; a member that still fails gets its own error, CU_ERR_UNAVAILABLE included). Any other
 * return: refused before it was queued, *err says why, and done never runs. json is read
 * before the call returns. done must be quick and must not call the core: the next group
 * waits for it. */
typedef struct cu_async_result {
    cu_rc rc;
    cu_err err;       /* rc != CU_OK */
    cu_id id;         /* cu_record_put_async: the new record's id */
    cu_record record; /* cu_record_get_async: the record, which done takes (cu_record_cleanup) */
} cu_async_result;
typedef void (*cu_async_done)(void *arg, cu_async_result *res);

cu_rc cu_record_put_async(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                          cu_id subject, const char *json, size_t len, cu_async_done done,
                          void *arg, cu_err *err);
cu_rc cu_record_update_async(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record,
                             const char *json, size_t len, cu_async_done done, void *arg,
                             cu_err *err);
cu_rc cu_record_get_async(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id record,
                          cu_async_done done, void *arg, cu_err *err);
/* Lists the ids of a subject's records, oldest first. Caller frees *ids. */
cu_rc cu_record_list_by_subject(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                                cu_id **ids, size_t *n, cu_err *err);
/* Finds records of a collection whose indexed field equals value (a JSON scalar's text: a
 * string's contents, or a number or boolean as written). Caller frees *ids. */
cu_rc cu_record_find(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *collection,
                     const char *field, const char *value, cu_id **ids, size_t *n, cu_err *err);

/* --- keys -------------------------------------------------------------------------------- */

/* Makes a new master key version and rewraps every tenant key under it, without touching
 * record data. Crash-safe: at every instant the key file holds every version the database
 * references (P-ENC-5). */
cu_rc cu_key_rotate_master(cu_vault *v, const cu_ctx *ctx, unsigned *new_version,
                           size_t *rewrapped, cu_err *err);
/* Makes a new tenant key version and rewraps that tenant's subject, data and index keys under
 * it, in one transaction (P-ENC-5). */
cu_rc cu_key_rotate_tenant(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned *new_version,
                           size_t *rewrapped, cu_err *err);
/* Makes a new version of the tenant's data key, with fresh key material: every value sealed
 * under the data key from then on uses it (P-ENC-5). Older values stay readable under their
 * version until cu_key_reencrypt seals them again. */
cu_rc cu_key_rotate_data(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned *new_version,
                         cu_err *err);

/* What a re-encryption pass did. */
typedef struct cu_reencrypt_report {
    unsigned version;  /* the newest data key version, which everything is sealed under now */
    size_t records;    /* records without a subject sealed again */
    size_t holds;      /* legal holds whose reasons were sealed again */
    size_t users;      /* user values (email, TOTP secrets) sealed again */
    size_t webhooks;   /* webhook endpoints' signing secrets sealed again */
    unsigned destroyed; /* older data key versions destroyed */
    unsigned remaining; /* older versions still in use (written meanwhile): run the pass again */
} cu_reencrypt_report;

/* Seals every value still under an older data key version of the tenant again under the newest,
 * a batch per transaction, each batch audited (key.reencrypt), then destroys each older
 * version nothing uses any more (key.destroy). Crash-safe and idempotent: run it again after
 * a crash (P-ENC-5). */
cu_rc cu_key_reencrypt(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_reencrypt_report *rep,
                       cu_err *err);
/* The same pass for every tenant that has an older data key version left (a pass interrupted,
 * or one that found a value still in use), adding up the reports (version 0); a tenant whose
 * pass fails counts in remaining. Safe beside concurrent requests: it destroys an older
 * version only on the pass after the one that sealed its last value again, so a read that
 * fetched a row just before still finds its key. The server runs it after each sweep. */
cu_rc cu_key_reencrypt_all(cu_vault *v, const cu_ctx *ctx, cu_reencrypt_report *total,
                           cu_err *err);

/* --- key epochs (P-RET-3, P-ENC-5; docs/keys.md, Key epochs) ---------------------------- */

/* One master key version in the key file. */
typedef struct cu_key_version_info {
    unsigned version;
    int current;        /* the version that wraps the tenant keys now */
    int64_t retired_at; /* when a rotation replaced it (unix seconds); 0: current or pending */
    int64_t destroy_at; /* when cu_key_retire may destroy it: retired_at plus the longest
                           backup lifetime the vault allows; 0: never (current or pending) */
} cu_key_version_info;

/* What a retirement pass did. */
typedef struct cu_key_retire_report {
    unsigned current;     /* the master version in force */
    unsigned destroyed;   /* retired versions destroyed now: past their window, unreferenced */
    unsigned retained;    /* retired versions kept: an unexpired backup may still need them */
    unsigned referenced;  /* past their window but still referenced by the database: kept */
    int64_t next_destroy; /* when the next retained version is due (0: none) */
} cu_key_retire_report;

/* What a key epoch did. */
typedef struct cu_key_epoch_report {
    int pending;        /* personal data was deleted since the newest master version */
    int rotated;        /* a new master version was made */
    unsigned version;   /* the master version in force afterwards */
    size_t rewrapped;   /* tenant keys rewrapped by the rotation */
    cu_key_retire_report retire;
} cu_key_epoch_report;

/* The master versions in the key file, oldest first, and whether personal data was deleted
 * since the newest (*pending; a key epoch is due). Caller frees *out. */
cu_rc cu_key_versions(cu_vault *v, cu_key_version_info **out, size_t *n, int *pending,
                      cu_err *err);
/* The master version in force and how many retired versions the key file keeps (memory only:
 * for /metrics). */
void cu_key_ring_stats(cu_vault *v, unsigned *current, unsigned *retained);
/* Destroys every retired master version whose window has passed (retired_at plus the longest
 * backup lifetime: CU_BACKUP_WINDOW_DEFAULT_DAYS or any tenant policy's backup_window, the
 * longer), after checking that the database references it nowhere (P-ENC-5): the key file is
 * rewritten without it atomically and its key wiped from memory; one audit entry per version
 * (key.destroy, master:<version>, the platform's log). A version still referenced is kept
 * (counted in referenced). A retired version a crashed rotation left unmarked is marked now.
 * CU_ERR_CONFLICT while another server on the database holds the key epoch lease. */
cu_rc cu_key_retire(cu_vault *v, const cu_ctx *ctx, cu_key_retire_report *rep, cu_err *err);
/* A key epoch: when personal data was deleted since the newest master version, and that
 * version is at least min_age seconds old (0: any age; the age is unknown when no retired
 * version dates it), rotates the master key (cu_key_rotate_master); then cu_key_retire. One
 * server at a time: CU_ERR_CONFLICT while another holds the key epoch lease (docs/store.md). */
cu_rc cu_key_epoch(cu_vault *v, const cu_ctx *ctx, int64_t min_age, cu_key_epoch_report *rep,
                   cu_err *err);

/* --- roles, principals and credentials (P-ACC-1 .. P-ACC-6) --------------------------- */

/* Roles, from most to least powerful within a tenant; the operator is platform staff. */
typedef enum cu_role {
    CU_ROLE_NONE = 0,
    CU_ROLE_OWNER = 1,   /* everything in the tenant */
    CU_ROLE_ADMIN = 2,   /* data, schema, users and keys; not the audit log */
    CU_ROLE_AGENT = 3,   /* reads and writes data */
    CU_ROLE_ANALYST = 4, /* aggregates only, no personal values */
    CU_ROLE_AUDITOR = 5, /* the audit log only */
    CU_ROLE_OPERATOR = 6, /* platform staff: tenants; tenant data only with a stated purpose */
    CU_ROLE_SUBJECT = 7   /* a data subject in its privacy center (custos_portal.h): its own
                             portal routes only; never granted to a key or a user */
} cu_role;

typedef enum cu_perm {
    CU_PERM_TENANTS = 1,   /* create and list tenants (operator) */
    CU_PERM_DATA_READ,     /* read subjects and records */
    CU_PERM_DATA_WRITE,    /* create, update, delete subjects and records */
    CU_PERM_DATA_ERASE,    /* erase subjects */
    CU_PERM_SCHEMA,        /* declare collections */
    CU_PERM_USERS,         /* manage users */
    CU_PERM_KEYS,          /* manage API keys, rotate the tenant key */
    CU_PERM_AUDIT,         /* read the audit log */
    CU_PERM_AGGREGATE,     /* aggregate analytics */
    CU_PERM_SELF,          /* one's own session and second factor */
    CU_PERM_POLICY,        /* bind the tenant's policy: it sets how long the log is kept */
    CU_PERM_PORTAL         /* one's own privacy center: the subject's role alone */
} cu_perm;

/* "owner", "admin", ...; NULL for an unknown role. */
const char *cu_role_name(cu_role r);
/* Parses a role name; CU_ERR_INVALID if unknown. */
cu_rc cu_role_parse(const char *s, cu_role *out);
/* 1 if role r holds permission p (the table in docs/permissions.md), else 0. */
int cu_role_can(cu_role r, cu_perm p);
/* P-RET-4: the owner lets the tenant's admins bind its policy (admins 1) or no longer (0).
 * Written to the tenant's log and the platform's (policy.grant). */
cu_rc cu_tenant_policy_grant(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int admins,
                             cu_err *err);
/* 1 if a principal of role `granter` may create a credential of role `role`: never above its
 * own rank, never the operator role. */
int cu_role_can_grant(cu_role granter, cu_role role);

typedef enum cu_principal_kind {
    CU_PRINCIPAL_APIKEY = 1,
    CU_PRINCIPAL_USER = 2,
    CU_PRINCIPAL_SUBJECT = 3 /* a portal session (custos_portal.h): id is the subject's */
} cu_principal_kind;

/* Who a request acts as, after authentication. tenant_id is 0 for the operator. */
typedef struct cu_principal {
    cu_principal_kind kind;
    cu_id id; /* API key id, user id, or the subject's id */
    cu_id tenant_id;
    cu_role role;
} cu_principal;

/* 1 if who may use permission p in tenant: its role's permissions (cu_role_can), and
 * CU_PERM_POLICY for an admin of a tenant whose owner granted it (cu_tenant_policy_grant). */
int cu_principal_can(cu_vault *v, const cu_principal *who, cu_id tenant, cu_perm p);

/* API keys (P-ACC-3): generated here, shown once, stored only as a hash (P-ENC-3), scoped to
 * one tenant and one role, revocable. The secret reads "cuk_<id>_<64 hex digits>". */
#define CU_APIKEY_SECRET_MAX 96

typedef struct cu_apikey {
    cu_id id;
    cu_id tenant_id; /* 0: an operator key */
    cu_role role;
    char name[CU_APIKEY_NAME_MAX];
    int64_t created_at;
    int64_t revoked_at; /* 0 while valid */
} cu_apikey;

/* Creates a key for tenant (0 with CU_ROLE_OPERATOR for platform staff) and writes its secret,
 * NUL-terminated, into secret: the only time it exists in clear. name: 1 to 63 printable bytes. */
cu_rc cu_apikey_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_role role,
                       const char *name, cu_apikey *out, char secret[CU_APIKEY_SECRET_MAX],
                       cu_err *err);
/* Lists a tenant's keys (revoked ones too), never their secrets. Caller frees *out. */
cu_rc cu_apikey_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_apikey **out, size_t *n,
                     cu_err *err);
/* Revokes a key of the tenant; it no longer authenticates. CU_ERR_NOT_FOUND if not the
 * tenant's. */
cu_rc cu_apikey_revoke(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id key, cu_err *err);
/* Authenticates a secret in constant time against its hash; CU_ERR_AUTH for any malformed,
 * unknown, wrong or revoked secret (one message for all). */
cu_rc cu_auth_apikey(cu_vault *v, const char *secret, cu_principal *out, cu_err *err);

/* Users of a tenant: email and password (Argon2id, P-ENC-3), optional TOTP (RFC 6238: SHA-1,
 * 6 digits, 30 s; P-ACC-2). The email is personal: sealed under the tenant data key and found
 * by blind index. */
#define CU_PASSWORD_MIN 12
#define CU_PASSWORD_MAX 1024
#define CU_SESSION_TOKEN_MAX 80
#define CU_SESSION_TTL (12 * 3600) /* a session's longest life */
#define CU_SESSION_IDLE (30 * 60)  /* default: a session unused this long ends */
#define CU_TOTP_URI_MAX 512

/* P-ACC-6: what bounds guessing at logins, per process (docs/api.md, Sessions). Counters with
 * exponential back-off per (source address, account), per source address and per account's
 * second factor are fixed; these are the settings. 0 takes the default. */
#define CU_AUTH_HASH_SLOTS 4
#define CU_AUTH_HASH_WAIT_MS 2000
#define CU_AUTH_SOURCE_PER_MIN 30
#define CU_AUTH_TENANT_PER_MIN 600
#define CU_AUTH_FREE_FAILURES 5
typedef struct cu_auth_limits {
    unsigned hash_slots;     /* password hashes run at once by logins and re-authentication */
    unsigned hash_wait_ms;   /* how long a login waits for a slot before CU_ERR_UNAVAILABLE */
    unsigned source_per_min; /* login attempts per source address per minute */
    unsigned tenant_per_min; /* wrong passwords per tenant per minute, past which addresses
                                that have failed are refused until the next minute */
    unsigned session_idle;   /* seconds without a request after which a session ends */
    unsigned free_failures;  /* failed passwords per (source, account) before the back-off
                                starts; a source alone gets four times as many */
} cu_auth_limits;

/* Sets the vault's limits (defaults for members 0); safe while serving. */
void cu_auth_limits_set(cu_vault *v, const cu_auth_limits *l);
/* The limits in force, defaults filled in. */
void cu_auth_limits_get(cu_vault *v, cu_auth_limits *out);

typedef struct cu_user {
    cu_id id;
    cu_id tenant_id;
    cu_role role;
    char *email;
    int totp_enabled;
    int64_t created_at;
} cu_user;

/* Wipes and frees u->email. NULL is a no-op. */
void cu_user_cleanup(cu_user *u);

/* Creates a user; CU_ERR_EXISTS if the email (normalized) is taken in the tenant;
 * CU_ERR_INVALID for a password shorter than CU_PASSWORD_MIN. */
cu_rc cu_user_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *email,
                     const char *password, cu_role role, cu_id *out_id, cu_err *err);
cu_rc cu_user_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user, cu_user *out,
                  cu_err *err);
/* Lists a tenant's users. Caller releases each with cu_user_cleanup, then frees *out. */
cu_rc cu_user_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_user **out, size_t *n,
                   cu_err *err);
cu_rc cu_user_delete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user, cu_err *err);

/* Logs in from ctx->source (NULL ctx or source: "unknown"): CU_ERR_AUTH for an unknown email
 * or a wrong password (one message for both); CU_ERR_MFA_REQUIRED when TOTP is on and totp is
 * NULL or wrong or replayed; CU_ERR_RATE_LIMITED when a limit or back-off of P-ACC-6 refuses
 * the attempt before any hashing (alike for known and unknown emails), CU_ERR_UNAVAILABLE when
 * no password-hashing slot came free in time; for both, *retry_after (may be NULL) gets the
 * seconds to wait. On success writes a session token (NUL-terminated, stored only as a hash)
 * and the principal. */
cu_rc cu_user_login(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *email,
                    const char *password, const char *totp, char token[CU_SESSION_TOKEN_MAX],
                    cu_principal *out, unsigned *retry_after, cu_err *err);
/* Authenticates a session token; CU_ERR_AUTH if unknown, ended, idle for longer than the
 * vault's session_idle, or older than CU_SESSION_TTL. Keeps a used session alive (a write at
 * most once a minute per session). */
cu_rc cu_auth_session(cu_vault *v, const char *token, cu_principal *out, cu_err *err);
/* The operator's console session (opsession.c, docs/portal.md): who, an operator API key just
 * authenticated, gets a token for the session cookie lasting CU_OPSESSION_TTL seconds (never
 * extended; *expires its end), on the platform's audit log as operator.session. CU_ERR_FORBIDDEN
 * for any other principal. cu_auth_session() accepts the token (cu_opsession_auth) while the
 * key stays active: the principal is the key itself. */
#define CU_OPSESSION_TTL (30 * 60)
cu_rc cu_opsession_open(cu_vault *v, const cu_ctx *ctx, const cu_principal *who,
                        char token[CU_SESSION_TOKEN_MAX], int64_t *expires, cu_err *err);
/* 1 if token is an operator session's (its prefix), else 0. */
int cu_opsession_token(const char *token);
cu_rc cu_opsession_auth(cu_vault *v, const char *token, cu_principal *out, cu_err *err);
/* The operator's sign-out of the session token: audited (operator.logout, the platform's log);
 * the token itself lives on to its end (stateless). cu_session_end() calls it for such a
 * token. */
cu_rc cu_opsession_end(cu_vault *v, const char *token, cu_err *err);
/* Ends a session. */
cu_rc cu_session_end(cu_vault *v, const char *token, cu_err *err);
/* Deletes every session that has expired by now (the sweep calls it). */
cu_rc cu_session_purge_expired(cu_vault *v, cu_err *err);

/* Starts TOTP enrolment: a fresh 20-byte secret, returned as an otpauth:// URI (issuer
 * "Custos", label the user's email) for authenticator apps. Not active until confirmed. The
 * user proves itself again: password always, and with a second factor already active a current
 * code of it (P-ACC-2), else CU_ERR_AUTH; failures back off like a second factor's at login
 * (CU_ERR_RATE_LIMITED, *retry_after). */
cu_rc cu_user_totp_enroll(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user,
                          const char *password, const char *code, char uri[CU_TOTP_URI_MAX],
                          unsigned *retry_after, cu_err *err);
/* Activates TOTP with a current code from the app; CU_ERR_AUTH if the code is wrong. Ends
 * every other session of the user: only the session token keep (may be NULL) survives. */
cu_rc cu_user_totp_confirm(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user,
                           const char *code, const char *keep, cu_err *err);

/* --- the audit log (P-AUD-1 .. P-AUD-5) ---------------------------------------------------- */

/* The entry, filter and checkpoint records are in custos_base.h: the store keeps them as is. */

/* The entries of a tenant's log that touch subject (issue 15: the console's "Who accessed it";
 * GDPR Art. 15(1)(c)), through the log's subject index: each record read or written, the
 * subject's reads, consents, cookie choices and disclosures (not holds); after seq after, at
 * most limit (1 to 1000), oldest first. Only tenant_id, seq, at, actor, action, object,
 * purpose and subject_id are filled. Reading them is itself an entry (audit.read), committed
 * first. CU_ERR_NOT_FOUND for a subject the tenant does not hold. Caller frees *out. */
cu_rc cu_audit_subject_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                           uint64_t after, size_t limit, cu_audit_entry **out, size_t *n,
                           cu_err *err);
/* The subject index catches up at most this many of a tenant's entries a call (accesses, a
 * subject's export), so that a long stretch without one holds the writer a bounded time (about
 * 45 ms at 20,000); the readers take the log past the index's mark, so nothing is missed. */
#define CU_AUDIT_INDEX_STEP 20000
/* Sets that bound for the process (0: CU_AUDIT_INDEX_STEP; tests). */
void cu_audit_index_step_set(uint32_t n);
uint32_t cu_audit_index_step(void);
/* A tenant's entries matching f, oldest first (P-AUD-5). Caller frees *out. */
cu_rc cu_audit_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_audit_filter *f,
                    cu_audit_entry **out, size_t *n, cu_err *err);

/* Every CU_AUDIT_CHECKPOINT_EVERY entries of a tenant a checkpoint is signed automatically,
 * and at the first entry CU_AUDIT_CHECKPOINT_MS or more after the chain's last one, so a
 * tenant can fetch one covering its latest entries every few seconds (P-AUD-2). */
#define CU_AUDIT_CHECKPOINT_EVERY 1000
#define CU_AUDIT_CHECKPOINT_MS 5000

/* Signs a checkpoint at the tenant's current head, now. */
cu_rc cu_audit_checkpoint_now(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                              cu_audit_checkpoint *out, cu_err *err);
/* The tenant's checkpoints, oldest first, for export. Caller frees *out. */
cu_rc cu_audit_checkpoints(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                           cu_audit_checkpoint **out, size_t *n, cu_err *err);
/* The public half of the audit signing key (Ed25519, 32 bytes). */
void cu_audit_public_key(cu_vault *v, uint8_t out[32]);

typedef struct cu_audit_report {
    int ok;                  /* 1 if the whole chain verifies */
    uint64_t entries;        /* entries checked */
    uint64_t checkpoints;    /* signed checkpoints checked */
    uint64_t first_bad_seq;  /* when not ok: the first entry (or checkpoint) that fails */
    char problem[160];       /* when not ok: what is wrong there */
    uint64_t pruned_through; /* entries 1 .. this were pruned behind a signed anchor; 0: none */
    uint64_t held;           /* checkpoints held outside the vault that an entry was checked
                                against (cu_audit_verify_with) */
    uint64_t records;        /* records checked against their latest write's digest (deep) */
} cu_audit_report;

/* Recomputes a tenant's chain from its anchor (the first entry, or the signed checkpoint left
 * at the last prune) and checks every signed checkpoint (P-AUD-2). A changed, removed, inserted
 * or reordered entry makes report->ok 0 and names the first bad one; the return is CU_OK
 * either way unless the check itself could not run. */
cu_rc cu_audit_verify(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_audit_report *report,
                      cu_err *err);
/* What cu_audit_verify_with checks beyond cu_audit_verify. */
typedef struct cu_audit_verify_opts {
    /* Checkpoints the tenant kept outside the vault (P-AUD-2): each must be signed with pinned
     * (the public key the tenant pinned; NULL: the vault's own), and the entry at its seq must
     * have its hash; one past the log's end means the log was cut. A vault whose key is not
     * the pinned one fails. Held checkpoints of pruned entries are skipped. */
    const cu_audit_checkpoint *held;
    size_t nheld;
    const uint8_t *pinned;
    /* P-ENC-2, deep: every record whose latest write is in the log must still hold the
     * ciphertext whose digest that write's entry recorded; another one (an older ciphertext
     * of the record put back, or a forged one) fails the report. */
    int deep;
} cu_audit_verify_opts;

/* P-AUD-2: signs a checkpoint at the head of every chain that has entries after its last
 * checkpoint, once that checkpoint is older_than milliseconds (0: at once), so that the end of
 * a burst is signed without waiting for the next entry. `custos serve` calls it every second
 * with the vault's checkpoint interval; closing a vault calls it with 0. *nsigned (may be NULL)
 * counts the checkpoints made. */
cu_rc cu_audit_sign_tails(cu_vault *v, int64_t older_than, size_t *nsigned, cu_err *err);
/* The vault's checkpoint interval in milliseconds (CU_AUDIT_CHECKPOINT_MS unless overridden). */
int64_t cu_audit_checkpoint_interval(const cu_vault *v);

/* cu_audit_verify with the checks of o (NULL: none). */
cu_rc cu_audit_verify_with(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                           const cu_audit_verify_opts *o, cu_audit_report *report, cu_err *err);

/* Deletes a tenant's entries older than before_ms, after signing a checkpoint at the newest
 * entry it removes: verification then starts from that anchor. */
cu_rc cu_audit_prune(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int64_t before_ms,
                     uint64_t *pruned, cu_err *err);

/* RFC 6238 TOTP of key at unix time t: SHA-1, 30 s steps, `digits` digits, into out. Exposed
 * for tests against the RFC's vectors. */
cu_rc cu_totp(const uint8_t *key, size_t keylen, int64_t t, int digits, char out[11]);

/* --- policies (docs/policy.md) ------------------------------------------------------------ */

/* A tenant's privacy policy, read from a YAML file and validated as a whole: every category
 * has a retention rule (P-RET-1), every purpose a legal basis (P-CON-1), every reference
 * resolves. A loaded policy is immutable; every pointer its getters return is owned by it and
 * lives until cu_policy_free(). */
typedef struct cu_policy cu_policy;

#define CU_POLICY_MAX (1024 * 1024) /* largest policy file, in bytes */

/* A duration as written in a policy: "72h", "30d", "12mo", "7y". Months and years are calendar
 * months and years, so 7y after 2024-02-29 is 2031-02-28. */
typedef enum cu_duration_unit {
    CU_DURATION_HOURS = 0,
    CU_DURATION_DAYS = 1,
    CU_DURATION_MONTHS = 2,
    CU_DURATION_YEARS = 3
} cu_duration_unit;

typedef struct cu_duration {
    uint32_t count; /* 0 allowed: "0d" means at once */
    cu_duration_unit unit;
} cu_duration;

/* Parses a duration: digits (no sign, no leading zero) then h, d, mo or y, at most 100 years.
 * CU_ERR_INVALID otherwise. */
cu_rc cu_duration_parse(const char *s, cu_duration *out);
/* t (unix seconds, UTC) plus d. Adding months or years keeps the time of day and clamps the
 * day to the last day of the target month. Saturates instead of overflowing. */
int64_t cu_duration_add(int64_t t, cu_duration d);

/* Whether the SaaS decides on the data (controller) or acts on its customer's instructions
 * (processor: data-subject requests go to the customer's administrator, P-DSR-8). */
typedef enum cu_data_role { CU_DATA_CONTROLLER = 1, CU_DATA_PROCESSOR = 2 } cu_data_role;

/* Retention of a data category (P-RET-1, P-RET-4, P-RET-6): keep for a duration counted from
 * an event, then delete or anonymize. */
typedef enum cu_retention_event {
    CU_RETAIN_FROM_CREATED = 0,          /* the record's creation */
    CU_RETAIN_FROM_LAST_ACTIVITY = 1,    /* the subject's last activity */
    CU_RETAIN_FROM_SUBSCRIPTION_END = 2, /* the tenant's termination */
    CU_RETAIN_FROM_REQUEST_RECEIVED = 3  /* receipt of the subject's erasure request */
} cu_retention_event;

typedef enum cu_retention_action {
    CU_RETAIN_THEN_DELETE = 0,
    CU_RETAIN_THEN_ANONYMIZE = 1
} cu_retention_action;

typedef struct cu_retention {
    cu_duration keep;
    cu_retention_event from;
    cu_retention_action then;
} cu_retention;

typedef struct cu_policy_category {
    const char *name;         /* the policy's own name, e.g. "billing" */
    const char *description;  /* NULL if none */
    const char *const *fides; /* fideslang data categories, e.g. "user.financial" */
    size_t n_fides;           /* at least 1 */
    cu_data_role role;        /* the policy's role unless the category overrides it */
    cu_retention retention;
} cu_policy_category;

typedef enum cu_legal_basis {
    CU_BASIS_CONTRACT = 1,
    CU_BASIS_LEGITIMATE_INTEREST = 2, /* the subject may object (P-DSR-6) */
    CU_BASIS_CONSENT = 3,             /* refused without the subject's consent (P-CON-1) */
    CU_BASIS_LEGAL_OBLIGATION = 4
} cu_legal_basis;

typedef struct cu_policy_purpose {
    const char *name;        /* what a request states, e.g. "support" */
    const char *description; /* NULL if none */
    const char *data_use;    /* fideslang data use, e.g. "essential.service.operations.support" */
    cu_legal_basis basis;
    const cu_policy_category *const *categories; /* the categories it may touch, at least 1 */
    size_t n_categories;
    int operator_ok; /* 1 if platform staff may state it (operator_purposes, P-ACC-4) */
} cu_policy_purpose;

/* What a recipient of data is (P-SHR-1, P-NOT-3; docs/policy.md, sub_processors). */
typedef enum cu_recipient_kind {
    CU_RECIPIENT_SUB_PROCESSOR = 0, /* processes on the tenant's behalf (the default) */
    CU_RECIPIENT_PARTNER = 1,       /* a partner under contract, e.g. an implementer */
    CU_RECIPIENT_AUTHORITY = 2,     /* a court, regulator or other public authority */
    CU_RECIPIENT_AFFILIATE = 3,     /* a company of the same group */
    CU_RECIPIENT_BUSINESS_TRANSFER = 4 /* the other party of an announced merger, acquisition
                                          or asset sale */
} cu_recipient_kind;

/* A recipient data may leave to (P-SHR-1): for its listed purposes, only data of its listed
 * categories, each of which one of those purposes touches. */
typedef struct cu_policy_subprocessor {
    const char *name;
    const cu_policy_purpose *purpose; /* its first listed purpose */
    const char *location;             /* where the data goes, e.g. a country */
    cu_recipient_kind kind;
    const cu_policy_purpose *const *purposes; /* every listed purpose, at least 1 */
    size_t n_purposes;
    const cu_policy_category *const *categories; /* the categories it may receive, at least 1 */
    size_t n_categories;
} cu_policy_subprocessor;

/* A collection with its data category and field classes; fields/n_fields go straight to
 * cu_collection_define(). */
typedef struct cu_policy_collection {
    const char *name;
    const cu_policy_category *category;
    const cu_field_def *fields;
    size_t n_fields;
} cu_policy_collection;

typedef enum cu_cookie_category {
    CU_COOKIE_ESSENTIAL = 0,
    CU_COOKIE_ANALYTICS = 1,
    CU_COOKIE_PREFERENCE = 2,
    CU_COOKIE_ADVERTISING = 3, /* always CU_COOKIE_NEVER: the loader refuses anything else */
    CU_COOKIE__COUNT
} cu_cookie_category;

/* A policy may name further cookie categories (consent or never) after the four: their
 * indexes follow CU_COOKIE__COUNT (cu_policy_cookie_count, _name). */
#define CU_COOKIE_MORE_MAX 8                                /* further categories at most */
#define CU_COOKIE_MAX (CU_COOKIE__COUNT + CU_COOKIE_MORE_MAX) /* categories of one policy */
#define CU_COOKIE_NAME_MAX 24 /* a category's name: [a-z][a-z0-9_]*, under 24 bytes */

/* P-CON-3: essential cookies may be always set; analytics and preference cookies only with
 * consent; advertising cookies never. A category the policy does not list is never set. */
typedef enum cu_cookie_rule {
    CU_COOKIE_NEVER = 0,
    CU_COOKIE_WITH_CONSENT = 1,
    CU_COOKIE_ALWAYS = 2
} cu_cookie_rule;

/* P-DSR-7: acknowledge a request within N business days, answer within a duration, extend
 * by at most another (with a recorded reason). */
typedef struct cu_dsr_deadlines {
    unsigned acknowledge_business_days;
    cu_duration answer;
    cu_duration extension;
    const int64_t *holidays; /* dsr.holidays: UTC midnights, no business days (the policy's) */
    size_t n_holidays;
} cu_dsr_deadlines;

#define CU_POLICY_MAX_HOLIDAYS 400

/* Reads and validates the policy file at path (at most CU_POLICY_MAX bytes). On success the
 * caller owns *out (cu_policy_free). A file that does not validate gives CU_ERR_INVALID and
 * err->msg "PATH:LINE: reason" for the first error found; CU_ERR_NOT_FOUND, CU_ERR_IO or
 * CU_ERR_LIMIT when the file cannot be read. */
cu_rc cu_policy_load(const char *path, cu_policy **out, cu_err *err);
/* The same over len bytes of text (need not be NUL-terminated); name stands for the file in
 * messages ("policy" if NULL). */
cu_rc cu_policy_parse(const char *text, size_t len, const char *name, cu_policy **out, cu_err *err);
/* NULL is a no-op. */
void cu_policy_free(cu_policy *p);

const char *cu_policy_id(const cu_policy *p);
const char *cu_policy_name(const cu_policy *p);
/* The version string consents and notices refer to (P-CON-2, P-NOT-1). */
const char *cu_policy_version(const cu_policy *p);
/* effective_date at 00:00 UTC, unix seconds. */
int64_t cu_policy_effective(const cu_policy *p);
cu_data_role cu_policy_role(const cu_policy *p);
/* P-AGE-1: subjects younger than this many years are refused. */
unsigned cu_policy_min_age(const cu_policy *p);
cu_dsr_deadlines cu_policy_dsr(const cu_policy *p);
/* P-NOT-1: a new version takes effect this long after it is announced. */
cu_duration cu_policy_notice_period(const cu_policy *p);
/* 1 if a category holds the audit log (fideslang system.operations, P-RET-4). */
int cu_policy_category_is_log(const cu_policy_category *c);
/* P-RET-4: CU_ERR_INVALID if a log category of p, counted from its entries' creation, keeps
 * them less than floor_days (the platform's floor, CU_LOG_FLOOR_DAYS by default). */
cu_rc cu_policy_log_floor_check(const cu_policy *p, unsigned floor_days, cu_err *err);
/* P-NOT-2: 1 if a new version needs fresh consent before it applies. */
int cu_policy_fresh_consent(const cu_policy *p);
/* P-RET-2: how long a terminated tenant stays read-only and exportable before its purge. */
cu_duration cu_policy_export_window(const cu_policy *p);
/* P-RET-3: how long deleted data may survive in backups. */
cu_duration cu_policy_backup_window(const cu_policy *p);
/* P-ANA-1: aggregate groups smaller than this are suppressed. */
unsigned cu_policy_analytics_min_group(const cu_policy *p);
/* P-CON-3: the policy's cookie categories, the four of cu_cookie_category first, then the
 * further ones its cookies section names; _name(i) for i below the count (NULL past it). */
size_t cu_policy_cookie_count(const cu_policy *p);
const char *cu_policy_cookie_name(const cu_policy *p, size_t i);
/* The rule of category c (an index below cu_policy_cookie_count); NEVER past it. */
cu_cookie_rule cu_policy_cookie(const cu_policy *p, cu_cookie_category c);
/* P-CON-3: 1 if Global Privacy Control (Sec-GPC: 1) turns category c off: those the cookies
 * section's `gpc` list names, or without the list every category but essential. */
int cu_policy_cookie_gpc(const cu_policy *p, cu_cookie_category c);

/* Categories, purposes, sub-processors and collections in file order: _count, then _at(i)
 * for i below it; _get finds one by name and returns NULL if the policy has none. */
size_t cu_policy_category_count(const cu_policy *p);
const cu_policy_category *cu_policy_category_at(const cu_policy *p, size_t i);
const cu_policy_category *cu_policy_category_get(const cu_policy *p, const char *name);
size_t cu_policy_purpose_count(const cu_policy *p);
const cu_policy_purpose *cu_policy_purpose_at(const cu_policy *p, size_t i);
const cu_policy_purpose *cu_policy_purpose_get(const cu_policy *p, const char *name);
/* P-ACC-4: the purpose if platform staff may state it, else NULL. */
const cu_policy_purpose *cu_policy_operator_purpose(const cu_policy *p, const char *name);
/* 1 if the purpose may touch the category named category, else 0. */
int cu_policy_purpose_covers(const cu_policy_purpose *pu, const char *category);
size_t cu_policy_subprocessor_count(const cu_policy *p);
const cu_policy_subprocessor *cu_policy_subprocessor_at(const cu_policy *p, size_t i);
/* P-SHR-1: the recipient named name, or NULL; whether it is listed for purpose (a name) and, if
 * category is not NULL, for that category too (which the purpose must also touch). */
const cu_policy_subprocessor *cu_policy_recipient_get(const cu_policy *p, const char *name);
int cu_policy_recipient_allows(const cu_policy_subprocessor *r, const char *purpose,
                               const char *category);
/* "sub_processor", "partner", "authority", "affiliate", "business_transfer"; "?" otherwise. */
const char *cu_recipient_kind_name(cu_recipient_kind k);
size_t cu_policy_collection_count(const cu_policy *p);
const cu_policy_collection *cu_policy_collection_at(const cu_policy *p, size_t i);
const cu_policy_collection *cu_policy_collection_get(const cu_policy *p, const char *name);

/* P-CON-5: what a policy may promise never to do (its optional `never` list). A purpose whose
 * data use one of its promises excludes is refused when the policy loads. */
#define CU_NEVER_SALE 0x1u           /* selling or sharing data with third parties */
#define CU_NEVER_ADVERTISING 0x2u    /* advertising */
#define CU_NEVER_MODEL_TRAINING 0x4u /* training external models on customer data */
#define CU_NEVER_CROSS_CUSTOMER 0x8u /* using one customer's data for another */
#define CU_NEVER__ALL 0xfu
unsigned cu_policy_never(const cu_policy *p);
/* The promises (CU_NEVER_ bits) a purpose would break: sale for third-party advertising and
 * for third-party sharing the subject did not consent to nor the law requires, advertising for
 * any marketing.advertising use, model training for train_ai_system. */
unsigned cu_policy_never_purpose(const cu_policy_purpose *pu);
/* "sale", "advertising", "model_training", "cross_customer" for one bit; "?" otherwise. */
const char *cu_policy_never_name(unsigned bit);

/* P-NOT-1: what changes from one version of a policy to the next, in words. A change is
 * material when it widens what is done with personal data (docs/policy.md): it then waits for
 * the notice period; a version whose changes all narrow may take effect at once. */
typedef struct cu_policy_change {
    const char *area; /* "purposes", "legal_basis", "data_use", "categories", "retention",
                         "sub_processors", "minimum_age", "never", "notice" (static) */
    char text[384];   /* one line, e.g. "purpose marketing added (data use ..., consent)" */
    int material;
} cu_policy_change;

#define CU_POLICY_FRESH_MAX 1024
typedef struct cu_policy_diff {
    cu_policy_change *changes; /* owned; cu_policy_diff_cleanup frees it */
    size_t n, cap;
    int material;           /* any change material */
    unsigned never_dropped; /* P-CON-5: CU_NEVER_ bits old promised and new does not */
    /* P-NOT-2: the purposes (in both versions) whose terms changed, comma-separated; "*" for
     * every purpose (a never-promise dropped, or too many to list) */
    char changed[CU_POLICY_FRESH_MAX];
} cu_policy_diff;

/* Compares old with nw into *d (initialised here; release with cu_policy_diff_cleanup, also
 * on failure). */
cu_rc cu_policy_diff_compute(const cu_policy *old, const cu_policy *nw, cu_policy_diff *d,
                             cu_err *err);
void cu_policy_diff_cleanup(cu_policy_diff *d);
/* The time a version bound at `now` with diff d takes effect (P-NOT-1, P-CON-5): now when no
 * change is material, else now plus the old version's notice period (for a never-promise
 * dropped, the longer of the two versions'). */
int64_t cu_policy_diff_effective(const cu_policy *old, const cu_policy *nw, const cu_policy_diff *d,
                                 int64_t now);

/* Stable names of enum values as the policy file spells them ("legitimate_interest",
 * "subscription_end", "anonymize", "processor", "consent", ...); "?" if out of range. */
const char *cu_legal_basis_name(cu_legal_basis b);
const char *cu_data_role_name(cu_data_role r);
const char *cu_retention_event_name(cu_retention_event e);
const char *cu_retention_action_name(cu_retention_action a);

/* --- a tenant's policy and the sweep (P-RET-1, P-RET-4) ----------------------------------- */

/* P-NOT-1: a tenant's policy versions as they stand at the clock's now: the version in force,
 * and the pending one (bound, not withdrawn, not yet effective; at most one). */
typedef struct cu_policy_state {
    unsigned current;        /* in force; 0: none */
    int64_t current_since;   /* when it took effect */
    unsigned pending;        /* 0: none */
    int64_t pending_bound;   /* when it was bound */
    int64_t pending_at;      /* when it takes effect */
    char fresh[CU_POLICY_FRESH_MAX]; /* P-NOT-2: purposes it renews consent for ("*": all) */
} cu_policy_state;

cu_rc cu_policy_state_get(cu_vault *v, cu_id tenant, cu_policy_state *out, cu_err *err);
/* The stored text of one version (caller frees *text); CU_ERR_NOT_FOUND if none. */
cu_rc cu_policy_text(cu_vault *v, cu_id tenant, unsigned version, char **text, cu_err *err);
/* P-NOT-1: the pending version's diff against the version in force (release with
 * cu_policy_diff_cleanup); CU_ERR_NOT_FOUND if none is pending. */
cu_rc cu_policy_pending_diff(cu_vault *v, cu_id tenant, cu_policy_state *st, cu_policy_diff *d,
                             cu_err *err);
/* P-NOT-1: withdraws the pending version (policy.withdraw, audited in the tenant's and the
 * platform's logs); CU_ERR_NOT_FOUND if version is not pending. */
cu_rc cu_policy_withdraw(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned version,
                         cu_err *err);
/* P-NOT-1: notes each version of the tenant that took effect by now (policy.in_force, once,
 * whichever server notes it first); *noted counts them. The sweep calls it. */
cu_rc cu_policy_note_in_force(cu_vault *v, const cu_ctx *ctx, cu_id tenant, unsigned *noted,
                              cu_err *err);

/* P-NOT-2: one subject whose consent to a purpose stops counting (or has stopped) at due, the
 * effective time of the version that changed the purpose's terms: it was given at given_at,
 * before that version was bound (since). A consent given since counts again. */
typedef struct cu_fresh_need {
    cu_id subject;
    char purpose[65];
    int64_t given_at;
    int64_t since;
    int64_t due;
} cu_fresh_need;

/* Up to limit needs of subjects with ids above after, by subject, a subject's needs kept together
 * (so a page may hold a few more than limit); the caller pages with the last subject listed.
 * *more is 1 exactly when a subject with a need remains past the page. Caller frees *out. */
cu_rc cu_policy_fresh_needed(cu_vault *v, cu_id tenant, cu_id after, size_t limit,
                             cu_fresh_need **out, size_t *n, int *more, cu_err *err);

/* Validates a policy (YAML text; name is what error messages call it) and binds it to the
 * tenant as its next version, defining every collection it declares, in one audited
 * transaction. *version gets the new version (1 for the first). P-NOT-1: a version with a
 * material change against the one in force is scheduled, not in force, until the notice period
 * passed (cu_policy_state_get); CU_ERR_CONFLICT while another version is pending. */
cu_rc cu_tenant_set_policy(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *text,
                           size_t len, const char *name, unsigned *version, cu_err *err);
/* The tenant's current policy; CU_ERR_NOT_FOUND if it has none. Caller frees *out with
 * cu_policy_free(). */
cu_rc cu_tenant_policy(cu_vault *v, cu_id tenant, cu_policy **out, unsigned *version,
                       cu_err *err);

typedef struct cu_sweep_report {
    size_t tenants;                    /* tenants with a policy, swept */
    size_t audit_tenants_pruned;       /* tenants whose audit log lost old entries */
    uint64_t audit_pruned_through_max; /* the highest seq pruned through */
    uint64_t records_deleted;          /* past their category's retention (P-RET-1, P-RET-4) */
    uint64_t records_anonymized;       /* the same where the policy anonymizes (P-RET-6) */
    uint64_t records_held;             /* due, but kept by a legal hold (P-RET-5) */
    uint64_t subjects_erased;          /* left without data in a purged tenant, or whose
                                          erasure's rows it deleted (P-DSR-4) */
    size_t tenants_purged;             /* whose export window ended (P-RET-2) */
    size_t tenants_shredded;           /* whose keys were destroyed: nothing retained remains */
    size_t tenants_failed;             /* that could not be swept (the first error is returned) */
} cu_sweep_report;

/* Applies what the clock (cu_clock_now) has made due under every tenant's policy: each
 * tenant's audit log is pruned to the retention of the policy's log category (the one with
 * fideslang "system.operations" data), from a signed anchor; every record past its category's
 * retention is deleted or anonymized unless a legal hold covers it; a terminated tenant whose
 * export window has ended is purged, and its keys destroyed once nothing retained remains.
 * Idempotent, and resumable: each step commits on its own, and a sweep cut short is finished
 * by the next. */
cu_rc cu_sweep(cu_vault *v, const cu_ctx *ctx, cu_sweep_report *rep, cu_err *err);

/* --- the policy enforced: purposes, consent, age, holds, the tenant's end ----------------- */

/* The purpose every tenant has besides its policy's: the subject's own access to its data
 * (P-DSR-1), which reaches a restricted subject too (P-DSR-5). */
#define CU_PURPOSE_SUBJECT_ACCESS "subject_access"
/* The purpose of the tenant's own export (P-DSR-2, P-RET-2): every tenant has it, for
 * cu_tenant_export only; platform staff never state it. */
#define CU_PURPOSE_EXPORT "export"

/* Sets *has to 1 if the tenant has a policy bound (from the vault's cache), else 0. Fails only
 * if the policy cannot be read (a store error, a policy that does not parse). */
cu_rc cu_tenant_has_policy(cu_vault *v, cu_id tenant, int *has, cu_err *err);

/* P-ACC-4: CU_OK unless ctx is platform staff's (CU_CTX_OPERATOR) and its purpose is not one
 * staff may state for the tenant: the policy's operator purposes, or for a tenant without a
 * policy support, investigation, monitoring, patch_validation and legal (CU_ERR_FORBIDDEN;
 * CU_ERR_UNKNOWN_PURPOSE if the policy declares no such purpose). */
cu_rc cu_staff_purpose_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_err *err);

/* The text of a policy that ships inside custos (the five of policies/, by id: "scm",
 * "scalemule", "erpsmartcloud", "customermaps", "optymyze"); NULL if none has that id. */
const char *cu_policy_builtin(const char *id, size_t *len);
/* The ids of the built-in policies, NULL-terminated. */
extern const char *const cu_policy_builtin_ids[];

typedef enum cu_consent_action {
    CU_CONSENT_GRANT = 1,             /* consent to a consent-based purpose */
    CU_CONSENT_WITHDRAW = 2,          /* its withdrawal (P-DSR-6) */
    CU_CONSENT_OBJECT = 3,            /* objection to a legitimate-interest purpose (P-DSR-6) */
    CU_CONSENT_WITHDRAW_OBJECTION = 4 /* the objection lifted */
} cu_consent_action;

/* "grant", "withdraw", "object", "withdraw_objection"; "?" if out of range. */
const char *cu_consent_action_name(cu_consent_action a);
/* Parses an action name; CU_ERR_INVALID if unknown. */
cu_rc cu_consent_action_parse(const char *s, cu_consent_action *out);

/* One entry of a subject's consent ledger (P-CON-2): what, when, from where, under which
 * policy version. */
typedef struct cu_consent {
    cu_id subject_id;
    uint64_t seq;
    char purpose[65];
    cu_consent_action action;
    int64_t at;
    char source[65];         /* who collected it: "web", "api", "gpc", ... */
    char policy_version[65]; /* the policy's version string when it was given */
} cu_consent;

/* Appends to the subject's ledger. grant and withdraw name a purpose whose basis is consent,
 * object and withdraw_objection one whose basis is legitimate interest; anything else is
 * CU_ERR_INVALID. source: 1 to 64 bytes of [A-Za-z0-9_.:-] (NULL: "api"). */
cu_rc cu_consent_record(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                        const char *purpose, cu_consent_action action, const char *source,
                        cu_err *err);
/* The subject's ledger, oldest first. Caller frees *out. */
cu_rc cu_consent_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                      cu_consent **out, size_t *n, cu_err *err);

/* P-DSR-5: restricts (on 1) or lifts the restriction of (on 0) a subject: its data is kept but
 * refused for every purpose but legal obligations and the subject's own access. */
cu_rc cu_subject_restrict(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, int on,
                          cu_err *err);

/* P-AGE-2: the subject is under the policy's minimum age: it is erased now, or, while a legal
 * hold covers it, restricted (*erased 0) until the hold is released. */
cu_rc cu_subject_mark_under_age(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                                int *erased, cu_err *err);

/* Checks that ctx's purpose may touch the data of subject (0: none) in collection (NULL:
 * the subject's profile) of the tenant, under its policy (P-CON-1, P-DSR-5, P-DSR-6, P-ACC-4).
 * CU_OK when the tenant has no policy or ctx names no purpose (trusted in-process callers). */
cu_rc cu_purpose_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                       const char *collection, cu_err *err);

/* A legal hold (P-RET-5): nothing it covers is deleted, anonymized or erased until released.
 * It covers the whole tenant (subject and record 0), one subject, or one record. */
typedef struct cu_hold {
    cu_id id;
    cu_id tenant_id;
    cu_id subject_id;
    cu_id record_id;
    char *reason; /* sealed at rest; wiped by cu_hold_cleanup */
    int64_t created_at;
    int64_t released_at;  /* 0 while in force */
    char *release_reason; /* why it ended (sealed too); NULL while in force */
} cu_hold;

#define CU_HOLD_REASON_MAX 500

void cu_hold_cleanup(cu_hold *h);
/* Places a hold; reason: 1 to CU_HOLD_REASON_MAX bytes without control characters. */
cu_rc cu_hold_place(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_id record,
                    const char *reason, cu_id *out_id, cu_err *err);
/* Releases a hold in force, saying why (as for cu_hold_place); CU_ERR_NOT_FOUND if there is
 * none in force with that id. */
cu_rc cu_hold_release(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id hold,
                      const char *reason, cu_err *err);
/* Every hold of the tenant, released ones too, oldest first. Release each with
 * cu_hold_cleanup, then free *out. */
cu_rc cu_hold_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_hold **out, size_t *n,
                   cu_err *err);
/* Sets *held to 1 if a hold in force covers the record (of subject, 0 if none), else 0. */
cu_rc cu_hold_covers(cu_vault *v, cu_id tenant, cu_id subject, cu_id record, int *held,
                     cu_err *err);

/* P-RET-2: ends the tenant's subscription now. Its data becomes read-only and exportable for
 * the policy's export window (*export_until), then the sweep purges it. CU_ERR_CONFLICT if it
 * is not active. */
cu_rc cu_tenant_terminate(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int64_t *export_until,
                          cu_err *err);
/* P-RET-2, P-DSR-2: the tenant's whole data as one JSON document (every subject with its
 * profile, consent ledger and records, and the tenant's own records), while it is active or in
 * its export window, streamed in bounded memory (export.c, docs/api.md). An export is opened
 * (its checks made, its audit entry committed: P-AUD-3) and then read piece by piece; an error
 * midway is returned by the read that meets it, after the bytes made before it, and by every
 * read after: the document is then cut short of its closing brackets, never a valid shorter one.
 * Free with cu_export_free (NULL is a no-op). One thread at a time reads one export. */
typedef struct cu_export cu_export;
cu_rc cu_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_export **out, cu_err *err);
/* Copies the document's next bytes, at most cap, into buf: *n 0 once it is whole. */
cu_rc cu_export_read(cu_export *x, char *buf, size_t cap, size_t *n, cu_err *err);
void cu_export_free(cu_export *x);
/* Takes n bytes of the export: 0, or non-zero to stop it (CU_ERR_IO). */
typedef int (*cu_export_write_fn)(void *arg, const char *data, size_t n);
/* Opens the tenant's export and hands it to fn piece by piece until it is whole. On an error
 * fn has had a prefix of the document: the caller discards what it wrote. */
cu_rc cu_tenant_export_write(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_export_write_fn fn,
                             void *arg, cu_err *err);
/* The same document in memory, for small tenants and tests. Caller wipes and frees *json. */
cu_rc cu_tenant_export(cu_vault *v, const cu_ctx *ctx, cu_id tenant, char **json, size_t *len,
                       cu_err *err);

/* --- data-subject requests (P-DSR-1 .. P-DSR-9, docs/dsr.md) ------------------------------ */

typedef enum cu_request_type {
    CU_REQ_ACCESS = 1,       /* a copy of what is held (P-DSR-1) */
    CU_REQ_EXPORT,           /* portability (P-DSR-2) */
    CU_REQ_RECTIFY,          /* correction of the profile and records (P-DSR-3) */
    CU_REQ_ERASE,            /* erasure (P-DSR-4) */
    CU_REQ_RESTRICT,         /* restriction (P-DSR-5) */
    CU_REQ_UNRESTRICT,       /* its end */
    CU_REQ_OBJECT,           /* objection to a legitimate-interest purpose (P-DSR-6) */
    CU_REQ_WITHDRAW_CONSENT, /* withdrawal of a consent (P-DSR-6) */
    CU_REQ__COUNT
} cu_request_type;

/* received -> (verified) -> acknowledged -> (extended) -> completed | rejected. */
typedef enum cu_request_state {
    CU_REQ_RECEIVED = 1,
    CU_REQ_VERIFIED,
    CU_REQ_ACKNOWLEDGED,
    CU_REQ_EXTENDED,
    CU_REQ_COMPLETED,
    CU_REQ_REJECTED,
    CU_REQ_STATE__COUNT
} cu_request_state;

/* Who filed: the subject (through the tenant's service: verified by a token first) or one of
 * the tenant's administrators (verified already). */
typedef enum cu_request_filer { CU_REQ_BY_SUBJECT = 1, CU_REQ_BY_ADMIN = 2 } cu_request_filer;

/* P-DSR-8: where the SaaS is a processor, a subject's request waits for the controller. */
typedef enum cu_request_decision {
    CU_REQ_DECISION_NONE = 0, /* controller mode: none due */
    CU_REQ_DECISION_PENDING,
    CU_REQ_DECISION_APPROVED,
    CU_REQ_DECISION_REJECTED
} cu_request_decision;

/* "access", "export", ..., "withdraw_consent"; "?" if out of range. _parse: CU_ERR_INVALID. */
const char *cu_request_type_name(cu_request_type t);
cu_rc cu_request_type_parse(const char *s, cu_request_type *out);
/* "received", "verified", ...; "?" if out of range. */
const char *cu_request_state_name(cu_request_state s);
const char *cu_request_decision_name(cu_request_decision d);

/* A request as the API shows it: ids, kinds, states, times (unix seconds, 0: not yet) and
 * reason codes, never a personal value. */
typedef struct cu_request {
    cu_id id;
    cu_id tenant_id;
    cu_id subject_id; /* 0 while a subject's request is unverified: nothing is disclosed */
    cu_request_type type;
    cu_request_state state;
    cu_request_filer filer;
    cu_request_decision decision;
    char purpose[65]; /* object, withdraw_consent: the purpose; else "" */
    char reason[33];  /* the last reason code (extension, rejection); else "" */
    int64_t filed_at, verified_at, acknowledged_at, extended_at, closed_at, decided_at;
    int64_t ack_due, answer_due; /* P-DSR-7, from the tenant's policy */
    int open;                    /* neither completed nor rejected */
    int overdue;                 /* open and past the due date of its next step */
    int due_soon;                /* open, not overdue, due within CU_REQUEST_DUE_SOON */
} cu_request;

/* How near a due date makes a request due soon (seconds). */
#define CU_REQUEST_DUE_SOON (3 * 86400)
/* A verification token: valid this long after filing, for this many wrong tries. */
#define CU_REQUEST_TOKEN_TTL (7 * 86400)
#define CU_REQUEST_TOKEN_TRIES 5
/* A token as text: 64 hex digits and the NUL. */
#define CU_REQUEST_TOKEN_LEN 65
/* A reason code: [a-z0-9_], 1 to 32 bytes (free text is never stored: it could name people). */
#define CU_REQUEST_REASON_MAX 32

typedef struct cu_request_in {
    cu_request_type type;
    cu_request_filer filer;
    cu_id subject;           /* CU_REQ_BY_ADMIN: the subject (CU_ERR_NOT_FOUND if none) */
    const char *external_id; /* CU_REQ_BY_SUBJECT: how the subject names itself */
    const char *purpose;     /* CU_REQ_OBJECT, CU_REQ_WITHDRAW_CONSENT: the purpose */
} cu_request_in;

/* What filing answers: for a subject's request the same whether the tenant knows the subject
 * or not (item 8): its id, its due dates and the token, given once, which the tenant hands the
 * subject through its own channel. */
typedef struct cu_request_filed {
    cu_id id;
    int64_t ack_due, answer_due;
    char token[CU_REQUEST_TOKEN_LEN]; /* "" when filed by an administrator; wipe after use */
} cu_request_filed;

/* Files a request: due dates from the tenant's policy (P-DSR-7; a tenant without a policy:
 * CU_ERR_CONFLICT); "request.file" in the audit log. */
cu_rc cu_request_file(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_request_in *in,
                      cu_request_filed *out, cu_err *err);
/* Verifies a subject's request with its token, in constant time, once: CU_ERR_AUTH for a wrong
 * (or expired) token, counted; CU_ERR_RATE_LIMITED once the tries are spent. */
cu_rc cu_request_verify(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                        const char *token, cu_err *err);
/* Acknowledges a request (verified, and approved in processor mode): CU_ERR_CONFLICT else. */
cu_rc cu_request_acknowledge(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                             cu_err *err);
/* Extends the answer's due date once, by `by` (at most the policy's extension), with a reason
 * code. */
cu_rc cu_request_extend(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request, cu_duration by,
                        const char *reason, cu_err *err);
/* P-DSR-8: the controller's decision on a subject's request in processor mode: approve, or
 * reject with a reason code (the request is then rejected). */
cu_rc cu_request_decide(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request, int approve,
                        const char *reason, cu_err *err);
/* Rejects an open request with a reason code. */
cu_rc cu_request_reject(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                        const char *reason, cu_err *err);
/* Carries out an acknowledged (or extended) request and completes it, effective at once for
 * every later operation: restrict, unrestrict, object, withdraw_consent, erase, rectify (with
 * the new profile values in rectify, NULL members unchanged), access and export (the answer
 * produced: cu_request_export_write). */
cu_rc cu_request_complete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                          const cu_subject_in *rectify, cu_err *err);
/* The same; an erase request's signed erasure certificate (cu_subject_erase_certified) goes to
 * *certificate (NULL for other types), which the caller frees: the one stored with the
 * erasure, also when this call only finished an erasure under way. */
cu_rc cu_request_complete_certified(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                                    const cu_subject_in *rectify, char **certificate,
                                    cu_err *err);
cu_rc cu_request_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request, cu_request *out,
                     cu_err *err);
/* The signed erasure certificate of a completed erase request (the one stored with the
 * erasure), which the caller frees; CU_ERR_NOT_FOUND for another request or one not carried
 * out. Read with the request's own checks (cu_request_get). */
cu_rc cu_request_certificate(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                             char **certificate, cu_err *err);

typedef enum cu_request_filter {
    CU_REQ_LIST_ALL = 0,
    CU_REQ_LIST_OPEN,
    CU_REQ_LIST_DUE_SOON,
    CU_REQ_LIST_OVERDUE
} cu_request_filter;
/* The tenant's requests that pass f, oldest first. Caller frees *out. */
cu_rc cu_request_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_request_filter f,
                      cu_request **out, size_t *n, cu_err *err);
/* The queue's cursor: the key (closed, next due date, id) of the last request of a page. */
typedef struct cu_request_cursor {
    int closed; /* -1: before the first request */
    int64_t due;
    cu_id id;
} cu_request_cursor;
/* A page of the tenant's requests that pass f, in the queue's order: open before closed, then
 * by the next due date (acknowledging, then answering), then id; at most limit (1 to 500) of
 * them after the cursor `after` (NULL: from the start). *more is 1 when more follow, and *next
 * is then the cursor of the page's last. Caller frees *out. */
cu_rc cu_request_page(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_request_filter f,
                      const cu_request_cursor *after, size_t limit, cu_request **out, size_t *n,
                      cu_request_cursor *next, int *more, cu_err *err);
/* For /metrics: the tenant's open requests, those due soon and those overdue, unaudited
 * (counts only). */
cu_rc cu_request_counts(cu_vault *v, cu_id tenant, size_t *open, size_t *due_soon, size_t *overdue,
                        cu_err *err);
/* The answer to an acknowledged (or extended) access or export request, format "json" or
 * "csv" (RFC 4180 files in a zip), opened under the request itself (purpose subject_access,
 * dsr_request set: P-DSR-1, P-DSR-2) and read with cu_subject_export_read. Caller frees *out
 * with cu_subject_export_free. */
struct cu_subject_export; /* below, with cu_subject_export_open */
cu_rc cu_request_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                             const char *format, struct cu_subject_export **out, cu_err *err);
/* The same answer handed to fn piece by piece (the CLI's file). */
cu_rc cu_request_export_write(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                              const char *format, cu_export_write_fn fn, void *arg, cu_err *err);
/* P-DSR-3: corrects the subject's profile (NULL members unchanged); blind indexes follow, the
 * old values are not kept. Allowed for a restricted subject. */
cu_rc cu_subject_rectify(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                         const cu_subject_in *in, cu_err *err);
/* P-DSR-1, P-DSR-2: everything held about one subject (subject_export.c, docs/dsr_export.md):
 * its profile, every record of every collection (decrypted), its consent ledger, what the
 * policy says is held (categories, purposes, legal bases, retention), its requests, and the
 * accesses to its data from the audit log (GDPR Art. 15(1)(c)). One JSON document, or a zip of
 * RFC 4180 CSV files, one per collection. Read like cu_export: opened (checked, audited with
 * one entry, P-AUD-3), then read piece by piece in bounded memory; the whole export sees one
 * snapshot of the store, taken after its audit entry; an error midway is returned by the read
 * that meets it and every read after, the output cut short (never a valid shorter document or
 * archive). Today the context states CU_PURPOSE_SUBJECT_ACCESS (or is local). Free with
 * cu_subject_export_free (NULL is a no-op). One thread at a time reads one export. */
typedef enum cu_subject_export_format {
    CU_SUBJECT_EXPORT_JSON = 1,
    CU_SUBJECT_EXPORT_CSV_ZIP = 2
} cu_subject_export_format;
typedef struct cu_subject_export cu_subject_export;
cu_rc cu_subject_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             cu_subject_export_format format, cu_subject_export **out,
                             cu_err *err);
/* Copies the export's next bytes, at most cap, into buf: *n 0 once it is whole. */
cu_rc cu_subject_export_read(cu_subject_export *x, char *buf, size_t cap, size_t *n, cu_err *err);
void cu_subject_export_free(cu_subject_export *x);

/* --- backups (P-BAK-1, P-BAK-2, P-RET-3; docs/backup.md) ------------------------------------ */

/* A backup: a consistent snapshot of the database and the audit key file, encrypted under a
 * backup key of its own (wrapped by the master key in backup.keys beside the key file, never
 * in the backup), with a manifest signed by the vault's audit key. */
typedef struct cu_backup_info {
    char id[33];            /* 32 hex digits */
    int64_t created_at;     /* unix seconds (the policy clock) */
    int64_t expires_at;     /* created_at + the shortest backup_window of its tenants */
    uint64_t db_bytes;      /* the snapshot's size */
    uint64_t bytes;         /* the backup file's size */
    int schema_version;
    size_t tenants;
    uint64_t journal_seq;   /* the erasure journal's head when it was made */
    int key_present;        /* cu_backup_list: its key is still in backup.keys */
} cu_backup_info;

/* Progress of other long work, for a command line to show (the core knows no terminal):
 * what is "sweep" (tenants), "audit verify" (entries), "key rotate" (tenant keys rewrapped) or
 * "reencrypt" (values sealed again; total 0: not known). fn is called from the working
 * threads, one call at a time. One hook a process; NULL, the default, for none. */
typedef void (*cu_progress_fn)(void *arg, const char *what, uint64_t done, uint64_t total);
void cu_progress_set(cu_progress_fn fn, void *arg);

/* Progress of a backup or restore: bytes done of total (total 0: not known yet). */
typedef void (*cu_backup_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* P-BAK-1: makes a backup in dir (created 0700 if missing) while writes go on: catches the
 * erasure journal up and copies it into dir, snapshots the database (the plaintext copy lives
 * in the data directory and is unlinked before it is encrypted; whatever a crash leaves there
 * is removed by the next backup or open), encrypts it, signs the manifest. Audited
 * (backup.create, tenant 0). One backup at a time per process. fn may be NULL. */
cu_rc cu_backup_create(cu_vault *v, const cu_ctx *ctx, const char *dir, cu_backup_progress_fn fn,
                       void *arg, cu_backup_info *out, cu_err *err);
/* The backups in dir whose manifests verify under the vault's audit key, oldest first. Caller
 * frees *out. */
cu_rc cu_backup_list(cu_vault *v, const char *dir, cu_backup_info **out, size_t *n, cu_err *err);
/* P-RET-3: every backup whose time has come (cu_clock_now): its key destroyed in backup.keys
 * first, so every copy of it anywhere becomes unreadable, then its files in dir deleted; each
 * audited (backup.expire, tenant 0). dir NULL: keys only. *expired counts them. */
cu_rc cu_backup_expire(cu_vault *v, const cu_ctx *ctx, const char *dir, size_t *expired,
                       cu_err *err);

/* The vault default when no tenant's policy names a backup_window: CU_BACKUP_WINDOW_DEFAULT_DAYS
 * (backup_int.h). */

typedef struct cu_restore_opts {
    const char *keys_dir;   /* holds backup.keys and erasure.journal (and master.key unless
                               key_file names it): the key file's directory, or the old data
                               directory, or a copy of it kept apart; NULL: key_file's */
    const char *key_file;   /* the master key file kept apart from the data (--key-file); NULL:
                               keys_dir's master.key. A restore then opens the restored vault
                               with it and copies no key file into the target */
    const char *passphrase; /* the key file's passphrase, or NULL */
    const char *backup;     /* the backup's manifest (<id>.manifest) or file (<id>.cbk) */
    const char *target;     /* the new data directory: must not exist, or be empty (restore) */
    const char *store;      /* restore: a postgresql:// database (empty) the restored vault's
                               database goes into, target keeping its key files; NULL:
                               target/custos.db (SQLite) */
    const char *journal;    /* NULL: keys_dir's erasure.journal */
    int no_journal;         /* restore without replaying erasures (audited); P-BAK-2 refuses
                               a restore without a journal otherwise */
    int allow_xchacha;
    cu_backup_progress_fn progress;
    void *progress_arg;
} cu_restore_opts;

typedef struct cu_restore_report {
    char id[33];
    int64_t created_at;
    uint64_t bytes;            /* the backup file read */
    size_t chains;             /* audit chains verified (tenants and the platform's) */
    uint64_t audit_entries;    /* entries in them */
    uint64_t journal_entries;  /* erasure journal lines read */
    uint64_t replayed;         /* erasures applied to the restored vault */
    uint64_t already;          /* lines the backup already reflected, or naming what it lacks */
    uint64_t sampled;          /* subjects read back (verify) */
} cu_restore_report;

/* P-BAK-1, P-BAK-2: restores a backup into o->target: the manifest's signature (under the
 * signer in backup.keys) and the file's hash checked, decrypted into a temporary directory
 * beside the target, every audit chain verified and its head matched with the manifest, every
 * erasure of the journal replayed, then renamed into place: a crash leaves only a temporary
 * directory that no restore takes (the next restore to the same target removes it). */
cu_rc cu_backup_restore(const cu_restore_opts *o, cu_restore_report *rep, cu_err *err);
/* P-BAK-1: a trial restore into a temporary directory in keys_dir (removed after): the same
 * checks, the journal replayed if there is one, and a sample of subjects read. */
cu_rc cu_backup_verify(const cu_restore_opts *o, cu_restore_report *rep, cu_err *err);

/* P-BAK-2: also copies the erasure journal into dir after each erasure (the server's
 * --backup-dir), not only at each backup; NULL stops. Process-wide. */
void cu_backup_journal_mirror(const char *dir);

/* What this process knows of backups, for /metrics. */
typedef struct cu_backup_stats {
    int64_t last_success;  /* unix seconds of the last backup made, 0 none */
    int64_t last_verified; /* of the last verify that passed, 0 none */
    uint64_t count;        /* backups in the directory after the last create or expire */
    uint64_t bytes;        /* their files' sizes */
    uint64_t failures;     /* backups or verifies that failed */
} cu_backup_stats;
void cu_backup_stats_get(cu_backup_stats *out);

#endif
