/*
 * test_export.c: the streamed tenant export (src/core/export.c; P-DSR-1, P-DSR-2, P-RET-2).
 *
 * The export was one cJSON tree printed at the end; it is now made piece by piece from pages
 * of the store. These tests keep that earlier builder here, as it was (old_export), and hold
 * the streamed document to it byte for byte over subjects, consent ledgers, records with
 * sealed fields and awkward values, the tenant's own records and more than a page of each;
 * then read it in pieces of every size, and fail it midway to see an error, never a shorter
 * document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core_int.h"
#include "json.h"
#include "policy_cache_int.h"
#include "record_int.h"
#include "subject_int.h"
#include "th.h"
#include "util.h"

#define D2026 1767225600
#define PAGE 256

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t;
    char *want; /* old_export's document */
    size_t want_len;
} fx;

/* --- the export as it was built before it streamed (lifecycle.c, before issue 17) --------- */

static cJSON *add_id(cJSON *o, const char *name, cu_id id)
{
    char buf[CU_ID_STRLEN];

    cu_id_format(id, buf);
    return cJSON_AddStringToObject(o, name, buf);
}

static cJSON *add_time(cJSON *o, const char *name, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char buf[32];

    gmtime_r(&tt, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return cJSON_AddStringToObject(o, name, buf);
}

static void old_record(cu_vault *v, cu_id tenant, cu_id id, cJSON *into)
{
    cu_record r = {0};
    cJSON *o, *doc = NULL;
    cu_err err = {0};

    if (cu_record_read(v, tenant, id, &r, &err) != CU_OK)
        return;
    assert_int_equal(cu_json_parse(r.json, strlen(r.json), &doc, NULL, &err), CU_OK);
    o = cJSON_CreateObject();
    cJSON_AddItemToArray(into, o);
    add_id(o, "id", r.id);
    cJSON_AddStringToObject(o, "collection", r.collection);
    add_time(o, "created_at", r.created_at);
    add_time(o, "updated_at", r.updated_at);
    cJSON_AddItemToObject(o, "data", doc);
    cu_record_cleanup(&r);
}

static void old_subject(cu_vault *v, cu_id tenant, cu_id id, cJSON *into)
{
    cu_subject s = {0};
    cu_store_consent *c = NULL;
    cu_id *ids = NULL;
    size_t n = 0;
    cJSON *o, *a, *recs;
    cu_err err = {0};

    if (cu_subject_read(v, tenant, id, &s, &err) != CU_OK)
        return;
    o = cJSON_CreateObject();
    cJSON_AddItemToArray(into, o);
    add_id(o, "id", id);
    cJSON_AddStringToObject(o, "external_id", s.external_id);
    if (s.email)
        cJSON_AddStringToObject(o, "email", s.email);
    if (s.phone)
        cJSON_AddStringToObject(o, "phone", s.phone);
    if (s.birth_date)
        cJSON_AddStringToObject(o, "birth_date", s.birth_date);
    cJSON_AddBoolToObject(o, "restricted", s.restricted);
    cu_subject_cleanup(&s);
    a = cJSON_AddArrayToObject(o, "consents");
    assert_int_equal(cu_store_consent_list(v->store, tenant, id, NULL, &c, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(a, e);
        cJSON_AddStringToObject(e, "purpose", c[i].purpose);
        cJSON_AddStringToObject(e, "action",
                                cu_consent_action_name((cu_consent_action)c[i].action));
        add_time(e, "at", c[i].at);
        cJSON_AddStringToObject(e, "source", c[i].source);
        cJSON_AddStringToObject(e, "policy_version", c[i].policy_version);
    }
    free(c);
    recs = cJSON_AddArrayToObject(o, "records");
    assert_int_equal(cu_store_record_ids_by_subject(v->store, tenant, id, &ids, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        old_record(v, tenant, ids[i], recs);
    free(ids);
}

/* The export's order: by created_at, then the store's cursor (SQLite: insertion order). */
static int by_created_then_cursor(const void *a, const void *b)
{
    const cu_store_record_meta *x = a, *y = b;

    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return x->cursor < y->cursor ? -1 : x->cursor > y->cursor;
}

/* The whole document, as cu_tenant_export made it before issue 17 (the own records' order
 * aside, below). */
static char *old_export(cu_vault *v, cu_id tenant)
{
    cJSON *doc = cJSON_CreateObject(), *t, *subjects, *own;
    cu_store_tenant st;
    const cu_policy *p = NULL;
    unsigned pver = 0;
    cu_id after = 0;
    cu_err err = {0};
    cu_store_record_meta *mine = NULL;
    size_t nmine = 0;
    char *json;
    size_t n;

    assert_int_equal(cu_store_tenant_get(v->store, tenant, &st, &err), CU_OK);
    (void)cu_policy_for(v, tenant, &p, &pver, &err);
    t = cJSON_AddObjectToObject(doc, "tenant");
    add_id(t, "id", tenant);
    cJSON_AddStringToObject(t, "name", st.name);
    cJSON_AddStringToObject(t, "state", st.state == CU_TENANT_ACTIVE ? "active" : "terminated");
    if (p != NULL) {
        cJSON *po = cJSON_AddObjectToObject(doc, "policy");
        cJSON_AddStringToObject(po, "id", cu_policy_id(p));
        cJSON_AddStringToObject(po, "version", cu_policy_version(p));
        cJSON_AddNumberToObject(po, "tenant_version", pver);
    }
    cu_policy_release(v, p);
    add_time(doc, "exported_at", cu_clock_now());
    subjects = cJSON_AddArrayToObject(doc, "subjects");
    own = cJSON_AddArrayToObject(doc, "records");
    do {
        cu_id *ids = NULL;
        assert_int_equal(cu_store_subject_ids(v->store, tenant, after, PAGE, &ids, &n, &err),
                         CU_OK);
        for (size_t i = 0; i < n; i++)
            old_subject(v, tenant, ids[i], subjects);
        after = n ? ids[n - 1] : after;
        free(ids);
    } while (n == PAGE);
    /* The tenant's own records, oldest first (by created_at, then id, as a subject's): before
     * issue 17's last pass they went by id, which the export now leaves (export.c). */
    after = 0;
    do {
        cu_store_record_meta *m = NULL;
        assert_int_equal(cu_store_record_meta_list(v->store, tenant, after, PAGE, &m, &n, &err),
                         CU_OK);
        for (size_t i = 0; i < n; i++)
            if (m[i].subject_id == 0) {
                assert_non_null(mine = realloc(mine, (nmine + 1) * sizeof(*mine)));
                mine[nmine++] = m[i];
            }
        after = n ? m[n - 1].cursor : after;
        free(m);
    } while (n == PAGE);
    qsort(mine, nmine, sizeof(*mine), by_created_then_cursor);
    for (size_t i = 0; i < nmine; i++)
        old_record(v, tenant, mine[i].id, own);
    free(mine);
    json = cu_json_print(doc);
    cJSON_Delete(doc);
    assert_non_null(json);
    return json;
}

/* --- the tenant ----------------------------------------------------------------------------- */

static cu_id subject(fx *f, const char *ext, const char *email, const char *birth)
{
    cu_subject_in in = {.external_id = ext, .email = email, .birth_date = birth};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, f->t, &in, &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static cu_id record(fx *f, cu_id subj, const char *json)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_record_put(f->v, NULL, f->t, "contacts", subj, json, strlen(json), &id, &err) != CU_OK)
        fail_msg("%s: %s", json, err.msg);
    return id;
}

/* Values that a printer could get wrong: escapes, control characters, non-ASCII, numbers
 * that need care, nesting. */
static const char *const AWKWARD[] = {
    "{\"name\":\"Zo\\u00eb \\\"Q\\\" \\\\ \\t\\n\\r\\b\\f \\u0001 \\u2603 \\ud83d\\ude00\","
    "\"company\":\"Acme\",\"title\":\"</script>\"}",
    "{\"name\":\"Ada\",\"notes\":[1,-0.0,0.1,1e21,9007199254740991,1.5e-7,-12.75e+2,true,null,"
    "{\"a\":{},\"b\":[]}],\"company\":{\"deep\":{\"er\":[[[\"x\"]]]}}}",
    "{\"name\":\"\",\"email\":\"ada@example.com\",\"phone\":\"+44 20 7946 0000\"}",
};

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_err err = {0};
    cu_tenant t;
    char ext[32], doc[160];
    cu_id s0, s1;

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL,
                                      &(cu_tenant_opts){.name = "Export \"test\" \\ t\xc3\xa9nant",
                                                        .policy_builtin = "scm"},
                                      &t, &err),
                     CU_OK);
    f->t = t.id;
    s0 = subject(f, "ada", "ada@example.com", "1990-01-02");
    s1 = subject(f, "bob", NULL, NULL);
    assert_int_equal(
        cu_consent_record(f->v, NULL, f->t, s0, "shared_on_request", CU_CONSENT_GRANT, "web", &err),
        CU_OK);
    cu_clock_set(D2026 + 60);
    assert_int_equal(cu_consent_record(f->v, NULL, f->t, s0, "shared_on_request",
                                       CU_CONSENT_WITHDRAW, "web", &err),
                     CU_OK);
    /* More than a page of subjects, one without records. */
    for (int i = 0; i < PAGE + 4; i++) {
        snprintf(ext, sizeof(ext), "s-%03d", i);
        (void)subject(f, ext, NULL, NULL);
    }
    /* More than a page of records for one subject, written over several seconds (the page
     * key is (created_at, id)), and of the tenant's own. */
    for (int i = 0; i < PAGE + 30; i++) {
        cu_clock_set(D2026 + 100 + i / 7);
        snprintf(doc, sizeof(doc), "{\"name\":\"n%d\",\"company\":\"c\",\"title\":%d}", i, i);
        (void)record(f, s0, doc);
        (void)record(f, 0, doc);
    }
    for (size_t i = 0; i < sizeof(AWKWARD) / sizeof(AWKWARD[0]); i++) {
        (void)record(f, s1, AWKWARD[i]);
        (void)record(f, 0, AWKWARD[i]);
    }
    cu_clock_set(D2026 + 1000);
    f->want = old_export(f->v, f->t);
    f->want_len = strlen(f->want);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_fault_hook_set(NULL, NULL);
    if (f == NULL)
        return 0;
    free(f->want);
    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

/* --- the tests ------------------------------------------------------------------------------ */

/* P-DSR-2, P-RET-2: the streamed document is the one the tree printed, byte for byte. */
static void test_P_DSR_2_streamed_export_equals_the_old_document(void **state)
{
    fx *f = *state;
    cu_ctx ctx = {.actor = "test", .purpose = CU_PURPOSE_EXPORT};
    char *got = NULL;
    size_t len = 0;
    cu_err err = {0};
    cJSON *doc;

    assert_int_equal(cu_tenant_export(f->v, &ctx, f->t, &got, &len, &err), CU_OK);
    assert_int_equal(len, f->want_len);
    assert_string_equal(got, f->want);
    /* And it is the data: every subject, the pages of records, the awkward values. */
    assert_non_null(doc = cJSON_Parse(got));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "subjects")), PAGE + 4 + 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "records")), PAGE + 30 + 3);
    assert_non_null(strstr(got, "\\u2603") == NULL ? strstr(got, "\xe2\x98\x83") : got);
    cJSON_Delete(doc);
    cu_str_wipe(got);
    free(got);
}

/* Read in pieces of any size, the document is the same; and each piece is handed out only
 * after the export's audit entry (P-AUD-3: cu_export_open commits it). */
static void test_P_DSR_2_export_read_in_pieces_of_any_size(void **state)
{
    static const size_t caps[] = {1, 7, 4096, 65536, 1 << 20};
    fx *f = *state;
    cu_ctx ctx = {.actor = "test", .purpose = CU_PURPOSE_EXPORT};
    char *got = malloc(f->want_len + 1), *buf = malloc((size_t)1 << 20);
    cu_err err = {0};

    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        cu_export *x = NULL;
        size_t at = 0, n = 0;
        assert_int_equal(cu_export_open(f->v, &ctx, f->t, &x, &err), CU_OK);
        do {
            assert_int_equal(cu_export_read(x, buf, caps[c], &n, &err), CU_OK);
            assert_true(n <= caps[c]);
            assert_true(at + n <= f->want_len);
            memcpy(got + at, buf, n);
            at += n;
        } while (n > 0);
        /* Whole: it stays at its end. */
        assert_int_equal(cu_export_read(x, buf, caps[c], &n, &err), CU_OK);
        assert_int_equal(n, 0);
        cu_export_free(x);
        assert_int_equal(at, f->want_len);
        assert_memory_equal(got, f->want, at);
    }
    free(got);
    free(buf);
}

static int fault_at;   /* the export.step to fail (1: the first) */
static int fault_seen; /* export.step points reached */

static int fail_step(const char *point, void *arg)
{
    (void)arg;
    return strcmp(point, "export.step") == 0 && ++fault_seen == fault_at;
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static int sink_write(void *arg, const char *data, size_t n)
{
    sink *s = arg;
    char *np = realloc(s->p, s->n + n + 1);

    assert_non_null(np);
    s->p = np;
    memcpy(s->p + s->n, data, n);
    s->n += n;
    s->p[s->n] = '\0';
    return 0;
}

/* P-DSR-1, P-DSR-2: an export that fails midway is an error; what its writer had is a prefix
 * of the document that does not parse (the closing brackets come last), never a valid shorter
 * document. A writer that stops taking it stops the export with an error too. */
static void test_P_DSR_1_export_failing_midway_is_an_error_never_a_short_document(void **state)
{
    fx *f = *state;
    cu_ctx ctx = {.actor = "test", .purpose = CU_PURPOSE_EXPORT};
    cu_err err = {0};
    int failures = 0;

    cu_fault_hook_set(fail_step, NULL);
    for (fault_at = 1; fault_at < 1000; fault_at++) {
        sink s = {NULL, 0};
        cu_rc rc;
        fault_seen = 0;
        rc = cu_tenant_export_write(f->v, &ctx, f->t, sink_write, &s, &err);
        if (rc == CU_OK) {
            assert_int_equal(s.n, f->want_len);
            assert_memory_equal(s.p, f->want, s.n);
            free(s.p);
            break;
        }
        failures++;
        assert_int_equal(rc, CU_ERR_IO);
        assert_true(s.n > 0 && s.n < f->want_len); /* the head went out before the error */
        assert_memory_equal(s.p, f->want, s.n);
        assert_null(cJSON_ParseWithLength(s.p, s.n));
        free(s.p);
    }
    cu_fault_hook_set(NULL, NULL);
    /* The document takes several steps (64 KiB each), each failed once: the second after
     * records had gone out. */
    assert_true(f->want_len > 65536);
    assert_true(failures >= 2);
    assert_int_equal(failures, fault_at - 1);
}

static int refuse_write(void *arg, const char *data, size_t n)
{
    (void)data;
    (void)n;
    return ++*(int *)arg >= 2 ? -1 : 0;
}

static void test_P_DSR_2_writer_that_stops_fails_the_export(void **state)
{
    fx *f = *state;
    cu_ctx ctx = {.actor = "test", .purpose = CU_PURPOSE_EXPORT};
    cu_err err = {0};
    int calls = 0;

    assert_int_equal(cu_tenant_export_write(f->v, &ctx, f->t, refuse_write, &calls, &err),
                     CU_ERR_IO);
    assert_int_equal(calls, 2);
}

/* P-RET-2, P-DSR-2: the checks come before anything is made: another purpose is refused, and
 * platform staff never export (as before the export streamed). */
static void test_P_RET_2_export_refusals_come_before_any_byte(void **state)
{
    fx *f = *state;
    cu_ctx other = {.actor = "test", .purpose = "support"};
    cu_ctx staff = {.actor = "op", .purpose = CU_PURPOSE_EXPORT, .flags = CU_CTX_OPERATOR};
    cu_export *x = (cu_export *)&other; /* set to NULL on a refusal */
    cu_err err = {0};

    assert_int_equal(cu_export_open(f->v, &other, f->t, &x, &err), CU_ERR_PURPOSE_DENIED);
    assert_null(x);
    assert_int_equal(cu_export_open(f->v, &staff, f->t, &x, &err), CU_ERR_FORBIDDEN);
    assert_null(x);
    cu_export_free(NULL);
}

/* A tenant of its own in the fixture's vault (scm, collection "contacts"). */
static cu_id other_tenant(fx *f, const char *name)
{
    cu_err err = {0};
    cu_tenant t;

    assert_int_equal(cu_tenant_create(f->v, NULL,
                                      &(cu_tenant_opts){.name = name, .policy_builtin = "scm"}, &t,
                                      &err),
                     CU_OK);
    return t.id;
}

static cu_id put_in(fx *f, cu_id tenant, cu_id subj, const char *json)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_record_put(f->v, NULL, tenant, "contacts", subj, json, strlen(json), &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static cJSON *export_doc(fx *f, cu_id tenant)
{
    cu_ctx ctx = {.actor = "test", .purpose = CU_PURPOSE_EXPORT};
    cu_err err = {0};
    char *got = NULL;
    size_t len = 0;
    cJSON *doc;

    assert_int_equal(cu_tenant_export(f->v, &ctx, tenant, &got, &len, &err), CU_OK);
    assert_non_null(doc = cJSON_Parse(got));
    cu_str_wipe(got);
    free(got);
    return doc;
}

/* How many of a's members have "id" id (formatted). */
static int with_id(const cJSON *a, cu_id id)
{
    char buf[CU_ID_STRLEN];
    int n = 0;

    cu_id_format(id, buf);
    for (const cJSON *e = a ? a->child : NULL; e != NULL; e = e->next)
        n += strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "id")), buf) == 0;
    return n;
}

/* P-DSR-4, P-ENC-5: an export made after a subject's erasure holds neither the subject nor its
 * records; and the tenant's own records, read in the subject index's order (issue 17: one
 * page for records sealed under two data key versions, interleaved: same second, random ids;
 * its second half on the export's second thread, export.c), are each opened under the version
 * that sealed it. */
static void test_P_DSR_4_export_after_erasure_and_a_data_key_rotation(void **state)
{
    fx *f = *state;
    cu_id t = other_tenant(f, "erased and rotated"), a, b, ra[3], rb[3], own[40];
    cu_err err = {0};
    char doc[96];
    unsigned version = 0;
    cJSON *d, *subjects, *records;

    cu_clock_set(D2026 + 5000);
    a = subject(&(fx){.v = f->v, .t = t}, "erased", "a@example.com", NULL);
    b = subject(&(fx){.v = f->v, .t = t}, "kept", NULL, NULL);
    for (int i = 0; i < 3; i++) {
        snprintf(doc, sizeof(doc), "{\"name\":\"a%d\",\"email\":\"a@example.com\"}", i);
        ra[i] = put_in(f, t, a, doc);
        snprintf(doc, sizeof(doc), "{\"name\":\"b%d\",\"email\":\"b@example.com\"}", i);
        rb[i] = put_in(f, t, b, doc);
    }
    for (int i = 0; i < 40; i++) {
        if (i == 20)
            assert_int_equal(cu_key_rotate_data(f->v, NULL, t, &version, &err), CU_OK);
        snprintf(doc, sizeof(doc), "{\"name\":\"own%d\",\"email\":\"o%d@example.com\"}", i, i);
        own[i] = put_in(f, t, 0, doc);
    }
    assert_true(version >= 2);
    assert_int_equal(cu_subject_erase(f->v, NULL, t, a, &err), CU_OK);

    d = export_doc(f, t);
    subjects = cJSON_GetObjectItem(d, "subjects");
    records = cJSON_GetObjectItem(d, "records");
    assert_int_equal(cJSON_GetArraySize(subjects), 1);
    assert_int_equal(with_id(subjects, a), 0);
    assert_int_equal(with_id(subjects, b), 1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(with_id(cJSON_GetObjectItem(subjects->child, "records"), ra[i]), 0);
        assert_int_equal(with_id(cJSON_GetObjectItem(subjects->child, "records"), rb[i]), 1);
    }
    assert_int_equal(cJSON_GetArraySize(records), 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(with_id(records, own[i]), 1);
    /* Each opened: its sealed email merged back, under either version. */
    for (const cJSON *e = records->child; e != NULL; e = e->next) {
        const cJSON *data = cJSON_GetObjectItem(e, "data");
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(data, "name"));
        char want[32];
        assert_non_null(name);
        snprintf(want, sizeof(want), "o%s@example.com", name + 3);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "email")), want);
    }
    cJSON_Delete(d);
    cu_clock_set(D2026 + 1000);
}

/* A page of records ends early on its bytes (4 MiB of sealed values): the records go on on the
 * next page, for a subject's and for the tenant's own; a short page ends them only when it is
 * short of its bytes too. */
static void test_P_DSR_2_pages_ended_by_their_bytes_lose_nothing(void **state)
{
    enum { N = 12, BIG = 400 * 1024 };
    fx *f = *state;
    cu_id t = other_tenant(f, "big records"), s, ids[N], own[N];
    char *doc = malloc(BIG + 64);
    cJSON *d, *recs;

    assert_non_null(doc);
    s = subject(&(fx){.v = f->v, .t = t}, "big", NULL, NULL);
    for (int i = 0; i < N; i++) {
        int n = snprintf(doc, 64, "{\"name\":\"n%d\",\"notes\":\"", i);
        memset(doc + n, 'a' + i, BIG);
        memcpy(doc + n + BIG, "\"}", 3);
        ids[i] = put_in(f, t, s, doc);
        own[i] = put_in(f, t, 0, doc);
    }
    free(doc);
    d = export_doc(f, t);
    recs = cJSON_GetObjectItem(cJSON_GetObjectItem(d, "subjects")->child, "records");
    assert_int_equal(cJSON_GetArraySize(recs), N);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "records")), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(with_id(recs, ids[i]), 1);
        assert_int_equal(with_id(cJSON_GetObjectItem(d, "records"), own[i]), 1);
    }
    cJSON_Delete(d);
}

/* A store without record_page_own (store.c): the tenant's own records come by id through
 * record_page, every one of them once, the keyset of the last one read going on from page to
 * page (more than a page of them here). */
static void test_P_DSR_2_a_store_without_the_keyed_own_page_exports_them_by_id(void **state)
{
    fx *f = *state;
    cu_store_ops ops = *f->v->store->ops;
    const cu_store_ops *saved = f->v->store->ops;
    cJSON *d, *w = cJSON_Parse(f->want), *want, *got;

    ops.record_page_own = NULL;
    f->v->store->ops = &ops;
    d = export_doc(f, f->t);
    f->v->store->ops = saved;
    want = cJSON_GetObjectItem(w, "records");
    got = cJSON_GetObjectItem(d, "records");
    assert_int_equal(cJSON_GetArraySize(got), PAGE + 30 + 3);
    for (const cJSON *e = got->child; e != NULL; e = e->next) {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(e, "id"));
        int seen = 0;
        for (const cJSON *o = want->child; o != NULL; o = o->next)
            seen += strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(o, "id")), id) == 0;
        assert_int_equal(seen, 1);
    }
    /* And the subjects, all of them. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "subjects")), PAGE + 4 + 2);
    cJSON_Delete(w);
    cJSON_Delete(d);
}

int main(void)
{
#define T(fn) cmocka_unit_test(fn)
    const struct CMUnitTest tests[] = {
        T(test_P_DSR_2_streamed_export_equals_the_old_document),
        T(test_P_DSR_2_export_read_in_pieces_of_any_size),
        T(test_P_DSR_1_export_failing_midway_is_an_error_never_a_short_document),
        T(test_P_DSR_2_writer_that_stops_fails_the_export),
        T(test_P_RET_2_export_refusals_come_before_any_byte),
        T(test_P_DSR_4_export_after_erasure_and_a_data_key_rotation),
        T(test_P_DSR_2_pages_ended_by_their_bytes_lose_nothing),
        T(test_P_DSR_2_a_store_without_the_keyed_own_page_exports_them_by_id),
    };
    /* One tenant for every test: building it takes some 900 durable commits. */
    return cmocka_run_group_tests(tests, setup, teardown);
}
