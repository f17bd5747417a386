#!/usr/bin/env bash
# The loadgen's cost per message, stamp against template: runs rotated
# (BASE stamp, if given; stamp; template with --match json:/id), each 5 s,
# the loadgen pinned to core 0 with one worker thread and the release
# wsbench-server (echo, one thread) to core 1, 64 connections x 32 in
# flight. Prints per run and the medians: received msg/s and the loadgen's
# CPU time per message (worker busy x run time / messages sent).
#
# Usage: scripts/api-speed.sh [ROUNDS] [BASE_LOADGEN]
#   ROUNDS        rounds of the rotation (default 5)
#   BASE_LOADGEN  a loadgen binary of another revision, for its stamp runs
# Builds the release binaries of the working tree first. Loopback only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${1:-5}"
BASE="${2:-}"
cd "$ROOT"
cargo build --release -q -p wsbench-loadgen -p wsbench-server
OUT="$(mktemp -d)"
PORT=18099
taskset -c 1 target/release/wsbench-server --listen 127.0.0.1:$PORT --default-mode echo --threads 1 >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
sleep 0.5
URL=ws://127.0.0.1:$PORT/upgradews
COMMON=(-q -c 64 -p 32 -d 5s -w 1s --threads 1 --allow-loadgen-limit)
TEMPLATE='{"jsonrpc":"2.0","id":{{seq}},"method":"ping"}'
for round in $(seq 1 "$ROUNDS"); do
  if [ -n "$BASE" ]; then
    taskset -c 0 "$BASE" run $URL "${COMMON[@]}" --mode echo --json "$OUT/base-stamp-$round.json" >/dev/null 2>&1 || true
  fi
  taskset -c 0 target/release/wsbench-loadgen run $URL "${COMMON[@]}" --mode echo --json "$OUT/stamp-$round.json" >/dev/null 2>&1 || true
  taskset -c 0 target/release/wsbench-loadgen run $URL "${COMMON[@]}" --message "$TEMPLATE" --match json:/id \
    --json "$OUT/template-$round.json" >/dev/null 2>&1 || true
done
python3 - "$OUT" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
for kind in ["base-stamp", "stamp", "template"]:
    rows = []
    for f in sorted(glob.glob(f"{out}/{kind}-*.json")):
        d = json.load(open(f))
        c, busy = d["counters"], d["loadgen"]["worker_cpu_busy"][0]
        ns = busy * d["timing"]["elapsed_s"] * 1e9 / max(1, c["messages_sent_total"])
        rate = d["throughput"]["received_msgs_per_s"]
        rows.append((rate, ns))
        print(f"{kind:<10} {f.rsplit('/', 1)[1]:<18} {rate:>10.0f} msg/s {ns:6.0f} ns/msg  busy {busy:.2f}  {d['outcome']['status']}")
    if rows:
        print(f"{kind}: median {statistics.median(r[0] for r in rows):.0f} msg/s, {statistics.median(r[1] for r in rows):.0f} ns/msg")
PY
rm -rf "$OUT"
