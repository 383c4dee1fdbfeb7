/*
 * repr_request.c: the JSON view of a data-subject request (docs/dsr.md), for the API and the
 * CLI alike: ids, kinds, states, reason codes and times; never a personal value.
 */
#include <cjson/cJSON.h>

#include "repr.h"

/* A time member, or null while it has not happened. */
static void add_when(cJSON *o, const char *name, int64_t t)
{
    if (t != 0)
        cu_repr_add_time(o, name, t);
    else
        cJSON_AddNullToObject(o, name);
}

cJSON *cu_repr_request_json(const cu_request *q)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", q->id);
    if (q->subject_id != 0)
        cu_repr_add_id(o, "subject_id", q->subject_id);
    else
        cJSON_AddNullToObject(o, "subject_id");
    cJSON_AddStringToObject(o, "type", cu_request_type_name(q->type));
    cJSON_AddStringToObject(o, "state", cu_request_state_name(q->state));
    cJSON_AddStringToObject(o, "filed_by", q->filer == CU_REQ_BY_ADMIN ? "admin" : "subject");
    cJSON_AddStringToObject(o, "decision", cu_request_decision_name(q->decision));
    if (q->purpose[0])
        cJSON_AddStringToObject(o, "purpose", q->purpose);
    if (q->reason[0])
        cJSON_AddStringToObject(o, "reason", q->reason);
    cu_repr_add_time(o, "filed_at", q->filed_at);
    add_when(o, "verified_at", q->verified_at);
    add_when(o, "decided_at", q->decided_at);
    add_when(o, "acknowledged_at", q->acknowledged_at);
    add_when(o, "extended_at", q->extended_at);
    add_when(o, "closed_at", q->closed_at);
    cu_repr_add_time(o, "acknowledge_due", q->ack_due);
    cu_repr_add_time(o, "answer_due", q->answer_due);
    cJSON_AddBoolToObject(o, "open", q->open);
    cJSON_AddBoolToObject(o, "overdue", q->overdue);
    cJSON_AddBoolToObject(o, "due_soon", q->due_soon);
    return o;
}

cJSON *cu_repr_request_filed_json(const cu_request_filed *f)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", f->id);
    cJSON_AddStringToObject(o, "state", "received");
    cu_repr_add_time(o, "acknowledge_due", f->ack_due);
    cu_repr_add_time(o, "answer_due", f->answer_due);
    if (f->token[0])
        cJSON_AddStringToObject(o, "token", f->token);
    return o;
}
