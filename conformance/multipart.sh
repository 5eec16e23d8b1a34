#!/usr/bin/env bash
# Multipart uploads against a real granary, started with an eager chunk collector
# (--gc-grace-secs 1 --gc-interval-secs 1) so freed chunks leave the disk within seconds:
#   - boto3 (multipart_boto3.py): dedup across uploads with other part sizes, flexible
#     checksums (COMPOSITE CRC32C/SHA256 through the transfer manager, FULL_OBJECT CRC64NVME
#     and CRC32), abort frees the chunks, error answers, ListParts/ListMultipartUploads
#     pagination, UploadPartCopy ranges, partNumber reads;
#   - aws-cli: `aws s3 cp` of a 1 GiB file up and down with the default multipart settings;
#   - rclone: a 300 MiB file with 16 MiB chunks and 8 concurrent parts, check, read back.
# Sizes can be shrunk for a quick run: MULTIPART_BIG_MIB (1024), MULTIPART_RCLONE_MIB (300),
# MULTIPART_DEDUP_MIB (200).
source "$(dirname "$0")/lib.sh"
start_granary --gc-grace-secs 1 --gc-interval-secs 1

W="$(scratch_dir)"
export MULTIPART_SCRATCH="$W"
BIG_MIB="${MULTIPART_BIG_MIB:-1024}"
RCLONE_MIB="${MULTIPART_RCLONE_MIB:-300}"
awscli_setup "$W"

# multipart_etag FILE PART_BYTES: the S3 ETag of FILE uploaded in parts of PART_BYTES.
multipart_etag() {
    python3 - "$1" "$2" <<'PY'
import hashlib, sys
path, size = sys.argv[1], int(sys.argv[2])
digests = []
with open(path, "rb") as f:
    while block := f.read(size):
        digests.append(hashlib.md5(block).digest())
print(f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"')
PY
}

# boto3 part, one test class at a time so a failure names its item; the aws-cli and
# rclone parts still run after a boto3 failure, which is reported at the end.
py_failed=()
for cls in DedupTest ChecksumTest AbortTest ErrorsTest; do
    log "boto3: $cls"
    python3 "$CONFORMANCE_DIR/multipart_boto3.py" "$cls" || {
        log "FAIL: multipart_boto3.py $cls reported failures (see above)"
        py_failed+=("$cls")
    }
done

log "aws-cli: ${BIG_MIB} MiB file with the default multipart settings"
B=conf-mp-awscli
run_ok "mb" awsc s3 mb "s3://$B"
head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom >"$W/big.bin"
want_etag="$(multipart_etag "$W/big.bin" $((8 * 1024 * 1024)))"
want_parts=$(((BIG_MIB + 7) / 8))
t=$SECONDS
run_ok "cp up" awsc s3 cp --only-show-errors "$W/big.bin" "s3://$B/big.bin"
log "aws s3 cp up took $((SECONDS - t))s"
run_ok "head big" awsc s3api head-object --bucket "$B" --key big.bin
assert_eq "$(json 'd["ContentLength"]' <<<"$OUT")" "$((BIG_MIB * 1024 * 1024))" "ContentLength of the ${BIG_MIB} MiB upload"
etag="$(json 'd["ETag"]' <<<"$OUT")"
case "$etag" in
    *"-$want_parts\"") ;;
    *) fail "ETag of the ${BIG_MIB} MiB multipart upload: expected the -$want_parts form (8 MiB parts), got $etag" ;;
esac
assert_eq "$etag" "$want_etag" "ETag of the ${BIG_MIB} MiB upload (md5 of the part md5s)"
t=$SECONDS
# Read back through a pipe: only one copy of the big file on disk.
awsc s3 cp --only-show-errors "s3://$B/big.bin" - 2>"$W/err" | cmp - "$W/big.bin" \
    || fail "aws s3 cp down of the ${BIG_MIB} MiB object is not byte-identical (stderr: $(tail -n 20 "$W/err"))"
log "aws s3 cp down took $((SECONDS - t))s"
rm -f "$W/big.bin"
run_ok "rm big" awsc s3 rm "s3://$B/big.bin"
run_ok "rb" awsc s3 rb "s3://$B"

log "rclone: ${RCLONE_MIB} MiB file, 16 MiB chunks, 8 concurrent parts"
rclone_setup "$W"
rc() { rclone_g "$@"; }
RB=conf-mp-rclone
mkdir -p "$W/rsrc"
head -c "$((RCLONE_MIB * 1024 * 1024 + 4321))" /dev/urandom >"$W/rsrc/large.bin"
t=$SECONDS
run_ok "rclone copy" rc copy --s3-upload-concurrency 8 --s3-chunk-size 16M --s3-upload-cutoff 16M \
    "$W/rsrc" "G:$RB/dir"
log "rclone copy took $((SECONDS - t))s"
run_ok "head large" awsc s3api head-object --bucket "$RB" --key dir/large.bin
want_etag="$(multipart_etag "$W/rsrc/large.bin" $((16 * 1024 * 1024)))"
assert_eq "$(json 'd["ETag"]' <<<"$OUT")" "$want_etag" "ETag of rclone's multipart upload (16 MiB parts)"
run_ok "rclone check" rc check "$W/rsrc" "G:$RB/dir"
t=$SECONDS
rc cat "G:$RB/dir/large.bin" 2>"$W/err" | cmp - "$W/rsrc/large.bin" \
    || fail "rclone cat of the ${RCLONE_MIB} MiB object is not byte-identical (stderr: $(tail -n 20 "$W/err"))"
log "rclone read back took $((SECONDS - t))s"
rm -rf "$W/rsrc"
run_ok "rclone purge" rc purge "G:$RB"

((${#py_failed[@]} == 0)) || fail "multipart_boto3.py reported failures in: ${py_failed[*]} (see above)"
finish_granary
