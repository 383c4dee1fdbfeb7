/*
 * cmd_audit.c: `custos audit verify|list|checkpoint|checkpoints|prune`: the audit log of a
 * tenant, or without --tenant the platform's own (tenant 0), from the data directory
 * (P-AUD-1 .. P-AUD-5). Prints the same JSON documents as the HTTPS API (http.h), so an
 * export made either way verifies the same way (docs/audit.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "repr.h"
#include "util.h"

#define COMMON_USAGE "[--tenant ID] [OPTIONS]"

static const char help_all[] =
    "usage: custos audit verify " COMMON_USAGE "\n"
    "       custos audit list " COMMON_USAGE " [--actor X] [--action A] [--object O]\n"
    "                         [--object-prefix O] [--purpose P] [--from T] [--to T]\n"
    "                         [--after SEQ] [--limit N]\n"
    "       custos audit checkpoint " COMMON_USAGE "\n"
    "       custos audit checkpoints " COMMON_USAGE "\n"
    "       custos audit prune --before T " COMMON_USAGE "\n"
    "       custos audit verify-certificate FILE [OPTIONS]\n"
    "\n"
    "The tamper-evident audit log of a tenant, or without --tenant the platform's own log.\n"
    "Each verb takes --help. See docs/audit.md.\n"
    "\n"
    "  --tenant ID             the tenant whose log (default: the platform's, tenant 0)\n"
    CLI_QUIET_HELP CLI_COMMON_HELP;

static const char help_verify[] =
    "usage: custos audit verify " COMMON_USAGE " [--against FILE] [--deep]\n"
    "\n"
    "Recomputes the log's hash chain from its anchor and checks every signed checkpoint\n"
    "(P-AUD-2). Prints {\"ok\", \"entries\", \"checkpoints\", \"first_bad_seq\", \"problem\",\n"
    "\"pruned_through\"} and exits 0 if the chain holds, 5 if an entry was changed, removed,\n"
    "inserted or reordered, or the log was cut short of a checkpoint.\n"
    "\n"
    "  --tenant ID             the tenant whose log (default: the platform's)\n"
    "  --against FILE          also against checkpoints kept outside the vault: an export\n"
    "                          (custos audit checkpoints, GET .../audit/checkpoints; its\n"
    "                          public_key is then the pinned key), one checkpoint (POST\n"
    "                          .../audit/checkpoints), or a JSON array of either; adds \"held\"\n"
    "  --deep                  also checks that every record still holds the ciphertext its\n"
    "                          latest write's entry recorded (a record rolled back to an\n"
    "                          older ciphertext of itself); adds \"records\"\n"
    CLI_QUIET_HELP CLI_COMMON_HELP;

static const char help_list[] =
    "usage: custos audit list " COMMON_USAGE " [FILTERS]\n"
    "\n"
    "Prints {\"entries\": [...], \"next\": SEQ or null}: the entries matching every filter\n"
    "given, oldest first. When the page is full, \"next\" is the cursor for --after.\n"
    "\n"
    "  --tenant ID             the tenant whose log (default: the platform's)\n"
    "  --actor X               e.g. key:123, user:456, operator:key:789, cli\n"
    "  --action A              e.g. record.read, subject.erase, apikey.create\n"
    "  --object O              e.g. record:123, subject:456\n"
    "  --object-prefix O       objects that begin with O, e.g. subject:456: (its consents)\n"
    "  --purpose P             the stated purpose, e.g. support\n"
    "  --from T, --to T        time range, inclusive: RFC 3339, YYYY-MM-DD or unix ms\n"
    "  --after SEQ             entries after this seq (the cursor)\n"
    "  --limit N               1 to 1000 (default 100)\n"
    CLI_COMMON_HELP;

static const char help_checkpoint[] =
    "usage: custos audit checkpoint " COMMON_USAGE "\n"
    "\n"
    "Signs a checkpoint at the log's head now (Ed25519 over \"cu-ckpt1\", tenant, seq, time\n"
    "and hash) and prints it. Keep it outside Custos to detect a later truncation.\n"
    "\n"
    "  --tenant ID             the tenant whose log (default: the platform's)\n"
    CLI_COMMON_HELP;

static const char help_checkpoints[] =
    "usage: custos audit checkpoints " COMMON_USAGE "\n"
    "\n"
    "Prints every signed checkpoint of the log, oldest first, with the public key that\n"
    "verifies them: {\"tenant_id\", \"algorithm\", \"public_key\", \"checkpoints\"}.\n"
    "\n"
    "  --tenant ID             the tenant whose log (default: the platform's)\n"
    CLI_COMMON_HELP;

static const char help_prune[] =
    "usage: custos audit prune --before T " COMMON_USAGE "\n"
    "\n"
    "Deletes the log's entries older than T (retention), after signing a checkpoint at the\n"
    "newest entry it removes: verification then starts from that anchor. Prints\n"
    "{\"tenant_id\", \"pruned_through\": SEQ or null}.\n"
    "\n"
    "  --before T              YYYY-MM-DD (midnight UTC), RFC 3339 or unix ms (required)\n"
    "  --tenant ID             the tenant whose log (default: the platform's)\n"
    CLI_COMMON_HELP;

static const char help_certificate[] =
    "usage: custos audit verify-certificate FILE [OPTIONS]\n"
    "\n"
    "Checks an erasure certificate (P-DSR-4: what `custos subject erase` or DELETE\n"
    ".../subjects/{id} answered, whole or its \"certificate\" member alone) against this\n"
    "vault's audit signing key. Prints {\"ok\", \"tenant_id\", \"subject_id\", \"erased_at\",\n"
    "\"problem\"} and exits 0 if the signature holds, 5 if the certificate was altered or\n"
    "signed by another key.\n" CLI_COMMON_HELP;

enum {
    OPT_TENANT = 0x200,
    OPT_ACTOR,
    OPT_ACTION,
    OPT_OBJECT,
    OPT_OBJECT_PREFIX,
    OPT_PURPOSE,
    OPT_FROM,
    OPT_TO,
    OPT_AFTER,
    OPT_LIMIT,
    OPT_BEFORE,
    OPT_AGAINST,
    OPT_DEEP
};

/* What the options said. */
typedef struct audit_args {
    cu_id tenant;
    cu_audit_filter f;
    const char *from, *to, *after, *limit, *before;
    const char *against; /* checkpoints held outside the vault (verify) */
    int deep;            /* verify --deep: each record against its latest write's digest */
    const char *file;    /* verify-certificate FILE */
    int64_t before_ms;
    int quiet; /* --quiet: no progress (verify) */
} audit_args;

/* The CLI's own context, with the operator's identity (cli_ctx). */
static const cu_ctx *audit_ctx(void)
{
    static cu_ctx ctx;

    ctx = cli_ctx();
    return &ctx;
}

/* A decimal number in [lo, hi]. */
static int number(const char *what, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    unsigned long long x;
    char *end;

    errno = 0;
    x = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || x < lo || x > hi)
        return cli_usage("audit", "%s must be a number from %llu to %llu", what,
                         (unsigned long long)lo, (unsigned long long)hi);
    *out = x;
    return 0;
}

static int time_arg(const char *what, const char *s, int64_t *out)
{
    if (cu_repr_time_parse(s, out) != CU_OK)
        return cli_usage("audit", "%s must be YYYY-MM-DD, an RFC 3339 time or unix ms", what);
    return 0;
}

/* Turns the filter options into a->f. */
static int filter_args(audit_args *a)
{
    uint64_t after = 0, limit = 100;
    int rc = 0;

    if ((a->from && (rc = time_arg("--from", a->from, &a->f.from_ms)) != 0) ||
        (a->to && (rc = time_arg("--to", a->to, &a->f.to_ms)) != 0) ||
        (a->after && (rc = number("--after", a->after, 0, INT64_MAX, &after)) != 0) ||
        (a->limit && (rc = number("--limit", a->limit, 1, 1000, &limit)) != 0))
        return rc;
    if (a->to && a->f.to_ms == 0)
        return cli_usage("audit", "--to must be after 1970-01-01T00:00:00Z");
    a->f.after_seq = after;
    a->f.limit = (size_t)limit;
    return 0;
}

/* Reads the checkpoints of --against FILE; exit code 0 or the failure's. */
static int read_held(const char *path, cu_audit_checkpoint **held, size_t *n, uint8_t pk[32],
                     int *has_pk)
{
    char *text = NULL;
    size_t len = 0;
    cu_err err = {0};
    cu_rc rc;

    if (cu_file_read(path, 64 << 20, &text, &len, &err) != CU_OK)
        return cli_fail(&err);
    rc = cu_repr_audit_held_parse(text, held, n, pk, has_pk);
    free(text);
    if (rc == CU_ERR_INVALID)
        return cli_usage("audit", "\"%s\" holds no checkpoints (an export, a checkpoint, or an "
                                  "array of them)",
                         path);
    if (rc != CU_OK) {
        cu_err_set(&err, rc, "could not read \"%s\"", path);
        return cli_fail(&err);
    }
    return 0;
}

static int do_verify(cu_vault *v, audit_args *a)
{
    cu_audit_checkpoint *held = NULL;
    cu_audit_verify_opts o = {0};
    cu_audit_report rep;
    cu_err err = {0};
    uint8_t pk[32];
    int has_pk = 0, rc;
    size_t n = 0;
    cJSON *out;

    if (a->against && (rc = read_held(a->against, &held, &n, pk, &has_pk)) != 0)
        return rc;
    o.held = held;
    o.nheld = n;
    o.pinned = has_pk ? pk : NULL;
    o.deep = a->deep;
    cli_progress p;
    cli_progress_init(&p, NULL, a->quiet, 0);
    cli_progress_hook(&p);
    rc = cu_audit_verify_with(v, audit_ctx(), a->tenant, &o, &rep, &err);
    cli_progress_done(&p);
    free(held);
    if (rc != CU_OK)
        return cli_fail(&err);
    out = cu_repr_audit_report_json(&rep);
    if (a->against && out != NULL)
        cJSON_AddNumberToObject(out, "held", (double)rep.held);
    if (a->deep && out != NULL)
        cJSON_AddNumberToObject(out, "records", (double)rep.records);
    if ((rc = cli_print(out)) != 0)
        return rc;
    /* P-AUD-2: a broken chain is an integrity failure. */
    return rep.ok ? 0 : 5;
}

static int do_list(cu_vault *v, audit_args *a)
{
    cu_audit_entry *list = NULL;
    cu_err err = {0};
    size_t n = 0;
    int rc;

    if (cu_audit_list(v, audit_ctx(), a->tenant, &a->f, &list, &n, &err) != CU_OK)
        return cli_fail(&err);
    rc = cli_print(cu_repr_audit_page_json(list, n, a->f.limit));
    free(list);
    return rc;
}

static int do_checkpoint(cu_vault *v, audit_args *a)
{
    cu_audit_checkpoint c;
    cu_err err = {0};

    if (cu_audit_checkpoint_now(v, audit_ctx(), a->tenant, &c, &err) != CU_OK)
        return cli_fail(&err);
    return cli_print(cu_repr_audit_checkpoint_json(&c));
}

static int do_checkpoints(cu_vault *v, audit_args *a)
{
    cu_audit_checkpoint *list = NULL;
    cu_err err = {0};
    uint8_t pk[32];
    size_t n = 0;
    int rc;

    if (cu_audit_checkpoints(v, audit_ctx(), a->tenant, &list, &n, &err) != CU_OK)
        return cli_fail(&err);
    cu_audit_public_key(v, pk);
    rc = cli_print(cu_repr_audit_export_json(a->tenant, pk, list, n));
    free(list);
    return rc;
}

static int do_prune(cu_vault *v, audit_args *a)
{
    cu_err err = {0};
    uint64_t upto = 0;
    cu_tenant t;
    cJSON *o;

    /* cu_audit_prune finds nothing to prune in a tenant that does not exist; say so. */
    if (a->tenant != 0 && cu_tenant_get(v, audit_ctx(), a->tenant, &t, &err) != CU_OK)
        return cli_fail(&err);
    if (cu_audit_prune(v, audit_ctx(), a->tenant, a->before_ms, &upto, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "tenant_id", a->tenant);
    if (upto != 0) {
        char buf[CU_ID_STRLEN];
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)upto);
        cJSON_AddStringToObject(o, "pruned_through", buf);
    } else {
        cJSON_AddNullToObject(o, "pruned_through");
    }
    return cli_print(o);
}

/* The certificate in text: the object itself, or an answer's "certificate" member. Caller
 * frees. */
static char *certificate_text(const char *text, size_t len)
{
    cJSON *o = NULL, *c;
    cu_err err = {0};
    char *out = NULL;

    if (cu_json_parse(text, len, &o, NULL, &err) != CU_OK)
        return NULL;
    c = cJSON_GetObjectItemCaseSensitive(o, "certificate");
    out = cJSON_PrintUnformatted(cJSON_IsObject(c) ? c : o);
    cJSON_Delete(o);
    return out;
}

/* `audit verify-certificate FILE` (P-DSR-4). */
static int do_verify_certificate(cu_vault *v, audit_args *a)
{
    char *text = NULL, *cert;
    cu_err err = {0}, bad = {0};
    uint8_t pk[32];
    size_t len = 0;
    cJSON *o, *c;
    cu_rc rc;

    if (cu_file_read(a->file, 4 << 20, &text, &len, &err) != CU_OK)
        return cli_fail(&err);
    cert = certificate_text(text, len);
    free(text);
    if (cert == NULL)
        return cli_usage("audit", "\"%s\" holds no erasure certificate", a->file);
    cu_audit_public_key(v, pk);
    rc = cu_erasure_certificate_verify(cert, strlen(cert), pk, &bad);
    if (rc == CU_ERR_INVALID) {
        free(cert);
        return cli_fail(&bad);
    }
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", rc == CU_OK);
    if ((c = cJSON_Parse(cert)) != NULL) {
        static const char *const keep[] = {"tenant_id", "subject_id", "erased_at"};
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(c, keep[i]);
            if (cJSON_IsString(m))
                cJSON_AddStringToObject(o, keep[i], m->valuestring);
        }
        cJSON_Delete(c);
    }
    if (rc == CU_OK)
        cJSON_AddNullToObject(o, "problem");
    else
        cJSON_AddStringToObject(o, "problem", bad.msg);
    free(cert);
    if (cli_print(o) != 0)
        return 1;
    return rc == CU_OK ? 0 : 5;
}

static const struct verb {
    const char *name;
    const char *help;
    int filters; /* takes the list filters */
    int (*fn)(cu_vault *, audit_args *);
} verbs[] = {
    {"verify", help_verify, 0, do_verify},
    {"list", help_list, 1, do_list},
    {"checkpoint", help_checkpoint, 0, do_checkpoint},
    {"checkpoints", help_checkpoints, 0, do_checkpoints},
    {"prune", help_prune, 0, do_prune},
    {"verify-certificate", help_certificate, 0, do_verify_certificate},
};

/* Stores one command-specific option; returns 0 or a usage exit code. */
static int take_opt(audit_args *a, int opt, const char *arg, const char **tenant_s)
{
    switch (opt) {
    case OPT_TENANT: *tenant_s = arg; break;
    case OPT_ACTOR: a->f.actor = arg; break;
    case OPT_ACTION: a->f.action = arg; break;
    case OPT_OBJECT: a->f.object = arg; break;
    case OPT_OBJECT_PREFIX:
        if (arg[0] == '\0') /* as the API: an empty prefix is no filter, so a mistake */
            return cli_usage("audit", "--object-prefix needs a value");
        a->f.object_prefix = arg;
        break;
    case OPT_PURPOSE: a->f.purpose = arg; break;
    case OPT_FROM: a->from = arg; break;
    case OPT_TO: a->to = arg; break;
    case OPT_AFTER: a->after = arg; break;
    case OPT_LIMIT: a->limit = arg; break;
    case OPT_BEFORE: a->before = arg; break;
    case OPT_AGAINST: a->against = arg; break;
    case OPT_DEEP: a->deep = 1; break;
    default: return cli_usage("audit", "unknown option");
    }
    return 0;
}

static int has_filter(const audit_args *a)
{
    return a->f.actor || a->f.action || a->f.object || a->f.object_prefix || a->f.purpose ||
           a->from || a->to || a->after || a->limit;
}

int cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_QUIET_OPT,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"actor", required_argument, NULL, OPT_ACTOR},
        {"action", required_argument, NULL, OPT_ACTION},
        {"object", required_argument, NULL, OPT_OBJECT},
        {"object-prefix", required_argument, NULL, OPT_OBJECT_PREFIX},
        {"purpose", required_argument, NULL, OPT_PURPOSE},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"after", required_argument, NULL, OPT_AFTER},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"before", required_argument, NULL, OPT_BEFORE},
        {"against", required_argument, NULL, OPT_AGAINST},
        {"deep", no_argument, NULL, OPT_DEEP},
        {NULL, 0, NULL, 0},
    };
    const char *tenant_s = NULL;
    const struct verb *verb = NULL;
    audit_args a;
    cu_vault *v = NULL;
    cli_common c;
    int opt, helpme = 0, rc;

    memset(&a, 0, sizeof(a));
    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!cli_common_opt(&c, opt, optarg, &helpme) &&
            (rc = take_opt(&a, opt, optarg, &tenant_s)) != 0)
            return rc;
    for (size_t i = 0; optind < argc && i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(argv[optind], verbs[i].name) == 0)
            verb = &verbs[i];
    if (helpme) {
        fputs(verb ? verb->help : help_all, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("audit", "verify, list, checkpoint, checkpoints or prune?");
    if (verb == NULL)
        return cli_usage("audit", "unknown verb \"%s\"", argv[optind]);
    if (verb->fn == do_verify_certificate) {
        if (optind + 2 != argc)
            return cli_usage("audit", "verify-certificate takes one FILE");
        a.file = argv[optind + 1];
    } else if (optind + 1 != argc) {
        return cli_usage("audit", "%s takes no argument", verb->name);
    }
    if (!verb->filters && has_filter(&a))
        return cli_usage("audit", "only list takes filters");
    if (a.before != NULL && verb->fn != do_prune)
        return cli_usage("audit", "only prune takes --before");
    if (verb->fn == do_prune && a.before == NULL)
        return cli_usage("audit", "prune needs --before");
    if ((a.against != NULL || a.deep) && verb->fn != do_verify)
        return cli_usage("audit", "only verify takes --against and --deep");
    if ((a.before && (rc = time_arg("--before", a.before, &a.before_ms)) != 0) ||
        (verb->filters && (rc = filter_args(&a)) != 0))
        return rc;
    if (tenant_s && (rc = cli_id("audit", "--tenant", tenant_s, &a.tenant)) != 0)
        return rc;
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    a.quiet = c.quiet;
    rc = verb->fn(v, &a);
    cu_vault_close(v);
    return rc;
}
