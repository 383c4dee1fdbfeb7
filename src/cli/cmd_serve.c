/*
 * cmd_serve.c: `custos serve`: the HTTPS API.
 *
 * Configuration comes from a file (--config, or $CUSTOS_CONFIG), then CUSTOS_* environment
 * variables, then flags, each overriding the one before. In an empty directory it works with
 * no argument: it initializes the data directory, makes a self-signed certificate, prints the
 * URL and an operator API key (once), and serves.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "http.h"
#include "repr.h"
#include "util.h"

static const char help[] =
    "usage: custos serve [OPTIONS]\n"
    "\n"
    "Serves the HTTPS API (TLS 1.3 only) until SIGTERM or SIGINT, then finishes the requests\n"
    "in flight and exits 0. A data directory without a vault is initialized first, and the\n"
    "first start prints an operator API key, once. Without --cert/--key a self-signed\n"
    "certificate is made in the data directory and its SHA-256 fingerprint printed.\n"
    "SIGHUP reloads the certificate and key from their files for new connections; open ones\n"
    "go on. Under systemd (Type=notify) it tells READY=1 once listening.\n"
    "\n"
    "  --listen ADDR           IPv4 address to bind (default 127.0.0.1)   CUSTOS_LISTEN\n"
    "  --port N                TCP port, 0 for any free one (default 8443) CUSTOS_PORT\n"
    "  --cert FILE             PEM certificate chain                       CUSTOS_CERT\n"
    "  --key FILE              PEM private key                             CUSTOS_KEY\n"
    "  --threads N             worker threads (default: 1 per core, >= 2)  CUSTOS_THREADS\n"
    "  --max-body BYTES        request body limit (default 1048576)        CUSTOS_MAX_BODY\n"
    "  --quiet                 no access log on stderr                     CUSTOS_QUIET=1\n"
    "  --sweep-interval S      seconds between retention sweeps (default   CUSTOS_SWEEP_INTERVAL\n"
    "                          3600; 0: never; see custos sweep)\n"
    "  --backup-dir DIR        where backups go: POST /v1/backups, and     CUSTOS_BACKUP_DIR\n"
    "                          every --backup-interval (docs/backup.md)\n"
    "  --backup-interval S     seconds between backups, each verified by a CUSTOS_BACKUP_INTERVAL\n"
    "                          trial restore, expired ones destroyed\n"
    "                          (default 86400 with --backup-dir; 0: never)\n"
    "  --epoch-interval S      seconds between key epochs: the master key  CUSTOS_EPOCH_INTERVAL\n"
    "                          rotates if personal data was deleted since\n"
    "                          (default 3600; 0: never; old versions are\n"
    "                          still destroyed on time; see custos key)\n"
    "  --max-connections N     open connections at most (default 1024)     CUSTOS_MAX_CONNECTIONS\n"
    "  --max-connections-per-ip N  from one client address (default 64)\n"
    "                                                                      "
    "CUSTOS_MAX_CONNECTIONS_PER_IP\n"
    "  --header-timeout S      seconds for the TLS handshake and a         CUSTOS_HEADER_TIMEOUT\n"
    "                          request's headers (default 10)\n"
    "  --body-timeout S        seconds for a body after its headers        CUSTOS_BODY_TIMEOUT\n"
    "                          (default 60)\n"
    "  --reply-timeout S       seconds for sending an answer once it is    CUSTOS_REPLY_TIMEOUT\n"
    "                          ready (default 60)\n"
    "  --operator-key-file F   on first start, write the operator API key to F\n"
    "                          (mode 0600) instead of printing it\n"
    "  --login-slots N         password hashes at once (default 4)         CUSTOS_LOGIN_SLOTS\n"
    "  --login-per-source N    login attempts per address a minute (30)\n"
    "                                                      CUSTOS_LOGIN_PER_SOURCE\n"
    "  --login-per-tenant N    wrong passwords per tenant a minute (600)\n"
    "                                                      CUSTOS_LOGIN_PER_TENANT\n"
    "  --login-free-failures N wrong passwords per address and account\n"
    "                          before the back-off (default 5; an address\n"
    "                          alone gets four times as many)\n"
    "                                                      CUSTOS_LOGIN_FREE_FAILURES\n"
    "  --session-idle S        seconds unused that end a session (1800)    CUSTOS_SESSION_IDLE\n"
    "  --allowed-origins LIST  comma-separated origins besides the         CUSTOS_ALLOWED_ORIGINS\n"
    "                          server's own whose pages may change state\n"
    "                          with the session cookie\n"
    "  --config FILE           a file of `name = value` lines with the     CUSTOS_CONFIG\n"
    "                          names above (listen, port, cert, key, threads, max_body,\n"
    "                          quiet, data, sweep_interval, max_connections,\n"
    "                          max_connections_per_ip, header_timeout, body_timeout,\n"
    "                          login_slots, login_per_source, login_per_tenant,\n"
    "                          session_idle, allowed_origins, login_free_failures,\n"
    "                          reply_timeout, epoch_interval, store);\n"
    "                          flags beat the environment, which beats the file\n"
    "\n" CLI_COMMON_HELP;

enum { OPT_LISTEN = 0x200, OPT_PORT, OPT_CERT, OPT_KEY, OPT_THREADS, OPT_MAXBODY, OPT_QUIET,
       OPT_CONFIG, OPT_SWEEP, OPT_MAXCONN, OPT_MAXCONNIP, OPT_HEADERTO, OPT_BODYTO,
       OPT_OPKEY, OPT_REPLYTO, OPT_EPOCH, OPT_AUTH };
enum { OPT_BACKUP_DIR = 0x300, OPT_BACKUP_INT };

/* The scheduled backups (P-BAK-1, P-RET-3): flags, else the environment. */
static const char *backup_dir_opt, *backup_int_opt;

/* The connection limits and deadlines, settings 9 to 12 (flags OPT_MAXCONN..OPT_BODYTO); the
 * authentication settings (P-ACC-6, sessions) follow, from S_AUTH on (flags OPT_AUTH + i), up
 * to S_REPLY. */
#define SET_LIMITS 9
#define S_AUTH 13
#define S_REPLY 19 /* the deadline of a request's answer (flag OPT_REPLYTO) */
#define S_EPOCH 20 /* seconds between key epochs (flag OPT_EPOCH) */
#define S_STORE 21 /* the store's location (the common --store, CUSTOS_STORE) */
#define NSETTINGS 22
static const char *const names[NSETTINGS] = {
    "listen", "port", "cert", "key", "threads", "max_body", "quiet", "data", "sweep_interval",
    "max_connections", "max_connections_per_ip", "header_timeout", "body_timeout",
    "login_slots", "login_per_source", "login_per_tenant", "session_idle", "allowed_origins",
    "login_free_failures", "reply_timeout", "epoch_interval", "store"};
static const char *const envs[NSETTINGS] = {
    "CUSTOS_LISTEN", "CUSTOS_PORT", "CUSTOS_CERT", "CUSTOS_KEY", "CUSTOS_THREADS",
    "CUSTOS_MAX_BODY", "CUSTOS_QUIET", "CUSTOS_DATA", "CUSTOS_SWEEP_INTERVAL",
    "CUSTOS_MAX_CONNECTIONS", "CUSTOS_MAX_CONNECTIONS_PER_IP", "CUSTOS_HEADER_TIMEOUT",
    "CUSTOS_BODY_TIMEOUT", "CUSTOS_LOGIN_SLOTS", "CUSTOS_LOGIN_PER_SOURCE",
    "CUSTOS_LOGIN_PER_TENANT", "CUSTOS_SESSION_IDLE", "CUSTOS_ALLOWED_ORIGINS",
    "CUSTOS_LOGIN_FREE_FAILURES", "CUSTOS_REPLY_TIMEOUT", "CUSTOS_EPOCH_INTERVAL",
    "CUSTOS_STORE"};

/* The server's background thread: the retention sweep (P-RET-1) every interval seconds, and
 * the signing of the audit chains' tails (P-AUD-2) every second; it logs counts, never values,
 * as JSON lines on stderr. */
typedef struct sweeper {
    cu_vault *v;
    unsigned long interval;
    const char *backup_dir;        /* NULL: no scheduled backups */
    unsigned long backup_interval; /* seconds */
    cu_restore_opts verify;        /* the trial restore after each backup */
    unsigned long epoch; /* seconds between key epochs, 0: retirement alone, hourly */
    pthread_t th;
    pthread_mutex_t m;
    pthread_cond_t c;
    int stop, started;
} sweeper;

/* P-ENC-5, in the background: finishes any data key re-encryption a crash or a concurrent write
 * left behind, and logs counts (never values) when it did something. */
static void reencrypt_pending(cu_vault *v)
{
    cu_ctx ctx = {.actor = "sweeper", .purpose = "administration", .flags = CU_CTX_LOCAL};
    cu_reencrypt_report rep;
    cu_err err = {0};

    if (cu_key_reencrypt_all(v, &ctx, &rep, &err) != CU_OK)
        fprintf(stderr, "{\"reencrypt\":\"%s\"}\n", cu_rc_name(err.code));
    else if (rep.records + rep.holds + rep.users + rep.destroyed + rep.remaining > 0)
        fprintf(stderr,
                "{\"reencrypt\":\"ok\",\"records\":%zu,\"holds\":%zu,\"users\":%zu,"
                "\"destroyed\":%u,\"remaining\":%u}\n",
                rep.records, rep.holds, rep.users, rep.destroyed, rep.remaining);
}

/* One sweep, its counts (never values) on stderr, then the pending re-encryption. Servers
 * sharing a database sweep in turn under the store's sweep lease: while another one holds it
 * (CU_ERR_CONFLICT) this one skips its turn, re-encryption too, which the holder does. */
static void sweep_once(cu_vault *v)
{
    cu_ctx ctx = {.actor = "sweeper", .purpose = "retention", .flags = CU_CTX_LOCAL};
    cu_sweep_report rep;
    cu_err err = {0};
    cu_rc rc = cu_sweep(v, &ctx, &rep, &err);

    if (rc == CU_ERR_CONFLICT && rep.tenants + rep.tenants_failed == 0) {
        fprintf(stderr, "{\"sweep\":\"skipped\",\"lease\":\"held\"}\n");
        return;
    }
    if (rc == CU_OK) {
        cJSON *o = cu_repr_sweep_json(&rep);
        char *line;
        cJSON_AddStringToObject(o, "sweep", "ok");
        if ((line = cJSON_PrintUnformatted(o)) != NULL)
            fprintf(stderr, "%s\n", line);
        free(line);
        cJSON_Delete(o);
    } else
        fprintf(stderr, "{\"sweep\":\"%s\"}\n", cu_rc_name(err.code));
    reencrypt_pending(v);
}

/* P-BAK-1, P-RET-3: a backup, a trial restore of it, then the expiry of those past their
 * window; one JSON line each on stderr (ids and counts). */
static void backup_once(sweeper *s)
{
    cu_ctx ctx = {.actor = "backup", .purpose = "administration", .flags = CU_CTX_LOCAL};
    char manifest[4200];
    cu_restore_report rep;
    cu_backup_info b;
    cu_err err = {0};
    size_t expired = 0;

    if (cu_backup_create(s->v, &ctx, s->backup_dir, NULL, NULL, &b, &err) != CU_OK) {
        fprintf(stderr, "{\"backup\":\"%s\"}\n", cu_rc_name(err.code));
        return;
    }
    snprintf(manifest, sizeof(manifest), "%s/%s.manifest", s->backup_dir, b.id);
    s->verify.backup = manifest;
    if (cu_backup_verify(&s->verify, &rep, &err) != CU_OK)
        fprintf(stderr, "{\"backup\":\"ok\",\"id\":\"%s\",\"verify\":\"%s\"}\n", b.id,
                cu_rc_name(err.code));
    else
        fprintf(stderr, "{\"backup\":\"ok\",\"id\":\"%s\",\"bytes\":%llu,\"verify\":\"ok\"}\n",
                b.id, (unsigned long long)b.bytes);
    if (cu_backup_expire(s->v, &ctx, s->backup_dir, &expired, &err) != CU_OK)
        fprintf(stderr, "{\"backup_expire\":\"%s\"}\n", cu_rc_name(err.code));
    else if (expired > 0)
        fprintf(stderr, "{\"backup_expire\":\"ok\",\"expired\":%zu}\n", expired);
}

/* P-RET-3: a key epoch (the master key rotates if personal data was deleted since its newest
 * version and that version is min_age seconds old), or with epochs off the retirement of old
 * versions alone; counts on stderr when it did something. */
static void epoch_once(cu_vault *v, unsigned long epoch, int64_t min_age)
{
    cu_ctx ctx = {.actor = "serve", .purpose = "administration", .flags = CU_CTX_LOCAL};
    cu_key_epoch_report rep;
    cu_err err = {0};
    cu_rc rc;

    memset(&rep, 0, sizeof(rep));
    rc = epoch > 0 ? cu_key_epoch(v, &ctx, min_age, &rep, &err)
                   : cu_key_retire(v, &ctx, &rep.retire, &err);
    /* Several servers: another one holds the epoch lease and does it (docs/store.md). */
    if (rc == CU_ERR_CONFLICT)
        fprintf(stderr, "{\"key_epoch\":\"skipped\",\"lease\":\"held\"}\n");
    else if (rc != CU_OK)
        fprintf(stderr, "{\"key_epoch\":\"%s\"}\n", cu_rc_name(err.code));
    else if (rep.rotated || rep.retire.destroyed || rep.retire.referenced)
        fprintf(stderr,
                "{\"key_epoch\":\"ok\",\"rotated\":%d,\"version\":%u,\"destroyed\":%u,"
                "\"retained\":%u,\"referenced\":%u}\n",
                rep.rotated, rep.retire.current, rep.retire.destroyed, rep.retire.retained,
                rep.retire.referenced);
}

/* Every second: the audit chains' unsigned tails are signed once their last checkpoint is
 * older than the checkpoint interval (P-AUD-2); every interval seconds (0: never), a sweep;
 * every backup interval, a backup. */
static void *sweep_loop(void *arg)
{
    sweeper *s = arg;
    struct timespec next_sweep, next_backup, next_epoch;

    /* P-RET-3, first: a key epoch due since before the start (if the current version is older
     * than the interval: its age from the key file), and the retired versions past their
     * window destroyed. Here, with SIGTERM blocked, not before serving: a stop waits for it. */
    epoch_once(s->v, s->epoch, (int64_t)s->epoch);
    clock_gettime(CLOCK_MONOTONIC, &next_sweep);
    next_backup = next_sweep;
    next_epoch = next_sweep;
    next_sweep.tv_sec += (time_t)s->interval;
    next_backup.tv_sec += (time_t)s->backup_interval;
    next_epoch.tv_sec += (time_t)(s->epoch ? s->epoch : 3600);
    pthread_mutex_lock(&s->m);
    while (!s->stop) {
        struct timespec until, now;
        cu_err err = {0};
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        while (!s->stop && pthread_cond_timedwait(&s->c, &s->m, &until) == 0)
            ;
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->m);
        if (cu_audit_sign_tails(s->v, cu_audit_checkpoint_interval(s->v), NULL, &err) != CU_OK)
            fprintf(stderr, "{\"checkpoint\":\"%s\"}\n", cu_rc_name(err.code));
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (s->interval > 0 && now.tv_sec >= next_sweep.tv_sec) {
            sweep_once(s->v);
            clock_gettime(CLOCK_MONOTONIC, &next_sweep);
            next_sweep.tv_sec += (time_t)s->interval;
        }
        if (s->backup_dir && s->backup_interval > 0 && now.tv_sec >= next_backup.tv_sec) {
            backup_once(s);
            clock_gettime(CLOCK_MONOTONIC, &next_backup);
            next_backup.tv_sec += (time_t)s->backup_interval;
        }
        if (now.tv_sec >= next_epoch.tv_sec) { /* the timer spaces them: any age */
            epoch_once(s->v, s->epoch, 0);
            clock_gettime(CLOCK_MONOTONIC, &next_epoch);
            next_epoch.tv_sec += (time_t)(s->epoch ? s->epoch : 3600);
        }
        pthread_mutex_lock(&s->m);
    }
    pthread_mutex_unlock(&s->m);
    return NULL;
}

static void sweeper_stop(sweeper *s)
{
    if (!s->started)
        return;
    pthread_mutex_lock(&s->m);
    s->stop = 1;
    pthread_cond_signal(&s->c);
    pthread_mutex_unlock(&s->m);
    pthread_join(s->th, NULL);
}

typedef struct settings {
    char *v[NSETTINGS];
} settings;

static void set(settings *s, size_t i, const char *value)
{
    free(s->v[i]);
    s->v[i] = value ? strdup(value) : NULL;
}

/* Reads `name = value` lines; names it knows only. Returns 0 or a usage exit code. */
static int read_config(const char *path, settings *s)
{
    char *text = NULL, *line, *next;
    size_t len = 0;
    cu_err err = {0};
    int lineno = 0;

    if (cu_file_read(path, 1 << 20, &text, &len, &err) != CU_OK)
        return cli_fail(&err);
    for (line = text; line && *line; line = next) {
        char *eq, *k, *v, *end;
        size_t i;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '#' || *line == '\0')
            continue;
        if ((eq = strchr(line, '=')) == NULL) {
            fprintf(stderr, "custos serve: %s:%d: expected name = value\n", path, lineno);
            free(text);
            return EXIT_USAGE;
        }
        *eq = '\0';
        k = line;
        v = eq + 1;
        for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
            end[-1] = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        for (end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t' ||
                                              end[-1] == '\r');
             end--)
            end[-1] = '\0';
        for (i = 0; i < NSETTINGS && strcmp(k, names[i]) != 0; i++)
            ;
        if (i == NSETTINGS) {
            fprintf(stderr, "custos serve: %s:%d: unknown setting \"%s\"\n", path, lineno, k);
            free(text);
            return EXIT_USAGE;
        }
        set(s, i, v);
    }
    free(text);
    return 0;
}

static int parse_uint(const char *name, const char *s, unsigned long max, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(s ? s : "", &end, 10);
    if (s == NULL || *s == '\0' || *end != '\0' || errno || *out > max)
        return cli_usage("serve", "%s must be a number up to %lu", name, max);
    return 0;
}

/* The limits of logins and sessions from the settings (0 or absent: the default). */
static int auth_limits(const char *const *val, cu_auth_limits *lim)
{
    /* Numbers at S_AUTH + 0 .. 3 and + 5; + 4 is the list of origins. */
    unsigned long n[6] = {0, 0, 0, 0, 0, 0};
    static const unsigned long max[6] = {256, 1000000, 1000000, 86400UL * 365, 0, 1000000};
    int rc = 0;

    memset(lim, 0, sizeof(*lim));
    for (size_t i = 0; i < 6 && rc == 0; i++)
        if (i != 4 && val[S_AUTH + i] != NULL)
            rc = parse_uint(names[S_AUTH + i], val[S_AUTH + i], max[i], &n[i]);
    lim->hash_slots = (unsigned)n[0];
    lim->source_per_min = (unsigned)n[1];
    lim->tenant_per_min = (unsigned)n[2];
    lim->session_idle = (unsigned)n[3];
    lim->free_failures = (unsigned)n[5];
    return rc;
}

/* A TLS key given with --key must be the operator's and private, like the master key file. */
static int check_tls_key(const char *path)
{
    cu_err err = {0};

    if (path != NULL && cu_file_check_private(path, "TLS key", 0, &err) != CU_OK)
        return cli_fail(&err);
    return 0;
}

/* Hands out the first operator key: printed, or written to keyfile (0600) so that it need not
 * pass through a terminal or a log. */
static int give_operator_key(const char *keyfile, const char *secret)
{
    cu_err err = {0};

    if (keyfile == NULL) {
        printf("custos: operator API key (shown once, keep it safe): %s\n", secret);
        return 0;
    }
    if (cu_file_write_atomic(keyfile, secret, strlen(secret), 0600, &err) != CU_OK)
        return cli_fail(&err);
    printf("custos: operator API key written to %s (mode 0600)\n", keyfile);
    return 0;
}

/* Initializes the vault if the directory has none; gives out an operator key if none exists. */
static int first_start(const cli_common *c, const char *keyfile, cu_vault **v)
{
    cu_vault_opts o;
    char *pass = NULL, path[4200], secret[CU_APIKEY_SECRET_MAX];
    cu_ctx ctx = {.actor = "serve", .purpose = "administration", .flags = CU_CTX_LOCAL};
    cu_apikey *keys = NULL, k;
    cu_err err = {0};
    struct stat st;
    size_t n = 0, live = 0;
    int rc;

    /* A vault is there if its database is (DIR/custos.db), or with a database server's store
     * (--store) if its key file is: the database may hold a vault for several servers. */
    if (c->store == NULL)
        snprintf(path, sizeof(path), "%s/custos.db", c->data_dir);
    else if (c->key_file != NULL)
        snprintf(path, sizeof(path), "%s", c->key_file);
    else
        snprintf(path, sizeof(path), "%s/master.key", c->data_dir);
    if (stat(path, &st) != 0) {
        if ((rc = cli_vault_opts(c, &o, &pass)) != 0)
            return rc;
        if (cu_vault_init(&o, &err) != CU_OK)
            rc = cli_fail(&err);
        cli_passphrase_free(pass);
        if (rc != 0)
            return rc;
        printf("custos: initialized a new vault in %s\n", c->data_dir);
    }
    if ((rc = cli_open(c, v)) != 0)
        return rc;
    if (cu_apikey_list(*v, &ctx, 0, &keys, &n, &err) != CU_OK)
        return cli_fail(&err);
    for (size_t i = 0; i < n; i++)
        live += keys[i].revoked_at == 0;
    free(keys);
    if (live > 0)
        return 0;
    if (cu_apikey_create(*v, &ctx, 0, CU_ROLE_OPERATOR, "operator", &k, secret, &err) != CU_OK)
        return cli_fail(&err);
    rc = give_operator_key(keyfile, secret);
    cu_str_wipe(secret);
    return rc;
}

/* The numbers among the settings, parsed; 0 where a setting is absent means the server's
 * default. */
typedef struct serve_nums {
    unsigned long port, threads, max_body, interval, reply, epoch;
    unsigned long limits[4]; /* max_connections, _per_ip, header_timeout, body_timeout */
} serve_nums;

/* Reads the flags into *flags (and --config, --operator-key-file, the common options).
 * Returns 0 or a usage exit code. */
static int parse_flags(int argc, char **argv, settings *flags, cli_common *c, const char **config,
                       const char **opkey, int *helpme)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTS,
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"port", required_argument, NULL, OPT_PORT},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-body", required_argument, NULL, OPT_MAXBODY},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"sweep-interval", required_argument, NULL, OPT_SWEEP},
        {"max-connections", required_argument, NULL, OPT_MAXCONN},
        {"max-connections-per-ip", required_argument, NULL, OPT_MAXCONNIP},
        {"header-timeout", required_argument, NULL, OPT_HEADERTO},
        {"body-timeout", required_argument, NULL, OPT_BODYTO},
        {"operator-key-file", required_argument, NULL, OPT_OPKEY},
        {"reply-timeout", required_argument, NULL, OPT_REPLYTO},
        {"epoch-interval", required_argument, NULL, OPT_EPOCH},
        {"login-slots", required_argument, NULL, OPT_AUTH},
        {"login-per-source", required_argument, NULL, OPT_AUTH + 1},
        {"login-per-tenant", required_argument, NULL, OPT_AUTH + 2},
        {"session-idle", required_argument, NULL, OPT_AUTH + 3},
        {"allowed-origins", required_argument, NULL, OPT_AUTH + 4},
        {"login-free-failures", required_argument, NULL, OPT_AUTH + 5},
        {"backup-dir", required_argument, NULL, OPT_BACKUP_DIR},
        {"backup-interval", required_argument, NULL, OPT_BACKUP_INT},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == OPT_DATA)
            set(flags, 7, optarg);
        else if (opt == OPT_STORE)
            set(flags, S_STORE, optarg);
        else if (cli_common_opt(c, opt, optarg, helpme))
            continue;
        else if (opt >= OPT_LISTEN && opt <= OPT_MAXBODY)
            set(flags, (size_t)(opt - OPT_LISTEN), optarg);
        else if (opt == OPT_QUIET)
            set(flags, 6, "1");
        else if (opt == OPT_CONFIG)
            *config = optarg;
        else if (opt == OPT_SWEEP)
            set(flags, 8, optarg);
        else if (opt >= OPT_MAXCONN && opt <= OPT_BODYTO)
            set(flags, SET_LIMITS + (size_t)(opt - OPT_MAXCONN), optarg);
        else if (opt == OPT_OPKEY)
            *opkey = optarg;
        else if (opt == OPT_REPLYTO)
            set(flags, S_REPLY, optarg);
        else if (opt == OPT_BACKUP_DIR)
            backup_dir_opt = optarg;
        else if (opt == OPT_BACKUP_INT)
            backup_int_opt = optarg;
        else if (opt == OPT_EPOCH)
            set(flags, S_EPOCH, optarg);
        else if (opt >= OPT_AUTH && opt < OPT_AUTH + S_REPLY - S_AUTH)
            set(flags, (size_t)(S_AUTH + opt - OPT_AUTH), optarg);
        else
            return cli_usage("serve", "unknown option");
    }
    return 0;
}

/* Parses the numeric settings of val into *n. Returns 0 or a usage exit code. */
static int parse_numbers(const char *const *val, serve_nums *n)
{
    int rc = 0;

    memset(n, 0, sizeof(*n));
    n->port = 8443;
    n->interval = 3600;
    n->epoch = 3600;
    if ((val[1] && (rc = parse_uint("port", val[1], 65535, &n->port)) != 0) ||
        (val[4] && (rc = parse_uint("threads", val[4], 256, &n->threads)) != 0) ||
        (val[5] && (rc = parse_uint("max_body", val[5], 1UL << 30, &n->max_body)) != 0) ||
        (val[8] && (rc = parse_uint("sweep_interval", val[8], 86400UL * 365, &n->interval)) != 0) ||
        (val[S_REPLY] && (rc = parse_uint("reply_timeout", val[S_REPLY], 65535, &n->reply)) != 0) ||
        (val[S_EPOCH] &&
         (rc = parse_uint("epoch_interval", val[S_EPOCH], 86400UL * 365, &n->epoch)) != 0))
        return rc;
    for (size_t i = 0; i < 4 && rc == 0; i++)
        if (val[SET_LIMITS + i] != NULL)
            rc = parse_uint(names[SET_LIMITS + i], val[SET_LIMITS + i], 65535, &n->limits[i]);
    return rc;
}

/* The server's configuration from the settings; it points into val. */
static void http_config(cu_http_config *hc, const char *const *val, const serve_nums *n,
                        const char *data_dir)
{
    memset(hc, 0, sizeof(*hc));
    hc->allowed_origins = val[S_AUTH + 4];
    hc->listen = val[0] ? val[0] : "127.0.0.1";
    hc->port = (unsigned)n->port;
    hc->cert = val[2];
    hc->key = val[3];
    hc->threads = (unsigned)n->threads;
    hc->max_body = n->max_body;
    hc->quiet = val[6] != NULL && strcmp(val[6], "0") != 0;
    hc->data_dir = data_dir;
    hc->max_conns = (unsigned)n->limits[0];
    hc->max_conns_per_ip = (unsigned)n->limits[1];
    hc->header_timeout = (unsigned)n->limits[2];
    hc->body_timeout = (unsigned)n->limits[3];
    hc->reply_timeout = (unsigned)n->reply;
}

/* Starts the vault's erasure thread (P-DSR-4), which first finishes whatever erasure a crash
 * left queued; cu_vault_close stops it. */
static int erase_in_background(cu_vault *v)
{
    cu_err err = {0};

    return cu_vault_erase_start(v, &err) == CU_OK ? 0 : cli_fail(&err);
}

/* The scheduled backups' settings into sw: the directory, the interval, and what the trial
 * restore needs (the key directory, the passphrase). Returns 0 or a usage exit code. */
static int backup_settings(sweeper *sw, const cli_common *c, const char *pass)
{
    const char *dir = backup_dir_opt ? backup_dir_opt : getenv("CUSTOS_BACKUP_DIR");
    const char *iv = backup_int_opt ? backup_int_opt : getenv("CUSTOS_BACKUP_INTERVAL");

    sw->backup_dir = dir && *dir ? dir : NULL;
    if (sw->backup_dir != NULL)
        (void)mkdir(sw->backup_dir, 0700); /* the journal's copy goes there from the start */
    sw->backup_interval = 86400;
    if (iv && *iv && parse_uint("backup_interval", iv, 86400UL * 365, &sw->backup_interval) != 0)
        return EXIT_USAGE;
    sw->verify.key_file = c->key_file;
    sw->verify.keys_dir = c->key_file ? NULL : c->data_dir;
    sw->verify.passphrase = pass;
    sw->verify.allow_xchacha = c->allow_xchacha;
    return 0;
}

/* Serves until SIGTERM or SIGINT with the sweeper beside it; returns an exit code. */
static int serve_with_sweeper(cu_vault *v, const cu_http_config *hc, sweeper *swp)
{
    sweeper sw = *swp;
    sigset_t set_;
    cu_err err = {0};
    int rc = 0;

    /* Signals go to the server's sigwait, never to the sweeper thread. */
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGHUP); /* the certificate's reload (server.c) */
    pthread_sigmask(SIG_BLOCK, &set_, NULL);
    sw.v = v;
    pthread_mutex_init(&sw.m, NULL);
    pthread_cond_init(&sw.c, NULL);
    if (pthread_create(&sw.th, NULL, sweep_loop, &sw) == 0)
        sw.started = 1;
    if (cu_http_serve(hc, v, &err) != CU_OK)
        rc = cli_fail(&err);
    sweeper_stop(&sw);
    pthread_mutex_destroy(&sw.m);
    pthread_cond_destroy(&sw.c);
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    settings file = {{0}}, flags = {{0}};
    const char *config = getenv("CUSTOS_CONFIG"), *opkey = NULL;
    const char *val[NSETTINGS];
    cu_http_config hc;
    cu_auth_limits lim;
    cu_vault *v = NULL;
    cli_common c;
    serve_nums n;
    sweeper sw = {0};
    cu_vault_opts vo;
    char *pass = NULL;
    int helpme = 0, rc;

    cli_common_defaults(&c);
    if ((rc = parse_flags(argc, argv, &flags, &c, &config, &opkey, &helpme)) != 0)
        goto out;
    if (helpme) {
        fputs(help, stdout);
        goto out;
    }
    if (optind != argc) {
        rc = cli_usage("serve", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    if (config != NULL && (rc = read_config(config, &file)) != 0)
        goto out;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *e = getenv(envs[i]);
        val[i] = flags.v[i] ? flags.v[i] : (e && *e) ? e : file.v[i];
    }
    if (val[7] != NULL)
        c.data_dir = val[7];
    c.store = val[S_STORE];
    if ((rc = parse_numbers(val, &n)) != 0)
        goto out;
#ifndef CU_TEST_CLOCK
    if (getenv("CUSTOS_NOW") != NULL) /* say so, rather than leave the operator to wonder */
        fprintf(stderr, "custos: CUSTOS_NOW is ignored: only test builds have a settable clock\n");
#endif
    if ((rc = auth_limits(val, &lim)) != 0 || (rc = check_tls_key(val[3])) != 0 ||
        (rc = first_start(&c, opkey, &v)) != 0)
        goto out;
    cu_auth_limits_set(v, &lim);
    /* P-DSR-4: an erasure answers once the key is gone; this thread deletes the rows. */
    if ((rc = erase_in_background(v)) != 0)
        goto out;
    http_config(&hc, val, &n, c.data_dir);
    /* The passphrase stays for the trial restores of scheduled backups, wiped at exit. */
    if ((rc = cli_vault_opts(&c, &vo, &pass)) != 0 ||
        (rc = backup_settings(&sw, &c, pass)) != 0)
        goto out;
    hc.backup_dir = sw.backup_dir;
    cu_backup_journal_mirror(sw.backup_dir); /* P-BAK-2: every erasure beside the backups */
    sw.interval = n.interval;
    sw.epoch = n.epoch;
    rc = serve_with_sweeper(v, &hc, &sw);
out:
    cu_vault_close(v);
    cli_passphrase_free(pass);
    for (size_t i = 0; i < NSETTINGS; i++) {
        free(file.v[i]);
        free(flags.v[i]);
    }
    return rc;
}
