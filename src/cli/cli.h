/*
 * cli.h: what the `custos` commands share: common options, opening the vault, JSON output on
 * stdout, one-line errors on stderr, and exit codes.
 *
 * Exit codes (docs/cli.md):
 *   0 success             3 not found                       5 key, integrity or permissions
 *   1 internal error      4 refused: invalid, exists,       6 I/O
 *   2 usage error           forbidden, conflict, too large
 */
#ifndef CU_CLI_H
#define CU_CLI_H

#include <getopt.h>

#include <cjson/cJSON.h>

#include "custos.h"

enum { EXIT_USAGE = 2 };

/* Options every command takes. */
typedef struct cli_common {
    const char *data_dir;
    const char *passphrase_file;
    const char *key_file; /* --key-file, else $CUSTOS_KEY_FILE, else NULL: DIR/master.key */
    int allow_xchacha;
    const char *purpose; /* --purpose, of the commands on a tenant's personal data */
    const char *store;   /* --store URL, else $CUSTOS_STORE, else NULL: DIR/custos.db */
} cli_common;

/* Long options shared by every command; their short codes are above 0xff. */
enum { OPT_DATA = 0x100, OPT_PASSFILE, OPT_XCHACHA, OPT_HELP, OPT_STAFF_PURPOSE, OPT_KEYFILE,
       OPT_STORE };

/* --purpose, taken by the commands that reach a tenant's personal data (P-ACC-4). */
#define CLI_PURPOSE_OPT {"purpose", required_argument, NULL, OPT_STAFF_PURPOSE}
#define CLI_PURPOSE_HELP                                                                           \
    "  --purpose P             why platform staff reach the data (required): one of the\n"      \
    "                          policy's operator purposes, or without a policy support,\n"       \
    "                          investigation, monitoring, patch_validation or legal\n"
#define CLI_COMMON_OPTS                                                                            \
    {"data", required_argument, NULL, OPT_DATA},                                                   \
        {"passphrase-file", required_argument, NULL, OPT_PASSFILE},                                \
        {"key-file", required_argument, NULL, OPT_KEYFILE},                                        \
        {"store", required_argument, NULL, OPT_STORE},                                             \
        {"allow-xchacha", no_argument, NULL, OPT_XCHACHA}, {"help", no_argument, NULL, OPT_HELP}

#define CLI_COMMON_HELP                                                                            \
    "  --data DIR              data directory (default $CUSTOS_DATA or ./custos-data)\n"          \
    "  --passphrase-file FILE  read the key file's passphrase from FILE (or set\n"               \
    "                          CUSTOS_PASSPHRASE)\n"                                             \
    "  --key-file FILE         the master key file (default $CUSTOS_KEY_FILE or\n"              \
    "                          DIR/master.key); keep it outside DIR (docs/keys.md)\n"           \
    "  --store URL             a PostgreSQL database, postgresql://... (default\n"              \
    "                          $CUSTOS_STORE, else DIR/custos.db; docs/store.md)\n"            \
    "  --allow-xchacha         allow XChaCha20-Poly1305 on a CPU without AES-NI\n"                \
    "  --help                  show this help\n"

/* Handles a common option; returns 1 if opt was one, 0 if not. Sets *help for --help. */
int cli_common_opt(cli_common *c, int opt, const char *arg, int *help);
void cli_common_defaults(cli_common *c);

/* Opens the vault named by c; on failure prints the error and returns its exit code. */
int cli_open(const cli_common *c, cu_vault **v);
/* Builds the vault options (passphrase read as needed); passphrase must be freed with
 * cli_passphrase_free(). Returns an exit code. */
int cli_vault_opts(const cli_common *c, cu_vault_opts *o, char **passphrase);
void cli_passphrase_free(char *p);
/* Takes CUSTOS_PASSPHRASE out of the environment (its value wiped in place, the variable
 * unset), keeping a copy for cli_vault_opts() that is wiped at exit. Returns an exit code. */
int cli_env_take(void);

/* The operator's local identity, as the audit log shows the CLI's acts (P-ACC-4):
 * "operator:cli:<unix user>". A static buffer, filled once. */
const char *cli_actor(void);
/* The context of the vault's own acts at the CLI: the operator's identity, recorded purpose
 * "administration", CU_CTX_LOCAL. */
cu_ctx cli_ctx(void);
/* cli_open for a command on tenant's personal data, which platform staff reach only for a
 * stated purpose (P-ACC-4): fills *ctx (the operator's identity, --purpose, CU_CTX_OPERATOR |
 * CU_CTX_LOCAL) and has the core check it against the purposes staff may state for the
 * tenant. Returns an exit code: a usage error without --purpose, 4 for a purpose refused (the
 * vault then closed and *v NULL). */
int cli_open_staff(const cli_common *c, const char *cmd, cu_id tenant, cu_vault **v, cu_ctx *ctx);

/* Prints "custos: CODE: message" on stderr and returns the exit code for err. */
int cli_fail(const cu_err *err);
/* Prints a usage error and returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints item as JSON on stdout, deletes it, returns 0 (1 if out of memory). */
int cli_print(cJSON *item);
/* Prints {"id": id} and, if flag is set, flag: true; returns the exit code. */
int cli_print_id(cu_id id, const char *flag);
/* Parses an id argument; prints a usage error on failure. */
int cli_id(const char *cmd, const char *what, const char *s, cu_id *out);
/* Reads all of stdin (at most max bytes). */
char *cli_read_stdin(size_t max, size_t *len);

/* Where an export goes (cli_out.c): stdout, or PATH written as PATH.partial and renamed once
 * whole. cli_out_open and cli_out_close return an exit code (0: fine); cli_out_write is a
 * cu_export_write_fn with a progress line on a terminal. */
typedef struct cli_out {
    int fd;
    int progress; /* stderr is a terminal */
    size_t bytes;
    double shown; /* when the progress line was last written */
    const char *path;
    char tmp[4096];
} cli_out;
int cli_out_open(cli_out *o, const char *cmd, const char *path);
int cli_out_write(void *arg, const char *data, size_t n);
/* Finishes with the export's exit code rc: on success the file is synced and renamed, else
 * removed. */
int cli_out_close(cli_out *o, int rc);

/* The commands. argv[0] is the command's name. */
int cmd_init(int argc, char **argv);
int cmd_tenant(int argc, char **argv);
int cmd_subject(int argc, char **argv);
int cmd_collection(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_hold(int argc, char **argv);
int cmd_disclosure(int argc, char **argv);
int cmd_webhook(int argc, char **argv);
int cmd_incident(int argc, char **argv);
int cmd_request(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_analytics(int argc, char **argv);

#endif
