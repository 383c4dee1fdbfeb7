/*
 * custos_portal.h: the data subject's privacy center (issue 15; docs/portal.md).
 *
 * A tenant's backend, which has already authenticated its user, asks the vault for a portal
 * link for one subject. The link's token is MACed by the vault (HMAC-SHA-256 under a key
 * derived with HKDF from the tenant's index key, never stored) over tenant, subject, the
 * issuer and an expiry a few minutes away; the page exchanges it for a session token of the
 * same shape (a different kind byte, a longer expiry), which the browser holds in an HttpOnly
 * cookie. Neither
 * is stored: no table, and a tenant's shredding kills both. A token that does not decode, names
 * another tenant, carries a wrong MAC, has expired or names a subject that is gone is simply not
 * found, whichever part was wrong: an unverified visitor learns nothing about whether a subject
 * exists.
 *
 * The session authenticates a principal of kind CU_PRINCIPAL_SUBJECT and role CU_ROLE_SUBJECT,
 * which holds CU_PERM_PORTAL alone: it reaches only the portal routes of its own tenant and
 * subject. What the subject does there goes through the core's own paths (the consent ledger,
 * the request flow), audited as theirs ("subject:<id>").
 */
#ifndef CUSTOS_PORTAL_H
#define CUSTOS_PORTAL_H

#include "custos.h"

/* A token as text: 88 base64url characters and the NUL, with room to spare. */
#define CU_PORTAL_TOKEN_MAX 96
/* A link is exchanged within this many seconds of issue; a session lasts this long. */
#define CU_PORTAL_LINK_TTL (10 * 60)
#define CU_PORTAL_SESSION_TTL (30 * 60)

/* Issues a portal link's token for an existing subject (CU_ERR_NOT_FOUND else) into token,
 * naming who asked for it (a key or a user: its kind and id travel in the token, to the
 * session's audit entry; NULL: the library's own caller, "cli"),
 * and its expiry (unix seconds) into *expires; "portal.link" in the tenant's audit log. */
cu_rc cu_portal_link(cu_vault *v, const cu_ctx *ctx, const cu_principal *who, cu_id tenant,
                     cu_id subject, char token[CU_PORTAL_TOKEN_MAX], int64_t *expires,
                     cu_err *err);

/* Exchanges a link's token for a session token (into session) and its principal; CU_ERR_NOT_FOUND
 * for any flaw in the link, or a subject gone. "portal.session" in the tenant's audit log. */
cu_rc cu_portal_session(cu_vault *v, const cu_ctx *ctx, const char *link,
                        char session[CU_PORTAL_TOKEN_MAX], cu_principal *who, int64_t *expires,
                        cu_err *err);

/* Authenticates a session token: the subject's principal, or CU_ERR_AUTH for any flaw. */
cu_rc cu_portal_auth(cu_vault *v, const char *session, cu_principal *who, cu_err *err);

/* Where the subject stands on one purpose of the policy in force. */
typedef enum cu_portal_stance {
    CU_PORTAL_NONE = 0,  /* nothing recorded */
    CU_PORTAL_GRANTED,   /* consent given (consent basis) */
    CU_PORTAL_WITHDRAWN, /* consent withdrawn */
    CU_PORTAL_OBJECTED,  /* objected to (legitimate interest) */
    CU_PORTAL_ALLOWED,   /* an objection withdrawn */
    CU_PORTAL_RENEW      /* consent given, but before the version in force asked for it again:
                          * it no longer counts (P-NOT-2) and must be given again */
} cu_portal_stance;

typedef struct cu_portal_consent {
    char purpose[65];
    char data_use[128];
    char description[256]; /* "" if the policy gives none */
    cu_legal_basis basis;
    cu_portal_stance stance;
    int64_t at;            /* the last ledger entry's time, 0: none */
    const char *withdraw;  /* what withdrawing (or objecting) means, a static string */
    int can_change;        /* 1: consent or legitimate interest, which the subject may change */
} cu_portal_consent;

/* "none", "granted", ...; "?" if out of range. */
const char *cu_portal_stance_name(cu_portal_stance s);

/* The purposes of the tenant's policy in force and where the subject stands on each; the
 * caller frees *out. CU_ERR_CONFLICT for a tenant without a policy. */
cu_rc cu_portal_consents(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                         cu_portal_consent **out, size_t *n, cu_err *err);

/* What a change from a purpose's card did: written to the ledger at once, or, where the tenant
 * is a processor, a withdrawal or objection filed as the subject's request, which waits for the
 * controller as a request filed from the form does (P-DSR-8, docs/dsr.md "Processor mode"). */
typedef struct cu_portal_change {
    int routed;              /* 1: filed as a request (filed), 0: in the ledger */
    cu_request_filed filed;
    cu_id open;              /* refused: the open request of the same kind (as request_file) */
} cu_portal_change;

/* Grants or withdraws a consent, objects or withdraws an objection, as the subject (source
 * "web"): cu_consent_record, or in processor mode a withdrawal or an objection filed as an
 * object or withdraw_consent request naming the purpose. */
cu_rc cu_portal_consent_change(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                               const char *purpose, cu_consent_action action,
                               cu_portal_change *out, cu_err *err);

/* The subject's own requests, newest first; the caller frees *out. */
cu_rc cu_portal_requests(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                         cu_request **out, size_t *n, cu_err *err);

/* At most this many open requests per subject from the center. */
#define CU_PORTAL_OPEN_MAX 10

/* Files a request as the subject, who proved itself by the portal session: verified at filing
 * (no token), and in processor mode waiting for the controller like any subject's request.
 * CU_ERR_CONFLICT while the subject has an open request of that type (and purpose), *open its
 * id, or CU_PORTAL_OPEN_MAX open requests of any type, *open the newest's: *open is non-zero
 * exactly when this is the refusal. */
cu_rc cu_portal_request_file(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                             cu_request_type type, const char *purpose, cu_request_filed *out,
                             cu_id *open, cu_err *err);

/* The answer to one of the subject's own access or export requests (cu_request_export_open);
 * another subject's request is CU_ERR_NOT_FOUND. */
cu_rc cu_portal_export_open(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                            cu_id request, const char *format, cu_subject_export **out,
                            cu_err *err);

#endif
