#!/bin/sh
# Webhooks at the CLI (`custos webhook`, docs/webhooks.md): an endpoint added with its secret
# printed once (never listed), a webhook.test event in the outbox with its pending delivery, a
# resend, and input refused with the documented exit codes.
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
T=$("$CUSTOS" tenant create "Hooked" | field id)
[ -n "$T" ] || fail "tenant"
"$CUSTOS" webhook --help | grep -q "resend" || fail "help names the verbs"
expect_exit 2 "$CUSTOS" webhook add --tenant "$T"
expect_exit 4 "$CUSTOS" webhook add --tenant "$T" --url http://hooks.example/x
grep -q "invalid" err.txt || fail "http:// is invalid"
expect_exit 4 "$CUSTOS" webhook add --tenant "$T" --url https://hooks.example/x --types no.such

"$CUSTOS" webhook add --tenant "$T" --url https://hooks.example/x --types webhook.test >add.txt
E=$(field id <add.txt)
grep -q '"secret":[[:space:]]*"whsec_' add.txt || fail "the secret, once"
"$CUSTOS" webhook list --tenant "$T" >list.txt
grep -q "$E" list.txt || fail "listed"
grep -q "whsec_" list.txt && fail "a listed endpoint shows no secret"

V=$("$CUSTOS" webhook test --tenant "$T" | field event_id)
[ -n "$V" ] || fail "test event"
"$CUSTOS" webhook events --tenant "$T" | grep -q '"type":[[:space:]]*"webhook.test"' ||
    fail "the event is in the outbox"
"$CUSTOS" webhook event --tenant "$T" "$V" >ev.txt
grep -q '"webhook_id":[[:space:]]*"evt_'"$V"'"' ev.txt || fail "its webhook-id"
grep -q '"state":[[:space:]]*"pending"' ev.txt || fail "pending until a server sends it"
"$CUSTOS" webhook resend --tenant "$T" "$V" | grep -q '"resent":[[:space:]]*true' || fail "resend"
expect_exit 3 "$CUSTOS" webhook event --tenant "$T" 123456789
expect_exit 2 "$CUSTOS" webhook event --tenant "$T"
echo "webhook cli: ok"
