/*
 * cmd_subject.c: `custos subject add|get|find|erase`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "repr.h"

static const char help[] =
    "usage: custos subject add --tenant ID --external-id X [--email E] [--phone P]\n"
    "                          [--birth-date YYYY-MM-DD] [OPTIONS]\n"
    "       custos subject get --tenant ID SUBJECT [OPTIONS]\n"
    "       custos subject find --tenant ID (--email E | --phone P | --external-id X)\n"
    "       custos subject erase --tenant ID SUBJECT [OPTIONS]\n"
    "\n"
    "add creates a data subject with its own key and prints its id; get prints its\n"
    "values; find lists the ids of subjects with an exact (normalized) value, looked up\n"
    "through a keyed blind index; erase destroys the subject's key, then its records.\n"
    "\n"
    "  --tenant ID             the tenant (required)\n" CLI_PURPOSE_HELP CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200, OPT_EXT, OPT_EMAIL, OPT_PHONE, OPT_BIRTH };

static int do_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id)
{
    cu_subject s;
    cu_err err = {0};
    cJSON *o;

    if (cu_subject_get(v, ctx, tenant, id, &s, &err) != CU_OK)
        return cli_fail(&err);
    o = cu_repr_subject_json(&s);
    cu_subject_cleanup(&s);
    return cli_print(o);
}

int cmd_subject(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_PURPOSE_OPT,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"external-id", required_argument, NULL, OPT_EXT},
        {"email", required_argument, NULL, OPT_EMAIL},
        {"phone", required_argument, NULL, OPT_PHONE},
        {"birth-date", required_argument, NULL, OPT_BIRTH},
        {NULL, 0, NULL, 0},
    };
    cu_ctx ctx;
    cu_subject_in in = {0};
    const char *tenant_s = NULL, *verb;
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_id tenant, id;
    cli_common c;
    int opt, helpme = 0, rc;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme))
            continue;
        switch (opt) {
        case OPT_TENANT: tenant_s = optarg; break;
        case OPT_EXT: in.external_id = optarg; break;
        case OPT_EMAIL: in.email = optarg; break;
        case OPT_PHONE: in.phone = optarg; break;
        case OPT_BIRTH: in.birth_date = optarg; break;
        default: return cli_usage("subject", "unknown option");
        }
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("subject", "add, get, find or erase?");
    verb = argv[optind++];
    if ((rc = cli_id("subject", "--tenant", tenant_s, &tenant)) != 0)
        return rc;
    if (strcmp(verb, "add") == 0) {
        if (optind != argc)
            return cli_usage("subject", "add takes options only");
        if ((rc = cli_open_staff(&c, "subject", tenant, &v, &ctx)) != 0)
            return rc;
        if (cu_subject_create(v, &ctx, tenant, &in, &id, &err) == CU_OK) {
            cJSON *o = cJSON_CreateObject();
            cu_repr_add_id(o, "id", id);
            rc = cli_print(o);
        } else {
            rc = cli_fail(&err);
        }
    } else if (strcmp(verb, "get") == 0 || strcmp(verb, "erase") == 0) {
        if (optind + 1 != argc)
            return cli_usage("subject", "%s takes one SUBJECT id", verb);
        if ((rc = cli_id("subject", "SUBJECT", argv[optind], &id)) != 0)
            return rc;
        if ((rc = cli_open_staff(&c, "subject", tenant, &v, &ctx)) != 0)
            return rc;
        if (verb[0] == 'g') {
            rc = do_get(v, &ctx, tenant, id);
        } else if (cu_subject_erase(v, &ctx, tenant, id, &err) == CU_OK) {
            cJSON *o = cJSON_CreateObject();
            cu_repr_add_id(o, "id", id);
            cJSON_AddBoolToObject(o, "erased", 1);
            rc = cli_print(o);
        } else {
            rc = cli_fail(&err);
        }
    } else if (strcmp(verb, "find") == 0) {
        cu_subject_by by;
        const char *value;
        cu_id *ids = NULL;
        size_t n = 0;
        if ((in.email != NULL) + (in.phone != NULL) + (in.external_id != NULL) != 1)
            return cli_usage("subject", "find takes one of --email, --phone, --external-id");
        by = in.email ? CU_SUBJECT_BY_EMAIL
             : in.phone ? CU_SUBJECT_BY_PHONE
                        : CU_SUBJECT_BY_EXTERNAL_ID;
        value = in.email ? in.email : in.phone ? in.phone : in.external_id;
        if ((rc = cli_open_staff(&c, "subject", tenant, &v, &ctx)) != 0)
            return rc;
        if (cu_subject_find(v, &ctx, tenant, by, value, &ids, &n, &err) == CU_OK)
            rc = cli_print(cu_repr_ids_json(ids, n));
        else
            rc = cli_fail(&err);
        free(ids);
    } else {
        return cli_usage("subject", "unknown verb \"%s\"", verb);
    }
    cu_vault_close(v);
    return rc;
}
