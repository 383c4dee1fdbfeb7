/*
 * journal_int.h: the erasure journal (journal.c; docs/backup.md, P-BAK-2).
 *
 * A text file beside the key file (CU_JOURNAL_FILE), kept outside the backups: one line per
 * erased subject, purged or shredded tenant and destroyed data key, ids and times only, each
 * line hash-chained to the one before and its hash signed with the vault's audit key. The
 * database's audit log is the truth: the journal is caught up from it after each erasure
 * commits (cu_journal_note) and at every open, so a crash between the two loses nothing.
 */
#ifndef CU_JOURNAL_INT_H
#define CU_JOURNAL_INT_H

#include "core_int.h"

#define CU_JOURNAL_FILE "erasure.journal"
#define CU_JOURNAL_CURSOR_FILE "erasure.cursor"

typedef struct cu_journal_entry {
    uint64_t seq;
    int64_t at_ms;   /* the erasure's audit entry's time */
    char kind[24];   /* subject.erase, tenant.purge, tenant.shred, key.destroy */
    cu_id tenant;
    char object[48]; /* the subject's or tenant's id, or "data_key:<version>" */
} cu_journal_entry;

/* The one-line hook after an erasure commits (subject.c, lifecycle.c, reseal.c): catches the
 * journal up with tenant's log and the platform's, or has the erasure thread do it when there
 * is one (cu_erase_journal_later: not on the answer's path). Best effort: what it misses is caught up by
 * the next call, the next open or the next backup. */
void cu_journal_note(cu_vault *v, cu_id tenant);
/* Catches the journal up with every log (open, before a backup); *head (may be NULL) gets the
 * journal's newest seq. */
cu_rc cu_journal_sync(cu_vault *v, uint64_t *head, cu_err *err);
/* The journal's path for the vault: beside its key file. */
cu_rc cu_journal_path(const cu_vault *v, char *out, size_t cap, cu_err *err);
/* Reads and verifies a journal: its header names pk, every line chains to the one before and
 * carries a valid signature of pk. A last line cut short by a crash is ignored; anything else
 * wrong is CU_ERR_CRYPTO. Caller frees *out. */
cu_rc cu_journal_load(const char *path, const uint8_t pk[32], cu_journal_entry **out, size_t *n,
                      cu_err *err);
/* Replays the entries into a restored vault: each erased subject's key destroyed and its rows
 * deleted, each purged tenant closed, each shredded tenant shredded, each destroyed data key
 * rotated away and destroyed. Entries already true of the vault count as absent. */
typedef struct cu_replay_counts {
    uint64_t applied, absent;
} cu_replay_counts;
cu_rc cu_journal_replay(cu_vault *v, const cu_journal_entry *e, size_t n, cu_replay_counts *c,
                        cu_err *err);

#endif
