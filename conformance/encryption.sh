#!/usr/bin/env bash
# Server-side encryption (issue 16) through real clients: aws-cli (`s3 cp --sse AES256`,
# `--sse aws:kms --sse-kms-key-id`, `--sse-c`, copies between modes, head-object, bucket
# default encryption, KMS keys created/rotated/disabled while running), boto3
# (encryption_test.py: SSE-C put/get/copy/multipart with SSECustomerKey, SSE-KMS, bucket
# defaults) and rclone (`--s3-server-side-encryption AES256`, `--s3-sse-kms-key-id`, and
# `--s3-sse-customer-key`, which rclone sends only over https: that part runs against the
# same store restarted with TLS). KMS keys come from the local keyring: one created on the
# stopped store before the gateway starts, one while it runs. Every check compares bytes or
# expects a refusal; a scan of the data directory finds no plaintext of encrypted objects.
source "$(dirname "$0")/lib.sh"

# A first start creates the store (and its default master key); stopped, it gets a key of its
# own from the CLI, then the gateway starts again on the same data directory.
start_granary
stop_granary
W="$(scratch_dir)"
run_ok "kms key create on the stopped store" granary_cli kms key create conf-before
assert_contains "$OUT" "created KMS key conf-before" "kms key create output"
start_granary
awscli_setup "$W"

# expect_error CODE WHAT CMD...: the command must fail and name the S3 error CODE.
expect_error() { expect_fail "($1)" "${@:2}"; }
# later WHAT: a check (run in a subshell, so that its failure did not end the script) failed:
# the script goes on and fails at its end, naming it.
FAILED_LATER=()
later() { FAILED_LATER+=("$1"); }
# head FIELD KEY [ARGS...]: one field of head-object's answer for KEY in $B ("None" if absent).
head_field() { awsc s3api head-object --bucket "$B" --key "$2" "${@:3}" | json "d.get('$1')"; }

B=conf-sse
B2=conf-sse-default
run_ok "mb" awsc s3 mb "s3://$B"
run_ok "mb second" awsc s3 mb "s3://$B2"

# Customer keys: 32 bytes of hex text, so the same key works as a string (s3api, boto3) and
# as a file (s3 cp fileb://).
key1="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
key2="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s' "$key1" >"$W/key1.bin"
printf '%s' "$key2" >"$W/key2.bin"
head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$W/small.bin"
head -c $((9 * 1024 * 1024 + 5)) /dev/urandom >"$W/multi.bin"   # aws-cli uploads it in 2 parts

log "aws-cli: SSE-S3 (--sse AES256), single and multipart"
run_ok "cp --sse AES256" awsc s3 cp "$W/small.bin" "s3://$B/s3.bin" --sse AES256
assert_eq "$(head_field ServerSideEncryption s3.bin)" "AES256" "head-object ServerSideEncryption of an SSE-S3 object"
run_ok "cp down s3.bin" awsc s3 cp "s3://$B/s3.bin" "$W/s3.down"
cmp -s "$W/small.bin" "$W/s3.down" || fail "SSE-S3 object read back differs"
run_ok "cp --sse AES256 multipart" awsc s3 cp "$W/multi.bin" "s3://$B/s3-multi.bin" --sse AES256
assert_eq "$(head_field ServerSideEncryption s3-multi.bin)" "AES256" "ServerSideEncryption of a multipart SSE-S3 object"
assert_contains "$(head_field ETag s3-multi.bin)" '-2"' "a 2-part upload's ETag"
run_ok "cp down s3-multi.bin" awsc s3 cp "s3://$B/s3-multi.bin" "$W/s3-multi.down"
cmp -s "$W/multi.bin" "$W/s3-multi.down" || fail "multipart SSE-S3 object read back differs"
run_ok "ranged get" awsc s3api get-object --bucket "$B" --key s3-multi.bin --range bytes=8388600-8388699 "$W/range.out"
assert_eq "$(json 'd.get("ServerSideEncryption")' <<<"$OUT")" "AES256" "get-object ServerSideEncryption"
cmp -s "$W/range.out" <(tail -c +8388601 "$W/multi.bin" | head -c 100) || fail "a range across the parts of an SSE-S3 object"
run_ok "cp plain" awsc s3 cp "$W/small.bin" "s3://$B/plain.bin"
assert_eq "$(head_field ServerSideEncryption plain.bin)" "None" "an object uploaded without --sse is not encrypted"
expect_error InvalidArgument "an unknown algorithm" awsc s3api put-object --bucket "$B" --key x --body "$W/key1.bin" --server-side-encryption AES128

log "aws-cli: SSE-KMS with a key made before the start, the default key, an unknown key"
run_ok "cp --sse aws:kms" awsc s3 cp "$W/small.bin" "s3://$B/kms.bin" --sse aws:kms --sse-kms-key-id conf-before
run_ok "head kms.bin" awsc s3api head-object --bucket "$B" --key kms.bin
assert_eq "$(json 'd.get("ServerSideEncryption")' <<<"$OUT")" "aws:kms" "head-object ServerSideEncryption of an SSE-KMS object"
assert_contains "$(json 'd.get("SSEKMSKeyId")' <<<"$OUT")" "conf-before" "head-object SSEKMSKeyId"
run_ok "cp down kms.bin" awsc s3 cp "s3://$B/kms.bin" "$W/kms.down"
cmp -s "$W/small.bin" "$W/kms.down" || fail "SSE-KMS object read back differs"
run_ok "cp --sse aws:kms multipart, default key" awsc s3 cp "$W/multi.bin" "s3://$B/kms-default.bin" --sse aws:kms
assert_eq "$(head_field ServerSideEncryption kms-default.bin)" "aws:kms" "SSE-KMS with the default key"
run_ok "cp down kms-default.bin" awsc s3 cp "s3://$B/kms-default.bin" "$W/kms-default.down"
cmp -s "$W/multi.bin" "$W/kms-default.down" || fail "multipart SSE-KMS object read back differs"
expect_error KMS.NotFoundException "an unknown KMS key" \
    awsc s3 cp "$W/small.bin" "s3://$B/nokey.bin" --sse aws:kms --sse-kms-key-id conf-no-such-key
expect_error 404 "nothing stored under an unknown key" awsc s3api head-object --bucket "$B" --key nokey.bin
context="$(printf '{"team":"conformance"}' | base64 -w0)"
run_ok "put-object with an encryption context and bucket key" awsc s3api put-object --bucket "$B" --key ctx.bin \
    --body "$W/key1.bin" --server-side-encryption aws:kms --ssekms-key-id alias/conf-before \
    --ssekms-encryption-context "$context" --bucket-key-enabled
assert_eq "$(json 'd.get("BucketKeyEnabled")' <<<"$OUT")" "True" "put-object BucketKeyEnabled"
run_ok "get ctx.bin" awsc s3api get-object --bucket "$B" --key ctx.bin "$W/ctx.out"
assert_eq "$(json 'd.get("ServerSideEncryption")' <<<"$OUT")" "aws:kms" "get-object ServerSideEncryption (context)"
cmp -s "$W/key1.bin" "$W/ctx.out" || fail "SSE-KMS object with a context read back differs"

log "aws-cli: a KMS key created, rotated and disabled while the gateway runs"
run_ok "kms key create while running" granary_cli kms key create conf-live
run_ok "cp with the new key" awsc s3 cp "$W/small.bin" "s3://$B/live-v1.bin" --sse aws:kms --sse-kms-key-id conf-live
assert_contains "$(head_field SSEKMSKeyId live-v1.bin)" "conf-live" "SSEKMSKeyId of the key made while running"
run_ok "kms key rotate" granary_cli kms key rotate conf-live
run_ok "cp after the rotation" awsc s3 cp "$W/multi.bin" "s3://$B/live-v2.bin" --sse aws:kms --sse-kms-key-id conf-live
run_ok "cp down live-v1.bin" awsc s3 cp "s3://$B/live-v1.bin" "$W/live-v1.down"
cmp -s "$W/small.bin" "$W/live-v1.down" || fail "an object written before the rotation reads back differently"
run_ok "cp down live-v2.bin" awsc s3 cp "s3://$B/live-v2.bin" "$W/live-v2.down"
cmp -s "$W/multi.bin" "$W/live-v2.down" || fail "an object written after the rotation reads back differently"
run_ok "kms key disable" granary_cli kms key disable conf-live
# The gateway rechecks the keyring file within a few seconds.
for _ in $(seq 1 50); do
    if ! awsc s3api put-object --bucket "$B" --key disabled.bin --body "$W/key1.bin" \
        --server-side-encryption aws:kms --ssekms-key-id conf-live >/dev/null 2>&1; then break; fi
    sleep 0.2
done
expect_error KMS.DisabledException "a write under a disabled key" awsc s3api put-object --bucket "$B" --key disabled.bin \
    --body "$W/key1.bin" --server-side-encryption aws:kms --ssekms-key-id conf-live
# Reads of its objects must fail too (the CLI's promise), from a gateway that has opened
# them before (its key cache) and from one that has not (a restart).
(expect_error KMS.DisabledException "a read, by a gateway that opened the key before, of an object under a disabled key" \
    awsc s3api get-object --bucket "$B" --key live-v1.bin "$W/disabled.down") || later "disabled key, warm cache"
stop_granary
start_granary
expect_error KMS.DisabledException "a read of an object under a disabled key, after a restart" \
    awsc s3api get-object --bucket "$B" --key live-v1.bin "$W/disabled.down"
run_ok "kms key enable" granary_cli kms key enable conf-live
for _ in $(seq 1 50); do
    awsc s3api get-object --bucket "$B" --key live-v1.bin "$W/enabled.down" >/dev/null 2>&1 && break
    sleep 0.2
done
run_ok "cp down after enable" awsc s3 cp "s3://$B/live-v1.bin" "$W/live-v1.again"
cmp -s "$W/small.bin" "$W/live-v1.again" || fail "the object reads back differently once its key is enabled again"
run_ok "kms key list" granary_cli kms key list
assert_contains "$OUT" "conf-live" "kms key list names the key"

log "aws-cli: SSE-C (--sse-c AES256 --sse-c-key fileb://)"
run_ok "cp --sse-c" awsc s3 cp "$W/small.bin" "s3://$B/c.bin" --sse-c AES256 --sse-c-key "fileb://$W/key1.bin"
expect_error 400 "cp down of an SSE-C object without the key" awsc s3 cp "s3://$B/c.bin" "$W/c-nokey.down"
[ ! -s "$W/c-nokey.down" ] || fail "a download without the key wrote data"
expect_error InvalidRequest "get-object of an SSE-C object without the key" awsc s3api get-object --bucket "$B" --key c.bin "$W/c-nokey.down"
expect_error 403 "cp down with another key" awsc s3 cp "s3://$B/c.bin" "$W/c-wrong.down" --sse-c AES256 --sse-c-key "fileb://$W/key2.bin"
run_ok "cp down with the key" awsc s3 cp "s3://$B/c.bin" "$W/c.down" --sse-c AES256 --sse-c-key "fileb://$W/key1.bin"
cmp -s "$W/small.bin" "$W/c.down" || fail "SSE-C object read back with its key differs"
expect_error 400 "head-object without the key" awsc s3api head-object --bucket "$B" --key c.bin
run_ok "head-object with the key" awsc s3api head-object --bucket "$B" --key c.bin --sse-customer-algorithm AES256 --sse-customer-key "$key1"
assert_eq "$(json 'd.get("SSECustomerAlgorithm")' <<<"$OUT")" "AES256" "head-object SSECustomerAlgorithm"
want_md5="$(printf '%s' "$key1" | openssl md5 -binary | base64)"
assert_eq "$(json 'd.get("SSECustomerKeyMD5")' <<<"$OUT")" "$want_md5" "head-object SSECustomerKeyMD5"
assert_eq "$(json 'd.get("ServerSideEncryption")' <<<"$OUT")" "None" "an SSE-C object names no ServerSideEncryption"
run_ok "cp --sse-c multipart" awsc s3 cp "$W/multi.bin" "s3://$B/c-multi.bin" --sse-c AES256 --sse-c-key "fileb://$W/key1.bin"
expect_error 400 "cp down of a multipart SSE-C object without the key" awsc s3 cp "s3://$B/c-multi.bin" "$W/cm-nokey.down"
run_ok "cp down multipart with the key" awsc s3 cp "s3://$B/c-multi.bin" "$W/c-multi.down" --sse-c AES256 --sse-c-key "fileb://$W/key1.bin"
cmp -s "$W/multi.bin" "$W/c-multi.down" || fail "multipart SSE-C object read back differs"

log "aws-cli: copies between modes"
expect_error 400 "copy of an SSE-C source without its key" awsc s3 cp "s3://$B/c.bin" "s3://$B/c-copy-nokey.bin"
run_ok "copy SSE-C -> SSE-C under another key" awsc s3 cp "s3://$B/c.bin" "s3://$B/c2.bin" \
    --sse-c-copy-source AES256 --sse-c-copy-source-key "fileb://$W/key1.bin" --sse-c AES256 --sse-c-key "fileb://$W/key2.bin"
expect_error 403 "the copy with the source's key" awsc s3 cp "s3://$B/c2.bin" "$W/c2-wrong.down" --sse-c AES256 --sse-c-key "fileb://$W/key1.bin"
run_ok "cp down the copy with its key" awsc s3 cp "s3://$B/c2.bin" "$W/c2.down" --sse-c AES256 --sse-c-key "fileb://$W/key2.bin"
cmp -s "$W/small.bin" "$W/c2.down" || fail "SSE-C copy under another key differs"
run_ok "copy SSE-C -> SSE-S3" awsc s3 cp "s3://$B/c-multi.bin" "s3://$B/c-to-s3.bin" \
    --sse-c-copy-source AES256 --sse-c-copy-source-key "fileb://$W/key1.bin" --sse AES256
assert_eq "$(head_field ServerSideEncryption c-to-s3.bin)" "AES256" "an SSE-C object copied with --sse AES256"
run_ok "cp down c-to-s3.bin" awsc s3 cp "s3://$B/c-to-s3.bin" "$W/c-to-s3.down"
cmp -s "$W/multi.bin" "$W/c-to-s3.down" || fail "SSE-C -> SSE-S3 copy differs"
run_ok "copy SSE-S3 -> SSE-KMS" awsc s3 cp "s3://$B/s3.bin" "s3://$B/s3-to-kms.bin" --sse aws:kms --sse-kms-key-id conf-before
assert_eq "$(head_field ServerSideEncryption s3-to-kms.bin)" "aws:kms" "an SSE-S3 object copied with --sse aws:kms"
run_ok "copy SSE-KMS -> plain" awsc s3api copy-object --bucket "$B" --key kms-to-plain.bin --copy-source "$B/kms.bin"
assert_eq "$(head_field ServerSideEncryption kms-to-plain.bin)" "None" "an SSE-KMS object copied without encryption headers"
for k in s3-to-kms.bin kms-to-plain.bin; do
    run_ok "cp down $k" awsc s3 cp "s3://$B/$k" "$W/$k.down"
    cmp -s "$W/small.bin" "$W/$k.down" || fail "copy $k differs"
done

log "aws-cli: bucket default encryption"
expect_error ServerSideEncryptionConfigurationNotFoundError "get-bucket-encryption of a bucket without one" \
    awsc s3api get-bucket-encryption --bucket "$B2"
expect_error KMS.NotFoundException "a default naming an unknown key" awsc s3api put-bucket-encryption --bucket "$B2" \
    --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"conf-no-such-key"}}]}'
run_ok "put-bucket-encryption aws:kms" awsc s3api put-bucket-encryption --bucket "$B2" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms","KMSMasterKeyID":"conf-before"},"BucketKeyEnabled":true}]}'
run_ok "get-bucket-encryption" awsc s3api get-bucket-encryption --bucket "$B2"
rule='d["ServerSideEncryptionConfiguration"]["Rules"][0]'
assert_eq "$(json "$rule[\"ApplyServerSideEncryptionByDefault\"][\"SSEAlgorithm\"]" <<<"$OUT")" "aws:kms" "default SSEAlgorithm"
assert_eq "$(json "$rule[\"ApplyServerSideEncryptionByDefault\"][\"KMSMasterKeyID\"]" <<<"$OUT")" "conf-before" "default KMSMasterKeyID"
assert_eq "$(json "$rule[\"BucketKeyEnabled\"]" <<<"$OUT")" "True" "default BucketKeyEnabled"
run_ok "cp into the default-encrypted bucket" awsc s3 cp "$W/small.bin" "s3://$B2/default.bin"
run_ok "head default.bin" awsc s3api head-object --bucket "$B2" --key default.bin
assert_eq "$(json 'd.get("ServerSideEncryption")' <<<"$OUT")" "aws:kms" "an upload without headers gets the bucket default"
assert_contains "$(json 'd.get("SSEKMSKeyId")' <<<"$OUT")" "conf-before" "the bucket default's key"
run_ok "cp multipart into the default-encrypted bucket" awsc s3 cp "$W/multi.bin" "s3://$B2/default-multi.bin"
assert_eq "$(awsc s3api head-object --bucket "$B2" --key default-multi.bin | json 'd.get("ServerSideEncryption")')" "aws:kms" \
    "a multipart upload gets the bucket default"
run_ok "cp with --sse AES256 overrides the default" awsc s3 cp "$W/small.bin" "s3://$B2/explicit.bin" --sse AES256
assert_eq "$(awsc s3api head-object --bucket "$B2" --key explicit.bin | json 'd.get("ServerSideEncryption")')" "AES256" \
    "request headers win over the bucket default"
run_ok "put-bucket-encryption AES256" awsc s3api put-bucket-encryption --bucket "$B2" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
run_ok "cp after switching the default" awsc s3 cp "$W/small.bin" "s3://$B2/default-s3.bin"
assert_eq "$(awsc s3api head-object --bucket "$B2" --key default-s3.bin | json 'd.get("ServerSideEncryption")')" "AES256" \
    "the new default applies"
run_ok "delete-bucket-encryption" awsc s3api delete-bucket-encryption --bucket "$B2"
expect_error ServerSideEncryptionConfigurationNotFoundError "get-bucket-encryption after delete" \
    awsc s3api get-bucket-encryption --bucket "$B2"
run_ok "cp after delete-bucket-encryption" awsc s3 cp "$W/small.bin" "s3://$B2/after-delete.bin"
assert_eq "$(awsc s3api head-object --bucket "$B2" --key after-delete.bin | json 'd.get("ServerSideEncryption")')" "None" \
    "no default after delete-bucket-encryption"
for k in default.bin default-s3.bin after-delete.bin; do
    run_ok "cp down $k" awsc s3 cp "s3://$B2/$k" "$W/$k.down"
    cmp -s "$W/small.bin" "$W/$k.down" || fail "$k read back differs"
done

log "no plaintext of an encrypted object on disk"
# A recognisable body, one copy plain (the scan must find it: it proves the scan works) and
# one under each mode (it must find none of those).
python3 -c 'import sys; sys.stdout.write("".join(f"{sys.argv[1]} line {i:06d} of a body anyone could grep for\n" for i in range(6000)))' \
    GRANARY-CONFORMANCE-PLAIN >"$W/plain-marker.txt"
run_ok "put plain marker" awsc s3 cp "$W/plain-marker.txt" "s3://$B/marker-plain.txt"
for mode in s3 kms c; do
    python3 -c 'import sys; sys.stdout.write("".join(f"{sys.argv[1]} line {i:06d} of a body anyone could grep for\n" for i in range(6000)))' \
        "GRANARY-CONFORMANCE-SECRET-$mode" >"$W/marker-$mode.txt"
done
run_ok "put marker s3" awsc s3 cp "$W/marker-s3.txt" "s3://$B/marker-s3.txt" --sse AES256
run_ok "put marker kms" awsc s3 cp "$W/marker-kms.txt" "s3://$B/marker-kms.txt" --sse aws:kms --sse-kms-key-id conf-before
run_ok "put marker c" awsc s3 cp "$W/marker-c.txt" "s3://$B/marker-c.txt" --sse-c AES256 --sse-c-key "fileb://$W/key1.bin"
grep -rqa GRANARY-CONFORMANCE-PLAIN "$GRANARY_DATA_DIR" || fail "the scan finds not even the plain object's body"
found="$(grep -rla GRANARY-CONFORMANCE-SECRET "$GRANARY_DATA_DIR" || true)"
[ -z "$found" ] || fail "plaintext of an encrypted object on disk: $found"

log "boto3 (encryption_test.py)"
GRANARY_KMS_KEY=conf-before python3 "$CONFORMANCE_DIR/encryption_test.py" -v 2>"$W/boto3.log" || {
    cat "$W/boto3.log" >&2
    fail "encryption_test.py reported failures (see above)"
}
grep -E '^Ran |^OK' "$W/boto3.log" >&2 || true

log "rclone: --s3-server-side-encryption AES256, --s3-sse-kms-key-id, --s3-sse-customer-key"
rclone_setup "$W"
rc() { rclone_g --transfers 4 --checkers 4 "$@"; }
make_tree "$W/tree"
cp "$W/multi.bin" "$W/tree/a/multi.bin"
run_ok "rclone copy --s3-server-side-encryption AES256" rc copy --s3-server-side-encryption AES256 "$W/tree" "G:$B/rclone-s3"
run_ok "rclone check" rc check "$W/tree" "G:$B/rclone-s3"
for k in top.txt a/one.bin a/multi.bin "e f/with space.dat"; do
    assert_eq "$(head_field ServerSideEncryption "rclone-s3/$k")" "AES256" "rclone-s3/$k uploaded with AES256"
done
run_ok "rclone copy back" rc copy "G:$B/rclone-s3" "$W/tree.back"
diff -r "$W/tree" "$W/tree.back" || fail "the tree rclone uploaded with SSE-S3 came back different"
run_ok "rclone copy --s3-sse-kms-key-id" rc copy --s3-server-side-encryption aws:kms --s3-sse-kms-key-id conf-before \
    "$W/tree" "G:$B/rclone-kms"
assert_contains "$(head_field SSEKMSKeyId rclone-kms/a/multi.bin)" "conf-before" "rclone's SSE-KMS upload names the key"
run_ok "rclone check --download (kms)" rc check --download "$W/tree" "G:$B/rclone-kms"
ssec=(--s3-sse-customer-algorithm AES256 --s3-sse-customer-key "$key2")
# rclone (aws-sdk-go) will not send a customer key over plain HTTP: its own refusal, before
# any request. Its SSE-C runs against the same store restarted with TLS below.
expect_fail "cannot send SSE keys over HTTP" "rclone refuses SSE-C over http" rc copy "${ssec[@]}" "$W/tree" "G:$B/rclone-c"

log "rclone: SSE-C (--s3-sse-customer-key) over TLS"
P="$W/pki"
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=granary encryption conformance CA" \
    -keyout "$P/ca.key" -out "$P/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout "$P/server.key" -out "$P/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$P/ext.cnf"
openssl x509 -req -in "$P/server.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 2 -extfile "$P/ext.cnf" \
    -out "$P/server.crt" 2>/dev/null
stop_granary
start_granary --tls-cert "$P/server.crt" --tls-key "$P/server.key"
export GRANARY_ENDPOINT="https://127.0.0.1:$GRANARY_PORT" RCLONE_CONFIG_G_ENDPOINT="https://127.0.0.1:$GRANARY_PORT"
awsc() { aws --endpoint-url "$GRANARY_ENDPOINT" --ca-bundle "$P/ca.pem" "$@"; }
rc() { rclone_g --ca-cert "$P/ca.pem" --transfers 4 --checkers 4 "$@"; }
run_ok "rclone copy with an SSE-C key" rc copy "${ssec[@]}" "$W/tree" "G:$B/rclone-c"
expect_error 400 "aws-cli reads rclone's SSE-C object without the key" awsc s3 cp "s3://$B/rclone-c/a/one.bin" "$W/rc-nokey"
run_ok "aws-cli reads rclone's SSE-C object with the key" \
    awsc s3 cp "s3://$B/rclone-c/a/one.bin" "$W/rc-key" --sse-c AES256 --sse-c-key "fileb://$W/key2.bin"
cmp -s "$W/tree/a/one.bin" "$W/rc-key" || fail "rclone's SSE-C object read by aws-cli differs"
run_ok "rclone check --download with the key" rc check --download "${ssec[@]}" "$W/tree" "G:$B/rclone-c"
run_ok "rclone copy back with the key" rc copy "${ssec[@]}" "G:$B/rclone-c" "$W/tree.back-c"
diff -r "$W/tree" "$W/tree.back-c" || fail "the tree rclone uploaded with SSE-C came back different"
expect_fail "ERROR" "rclone reads SSE-C objects without the key" rc copy "G:$B/rclone-c/a" "$W/tree.nokey"
expect_fail "ERROR" "rclone reads SSE-C objects with another key" \
    rc copy --s3-sse-customer-algorithm AES256 --s3-sse-customer-key "$key1" "G:$B/rclone-c/a" "$W/tree.otherkey"
# Objects written before the restart read back over TLS.
run_ok "cp down s3.bin over TLS" awsc s3 cp "s3://$B/s3.bin" "$W/s3.tls"
cmp -s "$W/small.bin" "$W/s3.tls" || fail "SSE-S3 object read back over TLS differs"

((${#FAILED_LATER[@]} == 0)) || fail "checks that failed above: ${FAILED_LATER[*]}"
log "cleanup"
run_ok "rb --force" awsc s3 rb --force "s3://$B2"
# SSE-C objects need no key to be deleted.
run_ok "rb --force (SSE-C objects inside)" awsc s3 rb --force "s3://$B"
finish_granary
