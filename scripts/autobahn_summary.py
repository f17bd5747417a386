#!/usr/bin/env python3
"""Summarize an Autobahn|Testsuite fuzzingclient report (index.json).

Usage:  python3 scripts/autobahn_summary.py [target/autobahn/reports/index.json [EXPECTED]]

Prints, per case group (first component of the case id: 1 .. 10), the number
of cases and the counts of `behavior` and `behaviorClose` outcomes; then lists
every case that is not a strict pass (behavior or behaviorClose outside
{OK, INFORMATIONAL}) with the reasons from its per-case JSON report.
Exits 1 if any case is not strict or the case count is not EXPECTED_CASES
(301 = groups 1-10, with 12.* and 13.* excluded; scripts/autobahn.sh --deflate
passes 216, groups 12 and 13); exits 0 otherwise.
"""
import json
import os
import sys
from collections import Counter, defaultdict

EXPECTED_CASES = 301
STRICT = {"OK", "INFORMATIONAL"}
OUTCOMES = ["OK", "INFORMATIONAL", "NON-STRICT", "FAILED", "UNIMPLEMENTED"]


def case_key(case_id):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def fmt_counts(counter):
    names = OUTCOMES + sorted(set(counter) - set(OUTCOMES))  # e.g. WRONG CODE
    return " ".join(f"{n}={counter[n]}" for n in names if counter[n])


def reasons(report_dir, entry):
    """Reason text from the per-case report file, if it can be read."""
    path = os.path.join(report_dir, entry.get("reportfile") or "")
    try:
        with open(path) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        return []
    out = []
    if rep.get("behavior") not in STRICT:
        out.append(f"result: {rep.get('result')}")
        out.append(f"expected: {json.dumps(rep.get('expected'))}")
        out.append(f"received: {json.dumps(rep.get('received'))[:300]}")
    if rep.get("behaviorClose") not in STRICT:
        out.append(f"resultClose: {rep.get('resultClose')}")
        out.append(f"expectedClose: {json.dumps(rep.get('expectedClose'))}")
    if rep.get("wasNotCleanReason"):
        out.append(f"wasNotCleanReason: {rep['wasNotCleanReason']}")
    return out


def main():
    index = sys.argv[1] if len(sys.argv) > 1 else "target/autobahn/reports/index.json"
    try:
        with open(index) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"autobahn: cannot read {index}: {e}")
        return 1
    expected = int(sys.argv[2]) if len(sys.argv) > 2 else EXPECTED_CASES
    report_dir = os.path.dirname(os.path.abspath(index))

    cases = {}  # case id -> entry (all agents; normally only "wsbench")
    for agent, agent_cases in data.items():
        for case_id, entry in agent_cases.items():
            cases[case_id if len(data) == 1 else f"{agent}:{case_id}"] = entry

    groups = defaultdict(lambda: (Counter(), Counter()))
    for case_id, e in cases.items():
        b, bc = groups[case_id.split(":")[-1].split(".")[0]]
        b[e.get("behavior")] += 1
        bc[e.get("behaviorClose")] += 1

    print(f"{'group':>5} {'cases':>5}  behavior / behaviorClose")
    for g in sorted(groups, key=case_key):
        b, bc = groups[g]
        print(f"{g:>5} {sum(b.values()):>5}  {fmt_counts(b)} / {fmt_counts(bc)}")

    bad = [c for c, e in cases.items()
           if e.get("behavior") not in STRICT or e.get("behaviorClose") not in STRICT]
    if bad:
        print("\nnot strict:")
    for c in sorted(bad, key=lambda c: case_key(c.split(":")[-1])):
        e = cases[c]
        print(f"  {c}: behavior={e.get('behavior')} behaviorClose={e.get('behaviorClose')}"
              f" remoteCloseCode={e.get('remoteCloseCode')} duration={e.get('duration')}ms")
        for line in reasons(report_dir, e):
            print(f"      {line}")

    n, ok = len(cases), len(cases) - len(bad)
    print(f"\nautobahn: {n} cases, {ok} strict, {len(bad)} not strict")
    if n != expected:
        print(f"autobahn: expected {expected} cases, got {n}")
    return 0 if not bad and n == expected else 1


if __name__ == "__main__":
    sys.exit(main())
