/*
 * custos_base.h: the ground every layer stands on: the error model (cu_rc, cu_err), ids, the
 * clock, and the plain records the store keeps and the core returns unchanged (audit entries
 * and checkpoints, commit statistics) with the size limits of stored names.
 *
 * src/util, src/crypto and src/store include this header and never include/custos.h, the
 * core's API above them (docs/architecture.md; tests/cli/layering.sh checks it). custos.h
 * includes it, so every user of the public API sees these too. It lives in include/ because it
 * is part of that public API: a program built against libcustos needs only include/.
 *
 * Declared here, defined below the core: cu_rc_name (util/err.c), cu_id_format, cu_id_parse and
 * the clock (util/util.c), cu_str_wipe (util/secmem.c), cu_commit_bounds (the store).
 * Libc types only.
 */
#ifndef CUSTOS_BASE_H
#define CUSTOS_BASE_H

#include <stddef.h>
#include <stdint.h>

/* --- errors -------------------------------------------------------------------------------- */

/* Error codes. The names returned by cu_rc_name() are stable and part of the API. */
typedef enum cu_rc {
    CU_OK = 0,
    CU_ERR_NOMEM,            /* "out_of_memory" */
    CU_ERR_INVALID,          /* "invalid": malformed or out-of-range input */
    CU_ERR_NOT_FOUND,        /* "not_found": no such object, or not visible to this tenant */
    CU_ERR_EXISTS,           /* "already_exists": a unique value is taken */
    CU_ERR_FORBIDDEN_FIELD,  /* "forbidden_field": the field may never be stored (P-ENC-3) */
    CU_ERR_CRYPTO,           /* "integrity": a ciphertext failed authentication */
    CU_ERR_KEY,              /* "key_unavailable": key missing, destroyed or mismatched */
    CU_ERR_IO,               /* "io": file system error */
    CU_ERR_STORE,            /* "store": database error */
    CU_ERR_UNSUPPORTED,      /* "unsupported": the platform lacks a required feature */
    CU_ERR_CONFLICT,         /* "conflict": the object's state does not allow this */
    CU_ERR_PERM,             /* "insecure_permissions": a secret file is readable by others */
    CU_ERR_LIMIT,            /* "too_large": a size limit was exceeded */
    CU_ERR_AUTH,             /* "unauthenticated": credentials did not verify */
    CU_ERR_FORBIDDEN,        /* "forbidden": the principal's role lacks the permission */
    CU_ERR_RATE_LIMITED,     /* "rate_limited": too many attempts; try again later (P-ACC-6) */
    CU_ERR_MFA_REQUIRED,     /* "mfa_required": the account needs a TOTP code (P-ACC-2) */
    CU_ERR_UNAVAILABLE,      /* "unavailable": the vault cannot serve now (shutting down) */
    CU_ERR_UNKNOWN_PURPOSE,  /* "unknown_purpose": the tenant's policy has no such purpose */
    CU_ERR_PURPOSE_DENIED,   /* "purpose_not_allowed": the purpose may not touch this data */
    CU_ERR_CONSENT_REQUIRED, /* "consent_required": the purpose needs the subject's consent */
    CU_ERR_OBJECTED,         /* "objected": the subject objected to this purpose (P-DSR-6) */
    CU_ERR_RESTRICTED,       /* "restricted": the subject's processing is restricted (P-DSR-5) */
    CU_ERR_OPTED_OUT,        /* "opted_out": Global Privacy Control opts out of sale/sharing */
    CU_ERR_UNDER_AGE,        /* "under_age": the subject is under the policy's minimum age */
    CU_ERR_LEGAL_HOLD,       /* "legal_hold": the data is under a legal hold (P-RET-5) */
    CU_ERR_TERMINATED,       /* "tenant_terminated": the tenant's data is read-only (P-RET-2) */
    CU_ERR_NOT_LISTED,       /* "recipient_not_listed": the policy in force does not list that
                                recipient for that purpose and data (P-SHR-1, P-NOT-3) */
    CU_ERR__COUNT
} cu_rc;

/* Returns the stable snake_case name of rc; never NULL. */
const char *cu_rc_name(cu_rc rc);

#define CU_ERR_MSG 256

/* Error details: the code again and a one-line message in PostgreSQL's style (lowercase, no
 * trailing period). Messages never contain personal values. */
typedef struct cu_err {
    cu_rc code;
    char msg[CU_ERR_MSG];
} cu_err;

/* --- ids --------------------------------------------------------------------------------- */

/* Ids are 64-bit, random, never 0; they travel as decimal strings outside C. */
typedef uint64_t cu_id;

#define CU_ID_STRLEN 21 /* 20 digits and the NUL */

/* Writes id as decimal into buf. */
void cu_id_format(cu_id id, char buf[CU_ID_STRLEN]);

/* Parses a decimal id strictly (digits only, no sign, no leading zero, fits in 64 bits, not 0).
 * Returns CU_OK or CU_ERR_INVALID. */
cu_rc cu_id_parse(const char *s, cu_id *out);

/* --- time and strings ------------------------------------------------------------------- */

/* Policy time, in unix seconds: the one clock of Custos (DESIGN.md, Time). Reads the wall clock
 * unless set by cu_clock_set() or, in test builds only (CU_TEST_CLOCK), the CUSTOS_NOW
 * environment variable (unix seconds or YYYY-MM-DD). Release builds ignore CUSTOS_NOW. */
int64_t cu_clock_now(void);
/* Sets the clock to t; 0 returns it to the wall clock. */
void cu_clock_set(int64_t t);
/* Sets the clock from text (unix seconds or YYYY-MM-DD), for `custos sweep --now`: 0 on
 * success; -1 if the text is not a time or this is a release build (no settable clock). */
int cu_clock_set_text(const char *s);
/* 1 if the clock is set (cu_clock_set or CUSTOS_NOW), 0 if it is the wall clock. */
int cu_clock_is_set(void);

/* Zeroes a NUL-terminated string in place in a way the compiler cannot remove (for passphrases
 * and personal values held by callers). NULL is a no-op. */
void cu_str_wipe(char *s);

/* --- limits of stored names ------------------------------------------------------------ */

#define CU_NAME_MAX 128       /* a tenant's name, with the NUL */
#define CU_COLLECTION_MAX 64  /* a collection's name (cu_collection_name_ok), with the NUL */
#define CU_APIKEY_NAME_MAX 64 /* an API key's name, with the NUL */

/* --- records the store keeps and the core returns --------------------------------------- */

/* Commit latency of the store, for /metrics: a cumulative-friendly histogram. */
#define CU_COMMIT_BUCKETS 10
extern const double cu_commit_bounds[CU_COMMIT_BUCKETS]; /* upper bounds, seconds */
typedef struct cu_commit_stats {
    uint64_t groups;   /* group commits by cu_commit (each one transaction) */
    uint64_t requests; /* requests those groups carried: requests / groups = mean group size */
    uint64_t count;
    double seconds;                         /* sum */
    uint64_t bucket[CU_COMMIT_BUCKETS + 1]; /* per bound, then +Inf; not cumulative */
} cu_commit_stats;

/* One entry: who did what to which object, why, when, from where, with what outcome. Ids and
 * names only, never a personal value (P-AUD-4). Each tenant has its own chain: hash =
 * SHA-256("cu-audit1" | the entry's members | prev), docs/audit.md (P-AUD-2); tenant 0 is the
 * platform's log. */
typedef struct cu_audit_entry {
    cu_id tenant_id;
    uint64_t seq;    /* 1, 2, 3 ... within the tenant */
    int64_t at;      /* unix milliseconds */
    char actor[48];  /* "key:<id>", "user:<id>", "operator:key:<id>", "cli" */
    char action[32]; /* "record.read", "subject.erase", "apikey.create", ... */
    char object[96]; /* "record:<id>", "collection:<name>", ... */
    char purpose[65];
    char source[64];
    char request_id[33];
    char outcome[24]; /* "ok" */
    uint8_t prev[32];
    uint8_t hash[32];
    int has_digest;     /* format 2 ("cu-audit2"): a write's ciphertext digest follows */
    uint8_t digest[32]; /* SHA-256 of the sealed document a record write stored */
    cu_id subject_id;   /* the data subject the entry touches, 0 none: stored beside the entry,
                         * not hashed, not read back; the store indexes it (docs/store.md) */
} cu_audit_entry;

/* Filters for cu_audit_list; zero or NULL members match everything. */
typedef struct cu_audit_filter {
    const char *actor;
    const char *action;
    const char *object;
    const char *object_prefix; /* objects that begin with it, character for character
                                * ("subject:12:": a subject's consents, cookie choices) */
    const char *purpose;
    int64_t from_ms, to_ms; /* inclusive range of at */
    uint64_t after_seq;     /* cursor: entries after this seq */
    size_t limit;           /* 0: 100; at most 1000 */
} cu_audit_filter;

/* A signed checkpoint: the chain's hash at seq, signed with the vault's Ed25519 audit key over
 * "cu-ckpt1" | tenant | seq | at | hash, so a tenant can keep it and verify independently. */
typedef struct cu_audit_checkpoint {
    cu_id tenant_id;
    uint64_t seq;
    int64_t at;
    uint8_t hash[32];
    uint8_t sig[64];
    int anchor; /* 1: the signed start of a pruned log; signed over "cu-anch1" instead */
} cu_audit_checkpoint;

/* A tenant's lifecycle state, as the store keeps it (the store closes a tenant: docs/store.md). */
typedef enum cu_tenant_state {
    CU_TENANT_ACTIVE = 0,
    CU_TENANT_TERMINATED = 1,
    CU_TENANT_PURGED = 2
} cu_tenant_state;

#endif
