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

#define OIDC_REDIRECT "http://127.0.0.1:9/v1/sso/callback" /* both clients' redirect URI */
#define OIDC_TTL 600                                       /* its ID tokens' lifetime, s */
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
 * come up. Clients: "custos" and "intruder", secrets "<id>-secret-0123456789abcdef". */
void oidc_start(oidc *o, int port, const char *kid, const char *alg, int64_t now);
void oidc_stop(oidc *o);
/* The account (its email is its sub) the next logins sign in as. */
void oidc_set_email(const oidc *o, const char *email);
/* Follows redirects from url until one goes to OIDC_REDIRECT: its code and state. */
void oidc_browse(const char *url, char code[OIDC_CODE_MAX], char state[OIDC_STATE_MAX]);

#endif
