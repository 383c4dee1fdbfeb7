/*
 * test_commit_async.c: the core's asynchronous record calls (cu_record_put_async,
 * cu_record_update_async, cu_record_get_async over cu_commit_async; issue 17, item 1), through
 * the public API: each completion runs exactly once with what the synchronous twin returns;
 * a failed commit hands its error and no record (P-AUD-3); asynchronous and synchronous callers
 * share groups and one chain (P-AUD-1); closing the vault completes every queued request.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "th.h"
#include "util.h"

#define SLOTS 64

static const cu_ctx CTX = {.actor = "test", .purpose = "support"};

typedef struct waiter {
    pthread_mutex_t m;
    pthread_cond_t c;
    int n; /* completions run */
} waiter;

typedef struct slot {
    waiter *w;
    int calls;
    cu_async_result res;
} slot;

typedef struct fx {
    char dir[256];
    char data[256];
    cu_vault *v;
    cu_id tenant, subject;
    waiter w;
    slot s[SLOTS];
} fx;

static void on_done(void *arg, cu_async_result *res)
{
    slot *s = arg;

    pthread_mutex_lock(&s->w->m);
    s->calls++;
    s->res = *res; /* takes the record */
    s->w->n++;
    pthread_cond_broadcast(&s->w->c);
    pthread_mutex_unlock(&s->w->m);
}

static void wait_for(fx *f, int n)
{
    pthread_mutex_lock(&f->w.m);
    while (f->w.n < n)
        pthread_cond_wait(&f->w.c, &f->w.m);
    pthread_mutex_unlock(&f->w.m);
}

static void slots_reset(fx *f)
{
    for (int i = 0; i < SLOTS; i++) {
        cu_record_cleanup(&f->s[i].res.record);
        memset(&f->s[i], 0, sizeof(f->s[i]));
        f->s[i].w = &f->w;
    }
    f->w.n = 0;
}

static int fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_subject_in in = {.external_id = "emp-1", .email = "ada@example.com"};
    cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 0}, {"email", CU_FIELD_PERSONAL, 1}};
    cu_err err = {0};
    cu_tenant t;

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->tenant = t.id;
    assert_int_equal(cu_collection_define(f->v, NULL, f->tenant, "employees", defs, 2, &err),
                     CU_OK);
    assert_int_equal(cu_subject_create(f->v, NULL, f->tenant, &in, &f->subject, &err), CU_OK);
    pthread_mutex_init(&f->w.m, NULL);
    pthread_cond_init(&f->w.c, NULL);
    slots_reset(f);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    slots_reset(f);
    pthread_mutex_destroy(&f->w.m);
    pthread_cond_destroy(&f->w.c);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static long long actions(fx *f, const char *action)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE tenant_id = %lld AND action = '%s'",
             (long long)f->tenant, action);
    return th_sql_int(f->data, sql);
}

static void put_async(fx *f, int i, const char *json)
{
    cu_err err = {0};

    assert_int_equal(cu_record_put_async(f->v, NULL, f->tenant, "employees", f->subject, json,
                                         strlen(json), on_done, &f->s[i], &err),
                     CU_OK);
}

/* Each asynchronous call completes once, with the synchronous twin's answer, and its audit
 * entry is durable by then (P-AUD-1, P-AUD-3). */
static void test_P_AUD_3_async_put_get_update_complete_once(void **state)
{
    fx *f = *state;
    const char *doc = "{\"ssn\":\"078-05-1120\",\"email\":\"ada@example.com\"}";
    const char *doc2 = "{\"ssn\":\"219-09-9999\",\"email\":\"ada@example.com\"}";
    cu_err err = {0};
    cu_record r;
    cu_id id;

    put_async(f, 0, doc);
    wait_for(f, 1);
    assert_int_equal(f->s[0].res.rc, CU_OK);
    assert_true(f->s[0].res.id != 0);
    id = f->s[0].res.id;
    assert_int_equal(actions(f, "record.create"), 1);

    assert_int_equal(cu_record_get_async(f->v, NULL, f->tenant, id, on_done, &f->s[1], &err),
                     CU_OK);
    wait_for(f, 2);
    assert_int_equal(f->s[1].res.rc, CU_OK);
    assert_non_null(strstr(f->s[1].res.record.json, "078-05-1120"));
    assert_int_equal(f->s[1].res.record.id, id);
    assert_int_equal(actions(f, "record.read"), 1);

    assert_int_equal(cu_record_update_async(f->v, NULL, f->tenant, id, doc2, strlen(doc2), on_done,
                                            &f->s[2], &err),
                     CU_OK);
    wait_for(f, 3);
    assert_int_equal(f->s[2].res.rc, CU_OK);
    assert_int_equal(actions(f, "record.update"), 1);
    assert_int_equal(cu_record_get(f->v, NULL, f->tenant, id, &r, &err), CU_OK);
    assert_non_null(strstr(r.json, "219-09-9999"));
    cu_record_cleanup(&r);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->s[i].calls, 1);

    /* Refused before it is queued: an error at once, and no completion. */
    assert_int_equal(cu_record_get_async(f->v, NULL, f->tenant, id + 1, on_done, &f->s[3], &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_record_put_async(f->v, NULL, f->tenant, "employees", f->subject, "[]", 2,
                                         on_done, &f->s[3], &err),
                     CU_ERR_INVALID);
    assert_int_equal(f->s[3].calls, 0);
}

static int fail_appends(const char *point, void *arg)
{
    (void)arg;
    return strcmp(point, "audit.append") == 0;
}

/* P-AUD-3: a commit that fails hands each member its error through its completion, and an
 * audited read's record never leaves: the completion gets none. Nothing is written. */
static void test_P_AUD_3_async_failed_commit_answers_error_and_no_record(void **state)
{
    fx *f = *state;
    const char *doc = "{\"ssn\":\"078-05-1120\"}";
    cu_err err = {0};
    long long creates;
    cu_id id = 0;

    assert_int_equal(
        cu_record_put(f->v, NULL, f->tenant, "employees", f->subject, doc, strlen(doc), &id, &err),
        CU_OK);
    creates = actions(f, "record.create");
    cu_fault_hook_set(fail_appends, NULL);
    for (int i = 0; i < 8; i++)
        put_async(f, i, doc);
    for (int i = 8; i < 16; i++)
        assert_int_equal(cu_record_get_async(f->v, NULL, f->tenant, id, on_done, &f->s[i], &err),
                         CU_OK);
    wait_for(f, 16);
    cu_fault_hook_set(NULL, NULL);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(f->s[i].calls, 1);
        assert_int_not_equal(f->s[i].res.rc, CU_OK);
        assert_true(f->s[i].res.err.msg[0] != '\0');
        assert_null(f->s[i].res.record.json);
        assert_true(f->s[i].res.id == 0);
    }
    assert_int_equal(actions(f, "record.create"), creates);
    assert_int_equal(actions(f, "record.read"), 0);
}

typedef struct syncer {
    fx *f;
    int n, failed;
} syncer;

static void *sync_writer(void *p)
{
    syncer *s = p;
    const char *doc = "{\"ssn\":\"078-05-1120\"}";

    for (int i = 0; i < s->n; i++) {
        cu_err err = {0};
        cu_id id;
        if (cu_record_put(s->f->v, NULL, s->f->tenant, "employees", s->f->subject, doc, strlen(doc),
                          &id, &err) != CU_OK)
            s->failed++;
    }
    return NULL;
}

/* P-AUD-1: asynchronous requests and threads waiting in cu_commit queue together; every one is
 * committed once, and the chain verifies. */
static void test_P_AUD_1_async_and_sync_callers_share_one_chain(void **state)
{
    fx *f = *state;
    const char *doc = "{\"ssn\":\"078-05-1120\"}";
    pthread_t th[3];
    syncer sy[3];
    cu_audit_report rep;
    cu_err err = {0};

    for (int i = 0; i < 3; i++) {
        sy[i] = (syncer){.f = f, .n = 10};
        assert_int_equal(pthread_create(&th[i], NULL, sync_writer, &sy[i]), 0);
    }
    for (int i = 0; i < 40; i++)
        put_async(f, i, doc);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(sy[i].failed, 0);
    }
    wait_for(f, 40);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(f->s[i].calls, 1);
        assert_int_equal(f->s[i].res.rc, CU_OK);
    }
    assert_int_equal(actions(f, "record.create"), 70);
    assert_int_equal(cu_audit_verify(f->v, &CTX, f->tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.ok, 1);
}

/* Closing the vault right after queueing completes every queued request first, durably. */
static void test_close_completes_queued_requests(void **state)
{
    fx *f = *state;
    const char *doc = "{\"ssn\":\"078-05-1120\"}";

    for (int i = 0; i < 20; i++)
        put_async(f, i, doc);
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(f->w.n, 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(f->s[i].res.rc, CU_OK);
    f->v = th_reopen(f->data);
    assert_int_equal(actions(f, "record.create"), 20);
}

/* A completion held up (a slow client's answer, say) holds up no commit: the writer leads the
 * next round while the completer runs the held one (issue 17's last pass). Completions still
 * run in commit order: the second runs only after the first returns. */
typedef struct gate {
    fx *f;
    int entered, open;
} gate;

static gate G;

static void on_held_done(void *arg, cu_async_result *res)
{
    pthread_mutex_lock(&G.f->w.m);
    G.entered = 1;
    pthread_cond_broadcast(&G.f->w.c);
    while (!G.open)
        pthread_cond_wait(&G.f->w.c, &G.f->w.m);
    pthread_mutex_unlock(&G.f->w.m);
    on_done(arg, res);
}

static void test_a_held_completion_holds_up_no_commit(void **state)
{
    fx *f = *state;
    const char *doc = "{\"ssn\":\"078-05-1120\"}";
    cu_err err = {0};
    long long created = 0;
    int done_before;

    G = (gate){.f = f};
    assert_int_equal(cu_record_put_async(f->v, NULL, f->tenant, "employees", f->subject, doc,
                                         strlen(doc), on_held_done, &f->s[0], &err),
                     CU_OK);
    pthread_mutex_lock(&f->w.m);
    while (!G.entered)
        pthread_cond_wait(&f->w.c, &f->w.m);
    pthread_mutex_unlock(&f->w.m);
    /* the first completion is running, and waits: the next round commits meanwhile */
    put_async(f, 1, doc);
    for (int i = 0; i < 500 && (created = actions(f, "record.create")) < 2; i++)
        usleep(10 * 1000);
    pthread_mutex_lock(&f->w.m);
    done_before = f->w.n;
    G.open = 1; /* before any assert: a failed one must not leave the completer held */
    pthread_cond_broadcast(&f->w.c);
    pthread_mutex_unlock(&f->w.m);
    wait_for(f, 2);
    assert_int_equal(created, 2);
    assert_int_equal(done_before, 0); /* in order: the second waited for the first */
    assert_int_equal(f->s[0].calls, 1);
    assert_int_equal(f->s[1].calls, 1);
    assert_int_equal(f->s[0].res.rc, CU_OK);
    assert_int_equal(f->s[1].res.rc, CU_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_P_AUD_3_async_put_get_update_complete_once, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_P_AUD_3_async_failed_commit_answers_error_and_no_record, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_P_AUD_1_async_and_sync_callers_share_one_chain,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_completes_queued_requests, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_a_held_completion_holds_up_no_commit, fx_setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests_name("core: asynchronous commit", tests, NULL, NULL);
}
