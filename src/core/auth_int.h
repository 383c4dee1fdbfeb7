/*
 * auth_int.h: credentials shared by roles.c, auth.c, users.c, totp.c and throttle.c
 * (P-ACC-1 .. P-ACC-6), and what tenant.c needs to make a tenant's first owner key.
 */
#ifndef CU_AUTH_INT_H
#define CU_AUTH_INT_H

#include "core_int.h"

/* --- credentials (roles.c, auth.c, users.c, totp.c; P-ACC-1 .. P-ACC-6) -------------- */

/* Every Argon2id run of authentication (password hashes and verifications, dummy ones
 * included). Tests read it to prove that a locked-out login hashes nothing (P-ACC-6). */
extern _Atomic unsigned long cu_auth_argon2_calls;
/* The most Argon2id runs ever in progress at once; tests reset it to prove the slots bound
 * them (P-ACC-6). */
extern _Atomic unsigned long cu_auth_argon2_peak;

/* Argon2id hash and verification of a NUL-terminated password, counted (P-ENC-3). */
cu_rc cu_auth_password_hash(const char *pw, char out[CU_PWHASH_STRBYTES]) CU_WUR;
cu_rc cu_auth_password_verify(const char *hash, const char *pw) CU_WUR;

/* Login throttling (throttle.c, P-ACC-6): in-memory counters keyed by a keyed hash. */
typedef enum cu_th_kind {
    CU_TH_SOURCE,   /* a source address: a rate limit and a failure back-off */
    CU_TH_TENANT,   /* a tenant: a limit of failures a minute, for sources that failed */
    CU_TH_ACCOUNT,  /* (source, tenant, normalized email): a failure back-off */
    CU_TH_MFA,      /* (source, tenant, user): second-factor failures at login */
    CU_TH_MFA_USER, /* (tenant, user): the same from every source, a much higher limit */
    CU_TH_REAUTH    /* (tenant, user): re-authentication failures */
} cu_th_kind;
typedef struct cu_th_key {
    uint8_t b[16];
    cu_th_kind kind;
} cu_th_key;

cu_rc cu_auth_state_new(cu_auth_state **out, cu_err *err);
void cu_auth_state_free(cu_auth_state *s);
/* The key of what data[0..len) names, for a counter of kind. */
void cu_throttle_key(cu_vault *v, cu_th_kind kind, const void *data, size_t len, cu_th_key *out);
/* Checks the source key first, then (unless it refuses) every other key: back-offs, the
 * source's rate limit, and the tenant's failure limit for a source that has failed. If none
 * refuses, makes every key's entry and counts one attempt against the source's rate limit;
 * when no entry can be made without evicting one that refuses, it refuses (fail closed).
 * CU_ERR_RATE_LIMITED with the longest wait in *retry_after (may be NULL) if one does. */
cu_rc cu_throttle_check(cu_vault *v, const cu_th_key *keys, size_t n, int64_t now,
                        unsigned *retry_after, cu_err *err);
/* Counts a failure of k at now, starting or lengthening its back-off (for a tenant key: one
 * more failure in its minute). */
void cu_throttle_failed(cu_vault *v, const cu_th_key *k, int64_t now);
/* Forgets k's failures (a success). */
void cu_throttle_clear(cu_vault *v, const cu_th_key *k);
/* Takes one of the hash slots, waiting up to hash_wait_ms; CU_ERR_UNAVAILABLE (and
 * *retry_after 1) if none came free. Give it back with cu_auth_slot_release. */
cu_rc cu_auth_slot_acquire(cu_vault *v, unsigned *retry_after, cu_err *err);
void cu_auth_slot_release(cu_vault *v);

/* P-ACC-2: user u proves itself again (password, and a current code of its active second
 * factor if it has one) before changing that factor; *step gets the code's step (0 without
 * one), for the caller to spend. CU_ERR_AUTH, CU_ERR_RATE_LIMITED or CU_ERR_UNAVAILABLE (with
 * *retry_after, may be NULL) otherwise. */
cu_rc cu_auth_reauth(cu_vault *v, const cu_store_user *u, const char *password, const char *code,
                     int64_t *step, unsigned *retry_after, cu_err *err);
/* P-ACC-5: the session of a single sign-on login of u (auth.c), as a password login's. */
cu_rc cu_auth_session_open(cu_vault *v, const cu_ctx *ctx, const cu_store_user *u,
                           char token[CU_SESSION_TOKEN_MAX], cu_err *err);
/* The stored hash of a session token; 0 if token is not one. */
int cu_session_hash(const char *token, uint8_t hash[CU_HASHBYTES]);

/* 1 if r is a role a tenant's key or user may hold (owner .. auditor). */
int cu_role_tenant_ok(cu_role r);

/* The pseudo-collection that users' sealed values name in their AAD (P-ENC-2). */
#define CU_USERS_COLL "$users"
#define CU_TOTP_SECRET_BYTES 20
#define CU_TOTP_STEP 30
#define CU_TOTP_DIGITS 6

/* The keyed digest of a normalized email under the tenant's index key (scope "u:email"). */
cu_rc cu_user_email_digest(cu_vault *v, cu_id tenant, const char *email, uint8_t out[32],
                           cu_err *err);
/* Opens a user's sealed TOTP secret b (sealed under data key version kv) into out, which the
 * caller wipes. */
cu_rc cu_user_totp_open(cu_vault *v, const cu_store_user *u, const cu_blob *b, uint32_t kv,
                        uint8_t out[CU_TOTP_SECRET_BYTES], cu_err *err);
/* P-ACC-2: CU_OK if code (CU_TOTP_DIGITS digits) is key's code at the time step of now or
 * one step either side, with that step (the latest that matches) in *step; else CU_ERR_AUTH.
 * Compares in constant time. */
cu_rc cu_totp_check(const uint8_t *key, size_t keylen, int64_t now, const char *code,
                    int64_t *step);
/* RFC 4648 base32 without padding, NUL-terminated; CU_ERR_LIMIT if outcap is too small. */
cu_rc cu_base32_encode(const uint8_t *in, size_t n, char *out, size_t outcap);

/* The APIKEY_PUT of a new key of tenant with role and name, its secret written into secret
 * (the only time it exists in clear; only its hash is in the op). */
cu_rc cu_apikey_op(cu_id tenant, cu_role role, const char *name, cu_store_op *op,
                   char secret[CU_APIKEY_SECRET_MAX], cu_err *err);
/* The public view of a stored key. */
void cu_apikey_from_store(const cu_store_apikey *s, cu_apikey *k);
/* The CU_OP_RESEAL ops of a user's email, TOTP secret and pending secret under nk: ops[0..3),
 * each of type 0 when nothing is to be done (the data key's re-encryption, reseal.c; P-ENC-5). */
cu_rc cu_user_reseal_ops(cu_vault *v, const cu_store_user *u, const cu_key *nk, cu_store_op ops[3],
                         cu_err *err);

#endif
