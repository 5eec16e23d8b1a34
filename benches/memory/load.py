#!/usr/bin/env python3
"""Load generator and server-memory sampler for benches/memory/run.sh.

Drives a running granary (PID --pid at --endpoint) with N concurrent uploads of distinct
random objects, then N concurrent downloads of the same objects, while a background thread
samples the server's /proc/PID/status every 50 ms. Prints a table and writes JSON to --out.

Usually started by run.sh, which starts and stops the server. Can also be pointed at a
gateway you started yourself:

    python3 load.py --pid PID --endpoint http://127.0.0.1:9000 --work-dir /tmp/x \
        --access-key AK --secret-key SK

Half of the uploads (the even-numbered ones) are a single PutObject with a streaming file
body; the other half are multipart through upload_fileobj (8 MiB parts, one part in flight
per upload, so there are exactly N requests in flight). --method put / multipart makes them
all one kind. Objects are generated with
os.urandom into N separate files: a shared body with a different header would not do,
because the gateway chunks content-defined and would store only one new chunk per object.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time

os.environ.pop("AWS_CA_BUNDLE", None)

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

MiB = 1024 * 1024
STATUS_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")


def read_status(pid):
    """The /proc/PID/status fields we track; sizes in bytes. None if the process is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                name, _, rest = line.decode().partition(":")
                if name in STATUS_FIELDS:
                    parts = rest.split()
                    # sizes are "NNN kB"; Threads is a bare count
                    out[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return out


class Sampler:
    """Samples the server's status every `interval` s in a background thread, per phase."""

    def __init__(self, pid, interval):
        self.pid = pid
        self.interval = interval
        self.lock = threading.Lock()
        self.phase = None
        self.samples = {}  # phase -> list of (t, VmRSS, RssAnon, RssFile, Threads)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.t0 = time.monotonic()
        self.server_died = False

    def start(self):
        self.thread.start()

    def set_phase(self, phase):
        with self.lock:
            self.phase = phase
            if phase is not None:
                self.samples.setdefault(phase, [])
        # one sample right at the phase boundary, so short phases still get one
        self._sample_once()

    def _sample_once(self):
        st = read_status(self.pid)
        if st is None:
            self.server_died = True
            return
        t = time.monotonic() - self.t0
        with self.lock:
            if self.phase is not None:
                self.samples[self.phase].append(
                    (t, st["VmRSS"], st.get("RssAnon", 0), st.get("RssFile", 0), st.get("Threads", 0))
                )

    def _run(self):
        next_t = time.monotonic()
        while not self.stop_event.is_set():
            self._sample_once()
            next_t += self.interval
            delay = next_t - time.monotonic()
            if delay < 0:
                next_t = time.monotonic()  # fell behind: do not burst to catch up
                delay = 0
            self.stop_event.wait(delay)

    def stop(self):
        self.stop_event.set()
        self.thread.join()

    def summary(self, phase):
        with self.lock:
            s = list(self.samples.get(phase, []))
        if not s:
            return None
        times = [x[0] for x in s]
        gaps = [b - a for a, b in zip(times, times[1:])]
        peak = max(s, key=lambda x: x[1])
        return {
            "samples": len(s),
            "max_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
            "median_gap_ms": round(statistics.median(gaps) * 1000, 1) if gaps else None,
            "first_rss": s[0][1],
            "last_rss": s[-1][1],
            "peak_rss": peak[1],
            "peak_rss_anon": max(x[2] for x in s),
            "peak_rss_file": max(x[3] for x in s),
            "peak_threads": max(x[4] for x in s),
            "mean_rss": int(statistics.mean(x[1] for x in s)),
        }

    def series(self, phase, max_points=400):
        """(t, VmRSS MiB) pairs, thinned to at most max_points (keeping the peak)."""
        with self.lock:
            s = list(self.samples.get(phase, []))
        if not s:
            return []
        step = max(1, len(s) // max_points)
        keep = set(range(0, len(s), step))
        keep.add(max(range(len(s)), key=lambda i: s[i][1]))
        keep.add(len(s) - 1)
        return [[round(s[i][0], 3), round(s[i][1] / MiB, 1)] for i in sorted(keep)]


def make_objects(work_dir, n, size):
    """Write n files of `size` random bytes; return [(path, md5hex)]."""
    objs = []
    block = 4 * MiB
    for i in range(n):
        path = os.path.join(work_dir, f"obj-{i:02d}.bin")
        h = hashlib.md5()
        with open(path, "wb") as f:
            left = size
            while left:
                b = os.urandom(min(block, left))
                h.update(b)
                f.write(b)
                left -= len(b)
        objs.append((path, h.hexdigest()))
    return objs


def fmt_mib(b):
    return f"{b / MiB:,.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pid", type=int, required=True, help="server process id (for /proc/PID/status)")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    ap.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    ap.add_argument("--work-dir", required=True, help="where to write the object files (removed by the caller)")
    ap.add_argument("--out", default="/tmp/granary-memory.json", help="JSON results path")
    ap.add_argument("--concurrency", type=int, default=16, help="objects per phase, all in flight at once")
    ap.add_argument("--size-mib", type=int, default=64, help="object size in MiB")
    ap.add_argument("--part-mib", type=int, default=8, help="multipart part size in MiB")
    ap.add_argument("--method", choices=("mixed", "put", "multipart"), default="mixed",
                    help="mixed: even objects PutObject, odd ones multipart (default); or all one kind")
    ap.add_argument("--interval-ms", type=int, default=50, help="RSS sampling interval")
    ap.add_argument("--idle-secs", type=float, default=1.0, help="how long to sample the idle server")
    ap.add_argument("--binary", default="", help="only recorded in the JSON")
    ap.add_argument("--keep-files", action="store_true", help="do not delete the object files")
    args = ap.parse_args()
    if not args.access_key or not args.secret_key:
        sys.exit("load.py: need --access-key/--secret-key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")

    n, size = args.concurrency, args.size_mib * MiB
    bucket = "memory-bench"
    started = time.monotonic()

    sampler = Sampler(args.pid, args.interval_ms / 1000.0)
    sampler.start()

    # Startup RSS: first look at the server, before anything touches it.
    startup = read_status(args.pid)
    if startup is None:
        sys.exit(f"load.py: no process {args.pid}")

    print(f"generating {n} x {args.size_mib} MiB random objects in {args.work_dir} ...", file=sys.stderr)
    t = time.monotonic()
    objs = make_objects(args.work_dir, n, size)
    gen_secs = time.monotonic() - t

    # Idle baseline: the server has served nothing yet; sample it for idle_secs.
    sampler.set_phase("idle")
    time.sleep(args.idle_secs)
    sampler.set_phase(None)
    idle = sampler.summary("idle")

    cfg = Config(
        region_name="us-east-1",
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},  # a retry would hide a failure
        max_pool_connections=2 * n + 4,
        connect_timeout=30,
        read_timeout=600,
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        config=cfg,
    )
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass  # a second run against the same server (e.g. checking for growth across runs)
    # One part in flight per upload: N uploads means N requests in flight, as for PutObject.
    tcfg = TransferConfig(
        multipart_threshold=args.part_mib * MiB,
        multipart_chunksize=args.part_mib * MiB,
        max_concurrency=1,
        use_threads=False,
    )

    def upload(i, prefix="obj"):
        path, md5 = objs[i]
        key = f"{prefix}-{i:02d}"
        t0 = time.monotonic()
        with open(path, "rb") as f:
            if args.method == "put" or (args.method == "mixed" and i % 2 == 0):
                resp = s3.put_object(Bucket=bucket, Key=key, Body=f)
                etag = resp["ETag"].strip('"')
                if etag != md5:
                    raise RuntimeError(f"{key}: PutObject ETag {etag} != MD5 {md5}")
                how = "PutObject"
            else:
                s3.upload_fileobj(f, bucket, key, Config=tcfg)
                etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
                parts = -(-size // (args.part_mib * MiB))
                if not etag.endswith(f"-{parts}"):
                    raise RuntimeError(f"{key}: multipart ETag {etag} does not end in -{parts}")
                how = f"multipart ({parts} x {args.part_mib} MiB)"
        return key, how, time.monotonic() - t0

    def download(i):
        key = f"obj-{i:02d}"
        t0 = time.monotonic()
        resp = s3.get_object(Bucket=bucket, Key=key)
        h = hashlib.md5()
        got = 0
        with open(os.devnull, "wb") as sink:
            for chunk in resp["Body"].iter_chunks(chunk_size=1 * MiB):
                h.update(chunk)
                sink.write(chunk)
                got += len(chunk)
        if got != size:
            raise RuntimeError(f"{key}: downloaded {got} bytes, expected {size}")
        if h.hexdigest() != objs[i][1]:
            raise RuntimeError(f"{key}: downloaded MD5 {h.hexdigest()} != uploaded {objs[i][1]}")
        return key, "GetObject", time.monotonic() - t0

    def run_phase(name, fn):
        print(f"phase {name}: {n} concurrent ...", file=sys.stderr)
        sampler.set_phase(name)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
            results = list(ex.map(fn, range(n)))
        secs = time.monotonic() - t0
        sampler.set_phase(None)
        return results, secs

    up_results, up_secs = run_phase("upload", upload)
    down_results, down_secs = run_phase("download", download)
    # Both at once: n new uploads while the n stored objects are downloaded (2n requests).
    print(f"phase both: {n} uploads + {n} downloads concurrent ...", file=sys.stderr)
    sampler.set_phase("both")
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * n) as ex:
        both_futures = [ex.submit(upload, i, "again") for i in range(n)] + [ex.submit(download, i) for i in range(n)]
        for f in both_futures:
            f.result()
    both_secs = time.monotonic() - t0
    sampler.set_phase(None)

    # After the load: does RSS come back down? (allocator caching may keep some)
    sampler.set_phase("after")
    time.sleep(2.0)
    sampler.set_phase(None)
    sampler.stop()
    end = read_status(args.pid)
    if end is None:
        sys.exit("load.py: the server died during the run")

    for key in [f"{p}-{i:02d}" for i in range(n) for p in ("obj", "again")]:
        s3.delete_object(Bucket=bucket, Key=key)
    if not args.keep_files:
        for path, _ in objs:
            os.unlink(path)

    up, down, after = sampler.summary("upload"), sampler.summary("download"), sampler.summary("after")
    both = sampler.summary("both")
    idle_rss = idle["last_rss"]
    total = n * size
    in_flight = n * size
    peak = max(up["peak_rss"], down["peak_rss"], both["peak_rss"])
    client_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB

    result = {
        "binary": args.binary,
        "endpoint": args.endpoint,
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
                 "boto3": boto3.__version__},
        "concurrency": n,
        "object_size": size,
        "part_size": args.part_mib * MiB,
        "bytes_in_flight": in_flight,
        "uploads": [{"key": k, "method": how, "secs": round(s, 3)} for k, how, s in up_results],
        "downloads": [{"key": k, "secs": round(s, 3)} for k, _, s in down_results],
        "md5_verified": n,
        "startup_rss": startup["VmRSS"],
        "idle": idle,
        "idle_rss": idle_rss,
        "upload": {**up, "bytes": total, "secs": round(up_secs, 3), "mib_per_s": round(total / MiB / up_secs, 1)},
        "download": {**down, "bytes": total, "secs": round(down_secs, 3),
                     "mib_per_s": round(total / MiB / down_secs, 1)},
        "both": {**both, "bytes": 2 * total, "secs": round(both_secs, 3), "mib_per_s": round(2 * total / MiB / both_secs, 1)},
        "after": after,
        "vm_hwm": end["VmHWM"],
        "peak_rss": peak,
        "ratios": {
            "upload_peak_over_idle": round(up["peak_rss"] / idle_rss, 2),
            "download_peak_over_idle": round(down["peak_rss"] / idle_rss, 2),
            "peak_over_idle": round(peak / idle_rss, 2),
            "peak_over_bytes_in_flight": round(peak / in_flight, 4),
            "peak_minus_idle_over_bytes_in_flight": round((peak - idle_rss) / in_flight, 4),
            "hwm_over_bytes_in_flight": round(end["VmHWM"] / in_flight, 4),
        },
        "total_bytes_moved": 4 * total,
        "client_max_rss": client_maxrss,
        "generate_secs": round(gen_secs, 2),
        "wall_secs": round(time.monotonic() - started, 2),
        "series_mib": {p: sampler.series(p) for p in ("idle", "upload", "download", "both", "after")},
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    methods = {}
    for _, how, _ in up_results:
        methods[how] = methods.get(how, 0) + 1
    r = result["ratios"]
    print()
    print(f"granary memory under load: {n} concurrent x {args.size_mib} MiB, binary {args.binary or '?'}")
    print(f"  uploads: " + ", ".join(f"{c} x {m}" for m, c in sorted(methods.items())))
    print(f"  {'':28}{'VmRSS':>14}{'x idle':>9}{'RssAnon':>14}{'MiB/s':>9}{'secs':>8}")
    print(f"  {'idle (after startup)':28}{fmt_mib(idle_rss):>14}{1.0:>9.2f}{fmt_mib(idle['peak_rss_anon']):>14}")
    print(f"  {'peak during uploads':28}{fmt_mib(up['peak_rss']):>14}{r['upload_peak_over_idle']:>9.2f}"
          f"{fmt_mib(up['peak_rss_anon']):>14}{result['upload']['mib_per_s']:>9.1f}{up_secs:>8.1f}")
    print(f"  {'peak during downloads':28}{fmt_mib(down['peak_rss']):>14}{r['download_peak_over_idle']:>9.2f}"
          f"{fmt_mib(down['peak_rss_anon']):>14}{result['download']['mib_per_s']:>9.1f}{down_secs:>8.1f}")
    print(f"  {'peak, uploads + downloads':28}{fmt_mib(both['peak_rss']):>14}{both['peak_rss'] / idle_rss:>9.2f}"
          f"{fmt_mib(both['peak_rss_anon']):>14}{result['both']['mib_per_s']:>9.1f}{both_secs:>8.1f}")
    print(f"  {'2 s after the load':28}{fmt_mib(after['last_rss']):>14}{after['last_rss'] / idle_rss:>9.2f}")
    print(f"  {'VmHWM (lifetime peak)':28}{fmt_mib(end['VmHWM']):>14}{end['VmHWM'] / idle_rss:>9.2f}")
    print(f"  bytes moved: {fmt_mib(4 * total)}; bytes in flight per phase: "
          f"{fmt_mib(in_flight)}")
    print(f"  peak / bytes in flight = {r['peak_over_bytes_in_flight']:.4f}; "
          f"(peak - idle) / bytes in flight = {r['peak_minus_idle_over_bytes_in_flight']:.4f}")
    print(f"  all {n} downloads matched their upload MD5; "
          f"samples: upload {up['samples']} (max gap {up['max_gap_ms']} ms), "
          f"download {down['samples']} (max gap {down['max_gap_ms']} ms)")
    print(f"  client (this script) max RSS {fmt_mib(client_maxrss)}; wall {result['wall_secs']} s; JSON: {args.out}")
    if sampler.server_died:
        sys.exit("load.py: the server process disappeared while sampling")


if __name__ == "__main__":
    main()
