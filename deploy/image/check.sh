#!/usr/bin/env bash
# Builds deploy/Dockerfile (the embedded-store default) and runs the image the way an operator
# would, checking what the Dockerfile promises. NOT part of CI and not run by deploy/check.sh:
# it needs Docker or Podman, crates.io and a Debian mirror, and the release build alone takes
# 7-10 minutes on 2 cores.
#
#   deploy/image/check.sh                  # ENGINE=podman (the default) or ENGINE=docker
#   SKIP_BUILD=1 deploy/image/check.sh     # check an image already built as $IMAGE
#
# What it checks, in order:
#   1. the build (podman: --format docker, as OCI images have no HEALTHCHECK);
#   2. the container starts with a named volume at /var/lib/granary, prints the admin's keys
#      once, and answers /_granary/health on the published port;
#   3. the gateway runs as uid/gid 10001 (PID 1's real and effective ids), the data directory
#      is 0700 and owned by 10001:10001;
#   4. the image's HEALTHCHECK: the engine's own check (podman healthcheck run; Docker's
#      health status), and its command run by hand in the container, which must also fail
#      when pointed at a port where nothing listens;
#   5. an S3 round trip with aws-cli and the printed keys: a bucket, a small object and a
#      20 MiB one (multipart), read back byte for byte;
#   6. `granary user create` through the admin socket (exec in the running container) gives
#      keys that work;
#   7. SIGTERM: `stop` ends it with exit code 0 well before the engine's kill timeout;
#   8. persistence: after a restart of the container, and in a new container on the same
#      volume (which must not create a second admin), both objects read back.
# Then it removes its containers and volume; the image stays (KEEP_IMAGE=0 removes it too).
#
# Environment: ENGINE (podman|docker), IMAGE (default granary:check), PORT (host port, default
# 19000), BUILD_ARGS (extra build arguments), SKIP_BUILD=1, KEEP_IMAGE=0.
# Needs aws-cli, curl and cmp on the host. Run from anywhere inside the repository.
set -euo pipefail

ENGINE="${ENGINE:-podman}"
IMAGE="${IMAGE:-granary:check}"
PORT="${PORT:-19000}"
NAME="granary-check-$$"
VOLUME="granary-check-data-$$"
ENDPOINT="http://127.0.0.1:$PORT"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
tmp="$(mktemp -d /tmp/granary-image-check.XXXXXX)"
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; "$ENGINE" logs "$NAME" 2>&1 | tail -30 >&2 || true; exit 1; }

cleanup() {
  "$ENGINE" rm -f "$NAME" >/dev/null 2>&1 || true
  "$ENGINE" volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  if [ "${KEEP_IMAGE:-1}" = 0 ]; then "$ENGINE" rmi -f "$IMAGE" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

case "$ENGINE" in
  podman) format=(--format docker) ;;
  docker) format=() ;;
  *) echo "ENGINE must be podman or docker" >&2; exit 2 ;;
esac

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step "build $IMAGE"
  start=$SECONDS
  # shellcheck disable=SC2086 # BUILD_ARGS is a list of words
  (cd "$repo" && "$ENGINE" build "${format[@]}" ${BUILD_ARGS:-} -f deploy/Dockerfile -t "$IMAGE" .)
  echo "built in $((SECONDS - start)) s"
fi
size="$("$ENGINE" image inspect -f '{{.Size}}' "$IMAGE")"
echo "image $IMAGE: $((size / 1000000)) MB"

run() {
  "$ENGINE" run -d --name "$NAME" -p "127.0.0.1:$PORT:9000" -v "$VOLUME:/var/lib/granary" "$IMAGE" >/dev/null
}
wait_healthy() {
  for _ in $(seq 60); do
    if curl -fsS -o /dev/null "$ENDPOINT/_granary/health" 2>/dev/null; then return 0; fi
    [ "$("$ENGINE" inspect -f '{{.State.Running}}' "$NAME")" = true ] || fail "the container exited"
    sleep 1
  done
  fail "no answer on $ENDPOINT/_granary/health within 60 s"
}
s3() { aws --endpoint-url "$ENDPOINT" s3 "$@"; }

step "run with volume $VOLUME on port $PORT"
"$ENGINE" volume create "$VOLUME" >/dev/null
run
wait_healthy
logs="$("$ENGINE" logs "$NAME" 2>&1)"
AWS_ACCESS_KEY_ID="$(sed -n 's/^ *access key: //p' <<<"$logs" | head -1)"
AWS_SECRET_ACCESS_KEY="$(sed -n 's/^ *secret key: //p' <<<"$logs" | head -1)"
if [ -z "$AWS_ACCESS_KEY_ID" ] || [ -z "$AWS_SECRET_ACCESS_KEY" ]; then fail "no admin keys in the first start's log"; fi
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=us-east-1
echo "admin access key $AWS_ACCESS_KEY_ID"

step "user and data directory"
ids="$("$ENGINE" exec "$NAME" sh -c 'grep -E "^(Uid|Gid):" /proc/1/status')"
echo "$ids"
[ "$(awk '{print $2 $3 $4 $5}' <<<"$ids" | sort -u)" = 10001100011000110001 ] || fail "PID 1 is not uid/gid 10001"
dir="$("$ENGINE" exec "$NAME" stat -c '%u:%g %a' /var/lib/granary)"
echo "/var/lib/granary: $dir"
[ "$dir" = "10001:10001 700" ] || fail "/var/lib/granary is $dir, expected 10001:10001 700"

step "health check"
if [ "$ENGINE" = podman ]; then
  "$ENGINE" healthcheck run "$NAME" || fail "podman healthcheck run"
else
  for _ in $(seq 40); do
    status="$("$ENGINE" inspect -f '{{.State.Health.Status}}' "$NAME")"
    [ "$status" = healthy ] && break
    sleep 1
  done
  [ "$status" = healthy ] || fail "Docker's health status is $status"
fi
test_cmd="$("$ENGINE" image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE")"
echo "HEALTHCHECK $test_cmd"
hc="$(python3 -c 'import json,sys; t=json.loads(sys.argv[1]); assert t[:3]==["CMD","sh","-c"], t; print(t[3])' "$test_cmd")"
"$ENGINE" exec "$NAME" sh -c "$hc" || fail "the HEALTHCHECK command failed by hand"
# The same command must fail where nothing answers (here a health listener on port 1).
if "$ENGINE" exec -e GRANARY_HEALTH_LISTEN=127.0.0.1:1 "$NAME" sh -c "$hc" 2>/dev/null; then
  fail "the HEALTHCHECK command passes with nothing listening"
fi
echo "healthy (and the command fails with nothing listening)"

step "S3 round trip (aws-cli)"
head -c 1000 /dev/urandom >"$tmp/small"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$tmp/big"
s3 mb s3://image-check
s3 cp --only-show-errors "$tmp/small" s3://image-check/small
s3 cp --only-show-errors "$tmp/big" s3://image-check/dir/big
readback() {
  s3 cp --only-show-errors s3://image-check/small "$tmp/small.out"
  s3 cp --only-show-errors s3://image-check/dir/big "$tmp/big.out"
  cmp "$tmp/small" "$tmp/small.out" || fail "the small object read back differs"
  cmp "$tmp/big" "$tmp/big.out" || fail "the 20 MiB object read back differs"
  s3 ls --recursive s3://image-check
}
readback

step "granary user create (admin socket, exec in the container)"
bob="$("$ENGINE" exec "$NAME" granary user create bob)"
bob_ak="$(sed -n 's/^access key: //p' <<<"$bob")"
bob_sk="$(sed -n 's/^secret key: //p' <<<"$bob")"
[ -n "$bob_ak" ] || fail "granary user create printed no keys: $bob"
AWS_ACCESS_KEY_ID="$bob_ak" AWS_SECRET_ACCESS_KEY="$bob_sk" s3 ls || fail "bob's keys do not work"
echo "bob's keys list his (no) buckets"

step "SIGTERM"
start=$SECONDS
"$ENGINE" stop -t 40 "$NAME" >/dev/null
code="$("$ENGINE" inspect -f '{{.State.ExitCode}}' "$NAME")"
echo "stopped in $((SECONDS - start)) s, exit code $code"
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
[ $((SECONDS - start)) -lt 30 ] || fail "SIGTERM took $((SECONDS - start)) s"

step "persistence: the same container started again"
"$ENGINE" start "$NAME" >/dev/null
wait_healthy
readback

step "persistence: a new container on the same volume"
"$ENGINE" rm -f "$NAME" >/dev/null
run
wait_healthy
if "$ENGINE" logs "$NAME" 2>&1 | grep -q 'Created admin user'; then fail "a second admin was created"; fi
readback

step "all checks passed ($ENGINE, $IMAGE, $((size / 1000000)) MB)"
