/*
 * store.h: the face of src/store/, the persistence layer behind one ops table.
 *
 * The store keeps what the core hands it and knows nothing of the rules: every value that
 * could be personal arrives already encrypted (blobs) or as a keyed digest (blind index). Rows
 * are keyed by tenant id first, so a backend can shard by tenant.
 *
 * Writes travel as a batch of operations (cu_store_op) that the backend commits as one
 * transaction: all of them or none. This is what lets a later writer group many requests into
 * one fsync (DESIGN.md, Writes), and what lets PostgreSQL do the same in one round trip.
 *
 * Reads return structs whose blobs the caller owns and releases with the matching
 * cu_store_*_cleanup(). SQLite and libpq types never cross this header.
 */
#ifndef CU_STORE_H
#define CU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"
#include "store_disclosure.h" /* cu_store_disclosure, its op and read (P-SHR-1) */
#include "store_incident.h" /* breach incidents (P-BRE-1) */
#include "store_analytics.h" /* the privacy budget of noisy aggregates (P-ANA-1) */

/* Kinds of wrapped key (the key table, DESIGN.md, Keys). */
typedef enum cu_key_kind {
    CU_KEY_TENANT = 1,  /* owner 0; parent: the master key version */
    CU_KEY_DATA = 2,    /* owner 0; parent: the tenant key version */
    CU_KEY_INDEX = 3,   /* owner 0; parent: the tenant key version */
    CU_KEY_SUBJECT = 4, /* owner: the subject id; parent: the tenant key version */
    CU_KEY_RETAINED = 5, /* owner: an erased subject's id: its records kept for a legal
                            obligation (P-RET-4, docs/keys.md); parent: the tenant key version */
    CU_KEY_RECORD_IDS = 6 /* tenant 0, owner 0: the record id key; parent: the master key */
} cu_key_kind;

/* The restricted flag of a subject (cu_store_subject.restricted, CU_OP_SUBJECT_RESTRICT): 0 free,
 * 1 restricted (P-DSR-5), or found under age while a hold covers it: restricted, erased by the
 * sweep once no hold covers it, and never lowered by CU_OP_SUBJECT_RESTRICT (P-AGE-2). */
#define CU_SUBJECT_UNDER_AGE 2

/* The lease (CU_OP_LEASE_TAKE) under which one server at a time sweeps a database. */
#define CU_LEASE_SWEEP "sweep"

typedef struct cu_blob {
    uint8_t *data;
    size_t len;
} cu_blob;

typedef struct cu_store_tenant {
    cu_id id;
    char name[CU_NAME_MAX];
    int state;
    int64_t created_at;
    int64_t terminated_at; /* 0 while active (P-RET-2) */
    unsigned policy_version; /* read only: the newest bound policy version, 0 if none (the
                              * policy cache's check, docs/store.md) */
    uint64_t cache_gen;      /* read only: raised by CU_OP_TENANT_GEN; the core's caches of the
                              * tenant's secrets are as old as the value they were made under
                              * (several servers, docs/store.md contract item 12) */
} cu_store_tenant;

typedef struct cu_store_key {
    cu_id tenant_id;
    cu_key_kind kind;
    cu_id owner_id;
    uint32_t version;
    uint32_t parent_version;
    cu_blob wrapped;
} cu_store_key;

typedef struct cu_store_subject {
    cu_id tenant_id;
    cu_id id;
    uint32_t key_version;
    int64_t created_at;
    cu_blob profile; /* sealed JSON of the subject's values */
    int restricted;        /* P-DSR-5: kept, not processed (read only) */
    int64_t last_activity; /* for retention counted from it (P-RET-1; read only) */
} cu_store_subject;

#include "store_record.h" /* a record, its fields and index entries, its sweep metadata */

/* One entry of a subject's consent ledger (P-CON-2): ids and names only. */
typedef struct cu_store_consent {
    cu_id tenant_id;
    cu_id subject_id;
    uint64_t seq; /* order of entries (read only) */
    char purpose[65];
    int action; /* cu_consent_action */
    int64_t at;
    char source[65];
    char policy_version[65];
} cu_store_consent;

/* The purposes a policy version renews consent for (P-NOT-2): their names, comma-separated, or
 * CU_STORE_FRESH_ALL for every purpose; "" for none. */
#define CU_STORE_FRESH_MAX 1024
#define CU_STORE_FRESH_ALL "*"

/* One of a tenant's policy versions without its text (P-NOT-1): when it was bound, when it takes
 * effect, whether it was withdrawn before that, and when it was noted in force. */
typedef struct cu_store_policy_version {
    unsigned version;
    int64_t created_at;   /* unix seconds, as every policy time */
    int64_t effective_at; /* at or before created_at: at once */
    int64_t withdrawn_at; /* 0 unless withdrawn while pending */
    int64_t in_force_at;  /* 0 until noted in force (CU_OP_POLICY_IN_FORCE) */
    char fresh[CU_STORE_FRESH_MAX];
} cu_store_policy_version;

/* A legal hold (P-RET-5) on a tenant (subject and record 0), a subject or a record. The reason
 * is sealed under the tenant data key. */
typedef struct cu_store_hold {
    cu_id tenant_id;
    cu_id id;
    cu_id subject_id;
    cu_id record_id;
    cu_blob reason;
    uint32_t key_version;
    int64_t created_at;
    int64_t released_at;   /* 0 while in force */
    cu_blob release_reason; /* sealed like reason (same key version); absent while in force */
} cu_store_hold;

/* An API key (P-ACC-3): the secret itself is never stored, only its SHA-256 (P-ENC-3).
 * tenant_id 0 holds the operator's keys. */
typedef struct cu_store_apikey {
    cu_id tenant_id;
    cu_id id;
    int role;
    char name[CU_APIKEY_NAME_MAX];
    uint8_t secret_hash[32];
    int64_t created_at;
    int64_t revoked_at; /* 0 while valid */
} cu_store_apikey;

#define CU_STORE_PWHASH_MAX 128 /* an encoded Argon2id string and its NUL */

/* A user of a tenant. The email is sealed under the tenant data key and found by its keyed
 * digest (P-ENC-6); the TOTP secrets are sealed likewise (P-ACC-2). A blob with data NULL is
 * absent. The login counters bound brute force (P-ACC-6). */
typedef struct cu_store_user {
    cu_id tenant_id;
    cu_id id;
    int role;
    uint8_t email_digest[32];
    cu_blob email;
    uint32_t key_version; /* of the data key that sealed email */
    char password_hash[CU_STORE_PWHASH_MAX];
    cu_blob totp_secret; /* the confirmed secret, or absent */
    uint32_t totp_key_version;
    cu_blob totp_pending; /* an enrolment awaiting its first code, or absent */
    uint32_t totp_pending_key_version;
    int totp_enabled;
    int64_t totp_last_step; /* the last accepted TOTP time step: codes up to it are refused */
    int failures;           /* failed logins in the window starting at window_start */
    int64_t window_start;
    int64_t locked_until; /* no login is tried before this time */
    int64_t created_at;
} cu_store_user;

/* A login session; only the SHA-256 of its token is stored. */
typedef struct cu_store_session {
    uint8_t token_hash[32];
    cu_id tenant_id;
    cu_id user_id;
    int64_t created_at;
    int64_t expires_at;
    int role; /* read only: the user's current role */
} cu_store_session;

/* An audit entry as stored, for verification (P-AUD-2): its canonical encoding (docs/audit.md,
 * util's audit_canon.h), and whether its columns (which listing and filters read) encode to the
 * same bytes. An entry stored before encodings were kept has them made from its columns.
 * Pointers are valid during the callback only. */
typedef struct cu_audit_row {
    uint64_t seq;
    const uint8_t *prev, *hash; /* the row's prev and hash columns, 32 bytes (zeros if not) */
    const uint8_t *canon;
    size_t canon_len;
    int agrees; /* 0: a column differs from the encoding */
} cu_audit_row;

/* An access to a subject's data, from the audit log (GDPR Art. 15(1)(c)): who, when, what, why.
 * Read by audit_by_subject. */
typedef struct cu_store_access {
    uint64_t seq;
    int64_t at; /* unix milliseconds */
    char actor[48];
    char action[32];
    char object[96];
    char purpose[65];
} cu_store_access;

/* A collection holding a subject's records, and how many (subject_collections). */
typedef struct cu_store_collection_count {
    char name[CU_COLLECTION_MAX];
    uint64_t records;
} cu_store_collection_count;
/* A subject's records in one collection (record_counts). */
typedef struct cu_store_count {
    char collection[CU_COLLECTION_MAX];
    uint64_t records;
} cu_store_count;

/* A subject whose erasure is under way (P-DSR-4): its key is destroyed, its rows not all
 * deleted yet (erasure_list). */
typedef struct cu_store_erasure {
    cu_id tenant_id;
    cu_id subject_id;
    uint64_t records; /* its records still stored, but those retained (P-RET-4) */
    int kept;         /* its other rows are gone; it waits for its retained records to go */
} cu_store_erasure;

/* A data-subject request (P-DSR-7, request.c): ids, kinds, states, times and reason codes only,
 * never a personal value. Only the SHA-256 of its verification token is stored. */
typedef struct cu_store_request {
    cu_id tenant_id;
    cu_id id;
    cu_id subject_id; /* 0: filed for a subject the tenant does not know (never verifies) */
    int type;         /* cu_request_type */
    int state;        /* cu_request_state */
    int filer;        /* cu_request_filer */
    int decision;     /* cu_request_decision (P-DSR-8) */
    char purpose[65]; /* object, withdraw_consent: the purpose named; else "" */
    char reason[33];  /* the last reason code (extension, rejection); else "" */
    int64_t filed_at, verified_at, acknowledged_at, extended_at, closed_at, decided_at;
    int64_t ack_due, answer_due;
    int has_token;
    uint8_t token_hash[32];
    int64_t token_expires;
    uint32_t attempts; /* failed verifications */
    uint32_t version;  /* 1 at filing; REQUEST_UPDATE writes version, the row must be at
                          version - 1, else CU_ERR_CONFLICT (another transition came first) */
} cu_store_request;

#include "store_request.h" /* the queue's page (request_page) */

/* The webhook outbox's rows (docs/webhooks.md): its own header, included here. */
#include "store_webhook.h"
#include "store_sso.h" /* single sign-on (P-ACC-5) */

typedef enum cu_store_op_type {
    CU_OP_MASTER_ADD = 1,  /* master: a master key version and its check value */
    CU_OP_TENANT_PUT,      /* tenant: insert */
    CU_OP_TENANT_STATE,    /* tenant: update state */
    CU_OP_KEY_PUT,         /* key: insert; CU_ERR_EXISTS if that version exists */
    CU_OP_KEY_REWRAP,      /* key: new wrapping of an existing version; a no-op if the key
                              was destroyed meanwhile, so a rotation never resurrects it */
    CU_OP_KEY_DELETE,      /* key: every version of (tenant, kind, owner); a subject key:
                              CU_ERR_LEGAL_HOLD if a hold covers the subject, else the
                              subject's erasure is queued in the same transaction (P-DSR-4:
                              from then on every read hides it, until ERASE_ROWS ends it) */
    CU_OP_SUBJECT_PUT,     /* subject: insert or replace */
    CU_OP_SUBJECT_DELETE,  /* del: the subject, its records (with their fields and blind index
                              entries), its consent ledger, its own blind index entries and its
                              place in the erasure queue; CU_ERR_LEGAL_HOLD if held (unless its
                              key is gone) */
    CU_OP_RECORD_PUT,      /* record: insert, with its fields; CU_ERR_EXISTS if the id is taken */
    CU_OP_RECORD_REPLACE,  /* record: new document and fields of an existing record;
                              CU_ERR_NOT_FOUND if it was deleted meanwhile, CU_ERR_LEGAL_HOLD
                              if a hold in force covers it (P-RET-5: checked in the same
                              transaction, as for every op below that says so) */
    CU_OP_RECORD_DELETE,   /* record: the row, its fields and its blind index entries;
                              CU_ERR_LEGAL_HOLD if held */
    CU_OP_BLIND_PUT,       /* blind */
    CU_OP_BLIND_DELETE,    /* blind: every entry of (tenant, owner) */
    CU_OP_COLLECTION_PUT,  /* collection: insert or replace */
    CU_OP_APIKEY_PUT,      /* apikey: insert */
    CU_OP_APIKEY_REVOKE,   /* revoke: sets revoked_at unless already revoked; CU_ERR_NOT_FOUND
                              if the tenant has no such key */
    CU_OP_USER_PUT,        /* user: insert; CU_ERR_EXISTS if the email digest is taken */
    CU_OP_USER_DELETE,     /* del: the user and its sessions; CU_ERR_NOT_FOUND if none */
    CU_OP_USER_TOTP_PENDING, /* totp: stores secret as the pending enrolment; CU_ERR_NOT_FOUND
                                if no such user */
    CU_OP_USER_TOTP_ENABLE,  /* totp: makes the pending secret, which must still equal secret,
                                the active one, raises the last step to step; CU_ERR_NOT_FOUND
                                if the pending enrolment is gone or another */
    CU_OP_USER_LOGIN_FAILED, /* login: counts a failure at now in a window of `window` seconds
                                (a new window once it has passed or a lockout has ended); the
                                max_failures-th locks the account until now + lockout */
    CU_OP_USER_LOGIN_OK,     /* login: clears the counters; with totp_step > 0, requires it to
                                be above the last accepted step and records it, else
                                CU_ERR_CONFLICT (a replayed code) */
    CU_OP_SESSION_PUT,       /* session: insert */
    CU_OP_SESSION_DELETE,    /* session (token_hash): CU_ERR_NOT_FOUND if none */
    CU_OP_SESSION_PURGE,     /* purge: the user's sessions that expired at or before `before`;
                                tenant_id 0: every user's, and every single sign-on login
                                that expired before it (store_sso.h) */
    CU_OP_AUDIT_APPEND,      /* audit: insert; CU_ERR_EXISTS if (tenant, seq) is taken */
    CU_OP_AUDIT_CHECKPOINT,  /* checkpoint: insert; CU_ERR_EXISTS if (tenant, seq, anchor) is
                                taken: checkpoints are never replaced */
    CU_OP_AUDIT_PRUNE,       /* audit_prune: delete the tenant's entries with seq <= upto */
    CU_OP_POLICY_PUT,        /* policy: a tenant's policy text as a new version */
    CU_OP_SUBJECT_RESTRICT,  /* flag: sets the subject's restricted flag to value (P-DSR-5);
                                CU_ERR_NOT_FOUND if no such subject */
    CU_OP_SUBJECT_TOUCH,     /* flag: raises the subject's last activity to at */
    CU_OP_CONSENT_PUT,       /* consent: appends a ledger entry (P-CON-2) */
    CU_OP_HOLD_PUT,          /* hold: insert (P-RET-5); CU_ERR_KEY if it names a subject whose
                                key is gone (its erasure is under way) */
    CU_OP_HOLD_RELEASE,      /* hold (tenant_id, id, released_at, release_reason, key_version):
                                ends it; CU_ERR_NOT_FOUND unless in force and still sealed
                                under key_version (the release reason is sealed like it) */
    CU_OP_RECORD_ANONYMIZE,  /* record: new document (no sensitive fields), no subject, no index
                                entries, marked anonymized (P-RET-6); CU_ERR_CONFLICT if gone,
                                written since expect_updated_at or its subject active since
                                expect_activity_at, CU_ERR_LEGAL_HOLD if held */
    CU_OP_TENANT_CLOSE,      /* del (id unused): the tenant's users, sessions, API keys and
                                consent ledger (but a held subject's) go; its state becomes
                                purged (P-RET-2) */
    CU_OP_TENANT_SHRED,      /* del (id unused): every record, field, index entry, subject,
                                collection, hold and key of the tenant (P-RET-2);
                                CU_ERR_LEGAL_HOLD while any hold is in force */
    CU_OP_RECORD_EXPIRE,     /* record (tenant_id, id, expect_updated_at, expect_activity_at):
                                the sweep's delete: the row, fields and index entries;
                                CU_ERR_CONFLICT if it is gone, was written meanwhile or its
                                subject was active since, CU_ERR_LEGAL_HOLD if held */
    CU_OP_RESEAL,            /* reseal: a value sealed under an older data key version sealed
                                again under key_version (P-ENC-5), only while the stored value
                                still equals old; else a no-op (a write since sealed it under
                                the newest version, or it is gone). Content is unchanged, so a
                                legal hold does not refuse it */
    CU_OP_DATA_KEY_DESTROY,  /* key_del (tenant_id, version): that version of the tenant data
                                key, only if it is not the newest and no record without a
                                subject, hold, user or webhook endpoint still uses it; else
                                CU_ERR_CONFLICT */
    CU_OP_SESSION_TOUCH,     /* session (token_hash, expires_at): sets its expiry; nothing if
                                the session is gone */
    CU_OP_USER_SESSIONS_END, /* session (tenant_id, user_id, token_hash): every session of the
                                user but the one of token_hash (all zero: none kept) */
    CU_OP_AUDIT_KEY_PUT,     /* audit_key: the audit signing key's public half (replaces) */
    CU_OP_POLICY_GRANT,      /* flag (tenant_id, value, at): whether the tenant's admins may
                                bind its policy (replaces) */
    CU_OP_AUDIT_HEAD_CHECK,  /* audit_head: the tenant's last entry, as audit_head reads it, must
                                still be (seq, hash) (0 and zeros: none), else CU_ERR_CONFLICT:
                                another writer extended the chain first (P-AUD-1; several
                                servers on one database, docs/store.md) */
    CU_OP_LEASE_TAKE,        /* lease: takes or renews the named lease until expires_at if it is
                                free, expired (its expiry <= now), the holder's already, or taken
                                by a store instance with no connection left, 10 s after its last
                                renewal (PostgreSQL), else
                                CU_ERR_CONFLICT (one sweeper at a time, docs/store.md) */
    CU_OP_LEASE_RELEASE,     /* lease (name, holder): frees the lease if holder still holds it;
                                nothing otherwise */
    CU_OP_ERASE_ROWS,        /* erase (tenant_id, subject_id, limit): the rows of a subject whose
                                erasure is queued (KEY_DELETE of its key), else
                                CU_ERR_NOT_FOUND: up to limit of its records, oldest first, with
                                their fields and index entries; limit 0: all that are left, then
                                its own index entries, consent ledger and row, and its place in
                                the queue. Unreadable data is not held: no hold refuses it.
                                Records marked retained stay: while any is left, limit 0 deletes
                                the rest and marks the entry kept (the subject stays hidden);
                                once none is, it also destroys the subject's retained key */
    CU_OP_REQUEST_PUT,       /* request: insert (version 1); CU_ERR_EXISTS if the id is taken */
    CU_OP_REQUEST_UPDATE,    /* request: every column but the ids, only while the stored row is
                                at version - 1, else CU_ERR_CONFLICT (CU_ERR_NOT_FOUND if none) */
    CU_OP_RECORD_RETAIN,     /* reseal (tenant_id, id, key_version, old[0], ct[0], fields): a
                                record kept after its subject's erasure (P-DSR-4, P-RET-4): its
                                document and fields sealed again under the subject's retained key
                                at key_version, marked retained, its index entries deleted; only
                                while its document still equals old[0], else CU_ERR_CONFLICT */
    CU_OP_AUDIT_SUBJECT_INDEX, /* audit_index (tenant_id, limit): the audit log's subject index
                                  catches up with the tenant's log: every entry past its mark, up
                                  to limit of them (0: all), that names a subject is indexed, and
                                  the mark moves past them (readers scan the log past the mark) */
    CU_OP_ERASURE_CERT,        /* erasure_cert (tenant_id, subject_id, certificate): the signed
                                  certificate of the subject's erasure, stored in the erasure's
                                  own transaction (insert; CU_ERR_EXISTS if it has one) */
    CU_OP_ERASE_GUARD,         /* erase_guard (tenant_id, subject_id, collection, records): the
                                  subject must hold exactly that many records in the collection,
                                  else CU_ERR_CONFLICT (an erasure's plan gone stale: P-RET-4) */
    CU_OP_TENANT_GEN,          /* del (tenant_id; id unused): raises the tenant's cache_gen by one;
                                  nothing if the tenant has no row (contract item 12) */
    CU_OP_POLICY_WITHDRAW,     /* policy (tenant_id, version, created_at: when): withdraws a
                                  pending version (P-NOT-1): only while its effective_at is after
                                  when and it is not withdrawn, else CU_ERR_NOT_FOUND */
    CU_OP_POLICY_IN_FORCE,     /* policy (tenant_id, version, created_at: when): notes that the
                                  version took effect (its in_force_at): only once, while not
                                  withdrawn and effective by when, else CU_ERR_CONFLICT */
    CU_OP_WEBHOOK_EVENT,       /* webhook_event: adds the event to the outbox, in its cause's
                                  transaction, with a PENDING delivery due at created_at to each
                                  enabled endpoint of the tenant whose types name its type; an
                                  event whose (tenant, id) exists is left as it is (a no-op: an
                                  event with a derived id is added once however often its cause
                                  is seen) */
    CU_OP_WEBHOOK_ENDPOINT_PUT, /* webhook_endpoint: its part (CU_WEBHOOK_PUT_*) of (tenant, id) */
    CU_OP_WEBHOOK_ENDPOINT_DELETE, /* del (tenant_id, id): the endpoint and its PENDING
                                      deliveries; CU_ERR_NOT_FOUND if none */
    CU_OP_WEBHOOK_CLAIM,       /* webhook_claim: leases a PENDING delivery due at now to holder
                                  until `until`, if no other holder's lease runs past now, else
                                  CU_ERR_CONFLICT (several servers: one sends it at a time) */
    CU_OP_WEBHOOK_ATTEMPT,     /* webhook_attempt: records the attempt and moves its delivery to
                                  state (PENDING again at next_at), freeing the lease, only while
                                  holder still holds it, else CU_ERR_CONFLICT; a delivery whose
                                  resend was asked meanwhile (CU_WEBHOOK_RESEND_ASKED) goes
                                  PENDING, due at a.at, whatever state says */
    CU_OP_WEBHOOK_RESEND,      /* webhook_claim (tenant, event, endpoint, now): the delivery
                                  PENDING again, due now, whatever its state (same event id); one
                                  claimed under a running lease is marked
                                  CU_WEBHOOK_RESEND_ASKED instead, for its try's settle;
                                  CU_ERR_NOT_FOUND if the event never went to that endpoint */
    CU_OP_WEBHOOK_PRUNE,       /* webhook_prune (tenant_id, before, limit): deletes up to limit
                                  of the tenant's events created before `before` none of whose
                                  deliveries is PENDING, oldest first, with their deliveries
                                  and attempts; CU_ERR_NOT_FOUND if there was none */
    CU_OP_DISCLOSURE_PUT,      /* disclosure: insert one row (P-SHR-1); CU_ERR_EXISTS if
                                  (tenant, id, subject, record) is taken */
    CU_OP_INCIDENT_PUT,        /* incident; the INCIDENT_* ops are told in store_incident.h */
    CU_OP_INCIDENT_NOTICE,     /* incident_notice */
    CU_OP_INCIDENT_REVOKED,    /* incident (inc.id, inc.revoked_at) */
    CU_OP_ANALYTICS_BUDGET,    /* analytics_budget; both told in store_analytics.h */
    CU_OP_ANALYTICS_SPEND,     /* analytics_budget (tenant_id, spent: the amount) */
    CU_OP_SSO_CONFIG_PUT,      /* sso_config; the SSO_* ops are told in store_sso.h */
    CU_OP_SSO_LOGIN_PUT,       /* sso_login */
    CU_OP_SSO_LOGIN_TAKE,      /* sso_login (state_hash, expires_at as now) */
    CU_OP_SSO_LINK_PUT,        /* sso_link */
    CU_OP_SSO_LINK_DROP,       /* sso_link (tenant_id, user_id: 0 for all) */
    CU_OP_SSO_SESSIONS_END,    /* sso_link (tenant_id): every session of the tenant's users */
    CU_OP__COUNT             /* not an op: one more than the last kind */
} cu_store_op_type;

/* What a CU_OP_RESEAL seals again (columns in the order of old[] and ct[]). */
typedef enum cu_reseal_kind {
    CU_RESEAL_RECORD = 1, /* a record without a subject: doc, and its fields by name */
    CU_RESEAL_HOLD,       /* reason, release_reason (absent while in force) */
    CU_RESEAL_USER_EMAIL, /* email */
    CU_RESEAL_USER_TOTP,  /* totp_secret */
    CU_RESEAL_USER_PENDING, /* totp_pending */
    CU_RESEAL_WEBHOOK_SECRET, /* a webhook endpoint's signing secret (id: the endpoint) */
    CU_RESEAL_SSO_SECRET      /* a tenant's SSO client secret (id: 0; store_sso.h) */
} cu_reseal_kind;
#define CU_RESEAL__LAST CU_RESEAL_SSO_SECRET

typedef struct cu_store_reseal {
    cu_reseal_kind what;
    cu_id tenant_id;
    cu_id id;
    uint32_t key_version;   /* the version ct[] is sealed under */
    cu_blob old[2];         /* as read; data NULL: absent */
    cu_blob ct[2];          /* sealed again; data NULL: absent */
    cu_store_field *fields; /* RECORD: the fields sealed again, by name */
    size_t nfields;
} cu_store_reseal;

typedef struct cu_store_op {
    cu_store_op_type type;
    union {
        struct {
            uint32_t version;
            uint8_t check[32];
            int64_t created_at;
        } master;
        cu_store_tenant tenant;
        cu_store_key key;
        cu_store_subject subject;
        cu_store_record record;
        cu_store_blind blind;
        struct {
            cu_id tenant_id;
            const char *name;
            const char *spec; /* JSON text of the field classes */
        } collection;
        struct {
            cu_id tenant_id;
            cu_id id;
        } del; /* SUBJECT_DELETE, RECORD_DELETE, BLIND_DELETE (id = owner), USER_DELETE */
        struct {
            cu_id tenant_id;
            cu_key_kind kind;
            cu_id owner_id;
            uint32_t version; /* DATA_KEY_DESTROY only */
        } key_del;
        cu_store_reseal reseal;
        cu_store_apikey apikey;
        struct {
            cu_id tenant_id;
            cu_id id;
            int64_t at;
        } revoke;
        cu_store_user user;
        struct {
            cu_id tenant_id;
            cu_id user_id;
            cu_blob secret;
            uint32_t key_version;
            int64_t step;
        } totp;
        struct {
            cu_id tenant_id;
            cu_id user_id;
            int64_t now;
            int64_t window;
            int max_failures;
            int64_t lockout;
            int64_t totp_step;
        } login;
        cu_store_session session;
        struct {
            cu_id tenant_id;
            cu_id user_id;
            int64_t before;
        } purge;
        cu_audit_entry audit;
        cu_audit_checkpoint checkpoint;
        struct {
            cu_id tenant_id;
            uint64_t upto;
        } audit_prune;
        struct {
            uint8_t public_key[32];
            int64_t created_at;
        } audit_key;
        struct {
            cu_id tenant_id;
            unsigned version;
            const char *text;
            int64_t created_at;
            int64_t effective_at; /* POLICY_PUT: when it takes effect (<= created_at: at once) */
            const char *fresh;    /* POLICY_PUT: cu_store_policy_version.fresh; NULL: "" */
        } policy; /* POLICY_PUT, POLICY_WITHDRAW, POLICY_IN_FORCE */
        struct {
            cu_id tenant_id;
            cu_id id;
            int value;
            int64_t at;
        } flag; /* SUBJECT_RESTRICT, SUBJECT_TOUCH, POLICY_GRANT */
        cu_store_consent consent;
        cu_store_hold hold;
        struct {
            cu_id tenant_id;
            uint64_t seq;
            uint8_t hash[32];
        } audit_head; /* AUDIT_HEAD_CHECK */
        struct {
            const char *name; /* e.g. CU_LEASE_SWEEP */
            cu_id holder;     /* the server's own id, not 0 */
            int64_t now;      /* unix seconds */
            int64_t expires_at;
            cu_id instance; /* the taking store's cu_store_instance, or 0: held until expiry */
        } lease;           /* LEASE_TAKE, LEASE_RELEASE */
        struct {
            cu_id tenant_id;
            cu_id subject_id;
            uint32_t limit; /* records; 0: the rest, and the subject itself */
        } erase; /* ERASE_ROWS */
        cu_store_request request; /* REQUEST_PUT, REQUEST_UPDATE */
        struct {
            cu_id tenant_id;
            uint32_t limit; /* entries past the mark at most; 0: every one */
        } audit_index; /* AUDIT_SUBJECT_INDEX */
        struct {
            cu_id tenant_id;
            cu_id subject_id;
            const char *certificate; /* borrowed */
        } erasure_cert; /* ERASURE_CERT */
        struct {
            cu_id tenant_id;
            cu_id subject_id;
            const char *collection; /* borrowed */
            uint64_t records;
        } erase_guard; /* ERASE_GUARD */
        cu_store_webhook_event webhook_event;       /* WEBHOOK_EVENT: payload owned */
        cu_store_webhook_endpoint webhook_endpoint; /* WEBHOOK_ENDPOINT_PUT: secret owned */
        struct {
            cu_id tenant_id;
            cu_id event_id;
            cu_id endpoint_id;
            cu_id holder; /* the server's own id, not 0 */
            int64_t now;
            int64_t until;
        } webhook_claim; /* WEBHOOK_CLAIM, WEBHOOK_RESEND */
        struct {
            cu_store_webhook_attempt a;
            cu_id holder;
            int state;       /* CU_WEBHOOK_*: where the delivery goes */
            int64_t next_at; /* PENDING: the next try */
        } webhook_attempt; /* WEBHOOK_ATTEMPT */
        struct {
            cu_id tenant_id;
            int64_t before; /* events created before it */
            uint32_t limit; /* at most this many, not 0 */
        } webhook_prune; /* WEBHOOK_PRUNE */
        cu_store_disclosure disclosure; /* DISCLOSURE_PUT */
        cu_store_incident_put incident;           /* INCIDENT_PUT, INCIDENT_REVOKED */
        cu_store_incident_notice incident_notice; /* INCIDENT_NOTICE */
        cu_store_analytics_budget analytics_budget; /* ANALYTICS_BUDGET, ANALYTICS_SPEND */
        cu_store_sso_config sso_config;           /* SSO_CONFIG_PUT */
        cu_store_sso_login sso_login;             /* SSO_LOGIN_PUT, SSO_LOGIN_TAKE */
        cu_store_sso_link sso_link;               /* SSO_LINK_*, SSO_SESSIONS_END */
    } u;
} cu_store_op;

typedef struct cu_store cu_store;
#include "store_chain.h" /* apply_chained: a batch chained on heads read in its transaction */
#include "store_ids.h"   /* set_idmap, record_id_new: public record ids from internal keys */

/* A backend. Every function returns CU_OK or an error with err set; CU_ERR_NOT_FOUND when a
 * single-object read finds nothing; CU_ERR_EXISTS when a batch breaks a uniqueness rule (the
 * whole batch is then rolled back). Functions are safe to call from several threads.
 * P-DSR-4: a subject whose erasure is queued is hidden from every read of subjects, records
 * and index entries (subject_get, subject_state, subject_ids, record_get, record_ids_by_subject,
 * record_meta_list, blind_find), with its records and their entries, as if already deleted. */
typedef struct cu_store_ops {
    const char *name;
    cu_rc (*open)(const char *target, cu_store **out, cu_err *err);
    void (*close)(cu_store *s);
    /* Commits ops[0..n) as one durable transaction. */
    cu_rc (*apply)(cu_store *s, const cu_store_op *ops, size_t n, cu_err *err);
    /* cu_store_apply_chained in one transaction (store_chain.h); NULL: store.c's fallback. */
    cu_rc (*apply_chained)(cu_store *s, const cu_store_op *prev, size_t nprev,
                           cu_store_chain_fn fn, void *arg, cu_err *err);
    /* 1 in *admins if the tenant's owner lets its admins bind the policy, else 0. */
    cu_rc (*policy_grant_get)(cu_store *s, cu_id tenant, int *admins, cu_err *err);
    /* The audit signing key's public half as stored (*found 0 if none yet), and whether any
     * signed checkpoint exists (*checkpoints). */
    cu_rc (*audit_key_get)(cu_store *s, uint8_t pk[32], int *found, int *checkpoints,
                           cu_err *err);
    /* The tenant's last audit entry: *seq 0 and a zero hash when it has none. */
    cu_rc (*audit_head)(cu_store *s, cu_id tenant, uint64_t *seq, uint8_t hash[32], cu_err *err);
    /* Entries matching f (see cu_audit_filter), by seq. Caller frees *out. */
    cu_rc (*audit_list)(cu_store *s, cu_id tenant, const cu_audit_filter *f,
                        cu_audit_entry **out, size_t *n, cu_err *err);
    /* Calls fn for each entry with seq >= from, by seq, until fn returns non-zero. */
    cu_rc (*audit_scan)(cu_store *s, cu_id tenant, uint64_t from,
                        int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err);
    /* Calls fn for each entry with from <= seq <= to, by seq, until fn returns non-zero: the
     * entry as stored for verification (cu_audit_row). Several may run at once. */
    cu_rc (*audit_rows)(cu_store *s, cu_id tenant, uint64_t from, uint64_t to,
                        int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err);
    /* The newest seq whose entry is older than before_ms (0 if none). */
    cu_rc (*audit_seq_before)(cu_store *s, cu_id tenant, int64_t before_ms, uint64_t *seq,
                              cu_err *err);
    /* The tenant's checkpoints by seq. Caller frees *out. */
    cu_rc (*audit_checkpoints)(cu_store *s, cu_id tenant, cu_audit_checkpoint **out, size_t *n,
                               cu_err *err);
    /* The tenant's newest policy text and its version; CU_ERR_NOT_FOUND if none. Caller frees
     * *text. */
    cu_rc (*policy_get)(cu_store *s, cu_id tenant, unsigned *version, char **text, cu_err *err);
    /* One policy version of a tenant (0: the newest) with the version found and when it was
     * bound (unix seconds); CU_ERR_NOT_FOUND if none. Caller frees *text. */
    cu_rc (*policy_at)(cu_store *s, cu_id tenant, unsigned *version, char **text,
                       int64_t *created_at, cu_err *err);
    /* Every policy version of a tenant, oldest first, without texts (*n 0 if none). Caller
     * frees *out. */
    cu_rc (*policy_versions)(cu_store *s, cu_id tenant, cu_store_policy_version **out, size_t *n,
                             cu_err *err);
    /* Up to limit records of a tenant past cursor after (0: the first), in the backend's
     * order (store_ids.h). Caller frees *out. */
    cu_rc (*record_meta_list)(cu_store *s, cu_id tenant, cu_id after, size_t limit,
                              cu_store_record_meta **out, size_t *n, cu_err *err);
    /* A subject's restriction and last activity alone (no sealed profile): the purpose check
     * and the sweep read these on every request and record. CU_ERR_NOT_FOUND if none. */
    cu_rc (*subject_state)(cu_store *s, cu_id tenant, cu_id subject, int *restricted,
                           int64_t *last_activity, cu_err *err);
    /* Up to limit subject ids of a tenant above after, by id. Caller frees *ids. */
    cu_rc (*subject_ids)(cu_store *s, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                         size_t *n, cu_err *err);
    /* A subject's consent ledger, oldest first (purpose NULL), or only its newest entry for
     * purpose (*n 0 or 1). Caller frees *out. */
    cu_rc (*consent_list)(cu_store *s, cu_id tenant, cu_id subject, const char *purpose,
                          cu_store_consent **out, size_t *n, cu_err *err);
    /* A tenant's holds, oldest first. Release with cu_store_holds_free. */
    cu_rc (*hold_list)(cu_store *s, cu_id tenant, cu_store_hold **out, size_t *n, cu_err *err);
    /* Commit latency since open (the whole transaction, fsync included). */
    void (*commit_stats)(cu_store *s, cu_commit_stats *out);
    /* Up to limit subjects whose erasure is queued, ordered by (tenant, subject) after
     * (after_tenant, after_subject), each with the number of its records left. Caller frees
     * *out. */
    cu_rc (*erasure_list)(cu_store *s, cu_id after_tenant, cu_id after_subject, size_t limit,
                          cu_store_erasure **out, size_t *n, cu_err *err);
    /* The tenant's data-subject requests, oldest first (id 0), or the one with that id (*n 0
     * or 1). Caller frees *out. */
    cu_rc (*request_list)(cu_store *s, cu_id tenant, cu_id id, cu_store_request **out, size_t *n,
                          cu_err *err);
    /* One subject's requests in the tenant, oldest first (store_portal.h). */
    cu_rc (*request_list_subject)(cu_store *s, cu_id tenant, cu_id subject,
                                  cu_store_request **out, size_t *n, cu_err *err);
    /* Up to q->limit of the tenant's requests in the queue's order (cu_store_request_query).
     * Caller frees *out. */
    cu_rc (*request_page)(cu_store *s, cu_id tenant, const cu_store_request_query *q,
                          cu_store_request **out, size_t *n, cu_err *err);

    /* Master key check values, ordered by version. Caller frees *out. */
    cu_rc (*master_list)(cu_store *s, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                         cu_err *err);
    cu_rc (*tenant_get)(cu_store *s, cu_id id, cu_store_tenant *out, cu_err *err);
    /* Caller frees *out. */
    cu_rc (*tenant_list)(cu_store *s, cu_store_tenant **out, size_t *n, cu_err *err);

    /* The newest version of a key (version 0) or the given one. */
    cu_rc (*key_get)(cu_store *s, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                     cu_store_key *out, cu_err *err);
    /* Every key of a tenant (tenant != 0) or of every tenant, of one kind (kind != 0) or all.
     * Caller releases with cu_store_keys_free(). */
    cu_rc (*key_list)(cu_store *s, cu_id tenant, cu_key_kind kind, cu_store_key **out, size_t *n,
                      cu_err *err);

    cu_rc (*subject_get)(cu_store *s, cu_id tenant, cu_id id, cu_store_subject *out,
                         cu_err *err);
    cu_rc (*record_get)(cu_store *s, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err);
    /* Ids of the records of a subject, oldest first. Caller frees *ids. */
    cu_rc (*record_ids_by_subject)(cu_store *s, cu_id tenant, cu_id subject, cu_id **ids,
                                   size_t *n, cu_err *err);
    /* Ids of a subject's records in one collection (an index of its own: the erasure finds
     * what it keeps without reading the rest). Caller frees *ids. */
    cu_rc (*record_ids_in)(cu_store *s, cu_id tenant, cu_id subject, const char *collection,
                           cu_id **ids, size_t *n, cu_err *err);
    /* How many records a subject has in each collection, at most limit each, by collection
     * name (an erasure certificate's counts: an index alone, no row read, a cost bounded by
     * the number of collections and limit, not by the subject's records). Caller frees *out. */
    cu_rc (*record_counts)(cu_store *s, cu_id tenant, cu_id subject, uint64_t limit,
                           cu_store_count **out, size_t *n, cu_err *err);
    /* A page of up to limit records, each with its fields, read in one snapshot (the export,
     * keyset pagination): with subject != 0, that subject's, oldest first (by created_at, then
     * cursor, as record_ids_by_subject), those after (after_created, after; cursors:
     * store_ids.h); with subject 0, the tenant's own (no subject) by cursor, those past after.
     * The page ends early once its sealed
     * documents and fields hold max_bytes (it has one record at least): a page's memory is
     * bounded whatever the records' sizes. *n 0: no more. Release each with
     * cu_store_record_cleanup, then free *out. */
    cu_rc (*record_page)(cu_store *s, cu_id tenant, cu_id subject, int64_t after_created,
                         cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                         size_t *n, cu_err *err);
    /* Owners of a digest in a scope. Caller frees *ids. */
    cu_rc (*blind_find)(cu_store *s, cu_id tenant, const char *scope,
                        const uint8_t digest[32], cu_id **ids, size_t *n, cu_err *err);
    /* Makes the effect of committed deletes final in every file the backend keeps, so bytes
     * that a transaction deleted (a destroyed key) no longer exist in any of them (P-DSR-4).
     * SQLite: moves the WAL into the database file and truncates it. */
    cu_rc (*checkpoint)(cu_store *s, cu_err *err);
    /* The spec of a collection; CU_ERR_NOT_FOUND if none is declared. Caller frees *spec. */
    cu_rc (*collection_get)(cu_store *s, cu_id tenant, const char *name, char **spec,
                            cu_err *err);

    /* An API key by its id alone (authentication does not know the tenant yet). */
    cu_rc (*apikey_get)(cu_store *s, cu_id id, cu_store_apikey *out, cu_err *err);
    /* A tenant's keys (tenant 0: the operator's), oldest first. Caller frees *out. */
    cu_rc (*apikey_list)(cu_store *s, cu_id tenant, cu_store_apikey **out, size_t *n,
                         cu_err *err);
    /* A user by id, or by the keyed digest of its email. Release with cu_store_user_cleanup. */
    cu_rc (*user_get)(cu_store *s, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err);
    cu_rc (*user_find)(cu_store *s, cu_id tenant, const uint8_t digest[32], cu_store_user *out,
                       cu_err *err);
    /* A tenant's users, oldest first. Release with cu_store_users_free. */
    cu_rc (*user_list)(cu_store *s, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err);
    /* A session by the hash of its token, with its user's current role; CU_ERR_NOT_FOUND if
     * there is none (or its user is gone). */
    cu_rc (*session_get)(cu_store *s, const uint8_t token_hash[32], cu_store_session *out,
                         cu_err *err);
    /* Up to limit entries of the tenant's audit log that touch subject (appended with its
     * subject_id), with seq above after, by seq: the index up to its mark (AUDIT_SUBJECT_INDEX),
     * then the log's entries past the mark, a range of its key. Caller frees *out. */
    cu_rc (*audit_by_subject)(cu_store *s, cu_id tenant, cu_id subject, uint64_t after,
                              size_t limit, cu_store_access **out, size_t *n, cu_err *err);
    /* A read-only handle on which every read sees one snapshot: the committed state at this
     * call, whatever commits after (the subject's export reads itself whole through one).
     * Close it with cu_store_close; hold it briefly (SQLite: a WAL checkpoint cannot pass it).
     * After a read of it fails, close it: a later read may see another state. */
    cu_rc (*snapshot)(cu_store *s, cu_store **out, cu_err *err);
    /* The signed certificate of the subject's erasure (ERASURE_CERT), CU_ERR_NOT_FOUND if none.
     * Caller frees *text. NULL in a backend's table: read through a snapshot (store.c). */
    cu_rc (*erasure_certificate)(cu_store *s, cu_id tenant, cu_id subject, char **text,
                                 cu_err *err);
    /* The collections holding the subject's records, by name, with their counts (none while
     * its erasure is under way). Caller frees *out. */
    cu_rc (*subject_collections)(cu_store *s, cu_id tenant, cu_id subject,
                                 cu_store_collection_count **out, size_t *n, cu_err *err);
    /* The tenant's own records (no subject) as record_page pages a subject's: by (created_at,
     * cursor), those after (after_created, after), each with its fields, ended early by max_bytes.
     * The order of the subject index, which holds them together: record_page's own records by
     * id walk every record of the tenant at random to find them (issue 17, item 4). NULL in a
     * backend's table: store.c gives record_page's (by id; the same keyset continues it). */
    cu_rc (*record_page_own)(cu_store *s, cu_id tenant, int64_t after_created, cu_id after,
                             size_t limit, size_t max_bytes, cu_store_record **out, size_t *n,
                             cu_err *err);
    /* record_page of a subject (not 0) in one collection alone. */
    cu_rc (*record_page_in)(cu_store *s, cu_id tenant, cu_id subject, const char *collection,
                            int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                            cu_store_record **out, size_t *n, cu_err *err);
    /* P-BAK-1: writes a consistent copy of the committed state (one snapshot, writers going
     * on) to a new file at dest, always a SQLite vault database, and its schema version; a
     * backup encrypts it. NULL in a backend that cannot. SQLite: VACUUM INTO from a read-only
     * connection; PostgreSQL: one REPEATABLE READ transaction copied into SQLite (pg_backup.c). */
    cu_rc (*dump)(cu_store *s, const char *dest, int *schema_version, cu_err *err);
    /* A read scope (optional: NULL in a backend without one): from read_begin to read_end,
     * every read the calling thread makes of s sees one snapshot, the committed state at its
     * first read, as one read transaction (one request's reads, issue 17). A second begin on
     * the same thread is a no-op; end without a scope too. Without a free connection the
     * thread reads as if unscoped. End it before waiting for a commit: its own writes are not
     * in it (cu_commit does, commit.c). Hold it briefly: a WAL checkpoint cannot pass it.
     * Returns 1 if the thread now reads in a scope (one snapshot), 0 if unscoped (no
     * connection was free): what the core may memoize depends on it (review 5, F7). */
    int (*read_begin)(cu_store *s);
    void (*read_end)(cu_store *s);
    /* The webhook outbox (docs/webhooks.md). A tenant's endpoints (id 0) or one (*n 0 or 1),
     * oldest first; release with cu_store_webhook_endpoints_free. */
    cu_rc (*webhook_endpoints)(cu_store *s, cu_id tenant, cu_id id,
                               cu_store_webhook_endpoint **out, size_t *n, cu_err *err);
    /* Up to limit of a tenant's events (id 0: those with ids below before, 0 none, newest
     * first) or the one with that id; release with cu_store_webhook_events_free. */
    cu_rc (*webhook_events)(cu_store *s, cu_id tenant, cu_id id, cu_id before, size_t limit,
                            cu_store_webhook_event **out, size_t *n, cu_err *err);
    /* An event's deliveries (by endpoint) and attempts (oldest first). Caller frees both. */
    cu_rc (*webhook_deliveries)(cu_store *s, cu_id tenant, cu_id event,
                                cu_store_webhook_delivery **out, size_t *n,
                                cu_store_webhook_attempt **attempts, size_t *na, cu_err *err);
    /* Up to limit PENDING deliveries, of every tenant, due at now (next_at <= now) and not
     * leased past now, to endpoints that exist and are enabled, oldest first; release with
     * cu_store_webhook_jobs_free. Claim each (WEBHOOK_CLAIM) before sending it. */
    cu_rc (*webhook_due)(cu_store *s, int64_t now, size_t limit, cu_store_webhook_job **out,
                         size_t *n, cu_err *err);
    /* P-SHR-1: the tenant's disclosure rows, of one subject (0: all), newest first, at most
     * limit; *out (free()) holds at least one element. */
    cu_rc (*disclosure_list)(cu_store *s, cu_id tenant, cu_id subject, size_t limit,
                             cu_store_disclosure **out, size_t *n, cu_err *err);
    const cu_store_incident_ops *incident; /* breach incidents (store_incident.h) */
    const cu_store_analytics_ops *analytics; /* the privacy budget (store_analytics.h) */
    const cu_store_sso_ops *sso;           /* single sign-on (store_sso.h) */
    /* Public record ids from internal keys (store_ids.h); NULL: the backend's ids are random. */
    int (*set_idmap)(cu_store *s, const cu_store_idmap *m);
    cu_rc (*record_id_new)(cu_store *s, cu_id *out, cu_err *err);
} cu_store_ops;

/* Every store handle starts with its ops table. */
struct cu_store {
    const cu_store_ops *ops;
    cu_id instance; /* cu_store_instance: set at open by a backend that names its connections */
};

/* Opens the store at location, picking the backend from it: a file path is a SQLite database
 * (created if missing, its schema upgraded); a "postgresql://" or "postgres://" URL is a
 * PostgreSQL database (libpq's URL; its schema created or upgraded; CU_ERR_UNAVAILABLE if the
 * server cannot be reached). Close with cu_store_close. */
cu_rc cu_store_open(const char *location, cu_store **out, cu_err *err);
/* The id this open store's database connections carry for the other processes on its
 * database (PostgreSQL: each connection's application_name is "custos:<id>"), or 0 where they
 * cannot see it (SQLite, one process alone; a role that may not read pg_stat_activity; Citus).
 * A lease taken with it (lease.instance) is free once no connection of it is left and a short
 * grace has passed: its holder died (docs/store.md, "Several writers on one database"). */
cu_id cu_store_instance(const cu_store *s);
/* Closes s; NULL is a no-op. */
void cu_store_close(cu_store *s);
/* The location of a data directory's own store (its embedded database), into out. */
cu_rc cu_store_location(const char *data_dir, char *out, size_t cap, cu_err *err);

/* Thin wrappers: cu_store_x(s, ...) is s->ops->x(s, ...), documented in cu_store_ops. */
cu_rc cu_store_apply(cu_store *s, const cu_store_op *ops, size_t n, cu_err *err);
cu_rc cu_store_dump(cu_store *s, const char *dest, int *schema_version, cu_err *err);
cu_rc cu_store_policy_grant_get(cu_store *s, cu_id tenant, int *admins, cu_err *err);
cu_rc cu_store_audit_key_get(cu_store *s, uint8_t pk[32], int *found, int *checkpoints,
                             cu_err *err);
cu_rc cu_store_audit_head(cu_store *s, cu_id tenant, uint64_t *seq, uint8_t hash[32], cu_err *err);
cu_rc cu_store_audit_list(cu_store *s, cu_id tenant, const cu_audit_filter *f, cu_audit_entry **out,
                          size_t *n, cu_err *err);
cu_rc cu_store_audit_scan(cu_store *s, cu_id tenant, uint64_t from,
                          int (*fn)(void *arg, const cu_audit_entry *e), void *arg, cu_err *err);
cu_rc cu_store_audit_rows(cu_store *s, cu_id tenant, uint64_t from, uint64_t to,
                          int (*fn)(void *arg, const cu_audit_row *r), void *arg, cu_err *err);
cu_rc cu_store_audit_seq_before(cu_store *s, cu_id tenant, int64_t before_ms, uint64_t *seq,
                                cu_err *err);
cu_rc cu_store_audit_checkpoints(cu_store *s, cu_id tenant, cu_audit_checkpoint **out, size_t *n,
                                 cu_err *err);
cu_rc cu_store_policy_get(cu_store *s, cu_id tenant, unsigned *version, char **text, cu_err *err);
cu_rc cu_store_policy_at(cu_store *s, cu_id tenant, unsigned *version, char **text,
                         int64_t *created_at, cu_err *err);
cu_rc cu_store_policy_versions(cu_store *s, cu_id tenant, cu_store_policy_version **out,
                               size_t *n, cu_err *err);
cu_rc cu_store_record_meta_list(cu_store *s, cu_id tenant, cu_id after, size_t limit,
                                cu_store_record_meta **out, size_t *n, cu_err *err);
cu_rc cu_store_subject_state(cu_store *s, cu_id tenant, cu_id subject, int *restricted,
                             int64_t *last_activity, cu_err *err);
cu_rc cu_store_subject_ids(cu_store *s, cu_id tenant, cu_id after, size_t limit, cu_id **ids,
                           size_t *n, cu_err *err);
cu_rc cu_store_consent_list(cu_store *s, cu_id tenant, cu_id subject, const char *purpose,
                            cu_store_consent **out, size_t *n, cu_err *err);
cu_rc cu_store_hold_list(cu_store *s, cu_id tenant, cu_store_hold **out, size_t *n, cu_err *err);
void cu_store_commit_stats(cu_store *s, cu_commit_stats *out);
cu_rc cu_store_erasure_list(cu_store *s, cu_id after_tenant, cu_id after_subject, size_t limit,
                            cu_store_erasure **out, size_t *n, cu_err *err);
cu_rc cu_store_request_list(cu_store *s, cu_id tenant, cu_id id, cu_store_request **out, size_t *n,
                            cu_err *err);
cu_rc cu_store_request_page(cu_store *s, cu_id tenant, const cu_store_request_query *q,
                            cu_store_request **out, size_t *n, cu_err *err);
cu_rc cu_store_master_list(cu_store *s, uint32_t **versions, uint8_t (**checks)[32], size_t *n,
                           cu_err *err);
cu_rc cu_store_tenant_get(cu_store *s, cu_id id, cu_store_tenant *out, cu_err *err);
cu_rc cu_store_tenant_list(cu_store *s, cu_store_tenant **out, size_t *n, cu_err *err);
cu_rc cu_store_key_get(cu_store *s, cu_id tenant, cu_key_kind kind, cu_id owner, uint32_t version,
                       cu_store_key *out, cu_err *err);
cu_rc cu_store_key_list(cu_store *s, cu_id tenant, cu_key_kind kind, cu_store_key **out, size_t *n,
                        cu_err *err);
cu_rc cu_store_subject_get(cu_store *s, cu_id tenant, cu_id id, cu_store_subject *out, cu_err *err);
cu_rc cu_store_record_get(cu_store *s, cu_id tenant, cu_id id, cu_store_record *out, cu_err *err);
cu_rc cu_store_record_ids_by_subject(cu_store *s, cu_id tenant, cu_id subject, cu_id **ids,
                                     size_t *n, cu_err *err);
cu_rc cu_store_record_ids_in(cu_store *s, cu_id tenant, cu_id subject, const char *collection,
                             cu_id **ids, size_t *n, cu_err *err);
cu_rc cu_store_record_counts(cu_store *s, cu_id tenant, cu_id subject, uint64_t limit,
                             cu_store_count **out, size_t *n, cu_err *err);
cu_rc cu_store_record_page(cu_store *s, cu_id tenant, cu_id subject, int64_t after_created,
                           cu_id after, size_t limit, size_t max_bytes, cu_store_record **out,
                           size_t *n, cu_err *err);
cu_rc cu_store_blind_find(cu_store *s, cu_id tenant, const char *scope, const uint8_t digest[32],
                          cu_id **ids, size_t *n, cu_err *err);
cu_rc cu_store_checkpoint(cu_store *s, cu_err *err);
/* The same truncating checkpoint, waiting at most wait_ms for readers (cu_store_checkpoint
 * waits up to the busy timeout, 10 s, and holds the writer meanwhile): CU_ERR_BUSY if a reader
 * on an older snapshot (an export) still needs the log. P-DSR-4: an erasure's scrub. */
cu_rc cu_store_checkpoint_brief(cu_store *s, int wait_ms, cu_err *err);
cu_rc cu_store_erasure_certificate(cu_store *s, cu_id tenant, cu_id subject, char **text,
                                   cu_err *err);
cu_rc cu_store_collection_get(cu_store *s, cu_id tenant, const char *name, char **spec,
                              cu_err *err);
cu_rc cu_store_apikey_get(cu_store *s, cu_id id, cu_store_apikey *out, cu_err *err);
cu_rc cu_store_apikey_list(cu_store *s, cu_id tenant, cu_store_apikey **out, size_t *n,
                           cu_err *err);
cu_rc cu_store_user_get(cu_store *s, cu_id tenant, cu_id id, cu_store_user *out, cu_err *err);
cu_rc cu_store_user_find(cu_store *s, cu_id tenant, const uint8_t digest[32], cu_store_user *out,
                         cu_err *err);
cu_rc cu_store_user_list(cu_store *s, cu_id tenant, cu_store_user **out, size_t *n, cu_err *err);
cu_rc cu_store_session_get(cu_store *s, const uint8_t token_hash[32], cu_store_session *out,
                           cu_err *err);
cu_rc cu_store_audit_by_subject(cu_store *s, cu_id tenant, cu_id subject, uint64_t after,
                                size_t limit, cu_store_access **out, size_t *n, cu_err *err);
cu_rc cu_store_snapshot(cu_store *s, cu_store **out, cu_err *err);
int cu_store_read_begin(cu_store *s);
void cu_store_read_end(cu_store *s);
cu_rc cu_store_subject_collections(cu_store *s, cu_id tenant, cu_id subject,
                                   cu_store_collection_count **out, size_t *n, cu_err *err);
cu_rc cu_store_record_page_in(cu_store *s, cu_id tenant, cu_id subject, const char *collection,
                              int64_t after_created, cu_id after, size_t limit, size_t max_bytes,
                              cu_store_record **out, size_t *n, cu_err *err);
cu_rc cu_store_record_page_own(cu_store *s, cu_id tenant, int64_t after_created, cu_id after,
                               size_t limit, size_t max_bytes, cu_store_record **out, size_t *n,
                               cu_err *err);

/* P-RET-5, the one definition of hold coverage (docs/store.md): whether h, in force, covers
 * the record (record != 0, of that subject, 0 for the tenant's own) or the subject as a whole
 * (record 0: a hold on the subject or on any of its records). A tenant-wide hold covers
 * everything. */
int cu_store_hold_covers(const cu_store_hold *h, cu_id subject, cu_id record);

/* Frees what an op a caller built owns, by its type: every blob (data), and a record's or a
 * reseal's field array with its names and ciphertexts; zeroes the op. Pointers to text
 * (names, specs, policy text, scope) are borrowed and not freed. */
void cu_store_op_cleanup(cu_store_op *op);

/* Releases what reads return. NULL is a no-op; the structs themselves are the caller's. */
void cu_store_key_cleanup(cu_store_key *k);
void cu_store_keys_free(cu_store_key *keys, size_t n);
void cu_store_subject_cleanup(cu_store_subject *s);
void cu_store_record_cleanup(cu_store_record *r);
/* Frees the blobs of u (the struct itself is the caller's). */
void cu_store_user_cleanup(cu_store_user *u);
void cu_store_users_free(cu_store_user *users, size_t n);
void cu_store_holds_free(cu_store_hold *holds, size_t n);
void cu_store_webhook_endpoints_free(cu_store_webhook_endpoint *e, size_t n);
void cu_store_webhook_events_free(cu_store_webhook_event *e, size_t n);
void cu_store_webhook_jobs_free(cu_store_webhook_job *d, size_t n);

cu_rc cu_store_webhook_endpoints(cu_store *s, cu_id tenant, cu_id id,
                                 cu_store_webhook_endpoint **out, size_t *n, cu_err *err);
cu_rc cu_store_webhook_events(cu_store *s, cu_id tenant, cu_id id, cu_id before, size_t limit,
                              cu_store_webhook_event **out, size_t *n, cu_err *err);
cu_rc cu_store_webhook_deliveries(cu_store *s, cu_id tenant, cu_id event,
                                  cu_store_webhook_delivery **out, size_t *n,
                                  cu_store_webhook_attempt **attempts, size_t *na, cu_err *err);
cu_rc cu_store_webhook_due(cu_store *s, int64_t now, size_t limit, cu_store_webhook_job **out,
                           size_t *n, cu_err *err);

#endif
