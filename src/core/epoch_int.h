/*
 * epoch_int.h: key epochs (epoch.c; P-RET-3, docs/keys.md, Key epochs).
 */
#ifndef CU_EPOCH_INT_H
#define CU_EPOCH_INT_H

#include "backup_int.h" /* CU_BACKUP_WINDOW_DEFAULT_DAYS: a retired master version stays in
                           the key file this long at least */
#include "core_int.h"

#endif
