/*
 * cmd_init.c: `custos init`: a new data directory with a fresh master key.
 */
#include <stdio.h>

#include "cli.h"

static const char help[] =
    "usage: custos init [--data DIR] [--key-file FILE] [--passphrase-file FILE]\n"
    "\n"
    "Creates DIR (mode 0700) with a new master key in DIR/master.key, or in FILE with\n"
    "--key-file (mode 0600; its directory must be yours and writable by you alone), and an\n"
    "empty database. Keep the key file outside DIR: a copy of DIR then holds no key to read\n"
    "it, and key epochs close old copies (docs/keys.md). With a passphrase\n"
    "(--passphrase-file, or CUSTOS_PASSPHRASE), the key file holds the master key wrapped\n"
    "under Argon2id(passphrase) instead.\n"
    "\n" CLI_COMMON_HELP;

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTS, {NULL, 0, NULL, 0}};
    cli_common c;
    cu_vault_opts o;
    cu_err err = {0};
    char *pass = NULL;
    int opt, helpme = 0, rc;
    cJSON *out;

    cli_common_defaults(&c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!cli_common_opt(&c, opt, optarg, &helpme))
            return cli_usage("init", "unknown option");
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind != argc)
        return cli_usage("init", "unexpected argument \"%s\"", argv[optind]);
    if ((rc = cli_vault_opts(&c, &o, &pass)) != 0)
        return rc;
    if (cu_vault_init(&o, &err) != CU_OK)
        rc = cli_fail(&err);
    cli_passphrase_free(pass);
    if (rc != 0)
        return rc;
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "data_dir", c.data_dir);
    cJSON_AddStringToObject(out, "key_file", c.key_file ? c.key_file : "master.key");
    cJSON_AddBoolToObject(out, "passphrase", o.passphrase != NULL);
    return cli_print(out);
}
