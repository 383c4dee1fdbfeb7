#!/bin/sh
# bench/http_pg.sh: the HTTPS API's durable audited writes and audited reads on SQLite, on
# PostgreSQL with one server, and on PostgreSQL with two servers, in one run (issue 12, item 6).
#
# Builds ./custos if needed. Starts a PostgreSQL 15 server of its own (initdb and pg_ctl into a
# temporary directory, as the postgres user when run as root; trust auth, TCP on a free loopback
# port; fsync and synchronous_commit on: a write is acknowledged after its commit is on disk, as
# on SQLite with synchronous=FULL). Then, each with bench/http.sh's setup (a tenant, an agent API
# key, the employees collection with one sensitive field, a subject, one record), wrk (keep-alive
# TLS 1.3) drives:
#   sqlite   `custos serve` on SQLite: GET /healthz (the same-run ceiling), GET a record (the
#            audited read: its audit entry is durable before the answer), POST a record (the
#            durable audited write)
#   pg1      one `custos serve --store postgresql://...`: the two data routes, after 2 s of
#            writes and an ANALYZE (the statistics of a vault in use, not of empty tables)
#   pg2      a second `custos serve` on the same database beside the first, with a data
#            directory of its own holding copies of the first's master.key and audit.key
#            (docs/scaling.md); two wrk processes at once, one per server, each with half the
#            connections and half the threads; the two servers' requests/s summed. Each server
#            writes for a tenant of its own (split: the deployment docs/scaling.md describes,
#            many tenants spread over the servers), then both for the first server's tenant
#            (shared: one audit chain, whose head lock serializes the two servers' commits).
# Each row also gives the CPU time per request of the custos servers, of PostgreSQL (the
# postmaster and every backend, exited ones included) and of wrk, and the machine's busy share
# during the run (all processes, other users' included): on a 2-core machine the three compete
# for the same cores. Ends with one line of same-run ratios:
#   ratios: pg1_vs_sqlite=A pg2_vs_pg1=B
# A: one PostgreSQL server's durable writes per second over SQLite's; B: two servers' (split)
# over one server's (issue 12's goal: B >= 1.6). The load average is printed before and after.
# Servers are stopped with SIGTERM, PostgreSQL by its pid, at the end and on any failure.
# Loopback only; bounded in time (9 runs of CUSTOS_BENCH_DURATION, plus 2 s of warm-up writes
# on PostgreSQL and setup).
#
# usage: bench/http_pg.sh
#   CUSTOS_BENCH_DURATION     seconds per run (default 10)
#   CUSTOS_BENCH_THREADS      wrk threads in all (default 2)
#   CUSTOS_BENCH_CONNECTIONS  wrk connections in all, kept alive (default 32)
#   CUSTOS_BENCH_SERVER_THREADS  worker threads of each server (default: the server's own)
#   CUSTOS_BENCH_POOL         PostgreSQL connections of each server (default: the server's own)
#   CUSTOS_BENCH_BIN          the custos binary to run (default ./custos: a build to compare)
#   CUSTOS_BENCH_PG_STATEMENTS  N > 0: PostgreSQL with pg_stat_statements, and after one
#                             server's writes its N statements of most time (a profile; the
#                             extension costs a little of every statement: default 0, off)
set -eu

cd "$(dirname "$0")/.."
DURATION=${CUSTOS_BENCH_DURATION:-10}
THREADS=${CUSTOS_BENCH_THREADS:-2}
CONNECTIONS=${CUSTOS_BENCH_CONNECTIONS:-32}
SERVER_THREADS=${CUSTOS_BENCH_SERVER_THREADS:-0}
POOL=${CUSTOS_BENCH_POOL:-0}
STATEMENTS=${CUSTOS_BENCH_PG_STATEMENTS:-0}
PGBIN=/usr/lib/postgresql/15/bin

BENCH=bench/http_pg.sh
SERVERS=""
. bench/lib.sh
check_settings "$DURATION" "$THREADS" "$CONNECTIONS" "$SERVER_THREADS" "$POOL" "$STATEMENTS"
if [ "$THREADS" -lt 2 ] || [ "$CONNECTIONS" -lt "$THREADS" ]; then
    echo "bench/http_pg.sh: at least 2 wrk threads, and connections >= threads" >&2
    exit 2
fi
[ -x "$PGBIN/pg_ctl" ] || { echo "bench/http_pg.sh: PostgreSQL 15 is missing (make deps)" >&2; exit 1; }

make -s custos

TMP=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-pg-XXXXXX")
# PostgreSQL's directory apart: its owner may have to be the postgres user.
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-pgdb-XXXXXX")
PGPID=""
cleanup() {
    stop_servers
    if [ -n "$PGPID" ]; then
        kill -INT "$PGPID" 2>/dev/null || true
        i=0
        while kill -0 "$PGPID" 2>/dev/null && [ $i -lt 300 ]; do
            i=$((i + 1))
            sleep 0.1
        done
    fi
    rm -rf "$TMP" "$PGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private copy, so that a rebuild during the run changes nothing.
cp "${CUSTOS_BENCH_BIN:-./custos}" "$TMP/custos"

# pg_start: initdb and start PostgreSQL 15 on a free loopback port; sets PGPID and STORE.
pg_start() {
    AS=""
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$PGDIR"
        AS="runuser -u postgres --"
    fi
    PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    $AS "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres -E UTF8 >"$PGDIR/initdb.log" 2>&1 ||
        { cat "$PGDIR/initdb.log" >&2; exit 1; }
    # Durable means durable: a commit returns once its WAL is flushed to disk.
    opts="-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on"
    [ "$STATEMENTS" -eq 0 ] || opts="$opts -c shared_preload_libraries=pg_stat_statements"
    $AS "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -o "$opts" start >/dev/null ||
        { cat "$PGDIR/server.log" >&2; exit 1; }
    PGPID=$(head -n 1 "$PGDIR/data/postmaster.pid")
    PSQL="$AS $PGBIN/psql -h $PGDIR -p $PGPORT -U postgres -X -q"
    $PSQL -c "CREATE DATABASE bench" postgres
    [ "$STATEMENTS" -eq 0 ] || $PSQL -c "CREATE EXTENSION pg_stat_statements" bench
    STORE="postgresql://postgres@127.0.0.1:$PGPORT/bench"
    [ "$POOL" -eq 0 ] || STORE="$STORE?custos_pool=$POOL"
}

write_lua

CLK_TCK=$(getconf CLK_TCK)
# ticks PID...: CPU time of those processes so far (user + system), in clock ticks.
ticks() {
    for p in "$@"; do cat "/proc/$p/stat"; done |
        awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
# pg_ticks: PostgreSQL's CPU time so far: the postmaster, its children alive, and those exited
# (the postmaster's cutime and cstime). comm is cut off first: it may hold spaces.
pg_ticks() {
    [ -n "$PGPID" ] || { echo 0; return; }
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$PGPID" '{
        pid = $1; sub(/^.*\) /, "")
        if (pid == pm) t += $12 + $13 + $14 + $15
        else if ($2 == pm) t += $12 + $13 }
        END { print t + 0 }'
}
# busy: "busy_ticks all_ticks" of the whole machine so far.
busy() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# wrk_start N CONNS THREADS METHOD URL BODY AUTH: one wrk in the background, its output and
# then its CPU time (the subshell's `times`) in $TMP/wrk-N.txt; sets WPID.
wrk_start() {
    (
        BENCH_METHOD=$4 BENCH_BODY=$6 BENCH_AUTH=$7 BENCH_PURPOSE=${7:+$PURPOSE} \
            wrk -t "$3" -c "$2" -d "${DURATION}s" --timeout 10s -s "$TMP/bench.lua" "$5" ||
            exit 1
        times
    ) >"$TMP/wrk-$1.txt" 2>&1 &
    WPID=$!
}

# wrk_result N: "rps p50 p99 n bad err cpu_seconds" of wrk N.
wrk_result() {
    line=$(sed -n 's/^RESULT //p' "$TMP/wrk-$1.txt")
    [ -n "$line" ] || { cat "$TMP/wrk-$1.txt" >&2; exit 1; }
    cpu=$(tail -n 1 "$TMP/wrk-$1.txt" | awk '{
        s = 0
        for (i = 1; i <= 2; i++) { split($i, a, "m"); sub(/s$/, "", a[2]); s += a[1] * 60 + a[2] }
        print s }')
    echo "$line $cpu"
}

# run NAME METHOD {BASE PATH BODY AUTH}...: wrk against each server given, all at once, each
# with its share of the connections and threads; appends to $TMP/results
# "NAME rps p50 p99 errors group txn_ms srv_ms pg_ms wrk_ms busy% store%": requests/s summed,
# the worst server's p50 and p99, requests per group commit and the mean transaction time (over
# all servers), CPU ms per request of the servers, PostgreSQL and wrk, the machine's busy share,
# and the share of the run each server spent in store transactions (their mean: a server
# commits one group at a time, so at 100% it can commit no sooner).
run() {
    name=$1 method=$2
    shift 2
    n=$(($# / 4))
    bases=""
    c0=""
    i=0
    while [ $i -lt $# ]; do
        eval "b=\${$((i + 1))}"
        bases="$bases $b"
        c0="$c0 $(counters "$b")"
        i=$((i + 4))
    done
    # shellcheck disable=SC2086
    s0=$(ticks $SERVERS)
    p0=$(pg_ticks)
    m0=$(busy)
    i=0 wpids=""
    while [ $# -ge 4 ]; do
        i=$((i + 1))
        wrk_start "$i" $((CONNECTIONS / n)) $((THREADS / n)) "$method" "$1$2" "$3" "$4"
        wpids="$wpids $WPID"
        shift 4
    done
    for w in $wpids; do wait "$w" || { cat "$TMP"/wrk-*.txt >&2; exit 1; }; done
    m1=$(busy)
    p1=$(pg_ticks)
    # shellcheck disable=SC2086
    s1=$(ticks $SERVERS)
    c1=""
    for b in $bases; do c1="$c1 $(counters "$b")"; done
    i=0
    while [ $i -lt $n ]; do
        i=$((i + 1))
        wrk_result $i
    done | awk -v name="$name" -v c0="$c0" -v c1="$c1" -v srv=$((s1 - s0)) -v pg=$((p1 - p0)) \
        -v hz="$CLK_TCK" -v m="$m0 $m1" -v d="$DURATION" '
        { rps += $1; if ($2 > p50) p50 = $2; if ($3 > p99) p99 = $3; req += $4
          errs += $5 + $6; wrk += $7 }
        END {
            na = split(c0, a, " "); split(c1, b, " "); split(m, mm, " ")
            for (k = 1; k <= na; k += 3) {
                g += b[k] - a[k]; r += b[k + 1] - a[k + 1]; s += b[k + 2] - a[k + 2] }
            per = (req > 0 ? 1000 / req : 0)
            printf "%s %.1f %.3f %.3f %d %.1f %.2f %.3f %.3f %.3f %.0f %.0f\n", name, rps, p50,
                   p99, errs, (g > 0 ? r / g : 0), (g > 0 ? s / g * 1000 : 0), srv / hz * per,
                   pg / hz * per, wrk * per, (mm[3] - mm[1]) / (mm[4] - mm[2]) * 100,
                   s / d / (na / 3) * 100 }' \
        >>"$TMP/results"
}

MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "custos HTTP benchmark, SQLite and PostgreSQL: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${MODEL:-unknown CPU}, $(nproc) CPUs"
echo "wrk: ${DURATION} s per run, $THREADS threads and $CONNECTIONS keep-alive TLS connections in all"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$TMP/results"
RECS=/collections/employees/records

# (a) SQLite.
start sqlite
echo "server: $NTHREADS worker threads"
setup bench
run healthz GET "$BASE" /healthz "" ""
run sqlite_get GET "$BASE" "/v1/tenants/$T/records/$R" "" "$AGENT"
run sqlite_post POST "$BASE" "/v1/tenants/$T$RECS" "$BODY" "$AGENT"
stop "$PID"

# (b) One server on PostgreSQL.
pg_start
echo "PostgreSQL: $("$PGBIN/postgres" --version | sed 's/^postgres (PostgreSQL) //'), fsync on, synchronous_commit on"
start pg1 --store "$STORE"
PID1=$PID
A1=$BASE
setup bench
GET1="/v1/tenants/$T/records/$R" POST1="/v1/tenants/$T$RECS" BODY1=$BODY AGENT1=$AGENT
# A fresh database's statistics say every table is empty, so the plans PostgreSQL caches
# (custos' prepared statements, the foreign-key checks) scan tables whole, and each write would
# cost more than the last until autovacuum's first ANALYZE (a minute or more away): 2 s of
# writes, then ANALYZE, so that every run measures the indexed steady state of a vault in use.
BENCH_METHOD=POST BENCH_BODY=$BODY1 BENCH_AUTH=$AGENT1 BENCH_PURPOSE=$PURPOSE \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d 2s --timeout 10s -s "$TMP/bench.lua" "$A1$POST1" \
    >"$TMP/wrk-warm.txt" 2>&1 || { cat "$TMP/wrk-warm.txt" >&2; exit 1; }
$PSQL -c "ANALYZE" bench
run pg1_get GET "$A1" "$GET1" "" "$AGENT1"
[ "$STATEMENTS" -eq 0 ] || $PSQL -o /dev/null -c "SELECT pg_stat_statements_reset()" bench
run pg1_post POST "$A1" "$POST1" "$BODY1" "$AGENT1"
if [ "$STATEMENTS" -ne 0 ]; then
    # Per request: the run's requests are requests/s times the duration.
    n=$(awk '$1 == "pg1_post" { printf "%.0f", $2 * '"$DURATION"' }' "$TMP/results")
    echo "pg1 POST a record: PostgreSQL's $STATEMENTS statements of most time, over $n requests"
    $PSQL -P pager=off -c "SELECT round(calls::numeric / $n, 2) AS per_req,
        round(total_exec_time::numeric / $n, 3) AS ms_per_req,
        round(mean_exec_time::numeric, 3) AS ms_mean, left(regexp_replace(query, '\s+', ' ', 'g'), 60) AS statement
        FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench')
        ORDER BY total_exec_time DESC LIMIT $STATEMENTS" bench
fi

# (c) A second server on the same database: the same key file and audit key (copies), a data
# directory of its own (its own TLS certificate). Split: each server writes for a tenant of its
# own; shared: both for the first server's tenant.
mkdir -m 700 "$TMP/pg2"
cp -p "$TMP/pg1/master.key" "$TMP/pg1/audit.key" "$TMP/pg2/"
start pg2 --store "$STORE"
PID2=$PID
A2=$BASE
setup bench2
GET2="/v1/tenants/$T/records/$R" POST2="/v1/tenants/$T$RECS" BODY2=$BODY AGENT2=$AGENT
run pg2_get GET "$A1" "$GET1" "" "$AGENT1" "$A2" "$GET2" "" "$AGENT2"
run pg2_post POST "$A1" "$POST1" "$BODY1" "$AGENT1" "$A2" "$POST2" "$BODY2" "$AGENT2"
run pg2s_get GET "$A1" "$GET1" "" "$AGENT1" "$A2" "$GET1" "" "$AGENT1"
run pg2s_post POST "$A1" "$POST1" "$BODY1" "$AGENT1" "$A2" "$POST1" "$BODY1" "$AGENT1"
stop "$PID2"
stop "$PID1"

awk -v load="$(cut -d' ' -f1-3 /proc/loadavg)" -v cpus="$(nproc)" '
    NR == 1 { base_rps = $2; base_p50 = $3; base_p99 = $4 }
    { rps[$1] = $2; cpu[$1] = $8 + $9 + $10 }
    {
        label = $1 == "healthz" ? "GET /healthz (ceiling)" : \
                $1 == "sqlite_get" ? "sqlite GET a record" : \
                $1 == "sqlite_post" ? "sqlite POST a record" : \
                $1 == "pg1_get" ? "pg1 GET a record" : \
                $1 == "pg1_post" ? "pg1 POST a record" : \
                $1 == "pg2_get" ? "pg2 GET, split" : \
                $1 == "pg2_post" ? "pg2 POST, split" : \
                $1 == "pg2s_get" ? "pg2 GET, shared" : "pg2 POST, shared"
        h = $1 == "healthz"
        ours = ($8 + $9 + $10) * $2 / (cpus * 1000) * 100
        rows[NR] = sprintf("%-22s %7.0f %6.2f %7.2f %6.3f %6d %5s %6s %5s %6.3f %6.3f %6.3f %4.0f%% %4.0f%%",
                           label, $2, $3, $4, $2 / base_rps, $5, h ? "-" : sprintf("%.1f", $6),
                           h ? "-" : sprintf("%.2f", $7), h ? "-" : sprintf("%.0f%%", $12),
                           $8, $9, $10, ours, $11)
    }
    END {
        printf "%-22s %7s %6s %7s %6s %6s %5s %6s %5s %6s %6s %6s %5s %5s\n", "", "req/s",
               "p50 ms", "p99 ms", "x", "errors", "group", "txn ms", "store", "srv ms", "pg ms",
               "wrk ms", "ours", "busy"
        for (i = 1; i <= NR; i++) print rows[i]
        print ""
        print "pg1: one server on PostgreSQL; pg2: two servers on that database, wrk driving both"
        print "at once, requests/s summed, p50 and p99 the worse server'"'"'s; split: each server"
        print "for a tenant of its own; shared: both for one tenant (one audit chain)."
        print "x: ratio to GET /healthz; errors: non-2xx answers and socket errors; group:"
        print "requests per group commit; txn ms: mean time of one store transaction, fsync or"
        print "PostgreSQL'"'"'s commit included (with two servers: over both); store: the share"
        print "of the run a server spent in store transactions (one at a time: at 100% its"
        print "groups can commit no sooner; with two servers: their mean);"
        print "srv, pg, wrk ms: CPU time per request of the custos servers, of PostgreSQL (all"
        print "its processes) and of wrk; ours: the share of the machine'"'"'s " cpus " CPUs those"
        print "three used; busy: the share the whole machine was busy (other users included)"
        print ""
        c = cpu["pg2_post"]
        if (c > 0)
            printf "CPU per durable write, two servers on PostgreSQL (srv + pg + wrk): %.3f ms;\n%d CPUs to themselves would allow at most %.0f/s, %.2f x one server'"'"'s rate here\n",
                   c, cpus, cpus * 1000 / c, cpus * 1000 / c / rps["pg1_post"]
        printf "shared tenant: two servers'"'"' durable writes / one server'"'"'s: %.3f\n",
               rps["pg2s_post"] / rps["pg1_post"]
        print "load average after: " load
        printf "ratios: pg1_vs_sqlite=%.3f pg2_vs_pg1=%.3f\n", rps["pg1_post"] / rps["sqlite_post"],
               rps["pg2_post"] / rps["pg1_post"]
    }' "$TMP/results"
