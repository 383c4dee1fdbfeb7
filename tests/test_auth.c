/*
 * test_auth.c: roles, API keys, users, logins, sessions and TOTP through the public API
 * (include/custos.h), with an attacker's view of the database files where a promise is about
 * what they hold (P-ACC-1 .. P-ACC-6, P-ENC-3), and the store's credential operations.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_int.h"
#include "auth_int.h"
#include "store_sqlite.h"
#include "th.h"
#include "util.h"

#define PW "correct horse battery staple"
#define T0 1700000000 /* a fixed policy time, 20 seconds into a 30-second TOTP step */

typedef struct fx {
    char dir[256];
    char data[256];
    char db[300];
    char wal[300];
    cu_vault *v;
    cu_id a, b; /* two tenants */
} fx;

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    snprintf(f->db, sizeof(f->db), "%s/custos.db", f->data);
    snprintf(f->wal, sizeof(f->wal), "%s/custos.db-wal", f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->a = t.id;
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Globex"}, &t, &err),
                     CU_OK);
    f->b = t.id;
    cu_clock_set(T0);
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

static int in_files(fx *f, const char *s)
{
    return th_file_contains(f->db, s, strlen(s)) || th_file_contains(f->wal, s, strlen(s));
}

static cu_id add_user(fx *f, cu_id tenant, const char *email, cu_role role)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_user_create(f->v, NULL, tenant, email, PW, role, &id, &err) != CU_OK)
        fail_msg("user: %s", err.msg);
    return id;
}

static cu_rc login(fx *f, cu_id tenant, const char *email, const char *pw, const char *code,
                   char token[CU_SESSION_TOKEN_MAX], cu_err *err)
{
    char tok[CU_SESSION_TOKEN_MAX];
    cu_principal p;

    return cu_user_login(f->v, NULL, tenant, email, pw, code, token ? token : tok, &p, NULL, err);
}

/* Decodes RFC 4648 base32 (no padding); returns the byte count. */
static size_t b32_decode(const char *s, uint8_t *out, size_t cap)
{
    unsigned buf = 0, bits = 0;
    size_t n = 0;

    for (; *s && *s != '&'; s++) {
        const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", *p = strchr(abc, *s);
        assert_non_null(p);
        buf = (buf << 5) | (unsigned)(p - abc);
        bits += 5;
        if (bits >= 8) {
            assert_true(n < cap);
            out[n++] = (uint8_t)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    return n;
}

/* Enrols the user, returns its secret (20 bytes) from the URI, and confirms it at now. */
static void enable_totp(fx *f, cu_id tenant, cu_id user, uint8_t secret[20])
{
    char uri[CU_TOTP_URI_MAX], code[11];
    cu_err err = {0};
    const char *p;

    assert_int_equal(cu_user_totp_enroll(f->v, NULL, tenant, user, PW, NULL, uri, NULL, &err),
                     CU_OK);
    p = strstr(uri, "?secret=");
    assert_non_null(p);
    assert_int_equal(b32_decode(p + 8, secret, 20), 20);
    assert_int_equal(cu_totp(secret, 20, cu_clock_now(), 6, code), CU_OK);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, tenant, user, code, NULL, &err), CU_OK);
}

/* --- roles ------------------------------------------------------------------------------- */

static void test_P_ACC_1_role_table(void **state)
{
    /* Rows: none, owner, admin, agent, analyst, auditor, operator. Columns: the permissions
     * TENANTS, DATA_READ, DATA_WRITE, DATA_ERASE, SCHEMA, USERS, KEYS, AUDIT, AGGREGATE, SELF,
     * POLICY (binding a policy is the owner's alone: it sets how long the log is kept). */
    static const char *const table[] = {
        "00000000000", "01111111111", "01111110110", "01100000010",
        "00000000110", "00000001010", "11000000010",
    };
    cu_role r;

    (void)state;
    for (int role = CU_ROLE_NONE; role <= CU_ROLE_OPERATOR; role++)
        for (int p = CU_PERM_TENANTS; p <= CU_PERM_POLICY; p++) {
            int want = table[role][p - CU_PERM_TENANTS] == '1';
            if (cu_role_can((cu_role)role, (cu_perm)p) != want)
                fail_msg("role %d permission %d: want %d", role, p, want);
        }
    assert_false(cu_role_can((cu_role)8, CU_PERM_SELF));
    assert_false(cu_role_can(CU_ROLE_OWNER, (cu_perm)0));
    assert_false(cu_role_can(CU_ROLE_OWNER, (cu_perm)13));
    /* The data subject's role (a portal session, custos_portal.h): portal alone, which no
     * other role holds; never parsed, so no key or user is ever made with it. */
    for (int p = CU_PERM_TENANTS; p <= CU_PERM_PORTAL; p++)
        assert_int_equal(cu_role_can(CU_ROLE_SUBJECT, (cu_perm)p), p == CU_PERM_PORTAL);
    for (int role = CU_ROLE_OWNER; role <= CU_ROLE_OPERATOR; role++)
        assert_false(cu_role_can((cu_role)role, CU_PERM_PORTAL));
    assert_string_equal(cu_role_name(CU_ROLE_SUBJECT), "subject");
    assert_int_equal(cu_role_parse("subject", &r), CU_ERR_INVALID);
    for (int role = CU_ROLE_OWNER; role <= CU_ROLE_OPERATOR; role++) {
        assert_int_equal(cu_role_parse(cu_role_name((cu_role)role), &r), CU_OK);
        assert_int_equal(r, role);
    }
    assert_string_equal(cu_role_name(CU_ROLE_AUDITOR), "auditor");
    assert_null(cu_role_name(CU_ROLE_NONE));
    assert_null(cu_role_name((cu_role)8));
    assert_int_equal(cu_role_parse("Owner", &r), CU_ERR_INVALID);
    assert_int_equal(cu_role_parse("", &r), CU_ERR_INVALID);
    assert_int_equal(cu_role_parse(NULL, &r), CU_ERR_INVALID);
}

static void test_P_ACC_1_who_may_grant_which_role(void **state)
{
    /* Rows: granter none .. operator; columns: role none .. operator. An admin grants no
     * auditor: it would hand out the audit permission it does not hold. */
    static const char *const table[] = {
        "0000000", "0111110", "0011100", "0000000", "0000000", "0000000", "0000000",
    };

    (void)state;
    for (int g = CU_ROLE_NONE; g <= CU_ROLE_OPERATOR; g++)
        for (int r = CU_ROLE_NONE; r <= CU_ROLE_OPERATOR; r++)
            if (cu_role_can_grant((cu_role)g, (cu_role)r) != (table[g][r] == '1'))
                fail_msg("granter %d role %d", g, r);
}

/* --- TOTP -------------------------------------------------------------------------------- */

static void test_P_ACC_2_totp_matches_rfc6238_vectors(void **state)
{
    static const struct {
        int64_t t;
        const char *code;
    } vec[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
    };
    const uint8_t *key = (const uint8_t *)"12345678901234567890";
    char out[11];

    (void)state;
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        assert_int_equal(cu_totp(key, 20, vec[i].t, 8, out), CU_OK);
        assert_string_equal(out, vec[i].code);
    }
    /* Six digits are the last six of the eight. */
    assert_int_equal(cu_totp(key, 20, 59, 6, out), CU_OK);
    assert_string_equal(out, "287082");
    assert_int_equal(cu_totp(key, 20, 59, 5, out), CU_ERR_INVALID);
    assert_int_equal(cu_totp(key, 20, 59, 9, out), CU_ERR_INVALID);
    assert_int_equal(cu_totp(key, 0, 59, 6, out), CU_ERR_INVALID);
    assert_int_equal(cu_totp(key, 20, -1, 6, out), CU_ERR_INVALID);
}

static void test_P_ACC_2_base32_matches_rfc4648_vectors(void **state)
{
    static const char *const vec[][2] = {
        {"", ""},
        {"f", "MY"},
        {"fo", "MZXQ"},
        {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"},
        {"fooba", "MZXW6YTB"},
        {"foobar", "MZXW6YTBOI"},
    };
    char out[32];

    (void)state;
    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        assert_int_equal(
            cu_base32_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), out, sizeof(out)),
            CU_OK);
        assert_string_equal(out, vec[i][1]);
    }
    assert_int_equal(cu_base32_encode((const uint8_t *)"foobar", 6, out, 10), CU_ERR_LIMIT);
}

static void test_P_ACC_2_totp_agrees_with_oathtool(void **state)
{
    static const int64_t times[] = {59, 1700000000, 1234567890, 4102444800};
    uint8_t key[20];
    char b32[40], ours[11], cmd[256], theirs[32];

    (void)state;
    if (access("/usr/bin/oathtool", X_OK) != 0 && system("command -v oathtool >/dev/null") != 0)
        skip();
    for (int round = 0; round < 4; round++) {
        FILE *p;
        cu_random(key, sizeof(key));
        assert_int_equal(cu_base32_encode(key, sizeof(key), b32, sizeof(b32)), CU_OK);
        snprintf(cmd, sizeof(cmd), "oathtool --totp -b --now=@%lld %s", (long long)times[round],
                 b32);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(theirs, sizeof(theirs), p));
        assert_int_equal(pclose(p), 0);
        theirs[strcspn(theirs, "\n")] = '\0';
        assert_int_equal(cu_totp(key, sizeof(key), times[round], 6, ours), CU_OK);
        assert_string_equal(ours, theirs);
    }
}

static void test_P_ACC_2_enrolment_uri_and_confirmation(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "Ada+Ops@Example.com", CU_ROLE_AGENT);
    char uri[CU_TOTP_URI_MAX], code[11], b32[40];
    uint8_t secret[20];
    cu_user got;
    cu_err err = {0};
    const char *p;

    /* Nothing to confirm before an enrolment. */
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, "123456", NULL, &err),
                     CU_ERR_CONFLICT);
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, PW, NULL, uri, NULL, &err), CU_OK);
    assert_true(strncmp(uri, "otpauth://totp/Custos:ada%2Bops%40example.com?secret=", 53) == 0);
    p = strstr(uri, "?secret=") + 8;
    assert_int_equal(strcspn(p, "&"), 32);
    assert_string_equal(p + 32, "&issuer=Custos&algorithm=SHA1&digits=6&period=30");
    assert_int_equal(b32_decode(p, secret, sizeof(secret)), 20);
    /* Pending until confirmed: logins need no code yet, and the secret is in no file. */
    assert_int_equal(login(f, f->a, "ada+ops@example.com", PW, NULL, NULL, &err), CU_OK);
    memcpy(b32, p, 32);
    b32[32] = '\0';
    assert_false(in_files(f, b32));
    assert_false(th_file_contains(f->db, secret, 20) || th_file_contains(f->wal, secret, 20));
    /* A wrong code, or garbage, does not confirm. */
    assert_int_equal(cu_totp(secret, 20, T0 + 600, 6, code), CU_OK);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, code, NULL, &err), CU_ERR_AUTH);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, "12345", NULL, &err), CU_ERR_AUTH);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, NULL, NULL, &err), CU_ERR_AUTH);
    assert_int_equal(cu_user_get(f->v, NULL, f->a, u, &got, &err), CU_OK);
    assert_false(got.totp_enabled);
    cu_user_cleanup(&got);
    /* The code of the previous step still confirms (clock drift). */
    assert_int_equal(cu_totp(secret, 20, T0 - 30, 6, code), CU_OK);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, code, NULL, &err), CU_OK);
    assert_int_equal(cu_user_get(f->v, NULL, f->a, u, &got, &err), CU_OK);
    assert_true(got.totp_enabled);
    cu_user_cleanup(&got);
    /* Confirmed once: the enrolment is used up. */
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, code, NULL, &err), CU_ERR_CONFLICT);
}

static void test_P_ACC_2_login_needs_the_code_once_enabled(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char code[11], wrong[11];
    uint8_t secret[20];
    cu_err err = {0};

    enable_totp(f, f->a, u, secret);
    cu_clock_set(T0 + 30);
    assert_int_equal(cu_totp(secret, 20, T0 + 30, 6, code), CU_OK);
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, NULL, &err), CU_ERR_MFA_REQUIRED);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, "", NULL, &err), CU_ERR_MFA_REQUIRED);
    /* A wrong code is a failed login (P-ACC-6); a wrong password with the right code is too. */
    assert_int_equal(login(f, f->a, "ada@example.com", PW, wrong, NULL, &err), CU_ERR_MFA_REQUIRED);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, "abcdef", NULL, &err),
                     CU_ERR_MFA_REQUIRED);
    assert_int_equal(login(f, f->a, "ada@example.com", "wrong password!", code, NULL, &err),
                     CU_ERR_AUTH);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_OK);
    /* The window is one step either side: codes two steps away are refused. */
    cu_clock_set(T0 + 300);
    assert_int_equal(cu_totp(secret, 20, T0 + 240, 6, wrong), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, wrong, NULL, &err), CU_ERR_MFA_REQUIRED);
    assert_int_equal(cu_totp(secret, 20, T0 + 360, 6, wrong), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, wrong, NULL, &err), CU_ERR_MFA_REQUIRED);
    assert_int_equal(cu_totp(secret, 20, T0 + 330, 6, code), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_OK);
}

static void test_P_ACC_2_replayed_code_is_refused(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char code[11], confirm_code[11];
    uint8_t secret[20];
    cu_err err = {0};

    enable_totp(f, f->a, u, secret);
    /* The code that confirmed the enrolment cannot log in. */
    assert_int_equal(cu_totp(secret, 20, T0, 6, confirm_code), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, confirm_code, NULL, &err),
                     CU_ERR_MFA_REQUIRED);
    assert_non_null(strstr(err.msg, "already used"));
    /* The next step's code logs in once; again, it is refused, also a step later. */
    cu_clock_set(T0 + 30);
    assert_int_equal(cu_totp(secret, 20, T0 + 30, 6, code), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_ERR_MFA_REQUIRED);
    cu_clock_set(T0 + 60);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_ERR_MFA_REQUIRED);
    /* The code of the enrolment is refused again, now as outside the window. */
    assert_int_equal(login(f, f->a, "ada@example.com", PW, confirm_code, NULL, &err),
                     CU_ERR_MFA_REQUIRED);
    assert_int_equal(cu_totp(secret, 20, T0 + 60, 6, code), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_OK);
}

static void test_P_ACC_2_new_enrolment_replaces_the_factor_only_once_confirmed(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char uri[CU_TOTP_URI_MAX], code[11];
    uint8_t old[20], fresh[20];
    cu_err err = {0};

    enable_totp(f, f->a, u, old);
    cu_clock_set(T0 + 30);
    assert_int_equal(cu_totp(old, 20, T0 + 30, 6, code), CU_OK);
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, PW, code, uri, NULL, &err), CU_OK);
    assert_int_equal(b32_decode(strstr(uri, "?secret=") + 8, fresh, 20), 20);
    /* The old factor still rules (the code that re-enrolled is spent). */
    cu_clock_set(T0 + 60);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, NULL, &err), CU_ERR_MFA_REQUIRED);
    assert_int_equal(cu_totp(old, 20, T0 + 60, 6, code), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_OK);
    cu_clock_set(T0 + 90);
    assert_int_equal(cu_totp(fresh, 20, T0 + 90, 6, code), CU_OK);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, code, NULL, &err), CU_OK);
    cu_clock_set(T0 + 120);
    assert_int_equal(cu_totp(old, 20, T0 + 120, 6, code), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_ERR_MFA_REQUIRED);
    assert_int_equal(cu_totp(fresh, 20, T0 + 120, 6, code), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, code, NULL, &err), CU_OK);
}

/* --- API keys ---------------------------------------------------------------------------- */

static void test_P_ACC_3_key_shown_once_stored_as_hash_and_revocable(void **state)
{
    fx *f = *state;
    char secret[CU_APIKEY_SECRET_MAX], ids[CU_ID_STRLEN], want[80], hashhex[80];
    uint8_t h[32];
    cu_apikey k, *list = NULL;
    cu_principal p;
    cu_err err = {0};
    size_t n = 0;

    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_AGENT, "ci", &k, secret, &err),
                     CU_OK);
    cu_id_format(k.id, ids);
    snprintf(want, sizeof(want), "cuk_%s_", ids);
    assert_true(strncmp(secret, want, strlen(want)) == 0);
    assert_int_equal(strlen(secret), strlen(want) + 64);
    assert_int_equal(strspn(secret + strlen(want), "0123456789abcdef"), 64);
    assert_int_equal(k.tenant_id, f->a);
    assert_int_equal(k.role, CU_ROLE_AGENT);
    assert_string_equal(k.name, "ci");
    assert_int_equal(k.revoked_at, 0);
    /* It authenticates as what it was made for. */
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_OK);
    assert_int_equal(p.kind, CU_PRINCIPAL_APIKEY);
    assert_int_equal(p.id, k.id);
    assert_int_equal(p.tenant_id, f->a);
    assert_int_equal(p.role, CU_ROLE_AGENT);
    /* P-ENC-3: no file holds the secret or its random part; the row holds its SHA-256. */
    assert_false(in_files(f, secret));
    assert_false(in_files(f, secret + strlen(want)));
    cu_sha256((const uint8_t *)secret, strlen(secret), h);
    for (int i = 0; i < 32; i++)
        snprintf(hashhex + 2 * i, 3, "%02X", h[i]);
    assert_int_equal(
        th_sql_text(f->data, "SELECT hex(secret_hash) FROM api_keys", want, sizeof(want)), 0);
    assert_string_equal(want, hashhex);
    /* Listing shows the key, never a secret (the struct has no room for one). */
    assert_int_equal(cu_apikey_list(f->v, NULL, f->a, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, k.id);
    free(list);
    /* Revoked: it no longer authenticates, and the list says since when. */
    cu_clock_set(T0 + 100);
    assert_int_equal(cu_apikey_revoke(f->v, NULL, f->a, k.id, &err), CU_OK);
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_ERR_AUTH);
    assert_int_equal(cu_apikey_revoke(f->v, NULL, f->a, k.id, &err), CU_OK); /* idempotent */
    assert_int_equal(cu_apikey_list(f->v, NULL, f->a, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].revoked_at, T0 + 100);
    free(list);
    assert_int_equal(cu_apikey_revoke(f->v, NULL, f->a, 12345, &err), CU_ERR_NOT_FOUND);
}

static void test_P_ACC_3_every_bad_secret_gets_one_answer(void **state)
{
    fx *f = *state;
    char secret[CU_APIKEY_SECRET_MAX], revoked[CU_APIKEY_SECRET_MAX], bad[16][128], first[256];
    cu_apikey k;
    cu_principal p;
    cu_err err = {0};
    size_t n = 0, len, i;

    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_ADMIN, "a", &k, secret, &err),
                     CU_OK);
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_ADMIN, "b", &k, revoked, &err),
                     CU_OK);
    assert_int_equal(cu_apikey_revoke(f->v, NULL, f->a, k.id, &err), CU_OK);
    len = strlen(secret);
    snprintf(bad[n++], 128, "%s", revoked);
    snprintf(bad[n++], 128, "%s", secret);
    bad[n - 1][len - 1] = bad[n - 1][len - 1] == '0' ? '1' : '0'; /* one digit off */
    snprintf(bad[n++], 128, "%.*s", (int)(len - 1), secret);      /* one short */
    snprintf(bad[n++], 128, "%s0", secret);                       /* one long */
    snprintf(bad[n++], 128, "cuk_1_%s", secret + len - 64);       /* unknown id */
    snprintf(bad[n++], 128, "cuk_0%s", secret + 4);               /* leading zero */
    snprintf(bad[n++], 128, "CUK_%s", secret + 4);
    snprintf(bad[n++], 128, "cuk__%s", secret + len - 64);
    snprintf(bad[n++], 128, "%s", "");
    snprintf(bad[n++], 128, "%s", "cuk_");
    snprintf(bad[n++], 128, "%s", secret);
    for (i = len - 64; i < len; i++) /* uppercase hex */
        if (bad[n - 1][i] >= 'a')
            bad[n - 1][i] = (char)(bad[n - 1][i] - 32);
    snprintf(bad[n++], 128, "%s", secret);
    bad[n - 1][len - 64] = 'g';
    first[0] = '\0';
    for (i = 0; i < n; i++) {
        memset(&err, 0, sizeof(err));
        if (cu_auth_apikey(f->v, bad[i], &p, &err) != CU_ERR_AUTH)
            fail_msg("bad secret %zu was accepted", i);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", err.msg);
        assert_string_equal(err.msg, first);
    }
    assert_int_equal(cu_auth_apikey(f->v, NULL, &p, &err), CU_ERR_AUTH);
    assert_string_equal(err.msg, first);
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_OK);
}

static void test_P_ACC_3_keys_are_scoped_to_a_tenant_and_role(void **state)
{
    fx *f = *state;
    char secret[CU_APIKEY_SECRET_MAX], spare[CU_APIKEY_SECRET_MAX], sql[128];
    cu_apikey k, *list = NULL;
    cu_principal p;
    cu_err err = {0};
    size_t n = 0;

    /* P-ACC-1: the operator role lives in tenant 0 alone, and tenant 0 holds nothing else. */
    assert_int_equal(cu_apikey_create(f->v, NULL, 0, CU_ROLE_OWNER, "x", &k, secret, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_OPERATOR, "x", &k, secret, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_NONE, "x", &k, secret, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, (cu_role)9, "x", &k, secret, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_apikey_create(f->v, NULL, 424242, CU_ROLE_OWNER, "x", &k, secret, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_OWNER, "", &k, secret, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_OWNER, "a\nb", &k, secret, &err),
                     CU_ERR_INVALID);
    memset(sql, 'n', 64);
    sql[64] = '\0';
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_OWNER, sql, &k, secret, &err),
                     CU_ERR_INVALID);
    sql[63] = '\0';
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_OWNER, sql, &k, secret, &err),
                     CU_OK);
    assert_int_equal(cu_apikey_create(f->v, NULL, 0, CU_ROLE_OPERATOR, "ops", &k, secret, &err),
                     CU_OK);
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_OK);
    assert_int_equal(p.tenant_id, 0);
    assert_int_equal(p.role, CU_ROLE_OPERATOR);
    assert_int_equal(cu_apikey_list(f->v, NULL, 0, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].role, CU_ROLE_OPERATOR);
    free(list);
    /* A key of a terminated tenant still authenticates (export stays possible); of a purged
     * one, never. No new key is made for a terminated tenant. */
    assert_int_equal(cu_apikey_create(f->v, NULL, f->b, CU_ROLE_OWNER, "b", &k, secret, &err),
                     CU_OK);
    snprintf(sql, sizeof(sql), "UPDATE tenants SET state = 1 WHERE tenant_id = %llu",
             (unsigned long long)f->b);
    assert_int_equal(th_sql(f->data, sql), 0);
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_OK);
    assert_int_equal(cu_apikey_create(f->v, NULL, f->b, CU_ROLE_OWNER, "c", &k, spare, &err),
                     CU_ERR_TERMINATED);
    assert_string_equal(spare, "");
    snprintf(sql, sizeof(sql), "UPDATE tenants SET state = 2 WHERE tenant_id = %llu",
             (unsigned long long)f->b);
    assert_int_equal(th_sql(f->data, sql), 0);
    /* Written behind the vault's back, as another process would: the key checked just above
     * is cached, and the store is read again once the cache's TTL (1 s) has passed
     * (docs/security.md, Caches of secrets). A purge through the vault holds at once
     * (tests/test_cache.c). */
    usleep(1100 * 1000);
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_ERR_AUTH);
    /* A row that claims a role its tenant may not hold does not authenticate. */
    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_AUDITOR, "d", &k, secret, &err),
                     CU_OK);
    snprintf(sql, sizeof(sql), "UPDATE api_keys SET role = 6 WHERE key_id = %llu",
             (unsigned long long)k.id);
    assert_int_equal(th_sql(f->data, sql), 0);
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_ERR_AUTH);
}

/* --- users and passwords ----------------------------------------------------------------- */

static void test_P_ENC_3_passwords_stored_as_argon2id(void **state)
{
    fx *f = *state;
    char hash[256];
    cu_user u;
    cu_err err = {0};
    cu_id id = add_user(f, f->a, "Canary.User@Example.org", CU_ROLE_ANALYST);

    assert_int_equal(th_sql_text(f->data, "SELECT password_hash FROM users", hash, sizeof(hash)),
                     0);
    assert_true(strncmp(hash, "$argon2id$", 10) == 0);
    assert_false(in_files(f, PW));
    /* The email is personal: sealed, found by keyed digest only (P-ENC-6). */
    assert_false(in_files(f, "canary.user@example.org"));
    assert_false(in_files(f, "Canary.User@Example.org"));
    assert_int_equal(cu_user_get(f->v, NULL, f->a, id, &u, &err), CU_OK);
    assert_string_equal(u.email, "canary.user@example.org");
    assert_int_equal(u.role, CU_ROLE_ANALYST);
    assert_int_equal(u.tenant_id, f->a);
    assert_int_equal(u.created_at, T0);
    assert_false(u.totp_enabled);
    cu_user_cleanup(&u);
    cu_user_cleanup(&u); /* idempotent */
    cu_user_cleanup(NULL);
}

static void test_user_input_is_validated(void **state)
{
    fx *f = *state;
    char longpw[CU_PASSWORD_MAX + 2], sql[128];
    cu_err err = {0};
    cu_id id = 0;

    memset(longpw, 'p', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    assert_int_equal(
        cu_user_create(f->v, NULL, f->a, "a@b.co", "short pw", CU_ROLE_AGENT, &id, &err),
        CU_ERR_INVALID);
    assert_null(strstr(err.msg, "short pw"));
    assert_int_equal(cu_user_create(f->v, NULL, f->a, "a@b.co", longpw, CU_ROLE_AGENT, &id, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_user_create(f->v, NULL, f->a, "a@b.co", NULL, CU_ROLE_AGENT, &id, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_user_create(f->v, NULL, f->a, "not-an-email", PW, CU_ROLE_AGENT, &id, &err),
                     CU_ERR_INVALID);
    assert_null(strstr(err.msg, "not-an-email"));
    assert_int_equal(cu_user_create(f->v, NULL, f->a, NULL, PW, CU_ROLE_AGENT, &id, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_user_create(f->v, NULL, f->a, "a@b.co", PW, CU_ROLE_OPERATOR, &id, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_user_create(f->v, NULL, f->a, "a@b.co", PW, CU_ROLE_NONE, &id, &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_user_create(f->v, NULL, 424242, "a@b.co", PW, CU_ROLE_AGENT, &id, &err),
                     CU_ERR_NOT_FOUND);
    longpw[CU_PASSWORD_MAX] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(cu_user_create(f->v, NULL, f->a, "a@b.co", longpw, CU_ROLE_AGENT, &id, &err),
                     CU_OK);
    snprintf(sql, sizeof(sql), "UPDATE tenants SET state = 1 WHERE tenant_id = %llu",
             (unsigned long long)f->b);
    assert_int_equal(th_sql(f->data, sql), 0);
    assert_int_equal(cu_user_create(f->v, NULL, f->b, "a@b.co", PW, CU_ROLE_AGENT, &id, &err),
                     CU_ERR_TERMINATED);
}

static void test_user_email_is_unique_per_tenant_and_normalized(void **state)
{
    fx *f = *state;
    cu_user *list = NULL;
    cu_err err = {0};
    cu_id id = 0;
    size_t n = 0;

    add_user(f, f->a, "Ada@Example.com", CU_ROLE_OWNER);
    assert_int_equal(
        cu_user_create(f->v, NULL, f->a, "  ada@EXAMPLE.com ", PW, CU_ROLE_AGENT, &id, &err),
        CU_ERR_EXISTS);
    assert_null(strstr(err.msg, "ada"));
    /* The same address in another tenant is another user, with an unrelated digest. */
    add_user(f, f->b, "ada@example.com", CU_ROLE_AGENT);
    assert_int_equal(th_sql_int(f->data, "SELECT count(DISTINCT email_digest) FROM users"), 2);
    cu_clock_set(T0 + 1); /* oldest first */
    add_user(f, f->a, "bob@example.com", CU_ROLE_AUDITOR);
    assert_int_equal(cu_user_list(f->v, NULL, f->a, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].email, "ada@example.com");
    assert_int_equal(list[0].role, CU_ROLE_OWNER);
    assert_string_equal(list[1].email, "bob@example.com");
    for (size_t i = 0; i < n; i++)
        cu_user_cleanup(&list[i]);
    free(list);
    assert_int_equal(login(f, f->a, " ADA@example.COM", PW, NULL, NULL, &err), CU_OK);
}

static void test_P_ENC_2_user_email_moved_to_another_user_is_rejected(void **state)
{
    fx *f = *state;
    cu_id u1 = add_user(f, f->a, "one@example.com", CU_ROLE_AGENT);
    cu_id u2 = add_user(f, f->a, "two@example.com", CU_ROLE_AGENT);
    char sql[256];
    cu_user u;
    cu_err err = {0};

    snprintf(sql, sizeof(sql),
             "UPDATE users SET email = (SELECT email FROM users WHERE user_id = %llu)"
             " WHERE user_id = %llu",
             (unsigned long long)u1, (unsigned long long)u2);
    assert_int_equal(th_sql(f->data, sql), 0);
    assert_int_equal(cu_user_get(f->v, NULL, f->a, u2, &u, &err), CU_ERR_CRYPTO);
    assert_null(u.email);
    assert_int_equal(cu_user_get(f->v, NULL, f->a, u1, &u, &err), CU_OK);
    cu_user_cleanup(&u);
}

/* --- logins and lockout ------------------------------------------------------------------ */

static void test_P_ACC_6_unknown_email_and_wrong_password_look_the_same(void **state)
{
    fx *f = *state;
    char msg[CU_ERR_MSG];
    unsigned long before;
    cu_err err = {0};

    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    before = cu_auth_argon2_calls;
    assert_int_equal(login(f, f->a, "ada@example.com", "wrong password!", NULL, NULL, &err),
                     CU_ERR_AUTH);
    snprintf(msg, sizeof(msg), "%s", err.msg);
    assert_int_equal(cu_auth_argon2_calls - before, 1);
    assert_null(strstr(msg, "ada"));
    assert_null(strstr(msg, "wrong password"));
    /* An unknown email costs one Argon2id run too (the first may also make the dummy hash). */
    assert_int_equal(login(f, f->a, "eve@example.com", "wrong password!", NULL, NULL, &err),
                     CU_ERR_AUTH);
    assert_string_equal(err.msg, msg);
    before = cu_auth_argon2_calls;
    assert_int_equal(login(f, f->a, "eve@example.com", PW, NULL, NULL, &err), CU_ERR_AUTH);
    assert_int_equal(cu_auth_argon2_calls - before, 1);
    assert_string_equal(err.msg, msg);
    /* So does an unknown tenant. */
    assert_int_equal(login(f, 424242, "ada@example.com", PW, NULL, NULL, &err), CU_ERR_AUTH);
    assert_string_equal(err.msg, msg);
    /* Malformed input gets the same answer. */
    assert_int_equal(login(f, f->a, "no at sign", PW, NULL, NULL, &err), CU_ERR_AUTH);
    assert_string_equal(err.msg, msg);
    assert_int_equal(login(f, f->a, NULL, PW, NULL, NULL, &err), CU_ERR_AUTH);
    assert_int_equal(login(f, f->a, "ada@example.com", NULL, NULL, NULL, &err), CU_ERR_AUTH);
    assert_string_equal(err.msg, msg);
}

/* A login from source src; *retry gets the seconds to wait when refused. */
static cu_rc login_from(fx *f, const char *src, const char *email, const char *pw, const char *code,
                        unsigned *retry, cu_err *err)
{
    char tok[CU_SESSION_TOKEN_MAX];
    cu_ctx ctx = {.actor = "anonymous", .source = src};
    cu_principal p;

    return cu_user_login(f->v, &ctx, f->a, email, pw, code, tok, &p, retry, err);
}

/* P-ACC-6 (issue 18, 7): failures back off per (source, account), alike for an email that
 * exists and one that does not, and refuse before any hashing; the account's owner logging
 * in from elsewhere is not locked out. */
static void test_P_ACC_6_backoff_per_source_and_account_alike_for_unknown_emails(void **state)
{
    fx *f = *state;
    char msg[CU_ERR_MSG];
    unsigned long before;
    unsigned ra = 0, rb = 0;
    cu_err err = {0};

    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    for (int i = 0; i < 6; i++) {
        cu_clock_set(T0 + i);
        assert_int_equal(
            login_from(f, "198.51.100.7", "ada@example.com", "wrong password!", NULL, NULL, &err),
            CU_ERR_AUTH);
        assert_int_equal(
            login_from(f, "198.51.100.7", "eve@example.com", "wrong password!", NULL, NULL, &err),
            CU_ERR_AUTH);
    }
    /* The sixth failure backs off 15 s: both answer alike, with no hash run. */
    cu_clock_set(T0 + 6);
    before = cu_auth_argon2_calls;
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    snprintf(msg, sizeof(msg), "%s", err.msg);
    assert_int_equal(login_from(f, "198.51.100.7", "eve@example.com", PW, NULL, &rb, &err),
                     CU_ERR_RATE_LIMITED);
    assert_string_equal(err.msg, msg);
    assert_null(strstr(msg, "ada"));
    assert_int_equal(ra, 14);
    assert_int_equal(rb, 14);
    assert_int_equal(cu_auth_argon2_calls - before, 0);
    /* From another address the right password works. */
    assert_int_equal(login_from(f, "203.0.113.9", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
    /* The back-off ends; the next failure doubles it. */
    cu_clock_set(T0 + 20);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
    assert_int_equal(
        login_from(f, "198.51.100.7", "eve@example.com", "wrong password!", NULL, NULL, &err),
        CU_ERR_AUTH);
    cu_clock_set(T0 + 21);
    assert_int_equal(login_from(f, "198.51.100.7", "eve@example.com", PW, NULL, &rb, &err),
                     CU_ERR_RATE_LIMITED);
    assert_int_equal(rb, 29);
    /* A success cleared ada's count from this address. */
    assert_int_equal(
        login_from(f, "198.51.100.7", "ada@example.com", "wrong password!", NULL, NULL, &err),
        CU_ERR_AUTH);
}

/* P-ACC-6: one source guessing across many emails backs off too, whatever the emails. */
static void test_P_ACC_6_per_source_failures_back_off_across_emails(void **state)
{
    fx *f = *state;
    char email[64];
    unsigned ra = 0;
    cu_err err = {0};
    int i;

    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    for (i = 0; i < 21; i++) {
        cu_clock_set(T0 + 3 * i); /* under the rate limit */
        snprintf(email, sizeof(email), "user%d@example.com", i);
        if (login_from(f, "198.51.100.7", i == 7 ? "ada@example.com" : email, "wrong password!",
                       NULL, NULL, &err) != CU_ERR_AUTH)
            fail_msg("failure %d: %s", i + 1, err.msg);
    }
    assert_int_equal(login_from(f, "198.51.100.7", "new@example.com", PW, NULL, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    assert_int_equal(ra, 15);
    assert_int_equal(login_from(f, "198.51.100.8", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
}

/* P-ACC-6: attempts per source per minute, counted before any hashing. */
static void test_P_ACC_6_rate_limits_per_source(void **state)
{
    fx *f = *state;
    cu_auth_limits lim = {.source_per_min = 3, .tenant_per_min = 5};
    unsigned long before;
    unsigned ra = 0;
    cu_err err = {0};

    cu_auth_limits_set(f->v, &lim);
    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, NULL, &err),
                         CU_OK);
    before = cu_auth_argon2_calls;
    cu_clock_set(T0 + 10);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    assert_int_equal(ra, 50);
    assert_int_equal(cu_auth_argon2_calls - before, 0);
    /* Another source has its own three. */
    assert_int_equal(login_from(f, "198.51.100.8", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
    /* A new minute, new allowances. */
    cu_clock_set(T0 + 60);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
}

/* P-ACC-6 (review of issue 18, 2): the tenant's limit counts failures only, and refuses only
 * addresses that have failed themselves: addresses guessing together cannot refuse the right
 * password to a tenant's users, nor do many right logins fill it. */
static void test_P_ACC_6_tenant_limit_counts_failures_and_spares_clean_sources(void **state)
{
    fx *f = *state;
    cu_auth_limits lim = {.source_per_min = 3, .tenant_per_min = 5};
    const char *ok_src[] = {"198.51.100.1", "198.51.100.2", "198.51.100.3"};
    char src[32];
    unsigned long before;
    unsigned ra = 0;
    cu_err err = {0};

    cu_auth_limits_set(f->v, &lim);
    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    for (int i = 0; i < 9; i++)
        if (login_from(f, ok_src[i % 3], "ada@example.com", PW, NULL, NULL, &err) != CU_OK)
            fail_msg("right login %d: %s", i + 1, err.msg);
    /* Five addresses fail once each: the tenant's five failures of the minute. */
    for (int i = 0; i < 5; i++) {
        snprintf(src, sizeof(src), "203.0.113.%d", i + 1);
        assert_int_equal(login_from(f, src, "ada@example.com", "wrong password!", NULL, NULL, &err),
                         CU_ERR_AUTH);
    }
    before = cu_auth_argon2_calls;
    assert_int_equal(login_from(f, "203.0.113.1", "ada@example.com", PW, NULL, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    assert_true(ra > 0 && ra <= 60);
    assert_int_equal(cu_auth_argon2_calls - before, 0);
    /* An address that has not failed still logs in, and one of the busy minute too. */
    assert_int_equal(login_from(f, "192.0.2.77", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
    cu_clock_set(T0 + 1);
    assert_int_equal(login_from(f, "198.51.100.4", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
    /* The other tenant is untouched; a new minute frees the failed addresses. */
    add_user(f, f->b, "bob@example.com", CU_ROLE_AGENT);
    assert_int_equal(login(f, f->b, "bob@example.com", PW, NULL, NULL, &err), CU_OK);
    cu_clock_set(T0 + 61);
    assert_int_equal(login_from(f, "203.0.113.1", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
}

/* P-ACC-6 (review of issue 18, 1): a flood of attempts, refused or not, with fresh emails and
 * tenants, evicts no entry that refuses: a backed-off (address, account) stays backed off and
 * the flooding address gets no more than its own limit. The clock is held, as in the attack. */
static void test_P_ACC_6_a_flood_frees_no_back_off(void **state)
{
    fx *f = *state;
    char buf[96];
    cu_th_key keys[3];
    unsigned long before;
    unsigned allowed = 0, ra = 0;
    cu_err err = {0};

    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    for (int i = 0; i < 6; i++)
        assert_int_equal(
            login_from(f, "198.51.100.7", "ada@example.com", "wrong password!", NULL, NULL, &err),
            CU_ERR_AUTH);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    /* One address: 60,000 logins with fresh emails and tenant ids, each failing if let in. */
    for (int i = 0; i < 60000; i++) {
        cu_id t = 1000000 + (cu_id)i;
        int n = snprintf(buf, sizeof(buf), "203.0.113.66 user%d@example.com", i);
        cu_throttle_key(f->v, CU_TH_SOURCE, "203.0.113.66", 12, &keys[0]);
        cu_throttle_key(f->v, CU_TH_TENANT, &t, sizeof(t), &keys[1]);
        cu_throttle_key(f->v, CU_TH_ACCOUNT, buf, (size_t)n, &keys[2]);
        if (cu_throttle_check(f->v, keys, 3, T0, NULL, &err) == CU_OK) {
            allowed++;
            for (int k = 0; k < 3; k++)
                cu_throttle_failed(f->v, &keys[k], T0);
        }
    }
    assert_true(allowed <= CU_AUTH_SOURCE_PER_MIN);
    /* Then 60,000 addresses, one failure each: entries churn, but none that refuses goes. */
    for (int i = 0; i < 60000; i++) {
        cu_id t = 1000000 + (cu_id)i;
        int sl = snprintf(buf, sizeof(buf), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        cu_throttle_key(f->v, CU_TH_SOURCE, buf, (size_t)sl, &keys[0]);
        cu_throttle_key(f->v, CU_TH_TENANT, &t, sizeof(t), &keys[1]);
        cu_throttle_key(f->v, CU_TH_ACCOUNT, buf, (size_t)sl, &keys[2]);
        if (cu_throttle_check(f->v, keys, 3, T0, NULL, &err) == CU_OK)
            for (int k = 0; k < 3; k++)
                cu_throttle_failed(f->v, &keys[k], T0);
    }
    before = cu_auth_argon2_calls;
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    assert_int_equal(cu_auth_argon2_calls - before, 0);
    cu_throttle_key(f->v, CU_TH_SOURCE, "203.0.113.66", 12, &keys[0]);
    assert_int_equal(cu_throttle_check(f->v, keys, 1, T0, NULL, &err), CU_ERR_RATE_LIMITED);
    /* The owner, from elsewhere, is not held off. */
    assert_int_equal(login_from(f, "192.0.2.1", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
}

/* P-ACC-6 (review of issue 18, 3): a failed login to a tenant that does not exist costs the
 * same durable audit write as one to a tenant that does, in the platform's log, naming
 * nothing personal. */
static void test_P_ACC_6_unknown_tenant_login_costs_an_audit_write(void **state)
{
    fx *f = *state;
    int before = th_sql_int(f->data, "SELECT count(*) FROM audit_log WHERE tenant_id = 0");
    cu_err err = {0};

    assert_int_equal(login(f, 424242, "ada@example.com", PW, NULL, NULL, &err), CU_ERR_AUTH);
    assert_int_equal(th_sql_int(f->data,
                                "SELECT count(*) FROM audit_log WHERE tenant_id = 0 AND "
                                "action = 'user.login_failed' AND object = 'tenant:unknown'"),
                     1);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM audit_log WHERE tenant_id = 0"),
                     before + 1);
    assert_false(in_files(f, "ada@example.com"));
}

typedef struct login_job {
    fx *f;
    cu_rc rc;
} login_job;

static void *login_run(void *arg)
{
    login_job *j = arg;
    cu_err err = {0};

    j->rc = login_from(j->f, "198.51.100.7", "ada@example.com", PW, NULL, NULL, &err);
    return NULL;
}

/* P-ACC-6 (issue 18, 5): concurrent logins hash in a bounded number of slots; a login that
 * gets none in time is refused (CU_ERR_UNAVAILABLE, retry after 1 s), unknown emails alike. */
static void test_P_ACC_6_password_hashes_run_in_bounded_slots(void **state)
{
    fx *f = *state;
    cu_auth_limits lim = {.hash_slots = 2, .hash_wait_ms = 60000};
    pthread_t th[6];
    login_job jobs[6];
    unsigned long before;
    unsigned ra = 0;
    cu_err err = {0};

    cu_auth_limits_set(f->v, &lim);
    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    cu_auth_argon2_peak = 0;
    for (int i = 0; i < 6; i++) {
        jobs[i].f = f;
        assert_int_equal(pthread_create(&th[i], NULL, login_run, &jobs[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].rc, CU_OK);
    }
    assert_true(cu_auth_argon2_peak >= 1 && cu_auth_argon2_peak <= 2);
    /* Every slot taken: refused after the short wait, with no hash run. */
    lim.hash_slots = 1;
    lim.hash_wait_ms = 20;
    cu_auth_limits_set(f->v, &lim);
    assert_int_equal(cu_auth_slot_acquire(f->v, NULL, &err), CU_OK);
    before = cu_auth_argon2_calls;
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, &ra, &err),
                     CU_ERR_UNAVAILABLE);
    assert_int_equal(ra, 1);
    assert_int_equal(login_from(f, "198.51.100.7", "eve@example.com", PW, NULL, &ra, &err),
                     CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_auth_argon2_calls - before, 0);
    cu_auth_slot_release(f->v);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, NULL, NULL, &err), CU_OK);
}

/* P-ACC-2 (issue 18, 8): wrong second-factor codes have their own small limit, which backs
 * off; the password counters do not move. */
static void test_P_ACC_6_second_factor_failures_back_off_on_their_own(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char code[11], wrong[11];
    uint8_t secret[20];
    unsigned ra = 0;
    cu_err err = {0};

    enable_totp(f, f->a, u, secret);
    cu_clock_set(T0 + 30);
    assert_int_equal(cu_totp(secret, 20, T0 + 30, 6, code), CU_OK);
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, wrong, NULL, &err),
                         CU_ERR_MFA_REQUIRED);
    /* The fourth wrong code backs off 30 s, the right one included, from that address; from
     * another the right code works (review of issue 18, 2). */
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, code, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    assert_int_equal(ra, 30);
    assert_int_equal(login_from(f, "203.0.113.9", "ada@example.com", PW, code, NULL, &err), CU_OK);
    cu_clock_set(T0 + 60);
    assert_int_equal(cu_totp(secret, 20, T0 + 60, 6, code), CU_OK);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, code, NULL, &err), CU_OK);
    /* The success cleared the count: three more wrong codes are free again. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, wrong, NULL, &err),
                         CU_ERR_MFA_REQUIRED);
    cu_clock_set(T0 + 90);
    assert_int_equal(cu_totp(secret, 20, T0 + 90, 6, code), CU_OK);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, code, NULL, &err), CU_OK);
}

/* P-ACC-2 (review of issue 18, 2): wrong codes from many addresses reach a much higher limit
 * per user, which holds every address off; and failed re-authentications (password or code)
 * never count against the login's second factor. */
static void test_P_ACC_6_second_factor_limit_per_user_and_reauth_apart(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char code[11], wrong[11], src[32], uri[CU_TOTP_URI_MAX];
    uint8_t secret[20];
    unsigned ra = 0;
    cu_err err = {0};

    enable_totp(f, f->a, u, secret);
    cu_clock_set(T0 + 30);
    assert_int_equal(cu_totp(secret, 20, T0 + 30, 6, code), CU_OK);
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
    /* A stolen session with the password: re-authentication failures, many. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, i % 2 ? PW : "wrong password!",
                                             wrong, uri, NULL, &err),
                         i < 4 ? CU_ERR_AUTH : CU_ERR_RATE_LIMITED);
    assert_int_equal(login_from(f, "198.51.100.7", "ada@example.com", PW, code, NULL, &err), CU_OK);
    /* Thirty wrong codes from ten addresses: the thirty-first backs every address off. */
    cu_clock_set(T0 + 60);
    assert_int_equal(cu_totp(secret, 20, T0 + 60, 6, code), CU_OK);
    snprintf(wrong, sizeof(wrong), "%06d", (atoi(code) + 1) % 1000000);
    for (int i = 0; i < 31; i++) {
        snprintf(src, sizeof(src), "203.0.113.%d", i / 3 + 1);
        if (login_from(f, src, "ada@example.com", PW, wrong, NULL, &err) != CU_ERR_MFA_REQUIRED)
            fail_msg("wrong code %d: %s", i + 1, err.msg);
    }
    assert_int_equal(login_from(f, "192.0.2.1", "ada@example.com", PW, code, &ra, &err),
                     CU_ERR_RATE_LIMITED);
    assert_int_equal(ra, 30);
}

/* P-ACC-2 (issue 18, 9): a session alone cannot replace the second factor. */
static void test_P_ACC_2_reenrolment_needs_the_password_and_a_current_code(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char uri[CU_TOTP_URI_MAX], code[11];
    uint8_t secret[20];
    cu_user got;
    cu_err err = {0};

    /* Without a factor yet, the password. */
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, NULL, NULL, uri, NULL, &err),
                     CU_ERR_AUTH);
    assert_int_equal(
        cu_user_totp_enroll(f->v, NULL, f->a, u, "wrong password!", NULL, uri, NULL, &err),
        CU_ERR_AUTH);
    assert_int_equal(uri[0], '\0');
    enable_totp(f, f->a, u, secret);
    /* With one, the password and a current, unused code of it. */
    cu_clock_set(T0 + 30);
    assert_int_equal(cu_totp(secret, 20, T0 + 30, 6, code), CU_OK);
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, PW, NULL, uri, NULL, &err),
                     CU_ERR_AUTH);
    assert_int_equal(
        cu_user_totp_enroll(f->v, NULL, f->a, u, "wrong password!", code, uri, NULL, &err),
        CU_ERR_AUTH);
    assert_int_equal(th_sql_int(f->data, "SELECT totp_pending IS NULL FROM users"), 1);
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, PW, code, uri, NULL, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT totp_pending IS NULL FROM users"), 0);
    /* The code is spent. */
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, PW, code, uri, NULL, &err),
                     CU_ERR_AUTH);
    assert_int_equal(cu_user_get(f->v, NULL, f->a, u, &got, &err), CU_OK);
    assert_true(got.totp_enabled);
    cu_user_cleanup(&got);
}

/* Issue 18, 9: confirming a new factor ends the user's other sessions. */
static void test_P_ACC_2_confirming_a_factor_ends_the_other_sessions(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char mine[CU_SESSION_TOKEN_MAX], other[CU_SESSION_TOKEN_MAX], uri[CU_TOTP_URI_MAX], code[11];
    uint8_t secret[20];
    cu_principal p;
    cu_err err = {0};

    add_user(f, f->a, "bob@example.com", CU_ROLE_AGENT);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, mine, &err), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, other, &err), CU_OK);
    assert_int_equal(login(f, f->a, "bob@example.com", PW, NULL, NULL, &err), CU_OK);
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->a, u, PW, NULL, uri, NULL, &err), CU_OK);
    assert_int_equal(b32_decode(strstr(uri, "?secret=") + 8, secret, 20), 20);
    assert_int_equal(cu_totp(secret, 20, T0, 6, code), CU_OK);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->a, u, code, mine, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, mine, &p, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, other, &p, &err), CU_ERR_AUTH);
    /* Bob's session is his own business. */
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM sessions"), 2);
}

/* --- sessions ---------------------------------------------------------------------------- */

static void test_sessions_expire_and_end(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_ADMIN);
    char token[CU_SESSION_TOKEN_MAX], other[CU_SESSION_TOKEN_MAX];
    cu_principal p;
    cu_err err = {0};

    assert_int_equal(
        cu_user_login(f->v, NULL, f->a, "ada@example.com", PW, NULL, token, &p, NULL, &err), CU_OK);
    assert_int_equal(p.kind, CU_PRINCIPAL_USER);
    assert_int_equal(p.id, u);
    assert_int_equal(p.tenant_id, f->a);
    assert_int_equal(p.role, CU_ROLE_ADMIN);
    assert_true(strncmp(token, "cus_", 4) == 0);
    assert_int_equal(strlen(token), 68);
    assert_int_equal(strspn(token + 4, "0123456789abcdef"), 64);
    assert_false(in_files(f, token));
    assert_false(in_files(f, token + 4));
    memset(&p, 0, sizeof(p));
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(p.kind, CU_PRINCIPAL_USER);
    assert_int_equal(p.id, u);
    assert_int_equal(p.tenant_id, f->a);
    assert_int_equal(p.role, CU_ROLE_ADMIN);
    /* The role is the user's current one. */
    assert_int_equal(th_sql(f->data, "UPDATE users SET role = 3"), 0);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(p.role, CU_ROLE_AGENT);
    /* Idle for the default 30 minutes: over, by the policy clock. */
    cu_clock_set(T0 + CU_SESSION_IDLE - 1);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    cu_clock_set(T0 + 2 * CU_SESSION_IDLE - 2);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    cu_clock_set(T0 + 3 * CU_SESSION_IDLE - 2);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_ERR_AUTH);
    /* A new login drops the expired session's row. */
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, other, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM sessions"), 1);
    /* Ending: the token no longer works, nor ends anything. */
    assert_int_equal(cu_session_end(f->v, other, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, other, &p, &err), CU_ERR_AUTH);
    assert_int_equal(cu_session_end(f->v, other, &err), CU_ERR_AUTH);
    /* Malformed tokens. */
    assert_int_equal(cu_auth_session(f->v, NULL, &p, &err), CU_ERR_AUTH);
    assert_int_equal(cu_auth_session(f->v, "cus_", &p, &err), CU_ERR_AUTH);
    other[10] = 'G';
    assert_int_equal(cu_auth_session(f->v, other, &p, &err), CU_ERR_AUTH);
    assert_int_equal(cu_session_end(f->v, "x", &err), CU_ERR_AUTH);
}

static void test_deleting_a_user_ends_its_sessions(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    char t1[CU_SESSION_TOKEN_MAX], t2[CU_SESSION_TOKEN_MAX];
    cu_principal p;
    cu_user got;
    cu_err err = {0};

    add_user(f, f->a, "bob@example.com", CU_ROLE_AGENT);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, t1, &err), CU_OK);
    assert_int_equal(login(f, f->a, "bob@example.com", PW, NULL, t2, &err), CU_OK);
    assert_int_equal(cu_user_delete(f->v, NULL, f->a, u, &err), CU_OK);
    assert_int_equal(cu_auth_session(f->v, t1, &p, &err), CU_ERR_AUTH);
    assert_int_equal(cu_auth_session(f->v, t2, &p, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM sessions"), 1);
    assert_int_equal(cu_user_get(f->v, NULL, f->a, u, &got, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_user_delete(f->v, NULL, f->a, u, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, t1, &err), CU_ERR_AUTH);
}

/* --- isolation --------------------------------------------------------------------------- */

static void test_P_ISO_1_users_and_keys_of_another_tenant_are_invisible(void **state)
{
    fx *f = *state;
    cu_id u = add_user(f, f->a, "ada@example.com", CU_ROLE_OWNER);
    char secret[CU_APIKEY_SECRET_MAX], uri[CU_TOTP_URI_MAX];
    cu_apikey k, *keys = NULL;
    cu_user got, *users = NULL;
    cu_principal p;
    cu_err err = {0};
    size_t n = 9;

    assert_int_equal(cu_apikey_create(f->v, NULL, f->a, CU_ROLE_OWNER, "a", &k, secret, &err),
                     CU_OK);
    assert_int_equal(cu_user_get(f->v, NULL, f->b, u, &got, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_user_list(f->v, NULL, f->b, &users, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(users);
    assert_int_equal(cu_user_delete(f->v, NULL, f->b, u, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_user_totp_enroll(f->v, NULL, f->b, u, PW, NULL, uri, NULL, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_user_totp_confirm(f->v, NULL, f->b, u, "123456", NULL, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(login(f, f->b, "ada@example.com", PW, NULL, NULL, &err), CU_ERR_AUTH);
    assert_int_equal(cu_apikey_list(f->v, NULL, f->b, &keys, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(keys);
    assert_int_equal(cu_apikey_list(f->v, NULL, 0, &keys, &n, &err), CU_OK);
    assert_int_equal(n, 0); /* nor is it an operator key */
    free(keys);
    assert_int_equal(cu_apikey_revoke(f->v, NULL, f->b, k.id, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_apikey_revoke(f->v, NULL, 0, k.id, &err), CU_ERR_NOT_FOUND);
    /* Everything of tenant A is intact. */
    assert_int_equal(cu_auth_apikey(f->v, secret, &p, &err), CU_OK);
    assert_int_equal(p.tenant_id, f->a);
    assert_int_equal(cu_user_get(f->v, NULL, f->a, u, &got, &err), CU_OK);
    cu_user_cleanup(&got);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, NULL, &err), CU_OK);
}

/* --- the store --------------------------------------------------------------------------- */

static cu_store_op login_op(cu_store_op_type type, int64_t now, int64_t step)
{
    cu_store_op op;

    memset(&op, 0, sizeof(op));
    op.type = type;
    op.u.login.tenant_id = 1;
    op.u.login.user_id = 2;
    op.u.login.now = now;
    op.u.login.window = 100;
    op.u.login.max_failures = 3;
    op.u.login.lockout = 50;
    op.u.login.totp_step = step;
    return op;
}

static void expect_counts(cu_store *s, int failures, int64_t window_start, int64_t locked)
{
    cu_store_user u;
    cu_err err = {0};

    assert_int_equal(s->ops->user_get(s, 1, 2, &u, &err), CU_OK);
    assert_int_equal(u.failures, failures);
    assert_int_equal(u.window_start, window_start);
    assert_int_equal(u.locked_until, locked);
    cu_store_user_cleanup(&u);
}

static void test_store_counts_failures_and_steps_atomically(void **state)
{
    fx *f = *state;
    char path[600];
    cu_store *s = NULL;
    cu_store_op op;
    cu_err err = {0};
    uint8_t ct[3] = {1, 2, 3};

    snprintf(path, sizeof(path), "%s/store.db", f->dir);
    assert_int_equal(cu_store_sqlite_open(path, &s, &err), CU_OK);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_TENANT_PUT;
    op.u.tenant.id = 1;
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_USER_PUT;
    op.u.user.tenant_id = 1;
    op.u.user.id = 2;
    op.u.user.role = CU_ROLE_AGENT;
    op.u.user.email.data = ct;
    op.u.user.email.len = 3;
    snprintf(op.u.user.password_hash, sizeof(op.u.user.password_hash), "h");
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    /* The same digest twice in a tenant is refused. */
    op.u.user.id = 3;
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_ERR_EXISTS);

    op = login_op(CU_OP_USER_LOGIN_FAILED, 1000, 0);
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    expect_counts(s, 1, 1000, 0);
    op.u.login.now = 1050;
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    expect_counts(s, 2, 1000, 0);
    op.u.login.now = 1099; /* the third in the window locks */
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    expect_counts(s, 3, 1000, 1149);
    op.u.login.now = 1149; /* the lockout has ended: a new window */
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    expect_counts(s, 1, 1149, 0);
    op.u.login.now = 1249; /* the window has passed: a new window */
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    expect_counts(s, 1, 1249, 0);

    /* LOGIN_OK clears the counts and moves the step forward only. */
    op = login_op(CU_OP_USER_LOGIN_OK, 0, 500);
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    expect_counts(s, 0, 0, 0);
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_ERR_CONFLICT);
    op.u.login.totp_step = 499;
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_ERR_CONFLICT);
    op.u.login.totp_step = 0; /* no code: always fine */
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    /* Another tenant's user is not touched. */
    op.u.login.tenant_id = 9;
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_ERR_CONFLICT);
    s->ops->close(s);
}

static void test_migration_2_to_3_keeps_data_and_adds_auth_tables(void **state)
{
    fx *f = *state;
    char dir[600], path[700];
    cu_store *s = NULL;
    cu_store_op op;
    cu_store_tenant t;
    cu_store_apikey k;
    cu_store_user u;
    cu_err err = {0};

    snprintf(dir, sizeof(dir), "%s/v2", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/custos.db", dir);
    assert_int_equal(cu_store_sqlite_open_at(path, 2, &s, &err), CU_OK);
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_TENANT_PUT;
    op.u.tenant.id = 77;
    snprintf(op.u.tenant.name, sizeof(op.u.tenant.name), "from v2");
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    assert_int_equal(s->ops->user_get(s, 77, 1, &u, &err), CU_ERR_STORE);
    s->ops->close(s);

    assert_int_equal(cu_store_sqlite_open_at(path, 3, &s, &err), CU_OK);
    assert_int_equal(th_sql_int(dir, "PRAGMA user_version"), 3);
    /* The store's statements are the newest schema's: read the v3 row in SQL. */
    assert_int_equal(th_sql_text(dir, "SELECT name FROM tenants WHERE tenant_id = 77", t.name,
                                 sizeof(t.name)),
                     0);
    assert_string_equal(t.name, "from v2");
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_APIKEY_PUT;
    op.u.apikey.tenant_id = 0; /* operator keys need no tenant row */
    op.u.apikey.id = 5;
    op.u.apikey.role = CU_ROLE_OPERATOR;
    snprintf(op.u.apikey.name, sizeof(op.u.apikey.name), "ops");
    memset(op.u.apikey.secret_hash, 0xab, 32);
    assert_int_equal(s->ops->apply(s, &op, 1, &err), CU_OK);
    assert_int_equal(s->ops->apikey_get(s, 5, &k, &err), CU_OK);
    assert_int_equal(k.tenant_id, 0);
    assert_string_equal(k.name, "ops");
    assert_int_equal(k.secret_hash[31], 0xab);
    assert_int_equal(s->ops->user_get(s, 77, 1, &u, &err), CU_ERR_NOT_FOUND);
    s->ops->close(s);
}

static void test_tenant_and_its_first_owner_key_are_one_transaction(void **state)
{
    fx *f = *state;
    char secret[CU_APIKEY_SECRET_MAX];
    cu_principal who;
    cu_tenant t, *list = NULL;
    cu_apikey k;
    cu_err err = {0};
    size_t n = 0;

    assert_int_equal(
        cu_tenant_create(
            f->v, NULL,
            &(cu_tenant_opts){.name = "Initech", .owner_secret = secret, .owner_key = &k}, &t,
            &err),
        CU_OK);
    assert_int_equal(cu_auth_apikey(f->v, secret, &who, &err), CU_OK);
    assert_int_equal(who.tenant_id, t.id);
    assert_int_equal(who.role, CU_ROLE_OWNER);
    assert_int_equal(k.id, who.id);
    /* A refused tenant leaves neither a tenant nor a key, and no usable secret. */
    assert_int_equal(
        cu_tenant_create(f->v, NULL,
                         &(cu_tenant_opts){.name = "", .owner_secret = secret, .owner_key = &k}, &t,
                         &err),
        CU_ERR_INVALID);
    assert_int_equal(secret[0], '\0');
    assert_int_equal(cu_tenant_list(f->v, NULL, &list, &n, &err), CU_OK);
    assert_int_equal(n, 3);
    free(list);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM api_keys"), 1);
}

/* Issue 18, 9: a session ends when unused for session_idle, and CU_SESSION_TTL after login
 * however used; use pushes the idle deadline with one write a minute, not one per request. */
static void test_sessions_end_when_idle_or_old_and_are_purged(void **state)
{
    fx *f = *state;
    cu_auth_limits lim = {.session_idle = 600};
    char token[CU_SESSION_TOKEN_MAX], idle[CU_SESSION_TOKEN_MAX];
    cu_sweep_report rep;
    cu_principal p;
    cu_err err = {0};
    int64_t t;

    cu_auth_limits_set(f->v, &lim);
    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, token, &err), CU_OK);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, idle, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT max(expires_at) FROM sessions"), T0 + 600);
    /* Used within the minute: no write. */
    cu_clock_set(T0 + 59);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT max(expires_at) FROM sessions"), T0 + 600);
    cu_clock_set(T0 + 60);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT max(expires_at) FROM sessions"), T0 + 660);
    /* The unused one ends after 600 s; the used one lives on, up to its TTL. */
    cu_clock_set(T0 + 600);
    assert_int_equal(cu_auth_session(f->v, idle, &p, &err), CU_ERR_AUTH);
    for (t = T0 + 600; t < T0 + CU_SESSION_TTL; t += 500) {
        cu_clock_set(t);
        if (cu_auth_session(f->v, token, &p, &err) != CU_OK)
            fail_msg("session ended at %lld", (long long)(t - T0));
    }
    cu_clock_set(T0 + CU_SESSION_TTL);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_ERR_AUTH);
    /* The sweep deletes both rows, without a login. */
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM sessions"), 2);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM sessions"), 0);
}

/* A shorter session_idle applies to sessions already open: at their next use. */
static void test_sessions_take_a_shorter_idle_timeout_at_next_use(void **state)
{
    fx *f = *state;
    cu_auth_limits lim = {.session_idle = 600};
    char token[CU_SESSION_TOKEN_MAX];
    cu_principal p;
    cu_err err = {0};

    add_user(f, f->a, "ada@example.com", CU_ROLE_AGENT);
    assert_int_equal(login(f, f->a, "ada@example.com", PW, NULL, token, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT expires_at FROM sessions"),
                     T0 + CU_SESSION_IDLE);
    cu_auth_limits_set(f->v, &lim);
    cu_clock_set(T0 + 10);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, "SELECT expires_at FROM sessions"), T0 + 610);
    cu_clock_set(T0 + 610);
    assert_int_equal(cu_auth_session(f->v, token, &p, &err), CU_ERR_AUTH);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_ACC_1_role_table),
        T(test_tenant_and_its_first_owner_key_are_one_transaction),
        cmocka_unit_test(test_P_ACC_1_who_may_grant_which_role),
        cmocka_unit_test(test_P_ACC_2_totp_matches_rfc6238_vectors),
        cmocka_unit_test(test_P_ACC_2_base32_matches_rfc4648_vectors),
        cmocka_unit_test(test_P_ACC_2_totp_agrees_with_oathtool),
        T(test_P_ACC_2_enrolment_uri_and_confirmation),
        T(test_P_ACC_2_login_needs_the_code_once_enabled),
        T(test_P_ACC_2_replayed_code_is_refused),
        T(test_P_ACC_2_new_enrolment_replaces_the_factor_only_once_confirmed),
        T(test_P_ACC_3_key_shown_once_stored_as_hash_and_revocable),
        T(test_P_ACC_3_every_bad_secret_gets_one_answer),
        T(test_P_ACC_3_keys_are_scoped_to_a_tenant_and_role),
        T(test_P_ENC_3_passwords_stored_as_argon2id),
        T(test_user_input_is_validated),
        T(test_user_email_is_unique_per_tenant_and_normalized),
        T(test_P_ENC_2_user_email_moved_to_another_user_is_rejected),
        T(test_P_ACC_6_unknown_email_and_wrong_password_look_the_same),
        T(test_P_ACC_6_backoff_per_source_and_account_alike_for_unknown_emails),
        T(test_P_ACC_6_per_source_failures_back_off_across_emails),
        T(test_P_ACC_6_rate_limits_per_source),
        T(test_P_ACC_6_tenant_limit_counts_failures_and_spares_clean_sources),
        T(test_P_ACC_6_a_flood_frees_no_back_off),
        T(test_P_ACC_6_unknown_tenant_login_costs_an_audit_write),
        T(test_P_ACC_6_password_hashes_run_in_bounded_slots),
        T(test_P_ACC_6_second_factor_failures_back_off_on_their_own),
        T(test_P_ACC_6_second_factor_limit_per_user_and_reauth_apart),
        T(test_P_ACC_2_reenrolment_needs_the_password_and_a_current_code),
        T(test_P_ACC_2_confirming_a_factor_ends_the_other_sessions),
        T(test_sessions_end_when_idle_or_old_and_are_purged),
        T(test_sessions_take_a_shorter_idle_timeout_at_next_use),
        T(test_sessions_expire_and_end),
        T(test_deleting_a_user_ends_its_sessions),
        T(test_P_ISO_1_users_and_keys_of_another_tenant_are_invisible),
        T(test_store_counts_failures_and_steps_atomically),
        T(test_migration_2_to_3_keeps_data_and_adds_auth_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
