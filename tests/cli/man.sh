#!/bin/sh
# The man pages and completions (scripts/gen_docs.sh) say what the binary's --help says: for
# custos(1) and each custos-COMMAND(1), the words between the page's "help begins" and "help
# ends" marks are those of `custos [COMMAND] --help`, in order (an environment variable moved
# to its option's last line aside); every command of main.c's table has a page; every setting
# cmd_serve.c reads from a file has an entry in custos.conf(5); groff renders each page without
# a warning. Then bash's completion function completes commands, verbs, options and files for
# a few prefixes, and zsh (if present) parses its function. Run from the repository root.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

sh scripts/gen_docs.sh "$CUSTOS" "$dir/out" || fail "gen_docs.sh: exit $?"
M=$dir/out/man1

words() { tr -s ' \t' '\n\n' | grep -v '^$' | grep -v '^CUSTOS_[A-Z_]*\(=1\)\?$' || true; }
envs() { tr -s ' \t' '\n\n' | grep '^CUSTOS_[A-Z_]*\(=1\)\?$' | sort || true; }
page_text() {
    sed -n '/^\.\\" help begins$/,/^\.\\" help ends$/p' "$1" | grep -v '^\.' |
        sed 's/\\f[BIR]//g; s/\\-/-/g; s/\\e/\\/g; s/\\&//g'
}
check_page() { # PAGE HELP-ARGS...
    page=$1
    shift
    [ -f "$page" ] || fail "no page $page"
    "$CUSTOS" "$@" --help | sed '1s/^usage: //' >"$dir/help"
    page_text "$page" >"$dir/page"
    words <"$dir/help" >"$dir/hw"
    words <"$dir/page" >"$dir/pw"
    [ -s "$dir/hw" ] || fail "custos $* --help printed nothing"
    cmp -s "$dir/hw" "$dir/pw" || { diff "$dir/hw" "$dir/pw" | head -5 >&2; fail "$page differs from custos $* --help"; }
    [ "$(envs <"$dir/help")" = "$(envs <"$dir/page")" ] || fail "$page: environment variables differ"
    [ -z "$(groff -man -ww -z "$page" 2>&1)" ] || fail "$page: groff warns: $(groff -man -ww -z "$page" 2>&1 | head -2)"
}

check_page "$M/custos.1"
n=0
cmds=$(grep -o '{"[a-z]*", *cmd_' src/cli/main.c | sed 's/{"\([a-z]*\)".*/\1/')
for c in $cmds; do
    check_page "$M/custos-$c.1" "$c"
    n=$((n + 1))
done
[ "$n" -ge 18 ] || fail "only $n commands in main.c's table"

# custos.conf(5): each name of cmd_serve.c's settings table.
conf=$dir/out/man5/custos.conf.5
[ -z "$(groff -man -ww -z "$conf" 2>&1)" ] || fail "custos.conf.5: groff warns"
names=$(sed -n '/^static const char \*const names\[NSETTINGS\] = {/,/};/p' src/cli/cmd_serve.c |
    grep -o '"[a-z_]*"' | tr -d '"')
[ "$(echo "$names" | wc -w)" -ge 20 ] || fail "read no settings from cmd_serve.c"
for s in $names; do
    grep -qx "\\\\fB$(echo "$s" | sed 's/-/\\\\-/g')\\\\fR" "$conf" || fail "custos.conf(5) lacks $s"
done

# bash completion: COMP_WORDS as bash fills them, then what _custos offers.
comp() { # EXPECTED WORDS...
    want=$1
    shift
    got=$(bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _custos
        printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' sh "$dir/out/completions/custos" "$@")
    [ "$got" = "$want" ] || fail "completing '$*': got '$got', expected '$want'"
}
comp "backup " custos ba
comp "serve subject sweep " custos s
comp "create " custos backup cr
comp "reencrypt retire " custos key re
comp "--journal " custos backup --jo
comp "--out " custos tenant export --ou
comp "--cert --config " custos serve --c
touch "$dir/policy-file.yaml"
comp "$dir/policy-file.yaml " custos tenant create --policy "$dir/policy-f"
comp " " custos nosuch x
if command -v zsh >/dev/null 2>&1; then
    zsh -n "$dir/out/completions/_custos" || fail "zsh cannot parse _custos"
fi
echo "man.sh: $n command pages, custos.1, custos.conf.5 and completions agree with --help"
