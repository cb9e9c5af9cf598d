#!/usr/bin/env bash
# Installs the Debian 12 packages the build, the tests and the tools need.
# Idempotent and quiet when everything is present; runs `apt-get update` only when
# something is missing. Works as root without prompting (uses sudo only when not
# root and sudo exists).
set -euo pipefail

packages=(
    g++ cmake ninja-build
    libboost1.81-dev libssl-dev libsqlite3-dev
    catch2
    clang-14 libclang-rt-14-dev llvm-14
    mosquitto mosquitto-clients libmosquitto-dev
    python3 python3-paho-mqtt
    openssl
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "setup.sh: missing packages: ${missing[*]}" >&2
    echo "setup.sh: not root and no sudo: install them as root and re-run" >&2
    exit 1
fi

echo "setup.sh: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
