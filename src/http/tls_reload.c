/*
 * tls_reload.c: the server's certificate and key, reloaded on SIGHUP without dropping a
 * connection (docs/operations.md, Certificates). libmicrohttpd asks for them at each TLS
 * handshake (MHD_OPTION_HTTPS_CERT_CALLBACK): a new connection gets the newest pair, an open
 * one keeps the session it has. A pair that does not load, or whose key does not sign for its
 * certificate, is refused and the one in use stays. The pairs replaced are kept until the
 * server stops: a handshake may still be using one, and a reload is rare.
 *
 * Also sd_notify(3)'s datagram, in the few lines the protocol needs (no libsystemd): READY=1
 * once listening, RELOADING=1 and READY=1 around a reload, STOPPING=1 (packaging/custos.service,
 * Type=notify).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "http_int.h"
#include "tls_reload.h"
#include "util.h"

#define CHAIN_MAX 8

typedef struct creds {
    gnutls_pcert_st pcert[CHAIN_MAX];
    unsigned n;
    gnutls_privkey_t key;
    struct creds *older;
} creds;

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static creds *current;
static char cert_path[600], key_path[600];

static void creds_free(creds *c)
{
    for (unsigned i = 0; i < c->n; i++)
        gnutls_pcert_deinit(&c->pcert[i]);
    if (c->key != NULL)
        gnutls_privkey_deinit(c->key);
    free(c);
}

/* The key must be the chain's first certificate's: their public keys' ids agree. By id, not by
 * a test signature: a signature needs a hash the key takes (Ed25519 and Ed448 take none). */
static int key_matches(creds *c)
{
    unsigned char a[64], b[64];
    size_t na = sizeof(a), nb = sizeof(b);
    gnutls_pubkey_t pub = NULL;
    int ok = 0;

    if (gnutls_pubkey_init(&pub) < 0)
        return 0;
    if (gnutls_pubkey_import_privkey(pub, c->key, 0, 0) >= 0 &&
        gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, a, &na) >= 0 &&
        gnutls_pubkey_get_key_id(c->pcert[0].pubkey, GNUTLS_KEYID_USE_SHA256, b, &nb) >= 0)
        ok = na == nb && memcmp(a, b, na) == 0;
    gnutls_pubkey_deinit(pub);
    return ok;
}

static cu_rc creds_load(const char *cert, size_t clen, const char *key, size_t klen, creds **out,
                        cu_err *err)
{
    /* GnuTLS's datum is not const; the imports only read it. */
    gnutls_datum_t cd = {(unsigned char *)(uintptr_t)cert, (unsigned)clen};
    gnutls_datum_t kd = {(unsigned char *)(uintptr_t)key, (unsigned)klen};
    creds *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    c->n = CHAIN_MAX;
    if (gnutls_pcert_list_import_x509_raw(c->pcert, &c->n, &cd, GNUTLS_X509_FMT_PEM, 0) < 0) {
        c->n = 0;
        creds_free(c);
        return cu_err_set(err, CU_ERR_INVALID, "the certificate is not a PEM chain");
    }
    if (gnutls_privkey_init(&c->key) < 0 ||
        gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
        creds_free(c);
        return cu_err_set(err, CU_ERR_INVALID, "the key is not a PEM private key");
    }
    if (!key_matches(c)) {
        creds_free(c);
        return cu_err_set(err, CU_ERR_INVALID, "the key is not the certificate's");
    }
    *out = c;
    return CU_OK;
}

cu_rc http_tls_creds_set(const char *cpath, const char *kpath, const char *cert, const char *key,
                         cu_err *err)
{
    creds *c = NULL;
    cu_rc rc = creds_load(cert, strlen(cert), key, strlen(key), &c, err);

    if (rc != CU_OK)
        return rc;
    if (cpath != cert_path) /* a reload passes the paths it has */
        snprintf(cert_path, sizeof(cert_path), "%s", cpath);
    if (kpath != key_path)
        snprintf(key_path, sizeof(key_path), "%s", kpath);
    pthread_rwlock_wrlock(&lock);
    c->older = current;
    current = c;
    pthread_rwlock_unlock(&lock);
    return CU_OK;
}

cu_rc http_tls_reload(cu_err *err)
{
    char *cert = NULL, *key = NULL;
    size_t cn = 0, kn = 0;
    cu_rc rc;

    /* The key file as the start checks it (cmd_serve.c): the service's own, mode 0600, no
     * symlink; a reload is no way around that (review-merged 5). */
    if ((rc = cu_file_check_private(key_path, "TLS key", 0, err)) != CU_OK)
        return rc;
    if ((rc = cu_file_read(cert_path, 1 << 20, &cert, &cn, err)) != CU_OK)
        return rc;
    if ((rc = cu_file_read(key_path, 1 << 20, &key, &kn, err)) == CU_OK) {
        rc = http_tls_creds_set(cert_path, key_path, cert, key, err);
        explicit_bzero(key, kn);
        free(key);
    }
    free(cert);
    return rc;
}

int http_tls_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca_dn, int nreqs,
                      const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length,
                      gnutls_privkey_t *privkey)
{
    (void)s, (void)req_ca_dn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    pthread_rwlock_rdlock(&lock);
    if (current == NULL) {
        pthread_rwlock_unlock(&lock);
        return -1;
    }
    *pcert = current->pcert;
    *pcert_length = current->n;
    *privkey = current->key;
    pthread_rwlock_unlock(&lock);
    return 0;
}

void http_tls_creds_free(void)
{
    pthread_rwlock_wrlock(&lock);
    while (current != NULL) {
        creds *older = current->older;
        creds_free(current);
        current = older;
    }
    pthread_rwlock_unlock(&lock);
}

void http_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        (n = strlen(path)) >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract socket */
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return;
    /* Best effort, as sd_notify: a manager that is gone changes nothing here. */
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
    close(fd);
}
