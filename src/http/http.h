/*
 * http.h: the face of src/http/, the HTTPS API of Custos over libmicrohttpd and GnuTLS.
 *
 * The only place that includes <microhttpd.h> or GnuTLS headers. Handlers parse and validate,
 * call the core (include/custos.h), and map its error codes to statuses; they hold no rules
 * of their own beyond authentication, roles and tenant matching.
 */
#ifndef CU_HTTP_H
#define CU_HTTP_H

#include <stddef.h>

#include "custos.h"

typedef struct cu_http_config {
    const char *listen;        /* address to bind, default 127.0.0.1 */
    unsigned port;             /* 0: any free port (printed at start) */
    const char *cert;          /* PEM certificate chain; NULL: self-signed in the data directory */
    const char *key;           /* PEM private key */
    const char *data_dir;      /* for the self-signed certificate */
    unsigned threads;          /* 0: one per core */
    size_t max_body;           /* bytes; 0: 1 MiB */
    int quiet;                 /* no access log */
    unsigned max_conns;        /* open connections at most; 0: 1024 */
    unsigned max_conns_per_ip; /* from one client address; 0: 64 */
    unsigned header_timeout;   /* seconds for the TLS handshake and a request's headers; 0: 10 */
    unsigned body_timeout;     /* seconds for a request's body after its headers; 0: 60 */
    unsigned reply_timeout;    /* seconds for sending an answer once it is ready; 0: 60 */
    /* Origins besides the server's own ("https://" and the Host header) whose pages may make
     * state changes with the session cookie: comma-separated, e.g. "https://app.example";
     * NULL: none. */
    const char *allowed_origins;
} cu_http_config;

/* Serves until SIGTERM or SIGINT: then stops accepting, lets in-flight requests finish, and
 * returns CU_OK. Prints the URL (and, through announce, anything else) on stdout at start. */
cu_rc cu_http_serve(const cu_http_config *cfg, cu_vault *v, cu_err *err);

/* Makes a self-signed ECDSA P-256 certificate for localhost and 127.0.0.1 into cert_path and
 * key_path (0600) unless both exist; writes the certificate's SHA-256 fingerprint (hex with
 * colons, 96 bytes) into fp. */
cu_rc cu_http_tls_ensure(const char *cert_path, const char *key_path, char fp[128], int *created,
                         cu_err *err);

/* --- the audit log's JSON forms (docs/audit.md) ---------------------------------------------
 * What the API answers and `custos audit` prints, made in one place so that both export the
 * same document. Each returns a tree the caller owns (cJSON_Delete), or NULL when out of
 * memory. Ids and seqs are decimal strings, times RFC 3339 UTC with milliseconds, hashes,
 * signatures and keys lowercase hex; an entry's text members are exactly what was hashed. */
struct cJSON;

/* Parses a time: unix milliseconds (1 to 15 digits), a date YYYY-MM-DD (midnight UTC), or RFC
 * 3339 YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), from 1970 to 9999; a space stands for
 * the offset's "+" (what an unencoded "+" in a URL query decodes to). The fraction is cut to
 * milliseconds. Returns CU_OK with *ms set, or CU_ERR_INVALID. */
cu_rc cu_http_time_parse(const char *s, int64_t *ms);
/* Writes unix milliseconds as "2026-11-23T18:32:25.123Z". */
void cu_http_time_format(int64_t ms, char out[32]);

/* One entry: its twelve members, in the order of the canonical encoding, and "digest" for a
 * record write's (format 2). */
/* The JSON documents of tenants, subjects, records and id lists, shared by the API and the CLI
 * so both print the same shapes. Caller owns the result (cJSON_Delete). */
struct cJSON *cu_http_tenant_json(const cu_tenant *t);
/* Adds an id as a decimal string member, and a unix time as an RFC 3339 UTC string member. */
void cu_http_add_id(struct cJSON *o, const char *name, cu_id id);
void cu_http_add_time(struct cJSON *o, const char *name, int64_t t);
struct cJSON *cu_http_subject_json(const cu_subject *s);
struct cJSON *cu_http_record_json(const cu_record *r);
struct cJSON *cu_http_ids_json(const cu_id *ids, size_t n);
/* A legal hold with its reasons (the API's and the CLI's view). */
struct cJSON *cu_http_hold_json(const cu_hold *h);
/* A sweep's report: counts only. */
struct cJSON *cu_http_sweep_json(const cu_sweep_report *rep);

struct cJSON *cu_http_audit_entry_json(const cu_audit_entry *e);
/* {"entries": [...], "next": the last seq when the page is full (n == limit), else null}. */
struct cJSON *cu_http_audit_page_json(const cu_audit_entry *e, size_t n, size_t limit);
/* {"tenant_id", "seq", "at", "hash", "signature"}. */
struct cJSON *cu_http_audit_checkpoint_json(const cu_audit_checkpoint *c);
/* {"tenant_id", "algorithm": "Ed25519", "public_key", "checkpoints": [...]}: everything a
 * tenant needs to check the signatures without Custos. */
struct cJSON *cu_http_audit_export_json(cu_id tenant, const uint8_t pk[32],
                                        const cu_audit_checkpoint *c, size_t n);
/* {"ok", "entries", "checkpoints", "first_bad_seq" (string or null), "problem" (or null),
 * "pruned_through" (string or null)}. */
struct cJSON *cu_http_audit_report_json(const cu_audit_report *rep);
/* Reads checkpoints kept outside the vault (docs/audit.md): an export document, one
 * checkpoint (the answer of POST .../audit/checkpoints), or an array of either. The export's
 * public_key, if any, goes to pk (*has_pk 1). Caller frees *out. CU_ERR_INVALID if the text
 * is none of these or holds no checkpoint. */
cu_rc cu_http_audit_held_parse(const char *text, cu_audit_checkpoint **out, size_t *n,
                               uint8_t pk[32], int *has_pk);

#endif
