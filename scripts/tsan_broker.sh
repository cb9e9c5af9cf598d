#!/usr/bin/env bash
# Builds mqtt-broker with ThreadSanitizer (clang 14) and drives it with the load
# generator over its I/O threads, with and without the store; fails on any data
# race report. Not part of CI (it adds a second full broker build); run it after
# touching broker/src/server.cpp.
#   scripts/tsan_broker.sh [BENCH_BUILD_DIR]   (a build with -DMQTT_BUILD_BENCH=ON; default build-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bench_build=${1:-$root/build-bench}
loadgen=$bench_build/bench/mqtt-loadgen
[[ -x $loadgen ]] || { echo "missing $loadgen: build the bench tools first" >&2; exit 1; }
build=$root/build-tsan
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMQTT_BUILD_TESTS=OFF -DMQTT_BUILD_TOOLS=OFF \
    "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" >/dev/null
ninja -C "$build" -j2 mqtt-broker
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
races=0
for store in false true; do
    p=$(port)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence %s\npersistence_location %s\n' "$p" "$store" "$tmp" >"$tmp/b.conf"
    TSAN_OPTIONS="halt_on_error=0" "$build/broker/mqtt-broker" -c "$tmp/b.conf" --threads 2 >"$tmp/broker.log" 2>&1 &
    pid=$!
    sleep 1
    for q in 0 1 2; do
        timeout 60 "$loadgen" -p "$p" -q "$q" --duration 2 --window 100 | cut -c1-100
        timeout 60 "$loadgen" -p "$p" -q "$q" --pub 20 --sub 5 --duration 2 --window 20 | cut -c1-100
    done
    kill -INT "$pid"
    wait "$pid" || true
    n=$(grep -c "WARNING: ThreadSanitizer" "$tmp/broker.log" || true)
    echo "store $store: $n ThreadSanitizer reports"
    [[ $n == 0 ]] || { grep -A30 "WARNING: ThreadSanitizer" "$tmp/broker.log" | head -80; races=1; }
done
exit $races
