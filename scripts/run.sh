#!/usr/bin/env bash
# Installs what is missing, builds (g++, RelWithDebInfo, in build/) and runs the
# project: for now the codec demo; once the broker exists, the broker on
# localhost:1883.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

port=1883
jobs=${JOBS:-2}

bash scripts/setup.sh

# Only what is run here is built (scripts/test.sh builds everything).
# TODO(broker): build the broker target too, e.g. --target codec_demo mqtt-broker.
echo "==== build (build/) ===="
cmake -S . -B build -G Ninja -DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs" --target codec_demo

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

# TODO(broker): once broker/ builds build/broker/mqtt-broker, replace the demo below
# with the broker in the foreground on localhost:1883, e.g.:
#   ensure_port_free
#   echo "==== mqtt-broker on localhost:$port (Ctrl-C to stop) ===="
#   exec build/broker/mqtt-broker --listen "127.0.0.1:$port"

echo "==== codec demo (build/mqtt/examples/codec_demo) ===="
exec build/mqtt/examples/codec_demo
