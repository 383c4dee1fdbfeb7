/*
 * test_erase.c: flat erasure (P-DSR-4, issue 17 item 5). An erasure is one small durable
 * transaction, the subject's key destroyed; from its commit no read finds the subject, its
 * records or their index entries, and the rows are deleted afterwards in batches, by the
 * vault's erasure thread, the sweep or cu_erase_pending, also after a crash between the two.
 * Legal holds (P-RET-5) refuse it as before (test_enforce.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_int.h" /* v->store: the ledger as the tenant export reads it */
#include "th.h"

typedef struct fx {
    char dir[256];
    char data[256];
    cu_vault *v;
    cu_id t;
} fx;

static int fx_setup(void **state)
{
    static const cu_field_def defs[] = {
        {"ssn", CU_FIELD_SENSITIVE, 1},
        {"name", CU_FIELD_PERSONAL, 0},
    };
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err),
                     CU_OK);
    f->t = t.id;
    assert_int_equal(cu_collection_define(f->v, NULL, f->t, "people", defs, 2, &err), CU_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

static cu_id subject(fx *f, const char *ext, const char *email)
{
    cu_subject_in in = {.external_id = ext, .email = email};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, f->t, &in, &id, &err) != CU_OK)
        fail_msg("subject: %s", err.msg);
    return id;
}

/* A record of s; the name of the erased subjects' records is "Erasable Person". */
static cu_id named_record(fx *f, cu_id s, const char *ssn, const char *name)
{
    char doc[128];
    cu_err err = {0};
    cu_id id = 0;

    snprintf(doc, sizeof(doc), "{\"ssn\":\"%s\",\"name\":\"%s\"}", ssn, name);
    if (cu_record_put(f->v, NULL, f->t, "people", s, doc, strlen(doc), &id, &err) != CU_OK)
        fail_msg("put: %s", err.msg);
    return id;
}

static cu_id record(fx *f, cu_id s, const char *ssn)
{
    return named_record(f, s, ssn, "Erasable Person");
}

/* Rows the database still holds of subject s: its records, their fields and index entries,
 * its own row and index entries, and its place in the erasure queue. */
static long long rows_of(fx *f, cu_id s)
{
    char sql[1024];

    snprintf(sql, sizeof(sql),
             th_pick(f->data,
                     "SELECT (SELECT count(*) FROM records WHERE subject_id = %1$llu)"
                     " + (SELECT count(*) FROM record_fields WHERE rid IN"
                     "    (SELECT rid FROM records WHERE subject_id = %1$llu))"
                     " + (SELECT count(*) FROM blind_index WHERE owner_id = %1$llu OR owner_id IN"
                     "    (SELECT record_id FROM records WHERE subject_id = %1$llu))"
                     " + (SELECT count(*) FROM subjects WHERE subject_id = %1$llu)"
                     " + (SELECT count(*) FROM erasures WHERE subject_id = %1$llu)",
                     "SELECT (SELECT count(*) FROM records WHERE subject_id = %1$llu)"
                     " + (SELECT count(*) FROM record_fields WHERE (tenant_id, record_id) IN"
                     "    (SELECT tenant_id, record_id FROM records WHERE subject_id = %1$llu))"
                     " + (SELECT count(*) FROM blind_index WHERE owner_id = %1$llu OR owner_id IN"
                     "    (SELECT record_id FROM records WHERE subject_id = %1$llu))"
                     " + (SELECT count(*) FROM subjects WHERE subject_id = %1$llu)"
                     " + (SELECT count(*) FROM erasures WHERE subject_id = %1$llu)"),
             (unsigned long long)s);
    return th_sql_int(f->data, sql);
}

static long long audit_count(fx *f, const char *action, cu_id s)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE action = '%s' AND object = 'subject:%llu'",
             action, (unsigned long long)s);
    return th_sql_int(f->data, sql);
}

/* P-DSR-4: nothing of subject s is found by any read: the subject, its records (by id, by
 * subject, by index), the subject indexes, the export. */
static void assert_nothing_found(fx *f, cu_id s, const cu_id *recs, size_t nrecs, const char *email,
                                 const char *ssn)
{
    cu_subject subj;
    cu_record r;
    cu_err err = {0};
    cu_id *ids = NULL;
    char *json = NULL;
    size_t n = 0, len = 0;

    assert_int_equal(cu_subject_get(f->v, NULL, f->t, s, &subj, &err), CU_ERR_NOT_FOUND);
    for (size_t i = 0; i < nrecs; i++)
        assert_int_equal(cu_record_get(f->v, NULL, f->t, recs[i], &r, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_record_list_by_subject(f->v, NULL, f->t, s, &ids, &n, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(cu_subject_find(f->v, NULL, f->t, CU_SUBJECT_BY_EMAIL, email, &ids, &n, &err),
                     CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(cu_record_find(f->v, NULL, f->t, "people", "ssn", ssn, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(cu_tenant_export(f->v, NULL, f->t, &json, &len, &err), CU_OK);
    assert_null(strstr(json, email));
    assert_null(strstr(json, "Erasable Person"));
    cu_str_wipe(json);
    free(json);
}

typedef struct crash_arg {
    const char *data;
    cu_id t, s;
} crash_arg;

static void child_erase(void *p)
{
    crash_arg *a = p;
    cu_vault *v = th_reopen(a->data);
    cu_err err = {0};

    if (cu_subject_erase(v, NULL, a->t, a->s, &err) != CU_OK)
        _exit(4);
    cu_vault_close(v);
}

/* Waits up to 30 s for the erasure thread to leave nothing of s. */
static void wait_rows_gone(fx *f, cu_id s)
{
    for (int i = 0; i < 3000 && rows_of(f, s) != 0; i++)
        usleep(10 * 1000);
    assert_int_equal(rows_of(f, s), 0);
}

/* P-DSR-4: an erasure cut short between the key and the rows (a crash) is queued in the
 * database; a read meanwhile finds nothing, and the erasure thread of the next vault opened
 * finishes it, with its audit entry. */
static void test_P_DSR_4_erasure_cut_after_the_key_finishes_after_restart(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "cut-1", "cut.one@example.org"), other = subject(f, "keep-1", NULL);
    cu_id recs[3] = {record(f, s, "111-22-3333"), record(f, s, "111-22-3333"),
                     record(f, s, "111-22-4444")};
    cu_id kept = named_record(f, other, "111-22-3333", "Kept Person");
    crash_arg a = {.data = f->data, .t = f->t, .s = s};
    cu_erase_report rep;
    cu_record r;
    cu_err err = {0};
    cu_id *ids = NULL;
    size_t n = 0;

    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(th_crash_at("erase.key_destroyed", child_erase, &a), 70);
    f->v = th_reopen(f->data);
    /* Between the key and the rows: the rows are there, and no read finds them. */
    assert_true(rows_of(f, s) >= 3 + 3 + 3 + 1 + 1 + 1);
    assert_int_equal(audit_count(f, "subject.erase", s), 1);
    assert_int_equal(audit_count(f, "subject.erase_rows", s), 0);
    assert_nothing_found(f, s, recs, 3, "cut.one@example.org", "111-22-4444");
    /* The other subject's record with the same value is found, and only it. */
    assert_int_equal(
        cu_record_find(f->v, NULL, f->t, "people", "ssn", "111-22-3333", &ids, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_true(ids[0] == kept);
    free(ids);
    assert_int_equal(cu_record_get(f->v, NULL, f->t, kept, &r, &err), CU_OK);
    cu_record_cleanup(&r);
    /* Nothing to hold any more, and no record to add. */
    {
        cu_id hold;
        const char *doc = "{\"name\":\"late\"}";
        assert_int_equal(cu_hold_place(f->v, NULL, f->t, s, 0, "too late", &hold, &err),
                         CU_ERR_KEY);
        assert_int_equal(cu_record_put(f->v, NULL, f->t, "people", s, doc, strlen(doc), NULL, &err),
                         CU_ERR_NOT_FOUND);
    }
    /* A restart with the erasure thread (as `custos serve` runs) finishes it. */
    cu_vault_close(f->v);
    f->v = th_reopen(f->data);
    assert_int_equal(cu_vault_erase_start(f->v, &err), CU_OK);
    wait_rows_gone(f, s);
    assert_int_equal(audit_count(f, "subject.erase_rows", s), 1);
    assert_int_equal(cu_erase_pending(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.subjects, 0);
    assert_int_equal(cu_record_get(f->v, NULL, f->t, kept, &r, &err), CU_OK);
    cu_record_cleanup(&r);
}

/* Copies record r of subject s n - 1 times by SQL (new ids, later creation times), with its
 * fields and index entries: many records fast, as the erasure sees them (ciphertext). */
static void clone_records(fx *f, cu_id r, int n)
{
    char sql[2048];

    snprintf(sql, sizeof(sql),
             th_pick(f->data,
                     "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
                     " INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version,"
                     " created_at, updated_at, doc, anonymized, version) SELECT tenant_id,"
                     " record_id + i, collection, subject_id, key_version, created_at + i, updated_at,"
                     " doc, anonymized, version FROM records, k WHERE record_id = %2$llu;"
                     "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
                     " INSERT INTO record_fields(rid, field, ct) SELECT c.rid, f.field, f.ct"
                     " FROM records o JOIN record_fields f ON f.rid = o.rid, k JOIN records c"
                     " ON c.tenant_id = o.tenant_id AND c.record_id = o.record_id + i"
                     " WHERE o.record_id = %2$llu;"
                     "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %1$d)"
                     " INSERT INTO blind_index SELECT b.tenant_id, b.scope, b.digest, b.owner_id + i,"
                     " b.uniq, c.rid FROM blind_index b, k JOIN records c ON c.tenant_id = b.tenant_id"
                     " AND c.record_id = b.owner_id + i WHERE b.owner_id = %2$llu;",
                     /* PostgreSQL: the records' own key, (tenant_id, record_id). */
                     "INSERT INTO records(tenant_id, record_id, collection, subject_id, key_version,"
                     " created_at, updated_at, doc, anonymized, version) SELECT tenant_id,"
                     " record_id + i, collection, subject_id, key_version, created_at + i, updated_at,"
                     " doc, anonymized, version FROM records, generate_series(1, %1$d) i"
                     " WHERE record_id = %2$llu;"
                     "INSERT INTO record_fields(tenant_id, record_id, field, ct) SELECT tenant_id,"
                     " record_id + i, field, ct FROM record_fields, generate_series(1, %1$d) i"
                     " WHERE record_id = %2$llu;"
                     /* A record's entries are found by their owner, its id. */
                     "INSERT INTO blind_index(tenant_id, scope, digest, owner_id, uniq)"
                     " SELECT tenant_id, scope, digest, owner_id + i, uniq"
                     " FROM blind_index, generate_series(1, %1$d) i WHERE owner_id = %2$llu;"),
             n - 1, (unsigned long long)r);
    assert_int_equal(th_sql(f->data, sql), 0);
}

/* P-DSR-4: a subject with 5,000 records: the erasure answers after the key alone, a read
 * finds none of them at once, and cu_erase_pending deletes them CU_ERASE_BATCH at a time. */
static void test_P_DSR_4_many_records_are_deleted_in_batches(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "many", "many@example.org");
    cu_id r = record(f, s, "222-33-4444");
    cu_erase_report rep;
    cu_err err = {0};
    cu_id *ids = NULL;
    size_t n = 0;

    clone_records(f, r, 5000);
    assert_int_equal(cu_record_list_by_subject(f->v, NULL, f->t, s, &ids, &n, &err), CU_OK);
    assert_int_equal(n, 5000);
    free(ids);
    /* As `custos serve` runs it: the erasure answers once the key is gone. */
    assert_int_equal(cu_vault_erase_start(f->v, &err), CU_OK);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_OK);
    assert_nothing_found(f, s, &r, 1, "many@example.org", "222-33-4444");
    /* Waits for the thread's pass, then does whatever it left: every row of s goes. */
    assert_int_equal(cu_erase_pending(f->v, NULL, &rep, &err), CU_OK);
    wait_rows_gone(f, s);
    assert_int_equal(audit_count(f, "subject.erase", s), 1);
    assert_int_equal(audit_count(f, "subject.erase_rows", s), 1);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM records"), 0);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM record_fields"), 0);
}

/* P-DSR-4: without the erasure thread, batches of CU_ERASE_BATCH records each, and the subject
 * with the last: 5,000 records in 5 transactions, counted. */
static void test_P_DSR_4_pending_erasure_reports_its_batches(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "batches", "batches@example.org");
    cu_id r = record(f, s, "333-44-5555");
    cu_erase_report rep;
    cu_sweep_report sw;
    cu_err err = {0};

    clone_records(f, r, 5000);
    cu_vault_close(f->v);
    f->v = NULL;
    {
        crash_arg a = {.data = f->data, .t = f->t, .s = s};
        assert_int_equal(th_crash_at("erase.key_destroyed", child_erase, &a), 70);
    }
    f->v = th_reopen(f->data);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM records"), 5000);
    assert_int_equal(cu_erase_pending(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.subjects, 1);
    assert_int_equal(rep.records, 5000);
    assert_int_equal(rep.batches, 5000 / CU_ERASE_BATCH);
    assert_int_equal(rows_of(f, s), 0);
    assert_int_equal(audit_count(f, "subject.erase_rows", s), 1);
    /* Nothing left for the sweep. */
    assert_int_equal(cu_sweep(f->v, NULL, &sw, &err), CU_OK);
    assert_int_equal(sw.subjects_erased, 0);
}

/* P-DSR-4 and P-RET-5: a held subject is not erased (nothing queued, everything readable); a
 * second erasure of a subject whose erasure is under way finishes it; one of a subject whose
 * rows are gone deletes nothing more and answers the certificate stored with the erasure. */
static void test_P_DSR_4_held_not_queued_and_second_erase(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "held", "held@example.org");
    cu_id r = record(f, s, "444-55-6666");
    crash_arg a = {.data = f->data, .t = f->t, .s = s};
    cu_record rec;
    cu_err err = {0};
    cu_id hold;

    assert_int_equal(cu_hold_place(f->v, NULL, f->t, s, 0, "case 1", &hold, &err), CU_OK);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_ERR_LEGAL_HOLD);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM erasures"), 0);
    assert_int_equal(cu_record_get(f->v, NULL, f->t, r, &rec, &err), CU_OK);
    cu_record_cleanup(&rec);
    assert_int_equal(cu_hold_release(f->v, NULL, f->t, hold, "case closed", &err), CU_OK);
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(th_crash_at("erase.key_destroyed", child_erase, &a), 70);
    f->v = th_reopen(f->data);
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM erasures"), 1);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_OK);
    assert_int_equal(rows_of(f, s), 0);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_OK);
    assert_int_equal(audit_count(f, "subject.erase_rows", s), 1);
    assert_int_equal(audit_count(f, "subject.erase", s), 1);
    /* A subject that never was: not found. */
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s + 1, &err), CU_ERR_NOT_FOUND);
}

/* P-DSR-4, issue 10: an erased subject's consent ledger is hidden with it from the commit of
 * its erasure, before its rows go: the whole-tenant export, which reads a subject's ledger after
 * the subject, finds none for one erased in between. */
static void test_P_DSR_4_erased_subjects_ledger_is_hidden_at_once(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "ledger", "ledger@example.org");
    crash_arg a = {.data = f->data, .t = f->t, .s = s};
    cu_store_consent *c = NULL;
    cu_err err = {0};
    size_t n = 9;

    assert_int_equal(cu_store_consent_list(f->v->store, f->t, s, NULL, &c, &n, &err), CU_OK);
    free(c);
    c = NULL;
    char sql[256];

    /* A ledger entry as the consent module writes it (this tenant has no policy to name one). */
    snprintf(sql, sizeof(sql),
             "INSERT INTO consents(tenant_id, subject_id, purpose, action, at, source,"
             " policy_version) VALUES(%llu, %llu, 'marketing', 1, 1, 'web', 'v1')",
             (unsigned long long)f->t, (unsigned long long)s);
    assert_int_equal(th_sql(f->data, sql), 0);
    assert_int_equal(cu_store_consent_list(f->v->store, f->t, s, NULL, &c, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(c);
    c = NULL;
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(th_crash_at("erase.key_destroyed", child_erase, &a), 70);
    f->v = th_reopen(f->data);
    /* Queued, its rows still there: the ledger is hidden all the same. */
    assert_int_equal(th_sql_int(f->data, "SELECT count(*) FROM consents"), 1);
    assert_int_equal(cu_store_consent_list(f->v->store, f->t, s, NULL, &c, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(c);
}

/* The erasure thread stops at close between batches; what is left stays queued, hidden, and
 * the next vault finishes it. */
static void test_P_DSR_4_close_leaves_the_rest_queued(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, "closing", "closing@example.org");
    cu_id r = record(f, s, "555-66-7777");
    cu_erase_report rep;
    cu_err err = {0};

    clone_records(f, r, 3000);
    assert_int_equal(cu_vault_erase_start(f->v, &err), CU_OK);
    assert_int_equal(cu_vault_erase_start(f->v, &err), CU_OK); /* once */
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, s, &err), CU_OK);
    cu_vault_close(f->v);
    f->v = th_reopen(f->data);
    assert_nothing_found(f, s, &r, 1, "closing@example.org", "555-66-7777");
    assert_int_equal(cu_erase_pending(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rows_of(f, s), 0);
    assert_int_equal(audit_count(f, "subject.erase_rows", s), 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_DSR_4_erasure_cut_after_the_key_finishes_after_restart),
        T(test_P_DSR_4_many_records_are_deleted_in_batches),
        T(test_P_DSR_4_pending_erasure_reports_its_batches),
        T(test_P_DSR_4_held_not_queued_and_second_erase),
        T(test_P_DSR_4_close_leaves_the_rest_queued),
        T(test_P_DSR_4_erased_subjects_ledger_is_hidden_at_once),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
