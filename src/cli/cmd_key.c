/*
 * cmd_key.c: `custos key rotate`: a new master key version (rewrapping every tenant key) or,
 * with --tenant, a new tenant key version (rewrapping that tenant's keys). Record data is
 * never touched (P-ENC-5).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "http.h"

static const char help[] =
    "usage: custos key rotate [--tenant ID] [OPTIONS]\n"
    "\n"
    "Without --tenant, makes a new master key version, rewraps every tenant key under it in\n"
    "one transaction, then retires the old version from the key file. Crash-safe: a kill at\n"
    "any moment leaves every record readable. With --tenant, makes a new tenant key version\n"
    "and rewraps that tenant's subject, data and index keys. Records are not re-encrypted.\n"
    "\n"
    "  --tenant ID             rotate this tenant's key instead of the master key\n"
    CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200 };

int cmd_key(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {NULL, 0, NULL, 0},
    };
    cu_ctx ctx = {.actor = "cli", .purpose = "administration", .flags = CU_CTX_LOCAL};
    const char *tenant_s = NULL;
    cu_vault *v = NULL;
    cu_err err = {0};
    unsigned version = 0;
    size_t rewrapped = 0;
    cu_id tenant = 0;
    cli_common c;
    int opt, helpme = 0, rc;
    cu_rc r;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme))
            continue;
        if (opt == OPT_TENANT)
            tenant_s = optarg;
        else
            return cli_usage("key", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind + 1 != argc || strcmp(argv[optind], "rotate") != 0)
        return cli_usage("key", "expected: rotate");
    if (tenant_s && (rc = cli_id("key", "--tenant", tenant_s, &tenant)) != 0)
        return rc;
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    r = tenant ? cu_key_rotate_tenant(v, &ctx, tenant, &version, &rewrapped, &err)
               : cu_key_rotate_master(v, &ctx, &version, &rewrapped, &err);
    if (r == CU_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", tenant ? "tenant" : "master");
        if (tenant)
            cu_http_add_id(o, "tenant_id", tenant);
        cJSON_AddNumberToObject(o, "version", version);
        cJSON_AddNumberToObject(o, "rewrapped", (double)rewrapped);
        rc = cli_print(o);
    } else {
        rc = cli_fail(&err);
    }
    cu_vault_close(v);
    return rc;
}
