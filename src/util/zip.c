/*
 * zip.c: the streamed zip archive (zip.h) over libarchive's writer.
 *
 * libarchive's zip writer, given an entry without a size, sets bit 3 of the entry's flags and
 * writes the sizes and CRC in a data descriptor after its data (zip's "length at end"); its
 * output is unblocked (bytes per block 0), so every byte goes to the sink as it is made.
 */
#include <stdlib.h>

#include <archive.h>
#include <archive_entry.h>

#include "util.h"
#include "zip.h"

struct cu_zip {
    struct archive *a;
    cu_zip_sink sink;
    void *arg;
    int open_entry; /* an entry takes data */
    int finished;
    int discard; /* being freed unfinished: nothing more reaches the sink */
};

static la_ssize_t zip_out(struct archive *a, void *client, const void *buf, size_t n)
{
    cu_zip *z = client;

    (void)a;
    if (z->discard)
        return (la_ssize_t)n;
    return z->sink(z->arg, buf, n) == 0 ? (la_ssize_t)n : -1;
}

static cu_rc zip_fail(cu_zip *z, cu_err *err, const char *what)
{
    const char *why = archive_error_string(z->a);

    return cu_err_set(err, CU_ERR_IO, "could not %s: %s", what, why ? why : "archive error");
}

cu_rc cu_zip_open(cu_zip_sink sink, void *arg, cu_zip **out, cu_err *err)
{
    cu_zip *z = calloc(1, sizeof(*z));

    *out = NULL;
    if (z == NULL || (z->a = archive_write_new()) == NULL) {
        free(z);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    z->sink = sink;
    z->arg = arg;
    if (archive_write_set_format_zip(z->a) != ARCHIVE_OK ||
        archive_write_set_options(z->a, "zip:compression=deflate") != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(z->a, 0) != ARCHIVE_OK ||
        archive_write_open(z->a, z, NULL, zip_out, NULL) != ARCHIVE_OK) {
        cu_rc rc = zip_fail(z, err, "start a zip archive");
        cu_zip_free(z);
        return rc;
    }
    *out = z;
    return CU_OK;
}

cu_rc cu_zip_entry(cu_zip *z, const char *name, int64_t mtime, cu_err *err)
{
    struct archive_entry *e = archive_entry_new();
    int r;

    if (e == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    if (z->open_entry && archive_write_finish_entry(z->a) != ARCHIVE_OK) {
        archive_entry_free(e);
        return zip_fail(z, err, "end a zip entry");
    }
    z->open_entry = 0;
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_mtime(e, (time_t)mtime, 0);
    archive_entry_unset_size(e); /* a data descriptor follows the data */
    r = archive_write_header(z->a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return zip_fail(z, err, "start a zip entry");
    z->open_entry = 1;
    return CU_OK;
}

cu_rc cu_zip_write(cu_zip *z, const void *data, size_t n, cu_err *err)
{
    if (!z->open_entry)
        return cu_err_set(err, CU_ERR_INVALID, "no zip entry is open");
    if (n > 0 && archive_write_data(z->a, data, n) != (la_ssize_t)n)
        return zip_fail(z, err, "write a zip entry");
    return CU_OK;
}

cu_rc cu_zip_finish(cu_zip *z, cu_err *err)
{
    if (z->open_entry && archive_write_finish_entry(z->a) != ARCHIVE_OK)
        return zip_fail(z, err, "end a zip entry");
    z->open_entry = 0;
    if (archive_write_close(z->a) != ARCHIVE_OK)
        return zip_fail(z, err, "end the zip archive");
    z->finished = 1;
    return CU_OK;
}

void cu_zip_free(cu_zip *z)
{
    if (z == NULL)
        return;
    /* Unfinished: libarchive ends it (which frees its deflate state; archive_write_fail would
     * leak it) into nothing, so what the sink had stays an archive without its directory. */
    z->discard = 1;
    archive_write_free(z->a);
    free(z);
}
