/*
 * policy_never.c: what a policy promises never to do (P-CON-5), its `never` list.
 *
 * Each promise excludes fideslang data uses: sale the third-party advertising uses and
 * third-party sharing neither the subject consented to nor the law requires, advertising every
 * marketing.advertising use, model training train_ai_system. Using one customer's data for another
 * has no data use of its own: the vault's tenant isolation keeps it, and the promise still counts
 * in a version's diff. A purpose whose data use a promise excludes is refused when the policy
 * loads, so the API can never bind, and no request can state, a purpose the promises rule out.
 */
#include <string.h>

#include "policy_int.h"

static const char *const never_names[] = {"sale", "advertising", "model_training",
                                          "cross_customer"};

unsigned cu_policy_never(const cu_policy *p)
{
    return p->never;
}

const char *cu_policy_never_name(unsigned bit)
{
    for (size_t i = 0; i < CU_ARRAY_LEN(never_names); i++)
        if (bit == 1u << i)
            return never_names[i];
    return "?";
}

unsigned cu_policy_never_purpose(const cu_policy_purpose *pu)
{
    const char *u = pu->data_use;
    unsigned b = 0;

    if (u == NULL)
        return 0;
    /* Sharing at the subject's own consent is a disclosure the subject directs, not a sale;
     * sharing the law requires neither. */
    if (pol_fides_under(u, "marketing.advertising.third_party") ||
        (pol_fides_under(u, "third_party_sharing") &&
         strcmp(u, "third_party_sharing.legal_obligation") != 0 && pu->basis != CU_BASIS_CONSENT &&
         pu->basis != CU_BASIS_LEGAL_OBLIGATION))
        b |= CU_NEVER_SALE;
    if (pol_fides_under(u, "marketing.advertising"))
        b |= CU_NEVER_ADVERTISING;
    if (pol_fides_under(u, "train_ai_system"))
        b |= CU_NEVER_MODEL_TRAINING;
    return b;
}

/* The lowest promise of never that pu breaks, 0 if none. */
static unsigned broken(unsigned never, const cu_policy_purpose *pu)
{
    unsigned b = cu_policy_never_purpose(pu) & never;

    return b & (~b + 1);
}

cu_rc pol_parse_never(pctx *c, const pnode *v, int at)
{
    cu_policy *p = c->p;
    cu_rc rc;

    (void)at;
    if (v == NULL)
        return CU_OK;
    if ((rc = pol_want_seq(c, v)) != CU_OK)
        return rc;
    for (size_t i = 0; i < v->n; i++) {
        int k = v->kids[i]->kind == PN_SCALAR
                    ? pol_name_index(never_names, CU_ARRAY_LEN(never_names), v->kids[i]->text)
                    : -1;
        if (k < 0)
            return pol_vbad(c, v->kids[i],
                            "a never-promise is one of sale, advertising, model_training, "
                            "cross_customer");
        p->never |= 1u << k;
    }
    /* P-CON-5: no purpose may do what the policy promises never to do. */
    for (size_t i = 0; i < p->n_purposes; i++) {
        unsigned b = broken(p->never, &p->purposes[i]);
        if (b != 0)
            return pol_vbad(c, v, "purpose %s (data use %s) breaks the promise never: %s (P-CON-5)",
                            p->purposes[i].name, p->purposes[i].data_use, cu_policy_never_name(b));
    }
    return CU_OK;
}
