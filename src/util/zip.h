/*
 * zip.h: a zip archive written as a stream (libarchive), entry after entry, into a sink.
 *
 * Entries are of unknown size when they start: their sizes and CRC follow their data in a data
 * descriptor (libarchive writes one for an entry whose size is not set), so nothing is buffered
 * whole and nothing seeks back. Entries are deflated. libarchive's types stay in zip.c.
 */
#ifndef CU_ZIP_H
#define CU_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

typedef struct cu_zip cu_zip;

/* Takes n bytes of the archive: 0, or non-zero to fail the archive. */
typedef int (*cu_zip_sink)(void *arg, const void *data, size_t n);

/* Starts an archive that hands its bytes to sink. Free with cu_zip_free. */
cu_rc cu_zip_open(cu_zip_sink sink, void *arg, cu_zip **out, cu_err *err);
/* Ends the entry open, if any, and starts the regular file name (mode 0600, modified at mtime,
 * unix seconds). */
cu_rc cu_zip_entry(cu_zip *z, const char *name, int64_t mtime, cu_err *err);
/* Appends n bytes to the entry open. */
cu_rc cu_zip_write(cu_zip *z, const void *data, size_t n, cu_err *err);
/* Ends the last entry and writes the central directory: the archive is whole. */
cu_rc cu_zip_finish(cu_zip *z, cu_err *err);
/* Frees z, whole or not (an archive not finished stays invalid). NULL is a no-op. */
void cu_zip_free(cu_zip *z);

#endif
