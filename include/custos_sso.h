/*
 * custos_sso.h: the core's OpenID Connect client (P-ACC-5, docs/sso.md): the authorization code
 * flow with PKCE (S256), state and nonce, discovery and the JWKS fetched and cached per issuer
 * (a kid the cache lacks fetches the JWKS once more: key rotation), and the ID token verified
 * (src/crypto/jose.c). The core opens no socket: the server hands it a transport
 * (cu_sso_fetch_fn; libcurl in src/http/sso_fetch.c).
 */
#ifndef CUSTOS_SSO_H
#define CUSTOS_SSO_H

#include "custos.h"

#define CU_SSO_URL_MAX 512           /* issuer, redirect URI, endpoint, with the NUL */
#define CU_SSO_CLIENT_MAX 256        /* client id, with the NUL */
#define CU_SSO_SECRET_MAX 256        /* client secret, with the NUL */
#define CU_SSO_RANDOM_MAX 64         /* state, nonce, PKCE verifier: base64url of 32 bytes */
#define CU_SSO_SUB_MAX 256           /* the provider's subject identifier, with the NUL */
#define CU_SSO_BODY_MAX (256 * 1024) /* the largest answer read from the provider */
#define CU_SSO_CACHE_TTL 3600        /* seconds a discovery document and JWKS are kept */
#define CU_SSO_FAIL_TTL 30           /* seconds a provider's failed fetch is remembered */
#define CU_SSO_REFETCH_MIN 60        /* seconds between two JWKS refetches for an unknown kid */
#define CU_SSO_FETCH_CAP 4           /* provider fetches at once in a process; more: 503 */

/* The transport: GET url (form NULL) or POST form (application/x-www-form-urlencoded) to it,
 * with HTTP Basic user:pass when user is not NULL. *body (NUL-terminated, at most
 * CU_SSO_BODY_MAX bytes, caller frees) and *status on CU_OK; CU_ERR_IO when no answer came. */
typedef cu_rc (*cu_sso_fetch_fn)(void *arg, const char *url, const char *form, const char *user,
                                 const char *pass, char **body, long *status, cu_err *err);

/* A tenant's identity provider as the flow needs it (borrowed strings). */
typedef struct cu_sso_idp {
    const char *issuer; /* exactly as the provider's discovery document states it */
    const char *client_id;
    const char *client_secret; /* plaintext, for the token request only */
    const char *redirect_uri;  /* Custos's callback, registered at the provider */
    const char *response_iss;  /* the callback's iss parameter (RFC 9207), NULL if none */
} cu_sso_idp;

/* The secrets of one login in flight: kept server-side between the redirect and the callback,
 * used once. */
typedef struct cu_sso_pending {
    char state[CU_SSO_RANDOM_MAX];
    char nonce[CU_SSO_RANDOM_MAX];
    char verifier[CU_SSO_RANDOM_MAX];
} cu_sso_pending;

/* Who the provider vouched for, from a verified ID token. */
typedef struct cu_sso_identity {
    char sub[CU_SSO_SUB_MAX];
    char email[256]; /* "" if the token has none */
    int email_verified;
} cu_sso_identity;

/* Fresh state, nonce and PKCE verifier in *p, and in url (cap bytes) the provider's
 * authorization endpoint (from discovery) with the request: response_type=code, scope
 * "openid email", client_id, redirect_uri, state, nonce, code_challenge (S256). */
cu_rc cu_sso_begin(const cu_sso_idp *idp, cu_sso_fetch_fn fetch, void *arg, cu_sso_pending *p,
                   char *url, size_t cap, cu_err *err);

/* Exchanges code at the token endpoint (client secret, p's verifier) and verifies the ID token
 * against the issuer's JWKS and p's nonce. First, idp->response_iss must be the issuer when
 * given, and given when discovery says the provider sends it (RFC 9207: "issuer_param"). CU_OK
 * fills *who; CU_ERR_AUTH with *why (a short reason to audit: "signature", "audience", "expired",
 * "nonce", "token_request", ...) when the provider refused the code or the token failed a check;
 * CU_ERR_IO when the provider could not be reached. Messages name no claim value. */
cu_rc cu_sso_finish(const cu_sso_idp *idp, cu_sso_fetch_fn fetch, void *arg, const char *code,
                    const cu_sso_pending *p, cu_sso_identity *who, const char **why, cu_err *err);

/* Forgets every cached discovery document and JWKS (tests; an operator's reload). */
void cu_sso_cache_clear(void);
/* Sets how many provider fetches may run at once in the process (0: CU_SSO_FETCH_CAP); one
 * more is refused at once with CU_ERR_UNAVAILABLE (review finding 6). */
void cu_sso_fetch_cap_set(int n);
/* Sets how many logins in flight a tenant may have (0: CU_SSO_LOGINS_MAX, review finding 10);
 * a start past it is CU_ERR_RATE_LIMITED. */
void cu_sso_logins_max_set(int n);

/* --- a tenant's single sign-on (sso_tenant.c) --------------------------------------------- */

#define CU_SSO_DOMAINS_MAX 512 /* allowed email domains, comma-separated, with the NUL */
#define CU_SSO_LOGIN_TTL 600   /* seconds between the redirect and the callback, at most */
#define CU_SSO_LOGINS_MAX 1000 /* a tenant's logins in flight at most; more: 429 */

/* A tenant's identity provider as configured; the client secret is never returned. */
typedef struct cu_sso_config {
    char issuer[CU_SSO_URL_MAX];
    char client_id[CU_SSO_CLIENT_MAX];
    char redirect_uri[CU_SSO_URL_MAX];
    char domains[CU_SSO_DOMAINS_MAX]; /* "acme.example,acme.test": the emails it may sign in */
    cu_role role;                     /* the role of the users its logins create */
    int require_sso;                  /* 1: the tenant's users may not log in with a password */
    int64_t updated_at;
} cu_sso_config;

/* Sets the tenant's provider (P-ACC-5): issuer and redirect URI https (loopback http in test
 * builds), the redirect URI's path exactly this tenant's callback,
 * /v1/tenants/{tenant}/sso/callback (a callback per tenant: a state is taken only on its own
 * tenant's, review finding 2), domains lowercase, role a tenant role, client_secret sealed under
 * the tenant data key. Audited as sso.configure. CU_ERR_INVALID names the field at fault. */
cu_rc cu_sso_config_put(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_sso_config *c,
                        const char *client_secret, cu_err *err);
/* The tenant's provider without its secret; CU_ERR_NOT_FOUND if none. */
cu_rc cu_sso_config_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_sso_config *out,
                        cu_err *err);
/* *required 1 if the tenant's users must sign in through its provider (require_sso). */
cu_rc cu_sso_required(cu_vault *v, cu_id tenant, int *required, cu_err *err);

/* Links the tenant's user to the identity sub at the tenant's current issuer (review finding 3:
 * the only way an existing user is entered by single sign-on, besides its creation by it), in
 * place of its former link. The caller's role decides: the owner links anyone, others only users
 * of a role they may grant below admin (CU_ERR_FORBIDDEN). CU_ERR_EXISTS if the identity is
 * another user's; CU_ERR_NOT_FOUND without a configuration or user. Audited sso.link. */
cu_rc cu_sso_link(cu_vault *v, const cu_ctx *ctx, cu_role caller, cu_id tenant, cu_id user,
                  const char *sub, cu_err *err);
/* Drops the user's link (CU_ERR_NOT_FOUND if none), as cu_sso_link decides who may. Audited
 * sso.unlink. */
cu_rc cu_sso_unlink(cu_vault *v, const cu_ctx *ctx, cu_role caller, cu_id tenant, cu_id user,
                    cu_err *err);

/* Starts a login of the tenant's users: the state, nonce and verifier stored (single use, for
 * CU_SSO_LOGIN_TTL seconds), the provider's URL in url, and in binding a fresh random value for
 * the browser to hold (a cookie) and give back at the callback: the login is stored under the
 * SHA-256 of state and binding together, so a state is good only with the browser that started
 * it (login CSRF, review finding 4). Like the
 * callback, it counts against the source's login rate (P-ACC-6): CU_ERR_RATE_LIMITED with
 * *retry_after past it, before any fetch or write. */
cu_rc cu_sso_login_start(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_sso_fetch_fn fetch,
                         void *arg, char *url, size_t cap, char binding[CU_SSO_RANDOM_MAX],
                         unsigned *retry_after, cu_err *err);
/* The provider's redirect back to the tenant's callback: takes the login of state and binding
 * (the browser's cookie; once: a replayed or expired state, or another browser's, is
 * CU_ERR_AUTH, as is a state of another tenant's login, which is left untouched), checks iss
 * (the callback's iss parameter, NULL if none; cu_sso_finish), exchanges code, verifies the ID
 * token, checks the email's domain (and that the provider verified it), finds the user of that
 * email (only one of the configured role without TOTP) or creates one with the configured
 * role, and opens the session a password login opens (token, *who). A tenant without single
 * sign-on is CU_ERR_NOT_FOUND. Every outcome is audited: sso.login, or sso.refused with the
 * reason (never a personal value). */
cu_rc cu_sso_login_finish(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *state,
                          const char *binding, const char *code, const char *iss,
                          cu_sso_fetch_fn fetch, void *arg, char token[CU_SESSION_TOKEN_MAX],
                          cu_principal *who, unsigned *retry_after, cu_err *err);

#endif
