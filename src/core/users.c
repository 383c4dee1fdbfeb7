/*
 * users.c: a tenant's users and their second factor (P-ACC-2, P-ENC-3, P-ENC-6).
 *
 * A user's email is personal: it is normalized, sealed under the tenant data key with AAD
 * naming (tenant, "$users", user id, "email", key version), and found only by its keyed digest
 * under the tenant's index key (scope "u:email"), unique per tenant. The password is kept only
 * as an Argon2id hash. A TOTP secret is sealed the same way (field "totp"); a new one waits as
 * the pending enrolment, and only a valid code makes it the active one, so enrolling again
 * never switches the second factor off.
 *
 * Messages name no email, password or secret. Logging in lives in auth.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "keys_int.h"
#include "schema_int.h"
#include "tenant_int.h"
#include "util.h"

#define EMAIL_MAX 256
#define EMAIL_SCOPE "u:email"

_Static_assert(CU_STORE_PWHASH_MAX == CU_PWHASH_STRBYTES, "password hash buffer sizes");

static void wipe_free(char *s)
{
    if (s != NULL) {
        cu_wipe(s, strlen(s));
        free(s);
    }
}

void cu_user_cleanup(cu_user *u)
{
    if (u == NULL)
        return;
    wipe_free(u->email);
    u->email = NULL;
}

cu_rc cu_user_email_digest(cu_vault *v, cu_id tenant, const char *email, uint8_t out[32],
                           cu_err *err)
{
    cu_key ik = {0};
    cu_rc rc;

    rc = cu_keys_child(v, tenant, CU_KEY_INDEX, 0, &ik, err);
    if (rc == CU_OK)
        cu_blind_index(ik.k, EMAIL_SCOPE, (const uint8_t *)email, strlen(email), out);
    cu_key_wipe(&ik);
    return rc;
}

/* Opens a sealed value of user u (field "email" or "totp"), sealed under data key version kv,
 * into a NUL-terminated buffer the caller wipes and frees (P-ENC-5: the version that sealed
 * it, which a data key rotation may have left behind the newest). */
static cu_rc open_field(cu_vault *v, const cu_store_user *u, const char *field, const cu_blob *b,
                        uint32_t kv, char **out, size_t *len, cu_err *err)
{
    cu_key dk = {0};
    cu_aad aad;
    cu_rc rc;

    if ((rc = cu_keys_child_at(v, u->tenant_id, CU_KEY_DATA, 0, kv, &dk, err)) != CU_OK)
        return rc;
    cu_aad_data(&aad, u->tenant_id, CU_USERS_COLL, u->id, field, kv);
    rc = cu_open(&dk, &aad, b, out, len, "user", err);
    cu_key_wipe(&dk);
    return rc;
}

cu_rc cu_user_totp_open(cu_vault *v, const cu_store_user *u, const cu_blob *b, uint32_t kv,
                        uint8_t out[CU_TOTP_SECRET_BYTES], cu_err *err)
{
    char *text = NULL;
    size_t len = 0;
    cu_rc rc;

    if (b->data == NULL)
        return cu_err_set(err, CU_ERR_STORE, "the user's TOTP secret is missing");
    rc = open_field(v, u, "totp", b, kv, &text, &len, err);
    if (rc == CU_OK && len != CU_TOTP_SECRET_BYTES)
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the user's TOTP secret has a wrong length");
    if (rc == CU_OK)
        memcpy(out, text, CU_TOTP_SECRET_BYTES);
    if (text) {
        cu_wipe(text, len);
        free(text);
    }
    return rc;
}

static cu_rc password_ok(const char *pw, cu_err *err)
{
    size_t n = pw ? strnlen(pw, CU_PASSWORD_MAX + 1) : 0;

    if (n < CU_PASSWORD_MIN || n > CU_PASSWORD_MAX)
        return cu_err_set(err, CU_ERR_INVALID, "password must be %d to %d bytes", CU_PASSWORD_MIN,
                          CU_PASSWORD_MAX);
    return CU_OK;
}

/* Seals the normalized email of new user op->u.user under the tenant data key. */
static cu_rc seal_email(cu_vault *v, cu_store_user *u, const char *email, cu_err *err)
{
    cu_key dk = {0};
    cu_aad aad;
    cu_rc rc;

    rc = cu_keys_child(v, u->tenant_id, CU_KEY_DATA, 0, &dk, err);
    if (rc == CU_OK) {
        u->key_version = dk.version;
        cu_aad_data(&aad, u->tenant_id, CU_USERS_COLL, u->id, "email", dk.version);
        rc = cu_seal(&dk, &aad, email, strlen(email), &u->email, err);
    }
    cu_key_wipe(&dk);
    return rc;
}

cu_rc cu_user_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *email,
                     const char *password, cu_role role, cu_id *out_id, cu_err *err)
{
    char norm[EMAIL_MAX];
    cu_store_op op;
    cu_store_user *u = &op.u.user;
    cu_rc rc;

    cu_audit_in a;

    memset(&op, 0, sizeof(op));
    /* P-ACC-1: a user holds a tenant role, never the operator's. */
    if (!cu_role_tenant_ok(role)) {
        rc = cu_err_set(err, CU_ERR_INVALID,
                        "role must be one of owner, admin, agent, analyst, auditor");
        goto out;
    }
    if (email == NULL || cu_norm_email(email, norm, sizeof(norm)) != CU_OK) {
        rc = cu_err_set(err, CU_ERR_INVALID, "email is not a valid address");
        goto out;
    }
    if ((rc = password_ok(password, err)) != CU_OK ||
        (rc = cu_tenant_check(v, tenant, 1, err)) != CU_OK)
        goto out;
    op.type = CU_OP_USER_PUT;
    u->tenant_id = tenant;
    u->id = cu_random_id();
    u->role = (int)role;
    u->created_at = cu_clock_now();
    if ((rc = cu_user_email_digest(v, tenant, norm, u->email_digest, err)) != CU_OK ||
        (rc = seal_email(v, u, norm, err)) != CU_OK)
        goto out;
    /* P-ENC-3: the password is kept only as its Argon2id hash. */
    if ((rc = cu_auth_password_hash(password, u->password_hash)) != CU_OK) {
        rc = cu_err_set(err, rc, "could not hash the password");
        goto out;
    }
    cu_audit_in_set(&a, tenant, "user.create", "user:%llu", (unsigned long long)u->id);
    rc = cu_commit(v, ctx, &op, 1, &a, 1, err);
    if (rc == CU_ERR_EXISTS)
        rc = cu_err_set(err, CU_ERR_EXISTS, "a user with this email already exists");
    if (rc == CU_OK && out_id)
        *out_id = u->id;
out:
    cu_wipe(norm, sizeof(norm));
    free(u->email.data);
    return rc;
}

/* Fills out from a stored user, opening its email. */
static cu_rc user_from_store(cu_vault *v, const cu_store_user *row, cu_user *out, cu_err *err)
{
    size_t len = 0;

    memset(out, 0, sizeof(*out));
    out->id = row->id;
    out->tenant_id = row->tenant_id;
    out->role = (cu_role)row->role;
    out->totp_enabled = row->totp_enabled;
    out->created_at = row->created_at;
    return open_field(v, row, "email", &row->email, row->key_version, &out->email, &len, err);
}

cu_rc cu_user_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user, cu_user *out,
                  cu_err *err)
{
    cu_store_user row;
    cu_audit_in a;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    memset(&row, 0, sizeof(row));
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    rc = cu_store_user_get(v->store, tenant, user, &row, err);
    if (rc == CU_OK)
        rc = user_from_store(v, &row, out, err);
    cu_audit_in_set(&a, tenant, "user.read", "user:%llu", (unsigned long long)user);
    if (rc == CU_OK && (rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        cu_user_cleanup(out);
    cu_store_user_cleanup(&row);
    return rc;
}

cu_rc cu_user_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_user **out, size_t *n,
                   cu_err *err)
{
    cu_store_user *rows = NULL;
    cu_user *res = NULL;
    size_t cnt = 0, i;
    cu_audit_in a;
    cu_rc rc;

    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    cu_audit_in_set(&a, tenant, "user.list", "users:%llu", (unsigned long long)tenant);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK ||
        (rc = cu_store_user_list(v->store, tenant, &rows, &cnt, err)) != CU_OK)
        goto out;
    res = calloc(cnt ? cnt : 1, sizeof(*res));
    if (res == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < cnt && rc == CU_OK; i++)
        rc = user_from_store(v, &rows[i], &res[i], err);
    if (rc != CU_OK) {
        for (i = 0; i < cnt; i++)
            cu_user_cleanup(&res[i]);
        free(res);
        goto out;
    }
    *out = res;
    *n = cnt;
out:
    cu_store_users_free(rows, cnt);
    return rc;
}

/* Deleting a user ends its sessions in the same transaction. */
cu_rc cu_user_delete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user, cu_err *err)
{
    cu_store_op op;
    cu_rc rc;

    cu_audit_in a;

    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_USER_DELETE;
    op.u.del.tenant_id = tenant;
    op.u.del.id = user;
    cu_audit_in_set(&a, tenant, "user.delete", "user:%llu", (unsigned long long)user);
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}

/* A bounded string builder for the otpauth URI. */
typedef struct ubuf {
    char *p;
    size_t cap, len;
    int over;
} ubuf;

static void ub_add(ubuf *b, const char *s)
{
    size_t n = strlen(s);

    if (b->over || b->len + n >= b->cap) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* Appends s percent-encoded: everything but RFC 3986's unreserved characters. */
static void ub_url(ubuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char one[4];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            one[0] = (char)c;
            one[1] = '\0';
        } else {
            one[0] = '%';
            one[1] = hex[c >> 4];
            one[2] = hex[c & 15];
            one[3] = '\0';
        }
        ub_add(b, one);
    }
}

/* P-ACC-2: the Key Uri Format of authenticator apps. An email too long for the buffer once
 * encoded gives way to the user id as label, so every account can enrol. */
static cu_rc build_uri(char uri[CU_TOTP_URI_MAX], const char *email, cu_id user,
                       const char *secret32)
{
    char ids[CU_ID_STRLEN];

    for (int attempt = 0; attempt < 2; attempt++) {
        ubuf b = {.p = uri, .cap = CU_TOTP_URI_MAX};
        uri[0] = '\0';
        ub_add(&b, "otpauth://totp/Custos:");
        if (attempt == 0) {
            ub_url(&b, email);
        } else {
            cu_id_format(user, ids);
            ub_add(&b, "user-");
            ub_add(&b, ids);
        }
        ub_add(&b, "?secret=");
        ub_add(&b, secret32);
        ub_add(&b, "&issuer=Custos&algorithm=SHA1&digits=6&period=30");
        if (!b.over)
            return CU_OK;
        cu_wipe(uri, CU_TOTP_URI_MAX);
    }
    return CU_ERR_LIMIT;
}

/* Seals a fresh secret as the pending enrolment of row's user, and writes its URI. A step
 * above 0 (the re-authenticating code) is spent in the same transaction: CU_ERR_AUTH if
 * another request spent it meanwhile. */
static cu_rc enroll(cu_vault *v, const cu_ctx *ctx, const cu_store_user *row, int64_t step,
                    char uri[CU_TOTP_URI_MAX], cu_err *err)
{
    cu_audit_in a;
    uint8_t secret[CU_TOTP_SECRET_BYTES];
    char b32[40], *email = NULL;
    size_t elen = 0;
    cu_key dk = {0};
    cu_store_op ops[2], op;
    cu_aad aad;
    cu_rc rc;

    memset(&op, 0, sizeof(op));
    memset(ops, 0, sizeof(ops));
    cu_random(secret, sizeof(secret));
    if ((rc = cu_keys_child(v, row->tenant_id, CU_KEY_DATA, 0, &dk, err)) != CU_OK ||
        (rc = open_field(v, row, "email", &row->email, row->key_version, &email, &elen, err)) !=
            CU_OK)
        goto out;
    if (cu_base32_encode(secret, sizeof(secret), b32, sizeof(b32)) != CU_OK ||
        build_uri(uri, email, row->id, b32) != CU_OK) {
        rc = cu_err_set(err, CU_ERR_LIMIT, "the TOTP URI does not fit");
        goto out;
    }
    op.type = CU_OP_USER_TOTP_PENDING;
    op.u.totp.tenant_id = row->tenant_id;
    op.u.totp.user_id = row->id;
    op.u.totp.key_version = dk.version;
    cu_aad_data(&aad, row->tenant_id, CU_USERS_COLL, row->id, "totp", dk.version);
    if ((rc = cu_seal(&dk, &aad, secret, sizeof(secret), &op.u.totp.secret, err)) != CU_OK)
        goto out;
    cu_audit_in_set(&a, row->tenant_id, "user.totp_enroll", "user:%llu",
                    (unsigned long long)row->id);
    ops[0] = op;
    ops[1].type = CU_OP_USER_LOGIN_OK;
    ops[1].u.login.tenant_id = row->tenant_id;
    ops[1].u.login.user_id = row->id;
    ops[1].u.login.totp_step = step;
    ops[1].u.login.now = cu_clock_now();
    rc = cu_commit(v, ctx, ops, step > 0 ? 2 : 1, &a, 1, err);
    if (rc == CU_ERR_CONFLICT)
        rc = cu_err_set(err, CU_ERR_AUTH, "the TOTP code was already used");
out:
    if (rc != CU_OK)
        cu_wipe(uri, CU_TOTP_URI_MAX);
    if (email) {
        cu_wipe(email, elen);
        free(email);
    }
    free(op.u.totp.secret.data);
    cu_wipe(secret, sizeof(secret));
    cu_wipe(b32, sizeof(b32));
    cu_key_wipe(&dk);
    return rc;
}

/* P-ACC-2: every user can enrol; the secret stays pending until a code confirms it. A stolen
 * session alone cannot replace the factor: the password, and the current factor's code, are
 * asked again. */
cu_rc cu_user_totp_enroll(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user,
                          const char *password, const char *code, char uri[CU_TOTP_URI_MAX],
                          unsigned *retry_after, cu_err *err)
{
    cu_store_user row;
    int64_t step = 0;
    cu_rc rc;

    memset(&row, 0, sizeof(row));
    uri[0] = '\0';
    if (retry_after)
        *retry_after = 0;
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    rc = cu_store_user_get(v->store, tenant, user, &row, err);
    if (rc == CU_OK)
        rc = cu_auth_reauth(v, &row, password, code, &step, retry_after, err);
    if (rc == CU_OK)
        rc = enroll(v, ctx, &row, step, uri, err);
    cu_store_user_cleanup(&row);
    return rc;
}

/* P-ACC-2: once confirmed, the new factor guards the account alone: every other session of the user
 * ends in the same transaction, so a session opened before the change cannot outlive it. */
cu_rc cu_user_totp_confirm(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id user,
                           const char *code, const char *keep, cu_err *err)
{
    uint8_t secret[CU_TOTP_SECRET_BYTES];
    cu_store_user row;
    cu_store_op op[2];
    int64_t step = 0;
    cu_rc rc;

    cu_audit_in a;

    memset(&row, 0, sizeof(row));
    if ((rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_user_get(v->store, tenant, user, &row, err)) != CU_OK)
        goto out;
    if (row.totp_pending.data == NULL) {
        rc = cu_err_set(err, CU_ERR_CONFLICT, "no TOTP enrolment is pending: enroll first");
        goto out;
    }
    rc = cu_user_totp_open(v, &row, &row.totp_pending, row.totp_pending_key_version, secret, err);
    if (rc == CU_OK && cu_totp_check(secret, sizeof(secret), cu_clock_now(), code, &step) != CU_OK)
        rc = cu_err_set(err, CU_ERR_AUTH, "the TOTP code is not valid");
    cu_wipe(secret, sizeof(secret));
    if (rc != CU_OK)
        goto out;
    /* Only the enrolment this code was checked against becomes active, and the code's step
     * counts as used (P-ACC-2). */
    memset(op, 0, sizeof(op));
    op[0].type = CU_OP_USER_TOTP_ENABLE;
    op[0].u.totp.tenant_id = tenant;
    op[0].u.totp.user_id = user;
    op[0].u.totp.secret = row.totp_pending;
    op[0].u.totp.step = step;
    op[1].type = CU_OP_USER_SESSIONS_END;
    op[1].u.session.tenant_id = tenant;
    op[1].u.session.user_id = user;
    if (keep != NULL && !cu_session_hash(keep, op[1].u.session.token_hash))
        memset(op[1].u.session.token_hash, 0, sizeof(op[1].u.session.token_hash));
    cu_audit_in_set(&a, tenant, "user.totp_confirm", "user:%llu", (unsigned long long)user);
    rc = cu_commit(v, ctx, op, 2, &a, 1, err);
    if (rc == CU_ERR_NOT_FOUND)
        rc = cu_err_set(err, CU_ERR_CONFLICT, "the TOTP enrolment changed meanwhile: enroll again");
out:
    cu_store_user_cleanup(&row);
    return rc;
}

/* P-ENC-5: a user's email, TOTP secret and pending secret, each sealed under an older data key
 * version, sealed again under nk (ops[i] of type 0 where there is nothing to do). */
cu_rc cu_user_reseal_ops(cu_vault *v, const cu_store_user *u, const cu_key *nk, cu_store_op ops[3],
                         cu_err *err)
{
    static const cu_reseal_kind what[3] = {CU_RESEAL_USER_EMAIL, CU_RESEAL_USER_TOTP,
                                           CU_RESEAL_USER_PENDING};
    static const char *const fields[3] = {"email", "totp", "totp"};
    const cu_blob *b[3] = {&u->email, &u->totp_secret, &u->totp_pending};
    const uint32_t kv[3] = {u->key_version, u->totp_key_version, u->totp_pending_key_version};
    cu_rc rc = CU_OK;

    for (int i = 0; i < 3 && rc == CU_OK; i++) {
        cu_store_reseal *r = &ops[i].u.reseal;
        memset(&ops[i], 0, sizeof(ops[i]));
        if (b[i]->data == NULL || kv[i] == nk->version)
            continue;
        ops[i].type = CU_OP_RESEAL;
        r->what = what[i];
        r->tenant_id = u->tenant_id;
        r->id = u->id;
        r->key_version = nk->version;
        if ((r->old[0].data = malloc(b[i]->len ? b[i]->len : 1)) == NULL) {
            rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(r->old[0].data, b[i]->data, b[i]->len);
        r->old[0].len = b[i]->len;
        rc = cu_reseal_value(v, u->tenant_id, CU_USERS_COLL, u->id, fields[i], NULL, kv[i], nk,
                             b[i], &r->ct[0], err);
    }
    if (rc != CU_OK)
        for (int i = 0; i < 3; i++)
            cu_reseal_op_free(&ops[i]);
    return rc;
}
