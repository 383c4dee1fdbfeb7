/*
 * api_request.c: handlers of data-subject requests (/v1/tenants/{t}/requests, docs/dsr.md).
 *
 * The request's own routes act under it: the purpose subject_access and the request's id go
 * into the context here, from the path of a route the principal may use, never from a header
 * (a Custos-Purpose: subject_access header is refused by the router, 403 request_required).
 * The core checks that the request is open, acknowledged and of the subject the data is of.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "json.h"

/* The context of a route that acts under the request of the path (ids[1]). */
static void under_request(http_req *r)
{
    r->ctx.purpose = CU_PURPOSE_SUBJECT_ACCESS;
    r->ctx.dsr_request = r->ids[1];
}

/* P-DSR-4: an erase request carried out shows its signed erasure certificate, the one stored
 * with the erasure (the same however often it is read), and whether the vault still owes the
 * scrub of erased keys from its write-ahead log (docs/dsr.md). */
static void add_certificate(http_req *r, const cu_request *q, cJSON *o)
{
    char *cert = NULL;
    cJSON *c = NULL;
    cu_err e = {0};

    if (q->type != CU_REQ_ERASE ||
        cu_request_certificate(r->v, &r->ctx, r->tenant, q->id, &cert, &e) != CU_OK)
        return;
    if (cu_json_parse(cert, strlen(cert), &c, NULL, &e) == CU_OK) {
        cJSON_AddItemToObject(o, "certificate", c);
        cJSON_AddBoolToObject(o, "scrub_pending", cu_vault_scrub_pending(r->v));
    }
    free(cert);
}

static void answer_request(http_req *r, unsigned status)
{
    cu_request q;
    cu_err e = {0};
    cJSON *o;

    if (cu_request_get(r->v, &r->ctx, r->tenant, r->ids[1], &q, &e) != CU_OK)
        return http_fail(r, &e);
    o = cu_repr_request_json(&q);
    add_certificate(r, &q, o);
    http_json(r, status, o);
}

/* Filing: by the subject through the tenant's service (external_id; a token comes back, the
 * same answer whether the subject is known or not), or by an administrator (subject_id). */
void api_request_file(http_req *r)
{
    static const http_field f[] = {{"type", F_STRING, 1},
                                   {"filed_by", F_STRING, 0},
                                   {"subject_id", F_ID, 0},
                                   {"external_id", F_STRING, 0},
                                   {"purpose", F_STRING, 0}};
    const char *by;
    cu_request_in in = {0};
    cu_request_filed out;
    cu_err e = {0};

    if (http_check_body(r, f, 5) != 0)
        return;
    if (cu_request_type_parse(http_str(r, "type"), &in.type) != CU_OK)
        return http_error(r, 400, "invalid_field",
                          "type: access, export, rectify, erase, restrict, unrestrict, object "
                          "or withdraw_consent");
    by = http_str(r, "filed_by");
    if (by != NULL && strcmp(by, "admin") != 0 && strcmp(by, "subject") != 0)
        return http_error(r, 400, "invalid_field", "filed_by: subject or admin");
    in.filer = by != NULL && strcmp(by, "admin") == 0 ? CU_REQ_BY_ADMIN : CU_REQ_BY_SUBJECT;
    /* An administrator's request needs no verification: only whoever may erase files one. */
    if (in.filer == CU_REQ_BY_ADMIN &&
        !cu_principal_can(r->v, &r->who, r->tenant, CU_PERM_DATA_ERASE))
        return http_error(r, 403, "forbidden", "only an owner or admin files as admin");
    in.subject = http_id(r, "subject_id");
    in.external_id = http_str(r, "external_id");
    in.purpose = http_str(r, "purpose");
    if (cu_request_file(r->v, &r->ctx, r->tenant, &in, &out, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 201, cu_repr_request_filed_json(&out));
    cu_str_wipe(out.token);
}

/* The queue's cursor as the API writes it: "<closed>.<next due, unix seconds>.<id>", such as
 * "0.1796306127.3468529224584879269" (the "next" of the page before). 0 if s is one. */
static int cursor_parse(const char *s, cu_request_cursor *c)
{
    const char *p = s + 2;
    int64_t due = 0;

    if ((s[0] != '0' && s[0] != '1') || s[1] != '.')
        return -1;
    /* At most 13 digits: any date until the year 318857, and no overflow. */
    for (; *p >= '0' && *p <= '9' && p - (s + 2) < 13; p++)
        due = due * 10 + (*p - '0');
    /* Ids are 63-bit: one past INT64_MAX would bind as a negative key and page from nowhere. */
    if (p == s + 2 || *p != '.' || cu_id_parse(p + 1, &c->id) != CU_OK || c->id > INT64_MAX)
        return -1;
    c->closed = s[0] - '0';
    c->due = due;
    return 0;
}

/* The paged answer (limit or after given): the queue's order, with "next" (null at the end). */
static void request_page(http_req *r, cu_request_filter f)
{
    const char *lim = http_query(r, "limit"), *aft = http_query(r, "after");
    cu_request_cursor after, next;
    cu_request *list = NULL;
    size_t n = 0, limit = 50;
    cu_err e = {0};
    char buf[64];
    int more = 0;
    cJSON *o, *a;

    if (lim != NULL) {
        char *end;
        unsigned long x = strtoul(lim, &end, 10);
        if (*lim < '0' || *lim > '9' || *end != '\0' || x < 1 || x > 500)
            return http_error(r, 400, "invalid_field", "limit: a number from 1 to 500");
        limit = (size_t)x;
    }
    if (aft != NULL && cursor_parse(aft, &after) != 0)
        return http_error(r, 400, "invalid_field", "after: the \"next\" of the page before");
    if (cu_request_page(r->v, &r->ctx, r->tenant, f, aft != NULL ? &after : NULL, limit, &list,
                        &n, &next, &more, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "requests");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cu_repr_request_json(&list[i]));
    free(list);
    if (more) {
        snprintf(buf, sizeof(buf), "%d.%lld.%llu", next.closed, (long long)next.due,
                 (unsigned long long)next.id);
        cJSON_AddStringToObject(o, "next", buf);
    } else {
        cJSON_AddNullToObject(o, "next");
    }
    http_json(r, 200, o);
}

/* Without limit or after, the whole list oldest first, as before paging existed. */
void api_request_list(http_req *r)
{
    static const char *const q[] = {"filter", "limit", "after"};
    static const char *const names[] = {"all", "open", "due_soon", "overdue"};
    const char *fl;
    cu_request_filter f = CU_REQ_LIST_ALL;
    cu_request *list = NULL;
    size_t n = 0, i;
    cu_err e = {0};
    cJSON *o, *a;

    if (http_check_query(r, q, 3) != 0)
        return;
    if ((fl = http_query(r, "filter")) != NULL) {
        for (i = 0; i < 4 && strcmp(fl, names[i]) != 0; i++)
            ;
        if (i == 4)
            return http_error(r, 400, "invalid_field", "filter: all, open, due_soon or overdue");
        f = (cu_request_filter)i;
    }
    if (http_query(r, "limit") != NULL || http_query(r, "after") != NULL)
        return request_page(r, f);
    if (cu_request_list(r->v, &r->ctx, r->tenant, f, &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "requests");
    for (i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cu_repr_request_json(&list[i]));
    free(list);
    http_json(r, 200, o);
}

void api_request_get(http_req *r)
{
    answer_request(r, 200);
}

void api_request_verify(http_req *r)
{
    static const http_field f[] = {{"token", F_STRING, 1}};
    cu_err e = {0};

    if (http_check_body(r, f, 1) != 0)
        return;
    if (cu_request_verify(r->v, &r->ctx, r->tenant, r->ids[1], http_str(r, "token"), &e) != CU_OK)
        return http_fail(r, &e);
    answer_request(r, 200);
}

void api_request_acknowledge(http_req *r)
{
    cu_err e = {0};

    if (cu_request_acknowledge(r->v, &r->ctx, r->tenant, r->ids[1], &e) != CU_OK)
        return http_fail(r, &e);
    answer_request(r, 200);
}

void api_request_extend(http_req *r)
{
    static const http_field f[] = {{"by", F_STRING, 1}, {"reason", F_STRING, 1}};
    cu_duration by;
    cu_err e = {0};

    if (http_check_body(r, f, 2) != 0)
        return;
    if (cu_duration_parse(http_str(r, "by"), &by) != CU_OK)
        return http_error(r, 400, "invalid_field", "by: a duration such as 30d or 2mo");
    if (cu_request_extend(r->v, &r->ctx, r->tenant, r->ids[1], by, http_str(r, "reason"), &e) !=
        CU_OK)
        return http_fail(r, &e);
    answer_request(r, 200);
}

/* P-DSR-8: the controller approves a subject's request in processor mode. */
void api_request_approve(http_req *r)
{
    cu_err e = {0};

    if (cu_request_decide(r->v, &r->ctx, r->tenant, r->ids[1], 1, NULL, &e) != CU_OK)
        return http_fail(r, &e);
    answer_request(r, 200);
}

/* A rejection: the controller's decision while one is pending (P-DSR-8), else the tenant's. */
void api_request_reject(http_req *r)
{
    static const http_field f[] = {{"reason", F_STRING, 1}};
    const char *reason;
    cu_request q;
    cu_err e = {0};
    cu_rc rc;

    if (http_check_body(r, f, 1) != 0)
        return;
    reason = http_str(r, "reason");
    if ((rc = cu_request_get(r->v, &r->ctx, r->tenant, r->ids[1], &q, &e)) == CU_OK)
        rc = q.decision == CU_REQ_DECISION_PENDING
                 ? cu_request_decide(r->v, &r->ctx, r->tenant, r->ids[1], 0, reason, &e)
                 : cu_request_reject(r->v, &r->ctx, r->tenant, r->ids[1], reason, &e);
    if (rc != CU_OK)
        return http_fail(r, &e);
    answer_request(r, 200);
}

/* Completion; a rectify request carries the corrected profile ({"profile": {...}}). */
void api_request_complete(http_req *r)
{
    static const http_field f[] = {{"profile", F_OBJECT, 0}};
    static const char *const members[] = {"external_id", "email", "phone", "birth_date"};
    const cJSON *p;
    const char *val[4] = {0};
    cu_subject_in fix;
    cu_err e = {0};

    if (http_check_body(r, f, 1) != 0)
        return;
    if ((p = cJSON_GetObjectItemCaseSensitive(r->json, "profile")) != NULL) {
        for (const cJSON *m = p->child; m != NULL; m = m->next) {
            size_t i;
            for (i = 0; i < 4 && strcmp(m->string, members[i]) != 0; i++)
                ;
            if (i == 4 || !cJSON_IsString(m))
                return http_error(r, 400, "invalid_field",
                                  "profile: external_id, email, phone or birth_date, as strings");
            val[i] = m->valuestring;
        }
    }
    fix = (cu_subject_in){
        .external_id = val[0], .email = val[1], .phone = val[2], .birth_date = val[3]};
    if (cu_request_complete(r->v, &r->ctx, r->tenant, r->ids[1], p ? &fix : NULL, &e) != CU_OK)
        return http_fail(r, &e);
    /* P-DSR-4: an erase request's answer carries its signed erasure certificate. */
    answer_request(r, 200);
}

/* --- the subject's data under its request ------------------------------------------------- */

void api_request_subject(http_req *r)
{
    cu_request q;
    cu_subject s;
    cu_err e = {0};
    cJSON *o;

    if (cu_request_get(r->v, &r->ctx, r->tenant, r->ids[1], &q, &e) != CU_OK)
        return http_fail(r, &e);
    under_request(r);
    if (cu_subject_get(r->v, &r->ctx, r->tenant, q.subject_id, &s, &e) != CU_OK)
        return http_fail(r, &e);
    o = cu_repr_subject_json(&s);
    cu_subject_cleanup(&s);
    http_json(r, 200, o);
}

void api_request_records(http_req *r)
{
    cu_request q;
    cu_id *ids = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o;

    if (cu_request_get(r->v, &r->ctx, r->tenant, r->ids[1], &q, &e) != CU_OK)
        return http_fail(r, &e);
    under_request(r);
    if (cu_record_list_by_subject(r->v, &r->ctx, r->tenant, q.subject_id, &ids, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "ids", cu_repr_ids_json(ids, n));
    free(ids);
    http_json(r, 200, o);
}

/* The request of the path exists (CU_OK), so that no route under it reads a record first. */
static cu_rc request_exists(http_req *r, cu_err *e)
{
    cu_request q;

    return cu_request_get(r->v, &r->ctx, r->tenant, r->ids[1], &q, e);
}

/* The subject's consent ledger under its request (P-DSR-1, P-CON-2). */
void api_request_consents(http_req *r)
{
    cu_request q;
    cu_consent *list = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (cu_request_get(r->v, &r->ctx, r->tenant, r->ids[1], &q, &e) != CU_OK)
        return http_fail(r, &e);
    under_request(r);
    if (cu_consent_list(r->v, &r->ctx, r->tenant, q.subject_id, &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "subject_id", q.subject_id);
    a = cJSON_AddArrayToObject(o, "ledger");
    for (size_t i = 0; i < n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "seq", (double)list[i].seq);
        cJSON_AddStringToObject(c, "purpose", list[i].purpose);
        cJSON_AddStringToObject(c, "action", cu_consent_action_name(list[i].action));
        cu_repr_add_time(c, "at", list[i].at);
        cJSON_AddStringToObject(c, "source", list[i].source);
        cJSON_AddStringToObject(c, "policy_version", list[i].policy_version);
        cJSON_AddItemToArray(a, c);
    }
    free(list);
    http_json(r, 200, o);
}

void api_request_record_get(http_req *r)
{
    cu_record rec;
    cu_err e = {0};
    cJSON *o;

    if (request_exists(r, &e) != CU_OK)
        return http_fail(r, &e);
    under_request(r);
    if (cu_record_get(r->v, &r->ctx, r->tenant, r->ids[2], &rec, &e) != CU_OK)
        return http_fail(r, &e);
    o = cu_repr_record_json(&rec);
    cu_record_cleanup(&rec);
    http_json(r, 200, o);
}

/* P-DSR-3: a record corrected under a rectify request. */
void api_request_record_update(http_req *r)
{
    static const http_field f[] = {{"data", F_OBJECT, 1}};
    cu_err e = {0};
    char *doc;
    cu_rc rc;
    cJSON *o;

    if (http_check_body(r, f, 1) != 0)
        return;
    if (request_exists(r, &e) != CU_OK)
        return http_fail(r, &e);
    doc = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r->json, "data"));
    if (doc == NULL)
        return http_error(r, 503, "out_of_memory", "out of memory");
    under_request(r);
    rc = cu_record_update(r->v, &r->ctx, r->tenant, r->ids[2], doc, strlen(doc), &e);
    cu_str_wipe(doc);
    cJSON_free(doc);
    if (rc != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[2]);
    http_json(r, 200, o);
}

/* The answer to an access or export request (P-DSR-1, P-DSR-2), ?format=json|csv, streamed as
 * it is read (chunked) in bounded memory; the checks and the audit entry come first, so a
 * refusal is an ordinary error answer, and an error midway breaks the transfer (never a valid
 * shorter document). */
static long export_read(void *arg, char *buf, size_t max)
{
    size_t n = 0;
    cu_err e = {0};

    if (cu_subject_export_read(arg, buf, max, &n, &e) != CU_OK) {
        fprintf(stderr, "custos: a subject's export cut short: %s\n", cu_rc_name(e.code));
        return -1;
    }
    return (long)n;
}

static void export_done(void *arg)
{
    cu_subject_export_free(arg);
}

void api_request_export(http_req *r)
{
    static const char *const q[] = {"format"};
    cu_subject_export *x = NULL;
    const char *format;
    cu_err e = {0};

    if (http_check_query(r, q, 1) != 0)
        return;
    format = http_query(r, "format") ? http_query(r, "format") : "json";
    if (cu_request_export_open(r->v, &r->ctx, r->tenant, r->ids[1], format, &x, &e) != CU_OK)
        return http_fail(r, &e);
    free(r->resp);
    r->resp = NULL;
    r->stream_read = export_read;
    r->stream_done = export_done;
    r->stream_arg = x;
    r->status = 200;
    r->content_type = strcmp(format, "csv") == 0 ? "application/zip" : NULL;
}
