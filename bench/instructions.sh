#!/usr/bin/env bash
# Broker instructions per message, counted by valgrind's callgrind, for
# mqtt-broker and Mosquitto: 1 publisher -> 1 subscriber, 64-byte payloads.
# Two runs per broker and QoS, with N1 and N2 messages: (I2 - I1) / (N2 - N1)
# cancels start-up, connection and shutdown costs. Prints a Markdown table.
#   bench/instructions.sh [BUILD_DIR]     (default: build-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
loadgen=$build/bench/mqtt-loadgen
ours=${OURS:-$build/broker/mqtt-broker}  # OURS=path measures another build
mosquitto=/usr/sbin/mosquitto
n1=${N1:-1000}
n2=${N2:-11000}

if ! command -v valgrind >/dev/null; then
    echo "valgrind is not installed: no instruction counts."
    exit 0
fi
for f in "$loadgen" "$ours"; do
    [[ -x $f ]] || { echo "missing $f (build the bench-tools target)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# count_ir EXE QOS N: total instructions of the broker process serving N messages.
count_ir() {
    local exe=$1 qos=$2 n=$3 port out pid i
    port=$(free_port)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$tmp/b.conf"
    # Mosquitto started as root switches to user mosquitto, which could not write the profile.
    [[ $exe == "$mosquitto" && $(id -u) == 0 ]] && echo "user root" >>"$tmp/b.conf"
    out=$tmp/callgrind.out.$RANDOM
    valgrind --tool=callgrind --callgrind-out-file="$out" "$exe" -c "$tmp/b.conf" >"$tmp/broker.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 1200; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
    if ! timeout 300 "$loadgen" -p "$port" -q "$qos" --count "$n" --window 100 -s 64 >"$tmp/lg.log" 2>&1; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" || true
        echo "loadgen failed against $exe: $(tail -c 300 "$tmp/lg.log")" >&2
        return 1
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    # "summary: N" (or "totals: N") holds the Ir total of all threads.
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
}

per_message() {
    local exe=$1 qos=$2 a b
    a=$(count_ir "$exe" "$qos" "$n1") || return 1
    b=$(count_ir "$exe" "$qos" "$n2") || return 1
    echo $(((b - a) / (n2 - n1)))
}

echo "Broker instructions per message (callgrind Ir, 1 pub -> 1 sub, 64 B, $n1 and $n2 messages)."
echo "User-space instructions only: the kernel's work in system calls is not counted (the"
echo "broker CPU µs/msg columns of the throughput table include it)."
echo
echo "| QoS | mqtt-broker instr/msg | Mosquitto instr/msg | ratio |"
echo "|---|---:|---:|---:|"
for qos in 0 1 2; do
    o=$(per_message "$ours" "$qos" || echo "")
    m=""
    [[ -x $mosquitto ]] && m=$(per_message "$mosquitto" "$qos" || echo "")
    r=n/a
    [[ -n $o && -n $m && $m != 0 ]] && r=$(python3 -c "print(f'{$o / $m:.2f}')")
    echo "| $qos | ${o:-failed} | ${m:-n/a} | $r |"
done
