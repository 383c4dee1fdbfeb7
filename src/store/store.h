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

#include "custos.h"

/* Kinds of wrapped key (the key table, DESIGN.md, Keys). */
typedef enum cu_key_kind {
    CU_KEY_TENANT = 1,  /* owner 0; parent: the master key version */
    CU_KEY_DATA = 2,    /* owner 0; parent: the tenant key version */
    CU_KEY_INDEX = 3,   /* owner 0; parent: the tenant key version */
    CU_KEY_SUBJECT = 4  /* owner: the subject id; parent: the tenant key version */
} cu_key_kind;

typedef struct cu_blob {
    uint8_t *data;
    size_t len;
} cu_blob;

typedef struct cu_store_tenant {
    cu_id id;
    char name[CU_NAME_MAX];
    int state;
    int64_t created_at;
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
} cu_store_subject;

typedef struct cu_store_field {
    char *name;
    cu_blob ct;
} cu_store_field;

typedef struct cu_store_record {
    cu_id tenant_id;
    cu_id id;
    cu_id subject_id; /* 0: the tenant's own */
    char collection[CU_COLLECTION_MAX];
    uint32_t key_version;
    int64_t created_at;
    int64_t updated_at;
    cu_blob doc;             /* sealed document without its sensitive fields */
    cu_store_field *fields;  /* sealed sensitive fields */
    size_t nfields;
} cu_store_record;

typedef struct cu_store_blind {
    cu_id tenant_id;
    const char *scope; /* e.g. "s:email", "r:employees:ssn" */
    uint8_t digest[32];
    cu_id owner_id;
    int unique; /* refuse a second owner with the same digest in this scope */
} cu_store_blind;

typedef enum cu_store_op_type {
    CU_OP_MASTER_ADD = 1,  /* master: a master key version and its check value */
    CU_OP_TENANT_PUT,      /* tenant: insert */
    CU_OP_TENANT_STATE,    /* tenant: update state */
    CU_OP_KEY_PUT,         /* key: insert; CU_ERR_EXISTS if that version exists */
    CU_OP_KEY_REWRAP,      /* key: new wrapping of an existing version; a no-op if the key
                              was destroyed meanwhile, so a rotation never resurrects it */
    CU_OP_KEY_DELETE,      /* key: every version of (tenant, kind, owner) */
    CU_OP_SUBJECT_PUT,     /* subject: insert or replace */
    CU_OP_SUBJECT_DELETE,  /* del: the subject, its records (with their fields and blind index
                              entries) and its own blind index entries */
    CU_OP_RECORD_PUT,      /* record: insert, with its fields; CU_ERR_EXISTS if the id is taken */
    CU_OP_RECORD_REPLACE,  /* record: new document and fields of an existing record;
                              CU_ERR_NOT_FOUND if it was deleted meanwhile */
    CU_OP_RECORD_DELETE,   /* record: the row, its fields and its blind index entries */
    CU_OP_BLIND_PUT,       /* blind */
    CU_OP_BLIND_DELETE,    /* blind: every entry of (tenant, owner) */
    CU_OP_COLLECTION_PUT   /* collection: insert or replace */
} cu_store_op_type;

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
        } del; /* SUBJECT_DELETE, RECORD_DELETE, BLIND_DELETE (id = owner) */
        struct {
            cu_id tenant_id;
            cu_key_kind kind;
            cu_id owner_id;
        } key_del;
    } u;
} cu_store_op;

typedef struct cu_store cu_store;

/* A backend. Every function returns CU_OK or an error with err set; CU_ERR_NOT_FOUND when a
 * single-object read finds nothing; CU_ERR_EXISTS when a batch breaks a uniqueness rule (the
 * whole batch is then rolled back). Functions are safe to call from several threads. */
typedef struct cu_store_ops {
    const char *name;
    cu_rc (*open)(const char *target, cu_store **out, cu_err *err);
    void (*close)(cu_store *s);
    /* Commits ops[0..n) as one durable transaction. */
    cu_rc (*apply)(cu_store *s, const cu_store_op *ops, size_t n, cu_err *err);

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
    /* Owners of a digest in a scope. Caller frees *ids. */
    cu_rc (*blind_find)(cu_store *s, cu_id tenant, const char *scope,
                        const uint8_t digest[32], cu_id **ids, size_t *n, cu_err *err);
    /* Moves every committed page into the database file and truncates the WAL, so bytes that
     * a transaction deleted (a destroyed key) no longer exist in any file (P-DSR-4). */
    cu_rc (*checkpoint)(cu_store *s, cu_err *err);
    /* The spec of a collection; CU_ERR_NOT_FOUND if none is declared. Caller frees *spec. */
    cu_rc (*collection_get)(cu_store *s, cu_id tenant, const char *name, char **spec,
                            cu_err *err);
} cu_store_ops;

/* Every store handle starts with its ops table. */
struct cu_store {
    const cu_store_ops *ops;
};

extern const cu_store_ops cu_store_sqlite;

/* Opens the SQLite store at path (creating it), upgrading its schema to the newest version. */
cu_rc cu_store_sqlite_open(const char *path, cu_store **out, cu_err *err);

/* For migration tests: opens (creating) a SQLite store and migrates it only up to version. */
cu_rc cu_store_sqlite_open_at(const char *path, int version, cu_store **out, cu_err *err);

/* The newest schema version this build knows. */
int cu_store_sqlite_schema_version(void);

/* Releases what reads return. NULL is a no-op; the structs themselves are the caller's. */
void cu_store_key_cleanup(cu_store_key *k);
void cu_store_keys_free(cu_store_key *keys, size_t n);
void cu_store_subject_cleanup(cu_store_subject *s);
void cu_store_record_cleanup(cu_store_record *r);

#endif
