/*
 * cmd_hold.c: `custos hold place|list|release`: legal holds (P-RET-5) from the command line,
 * which also reaches a purged tenant, whose retained data a hold may still keep and whose
 * staff-less state leaves no API key to release it with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "repr.h"

static const char help[] =
    "usage: custos hold place --tenant ID [--subject S] [--record R] --reason TEXT [OPTIONS]\n"
    "       custos hold list --tenant ID --purpose P [OPTIONS]\n"
    "       custos hold release --tenant ID HOLD --reason TEXT [OPTIONS]\n"
    "\n"
    "A legal hold stops the deletion, anonymization, erasure and shredding of what it covers\n"
    "(the whole tenant, a subject or a record) until it is released (P-RET-5). place prints\n"
    "its id; list prints every hold with its reasons; release ends one, saying why.\n"
    "\n"
    "  --tenant ID             the tenant (required)\n"
    "  --subject S             hold one subject's data\n"
    "  --record R              hold one record\n"
    "  --reason TEXT           why (sealed at rest; required for place and "
    "release)\n" CLI_PURPOSE_HELP CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200, OPT_SUBJECT, OPT_RECORD, OPT_REASON };

static int do_verb(cu_vault *v, const cu_ctx *ctx, const char *verb, cu_id tenant, cu_id subject,
                   cu_id record, const char *reason, cu_id hold)
{
    cu_err err = {0};
    cu_hold *list = NULL;
    size_t n = 0;
    cu_id id;
    cJSON *o;

    if (strcmp(verb, "place") == 0) {
        if (cu_hold_place(v, ctx, tenant, subject, record, reason, &id, &err) != CU_OK)
            return cli_fail(&err);
        o = cJSON_CreateObject();
        cu_repr_add_id(o, "id", id);
        return cli_print(o);
    }
    if (strcmp(verb, "release") == 0) {
        if (cu_hold_release(v, ctx, tenant, hold, reason, &err) != CU_OK)
            return cli_fail(&err);
        o = cJSON_CreateObject();
        cu_repr_add_id(o, "id", hold);
        cJSON_AddBoolToObject(o, "released", 1);
        return cli_print(o);
    }
    if (cu_hold_list(v, ctx, tenant, &list, &n, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(o, cu_repr_hold_json(&list[i]));
        cu_hold_cleanup(&list[i]);
    }
    free(list);
    return cli_print(o);
}

int cmd_hold(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_PURPOSE_OPT,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"record", required_argument, NULL, OPT_RECORD},
        {"reason", required_argument, NULL, OPT_REASON},
        {NULL, 0, NULL, 0},
    };
    cu_ctx ctx = cli_ctx();
    const char *tenant_s = NULL, *subject_s = NULL, *record_s = NULL, *reason = NULL, *verb;
    cu_id tenant = 0, subject = 0, record = 0, hold = 0;
    cu_vault *v = NULL;
    cli_common c;
    int opt, helpme = 0, rc;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme))
            continue;
        if (opt == OPT_TENANT)
            tenant_s = optarg;
        else if (opt == OPT_SUBJECT)
            subject_s = optarg;
        else if (opt == OPT_RECORD)
            record_s = optarg;
        else if (opt == OPT_REASON)
            reason = optarg;
        else
            return cli_usage("hold", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("hold", "place, list or release?");
    verb = argv[optind++];
    if (strcmp(verb, "place") != 0 && strcmp(verb, "list") != 0 && strcmp(verb, "release") != 0)
        return cli_usage("hold", "unknown verb \"%s\"", verb);
    if ((rc = cli_id("hold", "--tenant", tenant_s, &tenant)) != 0 ||
        (subject_s && (rc = cli_id("hold", "--subject", subject_s, &subject)) != 0) ||
        (record_s && (rc = cli_id("hold", "--record", record_s, &record)) != 0))
        return rc;
    if (strcmp(verb, "release") == 0) {
        if (optind + 1 != argc)
            return cli_usage("hold", "release takes one HOLD id");
        if ((rc = cli_id("hold", "HOLD", argv[optind], &hold)) != 0)
            return rc;
    } else if (optind != argc) {
        return cli_usage("hold", "unexpected argument \"%s\"", argv[optind]);
    }
    if (strcmp(verb, "list") != 0 && reason == NULL)
        return cli_usage("hold", "%s needs --reason", verb);
    /* The list shows every hold's reasons, which may name people: staff state a purpose. */
    if (strcmp(verb, "list") == 0)
        rc = cli_open_staff(&c, "hold", tenant, &v, &ctx);
    else
        rc = cli_open(&c, &v);
    if (rc != 0)
        return rc;
    rc = do_verb(v, &ctx, verb, tenant, subject, record, reason, hold);
    cu_vault_close(v);
    return rc;
}
