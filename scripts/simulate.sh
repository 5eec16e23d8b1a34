#!/usr/bin/env bash
# The seeded simulation (tests/simulation.rs) over many seeds:
#   scripts/simulate.sh [SEEDS] [FIRST_SEED]
# SEEDS defaults to 2000; FIRST_SEED to a random one. Seeds run four at a time
# (GRANARY_SIM_THREADS to change). A failing seed prints itself; replay it with
#   GRANARY_SEED=<seed> cargo test --release --test simulation -- --nocapture
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="${1:-2000}"
first="${2:-$(( (RANDOM << 15) | RANDOM ))}"
echo "simulating $seeds seeds from seed $first"
GRANARY_SIM_SEEDS="$seeds" GRANARY_SIM_FIRST="$first" cargo test --release --locked --test simulation -- --nocapture
