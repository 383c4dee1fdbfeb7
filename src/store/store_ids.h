/*
 * store_ids.h: public record ids from internal keys (SQLite migration 27; docs/store.md,
 * "Public record ids"). Included by store.h after cu_store, for its ops table's set_idmap and
 * record_id_new.
 *
 * A backend that keys its records by an internal key that grows with insertion (SQLite's rid)
 * makes a new record's public id the keyed permutation of its key, so that no index of random
 * ids is written. The permutation is the core's (its key is a vault secret, record_ids.c): fwd
 * maps an internal key to the public id, inv back, both over [1, 2^63) and 0 outside it. The
 * core sets it once at open, before any record is written (set_idmap; m and its ctx outlive
 * the store), and takes each new record's id from record_id_new: the permutation of the next
 * internal key, never handed out twice, even after the record is deleted and the process
 * restarted (CU_ERR_UNSUPPORTED while no map is set). Ids made otherwise (random ones, a
 * store migration's) are kept and found as before.
 *
 * Pages of records follow the backend's own order, so their keyset's cursor is the backend's
 * (cu_store_record.cursor, cu_store_record_meta.cursor; 0: from the first): SQLite's rid
 * (insertion order, after created_at where a page orders by it), PostgreSQL's record id.
 */
#ifndef CU_STORE_IDS_H
#define CU_STORE_IDS_H

typedef struct cu_store_idmap {
    uint64_t (*fwd)(const void *ctx, uint64_t key);
    uint64_t (*inv)(const void *ctx, uint64_t id);
    const void *ctx;
} cu_store_idmap;

/* Whether s derives public record ids from internal keys (its set_idmap is not NULL). */
int cu_store_keyed_ids(const cu_store *s);
/* s->ops->set_idmap, if any: 1 if s takes each new record's id from m from now on, 0 if its ids
 * stay random (a backend without it, or a SQLite database shared by processes in a test build,
 * CUSTOS_TEST_SHARED_DB: the rids another process hands out are not this one's to know; it
 * still finds the records whose ids are of the key). */
int cu_store_set_idmap(cu_store *s, const cu_store_idmap *m);
/* s->ops->record_id_new; CU_ERR_UNSUPPORTED for a backend without one. */
cu_rc cu_store_record_id_new(cu_store *s, cu_id *out, cu_err *err);

#endif
