/*
 * api_policy.c: handlers for a tenant's policy and what it enforces: the policy itself, the
 * consent ledger, restriction, age, legal holds, the end of a subscription, the export, and
 * the sweep. Parse and validate, call the core, map errors; the rules live in the core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"
#include "json.h"

/* The policy text a body names: "policy" (a built-in id) or "yaml" (a policy file's text),
 * exactly one. Answers 400 itself and returns NULL otherwise. */
static const char *policy_text(http_req *r, const char *id_member, const char *yaml_member,
                               size_t *len, const char **name)
{
    const char *id = http_str(r, id_member), *yaml = http_str(r, yaml_member);

    if ((id == NULL) == (yaml == NULL)) {
        http_error(r, 400, "invalid_field", "give either \"%s\" (a built-in policy id) or \"%s\"",
                   id_member, yaml_member);
        return NULL;
    }
    if (yaml != NULL) {
        *len = strlen(yaml);
        *name = "policy";
        return yaml;
    }
    *name = id;
    if ((yaml = cu_policy_builtin(id, len)) == NULL)
        http_error(r, 400, "invalid_field",
                   "no built-in policy \"%.64s\" (scm, scalemule, erpsmartcloud, customermaps, "
                   "optymyze)",
                   id);
    return yaml;
}

/* Creating a tenant also makes its first owner API key, answered once: the operator has no
 * key-management permission in tenants (P-ACC-4), so this is how a tenant is handed over. With
 * a policy, it is validated before anything is created and bound in the next transaction. */
void api_tenant_create(http_req *r)
{
    static const http_field f[] = {
        {"name", F_STRING, 1}, {"policy", F_STRING, 0}, {"policy_yaml", F_STRING, 0}};
    char secret[CU_APIKEY_SECRET_MAX];
    const char *text = NULL, *pname = NULL;
    cu_policy *p = NULL;
    unsigned version = 0;
    size_t len = 0;
    cu_apikey k;
    cu_tenant t;
    cu_err e = {0};
    cJSON *o, *ko;

    if (http_check_body(r, f, 3) != 0)
        return;
    if ((http_str(r, "policy") || http_str(r, "policy_yaml")) &&
        (text = policy_text(r, "policy", "policy_yaml", &len, &pname)) == NULL)
        return;
    if (text != NULL && cu_policy_parse(text, len, pname, &p, &e) != CU_OK)
        return http_error(r, 400, "invalid_policy", "%s", e.msg);
    cu_policy_free(p);
    /* One transaction: tenant, keys, owner key and policy, or nothing. */
    if (cu_tenant_create(r->v, &r->ctx,
                         &(cu_tenant_opts){.name = http_str(r, "name"),
                                           .policy = text,
                                           .policy_len = len,
                                           .policy_name = pname,
                                           .owner_secret = secret,
                                           .owner_key = &k},
                         &t, &e) != CU_OK)
        return http_fail(r, &e);
    version = text != NULL ? 1 : 0;
    o = cu_repr_tenant_json(&t);
    if (version)
        cJSON_AddNumberToObject(o, "policy_version", version);
    ko = cJSON_AddObjectToObject(o, "owner_api_key");
    cu_repr_add_id(ko, "id", k.id);
    cJSON_AddStringToObject(ko, "role", "owner");
    cJSON_AddStringToObject(ko, "secret", secret);
    cu_str_wipe(secret);
    http_json(r, 201, o);
}

/* A duration as the policy file writes it: "72h", "30d", "12mo", "7y". */
static void add_duration(cJSON *o, const char *name, cu_duration d)
{
    static const char *const units[] = {"h", "d", "mo", "y"};
    char buf[24];

    snprintf(buf, sizeof(buf), "%u%s", d.count, units[d.unit & 3]);
    cJSON_AddStringToObject(o, name, buf);
}

/* What a tenant's policy declares, as its API and portal need it (docs/policy.md). */
cJSON *api_policy_json(const cu_policy *p, unsigned version)
{
    static const char *const rule_names[] = {"never", "with_consent", "always"};
    cJSON *o = cJSON_CreateObject(), *a, *c;
    cu_dsr_deadlines dsr = cu_policy_dsr(p);

    cJSON_AddNumberToObject(o, "version", version);
    cJSON_AddStringToObject(o, "id", cu_policy_id(p));
    cJSON_AddStringToObject(o, "name", cu_policy_name(p));
    cJSON_AddStringToObject(o, "policy_version", cu_policy_version(p));
    cu_repr_add_time(o, "effective_date", cu_policy_effective(p));
    cJSON_AddItemToObject(o, "never", cu_repr_policy_never_json(p));
    cJSON_AddStringToObject(o, "role", cu_data_role_name(cu_policy_role(p)));
    cJSON_AddNumberToObject(o, "minimum_age", cu_policy_min_age(p));
    a = cJSON_AddArrayToObject(o, "categories");
    for (size_t i = 0; i < cu_policy_category_count(p); i++) {
        const cu_policy_category *cat = cu_policy_category_at(p, i);
        cJSON *r;
        c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", cat->name);
        cJSON_AddStringToObject(c, "role", cu_data_role_name(cat->role));
        r = cJSON_AddObjectToObject(c, "retention");
        add_duration(r, "keep", cat->retention.keep);
        cJSON_AddStringToObject(r, "from", cu_retention_event_name(cat->retention.from));
        cJSON_AddStringToObject(r, "then", cu_retention_action_name(cat->retention.then));
        cJSON_AddItemToArray(a, c);
    }
    a = cJSON_AddArrayToObject(o, "purposes");
    for (size_t i = 0; i < cu_policy_purpose_count(p); i++) {
        const cu_policy_purpose *pu = cu_policy_purpose_at(p, i);
        cJSON *cats;
        c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", pu->name);
        cJSON_AddStringToObject(c, "basis", cu_legal_basis_name(pu->basis));
        cJSON_AddStringToObject(c, "data_use", pu->data_use);
        cats = cJSON_AddArrayToObject(c, "categories");
        for (size_t j = 0; j < pu->n_categories; j++)
            cJSON_AddItemToArray(cats, cJSON_CreateString(pu->categories[j]->name));
        cJSON_AddBoolToObject(c, "operator", pu->operator_ok);
        cJSON_AddItemToArray(a, c);
    }
    c = cJSON_AddObjectToObject(o, "cookies");
    for (size_t k = 0; k < cu_policy_cookie_count(p); k++) /* the four, then the policy's own */
        cJSON_AddStringToObject(c, cu_policy_cookie_name(p, k),
                                rule_names[cu_policy_cookie(p, (cu_cookie_category)k) % 3]);
    c = cJSON_AddObjectToObject(o, "dsr");
    cJSON_AddNumberToObject(c, "acknowledge_business_days", dsr.acknowledge_business_days);
    add_duration(c, "answer", dsr.answer);
    add_duration(c, "extension", dsr.extension);
    add_duration(o, "notice_period", cu_policy_notice_period(p));
    add_duration(o, "export_window", cu_policy_export_window(p));
    add_duration(o, "backup_window", cu_policy_backup_window(p));
    cJSON_AddNumberToObject(o, "analytics_min_group_size", cu_policy_analytics_min_group(p));
    return o;
}

void api_policy_get(http_req *r)
{
    cu_policy *p = NULL;
    unsigned version = 0;
    cu_err e = {0};

    cu_policy_state st;
    cJSON *o;

    if (cu_tenant_policy(r->v, r->tenant, &p, &version, &e) != CU_OK ||
        cu_policy_state_get(r->v, r->tenant, &st, &e) != CU_OK) {
        cu_policy_free(p);
        return http_fail(r, &e);
    }
    o = api_policy_json(p, version);
    /* P-NOT-1: the version above is the one in force; a pending one is named beside it. */
    cu_repr_policy_state_add(o, &st);
    http_json(r, 200, o);
    cu_policy_free(p);
}

void api_policy_put(http_req *r)
{
    static const http_field f[] = {{"policy", F_STRING, 0}, {"yaml", F_STRING, 0}};
    const char *text, *name = NULL;
    unsigned version = 0;
    size_t len = 0;
    cu_policy_state st;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 2) != 0 ||
        (text = policy_text(r, "policy", "yaml", &len, &name)) == NULL)
        return;
    if (cu_tenant_set_policy(r->v, &r->ctx, r->tenant, text, len, name, &version, &e) != CU_OK)
        return e.code == CU_ERR_INVALID ? http_error(r, 400, "invalid_policy", "%s", e.msg)
                                        : http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "version", version);
    /* P-NOT-1: in force at once, or scheduled (the pending member says when). */
    if (cu_policy_state_get(r->v, r->tenant, &st, &e) == CU_OK) {
        cJSON_AddBoolToObject(o, "in_force", st.current == version);
        cu_repr_policy_state_add(o, &st);
    }
    http_json(r, 200, o);
}

/* P-RET-4: the owner lets the tenant's admins bind its policy, or no longer. An admin who was
 * let passes the route's permission check, but never grants it. */
void api_policy_grant(http_req *r)
{
    static const http_field f[] = {{"admins", F_BOOL, 1}};
    int admins;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 1) != 0)
        return;
    if (r->who.role != CU_ROLE_OWNER)
        return http_error(r, 403, "forbidden", "only an owner lets admins bind the policy");
    admins = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "admins"));
    if (cu_tenant_policy_grant(r->v, &r->ctx, r->tenant, admins, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "admins", admins);
    http_json(r, 200, o);
}

static cJSON *consent_json(const cu_consent *c)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "seq", (double)c->seq);
    cJSON_AddStringToObject(o, "purpose", c->purpose);
    cJSON_AddStringToObject(o, "action", cu_consent_action_name(c->action));
    cu_repr_add_time(o, "at", c->at);
    cJSON_AddStringToObject(o, "source", c->source);
    cJSON_AddStringToObject(o, "policy_version", c->policy_version);
    return o;
}

void api_consent_record(http_req *r)
{
    static const http_field f[] = {
        {"purpose", F_STRING, 1}, {"action", F_STRING, 1}, {"source", F_STRING, 0}};
    cu_consent_action action;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 3) != 0)
        return;
    if (cu_consent_action_parse(http_str(r, "action"), &action) != CU_OK)
        return http_error(r, 400, "invalid_field",
                          "field \"action\" must be grant, withdraw, object or withdraw_objection");
    if (cu_consent_record(r->v, &r->ctx, r->tenant, r->ids[1], http_str(r, "purpose"), action,
                          http_str(r, "source"), &e) != CU_OK)
        return http_fail(r, &e);
    /* The entry only: reading the ledger states a purpose (GET). */
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "subject_id", r->ids[1]);
    cJSON_AddStringToObject(o, "purpose", http_str(r, "purpose"));
    cJSON_AddStringToObject(o, "action", cu_consent_action_name(action));
    cJSON_AddStringToObject(o, "source", http_str(r, "source") ? http_str(r, "source") : "api");
    http_json(r, 201, o);
}

void api_consent_list(http_req *r)
{
    cu_consent *list = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (cu_consent_list(r->v, &r->ctx, r->tenant, r->ids[1], &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "subject_id", r->ids[1]);
    a = cJSON_AddArrayToObject(o, "ledger");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, consent_json(&list[i]));
    free(list);
    http_json(r, 200, o);
}

void api_subject_restrict(http_req *r)
{
    static const http_field f[] = {{"restricted", F_BOOL, 1}};
    int on;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 1) != 0)
        return;
    on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "restricted"));
    if (cu_subject_restrict(r->v, &r->ctx, r->tenant, r->ids[1], on, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "restricted", on);
    http_json(r, 200, o);
}

void api_subject_under_age(http_req *r)
{
    int erased = 0;
    cu_err e = {0};
    cJSON *o;

    if (cu_subject_mark_under_age(r->v, &r->ctx, r->tenant, r->ids[1], &erased, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "erased", erased);
    if (!erased)
        cJSON_AddStringToObject(o, "pending", "legal_hold");
    http_json(r, 200, o);
}

void api_hold_place(http_req *r)
{
    static const http_field f[] = {
        {"subject_id", F_ID, 0}, {"record_id", F_ID, 0}, {"reason", F_STRING, 1}};
    cu_err e = {0};
    cu_id id;
    cJSON *o;

    if (http_check_body(r, f, 3) != 0)
        return;
    if (cu_hold_place(r->v, &r->ctx, r->tenant, http_id(r, "subject_id"), http_id(r, "record_id"),
                      http_str(r, "reason"), &id, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", id);
    http_json(r, 201, o);
}

void api_hold_list(http_req *r)
{
    cu_hold *list = NULL;
    size_t n = 0;
    cu_err e = {0};
    cJSON *o, *a;

    if (cu_hold_list(r->v, &r->ctx, r->tenant, &list, &n, &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    a = cJSON_AddArrayToObject(o, "holds");
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(a, cu_repr_hold_json(&list[i]));
        cu_hold_cleanup(&list[i]);
    }
    free(list);
    http_json(r, 200, o);
}

void api_hold_release(http_req *r)
{
    static const http_field f[] = {{"reason", F_STRING, 1}};
    cu_ctx ctx = r->ctx;
    cu_err e = {0};
    cJSON *o;

    if (http_check_body(r, f, 1) != 0)
        return;
    /* P-RET-5: the core lets only an owner release a tenant-wide hold. */
    if (r->who.role == CU_ROLE_OWNER)
        ctx.flags |= CU_CTX_OWNER;
    if (cu_hold_release(r->v, &ctx, r->tenant, r->ids[1], http_str(r, "reason"), &e) != CU_OK)
        return http_fail(r, &e);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", r->ids[1]);
    cJSON_AddBoolToObject(o, "released", 1);
    http_json(r, 200, o);
}

void api_tenant_terminate(http_req *r)
{
    int64_t until = 0;
    cu_tenant t;
    cu_err e = {0};
    cJSON *o;

    if (cu_tenant_terminate(r->v, &r->ctx, r->tenant, &until, &e) != CU_OK ||
        cu_tenant_get(r->v, &r->ctx, r->tenant, &t, &e) != CU_OK)
        return http_fail(r, &e);
    o = cu_repr_tenant_json(&t);
    cu_repr_add_time(o, "export_until", until);
    http_json(r, 200, o);
}

/* The export's stream (http_req.stream_read): an error midway ends the answer as a broken
 * transfer; it is logged by code, never by value. */
static long export_read(void *arg, char *buf, size_t max)
{
    size_t n = 0;
    cu_err e = {0};

    if (cu_export_read(arg, buf, max, &n, &e) != CU_OK) {
        fprintf(stderr, "custos: export cut short: %s\n", cu_rc_name(e.code));
        return -1;
    }
    return (long)n;
}

static void export_done(void *arg)
{
    cu_export_free(arg);
}

/* P-RET-2, P-DSR-2: the whole tenant, streamed as it is read (chunked), in bounded memory. The
 * checks and the audit entry come first, so a refusal is an ordinary error answer. */
void api_tenant_export(http_req *r)
{
    cu_export *x = NULL;
    cu_err e = {0};

    if (cu_export_open(r->v, &r->ctx, r->tenant, &x, &e) != CU_OK)
        return http_fail(r, &e);
    free(r->resp);
    r->resp = NULL;
    r->stream_read = export_read;
    r->stream_done = export_done;
    r->stream_arg = x;
    r->status = 200;
}

void api_sweep(http_req *r)
{
    cu_sweep_report rep;
    cu_err e = {0};

    if (cu_sweep(r->v, &r->ctx, &rep, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 200, cu_repr_sweep_json(&rep));
}

