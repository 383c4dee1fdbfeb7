/*
 * bench_audit_file.c: where should the audit log live? (issue 17, the alternatives study)
 *
 * Three ways to make a group of audited operations durable, measured in one run on one disk
 * (the directory given, default /tmp), for groups of 1, 8, 32 and 64 operations:
 *
 *  (a) today's path: one transaction of the vault's real store (cu_store_open: the real schema,
 *      pragmas, WAL, synchronous=FULL, the checkpoint thread), holding the group's chain-head
 *      check, its audit rows (canonical encoding, chain hash, the subject column the index
 *      reads) and, for writes, each write's record row, sealed field and blind-index entry.
 *  (b) the alternative: the group's audit entries (the same canonical encodings and hashes,
 *      length-prefixed) appended to an append-only file (O_APPEND, one write(), fdatasync)
 *      before the SQLite transaction, which holds the record rows alone. A read needs no
 *      SQLite transaction at all. Writes pay two flushes in sequence: the entry must be durable
 *      before the change it describes commits (P-AUD-1), or a crash could keep a change with
 *      no entry.
 *  (c) the baseline: bare SQLite, one 420-byte row per transaction (bench_sqlite_commit's).
 *
 * Prints ops/s (operations made durable per second: an audited read is one entry, a write one
 * record and its entry) and the ratio to (c). The signed checkpoint every
 * CU_AUDIT_CHECKPOINT_EVERY entries is left out of both: each design would pay it alike.
 *
 * usage: bench_audit_file [DIR] [SECONDS per design and case, default 3]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit_canon.h"
#include "core_int.h" /* cu_audit_hash, the vault's store */
#include "crypto.h"   /* cu_random_id, cu_random */
#include "custos.h"
#include "store.h"

#define MAXG 64
#define DOC_BYTES 300  /* a sealed document of bench_core's size, without its sensitive field */
#define FIELD_BYTES 60 /* one sealed sensitive field */

static double secs_per_case = 3;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const cu_err *err)
{
    fprintf(stderr, "bench_audit_file: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(1);
}

/* --- (c) the baseline ------------------------------------------------------------------------ */

static sqlite3 *base_db;
static sqlite3_stmt *base_ins;

static void baseline_open(const char *dir)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/baseline.db", dir);
    if (sqlite3_open(path, &base_db) != SQLITE_OK ||
        sqlite3_exec(base_db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                     "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(base_db, "INSERT INTO t(v) VALUES(?)", -1, &base_ins, NULL) !=
            SQLITE_OK)
        die("baseline", NULL);
}

/* One row, one autocommit transaction, one flush of the WAL. */
static void baseline_one(void)
{
    static unsigned char row[420];
    static long n;

    row[n++ % sizeof(row)]++;
    sqlite3_bind_blob(base_ins, 1, row, sizeof(row), SQLITE_STATIC);
    if (sqlite3_step(base_ins) != SQLITE_DONE)
        die("baseline insert", NULL);
    sqlite3_reset(base_ins);
}

/* --- the vault's side: one tenant, one subject, its chain head ------------------------------- */

typedef struct chain {
    uint64_t seq;
    uint8_t head[32];
} chain;

typedef struct bench {
    cu_vault *v;
    cu_id tenant, subject;
    chain in_store, in_file; /* the two chains' heads: (a)'s rows, (b)'s file */
    int fd; /* (b)'s log file */
    cu_store_op ops[MAXG * 3 + MAXG + 1];
    cu_store_field fields[MAXG];
    uint8_t docs[MAXG][DOC_BYTES], cts[MAXG][FIELD_BYTES];
} bench;

/* The next entry of the chain, as cu_commit's leader makes it (commit.c, add_request). */
static void next_entry(bench *b, chain *c, cu_audit_entry *e, const char *action, cu_id record)
{
    memset(e, 0, sizeof(*e));
    e->tenant_id = b->tenant;
    e->at = cu_audit_now_ms();
    snprintf(e->actor, sizeof(e->actor), "key:%llu", 1234567890123ULL);
    snprintf(e->action, sizeof(e->action), "%s", action);
    snprintf(e->object, sizeof(e->object), "record:%llu", (unsigned long long)record);
    snprintf(e->purpose, sizeof(e->purpose), "support");
    snprintf(e->source, sizeof(e->source), "203.0.113.7");
    snprintf(e->request_id, sizeof(e->request_id), "0123456789abcdef0123456789abcdef");
    snprintf(e->outcome, sizeof(e->outcome), "ok");
    if (strcmp(action, "record.create") == 0) {
        e->has_digest = 1;
        cu_random(e->digest, 32);
    }
    e->subject_id = b->subject;
    e->seq = ++c->seq;
    memcpy(e->prev, c->head, 32);
    cu_audit_hash(e, e->hash);
    memcpy(c->head, e->hash, 32);
}

/* One write's store ops, as record.c builds them: the record row with one sealed field, and
 * the field's blind-index entry. */
static size_t write_ops(bench *b, size_t i, cu_store_op *ops, cu_id *id)
{
    static const char *scope = "r:employees:ssn";
    static char ssn[] = "ssn";
    cu_store_record *r = &ops[0].u.record;

    memset(ops, 0, 2 * sizeof(*ops));
    *id = cu_random_id();
    cu_random(b->docs[i], DOC_BYTES);
    cu_random(b->cts[i], FIELD_BYTES);
    b->fields[i].name = ssn;
    b->fields[i].ct = (cu_blob){b->cts[i], FIELD_BYTES};
    ops[0].type = CU_OP_RECORD_PUT;
    r->tenant_id = b->tenant;
    r->id = *id;
    r->subject_id = b->subject;
    snprintf(r->collection, sizeof(r->collection), "employees");
    r->key_version = 1;
    r->created_at = r->updated_at = cu_audit_now_ms();
    r->version = 1;
    r->doc = (cu_blob){b->docs[i], DOC_BYTES};
    r->fields = &b->fields[i];
    r->nfields = 1;
    ops[1].type = CU_OP_BLIND_PUT;
    ops[1].u.blind.tenant_id = b->tenant;
    ops[1].u.blind.scope = scope;
    ops[1].u.blind.owner_id = *id;
    cu_random(ops[1].u.blind.digest, 32);
    return 2;
}

/* (a): one group in one store transaction: head check, record ops, audit appends. */
static void group_in_store(bench *b, int g, int writes)
{
    size_t n = 0;
    cu_err err = {0};

    memset(&b->ops[0], 0, sizeof(b->ops[0]));
    b->ops[0].type = CU_OP_AUDIT_HEAD_CHECK;
    b->ops[0].u.audit_head.tenant_id = b->tenant;
    b->ops[0].u.audit_head.seq = b->in_store.seq;
    memcpy(b->ops[0].u.audit_head.hash, b->in_store.head, 32);
    n = 1;
    for (int i = 0; i < g; i++) {
        cu_id id = cu_random_id();
        if (writes)
            n += write_ops(b, (size_t)i, &b->ops[n], &id);
        memset(&b->ops[n], 0, sizeof(b->ops[n]));
        b->ops[n].type = CU_OP_AUDIT_APPEND;
        next_entry(b, &b->in_store, &b->ops[n].u.audit, writes ? "record.create" : "record.read", id);
        n++;
    }
    if (cu_store_apply(b->v->store, b->ops, n, &err) != CU_OK)
        die("apply (a)", &err);
}

/* (b): the group's entries appended to the file and flushed, then the record rows alone. */
static void group_in_file(bench *b, int g, int writes)
{
    static uint8_t buf[MAXG * (CU_AUDIT_CANON_MAX + 40)];
    size_t len = 0, n = 0;
    cu_err err = {0};

    for (int i = 0; i < g; i++) {
        cu_audit_entry e;
        cu_id id = cu_random_id();
        size_t c;
        if (writes)
            n += write_ops(b, (size_t)i, &b->ops[n], &id);
        next_entry(b, &b->in_file, &e, writes ? "record.create" : "record.read", id);
        c = cu_audit_encode(&e, buf + len + 4);
        buf[len] = (uint8_t)(c >> 8), buf[len + 1] = (uint8_t)c, buf[len + 2] = 0,
        buf[len + 3] = 0; /* a length prefix: recovery finds a torn tail */
        len += 4 + c;
        memcpy(buf + len, e.hash, 32);
        len += 32;
    }
    if (write(b->fd, buf, len) != (ssize_t)len || fdatasync(b->fd) != 0)
        die("append (b)", NULL);
    if (writes && cu_store_apply(b->v->store, b->ops, n, &err) != CU_OK)
        die("apply (b)", &err);
}

/* The three designs in turns of SLICE seconds, ROUNDS times, so that each meets the same load
 * on the shared disk; out[]: (a), (b), (c) in ops/s over all their turns. */
#define ROUNDS 6
static void run(bench *b, int g, int writes, double out[3])
{
    double t[3] = {0}, slice = secs_per_case / ROUNDS;
    long ops[3] = {0};

    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < 3; k++) {
            double t0 = now(), dt;
            do {
                if (k == 0)
                    group_in_store(b, g, writes);
                else if (k == 1)
                    group_in_file(b, g, writes);
                else
                    baseline_one();
                ops[k] += k == 2 ? 1 : g;
            } while ((dt = now() - t0) < slice);
            t[k] += dt;
        }
    for (int k = 0; k < 3; k++)
        out[k] = (double)ops[k] / t[k];
}

static void setup(bench *b, const char *dir)
{
    static char data[600];
    char path[700];
    cu_field_def defs[] = {{"ssn", CU_FIELD_SENSITIVE, 1}};
    cu_subject_in in = {.external_id = "bench-1", .email = "ada@example.com"};
    cu_vault_opts o = {0};
    cu_tenant t;
    cu_err err = {0};

    snprintf(data, sizeof(data), "%s/data", dir);
    o.data_dir = data;
    if (cu_vault_init(&o, &err) != CU_OK || cu_vault_open(&o, &b->v, &err) != CU_OK)
        die("vault", &err);
    if (cu_tenant_create(b->v, NULL, &(cu_tenant_opts){.name = "bench"}, &t, &err) != CU_OK ||
        cu_subject_create(b->v, NULL, t.id, &in, &b->subject, &err) != CU_OK ||
        cu_collection_define(b->v, NULL, t.id, "employees", defs, 1, &err) != CU_OK)
        die("setup", &err);
    b->tenant = t.id;
    if (cu_store_audit_head(b->v->store, b->tenant, &b->in_store.seq, b->in_store.head, &err) != CU_OK)
        die("audit head", &err);
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    b->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (b->fd < 0)
        die("open the log file", NULL);
}

int main(int argc, char **argv)
{
    static const int groups[] = {1, 8, 32, 64};
    char tmpl[600], cmd[700];
    const char *dir;
    static bench b;

    snprintf(tmpl, sizeof(tmpl), "%s/custos-auditfile-XXXXXX", argc > 1 ? argv[1] : "/tmp");
    if (argc > 2 && atof(argv[2]) > 0)
        secs_per_case = atof(argv[2]);
    if ((dir = mkdtemp(tmpl)) == NULL)
        die("mkdtemp", NULL);
    setup(&b, dir);
    baseline_open(dir);
    printf("bench_audit_file: %s, %.1f s per design and case, in %d interleaved turns\n", dir,
           secs_per_case, ROUNDS);
    printf("%-6s %5s %10s %10s %10s %8s %8s %8s\n", "kind", "group", "(a) ops/s", "(b) ops/s",
           "(c) ops/s", "(a)/(c)", "(b)/(c)", "(b)/(a)");
    for (int writes = 0; writes <= 1; writes++)
        for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
            double r[3];
            run(&b, groups[i], writes, r);
            printf("%-6s %5d %10.0f %10.0f %10.0f %8.2f %8.2f %8.2f\n", writes ? "write" : "read",
                   groups[i], r[0], r[1], r[2], r[0] / r[2], r[1] / r[2], r[1] / r[0]);
        }
    sqlite3_finalize(base_ins);
    sqlite3_close(base_db);
    close(b.fd);
    cu_vault_close(b.v);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
