"""Time and peak memory of `protobank inspect` on a large random prototype file.

Usage: python benchmarks/inspect_large.py [--c 100000] [--d 128]
Writes a random (c, d) .npy into a temporary folder, runs the CLI on it as a child process
with all baselines asked for, and prints wall time, peak resident memory and the report.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--c", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=128)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.npy"
        x = np.random.default_rng(0).standard_normal((args.c, args.d)).astype(np.float32)
        np.save(path, x / np.linalg.norm(x, axis=1, keepdims=True))
        del x
        cmd = [sys.executable, "-m", "protobank", "inspect", str(path), "--json", "--baselines", "etf,hpn,gaussian,random"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        sys.exit(f"inspect failed ({proc.returncode}): {proc.stderr.strip()}")
    doc = json.loads(proc.stdout)
    print(f"inspect c={args.c} d={args.d}: wall {wall:.1f} s, peak RSS {peak_mb:.0f} MB")
    print(f"  file:   max cos {doc['subject']['max_cosine']:.5f}, mean {doc['subject']['mean_cosine']:.2e}, "
          f"uniformity {doc['subject']['uniformity']:.4f}")
    for name, b in doc["baselines"].items():
        print(f"  {name:8s} " + (f"skipped: {b['skipped']}" if "skipped" in b else f"max cos {b['max_cosine']:.5f}"))
    print(f"  bound:  {doc['bound']['value']:.5f} ({doc['bound']['kind']})")


if __name__ == "__main__":
    main()
