/*
 * tls.c: the self-signed certificate a fresh `custos serve` makes for itself, so that even the
 * first start speaks TLS 1.3 (P-ENC-4). ECDSA P-256, one year, for localhost and 127.0.0.1;
 * the key file is written with mode 0600. Operators give real ones with --cert and --key.
 * Also the one direct write on a connection's TLS session that server.c needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "http.h"
#include "http_int.h"
#include "util.h"

int http_tls_send_now(void *session, const char *buf, size_t n)
{
    gnutls_session_t tls = session;

    while (n > 0) {
        ssize_t w = gnutls_record_send(tls, buf, n);
        if (w <= 0)
            return -1; /* GNUTLS_E_AGAIN included: no room now, and no waiting for it */
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static cu_rc fingerprint(gnutls_x509_crt_t crt, char fp[128], cu_err *err)
{
    unsigned char d[32];
    size_t n = sizeof(d);

    if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, d, &n) != 0 || n != 32)
        return cu_err_set(err, CU_ERR_INVALID, "could not fingerprint the certificate");
    for (size_t i = 0; i < n; i++)
        snprintf(fp + 3 * i, 4, "%02X%s", d[i], i + 1 < n ? ":" : "");
    return CU_OK;
}

static cu_rc fingerprint_file(const char *path, char fp[128], cu_err *err)
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t pem = {NULL, 0};
    char *text = NULL;
    size_t len = 0;
    cu_rc rc;

    if ((rc = cu_file_read(path, 1 << 20, &text, &len, err)) != CU_OK)
        return rc;
    pem.data = (unsigned char *)text;
    pem.size = (unsigned)len;
    if (gnutls_x509_crt_init(&crt) != 0 ||
        gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM) != 0)
        rc = cu_err_set(err, CU_ERR_INVALID, "\"%s\" is not a PEM certificate", path);
    else
        rc = fingerprint(crt, fp, err);
    gnutls_x509_crt_deinit(crt);
    free(text);
    return rc;
}

static cu_rc generate(const char *cert_path, const char *key_path, char fp[128], cu_err *err)
{
    static const unsigned char loopback[4] = {127, 0, 0, 1};
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t cpem = {NULL, 0}, kpem = {NULL, 0};
    unsigned char serial[16];
    time_t now = time(NULL);
    cu_rc rc = CU_ERR_CRYPTO;
    FILE *rnd;

    rnd = fopen("/dev/urandom", "rb");
    if (rnd == NULL || fread(serial, 1, sizeof(serial), rnd) != sizeof(serial)) {
        if (rnd)
            fclose(rnd);
        return cu_err_set(err, CU_ERR_IO, "could not read /dev/urandom");
    }
    fclose(rnd);
    serial[0] &= 0x7f; /* a positive serial number */
    if (gnutls_x509_privkey_init(&key) != 0 ||
        gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) != 0 ||
        gnutls_x509_crt_init(&crt) != 0 || gnutls_x509_crt_set_version(crt, 3) != 0 ||
        gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) != 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - 3600) != 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + 365 * 86400) != 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost", 9) != 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "Custos", 6) !=
            0 ||
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
                                             GNUTLS_FSAN_SET) != 0 ||
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, loopback, 4,
                                             GNUTLS_FSAN_APPEND) != 0 ||
        gnutls_x509_crt_set_basic_constraints(crt, 0, -1) != 0 ||
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) != 0 ||
        gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) != 0 ||
        gnutls_x509_crt_set_key(crt, key) != 0 ||
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) != 0 ||
        gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem) != 0 ||
        gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem) != 0) {
        cu_err_set(err, CU_ERR_CRYPTO, "could not generate a self-signed certificate");
        goto out;
    }
    /* The key first, private: a certificate must never exist without its key. */
    if ((rc = cu_file_write_atomic(key_path, kpem.data, kpem.size, 0600, err)) != CU_OK ||
        (rc = cu_file_write_atomic(cert_path, cpem.data, cpem.size, 0644, err)) != CU_OK)
        goto out;
    rc = fingerprint(crt, fp, err);
out:
    if (kpem.data) {
        explicit_bzero(kpem.data, kpem.size);
        gnutls_free(kpem.data);
    }
    gnutls_free(cpem.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

cu_rc cu_http_tls_ensure(const char *cert_path, const char *key_path, char fp[128], int *created,
                         cu_err *err)
{
    struct stat sc, sk;

    *created = 0;
    if (stat(cert_path, &sc) == 0 && stat(key_path, &sk) == 0) {
        if ((sk.st_mode & 077) != 0)
            return cu_err_set(err, CU_ERR_PERM,
                              "TLS key \"%s\" is readable by others: run chmod 600 on it",
                              key_path);
        return fingerprint_file(cert_path, fp, err);
    }
    *created = 1;
    return generate(cert_path, key_path, fp, err);
}
