"""Plot max cosine against d for each method and the bound, from methods_grid.py --out files.

Usage: python benchmarks/plot_grid.py c100.json c1000.json --out docs/max_cosine_vs_d.png
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    fig, axes = plt.subplots(1, len(args.files), figsize=(6 * len(args.files), 4.5), squeeze=False)
    for ax, name in zip(axes[0], args.files):
        rows = json.load(open(name))
        ds = [r["d"] for r in rows]
        for method in ("minimax", "hpn", "gaussian", "random"):
            if method in rows[0]:
                ax.plot(ds, [r[method]["max_cosine"] for r in rows], marker="o", label=method)
        ax.plot(ds, [r["bound"] for r in rows], "k--", label="bound (optimum or Levenshtein)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d")
        ax.set_ylabel("max pairwise cosine")
        ax.set_title(f"c = {rows[0]['c']}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
