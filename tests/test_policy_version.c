/*
 * test_policy_version.c: a tenant's policy versions over time, below HTTP (P-NOT-1, P-NOT-2,
 * P-CON-5): a material change waits out the notice period while the version in force governs,
 * a narrowing one takes effect at once, a pending version is withdrawn, consents given before a
 * purpose's terms changed stop counting, never-promises refuse purposes and are material to
 * drop, and every step is in the audit log and the webhook outbox. Runs on SQLite and again
 * on PostgreSQL (run.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"         /* v->store: the stored versions as another server sees them */
#include "custos_webhook.h"
#include "policy_cache_int.h" /* cu_policy_for: the version the cache serves */
#include "th.h"
#include "util.h"

#define DAY 86400
#define D2026 1767225600 /* 2026-01-01 */

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t;
} fx;

/* A copy of a built-in policy (caller frees). */
static char *builtin(const char *id)
{
    size_t len = 0;
    const char *text = cu_policy_builtin(id, &len);
    char *s = calloc(1, len + 1);

    assert_non_null(text);
    assert_non_null(s);
    memcpy(s, text, len);
    return s;
}

/* text with its first `from` replaced by `to` (a new string; text is freed). */
static char *edit(char *text, const char *from, const char *to)
{
    char *at = strstr(text, from), *s;
    size_t n = strlen(text) + strlen(to) + 1;

    if (at == NULL)
        fail_msg("\"%s\" is not in the policy", from);
    s = calloc(1, n);
    assert_non_null(s);
    snprintf(s, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    free(text);
    return s;
}

/* SCM with a new consent purpose: a material change. */
static char *scm_plus_newsletter(void)
{
    return edit(builtin("scm"), "\npurposes:\n",
                "\npurposes:\n  newsletter:\n    data_use: marketing.communications.email\n"
                "    basis: consent\n    categories: [account]\n");
}

/* ERP Smart Cloud whose marketing purpose now reaches business data: material, and a purpose
 * whose consents it renews (its changes.fresh_consent). */
static char *erp_marketing_widened(void)
{
    return edit(builtin("erpsmartcloud"),
                "    data_use: marketing.communications.email\n    basis: consent\n"
                "    categories: [account]\n",
                "    data_use: marketing.communications.email\n    basis: consent\n"
                "    categories: [account, business]\n");
}

static cu_rc bind_text(fx *f, const char *text)
{
    cu_err err = {0};

    return cu_tenant_set_policy(f->v, NULL, f->t, text, strlen(text), "test", NULL, &err);
}

static void state(fx *f, cu_policy_state *st)
{
    cu_err err = {0};

    if (cu_policy_state_get(f->v, f->t, st, &err) != CU_OK)
        fail_msg("%s", err.msg);
}

/* The version the policy cache serves now. */
static unsigned served(fx *f)
{
    const cu_policy *p = NULL;
    unsigned version = 0;
    cu_err err = {0};

    if (cu_policy_for(f->v, f->t, &p, &version, &err) != CU_OK)
        fail_msg("%s", err.msg);
    cu_policy_release(f->v, p);
    return version;
}

static size_t audit_count(fx *f, const char *action)
{
    cu_audit_filter flt = {0};
    cu_audit_entry *e = NULL;
    size_t n = 0, c = 0;
    cu_err err = {0};

    if (cu_audit_list(f->v, NULL, f->t, &flt, &e, &n, &err) != CU_OK)
        fail_msg("%s", err.msg);
    for (size_t i = 0; i < n; i++)
        c += strcmp(e[i].action, action) == 0;
    free(e);
    return c;
}

static int setup_with(void **state_, const char *policy)
{
    fx *f = calloc(1, sizeof(*f));
    cu_tenant t;
    cu_err err = {0};
    size_t len = 0;
    const char *text = cu_policy_builtin(policy, &len);

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    if (cu_tenant_create(f->v, NULL,
                         &(cu_tenant_opts){.name = "customer", .policy = text, .policy_len = len},
                         &t, &err) != CU_OK)
        fail_msg("%s", err.msg);
    f->t = t.id;
    *state_ = f;
    return 0;
}

static int setup_scm(void **state_)
{
    return setup_with(state_, "scm");
}

static int setup_erp(void **state_)
{
    return setup_with(state_, "erpsmartcloud");
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

/* P-NOT-1: SCM promises 30 days' notice. A new purpose is material: the version is scheduled,
 * and the version in force governs every request (the cache, warm the whole time, answers by
 * the clock) until the stored effective time, when it switches exactly. */
static void test_P_NOT_1_a_material_change_waits_for_the_notice_period(void **state_)
{
    fx *f = *state_;
    char *text = scm_plus_newsletter();
    cu_policy_state st;
    cu_policy *p = NULL;
    unsigned version = 0;
    cu_err err = {0};

    assert_int_equal(served(f), 1);
    assert_int_equal(bind_text(f, text), CU_OK);
    state(f, &st);
    assert_int_equal(st.current, 1);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.pending_bound, D2026);
    assert_int_equal(st.pending_at, D2026 + 30 * DAY);
    assert_string_equal(st.fresh, ""); /* SCM does not ask fresh consent */
    assert_int_equal(served(f), 1);
    assert_int_equal(cu_tenant_policy(f->v, f->t, &p, &version, &err), CU_OK);
    assert_int_equal(version, 1);
    assert_null(cu_policy_purpose_get(p, "newsletter"));
    cu_policy_free(p);
    /* Day 29, the last second before: still version 1. */
    cu_clock_set(D2026 + 29 * DAY);
    assert_int_equal(served(f), 1);
    cu_clock_set(D2026 + 30 * DAY - 1);
    assert_int_equal(served(f), 1);
    /* Day 30: version 2, with no bind, forget or restart in between. */
    cu_clock_set(D2026 + 30 * DAY);
    assert_int_equal(served(f), 2);
    state(f, &st);
    assert_int_equal(st.current, 2);
    assert_int_equal(st.pending, 0);
    assert_int_equal(audit_count(f, "policy.schedule"), 1);
    free(text);
}

/* P-NOT-1: the switch comes from the stored effective time, so a server that did not bind the
 * version switches at the same second. Another server binds here through the store behind this
 * vault's back (its cache warm, nothing tells it), as it would on a shared database. */
static void test_P_NOT_1_every_server_switches_at_the_stored_time(void **state_)
{
    fx *f = *state_;
    char *text = scm_plus_newsletter();
    const cu_policy *p = NULL;
    cu_store_op op = {0};
    unsigned version = 0;
    cu_err err = {0};

    assert_int_equal(served(f), 1);
    op.type = CU_OP_POLICY_PUT;
    op.u.policy.tenant_id = f->t;
    op.u.policy.version = 2;
    op.u.policy.text = text;
    op.u.policy.created_at = D2026;
    op.u.policy.effective_at = D2026 + 30 * DAY;
    assert_int_equal(cu_store_apply(f->v->store, &op, 1, &err), CU_OK);
    assert_int_equal(served(f), 1);
    cu_clock_set(D2026 + 30 * DAY - 1);
    assert_int_equal(served(f), 1);
    cu_clock_set(D2026 + 30 * DAY);
    assert_int_equal(cu_policy_for(f->v, f->t, &p, &version, &err), CU_OK);
    assert_non_null(cu_policy_purpose_get(p, "newsletter"));
    cu_policy_release(f->v, p);
    assert_int_equal(version, 2);
    free(text);
}

/* P-NOT-1: a change that only narrows (a purpose removed, a retention shortened) takes effect at
 * once. */
static void test_P_NOT_1_a_narrowing_change_takes_effect_at_once(void **state_)
{
    fx *f = *state_;
    char *text = edit(builtin("scm"), "retention: {keep: 7y, from: created, then: delete}",
                      "retention: {keep: 6y, from: created, then: delete}");
    cu_policy_state st;

    text = edit(text,
                "  shared_on_request:\n    # P-SHR-1: \"With your consent: When you explicitly "
                "direct us to share information.\"\n    data_use: third_party_sharing\n"
                "    basis: consent\n    categories: [account, customer_data]\n",
                "");
    assert_int_equal(bind_text(f, text), CU_OK);
    state(f, &st);
    assert_int_equal(st.current, 2);
    assert_int_equal(st.pending, 0);
    assert_int_equal(served(f), 2);
    assert_int_equal(audit_count(f, "policy.schedule"), 0);
    assert_int_equal(audit_count(f, "policy.set"), 2);
    free(text);
}

/* P-NOT-1: the tenant withdraws a pending version: it never takes effect, the store refuses a
 * second withdrawal and one of a version in force; while one is pending no other is bound. */
static void test_P_NOT_1_a_pending_version_is_withdrawn(void **state_)
{
    fx *f = *state_;
    char *text = scm_plus_newsletter();
    cu_policy_state st;
    cu_err err = {0};

    assert_int_equal(bind_text(f, text), CU_OK);
    assert_int_equal(bind_text(f, text), CU_ERR_CONFLICT);
    assert_int_equal(cu_policy_withdraw(f->v, NULL, f->t, 1, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_policy_withdraw(f->v, NULL, f->t, 2, &err), CU_OK);
    assert_int_equal(cu_policy_withdraw(f->v, NULL, f->t, 2, &err), CU_ERR_NOT_FOUND);
    state(f, &st);
    assert_int_equal(st.pending, 0);
    cu_clock_set(D2026 + 31 * DAY);
    assert_int_equal(served(f), 1);
    /* Withdrawn, it makes room: the next version is 3. */
    assert_int_equal(bind_text(f, text), CU_OK);
    state(f, &st);
    assert_int_equal(st.pending, 3);
    assert_int_equal(st.pending_at, D2026 + 61 * DAY);
    assert_int_equal(audit_count(f, "policy.withdraw"), 1);
    free(text);
}

/* P-NOT-1: the sweep notes the version in force once (policy.in_force), whoever sweeps first. */
static void test_P_NOT_1_the_sweep_notes_the_version_in_force_once(void **state_)
{
    fx *f = *state_;
    char *text = scm_plus_newsletter();
    unsigned noted = 9;
    cu_err err = {0};

    assert_int_equal(bind_text(f, text), CU_OK);
    assert_int_equal(cu_policy_note_in_force(f->v, NULL, f->t, &noted, &err), CU_OK);
    assert_int_equal(noted, 0);
    cu_clock_set(D2026 + 30 * DAY);
    assert_int_equal(cu_policy_note_in_force(f->v, NULL, f->t, &noted, &err), CU_OK);
    assert_int_equal(noted, 1);
    assert_int_equal(cu_policy_note_in_force(f->v, NULL, f->t, &noted, &err), CU_OK);
    assert_int_equal(noted, 0);
    assert_int_equal(audit_count(f, "policy.in_force"), 1);
    free(text);
}

/* P-NOT-1: the diff names each area and judges it. */
static void test_P_NOT_1_the_diff_says_what_is_material(void **state_)
{
    static const struct {
        const char *from, *to;
        int material;
        const char *area;
    } cases[] = {
        {"retention: {keep: 7y, from: created, then: delete}",
         "retention: {keep: 8y, from: created, then: delete}", 1, "retention"},
        {"retention: {keep: 7y, from: created, then: delete}",
         "retention: {keep: 5y, from: created, then: delete}", 0, "retention"},
        {"minimum_age: 16", "minimum_age: 13", 1, "minimum_age"},
        {"minimum_age: 16", "minimum_age: 18", 0, "minimum_age"},
        {"    data_use: essential.service.security\n    basis: legitimate_interest",
         "    data_use: essential.service.security\n    basis: contract", 1, "legal_basis"},
        {"    data_use: essential.service.security\n", "    data_use: essential.fraud_detection\n",
         1, "data_use"},
        {"sub_processors:\n",
         "sub_processors:\n  - name: new analytics vendor\n    purpose: "
         "analytics\n    location: US\n",
         1, "sub_processors"},
        {"  - name: hosting provider (not named in the seed)\n    purpose: provide_service\n"
         "    location: not stated (transfers under Standard Contractual Clauses)\n",
         "", 0, "sub_processors"},
        {"never: [sale, advertising, cross_customer]", "never: [sale, cross_customer]", 1, "never"},
        {"notice_period: 30d", "notice_period: 7d", 1, "notice"},
        /* P-CON-3: cookies set where they were not, a further category with consent. */
        {"  analytics: never\n", "  analytics: consent\n", 1, "cookies"},
        {"  advertising: never\n", "  advertising: never\n  support_chat: consent\n", 1,
         "cookies"},
    };
    cu_policy *old = NULL;
    cu_err err = {0};
    char *base = builtin("scm");

    (void)state_;
    assert_int_equal(cu_policy_parse(base, strlen(base), "old", &old, &err), CU_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = edit(builtin("scm"), cases[i].from, cases[i].to);
        cu_policy *nw = NULL;
        cu_policy_diff d;
        if (cu_policy_parse(text, strlen(text), "new", &nw, &err) != CU_OK)
            fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(cu_policy_diff_compute(old, nw, &d, &err), CU_OK);
        if (d.n != 1 || d.material != cases[i].material ||
            strcmp(d.changes[0].area, cases[i].area) != 0)
            fail_msg("case %zu: %zu changes, material %d, first %s", i, d.n, d.material,
                     d.n ? d.changes[0].text : "-");
        assert_int_equal(cu_policy_diff_effective(old, nw, &d, 0), d.material ? 30 * DAY : 0);
        cu_policy_diff_cleanup(&d);
        cu_policy_free(nw);
        free(text);
    }
    cu_policy_free(old);
    free(base);
}

/* P-NOT-1, P-CON-3: Global Privacy Control turning off less is material (analytics cookies
 * then set for visitors who sent it, with no notice otherwise); turning off more is not; a
 * consent category made never, or a further one dropped, narrows. */
static void test_P_NOT_1_cookie_changes_judged(void **state_)
{
    static const struct {
        const char *from, *to;
        int material;
    } cases[] = {
        {"  gpc: [analytics, advertising]", "  gpc: [advertising]", 1},
        {"  gpc: [analytics, advertising]", "  gpc: [analytics, preference, advertising]", 0},
        {"  preference: consent\n", "  preference: never\n", 0},
    };
    cu_policy *old = NULL;
    cu_err err = {0};
    char *base = builtin("erpsmartcloud");

    (void)state_;
    assert_int_equal(cu_policy_parse(base, strlen(base), "old", &old, &err), CU_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = edit(builtin("erpsmartcloud"), cases[i].from, cases[i].to);
        cu_policy *nw = NULL;
        cu_policy_diff d;
        if (cu_policy_parse(text, strlen(text), "new", &nw, &err) != CU_OK)
            fail_msg("case %zu: %s", i, err.msg);
        assert_int_equal(cu_policy_diff_compute(old, nw, &d, &err), CU_OK);
        if (d.n != 1 || d.material != cases[i].material ||
            strcmp(d.changes[0].area, "cookies") != 0)
            fail_msg("case %zu: %zu changes, material %d, first %s", i, d.n, d.material,
                     d.n ? d.changes[0].text : "-");
        cu_policy_diff_cleanup(&d);
        cu_policy_free(nw);
        free(text);
    }
    cu_policy_free(old);
    free(base);
}

/* P-NOT-2: ERP Smart Cloud asks fresh consent. Marketing now reaches business data: from the
 * new version's effective day (14 days on), the consent Ada gave before it was bound no longer
 * counts; she is listed until she consents again, which counts at once. */
static void test_P_NOT_2_consent_before_a_change_stops_counting(void **state_)
{
    fx *f = *state_;
    char *text = erp_marketing_widened();
    cu_ctx mk = {.actor = "test", .purpose = "marketing"};
    cu_subject_in in = {.external_id = "ada", .birth_date = "1990-01-01"};
    cu_fresh_need *need = NULL;
    cu_policy_state st;
    cu_record r;
    size_t n = 0;
    int more = 1;
    cu_err err = {0};
    cu_id ada = 0, bob = 0, rec = 0;

    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &ada, &err), CU_OK);
    in.external_id = "bob";
    assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &bob, &err), CU_OK);
    assert_int_equal(
        cu_record_put(f->v, NULL, f->t, "accounts", ada, "{\"company\":\"Acme\"}", 18, &rec, &err),
        CU_OK);
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, ada, "marketing", CU_CONSENT_GRANT, "web", &err),
        CU_OK);
    cu_clock_set(D2026 + DAY);
    assert_int_equal(bind_text(f, text), CU_OK);
    state(f, &st);
    assert_int_equal(st.pending_at, D2026 + 15 * DAY);
    assert_string_equal(st.fresh, "marketing");
    /* Listed ahead of the change; Bob gave no consent and is not. */
    assert_int_equal(cu_policy_fresh_needed(f->v, f->t, 0, 10, &need, &n, &more, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(need[0].subject, ada);
    assert_string_equal(need[0].purpose, "marketing");
    assert_int_equal(need[0].due, D2026 + 15 * DAY);
    assert_int_equal(more, 0);
    free(need);
    /* Day 13 after binding: the old terms and the old consent still hold. */
    cu_clock_set(D2026 + 14 * DAY);
    assert_int_equal(cu_record_get(f->v, &mk, f->t, rec, &r, &err), CU_OK);
    cu_record_cleanup(&r);
    /* Day 14: the old consent no longer counts. */
    cu_clock_set(D2026 + 15 * DAY);
    assert_int_equal(cu_record_get(f->v, &mk, f->t, rec, &r, &err), CU_ERR_CONSENT_REQUIRED);
    assert_non_null(strstr(err.msg, "P-NOT-2"));
    assert_int_equal(cu_policy_fresh_needed(f->v, f->t, 0, 10, &need, &n, &more, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(need[0].since, D2026 + DAY);
    free(need);
    /* Consent given again counts. */
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, ada, "marketing", CU_CONSENT_GRANT, "web", &err),
        CU_OK);
    assert_int_equal(cu_record_get(f->v, &mk, f->t, rec, &r, &err), CU_OK);
    cu_record_cleanup(&r);
    assert_int_equal(cu_policy_fresh_needed(f->v, f->t, 0, 10, &need, &n, &more, &err), CU_OK);
    assert_int_equal(n, 0);
    free(need);
    free(text);
}

static int by_id(const void *a, const void *b)
{
    cu_id x = *(const cu_id *)a, y = *(const cu_id *)b;

    return (x > y) - (x < y);
}

/* Pages through the fresh-consent list with limit: each of the want subjects (ids sorted) is
 * listed exactly once and in order, every page but the last says more, the last one does not. */
static void page_fresh(fx *f, size_t limit, const cu_id *want, size_t nwant)
{
    size_t seen = 0, pages = 0;
    cu_id after = 0;
    int more = 1;

    while (more) {
        cu_fresh_need *need = NULL;
        size_t n = 0;
        cu_err err = {0};
        assert_int_equal(cu_policy_fresh_needed(f->v, f->t, after, limit, &need, &n, &more, &err),
                         CU_OK);
        assert_true(n > 0 && n <= limit);
        for (size_t i = 0; i < n; i++) {
            assert_true(seen < nwant);
            assert_int_equal(need[i].subject, want[seen++]);
            assert_string_equal(need[i].purpose, "marketing");
        }
        after = need[n - 1].subject;
        free(need);
        assert_true(++pages <= nwant);
    }
    assert_int_equal(seen, nwant);
}

/* P-NOT-2: more than a store page (256) of subjects must consent again, and two after them need
 * not: paged with any limit, each is listed once, and `more` is true exactly when one remains
 * (also when the subject that fills the limit ends a store page, or only subjects without a
 * need follow it). */
static void test_P_NOT_2_every_subject_listed_once_across_pages(void **state_)
{
    enum { WANT = 260, ALL = WANT + 2 };
    static const size_t limits[] = {256, 100, 128, WANT - 1, WANT, 1000};
    fx *f = *state_;
    char *text = erp_marketing_widened();
    cu_id ids[ALL];
    cu_err err = {0};

    for (size_t i = 0; i < ALL; i++) {
        char ext[16];
        cu_subject_in in = {.external_id = ext, .birth_date = "1990-01-01"};
        snprintf(ext, sizeof(ext), "s%03zu", i);
        assert_int_equal(cu_subject_create(f->v, NULL, f->t, &in, &ids[i], &err), CU_OK);
    }
    /* Ids are random: the first WANT by id consent, the last two do not. */
    qsort(ids, ALL, sizeof(ids[0]), by_id);
    for (size_t i = 0; i < WANT; i++)
        assert_int_equal(
            cu_consent_record(f->v, NULL, f->t, ids[i], "marketing", CU_CONSENT_GRANT, "web", &err),
            CU_OK);
    cu_clock_set(D2026 + DAY);
    assert_int_equal(bind_text(f, text), CU_OK);
    for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++)
        page_fresh(f, limits[k], ids, WANT);
    free(text);
}

static int by_text(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The tenant's webhook events as "type v<version> [purposes]" lines, sorted (an event's id
 * starts with the time it is about, so the list's order is not the order of the steps). */
static void events(fx *f, char *out, size_t cap)
{
    cu_webhook_event *e = NULL;
    char line[16][128];
    size_t n = 0, len = 0;
    cu_err err = {0};

    if (cu_webhook_event_list(f->v, NULL, f->t, 0, 100, &e, &n, &err) != CU_OK)
        fail_msg("%s", err.msg);
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        const char *v = strstr(e[i].data, "\"policy_version\":\""), *p;
        p = strstr(e[i].data, "\"purposes\":");
        snprintf(line[i], sizeof(line[i]), "%s v%.*s%s%.*s", e[i].type,
                 v ? (int)strcspn(v + 18, "\"") : 0, v ? v + 18 : "", p ? " " : "",
                 p ? (int)strcspn(p + 11, "}") : 0, p ? p + 11 : "");
        cu_webhook_event_cleanup(&e[i]);
    }
    free(e);
    qsort(line, n, sizeof(line[0]), by_text);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, cap - len, "%s\n", line[i]);
        assert_true(len < cap);
    }
}

/* A webhook endpoint of the tenant's that takes every event (none is sent: no worker runs). */
static void hook(fx *f)
{
    char secret[CU_WEBHOOK_SECRET_MAX];
    cu_id id = 0;
    cu_err err = {0};

    if (cu_webhook_endpoint_create(f->v, NULL, f->t, "https://hooks.example/p", "*", &id, secret,
                                   &err) != CU_OK)
        fail_msg("%s", err.msg);
}

/* P-NOT-1, P-NOT-2: each step of a version is an outbox event in its own transaction: bound
 * with notice (and the purposes whose consents it renews), in force when the sweep notes it,
 * once; a binding refused leaves none; a version without notice is in force at once. */
static void test_P_NOT_1_each_step_is_a_webhook_event(void **state_)
{
    fx *f = *state_;
    char *text = erp_marketing_widened();
    char got[1024];
    unsigned noted = 0;
    cu_err err = {0};

    hook(f);
    cu_clock_set(D2026 + DAY);
    assert_int_equal(bind_text(f, text), CU_OK);
    events(f, got, sizeof(got));
    assert_string_equal(got, "consent.fresh_needed v2 [\"marketing\"]\n"
                             "policy.version_scheduled v2\n");
    assert_int_equal(bind_text(f, text), CU_ERR_CONFLICT); /* one pending at a time */
    cu_clock_set(D2026 + 15 * DAY);
    assert_int_equal(cu_policy_note_in_force(f->v, NULL, f->t, &noted, &err), CU_OK);
    assert_int_equal(cu_policy_note_in_force(f->v, NULL, f->t, &noted, &err), CU_OK);
    events(f, got, sizeof(got));
    assert_string_equal(got, "consent.fresh_needed v2 [\"marketing\"]\n"
                             "policy.version_in_force v2\n"
                             "policy.version_scheduled v2\n");
    /* Going back narrows what marketing may use: at once, its event with it. */
    free(text);
    text = builtin("erpsmartcloud");
    assert_int_equal(bind_text(f, text), CU_OK);
    events(f, got, sizeof(got));
    assert_string_equal(got, "consent.fresh_needed v2 [\"marketing\"]\n"
                             "policy.version_in_force v2\n"
                             "policy.version_in_force v3\n"
                             "policy.version_scheduled v2\n");
    free(text);
}

/* The sweep notes versions in force for active tenants only: a terminated tenant's scheduled
 * version is told to nobody (no note, no event), and its retention still runs. */
static void test_P_NOT_1_no_note_for_a_terminated_tenant(void **state_)
{
    fx *f = *state_;
    char *text = scm_plus_newsletter();
    cu_sweep_report rep;
    char got[1024];
    int64_t until = 0;
    cu_err err = {0};

    hook(f);
    assert_int_equal(bind_text(f, text), CU_OK);
    assert_int_equal(cu_tenant_terminate(f->v, NULL, f->t, &until, &err), CU_OK);
    cu_clock_set(D2026 + 30 * DAY);
    memset(&rep, 0, sizeof(rep));
    if (cu_sweep(f->v, NULL, &rep, &err) != CU_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(audit_count(f, "policy.in_force"), 0);
    events(f, got, sizeof(got));
    assert_null(strstr(got, "policy.version_in_force"));
    free(text);
}

/* P-NOT-2: without fresh_consent (SCM), a changed purpose keeps the consents given before. */
static void test_P_NOT_2_only_where_the_policy_says_so(void **state_)
{
    fx *f = *state_;
    char *text = edit(builtin("scm"),
                      "    data_use: third_party_sharing\n    basis: consent\n"
                      "    categories: [account, customer_data]",
                      "    data_use: third_party_sharing\n    basis: consent\n"
                      "    categories: [account, customer_data, usage]");
    cu_policy_state st;

    assert_int_equal(bind_text(f, text), CU_OK);
    state(f, &st);
    assert_int_equal(st.pending, 2);
    assert_string_equal(st.fresh, "");
    free(text);
}

/* P-CON-5: sale is refused outright under all five seed policies, and each refuses a purpose
 * its other promises exclude, naming the promise. */
static void test_P_CON_5_never_promises_refuse_purposes(void **state_)
{
    static const char *const seeds[] = {"scm", "scalemule", "erpsmartcloud", "customermaps",
                                        "optymyze"};
    static const struct {
        const char *seed, *use, *promise;
    } more[] = {
        {"scm", "marketing.advertising.first_party.targeted", "advertising"},
        {"erpsmartcloud", "marketing.advertising.serving", "advertising"},
        {"customermaps", "train_ai_system", "model_training"},
    };
    cu_err err = {0};
    cu_policy *p = NULL;

    (void)state_;
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char *ok = builtin(seeds[i]), *text, to[256];
        assert_int_equal(cu_policy_parse(ok, strlen(ok), seeds[i], &p, &err), CU_OK);
        assert_true(cu_policy_never(p) & CU_NEVER_SALE);
        snprintf(
            to, sizeof(to),
            "\npurposes:\n  resale:\n    data_use: marketing.advertising.third_party.targeted\n"
            "    basis: consent\n    categories: [%s]\n",
            cu_policy_category_at(p, 0)->name);
        cu_policy_free(p);
        text = edit(ok, "\npurposes:\n", to);
        assert_int_equal(cu_policy_parse(text, strlen(text), seeds[i], &p, &err), CU_ERR_INVALID);
        if (strstr(err.msg, "breaks the promise never: sale (P-CON-5)") == NULL)
            fail_msg("%s: %s", seeds[i], err.msg);
        free(text);
    }
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
        char to[256], *text;
        snprintf(to, sizeof(to),
                 "\npurposes:\n  nope:\n    data_use: %s\n    basis: consent\n"
                 "    categories: [%s]\n",
                 more[i].use, strcmp(more[i].seed, "customermaps") ? "account" : "user_accounts");
        text = edit(builtin(more[i].seed), "\npurposes:\n", to);
        assert_int_equal(cu_policy_parse(text, strlen(text), more[i].seed, &p, &err),
                         CU_ERR_INVALID);
        assert_non_null(strstr(err.msg, more[i].promise));
        free(text);
    }
}

/* P-CON-5: a version that drops a promise is material: it waits the full notice (the longer of
 * the two versions'), and every consent is given again, whether or not the policy asks fresh
 * consent otherwise. The API's PUT is the same call. */
static void test_P_CON_5_dropping_a_promise_needs_notice_and_fresh_consent(void **state_)
{
    fx *f = *state_;
    char *text = edit(builtin("scm"), "never: [sale, advertising, cross_customer]",
                      "never: [sale, cross_customer]");
    cu_policy_state st;

    text = edit(text, "notice_period: 30d", "notice_period: 45d");
    assert_int_equal(bind_text(f, text), CU_OK);
    state(f, &st);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.pending_at, D2026 + 45 * DAY);
    assert_string_equal(st.fresh, "*");
    free(text);
}

/* P-CON-5: a promise added narrows: at once. */
static void test_P_CON_5_adding_a_promise_takes_effect_at_once(void **state_)
{
    fx *f = *state_;
    char *text = edit(builtin("scm"), "never: [sale, advertising, cross_customer]",
                      "never: [sale, advertising, model_training, cross_customer]");
    cu_policy_state st;
    cu_err err = {0};

    /* SCM's ai_training purpose trains models, so this promise cannot stand beside it. */
    assert_int_equal(bind_text(f, text), CU_ERR_INVALID);
    (void)err;
    free(text);
    text = edit(builtin("scm"), "never: [sale, advertising, cross_customer]",
                "never: [sale, advertising, cross_customer]\n# restated");
    assert_int_equal(bind_text(f, text), CU_OK);
    state(f, &st);
    assert_int_equal(st.current, 2);
    free(text);
}

#define T(fn, s) cmocka_unit_test_setup_teardown(fn, s, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_NOT_1_a_material_change_waits_for_the_notice_period, setup_scm),
        T(test_P_NOT_1_every_server_switches_at_the_stored_time, setup_scm),
        T(test_P_NOT_1_a_narrowing_change_takes_effect_at_once, setup_scm),
        T(test_P_NOT_1_a_pending_version_is_withdrawn, setup_scm),
        T(test_P_NOT_1_the_sweep_notes_the_version_in_force_once, setup_scm),
        cmocka_unit_test(test_P_NOT_1_the_diff_says_what_is_material),
        cmocka_unit_test(test_P_NOT_1_cookie_changes_judged),
        T(test_P_NOT_2_consent_before_a_change_stops_counting, setup_erp),
        T(test_P_NOT_2_only_where_the_policy_says_so, setup_scm),
        T(test_P_NOT_2_every_subject_listed_once_across_pages, setup_erp),
        T(test_P_NOT_1_each_step_is_a_webhook_event, setup_erp),
        T(test_P_NOT_1_no_note_for_a_terminated_tenant, setup_scm),
        cmocka_unit_test(test_P_CON_5_never_promises_refuse_purposes),
        T(test_P_CON_5_dropping_a_promise_needs_notice_and_fresh_consent, setup_scm),
        T(test_P_CON_5_adding_a_promise_takes_effect_at_once, setup_scm),
    };

    return cmocka_run_group_tests_name("policy versions (P-NOT-1, P-NOT-2, P-CON-5)", tests, NULL,
                                       NULL);
}
