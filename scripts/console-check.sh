#!/usr/bin/env bash
# The web console (console/): installs its pinned npm dependencies, rebuilds dist/ and fails if
# the result differs from the committed dist/ (the gateway embeds the committed files, so they
# must be what the sources build to), then runs the end-to-end test in headless Chromium against
# a real `granary serve` (target/debug/granary, built with `cargo build --locked` if missing).
#
#   scripts/console-check.sh            # everything
#   GRANARY_BIN=/path/to/granary scripts/console-check.sh
#
# Needs Node.js with npm and Debian's chromium (conformance/install-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."

GRANARY_BIN="${GRANARY_BIN:-$PWD/target/debug/granary}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export GRANARY_BIN CHROMIUM

command -v npm >/dev/null || { echo "console-check: npm is not installed" >&2; exit 1; }
[ -x "$CHROMIUM" ] || { echo "console-check: no Chromium at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }

echo "console-check: npm ci (console/)"
# playwright-core never downloads a browser; the variable makes sure of it.
(cd console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

echo "console-check: npm run build"
(cd console && npm run build --silent)
# Untracked files in dist/ (a new hashed asset) count as a difference too.
if ! git diff --exit-code --stat -- console/dist || [ -n "$(git ls-files --others --exclude-standard -- console/dist)" ]; then
    git status --short -- console/dist >&2
    echo "console-check: FAIL: console/dist differs from what the sources build to; run 'cd console && npm ci && npm run build' and commit console/dist" >&2
    exit 1
fi

if [ ! -x "$GRANARY_BIN" ]; then
    echo "console-check: building $GRANARY_BIN"
    cargo build --locked --bin granary
fi

echo "console-check: end-to-end test (headless Chromium against $GRANARY_BIN)"
(cd console && node e2e/console.e2e.mjs)
