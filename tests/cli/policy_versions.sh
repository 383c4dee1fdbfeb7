#!/bin/sh
# Policy versions from the command line (docs/policy.md, P-NOT-1, P-NOT-2, P-CON-5):
# `policy check --against OLD NEW` prints the diff and whether it is material; a material
# version bound to a tenant is pending until its notice has passed, shown by `policy pending`
# and withdrawn by `policy withdraw`; a narrowing one takes effect at once.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
pol="$PWD/policies"
cd "$dir"
store_begin

fail() { echo "FAIL: $*" >&2; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || { cat err.txt >&2; fail "$* exited $got, want $want"; }
}
flat() { tr -d ' \t\n' <out.txt; }

# The diff, no vault needed. A new purpose is material: 30 days' notice under SCM.
sed 's/^purposes:$/purposes:\n  newsletter:\n    data_use: marketing.communications.email\n    basis: consent\n    categories: [account]/' \
    "$pol/scm.yaml" >wider.yaml
"$CUSTOS" policy check --against "$pol/scm.yaml" wider.yaml >out.txt
flat | grep -q '"material":true' || fail "material: $(cat out.txt)"
flat | grep -q 'purposenewsletteradded' || fail "diff names the purpose: $(cat out.txt)"
flat | grep -q '"notice_days":30' || fail "notice: $(cat out.txt)"
# A shorter retention narrows: at once.
sed 's/^minimum_age: 16$/minimum_age: 18/' "$pol/scm.yaml" >narrower.yaml
"$CUSTOS" policy check --against "$pol/scm.yaml" narrower.yaml >out.txt
flat | grep -q '"material":false' || fail "narrowing: $(cat out.txt)"
flat | grep -q '"notice_days":0' || fail "at once: $(cat out.txt)"
# A never-promise dropped: material, fresh consent for every purpose (P-CON-5).
sed 's/^never: \[sale, advertising, cross_customer\]$/never: [advertising, cross_customer]/' \
    "$pol/scm.yaml" >nosale.yaml
"$CUSTOS" policy check --against "$pol/scm.yaml" nosale.yaml >out.txt
flat | grep -q '"purposes_changed":\["\*"\]' || fail "every purpose: $(cat out.txt)"
flat | grep -q '"fresh_consent":true' || fail "fresh consent: $(cat out.txt)"
# A purpose that sells data is refused under a seed policy (P-CON-5).
sed 's/^purposes:$/purposes:\n  resale:\n    data_use: marketing.advertising.third_party\n    basis: consent\n    categories: [account]/' \
    "$pol/scm.yaml" >sale.yaml
expect_exit 4 "$CUSTOS" policy check sale.yaml
grep -q 'never: sale (P-CON-5)' err.txt || fail "sale refused: $(cat err.txt)"

# A tenant's versions.
export CUSTOS_NOW=2026-01-01
"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "SCM customer" --policy scm | id_of)
[ -n "$T" ] || fail "tenant id"
expect_exit 3 "$CUSTOS" policy pending --tenant "$T"
"$CUSTOS" tenant policy --tenant "$T" wider.yaml >/dev/null
"$CUSTOS" policy pending --tenant "$T" >out.txt
flat | grep -q '"version":2,"version_in_force":1,"effective_at":"2026-01-31T00:00:00Z"' ||
    fail "pending: $(cat out.txt)"
expect_exit 4 "$CUSTOS" tenant policy --tenant "$T" narrower.yaml
"$CUSTOS" policy withdraw --tenant "$T" >out.txt
flat | grep -q '"withdrawn":2' || fail "withdraw: $(cat out.txt)"
expect_exit 3 "$CUSTOS" policy withdraw --tenant "$T"
# Narrowing: in force at once, nothing pending.
"$CUSTOS" tenant policy --tenant "$T" narrower.yaml >/dev/null
expect_exit 3 "$CUSTOS" policy pending --tenant "$T"
"$CUSTOS" policy fresh --tenant "$T" >out.txt
flat | grep -q '"subjects":\[\]' || fail "fresh: $(cat out.txt)"
expect_exit 2 "$CUSTOS" policy pending
echo "policy versions: ok"
