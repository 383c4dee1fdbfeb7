/*
 * policy_diff.c: what changes from one version of a tenant's policy to the next (P-NOT-1), in
 * words, and whether it is material.
 *
 * A change is material when it widens what is done with personal data: a purpose or category
 * added, a legal basis or data use changed, a purpose reaching a category it did not, a longer
 * retention, a recipient added or widened (another purpose, category, place or kind), a lower
 * minimum age, a never-promise dropped (P-CON-5), a shorter notice period. A change that only
 * narrows (a purpose, category or recipient removed, a recipient narrowed, a shorter retention,
 * a higher minimum age, a promise added) is not, and a version made only of those may take
 * effect at once. Cookies (P-CON-3): a category whose rule widens (never -> consent ->
 * always, a new category counting as never before) or that Global Privacy Control no longer
 * turns off is material; the rest narrows. docs/policy.md lists the rules; DSR deadlines,
 * collections and the termination windows are not compared.
 *
 * The purposes whose terms changed (P-NOT-2) are collected as the diff goes: a consent given
 * to the old terms does not cover the new ones.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

static cu_rc add(cu_policy_diff *d, cu_err *err, const char *area, int material, const char *fmt,
                 ...) CU_PRINTF(5, 6);

static cu_rc add(cu_policy_diff *d, cu_err *err, const char *area, int material, const char *fmt,
                 ...)
{
    va_list ap;
    cu_policy_change *ch;

    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        if (cap > 4096 || (ch = realloc(d->changes, cap * sizeof(*ch))) == NULL)
            return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        d->changes = ch;
        d->cap = cap;
    }
    ch = &d->changes[d->n++];
    ch->area = area;
    ch->material = material;
    va_start(ap, fmt);
    vsnprintf(ch->text, sizeof(ch->text), fmt, ap);
    va_end(ap);
    d->material |= material;
    return CU_OK;
}

/* P-NOT-2: purpose name's terms changed; past the buffer, every purpose counts as changed. */
static void changed(cu_policy_diff *d, const char *name)
{
    size_t have = strlen(d->changed), need = strlen(name) + (have ? 1 : 0);

    if (strcmp(d->changed, "*") == 0)
        return;
    for (const char *s = d->changed; (s = strstr(s, name)) != NULL; s++)
        if ((s == d->changed || s[-1] == ',') && (s[strlen(name)] == ',' || !s[strlen(name)]))
            return;
    if (have + need + 1 > sizeof(d->changed)) {
        snprintf(d->changed, sizeof(d->changed), "*");
        return;
    }
    if (have)
        d->changed[have++] = ',';
    memcpy(d->changed + have, name, strlen(name) + 1);
}

/* Seconds a retention keeps data, for comparing two of them. */
static int64_t keep_of(const cu_retention *r)
{
    return cu_duration_add(0, r->keep);
}

static cu_rc diff_categories(const cu_policy *o, const cu_policy *n, cu_policy_diff *d, cu_err *err)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n->n_categories && rc == CU_OK; i++) {
        const cu_policy_category *nc = &n->categories[i], *oc;
        if ((oc = cu_policy_category_get(o, nc->name)) == NULL) {
            rc = add(d, err, "categories", 1, "category %s added", nc->name);
        } else if (keep_of(&nc->retention) > keep_of(&oc->retention) ||
                   nc->retention.from != oc->retention.from) {
            rc = add(d, err, "retention", 1, "category %s kept longer or counted from %s", nc->name,
                     cu_retention_event_name(nc->retention.from));
        } else if (keep_of(&nc->retention) < keep_of(&oc->retention)) {
            rc = add(d, err, "retention", 0, "category %s kept shorter", nc->name);
        }
    }
    for (size_t i = 0; i < o->n_categories && rc == CU_OK; i++)
        if (cu_policy_category_get(n, o->categories[i].name) == NULL)
            rc = add(d, err, "categories", 0, "category %s removed", o->categories[i].name);
    return rc;
}

/* A purpose in both versions: its basis, data use and categories, and its categories'
 * retention (a purpose that keeps what it touches longer has new terms). */
static cu_rc diff_purpose(const cu_policy *o, const cu_policy_purpose *op,
                          const cu_policy_purpose *np, cu_policy_diff *d, cu_err *err)
{
    cu_rc rc = CU_OK;
    int terms = 0;

    if (op->basis != np->basis) {
        rc = add(d, err, "legal_basis", 1, "purpose %s: legal basis %s -> %s", np->name,
                 cu_legal_basis_name(op->basis), cu_legal_basis_name(np->basis));
        terms = 1;
    }
    if (rc == CU_OK && strcmp(op->data_use, np->data_use) != 0) {
        rc = add(d, err, "data_use", 1, "purpose %s: data use %s -> %s", np->name, op->data_use,
                 np->data_use);
        terms = 1;
    }
    for (size_t i = 0; i < np->n_categories && rc == CU_OK; i++) {
        const cu_policy_category *nc = np->categories[i], *oc;
        if (!cu_policy_purpose_covers(op, nc->name)) {
            rc = add(d, err, "categories", 1, "purpose %s now reaches category %s", np->name,
                     nc->name);
            terms = 1;
        } else if ((oc = cu_policy_category_get(o, nc->name)) != NULL &&
                   (keep_of(&nc->retention) > keep_of(&oc->retention) ||
                    nc->retention.from != oc->retention.from)) {
            terms = 1;
        }
    }
    for (size_t i = 0; i < op->n_categories && rc == CU_OK; i++)
        if (!cu_policy_purpose_covers(np, op->categories[i]->name))
            rc = add(d, err, "categories", 0, "purpose %s no longer reaches category %s", np->name,
                     op->categories[i]->name);
    if (terms)
        changed(d, np->name);
    return rc;
}

static cu_rc diff_purposes(const cu_policy *o, const cu_policy *n, cu_policy_diff *d, cu_err *err)
{
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n->n_purposes && rc == CU_OK; i++) {
        const cu_policy_purpose *np = &n->purposes[i], *op = cu_policy_purpose_get(o, np->name);
        if (op == NULL)
            rc = add(d, err, "purposes", 1, "purpose %s added (data use %s, basis %s)", np->name,
                     np->data_use, cu_legal_basis_name(np->basis));
        else
            rc = diff_purpose(o, op, np, d, err);
    }
    for (size_t i = 0; i < o->n_purposes && rc == CU_OK; i++)
        if (cu_policy_purpose_get(n, o->purposes[i].name) == NULL)
            rc = add(d, err, "purposes", 0, "purpose %s removed", o->purposes[i].name);
    return rc;
}

/* 1 if every purpose (cats 0) or category (cats 1) of r is one of o's. */
static int recipient_within(const cu_policy_subprocessor *r, const cu_policy_subprocessor *o,
                            int cats)
{
    size_t n = cats ? r->n_categories : r->n_purposes;

    for (size_t i = 0; i < n; i++) {
        const char *name = cats ? r->categories[i]->name : r->purposes[i]->name;
        int found = 0;
        for (size_t j = 0; j < (cats ? o->n_categories : o->n_purposes) && !found; j++)
            found = strcmp(name, cats ? o->categories[j]->name : o->purposes[j]->name) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* "purpose a, b; categories c, d" of r, cut to fit buf. */
static void recipient_terms(const cu_policy_subprocessor *r, char *buf, size_t cap)
{
    size_t len = (size_t)snprintf(buf, cap, "purpose%s ", r->n_purposes > 1 ? "s" : "");

    for (size_t i = 0; i < r->n_purposes && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", r->purposes[i]->name);
    for (size_t i = 0; i < r->n_categories && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "; categories ",
                                r->categories[i]->name);
}

/* P-NOT-3's part here: a new recipient (a sub-processor, a partner, the other party of a
 * business transfer), or data going to one for another purpose, of another category, to
 * another place or as another kind of recipient, is material: it waits for the notice period
 * before any disclosure to it (disclosure.c reads the version in force). A recipient removed,
 * or listed for fewer purposes or categories, narrows. */
static cu_rc diff_subprocessors(const cu_policy *o, const cu_policy *n, cu_policy_diff *d,
                                cu_err *err)
{
    char terms[192];
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < n->n_subprocessors && rc == CU_OK; i++) {
        const cu_policy_subprocessor *ns = &n->subprocessors[i],
                                     *os = cu_policy_recipient_get(o, ns->name);
        int wider = os != NULL && (os->kind != ns->kind || strcmp(os->location, ns->location) ||
                                   !recipient_within(ns, os, 0) || !recipient_within(ns, os, 1));
        int narrower =
            os != NULL && !wider && (!recipient_within(os, ns, 0) || !recipient_within(os, ns, 1));
        recipient_terms(ns, terms, sizeof(terms));
        if (os == NULL)
            rc = add(d, err, "sub_processors", 1, "%s %s added (%s; %s)",
                     cu_recipient_kind_name(ns->kind), ns->name, terms, ns->location);
        else if (wider || narrower)
            rc = add(d, err, "sub_processors", wider, "%s %s now for %s; %s",
                     cu_recipient_kind_name(ns->kind), ns->name, terms, ns->location);
    }
    for (size_t i = 0; i < o->n_subprocessors && rc == CU_OK; i++)
        if (cu_policy_recipient_get(n, o->subprocessors[i].name) == NULL)
            rc = add(d, err, "sub_processors", 0, "%s %s removed",
                     cu_recipient_kind_name(o->subprocessors[i].kind), o->subprocessors[i].name);
    return rc;
}

/* P-CON-5: a promise dropped is material and renews every consent; one added narrows. */
static cu_rc diff_never(const cu_policy *o, const cu_policy *n, cu_policy_diff *d, cu_err *err)
{
    cu_rc rc = CU_OK;

    d->never_dropped = o->never & ~n->never;
    for (unsigned b = 1; b <= CU_NEVER__ALL && rc == CU_OK; b <<= 1) {
        if (d->never_dropped & b)
            rc = add(d, err, "never", 1, "promise never: %s dropped", cu_policy_never_name(b));
        else if ((n->never & ~o->never) & b)
            rc = add(d, err, "never", 0, "promise never: %s added", cu_policy_never_name(b));
    }
    if (d->never_dropped)
        snprintf(d->changed, sizeof(d->changed), "*");
    return rc;
}

/* The rule of the category named name in p (NEVER if p names none), and whether Sec-GPC
 * turns it off there. */
static cu_cookie_rule cookie_rule(const cu_policy *p, const char *name, int *gpc)
{
    for (size_t i = 0; i < cu_policy_cookie_count(p); i++)
        if (strcmp(cu_policy_cookie_name(p, i), name) == 0) {
            *gpc = cu_policy_cookie_gpc(p, (cu_cookie_category)i);
            return cu_policy_cookie(p, (cu_cookie_category)i);
        }
    *gpc = 1; /* not set at all: nothing for GPC to lose */
    return CU_COOKIE_NEVER;
}

static cu_rc diff_cookies(const cu_policy *o, const cu_policy *n, cu_policy_diff *d, cu_err *err)
{
    static const char *const rule[] = {"never", "consent", "always"};
    cu_rc rc = CU_OK;

    for (size_t i = 0; i < cu_policy_cookie_count(n) && rc == CU_OK; i++) {
        const char *name = cu_policy_cookie_name(n, i);
        int og, ng = cu_policy_cookie_gpc(n, (cu_cookie_category)i);
        cu_cookie_rule orl = cookie_rule(o, name, &og);
        cu_cookie_rule nr = cu_policy_cookie(n, (cu_cookie_category)i);

        if (nr != orl)
            rc = add(d, err, "cookies", nr > orl, "cookies %s: %s -> %s", name, rule[orl],
                     rule[nr]);
        else if (nr == CU_COOKIE_WITH_CONSENT && og != ng)
            rc = add(d, err, "cookies", og && !ng, "cookies %s: Global Privacy Control %s", name,
                     ng ? "now turns it off" : "no longer turns it off");
    }
    /* A category the new version no longer names is never set: a narrowing. */
    for (size_t i = 0; i < cu_policy_cookie_count(o) && rc == CU_OK; i++) {
        const char *name = cu_policy_cookie_name(o, i);
        int g;
        if (i >= CU_COOKIE__COUNT &&
            cu_policy_cookie(o, (cu_cookie_category)i) != CU_COOKIE_NEVER &&
            cookie_rule(n, name, &g) == CU_COOKIE_NEVER)
            rc = add(d, err, "cookies", 0, "cookies %s: removed", name);
    }
    return rc;
}

static cu_rc diff_scalars(const cu_policy *o, const cu_policy *n, cu_policy_diff *d, cu_err *err)
{
    int64_t on = cu_duration_add(0, o->notice_period), nn = cu_duration_add(0, n->notice_period);
    cu_rc rc = CU_OK;

    if (n->min_age != o->min_age)
        rc = add(d, err, "minimum_age", n->min_age < o->min_age, "minimum age %u -> %u", o->min_age,
                 n->min_age);
    if (rc == CU_OK && nn != on)
        rc = add(d, err, "notice", nn < on, "notice period %s", nn < on ? "shorter" : "longer");
    if (rc == CU_OK && o->fresh_consent && !n->fresh_consent)
        rc = add(d, err, "notice", 1, "fresh consent for changed terms no longer asked");
    return rc;
}

cu_rc cu_policy_diff_compute(const cu_policy *old, const cu_policy *nw, cu_policy_diff *d,
                             cu_err *err)
{
    cu_rc rc;

    memset(d, 0, sizeof(*d));
    if ((rc = diff_purposes(old, nw, d, err)) == CU_OK &&
        (rc = diff_categories(old, nw, d, err)) == CU_OK &&
        (rc = diff_subprocessors(old, nw, d, err)) == CU_OK &&
        (rc = diff_scalars(old, nw, d, err)) == CU_OK &&
        (rc = diff_cookies(old, nw, d, err)) == CU_OK)
        rc = diff_never(old, nw, d, err);
    return rc;
}

void cu_policy_diff_cleanup(cu_policy_diff *d)
{
    if (d == NULL)
        return;
    free(d->changes);
    memset(d, 0, sizeof(*d));
}

int64_t cu_policy_diff_effective(const cu_policy *old, const cu_policy *nw, const cu_policy_diff *d,
                                 int64_t now)
{
    int64_t at, longer;

    if (!d->material)
        return now;
    /* P-NOT-1: the notice the version in force promised. */
    at = cu_duration_add(now, old->notice_period);
    /* P-CON-5: dropping a promise waits the full notice, whichever version's is longer. */
    if (d->never_dropped && (longer = cu_duration_add(now, nw->notice_period)) > at)
        at = longer;
    return at;
}
