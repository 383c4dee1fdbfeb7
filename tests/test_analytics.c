/*
 * test_analytics.c: aggregate analytics below HTTP (P-ANA-1, P-ISO-2; docs/analytics.md): a
 * group of fewer distinct subjects than the policy's min_group_size is suppressed, however many
 * records its subjects have; complementary suppression keeps a suppressed group from being
 * recovered from the total; fields that are not plain are refused; noise spends the tenant's
 * budget and stops when it is spent; a tenant aggregates its own records alone; the audit log
 * holds the query's shape, never a value. SCM's policy (min_group_size 10; deals: title,
 * amount and stage plain, contact_email personal and indexed). Runs on SQLite and again on
 * PostgreSQL (run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_int.h" /* cu_ana_laplace */
#include "custos_analytics.h"
#include "json.h"
#include "th.h"
#include "util.h"

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t, other;
    unsigned next; /* subjects made so far, for unique external ids */
} fx;

static cu_id tenant(fx *f, const char *name)
{
    size_t len = 0;
    const char *text = cu_policy_builtin("scm", &len);
    cu_tenant t;
    cu_err err = {0};

    if (cu_tenant_create(f->v, NULL,
                         &(cu_tenant_opts){.name = name, .policy = text, .policy_len = len}, &t,
                         &err) != CU_OK)
        fail_msg("%s", err.msg);
    return t.id;
}

/* A new subject of tenant t with n deals of stage (amount 100 each). */
static cu_id deals(fx *f, cu_id t, const char *stage, int n)
{
    char ext[32], json[160];
    cu_err err = {0};
    cu_id s = 0, r = 0;

    snprintf(ext, sizeof(ext), "c-%u", ++f->next);
    if (cu_subject_create(f->v, NULL, t, &(cu_subject_in){.external_id = ext}, &s, &err) != CU_OK)
        fail_msg("%s", err.msg);
    for (int i = 0; i < n; i++) {
        snprintf(json, sizeof(json),
                 "{\"title\":\"t\",\"stage\":\"%s\",\"amount\":100,"
                 "\"contact_email\":\"c%u@example.com\"}",
                 stage, f->next);
        if (cu_record_put(f->v, NULL, t, "deals", s, json, strlen(json), &r, &err) != CU_OK)
            fail_msg("%s", err.msg);
    }
    return s;
}

/* n subjects of one deal each. */
static void many(fx *f, cu_id t, const char *stage, int n)
{
    for (int i = 0; i < n; i++)
        deals(f, t, stage, 1);
}

static int setup(void **state_)
{
    fx *f = calloc(1, sizeof(*f));

    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    f->t = tenant(f, "scm-client");
    *state_ = f;
    return 0;
}

static int teardown(void **state_)
{
    fx *f = *state_;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    return 0;
}

/* The answer of query over t's deals, or NULL with *rc and *why. */
static cJSON *ask(fx *f, cu_id t, const char *query, cu_rc *rc, cu_analytics_refusal *why)
{
    char *res = NULL;
    cJSON *o = NULL;
    cu_err err = {0};

    *rc = cu_analytics_query(f->v, NULL, t, "deals", query, strlen(query), &res, why, &err);
    if (*rc == CU_OK && cu_json_parse(res, strlen(res), &o, NULL, &err) != CU_OK)
        fail_msg("%s", err.msg);
    free(res);
    return o;
}

static cJSON *ok(fx *f, cu_id t, const char *query)
{
    cu_analytics_refusal why;
    cu_rc rc;
    cJSON *o = ask(f, t, query, &rc, &why);

    if (rc != CU_OK)
        fail_msg("query refused: rc %d why %d", rc, why);
    return o;
}

/* The first value of the group whose one key is key, -1 if not listed. */
static double group_value(const cJSON *o, const char *key)
{
    const cJSON *g;

    cJSON_ArrayForEach(g, cJSON_GetObjectItem(o, "groups"))
    {
        const cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(g, "key"), 0);
        if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
            return cJSON_GetArrayItem(cJSON_GetObjectItem(g, "values"), 0)->valuedouble;
    }
    return -1;
}

static double total_value(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItem(o, "total");

    return cJSON_IsNull(t) ? -1
                           : cJSON_GetArrayItem(cJSON_GetObjectItem(t, "values"), 0)->valuedouble;
}

#define BY_STAGE "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"stage\"]}"

/* P-ANA-1: 9 subjects (min_group_size - 1) are not shown; 10 are. */
static void test_P_ANA_1_a_group_under_min_group_size_is_suppressed(void **state_)
{
    fx *f = *state_;
    cJSON *o;

    many(f, f->t, "won", 12);
    many(f, f->t, "open", 11);
    many(f, f->t, "lost", 9);
    many(f, f->t, "stalled", 10);
    o = ok(f, f->t, BY_STAGE);
    assert_int_equal((int)cJSON_GetObjectItem(o, "min_group_size")->valuedouble, 10);
    assert_true(group_value(o, "lost") < 0);
    assert_true(group_value(o, "won") == 12);
    assert_true(group_value(o, "open") == 11);
    /* the smallest other group goes too (complementary), below */
    assert_true(group_value(o, "stalled") < 0);
    assert_int_equal((int)cJSON_GetObjectItem(o, "suppressed")->valuedouble, 2);
    cJSON_Delete(o);
}

/* P-ANA-1: a subject with many records is one subject: 9 subjects holding 14 deals are still
 * suppressed; a tenth subject releases the group, whose count is of records. */
static void test_P_ANA_1_one_subject_with_many_records_is_one_subject(void **state_)
{
    fx *f = *state_;
    cJSON *o;

    many(f, f->t, "won", 20);
    many(f, f->t, "lost", 8);
    deals(f, f->t, "lost", 6);
    o = ok(f, f->t, BY_STAGE);
    assert_true(group_value(o, "lost") < 0);
    assert_true(group_value(o, "won") < 0); /* else the total minus "won" gives "lost" */
    cJSON_Delete(o);
    deals(f, f->t, "lost", 1);
    o = ok(f, f->t, BY_STAGE);
    assert_true(group_value(o, "lost") == 15);
    assert_true(total_value(o) == 35);
    cJSON_Delete(o);
}

/* P-ANA-1: with one small group and a total, the total minus the groups shown would give the
 * small group's value: the next smallest group is suppressed as well, so what is left over is
 * the sum of two groups, never the small one alone. */
static void
test_P_ANA_1_complementary_suppression_hides_the_small_group_from_the_total(void **state_)
{
    fx *f = *state_;
    double shown = 0;
    const cJSON *g;
    cJSON *o;

    many(f, f->t, "won", 14);
    many(f, f->t, "open", 12);
    many(f, f->t, "lost", 3);
    o = ok(f, f->t, BY_STAGE);
    assert_true(total_value(o) == 29);
    cJSON_ArrayForEach(g, cJSON_GetObjectItem(o, "groups")) shown +=
        cJSON_GetArrayItem(cJSON_GetObjectItem(g, "values"), 0)->valuedouble;
    assert_true(group_value(o, "lost") < 0 && group_value(o, "open") < 0);
    assert_true(total_value(o) - shown != 3); /* 15: "lost" and "open" together */
    assert_true(total_value(o) - shown >= 10);
    cJSON_Delete(o);
}

/* P-ANA-1: two fields: a row (stage) and a column (title) whose sums another query gives are
 * completed as well; every suppressed cell shares its row and its column with another. */
static void test_P_ANA_1_two_fields_suppress_along_rows_and_columns(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"stage\",\"title\"]}";
    cJSON *o;

    many(f, f->t, "won", 12);
    many(f, f->t, "lost", 12);
    for (int i = 0; i < 12; i++) {
        char ext[32], json[96];
        cu_id s = 0, r = 0;
        cu_err err = {0};
        snprintf(ext, sizeof(ext), "x-%d", i);
        assert_int_equal(
            cu_subject_create(f->v, NULL, f->t, &(cu_subject_in){.external_id = ext}, &s, &err),
            CU_OK);
        snprintf(json, sizeof(json), "{\"title\":\"big\",\"stage\":\"%s\"}",
                 i < 2 ? "won" : "lost");
        assert_int_equal(cu_record_put(f->v, NULL, f->t, "deals", s, json, strlen(json), &r, &err),
                         CU_OK);
    }
    /* cells: (won,t) 12, (lost,t) 12, (won,big) 2, (lost,big) 10 */
    o = ok(f, f->t, q);
    assert_int_equal((int)cJSON_GetObjectItem(o, "suppressed")->valuedouble, 4);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "groups")), 0);
    cJSON_Delete(o);
}

/* P-ANA-1: a personal, indexed, sensitive or undeclared field, or the subject's id, cannot be
 * grouped, filtered or measured. */
static void test_P_ANA_1_a_sensitive_field_cannot_be_grouped(void **state_)
{
    static const char *const refused[] = {
        "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"contact_email\"]}",
        "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"salary\"]}",
        "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"undeclared\"]}",
        "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"subject_id\"]}",
        "{\"measures\":[{\"op\":\"sum\",\"field\":\"salary\"}]}",
        "{\"measures\":[{\"op\":\"count\"}],\"where\":[{\"field\":\"contact_email\",\"op\":\"eq\","
        "\"value\":\"c1@example.com\"}]}",
    };
    cu_field_def defs[] = {{"title", CU_FIELD_PLAIN, 0},
                           {"stage", CU_FIELD_PLAIN, 0},
                           {"amount", CU_FIELD_PLAIN, 0},
                           {"contact_email", CU_FIELD_PERSONAL, 1},
                           {"salary", CU_FIELD_SENSITIVE, 1}};
    fx *f = *state_;
    cu_analytics_refusal why;
    cu_err err = {0};
    cu_rc rc;

    assert_int_equal(cu_collection_define(f->v, NULL, f->t, "deals", defs, 5, &err), CU_OK);
    many(f, f->t, "won", 2);
    for (size_t i = 0; i < CU_ARRAY_LEN(refused); i++) {
        assert_null(ask(f, f->t, refused[i], &rc, &why));
        assert_int_equal(rc, CU_ERR_INVALID);
        assert_int_equal(why, CU_ANALYTICS_FIELD_REFUSED);
        assert_string_equal(cu_analytics_refusal_code(why), "field_not_aggregable");
    }
    assert_null(ask(f, f->t, "{\"measures\":[{\"op\":\"median\"}]}", &rc, &why));
    assert_int_equal(why, CU_ANALYTICS_BAD_QUERY);
}

/* P-ANA-1: noise needs a budget; each query spends its epsilon; once what is left is less than
 * asked, the query is refused and nothing more is spent. */
static void test_P_ANA_1_noise_spends_budget_and_stops_at_zero(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"count\"},{\"op\":\"sum\",\"field\":\"amount\"}],"
                    "\"noise\":{\"epsilon\":0.4,\"bound\":1000}}";
    cu_analytics_refusal why;
    double total = 0, spent = 0;
    cu_err err = {0};
    cu_rc rc;
    cJSON *o;

    many(f, f->t, "won", 30);
    assert_null(ask(f, f->t, q, &rc, &why));
    assert_int_equal(why, CU_ANALYTICS_BUDGET_UNSET);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 1.0, &err), CU_OK);
    for (int i = 0; i < 2; i++) {
        o = ok(f, f->t, q);
        assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "noise"), "epsilon")->valuedouble ==
                    0.4);
        assert_true(total_value(o) >= 0);
        cJSON_Delete(o);
    }
    assert_int_equal(cu_analytics_budget_get(f->v, NULL, f->t, &total, &spent, &err), CU_OK);
    assert_true(total == 1.0 && spent > 0.799 && spent < 0.801);
    assert_null(ask(f, f->t, q, &rc, &why));
    assert_int_equal(rc, CU_ERR_FORBIDDEN);
    assert_int_equal(why, CU_ANALYTICS_BUDGET_SPENT);
    assert_string_equal(cu_analytics_refusal_code(why), "privacy_budget_spent");
    assert_int_equal(cu_analytics_budget_get(f->v, NULL, f->t, &total, &spent, &err), CU_OK);
    assert_true(spent < 0.801);
    /* the owner raises it: queries go on */
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 2.0, &err), CU_OK);
    cJSON_Delete(ok(f, f->t, q));
}

/* P-ISO-2: tenant A's aggregate holds A's records alone, B's are never opened for it. */
static void test_P_ISO_2_an_aggregate_holds_its_tenant_alone(void **state_)
{
    fx *f = *state_;
    cu_id b = tenant(f, "other-client");
    cJSON *o;

    many(f, f->t, "won", 11);
    many(f, b, "won", 25);
    o = ok(f, f->t, BY_STAGE);
    assert_true(group_value(o, "won") == 11);
    cJSON_Delete(o);
    o = ok(f, b, BY_STAGE);
    assert_true(group_value(o, "won") == 25);
    cJSON_Delete(o);
}

/* P-AUD-1: the query is audited by its shape: measures, fields and operators, never the value
 * filtered on nor a figure of the answer. */
static void test_P_ANA_1_the_audit_holds_the_shape_not_the_values(void **state_)
{
    fx *f = *state_;
    const char *q =
        "{\"measures\":[{\"op\":\"sum\",\"field\":\"amount\"}],\"group_by\":[\"stage\"],"
        "\"where\":[{\"field\":\"title\",\"op\":\"eq\",\"value\":\"zebra-secret\"}]}";
    cu_audit_filter flt = {0};
    cu_audit_entry *e = NULL;
    size_t n = 0, seen = 0;
    cu_err err = {0};

    many(f, f->t, "won", 10);
    cJSON_Delete(ok(f, f->t, q));
    assert_int_equal(cu_audit_list(f->v, NULL, f->t, &flt, &e, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(e[i].object, "zebra"));
        /* the answer's sum (10 deals of 100); other entries hold random ids */
        if (strncmp(e[i].action, "analytics.", 10) == 0)
            assert_null(strstr(e[i].object, "1000"));
        seen += strcmp(e[i].action, "analytics.aggregate") == 0 &&
                strcmp(e[i].object, "collection:deals") == 0;
        seen += strcmp(e[i].action, "analytics.where") == 0 && strcmp(e[i].object, "eq:title") == 0;
        seen +=
            strcmp(e[i].action, "analytics.measure") == 0 && strcmp(e[i].object, "sum:amount") == 0;
        seen += strcmp(e[i].action, "analytics.group_by") == 0 &&
                strcmp(e[i].object, "field:stage") == 0;
    }
    free(e);
    assert_int_equal(seen, 4);
}

/* P-ANA-1: a histogram's bins are cells too: a bin of fewer subjects is not shown, nor the bin
 * that would give it away by subtraction from the group's count. */
static void test_P_ANA_1_histogram_bins_are_suppressed(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"histogram\",\"field\":\"amount\","
                    "\"buckets\":[50,150]}]}";
    const cJSON *bins;
    cJSON *o;

    many(f, f->t, "won", 12); /* amount 100: the middle bin */
    o = ok(f, f->t, q);
    bins = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "values"), 0);
    assert_int_equal(cJSON_GetArraySize(bins), 3);
    /* two empty bins (0 subjects): both suppressed, together they hold 0 < 10 subjects, so the
     * middle goes too (it would tell that all 12 are in it) */
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 0)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 1)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 2)));
    cJSON_Delete(o);
    /* bins of 6, 12 and 5 subjects: the two small ones hold 11 together, the middle is shown */
    for (int i = 0; i < 11; i++) {
        char ext[32], json[96];
        cu_id s = 0, r = 0;
        cu_err err = {0};
        snprintf(ext, sizeof(ext), "h-%d", i);
        assert_int_equal(
            cu_subject_create(f->v, NULL, f->t, &(cu_subject_in){.external_id = ext}, &s, &err),
            CU_OK);
        snprintf(json, sizeof(json), "{\"title\":\"t\",\"amount\":%d}", i < 6 ? 10 : 200);
        assert_int_equal(cu_record_put(f->v, NULL, f->t, "deals", s, json, strlen(json), &r, &err),
                         CU_OK);
    }
    o = ok(f, f->t, q);
    bins = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "values"), 0);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 0)));
    assert_true(cJSON_GetArrayItem(bins, 1)->valuedouble == 12);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 2)));
    cJSON_Delete(o);
}

/* P-DSR-5: a restricted subject's data is kept, not processed: its records are not counted
 * (so its group falls under the threshold again). */
static void test_P_DSR_5_a_restricted_subject_is_not_counted(void **state_)
{
    fx *f = *state_;
    cu_err err = {0};
    cu_id s;
    cJSON *o;

    many(f, f->t, "won", 9);
    s = deals(f, f->t, "won", 1);
    o = ok(f, f->t, BY_STAGE);
    assert_true(total_value(o) == 10);
    cJSON_Delete(o);
    assert_int_equal(cu_subject_restrict(f->v, NULL, f->t, s, 1, &err), CU_OK);
    o = ok(f, f->t, BY_STAGE);
    assert_true(total_value(o) < 0); /* 9 subjects: not shown */
    cJSON_Delete(o);
}

/* P-ANA-1, noise mode: the sampler is Laplace of the scale asked (its mean absolute value is
 * the scale: over 20,000 draws within 5%, a 7-sigma margin), centred on 0, and a noisy count
 * moves: at epsilon 0.05 (scale 20) three answers all exact would happen about once in 60,000. */
static void test_P_ANA_1_noise_is_laplace_and_moves_the_answer(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"count\"}],\"noise\":{\"epsilon\":0.05}}";
    double abs_sum = 0, sum = 0;
    int moved = 0;
    cu_err err = {0};

    for (int i = 0; i < 20000; i++) {
        double x = cu_ana_laplace(3.0);
        abs_sum += x < 0 ? -x : x;
        sum += x;
    }
    assert_true(abs_sum / 20000 > 2.85 && abs_sum / 20000 < 3.15);
    assert_true(sum / 20000 > -0.3 && sum / 20000 < 0.3);
    many(f, f->t, "won", 30);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 1.0, &err), CU_OK);
    for (int i = 0; i < 3; i++) {
        cJSON *o = ok(f, f->t, q);
        moved += total_value(o) != 30;
        cJSON_Delete(o);
    }
    assert_true(moved > 0);
}

/* P-ANA-1, noise mode: a subject gives one record, so one subject moves a count by 1 at most
 * (the noise's scale assumes it). 12 subjects, one of them with 20 deals: the exact count is
 * 31, the noisy one 12 give or take the noise (scale 0.1 at epsilon 10: beyond 2.5 about once
 * in 10^10). */
static void test_P_ANA_1_noise_counts_one_record_per_subject(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"count\"}],\"noise\":{\"epsilon\":10}}";
    cu_err err = {0};
    cJSON *o;

    many(f, f->t, "won", 11);
    deals(f, f->t, "won", 20);
    o = ok(f, f->t, "{\"measures\":[{\"op\":\"count\"}]}");
    assert_true(total_value(o) == 31);
    cJSON_Delete(o);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 10.0, &err), CU_OK);
    o = ok(f, f->t, q);
    assert_true(total_value(o) >= 10 && total_value(o) <= 14);
    cJSON_Delete(o);
}

/* The scan pages a subject's records (256 a page): a subject with 300 records is counted whole,
 * and still as one subject. */
static void test_P_ANA_1_a_subject_of_many_pages_is_counted_whole(void **state_)
{
    fx *f = *state_;
    cJSON *o;

    many(f, f->t, "won", 9);
    deals(f, f->t, "lost", 300);
    o = ok(f, f->t, BY_STAGE);
    assert_true(total_value(o) == 309);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "groups")), 0);
    cJSON_Delete(o);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_ANA_1_a_group_under_min_group_size_is_suppressed),
        T(test_P_ANA_1_one_subject_with_many_records_is_one_subject),
        T(test_P_ANA_1_complementary_suppression_hides_the_small_group_from_the_total),
        T(test_P_ANA_1_two_fields_suppress_along_rows_and_columns),
        T(test_P_ANA_1_a_sensitive_field_cannot_be_grouped),
        T(test_P_ANA_1_noise_spends_budget_and_stops_at_zero),
        T(test_P_ISO_2_an_aggregate_holds_its_tenant_alone),
        T(test_P_ANA_1_the_audit_holds_the_shape_not_the_values),
        T(test_P_ANA_1_histogram_bins_are_suppressed),
        T(test_P_DSR_5_a_restricted_subject_is_not_counted),
        T(test_P_ANA_1_noise_is_laplace_and_moves_the_answer),
        T(test_P_ANA_1_noise_counts_one_record_per_subject),
        T(test_P_ANA_1_a_subject_of_many_pages_is_counted_whole),
    };

    return cmocka_run_group_tests_name("aggregate analytics (P-ANA-1, P-ISO-2)", tests, NULL, NULL);
}
