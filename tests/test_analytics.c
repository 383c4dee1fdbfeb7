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
        /* noise mode: no exact count of what was held back (review 4) */
        assert_null(cJSON_GetObjectItem(o, "suppressed"));
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
        "\"where\":[{\"field\":\"title\",\"op\":\"eq\",\"value\":\"zebra-secret\"}],"
        "\"noise\":{\"epsilon\":0.5,\"bound\":1000}}"; /* "where" needs noise */
    cu_audit_filter flt = {0};
    cu_audit_entry *e = NULL;
    size_t n = 0, seen = 0;
    cu_err err = {0};

    many(f, f->t, "won", 10);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 1.0, &err), CU_OK);
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

/* The audit entries of t whose action is action, their objects joined by '|' into out. */
static size_t entries_of(fx *f, const char *action, char *out, size_t cap)
{
    cu_audit_filter flt = {.limit = 1000};
    cu_audit_entry *e = NULL;
    size_t n = 0, hits = 0;
    cu_err err = {0};

    out[0] = '\0';
    assert_int_equal(cu_audit_list(f->v, NULL, f->t, &flt, &e, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++) {
        /* no value filtered on, in any entry: the shape only */
        assert_null(strstr(e[i].object, "zebra"));
        assert_null(strstr(e[i].object, "alice"));
        assert_null(strstr(e[i].object, "contact_email"));
        if (strcmp(e[i].action, action) != 0)
            continue;
        hits++;
        if (strlen(out) + strlen(e[i].object) + 2 <= cap) /* what fits */
            snprintf(out + strlen(out), cap - strlen(out), "%s|", e[i].object);
    }
    free(e);
    return hits;
}

/* P-AUD-1, P-ANA-1 (review 9): a refused query is on record by its refusal code and its shape
 * as far as it parsed, never a value filtered on, and never as an answered query: exact mode
 * refused, a field that may not be aggregated (its name is not recorded either: the schema
 * never let it through), noise without a budget, noise required, and a purpose that does not
 * cover the collection. */
static void test_P_ANA_1_a_refused_query_is_audited_by_shape_and_code(void **state_)
{
    fx *f = *state_;
    const char *exact = "{\"measures\":[{\"op\":\"count\"}],"
                        "\"where\":[{\"field\":\"title\",\"op\":\"eq\",\"value\":\"zebra-1\"}]}";
    const char *personal = "{\"measures\":[{\"op\":\"count\"}],\"where\":[{\"field\":"
                           "\"contact_email\",\"op\":\"eq\",\"value\":\"alice@example.com\"}],"
                           "\"noise\":{\"epsilon\":0.5}}";
    const char *noisy = "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"stage\"],"
                        "\"where\":[{\"field\":\"title\",\"op\":\"ne\",\"value\":\"zebra-2\"}],"
                        "\"noise\":{\"epsilon\":0.5}}";
    const cu_ctx ctx = {.actor = "key:1", .purpose = "analytics"};
    cu_analytics_refusal why;
    char *res = NULL, seen[2048];
    cu_err err = {0};
    cu_rc rc;

    many(f, f->t, "won", 12);
    assert_null(ask(f, f->t, exact, &rc, &why));
    assert_int_equal(why, CU_ANALYTICS_EXACT_NEEDS_NOISE);
    assert_null(ask(f, f->t, personal, &rc, &why));
    assert_int_equal(why, CU_ANALYTICS_FIELD_REFUSED);
    assert_null(ask(f, f->t, noisy, &rc, &why));
    assert_int_equal(why, CU_ANALYTICS_BUDGET_UNSET);
    assert_int_equal(cu_analytics_budget_set_noise(f->v, NULL, f->t, 1.0, 1, &err), CU_OK);
    assert_null(ask(f, f->t, BY_STAGE, &rc, &why));
    assert_int_equal(why, CU_ANALYTICS_NOISE_REQUIRED);
    assert_int_equal(cu_analytics_query(f->v, &ctx, f->t, "deals", noisy, strlen(noisy), &res,
                                        &why, &err),
                     CU_ERR_PURPOSE_DENIED);
    assert_null(res);

    assert_int_equal(entries_of(f, "analytics.aggregate", seen, sizeof(seen)), 0);
    assert_int_equal(entries_of(f, "analytics.refused", seen, sizeof(seen)), 5);
    assert_string_equal(seen, "exact_needs_noise:collection:deals|"
                              "field_not_aggregable:collection:deals|"
                              "privacy_budget_unset:collection:deals|"
                              "noise_required:collection:deals|"
                              "purpose_not_allowed:collection:deals|");
    /* the shapes: exact's and the budget's conditions; the personal one stopped at its field */
    assert_int_equal(entries_of(f, "analytics.where", seen, sizeof(seen)), 2);
    assert_string_equal(seen, "eq:title|ne:title|");
    assert_int_equal(entries_of(f, "analytics.group_by", seen, sizeof(seen)), 2);
    assert_int_equal(entries_of(f, "analytics.measure", seen, sizeof(seen)), 4);
}

/* Every text field of every entry of tenant t's log is free of each of vals; returns how many
 * analytics.refused entries record purpose as theirs. */
static size_t refused_with_purpose(fx *f, cu_id t, const char *const *vals, size_t nv,
                                   const char *purpose)
{
    cu_audit_filter flt = {.limit = 1000};
    cu_audit_entry *e = NULL;
    size_t n = 0, hits = 0;
    cu_err err = {0};

    assert_int_equal(cu_audit_list(f->v, NULL, t, &flt, &e, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++) {
        const char *fields[] = {e[i].actor,  e[i].action,     e[i].object, e[i].purpose,
                                e[i].source, e[i].request_id, e[i].outcome};
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
            for (size_t j = 0; j < nv; j++)
                if (strstr(fields[k], vals[j]) != NULL)
                    fail_msg("entry %zu (%s) holds \"%s\": %s", i, e[i].action, vals[j],
                             fields[k]);
        hits += strcmp(e[i].action, "analytics.refused") == 0 &&
                strcmp(e[i].purpose, purpose) == 0;
    }
    free(e);
    return hits;
}

/* P-AUD-4 (review finding 3): a refused query records no purpose the tenant's policy does not
 * declare: an undeclared one (refused as unknown_purpose) and one a tenant without a policy
 * let through are the caller's free text, recorded as "(undeclared)"; a declared one that does
 * not cover the collection is still recorded by its name. Every field of every entry is
 * scanned for the caller's texts. */
static void test_P_AUD_4_a_refused_query_never_records_an_undeclared_purpose(void **state_)
{
    fx *f = *state_;
    const char *exact = "{\"measures\":[{\"op\":\"count\"}],"
                        "\"where\":[{\"field\":\"title\",\"op\":\"eq\",\"value\":\"zebra-1\"}]}";
    static const char *const vals[] = {"jane.doe.1985", "jane", "zebra", "alice"};
    const cu_ctx jane = {.actor = "key:1", .purpose = "jane.doe.1985"};
    const cu_ctx declared = {.actor = "key:1", .purpose = "analytics"};
    cu_analytics_refusal why;
    char *res = NULL;
    cu_tenant bare;
    cu_err err = {0};

    many(f, f->t, "won", 12);
    assert_int_equal(cu_analytics_query(f->v, &jane, f->t, "deals", exact, strlen(exact), &res,
                                        &why, &err),
                     CU_ERR_UNKNOWN_PURPOSE);
    assert_null(res);
    assert_int_equal(cu_analytics_query(f->v, &declared, f->t, "deals", exact, strlen(exact),
                                        &res, &why, &err),
                     CU_ERR_PURPOSE_DENIED);
    assert_int_equal(refused_with_purpose(f, f->t, vals, 4, "(undeclared)"), 1);
    assert_int_equal(refused_with_purpose(f, f->t, vals, 4, "analytics"), 1);

    /* a tenant without a policy checks no purpose: the refusal still records none of its text */
    assert_int_equal(
        cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "bare"}, &bare, &err), CU_OK);
    assert_int_not_equal(cu_analytics_query(f->v, &jane, bare.id, "deals", exact, strlen(exact),
                                            &res, &why, &err),
                         CU_OK);
    assert_null(res);
    assert_int_equal(refused_with_purpose(f, bare.id, vals, 4, "(undeclared)"), 1);
}

static int fail_policy_read(const char *point, void *arg)
{
    int *fired = arg;

    if (strcmp(point, "analytics.policy_read") != 0)
        return 0;
    ++*fired;
    return 1;
}

/* P-ANA-1 (review 8): a policy that cannot be read refuses the query (the store's error, no
 * answer, nothing on record as answered); it never falls back to the default threshold, which
 * would lower a tenant's min_group_size of 50 to 10 for that query. */
static void test_P_ANA_1_a_failed_policy_read_fails_the_query_closed(void **state_)
{
    fx *f = *state_;
    cu_analytics_refusal why = CU_ANALYTICS_OK;
    char *res = NULL, seen[256];
    int fired = 0;
    cu_err err = {0};
    cu_rc rc;

    many(f, f->t, "won", 12);
    cu_fault_hook_set(fail_policy_read, &fired);
    rc = cu_analytics_query(f->v, NULL, f->t, "deals", BY_STAGE, strlen(BY_STAGE), &res, &why,
                            &err);
    cu_fault_hook_set(NULL, NULL);
    assert_int_equal(fired, 1);
    assert_int_equal(rc, CU_ERR_STORE);
    assert_null(res);
    assert_int_equal(why, CU_ANALYTICS_OK);
    assert_int_equal(entries_of(f, "analytics.aggregate", seen, sizeof(seen)), 0);
    cJSON_Delete(ok(f, f->t, BY_STAGE)); /* the fault cleared, the same query runs */
    assert_int_equal(entries_of(f, "analytics.aggregate", seen, sizeof(seen)), 1);
}

/* P-ANA-1: a histogram's bins are cells too: a bin of fewer subjects (in noise mode, the only
 * one histograms have: fewer than the noisy threshold) is not shown. */
static void test_P_ANA_1_histogram_bins_are_suppressed(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"histogram\",\"field\":\"amount\","
                    "\"buckets\":[50,150]}],\"noise\":{\"epsilon\":10}}"; /* needs noise */
    const cJSON *bins;
    cu_err e0 = {0};
    cJSON *o;

    many(f, f->t, "won", 30); /* amount 100: the middle bin (30: the total passes the noisy
                                  threshold, 10 + 2.6, at epsilon 10) */
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 20.0, &e0), CU_OK);
    o = ok(f, f->t, q);
    bins = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "values"), 0);
    assert_int_equal(cJSON_GetArraySize(bins), 3);
    /* two empty bins (0 subjects) are not shown; the middle one, 30 and noisy, is: histograms
     * exist in noise mode only, where each bin is released on its own noisy count (review 4)
     * and no complementary step runs (the figures, and so their differences, are noisy) */
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 0)));
    assert_true(cJSON_IsNumber(cJSON_GetArrayItem(bins, 1)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 2)));
    cJSON_Delete(o);
    /* bins of 6, 30 and 10 subjects: 6 and 10 are under the noisy threshold (10 + 2.6), 10
     * though it is min_group_size itself; the middle is shown */
    for (int i = 0; i < 16; i++) {
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
    assert_true(cJSON_IsNumber(cJSON_GetArrayItem(bins, 1))); /* 30, with noise */
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 2)));
    cJSON_Delete(o);
}

/* A new subject of tenant t with one deal of json. */
static void deal_of(fx *f, cu_id t, const char *json)
{
    char ext[32];
    cu_err err = {0};
    cu_id s = 0, r = 0;

    snprintf(ext, sizeof(ext), "j-%u", ++f->next);
    if (cu_subject_create(f->v, NULL, t, &(cu_subject_in){.external_id = ext}, &s, &err) != CU_OK ||
        cu_record_put(f->v, NULL, t, "deals", s, json, strlen(json), &r, &err) != CU_OK)
        fail_msg("%s", err.msg);
}

/* P-ANA-1 (review 1): 12 subjects make the total, but one alone holds an amount: its sum and
 * mean would be that one person's amount, so they are null while the count is shown. */
static void test_P_ANA_1_a_measure_of_too_few_contributors_is_suppressed(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"count\"},{\"op\":\"sum\",\"field\":\"amount\"},"
                    "{\"op\":\"mean\",\"field\":\"amount\"}]}";
    const cJSON *vals;
    cJSON *o;

    for (int i = 0; i < 11; i++)
        deal_of(f, f->t, "{\"title\":\"t\",\"stage\":\"won\"}");
    deal_of(f, f->t, "{\"title\":\"t\",\"stage\":\"won\",\"amount\":5000}");
    o = ok(f, f->t, q);
    vals = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "values");
    assert_true(cJSON_GetArrayItem(vals, 0)->valuedouble == 12);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(vals, 1)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(vals, 2)));
    cJSON_Delete(o);
    /* grouped: the same inside a released group */
    o = ok(f, f->t, "{\"measures\":[{\"op\":\"count\"},{\"op\":\"sum\",\"field\":"
                    "\"amount\"}],\"group_by\":[\"stage\"]}");
    assert_true(group_value(o, "won") == 12);
    vals = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "groups"), 0), "values");
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(vals, 1)));
    cJSON_Delete(o);
    /* nine more amounts: 10 contributors, shown */
    many(f, f->t, "lost", 9);
    o = ok(f, f->t, q);
    vals = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "values");
    assert_true(cJSON_GetArrayItem(vals, 1)->valuedouble == 5900);
    cJSON_Delete(o);
}

/* P-ANA-1 (review 2): exact answers are over fixed partitions: "where" and histograms need
 * noise (two exact answers filtered two ways subtract to one person; the attack below is the
 * review's: won minus everyone-but-won is nothing new, but "ne <their title>" is). */
static void test_P_ANA_1_exact_mode_refuses_filters_and_histograms(void **state_)
{
    fx *f = *state_;
    static const char *const refused[] = {
        "{\"measures\":[{\"op\":\"sum\",\"field\":\"amount\"}],\"where\":[{\"field\":"
        "\"title\",\"op\":\"ne\",\"value\":\"zzz\"}]}",
        "{\"measures\":[{\"op\":\"count\"}],\"where\":[{\"field\":\"amount\",\"op\":\"lt\","
        "\"value\":5001}]}",
        "{\"measures\":[{\"op\":\"histogram\",\"field\":\"amount\",\"buckets\":[1001]}]}",
    };
    cu_analytics_refusal why;
    cu_rc rc;

    many(f, f->t, "won", 12);
    for (size_t i = 0; i < CU_ARRAY_LEN(refused); i++) {
        assert_null(ask(f, f->t, refused[i], &rc, &why));
        assert_int_equal(rc, CU_ERR_INVALID);
        assert_string_equal(cu_analytics_refusal_code(why), "exact_needs_noise");
    }
}

/* P-ANA-1 (review 2): a record whose grouped value is not a plain scalar is in a group of its
 * own ("other"), not left out of the total: grouped and ungrouped totals count the same
 * records, so their difference isolates no one. */
static void test_P_ANA_1_grouped_and_ungrouped_count_the_same_records(void **state_)
{
    fx *f = *state_;
    char long_stage[200];
    char json[300];
    cJSON *o;

    memset(long_stage, 'x', sizeof(long_stage) - 1);
    long_stage[sizeof(long_stage) - 1] = '\0';
    many(f, f->t, "won", 12);
    snprintf(json, sizeof(json), "{\"title\":\"t\",\"stage\":\"%s\",\"amount\":7}",
             long_stage);
    deal_of(f, f->t, json);
    o = ok(f, f->t, BY_STAGE);
    assert_true(total_value(o) == 13); /* the long one counted, in its suppressed group */
    assert_true(group_value(o, "won") == -1); /* and so "won" is suppressed as its complement */
    cJSON_Delete(o);
    o = ok(f, f->t, "{\"measures\":[{\"op\":\"count\"}]}");
    assert_true(total_value(o) == 13);
    cJSON_Delete(o);
}

/* P-CON-1, P-DSR-6 (review 7): an aggregate is a processing for a purpose. SCM's "analytics"
 * (legitimate interest) covers usage data, not deals (customer data): refused. Over
 * usage_events, a subject who objected to it is left out, so 10 subjects become 9 and the
 * total is suppressed. */
static void test_P_ANA_1_purpose_covers_the_collection_and_objections_are_left_out(void **state_)
{
    fx *f = *state_;
    const cu_ctx ctx = {.actor = "key:1", .purpose = "analytics"};
    const char *q = "{\"measures\":[{\"op\":\"count\"}]}";
    cu_analytics_refusal why = CU_ANALYTICS_OK;
    cu_id first = 0;
    char *res = NULL;
    cu_err err = {0};
    cJSON *o;

    many(f, f->t, "won", 12);
    assert_int_equal(cu_analytics_query(f->v, &ctx, f->t, "deals", q, strlen(q), &res, &why, &err),
                     CU_ERR_PURPOSE_DENIED);
    assert_null(res);
    for (int i = 0; i < 10; i++) {
        char ext[32];
        cu_id s = 0, r = 0;
        const char *json = "{\"feature\":\"export\",\"action\":\"click\"}";
        snprintf(ext, sizeof(ext), "u-%d", i);
        assert_int_equal(
            cu_subject_create(f->v, NULL, f->t, &(cu_subject_in){.external_id = ext}, &s, &err),
            CU_OK);
        assert_int_equal(
            cu_record_put(f->v, NULL, f->t, "usage_events", s, json, strlen(json), &r, &err),
            CU_OK);
        first = first ? first : s;
    }
    assert_int_equal(
        cu_analytics_query(f->v, &ctx, f->t, "usage_events", q, strlen(q), &res, &why, &err),
        CU_OK);
    assert_int_equal(cu_json_parse(res, strlen(res), &o, NULL, &err), CU_OK);
    assert_true(total_value(o) == 10);
    cJSON_Delete(o);
    free(res);
    res = NULL;
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, first, "analytics", CU_CONSENT_OBJECT, NULL, &err),
        CU_OK);
    assert_int_equal(
        cu_analytics_query(f->v, &ctx, f->t, "usage_events", q, strlen(q), &res, &why, &err),
        CU_OK);
    assert_int_equal(cu_json_parse(res, strlen(res), &o, NULL, &err), CU_OK);
    assert_true(total_value(o) == -1); /* 9 subjects: under min_group_size */
    cJSON_Delete(o);
    free(res);
}

/* P-ANA-1 (review 3): the owner can require noise: every exact query is then refused (403
 * noise_required, nothing audited as answered), noisy ones go on; a later set without the flag
 * keeps it, and the owner can lift it. */
static void test_P_ANA_1_an_owner_can_require_noise(void **state_)
{
    fx *f = *state_;
    const char *noisy = "{\"measures\":[{\"op\":\"count\"}],\"noise\":{\"epsilon\":0.1}}";
    cu_analytics_refusal why;
    cu_audit_filter flt = {0};
    cu_audit_entry *e = NULL;
    size_t n = 0, answered = 0;
    int required = -1;
    cu_err err = {0};
    cu_rc rc;

    many(f, f->t, "won", 12);
    cJSON_Delete(ok(f, f->t, BY_STAGE));
    assert_int_equal(cu_analytics_budget_set_noise(f->v, NULL, f->t, 1.0, 1, &err), CU_OK);
    assert_int_equal(cu_analytics_noise_required(f->v, NULL, f->t, &required, &err), CU_OK);
    assert_int_equal(required, 1);
    assert_null(ask(f, f->t, BY_STAGE, &rc, &why));
    assert_int_equal(rc, CU_ERR_FORBIDDEN);
    assert_string_equal(cu_analytics_refusal_code(why), "noise_required");
    cJSON_Delete(ok(f, f->t, noisy));
    assert_int_equal(cu_audit_list(f->v, NULL, f->t, &flt, &e, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        answered += strcmp(e[i].action, "analytics.aggregate") == 0;
    free(e);
    assert_int_equal(answered, 2); /* the first exact query and the noisy one */
    /* a new total alone keeps the requirement */
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 2.0, &err), CU_OK);
    assert_null(ask(f, f->t, BY_STAGE, &rc, &why));
    assert_int_equal(why, CU_ANALYTICS_NOISE_REQUIRED);
    assert_int_equal(cu_analytics_budget_set_noise(f->v, NULL, f->t, 2.0, 0, &err), CU_OK);
    cJSON_Delete(ok(f, f->t, BY_STAGE));
}

/* P-ANA-1 (review 10): a budget is a finite epsilon from 0 to 1000, checked before it becomes
 * an integer (1e300 or inf would be undefined behaviour); a spend is rounded up, never down. */
static void test_P_ANA_1_budget_input_is_bounded_and_spends_round_up(void **state_)
{
    fx *f = *state_;
    const double bad[] = {-1, 1000.5, 1e300, 1.0 / 0.0, -1.0 / 0.0, 0.0 / 0.0};
    double total = 0, spent = 0;
    cu_err err = {0};

    for (size_t i = 0; i < CU_ARRAY_LEN(bad); i++)
        assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, bad[i], &err), CU_ERR_INVALID);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 1000, &err), CU_OK);
    many(f, f->t, "won", 12);
    cJSON_Delete(ok(f, f->t, "{\"measures\":[{\"op\":\"count\"}],"
                             "\"noise\":{\"epsilon\":0.0000011}}"));
    assert_int_equal(cu_analytics_budget_get(f->v, NULL, f->t, &total, &spent, &err), CU_OK);
    assert_true(spent > 0.0000019 && spent < 0.0000021); /* 1.1 millionths: charged 2 */
}

/* P-ANA-1 (review 4): in noise mode a group is released on a noisy count, against
 * min_group_size raised by tau (10 + 2.6 at a decision share of 5): 11 subjects, just over the
 * exact threshold, are held back (they would pass with probability about 1e-4 a query), 40
 * pass; and "suppressed" is not given. */
static void test_P_ANA_1_noise_mode_releases_on_a_noisy_threshold(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"count\"}],\"group_by\":[\"stage\"],"
                    "\"noise\":{\"epsilon\":10}}";
    cu_err err = {0};
    cJSON *o;

    many(f, f->t, "open", 11);
    many(f, f->t, "won", 40);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 10.0, &err), CU_OK);
    o = ok(f, f->t, q);
    assert_true(group_value(o, "open") == -1);
    assert_true(group_value(o, "won") >= 37 && group_value(o, "won") <= 43);
    assert_null(cJSON_GetObjectItem(o, "suppressed"));
    cJSON_Delete(o);
    /* exact mode: 11 is released, with the exact count of what was held back */
    o = ok(f, f->t, BY_STAGE);
    assert_true(group_value(o, "open") == 11);
    assert_true(cJSON_GetObjectItem(o, "suppressed")->valuedouble == 0);
    cJSON_Delete(o);
}

/* n subjects of one deal each, the deal's JSON as given. */
static void many_json(fx *f, const char *json, int n)
{
    for (int i = 0; i < n; i++) {
        char ext[32];
        cu_id s = 0, r = 0;
        cu_err err = {0};
        snprintf(ext, sizeof(ext), "j-%u", ++f->next);
        if (cu_subject_create(f->v, NULL, f->t, &(cu_subject_in){.external_id = ext}, &s, &err) !=
                CU_OK ||
            cu_record_put(f->v, NULL, f->t, "deals", s, json, strlen(json), &r, &err) != CU_OK)
            fail_msg("%s", err.msg);
    }
}

/* The first value of the total (a histogram's bins, or a sum), NULL if the total is not given. */
static const cJSON *total_measure(const cJSON *o)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "total"), "values"), 0);
}

/* P-ANA-1 (review 4): in noise mode no release rests on an exact count: a histogram's bin and
 * a sum's contributors are cells too, each released only when its noisy count reaches the
 * raised threshold (min_group_size + tau), as groups are. A bin of exactly min_group_size
 * subjects, and a sum 10 subjects gave a number to, were released on their exact counts
 * before; now they are null (each shown with probability about 1e-6), while a bin of 40 and a
 * sum of 50 contributors are shown. At epsilon 10 and one measure the share is 5: the bins'
 * noise has scale 0.2 (threshold 12.6), the contributors' 0.4 (threshold 15.2). */
static void test_P_ANA_1_noise_mode_decides_bins_and_contributors_noisily(void **state_)
{
    fx *f = *state_;
    const char *hist = "{\"measures\":[{\"op\":\"histogram\",\"field\":\"amount\","
                       "\"buckets\":[50]}],\"noise\":{\"epsilon\":10}}";
    const char *few = "{\"measures\":[{\"op\":\"sum\",\"field\":\"amount\"}],\"where\":[{"
                      "\"field\":\"stage\",\"op\":\"in\",\"value\":[\"open\",\"lost\"]}],"
                      "\"noise\":{\"epsilon\":10,\"bound\":1000}}";
    const char *all = "{\"measures\":[{\"op\":\"sum\",\"field\":\"amount\"}],"
                      "\"noise\":{\"epsilon\":10,\"bound\":1000}}";
    const cJSON *bins;
    cu_err err = {0};
    cJSON *o;

    many_json(f, "{\"title\":\"t\",\"stage\":\"won\",\"amount\":100}", 40);
    many_json(f, "{\"title\":\"t\",\"stage\":\"open\",\"amount\":10}", 10);
    many_json(f, "{\"title\":\"t\",\"stage\":\"lost\",\"amount\":\"n/a\"}", 30);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 100.0, &err), CU_OK);
    o = ok(f, f->t, hist);
    bins = total_measure(o);
    assert_int_equal(cJSON_GetArraySize(bins), 2);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(bins, 0)));          /* 10 subjects */
    assert_true(cJSON_GetArrayItem(bins, 1)->valuedouble >= 37 &&    /* 40 subjects */
                cJSON_GetArrayItem(bins, 1)->valuedouble <= 43);
    cJSON_Delete(o);
    o = ok(f, f->t, few); /* 40 subjects match, 10 of them gave a number */
    assert_non_null(total_measure(o));
    assert_true(cJSON_IsNull(total_measure(o)));
    cJSON_Delete(o);
    o = ok(f, f->t, all); /* 50 contributors */
    assert_true(cJSON_IsNumber(total_measure(o)));
    cJSON_Delete(o);
}

/* Review 11: a tenant's aggregate queries are rate limited (a burst of
 * CU_ANALYTICS_RATE_BURST, then CU_ANALYTICS_RATE_PER_MIN a minute): past it a query is
 * CU_ERR_RATE_LIMITED, with no scan and no audit entry; another tenant keeps its own
 * allowance, local acts (no context) are not counted, and time refills it. */
static void test_P_ANA_1_aggregate_queries_are_rate_limited_per_tenant(void **state_)
{
    fx *f = *state_;
    const cu_ctx ctx = {.actor = "key:1", .purpose = "provide_service"};
    const size_t len = strlen(BY_STAGE);
    cu_analytics_refusal why;
    char *res = NULL, seen[64];
    int64_t now = cu_clock_now();
    cu_err err = {0};

    f->other = tenant(f, "other");
    cu_clock_set(now);
    for (int i = 0; i < CU_ANALYTICS_RATE_BURST; i++) {
        assert_int_equal(
            cu_analytics_query(f->v, &ctx, f->t, "deals", BY_STAGE, len, &res, &why, &err), CU_OK);
        free(res);
        res = NULL;
    }
    assert_int_equal(cu_analytics_query(f->v, &ctx, f->t, "deals", BY_STAGE, len, &res, &why, &err),
                     CU_ERR_RATE_LIMITED);
    assert_null(res);
    assert_int_equal(why, CU_ANALYTICS_OK);
    assert_int_equal(entries_of(f, "analytics.aggregate", seen, sizeof(seen)),
                     CU_ANALYTICS_RATE_BURST);
    assert_int_equal(entries_of(f, "analytics.refused", seen, sizeof(seen)), 0);
    /* another tenant, and the CLI, are not held back */
    assert_int_equal(
        cu_analytics_query(f->v, &ctx, f->other, "deals", BY_STAGE, len, &res, &why, &err), CU_OK);
    free(res);
    cJSON_Delete(ok(f, f->t, BY_STAGE));
    /* two seconds refill two queries at 60 a minute */
    cu_clock_set(now + 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            cu_analytics_query(f->v, &ctx, f->t, "deals", BY_STAGE, len, &res, &why, &err), CU_OK);
        free(res);
        res = NULL;
    }
    assert_int_equal(cu_analytics_query(f->v, &ctx, f->t, "deals", BY_STAGE, len, &res, &why, &err),
                     CU_ERR_RATE_LIMITED);
    cu_clock_set(0);
}

/* Review 11: the scan opens a record's document only, never its sensitive fields (a query can
 * never name one). Optymyze's employees seal ssn and tax_id on their own; with every ssn's
 * ciphertext swapped for its record's tax_id's (P-ENC-2: each is bound to its field, so
 * neither opens any more), reading a record fails, and the aggregate still counts them all. */
static void test_P_ANA_1_the_scan_never_opens_sensitive_fields(void **state_)
{
    fx *f = *state_;
    const char *q = "{\"measures\":[{\"op\":\"count\"}]}";
    size_t len = 0;
    const char *text = cu_policy_builtin("optymyze", &len);
    cu_analytics_refusal why;
    cu_id t = 0, rec = 0;
    cu_record r = {0};
    char *res = NULL;
    cu_err err = {0};
    cu_tenant tn;
    cJSON *o;

    assert_int_equal(cu_tenant_create(f->v, NULL,
                                      &(cu_tenant_opts){.name = "optymyze-client",
                                                        .policy = text,
                                                        .policy_len = len},
                                      &tn, &err),
                     CU_OK);
    t = tn.id;
    for (int i = 0; i < 10; i++) {
        char ext[32], json[128];
        cu_id s = 0;
        snprintf(ext, sizeof(ext), "e-%d", i);
        snprintf(json, sizeof(json),
                 "{\"name\":\"n%d\",\"ssn\":\"123-45-%04d\",\"tax_id\":\"t%d\"}", i, i, i);
        assert_int_equal(
            cu_subject_create(f->v, NULL, t, &(cu_subject_in){.external_id = ext}, &s, &err),
            CU_OK);
        assert_int_equal(cu_record_put(f->v, NULL, t, "employees", s, json, strlen(json), &rec, &err),
                         CU_OK);
    }
    assert_int_equal(
        th_sql(f->data,
               th_pick(f->data,
                       "UPDATE record_fields SET ct = (SELECT f2.ct FROM record_fields f2 WHERE"
                       " f2.rid = record_fields.rid AND f2.field = 'tax_id') WHERE field = 'ssn'",
                       "UPDATE record_fields SET ct = (SELECT f2.ct FROM record_fields f2 WHERE"
                       " f2.tenant_id = record_fields.tenant_id AND f2.record_id ="
                       " record_fields.record_id AND f2.field = 'tax_id') WHERE field = 'ssn'")),
        0);
    assert_int_equal(cu_record_get(f->v, NULL, t, rec, &r, &err), CU_ERR_CRYPTO);
    cu_record_cleanup(&r);
    assert_int_equal(cu_analytics_query(f->v, NULL, t, "employees", q, strlen(q), &res, &why, &err),
                     CU_OK);
    assert_int_equal(cu_json_parse(res, strlen(res), &o, NULL, &err), CU_OK);
    assert_true(total_value(o) == 10);
    cJSON_Delete(o);
    free(res);
}

/* P-ISO-2 (review 14): a purged tenant's budget row goes with it. */
static void test_P_ISO_2_a_purged_tenant_has_no_budget_left(void **state_)
{
    fx *f = *state_;
    cu_store_analytics_budget b;
    cu_sweep_report rep;
    int64_t until = 0;
    cu_err err = {0};

    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 3.0, &err), CU_OK);
    assert_int_equal(cu_store_analytics_budget_get(f->v->store, f->t, &b, &err), CU_OK);
    assert_int_equal(cu_tenant_terminate(f->v, NULL, f->t, &until, &err), CU_OK);
    cu_clock_set(until + 86400);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    cu_clock_set(0); /* the real clock again, for the tests after */
    assert_true(rep.tenants_purged == 1); /* and shredded, in the same sweep */
    assert_int_equal(cu_store_analytics_budget_get(f->v->store, f->t, &b, &err), CU_ERR_NOT_FOUND);
}

/* Review 14: unknown members are refused inside measures, conditions and noise too. */
static void test_P_ANA_1_unknown_members_are_refused_everywhere(void **state_)
{
    fx *f = *state_;
    static const char *const refused[] = {
        "{\"measures\":[{\"op\":\"count\",\"bucket\":[1]}]}",
        "{\"measures\":[{\"op\":\"count\"}],\"where\":[{\"field\":\"stage\",\"op\":\"eq\","
        "\"value\":\"won\",\"and\":1}],\"noise\":{\"epsilon\":1}}",
        "{\"measures\":[{\"op\":\"count\"}],\"noise\":{\"epsilon\":1,\"delta\":0.1}}",
    };
    cu_analytics_refusal why;
    cu_rc rc;

    for (size_t i = 0; i < CU_ARRAY_LEN(refused); i++) {
        assert_null(ask(f, f->t, refused[i], &rc, &why));
        assert_int_equal(why, CU_ANALYTICS_BAD_QUERY);
    }
}

/* P-ANA-1 (review 6): two suppressed groups holding the SAME 6 subjects are not 12 people:
 * the released total minus "won" would be an aggregate of 6. So "won" goes too. */
static void test_P_ANA_1_subjects_in_two_suppressed_groups_count_once(void **state_)
{
    fx *f = *state_;
    cJSON *o;

    many(f, f->t, "won", 12);
    for (int i = 0; i < 6; i++) {
        cu_id s = deals(f, f->t, "open", 1);
        char json[96];
        cu_id r = 0;
        cu_err err = {0};
        snprintf(json, sizeof(json), "{\"title\":\"t\",\"stage\":\"lost\",\"amount\":1}");
        assert_int_equal(cu_record_put(f->v, NULL, f->t, "deals", s, json, strlen(json), &r, &err),
                         CU_OK);
    }
    o = ok(f, f->t, BY_STAGE); /* won 12, open 6, lost 6 (the same 6): 18 subjects */
    assert_true(group_value(o, "won") == -1);
    assert_true(total_value(o) == 24);
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
    const char *q = "{\"measures\":[{\"op\":\"count\"}],\"noise\":{\"epsilon\":1}}";
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
    /* 60 subjects: over the noisy threshold (10 + 26 at a decision share of 0.5) */
    many(f, f->t, "won", 60);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 10.0, &err), CU_OK);
    for (int i = 0; i < 6; i++) {
        cJSON *o = ok(f, f->t, q);
        moved += total_value(o) != 60;
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

    many(f, f->t, "won", 19);
    deals(f, f->t, "won", 20);
    o = ok(f, f->t, "{\"measures\":[{\"op\":\"count\"}]}");
    assert_true(total_value(o) == 39);
    cJSON_Delete(o);
    assert_int_equal(cu_analytics_budget_set(f->v, NULL, f->t, 10.0, &err), CU_OK);
    o = ok(f, f->t, q);
    assert_true(total_value(o) >= 18 && total_value(o) <= 22);
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
        T(test_P_ANA_1_a_refused_query_is_audited_by_shape_and_code),
        T(test_P_AUD_4_a_refused_query_never_records_an_undeclared_purpose),
        T(test_P_ANA_1_a_failed_policy_read_fails_the_query_closed),
        T(test_P_ANA_1_histogram_bins_are_suppressed),
        T(test_P_DSR_5_a_restricted_subject_is_not_counted),
        T(test_P_ANA_1_noise_is_laplace_and_moves_the_answer),
        T(test_P_ANA_1_noise_counts_one_record_per_subject),
        T(test_P_ANA_1_a_subject_of_many_pages_is_counted_whole),
        T(test_P_ANA_1_a_measure_of_too_few_contributors_is_suppressed),
        T(test_P_ANA_1_exact_mode_refuses_filters_and_histograms),
        T(test_P_ANA_1_grouped_and_ungrouped_count_the_same_records),
        T(test_P_ANA_1_purpose_covers_the_collection_and_objections_are_left_out),
        T(test_P_ANA_1_an_owner_can_require_noise),
        T(test_P_ANA_1_budget_input_is_bounded_and_spends_round_up),
        T(test_P_ANA_1_noise_mode_releases_on_a_noisy_threshold),
        T(test_P_ANA_1_noise_mode_decides_bins_and_contributors_noisily),
        T(test_P_ANA_1_aggregate_queries_are_rate_limited_per_tenant),
        T(test_P_ANA_1_the_scan_never_opens_sensitive_fields),
        T(test_P_ISO_2_a_purged_tenant_has_no_budget_left),
        T(test_P_ANA_1_unknown_members_are_refused_everywhere),
        T(test_P_ANA_1_subjects_in_two_suppressed_groups_count_once),
    };

    return cmocka_run_group_tests_name("aggregate analytics (P-ANA-1, P-ISO-2)", tests, NULL, NULL);
}
