/*
 * cli_out.c: where an export goes from the command line (`tenant export`, `request export`):
 * standard output, or a file written beside its name (NAME.partial, made here 0600 with
 * O_EXCL|O_NOFOLLOW, so neither an existing file nor a planted link) and renamed only once
 * whole, so a failed export leaves none. Its progress in MB (cli_progress.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_out_open(cli_out *o, const char *cmd, const char *path, int quiet)
{
    *o = (cli_out){.fd = STDOUT_FILENO, .path = path};
    cli_progress_init(&o->progress, "export", quiet, 1);
    if (path == NULL)
        return 0;
    if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.partial", path) >= sizeof(o->tmp))
        return cli_usage(cmd, "--out names too long a path");
    if ((o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "custos: could not create \"%s\": %s%s\n", o->tmp, strerror(errno),
                errno == EEXIST ? " (left by an export that did not finish: remove it)" : "");
        return 6;
    }
    return 0;
}

int cli_out_write(void *arg, const char *data, size_t n)
{
    cli_out *o = arg;

    while (n > 0) {
        ssize_t w = write(o->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
        o->bytes += (size_t)w;
    }
    cli_progress_show(&o->progress, o->bytes, 0);
    return 0;
}

int cli_out_close(cli_out *o, int rc)
{
    cli_progress_done(&o->progress);
    if (o->path == NULL)
        return rc;
    if (rc == 0 && (fsync(o->fd) != 0 || rename(o->tmp, o->path) != 0)) {
        fprintf(stderr, "custos: could not write \"%s\": %s\n", o->path, strerror(errno));
        rc = 6;
    }
    close(o->fd);
    if (rc != 0)
        unlink(o->tmp);
    return rc;
}
