#!/bin/sh
# Data-subject requests at the CLI (`custos request`, docs/dsr.md): an administrator's request
# carried out (P-DSR-5), a subject's request verified by its token, extended once with a reason
# code (P-DSR-7), listed by what is open, and the request's document as the API prints it.
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
field() { sed -n "s/^[[:space:]]*\"$1\":[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "SCM customer" --policy scm | id_of)
S=$("$CUSTOS" subject add --purpose legal_disclosure --tenant "$T" --external-id ada | id_of)
[ -n "$T" ] && [ -n "$S" ] || fail "tenant and subject"
"$CUSTOS" request --help | grep -q "withdraw_consent" || fail "help names the types"
expect_exit 2 "$CUSTOS" request file --tenant "$T" --type forget --subject "$S"
expect_exit 2 "$CUSTOS" request file --tenant "$T" --type access

# An administrator's restriction, carried out at once.
R=$("$CUSTOS" request file --tenant "$T" --type restrict --subject "$S" | id_of)
[ -n "$R" ] || fail "file restrict"
expect_exit 4 "$CUSTOS" request complete --tenant "$T" "$R"
grep -q "conflict" err.txt || fail "complete before acknowledge is a conflict"
"$CUSTOS" request acknowledge --tenant "$T" "$R" | grep -q '"state":[[:space:]]*"acknowledged"' ||
    fail "acknowledge"
"$CUSTOS" request complete --tenant "$T" "$R" | grep -q '"state":[[:space:]]*"completed"' ||
    fail "complete"
"$CUSTOS" subject get --purpose legal_disclosure --tenant "$T" "$S" |
    grep -q '"restricted":[[:space:]]*true' || fail "restricted"

# A subject's access request: a token, verified once; the subject shows only after it.
"$CUSTOS" request file --tenant "$T" --type access --external-id ada >filed.json
A=$(id_of <filed.json)
K=$(field token <filed.json)
[ -n "$A" ] && [ ${#K} -eq 64 ] || fail "filed: $(cat filed.json)"
"$CUSTOS" request show --tenant "$T" "$A" | grep -q '"subject_id":[[:space:]]*null' ||
    fail "nothing shown before verification"
expect_exit 2 "$CUSTOS" request verify --tenant "$T" "$A" --token 00 extra
set +e; "$CUSTOS" request verify --tenant "$T" "$A" --token 00 >out.txt 2>err.txt; got=$?; set -e
[ "$got" -ne 0 ] || fail "a wrong token verifies"
"$CUSTOS" request verify --tenant "$T" "$A" --token "$K" | grep -q "\"subject_id\":[[:space:]]*\"$S\"" ||
    fail "verify"
"$CUSTOS" request acknowledge --tenant "$T" "$A" >/dev/null
expect_exit 2 "$CUSTOS" request extend --tenant "$T" "$A" --reason complex
"$CUSTOS" request extend --tenant "$T" "$A" --by 30d --reason complex |
    grep -q '"state":[[:space:]]*"extended"' || fail "extend"
expect_exit 4 "$CUSTOS" request extend --tenant "$T" "$A" --by 30d --reason complex
"$CUSTOS" request list --tenant "$T" --filter open | grep -q "\"$A\"" || fail "open list"
"$CUSTOS" request list --tenant "$T" --filter open | grep -q "\"$R\"" && fail "closed one listed open"
# The extended access request's answer (P-DSR-1, P-DSR-2): JSON, and CSV files in a zip, each
# written whole to --out; never over a file that is there.
"$CUSTOS" request export --tenant "$T" "$A" --out subject.json
grep -q '"records"' subject.json || fail "the JSON export"
"$CUSTOS" request export --tenant "$T" "$A" --format csv --out subject.zip
[ "$(head -c 2 subject.zip)" = "PK" ] || fail "the CSV export is a zip"
expect_exit 2 "$CUSTOS" request export --tenant "$T" "$A" --format xml --out other.json
[ ! -e other.json ] && [ ! -e other.json.partial ] || fail "a refused export left a file"
: >planted.partial
expect_exit 6 "$CUSTOS" request export --tenant "$T" "$A" --out planted
[ ! -s planted.partial ] && [ ! -e planted ] || fail "an export wrote through a planted file"
"$CUSTOS" request reject --tenant "$T" "$A" --reason duplicate | grep -q '"reason":[[:space:]]*"duplicate"' ||
    fail "reject"
"$CUSTOS" audit list --tenant "$T" --action request.reject | grep -q "request:$A:access:rejected:duplicate" ||
    fail "audited"
expect_exit 4 "$CUSTOS" request export --tenant "$T" "$A" --out late.json
[ ! -e late.json ] || fail "a closed request's export"

# Erasure under its request (P-DSR-4): completing it prints the signed certificate.
E=$("$CUSTOS" request file --tenant "$T" --type erase --subject "$S" | id_of)
"$CUSTOS" request acknowledge --tenant "$T" "$E" >/dev/null
"$CUSTOS" request complete --tenant "$T" "$E" >cert.json
grep -q '"signature"' cert.json || fail "no certificate: $(cat cert.json)"
"$CUSTOS" audit verify-certificate cert.json >/dev/null || fail "the certificate does not verify"
echo "request cli ok"
