/*
 * cmd_migrate.c: `custos migrate --from sqlite:PATH --to postgresql://...`: a vault's database
 * moved from SQLite to PostgreSQL, row for row, with its audit chains intact (issue 12,
 * docs/scaling.md). The key file stays where it is.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "store_migrate.h"
#include "store_sqlite.h"

static const char help[] =
    "usage: custos migrate --from sqlite:PATH --to postgresql://...\n"
    "\n"
    "Copies the vault database at PATH (a data directory, or its custos.db) into an empty\n"
    "PostgreSQL database, in one transaction: all of it or nothing. Nothing is decrypted: the\n"
    "sealed values, keyed digests, audit chains and signed checkpoints arrive as they were.\n"
    "No server may run on the source meanwhile (its lock is taken). Leases are not copied.\n"
    "Prints each table's row count, compared between the two before the commit. Then run the\n"
    "vault on the target with the same key file: custos serve --store URL, and check it with\n"
    "custos audit verify --store URL.\n"
    "\n"
    "  --from sqlite:PATH      the source: a data directory or a custos.db file\n"
    "  --to URL                the target: a postgresql:// or postgres:// URL\n"
    "  --help                  show this help\n";

enum { OPT_FROM = 0x200, OPT_TO };

/* The database file of a sqlite:PATH source: PATH itself, or PATH/custos.db for a directory. */
static int source_path(const char *from, char *out, size_t cap)
{
    struct stat sb;
    int n;

    if (strncmp(from, "sqlite:", 7) != 0 || from[7] == '\0')
        return -1;
    from += 7;
    if (stat(from, &sb) == 0 && S_ISDIR(sb.st_mode))
        n = snprintf(out, cap, "%s/%s", from, CU_STORE_SQLITE_FILE);
    else
        n = snprintf(out, cap, "%s", from);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static cJSON *report_json(const cu_migrate_report *rep)
{
    cJSON *o = cJSON_CreateObject(), *t = cJSON_AddObjectToObject(o, "tables");

    for (size_t i = 0; t != NULL && i < rep->ntables; i++)
        cJSON_AddNumberToObject(t, rep->tables[i].name, (double)rep->tables[i].rows);
    cJSON_AddNumberToObject(o, "rows", (double)rep->rows);
    return o;
}

int cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {{"from", required_argument, NULL, OPT_FROM},
                                          {"to", required_argument, NULL, OPT_TO},
                                          {"help", no_argument, NULL, OPT_HELP},
                                          {NULL, 0, NULL, 0}};
    const char *from = NULL, *to = NULL;
    cu_migrate_report rep;
    char path[4096];
    cu_err err = {0};
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == OPT_FROM)
            from = optarg;
        else if (opt == OPT_TO)
            to = optarg;
        else if (opt == OPT_HELP)
            return fputs(help, stdout) < 0;
        else
            return cli_usage("migrate", "unknown option");
    }
    if (optind != argc)
        return cli_usage("migrate", "unexpected argument \"%s\"", argv[optind]);
    if (from == NULL || to == NULL)
        return cli_usage("migrate", "--from sqlite:PATH and --to postgresql://... are required");
    if (source_path(from, path, sizeof(path)) != 0)
        return cli_usage("migrate", "--from must be sqlite:PATH");
    if (strncmp(to, "postgresql://", 13) != 0 && strncmp(to, "postgres://", 11) != 0)
        return cli_usage("migrate", "--to must be a postgresql:// URL");
    if (cu_store_migrate_sqlite_to_pg(path, to, &rep, &err) != CU_OK)
        return cli_fail(&err);
    return cli_print(report_json(&rep));
}
