#!/usr/bin/env bash
# Granary on FoundationDB against Granary on its embedded store, in one run (issue 21):
# small PUT and GET rates and LIST latency with one gateway on each store, then two gateways
# on one FoundationDB cluster (one load generator per gateway, the load split between them,
# one chunk directory), and the metadata commit conflicts each saw. Rounds are interleaved.
#
#   FDB_CLUSTER_FILE=/path/fdb.cluster ROUNDS=3 benches/fdb/run.sh
#
# Env: ROUNDS (3), CONC (16: concurrent requests in all), PUTS (4000 4 KiB objects per
# round), GET_SECS (10), LIST_SECS (5). Needs a build with `--features fdb` (it makes one,
# release) and libfdb_c where the linker finds it (LIBRARY_PATH, default /usr/local/lib).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${FDB_CLUSTER_FILE:?set FDB_CLUSTER_FILE to the cluster file of a running cluster}"
ROUNDS="${ROUNDS:-3}" CONC="${CONC:-16}" PUTS="${PUTS:-4000}" GET_SECS="${GET_SECS:-10}" LIST_SECS="${LIST_SECS:-5}"
if [ -z "${LIBRARY_PATH:-}" ] && [ -e /usr/local/lib/libfdb_c.so ]; then export LIBRARY_PATH=/usr/local/lib; fi
AK=BENCHACCESSKEY
SK=bench-secret-key-0123456789
work="$(mktemp -d "${TMPDIR:-/tmp}/granary-fdb-bench.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --locked --features fdb --bin granary --bench loadgen 2>&1 | tail -1
GRANARY=target/release/granary
LOADGEN="$(ls -t target/release/deps/loadgen-* | grep -v '\.d$' | head -1)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done
    echo "port $1 never opened; last lines of $2:" >&2; tail -n 20 "$2" >&2; return 1
}
# start NAME FLAGS...: a gateway; its endpoint in ep[NAME].
declare -A ep
start() {
    local name="$1" p; shift
    p="$(free_port)"
    GRANARY_ROOT_ACCESS_KEY=$AK GRANARY_ROOT_SECRET_KEY=$SK "$GRANARY" serve --listen "127.0.0.1:$p" \
        --data-dir "$work/$name" "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
    wait_port "$p" "$work/$name.log"
    ep[$name]="http://127.0.0.1:$p"
}
conflicts() { # ENDPOINT: the gateway's metadata commit conflicts so far
    curl -s --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" "$1/_granary/metrics" |
        awk '/^granary_kv_conflicts(_total)? /{print $2; found=1} END{if(!found) print 0}'
}

fdb_prefix="granary-bench-$(date +%s%N)"
fdb=(--metadata fdb --fdb-cluster-file "$FDB_CLUSTER_FILE" --fdb-root-prefix "$fdb_prefix" --chunk-dir "$work/fdb-chunks" --keyring "$work/fdb-keyring")
start embedded
start fdb "${fdb[@]}"
start fdb2 "${fdb[@]}"
results="$work/results.tsv"

# phase SETUP ROUND NAME [ENDPOINT...] -- LOADGEN ARGS: one loadgen per endpoint, CONC split
# evenly, each on its own bucket; records summed ops/s and the slowest p50/p99.
phase() {
    local setup="$1" round="$2" name="$3"; shift 3
    local endpoints=() ; while [ "$1" != -- ]; do endpoints+=("$1"); shift; done; shift
    local per=$((CONC / ${#endpoints[@]})) i=0 outs=() loads=()
    for e in "${endpoints[@]}"; do
        # The bucket is made by the load generator itself.
        "$LOADGEN" --endpoint "$e" --access-key $AK --secret-key $SK --bucket "b-$setup-r$round-$i" --json --concurrency "$per" "$@" \
            >"$work/out-$i.json" 2>>"$work/loadgen.err" &
        loads+=($!); outs+=("$work/out-$i.json"); i=$((i + 1))
    done
    wait "${loads[@]}"
    python3 - "$setup" "$round" "$name" "${outs[@]}" >>"$results" <<'PY'
import json, sys
setup, rnd, name, *files = sys.argv[1:]
runs = [json.load(open(f)) for f in files]
ops = sum(r["ops_per_sec"] for r in runs); errors = sum(r["errors"] for r in runs)
p50 = max(r["latency_ms"]["p50"] for r in runs); p99 = max(r["latency_ms"]["p99"] for r in runs)
print(f"{setup}\t{rnd}\t{name}\t{ops}\t{p50}\t{p99}\t{errors}")
PY
}

declare -A before
for s in embedded fdb fdb2; do before[$s]="$(conflicts "${ep[$s]}")"; done
for round in $(seq 1 "$ROUNDS"); do
    for setup in embedded fdb fdb-2gw; do
        case "$setup" in
            embedded) eps=("${ep[embedded]}") ;;
            fdb) eps=("${ep[fdb]}") ;;
            fdb-2gw) eps=("${ep[fdb]}" "${ep[fdb2]}") ;;
        esac
        per_gw=$((PUTS / ${#eps[@]}))
        phase "$setup" "$round" "PUT 4KiB x$CONC" "${eps[@]}" -- --phase put --size 4KiB --count "$per_gw" --keys "$per_gw"
        phase "$setup" "$round" "GET 4KiB x$CONC" "${eps[@]}" -- --phase get --size 4KiB --duration "$GET_SECS" --keys "$per_gw"
        phase "$setup" "$round" "LIST 1000 x$CONC" "${eps[@]}" -- --phase list --duration "$LIST_SECS" --keys "$per_gw"
    done
done

echo "FoundationDB: $(basename "$FDB_CLUSTER_FILE") ($("$GRANARY" --version)); $(nproc) cores; rounds: $ROUNDS"
python3 - "$results" <<'PY'
import statistics, sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
by = collections.defaultdict(list); errors = collections.Counter()
for setup, rnd, name, ops, p50, p99, err in rows:
    errors[setup] += int(err)
    by[(name, setup)].append((float(ops), float(p50), float(p99)))
setups = ["embedded", "fdb", "fdb-2gw"]
print("medians of interleaved rounds; ratio = setup / embedded (ops/s)")
print(f"{'phase':<18}" + "".join(f"{s:>34}" for s in setups))
for name in dict.fromkeys(r[2] for r in rows):
    med = {s: [statistics.median(x[i] for x in by[(name, s)]) for i in range(3)] for s in setups if by[(name, s)]}
    base = med["embedded"][0]
    cells = [f"{m[0]:>9.0f}/s {m[0] / base:>5.2f}x p50 {m[1]:>5.1f} p99 {m[2]:>6.1f}ms" for m in (med[s] for s in setups)]
    print(f"{name:<18}" + "".join(f"{c:>34}" for c in cells))
print("errors:", dict(errors))
PY
for s in embedded fdb fdb2; do
    echo "metadata commit conflicts on $s during the run: $(( $(conflicts "${ep[$s]}") - ${before[$s]} ))"
done
