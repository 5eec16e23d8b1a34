#!/usr/bin/env bash
# One-shot (the fdb-init service, in the FoundationDB image): create the demo database on the
# single fdb process with "configure new single ssd", or accept that it already exists, then
# wait until it is available. Exits 0 only when the database answers.
set -uo pipefail
: "${FDB_CLUSTER_FILE:?FDB_CLUSTER_FILE must name the shared cluster file}"

for _ in $(seq 1 60); do
    [ -s "$FDB_CLUSTER_FILE" ] && break
    sleep 1
done
if [ ! -s "$FDB_CLUSTER_FILE" ]; then
    echo "fdb-init: no cluster file at $FDB_CLUSTER_FILE after 60 s" >&2
    exit 1
fi
echo "fdb-init: cluster file $FDB_CLUSTER_FILE: $(cat "$FDB_CLUSTER_FILE")"

configured=""
for _ in $(seq 1 30); do
    out="$(fdbcli --exec "configure new single ssd" --timeout 10 2>&1)"
    rc=$?
    echo "$out"
    # A rerun (or a retry after a timed-out first attempt that did apply) says
    # "ERROR: Database already exists!": that is fine.
    if [ "$rc" -eq 0 ] || grep -qi "already exists" <<<"$out"; then
        configured=yes
        break
    fi
    sleep 2
done
if [ -z "$configured" ]; then
    echo "fdb-init: could not configure the database" >&2
    exit 1
fi

for _ in $(seq 1 60); do
    if fdbcli --exec "status minimal" --timeout 10 2>&1 | grep -q "The database is available"; then
        echo "fdb-init: FoundationDB is available"
        exit 0
    fi
    sleep 2
done
echo "fdb-init: the database did not become available" >&2
exit 1
