/*
 * test_subject_export.c: one subject's export (src/core/subject_export.c; P-DSR-1, P-DSR-2,
 * P-ISO-1, P-AUD-3), in JSON and as a zip of CSV files, and the audit log's subject index it
 * reads the accesses from (migration 16).
 *
 * The fixture: tenant A (policy scm) with subject ada, whose records sit in three collections
 * (with values that CSV must quote: commas, double quotes, line breaks, a would-be formula),
 * with a consent ledger and accesses by two keys; a second subject bob of A and a subject of
 * tenant B, each holding a marker that ada's export must never show. The zip is checked by
 * python3's zipfile and csv modules and by `unzip -t`, where present.
 *
 * The export is called under an acknowledged access request (access_ctx): the purpose
 * subject_access exists only inside a request (issue 10).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core_int.h"
#include "th.h"
#include "util.h"

#define D2026 1767225600

/* ASan's count of bytes in use (the test build's allocator), to see memory stay bounded. */
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id a, b;          /* tenants */
    cu_id ada, bob, eve; /* ada and bob of A, eve of B */
    cu_id contact;       /* one of ada's records */
} fx;

/* Issue 10: subject_access exists only inside a data-subject request. The context of an
 * administrator's access request for subject subj of tenant t, filed and acknowledged. */
static cu_ctx access_ctx(fx *f, cu_id t, cu_id subj)
{
    cu_request_in in = {.type = CU_REQ_ACCESS, .filer = CU_REQ_BY_ADMIN, .subject = subj};
    cu_request_filed out = {0};
    cu_ctx c = {.actor = "key:7", .purpose = CU_PURPOSE_SUBJECT_ACCESS};
    cu_err err = {0};

    if (cu_request_file(f->v, NULL, t, &in, &out, &err) != CU_OK ||
        cu_request_acknowledge(f->v, NULL, t, out.id, &err) != CU_OK)
        fail_msg("access request: %s", err.msg);
    c.dsr_request = out.id;
    return c;
}

static cu_id mk_subject(fx *f, cu_id t, const char *ext, const char *email, const char *phone)
{
    cu_subject_in in = {
        .external_id = ext, .email = email, .phone = phone, .birth_date = "1990-01-02"};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, t, &in, &id, &err) != CU_OK)
        fail_msg("%s", err.msg);
    return id;
}

static cu_id put(fx *f, cu_id t, const char *coll, cu_id subj, const char *json)
{
    cu_err err = {0};
    cu_id id = 0;

    if (cu_record_put(f->v, NULL, t, coll, subj, json, strlen(json), &id, &err) != CU_OK)
        fail_msg("%s: %s", json, err.msg);
    return id;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    cu_ctx support = {.actor = "key:42", .purpose = "support"};
    cu_err err = {0};
    cu_tenant t;
    cu_record r = {0};
    cu_subject s = {0};

    cu_clock_set(D2026);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL,
                                      &(cu_tenant_opts){.name = "A", .policy_builtin = "scm"}, &t,
                                      &err),
                     CU_OK);
    f->a = t.id;
    assert_int_equal(cu_tenant_create(f->v, NULL,
                                      &(cu_tenant_opts){.name = "B", .policy_builtin = "scm"}, &t,
                                      &err),
                     CU_OK);
    f->b = t.id;
    f->ada = mk_subject(f, f->a, "ada", "ada@example.com", "+44 20 7946 0000");
    f->bob = mk_subject(f, f->a, "bob", "bob-marker@example.com", NULL);
    f->eve = mk_subject(f, f->b, "ada", "eve-marker@example.com", NULL);
    (void)put(f, f->a, "contacts", 0, "{\"name\":\"the tenant's own\"}"); /* no subject */
    f->contact = put(f, f->a, "contacts", f->ada,
                     "{\"name\":\"Ada, Countess\",\"email\":\"ada@example.com\",\"company\":"
                     "\"Say \\\"hi\\\"\",\"notes\":\"line one\\nline two\\r\\nthree\","
                     "\"title\":\"=HYPERLINK(\\\"x\\\")\",\"extra\":{\"k\":[1,2]}}");
    cu_clock_set(D2026 + 10);
    (void)put(f, f->a, "tickets", f->ada,
              "{\"subject\":\"Printer\",\"body\":\"It, jams\",\"status\":\"open\",\"priority\":2}");
    (void)put(f, f->a, "tickets", f->ada, "{\"subject\":\"-5 degrees\",\"status\":\"closed\"}");
    (void)put(f, f->a, "deals", f->ada, "{\"title\":\"Engine\",\"amount\":1843,\"stage\":\"won\"}");
    (void)put(f, f->a, "contacts", f->bob, "{\"name\":\"bob-record-marker\"}");
    (void)put(f, f->b, "contacts", f->eve, "{\"name\":\"eve-record-marker\"}");
    assert_int_equal(cu_consent_record(f->v, NULL, f->a, f->ada, "shared_on_request",
                                       CU_CONSENT_GRANT, "web", &err),
                     CU_OK);
    cu_clock_set(D2026 + 60);
    assert_int_equal(cu_consent_record(f->v, NULL, f->a, f->ada, "shared_on_request",
                                       CU_CONSENT_WITHDRAW, "web", &err),
                     CU_OK);
    /* Accesses: a support agent reads ada and her contact; and reads bob (not ada's). */
    assert_int_equal(cu_record_get(f->v, &support, f->a, f->contact, &r, &err), CU_OK);
    cu_record_cleanup(&r);
    assert_int_equal(cu_subject_get(f->v, &support, f->a, f->ada, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    assert_int_equal(cu_subject_get(f->v, &support, f->a, f->bob, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    cu_clock_set(D2026 + 100);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    cu_fault_hook_set(NULL, NULL);
    cu_vault_close(f->v);
    th_rmrf(f->dir);
    free(f);
    cu_clock_set(0);
    return 0;
}

/* The whole export in memory, read in pieces of cap bytes; *peak gets the most bytes the
 * allocator held above what it held before the open (0 without ASan). */
static cu_rc export_all(fx *f, const cu_ctx *ctx, cu_id t, cu_id subj, cu_subject_export_format fmt,
                        size_t cap, char **out, size_t *len, size_t *peak)
{
    size_t base =
        __sanitizer_get_current_allocated_bytes ? __sanitizer_get_current_allocated_bytes() : 0;
    cu_subject_export *x = NULL;
    char *buf = malloc(cap), *all = NULL;
    size_t n = 0, at = 0, room = 0;
    cu_err err = {0};
    cu_rc rc;

    *out = NULL;
    *len = 0;
    if (peak)
        *peak = 0;
    if ((rc = cu_subject_export_open(f->v, ctx, t, subj, fmt, &x, &err)) != CU_OK) {
        free(buf);
        return rc;
    }
    while ((rc = cu_subject_export_read(x, buf, cap, &n, &err)) == CU_OK && n > 0) {
        if (peak && __sanitizer_get_current_allocated_bytes) {
            size_t now = __sanitizer_get_current_allocated_bytes() - room;
            if (now > base && now - base > *peak)
                *peak = now - base;
        }
        if (at + n + 1 > room) {
            room = (at + n + 1) * 2;
            all = realloc(all, room);
        }
        memcpy(all + at, buf, n);
        at += n;
    }
    cu_subject_export_free(x);
    free(buf);
    if (all)
        all[at] = '\0';
    *out = all;
    *len = at;
    return rc;
}

static cJSON *member(const cJSON *o, const char *name)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

    if (m == NULL)
        fail_msg("no member %s", name);
    return m;
}

/* Every access listed is ada's: her subject, or one of her records (the contact's id is the
 * one read). */
static void check_accesses(fx *f, const cJSON *acc)
{
    char ada[64], contact[64];
    int read_contact = 0, export_entry = 0, support_read = 0;
    const cJSON *e;

    snprintf(ada, sizeof(ada), "subject:%llu", (unsigned long long)f->ada);
    snprintf(contact, sizeof(contact), "record:%llu", (unsigned long long)f->contact);
    cJSON_ArrayForEach(e, acc)
    {
        const char *obj = member(e, "object")->valuestring, *act = member(e, "action")->valuestring;
        assert_true(strncmp(obj, ada, strlen(ada)) == 0 || strncmp(obj, "record:", 7) == 0);
        if (strncmp(obj, "record:", 7) == 0)
            assert_true(strstr(act, "record.") == act);
        read_contact |= strcmp(act, "record.read") == 0 && strcmp(obj, contact) == 0 &&
                        strcmp(member(e, "actor")->valuestring, "key:42") == 0 &&
                        strcmp(member(e, "purpose")->valuestring, "support") == 0;
        support_read |= strcmp(act, "subject.read") == 0;
        export_entry |= strcmp(act, "subject.export") == 0 &&
                        strcmp(member(e, "purpose")->valuestring, "subject_access") == 0;
    }
    assert_true(read_contact);
    assert_true(support_read);
    assert_true(export_entry); /* its own entry, committed before the snapshot */
}

/* P-DSR-1, P-DSR-2, P-ISO-1: the JSON holds the profile, every record of every collection,
 * the consent ledger, what is held with its purposes and legal bases, the accesses, and a place
 * for the requests; and nothing of bob (same tenant) or eve (other tenant). */
static void test_P_DSR_1_P_ISO_1_json_holds_everything_of_the_subject_alone(void **state)
{
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->a, f->ada);
    char *doc = NULL;
    size_t len = 0;
    cJSON *j, *recs, *held, *c;
    int found = 0;

    (void)access_ctx(f, f->a, f->bob);

    assert_int_equal(
        export_all(f, &ACCESS, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, 4096, &doc, &len, NULL),
        CU_OK);
    assert_non_null(j = cJSON_Parse(doc));
    assert_string_equal(member(member(j, "subject"), "email")->valuestring, "ada@example.com");
    assert_string_equal(member(member(j, "subject"), "phone")->valuestring, "+44 20 7946 0000");
    assert_string_equal(member(member(j, "policy"), "id")->valuestring, "scm");
    recs = member(j, "records");
    assert_int_equal(cJSON_GetArraySize(member(recs, "contacts")), 1);
    assert_int_equal(cJSON_GetArraySize(member(recs, "tickets")), 2);
    assert_int_equal(cJSON_GetArraySize(member(recs, "deals")), 1);
    assert_int_equal(cJSON_GetArraySize(recs), 3);
    /* Decrypted, as written: the personal fields too. */
    assert_string_equal(
        member(member(cJSON_GetArrayItem(member(recs, "contacts"), 0), "data"), "notes")
            ->valuestring,
        "line one\nline two\r\nthree");
    assert_int_equal(cJSON_GetArraySize(member(j, "consents")), 2);
    assert_string_equal(member(cJSON_GetArrayItem(member(j, "consents"), 1), "action")->valuestring,
                        "withdraw");
    held = member(j, "held");
    assert_int_equal(cJSON_GetArraySize(held), 3);
    cJSON_ArrayForEach(c, held)
    {
        if (strcmp(member(c, "collection")->valuestring, "tickets") != 0)
            continue;
        found = 1;
        assert_int_equal(member(c, "records")->valueint, 2);
        assert_string_equal(member(c, "category")->valuestring, "customer_data");
        assert_non_null(strstr(member(c, "retention")->valuestring, "then "));
        assert_true(cJSON_GetArraySize(member(c, "purposes")) > 0);
        assert_non_null(member(cJSON_GetArrayItem(member(c, "purposes"), 0), "legal_basis"));
    }
    assert_true(found);
    /* The subject's requests: the access request this export answers, and not bob's. */
    assert_int_equal(cJSON_GetArraySize(member(j, "requests")), 1);
    c = cJSON_GetArrayItem(member(j, "requests"), 0);
    assert_int_equal(strtoull(member(c, "id")->valuestring, NULL, 10), ACCESS.dsr_request);
    assert_string_equal(member(c, "type")->valuestring, "access");
    assert_string_equal(member(c, "state")->valuestring, "acknowledged");
    assert_true(cJSON_IsNull(member(c, "completed_at")));
    check_accesses(f, member(j, "accesses"));
    /* P-ISO-1: nothing of bob or eve. */
    assert_null(strstr(doc, "marker"));
    cJSON_Delete(j);
    free(doc);
}

/* P-AUD-3: one audit entry per export, naming no value, and the export is refused without
 * the subject's purpose or to platform staff. */
static void test_P_AUD_3_one_entry_and_the_purpose(void **state)
{
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->a, f->ada);
    cu_ctx support = {.actor = "key:42", .purpose = "support"};
    cu_ctx staff = {
        .actor = "operator:key:1", .purpose = CU_PURPOSE_SUBJECT_ACCESS, .flags = CU_CTX_OPERATOR};
    cu_subject_export *x = NULL;
    char sql[160], *doc = NULL;
    size_t len;
    cu_err err = {0};
    long long before;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE action = 'subject.export' AND tenant_id = %lld",
             (long long)f->a);
    before = th_sql_int(f->data, sql);
    assert_int_equal(
        export_all(f, &ACCESS, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, 65536, &doc, &len, NULL),
        CU_OK);
    free(doc);
    assert_int_equal(th_sql_int(f->data, sql), before + 1);
    assert_int_equal(
        cu_subject_export_open(f->v, &support, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, &x, &err),
        CU_ERR_PURPOSE_DENIED);
    /* Issue 10: the purpose stated without a request of the subject's is refused. */
    assert_int_equal(cu_subject_export_open(
                         f->v, &(cu_ctx){.actor = "key:7", .purpose = CU_PURPOSE_SUBJECT_ACCESS},
                         f->a, f->ada, CU_SUBJECT_EXPORT_JSON, &x, &err),
                     CU_ERR_PURPOSE_DENIED);
    assert_int_equal(
        cu_subject_export_open(f->v, &staff, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, &x, &err),
        CU_ERR_FORBIDDEN);
    assert_null(x);
    assert_int_equal(th_sql_int(f->data, sql), before + 1);
}

/* P-ISO-1: another tenant's id for the subject answers as if it did not exist. */
static void test_P_ISO_1_foreign_tenant_finds_no_subject(void **state)
{
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->b, f->eve); /* B's request, for eve */
    cu_subject_export *x = NULL;
    cu_err err = {0};

    assert_int_equal(
        cu_subject_export_open(f->v, &ACCESS, f->b, f->ada, CU_SUBJECT_EXPORT_JSON, &x, &err),
        CU_ERR_NOT_FOUND);
    assert_null(x);
}

/* P-DSR-4: an erased subject exports nothing. */
static void test_P_DSR_4_erased_subject_exports_nothing(void **state)
{
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->a, f->bob);
    cu_subject_export *x = NULL;
    cu_err err = {0};

    assert_int_equal(cu_subject_erase(f->v, NULL, f->a, f->bob, &err), CU_OK);
    for (int fmt = CU_SUBJECT_EXPORT_JSON; fmt <= CU_SUBJECT_EXPORT_CSV_ZIP; fmt++) {
        assert_int_equal(cu_subject_export_open(f->v, &ACCESS, f->a, f->bob,
                                                (cu_subject_export_format)fmt, &x, &err),
                         CU_ERR_NOT_FOUND);
        assert_null(x);
    }
}

/* Runs cmd; 0 if it exited 0. */
static int run(const char *cmd)
{
    int st = system(cmd);

    return st == 0 ? 0 : -1;
}

static const char PY_CHECK[] =
    "import csv, io, json, sys, zipfile\n"
    "z = zipfile.ZipFile(sys.argv[1])\n"
    "assert z.testzip() is None\n"
    "names = z.namelist()\n"
    "want = ['README.txt', 'subject.csv', 'consents.csv', 'held.csv', 'requests.csv',\n"
    "        'recipients.csv',\n"
    "        'records/contacts.csv', 'records/deals.csv', 'records/tickets.csv',\n"
    "        'accesses.csv', 'manifest.json']\n"
    "assert names == want, names\n"
    "for i in z.infolist():\n"
    "    assert i.flag_bits & 8, i.filename  # a data descriptor: size unknown at its start\n"
    "def rows(n):\n"
    "    raw = z.read(n).decode('utf-8')\n"
    "    assert raw.endswith('\\r\\n'), n\n"
    "    return list(csv.reader(io.StringIO(raw, newline=''), strict=True))\n"
    "c = rows('records/contacts.csv')\n"
    "assert c[0] == ['id', 'created', 'updated', 'name', 'email', 'phone', 'company', 'title',\n"
    "                'notes', 'other'], c[0]\n"
    "assert len(c) == 2\n"
    "r = dict(zip(c[0], c[1]))\n"
    "assert r['name'] == 'Ada, Countess', r\n"
    "assert r['company'] == 'Say \"hi\"', r\n"
    "assert r['notes'] == 'line one\\nline two\\r\\nthree', r\n"
    "assert r['title'] == \"'=HYPERLINK(\\\"x\\\")\", r\n"
    "assert json.loads(r['other']) == {'extra': {'k': [1, 2]}}, r\n"
    "assert r['phone'] == ''\n"
    "t = rows('records/tickets.csv')\n"
    "assert len(t) == 3, t\n"
    "tk = {x[t[0].index('status')]: dict(zip(t[0], x)) for x in t[1:]}\n"
    "assert tk['open']['priority'] == '2' and tk['open']['body'] == 'It, jams', t\n"
    "assert tk['closed']['subject'] == \"'-5 degrees\", t\n"
    "assert len(rows('records/deals.csv')) == 2\n"
    "s = rows('subject.csv')\n"
    "assert s[1][s[0].index('email')] == 'ada@example.com'\n"
    "assert len(rows('consents.csv')) == 3\n"
    "h = rows('held.csv')\n"
    "assert len(h) == 4 and 'legal_basis' in h[1][h[0].index('purposes')], h\n"
    "a = rows('accesses.csv')\n"
    "assert any(x[3] == 'record.read' and x[5] == 'support' for x in a[1:]), a\n"
    "assert len(rows('requests.csv')) == 2 and rows('requests.csv')[1][1] == 'access'\n"
    "m = json.loads(z.read('manifest.json'))\n"
    "assert m['complete'] is True and m['records'] == 4, m\n"
    "data = b''.join(z.read(n) for n in names)\n"
    "assert b'marker' not in data\n";

/* P-DSR-2: the zip lists and extracts, each CSV parses as RFC 4180 (quotes, commas, line
 * breaks in values), one file per collection with its declared fields as columns. */
static void test_P_DSR_2_csv_zip_parses(void **state)
{
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->a, f->ada);
    char *zip = NULL, path[300], py[300], cmd[1024];
    size_t len = 0;
    FILE *out;

    assert_int_equal(
        export_all(f, &ACCESS, f->a, f->ada, CU_SUBJECT_EXPORT_CSV_ZIP, 1000, &zip, &len, NULL),
        CU_OK);
    assert_true(len > 22 && memcmp(zip, "PK\x03\x04", 4) == 0);
    /* Deflated: no value in clear in the archive's bytes. */
    for (size_t i = 0; i + 8 <= len; i++)
        assert_false(memcmp(zip + i, "Countess", 8) == 0);
    snprintf(path, sizeof(path), "%s/ada.zip", f->dir);
    snprintf(py, sizeof(py), "%s/check.py", f->dir);
    assert_non_null(out = fopen(path, "wb"));
    assert_int_equal(fwrite(zip, 1, len, out), len);
    fclose(out);
    assert_non_null(out = fopen(py, "w"));
    fputs(PY_CHECK, out);
    fclose(out);
    free(zip);
    if (run("command -v python3 >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd), "python3 %s %s", py, path);
        assert_int_equal(run(cmd), 0);
    } else
        print_message("python3 not found: the zip's CSV files were not parsed\n");
    if (run("command -v unzip >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd), "unzip -tq %s >/dev/null", path);
        assert_int_equal(run(cmd), 0);
    }
}

/* Never shorter than the data: a fault midway ends the export with an error, for both formats,
 * after which every read returns it. */
static void test_P_DSR_2_fault_midway_is_an_error_not_a_short_export(void **state)
{
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->a, f->ada);

    for (int fmt = CU_SUBJECT_EXPORT_JSON; fmt <= CU_SUBJECT_EXPORT_CSV_ZIP; fmt++) {
        cu_subject_export *x = NULL;
        char buf[64];
        size_t n = 0;
        cu_err err = {0};
        cu_rc rc;

        assert_int_equal(cu_subject_export_open(f->v, &ACCESS, f->a, f->ada,
                                                (cu_subject_export_format)fmt, &x, &err),
                         CU_OK);
        /* The head is made at open; the next step fails. */
        setenv("CUSTOS_FAULT", "subject_export.step", 1);
        while ((rc = cu_subject_export_read(x, buf, sizeof(buf), &n, &err)) == CU_OK && n > 0)
            ;
        unsetenv("CUSTOS_FAULT");
        assert_int_equal(rc, CU_ERR_IO);
        assert_int_equal(cu_subject_export_read(x, buf, sizeof(buf), &n, &err), CU_ERR_IO);
        cu_subject_export_free(x);
    }
}

/* One consistent read: what commits after the export opened (a record, a read of the subject)
 * is not in it, whatever it reads after; the next export has it. */
static void test_P_DSR_1_export_reads_one_snapshot(void **state)
{
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->a, f->ada);
    cu_ctx support = {.actor = "key:42", .purpose = "support"};
    cu_subject_export *x = NULL;
    char buf[16], *doc = NULL, *all = calloc(1, 1 << 20);
    size_t n = 0, at = 0, len = 0;
    cu_subject s = {0};
    cu_err err = {0};
    cJSON *j;

    assert_int_equal(
        cu_subject_export_open(f->v, &ACCESS, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, &x, &err),
        CU_OK);
    assert_int_equal(cu_subject_export_read(x, buf, sizeof(buf), &n, &err), CU_OK);
    memcpy(all, buf, n);
    at = n;
    (void)put(f, f->a, "deals", f->ada, "{\"title\":\"late-deal\"}");
    assert_int_equal(cu_subject_get(f->v, &support, f->a, f->ada, &s, &err), CU_OK);
    cu_subject_cleanup(&s);
    while (cu_subject_export_read(x, buf, sizeof(buf), &n, &err) == CU_OK && n > 0) {
        memcpy(all + at, buf, n);
        at += n;
    }
    assert_int_equal(err.code, CU_OK);
    cu_subject_export_free(x);
    assert_non_null(j = cJSON_Parse(all));
    assert_null(strstr(all, "late-deal"));
    assert_int_equal(cJSON_GetArraySize(member(member(j, "records"), "deals")), 1);
    cJSON_Delete(j);
    free(all);
    assert_int_equal(
        export_all(f, &ACCESS, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, 4096, &doc, &len, NULL),
        CU_OK);
    assert_non_null(strstr(doc, "late-deal"));
    free(doc);
}

/* Memory stays bounded: a subject whose records hold more than the export's bounds exports
 * with at most a page of records and the snapshot's page cache held at any time. */
static void test_P_DSR_2_memory_bounded_with_many_records(void **state)
{
    fx *f = *state;
    size_t big = 80000, len = 0, peak = 0;
    char *doc = malloc(big + 64), *out = NULL;
    cu_id s = mk_subject(f, f->a, "many", NULL, NULL);
    cu_ctx ACCESS;
    cJSON *j;
    int n = 640;

    memcpy(doc, "{\"notes\":\"", 10);
    memset(doc + 10, 'x', big);
    memcpy(doc + 10 + big, "\"}", 3);
    for (int i = 0; i < n; i++)
        (void)put(f, f->a, i % 2 ? "contacts" : "tickets", s, doc);
    free(doc);
    ACCESS = access_ctx(f, f->a, s);
    assert_int_equal(
        export_all(f, &ACCESS, f->a, s, CU_SUBJECT_EXPORT_JSON, 4096, &out, &len, &peak), CU_OK);
    assert_true(len > (size_t)n * big);
    assert_non_null(j = cJSON_Parse(out));
    assert_int_equal(cJSON_GetArraySize(member(member(j, "records"), "contacts")), n / 2);
    assert_int_equal(cJSON_GetArraySize(member(member(j, "records"), "tickets")), n / 2);
    cJSON_Delete(j);
    free(out);
    print_message("json: %zu bytes out, peak %zu bytes held\n", len, peak);
    /* 51 MB out; a page of records is at most 4 MB sealed (256 records, or fewer), the
     * snapshot's page cache at most 24 MB (sqlite_audit_subject.c). */
    if (__sanitizer_get_current_allocated_bytes)
        assert_true(peak < (size_t)36 << 20);
    assert_int_equal(
        export_all(f, &ACCESS, f->a, s, CU_SUBJECT_EXPORT_CSV_ZIP, 4096, &out, &len, &peak), CU_OK);
    print_message("zip: %zu bytes out, peak %zu bytes held\n", len, peak);
    free(out);
    if (__sanitizer_get_current_allocated_bytes)
        assert_true(peak < (size_t)36 << 20);
}

/* The entries carry their subject beside them, outside their hash: the chain still verifies;
 * the index catches up when an export asks, and the export finds the entries past its mark
 * too; the migration fills it for entries written before it. */
static void test_P_AUD_2_subject_index_keeps_the_chain_and_is_filled_by_migration(void **state)
{
    th_sqlite_only("SQLite's migration 16 from a version-15 file");
    fx *f = *state;
    cu_ctx ACCESS = access_ctx(f, f->a, f->ada);
    cu_audit_report rep;
    char idx[200], all[400], *doc = NULL;
    size_t len;
    cu_err err = {0};
    long long touching, newest;

    memset(&rep, 0, sizeof(rep));
    assert_int_equal(cu_audit_verify(f->v, NULL, f->a, &rep, &err), CU_OK);
    assert_true(rep.ok);
    snprintf(idx, sizeof(idx), "SELECT count(*) FROM audit_subjects WHERE tenant_id = %lld",
             (long long)f->a);
    snprintf(all, sizeof(all),
             "SELECT count(*) FROM audit_log WHERE tenant_id = %lld AND subject_id IS NOT NULL",
             (long long)f->a);
    /* The write path indexes nothing: the entries hold their subject, the index is empty. */
    assert_int_equal(th_sql_int(f->data, idx), 0);
    touching = th_sql_int(f->data, all);
    assert_true(touching > 5);
    /* An export catches it up to the entry before its own. */
    assert_int_equal(
        export_all(f, &ACCESS, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, 65536, &doc, &len, NULL),
        CU_OK);
    free(doc);
    assert_int_equal(th_sql_int(f->data, idx), touching);
    touching++; /* the export's own entry */
    assert_int_equal(th_sql_int(f->data, all), touching);
    /* Back to version 15, without the column or the index: the upgrade indexes every entry
     * from its object (and a record's subject), the export's own too. */
    newest = th_sql_int(f->data, "PRAGMA user_version");
    cu_vault_close(f->v);
    f->v = NULL; /* teardown's, if the reopen fails */
    assert_int_equal(th_sql(f->data, "DROP TABLE audit_subjects; DROP TABLE audit_subject_marks;"
                                     " ALTER TABLE audit_log DROP COLUMN subject_id;"
                                     " PRAGMA user_version = 15;"),
                     0);
    f->v = th_reopen(f->data);
    assert_int_equal(th_sql_int(f->data, "PRAGMA user_version"), newest);
    assert_int_equal(th_sql_int(f->data, idx), touching);
    assert_int_equal(cu_audit_verify(f->v, NULL, f->a, &rep, &err), CU_OK);
    assert_true(rep.ok);
}

static int hex_bytes(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n && i < cap; i++) {
        unsigned x;
        if (sscanf(hex + 2 * i, "%2x", &x) != 1)
            return -1;
        out[i] = (uint8_t)x;
    }
    return n <= cap ? (int)n : -1;
}

/* Whether the database or its WAL holds the n bytes at b. */
static int in_files(fx *f, const uint8_t *b, int n)
{
    char path[512];
    int found;

    snprintf(path, sizeof(path), "%s/custos.db-wal", f->data);
    found = th_file_contains(path, b, (size_t)n);
    snprintf(path, sizeof(path), "%s/custos.db", f->data);
    return found || th_file_contains(path, b, (size_t)n);
}

/* P-DSR-4, issue 10: an erasure while an export holds its snapshot answers at once, with its
 * certificate, though its truncating checkpoint (the scrub of the destroyed key's pages from
 * the WAL) cannot pass the export's snapshot: the scrub stays pending, and the erasure thread
 * completes it once the export is closed: then no file holds the key. Before, the erasure
 * waited for the busy timeout (10 s) and answered an error with its key destroyed. */
static void test_P_DSR_4_erasure_during_an_export_answers_at_once_scrub_after(void **state)
{
    th_sqlite_only("the scrub of a destroyed key's pages from SQLite's WAL (a truncating checkpoint)");
    fx *f = *state;
    cu_ctx c = access_ctx(f, f->a, f->ada);
    cu_subject_export *x = NULL;
    char sql[160], hex[256], buf[1024], *cert = NULL, *stored = NULL;
    uint8_t key[128];
    cu_err err = {0};
    size_t got = 0;
    int n;

    snprintf(sql, sizeof(sql), "SELECT hex(wrapped) FROM keys WHERE kind = 4 AND owner_id = %llu",
             (unsigned long long)f->bob);
    assert_int_equal(th_sql_text(f->data, sql, hex, sizeof(hex)), 0);
    n = hex_bytes(hex, key, sizeof(key));
    assert_true(n > 32);
    assert_true(in_files(f, key, n)); /* the search works */
    assert_int_equal(cu_vault_erase_start(f->v, &err), CU_OK);
    assert_int_equal(
        cu_subject_export_open(f->v, &c, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, &x, &err), CU_OK);
    assert_int_equal(cu_subject_export_read(x, buf, sizeof(buf), &got, &err), CU_OK);
    assert_true(got > 0);
    /* The erasure of bob, while ada's export is open: done, certified, its scrub pending. */
    assert_int_equal(cu_subject_erase_certified(f->v, NULL, f->a, f->bob, &cert, &err), CU_OK);
    assert_non_null(cert);
    assert_true(cu_vault_scrub_pending(f->v));
    assert_true(in_files(f, key, n)); /* not scrubbed yet: the export's snapshot holds it */
    /* The certificate is the one stored in the erasure's transaction. */
    assert_int_equal(cu_store_erasure_certificate(f->v->store, f->a, f->bob, &stored, &err), CU_OK);
    assert_string_equal(stored, cert);
    /* The export reads on, whole. */
    while (cu_subject_export_read(x, buf, sizeof(buf), &got, &err) == CU_OK && got > 0)
        ;
    assert_int_equal(err.code, CU_OK);
    cu_subject_export_free(x);
    /* The erasure thread retries each second: the scrub completes once the export is gone. */
    for (int i = 0; i < 200 && cu_vault_scrub_pending(f->v); i++)
        usleep(50 * 1000);
    assert_false(cu_vault_scrub_pending(f->v));
    assert_false(in_files(f, key, n));
    free(stored);
    free(cert);
}

/* P-DSR-3: a rectification while an export is open answers from its commit at once (it waited
 * 10 s for the export's snapshot, then failed after committing); the old value leaves the WAL
 * once the export is gone. */
static void test_P_DSR_3_rectify_during_an_export_answers_at_once_scrub_after(void **state)
{
    fx *f = *state;
    cu_ctx c = access_ctx(f, f->a, f->ada);
    cu_subject_in in = {.email = "bob.corrected@example.com"};
    cu_subject_export *x = NULL;
    char buf[1024];
    cu_err err = {0};
    size_t got = 0;

    assert_int_equal(cu_vault_erase_start(f->v, &err), CU_OK);
    assert_int_equal(
        cu_subject_export_open(f->v, &c, f->a, f->ada, CU_SUBJECT_EXPORT_JSON, &x, &err), CU_OK);
    assert_int_equal(cu_subject_export_read(x, buf, sizeof(buf), &got, &err), CU_OK);
    assert_int_equal(cu_subject_rectify(f->v, NULL, f->a, f->bob, &in, &err), CU_OK);
    assert_true(cu_vault_scrub_pending(f->v));
    while (cu_subject_export_read(x, buf, sizeof(buf), &got, &err) == CU_OK && got > 0)
        ;
    cu_subject_export_free(x);
    for (int i = 0; i < 200 && cu_vault_scrub_pending(f->v); i++)
        usleep(50 * 1000);
    assert_false(cu_vault_scrub_pending(f->v));
}

/* The index catches up a bounded number of entries a call (CU_AUDIT_INDEX_STEP; here 4), so a
 * long stretch without a call holds the writer a bounded time; the reader takes the log past
 * the mark, so every access is listed all the same, and each call moves the mark by the
 * bound until it reaches the log's end. */
static void test_P_AUD_5_subject_index_catches_up_a_bounded_step_and_misses_nothing(void **state)
{
    fx *f = *state;
    cu_ctx support = {.actor = "key:42", .purpose = "support"};
    cu_audit_entry *e = NULL;
    cu_record r = {0};
    cu_err err = {0};
    char mark[160], last[160];
    long long m0, m, end;
    size_t n = 0, reads = 0;

    snprintf(mark, sizeof(mark),
             "SELECT coalesce(max(seq), 0) FROM audit_subject_marks WHERE tenant_id = %lld",
             (long long)f->a);
    snprintf(last, sizeof(last), "SELECT max(seq) FROM audit_log WHERE tenant_id = %lld",
             (long long)f->a);
    m0 = th_sql_int(f->data, mark);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(cu_record_get(f->v, &support, f->a, f->contact, &r, &err), CU_OK);
        cu_record_cleanup(&r);
    }
    end = th_sql_int(f->data, last);
    assert_true(end > m0 + 12);
    cu_audit_index_step_set(4);
    assert_int_equal(cu_audit_subject_list(f->v, &support, f->a, f->ada, 0, 1000, &e, &n, &err),
                     CU_OK);
    for (size_t i = 0; i < n; i++)
        reads += strcmp(e[i].action, "record.read") == 0 && e[i].subject_id == f->ada;
    free(e);
    /* Every read of Ada's data listed (the twelve and the set-up's), though the index holds
     * at most four of them. */
    snprintf(last, sizeof(last),
             "SELECT count(*) FROM audit_log WHERE tenant_id = %lld AND subject_id = %lld"
             " AND action = 'record.read'",
             (long long)f->a, (long long)f->ada);
    assert_true(reads >= 12);
    assert_int_equal((long long)reads, th_sql_int(f->data, last));
    snprintf(last, sizeof(last), "SELECT max(seq) FROM audit_log WHERE tenant_id = %lld",
             (long long)f->a);
    assert_int_equal(th_sql_int(f->data, mark), m0 + 4);
    /* Each call moves the mark by the bound, then to the entry before its own (its audit.read,
     * committed with the catch-up), never further. */
    for (int call = 0;
         call < 40 && (m = th_sql_int(f->data, mark)) < th_sql_int(f->data, last) - 1; call++) {
        assert_int_equal(
            cu_audit_subject_list(f->v, &support, f->a, f->ada, 0, 1000, &e, &n, &err), CU_OK);
        free(e);
        assert_true(th_sql_int(f->data, mark) <= m + 4);
    }
    assert_int_equal(th_sql_int(f->data, mark), th_sql_int(f->data, last) - 1);
    cu_audit_index_step_set(0);
    assert_int_equal(cu_audit_index_step(), CU_AUDIT_INDEX_STEP);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_P_DSR_1_P_ISO_1_json_holds_everything_of_the_subject_alone),
        T(test_P_AUD_3_one_entry_and_the_purpose),
        T(test_P_ISO_1_foreign_tenant_finds_no_subject),
        T(test_P_DSR_4_erased_subject_exports_nothing),
        T(test_P_DSR_2_csv_zip_parses),
        T(test_P_DSR_2_fault_midway_is_an_error_not_a_short_export),
        T(test_P_DSR_1_export_reads_one_snapshot),
        T(test_P_DSR_2_memory_bounded_with_many_records),
        T(test_P_AUD_2_subject_index_keeps_the_chain_and_is_filled_by_migration),
        T(test_P_DSR_4_erasure_during_an_export_answers_at_once_scrub_after),
        T(test_P_DSR_3_rectify_during_an_export_answers_at_once_scrub_after),
        T(test_P_AUD_5_subject_index_catches_up_a_bounded_step_and_misses_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
