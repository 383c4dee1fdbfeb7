#!/bin/sh
# Installs the Debian packages Custos needs to build, test and benchmark, if any is missing.
# Non-interactive; uses sudo when not root. Safe to run twice.
set -eu
PKGS="build-essential pkg-config clang libsodium-dev libsqlite3-dev sqlite3 libcjson-dev
libyaml-dev liboath-dev oathtool libcmocka-dev libcurl4-openssl-dev libmicrohttpd-dev
libgnutls28-dev nettle-dev gnutls-bin libpq-dev postgresql wrk libarchive-dev unzip
chromium chromium-driver groff-base zsh debhelper lintian curl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps: all present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
