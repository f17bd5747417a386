#!/usr/bin/env bash
# The release gate's own check (issue 11): an unchanged build must pass
# `compare --fail-if-worse` 10 times out of 10, and a server made 2 ms slower
# must fail it 10 times out of 10, on this machine.
#
# Each trial runs `suite --repeat N` twice against a test echo server on
# 127.0.0.1 (BASE, then NEW) and compares: NEW against the same server
# (unchanged), or against the same server answering 2 ms later (slower).
# The trials are loadgen/tests/gate.rs's ignored test; this runs it and
# prints the tally. About 20 s per trial pair (debug), less in release.
#
# Usage: scripts/gate-check.sh [--debug]
# Environment: GATE_TRIALS (10), GATE_REPEAT (5), GATE_PCT (100).
# The full log (every comparison) goes to target/gate-check.log.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=(--release)
if [[ "${1:-}" == "--debug" ]]; then
    profile=()
fi
log=target/gate-check.log
mkdir -p target
status=0
cargo test "${profile[@]}" -p wsbench-loadgen --test gate gate_check_ten_times_each_way \
    -- --ignored --nocapture >"$log" 2>&1 || status=$?
grep -E '^#### trial' "$log" || true
if ! grep -E '^gate-check: ' "$log"; then
    echo "gate-check: no tally; see $log" >&2
    tail -20 "$log" >&2
    exit 2
fi
exit "$status"
