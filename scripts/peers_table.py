#!/usr/bin/env python3
"""Medians of scripts/peers.sh's samples, as one Markdown table.

Input: the TSV that peers.sh writes (kind, peer, key, value per sample).
Every figure is the median over the rounds, with the min-max range in
brackets where there were several, and the ratios are of medians.
"""
import statistics
import sys
from collections import defaultdict

NAMES = {
    "wsbench": "wsbench-server",
    "tt": "tokio-tungstenite 0.24 echo",
    "fws": "fastwebsockets 0.10 echo",
    "raw": "raw TCP echo (tcp_load)",
    "loadgen": "wsbench-loadgen (client side)",
}


def main():
    path, rounds, peers = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
    samples = defaultdict(list)
    for line in open(path):
        kind, peer, key, value = line.rstrip("\n").split("\t")
        samples[(kind, peer, key)].append(float(value))

    def med(kind, peer, key):
        v = samples.get((kind, peer, key))
        return statistics.median(v) if v else None

    def fmt(kind, peer, key, scale=1.0, digits=0):
        v = samples.get((kind, peer, key))
        if not v:
            return "–"
        m = statistics.median(v) / scale
        s = f"{m:,.{digits}f}"
        if len(v) > 1:
            s += f" ({min(v) / scale:,.{digits}f}–{max(v) / scale:,.{digits}f})"
        return s

    def ratio(kind, peer, ref):
        a, b = med(kind, peer, "msgs"), med(kind, ref, "msgs")
        return f"{a / b:.2f}×" if a and b else "–"

    loads = [k for k in ("closed", "pipelined", "deep") if any(s[0] == k for s in samples)]
    print(f"Load: {rounds} round(s), peers alternating; medians (min–max).")
    print("closed = -c 100 -p 1, pipelined = -c 16 -p 64, deep = -c 4 -p 1024; 32 B echo; server on core 1, load on core 0.\n")
    if loads:
        head = ["peer"]
        for k in loads:
            head += [f"{k} msg/s", f"{k} ×tt", f"{k} ×raw", f"{k} server ns/msg"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for p in peers:
            row = [NAMES[p]]
            for k in loads:
                row += [fmt(k, p, "msgs"), ratio(k, p, "tt"), ratio(k, p, "raw"), fmt(k, p, "ns_per_msg")]
            print("| " + " | ".join(row) + " |")
        print()
    idle = sorted({s[0] for s in samples if s[0].startswith("idle")}, key=lambda k: int(k[4:]))
    hs = any(s[0] == "hs" for s in samples)
    if idle or hs:
        head = ["peer"] + [f"RSS KB per idle conn @ {k[4:]}" for k in idle]
        if hs:
            head += ["handshakes/s (loadgen 1 core)", "handshakes per server core-second"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for p in peers + ["loadgen"]:
            row = [NAMES[p]] + [fmt(k, p, "kb_per_conn", digits=2) for k in idle]
            if hs:
                row += [fmt("hs", p, "per_s"), fmt("hs", p, "per_core_s")]
            if any(c != "–" for c in row[1:]):
                print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
