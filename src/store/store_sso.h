/*
 * store_sso.h: single sign-on's rows as the store reads and writes them (store.h includes it;
 * docs/sso.md, P-ACC-5). Kept apart so that store.h stays within the size limit; it needs
 * store.h's cu_blob, so include store.h, not this.
 *
 * A tenant's identity provider (sso_configs, one row per tenant) with its client secret sealed
 * under the tenant data key (key_version), and the logins in flight (sso_logins): each keyed by
 * a 32-byte hash the core makes (of the state and the browser's binding cookie), holding the
 * nonce and PKCE verifier, sealed, until the callback takes it, once, before its expiry. Ops:
 *   CU_OP_SSO_CONFIG_PUT  sso_config: inserts or replaces the tenant's row.
 *   CU_OP_SSO_LOGIN_PUT   sso_login: deletes its tenant's logins that expired before its
 *                         created time, then inserts the login unless its tenant has max_open
 *                         logins already (CU_ERR_RATE_LIMITED; 0: no limit). Every statement
 *                         names the tenant (a sharded database routes it to one shard,
 *                         docs/scaling.md); the sweeper's CU_OP_SESSION_PURGE without a tenant
 *                         deletes every tenant's expired logins.
 *   CU_OP_SSO_LOGIN_TAKE  sso_login (tenant_id, state_hash, expires_at as now): deletes the
 *                         tenant's login if it has not expired at now; CU_ERR_NOT_FOUND if there
 *                         is none (taken already, expired, never made, another tenant's): the
 *                         state is single use.
 *
 * A user's link to the provider's identity (sso_links, review finding 3): the tenant, the
 * SHA-256 the core makes of (issuer, sub), and the user. One link per identity and per user.
 *   CU_OP_SSO_LINK_PUT    sso_link: deletes the tenant's link of that hash and the user's
 *                         link, then inserts this one.
 *   CU_OP_SSO_LINK_DROP   sso_link (tenant_id, user_id): deletes the user's link, or with
 *                         user_id 0 every link of the tenant (its issuer changed); with a
 *                         user, CU_ERR_NOT_FOUND if it had none.
 *   CU_OP_SSO_SESSIONS_END  sso_link (tenant_id): deletes every session of the tenant's users
 *                         (review finding 7: require_sso turned on ends the password sessions
 *                         opened before; the single sign-on ones go too, and sign in again).
 */
#ifndef CU_STORE_SSO_H
#define CU_STORE_SSO_H

#define CU_STORE_SSO_URL_MAX 512     /* the issuer, with the NUL */
#define CU_STORE_SSO_CLIENT_MAX 256  /* the client id, with the NUL */
#define CU_STORE_SSO_DOMAINS_MAX 512 /* allowed email domains, comma-separated, with the NUL */
#define CU_STORE_SSO_RANDOM_MAX 64   /* nonce, verifier, with the NUL */

typedef struct cu_store_sso_config {
    cu_id tenant_id;
    char issuer[CU_STORE_SSO_URL_MAX];
    char client_id[CU_STORE_SSO_CLIENT_MAX];
    char redirect_uri[CU_STORE_SSO_URL_MAX]; /* Custos's callback as registered at the provider */
    cu_blob secret; /* sealed under the tenant data key, AAD (tenant, "$sso", 0, "secret") */
    uint32_t key_version;
    char domains[CU_STORE_SSO_DOMAINS_MAX]; /* "acme.example,acme.test", lowercase */
    int role;                               /* cu_role of the users it creates */
    int require_sso; /* 1: the tenant's users may not log in with a password */
    int64_t updated_at;
} cu_store_sso_config;

typedef struct cu_store_sso_login {
    uint8_t state_hash[32];
    cu_id tenant_id;
    cu_blob sealed; /* the nonce and PKCE verifier, sealed by the core under a key only the
                       state and binding give (review finding 15); readers: caller frees */
    int64_t created_at;
    int64_t expires_at; /* CU_OP_SSO_LOGIN_TAKE: now */
    int64_t max_open;   /* CU_OP_SSO_LOGIN_PUT: the tenant's logins in flight at most */
} cu_store_sso_login;

typedef struct cu_store_sso_link {
    cu_id tenant_id;
    uint8_t link_hash[32]; /* SHA-256 of (issuer, sub), made by the core */
    cu_id user_id;
    int64_t created_at;
} cu_store_sso_link;

struct cu_store;

/* The reads of single sign-on, a backend's table (cu_store_ops.sso; NULL: none, the wrappers
 * answer CU_ERR_UNSUPPORTED). */
typedef struct cu_store_sso_ops {
    /* The tenant's provider; CU_ERR_NOT_FOUND if it has none. Caller frees out->secret.data. */
    cu_rc (*config_get)(struct cu_store *s, cu_id tenant, cu_store_sso_config *out, cu_err *err);
    /* The tenant's login of that state hash, expired or not; CU_ERR_NOT_FOUND if none (another
     * tenant's included: the callback is the tenant's). Caller frees out->sealed.data. */
    cu_rc (*login_get)(struct cu_store *s, cu_id tenant, const uint8_t state_hash[32],
                       cu_store_sso_login *out, cu_err *err);
    /* The tenant's link of that hash; CU_ERR_NOT_FOUND if none. */
    cu_rc (*link_get)(struct cu_store *s, cu_id tenant, const uint8_t link_hash[32],
                      cu_store_sso_link *out, cu_err *err);
} cu_store_sso_ops;

/* Thin wrappers: cu_store_sso_x(s, ...) is s->ops->sso->x(s, ...). */
cu_rc cu_store_sso_config_get(struct cu_store *s, cu_id tenant, cu_store_sso_config *out,
                              cu_err *err);
cu_rc cu_store_sso_login_get(struct cu_store *s, cu_id tenant, const uint8_t state_hash[32],
                             cu_store_sso_login *out, cu_err *err);
cu_rc cu_store_sso_link_get(struct cu_store *s, cu_id tenant, const uint8_t link_hash[32],
                            cu_store_sso_link *out, cu_err *err);

#endif
