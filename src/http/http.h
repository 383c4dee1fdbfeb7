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
    /* Where POST /v1/backups writes (P-BAK-1); NULL: the route answers 409 conflict. */
    const char *backup_dir;
} cu_http_config;

/* Serves until SIGTERM or SIGINT: then stops accepting, lets in-flight requests finish, and
 * returns CU_OK. Prints the URL (and, through announce, anything else) on stdout at start. */
cu_rc cu_http_serve(const cu_http_config *cfg, cu_vault *v, cu_err *err);

/* Makes a self-signed ECDSA P-256 certificate for localhost and 127.0.0.1 into cert_path and
 * key_path (0600) unless both exist; writes the certificate's SHA-256 fingerprint (hex with
 * colons, 96 bytes) into fp. */
cu_rc cu_http_tls_ensure(const char *cert_path, const char *key_path, char fp[128], int *created,
                         cu_err *err);

/* The JSON views the API answers (tenants, subjects, records, the audit log ...) are in
 * src/repr/repr.h, shared with the CLI. */

#endif
