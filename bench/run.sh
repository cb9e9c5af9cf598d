#!/usr/bin/env bash
# One command for the benchmarks: bench/run.sh [--quick] [run.py options]
# Builds the bench tools in build-bench (if needed) and runs bench/run.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$root/build-bench}
if [[ ! -f $build/build.ninja ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
ninja -C "$build" -j1 bench-tools
exec python3 "$root/bench/run.py" --build-dir "$build" "$@"
