/*
 * test_migrate.c: a SQLite vault moved into PostgreSQL (`custos migrate`, issue 12 item 5):
 * everything arrives (records open under their keys, consents, holds, an erasure still hidden,
 * API keys and users), each tenant's audit chain and signed checkpoint verify on the target as
 * they did on the source (P-AUD-2), the target takes writes after, and the copy is all or
 * nothing: a non-empty target or a failure midway leaves it as it was, a source in use is
 * refused.
 *
 * The source is always SQLite and the target a real PostgreSQL (th_pg), whatever backend the
 * rest of the suite runs on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custos_incident.h"
#include "store_migrate.h"
#include "th.h"
#include "th_pg.h"

#define D2026 1767225600 /* 2026-01-01 */

typedef struct fx {
    char dir[256], data[300], db[320], url[256];
    cu_id t, s[3], r[3], erased, hold;
    cu_id incident; /* P-BRE-1: its frozen set travels as bytes */
} fx;

static cu_vault *open_on(const fx *f, const char *store)
{
    cu_vault_opts o = {.data_dir = f->data, .store = store};
    cu_vault *v = NULL;
    cu_err err = {0};

    if (cu_vault_open(&o, &v, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
    return v;
}

static void bind_scm(cu_vault *v, cu_id t)
{
    size_t len = 0;
    const char *text = cu_policy_builtin("scm", &len);
    cu_err err = {0};

    assert_non_null(text);
    if (cu_tenant_set_policy(v, NULL, t, text, len, "scm", NULL, &err) != CU_OK)
        fail_msg("%s", err.msg);
}

/* A tenant under SCM's policy with three subjects and their records (one sensitive field),
 * a consent, a hold, a user, an API key, a fourth subject erased, a signed checkpoint. */
static void fill(fx *f, cu_vault *v)
{
    static const cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 1}};
    char secret[CU_APIKEY_SECRET_MAX], doc[96], ext[16];
    cu_audit_checkpoint cp;
    cu_apikey key;
    cu_tenant t;
    cu_err err = {0};
    cu_id user;

    assert_int_equal(cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Moved"}, &t, &err),
                     CU_OK);
    f->t = t.id;
    assert_int_equal(cu_collection_define(v, NULL, f->t, "people", defs, 1, &err), CU_OK);
    for (int i = 0; i < 4; i++) {
        cu_id s = 0;
        snprintf(ext, sizeof(ext), "ext-%d", i);
        assert_int_equal(cu_subject_create(v, NULL, f->t, &(cu_subject_in){.external_id = ext},
                                           &s, &err),
                         CU_OK);
        snprintf(doc, sizeof(doc), "{\"ssn\":\"000-00-000%d\",\"city\":\"Tab\\tLine\\n%d\"}", i, i);
        cu_id r = 0;
        assert_int_equal(cu_record_put(v, NULL, f->t, "people", s, doc, strlen(doc), &r, &err),
                         CU_OK);
        if (i < 3) {
            f->s[i] = s;
            f->r[i] = r;
        } else {
            f->erased = s;
        }
    }
    bind_scm(v, f->t); /* after the records: "people" is not one of its collections */
    assert_int_equal(cu_consent_record(v, NULL, f->t, f->s[0], "shared_on_request",
                                       CU_CONSENT_GRANT, "web", &err),
                     CU_OK);
    assert_int_equal(cu_hold_place(v, NULL, f->t, f->s[1], 0, "litigation", &f->hold, &err), CU_OK);
    assert_int_equal(cu_user_create(v, NULL, f->t, "officer@example.com", "correct horse battery",
                                    CU_ROLE_ADMIN, &user, &err),
                     CU_OK);
    assert_int_equal(cu_apikey_create(v, NULL, f->t, CU_ROLE_AGENT, "app", &key, secret, &err),
                     CU_OK);
    assert_int_equal(cu_subject_erase(v, NULL, f->t, f->erased, &err), CU_OK);
    assert_int_equal(cu_incident_open(v, NULL, f->t, &(cu_incident_in){.from = D2026 - 60},
                                      &f->incident, &err),
                     CU_OK);
    assert_int_equal(cu_incident_notice(v, NULL, f->t, f->incident, CU_INCIDENT_NOTICE_AUTHORITY, 0,
                                        0, "DPA-1", &err),
                     CU_OK);
    assert_int_equal(cu_audit_checkpoint_now(v, NULL, f->t, &cp, &err), CU_OK);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_err err = {0};
    cu_vault *v;

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
    snprintf(f->db, sizeof(f->db), "%s/custos.db", f->data);
    if (cu_vault_init(&(cu_vault_opts){.data_dir = f->data}, &err) != CU_OK)
        fail_msg("init: %s", err.msg);
    v = open_on(f, NULL);
    fill(f, v);
    cu_vault_close(v);
    th_pg_location(f->url, sizeof(f->url));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

static uint64_t rows_of(const cu_migrate_report *rep, const char *table)
{
    for (size_t i = 0; i < rep->ntables; i++)
        if (strcmp(rep->tables[i].name, table) == 0)
            return rep->tables[i].rows;
    fail_msg("no table %s in the report", table);
    return 0;
}

/* The tenant's and the platform's chains on the vault: each verifies; entries into n[2]. */
static void verify(cu_vault *v, cu_id t, uint64_t n[2], uint64_t *checkpoints)
{
    cu_audit_report rep;
    cu_err err = {0};

    assert_int_equal(cu_audit_verify(v, NULL, t, &rep, &err), CU_OK);
    if (!rep.ok)
        fail_msg("tenant chain: %s at %llu", rep.problem, (unsigned long long)rep.first_bad_seq);
    n[0] = rep.entries;
    *checkpoints = rep.checkpoints;
    assert_int_equal(cu_audit_verify(v, NULL, 0, &rep, &err), CU_OK);
    if (!rep.ok)
        fail_msg("platform chain: %s", rep.problem);
    n[1] = rep.entries;
}

static void test_migrate_moves_vault_with_chains_intact(void **state)
{
    fx *f = *state;
    uint64_t before[2], after[2], cps_before, cps_after;
    cu_migrate_report rep;
    cu_consent *consents = NULL;
    cu_hold *holds = NULL;
    cu_subject subj;
    cu_record rec;
    cu_err err = {0};
    size_t n = 0;
    cu_vault *v = open_on(f, NULL);

    verify(v, f->t, before, &cps_before);
    cu_vault_close(v);

    if (cu_store_migrate_sqlite_to_pg(f->db, f->url, &rep, &err) != CU_OK)
        fail_msg("migrate: %s", err.msg);
    assert_int_equal(rep.ntables, CU_MIGRATE_TABLES);
    assert_int_equal(rows_of(&rep, "tenants"), 1);
    assert_true(rows_of(&rep, "records") >= 3);
    assert_true(rows_of(&rep, "record_fields") >= 3);
    assert_int_equal(rows_of(&rep, "consents"), 1);
    assert_int_equal(rows_of(&rep, "holds"), 1);
    assert_true(rows_of(&rep, "audit_log") == before[0] + before[1]);
    assert_true(rows_of(&rep, "audit_checkpoints") >= 1);
    assert_int_equal(rows_of(&rep, "incidents"), 1);
    assert_true(rows_of(&rep, "incident_affected") >= 3);
    assert_int_equal(rows_of(&rep, "incident_notices"), 1);

    /* The same key file, the store now PostgreSQL. */
    v = open_on(f, f->url);
    verify(v, f->t, after, &cps_after);
    assert_true(after[0] >= before[0]); /* opening may add its own entries, chained on */
    assert_true(cps_after >= cps_before);
    for (int i = 0; i < 3; i++) {
        char want[32];
        assert_int_equal(cu_record_get(v, NULL, f->t, f->r[i], &rec, &err), CU_OK);
        snprintf(want, sizeof(want), "\"ssn\":\"000-00-000%d\"", i);
        assert_non_null(strstr(rec.json, want));
        assert_non_null(strstr(rec.json, "Tab\\tLine\\n")); /* COPY's escapes undone */
        cu_record_cleanup(&rec);
    }
    {
        cu_incident inc;
        assert_int_equal(cu_incident_get(v, NULL, f->t, f->incident, &inc, &err), CU_OK);
        assert_true(inc.evidence_intact); /* P-BRE-1: the same set, the same hash */
        assert_int_equal(inc.nnotices, 1);
        cu_incident_cleanup(&inc);
    }
    /* P-DSR-4: the erased subject stays gone. */
    assert_int_equal(cu_subject_get(v, NULL, f->t, f->erased, &subj, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_consent_list(v, NULL, f->t, f->s[0], &consents, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(consents);
    assert_int_equal(cu_hold_list(v, NULL, f->t, &holds, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_true(holds[0].id == f->hold);
    for (size_t i = 0; i < n; i++)
        cu_hold_cleanup(&holds[i]);
    free(holds);
    /* P-RET-5: the hold still refuses its subject's erasure. */
    assert_int_equal(cu_subject_erase(v, NULL, f->t, f->s[1], &err), CU_ERR_LEGAL_HOLD);
    /* The target takes writes: a consent after the copied one (the sequence moved past it). */
    assert_int_equal(cu_consent_record(v, NULL, f->t, f->s[0], "shared_on_request",
                                       CU_CONSENT_WITHDRAW, NULL, &err),
                     CU_OK);
    assert_int_equal(cu_consent_list(v, NULL, f->t, f->s[0], &consents, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    assert_int_equal(consents[1].action, CU_CONSENT_WITHDRAW);
    free(consents);
    verify(v, f->t, after, &cps_after);
    cu_vault_close(v);
}

static void test_migrate_refuses_a_target_holding_a_vault(void **state)
{
    fx *f = *state;
    cu_migrate_report rep;
    cu_err err = {0};
    long long entries;

    assert_int_equal(cu_store_migrate_sqlite_to_pg(f->db, f->url, &rep, &err), CU_OK);
    entries = th_pg_sql_int(f->url, "SELECT count(*) FROM audit_log");
    assert_true(entries > 0);
    assert_int_equal(cu_store_migrate_sqlite_to_pg(f->db, f->url, &rep, &err), CU_ERR_EXISTS);
    assert_int_equal(th_pg_sql_int(f->url, "SELECT count(*) FROM audit_log"), entries);
}

/* A failure near the end (the checkpoints, table 22 of 24) rolls back every table before it. */
static void test_migrate_is_all_or_nothing(void **state)
{
    fx *f = *state;
    cu_migrate_report rep;
    cu_err err = {0};
    cu_store *s = NULL;

    /* The schema made by opening the store, then a rule no copied checkpoint can meet. */
    assert_int_equal(cu_store_open(f->url, &s, &err), CU_OK);
    cu_store_close(s);
    assert_int_equal(
        th_pg_sql(f->url, "ALTER TABLE audit_checkpoints ADD CONSTRAINT planted CHECK (seq < 0)"),
        0);
    assert_int_equal(cu_store_migrate_sqlite_to_pg(f->db, f->url, &rep, &err), CU_ERR_STORE);
    assert_true(rep.ntables >= 22);
    assert_int_equal(th_pg_sql_int(f->url, "SELECT count(*) FROM tenants"), 0);
    assert_int_equal(th_pg_sql_int(f->url, "SELECT count(*) FROM records"), 0);
    assert_int_equal(th_pg_sql_int(f->url, "SELECT count(*) FROM audit_log"), 0);
    assert_int_equal(th_pg_sql_int(f->url, "SELECT count(*) FROM master_keys"), 0);
}

/* A vault open on the source (a server running) holds its lock: the copy is refused. */
static void test_migrate_refuses_a_source_in_use(void **state)
{
    fx *f = *state;
    cu_migrate_report rep;
    cu_err err = {0};
    cu_vault *v = open_on(f, NULL);

    assert_int_equal(cu_store_migrate_sqlite_to_pg(f->db, f->url, &rep, &err), CU_ERR_CONFLICT);
    cu_vault_close(v);
    /* Refused before the target was touched: not even its schema is made. */
    assert_int_equal(
        th_pg_sql_int(f->url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), 0);
}

/* A mistyped source path is refused, and no empty database is made there. */
static void test_migrate_refuses_a_missing_source(void **state)
{
    fx *f = *state;
    cu_migrate_report rep;
    cu_err err = {0};
    char path[400];

    snprintf(path, sizeof(path), "%s/nothing.db", f->dir);
    assert_int_equal(cu_store_migrate_sqlite_to_pg(path, f->url, &rep, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_moves_vault_with_chains_intact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_a_target_holding_a_vault, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migrate_is_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_a_source_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_a_missing_source, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
