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
    "through a keyed blind index; erase destroys the subject's key, then its records, but\n"
    "for what a legal obligation of the policy keeps, and prints the signed erasure\n"
    "certificate (`custos audit verify-certificate FILE` checks it).\n"
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

/* The options the verbs share, parsed (and --tenant checked) before the verb. */
typedef struct subject_opts {
    cli_common c;
    cu_subject_in in; /* --external-id, --email, --phone, --birth-date */
    cu_id tenant;
} subject_opts;

/* `subject add`. Each verb returns an exit code. */
static int subject_add(const subject_opts *op, const char *verb, int argc, char **argv)
{
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_ctx ctx;
    cu_id id;
    int rc;

    (void)verb;
    (void)argv;
    if (optind != argc)
        return cli_usage("subject", "add takes options only");
    if ((rc = cli_open_staff(&op->c, "subject", op->tenant, &v, &ctx)) != 0)
        return rc;
    if (cu_subject_create(v, &ctx, op->tenant, &op->in, &id, &err) == CU_OK)
        rc = cli_print_id(id, NULL);
    else
        rc = cli_fail(&err);
    cu_vault_close(v);
    return rc;
}

/* P-DSR-4: answers once the key is destroyed, as the API does, then deletes the rows before it
 * exits (the erasure thread, then whatever it left). */
static int do_erase(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id)
{
    cJSON *o, *c = NULL;
    char *cert = NULL;
    cu_err err = {0};
    int rc;

    /* P-RET-4: what a legal obligation keeps stays; the certificate says what and why. */
    if (cu_vault_erase_start(v, &err) != CU_OK ||
        cu_subject_erase_certified(v, ctx, tenant, id, &cert, &err) != CU_OK)
        return cli_fail(&err);
    c = cert != NULL ? cJSON_Parse(cert) : NULL;
    free(cert);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", id);
    cJSON_AddBoolToObject(o, "erased", 1);
    cJSON_AddItemToObject(o, "certificate", c != NULL ? c : cJSON_CreateNull());
    rc = cli_print(o);
    fflush(stdout);
    if (cu_erase_pending(v, ctx, NULL, &err) != CU_OK)
        rc = cli_fail(&err);
    return rc;
}

/* `subject get SUBJECT` and `subject erase SUBJECT`. */
static int subject_one(const subject_opts *op, const char *verb, int argc, char **argv)
{
    cu_vault *v = NULL;
    cu_ctx ctx;
    cu_id id;
    int rc;

    if (optind + 1 != argc)
        return cli_usage("subject", "%s takes one SUBJECT id", verb);
    if ((rc = cli_id("subject", "SUBJECT", argv[optind], &id)) != 0)
        return rc;
    if ((rc = cli_open_staff(&op->c, "subject", op->tenant, &v, &ctx)) != 0)
        return rc;
    if (verb[0] == 'g')
        rc = do_get(v, &ctx, op->tenant, id);
    else
        rc = do_erase(v, &ctx, op->tenant, id);
    cu_vault_close(v);
    return rc;
}

/* `subject find` by exactly one of --email, --phone, --external-id. */
static int subject_find(const subject_opts *op, const char *verb, int argc, char **argv)
{
    const cu_subject_in *in = &op->in;
    cu_subject_by by;
    const char *value;
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_id *ids = NULL;
    size_t n = 0;
    cu_ctx ctx;
    int rc;

    (void)verb;
    (void)argc;
    (void)argv;
    if ((in->email != NULL) + (in->phone != NULL) + (in->external_id != NULL) != 1)
        return cli_usage("subject", "find takes one of --email, --phone, --external-id");
    by = in->email   ? CU_SUBJECT_BY_EMAIL
         : in->phone ? CU_SUBJECT_BY_PHONE
                     : CU_SUBJECT_BY_EXTERNAL_ID;
    value = in->email ? in->email : in->phone ? in->phone : in->external_id;
    if ((rc = cli_open_staff(&op->c, "subject", op->tenant, &v, &ctx)) != 0)
        return rc;
    if (cu_subject_find(v, &ctx, op->tenant, by, value, &ids, &n, &err) == CU_OK)
        rc = cli_print(cu_repr_ids_json(ids, n));
    else
        rc = cli_fail(&err);
    free(ids);
    cu_vault_close(v);
    return rc;
}

static const struct {
    const char *name;
    int (*run)(const subject_opts *op, const char *verb, int argc, char **argv);
} verbs[] = {
    {"add", subject_add},
    {"get", subject_one},
    {"erase", subject_one},
    {"find", subject_find},
};

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
    subject_opts op = {.tenant = 0};
    const char *tenant_s = NULL, *verb;
    int opt, helpme = 0, rc;

    cli_common_defaults(&op.c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&op.c, opt, optarg, &helpme))
            continue;
        switch (opt) {
        case OPT_TENANT: tenant_s = optarg; break;
        case OPT_EXT: op.in.external_id = optarg; break;
        case OPT_EMAIL: op.in.email = optarg; break;
        case OPT_PHONE: op.in.phone = optarg; break;
        case OPT_BIRTH: op.in.birth_date = optarg; break;
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
    if ((rc = cli_id("subject", "--tenant", tenant_s, &op.tenant)) != 0)
        return rc;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verb, verbs[i].name) == 0)
            return verbs[i].run(&op, verb, argc, argv);
    return cli_usage("subject", "unknown verb \"%s\"", verb);
}
