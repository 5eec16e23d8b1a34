#!/usr/bin/env bash
# What SSE-S3 costs (issue 16): one release gateway, a bucket `plain` (no encryption) and a
# bucket `sse` (default encryption AES256), the same load-generator phases against both in
# interleaved rounds (the order alternates per round), medians and the ratio SSE / plain per
# phase. Before them, the dedup kept under encryption: the same 64 MiB file uploaded 5 times into
# `sse`, then 5 times into `plain` (other keys), and the growth of the chunk directory.
#
#   benches/sse/run.sh                 # ROUNDS=3 SMALL_PUTS=3000 GET_SECS=8 BIG_MIB=64 BIG_PUTS=32
#   ROUNDS=2 benches/sse/run.sh
#   SKIP_BUILD=1 benches/sse/run.sh    # target/release already built (the build waits for the lock)
#
# The build takes the shared cargo lock (/tmp/granary-cargo.lock); the measurement does not.
# Before every round the load average and the busiest other processes are printed, so a run
# that shared the machine says so. Results (TSV) and the server log stay in $KEEP if set.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-3}"
SMALL_PUTS="${SMALL_PUTS:-3000}"
GET_SECS="${GET_SECS:-8}"
BIG_MIB="${BIG_MIB:-64}"
BIG_PUTS="${BIG_PUTS:-32}"
BIG_GETS="${BIG_GETS:-$((BIG_PUTS * 2))}"
CONC="${CONC:-16}"
DEDUP_COPIES="${DEDUP_COPIES:-5}"
AK=SSEBENCHACCESSKEY
SK=sse-bench-secret-key-0123456789
work="$(mktemp -d "${TMPDIR:-/tmp}/granary-sse-bench.XXXXXX")"
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$work"/*.tsv "$work"/*.log "$KEEP"/ 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The gateway is plain HTTP: keep aws-cli away from a CA bundle and the user's own config.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
unset GRANARY_CONFIG GRANARY_DATA_DIR GRANARY_LISTEN GRANARY_DOMAIN || true
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=us-east-1
cat >"$work/aws-config" <<'CFG'
[default]
region = us-east-1
s3 =
    addressing_style = path
    signature_version = s3v4
CFG
export AWS_CONFIG_FILE="$work/aws-config"

# SKIP_BUILD=1: use target/release as it is (e.g. built earlier with the same command).
[ -n "${SKIP_BUILD:-}" ] || flock /tmp/granary-cargo.lock cargo build --release --locked --bin granary --bench loadgen 2>&1 | tail -1
# Copies, so that a build by someone else during the run does not swap them.
cp "$(ls -t target/release/deps/loadgen-* | grep -v '\.d$' | head -1)" "$work/loadgen"
cp target/release/granary "$work/granary"
LOADGEN="$work/loadgen"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (+ uncommitted changes under src/)'), $(nproc) cores;" \
    "granary built $(date -r target/release/granary '+%F %T')"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
data="$work/data"
GRANARY_ROOT_ACCESS_KEY=$AK GRANARY_ROOT_SECRET_KEY=$SK "$work/granary" serve --listen "127.0.0.1:$port" \
    --data-dir "$data" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { tail -n 20 "$work/server.log"; exit 1; }
ep="http://127.0.0.1:$port"
awsc() { aws --endpoint-url "$ep" "$@"; }

awsc s3api create-bucket --bucket plain >/dev/null
awsc s3api create-bucket --bucket sse >/dev/null
awsc s3api put-bucket-encryption --bucket sse --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
[ "$(awsc s3api get-bucket-encryption --bucket sse --query \
    'ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm' --output text)" = AES256 ] ||
    { echo "bucket sse has no default encryption" >&2; exit 1; }

# sse_of BUCKET KEY: the object's ServerSideEncryption as HEAD reports it ("None" if absent).
sse_of() { awsc s3api head-object --bucket "$1" --key "$2" --query ServerSideEncryption --output text; }
chunk_bytes() { du -sb "$data/chunks" | cut -f1; }

# --- dedup under encryption (first, on the fresh store: no garbage to collect yet) ---------
dedup="$work/dedup.tsv"
head -c $((BIG_MIB << 20)) /dev/urandom >"$work/same.bin"
for bucket in sse plain; do
    before="$(chunk_bytes)"
    after_first=""
    for i in $(seq 1 "$DEDUP_COPIES"); do
        awsc s3api put-object --bucket "$bucket" --key "dedup/copy-$i" --body "$work/same.bin" >/dev/null
        [ -n "$after_first" ] || after_first="$(chunk_bytes)"
    done
    after="$(chunk_bytes)"
    printf '%s\t%s\t%s\t%s\t%s\n' "$bucket" "$(sse_of "$bucket" dedup/copy-1)" $((after_first - before)) $((after - before)) \
        $((DEDUP_COPIES * (BIG_MIB << 20))) >>"$dedup"
done
awsc s3api get-object --bucket sse --key "dedup/copy-$DEDUP_COPIES" "$work/back.bin" >/dev/null
cmp -s "$work/same.bin" "$work/back.bin" || { echo "the SSE copy did not read back identical" >&2; exit 1; }
rm -f "$work/back.bin"

# --- throughput, interleaved rounds ----------------------------------------------------
results="$work/results.tsv"
loadlog="$work/load.log"
run() {   # run BUCKET ROUND NAME ARGS...
    local bucket="$1" round="$2" name="$3"; shift 3
    local json ops mib errors p50
    json="$("$LOADGEN" --endpoint "$ep" --access-key $AK --secret-key $SK --bucket "$bucket" --json "$@" 2>>"$work/loadgen.log")"
    read -r ops mib errors p50 < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ops_per_sec"], d["mib_per_sec"], d["errors"], d["latency_ms"]["p50"])' "$json")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$bucket" "$round" "$name" "$ops" "$mib" "$errors" "$p50" >>"$results"
}
big="${BIG_MIB}MiB"
for round in $(seq 1 "$ROUNDS"); do
    # Other load on the machine, just before the round: the load average (its 1-minute figure
    # includes this benchmark's own previous round) and the processes above 5% CPU in a 1 s
    # sample by top, other than the gateway.
    {
        printf 'round %s: %s\n' "$round" "$(uptime | sed 's/.*load average/load average/')"
        top -b -n 2 -d 1 -w 200 | awk -v me="$pid" '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 >= 5 && $1 != me && $12 != "top" {
            printf "    %s%% %s (%s)\n", $9, $12, $1 }' | head -5
    } | tee -a "$loadlog"
    order="plain sse"
    [ $((round % 2)) -eq 0 ] && order="sse plain"
    for bucket in $order; do
        run "$bucket" "$round" "PUT 4KiB x$CONC" --phase put --size 4KiB --concurrency "$CONC" --count "$SMALL_PUTS" --keys "$SMALL_PUTS"
        run "$bucket" "$round" "GET 4KiB x$CONC" --phase get --size 4KiB --concurrency "$CONC" --duration "$GET_SECS" --keys "$SMALL_PUTS"
        run "$bucket" "$round" "PUT $big x$CONC" --phase put --size "$big" --concurrency "$CONC" --count "$BIG_PUTS" --keys "$BIG_PUTS"
        run "$bucket" "$round" "GET $big x$CONC" --phase get --size "$big" --concurrency "$CONC" --count "$BIG_GETS" --keys "$BIG_PUTS"
    done
done
# The last objects written must carry the encryption their bucket asked for.
[ "$(sse_of sse obj-0)" = AES256 ] || { echo "sse/obj-0 is not encrypted" >&2; exit 1; }
[ "$(sse_of plain obj-0)" = None ] || { echo "plain/obj-0 is encrypted" >&2; exit 1; }

python3 - "$results" "$dedup" <<'PY'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
errors = collections.Counter()
for bucket, rnd, name, ops, mib, err, p50 in rows:
    errors[bucket] += int(err)
    if int(err) == 0:   # a phase with errors does not count (reported below)
        by[name].setdefault(bucket, {})[rnd] = (float(ops), float(mib), float(p50))
print()
print("medians of the error-free interleaved rounds; ratio = sse / plain (per-round ratios in brackets)")
print("| phase | plain | sse (AES256) | sse / plain | per-round sse / plain | p50 ms plain / sse |")
print("|---|---:|---:|---:|---|---:|")
for name, b in by.items():
    small = "4KiB" in name
    i, unit = (0, "ops/s") if small else (1, "MiB/s")
    if "plain" not in b or "sse" not in b:
        print(f"| {name} | no error-free round |")
        continue
    med = {k: statistics.median(v[i] for v in b[k].values()) for k in ("plain", "sse")}
    lat = {k: statistics.median(v[2] for v in b[k].values()) for k in ("plain", "sse")}
    per_round = [b["sse"][r][i] / b["plain"][r][i] for r in sorted(b["plain"]) if r in b["sse"]]
    print(f"| {name} ({unit}) | {med['plain']:,.0f} | {med['sse']:,.0f} | {med['sse'] / med['plain']:.2f}x | "
          f"{', '.join(f'{x:.2f}' for x in per_round)} | {lat['plain']:.2f} / {lat['sse']:.2f} |")
print("errors:", dict(errors), " rounds counted:", {name: {k: len(v) for k, v in b.items()} for name, b in by.items()})
print()
print("dedup: the same file uploaded repeatedly (sse first, then plain), growth of the chunk directory")
print("| bucket | HEAD ServerSideEncryption | logical | physical after 1st | physical after all | logical / physical |")
print("|---|---|---:|---:|---:|---:|")
for line in open(sys.argv[2]):
    bucket, sse, first, total, logical = line.split("\t")
    first, total, logical = int(first), int(total), int(logical)
    mib = lambda n: f"{n / 2**20:,.1f} MiB"
    print(f"| {bucket} | {sse} | {mib(logical)} | {mib(first)} | {mib(total)} | {logical / total:.2f}x |")
PY
echo
echo "load before each round (load average; processes at >= 5% CPU over 1 s, other than the gateway):"
cat "$loadlog"
