/*
 * test_enforce.c: the policy enforced by the core, below HTTP: purposes and their coverage,
 * the consent ledger, age boundaries, legal holds, the policy cache, and a sweep that
 * crashes halfway and is finished by the next one. The scenarios (tests/scenarios/) prove
 * the same promises end to end over HTTPS, one seed policy each.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"         /* v->store: a store that fails, for the errors kept on the way up */
#include "policy_cache_int.h" /* cu_policy_for: the version the cache serves */
#include "th.h"
#include "th_pg.h"
#include "util.h"

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t; /* a tenant under SCM's policy */
} fx;

#define DAY 86400
#define D2026 1767225600 /* 2026-01-01 */

static void bind(cu_vault *v, cu_id t, const char *id)
{
    size_t len = 0;
    const char *text = cu_policy_builtin(id, &len);
    cu_err err = {0};

    assert_non_null(text);
    if (cu_tenant_set_policy(v, NULL, t, text, len, id, NULL, &err) != CU_OK)
        fail_msg("%s", err.msg);
}

/* cu_tenant_has_policy's answer; a failure fails the test. */
static int has_policy(cu_vault *v, cu_id t)
{
    cu_err err = {0};
    int has = -1;

    if (cu_tenant_has_policy(v, t, &has, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return has;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(
        cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "SCM customer"}, &t, &err), CU_OK);
    f->t = t.id;
    bind(f->v, f->t, "scm");
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

static cu_id subject(fx *f, const char *ext, const char *birth)
{
    cu_subject_in in = {.external_id = ext, .birth_date = birth};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, f->t, &in, &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static cu_id record(fx *f, const char *coll, cu_id subj, const char *json)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_record_put(f->v, NULL, f->t, coll, subj, json, strlen(json), &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static cu_rc get_as(fx *f, const char *purpose, unsigned flags, cu_id rec)
{
    cu_ctx ctx = {.actor = "test", .purpose = purpose, .flags = flags};
    cu_record r;
    cu_err err = {0};
    cu_rc rc = cu_record_get(f->v, &ctx, f->t, rec, &r, &err);

    cu_record_cleanup(&r);
    return rc;
}

/* P-CON-1: the purpose is the policy's and covers the category; the operator's purposes are
 * the policy's operator_purposes (P-ACC-4); no purpose at all is the vault's own trusted use. */
static void test_P_CON_1_purpose_is_declared_and_covers_the_category(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL);
    cu_id bill = record(f, "billing_records", s, "{\"invoice_number\":\"INV-9\"}");

    assert_int_equal(get_as(f, "payments", 0, bill), CU_OK);
    assert_int_equal(get_as(f, "support", 0, bill), CU_ERR_PURPOSE_DENIED);
    assert_int_equal(get_as(f, "no_such_purpose", 0, bill), CU_ERR_UNKNOWN_PURPOSE);
    assert_int_equal(get_as(f, NULL, 0, bill), CU_OK);
    /* SCM lets staff state support and legal_disclosure, nothing else. */
    assert_int_equal(get_as(f, "legal_disclosure", CU_CTX_OPERATOR, bill), CU_OK);
    assert_int_equal(get_as(f, "payments", CU_CTX_OPERATOR, bill), CU_ERR_FORBIDDEN);
    assert_int_equal(get_as(f, CU_PURPOSE_SUBJECT_ACCESS, CU_CTX_OPERATOR, bill), CU_ERR_FORBIDDEN);
    /* Global Privacy Control touches sale and sharing only; legal disclosure is neither. */
    assert_int_equal(get_as(f, "legal_disclosure", CU_CTX_GPC, bill), CU_OK);
}

/* P-CON-2: every grant and withdrawal is in the ledger with time, source and policy version,
 * and the newest entry decides. */
static void test_P_CON_2_ledger_keeps_every_entry_and_the_newest_decides(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL);
    cu_id c = record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_consent *l = NULL;
    cu_err err = {0};
    size_t n = 0;

    assert_int_equal(get_as(f, "shared_on_request", 0, c), CU_ERR_CONSENT_REQUIRED);
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s, "shared_on_request", CU_CONSENT_GRANT, "web", &err),
        CU_OK);
    assert_int_equal(get_as(f, "shared_on_request", 0, c), CU_OK);
    assert_int_equal(get_as(f, "shared_on_request", CU_CTX_GPC, c), CU_ERR_OPTED_OUT);
    cu_clock_set(D2026 + DAY);
    assert_int_equal(cu_consent_record(f->v, NULL, f->t, s, "shared_on_request",
                                       CU_CONSENT_WITHDRAW, NULL, &err),
                     CU_OK);
    assert_int_equal(get_as(f, "shared_on_request", 0, c), CU_ERR_CONSENT_REQUIRED);
    /* Wrong kinds of entry change nothing. */
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s, "support", CU_CONSENT_GRANT, NULL, &err),
        CU_ERR_INVALID);
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s, "shared_on_request", CU_CONSENT_OBJECT, NULL, &err),
        CU_ERR_INVALID);
    assert_int_equal(cu_consent_record(f->v, NULL, f->t, s, "nope", CU_CONSENT_GRANT, NULL, &err),
                     CU_ERR_UNKNOWN_PURPOSE);
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s, "shared_on_request", CU_CONSENT_GRANT, "a b", &err),
        CU_ERR_INVALID);
    assert_int_equal(cu_consent_record(f->v, NULL, f->t, 12345, "shared_on_request",
                                       CU_CONSENT_GRANT, NULL, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_consent_list(f->v, NULL, f->t, s, &l, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(l[0].action, CU_CONSENT_GRANT);
    assert_string_equal(l[0].source, "web");
    assert_int_equal(l[0].at, D2026);
    assert_string_equal(l[0].policy_version, "2026-04-13");
    assert_int_equal(l[1].action, CU_CONSENT_WITHDRAW);
    assert_string_equal(l[1].source, "api");
    assert_int_equal(l[1].at, D2026 + DAY);
    assert_true(l[0].seq < l[1].seq);
    free(l);
    /* Erasure takes the ledger with the subject. */
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_OK);
    assert_int_equal(cu_consent_list(f->v, NULL, f->t, s, &l, &n, &err), CU_ERR_NOT_FOUND);
}

/* P-AGE-1: the minimum age counts whole years to today's date (UTC); born on 29 February,
 * one has the birthday on 29 February in a leap year. */
static void test_P_AGE_1_minimum_age_boundaries(void **state)
{
    fx *f = *state;
    cu_subject_in in = {.external_id = "kid"};
    cu_err err = {0};
    cu_id id;

    in.birth_date = "2010-01-02"; /* 16 tomorrow */
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_ERR_UNDER_AGE);
    assert_null(strstr(err.msg, "2010"));
    in.birth_date = "2010-01-01"; /* 16 today */
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_OK);
    in.external_id = "leap";
    in.birth_date = "2012-02-29";
    cu_clock_set(1835308800); /* 2028-02-28 */
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_ERR_UNDER_AGE);
    cu_clock_set(1835395200); /* 2028-02-29: sixteen */
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_OK);
}

/* P-AGE-2 and P-RET-5: found under age while a hold covers it, a subject is restricted, and
 * erased by the sweep once the hold is released. */
static void test_P_AGE_2_under_age_under_hold_is_erased_after_release(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "kid", NULL), c = record(f, "contacts", s, "{\"name\":\"K\"}");
    cu_sweep_report rep;
    cu_subject got;
    cu_err err = {0};
    cu_id hold;
    int erased = 1;

    assert_int_equal(cu_hold_place(f->v, NULL, f->t, 0, c, "case 7", &hold, &err), CU_OK);
    /* A hold on one of its records holds the subject's erasure too. */
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_ERR_LEGAL_HOLD);
    assert_int_equal(cu_subject_mark_under_age(f->v, NULL, f->t, s, &erased, &err), CU_OK);
    assert_int_equal(erased, 0);
    assert_int_equal(get_as(f, "support", 0, c), CU_ERR_RESTRICTED);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.subjects_erased, 0);
    assert_int_equal(cu_hold_release(f->v, NULL, f->t, hold, "case closed", &err), CU_OK);
    assert_int_equal(cu_hold_release(f->v, NULL, f->t, hold, "case closed", &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.subjects_erased, 1);
    assert_int_equal(cu_subject_get(f->v, NULL, f->t, s, &got, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(get_as(f, NULL, 0, c), CU_ERR_NOT_FOUND);
}

/* P-RET-5: a tenant-wide hold keeps everything past its retention and stops every erasure. */
static void test_P_RET_5_tenant_hold_keeps_everything(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL);
    cu_id log = record(f, "access_logs", s, "{\"path\":\"/\"}");
    cu_sweep_report rep;
    cu_hold *h = NULL;
    cu_err err = {0};
    size_t n = 0;
    cu_id hold;

    assert_int_equal(cu_hold_place(f->v, NULL, f->t, 0, 0, "", &hold, &err), CU_ERR_INVALID);
    assert_int_equal(cu_hold_place(f->v, NULL, f->t, 0, 0, "audit by the regulator", &hold, &err),
                     CU_OK);
    cu_clock_set(D2026 + 400 * DAY);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records_held, 1);
    assert_int_equal(rep.records_deleted, 0);
    assert_int_equal(rep.audit_tenants_pruned, 0); /* the tenant's log is held too */
    {
        uint64_t pruned = 0;
        assert_int_equal(
            cu_audit_prune(f->v, NULL, f->t, (int64_t)(D2026 + 400 * DAY) * 1000, &pruned, &err),
            CU_ERR_LEGAL_HOLD);
        assert_int_equal(pruned, 0);
    }
    assert_int_equal(get_as(f, NULL, 0, log), CU_OK);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_ERR_LEGAL_HOLD);
    assert_int_equal(cu_hold_list(f->v, NULL, f->t, &h, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].reason, "audit by the regulator");
    assert_int_equal(h[0].subject_id, 0);
    cu_hold_cleanup(&h[0]);
    free(h);
    assert_int_equal(cu_hold_release(f->v, NULL, f->t, hold, "case closed", &err), CU_OK);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records_deleted, 1);
    assert_int_equal(rep.audit_tenants_pruned, 1);
}

/* A new policy version applies to the next request once in force (the cache follows it):
 * SCM to ERP Smart Cloud is material, so after SCM's 30 days' notice (P-NOT-1). */
static void test_policy_change_applies_to_the_next_request(void **state)
{
    fx *f = *state;
    cu_subject_in in = {.external_id = "seventeen", .birth_date = "2008-06-01"};
    cu_err err = {0};
    unsigned version = 0;
    cu_policy *p = NULL;
    cu_id id;

    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_OK);
    bind(f->v, f->t, "erpsmartcloud"); /* minimum age 18 */
    cu_clock_set(D2026 + 30 * DAY);
    in.external_id = "seventeen again";
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_ERR_UNDER_AGE);
    assert_int_equal(cu_tenant_policy(f->v, f->t, &p, &version, &err), CU_OK);
    assert_int_equal(version, 2);
    assert_string_equal(cu_policy_id(p), "erpsmartcloud");
    cu_policy_free(p);
}

/* Issue 9, item 7: a policy version bound by another process on the same database is used by
 * the next request: the cache checks the version the tenant row carries. The bind goes through
 * the store behind the vault's back, as another process's would, so nothing here tells the
 * cache (no cu_policy_cache_forget). P-AGE-1 and P-ACC-4 follow the new version at once. */
static void test_policy_cache_follows_a_version_bound_by_another_process(void **state)
{
    fx *f = *state;
    cu_subject_in in = {.external_id = "seventeen", .birth_date = "2008-06-01"};
    cu_ctx staff = {.actor = "op", .purpose = "legal_disclosure", .flags = CU_CTX_OPERATOR};
    size_t len = 0;
    const char *builtin = cu_policy_builtin("erpsmartcloud", &len);
    char *text = calloc(1, len + 1);
    const cu_policy *p = NULL;
    cu_store_op op = {0};
    unsigned version = 0;
    cu_err err = {0};
    cu_id id;

    /* Version 1 in the cache: SCM, minimum age 16, staff may state legal_disclosure. */
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_OK);
    assert_int_equal(cu_staff_purpose_check(f->v, &staff, f->t, &err), CU_OK);
    assert_int_equal(cu_policy_for(f->v, f->t, &p, &version, &err), CU_OK);
    assert_int_equal(version, 1);
    cu_policy_release(f->v, p);
    /* Another process binds version 2: ERP Smart Cloud, minimum age 18, no legal_disclosure. */
    assert_non_null(text);
    memcpy(text, builtin, len);
    op.type = CU_OP_POLICY_PUT;
    op.u.policy.tenant_id = f->t;
    op.u.policy.version = 2;
    op.u.policy.text = text;
    op.u.policy.created_at = cu_clock_now();
    assert_int_equal(cu_store_apply(f->v->store, &op, 1, &err), CU_OK);
    free(text);
    /* The next requests use it. */
    in.external_id = "seventeen again";
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &id, &err), CU_ERR_UNDER_AGE);
    assert_int_not_equal(cu_staff_purpose_check(f->v, &staff, f->t, &err), CU_OK);
    assert_int_equal(cu_policy_for(f->v, f->t, &p, &version, &err), CU_OK);
    assert_int_equal(version, 2);
    assert_string_equal(cu_policy_id(p), "erpsmartcloud");
    cu_policy_release(f->v, p);
}

static void sweep_child(void *arg)
{
    const char *data = arg;
    cu_vault *v = th_reopen(data);
    cu_sweep_report rep;
    cu_err err = {0};

    (void)cu_sweep(v, NULL, &rep, &err); /* exits at the first deletion */
    cu_vault_close(v);
}

/* P-RET-1: a sweep killed after its first deletion leaves a state the next sweep finishes:
 * every expired record goes, each exactly once on the audit log. The dead sweep's lease: SQLite
 * frees it at the next open (its flock says the holder is gone); a shared PostgreSQL database
 * keeps it until it lapses (docs/store.md, the sweep), so there the next sweep is refused until
 * then and finishes the work after. */
static void test_P_RET_1_sweep_is_resumable_after_a_crash(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL);
    cu_sweep_report rep;
    cu_err err = {0};
    char sql[160];

    for (int i = 0; i < 5; i++)
        record(f, "access_logs", s, "{\"path\":\"/x\"}");
    record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_vault_close(f->v);
    cu_clock_set(0);
    {
        char env[32];
        snprintf(env, sizeof(env), "%d", D2026 + 400 * DAY);
        setenv("CUSTOS_NOW", env, 1);
        assert_int_equal(th_crash_at("sweep.record_deleted", sweep_child, f->data), 70);
        unsetenv("CUSTOS_NOW");
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM records WHERE tenant_id = %llu",
             (unsigned long long)f->t);
    assert_int_equal(th_sql_int(f->data, sql), 5); /* one of the five went */
    cu_clock_set(D2026 + 400 * DAY);
    f->v = th_reopen(f->data);
    if (th_pg_mode()) {
        /* The dead holder's lease runs for sweep.c's SWEEP_LEASE_SECONDS (300) from the
         * child's now: one server at a time, even when the other is dead. */
        assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_ERR_CONFLICT);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM records WHERE tenant_id = %llu",
                 (unsigned long long)f->t);
        assert_int_equal(th_sql_int(f->data, sql), 5);
        cu_clock_set(D2026 + 400 * DAY + 300);
    }
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records_deleted, 4);
    assert_int_equal(th_sql_int(f->data, sql), 1); /* the contact stays */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE tenant_id = %llu AND action = 'record.expire'",
             (unsigned long long)f->t);
    assert_int_equal(th_sql_int(f->data, sql), 5);
}

/* The write that races the sweep: once, at the sweep's point between its read and its delete,
 * the subject writes another support message. */
typedef struct racer {
    fx *f;
    cu_id subject;
    int fired;
} racer;

static int write_meanwhile(const char *point, void *arg)
{
    racer *r = arg;

    if (strcmp(point, "sweep.record_due") == 0 && !r->fired) {
        r->fired = 1;
        record(r->f, "support_messages", r->subject, "{\"subject\":\"again\"}");
    }
    return 0;
}

/* P-RET-1: a record kept from its subject's last activity is not deleted by a sweep that read
 * it before the subject wrote again: the delete holds only while the activity it counted from
 * is still the subject's last. */
static void test_P_RET_1_sweep_spares_a_record_whose_subject_wrote_meanwhile(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL);
    cu_id old = record(f, "support_messages", s, "{\"subject\":\"help\"}");
    racer r = {f, s, 0};
    cu_sweep_report rep;
    cu_err err = {0};

    cu_clock_set(D2026 + 800 * DAY); /* past SCM's 24 months of communications */
    cu_fault_hook_set(write_meanwhile, &r);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    cu_fault_hook_set(NULL, NULL);
    assert_int_equal(r.fired, 1);
    assert_int_equal(rep.records_deleted, 0);
    assert_int_equal(get_as(f, NULL, 0, old), CU_OK); /* its retention starts again */
    /* Without a racing write, the same record goes when its time has come again. */
    cu_clock_set(D2026 + 1600 * DAY);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records_deleted, 2);
    assert_int_equal(get_as(f, NULL, 0, old), CU_ERR_NOT_FOUND);
}

/* A tenant without a policy keeps the API's rules alone, and cannot be ended: its export
 * window would be unknown. */
static void test_tenant_without_policy_has_no_purposes_to_check(void **state)
{
    fx *f = *state;
    cu_tenant t;
    cu_err err = {0};
    cu_ctx ctx = {.actor = "test", .purpose = "anything"};
    cu_subject_in in = {.external_id = "x", .birth_date = "2020-01-01"};
    int64_t until = 0;
    cu_id id;

    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "no policy"}, &t, &err),
                     CU_OK);
    assert_int_equal(cu_subject_create(f->v, &ctx, t.id, &in, &id, &err), CU_OK);
    assert_int_equal(cu_record_put(f->v, &ctx, t.id, "anything", id, "{}", 2, &id, &err), CU_OK);
    assert_int_equal(cu_tenant_terminate(f->v, NULL, t.id, &until, &err), CU_ERR_CONFLICT);
    assert_int_equal(has_policy(f->v, t.id), 0);
    assert_int_equal(has_policy(f->v, f->t), 1);
}

/* P-RET-5: a held record is neither rewritten nor deleted; subject_access reads, never writes. */
static void test_P_RET_5_held_record_is_not_rewritten(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL), c = record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_ctx own = {.actor = "test", .purpose = CU_PURPOSE_SUBJECT_ACCESS};
    cu_request_filed req;
    cu_record got;
    cu_err err = {0};
    cu_id hold;

    /* subject_access lives inside the subject's access request (P-DSR-1, issue 10). */
    assert_int_equal(
        cu_request_file(
            f->v, NULL, f->t,
            &(cu_request_in){.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_ADMIN, .subject = s}, &req,
            &err),
        CU_OK);
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, req.id, &err), CU_OK);
    own.dsr_request = req.id;
    assert_int_equal(cu_record_update(f->v, &own, f->t, c, "{\"name\":\"A\"}", 12, &err),
                     CU_ERR_PURPOSE_DENIED);
    assert_int_equal(cu_record_put(f->v, &own, f->t, "contacts", s, "{}", 2, &hold, &err),
                     CU_ERR_PURPOSE_DENIED);
    assert_int_equal(cu_record_get(f->v, &own, f->t, c, &got, &err), CU_OK);
    cu_record_cleanup(&got);
    assert_int_equal(cu_hold_place(f->v, NULL, f->t, 0, c, "case 9", &hold, &err), CU_OK);
    assert_int_equal(cu_record_update(f->v, NULL, f->t, c, "{}", 2, &err), CU_ERR_LEGAL_HOLD);
    assert_int_equal(cu_record_delete(f->v, NULL, f->t, c, &err), CU_ERR_LEGAL_HOLD);
    assert_int_equal(cu_hold_release(f->v, NULL, f->t, hold, "case closed", &err), CU_OK);
    assert_int_equal(cu_record_update(f->v, NULL, f->t, c, "{}", 2, &err), CU_OK);
}

/* P-AGE-2: the under-age mark is not lifted by a restriction change. */
static void test_P_AGE_2_under_age_mark_survives_unrestriction(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "kid", NULL);
    cu_sweep_report rep;
    cu_err err = {0};
    cu_id hold;
    int erased;

    assert_int_equal(cu_hold_place(f->v, NULL, f->t, s, 0, "case 10", &hold, &err), CU_OK);
    assert_int_equal(cu_subject_mark_under_age(f->v, NULL, f->t, s, &erased, &err), CU_OK);
    assert_int_equal(cu_subject_restrict(f->v, NULL, f->t, s, 0, &err), CU_ERR_CONFLICT);
    assert_int_equal(cu_hold_release(f->v, NULL, f->t, hold, "case closed", &err), CU_OK);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.subjects_erased, 1);
}

/* P-RET-6: a record rewritten after its anonymization is anonymous no more: the next sweep
 * anonymizes it again. */
static void test_P_RET_6_rewritten_anonymized_record_is_swept_again(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL);
    cu_id u = record(f, "usage_events", s, "{\"feature\":\"r\",\"ip_address\":\"192.0.2.1\"}");
    const char *again = "{\"feature\":\"r\",\"ip_address\":\"192.0.2.9\"}";
    cu_sweep_report rep;
    cu_record r;
    cu_err err = {0};

    cu_clock_set(D2026 + 366 * DAY);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records_anonymized, 1);
    assert_int_equal(cu_record_update(f->v, NULL, f->t, u, again, strlen(again), &err), CU_OK);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records_anonymized, 1);
    assert_int_equal(cu_record_get(f->v, NULL, f->t, u, &r, &err), CU_OK);
    assert_null(strstr(r.json, "192.0.2.9"));
    assert_non_null(strstr(r.json, "\"feature\""));
    cu_record_cleanup(&r);
}

static void erase_child(void *arg)
{
    fx *f = arg;
    cu_vault *v = th_reopen(f->data);
    cu_err err = {0};
    cu_id *ids = NULL;
    size_t n = 0;

    /* The one subject of the tenant, found by its external id. */
    if (cu_subject_find(v, NULL, f->t, CU_SUBJECT_BY_EXTERNAL_ID, "ada", &ids, &n, &err) == CU_OK &&
        n == 1)
        (void)cu_subject_erase(v, NULL, f->t, ids[0], &err);
    free(ids);
    cu_vault_close(v);
}

/* P-DSR-4: an erasure cut short after its key was destroyed is finished by the sweep; the
 * export and the sweep go on meanwhile. */
static void test_P_DSR_4_interrupted_erasure_is_finished_by_the_sweep(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL);
    cu_sweep_report rep;
    cu_err err = {0};
    cu_id *ids = NULL;
    char *json = NULL;
    size_t n = 0, len = 0;

    record(f, "usage_events", s, "{\"feature\":\"r\",\"ip_address\":\"192.0.2.1\"}");
    record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_vault_close(f->v);
    cu_clock_set(0);
    {
        char env[32];
        snprintf(env, sizeof(env), "%d", D2026);
        setenv("CUSTOS_NOW", env, 1);
        assert_int_equal(th_crash_at("erase.key_destroyed", erase_child, f), 70);
        unsetenv("CUSTOS_NOW");
    }
    cu_clock_set(D2026 + 366 * DAY); /* the usage record is due for anonymization too */
    f->v = th_reopen(f->data);
    /* Its key is gone: there is nothing left to hold. */
    {
        cu_id hold;
        assert_int_equal(cu_hold_place(f->v, NULL, f->t, s, 0, "too late", &hold, &err),
                         CU_ERR_KEY);
    }
    assert_int_equal(cu_tenant_export(f->v, NULL, f->t, &json, &len, &err), CU_OK);
    assert_null(strstr(json, "\"Ada\""));
    cu_str_wipe(json);
    free(json);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.tenants_failed, 0);
    assert_int_equal(rep.subjects_erased, 1);
    assert_int_equal(
        cu_subject_find(f->v, NULL, f->t, CU_SUBJECT_BY_EXTERNAL_ID, "ada", &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
}

/* P-RET-2, P-RET-5: a purge keeps the ledger of a held subject and waits to shred until the
 * hold is released, which the vault's own (local) callers can do on a purged tenant. */
static void test_P_RET_2_purge_keeps_held_data_until_release(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ada", NULL), b = subject(f, "bob", NULL);
    cu_ctx local = {.actor = "cli", .flags = CU_CTX_LOCAL};
    cu_sweep_report rep;
    cu_consent *l = NULL;
    cu_err err = {0};
    int64_t until;
    size_t n = 0;
    cu_id hold;
    char sql[160];

    record(f, "contacts", s, "{\"name\":\"Ada\"}");
    record(f, "contacts", b, "{\"name\":\"Bob\"}");
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s, "shared_on_request", CU_CONSENT_GRANT, NULL, &err),
        CU_OK);
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, b, "shared_on_request", CU_CONSENT_GRANT, NULL, &err),
        CU_OK);
    assert_int_equal(cu_hold_place(f->v, NULL, f->t, s, 0, "case 11", &hold, &err), CU_OK);
    /* A hold on a record of no subject holds that record, not every ledger. */
    {
        cu_id own = record(f, "billing_records", 0, "{\"invoice_number\":\"INV-3\"}"), h2;
        assert_int_equal(cu_hold_place(f->v, NULL, f->t, 0, own, "audit 12", &h2, &err), CU_OK);
        (void)h2;
    }
    assert_int_equal(cu_tenant_terminate(f->v, NULL, f->t, &until, &err), CU_OK);
    cu_clock_set(until + DAY);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.tenants_purged, 1);
    assert_int_equal(rep.tenants_shredded, 0);
    assert_int_equal(rep.records_held, 1); /* Ada's contact; the invoice's 7 years still run */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM consents WHERE tenant_id = %llu",
             (unsigned long long)f->t);
    assert_int_equal(th_sql_int(f->data, sql), 1); /* Ada's, held; Bob's went */
    /* A purged tenant answers nobody but the vault's own callers. */
    assert_int_equal(cu_consent_list(f->v, NULL, f->t, s, &l, &n, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_hold_release(f->v, NULL, f->t, hold, "case closed", &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_hold_release(f->v, &local, f->t, hold, "case closed", &err), CU_OK);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(th_sql_int(f->data, sql), 0);
    /* The invoice is held (and its 7 years run): nothing is shredded yet. */
    assert_int_equal(rep.tenants_shredded, 0);
    {
        cu_hold *hl = NULL;
        size_t nh = 0;
        assert_int_equal(cu_hold_list(f->v, &local, f->t, &hl, &nh, &err), CU_OK);
        for (size_t i = 0; i < nh; i++) {
            if (hl[i].released_at == 0)
                assert_int_equal(cu_hold_release(f->v, &local, f->t, hl[i].id, "done", &err),
                                 CU_OK);
            cu_hold_cleanup(&hl[i]);
        }
        free(hl);
        /* A purged tenant's retained data can still be held, from the CLI. */
        assert_int_equal(cu_hold_place(f->v, &local, f->t, 0, 0, "late suit", &hold, &err), CU_OK);
        assert_int_equal(cu_hold_place(f->v, NULL, f->t, 0, 0, "remote", &hold, &err),
                         CU_ERR_NOT_FOUND);
        assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
        assert_int_equal(rep.tenants_shredded, 0);
        assert_int_equal(cu_hold_list(f->v, &local, f->t, &hl, &nh, &err), CU_OK);
        for (size_t i = 0; i < nh; i++) {
            if (hl[i].released_at == 0)
                assert_int_equal(cu_hold_release(f->v, &local, f->t, hl[i].id, "done", &err),
                                 CU_OK);
            cu_hold_cleanup(&hl[i]);
        }
        free(hl);
    }
    /* Seven years on, the invoice has gone and no hold is left: shredded. */
    cu_clock_set(D2026 + 7 * 366 * DAY);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.records_deleted, 1);
    assert_int_equal(rep.tenants_shredded, 1);
}

typedef struct race {
    cu_vault *v;
    cu_id *tenants;
    size_t n;
    volatile int stop;
} race;

static void *has_policy_loop(void *arg)
{
    race *r = arg;

    while (!r->stop)
        for (size_t i = 0; i < r->n; i++)
            (void)has_policy(r->v, r->tenants[i]);
    return NULL;
}

/* The policy cache under binds and lookups at once (ASan is the judge): tenants without a
 * policy get one while other threads ask, and versions replace each other while in use. */
static void test_policy_cache_survives_concurrent_binds(void **state)
{
    fx *f = *state;
    cu_id tenants[16];
    pthread_t th[4];
    race r = {f->v, tenants, 16, 0};
    cu_err err = {0};

    for (size_t i = 0; i < 16; i++) {
        cu_tenant t;
        assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "racer"}, &t, &err),
                         CU_OK);
        tenants[i] = t.id;
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, has_policy_loop, &r), 0);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < 16; i++)
            bind(f->v, tenants[i], round % 2 ? "scm" : "optymyze");
        /* P-NOT-1: a material change waits out the notice; the cache switches meanwhile. */
        cu_clock_set(cu_clock_now() + 31 * DAY);
    }
    r.stop = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < 16; i++)
        assert_int_equal(has_policy(f->v, tenants[i]), 1);
}

/* P-ACC-4, decided wholly in the core: platform staff state a purpose of the policy's staff
 * list, or of the fixed list for a tenant without a policy, over the API and at the CLI alike
 * (CU_CTX_LOCAL, which otherwise records its purpose unchecked). */
static void test_P_ACC_4_staff_purposes_are_decided_in_core(void **state)
{
    fx *f = *state;
    cu_ctx staff = {
        .actor = "operator:key:1", .purpose = "administration", .flags = CU_CTX_OPERATOR};
    cu_ctx cli = {.actor = "operator:cli:root",
                  .purpose = "administration",
                  .flags = CU_CTX_OPERATOR | CU_CTX_LOCAL};
    cu_ctx own = {.actor = "cli", .purpose = "administration", .flags = CU_CTX_LOCAL};
    cu_err err = {0};
    cu_subject s;
    cu_tenant t;
    cu_id bare, id, sid = subject(f, "ada", NULL);

    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "no policy"}, &t, &err),
                     CU_OK);
    bare = t.id;
    {
        cu_subject_in in = {.external_id = "x"};
        assert_int_equal(cu_subject_create(f->v, NULL, bare, &in, &id, &err), CU_OK);
    }
    /* Without a policy: the fixed list, for a read through the core as for the door's check. */
    assert_int_equal(cu_staff_purpose_check(f->v, &staff, bare, &err), CU_ERR_FORBIDDEN);
    assert_int_equal(cu_subject_get(f->v, &staff, bare, id, &s, &err), CU_ERR_FORBIDDEN);
    assert_int_equal(cu_subject_get(f->v, &cli, bare, id, &s, &err), CU_ERR_FORBIDDEN);
    staff.purpose = cli.purpose = "support";
    assert_int_equal(cu_staff_purpose_check(f->v, &staff, bare, &err), CU_OK);
    assert_int_equal(cu_subject_get(f->v, &cli, bare, id, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    /* With SCM's policy: its operator purposes (support, legal_disclosure) only. */
    staff.purpose = cli.purpose = "analytics";
    assert_int_equal(cu_staff_purpose_check(f->v, &staff, f->t, &err), CU_ERR_FORBIDDEN);
    assert_int_equal(cu_subject_get(f->v, &cli, f->t, sid, &s, &err), CU_ERR_FORBIDDEN);
    staff.purpose = cli.purpose = "monitoring";
    assert_int_equal(cu_staff_purpose_check(f->v, &staff, f->t, &err), CU_ERR_UNKNOWN_PURPOSE);
    staff.purpose = CU_PURPOSE_EXPORT;
    assert_int_equal(cu_staff_purpose_check(f->v, &staff, f->t, &err), CU_ERR_FORBIDDEN);
    staff.purpose = cli.purpose = "legal_disclosure";
    assert_int_equal(cu_staff_purpose_check(f->v, &staff, f->t, &err), CU_OK);
    assert_int_equal(cu_subject_get(f->v, &cli, f->t, sid, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    /* The vault's own acts (the sweep) are not staff's: their purpose is recorded only. */
    assert_int_equal(cu_subject_get(f->v, &own, f->t, sid, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
}

/* A store whose hold list fails with a code of its own and writes no message. */
static cu_rc failing_hold_list(cu_store *s, cu_id tenant, cu_store_hold **out, size_t *n,
                               cu_err *err)
{
    (void)s, (void)tenant, (void)out, (void)n, (void)err;
    return CU_ERR_UNAVAILABLE;
}

/* Issue 9: a store's error reaches the caller as it was, with or without an error buffer;
 * the hold check once returned -1 and its callers guessed CU_ERR_STORE without one. */
static void test_hold_check_keeps_the_store_error(void **state)
{
    fx *f = *state;
    cu_store_ops ops = *f->v->store->ops;
    const cu_store_ops *saved = f->v->store->ops;
    cu_id s = subject(f, "ada", NULL), r = record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_err err = {0};
    int held = 1, erased = 0;

    ops.hold_list = failing_hold_list;
    f->v->store->ops = &ops;
    assert_int_equal(cu_hold_covers(f->v, f->t, s, 0, &held, NULL), CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, NULL), CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_record_delete(f->v, NULL, f->t, r, NULL), CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_subject_mark_under_age(f->v, NULL, f->t, s, &erased, NULL),
                     CU_ERR_UNAVAILABLE);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_ERR_UNAVAILABLE);
    f->v->store->ops = saved;
    assert_int_equal(cu_hold_covers(f->v, f->t, s, 0, &held, &err), CU_OK);
    assert_int_equal(held, 0);
}

/* cJSON's allocations, failing the fail_at-th from now (0: none). */
static long json_allocs, json_fail_at;
static int json_failed;

static void *json_malloc(size_t n)
{
    if (json_fail_at != 0 && ++json_allocs == json_fail_at) {
        json_failed = 1;
        return NULL;
    }
    return malloc(n);
}

static void json_free_plain(void *p)
{
    free(p);
}

/* P-DSR-2, issue 9: an export that cannot be built whole fails; it is never handed over
 * shorter. Each of cJSON's allocations fails in turn (SQLite's faultsim), until none fires. */
static void test_P_DSR_2_export_fails_rather_than_shortened(void **state)
{
    fx *f = *state;
    cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = json_free_plain};
    cu_id s = subject(f, "ada", NULL);
    char *want = NULL, *got = NULL;
    size_t len = 0;
    cu_err err = {0};
    long at;

    (void)record(f, "contacts", s, "{\"name\":\"Ada\",\"city\":\"Leeds\"}");
    (void)record(f, "contacts", 0, "{\"name\":\"Front desk\"}");
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s, "shared_on_request", CU_CONSENT_GRANT, "web", &err),
        CU_OK);
    cJSON_InitHooks(&hooks);
    assert_int_equal(cu_tenant_export(f->v, NULL, f->t, &want, &len, &err), CU_OK);
    for (at = 1; at < 5000; at++) {
        cu_rc rc;
        json_allocs = 0;
        json_failed = 0;
        json_fail_at = at;
        rc = cu_tenant_export(f->v, NULL, f->t, &got, &len, &err);
        json_fail_at = 0;
        if (rc == CU_OK) {
            assert_string_equal(got, want);
            free(got);
            if (!json_failed)
                break;
        } else {
            assert_null(got);
        }
    }
    assert_true(at > 10 && at < 5000);
    free(want);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_CON_1_purpose_is_declared_and_covers_the_category),
        T(test_P_ACC_4_staff_purposes_are_decided_in_core),
        T(test_hold_check_keeps_the_store_error),
        T(test_P_DSR_2_export_fails_rather_than_shortened),
        T(test_P_CON_2_ledger_keeps_every_entry_and_the_newest_decides),
        T(test_P_AGE_1_minimum_age_boundaries),
        T(test_P_AGE_2_under_age_under_hold_is_erased_after_release),
        T(test_P_RET_5_tenant_hold_keeps_everything),
        T(test_policy_change_applies_to_the_next_request),
        T(test_policy_cache_follows_a_version_bound_by_another_process),
        T(test_P_RET_1_sweep_is_resumable_after_a_crash),
        T(test_P_RET_1_sweep_spares_a_record_whose_subject_wrote_meanwhile),
        T(test_tenant_without_policy_has_no_purposes_to_check),
        T(test_P_RET_5_held_record_is_not_rewritten),
        T(test_P_AGE_2_under_age_mark_survives_unrestriction),
        T(test_P_RET_6_rewritten_anonymized_record_is_swept_again),
        T(test_P_DSR_4_interrupted_erasure_is_finished_by_the_sweep),
        T(test_P_RET_2_purge_keeps_held_data_until_release),
        T(test_policy_cache_survives_concurrent_binds),
    };

    return cmocka_run_group_tests_name("policy enforcement (core)", tests, NULL, NULL);
}
