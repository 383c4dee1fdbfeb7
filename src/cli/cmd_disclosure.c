/*
 * cmd_disclosure.c: `custos disclosure add|list`: disclosures of subjects' data to the
 * recipients the tenant's policy in force lists (P-SHR-1, P-NOT-3), from the command line,
 * with the same checks as POST .../disclosures (custos_disclosure.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "custos_disclosure.h"
#include "repr.h"

static const char help[] =
    "usage: custos disclosure add --tenant ID --recipient NAME --purpose P\n"
    "           (--subject S ... --category C ... | --record R ...)\n"
    "           [--basis B] [--reference REF] [OPTIONS]\n"
    "       custos disclosure list --tenant ID [--subject S] [--limit N] [OPTIONS]\n"
    "\n"
    "add records that subjects' data (of the categories named) or records went to a recipient:\n"
    "refused (exit 4, recipient_not_listed) unless the policy in force lists the recipient for\n"
    "the purpose and every category of the data (P-SHR-1); prints its id. list prints the rows,\n"
    "newest first.\n"
    "\n"
    "  --tenant ID             the tenant (required)\n"
    "  --recipient NAME        a name of the policy's sub_processors\n"
    "  --purpose P             one of the recipient's purposes\n"
    "  --subject S             a subject disclosed (repeat); for list, only its rows\n"
    "  --category C            a category of the subjects' data disclosed (repeat)\n"
    "  --record R              a record disclosed (repeat)\n"
    "  --basis B               the legal basis (default: the purpose's)\n"
    "  --reference REF         an identifier such as a case number\n"
    "  --limit N               list at most N rows (1 to 1000)\n" CLI_COMMON_HELP;

enum {
    OPT_TENANT = 0x200,
    OPT_RECIPIENT,
    OPT_PURPOSE_D,
    OPT_SUBJECT,
    OPT_CATEGORY,
    OPT_RECORD,
    OPT_BASIS,
    OPT_REFERENCE,
    OPT_LIMIT
};

typedef struct args {
    const char *tenant, *limit;
    const char *subjects[CU_DISCLOSURE_MAX_CATEGORIES], *records[CU_DISCLOSURE_MAX_CATEGORIES];
    const char *categories[CU_DISCLOSURE_MAX_CATEGORIES];
    size_t ns, nr, nc;
    cu_disclosure_in in;
} args;

/* Appends optarg to list[*n], at most CU_DISCLOSURE_MAX_CATEGORIES of each. */
static int push(const char **list, size_t *n, const char *what)
{
    if (*n == CU_DISCLOSURE_MAX_CATEGORIES)
        return cli_usage("disclosure", "at most %d of %s here", CU_DISCLOSURE_MAX_CATEGORIES, what);
    list[(*n)++] = optarg;
    return 0;
}

static int parse(int argc, char **argv, cli_common *c, args *a, int *helpme)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"recipient", required_argument, NULL, OPT_RECIPIENT},
        {"purpose", required_argument, NULL, OPT_PURPOSE_D},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"category", required_argument, NULL, OPT_CATEGORY},
        {"record", required_argument, NULL, OPT_RECORD},
        {"basis", required_argument, NULL, OPT_BASIS},
        {"reference", required_argument, NULL, OPT_REFERENCE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    int opt, rc = 0;

    while (rc == 0 && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(c, opt, optarg, helpme))
            continue;
        switch (opt) {
        case OPT_TENANT:
            a->tenant = optarg;
            break;
        case OPT_RECIPIENT:
            a->in.recipient = optarg;
            break;
        case OPT_PURPOSE_D:
            a->in.purpose = optarg;
            break;
        case OPT_SUBJECT:
            rc = push(a->subjects, &a->ns, "--subject");
            break;
        case OPT_CATEGORY:
            rc = push(a->categories, &a->nc, "--category");
            break;
        case OPT_RECORD:
            rc = push(a->records, &a->nr, "--record");
            break;
        case OPT_BASIS:
            a->in.legal_basis = optarg;
            break;
        case OPT_REFERENCE:
            a->in.reference = optarg;
            break;
        case OPT_LIMIT:
            a->limit = optarg;
            break;
        default:
            return cli_usage("disclosure", "unknown option");
        }
    }
    return rc;
}

/* The ids named into ids[0..n). */
static int ids_of(const char *const *s, size_t n, const char *what, cu_id *ids)
{
    int rc = 0;

    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cli_id("disclosure", what, s[i], &ids[i]);
    return rc;
}

static int do_add(cu_vault *v, const cu_ctx *ctx, cu_id tenant, args *a)
{
    cu_id subjects[CU_DISCLOSURE_MAX_CATEGORIES], records[CU_DISCLOSURE_MAX_CATEGORIES], id = 0;
    cu_err err = {0};
    cJSON *o;
    int rc;

    if (a->in.recipient == NULL || a->in.purpose == NULL)
        return cli_usage("disclosure", "add needs --recipient and --purpose");
    if ((rc = ids_of(a->subjects, a->ns, "--subject", subjects)) != 0 ||
        (rc = ids_of(a->records, a->nr, "--record", records)) != 0)
        return rc;
    a->in.subjects = subjects;
    a->in.n_subjects = a->ns;
    a->in.records = records;
    a->in.n_records = a->nr;
    a->in.categories = a->categories;
    a->in.n_categories = a->nc;
    if (cu_disclosure_add(v, ctx, tenant, &a->in, &id, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", id);
    cJSON_AddStringToObject(o, "recipient", a->in.recipient);
    cJSON_AddNumberToObject(o, "items", (double)(a->ns + a->nr));
    return cli_print(o);
}

static int do_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const args *a)
{
    cu_disclosure *list = NULL;
    size_t n = 0, limit = a->limit ? (size_t)strtoul(a->limit, NULL, 10) : 0;
    cu_id subject = 0;
    cu_err err = {0};
    cJSON *o;
    int rc;

    if (a->ns > 1 || (a->ns && (rc = cli_id("disclosure", "--subject", a->subjects[0], &subject))))
        return a->ns > 1 ? cli_usage("disclosure", "list takes one --subject") : rc;
    if (a->limit && (limit < 1 || limit > CU_DISCLOSURE_LIST_MAX))
        return cli_usage("disclosure", "--limit is 1 to %d", CU_DISCLOSURE_LIST_MAX);
    if (cu_disclosure_list(v, ctx, tenant, subject, limit, &list, &n, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(o, cu_repr_disclosure_json(&list[i]));
    free(list);
    return cli_print(o);
}

int cmd_disclosure(int argc, char **argv)
{
    cu_ctx ctx = cli_ctx();
    cu_vault *v = NULL;
    cu_id tenant = 0;
    cli_common c;
    args a;
    int helpme = 0, rc;
    const char *verb;

    memset(&a, 0, sizeof(a));
    cli_common_defaults(&c);
    if ((rc = parse(argc, argv, &c, &a, &helpme)) != 0)
        return rc;
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind + 1 != argc)
        return cli_usage("disclosure", "add or list?");
    verb = argv[optind];
    if (strcmp(verb, "add") != 0 && strcmp(verb, "list") != 0)
        return cli_usage("disclosure", "unknown verb \"%s\"", verb);
    if ((rc = cli_id("disclosure", "--tenant", a.tenant, &tenant)) != 0 ||
        (rc = cli_open(&c, &v)) != 0)
        return rc;
    rc = strcmp(verb, "add") == 0 ? do_add(v, &ctx, tenant, &a) : do_list(v, &ctx, tenant, &a);
    cu_vault_close(v);
    return rc;
}
