#!/bin/sh
# Installs the Debian packages Custos needs to build, test and benchmark, if any is missing.
# Non-interactive; uses sudo when not root. Safe to run twice.
set -eu
PKGS="build-essential pkg-config clang libsodium-dev libsqlite3-dev sqlite3 libcjson-dev
libyaml-dev liboath-dev oathtool libcmocka-dev libcurl4-openssl-dev libmicrohttpd-dev
libgnutls28-dev nettle-dev gnutls-bin libpq-dev postgresql wrk libarchive-dev unzip
libcjose-dev libjansson-dev nodejs chromium chromium-driver groff-base zsh debhelper lintian curl
systemd openssl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ -z "$missing" ]; then
    echo "deps: all present"
else
    echo "deps: installing$missing"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# The SSO tests' OpenID provider (tests/oidc, docs/sso.md): npm (Debian's, unless the
# installed node brought its own), then the provider's locked packages.
if ! command -v npm >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends npm
fi
oidc="$(dirname "$0")/../tests/oidc"
if [ ! -d "$oidc/node_modules/oidc-provider" ]; then
    echo "deps: npm ci in tests/oidc"
    (cd "$oidc" && npm ci --no-audit --no-fund --silent)
fi
