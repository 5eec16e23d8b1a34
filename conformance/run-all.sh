#!/usr/bin/env bash
# Installs the clients, then runs every conformance script (each starts its own granary).
# Prints PASS/FAIL per script and exits non-zero if any failed.
#
#   conformance/run-all.sh                 # all of them
#   conformance/run-all.sh awscli rclone   # a subset
#   GRANARY_BIN=/path/to/granary conformance/run-all.sh
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
export GRANARY_BIN="${GRANARY_BIN:-$here/../target/debug/granary}"

if ! "$here/install-deps.sh"; then
    echo "FAIL install-deps.sh"
    exit 1
fi

scripts=("$@")
((${#scripts[@]})) || scripts=(awscli s3cmd rclone boto3 search multipart browser post_object tls encryption)

logdir="$(mktemp -d "${TMPDIR:-/tmp}/granary-conformance-logs.XXXXXX")"
failed=()
start_all=$SECONDS
for name in "${scripts[@]}"; do
    script="$here/${name%.sh}.sh"
    [ -f "$script" ] || { echo "FAIL $name (no such script: $script)"; failed+=("$name"); continue; }
    log="$logdir/${name%.sh}.log"
    start=$SECONDS
    if bash "$script" >"$log" 2>&1; then
        printf 'PASS %-9s (%ds)\n' "${name%.sh}" $((SECONDS - start))
    else
        printf 'FAIL %-9s (%ds) -- log: %s\n' "${name%.sh}" $((SECONDS - start)) "$log"
        # The individual failures first (unittest and lib.sh both start them with FAIL/ERROR),
        # then the end of the log with the server log excerpt.
        grep -E '^(FAIL|ERROR):|\] FAIL: ' "$log" | sed 's/^/    /' || true
        echo "    --- end of $log ---"
        tail -n 40 "$log" | sed 's/^/    /'
        failed+=("$name")
    fi
done

total=${#scripts[@]}
echo "conformance run took $((SECONDS - start_all))s"
echo "conformance: $((total - ${#failed[@]})) passed, ${#failed[@]} failed"
if ((${#failed[@]})); then
    echo "failed: ${failed[*]} (logs in $logdir)"
    exit 1
fi
rm -rf "$logdir"
