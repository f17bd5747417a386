#!/usr/bin/env bash
# Soak: many connections from the loadgen in a process of its own, trickling
# messages at the wsbench server for a while, with the server's RSS sampled.
# Not run in CI (minutes, and every descriptor of two processes). Loopback only.
#
# Usage: scripts/soak.sh [CONNECTIONS] [SECONDS] [RATE]
#   CONNECTIONS  default 19000 (each process has its own 20,000 descriptors)
#   SECONDS      measured time, default 60
#   RATE         messages/s in total, default CONNECTIONS/10 (one per
#                connection every 10 s: a trickle, far under the idle timeout)
# Prints the server's RSS every 5 s, then the loadgen's verdict; exits with
# the loadgen's status (0: every message answered, none lost) and fails if the
# server's RSS at the end is over 1.5x its RSS once every connection was open.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONNS="${1:-19000}"
SECS="${2:-60}"
RATE="${3:-$((CONNS / 10))}"
PORT="${SOAK_PORT:-18777}"
case "$CONNS$SECS$RATE" in *[!0-9]*) echo "soak.sh: CONNECTIONS, SECONDS and RATE are whole numbers (see the header)" >&2; exit 2 ;; esac
ulimit -n "$(ulimit -Hn)"

cargo build --release -q -p wsbench-server -p wsbench-loadgen
OUT="$ROOT/target/soak"
mkdir -p "$OUT"
./target/release/wsbench-server --listen "127.0.0.1:$PORT" --default-mode echo >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
echo "server pid $SERVER, RSS $(rss $SERVER) kB before any connection"

./target/release/wsbench-loadgen run "ws://127.0.0.1:$PORT/upgradews" --mode echo \
  -c "$CONNS" --connect-rate 5000 --rate "$RATE" -w 5 -d "$SECS" -q \
  --json "$OUT/soak.json" --hlog "$OUT/soak.hlog" >"$OUT/loadgen.out" 2>&1 &
LOADGEN=$!
echo "t_s server_rss_kB open_connections" | tee "$OUT/rss.txt"
start=$(date +%s)
while kill -0 $LOADGEN 2>/dev/null; do
  open=$(curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^wsbench_connections_open/ {print $2}')
  echo "$(( $(date +%s) - start )) $(rss $SERVER) ${open:-?}" | tee -a "$OUT/rss.txt"
  sleep 5
done
set +e
wait $LOADGEN
status=$?
set -e
grep -E "^RTT corrected|^connections:|^errors|failed \(|^result" "$OUT/loadgen.out"
# RSS once all were open (the peak of open connections) against the last sample.
python3 - "$OUT/rss.txt" "$CONNS" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]).read().splitlines()[1:]]
rows = [(int(t), int(r), int(o)) for t, r, o in rows if o.isdigit()]
full = [r for r in rows if r[2] >= int(sys.argv[2])]
if not full:
    sys.exit("soak.sh: the connections never were all open at once")
first, last = full[0][1], full[-1][1]
print(f"server RSS with every connection open: {first} kB first, {last} kB last "
      f"({(last - first) / 1024:+.1f} MiB), {first * 1024 / int(sys.argv[2]):.0f} B per connection")
if last > 1.5 * first:
    sys.exit("soak.sh: the server's RSS grew by more than half while the load held steady")
PY
exit $status
