/*
 * test_pg_trips.c: what a request costs in round trips to PostgreSQL (issue 12, item 1: the
 * reads core makes several of per request are batched, so a request costs few round trips).
 *
 * Each test makes one request as the HTTP layer does (http_dispatch: a read scope around the
 * credential's check and the handler's core call, router.c), with the core's own functions, on
 * a vault whose store is this binary's PostgreSQL server, and counts the round trips the
 * calling thread made (cu_store_pg_round_trips, pg_conn.c). A count is not a timing: it is
 * asserted, at the figure docs/store.md gives. Each request is made three times first, so
 * that the caches are warm and every statement is prepared: the figure is the steady state's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_int.h"
#include "pg_int.h"
#include "th.h"
#include "th_pg.h"
#include "util.h"

#define D2026 1767225600

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t, subject, record;
    char secret[CU_APIKEY_SECRET_MAX];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_subject_in in = {.external_id = "ada", .email = "ada@example.com"};
    cu_err err = {0};
    cu_tenant t;
    const char doc[] = "{\"name\":\"Ada\",\"email\":\"ada@example.com\"}";

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(
        cu_tenant_create(
            f->v, NULL,
            &(cu_tenant_opts){.name = "A", .policy_builtin = "scm", .owner_secret = f->secret}, &t,
            &err),
        CU_OK);
    f->t = t.id;
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &f->subject, &err), CU_OK);
    assert_int_equal(
        cu_record_put(f->v, NULL, f->t, "contacts", f->subject, doc, strlen(doc), &f->record, &err),
        CU_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

typedef enum req_kind { REQ_AUTH, REQ_GET, REQ_POST, REQ_EXPORT } req_kind;

/* An access request for the subject, filed and acknowledged: the export's purpose exists only
 * inside one (issue 10). */
static cu_ctx access_ctx(fx *f)
{
    cu_request_in in = {.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_ADMIN, .subject = f->subject};
    cu_request_filed out = {0};
    cu_ctx c = {.actor = "key:7", .purpose = CU_PURPOSE_SUBJECT_ACCESS};
    cu_err err = {0};

    if (cu_request_file(f->v, NULL, f->t, &in, &out, &err) != CU_OK ||
        cu_request_acknowledge(f->v, NULL, f->t, out.id, &err) != CU_OK)
        fail_msg("access request: %s", err.msg);
    c.dsr_request = out.id;
    return c;
}

static void export_all(fx *f, const cu_ctx *ctx)
{
    cu_subject_export *x = NULL;
    char buf[4096];
    size_t n = 1;
    cu_err err = {0};

    if (cu_subject_export_open(f->v, ctx, f->t, f->subject, CU_SUBJECT_EXPORT_JSON, &x, &err) !=
        CU_OK)
        fail_msg("export: %s", err.msg);
    while (n > 0)
        if (cu_subject_export_read(x, buf, sizeof(buf), &n, &err) != CU_OK)
            fail_msg("export read: %s", err.msg);
    cu_subject_export_free(x);
}

/* One request of kind k, as http_dispatch makes it; returns its round trips. */
static unsigned long request(fx *f, req_kind k, const cu_ctx *ctx)
{
    const char doc[] = "{\"name\":\"Bea\"}";
    unsigned long before = cu_store_pg_round_trips();
    cu_principal who = {0};
    cu_record r = {0};
    cu_id id = 0;
    cu_err err = {0};

    cu_vault_read_begin(f->v);
    if (cu_auth_apikey(f->v, f->secret, &who, &err) != CU_OK)
        fail_msg("auth: %s", err.msg);
    if (k == REQ_GET) {
        if (cu_record_get(f->v, ctx, f->t, f->record, &r, &err) != CU_OK)
            fail_msg("get: %s", err.msg);
        cu_record_cleanup(&r);
    } else if (k == REQ_POST) {
        if (cu_record_put(f->v, ctx, f->t, "contacts", f->subject, doc, strlen(doc), &id, &err) !=
            CU_OK)
            fail_msg("put: %s", err.msg);
    } else if (k == REQ_EXPORT) {
        export_all(f, ctx);
    }
    cu_vault_read_end(f->v);
    return cu_store_pg_round_trips() - before;
}

/* The steady state's count: the fourth of four requests. */
static unsigned long steady(fx *f, req_kind k, const cu_ctx *ctx, const char *name)
{
    unsigned long n = 0;

    for (int i = 0; i < 4; i++)
        n = request(f, k, ctx);
    printf("round trips: %s %lu\n", name, n);
    return n;
}

static void test_round_trips_api_key_check(void **state)
{
    fx *f = *state;

    assert_int_equal(steady(f, REQ_AUTH, NULL, "api key check"), 1);
}

static void test_round_trips_record_get(void **state)
{
    fx *f = *state;
    cu_ctx c = {.actor = "key:42", .purpose = "support"};

    assert_int_equal(steady(f, REQ_GET, &c, "GET record"), 4);
}

static void test_round_trips_record_post(void **state)
{
    fx *f = *state;
    cu_ctx c = {.actor = "key:42", .purpose = "support"};

    assert_int_equal(steady(f, REQ_POST, &c, "POST record"), 6);
}

static void test_round_trips_subject_export(void **state)
{
    fx *f = *state;
    cu_ctx c = access_ctx(f);

    assert_int_equal(steady(f, REQ_EXPORT, &c, "subject export"), 15); /* disclosures too */
}

/* P-DSR-5 through the record's read: the subject's state that comes beside the record (and
 * spares subject_state its round trip) is the state itself: a restricted subject's record is
 * refused to a purpose that is not a legal obligation, in a scope as outside one, and lifting
 * the restriction is seen by the next request. */
static void test_subject_state_with_the_record_is_the_subjects(void **state)
{
    fx *f = *state;
    cu_ctx c = {.actor = "key:42", .purpose = "support"};
    cu_record r = {0};
    cu_err err = {0};

    assert_int_equal(cu_subject_restrict(f->v, NULL, f->t, f->subject, 1, &err), CU_OK);
    for (int scoped = 0; scoped < 2; scoped++) {
        if (scoped)
            cu_vault_read_begin(f->v);
        assert_int_equal(cu_record_get(f->v, &c, f->t, f->record, &r, &err), CU_ERR_RESTRICTED);
        cu_vault_read_end(f->v);
    }
    assert_int_equal(cu_subject_restrict(f->v, NULL, f->t, f->subject, 0, &err), CU_OK);
    cu_vault_read_begin(f->v);
    assert_int_equal(cu_record_get(f->v, &c, f->t, f->record, &r, &err), CU_OK);
    cu_vault_read_end(f->v);
    cu_record_cleanup(&r);
}

/* A read's COMMIT is sent without waiting for its answer: the server has ended the
 * transaction by the time the next request is made (no session of the vault stays idle in a
 * transaction, which would hold back a vacuum's removal of a destroyed key: P-DSR-4), and the
 * connection's next user, a checkpoint's VACUUM outside any transaction among them, works. */
static void test_a_read_ends_its_transaction_without_waiting(void **state)
{
    fx *f = *state;
    const char *loc = th_store(f->data);
    cu_err err = {0};
    long long open = -1;

    for (int i = 0; i < 3; i++)
        (void)request(f, REQ_GET, &(cu_ctx){.actor = "key:42", .purpose = "support"});
    for (int i = 0; i < 100 && open != 0; i++) {
        open = th_pg_sql_int(loc, "SELECT count(*) FROM pg_stat_activity WHERE application_name"
                                  " LIKE 'custos:%' AND state LIKE 'idle in transaction%'");
        if (open != 0)
            usleep(10000);
    }
    assert_int_equal(open, 0);
    (void)request(f, REQ_AUTH, NULL); /* its connection goes back with its COMMIT unread */
    assert_int_equal(cu_store_checkpoint(f->v->store, &err), CU_OK);
}

int main(void)
{
    /* PostgreSQL's own figure: the vault is on this binary's server in every pass. */
    setenv("CUSTOS_TEST_STORE", "postgresql", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trips_api_key_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trips_record_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trips_record_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trips_subject_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subject_state_with_the_record_is_the_subjects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_read_ends_its_transaction_without_waiting, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
