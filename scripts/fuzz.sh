#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/, cargo-fuzz on the nightly toolchain) for
# SECONDS each (default 300), one after another, niced; prints the executions per target and
# fails if any target crashed. `--smoke` is the test command's brief run (10 s each, from an
# unoptimised build).
#
#   scripts/fuzz.sh [SECONDS | --smoke]
#   FUZZ_TARGETS="records keys" scripts/fuzz.sh 60     # only these targets
#   FUZZ_SKIP_BUILD=1 scripts/fuzz.sh                  # targets already built (same flags)
#
# Each target starts from its seeds (fuzz/corpus/TARGET, in git) and from what earlier runs
# found (fuzz/target/corpus/TARGET, not in git; new inputs go there). A crash leaves its input
# in fuzz/artifacts/TARGET/; replay it with `fuzz/target/x86_64-unknown-linux-gnu/release/TARGET
# FILE` (`debug/` after a smoke run), and keep it as a test in tests/fuzz_regressions.rs once
# fixed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-300}"
smoke=""
if [ "$seconds" = "--smoke" ]; then
    smoke=1
    seconds=10
fi
case "$seconds" in
    '' | *[!0-9]*)
        echo "usage: scripts/fuzz.sh [SECONDS | --smoke]" >&2
        exit 2
        ;;
esac

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: no nightly Rust toolchain (cargo-fuzz needs one: rustup toolchain install nightly)" >&2
    exit 3
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# No sanitizer: Granary denies `unsafe`, so AddressSanitizer would find little, and it halves
# the speed; the allocation check is fuzz/src/lib.rs's allocator. 16 codegen units: cargo-fuzz's
# default of 1 makes the cold build of Granary's dependencies much slower. The smoke run builds
# unoptimised: a cold build in half the time (about 4 minutes instead of 7.5 on 2 cores), for
# targets 20 to 40 times slower, which 10 s of seeds and mutations can afford.
build_flags=(--sanitizer none --codegen-units 16)
profile=release
if [ -n "$smoke" ]; then
    build_flags+=(--dev)
    profile=debug
fi
if [ -z "${FUZZ_SKIP_BUILD:-}" ]; then
    cargo +nightly fuzz build "${build_flags[@]}"
fi

bin_dir="fuzz/target/x86_64-unknown-linux-gnu/$profile"
# Space- or newline-separated (`cargo fuzz list` writes one a line).
read -r -d '' -a targets <<<"${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}" || true
mkdir -p fuzz/target/logs
failed=()
printf '%-16s %12s %10s  %s\n' target executions "execs/s" result
for t in "${targets[@]}"; do
    mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/target/logs/$t.log"
    # -timeout: an input running 10 s is a hang; -rss_limit_mb bounds the whole process (single
    # allocations are bounded by the target's allocator).
    if nice "$bin_dir/$t" "fuzz/target/corpus/$t" "fuzz/corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        result=ok
    else
        result="CRASHED (see $log, fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    printf '%-16s %12s %10s  %s\n' "$t" "${execs:-?}" "$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))" "$result"
done

if ((${#failed[@]})); then
    echo "fuzz: crashes in ${failed[*]}" >&2
    for t in "${failed[@]}"; do
        grep -m 1 -B 2 -A 20 -E "panicked|ERROR: libFuzzer|granary-fuzz:" "fuzz/target/logs/$t.log" >&2 || true
    done
    exit 1
fi
