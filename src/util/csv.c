/*
 * csv.c: RFC 4180 cells and rows (csv.h).
 */
#include <string.h>

#include "csv.h"

/* Whether a spreadsheet would read the cell as a formula (the OWASP list). */
static int formula_like(const char *s, size_t n)
{
    return n > 0 && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
                     s[0] == '\r');
}

int cu_csv_cell(cu_csv *c, const char *s, size_t n, int guard)
{
    int quote = 0, rc = 0;
    size_t i, from;

    for (i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (c->cells++ > 0 && (rc = c->sink(c->arg, ",", 1)) != 0)
        return rc;
    if (quote && (rc = c->sink(c->arg, "\"", 1)) != 0)
        return rc;
    if (guard && formula_like(s, n) && (rc = c->sink(c->arg, "'", 1)) != 0)
        return rc;
    /* Each run up to a double quote, then the quote doubled. */
    for (from = 0, i = 0; i < n; i++) {
        if (s[i] != '"')
            continue;
        if ((rc = c->sink(c->arg, s + from, i + 1 - from)) != 0 || (rc = c->sink(c->arg, "\"", 1)))
            return rc;
        from = i + 1;
    }
    if (n > from && (rc = c->sink(c->arg, s + from, n - from)) != 0)
        return rc;
    return quote ? c->sink(c->arg, "\"", 1) : 0;
}

int cu_csv_text(cu_csv *c, const char *s, int guard)
{
    return cu_csv_cell(c, s ? s : "", s ? strlen(s) : 0, guard);
}

int cu_csv_end_row(cu_csv *c)
{
    c->cells = 0;
    return c->sink(c->arg, "\r\n", 2);
}
