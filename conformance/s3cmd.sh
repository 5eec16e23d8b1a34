#!/usr/bin/env bash
# s3cmd against a real granary: mb, put, get, ls, la, info, cp, mv, del, rb, sync.
source "$(dirname "$0")/lib.sh"
start_granary

W="$(scratch_dir)"
s3cmd_setup "$W"

B=conf-s3cmd
B2=conf-s3cmd-two

log "mb"
run_ok "mb" s3 mb "s3://$B"
assert_contains "$OUT" "Bucket 's3://$B/' created" "mb output"
run_ok "mb two" s3 mb "s3://$B2"
run_ok "ls buckets" s3 ls
assert_contains "$OUT" "s3://$B" "ls shows $B"
assert_contains "$OUT" "s3://$B2" "ls shows $B2"

log "put / get"
head -c $((3 * 1024 * 1024 + 7)) /dev/urandom >"$W/file.bin"
md5="$(md5sum <"$W/file.bin" | cut -d' ' -f1)"
run_ok "put" s3 put "$W/file.bin" "s3://$B/dir/file.bin" --mime-type=application/x-test --add-header=x-amz-meta-tag:s3cmd
run_ok "get" s3 get "s3://$B/dir/file.bin" "$W/file.down"
cmp "$W/file.bin" "$W/file.down" || fail "s3cmd put/get round trip is not byte-identical"
printf 'small\n' >"$W/small.txt"
run_ok "put small" s3 put "$W/small.txt" "s3://$B/small.txt"
run_ok "get to stdout" s3 get "s3://$B/small.txt" -
assert_eq "$OUT" "small" "s3cmd get to stdout"
expect_fail "does not exist" "get of a missing object" s3 get "s3://$B/nope" "$W/nope"

log "ls / la / info"
run_ok "ls bucket" s3 ls "s3://$B"
assert_contains "$OUT" "DIR  s3://$B/dir/" "ls shows the dir/ prefix"
assert_contains "$OUT" "s3://$B/small.txt" "ls shows small.txt"
run_ok "ls recursive" s3 ls -r "s3://$B"
assert_contains "$OUT" "$((3 * 1024 * 1024 + 7))  s3://$B/dir/file.bin" "ls -r shows file.bin with its size"
run_ok "la" s3 la
assert_contains "$OUT" "DIR  s3://$B/dir/" "la shows the dir/ prefix of $B"
assert_contains "$OUT" "s3://$B/small.txt" "la shows small.txt"
run_ok "du" s3 du "s3://$B"
assert_contains "$OUT" "$((3 * 1024 * 1024 + 7 + 6))" "du sums the object sizes"
run_ok "info object" s3 info "s3://$B/dir/file.bin"
assert_contains "$OUT" "File size: $((3 * 1024 * 1024 + 7))" "info File size"
assert_contains "$OUT" "MD5 sum:   $md5" "info MD5 sum"
assert_contains "$OUT" "MIME type: application/x-test" "info MIME type"
assert_contains "$OUT" "x-amz-meta-tag: s3cmd" "info shows user metadata"
run_ok "info bucket" s3 info "s3://$B"
assert_contains "$OUT" "Location:  us-east-1" "bucket info Location"

log "cp / mv / del"
run_ok "cp" s3 cp "s3://$B/dir/file.bin" "s3://$B2/copy.bin"
run_ok "get copy" s3 get "s3://$B2/copy.bin" "$W/copy.down"
cmp "$W/file.bin" "$W/copy.down" || fail "s3cmd cp produced a different object"
run_ok "info copy" s3 info "s3://$B2/copy.bin"
assert_contains "$OUT" "MIME type: application/x-test" "cp keeps the MIME type"
run_ok "mv" s3 mv "s3://$B2/copy.bin" "s3://$B2/moved.bin"
run_ok "ls after mv" s3 ls "s3://$B2"
assert_contains "$OUT" "s3://$B2/moved.bin" "mv created the destination"
case "$OUT" in *copy.bin*) fail "mv left the source behind: $OUT" ;; esac
run_ok "del" s3 del "s3://$B/small.txt"
assert_contains "$OUT" "delete: 's3://$B/small.txt'" "del output"
expect_fail "404" "info after del" s3 info "s3://$B/small.txt"

log "sync up and back"
make_tree "$W/tree"
run_ok "sync up" s3 sync "$W/tree/" "s3://$B/tree/"
run_ok "ls tree" s3 ls -r "s3://$B/tree/"
assert_eq "$(grep -c . <<<"$OUT")" "6" "objects after sync up"
assert_contains "$OUT" "s3://$B/tree/e f/with space.dat" "synced key with a space"
run_ok "sync down" s3 sync "s3://$B/tree/" "$W/tree.down/"
diff -r "$W/tree" "$W/tree.down" || fail "tree synced down differs from the tree synced up"
rm "$W/tree/a/b/two.bin"
printf 'changed\n' >"$W/tree/top.txt"
run_ok "sync --delete-removed" s3 sync --delete-removed "$W/tree/" "s3://$B/tree/"
rm -rf "$W/tree.down2"
run_ok "sync down again" s3 sync "s3://$B/tree/" "$W/tree.down2/"
diff -r "$W/tree" "$W/tree.down2" || fail "changes and deletions did not propagate through s3cmd sync"

log "rb"
expect_fail "BucketNotEmpty" "rb of a non-empty bucket" s3 rb "s3://$B2"
run_ok "del recursive" s3 del --recursive --force "s3://$B2"
run_ok "rb" s3 rb "s3://$B2"
assert_contains "$OUT" "Bucket 's3://$B2/' removed" "rb output"
run_ok "rb recursive" s3 rb --recursive --force "s3://$B"
run_ok "ls after rb" s3 ls
assert_eq "$OUT" "" "no buckets left"

finish_granary
