/*
 * cmd_policy.c: `custos policy check FILE` loads a policy file exactly as a tenant's policy is
 * loaded, without opening any vault, and prints a summary of what it declares, or the file,
 * line and reason of its first error (docs/policy.md). `check --against OLD NEW` prints what
 * changes from OLD to NEW and whether it is material (P-NOT-1). `pending`, `withdraw` and
 * `fresh` show a tenant's pending version with its diff, withdraw it, and list the subjects
 * who must consent again (P-NOT-2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "repr.h"

static const char help[] =
    "usage: custos policy check FILE\n"
    "       custos policy check --against OLD NEW\n"
    "       custos policy pending|withdraw --tenant ID [OPTIONS]\n"
    "       custos policy fresh --tenant ID [--after SUBJECT] [--limit N] [OPTIONS]\n"
    "\n"
    "check validates a policy file (docs/policy.md): YAML syntax, required and unknown keys,\n"
    "value types, durations, references between purposes, categories and collections, and the\n"
    "rules no policy may break (advertising cookies, card-number fields, purposes that need\n"
    "consent, purposes its never-promises exclude). Opens no vault. Prints a JSON summary and\n"
    "exits 0 if the file is valid; otherwise prints the first error on stderr as\n"
    "    custos: invalid: FILE:LINE: reason\n"
    "and exits 4 (3 if FILE does not exist, 6 if it cannot be read). With --against OLD it\n"
    "prints what changes from OLD to NEW, whether the change is material (then it waits for\n"
    "OLD's notice period) and the purposes whose terms changed.\n"
    "\n"
    "pending prints the tenant's pending policy version, when it takes effect and its diff\n"
    "against the version in force; withdraw withdraws it before it takes effect; fresh lists\n"
    "the subjects whose consent to a changed purpose must be given again.\n"
    "\n"
    "  --against OLD           the version to compare NEW with (check)\n"
    "  --tenant ID             the tenant (pending, withdraw, fresh)\n"
    "  --after SUBJECT         list subjects with ids above this (fresh)\n"
    "  --limit N               at most N entries (fresh; default 100)\n" CLI_COMMON_HELP;

enum { OPT_AGAINST = 0x200, OPT_TENANT, OPT_AFTER, OPT_LIMIT };

typedef struct policy_opts {
    cli_common c;
    const char *against, *tenant_s, *after_s;
    size_t limit;
} policy_opts;

/* The summary: what the policy is, and how much of each section it declares. */
static cJSON *summary(const char *path, const cu_policy *p)
{
    cJSON *o = cJSON_CreateObject(), *n = cJSON_CreateObject();
    size_t fields = 0, consent = 0, staff = 0;

    for (size_t i = 0; i < cu_policy_collection_count(p); i++)
        fields += cu_policy_collection_at(p, i)->n_fields;
    for (size_t i = 0; i < cu_policy_purpose_count(p); i++) {
        consent += cu_policy_purpose_at(p, i)->basis == CU_BASIS_CONSENT;
        staff += cu_policy_purpose_at(p, i)->operator_ok != 0;
    }
    cJSON_AddStringToObject(o, "file", path);
    cJSON_AddStringToObject(o, "id", cu_policy_id(p));
    cJSON_AddStringToObject(o, "name", cu_policy_name(p));
    cJSON_AddStringToObject(o, "version", cu_policy_version(p));
    cu_repr_add_time(o, "effective", cu_policy_effective(p));
    cJSON_AddStringToObject(o, "role", cu_data_role_name(cu_policy_role(p)));
    cJSON_AddNumberToObject(o, "minimum_age", cu_policy_min_age(p));
    cJSON_AddItemToObject(o, "never", cu_repr_policy_never_json(p));
    cJSON_AddNumberToObject(n, "categories", (double)cu_policy_category_count(p));
    cJSON_AddNumberToObject(n, "purposes", (double)cu_policy_purpose_count(p));
    cJSON_AddNumberToObject(n, "consent_purposes", (double)consent);
    cJSON_AddNumberToObject(n, "operator_purposes", (double)staff);
    cJSON_AddNumberToObject(n, "sub_processors", (double)cu_policy_subprocessor_count(p));
    cJSON_AddNumberToObject(n, "collections", (double)cu_policy_collection_count(p));
    cJSON_AddNumberToObject(n, "fields", (double)fields);
    cJSON_AddItemToObject(o, "counts", n);
    return o;
}

/* `check --against OLD NEW`: the diff, as PUT .../policy would judge it. */
static int check_against(const char *oldp, const char *newp)
{
    cu_policy *o = NULL, *n = NULL;
    cu_policy_diff d;
    cu_err err = {0};
    cJSON *out;
    int rc;

    memset(&d, 0, sizeof(d));
    if (cu_policy_load(oldp, &o, &err) != CU_OK || cu_policy_load(newp, &n, &err) != CU_OK ||
        cu_policy_diff_compute(o, n, &d, &err) != CU_OK) {
        rc = cli_fail(&err);
    } else {
        out = cu_repr_policy_diff_json(&d);
        cJSON_AddStringToObject(out, "old", oldp);
        cJSON_AddStringToObject(out, "new", newp);
        /* Days from binding: 0 at once, else the notice the version in force promised. */
        cJSON_AddNumberToObject(out, "notice_days",
                                (double)(cu_policy_diff_effective(o, n, &d, 0) / 86400));
        cJSON_AddBoolToObject(out, "fresh_consent",
                              d.material && (cu_policy_fresh_consent(o) ||
                                             cu_policy_fresh_consent(n) || d.never_dropped));
        rc = cli_print(out);
    }
    cu_policy_diff_cleanup(&d);
    cu_policy_free(o);
    cu_policy_free(n);
    return rc;
}

/* `pending`: the pending version and its diff; `withdraw`: withdraws it. */
static int pending(const policy_opts *op, cu_id tenant, int withdraw)
{
    cu_ctx ctx = cli_ctx();
    cu_vault *v = NULL;
    cu_policy_state st;
    cu_policy_diff d;
    cu_err err = {0};
    cJSON *o;
    int rc;

    if ((rc = cli_open(&op->c, &v)) != 0)
        return rc;
    memset(&d, 0, sizeof(d));
    if (cu_policy_pending_diff(v, tenant, &st, &d, &err) != CU_OK ||
        (withdraw && cu_policy_withdraw(v, &ctx, tenant, st.pending, &err) != CU_OK)) {
        rc = cli_fail(&err);
    } else {
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, withdraw ? "withdrawn" : "version", st.pending);
        cJSON_AddNumberToObject(o, "version_in_force", st.current);
        cu_repr_add_time(o, "effective_at", st.pending_at);
        if (!withdraw) {
            cJSON_AddItemToObject(o, "diff", cu_repr_policy_diff_json(&d));
            cJSON_AddItemToObject(o, "fresh_consent", cu_repr_fresh_json(st.fresh));
        }
        rc = cli_print(o);
    }
    cu_policy_diff_cleanup(&d);
    cu_vault_close(v);
    return rc;
}

/* `fresh`: the subjects who must consent again (ids and purpose names). */
static int fresh(const policy_opts *op, cu_id tenant)
{
    cu_vault *v = NULL;
    cu_fresh_need *list = NULL;
    cu_id after = 0;
    size_t n = 0;
    int more = 0, rc;
    cu_err err = {0};
    cJSON *o, *a;

    if (op->after_s != NULL && (rc = cli_id("policy", "--after", op->after_s, &after)) != 0)
        return rc;
    if ((rc = cli_open(&op->c, &v)) != 0)
        return rc;
    if (cu_policy_fresh_needed(v, tenant, after, op->limit, &list, &n, &more, &err) != CU_OK) {
        rc = cli_fail(&err);
    } else {
        o = cJSON_CreateObject();
        a = cJSON_AddArrayToObject(o, "subjects");
        for (size_t i = 0; i < n; i++) {
            cJSON *s = cJSON_CreateObject();
            cu_repr_add_id(s, "subject_id", list[i].subject);
            cJSON_AddStringToObject(s, "purpose", list[i].purpose);
            cu_repr_add_time(s, "stops_counting_at", list[i].due);
            cJSON_AddItemToArray(a, s);
        }
        cJSON_AddBoolToObject(o, "more", more);
        rc = cli_print(o);
    }
    free(list);
    cu_vault_close(v);
    return rc;
}

/* The verbs after the options. */
static int run(const policy_opts *op, int argc, char **argv)
{
    const char *verb = optind < argc ? argv[optind] : "";
    cu_policy *p = NULL;
    cu_id tenant = 0;
    cu_err err = {0};
    int rc;

    if (strcmp(verb, "check") == 0) {
        if (optind + 2 != argc)
            return cli_usage("policy", "expected: check [--against OLD] FILE");
        if (op->against != NULL)
            return check_against(op->against, argv[optind + 1]);
        if (cu_policy_load(argv[optind + 1], &p, &err) != CU_OK)
            return cli_fail(&err);
        rc = cli_print(summary(argv[optind + 1], p));
        cu_policy_free(p);
        return rc;
    }
    if (strcmp(verb, "pending") != 0 && strcmp(verb, "withdraw") != 0 && strcmp(verb, "fresh") != 0)
        return cli_usage("policy", "expected: check, pending, withdraw or fresh");
    if (optind + 1 != argc)
        return cli_usage("policy", "%s takes no argument", verb);
    if ((rc = cli_id("policy", "--tenant", op->tenant_s, &tenant)) != 0)
        return rc;
    if (strcmp(verb, "fresh") == 0)
        return fresh(op, tenant);
    return pending(op, tenant, strcmp(verb, "withdraw") == 0);
}

int cmd_policy(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"against", required_argument, NULL, OPT_AGAINST},
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"after", required_argument, NULL, OPT_AFTER},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    policy_opts op = {.limit = 100};
    int opt, helpme = 0;

    cli_common_defaults(&op.c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&op.c, opt, optarg, &helpme))
            continue;
        if (opt == OPT_AGAINST)
            op.against = optarg;
        else if (opt == OPT_TENANT)
            op.tenant_s = optarg;
        else if (opt == OPT_AFTER)
            op.after_s = optarg;
        else if (opt == OPT_LIMIT && (op.limit = strtoul(optarg, NULL, 10)) > 0 && op.limit <= 1000)
            continue;
        else
            return cli_usage("policy",
                             opt == OPT_LIMIT ? "--limit is 1 to 1000" : "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    return run(&op, argc, argv);
}
