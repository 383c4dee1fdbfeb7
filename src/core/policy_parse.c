/*
 * policy_parse.c: the policy file loader's entry points, cu_policy_parse and cu_policy_load
 * (docs/policy.md), and the file as a whole: its keys (all required, none unknown), the
 * header scalars and the small sections (minimum age, DSR deadlines, changes, termination,
 * analytics; the cookies section is policy_cookies.c's). The YAML is read by policy_yaml.c, the sections that name each
 * other by policy_sections.c, in dependency order (categories, then the purposes that name
 * them, then what names purposes or categories), whatever their order in the file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* P-DSR-7: the holidays that, like weekends, are no business days, as UTC dates. */
static cu_rc parse_holidays(pctx *c, const pnode *v, cu_dsr_deadlines *d)
{
    int64_t *days;
    cu_rc rc;

    if ((rc = pol_want_seq(c, v)) != CU_OK)
        return rc;
    if (v->n > CU_POLICY_MAX_HOLIDAYS)
        return pol_vbad(c, v, "at most %d holidays", CU_POLICY_MAX_HOLIDAYS);
    if ((days = pol_array(c->p, v->n ? v->n : 1, sizeof(*days))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < v->n; i++)
        if ((rc = pol_want_date(c, v->kids[i], &days[i])) != CU_OK)
            return rc;
    d->holidays = days;
    d->n_holidays = v->n;
    return CU_OK;
}

/* P-DSR-7. */
static cu_rc parse_dsr(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"acknowledge_business_days", "answer", "extension",
                                       "holidays"};
    cu_dsr_deadlines *d = &c->p->dsr;
    const pnode *val[4];
    cu_rc rc;

    if ((rc = pol_want_keys(c, v, at, keys, 4, 0x7, val)) != CU_OK ||
        (rc = pol_want_uint(c, val[0], 1, 60, &d->acknowledge_business_days)) != CU_OK ||
        (rc = pol_want_duration(c, val[1], 1, &d->answer)) != CU_OK ||
        (rc = pol_want_duration(c, val[2], 0, &d->extension)) != CU_OK)
        return rc;
    return val[3] ? parse_holidays(c, val[3], d) : CU_OK;
}

/* P-NOT-1, P-NOT-2. */
static cu_rc parse_changes(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"notice_period", "fresh_consent"};
    const pnode *val[2];
    cu_rc rc;

    if ((rc = pol_want_keys(c, v, at, keys, 2, 0x1, val)) != CU_OK ||
        (rc = pol_want_duration(c, val[0], 0, &c->p->notice_period)) != CU_OK)
        return rc;
    return val[1] ? pol_want_bool(c, val[1], &c->p->fresh_consent) : CU_OK;
}

/* P-RET-2, P-RET-3. */
static cu_rc parse_termination(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"export_window", "backup_window"};
    const pnode *val[2];
    cu_rc rc;

    if ((rc = pol_want_keys(c, v, at, keys, 2, 0x3, val)) != CU_OK ||
        (rc = pol_want_duration(c, val[0], 0, &c->p->export_window)) != CU_OK)
        return rc;
    return pol_want_duration(c, val[1], 0, &c->p->backup_window);
}

/* P-ANA-1. */
static cu_rc parse_analytics(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"min_group_size"};
    const pnode *val[1];
    cu_rc rc;

    if ((rc = pol_want_keys(c, v, at, keys, 1, 0x1, val)) != CU_OK)
        return rc;
    return pol_want_uint(c, val[0], 2, CU_POLICY_GROUP_MAX, &c->p->analytics_min_group);
}

/* --- the file as a whole ------------------------------------------------------------------ */

enum {
    K_FORMAT,
    K_ID,
    K_NAME,
    K_VERSION,
    K_EFFECTIVE,
    K_ROLE,
    K_CATEGORIES,
    K_PURPOSES,
    K_OPERATOR,
    K_SUBPROC,
    K_COOKIES,
    K_MIN_AGE,
    K_DSR,
    K_CHANGES,
    K_TERMINATION,
    K_ANALYTICS,
    K_COLLECTIONS,
    K_NEVER, /* optional: the last, so that the required mask below leaves it out */
    K__COUNT
};

static const char *const root_keys[K__COUNT] = {
    [K_FORMAT] = "custos_policy",
    [K_ID] = "id",
    [K_NAME] = "name",
    [K_VERSION] = "version",
    [K_EFFECTIVE] = "effective_date",
    [K_ROLE] = "role",
    [K_CATEGORIES] = "categories",
    [K_PURPOSES] = "purposes",
    [K_OPERATOR] = "operator_purposes",
    [K_SUBPROC] = "sub_processors",
    [K_COOKIES] = "cookies",
    [K_MIN_AGE] = "minimum_age",
    [K_DSR] = "dsr",
    [K_CHANGES] = "changes",
    [K_TERMINATION] = "termination",
    [K_ANALYTICS] = "analytics",
    [K_COLLECTIONS] = "collections",
    [K_NEVER] = "never",
};

/* One of the scalars at the top of the file, id to role. */
static cu_rc header_value(pctx *c, int k, const pnode *v)
{
    cu_policy *p = c->p;
    const char *text = NULL;
    unsigned format;
    int role;
    cu_rc rc;

    switch (k) {
    case K_FORMAT:
        if ((rc = pol_want_uint(c, v, 1, 1000, &format)) == CU_OK && format != CU_POLICY_FORMAT)
            rc = pol_vbad(c, v, "format %u is not supported (this Custos reads %d)", format,
                          CU_POLICY_FORMAT);
        return rc;
    case K_ID:
        if ((rc = pol_want_ident(c, v, "policy id", &text)) == CU_OK &&
            !(p->id = pol_strdup(p, text)))
            rc = pol_nomem(c);
        return rc;
    case K_NAME:
        if ((rc = pol_want_text(c, v, CU_POLICY_TEXT_MAX, &text)) == CU_OK &&
            !(p->name = pol_strdup(p, text)))
            rc = pol_nomem(c);
        return rc;
    case K_VERSION:
        if ((rc = pol_want_text(c, v, CU_POLICY_IDENT_MAX, &text)) == CU_OK &&
            !(p->version = pol_strdup(p, text)))
            rc = pol_nomem(c);
        return rc;
    case K_EFFECTIVE:
        if ((rc = pol_want_date(c, v, &p->effective)) == CU_OK)
            memcpy(p->effective_date, v->text, 10);
        return rc;
    default:
        if ((rc = pol_want_enum(c, v, &pol_role, "role", &role)) == CU_OK)
            p->role = (cu_data_role)role;
        return rc;
    }
}

static cu_rc parse_header(pctx *c, const pnode *const *val)
{
    for (int k = K_FORMAT; k <= K_ROLE; k++) {
        size_t w = pol_where_push(c, "%s", root_keys[k]);
        cu_rc rc = header_value(c, k, val[k]);
        pol_where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}

/* Runs one section's parser with the error location set to its key. */
static cu_rc section(pctx *c, const pnode *root, const pnode *const *val, int k,
                     cu_rc (*fn)(pctx *, const pnode *, int))
{
    size_t w = pol_where_push(c, "%s", root_keys[k]);
    cu_rc rc = fn(c, val[k], pol_key_line(root, root_keys[k]));

    pol_where_pop(c, w);
    return rc;
}

/* P-AGE-1. */
static cu_rc parse_min_age(pctx *c, const pnode *v, int at)
{
    (void)at;
    return pol_want_uint(c, v, 1, CU_POLICY_MIN_AGE_MAX, &c->p->min_age);
}

static cu_rc parse_root(pctx *c, const pnode *root)
{
    static const struct {
        int key;
        cu_rc (*fn)(pctx *, const pnode *, int);
    } order[] = {
        {K_CATEGORIES, pol_parse_categories},
        {K_PURPOSES, pol_parse_purposes},
        {K_OPERATOR, pol_parse_operator_purposes},
        {K_NEVER, pol_parse_never},
        {K_SUBPROC, pol_parse_subprocessors},
        {K_COOKIES, pol_parse_cookies},
        {K_MIN_AGE, parse_min_age},
        {K_DSR, parse_dsr},
        {K_CHANGES, parse_changes},
        {K_TERMINATION, parse_termination},
        {K_ANALYTICS, parse_analytics},
        {K_COLLECTIONS, pol_parse_collections},
    };
    const pnode *val[K__COUNT];
    cu_rc rc;

    if (root->kind != PN_MAP)
        return pol_vbad(c, root, "a policy is a mapping of the keys in docs/policy.md");
    if ((rc = pol_want_keys(c, root, root->line, root_keys, K__COUNT, (1u << K_NEVER) - 1, val)) !=
            CU_OK ||
        (rc = parse_header(c, val)) != CU_OK)
        return rc;
    for (size_t i = 0; i < CU_ARRAY_LEN(order); i++)
        if ((rc = section(c, root, val, order[i].key, order[i].fn)) != CU_OK)
            return rc;
    return CU_OK;
}

cu_rc cu_policy_parse(const char *text, size_t len, const char *name, cu_policy **out, cu_err *err)
{
    pctx c;
    pnode *root = NULL;
    cu_policy *p;
    cu_rc rc;

    *out = NULL;
    if (name == NULL)
        name = "policy";
    if (len > CU_POLICY_MAX)
        return cu_err_set(err, CU_ERR_LIMIT, "%s: larger than %d bytes", name, CU_POLICY_MAX);
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    memset(&c, 0, sizeof(c));
    c.name = name;
    c.text = text != NULL ? text : "";
    c.len = text != NULL ? len : 0;
    c.err = err;
    c.p = p;
    rc = pol_tree_build(&c, &root);
    if (rc == CU_OK)
        rc = parse_root(&c, root);
    pol_tree_free(root);
    if (rc != CU_OK) {
        cu_policy_free(p);
        return rc;
    }
    *out = p;
    return CU_OK;
}

cu_rc cu_policy_load(const char *path, cu_policy **out, cu_err *err)
{
    char *text = NULL;
    size_t n = 0;
    cu_rc rc;

    *out = NULL;
    if ((rc = cu_file_read(path, CU_POLICY_MAX, &text, &n, err)) != CU_OK)
        return rc;
    rc = cu_policy_parse(text, n, path, out, err);
    free(text);
    return rc;
}
