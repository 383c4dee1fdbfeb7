/*
 * test_http_commit.c: group commit under concurrent HTTPS requests (issue 17, item 1), against
 * the real server. Each request waiting for its group is woken by that group's leader alone;
 * these tests hold the answers to what that may break:
 *
 * - a group whose commit fails answers every one of its requests, writes and audited reads
 *   alike, with 503 "io", and nothing of them happens or leaves the server (P-AUD-3);
 * - clients that give up while their request waits for its group leave the server answering,
 *   and every record written has exactly one audit entry, in a chain that verifies (P-AUD-1).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"
#include "th.h"

#define CLIENTS 8
#define EACH 6

static const cu_ctx CTX = {.actor = "test", .purpose = "support"};

typedef struct client {
    const srv *s;
    const srv_tenant *t;
    int n, refused, other;
} client;

static void *fail_client(void *p)
{
    client *c = p;
    char path[256], body[256];

    for (int i = 0; i < c->n; i++) {
        srv_resp r;
        int get = i % 2;
        if (get)
            snprintf(path, sizeof(path), "/v1/tenants/%s/records/%s", c->t->id, c->t->record);
        else
            snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", c->t->id);
        snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"lost %d\"}}",
                 c->t->subject, i);
        if (srv_call(c->s, get ? "GET" : "POST", path, c->t->key[CU_ROLE_AGENT], "support",
                     get ? NULL : body, &r) != 0) {
            c->other++;
            continue;
        }
        if (r.status == 503 && strstr(r.body, "\"io\"") != NULL &&
            strstr(r.body, c->t->note) == NULL)
            c->refused++;
        else
            c->other++;
        srv_resp_free(&r);
    }
    return NULL;
}

static long long tenant_rows(const srv *s, const srv_tenant *t, const char *table)
{
    char sql[160];
    cu_id id = 0;

    assert_int_equal(cu_id_parse(t->id, &id), CU_OK);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE tenant_id = %lld", table,
             (long long)id);
    return th_sql_int(s->data, sql);
}

/* P-AUD-3 over HTTP, under concurrency: with every audit append failing, the groups fail, and
 * each request of each group gets its own 503; no record is added, no note leaves. */
static void test_P_AUD_3_failed_groups_answer_every_request_503(void **state)
{
    static const char *const fault[] = {"CUSTOS_FAULT=audit.append", NULL};
    pthread_t th[CLIENTS];
    client c[CLIENTS];
    srv_tenant t;
    long long records, entries;
    srv s;

    (void)state;
    srv_start(&s, NULL);
    srv_tenant_make(&s, "groupfail", &t);
    assert_int_equal(srv_stop(&s, 0), 0);
    records = tenant_rows(&s, &t, "records");
    entries = tenant_rows(&s, &t, "audit_log");
    srv_restart(&s, NULL, fault);
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client){.s = &s, .t = &t, .n = EACH};
        assert_int_equal(pthread_create(&th[i], NULL, fail_client, &c[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(c[i].refused, EACH);
        assert_int_equal(c[i].other, 0);
    }
    assert_int_equal(srv_stop(&s, 0), 0);
    assert_int_equal(tenant_rows(&s, &t, "records"), records);
    assert_int_equal(tenant_rows(&s, &t, "audit_log"), entries);
    th_rmrf(s.dir);
}

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * n;
}

static void *gone_client(void *p)
{
    client *c = p;
    char path[256], body[256];

    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", c->t->id);
    for (int i = 0; i < c->n; i++) {
        CURL *h = srv_curl(c->s, path);
        struct curl_slist *hdr = NULL;
        char auth[200];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->t->key[CU_ROLE_AGENT]);
        hdr = curl_slist_append(hdr, auth);
        hdr = curl_slist_append(hdr, "Custos-Purpose: support");
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"gone %d\"}}",
                 c->t->subject, i);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        /* Hanging up at times spread over a request's life: in the handshake, while the
         * request waits for its group, or after the answer. */
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10L + (long)(i % 8) * 25);
        if (curl_easy_perform(h) != CURLE_OK)
            c->other++; /* gave up */
        curl_easy_cleanup(h);
        curl_slist_free_all(hdr);
    }
    return NULL;
}

/* Clients that hang up while their requests wait for a group: the server goes on answering,
 * whatever was acknowledged or not, each record in the database has its one record.create
 * entry, and the chain verifies (P-AUD-1). */
static void test_P_AUD_1_clients_gone_while_their_group_commits(void **state)
{
    pthread_t th[CLIENTS];
    client c[CLIENTS];
    srv_tenant t;
    cu_audit_report rep;
    cu_err err = {0};
    cu_id tenant = 0;
    srv_resp r;
    cu_vault *v;
    srv s;
    char sql[200];

    (void)state;
    srv_start(&s, NULL);
    srv_tenant_make(&s, "gone", &t);
    for (int i = 0; i < CLIENTS; i++) {
        c[i] = (client){.s = &s, .t = &t, .n = 15};
        assert_int_equal(pthread_create(&th[i], NULL, gone_client, &c[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(srv_call(&s, "GET", "/healthz", NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    srv_resp_free(&r);
    assert_int_equal(srv_stop(&s, 0), 0);

    assert_int_equal(cu_id_parse(t.id, &tenant), CU_OK);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM audit_log WHERE tenant_id = %lld AND action = 'record.create'",
             (long long)tenant);
    assert_int_equal(th_sql_int(s.data, sql), tenant_rows(&s, &t, "records"));
    v = th_reopen(s.data);
    assert_int_equal(cu_audit_verify(v, &CTX, tenant, &rep, &err), CU_OK);
    assert_int_equal(rep.ok, 1);
    cu_vault_close(v);
    th_rmrf(s.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_P_AUD_3_failed_groups_answer_every_request_503),
        cmocka_unit_test(test_P_AUD_1_clients_gone_while_their_group_commits),
    };

    return cmocka_run_group_tests_name("http: group commit", tests, NULL, NULL);
}
