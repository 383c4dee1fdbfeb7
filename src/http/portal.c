/*
 * portal.c: serves the embedded browser pages under /portal/ (docs/portal.md).
 *
 * The pages are static files: every value they show comes from the JSON API, fetched with the
 * session cookie and put in the DOM as text. So this file only maps a name to its bytes, its
 * Content-Type and ETag; the security headers (CSP, Referrer-Policy, nosniff) go on every
 * answer of the server in server.c. No credential is needed: the files hold no data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "http_int.h"
#include "portal.h"

int http_portal_path(const char *path)
{
    return strcmp(path, "/portal") == 0 || strncmp(path, "/portal/", 8) == 0;
}

static const portal_asset *find(const char *name)
{
    for (size_t i = 0; i < portal_nassets; i++)
        if (strcmp(portal_assets[i].name, name) == 0)
            return &portal_assets[i];
    return NULL;
}

/* 1 if the If-None-Match header names etag (a list, or "*"). */
static int not_modified(const http_req *r, const char *etag)
{
    const char *inm = http_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH);

    return inm != NULL && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

void http_portal(http_req *r)
{
    const char *name = r->path[7] == '\0' || r->path[8] == '\0' ? "index.html" : r->path + 8;
    const portal_asset *a;

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        snprintf(r->allow, sizeof(r->allow), "GET, HEAD");
        http_error(r, 405, "method_not_allowed", "the portal's files are read with GET");
        return;
    }
    /* A name holds no slash: there are no folders, and no way out of the table. */
    if (strchr(name, '/') != NULL || (a = find(name)) == NULL) {
        http_error(r, 404, "not_found", "no such page");
        return;
    }
    if (r->body_len > 0) {
        http_error(r, 400, "body_not_allowed", "this operation takes no body");
        return;
    }
    snprintf(r->etag, sizeof(r->etag), "%s", a->etag);
    r->cache_control = "no-cache"; /* revalidated: a new build's files are seen at once */
    if (not_modified(r, a->etag)) {
        free(r->resp);
        r->resp = strdup("");
        r->resp_len = 0;
        r->status = 304;
        r->content_type = a->type;
        return;
    }
    free(r->resp);
    if ((r->resp = malloc(a->len + 1)) == NULL) {
        http_error(r, 503, "out_of_memory", "out of memory");
        return;
    }
    memcpy(r->resp, a->data, a->len + 1);
    r->resp_len = a->len;
    r->status = 200;
    r->content_type = a->type;
}
