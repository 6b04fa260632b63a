"""Softmax vs static vs dynamic assignment with the same backbone and budget, several seeds.

Usage: python benchmarks/train_compare.py --data fashion-mnist --dims 2 3 4 10 --seeds 0 1 2 \
           --epochs 3 --json results.json
       python benchmarks/train_compare.py --data fashion-mnist --dims 10 --imbalance 0.01
Prints one markdown table (mean and standard deviation of test top-1 and balanced top-1 over
seeds) and, with --json, every run's metrics; runs already in that file are not repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from protobank.train.distributed import DistContext
from protobank.train.run import RunOptions, run_training
from protobank.train.trainer import TrainConfig

MODES = {
    "softmax": ("softmax", "static", "means"),
    "static": ("prototypes", "static", "means"),
    "dynamic": ("prototypes", "dynamic", "means"),
    "dynamic-identity-start": ("prototypes", "dynamic", "identity"),
}
DEFAULT_MODES = ["softmax", "static", "dynamic"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--data-path")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 3, 4, 10])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=DEFAULT_MODES, choices=list(MODES))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--backbone")
    ap.add_argument("--loss", default="ipm", choices=["ipm", "ce"], help="loss of the prototype heads")
    ap.add_argument("--imbalance", type=float)
    ap.add_argument("--json")
    args = ap.parse_args()
    runs = []
    if args.json and os.path.exists(args.json):  # continue an interrupted benchmark
        with open(args.json) as f:
            runs = json.load(f)
    for d in args.dims:
        for mode in args.modes:
            head, assign, init = MODES[mode]
            for seed in args.seeds:
                if any(r["dim"] == d and r["mode"] == mode and r["config"]["seed"] == seed for r in runs):
                    continue
                cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, assign=assign,
                                  assign_init=init, loss=args.loss, seed=seed)  # fmt: skip
                opts = RunOptions(args.data, args.data_path, d, None, head, args.backbone, args.imbalance, None, False, cfg)
                t0 = time.perf_counter()
                m = run_training(opts, DistContext())
                m.update(mode=mode, wall_seconds=time.perf_counter() - t0)
                runs.append(m)
                print(f"d={d} {mode:8s} seed={seed}: top-1 {m['test_top1']:.2f}  balanced {m['test_balanced_top1']:.2f}  "
                      f"({m['wall_seconds']:.0f} s)", flush=True)
                if args.json:
                    with open(args.json, "w") as f:
                        json.dump(runs, f, indent=1)
    extra = [k for k in ("test_many_shot_top1", "test_medium_shot_top1", "test_few_shot_top1") if k in runs[0]]
    related = any("related_prototype_cosine" in r for r in runs)
    print("\n| d | head | top-1 (%) | balanced top-1 (%) |" + "".join(f" {k[5:-5]} (%) |" for k in extra)
          + (" cos same super-class | cos different |" if related else ""))  # fmt: skip
    print("|---|---|---|---|" + "---|" * (len(extra) + 2 * related))
    for d in args.dims:
        for mode in args.modes:
            sel = [r for r in runs if r["dim"] == d and r["mode"] == mode]
            cells = [_stat([r[k] for r in sel]) for k in ("test_top1", "test_balanced_top1", *extra)]
            if related:
                cells += [_stat([r.get("related_prototype_cosine", {}).get(k) for r in sel], 3)
                          for k in ("same_super_class", "different_super_class")]  # fmt: skip
            print(f"| {d} | {mode} | " + " | ".join(cells) + " |")


def _stat(values: list, digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


if __name__ == "__main__":
    main()
