/*
 * cmd_incident.c: `custos incident open|list|show|report|notice|revoke`: breach incidents from
 * the command line (P-BRE-1, docs/incidents.md), with the server stopped, as platform staff
 * (the operator's view: every incident, any tenant or all in scope). The same documents as the
 * API's (src/repr/repr_incident.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "custos_incident.h"
#include "repr.h"
#include "repr_incident.h"

static const char help[] =
    "usage: custos incident open --from TIME [--to TIME] [--known-at TIME] [SCOPE] [DEADLINES]\n"
    "       custos incident list [OPTIONS]\n"
    "       custos incident show|report|revoke ID [OPTIONS]\n"
    "       custos incident notice ID --kind authority|tenant|subjects --reference REF\n"
    "                              [--tenant ID] [--at TIME] [OPTIONS]\n"
    "\n"
    "open computes the affected tenants and subjects from the audit log for the window and\n"
    "the scope, and freezes them; show prints the incident with its deadlines and timeline;\n"
    "report adds the affected set (ids); notice records a notice sent; revoke revokes the\n"
    "incident's suspected API key. TIME: RFC 3339, a date or unix milliseconds.\n"
    "\n"
    "  --tenant ID             open: the tenant whose log is read (none: every tenant);\n"
    "                          notice: the tenant told\n"
    "  --api-key ID, --principal ACTOR, --source ADDRESS, --collection NAME   the scope\n"
    "  --authority-hours N, --tenants-hours N, --subjects-hours N   the deadlines (72, 24, 72)\n"
    "  --kind KIND, --reference REF, --at TIME   notice\n" CLI_COMMON_HELP;

enum {
    OPT_FROM = 0x200,
    OPT_TO,
    OPT_KNOWN,
    OPT_TENANT,
    OPT_KEY,
    OPT_PRINCIPAL,
    OPT_SOURCE,
    OPT_COLLECTION,
    OPT_AUTH_H,
    OPT_TEN_H,
    OPT_SUB_H,
    OPT_KIND,
    OPT_REF,
    OPT_AT
};

typedef struct args {
    cu_incident_in in;
    const char *from, *to, *known, *tenant, *key, *kind, *ref, *at;
    const char *hours[3];
    cu_id id;
} args;

/* A TIME option into unix seconds (0 if absent); an exit code. */
static int time_arg(const char *what, const char *s, int64_t *out)
{
    int64_t ms = 0;

    *out = 0;
    if (s == NULL)
        return 0;
    if (cu_repr_time_parse(s, &ms) != CU_OK || ms < 1000)
        return cli_usage("incident", "%s: an RFC 3339 time, a date or unix milliseconds", what);
    *out = ms / 1000;
    return 0;
}

static int hours_arg(const char *s, int64_t *out)
{
    char *end;
    long long h;

    *out = 0;
    if (s == NULL)
        return 0;
    h = strtoll(s, &end, 10);
    if (*s < '1' || *s > '9' || *end != '\0' || h > CU_INCIDENT_HOURS_MAX)
        return cli_usage("incident", "deadlines are whole hours from 1 to %d",
                         CU_INCIDENT_HOURS_MAX);
    *out = h;
    return 0;
}

static int show(cu_vault *v, const cu_ctx *ctx, cu_id id, int report)
{
    cu_incident i;
    cu_err err = {0};
    cJSON *o;

    if (cu_incident_get(v, ctx, 0, id, &i, &err) != CU_OK)
        return cli_fail(&err);
    o = cu_repr_incident_json(&i, cu_clock_now(), report);
    cu_incident_cleanup(&i);
    return cli_print(o);
}

static int list(cu_vault *v, const cu_ctx *ctx)
{
    cu_store_incident *l = NULL;
    size_t n = 0;
    cu_err err = {0};
    cJSON *o;

    if (cu_incident_list(v, ctx, 0, &l, &n, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateArray();
    for (size_t k = 0; k < n; k++)
        cJSON_AddItemToArray(o, cu_repr_incident_summary_json(&l[k]));
    free(l);
    return cli_print(o);
}

static int do_verb(cu_vault *v, const cu_ctx *ctx, const char *verb, args *a)
{
    cu_err err = {0};
    int64_t at = 0;
    cu_id t = 0, id = 0;
    int kind, rc;

    if (strcmp(verb, "list") == 0)
        return list(v, ctx);
    if (strcmp(verb, "show") == 0 || strcmp(verb, "report") == 0)
        return show(v, ctx, a->id, strcmp(verb, "report") == 0);
    if (strcmp(verb, "revoke") == 0)
        return cu_incident_revoke(v, ctx, 0, a->id, &err) != CU_OK ? cli_fail(&err)
                                                                   : show(v, ctx, a->id, 0);
    if (strcmp(verb, "open") == 0)
        return cu_incident_open(v, ctx, 0, &a->in, &id, &err) != CU_OK ? cli_fail(&err)
                                                                       : show(v, ctx, id, 0);
    if ((kind = cu_incident_kind_parse(a->kind)) == 0)
        return cli_usage("incident", "notice needs --kind authority, tenant or subjects");
    if ((rc = time_arg("--at", a->at, &at)) != 0 ||
        (a->tenant && (rc = cli_id("incident", "--tenant", a->tenant, &t)) != 0))
        return rc;
    if (cu_incident_notice(v, ctx, 0, a->id, kind, t, at, a->ref, &err) != CU_OK)
        return cli_fail(&err);
    return show(v, ctx, a->id, 0);
}

/* The open verb's options into a->in; an exit code. */
static int open_args(args *a)
{
    int rc;

    if (a->from == NULL)
        return cli_usage("incident", "open needs --from");
    if ((rc = time_arg("--from", a->from, &a->in.from)) != 0 ||
        (rc = time_arg("--to", a->to, &a->in.to)) != 0 ||
        (rc = time_arg("--known-at", a->known, &a->in.known_at)) != 0 ||
        (rc = hours_arg(a->hours[0], &a->in.authority_hours)) != 0 ||
        (rc = hours_arg(a->hours[1], &a->in.tenants_hours)) != 0 ||
        (rc = hours_arg(a->hours[2], &a->in.subjects_hours)) != 0 ||
        (a->tenant && (rc = cli_id("incident", "--tenant", a->tenant, &a->in.tenant)) != 0) ||
        (a->key && (rc = cli_id("incident", "--api-key", a->key, &a->in.api_key)) != 0))
        return rc;
    return 0;
}

/* The verb's ID argument (show, report, notice, revoke) or none (open, list). */
static int verb_args(const char *verb, int argc, char **argv, int ind, args *a)
{
    int one = strcmp(verb, "show") == 0 || strcmp(verb, "report") == 0 ||
              strcmp(verb, "notice") == 0 || strcmp(verb, "revoke") == 0;

    if (!one && strcmp(verb, "open") != 0 && strcmp(verb, "list") != 0)
        return cli_usage("incident", "unknown verb \"%s\"", verb);
    if (one && ind + 1 != argc)
        return cli_usage("incident", "%s takes one incident ID", verb);
    if (!one && ind != argc)
        return cli_usage("incident", "unexpected argument \"%s\"", argv[ind]);
    if (strcmp(verb, "open") == 0)
        return open_args(a);
    return one ? cli_id("incident", "ID", argv[ind], &a->id) : 0;
}

/* One option into a; 0 if it is not one of the command's own. */
static int take_opt(args *a, int opt, const char *arg)
{
    const char **slot[] = {
        [OPT_FROM - OPT_FROM] = &a->from,        [OPT_TO - OPT_FROM] = &a->to,
        [OPT_KNOWN - OPT_FROM] = &a->known,      [OPT_TENANT - OPT_FROM] = &a->tenant,
        [OPT_KEY - OPT_FROM] = &a->key,          [OPT_PRINCIPAL - OPT_FROM] = &a->in.principal,
        [OPT_SOURCE - OPT_FROM] = &a->in.source, [OPT_COLLECTION - OPT_FROM] = &a->in.collection,
        [OPT_AUTH_H - OPT_FROM] = &a->hours[0],  [OPT_TEN_H - OPT_FROM] = &a->hours[1],
        [OPT_SUB_H - OPT_FROM] = &a->hours[2],   [OPT_KIND - OPT_FROM] = &a->kind,
        [OPT_REF - OPT_FROM] = &a->ref,          [OPT_AT - OPT_FROM] = &a->at,
    };

    if (opt < OPT_FROM || opt > OPT_AT)
        return 0;
    *slot[opt - OPT_FROM] = arg;
    return 1;
}

int cmd_incident(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"known-at", required_argument, NULL, OPT_KNOWN},
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"api-key", required_argument, NULL, OPT_KEY},
        {"principal", required_argument, NULL, OPT_PRINCIPAL},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"collection", required_argument, NULL, OPT_COLLECTION},
        {"authority-hours", required_argument, NULL, OPT_AUTH_H},
        {"tenants-hours", required_argument, NULL, OPT_TEN_H},
        {"subjects-hours", required_argument, NULL, OPT_SUB_H},
        {"kind", required_argument, NULL, OPT_KIND},
        {"reference", required_argument, NULL, OPT_REF},
        {"at", required_argument, NULL, OPT_AT},
        {NULL, 0, NULL, 0},
    };
    cu_ctx ctx = cli_ctx();
    args a = {0};
    cu_vault *v = NULL;
    cli_common c;
    const char *verb;
    int opt, helpme = 0, rc;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme) || take_opt(&a, opt, optarg))
            continue;
        return cli_usage("incident", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("incident", "open, list, show, report, notice or revoke?");
    verb = argv[optind++];
    if ((rc = verb_args(verb, argc, argv, optind, &a)) != 0)
        return rc;
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    rc = do_verb(v, &ctx, verb, &a);
    cu_vault_close(v);
    return rc;
}
