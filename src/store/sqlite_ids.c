/*
 * sqlite_ids.c: public record ids from internal keys (migration 27, issue 17; docs/store.md,
 * "Public record ids").
 *
 * A record's row is keyed by its rid, which grows with insertion, so the records of one group
 * commit land on the right edge of each B-tree they touch. Their public ids were random, with a
 * unique index of their own: one random leaf written per record, the largest share of a put's
 * WAL bytes. Since migration 27 a new record's id is the core's keyed permutation of its rid
 * (cu_store_idmap: FF1 under the vault's record id key), so a lookup by id computes the rid,
 * custos_rid(id), and no index holds the new ids. Rows written before, or with an id made
 * elsewhere (a store migration's copy), have keyed = 0 and keep the unique index records_by_id,
 * partial to them; RID_OF in sqlite_stmt.c tries the key first, then that index.
 *
 * rid is AUTOINCREMENT: sqlite_sequence keeps the largest ever used, so no rid, and so no id,
 * is handed out twice, even after its record is deleted and the process restarted. A rid is
 * handed out before its insert (the core seals a record with its id before the group commit),
 * from next, which every put takes its rid from. next starts a random distance (below 2^40)
 * above the largest used: a database rolled back (a backup restored, a copy of the files) has
 * forgotten the rids its lost timeline used, and the same start would give their ids to other
 * records; a random start overlaps that timeline's range only with odds of its records in
 * 2^40. A process that writes no record consumes nothing (the sequence keeps what was used).
 */
#include <stdatomic.h>

#include "sqlite_int.h"
#include "util.h"

#define ID_LIMIT (UINT64_C(1) << 63)
#define START_SPREAD (UINT64_C(1) << 40) /* the random part of next's start */

/* custos_rid(id): the rid the id is the permutation of, or NULL (no map set yet, not an
 * integer, or outside the ids' range). */
static void custos_rid(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    sqlite_store *s = sqlite3_user_data(cx);
    const cu_store_idmap *m = atomic_load(&s->ids->map);
    uint64_t rid;

    (void)argc;
    if (m == NULL || sqlite3_value_type(argv[0]) != SQLITE_INTEGER) {
        sqlite3_result_null(cx);
        return;
    }
    rid = m->inv(m->ctx, (uint64_t)sqlite3_value_int64(argv[0]));
    if (rid == 0 || rid >= ID_LIMIT)
        sqlite3_result_null(cx);
    else
        sqlite3_result_int64(cx, (int64_t)rid);
}

cu_rc sq_ids_register(sqlite_store *s, cu_err *err)
{
    /* Direct only: no trigger, view or index of the schema may call it (its result depends on
     * a key the schema does not hold). */
    int src = sqlite3_create_function_v2(s->db, "custos_rid", 1,
                                         SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                         s, custos_rid, NULL, NULL, NULL);

    s->ids = &s->own_ids;
    atomic_init(&s->own_ids.next, 1);
    atomic_init(&s->own_ids.map, NULL);
    atomic_init(&s->own_ids.hands_out, 0);
    return src == SQLITE_OK ? CU_OK : sq_db_error(s, src, err, "register custos_rid");
}

cu_rc sq_ids_load(sqlite_store *s, cu_err *err)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db,
                                 "SELECT max(coalesce((SELECT seq FROM sqlite_sequence"
                                 " WHERE name = 'records'), 0),"
                                 " coalesce((SELECT max(rid) FROM records), 0))",
                                 -1, &st, NULL);

    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t spread = 0;
        /* SQLite's own generator (seeded by the OS): the start need not be secret, only
         * unlike another timeline's. */
        sqlite3_randomness((int)sizeof(spread), &spread);
        atomic_store(&s->ids->next,
                     (uint64_t)sqlite3_column_int64(st, 0) + 1 + spread % START_SPREAD);
        src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return src == SQLITE_OK ? CU_OK : sq_db_error(s, src, err, "read the largest record key");
}

void sq_ids_share(sqlite_store *reader, sqlite_store *writer)
{
    reader->ids = writer->ids;
}

int sq_set_idmap(cu_store *base, const cu_store_idmap *m)
{
    sqlite_store *s = (sqlite_store *)base;

    atomic_store(&s->ids->hands_out, 1);
    atomic_store(&s->ids->map, m);
    return 1;
}

void sq_set_idmap_lookup(cu_store *base, const cu_store_idmap *m)
{
    sqlite_store *s = (sqlite_store *)base;

    atomic_store(&s->ids->hands_out, 0);
    atomic_store(&s->ids->map, m);
}

cu_rc sq_record_id_new(cu_store *base, cu_id *out, cu_err *err)
{
    sqlite_store *s = (sqlite_store *)base;
    const cu_store_idmap *m = atomic_load(&s->ids->map);
    uint64_t rid;

    if (m == NULL || !atomic_load(&s->ids->hands_out))
        return cu_err_set(err, CU_ERR_UNSUPPORTED, "no record id key is set");
    rid = atomic_fetch_add(&s->ids->next, 1);
    if (rid >= ID_LIMIT)
        return cu_err_set(err, CU_ERR_LIMIT, "no record key is left");
    *out = m->fwd(m->ctx, rid);
    return *out != 0 ? CU_OK : cu_err_set(err, CU_ERR_CRYPTO, "could not make a record id");
}

void sq_ids_bind_put(sqlite_store *s, sqlite3_stmt *st, cu_id id)
{
    const cu_store_idmap *m = atomic_load(&s->ids->hands_out) ? atomic_load(&s->ids->map) : NULL;
    uint64_t k = m != NULL ? m->inv(m->ctx, id) : 0;
    /* Below next: handed out by sq_record_id_new (an id made elsewhere lands there with odds
     * of next in 2^63, and then only fails its insert as a taken id would). */
    int keyed = k != 0 && k < atomic_load(&s->ids->next);

    if (keyed)
        sqlite3_bind_int64(st, 10, (int64_t)k);
    else if (m != NULL) /* not one SQLite picks: a rid handed out may not be inserted yet */
        sqlite3_bind_int64(st, 10, (int64_t)atomic_fetch_add(&s->ids->next, 1));
    else
        sqlite3_bind_null(st, 10); /* the largest ever used plus one (AUTOINCREMENT) */
    sqlite3_bind_int(st, 11, keyed);
}
