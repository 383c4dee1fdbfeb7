#!/bin/sh
# `custos audit` against the sanitized binary (docs/cli.md, docs/audit.md): --help on every
# verb, list with filters and the cursor, verify (exit 0, then 5 once an entry is edited in the
# database file), checkpoints and their export, the platform's log, prune with its signed
# anchor. Then, when python3 has the `cryptography` package, the verifier printed in
# docs/audit.md runs against a live server: ok, and after the log is cut on disk, the
# checkpoint kept outside catches it although the server's own verify cannot.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
DOC="$PWD/docs/audit.md"
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; store_end; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
store_begin

fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}
count() { grep -c "$1" "$2" || true; }

for v in verify list checkpoint checkpoints prune; do
    "$CUSTOS" audit "$v" --help | grep -q "^usage: custos audit $v" || fail "audit $v --help"
done
"$CUSTOS" audit --help | grep -q "^usage: custos audit verify" || fail "audit --help"
"$CUSTOS" --help | grep -q "audit verify" || fail "custos --help names audit"
expect_exit 2 "$CUSTOS" audit
expect_exit 2 "$CUSTOS" audit frobnicate
expect_exit 2 "$CUSTOS" audit verify --action record.read  # only list filters
expect_exit 2 "$CUSTOS" audit prune                        # needs --before
expect_exit 2 "$CUSTOS" audit prune --before yesterday
expect_exit 2 "$CUSTOS" audit list --limit 0
expect_exit 2 "$CUSTOS" audit list --tenant x
expect_exit 2 "$CUSTOS" audit list --object-prefix ""

# The settable clock of test builds (CUSTOS_NOW), never a sleep: every entry below is at T0.
T0=1767225600
export CUSTOS_NOW=$T0
"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Acme Ltd" | id_of)
S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id crm-audit-1 --email ada.audit@example.org | id_of)
R=$("$CUSTOS" record put --purpose support --tenant "$T" --collection notes --subject "$S" '{"note":"a note of Ada"}' | id_of)
[ -n "$T" ] && [ -n "$S" ] && [ -n "$R" ] || fail "setup"
"$CUSTOS" record get --purpose support --tenant "$T" "$R" >/dev/null

# The log names the operator at the CLI (P-ACC-4), the actions and the ids; never the values.
"$CUSTOS" audit list --tenant "$T" >list.json
grep -q '"action":[[:space:]]*"record.read"' list.json || fail "no record.read"
grep -q "\"actor\":[[:space:]]*\"operator:cli:$(id -un)\"" list.json || fail "no operator:cli actor"
grep -q "\"object\":[[:space:]]*\"record:$R\"" list.json || fail "no record object"
for v in ada.audit@example.org "a note of Ada" crm-audit-1; do
    if grep -qF "$v" list.json; then fail "value $v in the log"; fi
done
"$CUSTOS" audit list --tenant "$T" --action record.create --object "record:$R" >one.json
[ "$(count '"seq"' one.json)" -eq 1 ] || fail "filters"
"$CUSTOS" audit list --tenant "$T" --object-prefix "record:" >prefix.json
[ "$(count '"seq"' prefix.json)" -eq 2 ] || fail "--object-prefix: the record's two entries"
[ "$(count '"object":[[:space:]]*"record:' prefix.json)" -eq 2 ] || fail "--object-prefix"
"$CUSTOS" audit list --tenant "$T" --limit 1 | grep -q '"next":[[:space:]]*"1"' || fail "next"
"$CUSTOS" audit list --tenant "$T" --after 1 --limit 1 | grep -q '"seq":[[:space:]]*"2"' ||
    fail "after"
"$CUSTOS" audit list --tenant "$T" --to 1 | grep -q '"entries":[[:space:]]*\[\]' || fail "--to"
"$CUSTOS" audit list --tenant "$T" --from 2020-01-01 --purpose support >range.json
[ "$(count '"seq"' range.json)" -ge 3 ] || fail "--from"
expect_exit 3 "$CUSTOS" audit list --tenant 12345

expect_exit 0 "$CUSTOS" audit verify --tenant "$T"
grep -q '"ok":[[:space:]]*true' out.txt || fail "verify ok"
"$CUSTOS" audit checkpoint --tenant "$T" | grep -q '"signature":[[:space:]]*"[0-9a-f]\{128\}"' ||
    fail "checkpoint"
"$CUSTOS" audit checkpoints --tenant "$T" >export.json
grep -q '"public_key":[[:space:]]*"[0-9a-f]\{64\}"' export.json || fail "export key"
grep -q '"algorithm":[[:space:]]*"Ed25519"' export.json || fail "export algorithm"

# The platform's own log holds the tenant's creation.
"$CUSTOS" audit list --action tenant.create | grep -q "\"object\":[[:space:]]*\"tenant:$T\"" ||
    fail "platform log"
expect_exit 0 "$CUSTOS" audit verify

# An entry edited in the database file: exit 5 and the seq named; put back, ok again.
store_sql \
    "UPDATE audit_log SET purpose = 'nothing' WHERE object = 'record:$R' AND action = 'record.read'"
expect_exit 5 "$CUSTOS" audit verify --tenant "$T"
grep -q '"ok":[[:space:]]*false' out.txt || fail "verify not ok"
grep -q 'was altered' out.txt || fail "problem"
store_sql \
    "UPDATE audit_log SET purpose = 'support' WHERE object = 'record:$R' AND action = 'record.read'"
expect_exit 0 "$CUSTOS" audit verify --tenant "$T"

# Prune everything so far: the anchor keeps the rest verifiable.
expect_exit 3 "$CUSTOS" audit prune --tenant 12345 --before 2020-01-01
"$CUSTOS" audit prune --tenant "$T" --before 2020-01-01 | grep -q '"pruned_through":[[:space:]]*null' ||
    fail "prune nothing"
export CUSTOS_NOW=$((T0 + 1))
"$CUSTOS" audit prune --tenant "$T" --before "$(((T0 + 1) * 1000))" >prune.json
grep -q '"pruned_through":[[:space:]]*"[0-9]*"' prune.json || fail "prune"
"$CUSTOS" audit list --tenant "$T" | grep -q '"action":[[:space:]]*"record.read"' && fail "not pruned"
expect_exit 0 "$CUSTOS" audit verify --tenant "$T"
unset CUSTOS_NOW

# --- the verifier of docs/audit.md, when python3 can run it --------------------------------
if ! python3 -c 'import cryptography' 2>/dev/null; then
    echo "audit cli ok (python3 cryptography missing: the docs' verifier was not run)"
    exit 0
fi
sed -n '/^```python$/,/^```$/p' "$DOC" | sed '1d;$d' >verify_audit.py
[ -s verify_audit.py ] || fail "no python block in docs/audit.md"
mkdir srv && cd srv
store_next
start() { # out.txt goes first: a restart must not read the last run's "listening on"
    rm -f out.txt
    "$CUSTOS" serve --port 0 >out.txt 2>>err.txt &
    pid=$!
    i=0
    until grep -q "listening on" out.txt 2>/dev/null; do
        i=$((i + 1)); [ "$i" -lt 300 ] || fail "server did not start"; sleep 0.1
    done
    U=$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' out.txt)
}
stop() { kill -TERM "$pid"; wait "$pid" || fail "server exit status $?"; pid=""; }
api() { curl -s --cacert custos-data/tls-cert.pem -H 'Content-Type: application/json' "$@"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
start
OP=$(sed -n 's/.*keep it safe): //p' out.txt)
t=$(api "$U/v1/tenants" -H "Authorization: Bearer $OP" -d '{"name":"Acme Ltd"}')
T=$(echo "$t" | sed -n 's/^{"id":"\([0-9]*\)".*/\1/p')
K=$(echo "$t" | field secret)
for i in 1 2 3; do
    api "$U/v1/tenants/$T/subjects" -H "Authorization: Bearer $K" -H "Custos-Purpose: support" \
        -d "{\"external_id\":\"crm-$i\"}" | grep -q '"id"' || fail "subject $i"
done
api -X POST "$U/v1/tenants/$T/audit/checkpoints" -H "Authorization: Bearer $K" >ckpt.json
SEQ=$(field seq <ckpt.json)
PK=$(api "$U/v1/tenants/$T/audit/checkpoints" -H "Authorization: Bearer $K" | field public_key)
[ -n "$SEQ" ] && [ -n "$PK" ] || fail "checkpoint over HTTPS"
python3 ../verify_audit.py "$U" "$T" "$K" custos-data/tls-cert.pem "$PK" ckpt.json >py.txt ||
    fail "the docs' verifier: $(cat py.txt)"
grep -qx ok py.txt || fail "verifier said $(cat py.txt)"
# Cut the log and the stored checkpoints on disk: the server's verify cannot tell; the
# checkpoint kept outside does.
stop
store_sql "DELETE FROM audit_checkpoints WHERE tenant_id =
    (SELECT tenant_id FROM audit_log WHERE object = 'tenant:$T' AND tenant_id != 0);
    DELETE FROM audit_log WHERE seq >= $((SEQ - 1)) AND tenant_id =
    (SELECT tenant_id FROM audit_log WHERE object = 'tenant:$T' AND tenant_id != 0)"
start
api "$U/v1/tenants/$T/audit/verify" -H "Authorization: Bearer $K" | grep -q '"ok":true' ||
    fail "the server's verify should not see this cut"
if python3 ../verify_audit.py "$U" "$T" "$K" custos-data/tls-cert.pem "$PK" ckpt.json >py.txt; then
    fail "the docs' verifier missed the cut"
fi
grep -q "before a held checkpoint\|differs from its held checkpoint" py.txt ||
    fail "verifier said $(cat py.txt)"
stop
echo "audit cli ok"
