#!/bin/sh
# `custos tenant export` (P-DSR-1, P-DSR-2, P-RET-2): the tenant's whole document to stdout or
# to a file of mode 0600 that appears only once whole; staff state why (P-ACC-4) and the export
# is on the audit log; a failure midway (CUSTOS_FAULT=export.step, test builds) exits non-zero
# and leaves no file, never a shorter document.
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
expect_exit() { # expect_exit CODE command...
    want=$1; shift
    set +e; "$@" >out.txt 2>err.txt; got=$?; set -e
    [ "$got" -eq "$want" ] || fail "$* exited $got, want $want"
}

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Export Ltd" | id_of)
[ -n "$T" ] || fail "tenant"
"$CUSTOS" collection define --tenant "$T" notes --personal note >/dev/null
S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id ada | id_of)
i=0
while [ $i -lt 30 ]; do
    "$CUSTOS" record put --purpose support --tenant "$T" --collection notes --subject "$S" \
        "{\"note\":\"note $i of Ada\"}" >/dev/null
    "$CUSTOS" record put --purpose support --tenant "$T" --collection notes \
        "{\"note\":\"desk note $i\"}" >/dev/null
    i=$((i + 1))
done

# No purpose: a usage error. No --tenant: too.
expect_exit 2 "$CUSTOS" tenant export --tenant "$T"
grep -q -- "--purpose is required" err.txt || fail "usage message"
expect_exit 2 "$CUSTOS" tenant export --purpose support

# To stdout: the whole document.
"$CUSTOS" tenant export --purpose support --tenant "$T" >doc.json 2>err.txt || fail "export"
grep -q '"external_id":"ada"' doc.json || fail "the subject"
grep -q '"note":"note 29 of Ada"' doc.json || fail "a subject's record"
grep -q '"note":"desk note 29"' doc.json || fail "an own record"
[ "$(grep -o '"collection":"notes"' doc.json | wc -l)" -eq 60 ] || fail "60 records"
tail -c 2 doc.json | grep -q ']}' || fail "the document's end"
[ ! -s err.txt ] || fail "stderr is not a terminal: no progress line"

# To a file: the same bytes but the time, mode 0600.
"$CUSTOS" tenant export --purpose support --tenant "$T" --out out.json 2>err.txt || fail "--out"
[ "$(stat -c %a out.json)" = 600 ] || fail "mode $(stat -c %a out.json)"
[ ! -e out.json.partial ] || fail "partial file left"
sed 's/"exported_at":"[^"]*"//' doc.json >a.txt
sed 's/"exported_at":"[^"]*"//' out.json >b.txt
cmp -s a.txt b.txt || fail "file and stdout differ"

# On the audit log, as the operator's, with the purpose stated.
"$CUSTOS" audit list --tenant "$T" >log.json
grep -q '"tenant.export"' log.json || fail "audit entry"

# A failure midway: an error exit, no file (make test runs this with the test build, which
# has the fault points).
expect_exit 6 env CUSTOS_FAULT=export.step "$CUSTOS" tenant export --purpose support \
    --tenant "$T" --out cut.json
[ ! -e cut.json ] && [ ! -e cut.json.partial ] || fail "a failed export left a file"
grep -q "export" err.txt || fail "the error names the export"
echo "export: ok"
