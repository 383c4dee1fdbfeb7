/*
 * test_policy.c: the policy file format and its loader (docs/policy.md): the five seed policies
 * in policies/ load and say what their seeds say; malformed policies are refused with the line
 * of their first error; durations follow the calendar. Run from the repository root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

#define DAY 86400

static cu_policy *load(const char *path)
{
    cu_policy *p = NULL;
    cu_err err = {0};

    if (cu_policy_load(path, &p, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return p;
}

static void assert_duration(cu_duration d, uint32_t count, cu_duration_unit unit)
{
    assert_int_equal(d.count, count);
    assert_int_equal(d.unit, unit);
}

static const cu_policy_category *category(const cu_policy *p, const char *name)
{
    const cu_policy_category *c = cu_policy_category_get(p, name);

    if (c == NULL)
        fail_msg("no category %s", name);
    return c;
}

static const cu_field_def *field(const cu_policy *p, const char *coll, const char *name)
{
    const cu_policy_collection *c = cu_policy_collection_get(p, coll);

    if (c == NULL)
        fail_msg("no collection %s", coll);
    for (size_t i = 0; i < c->n_fields; i++)
        if (strcmp(c->fields[i].name, name) == 0)
            return &c->fields[i];
    fail_msg("no field %s.%s", coll, name);
    return NULL;
}

static void test_P_RET_1_the_five_seed_policies_load(void **state)
{
    static const char *const files[] = {
        "policies/scm.yaml",          "policies/scalemule.yaml", "policies/erpsmartcloud.yaml",
        "policies/customermaps.yaml", "policies/optymyze.yaml",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        cu_policy *p = load(files[i]);
        /* Every category has a retention rule and fideslang keys; every purpose a basis, a
         * data use and categories; every collection a category (P-RET-1, P-CON-1). */
        assert_true(cu_policy_category_count(p) > 0);
        for (size_t k = 0; k < cu_policy_category_count(p); k++)
            assert_true(cu_policy_category_at(p, k)->n_fides > 0);
        for (size_t k = 0; k < cu_policy_purpose_count(p); k++) {
            const cu_policy_purpose *pu = cu_policy_purpose_at(p, k);
            assert_true(pu->basis >= CU_BASIS_CONTRACT && pu->basis <= CU_BASIS_LEGAL_OBLIGATION);
            assert_true(pu->n_categories > 0);
            assert_non_null(pu->data_use);
        }
        for (size_t k = 0; k < cu_policy_collection_count(p); k++)
            assert_non_null(cu_policy_collection_at(p, k)->category);
        /* Each seed lets staff state "support" and never sets advertising cookies. */
        assert_non_null(cu_policy_operator_purpose(p, "support"));
        assert_int_equal(cu_policy_cookie(p, CU_COOKIE_ADVERTISING), CU_COOKIE_NEVER);
        assert_null(cu_policy_category_at(p, cu_policy_category_count(p)));
        cu_policy_free(p);
    }
}

static void test_P_RET_4_erp_keeps_logs_12_months_and_billing_7_years(void **state)
{
    cu_policy *p = load("policies/erpsmartcloud.yaml");
    const cu_policy_category *billing = category(p, "billing"), *logs = category(p, "logs");
    int64_t t0 = 1767225600; /* 2026-01-01 */

    (void)state;
    assert_duration(billing->retention.keep, 7, CU_DURATION_YEARS);
    assert_int_equal(billing->retention.from, CU_RETAIN_FROM_CREATED);
    assert_int_equal(billing->retention.then, CU_RETAIN_THEN_DELETE);
    assert_duration(logs->retention.keep, 12, CU_DURATION_MONTHS);
    /* A billing record of 2026-01-01 expires on 2033-01-01: kept at 7 years minus a day. */
    assert_int_equal(cu_duration_add(t0, billing->retention.keep), 1988150400);
    assert_int_equal(cu_duration_add(t0, logs->retention.keep), 1798761600); /* 2027-01-01 */
    assert_int_equal(cu_policy_min_age(p), 18);                              /* P-AGE-1 */
    assert_duration(cu_policy_export_window(p), 30, CU_DURATION_DAYS);       /* P-RET-2 */
    assert_duration(category(p, "business")->retention.keep, 30, CU_DURATION_DAYS);
    assert_int_equal(category(p, "business")->retention.from, CU_RETAIN_FROM_SUBSCRIPTION_END);
    assert_duration(cu_policy_notice_period(p), 14, CU_DURATION_DAYS); /* P-NOT-1 */
    assert_int_equal(cu_policy_fresh_consent(p), 1);                   /* P-NOT-2 */
    assert_int_equal(cu_policy_dsr(p).acknowledge_business_days, 5);   /* P-DSR-7 */
    assert_duration(cu_policy_dsr(p).answer, 30, CU_DURATION_DAYS);
    assert_int_equal(cu_policy_cookie(p, CU_COOKIE_ANALYTICS), CU_COOKIE_WITH_CONSENT);
    assert_int_equal(cu_policy_cookie(p, CU_COOKIE_ESSENTIAL), CU_COOKIE_ALWAYS);
    assert_int_equal(cu_policy_purpose_get(p, "marketing")->basis, CU_BASIS_CONSENT);
    assert_string_equal(cu_policy_subprocessor_at(p, 1)->name, "Stripe");
    assert_string_equal(cu_policy_subprocessor_at(p, 1)->purpose->name, "billing");
    cu_policy_free(p);
}

static void test_P_RET_2_scm_export_window_backups_and_age(void **state)
{
    cu_policy *p = load("policies/scm.yaml");
    const cu_policy_purpose *share = cu_policy_purpose_get(p, "shared_on_request");

    (void)state;
    assert_string_equal(cu_policy_id(p), "scm");
    assert_string_equal(cu_policy_version(p), "2026-04-13");
    assert_int_equal(cu_policy_effective(p), 1776038400); /* 2026-04-13T00:00:00Z */
    assert_duration(cu_policy_export_window(p), 90, CU_DURATION_DAYS);
    assert_duration(cu_policy_backup_window(p), 30, CU_DURATION_DAYS); /* P-RET-3 */
    assert_int_equal(cu_policy_min_age(p), 16);                        /* P-AGE-1 */
    assert_duration(cu_policy_notice_period(p), 30, CU_DURATION_DAYS);
    assert_int_equal(cu_policy_cookie(p, CU_COOKIE_ANALYTICS), CU_COOKIE_NEVER);
    /* P-DSR-8: controller for account data, processor for Customer Data. */
    assert_int_equal(cu_policy_role(p), CU_DATA_CONTROLLER);
    assert_int_equal(category(p, "customer_data")->role, CU_DATA_PROCESSOR);
    assert_int_equal(category(p, "account")->role, CU_DATA_CONTROLLER);
    /* P-CON-1: purposes with their basis and the categories they may touch. */
    assert_non_null(share);
    assert_int_equal(share->basis, CU_BASIS_CONSENT);
    assert_true(cu_policy_purpose_covers(share, "customer_data"));
    assert_false(cu_policy_purpose_covers(share, "billing"));
    assert_int_equal(cu_policy_purpose_get(p, "analytics")->basis, CU_BASIS_LEGITIMATE_INTEREST);
    assert_null(cu_policy_purpose_get(p, "advertising"));
    assert_null(cu_policy_operator_purpose(p, "analytics")); /* declared, not for staff */
    assert_int_equal(cu_policy_analytics_min_group(p), 10);  /* P-ANA-1 */
    assert_int_equal(field(p, "billing_records", "card_number")->cls, CU_FIELD_FORBIDDEN);
    assert_true(field(p, "contacts", "email")->indexed);
    cu_policy_free(p);
}

static void test_P_RET_6_scalemule_anonymizes_customer_data(void **state)
{
    cu_policy *p = load("policies/scalemule.yaml");
    const cu_policy_category *c = category(p, "customer_data");

    (void)state;
    assert_int_equal(c->retention.then, CU_RETAIN_THEN_ANONYMIZE);
    assert_int_equal(c->retention.from, CU_RETAIN_FROM_SUBSCRIPTION_END);
    assert_duration(c->retention.keep, 90, CU_DURATION_DAYS);
    assert_int_equal(category(p, "billing")->retention.then, CU_RETAIN_THEN_DELETE);
    assert_int_equal(cu_policy_purpose_get(p, "marketing")->basis, CU_BASIS_LEGITIMATE_INTEREST);
    cu_policy_free(p);
}

static void test_P_DSR_8_customer_maps_is_a_processor(void **state)
{
    cu_policy *p = load("policies/customermaps.yaml");

    (void)state;
    assert_int_equal(cu_policy_role(p), CU_DATA_PROCESSOR);
    assert_string_equal(cu_data_role_name(cu_policy_role(p)), "processor");
    assert_int_equal(category(p, "customer_data")->retention.from, CU_RETAIN_FROM_REQUEST_RECEIVED);
    assert_non_null(cu_policy_operator_purpose(p, "troubleshooting")); /* P-ACC-4 */
    cu_policy_free(p);
}

static void test_P_ENC_6_optymyze_salary_ssn_and_tax_id_are_sensitive(void **state)
{
    static const char *const staff[] = {"support", "investigation", "monitoring",
                                        "patch_validation", "legal"};
    cu_policy *p = load("policies/optymyze.yaml");

    (void)state;
    assert_int_equal(field(p, "employees", "ssn")->cls, CU_FIELD_SENSITIVE);
    assert_true(field(p, "employees", "ssn")->indexed);
    assert_int_equal(field(p, "employees", "tax_id")->cls, CU_FIELD_SENSITIVE);
    assert_int_equal(field(p, "compensation", "salary")->cls, CU_FIELD_SENSITIVE);
    assert_int_equal(field(p, "employees", "name")->cls, CU_FIELD_PERSONAL);
    assert_int_equal(cu_policy_role(p), CU_DATA_PROCESSOR);
    /* P-ACC-4: staff reach data only for the seed's five reasons. */
    for (size_t i = 0; i < sizeof(staff) / sizeof(staff[0]); i++)
        assert_non_null(cu_policy_operator_purpose(p, staff[i]));
    assert_null(cu_policy_operator_purpose(p, "provide_service"));
    assert_null(cu_policy_operator_purpose(p, "marketing"));
    cu_policy_free(p);
}

/* The collections of every seed policy go straight into cu_collection_define, and the classes
 * then hold: a card number is refused, a sensitive value is found by exact value. */
static void test_P_ENC_3_policy_collections_define_the_vault(void **state)
{
    static const char *const files[] = {
        "policies/scm.yaml",          "policies/scalemule.yaml", "policies/erpsmartcloud.yaml",
        "policies/customermaps.yaml", "policies/optymyze.yaml",
    };
    static const char rec[] = "{\"name\":\"Ada\",\"ssn\":\"123-45-6789\",\"tax_id\":\"T-1\"}";
    static const char card[] = "{\"invoice_number\":\"A1\",\"card_number\":\"x\"}";
    char dir[256], data[256];
    cu_vault *v;
    cu_tenant t;
    cu_err err = {0};
    cu_id id, *ids = NULL;
    size_t n = 0;

    (void)state;
    th_tmpdir(dir);
    v = th_vault(dir, data);
    assert_int_equal(cu_tenant_create(v, NULL, &(cu_tenant_opts){.name = "Acme"}, &t, &err), CU_OK);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        cu_policy *p = load(files[i]);
        for (size_t k = 0; k < cu_policy_collection_count(p); k++) {
            const cu_policy_collection *c = cu_policy_collection_at(p, k);
            if (cu_collection_define(v, NULL, t.id, c->name, c->fields, c->n_fields, &err) != CU_OK)
                fail_msg("%s %s: %s", files[i], c->name, err.msg);
        }
        cu_policy_free(p);
    }
    /* Optymyze's employees were the last "employees" defined. */
    assert_int_equal(cu_record_put(v, NULL, t.id, "employees", 0, rec, strlen(rec), &id, &err),
                     CU_OK);
    assert_int_equal(
        cu_record_find(v, NULL, t.id, "employees", "ssn", "123-45-6789", &ids, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_true(ids[0] == id);
    free(ids);
    assert_int_equal(cu_record_put(v, NULL, t.id, "invoices", 0, card, strlen(card), &id, &err),
                     CU_ERR_FORBIDDEN_FIELD);
    cu_vault_close(v);
    th_rmrf(dir);
}

/* clang-format off */
/* A small valid policy; the table below breaks it one way at a time. Line numbers:
 *  1 custos_policy     16 purposes              31 essential           44 min_group_size
 *  7 categories        17 support:              33 minimum_age         45 collections
 *  8 account:          21 newsletter:           34 dsr                 46 invoices:
 * 11 billing:          25 operator_purposes     38 changes             49 number
 * 13 retention:        26 sub_processors        40 termination         50 ssn
 * 14 keep: 7y          28 purpose: support      43 analytics           52 email */
static const char base[] =
    "custos_policy: 1\n"
    "id: test\n"
    "name: Test\n"
    "version: \"1\"\n"
    "effective_date: 2026-01-01\n"
    "role: controller\n"
    "categories:\n"
    "  account:\n"
    "    fides: [user.contact.email]\n"
    "    retention: {keep: 30d, from: subscription_end, then: delete}\n"
    "  billing:\n"
    "    fides: user.financial\n"
    "    retention:\n"
    "      keep: 7y\n"
    "      from: created\n"
    "purposes:\n"
    "  support:\n"
    "    data_use: essential.service.operations.support\n"
    "    basis: contract\n"
    "    categories: [account]\n"
    "  newsletter:\n"
    "    data_use: marketing.communications.email\n"
    "    basis: consent\n"
    "    categories: [account, billing]\n"
    "operator_purposes: [support]\n"
    "sub_processors:\n"
    "  - name: Host\n"
    "    purpose: support\n"
    "    location: EU\n"
    "cookies:\n"
    "  essential: always\n"
    "  analytics: consent\n"
    "minimum_age: 16\n"
    "dsr:\n"
    "  acknowledge_business_days: 5\n"
    "  answer: 30d\n"
    "  extension: 60d\n"
    "changes:\n"
    "  notice_period: 30d\n"
    "termination:\n"
    "  export_window: 90d\n"
    "  backup_window: 30d\n"
    "analytics:\n"
    "  min_group_size: 10\n"
    "collections:\n"
    "  invoices:\n"
    "    category: billing\n"
    "    fields:\n"
    "      number: {class: plain, indexed: true}\n"
    "      ssn: sensitive\n"
    "      card_number: forbidden\n"
    "      email: personal\n";
/* clang-format on */

static cu_rc parse(const char *text, cu_policy **p, cu_err *err)
{
    return cu_policy_parse(text, strlen(text), "t.yaml", p, err);
}

static void test_a_valid_small_policy_loads(void **state)
{
    cu_policy *p = NULL;
    cu_err err = {0};

    (void)state;
    if (parse(base, &p, &err) != CU_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(cu_policy_collection_at(p, 0)->n_fields, 4);
    assert_int_equal(category(p, "billing")->retention.then, CU_RETAIN_THEN_DELETE);
    assert_int_equal(cu_policy_cookie(p, CU_COOKIE_PREFERENCE), CU_COOKIE_NEVER);
    assert_int_equal(cu_policy_fresh_consent(p), 0);
    assert_string_equal(category(p, "billing")->fides[0], "user.financial");
    cu_policy_free(p);
}

typedef struct bad_case {
    const char *old; /* replaced, once, in base */
    const char *new;
    int line;        /* expected in "t.yaml:LINE: " */
    const char *why; /* expected in the message */
} bad_case;

static const bad_case bad_cases[] = {
    /* YAML syntax */
    {"role: controller\n", "role: controller: x\n", 6, "invalid YAML"},
    {"  billing:\n", "\tbilling:\n", 11, "invalid YAML"},
    {"id: test\n", "id: &x test\n", 2, "anchors and aliases are not allowed"},
    {"name: Test\n", "name: !!str Test\n", 3, "tags are not allowed"},
    /* keys */
    {"    basis: contract\n", "    basis: contract\n    reason: x\n", 20, "unknown key \"reason\""},
    {"custos_policy: 1\n", "custos_policy: 1\nowner: x\n", 2, "unknown key \"owner\""},
    {"  extension: 60d\n", "", 34, "dsr: missing required key \"extension\""},
    {"minimum_age: 16\n", "", 1, "missing required key \"minimum_age\""},
    {"      keep: 7y\n", "", 13, "missing required key \"keep\""},
    {"  invoices:\n    category: billing\n", "  invoices:\n    category: billing\n  invoices: {}\n",
     48, "duplicate key \"invoices\""},
    /* types and values */
    {"name: Test\n", "name: [Test]\n", 3, "name: expected text"},
    {"custos_policy: 1\n", "custos_policy: 2\n", 1, "format 2 is not supported"},
    {"effective_date: 2026-01-01\n", "effective_date: 2026-02-30\n", 5, "YYYY-MM-DD"},
    {"role: controller\n", "role: owner\n", 6, "unknown role \"owner\""},
    {"  answer: 30d\n", "  answer: 30days\n", 36, "bad duration \"30days\""},
    {"      keep: 7y\n", "      keep: -7y\n", 14, "bad duration \"-7y\""},
    {"  answer: 30d\n", "  answer: 0d\n", 36, "must be longer than 0"},
    {"      from: created\n", "      from: creation\n", 15, "unknown event \"creation\""},
    {"minimum_age: 16\n", "minimum_age: 0\n", 33, "from 1 to 120"},
    {"minimum_age: 16\n", "minimum_age: -16\n", 33, "from 1 to 120"},
    {"minimum_age: 16\n", "minimum_age: \"16\"\n", 33, "from 1 to 120"},
    {"  min_group_size: 10\n", "  min_group_size: 1\n", 44, "from 2 to"},
    /* taxonomy and legal bases (P-CON-1) */
    {"    fides: user.financial\n", "    fides: user.finance\n", 12,
     "unknown fideslang data category \"user.finance\""},
    {"essential.service.operations.support\n", "essential.support\n", 18,
     "unknown fideslang data use \"essential.support\""},
    {"    basis: contract\n", "    basis: contractual\n", 19, "unknown legal basis"},
    {"    basis: contract\n", "    basis: consent\n", 19, "cannot rest on consent"},
    {"marketing.communications.email\n    basis: consent\n",
     "marketing.advertising\n    basis: legitimate_interest\n", 23,
     "data use marketing.advertising needs basis consent"},
    /* references */
    {"    categories: [account]\n", "    categories: [acount]\n", 20,
     "purposes.support.categories: unknown category \"acount\""},
    {"[account, billing]\n", "[account, account]\n", 24, "listed twice"},
    {"operator_purposes: [support]\n", "operator_purposes: [support, debugging]\n", 25,
     "unknown purpose \"debugging\""},
    {"    purpose: support\n", "    purpose: hosting\n", 28,
     "sub_processors[0].purpose: unknown purpose \"hosting\""},
    /* a recipient without purpose (the fuzzer's find: it crashed the parser once) */
    {"    purpose: support\n    location: EU\n", "    location: EU\n", 27,
     "a recipient needs purpose or purposes"},
    {"    category: billing\n", "    category: payments\n", 47, "unknown category \"payments\""},
    /* cookies (P-CON-3) */
    {"  analytics: consent\n", "  analytics: consent\n  advertising: consent\n", 33,
     "advertising cookies are never allowed"},
    {"  analytics: consent\n", "  analytics: always\n", 32, "analytics cookies need consent"},
    /* a further category may not take a name that means advertising (issue 14) */
    {"  essential: always\n", "  essential: always\n  tracking: never\n", 32,
     "\"tracking\" is no cookie category of its own"},
    /* ... however it is spelled (review finding 2): a word of it, or a stem anywhere */
    {"  essential: always\n", "  essential: always\n  targeted_ads: never\n", 32,
     "\"targeted_ads\" is no cookie category of its own"},
    {"  essential: always\n", "  essential: always\n  ad_personalization: consent\n", 32,
     "\"ad_personalization\" is no cookie category of its own"},
    {"  essential: always\n", "  essential: always\n  remarketing: consent\n", 32,
     "\"remarketing\" is no cookie category of its own"},
    /* collections and fields (P-ENC-3) */
    {"      card_number: forbidden\n", "      card_number: personal\n", 51,
     "holds card numbers and can only be forbidden"},
    {"      email: personal\n", "      email: private\n", 52, "unknown field class \"private\""},
    {"      ssn: sensitive\n", "      ssn: {class: sensitive, indexed: false}\n", 50,
     "always indexed"},
    {"      email: personal\n", "      $email: personal\n", 52, "field name \"$email\""},
    {"  invoices:\n", "  Invoices:\n", 46, "collection name \"Invoices\""},
};

static void test_malformed_policies_are_refused_with_their_line(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case *b = &bad_cases[i];
        const char *at = strstr(base, b->old);
        char text[4096], prefix[32];
        cu_policy *p = (cu_policy *)1;
        cu_err err = {0};
        cu_rc rc;

        if (at == NULL)
            fail_msg("case %zu: \"%s\" is not in the base policy", i, b->old);
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - base), base, b->new,
                 at + strlen(b->old));
        rc = parse(text, &p, &err);
        snprintf(prefix, sizeof(prefix), "t.yaml:%d: ", b->line);
        if (rc != CU_ERR_INVALID || err.code != CU_ERR_INVALID || p != NULL ||
            strncmp(err.msg, prefix, strlen(prefix)) != 0 || strstr(err.msg, b->why) == NULL)
            fail_msg("case %zu: rc %d, message \"%s\"; expected \"%s...%s\"", i, (int)rc, err.msg,
                     prefix, b->why);
    }
}

static void test_inputs_the_format_never_needs_are_refused(void **state)
{
    static const struct {
        const char *text;
        int line;
        const char *why;
    } cases[] = {
        {"", 1, "the policy is empty"},
        {"# only a comment\n", 1, "the policy is empty"},
        {"- a\n- b\n", 1, "a policy is a mapping"},
        {"a: 1\n---\nb: 2\n", 2, "one YAML document"},
        {"a: &x 1\nb: *x\n", 1, "anchors and aliases"},
        {"a: \"x\\0y\"\n", 1, "NUL characters"},
        {"? [a]\n: 1\n", 1, "mapping keys must be plain text"},
        {"a: [[[[[[[[[[[[[[1]]]]]]]]]]]]]]\n", 1, "nested more than"},
        {"a: 1\nb: 'x\n", 2, "invalid YAML"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cu_policy *p = NULL;
        cu_err err = {0};
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "t.yaml:%d: ", cases[i].line);
        if (parse(cases[i].text, &p, &err) != CU_ERR_INVALID ||
            strncmp(err.msg, prefix, strlen(prefix)) != 0 || strstr(err.msg, cases[i].why) == NULL)
            fail_msg("case %zu: \"%s\"", i, err.msg);
        assert_null(p);
    }
}

static void test_input_need_not_be_nul_terminated(void **state)
{
    size_t n = strlen(base);
    char *buf = malloc(n);
    cu_policy *p = NULL;
    cu_err err = {0};

    (void)state;
    memcpy(buf, base, n); /* no NUL: ASan catches any read past n */
    assert_int_equal(cu_policy_parse(buf, n, NULL, &p, &err), CU_OK);
    cu_policy_free(p);
    assert_int_equal(cu_policy_parse(buf, n - 10, NULL, &p, &err), CU_ERR_INVALID);
    assert_true(strncmp(err.msg, "policy:", 7) == 0);
    free(buf);
}

static void test_files_that_cannot_be_read(void **state)
{
    cu_policy *p = NULL;
    cu_err err = {0};
    char *big;

    (void)state;
    assert_int_equal(cu_policy_load("policies/no-such-policy.yaml", &p, &err), CU_ERR_NOT_FOUND);
    assert_null(p);
    big = calloc(1, CU_POLICY_MAX + 1);
    assert_int_equal(cu_policy_parse(big, CU_POLICY_MAX + 1, "big", &p, &err), CU_ERR_LIMIT);
    free(big);
    cu_policy_free(NULL);
}

static void test_durations_parse_strictly(void **state)
{
    static const char *const bad[] = {"",    "d",  "30", "30 d", "030d",   "-1d",          "1.5y",
                                      "30D", "3w", "1m", "101y", "1201mo", "99999999999d", "7yy",
                                      " 7y", "7y "};
    cu_duration d;

    (void)state;
    assert_int_equal(cu_duration_parse("90d", &d), CU_OK);
    assert_duration(d, 90, CU_DURATION_DAYS);
    assert_int_equal(cu_duration_parse("12mo", &d), CU_OK);
    assert_duration(d, 12, CU_DURATION_MONTHS);
    assert_int_equal(cu_duration_parse("7y", &d), CU_OK);
    assert_duration(d, 7, CU_DURATION_YEARS);
    assert_int_equal(cu_duration_parse("72h", &d), CU_OK);
    assert_duration(d, 72, CU_DURATION_HOURS);
    assert_int_equal(cu_duration_parse("0d", &d), CU_OK);
    assert_int_equal(cu_duration_parse("100y", &d), CU_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cu_duration_parse(bad[i], &d) != CU_ERR_INVALID)
            fail_msg("\"%s\" parsed", bad[i]);
}

static void test_durations_follow_the_calendar(void **state)
{
    const int64_t jan31 = 1706659200 + 3600; /* 2024-01-31T01:00:00Z */
    const int64_t feb29 = 1709164800;        /* 2024-02-29 */
    cu_duration mo = {1, CU_DURATION_MONTHS}, y = {1, CU_DURATION_YEARS};
    cu_duration y7 = {7, CU_DURATION_YEARS}, h = {72, CU_DURATION_HOURS};

    (void)state;
    assert_int_equal(cu_duration_add(jan31, mo), 1709168400); /* 2024-02-29T01:00 */
    assert_int_equal(cu_duration_add(feb29, y), 1740700800);  /* 2025-02-28 */
    assert_int_equal(cu_duration_add(feb29, y7), 1930003200); /* 2031-02-28 */
    assert_int_equal(cu_duration_add(feb29, h), feb29 + 3 * DAY);
    assert_int_equal(cu_duration_add(0, (cu_duration){12, CU_DURATION_MONTHS}), 365 * DAY);
    assert_int_equal(cu_duration_add(-DAY, mo), 30 * DAY); /* 1969-12-31 -> 1970-01-31 */
    assert_int_equal(cu_duration_add(INT64_MAX - 10, h), INT64_MAX);
}

static void test_enum_names_are_the_file_spellings(void **state)
{
    (void)state;
    assert_string_equal(cu_legal_basis_name(CU_BASIS_LEGITIMATE_INTEREST), "legitimate_interest");
    assert_string_equal(cu_legal_basis_name((cu_legal_basis)0), "?");
    assert_string_equal(cu_retention_event_name(CU_RETAIN_FROM_SUBSCRIPTION_END),
                        "subscription_end");
    assert_string_equal(cu_retention_action_name(CU_RETAIN_THEN_ANONYMIZE), "anonymize");
    assert_string_equal(cu_data_role_name(CU_DATA_CONTROLLER), "controller");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_RET_1_the_five_seed_policies_load),
        cmocka_unit_test(test_P_RET_4_erp_keeps_logs_12_months_and_billing_7_years),
        cmocka_unit_test(test_P_RET_2_scm_export_window_backups_and_age),
        cmocka_unit_test(test_P_RET_6_scalemule_anonymizes_customer_data),
        cmocka_unit_test(test_P_DSR_8_customer_maps_is_a_processor),
        cmocka_unit_test(test_P_ENC_6_optymyze_salary_ssn_and_tax_id_are_sensitive),
        cmocka_unit_test(test_P_ENC_3_policy_collections_define_the_vault),
        cmocka_unit_test(test_a_valid_small_policy_loads),
        cmocka_unit_test(test_malformed_policies_are_refused_with_their_line),
        cmocka_unit_test(test_inputs_the_format_never_needs_are_refused),
        cmocka_unit_test(test_input_need_not_be_nul_terminated),
        cmocka_unit_test(test_files_that_cannot_be_read),
        cmocka_unit_test(test_durations_parse_strictly),
        cmocka_unit_test(test_durations_follow_the_calendar),
        cmocka_unit_test(test_enum_names_are_the_file_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
