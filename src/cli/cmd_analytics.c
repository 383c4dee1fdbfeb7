/*
 * cmd_analytics.c: `custos analytics query|budget`: aggregate analytics from the command line
 * (P-ANA-1; docs/analytics.md), the same query and answer as POST .../aggregate, and the
 * tenant's privacy budget. A refusal prints its stable code (field_not_aggregable, ...) and
 * exits 4, or 2 for a malformed query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "custos_analytics.h"

#define QUERY_MAX ((size_t)1 << 20) /* a query read from stdin, at most */

static const char help[] =
    "usage: custos analytics query --tenant ID --collection NAME [--query JSON] [OPTIONS]\n"
    "       custos analytics budget --tenant ID [--set EPSILON] [OPTIONS]\n"
    "\n"
    "query prints the aggregates of the collection's plain fields (the query as JSON, else read\n"
    "from stdin: docs/analytics.md), with every group of fewer subjects than the policy's\n"
    "min_group_size suppressed; a field that is not plain exits 4 (field_not_aggregable).\n"
    "budget prints the tenant's privacy budget for noisy queries, or sets its total.\n"
    "\n"
    "  --tenant ID             the tenant (required)\n"
    "  --collection NAME       the collection aggregated\n"
    "  --query JSON            {\"measures\":[...],\"group_by\":[...],\"where\":[...]}\n"
    "  --set EPSILON           the budget's new total (0 to 1000)\n" CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200, OPT_COLLECTION, OPT_QUERY, OPT_SET };

typedef struct args {
    const char *tenant, *collection, *query, *set;
} args;

static int parse(int argc, char **argv, cli_common *c, args *a, int *helpme)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"collection", required_argument, NULL, OPT_COLLECTION},
        {"query", required_argument, NULL, OPT_QUERY},
        {"set", required_argument, NULL, OPT_SET},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(c, opt, optarg, helpme))
            continue;
        if (opt == OPT_TENANT)
            a->tenant = optarg;
        else if (opt == OPT_COLLECTION)
            a->collection = optarg;
        else if (opt == OPT_QUERY)
            a->query = optarg;
        else if (opt == OPT_SET)
            a->set = optarg;
        else
            return cli_usage("analytics", "unknown option");
    }
    return 0;
}

static int do_query(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const args *a)
{
    cu_analytics_refusal why = CU_ANALYTICS_OK;
    char *text = NULL, *in = NULL;
    size_t len = 0;
    cu_err err = {0};
    cu_rc rc;

    if (a->collection == NULL)
        return cli_usage("analytics", "query needs --collection");
    if (a->query == NULL && (in = cli_read_stdin(QUERY_MAX, &len)) == NULL)
        return cli_usage("analytics", "no query: --query JSON, or JSON on stdin");
    rc = cu_analytics_query(v, ctx, tenant, a->collection, a->query ? a->query : in,
                            a->query ? strlen(a->query) : len, &text, &why, &err);
    free(in);
    if (rc != CU_OK && why != CU_ANALYTICS_OK) {
        fprintf(stderr, "custos: %s: %s\n", cu_analytics_refusal_code(why), err.msg);
        return why == CU_ANALYTICS_BAD_QUERY ? EXIT_USAGE : 4;
    }
    if (rc != CU_OK)
        return cli_fail(&err);
    puts(text);
    free(text);
    return 0;
}

static int do_budget(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const args *a)
{
    double total = 0, spent = 0;
    cu_err err = {0};
    char *end = NULL;
    cJSON *o;

    if (a->set != NULL) {
        double e = strtod(a->set, &end);
        if (end == a->set || *end != '\0')
            return cli_usage("analytics", "--set takes a number");
        if (cu_analytics_budget_set(v, ctx, tenant, e, &err) != CU_OK)
            return cli_fail(&err);
    }
    if (cu_analytics_budget_get(v, ctx, tenant, &total, &spent, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epsilon", total);
    cJSON_AddNumberToObject(o, "spent", spent);
    cJSON_AddNumberToObject(o, "remaining", total > spent ? total - spent : 0);
    return cli_print(o);
}

int cmd_analytics(int argc, char **argv)
{
    cu_ctx ctx = cli_ctx();
    cu_vault *v = NULL;
    cu_id tenant = 0;
    cli_common c;
    args a = {0};
    int helpme = 0, rc;
    const char *verb;

    cli_common_defaults(&c);
    if ((rc = parse(argc, argv, &c, &a, &helpme)) != 0)
        return rc;
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind + 1 != argc)
        return cli_usage("analytics", "query or budget?");
    verb = argv[optind];
    if (strcmp(verb, "query") != 0 && strcmp(verb, "budget") != 0)
        return cli_usage("analytics", "unknown verb \"%s\"", verb);
    if ((rc = cli_id("analytics", "--tenant", a.tenant, &tenant)) != 0 ||
        (rc = cli_open(&c, &v)) != 0)
        return rc;
    rc =
        strcmp(verb, "query") == 0 ? do_query(v, &ctx, tenant, &a) : do_budget(v, &ctx, tenant, &a);
    cu_vault_close(v);
    return rc;
}
