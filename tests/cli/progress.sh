#!/bin/sh
# Progress on long work (src/cli/cli_progress.c, docs/cli.md): sweep, audit verify, key rotate
# (master, a tenant's key, and a data key's re-encryption), backup create|verify and the tenant export write
# plain lines on a pipe once the work has lasted CUSTOS_PROGRESS_INTERVAL seconds (0 here: at
# every step), with a closing "done" line, never a carriage return or an escape; a quick job
# at the default interval writes nothing; --quiet silences them all; on a terminal (a pty made
# by util-linux's `script`, when present) a bar is redrawn in place with its percentage.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
cd "$dir"
store_begin
fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9]*\)".*/\1/p' | head -n 1; }

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create acme | id_of)
for i in 1 2 3; do "$CUSTOS" tenant create "t$i" >/dev/null; done
for i in 1 2 3 4 5; do
    echo '{"n":'$i'}' | "$CUSTOS" record put --purpose support --tenant "$T" --collection c - >/dev/null
done

# lines WHAT PATTERN command...: plain lines on a pipe, the last one "done".
lines() {
    what=$1 pat=$2
    shift 2
    CUSTOS_PROGRESS_INTERVAL=0 "$@" >out.txt 2>err.txt || fail "$*: exit $?"
    grep -q "^custos: $what: $pat" err.txt || fail "$*: no line \"$what: $pat\""
    tail -n 1 err.txt | grep -q "^custos: $what: done, " || fail "$*: no closing line"
    ! grep -q "$(printf '[\r\033]')" err.txt || fail "$*: terminal codes on a pipe"
    CUSTOS_PROGRESS_INTERVAL=0 "$@" --quiet >out.txt 2>err.txt || fail "$* --quiet: exit $?"
    [ ! -s err.txt ] || fail "$* --quiet wrote to stderr"
}
lines sweep "100% (4 of 4, " "$CUSTOS" sweep
lines "audit verify" "100% (" "$CUSTOS" audit verify
lines "audit verify" "100% (" "$CUSTOS" audit verify --tenant "$T"
# The four tenant keys, and on SQLite the record id key (docs/keys.md).
if store_pg; then keys=4; else keys=5; fi
lines "key rotate" "100% ($keys of $keys, " "$CUSTOS" key rotate
lines "key rotate" "100% (" "$CUSTOS" key rotate --tenant "$T"
lines reencrypt "[0-9]" "$CUSTOS" key rotate --tenant "$T" --data-key
lines export "0.0 MB" "$CUSTOS" tenant export --tenant "$T" --purpose support
mkdir backups
lines backup "100% (" "$CUSTOS" backup create backups
B=$(ls backups/*.manifest | head -n 1)
lines verify "100% (" "$CUSTOS" backup verify "$B"

# A quick job at the default interval (5 s) writes nothing on a pipe.
"$CUSTOS" sweep >out.txt 2>err.txt || fail "sweep"
[ ! -s err.txt ] || fail "a quick sweep wrote a progress line"

# On a terminal: the bar, redrawn in place, ending on its own line; --quiet: none.
if command -v script >/dev/null 2>&1; then
    script -qec "'$CUSTOS' sweep >/dev/null" /dev/null >tty.txt </dev/null || fail "sweep on a pty"
    grep -q "$(printf '\rsweep \\[#*-*\\]')" tty.txt || fail "no bar: $(od -c tty.txt | head -3)"
    grep -q "100% 4 of 4" tty.txt || fail "the bar never reached 100%"
    script -qec "'$CUSTOS' sweep --quiet >/dev/null" /dev/null >tty.txt </dev/null || fail "quiet"
    [ ! -s tty.txt ] || fail "--quiet drew on the terminal"
fi
echo "progress.sh: lines on a pipe, a bar on a terminal, --quiet silent"
