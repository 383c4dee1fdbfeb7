/*
 * tls_reload.h: libmicrohttpd's certificate callback (tls_reload.c), apart from http_int.h so
 * that only server.c sees GnuTLS's types.
 */
#ifndef CU_TLS_RELOAD_H
#define CU_TLS_RELOAD_H

#include <gnutls/abstract.h>

/* A gnutls_certificate_retrieve_function2: the newest certificate chain and key. */
int http_tls_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length,
                      gnutls_privkey_t *privkey);

#endif
