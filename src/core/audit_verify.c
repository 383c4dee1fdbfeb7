/*
 * audit_verify.c: verifying a tenant's audit chain (P-AUD-2), and deep, its records against
 * their latest writes (P-ENC-2).
 *
 * The chain is cut into spans of seq, a few per core, which one thread per core takes in turn:
 * each entry carries its predecessor's hash (prev), so a span checks its own entries alone and
 * leaves the join to its neighbours, its first seq and prev, to the merge, which then reads the
 * spans in order as one walk would: the report names the same first bad entry, with the same
 * words, as walking the whole chain from its start. Each span also checks a share of the vault's
 * checkpoint signatures. Each entry is hashed as the store read it, its canonical encoding
 * (cu_audit_row); the store says whether the entry's columns still encode to those bytes.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit_canon.h"
#include "audit_int.h"
#include "tenant_int.h"
#include "progress_int.h"
#include "util.h"

#define SPAN_MIN 16384 /* fewer entries per span than this are not worth a thread */
#define WORKERS_MAX 8  /* threads at most, one per core */
#define SPANS_PER_WORKER 4
#define SPANS_TEST_MAX 64 /* with cu_audit_span_len */

/* A record's write (or deletion) as its audit entry tells it, for verify --deep. */
typedef struct rec_write {
    cu_id record;
    uint64_t seq;
    int kind; /* WRITE_DIGEST, WRITE_UNKNOWN (no digest: before format 2), WRITE_GONE, or
                 WRITE_RESEAL (the data key's re-encryption pass) */
    uint8_t digest[32];
} rec_write;

enum { WRITE_DIGEST = 1, WRITE_UNKNOWN, WRITE_GONE, WRITE_RESEAL };

/* One span's walk, fed entry by entry in seq order; the whole chain's too, in the merge. */
typedef struct walk {
    const cu_audit_checkpoint *ck; /* the vault's, by seq (shared, read only) */
    size_t nck, ci;
    const cu_audit_checkpoint *held; /* kept outside the vault, by seq, anchors left out */
    size_t nheld, hi;
    int deep; /* collect the record writes (verify --deep) */
    rec_write *writes;
    size_t nwrites, capwrites;
    int nomem;
    int seen;           /* a span's first entry was read: first_seq, first_prev */
    uint64_t first_seq; /* joined to the span before by the merge */
    uint8_t first_prev[32];
    uint64_t last;
    uint8_t hash[32];
    cu_audit_report rep; /* ok, entries, held, first_bad_seq, problem */
} walk;

/* A span of seq [lo, hi], verified by one of the workers, with the signatures of the vault's
 * checkpoints ck[ck_lo, ck_hi) (Ed25519, about 60 us each: a thousand per million entries). */
typedef struct span {
    cu_vault *v;
    cu_id tenant;
    uint64_t lo, hi;
    size_t ck_lo, ck_hi;
    size_t ck_bad; /* the first of them that fails, or ck_hi */
    walk w;
    cu_rc rc;
    cu_err err;
} span;

static int bad(walk *w, uint64_t seq, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(walk *w, uint64_t seq, const char *fmt, ...)
{
    va_list ap;

    w->rep.ok = 0;
    w->rep.first_bad_seq = seq;
    va_start(ap, fmt);
    vsnprintf(w->rep.problem, sizeof(w->rep.problem), fmt, ap);
    va_end(ap);
    return 1;
}

static int push_write(walk *w, const rec_write *r)
{
    if (w->nwrites == w->capwrites) {
        size_t ncap = w->capwrites ? w->capwrites * 2 : 256;
        rec_write *n = realloc(w->writes, ncap * sizeof(*n));
        if (n == NULL) {
            w->nomem = 1;
            return -1;
        }
        w->writes = n;
        w->capwrites = ncap;
    }
    w->writes[w->nwrites++] = *r;
    return 0;
}

/* Remembers a record write or deletion; -1 when out of memory (w->nomem). */
static int note_write(walk *w, const cu_audit_row *row)
{
    static const char *const writes[] = {"record.create", "record.update", "record.anonymize"};
    static const char *const gone[] = {"record.delete", "record.expire"};
    cu_audit_entry e;
    unsigned long long id;
    rec_write r = {0};
    char tail;

    if (cu_audit_decode(row->canon, row->canon_len, &e) != CU_OK)
        return 0; /* it passed its hash: Custos wrote it, as an encoding it reads */
    for (size_t i = 0; i < CU_ARRAY_LEN(writes); i++)
        if (strcmp(e.action, writes[i]) == 0)
            r.kind = e.has_digest ? WRITE_DIGEST : WRITE_UNKNOWN;
    for (size_t i = 0; i < CU_ARRAY_LEN(gone); i++)
        if (strcmp(e.action, gone[i]) == 0)
            r.kind = WRITE_GONE;
    if (strcmp(e.action, "record.reencrypt") == 0 && e.has_digest)
        r.kind = WRITE_RESEAL;
    if (r.kind == 0 || sscanf(e.object, "record:%llu%c", &id, &tail) != 1)
        return 0;
    r.record = id;
    r.seq = row->seq;
    memcpy(r.digest, e.digest, 32);
    return push_write(w, &r);
}

/* The signed checkpoints, vault's and held, at the entry just verified with hash h. */
static int check_marks(walk *w, uint64_t seq, const uint8_t h[32])
{
    while (w->ci < w->nck && w->ck[w->ci].seq < seq)
        w->ci++;
    if (w->ci < w->nck && w->ck[w->ci].seq == seq) {
        if (memcmp(w->ck[w->ci].hash, h, 32) != 0)
            return bad(w, seq, "entry %llu differs from its signed checkpoint",
                       (unsigned long long)seq);
        w->ci++;
    }
    /* Held checkpoints before the chain's start were pruned with their entries. */
    while (w->hi < w->nheld && w->held[w->hi].seq < seq)
        w->hi++;
    if (w->hi < w->nheld && w->held[w->hi].seq == seq) {
        if (memcmp(w->held[w->hi].hash, h, 32) != 0)
            return bad(w, seq, "entry %llu differs from a checkpoint held outside the vault",
                       (unsigned long long)seq);
        w->hi++;
        w->rep.held++;
    }
    return 0;
}

/* One entry of a span. The hashes compared are public: memcmp, not a constant-time compare. */
static int span_entry(void *arg, const cu_audit_row *r)
{
    walk *w = arg;
    uint8_t h[32];

    if (!w->seen) {
        /* The join to the entry before is the merge's (join()). */
        w->seen = 1;
        w->first_seq = r->seq;
        memcpy(w->first_prev, r->prev, 32);
    } else if (r->seq != w->last + 1) {
        return bad(w, w->last + 1, "entry %llu was removed (the next one is %llu)",
                   (unsigned long long)(w->last + 1), (unsigned long long)r->seq);
    } else if (memcmp(r->prev, w->hash, 32) != 0) {
        return bad(w, r->seq,
                   "entry %llu does not follow entry %llu: entries were inserted, "
                   "removed or reordered",
                   (unsigned long long)r->seq, (unsigned long long)w->last);
    }
    if (!r->agrees)
        return bad(w, r->seq, "entry %llu was altered", (unsigned long long)r->seq);
    cu_sha256(r->canon, r->canon_len, h);
    if (memcmp(h, r->hash, 32) != 0)
        return bad(w, r->seq, "entry %llu was altered", (unsigned long long)r->seq);
    w->last = r->seq;
    memcpy(w->hash, h, 32);
    if ((++w->rep.entries & 1023) == 0)
        cu_progress_add(1024); /* the CLI's progress (cu_progress_set) */
    if (w->deep && note_write(w, r) != 0)
        return 1;
    return check_marks(w, r->seq, h);
}

/* A checkpoint of the vault that is not the tenant's or not signed with the vault's key. */
static int ck_forged(const cu_vault *v, cu_id tenant, const cu_audit_checkpoint *c)
{
    return !cu_audit_checkpoint_ok(v->audit_pk, c) || c->tenant_id != tenant;
}

static void *span_run(void *arg)
{
    span *s = arg;

    for (s->ck_bad = s->ck_lo; s->ck_bad < s->ck_hi; s->ck_bad++)
        if (ck_forged(s->v, s->tenant, &s->w.ck[s->ck_bad]))
            break;
    s->rc = cu_store_audit_rows(s->v->store, s->tenant, s->lo, s->hi, span_entry, &s->w, &s->err);
    return NULL;
}

/* The span's first entry after the chain so far (all): what a walk from the start would say
 * there. 0, or 1 after bad(). */
static int join(walk *all, const walk *w)
{
    if (all->last == 0 && w->first_seq > 1) {
        /* Pruned: the chain must continue a signed prune anchor at seq - 1; a plain checkpoint
         * will not do, or deleting the oldest entries up to one would pass. */
        size_t a;
        for (a = 0; a < all->nck && !(all->ck[a].anchor && all->ck[a].seq == w->first_seq - 1); a++)
            ;
        if (a == all->nck)
            return bad(all, w->first_seq,
                       "entries before %llu are missing and no signed anchor covers them",
                       (unsigned long long)w->first_seq);
        memcpy(all->hash, all->ck[a].hash, 32);
        all->last = w->first_seq - 1;
        /* Said in the report: a pruned log is never taken for a whole one. */
        all->rep.pruned_through = all->last;
    } else if (w->first_seq != all->last + 1) {
        return bad(all, all->last + 1, "entry %llu was removed (the next one is %llu)",
                   (unsigned long long)(all->last + 1), (unsigned long long)w->first_seq);
    }
    if (memcmp(w->first_prev, all->hash, 32) != 0)
        return bad(all, w->first_seq,
                   "entry %llu does not follow entry %llu: entries were inserted, removed or "
                   "reordered",
                   (unsigned long long)w->first_seq, (unsigned long long)all->last);
    return 0;
}

/* Takes span s's result into all, in seq order. 1 when the walk ends there (a bad entry, out
 * of memory), else 0. */
static int merge(walk *all, walk *w)
{
    if (w->seen && join(all, w) != 0)
        return 1;
    all->rep.entries += w->rep.entries;
    all->rep.held += w->rep.held;
    if (w->nwrites > 0) {
        for (size_t i = 0; i < w->nwrites; i++)
            if (push_write(all, &w->writes[i]) != 0)
                return 1;
    }
    if (w->nomem) {
        all->nomem = 1;
        return 1;
    }
    if (!w->rep.ok) {
        bad(all, w->rep.first_bad_seq, "%s", w->rep.problem);
        return 1;
    }
    if (w->seen) {
        all->last = w->last;
        memcpy(all->hash, w->hash, 32);
    }
    return 0;
}

uint64_t cu_audit_span_len = 0;

/* The spans of a chain whose newest seq is head: *n of *len seqs each, the last open-ended,
 * and the *workers threads that take them in turn. A few spans per core, of at least SPAN_MIN
 * entries each: a core that another process slows takes fewer, the others more, so that the
 * walk ends when the cores it got have done the work, not when the slowest third of the chain
 * is done. cu_audit_span_len (tests) sets the length instead. */
static void span_plan(uint64_t head, size_t *n, uint64_t *len, size_t *workers)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t k = head / SPAN_MIN;

    if (cpus < 1)
        cpus = 1;
    *workers = cpus > WORKERS_MAX ? WORKERS_MAX : (size_t)cpus;
    if (cu_audit_span_len > 0) {
        k = (head + cu_audit_span_len - 1) / cu_audit_span_len;
        *n = k < 1 ? 1 : k > SPANS_TEST_MAX ? SPANS_TEST_MAX : (size_t)k;
        *len = cu_audit_span_len;
        if (*workers < 2)
            *workers = 2; /* threads at once, even on one core */
    } else {
        if (k > *workers * SPANS_PER_WORKER)
            k = *workers * SPANS_PER_WORKER;
        *n = k < 1 ? 1 : (size_t)k;
        *len = head / *n;
    }
    if (*workers > *n)
        *workers = *n;
}

/* The spans, and the next one to take. */
typedef struct span_queue {
    span *sp;
    size_t n;
    atomic_size_t next;
} span_queue;

static void *span_worker(void *arg)
{
    span_queue *q = arg;
    size_t i;

    while ((i = atomic_fetch_add(&q->next, 1)) < q->n)
        span_run(&q->sp[i]);
    return NULL;
}

/* Runs the spans on this thread and workers - 1 others (fewer if a thread cannot start), each
 * taking the next span not taken, then merges them in order into all. */
static cu_rc run_spans(span *sp, size_t n, size_t workers, walk *all, cu_err *err)
{
    span_queue q = {.sp = sp, .n = n};
    pthread_t th[WORKERS_MAX];
    size_t started = 0;
    cu_rc rc = CU_OK;

    atomic_init(&q.next, 0);
    while (started + 1 < workers && pthread_create(&th[started], NULL, span_worker, &q) == 0)
        started++;
    span_worker(&q);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    /* A bad signature is the report, whatever the chain holds: as if checked before it. */
    for (size_t i = 0; i < n; i++)
        if (sp[i].ck_bad < sp[i].ck_hi) {
            all->rep.checkpoints = sp[i].ck_bad; /* the good ones before it */
            bad(all, all->ck[sp[i].ck_bad].seq, "the checkpoint at %llu has a bad signature",
                (unsigned long long)all->ck[sp[i].ck_bad].seq);
            return CU_OK;
        }
    all->rep.checkpoints = all->nck;
    for (size_t i = 0; i < n && rc == CU_OK; i++) {
        if (sp[i].rc != CU_OK) {
            rc = sp[i].rc;
            *err = sp[i].err;
        } else if (merge(all, &sp[i].w) != 0) {
            break;
        }
    }
    return rc;
}

/* The chain of tenant, walked in spans on the cores, into all. The last span is open-ended:
 * entries committed while it runs are verified too, as by a single walk. */
static cu_rc walk_spans(cu_vault *v, cu_id tenant, walk *all, cu_err *err)
{
    span *sp;
    uint64_t head = 0, len = 0;
    uint8_t ignored[32];
    size_t n = 1, workers = 1;
    cu_rc rc;

    if ((rc = cu_store_audit_head(v->store, tenant, &head, ignored, err)) != CU_OK)
        return rc;
    span_plan(head, &n, &len, &workers);
    cu_progress_begin("audit verify", head);
    if ((sp = calloc(n, sizeof(*sp))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        sp[i].v = v;
        sp[i].tenant = tenant;
        sp[i].lo = i == 0 ? 0 : len * i + 1;
        sp[i].hi = i + 1 == n ? UINT64_MAX : len * (i + 1);
        sp[i].ck_lo = all->nck * i / n;
        sp[i].ck_hi = all->nck * (i + 1) / n;
        sp[i].w = (walk){.ck = all->ck,
                         .nck = all->nck,
                         .held = all->held,
                         .nheld = all->nheld,
                         .deep = all->deep,
                         .rep = {.ok = 1}};
    }
    rc = run_spans(sp, n, workers, all, err);
    for (size_t i = 0; i < n; i++) {
        cu_progress_add(sp[i].w.rep.entries & 1023); /* what span_entry had not told */
        free(sp[i].w.writes);
    }
    free(sp);
    return rc;
}

static int by_seq(const void *a, const void *b)
{
    const cu_audit_checkpoint *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The held checkpoints into mine: each must be the tenant's and signed with pk; anchors are
 * checked and left out (their entries were pruned). 0, or 1 after bad(). */
static int take_held(walk *w, const uint8_t *pk, cu_id tenant, const cu_audit_checkpoint *held,
                     size_t n, cu_audit_checkpoint *mine)
{
    for (size_t i = 0; i < n; i++) {
        if (held[i].tenant_id != tenant)
            return bad(w, held[i].seq, "the held checkpoint at %llu is of another tenant",
                       (unsigned long long)held[i].seq);
        if (!cu_audit_checkpoint_ok(pk, &held[i]))
            return bad(w, held[i].seq, "the held checkpoint at %llu has a bad signature",
                       (unsigned long long)held[i].seq);
        if (!held[i].anchor)
            mine[w->nheld++] = held[i];
    }
    if (w->nheld > 1)
        qsort(mine, w->nheld, sizeof(*mine), by_seq);
    w->held = mine;
    return 0;
}

/* Checks the vault's own checkpoints with its key (in the spans, spread over the cores), then
 * the chain against them and the held ones. */
static cu_rc walk_all(cu_vault *v, cu_id tenant, walk *w, cu_err *err)
{
    uint64_t end;
    cu_rc rc;

    rc = walk_spans(v, tenant, w, err);
    if (rc != CU_OK || !w->rep.ok)
        return rc;
    /* A signed checkpoint beyond the last entry: the log was cut short. */
    if (w->nck > 0 && w->ck[w->nck - 1].seq > w->last)
        bad(w, w->last + 1, "entries after %llu are missing: a checkpoint covers %llu",
            (unsigned long long)w->last, (unsigned long long)w->ck[w->nck - 1].seq);
    else if (w->nheld > 0 && (end = w->held[w->nheld - 1].seq) > w->last)
        bad(w, w->last + 1,
            "entries after %llu are missing: a checkpoint held outside the vault covers %llu",
            (unsigned long long)w->last, (unsigned long long)end);
    return CU_OK;
}

static int by_record(const void *a, const void *b)
{
    const rec_write *x = a, *y = b;

    if (x->record != y->record)
        return x->record < y->record ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* P-ENC-2, deep: each record whose latest entry is a write with a digest must hold that
 * ciphertext. A record gone without an entry of its own (an erased subject's, a shredded
 * tenant's) is skipped. */
static cu_rc check_records(cu_vault *v, cu_id tenant, walk *w, cu_err *err)
{
    uint8_t d[32];
    cu_rc rc = CU_OK;

    if (w->nwrites > 1)
        qsort(w->writes, w->nwrites, sizeof(*w->writes), by_record);
    for (size_t i = 0; i < w->nwrites && rc == CU_OK && w->rep.ok; i++) {
        const rec_write *last = &w->writes[i];
        cu_store_record row = {0};
        /* A re-encryption applies only to the ciphertext it read: a write committed between
         * its read and its commit leaves the record as that write stored it. */
        const rec_write *before = i > 0 && w->writes[i - 1].record == last->record &&
                                          w->writes[i - 1].kind == WRITE_DIGEST
                                      ? &w->writes[i - 1]
                                      : NULL;
        if ((i + 1 < w->nwrites && w->writes[i + 1].record == last->record) ||
            (last->kind != WRITE_DIGEST && last->kind != WRITE_RESEAL))
            continue;
        rc = cu_store_record_get(v->store, tenant, last->record, &row, err);
        if (rc == CU_ERR_NOT_FOUND) {
            rc = CU_OK;
            continue;
        }
        if (rc != CU_OK)
            break;
        cu_sha256(row.doc.data, row.doc.len, d);
        cu_store_record_cleanup(&row);
        w->rep.records++;
        if (!cu_ct_equal(d, last->digest, 32) &&
            !(last->kind == WRITE_RESEAL && before != NULL && cu_ct_equal(d, before->digest, 32)))
            bad(w, last->seq,
                "record %llu does not hold what its latest write (entry %llu) stored: it was "
                "rolled back or replaced",
                (unsigned long long)last->record, (unsigned long long)last->seq);
    }
    return rc;
}

cu_rc cu_audit_verify_with(cu_vault *v, const cu_ctx *ctx, cu_id tenant,
                           const cu_audit_verify_opts *o, cu_audit_report *rep, cu_err *err)
{
    static const cu_audit_verify_opts none = {0};
    cu_audit_checkpoint *ck = NULL, *held = NULL;
    walk w = {.rep = {.ok = 1}};
    cu_audit_in a;
    cu_rc rc;

    if (o == NULL)
        o = &none;
    memset(rep, 0, sizeof(*rep));
    rep->ok = 1;
    if (tenant != 0 && (rc = cu_tenant_check_read(v, ctx, tenant, err)) != CU_OK)
        return rc;
    cu_audit_in_set(&a, tenant, "audit.verify", "audit:%llu", (unsigned long long)tenant);
    if ((rc = cu_commit(v, ctx, NULL, 0, &a, 1, err)) != CU_OK)
        return rc;
    if ((rc = cu_store_audit_checkpoints(v->store, tenant, &ck, &w.nck, err)) != CU_OK)
        return rc;
    w.ck = ck;
    w.deep = o->deep;
    if (o->nheld > 0 && (held = calloc(o->nheld, sizeof(*held))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* With another key than the pinned one, every signature in the vault may be new. */
    if (o->pinned != NULL && !cu_ct_equal(o->pinned, v->audit_pk, 32))
        bad(&w, 0, "the vault signs with another audit key than the held checkpoints' one");
    else if (take_held(&w, o->pinned ? o->pinned : v->audit_pk, tenant, o->held, o->nheld, held) ==
             0)
        rc = walk_all(v, tenant, &w, err);
    if (rc == CU_OK && w.nomem)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (rc == CU_OK && w.rep.ok && w.deep)
        rc = check_records(v, tenant, &w, err);
    *rep = w.rep;
out:
    free(ck);
    free(held);
    free(w.writes);
    return rc;
}

cu_rc cu_audit_verify(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_audit_report *rep,
                      cu_err *err)
{
    return cu_audit_verify_with(v, ctx, tenant, NULL, rep, err);
}
