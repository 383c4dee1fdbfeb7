/*
 * incident.c: opening a breach incident and freezing its affected set (P-BRE-1,
 * docs/incidents.md).
 *
 * The affected set is read from the audit log, the one record of who read or changed what
 * (P-AUD-1): every entry of each tenant in scope whose time lies in the window and that the
 * suspected scope made (its key, principal and source as the entry's actor and source say; a
 * collection as its object says, a record's through the record's collection) counts. An entry
 * that names a subject (the store keeps it beside the entry) makes that subject affected; one
 * that reaches the tenant's data without naming a subject (a search, an export) makes the
 * tenant affected (subject 0). The set, ids and counts only, is written with the incident in
 * one transaction with its SHA-256 in the audit log and the incident.opened events, so the
 * evidence, the record of it and the notice of it stand or fall together.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incident_int.h"
#include "outbox_int.h"
#include "tenant_int.h"
#include "util.h"

#define HITS_MAX 1000000 /* entries counted at most: beyond, the scope is no suspicion */

/* What a scan gathers: one hit per matching entry, merged after. */
typedef struct scan {
    cu_vault *v;
    const cu_store_incident *inc;
    char key_actor[40], op_key_actor[48];
    cu_store_incident_hit *hits;
    size_t n, cap;
    cu_rc rc;
    cu_err *err;
} scan;

static int suffix_is(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);

    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* A read leaves the data as it was; anything else the scope did to it is a change. */
static int is_read(const char *action)
{
    static const char *const reads[] = {".read",    ".find",   ".list",
                                        ".records", ".export", ".search"};

    for (size_t i = 0; i < CU_ARRAY_LEN(reads); i++)
        if (suffix_is(action, reads[i]))
            return 1;
    return 0;
}

/* Whether the entry reaches a tenant's data (and not only, say, its users or keys). */
static int touches_data(const cu_store_audit_touch *t)
{
    return t->subject_id != 0 || strncmp(t->action, "record.", 7) == 0 ||
           strncmp(t->action, "subject.", 8) == 0 || strncmp(t->action, "consent.", 8) == 0 ||
           strcmp(t->action, "tenant.export") == 0;
}

/* The collection an entry's object names, directly or through its record; 1 if it is the
 * scope's. A record no longer stored (deleted, erased) cannot be placed: it counts, since the
 * scope may have reached it (docs/incidents.md). */
static int in_collection(scan *s, const cu_store_audit_touch *t)
{
    const char *c = s->inc->scope_collection;
    size_t n = strlen(c);
    cu_store_record r = {0};
    unsigned long long id;
    char *end;
    int in;

    if (strncmp(t->object, "collection:", 11) == 0)
        return strncmp(t->object + 11, c, n) == 0 &&
               (t->object[11 + n] == '\0' || t->object[11 + n] == ':');
    if (strncmp(t->object, "record:", 7) != 0)
        return 0;
    id = strtoull(t->object + 7, &end, 10);
    if (end == t->object + 7)
        return 0;
    if (cu_store_record_get(s->v->store, t->tenant_id, (cu_id)id, &r, NULL) != CU_OK)
        return 1;
    in = strcmp(r.collection, c) == 0;
    cu_store_record_cleanup(&r);
    return in;
}

static int matches(scan *s, const cu_store_audit_touch *t)
{
    const cu_store_incident *i = s->inc;

    if (strncmp(t->action, "incident.", 9) == 0 || !touches_data(t))
        return 0;
    if (i->scope_key != 0 && strcmp(t->actor, s->key_actor) != 0 &&
        strcmp(t->actor, s->op_key_actor) != 0)
        return 0;
    if (i->scope_principal[0] != '\0' && strcmp(t->actor, i->scope_principal) != 0)
        return 0;
    if (i->scope_source[0] != '\0' && strcmp(t->source, i->scope_source) != 0)
        return 0;
    return i->scope_collection[0] == '\0' || in_collection(s, t);
}

static int on_entry(void *arg, const cu_store_audit_touch *t)
{
    scan *s = arg;
    cu_store_incident_hit *h;

    if (!matches(s, t))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        void *p = s->n < HITS_MAX ? realloc(s->hits, cap * sizeof(*s->hits)) : NULL;
        if (p == NULL) {
            s->rc = cu_err_set(s->err, s->n < HITS_MAX ? CU_ERR_NOMEM : CU_ERR_INVALID,
                               s->n < HITS_MAX ? "out of memory"
                                               : "the scope made too many entries: narrow it");
            return 1;
        }
        s->hits = p;
        s->cap = cap;
    }
    h = &s->hits[s->n++];
    *h = (cu_store_incident_hit){.tenant_id = t->tenant_id,
                                 .subject_id = t->subject_id,
                                 .first_ms = t->at,
                                 .last_ms = t->at};
    if (is_read(t->action))
        h->reads = 1;
    else
        h->writes = 1;
    return 0;
}

static int hit_cmp(const void *a, const void *b)
{
    const cu_store_incident_hit *x = a, *y = b;

    if (x->tenant_id != y->tenant_id)
        return x->tenant_id < y->tenant_id ? -1 : 1;
    if (x->subject_id != y->subject_id)
        return x->subject_id < y->subject_id ? -1 : 1;
    return 0;
}

/* Sorts the hits and merges those of one (tenant, subject); counts tenants and subjects. */
static void merge(scan *s, cu_store_incident *inc)
{
    size_t k = 0;

    if (s->n > 0)
        qsort(s->hits, s->n, sizeof(*s->hits), hit_cmp);
    for (size_t i = 0; i < s->n; i++) {
        cu_store_incident_hit *h = &s->hits[i], *d = k ? &s->hits[k - 1] : NULL;
        if (d != NULL && hit_cmp(d, h) == 0) {
            d->reads += h->reads;
            d->writes += h->writes;
            d->first_ms = h->first_ms < d->first_ms ? h->first_ms : d->first_ms;
            d->last_ms = h->last_ms > d->last_ms ? h->last_ms : d->last_ms;
            continue;
        }
        if (d == NULL || d->tenant_id != h->tenant_id)
            inc->tenants++;
        if (h->subject_id != 0)
            inc->subjects++;
        s->hits[k++] = *h;
    }
    s->n = k;
}

/* Reads the window of each tenant in scope: the incident's tenant, else every tenant. */
static cu_rc compute(cu_vault *v, const cu_ctx *ctx, cu_store_incident *inc, scan *s, cu_err *err)
{
    cu_tenant *tenants = NULL;
    size_t n = 0;
    cu_rc rc = CU_OK;

    snprintf(s->key_actor, sizeof(s->key_actor), "key:%llu", (unsigned long long)inc->scope_key);
    snprintf(s->op_key_actor, sizeof(s->op_key_actor), "operator:key:%llu",
             (unsigned long long)inc->scope_key);
    s->v = v;
    s->inc = inc;
    s->err = err;
    if (inc->scope_tenant != 0) {
        rc = cu_store_audit_touches(v->store, inc->scope_tenant, inc->from_ms, inc->to_ms, on_entry,
                                    s, err);
    } else if ((rc = cu_tenant_list(v, ctx, &tenants, &n, err)) == CU_OK) {
        for (size_t i = 0; rc == CU_OK && s->rc == CU_OK && i < n; i++)
            rc = cu_store_audit_touches(v->store, tenants[i].id, inc->from_ms, inc->to_ms, on_entry,
                                        s, err);
    }
    free(tenants);
    if (rc == CU_OK)
        rc = s->rc;
    if (rc == CU_OK)
        merge(s, inc);
    return rc;
}

cu_rc cu_incident_evidence(const cu_store_incident *inc, const cu_store_incident_hit *hits,
                           size_t n, uint8_t out[32], cu_err *err)
{
    const char *const texts[3] = {inc->scope_principal, inc->scope_source, inc->scope_collection};
    cu_sha256_ctx *c = cu_sha256_new();
    uint8_t b[8];

    memset(out, 0, 32);
    if (c == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    cu_sha256_update(c, (const uint8_t *)"cu-incident2", 12);
#define PUT(x)                                                                                     \
    do {                                                                                           \
        uint64_t u_ = (uint64_t)(x);                                                               \
        for (int j_ = 0; j_ < 8; j_++)                                                             \
            b[j_] = (uint8_t)(u_ >> (8 * j_));                                                     \
        cu_sha256_update(c, b, 8);                                                                 \
    } while (0)
    /* The header: whose it is, its window and scope, when it was known, its deadlines. */
    PUT(inc->id);
    PUT(inc->tenant_id);
    PUT(inc->opened_at);
    PUT(inc->known_at);
    PUT(inc->from_ms);
    PUT(inc->to_ms);
    PUT(inc->scope_key);
    PUT(inc->scope_tenant);
    PUT(inc->authority_hours);
    PUT(inc->tenants_hours);
    PUT(inc->subjects_hours);
    PUT(inc->tenants);
    PUT(inc->subjects);
    for (int t = 0; t < 3; t++) {
        PUT(strlen(texts[t]));
        cu_sha256_update(c, (const uint8_t *)texts[t], strlen(texts[t]));
    }
    PUT(n);
    for (size_t i = 0; i < n; i++) {
        PUT(hits[i].tenant_id);
        PUT(hits[i].subject_id);
        PUT(hits[i].reads);
        PUT(hits[i].writes);
        PUT(hits[i].first_ms);
        PUT(hits[i].last_ms);
    }
#undef PUT
    cu_sha256_final(c, out);
    return CU_OK;
}

cu_rc cu_incident_targets(const cu_incident *i, cu_id **out, size_t *n, cu_err *err)
{
    cu_id *t = calloc(i->nhits + 1, sizeof(*t));
    size_t k = 0;

    *out = NULL;
    *n = 0;
    if (t == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (i->inc.tenant_id != 0)
        t[k++] = i->inc.tenant_id;
    for (size_t j = 0; j < i->nhits; j++) {
        int seen = 0;
        for (size_t m = 0; m < k && !seen; m++)
            seen = t[m] == i->hits[j].tenant_id;
        if (!seen)
            t[k++] = i->hits[j].tenant_id;
    }
    *out = t;
    *n = k;
    return CU_OK;
}

static int text_ok(const char *s, size_t cap)
{
    size_t n = s ? strlen(s) : 0;

    if (n >= cap)
        return 0;
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int hours_ok(int64_t h)
{
    return h >= 0 && h <= CU_INCIDENT_HOURS_MAX;
}

/* Fills the incident from in, checked; the caller's view as_tenant bounds the scope. */
static cu_rc incident_from(const cu_ctx *ctx, cu_id as_tenant, const cu_incident_in *in,
                           cu_store_incident *inc, cu_err *err)
{
    int64_t now = cu_clock_now();
    int64_t to = in->to != 0 ? in->to : now;

    if (in->from <= 0 || to < in->from)
        return cu_err_set(err, CU_ERR_INVALID, "an incident needs a window: from <= to");
    if (!text_ok(in->principal, sizeof(inc->scope_principal)) ||
        !text_ok(in->source, sizeof(inc->scope_source)) ||
        !text_ok(in->collection, sizeof(inc->scope_collection)))
        return cu_err_set(err, CU_ERR_INVALID, "a scope member is too long or not text");
    if (!hours_ok(in->authority_hours) || !hours_ok(in->tenants_hours) ||
        !hours_ok(in->subjects_hours) || in->known_at < 0 || in->known_at > now)
        return cu_err_set(err, CU_ERR_INVALID, "a deadline or known_at is out of range");
    memset(inc, 0, sizeof(*inc));
    inc->id = cu_random_id();
    /* A tenant's admin opens incidents on its own tenant only (P-ISO-1). */
    inc->tenant_id = as_tenant != 0 ? as_tenant : in->tenant;
    inc->scope_tenant = inc->tenant_id;
    inc->scope_key = in->api_key;
    cu_strlcpy(inc->scope_principal, in->principal ? in->principal : "",
               sizeof(inc->scope_principal));
    cu_strlcpy(inc->scope_source, in->source ? in->source : "", sizeof(inc->scope_source));
    cu_strlcpy(inc->scope_collection, in->collection ? in->collection : "",
               sizeof(inc->scope_collection));
    if (inc->scope_key == 0 && !inc->scope_principal[0] && !inc->scope_source[0] &&
        !inc->scope_collection[0] && inc->scope_tenant == 0)
        return cu_err_set(err, CU_ERR_INVALID,
                          "an incident needs a scope: api_key, principal, source, tenant or "
                          "collection");
    cu_strlcpy(inc->opened_by, ctx && ctx->actor ? ctx->actor : "cli", sizeof(inc->opened_by));
    inc->opened_at = now;
    inc->known_at = in->known_at != 0 ? in->known_at : now;
    inc->from_ms = in->from * 1000;
    inc->to_ms = to * 1000 + 999;
    inc->authority_hours = in->authority_hours ? in->authority_hours : CU_INCIDENT_AUTHORITY_HOURS;
    inc->tenants_hours = in->tenants_hours ? in->tenants_hours : CU_INCIDENT_TENANTS_HOURS;
    inc->subjects_hours = in->subjects_hours ? in->subjects_hours : CU_INCIDENT_SUBJECTS_HOURS;
    return CU_OK;
}

/* The incident.opened event for target: ids, times and counts only. */
static cu_rc opened_event(const cu_store_incident *inc, const scan *s, cu_id target,
                          cu_store_op *op, cu_err *err)
{
    char id[CU_ID_STRLEN], tid[CU_ID_STRLEN];
    cJSON *data = cJSON_CreateObject();
    uint64_t subjects = 0;
    cu_rc rc;

    if (data == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < s->n; i++)
        subjects += s->hits[i].tenant_id == target && s->hits[i].subject_id != 0;
    cu_id_format(inc->id, id);
    cu_id_format(target, tid);
    cJSON_AddStringToObject(data, "incident_id", id);
    cJSON_AddStringToObject(data, "tenant_id", tid);
    cJSON_AddNumberToObject(data, "from", (double)(inc->from_ms / 1000));
    cJSON_AddNumberToObject(data, "to", (double)(inc->to_ms / 1000));
    cJSON_AddNumberToObject(data, "known_at", (double)inc->known_at);
    cJSON_AddNumberToObject(data, "subjects_affected", (double)subjects);
    cJSON_AddNumberToObject(data, "authority_due",
                            (double)(inc->known_at + inc->authority_hours * 3600));
    rc = cu_outbox_event(op, target, CU_EVENT_INCIDENT_OPENED, 0, data, err);
    cJSON_Delete(data);
    return rc;
}

/* Commits the incident, its set, the audit entries (the incident's tenant's log, and each
 * affected tenant's: its log was read) and the events, in one transaction. */
static cu_rc commit_open(cu_vault *v, const cu_ctx *ctx, cu_store_incident *inc, scan *s,
                         cu_err *err)
{
    cu_incident view = {.inc = *inc, .hits = s->hits, .nhits = s->n};
    cu_store_op *ops = NULL;
    cu_audit_in *a = NULL;
    cu_id *targets = NULL;
    size_t nt = 0, nops = 1, na = 0;
    char hex[65];
    cu_rc rc = cu_incident_targets(&view, &targets, &nt, err);

    if (rc == CU_OK &&
        ((ops = calloc(nt + 1, sizeof(*ops))) == NULL || (a = calloc(nt + 1, sizeof(*a))) == NULL))
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (rc != CU_OK)
        goto out;
    ops[0].type = CU_OP_INCIDENT_PUT;
    ops[0].u.incident.inc = *inc;
    ops[0].u.incident.hits = s->hits;
    ops[0].u.incident.nhits = s->n;
    cu_hex_encode(inc->evidence, 32, hex);
    /* P-BRE-1: the set's hash where it cannot be changed silently (P-AUD-2). */
    if (inc->tenant_id == 0)
        cu_audit_in_set(&a[na++], 0, "incident.open", "incident:%llu:%s",
                        (unsigned long long)inc->id, hex);
    for (size_t i = 0; i < nt; i++)
        cu_audit_in_set(&a[na++], targets[i], "incident.open", "incident:%llu:%s",
                        (unsigned long long)inc->id, hex);
    for (size_t i = 0; rc == CU_OK && i < nt; i++)
        if ((rc = opened_event(inc, s, targets[i], &ops[nops], err)) == CU_OK)
            nops++;
    if (rc == CU_OK)
        rc = cu_commit(v, ctx, ops, nops, a, na, err);
out:
    for (size_t i = 1; ops != NULL && i < nops; i++)
        cu_store_op_cleanup(&ops[i]);
    free(ops);
    free(a);
    free(targets);
    return rc;
}

cu_rc cu_incident_open(cu_vault *v, const cu_ctx *ctx, cu_id as_tenant, const cu_incident_in *in,
                       cu_id *id, cu_err *err)
{
    cu_store_incident inc;
    scan s = {0};
    cu_rc rc = incident_from(ctx, as_tenant, in, &inc, err);

    if (rc == CU_OK && inc.tenant_id != 0)
        rc = cu_tenant_usable(v, ctx, inc.tenant_id, CU_TENANT_USE_LIVE, NULL, err);
    if (rc == CU_OK)
        rc = compute(v, ctx, &inc, &s, err);
    if (rc == CU_OK && (rc = cu_incident_evidence(&inc, s.hits, s.n, inc.evidence, err)) == CU_OK)
        rc = commit_open(v, ctx, &inc, &s, err);
    if (rc == CU_OK && id != NULL)
        *id = inc.id;
    free(s.hits);
    return rc;
}
