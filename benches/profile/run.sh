#!/usr/bin/env bash
# Profiles the release gateway under one load-generator phase with perf (cpu-clock sampling,
# which works on VMs without hardware counters) and renders a flamegraph with inferno.
#
#   benches/profile/run.sh put 4KiB          # -> benches/profile/put-4KiB.svg (+ .folded)
#   benches/profile/run.sh get 64MiB 20      # phase, object size, seconds of load
#   GRANARY_BIN=/path/to/other/granary benches/profile/run.sh put 4KiB   # another build
# Also writes the per-stage cost table (benches/profile/stages.py) to $PHASE-$SIZE.stages.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
PHASE="${1:-put}"; SIZE="${2:-4KiB}"; SECS="${3:-15}"; CONC="${CONC:-16}"; KEYS="${KEYS:-16}"
AK=PROFACCESSKEY; SK=profile-secret-key-0123456789
command -v perf >/dev/null || { echo "needs perf (Debian: linux-perf)" >&2; exit 1; }
command -v inferno-flamegraph >/dev/null || cargo install inferno --locked
cargo build --release --locked --bin granary --bench loadgen 2>&1 | tail -1
LOADGEN="$(ls -t target/release/deps/loadgen-* | grep -v '\.d$' | head -1)"
work="$(mktemp -d "${TMPDIR:-/tmp}/granary-profile.XXXXXX")"
port=$((20000 + RANDOM % 20000))
GRANARY_ROOT_ACCESS_KEY=$AK GRANARY_ROOT_SECRET_KEY=$SK "${GRANARY_BIN:-target/release/granary}" serve --listen "127.0.0.1:$port" \
    --data-dir "$work/data" >"$work/granary.log" 2>&1 &
gw=$!
trap 'kill $gw 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
args=(--endpoint "http://127.0.0.1:$port" --access-key $AK --secret-key $SK --bucket profile --size "$SIZE" --concurrency "$CONC")
if [ "$PHASE" = put ]; then   # every PUT a new key, as the side-by-side PUT phases
    args+=(--keys "${PUT_KEYS:-100000000}")
fi
if [ "$PHASE" = get ]; then   # objects to read first
    "$LOADGEN" "${args[@]}" --phase put --count "$KEYS" --keys "$KEYS" >/dev/null
    args+=(--keys "$KEYS")
fi
# CPU seconds (user + system) the gateway has used so far (USER_HZ = 100).
cpu_secs() { awk '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$gw/stat"; }
perf record -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$gw" -o "$work/perf.data" -- sleep "$SECS" >/dev/null 2>&1 &
rec=$!
before="$(cpu_secs)"
report="$("$LOADGEN" "${args[@]}" --phase "$PHASE" --duration "$SECS" --json)"
after="$(cpu_secs)"
wait $rec || true
ops="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ops"])' "$report")"
echo "$ops requests; gateway CPU $(awk "BEGIN { print $after - $before }") s"
out="benches/profile/$PHASE-$SIZE"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"$out.folded"
gzip -kf "$out.folded"
inferno-flamegraph --title "granary $PHASE $SIZE x$CONC" <"$out.folded" >"$out.svg"
echo "wrote $out.svg"
# Microseconds of gateway CPU per request, by stage (stages.py says how samples are assigned).
python3 benches/profile/stages.py "$out.folded" "$(awk "BEGIN { print $after - $before }")" "$ops" | tee "$out.stages.md"
# The heaviest frames by self time, for the report.
python3 - "$out.folded" <<'PY'
import collections, sys
self_time = collections.Counter(); total = 0
for line in open(sys.argv[1]):
    stack, n = line.rsplit(" ", 1); n = int(n); total += n
    self_time[stack.split(";")[-1]] += n
for frame, n in self_time.most_common(15):
    print(f"{100 * n / total:5.1f}%  {frame[:120]}")
PY
