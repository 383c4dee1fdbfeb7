/*
 * fuzz_policy.c: libFuzzer target for the policy loader (cu_policy_parse).
 *
 * Checks that the loader never crashes, reads past len (the input is not NUL-terminated) or
 * leaks; that a refusal keeps its contract (CU_ERR_INVALID with "fuzz:LINE: reason" and a line
 * within the input, or CU_ERR_NOMEM, and no policy); and that an accepted policy keeps the
 * invariants the rest of Custos relies on: every reference resolves, every category has
 * fideslang keys, advertising cookies are never set (nor a further category named for them),
 * card-number fields are forbidden, and sensitive fields are indexed. Seeds: the files in
 * policies/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stems no further cookie category's name may hold (P-CON-3; docs/policy.md "cookies"). */
static const char *const ad_stems[] = {"advert", "market", "target", "track"};

static void check_refusal(const uint8_t *data, size_t size, cu_rc rc, const cu_err *err)
{
    size_t lines = 1;
    long line;
    char *end;

    if (rc == CU_ERR_NOMEM)
        return;
    if (rc != CU_ERR_INVALID || err->code != CU_ERR_INVALID || strncmp(err->msg, "fuzz:", 5) != 0)
        abort();
    line = strtol(err->msg + 5, &end, 10);
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    /* libyaml also breaks lines at CR, NEL, LS and PS, and decodes UTF-16: bound by bytes. */
    if (line < 1 || (size_t)line > lines + size || strncmp(end, ": ", 2) != 0)
        abort();
}

static void check_policy(const cu_policy *p)
{
    for (size_t i = 0; i < cu_policy_category_count(p); i++) {
        const cu_policy_category *c = cu_policy_category_at(p, i);
        if (c->n_fides == 0 || cu_policy_category_get(p, c->name) == NULL)
            abort();
        (void)cu_duration_add(0, c->retention.keep);
    }
    for (size_t i = 0; i < cu_policy_purpose_count(p); i++) {
        const cu_policy_purpose *pu = cu_policy_purpose_at(p, i);
        if (pu->n_categories == 0 || cu_policy_purpose_get(p, pu->name) != pu ||
            strcmp(cu_legal_basis_name(pu->basis), "?") == 0)
            abort();
        for (size_t k = 0; k < pu->n_categories; k++)
            if (!cu_policy_purpose_covers(pu, pu->categories[k]->name))
                abort();
    }
    for (size_t i = 0; i < cu_policy_subprocessor_count(p); i++)
        if (cu_policy_subprocessor_at(p, i)->purpose == NULL)
            abort();
    for (size_t i = 0; i < cu_policy_collection_count(p); i++) {
        const cu_policy_collection *c = cu_policy_collection_at(p, i);
        if (c->category == NULL || !cu_collection_name_ok(c->name))
            abort();
        for (size_t k = 0; k < c->n_fields; k++) {
            const cu_field_def *f = &c->fields[k];
            if ((cu_field_is_card_name(f->name) && f->cls != CU_FIELD_FORBIDDEN) ||
                (f->cls == CU_FIELD_SENSITIVE && !f->indexed))
                abort();
        }
    }
    if (cu_policy_cookie(p, CU_COOKIE_ADVERTISING) != CU_COOKIE_NEVER || cu_policy_min_age(p) < 1 ||
        cu_policy_analytics_min_group(p) < 2)
        abort();
    /* P-CON-3: further cookie categories are bounded, named, never set without consent, and
     * never under a name holding a stem that means advertising (review finding 2); Global
     * Privacy Control never turns essential off. */
    if (cu_policy_cookie_count(p) > CU_COOKIE_MAX || cu_policy_cookie_gpc(p, CU_COOKIE_ESSENTIAL))
        abort();
    for (size_t i = CU_COOKIE__COUNT; i < cu_policy_cookie_count(p); i++) {
        const char *name = cu_policy_cookie_name(p, i);
        if (name == NULL || strlen(name) >= CU_COOKIE_NAME_MAX ||
            cu_policy_cookie(p, (cu_cookie_category)i) == CU_COOKIE_ALWAYS)
            abort();
        for (size_t k = 0; k < sizeof(ad_stems) / sizeof(ad_stems[0]); k++)
            if (strstr(name, ad_stems[k]) != NULL)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cu_policy *p = NULL;
    cu_err err;
    cu_rc rc;

    memset(&err, 0, sizeof(err));
    rc = cu_policy_parse((const char *)data, size, "fuzz", &p, &err);
    if (rc != CU_OK) {
        if (p != NULL)
            abort();
        check_refusal(data, size, rc, &err);
        return 0;
    }
    check_policy(p);
    cu_policy_free(p);
    return 0;
}
