# store.sh: the store of a CLI script's vault, SQLite or PostgreSQL (docs/testing.md), sourced by
# tests/cli/*.sh before they leave the repository root:  . tests/helpers/store.sh
#
# With CUSTOS_TEST_STORE=postgresql (run.sh's second pass), store_begin starts a PostgreSQL 15
# server of the script's own, as tests/helpers/th_pg.c does for the C tests: a copy of the
# run's initdb ($CUSTOS_TEST_PG_INITDB) or initdb of its own, pg_ctl on a free loopback port,
# as the postgres user when root; and exports CUSTOS_STORE, a fresh database's URL, so that
# every custos command of the script puts its vault there. store_end stops it by its pid (the
# script's EXIT trap calls it). Without the switch both do nothing: the vault is DIR/custos.db.
#
#   store_sql SQL        runs SQL on the vault's database (sqlite3, or psql on the URL); prints
#                        the first column of each row
#   store_in_clear TEXT  0 if TEXT is in the files that hold the vault's database: custos.db
#                        and its WAL, or what the server wrote for the database after a
#                        CHECKPOINT (its base/OID directory and pg_wal), an attacker's view
#   store_pg             0 in PostgreSQL mode
#   store_next           for the script's next vault: CUSTOS_STORE a fresh database (a server's
#                        database holds one vault, as a data directory does)
STORE_PG_BIN=/usr/lib/postgresql/15/bin
store_pg_dir=""
store_pg_pid=""
store_pg_port=""

store_pg() { [ "${CUSTOS_TEST_STORE:-sqlite}" = postgresql ]; }

store_as() { # runs a command as the server's user (initdb and postgres refuse root)
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

store_begin() {
    store_pg || return 0
    store_pg_dir=$(mktemp -d)
    [ "$(id -u)" -ne 0 ] || chown postgres "$store_pg_dir"
    if [ -n "${CUSTOS_TEST_PG_INITDB:-}" ]; then
        store_as cp -a "$CUSTOS_TEST_PG_INITDB" "$store_pg_dir/data"
    else
        store_as "$STORE_PG_BIN/initdb" -D "$store_pg_dir/data" -A trust -U postgres -E UTF8 \
            --no-sync >"$store_pg_dir/initdb.log" 2>&1 ||
            { cat "$store_pg_dir/initdb.log" >&2; echo "FAIL: initdb" >&2; exit 1; }
    fi
    # A free port: a random one, tried again if taken (pg_ctl then fails).
    for attempt in 1 2 3 4 5 6 7 8; do
        store_pg_port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
        if store_as "$STORE_PG_BIN/pg_ctl" -D "$store_pg_dir/data" -l "$store_pg_dir/server.log" \
            -w -t 60 -o "-p $store_pg_port -k $store_pg_dir -c listen_addresses=127.0.0.1" \
            start >/dev/null 2>&1; then
            store_pg_pid=$(head -n 1 "$store_pg_dir/data/postmaster.pid")
            store_next
            return 0
        fi
    done
    cat "$store_pg_dir/server.log" >&2
    echo "FAIL: pg_ctl start" >&2
    exit 1
}

store_dbs=0
store_next() {
    store_pg || return 0
    store_dbs=$((store_dbs + 1))
    store_admin "CREATE DATABASE vault$store_dbs" >/dev/null
    CUSTOS_STORE="postgresql://postgres@127.0.0.1:$store_pg_port/vault$store_dbs"
    export CUSTOS_STORE
}

store_end() { # fast shutdown by pid, polled until it is gone; then its directory
    if [ -n "$store_pg_pid" ]; then
        kill -INT "$store_pg_pid" 2>/dev/null || true
        i=0
        while kill -0 "$store_pg_pid" 2>/dev/null && [ "$i" -lt 200 ]; do
            sleep 0.05
            i=$((i + 1))
        done
        kill -9 "$store_pg_pid" 2>/dev/null || true
        store_pg_pid=""
    fi
    [ -z "$store_pg_dir" ] || rm -rf "$store_pg_dir"
    store_pg_dir=""
}

store_admin() {
    "$STORE_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
        "postgresql://postgres@127.0.0.1:$store_pg_port/postgres" -c "$1"
}

store_sql() {
    if store_pg; then
        "$STORE_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$CUSTOS_STORE" -c "$1"
    else
        sqlite3 custos-data/custos.db "$1"
    fi
}

store_in_clear() {
    if store_pg; then
        store_admin "CHECKPOINT" >/dev/null
        oid=$(store_sql "SELECT oid FROM pg_database WHERE datname = current_database()")
        grep -rqaF -- "$1" "$store_pg_dir/data/base/$oid" "$store_pg_dir/data/pg_wal"
    else
        grep -qaF -- "$1" custos-data/custos.db custos-data/custos.db-wal 2>/dev/null
    fi
}
