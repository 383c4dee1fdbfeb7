/*
 * request.c: data-subject requests (P-DSR-1 .. P-DSR-9, docs/dsr.md).
 *
 * A request is filed (by the subject, through the tenant's service, or by one of the tenant's
 * administrators), verified when the subject filed it (a single-use token, stored as its
 * SHA-256, compared in constant time, with an expiry and a number of tries), decided by the
 * controller where the SaaS is a processor (P-DSR-8), acknowledged, perhaps extended once, and
 * completed or rejected. Each transition is one store write with its audit entry
 * ("request.<verb>", ids, kinds and reason codes only), applied only over the version it read,
 * so two racing transitions never both win. Due dates come from the tenant's policy at filing
 * (P-DSR-7, request_deadline.c). A subject's request answers the same whether the tenant knows
 * the subject or not: nothing is disclosed before verification.
 *
 * Completion carries the right out under the request: the context gets the purpose
 * subject_access and the request's id (cu_ctx.dsr_request), which the preamble (purpose.c)
 * accepts only for an open, acknowledged request of that subject. Access and export produce
 * their answer through cu_request_export_write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "erase_int.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "request_int.h"
#include "util.h"

static const char *const type_names[] = {
    [CU_REQ_ACCESS] = "access",     [CU_REQ_EXPORT] = "export",
    [CU_REQ_RECTIFY] = "rectify",   [CU_REQ_ERASE] = "erase",
    [CU_REQ_RESTRICT] = "restrict", [CU_REQ_UNRESTRICT] = "unrestrict",
    [CU_REQ_OBJECT] = "object",     [CU_REQ_WITHDRAW_CONSENT] = "withdraw_consent",
};
static const char *const state_names[] = {
    [CU_REQ_RECEIVED] = "received",         [CU_REQ_VERIFIED] = "verified",
    [CU_REQ_ACKNOWLEDGED] = "acknowledged", [CU_REQ_EXTENDED] = "extended",
    [CU_REQ_COMPLETED] = "completed",       [CU_REQ_REJECTED] = "rejected",
};
static const char *const decision_names[] = {"none", "pending", "approved", "rejected"};

const char *cu_request_type_name(cu_request_type t)
{
    return (unsigned)t < CU_ARRAY_LEN(type_names) && type_names[t] ? type_names[t] : "?";
}

cu_rc cu_request_type_parse(const char *s, cu_request_type *out)
{
    for (size_t i = 1; s != NULL && i < CU_ARRAY_LEN(type_names); i++)
        if (strcmp(s, type_names[i]) == 0) {
            *out = (cu_request_type)i;
            return CU_OK;
        }
    return CU_ERR_INVALID;
}

const char *cu_request_state_name(cu_request_state s)
{
    return (unsigned)s < CU_ARRAY_LEN(state_names) && state_names[s] ? state_names[s] : "?";
}

const char *cu_request_decision_name(cu_request_decision d)
{
    return (unsigned)d < CU_ARRAY_LEN(decision_names) ? decision_names[d] : "?";
}

/* A reason code: [a-z0-9_], 1 to CU_REQUEST_REASON_MAX bytes. Free text could name people. */
static int reason_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > CU_REQUEST_REASON_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int is_open(const cu_store_request *r)
{
    return r->state != CU_REQ_COMPLETED && r->state != CU_REQ_REJECTED;
}

/* The row of request id; CU_ERR_NOT_FOUND if the tenant has none. */
static cu_rc load(cu_vault *v, cu_id tenant, cu_id id, cu_store_request *out, cu_err *err)
{
    cu_store_request *rows = NULL;
    size_t n = 0;
    cu_rc rc;

    /* Id 0 would list the tenant's requests (request_list's "all"): no request has it. */
    if (id == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such request");
    rc = cu_store_request_list(v->store, tenant, id, &rows, &n, err);
    if (rc == CU_OK && n == 0)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "no such request");
    if (rc == CU_OK)
        *out = rows[0];
    free(rows);
    return rc;
}

/* The next due date of an open request: the acknowledgement's until acknowledged. */
static int64_t next_due(const cu_store_request *r)
{
    return r->acknowledged_at == 0 ? r->ack_due : r->answer_due;
}

void cu_request_public(const cu_store_request *r, int64_t now, cu_request *o)
{
    memset(o, 0, sizeof(*o));
    o->id = r->id;
    o->tenant_id = r->tenant_id;
    /* Nothing is disclosed of a subject's request before it is verified (item 8). */
    o->subject_id = r->verified_at != 0 ? r->subject_id : 0;
    o->type = (cu_request_type)r->type;
    o->state = (cu_request_state)r->state;
    o->filer = (cu_request_filer)r->filer;
    o->decision = (cu_request_decision)r->decision;
    memcpy(o->purpose, r->purpose, sizeof(o->purpose));
    memcpy(o->reason, r->reason, sizeof(o->reason));
    o->filed_at = r->filed_at;
    o->verified_at = r->verified_at;
    o->acknowledged_at = r->acknowledged_at;
    o->extended_at = r->extended_at;
    o->closed_at = r->closed_at;
    o->decided_at = r->decided_at;
    o->ack_due = r->ack_due;
    o->answer_due = r->answer_due;
    o->open = is_open(r);
    o->overdue = o->open && now > next_due(r);
    o->due_soon = o->open && !o->overdue && next_due(r) - now <= CU_REQUEST_DUE_SOON;
}

/* Writes r as its next version, with its audit entry a (its action set by the caller, with
 * cu_audit_in_set; its object made here: the request's id, type, new state and reason code). */
static cu_rc transition(cu_vault *v, const cu_ctx *ctx, cu_store_request *r, cu_audit_in *a,
                        cu_err *err)
{
    cu_store_op op = {0};

    r->version++;
    op.type = CU_OP_REQUEST_UPDATE;
    op.u.request = *r;
    snprintf(a->object, sizeof(a->object), "request:%llu:%s:%s:%s", (unsigned long long)r->id,
             cu_request_type_name((cu_request_type)r->type),
             cu_request_state_name((cu_request_state)r->state), r->reason);
    return cu_commit(v, ctx, &op, 1, a, 1, err);
}

/* The tenant usable for use, and its request id read. */
static cu_rc open_request(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id, cu_tenant_use use,
                          cu_store_request *r, cu_err *err)
{
    cu_rc rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = use}, NULL, err);

    return rc != CU_OK ? rc : load(v, tenant, id, r, err);
}

static cu_rc closed_error(const cu_store_request *r, cu_err *err)
{
    return cu_err_set(err, CU_ERR_CONFLICT, "the request is %s already",
                      cu_request_state_name(r->state));
}

/* --- filing ------------------------------------------------------------------------------- */

/* P-DSR-8: the SaaS is a processor under the policy as a whole. A category that overrides the
 * role (SCM's customers' own data) does not route a request: a request names no category. */
static int processor_mode(const cu_policy *p)
{
    return cu_policy_role(p) == CU_DATA_PROCESSOR;
}

static cu_rc check_in(const cu_request_in *in, int portal, cu_err *err)
{
    int named = in->type == CU_REQ_OBJECT || in->type == CU_REQ_WITHDRAW_CONSENT;

    if ((unsigned)in->type < 1 || (unsigned)in->type >= CU_REQ__COUNT)
        return cu_err_set(err, CU_ERR_INVALID, "unknown request type");
    if (in->filer != CU_REQ_BY_SUBJECT && in->filer != CU_REQ_BY_ADMIN)
        return cu_err_set(err, CU_ERR_INVALID, "a request is filed by the subject or an admin");
    if (named != (in->purpose != NULL))
        return cu_err_set(err, CU_ERR_INVALID,
                          named ? "this request names a purpose"
                                : "only object and withdraw_consent name "
                                  "a purpose");
    if (in->purpose && (strlen(in->purpose) == 0 || strlen(in->purpose) > 64))
        return cu_err_set(err, CU_ERR_INVALID, "purpose: 1 to 64 bytes");
    if (in->filer == CU_REQ_BY_ADMIN && in->subject == 0)
        return cu_err_set(err, CU_ERR_INVALID, "an admin's request names the subject");
    if (in->filer == CU_REQ_BY_SUBJECT && in->external_id == NULL && !portal)
        return cu_err_set(err, CU_ERR_INVALID, "a subject's request names its external_id");
    return CU_OK;
}

/* The subject a subject's request names, 0 if the tenant knows none: looked up by its blind
 * index, with the same audit entry (subject.find, the index searched) and no error either way,
 * so that nothing tells the two apart (item 8). */
static cu_id subject_of(cu_vault *v, cu_id tenant, const char *external_id)
{
    cu_id *ids = NULL, id = 0;
    size_t n = 0;
    cu_err e = {0};

    if (cu_subject_find(v, NULL, tenant, CU_SUBJECT_BY_EXTERNAL_ID, external_id, &ids, &n, &e) ==
            CU_OK &&
        n == 1)
        id = ids[0];
    free(ids);
    return id;
}

/* Due dates from the policy (P-DSR-7) and the processor mode (P-DSR-8) into r. */
static cu_rc apply_policy(cu_vault *v, const cu_gate *g, cu_store_request *r, cu_err *err)
{
    const cu_policy *p;
    cu_dsr_deadlines d;
    cu_rc rc = cu_gate_policy(v, g, &p, err);

    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the tenant has no policy, so no deadlines for requests (P-DSR-7)");
    if (rc != CU_OK)
        return rc;
    d = cu_policy_dsr(p);
    r->ack_due =
        cu_request_ack_due(r->filed_at, d.acknowledge_business_days, d.holidays, d.n_holidays);
    r->answer_due = cu_request_answer_due(r->filed_at, d.answer);
    if (r->filer == CU_REQ_BY_SUBJECT && processor_mode(p))
        r->decision = CU_REQ_DECISION_PENDING;
    cu_policy_release(v, p);
    return CU_OK;
}

static void make_token(cu_store_request *r, char token[CU_REQUEST_TOKEN_LEN])
{
    uint8_t raw[32];

    cu_random(raw, sizeof(raw));
    cu_hex_encode(raw, sizeof(raw), token);
    cu_sha256((const uint8_t *)token, 64, r->token_hash);
    r->has_token = 1;
    r->token_expires = r->filed_at + CU_REQUEST_TOKEN_TTL;
    cu_wipe(raw, sizeof(raw));
}

/* P-DSR-1, P-RET-4 (issue 10): a subject erased under legal retention whose kept records
 * remain has an access or export request too, filed by an administrator by its id (its
 * external id went with its profile): its answer shows what is kept and the erasure
 * (subject_export_kept.c). Any other request of it, or any request of a subject with nothing
 * kept, finds no subject, as before. */
static cu_rc erased_with_kept(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_request_in *in,
                              cu_gate *g, cu_err *err)
{
    cJSON *cert = NULL;
    cu_rc rc;

    if (in->type != CU_REQ_ACCESS && in->type != CU_REQ_EXPORT)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such subject");
    if ((rc = cu_erase_kept_certificate(v, tenant, in->subject, &cert, err)) != CU_OK)
        return rc;
    cJSON_Delete(cert);
    return cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE}, g, err);
}

/* portal: the subject itself, proven by its portal session (cu_request_file_verified, for
 * portal.c alone: no flag a library caller could set, review-portal2 10). */
static cu_rc file_request(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_request_in *in,
                          int portal, cu_request_filed *out, cu_err *err)
{
    cu_store_request r = {0};
    cu_store_op op = {0};
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_in(in, portal, err)) != CU_OK)
        return rc;
    rc = cu_preamble(v, ctx,
                     &(cu_access){.tenant = tenant,
                                  .use = CU_TENANT_USE_WRITE,
                                  .subject = in->filer == CU_REQ_BY_ADMIN || portal ? in->subject
                                                                                    : 0},
                     &g, err);
    if (rc == CU_ERR_NOT_FOUND && in->filer == CU_REQ_BY_ADMIN)
        rc = erased_with_kept(v, ctx, tenant, in, &g, err);
    if (rc != CU_OK)
        return rc;
    r.tenant_id = tenant;
    r.id = cu_random_id();
    r.type = (int)in->type;
    r.state = CU_REQ_RECEIVED;
    r.filer = (int)in->filer;
    r.filed_at = cu_clock_now();
    r.version = 1;
    if (in->purpose)
        cu_strlcpy(r.purpose, in->purpose, sizeof(r.purpose));
    if ((rc = apply_policy(v, &g, &r, err)) != CU_OK)
        return rc;
    if (in->filer == CU_REQ_BY_ADMIN) {
        r.subject_id = in->subject;
        r.verified_at = r.filed_at; /* an administrator knows whom the request is for */
    } else if (portal) {
        r.subject_id = in->subject; /* the portal's session verified the subject */
        r.verified_at = r.filed_at;
        r.state = CU_REQ_VERIFIED;
    } else {
        r.subject_id = subject_of(v, tenant, in->external_id);
        make_token(&r, out->token);
    }
    op.type = CU_OP_REQUEST_PUT;
    op.u.request = r;
    cu_audit_in_set(&a, tenant, "request.file",
                    "request:%llu:%s:received:", (unsigned long long)r.id,
                    cu_request_type_name(r.type));
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) != CU_OK) {
        cu_wipe(out->token, sizeof(out->token));
        return rc;
    }
    out->id = r.id;
    out->ack_due = r.ack_due;
    out->answer_due = r.answer_due;
    return CU_OK;
}

cu_rc cu_request_file(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_request_in *in,
                      cu_request_filed *out, cu_err *err)
{
    return file_request(v, ctx, tenant, in, 0, out, err);
}

cu_rc cu_request_file_verified(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                               const cu_request_in *in, cu_request_filed *out, cu_err *err)
{
    return file_request(v, ctx, tenant, in,
                        in->filer == CU_REQ_BY_SUBJECT && in->subject != 0, out, err);
}

/* --- verification and the controller's decision ------------------------------------------- */

cu_rc cu_request_verify(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                        const char *token, cu_err *err)
{
    uint8_t h[32];
    cu_audit_in a;
    cu_store_request r;
    int64_t now = cu_clock_now();
    int good;
    cu_rc rc;

    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_WRITE, &r, err)) != CU_OK)
        return rc;
    if (r.state != CU_REQ_RECEIVED || !r.has_token)
        return cu_err_set(err, CU_ERR_CONFLICT, "the request awaits no verification");
    if (r.attempts >= CU_REQUEST_TOKEN_TRIES)
        return cu_err_set(err, CU_ERR_RATE_LIMITED, "too many wrong tokens: file it again");
    if (token == NULL || strlen(token) != 64)
        memset(h, 0xff, sizeof(h));
    else
        cu_sha256((const uint8_t *)token, 64, h);
    good = cu_ct_equal(h, r.token_hash, sizeof(h)) && now <= r.token_expires;
    if (!good) {
        r.attempts++;
        cu_audit_in_set(&a, tenant, "request.verify_failed", "request");
        if ((rc = transition(v, ctx, &r, &a, err)) != CU_OK)
            return rc;
        return cu_err_set(err, CU_ERR_AUTH, "the token is wrong or expired");
    }
    /* Single use: the token's hash goes with its first right use. */
    r.has_token = 0;
    memset(r.token_hash, 0, sizeof(r.token_hash));
    r.verified_at = now;
    r.state = CU_REQ_VERIFIED;
    /* A verified person whose tenant holds nothing about them: told so now, not before. */
    if (r.subject_id == 0) {
        r.state = CU_REQ_REJECTED;
        r.closed_at = now;
        cu_strlcpy(r.reason, "no_data_held", sizeof(r.reason));
    }
    cu_audit_in_set(&a, tenant, "request.verify", "request");
    return transition(v, ctx, &r, &a, err);
}

cu_rc cu_request_decide(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request, int approve,
                        const char *reason, cu_err *err)
{
    cu_audit_in a;
    cu_store_request r;
    cu_rc rc;

    if (!approve && !reason_ok(reason))
        return cu_err_set(err, CU_ERR_INVALID, "a rejection needs a reason code: [a-z0-9_]{1,32}");
    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_WRITE, &r, err)) != CU_OK)
        return rc;
    if (!is_open(&r))
        return closed_error(&r, err);
    if (r.decision != CU_REQ_DECISION_PENDING)
        return cu_err_set(err, CU_ERR_CONFLICT, "the request awaits no decision");
    r.decided_at = cu_clock_now();
    r.decision = approve ? CU_REQ_DECISION_APPROVED : CU_REQ_DECISION_REJECTED;
    if (!approve) {
        r.state = CU_REQ_REJECTED;
        r.closed_at = r.decided_at;
        cu_strlcpy(r.reason, reason, sizeof(r.reason));
    }
    cu_audit_in_set(&a, tenant, approve ? "request.approve" : "request.reject", "request");
    return transition(v, ctx, &r, &a, err);
}

/* --- acknowledgement, extension, rejection ------------------------------------------------ */

cu_rc cu_request_acknowledge(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                             cu_err *err)
{
    cu_audit_in a;
    cu_store_request r;
    cu_rc rc;

    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_WRITE, &r, err)) != CU_OK)
        return rc;
    if (!is_open(&r))
        return closed_error(&r, err);
    if (r.verified_at == 0)
        return cu_err_set(err, CU_ERR_CONFLICT, "the request is not verified yet");
    if (r.decision == CU_REQ_DECISION_PENDING)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the request awaits the controller's decision (P-DSR-8)");
    if (r.state != CU_REQ_RECEIVED && r.state != CU_REQ_VERIFIED)
        return cu_err_set(err, CU_ERR_CONFLICT, "the request is acknowledged already");
    r.state = CU_REQ_ACKNOWLEDGED;
    r.acknowledged_at = cu_clock_now();
    cu_audit_in_set(&a, tenant, "request.acknowledge", "request");
    return transition(v, ctx, &r, &a, err);
}

cu_rc cu_request_extend(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request, cu_duration by,
                        const char *reason, cu_err *err)
{
    const cu_policy *p;
    cu_audit_in a;
    cu_store_request r;
    cu_gate g = {.tenant = tenant};
    int64_t due = 0;
    cu_rc rc;

    if (!reason_ok(reason))
        return cu_err_set(err, CU_ERR_INVALID, "an extension needs a reason code: [a-z0-9_]{1,32}");
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE}, &g,
                          err)) != CU_OK ||
        (rc = load(v, tenant, request, &r, err)) != CU_OK)
        return rc;
    if (r.state == CU_REQ_EXTENDED)
        return cu_err_set(err, CU_ERR_CONFLICT, "the request was extended once already");
    if (r.state != CU_REQ_ACKNOWLEDGED)
        return cu_err_set(err, CU_ERR_CONFLICT, "only an acknowledged request is extended");
    if ((rc = cu_gate_policy(v, &g, &p, err)) != CU_OK)
        return rc;
    rc = cu_request_extend_due(r.answer_due, by, cu_policy_dsr(p).extension, &due, err);
    cu_policy_release(v, p);
    if (rc != CU_OK)
        return rc;
    r.answer_due = due;
    r.state = CU_REQ_EXTENDED;
    r.extended_at = cu_clock_now();
    cu_strlcpy(r.reason, reason, sizeof(r.reason));
    cu_audit_in_set(&a, tenant, "request.extend", "request");
    return transition(v, ctx, &r, &a, err);
}

cu_rc cu_request_reject(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                        const char *reason, cu_err *err)
{
    cu_audit_in a;
    cu_store_request r;
    cu_rc rc;

    if (!reason_ok(reason))
        return cu_err_set(err, CU_ERR_INVALID, "a rejection needs a reason code: [a-z0-9_]{1,32}");
    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_WRITE, &r, err)) != CU_OK)
        return rc;
    if (!is_open(&r))
        return closed_error(&r, err);
    r.state = CU_REQ_REJECTED;
    r.closed_at = cu_clock_now();
    cu_strlcpy(r.reason, reason, sizeof(r.reason));
    cu_audit_in_set(&a, tenant, "request.reject", "request");
    return transition(v, ctx, &r, &a, err);
}

/* --- completion: the right carried out --------------------------------------------------- */

/* The context a right is carried out under: the request's own (P-DSR-1). */
static cu_ctx under(const cu_ctx *ctx, cu_id request)
{
    cu_ctx c = {.actor = "cli"};

    if (ctx != NULL)
        c = *ctx;
    c.purpose = CU_PURPOSE_SUBJECT_ACCESS;
    c.dsr_request = request;
    return c;
}

static cu_rc carry_out(cu_vault *v, const cu_ctx *rc_ctx, const cu_store_request *r,
                       const cu_subject_in *rectify, char **certificate, cu_err *err)
{
    cu_id t = r->tenant_id, s = r->subject_id;

    switch ((cu_request_type)r->type) {
    case CU_REQ_RESTRICT:
    case CU_REQ_UNRESTRICT: /* P-DSR-5 */
        return cu_subject_restrict(v, rc_ctx, t, s, r->type == CU_REQ_RESTRICT, err);
    case CU_REQ_OBJECT: /* P-DSR-6 */
        return cu_consent_record(v, rc_ctx, t, s, r->purpose, CU_CONSENT_OBJECT, "api", err);
    case CU_REQ_WITHDRAW_CONSENT:
        return cu_consent_record(v, rc_ctx, t, s, r->purpose, CU_CONSENT_WITHDRAW, "api", err);
    case CU_REQ_ERASE: /* P-DSR-4: what a legal duty keeps stays, restricted; a certificate */
        return cu_subject_erase_certified(v, rc_ctx, t, s, certificate, err);
    case CU_REQ_RECTIFY: /* P-DSR-3: the profile here; records by cu_record_update under it */
        if (rectify != NULL)
            return cu_subject_rectify(v, rc_ctx, t, s, rectify, err);
        /* The records' old ciphertexts out of the WAL too: the old values are kept nowhere
         * (a scrub owed, retried by the erasure thread while a reader holds the WAL). */
        cu_erase_scrub_soon(v);
        return CU_OK;
    case CU_REQ_ACCESS:
    case CU_REQ_EXPORT: /* the answer went out through cu_request_export_open */
        return CU_OK;
    default:
        return cu_err_set(err, CU_ERR_INVALID, "unknown request type");
    }
}

cu_rc cu_request_complete(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                          const cu_subject_in *rectify, cu_err *err)
{
    return cu_request_complete_certified(v, ctx, tenant, request, rectify, NULL, err);
}

cu_rc cu_request_complete_certified(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                                    const cu_subject_in *rectify, char **certificate, cu_err *err)
{
    cu_audit_in a;
    cu_store_request r;
    cu_ctx rctx = under(ctx, request);
    cu_rc rc;

    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_WRITE, &r, err)) != CU_OK)
        return rc;
    if (r.state != CU_REQ_ACKNOWLEDGED && r.state != CU_REQ_EXTENDED)
        return is_open(&r) ? cu_err_set(err, CU_ERR_CONFLICT, "the request is not acknowledged")
                           : closed_error(&r, err);
    if (rectify != NULL && r.type != CU_REQ_RECTIFY)
        return cu_err_set(err, CU_ERR_INVALID, "only a rectify request carries corrections");
    if (certificate != NULL)
        *certificate = NULL;
    if ((rc = carry_out(v, &rctx, &r, rectify, certificate, err)) != CU_OK)
        return rc;
    r.state = CU_REQ_COMPLETED;
    r.closed_at = cu_clock_now();
    cu_audit_in_set(&a, tenant, "request.complete", "request");
    return transition(v, ctx, &r, &a, err);
}

cu_rc cu_request_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                             const char *format, cu_subject_export **out, cu_err *err)
{
    cu_store_request r;
    cu_ctx rctx = under(ctx, request);
    cu_subject_export_format fmt;
    cu_rc rc;

    *out = NULL;
    if (format != NULL && strcmp(format, "json") == 0)
        fmt = CU_SUBJECT_EXPORT_JSON;
    else if (format != NULL && strcmp(format, "csv") == 0)
        fmt = CU_SUBJECT_EXPORT_CSV_ZIP;
    else
        return cu_err_set(err, CU_ERR_INVALID, "format is json or csv");
    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_LIVE, &r, err)) != CU_OK)
        return rc;
    if (r.type != CU_REQ_ACCESS && r.type != CU_REQ_EXPORT)
        return cu_err_set(err, CU_ERR_CONFLICT, "only access and export requests have an answer");
    if (r.state != CU_REQ_ACKNOWLEDGED && r.state != CU_REQ_EXTENDED)
        return cu_err_set(err, CU_ERR_CONFLICT, "the request is not acknowledged");
    /* P-DSR-1, P-DSR-2: under the request's own context, which the purpose check verifies. */
    return cu_subject_export_open(v, &rctx, tenant, r.subject_id, fmt, out, err);
}

cu_rc cu_request_export_write(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                              const char *format, cu_export_write_fn fn, void *arg, cu_err *err)
{
    cu_subject_export *x = NULL;
    char *buf = NULL;
    size_t n = 0;
    cu_rc rc;

    if ((rc = cu_request_export_open(v, ctx, tenant, request, format, &x, err)) != CU_OK)
        return rc;
    if ((buf = malloc(64 * 1024)) == NULL) {
        cu_subject_export_free(x);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    do {
        if ((rc = cu_subject_export_read(x, buf, 64 * 1024, &n, err)) == CU_OK && n > 0 &&
            fn(arg, buf, n) != 0)
            rc = cu_err_set(err, CU_ERR_IO, "the export's output refused its data");
    } while (rc == CU_OK && n > 0);
    cu_wipe(buf, 64 * 1024);
    free(buf);
    cu_subject_export_free(x);
    return rc;
}

/* --- reading ------------------------------------------------------------------------------ */

cu_rc cu_request_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request, cu_request *out,
                     cu_err *err)
{
    cu_store_request r;
    cu_rc rc;

    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_READ, &r, err)) != CU_OK)
        return rc;
    cu_request_public(&r, cu_clock_now(), out);
    return CU_OK;
}

cu_rc cu_request_certificate(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id request,
                             char **certificate, cu_err *err)
{
    cu_store_request r;
    cu_rc rc;

    *certificate = NULL;
    if ((rc = open_request(v, ctx, tenant, request, CU_TENANT_USE_READ, &r, err)) != CU_OK)
        return rc;
    if (r.type != CU_REQ_ERASE || r.subject_id == 0)
        return cu_err_set(err, CU_ERR_NOT_FOUND, "the request has no erasure certificate");
    /* Stored in the erasure's own transaction: the same certificate whenever it is read. */
    rc = cu_store_erasure_certificate(v->store, tenant, r.subject_id, certificate, err);
    if (rc == CU_ERR_NOT_FOUND)
        rc = cu_err_set(err, CU_ERR_NOT_FOUND, "the request has no erasure certificate yet");
    return rc;
}

static int passes(const cu_request *q, cu_request_filter f)
{
    switch (f) {
    case CU_REQ_LIST_OPEN:
        return q->open;
    case CU_REQ_LIST_DUE_SOON:
        return q->due_soon;
    case CU_REQ_LIST_OVERDUE:
        return q->overdue;
    default:
        return 1;
    }
}

cu_rc cu_request_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_request_filter f,
                      cu_request **out, size_t *n, cu_err *err)
{
    cu_store_request *rows = NULL;
    cu_request *res = NULL;
    size_t cnt = 0, k = 0;
    int64_t now = cu_clock_now();
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ}, NULL,
                          err)) != CU_OK ||
        (rc = cu_store_request_list(v->store, tenant, 0, &rows, &cnt, err)) != CU_OK)
        return rc;
    if ((res = calloc(cnt ? cnt : 1, sizeof(*res))) == NULL) {
        free(rows);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        cu_request_public(&rows[i], now, &res[k]);
        k += passes(&res[k], f);
    }
    free(rows);
    *out = res;
    *n = k;
    return CU_OK;
}

/* The store's query for filter f at now: open_only and the window of next due dates that
 * passes() keeps (overdue: before now; due soon: from now to CU_REQUEST_DUE_SOON after). */
static void page_query(cu_request_filter f, int64_t now, cu_store_request_query *q)
{
    q->done[0] = CU_REQ_COMPLETED;
    q->done[1] = CU_REQ_REJECTED;
    q->open_only = f != CU_REQ_LIST_ALL;
    q->due_lo = INT64_MIN;
    q->due_hi = INT64_MAX;
    if (f == CU_REQ_LIST_OVERDUE) {
        q->due_hi = now - 1;
    } else if (f == CU_REQ_LIST_DUE_SOON) {
        q->due_lo = now;
        q->due_hi = now + CU_REQUEST_DUE_SOON;
    }
}

cu_rc cu_request_page(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_request_filter f,
                      const cu_request_cursor *after, size_t limit, cu_request **out, size_t *n,
                      cu_request_cursor *next, int *more, cu_err *err)
{
    cu_store_request_query q;
    cu_store_request *rows = NULL;
    cu_request *res = NULL;
    size_t cnt = 0;
    int64_t now = cu_clock_now();
    cu_rc rc;

    *out = NULL;
    *n = 0;
    *more = 0;
    memset(next, 0, sizeof(*next));
    if (limit < 1 || limit > 500)
        return cu_err_set(err, CU_ERR_INVALID, "limit: a number from 1 to 500");
    memset(&q, 0, sizeof(q));
    page_query(f, now, &q);
    q.after_closed = after != NULL ? after->closed : -1;
    q.after_due = after != NULL ? after->due : 0;
    q.after_id = after != NULL ? after->id : 0;
    q.limit = limit + 1; /* one more: whether a next page exists */
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ}, NULL,
                          err)) != CU_OK ||
        (rc = cu_store_request_page(v->store, tenant, &q, &rows, &cnt, err)) != CU_OK)
        return rc;
    if (cnt > limit) {
        *more = 1;
        cnt = limit;
        next->closed = is_open(&rows[cnt - 1]) ? 0 : 1;
        next->due = next_due(&rows[cnt - 1]);
        next->id = rows[cnt - 1].id;
    }
    if ((res = calloc(cnt ? cnt : 1, sizeof(*res))) == NULL) {
        free(rows);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++)
        cu_request_public(&rows[i], now, &res[i]);
    free(rows);
    *out = res;
    *n = cnt;
    return CU_OK;
}

cu_rc cu_request_counts(cu_vault *v, cu_id tenant, size_t *open, size_t *due_soon, size_t *overdue,
                        cu_err *err)
{
    cu_store_request *rows = NULL;
    size_t cnt = 0;
    int64_t now = cu_clock_now();
    cu_rc rc = cu_store_request_list(v->store, tenant, 0, &rows, &cnt, err);

    *open = *due_soon = *overdue = 0;
    for (size_t i = 0; rc == CU_OK && i < cnt; i++) {
        cu_request q;
        cu_request_public(&rows[i], now, &q);
        *open += (size_t)q.open;
        *due_soon += (size_t)q.due_soon;
        *overdue += (size_t)q.overdue;
    }
    free(rows);
    return rc;
}
