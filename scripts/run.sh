#!/usr/bin/env bash
# Installs what is missing, builds (g++, RelWithDebInfo, in build/) and runs the
# broker in the foreground on localhost:1883 with persistence on (Ctrl-C stops it).
# Extra arguments go to mqtt-broker instead, e.g. scripts/run.sh -c my.conf
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

port=1883
jobs=${JOBS:-2}

bash scripts/setup.sh

# Only what is run here is built (scripts/test.sh builds everything).
echo "==== build (build/) ===="
cmake -S . -B build -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" --target mqtt-broker mqtt-passwd mqtt-pub mqtt-sub

port_busy() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# Frees the MQTT port for our broker. A mosquitto service started by the Debian
# package install is stopped (with a message); anything else holding the port is
# reported and we give up rather than kill someone else's process.
ensure_port_free() {
    port_busy "$port" || return 0
    local stopped=0
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
        echo "run.sh: port $port is held by the system mosquitto service; stopping it (systemctl stop mosquitto)"
        systemctl stop mosquitto && stopped=1
    elif command -v service >/dev/null 2>&1 && service mosquitto status >/dev/null 2>&1; then
        echo "run.sh: port $port is held by the system mosquitto service; stopping it (service mosquitto stop)"
        service mosquitto stop && stopped=1
    fi
    if [[ $stopped -eq 1 ]]; then
        for _ in $(seq 50); do
            port_busy "$port" || return 0
            sleep 0.1
        done
    fi
    echo "run.sh: port $port is already in use:" >&2
    ss -Hltnp "sport = :$port" >&2 || true
    echo "run.sh: stop that process (or free the port) and run again" >&2
    return 1
}

# The broker keeps sessions, queued and retained messages in build/persistence
# (SQLite, docs/persistence.md); the listener stays the default: localhost only.
data="$root/build/persistence"
conf="$root/build/mqtt-broker-run.conf"
mkdir -p "$data"
cat >"$conf" <<EOF
# Written by scripts/run.sh on each run.
persistence true
persistence_location $data
EOF

ensure_port_free
echo "==== mqtt-broker on localhost:$port, store in $data (Ctrl-C to stop) ===="
if [[ $# -gt 0 ]]; then
    exec build/broker/mqtt-broker "$@"
fi
exec build/broker/mqtt-broker -c "$conf" -p "$port"
