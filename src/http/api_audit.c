/*
 * api_audit.c: the audit log over HTTP (P-AUD-1 .. P-AUD-5): a tenant's entries with filters
 * and a cursor, verification of its chain, signed checkpoints and their export with the
 * public key; and the platform's own log (tenant 0) for the operator. The JSON forms of
 * entries, checkpoints and reports, which `custos audit` prints too, are in src/repr.
 *
 * The log holds ids and names only (P-AUD-4), so these routes need no purpose and their
 * filters may travel in the URL. Reading the log is itself written to the log by the core.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "util.h"

/* --- query parameters ----------------------------------------------------------------------- */

static const char *const list_params[] = {"actor", "action", "object", "object_prefix",
                                          "purpose", "from", "to", "after", "limit"};

static int invalid(http_req *r, const char *name, const char *must)
{
    http_error(r, 400, "invalid_field", "query parameter \"%s\" must be %s", name, must);
    return -1;
}

/* A text filter: 1 to cap - 1 bytes without control characters (an id or a name). */
static int text_param(http_req *r, const char *name, size_t cap, const char **out)
{
    const char *v = http_query(r, name);
    char must[64];
    size_t n;

    if (v == NULL)
        return 0;
    n = strlen(v);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            n = 0;
    if (n == 0 || n >= cap) {
        snprintf(must, sizeof(must), "1 to %zu characters without control characters", cap - 1);
        return invalid(r, name, must);
    }
    *out = v;
    return 0;
}

/* A decimal number in [lo, hi]; *out keeps its default when the parameter is absent. */
static int number_param(http_req *r, const char *name, uint64_t lo, uint64_t hi, const char *must,
                        uint64_t *out)
{
    const char *v = http_query(r, name);
    unsigned long long x;
    char *end;

    if (v == NULL)
        return 0;
    errno = 0;
    x = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || x < lo || x > hi)
        return invalid(r, name, must);
    *out = x;
    return 0;
}

static int time_param(http_req *r, const char *name, int64_t *out)
{
    const char *v = http_query(r, name);

    if (v == NULL)
        return 0;
    if (cu_repr_time_parse(v, out) != CU_OK)
        return invalid(r, name,
                       "an RFC 3339 time (2026-11-23T18:32:25Z, 2026-11-23T19:32:25.5%2B01:00), "
                       "a date (2026-11-23) or unix milliseconds");
    return 0;
}

/* Fills f from the query; answers 400 and returns -1 on a bad one. */
static int parse_filter(http_req *r, cu_audit_filter *f)
{
    const cu_audit_entry *e = NULL;
    uint64_t after = 0, limit = 100;

    memset(f, 0, sizeof(*f));
    if (http_check_query(r, list_params, CU_ARRAY_LEN(list_params)) != 0 ||
        text_param(r, "actor", sizeof(e->actor), &f->actor) != 0 ||
        text_param(r, "action", sizeof(e->action), &f->action) != 0 ||
        text_param(r, "object", sizeof(e->object), &f->object) != 0 ||
        text_param(r, "object_prefix", sizeof(e->object), &f->object_prefix) != 0 ||
        text_param(r, "purpose", sizeof(e->purpose), &f->purpose) != 0 ||
        time_param(r, "from", &f->from_ms) != 0 || time_param(r, "to", &f->to_ms) != 0 ||
        number_param(r, "after", 0, INT64_MAX, "a seq: 0 or a decimal number", &after) != 0 ||
        number_param(r, "limit", 1, 1000, "a number from 1 to 1000", &limit) != 0)
        return -1;
    /* The store reads a "to" of 0 as no bound. */
    if (http_query(r, "to") != NULL && f->to_ms == 0)
        return invalid(r, "to", "after 1970-01-01T00:00:00Z");
    if (f->to_ms != 0 && f->from_ms > f->to_ms)
        return invalid(r, "from", "no later than \"to\"");
    f->after_seq = after;
    f->limit = (size_t)limit;
    return 0;
}

/* --- handlers ------------------------------------------------------------------------------- */

/* The log a route reads: its tenant's, or 0 (the platform's own) for /v1/audit. */
static cu_id log_of(const http_req *r)
{
    return (r->route->flags & R_TENANT) ? r->tenant : 0;
}

/* GET .../subjects/{id}/accesses?after=&limit=: the entries touching the subject, from the
 * log's subject index (cu_audit_subject_list); the console's "Who accessed it". */
void api_subject_accesses(http_req *r)
{
    static const char *const q[] = {"after", "limit"};
    cu_audit_entry *list = NULL;
    uint64_t after = 0, limit = 100;
    cu_err e = {0};
    size_t n = 0;

    if (http_check_query(r, q, 2) != 0 ||
        number_param(r, "after", 0, INT64_MAX, "a seq: 0 or a decimal number", &after) != 0 ||
        number_param(r, "limit", 1, 1000, "a number from 1 to 1000", &limit) != 0)
        return;
    if (cu_audit_subject_list(r->v, &r->ctx, r->tenant, r->ids[1], after, (size_t)limit, &list,
                              &n, &e) != CU_OK)
        return http_fail(r, &e);
    cJSON *o = cu_repr_access_page_json(list, n, (size_t)limit);
    free(list);
    http_json(r, 200, o);
}

void api_audit_list(http_req *r)
{
    cu_audit_entry *list = NULL;
    cu_audit_filter f;
    cu_err e = {0};
    size_t n = 0;
    cJSON *o;

    if (parse_filter(r, &f) != 0)
        return;
    if (cu_audit_list(r->v, &r->ctx, log_of(r), &f, &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cu_repr_audit_page_json(list, n, f.limit);
    free(list);
    http_json(r, 200, o);
}

void api_audit_verify(http_req *r)
{
    cu_audit_report rep;
    cu_err e = {0};

    if (http_check_query(r, NULL, 0) != 0)
        return;
    if (cu_audit_verify(r->v, &r->ctx, log_of(r), &rep, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 200, cu_repr_audit_report_json(&rep));
}

void api_audit_checkpoint(http_req *r)
{
    cu_audit_checkpoint c;
    cu_err e = {0};

    if (http_check_query(r, NULL, 0) != 0)
        return;
    if (cu_audit_checkpoint_now(r->v, &r->ctx, log_of(r), &c, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 201, cu_repr_audit_checkpoint_json(&c));
}

void api_audit_checkpoints(http_req *r)
{
    static const char *const names[] = {"after"};
    cu_audit_checkpoint *list = NULL;
    uint64_t after = 0;
    uint8_t pk[32];
    cu_err e = {0};
    size_t n = 0, k = 0;
    cJSON *o;

    if (http_check_query(r, names, 1) != 0 ||
        number_param(r, "after", 0, INT64_MAX, "a seq: 0 or a decimal number", &after) != 0)
        return;
    if (cu_audit_checkpoints(r->v, &r->ctx, log_of(r), &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    /* Only those past the newest one the tenant keeps already (P-AUD-2). */
    for (size_t i = 0; i < n; i++)
        if (list[i].seq > after)
            list[k++] = list[i];
    n = k;
    cu_audit_public_key(r->v, pk);
    o = cu_repr_audit_export_json(log_of(r), pk, list, n);
    free(list);
    http_json(r, 200, o);
}
