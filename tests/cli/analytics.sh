#!/bin/sh
# Aggregate analytics at the CLI (`custos analytics`, docs/cli.md, P-ANA-1): tickets of an SCM
# customer counted by status; the 3 escalated tickets' requesters are fewer than the policy's
# 10, so that group is not printed, nor the next smallest (complementary suppression); the
# personal subject line exits 4 field_not_aggregable; the budget is set and read.
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
n=0
tickets() { # tickets STATUS COUNT
    i=0
    while [ "$i" -lt "$2" ]; do
        n=$((n + 1)); i=$((i + 1))
        S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id "req-$n" | id_of)
        echo "{\"subject\":\"paper jam $n\",\"status\":\"$1\",\"priority\":\"low\"}" |
            "$CUSTOS" record put --purpose support --tenant "$T" --collection tickets \
                --subject "$S" - >/dev/null
    done
}

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "SCM customer" --policy scm | id_of)
[ -n "$T" ] || fail "tenant"
"$CUSTOS" analytics --help | grep -q "min_group_size" || fail "help"
tickets open 12
tickets closed 10
tickets escalated 3
"$CUSTOS" analytics query --tenant "$T" --collection tickets \
    --query '{"measures":[{"op":"count"}],"group_by":["status"]}' >out.txt
grep -q '"key":\["open"\],"values":\[12\]' out.txt || fail "open shown: $(cat out.txt)"
grep -q 'escalated' out.txt && fail "escalated suppressed"
grep -q 'closed' out.txt && fail "closed suppressed with it"
grep -q '"total":{"values":\[25\]}' out.txt || fail "the total: $(cat out.txt)"
grep -q 'paper jam' out.txt && fail "no value"
echo '{"measures":[{"op":"count"}],"group_by":["subject"]}' >q.json
expect_exit 4 "$CUSTOS" analytics query --tenant "$T" --collection tickets <q.json
grep -q "field_not_aggregable" err.txt || fail "the code names the refusal"
expect_exit 2 "$CUSTOS" analytics query --tenant "$T" --collection tickets --query '{}'
grep -q "invalid_query" err.txt || fail "a malformed query"
"$CUSTOS" analytics budget --tenant "$T" --set 2.5 >out.txt
grep -q '"epsilon":[[:space:]]*2.5' out.txt || fail "budget set: $(cat out.txt)"
"$CUSTOS" analytics query --tenant "$T" --collection tickets \
    --query '{"measures":[{"op":"count"}],"noise":{"epsilon":2}}' >/dev/null
"$CUSTOS" analytics budget --tenant "$T" >out.txt
grep -q '"remaining":[[:space:]]*0.5' out.txt || fail "budget spent: $(cat out.txt)"
expect_exit 4 "$CUSTOS" analytics query --tenant "$T" --collection tickets \
    --query '{"measures":[{"op":"count"}],"noise":{"epsilon":1}}'
grep -q "privacy_budget_spent" err.txt || fail "budget refused"
echo "analytics cli: ok"
