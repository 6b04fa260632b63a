"""Plot max cosine against c for a few d: optimizer, catalogue code, default and the bound.

Usage: python benchmarks/plot_portfolio.py grid.json --d 64 128 512 --out docs/max_cosine_vs_c.png
The optimizer's and the default's points come from grid.json (``python
benchmarks/portfolio_grid.py --json grid.json``); the best catalogue code's proven max cosine
and the bound are computed here for c from 100 to 100,000 (planning builds nothing).
"""

from __future__ import annotations

import argparse
import json

import matplotlib
import numpy as np

from protobank.bounds import max_cosine_bound
from protobank.codes.plan import best_plan

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("grid")
    ap.add_argument("--d", type=int, nargs="+", default=[64, 128, 512])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = json.load(open(args.grid))
    fig, axes = plt.subplots(1, len(args.d), figsize=(5.5 * len(args.d), 4.3), squeeze=False)
    for ax, d in zip(axes[0], args.d):
        cells = sorted((r for r in rows if r["d"] == d), key=lambda r: r["c"])
        cs = [int(c) for c in np.unique(np.logspace(2, 5, 61).round())]
        plans = [(c, best_plan(d, c)) for c in cs]
        ax.step([c for c, p in plans if p], [p.max_cosine for c, p in plans if p], where="post",
                label="best catalogue code (proven)")
        ax.plot(cs, [max_cosine_bound(d, c).value for c in cs], "k:", label="bound (optimum or Levenshtein)")
        for key, label, style in (("optimizer", "optimizer (measured)", "o"), ("default", "default (measured)", "x")):
            pts = [(r["c"], r[key]) for r in cells if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), style, label=label, markersize=8)
        ax.set_xscale("log")
        ax.set_xlabel("c")
        ax.set_ylabel("max pairwise cosine")
        ax.set_title(f"d = {d}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
