#!/bin/sh
# Breach incidents at the CLI (`custos incident`, P-BRE-1, docs/incidents.md): an incident
# scoped to the staff member who read one subject in the window finds exactly that subject
# (not the one added before the window and never read), its evidence intact, the authority's 72-hour deadline pending, met by a
# notice; a revoke without a key in scope is refused; input refused with the documented exit
# codes.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
cd "$dir"
store_begin

fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }
field() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Breached" | field id)
[ -n "$T" ] || fail "tenant"
READ=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id read-one | field id)
UNREAD=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id never-read | field id)
# The window starts after both were added (their creation is the same principal's change).
sleep 2
FROM=$(date -u +%Y-%m-%dT%H:%M:%SZ)
"$CUSTOS" subject get --purpose support --tenant "$T" "$READ" >/dev/null
ACTOR="operator:cli:$(id -un)"
"$CUSTOS" incident --help | grep -q "revoke" || fail "help names the verbs"
expect_exit 2 "$CUSTOS" incident open --tenant "$T"
expect_exit 4 "$CUSTOS" incident open --from 2020-01-01

"$CUSTOS" incident open --tenant "$T" --principal "$ACTOR" --from "$FROM" >open.txt
I=$(field id <open.txt)
[ -n "$I" ] || fail "opened"
grep -q '"state":[[:space:]]*"pending"' open.txt || fail "deadlines pending"
"$CUSTOS" incident report "$I" >report.txt
grep -q "$READ" report.txt || fail "the subject read is affected"
grep -q "$UNREAD" report.txt && fail "the subject never read is not"
grep -q '"intact":[[:space:]]*true' report.txt || fail "evidence intact"
"$CUSTOS" incident notice "$I" --kind authority --reference DPA-1 >notice.txt
grep -q '"state":[[:space:]]*"met"' notice.txt || fail "the notice meets the authority's deadline"
"$CUSTOS" incident list | grep -q "$I" || fail "listed"
expect_exit 4 "$CUSTOS" incident revoke "$I"
expect_exit 2 "$CUSTOS" incident notice "$I" --kind press --reference x
expect_exit 3 "$CUSTOS" incident show 123456789
"$CUSTOS" audit list --tenant "$T" --action incident.open | grep -q "incident:$I:" ||
    fail "the set's hash in the tenant's audit log"
echo "incident cli: ok"
