#!/usr/bin/env bash
# A real browser against a real granary: Debian's headless Chromium, driven by playwright-core
# (browser/browser_test.mjs), runs a page served from another origin that
#   (a) PUTs with a presigned PUT URL and reads the ETag header the CORS rules expose,
#   (b) POSTs FormData with a File to a presigned POST for `uploads/${filename}` (201),
#  (b2) submits a plain HTML form to a presigned POST that redirects back to the page (303),
#   (c) reads the object back with a presigned GET URL,
#   (d) from a second origin the rules do not name, tries the same GET and PUT: the browser
#       refuses both (TypeError, "blocked by CORS policy").
# The URLs and forms are signed by boto3 (browser/presign.py), the CORS rules set and the
# results checked with aws-cli, all as a user made for the test.
# Needs chromium and conformance/browser/node_modules (conformance/install-deps.sh).
# BROWSER_TIMEOUT (seconds, default 90) bounds the browser run; CHROMIUM picks the binary.
source "$(dirname "$0")/lib.sh"

BROWSER_DIR="$CONFORMANCE_DIR/browser"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
BROWSER_TIMEOUT="${BROWSER_TIMEOUT:-90}"
[ -x "$CHROMIUM" ] || fail "no Chromium at $CHROMIUM (conformance/install-deps.sh installs Debian's chromium)"
[ -d "$BROWSER_DIR/node_modules/playwright-core" ] ||
    fail "playwright-core is not installed in $BROWSER_DIR/node_modules (run conformance/install-deps.sh)"
command -v node >/dev/null || fail "node is not installed"

start_granary

W="$(scratch_dir)"
awscli_setup "$W"

# The browser run is a process group of its own (timeout leads it); Chromium is a group of
# its own too (playwright-core starts it detached) and its pid lands in browser.pid. All are
# killed on any exit, before lib.sh stops the server and removes the scratch directory (and
# with it the browser profile, which lives in $W/tmp).
BROWSER_JOB=""
stop_browser() {
    if [ -n "$BROWSER_JOB" ]; then
        kill -TERM -- "-$BROWSER_JOB" 2>/dev/null || true
        local i
        for i in $(seq 1 30); do kill -0 "$BROWSER_JOB" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$BROWSER_JOB" 2>/dev/null || true
        wait "$BROWSER_JOB" 2>/dev/null || true
        BROWSER_JOB=""
    fi
    if [ -s "$W/browser.pid" ]; then
        local pid
        for pid in $(cat "$W/browser.pid"); do kill -KILL -- "-$pid" 2>/dev/null || true; done
        rm -f "$W/browser.pid"
    fi
}
# set +e: `(exit N)` hands lib.sh's cleanup the script's status, and must not end the trap.
trap '_browser_rc=$?; set +e; stop_browser; (exit $_browser_rc); _granary_cleanup' EXIT

log "a user for the web app"
run_ok "user create" granary_cli user create webapp --access-key WEBAPPCONFORMANCEAK --secret-key webapp-secret-0123456789
export AWS_ACCESS_KEY_ID=WEBAPPCONFORMANCEAK AWS_SECRET_ACCESS_KEY=webapp-secret-0123456789

# Two loopback ports for the page: the origin the rules name, and one they do not.
ALLOWED_PORT="$(free_port)"
OTHER_PORT="$(free_port)"
while [ "$OTHER_PORT" = "$ALLOWED_PORT" ]; do OTHER_PORT="$(free_port)"; done
ALLOWED_ORIGIN="http://127.0.0.1:$ALLOWED_PORT"
OTHER_ORIGIN="http://127.0.0.1:$OTHER_PORT"

B="conf-browser-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
log "bucket $B with CORS rules for $ALLOWED_ORIGIN"
run_ok "mb" awsc s3api create-bucket --bucket "$B"
cat >"$W/cors.json" <<JSON
{"CORSRules": [{
  "AllowedOrigins": ["$ALLOWED_ORIGIN"],
  "AllowedMethods": ["GET", "PUT", "POST"],
  "AllowedHeaders": ["*"],
  "ExposeHeaders": ["ETag"]
}]}
JSON
run_ok "put-bucket-cors" awsc s3api put-bucket-cors --bucket "$B" --cors-configuration "file://$W/cors.json"
run_ok "get-bucket-cors" awsc s3api get-bucket-cors --bucket "$B"
assert_eq "$(json 'd["CORSRules"][0]["AllowedOrigins"]' <<<"$OUT")" "['$ALLOWED_ORIGIN']" "get-bucket-cors AllowedOrigins"
assert_eq "$(json 'd["CORSRules"][0]["ExposeHeaders"]' <<<"$OUT")" "['ETag']" "get-bucket-cors ExposeHeaders"

log "presigned PUT, GET and POSTs (boto3)"
run_ok "presign" python3 "$BROWSER_DIR/presign.py" "$B" "$ALLOWED_ORIGIN"
printf '%s\n' "$OUT" >"$W/plan.json"
PUT_KEY="$(json 'd["put_key"]' <"$W/plan.json")"
GET_URL="$(json 'd["get_url"]' <"$W/plan.json")"

tag="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BROWSER_PUT_BODY="put by Chromium through a presigned URL ($tag)"
export BROWSER_FILE_NAME="notes $tag.txt"
export BROWSER_FILE_BODY="posted by Chromium as FormData ($tag)"
export BROWSER_FORM_FILE_NAME="été $tag.txt"
export BROWSER_FORM_FILE_BODY="submitted by Chromium in an HTML form ($tag)"
export BROWSER_PID_FILE="$W/browser.pid" CHROMIUM
mkdir -p "$W/tmp"

log "Chromium: page on $ALLOWED_ORIGIN (named by the rules) and $OTHER_ORIGIN (not named)"
browser_rc=0
TMPDIR="$W/tmp" timeout -k 5 "$BROWSER_TIMEOUT" \
    node "$BROWSER_DIR/browser_test.mjs" "$W/plan.json" "$ALLOWED_PORT" "$OTHER_PORT" &
BROWSER_JOB=$!
wait "$BROWSER_JOB" || browser_rc=$?
BROWSER_JOB=""
case "$browser_rc" in
    0) ;;
    124 | 137) fail "the browser run did not end within ${BROWSER_TIMEOUT}s (BROWSER_TIMEOUT), or was killed (exit $browser_rc)" ;;
    *) fail "the browser checks failed (exit $browser_rc; the FAIL line above names the step)" ;;
esac
for pid in $(cat "$W/browser.pid" 2>/dev/null); do
    ! kill -0 "$pid" 2>/dev/null || fail "Chromium (pid $pid) still runs after the browser test ended"
done

log "the gateway's side of (d): the presigned GET answers, but names only the allowed origin"
hdr() { grep -i "^$1:" "$W/headers" | head -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
code="$(curl -sS -o "$W/get.out" -D "$W/headers" -w '%{http_code}' -H "Origin: $OTHER_ORIGIN" "$GET_URL")"
assert_eq "$code" "200" "presigned GET with Origin $OTHER_ORIGIN (curl)"
assert_eq "$(hdr access-control-allow-origin)" "" "Access-Control-Allow-Origin for an origin the rules do not name"
code="$(curl -sS -o "$W/get.out" -D "$W/headers" -w '%{http_code}' -H "Origin: $ALLOWED_ORIGIN" "$GET_URL")"
assert_eq "$code" "200" "presigned GET with Origin $ALLOWED_ORIGIN (curl)"
assert_eq "$(hdr access-control-allow-origin)" "$ALLOWED_ORIGIN" "Access-Control-Allow-Origin for the allowed origin"
assert_contains "$(hdr access-control-expose-headers)" "ETag" "Access-Control-Expose-Headers for the allowed origin"

log "what the browser stored, read back with aws-cli"
# check_object KEY BODY: the object KEY holds exactly BODY.
check_object() {
    printf '%s' "$2" >"$W/want"
    rm -f "$W/got"
    run_ok "get-object $1" awsc s3api get-object --bucket "$B" --key "$1" "$W/got"
    cmp -s "$W/want" "$W/got" || fail "object '$1' holds '$(cat "$W/got")', expected '$2'"
}
check_object "$PUT_KEY" "$BROWSER_PUT_BODY"
check_object "uploads/$BROWSER_FILE_NAME" "$BROWSER_FILE_BODY"
check_object "uploads/form/$BROWSER_FORM_FILE_NAME" "$BROWSER_FORM_FILE_BODY"
run_ok "list uploads/" awsc s3api list-objects-v2 --bucket "$B" --prefix uploads/
assert_eq "$(json 'sorted(o["Key"] for o in d.get("Contents", []))' <<<"$OUT")" \
    "$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "uploads/$BROWSER_FILE_NAME" "uploads/form/$BROWSER_FORM_FILE_NAME")" \
    "keys under uploads/ (\${filename} replaced by the browser's file names)"

finish_granary
