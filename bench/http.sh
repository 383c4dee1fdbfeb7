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
set -eu

cd "$(dirname "$0")/.."
DURATION=${CUSTOS_BENCH_DURATION:-10}
THREADS=${CUSTOS_BENCH_THREADS:-2}
CONNECTIONS=${CUSTOS_BENCH_CONNECTIONS:-32}
SERVER_THREADS=${CUSTOS_BENCH_SERVER_THREADS:-0}
NAIVE=${CUSTOS_BENCH_NAIVE:-1}

for n in "$DURATION" "$THREADS" "$CONNECTIONS" "$SERVER_THREADS" "$NAIVE"; do
    case "$n" in '' | *[!0-9]*) echo "bench/http.sh: settings must be whole numbers" >&2; exit 2 ;; esac
done
if [ "$DURATION" -lt 1 ] || [ "$DURATION" -gt 600 ]; then
    echo "bench/http.sh: the duration must be 1 to 600 s" >&2
    exit 2
fi
command -v wrk >/dev/null || { echo "bench/http.sh: wrk is missing (make deps)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/http.sh: curl is missing (make deps)" >&2; exit 1; }

make -s custos build/bench/bench_sqlite_commit

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

# Private copies, so that a rebuild during the run changes nothing.
cp "${CUSTOS_BENCH_BIN:-./custos}" "$TMP/custos"
cp build/bench/bench_sqlite_commit "$TMP/bench_sqlite_commit"

# start NAME [VAR=value]: starts a server on $TMP/NAME with that environment; sets PID, BASE,
# CA and OP (the operator key).
start() {
    name=$1
    shift
    SARGS="--data $TMP/$name --listen 127.0.0.1 --port 0 --quiet"
    [ "$SERVER_THREADS" -eq 0 ] || SARGS="$SARGS --threads $SERVER_THREADS"
    # shellcheck disable=SC2086
    env "$@" "$TMP/custos" serve $SARGS >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!
    i=0
    until grep -q 'listening on' "$TMP/$name.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$PID" 2>/dev/null; then
            echo "bench/http.sh: the server did not start:" >&2
            cat "$TMP/$name.out" "$TMP/$name.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    PORT=$(sed -n 's/.*listening on https:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$name.out")
    OP=$(sed -n 's/.*shown once, keep it safe): \(cuk_[0-9a-f_]*\).*/\1/p' "$TMP/$name.out")
    NTHREADS=$(sed -n 's/.*listening on .*, \([0-9]*\) threads).*/\1/p' "$TMP/$name.out")
    BASE=https://127.0.0.1:$PORT
    CA=$TMP/$name/tls-cert.pem
}

stop() {
    kill -TERM "$PID"
    if wait "$PID"; then status=0; else status=$?; fi
    PID=""
    [ "$status" -eq 0 ] || { echo "bench/http.sh: the server exited $status" >&2; exit 1; }
}

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

# The document of bench_core: 225 bytes, one sensitive field.
DOC='{"name":"Ada Lovelace","title":"Analyst","dept":"Engines","ssn":"123-45-6789","notes":"Prefers email; met at the 1843 conference about the analytical engine and its notes on Bernoulli numbers.","city":"London","country":"GB"}'

# setup: the tenant, key, collection, subject and record on the server at BASE; sets T, AGENT,
# BODY and R.
setup() {
    TENANT_JSON=$(api -H "Authorization: Bearer $OP" -d '{"name":"bench"}' "$BASE/v1/tenants")
    T=$(printf '%s' "$TENANT_JSON" | first_id)
    OWNER=$(printf '%s' "$TENANT_JSON" | secret)
    AGENT=$(api -H "Authorization: Bearer $OWNER" -d '{"name":"bench","role":"agent"}' \
        "$BASE/v1/tenants/$T/api-keys" | secret)
    api -X PUT -H "Authorization: Bearer $OWNER" -d '{"fields":{"ssn":{"class":"sensitive"}}}' \
        "$BASE/v1/tenants/$T/collections/employees" >/dev/null
    S=$(api -H "Authorization: Bearer $AGENT" -H 'Custos-Purpose: bench' \
        -d '{"external_id":"bench-1","email":"ada@example.com"}' "$BASE/v1/tenants/$T/subjects" |
        first_id)
    BODY="{\"subject_id\":\"$S\",\"data\":$DOC}"
    R=$(api -H "Authorization: Bearer $AGENT" -H 'Custos-Purpose: bench' -d "$BODY" \
        "$BASE/v1/tenants/$T/collections/employees/records" | first_id)
    if [ -z "$T" ] || [ -z "$AGENT" ] || [ -z "$S" ] || [ -z "$R" ]; then
        echo "bench/http.sh: the setup answered no ids" >&2
        exit 1
    fi
}

# counters: "groups requests commit_seconds" of the server so far, from /metrics: its group
# commits, the requests they carried, and the time its store spent in transactions (under the
# store's one lock, fsync included).
counters() {
    api -H "Authorization: Bearer $OP" "$BASE/metrics" | awk '
        $1 == "custos_commit_groups_total" { g = $2 }
        $1 == "custos_commit_requests_total" { r = $2 }
        $1 == "custos_store_commit_duration_seconds_sum" { s = $2 }
        END { print g + 0, r + 0, s + 0 }'
}

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

# cpu_ticks: the server's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# run NAME METHOD PATH [BODY AUTH PURPOSE]: one wrk run; appends
# "NAME rps p50 p99 n bad err group_size commit_ms busy cpu_ms" for the run: requests per
# group commit, mean time of one transaction, the share of the run the store spent committing,
# and the server's CPU time per request (all its threads: what the request costs the cores).
run() {
    name=$1
    before=$(counters)
    cpu0=$(cpu_ticks)
    BENCH_METHOD=$2 BENCH_BODY=${4:-} BENCH_AUTH=${5:-} BENCH_PURPOSE=${6:-} \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 10s \
        -s "$TMP/bench.lua" "$BASE$3" >"$TMP/wrk-$name.txt" 2>&1 ||
        { cat "$TMP/wrk-$name.txt" >&2; exit 1; }
    cpu1=$(cpu_ticks)
    after=$(counters)
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
echo
setup
run healthz GET /healthz
run get_record GET "/v1/tenants/$T/records/$R" "" "$AGENT" bench
run post_record POST "/v1/tenants/$T/collections/employees/records" "$BODY" "$AGENT" bench
stop

# The naive baseline: bare SQLite, one row per durable transaction, nothing else running.
"$TMP/bench_sqlite_commit" "$TMP/bare.db" "$DURATION" >"$TMP/bare.txt" ||
    { cat "$TMP/bare.txt" >&2; exit 1; }
BARE=$(sed -n 's/^RESULT \([0-9.]*\) .*/\1/p' "$TMP/bare.txt")
[ -n "$BARE" ] || { echo "bench/http.sh: no result from bench_sqlite_commit" >&2; exit 1; }

if [ "$NAIVE" -ne 0 ]; then
    start naive CUSTOS_COMMIT_GROUP_MAX=1
    setup
    run get_naive GET "/v1/tenants/$T/records/$R" "" "$AGENT" bench
    run post_naive POST "/v1/tenants/$T/collections/employees/records" "$BODY" "$AGENT" bench
    stop
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
