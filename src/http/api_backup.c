/*
 * api_backup.c: POST /v1/backups (operator only, the router's CU_PERM_TENANTS): a backup now,
 * into the server's --backup-dir, while requests go on (P-BAK-1; docs/backup.md). The answer
 * is the backup's manifest facts: ids, sizes, times; never a key or a value.
 */
#include "http_int.h"
#include "repr.h"

void api_backup_create(http_req *r)
{
    cu_backup_info b;
    cu_err e = {0};

    if (r->cfg->backup_dir == NULL)
        return http_error(r, 409, "conflict",
                          "this server has no backup directory: start it with --backup-dir");
    if (cu_backup_create(r->v, &r->ctx, r->cfg->backup_dir, NULL, NULL, &b, &e) != CU_OK)
        return http_fail(r, &e);
    http_json(r, 201, cu_repr_backup_json(&b));
}
