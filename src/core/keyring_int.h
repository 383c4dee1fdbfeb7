/*
 * keyring_int.h: the master key versions in the key file (keyring.c).
 */
#ifndef CU_KEYRING_INT_H
#define CU_KEYRING_INT_H

#include "core_int.h"

#define CU_KEYRING_FILE "master.key"

/* Loads the key file at path (refusing one readable by group or others: CU_ERR_PERM); with a
 * passphrase, unwraps its entries under Argon2id(passphrase). The ring remembers path
 * (cu_keyring_path). Caller owns *out. */
cu_rc cu_keyring_load(const char *path, const char *passphrase, cu_keyring **out, cu_err *err);
/* Makes a new keyring with one fresh version (1); not saved. */
cu_rc cu_keyring_new(const char *passphrase, cu_keyring **out, cu_err *err);
/* Writes the keyring to path (its own: cu_keyring_path) atomically with mode 0600, each retired
 * version with its time; the ring remembers path. */
cu_rc cu_keyring_save(cu_keyring *r, const char *path, cu_err *err);
/* The path the ring was loaded from or last saved to. */
const char *cu_keyring_path(const cu_keyring *r);
/* Adds a fresh version numbered after every existing one; returns it in *version. */
cu_rc cu_keyring_add(cu_keyring *r, uint32_t *version, cu_err *err);
/* Marks every version but current that is not retired yet as retired at `at` (unix seconds):
 * a master rotation made current the version in force (key epochs, epoch.c). */
void cu_keyring_retire(cu_keyring *r, uint32_t current, int64_t at);
/* Marks one version retired at `at` unless it is already; 1 if it changed. */
int cu_keyring_mark(cu_keyring *r, uint32_t version, int64_t at);
/* Destroys a version: its key is wiped from memory (the file keeps it until saved). 1 if it was
 * there. */
int cu_keyring_drop(cu_keyring *r, uint32_t version);
/* The versions, by index 0 .. count-1 (file order), each with its retirement time (0: none). */
size_t cu_keyring_count(const cu_keyring *r);
uint32_t cu_keyring_version_at(const cu_keyring *r, size_t i, int64_t *retired);
/* The key of a version, or NULL. The pointer stays valid until the keyring changes. A version
 * newer than any in the ring (another server's key epoch wrote it into the key file) makes it
 * re-read the file, at most once per version a second, and take in the newer versions found
 * there (docs/scaling.md, "The key file"); safe under the vault's key lock held shared. */
const uint8_t *cu_keyring_get(const cu_keyring *r, uint32_t version);
/* Under the vault's key lock, for writing, before a rotation or retirement: the ring takes in
 * every version the file holds and it lacks (another server's), and forgets any it holds that
 * the file lacks though the file holds newer ones (another server destroyed it), but current.
 * A missing file is nothing to sync (CU_OK): the caller then writes it from the ring. */
cu_rc cu_keyring_sync(cu_keyring *r, uint32_t current, cu_err *err);
/* The highest version in the keyring. */
uint32_t cu_keyring_newest(const cu_keyring *r);
/* The check value of a version's key, stored in the database to detect a wrong key file. */
void cu_keyring_check(const uint8_t key[CU_KEYBYTES], uint8_t out[32]);
void cu_keyring_free(cu_keyring *r);

#endif
