/*
 * test_portal_core.c: the privacy center's core below HTTP (custos_portal.h, docs/portal.md),
 * on the test clock: where the subject stands on a purpose when the version in force asked for
 * fresh consent (P-NOT-2). Runs on SQLite and again on PostgreSQL (run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custos_portal.h"
#include "th.h"
#include "util.h"

#define DAY 86400
#define D2026 1767225600 /* 2026-01-01 */

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t, ada;
} fx;

static int setup_with(void **state_, const char *policy)
{
    fx *f = calloc(1, sizeof(*f));
    cu_subject_in in = {.external_id = "ada", .birth_date = "1990-01-01"};
    size_t len = 0;
    const char *text = cu_policy_builtin(policy, &len);
    cu_tenant t;
    cu_err err = {0};

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    if (cu_tenant_create(f->v, NULL,
                         &(cu_tenant_opts){.name = "customer", .policy = text, .policy_len = len},
                         &t, &err) != CU_OK ||
        cu_subject_create(f->v, NULL, t.id, &in, &f->ada, &err) != CU_OK)
        fail_msg("%s", err.msg);
    f->t = t.id;
    *state_ = f;
    return 0;
}

static int setup_erp(void **state_)
{
    return setup_with(state_, "erpsmartcloud");
}

static int teardown(void **state_)
{
    fx *f = *state_;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

/* The subject's stance on purpose, as the center shows it. */
static cu_portal_stance stance(fx *f, const char *purpose)
{
    cu_portal_consent *c = NULL;
    cu_portal_stance s = CU_PORTAL_NONE;
    size_t n = 0;
    cu_err err = {0};
    int found = 0;

    if (cu_portal_consents(f->v, NULL, f->t, f->ada, &c, &n, &err) != CU_OK)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].purpose, purpose) == 0) {
            s = c[i].stance;
            found = 1;
        }
    free(c);
    if (!found)
        fail_msg("no purpose %s", purpose);
    return s;
}

/* ERP Smart Cloud whose marketing purpose now reaches business data: material, and its
 * changes.fresh_consent renews the purpose's consents (caller frees). */
static char *erp_marketing_widened(void)
{
    static const char from[] = "    data_use: marketing.communications.email\n    basis: consent\n"
                               "    categories: [account]\n";
    static const char to[] = "    data_use: marketing.communications.email\n    basis: consent\n"
                             "    categories: [account, business]\n";
    size_t len = 0;
    const char *text = cu_policy_builtin("erpsmartcloud", &len), *at;
    char *s = calloc(1, len + sizeof(to));

    assert_non_null(text);
    assert_non_null(s);
    at = strstr(text, from);
    assert_non_null(at);
    snprintf(s, len + sizeof(to), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return s;
}

/* P-NOT-2: a consent the version in force no longer counts shows as to be given again
 * ("renew"), not as given; given again, it shows as given and the purpose reads once more. */
static void test_P_NOT_2_a_consent_no_longer_counted_shows_renew(void **state_)
{
    fx *f = *state_;
    char *text = erp_marketing_widened();
    cu_ctx mk = {.actor = "test", .purpose = "marketing"};
    cu_record r;
    cu_err err = {0};
    cu_id rec = 0;

    assert_int_equal(cu_record_put(f->v, NULL, f->t, "accounts", f->ada,
                                   "{\"company\":\"Acme\"}", 18, &rec, &err),
                     CU_OK);
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, f->ada, "marketing", CU_CONSENT_GRANT, "web", &err),
        CU_OK);
    assert_int_equal(stance(f, "marketing"), CU_PORTAL_GRANTED);
    cu_clock_set(D2026 + DAY);
    assert_int_equal(cu_tenant_set_policy(f->v, NULL, f->t, text, strlen(text), "test", NULL, &err),
                     CU_OK);
    /* Pending: the old consent still counts, and shows as given. */
    assert_int_equal(stance(f, "marketing"), CU_PORTAL_GRANTED);
    /* In force: the gate refuses the purpose, and the center says so. */
    cu_clock_set(D2026 + 15 * DAY);
    assert_int_equal(cu_record_get(f->v, &mk, f->t, rec, &r, &err), CU_ERR_CONSENT_REQUIRED);
    assert_int_equal(stance(f, "marketing"), CU_PORTAL_RENEW);
    assert_string_equal(cu_portal_stance_name(CU_PORTAL_RENEW), "renew");
    /* Given again from the center (the ledger's path): counted, shown, read. */
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, f->ada, "marketing", CU_CONSENT_GRANT, "web", &err),
        CU_OK);
    assert_int_equal(stance(f, "marketing"), CU_PORTAL_GRANTED);
    assert_int_equal(cu_record_get(f->v, &mk, f->t, rec, &r, &err), CU_OK);
    cu_record_cleanup(&r);
    free(text);
}

#define T(fn, set) cmocka_unit_test_setup_teardown(fn, set, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_NOT_2_a_consent_no_longer_counted_shows_renew, setup_erp),
    };

    return cmocka_run_group_tests_name("the privacy center's core", tests, NULL, NULL);
}
