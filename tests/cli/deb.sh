#!/bin/sh
# The Debian package (debian/, `make deb`, docs/operations.md): it builds; it holds
# /usr/bin/custos, the conffile /etc/custos/custos.conf, the unit with the sandbox issue 16
# lists, every man page and both completions; its postinst makes the custos user and
# /var/lib/custos 0700. Then the package is installed into a fresh root by extraction, and
# the installed binary serves with the installed configuration on a free loopback port
# (the data directory and port given as flags, which beat the file) until stopped by pid.
# Last, tests/helpers/systemd_unit.sh installs it with dpkg and boots systemd to run the unit.
# Run from the repository root; uses the release objects `make test` builds (test-build).
set -eu
dir=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$dir/log" >&2 2>/dev/null || true; exit 1; }

nice -n 19 make -s deb >"$dir/log" 2>&1 || fail "make deb: exit $?"
deb=$(ls build/deb/custos_*_*.deb | head -n 1)
[ -f "$deb" ] || fail "no package in build/deb"

root=$dir/root
dpkg-deb -x "$deb" "$root" || fail "dpkg-deb -x"
dpkg-deb -e "$deb" "$dir/DEBIAN" || fail "dpkg-deb -e"
[ -x "$root/usr/bin/custos" ] || fail "no /usr/bin/custos"
grep -qx /etc/custos/custos.conf "$dir/DEBIAN/conffiles" || fail "custos.conf is no conffile"
unit=$root/lib/systemd/system/custos.service
[ -f "$unit" ] || fail "no unit"
for d in Type=notify User=custos NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
    PrivateTmp=yes PrivateDevices=yes ReadWritePaths=/var/lib/custos CapabilityBoundingSet= \
    SystemCallFilter=@system-service MemoryDenyWriteExecute=yes LockPersonality=yes \
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" "ExecReload=/bin/kill -HUP \$MAINPID"; do
    grep -qx "$d" "$unit" || fail "the unit lacks $d"
done
# systemd's own rating of the sandbox, as docs/operations.md records it (1.1): at most that.
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze security --offline=true --threshold=11 --root="$root" custos.service \
        >"$dir/security" 2>&1 || fail "systemd-analyze security: $(tail -n 1 "$dir/security")"
fi
n=$(ls "$root/usr/share/man/man1" | grep -c '^custos.*\.1\.gz$')
[ "$n" -ge 19 ] || fail "$n man pages in man1"
[ -f "$root/usr/share/man/man5/custos.conf.5.gz" ] || fail "no custos.conf(5)"
[ -f "$root/usr/share/bash-completion/completions/custos" ] || fail "no bash completion"
[ -f "$root/usr/share/zsh/vendor-completions/_custos" ] || fail "no zsh completion"
sh -n "$dir/DEBIAN/postinst" || fail "postinst does not parse"
grep -q 'adduser --system --group --home /var/lib/custos' "$dir/DEBIAN/postinst" ||
    fail "postinst makes no custos user"
grep -q 'chmod 0700 /var/lib/custos' "$dir/DEBIAN/postinst" || fail "postinst: data dir mode"

# The container image installs this package (packaging/Containerfile; no image is built here).
cf=packaging/Containerfile
grep -q '^FROM debian:bookworm-slim' "$cf" || fail "Containerfile: not Debian slim"
grep -q 'make deb' "$cf" && grep -q '/tmp/custos_\*\.deb curl' "$cf" ||
    fail "Containerfile: not from the package"
grep -qx 'USER custos' "$cf" || fail "Containerfile: not non-root"
# Its build stage installs debian/control's Build-Depends, not a list of its own that can drift.
grep -q 'apt-get build-dep .*\./' "$cf" || fail "Containerfile: build packages not from debian/control"
grep -q '^VOLUME \["/var/lib/custos"\]' "$cf" || fail "Containerfile: no data volume"
grep -q '^HEALTHCHECK .*' "$cf" && grep -q '/healthz' "$cf" || fail "Containerfile: no health check"

# As postinst would, then the installed binary with the installed configuration.
mkdir -p "$root/var/lib/custos"
chmod 0700 "$root/var/lib/custos"
CUSTOS_CONFIG="$root/etc/custos/custos.conf" "$root/usr/bin/custos" serve \
    --data "$root/var/lib/custos" --port 0 --operator-key-file "$dir/operator.key" \
    >"$dir/out" 2>"$dir/err" &
pid=$!
i=0
until grep -q '^custos: listening on https://127.0.0.1:' "$dir/out"; do
    i=$((i + 1))
    [ "$i" -lt 300 ] || fail "the installed custos never listened: $(cat "$dir/err")"
    kill -0 "$pid" 2>/dev/null || fail "the installed custos exited: $(cat "$dir/err")"
    sleep 0.1
done
port=$(sed -n 's|^custos: listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$dir/out")
[ "$(stat -c %a "$dir/operator.key")" = 600 ] || fail "operator key file mode"
curl -sf --cacert "$root/var/lib/custos/tls-cert.pem" "https://127.0.0.1:$port/healthz" \
    >"$dir/health" || fail "GET /healthz"
kill -TERM "$pid"
wait "$pid" || fail "custos serve exited $? on SIGTERM"
pid=""
# Then installed by dpkg and run by a real systemd, sandbox and all (as root; it says if not).
sh tests/helpers/systemd_unit.sh "$deb" || fail "the unit under systemd"
echo "deb.sh: $(basename "$deb") builds, installs into a fresh root and serves"
