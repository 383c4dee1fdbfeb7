/*
 * cmd_record.c: `custos record put|update|get|list|find|delete`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "repr.h"

static const char help[] =
    "usage: custos record put --tenant ID --collection C [--subject ID] JSON|- [OPTIONS]\n"
    "       custos record update --tenant ID RECORD JSON|-\n"
    "       custos record get --tenant ID RECORD\n"
    "       custos record list --tenant ID --subject ID\n"
    "       custos record find --tenant ID --collection C --field F --value V\n"
    "       custos record delete --tenant ID RECORD\n"
    "\n"
    "put stores a JSON object encrypted under the subject's key, or the tenant data key\n"
    "without --subject, and prints its id. Pass \"-\" to read the document from stdin, which\n"
    "keeps personal values out of the process list. get prints the record with its\n"
    "document; list prints a subject's record ids; find prints the ids of records\n"
    "whose indexed field equals V exactly.\n"
    "\n"
    "  --tenant ID             the tenant (required)\n"
    "  --collection C          collection name, [a-z][a-z0-9_]*\n"
    "  --subject ID            the subject owning the record\n"
    "  --field F --value V     an indexed field and the value to find\n" CLI_PURPOSE_HELP
    CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200, OPT_COLL, OPT_SUBJECT, OPT_FIELD, OPT_VALUE };

/* The document argument, or stdin for "-". Caller frees. */
static char *doc_arg(const char *arg, size_t *len)
{
    if (strcmp(arg, "-") == 0)
        return cli_read_stdin(CU_RECORD_MAX, len);
    *len = strlen(arg);
    return strdup(arg);
}

static int do_get(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id id)
{
    cu_record r;
    cu_err err = {0};
    cJSON *o;

    if (cu_record_get(v, ctx, tenant, id, &r, &err) != CU_OK)
        return cli_fail(&err);
    o = cu_repr_record_json(&r);
    cu_record_cleanup(&r);
    return cli_print(o);
}

/* The options the verbs share, parsed (and --tenant, --subject checked) before the verb. */
typedef struct record_opts {
    cli_common c;
    const char *coll, *field, *value;
    cu_id tenant, subject; /* subject 0: no --subject */
} record_opts;

/* `record put ... JSON|-` and `record update RECORD JSON|-`. Each verb returns an exit code. */
static int record_write(const record_opts *op, const char *verb, int argc, char **argv)
{
    int put = verb[0] == 'p', rc;
    cu_vault *v = NULL;
    cu_err err = {0};
    size_t len = 0;
    cu_id id = 0;
    cu_ctx ctx;
    char *doc;

    if (optind + (put ? 1 : 2) != argc)
        return cli_usage("record",
                         put ? "put takes one JSON argument" : "update takes RECORD and JSON");
    if (put && op->coll == NULL)
        return cli_usage("record", "--collection is required");
    if (!put && (rc = cli_id("record", "RECORD", argv[optind], &id)) != 0)
        return rc;
    if ((doc = doc_arg(argv[argc - 1], &len)) == NULL) {
        cu_err e = {CU_ERR_LIMIT, ""};
        snprintf(e.msg, sizeof(e.msg), "could not read a document of at most %d bytes",
                 CU_RECORD_MAX);
        return cli_fail(&e);
    }
    if ((rc = cli_open_staff(&op->c, "record", op->tenant, &v, &ctx)) == 0) {
        cu_rc r =
            put ? cu_record_put(v, &ctx, op->tenant, op->coll, op->subject, doc, len, &id, &err)
                : cu_record_update(v, &ctx, op->tenant, id, doc, len, &err);
        rc = r == CU_OK ? cli_print_id(id, NULL) : cli_fail(&err);
    }
    cu_str_wipe(doc);
    free(doc);
    cu_vault_close(v);
    return rc;
}

/* `record get RECORD` and `record delete RECORD`. */
static int record_one(const record_opts *op, const char *verb, int argc, char **argv)
{
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_ctx ctx;
    cu_id id;
    int rc;

    if (optind + 1 != argc)
        return cli_usage("record", "%s takes one RECORD id", verb);
    if ((rc = cli_id("record", "RECORD", argv[optind], &id)) != 0)
        return rc;
    if ((rc = cli_open_staff(&op->c, "record", op->tenant, &v, &ctx)) != 0)
        return rc;
    if (verb[0] == 'g')
        rc = do_get(v, &ctx, op->tenant, id);
    else if (cu_record_delete(v, &ctx, op->tenant, id, &err) == CU_OK)
        rc = cli_print_id(id, "deleted");
    else
        rc = cli_fail(&err);
    cu_vault_close(v);
    return rc;
}

/* `record list --subject ID` and `record find --collection C --field F --value V`. */
static int record_ids(const record_opts *op, const char *verb, int argc, char **argv)
{
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_id *ids = NULL;
    size_t n = 0;
    cu_ctx ctx;
    cu_rc r;
    int rc;

    (void)argv;
    if (optind != argc)
        return cli_usage("record", "%s takes options only", verb);
    if (verb[0] == 'l' && op->subject == 0)
        return cli_usage("record", "list needs --subject");
    if (verb[0] == 'f' && (op->coll == NULL || op->field == NULL || op->value == NULL))
        return cli_usage("record", "find needs --collection, --field and --value");
    if ((rc = cli_open_staff(&op->c, "record", op->tenant, &v, &ctx)) != 0)
        return rc;
    r = verb[0] == 'l'
            ? cu_record_list_by_subject(v, &ctx, op->tenant, op->subject, &ids, &n, &err)
            : cu_record_find(v, &ctx, op->tenant, op->coll, op->field, op->value, &ids, &n, &err);
    rc = r == CU_OK ? cli_print(cu_repr_ids_json(ids, n)) : cli_fail(&err);
    free(ids);
    cu_vault_close(v);
    return rc;
}

static const struct {
    const char *name;
    int (*run)(const record_opts *op, const char *verb, int argc, char **argv);
} verbs[] = {
    {"put", record_write},  {"update", record_write}, {"get", record_one},
    {"delete", record_one}, {"list", record_ids},     {"find", record_ids},
};

int cmd_record(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_PURPOSE_OPT,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"collection", required_argument, NULL, OPT_COLL},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"field", required_argument, NULL, OPT_FIELD},
        {"value", required_argument, NULL, OPT_VALUE},
        {NULL, 0, NULL, 0},
    };
    record_opts op = {.subject = 0};
    const char *tenant_s = NULL, *subject_s = NULL, *verb;
    int opt, helpme = 0, rc;

    cli_common_defaults(&op.c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&op.c, opt, optarg, &helpme))
            continue;
        switch (opt) {
        case OPT_TENANT: tenant_s = optarg; break;
        case OPT_COLL: op.coll = optarg; break;
        case OPT_SUBJECT: subject_s = optarg; break;
        case OPT_FIELD: op.field = optarg; break;
        case OPT_VALUE: op.value = optarg; break;
        default: return cli_usage("record", "unknown option");
        }
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("record", "put, update, get, list, find or delete?");
    verb = argv[optind++];
    if ((rc = cli_id("record", "--tenant", tenant_s, &op.tenant)) != 0)
        return rc;
    if (subject_s && (rc = cli_id("record", "--subject", subject_s, &op.subject)) != 0)
        return rc;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verb, verbs[i].name) == 0)
            return verbs[i].run(&op, verb, argc, argv);
    return cli_usage("record", "unknown verb \"%s\"", verb);
}
