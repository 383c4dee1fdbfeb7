#!/bin/sh
# bench/export.sh: a tenant's export over HTTPS (GET /v1/tenants/{tenant}/export, issue 17's
# goal: at least 100,000 records/s, server RSS under 64 MB at any size and back to idle after).
#
# Builds ./custos and build/bench/bench_export if needed; bench_export writes a vault of
# CUSTOS_BENCH_RECORDS records (default 111,000: subjects of 90 records each and a tenth as
# the tenant's own; bench/bench_export.c) once, kept in CUSTOS_BENCH_EXPORT_DIR if set. Then
# `custos serve` on it (CUSTOS_BENCH_BIN: another custos binary, e.g. an older commit's, for a
# before-and-after pair on the same vault) and three exports in a row with curl to /dev/null.
# Prints for each: seconds, records/s, MB and the server's VmRSS and VmHWM (/proc) after it;
# the idle VmRSS before the first and 2 s after the last; the load average before and after.
# Ends with one line:
#   export: records=N per_s=A,B,C rss_idle_mb=I rss_after_mb=X,Y,Z hwm_mb=H rss_rest_mb=R
# The server is stopped with SIGTERM (and on any failure). Loopback only.
#
# usage: bench/export.sh
#   CUSTOS_BENCH_RECORDS       records in the vault (default 111000)
#   CUSTOS_BENCH_EXPORT_DIR    keep the vault there (built once) instead of a temporary one
#   CUSTOS_BENCH_BIN           the custos binary to serve with (default ./custos)
#   CUSTOS_BENCH_SERVER_ENV    extra environment for the server, e.g. MALLOC_ARENA_MAX=2
set -eu

cd "$(dirname "$0")/.."
RECORDS=${CUSTOS_BENCH_RECORDS:-111000}
BIN=${CUSTOS_BENCH_BIN:-./custos}
case "$RECORDS" in '' | *[!0-9]*) echo "bench/export.sh: records must be a whole number" >&2; exit 2 ;; esac
command -v curl >/dev/null || { echo "bench/export.sh: curl is missing (make deps)" >&2; exit 1; }

make -s custos build/bench/bench_export

TMP=$(mktemp -d "${TMPDIR:-/tmp}/custos-bench-export-XXXXXX")
DIR=${CUSTOS_BENCH_EXPORT_DIR:-$TMP/vault}
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

mkdir -p "$DIR"
if [ ! -f "$DIR/tenant" ]; then
    BENCH_EXPORT_DIR=$DIR BENCH_EXPORT_BUILD_ONLY=1 build/bench/bench_export "$RECORDS"
fi
T=$(cat "$DIR/tenant")
KEY=$(cat "$DIR/owner_key")

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2086
env ${CUSTOS_BENCH_SERVER_ENV:-} "$BIN" serve --data "$DIR/data" --listen 127.0.0.1 --port 0 \
    --quiet >"$TMP/out" 2>"$TMP/err" &
PID=$!
i=0
until grep -q 'listening on' "$TMP/out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$PID" 2>/dev/null; then
        echo "bench/export.sh: the server did not start:" >&2
        cat "$TMP/out" "$TMP/err" >&2
        exit 1
    fi
    sleep 0.1
done
PORT=$(sed -n 's/.*listening on https:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/out")

# status FIELD: the server's FIELD (VmRSS, VmHWM) in MB.
status() { awk -v f="$1:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$PID/status"; }

IDLE=$(status VmRSS)
echo "idle server VmRSS $IDLE MB"
PER_S=""
AFTER=""
for run in 1 2 3; do
    out=$(curl -sS --cacert "$DIR/data/tls-cert.pem" -o /dev/null -w '%{http_code} %{time_total} %{size_download}' \
        -H "Authorization: Bearer $KEY" -H 'Custos-Purpose: export' \
        "https://127.0.0.1:$PORT/v1/tenants/$T/export")
    set -- $out
    [ "$1" = 200 ] || { echo "bench/export.sh: the export answered $1" >&2; exit 1; }
    rate=$(awk -v n="$RECORDS" -v s="$2" 'BEGIN { printf "%.0f", n / s }')
    rss=$(status VmRSS)
    printf 'export %d: %.2f s, %s records/s, %.1f MB, VmRSS %s MB, VmHWM %s MB\n' "$run" "$2" \
        "$rate" "$(awk -v b="$3" 'BEGIN { print b / 1e6 }')" "$rss" "$(status VmHWM)"
    PER_S=${PER_S:+$PER_S,}$rate
    AFTER=${AFTER:+$AFTER,}$rss
done
sleep 2
REST=$(status VmRSS)
HWM=$(status VmHWM)
echo "2 s after: VmRSS $REST MB"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$PID"
if wait "$PID"; then status=0; else status=$?; fi
PID=""
[ "$status" -eq 0 ] || { echo "bench/export.sh: the server exited $status" >&2; exit 1; }
echo "export: records=$RECORDS per_s=$PER_S rss_idle_mb=$IDLE rss_after_mb=$AFTER hwm_mb=$HWM rss_rest_mb=$REST"
