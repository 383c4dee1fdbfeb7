/*
 * disclosure.c: disclosures of subjects' data to the policy's recipients (P-SHR-1, P-NOT-3;
 * custos_disclosure.h).
 *
 * Data leaves only to a recipient the tenant's policy IN FORCE lists (policy_recipient.c), for
 * one of its listed purposes, and only data of categories listed for it which that purpose
 * may touch. The version in force is the policy cache's (P-NOT-1): a recipient that a pending
 * version adds is refused until that version takes effect, which is what announcing a new
 * sub-processor or a business transfer before data moves means (P-NOT-3). Each subject's data
 * is also checked as a read under the disclosure's purpose would be (consent, objection,
 * restriction), whoever asks. Everything is checked before anything is written: a refused
 * disclosure leaves nothing behind but nothing either.
 *
 * A disclosure is one row per subject (or record) under one id, ids and the policy's names
 * only; the reference is an identifier such as a case number, stored in clear, so it must
 * look like one (no space, a digit): a name does not fit by accident. The audit entry names
 * the disclosure's id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "custos_disclosure.h"
#include "policy_cache_int.h"
#include "purpose_int.h"
#include "tenant_int.h"
#include "util.h"

/* One disclosure being checked: the policy in force and the recipient it lists. */
typedef struct dcheck {
    cu_vault *v;
    cu_ctx ctx; /* the caller's, stating the disclosure's purpose */
    cu_id tenant;
    const cu_disclosure_in *in;
    const cu_policy *p;
    unsigned pver;
    const cu_policy_subprocessor *r;
    char cats[CU_DISCLOSURE_CATEGORIES_MAX]; /* the categories named, comma-separated */
} dcheck;

static int reference_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > CU_DISCLOSURE_REF_MAX)
        return 0;
    /* A case number's shape: no space, at least one digit ("Jane Doe" is no reference). */
    if (strpbrk(s, "0123456789") == NULL)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._:/#-", *s) != NULL))
            return 0;
    return 1;
}

static const char *basis_of(const char *name)
{
    for (int b = CU_BASIS_CONTRACT; b <= CU_BASIS_LEGAL_OBLIGATION; b++)
        if (strcmp(cu_legal_basis_name((cu_legal_basis)b), name) == 0)
            return cu_legal_basis_name((cu_legal_basis)b);
    return NULL;
}

/* 1 if ids[0..n) names no id twice. */
static int distinct(const cu_id *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (ids[i] == ids[j] || ids[i] == 0)
                return 0;
    return n == 0 || ids[0] != 0;
}

static cu_rc input_ok(const cu_disclosure_in *in, cu_err *err)
{
    size_t items = in->n_subjects + in->n_records;

    if (in->recipient == NULL || in->recipient[0] == '\0' || in->purpose == NULL ||
        in->purpose[0] == '\0')
        return cu_err_set(err, CU_ERR_INVALID, "a disclosure names its recipient and purpose");
    if (items == 0 || items > CU_DISCLOSURE_MAX_ITEMS)
        return cu_err_set(err, CU_ERR_INVALID, "a disclosure covers 1 to %d subjects or records",
                          CU_DISCLOSURE_MAX_ITEMS);
    if (!distinct(in->subjects, in->n_subjects) || !distinct(in->records, in->n_records))
        return cu_err_set(err, CU_ERR_INVALID, "a subject or record is named twice, or is 0");
    if (in->n_subjects > 0 && in->n_categories == 0)
        return cu_err_set(err, CU_ERR_INVALID,
                          "a disclosure of subjects names the categories of data disclosed");
    if (in->n_categories > CU_DISCLOSURE_MAX_CATEGORIES)
        return cu_err_set(err, CU_ERR_INVALID, "at most %d categories",
                          CU_DISCLOSURE_MAX_CATEGORIES);
    if (in->reference != NULL && !reference_ok(in->reference))
        return cu_err_set(err, CU_ERR_INVALID,
                          "a reference is 1 to %d bytes of letters, digits and . _ : / # -, "
                          "a digit among them",
                          CU_DISCLOSURE_REF_MAX);
    if (in->legal_basis != NULL && basis_of(in->legal_basis) == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "unknown legal basis");
    return CU_OK;
}

/* P-SHR-1, P-NOT-3: the recipient listed, for the purpose, in the version in force. */
static cu_rc recipient_listed(dcheck *d, cu_err *err)
{
    const cu_disclosure_in *in = d->in;

    d->r = cu_policy_recipient_get(d->p, in->recipient);
    if (d->r == NULL)
        return cu_err_set(err, CU_ERR_NOT_LISTED,
                          "policy version %u in force lists no recipient \"%.64s\"; one a pending "
                          "version adds receives nothing before that version takes effect "
                          "(P-NOT-3)",
                          d->pver, in->recipient);
    if (strlen(d->r->name) >= CU_DISCLOSURE_RECIPIENT_MAX)
        return cu_err_set(err, CU_ERR_LIMIT, "the recipient's name is too long to record");
    if (!cu_policy_recipient_allows(d->r, in->purpose, NULL))
        return cu_err_set(err, CU_ERR_NOT_LISTED,
                          "recipient \"%.64s\" is not listed for purpose \"%.64s\" (P-SHR-1)",
                          in->recipient, in->purpose);
    /* P-CON-1: the policy gives each purpose its basis; a disclosure states no other. */
    if (in->legal_basis != NULL &&
        strcmp(in->legal_basis,
               cu_legal_basis_name(cu_policy_purpose_get(d->p, in->purpose)->basis)) != 0)
        return cu_err_set(
            err, CU_ERR_INVALID, "purpose \"%.64s\" rests on %s, not on %s (the policy's basis)",
            in->purpose, cu_legal_basis_name(cu_policy_purpose_get(d->p, in->purpose)->basis),
            in->legal_basis);
    return CU_OK;
}

/* P-SHR-1: a category of the data disclosed, listed for the recipient and the purpose. */
static cu_rc category_listed(const dcheck *d, const char *name, cu_err *err)
{
    if (cu_policy_category_get(d->p, name) == NULL)
        return cu_err_set(err, CU_ERR_INVALID, "the policy has no category \"%.64s\"", name);
    if (!cu_policy_recipient_allows(d->r, d->in->purpose, name))
        return cu_err_set(err, CU_ERR_NOT_LISTED,
                          "recipient \"%.64s\" is not listed for %s data under purpose \"%.64s\" "
                          "(P-SHR-1)",
                          d->in->recipient, name, d->in->purpose);
    return CU_OK;
}

static cu_rc categories_listed(dcheck *d, cu_err *err)
{
    size_t len = 0;
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < d->in->n_categories && rc == CU_OK; i++) {
        const char *name = d->in->categories[i];
        if (name == NULL || (rc = category_listed(d, name, err)) != CU_OK)
            return rc != CU_OK ? rc : cu_err_set(err, CU_ERR_INVALID, "a category is missing");
        len += (size_t)snprintf(d->cats + len, sizeof(d->cats) - len, "%s%s", i ? "," : "", name);
        if (len >= sizeof(d->cats))
            return cu_err_set(err, CU_ERR_LIMIT, "too many categories to record");
    }
    return rc;
}

/* The subject's data (subject 0: a record of none) may be read under the disclosure's purpose
 * (consent, objection, restriction; the purpose's own rules), in collection if not NULL. */
static cu_rc subject_ok(dcheck *d, cu_id subject, const char *collection, cu_err *err)
{
    return cu_preamble(d->v, &d->ctx,
                       &(cu_access){.tenant = d->tenant,
                                    .use = CU_TENANT_USE_WRITE,
                                    .subject = subject,
                                    .purpose = CU_PURPOSE_READ,
                                    .purpose_subject = subject,
                                    .collection = collection},
                       NULL, err);
}

/* Every subject and record named is the tenant's (CU_ERR_NOT_FOUND, the same for another
 * tenant's ids, P-ISO-1), before what the policy says of them. */
static cu_rc all_exist(dcheck *d, cu_err *err)
{
    cu_store_record rr = {0};
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < d->in->n_subjects && rc == CU_OK; i++)
        rc = cu_preamble(d->v, NULL,
                         &(cu_access){.tenant = d->tenant,
                                      .use = CU_TENANT_USE_WRITE,
                                      .subject = d->in->subjects[i]},
                         NULL, err);
    for (size_t i = 0; i < d->in->n_records && rc == CU_OK; i++) {
        rc = cu_store_record_get(d->v->store, d->tenant, d->in->records[i], &rr, err);
        cu_store_record_cleanup(&rr);
    }
    return rc;
}

/* Fills the row of one item: a subject's data of the categories named, or a record. */
static cu_rc item(dcheck *d, cu_id id, int64_t now, cu_id subject, cu_id record, cu_store_op *op,
                  cu_err *err)
{
    cu_store_disclosure *row = &op->u.disclosure;
    const cu_disclosure_in *in = d->in;
    const char *basis = in->legal_basis
                            ? basis_of(in->legal_basis)
                            : cu_legal_basis_name(cu_policy_purpose_get(d->p, in->purpose)->basis);
    const char *cats = d->cats;
    cu_store_record rr = {0};
    cu_rc rc = CU_OK;

    if (record != 0) {
        const cu_policy_collection *c;
        if ((rc = cu_store_record_get(d->v->store, d->tenant, record, &rr, err)) != CU_OK)
            return rc;
        subject = rr.subject_id;
        if ((c = cu_policy_collection_get(d->p, rr.collection)) == NULL)
            rc = cu_err_set(err, CU_ERR_INVALID, "the record's collection has no category");
        else if ((rc = category_listed(d, c->category->name, err)) == CU_OK)
            cats = c->category->name;
    }
    /* A record without a subject passes the purpose's own checks too (staff purposes, P-ACC-4;
     * Sec-GPC), with no subject's consent to ask. */
    if (rc == CU_OK)
        rc = subject_ok(d, subject, record != 0 ? rr.collection : NULL, err);
    cu_store_record_cleanup(&rr);
    if (rc != CU_OK)
        return rc;
    op->type = CU_OP_DISCLOSURE_PUT;
    row->tenant_id = d->tenant;
    row->id = id;
    row->subject_id = subject;
    row->record_id = record;
    row->policy_version = d->pver;
    row->created_at = now;
    snprintf(row->recipient, sizeof(row->recipient), "%s", d->r->name);
    snprintf(row->purpose, sizeof(row->purpose), "%s", in->purpose);
    snprintf(row->categories, sizeof(row->categories), "%s", cats);
    snprintf(row->legal_basis, sizeof(row->legal_basis), "%s", basis);
    snprintf(row->reference, sizeof(row->reference), "%s", in->reference ? in->reference : "");
    return CU_OK;
}

static cu_rc build_ops(dcheck *d, cu_id id, cu_store_op *ops, cu_err *err)
{
    const cu_disclosure_in *in = d->in;
    int64_t now = cu_clock_now();
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < in->n_subjects && rc == CU_OK; i++)
        rc = item(d, id, now, in->subjects[i], 0, &ops[i], err);
    for (size_t i = 0; i < in->n_records && rc == CU_OK; i++)
        rc = item(d, id, now, 0, in->records[i], &ops[in->n_subjects + i], err);
    return rc;
}

cu_rc cu_disclosure_add(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_disclosure_in *in,
                        cu_id *out_id, cu_err *err)
{
    dcheck d = {.v = v, .tenant = tenant, .in = in};
    size_t n = in->n_subjects + in->n_records;
    cu_store_op *ops = NULL;
    cu_id id = cu_random_id();
    cu_audit_in a;
    cu_gate g;
    cu_rc rc;

    if ((rc = input_ok(in, err)) != CU_OK)
        return rc;
    if (ctx != NULL)
        d.ctx = *ctx;
    d.ctx.purpose = in->purpose;
    /* The subject's rules bind whoever discloses: no local exemption from them. */
    d.ctx.flags &= ~CU_CTX_LOCAL;
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_WRITE}, &g,
                          err)) != CU_OK ||
        (rc = all_exist(&d, err)) != CU_OK)
        return rc;
    rc = cu_policy_current(v, tenant, g.policy_version, &d.p, &d.pver, err);
    if (rc == CU_ERR_NOT_FOUND)
        return cu_err_set(err, CU_ERR_NOT_LISTED,
                          "the tenant has no policy: it lists no recipient");
    if (rc != CU_OK)
        return rc;
    if ((ops = calloc(n, sizeof(*ops))) == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (rc == CU_OK && (rc = recipient_listed(&d, err)) == CU_OK &&
        (rc = categories_listed(&d, err)) == CU_OK)
        rc = build_ops(&d, id, ops, err);
    cu_policy_release(v, d.p);
    if (rc == CU_OK) {
        cu_audit_in_set(&a, tenant, "disclosure.add", "disclosure:%llu", (unsigned long long)id);
        rc = cu_commit(v, ctx, ops, n, &a, 1, err);
    }
    free(ops);
    if (rc == CU_OK && out_id != NULL)
        *out_id = id;
    return rc;
}

/* A row as the API shows it, with the recipient's kind from the policy in force (p may be
 * NULL). */
static void row_out(const cu_store_disclosure *s, const cu_policy *p, cu_disclosure *o)
{
    const cu_policy_subprocessor *r = cu_policy_recipient_get(p, s->recipient);

    o->id = s->id;
    o->subject_id = s->subject_id;
    o->record_id = s->record_id;
    snprintf(o->recipient, sizeof(o->recipient), "%s", s->recipient);
    snprintf(o->recipient_kind, sizeof(o->recipient_kind), "%s",
             r ? cu_recipient_kind_name(r->kind) : "");
    snprintf(o->purpose, sizeof(o->purpose), "%s", s->purpose);
    snprintf(o->categories, sizeof(o->categories), "%s", s->categories);
    snprintf(o->legal_basis, sizeof(o->legal_basis), "%s", s->legal_basis);
    snprintf(o->reference, sizeof(o->reference), "%s", s->reference);
    o->policy_version = s->policy_version;
    o->created_at = s->created_at;
}

cu_rc cu_disclosure_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject, size_t limit,
                         cu_disclosure **out, size_t *n, cu_err *err)
{
    cu_store_disclosure *rows = NULL;
    const cu_policy *p = NULL;
    cu_disclosure *res = NULL;
    size_t cnt = 0;
    cu_audit_in a;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if (limit == 0 || limit > CU_DISCLOSURE_LIST_MAX)
        limit = CU_DISCLOSURE_LIST_MAX;
    if ((rc = cu_preamble(v, ctx, &(cu_access){.tenant = tenant, .use = CU_TENANT_USE_READ}, NULL,
                          err)) != CU_OK ||
        (rc = cu_store_disclosure_list(v->store, tenant, subject, limit, &rows, &cnt, err)) !=
            CU_OK)
        return rc;
    if ((res = calloc(cnt ? cnt : 1, sizeof(*res))) == NULL) {
        free(rows);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    if (cu_policy_for(v, tenant, &p, NULL, err) != CU_OK)
        p = NULL; /* no policy (any more): the kinds stay empty */
    for (size_t i = 0; i < cnt; i++)
        row_out(&rows[i], p, &res[i]);
    cu_policy_release(v, p);
    free(rows);
    if (subject != 0)
        cu_audit_in_set(&a, tenant, "disclosure.list", "subject:%llu:disclosures",
                        (unsigned long long)subject);
    else
        cu_audit_in_set(&a, tenant, "disclosure.list", "disclosures");
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        free(res);
        return rc;
    }
    *out = res;
    *n = cnt;
    return CU_OK;
}
