#!/bin/sh
# bench/portal.sh: the admin console's API calls on a full vault, against GET /healthz in the
# same run (issue 15 item 5: pages load in under 100 ms on loopback with 100,000 records).
#
# Builds ./custos if needed. Starts `custos serve --quiet` on a free loopback port with a fresh
# data directory, makes through the API a tenant on the Optymyze policy (a processor), an agent
# key and an owner user signed in (its session cookie, as the console has it), then fills the
# vault: CUSTOS_BENCH_RECORDS records (default 100,000) of the policy's employees collection,
# spread over RECORDS/100 subjects (at least 10), and one administrator's access request per
# subject, so the queue grows with the vault. Records go in through wrk (32 keep-alive
# connections, group commit), subjects and requests through one curl each. Then it times, one
# connection at a time (a person at a page, not a crowd), with the session cookie, each call the
# console's pages make (portal/console*.js):
#   GET /healthz                        the baseline: TLS, parsing, routing, no vault work
#   GET /v1/tenants/T                   every page, once after sign-in or a reload
#   GET .../requests?limit=50           the Requests page (first page of the queue, paged on the
#                                       server in its order)
#   GET .../requests                    the whole list unpaged (the API's old answer), to compare
#   GET .../requests?filter=open&limit=50  the queue's Show control at "Open"
#   GET .../subjects/S/accesses?limit=1000 the subject page's Who accessed it: the entries of a
#                                       subject with RECORDS/SUBJECTS records, each written by
#                                       the fill, through the log's subject index
#   GET .../audit?limit=50              the Audit log page, first page (an audit.read entry)
#   GET .../audit?limit=50&after=MID    a page from the middle of the log
#   GET .../audit?action=...&limit=50   a filtered page (request.file entries)
#   GET .../policy                      the Policy page
#   GET .../users, GET .../api-keys     the Users and keys page (two calls, in parallel)
# and GET .../audit/verify a few times with curl (the Verify button: it rechecks the whole
# chain, so it grows with the log by design). Prints each call's requests/s, p50 and p99, their
# ratio to /healthz, and each page's p50 (the sum of its calls, sequential ones added) against
# 100 ms. The load average is printed before and after: on a shared machine, say so next to the
# figures. The server is stopped with SIGTERM (and on any failure). Loopback only.
#
# usage: bench/portal.sh
#   CUSTOS_BENCH_RECORDS   records to fill (default 100000; 2000 proves the script quickly)
#   CUSTOS_BENCH_DURATION  seconds per timed call (default 5)
#   CUSTOS_BENCH_BIN       the custos binary to run (default ./custos)
set -eu

cd "$(dirname "$0")/.."
RECORDS=${CUSTOS_BENCH_RECORDS:-100000}
DURATION=${CUSTOS_BENCH_DURATION:-5}
SERVER_THREADS=0

BENCH=bench/portal.sh
SERVERS=""
. bench/lib.sh
check_settings "$DURATION" "$RECORDS"
[ "$RECORDS" -ge 1 ] || { echo "$BENCH: at least one record" >&2; exit 2; }

make -s custos

TMP=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-portal-XXXXXX")
cleanup() {
    stop_servers
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp "${CUSTOS_BENCH_BIN:-./custos}" "$TMP/custos"

SUBJECTS=$((RECORDS / 100))
[ "$SUBJECTS" -ge 10 ] || SUBJECTS=10

MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "custos console benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${MODEL:-unknown CPU}, $(nproc) CPUs"
echo "vault: $RECORDS records, $SUBJECTS subjects, $SUBJECTS requests; ${DURATION} s per call, 1 connection"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

start portal
PURPOSE=provide_service
TENANT_JSON=$(api -H "Authorization: Bearer $OP" -d '{"name":"bench","policy":"optymyze"}' \
    "$BASE/v1/tenants")
T=$(printf '%s' "$TENANT_JSON" | first_id)
OWNER=$(printf '%s' "$TENANT_JSON" | secret)
AGENT=$(api -H "Authorization: Bearer $OWNER" -d '{"name":"bench","role":"agent"}' \
    "$BASE/v1/tenants/$T/api-keys" | secret)
api -H "Authorization: Bearer $OWNER" \
    -d '{"email":"officer@bench.example","password":"a bench password, long enough","role":"owner"}' \
    "$BASE/v1/tenants/$T/users" >/dev/null
curl -sS --cacert "$TMP/ca.pem" -c "$TMP/jar" -H 'Content-Type: application/json' \
    -d '{"email":"officer@bench.example","password":"a bench password, long enough"}' \
    "$BASE/v1/tenants/$T/login" >/dev/null
COOKIE=$(awk '$6 == "custos_session" { print $7 }' "$TMP/jar")
[ -n "$T" ] && [ -n "$AGENT" ] && [ -n "$COOKIE" ] || { echo "$BENCH: setup failed" >&2; exit 1; }

# Subjects, then one administrator's request each: one curl, one connection, in order.
i=0
: >"$TMP/subjects.cfg"
while [ $i -lt "$SUBJECTS" ]; do
    [ $i -eq 0 ] || echo next >>"$TMP/subjects.cfg"
    printf 'url = "%s"\ncacert = "%s"\nheader = "Authorization: Bearer %s"\nheader = "Custos-Purpose: %s"\nheader = "Content-Type: application/json"\ndata = "{\\"external_id\\":\\"bench-%d\\"}"\nwrite-out = "\\n"\n' \
        "$BASE/v1/tenants/$T/subjects" "$TMP/ca.pem" "$AGENT" "$PURPOSE" "$i" >>"$TMP/subjects.cfg"
    i=$((i + 1))
done
curl -sS --cacert "$TMP/ca.pem" -K "$TMP/subjects.cfg" | first_id >"$TMP/subjects"
[ "$(wc -l <"$TMP/subjects")" -eq "$SUBJECTS" ] || { echo "$BENCH: subjects failed" >&2; exit 1; }
: >"$TMP/requests.cfg"
while read -r s; do
    [ ! -s "$TMP/requests.cfg" ] || echo next >>"$TMP/requests.cfg"
    printf 'url = "%s"\ncacert = "%s"\nheader = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\ndata = "{\\"type\\":\\"access\\",\\"filed_by\\":\\"admin\\",\\"subject_id\\":\\"%s\\"}"\nwrite-out = "\\n"\n' \
        "$BASE/v1/tenants/$T/requests" "$TMP/ca.pem" "$OWNER" "$s" >>"$TMP/requests.cfg"
done <"$TMP/subjects"
curl -sS --cacert "$TMP/ca.pem" -K "$TMP/requests.cfg" | first_id >"$TMP/requests"
[ "$(wc -l <"$TMP/requests")" -eq "$SUBJECTS" ] || { echo "$BENCH: requests failed" >&2; exit 1; }

# The records: wrk, stopping once RECORDS answers came (201 each, or the run fails).
cat >"$TMP/fill.lua" <<'EOF'
local total = tonumber(os.getenv("FILL_N"))
local path = os.getenv("FILL_PATH")
local subjects = {}
for s in string.gmatch(os.getenv("FILL_SUBJECTS"), "%d+") do subjects[#subjects + 1] = s end
local headers = {["Authorization"] = "Bearer " .. os.getenv("FILL_AUTH"),
                 ["Custos-Purpose"] = os.getenv("FILL_PURPOSE"),
                 ["Content-Type"] = "application/json"}
local sent, got, bad = 0, 0, 0
request = function()
    sent = sent + 1
    local body = string.format('{"subject_id":"%s","data":{"name":"Ada Lovelace %d",' ..
        '"address":"12 St James Square, London","ssn":"123-45-%04d","employee_id":"E%d"}}',
        subjects[(sent % #subjects) + 1], sent, sent % 10000, sent)
    return wrk.format("POST", path, headers, body)
end
response = function(status)
    got = got + 1
    if status ~= 201 then bad = bad + 1 end
    if got == total then
        -- wrk waits out its duration: the script below interrupts it on this mark.
        local f = io.open(os.getenv("FILL_DONE"), "w")
        f:write("done\n")
        f:close()
        wrk.thread:stop()
    end
end
done = function(summary)
    io.write(string.format("FILLED %d %d %.1f\n", summary.requests,
        summary.errors.status, summary.requests / (summary.duration / 1e6)))
end
EOF
FILL_N=$RECORDS FILL_PATH="/v1/tenants/$T/collections/employees/records" \
    FILL_SUBJECTS=$(tr '\n' ' ' <"$TMP/subjects") FILL_AUTH=$AGENT FILL_PURPOSE=$PURPOSE \
    FILL_DONE="$TMP/filled" wrk -t 1 -c 32 -d 7200s --timeout 30s -s "$TMP/fill.lua" \
    "$BASE/v1/tenants/$T/collections/employees/records" >"$TMP/fill.txt" 2>&1 &
WRK=$!
until [ -e "$TMP/filled" ]; do
    kill -0 "$WRK" 2>/dev/null || { cat "$TMP/fill.txt" >&2; exit 1; }
    sleep 0.2
done
kill -INT "$WRK"
wait "$WRK" || { cat "$TMP/fill.txt" >&2; exit 1; }
FILLED=$(sed -n 's/^FILLED //p' "$TMP/fill.txt")
set -- $FILLED
[ "${1:-0}" -ge "$RECORDS" ] && [ "${2:-1}" -eq 0 ] ||
    { echo "$BENCH: the fill failed: $FILLED" >&2; cat "$TMP/fill.txt" >&2; exit 1; }
echo "filled: $1 records at $3 records/s"

# The log's middle, for a page from there.
HEAD=$(curl -sS --cacert "$TMP/ca.pem" -H "Authorization: Bearer $OWNER" \
    "$BASE/v1/tenants/$T/audit/verify" | sed -n 's/.*"entries":\([0-9]*\).*/\1/p')
MID=$((HEAD / 2))
echo "audit log: $HEAD entries"
echo

cat >"$TMP/time.lua" <<'EOF'
local cookie = os.getenv("BENCH_COOKIE") or ""
if cookie ~= "" then wrk.headers["Cookie"] = "custos_session=" .. cookie end
function done(summary, latency)
    local e = summary.errors
    io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, e.status + e.connect + e.read + e.write + e.timeout))
end
EOF
: >"$TMP/results"
# run NAME PATH [COOKIE]: one connection for DURATION; appends "NAME rps p50 p99 n errors".
run() {
    BENCH_COOKIE=${3:-} wrk -t 1 -c 1 -d "${DURATION}s" --timeout 10s -s "$TMP/time.lua" \
        "$BASE$2" >"$TMP/wrk-$1.txt" 2>&1 || { cat "$TMP/wrk-$1.txt" >&2; exit 1; }
    line=$(sed -n 's/^RESULT //p' "$TMP/wrk-$1.txt")
    [ -n "$line" ] || { cat "$TMP/wrk-$1.txt" >&2; exit 1; }
    echo "$1 $line" >>"$TMP/results"
}
P=/v1/tenants/$T
run healthz /healthz
run tenant "$P" "$COOKIE"
run requests "$P/requests?limit=50" "$COOKIE"
run requests_all "$P/requests" "$COOKIE"
run requests_open "$P/requests?filter=open&limit=50" "$COOKIE"
run accesses "$P/subjects/$(head -n 1 "$TMP/subjects")/accesses?limit=1000" "$COOKIE"
run audit "$P/audit?limit=50" "$COOKIE"
run audit_mid "$P/audit?limit=50&after=$MID" "$COOKIE"
run audit_action "$P/audit?action=request.file&limit=50" "$COOKIE"
run policy "$P/policy" "$COOKIE"
run users "$P/users" "$COOKIE"
run api_keys "$P/api-keys" "$COOKIE"

# Verify: the whole chain each time; three tries, the median.
for i in 1 2 3; do
    curl -sS --cacert "$TMP/ca.pem" -o /dev/null -w '%{time_total}\n' \
        -H "Cookie: custos_session=$COOKIE" "$BASE$P/audit/verify"
done | sort -n | sed -n 2p >"$TMP/verify"
stop "$PID"

awk -v load="$(cut -d' ' -f1-3 /proc/loadavg)" -v verify="$(cat "$TMP/verify")" '
    NR == 1 { base_rps = $2; base_p50 = $3 }
    {
        p50[$1] = $3
        printf "%-36s %8.0f %8.2f %8.2f %7.2f %6.1f %6d\n", $1 == "healthz" ? "GET /healthz (baseline)" : \
               "GET " $1, $2, $3, $4, $2 / base_rps, $3 / base_p50, $6
    }
    BEGIN {
        printf "%-36s %8s %8s %8s %7s %6s %6s\n", "call", "req/s", "p50 ms", "p99 ms", "req/s x",
               "p50 x", "errors"
    }
    END {
        print ""
        print "pages (p50 of their calls; Users and keys makes its two at once, so the larger):"
        page("Requests", p50["requests"])
        page("Requests, shown: open", p50["requests_open"])
        page("Subject, who accessed it (1 page)", p50["accesses"])
        page("Audit log, first page", p50["audit"])
        page("Audit log, a middle page", p50["audit_mid"])
        page("Audit log, filtered by action", p50["audit_action"])
        page("Policy", p50["policy"])
        page("Users and keys", p50["users"] > p50["api_keys"] ? p50["users"] : p50["api_keys"])
        page("Sign-in or reload (tenant + Requests)", p50["tenant"] + p50["requests"])
        printf "Verify the chain (the whole log, median of 3): %.1f ms\n", verify * 1000
        print ""
        print "x: ratio to GET /healthz in this run, one connection each"
        print "load average after: " load
    }
    function page(name, ms) {
        printf "  %-40s %8.2f ms  (target 100: %s)\n", name, ms, ms < 100 ? "met" : "MISSED"
    }' "$TMP/results"
