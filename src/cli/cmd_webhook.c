/*
 * cmd_webhook.c: `custos webhook add|list|test|events|event|resend`: a tenant's webhook
 * endpoints and its outbox from the command line (docs/webhooks.md), with the server stopped
 * (one process holds a SQLite vault): an endpoint added (its secret printed once), what was
 * sent, what failed and why, and a test event or a resend that the next `custos serve`
 * delivers. Changing, rotating and deleting endpoints is the API's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "custos_webhook.h"
#include "repr.h"

static const char help[] =
    "usage: custos webhook add --tenant ID --url URL [--types TYPES] [OPTIONS]\n"
    "       custos webhook list --tenant ID [OPTIONS]\n"
    "       custos webhook test --tenant ID [OPTIONS]\n"
    "       custos webhook events --tenant ID [--before EVENT] [OPTIONS]\n"
    "       custos webhook event --tenant ID EVENT [OPTIONS]\n"
    "       custos webhook resend --tenant ID EVENT [--endpoint E] [OPTIONS]\n"
    "\n"
    "add prints the new endpoint with its signing secret, once; list the tenant's endpoints\n"
    "(never their secrets); test adds a webhook.test event; events prints the outbox, newest\n"
    "first; event one event with its deliveries and every attempt (status or error); resend\n"
    "makes an event due again, under the same webhook-id, for the next custos serve.\n"
    "\n"
    "  --tenant ID             the tenant (required)\n"
    "  --url URL               add: https://, without credentials\n"
    "  --types TYPES           add: \"*\" (the default) or event types, comma-separated\n"
    "  --before EVENT          events older than this one\n"
    "  --endpoint E            resend to this endpoint only\n" CLI_COMMON_HELP;

enum { OPT_TENANT = 0x200, OPT_BEFORE, OPT_ENDPOINT, OPT_URL, OPT_TYPES };

typedef struct args {
    cu_id tenant, event, before, endpoint;
    const char *url, *types;
} args;

static int add_or_test(cu_vault *v, const cu_ctx *ctx, const char *verb, const args *a)
{
    char secret[CU_WEBHOOK_SECRET_MAX];
    cu_err err = {0};
    cu_id id = 0;
    cJSON *o;

    if (strcmp(verb, "test") == 0) {
        if (cu_webhook_test(v, ctx, a->tenant, &id, &err) != CU_OK)
            return cli_fail(&err);
        o = cJSON_CreateObject();
        cu_repr_add_id(o, "event_id", id);
        return cli_print(o);
    }
    if (cu_webhook_endpoint_create(v, ctx, a->tenant, a->url, a->types, &id, secret, &err) !=
        CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateObject();
    cu_repr_add_id(o, "id", id);
    cJSON_AddStringToObject(o, "secret", secret);
    cu_str_wipe(secret);
    return cli_print(o);
}

static int print_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant)
{
    cu_webhook_endpoint *list = NULL;
    size_t n = 0;
    cu_err err = {0};
    cJSON *o;

    if (cu_webhook_endpoint_list(v, ctx, tenant, 0, &list, &n, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(o, cu_repr_webhook_endpoint_json(&list[i]));
    free(list);
    return cli_print(o);
}

static int print_events(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id before)
{
    cu_webhook_event *list = NULL;
    size_t n = 0;
    cu_err err = {0};
    cJSON *o;

    if (cu_webhook_event_list(v, ctx, tenant, before, 50, &list, &n, &err) != CU_OK)
        return cli_fail(&err);
    o = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddItemToArray(o, cu_repr_webhook_event_json(&list[i], 0));
        cu_webhook_event_cleanup(&list[i]);
    }
    free(list);
    return cli_print(o);
}

static int do_verb(cu_vault *v, const cu_ctx *ctx, const char *verb, const args *a)
{
    cu_webhook_event ev;
    cu_err err = {0};
    cJSON *o;

    if (strcmp(verb, "add") == 0 || strcmp(verb, "test") == 0)
        return add_or_test(v, ctx, verb, a);
    if (strcmp(verb, "list") == 0)
        return print_list(v, ctx, a->tenant);
    if (strcmp(verb, "events") == 0)
        return print_events(v, ctx, a->tenant, a->before);
    if (strcmp(verb, "resend") == 0) {
        if (cu_webhook_resend(v, ctx, a->tenant, a->event, a->endpoint, &err) != CU_OK)
            return cli_fail(&err);
        o = cJSON_CreateObject();
        cu_repr_add_id(o, "event_id", a->event);
        cJSON_AddBoolToObject(o, "resent", 1);
        return cli_print(o);
    }
    if (cu_webhook_event_get(v, ctx, a->tenant, a->event, &ev, &err) != CU_OK)
        return cli_fail(&err);
    o = cu_repr_webhook_event_json(&ev, 1);
    cu_webhook_event_cleanup(&ev);
    return cli_print(o);
}

/* The verb's one EVENT argument (event, resend), or none (list, events). */
static int verb_args(const char *verb, int argc, char **argv, int ind, cu_id *event)
{
    int one = strcmp(verb, "event") == 0 || strcmp(verb, "resend") == 0;

    if (!one && strcmp(verb, "list") != 0 && strcmp(verb, "events") != 0 &&
        strcmp(verb, "add") != 0 && strcmp(verb, "test") != 0)
        return cli_usage("webhook", "unknown verb \"%s\"", verb);
    if (one && ind + 1 != argc)
        return cli_usage("webhook", "%s takes one EVENT id", verb);
    if (!one && ind != argc)
        return cli_usage("webhook", "unexpected argument \"%s\"", argv[ind]);
    return one ? cli_id("webhook", "EVENT", argv[ind], event) : 0;
}

int cmd_webhook(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"before", required_argument, NULL, OPT_BEFORE},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"url", required_argument, NULL, OPT_URL},
        {"types", required_argument, NULL, OPT_TYPES},
        {NULL, 0, NULL, 0},
    };
    cu_ctx ctx = cli_ctx();
    const char *tenant_s = NULL, *before_s = NULL, *endpoint_s = NULL, *verb;
    args a = {0};
    cu_vault *v = NULL;
    cli_common c;
    int opt, helpme = 0, rc;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme))
            continue;
        if (opt == OPT_TENANT)
            tenant_s = optarg;
        else if (opt == OPT_BEFORE)
            before_s = optarg;
        else if (opt == OPT_ENDPOINT)
            endpoint_s = optarg;
        else if (opt == OPT_URL)
            a.url = optarg;
        else if (opt == OPT_TYPES)
            a.types = optarg;
        else
            return cli_usage("webhook", "unknown option");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("webhook", "add, list, test, events, event or resend?");
    verb = argv[optind++];
    if ((rc = verb_args(verb, argc, argv, optind, &a.event)) != 0 ||
        (rc = cli_id("webhook", "--tenant", tenant_s, &a.tenant)) != 0 ||
        (before_s && (rc = cli_id("webhook", "--before", before_s, &a.before)) != 0) ||
        (endpoint_s && (rc = cli_id("webhook", "--endpoint", endpoint_s, &a.endpoint)) != 0))
        return rc;
    if (strcmp(verb, "add") == 0 && a.url == NULL)
        return cli_usage("webhook", "add needs --url");
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    rc = do_verb(v, &ctx, verb, &a);
    cu_vault_close(v);
    return rc;
}
