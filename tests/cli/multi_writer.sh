#!/bin/sh
# Several writers on one database (docs/store.md, Several writers) with the sanitized binary:
# two CLI processes write records for one tenant at the same time, and `custos audit verify`
# finds one valid chain holding every write (P-AUD-1, P-AUD-2). A SQLite vault admits one
# process at a time (its flock); CUSTOS_TEST_SHARED_DB=1, honoured by test builds alone, lets
# both in, as several servers share one PostgreSQL database.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
pa=""
pb=""
cleanup() {
    for p in $pa $pb; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    store_end
    rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
store_begin

fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Shared Ltd" | id_of)
[ -n "$T" ] || fail "setup"

N=12
writer() { # writer NAME: N records, one process each, as fast as they come
    i=0
    while [ "$i" -lt "$N" ]; do
        CUSTOS_TEST_SHARED_DB=1 "$CUSTOS" record put --purpose support --tenant "$T" \
            --collection notes "{\"note\":\"$1 $i\"}" >/dev/null 2>>"err_$1.txt" || return 1
        i=$((i + 1))
    done
}
writer a &
pa=$!
writer b &
pb=$!
wait "$pa" || { cat err_a.txt >&2; fail "writer a"; }
wait "$pb" || { cat err_b.txt >&2; fail "writer b"; }

"$CUSTOS" audit verify --tenant "$T" >out.txt 2>err.txt || fail "verify exited $?"
grep -q '"ok":[[:space:]]*true' out.txt || fail "verify: $(cat out.txt)"
"$CUSTOS" audit list --tenant "$T" --action record.create --limit 1000 >list.json
got=$(grep -c '"seq"' list.json || true)
[ "$got" -eq $((2 * N)) ] || fail "$got record.create entries, want $((2 * N))"
echo "ok: two writers, one chain of $((2 * N)) writes"
