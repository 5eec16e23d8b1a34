#!/usr/bin/env bash
# Installs the clients the conformance scripts drive. Idempotent; quiet when all is present.
# Meant for a fresh Debian 12 machine, run as root.
set -euo pipefail

need_apt=()
command -v s3cmd >/dev/null 2>&1 || need_apt+=(s3cmd)
command -v rclone >/dev/null 2>&1 || need_apt+=(rclone)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v cmp >/dev/null 2>&1 || need_apt+=(diffutils)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if ((${#need_apt[@]})); then
    echo "install-deps: apt-get install ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp)
    if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "install-deps: apt-get failed" >&2
        exit 1
    fi
    rm -f "$log"
fi

pip_install() {
    echo "install-deps: pip install $*"
    # Debian's system python refuses plain pip installs (PEP 668); fall back to
    # --break-system-packages there, which is harmless on a throwaway test machine.
    python3 -m pip install -q --disable-pip-version-check "$@" 2>/dev/null \
        || python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}

python3 -c 'import boto3' >/dev/null 2>&1 || pip_install boto3
command -v aws >/dev/null 2>&1 || pip_install awscli

for tool in aws s3cmd rclone curl python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install-deps: $tool still missing" >&2; exit 1; }
done
python3 -c 'import boto3' || { echo "install-deps: boto3 still missing" >&2; exit 1; }
