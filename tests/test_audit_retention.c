/*
 * test_audit_retention.c: the audit log survives its own tenant's admin (issue 18, item 1).
 *
 * Through the core, with the settable clock: a policy below the platform's floor for log
 * retention is refused, and a sweep keeps the floor even under a policy bound before it; a
 * shorter log retention reaches older entries only once its notice period and the floor have
 * passed; every policy change is in the platform's log; a tenant-wide legal hold is released by
 * an owner only; and verify says how far the log was pruned, so an emptied log is never taken
 * for a whole one (P-RET-4, P-RET-5, P-AUD-1, P-AUD-2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#include "th.h"
#include "util.h" /* cu_clock_set, cu_file_read */

#define T0 1767225600 /* 2026-01-01 */
#define DAY 86400

static const cu_ctx CTX = {.actor = "test"};

/* ERP Smart Cloud's policy with its log category kept `keep` instead of 12 months. Caller
 * frees. */
static char *erp_with_log_keep(const char *keep, size_t *len)
{
    static const char from[] = "retention: {keep: 12mo, from: created, then: delete}\n  usage:";
    char *text = NULL, *at, *out;
    cu_err err = {0};
    size_t n = 0;

    if (cu_file_read("policies/erpsmartcloud.yaml", 1 << 20, &text, &n, &err) != CU_OK)
        fail_msg("%s", err.msg);
    if (keep == NULL) {
        *len = n;
        return text;
    }
    at = strstr(text, from);
    assert_non_null(at);
    out = malloc(n + 64);
    assert_non_null(out);
    *len = (size_t)snprintf(out, n + 64, "%.*sretention: {keep: %s, from: created, then: delete}%s",
                            (int)(at - text), text, keep, at + strlen(from) - 9);
    free(text);
    return out;
}

static cu_rc bind(cu_vault *v, cu_id tenant, const char *keep, cu_err *err)
{
    size_t len = 0;
    char *text = erp_with_log_keep(keep, &len);
    cu_rc rc = cu_tenant_set_policy(v, &CTX, tenant, text, len, "erp", NULL, err);

    free(text);
    return rc;
}

/* Writes n audited acts (reads of the tenant's log would do; a collection declaration is one
 * entry each) at the clock's time. */
static void acts(cu_vault *v, cu_id tenant, int n)
{
    cu_err err = {0};
    cu_id rid;

    for (int i = 0; i < n; i++)
        if (cu_record_put(v, &CTX, tenant, "access_logs", 0, "{\"path\":\"/a\"}", 13, &rid, &err) !=
            CU_OK)
            fail_msg("put: %s", err.msg);
}

static uint64_t first_seq(cu_vault *v, cu_id tenant)
{
    cu_audit_filter f = {.limit = 1};
    cu_audit_entry *e = NULL;
    cu_err err = {0};
    size_t n = 0;
    uint64_t seq;

    assert_int_equal(cu_audit_list(v, &CTX, tenant, &f, &e, &n, &err), CU_OK);
    assert_true(n == 1);
    seq = e[0].seq;
    free(e);
    return seq;
}

/* The attack: an admin binds a policy whose log keeps 0h. It is refused, as is one a
 * day short of the floor; the floor itself is accepted, at binding and at creation. */
static void test_P_RET_4_policy_below_the_log_floor_is_refused(void **state)
{
    char dir[256], data[256], *text;
    cu_tenant t;
    cu_err err = {0};
    size_t len = 0;
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(bind(v, t.id, "0h", &err), CU_ERR_INVALID);
    assert_non_null(strstr(err.msg, "floor"));
    assert_int_equal(bind(v, t.id, "89d", &err), CU_ERR_INVALID);
    assert_int_equal(bind(v, t.id, "90d", &err), CU_OK);
    text = erp_with_log_keep("1d", &len);
    assert_int_equal(cu_tenant_create(v, &CTX,
                                      &(cu_tenant_opts){.name = "Beta",
                                                        .policy = text,
                                                        .policy_len = len,
                                                        .policy_name = "erp"},
                                      &t, &err),
                     CU_ERR_INVALID);
    free(text);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* A policy bound under a lower floor (the operator's setting then, or before the floor
 * existed) still never makes the sweep prune entries younger than today's floor. */
static void test_P_RET_4_sweep_keeps_the_floor_under_an_older_policy(void **state)
{
    char dir[256], data[256];
    cu_sweep_report sw;
    cu_tenant t;
    cu_err err = {0};
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    cu_clock_set(T0);
    setenv("CUSTOS_LOG_FLOOR_DAYS", "1", 1);
    v = th_vault(dir, data);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(bind(v, t.id, "1d", &err), CU_OK);
    acts(v, t.id, 3);
    cu_vault_close(v);
    unsetenv("CUSTOS_LOG_FLOOR_DAYS");
    v = th_reopen(data);
    cu_clock_set(T0 + 10 * DAY);
    assert_int_equal(cu_sweep(v, &CTX, &sw, &err), CU_OK);
    assert_int_equal(sw.audit_tenants_pruned, 0);
    assert_int_equal(first_seq(v, t.id), 1);
    /* Past the floor, the policy's day applies. */
    cu_clock_set(T0 + 91 * DAY);
    assert_int_equal(cu_sweep(v, &CTX, &sw, &err), CU_OK);
    assert_int_equal(sw.audit_tenants_pruned, 1);
    assert_true(first_seq(v, t.id) > 1);
    cu_clock_set(0);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* A shorter log retention bound later reaches the entries before it only after its notice
 * period and the floor: until then the version it replaced keeps them. */
static void test_P_RET_4_shorter_log_retention_waits_for_its_notice(void **state)
{
    char dir[256], data[256];
    cu_audit_report rep;
    cu_sweep_report sw;
    cu_tenant t;
    cu_err err = {0};
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_clock_set(T0);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(bind(v, t.id, NULL, &err), CU_OK); /* 12 months */
    acts(v, t.id, 3);
    /* 200 days on, 90 days are bound: the entries of day 0 would be due at once. */
    cu_clock_set(T0 + 200 * DAY);
    assert_int_equal(bind(v, t.id, "90d", &err), CU_OK);
    assert_int_equal(cu_sweep(v, &CTX, &sw, &err), CU_OK);
    assert_int_equal(sw.audit_tenants_pruned, 0);
    assert_int_equal(first_seq(v, t.id), 1);
    /* Still within the floor (90 days) after the change, past ERP's notice (14 days). */
    cu_clock_set(T0 + 280 * DAY);
    assert_int_equal(cu_sweep(v, &CTX, &sw, &err), CU_OK);
    assert_int_equal(sw.audit_tenants_pruned, 0);
    /* Past both: the new retention applies to every entry. */
    cu_clock_set(T0 + 291 * DAY);
    assert_int_equal(cu_sweep(v, &CTX, &sw, &err), CU_OK);
    assert_int_equal(sw.audit_tenants_pruned, 1);
    assert_true(first_seq(v, t.id) > 1);
    assert_int_equal(cu_audit_verify(v, &CTX, t.id, &rep, &err), CU_OK);
    assert_true(rep.ok);
    cu_clock_set(0);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* 1 if the platform's log holds action on object. */
static int platform_has(cu_vault *v, const char *action, const char *object)
{
    cu_audit_filter f = {.action = action, .object = object, .limit = 10};
    cu_audit_entry *e = NULL;
    cu_err err = {0};
    size_t n = 0;

    assert_int_equal(cu_audit_list(v, &CTX, 0, &f, &e, &n, &err), CU_OK);
    free(e);
    return n > 0;
}

/* P-AUD-1: every policy change, at creation and later, is in the platform's own log, where the
 * tenant's principals cannot prune it. */
static void test_P_AUD_1_policy_changes_are_in_the_platform_log(void **state)
{
    char dir[256], data[256], obj[96], *text;
    cu_tenant t, t2;
    cu_err err = {0};
    size_t len = 0;
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(bind(v, t.id, NULL, &err), CU_OK);
    assert_int_equal(bind(v, t.id, "100d", &err), CU_OK);
    snprintf(obj, sizeof(obj), "tenant:%llu:policy:erpsmartcloud:v2", (unsigned long long)t.id);
    assert_true(platform_has(v, "policy.set", obj));
    snprintf(obj, sizeof(obj), "tenant:%llu:policy:erpsmartcloud:v1", (unsigned long long)t.id);
    assert_true(platform_has(v, "policy.set", obj));
    text = erp_with_log_keep(NULL, &len);
    assert_int_equal(cu_tenant_create(v, &CTX,
                                      &(cu_tenant_opts){.name = "Beta",
                                                        .policy = text,
                                                        .policy_len = len,
                                                        .policy_name = "erp"},
                                      &t2, &err),
                     CU_OK);
    free(text);
    snprintf(obj, sizeof(obj), "tenant:%llu:policy:erpsmartcloud:v1", (unsigned long long)t2.id);
    assert_true(platform_has(v, "policy.set", obj));
    cu_vault_close(v);
    th_rmrf(dir);
}

/* P-ACC-1, P-RET-4: an admin binds the policy only once the owner let the tenant's admins do
 * so; never in another tenant, never another role; the grant is in the platform's log. */
static void test_P_ACC_1_owner_grant_lets_admins_bind_the_policy(void **state)
{
    char dir[256], data[256], obj[96];
    cu_principal admin = {.kind = CU_PRINCIPAL_APIKEY, .id = 1, .role = CU_ROLE_ADMIN};
    cu_principal agent = {.kind = CU_PRINCIPAL_APIKEY, .id = 2, .role = CU_ROLE_AGENT};
    cu_tenant t, t2;
    cu_err err = {0};
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Beta"}, &t2, &err),
                     CU_OK);
    admin.tenant_id = agent.tenant_id = t.id;
    assert_false(cu_principal_can(v, &admin, t.id, CU_PERM_POLICY));
    assert_int_equal(cu_tenant_policy_grant(v, &CTX, t.id, 1, &err), CU_OK);
    assert_true(cu_principal_can(v, &admin, t.id, CU_PERM_POLICY));
    assert_false(cu_principal_can(v, &admin, t.id, CU_PERM_AUDIT));
    assert_false(cu_principal_can(v, &admin, t2.id, CU_PERM_POLICY));
    assert_false(cu_principal_can(v, &agent, t.id, CU_PERM_POLICY));
    snprintf(obj, sizeof(obj), "tenant:%llu:policy:admins:on", (unsigned long long)t.id);
    assert_true(platform_has(v, "policy.grant", obj));
    assert_int_equal(cu_tenant_policy_grant(v, &CTX, t.id, 0, &err), CU_OK);
    assert_false(cu_principal_can(v, &admin, t.id, CU_PERM_POLICY));
    cu_vault_close(v);
    th_rmrf(dir);
}

/* P-RET-5: a hold on the whole tenant keeps its log; only an owner (or the CLI) releases it.
 * A hold on one subject is released by whoever may erase. */
static void test_P_RET_5_tenant_wide_hold_is_released_by_an_owner_only(void **state)
{
    char dir[256], data[256];
    cu_ctx admin = {.actor = "key:1"}, owner = {.actor = "key:2", .flags = CU_CTX_OWNER};
    cu_subject_in in = {.external_id = "ext-1"};
    cu_id whole = 0, one = 0, subject = 0;
    cu_tenant t;
    cu_err err = {0};
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    assert_int_equal(cu_subject_create(v, &CTX, t.id, &in, &subject, &err), CU_OK);
    assert_int_equal(cu_hold_place(v, &admin, t.id, 0, 0, "case 1", &whole, &err), CU_OK);
    assert_int_equal(cu_hold_place(v, &admin, t.id, subject, 0, "case 2", &one, &err), CU_OK);
    assert_int_equal(cu_hold_release(v, &admin, t.id, whole, "done", &err), CU_ERR_FORBIDDEN);
    assert_int_equal(cu_hold_release(v, &admin, t.id, one, "done", &err), CU_OK);
    assert_int_equal(cu_hold_release(v, &owner, t.id, whole, "done", &err), CU_OK);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* P-AUD-2: after a prune, verify says so: the range removed is in the report and the prune is
 * an entry of its own, so an emptied log is never reported as a whole one. */
static void test_P_AUD_2_verify_reports_the_pruned_range(void **state)
{
    char dir[256], data[256], obj[96];
    cu_audit_filter f = {.action = "audit.prune", .limit = 10};
    cu_audit_entry *e = NULL;
    cu_audit_report rep;
    uint64_t pruned = 0;
    cu_tenant t;
    cu_err err = {0};
    size_t n = 0;
    cu_vault *v;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    cu_clock_set(T0);
    assert_int_equal(cu_tenant_create(v, &CTX, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    acts(v, t.id, 4);
    assert_int_equal(cu_audit_verify(v, &CTX, t.id, &rep, &err), CU_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.pruned_through, 0);
    cu_clock_set(T0 + DAY);
    assert_int_equal(cu_audit_prune(v, &CTX, t.id, (int64_t)(T0 + 1) * 1000, &pruned, &err), CU_OK);
    assert_true(pruned >= 5);
    assert_int_equal(cu_audit_verify(v, &CTX, t.id, &rep, &err), CU_OK);
    assert_true(rep.ok);
    assert_int_equal(rep.pruned_through, pruned);
    assert_int_equal(cu_audit_list(v, &CTX, t.id, &f, &e, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    snprintf(obj, sizeof(obj), "audit:%llu:upto:%llu", (unsigned long long)t.id,
             (unsigned long long)pruned);
    assert_string_equal(e[0].object, obj);
    free(e);
    cu_clock_set(0);
    cu_vault_close(v);
    th_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_RET_4_policy_below_the_log_floor_is_refused),
        cmocka_unit_test(test_P_RET_4_sweep_keeps_the_floor_under_an_older_policy),
        cmocka_unit_test(test_P_RET_4_shorter_log_retention_waits_for_its_notice),
        cmocka_unit_test(test_P_AUD_1_policy_changes_are_in_the_platform_log),
        cmocka_unit_test(test_P_ACC_1_owner_grant_lets_admins_bind_the_policy),
        cmocka_unit_test(test_P_RET_5_tenant_wide_hold_is_released_by_an_owner_only),
        cmocka_unit_test(test_P_AUD_2_verify_reports_the_pruned_range),
    };

    return cmocka_run_group_tests_name("audit retention", tests, NULL, NULL);
}
