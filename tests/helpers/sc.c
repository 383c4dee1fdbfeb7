/*
 * sc.c: the scenario harness (sc.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "sc.h"
#include "th.h"

/* With its access log on: scenarios check that no value reached it. */
static const char *const extra[] = {"--sweep-interval", "0", NULL};

/* The story being run and how far its live server has come: chapters [0, done) passed in
 * order on it (live: a server is up). */
static struct {
    const sc_story *story;
    const struct CMUnitTest *tests;
    size_t n, done;
    int live;
    size_t idx[64];
} run;

/* A fresh server on 2026-01-01 with the story's tenants (the set-up every scenario shares). */
static void story_begin(void)
{
    const sc_story *st = run.story;

    if (run.live)
        sc_stop(st->c);
    run.live = 0;
    run.done = 0;
    sc_start(st->c, sc_date(2026, 1, 1));
    run.live = 1;
    for (size_t i = 0; i < SC_MAX_TENANTS && st->tenants[i] != NULL; i++)
        sc_tenant_new(st->c, st->names[i], st->policy, st->tenants[i]);
    if (st->begun)
        st->begun();
}

/* Chapter i's set-up: the chapters before it, passed on the live server. */
static int chapter_setup(void **state)
{
    size_t i = *(size_t *)*state;

    if (run.live && run.done == i)
        return 0;
    story_begin();
    for (size_t j = 0; j < i; j++) {
        void *none = NULL;
        run.tests[j].test_func(&none);
        run.done = j + 1;
    }
    return 0;
}

/* Chapter i itself; it counts as passed only if it returns. */
static void chapter_run(void **state)
{
    size_t i = *(size_t *)*state;
    void *none = NULL;

    run.tests[i].test_func(&none);
    run.done = i + 1;
}

static int story_end(void **state)
{
    (void)state;
    if (!run.live)
        return 0;
    run.live = 0;
    assert_int_equal(srv_stop(&run.story->c->s, 0), 0);
    if (run.story->ending)
        run.story->ending(run.done == run.n);
    th_rmrf(run.story->c->s.dir);
    return 0;
}

int sc_story_run(const sc_story *story, const struct CMUnitTest *tests, size_t n, int argc,
                 char **argv)
{
    struct CMUnitTest chapters[64];
    const char *filter = argc > 1 ? argv[1] : getenv("CMOCKA_TEST_FILTER");

    assert_true(n <= sizeof(chapters) / sizeof(chapters[0]));
    run.story = story;
    run.tests = tests;
    run.n = n;
    for (size_t i = 0; i < n; i++) {
        run.idx[i] = i;
        chapters[i] =
            (struct CMUnitTest){tests[i].name, chapter_run, chapter_setup, NULL, &run.idx[i]};
    }
    if (filter != NULL && *filter != '\0')
        cmocka_set_test_filter(filter);
    return _cmocka_run_group_tests(story->title, chapters, n, NULL, story_end);
}

int64_t sc_date(int y, int m, int d)
{
    /* Days from civil (Howard Hinnant), as the server's own clock parses dates. */
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    unsigned yoe = (unsigned)(yy - era * 400);
    unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return (era * 146097 + (int64_t)doe - 719468) * SC_DAY;
}

static void launch_at(sc *c, int64_t now, int fresh)
{
    char env0[64];
    const char *env[] = {env0, NULL};

    snprintf(env0, sizeof(env0), "CUSTOS_NOW=%lld", (long long)now);
    c->now = now;
    if (fresh)
        srv_start_env(&c->s, extra, env);
    else
        srv_restart(&c->s, extra, env);
}

void sc_start(sc *c, int64_t now)
{
    memset(c, 0, sizeof(*c));
    launch_at(c, now, 1);
}

void sc_at(sc *c, int64_t now)
{
    assert_int_equal(srv_stop(&c->s, 0), 0);
    launch_at(c, now, 0);
}

void sc_stop(sc *c)
{
    assert_int_equal(srv_stop(&c->s, 1), 0);
}

static void vcall(sc *c, long want, const char *code, const char *key, const char *purpose,
                  const char *body, srv_resp *r, const char *method, const char *fmt, va_list ap)
{
    char path[512], got[64];

    vsnprintf(path, sizeof(path), fmt, ap);
    assert_int_equal(srv_call(&c->s, method, path, key, purpose, body, r), 0);
    if (r->status != want)
        fail_msg("%s %s (purpose %s) at day %lld: expected %ld, got %ld %s", method, path,
                 purpose ? purpose : "-", (long long)(c->now / SC_DAY), want, r->status, r->body);
    if (code != NULL && (srv_err(r->body, got, NULL) != 0 || strcmp(got, code) != 0))
        fail_msg("%s %s: expected error %s, got %s", method, path, code, r->body);
}

void sc_want(sc *c, long want, const char *code, const char *key, const char *purpose,
             const char *body, char id[SRV_ID], const char *method, const char *fmt, ...)
{
    srv_resp r;
    va_list ap;

    va_start(ap, fmt);
    vcall(c, want, code, key, purpose, body, &r, method, fmt, ap);
    va_end(ap);
    if (id != NULL && srv_json_str(r.body, "id", id, SRV_ID) != 0)
        fail_msg("%s: no id in %s", fmt, r.body);
    srv_resp_free(&r);
}

void sc_call(sc *c, long want, const char *key, const char *purpose, const char *body,
             srv_resp *out, const char *method, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vcall(c, want, NULL, key, purpose, body, out, method, fmt, ap);
    va_end(ap);
}

void sc_request_open(sc *c, const sc_tenant *t, const char *type, const char *subject,
                     char id[SRV_ID])
{
    char body[160];

    snprintf(body, sizeof(body), "{\"type\":\"%s\",\"filed_by\":\"admin\",\"subject_id\":\"%s\"}",
             type, subject);
    sc_want(c, 201, NULL, t->key, NULL, body, id, "POST", "/v1/tenants/%s/requests", t->id);
    sc_want(c, 200, NULL, t->key, NULL, NULL, NULL, "POST",
            "/v1/tenants/%s/requests/%s/acknowledge", t->id, id);
}

void sc_request_story(sc *c, const sc_tenant *t, const char *external_id, const char *record,
                      const char *ack_due, const char *answer_due, int processor)
{
    char body[160], id[SRV_ID], token[80], due[40];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"type\":\"access\",\"external_id\":\"%s\"}", external_id);
    sc_call(c, 201, t->key, NULL, body, &r, "POST", "/v1/tenants/%s/requests", t->id);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    assert_int_equal(srv_json_str(r.body, "token", token, sizeof(token)), 0);
    assert_int_equal(srv_json_str(r.body, "acknowledge_due", due, sizeof(due)), 0);
    assert_string_equal(due, ack_due);
    assert_int_equal(srv_json_str(r.body, "answer_due", due, sizeof(due)), 0);
    assert_string_equal(due, answer_due);
    srv_resp_free(&r);
    snprintf(body, sizeof(body), "{\"token\":\"%s\"}", token);
    sc_want(c, 200, NULL, t->key, NULL, body, NULL, "POST", "/v1/tenants/%s/requests/%s/verify",
            t->id, id);
    if (processor) {
        /* P-DSR-8: routed to the client, whose administrator decides. */
        sc_want(c, 409, "conflict", t->key, NULL, NULL, NULL, "POST",
                "/v1/tenants/%s/requests/%s/acknowledge", t->id, id);
        sc_want(c, 200, NULL, t->key, NULL, NULL, NULL, "POST",
                "/v1/tenants/%s/requests/%s/approve", t->id, id);
    }
    sc_want(c, 200, NULL, t->key, NULL, NULL, NULL, "POST",
            "/v1/tenants/%s/requests/%s/acknowledge", t->id, id);
    sc_call(c, 200, t->key, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests/%s/records", t->id, id);
    if (strstr(r.body, record) == NULL)
        fail_msg("the subject's records %s lack %s", r.body, record);
    srv_resp_free(&r);
    sc_want(c, 200, NULL, t->key, NULL, "{}", NULL, "POST", "/v1/tenants/%s/requests/%s/complete",
            t->id, id);
    sc_call(c, 200, t->key, NULL, NULL, &r, "GET", "/v1/tenants/%s/requests?filter=open", t->id);
    assert_null(strstr(r.body, id));
    srv_resp_free(&r);
}

void sc_tenant_new(sc *c, const char *name, const char *policy, sc_tenant *t)
{
    char body[256];
    srv_resp r;
    const char *k;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"policy\":\"%s\"}", name, policy);
    sc_call(c, 201, c->s.operator_key, NULL, body, &r, "POST", "/v1/tenants");
    assert_int_equal(srv_json_str(r.body, "id", t->id, sizeof(t->id)), 0);
    assert_int_equal(sc_json_num(r.body, "policy_version"), 1);
    assert_non_null(k = strstr(r.body, "\"secret\":\""));
    assert_int_equal(sscanf(k + 10, "%127[^\"]", t->key), 1);
    srv_resp_free(&r);
}

long sc_json_num(const char *json, const char *name)
{
    char needle[96];
    const char *p;

    snprintf(needle, sizeof(needle), "\"%s\":", name);
    if (json == NULL || (p = strstr(json, needle)) == NULL)
        return -1;
    return strtol(p + strlen(needle), NULL, 10);
}

void sc_sweep(sc *c, sc_sweep_counts *out)
{
    srv_resp r;

    sc_call(c, 200, c->s.operator_key, NULL, NULL, &r, "POST", "/v1/sweep");
    out->records_deleted = sc_json_num(r.body, "records_deleted");
    out->records_anonymized = sc_json_num(r.body, "records_anonymized");
    out->records_held = sc_json_num(r.body, "records_held");
    out->subjects_erased = sc_json_num(r.body, "subjects_erased");
    out->tenants_purged = sc_json_num(r.body, "tenants_purged");
    out->tenants_shredded = sc_json_num(r.body, "tenants_shredded");
    srv_resp_free(&r);
}

long sc_audit_count(sc *c, const sc_tenant *t, const char *action)
{
    srv_resp r;
    char needle[64];
    long n = 0;

    sc_call(c, 200, t->key, NULL, NULL, &r, "GET", "/v1/tenants/%s/audit?action=%s&limit=1000",
            t->id, action);
    snprintf(needle, sizeof(needle), "\"action\":\"%s\"", action);
    for (const char *p = strstr(r.body, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    srv_resp_free(&r);
    return n;
}

long sc_audit_count_db(sc *c, const sc_tenant *t, const char *action)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE tenant_id = %s AND action = '%s'", t->id,
             action);
    return (long)th_sql_int(c->s.data, sql);
}

long sc_platform_count(sc *c, const sc_tenant *t, const char *action)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE tenant_id = 0 AND action = '%s' AND"
             " object = 'tenant:%s'",
             action, t->id);
    return (long)th_sql_int(c->s.data, sql);
}

long sc_rows(sc *c, const sc_tenant *t, const char *table)
{
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE tenant_id = %s", table, t->id);
    return (long)th_sql_int(c->s.data, sql);
}

void sc_put(sc *c, const sc_tenant *t, const char *purpose, const char *collection,
            const char *subject, const char *data, char id[SRV_ID])
{
    char body[1024];

    if (subject != NULL)
        snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":%s}", subject, data);
    else
        snprintf(body, sizeof(body), "{\"data\":%s}", data);
    sc_want(c, 201, NULL, t->key, purpose, body, id, "POST",
            "/v1/tenants/%s/collections/%s/records", t->id, collection);
}

void sc_gpc_get(sc *c, const sc_tenant *t, const char *purpose, const char *record, long want,
                const char *code)
{
    char auth[200], pur[96], path[128];
    const char *h[] = {auth, pur, "Sec-GPC: 1", NULL};
    srv_resp r;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->key);
    snprintf(pur, sizeof(pur), "Custos-Purpose: %s", purpose);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t->id, record);
    assert_int_equal(srv_call_h(&c->s, "GET", path, h, NULL, 0, &r), 0);
    if (code != NULL)
        srv_assert_err(&r, want, code);
    else
        assert_int_equal(r.status, want);
    srv_resp_free(&r);
}

int sc_at_rest(sc *c, const char *s)
{
    char db[400], wal[420];

    snprintf(db, sizeof(db), "%s/custos.db", c->s.data);
    snprintf(wal, sizeof(wal), "%s-wal", db);
    return th_file_contains(db, s, strlen(s)) || th_file_contains(wal, s, strlen(s));
}

/* "YYYY-MM-DDTHH:MM:SSZ" as unix seconds, -1 if it is not that. */
static int64_t rfc3339(const char *s)
{
    int y, mo, d, h, mi, se;

    if (sscanf(s, "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &se) != 6)
        return -1;
    return sc_date(y, mo, d) + h * 3600 + mi * 60 + se;
}

void sc_backup_erase_restore(sc *c, const sc_tenant *t, const char *purpose, int window_days)
{
    char bdir[400], manifest[600], target[400], id[64], created[40], expires[40], zed[SRV_ID];
    cu_restore_opts o = {.keys_dir = c->s.data, .backup = manifest, .target = target};
    cu_restore_report rep;
    cu_err err = {0};
    cu_subject s = {0};
    srv_resp r;

    snprintf(bdir, sizeof(bdir), "%s/backups", c->s.dir);
    setenv("CUSTOS_BACKUP_DIR", bdir, 1);
    setenv("CUSTOS_BACKUP_INTERVAL", "0", 1);
    sc_at(c, c->now);
    unsetenv("CUSTOS_BACKUP_DIR");
    unsetenv("CUSTOS_BACKUP_INTERVAL");
    sc_want(c, 201, NULL, t->key, purpose,
            "{\"external_id\":\"backup-zed\",\"email\":\"zed.backup@example.org\"}", zed,
            "POST", "/v1/tenants/%s/subjects", t->id);
    sc_call(c, 201, c->s.operator_key, NULL, NULL, &r, "POST", "/v1/backups");
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    assert_int_equal(srv_json_str(r.body, "created_at", created, sizeof(created)), 0);
    assert_int_equal(srv_json_str(r.body, "expires_at", expires, sizeof(expires)), 0);
    srv_resp_free(&r);
    /* P-RET-3: kept no longer than the policy's backup window. */
    assert_int_equal(rfc3339(expires) - rfc3339(created), (int64_t)window_days * SC_DAY);
    sc_want(c, 200, NULL, t->key, purpose, NULL, NULL, "DELETE", "/v1/tenants/%s/subjects/%s",
            t->id, zed);
    /* P-BAK-2: restored from before the erasure, for real: still erased. */
    snprintf(manifest, sizeof(manifest), "%s/%s.manifest", bdir, id);
    snprintf(target, sizeof(target), "%s/restored", c->s.dir);
    o.store = th_store_new(target); /* PostgreSQL: into a fresh database (th_reopen's) */
    /* The server's erasure thread writes the journal line just after the answer (off its path,
     * docs/backup.md): waited for, 10 s at most, as an operator's restore would come later. */
    char jpath[600], want[96];
    snprintf(jpath, sizeof(jpath), "%s/erasure.journal", c->s.data);
    snprintf(want, sizeof(want), " subject.erase %s %s ", t->id, zed);
    assert_true(th_file_wait_contains(jpath, want, strlen(want)));
    /* The restore runs here, on the scenario's clock (a backup past its expiry does not open). */
    cu_clock_set(c->now);
    if (cu_backup_restore(&o, &rep, &err) != CU_OK)
        fail_msg("restore: %s", err.msg);
    assert_true(rep.replayed >= 1);
    cu_vault *v = th_reopen(target);
    cu_id tid = strtoull(t->id, NULL, 10), sid = strtoull(zed, NULL, 10);
    assert_int_equal(cu_subject_get(v, NULL, tid, sid, &s, &err), CU_ERR_NOT_FOUND);
    cu_vault_close(v);
    static const char *const files[] = {"custos.db", "custos.db-wal", "erasure.journal"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", target, files[i]);
        assert_false(th_file_contains(path, "zed.backup@example.org", 22));
    }
    th_rmrf(target);
    cu_clock_set(0);
}
