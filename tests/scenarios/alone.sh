#!/bin/sh
# Runs scenario chapters alone (issue 9: no test depends on another having run): each with
# cmocka's filter, so its set-up replays the chapters before it on a fresh server (sc.h).
# By default the first and the middle chapter of each scenario, which `make test` runs;
# SC_ALONE=all runs every chapter alone (`make test-alone`, minutes). CUSTOS_TEST_STORE=postgresql
# in the environment (run.sh's second pass) puts each chapter's vaults on PostgreSQL (sc.h).
# Usage: tests/scenarios/alone.sh [BUILD]
set -u
BUILD=${1:-build/test}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
bad=0
for src in tests/scenarios/test_*.c; do
    bin="$BUILD/tests/scenarios/$(basename "$src" .c)"
    [ -x "$bin" ] || { echo "FAIL: $bin is not built"; bad=1; continue; }
    names=$(sed -n 's/^[[:space:]]*cmocka_unit_test(\(test_[A-Za-z0-9_]*\)),*$/\1/p' "$src")
    n=$(echo "$names" | wc -l)
    [ "$n" -ge 1 ] || { echo "FAIL: no chapters in $src"; bad=1; continue; }
    if [ "${SC_ALONE:-}" = all ]; then
        pick=$(seq 1 "$n")
    else
        pick=$(printf '1\n%s\n' $(((n + 1) / 2)) | sort -un)
    fi
    for i in $pick; do
        name=$(echo "$names" | sed -n "${i}p")
        if "$bin" "$name" >"$out" 2>&1 && grep -q '^\[  PASSED  \] 1 test(s)\.' "$out"; then
            echo "[       OK ] alone: $(basename "$bin") $name"
        else
            cat "$out"
            echo "[  FAILED  ] alone: $(basename "$bin") $name"
            bad=1
        fi
    done
done
exit "$bad"
