#!/usr/bin/env bash
# The whole test suite: install what is missing, build with g++ and run every test,
# build with clang + ASan/UBSan and run the unit tests, build and run the fuzz
# targets, check the installed CMake package, report spec coverage.
#
#   scripts/test.sh           everything (this is what CI runs)
#   scripts/test.sh --quick   only the g++ build and its ctest run
#
# Env: FUZZ_SECONDS (default 30) per fuzz target; JOBS (default 2) build/test jobs.
# Ends with a line "N passed, M failed" (ctest tests of the g++ and ASan runs) and
# exits non-zero if any phase failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

quick=0
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    -h | --help)
        sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "test.sh: unknown argument: $arg" >&2
        exit 2
        ;;
    esac
done

jobs=${JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-30}
fuzz_targets=(stream_decoder session broker)

failed_phases=()
timings=()

header() {
    echo
    echo "==== $* ===="
}

# run_phase NAME FUNCTION: runs FUNCTION in a subshell with errexit in force (a
# function called from `if` would run with errexit off), records its time and
# whether it failed, and carries on with the next phase.
run_phase() {
    local name=$1 fn=$2 start rc
    header "$name"
    start=$SECONDS
    set +e
    ( set -euo pipefail; "$fn" )
    rc=$?
    set -e
    local took=$((SECONDS - start))
    timings+=("$(printf '%-22s %5ss  %s' "$name" "$took" "$([[ $rc -eq 0 ]] && echo ok || echo FAILED)")")
    if [[ $rc -ne 0 ]]; then
        echo "---- phase '$name' FAILED (exit $rc) after ${took}s"
        failed_phases+=("$name")
    else
        echo "---- phase '$name' ok (${took}s)"
    fi
}

phase_setup() {
    bash scripts/setup.sh
}

phase_gcc() {
    rm -f build/ctest-summary.log
    cmake -S . -B build -G Ninja \
        -DCMAKE_CXX_COMPILER=g++ \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMQTT_WARNINGS_AS_ERRORS=ON \
        -DMQTT_BUILD_TESTS=ON
    cmake --build build -j"$jobs"
    ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300 2>&1 | tee build/ctest-summary.log
}

phase_asan() {
    rm -f build-asan/ctest-summary.log
    cmake -S . -B build-asan -G Ninja \
        -DCMAKE_CXX_COMPILER=clang++-14 \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMQTT_SANITIZE=ON \
        -DMQTT_BUILD_TOOLS=OFF \
        -DMQTT_BUILD_TESTS=ON
    cmake --build build-asan -j"$jobs"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs" --timeout 300 2>&1 |
        tee build-asan/ctest-summary.log
}

phase_fuzz() {
    cmake -S . -B build-fuzz -G Ninja \
        -DCMAKE_CXX_COMPILER=clang++-14 \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMQTT_BUILD_FUZZ=ON \
        -DMQTT_BUILD_TESTS=OFF
    local targets=() t
    for t in "${fuzz_targets[@]}"; do targets+=(--target "${t}_fuzz"); done
    cmake --build build-fuzz -j"$jobs" "${targets[@]}"

    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    rm -rf build-fuzz/artifacts
    mkdir -p build-fuzz/artifacts build-fuzz/logs
    local failed=0
    for t in "${fuzz_targets[@]}"; do
        local bin=build-fuzz/fuzz/${t}_fuzz seeds=fuzz/corpus/$t scratch=build-fuzz/corpus/$t
        local log=build-fuzz/logs/$t
        if [[ ! -d "$seeds" ]] || [[ -z "$(ls -A "$seeds")" ]]; then
            echo "$t: no checked-in corpus in $seeds" >&2
            failed=1
            continue
        fi
        # Replay: every checked-in input once, no mutation.
        if "$bin" "$seeds" -runs=0 -rss_limit_mb=2048 -timeout=10 \
            -artifact_prefix="build-fuzz/artifacts/$t-" >"$log-replay.log" 2>&1; then
            echo "$t: replayed $(find "$seeds" -type f | wc -l) corpus inputs: ok"
        else
            echo "$t: corpus replay FAILED; last lines of $log-replay.log:"
            tail -n 60 "$log-replay.log"
            failed=1
            continue
        fi
        # Fuzz from a scratch copy so the checked-in corpus stays as it is.
        rm -rf "$scratch"
        mkdir -p "$(dirname "$scratch")"
        cp -r "$seeds" "$scratch"
        if "$bin" "$scratch" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" >"$log.log" 2>&1; then
            local runs
            runs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$log.log" | tail -n 1)
            echo "$t: ${runs:-?} executions in ${fuzz_seconds}s, corpus $(find "$scratch" -type f | wc -l) inputs: ok"
        else
            echo "$t: fuzzing FAILED (crash, leak or timeout); last lines of $log.log:"
            tail -n 80 "$log.log"
            local artifact
            for artifact in build-fuzz/artifacts/"$t"-*; do
                [[ -e "$artifact" ]] || continue
                echo "  input saved as $artifact; reproduce with: $bin $artifact"
            done
            failed=1
        fi
    done
    return "$failed"
}

phase_install() {
    [[ -f build/build.ninja ]] || { echo "build/ is not configured (g++ phase failed?)" >&2; return 1; }
    rm -rf build/_install build/consumer
    cmake --install build --prefix build/_install
    cmake -S tests/consumer -B build/consumer -G Ninja \
        -DCMAKE_CXX_COMPILER=g++ \
        -DCMAKE_PREFIX_PATH="$root/build/_install"
    cmake --build build/consumer -j"$jobs"
    build/consumer/mqtt_consumer
}

phase_spec_coverage() {
    if [[ ! -f scripts/spec_coverage.py ]]; then
        echo "scripts/spec_coverage.py not present: skipped"
        return 0
    fi
    python3 scripts/spec_coverage.py
}

# Prints "passed failed" from a ctest log ("X tests failed out of Y"); "0 0" when
# there is no such line (ctest did not run).
ctest_counts() {
    local log=$1 line
    line=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$log" 2>/dev/null | tail -n 1 || true)
    if [[ -z "$line" ]]; then
        echo "0 0"
        return
    fi
    local failed total
    failed=$(awk '{print $1}' <<<"$line")
    total=$(awk '{print $6}' <<<"$line")
    echo "$((total - failed)) $failed"
}

total_start=$SECONDS
if [[ $quick -eq 1 ]]; then
    run_phase "gcc build + ctest" phase_gcc
    logs=(build/ctest-summary.log)
else
    run_phase "setup" phase_setup
    run_phase "gcc build + ctest" phase_gcc
    run_phase "asan build + unit" phase_asan
    run_phase "fuzz" phase_fuzz
    run_phase "install + consumer" phase_install
    run_phase "spec coverage" phase_spec_coverage
    logs=(build/ctest-summary.log build-asan/ctest-summary.log)
fi

passed=0
failed=0
for log in "${logs[@]}"; do
    read -r p f < <(ctest_counts "$log")
    passed=$((passed + p))
    failed=$((failed + f))
done

# CI may show only the end of this output: a failed test runs once more, alone (the
# first result stands either way), then its first-run output is repeated here.
for log in "${logs[@]}"; do
    if grep -q 'The following tests FAILED' "$log" 2>/dev/null; then
        dir=$(dirname "$log")
        header "second run of the tests that failed in $dir (diagnosis only)"
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            ctest --test-dir "$dir" --rerun-failed --output-on-failure --timeout 300 2>&1 |
            grep -E 'Test +#|tests passed|tests failed' || true
        header "first-run output of the tests that failed in $dir"
        grep -n -E '\*\*\*(Failed|Timeout|Exception)|Failed +[0-9.]+ sec' "$log" | cut -d: -f1 |
            while read -r n; do sed -n "${n},$((n + 50))p" "$log"; echo ----; done | head -n 100
    fi
done

header "summary"
printf '%s\n' "${timings[@]}"
printf '%-22s %5ss\n' "total" "$((SECONDS - total_start))"
if [[ ${#failed_phases[@]} -gt 0 ]]; then
    echo "failed phases: ${failed_phases[*]}"
fi
# Repeat the names of failed tests here: CI may show only the tail of this output.
for log in "${logs[@]}"; do
    if grep -q 'The following tests FAILED' "$log" 2>/dev/null; then
        echo "failed tests in $log:"
        sed -n '/The following tests FAILED/,/^$/p' "$log" | tail -n +2
    fi
done
echo "$passed passed, $failed failed"

if [[ ${#failed_phases[@]} -gt 0 || $failed -gt 0 ]]; then
    exit 1
fi
