"""Training throughput of N data-parallel CPU processes against one process.

Usage: python benchmarks/ddp_throughput.py --data fashion-mnist --nprocs 1 2 --epochs 1
Runs `protobank train ... --nproc-per-node N --device cpu` for each N (gloo; each process
gets cores // N threads) and prints training samples per second from metrics.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    print("| processes | train seconds | samples / s | test top-1 (%) |")
    print("|---|---|---|---|")
    for n in args.nprocs:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            subprocess.run(
                [sys.executable, "-m", "protobank", "train", "--data", args.data, "--dim", str(args.dim),
                 "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--device", "cpu",
                 "--nproc-per-node", str(n), "--out", str(out), "--no-progress"],
                check=True, capture_output=True,
            )  # fmt: skip
            m = json.loads((out / "metrics.json").read_text())
        samples = m["train_samples"] // args.batch_size * args.batch_size * args.epochs
        print(f"| {n} | {m['train_seconds']:.1f} | {samples / m['train_seconds']:.0f} | {m['test_top1']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
