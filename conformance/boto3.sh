#!/usr/bin/env bash
# Starts a granary and runs the boto3 unittest suite (boto3_test.py) against it.
# Extra arguments go to unittest, e.g. ./boto3.sh ListingTest -v
source "$(dirname "$0")/lib.sh"
start_granary
python3 "$CONFORMANCE_DIR/boto3_test.py" "$@" || fail "boto3_test.py reported failures (see above)"
finish_granary
