/*
 * cmd_tenant.c: `custos tenant create|list|policy|terminate|export`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "repr.h"
#include "util.h"

static const char help[] =
    "usage: custos tenant create NAME [--policy FILE] [OPTIONS]\n"
    "       custos tenant list [OPTIONS]\n"
    "       custos tenant policy --tenant ID FILE [OPTIONS]\n"
    "       custos tenant terminate --tenant ID [OPTIONS]\n"
    "       custos tenant export --tenant ID --purpose P [--out FILE] [OPTIONS]\n"
    "\n"
    "create makes a tenant with its own tenant, data and index keys and prints it; with\n"
    "--policy it is bound to that privacy policy (see policies/ and docs/policy.md) and the\n"
    "policy's collections are declared. list prints every tenant, oldest first. policy binds\n"
    "a new version of a tenant's policy. FILE may also name a built-in policy: scm,\n"
    "scalemule, erpsmartcloud, customermaps or optymyze. terminate ends the tenant's\n"
    "subscription: its data is read-only and exportable for the policy's export window, then\n"
    "the sweep purges it (P-RET-2). export writes the tenant's whole data as one JSON\n"
    "document (P-DSR-2, docs/api.md) to FILE (mode 0600, in place only once whole) or to\n"
    "stdout, streamed in bounded memory, with its progress on a terminal's stderr.\n"
    "\n"
    "  --policy FILE           a policy file (or built-in id) for the new tenant\n"
    "  --tenant ID             the tenant whose policy changes, that ends, or exported\n"
    "  --out FILE              export: write to FILE instead of stdout\n" CLI_PURPOSE_HELP
        CLI_QUIET_HELP CLI_COMMON_HELP;

enum { OPT_POLICY = 0x200, OPT_TENANT, OPT_OUT };

/* The text of the policy path names: a built-in id ("scm"), or a file. Caller frees *owned
 * (NULL for a built-in one). */
static cu_rc policy_text(const char *path, const char **text, size_t *len, char **owned,
                         cu_err *err)
{
    *owned = NULL;
    if (strchr(path, '/') == NULL && (*text = cu_policy_builtin(path, len)) != NULL)
        return CU_OK;
    if (cu_file_read(path, 1 << 20, owned, len, err) != CU_OK)
        return err->code;
    *text = *owned;
    return CU_OK;
}

/* Reads and binds the policy in path to tenant; prints nothing. Returns an exit code. */
static int bind_policy(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *path,
                       unsigned *version)
{
    const char *text = NULL;
    char *owned = NULL;
    size_t len = 0;
    cu_err err = {0};
    int rc = 0;

    if (policy_text(path, &text, &len, &owned, &err) != CU_OK ||
        cu_tenant_set_policy(v, ctx, tenant, text, len, path, version, &err) != CU_OK)
        rc = cli_fail(&err);
    free(owned);
    return rc;
}

/* The options the verbs share, parsed before the verb. */
typedef struct tenant_opts {
    cli_common c;
    const char *policy;   /* --policy */
    const char *tenant_s; /* --tenant, unparsed */
    const char *out;      /* --out */
} tenant_opts;

/* `tenant create NAME`: argv[optind] is the name. Each verb returns an exit code. */
static int tenant_create(const tenant_opts *op, int argc, char **argv)
{
    cu_ctx ctx = cli_ctx();
    const char *policy = op->policy, *text = NULL;
    char *owned = NULL;
    size_t len = 0;
    cu_vault *v = NULL;
    cu_err err = {0};
    cu_tenant t;
    cJSON *o;
    int rc;

    if (optind + 1 != argc)
        return cli_usage("tenant", "create takes one NAME");
    if (policy != NULL && policy_text(policy, &text, &len, &owned, &err) != CU_OK)
        return cli_fail(&err);
    if ((rc = cli_open(&op->c, &v)) != 0) {
        free(owned);
        return rc;
    }
    /* One transaction: a bad policy refuses the tenant before it exists. */
    if (cu_tenant_create(
            v, &ctx,
            &(cu_tenant_opts){
                .name = argv[optind], .policy = text, .policy_len = len, .policy_name = policy},
            &t, &err) != CU_OK) {
        rc = cli_fail(&err);
    } else {
        o = cu_repr_tenant_json(&t);
        if (policy != NULL)
            cJSON_AddNumberToObject(o, "policy_version", 1);
        rc = cli_print(o);
    }
    free(owned);
    cu_vault_close(v);
    return rc;
}

/* `tenant list`: every tenant, oldest first. */
static int tenant_list(const tenant_opts *op, int argc, char **argv)
{
    cu_ctx ctx = cli_ctx();
    cu_tenant *list = NULL;
    cu_vault *v = NULL;
    cu_err err = {0};
    size_t n = 0;
    int rc;

    (void)argv;
    if (optind != argc)
        return cli_usage("tenant", "list takes no argument");
    if ((rc = cli_open(&op->c, &v)) != 0)
        return rc;
    if (cu_tenant_list(v, &ctx, &list, &n, &err) == CU_OK) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, cu_repr_tenant_json(&list[i]));
        rc = cli_print(arr);
        free(list);
    } else {
        rc = cli_fail(&err);
    }
    cu_vault_close(v);
    return rc;
}

/* `tenant policy --tenant ID FILE`: binds a new version of the tenant's policy. */
static int tenant_policy(const tenant_opts *op, int argc, char **argv)
{
    cu_ctx ctx = cli_ctx();
    cu_vault *v = NULL;
    unsigned version = 0;
    cu_id tenant;
    cJSON *o;
    int rc;

    if (optind + 1 != argc)
        return cli_usage("tenant", "policy takes one FILE");
    if ((rc = cli_id("tenant", "--tenant", op->tenant_s, &tenant)) != 0)
        return rc;
    if ((rc = cli_open(&op->c, &v)) != 0)
        return rc;
    if ((rc = bind_policy(v, &ctx, tenant, argv[optind], &version)) == 0) {
        o = cJSON_CreateObject();
        cu_repr_add_id(o, "tenant_id", tenant);
        cJSON_AddNumberToObject(o, "policy_version", version);
        rc = cli_print(o);
    }
    cu_vault_close(v);
    return rc;
}

/* `tenant terminate --tenant ID`: read-only and exportable until the window ends (P-RET-2). */
static int tenant_terminate(const tenant_opts *op, int argc, char **argv)
{
    cu_ctx ctx = cli_ctx();
    cu_vault *v = NULL;
    cu_err err = {0};
    int64_t until = 0;
    cu_id tenant;
    cJSON *o;
    int rc;

    (void)argv;
    if (optind != argc)
        return cli_usage("tenant", "terminate takes no argument");
    if ((rc = cli_id("tenant", "--tenant", op->tenant_s, &tenant)) != 0)
        return rc;
    if ((rc = cli_open(&op->c, &v)) != 0)
        return rc;
    if (cu_tenant_terminate(v, &ctx, tenant, &until, &err) != CU_OK) {
        rc = cli_fail(&err);
    } else {
        o = cJSON_CreateObject();
        cu_repr_add_id(o, "tenant_id", tenant);
        cJSON_AddStringToObject(o, "state", "terminated");
        cu_repr_add_time(o, "export_until", until);
        rc = cli_print(o);
    }
    cu_vault_close(v);
    return rc;
}

/* `tenant export --tenant ID --purpose P [--out FILE]`: the whole tenant (P-DSR-2, P-RET-2).
 * A file is written beside FILE and renamed only once whole: a failed export leaves none. */
static int tenant_export(const tenant_opts *op, int argc, char **argv)
{
    cli_out o;
    cu_vault *v = NULL;
    cu_id tenant;
    cu_ctx ctx;
    cu_err err = {0};
    int rc;

    (void)argv;
    if (optind != argc)
        return cli_usage("tenant", "export takes no argument");
    if ((rc = cli_id("tenant", "--tenant", op->tenant_s, &tenant)) != 0)
        return rc;
    /* P-ACC-4: staff state why they reach the tenant's data; it is on the export's record. */
    if ((rc = cli_open_staff(&op->c, "tenant", tenant, &v, &ctx)) != 0)
        return rc;
    if ((rc = cli_out_open(&o, "tenant", op->out, op->c.quiet)) != 0) {
        cu_vault_close(v);
        return rc;
    }
    if (cu_tenant_export_write(v, &ctx, tenant, cli_out_write, &o, &err) != CU_OK)
        rc = cli_fail(&err);
    cu_vault_close(v);
    return cli_out_close(&o, rc);
}

static const struct {
    const char *name;
    int (*run)(const tenant_opts *op, int argc, char **argv);
} verbs[] = {
    {"create", tenant_create},       {"list", tenant_list},     {"policy", tenant_policy},
    {"terminate", tenant_terminate}, {"export", tenant_export},
};

int cmd_tenant(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_QUIET_OPT,
        {"policy", required_argument, NULL, OPT_POLICY},
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"out", required_argument, NULL, OPT_OUT},
        CLI_PURPOSE_OPT,
        {NULL, 0, NULL, 0},
    };
    tenant_opts op = {.policy = NULL};
    const char *verb;
    int opt, helpme = 0;

    cli_common_defaults(&op.c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&op.c, opt, optarg, &helpme))
            continue;
        if (opt == OPT_POLICY)
            op.policy = optarg;
        else if (opt == OPT_TENANT)
            op.tenant_s = optarg;
        else if (opt == OPT_OUT)
            op.out = optarg;
        else
            return cli_usage("tenant", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("tenant", "create, list, policy, terminate or export?");
    verb = argv[optind++];
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verb, verbs[i].name) == 0)
            return verbs[i].run(&op, argc, argv);
    return cli_usage("tenant", "unknown verb \"%s\"", verb);
}
