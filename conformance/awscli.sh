#!/usr/bin/env bash
# aws-cli (v1) against a real granary: high-level s3 commands, s3api calls, auth errors,
# a second user, and presigned URLs fetched with curl.
source "$(dirname "$0")/lib.sh"
start_granary

W="$(scratch_dir)"
awscli_setup "$W"

# expect_error CODE WHAT CMD...: the command must fail and name the S3 error CODE.
expect_error() { expect_fail "($1)" "${@:2}"; }

B=conf-awscli
B2=conf-awscli-copy

log "mb / ls"
run_ok "mb" awsc s3 mb "s3://$B"
assert_contains "$OUT" "make_bucket: $B" "mb output"
run_ok "mb second" awsc s3 mb "s3://$B2"
run_ok "ls buckets" awsc s3 ls
assert_contains "$OUT" " $B" "ls lists bucket $B"
assert_contains "$OUT" " $B2" "ls lists bucket $B2"

log "cp up/down 5 MiB"
head -c $((5 * 1024 * 1024 + 123)) /dev/urandom >"$W/big.bin"
run_ok "cp up" awsc s3 cp "$W/big.bin" "s3://$B/dir/big.bin"
run_ok "cp down" awsc s3 cp "s3://$B/dir/big.bin" "$W/big.down"
cmp "$W/big.bin" "$W/big.down" || fail "cp round trip of 5 MiB file is not byte-identical"
want_md5="$(md5sum <"$W/big.bin" | cut -d' ' -f1)"
run_ok "head big" awsc s3api head-object --bucket "$B" --key dir/big.bin
assert_eq "$(json 'd["ETag"]' <<<"$OUT")" "\"$want_md5\"" "ETag of single-part upload is the MD5"
assert_eq "$(json 'd["ContentLength"]' <<<"$OUT")" "$((5 * 1024 * 1024 + 123))" "ContentLength of big.bin"

log "ls objects"
run_ok "ls bucket" awsc s3 ls "s3://$B"
assert_contains "$OUT" "PRE dir/" "ls shows the dir/ prefix"
run_ok "ls prefix" awsc s3 ls "s3://$B/dir/"
assert_contains "$OUT" "$((5 * 1024 * 1024 + 123)) big.bin" "ls shows big.bin with its size"
run_ok "ls recursive" awsc s3 ls --recursive "s3://$B"
assert_contains "$OUT" "dir/big.bin" "ls --recursive shows the full key"

log "metadata and content-type"
printf 'metadata body\n' >"$W/meta.txt"
run_ok "cp with metadata" awsc s3 cp "$W/meta.txt" "s3://$B/meta.txt" \
    --content-type "text/x-granary; charset=utf-8" --metadata "color=blue,Shape=Round" \
    --cache-control "max-age=60" --content-disposition 'attachment; filename="m.txt"'
run_ok "head meta" awsc s3api head-object --bucket "$B" --key meta.txt
assert_eq "$(json 'd["ContentType"]' <<<"$OUT")" "text/x-granary; charset=utf-8" "head-object ContentType"
assert_eq "$(json 'd["Metadata"].get("color")' <<<"$OUT")" "blue" "head-object Metadata color"
assert_eq "$(json 'd["Metadata"].get("shape")' <<<"$OUT")" "Round" "head-object Metadata shape (keys are lower-cased)"
assert_eq "$(json 'd.get("CacheControl")' <<<"$OUT")" "max-age=60" "head-object CacheControl"
assert_eq "$(json 'd.get("ContentDisposition")' <<<"$OUT")" 'attachment; filename="m.txt"' "head-object ContentDisposition"
assert_eq "$(json 'd["ContentLength"]' <<<"$OUT")" "14" "head-object ContentLength"
run_ok "put-object with metadata" awsc s3api put-object --bucket "$B" --key api.txt \
    --body "$W/meta.txt" --content-type application/json --metadata owner=me
run_ok "head api" awsc s3api head-object --bucket "$B" --key api.txt
assert_eq "$(json 'd["ContentType"]' <<<"$OUT")" "application/json" "put-object ContentType"
assert_eq "$(json 'd["Metadata"]' <<<"$OUT")" "{'owner': 'me'}" "put-object Metadata"
expect_error 404 "head-object of a missing key" awsc s3api head-object --bucket "$B" --key nope
expect_error NoSuchKey "get-object of a missing key" awsc s3api get-object --bucket "$B" --key nope "$W/nope"
expect_error NoSuchBucket "ls of a missing bucket" awsc s3api list-objects-v2 --bucket conf-no-such-bucket

log "get-object --range"
run_ok "ranged get" awsc s3api get-object --bucket "$B" --key dir/big.bin --range bytes=1000-1999 "$W/range.out"
assert_eq "$(json 'd["ContentLength"]' <<<"$OUT")" "1000" "ranged get ContentLength"
assert_eq "$(json 'd["ContentRange"]' <<<"$OUT")" "bytes 1000-1999/$((5 * 1024 * 1024 + 123))" "ranged get ContentRange"
dd if="$W/big.bin" of="$W/range.want" bs=1000 skip=1 count=1 status=none
cmp "$W/range.out" "$W/range.want" || fail "ranged get returned the wrong bytes"
run_ok "suffix range" awsc s3api get-object --bucket "$B" --key dir/big.bin --range bytes=-100 "$W/suffix.out"
tail -c 100 "$W/big.bin" >"$W/suffix.want"
cmp "$W/suffix.out" "$W/suffix.want" || fail "suffix range bytes=-100 returned the wrong bytes"

log "copy-object"
run_ok "copy-object" awsc s3api copy-object --bucket "$B2" --key copied.bin --copy-source "$B/dir/big.bin"
assert_eq "$(json 'd["CopyObjectResult"]["ETag"]' <<<"$OUT")" "\"$want_md5\"" "copy-object ETag"
run_ok "cp copied down" awsc s3 cp "s3://$B2/copied.bin" "$W/copied.down"
cmp "$W/big.bin" "$W/copied.down" || fail "copied object differs from its source"
run_ok "copy-object keeps metadata" awsc s3api copy-object --bucket "$B" --key meta-copy.txt --copy-source "$B/meta.txt"
run_ok "head meta-copy" awsc s3api head-object --bucket "$B" --key meta-copy.txt
assert_eq "$(json 'd["ContentType"]' <<<"$OUT")" "text/x-granary; charset=utf-8" "copy (COPY directive) keeps ContentType"
assert_eq "$(json 'd["Metadata"].get("color")' <<<"$OUT")" "blue" "copy (COPY directive) keeps Metadata"
run_ok "copy-object replace" awsc s3api copy-object --bucket "$B" --key meta-repl.txt --copy-source "$B/meta.txt" \
    --metadata-directive REPLACE --metadata new=yes --content-type text/plain
run_ok "head meta-repl" awsc s3api head-object --bucket "$B" --key meta-repl.txt
assert_eq "$(json 'd["ContentType"]' <<<"$OUT")" "text/plain" "copy (REPLACE directive) ContentType"
assert_eq "$(json 'd["Metadata"]' <<<"$OUT")" "{'new': 'yes'}" "copy (REPLACE directive) Metadata"
run_ok "s3 cp server-side" awsc s3 cp "s3://$B/meta.txt" "s3://$B2/via-cp.txt"
run_ok "s3 cp down via-cp" awsc s3 cp "s3://$B2/via-cp.txt" "$W/via-cp.txt"
cmp "$W/meta.txt" "$W/via-cp.txt" || fail "aws s3 cp s3->s3 produced different content"

log "sync up and back"
make_tree "$W/tree"
run_ok "sync up" awsc s3 sync "$W/tree" "s3://$B/tree"
run_ok "ls tree" awsc s3 ls --recursive "s3://$B/tree/"
n="$(grep -c . <<<"$OUT")"
assert_eq "$n" "6" "number of objects after sync up"
assert_contains "$OUT" "tree/e f/with space.dat" "synced key with a space"
run_ok "sync up again" awsc s3 sync "$W/tree" "s3://$B/tree"
assert_eq "$OUT" "" "second sync up has nothing to do"
run_ok "sync down" awsc s3 sync "s3://$B/tree" "$W/tree.down"
diff -r "$W/tree" "$W/tree.down" || fail "tree synced down differs from the tree synced up"
rm "$W/tree/a/one.bin"
run_ok "sync --delete" awsc s3 sync --delete "$W/tree" "s3://$B/tree"
assert_contains "$OUT" "delete: s3://$B/tree/a/one.bin" "sync --delete deletes the removed file"
run_ok "ls tree after delete" awsc s3 ls --recursive "s3://$B/tree/"
assert_eq "$(grep -c . <<<"$OUT")" "5" "number of objects after sync --delete"

log "second user"
run_ok "user create" granary_cli user create bob --access-key BOBCONFORMANCEKEY --secret-key bob-secret-0123456789
bob() { AWS_ACCESS_KEY_ID=BOBCONFORMANCEKEY AWS_SECRET_ACCESS_KEY=bob-secret-0123456789 awsc "$@"; }
run_ok "bob lists his (empty) buckets" bob s3api list-buckets
assert_eq "$(json 'len(d.get("Buckets", []))' <<<"$OUT")" "0" "bob sees none of admin's buckets"
expect_error AccessDenied "bob lists admin's bucket" bob s3api list-objects-v2 --bucket "$B"
expect_error AccessDenied "bob reads admin's object" bob s3api get-object --bucket "$B" --key meta.txt "$W/bob.out"
expect_error AccessDenied "bob writes into admin's bucket" bob s3api put-object --bucket "$B" --key bob.txt --body "$W/meta.txt"
expect_error AccessDenied "bob deletes admin's object" bob s3api delete-object --bucket "$B" --key meta.txt
expect_error AccessDenied "bob deletes admin's bucket" bob s3api delete-bucket --bucket "$B"
expect_error AccessDenied "bob reads admin's bucket ACL" bob s3api get-bucket-acl --bucket "$B"
expect_error 403 "bob heads admin's bucket" bob s3api head-bucket --bucket "$B"
expect_error BucketAlreadyExists "bob creates admin's bucket name" bob s3api create-bucket --bucket "$B"
run_ok "bob makes his own bucket" bob s3 mb s3://conf-bob
run_ok "bob puts into his bucket" bob s3 cp "$W/meta.txt" s3://conf-bob/x.txt
expect_error AccessDenied "bob copies admin's object into his bucket" \
    bob s3api copy-object --bucket conf-bob --key stolen.txt --copy-source "$B/meta.txt"
# The operator bypasses bucket policies and ACLs (no bucket can be locked away from it).
run_ok "admin reads bob's object" awsc s3api get-object --bucket conf-bob --key x.txt "$W/admin.out"

log "sharing (issue 15)"
code="$(curl -sS -o "$W/anon.out" -w '%{http_code}' "$GRANARY_ENDPOINT/conf-bob/x.txt")"
assert_eq "$code" "403" "anonymous GET of a private object"
run_ok "bob makes x.txt public" bob s3api put-bucket-policy --bucket conf-bob --policy \
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::conf-bob/x.txt"}]}'
run_ok "bob reads the policy status" bob s3api get-bucket-policy-status --bucket conf-bob
assert_eq "$(json 'd["PolicyStatus"]["IsPublic"]' <<<"$OUT")" "True" "a policy for Principal * is public"
code="$(curl -sS -o "$W/anon.out" -w '%{http_code}' "$GRANARY_ENDPOINT/conf-bob/x.txt")"
assert_eq "$code" "200" "anonymous GET of an object a policy made public"
assert_eq "$(cat "$W/anon.out")" "$(cat "$W/meta.txt")" "the public object's body"
code="$(curl -sS -o /dev/null -w '%{http_code}' "$GRANARY_ENDPOINT/conf-bob")"
assert_eq "$code" "403" "anonymous listing is not granted"
run_ok "bob restricts public buckets" bob s3api put-public-access-block --bucket conf-bob \
    --public-access-block-configuration RestrictPublicBuckets=true
code="$(curl -sS -o /dev/null -w '%{http_code}' "$GRANARY_ENDPOINT/conf-bob/x.txt")"
assert_eq "$code" "403" "RestrictPublicBuckets keeps the public policy from anonymous requests"
run_ok "bob removes the public access block" bob s3api delete-public-access-block --bucket conf-bob
run_ok "bob deletes the policy" bob s3api delete-bucket-policy --bucket conf-bob
expect_error NoSuchBucketPolicy "no policy left" bob s3api get-bucket-policy --bucket conf-bob
run_ok "admin lists buckets" awsc s3api list-buckets
assert_eq "$(json 'sorted(b["Name"] for b in d["Buckets"])' <<<"$OUT")" "['$B', '$B2']" "admin sees only its own buckets"

log "bad credentials"
expect_error SignatureDoesNotMatch "wrong secret key" \
    env AWS_SECRET_ACCESS_KEY=wrong-secret-key aws --endpoint-url "$GRANARY_ENDPOINT" s3api list-buckets
expect_error SignatureDoesNotMatch "wrong secret key on an object read" \
    env AWS_SECRET_ACCESS_KEY=wrong-secret-key aws --endpoint-url "$GRANARY_ENDPOINT" s3api get-object --bucket "$B" --key api.txt "$W/bad.out"
expect_error 403 "wrong secret key on head-bucket" \
    env AWS_SECRET_ACCESS_KEY=wrong-secret-key aws --endpoint-url "$GRANARY_ENDPOINT" s3api head-bucket --bucket "$B"
expect_error InvalidAccessKeyId "unknown access key" \
    env AWS_ACCESS_KEY_ID=NOSUCHACCESSKEY000 aws --endpoint-url "$GRANARY_ENDPOINT" s3api list-buckets

log "presigned URLs"
run_ok "presign" awsc s3 presign "s3://$B/meta.txt" --expires-in 300
url="$OUT"
code="$(curl -sS -o "$W/presigned.out" -w '%{http_code}' "$url")"
assert_eq "$code" "200" "HTTP status of a presigned GET"
cmp "$W/meta.txt" "$W/presigned.out" || fail "presigned GET returned the wrong body"
tampered="${url/meta.txt/meta-copy.txt}"
code="$(curl -sS -o "$W/tampered.out" -w '%{http_code}' "$tampered")"
assert_eq "$code" "403" "HTTP status of a presigned URL whose key was changed"
run_ok "presign short" awsc s3 presign "s3://$B/meta.txt" --expires-in 1
short="$OUT"
sleep 2
code="$(curl -sS -o "$W/expired.out" -w '%{http_code}' "$short")"
assert_eq "$code" "403" "HTTP status of an expired presigned URL (body: $(cat "$W/expired.out"))"
assert_contains "$(cat "$W/expired.out")" "<Code>AccessDenied</Code>" "error code of an expired presigned URL"

log "rm / rb"
expect_error BucketNotEmpty "rb of a non-empty bucket" awsc s3 rb "s3://$B2"
run_ok "rm one" awsc s3 rm "s3://$B/meta.txt"
assert_contains "$OUT" "delete: s3://$B/meta.txt" "rm output"
expect_error 404 "head-object after rm" awsc s3api head-object --bucket "$B" --key meta.txt
run_ok "rm recursive" awsc s3 rm --recursive "s3://$B"
run_ok "ls after rm" awsc s3 ls --recursive "s3://$B"
assert_eq "$OUT" "" "bucket is empty after rm --recursive"
run_ok "rb" awsc s3 rb "s3://$B"
assert_contains "$OUT" "remove_bucket: $B" "rb output"
run_ok "rb --force" awsc s3 rb --force "s3://$B2"
run_ok "ls after rb" awsc s3 ls
assert_eq "$OUT" "" "no buckets left after rb"
expect_error NoSuchBucket "head-bucket after rb" awsc s3api get-bucket-location --bucket "$B"

finish_granary
