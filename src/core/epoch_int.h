/*
 * epoch_int.h: key epochs (epoch.c; P-RET-3, docs/keys.md, Key epochs).
 */
#ifndef CU_EPOCH_INT_H
#define CU_EPOCH_INT_H

#include "core_int.h"

/* The longest a backup may live when no tenant policy says longer (backup_window): a retired
 * master version stays in the key file this long at least. */
#define CU_BACKUP_WINDOW_DEFAULT_DAYS 30

#endif
