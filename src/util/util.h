/*
 * util.h: small helpers shared by every layer: error setting, the clock, bounded string copy,
 * and file helpers for secret files. No dependency beyond libc.
 */
#ifndef CU_UTIL_H
#define CU_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "custos_base.h"

#define CU_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CU_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Sets err (if not NULL) to code and the formatted message; returns code so callers can write
 * `return cu_err_set(err, CU_ERR_INVALID, "...")`. */
cu_rc cu_err_set(cu_err *err, cu_rc code, const char *fmt, ...) CU_PRINTF(3, 4);

/* Copies src into dst of size n, always NUL-terminating. Returns 0, or -1 if truncated. */
int cu_strlcpy(char *dst, const char *src, size_t n);

/* strdup that returns NULL for NULL. */
char *cu_strdup(const char *s);

/* The clock (cu_clock_now ...) is declared in custos_base.h. */

/* Checks that path is owned by this process's user and that group and others have no access
 * (mode & 077 == 0); what names the file in the message. CU_ERR_PERM if not; CU_OK if missing
 * and missing_ok. */
cu_rc cu_file_check_private(const char *path, const char *what, int missing_ok, cu_err *err);
/* Checks that directory path is owned by this process's user and not writable by group or
 * others (CU_ERR_PERM). */
cu_rc cu_dir_check_private(const char *path, cu_err *err);
/* Hardens the process holding keys: no core dumps (RLIMIT_CORE 0) and not dumpable
 * (PR_SET_DUMPABLE 0: no ptrace by other processes of the user, no /proc/PID/mem). */
cu_rc cu_process_harden(cu_err *err);

/* Writes n bytes to path atomically with the given mode: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. */
cu_rc cu_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode,
                           cu_err *err);
/* Reads a whole file of at most max bytes into a NUL-terminated buffer the caller frees. */
cu_rc cu_file_read(const char *path, size_t max, char **out, size_t *n, cu_err *err);

/* Makes cJSON wipe every block it frees (trees and print buffers hold personal values).
 * Idempotent; call before any cJSON allocation (cu_vault_init and cu_vault_open do). */
void cu_json_use_wiping_free(void);

/* Fault injection for crash tests (SQLite's faultsim, curl's -t): in test builds
 * (CU_FAULT_INJECTION), CU_FAULT("name") is true when the CUSTOS_FAULT environment variable
 * names that point, and the code there simulates a crash. A test may also install a hook that
 * every point calls (to run a racing write there, say); the point fires if it returns non-zero.
 * Release builds compile it to 0. */
#ifdef CU_FAULT_INJECTION
int cu_fault(const char *point);
#define CU_FAULT(point) cu_fault(point)
typedef int (*cu_fault_hook_fn)(const char *point, void *arg);
/* Installs fn (NULL removes it); fn runs on the thread that reaches the point. */
void cu_fault_hook_set(cu_fault_hook_fn fn, void *arg);

/* Systematic faults (SQLite's do_faultsim_test): the Nth allocation, or the Nth write, fsync
 * or truncate, counted from cu_fault_arm, fails once. The counting wrappers are test-only:
 * store/faultsim.c (SQLite's allocator and VFS) and tests/test_faults.c (the library's own
 * malloc, write and fsync, through -Wl,--wrap). */
typedef enum cu_fault_kind { CU_FAULT_ALLOC = 1, CU_FAULT_IO = 2 } cu_fault_kind;
/* The nth call of kind from now fails; n = 0 disarms. Resets the fired count. */
void cu_fault_arm(cu_fault_kind kind, long n);
/* Called by a wrapper before it does its work: 1 if this call must fail. */
int cu_fault_tick(cu_fault_kind kind);
/* How many failures were injected since cu_fault_arm (0 or 1). */
long cu_fault_fired(void);
/* How many calls of the armed kind were counted since cu_fault_arm. */
long cu_fault_calls(void);
#else
#define CU_FAULT(point) 0
#endif

#endif
