/*
 * main.c: the `custos` binary: dispatches to one command per file (cmd_*.c).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util.h"

static const char usage[] =
    "usage: custos COMMAND [OPTIONS]\n"
    "\n"
    "Custos is a privacy vault: it stores personal data encrypted under per-tenant and\n"
    "per-subject keys and keeps the promises of a privacy policy by construction.\n"
    "\n"
    "commands:\n"
    "  init                       create a data directory with a new master key\n"
    "  tenant create|list|policy  manage tenants and their policies\n"
    "  subject add|get|find|erase manage data subjects\n"
    "  collection define          declare a collection's field classes\n"
    "  record put|update|get|list|find|delete\n"
    "                             store and read JSON records\n"
    "  key rotate                 rotate the master key or a tenant key\n"
    "  policy check FILE          validate a policy file (docs/policy.md)\n"
    "  audit verify|list|checkpoint|checkpoints|prune\n"
    "                             read, verify and export the audit log\n"
    "  serve                      serve the HTTPS API (TLS 1.3)\n"
    "  sweep                      apply retention under every tenant's policy\n"
    "  hold place|list|release    legal holds, a purged tenant's too\n"
    "  disclosure add|list        disclosures to the policy's recipients (P-SHR-1)\n"
    "  analytics query|budget     aggregates with small groups suppressed (P-ANA-1)\n"
    "  webhook add|list|test|events|event|resend\n"
    "                             webhook endpoints and their outbox (docs/webhooks.md)\n"
    "  incident open|list|show|report|notice|revoke\n"
    "                             breach incidents from the audit log (docs/incidents.md)\n"
    "  request file|list|show|verify|acknowledge|extend|approve|reject|complete\n"
    "                             data-subject requests (docs/dsr.md)\n"
    "  backup create|list|expire|verify|restore\n"
    "                             encrypted backups and restores (docs/backup.md)\n"
    "  migrate --from sqlite:PATH --to URL\n"
    "                             move a vault's database to PostgreSQL (docs/scaling.md)\n"
    "\n"
    "Every command takes --help. Results are JSON on stdout; errors are one line on\n"
    "stderr. Exit codes: 0 ok, 1 internal, 2 usage, 3 not found, 4 refused,\n"
    "5 key or integrity, 6 I/O.\n";

static const struct {
    const char *name;
    int (*fn)(int, char **);
} commands[] = {
    {"init", cmd_init},         {"tenant", cmd_tenant}, {"subject", cmd_subject},
    {"collection", cmd_collection}, {"record", cmd_record}, {"key", cmd_key},
    {"serve", cmd_serve}, {"sweep", cmd_sweep}, {"audit", cmd_audit},
    {"policy", cmd_policy},     {"hold", cmd_hold},
    {"webhook", cmd_webhook},   {"disclosure", cmd_disclosure}, {"incident", cmd_incident},
    {"request", cmd_request},   {"backup", cmd_backup}, {"migrate", cmd_migrate},
    {"analytics", cmd_analytics},
};

int main(int argc, char **argv)
{
    cu_err err = {0};

    /* Before anything reads a key: no core file or ptrace may copy one out of this process,
     * and the passphrase leaves the environment (and /proc/PID/environ) at once. */
    if (cu_process_harden(&err) != CU_OK)
        return cli_fail(&err);
    if (cli_env_take() != 0) {
        fprintf(stderr, "custos: could not take CUSTOS_PASSPHRASE out of the environment\n");
        return 1;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("custos %s\n", CU_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "custos: unknown command \"%s\" (see custos --help)\n", argv[1]);
    return EXIT_USAGE;
}
