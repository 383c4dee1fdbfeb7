/*
 * cmd_backup.c: `custos backup create|list|expire|verify|restore` (P-BAK-1, P-BAK-2, P-RET-3;
 * docs/backup.md). Progress on stderr (cli_progress.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "repr.h"
#include "util.h"

static const char help[] =
    "usage: custos backup create|list|expire|verify|restore [OPTIONS] ARGS\n"
    "\n"
    "  create DIR              an encrypted, signed backup of the vault in DIR (made while\n"
    "                          the vault serves elsewhere too: a consistent snapshot)\n"
    "  list DIR                the backups in DIR this vault signed, oldest first\n"
    "  expire [DIR]            destroys the key of every backup past its window (P-RET-3),\n"
    "                          then deletes its files from DIR\n"
    "  verify BACKUP           a trial restore into a temporary directory: signature, hash,\n"
    "                          every audit chain, the journal replayed, subjects read back\n"
    "  restore BACKUP NEWDIR   restores into NEWDIR (new or empty), replaying every erasure\n"
    "                          of the erasure journal first (P-BAK-2); with --store URL the\n"
    "                          database goes into that (empty) PostgreSQL database and\n"
    "                          NEWDIR keeps the key files\n"
    "\n"
    "BACKUP is the backup's .manifest or .cbk file. verify and restore read the keys\n"
    "(master.key, backup.keys) and the journal (erasure.journal) from --keys DIR, else from\n"
    "--data: keep a copy of these files apart from the data and the backups.\n"
    "\n"
    "  --keys DIR              where master.key, backup.keys and erasure.journal are\n"
    "  --journal FILE          the erasure journal to replay (default: in the key directory)\n"
    "  --no-journal            restore without replaying erasures (audited; erased subjects\n"
    "                          in the backup come back)\n"
    "  --now T                 (expire) the time to expire as of, in test builds only\n"
    CLI_QUIET_HELP CLI_COMMON_HELP;

enum { OPT_KEYS = 0x200, OPT_JOURNAL, OPT_NO_JOURNAL, OPT_NOW };

typedef struct bargs {
    cli_common c;
    const char *keys, *journal;
    int no_journal;
} bargs;

static int do_create(const bargs *a, const char *dir)
{
    cli_progress p;
    cu_ctx ctx = cli_ctx();
    cu_backup_info b;
    cu_vault *v = NULL;
    cu_err err = {0};
    int rc;

    if ((rc = cli_open(&a->c, &v)) != 0)
        return rc;
    cli_progress_init(&p, "backup", a->c.quiet, 1);
    cu_rc r = cu_backup_create(v, &ctx, dir, cli_progress_bytes, &p, &b, &err);
    cli_progress_done(&p);
    cu_vault_close(v);
    if (r != CU_OK)
        return cli_fail(&err);
    return cli_print(cu_repr_backup_json(&b));
}

static int do_list(const bargs *a, const char *dir)
{
    cu_backup_info *list = NULL;
    cu_vault *v = NULL;
    cu_err err = {0};
    size_t n = 0;
    int rc;

    if ((rc = cli_open(&a->c, &v)) != 0)
        return rc;
    cu_rc r = cu_backup_list(v, dir, &list, &n, &err);
    cu_vault_close(v);
    if (r != CU_OK)
        return cli_fail(&err);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cu_repr_backup_json(&list[i]);
        cJSON_AddBoolToObject(o, "readable", list[i].key_present);
        cJSON_AddItemToArray(arr, o);
    }
    free(list);
    return cli_print(arr);
}

static int do_expire(const bargs *a, const char *dir)
{
    cu_ctx ctx = cli_ctx();
    cu_vault *v = NULL;
    cu_err err = {0};
    size_t n = 0;
    int rc;

    if ((rc = cli_open(&a->c, &v)) != 0)
        return rc;
    cu_rc r = cu_backup_expire(v, &ctx, dir, &n, &err);
    cu_vault_close(v);
    if (r != CU_OK)
        return cli_fail(&err);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "expired", (double)n);
    return cli_print(o);
}

static int do_trial(const bargs *a, int restore, const char *backup, const char *target)
{
    cli_progress p;
    cu_restore_opts o = {0};
    cu_restore_report rep;
    cu_vault_opts vo;
    char *pass = NULL;
    cu_err err = {0};
    cu_rc r;
    int rc;

    if ((rc = cli_vault_opts(&a->c, &vo, &pass)) != 0)
        return rc;
    /* --keys DIR, else the key file's directory (--key-file), else the data directory. */
    o.key_file = a->c.key_file;
    o.keys_dir = a->keys ? a->keys : a->c.key_file ? NULL : a->c.data_dir;
    o.passphrase = pass;
    o.backup = backup;
    o.target = target;
    o.store = restore ? a->c.store : NULL; /* --store or $CUSTOS_STORE: PostgreSQL's target */
    o.journal = a->journal;
    o.no_journal = a->no_journal;
    o.allow_xchacha = a->c.allow_xchacha;
    cli_progress_init(&p, restore ? "restore" : "verify", a->c.quiet, 1);
    o.progress = cli_progress_bytes;
    o.progress_arg = &p;
    r = restore ? cu_backup_restore(&o, &rep, &err) : cu_backup_verify(&o, &rep, &err);
    cli_progress_done(&p);
    cli_passphrase_free(pass);
    if (r != CU_OK)
        return cli_fail(&err);
    return cli_print(cu_repr_restore_json(&rep));
}

static int take(bargs *a, int opt, const char *arg, int *helpme)
{
    if (cli_common_opt(&a->c, opt, arg, helpme))
        return 0;
    switch (opt) {
    case OPT_KEYS:
        a->keys = arg;
        return 0;
    case OPT_JOURNAL:
        a->journal = arg;
        return 0;
    case OPT_NO_JOURNAL:
        a->no_journal = 1;
        return 0;
    case OPT_NOW:
        if (cu_clock_set_text(arg) != 0)
            return cli_usage("backup", "--now must be YYYY-MM-DD or unix seconds, and works in "
                                       "test builds only");
        return 0;
    default:
        return cli_usage("backup", "unknown option");
    }
}

int cmd_backup(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        CLI_QUIET_OPT,
        {"keys", required_argument, NULL, OPT_KEYS},
        {"journal", required_argument, NULL, OPT_JOURNAL},
        {"no-journal", no_argument, NULL, OPT_NO_JOURNAL},
        {"now", required_argument, NULL, OPT_NOW},
        {NULL, 0, NULL, 0},
    };
    bargs a = {0};
    int opt, helpme = 0, rc, n;
    const char *verb;

    cli_common_defaults(&a.c);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((rc = take(&a, opt, optarg, &helpme)) != 0)
            return rc;
    if (helpme) {
        fputs(help, stdout);
        return 0;
    }
    if (optind >= argc)
        return cli_usage("backup", "create, list, expire, verify or restore?");
    verb = argv[optind++];
    n = argc - optind;
    if (a.journal && a.no_journal)
        return cli_usage("backup", "--journal and --no-journal exclude each other");
    if (strcmp(verb, "create") == 0 && n == 1)
        return do_create(&a, argv[optind]);
    if (strcmp(verb, "list") == 0 && n == 1)
        return do_list(&a, argv[optind]);
    if (strcmp(verb, "expire") == 0 && n <= 1)
        return do_expire(&a, n ? argv[optind] : NULL);
    if (strcmp(verb, "verify") == 0 && n == 1)
        return do_trial(&a, 0, argv[optind], NULL);
    if (strcmp(verb, "restore") == 0 && n == 2)
        return do_trial(&a, 1, argv[optind], argv[optind + 1]);
    return cli_usage("backup", "usage: custos backup create|list DIR, expire [DIR], verify "
                               "BACKUP, restore BACKUP NEWDIR");
}
