"""Summary benchmark: wall time of ``classicnets summary resnet152`` (target < 3 s).

    .venv/bin/python benchmarks/summary_bench.py [--model resnet152] [--runs 5]

Prints the machine and its load, then
  1. the wall time of the whole command in a fresh process (Python start-up,
     ``import torch``, building the model on the meta device, counting, printing
     the rich table), ``--runs`` times: minimum and median;
  2. a breakdown measured in this process: importing classicnets, building the
     model on meta, the counting pass, rendering the table.
The machine is shared: run it when it is quiet, and read the minimum.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import time

TARGET_S = 3.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet152")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {load:.2f}")

    cmd = [sys.executable, "-m", "classicnets", "summary", args.model]
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            print(r.stderr)
            return r.returncode
    best, med = min(times), statistics.median(times)
    verdict = "met" if best < TARGET_S else "NOT met"
    print(f"`classicnets summary {args.model}` (fresh process, output captured), {args.runs} runs: "
          f"min {best:.2f} s, median {med:.2f} s  (target < {TARGET_S:.0f} s: {verdict})")

    t0 = time.perf_counter()
    import torch  # noqa: F401

    t1 = time.perf_counter()
    from classicnets.analysis import build_meta, print_result, summarize

    t2 = time.perf_counter()
    model = build_meta(args.model)
    t3 = time.perf_counter()
    s = summarize(model, name=args.model)
    t4 = time.perf_counter()
    out = sys.stdout
    sys.stdout = io.StringIO()
    try:
        print_result(s, "table")
    finally:
        sys.stdout = out
    t5 = time.perf_counter()
    print(f"in-process breakdown: import torch {t1 - t0:.2f} s, import classicnets.analysis {t2 - t1:.2f} s, "
          f"build on meta {t3 - t2:.2f} s, count {t4 - t3:.2f} s ({len(s.rows)} rows), "
          f"render {t5 - t4:.2f} s")
    print(f"{args.model}: {s.params:,} params, {s.macs / 1e9:.2f} G MACs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
