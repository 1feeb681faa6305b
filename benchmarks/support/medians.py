#!/usr/bin/env python3
"""Prints the median rows of a Google Benchmark JSON file (written with
--benchmark_out=FILE --benchmark_out_format=json and repetitions) as one
line per benchmark: real time, CPU time, rates and user counters — the
numbers benchmarks/RESULTS.md quotes.

    python3 benchmarks/support/medians.py /tmp/store.json [name-regex]
"""
import json
import re
import sys


def unit_scale(unit):
    return {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def main():
    data = json.load(open(sys.argv[1]))
    pattern = re.compile(sys.argv[2]) if len(sys.argv) > 2 else None
    rows = [b for b in data["benchmarks"] if b.get("aggregate_name", "median") == "median"
            and b.get("run_type") in ("aggregate", "iteration")]
    # Benchmarks with an explicit Repetitions(1) have no aggregates: keep their single run.
    have_median = {b["run_name"] for b in rows if b.get("run_type") == "aggregate"}
    for b in sorted(rows, key=lambda b: (b["run_name"].split("/")[0], b.get("threads", 1), b["run_name"])):
        if b.get("run_type") == "iteration" and b["run_name"] in have_median:
            continue
        name = b["run_name"]
        if pattern and not pattern.search(name):
            continue
        s = unit_scale(b["time_unit"])
        extra = []
        for k, v in b.items():
            if k in ("items_per_second", "bytes_per_second") or (
                    isinstance(v, float) and k not in ("real_time", "cpu_time", "iterations", "repetitions",
                                                       "repetition_index", "threads", "family_index",
                                                       "per_family_instance_index")):
                extra.append(f"{k}={v:.4g}")
        print(f"{name:70s} real {fmt_time(b['real_time'] * s):>10s}  cpu {fmt_time(b['cpu_time'] * s):>10s}  "
              + " ".join(extra))
    ctx = data.get("context", {})
    print("# context:", {k: v for k, v in ctx.items() if k not in ("caches",)})


if __name__ == "__main__":
    main()
