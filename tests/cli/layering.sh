#!/bin/sh
# layering.sh: the layering check of docs/architecture.md (issue 9, item 12).
#
#   sh tests/cli/layering.sh             checks this tree, then proves the check on planted
#                                        violations in temporary copies (what `make test` runs)
#   sh tests/cli/layering.sh --check DIR checks the tree at DIR only; exit 1 on any violation
#
# Layers, bottom-up (rank): base and util (0) < crypto, store (1) < core (2) < repr (3)
# < http, cli (4). A file in src/ or include/ may include headers of its own layer and of lower
# ones only; siblings (crypto and store; http and cli) include neither of the other, except
# that src/cli/cmd_serve.c includes http.h to start the server; a private header (*_int.h)
# serves its own directory alone. Libraries stay in their folder: sqlite3.h and
# libpq-fe.h in src/store, sodium.h and nettle's headers in src/crypto, microhttpd.h and
# GnuTLS in src/http.
#
# What include/custos_base.h declares must be defined below the core (util, crypto or store),
# so the ground needs nothing above it at link time either.
#
# A quoted include is resolved as the compiler does: the including file's directory first,
# then the Makefile's -I directories in order. So `#include "core_int.h"` from src/store is seen
# as the core's header even though -Isrc/core lets it compile.
#
# Exceptions: cmd_serve.c above, none else in src/ or include/. tests/, bench/ and fuzz/ are
# not checked: tests reach into private headers (core_int.h, http_int.h) and the database on
# purpose, to look at what an attacker would see.
set -u

# violations ROOT: prints each violation as "file:line: reason"; nothing if there is none.
# One awk pass: the tree's headers first (to resolve quoted includes), then every source file.
violations() {
    root=$1
    inc=$(sed -n 's/^INC *:= *//p' "$root/Makefile" | sed 's/-I//g')
    if [ -z "$inc" ]; then
        echo "Makefile: no INC line to resolve includes with"
        return
    fi
    (
        cd "$root" || exit 1
        find src include -name '*.h' | sort >"$tmp_list"
        # One awk over all files (not xargs, which may split them): END sees every definition.
        awk -v inc="$inc" -v list="$tmp_list" "$awk_check" $(find src include -name '*.[ch]' | sort)
    )
}

awk_check='
# The layer of a path in the tree; "unknown" outside the known folders.
function layer(p) {
    if (p == "include/custos_base.h") return "base"  # the ground: cu_rc, cu_err, ids, time
    if (p ~ /^include\//) return "core"               # custos.h: the core public API
    if (p ~ /^src\/(util|crypto|store|core|repr|http|cli)\//) { split(p, a, "/"); return a[2] }
    return "unknown"
}
function rank(l) {
    if (l == "base" || l == "util") return 0
    if (l == "crypto" || l == "store") return 1
    if (l == "core") return 2
    if (l == "repr") return 3
    if (l == "http" || l == "cli") return 4
    return 9
}
# The folder a third-party header must stay in; "" if any layer may include it.
function home(h) {
    if (h ~ /^(sqlite3\.h|sqlite3ext\.h|libpq-fe\.h|postgresql\/libpq-fe\.h)$/) return "src/store"
    if (h ~ /^sodium(\.h|\/)/) return "src/crypto"
    if (h ~ /^nettle\//) return "src/crypto"
    if (h ~ /^(microhttpd\.h|gnutls\/)/) return "src/http"
    return ""
}
# dir/name with "." and ".." folded.
function join(dir, name,    n, i, a, out, k, parts) {
    n = split(dir "/" name, a, "/"); k = 0
    for (i = 1; i <= n; i++) {
        if (a[i] == "" || a[i] == ".") continue
        if (a[i] == "..") { if (k > 0) k--; continue }
        parts[++k] = a[i]
    }
    out = parts[1]
    for (i = 2; i <= k; i++) out = out "/" parts[i]
    return out
}
function dirname(p) { sub(/\/[^\/]*$/, "", p); return p }
BEGIN {
    # The one exception: `custos serve` starts the HTTPS server (cu_http_serve), so the CLI
    # command that does it includes http.h; no other CLI file does.
    allowed["src/cli/cmd_serve.c src/http/http.h"] = 1
    while ((getline h < list) > 0) header[h] = 1
    ndirs = split(inc, dirs, " ")
    # What the ground declares (functions, arrays) must be defined below the core.
    while ((getline h < "include/custos_base.h") > 0)
        if (h ~ /^[a-z]/ && match(h, /cu_[a-z0-9_]+[(\[]/))
            base_decl[substr(h, RSTART, RLENGTH - 1)] = 1
}
FNR == 1 {
    f = FILENAME; fl = layer(f); fr = rank(fl); fdir = dirname(f)
    if (fl == "unknown")
        print f ": in no layer (add its folder to tests/cli/layering.sh and docs/architecture.md)"
}
# A definition: a non-static line at the margin naming a function or array, not ending in ";".
/^[a-z]/ && !/^static/ && !/;[ \t]*$/ && match($0, /cu_[a-z0-9_]+[(\[]/) {
    sym = substr($0, RSTART, RLENGTH - 1)
    if (sym in base_decl && f ~ /\.c$/) defined_in[sym] = f
}
/^[ \t]*#[ \t]*include/ && fl != "unknown" {
    s = $0; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s)
    k = substr(s, 1, 1); e = (k == "<") ? ">" : "\""
    s = substr(s, 2); i = index(s, e)
    if ((k != "<" && k != "\"") || i < 2) next
    name = substr(s, 1, i - 1); where = f ":" FNR ": "
    if ((hm = home(name)) != "") {
        if (index(f, hm "/") != 1) print where "includes <" name ">, which belongs to " hm " alone"
        next
    }
    if (k == "<") next
    hit = join(fdir, name)
    for (d = 1; !(hit in header) && d <= ndirs; d++) hit = join(dirs[d], name)
    if (!(hit in header)) { print where "\"" name "\" is no header of this tree"; next }
    hl = layer(hit); hr = rank(hl)
    if (hr > fr)
        print where fl " includes " hit " of " hl ", a higher layer"
    else if (hr == fr && hl != fl && hl != "base" && fl != "base" && !((f " " hit) in allowed))
        print where fl " includes " hit " of its sibling " hl
    if (hit ~ /_int\.h$/ && dirname(hit) != fdir)
        print where "includes " hit ", the private header of " dirname(hit)
}
END {
    for (sym in base_decl) {
        if (!(sym in defined_in))
            print "include/custos_base.h: " sym " is defined in no .c file of src/"
        else if (rank(layer(defined_in[sym])) >= rank("core"))
            print "include/custos_base.h: " sym " is defined in " defined_in[sym] " (" \
                  layer(defined_in[sym]) "), above the ground"
    }
}
'

# check ROOT: prints the violations; fails if there is any.
check() {
    found=$(violations "$1")
    [ -z "$found" ] || {
        printf '%s\n' "$found"
        return 1
    }
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tmp_list=$work/headers

if [ "${1:-}" = "--check" ]; then
    check "${2:-.}"
    exit $?
fi

# The tree itself must pass: the one this script is in, from wherever it is run.
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$(check "$here") || {
    printf '%s\n' "$out"
    echo "FAIL: layering violations in this tree"
    exit 1
}

# Each planted violation must fail the check with its reason; the clean copy must pass.
tmp=$work
fails=0
plant() { # plant NAME FILE LINE EXPECTED
    rm -rf "${tmp:?}/t"
    mkdir -p "$tmp/t"
    cp -R "$here/src" "$here/include" "$here/Makefile" "$tmp/t/"
    if [ -n "$2" ]; then
        mkdir -p "$(dirname "$tmp/t/$2")"
        printf '%s\n' "$3" >>"$tmp/t/$2"
    fi
    got=$(sh "$self" --check "$tmp/t")
    rc=$?
    if [ -z "$2" ]; then
        [ "$rc" -eq 0 ] || {
            echo "FAIL: $1: the clean copy fails: $got"
            fails=$((fails + 1))
        }
        return
    fi
    if [ "$rc" -eq 0 ] || ! printf '%s\n' "$got" | grep -q "$4"; then
        echo "FAIL: $1: not caught (rc $rc): $got"
        fails=$((fails + 1))
    else
        echo "ok: $1: $got"
    fi
}
plant "clean copy" "" "" ""
plant "store reaches core by -I" src/store/sqlite_pool.c '#include "core_int.h"' \
    "store includes src/core/core_int.h of core, a higher layer"
plant "util includes the top" src/util/util.c '#include "custos.h"' \
    "util includes include/custos.h of core, a higher layer"
plant "base includes the top" include/custos_base.h '#include "custos.h"' \
    "base includes include/custos.h of core, a higher layer"
plant "core includes http" src/core/commit.c '#include "http.h"' \
    "core includes src/http/http.h of http, a higher layer"
plant "repr includes http" src/repr/repr.c '#include "http_int.h"' \
    "repr includes src/http/http_int.h of http, a higher layer"
plant "crypto includes store" src/crypto/misc.c '#include "store.h"' \
    "crypto includes src/store/store.h of its sibling store"
plant "http reaches a private header" src/http/router.c '#include "crypto_int.h"' \
    "the private header of src/crypto"
plant "sqlite3.h outside store" src/core/vault.c '#include <sqlite3.h>' \
    "<sqlite3.h>, which belongs to src/store alone"
plant "libpq outside store" src/core/record.c '#include <libpq-fe.h>' \
    "<libpq-fe.h>, which belongs to src/store alone"
plant "sodium.h outside crypto" src/util/secmem.c '#include <sodium.h>' \
    "<sodium.h>, which belongs to src/crypto alone"
plant "nettle outside crypto" src/core/audit.c '#include <nettle/sha2.h>' \
    "<nettle/sha2.h>, which belongs to src/crypto alone"
plant "microhttpd.h outside http" src/cli/main.c '#include <microhttpd.h>' \
    "<microhttpd.h>, which belongs to src/http alone"
plant "GnuTLS outside http" src/repr/repr_audit.c '#  include <gnutls/gnutls.h>' \
    "<gnutls/gnutls.h>, which belongs to src/http alone"
plant "the CLI borrows from http" src/cli/cmd_record.c '#include "http.h"' \
    "cli includes src/http/http.h of its sibling http"
plant "the ground defined in core" include/custos_base.h 'void cu_planted(void);' \
    "cu_planted is defined in no .c file"
printf 'void cu_planted(void)\n{\n}\n' >>"$tmp/t/src/core/vault.c"
got=$(sh "$self" --check "$tmp/t") && echo "FAIL: a base function defined in core: not caught" &&
    fails=$((fails + 1))
printf '%s\n' "$got" | grep -q "cu_planted is defined in src/core/vault.c (core), above the ground" ||
    {
        echo "FAIL: a base function defined in core: $got"
        fails=$((fails + 1))
    }
plant "a folder in no layer" src/web/page.c '#include "custos.h"' "in no layer"
[ "$fails" -eq 0 ] || exit 1
echo "layering: ok"
