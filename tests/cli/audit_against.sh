#!/bin/sh
# `custos audit verify --against FILE` (docs/audit.md, issue 18 item 3): the checkpoints a
# tenant exported and kept outside the vault catch a tail of the log that was cut in the
# database file together with the stored checkpoints, which the vault's own verify cannot see.
# And `--deep` checks every record against its latest write's digest (item 13).
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
cd "$dir"
store_begin

fail() { echo "FAIL: $*" >&2; cat out.txt err.txt >&2 2>/dev/null || true; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}

"$CUSTOS" audit verify --help | grep -q -- "--against FILE" || fail "verify --help"
expect_exit 2 "$CUSTOS" audit list --against held.json   # only verify takes it
"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Acme Ltd" | id_of)
for i in 1 2 3; do
    "$CUSTOS" record put --purpose support --tenant "$T" --collection notes "{\"n\":$i}" >/dev/null
done
"$CUSTOS" audit checkpoint --tenant "$T" >one.json
"$CUSTOS" audit checkpoints --tenant "$T" >held.json
expect_exit 0 "$CUSTOS" audit verify --tenant "$T" --against held.json
# Every command signed its tail when it closed the vault, so each is held.
N=$(grep -o '"seq"' held.json | wc -l)
[ "$N" -ge 4 ] || fail "only $N checkpoints exported"
grep -q "\"held\":[[:space:]]*$N" out.txt || fail "held counted"
expect_exit 0 "$CUSTOS" audit verify --tenant "$T" --against one.json
expect_exit 0 "$CUSTOS" audit verify --tenant "$T" --deep
grep -q '"records":[[:space:]]*3' out.txt || fail "records checked deep"
expect_exit 2 "$CUSTOS" audit list --deep
echo '{"nothing":1}' >bad.json
expect_exit 2 "$CUSTOS" audit verify --tenant "$T" --against bad.json
expect_exit 3 "$CUSTOS" audit verify --tenant "$T" --against no-such-file.json

# Cut the newest entries and every stored checkpoint in the database file.
SEQ=$(sed -n 's/.*"seq":[[:space:]]*"\([0-9]*\)".*/\1/p' one.json | head -n 1)
[ -n "$SEQ" ] || fail "no seq in the checkpoint"
store_sql "DELETE FROM audit_log WHERE tenant_id != 0 AND seq >= $((SEQ - 1));
    DELETE FROM audit_checkpoints WHERE tenant_id != 0"
expect_exit 0 "$CUSTOS" audit verify --tenant "$T"     # the vault alone cannot tell
expect_exit 5 "$CUSTOS" audit verify --tenant "$T" --against held.json
grep -q 'held outside the vault' out.txt || fail "problem: $(cat out.txt)"
echo "audit verify --against ok"
