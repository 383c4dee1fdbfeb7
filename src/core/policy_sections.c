/*
 * policy_sections.c: pass 2 of the policy loader for the sections that name each other:
 * categories (with their fideslang keys and retention), purposes (which name categories),
 * the purposes staff may state (P-ACC-4) and collections with their fields (which name
 * categories); the recipients (P-SHR-1), which name both, are policy_recipient.c's. A reference
 * must resolve to what an earlier section declared; policy_parse.c runs them in that order,
 * whatever the file's.
 *
 * Rules no policy can break: advertising and third-party sharing need consent (P-CON-1), and
 * a field named like a card number can only be forbidden (P-ENC-3).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core_int.h"
#include "policy_int.h"

/* --- pass 2: sections --------------------------------------------------------------------- */

static cu_rc parse_retention(pctx *c, const pnode *v, int at, cu_retention *r)
{
    static const char *const keys[] = {"keep", "from", "then"};
    const pnode *val[3];
    int ev, act = CU_RETAIN_THEN_DELETE;
    cu_rc rc;

    if ((rc = pol_want_keys(c, v, at, keys, 3, 0x3, val)) != CU_OK ||
        (rc = pol_want_duration(c, val[0], 0, &r->keep)) != CU_OK ||
        (rc = pol_want_enum(c, val[1], &pol_event, "event", &ev)) != CU_OK ||
        (val[2] && (rc = pol_want_enum(c, val[2], &pol_action, "action", &act)) != CU_OK))
        return rc;
    r->from = (cu_retention_event)ev;
    r->then = (cu_retention_action)act;
    return CU_OK;
}

/* fides: one fideslang data category, or a list of them. */
static cu_rc parse_fides(pctx *c, const pnode *v, cu_policy_category *cat)
{
    const pnode *one = v;
    const pnode *const *items = &one;
    size_t n = 1;
    const char **keys;
    char b[48];

    if (v->kind == PN_SEQ) {
        items = (const pnode *const *)v->kids;
        n = v->n;
    }
    if (n == 0)
        return pol_vbad(c, v, "must name at least one fideslang data category");
    if (n > CU_POLICY_MAX_FIDES)
        return pol_vbad(c, v, "more than %d data categories", CU_POLICY_MAX_FIDES);
    if ((keys = pol_array(c->p, n, sizeof(*keys))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < n; i++) {
        const pnode *k = items[i];
        if (k->kind != PN_SCALAR)
            return pol_vbad(c, k, "expected a fideslang data category such as user.contact.email");
        if (!cu_fides_category_known(k->text))
            return pol_vbad(c, k, "unknown fideslang data category \"%s\"", pol_show(k->text, b));
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[j], k->text) == 0)
                return pol_vbad(c, k, "\"%s\" listed twice", pol_show(k->text, b));
        if ((keys[i] = pol_strdup(c->p, k->text)) == NULL)
            return pol_nomem(c);
    }
    cat->fides = keys;
    cat->n_fides = n;
    return CU_OK;
}

static cu_rc parse_category(pctx *c, const pnode *v, int at, cu_policy_category *cat)
{
    static const char *const keys[] = {"description", "fides", "role", "retention"};
    const pnode *val[4];
    const char *desc = NULL;
    int role = c->p->role;
    size_t w;
    cu_rc rc;

    if ((rc = pol_want_keys(c, v, at, keys, 4, 0xa, val)) != CU_OK)
        return rc;
    if (val[0] && (rc = pol_want_text(c, val[0], CU_POLICY_TEXT_MAX, &desc)) != CU_OK)
        return rc;
    if (desc && (cat->description = pol_strdup(c->p, desc)) == NULL)
        return pol_nomem(c);
    w = pol_where_push(c, "fides");
    rc = parse_fides(c, val[1], cat);
    pol_where_pop(c, w);
    if (rc != CU_OK)
        return rc;
    if (val[2] && (rc = pol_want_enum(c, val[2], &pol_role, "role", &role)) != CU_OK)
        return rc;
    cat->role = (cu_data_role)role;
    w = pol_where_push(c, "retention");
    rc = parse_retention(c, val[3], pol_key_line(v, "retention"), &cat->retention);
    pol_where_pop(c, w);
    return rc;
}

/* Parses a mapping of name -> entry, with 1 (or min) to max entries, through fn. */
static cu_rc parse_named(pctx *c, const pnode *v, size_t min, size_t max, const char *what,
                         void *array, size_t size,
                         cu_rc (*fn)(pctx *, const pnode *, int, void *, const char *))
{
    cu_rc rc;

    if ((rc = pol_want_map(c, v)) != CU_OK)
        return rc;
    if (MAP_LEN(v) < min)
        return pol_vbad(c, v, "must declare at least one %s", what);
    if (MAP_LEN(v) > max)
        return pol_vbad(c, v, "more than %zu entries", max);
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        const pnode *k = MAP_KEY(v, i);
        const char *name;
        size_t w;
        if ((rc = pol_want_ident(c, k, what, &name)) != CU_OK)
            return rc;
        w = pol_where_push(c, "%s", name);
        rc = fn(c, MAP_VAL(v, i), k->line, (char *)array + i * size, name);
        pol_where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}

static cu_rc category_entry(pctx *c, const pnode *v, int at, void *slot, const char *name)
{
    cu_policy_category *cat = slot;

    if ((cat->name = pol_strdup(c->p, name)) == NULL)
        return pol_nomem(c);
    return parse_category(c, v, at, cat);
}

cu_rc pol_parse_categories(pctx *c, const pnode *v, int at)
{
    cu_policy *p = c->p;

    (void)at;
    if (v->kind == PN_MAP && MAP_LEN(v) <= CU_POLICY_MAX_CATEGORIES) {
        if ((p->categories = pol_array(p, MAP_LEN(v), sizeof(*p->categories))) == NULL)
            return pol_nomem(c);
        p->n_categories = MAP_LEN(v);
    }
    return parse_named(c, v, 1, CU_POLICY_MAX_CATEGORIES, "category", p->categories,
                       sizeof(*p->categories), category_entry);
}

/* A category named by the value v, which must exist. */
static cu_rc want_category(pctx *c, const pnode *v, const cu_policy_category **out)
{
    const char *name;
    char b[48];
    cu_rc rc;

    if ((rc = pol_want_ident(c, v, "category", &name)) != CU_OK)
        return rc;
    if ((*out = cu_policy_category_get(c->p, name)) == NULL)
        return pol_vbad(c, v, "unknown category \"%s\"", pol_show(name, b));
    return CU_OK;
}

static cu_rc want_purpose(pctx *c, const pnode *v, cu_policy_purpose **out)
{
    const char *name;
    char b[48];
    cu_rc rc;

    if ((rc = pol_want_ident(c, v, "purpose", &name)) != CU_OK)
        return rc;
    for (size_t i = 0; i < c->p->n_purposes; i++)
        if (strcmp(c->p->purposes[i].name, name) == 0) {
            *out = &c->p->purposes[i];
            return CU_OK;
        }
    return pol_vbad(c, v, "unknown purpose \"%s\"", pol_show(name, b));
}

static cu_rc parse_purpose_categories(pctx *c, const pnode *v, cu_policy_purpose *pu)
{
    const cu_policy_category **cats;
    cu_rc rc;

    if ((rc = pol_want_seq(c, v)) != CU_OK)
        return rc;
    if (v->n == 0)
        return pol_vbad(c, v, "must name at least one category");
    if (v->n > CU_POLICY_MAX_CATEGORIES)
        return pol_vbad(c, v, "more than %d categories", CU_POLICY_MAX_CATEGORIES);
    if ((cats = pol_array(c->p, v->n, sizeof(*cats))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < v->n; i++) {
        if ((rc = want_category(c, v->kids[i], &cats[i])) != CU_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (cats[j] == cats[i])
                return pol_vbad(c, v->kids[i], "category \"%s\" listed twice", cats[i]->name);
    }
    pu->categories = cats;
    pu->n_categories = v->n;
    return CU_OK;
}

/* P-CON-1: the legal basis must fit the data use. Advertising and selling or sharing data need
 * consent; the service itself cannot hang on consent; legal-obligation uses need that basis. */
static cu_rc check_basis(pctx *c, const pnode *at, const cu_policy_purpose *pu)
{
    const char *u = pu->data_use;

    if (strcmp(u, "essential.legal_obligation") == 0 ||
        strcmp(u, "third_party_sharing.legal_obligation") == 0) {
        if (pu->basis != CU_BASIS_LEGAL_OBLIGATION)
            return pol_vbad(c, at, "data use %s needs basis legal_obligation", u);
        return CU_OK;
    }
    if ((pol_fides_under(u, "marketing.advertising") ||
         pol_fides_under(u, "third_party_sharing")) &&
        pu->basis != CU_BASIS_CONSENT)
        return pol_vbad(c, at, "data use %s needs basis consent (P-CON-1)", u);
    if (pol_fides_under(u, "essential") && pu->basis == CU_BASIS_CONSENT)
        return pol_vbad(c, at,
                        "data use %s is essential to the service and cannot rest on consent: use "
                        "contract, legitimate_interest or legal_obligation",
                        u);
    return CU_OK;
}

static cu_rc purpose_entry(pctx *c, const pnode *v, int at, void *slot, const char *name)
{
    static const char *const keys[] = {"description", "data_use", "basis", "categories"};
    cu_policy_purpose *pu = slot;
    const pnode *val[4];
    const char *desc = NULL;
    char b[48];
    int basis;
    size_t w;
    cu_rc rc;

    if ((pu->name = pol_strdup(c->p, name)) == NULL)
        return pol_nomem(c);
    if ((rc = pol_want_keys(c, v, at, keys, 4, 0xe, val)) != CU_OK)
        return rc;
    if (val[0] && (rc = pol_want_text(c, val[0], CU_POLICY_TEXT_MAX, &desc)) != CU_OK)
        return rc;
    if (desc && (pu->description = pol_strdup(c->p, desc)) == NULL)
        return pol_nomem(c);
    if (val[1]->kind != PN_SCALAR || !cu_fides_use_known(val[1]->text))
        return pol_vbad(c, val[1], "unknown fideslang data use \"%s\"",
                        val[1]->kind == PN_SCALAR ? pol_show(val[1]->text, b) : "");
    if ((pu->data_use = pol_strdup(c->p, val[1]->text)) == NULL)
        return pol_nomem(c);
    if ((rc = pol_want_enum(c, val[2], &pol_basis, "legal basis", &basis)) != CU_OK)
        return rc;
    pu->basis = (cu_legal_basis)basis;
    w = pol_where_push(c, "categories");
    rc = parse_purpose_categories(c, val[3], pu);
    pol_where_pop(c, w);
    if (rc != CU_OK)
        return rc;
    return check_basis(c, val[2], pu);
}

cu_rc pol_parse_purposes(pctx *c, const pnode *v, int at)
{
    cu_policy *p = c->p;

    (void)at;
    /* Names first, so that want_purpose sees every purpose whatever the order. */
    if (v->kind == PN_MAP && MAP_LEN(v) <= CU_POLICY_MAX_PURPOSES) {
        if ((p->purposes = pol_array(p, MAP_LEN(v), sizeof(*p->purposes))) == NULL)
            return pol_nomem(c);
        p->n_purposes = MAP_LEN(v);
    }
    return parse_named(c, v, 1, CU_POLICY_MAX_PURPOSES, "purpose", p->purposes,
                       sizeof(*p->purposes), purpose_entry);
}

/* P-ACC-4: the purposes platform staff may state, each a declared purpose. */
cu_rc pol_parse_operator_purposes(pctx *c, const pnode *v, int at)
{
    cu_rc rc;

    (void)at;
    if ((rc = pol_want_seq(c, v)) != CU_OK)
        return rc;
    for (size_t i = 0; i < v->n; i++) {
        cu_policy_purpose *pu = NULL;
        if ((rc = want_purpose(c, v->kids[i], &pu)) != CU_OK)
            return rc;
        if (pu->operator_ok)
            return pol_vbad(c, v->kids[i], "purpose \"%s\" listed twice", pu->name);
        pu->operator_ok = 1;
    }
    return CU_OK;
}

/* The name rules of cu_collection_define: 1 to 128 bytes, no leading '$', no control bytes. */
static int field_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 128 || name[0] == '$')
        return 0;
    for (; *name; name++)
        if ((unsigned char)*name < 0x20 || *name == 0x7f)
            return 0;
    return 1;
}

/* One field: a class name, or {class: ..., indexed: true|false}. */
static cu_rc parse_field(pctx *c, const pnode *k, const pnode *v, cu_field_def *f)
{
    static const char *const keys[] = {"class", "indexed"};
    const pnode *val[2] = {v, NULL};
    char b[48];
    int cls, ix = -1;
    cu_rc rc;

    if (!field_name_ok(k->text))
        return pol_vbad(
            c, k,
            "field name \"%s\" must be 1 to 128 bytes, without a leading '$' or control "
            "characters",
            pol_show(k->text, b));
    if (v->kind == PN_MAP && (rc = pol_want_keys(c, v, k->line, keys, 2, 0x1, val)) != CU_OK)
        return rc;
    if ((rc = pol_want_enum(c, val[0], &pol_class, "field class", &cls)) != CU_OK ||
        (val[1] && (rc = pol_want_bool(c, val[1], &ix)) != CU_OK))
        return rc;
    if (cu_field_is_card_name(k->text) && cls != CU_FIELD_FORBIDDEN)
        return pol_vbad(c, val[0],
                        "field \"%s\" holds card numbers and can only be forbidden (P-ENC-3)",
                        pol_show(k->text, b));
    if (cls == CU_FIELD_FORBIDDEN && ix == 1)
        return pol_vbad(c, val[1], "a forbidden field is never stored, so never indexed");
    if (cls == CU_FIELD_SENSITIVE && ix == 0)
        return pol_vbad(c, val[1], "sensitive fields are always indexed (P-ENC-6)");
    if ((f->name = pol_strdup(c->p, k->text)) == NULL)
        return pol_nomem(c);
    f->cls = (cu_field_class)cls;
    f->indexed = cls == CU_FIELD_SENSITIVE || ix == 1;
    return CU_OK;
}

static cu_rc parse_fields(pctx *c, const pnode *v, cu_policy_collection *col)
{
    cu_field_def *defs = NULL;
    cu_rc rc;

    if ((rc = pol_want_map(c, v)) != CU_OK)
        return rc;
    if (MAP_LEN(v) > CU_POLICY_MAX_FIELDS)
        return pol_vbad(c, v, "more than %d fields", CU_POLICY_MAX_FIELDS);
    if (MAP_LEN(v) && (defs = pol_array(c->p, MAP_LEN(v), sizeof(*defs))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        char b[48];
        size_t w = pol_where_push(c, "%s", pol_show(MAP_KEY(v, i)->text, b));
        rc = parse_field(c, MAP_KEY(v, i), MAP_VAL(v, i), &defs[i]);
        pol_where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    col->fields = defs;
    col->n_fields = MAP_LEN(v);
    return CU_OK;
}

cu_rc pol_parse_collections(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"description", "category", "fields"};
    cu_policy *p = c->p;
    cu_rc rc;

    (void)at;
    if ((rc = pol_want_map(c, v)) != CU_OK)
        return rc;
    if (MAP_LEN(v) > CU_POLICY_MAX_COLLECTIONS)
        return pol_vbad(c, v, "more than %d collections", CU_POLICY_MAX_COLLECTIONS);
    if (MAP_LEN(v) && (p->collections = pol_array(p, MAP_LEN(v), sizeof(*p->collections))) == NULL)
        return pol_nomem(c);
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        cu_policy_collection *col = &p->collections[i];
        const pnode *k = MAP_KEY(v, i), *val[3];
        const char *desc;
        char b[48];
        size_t w;
        if (!cu_collection_name_ok(k->text))
            return pol_vbad(
                c, k, "collection name \"%s\" must match [a-z][a-z0-9_]* and be under %d bytes",
                pol_show(k->text, b), CU_COLLECTION_MAX);
        if ((col->name = pol_strdup(p, k->text)) == NULL)
            return pol_nomem(c);
        p->n_collections = i + 1;
        w = pol_where_push(c, "%s", k->text);
        if ((rc = pol_want_keys(c, MAP_VAL(v, i), k->line, keys, 3, 0x6, val)) == CU_OK &&
            (!val[0] || (rc = pol_want_text(c, val[0], CU_POLICY_TEXT_MAX, &desc)) == CU_OK) &&
            (rc = want_category(c, val[1], &col->category)) == CU_OK) {
            size_t w2 = pol_where_push(c, "fields");
            rc = parse_fields(c, val[2], col);
            pol_where_pop(c, w2);
        }
        pol_where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}
