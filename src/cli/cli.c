/*
 * cli.c: helpers shared by the custos commands (see cli.h).
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "repr.h"
#include "util.h"

void cli_common_defaults(cli_common *c)
{
    const char *env = getenv("CUSTOS_DATA"), *kf = getenv("CUSTOS_KEY_FILE");
    const char *st = getenv("CUSTOS_STORE");

    memset(c, 0, sizeof(*c));
    c->data_dir = env && *env ? env : "./custos-data";
    c->key_file = kf && *kf ? kf : NULL;
    c->store = st && *st ? st : NULL;
}

int cli_common_opt(cli_common *c, int opt, const char *arg, int *help)
{
    switch (opt) {
    case OPT_DATA:
        c->data_dir = arg;
        return 1;
    case OPT_PASSFILE:
        c->passphrase_file = arg;
        return 1;
    case OPT_KEYFILE:
        c->key_file = arg;
        return 1;
    case OPT_STORE:
        c->store = arg;
        return 1;
    case OPT_XCHACHA:
        c->allow_xchacha = 1;
        return 1;
    case OPT_HELP:
        *help = 1;
        return 1;
    case OPT_STAFF_PURPOSE:
        c->purpose = arg;
        return 1;
    case OPT_PROGRESS_QUIET:
        c->quiet = 1;
        return 1;
    }
    return 0;
}

const char *cli_actor(void)
{
    static char actor[48];
    struct passwd *pw;

    if (actor[0] == '\0') {
        /* A user name is an account, not a personal value the log may not hold (P-AUD-4). */
        pw = getpwuid(geteuid());
        if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
            snprintf(actor, sizeof(actor), "operator:cli:%.32s", pw->pw_name);
        else
            snprintf(actor, sizeof(actor), "operator:cli:uid%lu", (unsigned long)geteuid());
    }
    return actor;
}

cu_ctx cli_ctx(void)
{
    cu_ctx ctx = {.actor = cli_actor(), .purpose = "administration", .flags = CU_CTX_LOCAL};

    return ctx;
}

int cli_open_staff(const cli_common *c, const char *cmd, cu_id tenant, cu_vault **v, cu_ctx *ctx)
{
    cu_err err = {0};
    int rc;

    memset(ctx, 0, sizeof(*ctx));
    ctx->actor = cli_actor();
    ctx->purpose = c->purpose;
    ctx->flags = CU_CTX_OPERATOR | CU_CTX_LOCAL;
    if (c->purpose == NULL)
        return cli_usage(cmd, "--purpose is required: platform staff state why they reach a "
                              "tenant's data");
    if ((rc = cli_open(c, v)) != 0)
        return rc;
    /* P-ACC-4: the core decides which purposes staff may state for this tenant. */
    if (cu_staff_purpose_check(*v, ctx, tenant, &err) != CU_OK) {
        cu_vault_close(*v);
        *v = NULL;
        return cli_fail(&err);
    }
    return 0;
}

void cli_passphrase_free(char *p)
{
    if (p != NULL) {
        cu_str_wipe(p);
        free(p);
    }
}

/* CUSTOS_PASSPHRASE, taken out of the environment by cli_env_take(). */
static char *env_passphrase;

static void env_passphrase_free(void)
{
    cli_passphrase_free(env_passphrase);
    env_passphrase = NULL;
}

int cli_env_take(void)
{
    char *env = getenv("CUSTOS_PASSPHRASE");

    if (env == NULL)
        return 0;
    if (*env != '\0' && (env_passphrase = strdup(env)) == NULL)
        return 1;
    /* The value sits in the process's initial environment block (/proc/PID/environ) and would
     * pass to any child: wipe it in place, then drop the variable. */
    cu_str_wipe(env);
    if (unsetenv("CUSTOS_PASSPHRASE") != 0)
        return 1;
    atexit(env_passphrase_free);
    return 0;
}

int cli_vault_opts(const cli_common *c, cu_vault_opts *o, char **passphrase)
{
    const char *env = env_passphrase;
    cu_err err = {0};

    memset(o, 0, sizeof(*o));
    *passphrase = NULL;
    o->data_dir = c->data_dir;
    o->key_file = c->key_file;
    o->store = c->store;
    o->allow_xchacha = c->allow_xchacha;
    if (c->passphrase_file != NULL) {
        size_t n = 0;
        if (cu_file_read(c->passphrase_file, 4096, passphrase, &n, &err) != CU_OK)
            return cli_fail(&err);
        while (n > 0 && ((*passphrase)[n - 1] == '\n' || (*passphrase)[n - 1] == '\r'))
            (*passphrase)[--n] = '\0';
    } else if (env != NULL && *env != '\0') {
        if ((*passphrase = strdup(env)) == NULL)
            return 1;
    }
    o->passphrase = *passphrase;
    return 0;
}

int cli_open(const cli_common *c, cu_vault **v)
{
    cu_vault_opts o;
    char *pass = NULL;
    cu_err err = {0};
    int rc;

    if ((rc = cli_vault_opts(c, &o, &pass)) != 0)
        return rc;
    if (cu_vault_open(&o, v, &err) != CU_OK)
        rc = cli_fail(&err);
    cli_passphrase_free(pass);
    return rc;
}

int cli_fail(const cu_err *err)
{
    fprintf(stderr, "custos: %s: %s\n", cu_rc_name(err->code), err->msg);
    switch (err->code) {
    case CU_OK:
        return 0;
    case CU_ERR_NOT_FOUND:
        return 3;
    case CU_ERR_INVALID:
    case CU_ERR_EXISTS:
    case CU_ERR_FORBIDDEN_FIELD:
    case CU_ERR_CONFLICT:
    case CU_ERR_LIMIT:
    case CU_ERR_RATE_LIMITED:
    case CU_ERR_FORBIDDEN:
    case CU_ERR_UNKNOWN_PURPOSE:
    case CU_ERR_PURPOSE_DENIED:
    case CU_ERR_CONSENT_REQUIRED:
    case CU_ERR_OBJECTED:
    case CU_ERR_RESTRICTED:
    case CU_ERR_OPTED_OUT:
    case CU_ERR_UNDER_AGE:
    case CU_ERR_LEGAL_HOLD:
    case CU_ERR_TERMINATED:
    case CU_ERR_NOT_LISTED:
        return 4;
    case CU_ERR_CRYPTO:
    case CU_ERR_KEY:
    case CU_ERR_PERM:
    case CU_ERR_AUTH:
    case CU_ERR_MFA_REQUIRED:
    case CU_ERR_UNSUPPORTED:
        return 5;
    case CU_ERR_IO:
    case CU_ERR_UNAVAILABLE:
        return 6;
    default:
        return 1;
    }
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "custos %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see custos %s --help)\n", cmd);
    return EXIT_USAGE;
}

int cli_print(cJSON *item)
{
    char *text = item ? cJSON_Print(item) : NULL;

    if (text == NULL) {
        cJSON_Delete(item);
        fprintf(stderr, "custos: out_of_memory: could not print the result\n");
        return 1;
    }
    puts(text);
    cu_str_wipe(text);
    free(text);
    cJSON_Delete(item);
    return 0;
}

int cli_print_id(cu_id id, const char *flag)
{
    cJSON *o = cJSON_CreateObject();

    cu_repr_add_id(o, "id", id);
    if (flag != NULL)
        cJSON_AddBoolToObject(o, flag, 1);
    return cli_print(o);
}

int cli_id(const char *cmd, const char *what, const char *s, cu_id *out)
{
    if (s == NULL)
        return cli_usage(cmd, "%s is required", what);
    if (cu_id_parse(s, out) != CU_OK)
        return cli_usage(cmd, "%s must be a decimal id", what);
    return 0;
}

char *cli_read_stdin(size_t max, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);

    while (buf != NULL) {
        size_t r;
        if (n + 1 >= cap) {
            char *nb;
            if (cap > max + 1) {
                free(buf);
                return NULL;
            }
            nb = realloc(buf, cap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
        r = fread(buf + n, 1, cap - n - 1, stdin);
        n += r;
        if (r == 0 && ferror(stdin))
            break;
        if (r == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        }
    }
    free(buf);
    return NULL;
}
