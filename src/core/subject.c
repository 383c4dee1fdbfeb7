/*
 * subject.c: data subjects, the natural persons whose data a tenant holds.
 *
 * A subject's values (external id, email, phone, birth date) are sealed together as one JSON
 * profile under the subject's own key; they are found by keyed blind indexes only (P-ENC-6).
 * Erasure destroys that key first, in its own durable transaction, so from that instant every
 * copy of the subject's ciphertext, backups included, is unreadable and no read finds the
 * subject (P-DSR-4); then the rows go, in batches (erase.c), in the background if the vault
 * runs its erasure thread.
 * Restriction (P-DSR-5) and the under-age mark (P-AGE-2) are states of the subject, kept here;
 * the age check at creation (P-AGE-1) reads the birth date only this file sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "erase_int.h"
#include "journal_int.h"
#include "json.h"
#include "keys_int.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "retain_int.h"
#include "schema_int.h"
#include "subject_int.h"
#include "tenant_int.h"
#include "util.h"

#define SUBJECT_COLL "$subjects"
#define EXTERNAL_ID_MAX 256

static const char *const scope_names[] = {
    [CU_SUBJECT_BY_EXTERNAL_ID] = "s:ext",
    [CU_SUBJECT_BY_EMAIL] = "s:email",
    [CU_SUBJECT_BY_PHONE] = "s:phone",
};

static int printable(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* YYYY-MM-DD, a real calendar date from 1900 on. */
static int date_ok(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return 0;
    return d <= mdays[m - 1] + (m == 2 && leap(y));
}

static cu_rc validate(const cu_subject_in *in, char *email, char *phone, cu_err *err)
{
    if (in == NULL || in->external_id == NULL || !printable(in->external_id, EXTERNAL_ID_MAX))
        return cu_err_set(err, CU_ERR_INVALID,
                          "external_id is required: 1 to %d bytes without control characters",
                          EXTERNAL_ID_MAX);
    if (in->email && cu_norm_email(in->email, email, 256) != CU_OK)
        return cu_err_set(err, CU_ERR_INVALID, "email is not a valid address");
    if (in->phone && cu_norm_phone(in->phone, phone, 32) != CU_OK)
        return cu_err_set(err, CU_ERR_INVALID,
                          "phone must be 4 to 20 digits, optionally with + ( ) - . and spaces");
    if (in->birth_date && !date_ok(in->birth_date))
        return cu_err_set(err, CU_ERR_INVALID, "birth_date must be a real date as YYYY-MM-DD");
    return CU_OK;
}

/* Whole years from birth (YYYY-MM-DD, validated) to the UTC date of now. */
static int age_years(const char *birth, int64_t now)
{
    time_t t = (time_t)now;
    struct tm tm;
    int y =
        (birth[0] - '0') * 1000 + (birth[1] - '0') * 100 + (birth[2] - '0') * 10 + (birth[3] - '0');
    int m = (birth[5] - '0') * 10 + (birth[6] - '0'), d = (birth[8] - '0') * 10 + (birth[9] - '0');
    int age;

    gmtime_r(&t, &tm);
    age = tm.tm_year + 1900 - y;
    if (tm.tm_mon + 1 < m || (tm.tm_mon + 1 == m && tm.tm_mday < d))
        age--;
    return age;
}

/* P-AGE-1: CU_ERR_UNDER_AGE if birth_date (validated, may be NULL) is under the minimum age of
 * the gate's tenant's policy today. */
static cu_rc age_check(cu_vault *v, const cu_gate *g, const char *birth_date, cu_err *err)
{
    const cu_policy *p;
    unsigned min;
    cu_rc rc;

    if (birth_date == NULL)
        return CU_OK;
    if ((rc = cu_gate_policy(v, g, &p, err)) == CU_ERR_NOT_FOUND)
        return CU_OK;
    if (rc != CU_OK)
        return rc;
    min = cu_policy_min_age(p);
    cu_policy_release(v, p);
    /* P-AGE-1: the birth date is not repeated in the message (P-AUD-4). */
    if (age_years(birth_date, cu_clock_now()) < (int)min)
        return cu_err_set(err, CU_ERR_UNDER_AGE,
                          "the subject is under the policy's minimum age of %u", min);
    return CU_OK;
}

static void blind_op(cu_store_op *op, const cu_key *ik, cu_id tenant, cu_subject_by by,
                     const char *value, cu_id owner)
{
    memset(op, 0, sizeof(*op));
    op->type = CU_OP_BLIND_PUT;
    op->u.blind.tenant_id = tenant;
    op->u.blind.scope = scope_names[by];
    op->u.blind.owner_id = owner;
    op->u.blind.unique = by == CU_SUBJECT_BY_EXTERNAL_ID;
    cu_blind_index(ik->k, scope_names[by], (const uint8_t *)value, strlen(value),
                   op->u.blind.digest);
}

static char *profile_json(const cu_subject_in *in)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    if (o == NULL)
        return NULL;
    if (cJSON_AddStringToObject(o, "external_id", in->external_id) &&
        (!in->email || cJSON_AddStringToObject(o, "email", in->email)) &&
        (!in->phone || cJSON_AddStringToObject(o, "phone", in->phone)) &&
        (!in->birth_date || cJSON_AddStringToObject(o, "birth_date", in->birth_date)))
        text = cu_json_print(o);
    cJSON_Delete(o);
    return text;
}

cu_rc cu_subject_create(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_subject_in *in,
                        cu_id *out_id, cu_err *err)
{
    char email[256], phone[32];
    cu_key ik = {0}, tk = {0}, sk = {0};
    cu_store_op ops[5];
    size_t nops = 0;
    char *profile = NULL;
    int locked = 0;
    cu_audit_in a;
    cu_gate g;
    cu_aad aad;
    cu_id id;
    cu_rc rc;

    memset(ops, 0, sizeof(ops));
    if ((rc = validate(in, email, phone, err)) != CU_OK)
        return rc;
    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_WRITE,
                                       .purpose = CU_PURPOSE_WRITE},
                          &g, err)) != CU_OK)
        return rc;
    /* P-AGE-1: a subject under the policy's minimum age is refused. */
    if ((rc = age_check(v, &g, in->birth_date, err)) != CU_OK)
        return rc;
    id = cu_random_id();
    /* Held until the subject key is committed under the tenant key version it names. */
    cu_key_rdlock(v);
    locked = 1;
    if ((rc = cu_keys_tenant_locked(v, tenant, &tk, err)) != CU_OK ||
        (rc = cu_keys_child_locked(v, tenant, CU_KEY_INDEX, 0, &ik, err)) != CU_OK)
        goto out;
    if ((rc = cu_keys_make_child(&tk, tenant, CU_KEY_SUBJECT, id, &sk, &ops[0], err)) != CU_OK)
        goto out;
    nops = 1;
    if ((profile = profile_json(in)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    ops[1].type = CU_OP_SUBJECT_PUT;
    ops[1].u.subject.tenant_id = tenant;
    ops[1].u.subject.id = id;
    ops[1].u.subject.key_version = sk.version;
    ops[1].u.subject.created_at = cu_clock_now();
    cu_aad_data(&aad, tenant, SUBJECT_COLL, id, "profile", sk.version);
    if ((rc = cu_seal(&sk, &aad, profile, strlen(profile), &ops[1].u.subject.profile, err)) !=
        CU_OK)
        goto out;
    nops = 2;
    blind_op(&ops[nops++], &ik, tenant, CU_SUBJECT_BY_EXTERNAL_ID, in->external_id, id);
    if (in->email)
        blind_op(&ops[nops++], &ik, tenant, CU_SUBJECT_BY_EMAIL, email, id);
    if (in->phone)
        blind_op(&ops[nops++], &ik, tenant, CU_SUBJECT_BY_PHONE, phone, id);
    cu_audit_in_set(&a, tenant, "subject.create", "subject:%llu", (unsigned long long)id);
    rc = cu_commit(v, ctx, ops, nops, &a, 1, err);
    if (rc == CU_ERR_EXISTS)
        rc = cu_err_set(err, CU_ERR_EXISTS, "a subject with this external_id already exists");
    if (rc == CU_OK && out_id)
        *out_id = id;
out:
    if (locked)
        pthread_rwlock_unlock(&v->key_lock);
    if (profile) {
        cu_wipe(profile, strlen(profile));
        free(profile);
    }
    cu_wipe(email, sizeof(email));
    cu_wipe(phone, sizeof(phone));
    cu_key_wipe(&tk);
    cu_key_wipe(&ik);
    cu_key_wipe(&sk);
    for (size_t i = 0; i < nops; i++)
        cu_store_op_cleanup(&ops[i]);
    return rc;
}

static char *dup_member(const cJSON *o, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(m) ? strdup(m->valuestring) : NULL;
}

cu_rc cu_subject_open_row(const cu_key *sk, const cu_store_subject *row, cu_subject *out,
                          cu_err *err)
{
    cJSON *o = NULL;
    char *text = NULL;
    size_t len = 0;
    cu_aad aad;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    cu_aad_data(&aad, row->tenant_id, SUBJECT_COLL, row->id, "profile", row->key_version);
    if ((rc = cu_open(sk, &aad, &row->profile, &text, &len, "subject", err)) != CU_OK)
        goto out;
    if ((rc = cu_json_parse(text, len, &o, NULL, err)) != CU_OK)
        goto out;
    out->id = row->id;
    out->tenant_id = row->tenant_id;
    out->created_at = row->created_at;
    out->restricted = row->restricted != 0;
    out->last_activity = row->last_activity;
    out->external_id = dup_member(o, "external_id");
    out->email = dup_member(o, "email");
    out->phone = dup_member(o, "phone");
    out->birth_date = dup_member(o, "birth_date");
    if (out->external_id == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
out:
    if (rc != CU_OK)
        cu_subject_cleanup(out);
    cu_json_delete_wiped(o);
    if (text) {
        cu_wipe(text, len);
        free(text);
    }
    return rc;
}

static cu_rc subject_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                         cu_subject *out, int audit, cu_err *err)
{
    cu_store_subject row = {0};
    cu_key sk = {0};
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    memset(out, 0, sizeof(*out));
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ}, &g,
                          err)) != CU_OK)
        return rc;
    rc = cu_store_subject_get(v->store, tenant, subject, &row, err);
    if (rc == CU_OK && audit)
        rc = cu_gate_purpose(v, ctx, &g, subject, NULL, 0, err);
    if (rc == CU_OK)
        rc = cu_keys_child(v, tenant, CU_KEY_SUBJECT, subject, &sk, err);
    if (rc != CU_OK)
        goto out;
    row.tenant_id = tenant;
    row.id = subject;
    if ((rc = cu_subject_open_row(&sk, &row, out, err)) != CU_OK)
        goto out;
    /* P-AUD-3: on record before the values leave. */
    cu_audit_in_set(&a, tenant, "subject.read", "subject:%llu", (unsigned long long)subject);
    if (audit && (rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        cu_subject_cleanup(out);
out:
    cu_key_wipe(&sk);
    cu_store_subject_cleanup(&row);
    return rc;
}

cu_rc cu_subject_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_subject *out,
                     cu_err *err)
{
    return subject_get(v, ctx, tenant, subject, out, 1, err);
}

cu_rc cu_subject_read(cu_vault *v, cu_id tenant, cu_id subject, cu_subject *out, cu_err *err)
{
    return subject_get(v, NULL, tenant, subject, out, 0, err);
}

static void wipe_free(char **s)
{
    if (*s) {
        cu_wipe(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void cu_subject_cleanup(cu_subject *s)
{
    if (s == NULL)
        return;
    wipe_free(&s->external_id);
    wipe_free(&s->email);
    wipe_free(&s->phone);
    wipe_free(&s->birth_date);
}

cu_rc cu_subject_find(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_subject_by by,
                      const char *value, cu_id **ids, size_t *n, cu_err *err)
{
    char norm[EXTERNAL_ID_MAX + 1];
    uint8_t digest[32];
    cu_key ik = {0};
    cu_audit_in a;
    cu_rc rc;

    if (value == NULL || (unsigned)by > CU_SUBJECT_BY_PHONE)
        return cu_err_set(err, CU_ERR_INVALID, "nothing to search for");
    if (by == CU_SUBJECT_BY_EMAIL)
        rc = cu_norm_email(value, norm, sizeof(norm));
    else if (by == CU_SUBJECT_BY_PHONE)
        rc = cu_norm_phone(value, norm, 32);
    else
        rc = printable(value, EXTERNAL_ID_MAX) ? cu_strlcpy(norm, value, sizeof(norm)) == 0
                                                     ? CU_OK
                                                     : CU_ERR_INVALID
                                               : CU_ERR_INVALID;
    if (rc != CU_OK)
        return cu_err_set(err, CU_ERR_INVALID, "the search value is not a valid %s",
                          by == CU_SUBJECT_BY_EMAIL   ? "email"
                          : by == CU_SUBJECT_BY_PHONE ? "phone"
                                                      : "external_id");
    if ((rc = cu_preamble(
             v, ctx,
             &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ, .purpose = CU_PURPOSE_READ},
             NULL, err)) == CU_OK &&
        (rc = cu_keys_child(v, tenant, CU_KEY_INDEX, 0, &ik, err)) == CU_OK) {
        cu_blind_index(ik.k, scope_names[by], (const uint8_t *)norm, strlen(norm), digest);
        rc = cu_store_blind_find(v->store, tenant, scope_names[by], digest, ids, n, err);
    }
    /* Which index was searched, never the value (P-AUD-4). */
    cu_audit_in_set(&a, tenant, "subject.find", "index:%s", scope_names[by]);
    if (rc == CU_OK && (rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        free(*ids);
        *ids = NULL;
    }
    cu_wipe(norm, sizeof(norm));
    cu_key_wipe(&ik);
    return rc;
}

static int is_subject_access(const cu_ctx *ctx)
{
    return ctx != NULL && ctx->purpose != NULL &&
           strcmp(ctx->purpose, CU_PURPOSE_SUBJECT_ACCESS) == 0;
}

/* P-DSR-4: crypto-shredding. The subject key is destroyed in a transaction of its own, which
 * the store makes the moment of erasure: it queues the subject's erasure and hides the subject,
 * its records and their index entries from every read from that commit on, and it stores the
 * erasure's signed certificate. The answer depends on that commit alone. Then a truncating
 * checkpoint scrubs the key's pages from the WAL; if a reader's snapshot (an export) holds the
 * log, the scrub is left pending and the erasure thread or the sweep completes it (erase.c). The
 * rows go afterwards, in batches (erase.c): before this returns, or in the background when the
 * vault's erasure thread runs, so that the answer does not wait for them. A crash between the
 * two leaves the erasure queued: the next worker, or a second erasure of the subject, finishes
 * it. */
cu_rc cu_subject_erase(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err)
{
    return cu_subject_erase_certified(v, ctx, tenant, subject, NULL, err);
}

static cu_rc shred(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, int keep,
                   char **certificate, cu_err *err);
static cu_rc erase_as(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, int keep,
                      char **certificate, cu_err *err);

cu_rc cu_subject_erase_certified(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                                 char **certificate, cu_err *err)
{
    return erase_as(v, ctx, tenant, subject, 1, certificate, err);
}

/* An erasure already committed (the subject hidden since its key went): under way (queued) or
 * done, with its stored certificate. The same checks as a new one: the tenant, and the purpose
 * (the subject's own request under subject_access). Then its scrub and its rows are finished,
 * and the stored certificate answers. CU_ERR_NOT_FOUND if the subject had no such erasure. */
static cu_rc erased_already(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                            char **certificate, cu_err *err)
{
    char *cert = NULL;
    int queued = 0;
    cu_rc rc;

    if (cu_erase_queued(v, tenant, subject, &queued, NULL) != CU_OK ||
        (cu_store_erasure_certificate(v->store, tenant, subject, &cert, NULL) != CU_OK && !queued))
        return cu_err_set(err, CU_ERR_NOT_FOUND, "no such subject");
    rc = cu_preamble(v, ctx,
                     &(cu_access){.tenant = tenant,
                                  .use = CU_TENANT_USE_LIVE,
                                  .purpose = CU_PURPOSE_READ,
                                  .purpose_subject = is_subject_access(ctx) ? subject : 0},
                     NULL, err);
    if (rc == CU_OK) {
        (void)cu_erase_scrub(v, NULL); /* pending or not: retried by the erasure thread */
        rc = queued ? cu_erase_subject(v, ctx, tenant, subject, err) : CU_OK;
    }
    if (rc == CU_OK && certificate != NULL) {
        *certificate = cert;
        cert = NULL;
    }
    free(cert);
    return rc;
}

/* The erasure, keeping what a legal duty keeps (keep) or nothing (P-AGE-2). */
static cu_rc erase_as(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, int keep,
                      char **certificate, cu_err *err)
{
    int held;
    cu_rc rc;

    if (certificate != NULL)
        *certificate = NULL;
    /* The subject's own request (subject_access) names the subject; any other purpose must be
     * the policy's. A restricted subject may still be erased (P-DSR-4). */
    rc = cu_preamble(v, ctx,
                     &(cu_access){.tenant = tenant,
                                  .use = CU_TENANT_USE_LIVE,
                                  .subject = subject,
                                  .purpose = CU_PURPOSE_READ,
                                  .purpose_subject = is_subject_access(ctx) ? subject : 0},
                     NULL, err);
    /* Hidden since its key went: an erasure under way or done, which this one finishes. */
    if (rc == CU_ERR_NOT_FOUND)
        return erased_already(v, ctx, tenant, subject, certificate, err);
    if (rc != CU_OK)
        return rc;
    /* P-RET-5: a legal hold stops erasure until it is released. The store refuses the key's
     * destruction in the same transaction (CU_ERR_LEGAL_HOLD), so none placed meanwhile is
     * missed; a hold on a subject whose key is gone is refused in turn (CU_ERR_KEY). This read
     * refuses the common case before it joins a group commit. */
    if ((rc = cu_hold_covers(v, tenant, subject, 0, &held, err)) != CU_OK)
        return rc;
    if (held)
        return cu_err_set(err, CU_ERR_LEGAL_HOLD,
                          "the subject's data is under a legal hold: it cannot be erased until "
                          "the hold is released");
    return shred(v, ctx, tenant, subject, keep, certificate, err);
}

cu_rc cu_subject_shred(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, cu_err *err)
{
    return shred(v, ctx, tenant, subject, 0, NULL, err);
}

cu_rc cu_subject_shred_keeping(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                               cu_err *err)
{
    return shred(v, ctx, tenant, subject, 1, NULL, err);
}

/* The erasure's audit entries: the moment of erasure, and for each kept record its new
 * ciphertext's digest (record.reencrypt, as a data key's re-encryption: verify --deep). */
static cu_audit_in *erasure_entries(cu_id tenant, cu_id subject, const cu_erase_plan *pl,
                                    size_t *n, cu_err *err)
{
    cu_audit_in *a = calloc(pl->nops + 2, sizeof(*a));

    *n = 0;
    if (a == NULL) {
        cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cu_audit_in_set(&a[(*n)++], tenant, "subject.erase", "subject:%llu",
                    (unsigned long long)subject);
    if (pl->kept == 0)
        return a;
    cu_audit_in_set(&a[(*n)++], tenant, "subject.retain", "subject:%llu:records:%llu",
                    (unsigned long long)subject, (unsigned long long)pl->kept);
    for (size_t i = 0; i < pl->nops; i++) {
        const cu_store_op *op = &pl->ops[i];
        if (op->type != CU_OP_RECORD_RETAIN)
            continue;
        cu_audit_in_set(&a[*n], tenant, "record.reencrypt", "record:%llu",
                        (unsigned long long)op->u.reseal.id);
        cu_audit_in_digest(&a[(*n)++], op->u.reseal.ct[0].data, op->u.reseal.ct[0].len);
    }
    return a;
}

#ifdef CU_FAULT_INJECTION
void (*cu_erase_plan_hook)(cu_vault *v, cu_id tenant, cu_id subject);
#endif

/* The plan's certificate and the key's destruction, after the plan's own ops (retain.c: the
 * kept records sealed again, and its guards). */
static cu_rc finish_ops(cu_vault *v, cu_id tenant, cu_id subject, cu_erase_plan *pl,
                        cu_err *err)
{
    cu_store_op *op;
    cu_rc rc;

    if ((rc = cu_erase_certificate(v, tenant, subject, pl, &pl->certificate, err)) != CU_OK)
        return rc;
    op = &pl->ops[pl->nops];
    op->type = CU_OP_ERASURE_CERT;
    op->u.erasure_cert.tenant_id = tenant;
    op->u.erasure_cert.subject_id = subject;
    op->u.erasure_cert.certificate = pl->certificate;
    op = &pl->ops[pl->nops + 1];
    op->type = CU_OP_KEY_DELETE;
    op->u.key_del.tenant_id = tenant;
    op->u.key_del.kind = CU_KEY_SUBJECT;
    op->u.key_del.owner_id = subject;
    return CU_OK;
}

/* The erasure's one transaction (P-DSR-4, P-RET-4): what a legal duty keeps sealed again under
 * the subject's retained key (retain.c), the certificate, then the subject key destroyed, all
 * audited. Not during a rotation, whose rewrap must see the key gone or not at all. The plan's
 * guards (retain.c) make the store refuse it (CU_ERR_CONFLICT) if a record was written or
 * deleted in a kept collection since the plan read it, and so does a kept record changed
 * meanwhile: planned again, a few times. */
static cu_rc commit_erasure(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                            int keep, cu_erase_plan *pl, cu_err *err)
{
    cu_audit_in *a = NULL;
    cu_rc rc = CU_ERR_CONFLICT;
    size_t na = 0;

    for (int tries = 0; rc == CU_ERR_CONFLICT && tries < 4; tries++) {
        cu_retain_plan_cleanup(v, pl);
        free(a);
        a = NULL;
        cu_key_rdlock(v);
        if ((rc = cu_retain_plan(v, tenant, subject, cu_clock_now(), keep, pl, err)) == CU_OK &&
            (a = erasure_entries(tenant, subject, pl, &na, err)) == NULL)
            rc = CU_ERR_NOMEM;
        if (rc == CU_OK)
            rc = finish_ops(v, tenant, subject, pl, err);
#ifdef CU_FAULT_INJECTION
        if (rc == CU_OK && cu_erase_plan_hook != NULL) /* tests: a write between plan and commit */
            cu_erase_plan_hook(v, tenant, subject);
#endif
        if (rc == CU_OK)
            rc = cu_commit(v, ctx, pl->ops, pl->nops + 2, a, na, err);
        pthread_rwlock_unlock(&v->key_lock);
    }
    free(a);
    return rc;
}

static cu_rc shred(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, int keep,
                   char **certificate, cu_err *err)
{
    cu_erase_plan pl = {0};
    cu_rc rc;

    rc = commit_erasure(v, ctx, tenant, subject, keep, &pl, err);
    cu_journal_note(v, tenant); /* P-BAK-2: the erasure in the journal (journal.c) */
    cu_keys_forget_subject(v, tenant, subject);
    if (rc == CU_OK) {
        /* Committed: the erasure is done whatever follows. Its scrub is owed: run by the
         * erasure thread in `custos serve` (at once, off the answer's path), else here; if an
         * export's snapshot holds the log, it stays pending (cu_vault_scrub_pending) and is
         * retried (erase.c). */
        cu_erase_scrub_soon(v);
        if (certificate != NULL) {
            *certificate = pl.certificate;
            pl.certificate = NULL;
        }
    }
    cu_retain_plan_cleanup(v, &pl);
    if (rc != CU_OK)
        return rc;
    if (CU_FAULT("erase.key_destroyed"))
        _exit(70);
    /* The rows: hidden already, and queued; a failure here leaves them to the next worker. */
    (void)cu_erase_subject(v, ctx, tenant, subject, NULL);
    return CU_OK;
}

/* --- rectification (P-DSR-3) -------------------------------------------------------------- */

/* in's members over cur's: the profile after the correction (pointers borrowed). */
static cu_subject_in merged(const cu_subject *cur, const cu_subject_in *in)
{
    cu_subject_in m = {.external_id = in->external_id ? in->external_id : cur->external_id,
                       .email = in->email ? in->email : cur->email,
                       .phone = in->phone ? in->phone : cur->phone,
                       .birth_date = in->birth_date ? in->birth_date : cur->birth_date};
    return m;
}

/* The profile sealed again under the subject key, and its index entries made anew: the old
 * entries go in the same transaction, so no search finds the subject by a corrected value. */
static cu_rc rectify_ops(cu_vault *v, cu_id tenant, cu_id subject, const cu_subject_in *m,
                         const char *email, const char *phone, cu_store_op *ops, size_t *nops,
                         cu_err *err)
{
    cu_key ik = {0}, sk = {0};
    char *profile = NULL;
    cu_aad aad;
    cu_rc rc;

    if ((rc = cu_keys_child(v, tenant, CU_KEY_INDEX, 0, &ik, err)) != CU_OK ||
        (rc = cu_keys_child(v, tenant, CU_KEY_SUBJECT, subject, &sk, err)) != CU_OK)
        goto out;
    if ((profile = profile_json(m)) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    ops[0].type = CU_OP_SUBJECT_PUT;
    ops[0].u.subject.tenant_id = tenant;
    ops[0].u.subject.id = subject;
    ops[0].u.subject.key_version = sk.version;
    ops[0].u.subject.created_at = cu_clock_now();
    cu_aad_data(&aad, tenant, SUBJECT_COLL, subject, "profile", sk.version);
    if ((rc = cu_seal(&sk, &aad, profile, strlen(profile), &ops[0].u.subject.profile, err)) !=
        CU_OK)
        goto out;
    ops[1].type = CU_OP_BLIND_DELETE;
    ops[1].u.del.tenant_id = tenant;
    ops[1].u.del.id = subject;
    *nops = 2;
    blind_op(&ops[(*nops)++], &ik, tenant, CU_SUBJECT_BY_EXTERNAL_ID, m->external_id, subject);
    if (m->email)
        blind_op(&ops[(*nops)++], &ik, tenant, CU_SUBJECT_BY_EMAIL, email, subject);
    if (m->phone)
        blind_op(&ops[(*nops)++], &ik, tenant, CU_SUBJECT_BY_PHONE, phone, subject);
out:
    if (profile) {
        cu_wipe(profile, strlen(profile));
        free(profile);
    }
    cu_key_wipe(&ik);
    cu_key_wipe(&sk);
    return rc;
}

cu_rc cu_subject_rectify(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                         const cu_subject_in *in, cu_err *err)
{
    char email[256] = "", phone[32] = "";
    cu_subject cur = {0};
    cu_store_op ops[5];
    cu_subject_in m;
    size_t nops = 0;
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    memset(ops, 0, sizeof(ops));
    if (in == NULL || (!in->external_id && !in->email && !in->phone && !in->birth_date))
        return cu_err_set(err, CU_ERR_INVALID, "nothing to correct");
    /* P-DSR-3: correcting is not processing against a restriction (P-DSR-5): the preamble's
     * tenant and subject checks only, and the purpose (subject_access, under the request). */
    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_WRITE,
                                       .subject = subject,
                                       .purpose = CU_PURPOSE_WRITE,
                                       .purpose_subject = subject},
                          &g, err)) != CU_OK)
        return rc;
    if ((rc = cu_subject_read(v, tenant, subject, &cur, err)) != CU_OK)
        return rc;
    m = merged(&cur, in);
    if ((rc = validate(&m, email, phone, err)) == CU_OK &&
        (rc = age_check(v, &g, in->birth_date, err)) == CU_OK &&
        (rc = rectify_ops(v, tenant, subject, &m, email, phone, ops, &nops, err)) == CU_OK) {
        cu_audit_in_set(&a, tenant, "subject.rectify", "subject:%llu", (unsigned long long)subject);
        rc = cu_commit(v, ctx, ops, nops, &a, 1, err);
        if (rc == CU_ERR_EXISTS)
            rc = cu_err_set(err, CU_ERR_EXISTS, "a subject with this external_id already exists");
    }
    cu_subject_cleanup(&cur);
    cu_wipe(email, sizeof(email));
    cu_wipe(phone, sizeof(phone));
    for (size_t i = 0; i < nops; i++)
        cu_store_op_cleanup(&ops[i]);
    /* The old ciphertext out of every file the store keeps (the WAL too): not kept anywhere.
     * Owed like an erasure's scrub: an export's snapshot may hold the WAL, and the answer
     * depends on the commit alone; the erasure thread retries until it is done (P-DSR-3). */
    if (rc == CU_OK)
        cu_erase_scrub_soon(v);
    return rc;
}

/* --- restriction and the under-age mark (P-DSR-5, P-AGE-2) ------------------------------ */

cu_rc cu_subject_restrict(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, int on,
                          cu_err *err)
{
    cu_store_op op = {0};
    cu_audit_in a;
    int restricted = 0;
    cu_rc rc;

    if ((rc = cu_preamble(v, ctx,
                          &(cu_access){.tenant = tenant,
                                       .use = CU_TENANT_USE_WRITE,
                                       .subject = subject,
                                       .restricted = &restricted},
                          NULL, err)) != CU_OK)
        return rc;
    /* P-AGE-2: a subject found under age stays restricted until its erasure. */
    if (restricted == CU_SUBJECT_UNDER_AGE)
        return cu_err_set(err, CU_ERR_CONFLICT,
                          "the subject was found under age: it stays restricted until erased");
    op.type = CU_OP_SUBJECT_RESTRICT;
    op.u.flag.tenant_id = tenant;
    op.u.flag.id = subject;
    op.u.flag.value = on ? 1 : 0;
    cu_audit_in_set(&a, tenant, on ? "subject.restrict" : "subject.unrestrict", "subject:%llu",
                    (unsigned long long)subject);
    return cu_commit(v, ctx, &op, 1, &a, 1, err);
}

cu_rc cu_subject_mark_under_age(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                                int *erased, cu_err *err)
{
    cu_store_op op = {0};
    cu_audit_in a;
    int held;
    cu_rc rc;

    *erased = 0;
    if ((rc = cu_preamble(
             v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_LIVE, .subject = subject},
             NULL, err)) != CU_OK)
        return rc;
    if ((rc = cu_hold_covers(v, tenant, subject, 0, &held, err)) != CU_OK)
        return rc;
    /* P-AGE-2: on record first, then erased at once; under a legal hold (P-RET-5) restricted
     * instead, and erased by the sweep once the hold is released. */
    op.type = CU_OP_SUBJECT_RESTRICT;
    op.u.flag.tenant_id = tenant;
    op.u.flag.id = subject;
    op.u.flag.value = CU_SUBJECT_UNDER_AGE;
    cu_audit_in_set(&a, tenant, "subject.under_age", "subject:%llu", (unsigned long long)subject);
    if ((rc = cu_commit(v, ctx, &op, 1, &a, 1, err)) != CU_OK || held)
        return rc;
    /* P-AGE-2: nothing is kept; no duty of the service covers a person it is not for. */
    rc = erase_as(v, ctx, tenant, subject, 0, NULL, err);
    if (rc == CU_OK)
        *erased = 1;
    /* A hold placed since the check: restricted and marked, the sweep erases it later. */
    return rc == CU_ERR_LEGAL_HOLD ? CU_OK : rc;
}
