#!/bin/sh
# The process that holds the keys (issue 18, items 11 and 12): the passphrase leaves the
# environment, no core dumps, the first operator key can go to a file instead of the terminal,
# a TLS key given with --key must be private, and a data directory open to others is refused.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; store_end; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
store_begin
fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}
start() { # start ARGS...: serves in the background until "listening on"
    rm -f out.txt # a restart must not read the last run's "listening on"
    "$CUSTOS" serve --port 0 --quiet "$@" >out.txt 2>err.txt &
    pid=$!
    i=0
    until grep -q "listening on" out.txt 2>/dev/null; do
        i=$((i + 1)); [ "$i" -lt 600 ] || fail "server did not start"; sleep 0.1
    done
}
stop() {
    kill -TERM "$pid"
    wait "$pid" || fail "server exit status"
    pid=""
}

PASS="correct horse battery staple"
CUSTOS_PASSPHRASE="$PASS" start --operator-key-file opkey
# The first operator key went to the file, private, and not to the terminal.
grep -q "cuk_" out.txt && fail "operator key printed despite --operator-key-file"
grep -q "operator API key written to opkey" out.txt || fail "no word on the key file"
[ "$(stat -c %a opkey)" = 600 ] || fail "operator key file mode"
grep -q "^cuk_" opkey || fail "operator key file content"
# No core dumps; the passphrase is gone from the process's environment.
grep -q "^Max core file size *0 *0 " "/proc/$pid/limits" || fail "core dumps not disabled"
tr '\0' '\n' <"/proc/$pid/environ" | grep -q "^CUSTOS_PASSPHRASE=." &&
    fail "CUSTOS_PASSPHRASE still in /proc/PID/environ"
grep -q "horse battery" "/proc/$pid/environ" && fail "the passphrase is in /proc/PID/environ"
stop

# A TLS key given with --key must be private: refused at 0644, served at 0600.
cp custos-data/tls-cert.pem cert.pem
cp custos-data/tls-key.pem key.pem
chmod 644 key.pem
CUSTOS_PASSPHRASE="$PASS" expect_exit 5 "$CUSTOS" serve --port 0 --cert cert.pem --key key.pem
grep -q "insecure_permissions" err.txt || fail "TLS key error code"
chmod 600 key.pem
CUSTOS_PASSPHRASE="$PASS" start --cert cert.pem --key key.pem
stop

# A data directory others can write to is refused; so is a database others can read.
chmod 777 custos-data
CUSTOS_PASSPHRASE="$PASS" expect_exit 5 "$CUSTOS" tenant list
grep -q "writable by group or others" err.txt || fail "data directory check"
chmod 700 custos-data
# (SQLite's file; PostgreSQL's files are its server's, docs/testing.md.)
if ! store_pg; then
    chmod 644 custos-data/custos.db
    CUSTOS_PASSPHRASE="$PASS" expect_exit 5 "$CUSTOS" tenant list
    chmod 600 custos-data/custos.db
fi
CUSTOS_PASSPHRASE="$PASS" expect_exit 0 "$CUSTOS" tenant list
echo ok
