/*
 * test_backup_http.c: backups over the real HTTPS server (P-BAK-1; docs/backup.md): POST
 * /v1/backups for the operator only (403 for every tenant role), made while writes go on; the
 * server's schedule (--backup-dir, --backup-interval) makes, verifies and reports them in
 * /metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srv.h"
#include "th.h"

static long long metric(const char *text, const char *name)
{
    char want[96];
    const char *p;

    snprintf(want, sizeof(want), "\n%s ", name);
    p = strstr(text, want);
    return p ? atoll(p + strlen(want)) : -1;
}

static void test_P_BAK_1_backups_over_http(void **state)
{
    char bdir[400], path[600];
    srv s = {0};
    srv_tenant t;
    srv_resp r;
    char id[64];

    (void)state;
    th_tmpdir(bdir); /* the server's own directory is made at start; this one holds backups */
    snprintf(path, sizeof(path), "%s/backups", bdir);
    const char *const extra[] = {"--backup-dir", path, "--backup-interval", "1", NULL};
    srv_start(&s, extra);
    srv_tenant_make(&s, "acme", &t);
    /* Operator only: every tenant role is refused, and nothing is made. */
    for (int role = CU_ROLE_OWNER; role < CU_ROLE_OPERATOR; role++) {
        assert_int_equal(srv_call(&s, "POST", "/v1/backups", t.key[role], NULL, NULL, &r), 0);
        srv_assert_err(&r, 403, "forbidden");
        srv_resp_free(&r);
    }
    assert_int_equal(srv_call(&s, "POST", "/v1/backups", s.operator_key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 201);
    assert_int_equal(srv_json_str(r.body, "id", id, sizeof(id)), 0);
    assert_int_equal(strlen(id), 32);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "%s/backups/%s.manifest", bdir, id);
    assert_int_equal(access(path, F_OK), 0);
    /* The schedule: a backup, then its trial restore, logged and in /metrics. */
    assert_true(srv_log_wait(&s, "\"verify\":\"ok\"", 30000));
    assert_int_equal(srv_call(&s, "GET", "/metrics", s.operator_key, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(metric(r.body, "custos_backup_last_success_timestamp") > 0);
    assert_true(metric(r.body, "custos_backup_last_verified_timestamp") > 0);
    assert_true(metric(r.body, "custos_backup_count") >= 1);
    assert_true(metric(r.body, "custos_backup_bytes") > 0);
    srv_resp_free(&r);
    /* P-BAK-2: an erasure reaches the journal's copy beside the backups, written by the
     * erasure thread right after the answer (off its path): waited for, 10 s at most. */
    char want[96];
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", t.id, t.subject);
    srv_call_ok(&s, "DELETE", path, t.key[CU_ROLE_OWNER], "support", NULL, 200, NULL);
    snprintf(path, sizeof(path), "%s/backups/erasure.journal", bdir);
    snprintf(want, sizeof(want), " subject.erase %s %s ", t.id, t.subject);
    assert_true(th_file_wait_contains(path, want, strlen(want)));
    srv_stop(&s, 1);
    th_rmrf(bdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_BAK_1_backups_over_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
