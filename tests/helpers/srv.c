/*
 * srv.c: start, call and stop the real server (see srv.h).
 */
#define _GNU_SOURCE /* strcasestr, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "srv.h"
#include "th.h"
#include "th_pg.h"

static const char *binary(void)
{
    const char *b = getenv("CUSTOS");

    return b && *b ? b : "build/test/custos";
}

/* The environment of the server: ours, with each "NAME=value" of env in place of NAME. Built
 * before fork, so the child only calls execve. Caller frees the array (not the strings). */
static char **server_env(const char *const *env)
{
    size_t n = 0, k = 0, extra = 0;
    char **out;

    while (environ[n])
        n++;
    while (env && env[extra])
        extra++;
    out = calloc(n + extra + 1, sizeof(*out));
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < extra; j++) {
            size_t len = strcspn(env[j], "=");
            replaced |= strncmp(environ[i], env[j], len + 1) == 0;
        }
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < extra; j++)
        memcpy(&out[k++], &env[j], sizeof(char *)); /* execve wants char *const[] */
    out[k] = NULL;
    return out;
}

/* Runs `custos serve` on s->data, its stderr appended to s->log, and waits for its URL. */
static void launch(srv *s, const char *const *extra, const char *const *env)
{
    const char *argv[32];
    char line[1024], **envp = server_env(env);
    int fds[2], n = 0, logfd;
    pid_t parent;
    time_t deadline = time(NULL) + 30;
    FILE *in;

    s->base[0] = '\0';
    argv[n++] = binary();
    argv[n++] = "serve";
    argv[n++] = "--data";
    argv[n++] = s->data;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--threads";
    argv[n++] = "2";
    if (th_pg_mode() && s->store[0] == '\0')
        snprintf(s->store, sizeof(s->store), "%s", th_store_new(s->data));
    if (s->store[0] != '\0') {
        argv[n++] = "--store";
        argv[n++] = s->store;
    }
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(logfd >= 0);
    parent = getpid();
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        char *args[32];
        /* A test that fails before srv_stop leaves no server behind: it ends with the test
         * process. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        /* execv wants char *const[]; copying drops the const without a cast. */
        memcpy(args, argv, sizeof(args));
        dup2(fds[1], STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execve(args[0], args, envp);
        _exit(127);
    }
    free(envp);
    close(fds[1]);
    close(logfd);
    in = fdopen(fds[0], "r");
    assert_non_null(in);
    while (time(NULL) < deadline && fgets(line, sizeof(line), in) != NULL) {
        char *p;
        if ((p = strstr(line, "operator API key (shown once, keep it safe): ")) != NULL)
            sscanf(p + strlen("operator API key (shown once, keep it safe): "), "%127s",
                   s->operator_key);
        if ((p = strstr(line, "listening on ")) != NULL) {
            sscanf(p + strlen("listening on "), "%63s", s->base);
            break;
        }
    }
    /* The server prints two more lines at most (on stop); a closed pipe is fine for it. */
    fclose(in);
    if (s->base[0] == '\0') {
        int st;
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
        s->pid = 0;
        fail_msg("custos serve did not start; see %s", s->log);
    }
}

void srv_start(srv *s, const char *const *extra)
{
    srv_start_env(s, extra, NULL);
}

void srv_start_env(srv *s, const char *const *extra, const char *const *env)
{
    memset(s, 0, sizeof(*s));
    th_tmpdir(s->dir);
    snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
    snprintf(s->ca, sizeof(s->ca), "%s/tls-cert.pem", s->data);
    snprintf(s->log, sizeof(s->log), "%s/stderr.log", s->dir);
    launch(s, extra, env);
}

void srv_restart(srv *s, const char *const *extra, const char *const *env)
{
    assert_int_equal(s->pid, 0);
    launch(s, extra, env);
}

int srv_stop(srv *s, int rm)
{
    int st = 0;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 3000; i++) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid)
            break;
        if (i == 2999) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
        }
        usleep(10000);
    }
    s->pid = 0;
    /* A server that did not stop cleanly says why in its log: show it before it goes. */
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        FILE *log = fopen(s->log, "r");
        char line[512];
        fprintf(stderr, "custos serve ended with %d; its stderr:\n",
                WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        while (log != NULL && fgets(line, sizeof(line), log) != NULL)
            fputs(line, stderr);
        if (log != NULL)
            fclose(log);
    }
    if (rm)
        th_rmrf(s->dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_body(char *d, size_t sz, size_t nm, void *u)
{
    sink *s = u;
    size_t n = sz * nm;
    char *np = realloc(s->p, s->n + n + 1);

    if (np == NULL)
        return 0;
    s->p = np;
    memcpy(s->p + s->n, d, n);
    s->n += n;
    s->p[s->n] = '\0';
    return n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);

    if (n > nl + 1 && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
        const char *v = line + nl + 1;
        size_t len = n - nl - 1;
        while (len && (*v == ' '))
            v++, len--;
        while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
            len--;
        if (len >= cap)
            len = cap - 1;
        memcpy(out, v, len);
        out[len] = '\0';
    }
}

static size_t on_header(char *d, size_t sz, size_t nm, void *u)
{
    srv_resp *r = u;
    size_t n = sz * nm;

    header_value(d, n, "X-Request-Id", r->request_id, sizeof(r->request_id));
    header_value(d, n, "Strict-Transport-Security", r->hsts, sizeof(r->hsts));
    header_value(d, n, "Set-Cookie", r->set_cookie, sizeof(r->set_cookie));
    header_value(d, n, "Content-Type", r->content_type, sizeof(r->content_type));
    header_value(d, n, "Allow", r->allow, sizeof(r->allow));
    header_value(d, n, "Retry-After", r->retry_after, sizeof(r->retry_after));
    if (n > 11 && strncasecmp(d, "Set-Cookie:", 11) == 0)
        r->set_cookies++;
    return n;
}

CURL *srv_curl(const srv *s, const char *path)
{
    CURL *c = curl_easy_init();
    char url[1024];

    assert_non_null(c);
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, s->ca);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

int srv_call_h(const srv *s, const char *method, const char *path, const char *const *headers,
               const char *body, size_t body_len, srv_resp *out)
{
    CURL *c = srv_curl(s, path);
    struct curl_slist *h = NULL;
    sink b = {NULL, 0};
    CURLcode rc;

    memset(out, 0, sizeof(*out));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = b.p ? b.p : strdup("");
    out->len = b.n;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return (int)rc;
}

int srv_call(const srv *s, const char *method, const char *path, const char *auth,
             const char *purpose, const char *body, srv_resp *out)
{
    char ah[256], ph[128], oh[96];
    const char *hs[6];
    int n = 0;

    if (auth != NULL && strncmp(auth, "__Host-custos_sso=", 18) == 0) {
        /* A single sign-on login's browser binding (docs/sso.md): a cookie, no Origin. */
        snprintf(ah, sizeof(ah), "Cookie: %s", auth);
    } else if (auth != NULL && (strncmp(auth, "custos_session=", 15) == 0 ||
                                strncmp(auth, "custos_portal=", 14) == 0)) {
        /* As a browser on the server's own page sends it (a cookie's state change needs it). */
        snprintf(ah, sizeof(ah), "Cookie: %s", auth);
        snprintf(oh, sizeof(oh), "Origin: %s", s->base);
        hs[n++] = oh;
    } else if (auth != NULL) {
        snprintf(ah, sizeof(ah), "Authorization: Bearer %s", auth);
    } else {
        /* No credential: the server's own page (the portal's session exchange checks it). */
        snprintf(oh, sizeof(oh), "Origin: %s", s->base);
        hs[n++] = oh;
    }
    if (auth != NULL)
        hs[n++] = ah;
    if (purpose != NULL) {
        snprintf(ph, sizeof(ph), "Custos-Purpose: %s", purpose);
        hs[n++] = ph;
    }
    if (body != NULL)
        hs[n++] = "Content-Type: application/json";
    hs[n] = NULL;
    return srv_call_h(s, method, path, hs, body, body ? strlen(body) : 0, out);
}

void srv_resp_free(srv_resp *r)
{
    free(r->body);
    r->body = NULL;
}

int srv_json_str(const char *json, const char *name, char *out, size_t cap)
{
    char pat[128];
    const char *p, *e;

    snprintf(pat, sizeof(pat), "\"%s\":\"", name);
    if (json == NULL || (p = strstr(json, pat)) == NULL)
        return -1;
    p += strlen(pat);
    e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

int srv_err(const char *body, char code[64], char msg[256])
{
    cJSON *o = cJSON_Parse(body ? body : "");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    int rc = -1;

    if (cJSON_IsObject(o) && cJSON_GetArraySize(o) == 1 && cJSON_IsObject(e) &&
        cJSON_GetArraySize(e) == 2 && cJSON_IsString(c) && cJSON_IsString(m) &&
        m->valuestring[0] != '\0') {
        if (code != NULL)
            snprintf(code, 64, "%s", c->valuestring);
        if (msg != NULL)
            snprintf(msg, 256, "%s", m->valuestring);
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

void srv_assert_err(const srv_resp *r, long status, const char *code)
{
    char got[64];

    if (r->status != status || srv_err(r->body, got, NULL) != 0 || strcmp(got, code) != 0)
        fail_msg("expected %ld %s, got %ld %s", status, code, r->status, r->body);
    assert_int_equal(strlen(r->request_id), 32);
}

int srv_log_wait(const srv *s, const char *needle, int ms)
{
    for (int i = 0; i <= ms / 10; i++) {
        if (th_file_contains(s->log, needle, strlen(needle)))
            return 1;
        usleep(10000);
    }
    return 0;
}

void srv_tenant_user(const srv *s, const char *name, const char *policy, const char *email,
                     const char *password, const char *role, char id[SRV_ID], char key[128])
{
    char path[128], body[320];
    srv_resp r;

    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"policy\":\"%s\"}", name, policy);
    assert_int_equal(srv_call(s, "POST", "/v1/tenants", s->operator_key, NULL, body, &r), 0);
    if (r.status != 201)
        fail_msg("POST /v1/tenants: %ld %s", r.status, r.body);
    assert_int_equal(srv_json_str(r.body, "id", id, SRV_ID), 0);
    assert_int_equal(srv_json_str(r.body, "secret", key, 128), 0);
    srv_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"%s\"}",
             email, password, role);
    srv_call_ok(s, "POST", path, key, NULL, body, 201, NULL);
}

void srv_call_ok(const srv *s, const char *method, const char *path, const char *auth,
                 const char *purpose, const char *body, long want, char id[SRV_ID])
{
    srv_resp r;
    int rc = srv_call(s, method, path, auth, purpose, body, &r);

    if (rc != 0 || r.status != want)
        fail_msg("%s %s: expected %ld, got curl %d, %ld %s", method, path, want, rc, r.status,
                 r.body);
    if (id != NULL && srv_json_str(r.body, "id", id, SRV_ID) != 0)
        fail_msg("%s %s: no id in %s", method, path, r.body);
    srv_resp_free(&r);
}

/* Logs in as email and copies the session cookie ("custos_session=...") into cookie. */
static void login(const srv *s, const char *tenant, const char *email, const char *password,
                  char *cookie, size_t cap)
{
    char path[128], body[256];
    srv_resp r;

    snprintf(path, sizeof(path), "/v1/tenants/%s/login", tenant);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    assert_int_equal(srv_call(s, "POST", path, NULL, NULL, body, &r), 0);
    if (r.status != 200)
        fail_msg("login: %ld %s", r.status, r.body);
    assert_true(strcspn(r.set_cookie, ";") < cap);
    snprintf(cookie, cap, "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
    srv_resp_free(&r);
}

void srv_tenant_make(const srv *s, const char *name, srv_tenant *t)
{
    char path[256], body[512];
    srv_resp r;
    cJSON *o;

    memset(t, 0, sizeof(*t));
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    assert_int_equal(srv_call(s, "POST", "/v1/tenants", s->operator_key, NULL, body, &r), 0);
    if (r.status != 201)
        fail_msg("tenant create: %ld %s", r.status, r.body);
    o = cJSON_Parse(r.body);
    assert_non_null(o);
    snprintf(t->id, sizeof(t->id), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id")));
    snprintf(t->boot_key, sizeof(t->boot_key), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(o, "owner_api_key"), "secret")));
    cJSON_Delete(o);
    srv_resp_free(&r);
    assert_int_equal(strncmp(t->boot_key, "cuk_", 4), 0);

    snprintf(path, sizeof(path), "/v1/tenants/%s/api-keys", t->id);
    for (int role = CU_ROLE_OWNER; role <= CU_ROLE_AUDITOR; role++) {
        snprintf(body, sizeof(body), "{\"name\":\"%s-%s\",\"role\":\"%s\"}", name,
                 cu_role_name((cu_role)role), cu_role_name((cu_role)role));
        assert_int_equal(srv_call(s, "POST", path, t->boot_key, NULL, body, &r), 0);
        if (r.status != 201 || srv_json_str(r.body, "secret", t->key[role], 128) != 0 ||
            srv_json_str(r.body, "id", t->key_id[role], SRV_ID) != 0)
            fail_msg("key create: %ld %s", r.status, r.body);
        srv_resp_free(&r);
    }

    snprintf(t->subject_email, sizeof(t->subject_email), "subject.%s@example.org", name);
    snprintf(t->phone, sizeof(t->phone), "+4930%08u", (unsigned)(strlen(name) * 7919u + 1234567u));
    snprintf(path, sizeof(path), "/v1/tenants/%s/subjects", t->id);
    snprintf(body, sizeof(body),
             "{\"external_id\":\"ext-%s\",\"email\":\"%s\",\"phone\":\"%s\","
             "\"birth_date\":\"1980-02-03\"}",
             name, t->subject_email, t->phone);
    srv_call_ok(s, "POST", path, t->key[CU_ROLE_OWNER], "support", body, 201, t->subject);

    snprintf(t->collection, sizeof(t->collection), "notes");
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes", t->id);
    srv_call_ok(s, "PUT", path, t->key[CU_ROLE_OWNER], NULL,
                "{\"fields\":{\"note\":{\"class\":\"personal\",\"indexed\":true}}}", 200, NULL);
    snprintf(t->note, sizeof(t->note), "the note of %s", name);
    snprintf(path, sizeof(path), "/v1/tenants/%s/collections/notes/records", t->id);
    snprintf(body, sizeof(body), "{\"subject_id\":\"%s\",\"data\":{\"note\":\"%s\"}}", t->subject,
             t->note);
    srv_call_ok(s, "POST", path, t->key[CU_ROLE_OWNER], "support", body, 201, t->record);

    snprintf(t->email, sizeof(t->email), "owner.%s@example.org", name);
    snprintf(t->password, sizeof(t->password), "pw of %s, long enough", name);
    snprintf(path, sizeof(path), "/v1/tenants/%s/users", t->id);
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"password\":\"%s\",\"role\":\"owner\"}",
             t->email, t->password);
    srv_call_ok(s, "POST", path, t->key[CU_ROLE_OWNER], NULL, body, 201, t->user);
    login(s, t->id, t->email, t->password, t->session, sizeof(t->session));
}

srv_world *srv_world_new(const char *first, const char *second)
{
    srv_world *w = calloc(1, sizeof(*w));

    /* The world's tests log in many times from one address, wrong passwords included: the
     * login limits (P-ACC-6) are raised here, and the tests of them start their own server. */
    static const char *const env[] = {"CUSTOS_LOGIN_PER_SOURCE=1000000",
                                      "CUSTOS_LOGIN_PER_TENANT=1000000",
                                      "CUSTOS_LOGIN_FREE_FAILURES=1000000", NULL};

    assert_non_null(w);
    srv_start_env(&w->s, NULL, env);
    srv_tenant_make(&w->s, first, &w->a);
    if (second != NULL)
        srv_tenant_make(&w->s, second, &w->b);
    return w;
}

void srv_world_free(srv_world *w)
{
    if (w == NULL)
        return;
    assert_int_equal(srv_stop(&w->s, 1), 0);
    free(w);
}
