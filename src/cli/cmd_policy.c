/*
 * cmd_policy.c: `custos policy check FILE`: loads a policy file exactly as a tenant's policy
 * is loaded, without opening any vault, and prints a summary of what it declares, or the
 * file, line and reason of its first error (docs/policy.md).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "repr.h"

static const char help[] =
    "usage: custos policy check FILE\n"
    "\n"
    "Validates a policy file (docs/policy.md): YAML syntax, required and unknown keys, value\n"
    "types, durations, references between purposes, categories and collections, and the\n"
    "rules no policy may break (advertising cookies, card-number fields, purposes that need\n"
    "consent). Opens no vault. Prints a JSON summary and exits 0 if the file is valid;\n"
    "otherwise prints the first error on stderr as\n"
    "    custos: invalid: FILE:LINE: reason\n"
    "and exits 4 (3 if FILE does not exist, 6 if it cannot be read).\n"
    "\n"
    "  --help                  show this help\n";

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

int cmd_policy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    cu_policy *p = NULL;
    cu_err err = {0};
    int opt, helpme = 0, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == OPT_HELP)
            helpme = 1;
        else
            return cli_usage("policy", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind + 2 != argc || strcmp(argv[optind], "check") != 0)
        return cli_usage("policy", "expected: check FILE");
    if (cu_policy_load(argv[optind + 1], &p, &err) != CU_OK)
        return cli_fail(&err);
    rc = cli_print(summary(argv[optind + 1], p));
    cu_policy_free(p);
    return rc;
}
