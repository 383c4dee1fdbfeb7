/*
 * sc.h: scenario tests (tests/scenarios/): the real `custos serve` over HTTPS, driven through
 * simulated years. The server's clock is the one policy clock (CUSTOS_NOW); moving it restarts
 * the server on the same data directory at the new time, and POST /v1/sweep applies what the
 * time has made due, as the sweeper inside the server would on its interval.
 */
#ifndef CU_SC_H
#define CU_SC_H

#include <stddef.h>
#include <stdint.h>

#include "srv.h"

#define SC_DAY 86400

typedef struct sc {
    srv s;
    int64_t now; /* the server's clock, unix seconds */
} sc;

typedef struct sc_tenant {
    char id[SRV_ID];
    char key[128]; /* the owner's API key */
} sc_tenant;

/* What a sweep answered (POST /v1/sweep). */
typedef struct sc_sweep_counts {
    long records_deleted, records_anonymized, records_held, subjects_erased, tenants_purged,
        tenants_shredded;
} sc_sweep_counts;

/* A scenario is a story: its tests are chapters, run in order on one server, each building on
 * what those before it left (the vault, the clock, the ids in the file's globals). Each chapter
 * still runs alone (a test filter, another order): when the chapters before it have not just
 * passed on the live server, its set-up starts a fresh server and replays them first. */
#define SC_MAX_TENANTS 2
typedef struct sc_story {
    const char *title;  /* the cmocka group's name */
    const char *policy; /* the built-in policy of every tenant ("scm", ...) */
    sc *c;              /* the file's server */
    sc_tenant *tenants[SC_MAX_TENANTS];
    const char *names[SC_MAX_TENANTS];
    void (*begun)(void);     /* after the fresh start on 2026-01-01 and the tenants; may be NULL */
    void (*ending)(int all); /* once the server has stopped for good, before its directory goes
                                (all: every chapter passed, in order); may be NULL */
} sc_story;

/* Runs the chapters tests[0..n) of story. A test filter (cmocka_set_test_filter's pattern)
 * comes from argv[1] or $CMOCKA_TEST_FILTER. Returns cmocka's result. */
int sc_story_run(const sc_story *story, const struct CMUnitTest *tests, size_t n, int argc,
                 char **argv);

/* Unix seconds of y-m-d 00:00 UTC. */
int64_t sc_date(int y, int m, int d);
/* Starts a server whose clock reads now (and never sweeps on its own). */
void sc_start(sc *c, int64_t now);
/* Stops the server and starts it again on the same vault with its clock at now. */
void sc_at(sc *c, int64_t now);
/* Stops the server (expecting a clean exit) and removes its directory. */
void sc_stop(sc *c);

/* One request: method, printf-formatted path, with key (Bearer) and purpose (may be NULL), and
 * body (may be NULL). Fails the test unless the status is want and, when code is not NULL, the
 * error code is code. Returns the answer's "id" in id (may be NULL). */
void sc_want(sc *c, long want, const char *code, const char *key, const char *purpose,
             const char *body, char id[SRV_ID], const char *method, const char *fmt, ...)
    __attribute__((format(printf, 9, 10)));
/* The same, handing the whole answer to the caller (srv_resp_free it). */
void sc_call(sc *c, long want, const char *key, const char *purpose, const char *body,
             srv_resp *out, const char *method, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* Makes a record of subject (NULL: the tenant's own) in collection under purpose, with the
 * owner's key; fails the test unless it is made. Its id in id. */
void sc_put(sc *c, const sc_tenant *t, const char *purpose, const char *collection,
            const char *subject, const char *data, char id[SRV_ID]);
/* GET of a record under purpose with Sec-GPC: 1; asserts the status (and code, if not NULL). */
void sc_gpc_get(sc *c, const sc_tenant *t, const char *purpose, const char *record, long want,
                const char *code);
/* 1 if the database file or its WAL holds the bytes of s in clear. */
int sc_at_rest(sc *c, const char *s);

/* A data-subject request of type ("access", ...) for subject, filed by the tenant's owner as
 * admin and acknowledged: the routes under it (/requests/<id>/...) act with the purpose
 * subject_access (docs/dsr.md). Its id in id. */
void sc_request_open(sc *c, const sc_tenant *t, const char *type, const char *subject,
                     char id[SRV_ID]);
/* P-DSR-7, P-DSR-8: a subject's access request through its whole flow, with the owner's key as
 * the tenant's service: filed for external_id (its due dates must be ack_due and answer_due,
 * RFC 3339), verified with its token, approved by the controller first when processor, then
 * acknowledged, answered under the request (the subject's record ids, which must hold record)
 * and completed; no longer open after. */
void sc_request_story(sc *c, const sc_tenant *t, const char *external_id, const char *record,
                      const char *ack_due, const char *answer_due, int processor);
/* A tenant named name under the built-in policy policy ("scm", ...), made by the operator. */
void sc_tenant_new(sc *c, const char *name, const char *policy, sc_tenant *t);
/* Runs a sweep now and returns its counts. */
void sc_sweep(sc *c, sc_sweep_counts *out);
/* The number member name of a flat JSON answer, or -1. */
long sc_json_num(const char *json, const char *name);
/* How many entries of the tenant's audit log have this action (its owner reads it). */
long sc_audit_count(sc *c, const sc_tenant *t, const char *action);
/* The same straight from the database (for a purged tenant, whom no key reaches any more);
 * the server must be idle. */
long sc_audit_count_db(sc *c, const sc_tenant *t, const char *action);
/* Entries of the platform's log (tenant 0) about the tenant ("tenant:<id>"): its purge and
 * shredding, which outlive the tenant's own log. */
long sc_platform_count(sc *c, const sc_tenant *t, const char *action);
/* How many rows of table hold the tenant's id (straight from the database). */
long sc_rows(sc *c, const sc_tenant *t, const char *table);

/* P-BAK-1, P-BAK-2, P-RET-3 on the running server: restarted with a backup directory, a
 * subject made (with purpose, which also erases), a backup made over the API, expiring
 * window_days after it (the policy's backup_window), the subject erased, the backup restored
 * for real beside the server's data: the subject stays erased and its email is in no restored
 * file. The clock does not move. On PostgreSQL (no custos backup there) it does nothing. */
void sc_backup_erase_restore(sc *c, const sc_tenant *t, const char *purpose, int window_days);

#endif
