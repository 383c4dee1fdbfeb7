# bench/lib.sh: what the HTTP benchmarks share (bench/http.sh, bench/http_pg.sh), sourced by
# them after they set BENCH (their name, for messages), TMP (their temporary directory, holding
# the custos binary they run), SERVER_THREADS (0: the server's default) and SERVERS="".
#
# Servers: start NAME [VAR=value...] [ARGS...] starts `custos serve` on the data directory
# $TMP/NAME on a free loopback port (the VAR=value words go to its environment, ARGS to its
# command line) and sets PID, BASE, NTHREADS and, on a vault's first start, OP (the operator
# key); every server's certificate goes into one bundle, $TMP/ca.pem, that curl trusts. stop PID
# stops one with SIGTERM (it must exit 0); stop_servers, every one still running (for a trap).
# Setup: api (one call that must answer 2xx), setup NAME (a tenant NAME with an agent key, the
# employees collection with one sensitive field, a subject and one record: T, AGENT, BODY, R;
# the tenant bound to the built-in policy CUSTOS_BENCH_POLICY if set, and every data call made
# for the purpose PURPOSE, CUSTOS_BENCH_PURPOSE or "bench", which such a policy must declare),
# counters BASE (group commits, their requests, the store's transaction time, from /metrics),
# and write_lua ($TMP/bench.lua: wrk's script, its headers and body from the environment:
# BENCH_METHOD, BENCH_BODY, BENCH_AUTH, BENCH_PURPOSE, BENCH_VISITOR (Custos-Visitor); a
# summary line "RESULT rps p50_ms p99_ms requests bad_status socket_errors").

# The tenant's policy (none by default) and the purpose of its data calls.
POLICY=${CUSTOS_BENCH_POLICY:-}
PURPOSE=${CUSTOS_BENCH_PURPOSE:-bench}

# check_settings N...: each a whole number; the first (the duration) 1 to 600 s. And the
# policy's and purpose's names: lower-case letters, digits and _ (they go into JSON and headers).
check_settings() {
    for w in "$POLICY" "$PURPOSE"; do
        case "$w" in
        *[!a-z0-9_]*) echo "$BENCH: policy and purpose names are [a-z0-9_]" >&2; exit 2 ;;
        esac
    done
    [ -n "$PURPOSE" ] || { echo "$BENCH: the purpose must not be empty" >&2; exit 2; }
    for n in "$@"; do
        case "$n" in '' | *[!0-9]*) echo "$BENCH: settings must be whole numbers" >&2; exit 2 ;; esac
    done
    if [ "$1" -lt 1 ] || [ "$1" -gt 600 ]; then
        echo "$BENCH: the duration must be 1 to 600 s" >&2
        exit 2
    fi
    command -v wrk >/dev/null || { echo "$BENCH: wrk is missing (make deps)" >&2; exit 1; }
    command -v curl >/dev/null || { echo "$BENCH: curl is missing (make deps)" >&2; exit 1; }
}

start() {
    name=$1
    shift
    envs=""
    while [ $# -gt 0 ]; do
        case "$1" in -*) break ;; *=*) envs="$envs $1"; shift ;; *) break ;; esac
    done
    # Every client is 127.0.0.1: the per-address limit (64 by default) well above the load's
    # connections, or wrk's reconnects race the server's cleanup of the connections they
    # replace, and a refused one counts as a socket error (seen at 64 connections, 3 runs in 10).
    SARGS="--data $TMP/$name --listen 127.0.0.1 --port 0 --quiet"
    SARGS="$SARGS --max-connections-per-ip $((${CONNECTIONS:-32} + 64))"
    [ "$SERVER_THREADS" -eq 0 ] || SARGS="$SARGS --threads $SERVER_THREADS"
    # shellcheck disable=SC2086
    env $envs "$TMP/custos" serve $SARGS "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!
    SERVERS="$SERVERS $PID"
    i=0
    until grep -q 'listening on' "$TMP/$name.out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 300 ] || ! kill -0 "$PID" 2>/dev/null; then
            echo "$BENCH: the server $name did not start:" >&2
            cat "$TMP/$name.out" "$TMP/$name.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    PORT=$(sed -n 's/.*listening on https:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$name.out")
    key=$(sed -n 's/.*shown once, keep it safe): \(cuk_[0-9a-f_]*\).*/\1/p' "$TMP/$name.out")
    [ -z "$key" ] || OP=$key
    NTHREADS=$(sed -n 's/.*listening on .*, \([0-9]*\) threads).*/\1/p' "$TMP/$name.out")
    BASE=https://127.0.0.1:$PORT
    cat "$TMP/$name/tls-cert.pem" >>"$TMP/ca.pem"
}

stop() {
    kill -TERM "$1"
    if wait "$1"; then status=0; else status=$?; fi
    SERVERS=$(echo "$SERVERS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true)
    [ "$status" -eq 0 ] || { echo "$BENCH: a server exited $status" >&2; exit 1; }
}

stop_servers() {
    for p in $SERVERS; do
        if kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
    SERVERS=""
}

api() {
    out=$(curl -sS --cacert "$TMP/ca.pem" -w '\n%{http_code}' -H 'Content-Type: application/json' "$@")
    code=$(printf '%s\n' "$out" | tail -n 1)
    body=$(printf '%s\n' "$out" | sed '$d')
    case "$code" in
    2??) printf '%s\n' "$body" ;;
    *) echo "$BENCH: setup call failed ($code): $body" >&2; return 1 ;;
    esac
}
first_id() { sed -n 's/^{"id":"\([0-9]*\)".*/\1/p'; }
secret() { sed -n 's/.*"secret":"\(cuk_[0-9a-f_]*\)".*/\1/p'; }

# The document of bench_core: 225 bytes, one sensitive field.
DOC='{"name":"Ada Lovelace","title":"Analyst","dept":"Engines","ssn":"123-45-6789","notes":"Prefers email; met at the 1843 conference about the analytical engine and its notes on Bernoulli numbers.","city":"London","country":"GB"}'

setup() {
    TENANT_JSON=$(api -H "Authorization: Bearer $OP" \
        -d "{\"name\":\"$1\"${POLICY:+,\"policy\":\"$POLICY\"}}" "$BASE/v1/tenants")
    T=$(printf '%s' "$TENANT_JSON" | first_id)
    OWNER=$(printf '%s' "$TENANT_JSON" | secret)
    AGENT=$(api -H "Authorization: Bearer $OWNER" -d '{"name":"bench","role":"agent"}' \
        "$BASE/v1/tenants/$T/api-keys" | secret)
    api -X PUT -H "Authorization: Bearer $OWNER" -d '{"fields":{"ssn":{"class":"sensitive"}}}' \
        "$BASE/v1/tenants/$T/collections/employees" >/dev/null
    S=$(api -H "Authorization: Bearer $AGENT" -H "Custos-Purpose: $PURPOSE" \
        -d '{"external_id":"bench-1","email":"ada@example.com"}' "$BASE/v1/tenants/$T/subjects" |
        first_id)
    BODY="{\"subject_id\":\"$S\",\"data\":$DOC}"
    R=$(api -H "Authorization: Bearer $AGENT" -H "Custos-Purpose: $PURPOSE" -d "$BODY" \
        "$BASE/v1/tenants/$T/collections/employees/records" | first_id)
    if [ -z "$T" ] || [ -z "$AGENT" ] || [ -z "$S" ] || [ -z "$R" ]; then
        echo "$BENCH: the setup answered no ids" >&2
        exit 1
    fi
}

counters() {
    api -H "Authorization: Bearer $OP" "$1/metrics" | awk '
        $1 == "custos_commit_groups_total" { g = $2 }
        $1 == "custos_commit_requests_total" { r = $2 }
        $1 == "custos_store_commit_duration_seconds_sum" { s = $2 }
        END { print g + 0, r + 0, s + 0 }'
}

write_lua() {
    cat >"$TMP/bench.lua" <<'EOF'
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local auth = os.getenv("BENCH_AUTH") or ""
local purpose = os.getenv("BENCH_PURPOSE") or ""
local visitor = os.getenv("BENCH_VISITOR") or ""
if body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
end
if auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
if purpose ~= "" then wrk.headers["Custos-Purpose"] = purpose end
if visitor ~= "" then wrk.headers["Custos-Visitor"] = visitor end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %.1f %.3f %.3f %d %d %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
}
