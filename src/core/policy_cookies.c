/*
 * policy_cookies.c: the policy's `cookies` section (P-CON-3; docs/policy.md "cookies").
 *
 *   cookies:
 *     essential: always          # always or never
 *     analytics: consent         # consent or never
 *     preference: consent        # consent or never
 *     advertising: never         # never, whatever the file says
 *     functional: consent        # further categories: consent or never
 *     gpc: [analytics, advertising]
 *
 * P-CON-3 holds whatever the file says: advertising cookies are never set, every category but
 * essential needs consent, and a category the section leaves out is never set. A policy may
 * name up to CU_COOKIE_MORE_MAX further categories ([a-z][a-z0-9_]*, under CU_COOKIE_NAME_MAX
 * bytes; "any other only as the policy allows", issue 14), never under a name that means
 * advertising (means_advertising). `gpc` lists what Global Privacy Control turns off; without it, every category
 * but essential.
 */
#include <string.h>

#include "policy_int.h"

/* P-CON-3: advertising has its one category, never set, so a further category may not take a
 * name that means advertising, however it is spelled (review finding 2: an exact list let
 * `adverts`, `targeted_ads` and `remarketing` through). The rule: a name that contains one of
 * these stems anywhere (advertising, adverts, marketing, remarketing, targeted, retargeting,
 * tracking, tracker ...) ... */
static const char *const ad_stems[] = {"advert", "market", "target", "track"};
/* ... or a word of which (a run of letters: the name split at `_` and digits) is one of these
 * (ad_personalization, third_party_ads, ads2). */
static const char *const ad_words[] = {"ad",          "ads",       "adtech",   "behavioral",
                                       "behavioural", "profiling", "sponsored"};

/* Whether name (a [a-z][a-z0-9_]* identifier) means advertising, by the rule above. */
static int means_advertising(const char *name)
{
    for (size_t i = 0; i < CU_ARRAY_LEN(ad_stems); i++)
        if (strstr(name, ad_stems[i]) != NULL)
            return 1;
    for (const char *w = name; *w != '\0';) {
        size_t n = 0;
        while (w[n] >= 'a' && w[n] <= 'z')
            n++;
        for (size_t i = 0; n > 0 && i < CU_ARRAY_LEN(ad_words); i++)
            if (strlen(ad_words[i]) == n && memcmp(w, ad_words[i], n) == 0)
                return 1;
        w += n > 0 ? n : 1; /* past the word, or past one separator */
    }
    return 0;
}

/* The category named name (built-in or further), or -1. */
static int category_of(const cu_policy *p, const char *name)
{
    int i = pol_name_index(pol_cookie.names, pol_cookie.n, name);

    for (size_t k = 0; i < 0 && k < p->n_cookie_more; k++)
        if (strcmp(p->cookie_more[k], name) == 0)
            i = CU_COOKIE__COUNT + (int)k;
    return i;
}

/* A further category's name, added to the policy: its index in *cat. */
static cu_rc more_category(pctx *c, const pnode *k, int *cat)
{
    const char *name;
    cu_rc rc;

    if ((rc = pol_want_ident(c, k, "cookie category", &name)) != CU_OK)
        return rc;
    if (strlen(name) >= CU_COOKIE_NAME_MAX)
        return pol_vbad(c, k, "a cookie category's name is under %d bytes", CU_COOKIE_NAME_MAX);
    /* `gpc` is the section's own key; a name that means advertising is no category (P-CON-3) */
    if (strcmp(name, "gpc") == 0 || means_advertising(name))
        return pol_vbad(c, k,
                        "\"%s\" is no cookie category of its own: advertising cookies are "
                        "`advertising`, never set (P-CON-3)",
                        name);
    if (c->p->n_cookie_more == CU_COOKIE_MORE_MAX)
        return pol_vbad(c, k, "at most %d cookie categories besides the four",
                        CU_COOKIE_MORE_MAX);
    if ((c->p->cookie_more[c->p->n_cookie_more] = pol_strdup(c->p, name)) == NULL)
        return pol_nomem(c);
    *cat = CU_COOKIE__COUNT + (int)c->p->n_cookie_more++;
    return CU_OK;
}

/* One `category: rule` of the section. */
static cu_rc category_rule(pctx *c, const pnode *k, const pnode *r)
{
    int cat, rule;
    cu_rc rc;

    if (k->kind != PN_SCALAR)
        return pol_vbad(c, k, "expected a cookie category");
    cat = pol_name_index(pol_cookie.names, pol_cookie.n, k->text);
    if ((cat < 0 && (rc = more_category(c, k, &cat)) != CU_OK) ||
        (rc = pol_want_enum(c, r, &pol_rule, "cookie rule", &rule)) != CU_OK)
        return rc;
    if (cat == CU_COOKIE_ADVERTISING && rule != CU_COOKIE_NEVER)
        return pol_vbad(c, r, "advertising cookies are never allowed (P-CON-3)");
    if (cat == CU_COOKIE_ESSENTIAL && rule == CU_COOKIE_WITH_CONSENT)
        return pol_vbad(c, r, "essential cookies need no consent: always or never");
    if (cat != CU_COOKIE_ESSENTIAL && rule == CU_COOKIE_ALWAYS)
        return pol_vbad(c, r, "%s cookies need consent (P-CON-3): consent or never", k->text);
    c->p->cookies[cat] = (cu_cookie_rule)rule;
    return CU_OK;
}

/* The `gpc` list: each a category of the section (or one of the four), none twice, essential
 * never (it is no choice; GPC opts out of sale and sharing, not of the service). An empty list
 * is allowed: the policy says its cookies feed no sale or sharing. */
static cu_rc gpc_list(pctx *c, const pnode *v)
{
    uint32_t off = 0;
    char b[48];
    cu_rc rc;

    if ((rc = pol_want_seq(c, v)) != CU_OK)
        return rc;
    for (size_t i = 0; i < v->n; i++) {
        const pnode *x = v->kids[i];
        int cat = x->kind == PN_SCALAR ? category_of(c->p, x->text) : -1;
        if (cat < 0)
            return pol_vbad(c, x, "\"%s\" is no cookie category of this policy",
                            x->kind == PN_SCALAR ? pol_show(x->text, b) : "?");
        if (cat == CU_COOKIE_ESSENTIAL)
            return pol_vbad(c, x,
                            "essential cookies are no choice: Global Privacy Control cannot "
                            "turn them off");
        if (off & (UINT32_C(1) << cat))
            return pol_vbad(c, x, "%s is listed twice", x->text);
        off |= UINT32_C(1) << cat;
    }
    c->p->cookies_gpc = off;
    return CU_OK;
}

cu_rc pol_parse_cookies(pctx *c, const pnode *v, int at)
{
    const pnode *gpc = NULL;
    size_t w;
    cu_rc rc;

    (void)at;
    if ((rc = pol_want_map(c, v)) != CU_OK)
        return rc;
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        const pnode *k = MAP_KEY(v, i);
        if (k->kind == PN_SCALAR && strcmp(k->text, "gpc") == 0)
            gpc = MAP_VAL(v, i);
        else if ((rc = category_rule(c, k, MAP_VAL(v, i))) != CU_OK)
            return rc;
    }
    /* Without a list, the conservative reading: GPC refuses every category that is a choice
     * (docs/consent.md). */
    c->p->cookies_gpc = ~(UINT32_C(1) << CU_COOKIE_ESSENTIAL);
    if (gpc == NULL)
        return CU_OK;
    w = pol_where_push(c, "gpc");
    rc = gpc_list(c, gpc);
    pol_where_pop(c, w);
    return rc;
}
