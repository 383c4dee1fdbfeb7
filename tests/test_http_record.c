/*
 * test_http_record.c: the answer of an audited record read (GET /v1/tenants/{t}/records/{id}),
 * against the real server.
 *
 * Since issue 17's last pass the server writes that answer without building the record's
 * document into a tree: the representation's metadata is printed as text and the opened
 * document, already compact JSON, is put in after "data" (repr.c, cu_repr_record_text). These
 * tests hold what that must keep: the answer is one JSON object whose members are the
 * representation's (id, collection, subject_id when a subject owns the record, created_at,
 * updated_at, data), in that order, and whose "data" is the document written, strings with
 * escapes and non-ASCII, numbers, nested values and the sensitive field put back in place
 * included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "srv.h"
#include "th.h"

static srv_world *W;

static int group_setup(void **state)
{
    (void)state;
    W = srv_world_new("reads", NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    srv_world_free(W);
    return 0;
}

/* A document of every kind of value the splice passes through, with a sensitive field
 * ("ssn": sealed apart and merged back on read) and a personal one. */
static const char DOC[] =
    "{\"name\":\"Ad\\u00e5 \\\"Byron\\\" Lovelace\",\"ssn\":\"123-45-6789\",\"age\":36,"
    "\"ratio\":1.5,\"neg\":-0.25,\"big\":1e3,\"ok\":true,\"none\":null,"
    "\"tags\":[\"a\",{\"b\":[1,2,{}]},[]],\"nested\":{\"path\":\"C:\\\\x\\n\\t\",\"e\":{}},"
    "\"city\":\"\xe6\x9d\xb1\xe4\xba\xac\"}";

/* The answer r parsed, after checking what every answer of a read must be: one object whose
 * members are members[0..n), in that order and no other, whose bytes are those of the compact
 * print of the same object, with no stray NUL nor anything after it. */
static cJSON *answer(const srv_resp *r, const char *const *members, size_t n)
{
    const cJSON *m;
    cJSON *got;
    char *again;
    size_t i = 0;

    assert_int_equal(r->status, 200);
    assert_int_equal(strlen(r->body), r->len);
    got = cJSON_ParseWithLength(r->body, r->len);
    assert_non_null(got);
    cJSON_ArrayForEach(m, got) {
        assert_true(i < n);
        assert_string_equal(m->string, members[i]);
        i++;
    }
    assert_int_equal(i, n);
    again = cJSON_PrintUnformatted(got);
    assert_non_null(again);
    assert_string_equal(again, r->body);
    free(again);
    return got;
}

static void test_record_read_answers_the_document_written(void **state)
{
    const srv_tenant *t = &W->a;
    char path[256], body[1024], id[SRV_ID];
    cJSON *want, *got, *data;
    static const char *const members[] = {"id", "collection", "subject_id", "created_at",
                                          "updated_at", "data"};
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/people", t->id);
    srv_call_ok(&W->s, "PUT", path, t->key[CU_ROLE_OWNER], NULL,
                "{\"fields\":{\"ssn\":{\"class\":\"sensitive\"},"
                "\"name\":{\"class\":\"personal\"}}}",
                200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/people/records", t->id);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":%s}", t->subject, DOC);
    srv_call_ok(&W->s, "POST", path, t->key[CU_ROLE_AGENT], "support", body, 201, id);

    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t->id, id);
    assert_int_equal(srv_call(&W->s, "GET", path, t->key[CU_ROLE_AGENT], "support", NULL, &r), 0);
    got = answer(&r, members, sizeof(members) / sizeof(members[0]));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(got, "id")->valuestring, id);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(got, "collection")->valuestring, "people");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(got, "subject_id")->valuestring,
                        t->subject);
    data = cJSON_GetObjectItemCaseSensitive(got, "data");
    want = cJSON_Parse(DOC);
    assert_non_null(want);
    assert_true(cJSON_Compare(data, want, 1));
    /* the sensitive field back in place, not appended after the others */
    assert_string_equal(data->child->next->string, "ssn");
    cJSON_Delete(want);
    cJSON_Delete(got);
    srv_resp_free(&r);
}

/* A document with no sensitive field, and the empty document, take the same path. */
static void test_record_read_of_plain_and_empty_documents(void **state)
{
    const srv_tenant *t = &W->a;
    static const char *const docs[] = {"{\"note\":\"plain\"}", "{}"};
    char path[256], body[512], id[SRV_ID];

    (void)state;
    for (size_t k = 0; k < sizeof(docs) / sizeof(docs[0]); k++) {
        cJSON *got, *want;
        srv_resp r;

        snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", t->id);
        snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":%s}", t->subject, docs[k]);
        srv_call_ok(&W->s, "POST", path, t->key[CU_ROLE_AGENT], "support", body, 201, id);
        snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t->id, id);
        assert_int_equal(srv_call(&W->s, "GET", path, t->key[CU_ROLE_AGENT], "support", NULL, &r),
                         0);
        assert_int_equal(r.status, 200);
        got = cJSON_ParseWithLength(r.body, r.len);
        want = cJSON_Parse(docs[k]);
        assert_non_null(got);
        assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(got, "data"), want, 1));
        assert_int_equal(r.body[r.len - 1], '}');
        cJSON_Delete(want);
        cJSON_Delete(got);
        srv_resp_free(&r);
    }
}

/* A record no subject owns (the tenant's own) has no subject_id member: the same bytes as the
 * compact print of the answer, and the members in the representation's order without it. */
static void test_record_read_of_a_record_without_a_subject(void **state)
{
    const srv_tenant *t = &W->a;
    static const char *const members[] = {"id", "collection", "created_at", "updated_at", "data"};
    static const char doc[] = "{\"note\":\"the tenant's own\",\"n\":[1,2.5]}";
    char path[256], body[256], id[SRV_ID];
    cJSON *got, *want;
    srv_resp r;

    (void)state;
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", t->id);
    snprintf(body, sizeof(body), "{\"data\":%s}", doc);
    srv_call_ok(&W->s, "POST", path, t->key[CU_ROLE_AGENT], "support", body, 201, id);
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", t->id, id);
    assert_int_equal(srv_call(&W->s, "GET", path, t->key[CU_ROLE_AGENT], "support", NULL, &r), 0);
    got = answer(&r, members, sizeof(members) / sizeof(members[0]));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(got, "id")->valuestring, id);
    want = cJSON_Parse(doc);
    assert_non_null(want);
    assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(got, "data"), want, 1));
    cJSON_Delete(want);
    cJSON_Delete(got);
    srv_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_read_answers_the_document_written),
        cmocka_unit_test(test_record_read_of_plain_and_empty_documents),
        cmocka_unit_test(test_record_read_of_a_record_without_a_subject),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
