/*
 * test_http_audit.c: the audit log over the real HTTPS server: every access leaves an entry
 * with who, what, why, when, from where (P-AUD-1); verification over HTTP catches a changed,
 * removed or cut-off entry, and the exported log and checkpoints verify without Custos, by the
 * format of docs/audit.md (P-AUD-2); an operation whose entry cannot be written does not happen
 * (P-AUD-3); no personal value reaches the log (P-AUD-4); a tenant reads its own log, filtered
 * and paged, and nobody else's (P-AUD-5), platform staff's accesses included (P-ACC-4).
 *
 * One server with tenants A and B is shared by the first group; the tests that stop the server
 * to edit its files or to inject a fault get servers of their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "repr.h"
#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    W = srv_world_new("alpha", "bravo");
    *state = W;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_world_free(W);
    W = NULL;
    return 0;
}

/* --- helpers ------------------------------------------------------------------------------ */

/* One call that must answer want with JSON; returns the parsed answer (caller deletes) and
 * copies the X-Request-Id into rid when given. */
static cJSON *call_json(const srv *s, const char *method, const char *path, const char *auth,
                        const char *purpose, const char *body, long want, char rid[64])
{
    srv_resp r;
    cJSON *o;

    assert_int_equal(srv_call(s, method, path, auth, purpose, body, &r), 0);
    if (r.status != want)
        fail_msg("%s %s: expected %ld, got %ld %s", method, path, want, r.status, r.body);
    if ((o = cJSON_Parse(r.body)) == NULL)
        fail_msg("%s %s: not JSON: %s", method, path, r.body);
    if (rid != NULL)
        snprintf(rid, 64, "%s", r.request_id);
    srv_resp_free(&r);
    return o;
}

static const char *jstr(const cJSON *o, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* Calls and copies the answer's "id" into id. */
static void call_id(const srv *s, const char *method, const char *path, const char *auth,
                    const char *purpose, const char *body, long want, char id[SRV_ID], char rid[64])
{
    cJSON *o = call_json(s, method, path, auth, purpose, body, want, rid);

    assert_non_null(jstr(o, "id"));
    snprintf(id, SRV_ID, "%s", jstr(o, "id"));
    cJSON_Delete(o);
}

/* Every entry of the log at base ("/v1/tenants/T/audit" or "/v1/audit") that matches query
 * ("" for all), read page by page. Caller deletes. With text, also appends the raw answers. */
static cJSON *log_all(const srv *s, const char *base, const char *query, const char *auth,
                      char **text)
{
    cJSON *all = cJSON_CreateArray();
    char after[SRV_ID] = "0", path[1024];
    size_t tlen = 0;

    for (int pages = 0;; pages++) {
        srv_resp r;
        cJSON *o, *e, *next;
        assert_true(pages < 1000);
        snprintf(path, sizeof(path), "%s?limit=1000&after=%s%s%s", base, after, *query ? "&" : "",
                 query);
        assert_int_equal(srv_call(s, "GET", path, auth, NULL, NULL, &r), 0);
        if (r.status != 200)
            fail_msg("GET %s: %ld %s", path, r.status, r.body);
        if (text != NULL) {
            *text = realloc(*text, tlen + r.len + 1);
            assert_non_null(*text);
            memcpy(*text + tlen, r.body, r.len + 1);
            tlen += r.len;
        }
        o = cJSON_Parse(r.body);
        srv_resp_free(&r);
        assert_non_null(o);
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "entries"))
            cJSON_AddItemToArray(all, cJSON_Duplicate(e, 1));
        next = cJSON_GetObjectItemCaseSensitive(o, "next");
        if (!cJSON_IsString(next)) {
            assert_true(cJSON_IsNull(next));
            cJSON_Delete(o);
            return all;
        }
        snprintf(after, sizeof(after), "%s", next->valuestring);
        cJSON_Delete(o);
    }
}

static void tenant_log(const char *tenant, char *out, size_t cap)
{
    snprintf(out, cap, "/v1/tenants/%s/audit", tenant);
}

/* The entry with this request id and action, or NULL. */
static const cJSON *entry_of(const cJSON *entries, const char *rid, const char *action)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, entries)
    {
        if (strcmp(jstr(e, "request_id"), rid) == 0 && strcmp(jstr(e, "action"), action) == 0)
            return e;
    }
    return NULL;
}

/* P-AUD-1: the request rid left an entry action on object, by actor, for purpose, from the
 * loopback address, in tenant. */
static void expect_entry(const cJSON *entries, const char *tenant, const char *rid,
                         const char *action, const char *object, const char *actor,
                         const char *purpose)
{
    const cJSON *e = entry_of(entries, rid, action);
    char *dump;

    if (e == NULL)
        fail_msg("no %s entry for request %s", action, rid);
    dump = cJSON_PrintUnformatted(e);
    if (strcmp(jstr(e, "tenant_id"), tenant) != 0 || strcmp(jstr(e, "object"), object) != 0 ||
        strcmp(jstr(e, "actor"), actor) != 0 || strcmp(jstr(e, "purpose"), purpose) != 0 ||
        strcmp(jstr(e, "source"), "127.0.0.1") != 0 || strcmp(jstr(e, "outcome"), "ok") != 0)
        fail_msg("%s: expected tenant %s, object %s, actor %s, purpose \"%s\", source 127.0.0.1: "
                 "got %s",
                 action, tenant, object, actor, purpose, dump);
    free(dump);
}

/* Makes a tenant with the operator key; copies its id and owner key secret. */
static void make_tenant(const srv *s, const char *name, char id[SRV_ID], char key[128])
{
    char body[128];
    cJSON *o;

    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    o = call_json(s, "POST", "/v1/tenants", s->operator_key, NULL, body, 201, NULL);
    snprintf(id, SRV_ID, "%s", jstr(o, "id"));
    snprintf(key, 128, "%s", jstr(cJSON_GetObjectItemCaseSensitive(o, "owner_api_key"), "secret"));
    cJSON_Delete(o);
}

/* The id of an API key: the digits between "cuk_" and the next "_". */
static void key_id_of(const char *secret, char id[SRV_ID])
{
    size_t n = strcspn(secret + 4, "_");

    assert_true(n < SRV_ID);
    snprintf(id, SRV_ID, "%.*s", (int)n, secret + 4);
}

/* A tenant id as SQLite holds it (a signed 64-bit integer). */
static long long sql_id(const char *id)
{
    return (long long)strtoull(id, NULL, 10);
}

/* --- P-AUD-1 ------------------------------------------------------------------------------ */

/* A create, read, update, find, delete and erase cycle, and key administration, each leave an
 * entry naming the key, the object, the stated purpose, the source and the request id. */
static void test_P_AUD_1_every_access_leaves_an_entry(void **state)
{
    const char *owner = W->a.key[CU_ROLE_OWNER], *t = W->a.id;
    char actor[64], path[256], body[256], base[128], subj[SRV_ID], rec[SRV_ID], key[SRV_ID];
    char obj_s[64], obj_r[64], obj_k[64];
    char rid[12][64];
    cJSON *o, *log;

    (void)state;
    snprintf(actor, sizeof(actor), "key:%s", W->a.key_id[CU_ROLE_OWNER]);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t);
    call_id(&W->s, "POST", path, owner, "onboarding",
            "{\"external_id\":\"aud1-ext\",\"email\":\"aud1.subject@example.org\"}", 201, subj,
            rid[0]);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", t);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"aud1 first\"}}",
             subj);
    call_id(&W->s, "POST", path, owner, "support", body, 201, rec, rid[1]);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, rec);
    cJSON_Delete(call_json(&W->s, "GET", path, owner, "support", NULL, 200, rid[2]));
    cJSON_Delete(call_json(&W->s, "PUT", path, owner, "correction",
                           "{\"data\":{\"note\":\"aud1 second\"}}", 200, rid[3]));
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records/search", t);
    o = call_json(&W->s, "POST", path, owner, "lookup",
                  "{\"field\":\"note\",\"value\":\"aud1 second\"}", 200, rid[4]);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "ids"), 0)),
        rec);
    cJSON_Delete(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/search", t);
    cJSON_Delete(call_json(&W->s, "POST", path, owner, "lookup",
                           "{\"email\":\"aud1.subject@example.org\"}", 200, rid[5]));
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", t, subj);
    cJSON_Delete(call_json(&W->s, "GET", path, owner, "access_request", NULL, 200, rid[6]));
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/records", t, subj);
    cJSON_Delete(call_json(&W->s, "GET", path, owner, "access_request", NULL, 200, rid[7]));
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, rec);
    cJSON_Delete(call_json(&W->s, "DELETE", path, owner, "cleanup", NULL, 200, rid[8]));
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", t, subj);
    cJSON_Delete(call_json(&W->s, "DELETE", path, owner, "dsr", NULL, 200, rid[9]));
    /* Administrative acts, with no purpose. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", t);
    call_id(&W->s, "POST", path, owner, NULL, "{\"name\":\"aud1\",\"role\":\"agent\"}", 201, key,
            rid[10]);
    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys/%s", t, key);
    cJSON_Delete(call_json(&W->s, "DELETE", path, owner, NULL, NULL, 200, rid[11]));

    snprintf(obj_s, sizeof(obj_s), "subject:%s", subj);
    snprintf(obj_r, sizeof(obj_r), "record:%s", rec);
    snprintf(obj_k, sizeof(obj_k), "apikey:%s", key);
    tenant_log(t, base, sizeof(base));
    log = log_all(&W->s, base, "", owner, NULL);
    expect_entry(log, t, rid[0], "subject.create", obj_s, actor, "onboarding");
    expect_entry(log, t, rid[1], "record.create", obj_r, actor, "support");
    expect_entry(log, t, rid[2], "record.read", obj_r, actor, "support");
    expect_entry(log, t, rid[3], "record.update", obj_r, actor, "correction");
    expect_entry(log, t, rid[4], "record.find", "collection:notes:field:note", actor, "lookup");
    expect_entry(log, t, rid[5], "subject.find", "index:s:email", actor, "lookup");
    expect_entry(log, t, rid[6], "subject.read", obj_s, actor, "access_request");
    expect_entry(log, t, rid[7], "subject.records", obj_s, actor, "access_request");
    expect_entry(log, t, rid[8], "record.delete", obj_r, actor, "cleanup");
    expect_entry(log, t, rid[9], "subject.erase", obj_s, actor, "dsr");
    expect_entry(log, t, rid[10], "apikey.create", obj_k, actor, "");
    expect_entry(log, t, rid[11], "apikey.revoke", obj_k, actor, "");
    /* Each request id came back in X-Request-Id and is a fresh one. */
    for (int i = 0; i < 12; i++) {
        assert_int_equal(strlen(rid[i]), 32);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(rid[i], rid[j]);
    }
    cJSON_Delete(log);
}

/* --- P-AUD-4 ------------------------------------------------------------------------------ */

/* Values that go through every write and search endpoint; each must be found nowhere but in
 * the answers that return it. None is only digits (decimal ids are everywhere in the log). */
static const char *const secrets[] = {
    "ext-aud4-Quintessa",         /* a subject's external id */
    "quintessa.aud4@example.org", /* its email */
    "+4930555012345",             /* its phone */
    "1977-07-17",                 /* its birth date */
    "Quintessa Aud4 Varga",       /* a record's name */
    "987-65-4329",                /* its SSN (sensitive) */
    "EUR 91827.55 gross",         /* its salary (sensitive) */
    "Quintessa Aud4 Varga-Ost",   /* the updated name */
    "987-65-4330",                /* the updated SSN */
    "hr.aud4.lead@example.org",   /* a user's email */
    "aud4 user password long",    /* its password */
    "nobody.aud4@example.org",    /* a login for an unknown email */
    "aud4 wrong password zz",     /* a wrong password */
};

static int db_has(const char *data, const char *needle)
{
    char path[512];
    int found;

    snprintf(path, sizeof(path), "%s/custos.db", data);
    found = th_file_contains(path, needle, strlen(needle));
    snprintf(path, sizeof(path), "%s/custos.db-wal", data);
    return found || th_file_contains(path, needle, strlen(needle));
}

static void test_P_AUD_4_no_personal_value_in_the_audit_log(void **state)
{
    const char *owner = W->a.key[CU_ROLE_OWNER], *t = W->a.id;
    const char *others[] = {W->a.subject_email, W->a.phone,         W->a.note, W->a.email,
                            W->a.password,      W->b.subject_email, W->b.note, W->b.email};
    char path[256], body[512], base[128], subj[SRV_ID], rec[SRV_ID];
    char *text = NULL, *ptext = NULL;
    cJSON *log, *plog;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t);
    snprintf(body, sizeof(body),
             "{\"external_id\":\"%s\",\"email\":\"%s\",\"phone\":\"%s\",\"birth_date\":\"%s\"}",
             secrets[0], secrets[1], secrets[2], secrets[3]);
    call_id(&W->s, "POST", path, owner, "hr", body, 201, subj, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/staff", t);
    cJSON_Delete(call_json(&W->s, "PUT", path, owner, NULL,
                           "{\"fields\":{\"ssn\":{\"class\":\"sensitive\"},"
                           "\"salary\":{\"class\":\"sensitive\"},"
                           "\"name\":{\"class\":\"personal\",\"indexed\":true}}}",
                           200, NULL));
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/staff/records", t);
    snprintf(body, sizeof(body),
             "{\"subject_id\":\"%s\",\"data\":{\"name\":\"%s\",\"ssn\":\"%s\",\"salary\":\"%s\"}}",
             subj, secrets[4], secrets[5], secrets[6]);
    call_id(&W->s, "POST", path, owner, "hr", body, 201, rec, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, rec);
    snprintf(body, sizeof(body), "{\"data\":{\"name\":\"%s\",\"ssn\":\"%s\",\"salary\":\"%s\"}}",
             secrets[7], secrets[8], secrets[6]);
    cJSON_Delete(call_json(&W->s, "PUT", path, owner, "hr", body, 200, NULL));
    cJSON_Delete(call_json(&W->s, "GET", path, owner, "hr", NULL, 200, NULL));
    /* Searches by SSN, by name, and for the subject by each of its values. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/staff/records/search", t);
    snprintf(body, sizeof(body), "{\"field\":\"ssn\",\"value\":\"%s\"}", secrets[8]);
    cJSON_Delete(call_json(&W->s, "POST", path, owner, "hr", body, 200, NULL));
    snprintf(body, sizeof(body), "{\"field\":\"ssn\",\"value\":\"%s\"}", secrets[5]);
    cJSON_Delete(call_json(&W->s, "POST", path, owner, "hr", body, 200, NULL));
    snprintf(body, sizeof(body), "{\"field\":\"name\",\"value\":\"%s\"}", secrets[7]);
    cJSON_Delete(call_json(&W->s, "POST", path, owner, "hr", body, 200, NULL));
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/search", t);
    snprintf(body, sizeof(body), "{\"email\":\"%s\"}", secrets[1]);
    cJSON_Delete(call_json(&W->s, "POST", path, owner, "hr", body, 200, NULL));
    snprintf(body, sizeof(body), "{\"phone\":\"%s\"}", secrets[2]);
    cJSON_Delete(call_json(&W->s, "POST", path, owner, "hr", body, 200, NULL));
    snprintf(body, sizeof(body), "{\"external_id\":\"%s\"}", secrets[0]);
    cJSON_Delete(call_json(&W->s, "POST", path, owner, "hr", body, 200, NULL));
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", t, subj);
    cJSON_Delete(call_json(&W->s, "GET", path, owner, "hr", NULL, 200, NULL));
    /* A user, its login, a wrong password and an unknown email. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", t);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"agent\"}",
             secrets[9], secrets[10]);
    call_id(&W->s, "POST", path, owner, NULL, body, 201, rec, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/login", t);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", secrets[9], secrets[10]);
    cJSON_Delete(call_json(&W->s, "POST", path, NULL, NULL, body, 200, NULL));
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", secrets[9], secrets[12]);
    cJSON_Delete(call_json(&W->s, "POST", path, NULL, NULL, body, 401, NULL));
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", secrets[11],
             secrets[12]);
    cJSON_Delete(call_json(&W->s, "POST", path, NULL, NULL, body, 401, NULL));

    /* The tenant's whole log and the platform's, as the API answers them. */
    tenant_log(t, base, sizeof(base));
    log = log_all(&W->s, base, "", W->a.key[CU_ROLE_AUDITOR], &text);
    plog = log_all(&W->s, "/v1/audit", "", W->s.operator_key, &ptext);
    assert_true(cJSON_GetArraySize(log) > 20);
    assert_non_null(strstr(text, "\"action\":\"user.login_failed\""));
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (strstr(text, secrets[i]) != NULL || strstr(ptext, secrets[i]) != NULL)
            fail_msg("\"%s\" is in the audit log", secrets[i]);
        if (db_has(W->s.data, secrets[i]))
            fail_msg("\"%s\" is in the database files", secrets[i]);
        if (th_file_contains(W->s.log, secrets[i], strlen(secrets[i])))
            fail_msg("\"%s\" is in the server's stderr", secrets[i]);
    }
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        if (strstr(text, others[i]) != NULL || strstr(ptext, others[i]) != NULL)
            fail_msg("\"%s\" is in the audit log", others[i]);
        if (db_has(W->s.data, others[i]))
            fail_msg("\"%s\" is in the database files", others[i]);
    }
    free(text);
    free(ptext);
    cJSON_Delete(log);
    cJSON_Delete(plog);
}

/* --- P-AUD-5 ------------------------------------------------------------------------------ */

/* Asserts every entry of list has member equal to want, and that there are at least min. */
static void all_have(const cJSON *list, const char *member, const char *want, int min)
{
    const cJSON *e;

    if (cJSON_GetArraySize(list) < min)
        fail_msg("filter %s=%s: %d entries, expected at least %d", member, want,
                 cJSON_GetArraySize(list), min);
    cJSON_ArrayForEach(e, list)
    {
        if (strcmp(jstr(e, member), want) != 0)
            fail_msg("filter %s=%s let through %s", member, want, jstr(e, member));
    }
}

/* object_prefix: every entry whose object begins with it and only those, counted against the
 * whole log; the whole object is its own prefix; LIKE's % and _ are plain characters there. */
static void prefix_finds(const srv *s, const char *base, const char *auth, const char *object)
{
    cJSON *all = log_all(s, base, "", auth, NULL), *l;
    const cJSON *e;
    char q[256];
    int want = 0;

    cJSON_ArrayForEach(e, all) want += strncmp(jstr(e, "object"), "record:", 7) == 0;
    cJSON_Delete(all);
    assert_true(want >= 5);
    l = log_all(s, base, "object_prefix=record:", auth, NULL);
    assert_int_equal(cJSON_GetArraySize(l), want);
    cJSON_ArrayForEach(e, l) assert_int_equal(strncmp(jstr(e, "object"), "record:", 7), 0);
    cJSON_Delete(l);
    snprintf(q, sizeof(q), "object_prefix=%s", object);
    l = log_all(s, base, q, auth, NULL);
    all_have(l, "object", object, 5);
    cJSON_Delete(l);
    l = log_all(s, base, "object_prefix=rec%25", auth, NULL);
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    l = log_all(s, base, "object_prefix=r_cord:", auth, NULL);
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    l = log_all(s, base, "object_prefix=Record:", auth, NULL); /* case counts */
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
}

/* The whole answer of one GET as the body (caller frees), asserting status want. */
static char *get_body(const srv *s, const char *path, const char *auth, long want)
{
    srv_resp r;
    char *b;

    assert_int_equal(srv_call(s, "GET", path, auth, NULL, NULL, &r), 0);
    if (r.status != want)
        fail_msg("GET %s: expected %ld, got %ld %s", path, want, r.status, r.body);
    b = r.body;
    return b;
}

static void test_P_AUD_5_filters_and_cursor_pagination(void **state)
{
    const char *agent = W->a.key[CU_ROLE_AGENT], *owner = W->a.key[CU_ROLE_OWNER], *t = W->a.id;
    char path[512], base[128], q[256], actor[64], obj[64], from[40], to[40], rid[64];
    const char *bad[] = {"foo=1",           "limit=0",  "limit=1001",     "limit=x",
                         "after=-1",        "after=1x", "from=yesterday", "to=2026-13-01",
                         "from=2026-02-30", "to=0",     "action=",        "limit=1&limit=2",
                         "object_prefix=",  "object_prefix=a%01b",
                         "object_prefix=%FF", "actor=%C0%80" /* not UTF-8 */};
    cJSON *l, *first;
    uint64_t expect_seq = 1;
    int pages = 0, reads = 0;

    (void)state;
    /* Marked traffic: the agent reads A's record three times for "aud5.beta", once for
     * "aud5.gamma". */
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, W->a.record);
    for (int i = 0; i < 3; i++)
        cJSON_Delete(call_json(&W->s, "GET", path, agent, "aud5.beta", NULL, 200, NULL));
    cJSON_Delete(call_json(&W->s, "GET", path, agent, "aud5.gamma", NULL, 200, rid));
    tenant_log(t, base, sizeof(base));

    snprintf(actor, sizeof(actor), "actor=key:%s", W->a.key_id[CU_ROLE_AGENT]);
    l = log_all(&W->s, base, actor, owner, NULL);
    all_have(l, "actor", actor + 6, 4);
    cJSON_Delete(l);
    l = log_all(&W->s, base, "action=record.read", owner, NULL);
    all_have(l, "action", "record.read", 4);
    cJSON_Delete(l);
    snprintf(obj, sizeof(obj), "object=record:%s", W->a.record);
    l = log_all(&W->s, base, obj, owner, NULL);
    all_have(l, "object", obj + 7, 5); /* its creation and the four reads */
    cJSON_Delete(l);
    prefix_finds(&W->s, base, owner, obj + 7);
    l = log_all(&W->s, base, "purpose=aud5.beta", owner, NULL);
    all_have(l, "purpose", "aud5.beta", 3);
    assert_int_equal(cJSON_GetArraySize(l), 3);
    /* Filters combine. */
    snprintf(q, sizeof(q), "purpose=aud5.gamma&action=record.read&%s&%s", actor, obj);
    cJSON_Delete(l);
    l = log_all(&W->s, base, q, owner, NULL);
    assert_int_equal(cJSON_GetArraySize(l), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "request_id"), rid);
    cJSON_Delete(l);

    /* A time range, inclusive, in RFC 3339 (the "+" of an offset encoded) and in unix ms: from
     * the earliest of the three to the latest ("at" is when each operation began, so it need
     * not grow with seq). */
    l = log_all(&W->s, base, "purpose=aud5.beta", owner, NULL);
    snprintf(from, sizeof(from), "%s", jstr(cJSON_GetArrayItem(l, 0), "at"));
    snprintf(to, sizeof(to), "%s", from);
    cJSON_ArrayForEach(first, l)
    {
        if (strcmp(jstr(first, "at"), from) < 0)
            snprintf(from, sizeof(from), "%s", jstr(first, "at"));
        if (strcmp(jstr(first, "at"), to) > 0)
            snprintf(to, sizeof(to), "%s", jstr(first, "at"));
    }
    cJSON_Delete(l);
    snprintf(q, sizeof(q), "from=%s&to=%s", from, to);
    l = log_all(&W->s, base, q, owner, NULL);
    {
        const cJSON *e;
        int beta = 0;
        cJSON_ArrayForEach(e, l)
        {
            /* Fixed-width RFC 3339: text order is time order. */
            assert_true(strcmp(jstr(e, "at"), from) >= 0 && strcmp(jstr(e, "at"), to) <= 0);
            beta += strcmp(jstr(e, "purpose"), "aud5.beta") == 0;
        }
        assert_int_equal(beta, 3);
    }
    cJSON_Delete(l);
    {
        struct tm tm = {0};
        int ms = 0;
        long long t0;
        assert_int_equal(sscanf(from, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                         7);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        t0 = (long long)timegm(&tm) * 1000 + ms;
        /* The same instant an hour ahead in +01:00, and as unix ms: the same first entry. */
        tm.tm_hour += 1;
        timegm(&tm);
        snprintf(q, sizeof(q), "purpose=aud5.beta&from=%04d-%02d-%02dT%02d:%02d:%02d.%03d%%2B01:00",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ms);
        l = log_all(&W->s, base, q, owner, NULL);
        assert_int_equal(cJSON_GetArraySize(l), 3);
        cJSON_Delete(l);
        snprintf(q, sizeof(q), "purpose=aud5.beta&from=%lld&to=%lld", t0, t0);
        l = log_all(&W->s, base, q, owner, NULL);
        assert_true(cJSON_GetArraySize(l) >= 1);
        assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "at"), from);
        cJSON_Delete(l);
        snprintf(q, sizeof(q), "purpose=aud5.beta&to=%lld", t0 - 1);
        l = log_all(&W->s, base, q, owner, NULL);
        assert_int_equal(cJSON_GetArraySize(l), 0);
        cJSON_Delete(l);
    }

    /* Pages of two cover the log exactly once, in order. Each page read is itself an entry at
     * the end, so the log grows by one per page while the pages advance by two. */
    snprintf(q, sizeof(q), "0");
    for (;;) {
        cJSON *o, *e, *next;
        int n = 0;
        assert_true(++pages < 10000);
        snprintf(path, sizeof(path), "%s?limit=2&after=%s", base, q);
        o = call_json(&W->s, "GET", path, W->a.key[CU_ROLE_AUDITOR], NULL, NULL, 200, NULL);
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "entries"))
        {
            assert_int_equal(strtoull(jstr(e, "seq"), NULL, 10), expect_seq);
            assert_string_equal(jstr(e, "tenant_id"), t);
            reads += strcmp(jstr(e, "action"), "audit.read") == 0;
            expect_seq++;
            n++;
        }
        assert_true(n <= 2);
        next = cJSON_GetObjectItemCaseSensitive(o, "next");
        if (cJSON_IsNull(next)) {
            assert_true(n < 2);
            cJSON_Delete(o);
            break;
        }
        assert_int_equal(n, 2);
        assert_int_equal(strtoull(next->valuestring, NULL, 10), expect_seq - 1);
        snprintf(q, sizeof(q), "%s", next->valuestring);
        cJSON_Delete(o);
    }
    assert_true(expect_seq > 40);
    assert_true(reads >= pages - 1);

    /* Bad queries are refused, not ignored. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        srv_resp r;
        snprintf(path, sizeof(path), "%s?%s", base, bad[i]);
        assert_int_equal(srv_call(&W->s, "GET", path, owner, NULL, NULL, &r), 0);
        srv_assert_err(&r, 400, i == 0 ? "unknown_field" : "invalid_field");
        srv_resp_free(&r);
    }
    snprintf(path, sizeof(path), "%s/verify?limit=1", base);
    {
        srv_resp r;
        assert_int_equal(srv_call(&W->s, "GET", path, owner, NULL, NULL, &r), 0);
        srv_assert_err(&r, 400, "unknown_field");
        srv_resp_free(&r);
    }
}

/* P-AUD-5, P-ISO-2: A's log holds A's entries alone; B's log, verification and checkpoints
 * answer A's keys exactly as a tenant that does not exist. */
static void test_P_AUD_5_a_tenant_sees_only_its_own_log(void **state)
{
    static const char *const tails[] = {"", "/verify", "/checkpoints"};
    const char *b_ids[] = {W->b.id,
                           W->b.subject,
                           W->b.record,
                           W->b.user,
                           W->b.key_id[CU_ROLE_OWNER],
                           W->b.key_id[CU_ROLE_AGENT]};
    char base[128], path[256], *text = NULL;
    cJSON *l;
    const cJSON *e;

    (void)state;
    tenant_log(W->a.id, base, sizeof(base));
    l = log_all(&W->s, base, "", W->a.key[CU_ROLE_AUDITOR], &text);
    cJSON_ArrayForEach(e, l) assert_string_equal(jstr(e, "tenant_id"), W->a.id);
    for (size_t i = 0; i < sizeof(b_ids) / sizeof(b_ids[0]); i++)
        if (strstr(text, b_ids[i]) != NULL)
            fail_msg("B's id %s is in A's log", b_ids[i]);
    free(text);
    cJSON_Delete(l);
    for (size_t i = 0; i < 3; i++) {
        char *b_body, *none_body;
        snprintf(path, sizeof(path), "/v1/tenants/%s/audit%s", W->b.id, tails[i]);
        b_body = get_body(&W->s, path, W->a.key[CU_ROLE_OWNER], 404);
        snprintf(path, sizeof(path), "/v1/tenants/%s/audit%s", "1234567890123456789", tails[i]);
        none_body = get_body(&W->s, path, W->a.key[CU_ROLE_OWNER], 404);
        assert_string_equal(b_body, none_body);
        free(b_body);
        free(none_body);
    }
    /* Only the audit permission reads a log: an agent of A gets 403 on A's own. */
    free(get_body(&W->s, base, W->a.key[CU_ROLE_AGENT], 403));
    free(get_body(&W->s, base, W->a.key[CU_ROLE_ADMIN], 403));
    /* The platform's log is the operator's. */
    free(get_body(&W->s, "/v1/audit", W->a.key[CU_ROLE_OWNER], 403));
    free(get_body(&W->s, "/v1/audit", W->s.operator_key, 200));
}

/* --- P-RET-4, P-RET-5: what an admin may not do to the log ------------------------------ */

/* An admin (who cannot read the log) can bind no policy, since a policy sets how long the log
 * is kept, unless the owner lets admins do it, and cannot release a hold on the whole tenant,
 * which keeps the log; the owner can both. Tenant b, last: its policy then restricts its
 * collections. */
static void test_P_RET_4_admin_binds_no_policy_and_releases_no_tenant_hold(void **state)
{
    char path[160], grant[160], hold[SRV_ID];
    srv_resp r = {0};

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/policy", W->b.id);
    assert_int_equal(srv_call(&W->s, "PUT", path, W->b.key[CU_ROLE_ADMIN], NULL,
                              "{\"policy\":\"erpsmartcloud\"}", &r),
                     0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    srv_call_ok(&W->s, "PUT", path, W->b.key[CU_ROLE_OWNER], NULL,
                "{\"policy\":\"erpsmartcloud\"}", 200, NULL);
    /* The owner lets admins bind it: then they may, but never grant it themselves. */
    snprintf(grant, sizeof(grant), "/v1/tenants/%s/policy/grant", W->b.id);
    srv_call_ok(&W->s, "PUT", grant, W->b.key[CU_ROLE_OWNER], NULL, "{\"admins\":true}", 200,
                NULL);
    srv_call_ok(&W->s, "PUT", path, W->b.key[CU_ROLE_ADMIN], NULL,
                "{\"policy\":\"erpsmartcloud\"}", 200, NULL);
    assert_int_equal(
        srv_call(&W->s, "PUT", grant, W->b.key[CU_ROLE_ADMIN], NULL, "{\"admins\":true}", &r), 0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    srv_call_ok(&W->s, "PUT", grant, W->b.key[CU_ROLE_OWNER], NULL, "{\"admins\":false}", 200,
                NULL);
    assert_int_equal(srv_call(&W->s, "PUT", path, W->b.key[CU_ROLE_ADMIN], NULL,
                              "{\"policy\":\"erpsmartcloud\"}", &r),
                     0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/holds", W->b.id);
    srv_call_ok(&W->s, "POST", path, W->b.key[CU_ROLE_ADMIN], NULL, "{\"reason\":\"case 7\"}",
                201, hold);
    snprintf(path, sizeof(path), "/v1/tenants/%s/holds/%s/release", W->b.id, hold);
    assert_int_equal(
        srv_call(&W->s, "POST", path, W->b.key[CU_ROLE_ADMIN], NULL, "{\"reason\":\"x\"}", &r),
        0);
    srv_assert_err(&r, 403, "forbidden");
    srv_resp_free(&r);
    srv_call_ok(&W->s, "POST", path, W->b.key[CU_ROLE_OWNER], NULL, "{\"reason\":\"x\"}", 200,
                NULL);
}

/* P-AUD-2: a tenant that keeps its checkpoints fetches only those past the newest it holds. */
static void test_P_AUD_2_checkpoints_after_a_seq(void **state)
{
    char path[160], q[200];
    cJSON *c1, *c2, *page;
    const cJSON *c;
    srv_resp r = {0};
    char first[SRV_ID];

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit/checkpoints", W->a.id);
    c1 = call_json(&W->s, "POST", path, W->a.key[CU_ROLE_AUDITOR], NULL, NULL, 201, NULL);
    snprintf(first, sizeof(first), "%s", jstr(c1, "seq"));
    c2 = call_json(&W->s, "POST", path, W->a.key[CU_ROLE_AUDITOR], NULL, NULL, 201, NULL);
    snprintf(q, sizeof(q), "%s?after=%s", path, first);
    page = call_json(&W->s, "GET", q, W->a.key[CU_ROLE_AUDITOR], NULL, NULL, 200, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(page, "checkpoints")),
                     1);
    c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(page, "checkpoints"), 0);
    assert_string_equal(jstr(c, "seq"), jstr(c2, "seq"));
    assert_string_equal(jstr(c, "signature"), jstr(c2, "signature"));
    snprintf(q, sizeof(q), "%s?after=x", path);
    assert_int_equal(srv_call(&W->s, "GET", q, W->a.key[CU_ROLE_AUDITOR], NULL, NULL, &r), 0);
    srv_assert_err(&r, 400, "invalid_field");
    srv_resp_free(&r);
    cJSON_Delete(c1);
    cJSON_Delete(c2);
    cJSON_Delete(page);
}

/* --- P-ACC-4 ------------------------------------------------------------------------------ */

/* The operator reads a record of A for support; A's owner sees that access in A's log. */
static void test_P_ACC_4_operator_access_is_in_the_tenant_log(void **state)
{
    char path[256], base[128], op_id[SRV_ID], actor[64], q[128], rid[64], obj[64];
    const cJSON *e;
    cJSON *l;

    (void)state;
    key_id_of(W->s.operator_key, op_id);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", W->a.id, W->a.record);
    cJSON_Delete(call_json(&W->s, "GET", path, W->s.operator_key, "support", NULL, 200, rid));
    /* The operator cannot read the tenant's log itself (P-ISO-2). */
    tenant_log(W->a.id, base, sizeof(base));
    free(get_body(&W->s, base, W->s.operator_key, 403));

    snprintf(actor, sizeof(actor), "operator:key:%s", op_id);
    snprintf(q, sizeof(q), "actor=%s", actor);
    l = log_all(&W->s, base, q, W->a.key[CU_ROLE_OWNER], NULL);
    snprintf(obj, sizeof(obj), "record:%s", W->a.record);
    expect_entry(l, W->a.id, rid, "record.read", obj, actor, "support");
    cJSON_ArrayForEach(e, l) assert_string_equal(jstr(e, "actor"), actor);
    cJSON_Delete(l);
    /* Nor does that access show in B's log. */
    tenant_log(W->b.id, base, sizeof(base));
    l = log_all(&W->s, base, q, W->b.key[CU_ROLE_OWNER], NULL);
    assert_null(entry_of(l, rid, "record.read"));
    cJSON_Delete(l);
}

/* --- P-AUD-2 ------------------------------------------------------------------------------ */

static void unhex(const char *h, uint8_t *out, size_t n)
{
    assert_non_null(h);
    assert_int_equal(strlen(h), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &x), 1);
        out[i] = (uint8_t)x;
    }
}

static void put_u64(uint8_t *b, size_t *n, uint64_t x)
{
    for (int i = 7; i >= 0; i--)
        b[(*n)++] = (uint8_t)(x >> (i * 8));
}

static void put_text(uint8_t *b, size_t *n, const char *s)
{
    size_t len = strlen(s);

    b[(*n)++] = (uint8_t)(len >> 8);
    b[(*n)++] = (uint8_t)len;
    memcpy(b + *n, s, len);
    *n += len;
}

static uint64_t u64(const cJSON *o, const char *name)
{
    return strtoull(jstr(o, name), NULL, 10);
}

/* "2026-11-23T18:32:25.123Z" as unix milliseconds. */
static uint64_t at_ms(const cJSON *o, const char *name)
{
    struct tm tm = {0};
    int ms;

    assert_int_equal(sscanf(jstr(o, name), "%d-%d-%dT%d:%d:%d.%3dZ", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                     7);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (uint64_t)timegm(&tm) * 1000 + (uint64_t)ms;
}

/* docs/audit.md, written again from the document alone: an exported log and its checkpoints
 * verify without Custos. */
static void verify_outside(const cJSON *entries, const cJSON *export)
{
    static const char *const texts[] = {"actor",  "action",     "object", "purpose",
                                        "source", "request_id", "outcome"};
    uint8_t prev[32] = {0}, pk[32], b[1024];
    const cJSON *e, *c;
    uint64_t seq = 0;
    size_t n;

    cJSON_ArrayForEach(e, entries)
    {
        uint8_t h[32], stored[32], p[32];
        assert_int_equal(u64(e, "seq"), ++seq);
        unhex(jstr(e, "prev"), p, 32);
        assert_memory_equal(p, prev, 32);
        const cJSON *dg = cJSON_GetObjectItemCaseSensitive(e, "digest");
        n = 0;
        /* Format 2, a record write's entry, carries the digest of its ciphertext. */
        memcpy(b, dg != NULL ? "cu-audit2" : "cu-audit1", 9);
        n = 9;
        put_u64(b, &n, u64(e, "tenant_id"));
        put_u64(b, &n, u64(e, "seq"));
        put_u64(b, &n, at_ms(e, "at"));
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
            put_text(b, &n, jstr(e, texts[i]));
        if (dg != NULL) {
            unhex(jstr(e, "digest"), b + n, 32);
            n += 32;
        }
        memcpy(b + n, p, 32);
        n += 32;
        cu_sha256(b, n, h);
        unhex(jstr(e, "hash"), stored, 32);
        assert_memory_equal(h, stored, 32);
        memcpy(prev, h, 32);
    }
    assert_string_equal(jstr(export, "algorithm"), "Ed25519");
    unhex(jstr(export, "public_key"), pk, 32);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(export, "checkpoints")) > 0);
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(export, "checkpoints"))
    {
        uint8_t sig[64], hash[32], entry_hash[32];
        n = 0;
        memcpy(b, "cu-ckpt1", 8);
        n = 8;
        put_u64(b, &n, u64(c, "tenant_id"));
        put_u64(b, &n, u64(c, "seq"));
        put_u64(b, &n, at_ms(c, "at"));
        unhex(jstr(c, "hash"), hash, 32);
        memcpy(b + n, hash, 32);
        n += 32;
        assert_int_equal(n, 64);
        unhex(jstr(c, "signature"), sig, 64);
        assert_true(cu_sign_verify(pk, b, n, sig));
        /* The checkpoint signs the hash of the entry at its seq. */
        e = cJSON_GetArrayItem(entries, (int)u64(c, "seq") - 1);
        assert_non_null(e);
        unhex(jstr(e, "hash"), entry_hash, 32);
        assert_memory_equal(entry_hash, hash, 32);
        /* A changed hash no longer verifies. */
        b[63] ^= 1;
        assert_false(cu_sign_verify(pk, b, n, sig));
    }
}

static cJSON *verify_report(const srv *s, const char *tenant, const char *key)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/tenants/%s/audit/verify", tenant);
    return call_json(s, "GET", path, key, NULL, NULL, 200, NULL);
}

/* Some traffic in a tenant: a subject, a record, two reads. */
static void traffic(const srv *s, const char *tenant, const char *key)
{
    char path[256], body[256], subj[SRV_ID], rec[SRV_ID];

    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", tenant);
    call_id(s, "POST", path, key, "support", "{\"external_id\":\"x1\"}", 201, subj, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", tenant);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"n\"}}", subj);
    call_id(s, "POST", path, key, "support", body, 201, rec, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", tenant, rec);
    cJSON_Delete(call_json(s, "GET", path, key, "support", NULL, 200, NULL));
    cJSON_Delete(call_json(s, "GET", path, key, "support", NULL, 200, NULL));
}

/* Verify over HTTP: ok on a fresh log; the exported log and checkpoints verify outside; after
 * an entry is changed, removed, or the log cut short of a checkpoint in the database file,
 * verify answers ok:false and names the first bad seq. */
static void test_P_AUD_2_verify_over_http(void **state)
{
    char t[3][SRV_ID], k[3][128], path[256], sql[256];
    cJSON *o, *log, *export;
    srv s;

    (void)state;
    srv_start(&s, NULL);
    make_tenant(&s, "changed", t[0], k[0]);
    make_tenant(&s, "removed", t[1], k[1]);
    make_tenant(&s, "truncated", t[2], k[2]);
    for (int i = 0; i < 3; i++)
        traffic(&s, t[i], k[i]);
    o = verify_report(&s, t[0], k[0]);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "first_bad_seq")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "problem")));
    assert_true(cJSON_GetObjectItemCaseSensitive(o, "entries")->valuedouble >= 5);
    cJSON_Delete(o);

    /* A checkpoint now, then the export verifies without Custos. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit/checkpoints", t[0]);
    o = call_json(&s, "POST", path, k[0], NULL, NULL, 201, NULL);
    assert_string_equal(jstr(o, "tenant_id"), t[0]);
    assert_int_equal(strlen(jstr(o, "signature")), 128);
    cJSON_Delete(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit", t[0]);
    log = log_all(&s, path, "", k[0], NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit/checkpoints", t[0]);
    export = call_json(&s, "GET", path, k[0], NULL, NULL, 200, NULL);
    verify_outside(log, export);
    cJSON_Delete(log);
    cJSON_Delete(export);
    /* The tenant that will be cut short keeps a checkpoint at its head (seq 6: creation, four
     * calls, the checkpoint request). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit/checkpoints", t[2]);
    o = call_json(&s, "POST", path, k[2], NULL, NULL, 201, NULL);
    assert_string_equal(jstr(o, "seq"), "6");
    cJSON_Delete(o);
    o = call_json(&s, "GET", "/v1/audit/verify", s.operator_key, NULL, NULL, 200, NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
    cJSON_Delete(o);

    /* Whoever holds the database file edits it while the server is down. */
    assert_int_equal(srv_stop(&s, 0), 0);
    snprintf(sql, sizeof(sql),
             "UPDATE audit_log SET object = 'record:1' WHERE tenant_id = %lld AND seq = 3",
             sql_id(t[0]));
    assert_int_equal(th_sql(s.data, sql), 0);
    snprintf(sql, sizeof(sql), "DELETE FROM audit_log WHERE tenant_id = %lld AND seq = 2",
             sql_id(t[1]));
    assert_int_equal(th_sql(s.data, sql), 0);
    snprintf(sql, sizeof(sql), "DELETE FROM audit_log WHERE tenant_id = %lld AND seq >= 5",
             sql_id(t[2]));
    assert_int_equal(th_sql(s.data, sql), 0);
    srv_restart(&s, NULL, NULL);

    {
        /* The cut log: entries 1 to 4 are left, and the verify request itself becomes entry
         * 5, so the first one the checkpoint at 6 finds missing is 6. */
        static const char *const want_seq[] = {"3", "2", "6"};
        static const char *const want_problem[] = {"altered", "removed", "missing"};
        for (int i = 0; i < 3; i++) {
            o = verify_report(&s, t[i], k[i]);
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ||
                strcmp(jstr(o, "first_bad_seq"), want_seq[i]) != 0 ||
                strstr(jstr(o, "problem"), want_problem[i]) == NULL) {
                char *dump = cJSON_PrintUnformatted(o);
                fail_msg("tenant %d: expected ok:false at seq %s (%s), got %s", i, want_seq[i],
                         want_problem[i], dump);
            }
            cJSON_Delete(o);
        }
    }
    /* The platform's log was not touched. */
    o = call_json(&s, "GET", "/v1/audit/verify", s.operator_key, NULL, NULL, 200, NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
    cJSON_Delete(o);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* --- P-AUD-3 ------------------------------------------------------------------------------ */

/* With every audit append failing (CUSTOS_FAULT=audit.append: the store answers as if the
 * disk were full), nothing happens and nothing is read: 503, and no trace of the write once
 * the fault is gone. */
static void test_P_AUD_3_unwritable_audit_fails_closed_over_http(void **state)
{
    static const char *const fault[] = {"CUSTOS_FAULT=audit.append", NULL};
    char t[SRV_ID], k[128], path[256], body[256], subj[SRV_ID], rec[SRV_ID], sql[160];
    long long records, subjects;
    srv_resp r;
    cJSON *o;
    srv s;

    (void)state;
    srv_start(&s, NULL);
    make_tenant(&s, "failclosed", t, k);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes", t);
    cJSON_Delete(call_json(&s, "PUT", path, k, NULL,
                           "{\"fields\":{\"note\":{\"class\":\"personal\",\"indexed\":true}}}", 200,
                           NULL));
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t);
    call_id(&s, "POST", path, k, "support", "{\"external_id\":\"fc-1\"}", 201, subj, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", t);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"kept note\"}}", subj);
    call_id(&s, "POST", path, k, "support", body, 201, rec, NULL);
    assert_int_equal(srv_stop(&s, 0), 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM records WHERE tenant_id = %lld", sql_id(t));
    records = th_sql_int(s.data, sql);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM subjects WHERE tenant_id = %lld", sql_id(t));
    subjects = th_sql_int(s.data, sql);
    assert_int_equal(records, 1);
    assert_int_equal(subjects, 1);

    srv_restart(&s, NULL, fault);
    /* Writes do not happen. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", t);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"lost note\"}}", subj);
    assert_int_equal(srv_call(&s, "POST", path, k, "support", body, &r), 0);
    srv_assert_err(&r, 503, "io");
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t);
    assert_int_equal(srv_call(&s, "POST", path, k, "support", "{\"external_id\":\"fc-lost\"}", &r),
                     0);
    srv_assert_err(&r, 503, "io");
    srv_resp_free(&r);
    /* Reads of existing data do not happen either: the value never leaves. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, rec);
    assert_int_equal(srv_call(&s, "GET", path, k, "support", NULL, &r), 0);
    srv_assert_err(&r, 503, "io");
    assert_null(strstr(r.body, "kept note"));
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", t, subj);
    assert_int_equal(srv_call(&s, "GET", path, k, "support", NULL, &r), 0);
    srv_assert_err(&r, 503, "io");
    srv_resp_free(&r);
    /* Nor does reading the log, which is itself an access. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/audit", t);
    assert_int_equal(srv_call(&s, "GET", path, k, NULL, NULL, &r), 0);
    srv_assert_err(&r, 503, "io");
    srv_resp_free(&r);
    assert_int_equal(srv_stop(&s, 0), 0);

    /* Without the fault: the refused writes left nothing, the data is there, the chain holds. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM records WHERE tenant_id = %lld", sql_id(t));
    assert_int_equal(th_sql_int(s.data, sql), records);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM subjects WHERE tenant_id = %lld", sql_id(t));
    assert_int_equal(th_sql_int(s.data, sql), subjects);
    srv_restart(&s, NULL, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records/search", t);
    o = call_json(&s, "POST", path, k, "support", "{\"field\":\"note\",\"value\":\"lost note\"}",
                  200, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "ids")), 0);
    cJSON_Delete(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/search", t);
    o = call_json(&s, "POST", path, k, "support", "{\"external_id\":\"fc-lost\"}", 200, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "ids")), 0);
    cJSON_Delete(o);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t, rec);
    o = call_json(&s, "GET", path, k, "support", NULL, 200, NULL);
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(o, "data"), "note"), "kept note");
    cJSON_Delete(o);
    o = verify_report(&s, t, k);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")));
    cJSON_Delete(o);
    assert_int_equal(srv_stop(&s, 1), 0);
}

/* --- the query's times ------------------------------------------------------------------- */

/* The forms from, to and --before take, and what they must refuse. */
static void test_audit_times_parse_and_format(void **state)
{
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {
        {"2026-11-23T18:32:25Z", 1795458745000},
        {"2026-11-23t18:32:25z", 1795458745000},
        {"2026-11-23T18:32:25.5Z", 1795458745500},
        {"2026-11-23T18:32:25.123456Z", 1795458745123},
        {"2026-11-23T19:32:25+01:00", 1795458745000},
        {"2026-11-23T19:32:25 01:00", 1795458745000}, /* an unencoded "+" in a query */
        {"2026-11-23T18:02:25-00:30", 1795458745000},
        {"2024-02-29", 1709164800000},
        {"1970-01-01", 0},
        {"9999-12-31T23:59:59.999Z", 253402300799999},
        {"1795458745000", 1795458745000},
        {"0", 0},
    };
    static const char *const bad[] = {
        "",
        "2026-02-29",
        "1969-12-31",
        "2026-11-23T24:00:00Z",
        "2026-11-23T18:60:00Z",
        "2026-11-23T18:32:25",
        "2026-11-23T18:32:25.Z",
        "2026-11-23T18:32:25+1:00",
        "2026-11-23T18:32:25Z ",
        "2026-11-23 18:32:25Z",
        "1970-01-01T00:00:00+01:00",
        "1234567890123456",
        "-1",
        "yesterday",
    };
    char out[32];
    int64_t ms;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ms = -1;
        if (cu_repr_time_parse(good[i].text, &ms) != CU_OK || ms != good[i].ms)
            fail_msg("\"%s\": expected %lld, got %lld", good[i].text, (long long)good[i].ms,
                     (long long)ms);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cu_repr_time_parse(bad[i], &ms) == CU_OK)
            fail_msg("\"%s\" was taken as %lld", bad[i], (long long)ms);
    cu_repr_time_format(1795458745123, out);
    assert_string_equal(out, "2026-11-23T18:32:25.123Z");
    cu_repr_time_format(5, out);
    assert_string_equal(out, "1970-01-01T00:00:00.005Z");
    assert_int_equal(cu_repr_time_parse(out, &ms), CU_OK);
    assert_int_equal(ms, 5);
}

int main(void)
{
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_P_AUD_1_every_access_leaves_an_entry),
        cmocka_unit_test(test_P_AUD_4_no_personal_value_in_the_audit_log),
        cmocka_unit_test(test_P_AUD_5_filters_and_cursor_pagination),
        cmocka_unit_test(test_P_AUD_5_a_tenant_sees_only_its_own_log),
        cmocka_unit_test(test_P_ACC_4_operator_access_is_in_the_tenant_log),
        cmocka_unit_test(test_P_AUD_2_checkpoints_after_a_seq),
        cmocka_unit_test(test_P_RET_4_admin_binds_no_policy_and_releases_no_tenant_hold),
    };
    const struct CMUnitTest alone[] = {
        cmocka_unit_test(test_audit_times_parse_and_format),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test(test_P_AUD_2_verify_over_http),
        cmocka_unit_test(test_P_AUD_3_unwritable_audit_fails_closed_over_http),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests_name("audit times", alone, NULL, NULL);
    rc |= cmocka_run_group_tests_name("http audit", shared, group_setup, group_teardown);
    rc |= cmocka_run_group_tests_name("http audit, own servers", own, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
