#!/usr/bin/env bash
# Criterion benchmarks of two revisions, run alternately (A B A B ...), with
# the median of each side per benchmark and the ratio B/A: the way to show a
# change on a machine whose figures move 30 % between runs.
#
# Usage: scripts/bench-ab.sh REV_A REV_B [ROUNDS] [BENCH] [FILTER]
#   REV_A, REV_B  git revisions (a branch, a tag, a commit, or WORKTREE for
#                 the working tree as it is)
#   ROUNDS        rounds of A then B (default 3)
#   BENCH         the bench target of wsbench-benches (default frame_path)
#   FILTER        criterion's filter regex (default: the frame path groups)
# Each side is built once in target/ab/<rev> (a git worktree with its own
# target dir), then its bench binary runs with short measurement times.
# Output: one line per benchmark: median A, median B, B/A, and every round.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
A="${1:?usage: scripts/bench-ab.sh REV_A REV_B [ROUNDS] [BENCH] [FILTER]}"
B="${2:?usage: scripts/bench-ab.sh REV_A REV_B [ROUNDS] [BENCH] [FILTER]}"
ROUNDS="${3:-3}"
BENCH="${4:-frame_path}"
FILTER="${5:-^(echo|full_path|pipelined_batch|parse_unmask)/}"
WORK="$ROOT/target/ab"
mkdir -p "$WORK"

# Builds REV's bench binary and prints its path.
build() {
  local rev="$1" dir
  if [ "$rev" = WORKTREE ]; then
    dir="$ROOT"
  else
    dir="$WORK/src-$(git -C "$ROOT" rev-parse --short "$rev")"
    if [ ! -d "$dir" ]; then
      git -C "$ROOT" worktree add -q --detach "$dir" "$rev"
    fi
  fi
  (cd "$dir" && cargo bench -p wsbench-benches --bench "$BENCH" --no-run --message-format=json 2>/dev/null) |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$BENCH" | tail -n 1
}

echo "building $A and $B (bench $BENCH)..." >&2
BIN_A="$(build "$A")"
BIN_B="$(build "$B")"
[ -x "$BIN_A" ] && [ -x "$BIN_B" ] || { echo "bench-ab: a build failed" >&2; exit 1; }

OUT="$WORK/runs-$(date +%s)"
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin="BIN_$side"
    echo "round $round, $side" >&2
    (cd "$OUT" && "${!bin}" --bench --warm-up-time 1 --measurement-time 2 --noplot "$FILTER") \
      >"$OUT/$side-$round.txt" 2>/dev/null
  done
done

python3 - "$OUT" "$ROUNDS" "$A" "$B" <<'PY'
import re, sys, statistics, pathlib
out, rounds, a, b = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
unit = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
def parse(path):
    res, name = {}, None
    for line in path.read_text().splitlines():
        m = re.match(r"^(\S+/\S+)\s*(time:.*)?$", line)
        if m and not line.startswith(" "):
            name = m.group(1)
        t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if t and name:
            res[name] = float(t.group(1)) * unit[t.group(2)]
    return res
runs = {s: [parse(out / f"{s}-{r}.txt") for r in range(1, rounds + 1)] for s in "AB"}
names = sorted(set().union(*runs["A"]) & set().union(*runs["B"]))
print(f"A = {a}, B = {b}; {rounds} rounds, alternating; time per iteration, ns; B/A < 1 is faster")
print(f"{'benchmark':44} {'A median':>10} {'B median':>10} {'B/A':>6}   rounds A | B")
for n in names:
    va = [r[n] for r in runs["A"] if n in r]
    vb = [r[n] for r in runs["B"] if n in r]
    ma, mb = statistics.median(va), statistics.median(vb)
    fmt = lambda v: " ".join(f"{x:.0f}" for x in v)
    print(f"{n:44} {ma:10.1f} {mb:10.1f} {mb/ma:6.2f}   {fmt(va)} | {fmt(vb)}")
PY
