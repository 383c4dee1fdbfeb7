#!/bin/sh
# Runs every test: each cmocka binary in BUILD/tests and BUILD/tests/scenarios, then each of
# those that touch storage a second time with CUSTOS_TEST_STORE=postgresql (their vaults on a
# PostgreSQL 15 server the binary starts itself; the few that run once are in ONCE below, why in
# docs/testing.md), then on each store some scenario chapters alone (tests/scenarios/alone.sh)
# and each tests/cli/*.sh with the sanitized custos binary, then each libFuzzer target in $FUZZ
# (build/fuzz) for a few seconds. Prints one closing line "N passed, N failed" over all of them
# and exits non-zero if anything failed. STORES="sqlite" (or "postgresql") runs one pass only.
set -u
BUILD=${1:-build/test}
pass=0
fail=0
failed_names=""
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
STORES=${STORES:-sqlite postgresql}
# Binaries that run once (docs/testing.md says why): no storage; the store's own suites, which
# run each backend themselves; PostgreSQL's own.
ONCE="test_crypto test_json test_docs test_release test_store test_store_data test_store_reads test_store_pg
test_pg_vault test_pg_servers test_pg_locks test_pg_trips test_migrate"
out=$(mktemp)
pgdir=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$pgdir"' EXIT
# The PostgreSQL pass: one initdb, which each binary's own server copies (tests/helpers/th_pg.c).
case " $STORES " in *" postgresql "*)
    as=""
    [ "$(id -u)" -eq 0 ] && { chown postgres "$pgdir"; as="runuser -u postgres --"; }
    if $as /usr/lib/postgresql/15/bin/initdb -D "$pgdir/data" -A trust -U postgres -E UTF8 \
        --no-sync >"$out" 2>&1; then
        export CUSTOS_TEST_PG_INITDB="$pgdir/data"
    else
        cat "$out" # each binary's own initdb then says why
    fi ;;
esac
for store in $STORES; do
for t in "$BUILD"/tests/test_* "$BUILD"/tests/scenarios/test_*; do
    case "$t" in *.o|*.d) continue ;; esac
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ "$store" = postgresql ]; then
        case " $(echo $ONCE) " in *" $name "*) continue ;; esac
        name="$name(postgresql)"
        echo "[==========] $name"
    fi
    t0=$(date +%s)
    if [ "$store" = postgresql ]; then
        CUSTOS_TEST_STORE=postgresql "$t" >"$out" 2>&1
    else
        "$t" >"$out" 2>&1
    fi
    rc=$?
    cat "$out"
    # Where the suite's time goes (docs/testing.md, Cost): each binary's wall time and load.
    echo "[   TIME   ] $name $(($(date +%s) - t0)) s, load $(cut -d' ' -f1 /proc/loadavg)"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or sanitizer abort
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    [ "$rc" -eq 0 ] || failed_names="$failed_names $name"
done
done
# Scenario chapters run alone (tests/scenarios/alone.sh), then the CLI scripts, on each store:
# on PostgreSQL each script starts a server of its own (tests/helpers/store.sh). NO_STORE: the
# scripts that open no vault, run in the first pass only; SQLITE_ONLY: backup.sh, which restores
# into data directories of its own (its PostgreSQL form, `--store URL`, is test_backup's).
NO_STORE="sizes.sh layering.sh policy_check.sh"
SQLITE_ONLY="backup.sh"
first=$(echo $STORES | cut -d' ' -f1)
for store in $STORES; do
    tag=""
    [ "$store" = sqlite ] || tag="($store)"
    if CUSTOS_TEST_STORE=$store sh tests/scenarios/alone.sh "$BUILD" >"$out" 2>&1; then
        pass=$((pass + 1))
        echo "[       OK ] tests/scenarios/alone.sh$tag"
    else
        cat "$out"
        echo "[  FAILED  ] tests/scenarios/alone.sh$tag"
        fail=$((fail + 1))
        failed_names="$failed_names alone.sh$tag"
    fi
    for s in tests/cli/*.sh; do
        [ -f "$s" ] || continue
        [ "$store" = "$first" ] || case " $NO_STORE " in *" ${s##*/} "*) continue ;; esac
        [ "$store" = sqlite ] || case " $SQLITE_ONLY " in *" ${s##*/} "*) continue ;; esac
        if CUSTOS_TEST_STORE=$store CUSTOS="$BUILD/custos" sh "$s" >"$out" 2>&1; then
            pass=$((pass + 1))
            echo "[       OK ] $s$tag"
        else
            cat "$out"
            echo "[  FAILED  ] $s$tag"
            fail=$((fail + 1))
            failed_names="$failed_names $(basename "$s")$tag"
        fi
    done
done
# Each libFuzzer target (make fuzz-build) for FUZZ_SMOKE seconds: its checked-in corpus as
# seeds, new inputs in a temporary directory; a crash or a broken promise fails it.
FUZZ=${FUZZ:-build/fuzz}
for f in "$FUZZ"/fuzz_*; do
    case "$f" in *.o|*.d|*.log) continue ;; esac
    [ -x "$f" ] || continue
    n=${f##*/fuzz_}
    corpus=$(mktemp -d)
    seeds=""
    [ -d "fuzz/corpus/$n" ] && seeds="fuzz/corpus/$n"
    if "$f" -max_total_time="${FUZZ_SMOKE:-5}" -artifact_prefix="$FUZZ/" "$corpus" $seeds \
        >"$out" 2>&1; then
        pass=$((pass + 1))
        echo "[       OK ] fuzz_$n ($(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$out") runs)"
    else
        tail -40 "$out"
        echo "[  FAILED  ] fuzz_$n"
        fail=$((fail + 1))
        failed_names="$failed_names fuzz_$n"
    fi
    rm -rf "$corpus"
done
echo
[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
