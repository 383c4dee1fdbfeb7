/*
 * err.c: error values. The names are stable API codes (HTTP bodies, CLI output, docs).
 */
#include <stdio.h>

#include "util.h"

static const char *const rc_names[CU_ERR__COUNT] = {
    [CU_OK] = "ok",
    [CU_ERR_NOMEM] = "out_of_memory",
    [CU_ERR_INVALID] = "invalid",
    [CU_ERR_NOT_FOUND] = "not_found",
    [CU_ERR_EXISTS] = "already_exists",
    [CU_ERR_FORBIDDEN_FIELD] = "forbidden_field",
    [CU_ERR_CRYPTO] = "integrity",
    [CU_ERR_KEY] = "key_unavailable",
    [CU_ERR_IO] = "io",
    [CU_ERR_STORE] = "store",
    [CU_ERR_UNSUPPORTED] = "unsupported",
    [CU_ERR_CONFLICT] = "conflict",
    [CU_ERR_PERM] = "insecure_permissions",
    [CU_ERR_LIMIT] = "too_large",
    [CU_ERR_AUTH] = "unauthenticated",
    [CU_ERR_FORBIDDEN] = "forbidden",
    [CU_ERR_RATE_LIMITED] = "rate_limited",
    [CU_ERR_MFA_REQUIRED] = "mfa_required",
    [CU_ERR_UNAVAILABLE] = "unavailable",
    [CU_ERR_UNKNOWN_PURPOSE] = "unknown_purpose",
    [CU_ERR_PURPOSE_DENIED] = "purpose_not_allowed",
    [CU_ERR_CONSENT_REQUIRED] = "consent_required",
    [CU_ERR_OBJECTED] = "objected",
    [CU_ERR_RESTRICTED] = "restricted",
    [CU_ERR_OPTED_OUT] = "opted_out",
    [CU_ERR_UNDER_AGE] = "under_age",
    [CU_ERR_LEGAL_HOLD] = "legal_hold",
    [CU_ERR_TERMINATED] = "tenant_terminated",
    [CU_ERR_NOT_LISTED] = "recipient_not_listed",
};

const char *cu_rc_name(cu_rc rc)
{
    if ((unsigned)rc >= CU_ERR__COUNT || rc_names[rc] == NULL)
        return "internal";
    return rc_names[rc];
}

cu_rc cu_err_set(cu_err *err, cu_rc code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}
