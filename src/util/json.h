/*
 * json.h: the one strict JSON reader of Custos, over cJSON.
 *
 * Every byte of JSON that enters Custos (HTTP bodies, CLI arguments, stored documents) passes
 * cu_json_parse, which accepts RFC 8259 JSON only and rejects, with the byte offset of the
 * first offending byte:
 *   - duplicate keys in one object (after unescaping),
 *   - invalid UTF-8 anywhere, lone or misordered surrogate escapes (\ud800 alone), NUL (\u0000)
 *     inside strings,
 *   - nesting deeper than CU_JSON_MAX_DEPTH,
 *   - more than CU_JSON_MAX_NODES values in all (objects, arrays and scalars each count one),
 *     so that no document costs more than a bounded tree (refused with CU_ERR_LIMIT),
 *   - numbers that cannot be held exactly as a double integer or are out of range: integers
 *     beyond +/-2^53 and numbers whose magnitude overflows a double (64-bit ids travel as
 *     strings),
 *   - anything but whitespace after the value, and empty input.
 */
#ifndef CU_JSON_H
#define CU_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "custos_base.h"

#define CU_JSON_MAX_DEPTH 32
#define CU_JSON_MAX_NODES 131072

/* Parses len bytes of text (need not be NUL-terminated). On success *out is a cJSON tree the
 * caller owns (cJSON_Delete). On failure returns CU_ERR_INVALID, CU_ERR_LIMIT (more than
 * CU_JSON_MAX_NODES values) or CU_ERR_NOMEM, sets *out to NULL, *offset (if not NULL) to the byte
 * offset of the error, and err->msg to "invalid JSON at byte N: reason". */
cu_rc cu_json_parse(const char *text, size_t len, cJSON **out, size_t *offset, cu_err *err);
/* 1 if s[0..n) is well-formed UTF-8 (no overlong form, surrogate or code point past U+10FFFF). */
int cu_utf8_valid(const char *s, size_t n);

/* Serializes compactly; caller frees the result with free(). NULL on allocation failure. */
char *cu_json_print(const cJSON *item);

/* One member of an object's text: its key (quotes and escapes included) and its value, each as
 * an offset and a length into the text. */
typedef struct cu_json_member {
    size_t key, key_len, val, val_len;
} cu_json_member;

/* The members of the object text[0..len), in order, into *out (the caller frees it) and their
 * count into *n, without building a tree. For text Custos printed itself (cu_json_print), such
 * as a stored document after its authenticated open: it checks the object's shape (strings,
 * brackets, separators, nothing after it), not what cu_json_parse checks. -1 if text is not
 * one object, -2 if memory runs out. */
int cu_json_members(const char *text, size_t len, cu_json_member **out, size_t *n);

#endif
