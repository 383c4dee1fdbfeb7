/*
 * test_opsession.c: the operator's console session (src/core/opsession.c, docs/portal.md):
 * an operator key opens it, nothing else does; the token acts as the key until its end
 * (CU_OPSESSION_TTL, never extended), and no longer once the key is revoked (P-ACC-3); a
 * changed token is refused. On the store of CUSTOS_TEST_STORE, like every vault test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "th.h"

#define T0 1700000000

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id tenant;
    cu_principal op, owner;
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char secret[CU_APIKEY_SECRET_MAX];
    cu_tenant t;
    cu_apikey k;
    cu_err err = {0};

    cu_clock_set(T0);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    assert_int_equal(cu_apikey_create(f->v, NULL, 0, CU_ROLE_OPERATOR, "ops", &k, secret, &err),
                     CU_OK);
    assert_int_equal(cu_auth_apikey(f->v, secret, &f->op, &err), CU_OK);
    assert_int_equal(cu_apikey_create(f->v, NULL, t.id, CU_ROLE_OWNER, "own", &k, secret, &err),
                     CU_OK);
    assert_int_equal(cu_auth_apikey(f->v, secret, &f->owner, &err), CU_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    cu_clock_set(0);
    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static void test_the_operator_key_opens_a_session_that_acts_as_it(void **state)
{
    fx *f = *state;
    char token[CU_SESSION_TOKEN_MAX];
    int64_t expires = 0;
    cu_principal p;
    cu_err err = {0};

    assert_int_equal(cu_opsession_open(f->v, NULL, &f->op, token, &expires, &err), CU_OK);
    assert_int_equal(expires, T0 + CU_OPSESSION_TTL);
    assert_true(cu_opsession_token(token));
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(p.kind, CU_PRINCIPAL_APIKEY);
    assert_int_equal(p.id, f->op.id);
    assert_int_equal(p.tenant_id, 0);
    assert_int_equal(p.role, CU_ROLE_OPERATOR);
    /* Until its end, and not a second past it: never extended by use. */
    cu_clock_set(T0 + CU_OPSESSION_TTL - 1);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    cu_clock_set(T0 + CU_OPSESSION_TTL);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_ERR_AUTH);
}

static void test_only_an_operator_key_opens_one(void **state)
{
    fx *f = *state;
    char token[CU_SESSION_TOKEN_MAX] = "";
    int64_t expires = 0;
    cu_principal user = f->op;
    cu_err err = {0};

    assert_int_equal(cu_opsession_open(f->v, NULL, &f->owner, token, &expires, &err),
                     CU_ERR_FORBIDDEN);
    user.kind = CU_PRINCIPAL_USER;
    assert_int_equal(cu_opsession_open(f->v, NULL, &user, token, &expires, &err), CU_ERR_FORBIDDEN);
    assert_string_equal(token, "");
}

/* P-ACC-3: revoking the key ends its sessions from the next use. */
static void test_revoking_the_key_ends_its_sessions(void **state)
{
    fx *f = *state;
    char token[CU_SESSION_TOKEN_MAX];
    int64_t expires = 0;
    cu_principal p;
    cu_err err = {0};

    assert_int_equal(cu_opsession_open(f->v, NULL, &f->op, token, &expires, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(cu_apikey_revoke(f->v, NULL, 0, f->op.id, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_ERR_AUTH);
}

/* A master key rotation ends every operator session at once: a token verifies only under the
 * newest version (a rotation may be made because an older one leaked). A new one works. */
static void test_a_master_rotation_ends_the_sessions(void **state)
{
    fx *f = *state;
    char token[CU_SESSION_TOKEN_MAX];
    int64_t expires = 0;
    unsigned nv = 0;
    size_t n = 0;
    cu_principal p;
    cu_err err = {0};

    assert_int_equal(cu_opsession_open(f->v, NULL, &f->op, token, &expires, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(cu_key_rotate_master(f->v, NULL, &nv, &n, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_ERR_AUTH);
    assert_int_equal(cu_opsession_open(f->v, NULL, &f->op, token, &expires, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
}

/* P-AUD-1: the operator's sign-out is on the platform's log, by the key. */
static void test_sign_out_is_audited(void **state)
{
    fx *f = *state;
    char token[CU_SESSION_TOKEN_MAX], want[48];
    int64_t expires = 0;
    cu_audit_entry *es = NULL;
    size_t n = 0;
    int found = 0;
    cu_err err = {0};

    assert_int_equal(cu_opsession_open(f->v, NULL, &f->op, token, &expires, &err), CU_OK);
    assert_int_equal(cu_session_end(f->v, token, &err), CU_OK);
    snprintf(want, sizeof(want), "operator:key:%llu", (unsigned long long)f->op.id);
    cu_audit_filter flt = {.action = "operator.logout", .limit = 1000};
    assert_int_equal(cu_audit_list(f->v, NULL, 0, &flt, &es, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        found += strcmp(es[i].action, "operator.logout") == 0 && strcmp(es[i].actor, want) == 0;
    free(es);
    assert_int_equal(found, 1);
}

/* Any changed character (id, expiry, version, MAC), a shorter or longer token: refused. */
static void test_a_changed_token_is_refused(void **state)
{
    fx *f = *state;
    char token[CU_SESSION_TOKEN_MAX], bad[CU_SESSION_TOKEN_MAX + 1];
    int64_t expires = 0;
    cu_principal p;
    cu_err err = {0};
    size_t len;

    assert_int_equal(cu_opsession_open(f->v, NULL, &f->op, token, &expires, &err), CU_OK);
    len = strlen(token);
    for (size_t i = 4; i < len; i++) {
        memcpy(bad, token, len + 1);
        bad[i] = bad[i] == 'a' ? 'b' : 'a';
        assert_int_equal(cu_auth_session(f->v, bad, &p, &err), CU_ERR_AUTH);
    }
    memcpy(bad, token, len + 1);
    bad[len - 1] = '\0';
    assert_int_equal(cu_auth_session(f->v, bad, &p, &err), CU_ERR_AUTH);
    memcpy(bad, token, len);
    bad[len] = '0';
    bad[len + 1] = '\0';
    assert_int_equal(cu_auth_session(f->v, bad, &p, &err), CU_ERR_AUTH);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_the_operator_key_opens_a_session_that_acts_as_it),
        T(test_only_an_operator_key_opens_one),
        T(test_revoking_the_key_ends_its_sessions),
        T(test_a_master_rotation_ends_the_sessions),
        T(test_sign_out_is_audited),
        T(test_a_changed_token_is_refused),
    };

    return cmocka_run_group_tests_name("the operator's console session", tests, NULL, NULL);
}
