#!/bin/sh
# bench/cookies.sh: the cookie check (GET .../cookies/check, docs/consent.md), the "fast check"
# a site's backend makes on every page view, against GET /healthz in the same run.
#
# Builds ./custos if needed. Starts `custos serve --quiet` on a free loopback port with a fresh
# data directory, makes a tenant on the ERP Smart Cloud policy (analytics and preference:
# consent) with an agent key, and gives one visitor a long ledger history:
# CUSTOS_BENCH_HISTORY choices (default 500) alternating analytics and preference on and off,
# each one ledger entry per category. Then wrk (keep-alive, TLS 1.3) against:
#   GET /healthz              the ceiling: TLS, HTTP parsing, routing, no vault work
#   check, a new visitor      API key, tenant, cached policy, the keyed visitor pseudonym, one
#                             indexed LIMIT 1 ledger read per consent category (none found)
#   check, long history       the same for the visitor with the history (each read finds the
#                             newest of its entries)
# Prints requests/s, p50 and p99 of each and their ratio to /healthz. Nothing is asserted; the
# load average is printed before and after: on a shared machine, say so next to the figures.
# The server is stopped with SIGTERM (and on any failure). Loopback only; 3 runs of
# CUSTOS_BENCH_DURATION plus the setup.
#
# usage: bench/cookies.sh
#   CUSTOS_BENCH_DURATION     seconds per run (default 10)
#   CUSTOS_BENCH_THREADS      wrk threads (default 2)
#   CUSTOS_BENCH_CONNECTIONS  wrk connections, kept alive (default 32)
#   CUSTOS_BENCH_HISTORY      choices in the long visitor's history (default 500)
#   CUSTOS_BENCH_SERVER_THREADS  server worker threads (default: the server's own default)
#   CUSTOS_BENCH_BIN          the custos binary to run (default ./custos)
set -eu

cd "$(dirname "$0")/.."
DURATION=${CUSTOS_BENCH_DURATION:-10}
THREADS=${CUSTOS_BENCH_THREADS:-2}
CONNECTIONS=${CUSTOS_BENCH_CONNECTIONS:-32}
HISTORY=${CUSTOS_BENCH_HISTORY:-500}
SERVER_THREADS=${CUSTOS_BENCH_SERVER_THREADS:-0}

BENCH=bench/cookies.sh
SERVERS=""
. bench/lib.sh
check_settings "$DURATION" "$THREADS" "$CONNECTIONS" "$HISTORY" "$SERVER_THREADS"

[ -n "${CUSTOS_BENCH_BIN:-}" ] || make -s custos

TMP=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-cookies-XXXXXX")
cleanup() {
    stop_servers
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "${CUSTOS_BENCH_BIN:-./custos}" "$TMP/custos"
write_lua

# run NAME PATH [AUTH VISITOR]: one wrk run; appends "NAME rps p50 p99 n bad err".
run() {
    BENCH_METHOD=GET BENCH_AUTH=${3:-} BENCH_VISITOR=${4:-} \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s \
        -s "$TMP/bench.lua" "$BASE$2" >"$TMP/wrk-$1.txt" 2>&1 ||
        { cat "$TMP/wrk-$1.txt" >&2; exit 1; }
    line=$(sed -n 's/^RESULT //p' "$TMP/wrk-$1.txt")
    [ -n "$line" ] || { cat "$TMP/wrk-$1.txt" >&2; exit 1; }
    echo "$1 $line" >>"$TMP/results"
}

MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "custos cookie check benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${MODEL:-unknown CPU}, $(nproc) CPUs"
echo "wrk: ${DURATION} s per run, $THREADS threads, $CONNECTIONS keep-alive TLS connections"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/results"

start cookies
echo "server: $NTHREADS worker threads"
TENANT_JSON=$(api -H "Authorization: Bearer $OP" -d '{"name":"site","policy":"erpsmartcloud"}' \
    "$BASE/v1/tenants")
T=$(printf '%s' "$TENANT_JSON" | first_id)
OWNER=$(printf '%s' "$TENANT_JSON" | secret)
AGENT=$(api -H "Authorization: Bearer $OWNER" -d '{"name":"site","role":"agent"}' \
    "$BASE/v1/tenants/$T/api-keys" | secret)
[ -n "$T" ] && [ -n "$AGENT" ] || { echo "$BENCH: the setup answered no ids" >&2; exit 1; }
LONG=bench-long-history-visitor-0001
NEW=bench-new-visitor-00000000001
i=0
while [ $i -lt "$HISTORY" ]; do
    if [ $((i % 2)) -eq 0 ]; then on=true; else on=false; fi
    api -H "Authorization: Bearer $AGENT" \
        -d "{\"visitor\":\"$LONG\",\"categories\":{\"analytics\":$on,\"preference\":$on}}" \
        "$BASE/v1/tenants/$T/cookies/choices" >/dev/null
    i=$((i + 1))
done
echo "the long visitor: $HISTORY choices, $((HISTORY * 2)) ledger entries"
echo

run healthz /healthz
run check_new "/v1/tenants/$T/cookies/check" "$AGENT" "$NEW"
run check_long "/v1/tenants/$T/cookies/check" "$AGENT" "$LONG"
stop "$PID"

awk -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
    NR == 1 { base_rps = $2; base_p50 = $3; base_p99 = $4 }
    {
        label = $1 == "healthz" ? "GET /healthz (ceiling)" : \
                $1 == "check_new" ? "check, a new visitor" : "check, long history"
        rows[NR] = sprintf("%-24s %8.0f %7.2f %7.2f %7.2f %6.1f %6.1f %6d", label, $2, $3, $4,
                           $2 / base_rps, $3 / base_p50, $4 / base_p99, $6 + $7)
    }
    END {
        printf "%-24s %8s %7s %7s %7s %6s %6s %6s\n", "", "req/s", "p50 ms", "p99 ms",
               "req/s x", "p50 x", "p99 x", "errors"
        for (i = 1; i <= NR; i++) print rows[i]
        print ""
        print "x: ratio to GET /healthz in this run; errors: non-2xx answers and socket errors"
        print "load average after: " load
    }' "$TMP/results"
