#!/usr/bin/env bash
# Search through the HTTP API with the README's own examples: curl (--aws-sigv4) and Python
# (botocore's signer), after uploading with aws-cli; then `granary index rebuild`.
source "$(dirname "$0")/lib.sh"
start_granary

W="$(scratch_dir)"
awscli_setup "$W"
B=conf-search

run_ok "mb" awsc s3 mb "s3://$B"
printf 'cat picture' >"$W/cat.jpg"
printf 'dog picture, larger than the cat' >"$W/dog.png"
run_ok "cp cat" awsc s3 cp "$W/cat.jpg" "s3://$B/photos/2026/cat.jpg" --content-type image/jpeg --metadata project=apollo
run_ok "cp dog" awsc s3 cp "$W/dog.png" "s3://$B/photos/2025/dog.png" --content-type image/png
run_ok "cp notes" awsc s3 cp "$W/cat.jpg" "s3://$B/notes/catalog.txt" --content-type text/plain

# Query values go percent-encoded in full (a space as %20, never +): that is how SigV4
# canonicalises them.
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
search() { # search QUERY: the README's curl example
    curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        "$GRANARY_ENDPOINT/_granary/search?bucket=$B&q=$(enc "$1")"
}
keys() { python3 -c 'import json,sys; print(" ".join(sorted(o["key"] for o in json.load(sys.stdin)["objects"])))'; }

found=""
for _ in $(seq 1 50); do # events reach the index within a moment
    found="$(search 'cat' | keys)"
    [ "$found" = "notes/catalog.txt photos/2026/cat.jpg" ] && break
    sleep 0.2
done
assert_eq "$found" "notes/catalog.txt photos/2026/cat.jpg" "curl: words and prefixes of names"
assert_eq "$(search 'type:image/* size>20' | keys)" "photos/2025/dog.png" "curl: content type and size range"
assert_eq "$(search 'meta.project:apollo' | keys)" "photos/2026/cat.jpg" "curl: user metadata"

run_ok "python example" python3 "$CONFORMANCE_DIR/search_example.py" "$GRANARY_ENDPOINT" "$B" 'cat type:image/*'
assert_contains "$OUT" "photos/2026/cat.jpg 11 image/jpeg" "python: search hit"
assert_contains "$OUT" "suggestions: ['photos/2025/', 'photos/2026/']" "python: suggestions"

run_ok "index rebuild" granary_cli index rebuild
assert_contains "$OUT" '"indexed_objects": 3' "rebuild through the running gateway"
assert_eq "$(search '' | keys)" "notes/catalog.txt photos/2025/dog.png photos/2026/cat.jpg" "after rebuild"

run_ok "status" granary_cli status
assert_eq "$(printf '%s' "$OUT" | json 'd["search"]["documents"]')" "3" "status shows the index"
finish_granary
