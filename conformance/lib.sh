# Sourced by the conformance scripts: starts and stops a real `granary serve`.
#
#   source "$(dirname "$0")/lib.sh"
#   start_granary            # exports GRANARY_ENDPOINT, GRANARY_PORT, GRANARY_DATA_DIR,
#                            # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION
#   ...
#   fail "what went wrong"   # prints the message and the server log tail, exits 1
#
# The EXIT trap stops the server and removes the temporary directory. The binary is
# $GRANARY_BIN, by default target/debug/granary of the clone this script lives in.
# Debugging: GRANARY_LOG=debug (the server's own log filter) puts every request in the
# server log; GRANARY_KEEP_ON_FAIL=1 keeps the temp dir (data + server.log) of a failed run.

set -euo pipefail

CONFORMANCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GRANARY_BIN="${GRANARY_BIN:-$(dirname "$0")/../target/debug/granary}"
case "$GRANARY_BIN" in
    /*) ;;
    *) GRANARY_BIN="$(cd "$(dirname "$GRANARY_BIN")" 2>/dev/null && pwd)/$(basename "$GRANARY_BIN")" ;;
esac
export GRANARY_BIN

GRANARY_ROOT_AK="${GRANARY_ROOT_AK:-GRANARYCONFORMANCEAK}"
GRANARY_ROOT_SK="${GRANARY_ROOT_SK:-conformance-secret-key-0123456789abcdefghij}"
GRANARY_START_TIMEOUT="${GRANARY_START_TIMEOUT:-30}"

# On FoundationDB (GRANARY_METADATA=fdb and GRANARY_FDB_CLUSTER_FILE, read by `granary serve`
# itself; scripts/fdb-check.sh sets them), each script's gateway gets a root prefix of its
# own, so scripts that create the same bucket names never meet; the gateway restarts a
# script makes keep it.
if [ "${GRANARY_METADATA:-}" = fdb ] && [ -z "${GRANARY_FDB_ROOT_PREFIX:-}" ]; then
    GRANARY_FDB_ROOT_PREFIX="granary-conformance-$(basename "$0" .sh)-$(date +%s%N)"
    export GRANARY_FDB_ROOT_PREFIX
fi

# This environment may point every AWS SDK at a CA bundle; the gateway is plain HTTP
# and some clients choke on the variable, so drop it for everything we run.
unset AWS_CA_BUNDLE || true
# Keep clients from reading the user's own configuration and credentials.
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL || true

GRANARY_PID=""
GRANARY_EXIT_STATUS=0
GRANARY_WORK=""     # temp dir: data/, server.log, plus scratch space for the script
GRANARY_LOG_FILE=""  # the server's stdout+stderr
SCRIPT_NAME="$(basename "$0")"

log() { printf '[%s +%ss] %s\n' "$SCRIPT_NAME" "$SECONDS" "$*" >&2; }

# fail MSG: report a mismatch loudly and exit non-zero (the EXIT trap cleans up).
fail() {
    printf '\n[%s] FAIL: %s\n' "$SCRIPT_NAME" "$*" >&2
    if [ -n "$GRANARY_LOG_FILE" ] && [ -s "$GRANARY_LOG_FILE" ]; then
        printf '[%s] --- last 30 lines of the server log (%s) ---\n' "$SCRIPT_NAME" "$GRANARY_LOG_FILE" >&2
        tail -n 30 "$GRANARY_LOG_FILE" | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
        printf '[%s] --- end of server log ---\n' "$SCRIPT_NAME" >&2
    fi
    GRANARY_FAILED=1
    exit 1
}

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# A scratch directory inside the temp dir, removed on exit.
scratch_dir() {
    local d
    d="$(mktemp -d "$GRANARY_WORK/scratch.XXXXXX")"
    printf '%s\n' "$d"
}

_granary_cleanup() {
    local rc=$?
    stop_granary
    if [ -n "$GRANARY_WORK" ] && [ -d "$GRANARY_WORK" ]; then
        if [ "$rc" -ne 0 ] && [ -n "${GRANARY_KEEP_ON_FAIL:-}" ]; then
            log "keeping $GRANARY_WORK for inspection"
        else
            rm -rf "$GRANARY_WORK"
        fi
    fi
    if [ "$rc" -ne 0 ] && [ -z "${GRANARY_FAILED:-}" ]; then
        printf '[%s] FAIL: a command failed (exit %s) outside an explicit check\n' "$SCRIPT_NAME" "$rc" >&2
    fi
    return "$rc"
}

# start_granary: start a server on a free port with a fresh data dir; wait until ready.
start_granary() {
    [ -x "$GRANARY_BIN" ] || {
        # The binary may be relinked under us; give it a moment to reappear.
        local i
        for i in $(seq 1 30); do [ -x "$GRANARY_BIN" ] && break; sleep 1; done
        [ -x "$GRANARY_BIN" ] || fail "granary binary not found at $GRANARY_BIN (build it or set GRANARY_BIN)"
    }
    if [ -z "$GRANARY_WORK" ]; then
        GRANARY_WORK="$(mktemp -d "${TMPDIR:-/tmp}/granary-conf.XXXXXX")"
        trap _granary_cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi
    export GRANARY_WORK
    export GRANARY_DATA_DIR="$GRANARY_WORK/data"
    GRANARY_LOG_FILE="$GRANARY_WORK/server.log"
    export GRANARY_LOG_FILE
    mkdir -p "$GRANARY_DATA_DIR"

    local attempt port
    for attempt in 1 2 3; do
        port="$(free_port)"
        : >"$GRANARY_LOG_FILE"
        GRANARY_ROOT_ACCESS_KEY="$GRANARY_ROOT_AK" GRANARY_ROOT_SECRET_KEY="$GRANARY_ROOT_SK" \
            "$GRANARY_BIN" serve --listen "127.0.0.1:$port" --data-dir "$GRANARY_DATA_DIR" "$@" \
            >"$GRANARY_LOG_FILE" 2>&1 &
        GRANARY_PID=$!
        local waited=0
        while :; do
            if grep -Eq "granary listening on https?://" "$GRANARY_LOG_FILE" 2>/dev/null; then
                break
            fi
            if ! kill -0 "$GRANARY_PID" 2>/dev/null; then
                wait "$GRANARY_PID" 2>/dev/null || true
                GRANARY_PID=""
                break
            fi
            if [ "$waited" -ge $((GRANARY_START_TIMEOUT * 10)) ]; then
                fail "granary did not print its listening line within ${GRANARY_START_TIMEOUT}s"
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        [ -n "$GRANARY_PID" ] && break
        # Died before listening: maybe the port was taken in between; try another.
        if grep -qi "address already in use" "$GRANARY_LOG_FILE"; then
            continue
        fi
        fail "granary exited before listening"
    done
    [ -n "$GRANARY_PID" ] || fail "granary could not start (port races?)"

    export GRANARY_PORT="$port"
    export GRANARY_HOSTPORT="127.0.0.1:$port"
    export GRANARY_ENDPOINT="http://127.0.0.1:$port"
    export AWS_ACCESS_KEY_ID="$GRANARY_ROOT_AK"
    export AWS_SECRET_ACCESS_KEY="$GRANARY_ROOT_SK"
    export AWS_DEFAULT_REGION=us-east-1
    export AWS_REGION=us-east-1
    log "granary pid $GRANARY_PID at $GRANARY_ENDPOINT (data in $GRANARY_DATA_DIR)"
}

# stop_granary: SIGTERM the server and wait for it to exit (SIGKILL after 15 s).
stop_granary() {
    [ -n "$GRANARY_PID" ] || return 0
    if kill -0 "$GRANARY_PID" 2>/dev/null; then
        kill -TERM "$GRANARY_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 150); do
            kill -0 "$GRANARY_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$GRANARY_PID" 2>/dev/null; then
            log "granary did not stop within 15s of SIGTERM; killing it"
            kill -KILL "$GRANARY_PID" 2>/dev/null || true
        fi
    fi
    GRANARY_EXIT_STATUS=0
    wait "$GRANARY_PID" 2>/dev/null || GRANARY_EXIT_STATUS=$?
    GRANARY_PID=""
}

# finish_granary: end of a passing script. Stops the server with SIGTERM and checks that
# it shut down cleanly (exit status 0, no panic in its log), then prints PASS.
finish_granary() {
    local pid="$GRANARY_PID"
    [ -n "$pid" ] || fail "finish_granary: no server running"
    kill -0 "$pid" 2>/dev/null || fail "granary (pid $pid) died during the run"
    stop_granary
    [ "$GRANARY_EXIT_STATUS" -eq 0 ] || fail "granary exited with status $GRANARY_EXIT_STATUS after SIGTERM"
    if grep -q "panicked" "$GRANARY_LOG_FILE"; then
        fail "the server log shows a panic: $(grep -m1 -A3 panicked "$GRANARY_LOG_FILE")"
    fi
    log "PASS"
}

# granary_cli ARGS...: run an admin subcommand against the running server's data dir.
granary_cli() {
    "$GRANARY_BIN" "$@" --data-dir "$GRANARY_DATA_DIR"
}

# make_tree DIR: a small nested tree of files with varied sizes and names.
make_tree() {
    local root="$1"
    mkdir -p "$root/a/b/c" "$root/d" "$root/e f"
    printf 'hello\n' >"$root/top.txt"
    head -c 1000 /dev/urandom >"$root/a/one.bin"
    head -c 70000 /dev/urandom >"$root/a/b/two.bin"
    printf 'deep\n' >"$root/a/b/c/three.txt"
    : >"$root/d/empty"
    head -c 12345 /dev/urandom >"$root/e f/with space.dat"
}

# assert_eq ACTUAL EXPECTED WHAT
assert_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# assert_contains HAYSTACK NEEDLE WHAT
assert_contains() {
    case "$1" in
        *"$2"*) ;;
        *) fail "$3: expected output to contain '$2'; got: $1" ;;
    esac
}

# --- client plumbing shared by the scripts -------------------------------------------------
# The helpers below take the script's scratch directory (W="$(scratch_dir)"), where the
# clients' config files live and run_ok keeps the last command's stderr ($W/err).

# run_ok WHAT CMD...: run CMD with its stdout in $OUT and its stderr in $W/err; fail with
# both (the last 40 lines of stderr) if it exits non-zero.
run_ok() {
    local what="$1"
    shift
    if ! OUT="$("$@" 2>"$W/err")"; then
        fail "$what: command failed: $* -- output: $OUT -- stderr: $(tail -n 40 "$W/err")"
    fi
}

# expect_fail NEEDLE WHAT CMD...: CMD must exit non-zero with NEEDLE in its output.
expect_fail() {
    local needle="$1" what="$2"
    shift 2
    local out rc=0
    out="$("$@" 2>&1)" || rc=$?
    [ "$rc" -ne 0 ] || fail "$what: expected a failure mentioning '$needle', but it succeeded: $out"
    assert_contains "$out" "$needle" "$what"
}

# json EXPR: evaluates the Python expression EXPR over the JSON document on stdin (as d).
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

# awscli_setup DIR: point aws-cli at a config of its own in DIR (path-style, SigV4), so the
# user's ~/.aws stays out; then `awsc ARGS...` runs `aws` against the server.
awscli_setup() {
    cat >"$1/aws-config" <<'CFG'
[default]
region = us-east-1
s3 =
    addressing_style = path
    signature_version = s3v4
CFG
    export AWS_CONFIG_FILE="$1/aws-config"
}
awsc() { aws --endpoint-url "$GRANARY_ENDPOINT" "$@"; }

# rclone_setup DIR: an empty rclone config in DIR and a remote G: (path-style S3 at the
# server, root credentials) defined through the environment; then `rclone_g ARGS...` runs
# rclone with few retries.
rclone_setup() {
    : >"$1/rclone.conf"
    export RCLONE_CONFIG="$1/rclone.conf"
    export RCLONE_CONFIG_G_TYPE=s3
    export RCLONE_CONFIG_G_PROVIDER=Other
    export RCLONE_CONFIG_G_ENDPOINT="$GRANARY_ENDPOINT"
    export RCLONE_CONFIG_G_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
    export RCLONE_CONFIG_G_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
    export RCLONE_CONFIG_G_FORCE_PATH_STYLE=true
    export RCLONE_CONFIG_G_REGION=us-east-1
}
rclone_g() { env -u AWS_CA_BUNDLE rclone --retries 1 --low-level-retries 2 "$@"; }

# s3cmd_setup DIR: an empty s3cmd config in DIR, so nothing from ~/.s3cfg leaks in; then
# `s3 ARGS...` runs s3cmd with everything else on its command line.
s3cmd_setup() {
    S3CMD_CONFIG="$1/s3cfg"
    : >"$S3CMD_CONFIG"
}
s3() {
    s3cmd -c "$S3CMD_CONFIG" --host="$GRANARY_HOSTPORT" --host-bucket="$GRANARY_HOSTPORT" --no-ssl \
        --access_key="$AWS_ACCESS_KEY_ID" --secret_key="$AWS_SECRET_ACCESS_KEY" \
        --region=us-east-1 --no-progress --no-mime-magic "$@"
}
