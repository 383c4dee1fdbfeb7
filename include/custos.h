/*
 * custos.h: the public C API of the Custos vault core.
 *
 * The CLI, the HTTP server and the tests all drive the vault through these functions. The core
 * knows nothing of HTTP or SQL: it enforces the privacy promises (see PROMISES.md, ids such as
 * P-ENC-2) over an abstract store and the crypto layer.
 *
 * Conventions:
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

#define CU_VERSION "0.1.0"

/* Error codes. The names returned by cu_rc_name() are stable and part of the API. */
typedef enum cu_rc {
    CU_OK = 0,
    CU_ERR_NOMEM,           /* "out_of_memory" */
    CU_ERR_INVALID,         /* "invalid": malformed or out-of-range input */
    CU_ERR_NOT_FOUND,       /* "not_found": no such object, or not visible to this tenant */
    CU_ERR_EXISTS,          /* "already_exists": a unique value is taken */
    CU_ERR_FORBIDDEN_FIELD, /* "forbidden_field": the field may never be stored (P-ENC-3) */
    CU_ERR_CRYPTO,          /* "integrity": a ciphertext failed authentication */
    CU_ERR_KEY,             /* "key_unavailable": key missing, destroyed or mismatched */
    CU_ERR_IO,              /* "io": file system error */
    CU_ERR_STORE,           /* "store": database error */
    CU_ERR_UNSUPPORTED,     /* "unsupported": the platform lacks a required feature */
    CU_ERR_CONFLICT,        /* "conflict": the object's state does not allow this */
    CU_ERR_PERM,            /* "insecure_permissions": a secret file is readable by others */
    CU_ERR_LIMIT,           /* "too_large": a size limit was exceeded */
    CU_ERR_AUTH,            /* "unauthenticated": credentials did not verify */
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

typedef uint64_t cu_id;

#define CU_ID_STRLEN 21 /* 20 digits and the NUL */

/* Writes id as decimal into buf. */
void cu_id_format(cu_id id, char buf[CU_ID_STRLEN]);

/* Parses a decimal id strictly (digits only, no sign, no leading zero, fits in 64 bits, not 0).
 * Returns CU_OK or CU_ERR_INVALID. */
cu_rc cu_id_parse(const char *s, cu_id *out);

/* Zeroes a NUL-terminated string in place in a way the compiler cannot remove (for passphrases
 * and personal values held by callers). NULL is a no-op. */
void cu_str_wipe(char *s);

/* --- the vault --------------------------------------------------------------------------- */

typedef struct cu_vault cu_vault;

typedef struct cu_vault_opts {
    const char *data_dir;   /* directory holding custos.db and master.key */
    const char *passphrase; /* NULL: the master key lives in the key file; else the key file
                               holds master keys wrapped under Argon2id(passphrase) */
    int allow_xchacha;      /* allow XChaCha20-Poly1305 where the CPU lacks AES-NI */
} cu_vault_opts;

/* Creates a new data directory (mode 0700) with a fresh master key and an empty database.
 * Fails with CU_ERR_EXISTS if the directory already holds a vault. */
cu_rc cu_vault_init(const cu_vault_opts *opts, cu_err *err);

/* Opens an existing vault: checks the key file's permissions, loads and verifies the master
 * keys against the database, and upgrades the schema if it is older. Caller owns *out and
 * releases it with cu_vault_close(). */
cu_rc cu_vault_open(const cu_vault_opts *opts, cu_vault **out, cu_err *err);

/* Closes the store and wipes every key held in memory. NULL is a no-op. */
void cu_vault_close(cu_vault *v);

/* Who is acting and why. Carried by every operation on tenant data so that later layers
 * (audit, purposes) see it; all members may be NULL. Never holds personal values. */
typedef struct cu_ctx {
    const char *actor;      /* e.g. "cli", "key:123", "user:456", "operator" */
    const char *purpose;    /* e.g. "support" */
    const char *request_id; /* correlation id */
    const char *source;     /* source address */
} cu_ctx;

/* --- tenants ----------------------------------------------------------------------------- */

#define CU_NAME_MAX 128

typedef enum cu_tenant_state {
    CU_TENANT_ACTIVE = 0,
    CU_TENANT_TERMINATED = 1,
    CU_TENANT_PURGED = 2
} cu_tenant_state;

typedef struct cu_tenant {
    cu_id id;
    char name[CU_NAME_MAX];
    cu_tenant_state state;
    int64_t created_at; /* unix seconds */
} cu_tenant;

/* Creates a tenant with its own tenant key, data key and index key (P-ISO-3). name: 1 to 127
 * bytes of printable UTF-8. */
cu_rc cu_tenant_create(cu_vault *v, const cu_ctx *ctx, const char *name, cu_tenant *out,
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
/* Erases a subject by crypto-shredding: its key is destroyed in one durable transaction, then
 * its records, index entries and row are deleted (P-DSR-4). */
cu_rc cu_subject_erase(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err);

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

#define CU_COLLECTION_MAX 64

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

#endif
