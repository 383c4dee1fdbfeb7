#!/bin/sh
# bench/http.sh: the HTTPS API under load, measured against its own ceiling in the same run.
#
# Builds ./custos if needed, starts `custos serve --quiet` on a free loopback port with a fresh
# data directory, sets up through the API a tenant, an agent API key, a collection with one
# sensitive field, a subject and one record, then runs wrk (keep-alive, TLS 1.3) against:
#   GET /healthz                    the ceiling: TLS, HTTP parsing, routing, no vault work
#   GET a record                    API key check, purpose, two unwraps, two AEAD opens
#   POST a record                   the same plus seal, blind index, one durable commit
# and prints requests/s, p50 and p99 latency of each and their ratio to /healthz. The server
# is stopped with SIGTERM at the end (and on any failure). Loopback only; bounded in time.
#
# usage: bench/http.sh
#   CUSTOS_BENCH_DURATION     seconds per run (default 10)
#   CUSTOS_BENCH_THREADS      wrk threads (default 2)
#   CUSTOS_BENCH_CONNECTIONS  wrk connections, kept alive (default 32)
#   CUSTOS_BENCH_SERVER_THREADS  server worker threads (default: one per core)
set -eu

cd "$(dirname "$0")/.."
DURATION=${CUSTOS_BENCH_DURATION:-10}
THREADS=${CUSTOS_BENCH_THREADS:-2}
CONNECTIONS=${CUSTOS_BENCH_CONNECTIONS:-32}
SERVER_THREADS=${CUSTOS_BENCH_SERVER_THREADS:-0}

for n in "$DURATION" "$THREADS" "$CONNECTIONS" "$SERVER_THREADS"; do
    case "$n" in '' | *[!0-9]*) echo "bench/http.sh: settings must be whole numbers" >&2; exit 2 ;; esac
done
if [ "$DURATION" -lt 1 ] || [ "$DURATION" -gt 600 ]; then
    echo "bench/http.sh: the duration must be 1 to 600 s" >&2
    exit 2
fi
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is missing (make deps)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/http.sh: curl is missing (make deps)" >&2; exit 1; }

make -s custos

TMP=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-http-XXXXXX")
PID=""
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private copy, so that a rebuild of ./custos during the run changes nothing.
cp ./custos "$TMP/custos"
SARGS="--data $TMP/data --listen 127.0.0.1 --port 0 --quiet"
[ "$SERVER_THREADS" -eq 0 ] || SARGS="$SARGS --threads $SERVER_THREADS"
# shellcheck disable=SC2086
"$TMP/custos" serve $SARGS >"$TMP/serve.out" 2>"$TMP/serve.err" &
PID=$!
i=0
until grep -q 'listening on' "$TMP/serve.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$PID" 2>/dev/null; then
        echo "bench/http.sh: the server did not start:" >&2
        cat "$TMP/serve.out" "$TMP/serve.err" >&2
        exit 1
    fi
    sleep 0.1
done
PORT=$(sed -n 's/.*listening on https:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/serve.out")
OP=$(sed -n 's/.*shown once, keep it safe): \(cuk_[0-9a-f_]*\).*/\1/p' "$TMP/serve.out")
BASE=https://127.0.0.1:$PORT
CA=$TMP/data/tls-cert.pem

# One API call that must answer 2xx; prints the body.
api() {
    out=$(curl -sS --cacert "$CA" -w '\n%{http_code}' -H 'Content-Type: application/json' "$@")
    code=$(printf '%s\n' "$out" | tail -n 1)
    body=$(printf '%s\n' "$out" | sed '$d')
    case "$code" in
    2??) printf '%s\n' "$body" ;;
    *) echo "bench/http.sh: setup call failed ($code): $body" >&2; return 1 ;;
    esac
}
first_id() { sed -n 's/^{"id":"\([0-9]*\)".*/\1/p'; }
secret() { sed -n 's/.*"secret":"\(cuk_[0-9a-f_]*\)".*/\1/p'; }

TENANT_JSON=$(api -H "Authorization: Bearer $OP" -d '{"name":"bench"}' "$BASE/v1/tenants")
T=$(printf '%s' "$TENANT_JSON" | first_id)
OWNER=$(printf '%s' "$TENANT_JSON" | secret)
AGENT=$(api -H "Authorization: Bearer $OWNER" -d '{"name":"bench","role":"agent"}' \
    "$BASE/v1/tenants/$T/api-keys" | secret)
api -X PUT -H "Authorization: Bearer $OWNER" -d '{"fields":{"ssn":{"class":"sensitive"}}}' \
    "$BASE/v1/tenants/$T/collections/employees" >/dev/null
S=$(api -H "Authorization: Bearer $AGENT" -H 'Custos-Purpose: bench' \
    -d '{"external_id":"bench-1","email":"ada@example.com"}' "$BASE/v1/tenants/$T/subjects" | first_id)
# The document of bench_core: 225 bytes, one sensitive field.
DOC='{"name":"Ada Lovelace","title":"Analyst","dept":"Engines","ssn":"123-45-6789","notes":"Prefers email; met at the 1843 conference about the analytical engine and its notes on Bernoulli numbers.","city":"London","country":"GB"}'
BODY="{\"subject_id\":\"$S\",\"data\":$DOC}"
R=$(api -H "Authorization: Bearer $AGENT" -H 'Custos-Purpose: bench' -d "$BODY" \
    "$BASE/v1/tenants/$T/collections/employees/records" | first_id)
if [ -z "$T" ] || [ -z "$AGENT" ] || [ -z "$S" ] || [ -z "$R" ]; then
    echo "bench/http.sh: the setup answered no ids" >&2
    exit 1
fi

# Headers and body from the environment; the summary line for this script to read.
cat >"$TMP/bench.lua" <<'EOF'
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local auth = os.getenv("BENCH_AUTH") or ""
local purpose = os.getenv("BENCH_PURPOSE") or ""
if body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
end
if auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
if purpose ~= "" then wrk.headers["Custos-Purpose"] = purpose end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %.1f %.3f %.3f %d %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

# run NAME METHOD PATH [BODY AUTH PURPOSE]: one wrk run; appends "NAME rps p50 p99 n bad err".
run() {
    name=$1
    BENCH_METHOD=$2 BENCH_BODY=${4:-} BENCH_AUTH=${5:-} BENCH_PURPOSE=${6:-} \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s \
        -s "$TMP/bench.lua" "$BASE$3" >"$TMP/wrk-$name.txt" 2>&1 ||
        { cat "$TMP/wrk-$name.txt" >&2; exit 1; }
    line=$(sed -n 's/^RESULT //p' "$TMP/wrk-$name.txt")
    [ -n "$line" ] || { cat "$TMP/wrk-$name.txt" >&2; exit 1; }
    echo "$name $line" >>"$TMP/results"
}

MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "custos HTTP benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${MODEL:-unknown CPU}, $(nproc) CPUs"
echo "wrk: ${DURATION} s per run, $THREADS threads, $CONNECTIONS keep-alive TLS connections;" \
    "server threads: $([ "$SERVER_THREADS" -eq 0 ] && echo "one per core" || echo "$SERVER_THREADS")"
echo
: >"$TMP/results"
run healthz GET /healthz
run get_record GET "/v1/tenants/$T/records/$R" "" "$AGENT" bench
run post_record POST "/v1/tenants/$T/collections/employees/records" "$BODY" "$AGENT" bench

awk '
    NR == 1 { base_rps = $2; base_p50 = $3; base_p99 = $4 }
    {
        label = $1 == "healthz" ? "GET /healthz (ceiling)" : \
                $1 == "get_record" ? "GET a record" : "POST a record"
        rows[NR] = sprintf("%-24s %10.0f %9.2f %9.2f %9.2f %9.1f %9.1f %8d", label, $2, $3, $4,
                           $2 / base_rps, $3 / base_p50, $4 / base_p99, $6 + $7)
    }
    END {
        printf "%-24s %10s %9s %9s %9s %9s %9s %8s\n", "", "req/s", "p50 ms", "p99 ms",
               "req/s x", "p50 x", "p99 x", "errors"
        for (i = 1; i <= NR; i++) print rows[i]
        print ""
        print "x: ratio to GET /healthz in this run; errors: non-2xx answers and socket errors"
    }' "$TMP/results"

kill -TERM "$PID"
if wait "$PID"; then status=0; else status=$?; fi
PID=""
[ "$status" -eq 0 ] || { echo "bench/http.sh: the server exited $status" >&2; exit 1; }
