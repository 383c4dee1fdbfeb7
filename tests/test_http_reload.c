/*
 * test_http_reload.c: the service's life under systemd (packaging/custos.service,
 * docs/operations.md). With NOTIFY_SOCKET set, `custos serve` tells READY=1 once listening
 * (Type=notify), RELOADING=1 then READY=1 around a reload, STOPPING=1 on SIGTERM. SIGHUP
 * reloads the certificate and key from their files: a connection opened before it is kept
 * alive and still served, a new connection gets the new certificate (the old one no longer
 * verifies it), and a pair that does not load is refused with the one in use kept.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "srv.h"
#include "th.h"

/* A datagram socket at path, as systemd's notify socket; returns its fd. */
static int notify_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct timeval tv = {30, 0};

    assert_true(fd >= 0);
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* The next datagram, which must be want. */
static void expect_notice(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/* GET /healthz on h; returns the curl code, and the new connections it opened in *fresh. */
static CURLcode get(CURL *h, long *fresh)
{
    long status = 0;
    CURLcode c = curl_easy_perform(h);

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, fresh);
    if (c == CURLE_OK)
        assert_int_equal(status, 200);
    return c;
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* A new self-signed pair in dir, moved over the server's own (data/tls-*.pem). */
static void replace_pair(const srv *s, const char *dir)
{
    char c[600], k[600], sc[600], sk[600], fp[128];
    int created = 0;
    cu_err err = {0};

    snprintf(c, sizeof(c), "%s/new-cert.pem", dir);
    snprintf(k, sizeof(k), "%s/new-key.pem", dir);
    assert_int_equal(cu_http_tls_ensure(c, k, fp, &created, &err), CU_OK);
    assert_true(created);
    snprintf(sc, sizeof(sc), "%s/tls-cert.pem", s->data);
    snprintf(sk, sizeof(sk), "%s/tls-key.pem", s->data);
    assert_int_equal(rename(k, sk), 0);
    assert_int_equal(rename(c, sc), 0);
}

static CURL *handle(const srv *s, const char *ca)
{
    CURL *h = srv_curl(s, "/healthz");

    curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    return h;
}

static void test_notify_and_certificate_reload_keep_open_connections(void **state)
{
    const char *env[2] = {NULL, NULL};
    char sock[64], envs[96], old_ca[400], cmd[900];
    CURL *kept, *fresh_old, *fresh_new;
    long conns = 0;
    srv s;
    int fd;

    (void)state;
    snprintf(sock, sizeof(sock), "/tmp/custos-notify-%d", (int)getpid());
    fd = notify_socket(sock);
    snprintf(envs, sizeof(envs), "NOTIFY_SOCKET=%s", sock);
    env[0] = envs;
    srv_start_env(&s, NULL, env);
    expect_notice(fd, "READY=1");

    /* The old certificate, kept aside: after the reload it no longer verifies new ones. */
    snprintf(old_ca, sizeof(old_ca), "%s/old-ca.pem", s.dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", s.ca, old_ca);
    assert_int_equal(system(cmd), 0);

    kept = handle(&s, old_ca);
    assert_int_equal(get(kept, &conns), CURLE_OK);
    assert_int_equal(conns, 1);

    replace_pair(&s, s.dir);
    assert_int_equal(kill(s.pid, SIGHUP), 0);
    expect_notice(fd, "RELOADING=1");
    expect_notice(fd, "READY=1");
    assert_true(srv_log_wait(&s, "\"tls\":\"reloaded\"", 5000));

    /* The connection opened before the reload: still served, not reopened. */
    assert_int_equal(get(kept, &conns), CURLE_OK);
    assert_int_equal(conns, 0);
    /* A new connection: the new certificate, which the old one does not verify. */
    fresh_new = handle(&s, s.ca);
    assert_int_equal(get(fresh_new, &conns), CURLE_OK);
    fresh_old = handle(&s, old_ca);
    assert_int_not_equal(get(fresh_old, &conns), CURLE_OK);
    curl_easy_cleanup(fresh_old);

    /* A key that is not the certificate's: refused, the pair in use kept. */
    {
        char other[600], key[700], sk[600];
        snprintf(other, sizeof(other), "%s/other", s.dir);
        assert_int_equal(mkdir(other, 0700), 0);
        snprintf(key, sizeof(key), "%s/new-key.pem", other);
        snprintf(sk, sizeof(sk), "%s/tls-key.pem", s.data);
        int created = 0;
        char fp[128], cert[700];
        cu_err err = {0};
        snprintf(cert, sizeof(cert), "%s/new-cert.pem", other);
        assert_int_equal(cu_http_tls_ensure(cert, key, fp, &created, &err), CU_OK);
        assert_int_equal(rename(key, sk), 0); /* tls-cert.pem stays the first reload's */
    }
    assert_int_equal(kill(s.pid, SIGHUP), 0);
    expect_notice(fd, "RELOADING=1");
    expect_notice(fd, "READY=1");
    assert_true(srv_log_wait(&s, "\"tls\":\"kept\",\"error\":\"invalid\"", 5000));
    /* New connections still handshake with the pair in use (the certificate file's). */
    curl_easy_cleanup(fresh_new);
    fresh_new = handle(&s, s.ca);
    assert_int_equal(get(fresh_new, &conns), CURLE_OK);
    assert_int_equal(conns, 1);
    curl_easy_cleanup(fresh_new);
    curl_easy_cleanup(kept);
    assert_int_equal(srv_stop(&s, 1), 0);
    expect_notice(fd, "STOPPING=1");
    close(fd);
    unlink(sock);
}

/* An Ed25519 pair (certtool, from gnutls-bin): its key takes no hash, so the check that the key
 * is the certificate's must not sign with one (review-merged 1: the server then refused to
 * start, or to reload, with such a certificate). */
static void test_ed25519_certificate_reloads_and_serves(void **state)
{
    char dir[600], cmd[8192], tmpl[700];
    CURL *h;
    long conns = 0;
    FILE *f;
    srv s;

    (void)state;
    srv_start(&s, NULL);
    snprintf(dir, sizeof(dir), "%s/ed", s.dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(tmpl, sizeof(tmpl), "%s/cert.tmpl", dir);
    assert_non_null(f = fopen(tmpl, "w"));
    fputs("cn = \"127.0.0.1\"\nip_address = \"127.0.0.1\"\nexpiration_days = 2\n"
          "signing_key\ntls_www_server\n",
          f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "certtool --generate-privkey --key-type=ed25519 --outfile '%s/tls-key.pem' "
             ">/dev/null 2>&1 && certtool --generate-self-signed --load-privkey "
             "'%s/tls-key.pem' --template '%s' --outfile '%s/tls-cert.pem' >/dev/null 2>&1 && "
             "chmod 600 '%s/tls-key.pem' && mv '%s/tls-key.pem' '%s/tls-cert.pem' '%s/'",
             dir, dir, tmpl, dir, dir, dir, dir, s.data);
    assert_int_equal(system(cmd), 0);
    /* A key open to others is refused on reload as at start; the pair in use stays. */
    snprintf(cmd, sizeof(cmd), "%s/tls-key.pem", s.data);
    assert_int_equal(chmod(cmd, 0644), 0);
    assert_int_equal(kill(s.pid, SIGHUP), 0);
    assert_true(srv_log_wait(&s, "\"tls\":\"kept\",\"error\":\"insecure_permissions\"", 5000));
    assert_int_equal(chmod(cmd, 0600), 0);
    assert_int_equal(kill(s.pid, SIGHUP), 0);
    assert_true(srv_log_wait(&s, "\"tls\":\"reloaded\"", 5000));
    h = handle(&s, s.ca); /* s.ca is the data directory's tls-cert.pem: Ed25519's now */
    assert_int_equal(get(h, &conns), CURLE_OK);
    curl_easy_cleanup(h);
    assert_int_equal(srv_stop(&s, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_and_certificate_reload_keep_open_connections),
        cmocka_unit_test(test_ed25519_certificate_reloads_and_serves),
    };

    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
