/*
 * subject_export_int.h: what the two files of the subject's export share (subject_export.c: the
 * bytes, the steps, open, read and free; subject_export_doc.c: the parts of the document and of
 * the archive). Nothing outside them includes it.
 */
#ifndef CU_SUBJECT_EXPORT_INT_H
#define CU_SUBJECT_EXPORT_INT_H

#include "core_int.h"
#include "csv.h"
#include "json.h"
#include "zip.h"

#define SX_PAGE 256                     /* records per store read */
#define SX_PAGE_BYTES ((size_t)4 << 20) /* a page of records ends past this many bytes */
#define SX_ACCESS_PAGE 512              /* audit entries per store read */
#define SX_CHUNK ((size_t)65536)        /* a step stops making bytes past this many */
#define SX_GUARD "text cells starting with = + - @, a tab or a carriage return get a leading '"

typedef enum { P_RECORDS, P_ACCESSES, P_TAIL, P_DONE } sx_phase;

/* Bytes made and not yet taken: p[pos..len). Wiped when they move and when reset. */
typedef struct sbuf {
    char *p;
    size_t len, pos, cap;
} sbuf;

struct cu_subject_export {
    cu_vault *v;
    cu_id tenant, subject;
    cu_subject_export_format fmt;
    int64_t now;
    cu_store *snap;          /* every read after the audit entry */
    cu_key key;              /* the subject's, for its profile and records */
    const cu_policy *policy; /* a reference, or NULL without a policy */
    sx_phase phase;
    cu_store_collection_count *colls; /* the snapshot's plan: collections and counts */
    size_t ncolls, icoll;
    int in_coll;                    /* the collection icoll is open */
    uint64_t coll_rows;             /* its records written */
    const cu_policy_collection *pc; /* its declaration (CSV columns), or NULL */
    cu_store_record *rows;          /* a page of sealed records */
    size_t nrows, irow;
    int rows_last;
    int64_t after_created; /* keyset of the records: the last one read */
    cu_id after;
    cu_store_access *acc; /* a page of accesses */
    size_t nacc, iacc;
    uint64_t acc_after; /* keyset of the accesses: the last seq read */
    int acc_last;
    size_t members;             /* members written in the JSON array open (for commas) */
    uint64_t records, accesses; /* written, for the manifest */
    sbuf out;                   /* for the reader */
    sbuf txt;                   /* CSV: an entry's text not yet in the zip */
    cu_zip *zip;
    cu_csv csv;
    cu_rc failed; /* sticky: every read after an error returns it */
    cu_err err;
};

/* subject_export_kept.c: the answer for a subject erased under legal retention (P-RET-4): its
 * kept records and its erasure's certificate cert (taken, deleted whatever happens), made
 * whole; the phase becomes P_DONE. */
cu_rc sx_kept_begin(cu_subject_export *x, cJSON *cert);

/* subject_export.c: the bytes. Each returns CU_OK or an error with x->err set. */
cu_rc sx_nomem(cu_subject_export *x);
/* Appends text: to the reader's bytes (JSON), or to the zip entry's text (CSV). */
cu_rc sx_emit(cu_subject_export *x, const char *s, size_t n);
cu_rc sx_emits(cu_subject_export *x, const char *s);
/* CSV: the entry's text so far into the zip. */
cu_rc sx_zip_flush(cu_subject_export *x);
/* CSV: ends the entry open and starts the file name. */
cu_rc sx_entry(cu_subject_export *x, const char *name);
/* A CSV row of n text cells (guard: the formula guard, docs/dsr.md). */
cu_rc sx_csv_row(cu_subject_export *x, const char *const *cells, size_t n, int guard);
/* Prints o unformatted and appends it (without its last byte when open, so members can
 * follow); deletes o, wiped, whatever happens. */
cu_rc sx_emit_json(cu_subject_export *x, cJSON *o, int open);
/* RFC 3339 UTC into buf: whole seconds (ms < 0) or milliseconds. */
void sx_time_text(int64_t secs, int ms, char buf[40]);
/* Add a member; NULL if they could not (o NULL, or out of memory). */
cJSON *sx_add_id(cJSON *o, const char *name, cu_id id);
cJSON *sx_add_time(cJSON *o, const char *name, int64_t t);

/* subject_export_doc.c: the parts. The *_json builders return a tree the caller owns, NULL on
 * an error (x->err set); the rest append to the export. */
cJSON *sx_subject_json(const cu_subject *s);
cJSON *sx_consents_json(cu_subject_export *x);
cJSON *sx_held_json(cu_subject_export *x);
/* The JSON document up to "records":{ ; takes subject, consents, held, requests and
 * recipients. */
cu_rc sx_json_head(cu_subject_export *x, const char *tenant_name, unsigned pver, cJSON *subject,
                   cJSON *consents, cJSON *held, cJSON *requests, cJSON *recipients);
cu_rc sx_emit_string(cu_subject_export *x, const char *s);
cu_rc sx_json_record(cu_subject_export *x, const cu_record *r);
cu_rc sx_json_access(cu_subject_export *x, const cu_store_access *a);
/* The archive's first entries: README.txt, subject.csv, consents.csv, held.csv, requests.csv. */
cu_rc sx_csv_head(cu_subject_export *x, const cu_subject *s, cJSON *consents, cJSON *held,
                  cJSON *requests);
/* The header row of the collection open (x->pc). */
cu_rc sx_csv_coll_head(cu_subject_export *x);
cu_rc sx_csv_record(cu_subject_export *x, const cu_record *r);
cu_rc sx_csv_access(cu_subject_export *x, const cu_store_access *a);
/* disclosure_export.c (P-SHR-1): the recipients of the subject's data, {"disclosures": [...],
 * "listed": [...]}, from the snapshot and the policy (NULL on an error, x->err set); and their
 * archive entry, recipients.csv. */
cJSON *sx_recipients_json(cu_subject_export *x);
cu_rc sx_csv_recipients(cu_subject_export *x, const cJSON *recipients);
/* The last entry, manifest.json, and the zip's central directory. */
cu_rc sx_csv_manifest(cu_subject_export *x);

#endif
