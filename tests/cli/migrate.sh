#!/bin/sh
# `custos migrate --from sqlite:PATH --to postgresql://...` as an operator runs it (issue 12,
# item 5; docs/scaling.md): a vault made on SQLite by the CLI moves into an empty database of
# a PostgreSQL 15 server this script starts itself; then every command of the same data
# directory with --store URL finds it whole: each record reads back, an erased subject stays
# erased, the tenant's and the platform's chains verify, and the vault takes writes. Refused,
# each changing nothing: a target that already holds a vault, a source a server has open, a
# missing source, and arguments that are not a sqlite: source and a postgresql:// target.
# tests/test_migrate.c proves the copy itself (every table, all or nothing) through the library.
# The source is always SQLite and the target PostgreSQL, so run.sh runs this once (NO_STORE).
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
SERVER=""
trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true; store_end; rm -rf "$dir"' EXIT
cd "$dir"
unset CUSTOS_STORE

fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}

# The source: a SQLite vault with two subjects' records and a desk note; Bob is erased.
"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Moving Ltd" | id_of)
[ -n "$T" ] || fail "tenant"
"$CUSTOS" collection define --tenant "$T" notes --personal note --sensitive ssn >/dev/null
A=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id ada | id_of)
B=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id bob | id_of)
RA=$("$CUSTOS" record put --purpose support --tenant "$T" --collection notes --subject "$A" \
    '{"note":"Ada moved house","ssn":"123-45-6789"}' | id_of)
RB=$("$CUSTOS" record put --purpose support --tenant "$T" --collection notes --subject "$B" \
    '{"note":"Bob asked to be forgotten"}' | id_of)
RD=$("$CUSTOS" record put --purpose support --tenant "$T" --collection notes \
    '{"note":"desk note"}' | id_of)
[ -n "$RA" ] && [ -n "$RB" ] && [ -n "$RD" ] || fail "records"
"$CUSTOS" subject erase --purpose support --tenant "$T" "$B" >/dev/null || fail "erase Bob"
expect_exit 3 "$CUSTOS" record get --purpose support --tenant "$T" "$RB"

# The target: an empty database of a PostgreSQL 15 server of the script's own.
export CUSTOS_TEST_STORE=postgresql # store_sql speaks to the target from here
store_begin
URL=$CUSTOS_STORE
unset CUSTOS_STORE

# Arguments first: each a usage error (2), nothing copied.
expect_exit 2 "$CUSTOS" migrate --to "$URL"
expect_exit 2 "$CUSTOS" migrate --from custos-data --to "$URL"
grep -q "sqlite:PATH" err.txt || fail "the usage names sqlite:PATH"
expect_exit 2 "$CUSTOS" migrate --from sqlite:custos-data --to "mysql://127.0.0.1/x"
# A missing source is refused and leaves the target empty.
set +e; "$CUSTOS" migrate --from sqlite:nowhere --to "$URL" >out.txt 2>err.txt; got=$?; set -e
[ "$got" -ne 0 ] || fail "a missing source was taken"
n=$(CUSTOS_STORE=$URL store_sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
[ "$n" -eq 0 ] || fail "a refused migration left $n tables"

# A server holding the source: refused (its lock), nothing copied.
"$CUSTOS" serve --listen 127.0.0.1 --port 0 --quiet >serve.txt 2>&1 &
SERVER=$!
i=0
until grep -q 'listening on' serve.txt 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 300 ] && kill -0 "$SERVER" 2>/dev/null || fail "the server did not start"
    sleep 0.1
done
set +e; "$CUSTOS" migrate --from sqlite:custos-data --to "$URL" >out.txt 2>err.txt; got=$?; set -e
[ "$got" -ne 0 ] || fail "a source in use was copied"
kill "$SERVER"
wait "$SERVER" || fail "the server's stop"
SERVER=""
n=$(CUSTOS_STORE=$URL store_sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
[ "$n" -eq 0 ] || fail "a refused migration left $n tables"

# The move: a count per table, compared before the commit.
"$CUSTOS" migrate --from sqlite:custos-data --to "$URL" >out.txt 2>err.txt || fail "migrate"
tr -d ' \t\n' <out.txt >report.json
r0=$(sed -n 's/.*"records":\([0-9]*\).*/\1/p' report.json)
# Ada's record and the desk note; Bob's, if his erasure's rows were not yet deleted, is
# unreadable all the same (his key is gone), as the read below shows.
[ -n "$r0" ] && [ "$r0" -ge 2 ] || fail "the records in the report: $(cat report.json)"
grep -q '"tenants":1' report.json || fail "1 tenant in the report"
rows=$(sed -n 's/.*"rows":\([0-9]*\).*/\1/p' report.json)
[ -n "$rows" ] && [ "$rows" -gt 0 ] || fail "the report's row total"

# The same data directory (its key file and audit key) on the target.
export CUSTOS_STORE="$URL"
"$CUSTOS" record get --purpose support --tenant "$T" "$RA" >ra.json || fail "Ada's record"
grep -q '"note":[[:space:]]*"Ada moved house"' ra.json || fail "Ada's note"
grep -q '"ssn":[[:space:]]*"123-45-6789"' ra.json || fail "Ada's sealed field"
"$CUSTOS" record get --purpose support --tenant "$T" "$RD" | grep -q '"note":[[:space:]]*"desk note"' ||
    fail "the desk note"
expect_exit 3 "$CUSTOS" record get --purpose support --tenant "$T" "$RB"
"$CUSTOS" record find --purpose support --tenant "$T" --collection notes --field ssn \
    --value 123-45-6789 | grep -q "$RA" || fail "the blind index"
"$CUSTOS" audit verify --tenant "$T" >v.json || fail "the tenant's chain: $(cat v.json)"
grep -q '"ok":[[:space:]]*true' v.json || fail "the tenant's chain"
"$CUSTOS" audit verify >v.json || fail "the platform's chain: $(cat v.json)"
grep -q '"ok":[[:space:]]*true' v.json || fail "the platform's chain"
# The migration is not on the vault's log as a read of anything: the copy decrypts nothing.
entries=$("$CUSTOS" audit list --tenant "$T" | grep -c '"action"' || true)
"$CUSTOS" record put --purpose support --tenant "$T" --collection notes --subject "$A" \
    '{"note":"written after the move"}' | id_of | grep -q . || fail "a write after the move"
"$CUSTOS" audit verify --tenant "$T" | grep -q '"ok":[[:space:]]*true' || fail "the chain after a write"
after=$("$CUSTOS" audit list --tenant "$T" | grep -c '"action"' || true)
[ "$after" -gt "$entries" ] || fail "the write's entry"

# Again into a database that now holds a vault: refused, the vault as it was.
unset CUSTOS_STORE
set +e; "$CUSTOS" migrate --from sqlite:custos-data --to "$URL" >out.txt 2>err.txt; got=$?; set -e
[ "$got" -ne 0 ] || fail "a target holding a vault was written"
n=$(CUSTOS_STORE=$URL store_sql "SELECT count(*) FROM records")
[ "$n" -eq $((r0 + 1)) ] || fail "the target holds $n records, want $((r0 + 1))"
echo "migrate: ok"
