"""Every method on a grid of (d, c): max cosine, gap to the bound, uniformity and seconds.

Usage: python benchmarks/methods_grid.py [--device cpu] [--grid targets|c100|c1000] [--out rows.json]
Prints a Markdown table; the default method's time is also given as a ratio to the paper's
(gaussian) method measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import torch

import protobank
from protobank.optimize.base import resolve_device

GRIDS = {
    # (d, c) rows of the optimizer targets, with the reference max cosine to meet or beat.
    "targets": [((3, 30), 0.7816), ((3, 100), 0.9334), ((10, 100), 0.338), ((16, 100), 0.206),
                ((32, 100), 0.080), ((50, 100), 0.0), ((50, 200), 0.085), ((64, 1000), 0.166),
                ((128, 1000), 0.091), ((512, 1000), 0.0), ((200, 200), -0.005025),
                ((8, 240), 0.5), ((4, 24), 0.5)],
    "c100": [((d, 100), None) for d in (2, 3, 4, 8, 10, 16, 25, 32, 50, 64, 100, 128)],
    "c1000": [((d, 1000), None) for d in (3, 8, 16, 32, 64, 128, 256, 512)],
}
METHODS = ("minimax", "hpn", "gaussian", "random")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="auto")
    ap.add_argument("--grid", default="targets", choices=sorted(GRIDS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", help="also write the rows as JSON")
    args = ap.parse_args()
    methods = args.methods.split(",")
    rows = []
    dev = str(resolve_device(args.device))
    print(f"# {date.today()} | {platform.node() or 'host'} | {platform.processor() or platform.machine()} | "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads | device {dev}\n")
    head = "| (d, c) | bound | target | " + " | ".join(f"{m} max cos | {m} s" for m in methods) + " | minimax/gaussian time | minimax gap |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for (d, c), target in GRIDS[args.grid]:
        cells, res = [], {}
        for m in methods:
            start = time.perf_counter()
            p = protobank.generate(d, c, method=m, seed=0, device=args.device)
            res[m] = (p.metrics, time.perf_counter() - start)
            cells += [f"{p.metrics['max_cosine']:.5f}", f"{res[m][1]:.1f}"]
        bound = res[methods[0]][0]["bound_max_cosine"]
        ratio = res["minimax"][1] / res["gaussian"][1] if {"minimax", "gaussian"} <= set(res) else float("nan")
        gap = res["minimax"][0]["gap_to_bound"] if "minimax" in res else float("nan")
        tgt = "-" if target is None else f"{target:g}"
        print(f"| ({d}, {c}) | {bound:.5f} | {tgt} | " + " | ".join(cells) + f" | {ratio:.2f} | {gap:.5f} |", flush=True)
        rows.append({"d": d, "c": c, "target": target, "bound": bound,
                     **{m: {"max_cosine": v[0]["max_cosine"], "uniformity": v[0]["uniformity"], "seconds": v[1]} for m, v in res.items()}})
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
