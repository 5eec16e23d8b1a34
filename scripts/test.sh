#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every test.
# Works on a fresh Debian 12 machine with the Rust toolchain (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "installing test dependencies (apt: s3cmd rclone libclang-dev; pip: boto3)"
conformance/install-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The FoundationDB backend cannot link here (no libfdb_c in reach), so it is compiled and
# linted only; its tests run where FDB_CLUSTER_FILE names a cluster.
cargo clippy --all-targets --locked --features fdb -- -D warnings
deploy/check.sh

step "unit, property, backend-conformance and in-process S3 tests"
cargo test --locked

step "real clients against a real 'granary serve' (aws-cli, s3cmd, rclone, boto3)"
cargo build --locked --bin granary
GRANARY_BIN="$PWD/target/debug/granary" conformance/run-all.sh

step "all tests passed in $(( $(date +%s) - started ))s"
