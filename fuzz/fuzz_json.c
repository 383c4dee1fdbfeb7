/*
 * fuzz_json.c: libFuzzer target for the strict JSON reader.
 *
 * Checks that cu_json_parse never crashes, reads past len (the input is not NUL-terminated) or
 * leaks; that a refusal keeps its contract (CU_ERR_INVALID, *out NULL, offset within the
 * input, the message format); that cJSON never refuses what the scanner accepted (that would
 * show as CU_ERR_NOMEM); and that printing is a fixed point: print(parse(x)) parses again and
 * prints identically.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char prefix[] = "invalid JSON at byte ";
    cJSON *a = NULL, *b = NULL;
    char *p1 = NULL, *p2 = NULL;
    size_t off = 0;
    cu_err err;
    cu_rc rc;

    memset(&err, 0, sizeof(err));
    rc = cu_json_parse((const char *)data, size, &a, &off, &err);
    if (rc != CU_OK) {
        if (rc != CU_ERR_INVALID || a != NULL || off > size || err.code != CU_ERR_INVALID ||
            strncmp(err.msg, prefix, sizeof(prefix) - 1) != 0)
            abort();
        return 0;
    }
    if (a == NULL)
        abort();
    p1 = cu_json_print(a);
    if (p1 == NULL)
        abort();
    rc = cu_json_parse(p1, strlen(p1), &b, &off, &err);
    if (rc != CU_OK)
        abort();
    p2 = cu_json_print(b);
    if (p2 == NULL || strcmp(p1, p2) != 0)
        abort();
    free(p2);
    free(p1);
    cJSON_Delete(b);
    cJSON_Delete(a);
    return 0;
}
