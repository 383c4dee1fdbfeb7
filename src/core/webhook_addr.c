/*
 * webhook_addr.c: where a webhook may be sent (docs/webhooks.md, "Addresses").
 *
 * An endpoint's URL is chosen by a tenant's admin, but the request leaves from the vault's
 * network: a URL naming an internal address would make the vault POST into it (server-side
 * request forgery: the cloud metadata service at 169.254.169.254, a database's admin port on
 * 10.x, the vault's own loopback). So only public unicast addresses are taken, checked when an
 * endpoint is created or changed (its host resolved, if it resolves) and again before every
 * try, since a name can be made to resolve elsewhere later: the transport connects only to the
 * addresses checked here (pinned, CURLOPT_RESOLVE) and refuses any other (its socket callback).
 * Test builds also take loopback, for the tests' receivers, unless the fault point
 * "webhook.strict_addresses" is set (the tests of this check).
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "custos_webhook.h"
#include "util.h"

static int v4_public(const uint8_t *a)
{
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    static const struct {
        uint32_t net, mask;
    } deny[] = {
        {0x00000000, 0xff000000}, /* 0/8: "this network", 0.0.0.0 unspecified */
        {0x0a000000, 0xff000000}, /* 10/8 private */
        {0x64400000, 0xffc00000}, /* 100.64/10 CGNAT */
        {0x7f000000, 0xff000000}, /* 127/8 loopback */
        {0xa9fe0000, 0xffff0000}, /* 169.254/16 link-local, cloud metadata */
        {0xac100000, 0xfff00000}, /* 172.16/12 private */
        {0xc0000000, 0xffffff00}, /* 192.0.0/24 IETF protocol assignments */
        {0xc0000200, 0xffffff00}, /* 192.0.2/24 documentation */
        {0xc0a80000, 0xffff0000}, /* 192.168/16 private */
        {0xc6120000, 0xfffe0000}, /* 198.18/15 benchmarking */
        {0xc6336400, 0xffffff00}, /* 198.51.100/24 documentation */
        {0xcb007100, 0xffffff00}, /* 203.0.113/24 documentation */
        {0xe0000000, 0xf0000000}, /* 224/4 multicast */
        {0xf0000000, 0xf0000000}, /* 240/4 reserved, 255.255.255.255 broadcast */
    };

    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
        if ((x & deny[i].mask) == deny[i].net)
            return 0;
    return 1;
}

static int v6_public(const uint8_t *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t siit[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const uint8_t local64[6] = {0, 0x64, 0xff, 0x9b, 0, 0x01};
    static const uint8_t zero[12] = {0};

    /* ::ffff:a.b.c.d, ::ffff:0:a.b.c.d (SIIT), 64:ff9b::a.b.c.d: the IPv4 address's rule */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, siit, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return v4_public(a + 12);
    if (memcmp(a, local64, 6) == 0)
        return 0; /* 64:ff9b:1::/48, NAT64 for local use: whatever it translates to is internal */
    if (memcmp(a, zero, 12) == 0)
        return 0; /* ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d */
    if (a[0] == 0x20 && a[1] == 0x02)
        return v4_public(a + 2); /* 2002::/16 6to4 names an IPv4 address */
    if ((a[0] & 0xfe) == 0xfc ||                   /* fc00::/7 unique local */
        (a[0] == 0xfe && (a[1] & 0x80) == 0x80) || /* fe80::/10 link-local, fec0::/10 site */
        a[0] == 0xff ||                            /* ff00::/8 multicast */
        (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) || /* 2001:db8::/32 doc */
        (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) || /* 2001::/32 Teredo */
        (a[0] == 0x01 && a[1] == 0 && memcmp(a + 2, zero, 6) == 0)) /* 100::/64 discard */
        return 0;
    return 1;
}

int cu_webhook_addr_public(int family, const void *addr)
{
    if (family == AF_INET)
        return v4_public(addr);
    if (family == AF_INET6)
        return v6_public(addr);
    return 0;
}

static int loopback(int family, const uint8_t *a)
{
    static const uint8_t one[16] = {[15] = 1};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (family == AF_INET)
        return a[0] == 127;
    return family == AF_INET6 &&
           (memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127));
}

int cu_webhook_addr_allowed(int family, const void *addr)
{
    if (cu_webhook_addr_public(family, addr))
        return 1;
#ifdef CU_FAULT_INJECTION
    /* Test builds: the tests' receivers listen on loopback. */
    if (loopback(family, addr) && !CU_FAULT("webhook.strict_addresses"))
        return 1;
#else
    (void)loopback;
#endif
    return 0;
}

/* The URL's host (brackets removed) and port; 0 if it has none. */
static int url_host(const char *url, char *host, size_t cap, char port[8])
{
    const char *p = strstr(url, "://"), *end, *colon;
    size_t n;

    if (p == NULL)
        return 0;
    snprintf(port, 8, "%s", strncmp(url, "https:", 6) == 0 ? "443" : "80");
    p += 3;
    end = p + strcspn(p, "/?#");
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL)
            return 0;
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        p++;
        n = (size_t)(close - p);
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        n = (size_t)((colon ? colon : end) - p);
    }
    if (colon != NULL) {
        size_t pn = (size_t)(end - colon - 1);
        if (pn == 0 || pn > 5 || strspn(colon + 1, "0123456789") < pn)
            return 0;
        memcpy(port, colon + 1, pn);
        port[pn] = '\0';
    }
    if (n == 0 || n >= cap)
        return 0;
    memcpy(host, p, n);
    host[n] = '\0';
    return 1;
}

/* 1 if host is an address, not a name. */
static int literal(const char *host)
{
    uint8_t a[16];

    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Appends addr to the pin list "host:port:a,b" ([a] for IPv6, as curl takes it). */
static int pin_add(char *pin, size_t cap, const struct addrinfo *ai)
{
    char a[INET6_ADDRSTRLEN];
    size_t len = strlen(pin);
    const void *src = ai->ai_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    int n;

    if (inet_ntop(ai->ai_family, src, a, sizeof(a)) == NULL)
        return 0;
    n = snprintf(pin + len, cap - len, ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
                 pin[len - 1] == ':' ? "" : ",", a);
    return n > 0 && (size_t)n < cap - len;
}

cu_rc cu_webhook_url_resolve(const char *url, char *pin, size_t cap, cu_err *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char host[256], port[8];
    cu_rc rc = CU_OK;
    int n = 0;

    if (!url_host(url, host, sizeof(host), port))
        return cu_err_set(err, CU_ERR_INVALID, "url: no host");
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "url: the host does not resolve");
    if ((size_t)snprintf(pin, cap, "%s:%s:", host, port) >= cap)
        rc = cu_err_set(err, CU_ERR_INVALID, "url: the host is too long");
    for (const struct addrinfo *ai = res; rc == CU_OK && ai != NULL; ai = ai->ai_next) {
        const void *a;
        if (ai->ai_family == AF_INET)
            a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
        else if (ai->ai_family == AF_INET6)
            a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        else
            continue;
        /* Every address, not only the first: the transport may try any of them. */
        if (!cu_webhook_addr_allowed(ai->ai_family, a))
            rc = cu_err_set(err, CU_ERR_INVALID,
                            "url: the host is a private, loopback or link-local address");
        else if (n < 8 && pin_add(pin, cap, ai))
            n++;
    }
    freeaddrinfo(res);
    if (rc == CU_OK && n == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "url: the host does not resolve");
    /* An address in the URL itself needs no pin: curl resolves nothing (and the pin's
     * "host:port" form does not take an IPv6 address as host). */
    if (rc != CU_OK || literal(host))
        pin[0] = '\0';
    return rc;
}
