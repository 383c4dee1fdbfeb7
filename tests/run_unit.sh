#!/bin/sh
# One unit of tests/run.sh, which runs several at once (docs/testing.md, Parallel):
#   tests/run_unit.sh WORK BUILD SEQ KIND STORE PATH
# KIND is bin (a cmocka binary), alone (tests/scenarios/alone.sh) or cli (a tests/cli script);
# STORE sqlite or postgresql. The unit's output is printed as one block when it ends (a lock
# on WORK/lock keeps blocks whole), and its counts go to WORK/res.SEQ: "PASSED FAILED [NAME]",
# NAME when it failed. Always exits 0: run.sh counts from the res files.
set -u
work=$1
BUILD=$2
seq=$3
kind=$4
store=$5
path=$6
out=$work/out.$seq
blk=$work/blk.$seq
name=${path##*/}
tag=""
[ "$store" = sqlite ] || tag="($store)"
t0=$(date +%s)
case $kind in
bin) CUSTOS_TEST_STORE=$store "$path" >"$out" 2>&1 ;;
alone) CUSTOS_TEST_STORE=$store sh tests/scenarios/alone.sh "$BUILD" >"$out" 2>&1 ;;
cli) CUSTOS_TEST_STORE=$store CUSTOS="$BUILD/custos" sh "$path" >"$out" 2>&1 ;;
*) echo "run_unit.sh: unknown kind $kind" >"$out"; false ;;
esac
rc=$?
secs=$(($(date +%s) - t0))
if [ "$kind" = bin ]; then
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$out" |
        awk '{s+=$1} END {print s+0}')
    [ "$rc" -eq 0 ] || [ "$f" -ne 0 ] || f=1 # crashed or sanitizer abort
    {
        [ -z "$tag" ] || echo "[==========] $name$tag"
        cat "$out"
        # Where the suite's time goes (docs/testing.md, Cost): each unit's wall time and load.
        echo "[   TIME   ] $name$tag $secs s, load $(cut -d' ' -f1 /proc/loadavg)"
    } >"$blk"
else
    p=0 f=0
    [ "$kind" = alone ] && path=tests/scenarios/alone.sh
    if [ "$rc" -eq 0 ]; then
        p=1
        echo "[       OK ] $path$tag ($secs s)" >"$blk"
    else
        f=1
        { cat "$out"; echo "[  FAILED  ] $path$tag"; } >"$blk"
    fi
    name=${path##*/}
fi
flock "$work/lock" cat "$blk"
if [ "$rc" -eq 0 ]; then
    echo "$p $f" >"$work/res.$seq"
else
    echo "$p $f $name$tag" >"$work/res.$seq"
fi
rm -f "$out" "$blk"
exit 0
