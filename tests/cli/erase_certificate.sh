#!/bin/sh
# P-DSR-4, P-RET-4 (issue 10, item 4): `custos subject erase` under SCM's policy keeps the
# account record the law keeps (for purposes of legal obligation only), deletes the contact,
# and prints the signed erasure certificate; `custos audit verify-certificate` accepts it
# (exit 0), whole or as its "certificate" member, and refuses an altered copy (exit 5) or a
# file that holds none (exit 4).
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
POLICY=${POLICY:-$PWD/policies/scm.yaml}
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
cd "$dir"
store_begin
fail() { echo "FAIL: $*" >&2; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }
expect_exit() {
    want=$1
    shift
    set +e
    "$@" >out.txt 2>err.txt
    got=$?
    set -e
    [ "$got" -eq "$want" ] || fail "exit $got, not $want: $*"
}

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "SCM customer" --policy "$POLICY" | id_of)
S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id erin --email erin@example.org | id_of)
A=$(echo '{"name":"Erin","email":"erin@example.org","company":"Acme"}' |
    "$CUSTOS" record put --purpose support --tenant "$T" --collection accounts --subject "$S" - | id_of)
C=$(echo '{"name":"Erin","email":"erin@example.org"}' |
    "$CUSTOS" record put --purpose support --tenant "$T" --collection contacts --subject "$S" - | id_of)
[ -n "$A" ] && [ -n "$C" ] || fail "records"

"$CUSTOS" subject erase --purpose support --tenant "$T" "$S" >answer.json
grep -q '"erased":[[:space:]]*true' answer.json || fail "erased"
grep -q '"type":[[:space:]]*"custos.erasure_certificate/1"' answer.json || fail "certificate"
grep -q '"purpose":[[:space:]]*"legal_compliance"' answer.json || fail "why"
grep -q "\"$A\"" answer.json || fail "what is kept"
if grep -q 'erin@example.org\|Erin' answer.json; then fail "a personal value in the certificate"; fi

# Kept for a legal obligation only; the contact is gone.
"$CUSTOS" record get --purpose legal_disclosure --tenant "$T" "$A" | grep -q '"company":[[:space:]]*"Acme"' ||
    fail "kept record for legal_disclosure"
expect_exit 3 "$CUSTOS" record get --purpose support --tenant "$T" "$A"
expect_exit 3 "$CUSTOS" record get --purpose support --tenant "$T" "$C"

expect_exit 0 "$CUSTOS" audit verify-certificate answer.json
grep -q '"ok":[[:space:]]*true' out.txt || fail "verifies"
sed -n '/"certificate":/,$p' answer.json | sed '1s/.*"certificate":[[:space:]]*//; $d' >cert.json
expect_exit 0 "$CUSTOS" audit verify-certificate cert.json
# One more record erased than there was: altered, refused.
sed 's/"records":\([[:space:]]*\)1,/"records":\12,/' answer.json >altered.json
cmp -s answer.json altered.json && fail "nothing altered"
expect_exit 5 "$CUSTOS" audit verify-certificate altered.json
grep -q '"ok":[[:space:]]*false' out.txt || fail "altered refused"
echo '{"id":"1"}' >none.json
expect_exit 4 "$CUSTOS" audit verify-certificate none.json
expect_exit 2 "$CUSTOS" audit verify-certificate
echo "erase_certificate: ok"
