#!/bin/sh
# P-BAK-1, P-BAK-2, P-RET-3 (issue 11) at the command line: `custos backup create` while the
# vault may serve, `list`, `verify`; a subject erased after the backup stays erased through
# `restore` (its email in no restored file); a restore without the erasure journal is refused
# (exit 3) unless --no-journal, which brings the subject back; a flipped byte is refused
# (exit 5); a target that is not empty is refused (exit 4); `expire --now` after the window
# destroys the key, and a copy of the backup kept elsewhere no longer opens (exit 5).
set -eu
CUSTOS=${CUSTOS:-./custos}
case "$CUSTOS" in /*) ;; *) CUSTOS="$PWD/$CUSTOS" ;; esac
. "${0%/*}/../helpers/store.sh"
dir=$(mktemp -d)
trap 'store_end; rm -rf "$dir"' EXIT
cd "$dir"
store_begin
fail() { echo "FAIL: $*" >&2; exit 1; }
id_of() { sed -n 's/^[[:space:]]*"id":[[:space:]]*"\([0-9a-f]*\)".*/\1/p' | head -n 1; }
expect_exit() {
    want=$1
    shift
    set +e
    "$@" >out.txt 2>err.txt
    got=$?
    set -e
    [ "$got" -eq "$want" ] || fail "exit $got, not $want: $* ($(cat err.txt))"
}

"$CUSTOS" init >/dev/null
T=$("$CUSTOS" tenant create "Backups" | id_of)
S=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id gone --email gone.person@example.com | id_of)
K=$("$CUSTOS" subject add --purpose support --tenant "$T" --external-id kept --email kept@example.com | id_of)
B=$("$CUSTOS" backup create backups | id_of)
[ -f "backups/$B.cbk" ] && [ -f "backups/$B.manifest" ] && [ -f backups/erasure.journal ] || fail "backup files"
grep -q "gone.person@example.com" "backups/$B.cbk" && fail "plaintext in the backup"
ls -a custos-data | grep -q '^\.backup-' && fail "a snapshot left in the data directory"
"$CUSTOS" backup list backups | grep -q "\"$B\"" || fail "not listed"
"$CUSTOS" backup verify "backups/$B.manifest" | grep -q '"chains_verified":[[:space:]]*2' || fail "verify"

"$CUSTOS" subject erase --purpose support --tenant "$T" "$S" >/dev/null
"$CUSTOS" backup restore "backups/$B.manifest" restored | grep -q '"erasures_replayed":[[:space:]]*1' ||
    fail "the erasure was not replayed"
expect_exit 3 "$CUSTOS" subject get --data restored --purpose support --tenant "$T" "$S"
"$CUSTOS" subject get --data restored --purpose support --tenant "$T" "$K" | grep -q kept@example.com ||
    fail "the kept subject"
for f in restored/*; do
    grep -q "gone.person@example.com" "$f" && fail "the erased email is in $f"
done
expect_exit 4 "$CUSTOS" backup restore "backups/$B.manifest" restored

# No journal: refused unless told; told, the subject comes back (and that is audited).
mv custos-data/erasure.journal journal.saved
expect_exit 3 "$CUSTOS" backup restore "backups/$B.manifest" r2
grep -q -- "--no-journal" err.txt || fail "the refusal names --no-journal"
"$CUSTOS" backup restore --no-journal "backups/$B.manifest" r2 >/dev/null
"$CUSTOS" subject get --data r2 --purpose support --tenant "$T" "$S" | grep -q gone.person || fail "unjournaled"
"$CUSTOS" audit list --data r2 --action backup.restore_unjournaled | grep -q "backup:$B" || fail "audited"
mv journal.saved custos-data/erasure.journal

# A flipped byte.
cp "backups/$B.cbk" saved.cbk
printf '\001' | dd of="backups/$B.cbk" bs=1 seek=3000 conv=notrunc 2>/dev/null
expect_exit 5 "$CUSTOS" backup verify "backups/$B.manifest"
mv saved.cbk "backups/$B.cbk"

# P-RET-3: past the 30-day default window the key goes; a copy elsewhere no longer opens.
mkdir offsite
cp "backups/$B.cbk" "backups/$B.manifest" offsite/
"$CUSTOS" backup expire --now 2099-01-01 backups | grep -q '"expired":[[:space:]]*[12]' || fail "expire"
[ -f "backups/$B.cbk" ] && fail "the expired backup's file stays"
expect_exit 5 "$CUSTOS" backup verify "offsite/$B.manifest"
grep -q key_unavailable err.txt || fail "the copy's key: $(cat err.txt)"
echo "backup: ok"
