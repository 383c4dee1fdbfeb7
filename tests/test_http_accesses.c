/*
 * test_http_accesses.c: GET /v1/tenants/{t}/subjects/{id}/accesses over the real HTTPS server
 * (docs/api.md; issue 15's "Who accessed it"): the entries of the tenant's log that touch the
 * subject, from the log's subject index: its creation and reads, its record's writes and
 * reads, a listing of its disclosures on "subject:<id>:disclosures"; none of another
 * subject's; paged by seq with "next";
 * the audit permission's alone (403 to an agent), a tenant's own subjects alone (404 for
 * another's, P-ISO-1), and reading it
 * is itself an entry (P-AUD-5).
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

/* GET path with auth, which must answer want; the parsed answer (caller deletes) or NULL. */
static cJSON *get(const char *path, const char *auth, long want)
{
    srv_resp r;
    cJSON *o = NULL;

    assert_int_equal(srv_call(&W->s, "GET", path, auth, NULL, NULL, &r), 0);
    if (r.status != want)
        fail_msg("GET %s: expected %ld, got %ld %s", path, want, r.status, r.body);
    if (want == 200 && (o = cJSON_Parse(r.body)) == NULL)
        fail_msg("GET %s: not JSON: %s", path, r.body);
    srv_resp_free(&r);
    return o;
}

static const char *str(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    return s ? s : "";
}

/* How many of the page's accesses have action on object (object NULL: any object). */
static int has(const cJSON *page, const char *action, const char *object)
{
    const cJSON *e;
    int n = 0;

    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(page, "accesses"))
        n += strcmp(str(e, "action"), action) == 0 &&
             (object == NULL || strcmp(str(e, "object"), object) == 0);
    return n;
}

static void test_P_AUD_5_a_subjects_accesses_from_the_index(void **state)
{
    const srv_tenant *a = &W->a;
    char path[512], base[160], rec[64], subj[64], body[128], other[SRV_ID];
    const char *owner = a->key[CU_ROLE_OWNER], *agent = a->key[CU_ROLE_AGENT];
    const cJSON *e;
    cJSON *l;
    int n = 0;

    (void)state;
    /* Traffic on the subject: its record read twice, the subject read, a consent; and a
     * second subject of the same tenant, read too, whose entries must not show. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", a->id, a->record);
    srv_call_ok(&W->s, "GET", path, agent, "acc.read", NULL, 200, NULL);
    srv_call_ok(&W->s, "GET", path, agent, "acc.read", NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", a->id, a->subject);
    srv_call_ok(&W->s, "GET", path, agent, "acc.read", NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/disclosures?subject_id=%s", a->id, a->subject);
    srv_call_ok(&W->s, "GET", path, owner, NULL, NULL, 200, NULL);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", a->id);
    srv_call_ok(&W->s, "POST", path, agent, "acc.read", "{\"external_id\":\"acc-other\"}", 201,
                other);
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s", a->id, other);
    srv_call_ok(&W->s, "GET", path, agent, "acc.read", NULL, 200, NULL);

    snprintf(base, sizeof(base), "/v1/tenants/%s/subjects/%s/accesses", a->id, a->subject);
    snprintf(rec, sizeof(rec), "record:%s", a->record);
    snprintf(subj, sizeof(subj), "subject:%s", a->subject);
    l = get(base, owner, 200);
    assert_int_equal(has(l, "subject.create", subj), 1);
    assert_int_equal(has(l, "record.create", rec), 1);
    assert_true(has(l, "record.read", rec) >= 2);
    assert_true(has(l, "subject.read", subj) >= 1);
    snprintf(body, sizeof(body), "%s:disclosures", subj); /* an object under the subject's */
    assert_int_equal(has(l, "disclosure.list", body), 1);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(l, "accesses"))
    {
        const char *o = str(e, "object");
        n++;
        /* Only this subject's: its own object or one under it, or its record. */
        if (strcmp(o, subj) != 0 && strncmp(o, subj, strlen(subj)) != 0 && strcmp(o, rec) != 0)
            fail_msg("an access on %s listed for %s", o, subj);
        if (strstr(o, other) != NULL)
            fail_msg("the other subject's entry listed: %s", o);
        /* The reads above stated acc.read: the purpose comes through, not a blank. */
        if (strcmp(str(e, "action"), "record.read") == 0)
            assert_string_equal(str(e, "purpose"), "acc.read");
    }
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(l, "next")));
    cJSON_Delete(l);

    /* Paged by seq: one a page, "next" the cursor, the same entries in the same order. */
    snprintf(path, sizeof(path), "%s?limit=1", base);
    l = get(path, owner, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "accesses")), 1);
    snprintf(body, sizeof(body), "%s", str(l, "next"));
    assert_true(body[0] != '\0');
    cJSON_Delete(l);
    snprintf(path, sizeof(path), "%s?limit=1000&after=%s", base, body);
    l = get(path, owner, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "accesses")), n - 1);
    cJSON_Delete(l);

    /* Past the index's mark too: one more read, then the list again: it comes once, last. */
    snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", a->id, a->record);
    srv_call_ok(&W->s, "GET", path, agent, "acc.last", NULL, 200, NULL);
    snprintf(path, sizeof(path), "%s?limit=1000", base);
    l = get(path, owner, 200);
    {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(l, "accesses");
        const cJSON *last = cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1);
        int lasts = 0;
        assert_int_equal(cJSON_GetArraySize(list), n + 1);
        assert_string_equal(str(last, "purpose"), "acc.last");
        cJSON_ArrayForEach(e, list) lasts += strcmp(str(e, "purpose"), "acc.last") == 0;
        assert_int_equal(lasts, 1);
    }
    cJSON_Delete(l);

    /* The audit permission's alone (owner, auditor); another tenant's key reaches none of it. */
    cJSON_Delete(get(base, a->key[CU_ROLE_AUDITOR], 200));
    cJSON_Delete(get(base, a->key[CU_ROLE_ADMIN], 403));
    cJSON_Delete(get(base, a->key[CU_ROLE_ANALYST], 403));
    cJSON_Delete(get(base, agent, 403));
    cJSON_Delete(get(base, W->b.key[CU_ROLE_OWNER], 404)); /* P-ISO-1: no such tenant for it */
    snprintf(path, sizeof(path), "%s?limit=0", base);
    cJSON_Delete(get(path, owner, 400));
    snprintf(path, sizeof(path), "%s?order=desc", base);
    cJSON_Delete(get(path, owner, 400));
    /* Another tenant's subject through this tenant's path: not found (P-ISO-1). */
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects/%s/accesses", a->id, W->b.subject);
    cJSON_Delete(get(path, owner, 404));
    /* Reading them is itself on the log: one audit.read entry per call, by the auditor's key
     * (whose only other reads are these). */
    {
        const char *auditor = a->key[CU_ROLE_AUDITOR];
        int before, after;
        snprintf(path, sizeof(path), "/v1/tenants/%s/audit?action=audit.read&actor=key:%s"
                 "&limit=1000", a->id, a->key_id[CU_ROLE_AUDITOR]);
        l = get(path, owner, 200);
        before = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "entries"));
        cJSON_Delete(l);
        cJSON_Delete(get(base, auditor, 200));
        l = get(path, owner, 200);
        after = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(l, "entries"));
        cJSON_Delete(l);
        assert_int_equal(after, before + 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AUD_5_a_subjects_accesses_from_the_index),
    };

    return cmocka_run_group_tests_name("a subject's accesses", tests, group_setup,
                                       group_teardown);
}
