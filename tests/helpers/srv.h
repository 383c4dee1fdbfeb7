/*
 * srv.h: the real `custos serve` for API tests: started on a free loopback port with a fresh
 * data directory, talked to over TLS 1.3 with libcurl (verifying its self-signed certificate),
 * and stopped by pid with SIGTERM.
 */
#ifndef CU_SRV_H
#define CU_SRV_H

#include <stddef.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "custos.h"

typedef struct srv {
    char dir[256]; /* temporary directory: data/ and the logs */
    char data[300];
    char base[64];          /* https://127.0.0.1:PORT */
    char ca[400];           /* the server's self-signed certificate */
    char operator_key[128]; /* printed once at first start */
    char log[400];          /* the server's stderr: the access log */
    char store[256];        /* PostgreSQL mode (th_pg_mode): its database's URL (--store); the
                               same on every restart. Else empty: data/custos.db */
    pid_t pid;
} srv;

/* Starts the server (build/test/custos, or $CUSTOS) with extra arguments (NULL-terminated
 * list, may be NULL). Fails the test if it does not come up within 30 s. With
 * CUSTOS_TEST_STORE=postgresql its vault is on a fresh database of the test binary's
 * PostgreSQL server (th_store(s->data) names it). */
void srv_start(srv *s, const char *const *extra);
/* The same with env, a NULL-terminated list of "NAME=value" set in the server's environment
 * only (e.g. "CUSTOS_FAULT=audit.append"); may be NULL. */
void srv_start_env(srv *s, const char *const *extra, const char *const *env);
/* Starts the server again on the data directory of s, after srv_stop(s, 0): same vault, same
 * certificate, a new port (s->base); its stderr goes on in s->log, and s->operator_key stays. */
void srv_restart(srv *s, const char *const *extra, const char *const *env);
/* Sends SIGTERM and returns the exit status (0 expected). Removes the directory if rm. */
int srv_stop(srv *s, int rm);

typedef struct srv_resp {
    long status;
    char *body; /* NUL-terminated; free with srv_resp_free */
    size_t len;
    char request_id[64];
    char hsts[128];
    char set_cookie[512];
    char content_type[128];
    char allow[64];
    char retry_after[16];
    int set_cookies; /* how many Set-Cookie headers came */
} srv_resp;

/* One request. auth: an API key (sent as Bearer), or a "custos_session=..." (or a subject's
 * "custos_portal=...") cookie string
 * (sent with the server's own Origin, as a browser on its page would), or NULL. purpose: the Custos-Purpose header or NULL. body: JSON or NULL. Returns the curl code
 * (0 on a completed exchange). */
int srv_call(const srv *s, const char *method, const char *path, const char *auth,
             const char *purpose, const char *body, srv_resp *out);
/* The same with full control of headers (a NULL-terminated list of "Name: value"). */
int srv_call_h(const srv *s, const char *method, const char *path, const char *const *headers,
               const char *body, size_t body_len, srv_resp *out);
void srv_resp_free(srv_resp *r);

/* Pulls "name":"value" (a string member) out of a flat JSON answer into out; 0 if found. */
int srv_json_str(const char *json, const char *name, char *out, size_t cap);

/* A curl handle set up like srv_call's (the server's CA, TLS 1.3, 30 s timeout) for tests
 * that need their own transfer options; path is appended to the base URL. Caller cleans up. */
CURL *srv_curl(const srv *s, const char *path);

/* 0 if body is exactly {"error":{"code":C,"message":M}} with string C and M, which are copied
 * into code and msg (either may be NULL); -1 if it has any other shape. */
int srv_err(const char *body, char code[64], char msg[256]);
/* Asserts r is an error answer of this status and code, with a request id. */
void srv_assert_err(const srv_resp *r, long status, const char *code);

/* 1 if the server's stderr (the access log) holds needle, waiting up to ms milliseconds for
 * it (the log line is written when the exchange completes, just after the client has it). */
int srv_log_wait(const srv *s, const char *needle, int ms);

/* A tenant made over the API, with one object of each kind, for tests that need real ids. */
#define SRV_ID 24
typedef struct srv_tenant {
    char id[SRV_ID];
    char boot_key[128];              /* the owner key tenant creation answered */
    char key[CU_ROLE_OPERATOR][128]; /* secrets by role, owner .. auditor */
    char key_id[CU_ROLE_OPERATOR][SRV_ID];
    char subject[SRV_ID]; /* a subject with subject_email and phone */
    char subject_email[64], phone[32];
    char collection[32]; /* "notes": note is personal and indexed */
    char record[SRV_ID]; /* a note of the subject, holding note */
    char note[64];
    char user[SRV_ID]; /* an owner user: email, password */
    char email[64], password[64];
    char session[160]; /* "custos_session=..." of that user */
} srv_tenant;

/* Creates a tenant named name with the operator key, then with its owner key: one more key per
 * role (owner included), a subject, the collection, a record and a user, and logs the user in.
 * Every value is unique to name. Fails the test on any unexpected answer. */
void srv_tenant_make(const srv *s, const char *name, srv_tenant *t);
/* Like srv_call, and fails the test unless the status is want; returns the answer's "id". */
void srv_call_ok(const srv *s, const char *method, const char *path, const char *auth,
                 const char *purpose, const char *body, long want, char id[SRV_ID]);

/* A tenant named name (no JSON escaping needed) on a built-in policy, made with the operator
 * key: its id and owner key in id and key; then a user of it with email, password and role.
 * Fails the test on any unexpected answer. */
void srv_tenant_user(const srv *s, const char *name, const char *policy, const char *email,
                     const char *password, const char *role, char id[SRV_ID], char key[128]);

/* A server with one or two tenants, shared by a cmocka group. */
typedef struct srv_world {
    srv s;
    srv_tenant a, b;
} srv_world;

/* Starts a server and makes tenant a named first and, unless second is NULL, tenant b. */
srv_world *srv_world_new(const char *first, const char *second);
/* Stops the server, expecting exit status 0, removes its directory and frees w. */
void srv_world_free(srv_world *w);

#endif
