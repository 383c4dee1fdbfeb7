#!/bin/sh
# The README's five-minute tour, run against the sanitized custos binary: every command's
# output and exit code as documented (docs/cli.md).
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
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || { cat err.txt >&2; fail "$* exited $got, want $want"; }
}

"$CUSTOS" --help | grep -q "custos COMMAND" || fail "--help"
for c in init tenant subject collection record key; do
    "$CUSTOS" "$c" --help | grep -q "^usage: custos $c" || fail "$c --help"
done
expect_exit 2 "$CUSTOS" frobnicate
expect_exit 3 "$CUSTOS" tenant list          # no vault yet

"$CUSTOS" init >out.txt
[ "$(stat -c %a custos-data)" = 700 ] || fail "data dir mode"
[ "$(stat -c %a custos-data/master.key)" = 600 ] || fail "key file mode"
expect_exit 4 "$CUSTOS" init                 # already a vault

T=$("$CUSTOS" tenant create "Acme Ltd" | id_of)
[ -n "$T" ] || fail "tenant id"
"$CUSTOS" tenant list | grep -q '"Acme Ltd"' || fail "tenant list"

S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id crm-42 --email Ada@Example.com \
    --phone "+44 20 7946 0958" --birth-date 1990-02-03 | id_of)
[ -n "$S" ] || fail "subject id"
"$CUSTOS" subject get --purpose support --tenant "$T" "$S" | grep -q '"email":[[:space:]]*"Ada@Example.com"' ||
    fail "subject get"
"$CUSTOS" subject find --purpose support --tenant "$T" --email " ada@example.COM" | grep -q "\"$S\"" ||
    fail "subject find by email"
"$CUSTOS" subject find --purpose support --tenant "$T" --phone "+442079460958" | grep -q "\"$S\"" ||
    fail "subject find by phone"
expect_exit 4 "$CUSTOS" subject add --purpose support --tenant "$T" --external-id crm-42
expect_exit 4 "$CUSTOS" subject add --purpose support --tenant "$T" --external-id x --birth-date 1990-13-01

"$CUSTOS" collection define --tenant "$T" employees --sensitive ssn,salary --indexed email \
    --forbidden iban >/dev/null
R=$(echo '{"name":"Ada","ssn":"123-45-6789","salary":85000,"email":"ada@example.com"}' |
    "$CUSTOS" record put --purpose support --tenant "$T" --collection employees --subject "$S" - | id_of)
[ -n "$R" ] || fail "record id"
"$CUSTOS" record get --purpose support --tenant "$T" "$R" | grep -q '"ssn":[[:space:]]*"123-45-6789"' ||
    fail "record get"
"$CUSTOS" record find --purpose support --tenant "$T" --collection employees --field ssn --value 123-45-6789 |
    grep -q "\"$R\"" || fail "record find"
"$CUSTOS" record list --purpose support --tenant "$T" --subject "$S" | grep -q "\"$R\"" || fail "record list"
expect_exit 4 "$CUSTOS" record put --purpose support --tenant "$T" --collection employees '{"iban":"DE89"}'
grep -q "forbidden_field" err.txt || fail "forbidden field error code"
expect_exit 4 "$CUSTOS" record put --purpose support --tenant "$T" --collection notes '{"card":"4111111111111111"}'
expect_exit 4 "$CUSTOS" record put --purpose support --tenant "$T" --collection notes '{"a":1,"a":2}'
grep -q "invalid JSON at byte" err.txt || fail "json error offset"
expect_exit 2 "$CUSTOS" record get --purpose support --tenant "$T" not-a-number
expect_exit 3 "$CUSTOS" record get --purpose support --tenant "$T" 12345
"$CUSTOS" record update --purpose support --tenant "$T" "$R" '{"name":"Ada L.","ssn":"123-45-6789"}' >/dev/null
"$CUSTOS" record get --purpose support --tenant "$T" "$R" | grep -q '"Ada L."' || fail "record update"

# Rotation leaves everything readable; the key file keeps the old version, marked retired
# (destroyed by `key retire` once the backup window has passed, docs/keys.md).
"$CUSTOS" key rotate | grep -q '"version":[[:space:]]*2' || fail "master rotate"
"$CUSTOS" key rotate --tenant "$T" | grep -q '"key":[[:space:]]*"tenant"' || fail "tenant rotate"
"$CUSTOS" record get --purpose support --tenant "$T" "$R" | grep -q '"Ada L."' || fail "read after rotation"
grep -q '^retired 1 ' custos-data/master.key || fail "old master version retired"
"$CUSTOS" key status | grep -q '"state":[[:space:]]*"retired"' || fail "key status"

# The key file must be private.
chmod 644 custos-data/master.key
expect_exit 5 "$CUSTOS" tenant list
grep -q "insecure_permissions" err.txt || fail "permissions error code"
chmod 600 custos-data/master.key

# Erasure: the subject and its records are gone.
"$CUSTOS" subject erase --purpose support --tenant "$T" "$S" | grep -q '"erased":[[:space:]]*true' || fail "erase"
expect_exit 3 "$CUSTOS" subject get --purpose support --tenant "$T" "$S"
expect_exit 3 "$CUSTOS" record get --purpose support --tenant "$T" "$R"

# No personal value of the tour is in the database files in clear.
store_in_clear "Acme Ltd" || fail "the search finds what is in clear"
for v in Ada@Example.com ada@example.com 123-45-6789 crm-42 1990-02-03 "Ada L."; do
    if store_in_clear "$v"; then
        fail "value $v found in clear"
    fi
done
echo "tour ok"
