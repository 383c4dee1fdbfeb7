/*
 * custos_consent.h: cookie consent (P-CON-3) and one-click unsubscribe (P-CON-4), both kept
 * in the consent ledger (P-CON-2; docs/consent.md).
 *
 * Cookie choices are ledger entries of the pseudo-purposes "cookies.analytics",
 * "cookies.preference", ... (grant or withdraw), each with the policy version in force and
 * its source. A known subject's go under its id; an anonymous visitor's (a random opaque id
 * the site's script chose) under a pseudonymous id derived from it by SHA-256, so that the
 * ledger, stored in clear, never holds the visitor id itself. A check is one ledger read.
 *
 * An unsubscribe link is a token MACed by the vault (HMAC-SHA-256 under a key derived with
 * HKDF from the tenant's index key, never stored) over tenant, subject, purpose and the policy version
 * it was issued under; it needs no login, and dies when that version is replaced.
 */
#ifndef CUSTOS_CONSENT_H
#define CUSTOS_CONSENT_H

#include "custos.h"

/* --- cookie consent (P-CON-3) ------------------------------------------------------------- */

#define CU_COOKIE_VISITOR_MIN 16 /* a visitor id: 16..64 of [A-Za-z0-9_-] */
#define CU_COOKIE_VISITOR_MAX 64

/* What a visitor (or subject) chose: per category, -1 not stated, 0 refused, 1 granted. */
typedef struct cu_cookie_choice {
    const char *visitor; /* the site's anonymous visitor id, or NULL */
    cu_id subject;       /* a known subject, or 0; exactly one of visitor and subject */
    int granted[CU_COOKIE__COUNT];
    const char *source; /* "banner", "settings" or "gpc"; NULL: "banner" */
} cu_cookie_choice;

/* What the site may set now, under the policy version in force. */
typedef struct cu_cookie_answer {
    cu_cookie_rule rule[CU_COOKIE__COUNT]; /* the policy's rule per category */
    int allowed[CU_COOKIE__COUNT];         /* 1: may be set now */
    int chosen; /* 1 if a choice was made under the version in force (else ask again) */
    int gpc;    /* the request carried Sec-GPC: 1 */
    int never;  /* cu_cookie_choose refused a grant: the category + 1 (0: none) */
    char policy_version[65]; /* the policy's own version: label, as the tenant wrote it */
    /* What a choice is current by: "<label>#<store number of the version in force>". The
     * label alone can be reused for a changed policy; the store number never is. */
    char policy_stamp[65];
} cu_cookie_answer;

/* "essential", "analytics", "preference", "advertising"; NULL if out of range. _parse: -1 if
 * unknown. */
const char *cu_cookie_category_name(cu_cookie_category c);
int cu_cookie_category_parse(const char *s);

/* Records a choice (one ledger entry per category stated whose newest entry under the version
 * in force does not already say it: a repeated choice writes nothing), answering what may be
 * set now. A
 * grant of a category the policy says never: CU_ERR_INVALID with out->never set, nothing
 * recorded. essential is no choice (CU_ERR_INVALID). With CU_CTX_GPC in ctx every grant of a
 * category that needs consent is recorded as refused, with source "gpc". Needs the tenant
 * active (a subject must exist); audited with ids only (a visitor as "visitor"). */
cu_rc cu_cookie_choose(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const cu_cookie_choice *c,
                       cu_cookie_answer *out, cu_err *err);
/* What the site may set now for visitor (or subject, when visitor is NULL): essential per the
 * policy; a consent category only if the newest choice for it grants it and no Sec-GPC
 * (CU_CTX_GPC) came; never never. Reads the newest entry per category only; not audited (no personal value is
 * read). A tenant without a policy: CU_ERR_CONFLICT. */
cu_rc cu_cookie_check(cu_vault *v, const cu_ctx *ctx, cu_id tenant, const char *visitor,
                      cu_id subject, cu_cookie_answer *out, cu_err *err);
/* The policy's rules and version alone (for the banner script); no credential involved. */
cu_rc cu_cookie_rules(cu_vault *v, cu_id tenant, cu_cookie_answer *out, cu_err *err);

/* --- one-click unsubscribe (P-CON-4) ------------------------------------------------------ */

#define CU_UNSUB_TOKEN_MAX 200 /* a token's text, with its NUL */

/* Issues a token for subject and purpose, a marketing purpose (data use marketing.*, basis
 * consent or legitimate interest) of the policy in force: into token (CU_UNSUB_TOKEN_MAX).
 * Service purposes are refused (CU_ERR_INVALID). Audited. */
cu_rc cu_unsubscribe_link(cu_vault *v, const cu_ctx *ctx, cu_id tenant, cu_id subject,
                          const char *purpose, char *token, cu_err *err);

/* What a valid token names. */
typedef struct cu_unsubscribe_info {
    cu_id tenant, subject;
    char purpose[65];
    int expired; /* the version it was issued under was replaced: CU_ERR_CONFLICT */
} cu_unsubscribe_info;

/* Checks token without acting: CU_OK; CU_ERR_NOT_FOUND for anything malformed, forged or
 * altered, whichever part (P-ISO-1); CU_ERR_CONFLICT with out->expired once the policy
 * version it names is no longer in force. */
cu_rc cu_unsubscribe_peek(cu_vault *v, const char *token, cu_unsubscribe_info *out, cu_err *err);
/* Checks token as cu_unsubscribe_peek, then records in the ledger, with source
 * "unsubscribe", a withdrawal (consent purpose) or an objection (legitimate interest) to
 * exactly that purpose (cu_consent_record). */
cu_rc cu_unsubscribe(cu_vault *v, const cu_ctx *ctx, const char *token, cu_unsubscribe_info *out,
                     cu_err *err);

#endif
