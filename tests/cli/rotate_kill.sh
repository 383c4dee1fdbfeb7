#!/bin/sh
# P-ENC-5: `custos key rotate` killed with SIGKILL at random moments, 25 times: after every
# kill the vault opens and every record, of every tenant, is readable.
# CUSTOS must be a test build (tests/run.sh passes build/test/custos): the last rotation sets
# the test builds' clock (CUSTOS_NOW), which a release build ignores.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
cd "$dir"
store_begin
fail() { echo "FAIL: $*" >&2; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }

"$CUSTOS" init >/dev/null
records=""
for t in 1 2 3 4; do
    T=$("$CUSTOS" tenant create "tenant $t" | id_of)
    S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id "s$t" | id_of)
    R=$("$CUSTOS" record put --purpose support --tenant "$T" --collection notes --subject "$S" "{\"n\":$t}" | id_of)
    records="$records $T:$R"
done
i=0
while [ "$i" -lt 25 ]; do
    "$CUSTOS" key rotate >/dev/null 2>&1 &
    pid=$!
    # Up to ~60 ms: spans opening, writing the key file, the commit and the final rewrite.
    sleep "0.0$(awk -v s="$i" 'BEGIN { srand(s); printf "%02d", int(rand() * 60) }')"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for tr in $records; do
        "$CUSTOS" record get --purpose support --tenant "${tr%%:*}" "${tr##*:}" >/dev/null ||
            fail "record ${tr##*:} unreadable after kill $i"
    done
    i=$((i + 1))
done
# A rotation killed inside its lease leaves it taken: on SQLite the next process frees it at
# open; on PostgreSQL it is free once the killed process's connections are gone and 10 s have
# passed since its last renewal (docs/store.md). The settable clock of test builds moves past
# those 10 s, not past the lease's 600.
CUSTOS_NOW=$(($(date +%s) + 15)) "$CUSTOS" key rotate >/dev/null || fail "rotation after the kills"
# Every version but the current one is marked retired (key epochs destroy them later).
[ $(($(grep -c '^key ' custos-data/master.key) - $(grep -c '^retired ' custos-data/master.key))) \
    -eq 1 ] || fail "old versions retired"
for tr in $records; do
    "$CUSTOS" record get --purpose support --tenant "${tr%%:*}" "${tr##*:}" >/dev/null || fail "final read"
done
echo "rotate_kill ok"
