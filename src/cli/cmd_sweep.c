/*
 * cmd_sweep.c: `custos sweep`: applies what time has made due under every tenant's policy
 * (P-RET-1); `custos serve` does the same on an interval.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "repr.h"
#include "util.h"

static const char help[] =
    "usage: custos sweep [--now YYYY-MM-DD|UNIX] [OPTIONS]\n"
    "\n"
    "Applies what the clock has made due under every tenant's policy: for now, each audit\n"
    "log is pruned to the retention of its policy's log category, from a signed anchor.\n"
    "First it deletes the rows of erasures under way (a subject's key destroyed, P-DSR-4).\n"
    "Idempotent; prints counts, never values. --now sets the clock, in test builds only\n"
    "(as does CUSTOS_NOW there); the release binary refuses it, since a sweep ahead of time\n"
    "would delete data early and date its audit entries wrongly.\n"
    "\n"
    "  --now T                 the time to sweep as of\n" CLI_QUIET_HELP CLI_COMMON_HELP;

enum { OPT_NOW = 0x200 };

int cmd_sweep(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS, CLI_QUIET_OPT, {"now", required_argument, NULL, OPT_NOW},
        {NULL, 0, NULL, 0}};
    cu_ctx ctx = {.actor = "sweeper", .purpose = "retention", .flags = CU_CTX_LOCAL};
    cu_sweep_report rep;
    cli_progress p;
    cu_vault *v = NULL;
    cu_err err = {0};
    cli_common c;
    int opt, helpme = 0, rc;
    cJSON *o;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (cli_common_opt(&c, opt, optarg, &helpme))
            continue;
        if (opt != OPT_NOW)
            return cli_usage("sweep", "unknown option");
        if (cu_clock_set_text(optarg) != 0)
            return cli_usage("sweep", "--now must be YYYY-MM-DD or unix seconds, and works in "
                                      "test builds only");
    }
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind != argc)
        return cli_usage("sweep", "unexpected argument \"%s\"", argv[optind]);
    if ((rc = cli_open(&c, &v)) != 0)
        return rc;
    cli_progress_init(&p, NULL, c.quiet, 0);
    cli_progress_hook(&p);
    cu_rc r = cu_sweep(v, &ctx, &rep, &err);
    cli_progress_done(&p);
    if (r == CU_OK) {
        o = cu_repr_sweep_json(&rep);
        rc = cli_print(o);
    } else {
        rc = cli_fail(&err);
    }
    cu_vault_close(v);
    return rc;
}
