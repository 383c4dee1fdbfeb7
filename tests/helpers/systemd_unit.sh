#!/bin/sh
# The packaged unit under a real systemd (issue 16; tests/cli/deb.sh runs this with the .deb).
# This machine's root, copy-on-write (overlayfs; every change lands in a temporary directory),
# gets the package by `dpkg -i`, so its postinst makes the user and the data directory. Then
# the machine's systemd boots as PID 1 in PID and mount namespaces of its own, as in a
# container (/sys and /proc/sys read-only, its cgroups under one of this script's), into a
# target that wants custos.service alone. It proves: Type=notify readiness; the service's
# process is user custos with no capability, no new privileges and a seccomp filter; /healthz
# over HTTPS with the certificate the service made; `systemctl reload` serves a new
# certificate from the same process; systemd-analyze security on the running unit; and
# `systemctl stop` ends it with status 0. Needs root, and cgroups v1 or hybrid as here (on a
# pure cgroup v2 machine the booted systemd would take this script's cgroup for its own);
# skips, saying so, otherwise. What the machine keeps: nothing. The booted system has its own
# PID, mount, UTS and IPC namespaces, a /dev of a few bound nodes, /sys and /proc/sys
# read-only but for its cgroups, and the units that could reach the machine (udev, sysctl,
# modules, static device nodes, timers) masked; everything it writes lands in a tmpfs.
# Usage: systemd_unit.sh PACKAGE.deb
set -eu
if [ "$(id -u)" -ne 0 ] || [ ! -x /lib/systemd/systemd ] || ! command -v unshare >/dev/null; then
    echo "systemd_unit.sh: skipped (needs root, /lib/systemd/systemd and unshare)"
    exit 0
fi
if [ ! -d /sys/fs/cgroup/systemd ]; then
    echo "systemd_unit.sh: skipped (a pure cgroup v2 machine: see the header)"
    exit 0
fi
# A mount namespace of its own (private propagation): the machine never sees these mounts.
if [ -z "${SYSTEMD_UNIT_NS:-}" ]; then
    SYSTEMD_UNIT_NS=1 exec unshare --mount sh "$0" "$(realpath "$1")"
fi
deb=$1
d=$(mktemp -d)
mount -t tmpfs -o mode=0700 tmpfs "$d" # the overlay's layers: nothing of it on the machine's disk
m=$d/root
cg=custos-unit-test.$$
sd=""
ns=""
sdin() { nsenter -t "$sd" -m -p -r -w "$@"; } # a command in the booted system
fail() {
    echo "FAIL: $*" >&2
    [ -z "$sd" ] || sdin journalctl --no-pager -n 40 >&2 || true
    exit 1
}
cleanup() {
    # unshare --kill-child: its death takes systemd, PID 1 there, and with it the namespace.
    if [ -n "$ns" ]; then
        kill -9 "$ns" 2>/dev/null || true
        wait "$ns" 2>/dev/null || true
    fi
    for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do # this script out of its own
        [ ! -d "$h/$cg" ] || echo $$ >"$h/cgroup.procs" 2>/dev/null || true
    done
    i=0
    for h in /sys/fs/cgroup/*; do
        while [ -d "$h/$cg" ] && [ "$i" -lt 50 ]; do # the killed take a moment to leave
            find "$h/$cg" -depth -type d -exec rmdir {} + 2>/dev/null || { i=$((i + 1)); sleep 0.1; }
        done
        [ ! -d "$h/$cg" ] || echo "systemd_unit.sh: left behind: $h/$cg" >&2
    done
    umount -R "$d" 2>/dev/null || true
    if mountpoint -q "$d"; then
        echo "systemd_unit.sh: $d still mounted, left as it is" >&2
    else
        rmdir "$d"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$d/upper" "$d/work" "$m"
mount -t overlay overlay -o "lowerdir=/,upperdir=$d/upper,workdir=$d/work" "$m" ||
    fail "overlayfs over /"
mount -t tmpfs -o mode=0755 tmpfs "$m/run"
mount -t tmpfs -o mode=1777 tmpfs "$m/tmp"
[ ! -d "$m/var/log/journal" ] || mount -t tmpfs -o mode=2755 tmpfs "$m/var/log/journal"
# A /dev of its own, as container managers make it: the machine's devices stay out of reach.
mount -t tmpfs -o mode=0755,nosuid tmpfs "$m/dev"
for n in null zero full random urandom tty; do
    : >"$m/dev/$n"
    mount --bind "/dev/$n" "$m/dev/$n"
done
mkdir "$m/dev/pts" "$m/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$m/dev/pts"
ln -s pts/ptmx "$m/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/dev/shm"
# /sys read-only, every mount under it too, but the cgroup hierarchies systemd works in.
mount --rbind /sys "$m/sys"
findmnt -R -n -r -o TARGET,FSTYPE "$m/sys" | while read -r t fs; do
    case "$fs" in cgroup | cgroup2) ;; *) mount -o remount,bind,ro "$t" ;; esac
done
cp "$deb" "$m/tmp/custos.deb"
chroot "$m" dpkg -i /tmp/custos.deb >"$d/dpkg.log" 2>&1 || fail "dpkg -i: $(tail -n 5 "$d/dpkg.log")"
chroot "$m" getent passwd custos >/dev/null || fail "postinst made no custos user"
[ "$(chroot "$m" stat -c '%U %a' /var/lib/custos)" = "custos 700" ] || fail "/var/lib/custos not custos 0700"
# A free port: 0, the kernel's choice, which the journal then names.
sed -i 's/^port = .*/port = 0/' "$m/etc/custos/custos.conf"
cat >"$m/etc/systemd/system/custos-test.target" <<'EOF'
[Unit]
Description=The custos unit under test
Wants=custos.service
EOF
# Units that would reach past the namespace into the machine: off.
for u in systemd-sysctl.service systemd-modules-load.service systemd-udevd.service \
    systemd-udev-trigger.service systemd-udev-settle.service systemd-binfmt.service \
    systemd-tmpfiles-setup-dev.service kmod-static-nodes.service timers.target \
    systemd-networkd-wait-online.service NetworkManager-wait-online.service; do
    ln -sf /dev/null "$m/etc/systemd/system/$u"
done

# This script's own cgroup, under which the booted systemd makes its slices (removed after).
for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
    [ -d "$h" ] || continue
    mkdir "$h/$cg" && echo $$ >"$h/$cg/cgroup.procs"
done
mkdir -p "$m/.oldroot"
# PID 1 of a new PID namespace, its root the overlay by pivot_root (a chroot would forbid the
# unit's PrivateUsers=: no user namespace from inside a chroot).
unshare --pid --fork --kill-child --mount --uts --ipc sh -c "cd '$m' && pivot_root . .oldroot && cd / &&
    mount -t proc proc /proc && mount --bind /proc/sys /proc/sys &&
    mount -o remount,bind,ro /proc/sys && umount -l /.oldroot &&
    exec env container=custos-test /lib/systemd/systemd --unit=custos-test.target" \
    >"$d/systemd.log" 2>&1 &
ns=$!
i=0
while [ -z "$sd" ]; do
    i=$((i + 1)); [ "$i" -lt 100 ] || fail "systemd did not start: $(cat "$d/systemd.log")"
    sleep 0.1
    sd=$(pgrep -P "$ns" -x systemd || true)
done
# Active once systemd had READY=1 (Type=notify); failed or inactive is an error.
i=0
until [ "$(sdin systemctl is-active custos.service 2>/dev/null)" = active ]; do
    i=$((i + 1)); [ "$i" -lt 300 ] || fail "custos.service never active"
    s=$(sdin systemctl show -P ActiveState custos.service 2>/dev/null || true)
    [ "$s" != failed ] || fail "custos.service failed"
    sleep 0.1
done
[ "$(sdin systemctl show -P Type custos.service)" = notify ] || fail "not Type=notify"
# Active at the first start: a start that failed and then succeeded on Restart= would hide.
[ "$(sdin systemctl show -P NRestarts custos.service)" = 0 ] || fail "custos.service restarted"
pid=$(sdin systemctl show -P MainPID custos.service)
[ "$pid" -gt 0 ] || fail "no main pid"
st=$(sdin cat "/proc/$pid/status")
uid=$(chroot "$m" id -u custos)
gid=$(chroot "$m" id -g custos)
echo "$st" | grep -q "^Uid:[[:space:]]*$uid[[:space:]]" || fail "the service does not run as custos"
echo "$st" | grep -q '^NoNewPrivs:[[:space:]]*1$' || fail "NoNewPrivileges not in force"
echo "$st" | grep -q '^Seccomp:[[:space:]]*2$' || fail "no seccomp filter (SystemCallFilter)"
echo "$st" | grep -q '^CapEff:[[:space:]]*0*$' || fail "the service holds capabilities"
echo "$st" | grep -q '^CapBnd:[[:space:]]*0*$' || fail "capability bounding set not empty"

i=0
port=""
while [ -z "$port" ]; do # the service's stdout reaches the journal a moment after
    i=$((i + 1)); [ "$i" -lt 50 ] || fail "no port in the journal"
    port=$(sdin journalctl -u custos.service --no-pager -o cat |
        sed -n 's|^custos: listening on https://127.0.0.1:\([0-9]*\).*|\1|p' | tail -n 1)
    [ -n "$port" ] || sleep 0.1
done
U=https://127.0.0.1:$port
curl -sf --cacert "$m/var/lib/custos/tls-cert.pem" "$U/healthz" >/dev/null || fail "GET /healthz"
[ "$(chroot "$m" stat -c '%U %a' /var/lib/custos/operator.key)" = "custos 600" ] ||
    fail "operator key file not custos 0600"
if sdin journalctl -u custos.service --no-pager -o cat | grep -q 'cuk_'; then
    fail "the operator key reached the journal"
fi
# Real work inside the sandbox: a tenant, then a subject (its key, the audit log, the WAL).
api() { curl -sf --cacert "$m/var/lib/custos/tls-cert.pem" -H 'Content-Type: application/json' "$@"; }
op=$(cat "$m/var/lib/custos/operator.key")
t=$(api "$U/v1/tenants" -H "Authorization: Bearer $op" -d '{"name":"Unit Ltd"}') ||
    fail "POST /v1/tenants"
T=$(echo "$t" | sed -n 's/^{"id":"\([0-9]*\)".*/\1/p')
K=$(echo "$t" | sed -n 's/.*"secret":"\([^"]*\)".*/\1/p')
api "$U/v1/tenants/$T/subjects" -H "Authorization: Bearer $K" -H "Custos-Purpose: support" \
    -d '{"external_id":"crm-unit-1"}' | grep -q '"id"' || fail "POST subjects"

# A new certificate and key in place, then `systemctl reload`: the same process serves it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=custos-reload -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null || fail "openssl req"
if curl -sf --cacert "$d/cert.pem" "$U/healthz" >/dev/null 2>&1; then
    fail "the new certificate served before the reload"
fi
install -o "$uid" -g "$gid" -m 0600 "$d/key.pem" "$m/var/lib/custos/tls-key.pem"
install -o "$uid" -g "$gid" -m 0644 "$d/cert.pem" "$m/var/lib/custos/tls-cert.pem"
sdin systemctl reload custos.service || fail "systemctl reload"
i=0
until [ "$(sdin systemctl is-active custos.service)" = active ] &&
    sdin journalctl -u custos.service --no-pager -o cat | grep -q '"tls":"reloaded"'; do
    i=$((i + 1)); [ "$i" -lt 50 ] || fail "not active and reloaded after the reload"
    sleep 0.1
done
[ "$(sdin systemctl show -P MainPID custos.service)" = "$pid" ] || fail "reload restarted it"
curl -sf --cacert "$d/cert.pem" "$U/healthz" >/dev/null || fail "new certificate not served"

# systemd's own rating of the running unit's sandbox (docs/operations.md).
sdin systemd-analyze security --no-pager custos.service >"$d/security" 2>&1 ||
    fail "systemd-analyze security: $(tail -n 3 "$d/security")"
score=$(sed -n 's/.*Overall exposure level for custos.service: \([0-9.]*\).*/\1/p' "$d/security")
[ -n "$score" ] || fail "no exposure level: $(tail -n 3 "$d/security")"
# docs/operations.md records 1.1; more is a sandbox weakened.
awk -v s="$score" 'BEGIN { exit !(s <= 1.1) }' || fail "exposure $score, more than 1.1"

sdin systemctl stop custos.service
[ "$(sdin systemctl show -P ExecMainStatus custos.service)" = 0 ] || fail "stop: exit status"
[ "$(sdin systemctl show -P Result custos.service)" = success ] || fail "stop: result"
echo "systemd_unit.sh: installed by dpkg, started by systemd $(systemctl --version |
    sed -n '1s/^systemd \([0-9]*\).*/\1/p') (notify), sandboxed, reloaded, stopped;" \
    "exposure $score"
