"""Plot max cosine against c for a few d: optimizer, catalogue code, default and the bound.

Usage: python benchmarks/plot_portfolio.py grid.json --d 64 128 512 --out docs/max_cosine_vs_c.png
(grid.json from ``python benchmarks/portfolio_grid.py --json grid.json``)
"""

from __future__ import annotations

import argparse
import json

import matplotlib

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
        for key, label, style in (("optimizer", "optimizer (run where predicted <= 60 s)", "o-"),
                                  ("code_proven", "best catalogue code", "s-"),
                                  ("default", "default (portfolio)", "x--"),
                                  ("bound", "bound (optimum or Levenshtein)", "k:")):
            pts = [(r["c"], r[key]) for r in cells if r.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), style, label=label)
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
