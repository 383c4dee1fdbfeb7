/*
 * oidc.h: the real OpenID provider of the SSO tests (tests/oidc/provider.js, the oidc-provider
 * npm package, installed by `make deps`), started by node on a loopback port and stopped by
 * pid; and a browser played with libcurl that follows its redirects (docs/sso.md).
 */
#ifndef CU_OIDC_H
#define CU_OIDC_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Custos's origin as the provider knows it; each tenant's callback is
 * OIDC_ORIGIN "/v1/tenants/{t}/sso/callback", any of which both clients may use. */
#define OIDC_ORIGIN "http://127.0.0.1:9"
#define OIDC_REDIRECT_PREFIX OIDC_ORIGIN "/v1/tenants/"
#define OIDC_TTL 600 /* its ID tokens' lifetime, s */
#define OIDC_CODE_MAX 256
#define OIDC_STATE_MAX 64

typedef struct oidc {
    pid_t pid;
    FILE *out; /* its stdout, open while it runs (it logs notices there) */
    int port;
    char issuer[64]; /* http://127.0.0.1:PORT */
} oidc;

/* Starts the provider on port (0: any free one) with a fresh signing key kid of alg (RS256 or
 * ES256); its clock reads now (unix seconds; 0: the real clock). Fails the test if it does not
 * come up. Clients: "custos" and "intruder", secrets "<id>-secret-0123456789abcdef"; and
 * "odd:client", secret "p%ss+w:rd/ 0123456789" (characters Basic auth must form-encode). */
void oidc_start(oidc *o, int port, const char *kid, const char *alg, int64_t now);
void oidc_stop(oidc *o);
/* The account (its email is its sub) the next logins sign in as. */
void oidc_set_email(const oidc *o, const char *email);
/* Follows redirects from url until one goes to a callback under OIDC_REDIRECT_PREFIX: its code
 * and state. */
void oidc_browse(const char *url, char code[OIDC_CODE_MAX], char state[OIDC_STATE_MAX]);
/* The same, giving the callback's path and query as the provider sent them (iss included), to
 * call on Custos. */
void oidc_browse_callback(const char *url, char path[2048]);
/* The tenant's callback URL as registered: OIDC_ORIGIN "/v1/tenants/{tenant}/sso/callback". */
void oidc_callback_of(const char *tenant, char out[128]);

#endif
