/*
 * test_incident.c: breach incidents in the core (P-BRE-1, docs/incidents.md), on the vault's
 * store (SQLite, and PostgreSQL in the suite's second pass): the affected set is exactly the
 * subjects the suspected key read or changed in the window (not those it reached outside it,
 * not those another key read), frozen with its hash in the audit log; the deadlines run from
 * when the breach became known (72 hours to the authority) and are met, late or overdue; the
 * key is revoked from the incident; another tenant does not see it; and the sweep's
 * incident.notice_due is added once per deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h" /* v->store: the outbox's rows */
#include "custos_incident.h"
#include "store.h"
#include "th.h"

#define T0 1798761600 /* 2027-01-01T00:00:00Z */

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id a, b; /* tenants */
    cu_id s[6]; /* s[0..4] tenant a's subjects, s[5] tenant b's */
    cu_apikey leak, other;
    char leak_actor[48], other_actor[48];
} fx;

static cu_id subject(fx *f, cu_id tenant, const char *ext)
{
    cu_subject_in in = {.external_id = ext};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_subject_create(f->v, NULL, tenant, &in, &id, &err) != CU_OK)
        fail_msg("subject: %s", err.msg);
    return id;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char secret[CU_APIKEY_SECRET_MAX], ext[16];
    cu_tenant t;
    cu_err err = {0};

    cu_clock_set(T0);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "A"}, &t, &err), CU_OK);
    f->a = t.id;
    assert_int_equal(cu_tenant_create(f->v, NULL, &(cu_tenant_opts){.name = "B"}, &t, &err), CU_OK);
    f->b = t.id;
    for (int i = 0; i < 6; i++) {
        snprintf(ext, sizeof(ext), "ext-%d", i);
        f->s[i] = subject(f, i < 5 ? f->a : f->b, ext);
    }
    assert_int_equal(
        cu_apikey_create(f->v, NULL, f->a, CU_ROLE_AGENT, "support", &f->leak, secret, &err),
        CU_OK);
    assert_int_equal(
        cu_apikey_create(f->v, NULL, f->a, CU_ROLE_AGENT, "crm", &f->other, secret, &err), CU_OK);
    snprintf(f->leak_actor, sizeof(f->leak_actor), "key:%llu", (unsigned long long)f->leak.id);
    snprintf(f->other_actor, sizeof(f->other_actor), "key:%llu", (unsigned long long)f->other.id);
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

/* actor reads the subject at time at, from source. */
static void read_at(fx *f, const char *actor, cu_id tenant, cu_id s, int64_t at)
{
    cu_ctx ctx = {
        .actor = actor, .purpose = "support", .source = "203.0.113.9", .flags = CU_CTX_LOCAL};
    cu_subject out;
    cu_err err = {0};

    cu_clock_set(at);
    if (cu_subject_get(f->v, &ctx, tenant, s, &out, &err) != CU_OK)
        fail_msg("read: %s", err.msg);
    cu_subject_cleanup(&out);
}

/* The leak: the key reads s[4] before the window, s[0] and s[1] (twice) in it, s[3] after;
 * the other key reads s[2] in it. */
static void leak(fx *f)
{
    read_at(f, f->leak_actor, f->a, f->s[4], T0 + 50);
    read_at(f, f->leak_actor, f->a, f->s[0], T0 + 150);
    read_at(f, f->leak_actor, f->a, f->s[1], T0 + 160);
    read_at(f, f->leak_actor, f->a, f->s[1], T0 + 170);
    read_at(f, f->other_actor, f->a, f->s[2], T0 + 160);
    read_at(f, f->leak_actor, f->a, f->s[3], T0 + 300);
    cu_clock_set(T0 + 400);
}

static cu_id open_key(fx *f, cu_id as_tenant, cu_id tenant)
{
    cu_incident_in in = {.tenant = tenant,
                         .from = T0 + 100,
                         .to = T0 + 200,
                         .known_at = T0 + 400,
                         .api_key = f->leak.id};
    cu_ctx ctx = {.actor = "user:1"};
    cu_err err = {0};
    cu_id id = 0;

    if (cu_incident_open(f->v, &ctx, as_tenant, &in, &id, &err) != CU_OK)
        fail_msg("open: %s", err.msg);
    return id;
}

static void test_P_BRE_1_affected_set_is_exactly_what_the_key_read_in_the_window(void **state)
{
    fx *f = *state;
    cu_incident i;
    cu_err err = {0};
    cu_id id;

    leak(f);
    id = open_key(f, f->a, 0);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    /* s[0] and s[1], read by the key in the window; not s[2] (another key), s[3] (after),
     * s[4] (before), nor tenant b's. */
    assert_int_equal(i.nhits, 2);
    assert_int_equal(i.inc.tenants, 1);
    assert_int_equal(i.inc.subjects, 2);
    for (size_t k = 0; k < 2; k++) {
        assert_int_equal(i.hits[k].tenant_id, f->a);
        assert_true(i.hits[k].subject_id == f->s[0] || i.hits[k].subject_id == f->s[1]);
        assert_int_equal(i.hits[k].reads, i.hits[k].subject_id == f->s[1] ? 2 : 1);
        assert_int_equal(i.hits[k].writes, 0);
    }
    assert_true(i.evidence_intact);
    cu_incident_cleanup(&i);
}

/* The same scope by source address instead of key, or by principal, finds the same reads
 * plus the other key's from the same address (the source is the scope then). */
static void test_P_BRE_1_scope_by_principal_and_source(void **state)
{
    fx *f = *state;
    cu_incident_in in = {.from = T0 + 100, .to = T0 + 200, .principal = NULL};
    cu_incident i;
    cu_err err = {0};
    cu_id id = 0;

    leak(f);
    in.principal = f->other_actor;
    assert_int_equal(cu_incident_open(f->v, NULL, f->a, &in, &id, &err), CU_OK);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_int_equal(i.nhits, 1);
    assert_int_equal(i.hits[0].subject_id, f->s[2]);
    cu_incident_cleanup(&i);
    in.principal = NULL;
    in.source = "203.0.113.9";
    assert_int_equal(cu_incident_open(f->v, NULL, f->a, &in, &id, &err), CU_OK);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_int_equal(i.inc.subjects, 3); /* s[0], s[1], s[2] */
    cu_incident_cleanup(&i);
    /* A tenant's incident without more is the whole tenant's window (every access in it);
     * the operator's without any scope member is no incident. */
    in.source = NULL;
    assert_int_equal(cu_incident_open(f->v, NULL, f->a, &in, &id, &err), CU_OK);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_int_equal(i.inc.subjects, 3);
    cu_incident_cleanup(&i);
    assert_int_equal(cu_incident_open(f->v, NULL, 0, &in, &id, &err), CU_ERR_INVALID);
}

/* The set is frozen: its hash is in the audit log, and a set changed behind the vault's back
 * no longer matches it. */
static void test_P_BRE_1_evidence_hash_in_audit_log_and_tamper_seen(void **state)
{
    fx *f = *state;
    cu_audit_filter flt = {.action = "incident.open"};
    cu_audit_entry *e = NULL;
    size_t n = 0;
    char hex[65], sql[200];
    cu_incident i;
    cu_err err = {0};
    cu_id id;

    leak(f);
    id = open_key(f, f->a, 0);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    cu_hex_encode(i.inc.evidence, 32, hex);
    cu_incident_cleanup(&i);
    assert_int_equal(cu_audit_list(f->v, NULL, f->a, &flt, &e, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_non_null(strstr(e[0].object, hex));
    free(e);
    snprintf(sql, sizeof(sql), "UPDATE incident_affected SET reads = 7 WHERE incident_id = %lld",
             (long long)id);
    assert_int_equal(th_sql(f->data, sql), 0);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_false(i.evidence_intact);
    cu_incident_cleanup(&i);
    /* The header is under the hash too: a later known_at would move every deadline. */
    id = open_key(f, f->a, 0);
    snprintf(sql, sizeof(sql), "UPDATE incidents SET known_at = known_at + 3600"
             " WHERE incident_id = %lld", (long long)id);
    assert_int_equal(th_sql(f->data, sql), 0);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_false(i.evidence_intact);
    cu_incident_cleanup(&i);
}

static const char *state_of(fx *f, cu_id id, int kind)
{
    cu_incident_deadline d[3];
    cu_incident i;
    cu_err err = {0};

    assert_int_equal(cu_incident_get(f->v, NULL, 0, id, &i, &err), CU_OK);
    cu_incident_deadlines(&i, cu_clock_now(), d);
    cu_incident_cleanup(&i);
    return d[kind - 1].state;
}

/* 72 hours from when it became known: pending at 71 h, met by a notice then; another incident
 * unnoticed is overdue at 73 h. Each notice is on the audit log. */
static void test_P_BRE_1_authority_deadline_72h_met_or_overdue(void **state)
{
    fx *f = *state;
    cu_audit_filter flt = {.action = "incident.notice"};
    cu_audit_entry *e = NULL;
    size_t n = 0;
    cu_incident i;
    cu_err err = {0};
    cu_id met, late;

    leak(f);
    met = open_key(f, f->a, 0);
    late = open_key(f, f->a, 0);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, met, &i, &err), CU_OK);
    assert_int_equal(i.inc.authority_hours, 72);
    cu_incident_cleanup(&i);
    cu_clock_set(T0 + 400 + 71 * 3600);
    assert_string_equal(state_of(f, met, CU_INCIDENT_NOTICE_AUTHORITY), "pending");
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, met, CU_INCIDENT_NOTICE_AUTHORITY, 0, 0,
                                        "DPA-2027-0042", &err),
                     CU_OK);
    assert_int_equal(
        cu_incident_notice(f->v, NULL, f->a, met, CU_INCIDENT_NOTICE_TENANT, f->b, 0, "x", &err),
        CU_ERR_INVALID); /* b is not affected */
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, met, CU_INCIDENT_NOTICE_AUTHORITY, 0, 0,
                                        "bad ref!", &err),
                     CU_ERR_INVALID);
    cu_clock_set(T0 + 400 + 73 * 3600);
    assert_string_equal(state_of(f, met, CU_INCIDENT_NOTICE_AUTHORITY), "met");
    assert_string_equal(state_of(f, late, CU_INCIDENT_NOTICE_AUTHORITY), "overdue");
    /* Tenants: 24 h by default, overdue too; a notice now is late. */
    assert_string_equal(state_of(f, late, CU_INCIDENT_NOTICE_TENANT), "overdue");
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, late, CU_INCIDENT_NOTICE_TENANT, f->a, 0,
                                        "mail-1", &err),
                     CU_OK);
    assert_string_equal(state_of(f, late, CU_INCIDENT_NOTICE_TENANT), "late");
    assert_int_equal(cu_audit_list(f->v, NULL, f->a, &flt, &e, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(e);
}

/* P-BRE-1, Art. 34: a leaked key that exported the whole tenant reached subjects the log does
 * not name one by one: their notice is owed (pending, then overdue), never "none". */
static void test_P_BRE_1_an_export_owes_the_subjects_a_notice(void **state)
{
    fx *f = *state;
    cu_ctx ctx = {.actor = f->leak_actor, .purpose = "support", .flags = CU_CTX_LOCAL};
    cu_incident_in in = {.from = T0 + 240, .to = T0 + 260, .known_at = T0 + 400,
                         .api_key = f->leak.id};
    cu_ctx opener = {.actor = "user:1"};
    char *json = NULL;
    size_t len = 0;
    cu_err err = {0};
    cu_id id = 0;

    cu_clock_set(T0 + 250);
    if (cu_tenant_export(f->v, &ctx, f->a, &json, &len, &err) != CU_OK)
        fail_msg("export: %s", err.msg);
    free(json);
    cu_clock_set(T0 + 400);
    assert_int_equal(cu_incident_open(f->v, &opener, f->a, &in, &id, &err), CU_OK);
    assert_string_equal(state_of(f, id, CU_INCIDENT_NOTICE_SUBJECTS), "pending");
    cu_clock_set(T0 + 400 + 73 * 3600);
    assert_string_equal(state_of(f, id, CU_INCIDENT_NOTICE_SUBJECTS), "overdue");
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, id, CU_INCIDENT_NOTICE_SUBJECTS, f->a, 0,
                                        "mail-2", &err),
                     CU_OK);
    assert_string_equal(state_of(f, id, CU_INCIDENT_NOTICE_SUBJECTS), "late");
}

/* P-BRE-1: a deadline is not met on paper. A notice dated before the breach was known is
 * refused; on an incident staff opened on a tenant, the tenant cannot record that it was told
 * (the platform's duty), though it records its authority's and subjects' notices. */
static void test_P_BRE_1_notices_cannot_be_backdated_or_claimed(void **state)
{
    fx *f = *state;
    cu_incident_in in = {.tenant = 0,
                         .from = T0 + 100,
                         .to = T0 + 200,
                         .known_at = T0 + 400,
                         .api_key = f->leak.id};
    cu_ctx staff = {.actor = "operator:key:9"};
    cu_err err = {0};
    cu_id mine, theirs = 0;

    leak(f);
    mine = open_key(f, f->a, 0);
    cu_clock_set(T0 + 400 + 3600);
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, mine, CU_INCIDENT_NOTICE_AUTHORITY, 0,
                                        T0 + 399, "DPA-1", &err),
                     CU_ERR_INVALID);
    assert_string_equal(state_of(f, mine, CU_INCIDENT_NOTICE_AUTHORITY), "pending");
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, mine, CU_INCIDENT_NOTICE_AUTHORITY, 0,
                                        T0 + 400, "DPA-1", &err),
                     CU_OK);
    /* Staff open one on tenant a (as the operator's route does: as_tenant 0). */
    in.tenant = f->a;
    assert_int_equal(cu_incident_open(f->v, &staff, 0, &in, &theirs, &err), CU_OK);
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, theirs, CU_INCIDENT_NOTICE_TENANT, f->a,
                                        0, "mail-1", &err),
                     CU_ERR_FORBIDDEN);
    assert_int_equal(cu_incident_notice(f->v, &staff, 0, theirs, CU_INCIDENT_NOTICE_TENANT, f->a,
                                        0, "mail-1", &err),
                     CU_OK);
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, theirs, CU_INCIDENT_NOTICE_AUTHORITY, 0,
                                        0, "DPA-2", &err),
                     CU_OK);
}

/* One action revokes the suspected key, through the key's own revocation, on the timeline. */
static void test_P_BRE_1_revoke_the_suspected_key_from_the_incident(void **state)
{
    fx *f = *state;
    cu_apikey *keys = NULL;
    size_t n = 0;
    cu_incident i;
    cu_err err = {0};
    cu_id id;

    leak(f);
    id = open_key(f, f->a, 0);
    assert_int_equal(cu_incident_revoke(f->v, NULL, f->a, id, &err), CU_OK);
    assert_int_equal(cu_incident_revoke(f->v, NULL, f->a, id, &err), CU_ERR_EXISTS);
    assert_int_equal(cu_apikey_list(f->v, NULL, f->a, &keys, &n, &err), CU_OK);
    for (size_t k = 0; k < n; k++)
        assert_true((keys[k].revoked_at != 0) == (keys[k].id == f->leak.id));
    free(keys);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_int_equal(i.inc.revoked_at, cu_clock_now());
    cu_incident_cleanup(&i);
}

/* P-ISO-1: tenant b neither sees nor lists tenant a's incident; the operator sees both
 * tenants' and may scope one over every tenant. */
static void test_P_BRE_1_tenants_see_their_own_incidents_only(void **state)
{
    fx *f = *state;
    cu_audit_filter flt = {.action = "incident.open"};
    cu_audit_entry *e = NULL;
    cu_store_incident *list = NULL;
    size_t n = 0;
    cu_incident i;
    cu_err err = {0};
    cu_id id, op;

    leak(f);
    id = open_key(f, f->a, 0);
    assert_int_equal(cu_incident_get(f->v, NULL, f->b, id, &i, &err), CU_ERR_NOT_FOUND);
    assert_int_equal(cu_incident_list(f->v, NULL, f->b, &list, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(list);
    op = open_key(f, 0, 0); /* the operator's, over every tenant: the same subjects */
    assert_int_equal(cu_incident_get(f->v, NULL, 0, op, &i, &err), CU_OK);
    assert_int_equal(i.inc.tenant_id, 0);
    assert_int_equal(i.inc.subjects, 2);
    cu_incident_cleanup(&i);
    /* The log it read, and the platform's, say so (P-AUD-5). */
    assert_int_equal(cu_audit_list(f->v, NULL, f->a, &flt, &e, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(e);
    assert_int_equal(cu_audit_list(f->v, NULL, 0, &flt, &e, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    free(e);
    assert_int_equal(cu_audit_list(f->v, NULL, f->b, &flt, &e, &n, &err), CU_OK);
    assert_int_equal(n, 0);
    free(e);
    assert_int_equal(cu_incident_list(f->v, NULL, 0, &list, &n, &err), CU_OK);
    assert_int_equal(n, 2);
    free(list);
    /* The platform's incident is a's too (it affected a); b's not at all. */
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, op, &i, &err), CU_OK);
    assert_int_equal(i.nhits, 2);
    cu_incident_cleanup(&i);
    assert_int_equal(cu_incident_get(f->v, NULL, f->b, op, &i, &err), CU_ERR_NOT_FOUND);
}

/* P-ISO-1: the platform's incident over every tenant, seen by each tenant it affected, is that
 * tenant's part only: its subjects, its counts; it records its own subjects' notice, nothing
 * for the platform, and cannot revoke. */
static void test_P_BRE_1_platform_incident_seen_by_each_tenant_in_its_part(void **state)
{
    fx *f = *state;
    cu_incident_in in = {.from = T0 + 100, .to = T0 + 200, .source = "203.0.113.9"};
    cu_store_incident *list = NULL;
    size_t n = 0;
    cu_incident i;
    cu_err err = {0};
    cu_id op = 0;

    leak(f);
    read_at(f, "key:999", f->b, f->s[5], T0 + 150);
    cu_clock_set(T0 + 400);
    assert_int_equal(cu_incident_open(f->v, NULL, 0, &in, &op, &err), CU_OK);
    assert_int_equal(cu_incident_get(f->v, NULL, 0, op, &i, &err), CU_OK);
    assert_int_equal(i.inc.tenants, 2);
    assert_int_equal(i.inc.subjects, 4); /* s[0], s[1], s[2] of a; s[5] of b */
    cu_incident_cleanup(&i);
    assert_int_equal(cu_incident_get(f->v, NULL, f->b, op, &i, &err), CU_OK);
    assert_int_equal(i.inc.tenants, 1);
    assert_int_equal(i.inc.subjects, 1);
    assert_int_equal(i.nhits, 1);
    assert_int_equal(i.hits[0].subject_id, f->s[5]);
    assert_true(i.evidence_intact); /* checked over the whole set, before the cut */
    cu_incident_cleanup(&i);
    assert_int_equal(cu_incident_list(f->v, NULL, f->b, &list, &n, &err), CU_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].subjects, 1);
    free(list);
    assert_int_equal(cu_incident_notice(f->v, NULL, f->b, op, CU_INCIDENT_NOTICE_SUBJECTS, f->b, 0,
                                        "b-mail-1", &err),
                     CU_OK);
    assert_int_equal(
        cu_incident_notice(f->v, NULL, f->b, op, CU_INCIDENT_NOTICE_AUTHORITY, 0, 0, "b-dpa", &err),
        CU_ERR_FORBIDDEN);
    assert_int_equal(cu_incident_notice(f->v, NULL, f->b, op, CU_INCIDENT_NOTICE_SUBJECTS, f->a, 0,
                                        "b-for-a", &err),
                     CU_ERR_FORBIDDEN);
    assert_int_equal(cu_incident_revoke(f->v, NULL, f->b, op, &err), CU_ERR_FORBIDDEN);
    /* a sees neither b's subject nor b's notice. */
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, op, &i, &err), CU_OK);
    assert_int_equal(i.inc.subjects, 3);
    for (size_t k = 0; k < i.nhits; k++)
        assert_int_equal(i.hits[k].tenant_id, f->a);
    assert_int_equal(i.nnotices, 0);
    cu_incident_cleanup(&i);
}

static size_t events_of(fx *f, cu_id tenant, const char *type)
{
    cu_store_webhook_event *e = NULL;
    size_t n = 0, k = 0;
    cu_err err = {0};

    assert_int_equal(cu_store_webhook_events(f->v->store, tenant, 0, 0, 200, &e, &n, &err), CU_OK);
    for (size_t i = 0; i < n; i++)
        k += strcmp(e[i].type, type) == 0;
    cu_store_webhook_events_free(e, n);
    return k;
}

/* incident.opened rides in the opening's transaction; notice_due is added by the sweep once
 * per deadline, when it is near, however often the sweep runs. */
static void test_P_BRE_1_opened_and_notice_due_events_once(void **state)
{
    fx *f = *state;
    cu_sweep_report rep;
    size_t added = 0;
    cu_err err = {0};

    leak(f);
    (void)open_key(f, f->a, 0);
    assert_int_equal(events_of(f, f->a, "incident.opened"), 1);
    assert_int_equal(cu_incident_events(f->v, cu_clock_now(), &added, &err), CU_OK);
    assert_int_equal(events_of(f, f->a, "incident.notice_due"), 0); /* 24 h off: not yet */
    cu_clock_set(T0 + 400 + 13 * 3600);                             /* tenants due within 12 h */
    assert_int_equal(cu_incident_events(f->v, cu_clock_now(), &added, &err), CU_OK);
    assert_int_equal(added, 1);
    assert_int_equal(cu_incident_events(f->v, cu_clock_now(), &added, &err), CU_OK);
    assert_int_equal(added, 0); /* told already: no write at all */
    assert_int_equal(events_of(f, f->a, "incident.notice_due"), 1);
    cu_clock_set(T0 + 400 + 80 * 3600); /* the authority's and the subjects' too, by the sweep */
    assert_int_equal(cu_sweep(f->v, NULL, &rep, &err), CU_OK);
    assert_int_equal(events_of(f, f->a, "incident.notice_due"), 3);
    assert_int_equal(events_of(f, f->b, "incident.notice_due"), 0);
}

/* P-ISO-2: on the platform's incident each tenant is reminded of its own part's deadlines:
 * a told its subjects and was told itself, so it hears only of the authority's; b, told
 * nothing, hears of all three. */
static void test_P_BRE_1_each_tenant_is_reminded_of_its_own_part(void **state)
{
    fx *f = *state;
    cu_incident_in in = {.from = T0 + 100, .to = T0 + 200, .source = "203.0.113.9"};
    cu_ctx staff = {.actor = "operator:key:9"};
    size_t added = 0;
    cu_err err = {0};
    cu_id op = 0;

    leak(f);
    read_at(f, "key:999", f->b, f->s[5], T0 + 150);
    cu_clock_set(T0 + 400);
    assert_int_equal(cu_incident_open(f->v, &staff, 0, &in, &op, &err), CU_OK);
    assert_int_equal(cu_incident_notice(f->v, &staff, 0, op, CU_INCIDENT_NOTICE_TENANT, f->a, 0,
                                        "mail-a", &err),
                     CU_OK);
    assert_int_equal(cu_incident_notice(f->v, NULL, f->a, op, CU_INCIDENT_NOTICE_SUBJECTS, f->a, 0,
                                        "mail-a-2", &err),
                     CU_OK);
    cu_clock_set(T0 + 400 + 80 * 3600);
    assert_int_equal(cu_incident_events(f->v, cu_clock_now(), &added, &err), CU_OK);
    assert_int_equal(events_of(f, f->a, "incident.notice_due"), 1);
    assert_int_equal(events_of(f, f->b, "incident.notice_due"), 3);
}

/* A collection narrows the scope to entries on its records (and its own objects); a write is
 * counted as a change, a read as a read. */
static void test_P_BRE_1_collection_scope_and_changes(void **state)
{
    fx *f = *state;
    cu_field_def defs[] = {{"note", CU_FIELD_PERSONAL, 0}};
    cu_ctx leak_ctx = {.actor = f->leak_actor, .purpose = "support", .flags = CU_CTX_LOCAL};
    cu_incident_in in = {.from = T0 + 100, .to = T0 + 200, .api_key = f->leak.id};
    cu_record rec;
    cu_incident i;
    cu_err err = {0};
    cu_id billing = 0, ticket = 0, id = 0;

    assert_int_equal(cu_collection_define(f->v, NULL, f->a, "tickets", defs, 1, &err), CU_OK);
    assert_int_equal(cu_collection_define(f->v, NULL, f->a, "billing", defs, 1, &err), CU_OK);
    assert_int_equal(
        cu_record_put(f->v, NULL, f->a, "billing", f->s[1], "{\"note\":\"b\"}", 12, &billing, &err),
        CU_OK);
    cu_clock_set(T0 + 150);
    assert_int_equal(cu_record_put(f->v, &leak_ctx, f->a, "tickets", f->s[0], "{\"note\":\"t\"}",
                                   12, &ticket, &err),
                     CU_OK);
    assert_int_equal(cu_record_get(f->v, &leak_ctx, f->a, billing, &rec, &err), CU_OK);
    cu_record_cleanup(&rec);
    cu_clock_set(T0 + 400);
    in.collection = "tickets";
    assert_int_equal(cu_incident_open(f->v, NULL, f->a, &in, &id, &err), CU_OK);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_int_equal(i.nhits, 1);
    assert_int_equal(i.hits[0].subject_id, f->s[0]);
    assert_int_equal(i.hits[0].writes, 1);
    assert_int_equal(i.hits[0].reads, 0);
    cu_incident_cleanup(&i);
    in.collection = NULL;
    assert_int_equal(cu_incident_open(f->v, NULL, f->a, &in, &id, &err), CU_OK);
    assert_int_equal(cu_incident_get(f->v, NULL, f->a, id, &i, &err), CU_OK);
    assert_int_equal(i.inc.subjects, 2);
    cu_incident_cleanup(&i);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_P_BRE_1_affected_set_is_exactly_what_the_key_read_in_the_window),
        T(test_P_BRE_1_scope_by_principal_and_source),
        T(test_P_BRE_1_evidence_hash_in_audit_log_and_tamper_seen),
        T(test_P_BRE_1_authority_deadline_72h_met_or_overdue),
        T(test_P_BRE_1_notices_cannot_be_backdated_or_claimed),
        T(test_P_BRE_1_an_export_owes_the_subjects_a_notice),
        T(test_P_BRE_1_revoke_the_suspected_key_from_the_incident),
        T(test_P_BRE_1_tenants_see_their_own_incidents_only),
        T(test_P_BRE_1_opened_and_notice_due_events_once),
        T(test_P_BRE_1_each_tenant_is_reminded_of_its_own_part),
        T(test_P_BRE_1_collection_scope_and_changes),
        T(test_P_BRE_1_platform_incident_seen_by_each_tenant_in_its_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
