/*
 * cmd_request.c: `custos request ...`: data-subject requests (docs/dsr.md) from the command
 * line, on the data directory: file, list, show, verify, acknowledge, extend, approve, reject,
 * complete. Prints the same documents as the API (cu_repr_request_json).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "repr.h"

static const char help[] =
    "usage: custos request file --tenant ID --type TYPE (--subject S | --external-id X)\n"
    "                           [--purpose P] [OPTIONS]\n"
    "       custos request list --tenant ID [--filter all|open|due_soon|overdue] [OPTIONS]\n"
    "       custos request show|verify|acknowledge|approve --tenant ID REQUEST [OPTIONS]\n"
    "       custos request extend --tenant ID REQUEST --by DURATION --reason CODE [OPTIONS]\n"
    "       custos request reject --tenant ID REQUEST --reason CODE [OPTIONS]\n"
    "       custos request complete --tenant ID REQUEST [--email E] [--phone P]\n"
    "                               [--birth-date D] [--external-id X] [OPTIONS]\n"
    "       custos request export --tenant ID REQUEST [--format json|csv] [--out FILE]\n"
    "                             [OPTIONS]\n"
    "\n"
    "Data-subject requests (docs/dsr.md): access, export, rectify, erase, restrict,\n"
    "unrestrict, object, withdraw_consent. Filed for --subject, as the tenant's administrator\n"
    "(no verification); filed with --external-id, as the subject, answered with a token that\n"
    "`verify --token` takes. Due dates come from the tenant's policy (P-DSR-7). complete\n"
    "carries the right out; for rectify, the corrected profile values; for erase, it prints the\n"
    "signed erasure certificate. export writes the answer to an access or export request: JSON,\n"
    "or RFC 4180 CSV files in a zip (--format csv), to --out (written whole or not at all).\n"
    "\n"
    "  --tenant ID             the tenant (required)\n"
    "  --type TYPE             the right asked for (file)\n"
    "  --subject S             the subject (file, as administrator)\n"
    "  --external-id X         the subject's own id (file, as the subject); rectify: the new one\n"
    "  --purpose P             the purpose objected to, or whose consent is withdrawn\n"
    "  --token T               the subject's token (verify)\n"
    "  --by DURATION           the extension, such as 30d (extend)\n"
    "  --reason CODE           [a-z0-9_], 1 to 32 (extend, reject)\n"
    "  --filter F              which requests to list\n"
    "  --format F              json (the default) or csv (export)\n"
    "  --out FILE              where export writes (default: standard output)\n"
    "  --email, --phone, --birth-date   corrected values (complete a rectify "
    "request)\n" CLI_QUIET_HELP CLI_COMMON_HELP;

enum {
    OPT_TENANT = 0x200,
    OPT_TYPE,
    OPT_SUBJECT,
    OPT_EXTERNAL,
    OPT_PURPOSE_NAMED,
    OPT_TOKEN,
    OPT_BY,
    OPT_REASON,
    OPT_FILTER,
    OPT_EMAIL,
    OPT_PHONE,
    OPT_BIRTH,
    OPT_FORMAT,
    OPT_OUT,
};

typedef struct args {
    const char *verb, *tenant_s, *type, *subject_s, *external, *purpose, *token, *by, *reason,
        *filter, *email, *phone, *birth, *format, *out;
    cu_id tenant, subject, request;
    int quiet; /* --quiet: no progress (export) */
} args;

static int print_request(cu_vault *v, const cu_ctx *ctx, const args *a)
{
    cu_request q;
    cu_err err = {0};

    char *cert = NULL;
    cJSON *o, *c = NULL;

    if (cu_request_get(v, ctx, a->tenant, a->request, &q, &err) != CU_OK)
        return cli_fail(&err);
    o = cu_repr_request_json(&q);
    /* P-DSR-4: an erase request carried out shows the certificate stored with its erasure. */
    if (q.type == CU_REQ_ERASE &&
        cu_request_certificate(v, ctx, a->tenant, a->request, &cert, &err) == CU_OK &&
        cu_json_parse(cert, strlen(cert), &c, NULL, &err) == CU_OK) {
        cJSON_AddItemToObject(o, "certificate", c);
        cJSON_AddBoolToObject(o, "scrub_pending", cu_vault_scrub_pending(v));
    }
    free(cert);
    return cli_print(o);
}

static int do_file(cu_vault *v, const cu_ctx *ctx, const args *a)
{
    cu_request_in in = {.filer = a->subject_s ? CU_REQ_BY_ADMIN : CU_REQ_BY_SUBJECT,
                        .subject = a->subject,
                        .external_id = a->subject_s ? NULL : a->external,
                        .purpose = a->purpose};
    cu_request_filed out;
    cu_err err = {0};
    int rc;

    if (a->type == NULL || cu_request_type_parse(a->type, &in.type) != CU_OK)
        return cli_usage("request", "--type: access, export, rectify, erase, restrict, "
                                    "unrestrict, object or withdraw_consent");
    if ((a->subject_s == NULL) == (a->external == NULL))
        return cli_usage("request", "file needs --subject or --external-id");
    if (cu_request_file(v, ctx, a->tenant, &in, &out, &err) != CU_OK)
        return cli_fail(&err);
    rc = cli_print(cu_repr_request_filed_json(&out));
    cu_str_wipe(out.token);
    return rc;
}

static int do_list(cu_vault *v, const cu_ctx *ctx, const args *a)
{
    static const char *const names[] = {"all", "open", "due_soon", "overdue"};
    cu_request *list = NULL;
    size_t n = 0, f = 0;
    cu_err err = {0};
    cJSON *o;

    while (a->filter && f < 4 && strcmp(a->filter, names[f]) != 0)
        f++;
    if (f == 4)
        return cli_usage("request", "--filter: all, open, due_soon or overdue");
    if (cu_request_list(v, ctx, a->tenant, (cu_request_filter)f, &list, &n, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(o, cu_repr_request_json(&list[i]));
    free(list);
    return cli_print(o);
}

/* The verbs on one request: its transition, then the request as it is now. */
static int do_step(cu_vault *v, const cu_ctx *ctx, const args *a)
{
    const char *w = a->verb;
    cu_subject_in fix = {
        .external_id = a->external, .email = a->email, .phone = a->phone, .birth_date = a->birth};
    int corrects = a->external || a->email || a->phone || a->birth;
    char *cert = NULL;
    cu_duration by;
    cu_err err = {0};
    cu_rc rc = CU_OK;

    if (strcmp(w, "verify") == 0)
        rc = cu_request_verify(v, ctx, a->tenant, a->request, a->token, &err);
    else if (strcmp(w, "acknowledge") == 0)
        rc = cu_request_acknowledge(v, ctx, a->tenant, a->request, &err);
    else if (strcmp(w, "approve") == 0)
        rc = cu_request_decide(v, ctx, a->tenant, a->request, 1, NULL, &err);
    else if (strcmp(w, "extend") == 0) {
        if (a->by == NULL || cu_duration_parse(a->by, &by) != CU_OK)
            return cli_usage("request", "extend needs --by, a duration such as 30d");
        rc = cu_request_extend(v, ctx, a->tenant, a->request, by, a->reason, &err);
    } else if (strcmp(w, "reject") == 0) {
        cu_request q;
        if ((rc = cu_request_get(v, ctx, a->tenant, a->request, &q, &err)) == CU_OK)
            rc = q.decision == CU_REQ_DECISION_PENDING
                     ? cu_request_decide(v, ctx, a->tenant, a->request, 0, a->reason, &err)
                     : cu_request_reject(v, ctx, a->tenant, a->request, a->reason, &err);
    } else if (strcmp(w, "complete") == 0)
        rc = cu_request_complete_certified(v, ctx, a->tenant, a->request, corrects ? &fix : NULL,
                                           &cert, &err);
    if (rc != CU_OK)
        return cli_fail(&err);
    if (cert == NULL)
        return print_request(v, ctx, a);
    /* P-DSR-4: the erasure's signed certificate, as `custos audit verify-certificate` takes it. */
    printf("%s\n", cert);
    free(cert);
    return 0;
}

/* `export REQUEST [--format json|csv] [--out FILE]`: the answer to an access or export request
 * (P-DSR-1, P-DSR-2), streamed, with a progress line on a terminal. */
static int do_export(cu_vault *v, const cu_ctx *ctx, const args *a)
{
    const char *format = a->format ? a->format : "json";
    cli_out o;
    cu_err err = {0};
    int rc;

    if (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0)
        return cli_usage("request", "--format: json or csv");
    if ((rc = cli_out_open(&o, "request", a->out, a->quiet)) != 0)
        return rc;
    if (cu_request_export_write(v, ctx, a->tenant, a->request, format, cli_out_write, &o, &err) !=
        CU_OK)
        rc = cli_fail(&err);
    return cli_out_close(&o, rc);
}

static int parse(int argc, char **argv, args *a, cli_common *c, int *helpme)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_QUIET_OPT,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"type", required_argument, NULL, OPT_TYPE},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"external-id", required_argument, NULL, OPT_EXTERNAL},
        {"purpose", required_argument, NULL, OPT_PURPOSE_NAMED},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"by", required_argument, NULL, OPT_BY},
        {"reason", required_argument, NULL, OPT_REASON},
        {"filter", required_argument, NULL, OPT_FILTER},
        {"email", required_argument, NULL, OPT_EMAIL},
        {"phone", required_argument, NULL, OPT_PHONE},
        {"birth-date", required_argument, NULL, OPT_BIRTH},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"out", required_argument, NULL, OPT_OUT},
        {NULL, 0, NULL, 0},
    };
    const char **slot[] = {&a->tenant_s, &a->type,  &a->subject_s, &a->external, &a->purpose,
                           &a->token,    &a->by,    &a->reason,    &a->filter,   &a->email,
                           &a->phone,    &a->birth, &a->format,    &a->out};
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(c, opt, optarg, helpme))
            continue;
        if (opt < OPT_TENANT || opt > OPT_OUT)
            return cli_usage("request", "unknown option");
        *slot[opt - OPT_TENANT] = optarg;
    }
    return 0;
}

static int known_verb(const char *w)
{
    static const char *const verbs[] = {"file",   "list",    "show",   "verify",   "acknowledge",
                                        "extend", "approve", "reject", "complete", "export"};

    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(w, verbs[i]) == 0)
            return 1;
    return 0;
}

int cmd_request(int argc, char **argv)
{
    cu_ctx ctx = cli_ctx();
    args a = {0};
    cu_vault *v = NULL;
    cli_common c;
    int helpme = 0, rc, one;

    cli_common_defaults(&c);
    if ((rc = parse(argc, argv, &a, &c, &helpme)) != 0)
        return rc;
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc || !known_verb(argv[optind]))
        return cli_usage("request", "file, list, show, verify, acknowledge, extend, approve, "
                                    "reject, complete or export?");
    a.verb = argv[optind++];
    one = strcmp(a.verb, "file") != 0 && strcmp(a.verb, "list") != 0;
    if ((rc = cli_id("request", "--tenant", a.tenant_s, &a.tenant)) != 0 ||
        (a.subject_s && (rc = cli_id("request", "--subject", a.subject_s, &a.subject)) != 0))
        return rc;
    if (one && optind + 1 != argc)
        return cli_usage("request", "%s takes one REQUEST id", a.verb);
    if (!one && optind != argc)
        return cli_usage("request", "unexpected argument \"%s\"", argv[optind]);
    if (one && (rc = cli_id("request", "REQUEST", argv[optind], &a.request)) != 0)
        return rc;
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    if (strcmp(a.verb, "file") == 0)
        rc = do_file(v, &ctx, &a);
    else if (strcmp(a.verb, "list") == 0)
        rc = do_list(v, &ctx, &a);
    else if (strcmp(a.verb, "show") == 0)
        rc = print_request(v, &ctx, &a);
    else if (strcmp(a.verb, "export") == 0) {
        a.quiet = c.quiet;
        rc = do_export(v, &ctx, &a);
    }
    else
        rc = do_step(v, &ctx, &a);
    cu_vault_close(v);
    return rc;
}
