#!/usr/bin/env python3
"""Export criterion's estimates into results/<version>/benches.json.

Run after `cargo bench` (see the README): reads every benchmark's
<criterion dir>/<id>/<baseline>/{estimates,benchmark}.json and writes, per
benchmark id, the mean and median time per iteration (ns, with criterion's
95% confidence interval) and the throughput they imply, plus the ratios the
issue's goals are stated in, and a description of the machine.

The criterion directory is $CARGO_TARGET_DIR/criterion when that variable is
set, else target/criterion at the repository root; --criterion-dir overrides
both. --baseline exports a saved baseline (`cargo bench -- --save-baseline
NAME`) instead of the latest run ("new").

Usage: scripts/export-benches.py v0.1.0 [--note "..."] [--baseline new]
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = 1


def criterion_dir(arg):
    if arg:
        return Path(arg)
    target = os.environ.get("CARGO_TARGET_DIR")
    base = Path(target) if target else ROOT / "target"
    if not base.is_absolute():
        base = ROOT / base
    return base / "criterion"


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def estimate(est):
    ci = est["confidence_interval"]
    return {
        "estimate": est["point_estimate"],
        "lower": ci["lower_bound"],
        "upper": ci["upper_bound"],
    }


def throughput(spec, mean_ns, median_ns):
    """criterion's Throughput, as units per second at the mean and median."""
    if not spec:
        return None
    (kind, amount), = spec.items()
    unit = {"Bytes": "bytes", "BytesDecimal": "bytes", "Elements": "elements", "Bits": "bits"}.get(kind, kind)
    out = {
        "unit": unit,
        "per_iteration": amount,
        "mean_per_s": amount / mean_ns * 1e9,
        "median_per_s": amount / median_ns * 1e9,
    }
    if unit == "bytes":
        out["mean_gib_per_s"] = round(out["mean_per_s"] / 2**30, 3)
    return out


def collect(cdir, baseline):
    benches = {}
    for bench_json in sorted(cdir.glob(f"**/{baseline}/benchmark.json")):
        folder = bench_json.parent
        meta = read_json(bench_json)
        est = read_json(folder / "estimates.json")
        mean = estimate(est["mean"])
        median = estimate(est["median"])
        value = meta.get("value_str")
        entry = {
            "group": meta.get("group_id"),
            "function": meta.get("function_id"),
            "parameter": int(value) if value and value.isdigit() else value,
            "mean_ns": mean,
            "median_ns": median,
            "throughput": throughput(meta.get("throughput"), mean["estimate"], median["estimate"]),
        }
        benches[meta["full_id"]] = entry
    return dict(sorted(benches.items(), key=lambda kv: sort_key(kv[1])))


def sort_key(b):
    p = b["parameter"]
    return (b["group"] or "", b["function"] or "", (0, p, "") if isinstance(p, int) else (1, 0, str(p)))


def comparisons(benches):
    """Ratios of mean times, > 1 meaning the first named is faster."""
    by = {(b["group"], b["function"], b["parameter"]): b["mean_ns"]["estimate"] for b in benches.values()}
    out = []
    rivals = {"tungstenite", "tokio-tungstenite"}
    def order(kv):
        group, function, param = kv[0]
        return (group or "", function or "", param if isinstance(param, int) else -1, str(param))

    for (group, function, param), ns in sorted(by.items(), key=order):
        if function in rivals and (group, "wsbench", param) in by:
            ours = by[(group, "wsbench", param)]
            out.append({
                "what": f"{group}/{param}: wsbench speedup over {function}",
                "ratio": round(ns / ours, 3),
            })
        if group == "unmask" and function != "memcpy" and (group, "memcpy", param) in by:
            out.append({
                "what": f"unmask/{param}: {function} bandwidth as a fraction of memcpy",
                "ratio": round(by[(group, "memcpy", param)] / ns, 3),
            })
    return out


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine(note):
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    os_name = platform.platform()
    if Path("/etc/os-release").exists():
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    mem_kib = None
    if Path("/proc/meminfo").exists():
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    features = fields.get("flags", "").split()
    return {
        "cpu_model": fields.get("model name") or platform.processor() or None,
        "logical_cores": os.cpu_count(),
        "simd": [f for f in ("sse4_2", "avx", "avx2", "avx512f", "avx512bw") if f in features],
        "memory_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "os": os_name,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "rustc": run(["rustc", "--version"]),
        "load_average_at_export": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "note": note,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("version", help="release the results belong to, e.g. v0.1.0")
    ap.add_argument("--criterion-dir", help="default: $CARGO_TARGET_DIR/criterion or target/criterion")
    ap.add_argument("--baseline", default="new", help='criterion baseline to export (default "new": the last run)')
    ap.add_argument("--out", help="default: results/<version>/benches.json")
    ap.add_argument("--note", default="", help="free text about the machine or the run, kept in the machine block")
    ap.add_argument("--commit", help="commit the benchmarks ran from, when not this checkout's HEAD (not checked)")
    args = ap.parse_args()

    cdir = criterion_dir(args.criterion_dir)
    if not cdir.is_dir():
        sys.exit(f"no criterion results in {cdir}: run `cargo bench` first (or pass --criterion-dir)")
    benches = collect(cdir, args.baseline)
    if not benches:
        sys.exit(f"no benchmark with a {args.baseline!r} baseline under {cdir}")

    out = Path(args.out) if args.out else ROOT / "results" / args.version / "benches.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.commit:
        commit, dirty = args.commit, None
    else:
        commit = run(["git", "rev-parse", "HEAD"])
        dirty = run(["git", "status", "--porcelain", "--", "server", "loadgen", "benches"])
    doc = {
        "schema": SCHEMA,
        "version": args.version,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "git_commit": commit,
        "git_dirty": None if dirty is None else bool(dirty),
        "baseline": args.baseline,
        "units": "mean_ns and median_ns: time per iteration in nanoseconds, point estimate and 95% CI; "
        "throughput: per second at the mean and at the median",
        "machine": machine(args.note),
        "comparisons": comparisons(benches),
        "benchmarks": benches,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(benches)} benchmarks to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
