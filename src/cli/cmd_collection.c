/*
 * cmd_collection.c: `custos collection define`: a collection's field classes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: custos collection define --tenant ID NAME [--plain F,..] [--personal F,..]\n"
    "                                [--sensitive F,..] [--forbidden F,..] [--indexed F,..]\n"
    "\n"
    "Declares the field classes of collection NAME (replacing any earlier declaration).\n"
    "Sensitive fields are sealed on their own and findable by exact value through a keyed\n"
    "blind index; forbidden fields are refused; --indexed makes plain or personal fields\n"
    "findable too. Undeclared fields are personal. Card-number fields are always forbidden.\n"
    "\n"
    "  --tenant ID             the tenant (required)\n" CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200, OPT_PLAIN, OPT_PERSONAL, OPT_SENSITIVE, OPT_FORBIDDEN, OPT_INDEXED };

#define MAX_FIELDS 256

/* Appends each comma-separated name of list with class cls. */
static int add_fields(char *list, cu_field_class cls, cu_field_def *defs, size_t *n)
{
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_FIELDS)
            return -1;
        defs[*n].name = f;
        defs[*n].cls = cls;
        defs[*n].indexed = 0;
        (*n)++;
    }
    return 0;
}

static void mark_indexed(char *list, cu_field_def *defs, size_t *n)
{
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < *n && strcmp(defs[i].name, f) != 0; i++)
            ;
        if (i == *n && *n < MAX_FIELDS) {
            defs[i].name = f;
            defs[i].cls = CU_FIELD_PERSONAL;
            (*n)++;
        }
        if (i < MAX_FIELDS)
            defs[i].indexed = 1;
    }
}

int cmd_collection(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"plain", required_argument, NULL, OPT_PLAIN},
        {"personal", required_argument, NULL, OPT_PERSONAL},
        {"sensitive", required_argument, NULL, OPT_SENSITIVE},
        {"forbidden", required_argument, NULL, OPT_FORBIDDEN},
        {"indexed", required_argument, NULL, OPT_INDEXED},
        {NULL, 0, NULL, 0},
    };
    cu_ctx ctx = cli_ctx();
    cu_field_def defs[MAX_FIELDS];
    char *indexed = NULL;
    const char *tenant_s = NULL;
    size_t n = 0;
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_id tenant;
    cli_common c;
    int opt, helpme = 0, rc;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme))
            continue;
        if (opt == OPT_TENANT)
            tenant_s = optarg;
        else if (opt == OPT_INDEXED)
            indexed = optarg;
        else if (opt >= OPT_PLAIN && opt <= OPT_FORBIDDEN) {
            if (add_fields(optarg, (cu_field_class)(opt - OPT_PLAIN), defs, &n) != 0)
                return cli_usage("collection", "too many fields");
        } else
            return cli_usage("collection", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind + 2 != argc || strcmp(argv[optind], "define") != 0)
        return cli_usage("collection", "expected: define NAME");
    if ((rc = cli_id("collection", "--tenant", tenant_s, &tenant)) != 0)
        return rc;
    if (indexed)
        mark_indexed(indexed, defs, &n);
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    if (cu_collection_define(v, &ctx, tenant, argv[optind + 1], defs, n, &err) == CU_OK) {
        cJSON *o = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(o, "fields");
        static const char *const names[] = {"plain", "personal", "sensitive", "forbidden"};
        cJSON_AddStringToObject(o, "collection", argv[optind + 1]);
        for (size_t i = 0; i < n; i++) {
            cJSON *d = cJSON_AddObjectToObject(f, defs[i].name);
            cJSON_AddStringToObject(d, "class", names[defs[i].cls]);
            cJSON_AddBoolToObject(d, "indexed",
                                  defs[i].indexed || defs[i].cls == CU_FIELD_SENSITIVE);
        }
        rc = cli_print(o);
    } else {
        rc = cli_fail(&err);
    }
    cu_vault_close(v);
    return rc;
}
