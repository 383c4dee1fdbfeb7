/*
 * backup_int.h: what the backup files share (backup.c, backup_keys.c, backup_file.c,
 * backup_restore.c; docs/backup.md).
 */
#ifndef CU_BACKUP_INT_H
#define CU_BACKUP_INT_H

#include "core_int.h"
#include "keyring_int.h"

/* P-RET-3: how long a backup lives when none of its tenants' policies names a backup_window. */
#define CU_BACKUP_WINDOW_DEFAULT_DAYS 30

#define CU_BACKUP_KEYS_FILE "backup.keys"
#define CU_BACKUP_EXT ".cbk"
#define CU_BACKUP_MANIFEST_EXT ".manifest"
#define CU_BACKUP_MAX_TENANTS 100000
/* Plaintext per stream message. */
#define CU_BACKUP_CHUNK (1024 * 1024)

/* --- the backup key file (backup_keys.c) --------------------------------------------------- */

/* One backup key as the file lists it: the key itself stays wrapped. */
typedef struct cu_bkey {
    char id[33];
    uint32_t master_version;
    int64_t created_at, expires_at;
    uint32_t needs[16]; /* the master versions a restore of it needs (its snapshot's keys) */
    size_t nneeds;
} cu_bkey;

/* Adds a backup key: wrapped under master key mk of version mv, its AAD naming the id, the
 * version and the expiry; the file rewritten atomically (0600). The file's signer (the audit
 * key's public half) is set at the first key and must match pk after. */
cu_rc cu_bkeys_add(const char *keys_dir, const uint8_t pk[32], const cu_bkey *k,
                   const uint8_t mk[CU_KEYBYTES], const uint8_t key[CU_KEYBYTES], cu_err *err);
/* The key of backup id, unwrapped with ring; *k gets its line. CU_ERR_KEY if it is gone
 * (expired: the backup is unreadable). */
cu_rc cu_bkeys_get(const char *keys_dir, const cu_keyring *ring, const char *id, cu_bkey *k,
                   uint8_t key[CU_KEYBYTES], cu_err *err);
/* The file's signer: CU_ERR_NOT_FOUND without a file. */
cu_rc cu_bkeys_signer(const char *keys_dir, uint8_t pk[32], cu_err *err);
/* Every key line (no key unwrapped). Caller frees *out. */
cu_rc cu_bkeys_list(const char *keys_dir, cu_bkey **out, size_t *n, cu_err *err);
/* Every master key version an unexpired backup (at now) needs: its key's wrap and its
 * snapshot's keys. Key epochs keep these in the key file until the backups expire. Caller
 * frees *out. */
cu_rc cu_bkeys_needed(const char *keys_dir, int64_t now, uint32_t **out, size_t *n, cu_err *err);
/* Destroys the key of backup id: the file rewritten without its line (atomically, fsync'ed).
 * CU_OK if it was not there. */
cu_rc cu_bkeys_remove(const char *keys_dir, const char *id, cu_err *err);

/* --- manifests and the encrypted stream (backup_file.c) ------------------------------------ */

typedef struct cu_bhead {
    cu_id tenant;
    uint64_t seq;
    uint8_t hash[32];
} cu_bhead;

typedef struct cu_manifest {
    cu_backup_info info;
    uint8_t vault[32];       /* the audit key's public half: who signed */
    uint8_t sha256[32];      /* of the backup file */
    uint32_t master_versions[64];
    size_t nmaster;
    cu_bhead *heads;         /* tenant 0 (the platform) first, then each tenant */
    size_t nheads;
} cu_manifest;

void cu_manifest_cleanup(cu_manifest *m);
/* Writes m signed with sk to path (atomically, 0644: no secret in it). */
cu_rc cu_manifest_write(const char *path, const cu_manifest *m, const uint8_t *sk, cu_err *err);
/* Reads and verifies a manifest: signed by pk (CU_ERR_CRYPTO if not), well formed. */
cu_rc cu_manifest_read(const char *path, const uint8_t pk[32], cu_manifest *m, cu_err *err);

/* The backup file: "custos-backup 1 <id>\n", the stream header, then messages each
 * [4-byte big-endian length][ciphertext]: the audit key file, the database in chunks, an empty
 * final one. Every message's associated data is the id. */
typedef struct cu_bwriter cu_bwriter;
cu_rc cu_bwriter_open(const char *path, const char *id, const uint8_t key[CU_KEYBYTES],
                      cu_bwriter **out, cu_err *err);
cu_rc cu_bwriter_put(cu_bwriter *w, const uint8_t *p, size_t n, cu_err *err);
/* Writes the final message, fsyncs, closes; *bytes and sha256 of the whole file. */
cu_rc cu_bwriter_finish(cu_bwriter *w, uint64_t *bytes, uint8_t sha256[32], cu_err *err);
/* Closes and unlinks an unfinished file. NULL is a no-op. */
void cu_bwriter_abort(cu_bwriter *w);

/* Reads a backup file: fn gets each message's plaintext in order (index 0: the audit key
 * file), then the file's hash is compared with want and its size with bytes. CU_ERR_CRYPTO
 * for anything altered, cut short or swapped. */
typedef cu_rc (*cu_bread_fn)(void *arg, size_t index, const uint8_t *p, size_t n, cu_err *err);
cu_rc cu_bread(const char *path, const char *id, const uint8_t key[CU_KEYBYTES],
               const uint8_t want[32], uint64_t bytes, cu_bread_fn fn, void *arg,
               cu_backup_progress_fn progress, void *parg, cu_err *err);

/* --- shared helpers (backup.c) --------------------------------------------------------------- */

/* Removes a directory and the files in it (one level); missing is fine. */
void cu_backup_rmdir(const char *dir);
/* The statistics for /metrics. */
void cu_backup_note_verified(int ok);
/* 1 if s is 32 lowercase hex digits. */
int cu_backup_id_ok(const char *s);
/* Copies a file into a new one at dst (mode 0600, fsync'ed). */
cu_rc cu_backup_copy_file(const char *src, const char *dst, cu_err *err);
/* The vault's hook at open: the erasure journal caught up, the plaintext a crashed backup
 * left in the data directory removed. */
void cu_backup_opened(cu_vault *v);

#endif
