/*
 * policy_recipient.c: the policy's `sub_processors` list, every recipient data may leave to
 * (P-SHR-1): sub-processors, partners, authorities, affiliates and the other party of an
 * announced business transfer (P-NOT-3), each with its purposes, the data categories it may
 * receive and where the data goes.
 *
 * A recipient lists at least one purpose; its categories default to every category those
 * purposes touch, and a category it lists must be one of them: a recipient never receives
 * what no purpose of its may touch. Names are unique, since versions are compared by name
 * (policy_diff.c) and disclosures name their recipient (disclosure.c).
 */
#include <string.h>

#include "core_int.h"
#include "policy_int.h"

static const char *const kind_names[] = {
    [CU_RECIPIENT_SUB_PROCESSOR] = "sub_processor",
    [CU_RECIPIENT_PARTNER] = "partner",
    [CU_RECIPIENT_AUTHORITY] = "authority",
    [CU_RECIPIENT_AFFILIATE] = "affiliate",
    [CU_RECIPIENT_BUSINESS_TRANSFER] = "business_transfer",
};
static const pol_vocab kinds = {kind_names, CU_ARRAY_LEN(kind_names)};

const char *cu_recipient_kind_name(cu_recipient_kind k)
{
    return (unsigned)k < CU_ARRAY_LEN(kind_names) ? kind_names[k] : "?";
}

const cu_policy_subprocessor *cu_policy_recipient_get(const cu_policy *p, const char *name)
{
    for (size_t i = 0; p != NULL && name != NULL && i < p->n_subprocessors; i++)
        if (strcmp(p->subprocessors[i].name, name) == 0)
            return &p->subprocessors[i];
    return NULL;
}

int cu_policy_recipient_allows(const cu_policy_subprocessor *r, const char *purpose,
                               const char *category)
{
    const cu_policy_purpose *pu = NULL;
    int cat = category == NULL;

    for (size_t i = 0; i < r->n_purposes && pu == NULL; i++)
        if (strcmp(r->purposes[i]->name, purpose) == 0)
            pu = r->purposes[i];
    for (size_t i = 0; i < r->n_categories && !cat; i++)
        cat = strcmp(r->categories[i]->name, category) == 0;
    return pu != NULL && cat && (category == NULL || cu_policy_purpose_covers(pu, category));
}

/* purpose: one name; purposes: a list of at least one, none twice; exactly one of the two in
 * the recipient's mapping m. */
static cu_rc want_purposes(pctx *c, const pnode *m, const pnode *one, const pnode *list,
                           cu_policy_subprocessor *s)
{
    const cu_policy_purpose **pus;
    const pnode *const *items = list ? (const pnode *const *)list->kids : &one;
    size_t n = list ? list->n : 1;
    char b[48];
    cu_rc rc;

    if (one == NULL && list == NULL)
        return pol_bad(c, m->line, "a recipient needs purpose or purposes");
    if (one != NULL && list != NULL)
        return pol_vbad(c, one, "give either purpose or purposes, not both");
    if (list != NULL && ((rc = pol_want_seq(c, list)) != CU_OK))
        return rc;
    if (n == 0 || n > CU_POLICY_MAX_PURPOSES)
        return pol_vbad(c, list, "must name 1 to %d purposes", CU_POLICY_MAX_PURPOSES);
    if ((pus = pol_array(c->p, n, sizeof(*pus))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        if ((rc = pol_want_ident(c, items[i], "purpose", &name)) != CU_OK)
            return rc;
        if ((pus[i] = cu_policy_purpose_get(c->p, name)) == NULL)
            return pol_vbad(c, items[i], "unknown purpose \"%s\"", pol_show(name, b));
        for (size_t j = 0; j < i; j++)
            if (pus[j] == pus[i])
                return pol_vbad(c, items[i], "purpose \"%s\" listed twice", name);
    }
    s->purposes = pus;
    s->n_purposes = n;
    s->purpose = pus[0];
    return CU_OK;
}

/* 1 if one of s's purposes touches cat. */
static int purposes_touch(const cu_policy_subprocessor *s, const cu_policy_category *cat)
{
    for (size_t i = 0; i < s->n_purposes; i++)
        if (cu_policy_purpose_covers(s->purposes[i], cat->name))
            return 1;
    return 0;
}

/* Without a list: every category its purposes touch, each once. */
static cu_rc default_categories(pctx *c, cu_policy_subprocessor *s)
{
    const cu_policy_category **cats;
    size_t n = 0;

    if ((cats = pol_array(c->p, c->p->n_categories ? c->p->n_categories : 1, sizeof(*cats))) ==
        NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < c->p->n_categories; i++)
        if (purposes_touch(s, &c->p->categories[i]))
            cats[n++] = &c->p->categories[i];
    s->categories = cats;
    s->n_categories = n;
    return CU_OK;
}

static cu_rc want_categories(pctx *c, const pnode *v, cu_policy_subprocessor *s)
{
    const cu_policy_category **cats;
    char b[48];
    cu_rc rc;

    if (v == NULL)
        return default_categories(c, s);
    if ((rc = pol_want_seq(c, v)) != CU_OK)
        return rc;
    if (v->n == 0 || v->n > CU_POLICY_MAX_CATEGORIES)
        return pol_vbad(c, v, "must name 1 to %d categories", CU_POLICY_MAX_CATEGORIES);
    if ((cats = pol_array(c->p, v->n, sizeof(*cats))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < v->n; i++) {
        const char *name;
        if ((rc = pol_want_ident(c, v->kids[i], "category", &name)) != CU_OK)
            return rc;
        if ((cats[i] = cu_policy_category_get(c->p, name)) == NULL)
            return pol_vbad(c, v->kids[i], "unknown category \"%s\"", pol_show(name, b));
        for (size_t j = 0; j < i; j++)
            if (cats[j] == cats[i])
                return pol_vbad(c, v->kids[i], "category \"%s\" listed twice", name);
        /* P-SHR-1: nothing leaves for a purpose that may not touch it. */
        if (!purposes_touch(s, cats[i]))
            return pol_vbad(c, v->kids[i], "no purpose of this recipient touches category \"%s\"",
                            name);
    }
    s->categories = cats;
    s->n_categories = v->n;
    return CU_OK;
}

static cu_rc recipient(pctx *c, const pnode *m, cu_policy_subprocessor *s, size_t i)
{
    static const char *const keys[] = {"name",     "kind",       "purpose",
                                       "purposes", "categories", "location"};
    cu_policy *p = c->p;
    const pnode *val[6];
    const char *name, *loc;
    int kind = CU_RECIPIENT_SUB_PROCESSOR;
    cu_rc rc;

    if ((rc = pol_want_keys(c, m, m->line, keys, 6, 0x21, val)) != CU_OK ||
        (rc = pol_want_text(c, val[0], CU_POLICY_TEXT_MAX, &name)) != CU_OK ||
        (val[1] && (rc = pol_want_enum(c, val[1], &kinds, "recipient kind", &kind)) != CU_OK) ||
        (rc = want_purposes(c, m, val[2], val[3], s)) != CU_OK ||
        (rc = want_categories(c, val[4], s)) != CU_OK ||
        (rc = pol_want_text(c, val[5], CU_POLICY_TEXT_MAX, &loc)) != CU_OK)
        return rc;
    for (size_t j = 0; j < i; j++)
        if (strcmp(p->subprocessors[j].name, name) == 0)
            return pol_vbad(c, val[0], "recipient \"%.64s\" listed twice", name);
    s->kind = (cu_recipient_kind)kind;
    if ((s->name = pol_strdup(p, name)) == NULL || (s->location = pol_strdup(p, loc)) == NULL)
        return pol_nomem(c);
    return CU_OK;
}

/* P-SHR-1: who data may leave to, for which purposes and categories, and where it goes. */
cu_rc pol_parse_subprocessors(pctx *c, const pnode *v, int at)
{
    cu_policy *p = c->p;
    cu_rc rc = CU_OK;

    (void)at;
    if ((rc = pol_want_seq(c, v)) != CU_OK)
        return rc;
    if (v->n > CU_POLICY_MAX_SUBPROCESSORS)
        return pol_vbad(c, v, "more than %d recipients", CU_POLICY_MAX_SUBPROCESSORS);
    if (v->n && (p->subprocessors = pol_array(p, v->n, sizeof(*p->subprocessors))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < v->n && rc == CU_OK; i++) {
        size_t w = pol_where_push(c, "[%zu]", i);
        rc = recipient(c, v->kids[i], &p->subprocessors[i], i);
        pol_where_pop(c, w);
    }
    p->n_subprocessors = v->n;
    return rc;
}
