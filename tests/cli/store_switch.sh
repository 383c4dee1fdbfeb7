#!/bin/sh
# store_switch.sh: every CLI script that keeps a vault runs it on the store of the pass
# (docs/testing.md, The CLI scripts). run.sh runs each tests/cli/*.sh outside its NO_STORE list
# on both stores, but only tests/helpers/store.sh turns CUSTOS_TEST_STORE=postgresql into the
# CUSTOS_STORE the custos commands read: a script that never sources it runs its "(postgresql)"
# pass on SQLite again, and passes. Checked here, by reading the scripts:
#   - a script outside NO_STORE sources tests/helpers/store.sh, calls store_begin on a line of
#     its own and store_end (its EXIT trap or the cleanup that trap runs);
#   - a script in NO_STORE runs no `custos init` (it is run once, so its vault would be SQLite's
#     only), unless it keeps vaults on both stores itself and says so by exporting
#     CUSTOS_TEST_STORE=postgresql on a line of its own (migrate.sh: SQLite to PostgreSQL).
# A textual check: it cannot see a vault made without `init` by a script in NO_STORE.
#
#   sh tests/cli/store_switch.sh [DIR]   checks DIR/tests (default: this tree); exit 1 if any
set -u
root=${1:-.}
no_store=$(sed -n 's/^NO_STORE="\(.*\)"$/\1/p' "$root/tests/run.sh")
[ -n "$no_store" ] || { echo "FAIL: no NO_STORE line in $root/tests/run.sh" >&2; exit 1; }
bad=0
for s in "$root"/tests/cli/*.sh; do
    n=${s##*/}
    case " $no_store " in
    *" $n "*)
        if grep -q '"\$CUSTOS"[[:space:]]*init' "$s" &&
            ! grep -q '^export CUSTOS_TEST_STORE=postgresql' "$s"; then
            echo "FAIL: $n is in run.sh's NO_STORE but runs custos init" >&2
            bad=1
        fi
        continue ;;
    esac
    grep -q '^\. "\${0%/\*}/\.\./helpers/store\.sh"' "$s" ||
        { echo "FAIL: $n does not source tests/helpers/store.sh" >&2; bad=1; }
    grep -q '^[[:space:]]*store_begin[[:space:]]*$' "$s" ||
        { echo "FAIL: $n does not call store_begin" >&2; bad=1; }
    grep -q 'store_end' "$s" || { echo "FAIL: $n does not call store_end" >&2; bad=1; }
done
[ "$bad" -eq 0 ] || exit 1
echo "store switch: ok"
