/*
 * cmd_tenant.c: `custos tenant create|list`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http.h"

static const char help[] =
    "usage: custos tenant create NAME [OPTIONS]\n"
    "       custos tenant list [OPTIONS]\n"
    "\n"
    "create makes a tenant with its own tenant, data and index keys and prints it;\n"
    "list prints every tenant, oldest first.\n"
    "\n" CLI_COMMON_HELP;

int cmd_tenant(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTS, {NULL, 0, NULL, 0}};
    cu_ctx ctx = {.actor = "cli", .purpose = "administration"};
    const char *verb;
    cu_vault *v = NULL;
    cu_err err = {0};
    cli_common c;
    int opt, helpme = 0, rc;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!cli_common_opt(&c, opt, optarg, &helpme))
            return cli_usage("tenant", "unknown option");
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("tenant", "create or list?");
    verb = argv[optind++];
    if (strcmp(verb, "create") == 0) {
        cu_tenant t;
        if (optind + 1 != argc)
            return cli_usage("tenant", "create takes one NAME");
        if ((rc = cli_open(&c, &v)) != 0)
            return rc;
        if (cu_tenant_create(v, &ctx, argv[optind], &t, &err) == CU_OK)
            rc = cli_print(cu_http_tenant_json(&t));
        else
            rc = cli_fail(&err);
    } else if (strcmp(verb, "list") == 0) {
        cu_tenant *list = NULL;
        size_t n = 0;
        if (optind != argc)
            return cli_usage("tenant", "list takes no argument");
        if ((rc = cli_open(&c, &v)) != 0)
            return rc;
        if (cu_tenant_list(v, &ctx, &list, &n, &err) == CU_OK) {
            cJSON *arr = cJSON_CreateArray();
            for (size_t i = 0; i < n; i++)
                cJSON_AddItemToArray(arr, cu_http_tenant_json(&list[i]));
            rc = cli_print(arr);
            free(list);
        } else {
            rc = cli_fail(&err);
        }
    } else {
        return cli_usage("tenant", "unknown verb \"%s\"", verb);
    }
    cu_vault_close(v);
    return rc;
}
