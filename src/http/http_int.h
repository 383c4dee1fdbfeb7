/*
 * http_int.h: what the files of src/http/ share: the request, the route table, responses and
 * errors, body validation, metrics.
 *
 * Order of checks for every request (P-ISO-1, P-ACC-1): a query of more than HTTP_MAX_QUERY
 * parameters (400) and a body over its route's limit (413) first, in server.c; then route
 * (404/405; HEAD goes where GET does), authentication (401; and for a state change by
 * session cookie, its Origin: 403), tenant match (a foreign tenant
 * answers exactly as a missing one: 404), permission (403), purpose (400/403), then body (415,
 * 400; a body where the route takes none, 400), and in the handler the query (400).
 */
#ifndef CU_HTTP_INT_H
#define CU_HTTP_INT_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "custos.h"
#include "http.h"
#include "repr.h"

#define HTTP_MAX_PARAMS 3
#define HTTP_PATH_MAX 512
/* Body bytes taken where no credential is needed or no body is wanted: enough for a login with
 * the longest password escaped, far from the 1 MiB an anonymous client could make us parse. */
#define HTTP_SMALL_BODY 8192
/* Query parameters a request may carry; more are refused before libmicrohttpd stores them. */
#define HTTP_MAX_QUERY 32

struct MHD_Connection;

typedef struct http_req http_req;
typedef void (*http_handler)(http_req *r);

enum {
    R_NOAUTH = 1 << 0,  /* no credential needed */
    R_BODY = 1 << 1,    /* a JSON object body is required */
    R_PURPOSE = 1 << 2, /* touches personal data: Custos-Purpose required */
    R_TENANT = 1 << 3,  /* the first path parameter is the tenant */
    R_FORM = 1 << 4,    /* a small form body is taken as it came, not as JSON (RFC 8058) */
    R_ORIGIN = 1 << 5,  /* no credential, but sets or clears a cookie: the Origin check */
};

typedef struct http_route {
    const char *method;
    const char *pattern; /* segments; {tenant} {id} are ids, {name} a collection name */
    cu_perm perm;        /* 0: authentication only */
    unsigned flags;
    http_handler fn;
    const char *metric; /* the pattern, for metrics and logs */
} http_route;

extern const http_route http_routes[];
extern const size_t http_nroutes;
/* Rows of the metrics' route table (metrics.c): at least http_nroutes, which test_docs checks
 * (a route past it would be counted as matching none). */
#define HTTP_METRICS_MAX_ROUTES 192

struct http_req {
    struct MHD_Connection *conn; /* NULL: a request without a socket (fuzz/fuzz_router.c) */
    /* Without a connection, the headers and the query parameters come from these lists of
     * name, value, name, value, ..., NULL (http_header, http_query, http_check_query). */
    const char *const *hdrs;
    const char *const *args;
    cu_vault *v;
    const cu_http_config *cfg;
    const char *method;
    char path[HTTP_PATH_MAX];
    char request_id[33];
    char source[64];
    /* body */
    char *body;
    size_t body_len, body_cap;
    size_t body_max; /* http_body_limit() of the route */
    int body_too_large;
    int query_too_long; /* more than HTTP_MAX_QUERY parameters: cut, and refused */
    int late;           /* begun after the server started to stop: answered 503 */
    cJSON *json;
    /* routing */
    const http_route *matched; /* found by http_body_limit(), for http_dispatch() to take */
    const http_route *route;
    cu_id ids[HTTP_MAX_PARAMS]; /* numeric path parameters in order */
    size_t nids;
    char name[CU_COLLECTION_MAX]; /* the {name} parameter */
    cu_id tenant;                 /* the {tenant} parameter, when R_TENANT */
    /* authentication */
    const char *session; /* the session cookie's value, in the Cookie header (not terminated) */
    size_t session_len;
    int session_looked; /* session and session_len are set (session NULL: no usable cookie) */
    int portal;         /* the session is a data subject's portal session (custos_portal) */
    int by_key;         /* authenticated by an API key (Authorization: Bearer), not a cookie */
    cu_principal who;
    int authed;
    char actor[48];
    const char *purpose;
    cu_ctx ctx;
    /* response */
    unsigned status;
    char *resp;
    size_t resp_len;
    /* A streamed answer instead of resp (GET .../export): read copies the next bytes, at most
     * max, into buf and returns how many, 0 at the end, -1 on an error, after which the
     * connection closes without the chunked body's last chunk (the client sees a broken
     * transfer, never a short answer); done frees arg. The response takes them once queued;
     * until then the request owns them (on_completed calls done). */
    long (*stream_read)(void *arg, char *buf, size_t max);
    void (*stream_done)(void *arg);
    void *stream_arg;
    char set_cookie[256];
    char set_cookie2[128];    /* a second: the SSO binding cookie cleared (api_sso.c) */
    char location[1024];      /* a Location header (302 to the identity provider, api_sso.c) */
    char allow[64];           /* for 405 */
    unsigned retry_after;     /* seconds, for a Retry-After header (429, 503); 0: none */
    const char *content_type; /* NULL: application/json */
    const char *csp;          /* a Content-Security-Policy header's value, NULL: none */
    const char *cache_control; /* a Cache-Control header's value, NULL: no-store */
    char etag[32];             /* an ETag header's value, "": none */
    const char *err_code;
    double t0;
    int queued;
    /* The core's answer to come (pending.c): set by a handler that called an asynchronous
     * core function; the connection is suspended until it comes. */
    struct http_pending *pending;
};

/* Responses. http_json takes ownership of item. */
void http_json(http_req *r, unsigned status, cJSON *item);
void http_error(http_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a core error to its status and answers it. Not-found answers never say what was
 * missing, so that another tenant's ids and random ids get identical bodies (P-ISO-1). */
void http_fail(http_req *r, const cu_err *e);
unsigned http_status_of(cu_rc rc);

/* Body validation: the object must hold only the listed members, each of its type. */
typedef enum { F_STRING, F_ID, F_OBJECT, F_BOOL, F_ARRAY } http_ftype;
typedef struct http_field {
    const char *name;
    http_ftype type;
    int required;
} http_field;
/* Returns 0, or answers 400 naming the first unknown, missing or mistyped member and returns -1. */
int http_check_body(http_req *r, const http_field *fields, size_t n);
/* A member's string value, or NULL. */
const char *http_str(const http_req *r, const char *name);
/* A member's id value (a decimal string), or 0. */
cu_id http_id(const http_req *r, const char *name);

/* Query parameters, for GET routes that filter (ids and names only: values that may be
 * personal travel in bodies). The value of name, percent-decoded, or NULL. */
const char *http_query(const http_req *r, const char *name);
/* Returns 0 if every query parameter is one of names[0..n) (n < 32), each at most once and with
 * a value; else answers 400 unknown_field or invalid_field naming it and returns -1. */
int http_check_query(http_req *r, const char *const *names, size_t n);
/* The same, but a parameter not in names is ignored (a provider's redirect carries its own). */
int http_check_query_known(http_req *r, const char *const *names, size_t n);

/* Helpers for JSON output. */

/* The most body bytes r's route takes: the server's limit where a caller with a credential (an
 * Authorization header or the session cookie, checked later) sends a JSON body to a route that
 * needs one, HTTP_SMALL_BODY (or less) where no credential is needed or none came, no body is
 * taken, or no route matches. Reads r->method, r->path, r->cfg and those two headers only. */
size_t http_body_limit(http_req *r);
/* Dispatch: route, authenticate, check tenant/role/purpose/body, call the handler. */
void http_dispatch(http_req *r);
/* The value of a request header, or NULL. */
const char *http_header(const http_req *r, const char *name);
/* Copies the value of the cookie called name into out; 0 if it is there and fits, else -1. */
int http_cookie(const http_req *r, const char *name, char *out, size_t cap);

/* Writes n bytes on a connection's GnuTLS session (its socket non-blocking) without waiting:
 * 0 once all are written; -1 on an error or when the socket has no room for them now, which
 * may leave a record cut short (the caller closes the connection either way). */
int http_tls_send_now(void *session, const char *buf, size_t n);

/* tls_reload.c: the certificate and key of every handshake, reloaded on SIGHUP. set loads the
 * PEM texts (the key must be the certificate's) and remembers the paths they came from; reload
 * reads those paths again and, if the pair loads, serves it to new connections. retrieve is
 * libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK (a gnutls_certificate_retrieve_function2). */
cu_rc http_tls_creds_set(const char *cert_path, const char *key_path, const char *cert,
                         const char *key, cu_err *err);
cu_rc http_tls_reload(cu_err *err);
void http_tls_creds_free(void);
/* sd_notify(3) to $NOTIFY_SOCKET, if set: "READY=1", "RELOADING=1", "STOPPING=1". */
void http_sd_notify(const char *state);

/* The listening socket and its accepting thread (accept.c). http_listen binds addr and sets
 * *port to the port bound (addr's, or the one the kernel chose for 0); -1 with errno set if
 * it cannot. http_accept_start hands each connection accepted to d, while fewer than max are
 * open (counted as handed over; http_accept_count(-1) as libmicrohttpd closes one);
 * http_accept_stop refuses new ones and closes the socket. */
struct MHD_Daemon;
struct sockaddr_in;
int http_listen(const struct sockaddr_in *addr, unsigned *port);
cu_rc http_accept_start(struct MHD_Daemon *d, unsigned max, cu_err *err);
void http_accept_count(int delta);
/* libmicrohttpd started the connection on fd (its STARTED notification): fd's hand-over is no
 * longer pending (accept.c). */
void http_accept_started(int fd);
void http_accept_stop(void);

/* Answers the core gives later (pending.c). A handler on a route whose core call waits for
 * its group commit (a record's create, read, update) calls http_pending_start, then the
 * core's asynchronous function with http_pending_done and r->pending; if that refuses at once,
 * http_pending_cancel, and answers the error itself. server.c then suspends the connection
 * (http_pending_suspend) until the completion resumes it, and answers on the connection's own
 * thread (http_pending_finish), where finish builds the answer from the core's result. Without
 * a connection (fuzz_router), http_dispatch waits for the answer instead (http_pending_wait).
 * The request and the completion each hold a reference: a client gone, or the request ended,
 * before the core answers leaves the completion nothing to touch but the pending answer. */
typedef void (*http_finish_fn)(http_req *r, cu_async_result *res);
/* 0 with r->pending set, or -1 with 503 answered (out of memory). */
int http_pending_start(http_req *r, http_finish_fn finish);
/* The completion to give the core, with r->pending as its arg (any thread). */
void http_pending_done(void *arg, cu_async_result *res);
/* The core refused before queueing: the completion never runs. Drops r->pending. */
void http_pending_cancel(http_req *r);
/* Suspends r's connection until the answer comes and returns 1; or returns 0 once the answer
 * is built (it came already). On the connection's thread, inside the access handler. */
int http_pending_suspend(http_req *r);
/* Builds r's answer from the core's result (after a resume) and drops r->pending. */
void http_pending_finish(http_req *r);
/* Without a connection: waits for the answer and builds it. */
void http_pending_wait(http_req *r);
/* The request ends (on_completed) with its answer maybe still to come: drops r->pending. */
void http_pending_release(http_req *r);
/* Connections suspended and not yet resumed (a graceful stop waits for none). */
int http_pending_suspended(void);
/* How many started answers have not completed yet (the graceful stop waits for none). */
int http_pending_outstanding(void);

/* Metrics (Prometheus text). */
void http_metrics_observe(const http_req *r, double seconds);
char *http_metrics_render(cu_vault *v, size_t *len);

/* The browser pages (portal.c): 1 if path is /portal or under it; serving one of them. */
int http_portal_path(const char *path);
void http_portal(http_req *r);

/* Handlers, one file per resource. */
void api_healthz(http_req *r);
void api_metrics(http_req *r);
void api_tenant_create(http_req *r);
void api_tenant_list(http_req *r);
void api_tenant_get(http_req *r);
void api_subject_create(http_req *r);
void api_subject_get(http_req *r);
void api_subject_search(http_req *r);
void api_subject_erase(http_req *r);
void api_subject_records(http_req *r);
void api_collection_put(http_req *r);
void api_record_create(http_req *r);
void api_record_search(http_req *r);
void api_record_get(http_req *r);
void api_record_update(http_req *r);
void api_record_delete(http_req *r);
void api_key_create(http_req *r);
void api_key_list(http_req *r);
void api_key_revoke(http_req *r);
void api_key_rotate(http_req *r);
void api_user_create(http_req *r);
void api_user_list(http_req *r);
void api_user_get(http_req *r);
void api_user_delete(http_req *r);
void api_login(http_req *r);
/* The session cookie of token, lasting max_age seconds (api_access.c). */
void http_session_cookie(http_req *r, const char *token, int max_age);
/* Single sign-on (api_sso.c, P-ACC-5). */
void api_sso_put(http_req *r);
void api_sso_get(http_req *r);
void api_sso_link_put(http_req *r);
void api_sso_link_delete(http_req *r);
void api_sso_login(http_req *r);
void api_sso_callback(http_req *r);
void api_logout(http_req *r);
void api_operator_session(http_req *r);
void api_totp_enroll(http_req *r);
void api_totp_confirm(http_req *r);
void api_audit_list(http_req *r);
void api_subject_accesses(http_req *r);
void api_audit_verify(http_req *r);
void api_audit_checkpoint(http_req *r);
void api_audit_checkpoints(http_req *r);
void api_policy_get(http_req *r);
void api_policy_put(http_req *r);
/* Policy versions (api_policy_version.c, P-NOT-1, P-NOT-2). */
void api_policy_pending(http_req *r);
void api_policy_withdraw(http_req *r);
void api_policy_fresh(http_req *r);

void api_policy_grant(http_req *r);
void api_consent_record(http_req *r);
void api_consent_list(http_req *r);
void api_subject_restrict(http_req *r);
/* Cookie consent and one-click unsubscribe (api_consent.c, P-CON-3, P-CON-4). */
void api_cookie_choose(http_req *r);
void api_cookie_check(http_req *r);
void api_cookie_banner(http_req *r);
void api_unsubscribe_link(http_req *r);
void api_unsubscribe_page(http_req *r);
void api_unsubscribe_post(http_req *r);
void api_subject_under_age(http_req *r);
/* The subject's privacy center (api_portal.c; docs/portal.md). */
cJSON *api_policy_json(const cu_policy *p, unsigned version);
void api_portal_link(http_req *r);
void api_portal_session_open(http_req *r);
void api_portal_session_close(http_req *r);
void api_portal_center(http_req *r);
void api_portal_consents(http_req *r);
void api_portal_consent_change(http_req *r);
void api_portal_requests(http_req *r);
void api_portal_request_file(http_req *r);
void api_portal_export(http_req *r);
/* api_webhook.c: endpoints, events, test and resend (docs/webhooks.md). */
void api_webhook_create(http_req *r);
void api_webhook_list(http_req *r);
void api_webhook_get(http_req *r);
void api_webhook_update(http_req *r);
void api_webhook_rotate(http_req *r);
void api_webhook_delete(http_req *r);
void api_webhook_test(http_req *r);
void api_webhook_events(http_req *r);
void api_webhook_event_get(http_req *r);
void api_webhook_resend(http_req *r);
void api_hold_place(http_req *r);
void api_hold_list(http_req *r);
void api_hold_release(http_req *r);
/* Disclosures (api_disclosure.c, P-SHR-1). */
void api_disclosure_add(http_req *r);
void api_disclosure_list(http_req *r);
void api_tenant_terminate(http_req *r);
void api_tenant_export(http_req *r);
void api_sweep(http_req *r);
void api_backup_create(http_req *r);
void api_request_file(http_req *r);
void api_request_list(http_req *r);
void api_request_get(http_req *r);
void api_request_verify(http_req *r);
void api_request_acknowledge(http_req *r);
void api_request_extend(http_req *r);
void api_request_approve(http_req *r);
void api_request_reject(http_req *r);
void api_request_complete(http_req *r);
void api_request_subject(http_req *r);
void api_request_records(http_req *r);
void api_request_consents(http_req *r);
void api_request_record_get(http_req *r);
void api_request_record_update(http_req *r);
void api_request_export(http_req *r);

/* The webhook delivery workers (webhook_send.c): started once the server listens, stopped
 * (each try in flight finished) before it returns. Settings from CUSTOS_WEBHOOK_* variables
 * (docs/webhooks.md). */
void http_webhook_start(cu_vault *v);
void http_webhook_stop(void);

/* api_incident.c: breach incidents, the operator's and a tenant's (docs/incidents.md). */
void api_incident_open(http_req *r);
void api_incident_list(http_req *r);
void api_incident_get(http_req *r);
void api_incident_report(http_req *r);
void api_incident_notice(http_req *r);
void api_incident_revoke(http_req *r);
/* api_analytics.c: aggregates and the privacy budget (P-ANA-1, docs/analytics.md). */
void api_analytics_aggregate(http_req *r);
void api_analytics_budget_get(http_req *r);
void api_analytics_budget_put(http_req *r);

#endif
