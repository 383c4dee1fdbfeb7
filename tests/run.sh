#!/bin/sh
# Runs every test: each cmocka binary in BUILD/tests and BUILD/tests/scenarios, then each of
# those that touch storage a second time with CUSTOS_TEST_STORE=postgresql (their vaults on a
# PostgreSQL 15 server the binary starts itself; the few that run once are in ONCE below, why in
# docs/testing.md), then on each store some scenario chapters alone (tests/scenarios/alone.sh)
# and each tests/cli/*.sh with the sanitized custos binary, then each libFuzzer target in $FUZZ
# (build/fuzz) for a few seconds. Prints one closing line "N passed, N failed" over all of them
# and exits non-zero if anything failed. STORES="sqlite" (or "postgresql") runs one pass only.
# The binaries and scripts run JOBS at a time (one per core), each printing its output as one
# block when it ends; the few in SERIAL run after them, one at a time (docs/testing.md).
set -u
BUILD=${1:-build/test}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
STORES=${STORES:-sqlite postgresql}
# Binaries that run once (docs/testing.md says why): no storage; the store's own suites, which
# run each backend themselves; PostgreSQL's own; the browser's, whose pages call the JSON API
# that the API tests prove on both stores.
ONCE="test_crypto test_json test_docs test_release test_store test_store_data test_store_reads
test_store_wal test_store_pg test_pg_vault test_pg_servers test_pg_locks test_pg_trips
test_pg_schema test_migrate test_portal_ui"
# Timing-sensitive binaries (docs/testing.md, Parallel): run last, one at a time, after the rest.
SERIAL="test_http_commit test_crash test_http_conns"
# Scenario chapters run alone (tests/scenarios/alone.sh), then the CLI scripts, on each store:
# on PostgreSQL each script starts a server of its own (tests/helpers/store.sh). NO_STORE: the
# scripts that open no vault, run in the first pass only (every other one must source store.sh:
# tests/cli/store_switch.sh checks it); SQLITE_ONLY: backup.sh, which restores
# into data directories of its own (its PostgreSQL form, `--store URL`, is test_backup's).
NO_STORE="sizes.sh layering.sh policy_check.sh man.sh deb.sh store_switch.sh migrate.sh"
SQLITE_ONLY="backup.sh"
# Units at once: one per core unless JOBS says otherwise (JOBS=1: one after another).
JOBS=${JOBS:-$(nproc)}
work=$(mktemp -d)
out=$work/initdb.log
pgdir=$(mktemp -d)
trap 'rm -rf "$work" "$pgdir"' EXIT
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
# The units, one per line (N KIND STORE PATH, tests/run_unit.sh): every binary on each store,
# then alone.sh and the CLI scripts; N orders the failed names as the units are listed.
units=0
first=$(echo $STORES | cut -d' ' -f1)
: >"$work/parallel"
: >"$work/serial"
for store in $STORES; do
    for t in "$BUILD"/tests/test_* "$BUILD"/tests/scenarios/test_*; do
        case "$t" in *.o|*.d) continue ;; esac
        [ -x "$t" ] || continue
        name=$(basename "$t")
        if [ "$store" = postgresql ]; then
            case " $(echo $ONCE) " in *" $name "*) continue ;; esac
        fi
        units=$((units + 1))
        case " $SERIAL " in
        *" $name "*) echo "$units bin $store $t" >>"$work/serial" ;;
        *) echo "$units bin $store $t" >>"$work/parallel" ;;
        esac
    done
    units=$((units + 1))
    echo "$units alone $store -" >>"$work/parallel"
    for s in tests/cli/*.sh; do
        [ -f "$s" ] || continue
        [ "$store" = "$first" ] || case " $NO_STORE " in *" ${s##*/} "*) continue ;; esac
        [ "$store" = sqlite ] || case " $SQLITE_ONLY " in *" ${s##*/} "*) continue ;; esac
        units=$((units + 1))
        echo "$units cli $store $s" >>"$work/parallel"
    done
done
: >"$work/lock"
xargs -P "$JOBS" -L 1 sh tests/run_unit.sh "$work" "$BUILD" <"$work/parallel"
xargs -P 1 -L 1 sh tests/run_unit.sh "$work" "$BUILD" <"$work/serial"
pass=0
fail=0
failed_names=""
for i in $(seq 1 "$units"); do
    if [ ! -f "$work/res.$i" ]; then # a unit that never reported: its runner was killed
        fail=$((fail + 1))
        failed_names="$failed_names unit$i"
        continue
    fi
    read -r p f n <"$work/res.$i"
    pass=$((pass + p))
    fail=$((fail + f))
    [ -z "${n:-}" ] || failed_names="$failed_names $n"
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
