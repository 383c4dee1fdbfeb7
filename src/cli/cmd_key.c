/*
 * cmd_key.c: `custos key rotate`: a new master key version (rewrapping every tenant key); with
 * --tenant, a new tenant key version (rewrapping that tenant's keys); with --tenant and
 * --data-key, a new data key version, then the re-encryption pass that seals every value again
 * under it and destroys the old version. `custos key reencrypt --tenant T` runs that pass
 * alone, to finish one a crash interrupted (P-ENC-5). Key epochs (P-RET-3): `custos key epoch`
 * rotates the master key if personal data was deleted since its newest version, then retires;
 * `custos key retire` destroys the retired master versions whose window has passed; `custos
 * key status` lists the versions in the key file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "repr.h"

static const char help[] =
    "usage: custos key rotate [--tenant ID [--data-key]] [OPTIONS]\n"
    "       custos key reencrypt --tenant ID [OPTIONS]\n"
    "       custos key epoch | retire | status [OPTIONS]\n"
    "\n"
    "Without --tenant, makes a new master key version, rewraps every tenant key under it in\n"
    "one transaction, then marks the old version retired in the key file (destroyed by\n"
    "retire once no unexpired backup may need it). Crash-safe: a kill at any moment leaves\n"
    "every record readable. With --tenant, makes a new tenant key version\n"
    "and rewraps that tenant's subject, data and index keys; records are not re-encrypted.\n"
    "With --tenant and --data-key, makes a new version of the tenant's data key (new key\n"
    "material), then re-encrypts every value sealed under an older one (records without a\n"
    "subject, legal hold reasons, users' emails and TOTP secrets, webhook secrets) and\n"
    "destroys each older version nothing uses any more. reencrypt runs that pass alone, e.g. after a crash.\n"
    "\n"
    "Key epochs (docs/keys.md): epoch rotates the master key if personal data was deleted\n"
    "since its newest version, then retires (custos serve does it every --epoch-interval).\n"
    "retire destroys each retired master version older than the longest backup window (30\n"
    "days, or a tenant policy's backup_window if longer) that the database no longer\n"
    "references: then no copy of the data older than its rotation opens with the key file.\n"
    "status lists the versions, when each was retired and when it may be destroyed.\n"
    "\n"
    "  --tenant ID             rotate this tenant's key instead of the master key\n"
    "  --data-key              with --tenant: rotate its data key and re-encrypt\n"
    CLI_QUIET_HELP CLI_COMMON_HELP;

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
    cJSON_AddNumberToObject(o, "webhooks", (double)rep.webhooks);
    cJSON_AddNumberToObject(o, "destroyed", rep.destroyed);
    cJSON_AddNumberToObject(o, "remaining", rep.remaining);
    return cli_print(o);
}

static void add_retire(cJSON *o, const cu_key_retire_report *r)
{
    cJSON_AddNumberToObject(o, "current", r->current);
    cJSON_AddNumberToObject(o, "destroyed", r->destroyed);
    cJSON_AddNumberToObject(o, "retained", r->retained);
    cJSON_AddNumberToObject(o, "referenced", r->referenced);
    cJSON_AddNumberToObject(o, "next_destroy", (double)r->next_destroy);
}

/* key status: the master versions in the key file. */
static int key_status(cu_vault *v)
{
    cu_key_version_info *list = NULL;
    cu_err err = {0};
    size_t n = 0;
    int pending = 0;
    cJSON *o, *a;

    if (cu_key_versions(v, &list, &n, &pending, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "epoch_due", pending);
    a = cJSON_AddArrayToObject(o, "versions");
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "version", list[i].version);
        cJSON_AddStringToObject(x, "state", list[i].current      ? "current"
                                            : list[i].retired_at ? "retired"
                                                                 : "pending");
        if (list[i].retired_at) {
            cJSON_AddNumberToObject(x, "retired_at", (double)list[i].retired_at);
            cJSON_AddNumberToObject(x, "destroy_at", (double)list[i].destroy_at);
        }
        cJSON_AddItemToArray(a, x);
    }
    free(list);
    return cli_print(o);
}

/* key epoch, key retire, key status. */
static int key_epochs(cu_vault *v, const cu_ctx *ctx, const char *what)
{
    cu_key_epoch_report ep;
    cu_key_retire_report rr;
    cu_err err = {0};
    cJSON *o;

    if (strcmp(what, "status") == 0)
        return key_status(v);
    if (strcmp(what, "retire") == 0) {
        if (cu_key_retire(v, ctx, &rr, &err) != CU_OK)
            return cli_fail(&err);
        o = cJSON_CreateObject();
        add_retire(o, &rr);
        return cli_print(o);
    }
    if (cu_key_epoch(v, ctx, 0, &ep, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "epoch_due", ep.pending);
    cJSON_AddBoolToObject(o, "rotated", ep.rotated);
    cJSON_AddNumberToObject(o, "rewrapped", (double)ep.rewrapped);
    add_retire(o, &ep.retire);
    return cli_print(o);
}

int cmd_key(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_QUIET_OPT,
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
    int opt, helpme = 0, data = 0, reencrypt, epochs, rc;
    cli_progress p;
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
    if (optind + 1 != argc)
        return cli_usage("key", "expected: rotate, reencrypt, epoch, retire or status");
    epochs = strcmp(argv[optind], "epoch") == 0 || strcmp(argv[optind], "retire") == 0 ||
             strcmp(argv[optind], "status") == 0;
    if (!epochs && strcmp(argv[optind], "rotate") != 0 && strcmp(argv[optind], "reencrypt") != 0)
        return cli_usage("key", "expected: rotate, reencrypt, epoch, retire or status");
    if (epochs && (tenant_s || data))
        return cli_usage("key", "%s takes no --tenant or --data-key", argv[optind]);
    reencrypt = strcmp(argv[optind], "reencrypt") == 0;
    if ((data || reencrypt) && tenant_s == NULL)
        return cli_usage("key", "--data-key and reencrypt need --tenant");
    if (tenant_s && (rc = cli_id("key", "--tenant", tenant_s, &tenant)) != 0)
        return rc;
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    if (epochs) {
        rc = key_epochs(v, &ctx, argv[optind]);
        cu_vault_close(v);
        return rc;
    }
    cli_progress_init(&p, NULL, c.quiet, 0);
    cli_progress_hook(&p);
    if (data || reencrypt) {
        rc = data_key(v, &ctx, tenant, !reencrypt);
        cli_progress_done(&p);
        cu_vault_close(v);
        return rc;
    }
    r = tenant ? cu_key_rotate_tenant(v, &ctx, tenant, &version, &rewrapped, &err)
               : cu_key_rotate_master(v, &ctx, &version, &rewrapped, &err);
    cli_progress_done(&p);
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
