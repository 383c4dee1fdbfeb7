#!/bin/sh
# Key epochs (P-RET-3, docs/keys.md): `custos serve --epoch-interval 1` with the key file outside
# the data directory rotates the master key after an erasure over the API, keeps the old version
# retired, and shows both in /metrics; `custos key retire` destroys it once the backup window has
# passed (the test build's CUSTOS_NOW). Stops the server by pid with SIGTERM.
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

mkdir -m 700 keys
export CUSTOS_KEY_FILE="$dir/keys/master.key"
"$CUSTOS" serve --port 0 --epoch-interval 1 >out.txt 2>err.txt &
pid=$!
i=0
until grep -q "listening on" out.txt 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 300 ] || fail "server did not start"; sleep 0.1
done
[ -f keys/master.key ] && [ ! -e custos-data/master.key ] || fail "key file outside the data"
U=$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' out.txt)
OP=$(sed -n 's/.*keep it safe): //p' out.txt)
api() { curl -s --cacert custos-data/tls-cert.pem -H 'Content-Type: application/json' "$@"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

t=$(api "$U/v1/tenants" -H "Authorization: Bearer $OP" -d '{"name":"Acme Ltd"}')
T=$(echo "$t" | sed -n 's/^{"id":"\([0-9]*\)".*/\1/p')
K=$(echo "$t" | field secret)
[ -n "$T" ] && [ -n "$K" ] || fail "tenant: $t"
S=$(api "$U/v1/tenants/$T/subjects" -H "Authorization: Bearer $K" -H "Custos-Purpose: support" \
    -d '{"external_id":"crm-42","email":"ada@example.com"}' | field id)
[ -n "$S" ] || fail "subject"
sleep 2
grep -q '^retired ' keys/master.key && fail "rotated without a deletion"
api -X DELETE "$U/v1/tenants/$T/subjects/$S" -H "Authorization: Bearer $K" \
    -H "Custos-Purpose: support" | grep -q '"erased":true' || fail "erase"
i=0
until grep -q '^retired 1 ' keys/master.key; do
    i=$((i + 1)); [ "$i" -lt 100 ] || fail "no key epoch after the erasure"; sleep 0.1
done
# The line is written after the key file: under load the file can be seen first.
i=0
until grep -q '"key_epoch":"ok","rotated":1,"version":2' err.txt; do
    i=$((i + 1)); [ "$i" -lt 100 ] || fail "epoch not logged"; sleep 0.1
done
m=$(api "$U/metrics" -H "Authorization: Bearer $OP")
echo "$m" | grep -q '^custos_master_key_version 2$' || fail "metrics: version"
echo "$m" | grep -q '^custos_master_key_retained_versions 1$' || fail "metrics: retained"
kill -TERM "$pid"
wait "$pid" || fail "server exit"
pid=""

"$CUSTOS" key status | grep -q '"state":[[:space:]]*"retired"' || fail "status: retired"
"$CUSTOS" key retire | grep -q '"destroyed":[[:space:]]*0' || fail "destroyed within the window"
CUSTOS_NOW=$(($(date +%s) + 31 * 86400)) "$CUSTOS" key retire >out.txt
grep -q '"destroyed":[[:space:]]*1' out.txt || fail "not destroyed after the window"
grep -q '^key 1 ' keys/master.key && fail "version 1 still in the key file"
"$CUSTOS" audit list --action key.destroy | grep -q '"master:1"' || fail "destruction audited"
echo "key_epochs ok"
