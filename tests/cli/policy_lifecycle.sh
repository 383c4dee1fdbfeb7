#!/bin/sh
# A tenant's policy from the command line (docs/cli.md, docs/policy.md): a policy that does not
# validate creates nothing; a built-in one is bound at creation; its rules refuse with exit 4;
# terminated, the tenant is read-only, and the sweep purges and shreds it on time (P-RET-2).
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
num_of() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\([0-9]*\).*/\1/p" | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || { cat err.txt >&2; fail "$* exited $got, want $want"; }
}

export CUSTOS_NOW=2026-01-01
"$CUSTOS" init >/dev/null

# A policy with an error: named by file and line, and no tenant is made (one transaction).
sed 's/^minimum_age: 16$/minimum_age: sixteen/' "$OLDPWD/policies/scm.yaml" >bad.yaml
expect_exit 4 "$CUSTOS" tenant create "Bad Ltd" --policy ./bad.yaml
grep -q '^custos: invalid: ./bad.yaml:[0-9]*: ' err.txt || fail "error names the line: $(cat err.txt)"
"$CUSTOS" tenant list | grep -q '"Bad Ltd"' && fail "a tenant was made from a bad policy"

T=$("$CUSTOS" tenant create "SCM customer" --policy scm | id_of)
[ -n "$T" ] || fail "tenant id"
expect_exit 4 "$CUSTOS" subject add --purpose support --tenant "$T" --external-id teen --birth-date 2010-01-02
grep -q "under_age" err.txt || fail "under age: $(cat err.txt)"
S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id ada --birth-date 2010-01-01 | id_of)
[ -n "$S" ] || fail "subject id"
expect_exit 4 "$CUSTOS" record put --purpose support --tenant "$T" --collection scratch '{"a":1}'
"$CUSTOS" record put --purpose support --tenant "$T" --subject "$S" --collection contacts '{"name":"Ada"}' >/dev/null
"$CUSTOS" record put --purpose support --tenant "$T" --subject "$S" --collection access_logs '{"path":"/"}' >/dev/null

# A year and a day later the log entry has gone, the contact stays.
CUSTOS_NOW=2027-01-02 "$CUSTOS" sweep >out.txt
[ "$(num_of records_deleted <out.txt)" = 1 ] || fail "sweep: $(cat out.txt)"

CUSTOS_NOW=2027-01-02 "$CUSTOS" tenant terminate --tenant "$T" >out.txt
grep -q '"export_until":[[:space:]]*"2027-04-02T00:00:00Z"' out.txt || fail "terminate: $(cat out.txt)"
expect_exit 4 "$CUSTOS" tenant terminate --tenant "$T"
expect_exit 4 "$CUSTOS" record put --purpose support --tenant "$T" --subject "$S" --collection contacts '{"name":"x"}'
grep -q "tenant_terminated" err.txt || fail "read-only: $(cat err.txt)"

# A legal hold on Ada, placed in the export window (P-RET-5).
H=$("$CUSTOS" hold place --tenant "$T" --subject "$S" --reason "case 2027-4" | id_of)
[ -n "$H" ] || fail "hold id"
expect_exit 2 "$CUSTOS" hold place --tenant "$T"

# Day 89: still there. After day 90: purged, but Ada's contact is held, so nothing is shredded.
"$CUSTOS" sweep --now 2027-03-31 >out.txt
[ "$(num_of tenants_purged <out.txt)" = 0 ] || fail "purged too early: $(cat out.txt)"
"$CUSTOS" sweep --now 2027-04-03 >out.txt
[ "$(num_of tenants_purged <out.txt)" = 1 ] || fail "not purged: $(cat out.txt)"
[ "$(num_of records_held <out.txt)" = 1 ] || fail "hold ignored: $(cat out.txt)"
[ "$(num_of tenants_shredded <out.txt)" = 0 ] || fail "shredded under a hold: $(cat out.txt)"
"$CUSTOS" tenant list | grep -q '"state":[[:space:]]*"purged"' || fail "state"
expect_exit 3 "$CUSTOS" record put --purpose support --tenant "$T" --collection contacts '{"name":"x"}'

# The purged tenant's hold is still listed and released from here; then it is shredded.
"$CUSTOS" hold list --purpose support --tenant "$T" | grep -q '"reason":[[:space:]]*"case 2027-4"' || fail "hold list"
expect_exit 2 "$CUSTOS" hold release --tenant "$T" "$H"
"$CUSTOS" hold release --tenant "$T" "$H" --reason "case closed" >/dev/null
expect_exit 3 "$CUSTOS" hold release --tenant "$T" "$H" --reason "again"
"$CUSTOS" hold list --purpose support --tenant "$T" | grep -q '"release_reason":[[:space:]]*"case closed"' || fail "release reason"
"$CUSTOS" sweep --now 2027-04-04 >out.txt
[ "$(num_of records_deleted <out.txt)" = 1 ] || fail "held record kept: $(cat out.txt)"
[ "$(num_of tenants_shredded <out.txt)" = 1 ] || fail "not shredded: $(cat out.txt)"
"$CUSTOS" audit list --action tenant.shred | grep -q "\"tenant:$T\"" || fail "platform log"
echo ok
