#!/bin/sh
# `custos policy check FILE` exits as docs/policy.md says: 0 and a JSON summary for each seed
# policy in policies/, 4 and "FILE:LINE: reason" for a malformed one, 3 for a missing file,
# 2 for a usage error, 0 for --help. Run from the repository root.
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
ROOT=$PWD
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
fail() { echo "FAIL: $*" >&2; cat err.txt >&2 2>/dev/null || true; exit 1; }

for p in scm scalemule erpsmartcloud customermaps optymyze; do
    "$CUSTOS" policy check "$ROOT/policies/$p.yaml" >out.json 2>err.txt || fail "$p: exit $?"
    grep -q "\"id\":[[:space:]]*\"$p\"" out.json || fail "$p: no id in $(cat out.json)"
    grep -q '"categories":[[:space:]]*[1-9]' out.json || fail "$p: no categories count"
    [ ! -s err.txt ] || fail "$p: wrote to stderr"
done
grep -q '"minimum_age":[[:space:]]*16' out.json || fail "optymyze minimum_age"

# A malformed policy: the first error, with its file and line, and exit 4.
sed 's/^minimum_age: 18$/minimum_age: 0/' "$ROOT/policies/erpsmartcloud.yaml" >bad.yaml
line=$(grep -n '^minimum_age: 0$' bad.yaml | cut -d: -f1)
[ -n "$line" ] || fail "could not break the policy"
rc=0
"$CUSTOS" policy check bad.yaml >out.json 2>err.txt || rc=$?
[ "$rc" -eq 4 ] || fail "malformed policy: exit $rc, expected 4"
[ "$(wc -l <err.txt)" -eq 1 ] || fail "error is not one line"
grep -q "^custos: invalid: bad.yaml:$line: minimum_age: " err.txt || fail "error names no line $line"
[ ! -s out.json ] || fail "malformed policy printed a summary"

printf 'custos_policy: 1\nid: [x\n' >syntax.yaml
rc=0
"$CUSTOS" policy check syntax.yaml >/dev/null 2>err.txt || rc=$?
[ "$rc" -eq 4 ] && grep -q "syntax.yaml:[0-9]*: invalid YAML" err.txt || fail "YAML error: $rc"

rc=0
"$CUSTOS" policy check missing.yaml >/dev/null 2>err.txt || rc=$?
[ "$rc" -eq 3 ] || fail "missing file: exit $rc, expected 3"

rc=0
"$CUSTOS" policy check >/dev/null 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "no file: exit $rc, expected 2"
rc=0
"$CUSTOS" policy lint x.yaml >/dev/null 2>err.txt || rc=$?
[ "$rc" -eq 2 ] || fail "unknown verb: exit $rc, expected 2"

"$CUSTOS" policy --help >out.txt || fail "--help exit $?"
grep -q "usage: custos policy check FILE" out.txt || fail "--help text"
echo "policy check ok"
