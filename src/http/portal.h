/*
 * portal.h: the browser pages (portal/), embedded at build time by scripts/embed_assets.sh into
 * build/gen/portal_assets.c, and served under /portal/ by portal.c (docs/portal.md).
 */
#ifndef CU_PORTAL_H
#define CU_PORTAL_H

#include <stddef.h>

typedef struct portal_asset {
    const char *name; /* the file's name in portal/, e.g. "console.js" */
    const unsigned char *data;
    size_t len;
    const char *type; /* Content-Type */
    const char *etag; /* quoted, from the file's SHA-256 */
} portal_asset;

extern const portal_asset portal_assets[];
extern const size_t portal_nassets;

/* The headers every answer of the server carries, pages or not (docs/portal.md): nothing runs
 * or loads but the server's own files, no framing, no referrer leaves. */
#define PORTAL_CSP                                                                             \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
#define PORTAL_REFERRER "no-referrer"

#endif
