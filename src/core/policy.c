/*
 * policy.c: a loaded policy's arena, its release and its getters (the policy section of
 * include/custos.h). The loader that fills a policy is policy_parse.c and the files it names
 * (policy_int.h); what it reads here it only reads.
 *
 * Every string and array of a policy lives in chunks of one arena, freed at once by
 * cu_policy_free, so the getters hand out const pointers that all die with the policy.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* --- the arena: every string and array of a policy, freed at once ------------------------- */

#define CHUNK_SIZE 16384

struct cu_policy_chunk {
    cu_policy_chunk *next;
    size_t used, cap;
    max_align_t mem[];
};

/* n zeroed bytes owned by p, or NULL when out of memory. */
void *pol_alloc(cu_policy *p, size_t n)
{
    const size_t a = sizeof(max_align_t);
    cu_policy_chunk *c = p->arena;
    void *r;

    if (n > SIZE_MAX / 2)
        return NULL;
    n = n == 0 ? a : (n + a - 1) / a * a;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        if ((c = malloc(sizeof(*c) + cap)) == NULL)
            return NULL;
        c->next = p->arena;
        c->used = 0;
        c->cap = cap;
        p->arena = c;
    }
    r = (char *)c->mem + c->used;
    c->used += n;
    memset(r, 0, n);
    return r;
}

void *pol_array(cu_policy *p, size_t count, size_t size)
{
    return count > SIZE_MAX / 2 / size ? NULL : pol_alloc(p, count * size);
}

char *pol_strdup(cu_policy *p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = pol_alloc(p, n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

void cu_policy_free(cu_policy *p)
{
    if (p == NULL)
        return;
    while (p->arena != NULL) {
        cu_policy_chunk *next = p->arena->next;
        free(p->arena);
        p->arena = next;
    }
    free(p);
}

/* --- getters ------------------------------------------------------------------------------ */

const char *cu_policy_id(const cu_policy *p)
{
    return p->id;
}

const char *cu_policy_name(const cu_policy *p)
{
    return p->name;
}

const char *cu_policy_version(const cu_policy *p)
{
    return p->version;
}

int64_t cu_policy_effective(const cu_policy *p)
{
    return p->effective;
}

cu_data_role cu_policy_role(const cu_policy *p)
{
    return p->role;
}

unsigned cu_policy_min_age(const cu_policy *p)
{
    return p->min_age;
}

cu_dsr_deadlines cu_policy_dsr(const cu_policy *p)
{
    return p->dsr;
}

cu_duration cu_policy_notice_period(const cu_policy *p)
{
    return p->notice_period;
}

int cu_policy_category_is_log(const cu_policy_category *c)
{
    for (size_t f = 0; f < c->n_fides; f++)
        if (strncmp(c->fides[f], "system.operations", 17) == 0)
            return 1;
    return 0;
}

/* P-RET-4: a log category counted from its entries' creation keeps them at least floor_days.
 * One counted from the subscription's end keeps the whole log while the tenant is active; the
 * sweep keeps the floor after it too. */
cu_rc cu_policy_log_floor_check(const cu_policy *p, unsigned floor_days, cu_err *err)
{
    for (size_t i = 0; i < p->n_categories; i++) {
        const cu_policy_category *c = &p->categories[i];
        const cu_retention *r = &c->retention;
        if (!cu_policy_category_is_log(c) || r->from == CU_RETAIN_FROM_SUBSCRIPTION_END ||
            r->from == CU_RETAIN_FROM_REQUEST_RECEIVED)
            continue;
        if (cu_duration_add(0, r->keep) < (int64_t)floor_days * 86400)
            return cu_err_set(err, CU_ERR_INVALID,
                              "category %s keeps the audit log less than the platform's floor "
                              "of %u days",
                              c->name, floor_days);
    }
    return CU_OK;
}

int cu_policy_fresh_consent(const cu_policy *p)
{
    return p->fresh_consent;
}

cu_duration cu_policy_export_window(const cu_policy *p)
{
    return p->export_window;
}

cu_duration cu_policy_backup_window(const cu_policy *p)
{
    return p->backup_window;
}

unsigned cu_policy_analytics_min_group(const cu_policy *p)
{
    return p->analytics_min_group;
}

size_t cu_policy_cookie_count(const cu_policy *p)
{
    return CU_COOKIE__COUNT + p->n_cookie_more;
}

const char *cu_policy_cookie_name(const cu_policy *p, size_t i)
{
    if (i < CU_COOKIE__COUNT)
        return pol_cookie.names[i];
    return i < cu_policy_cookie_count(p) ? p->cookie_more[i - CU_COOKIE__COUNT] : NULL;
}

cu_cookie_rule cu_policy_cookie(const cu_policy *p, cu_cookie_category c)
{
    return (size_t)c < cu_policy_cookie_count(p) ? p->cookies[c] : CU_COOKIE_NEVER;
}

int cu_policy_cookie_gpc(const cu_policy *p, cu_cookie_category c)
{
    return (size_t)c < cu_policy_cookie_count(p) && c != CU_COOKIE_ESSENTIAL &&
           (p->cookies_gpc >> c & 1u) != 0;
}

size_t cu_policy_category_count(const cu_policy *p)
{
    return p->n_categories;
}

const cu_policy_category *cu_policy_category_at(const cu_policy *p, size_t i)
{
    return i < p->n_categories ? &p->categories[i] : NULL;
}

const cu_policy_category *cu_policy_category_get(const cu_policy *p, const char *name)
{
    /* While loading, entries past the one being read have no name yet. */
    for (size_t i = 0; i < p->n_categories && p->categories[i].name != NULL; i++)
        if (strcmp(p->categories[i].name, name) == 0)
            return &p->categories[i];
    return NULL;
}

size_t cu_policy_purpose_count(const cu_policy *p)
{
    return p->n_purposes;
}

const cu_policy_purpose *cu_policy_purpose_at(const cu_policy *p, size_t i)
{
    return i < p->n_purposes ? &p->purposes[i] : NULL;
}

const cu_policy_purpose *cu_policy_purpose_get(const cu_policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_purposes && p->purposes[i].name != NULL; i++)
        if (strcmp(p->purposes[i].name, name) == 0)
            return &p->purposes[i];
    return NULL;
}

const cu_policy_purpose *cu_policy_operator_purpose(const cu_policy *p, const char *name)
{
    const cu_policy_purpose *pu = cu_policy_purpose_get(p, name);

    return pu != NULL && pu->operator_ok ? pu : NULL;
}

int cu_policy_purpose_covers(const cu_policy_purpose *pu, const char *category)
{
    for (size_t i = 0; i < pu->n_categories; i++)
        if (strcmp(pu->categories[i]->name, category) == 0)
            return 1;
    return 0;
}

size_t cu_policy_subprocessor_count(const cu_policy *p)
{
    return p->n_subprocessors;
}

const cu_policy_subprocessor *cu_policy_subprocessor_at(const cu_policy *p, size_t i)
{
    return i < p->n_subprocessors ? &p->subprocessors[i] : NULL;
}

size_t cu_policy_collection_count(const cu_policy *p)
{
    return p->n_collections;
}

const cu_policy_collection *cu_policy_collection_at(const cu_policy *p, size_t i)
{
    return i < p->n_collections ? &p->collections[i] : NULL;
}

const cu_policy_collection *cu_policy_collection_get(const cu_policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_collections; i++)
        if (strcmp(p->collections[i].name, name) == 0)
            return &p->collections[i];
    return NULL;
}
