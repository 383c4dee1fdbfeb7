/*
 * test_pg_schema.c: the PostgreSQL schema against issue 12, item 5 ("tenant_id leading every
 * primary key and foreign key") and against docs/scaling.md, read from PostgreSQL's catalog.
 *
 *  - Every table is either a tenant's or the platform's. A tenant table has a tenant_id column,
 *    a primary key and every unique index leading with it, and every foreign key leading with
 *    it on both sides (Citus distributes it by tenant_id, colocated: a key must hold the
 *    distribution column). A platform table (the list below, each with its reason) is a
 *    reference table on Citus: its foreign keys reference platform tables only (Citus refuses
 *    a reference table's key to a distributed one).
 *  - docs/scaling.md's "Which table is what" names every table of the schema exactly once, the
 *    distributed ones as distributed and the platform ones as reference tables: a table added
 *    without a word there fails here.
 *  - Migration 11 upgrades a database at version 10 in place, its rows kept: the SSO logins
 *    keyed (tenant_id, state_hash), an incident's affected set and notices referencing it;
 *    12 after it adds a lease's store instance.
 *
 * Runs once (tests/run.sh ONCE): PostgreSQL's own, on the binary's own server (th_pg.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "th.h"
#include "th_pg.h"
#include "util.h"

#define SCALING_MD "docs/scaling.md"

/* The platform's tables: shared by every tenant, no tenant leads their keys, and on Citus they
 * are reference tables (docs/scaling.md, "Which table is what", says the same). */
static const char *const platform[] = {
    "schema_version", /* the schema's version, one row: read by every server at its start */
    "master_keys",    /* the master key versions every tenant's keys are wrapped under */
    "audit_key",      /* the audit signing key's public half, one row, for every tenant's log */
    "leases",         /* the sweeper's and the key epochs' leases: one holder over all tenants */
    /* Breach incidents (docs/incidents.md): the operator's incident (tenant 0) spans tenants,
     * its evidence hash covers its whole affected set, and an incident outlives its tenants
     * (evidence, never purged). Each is read whole by its id. */
    "incidents",
    "incident_affected", /* an incident's frozen affected set, keyed (incident, tenant, subject) */
    "incident_notices",  /* an incident's notices: the authority's (no tenant) and the tenants' */
};

/* Unique indexes that do not lead with tenant_id: an API key's id and a session's token hash,
 * looked up by the secret alone at authentication. On Citus they are created plain
 * (docs/scaling.md, "What needs care on Citus"). */
#define UNIQUE_ACROSS_TENANTS "'api_keys_by_id', 'sessions_by_token'"

static char platform_sql[512]; /* 'schema_version', 'master_keys', ... */

static void platform_list(void)
{
    size_t n = 0;

    platform_sql[0] = '\0';
    for (size_t i = 0; i < CU_ARRAY_LEN(platform); i++)
        n += (size_t)snprintf(platform_sql + n, sizeof(platform_sql) - n, "%s'%s'", i ? ", " : "",
                              platform[i]);
}

/* The schema's breaches (table t: c.oid, c.relname, platform), one "table:what" a row:
 *  - a tenant table without a tenant_id column, or without a primary key;
 *  - a tenant table's primary key or unique index whose first column is not tenant_id (but
 *    the lookups by a secret above);
 *  - a tenant table's foreign key whose first column, on either side, is not tenant_id;
 *  - a platform table's foreign key to a table that is not the platform's. */
#define BREACHES_SQL                                                                               \
    "WITH t AS (SELECT c.oid, c.relname, c.relname IN (%s) AS platform FROM pg_class c"            \
    " JOIN pg_namespace n ON n.oid = c.relnamespace"                                               \
    " WHERE n.nspname = 'public' AND c.relkind = 'r'),"                                            \
    " bad AS ("                                                                                    \
    " SELECT t.relname || ':no_tenant_id' AS w FROM t WHERE NOT t.platform AND NOT EXISTS"         \
    "  (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attname = 'tenant_id')"        \
    " UNION ALL SELECT t.relname || ':no_primary_key' FROM t WHERE NOT t.platform AND NOT"         \
    "  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.oid AND i.indisprimary)"              \
    " UNION ALL SELECT t.relname || ':' || x.relname FROM t JOIN pg_index i"                       \
    "  ON i.indrelid = t.oid AND i.indisunique JOIN pg_class x ON x.oid = i.indexrelid"            \
    "  WHERE NOT t.platform AND x.relname NOT IN (" UNIQUE_ACROSS_TENANTS ") AND"                  \
    "  coalesce((SELECT attname FROM pg_attribute"                                                 \
    "   WHERE attrelid = t.oid AND attnum = i.indkey[0]), '') <> 'tenant_id'"                      \
    " UNION ALL SELECT t.relname || ':' || c.conname FROM t JOIN pg_constraint c"                  \
    "  ON c.conrelid = t.oid AND c.contype = 'f' WHERE NOT t.platform AND"                         \
    "  ((SELECT attname FROM pg_attribute"                                                         \
    "    WHERE attrelid = c.conrelid AND attnum = c.conkey[1]) <> 'tenant_id' OR"                  \
    "   (SELECT attname FROM pg_attribute"                                                         \
    "    WHERE attrelid = c.confrelid AND attnum = c.confkey[1]) <> 'tenant_id')"                  \
    " UNION ALL SELECT t.relname || ':' || c.conname FROM t JOIN pg_constraint c"                  \
    "  ON c.conrelid = t.oid AND c.contype = 'f'"                                                  \
    "  WHERE t.platform AND c.confrelid::regclass::text NOT IN (%s))"                              \
    " SELECT coalesce(string_agg(w, ',' ORDER BY w COLLATE \"C\"), '') FROM bad"

/* The schema's breaches of the rules above, comma-separated into out; "" if none. */
static void breaches(const char *loc, char *out, size_t cap)
{
    char sql[4096];
    int k;

    platform_list();
    k = snprintf(sql, sizeof(sql), BREACHES_SQL, platform_sql, platform_sql);
    assert_true(k > 0 && (size_t)k < sizeof(sql));
    assert_int_equal(th_pg_sql_text(loc, sql, out, cap), 0);
}

/* The whole file at path, NUL-terminated (caller frees); fails the test if unreadable. */
static char *read_doc(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 256 * 1024);
    size_t n;

    if (f == NULL || buf == NULL)
        fail_msg("cannot read %s (run from the source tree)", path);
    n = fread(buf, 1, 256 * 1024 - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void open_close(const char *loc)
{
    cu_store *s = NULL;
    cu_err err = {0};

    if (cu_store_open(loc, &s, &err) != CU_OK)
        fail_msg("open %s: %s", loc, err.msg);
    cu_store_close(s);
}

/* Issue 12, item 5: every tenant table's primary key, unique indexes and foreign keys lead
 * with tenant_id; the platform's tables (the list above) reference only each other. The
 * check is proven on a planted breach of each kind. */
static void test_every_tenant_key_leads_with_tenant_id(void **state)
{
    char loc[256], bad[2048];

    (void)state;
    th_pg_location(loc, sizeof(loc));
    open_close(loc);
    breaches(loc, bad, sizeof(bad));
    assert_string_equal(bad, "");
    assert_int_equal(th_pg_sql(loc, "CREATE TABLE planted(tenant_id bigint, id bigint,"
                                    " PRIMARY KEY(id, tenant_id),"
                                    " FOREIGN KEY(id) REFERENCES incidents(incident_id));"
                                    "CREATE UNIQUE INDEX planted_by_id ON planted(id);"
                                    "ALTER TABLE incident_notices ADD FOREIGN KEY (tenant_id)"
                                    " REFERENCES tenants(tenant_id)"),
                     0);
    breaches(loc, bad, sizeof(bad));
    assert_string_equal(bad, "incident_notices:incident_notices_tenant_id_fkey,"
                             "planted:planted_by_id,planted:planted_id_fkey,planted:planted_pkey");
}

/* The backquoted names on docs/scaling.md's table row whose first cell starts with kind, each
 * with a comma after it, into out. */
static void doc_row(const char *doc, const char *kind, char *out, size_t cap)
{
    char head[64];
    const char *row, *end, *p;
    size_t n = 0;

    snprintf(head, sizeof(head), "\n| %s", kind);
    row = strstr(doc, head);
    if (row == NULL)
        fail_msg("%s: no table row \"| %s\"", SCALING_MD, kind);
    end = strchr(row + 1, '\n');
    out[0] = '\0';
    for (p = strchr(row + 2, '|'); p != NULL && p < end && (p = strchr(p, '`')) != NULL && p < end;
         p = strchr(p, '`') + 1) {
        size_t len = strcspn(++p, "`");
        n += (size_t)snprintf(out + n, cap - n, "%.*s,", (int)len, p);
        assert_true(n < cap);
    }
}

/* Every table of the schema is named in docs/scaling.md, as distributed or as a reference
 * table, exactly once; the reference tables are the platform list above. */
static void test_scaling_md_names_every_table(void **state)
{
    char loc[256], dist[2048], ref[512], all[2048], names[4096];
    size_t n = 0;
    char *doc;

    (void)state;
    th_pg_location(loc, sizeof(loc));
    open_close(loc);
    doc = read_doc(SCALING_MD);
    doc_row(doc, "distributed", dist, sizeof(dist));
    doc_row(doc, "reference", ref, sizeof(ref));
    free(doc);
    snprintf(all, sizeof(all), ",%s", ref);
    for (size_t i = 0; i < CU_ARRAY_LEN(platform); i++) {
        char want[64];
        snprintf(want, sizeof(want), ",%s,", platform[i]);
        if (strstr(all, want) == NULL)
            fail_msg("%s: the platform table %s is not a reference table there", SCALING_MD,
                     platform[i]);
    }
    /* Each catalog table once, in one of the two rows. */
    snprintf(names, sizeof(names), ",%s%s", dist, ref);
    assert_int_equal(th_pg_sql_text(loc,
                                    "SELECT string_agg(tablename, ',' ORDER BY tablename) || ','"
                                    " FROM pg_tables WHERE schemaname = 'public'",
                                    all, sizeof(all)),
                     0);
    for (char *t = all, *c; (c = strchr(t, ',')) != NULL; t = c + 1) {
        char want[80];
        const char *hit;
        snprintf(want, sizeof(want), ",%.*s,", (int)(c - t), t);
        hit = strstr(names, want);
        if (hit == NULL)
            fail_msg("%s does not name the table %.*s", SCALING_MD, (int)(c - t), t);
        if (strstr(hit + 1, want) != NULL)
            fail_msg("%s names the table %.*s twice", SCALING_MD, (int)(c - t), t);
        n++;
    }
    /* ... and no name the schema lacks. */
    for (const char *p = dist; *p; p++)
        n -= *p == ',';
    for (const char *p = ref; *p; p++)
        n -= *p == ',';
    assert_int_equal((long)n, 0);
}

/* Migration 11 upgrades a database at version 10 in place, its rows kept, and 12 after it
 * names a lease's store instance. The database at 10 is this build's with migrations 12 and
 * 11 undone (their DDL texts reversed). */
static void test_migration_11_upgrades_in_place(void **state)
{
    char loc[256], bad[2048];

    (void)state;
    th_pg_location(loc, sizeof(loc));
    open_close(loc);
    assert_int_equal(
        th_pg_sql(loc,
                  "ALTER TABLE incident_affected"
                  " DROP CONSTRAINT incident_affected_incident_id_fkey;"
                  "ALTER TABLE incident_notices DROP CONSTRAINT incident_notices_incident_id_fkey;"
                  "ALTER TABLE sso_logins DROP CONSTRAINT sso_logins_pkey,"
                  " ADD PRIMARY KEY (state_hash);"
                  "ALTER TABLE leases DROP COLUMN instance, DROP COLUMN instance_holder,"
                  " DROP COLUMN renewed_at;"
                  "UPDATE schema_version SET version = 10;"
                  "INSERT INTO sso_logins VALUES('\\x01', 7, '\\x02', 1, 2),"
                  " ('\\x03', 8, '\\x04', 1, 2);"
                  "INSERT INTO incidents VALUES(5, 0, 'operator', 1, 1, 0, 1, 0, 0, '', '',"
                  " '', 72, 24, 72, '\\x00', 1, 1, 0);"
                  "INSERT INTO incident_affected VALUES(5, 7, 9, 1, 0, 0, 1);"
                  "INSERT INTO incident_notices VALUES(5, 1, 1, 0, 2, 'DPA-1', 'operator')"),
        0);
    breaches(loc, bad, sizeof(bad));
    assert_string_equal(bad, "sso_logins:sso_logins_pkey"); /* version 10's key */
    open_close(loc);
    assert_int_equal(th_pg_sql_int(loc, "SELECT version FROM schema_version"), 12);
    assert_int_equal(th_pg_sql_int(loc,
                                   "SELECT count(*) FROM information_schema.columns"
                                   " WHERE table_name = 'leases' AND column_name = 'instance'"),
                     1);
    breaches(loc, bad, sizeof(bad));
    assert_string_equal(bad, "");
    assert_int_equal(th_pg_sql_int(loc, "SELECT count(*) FROM sso_logins"), 2);
    assert_int_equal(th_pg_sql_int(loc, "SELECT count(*) FROM incident_affected a JOIN"
                                        " incident_notices n USING (incident_id)"),
                     1);
    assert_int_equal(th_pg_sql_int(loc, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
                                        " AND confrelid = 'incidents'::regclass"),
                     2);
    /* The new keys hold: an affected set without its incident is refused. */
    assert_int_not_equal(
        th_pg_sql(loc, "INSERT INTO incident_affected VALUES(6, 7, 9, 1, 0, 0, 1)"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_tenant_key_leads_with_tenant_id),
        cmocka_unit_test(test_scaling_md_names_every_table),
        cmocka_unit_test(test_migration_11_upgrades_in_place),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
