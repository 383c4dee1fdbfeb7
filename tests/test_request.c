/*
 * test_request.c: data-subject requests in the core (request.c, request_deadline.c): the
 * calendar of their deadlines (P-DSR-7), their states, verification, the controller's decision
 * (P-DSR-8), the purpose subject_access inside a request only (P-DSR-1), and the rights carried
 * out at completion (P-DSR-3, P-DSR-5, P-DSR-6), which touch nothing else (P-DSR-9). Over HTTPS:
 * tests/test_http_request.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core_int.h" /* v->store: the store contract of REQUEST_UPDATE */
#include "request_int.h"
#include "th.h"

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t; /* under SCM's policy: a controller */
} fx;

#define DAY 86400
#define D2026 1767225600 /* 2026-01-01, a Thursday */

/* Unix seconds of y-m-d h:mi:s UTC. */
static int64_t at(int y, int m, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = m - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

/* The end of y-m-d, as due dates are. */
static int64_t eod(int y, int m, int d)
{
    return at(y, m, d, 23, 59, 59);
}

static void bind(cu_vault *v, cu_id t, const char *id)
{
    size_t len = 0;
    const char *text = cu_policy_builtin(id, &len);
    cu_err err = {0};

    if (cu_tenant_set_policy(v, NULL, t, text, len, id, NULL, &err) != CU_OK)
        fail_msg("%s", err.msg);
}

static cu_id tenant(fx *f, const char *policy)
{
    cu_tenant t;
    cu_err err = {0};

    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = policy}, &t, &err),
                     CU_OK);
    bind(f->v, t.id, policy);
    return t.id;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    cu_clock_set(D2026 + 10 * 3600);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    f->t = tenant(f, "scm");
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

static cu_id subject(fx *f, cu_id t, const char *ext, const char *email)
{
    cu_subject_in in = {.external_id = ext, .email = email};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, t, &in, &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static cu_id record(fx *f, const char *coll, cu_id s, const char *json)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_record_put(f->v, NULL, f->t, coll, s, json, strlen(json), &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

/* An administrator's request of type for subject s, acknowledged (purpose: object and
 * withdraw_consent). */
static cu_id admin_request(fx *f, cu_id t, cu_request_type type, cu_id s, const char *purpose,
                           int acknowledge)
{
    cu_request_in in = {.type = type, .filer = CU_REQ_BY_ADMIN, .subject = s, .purpose = purpose};
    cu_request_filed out;
    cu_err err = {0};

    if (cu_request_file(f->v, NULL, t, &in, &out, &err) != CU_OK)
        fail_msg("%s", err.msg);
    assert_string_equal(out.token, "");
    if (acknowledge && cu_request_acknowledge(f->v, NULL, t, out.id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return out.id;
}

static cu_request get(fx *f, cu_id t, cu_id r)
{
    cu_request q;
    cu_err err = {0};

    if (cu_request_get(f->v, NULL, t, r, &q, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return q;
}

static cu_rc read_as(fx *f, const char *purpose, cu_id request, cu_id rec, char **json)
{
    cu_ctx ctx = {.actor = "test", .purpose = purpose, .dsr_request = request};
    cu_record r = {0};
    cu_err err = {0};
    cu_rc rc = cu_record_get(f->v, &ctx, f->t, rec, &r, &err);

    if (json != NULL)
        *json = rc == CU_OK ? strdup(r.json) : NULL;
    cu_record_cleanup(&r);
    return rc;
}

/* --- the calendar (P-DSR-7) --------------------------------------------------------------- */

static void test_P_DSR_7_acknowledgement_counts_business_days(void **state)
{
    int64_t hol[] = {at(2026, 1, 6, 0, 0, 0), at(2026, 12, 25, 0, 0, 0)};

    (void)state;
    /* Friday 2026-01-02 + 5 business days: Mon 5 .. Fri 9. */
    assert_int_equal(cu_request_ack_due(at(2026, 1, 2, 9, 0, 0), 5, NULL, 0), eod(2026, 1, 9));
    /* Filed late on a Friday, or on the weekend: the count starts on Monday. */
    assert_int_equal(cu_request_ack_due(at(2026, 1, 2, 23, 59, 0), 1, NULL, 0), eod(2026, 1, 5));
    assert_int_equal(cu_request_ack_due(at(2026, 1, 3, 12, 0, 0), 1, NULL, 0), eod(2026, 1, 5));
    assert_int_equal(cu_request_ack_due(at(2026, 1, 4, 12, 0, 0), 5, NULL, 0), eod(2026, 1, 9));
    /* A holiday is skipped like a weekend day; one on a weekend changes nothing. */
    assert_int_equal(cu_request_ack_due(at(2026, 1, 2, 9, 0, 0), 5, hol, 2), eod(2026, 1, 12));
    assert_int_equal(cu_request_ack_due(at(2026, 12, 23, 9, 0, 0), 2, hol, 2), eod(2026, 12, 28));
    /* Across a year's end and over a leap day. */
    assert_int_equal(cu_request_ack_due(at(2027, 12, 31, 9, 0, 0), 1, NULL, 0), eod(2028, 1, 3));
    assert_int_equal(cu_request_ack_due(at(2028, 2, 28, 9, 0, 0), 1, NULL, 0), eod(2028, 2, 29));
    /* Sixty business days are twelve weeks. */
    assert_int_equal(cu_request_ack_due(at(2026, 1, 5, 9, 0, 0), 60, NULL, 0), eod(2026, 3, 30));
}

static void test_P_DSR_7_answer_in_days_and_calendar_months(void **state)
{
    cu_duration d30 = {30, CU_DURATION_DAYS}, mo1 = {1, CU_DURATION_MONTHS};
    cu_duration mo3 = {3, CU_DURATION_MONTHS}, h72 = {72, CU_DURATION_HOURS};

    (void)state;
    assert_int_equal(cu_request_answer_due(at(2026, 1, 31, 8, 0, 0), d30), eod(2026, 3, 2));
    /* GDPR Art. 12(3): one month from January 31 is the end of February. */
    assert_int_equal(cu_request_answer_due(at(2026, 1, 31, 8, 0, 0), mo1), eod(2026, 2, 28));
    assert_int_equal(cu_request_answer_due(at(2028, 1, 31, 8, 0, 0), mo1), eod(2028, 2, 29));
    assert_int_equal(cu_request_answer_due(at(2100, 1, 31, 8, 0, 0), mo1), eod(2100, 2, 28));
    assert_int_equal(cu_request_answer_due(at(2000, 1, 30, 8, 0, 0), mo1), eod(2000, 2, 29));
    assert_int_equal(cu_request_answer_due(at(2026, 3, 31, 8, 0, 0), mo1), eod(2026, 4, 30));
    assert_int_equal(cu_request_answer_due(at(2026, 2, 15, 8, 0, 0), mo1), eod(2026, 3, 15));
    assert_int_equal(cu_request_answer_due(at(2026, 11, 30, 8, 0, 0), mo3), eod(2027, 2, 28));
    assert_int_equal(cu_request_answer_due(at(2026, 12, 31, 8, 0, 0), mo1), eod(2027, 1, 31));
    assert_int_equal(cu_request_answer_due(at(2026, 1, 1, 23, 0, 0), h72), eod(2026, 1, 4));
}

static void test_P_DSR_7_extension_up_to_the_policy_maximum(void **state)
{
    cu_duration d60 = {60, CU_DURATION_DAYS}, mo2 = {2, CU_DURATION_MONTHS};
    cu_duration d0 = {0, CU_DURATION_DAYS}, d61 = {61, CU_DURATION_DAYS};
    cu_err err = {0};
    int64_t out = 0;

    (void)state;
    assert_int_equal(cu_request_extend_due(eod(2026, 2, 28), d60, d60, &out, &err), CU_OK);
    assert_int_equal(out, eod(2026, 4, 29));
    assert_int_equal(cu_request_extend_due(eod(2026, 2, 28), d61, d60, &out, &err), CU_ERR_INVALID);
    /* Two months from February 28 are 59 days: within 60d; 60d is within two months from
     * March 31 (61 days) too. Compared as dates. */
    assert_int_equal(cu_request_extend_due(eod(2026, 2, 28), mo2, d60, &out, &err), CU_OK);
    assert_int_equal(out, eod(2026, 4, 28));
    assert_int_equal(cu_request_extend_due(eod(2026, 3, 31), d60, mo2, &out, &err), CU_OK);
    assert_int_equal(cu_request_extend_due(eod(2026, 3, 31), mo2, d60, &out, &err), CU_ERR_INVALID);
    assert_int_equal(cu_request_extend_due(eod(2026, 2, 28), d0, d60, &out, &err), CU_ERR_INVALID);
    assert_int_equal(cu_request_extend_due(eod(2026, 2, 28), d60, d0, &out, &err), CU_ERR_INVALID);
}

/* The policy's dsr.holidays reach the due date of a filed request. */
static void test_P_DSR_7_policy_holidays_and_due_dates_of_a_request(void **state)
{
    fx *f = *state;
    static const char extra[] = "  holidays:\n    - 2026-01-05\n    - 2026-01-06\n";
    size_t len = 0, head, n;
    const char *scm = cu_policy_builtin("scm", &len);
    const char *dsr = strstr(scm, "\ndsr:\n");
    const char *end = dsr ? strstr(dsr + 6, "\n\n") : NULL;
    char *text = malloc(len + sizeof(extra));
    cu_err err = {0};
    cu_tenant t;
    cu_id s, r;
    cu_request q;

    assert_non_null(end);
    /* SCM's policy with two holidays at the end of its dsr section. */
    head = (size_t)(end - scm) + 1;
    memcpy(text, scm, head);
    memcpy(text + head, extra, sizeof(extra) - 1);
    n = head + sizeof(extra) - 1;
    memcpy(text + n, scm + head, len - head);
    n += len - head;
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "h"}, &t, &err), CU_OK);
    if (cu_tenant_set_policy(f->v, NULL, t.id, text, n, "scm-holidays", NULL, &err) != CU_OK)
        fail_msg("%s", err.msg);
    free(text);
    s = subject(f, t.id, "ada", NULL);
    cu_clock_set(at(2026, 1, 2, 9, 0, 0)); /* a Friday */
    r = admin_request(f, t.id, CU_REQ_ACCESS, s, NULL, 0);
    q = get(f, t.id, r);
    /* SCM: 5 business days (Jan 5 and 6 off: 7, 8, 9, 12, 13) and 30 days. */
    assert_int_equal(q.ack_due, eod(2026, 1, 13));
    assert_int_equal(q.answer_due, eod(2026, 2, 1));
}

/* --- states -------------------------------------------------------------------------------- */

static void test_P_DSR_7_states_extension_and_overdue_lists(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL);
    cu_id r = admin_request(f, f->t, CU_REQ_ACCESS, s, NULL, 0), r2;
    cu_duration d30 = {30, CU_DURATION_DAYS}, d90 = {90, CU_DURATION_DAYS};
    cu_request *list = NULL;
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(get(f, f->t, r).state, CU_REQ_RECEIVED);
    assert_int_equal(cu_request_extend(f->v, NULL, f->t, r, d30, "complex", &err), CU_ERR_CONFLICT);
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, r, &err), CU_OK);
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, r, &err), CU_ERR_CONFLICT);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_ACKNOWLEDGED);
    /* Free text is never stored: a reason is a code. */
    assert_int_equal(cu_request_extend(f->v, NULL, f->t, r, d30, "Ada's case", &err),
                     CU_ERR_INVALID);
    assert_int_equal(cu_request_extend(f->v, NULL, f->t, r, d90, "complex", &err), CU_ERR_INVALID);
    assert_int_equal(cu_request_extend(f->v, NULL, f->t, r, d30, "complex", &err), CU_OK);
    assert_int_equal(cu_request_extend(f->v, NULL, f->t, r, d30, "complex", &err), CU_ERR_CONFLICT);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_EXTENDED);
    assert_int_equal(get(f, f->t, r).answer_due, eod(2026, 3, 2));
    assert_string_equal(get(f, f->t, r).reason, "complex");
    /* A second request, never acknowledged: due soon two days before, overdue after. */
    r2 = admin_request(f, f->t, CU_REQ_RESTRICT, s, NULL, 0);
    cu_clock_set(at(2026, 1, 7, 12, 0, 0));
    assert_int_equal(cu_request_list(f->v, NULL, f->t, CU_REQ_LIST_DUE_SOON, &list, &n, &err),
                     CU_OK);
    assert_int_equal(n, 1);
    assert_true(list[0].id == r2);
    free(list);
    cu_clock_set(at(2026, 1, 9, 0, 0, 0));
    assert_int_equal(cu_request_list(f->v, NULL, f->t, CU_REQ_LIST_OVERDUE, &list, &n, &err),
                     CU_OK);
    assert_int_equal(n, 1);
    assert_true(list[0].id == r2 && list[0].overdue);
    free(list);
    {
        size_t open = 9, soon = 9, over = 9;
        assert_int_equal(cu_request_counts(f->v, f->t, &open, &soon, &over, &err), CU_OK);
        assert_int_equal(open, 2);
        assert_int_equal(over, 1);
        assert_int_equal(soon, 0);
    }
    assert_int_equal(cu_request_reject(f->v, NULL, f->t, r2, "duplicate", &err), CU_OK);
    assert_int_equal(cu_request_reject(f->v, NULL, f->t, r2, "duplicate", &err), CU_ERR_CONFLICT);
    assert_int_equal(cu_request_list(f->v, NULL, f->t, CU_REQ_LIST_OPEN, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(cu_request_list(f->v, NULL, f->t, CU_REQ_LIST_ALL, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(list);
}

/* Each transition is on the audit log with ids, type, state and reason code only. */
static void test_P_DSR_7_transitions_are_audited_without_personal_values(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada.lovelace", "ada@example.com");
    cu_id r = admin_request(f, f->t, CU_REQ_RESTRICT, s, NULL, 1);
    cu_audit_filter flt = {.limit = 1000};
    cu_audit_entry *e = NULL;
    size_t n = 0, seen = 0;
    cu_err err = {0};
    char want[64];

    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_OK);
    assert_int_equal(cu_audit_list(f->v, NULL, f->t, &flt, &e, &n, &err), CU_OK);
    snprintf(want, sizeof(want), "request:%llu:restrict:", (unsigned long long)r);
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(e[i].object, "ada"));
        if (strncmp(e[i].action, "request.", 8) == 0) {
            assert_memory_equal(e[i].object, want, strlen(want));
            seen++;
        }
    }
    free(e);
    assert_int_equal(seen, 3); /* file, acknowledge, complete */
}

/* --- verification (item 8) ------------------------------------------------------------------ */

static cu_request_filed subject_files(fx *f, cu_id t, cu_request_type type, const char *ext)
{
    cu_request_in in = {.type = type, .filer = CU_REQ_BY_SUBJECT, .external_id = ext};
    cu_request_filed out;
    cu_err err = {0};

    if (cu_request_file(f->v, NULL, t, &in, &out, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return out;
}

static void test_subject_request_is_verified_by_a_single_use_token(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL);
    cu_request_filed a = subject_files(f, f->t, CU_REQ_ACCESS, "ada");
    char wrong[CU_REQUEST_TOKEN_LEN];
    cu_err err = {0};
    cu_request q;

    assert_int_equal(strlen(a.token), 64);
    q = get(f, f->t, a.id);
    assert_true(q.subject_id == 0); /* nothing disclosed before verification */
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, a.id, &err), CU_ERR_CONFLICT);
    memcpy(wrong, a.token, sizeof(wrong));
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    assert_int_equal(cu_request_verify(f->v, NULL, f->t, a.id, wrong, &err), CU_ERR_AUTH);
    assert_int_equal(cu_request_verify(f->v, NULL, f->t, a.id, "short", &err), CU_ERR_AUTH);
    assert_int_equal(cu_request_verify(f->v, NULL, f->t, a.id, a.token, &err), CU_OK);
    q = get(f, f->t, a.id);
    assert_true(q.subject_id == s);
    assert_int_equal(q.state, CU_REQ_VERIFIED);
    /* Single use. */
    assert_int_equal(cu_request_verify(f->v, NULL, f->t, a.id, a.token, &err), CU_ERR_CONFLICT);
    if (cu_request_acknowledge(f->v, NULL, f->t, a.id, &err) != CU_OK)
        fail_msg("%s", err.msg);
}

static void test_subject_token_has_an_attempt_limit_and_an_expiry(void **state)
{
    fx *f = *state;
    cu_request_filed a, b;
    cu_err err = {0};

    subject(f, f->t, "ada", NULL);
    a = subject_files(f, f->t, CU_REQ_ERASE, "ada");
    for (int i = 0; i < CU_REQUEST_TOKEN_TRIES; i++)
        assert_int_equal(cu_request_verify(f->v, NULL, f->t, a.id, "x", &err), CU_ERR_AUTH);
    /* The tries are spent: the right token is refused too. */
    assert_int_equal(cu_request_verify(f->v, NULL, f->t, a.id, a.token, &err), CU_ERR_RATE_LIMITED);
    b = subject_files(f, f->t, CU_REQ_ERASE, "ada");
    cu_clock_set(cu_clock_now() + CU_REQUEST_TOKEN_TTL + 1);
    assert_int_equal(cu_request_verify(f->v, NULL, f->t, b.id, b.token, &err), CU_ERR_AUTH);
}

/* Filing answers the same for a known and an unknown subject; the verified unknown one is
 * told then that nothing is held. */
static void test_filing_answers_alike_for_known_and_unknown_subjects(void **state)
{
    fx *f = *state;
    cu_request_filed k, u;
    cu_err err = {0};
    cu_request qk, qu;

    subject(f, f->t, "ada", NULL);
    k = subject_files(f, f->t, CU_REQ_ACCESS, "ada");
    u = subject_files(f, f->t, CU_REQ_ACCESS, "nobody");
    assert_int_equal(k.ack_due, u.ack_due);
    assert_int_equal(k.answer_due, u.answer_due);
    assert_int_equal(strlen(k.token), strlen(u.token));
    qk = get(f, f->t, k.id);
    qu = get(f, f->t, u.id);
    qk.id = qu.id = 0;
    assert_memory_equal(&qk, &qu, sizeof(qk));
    assert_int_equal(cu_request_verify(f->v, NULL, f->t, u.id, u.token, &err), CU_OK);
    qu = get(f, f->t, u.id);
    assert_int_equal(qu.state, CU_REQ_REJECTED);
    assert_string_equal(qu.reason, "no_data_held");
}

/* --- processor mode (P-DSR-8) ---------------------------------------------------------------- */

static void test_P_DSR_8_processor_requests_wait_for_the_controller(void **state)
{
    fx *f = *state;
    cu_id t = tenant(f, "optymyze"), s = subject(f, t, "emp-7", NULL), r;
    cu_request_filed a, b;
    cu_err err = {0};

    a = subject_files(f, t, CU_REQ_ACCESS, "emp-7");
    assert_int_equal(cu_request_verify(f->v, NULL, t, a.id, a.token, &err), CU_OK);
    assert_int_equal(get(f, t, a.id).decision, CU_REQ_DECISION_PENDING);
    assert_int_equal(cu_request_acknowledge(f->v, NULL, t, a.id, &err), CU_ERR_CONFLICT);
    assert_int_equal(cu_request_decide(f->v, NULL, t, a.id, 1, NULL, &err), CU_OK);
    assert_int_equal(cu_request_decide(f->v, NULL, t, a.id, 1, NULL, &err), CU_ERR_CONFLICT);
    assert_int_equal(get(f, t, a.id).decision, CU_REQ_DECISION_APPROVED);
    assert_int_equal(cu_request_acknowledge(f->v, NULL, t, a.id, &err), CU_OK);
    b = subject_files(f, t, CU_REQ_ERASE, "emp-7");
    assert_int_equal(cu_request_decide(f->v, NULL, t, b.id, 0, NULL, &err), CU_ERR_INVALID);
    assert_int_equal(cu_request_decide(f->v, NULL, t, b.id, 0, "employment_law", &err), CU_OK);
    assert_int_equal(get(f, t, b.id).state, CU_REQ_REJECTED);
    assert_string_equal(get(f, t, b.id).reason, "employment_law");
    /* The controller's own administrators file without waiting; the clock is the tenant's
     * policy's (Optymyze: 5 business days, 30 days). */
    r = admin_request(f, t, CU_REQ_ACCESS, s, NULL, 1);
    assert_int_equal(get(f, t, r).decision, CU_REQ_DECISION_NONE);
    assert_int_equal(get(f, t, r).answer_due, eod(2026, 1, 31));
    /* A controller (SCM) decides nothing. */
    subject(f, f->t, "ada", NULL);
    a = subject_files(f, f->t, CU_REQ_ACCESS, "ada");
    assert_int_equal(get(f, f->t, a.id).decision, CU_REQ_DECISION_NONE);
    assert_int_equal(cu_request_decide(f->v, NULL, f->t, a.id, 1, NULL, &err), CU_ERR_CONFLICT);
}

/* --- subject_access only inside a request (P-DSR-1) ------------------------------------------ */

static void test_P_DSR_1_subject_access_only_inside_its_request(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL), o = subject(f, f->t, "bob", NULL);
    cu_id c = record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_id pending = admin_request(f, f->t, CU_REQ_ACCESS, s, NULL, 0);
    cu_id other = admin_request(f, f->t, CU_REQ_ACCESS, o, NULL, 1);
    cu_id restrict_r = admin_request(f, f->t, CU_REQ_RESTRICT, s, NULL, 1);
    cu_id r = admin_request(f, f->t, CU_REQ_ACCESS, s, NULL, 1);
    cu_ctx own = {.actor = "test", .purpose = CU_PURPOSE_SUBJECT_ACCESS, .dsr_request = r};
    cu_err err = {0};
    cu_id id;

    /* Stated alone, the purpose reaches nothing. */
    assert_int_equal(read_as(f, CU_PURPOSE_SUBJECT_ACCESS, 0, c, NULL), CU_ERR_PURPOSE_DENIED);
    assert_int_equal(read_as(f, CU_PURPOSE_SUBJECT_ACCESS, 424242, c, NULL), CU_ERR_PURPOSE_DENIED);
    assert_int_equal(read_as(f, CU_PURPOSE_SUBJECT_ACCESS, pending, c, NULL),
                     CU_ERR_PURPOSE_DENIED);
    assert_int_equal(read_as(f, CU_PURPOSE_SUBJECT_ACCESS, other, c, NULL), CU_ERR_PURPOSE_DENIED);
    assert_int_equal(read_as(f, CU_PURPOSE_SUBJECT_ACCESS, restrict_r, c, NULL),
                     CU_ERR_PURPOSE_DENIED);
    assert_int_equal(read_as(f, CU_PURPOSE_SUBJECT_ACCESS, r, c, NULL), CU_OK);
    /* The subject's own consent ledger too (it was refused to subject_access before). */
    {
        cu_consent *ledger = NULL;
        size_t n = 9;
        assert_int_equal(cu_consent_list(f->v, &own, f->t, s, &ledger, &n, &err), CU_OK);
        assert_int_equal(n, 0);
        free(ledger);
        own.dsr_request = other;
        assert_int_equal(cu_consent_list(f->v, &own, f->t, s, &ledger, &n, &err),
                         CU_ERR_PURPOSE_DENIED);
        own.dsr_request = r;
    }
    /* An access request reads; it writes nothing. */
    assert_int_equal(cu_record_update(f->v, &own, f->t, c, "{\"name\":\"A\"}", 12, &err),
                     CU_ERR_PURPOSE_DENIED);
    assert_int_equal(cu_record_put(f->v, &own, f->t, "contacts", s, "{}", 2, &id, &err),
                     CU_ERR_PURPOSE_DENIED);
    /* Closed, it reaches nothing any more. */
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_OK);
    assert_int_equal(read_as(f, CU_PURPOSE_SUBJECT_ACCESS, r, c, NULL), CU_ERR_PURPOSE_DENIED);
    /* The export's hook: checked, then not built here yet (the lead's). */
    assert_int_equal(cu_request_export_write(f->v, NULL, f->t, r, "json", NULL, NULL, &err),
                     CU_ERR_CONFLICT);
}

/* --- the rights carried out (P-DSR-3, -5, -6, -9) ------------------------------------------- */

static size_t find_email(fx *f, const char *email)
{
    cu_id *ids = NULL;
    size_t n = 0;
    cu_err err = {0};

    if (cu_subject_find(f->v, NULL, f->t, CU_SUBJECT_BY_EMAIL, email, &ids, &n, &err) != CU_OK)
        fail_msg("%s", err.msg);
    free(ids);
    return n;
}

static void test_P_DSR_3_rectify_profile_and_records_of_a_restricted_subject(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", "ada@old.example");
    cu_id c = record(f, "contacts", s, "{\"name\":\"Ad\"}");
    cu_id rs = admin_request(f, f->t, CU_REQ_RESTRICT, s, NULL, 1);
    cu_id r;
    cu_subject_in fix = {.email = "ada@new.example", .phone = "+44 20 7946 0000"};
    cu_ctx own = {.actor = "test", .purpose = CU_PURPOSE_SUBJECT_ACCESS};
    cu_subject got;
    cu_err err = {0};
    char *json = NULL;

    assert_int_equal(cu_request_complete(f->v, NULL, f->t, rs, NULL, &err), CU_OK);
    r = admin_request(f, f->t, CU_REQ_RECTIFY, s, NULL, 1);
    own.dsr_request = r;
    /* The records under the request: correcting is not processing against the restriction. */
    assert_int_equal(cu_record_update(f->v, &own, f->t, c, "{\"name\":\"Ada\"}", 14, &err), CU_OK);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, &fix, &err), CU_OK);
    assert_int_equal(cu_subject_get(f->v, NULL, f->t, s, &got, &err), CU_OK);
    assert_string_equal(got.email, "ada@new.example");
    assert_string_equal(got.external_id, "ada");
    assert_non_null(got.phone);
    assert_true(got.restricted);
    cu_subject_cleanup(&got);
    /* The blind indexes followed: the old value finds nothing, the new one the subject. */
    assert_int_equal(find_email(f, "ada@old.example"), 0);
    assert_int_equal(find_email(f, "ada@new.example"), 1);
    assert_int_equal(read_as(f, NULL, 0, c, &json), CU_OK);
    assert_non_null(strstr(json, "\"Ada\""));
    free(json);
    /* Corrections travel in a rectify request only, and a bad value changes nothing. */
    r = admin_request(f, f->t, CU_REQ_RECTIFY, s, NULL, 1);
    fix = (cu_subject_in){.birth_date = "2026-02-30"};
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, &fix, &err), CU_ERR_INVALID);
    r = admin_request(f, f->t, CU_REQ_ACCESS, s, NULL, 1);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, &fix, &err), CU_ERR_INVALID);
}

static void test_P_DSR_5_restrict_and_unrestrict_take_effect_at_once(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL);
    cu_id c = record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_id b = record(f, "billing_records", s, "{\"invoice_number\":\"INV-1\"}");
    cu_id r = admin_request(f, f->t, CU_REQ_RESTRICT, s, NULL, 1);
    cu_err err = {0};

    assert_int_equal(read_as(f, "provide_service", 0, c, NULL), CU_OK);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_OK);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_COMPLETED);
    assert_int_equal(read_as(f, "provide_service", 0, c, NULL), CU_ERR_RESTRICTED);
    assert_int_equal(read_as(f, "legal_compliance", 0, b, NULL), CU_OK);
    r = admin_request(f, f->t, CU_REQ_UNRESTRICT, s, NULL, 1);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_OK);
    assert_int_equal(read_as(f, "provide_service", 0, c, NULL), CU_OK);
    /* Completed once: not again. */
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_ERR_CONFLICT);
}

/* The answers of the purposes a right does not touch, before and after it is exercised. */
typedef struct probe {
    const char *purpose;
    cu_id rec;
} probe;

static void answers(fx *f, const probe *p, size_t n, cu_rc *rc, char **json)
{
    for (size_t i = 0; i < n; i++)
        rc[i] = read_as(f, p[i].purpose, 0, p[i].rec, &json[i]);
}

static void same_answers(const probe *p, size_t n, const cu_rc *rc0, char **j0, const cu_rc *rc1,
                         char **j1)
{
    for (size_t i = 0; i < n; i++) {
        if (rc0[i] != rc1[i])
            fail_msg("purpose %s: %s before, %s after", p[i].purpose, cu_rc_name(rc0[i]),
                     cu_rc_name(rc1[i]));
        assert_true((j0[i] == NULL) == (j1[i] == NULL));
        if (j0[i] != NULL)
            assert_string_equal(j0[i], j1[i]);
        free(j0[i]);
        free(j1[i]);
    }
}

static void test_P_DSR_6_P_DSR_9_objection_and_withdrawal_stop_only_what_they_name(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL);
    cu_id c = record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_id b = record(f, "billing_records", s, "{\"invoice_number\":\"INV-1\"}");
    const probe p[] = {{"provide_service", c},  {"support", c},     {"payments", b},
                       {"legal_compliance", b}, {"ai_training", c}, {"legal_disclosure", c}};
    cu_rc rc0[6], rc1[6];
    char *j0[6], *j1[6];
    cu_err err = {0};
    cu_id r;

    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s, "shared_on_request", CU_CONSENT_GRANT, NULL, &err),
        CU_OK);
    assert_int_equal(read_as(f, "shared_on_request", 0, c, NULL), CU_OK);
    answers(f, p, 6, rc0, j0);
    /* P-DSR-6: withdrawal stops the consent-based purpose it names ... */
    r = admin_request(f, f->t, CU_REQ_WITHDRAW_CONSENT, s, "shared_on_request", 1);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_OK);
    assert_int_equal(read_as(f, "shared_on_request", 0, c, NULL), CU_ERR_CONSENT_REQUIRED);
    /* ... an objection the legitimate-interest purpose it names (analytics has no collection
     * here: the ledger says it) ... */
    r = admin_request(f, f->t, CU_REQ_OBJECT, s, "analytics", 1);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_OK);
    assert_int_equal(cu_purpose_check(f->v, &(cu_ctx){.purpose = "analytics"}, f->t, s, NULL, &err),
                     CU_ERR_OBJECTED);
    assert_int_equal(cu_purpose_check(f->v, &(cu_ctx){.purpose = "security"}, f->t, s, NULL, &err),
                     CU_OK);
    /* ... and P-DSR-9: every other purpose answers exactly as before. */
    answers(f, p, 6, rc1, j1);
    same_answers(p, 6, rc0, j0, rc1, j1);
    /* An objection to a consent-based purpose is refused at completion, changing nothing. */
    r = admin_request(f, f->t, CU_REQ_OBJECT, s, "payments", 1);
    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_ERR_INVALID);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_ACKNOWLEDGED);
}

static void test_P_DSR_4_erase_request_erases_the_subject(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL);
    cu_id c = record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_id r = admin_request(f, f->t, CU_REQ_ERASE, s, NULL, 1);
    cu_err err = {0};

    assert_int_equal(cu_request_complete(f->v, NULL, f->t, r, NULL, &err), CU_OK);
    assert_int_equal(read_as(f, NULL, 0, c, NULL), CU_ERR_NOT_FOUND);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_COMPLETED);
}

typedef struct crash_req {
    const char *data;
    cu_id t, r;
} crash_req;

static void child_complete(void *p)
{
    crash_req *a = p;
    cu_vault *v = th_reopen(a->data);
    cu_err err = {0};
    char *cert = NULL;

    if (cu_request_complete_certified(v, NULL, a->t, a->r, NULL, &cert, &err) != CU_OK)
        _exit(4);
    free(cert);
    cu_vault_close(v);
}

/* P-DSR-4, issue 10: the erasure's certificate is stored in the erasure's own transaction. A
 * crash after that commit, before the request is completed: completing it again answers the
 * same signed certificate (before, none: the second pass only finished the erasure under way),
 * and reading the request gives it too, whenever it is read. */
static void test_P_DSR_4_certificate_survives_a_crash_after_the_erasure(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL);
    cu_id r = admin_request(f, f->t, CU_REQ_ERASE, s, NULL, 1);
    crash_req a = {.data = f->data, .t = f->t, .r = r};
    char *cert = NULL, *again = NULL, *read = NULL;
    cu_err err = {0};
    uint8_t pk[32];

    (void)record(f, "contacts", s, "{\"name\":\"Ada\"}");
    cu_vault_close(f->v);
    f->v = NULL;
    assert_int_equal(th_crash_at("erase.key_destroyed", child_complete, &a), 70);
    f->v = th_reopen(f->data);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_ACKNOWLEDGED); /* not completed */
    /* The erasure under way is finished only under a request of this subject: another
     * subject's request names no right over it (before, subject_access skipped the check). */
    {
        cu_id bob = subject(f, f->t, "bob-x", NULL);
        cu_ctx other = {.actor = "key:7",
                        .purpose = CU_PURPOSE_SUBJECT_ACCESS,
                        .dsr_request = admin_request(f, f->t, CU_REQ_ERASE, bob, NULL, 1)};
        assert_int_equal(cu_subject_erase_certified(f->v, &other, f->t, s, &cert, &err),
                         CU_ERR_PURPOSE_DENIED);
        assert_null(cert);
    }
    assert_int_equal(cu_request_certificate(f->v, NULL, f->t, r, &read, &err), CU_OK);
    assert_int_equal(cu_request_complete_certified(f->v, NULL, f->t, r, NULL, &cert, &err), CU_OK);
    assert_non_null(cert);
    assert_string_equal(cert, read);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_COMPLETED);
    assert_int_equal(cu_request_certificate(f->v, NULL, f->t, r, &again, &err), CU_OK);
    assert_string_equal(cert, again);
    cu_audit_public_key(f->v, pk);
    assert_int_equal(cu_erasure_certificate_verify(cert, strlen(cert), pk, &err), CU_OK);
    /* Another type of request has none. */
    free(read);
    assert_int_equal(cu_request_certificate(f->v, NULL, f->t,
                                            admin_request(f, f->t, CU_REQ_ACCESS,
                                                          subject(f, f->t, "bob", NULL), NULL, 0),
                                            &read, &err),
                     CU_ERR_NOT_FOUND);
    free(again);
    free(cert);
}

/* Issue 10: a tenant's purge (P-RET-2) deletes its data-subject requests, its erasure
 * certificates and the audit log's subject index with its mark (ids and token hashes only, but
 * the tenant's). Another tenant's stay. */
static void test_P_RET_2_purge_deletes_the_tenants_requests_and_subject_index(void **state)
{
    fx *f = *state;
    cu_id t2 = tenant(f, "scm");
    cu_id s = subject(f, f->t, "ada", NULL), s2 = subject(f, t2, "bob", NULL), gone;
    cu_sweep_report rep;
    cu_err err = {0};
    int64_t until;
    char sql[256];
    static const char *const tables[] = {"requests", "erasure_certificates", "audit_subjects",
                                         "audit_subject_marks"};

    (void)admin_request(f, f->t, CU_REQ_ACCESS, s, NULL, 1);
    (void)admin_request(f, t2, CU_REQ_ACCESS, s2, NULL, 1);
    gone = subject(f, f->t, "eve", NULL);
    assert_int_equal(cu_subject_erase(f->v, NULL, f->t, gone, &err), CU_OK);
    /* The subject index catches up when an export opens: one for each tenant. */
    {
        cu_request_in in = {.type = CU_REQ_EXPORT, .filer = CU_REQ_BY_ADMIN};
        cu_id ts[2] = {f->t, t2}, ss[2] = {s, s2};
        for (int i = 0; i < 2; i++) {
            cu_request_filed out;
            cu_subject_export *x = NULL;
            in.subject = ss[i];
            assert_int_equal(cu_request_file(f->v, NULL, ts[i], &in, &out, &err), CU_OK);
            assert_int_equal(cu_request_acknowledge(f->v, NULL, ts[i], out.id, &err), CU_OK);
            assert_int_equal(cu_request_export_open(f->v, NULL, ts[i], out.id, "json", &x, &err),
                             CU_OK);
            cu_subject_export_free(x);
        }
    }
    for (size_t i = 0; i < 4; i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE tenant_id = %llu", tables[i],
                 (unsigned long long)f->t);
        assert_true(th_sql_int(f->data, sql) > 0);
    }
    assert_int_equal(cu_tenant_terminate(f->v, NULL, f->t, &until, &err), CU_OK);
    cu_clock_set(until + 86400);
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(rep.tenants_purged, 1);
    for (size_t i = 0; i < 4; i++) {
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE tenant_id = %llu", tables[i],
                 (unsigned long long)f->t);
        assert_int_equal(th_sql_int(f->data, sql), 0);
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM requests WHERE tenant_id = %llu",
             (unsigned long long)t2);
    assert_int_equal(th_sql_int(f->data, sql), 2);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit_subjects WHERE tenant_id = %llu",
             (unsigned long long)t2);
    assert_true(th_sql_int(f->data, sql) > 0);
}

static void test_request_input_is_checked(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL), t2;
    cu_request_filed out;
    cu_request_type ty;
    cu_err err = {0};
    cu_tenant bare;

    assert_int_equal(
        cu_request_file(
            f->v, NULL, f->t,
            &(cu_request_in){.type = CU_REQ_OBJECT, .filer = CU_REQ_BY_ADMIN, .subject = s}, &out,
            &err),
        CU_ERR_INVALID);
    assert_int_equal(
        cu_request_file(
            f->v, NULL, f->t,
            &(cu_request_in){.type = (cu_request_type)99, .filer = CU_REQ_BY_ADMIN, .subject = s},
            &out, &err),
        CU_ERR_INVALID);
    assert_int_equal(
        cu_request_file(
            f->v, NULL, f->t,
            &(cu_request_in){.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_ADMIN, .subject = 77}, &out,
            &err),
        CU_ERR_NOT_FOUND);
    /* No policy, no deadlines. */
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "bare"}, &bare, &err),
                     CU_OK);
    t2 = bare.id;
    assert_int_equal(
        cu_request_file(
            f->v, NULL, t2,
            &(cu_request_in){.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_SUBJECT, .external_id = "x"},
            &out, &err),
        CU_ERR_CONFLICT);
    /* Another tenant's request is one that does not exist. */
    assert_int_equal(cu_request_get(f->v, NULL, t2,
                                    admin_request(f, f->t, CU_REQ_ACCESS, s, NULL, 0),
                                    &(cu_request){0}, &err),
                     CU_ERR_NOT_FOUND);
    /* Id 0 names no request (the store's list reads it as "all"), though f->t has some. */
    assert_int_equal(cu_request_get(f->v, NULL, f->t, 0, &(cu_request){0}, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, 0, &err), CU_ERR_NOT_FOUND);
    for (int i = 1; i < CU_REQ__COUNT; i++) {
        assert_int_equal(cu_request_type_parse(cu_request_type_name((cu_request_type)i), &ty),
                         CU_OK);
        assert_int_equal(ty, i);
    }
    assert_int_equal(cu_request_type_parse("forget", &ty), CU_ERR_INVALID);
}

/* docs/store.md: a transition applies only over the version it read, so two that raced never
 * both win. */
static void test_request_update_applies_over_the_version_read(void **state)
{
    fx *f = *state;
    cu_id s = subject(f, f->t, "ada", NULL);
    cu_id r = admin_request(f, f->t, CU_REQ_ACCESS, s, NULL, 0);
    cu_store_request *rows = NULL;
    cu_store_op op = {.type = CU_OP_REQUEST_UPDATE};
    size_t n = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_request_list(f->v->store, f->t, r, &rows, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].version, 1);
    op.u.request = rows[0];
    op.u.request.version = 2;
    op.u.request.state = CU_REQ_REJECTED;
    /* Another transition came first. */
    assert_int_equal(cu_request_acknowledge(f->v, NULL, f->t, r, &err), CU_OK);
    assert_int_equal(cu_store_apply(f->v->store, &op, 1, &err), CU_ERR_CONFLICT);
    assert_int_equal(get(f, f->t, r).state, CU_REQ_ACKNOWLEDGED);
    op.u.request.id = 12345;
    assert_int_equal(cu_store_apply(f->v->store, &op, 1, &err), CU_ERR_NOT_FOUND);
    op.type = CU_OP_REQUEST_PUT;
    op.u.request = rows[0];
    assert_int_equal(cu_store_apply(f->v->store, &op, 1, &err), CU_ERR_EXISTS);
    free(rows);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_DSR_7_acknowledgement_counts_business_days),
        T(test_P_DSR_7_answer_in_days_and_calendar_months),
        T(test_P_DSR_7_extension_up_to_the_policy_maximum),
        T(test_P_DSR_7_policy_holidays_and_due_dates_of_a_request),
        T(test_P_DSR_7_states_extension_and_overdue_lists),
        T(test_P_DSR_7_transitions_are_audited_without_personal_values),
        T(test_subject_request_is_verified_by_a_single_use_token),
        T(test_subject_token_has_an_attempt_limit_and_an_expiry),
        T(test_filing_answers_alike_for_known_and_unknown_subjects),
        T(test_P_DSR_8_processor_requests_wait_for_the_controller),
        T(test_P_DSR_1_subject_access_only_inside_its_request),
        T(test_P_DSR_3_rectify_profile_and_records_of_a_restricted_subject),
        T(test_P_DSR_5_restrict_and_unrestrict_take_effect_at_once),
        T(test_P_DSR_6_P_DSR_9_objection_and_withdrawal_stop_only_what_they_name),
        T(test_P_DSR_4_erase_request_erases_the_subject),
        T(test_P_DSR_4_certificate_survives_a_crash_after_the_erasure),
        T(test_P_RET_2_purge_deletes_the_tenants_requests_and_subject_index),
        T(test_request_input_is_checked),
        T(test_request_update_applies_over_the_version_read),
    };

    return cmocka_run_group_tests_name("data-subject requests (core)", tests, NULL, NULL);
}
