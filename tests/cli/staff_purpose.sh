#!/bin/sh
# P-ACC-4 at the CLI: the operator reads a tenant's data only for a stated purpose from the
# list platform staff may state (the policy's operator purposes, or for a tenant without a
# policy support, investigation, monitoring, patch_validation, legal), decided by the core,
# and shows in the tenant's audit log as operator:cli:<unix user> with that purpose.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
cd "$dir"
store_begin

fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "No policy Ltd" | id_of)
P=$("$CUSTOS" tenant create "SCM customer" --policy scm | id_of)
[ -n "$T" ] && [ -n "$P" ] || fail "tenants"
"$CUSTOS" subject --help | grep -q -- "--purpose P" || fail "subject --help names --purpose"

# No purpose: a usage error, before the vault is opened.
expect_exit 2 "$CUSTOS" subject add --tenant "$T" --external-id ada
grep -q -- "--purpose is required" err.txt || fail "usage message"
expect_exit 2 "$CUSTOS" record get --tenant "$T" 1
expect_exit 2 "$CUSTOS" hold list --tenant "$T"

# Without a policy: the fixed list; "administration" is not on it.
expect_exit 4 "$CUSTOS" subject add --purpose administration --tenant "$T" --external-id ada
grep -q "forbidden" err.txt || fail "administration refused as forbidden"
S=$("$CUSTOS" subject add --purpose investigation --tenant "$T" --external-id ada | id_of)
[ -n "$S" ] || fail "subject for investigation"
"$CUSTOS" subject get --purpose legal --tenant "$T" "$S" | grep -q '"external_id"' || fail "get"
"$CUSTOS" hold list --purpose support --tenant "$T" >/dev/null || fail "hold list"

# With SCM's policy: its operator purposes (support, legal_disclosure) only.
expect_exit 4 "$CUSTOS" subject add --purpose analytics --tenant "$P" --external-id bo
grep -q "forbidden" err.txt || fail "a purpose staff may not state"
expect_exit 4 "$CUSTOS" subject add --purpose investigation --tenant "$P" --external-id bo
grep -q "unknown_purpose" err.txt || fail "a purpose the policy does not declare"
Q=$("$CUSTOS" subject add --purpose legal_disclosure --tenant "$P" --external-id bo | id_of)
[ -n "$Q" ] || fail "subject for legal_disclosure"

# The tenant's log shows who and why.
me=$(id -un)
"$CUSTOS" audit list --tenant "$T" --action subject.read >log.json
grep -q "\"actor\":[[:space:]]*\"operator:cli:$me\"" log.json || fail "actor: $(cat log.json)"
grep -q '"purpose":[[:space:]]*"legal"' log.json || fail "purpose: $(cat log.json)"
"$CUSTOS" audit list --tenant "$P" --actor "operator:cli:$me" --purpose legal_disclosure |
    grep -q '"seq"' || fail "policy tenant's log"
echo "staff purpose cli ok"
