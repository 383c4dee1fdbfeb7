#!/bin/sh
# `custos key rotate --tenant T --data-key` and `custos key reencrypt` (docs/cli.md, docs/keys.md):
# a new data key version, every value sealed again under it, the old version destroyed, and
# every record still readable; a pass killed half-way is finished by the server's background
# pass.
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
num() { tr -d ' \t\n' <out.txt | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Acme Ltd" | id_of)
R1=$("$CUSTOS" record put --purpose support --tenant "$T" --collection notes '{"text":"one"}' | id_of)
R2=$("$CUSTOS" record put --purpose support --tenant "$T" --collection notes '{"text":"two"}' | id_of)
[ -n "$R1" ] && [ -n "$R2" ] || fail "records"
"$CUSTOS" key rotate --tenant "$T" --data-key >out.txt
[ "$(num version)" = 2 ] || fail "data key version: $(cat out.txt)"
[ "$(num records)" = 2 ] || fail "records re-encrypted: $(cat out.txt)"
[ "$(num destroyed)" = 1 ] || fail "old version destroyed: $(cat out.txt)"
[ "$(num remaining)" = 0 ] || fail "remaining: $(cat out.txt)"
"$CUSTOS" record get --purpose support --tenant "$T" "$R1" | grep -q '"one"' || fail "record 1 after rotation"
"$CUSTOS" record get --purpose support --tenant "$T" "$R2" | grep -q '"two"' || fail "record 2 after rotation"
"$CUSTOS" key reencrypt --tenant "$T" >out.txt
[ "$(num records)" = 0 ] && [ "$(num destroyed)" = 0 ] || fail "second pass: $(cat out.txt)"
set +e
"$CUSTOS" key rotate --data-key >out.txt 2>err.txt
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--data-key without --tenant exited $rc"

# A pass killed after its first batch is finished by the server's background pass.
i=0
while [ "$i" -lt 33 ]; do
    "$CUSTOS" record put --purpose support --tenant "$T" --collection notes "{\"text\":\"n$i\"}" >/dev/null
    i=$((i + 1))
done
set +e
CUSTOS_FAULT=reencrypt.batch_committed "$CUSTOS" key rotate --tenant "$T" --data-key >out.txt 2>&1
rc=$?
set -e
[ "$rc" -eq 70 ] || fail "the fault point did not fire ($rc)"
"$CUSTOS" serve --port 0 --quiet --sweep-interval 1 >srv.txt 2>srv_err.txt &
pid=$!
i=0
until grep -q '"destroyed":1' srv_err.txt 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 300 ] || { kill -9 "$pid"; fail "no background pass"; }; sleep 0.1
done
kill -TERM "$pid"
wait "$pid" || fail "server exit status"
"$CUSTOS" key reencrypt --tenant "$T" >out.txt
[ "$(num version)" = 3 ] && [ "$(num records)" = 0 ] && [ "$(num destroyed)" = 0 ] ||
    fail "after the background pass: $(cat out.txt)"
"$CUSTOS" record get --purpose support --tenant "$T" "$R1" | grep -q '"one"' || fail "record 1 at the end"
echo ok
