#!/bin/sh
# bench/http.sh: the HTTPS API under load, measured against its own ceiling in the same run.
#
# Builds ./custos if needed. Starts `custos serve --quiet` on a free loopback port with a fresh
# data directory, sets up through the API a tenant, an agent API key, a collection with one
# sensitive field, a subject and one record, then runs wrk (keep-alive, TLS 1.3) against:
#   GET /healthz     the ceiling: TLS, HTTP parsing, routing, no vault work
#   GET a record     API key check, purpose, two unwraps, two AEAD opens, and the read's audit
#                    entry, durable before the answer (P-AUD-3), by group commit
#   POST a record    seal, blind index, the record and its audit entry in one durable
#                    transaction, by group commit
# Then bare SQLite for the same time, with no server (build/bench/bench_sqlite_commit): one
# 420-byte row per transaction, WAL, synchronous=FULL, the naive baseline of a durable write.
# Then the same server again on a new data directory with CUSTOS_COMMIT_GROUP_MAX=1 (the naive
# path: one transaction and one fsync per request) for the two data routes.
# Prints requests/s, p50 and p99 latency of each route, their ratio to /healthz, the mean group
# size (from /metrics) and the targets: audited reads at 0.5 of the ceiling, durable audited
# writes at 0.3, and at 4 times bare SQLite. Ends with one line, same-run ratios:
#   ratios: read=R write=W write_vs_naive=N
# R and W: audited reads and durable writes per second over GET /healthz's; N: durable writes
# per second over bare SQLite's rows per second. The load average is printed before and after:
# on a shared machine, say so next to the figures. Each server is stopped with SIGTERM (and on any failure). Loopback only; bounded in
# time (6 runs of CUSTOS_BENCH_DURATION, plus setup).
#
# usage: bench/http.sh
#   CUSTOS_BENCH_DURATION     seconds per run (default 10)
#   CUSTOS_BENCH_THREADS      wrk threads (default 2)
#   CUSTOS_BENCH_CONNECTIONS  wrk connections, kept alive (default 32)
#   CUSTOS_BENCH_SERVER_THREADS  server worker threads (default: the server's own default)
#   CUSTOS_BENCH_NAIVE        0 skips the naive server (default 1)
#   CUSTOS_BENCH_BIN          the custos binary to run (default ./custos: a build to compare)
#   CUSTOS_BENCH_POLICY       a built-in policy the tenant is bound to (default none; e.g.
#                             optymyze, whose employees collection the records are)
#   CUSTOS_BENCH_PURPOSE      the purpose of the data calls (default bench; with a policy, one
#                             it declares, e.g. provide_service)
set -eu

cd "$(dirname "$0")/.."
DURATION=${CUSTOS_BENCH_DURATION:-10}
THREADS=${CUSTOS_BENCH_THREADS:-2}
CONNECTIONS=${CUSTOS_BENCH_CONNECTIONS:-32}
SERVER_THREADS=${CUSTOS_BENCH_SERVER_THREADS:-0}
NAIVE=${CUSTOS_BENCH_NAIVE:-1}

BENCH=bench/http.sh
SERVERS=""
. bench/lib.sh
check_settings "$DURATION" "$THREADS" "$CONNECTIONS" "$SERVER_THREADS" "$NAIVE"

make -s custos build/bench/bench_sqlite_commit

TMP=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-http-XXXXXX")
cleanup() {
    stop_servers
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Private copies, so that a rebuild during the run changes nothing.
cp "${CUSTOS_BENCH_BIN:-./custos}" "$TMP/custos"
cp build/bench/bench_sqlite_commit "$TMP/bench_sqlite_commit"

write_lua

# cpu_ticks: the server's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# run NAME METHOD PATH [BODY AUTH PURPOSE]: one wrk run; appends
# "NAME rps p50 p99 n bad err group_size commit_ms busy cpu_ms" for the run: requests per
# group commit, mean time of one transaction, the share of the run the store spent committing,
# and the server's CPU time per request (all its threads: what the request costs the cores).
run() {
    name=$1
    before=$(counters "$BASE")
    cpu0=$(cpu_ticks)
    BENCH_METHOD=$2 BENCH_BODY=${4:-} BENCH_AUTH=${5:-} BENCH_PURPOSE=${6:-} \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s \
        -s "$TMP/bench.lua" "$BASE$3" >"$TMP/wrk-$name.txt" 2>&1 ||
        { cat "$TMP/wrk-$name.txt" >&2; exit 1; }
    cpu1=$(cpu_ticks)
    after=$(counters "$BASE")
    line=$(sed -n 's/^RESULT //p' "$TMP/wrk-$name.txt")
    [ -n "$line" ] || { cat "$TMP/wrk-$name.txt" >&2; exit 1; }
    commit=$(echo "$before $after" | awk -v d="$DURATION" '{
        g = $4 - $1; r = $5 - $2; s = $6 - $3
        printf "%.1f %.2f %.0f", (g > 0 ? r / g : 0), (g > 0 ? s / g * 1000 : 0), s / d * 100 }')
    cpu=$(echo "$line" | awk -v t="$((cpu1 - cpu0))" -v hz="$CLK_TCK" \
        '{ printf "%.3f", ($4 > 0 ? t / hz * 1000 / $4 : 0) }')
    echo "$name $line $commit $cpu" >>"$TMP/results"
}

MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "custos HTTP benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${MODEL:-unknown CPU}, $(nproc) CPUs"
echo "wrk: ${DURATION} s per run, $THREADS threads, $CONNECTIONS keep-alive TLS connections"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/results"

start group
echo "server: $NTHREADS worker threads"
echo "tenant: ${POLICY:-no} policy, purpose $PURPOSE"
echo
setup bench
run healthz GET /healthz
run get_record GET "/v1/tenants/$T/records/$R" "" "$AGENT" "$PURPOSE"
run post_record POST "/v1/tenants/$T/collections/employees/records" "$BODY" "$AGENT" \
    "$PURPOSE"
stop "$PID"

# The naive baseline: bare SQLite, one row per durable transaction, nothing else running.
"$TMP/bench_sqlite_commit" "$TMP/bare.db" "$DURATION" >"$TMP/bare.txt" ||
    { cat "$TMP/bare.txt" >&2; exit 1; }
BARE=$(sed -n 's/^RESULT \([0-9.]*\) .*/\1/p' "$TMP/bare.txt")
[ -n "$BARE" ] || { echo "bench/http.sh: no result from bench_sqlite_commit" >&2; exit 1; }

if [ "$NAIVE" -ne 0 ]; then
    start naive CUSTOS_COMMIT_GROUP_MAX=1
    setup bench
    run get_naive GET "/v1/tenants/$T/records/$R" "" "$AGENT" "$PURPOSE"
    run post_naive POST "/v1/tenants/$T/collections/employees/records" "$BODY" "$AGENT" \
        "$PURPOSE"
    stop "$PID"
fi

awk -v bare="$BARE" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
    NR == 1 { base_rps = $2; base_p50 = $3; base_p99 = $4 }
    $1 == "get_record" { read_rps = $2 }
    $1 == "post_record" { write_rps = $2 }
    {
        label = $1 == "healthz" ? "GET /healthz (ceiling)" : \
                $1 == "get_record" ? "GET a record" : \
                $1 == "post_record" ? "POST a record" : \
                $1 == "get_naive" ? "GET a record, naive" : "POST a record, naive"
        target = $1 == "get_record" ? 0.5 : $1 == "post_record" ? 0.3 : 0
        verdict = target == 0 ? "" : sprintf("%.1f: %s", target,
                                             $2 / base_rps >= target ? "met" : "MISSED")
        rows[NR] = sprintf("%-22s %8.0f %7.2f %7.2f %7.2f %6.1f %6.1f %6d %6s %7s %5s %6.3f  %s",
                           label, $2, $3, $4, $2 / base_rps, $3 / base_p50, $4 / base_p99,
                           $6 + $7, $1 == "healthz" ? "-" : $8, $1 == "healthz" ? "-" : $9,
                           $1 == "healthz" ? "-" : $10 "%", $11, verdict)
    }
    END {
        printf "%-22s %8s %7s %7s %7s %6s %6s %6s %6s %7s %5s %6s  %s\n", "", "req/s", "p50 ms",
               "p99 ms", "req/s x", "p50 x", "p99 x", "errors", "group", "txn ms", "busy",
               "cpu ms", "target x"
        for (i = 1; i <= NR; i++) print rows[i]
        print ""
        print "x: ratio to GET /healthz in this run; errors: non-2xx answers and socket errors;"
        print "group: requests per group commit (1.0 on the naive server, CUSTOS_COMMIT_GROUP_MAX=1:"
        print "one transaction and one fsync per request); txn ms: mean time of one store"
        print "transaction, fsync included; busy: share of the run the one writer"
        print "connection of the store spent in them (at 100% no group can commit sooner);"
        print "cpu ms: CPU time of the server process (all threads) per request"
        print ""
        printf "bare SQLite, one 420-byte row per transaction (synchronous=FULL): %.0f rows/s\n", bare
        verdict = write_rps / bare >= 4 ? "met" : "MISSED"
        printf "durable audited writes / bare SQLite: %.3f (target 4: %s)\n", write_rps / bare,
               verdict
        print "load average after: " load
        printf "ratios: read=%.3f write=%.3f write_vs_naive=%.3f\n", read_rps / base_rps,
               write_rps / base_rps, write_rps / bare
    }' "$TMP/results"
