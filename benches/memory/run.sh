#!/usr/bin/env bash
# Peak server memory under load: starts a fresh granary on a temp data dir, records its idle
# RSS, then runs load.py (16 concurrent 64 MiB uploads, then 16 concurrent downloads, server
# VmRSS sampled every 50 ms), stops the server with SIGTERM and removes everything it made.
#
#   benches/memory/run.sh [--out FILE] [load.py options, e.g. --size-mib 16 --concurrency 8]
#
# Binary: $GRANARY_BIN if set, else target/release/granary if built, else target/debug/granary.
# JSON results go to --out (default /tmp/granary-memory.json). See README.md here.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

if [ -n "${GRANARY_BIN:-}" ]; then
    BIN="$GRANARY_BIN"
    WHICH="GRANARY_BIN"
elif [ -x "$ROOT/target/release/granary" ]; then
    BIN="$ROOT/target/release/granary"
    WHICH="release"
else
    BIN="$ROOT/target/debug/granary"
    WHICH="debug"
fi
[ -x "$BIN" ] || { echo "run.sh: no granary binary at $BIN (build it or set GRANARY_BIN)" >&2; exit 1; }
echo "run.sh: using $WHICH binary $BIN" >&2

# The gateway is plain HTTP; keep clients away from the environment's CA bundle and from
# the user's own AWS configuration.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL || true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
# Do not let GRANARY_* settings from the environment change the server under test.
unset GRANARY_CONFIG GRANARY_DATA_DIR GRANARY_LISTEN GRANARY_DOMAIN || true

AK="GRANARYMEMBENCHAK"
SK="memory-bench-secret-key-0123456789abcdef"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/granary-memory.XXXXXX")"
LOG="$WORK/server.log"
PID=""

stop_server() {
    [ -n "$PID" ] || return 0
    local rc=0 i
    if kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null || true
        for i in $(seq 1 300); do
            kill -0 "$PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$PID" 2>/dev/null; then
            echo "run.sh: granary did not exit within 30 s of SIGTERM; killing it" >&2
            kill -KILL "$PID" 2>/dev/null || true
        fi
    fi
    wait "$PID" 2>/dev/null || rc=$?
    PID=""
    return "$rc"
}

cleanup() {
    local rc=$?
    stop_server || true
    if [ "$rc" -ne 0 ] && [ -s "$LOG" ]; then
        echo "run.sh: --- last 20 lines of the server log ---" >&2
        tail -n 20 "$LOG" | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
    fi
    rm -rf "$WORK"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$WORK/data" "$WORK/objects"
for attempt in 1 2 3; do
    PORT="$(free_port)"
    : >"$LOG"
    GRANARY_ROOT_ACCESS_KEY="$AK" GRANARY_ROOT_SECRET_KEY="$SK" \
        "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$LOG" 2>&1 &
    PID=$!
    for i in $(seq 1 300); do
        grep -q "granary listening on http://" "$LOG" && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q "granary listening on http://" "$LOG"; then
        break
    fi
    if kill -0 "$PID" 2>/dev/null; then
        echo "run.sh: granary did not print its listening line within 30 s" >&2
        exit 1
    fi
    wait "$PID" 2>/dev/null || true
    PID=""
    grep -qi "address already in use" "$LOG" || { echo "run.sh: granary exited before listening" >&2; exit 1; }
done
[ -n "$PID" ] || { echo "run.sh: could not start granary" >&2; exit 1; }
echo "run.sh: granary pid $PID on 127.0.0.1:$PORT, data in $WORK/data" >&2

START=$SECONDS
python3 "$HERE/load.py" --pid "$PID" --endpoint "http://127.0.0.1:$PORT" \
    --access-key "$AK" --secret-key "$SK" --work-dir "$WORK/objects" \
    --binary "$WHICH: $BIN" "$@"

kill -0 "$PID" 2>/dev/null || { echo "run.sh: granary died during the run" >&2; exit 1; }
rc=0
stop_server || rc=$?
[ "$rc" -eq 0 ] || { echo "run.sh: granary exited with status $rc after SIGTERM" >&2; exit 1; }
if grep -q "panicked" "$LOG"; then
    echo "run.sh: the server log shows a panic" >&2
    exit 1
fi
echo "run.sh: done in $((SECONDS - START)) s (load), granary stopped cleanly" >&2
