#!/usr/bin/env python3
"""Two `granary serve --metadata fdb` gateways on one FoundationDB cluster and one chunk
directory, driven with boto3 (scripts/fdb-check.sh runs it; it needs a live cluster).

Checks: every change made through one gateway is seen through the other at once (buckets,
objects inline and chunked, a multipart upload begun on one and completed on the other,
versions, deletes, users and their keys); a kill -9 of one gateway while the other serves (the
survivor serves everything the dead one wrote, takes writes, and after the liveness timeout
reports the dead gateway as not live); a restarted gateway rejoins.

    python3 conformance/two_gateways.py --binary target/debug/granary --cluster-file FILE
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

AK = "GRANARYTWOGATEWAYSAK"
SK = "two-gateways-secret-key-0123456789abcdef"
# limits::GATEWAY_LIVENESS_TIMEOUT_MILLIS (30 s) plus heartbeat and collector slack.
DEAD_WITHIN_SECS = 75


def log(message):
    print(f"[two_gateways +{time.monotonic() - STARTED:.0f}s] {message}", flush=True)


def fail(message):
    print(f"[two_gateways] FAIL: {message}", flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    def __init__(self, name, args, work):
        self.name, self.args, self.work = name, args, work
        self.data_dir = os.path.join(work, name)
        os.makedirs(self.data_dir, exist_ok=True)
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        env = dict(os.environ, GRANARY_ROOT_ACCESS_KEY=AK, GRANARY_ROOT_SECRET_KEY=SK)
        self.log_path = os.path.join(self.work, f"{self.name}.log")
        log_file = open(self.log_path, "ab")
        cmd = [self.args.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir] + shared_flags(self.args, self.work)
        self.proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"gateway {self.name} exited: {open(self.log_path).read()[-3000:]}")
            if "granary listening on" in open(self.log_path, errors="replace").read():
                return self
            time.sleep(0.1)
        fail(f"gateway {self.name} did not start within 60 s")

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def client(self, ak=AK, sk=SK):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ak,
            aws_secret_access_key=sk,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def admin(self, *argv):
        out = subprocess.run(
            [self.args.binary, *argv, "--data-dir", self.data_dir] + shared_flags(self.args, self.work),
            capture_output=True,
            text=True,
            timeout=60,
        )
        check(out.returncode == 0, f"granary {' '.join(argv)} on {self.name}: {out.stdout}{out.stderr}")
        return out.stdout

    def status(self):
        return json.loads(self.admin("status"))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def shared_flags(args, work):
    return [
        "--metadata", "fdb",
        "--fdb-cluster-file", args.cluster_file,
        "--fdb-root-prefix", args.root_prefix,
        "--chunk-dir", os.path.join(work, "chunks"),
        "--keyring", os.path.join(work, "keyring"),
    ]


def body(client, bucket, key, **extra):
    return client.get_object(Bucket=bucket, Key=key, **extra)["Body"].read()


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def live_gateways(gateway):
    return sorted(g["listen"] for g in gateway.status()["gateways"] if g["live"])


def main():
    global STARTED
    STARTED = time.monotonic()
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--cluster-file", required=True)
    parser.add_argument("--root-prefix", default=f"granary-two-gateways-{time.time_ns()}")
    args = parser.parse_args()
    args.binary = os.path.abspath(args.binary)
    work = tempfile.mkdtemp(prefix="granary-two-gateways.")
    a = GatewayProcess("a", args, work)
    b = GatewayProcess("b", args, work)
    try:
        a.start()
        b.start()
        log(f"gateways a={a.endpoint} b={b.endpoint} on root prefix {args.root_prefix}")
        run(a, b)
        log("PASS")
    finally:
        a.stop()
        b.stop()
        if os.environ.get("GRANARY_KEEP_ON_FAIL") is None:
            shutil.rmtree(work, ignore_errors=True)


def run(a, b):
    sa, sb = a.client(), b.client()
    check(len(live_gateways(b)) == 2, f"both gateways registered: {b.status()['gateways']}")

    # Buckets and objects: written through one, read through the other at once.
    sa.create_bucket(Bucket="shared")
    check(any(x["Name"] == "shared" for x in sb.list_buckets()["Buckets"]), "b lists a's bucket")
    small = b"inline object " * 100
    big = os.urandom(5 << 20) + b"tail"
    sa.put_object(Bucket="shared", Key="dir/small", Body=small)
    sa.put_object(Bucket="shared", Key="dir/big", Body=big)
    check(body(sb, "shared", "dir/small") == small, "b reads a's inline object")
    check(body(sb, "shared", "dir/big") == big, "b reads a's chunked object")
    keys = [o["Key"] for o in sb.list_objects_v2(Bucket="shared", Prefix="dir/")["Contents"]]
    check(keys == ["dir/big", "dir/small"], f"b lists a's keys: {keys}")

    # A multipart upload begun on a, a part from each gateway, completed on b.
    part1, part2 = os.urandom(5 << 20), os.urandom(1 << 20)
    upload = sa.create_multipart_upload(Bucket="shared", Key="mp")["UploadId"]
    e1 = sa.upload_part(Bucket="shared", Key="mp", UploadId=upload, PartNumber=1, Body=part1)["ETag"]
    e2 = sb.upload_part(Bucket="shared", Key="mp", UploadId=upload, PartNumber=2, Body=part2)["ETag"]
    parts = sb.list_parts(Bucket="shared", Key="mp", UploadId=upload)["Parts"]
    check([p["PartNumber"] for p in parts] == [1, 2], f"b lists both parts: {parts}")
    sb.complete_multipart_upload(
        Bucket="shared", Key="mp", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    check(body(sa, "shared", "mp") == part1 + part2, "a reads the upload b completed")

    # Versions and deletes.
    sb.put_bucket_versioning(Bucket="shared", VersioningConfiguration={"Status": "Enabled"})
    v1 = sa.put_object(Bucket="shared", Key="v", Body=b"one")["VersionId"]
    v2 = sb.put_object(Bucket="shared", Key="v", Body=b"two")["VersionId"]
    check(body(sa, "shared", "v") == b"two", "a reads b's newer version")
    check(body(sb, "shared", "v", VersionId=v1) == b"one", "b reads a's older version")
    versions = [x["VersionId"] for x in sa.list_object_versions(Bucket="shared", Prefix="v")["Versions"]]
    check(versions == [v2, v1], f"a lists both versions newest first: {versions}")
    sb.delete_object(Bucket="shared", Key="dir/small")
    check(error_code(lambda: sa.head_object(Bucket="shared", Key="dir/small")) == "404", "a sees b's delete")

    # Users: made on one gateway's admin socket, their key works on the other at once.
    a.admin("user", "create", "carol", "--access-key", "AKCAROLTWOGW", "--secret-key", "carol-two-gateways-secret")
    carol_b = b.client("AKCAROLTWOGW", "carol-two-gateways-secret")
    carol_b.create_bucket(Bucket="carols")
    b.admin("key", "disable", "AKCAROLTWOGW")
    code = error_code(lambda: a.client("AKCAROLTWOGW", "carol-two-gateways-secret").list_buckets())
    check(code in ("InvalidAccessKeyId", "AccessDenied"), f"a refuses the key b disabled: {code}")

    # An upload in progress on a, then a dies.
    left_open = sa.create_multipart_upload(Bucket="shared", Key="orphan")["UploadId"]
    sa.upload_part(Bucket="shared", Key="orphan", UploadId=left_open, PartNumber=1, Body=os.urandom(1 << 20))
    log("kill -9 of gateway a")
    a.kill9()
    check(body(sb, "shared", "dir/big") == big, "b serves a's object after a died")
    check(body(sb, "shared", "mp") == part1 + part2, "b serves the multipart object after a died")
    after = os.urandom(3 << 20)
    sb.put_object(Bucket="shared", Key="after-the-crash", Body=after)
    check(body(sb, "shared", "after-the-crash") == after, "b takes writes after a died")
    deadline = time.monotonic() + DEAD_WITHIN_SECS
    while len(live_gateways(b)) != 1:
        check(time.monotonic() < deadline, f"b still reports a live {DEAD_WITHIN_SECS} s after a died: {b.status()['gateways']}")
        time.sleep(1)
    log("b reports a dead")

    # a comes back on the same data directory and sees everything b did meanwhile.
    a.start()
    check(body(a.client(), "shared", "after-the-crash") == after, "the restarted a reads what b wrote while it was down")
    check(len(live_gateways(b)) == 2, "the restarted a is registered again")


if __name__ == "__main__":
    main()
