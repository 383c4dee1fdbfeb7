/*
 * webdriver.c: the W3C WebDriver client of webdriver.h, over chromedriver's HTTP protocol.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "th.h"
#include "webdriver.h"

#define CHROMIUM "/usr/bin/chromium"
#define CHROMEDRIVER "/usr/bin/chromedriver"
#define ELEMENT_KEY "element-6066-11e4-a52e-4f735466cecf"

int wd_available(void)
{
    return access(CHROMIUM, X_OK) == 0 && access(CHROMEDRIVER, X_OK) == 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A loopback port free a moment ago. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

typedef struct sink {
    char *p;
    size_t n;
} sink;

static size_t on_body(char *b, size_t sz, size_t n, void *arg)
{
    sink *s = arg;
    char *p = realloc(s->p, s->n + sz * n + 1);

    if (p == NULL)
        return 0;
    memcpy(p + s->n, b, sz * n);
    s->p = p;
    s->n += sz * n;
    p[s->n] = '\0';
    return sz * n;
}

/* One call: method on base + path with a JSON body (or none); the answer's "value", owned by
 * the caller. With must, an error answer fails the test; without, it returns NULL. */
static cJSON *call(const wd *w, const char *method, const char *path, const char *body, int must)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char url[512];
    sink s = {NULL, 0};
    long status = 0;
    cJSON *o, *v = NULL;
    CURLcode rc;

    assert_non_null(c);
    snprintf(url, sizeof(url), "%s%s", w->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        if (must)
            fail_msg("webdriver %s %s: curl %d, HTTP %ld: %.400s", method, path, (int)rc, status,
                     s.p ? s.p : "");
        free(s.p);
        return NULL;
    }
    o = cJSON_Parse(s.p ? s.p : "");
    free(s.p);
    if (o != NULL)
        v = cJSON_DetachItemFromObjectCaseSensitive(o, "value");
    cJSON_Delete(o);
    if (v == NULL)
        v = cJSON_CreateNull();
    return v;
}

/* Sends o (consumed) as the body of a session call. */
static cJSON *scall(const wd *w, const char *method, const char *sub, cJSON *o)
{
    char path[256], *body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON *v;

    snprintf(path, sizeof(path), "/session/%s%s", w->session, sub);
    v = call(w, method, path, body ? body : (strcmp(method, "POST") == 0 ? "{}" : NULL), 1);
    free(body);
    cJSON_Delete(o);
    return v;
}

static void spawn(wd *w, int port)
{
    char arg[32];
    int fd;

    snprintf(arg, sizeof(arg), "--port=%d", port);
    w->pid = fork();
    assert_true(w->pid >= 0);
    if (w->pid == 0) {
        fd = open(w->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(CHROMEDRIVER, CHROMEDRIVER, arg, "--allowed-ips=127.0.0.1", (char *)NULL);
        _exit(127);
    }
}

static cJSON *capabilities(int width, int height)
{
    cJSON *o = cJSON_CreateObject(), *caps = cJSON_AddObjectToObject(o, "capabilities");
    cJSON *m = cJSON_AddObjectToObject(caps, "alwaysMatch");
    cJSON *ch = cJSON_CreateObject(), *args = cJSON_AddArrayToObject(ch, "args");
    cJSON *logs = cJSON_CreateObject();
    char size[48];

    cJSON_AddStringToObject(m, "browserName", "chrome");
    /* The test server's certificate is self-signed. */
    cJSON_AddBoolToObject(m, "acceptInsecureCerts", 1);
    cJSON_AddStringToObject(ch, "binary", CHROMIUM);
    snprintf(size, sizeof(size), "--window-size=%d,%d", width, height);
    cJSON_AddItemToArray(args, cJSON_CreateString("--headless=new"));
    /* Tests may run as root, where Chromium's sandbox will not start. */
    cJSON_AddItemToArray(args, cJSON_CreateString("--no-sandbox"));
    cJSON_AddItemToArray(args, cJSON_CreateString("--disable-gpu"));
    cJSON_AddItemToArray(args, cJSON_CreateString("--disable-dev-shm-usage"));
    cJSON_AddItemToArray(args, cJSON_CreateString("--no-first-run"));
    cJSON_AddItemToArray(args, cJSON_CreateString(size));
    cJSON_AddItemToObject(m, "goog:chromeOptions", ch);
    cJSON_AddStringToObject(logs, "browser", "ALL");
    cJSON_AddItemToObject(m, "goog:loggingPrefs", logs);
    return o;
}

void wd_start(wd *w, int width, int height)
{
    int port = free_port(), ready = 0;
    char *body;
    cJSON *v;

    memset(w, 0, sizeof(*w));
    snprintf(w->log, sizeof(w->log), "/tmp/custos-chromedriver-%d.log", (int)getpid());
    snprintf(w->base, sizeof(w->base), "http://127.0.0.1:%d", port);
    spawn(w, port);
    for (int i = 0; i < 300 && !ready; i++) {
        cJSON *st = call(w, "GET", "/status", NULL, 0);
        ready = st != NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(st, "ready"));
        cJSON_Delete(st);
        if (!ready)
            sleep_ms(100);
    }
    if (!ready)
        fail_msg("chromedriver did not come up within 30 s (log: %s)", w->log);
    v = capabilities(width, height);
    body = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    v = call(w, "POST", "/session", body, 1);
    free(body);
    snprintf(w->session, sizeof(w->session), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "sessionId")));
    cJSON_Delete(v);
    assert_true(w->session[0] != '\0');
}

void wd_stop(wd *w)
{
    int status;

    if (w->session[0] != '\0')
        cJSON_Delete(scall(w, "DELETE", "", NULL));
    w->session[0] = '\0';
    if (w->pid > 0) {
        kill(w->pid, SIGTERM);
        waitpid(w->pid, &status, 0);
        w->pid = 0;
    }
    unlink(w->log);
}

/* One Chrome DevTools command through chromedriver (not W3C: its own endpoint, as Selenium's
 * execute_cdp_cmd uses it); the answer's value, owned by the caller. */
static cJSON *cdp(wd *w, const char *cmd, cJSON *params)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "cmd", cmd);
    cJSON_AddItemToObject(o, "params", params ? params : cJSON_CreateObject());
    return scall(w, "POST", "/goog/cdp/execute", o);
}

void wd_forget_origin(wd *w, const char *origin)
{
    cJSON *p = cJSON_CreateObject();

    cJSON_AddStringToObject(p, "origin", origin);
    cJSON_AddStringToObject(p, "storageTypes", "all");
    cJSON_Delete(cdp(w, "Storage.clearDataForOrigin", p));
}

void wd_fresh(wd *w, int width, int height)
{
    cJSON *o = cJSON_CreateObject(), *v;
    char handle[128];

    /* A new tab (an empty sessionStorage: it is kept per tab), the old one closed. */
    cJSON_AddStringToObject(o, "type", "tab");
    v = scall(w, "POST", "/window/new", o);
    assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "handle")));
    snprintf(handle, sizeof(handle), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "handle")));
    cJSON_Delete(v);
    cJSON_Delete(scall(w, "DELETE", "/window", NULL));
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "handle", handle);
    cJSON_Delete(scall(w, "POST", "/window", o));
    /* Every cookie of every origin (W3C's Delete All Cookies reaches the current page's
     * alone), and none left. */
    cJSON_Delete(cdp(w, "Network.clearBrowserCookies", NULL));
    v = cdp(w, "Storage.getCookies", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(v, "cookies")), 0);
    cJSON_Delete(v);
    wd_get(w, "about:blank");
    wd_window(w, width, height);
    /* What the last group left in the console is not the next one's. */
    cJSON_Delete(wd_console(w));
}

void wd_get(wd *w, const char *url)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "url", url);
    cJSON_Delete(scall(w, "POST", "/url", o));
}

void wd_window(wd *w, int width, int height)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "width", width);
    cJSON_AddNumberToObject(o, "height", height);
    cJSON_Delete(scall(w, "POST", "/window/rect", o));
}

static void element_ref(const cJSON *v, char eid[WD_EID])
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, ELEMENT_KEY));

    assert_non_null(s);
    snprintf(eid, WD_EID, "%s", s);
}

int wd_find(wd *w, const char *css, char eid[WD_EID])
{
    char path[256], *body;
    cJSON *o = cJSON_CreateObject(), *v;

    cJSON_AddStringToObject(o, "using", "css selector");
    cJSON_AddStringToObject(o, "value", css);
    body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    snprintf(path, sizeof(path), "/session/%s/element", w->session);
    v = call(w, "POST", path, body, 0); /* no such element: an error answer */
    free(body);
    if (v == NULL)
        return -1;
    element_ref(v, eid);
    cJSON_Delete(v);
    return 0;
}

void wd_active(wd *w, char eid[WD_EID])
{
    cJSON *v = scall(w, "GET", "/element/active", NULL);

    element_ref(v, eid);
    cJSON_Delete(v);
}

void wd_click(wd *w, const char *eid)
{
    char sub[160];

    snprintf(sub, sizeof(sub), "/element/%s/click", eid);
    cJSON_Delete(scall(w, "POST", sub, NULL));
}

void wd_clear(wd *w, const char *eid)
{
    char sub[160];

    snprintf(sub, sizeof(sub), "/element/%s/clear", eid);
    cJSON_Delete(scall(w, "POST", sub, NULL));
}

void wd_keys(wd *w, const char *eid, const char *text)
{
    char sub[160];
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "text", text);
    snprintf(sub, sizeof(sub), "/element/%s/value", eid);
    cJSON_Delete(scall(w, "POST", sub, o));
}

/* The length of the UTF-8 sequence starting with byte c. */
static size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

void wd_type(wd *w, const char *text)
{
    cJSON *o = cJSON_CreateObject(), *all = cJSON_AddArrayToObject(o, "actions");
    cJSON *kb = cJSON_CreateObject(), *acts;
    char key[8];

    cJSON_AddStringToObject(kb, "type", "key");
    cJSON_AddStringToObject(kb, "id", "keyboard");
    acts = cJSON_AddArrayToObject(kb, "actions");
    cJSON_AddItemToArray(all, kb);
    for (size_t i = 0, n; text[i] != '\0'; i += n) {
        n = utf8_len((unsigned char)text[i]);
        assert_true(n < sizeof(key) && strnlen(text + i, n) == n);
        memcpy(key, text + i, n);
        key[n] = '\0';
        for (int up = 0; up < 2; up++) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "type", up ? "keyUp" : "keyDown");
            cJSON_AddStringToObject(a, "value", key);
            cJSON_AddItemToArray(acts, a);
        }
    }
    cJSON_Delete(scall(w, "POST", "/actions", o));
}

static char *string_of(cJSON *v)
{
    char *s = strdup(cJSON_IsString(v) ? v->valuestring : "");

    cJSON_Delete(v);
    assert_non_null(s);
    return s;
}

char *wd_text(wd *w, const char *eid)
{
    char sub[160];

    snprintf(sub, sizeof(sub), "/element/%s/text", eid);
    return string_of(scall(w, "GET", sub, NULL));
}

char *wd_attr(wd *w, const char *eid, const char *name)
{
    char sub[256];

    snprintf(sub, sizeof(sub), "/element/%s/property/%s", eid, name);
    return string_of(scall(w, "GET", sub, NULL));
}

cJSON *wd_exec(wd *w, const char *script)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "script", script);
    cJSON_AddArrayToObject(o, "args");
    return scall(w, "POST", "/execute/sync", o);
}

cJSON *wd_exec_async(wd *w, const char *script)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "script", script);
    cJSON_AddArrayToObject(o, "args");
    return scall(w, "POST", "/execute/async", o);
}

void wd_screenshot(wd *w, const char *path)
{
    cJSON *v = scall(w, "GET", "/screenshot", NULL);
    const char *b64 = cJSON_GetStringValue(v);
    size_t cap, len = 0;
    unsigned char *png;
    FILE *f;

    assert_non_null(b64);
    cap = strlen(b64) / 4 * 3 + 3;
    png = malloc(cap);
    assert_non_null(png);
    assert_int_equal(sodium_base642bin(png, cap, b64, strlen(b64), "\n", &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(fwrite(png, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(png);
    cJSON_Delete(v);
}

cJSON *wd_console(wd *w)
{
    cJSON *o = cJSON_CreateObject();

    /* Not in the W3C protocol: chromedriver's own endpoint, as Selenium uses it. */
    cJSON_AddStringToObject(o, "type", "browser");
    return scall(w, "POST", "/se/log", o);
}

void wd_poll_begin(wd_poll *p, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    p->ms = ms;
    p->polls = 0;
}

int wd_poll_again(wd_poll *p)
{
    struct timespec now;
    long spent;

    clock_gettime(CLOCK_MONOTONIC, &now);
    spent = (long)(now.tv_sec - p->t0.tv_sec) * 1000 + (now.tv_nsec - p->t0.tv_nsec) / 1000000;
    if (spent >= p->ms && p->polls >= p->ms / 50)
        return 0;
    p->polls++;
    sleep_ms(20);
    return 1;
}

int wd_wait_visible(wd *w, const char *css, int ms)
{
    char eid[WD_EID], sub[160];
    wd_poll p;

    wd_poll_begin(&p, ms);
    do {
        if (wd_find(w, css, eid) == 0) {
            cJSON *v;
            snprintf(sub, sizeof(sub), "/element/%s/displayed", eid);
            v = scall(w, "GET", sub, NULL);
            int shown = cJSON_IsTrue(v);
            cJSON_Delete(v);
            if (shown)
                return 0;
        }
    } while (wd_poll_again(&p));
    return -1;
}
