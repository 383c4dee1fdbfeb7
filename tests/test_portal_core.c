/*
 * test_portal_core.c: the privacy center's core below HTTP (custos_portal.h, docs/portal.md),
 * on the test clock: where the subject stands on a purpose when the version in force asked for
 * fresh consent (P-NOT-2); a subject's requests read by its key in the store, and the cap on
 * its open ones. Runs on SQLite and again on PostgreSQL (run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h" /* v->store: the store's own read of a subject's requests */
#include "custos_portal.h"
#include "store_portal.h"
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

static cu_id file(fx *f, cu_id subject, cu_request_type type, const char *purpose, cu_rc want,
                  cu_id *open)
{
    cu_request_filed out;
    cu_err err = {0};
    cu_rc rc = cu_portal_request_file(f->v, NULL, f->t, subject, type, purpose, &out, open, &err);

    if (rc != want)
        fail_msg("filing %d: %s (%s)", (int)type, cu_rc_name(rc), err.msg);
    return out.id;
}

/* The store reads one subject's requests (both backends); the center lists its own, newest
 * first; a second open request of a kind, or an eleventh open one, is refused with the open
 * request's id; once that one closes, the kind may be filed again. */
static void test_subject_requests_by_its_key_and_capped(void **state_)
{
    fx *f = *state_;
    cu_subject_in in = {.external_id = "bob", .birth_date = "1990-01-01"};
    static const cu_request_type more[] = {CU_REQ_ERASE, CU_REQ_RESTRICT, CU_REQ_UNRESTRICT,
                                           CU_REQ_RECTIFY};
    static const char *const purposes[] = {"marketing", "analytics", "support", "security"};
    cu_store_request *rows = NULL;
    cu_request *list = NULL;
    size_t n = 0;
    cu_err err = {0};
    cu_id bob = 0, a1, b1, e1, open = 0;

    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &bob, &err), CU_OK);
    a1 = file(f, f->ada, CU_REQ_ACCESS, NULL, CU_OK, &open);
    assert_int_equal(open, 0);
    cu_clock_set(D2026 + 60);
    b1 = file(f, bob, CU_REQ_ACCESS, NULL, CU_OK, &open);
    cu_clock_set(D2026 + 120);
    e1 = file(f, f->ada, CU_REQ_EXPORT, NULL, CU_OK, &open);
    assert_int_equal(cu_store_request_list_subject(f->v->store, f->t, f->ada, &rows, &n, &err),
                     CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, a1);
    assert_int_equal(rows[1].id, e1);
    free(rows);
    assert_int_equal(cu_portal_requests(f->v, NULL, f->t, bob, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, b1);
    free(list);
    assert_int_equal(cu_portal_requests(f->v, NULL, f->t, f->ada, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, e1); /* newest first */
    free(list);
    /* A second open access request: refused, naming the open one. */
    file(f, f->ada, CU_REQ_ACCESS, NULL, CU_ERR_CONFLICT, &open);
    assert_int_equal(open, a1);
    /* Bob's own is his: his open access does not stop Ada's kinds, nor hers his. */
    file(f, bob, CU_REQ_EXPORT, NULL, CU_OK, &open);
    /* Up to CU_PORTAL_OPEN_MAX open of any kind (two so far), then refused. */
    for (size_t i = 0; i < CU_ARRAY_LEN(more); i++)
        file(f, f->ada, more[i], NULL, CU_OK, &open);
    for (size_t i = 0; i < CU_ARRAY_LEN(purposes); i++)
        file(f, f->ada, CU_REQ_OBJECT, purposes[i], CU_OK, &open);
    file(f, f->ada, CU_REQ_WITHDRAW_CONSENT, "marketing", CU_ERR_CONFLICT, &open);
    assert_true(open != 0);
    /* The access request answered and closed: the kind may be asked again. */
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, a1, &err), CU_OK);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, a1, NULL, &err), CU_OK);
    file(f, f->ada, CU_REQ_ACCESS, NULL, CU_OK, &open);
}

/* A library caller cannot file a verified request for a subject by setting a flag: the public
 * cu_request_file of a subject's request still needs its external id (and gets a token). The
 * flag's old bit is tried on purpose (review-portal2 10). */
static void test_no_flag_files_a_verified_request(void **state_)
{
    fx *f = *state_;
    cu_ctx c = {.actor = "test", .flags = 16u};
    cu_request_in in = {.type = CU_REQ_ERASE, .filer = CU_REQ_BY_SUBJECT, .subject = f->ada};
    cu_request_filed out;
    cu_err err = {0};

    assert_int_equal(cu_request_file(f->v, &c, f->t, &in, &out, &err), CU_ERR_INVALID);
}

#define T(fn, set) cmocka_unit_test_setup_teardown(fn, set, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_NOT_2_a_consent_no_longer_counted_shows_renew, setup_erp),
        T(test_subject_requests_by_its_key_and_capped, setup_erp),
        T(test_no_flag_files_a_verified_request, setup_erp),
    };

    return cmocka_run_group_tests_name("the privacy center's core", tests, NULL, NULL);
}
