/*
 * audit.c: the tamper-evident audit log (P-AUD-1 .. P-AUD-5).
 *
 * Each tenant has its own chain (P-ISO-2): entry n holds the hash of entry n-1, and its own
 * hash is SHA-256 over a canonical binary encoding of every member and that previous hash
 * (format 2, "cu-audit2", adds a record write's ciphertext digest). A checkpoint signs (tenant,
 * seq, at, hash) with the vault's Ed25519 key, automatically every CU_AUDIT_CHECKPOINT_EVERY
 * entries and every CU_AUDIT_CHECKPOINT_MS while entries arrive (commit.c), and on demand;
 * exported, it lets a tenant check the log without trusting Custos. Verification
 * (audit_verify.c) recomputes the chain from its anchor and names the first entry that was changed,
 * removed, inserted or reordered; against checkpoints the tenant held outside, it also catches a
 * rewritten or cut tail; deep, it holds every record against its latest write's digest (a
 * rollback).
 *
 * What cannot be detected: entries changed after the newest checkpoint the tenant holds
 * outside Custos, by someone who can write the database (docs/audit.md). The signing key is
 * wrapped under the master key, and its public half is pinned in the database.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "audit_canon.h"
#include "audit_int.h"
#include "keyring_int.h"
#include "tenant_int.h"
#include "util.h"

#define AUDIT_KEY_FILE "audit.key"

static void put_u64(uint8_t *b, size_t *n, uint64_t x)
{
    for (int i = 7; i >= 0; i--)
        b[(*n)++] = (uint8_t)(x >> (i * 8));
}

/* The hash over the entry's canonical encoding (util's audit_canon.c, docs/audit.md); format 2
 * carries a record write's ciphertext digest, format 1 entries keep their hash. */
void cu_audit_hash(const cu_audit_entry *e, uint8_t out[32])
{
    uint8_t b[CU_AUDIT_CANON_MAX];

    cu_sha256(b, cu_audit_encode(e, b), out);
}

/* "cu-ckpt1" for checkpoints, "cu-anch1" for prune anchors: a checkpoint can never pass for an
 * anchor, so deleting the log's oldest entries up to a checkpoint is still detected. */
static size_t checkpoint_message(int anchor, cu_id tenant, uint64_t seq, int64_t at,
                                 const uint8_t hash[32], uint8_t m[64])
{
    size_t n = 0;

    memcpy(m, anchor ? "cu-anch1" : "cu-ckpt1", 8);
    n = 8;
    put_u64(m, &n, tenant);
    put_u64(m, &n, seq);
    put_u64(m, &n, (uint64_t)at);
    memcpy(m + n, hash, 32);
    return n + 32;
}

void cu_audit_sign(cu_vault *v, int anchor, cu_id tenant, uint64_t seq, int64_t at,
                   const uint8_t hash[32], cu_audit_checkpoint *out)
{
    uint8_t m[64];
    size_t n = checkpoint_message(anchor, tenant, seq, at, hash, m);

    memset(out, 0, sizeof(*out));
    out->anchor = anchor;
    out->tenant_id = tenant;
    out->seq = seq;
    out->at = at;
    memcpy(out->hash, hash, 32);
    cu_sign(v->audit_sk, m, n, out->sig);
}

int cu_audit_checkpoint_ok(const uint8_t pk[32], const cu_audit_checkpoint *c)
{
    uint8_t m[64];
    size_t n = checkpoint_message(c->anchor, c->tenant_id, c->seq, c->at, c->hash, m);

    return cu_sign_verify(pk, m, n, c->sig);
}

/* Audit time: the policy clock, in milliseconds (the wall clock's when it is not set). */
static int64_t now_ms(void)
{
    struct timeval tv;

    if (cu_clock_is_set())
        return cu_clock_now() * 1000;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t cu_audit_now_ms(void)
{
    return now_ms();
}

/* The subject an object names, "subject:<id>" or "subject:<id>:...", else 0. */
static cu_id object_subject(const char *object)
{
    char *end;
    unsigned long long id;

    if (strncmp(object, "subject:", 8) != 0 || object[8] < '1' || object[8] > '9')
        return 0;
    id = strtoull(object + 8, &end, 10);
    return *end == '\0' || *end == ':' ? (cu_id)id : 0;
}

void cu_audit_in_set(cu_audit_in *a, cu_id tenant, const char *action, const char *fmt, ...)
{
    va_list ap;

    a->tenant = tenant;
    a->action = action;
    a->has_digest = 0;
    va_start(ap, fmt);
    vsnprintf(a->object, sizeof(a->object), fmt, ap);
    va_end(ap);
    a->subject = object_subject(a->object);
}

void cu_audit_in_digest(cu_audit_in *a, const uint8_t *ct, size_t len)
{
    cu_sha256(ct, len, a->digest);
    a->has_digest = 1;
}

void cu_audit_in_platform(cu_audit_in *out, const cu_audit_in *a)
{
    out->tenant = 0;
    out->action = a->action;
    out->has_digest = 0;
    out->subject = 0;
    snprintf(out->object, sizeof(out->object), "tenant:%llu:%.60s", (unsigned long long)a->tenant,
             a->object);
}

void cu_audit_fill(cu_audit_entry *e, const cu_ctx *ctx, const cu_audit_in *a)
{
    memset(e, 0, sizeof(*e));
    e->tenant_id = a->tenant;
    e->at = now_ms();
    cu_strlcpy(e->actor, ctx && ctx->actor ? ctx->actor : "internal", sizeof(e->actor));
    cu_strlcpy(e->action, a->action, sizeof(e->action));
    cu_strlcpy(e->object, a->object, sizeof(e->object));
    cu_strlcpy(e->purpose, ctx && ctx->purpose ? ctx->purpose : "", sizeof(e->purpose));
    cu_strlcpy(e->source, ctx && ctx->source ? ctx->source : "", sizeof(e->source));
    cu_strlcpy(e->request_id, ctx && ctx->request_id ? ctx->request_id : "", sizeof(e->request_id));
    cu_strlcpy(e->outcome, "ok", sizeof(e->outcome));
    e->subject_id = a->tenant != 0 ? a->subject : 0;
    if (a->has_digest) {
        e->has_digest = 1;
        memcpy(e->digest, a->digest, 32);
    }
}

/* --- the signing key (DIR/audit.key) -------------------------------------------------------
 *
 * The file (mode 0600; refused, like master.key, if group or others may read it) is text:
 *
 *   custos-audit-key 2
 *   <master version> <base64 of the key's 32-byte Ed25519 seed wrapped under that master key>
 *
 * so it is no more readable than the master key (in passphrase mode, not without the
 * passphrase). Format 1, the 64-byte secret key in plain base64, is still read, and rewritten
 * as format 2 at once. The public half is stored in the database: a vault whose audit.key was
 * replaced, or is gone while signed checkpoints exist, does not open (P-AUD-2). */

#define KEY_V1 "custos-audit-key 1\n"
#define KEY_V2 "custos-audit-key 2\n"

static size_t key_ad(uint32_t version, uint8_t ad[48])
{
    return (size_t)snprintf((char *)ad, 48, "custos-audit-key|%u", (unsigned)version);
}

static void key_path(const cu_vault *v, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", v->dir, AUDIT_KEY_FILE);
}

/* Writes sk's seed wrapped under master version mv to DIR/audit.key, atomically, 0600. */
static cu_rc key_save(cu_vault *v, const uint8_t *sk, uint32_t mv, cu_err *err)
{
    uint8_t seed[CU_SIGN_SEEDBYTES], w[CU_WRAPPED_MAX], ad[48];
    char path[PATH_MAX + 32], b64[128], line[192];
    const uint8_t *mk = cu_keyring_get(v->ring, mv);
    size_t wlen = 0, n;
    cu_rc rc = CU_ERR_CRYPTO;

    key_path(v, path, sizeof(path));
    if (mk != NULL && cu_sign_seed(sk, seed) == CU_OK &&
        cu_key_wrap(mk, seed, ad, key_ad(mv, ad), w, &wlen) == CU_OK &&
        cu_b64_encode(w, wlen, b64, sizeof(b64)) == CU_OK)
        rc = CU_OK;
    cu_wipe(seed, sizeof(seed));
    if (rc != CU_OK)
        return cu_err_set(err, rc, "could not wrap the audit signing key");
    n = (size_t)snprintf(line, sizeof(line), KEY_V2 "%u %s\n", (unsigned)mv, b64);
    return cu_file_write_atomic(path, line, n, 0600, err);
}

/* Format 2's key line: the master version and the wrapped seed, into sk. */
static cu_rc key_unwrap(cu_vault *v, const char *line, uint8_t *sk, uint32_t *mv)
{
    uint8_t seed[CU_SIGN_SEEDBYTES], w[CU_WRAPPED_MAX], ad[48], pk[CU_SIGN_PKBYTES];
    const uint8_t *mk;
    const char *sp = strchr(line, ' '), *end;
    unsigned long ver;
    size_t wlen = 0;
    char *stop;
    cu_rc rc;

    ver = strtoul(line, &stop, 10);
    if (sp == NULL || stop != sp || ver == 0 || ver > UINT32_MAX ||
        (end = strchr(sp, '\n')) == NULL ||
        cu_b64_decode(sp + 1, (size_t)(end - sp - 1), w, sizeof(w), &wlen) != CU_OK)
        return CU_ERR_INVALID;
    if ((mk = cu_keyring_get(v->ring, (uint32_t)ver)) == NULL)
        return CU_ERR_KEY;
    rc = cu_key_unwrap(mk, w, wlen, ad, key_ad((uint32_t)ver, ad), seed);
    if (rc == CU_OK)
        rc = cu_sign_seed_keypair(seed, pk, sk);
    cu_wipe(seed, sizeof(seed));
    *mv = (uint32_t)ver;
    return rc;
}

/* Format 1: base64 of the 64-byte secret key, unwrapped (*mv 0: rewrite it). */
static cu_rc key_plain(const char *line, uint8_t *sk, uint32_t *mv)
{
    const char *end = strchr(line, '\n');
    size_t n = 0;

    *mv = 0;
    if (end == NULL ||
        cu_b64_decode(line, (size_t)(end - line), sk, CU_SIGN_SKBYTES, &n) != CU_OK ||
        n != CU_SIGN_SKBYTES)
        return CU_ERR_INVALID;
    return CU_OK;
}

/* Reads DIR/audit.key into sk: CU_ERR_NOT_FOUND if there is none, CU_ERR_PERM if group or
 * others may read it, CU_ERR_KEY if no master key of the key file unwraps it. */
static cu_rc key_read(cu_vault *v, uint8_t *sk, uint32_t *mv, cu_err *err)
{
    char path[PATH_MAX + 32], *text = NULL;
    struct stat st;
    size_t len = 0;
    cu_rc rc;

    key_path(v, path, sizeof(path));
    if (stat(path, &st) != 0)
        return cu_err_set(err, errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO,
                          "could not open \"%s\": %s", path, strerror(errno));
    if ((st.st_mode & 077) != 0)
        return cu_err_set(err, CU_ERR_PERM,
                          "audit key file \"%s\" is readable by others (mode %03o): run chmod 600 "
                          "on it",
                          path, (unsigned)(st.st_mode & 0777));
    if ((rc = cu_file_read(path, 4096, &text, &len, err)) != CU_OK)
        return rc;
    if (strncmp(text, KEY_V2, strlen(KEY_V2)) == 0)
        rc = key_unwrap(v, text + strlen(KEY_V2), sk, mv);
    else if (strncmp(text, KEY_V1, strlen(KEY_V1)) == 0)
        rc = key_plain(text + strlen(KEY_V1), sk, mv);
    else
        rc = CU_ERR_INVALID;
    cu_wipe(text, len);
    free(text);
    if (rc == CU_ERR_KEY || rc == CU_ERR_CRYPTO)
        return cu_err_set(err, CU_ERR_KEY,
                          "\"%s\" cannot be unwrapped with the master keys in the key file", path);
    if (rc != CU_OK)
        return cu_err_set(err, CU_ERR_INVALID, "\"%s\" is not an audit key file", path);
    return CU_OK;
}

/* The key in sk against the public key stored in the database (P-AUD-2). */
static cu_rc key_check(cu_vault *v, const uint8_t stored[32], int found, cu_err *err)
{
    char path[PATH_MAX + 32];
    cu_store_op op;

    if (cu_sign_public(v->audit_sk, v->audit_pk) != CU_OK)
        return cu_err_set(err, CU_ERR_CRYPTO, "bad audit signing key");
    key_path(v, path, sizeof(path));
    if (found && !cu_ct_equal(stored, v->audit_pk, 32))
        return cu_err_set(err, CU_ERR_KEY,
                          "\"%s\" is not the audit key this vault signs with (its public key "
                          "differs from the one in the database): restore the right one",
                          path);
    if (found)
        return CU_OK;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_AUDIT_KEY_PUT;
    memcpy(op.u.audit_key.public_key, v->audit_pk, 32);
    op.u.audit_key.created_at = cu_clock_now();
    return cu_store_apply(v->store, &op, 1, err);
}

cu_rc cu_audit_key_load(cu_vault *v, cu_err *err)
{
    uint8_t stored[32] = {0}, pk[CU_SIGN_PKBYTES];
    int found = 0, checkpoints = 0;
    uint32_t mv = 0;
    cu_rc rc;

    v->audit_sk = cu_secure_alloc(CU_SIGN_SKBYTES);
    if (v->audit_sk == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "could not allocate locked memory");
    if ((rc = cu_store_audit_key_get(v->store, stored, &found, &checkpoints, err)) != CU_OK)
        return rc;
    rc = key_read(v, v->audit_sk, &mv, err);
    if (rc == CU_ERR_NOT_FOUND && checkpoints)
        /* A new key would leave every checkpoint unverifiable, and would let a rewritten log
         * be signed afresh: the old one must come back from a backup. */
        return cu_err_set(err, CU_ERR_KEY,
                          "the audit signing key %s/%s is missing and signed checkpoints exist: "
                          "restore it from a backup",
                          v->dir, AUDIT_KEY_FILE);
    if (rc == CU_ERR_NOT_FOUND) {
        found = 0; /* nothing was ever signed with the key the database names */
        if (cu_sign_keypair(pk, v->audit_sk) != CU_OK)
            return cu_err_set(err, CU_ERR_CRYPTO, "could not make the audit signing key");
        rc = CU_OK;
    }
    if (rc != CU_OK)
        return rc;
    if ((rc = key_check(v, stored, found, err)) != CU_OK)
        return rc;
    if (mv == 0 && found)
        /* P-AUD-2: a plain (format 1) key is read once, to wrap a key made before keys were
         * wrapped, while the database pins none. Once one is pinned, a plain file is a key
         * planted by someone without the master key. */
        return cu_err_set(err, CU_ERR_KEY,
                          "%s/%s is not wrapped under the master key, but this vault's audit key "
                          "is: restore the right one from a backup",
                          v->dir, AUDIT_KEY_FILE);
    /* Format 1, a new key, or one wrapped under an older master version: wrap it anew. */
    if (mv != v->master_version)
        rc = key_save(v, v->audit_sk, v->master_version, err);
    return rc;
}

cu_rc cu_audit_key_rewrap(cu_vault *v, uint32_t master_version, cu_err *err)
{
    return key_save(v, v->audit_sk, master_version, err);
}

void cu_audit_public_key(cu_vault *v, uint8_t out[32])
{
    memcpy(out, v->audit_pk, 32);
}

cu_rc cu_audit_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_audit_filter *f,
                    cu_audit_entry **out, size_t *n, cu_err *err)
{
    cu_audit_filter none = {0};
    cu_audit_in a;
    cu_rc rc;

    if (tenant != 0 && (rc = cu_tenant_check_read(v, ctx, tenant, err)) != CU_OK)
        return rc;
    /* Reading the log is itself audited: who looked, and for what. */
    cu_audit_in_set(&a, tenant, "audit.read", "audit:%llu", (unsigned long long)tenant);
    if ((rc = cu_store_audit_list(v->store, tenant, f ? f : &none, out, n, err)) != CU_OK)
        return rc;
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static _Atomic uint32_t index_step = CU_AUDIT_INDEX_STEP;

void cu_audit_index_step_set(uint32_t n)
{
    index_step = n ? n : CU_AUDIT_INDEX_STEP;
}

uint32_t cu_audit_index_step(void)
{
    return index_step;
}

cu_rc cu_audit_subject_list(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                           uint64_t after, size_t limit, cu_audit_entry **out, size_t *n,
                           cu_err *err)
{
    cu_store_op idx = {.type = CU_OP_AUDIT_SUBJECT_INDEX,
                       .u.audit_index = {.tenant_id = tenant, .limit = cu_audit_index_step()}};
    cu_store_access *acc = NULL;
    size_t m = 0;
    cu_audit_in a;
    cu_rc rc;

    *out = NULL;
    *n = 0;
    if ((rc = cu_tenant_check_read(v, ctx, tenant, err)) != CU_OK)
        return rc;
    /* P-ISO-1: a subject the tenant does not hold (another tenant's, or none) is not found,
     * as on every other route that names one. */
    if ((rc = cu_store_subject_state(v->store, tenant, subject, NULL, NULL, err)) != CU_OK)
        return rc;
    /* The log's subject index: a range of its key, not a scan of the log. It is caught up
     * first (derived data, no entry of its own), in the transaction of this read's own entry
     * (reading the log is itself audited, as cu_audit_list's), which also ends the request's
     * read scope: the read below sees the index caught up, not the mark before (review-s10b
     * 1). The entry is on record before the answer exists, as the subject's export's. */
    cu_audit_in_set(&a, tenant, "audit.read", "audit:%llu", (unsigned long long)tenant);
    if ((rc = cu_commit(v, ctx, &idx, 1, &a, 1, err)) != CU_OK)
        return rc;
    rc = cu_store_audit_by_subject(v->store, tenant, subject, after, limit, &acc, &m, err);
    if (rc != CU_OK)
        return rc;
    if ((*out = calloc(m > 0 ? m : 1, sizeof(**out))) == NULL) {
        free(acc);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < m; i++) {
        cu_audit_entry *e = &(*out)[i];
        e->tenant_id = tenant;
        e->seq = acc[i].seq;
        e->at = acc[i].at;
        cu_strlcpy(e->actor, acc[i].actor, sizeof(e->actor));
        cu_strlcpy(e->action, acc[i].action, sizeof(e->action));
        cu_strlcpy(e->object, acc[i].object, sizeof(e->object));
        cu_strlcpy(e->purpose, acc[i].purpose, sizeof(e->purpose));
        e->subject_id = subject;
    }
    free(acc);
    *n = m;
    return CU_OK;
}

cu_rc cu_audit_checkpoints(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_audit_checkpoint **out,
                           size_t *n, cu_err *err)
{
    cu_rc rc;

    (void)ctx;
    if (tenant != 0 && (rc = cu_tenant_check_read(v, ctx, tenant, err)) != CU_OK)
        return rc;
    return cu_store_audit_checkpoints(v->store, tenant, out, n, err);
}

/* A checkpoint at seq exists already (an automatic one, or one made a moment ago): the same
 * hash is that checkpoint, answered again; another hash means the log was rewritten. */
static cu_rc existing_checkpoint(cu_vault *v, cu_id tenant, uint64_t seq, const uint8_t hash[32],
                                 cu_audit_checkpoint *out, cu_err *err)
{
    cu_audit_checkpoint *list = NULL;
    size_t n = 0;
    cu_rc rc;

    if ((rc = cu_store_audit_checkpoints(v->store, tenant, &list, &n, err)) != CU_OK)
        return rc;
    rc = cu_err_set(err, CU_ERR_CRYPTO,
                    "a signed checkpoint already covers entry %llu with another hash: the log "
                    "was rewritten",
                    (unsigned long long)seq);
    for (size_t i = 0; i < n; i++)
        if (!list[i].anchor && list[i].seq == seq && cu_ct_equal(list[i].hash, hash, 32)) {
            if (out)
                *out = list[i];
            rc = CU_OK;
        }
    free(list);
    return rc;
}

cu_rc cu_audit_checkpoint_now(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                              cu_audit_checkpoint *out, cu_err *err)
{
    cu_store_op op;
    uint8_t hash[32];
    uint64_t seq;
    cu_audit_in a;
    cu_rc rc;

    if (tenant != 0 && (rc = cu_tenant_check(v, tenant, 0, err)) != CU_OK)
        return rc;
    /* The request itself is an entry; the checkpoint then covers it. */
    cu_audit_in_set(&a, tenant, "audit.checkpoint", "audit:%llu", (unsigned long long)tenant);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_audit_head(v->store, tenant, &seq, hash, err)) != CU_OK)
        return rc;
    memset(&op, 0, sizeof(op));
    op.type = CU_OP_AUDIT_CHECKPOINT;
    cu_audit_sign(v, 0, tenant, seq, now_ms(), hash, &op.u.checkpoint);
    if ((rc = cu_store_apply(v->store, &op, 1, err)) == CU_ERR_EXISTS)
        return existing_checkpoint(v, tenant, seq, hash, out, err);
    if (rc != CU_OK)
        return rc;
    if (out)
        *out = op.u.checkpoint;
    return CU_OK;
}

typedef struct find_one {
    uint64_t seq;
    cu_audit_entry e;
    int found;
} find_one;

static int take_first(void *arg, const cu_audit_entry *e)
{
    find_one *f = arg;

    if (e->seq == f->seq) {
        f->e = *e;
        f->found = 1;
    }
    return 1;
}

cu_rc cu_audit_prune(cu_vault *v, const cu_ctx *ctx, cu_id tenant, int64_t before_ms,
                     uint64_t *pruned, cu_err *err)
{
    cu_store_op ops[2];
    find_one f = {0};
    cu_audit_in a;
    uint64_t seq = 0;
    cu_rc rc;

    if (pruned)
        *pruned = 0;
    if (tenant != 0 && (rc = cu_tenant_check_read(v, ctx, tenant, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_audit_seq_before(v->store, tenant, before_ms, &seq, err)) != CU_OK ||
        seq == 0)
        return rc;
    f.seq = seq;
    if ((rc = cu_store_audit_scan(v->store, tenant, seq, take_first, &f, err)) != CU_OK)
        return rc;
    if (!f.found)
        return cu_err_set(err, CU_ERR_STORE, "audit entry %llu vanished", (unsigned long long)seq);
    /* The anchor first: a signed checkpoint at the newest entry removed. */
    memset(ops, 0, sizeof(ops));
    ops[0].type = CU_OP_AUDIT_CHECKPOINT;
    cu_audit_sign(v, 1, tenant, seq, now_ms(), f.e.hash, &ops[0].u.checkpoint);
    ops[1].type = CU_OP_AUDIT_PRUNE;
    ops[1].u.audit_prune.tenant_id = tenant;
    ops[1].u.audit_prune.upto = seq;
    cu_audit_in_set(&a, tenant, "audit.prune", "audit:%llu:upto:%llu", (unsigned long long)tenant,
                    (unsigned long long)seq);
    if ((rc = cu_commit(v, ctx, ops, 2, &a, 1, err)) != CU_OK)
        return rc;
    if (pruned)
        *pruned = seq;
    return CU_OK;
}
