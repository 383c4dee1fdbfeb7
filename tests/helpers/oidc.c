/*
 * oidc.c: the SSO tests' real OpenID provider and browser (oidc.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "oidc.h"

void oidc_start(oidc *o, int port, const char *kid, const char *alg, int64_t now)
{
    char ports[16], ttl[16], nows[32], line[64] = "";
    int fd[2];

    snprintf(ports, sizeof(ports), "%d", port);
    snprintf(ttl, sizeof(ttl), "%d", OIDC_TTL);
    snprintf(nows, sizeof(nows), "%lld", (long long)now);
    assert_int_equal(pipe(fd), 0);
    o->pid = fork();
    assert_true(o->pid >= 0);
    if (o->pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execlp("node", "node", "tests/oidc/provider.js", ports, kid, alg, ttl, OIDC_REDIRECT_PREFIX,
               nows, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    o->out = fdopen(fd[0], "r");
    if (fgets(line, sizeof(line), o->out) == NULL || sscanf(line, "port %d", &o->port) != 1)
        fail_msg("the OpenID provider did not start: run `make deps` (npm ci in tests/oidc)");
    snprintf(o->issuer, sizeof(o->issuer), "http://127.0.0.1:%d", o->port);
}

void oidc_stop(oidc *o)
{
    if (o->pid > 0) {
        kill(o->pid, SIGTERM);
        waitpid(o->pid, NULL, 0);
        o->pid = 0;
    }
    if (o->out != NULL)
        fclose(o->out);
    o->out = NULL;
}

static size_t drop(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

void oidc_set_email(const oidc *o, const char *email)
{
    char url[160];
    CURL *c = curl_easy_init();
    long status = 0;

    snprintf(url, sizeof(url), "%s/_test/email?e=%s", o->issuer, email);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 200);
    curl_easy_cleanup(c);
}

/* Copies query parameter name of url into out. */
static void query_param(const char *url, const char *name, char *out, size_t cap)
{
    char key[64];
    const char *p;
    size_t n = 0;

    snprintf(key, sizeof(key), "%s=", name);
    p = strstr(url, key);
    assert_non_null(p);
    p += strlen(key);
    while (p[n] && p[n] != '&' && n + 1 < cap)
        n++;
    memcpy(out, p, n);
    out[n] = '\0';
}

void oidc_callback_of(const char *tenant, char out[128])
{
    snprintf(out, 128, OIDC_REDIRECT_PREFIX "%s/sso/callback", tenant);
}

void oidc_browse(const char *url, char code[OIDC_CODE_MAX], char state[OIDC_STATE_MAX])
{
    char path[2048];

    oidc_browse_callback(url, path);
    query_param(path, "code", code, OIDC_CODE_MAX);
    query_param(path, "state", state, OIDC_STATE_MAX);
}

void oidc_browse_callback(const char *url, char path[2048])
{
    CURL *c = curl_easy_init();
    char *next = strdup(url);

    curl_easy_setopt(c, CURLOPT_COOKIEFILE, ""); /* the provider's cookies, kept in memory */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop);
    for (int hop = 0; hop < 10; hop++) {
        char *loc = NULL;
        curl_easy_setopt(c, CURLOPT_URL, next);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        assert_non_null(loc);
        free(next);
        next = strdup(loc);
        if (strncmp(next, OIDC_REDIRECT_PREFIX, strlen(OIDC_REDIRECT_PREFIX)) == 0 &&
            strstr(next, "/sso/callback?") != NULL) {
            snprintf(path, 2048, "%s", next + strlen(OIDC_ORIGIN));
            free(next);
            curl_easy_cleanup(c);
            return;
        }
    }
    fail_msg("the provider never redirected to the callback");
}
