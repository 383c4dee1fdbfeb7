#!/bin/sh
# bench/pg_apply.sh [SECONDS]: bench_pg_apply against a PostgreSQL 15 server of its own: initdb
# and pg_ctl into a temporary directory (as the postgres user when run as root), fsync and
# synchronous_commit on (the durability a vault's commit has), a free loopback port; the server
# is stopped by its pid at the end. Each (batch size, mode) runs SECONDS (default 3) seconds.
set -eu
SECS=${1:-3}
BIN=/usr/lib/postgresql/15/bin
DIR=$(mktemp -d /tmp/custos-pgbench-XXXXXX)
AS=""
if [ "$(id -u)" = 0 ]; then
    chown postgres "$DIR"
    AS="runuser -u postgres --"
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
stop() {
    if [ -f "$DIR/data/postmaster.pid" ]; then
        PID=$(head -1 "$DIR/data/postmaster.pid")
        kill -INT "$PID" 2>/dev/null || true
        while kill -0 "$PID" 2>/dev/null; do sleep 0.1; done
    fi
    rm -rf "$DIR"
}
trap stop EXIT
$AS $BIN/initdb -D "$DIR/data" -A trust -U postgres -E UTF8 >"$DIR/initdb.log" 2>&1
$AS $BIN/pg_ctl -D "$DIR/data" -l "$DIR/server.log" -w -o \
    "-p $PORT -k $DIR -c listen_addresses=127.0.0.1" start >/dev/null
$AS $BIN/psql -h "$DIR" -p "$PORT" -U postgres -qc "CREATE DATABASE bench" postgres
build/bench/bench_pg_apply "postgresql://postgres@127.0.0.1:$PORT/bench" "$SECS"
