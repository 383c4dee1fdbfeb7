/*
 * test_faults.c: systematic fault injection (SQLite's do_faultsim_test, curl's runtests -t).
 *
 * Ten critical operations of the core (record put, read, update, erase, consent, login, key
 * rotation, checkpoint, sweep, export) each run again and again against a vault of their own:
 * first with the Nth allocation failing, then with the Nth write, fsync or truncate failing,
 * for N = 1, 2, ... until the operation completes without reaching the Nth call. The
 * allocations counted are SQLite's (its allocator, store/faultsim.c), cJSON's and the
 * library's own (malloc, calloc, realloc, strdup, through -Wl,--wrap in this binary alone);
 * the writes are SQLite's (a VFS shim) and the library's own (write, fsync: the key file).
 *
 * Every run must end in a clean error (a cu_rc the server answers with 5xx: out of memory, I/O,
 * store) or in success, and then, with the fault cleared, the same vault must serve a write
 * and a read and verify its audit chains, and once closed and opened again verify them again
 * and return every write acknowledged so far, exactly; ASan and LeakSanitizer (checked after
 * each operation's runs) are the judges of the rest.
 *
 * A first, fault-free run counts the operation's calls of the kind. Where they are more than
 * CUSTOS_FAULT_RUNS (default 12, which keeps the test within about a minute under ASan), the
 * first four Ns run and then samples spread evenly up to the last call, and the output says
 * "sampled"; at most twice that many runs per operation and kind (an operation whose count
 * grows as the vault does, the sweep's, stops there: "cap reached"). CUSTOS_FAULT_FULL=1 runs
 * every N (many minutes: the way to hunt), CUSTOS_FAULT_MAX caps N, CUSTOS_FAULT_OPS=name,...
 * runs only those operations. The output counts every run.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sanitizer/lsan_interface.h>

#include "crypto.h"
#include "store_sqlite.h"
#include "th.h"
#include "util.h"

#define DAY 86400
#define D2026 1767225600 /* 2026-01-01 */
#define MAX_ACKS 64
#define PASSWORD "correct horse battery"

/* --- the library's own allocations and writes (-Wl,--wrap=...) -------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fsync(int fd);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);

void *__wrap_malloc(size_t n)
{
    return cu_fault_tick(CU_FAULT_ALLOC) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return cu_fault_tick(CU_FAULT_ALLOC) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return cu_fault_tick(CU_FAULT_ALLOC) ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return cu_fault_tick(CU_FAULT_ALLOC) ? NULL : __real_strdup(s);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (cu_fault_tick(CU_FAULT_IO)) {
        errno = ENOSPC;
        return -1;
    }
    return __real_write(fd, buf, n);
}

int __wrap_fsync(int fd)
{
    if (cu_fault_tick(CU_FAULT_IO)) {
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

/* --- the world each operation runs in ------------------------------------------------------ */

/* A write the vault acknowledged: the record must read back with exactly this name. */
typedef struct ack {
    cu_id id;
    char name[32];
} ack;

typedef struct fx {
    char dir[256], data[256];
    cu_vault *v;
    cu_id t, s;            /* a tenant under SCM's policy, a subject of it */
    ack acks[MAX_ACKS];    /* acks[0..nacks) are checked after every run */
    size_t nacks;
    unsigned serial;       /* makes each run's values distinct */
    cu_id target;          /* what prep made for run: a record, a subject */
    size_t target_ack;     /* the ack run updates */
    size_t consents;       /* acknowledged consent ledger entries */
    char token[CU_SESSION_TOKEN_MAX]; /* the last acknowledged session */
    int64_t now;
} fx;

static const cu_ctx CTX = {.actor = "test:faults", .purpose = "support"};
static const cu_ctx AUDITOR = {.actor = "test:faults", .purpose = "investigation"};

static void fail_err(const char *what, const cu_err *err)
{
    fail_msg("%s: %s", what, err->msg);
}

static cu_id put_contact(fx *f, const char *name, cu_err *err)
{
    char json[96];
    cu_id id = 0;

    snprintf(json, sizeof(json), "{\"name\":\"%s\",\"company\":\"Acme\"}", name);
    return cu_record_put(f->v, &CTX, f->t, "contacts", f->s, json, strlen(json), &id, err) ==
                   CU_OK
               ? id
               : 0;
}

static void ack_add(fx *f, cu_id id, const char *name)
{
    assert_true(f->nacks < MAX_ACKS);
    f->acks[f->nacks].id = id;
    cu_strlcpy(f->acks[f->nacks].name, name, sizeof(f->acks[0].name));
    f->nacks++;
}

/* 1 if record id reads back holding "name":"<name>". */
static int reads_back(fx *f, cu_id id, const char *name)
{
    cu_record r = {0};
    cu_err err = {0};
    char want[48];
    int ok;

    snprintf(want, sizeof(want), "\"name\":\"%s\"", name);
    if (cu_record_get(f->v, &CTX, f->t, id, &r, &err) != CU_OK) {
        print_message("record %llu: %s\n", (unsigned long long)id, err.msg);
        return 0;
    }
    ok = strstr(r.json, want) != NULL;
    cu_record_cleanup(&r);
    return ok;
}

static void world_open(fx *f)
{
    cu_vault_opts o = {.data_dir = f->data, .store = th_store(f->data)};
    cu_err err = {0};

    if (cu_vault_open(&o, &f->v, &err) != CU_OK)
        fail_msg("the vault does not open after a fault: %s", err.msg);
}

static void world_init(fx *f)
{
    size_t len = 0;
    const char *scm = cu_policy_builtin("scm", &len);
    cu_subject_in in = {.external_id = "ada", .email = "ada@example.com"};
    cu_tenant t;
    cu_id user = 0, id;
    cu_err err = {0};

    memset(f, 0, sizeof(*f));
    f->now = D2026;
    cu_clock_set(f->now);
    th_tmpdir(f->dir);
    f->v = th_vault(f->dir, f->data);
    if (cu_tenant_create(
            f->v, NULL,
            &(cu_tenant_opts){
                .name = "Acme", .policy = scm, .policy_len = len, .policy_name = "scm"},
            &t, &err) != CU_OK)
        fail_err("tenant", &err);
    f->t = t.id;
    if (cu_subject_create(f->v, &CTX, f->t, &in, &f->s, &err) != CU_OK)
        fail_err("subject", &err);
    if (cu_user_create(f->v, NULL, f->t, "agent@example.com", PASSWORD, CU_ROLE_AGENT, &user,
                       &err) != CU_OK)
        fail_err("user", &err);
    if ((id = put_contact(f, "first", &err)) == 0)
        fail_err("record", &err);
    ack_add(f, id, "first");
}

static void world_free(fx *f)
{
    cu_vault_close(f->v);
    th_rmrf(f->dir);
    cu_clock_set(0);
}

/* --- the ten operations ---------------------------------------------------------------------- */

typedef struct fop {
    const char *name;
    void (*prep)(fx *f);                  /* without faults: what run works on (may be NULL) */
    cu_rc (*run)(fx *f, cu_err *err);     /* under the armed fault */
    void (*acked)(fx *f);                 /* run returned CU_OK: note what it acknowledged */
} fop;

static cu_rc op_put(fx *f, cu_err *err)
{
    char name[32];

    snprintf(name, sizeof(name), "put%u", f->serial);
    f->target = put_contact(f, name, err);
    return f->target ? CU_OK : err->code;
}

static void acked_put(fx *f)
{
    char name[32];

    snprintf(name, sizeof(name), "put%u", f->serial);
    ack_add(f, f->target, name);
}

static cu_rc op_read(fx *f, cu_err *err)
{
    cu_record r = {0};
    cu_rc rc = cu_record_get(f->v, &CTX, f->t, f->acks[0].id, &r, err);

    /* A read that succeeds returns the truth, fault or not. */
    if (rc == CU_OK && strstr(r.json, "\"name\":\"first\"") == NULL)
        fail_msg("a read under a fault returned the wrong document");
    cu_record_cleanup(&r);
    return rc;
}

static void prep_update(fx *f)
{
    f->target_ack = f->nacks - 1;
}

static cu_rc op_update(fx *f, cu_err *err)
{
    char json[96];

    snprintf(json, sizeof(json), "{\"name\":\"upd%u\",\"company\":\"Acme\"}", f->serial);
    return cu_record_update(f->v, &CTX, f->t, f->acks[f->target_ack].id, json, strlen(json), err);
}

static void acked_update(fx *f)
{
    snprintf(f->acks[f->target_ack].name, sizeof(f->acks[0].name), "upd%u", f->serial);
}

static void prep_erase(fx *f)
{
    char ext[32];
    cu_subject_in in = {.external_id = ext};
    char json[] = "{\"name\":\"gone\"}";
    cu_err err = {0};
    cu_id rec = 0;

    snprintf(ext, sizeof(ext), "erase%u", f->serial);
    if (cu_subject_create(f->v, &CTX, f->t, &in, &f->target, &err) != CU_OK ||
        cu_record_put(f->v, &CTX, f->t, "contacts", f->target, json, strlen(json), &rec, &err) !=
            CU_OK)
        fail_err("prep erase", &err);
}

static cu_rc op_erase(fx *f, cu_err *err)
{
    return cu_subject_erase(f->v, &CTX, f->t, f->target, err);
}

static void acked_erase(fx *f)
{
    cu_subject s = {0};
    cu_err err = {0};

    /* Acknowledged erasure stays erased. */
    assert_int_equal(cu_subject_get(f->v, &CTX, f->t, f->target, &s, &err), CU_ERR_NOT_FOUND);
}

static cu_rc op_consent(fx *f, cu_err *err)
{
    return cu_consent_record(f->v, &CTX, f->t, f->s, "shared_on_request",
                             f->serial % 2 ? CU_CONSENT_WITHDRAW : CU_CONSENT_GRANT, "web", err);
}

static void acked_consent(fx *f)
{
    f->consents++;
}

static cu_rc op_login(fx *f, cu_err *err)
{
    char token[CU_SESSION_TOKEN_MAX];
    cu_principal p;
    cu_rc rc = cu_user_login(f->v, NULL, f->t, "agent@example.com", PASSWORD, NULL, token, &p,
                             NULL, err);

    if (rc == CU_OK)
        memcpy(f->token, token, sizeof(token));
    cu_wipe(token, sizeof(token));
    return rc;
}

static cu_rc op_rotate(fx *f, cu_err *err)
{
    return cu_key_rotate_master(f->v, NULL, NULL, NULL, err);
}

static cu_rc op_checkpoint(fx *f, cu_err *err)
{
    cu_audit_checkpoint c;

    return cu_audit_checkpoint_now(f->v, &AUDITOR, f->t, &c, err);
}

/* A usage event, due 366 days later (SCM anonymizes usage after 12
 * months): the sweep rewrites it. */
static void prep_sweep(fx *f)
{
    char json[] = "{\"feature\":\"login\"}";
    cu_err err = {0};

    f->now += 366 * DAY;
    cu_clock_set(f->now);
    if (cu_record_put(f->v, NULL, f->t, "usage_events", f->s, json, strlen(json), &f->target,
                      &err) != CU_OK)
        fail_err("prep sweep", &err);
    f->now += 366 * DAY;
    cu_clock_set(f->now);
}

static cu_rc op_sweep(fx *f, cu_err *err)
{
    cu_sweep_report rep;

    return cu_sweep(f->v, NULL, &rep, err);
}

static cu_rc op_export(fx *f, cu_err *err)
{
    cu_ctx ctx = {.actor = "test:faults", .purpose = "export"};
    char *json = NULL;
    size_t len = 0;
    cu_rc rc = cu_tenant_export(f->v, &ctx, f->t, &json, &len, err);

    /* An export that succeeds is whole. */
    if (rc == CU_OK && strstr(json, "\"name\":\"first\"") == NULL)
        fail_msg("an export under a fault left a record out");
    if (json != NULL) {
        cu_wipe(json, len);
        free(json);
    }
    return rc;
}

static const fop OPS[] = {
    {"put", NULL, op_put, acked_put},
    {"read", NULL, op_read, NULL},
    {"update", prep_update, op_update, acked_update},
    {"erase", prep_erase, op_erase, acked_erase},
    {"consent", NULL, op_consent, acked_consent},
    {"login", NULL, op_login, NULL},
    {"rotate", NULL, op_rotate, NULL},
    {"checkpoint", NULL, op_checkpoint, NULL},
    {"sweep", prep_sweep, op_sweep, NULL},
    {"export", NULL, op_export, NULL},
};

/* --- after each run: the vault serves, verifies, and keeps every acknowledged write ---------- */

static void verify_chains(fx *f, const char *when)
{
    const cu_id tenants[2] = {0, f->t};
    cu_audit_report rep;
    cu_err err = {0};

    for (size_t i = 0; i < 2; i++) {
        if (cu_audit_verify(f->v, &AUDITOR, tenants[i], &rep, &err) != CU_OK)
            fail_msg("%s: verify: %s", when, err.msg);
        if (!rep.ok)
            fail_msg("%s: the audit chain of tenant %zu breaks at %llu: %s", when, i,
                     (unsigned long long)rep.first_bad_seq, rep.problem);
    }
}

static void check_acks(fx *f, const char *when)
{
    cu_consent *c = NULL;
    cu_principal p;
    size_t n = 0;
    cu_err err = {0};

    for (size_t i = 0; i < f->nacks; i++)
        if (!reads_back(f, f->acks[i].id, f->acks[i].name))
            fail_msg("%s: acknowledged record %zu (%s) is lost", when, i, f->acks[i].name);
    if (cu_consent_list(f->v, &CTX, f->t, f->s, &c, &n, &err) != CU_OK)
        fail_msg("%s: consent list: %s", when, err.msg);
    free(c);
    if (n != f->consents)
        fail_msg("%s: the ledger holds %zu entries, %zu acknowledged", when, n, f->consents);
    if (f->token[0] != '\0' && cu_auth_session(f->v, f->token, &p, &err) != CU_OK)
        fail_msg("%s: an acknowledged session does not authenticate: %s", when, err.msg);
}

/* The fault is cleared: the same vault serves (its in-memory state survived the fault: the
 * write chains on its cached audit head), then a reopened one verifies and returns every
 * acknowledged write. */
static void check_after(fx *f, const char *run)
{
    char name[32];
    cu_err err = {0};
    cu_id id;

    snprintf(name, sizeof(name), "after%u", f->serial);
    if ((id = put_contact(f, name, &err)) == 0)
        fail_msg("%s: the vault does not serve a write after it: %s", run, err.msg);
    if (!reads_back(f, id, name))
        fail_msg("%s: the vault does not read back a write after it", run);
    check_acks(f, run);
    cu_vault_close(f->v);
    f->v = NULL;
    world_open(f);
    verify_chains(f, run);
    check_acks(f, run);
}

/* A clean error: one the server answers with 5xx and the CLI with a non-zero exit. */
static int clean_error(cu_rc rc)
{
    return rc == CU_ERR_NOMEM || rc == CU_ERR_IO || rc == CU_ERR_STORE ||
           rc == CU_ERR_UNAVAILABLE;
}

typedef struct tally {
    unsigned runs, errors, absorbed, capped;
    long calls; /* of the kind, in the last run */
} tally;

/* One run of op with the nth call of kind failing. 1 when the fault fired, 0 when the
 * operation finished before its nth call. */
static int run_once(fx *f, const fop *op, cu_fault_kind kind, long n, tally *t)
{
    cu_err err = {0};
    char desc[96];
    long fired;
    cu_rc rc;

    snprintf(desc, sizeof(desc), "%s with %s %ld failing", op->name,
             kind == CU_FAULT_ALLOC ? "allocation" : "write", n);
    f->serial++;
    if (op->prep)
        op->prep(f);
    cu_fault_arm(kind, n);
    rc = op->run(f, &err);
    fired = cu_fault_fired();
    t->calls = cu_fault_calls();
    cu_fault_arm(kind, 0);
    t->runs++;
    if (rc != CU_OK && !fired)
        fail_msg("%s failed without a fault: %s", op->name, err.msg);
    if (rc != CU_OK && !clean_error(rc))
        fail_msg("%s: %s (%s), not a clean error", desc, cu_rc_name(rc), err.msg);
    if (rc != CU_OK && err.msg[0] == '\0')
        fail_msg("%s: %s without a message", desc, cu_rc_name(rc));
    if (rc == CU_OK && op->acked)
        op->acked(f);
    t->errors += rc != CU_OK;
    t->absorbed += rc == CU_OK && fired;
    check_after(f, desc);
    return fired != 0;
}

static long env_long(const char *name, long dflt)
{
    const char *env = getenv(name);
    long n = env ? strtol(env, NULL, 10) : 0;

    return n > 0 ? n : dflt;
}

/* After the first DENSE Ns, the step that spreads the rest of the budget over the calls. */
#define DENSE 4
static long step_for(long calls, long budget)
{
    return calls <= budget || budget <= DENSE ? 1 : (calls - DENSE) / (budget - DENSE) + 1;
}

static int selected(const char *name)
{
    const char *env = getenv("CUSTOS_FAULT_OPS");
    size_t len = strlen(name);

    if (env == NULL || *env == '\0')
        return 1;
    for (const char *p = env; (p = strstr(p, name)) != NULL; p += len)
        if ((p == env || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
            return 1;
    return 0;
}

static unsigned total_runs;

/* How many calls of kind one fault-free run of op makes (that run is checked too). */
static long count_calls(fx *f, const fop *op, cu_fault_kind kind, tally *t)
{
    (void)run_once(f, op, kind, LONG_MAX, t);
    return t->calls;
}

static void faultsim(const fop *op, cu_fault_kind kind)
{
    const char *kname = kind == CU_FAULT_ALLOC ? "allocation" : "write";
    long budget = getenv("CUSTOS_FAULT_FULL") ? LONG_MAX : env_long("CUSTOS_FAULT_RUNS", 12);
    long cap = env_long("CUSTOS_FAULT_MAX", 100000), calls, n, last = 0, step, max_runs;
    tally t = {0};
    fx f;

    world_init(&f);
    calls = count_calls(&f, op, kind, &t);
    step = step_for(calls, budget);
    max_runs = budget == LONG_MAX ? LONG_MAX : 2 * budget;
    /* Until the operation completes before its Nth call (a sweep's count grows as it runs). */
    for (n = 1; n <= cap && (long)t.runs <= max_runs; n += n < DENSE ? 1 : step) {
        last = n;
        if (!run_once(&f, op, kind, n, &t))
            break;
    }
    t.capped = n > cap || (long)t.runs > max_runs;
    world_free(&f);
    /* Leaks of this operation's runs, named while we know which they were. */
    if (__lsan_do_recoverable_leak_check() != 0)
        fail_msg("%s under %s faults leaks memory (report above)", op->name, kname);
    print_message("faults: %-10s %-10s %5ld calls, N=1..%ld%s: %u runs, %u clean errors, %u "
                  "absorbed%s\n",
                  op->name, kname, calls, last, step > 1 ? " sampled" : "", t.runs,
                  t.errors, t.absorbed, t.capped ? " (cap reached)" : "");
    total_runs += t.runs;
}

static void test_faults_every_operation_fails_cleanly(void **state)
{
    (void)state;
    for (size_t i = 0; i < CU_ARRAY_LEN(OPS); i++) {
        if (!selected(OPS[i].name))
            continue;
        faultsim(&OPS[i], CU_FAULT_ALLOC);
        faultsim(&OPS[i], CU_FAULT_IO);
    }
    print_message("faults: %u runs in all\n", total_runs);
    assert_true(total_runs > 0); /* CUSTOS_FAULT_OPS named an operation that exists */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_every_operation_fails_cleanly),
    };

    /* Thousands of fsyncs: on tmpfs, where there is one, they cost nothing. */
    if (getenv("TMPDIR") == NULL && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    /* Before anything touches SQLite. */
    if (cu_store_faultsim_install() != 0) {
        fprintf(stderr, "could not install the fault simulator\n");
        return 1;
    }
    return cmocka_run_group_tests_name("systematic fault injection", tests, NULL, NULL);
}
