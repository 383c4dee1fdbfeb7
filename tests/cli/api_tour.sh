#!/bin/sh
# The README's HTTPS tour, with curl against the real (sanitized) server: every step answers
# as the README says. Stops the server by pid with SIGTERM and checks it exits 0.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; store_end; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"
store_begin
fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }

"$CUSTOS" serve --port 0 >out.txt 2>err.txt &
pid=$!
i=0
until grep -q "listening on" out.txt 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 300 ] || fail "server did not start"; sleep 0.1
done
U=$(sed -n 's/.*listening on \(https:[^ ]*\).*/\1/p' out.txt)/v1
OP=$(sed -n 's/.*keep it safe): //p' out.txt)
[ -n "$OP" ] || fail "no operator key printed"
grep -q "certificate SHA-256 fingerprint [0-9A-F:]\{95\}" out.txt || fail "fingerprint"
api() { curl -s --cacert custos-data/tls-cert.pem -H 'Content-Type: application/json' "$@"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

t=$(api "$U/tenants" -H "Authorization: Bearer $OP" -d '{"name":"Acme Ltd"}')
T=$(echo "$t" | sed -n 's/^{"id":"\([0-9]*\)".*/\1/p')
K=$(echo "$t" | field secret)
[ -n "$T" ] && [ -n "$K" ] || fail "tenant: $t"
AUTH="Authorization: Bearer $K"
P="Custos-Purpose: support"

api -X PUT "$U/tenants/$T/collections/employees" -H "$AUTH" -H "$P" \
    -d '{"fields":{"ssn":{"class":"sensitive"},"iban":{"class":"forbidden"}}}' | grep -q '"ssn"' ||
    fail "collection"
S=$(api "$U/tenants/$T/subjects" -H "$AUTH" -H "$P" \
    -d '{"external_id":"crm-42","email":"Ada@Example.com"}' | field id)
[ -n "$S" ] || fail "subject"
R=$(api "$U/tenants/$T/collections/employees/records" -H "$AUTH" -H "$P" \
    -d '{"subject_id":"'"$S"'","data":{"name":"Ada","ssn":"123-45-6789"}}' | field id)
[ -n "$R" ] || fail "record"
api "$U/tenants/$T/records/$R" -H "$AUTH" -H "$P" | grep -q '"ssn":"123-45-6789"' ||
    fail "record get"
api "$U/tenants/$T/collections/employees/records/search" -H "$AUTH" -H "$P" \
    -d '{"field":"ssn","value":"123-45-6789"}' | grep -q "\"$R\"" || fail "record search"
api "$U/tenants/$T/subjects/search" -H "$AUTH" -H "$P" -d '{"email":"ada@example.com"}' |
    grep -q "\"$S\"" || fail "subject search"
api "$U/tenants/$T/collections/employees/records" -H "$AUTH" -H "$P" \
    -d '{"data":{"iban":"DE89370400440532013000"}}' | grep -q '"code":"forbidden_field"' ||
    fail "forbidden field"
api -X DELETE "$U/tenants/$T/subjects/$S" -H "$AUTH" -H "$P" | grep -q '"erased":true' ||
    fail "erase"
api "$U/tenants/$T/records/$R" -H "$AUTH" -H "$P" | grep -q '"code":"not_found"' ||
    fail "erased record still answers"

api "$U/tenants/$T/audit?limit=3" -H "$AUTH" | grep -q '"action":"tenant.create"' ||
    fail "audit list"
api "$U/tenants/$T/audit/verify" -H "$AUTH" | grep -q '"ok":true' || fail "audit verify"

# A tenant under SCM's policy: age, purposes, consent, the end of the subscription.
t=$(api "$U/tenants" -H "Authorization: Bearer $OP" -d '{"name":"SCM customer","policy":"scm"}')
T2=$(echo "$t" | sed -n 's/^{"id":"\([0-9]*\)".*/\1/p')
K2=$(echo "$t" | field secret)
[ -n "$T2" ] && [ -n "$K2" ] || fail "policy tenant: $t"
A2="Authorization: Bearer $K2"
api "$U/tenants/$T2/subjects" -H "$A2" -H "$P" -d '{"external_id":"teen","birth_date":"2012-05-01"}' |
    grep -q '"code":"under_age"' || fail "under age"
S2=$(api "$U/tenants/$T2/subjects" -H "$A2" -H "$P" -d '{"external_id":"bo"}' | field id)
[ -n "$S2" ] || fail "policy subject"
api "$U/tenants/$T2/collections/contacts/records" -H "$A2" -H "Custos-Purpose: marketing" \
    -d '{"subject_id":"'"$S2"'","data":{"name":"Bo"}}' | grep -q '"code":"unknown_purpose"' ||
    fail "unknown purpose"
api "$U/tenants/$T2/collections/contacts/records" -H "$A2" -H "Custos-Purpose: shared_on_request" \
    -d '{"subject_id":"'"$S2"'","data":{"name":"Bo"}}' | grep -q '"code":"consent_required"' ||
    fail "consent required"
api "$U/tenants/$T2/subjects/$S2/consents" -H "$A2" \
    -d '{"purpose":"shared_on_request","action":"grant","source":"web"}' | grep -q '"action":"grant"' ||
    fail "consent grant"
api "$U/tenants/$T2/collections/contacts/records" -H "$A2" -H "Custos-Purpose: shared_on_request" \
    -d '{"subject_id":"'"$S2"'","data":{"name":"Bo"}}' | grep -q '"id":"' || fail "with consent"
api -X POST "$U/tenants/$T2/terminate" -H "Authorization: Bearer $OP" |
    grep -q '"state":"terminated"' || fail "terminate"
api "$U/tenants/$T2/export" -H "$A2" -H "Custos-Purpose: export" | grep -q '"name":"Bo"' ||
    fail "export"
api -X POST "$U/sweep" -H "Authorization: Bearer $OP" | grep -q '"tenants_purged":0' ||
    fail "sweep"

# No personal value of the tour reached the access log.
for v in Ada@Example.com ada@example.com 123-45-6789 crm-42 DE89370400440532013000 2012-05-01; do
    if grep -qF "$v" err.txt; then fail "value $v in the server log"; fi
done
kill -TERM "$pid"
wait "$pid" || fail "server exit status $?"
pid=""
echo "api tour ok"
