/*
 * csv.h: cells and rows of RFC 4180 CSV, written through a caller's sink.
 *
 * A cell is quoted when it holds a comma, a double quote, a CR or an LF (its double quotes
 * doubled); rows end with CRLF. The writer knows nothing of what the cells mean; the caller
 * chooses, per cell, whether the spreadsheet formula guard applies (docs/dsr.md).
 */
#ifndef CU_CSV_H
#define CU_CSV_H

#include <stddef.h>

/* Takes n bytes: 0, or non-zero to stop (the writer returns it). */
typedef int (*cu_csv_sink)(void *arg, const char *s, size_t n);

/* A row being written: the sink and whether a cell was written in it yet. */
typedef struct cu_csv {
    cu_csv_sink sink;
    void *arg;
    int cells; /* cells written in the current row */
} cu_csv;

/* Appends one cell of n bytes (s may hold any byte, NUL included), a comma before it unless it
 * is the row's first. guard: a text cell that a spreadsheet would run as a formula (first byte
 * = + - @, a TAB or a CR) gets a leading single quote. Returns the sink's non-zero, else 0. */
int cu_csv_cell(cu_csv *c, const char *s, size_t n, int guard);
/* The same for a NUL-terminated string; NULL is an empty cell. */
int cu_csv_text(cu_csv *c, const char *s, int guard);
/* Ends the row with CRLF. */
int cu_csv_end_row(cu_csv *c);

#endif
