/*
 * sso_fetch.h: the server's transport for the core's OpenID Connect client (custos_sso.h,
 * docs/sso.md): libcurl, https only, TLS verified.
 */
#ifndef CU_HTTP_SSO_FETCH_H
#define CU_HTTP_SSO_FETCH_H

#include "custos_sso.h"

/* A cu_sso_fetch_fn; arg is unused (NULL). */
cu_rc http_sso_fetch(void *arg, const char *url, const char *form, const char *user,
                     const char *pass, char **body, long *status, cu_err *err);

#endif
