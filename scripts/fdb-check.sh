#!/usr/bin/env bash
# Granary on a live FoundationDB cluster: everything the embedded store's CI proves, again on
# FoundationDB, plus what only a shared cluster can show.
#
#   FDB_CLUSTER_FILE=/etc/foundationdb/fdb.cluster scripts/fdb-check.sh [STEP...]
#
# Steps (all by default, in this order):
#   kv           the kv conformance suite (tests/kv_conformance.rs) on the cluster
#   lib          the library's unit tests (built with --features fdb)
#   s3           the whole in-process S3 suite, every gateway on its own root prefix
#   conformance  every conformance script (aws-cli, s3cmd, rclone, boto3, ...) against
#                `granary serve --metadata fdb`
#   two          two `granary serve --metadata fdb` gateways on one cluster and one chunk
#                directory: every change through one is seen through the other; kill -9 of one
#                while the other serves; the survivor declares it dead (conformance/two_gateways.py)
#
# Without FDB_CLUSTER_FILE it says so and exits 0: FoundationDB is optional, and CI machines
# have no cluster. Building FoundationDB (fdbserver, libfdb_c) is the operator's or the
# packager's job; this script needs libfdb_c where the linker finds it (LIBRARY_PATH, default
# /usr/local/lib when libfdb_c.so is there) and a cluster answering on FDB_CLUSTER_FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FDB_CLUSTER_FILE:-}" ]; then
    echo "SKIPPED: FoundationDB checks: FDB_CLUSTER_FILE is not set (no cluster on this machine)"
    exit 0
fi
[ -s "$FDB_CLUSTER_FILE" ] || { echo "FAIL: FDB_CLUSTER_FILE=$FDB_CLUSTER_FILE is not a cluster file"; exit 1; }
if [ -z "${LIBRARY_PATH:-}" ] && [ -e /usr/local/lib/libfdb_c.so ]; then
    # rust-lld does not search /usr/local/lib by itself; RUSTFLAGS would rebuild everything.
    export LIBRARY_PATH=/usr/local/lib
fi
export FDB_CLUSTER_FILE

steps=("$@")
((${#steps[@]})) || steps=(kv lib s3 conformance two)
started=$SECONDS
for step in "${steps[@]}"; do
    echo "== fdb-check: $step ($((SECONDS - started)) s)"
    case "$step" in
        kv) cargo test --locked --features fdb --test kv_conformance ;;
        lib) cargo test --locked --features fdb --lib ;;
        s3) cargo test --locked --features fdb --test s3 ;;
        conformance | two)
            cargo build --locked --features fdb --bin granary
            if [ "$step" = conformance ]; then
                GRANARY_METADATA=fdb GRANARY_FDB_CLUSTER_FILE="$FDB_CLUSTER_FILE" conformance/run-all.sh
            else
                conformance/install-deps.sh >/dev/null
                python3 conformance/two_gateways.py --binary target/debug/granary --cluster-file "$FDB_CLUSTER_FILE"
            fi
            ;;
        *) echo "unknown step $step (kv lib s3 conformance two)"; exit 2 ;;
    esac
done
echo "fdb-check: all of ${steps[*]} passed in $((SECONDS - started)) s"
