/*
 * cli_progress.c: progress of long CLI work on stderr (key rotate, sweep, audit verify,
 * backup create|verify|restore, the exports). On a terminal, a bar redrawn in place with the
 * rate and the time left; otherwise a plain line every CUSTOS_PROGRESS_INTERVAL seconds (5 by
 * default; 0: at every step), and a closing line if any was written, so a quick job on a pipe
 * writes nothing (tests and scripts read stderr for errors); --quiet, nothing at all. Fed by
 * the core's hooks (cu_backup_progress_fn, cu_progress_set): the core knows no terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define BAR_WIDTH 24
#define BAR_EVERY 0.1 /* seconds between redraws of the bar */

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_progress_init(cli_progress *p, const char *what, int quiet, int bytes)
{
    const char *env = getenv("CUSTOS_PROGRESS_INTERVAL");
    char *end;

    memset(p, 0, sizeof(*p));
    p->what = what;
    p->bytes = bytes;
    p->mode = quiet                   ? CLI_PROGRESS_OFF
              : isatty(STDERR_FILENO) ? CLI_PROGRESS_BAR
                                      : CLI_PROGRESS_LINES;
    p->every = p->mode == CLI_PROGRESS_BAR ? BAR_EVERY : 5;
    if (p->mode == CLI_PROGRESS_LINES && env != NULL && *env != '\0') {
        double d = strtod(env, &end);
        if (*end == '\0' && d >= 0 && d <= 86400)
            p->every = d;
    }
    p->start = mono_s();
    p->shown = p->start;
}

/* "12.3 MB" or "1234". */
static void amount(char *buf, size_t len, int bytes, double n)
{
    if (bytes)
        snprintf(buf, len, "%.1f MB", n / 1e6);
    else
        snprintf(buf, len, "%.0f", n);
}

static void clock_text(char *buf, size_t len, double s)
{
    unsigned long t = (unsigned long)(s + 0.5);

    if (t >= 3600)
        snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
}

static void draw(cli_progress *p, double now, int last)
{
    double secs = now - p->start, rate = secs > 0 ? (double)p->done / secs : 0;
    char done[32], total[32], rtext[40], left[32] = "";

    amount(done, sizeof(done), p->bytes, (double)p->done);
    amount(total, sizeof(total), p->bytes, (double)p->total);
    amount(rtext, sizeof(rtext) - 3, p->bytes, rate);
    strcat(rtext, "/s");
    if (p->total > 0 && rate > 0 && !last)
        clock_text(left, sizeof(left), (double)(p->total - p->done) / rate);
    if (p->mode == CLI_PROGRESS_BAR) {
        char bar[BAR_WIDTH + 1];
        int pct = p->total ? (int)(p->done * 100 / p->total) : 0;
        size_t fill = p->total ? (size_t)(p->done * BAR_WIDTH / p->total) : 0;
        memset(bar, '#', fill);
        memset(bar + fill, '-', BAR_WIDTH - fill);
        bar[BAR_WIDTH] = '\0';
        if (p->total > 0)
            fprintf(stderr, "\r%s [%s] %3d%% %s of %s, %s%s%s\033[K", p->what, bar, pct, done,
                    total, rtext, *left ? ", ETA " : "", left);
        else
            fprintf(stderr, "\r%s %s, %s\033[K", p->what, done, rtext);
        if (last)
            fputc('\n', stderr);
    } else if (last) {
        clock_text(left, sizeof(left), secs);
        fprintf(stderr, "custos: %s: done, %s in %s (%s)\n", p->what, done, left, rtext);
    } else if (p->total > 0) {
        fprintf(stderr, "custos: %s: %d%% (%s of %s, %s, %s left)\n", p->what,
                (int)(p->done * 100 / p->total), done, total, rtext, *left ? left : "?");
    } else {
        fprintf(stderr, "custos: %s: %s (%s)\n", p->what, done, rtext);
    }
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_show(cli_progress *p, uint64_t done, uint64_t total)
{
    double now;

    p->done = done;
    p->total = total;
    if (p->mode == CLI_PROGRESS_OFF)
        return;
    /* The bar shows at once; a plain line only once the work has lasted an interval. */
    now = mono_s();
    if (now - p->shown < p->every && !(p->mode == CLI_PROGRESS_BAR && !p->drawn))
        return;
    p->shown = now;
    draw(p, now, 0);
}

void cli_progress_done(cli_progress *p)
{
    cu_progress_set(NULL, NULL);
    /* The bar is finished whenever it was drawn; plain lines close only what they opened. */
    if (p->mode != CLI_PROGRESS_OFF && p->drawn)
        draw(p, mono_s(), 1);
}

void cli_progress_bytes(void *arg, uint64_t done, uint64_t total)
{
    cli_progress_show(arg, done, total);
}

static void core_hook(void *arg, const char *what, uint64_t done, uint64_t total)
{
    cli_progress *p = arg;

    if (p->what == NULL || strcmp(p->what, what) != 0) {
        /* A new piece of work (a data key rotation's re-encryption after the rotation): its
         * own line, its own clock. */
        if (p->drawn && p->mode != CLI_PROGRESS_OFF)
            draw(p, mono_s(), 1);
        p->what = what;
        p->drawn = 0;
        p->start = p->shown = mono_s();
    }
    cli_progress_show(p, done, total);
}

void cli_progress_hook(cli_progress *p)
{
    cu_progress_set(core_hook, p);
}
