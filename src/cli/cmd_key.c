/*
 * cmd_key.c: `custos key rotate`: a new master key version (rewrapping every tenant key); with
 * --tenant, a new tenant key version (rewrapping that tenant's keys); with --tenant and
 * --data-key, a new data key version, then the re-encryption pass that seals every value again
 * under it and destroys the old version. `custos key reencrypt --tenant T` runs that pass
 * alone, to finish one a crash interrupted (P-ENC-5).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "repr.h"

static const char help[] =
    "usage: custos key rotate [--tenant ID [--data-key]] [OPTIONS]\n"
    "       custos key reencrypt --tenant ID [OPTIONS]\n"
    "\n"
    "Without --tenant, makes a new master key version, rewraps every tenant key under it in\n"
    "one transaction, then retires the old version from the key file. Crash-safe: a kill at\n"
    "any moment leaves every record readable. With --tenant, makes a new tenant key version\n"
    "and rewraps that tenant's subject, data and index keys; records are not re-encrypted.\n"
    "With --tenant and --data-key, makes a new version of the tenant's data key (new key\n"
    "material), then re-encrypts every value sealed under an older one (records without a\n"
    "subject, legal hold reasons, users' emails and TOTP secrets) and destroys each older\n"
    "version nothing uses any more. reencrypt runs that pass alone, e.g. after a crash.\n"
    "\n"
    "  --tenant ID             rotate this tenant's key instead of the master key\n"
    "  --data-key              with --tenant: rotate its data key and re-encrypt\n"
    CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200, OPT_DATA_KEY };

/* Rotates the tenant's data key (unless only re-encrypting) and runs the re-encryption pass. */
static int data_key(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int rotate)
{
    cu_reencrypt_report rep;
    cu_err err = {0};
    unsigned version = 0;
    cJSON *o;

    if (rotate && cu_key_rotate_data(v, ctx, tenant, &version, &err) != CU_OK)
        return cli_fail(&err);
    if (cu_key_reencrypt(v, ctx, tenant, &rep, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", "data");
    cu_repr_add_id(o, "tenant_id", tenant);
    cJSON_AddNumberToObject(o, "version", rep.version);
    cJSON_AddNumberToObject(o, "records", (double)rep.records);
    cJSON_AddNumberToObject(o, "holds", (double)rep.holds);
    cJSON_AddNumberToObject(o, "users", (double)rep.users);
    cJSON_AddNumberToObject(o, "destroyed", rep.destroyed);
    cJSON_AddNumberToObject(o, "remaining", rep.remaining);
    return cli_print(o);
}

int cmd_key(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"data-key", no_argument, NULL, OPT_DATA_KEY},
        {NULL, 0, NULL, 0},
    };
    cu_ctx ctx = cli_ctx();
    const char *tenant_s = NULL;
    cu_vault *v = NULL;
    cu_err err = {0};
    unsigned version = 0;
    size_t rewrapped = 0;
    cu_id tenant = 0;
    cli_common c;
    int opt, helpme = 0, data = 0, reencrypt, rc;
    cu_rc r;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme))
            continue;
        if (opt == OPT_TENANT)
            tenant_s = optarg;
        else if (opt == OPT_DATA_KEY)
            data = 1;
        else
            return cli_usage("key", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind + 1 != argc ||
        (strcmp(argv[optind], "rotate") != 0 && strcmp(argv[optind], "reencrypt") != 0))
        return cli_usage("key", "expected: rotate or reencrypt");
    reencrypt = strcmp(argv[optind], "reencrypt") == 0;
    if ((data || reencrypt) && tenant_s == NULL)
        return cli_usage("key", "--data-key and reencrypt need --tenant");
    if (tenant_s && (rc = cli_id("key", "--tenant", tenant_s, &tenant)) != 0)
        return rc;
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    if (data || reencrypt) {
        rc = data_key(v, &ctx, tenant, !reencrypt);
        cu_vault_close(v);
        return rc;
    }
    r = tenant ? cu_key_rotate_tenant(v, &ctx, tenant, &version, &rewrapped, &err)
               : cu_key_rotate_master(v, &ctx, &version, &rewrapped, &err);
    if (r == CU_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", tenant ? "tenant" : "master");
        if (tenant)
            cu_repr_add_id(o, "tenant_id", tenant);
        cJSON_AddNumberToObject(o, "version", version);
        cJSON_AddNumberToObject(o, "rewrapped", (double)rewrapped);
        rc = cli_print(o);
    } else {
        rc = cli_fail(&err);
    }
    cu_vault_close(v);
    return rc;
}
