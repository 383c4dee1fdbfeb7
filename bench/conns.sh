#!/bin/sh
# bench/conns.sh: the server's memory with many idle keep-alive TLS connections (issue 17,
# item 7: 1,000 connections in at most 64 MB).
#
# Builds ./custos if needed. Starts `custos serve --quiet` on a free loopback port with a fresh
# data directory and room for the connections (--max-connections, --max-connections-per-ip:
# they all come from 127.0.0.1; --header-timeout, so that none is cut while the rest open).
# A small python3 client opens the connections one after another, each a TLS 1.3 handshake and
# one GET /healthz answered in full, and keeps them open and idle. The server's VmRSS is read
# from /proc before the first connection and once all are open and idle, then VmHWM; the cost
# of a connection is the growth of VmRSS divided by their number. The client and the server
# are stopped by their pids, the server with SIGTERM; bounded in time (the client gives up
# after CUSTOS_BENCH_TIMEOUT seconds).
#
# usage: bench/conns.sh
#   CUSTOS                 the binary to measure (default ./custos, built if needed)
#   CUSTOS_BENCH_CONNS     connections (default 1000)
#   CUSTOS_BENCH_TIMEOUT   seconds the client may take to open them (default 120)
#   CUSTOS_BENCH_REQUEST   the request each connection makes before it idles: healthz (the
#                          default: 0.1 KB answered) or metrics (with the operator key: a
#                          credential checked and about 6 KB answered)
set -eu

cd "$(dirname "$0")/.."
CONNS=${CUSTOS_BENCH_CONNS:-1000}
TIMEOUT=${CUSTOS_BENCH_TIMEOUT:-120}
REQUEST=${CUSTOS_BENCH_REQUEST:-healthz}
case "$REQUEST" in healthz | metrics) ;; *) echo "bench/conns.sh: healthz or metrics" >&2; exit 2 ;; esac
for n in "$CONNS" "$TIMEOUT"; do
    case "$n" in '' | *[!0-9]*) echo "bench/conns.sh: settings must be whole numbers" >&2; exit 2 ;; esac
done
if [ "$CONNS" -lt 1 ] || [ "$CONNS" -gt 4000 ] || [ "$TIMEOUT" -lt 1 ] || [ "$TIMEOUT" -gt 600 ]; then
    echo "bench/conns.sh: 1 to 4000 connections, 1 to 600 s" >&2
    exit 2
fi
command -v python3 >/dev/null || { echo "bench/conns.sh: python3 is missing" >&2; exit 1; }
# Each side holds one descriptor per connection, and then some.
ulimit -n $((CONNS * 2 + 256)) 2>/dev/null || {
    echo "bench/conns.sh: cannot raise the descriptor limit to $((CONNS * 2 + 256))" >&2
    exit 1
}

if [ -z "${CUSTOS:-}" ]; then
    make -s custos
    CUSTOS=./custos
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-conns-XXXXXX")
PID=""
CPID=""
cleanup() {
    if [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; then
        kill -TERM "$CPID" 2>/dev/null || true
        wait "$CPID" 2>/dev/null || true
    fi
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private copy, so that a rebuild of ./custos during the run changes nothing.
cp "$CUSTOS" "$TMP/custos"

"$TMP/custos" serve --data "$TMP/data" --listen 127.0.0.1 --port 0 --quiet \
    --max-connections $((CONNS + 64)) --max-connections-per-ip $((CONNS + 16)) \
    --header-timeout $((TIMEOUT + 60)) >"$TMP/out" 2>"$TMP/err" &
PID=$!
i=0
until grep -q 'listening on' "$TMP/out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$PID" 2>/dev/null; then
        echo "bench/conns.sh: the server did not start:" >&2
        cat "$TMP/out" "$TMP/err" >&2
        exit 1
    fi
    sleep 0.1
done
PORT=$(sed -n 's/.*listening on https:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/out")
OP=$(sed -n 's/.*shown once, keep it safe): \(cuk_[0-9a-f_]*\).*/\1/p' "$TMP/out")

# status FIELD: the server's FIELD (VmRSS, VmHWM) in KiB.
status() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$PID/status"; }

# The client: opens the connections, answers one request on each, says "open N", then holds
# them until its standard input closes (or it is killed).
cat >"$TMP/client.py" <<'EOF'
import socket, ssl, sys, time

port, n, timeout, path, key = sys.argv[1:6]
port, n, timeout = int(port), int(n), float(timeout)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # loopback, the server's own self-signed certificate
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
auth = "Authorization: Bearer %s\r\n" % key if key else ""
req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, auth)).encode()
deadline = time.monotonic() + timeout
held = []
for _ in range(n):
    if time.monotonic() > deadline:
        sys.exit("client: out of time after %d connections" % len(held))
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
    s.sendall(req)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("client: the server closed a connection")
        got += chunk
    head, body = got.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit("client: " + head.split(b"\r\n")[0].decode())
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    while length and len(body) < length[0]:
        body += s.recv(4096)
    held.append(s)
print("open %d" % len(held), flush=True)
sys.stdin.read()
EOF

sleep 1
RSS0=$(status VmRSS)
mkfifo "$TMP/hold"
KEY=""
[ "$REQUEST" = healthz ] || KEY=$OP
python3 "$TMP/client.py" "$PORT" "$CONNS" "$TIMEOUT" "/$REQUEST" "$KEY" <"$TMP/hold" >"$TMP/client.out" 2>&1 &
CPID=$!
exec 3>"$TMP/hold" # the client holds its connections while this stays open
i=0
until grep -q '^open' "$TMP/client.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt $((TIMEOUT * 10 + 100)) ] || ! kill -0 "$CPID" 2>/dev/null; then
        echo "bench/conns.sh: the client did not open its connections:" >&2
        cat "$TMP/client.out" "$TMP/err" >&2
        exit 1
    fi
    sleep 0.1
done
sleep 2 # idle: every answer sent, every connection back to waiting for a request
RSS1=$(status VmRSS)
HWM=$(status VmHWM)
exec 3>&-
wait "$CPID" || true
CPID=""
kill -TERM "$PID"
wait "$PID" || { echo "bench/conns.sh: the server did not exit cleanly" >&2; exit 1; }
PID=""

MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "custos connection memory: $(date -u +%Y-%m-%dT%H:%M:%SZ), ${MODEL:-unknown CPU}, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "each connection: TLS 1.3, GET /$REQUEST answered, then idle"
awk -v n="$CONNS" -v r0="$RSS0" -v r1="$RSS1" -v hwm="$HWM" 'BEGIN {
    printf "idle server          VmRSS %6.1f MB\n", r0 / 1024
    printf "%5d idle TLS conns  VmRSS %6.1f MB  VmHWM %6.1f MB\n", n, r1 / 1024, hwm / 1024
    printf "per connection       %6.1f KB\n", (r1 - r0) / n
    printf "conns: n=%d rss_mb=%.1f hwm_mb=%.1f per_conn_kb=%.1f goal_1000_mb=64\n", n, r1 / 1024,
           hwm / 1024, (r1 - r0) / n
}'
