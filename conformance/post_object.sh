#!/usr/bin/env bash
# Starts a granary and runs the browser-upload suite (post_object_test.py: forms signed by
# boto3's generate_presigned_post, posted as a browser posts them) against it.
# Extra arguments go to unittest, e.g. ./post_object.sh PresignedPostTest -v
source "$(dirname "$0")/lib.sh"
start_granary
python3 "$CONFORMANCE_DIR/post_object_test.py" "$@" || fail "post_object_test.py reported failures (see above)"
finish_granary
