/*
 * keyring_int.h: the master key versions in the key file (keyring.c).
 */
#ifndef CU_KEYRING_INT_H
#define CU_KEYRING_INT_H

#include "core_int.h"

#define CU_KEYRING_FILE "master.key"

/* Loads the key file at path (refusing one readable by group or others: CU_ERR_PERM); with a
 * passphrase, unwraps its entries under Argon2id(passphrase). Caller owns *out. */
cu_rc cu_keyring_load(const char *path, const char *passphrase, cu_keyring **out, cu_err *err);
/* Makes a new keyring with one fresh version (1); not saved. */
cu_rc cu_keyring_new(const char *passphrase, cu_keyring **out, cu_err *err);
/* Writes the keyring to path atomically with mode 0600. */
cu_rc cu_keyring_save(const cu_keyring *r, const char *path, cu_err *err);
/* Adds a fresh version numbered after every existing one; returns it in *version. */
cu_rc cu_keyring_add(cu_keyring *r, uint32_t *version, cu_err *err);
/* Drops every version but keep. */
void cu_keyring_retain(cu_keyring *r, uint32_t keep);
/* The key of a version, or NULL. The pointer stays valid until the keyring changes. */
const uint8_t *cu_keyring_get(const cu_keyring *r, uint32_t version);
/* The highest version in the keyring. */
uint32_t cu_keyring_newest(const cu_keyring *r);
/* The check value of a version's key, stored in the database to detect a wrong key file. */
void cu_keyring_check(const uint8_t key[CU_KEYBYTES], uint8_t out[32]);
void cu_keyring_free(cu_keyring *r);

#endif
