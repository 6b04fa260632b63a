"""Plot time and max cosine against c (1,000 to 1,000,000) for a few d: both optimizer engines,
the best code and the bound.

Usage: python benchmarks/plot_scale.py --d 10 64 128 768 --out docs/optimizer_scale.png
Lines are the models (planning and forecasting build nothing): the all-pairs engine's and the
near-pair engine's predicted CPU seconds (their cost models), the optimizer's predicted max
cosine (the portfolio's prediction: a measured cell's value, else the fit, never below the
bound), the best code's proven max cosine and the bound. Points are the measured runs of
protobank/optimize/measured.csv (max cosine, and seconds where recorded). The growth exponent
of each engine's predicted time against c is printed per d.
"""

from __future__ import annotations

import argparse
import math

import matplotlib
import numpy as np

from protobank.bounds import max_cosine_bound
from protobank.codes.plan import best_plan
from protobank.optimize.options import OptimizerOptions
from protobank.optimize.portfolio import measured_runs, optimizer_cost, predicted_optimizer_max_cosine

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, nargs="+", default=[10, 64, 128, 768])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    cs = [int(c) for c in np.unique(np.logspace(3, 6, 25).round())]
    opts = OptimizerOptions()
    fig, axes = plt.subplots(2, len(args.d), figsize=(4.6 * len(args.d), 7.5), squeeze=False)
    for col, d in enumerate(args.d):
        top, bottom = axes[0][col], axes[1][col]
        plans = [best_plan(d, c) for c in cs]
        for engine, style in (("all-pairs", "--"), ("neighbours", "-")):
            secs = [optimizer_cost(d, c, "cpu", engine, opts, None).seconds for c in cs]
            bottom.plot(cs, secs, style, label=f"{'near-pair' if engine == 'neighbours' else engine} engine (predicted, CPU)")
            slope = math.log(secs[-1] / secs[-9]) / math.log(cs[-1] / cs[-9])
            print(f"d={d} {engine}: predicted time grows as c^{slope:.2f} from c = {cs[-9]:,} to {cs[-1]:,}")
        top.step([c for c, p in zip(cs, plans) if p], [p.max_cosine for p in plans if p], where="post",
                 label="best catalogue code (proven)")
        fit = [predicted_optimizer_max_cosine(d, c) for c in cs]
        top.plot(cs, fit, "--", label="optimizer (predicted)")
        top.plot(cs, [max_cosine_bound(d, c).value for c in cs], "k:", label="bound")
        for engine, marker in (("all-pairs", "s"), ("neighbours", "o")):
            pts = [m for m in measured_runs() if m.d == d and m.engine == engine]
            if pts:
                top.plot([m.c for m in pts], [m.max_cosine for m in pts], marker, label=f"{engine} (measured)")
                timed = [m for m in pts if m.seconds is not None]
                bottom.plot([m.c for m in timed], [m.seconds for m in timed], marker, label=f"{engine} (measured)")
        for ax in (top, bottom):
            ax.set_xscale("log")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        bottom.set_yscale("log")
        top.set_title(f"d = {d}")
        top.set_ylabel("max pairwise cosine")
        bottom.set_ylabel("seconds")
        bottom.set_xlabel("c")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)


if __name__ == "__main__":
    main()
