#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every test.
# Works on a fresh Debian 12 machine with the Rust toolchain (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "installing test dependencies (apt: s3cmd rclone; pip: boto3)"
conformance/install-deps.sh

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

step "unit, property, backend-conformance and in-process S3 tests"
cargo test --locked

step "real clients against a real 'granary serve' (aws-cli, s3cmd, rclone, boto3)"
cargo build --locked --bin granary
GRANARY_BIN="$PWD/target/debug/granary" conformance/run-all.sh

step "all tests passed in $(( $(date +%s) - started ))s"
