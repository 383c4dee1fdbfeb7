#!/bin/sh
# sizes.sh: no source file in src/ over 1,000 lines and no function over 80 (issue 9, Done means;
# docs/STYLE: a typical function is 6 to 18 lines).
#
#   sh tests/cli/sizes.sh             checks this tree, then proves the check on planted files in
#                                     a temporary directory (what `make test` runs)
#   sh tests/cli/sizes.sh --check DIR checks DIR/src only; exit 1 on any violation
#
# A function is counted from its opening brace to its closing one, both included, as the
# tree's K&R layout writes it (.clang-format, BreakBeforeBraces: Linux): a header starting at
# the margin, then "{" alone at the margin, or at the end of the header's last line, and "}"
# at the margin. Its name is the identifier before the first "(" of the header, which may run
# over several lines. Initializers ("= {"), struct and enum bodies are no functions.
set -u

MAX_FILE_LINES=${MAX_FILE_LINES:-1000}
MAX_FUNC_LINES=${MAX_FUNC_LINES:-80}

awk_check='
function report_file() {
    if (fname != "" && lines > maxfile)
        printf "%s: %d lines (at most %d)\n", fname, lines, maxfile
}
FNR == 1 { report_file(); fname = FILENAME; lines = 0; start = 0; header = ""; hline = 0 }
{ lines = FNR; sub(/\r$/, "") }
# Inside a function: wait for its closing brace at the margin.
start > 0 {
    if ($0 ~ /^}/) {
        n = FNR - start + 1
        if (n > maxfunc)
            printf "%s:%d: function %s is %d lines (at most %d)\n", FILENAME, start, name, n, maxfunc
        start = 0; header = ""
    }
    next
}
# A header begins at the margin with an identifier, holds a "(", and is no declaration
# (a ";" ends those), initializer or preprocessor line.
/^[A-Za-z_]/ && !/^(typedef|struct|union|enum)[ \t][^(]*(\{|;)[ \t]*$/ {
    header = $0; hline = FNR
}
header != "" && FNR > hline { header = header " " $0 }
header != "" && /;[ \t]*$/ && $0 !~ /^\{/ { header = ""; next }
header != "" && /=[ \t]*\{?[ \t]*$/ { header = ""; next }
# The opening brace: alone at the margin, or ending the header line itself.
header != "" && ($0 ~ /^\{/ || $0 ~ /\)[ \t]*(__attribute__.*)?\{[ \t]*$/) {
    if (header ~ /\(/) {
        h = header; sub(/\(.*/, "", h); sub(/.*[^A-Za-z0-9_]/, "", h)
        name = h; start = FNR
    }
    header = ""
    next
}
END { report_file() }
'

# check ROOT: prints every file and function over its limit; fails if there is any.
check() {
    files=$(find "$1/src" -type f \( -name '*.c' -o -name '*.h' \) | sort)
    [ -n "$files" ] || {
        echo "$1/src: no source files"
        return 1
    }
    found=$(awk -v maxfile="$MAX_FILE_LINES" -v maxfunc="$MAX_FUNC_LINES" "$awk_check" $files |
        sed "s|^$1/||")
    [ -z "$found" ] || {
        printf '%s\n' "$found"
        return 1
    }
}

if [ "${1:-}" = "--check" ]; then
    check "${2:-.}"
    exit $?
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

# The tree itself must pass: the one this script is in, from wherever it is run.
here=$(cd "$(dirname "$0")/../.." && pwd)
if ! out=$(check "$here"); then
    printf '%s\n' "$out"
    echo "FAIL: files or functions over their limits in this tree"
    fails=$((fails + 1))
fi

# lines N: N numbered statement lines, for a function body.
lines() {
    i=0
    while [ "$i" -lt "$1" ]; do
        i=$((i + 1))
        printf '    x += %d;\n' "$i"
    done
}
# func NAME BODY_LINES [same]: a function of BODY_LINES + 2 lines counting its braces; "same"
# puts the opening brace on the header's line.
func() {
    if [ "${3:-}" = same ]; then
        printf 'static int %s(int x) {\n' "$1"
    else
        printf 'static int\n%s(int x,\n    int y)\n{\n' "$1"
    fi
    lines "$2"
    printf '    return x;\n}\n\n'
}

# Each planted file must fail the check with its reason, or pass where it is within limits.
plant() { # plant NAME EXPECTED (empty: must pass); the file is in $work/t/src/a/f.c
    got=$(sh "$0" --check "$work/t")
    rc=$?
    if [ -z "$2" ]; then
        if [ "$rc" -eq 0 ]; then
            echo "ok: $1: passes"
        else
            echo "FAIL: $1: refused within the limits: $got"
            fails=$((fails + 1))
        fi
    elif [ "$rc" -eq 0 ] || ! printf '%s\n' "$got" | grep -q "$2"; then
        echo "FAIL: $1: not caught (rc $rc): $got"
        fails=$((fails + 1))
    else
        echo "ok: $1: $got"
    fi
}
fresh() {
    rm -rf "$work/t"
    mkdir -p "$work/t/src/a"
}

fresh
{
    printf '/* a file within the limits */\nstatic const int tab[] = {\n'
    lines 120 | sed 's/x += \(.*\);/\1,/'
    printf '};\ntypedef struct s {\n'
    lines 90 | sed 's/x += \([0-9]*\);/int f\1;/'
    printf '} s;\n'
    func exactly_eighty 77
} >"$work/t/src/a/f.c"
plant "an 80-line function, a long initializer and a long struct" ""

fresh
func too_long 78 >"$work/t/src/a/f.c"
plant "an 81-line function" "src/a/f.c:4: function too_long is 81 lines (at most 80)"

fresh
func brace_on_header 78 same >"$work/t/src/a/f.c"
plant "an 81-line function with its brace on the header" \
    "src/a/f.c:1: function brace_on_header is 81 lines (at most 80)"

fresh
{
    printf 'char *\nlong_name_returning_pointer(void)\n{\n'
    lines 90
    printf '    return 0;\n}\n'
} >"$work/t/src/a/f.c"
plant "a multi-line header" "function long_name_returning_pointer is 93 lines"

fresh
lines 1001 >"$work/t/src/a/f.c"
plant "a 1,001-line file" "src/a/f.c: 1001 lines (at most 1000)"

fresh
lines 1001 >"$work/t/src/a/f.h"
plant "a 1,001-line header" "src/a/f.h: 1001 lines (at most 1000)"

fresh
lines 1000 >"$work/t/src/a/f.c"
plant "a 1,000-line file" ""

[ "$fails" -eq 0 ] || exit 1
echo "sizes: ok"
