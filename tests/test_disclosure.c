/*
 * test_disclosure.c: disclosures to the policy's recipients, below HTTP (P-SHR-1, P-NOT-3):
 * data leaves only to a recipient the policy in force lists, for a listed purpose and its
 * listed categories; everything refused leaves nothing; a recipient a pending version adds is
 * refused until that version takes effect, and its binding is announced by a webhook event;
 * adding a recipient is material, removing one narrows; each disclosure is audited by id and
 * listed per subject. Optymyze's policy: a partner for implementation (employee records and
 * compensation), an authority for the legal purpose, 30 days' notice. Runs on SQLite and again
 * on PostgreSQL (run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h" /* v->store: the rows as the store keeps them */
#include "custos_disclosure.h"
#include "custos_webhook.h"
#include "th.h"
#include "util.h"

#define DAY 86400
#define D2026 1767225600 /* 2026-01-01 */
#define PARTNER "consulting partners (not named in the seed)"
#define AUTHORITY "public authorities (on a valid legal request)"

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t, ada, bob, ada_emp, ada_case;
} fx;

static cu_id subject(fx *f, const char *ext)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, f->t, &(cu_subject_in){.external_id = ext}, &id, &err) !=
        CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static cu_id record(fx *f, const char *coll, cu_id sub, const char *json)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_record_put(f->v, NULL, f->t, coll, sub, json, strlen(json), &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static int setup(void **state_)
{
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};
    size_t len = 0;
    const char *text = cu_policy_builtin("optymyze", &len);

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    if (cu_tenant_create(f->v, NULL,
                         &(cu_tenant_opts){.name = "client", .policy = text, .policy_len = len}, &t,
                         &err) != CU_OK)
        fail_msg("%s", err.msg);
    f->t = t.id;
    f->ada = subject(f, "emp-1");
    f->bob = subject(f, "emp-2");
    f->ada_emp = record(f, "employees", f->ada, "{\"name\":\"Ada\",\"employee_id\":\"E1\"}");
    f->ada_case = record(f, "support_cases", f->ada, "{\"subject\":\"login\"}");
    *state_ = f;
    return 0;
}

static int teardown(void **state_)
{
    fx *f = *state_;

    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

static cu_rc disclose(fx *f, const char *recipient, const char *purpose, const cu_id *subjects,
                      size_t ns, const cu_id *records, size_t nr, const char *cat, cu_id *id,
                      cu_err *err)
{
    const char *cats[1] = {cat};
    cu_disclosure_in in = {.recipient = recipient,
                           .purpose = purpose,
                           .subjects = subjects,
                           .n_subjects = ns,
                           .records = records,
                           .n_records = nr,
                           .categories = cats,
                           .n_categories = cat ? 1 : 0};

    return cu_disclosure_add(f->v, NULL, f->t, &in, id, err);
}

static size_t listed(fx *f, cu_id subject, cu_disclosure **out)
{
    cu_disclosure *d = NULL;
    size_t n = 0;
    cu_err err = {0};

    if (cu_disclosure_list(f->v, NULL, f->t, subject, 0, &d, &n, &err) != CU_OK)
        fail_msg("%s", err.msg);
    if (out != NULL)
        *out = d;
    else
        free(d);
    return n;
}

static size_t audit_count(fx *f, const char *action, const char *object)
{
    cu_audit_filter flt = {0};
    cu_audit_entry *e = NULL;
    size_t n = 0, c = 0;
    cu_err err = {0};

    if (cu_audit_list(f->v, NULL, f->t, &flt, &e, &n, &err) != CU_OK)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < n; i++)
        c += strcmp(e[i].action, action) == 0 &&
             (object == NULL || strcmp(e[i].object, object) == 0);
    free(e);
    return c;
}

/* P-SHR-1: the partner gets the employee records it is listed for, each subject's and each
 * record's part recorded with the policy's names and version; the audit entry names the id. */
static void test_P_SHR_1_a_listed_recipient_receives_what_it_is_listed_for(void **state_)
{
    fx *f = *state_;
    cu_id subs[2] = {f->ada, f->bob}, id = 0, id2 = 0;
    cu_disclosure *d = NULL;
    char object[64];
    cu_err err = {0};

    assert_int_equal(
        disclose(f, PARTNER, "implementation", subs, 2, NULL, 0, "employee_records", &id, &err),
        CU_OK);
    assert_int_equal(
        disclose(f, PARTNER, "implementation", NULL, 0, &f->ada_emp, 1, NULL, &id2, &err), CU_OK);
    assert_int_equal(listed(f, 0, NULL), 3);
    assert_int_equal(listed(f, f->bob, NULL), 1);
    assert_int_equal(listed(f, f->ada, &d), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(d[i].subject_id, f->ada);
        assert_string_equal(d[i].recipient, PARTNER);
        assert_string_equal(d[i].recipient_kind, "partner");
        assert_string_equal(d[i].purpose, "implementation");
        assert_string_equal(d[i].categories, "employee_records");
        assert_string_equal(d[i].legal_basis, "contract");
        assert_int_equal(d[i].policy_version, 1);
        assert_true(d[i].record_id == 0 ? d[i].id == id : d[i].record_id == f->ada_emp);
    }
    free(d);
    snprintf(object, sizeof(object), "disclosure:%llu", (unsigned long long)id);
    assert_int_equal(audit_count(f, "disclosure.add", object), 1);
    assert_int_equal(audit_count(f, "disclosure.add", NULL), 2);
}

/* P-SHR-1: a recipient the policy does not list gets nothing, and nothing is recorded. */
static void test_P_SHR_1_an_unlisted_recipient_is_refused(void **state_)
{
    fx *f = *state_;
    cu_err err = {0};
    cu_id id = 0;

    assert_int_equal(disclose(f, "Acme Data Brokers", "implementation", &f->ada, 1, NULL, 0,
                              "employee_records", &id, &err),
                     CU_ERR_NOT_LISTED);
    assert_string_equal(cu_rc_name(CU_ERR_NOT_LISTED), "recipient_not_listed");
    assert_int_equal(id, 0);
    assert_int_equal(listed(f, 0, NULL), 0);
    assert_int_equal(audit_count(f, "disclosure.add", NULL), 0);
}

/* P-SHR-1: listed, but not for that purpose or that data: refused, all or nothing. */
static void test_P_SHR_1_only_for_its_purposes_and_categories(void **state_)
{
    fx *f = *state_;
    cu_id recs[2] = {f->ada_emp, f->ada_case};
    cu_err err = {0};

    /* Not for support. */
    assert_int_equal(
        disclose(f, PARTNER, "support", &f->ada, 1, NULL, 0, "employee_records", NULL, &err),
        CU_ERR_NOT_LISTED);
    /* Not client users' data, named or as a record's collection's. */
    assert_int_equal(
        disclose(f, PARTNER, "implementation", &f->ada, 1, NULL, 0, "client_users", NULL, &err),
        CU_ERR_NOT_LISTED);
    assert_int_equal(disclose(f, PARTNER, "implementation", NULL, 0, recs, 2, NULL, NULL, &err),
                     CU_ERR_NOT_LISTED);
    assert_non_null(strstr(err.msg, "support_cases"));
    /* The authority, for the legal purpose, may have the support case. */
    assert_int_equal(disclose(f, AUTHORITY, "legal", NULL, 0, &f->ada_case, 1, NULL, NULL, &err),
                     CU_OK);
    assert_int_equal(listed(f, 0, NULL), 1);
    /* A category the policy lacks, a subject named twice, no categories for subjects. */
    assert_int_equal(
        disclose(f, PARTNER, "implementation", &f->ada, 1, NULL, 0, "payroll", NULL, &err),
        CU_ERR_INVALID);
    assert_int_equal(disclose(f, PARTNER, "implementation", (cu_id[]){f->ada, f->ada}, 2, NULL, 0,
                              "employee_records", NULL, &err),
                     CU_ERR_INVALID);
    assert_int_equal(disclose(f, PARTNER, "implementation", &f->ada, 1, NULL, 0, NULL, NULL, &err),
                     CU_ERR_INVALID);
    /* A basis other than the purpose's (P-CON-1). */
    {
        const char *cats[1] = {"support_cases"};
        cu_disclosure_in in = {.recipient = AUTHORITY,
                               .purpose = "legal",
                               .records = &f->ada_case,
                               .n_records = 1,
                               .categories = cats,
                               .n_categories = 0,
                               .legal_basis = "consent"};
        assert_int_equal(cu_disclosure_add(f->v, NULL, f->t, &in, NULL, &err), CU_ERR_INVALID);
        assert_non_null(strstr(err.msg, "legal_obligation"));
        in.legal_basis = "legal_obligation";
        assert_int_equal(cu_disclosure_add(f->v, NULL, f->t, &in, NULL, &err), CU_OK);
        assert_int_equal(listed(f, 0, NULL), 2);
        in.legal_basis = "whim";
        assert_int_equal(cu_disclosure_add(f->v, NULL, f->t, &in, NULL, &err), CU_ERR_INVALID);
    }
    /* One subject the tenant lacks spoils the whole disclosure. */
    assert_int_equal(disclose(f, PARTNER, "implementation", (cu_id[]){f->ada, 12345}, 2, NULL, 0,
                              "employee_records", NULL, &err),
                     CU_ERR_NOT_FOUND);
    assert_int_equal(listed(f, 0, NULL), 2);
}

/* Optymyze with one more recipient: a business transfer announced to NewCo, for the service. */
static char *with_newco(void)
{
    size_t len = 0;
    const char *text = cu_policy_builtin("optymyze", &len);
    const char *at = strstr(text, "\nsub_processors:\n");
    const char *add = "  - name: NewCo\n    kind: business_transfer\n    purpose: provide_service\n"
                      "    categories: [employee_records]\n    location: Germany\n";
    size_t head, n;
    char *s;

    assert_non_null(at);
    head = (size_t)(at - text) + strlen("\nsub_processors:\n");
    n = len + strlen(add) + 1;
    s = calloc(1, n);
    assert_non_null(s);
    snprintf(s, n, "%.*s%s%.*s", (int)head, text, add, (int)(len - head), text + head);
    return s;
}

/* P-NOT-3: a recipient a bound version adds waits for the notice period like any material
 * change: refused while the version is pending, allowed once it is in force. The binding sends
 * policy.recipient_added, naming it, in its own transaction. */
static void test_P_NOT_3_a_new_recipient_waits_for_the_notice_period(void **state_)
{
    fx *f = *state_;
    char *text = with_newco(), secret[CU_WEBHOOK_SECRET_MAX];
    cu_webhook_event *e = NULL;
    cu_policy_state st;
    size_t n = 0, found = 0;
    cu_id hook = 0;
    cu_err err = {0};

    assert_int_equal(cu_webhook_endpoint_create(f->v, NULL, f->t, "https://hooks.example/r", "*",
                                                &hook, secret, &err),
                     CU_OK);
    cu_clock_set(D2026 + DAY);
    assert_int_equal(cu_tenant_set_policy(f->v, NULL, f->t, text, strlen(text), "v2", NULL, &err),
                     CU_OK);
    assert_int_equal(cu_policy_state_get(f->v, f->t, &st, &err), CU_OK);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.pending_at, D2026 + 31 * DAY);
    assert_int_equal(cu_webhook_event_list(f->v, NULL, f->t, 0, 100, &e, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].type, "policy.recipient_added") == 0) {
            found++;
            assert_non_null(strstr(e[i].data, "\"name\":\"NewCo\""));
            assert_non_null(strstr(e[i].data, "\"kind\":\"business_transfer\""));
            assert_null(strstr(e[i].data, PARTNER)); /* only what is added */
        }
        cu_webhook_event_cleanup(&e[i]);
    }
    free(e);
    assert_int_equal(found, 1);
    /* Day 29 of the notice: the version in force does not list NewCo. */
    cu_clock_set(D2026 + 30 * DAY);
    assert_int_equal(disclose(f, "NewCo", "provide_service", &f->ada, 1, NULL, 0,
                              "employee_records", NULL, &err),
                     CU_ERR_NOT_LISTED);
    assert_non_null(strstr(err.msg, "P-NOT-3"));
    assert_int_equal(listed(f, 0, NULL), 0);
    /* Day 30: it does. */
    cu_clock_set(D2026 + 31 * DAY);
    assert_int_equal(disclose(f, "NewCo", "provide_service", &f->ada, 1, NULL, 0,
                              "employee_records", NULL, &err),
                     CU_OK);
    assert_int_equal(listed(f, 0, NULL), 1);
    free(text);
}

/* P-NOT-3: the diff calls a recipient added (or widened) material, one removed narrowing. */
static void test_P_NOT_3_adding_a_recipient_is_material(void **state_)
{
    char *text = with_newco();
    size_t len = 0;
    const char *old_text = cu_policy_builtin("optymyze", &len);
    cu_policy *old = NULL, *nw = NULL;
    cu_policy_diff d;
    cu_err err = {0};

    (void)state_;
    assert_int_equal(cu_policy_parse(old_text, len, "old", &old, &err), CU_OK);
    assert_int_equal(cu_policy_parse(text, strlen(text), "new", &nw, &err), CU_OK);
    assert_int_equal(cu_policy_diff_compute(old, nw, &d, &err), CU_OK);
    assert_int_equal(d.material, 1);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.changes[0].area, "sub_processors");
    assert_non_null(strstr(d.changes[0].text, "business_transfer NewCo added"));
    cu_policy_diff_cleanup(&d);
    assert_int_equal(cu_policy_diff_compute(nw, old, &d, &err), CU_OK);
    assert_int_equal(d.material, 0);
    assert_non_null(strstr(d.changes[0].text, "NewCo removed"));
    cu_policy_diff_cleanup(&d);
    cu_policy_free(old);
    cu_policy_free(nw);
    free(text);
}

/* P-SHR-1: a recipient listed for a category none of its purposes touches is refused at load,
 * and so is one listed twice. */
static void test_P_SHR_1_a_recipient_gets_only_what_its_purposes_touch(void **state_)
{
    size_t len = 0;
    const char *text = cu_policy_builtin("optymyze", &len);
    char *bad = calloc(1, len + 64);
    const char *from = "    categories: [employee_records, compensation]\n    location: worldwide";
    const char *at = strstr(text, from);
    cu_policy *p = NULL;
    cu_err err = {0};

    (void)state_;
    assert_non_null(bad);
    assert_non_null(at);
    snprintf(bad, len + 64, "%.*s    categories: [support_cases]\n    location: worldwide%s",
             (int)(at - text), text, at + strlen(from));
    assert_int_equal(cu_policy_parse(bad, strlen(bad), "bad", &p, &err), CU_ERR_INVALID);
    assert_non_null(strstr(err.msg, "support_cases"));
    free(bad);
}

static int contains(const char *buf, size_t len, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= len; i++)
        if (memcmp(buf + i, needle, k) == 0)
            return 1;
    return 0;
}

/* The subject's export under an acknowledged access request, whole, as text (caller frees). */
static char *export_of(fx *f, cu_id subject, cu_subject_export_format fmt, size_t *len)
{
    cu_request_in in = {.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_ADMIN, .subject = subject};
    cu_request_filed filed = {0};
    cu_ctx c = {.actor = "key:7", .purpose = CU_PURPOSE_SUBJECT_ACCESS};
    cu_subject_export *x = NULL;
    char *all = NULL, buf[4096];
    size_t n = 0, at = 0;
    cu_err err = {0};

    if (cu_request_file(f->v, NULL, f->t, &in, &filed, &err) != CU_OK ||
        cu_request_acknowledge(f->v, NULL, f->t, filed.id, &err) != CU_OK)
        fail_msg("access request: %s", err.msg);
    c.dsr_request = filed.id;
    if (cu_subject_export_open(f->v, &c, f->t, subject, fmt, &x, &err) != CU_OK)
        fail_msg("%s", err.msg);
    while (cu_subject_export_read(x, buf, sizeof(buf), &n, &err) == CU_OK && n > 0) {
        all = realloc(all, at + n + 1);
        assert_non_null(all);
        memcpy(all + at, buf, n);
        at += n;
        all[at] = '\0';
    }
    assert_int_equal(err.code, CU_OK);
    cu_subject_export_free(x);
    *len = at;
    return all;
}

/* P-SHR-1, GDPR Art. 15(1)(c): the subject's export names who received its data (the
 * disclosure's recipient, kind, purpose, categories, basis), and the recipients the policy
 * lists; another subject's export shows none of it. The reference stays the tenant's. */
static void test_P_SHR_1_the_subject_export_shows_its_recipients(void **state_)
{
    fx *f = *state_;
    const char *cats[1] = {"employee_records"};
    cu_disclosure_in in = {.recipient = PARTNER,
                           .purpose = "implementation",
                           .subjects = &f->ada,
                           .n_subjects = 1,
                           .categories = cats,
                           .n_categories = 1,
                           .reference = "SOW-2026-17"};
    cu_err err = {0};
    size_t len = 0;
    char *doc;

    assert_int_equal(cu_disclosure_add(f->v, NULL, f->t, &in, NULL, &err), CU_OK);
    doc = export_of(f, f->ada, CU_SUBJECT_EXPORT_JSON, &len);
    assert_non_null(strstr(doc, "\"recipients\":{\"disclosures\":[{\"disclosure_id\""));
    assert_non_null(strstr(doc, "\"recipient\":\"" PARTNER "\",\"kind\":\"partner\""));
    assert_non_null(
        strstr(doc, "\"purpose\":\"implementation\",\"categories\":[\"employee_records\"]"));
    assert_non_null(strstr(doc, "\"listed\":[{\"name\":"));
    assert_null(strstr(doc, "SOW-2026-17"));
    free(doc);
    doc = export_of(f, f->bob, CU_SUBJECT_EXPORT_JSON, &len);
    assert_non_null(strstr(doc, "\"recipients\":{\"disclosures\":[],\"listed\":["));
    free(doc);
    doc = export_of(f, f->ada, CU_SUBJECT_EXPORT_CSV_ZIP, &len);
    assert_true(contains(doc, len, "recipients.csv"));
    free(doc);
}

/* P-ACC-4 through a disclosure: a record with no subject still passes its purpose's own rules.
 * Staff may use the policy's operator purposes only, so an operator cannot disclose it to the
 * partner for implementation; the tenant's own principal can. */
static void test_P_ACC_4_staff_cannot_disclose_a_record_of_no_subject(void **state_)
{
    fx *f = *state_;
    const char *cats[1] = {"employee_records"};
    cu_id rec = record(f, "employees", 0, "{\"name\":\"Team\",\"employee_id\":\"E0\"}");
    cu_disclosure_in in = {.recipient = PARTNER,
                           .purpose = "implementation",
                           .records = &rec,
                           .n_records = 1,
                           .categories = cats,
                           .n_categories = 1};
    cu_ctx staff = {.actor = "operator:key:1", .purpose = "implementation",
                    .flags = CU_CTX_OPERATOR};
    cu_err err = {0};
    cu_id id = 0;

    assert_int_equal(cu_disclosure_add(f->v, &staff, f->t, &in, &id, &err), CU_ERR_FORBIDDEN);
    assert_int_equal(listed(f, 0, NULL), 0);
    assert_int_equal(cu_disclosure_add(f->v, NULL, f->t, &in, &id, &err), CU_OK);
    assert_int_equal(listed(f, 0, NULL), 1);
}

/* P-RET-2: a tenant's close deletes its disclosure rows with the rest of its data; another
 * tenant's stay. */
static void test_P_RET_2_tenant_close_drops_its_disclosures(void **state_)
{
    fx *f = *state_, g = *f;
    cu_store_op close = {.type = CU_OP_TENANT_CLOSE};
    cu_store_disclosure *rows = NULL;
    size_t n = 0, len = 0;
    const char *text = cu_policy_builtin("optymyze", &len);
    cu_tenant t;
    cu_err err = {0};

    if (cu_tenant_create(f->v, NULL,
                         &(cu_tenant_opts){.name = "other", .policy = text, .policy_len = len}, &t,
                         &err) != CU_OK)
        fail_msg("%s", err.msg);
    g.t = t.id;
    g.ada = subject(&g, "emp-9");
    assert_int_equal(
        disclose(f, PARTNER, "implementation", &f->ada, 1, NULL, 0, "employee_records", NULL, &err),
        CU_OK);
    assert_int_equal(
        disclose(&g, PARTNER, "implementation", &g.ada, 1, NULL, 0, "employee_records", NULL, &err),
        CU_OK);
    close.u.del.tenant_id = f->t;
    assert_int_equal(cu_store_apply(f->v->store, &close, 1, &err), CU_OK);
    assert_int_equal(cu_store_disclosure_list(f->v->store, f->t, 0, 10, &rows, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(rows);
    assert_int_equal(cu_store_disclosure_list(f->v->store, g.t, 0, 10, &rows, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(rows);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_SHR_1_a_listed_recipient_receives_what_it_is_listed_for),
        T(test_P_SHR_1_an_unlisted_recipient_is_refused),
        T(test_P_SHR_1_only_for_its_purposes_and_categories),
        T(test_P_NOT_3_a_new_recipient_waits_for_the_notice_period),
        cmocka_unit_test(test_P_NOT_3_adding_a_recipient_is_material),
        cmocka_unit_test(test_P_SHR_1_a_recipient_gets_only_what_its_purposes_touch),
        T(test_P_SHR_1_the_subject_export_shows_its_recipients),
        T(test_P_ACC_4_staff_cannot_disclose_a_record_of_no_subject),
        T(test_P_RET_2_tenant_close_drops_its_disclosures),
    };

    return cmocka_run_group_tests_name("disclosures (P-SHR-1, P-NOT-3)", tests, NULL, NULL);
}
