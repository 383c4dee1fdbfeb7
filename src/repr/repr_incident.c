/*
 * repr_incident.c: the JSON views of breach incidents (repr_incident.h, docs/incidents.md).
 * The timeline is made here from what the incident holds (its window, the first and last
 * access of its affected set, when it became known and was opened, each notice, the key's
 * revocation), ordered by time.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "repr.h"
#include "repr_incident.h"

static void hex32(const uint8_t *in, char out[65])
{
    static const char d[] = "0123456789abcdef";

    for (int k = 0; k < 32; k++) {
        out[2 * k] = d[in[k] >> 4];
        out[2 * k + 1] = d[in[k] & 15];
    }
    out[64] = '\0';
}

static void add_ms(cJSON *o, const char *name, int64_t ms)
{
    char t[32];

    cu_repr_time_format(ms, t);
    cJSON_AddStringToObject(o, name, t);
}

cJSON *cu_repr_incident_summary_json(const cu_store_incident *inc)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", inc->id);
    cu_repr_add_id(o, "tenant_id", inc->tenant_id);
    cu_repr_add_time(o, "opened_at", inc->opened_at);
    cu_repr_add_time(o, "known_at", inc->known_at);
    cJSON_AddNumberToObject(o, "tenants_affected", (double)inc->tenants);
    cJSON_AddNumberToObject(o, "subjects_affected", (double)inc->subjects);
    return o;
}

static cJSON *scope_json(const cu_store_incident *inc)
{
    cJSON *o = cJSON_CreateObject();

    if (inc->scope_key != 0)
        cu_repr_add_id(o, "api_key", inc->scope_key);
    if (inc->scope_principal[0])
        cJSON_AddStringToObject(o, "principal", inc->scope_principal);
    if (inc->scope_source[0])
        cJSON_AddStringToObject(o, "source", inc->scope_source);
    if (inc->scope_tenant != 0)
        cu_repr_add_id(o, "tenant", inc->scope_tenant);
    if (inc->scope_collection[0])
        cJSON_AddStringToObject(o, "collection", inc->scope_collection);
    return o;
}

static cJSON *deadlines_json(const cu_incident *i, int64_t now)
{
    cJSON *a = cJSON_CreateArray();
    cu_incident_deadline d[3];

    cu_incident_deadlines(i, now, d);
    for (int k = 0; k < 3; k++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "notice", cu_incident_kind_name(d[k].kind));
        cu_repr_add_time(x, "due_at", d[k].due);
        cJSON_AddStringToObject(x, "state", d[k].state);
        if (d[k].met_at != 0)
            cu_repr_add_time(x, "met_at", d[k].met_at);
        else
            cJSON_AddNullToObject(x, "met_at");
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

static cJSON *notice_json(const cu_store_incident_notice *n)
{
    cJSON *x = cJSON_CreateObject();

    cJSON_AddNumberToObject(x, "seq", n->seq);
    cJSON_AddStringToObject(x, "notice", cu_incident_kind_name(n->kind));
    if (n->tenant_id != 0)
        cu_repr_add_id(x, "tenant_id", n->tenant_id);
    cu_repr_add_time(x, "at", n->at);
    cJSON_AddStringToObject(x, "reference", n->reference);
    cJSON_AddStringToObject(x, "actor", n->actor);
    return x;
}

/* One step of the timeline: when (milliseconds) and its object. */
typedef struct step {
    int64_t ms;
    cJSON *o;
} step;

static int step_cmp(const void *a, const void *b)
{
    const step *x = a, *y = b;

    return x->ms < y->ms ? -1 : x->ms > y->ms;
}

static void step_add(step *s, size_t *n, int64_t ms, const char *event)
{
    s[*n].ms = ms;
    s[*n].o = cJSON_CreateObject();
    add_ms(s[*n].o, "at", ms);
    cJSON_AddStringToObject(s[*n].o, "event", event);
    (*n)++;
}

static cJSON *timeline_json(const cu_incident *i)
{
    const cu_store_incident *inc = &i->inc;
    step *s = calloc(i->nnotices + 8, sizeof(*s));
    int64_t first = 0, last = 0;
    cJSON *a = cJSON_CreateArray();
    size_t n = 0;

    if (s == NULL)
        return a;
    for (size_t k = 0; k < i->nhits; k++) {
        first = first == 0 || i->hits[k].first_ms < first ? i->hits[k].first_ms : first;
        last = i->hits[k].last_ms > last ? i->hits[k].last_ms : last;
    }
    step_add(s, &n, inc->from_ms, "window_start");
    step_add(s, &n, inc->to_ms, "window_end");
    if (i->nhits > 0) {
        step_add(s, &n, first, "first_access");
        step_add(s, &n, last, "last_access");
    }
    step_add(s, &n, inc->known_at * 1000, "known");
    step_add(s, &n, inc->opened_at * 1000, "opened");
    for (size_t k = 0; k < i->nnotices; k++) {
        step_add(s, &n, i->notices[k].at * 1000, "notice");
        cJSON_AddItemToObject(s[n - 1].o, "notice", notice_json(&i->notices[k]));
    }
    if (inc->revoked_at != 0) {
        step_add(s, &n, inc->revoked_at * 1000, "key_revoked");
        cu_repr_add_id(s[n - 1].o, "api_key", inc->scope_key);
    }
    qsort(s, n, sizeof(*s), step_cmp);
    for (size_t k = 0; k < n; k++)
        cJSON_AddItemToArray(a, s[k].o);
    free(s);
    return a;
}

static cJSON *affected_json(const cu_incident *i)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t k = 0; k < i->nhits; k++) {
        const cu_store_incident_hit *h = &i->hits[k];
        cJSON *x = cJSON_CreateObject();
        cu_repr_add_id(x, "tenant_id", h->tenant_id);
        if (h->subject_id != 0)
            cu_repr_add_id(x, "subject_id", h->subject_id);
        else
            cJSON_AddNullToObject(x, "subject_id");
        cJSON_AddNumberToObject(x, "reads", (double)h->reads);
        cJSON_AddNumberToObject(x, "writes", (double)h->writes);
        add_ms(x, "first_at", h->first_ms);
        add_ms(x, "last_at", h->last_ms);
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

cJSON *cu_repr_incident_json(const cu_incident *i, int64_t now, int report)
{
    const cu_store_incident *inc = &i->inc;
    cJSON *o = cu_repr_incident_summary_json(inc), *w, *ev, *nt;
    char hex[65];

    cJSON_AddStringToObject(o, "opened_by", inc->opened_by);
    w = cJSON_AddObjectToObject(o, "window");
    add_ms(w, "from", inc->from_ms);
    add_ms(w, "to", inc->to_ms);
    cJSON_AddItemToObject(o, "scope", scope_json(inc));
    ev = cJSON_AddObjectToObject(o, "evidence");
    hex32(inc->evidence, hex);
    cJSON_AddStringToObject(ev, "sha256", hex);
    cJSON_AddBoolToObject(ev, "intact", i->evidence_intact);
    cJSON_AddItemToObject(o, "deadlines", deadlines_json(i, now));
    nt = cJSON_AddArrayToObject(o, "notices");
    for (size_t k = 0; k < i->nnotices; k++)
        cJSON_AddItemToArray(nt, notice_json(&i->notices[k]));
    if (inc->revoked_at != 0)
        cu_repr_add_time(o, "key_revoked_at", inc->revoked_at);
    else
        cJSON_AddNullToObject(o, "key_revoked_at");
    cJSON_AddItemToObject(o, "timeline", timeline_json(i));
    if (report) {
        cu_repr_add_time(o, "report_at", now);
        cJSON_AddItemToObject(o, "affected", affected_json(i));
    }
    return o;
}
