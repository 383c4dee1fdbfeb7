/*
 * secmem.c: every cJSON allocation is wiped when freed.
 *
 * Documents and profiles pass through cJSON trees and print buffers holding personal values.
 * cJSON frees them with the hooks installed here: the free hook zeroes the whole usable block
 * first. With hooks other than plain malloc/free, cJSON grows print buffers by allocate, copy
 * and free instead of realloc, so no unwiped copy is left behind either.
 *
 * Also cu_str_wipe (custos_base.h), for strings callers hold: explicit_bzero, so util needs
 * nothing from the crypto layer above it.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util.h"

void cu_str_wipe(char *s)
{
    if (s != NULL)
        explicit_bzero(s, strlen(s));
}

static void *json_alloc(size_t n)
{
    return malloc(n);
}

static void json_free(void *p)
{
    if (p == NULL)
        return;
    /* explicit_bzero cannot be optimized away, unlike a memset before free. */
    explicit_bzero(p, malloc_usable_size(p));
    free(p);
}

static void install(void)
{
    cJSON_Hooks hooks = {.malloc_fn = json_alloc, .free_fn = json_free};

    cJSON_InitHooks(&hooks);
}

void cu_json_use_wiping_free(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, install);
}
