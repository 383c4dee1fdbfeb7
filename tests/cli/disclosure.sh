#!/bin/sh
# Disclosures at the CLI (`custos disclosure`, docs/cli.md, P-SHR-1): Optymyze's consulting
# partners get an employee's records for implementation, which its policy lists; an unlisted
# recipient and a category the partner is not listed for exit 4 (recipient_not_listed) and
# leave nothing; list shows the rows, of one subject too.
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
P="consulting partners (not named in the seed)"

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Optymyze client" --policy optymyze | id_of)
S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id emp-1 | id_of)
[ -n "$T" ] && [ -n "$S" ] || fail "tenant and subject"
"$CUSTOS" disclosure --help | grep -q "recipient_not_listed" || fail "help"
expect_exit 2 "$CUSTOS" disclosure add --tenant "$T" --purpose implementation --subject "$S"
expect_exit 4 "$CUSTOS" disclosure add --tenant "$T" --recipient "Acme Data Brokers" \
    --purpose implementation --subject "$S" --category employee_records
grep -q "recipient_not_listed" err.txt || fail "the code names the refusal"
expect_exit 4 "$CUSTOS" disclosure add --tenant "$T" --recipient "$P" \
    --purpose implementation --subject "$S" --category client_users
"$CUSTOS" disclosure list --tenant "$T" >list.txt
grep -q '"recipient"' list.txt && fail "a refused disclosure leaves nothing"
D=$("$CUSTOS" disclosure add --tenant "$T" --recipient "$P" --purpose implementation \
    --subject "$S" --category employee_records --category compensation --reference SOW-7 | id_of)
[ -n "$D" ] || fail "disclosed"
"$CUSTOS" disclosure list --tenant "$T" --subject "$S" >list.txt
grep -q "\"$D\"" list.txt || fail "listed for the subject"
grep -q '"recipient_kind":[[:space:]]*"partner"' list.txt || fail "its kind"
grep -q '"compensation"' list.txt || fail "its categories"
expect_exit 2 "$CUSTOS" disclosure list --tenant "$T" --limit 0
echo "disclosure cli: ok"
