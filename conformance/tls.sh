#!/usr/bin/env bash
# TLS on the S3 listener, with a CA made here by openssl: aws-cli, rclone, boto3 and curl
# over https trusting that CA only; the plain-HTTP listener answering health checks only;
# a certificate from another CA loaded on SIGHUP while the gateway keeps running.
source "$(dirname "$0")/lib.sh"

# make_pki DIR NAME: DIR/ca.pem (a CA named NAME) and DIR/server.{crt,key}, its leaf for
# localhost and 127.0.0.1.
make_pki() {
    local dir="$1" name="$2"
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$name" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' \
        >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
        -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
    chmod 600 "$dir/server.key"
}

# The certificates live outside the server's temp dir (they exist before it starts); the
# EXIT trap that start_granary installs is extended to remove them.
P="$(mktemp -d "${TMPDIR:-/tmp}/granary-tls-pki.XXXXXX")"
make_pki "$P/one" "granary conformance CA one"
make_pki "$P/two" "granary conformance CA two"
# The files the gateway reads; replaced for the reload.
cp "$P/one/server.crt" "$P/tls.crt"
cp "$P/one/server.key" "$P/tls.key"
CA="$P/one/ca.pem"

health_port="$(free_port)"
start_granary --tls-cert "$P/tls.crt" --tls-key "$P/tls.key" --health-listen "127.0.0.1:$health_port"
trap '_granary_cleanup; rm -rf "$P"' EXIT
grep -q "granary listening on https://" "$GRANARY_LOG_FILE" || fail "the startup line does not say https: $(head -n 3 "$GRANARY_LOG_FILE")"
export GRANARY_ENDPOINT="https://127.0.0.1:$GRANARY_PORT"
log "S3 over TLS at $GRANARY_ENDPOINT, health checks at http://127.0.0.1:$health_port"

W="$(scratch_dir)"
awscli_setup "$W"
aws_tls() { aws --endpoint-url "$GRANARY_ENDPOINT" --ca-bundle "$CA" "$@"; }
# curl trusting only CA (the environment may name other bundles).
curl_ca() { env -u CURL_CA_BUNDLE -u SSL_CERT_FILE -u SSL_CERT_DIR curl -sS --fail --max-time 10 "$@"; }

log "curl: health over TLS (HTTP/1.1 and HTTP/2) and on the plain health listener"
run_ok "curl https health" curl_ca --cacert "$CA" "$GRANARY_ENDPOINT/_granary/health"
assert_eq "$OUT" "ok" "health over TLS"
run_ok "curl http2" curl_ca --http2 --cacert "$CA" -o /dev/null -w '%{http_version}' "$GRANARY_ENDPOINT/_granary/health"
assert_eq "$OUT" "2" "curl negotiates HTTP/2 through ALPN"
run_ok "curl plain health" curl_ca "http://127.0.0.1:$health_port/_granary/health"
assert_eq "$OUT" "ok" "health on the plain listener"
code="$(curl -sS --max-time 10 -o "$W/refused" -w '%{http_code}' "http://127.0.0.1:$health_port/" || true)"
assert_eq "$code" "403" "S3 on the health listener"
assert_contains "$(cat "$W/refused")" "only GET /_granary/health" "the health listener says why"
expect_fail "" "plain HTTP on the TLS port" curl_ca "http://127.0.0.1:$GRANARY_PORT/_granary/health"
expect_fail "" "curl without the CA" curl_ca "$GRANARY_ENDPOINT/_granary/health"

log "aws-cli with --ca-bundle"
B=conf-tls
run_ok "mb" aws_tls s3 mb "s3://$B"
head -c $((9 * 1024 * 1024 + 5)) /dev/urandom >"$W/big.bin"
run_ok "cp up (multipart)" aws_tls s3 cp "$W/big.bin" "s3://$B/big.bin"
run_ok "cp down" aws_tls s3 cp "s3://$B/big.bin" "$W/big.down"
cmp "$W/big.bin" "$W/big.down" || fail "aws-cli round trip over TLS differs"
run_ok "ls" aws_tls s3 ls "s3://$B"
assert_contains "$OUT" "big.bin" "ls over TLS"
run_ok "presign" aws_tls s3 presign "s3://$B/big.bin" --expires-in 300
run_ok "curl presigned" curl_ca --cacert "$CA" -o "$W/presigned.down" "$OUT"
cmp "$W/big.bin" "$W/presigned.down" || fail "presigned GET over TLS differs"
expect_fail "SSL" "aws-cli without the CA bundle" env AWS_MAX_ATTEMPTS=1 aws --endpoint-url "$GRANARY_ENDPOINT" s3 ls

log "rclone with --ca-cert"
rclone_setup "$W"
export RCLONE_CONFIG_G_ENDPOINT="$GRANARY_ENDPOINT"
mkdir -p "$W/tree/a"
printf 'one\n' >"$W/tree/a/one.txt"
head -c 200000 /dev/urandom >"$W/tree/two.bin"
run_ok "rclone sync" rclone_g --ca-cert "$CA" sync "$W/tree" "G:$B/tree"
run_ok "rclone check" rclone_g --ca-cert "$CA" check --download "$W/tree" "G:$B/tree"
expect_fail "certificate" "rclone without the CA" rclone_g --low-level-retries 1 lsf "G:$B"

log "boto3 with verify=CA"
run_ok "boto3" python3 - "$GRANARY_ENDPOINT" "$CA" "$B" <<'PY'
import os, sys
os.environ.pop("AWS_CA_BUNDLE", None)
import boto3
from botocore.config import Config
endpoint, ca, bucket = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, verify=ca, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
s3.put_object(Bucket=bucket, Key="boto3.txt", Body=b"over tls")
assert s3.get_object(Bucket=bucket, Key="boto3.txt")["Body"].read() == b"over tls"
keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
assert "boto3.txt" in keys and "big.bin" in keys, keys
print("boto3 ok")
PY

log "SIGHUP loads a certificate from another CA; a bad file keeps it"
cp "$P/two/server.crt" "$P/tls.crt"
cp "$P/two/server.key" "$P/tls.key"
kill -HUP "$GRANARY_PID"
for _ in $(seq 1 100); do
    curl_ca --cacert "$P/two/ca.pem" -o /dev/null "$GRANARY_ENDPOINT/_granary/health" 2>/dev/null && break
    sleep 0.1
done
run_ok "health with CA two" curl_ca --cacert "$P/two/ca.pem" "$GRANARY_ENDPOINT/_granary/health"
expect_fail "" "CA one after the reload" curl_ca --cacert "$CA" "$GRANARY_ENDPOINT/_granary/health"
run_ok "aws-cli with CA two" aws --endpoint-url "$GRANARY_ENDPOINT" --ca-bundle "$P/two/ca.pem" s3 ls "s3://$B"
printf 'not a certificate\n' >"$P/tls.crt"
kill -HUP "$GRANARY_PID"
for _ in $(seq 1 100); do
    grep -q "TLS certificate reload failed" "$GRANARY_LOG_FILE" && break
    sleep 0.1
done
grep -q "TLS certificate reload failed" "$GRANARY_LOG_FILE" || fail "a bad certificate file was not reported"
run_ok "still CA two" curl_ca --cacert "$P/two/ca.pem" "$GRANARY_ENDPOINT/_granary/health"
kill -0 "$GRANARY_PID" 2>/dev/null || fail "the gateway died on SIGHUP"

finish_granary
